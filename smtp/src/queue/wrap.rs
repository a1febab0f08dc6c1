//! Making relayed mail fit the next hop: lines too long for it, and 8-bit content for
//! a peer that takes only 7-bit.
//!
//! Long lines. RFC 5321 §4.5.3.1.6 limits a text line to 1000 octets with its CRLF
//! (RFC 5322 §2.1.1: 998), and many servers refuse longer ones, while §4.5.3.1 asks
//! receivers to impose no limit they can avoid: so mailyard takes long lines in, and
//! makes mail it relays fit before it is queued (and signed). No SMTP extension says
//! that a peer takes longer lines (BINARYMIME labels binary content, not long text
//! lines), so, like Postfix (`smtp_line_length_limit`), every peer gets them fitted.
//! How, in order of preference (as Postfix does, but re-encoding where it can instead of
//! breaking lines): a text part with long lines and a 7bit/8bit (or no) transfer encoding
//! is re-encoded as quoted-printable (RFC 2045 §6.7: no line over 76 octets, content
//! unchanged once decoded); a long header line is folded at whitespace (RFC 5322
//! §2.2.3); what still remains too long is broken with CRLF SPACE (Postfix's
//! `smtp_line_length_limit` behaviour), the least harmful break for MIME.
//!
//! 8-bit content (`seven_bit`), at delivery time, for a peer that offers neither
//! 8BITMIME nor SMTPUTF8: converted to 7-bit MIME (RFC 6152 §3 leaves "convert or
//! return" to the client; Postfix converts unless `disable_mime_output_conversion`),
//! and where that cannot be done without changing the content, bounced (`5.6.3`).

use base64::Engine;
use mail_parser::{HeaderName, MessageParser, MessagePart, MimeHeaders, PartType};
use mailyard_message::limits::structure_source;

/// Longest line sent, without its CRLF (RFC 5322 §2.1.1).
pub const MAX_LINE: usize = 998;
/// Quoted-printable output line length, soft break included (RFC 2045 §6.7 rule 5).
const QP_LINE: usize = 76;

/// Whether any line of `m` is longer than [`MAX_LINE`] octets.
pub fn has_long_lines(m: &[u8]) -> bool {
    m.split(|b| *b == b'\n')
        .any(|l| l.strip_suffix(b"\r").unwrap_or(l).len() > MAX_LINE)
}

/// The message with no line over [`MAX_LINE`] octets (unchanged when it has none).
pub fn fit(message: Vec<u8>) -> Vec<u8> {
    if !has_long_lines(&message) {
        return message;
    }
    let reencoded = reencode_parts(&message).unwrap_or(message);
    if has_long_lines(&reencoded) {
        break_lines(&reencoded)
    } else {
        reencoded
    }
}

/// One change to a message: the octets `start..end` become `with`.
struct Edit {
    start: usize,
    end: usize,
    with: Vec<u8>,
}

/// A leaf part (not a multipart, not a message/rfc822).
fn is_leaf(part: &MessagePart<'_>) -> bool {
    matches!(
        part.body,
        PartType::Text(_) | PartType::Html(_) | PartType::Binary(_) | PartType::InlineBinary(_)
    )
}

/// A part's transfer encoding, lower case; None when it has none (7bit, RFC 2045 §6.1).
fn transfer_encoding(part: &MessagePart<'_>) -> Option<String> {
    part.content_transfer_encoding()
        .map(str::to_ascii_lowercase)
}

/// The edit that makes `part`'s Content-Transfer-Encoding `value` (replacing the field,
/// or adding one at the top of the part's header).
fn set_transfer_encoding(part: &MessagePart<'_>, value: &str) -> Edit {
    let with = format!("Content-Transfer-Encoding: {value}\r\n").into_bytes();
    match part
        .headers
        .iter()
        .find(|h| h.name == HeaderName::ContentTransferEncoding)
    {
        Some(h) => Edit {
            start: h.offset_field as usize,
            end: h.offset_end as usize,
            with,
        },
        None => Edit {
            start: part.offset_header as usize,
            end: part.offset_header as usize,
            with,
        },
    }
}

/// The edits that re-encode a leaf part's body as quoted-printable.
fn to_quoted_printable(part: &MessagePart<'_>, body: &[u8]) -> [Edit; 2] {
    [
        Edit {
            start: part.offset_body as usize,
            end: part.offset_end as usize,
            with: qp_encode(body),
        },
        set_transfer_encoding(part, "quoted-printable"),
    ]
}

