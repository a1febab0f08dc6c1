//! Delivery status notifications (RFC 3464 `multipart/report;
//! report-type=delivery-status`, RFC 6522), built with mail-builder: a human
//! explanation, the machine-readable per-recipient fields, and the returned message
//! (RFC 3461 §4.3 RET: whole or headers only).
//!
//! Invariant: a DSN is sent with the null reverse path (RFC 5321 §4.5.5), so no DSN is
//! ever answered by another; the caller never builds one for a null sender.

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};

/// What happened to a recipient, as the report says it (RFC 3464 §2.3.3 Action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Given up on.
    Failed,
    /// Still being retried.
    Delayed,
    /// Put into a local mailbox.
    Delivered,
    /// Passed to a server that does not send DSNs itself (RFC 3461 §5.2.2).
    Relayed,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        }
    }
}

/// One recipient's report.
#[derive(Debug, Clone)]
pub(crate) struct RcptReport {
    /// The recipient.
    pub address: String,
    /// RFC 3461 ORCPT (`addr-type;address`).
    pub orcpt: Option<String>,
    /// What happened.
    pub action: Action,
    /// The last reply or reason, e.g. "550 5.1.1 no such user".
    pub diagnostic: String,
    /// The server that answered, when one did.
    pub remote_mta: Option<String>,
}

/// The whole report.
pub(crate) struct Report<'a> {
    /// Our host name (Reporting-MTA, the From: domain).
    pub hostname: &'a str,
    /// The envelope sender the report goes to.
    pub to: &'a str,
    /// RFC 3461 ENVID.
    pub envid: Option<&'a str>,
    /// RFC 3461 RET=HDRS: return the header section only.
    pub headers_only: bool,
    /// When the message was accepted, unix seconds.
    pub arrival: i64,
    /// Until when a delayed message is retried, unix seconds.
    pub retry_until: Option<i64>,
    /// The recipients reported on.
    pub rcpts: &'a [RcptReport],
    /// The original message.
    pub message: &'a [u8],
}

/// The RFC 3463 status code in a reply ("550 5.1.1 text" → "5.1.1"), else one
/// derived from the reply code's class.
pub(crate) fn status_of(reply: &str) -> String {
    let mut words = reply.split_ascii_whitespace();
    let code = words.next().unwrap_or("");
    if let Some(enhanced) = words.next() {
        let parts: Vec<&str> = enhanced.split('.').collect();
        if parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return enhanced.to_string();
        }
    }
    match code.as_bytes().first() {
        Some(b'2') => "2.0.0".into(),
        Some(b'4') => "4.0.0".into(),
        _ => "5.0.0".into(),
    }
}

