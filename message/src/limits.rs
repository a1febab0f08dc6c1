//! Caps on the MIME structure parsed out of one message: at most [`MAX_PARTS`] parts
//! and [`MAX_DEPTH`] levels of multipart / `message/rfc822` nesting, Dovecot's
//! defaults (`lib-mail/message-parser.h`: `MESSAGE_PARSER_DEFAULT_MAX_TOTAL_PARTS`,
//! `MESSAGE_PARSER_DEFAULT_MAX_NESTED_MIME_PARTS`). RFC 2046 §5.1 sets no limit; a
//! 25 MB message of 2.5 million empty parts once took the server to 1.16 GB and grew
//! the index by 597 MB (issue 9).
//!
//! As in Dovecot, a message over a cap is still accepted and readable whole: its
//! structure is what comes before the cap, and everything from there on is the
//! content of one last part. mail-parser has no such limit, so [`structure_source`]
//! gives it a copy of the message in which the structure past the cap is defused —
//! every `-` from the cut on becomes `_`, so no boundary delimiter (`--boundary`) and
//! no MIME header field (`Content-Type`, `Content-Transfer-Encoding`, …) is seen
//! there. The copy has the same length and line ends, so every offset, size and line
//! count mail-parser reports is that of the stored message; callers that return
//! bytes to a client slice the stored message, never the copy.
//!
//! Where the cut falls is found by walking the message the way mail-parser's
//! `MessageParser::parse` does (its own stream functions, without building parts or
//! decoding text), so the count is the one mail-parser would reach. Pure: no I/O.

use std::borrow::Cow;

use mail_parser::parsers::MessageStream;
use mail_parser::{ContentType, Header, HeaderName, HeaderValue, MessageParser};

/// Most MIME parts (the message itself, each body part, each encapsulated message)
/// parsed out of one message. Dovecot's default.
pub const MAX_PARTS: usize = 10_000;

/// Deepest nesting of multiparts and encapsulated messages (the message itself is
/// depth 0). Dovecot's default.
pub const MAX_DEPTH: usize = 100;

/// How many times mail-parser decodes a base64 / quoted-printable `message/rfc822`
/// part and parses what is inside (its `MAX_NESTED_ENCODED`).
const MAX_ENCODED_NESTING: usize = 3;

/// The caps one walk applies (the constants, or smaller ones in tests).
#[derive(Debug, Clone, Copy)]
struct Caps {
    parts: usize,
    depth: usize,
}

/// What mail-parser should parse for the stored message `raw`: `raw` itself when its
/// structure is within [`MAX_PARTS`] and [`MAX_DEPTH`], else a copy of the same length
/// with the structure past the cap defused (see the module documentation).
pub fn structure_source(raw: &[u8]) -> Cow<'_, [u8]> {
    capped(
        raw,
        Caps {
            parts: MAX_PARTS,
            depth: MAX_DEPTH,
        },
    )
}

fn capped(raw: &[u8], caps: Caps) -> Cow<'_, [u8]> {
    let mut budget = caps.parts;
    match cut(raw, &mut budget, 0, caps.depth, MAX_ENCODED_NESTING) {
        None => Cow::Borrowed(raw),
        Some(at) => {
            let mut copy = raw.to_vec();
            for b in &mut copy[at..] {
                if *b == b'-' {
                    *b = b'_';
                }
            }
            Cow::Owned(copy)
        }
    }
}

/// Where a part stands while walking: the boundary that ends it (the innermost
/// multipart's), whether it is a multipart/digest (whose parts default to
/// `message/rfc822`) or an encapsulated message, and its depth.
#[derive(Debug, Default)]
struct State {
    boundary: Option<Vec<u8>>,
    digest: bool,
    message: bool,
    depth: usize,
}

