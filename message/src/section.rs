//! Parts by number (RFC 9051 §6.4.5 `section-part`), and the transfer decoding
//! `BINARY[…]` needs (RFC 3516; RFC 2045 §6.7, §6.8).
//!
//! Numbering is Dovecot's (`imap-msgpart.c`): the parts of a multipart are numbered
//! from 1; a part that is not multipart is its own (only) part 1, and may be
//! followed by more numbers only when it is an encapsulated message, whose body the
//! rest of the path then walks. So `1.1` of a text part inside a multipart is that
//! part, while `1.1` of a message that is not multipart does not exist.

use crate::content::Content;
use crate::shape::{Kind, Part, Shape};

/// A located part.
#[derive(Debug, Clone, Copy)]
pub struct Located<'s> {
    /// The part.
    pub part: &'s Part,
    /// The innermost transfer-encoded `message/*` part the path went through: the
    /// part's spans index *its* decoded body ([`crate::Encapsulated::decoded`]).
    /// None: they index the stored message.
    pub decoded_in: Option<&'s Part>,
}

/// Part `path` of `shape` (empty: the message's root part); None when a number
/// names no part.
pub fn locate<'s>(shape: &'s Shape, path: &[u32]) -> Option<Located<'s>> {
    let mut node = &shape.root;
    let mut decoded_in = None;
    for (k, &n) in path.iter().enumerate() {
        let more = k + 1 < path.len();
        if let Kind::Multipart { parts, .. } = &node.kind {
            node = parts.get(usize::try_from(n).ok()?.checked_sub(1)?)?;
        } else if n != 1 || (more && !matches!(node.kind, Kind::Message(_))) {
            return None;
        }
        if more && let Kind::Message(enc) = &node.kind {
            if enc.decoded {
                decoded_in = Some(node);
            }
            node = &enc.message.as_ref()?.root;
        }
    }
    Some(Located {
        part: node,
        decoded_in,
    })
}

/// A Content-Transfer-Encoding as far as decoding goes (RFC 2045 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `7bit`, `8bit`, `binary`, or none: the body is the content.
    Identity,
    /// `base64` (RFC 2045 §6.8).
    Base64,
    /// `quoted-printable` (RFC 2045 §6.7).
    QuotedPrintable,
    /// Anything else (RFC 3516 §4.3 `UNKNOWN-CTE`).
    Unknown,
}

impl Encoding {
    /// The encoding named `name` (case-insensitive; None: no field).
    pub fn named(name: Option<&[u8]>) -> Encoding {
        let Some(name) = name else {
            return Encoding::Identity;
        };
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if name.is_empty() || is("7bit") || is("8bit") || is("binary") {
            Encoding::Identity
        } else if is("base64") {
            Encoding::Base64
        } else if is("quoted-printable") {
            Encoding::QuotedPrintable
        } else {
            Encoding::Unknown
        }
    }

    /// The encoding of a part.
    pub fn of(content: &Content) -> Encoding {
        Encoding::named(content.encoding.as_deref())
    }

    /// `body` decoded; None for [`Encoding::Unknown`].
    pub fn decode(self, body: &[u8]) -> Option<Vec<u8>> {
        match self {
            Encoding::Identity => Some(body.to_vec()),
            Encoding::Base64 => Some(decode_base64(body)),
            Encoding::QuotedPrintable => Some(decode_qp(body)),
            Encoding::Unknown => None,
        }
    }
}

