//! Body sections (RFC 9051 §6.4.5 `section`): `HEADER`, `HEADER.FIELDS (…)`,
//! `HEADER.FIELDS.NOT (…)`, `TEXT`, `MIME` and part numbers, nested through
//! `multipart/*` and `message/rfc822`, with `<partial>` — sliced out of the message
//! file at the offsets of its stored shape (`mailyard_message::Shape`, computed once
//! at delivery), by positioned reads of just those bytes
//! ([`mailyard_store::MessageFile`]). No MIME parse per FETCH.
//!
//! Parts are found by [`mailyard_message::locate`] (Dovecot's numbering, see there);
//! a part inside a transfer-encoded `message/rfc822` indexes that part's decoded body
//! (`Located::decoded_in`), so each such enclosing body on the path is read and
//! decoded first. The header of a message (the stored one or an encapsulated one)
//! ends where its shape says (the boundary BODYSTRUCTURE's sizes come from); only
//! without a usable shape is it split at its first empty line ([`split`]), read from
//! its start until that line shows up.
//!
//! `BODY[]` needs no shape; `BODY[HEADER]`, `BODY[TEXT]` and `HEADER.FIELDS` use it
//! for the header's end, and a header-field fetch the header cache answers needs
//! neither shape nor file.

use std::io;

use mailyard_message::section::Encoding;
use mailyard_message::{Kind, Part, Shape, Span, locate};
use mailyard_store::MessageFile;

use crate::proto::fetch::{Partial, Section, SectionText};

pub(crate) use mailyard_message::header::{select, split};

/// Applies `<start.count>` (RFC 9051 §6.4.5): the bytes from `start`, at most `count`.
pub(crate) fn apply_partial(data: &[u8], partial: Option<Partial>) -> &[u8] {
    let (skip, count) = window(partial);
    let start = usize::try_from(skip).unwrap_or(usize::MAX).min(data.len());
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let end = start.saturating_add(count).min(data.len());
    data.get(start..end).unwrap_or_default()
}

/// `(skip, count)` of a partial; the whole for none.
fn window(partial: Option<Partial>) -> (u64, u64) {
    partial.map_or((0, u64::MAX), |p| (p.start, p.count))
}

/// The shape `stored` holds (`mailyard_message::codec`), or, when it holds none this
/// build reads (a row the schema-8 rebuild could not reach), the shape parsed from
/// the file.
pub(crate) fn shape_of(stored: Option<&[u8]>, file: &MessageFile) -> io::Result<Shape> {
    if let Some(shape) = stored.and_then(|b| mailyard_message::codec::decode(b).ok()) {
        return Ok(shape);
    }
    parsed_shape(file)
}

/// The shape of the message in `file`, parsed from its bytes (no stored shape, or one
/// this build cannot read).
pub(crate) fn parsed_shape(file: &MessageFile) -> io::Result<Shape> {
    Ok(Shape::parse(&file.read_stored(0..file.len())?))
}

/// A part found by its number, and the bytes its spans index.
pub(crate) struct Found<'s> {
    /// The part.
    pub part: &'s Part,
    /// Where its spans point.
    pub source: Source,
}

/// What a part's spans index: the file, or a decoded body.
#[derive(Default)]
pub(crate) struct Source {
    /// The decoded body of the innermost transfer-encoded `message/*` on the path,
    /// which the part's spans index; None: they index the file.
    decoded: Option<Vec<u8>>,
    /// The decoded text is quoted-printable from a bare-LF file: its line ends
    /// become CRLF on the wire as the file's do.
    crlf: bool,
}

impl Source {
    /// The wire bytes of `span`.
    pub(crate) fn read_all(&self, file: &MessageFile, span: Span) -> io::Result<Vec<u8>> {
        self.read(file, span, FULL)
    }

    /// Of the wire bytes of `span`, the `window`.
    fn read(&self, file: &MessageFile, span: Span, window: (u64, u64)) -> io::Result<Vec<u8>> {
        let (skip, count) = window;
        match &self.decoded {
            None => file.read_wire_window(span.start.into()..span.end.into(), skip, count),
            Some(buf) => {
                let bytes = span.slice(buf);
                let bytes = if self.crlf {
                    mailyard_store::maildir::wire_form(bytes)
                } else {
                    bytes.into()
                };
                Ok(apply_partial(&bytes, Some(Partial { start: skip, count })).to_vec())
            }
        }
    }