/// The offset from which `raw` must be defused so that mail-parser finds at most
/// `budget` parts (taken from `budget`) none deeper than `max_depth`, or None when it
/// fits. Mirrors the control flow of mail-parser 0.11's `MessageParser::parse_`.
fn cut(
    raw: &[u8],
    budget: &mut usize,
    depth0: usize,
    max_depth: usize,
    encoded: usize,
) -> Option<usize> {
    let parser = MessageParser::default();
    let mut stream = MessageStream::new(raw);
    let mut state = State {
        message: true,
        depth: depth0,
        ..State::default()
    };
    let mut stack: Vec<State> = Vec::new();
    let mut headers: Vec<Header<'_>> = Vec::new();
    loop {
        let header_start = stream.offset();
        headers.clear();
        if !stream.parse_headers(&parser, &mut headers) {
            return None;
        }
        if *budget == 0 || state.depth > max_depth {
            return Some(header_start);
        }
        *budget -= 1;
        let content_type = headers
            .iter()
            .rev()
            .find(|h| h.name == HeaderName::ContentType)
            .and_then(|h| h.value.as_content_type());
        let kind = Kind::of(content_type, state.digest);

        if let Kind::Multipart { boundary, digest } = &kind
            && stream.seek_next_part(boundary.as_bytes())
        {
            let child = State {
                boundary: Some(boundary.as_bytes().to_vec()),
                digest: *digest,
                message: false,
                depth: state.depth + 1,
            };
            stack.push(std::mem::replace(&mut state, child));
            stream.skip_crlf();
            continue;
        }
        let encoding = headers
            .iter()
            .rev()
            .find(|h| h.name == HeaderName::ContentTransferEncoding)
            .map(|h| &h.value);
        let encoding = match encoding {
            Some(HeaderValue::Text(e)) if e.eq_ignore_ascii_case("base64") => Encoding::Base64,
            Some(HeaderValue::Text(e)) if e.eq_ignore_ascii_case("quoted-printable") => {
                Encoding::QuotedPrintable
            }
            _ => Encoding::None,
        };
        if kind == Kind::Message && encoding == Encoding::None {
            let nested = State {
                boundary: state.boundary.take(),
                digest: false,
                message: true,
                depth: state.depth + 1,
            };
            stack.push(std::mem::replace(&mut state, nested));
            continue;
        }

        let boundary = state.boundary.clone().unwrap_or_default();
        let (end, bytes) = match encoding {
            Encoding::Base64 => stream.decode_base64_mime(&boundary),
            Encoding::QuotedPrintable => stream.decode_quoted_printable_mime(&boundary),
            Encoding::None => stream.mime_part(&boundary),
        };
        if end == usize::MAX {
            let (_, found) = stream.seek_part_end(state.boundary.as_deref());
            if !found {
                state.boundary = None;
            }
        } else if kind == Kind::Message && encoded > 0 {
            // mail-parser decodes the encapsulated message and parses it too; when
            // that would go over, the cut is here (this part becomes plain content).
            let mut inner = *budget;
            if cut(&bytes, &mut inner, state.depth + 1, max_depth, encoded - 1).is_some() {
                return Some(header_start);
            }
            *budget = inner;
        }

        if state.boundary.is_none() {
            if stream.offset() >= raw.len() {
                return None;
            }
            continue;
        }
        // After a part of a multipart: its boundary was just read.
        loop {
            if state.message {
                // The end of an encapsulated message is the end of its part.
                let mut parent = stack.pop()?;
                parent.boundary = state.boundary.take();
                state = parent;
            }
            if !stream.is_multipart_end() {
                break;
            }
            // The close delimiter: back to the enclosing multipart, whose next
            // boundary is looked for.
            state = stack.pop()?;
            match &state.boundary {
                Some(b) if stream.seek_next_part_offset(b).is_some() => {}
                _ => return None,
            }
        }
    }
}

/// What mail-parser makes of a part's Content-Type (its `mime_type()`).
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Multipart { boundary: String, digest: bool },
    Message,
    Other,
}

