//! BINARY (RFC 3516): a body part with its Content-Transfer-Encoding undone.
//!
//! Pure: bytes in, bytes out. The part is located by `section.rs` (its body and
//! its MIME header); the encoding is read from that header. `7bit`, `8bit` and
//! `binary` (and no header) are identity; `base64` and `quoted-printable` are
//! decoded leniently as RFC 2045 §6.7, §6.8 ask (characters outside the base64
//! alphabet are ignored; a quoted-printable `=` not followed by two hex digits is
//! kept); any other encoding is [`UnknownCte`] (RFC 3516 §4.3 `[UNKNOWN-CTE]`).
//! `BINARY[]` is the whole message as stored (nothing to decode).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::cmd::section::section_bytes;
use crate::proto::fetch::{Section, SectionText};

/// The part's Content-Transfer-Encoding is not one we can decode (RFC 3516 §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownCte;

/// The decoded content of `part` of the stored message `raw`: `None` when the part
/// does not exist. RFC 3516 §4.2 BINARY[section-binary].
pub(crate) fn binary_part(raw: &[u8], part: &[u32]) -> Option<Result<Vec<u8>, UnknownCte>> {
    if part.is_empty() {
        return Some(Ok(raw.to_vec()));
    }
    let body = section_bytes(
        raw,
        &Section {
            part: part.to_vec(),
            text: None,
        },
    )?;
    let header = section_bytes(
        raw,
        &Section {
            part: part.to_vec(),
            text: Some(SectionText::Mime),
        },
    )
    .unwrap_or_default();
    Some(decode(&body, transfer_encoding(&header).as_deref()))
}

/// The Content-Transfer-Encoding field of a header block, unfolded, without
/// comments, lower-cased.
fn transfer_encoding(header: &[u8]) -> Option<String> {
    let mut value: Option<String> = None;
    let mut current = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if current && let Some(v) = value.as_mut() {
                v.push_str(&String::from_utf8_lossy(line));
            }
            continue;
        }
        if current {
            break;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':')
            && line[..colon]
                .trim_ascii()
                .eq_ignore_ascii_case(b"content-transfer-encoding")
        {
            current = true;
            value = Some(String::from_utf8_lossy(&line[colon + 1..]).into_owned());
        }
    }
    let v = value?;
    // RFC 822 comments: `base64 (encoded)`.
    let mut out = String::new();
    let mut depth = 0usize;
    for c in v.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 && !c.is_whitespace() && c != '"' => out.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    Some(out)
}

/// Undoes `encoding` (lower-case; None or empty means 7bit).
fn decode(body: &[u8], encoding: Option<&str>) -> Result<Vec<u8>, UnknownCte> {
    match encoding.unwrap_or("") {
        "" | "7bit" | "8bit" | "binary" => Ok(body.to_vec()),
        "base64" => Ok(decode_base64(body)),
        "quoted-printable" => Ok(decode_qp(body)),
        _ => Err(UnknownCte),
    }
}

/// RFC 2045 §6.8: characters outside the alphabet are ignored; padding is
/// optional; a final lone sextet (which cannot form an octet) is dropped.
fn decode_base64(body: &[u8]) -> Vec<u8> {
    let mut clean: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
        .collect();
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(&clean).unwrap_or_default()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// RFC 2045 §6.7: `=XX` octets, `=` at the end of a line is a soft break, and
/// trailing white space on a line (added by transports) is removed.
fn decode_qp(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        let (text, eol): (&[u8], &[u8]) = if let Some(t) = line.strip_suffix(b"\r\n") {
            (t, b"\r\n")
        } else if let Some(t) = line.strip_suffix(b"\n") {
            (t, b"\n")
        } else {
            (line, b"")
        };
        let text = text.trim_ascii_end();
        let (text, soft) = match text.strip_suffix(b"=") {
            Some(t) => (t, true),
            None => (text, false),
        };
        let mut i = 0;
        while i < text.len() {
            let b = text[i];
            if b == b'='
                && let (Some(h), Some(l)) = (
                    text.get(i + 1).copied().and_then(hex),
                    text.get(i + 2).copied().and_then(hex),
                )
            {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            out.push(b);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(eol);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &[u8] = b"From: a@example.com\r\n\
Content-Type: multipart/mixed; boundary=\"B\"\r\n\
\r\n\
--B\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: Quoted-Printable\r\n\
\r\n\
caf=C3=A9 au =\r\n\
lait=3D ok  \r\n\
--B\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding:\r\n base64 (binary data)\r\n\
\r\n\
AAEC/w==\r\n\
--B\r\n\
Content-Type: application/x-foo\r\n\
Content-Transfer-Encoding: x-uuencode\r\n\
\r\n\
begin 644 x\r\n\
--B--\r\n";

    #[test]
    fn decodes_parts() {
        assert_eq!(
            binary_part(MULTI, &[1]),
            // The CRLF before the boundary is the boundary's (RFC 2046 §5.1.1);
            // trailing white space is dropped (RFC 2045 §6.7 rule 3).
            Some(Ok("café au lait= ok".as_bytes().to_vec()))
        );
        assert_eq!(binary_part(MULTI, &[2]), Some(Ok(vec![0, 1, 2, 255])));
        assert_eq!(binary_part(MULTI, &[3]), Some(Err(UnknownCte)));
        assert_eq!(binary_part(MULTI, &[4]), None);
        assert_eq!(binary_part(MULTI, &[]), Some(Ok(MULTI.to_vec())));
        // A single-part message: part 1 is its body, its header the message's.
        let single = b"Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n";
        assert_eq!(binary_part(single, &[1]), Some(Ok(b"hello".to_vec())));
    }

    #[test]
    fn lenient_decoding() {
        // RFC 2045 §6.8 example-style input with junk, no padding, stray sextet.
        assert_eq!(decode_base64(b"aGVs bG8*\r\n"), b"hello");
        assert_eq!(decode_base64(b"aGVsbG8"), b"hello");
        assert_eq!(decode_base64(b"aGVsbG8hQ"), b"hello!");
        assert_eq!(decode_base64(b""), b"");
        assert_eq!(decode_qp(b"a=ZZb=4\r\n"), b"a=ZZb=4\r\n");
        assert_eq!(decode_qp(b"x=00y"), b"x\0y");
        assert_eq!(decode_qp(b"soft=\nbreak"), b"softbreak");
        assert_eq!(transfer_encoding(b"X: y\r\n"), None);
    }
}
