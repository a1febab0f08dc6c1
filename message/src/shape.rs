//! The shape of a message: its MIME part tree (RFC 2045, RFC 2046 §5), each part
//! with the byte ranges of its header and body in the message as stored, its
//! `Content-*` facts ([`Content`]), its body size and line count on the CRLF form,
//! and for an encapsulated message (RFC 2046 §5.2.1 `message/rfc822`) that
//! message's envelope and shape.
//!
//! The tree is mail-parser's, parsed from [`crate::limits::structure_source`] (at
//! most [`crate::limits::MAX_PARTS`] parts); every fact is read from the raw header
//! bytes with [`crate::header`], never from mail-parser's decoded values, because
//! that is what Dovecot reports. The degenerate trees are Dovecot's:
//!
//! * a multipart whose boundary is declared but never found has no parts (the
//!   renderer reports one empty `text/plain` part, RFC 2046 requires one);
//! * a `message/rfc822` part always has an [`Encapsulated`], whose message is None
//!   when nothing could be parsed out of it; a part without Content-Type directly
//!   below `multipart/digest` is one (RFC 2046 §5.1.5);
//! * a `message/rfc822` body mail-parser did not parse (no header, …) is parsed on
//!   its own; one that is base64 or quoted-printable encoded is described from the
//!   decoded message ([`Encapsulated::decoded`]: its ranges index the decoded body);
//! * nesting deeper than [`MAX_DEPTH`] is flattened: the part is a single part
//!   without `Content-*` facts (`text/plain`), which also bounds recursion.
//!
//! Sizes: `octets` counts the body as it would be with CRLF line endings (a bare LF
//! counts two), `lines` its line feeds — Dovecot's virtual size, the size an IMAP
//! client sees in BODYSTRUCTURE whether the file was stored with CRLF or LF. The CRLF
//! before a boundary belongs to the boundary (RFC 2046 §5.1.1).

use mail_parser::{HeaderName, HeaderValue, Message, MessageParser, MessagePart, PartType};

use crate::content::Content;
use crate::envelope::Envelope;
use crate::header::fields_in;
use crate::limits::structure_source;

/// Deepest multipart / `message/rfc822` nesting described as such.
pub const MAX_DEPTH: usize = crate::limits::MAX_DEPTH;

/// A byte range `start..end` of the buffer a part was parsed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// As a `usize` range, for slicing.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// Length in bytes.
    pub fn len(self) -> u32 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the span is empty.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The bytes of `buf` it covers (empty when out of bounds).
    pub fn slice(self, buf: &[u8]) -> &[u8] {
        let end = (self.end as usize).min(buf.len());
        buf.get((self.start as usize).min(end)..end)
            .unwrap_or_default()
    }
}

/// A message (the stored one, or one encapsulated in a `message/rfc822` part).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// Its envelope facts.
    pub envelope: Envelope,
    /// Its top-level part (header and body of the message itself).
    pub root: Part,
}

/// One MIME part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    /// The header block, up to and including the empty line.
    pub header: Span,
    /// The body (for a body part, without the CRLF before the next boundary).
    pub body: Span,
    /// The body's size on the CRLF form.
    pub octets: u64,
    /// The body's line feeds.
    pub lines: u64,
    /// The part's `Content-*` facts.
    pub content: Content,
    /// What the body holds.
    pub kind: Kind,
}

/// What a part's body holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Kind {
    /// Content (text, image, …, or a part flattened below [`MAX_DEPTH`]).
    #[default]
    Single,
    /// Body parts (RFC 2046 §5.1), possibly none.
    Multipart {
        /// The subtype as written (or as mail-parser saw it when the Content-Type
        /// as written does not say multipart).
        subtype: Vec<u8>,
        /// The body parts, in order.
        parts: Vec<Part>,
    },
    /// An encapsulated message (RFC 2046 §5.2).
    Message(Box<Encapsulated>),
}

/// The message inside a `message/*` part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encapsulated {
    /// The part was transfer-encoded: the spans inside index its decoded body,
    /// not the enclosing buffer.
    pub decoded: bool,
    /// The message; None when nothing could be parsed out of the part.
    pub message: Option<Shape>,
}

impl Part {
    /// Whether the part is described as a `message/rfc822` (RFC 9051 §7.5.2
    /// `body-type-msg`): an encapsulated message that is `message/rfc822`, or has
    /// no Content-Type because it sits in a `multipart/digest`.
    pub fn is_rfc822(&self) -> bool {
        matches!(self.kind, Kind::Message(_))
            && self
                .content
                .media_type
                .as_ref()
                .is_none_or(|m| m.is("message", "rfc822"))
    }
}