/// RFC 2045 §6.8: characters outside the alphabet are ignored; padding is
/// optional; a final lone sextet (which cannot form an octet) is dropped.
pub fn decode_base64(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    let mut acc = 0u32;
    let mut n = 0;
    for &b in body {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = acc << 6 | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&acc.to_be_bytes()[1..]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&((acc >> 2) as u16).to_be_bytes()),
        _ => {}
    }
    out
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
pub fn decode_qp(body: &[u8]) -> Vec<u8> {
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
        while let Some(&b) = text.get(i) {
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

    const MULTI: &str = "From: a@example.com\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
preamble\r\n\
--XX\r\n\
Content-Type: text/plain\r\n\
\r\n\
part one\r\n\
--XX\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: c@example.com\r\n\
Subject: inner\r\n\
Content-Type: multipart/alternative; boundary=\"YY\"\r\n\
\r\n\
--YY\r\n\
Content-Type: text/plain\r\n\
\r\n\
inner text\r\n\
--YY\r\n\
Content-Type: text/html\r\n\
\r\n\
<p>inner</p>\r\n\
--YY--\r\n\
\r\n\
--XX\r\n\
Content-Type: message/rfc822\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
U3ViamVjdDogZW5jb2RlZA0KDQpkZWNvZGVkIGJvZHkNCg==\r\n\
--XX--\r\n";

    /// (path, body of the part found) — the rows of `imap/src/cmd/section.rs`,
    /// each also with LF-only line endings.
    #[test]
    fn dovecot_numbering() {
        let rows: &[(&[u32], Option<&str>)] = &[
            (&[1], Some("part one")),
            (&[1, 1], Some("part one")),
            (&[1, 2], None),
            (&[2, 1], Some("inner text")),
            (&[2, 2], Some("<p>inner</p>")),
            (&[2, 3], None),
            (&[3, 1], Some("decoded body\r\n")),
            (&[4], None),
            (&[0], None),
            (&[1, 1, 1], None),
            (&[2, 1, 2], None),
        ];
        for crlf in [true, false] {
            let raw = if crlf {
                MULTI.to_owned()
            } else {
                MULTI.replace("\r\n", "\n")
            };
            let shape = Shape::parse(raw.as_bytes());
            for &(path, want) in rows {
                let got = locate(&shape, path).map(|l| match l.decoded_in {
                    None => l.part.body.slice(raw.as_bytes()).to_vec(),
                    Some(container) => {
                        let encoded = container.body.slice(raw.as_bytes());
                        let decoded = Encoding::of(&container.content)
                            .decode(encoded)
                            .unwrap_or_default();
                        l.part.body.slice(&decoded).to_vec()
                    }
                });
                let want = want.map(|w| {
                    if crlf || path == [3, 1] {
                        w.to_owned()
                    } else {
                        w.replace("\r\n", "\n")
                    }
                });
                assert_eq!(
                    got.map(|g| String::from_utf8_lossy(&g).into_owned()),
                    want,
                    "{path:?} crlf={crlf}"
                );
            }
        }
    }

    #[test]
    fn single_part_messages() {
        let raw = b"Subject: x\r\n\r\nHello\r\n";
        let shape = Shape::parse(raw);
        assert_eq!(
            locate(&shape, &[1]).map(|l| l.part.body.slice(raw)),
            Some(&b"Hello\r\n"[..])
        );
        assert!(locate(&shape, &[1, 1]).is_none());
        assert!(locate(&shape, &[2]).is_none());
        assert!(locate(&shape, &[]).is_some());
    }

    #[test]
    fn lenient_decoding() {
        assert_eq!(decode_base64(b"aGVs bG8*\r\n"), b"hello");
        assert_eq!(decode_base64(b"aGVsbG8"), b"hello");
        assert_eq!(decode_base64(b"aGVsbG8hQ"), b"hello!");
        assert_eq!(decode_base64(b"aGVsbG8h"), b"hello!");
        assert_eq!(decode_base64(b"YQ=="), b"a");
        assert_eq!(decode_base64(b""), b"");
        assert_eq!(decode_qp(b"a=ZZb=4\r\n"), b"a=ZZb=4\r\n");
        assert_eq!(decode_qp(b"x=00y"), b"x\0y");
        assert_eq!(decode_qp(b"soft=\nbreak"), b"softbreak");
        assert_eq!(decode_qp(b"trail  \r\nx=3D"), b"trail\r\nx=");
        assert_eq!(Encoding::named(Some(b"BASE64")), Encoding::Base64);
        assert_eq!(Encoding::named(Some(b"x-uuencode")), Encoding::Unknown);
        assert_eq!(Encoding::named(None), Encoding::Identity);
        assert_eq!(Encoding::Unknown.decode(b"x"), None);
    }
}
