//! Locates a body section (RFC 9051 §6.4.5 `section`) in a stored message and returns
//! its bytes exactly as stored: `HEADER`, `HEADER.FIELDS (…)`, `HEADER.FIELDS.NOT (…)`,
//! `TEXT`, `MIME` and part numbers, nested through `multipart/*` and
//! `message/rfc822`.
//!
//! Pure: bytes in, bytes out. The MIME tree comes from mail-parser (its part offsets
//! index the raw message; an encapsulated message that was not transfer-encoded keeps
//! offsets into the same buffer); header and text of a message are split at the first
//! empty line ourselves, so the common cases (`BODY[]`, `BODY[HEADER]`,
//! `BODY.PEEK[HEADER.FIELDS (…)]`, `BODY[TEXT]`) never parse the MIME tree.
//!
//! Part numbering (RFC 9051 §6.4.5): the parts of a multipart are numbered from 1; a
//! message that is not multipart has one part, 1, its body; the parts of an
//! encapsulated `message/rfc822` are numbered as those of its body; and, as Dovecot
//! answers, `n.1` of a part `n` inside a multipart that is not multipart itself is
//! part `n` (see [`locate`]).

use std::borrow::Cow;

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};
use mailyard_store::mime_limits::structure_source;

use crate::proto::fetch::{Partial, Section, SectionText};

pub(crate) use mailyard_store::headers::{header_fields, split_message};

/// Applies `<start.count>` (RFC 9051 §6.4.5): the bytes from `start`, at most `count`.
pub(crate) fn apply_partial(data: &[u8], partial: Option<Partial>) -> &[u8] {
    match partial {
        None => data,
        Some(p) => {
            let start = usize::try_from(p.start)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let count = usize::try_from(p.count).unwrap_or(usize::MAX);
            let end = start.saturating_add(count).min(data.len());
            data.get(start..end).unwrap_or_default()
        }
    }
}

/// A located part: its MIME header, its body, and whether it is an encapsulated
/// message (`message/rfc822`) whose body is a whole message.
struct Located<'a> {
    header: Cow<'a, [u8]>,
    body: Cow<'a, [u8]>,
    is_message: bool,
}

pub(crate) fn range(raw: &[u8], from: u32, to: u32) -> &[u8] {
    let start = (from as usize).min(raw.len());
    let end = (to as usize).clamp(start, raw.len());
    raw.get(start..end).unwrap_or_default()
}

/// Cuts `body` at the first line starting with `--boundary` (mail-parser normally
/// ends parts there already).
pub(crate) fn clamp_at_boundary<'a>(body: &'a [u8], boundary: Option<&str>) -> &'a [u8] {
    let Some(b) = boundary.filter(|b| !b.is_empty()) else {
        return body;
    };
    let delim = format!("\n--{b}");
    match body
        .windows(delim.len())
        .position(|w| w == delim.as_bytes())
    {
        Some(lf) => {
            let end = if lf > 0 && body.get(lf - 1) == Some(&b'\r') {
                lf - 1
            } else {
                lf
            };
            body.get(..end).unwrap_or(body)
        }
        None => body,
    }
}

pub(crate) fn boundary_of(part: &MessagePart<'_>) -> Option<String> {
    part.content_type()
        .and_then(|ct| ct.attribute("boundary"))
        .map(str::to_owned)
}

fn is_message_part(part: &MessagePart<'_>) -> bool {
    matches!(part.body, PartType::Message(_))
        || part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("rfc822"))
        })
}