    /// Where the header of the message held in `span` ends.
    fn header_end(&self, file: &MessageFile, span: Span) -> io::Result<u32> {
        match &self.decoded {
            None => file
                .header_end(span.start.into()..span.end.into())
                .map(|end| u32::try_from(end).unwrap_or(span.end)),
            Some(buf) => Ok(span.start + split(span.slice(buf)).0.len() as u32),
        }
    }
}

/// Part `path` (not empty) of the message in `file` whose shape is `shape`; None
/// when there is no such part. Reads and decodes the body of every
/// transfer-encoded `message/*` the path goes through.
pub(crate) fn find<'s>(
    file: &MessageFile,
    shape: &'s Shape,
    path: &[u32],
) -> io::Result<Option<Found<'s>>> {
    let Some(located) = locate(shape, path) else {
        return Ok(None);
    };
    let mut source = Source::default();
    if located.decoded_in.is_none() {
        return Ok(Some(Found {
            part: located.part,
            source,
        }));
    }
    // Each container indexes the buffer of the one before it (the first, the file):
    // decode them in order, from the stored bytes the shape was computed from.
    for k in 0..path.len().saturating_sub(1) {
        let Some(step) = locate(shape, &path[..=k]) else {
            return Ok(None);
        };
        let container = step.part;
        let Kind::Message(enc) = &container.kind else {
            continue;
        };
        if !enc.decoded {
            continue;
        }
        let span = container.body;
        let encoded = match &source.decoded {
            None => file.read_stored(span.start.into()..span.end.into())?,
            Some(buf) => span.slice(buf).to_vec(),
        };
        let encoding = Encoding::of(&container.content);
        source.crlf = file.is_lf() && encoding == Encoding::QuotedPrintable;
        source.decoded = Some(encoding.decode(&encoded).unwrap_or_default());
    }
    Ok(Some(Found {
        part: located.part,
        source,
    }))
}

/// The bytes of `section` of the message in `file` (its `shape` is needed when the
/// section names a part), with `partial` applied; None when the part does not exist
/// (the caller answers with an empty string, as Dovecot does).
pub(crate) fn section_bytes(
    file: &MessageFile,
    shape: Option<&Shape>,
    section: &Section,
    partial: Option<Partial>,
) -> io::Result<Option<Vec<u8>>> {
    let win = window(partial);
    if section.part.is_empty() {
        let whole = Span {
            start: 0,
            end: u32::try_from(file.len()).unwrap_or(u32::MAX),
        };
        let top = Source::default();
        // A shape stored before `Shape::unparsed` existed may cover nothing.
        let header_end = shape
            .filter(|s| s.root.body.end == whole.end)
            .map(|s| s.root.header.end);
        return message_section(file, &top, whole, header_end, section.text.as_ref(), win)
            .map(Some);
    }
    let Some(shape) = shape else {
        return Ok(None);
    };
    let Some(found) = find(file, shape, &section.part)? else {
        return Ok(None);
    };
    let (part, source) = (found.part, &found.source);
    Ok(match &section.text {
        None => Some(source.read(file, part.body, win)?),
        Some(SectionText::Mime) => Some(source.read(file, part.header, win)?),
        // HEADER, TEXT and HEADER.FIELDS of a part are those of the message it holds.
        Some(text) if matches!(part.kind, Kind::Message(_)) => {
            let header_end = match &part.kind {
                // The encapsulated message's spans index the same bytes as the
                // part's unless the part is transfer-encoded.
                Kind::Message(enc) if !enc.decoded => {
                    enc.message.as_ref().map(|m| m.root.header.end)
                }
                _ => None,
            };
            Some(message_section(
                file,
                source,
                part.body,
                header_end,
                Some(text),
                win,
            )?)
        }
        Some(_) => None,
    })
}

/// The whole of a span.
const FULL: (u64, u64) = (0, u64::MAX);

