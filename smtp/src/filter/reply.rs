//! The messages a Sieve result sends: a vacation reply (RFC 5230 §5, RFC 3834) and
//! the notice that a user's script refused a message it could not refuse at SMTP
//! time (RFC 5429 §2.2, sent as a DSN). Pure: bytes in, bytes out.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address as BuilderAddress;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};
use mail_parser::MessageParser;
use mailyard_sieve::Vacation;

use crate::queue::dsn;

/// RFC 5230 §4.2: without `:handle`, replies are told apart by what they say: the
/// same subject, from and reason make the same handle (FNV-1a, 64 bits, in hex).
pub(super) fn derived_handle(subject: &str, from: &str, reason: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in [subject, from, reason].join("\0").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// An address as written in `:from` (`a@b` or `Name <a@b>`) for mail-builder.
fn address_of(text: &str) -> Option<BuilderAddress<'static>> {
    let addr = mailyard_sieve::address::first_address(text)?;
    let name = text
        .split_once('<')
        .map(|(n, _)| n.trim().trim_matches('"').trim().to_string())
        .filter(|n| !n.is_empty());
    Some(match name {
        Some(n) => BuilderAddress::new_address(Some(n), addr),
        None => BuilderAddress::new_address(None::<String>, addr),
    })
}

/// The reply to `original` from `from` (RFC 5230 §5): `Auto-Submitted: auto-replied`
/// (§5.1, RFC 3834 §5), the subject given or "Auto: " and the original's (§5.2, §4.3),
/// `In-Reply-To` and `References` (§5.8), the reason as plain text or, with `:mime`,
/// as the MIME entity it is (§4.7). `None` when `from` is not an address.
pub(super) fn vacation(
    hostname: &str,
    from: &str,
    v: &Vacation,
    original: &[u8],
) -> Option<Vec<u8>> {
    let from = address_of(from)?;
    let head = MessageParser::default().parse_headers(original);
    let subject = v.subject.clone().unwrap_or_else(|| {
        let s = head.as_ref().and_then(|m| m.subject()).unwrap_or("");
        format!("Auto: {s}")
    });
    let message_id = format!("{}.vacation@{hostname}", mailyard_store::queue::new_id());
    let mut b = MessageBuilder::new()
        .from(from)
        .to(v.to.as_str())
        .subject(subject)
        .date(mailyard_common::time::now())
        .message_id(message_id)
        .header("Auto-Submitted", Raw::new("auto-replied (vacation)"));
    if let Some(id) = head.as_ref().and_then(|m| m.message_id()) {
        let mut refs: Vec<String> = head
            .as_ref()
            .and_then(|m| m.references().as_text_list())
            .map(|l| l.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        refs.push(id.to_string());
        b = b.in_reply_to(id.to_string()).references(refs);
    }
    let b = if v.mime {
        let mut entity = Vec::with_capacity(v.reason.len() + 64);
        for line in v.reason.lines() {
            entity.extend_from_slice(line.as_bytes());
            entity.extend_from_slice(b"\r\n");
        }
        b.body(MimePart::raw(BodyPart::Binary(entity.into())))
    } else {
        b.text_body(v.reason.clone())
    };
    b.write_to_vec().ok()
}

/// RFC 5429 §2.2: the sender learns that `rcpt` refused the message (a DSN with the
/// refusal as `550 5.7.1`, the message's header returned).
pub(super) fn reject_notice(
    hostname: &str,
    to: &str,
    rcpt: &str,
    reason: &str,
    message: &[u8],
) -> Vec<u8> {
    let rcpts = [dsn::RcptReport {
        address: rcpt.to_string(),
        orcpt: None,
        action: dsn::Action::Failed,
        diagnostic: format!("550 5.7.1 {}", reason.trim()),
        remote_mta: None,
    }];
    dsn::build(&dsn::Report {
        hostname,
        to,
        envid: None,
        headers_only: true,
        arrival: mailyard_common::time::now(),
        retry_until: None,
        rcpts: &rcpts,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(mime: bool, reason: &str) -> Vacation {
        Vacation {
            to: "bob@remote.test".into(),
            from: None,
            subject: None,
            reason: reason.into(),
            mime,
            handle: None,
            period: 86_400,
            addresses: Vec::new(),
        }
    }

    const ORIGINAL: &[u8] = b"From: bob@remote.test\r\nSubject: Lunch?\r\nMessage-ID: <m1@remote.test>\r\nReferences: <m0@remote.test>\r\n\r\nhi\r\n";

    #[test]
    fn plain_reply_has_the_rfc_5230_fields() {
        let out = vacation(
            "mail.example.com",
            "Alice <alice@example.com>",
            &v(false, "Away until Monday.\nAlice"),
            ORIGINAL,
        )
        .expect("built");
        let m = MessageParser::default().parse(&out).expect("parses");
        assert_eq!(m.subject(), Some("Auto: Lunch?"));
        assert_eq!(m.in_reply_to().as_text(), Some("m1@remote.test"));
        let refs = m.references().as_text_list().expect("refs");
        assert_eq!(refs, ["m0@remote.test", "m1@remote.test"]);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");
        assert!(text.contains("alice@example.com"), "{text}");
        assert_eq!(
            m.body_text(0).as_deref().map(str::trim_end),
            Some("Away until Monday.\r\nAlice")
        );
    }

    #[test]
    fn mime_reason_is_the_body_entity() {
        let out = vacation(
            "h",
            "alice@example.com",
            &v(true, "Content-Type: text/html\n\n<p>Away</p>"),
            ORIGINAL,
        )
        .expect("built");
        let m = MessageParser::default().parse(&out).expect("parses");
        assert!(m.body_html(0).is_some_and(|h| h.contains("<p>Away</p>")));
    }

    #[test]
    fn handles_differ_by_content() {
        assert_eq!(derived_handle("a", "b", "c"), derived_handle("a", "b", "c"));
        assert_ne!(derived_handle("a", "b", "c"), derived_handle("a", "bc", ""));
    }

    #[test]
    fn reject_notice_is_a_failure_dsn() {
        let out = reject_notice(
            "h.test",
            "bob@remote.test",
            "alice@example.com",
            "no thanks",
            ORIGINAL,
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("Status: 5.7.1"), "{text}");
        assert!(text.contains("550 5.7.1 no thanks"), "{text}");
        assert!(text.contains("text/rfc822-headers"), "{text}");
    }
}