impl Shape {
    /// The shape of the stored message `raw`. Never fails: what mail-parser cannot
    /// parse is [`Shape::unparsed`].
    pub fn parse(raw: &[u8]) -> Shape {
        let src = structure_source(raw);
        match MessageParser::default().parse(&src[..]) {
            Some(msg) => Shape::of(&msg),
            None => Shape::unparsed(raw),
        }
    }

    /// The shape of a message mail-parser makes nothing of (no header field it
    /// recognises): one `text/plain` part whose header is the text up to the first
    /// empty line ([`crate::header::split`]) and whose body is the rest, with its
    /// real size — never described as empty when it is not (a line without a colon
    /// is header to Dovecot too, so "no empty line" is all header, no body).
    pub fn unparsed(raw: &[u8]) -> Shape {
        let len = u32::try_from(raw.len()).unwrap_or(u32::MAX);
        let header_end = u32::try_from(crate::header::split(raw).0.len()).unwrap_or(len);
        let header = Span {
            start: 0,
            end: header_end,
        };
        let body = Span {
            start: header_end,
            end: len,
        };
        let (octets, lines) = crlf_size(body.slice(raw));
        Shape {
            envelope: Envelope::from_fields(fields_in(raw, header.range())),
            root: Part {
                header,
                body,
                octets,
                lines,
                ..Part::default()
            },
        }
    }

    /// The shape of a message mail-parser parsed from
    /// [`crate::limits::structure_source`] of the stored bytes (for a caller that
    /// also wants mail-parser's decoded values: one parse, not two).
    pub fn of(msg: &Message<'_>) -> Shape {
        message_shape(
            msg,
            Buf {
                raw: &msg.raw_message,
                base: 0,
            },
            0,
        )
        .unwrap_or_default()
    }
}

/// The buffer a parsed message indexes, and where it sits in the enclosing one.
#[derive(Clone, Copy)]
struct Buf<'b> {
    raw: &'b [u8],
    base: u32,
}

impl Buf<'_> {
    fn span(&self, from: u32, to: u32) -> Span {
        let len = u32::try_from(self.raw.len()).unwrap_or(u32::MAX);
        let start = from.min(len);
        let end = to.clamp(start, len);
        Span {
            start: self.base.saturating_add(start),
            end: self.base.saturating_add(end),
        }
    }

    /// `span` relative to this buffer again.
    fn local(&self, span: Span) -> Span {
        Span {
            start: span.start.saturating_sub(self.base),
            end: span.end.saturating_sub(self.base),
        }
    }
}

/// Where a part sits, which decides its defaults.
#[derive(Clone, Copy)]
enum Parent<'p> {
    /// The root of a message.
    Message,
    /// A body part; `digest` for `multipart/digest`, `boundary` the one the
    /// multipart was split on.
    Multipart {
        digest: bool,
        boundary: Option<&'p [u8]>,
    },
}

/// The shape of `msg`, whose buffer is `buf`; None when it has no parts.
fn message_shape(msg: &Message<'_>, buf: Buf<'_>, depth: usize) -> Option<Shape> {
    let root = msg.parts.first()?;
    let header = buf.span(root.offset_header, root.offset_body);
    Some(Shape {
        envelope: Envelope::from_fields(fields_in(buf.raw, buf.local(header).range())),
        root: part_shape(msg, buf, 0, Parent::Message, depth),
    })
}

/// The boundary mail-parser split a multipart on.
fn boundary_of<'p>(part: &'p MessagePart<'_>) -> Option<&'p [u8]> {
    part.headers
        .iter()
        .rev()
        .find(|h| h.name == HeaderName::ContentType)
        .and_then(|h| match &h.value {
            HeaderValue::ContentType(ct) => ct.attribute("boundary").map(str::as_bytes),
            _ => None,
        })
}

/// Cuts `body` at the first line that starts with `--boundary` (RFC 2046 §5.1.1: the
/// CRLF before it belongs to the delimiter). mail-parser ends well-formed parts
/// there already; this corrects the parts it lets run on.
pub fn clamp_at_boundary<'a>(body: &'a [u8], boundary: &[u8]) -> &'a [u8] {
    if boundary.is_empty() {
        return body;
    }
    let mut from = 0;
    while let Some(lf) = body
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map(|p| from + p)
    {
        let line = body.get(lf + 1..).unwrap_or_default();
        if line
            .strip_prefix(b"--")
            .is_some_and(|l| l.starts_with(boundary))
        {
            let end = if lf > 0 && body.get(lf - 1) == Some(&b'\r') {
                lf - 1
            } else {
                lf
            };
            return body.get(..end).unwrap_or(body);
        }
        from = lf + 1;
    }
    body
}