/// Builds the report message (its own header section included).
pub(crate) fn build(r: &Report<'_>) -> Vec<u8> {
    let date = mailyard_common::time::rfc5322;
    let failed = r.rcpts.iter().any(|x| x.action == Action::Failed);
    let delayed = r.rcpts.iter().any(|x| x.action == Action::Delayed);
    let subject = if failed {
        "Undelivered Mail Returned to Sender"
    } else if delayed {
        "Delayed Mail (still being retried)"
    } else {
        "Successful Mail Delivery Report"
    };

    let mut human = format!("This is the mail system at host {}.\r\n\r\n", r.hostname);
    if failed {
        human.push_str(
            "Your message could not be delivered to one or more recipients. It is attached\r\n\
             below. The reason for each recipient follows.\r\n\r\n",
        );
    } else if delayed {
        human.push_str(
            "Your message has not been delivered yet to one or more recipients. This is only\r\n\
             a notice: the mail system will keep trying",
        );
        if let Some(until) = r.retry_until {
            human.push_str(&format!(" until {}", date(until)));
        }
        human.push_str(".\r\n\r\n");
    } else {
        human.push_str("Your message was delivered to the recipients below.\r\n\r\n");
    }
    for x in r.rcpts {
        human.push_str(&format!("<{}>: {}\r\n", x.address, x.diagnostic));
    }

    // RFC 3464 §2.2: per-message fields, then one block per recipient.
    let mut status = format!("Reporting-MTA: dns; {}\r\n", r.hostname);
    if let Some(envid) = r.envid {
        status.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
    }
    status.push_str(&format!("Arrival-Date: {}\r\n", date(r.arrival)));
    for x in r.rcpts {
        status.push_str("\r\n");
        if let Some(orcpt) = &x.orcpt {
            status.push_str(&format!("Original-Recipient: {orcpt}\r\n"));
        }
        status.push_str(&format!("Final-Recipient: rfc822; {}\r\n", x.address));
        status.push_str(&format!("Action: {}\r\n", x.action.as_str()));
        status.push_str(&format!("Status: {}\r\n", status_of(&x.diagnostic)));
        if let Some(mta) = &x.remote_mta {
            status.push_str(&format!("Remote-MTA: dns; {mta}\r\n"));
        }
        let clean: String = x
            .diagnostic
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        status.push_str(&format!("Diagnostic-Code: smtp; {clean}\r\n"));
        if x.action == Action::Delayed
            && let Some(until) = r.retry_until
        {
            status.push_str(&format!("Will-Retry-Until: {}\r\n", date(until)));
        }
    }

    let returned = if r.headers_only {
        let mut p = b"Content-Type: text/rfc822-headers\r\n\r\n".to_vec();
        p.extend_from_slice(mailyard_message::header::split(r.message).0);
        p
    } else {
        let mut p = b"Content-Type: message/rfc822\r\n\r\n".to_vec();
        p.extend_from_slice(r.message);
        p
    };
    let mut ds = b"Content-Type: message/delivery-status\r\n\r\n".to_vec();
    ds.extend_from_slice(status.as_bytes());

    let body = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        BodyPart::Multipart(vec![
            MimePart::new(ContentType::new("text/plain"), human),
            MimePart::raw(BodyPart::Binary(ds.into())),
            MimePart::raw(BodyPart::Binary(returned.into())),
        ]),
    );
    let from = format!("MAILER-DAEMON@{}", r.hostname);
    let message_id = format!("{}.dsn@{}", mailyard_store::queue::new_id(), r.hostname);
    MessageBuilder::new()
        .from(("Mail Delivery System", from.as_str()))
        .to(r.to)
        .subject(subject)
        .date(mailyard_common::time::now())
        .message_id(message_id)
        // RFC 3834 §5: an automatic message; RFC 3464 §4: never answered by a DSN.
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(body)
        .write_to_vec()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        assert_eq!(status_of("550 5.1.1 no such user"), "5.1.1");
        assert_eq!(status_of("451 please retry"), "4.0.0");
        assert_eq!(status_of("554 5.7.1"), "5.7.1");
        assert_eq!(status_of("250 2.0.0 Ok"), "2.0.0");
        assert_eq!(status_of("550 5.x.1 odd"), "5.0.0");
    }

    #[test]
    fn report_parses_as_multipart_report() {
        let msg = b"From: a@x.test\r\nSubject: hi\r\n\r\nbody\r\n";
        let rcpts = [RcptReport {
            address: "bob@remote.test".into(),
            orcpt: Some("rfc822;bob@remote.test".into()),
            action: Action::Failed,
            diagnostic: "550 5.1.1 no such user".into(),
            remote_mta: Some("mx.remote.test".into()),
        }];
        let bytes = build(&Report {
            hostname: "mail.example.com",
            to: "a@x.test",
            envid: Some("E1"),
            headers_only: false,
            arrival: 0,
            retry_until: None,
            rcpts: &rcpts,
            message: msg,
        });
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("multipart/report"), "{text}");
        assert!(
            text.contains("report-type=delivery-status")
                || text.contains("report-type=\"delivery-status\""),
            "{text}"
        );
        let parsed = mail_parser::MessageParser::default()
            .parse(&bytes)
            .expect("parses");
        assert_eq!(
            parsed.subject(),
            Some("Undelivered Mail Returned to Sender")
        );
        assert!(text.contains("Final-Recipient: rfc822; bob@remote.test\r\n"));
        assert!(text.contains("Status: 5.1.1\r\n"));
        assert!(text.contains("Action: failed\r\n"));
        assert!(text.contains("Content-Type: message/rfc822\r\n\r\nFrom: a@x.test"));
    }
}