/// `message` with `edits` applied (from the end, so offsets stay valid). None when two
/// overlap or one lies outside the message.
fn apply(message: &[u8], mut edits: Vec<Edit>) -> Option<Vec<u8>> {
    edits.sort_by(|a, b| b.start.cmp(&a.start).then(b.end.cmp(&a.end)));
    let mut out = message.to_vec();
    let mut limit = out.len();
    for e in edits {
        if e.start > e.end || e.end > limit {
            return None;
        }
        limit = e.start;
        out.splice(e.start..e.end, e.with);
    }
    Some(out)
}

/// Re-encodes each leaf part that has long lines and a 7bit/8bit/absent transfer
/// encoding as quoted-printable. None when the message does not parse.
fn reencode_parts(message: &[u8]) -> Option<Vec<u8>> {
    let src = structure_source(message);
    let parsed = MessageParser::default().parse(&src[..])?;
    let mut edits = Vec::new();
    for part in parsed.parts.iter().filter(|p| is_leaf(p)) {
        let Some(body) = message.get(part.offset_body as usize..part.offset_end as usize) else {
            continue;
        };
        if has_long_lines(body)
            && matches!(
                transfer_encoding(part).as_deref(),
                None | Some("7bit" | "8bit")
            )
        {
            edits.extend(to_quoted_printable(part, body));
        }
    }
    if edits.is_empty() {
        return None;
    }
    apply(message, edits)
}

/// Whether the message needs SMTPUTF8 for its header fields: some header section (the
/// message's or a MIME part's) has non-ASCII octets that are UTF-8 (RFC 6532 §3).
/// Like Postfix's `smtputf8_autodetect_classes`, mail is judged by what it contains,
/// not by whether its submitter said SMTPUTF8.
pub fn utf8_headers(message: &[u8]) -> bool {
    if message.is_ascii() {
        return false;
    }
    let utf8 = |h: &[u8]| !h.is_ascii() && std::str::from_utf8(h).is_ok();
    if utf8(mailyard_message::header::split(message).0) {
        return true;
    }
    let src = structure_source(message);
    MessageParser::default().parse(&src[..]).is_some_and(|p| {
        p.parts.iter().any(|part| {
            message
                .get(part.offset_header as usize..part.offset_body as usize)
                .is_some_and(utf8)
        })
    })
}

/// The message as 7-bit MIME, its content unchanged once decoded, for a peer without
/// 8BITMIME (RFC 6152 §3; RFC 1652 §3's "gateway transformation"), as Postfix's MIME
/// output conversion does it: a leaf part with 8-bit octets and a 7bit/8bit (or no)
/// transfer encoding is re-encoded as quoted-printable (RFC 2045 §6.7), a `binary` one
/// as base64 (§6.8); a multipart or message/rfc822 labelled 8bit is labelled 7bit
/// (RFC 2045 §6.4 allows no other encoding for them) once what it holds is converted
/// in turn. Err, with the reason, when that cannot make it 7-bit: 8-bit octets in a
/// header field (RFC 2047 would need a charset the message does not name), in a
/// preamble, or a message that does not parse. Then the caller bounces (5.6.3).
pub fn seven_bit(message: &[u8]) -> Result<Vec<u8>, String> {
    if message.is_ascii() {
        return Ok(message.to_vec());
    }
    if !mailyard_message::header::split(message).0.is_ascii() {
        return Err("8-bit octets in a header field".into());
    }
    let src = structure_source(message);
    let parsed = MessageParser::default()
        .parse(&src[..])
        .ok_or("the message does not parse as MIME")?;
    let mut edits = Vec::new();
    for part in &parsed.parts {
        let span = |a: u32, b: u32| message.get(a as usize..b as usize).unwrap_or_default();
        if !span(part.offset_header, part.offset_body).is_ascii() {
            return Err("8-bit octets in a MIME part's header".into());
        }
        let body = span(part.offset_body, part.offset_end);
        if body.is_ascii() {
            continue;
        }
        let cte = transfer_encoding(part);
        match &part.body {
            PartType::Multipart(_) | PartType::Message(_) => {
                if let PartType::Message(_) = part.body {
                    edits.push(Edit {
                        start: part.offset_body as usize,
                        end: part.offset_end as usize,
                        with: seven_bit(body)?,
                    });
                }
                if cte.as_deref() == Some("8bit") {
                    edits.push(set_transfer_encoding(part, "7bit"));
                }
            }
            _ => match cte.as_deref() {
                None | Some("7bit" | "8bit") => edits.extend(to_quoted_printable(part, body)),
                Some("binary") => edits.extend([
                    Edit {
                        start: part.offset_body as usize,
                        end: part.offset_end as usize,
                        with: base64_lines(body),
                    },
                    set_transfer_encoding(part, "base64"),
                ]),
                Some(other) => {
                    return Err(format!(
                        "8-bit octets in a part whose transfer encoding is {other}"
                    ));
                }
            },
        }
    }
    if parsed.parts.first().is_some_and(is_leaf) && parsed.header_raw("MIME-Version").is_none() {
        // A message without MIME: quoted-printable needs MIME-Version (RFC 2045 §4).
        edits.push(Edit {
            start: 0,
            end: 0,
            with: b"MIME-Version: 1.0\r\n".to_vec(),
        });
    }
    let out = apply(message, edits).ok_or("the MIME structure is inconsistent")?;
    if out.is_ascii() {
        Ok(out)
    } else {
        Err("8-bit octets outside any MIME part".into())
    }
}