impl Kind {
    fn of(content_type: Option<&ContentType<'_>>, in_digest: bool) -> Kind {
        let Some(ct) = content_type else {
            return if in_digest {
                Kind::Message
            } else {
                Kind::Other
            };
        };
        match ct.ctype() {
            "multipart" => match ct.attribute("boundary") {
                Some(b) => Kind::Multipart {
                    boundary: b.to_string(),
                    digest: ct.subtype() == Some("digest"),
                },
                None => Kind::Other,
            },
            "message" if matches!(ct.subtype(), Some("rfc822" | "global")) => Kind::Message,
            _ => Kind::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    None,
    Base64,
    QuotedPrintable,
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{Message, PartType};

    /// Parts and deepest depth of what mail-parser parses.
    fn shape(msg: &Message<'_>, depth: usize) -> (usize, usize) {
        let mut parts = 0;
        let mut deepest = depth;
        for part in &msg.parts {
            parts += 1;
            if let PartType::Message(m) = &part.body {
                let (p, d) = shape(m, depth + 1);
                parts += p;
                deepest = deepest.max(d);
            }
        }
        (parts, deepest)
    }

    fn bomb(parts: usize) -> Vec<u8> {
        let mut m = b"Subject: bomb\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n".to_vec();
        for _ in 0..parts {
            m.extend_from_slice(b"--z\r\n\r\nx\r\n");
        }
        m.extend_from_slice(b"--z--\r\n");
        m
    }

    fn nested_messages(levels: usize) -> Vec<u8> {
        let mut m = Vec::new();
        for _ in 0..levels {
            m.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        m.extend_from_slice(b"Subject: inner\r\n\r\nbody\r\n");
        m
    }

    fn nested_multiparts(levels: usize) -> Vec<u8> {
        let mut m = Vec::new();
        for i in 0..levels {
            m.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        m.extend_from_slice(b"\r\nleaf\r\n");
        m
    }

    #[test]
    fn within_the_caps_nothing_changes() {
        let caps = Caps {
            parts: 20,
            depth: 5,
        };
        let rows: Vec<(&str, Vec<u8>)> = vec![
            (
                "plain",
                b"Subject: x\r\n\r\nhello -- there\r\n--\r\nsig\r\n".to_vec(),
            ),
            ("empty", Vec::new()),
            ("bomb of 19 parts (+ the multipart)", bomb(19)),
            ("5 nested messages", nested_messages(5)),
            ("4 nested multiparts", nested_multiparts(4)),
        ];
        for (name, raw) in rows {
            assert!(
                matches!(capped(&raw, caps), Cow::Borrowed(_)),
                "{name}: unchanged"
            );
        }
    }

    #[test]
    fn over_the_caps_the_rest_is_one_part() {
        let caps = Caps {
            parts: 20,
            depth: 5,
        };
        // (name, message, parts and depth mail-parser finds in it, after the cap)
        let rows: Vec<(&str, Vec<u8>, usize, usize)> = vec![
            ("bomb of 1000 parts", bomb(1000), 21, 0),
            ("bomb of 20 parts", bomb(20), 21, 0),
            ("50 nested messages", nested_messages(50), 7, 6),
            ("50 nested multiparts", nested_multiparts(50), 7, 0),
        ];
        for (name, raw, want_parts, want_depth) in rows {
            let src = capped(&raw, caps);
            assert_eq!(src.len(), raw.len(), "{name}: same length");
            assert!(matches!(src, Cow::Owned(_)), "{name}: defused");
            let msg = MessageParser::default().parse(&src[..]).expect("parses");
            let (parts, depth) = shape(&msg, 0);
            assert_eq!((parts, depth), (want_parts, want_depth), "{name}");
            let last = msg.parts.last().expect("a part");
            assert_eq!(
                last.offset_end as usize,
                raw.len(),
                "{name}: the last part runs to the end"
            );
        }
    }

    #[test]
    fn an_encoded_message_counts_what_is_inside() {
        use std::fmt::Write as _;
        let inner = bomb(100);
        let mut b64 = String::new();
        for chunk in inner.chunks(57) {
            let _ = writeln!(b64, "{}\r", base64(chunk));
        }
        let raw = format!(
            "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\
             Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}--o--\r\n"
        );
        let small = Caps {
            parts: 50,
            depth: 5,
        };
        let src = capped(raw.as_bytes(), small);
        let msg = MessageParser::default().parse(&src[..]).expect("parses");
        assert!(shape(&msg, 0).0 <= 50, "{:?}", shape(&msg, 0));
        let big = Caps {
            parts: 500,
            depth: 5,
        };
        assert!(matches!(capped(raw.as_bytes(), big), Cow::Borrowed(_)));
    }

    fn base64(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in bytes.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn the_real_caps_bound_a_bomb() {
        let raw = bomb(30_000);
        let src = structure_source(&raw);
        let msg = MessageParser::default().parse(&src[..]).expect("parses");
        assert_eq!(shape(&msg, 0).0, MAX_PARTS + 1);
    }
}