/// `(octets, lines)` of `body` on the CRLF form. Jumps from line feed to line feed
/// (`memchr`), so a 100 KiB body costs a few thousand steps, not one per byte.
pub fn crlf_size(body: &[u8]) -> (u64, u64) {
    let mut lines = 0u64;
    let mut bare = 0u64;
    for lf in memchr::memchr_iter(b'\n', body) {
        lines += 1;
        if lf == 0 || body[lf - 1] != b'\r' {
            bare += 1;
        }
    }
    (body.len() as u64 + bare, lines)
}

/// Part `id` of `msg`.
fn part_shape(
    msg: &Message<'_>,
    buf: Buf<'_>,
    id: usize,
    parent: Parent<'_>,
    depth: usize,
) -> Part {
    let Some(part) = msg.parts.get(id) else {
        return Part::default();
    };
    let header = buf.span(part.offset_header, part.offset_body);
    let content = Content::from_fields(
        fields_in(buf.raw, buf.local(header).range()),
        matches!(parent, Parent::Multipart { .. }),
    );
    let mut body = buf.span(part.offset_body, part.offset_end);
    if let Parent::Multipart {
        boundary: Some(b), ..
    } = parent
    {
        let bytes = buf.local(body).slice(buf.raw);
        body.end = body.start + clamp_at_boundary(bytes, b).len() as u32;
    }
    let body_bytes = buf.local(body).slice(buf.raw);
    let (octets, lines) = crlf_size(body_bytes);
    let mut shaped = Part {
        header,
        body,
        octets,
        lines,
        content,
        kind: Kind::Single,
    };

    let is_rfc822 = match &shaped.content.media_type {
        Some(m) => m.is("message", "rfc822"),
        None => matches!(parent, Parent::Multipart { digest: true, .. }),
    };
    let declared_multipart = shaped.content.media_type.as_ref().is_some_and(|m| {
        m.kind.eq_ignore_ascii_case(b"multipart")
            && shaped
                .content
                .params
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(b"boundary"))
    });
    let is_multipart = matches!(part.body, PartType::Multipart(_));
    if depth >= MAX_DEPTH && (is_rfc822 || is_multipart || declared_multipart) {
        shaped.content = Content::default();
        return shaped;
    }
    shaped.kind = match &part.body {
        PartType::Multipart(children) => {
            let boundary = boundary_of(part);
            let subtype = multipart_subtype(part, &shaped.content);
            let digest = subtype.eq_ignore_ascii_case(b"digest");
            let parts = children
                .iter()
                .map(|&c| c as usize)
                // mail-parser numbers children after their parent; anything else
                // would be a cycle.
                .filter(|&c| c > id && c < msg.parts.len())
                .map(|c| {
                    let parent = Parent::Multipart { digest, boundary };
                    part_shape(msg, buf, c, parent, depth + 1)
                })
                .collect();
            Kind::Multipart { subtype, parts }
        }
        PartType::Message(nested) if is_rfc822 || shaped.content.media_type.is_some() => {
            let same = std::ptr::eq(nested.raw_message.as_ptr(), buf.raw.as_ptr());
            let inner = if same {
                buf
            } else {
                Buf {
                    raw: &nested.raw_message,
                    base: 0,
                }
            };
            Kind::Message(Box::new(Encapsulated {
                decoded: !same,
                message: message_shape(nested, inner, depth + 1),
            }))
        }
        _ if is_rfc822 => {
            // mail-parser gave up on the encapsulated message (no header,
            // undecodable, …): parse what is there on its own.
            let src = structure_source(body_bytes);
            let nested = MessageParser::default().parse(&src[..]);
            let message = nested.as_ref().and_then(|m| {
                let inner = Buf {
                    raw: &m.raw_message,
                    base: body.start,
                };
                message_shape(m, inner, depth + 1)
            });
            Kind::Message(Box::new(Encapsulated {
                decoded: false,
                message,
            }))
        }
        _ if declared_multipart => Kind::Multipart {
            subtype: multipart_subtype(part, &shaped.content),
            parts: Vec::new(),
        },
        _ => Kind::Single,
    };
    shaped
}