/// Follows `path` through the MIME tree of `msg`. None when a number does not exist.
///
/// As Dovecot walks it (imap-msgpart.c): a multipart selects its child `n`; a part
/// that is not multipart is its own (only) part 1, and may be followed by more
/// numbers only when it is a `message/rfc822`, whose encapsulated message the rest of
/// the path then walks. So `BODY[1.1]` of a text part inside a multipart is that
/// part, while `1.1` of a message that is not multipart does not exist.
///
/// `msg` was parsed from [`structure_source`] of `stored`: bytes are sliced from
/// `stored`, never from the (possibly defused) copy, except inside an encoded
/// encapsulated message, which mail-parser decoded into a buffer of its own.
fn locate<'a>(msg: &'a Message<'a>, stored: &'a [u8], path: &[u32]) -> Option<Located<'a>> {
    let mut cur: &'a Message<'a> = msg;
    let mut id: usize = 0;
    // The boundary of the multipart that encloses the current part.
    let mut boundary: Option<String> = None;
    for (k, &n) in path.iter().enumerate() {
        let more = k + 1 < path.len();
        let part = cur.parts.get(id)?;
        if let PartType::Multipart(children) = &part.body {
            boundary = boundary_of(part);
            id = *children.get((n as usize).checked_sub(1)?)? as usize;
        } else if n != 1 || (more && !is_message_part(part)) {
            return None;
        }
        if more {
            let node = cur.parts.get(id)?;
            if is_message_part(node) {
                let PartType::Message(nested) = &node.body else {
                    return None;
                };
                cur = nested;
                id = 0;
                boundary = None;
            }
        }
    }
    let node = cur.parts.get(id)?;
    let raw: &'a [u8] = if std::ptr::eq(cur.raw_message.as_ptr(), msg.raw_message.as_ptr()) {
        stored
    } else {
        &cur.raw_message
    };
    Some(Located {
        header: Cow::Borrowed(range(raw, node.offset_header, node.offset_body)),
        body: Cow::Borrowed(clamp_at_boundary(
            range(raw, node.offset_body, node.offset_end),
            boundary.as_deref(),
        )),
        is_message: is_message_part(node),
    })
}

/// Whether `part` (empty: the whole message) of the stored message `raw` is a
/// message (`message/rfc822`, or the message itself); None when there is no such
/// part.
pub(crate) fn is_message(raw: &[u8], part: &[u32]) -> Option<bool> {
    if part.is_empty() {
        return Some(true);
    }
    let src = structure_source(raw);
    let msg = MessageParser::default().parse(&src[..])?;
    Some(locate(&msg, raw, part)?.is_message)
}

