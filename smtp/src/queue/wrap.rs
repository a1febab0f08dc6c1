//! Lines too long for the next hop. RFC 5321 §4.5.3.1.6 limits a text line to 1000
//! octets with its CRLF (RFC 5322 §2.1.1: 998), and many servers refuse longer ones,
//! while §4.5.3.1 asks receivers to impose no limit they can avoid: so mailyard takes
//! long lines in, and makes mail it relays fit before it is queued (and signed).
//!
//! How, in order of preference (as Postfix does, but re-encoding where it can instead of
//! breaking lines): a text part with long lines and a 7bit/8bit (or no) transfer encoding
//! is re-encoded as quoted-printable (RFC 2045 §6.7: no line over 76 octets, content
//! unchanged once decoded); a long header line is folded at whitespace (RFC 5322
//! §2.2.3); what still remains too long is broken with CRLF SPACE (Postfix's
//! `smtp_line_length_limit` behaviour), the least harmful break for MIME.

use mail_parser::{HeaderName, MessageParser, MimeHeaders, PartType};

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

/// Re-encodes each leaf part that has long lines and a 7bit/8bit/absent transfer
/// encoding as quoted-printable. None when the message does not parse.
fn reencode_parts(message: &[u8]) -> Option<Vec<u8>> {
    let parsed = MessageParser::default().parse(message)?;
    // (start, end, replacement), applied from the end so offsets stay valid.
    let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    for part in &parsed.parts {
        if !matches!(
            part.body,
            PartType::Text(_) | PartType::Html(_) | PartType::Binary(_) | PartType::InlineBinary(_)
        ) {
            continue;
        }
        let (body_start, body_end) = (part.offset_body as usize, part.offset_end as usize);
        let Some(body) = message.get(body_start..body_end) else {
            continue;
        };
        if !has_long_lines(body) {
            continue;
        }
        let cte = part
            .content_transfer_encoding()
            .map(str::to_ascii_lowercase);
        if !matches!(cte.as_deref(), None | Some("7bit" | "8bit")) {
            continue;
        }
        edits.push((body_start, body_end, qp_encode(body)));
        let cte_header = part
            .headers
            .iter()
            .find(|h| h.name == HeaderName::ContentTransferEncoding);
        match cte_header {
            Some(h) => edits.push((
                h.offset_field as usize,
                h.offset_end as usize,
                b"Content-Transfer-Encoding: quoted-printable\r\n".to_vec(),
            )),
            None => {
                let at = part.offset_header as usize;
                edits.push((
                    at,
                    at,
                    b"Content-Transfer-Encoding: quoted-printable\r\n".to_vec(),
                ));
            }
        }
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut out = message.to_vec();
    for (start, end, with) in edits {
        if start > end || end > out.len() {
            return None;
        }
        out.splice(start..end, with);
    }
    Some(out)
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