fn apply_window(data: Vec<u8>, (skip, count): (u64, u64)) -> Vec<u8> {
    if (skip, count) == FULL {
        return data;
    }
    apply_partial(&data, Some(Partial { start: skip, count })).to_vec()
}

/// `data` with `partial` applied, without a copy when there is none.
pub(crate) fn with_partial(data: Vec<u8>, partial: Option<Partial>) -> Vec<u8> {
    apply_window(data, window(partial))
}

/// `text` (None: all of it) of the message held in `span`, whose header ends at
/// `header_end` as its shape says (BODYSTRUCTURE's sizes come from the same
/// boundary); None: find the empty line in the bytes.
fn message_section(
    file: &MessageFile,
    source: &Source,
    span: Span,
    header_end: Option<u32>,
    text: Option<&SectionText>,
    win: (u64, u64),
) -> io::Result<Vec<u8>> {
    let Some(text) = text else {
        return source.read(file, span, win);
    };
    let header_end = match header_end {
        Some(end) if (span.start..=span.end).contains(&end) => end,
        _ => source.header_end(file, span)?,
    };
    let header = Span {
        start: span.start,
        end: header_end,
    };
    let body = Span {
        start: header_end,
        end: span.end,
    };
    Ok(match text {
        SectionText::Text => source.read(file, body, win)?,
        SectionText::Header | SectionText::Mime => source.read(file, header, win)?,
        SectionText::HeaderFields(names) => {
            apply_window(select(&source.read(file, header, FULL)?, names, false), win)
        }
        SectionText::HeaderFieldsNot(names) => {
            apply_window(select(&source.read(file, header, FULL)?, names, true), win)
        }
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `raw` stored in a file, opened as the store opens it, with its shape.
    pub(crate) struct Stored {
        _dir: tempfile::TempDir,
        pub file: MessageFile,
        pub shape: Shape,
    }

    /// `raw` as the store keeps it: the file as given, the shape computed from it,
    /// RFC822.SIZE that of its wire form.
    pub(crate) fn stored(raw: &[u8]) -> Stored {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("msg");
        std::fs::write(&path, raw).expect("write");
        let size = mailyard_store::maildir::wire_form(raw).len() as u64;
        Stored {
            file: MessageFile::open(&path, size).expect("open"),
            shape: Shape::parse(raw),
            _dir: dir,
        }
    }

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
--XX\r\n\
Content-Type: message/rfc822\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
U3ViamVjdDogZW5jb2RlZA0KDQpkZWNvZGVkIGJvZHkNCg==\r\n\
--XX--\r\n";

    fn sec(part: &[u32], text: Option<SectionText>) -> Section {
        Section {
            part: part.to_vec(),
            text,
        }
    }

    fn try_get(raw: &[u8], s: Section) -> Option<String> {
        let m = stored(raw);
        section_bytes(&m.file, Some(&m.shape), &s, None)
            .expect("read")
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn get(raw: &[u8], s: Section) -> String {
        try_get(raw, s).unwrap_or_default()
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
        assert!(try_get(SIMPLE, sec(&[2], None)).is_none());
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
        assert_eq!(get(MULTI, sec(&[3, 1], None)), "decoded body\r\n");
        assert_eq!(
            get(MULTI, sec(&[3, 1], Some(SectionText::Mime))),
            "Subject: encoded\r\n\r\n"
        );
        assert!(try_get(MULTI, sec(&[4], None)).is_none());
        assert_eq!(get(MULTI, sec(&[1, 1], None)), "part one");
        assert!(try_get(MULTI, sec(&[1, 2], None)).is_none());
    }

    /// The same answers for the message stored with bare LF: the wire form.
    #[test]
    fn bare_lf_files_answer_the_crlf_form() {
        let lf: Vec<u8> = String::from_utf8_lossy(MULTI)
            .replace("\r\n", "\n")
            .into_bytes();
        for s in [
            sec(&[], None),
            sec(&[], Some(SectionText::Header)),
            sec(&[], Some(SectionText::Text)),
            sec(&[1], None),
            sec(&[1], Some(SectionText::Mime)),
            sec(&[2], Some(SectionText::Header)),
            sec(&[2], Some(SectionText::Text)),
            sec(&[2, 2], None),
            sec(&[2], None),
            sec(&[3], None),
        ] {
            assert_eq!(get(&lf, s.clone()), get(MULTI, s.clone()), "{s:?}");
            for (start, count) in [(0, 5), (3, 1000), (7, 2)] {
                let p = Some(Partial { start, count });
                let (a, b) = (stored(&lf), stored(MULTI));
                assert_eq!(
                    section_bytes(&a.file, Some(&a.shape), &s, p).expect("read"),
                    section_bytes(&b.file, Some(&b.shape), &s, p).expect("read"),
                    "{s:?} {p:?}"
                );
            }
        }
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
        assert!(try_get(SIMPLE, sec(&[1, 1], None)).is_none());
        assert!(try_get(FWD, sec(&[1, 1, 1], None)).is_none());
        assert!(try_get(FWD, sec(&[2, 1, 1], None)).is_none());
    }

    /// `BODY[HEADER]` and `BODY[TEXT]` end and start where the shape says the header
    /// ends, so `BODY[TEXT]` has BODYSTRUCTURE's octets even where mail-parser and a
    /// plain search for the empty line disagree (`\r\r\n` taken as empty), and a
    /// message mail-parser makes nothing of keeps its body.
    #[test]
    fn header_and_text_split_where_the_shape_says() {
        for raw in [
            &b"A: b\r\n\r\r\nx"[..],
            b"no header here\r\n\r\nbut a body\r\n",
            b"Subject: plain\r\n\r\nbody\r\n",
        ] {
            let m = stored(raw);
            let top = |text| {
                section_bytes(&m.file, Some(&m.shape), &sec(&[], Some(text)), None)
                    .expect("read")
                    .expect("top level")
            };
            let (header, text) = (top(SectionText::Header), top(SectionText::Text));
            assert_eq!(text.len() as u64, m.shape.root.octets, "{raw:?}");
            assert_eq!(header.len(), m.shape.root.header.len() as usize, "{raw:?}");
            assert_eq!([header, text].concat(), raw, "{raw:?}");
        }
    }

    /// The regression test of ranged reads: `BODY[]<0.1024>` of a large message
    /// and `BODY[2]` of a multipart read their range, not the file.
    #[test]
    fn sections_read_only_their_range() {
        let mut big = b"From: a@example.com\r\nSubject: big\r\n\r\n".to_vec();
        while big.len() < 4 << 20 {
            big.extend_from_slice(b"0123456789abcdef0123456789abcdef0123456789abcdef012345678\r\n");
        }
        for raw in [
            big.clone(),
            String::from_utf8_lossy(&big)
                .replace("\r\n", "\n")
                .into_bytes(),
        ] {
            let m = stored(&raw);
            let p = Some(Partial {
                start: 0,
                count: 1024,
            });
            let got = section_bytes(&m.file, None, &sec(&[], None), p).expect("read");
            assert_eq!(got.as_deref(), Some(&big[..1024]));
            assert!(m.file.bytes_read() <= 1024, "read {}", m.file.bytes_read());
        }
        let mut multi = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n".to_vec();
        multi.extend_from_slice(&big);
        multi.extend_from_slice(
            b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--b--\r\n",
        );
        let m = stored(&multi);
        let got = section_bytes(&m.file, Some(&m.shape), &sec(&[2], None), None).expect("read");
        assert_eq!(got.as_deref(), Some(&b"second part"[..]));
        assert_eq!(m.file.bytes_read(), 11);
        let got = section_bytes(
            &m.file,
            Some(&m.shape),
            &sec(&[2], Some(SectionText::Mime)),
            None,
        )
        .expect("read");
        assert_eq!(
            got.as_deref(),
            Some(&b"Content-Type: text/plain\r\n\r\n"[..])
        );
        assert_eq!(m.file.bytes_read(), 11 + 28);
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
        assert_eq!(split(b"no blank line"), (&b"no blank line"[..], &b""[..]));
        assert_eq!(split(b"\r\nbody"), (&b"\r\n"[..], &b"body"[..]));
        assert_eq!(split(b"A: b\n\nx"), (&b"A: b\n\n"[..], &b"x"[..]));
    }
}