/// The bytes of `section` of the stored message `raw`; None when the part does not
/// exist (the caller answers with an empty string, as Dovecot does).
pub(crate) fn section_bytes<'a>(raw: &'a [u8], section: &Section) -> Option<Cow<'a, [u8]>> {
    if section.part.is_empty() {
        let (header, text) = split_message(raw);
        return Some(match &section.text {
            None => Cow::Borrowed(raw),
            Some(SectionText::Header) => Cow::Borrowed(header),
            Some(SectionText::Text) => Cow::Borrowed(text),
            Some(SectionText::HeaderFields(names)) => {
                Cow::Owned(header_fields(header, names, false))
            }
            Some(SectionText::HeaderFieldsNot(names)) => {
                Cow::Owned(header_fields(header, names, true))
            }
            // The parser refuses MIME without a part number.
            Some(SectionText::Mime) => Cow::Borrowed(header),
        });
    }
    let src = structure_source(raw);
    let msg = MessageParser::default().parse(&src[..])?;
    let located = locate(&msg, raw, &section.part)?;
    let owned = |c: Cow<'_, [u8]>| Cow::Owned(c.into_owned());
    Some(match &section.text {
        None => owned(located.body),
        Some(SectionText::Mime) => owned(located.header),
        Some(text) => {
            if !located.is_message {
                return None;
            }
            let (header, body) = split_message(&located.body);
            match text {
                SectionText::Header => Cow::Owned(header.to_vec()),
                SectionText::Text => Cow::Owned(body.to_vec()),
                SectionText::HeaderFields(names) => Cow::Owned(header_fields(header, names, false)),
                SectionText::HeaderFieldsNot(names) => {
                    Cow::Owned(header_fields(header, names, true))
                }
                SectionText::Mime => Cow::Owned(Vec::new()),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n  there\r\n\r\nHello\r\nWorld\r\n";

    const MULTI: &[u8] = b"From: a@example.com\r\n\
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
--XX--\r\n";

    fn sec(part: &[u32], text: Option<SectionText>) -> Section {
        Section {
            part: part.to_vec(),
            text,
        }
    }

    fn get(raw: &[u8], s: Section) -> String {
        String::from_utf8_lossy(&section_bytes(raw, &s).unwrap_or_default()).into_owned()
    }

    #[test]
    fn top_level_sections() {
        assert_eq!(get(SIMPLE, sec(&[], None)).as_bytes(), SIMPLE);
        assert_eq!(
            get(SIMPLE, sec(&[], Some(SectionText::Header))),
            "From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n  there\r\n\r\n"
        );
        assert_eq!(
            get(SIMPLE, sec(&[], Some(SectionText::Text))),
            "Hello\r\nWorld\r\n"
        );
        assert_eq!(
            get(
                SIMPLE,
                sec(
                    &[],
                    Some(SectionText::HeaderFields(vec![
                        "subject".into(),
                        "FROM".into()
                    ]))
                )
            ),
            "From: a@example.com\r\nSubject: hi\r\n  there\r\n\r\n"
        );
        assert_eq!(
            get(
                SIMPLE,
                sec(
                    &[],
                    Some(SectionText::HeaderFieldsNot(vec!["subject".into()]))
                )
            ),
            "From: a@example.com\r\nTo: b@example.com\r\n\r\n"
        );
        assert_eq!(get(SIMPLE, sec(&[1], None)), "Hello\r\nWorld\r\n");
        assert!(section_bytes(SIMPLE, &sec(&[2], None)).is_none());
    }

    #[test]
    fn nested_parts() {
        assert_eq!(get(MULTI, sec(&[1], None)), "part one");
        assert_eq!(
            get(MULTI, sec(&[1], Some(SectionText::Mime))),
            "Content-Type: text/plain\r\n\r\n"
        );
        assert_eq!(
            get(MULTI, sec(&[2], Some(SectionText::Header))),
            "From: c@example.com\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=\"YY\"\r\n\r\n"
        );
        assert_eq!(get(MULTI, sec(&[2, 1], None)), "inner text");
        assert_eq!(get(MULTI, sec(&[2, 2], None)), "<p>inner</p>");
        assert!(get(MULTI, sec(&[2], None)).starts_with("From: c@example.com\r\n"));
        assert!(get(MULTI, sec(&[2], Some(SectionText::Text))).starts_with("--YY\r\n"));
        assert!(section_bytes(MULTI, &sec(&[3], None)).is_none());
        assert_eq!(get(MULTI, sec(&[1, 1], None)), "part one");
        assert!(section_bytes(MULTI, &sec(&[1, 2], None)).is_none());
    }

    /// A forwarded message whose body is not multipart, and a text part asked for as
    /// `n.1`: Dovecot 2.3's answers, checked against a running Dovecot.
    #[test]
    fn single_part_nesting_as_dovecot() {
        const FWD: &[u8] = b"From: a@example.com\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
--XX\r\n\
Content-Type: text/plain\r\n\
\r\n\
outer text\r\n\
--XX\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: c@example.com\r\n\
Subject: inner\r\n\
\r\n\
inner body\r\n\
--XX--\r\n";
        assert_eq!(get(FWD, sec(&[1], None)), "outer text");
        assert_eq!(get(FWD, sec(&[1, 1], None)), "outer text");
        assert_eq!(get(FWD, sec(&[2, 1], None)), "inner body");
        assert_eq!(
            get(FWD, sec(&[2], Some(SectionText::Header))),
            "From: c@example.com\r\nSubject: inner\r\n\r\n"
        );
        assert_eq!(get(FWD, sec(&[2], Some(SectionText::Text))), "inner body");
        assert_eq!(get(FWD, sec(&[1, 2], None)), "");
        assert_eq!(get(FWD, sec(&[2, 2], None)), "");
        assert_eq!(get(SIMPLE, sec(&[1], None)), "Hello\r\nWorld\r\n");
        assert!(section_bytes(SIMPLE, &sec(&[1, 1], None)).is_none());
        assert!(section_bytes(FWD, &sec(&[1, 1, 1], None)).is_none());
        assert!(section_bytes(FWD, &sec(&[2, 1, 1], None)).is_none());
    }

    #[test]
    fn partial_and_split_edges() {
        assert_eq!(
            apply_partial(b"abcdef", Some(Partial { start: 2, count: 3 })),
            b"cde"
        );
        assert_eq!(
            apply_partial(b"abc", Some(Partial { start: 9, count: 3 })),
            b""
        );
        assert_eq!(
            split_message(b"no blank line"),
            (&b"no blank line"[..], &b""[..])
        );
        assert_eq!(split_message(b"\r\nbody"), (&b"\r\n"[..], &b"body"[..]));
        assert_eq!(split_message(b"A: b\n\nx"), (&b"A: b\n\n"[..], &b"x"[..]));
    }
}