/// RFC 2045 §6.8 base64 in lines of 76 characters, each ended by CRLF.
fn base64_lines(data: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = Vec::with_capacity(text.len() + text.len() / 38 + 2);
    for line in text.as_bytes().chunks(QP_LINE) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// RFC 2045 §6.7 quoted-printable of a CRLF text, keeping its line structure.
fn qp_encode(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 16);
    let mut lines = body.split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut col = 0;
        for (i, &b) in line.iter().enumerate() {
            let at_end = i + 1 == line.len();
            let literal =
                (b == b' ' || b == b'\t') && !at_end || (33..=126).contains(&b) && b != b'=';
            let piece: Vec<u8> = if literal {
                vec![b]
            } else {
                format!("={b:02X}").into_bytes()
            };
            // Leave room for the soft break's "=".
            if col + piece.len() > QP_LINE - 1 {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            out.extend_from_slice(&piece);
            col += piece.len();
        }
        if !last {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Breaks every line over [`MAX_LINE`]: header lines at their last whitespace before
/// the limit (a fold), anything else with CRLF SPACE.
fn break_lines(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 500);
    let mut in_headers = true;
    let mut lines = message.split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let mut line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            in_headers = false;
        }
        while line.len() > MAX_LINE {
            let cut = if in_headers {
                line[1..MAX_LINE]
                    .iter()
                    .rposition(|b| *b == b' ' || *b == b'\t')
                    .map_or(MAX_LINE, |p| p + 1)
            } else {
                MAX_LINE - 1
            };
            out.extend_from_slice(&line[..cut]);
            out.extend_from_slice(b"\r\n");
            if in_headers && cut < MAX_LINE && matches!(line[cut], b' ' | b'\t') {
                // A fold: the whitespace starts the continuation line.
            } else {
                out.push(b' ');
            }
            line = &line[cut..];
        }
        out.extend_from_slice(line);
        if !last {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn longest(m: &[u8]) -> usize {
        m.split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn short_lines_untouched() {
        let m = b"Subject: x\r\n\r\nshort\r\n".to_vec();
        assert_eq!(fit(m.clone()), m);
    }

    #[test]
    fn plain_text_body_becomes_quoted_printable() {
        let text = format!("{} = end", "word ".repeat(900));
        let m = format!("From: a@x.test\r\nSubject: long\r\n\r\n{text}\r\nsecond line\r\n");
        let out = fit(m.into_bytes());
        assert!(
            longest(&out) <= QP_LINE,
            "{}",
            String::from_utf8_lossy(&out)
        );
        let parsed = MessageParser::default().parse(&out).expect("parses");
        assert_eq!(parsed.content_transfer_encoding(), Some("quoted-printable"));
        let decoded = parsed
            .body_text(0)
            .unwrap_or_default()
            .replace("\r\n", "\n");
        assert_eq!(decoded, format!("{text}\nsecond line\n"));
    }

    #[test]
    fn multipart_leaf_is_reencoded_and_the_structure_kept() {
        let text = "x".repeat(3000);
        let m = format!(
            "From: a@x.test\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\nshort\r\n--b--\r\n"
        );
        let out = fit(m.into_bytes());
        assert!(
            longest(&out) <= MAX_LINE,
            "{}",
            String::from_utf8_lossy(&out)
        );
        let parsed = MessageParser::default().parse(&out).expect("parses");
        assert_eq!(parsed.body_text(0).as_deref(), Some(text.as_str()));
        assert_eq!(parsed.body_text(1).as_deref(), Some("short"));
    }

    /// Asserts `out` is 7-bit with lines of at most 76 octets and returns it parsed.
    fn seven_bit_ok(m: &str) -> Vec<u8> {
        let out = seven_bit(m.as_bytes()).expect("converts");
        assert!(out.is_ascii(), "{}", String::from_utf8_lossy(&out));
        assert!(
            longest(&out) <= QP_LINE,
            "{}",
            String::from_utf8_lossy(&out)
        );
        out
    }

    #[test]
    fn seven_bit_leaves_ascii_alone() {
        let m = "Subject: x\r\n\r\nplain\r\n";
        assert_eq!(seven_bit(m.as_bytes()).expect("ascii"), m.as_bytes());
    }

    #[test]
    fn seven_bit_plain_message_becomes_quoted_printable_mime() {
        let text = "Grüße aus Köln = 100 €\r\nzweite Zeile\r\n";
        let m = format!("From: a@x.test\r\nSubject: 8bit\r\n\r\n{text}");
        let out = seven_bit_ok(&m);
        let parsed = MessageParser::default().parse(&out).expect("parses");
        assert_eq!(
            parsed.header_raw("MIME-Version").map(str::trim),
            Some("1.0")
        );
        assert_eq!(parsed.content_transfer_encoding(), Some("quoted-printable"));
        assert_eq!(parsed.body_text(0).as_deref(), Some(text));
    }

    #[test]
    fn seven_bit_multipart_relabels_the_container_and_keeps_every_part() {
        let m = "From: a@x.test\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=\"b\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                 --b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                 naïve café\r\n--b\r\nContent-Type: application/octet-stream\r\n\
                 Content-Transfer-Encoding: binary\r\n\r\n\u{ff}\u{fe}raw\r\n--b\r\n\
                 Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n";
        let out = seven_bit_ok(m);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("multipart/mixed; boundary=\"b\"\r\nContent-Transfer-Encoding: 7bit\r\n"),
            "{text}"
        );
        let parsed = MessageParser::default().parse(&out).expect("parses");
        assert_eq!(parsed.body_text(0).as_deref(), Some("naïve café"));
        let binary = parsed.attachment(0).expect("the binary part");
        assert_eq!(binary.content_transfer_encoding(), Some("base64"));
        assert_eq!(binary.contents(), "\u{ff}\u{fe}raw".as_bytes());
        assert_eq!(parsed.body_text(1).as_deref(), Some("hello"));
    }

    #[test]
    fn seven_bit_converts_inside_an_attached_message() {
        let m = "From: a@x.test\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
                 --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n\
                 Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                 From: b@y.test\r\nSubject: inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
                 déjà vu\r\n--b--\r\n";
        let out = seven_bit_ok(m);
        let parsed = MessageParser::default().parse(&out).expect("parses");
        let inner = parsed
            .attachment(0)
            .and_then(|a| a.message())
            .expect("the attached message");
        assert_eq!(inner.body_text(0).as_deref(), Some("déjà vu"));
        assert_eq!(inner.subject(), Some("inner"));
    }

    #[test]
    fn seven_bit_refuses_what_it_cannot_convert_without_loss() {
        for (m, why) in [
            ("Subject: Grüße\r\n\r\nbody\r\n", "header field"),
            (
                "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n\u{e9}\r\n",
                "base64",
            ),
        ] {
            let err = seven_bit(m.as_bytes()).expect_err(m);
            assert!(err.contains(why), "{m:?}: {err}");
        }
    }

    #[test]
    fn utf8_header_detection() {
        assert!(utf8_headers("Subject: Grüße\r\n\r\nx\r\n".as_bytes()));
        assert!(!utf8_headers("Subject: x\r\n\r\nGrüße\r\n".as_bytes()));
        assert!(
            !utf8_headers(b"Subject: \xe9t\xe9\r\n\r\nx\r\n"),
            "latin-1 is not UTF-8"
        );
        let mime = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
                    Content-Type: text/plain; name=\"Straße.txt\"\r\n\r\nx\r\n--b--\r\n";
        assert!(
            utf8_headers(mime.as_bytes()),
            "a MIME part's header counts too"
        );
    }

    #[test]
    fn long_header_is_folded_and_base64_lines_broken() {
        let subject = "word ".repeat(400);
        let m = format!(
            "Subject: {subject}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            "A".repeat(2000)
        );
        let out = fit(m.into_bytes());
        assert!(longest(&out) <= MAX_LINE);
        let parsed = MessageParser::default().parse(&out).expect("parses");
        assert_eq!(parsed.subject().map(str::trim), Some(subject.trim()));
    }
}