/// The subtype of a multipart: as written, or mail-parser's idea of it when the
/// Content-Type as written does not say multipart.
fn multipart_subtype(part: &MessagePart<'_>, content: &Content) -> Vec<u8> {
    match &content.media_type {
        Some(m) if m.kind.eq_ignore_ascii_case(b"multipart") => m.subtype.clone(),
        _ => part
            .headers
            .iter()
            .rev()
            .find(|h| h.name == HeaderName::ContentType)
            .and_then(|h| match &h.value {
                HeaderValue::ContentType(ct) => ct.subtype().map(|s| s.as_bytes().to_vec()),
                _ => None,
            })
            .unwrap_or_else(|| b"mixed".to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What mail-parser makes nothing of still has its real header and body:
    /// (message, header end, body octets, body lines).
    #[test]
    fn unparsed_messages_keep_their_sizes() {
        // (message, refused by mail-parser, header end, body octets, body lines): the
        // refused rows prove that `Shape::parse` falls back to `unparsed`.
        let rows: &[(&[u8], bool, u32, u64, u64)] = &[
            (b"ay\n", true, 3, 0, 0),
            (b"", true, 0, 0, 0),
            (b":", true, 1, 0, 0),
            (b"no header here\r\n\r\nbut a body\r\n", false, 18, 12, 1),
            (b"x   y\n\nbody\nmore\n", false, 7, 12, 2),
        ];
        for &(raw, refused, header_end, octets, lines) in rows {
            let shape = Shape::unparsed(raw);
            assert_eq!(
                shape.root.header,
                Span {
                    start: 0,
                    end: header_end
                },
                "{raw:?}"
            );
            assert_eq!(shape.root.body.end as usize, raw.len(), "{raw:?}");
            assert_eq!(
                (shape.root.octets, shape.root.lines),
                (octets, lines),
                "{raw:?}"
            );
            assert_eq!(
                MessageParser::default().parse(raw).is_none(),
                refused,
                "{raw:?}"
            );
            if refused {
                assert_eq!(Shape::parse(raw), shape, "{raw:?}");
            }
        }
    }

    #[test]
    fn boundaries_and_sizes() {
        assert_eq!(clamp_at_boundary(b"a\r\n--b\r\nc", b"b"), b"a");
        assert_eq!(clamp_at_boundary(b"a\n--bc", b"b"), b"a");
        assert_eq!(clamp_at_boundary(b"a\n-b", b"b"), b"a\n-b");
        assert_eq!(clamp_at_boundary(b"--b at start", b"b"), b"--b at start");
        assert_eq!(clamp_at_boundary(b"x\n--b", b""), b"x\n--b");
        assert_eq!(crlf_size(b"a\r\nb\nc"), (7, 2));
        assert_eq!(crlf_size(b""), (0, 0));
        assert_eq!(crlf_size(b"\n\n"), (4, 2));
        assert_eq!(crlf_size(b"\r\n\r\n"), (4, 2));
        assert_eq!(crlf_size(b"\r\r\n\n\r"), (6, 2));
    }

    #[test]
    fn spans_index_the_stored_message() {
        for nl in ["\r\n", "\n"] {
            let raw = "Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhello\n--x\nContent-Type: message/rfc822\n\nSubject: in\n\nbody\n--x--\n"
                .replace('\n', nl);
            let shape = Shape::parse(raw.as_bytes());
            let Kind::Multipart { parts, subtype } = &shape.root.kind else {
                panic!("multipart: {shape:?}");
            };
            assert_eq!(subtype, b"mixed");
            assert_eq!(parts[0].body.slice(raw.as_bytes()), b"hello");
            assert_eq!(
                parts[0].header.slice(raw.as_bytes()),
                format!("Content-Type: text/plain{nl}{nl}").as_bytes()
            );
            assert_eq!((parts[0].octets, parts[0].lines), (5, 0));
            let Kind::Message(enc) = &parts[1].kind else {
                panic!("message: {:?}", parts[1]);
            };
            let inner = enc.message.as_ref().expect("inner message");
            assert!(!enc.decoded);
            assert_eq!(inner.envelope.subject.as_deref(), Some(&b"in"[..]));
            assert_eq!(inner.root.body.slice(raw.as_bytes()), b"body");
            assert_eq!((parts[1].octets, parts[1].lines), (19, 2));
        }
    }
}
