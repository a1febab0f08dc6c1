//! A message's header block (RFC 5322 §2.2), read two ways, both here:
//!
//! - **Fields** ([`fields`], [`fields_in`]): each field's name, raw value (folds and
//!   final line break included) and where that value sits, plus the unfolding Dovecot
//!   applies before it quotes a value. Field boundaries are the ones `mail-parser`
//!   uses, so that the fields read here are the fields it built the MIME tree from
//!   ([`crate::shape`]): a field ends at a line break not followed by SP or TAB (RFC
//!   5322 §2.2.3); white space before a field name is skipped, and a line without a
//!   colon is no field; an empty line (or one of white space only) ends the block.
//!   Names compare case-insensitively with white space inside them ignored (`From :`
//!   is `From`, RFC 5322 §4.5.3).
//! - **Lines** ([`split`], [`field_lines`], [`select`]): the block as written, cut
//!   into physical lines, each line that does not start with SP or TAB opening a new
//!   field with its continuation lines; the first empty line ends the block. This is
//!   the byte-exact reading IMAP's `BODY[HEADER]`, `BODY[TEXT]` and
//!   `HEADER.FIELDS` answers are made of (RFC 9051 §6.4.5, as Dovecot selects), that
//!   SEARCH HEADER matches and that SMTP edits and checks (RFC 5322 §3.6).
//!
//! Two readings because two consumers need different things from malformed input:
//! the MIME facts must agree with mail-parser's tree, the wire answers with the
//! bytes as stored. Both take CRLF and bare LF line ends.
use std::ops::Range;

/// One header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name as written, from its first to its last non-white octet.
    pub name: &'a [u8],
    /// The raw value: everything after the colon up to and including the line break
    /// that ends the field.
    pub value: &'a [u8],
    /// Where `value` starts in the buffer scanned.
    pub value_at: usize,
}

impl Field<'_> {
    /// Whether the field is called `name` (ASCII case-insensitive, white space in
    /// the written name ignored).
    pub fn is(&self, name: &str) -> bool {
        let mut written = self
            .name
            .iter()
            .filter(|c| !c.is_ascii_whitespace() && **c != b':');
        let mut wanted = name.bytes();
        loop {
            match (written.next(), wanted.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a.eq_ignore_ascii_case(&b) => {}
                _ => return false,
            }
        }
    }

    /// The value's byte range in the buffer scanned.
    pub fn value_range(&self) -> Range<usize> {
        self.value_at..self.value_at + self.value.len()
    }

    /// [`unfold`] of the value.
    pub fn unfolded(&self) -> Vec<u8> {
        unfold(self.value)
    }
}

/// The fields of the header block `buf[start..end]` (a part's header, as the shape
/// records it), in order.
pub fn fields_in(buf: &[u8], range: Range<usize>) -> Fields<'_> {
    let end = range.end.min(buf.len());
    Fields {
        buf: buf.get(..end).unwrap_or_default(),
        pos: range.start.min(end),
    }
}

/// The fields of a message's (or part's) header, read from its first byte up to the
/// empty line.
pub fn fields(message: &[u8]) -> Fields<'_> {
    fields_in(message, 0..message.len())
}

/// Iterator over header fields; see [`fields_in`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let buf = self.buf;
        loop {
            // White space before a name; a line break here ends the block.
            loop {
                match buf.get(self.pos) {
                    None => return None,
                    Some(b'\n') => {
                        self.pos = buf.len();
                        return None;
                    }
                    Some(c) if !c.is_ascii_whitespace() => break,
                    Some(_) => self.pos += 1,
                }
            }
            // The name: non-white octets up to a colon (colons before the first
            // one are skipped); a line break first means no field.
            let mut name: Option<Range<usize>> = None;
            let mut colon = false;
            while let Some(&c) = buf.get(self.pos) {
                self.pos += 1;
                match c {
                    b':' if name.is_some() => {
                        colon = true;
                        break;
                    }
                    b'\n' => break,
                    c if !c.is_ascii_whitespace() && c != b':' => match &mut name {
                        Some(r) => r.end = self.pos,
                        None => name = Some(self.pos - 1..self.pos),
                    },
                    _ => {}
                }
            }
            let Some(name) = name else {
                continue;
            };
            if !colon && buf.get(self.pos - 1) == Some(&b'\n') {
                continue;
            }
            let value_at = self.pos;
            while let Some(&c) = buf.get(self.pos) {
                self.pos += 1;
                if c == b'\n' {
                    if matches!(buf.get(self.pos), Some(b' ' | b'\t')) {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
            }
            return Some(Field {
                name: buf.get(name).unwrap_or_default(),
                value: buf.get(value_at..self.pos).unwrap_or_default(),
                value_at,
            });
        }
    }
}

/// The value as Dovecot quotes it (`imap_append_nstring_nolf`): CR and LF
/// removed — a space put in where a line break is not followed by white space —
/// and leading white space trimmed. Trailing white space is kept; RFC 2047
/// encoded-words stay encoded; bytes stay bytes.
pub fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for (i, &b) in value.iter().enumerate() {
        if b == b'\r' || b == b'\n' {
            if !out.is_empty()
                && !matches!(value.get(i + 1), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
            {
                out.push(b' ');
            }
        } else if !out.is_empty() || (b != b' ' && b != b'\t') {
            out.push(b);
        }
    }
    out
}

/// The last field called `name` (a later occurrence wins, as in Dovecot's envelope).
pub fn last<'a>(mut fields: Fields<'a>, name: &str) -> Option<Field<'a>> {
    fields.by_ref().filter(|f| f.is(name)).last()
}

/// Where the header block of `raw` ends: just past its empty line (CRLF or LF), or
/// None when it has none. A message starting with an empty line has an empty header.
pub fn block_end(raw: &[u8]) -> Option<usize> {
    if raw.starts_with(b"\r\n") {
        return Some(2);
    }
    if raw.starts_with(b"\n") {
        return Some(1);
    }
    let mut from = 0;
    while let Some(lf) = raw
        .get(from..)
        .and_then(|r| memchr::memchr(b'\n', r))
        .map(|p| from + p)
    {
        let next = lf + 1;
        match raw.get(next..) {
            Some(rest) if rest.starts_with(b"\r\n") => return Some(next + 2),
            Some(rest) if rest.starts_with(b"\n") => return Some(next + 1),
            _ => from = next,
        }
    }
    None
}

/// The header block of `raw` (with its terminating empty line) and the text after
/// it; without an empty line, all of `raw` is header.
pub fn split(raw: &[u8]) -> (&[u8], &[u8]) {
    raw.split_at(block_end(raw).unwrap_or(raw.len()))
}

/// The fields of a header block as written: each item is one line that does not
/// start with SP or TAB together with the continuation lines after it, line ends
/// included, up to the empty line (which no item contains). Concatenated, the items
/// are the block up to its empty line, byte for byte — a line without a colon, or a
/// continuation line before any field, is an item too ([`line_name`] tells).
pub fn field_lines(header: &[u8]) -> FieldLines<'_> {
    FieldLines { rest: header }
}

/// Iterator of [`field_lines`].
#[derive(Debug, Clone)]
pub struct FieldLines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for FieldLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest;
        if rest.is_empty() || rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
            self.rest = &[];
            return None;
        }
        let mut end = 0;
        loop {
            end = rest
                .get(end..)
                .and_then(|r| memchr::memchr(b'\n', r))
                .map_or(rest.len(), |p| end + p + 1);
            if !matches!(rest.get(end), Some(b' ' | b'\t')) {
                break;
            }
        }
        let (item, tail) = rest.split_at(end);
        self.rest = tail;
        Some(item)
    }
}

/// The name of a [`field_lines`] item: what precedes its first colon, without the
/// white space before the colon (RFC 5322 §4.5.3); None for a continuation line or a
/// line without a colon.
pub fn line_name(item: &[u8]) -> Option<&[u8]> {
    if matches!(item.first(), Some(b' ' | b'\t')) {
        return None;
    }
    let colon = memchr::memchr2(b':', b'\n', item)?;
    (item[colon] == b':').then(|| item[..colon].trim_ascii_end())
}

/// The fields of `header` whose names are (`not` false) or are not (`not` true) in
/// `names`, case-insensitively, each with its continuation lines, followed by the
/// empty line: RFC 9051 §6.4.5 `HEADER.FIELDS` / `HEADER.FIELDS.NOT`, byte for byte
/// as Dovecot answers (a line without a colon is never selected; a last line without
/// its line end gets CRLF).
pub fn select(header: &[u8], names: &[impl AsRef<str>], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for item in field_lines(header) {
        let keep = line_name(item).is_some_and(|n| {
            let listed = names
                .iter()
                .any(|want| n.eq_ignore_ascii_case(want.as_ref().as_bytes()));
            listed != not
        });
        if keep {
            out.extend_from_slice(item);
            if !item.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (header block, [(name, raw value)]) — each row also with LF-only endings.
    #[test]
    fn scanner_rows() {
        let rows: &[(&str, &[(&str, &str)])] = &[
            (
                "From: a@b\r\nSubject: hi\r\n  there\r\n\r\nbody: no\r\n",
                &[("From", " a@b\r\n"), ("Subject", " hi\r\n  there\r\n")],
            ),
            ("From : x\r\n", &[("From", " x\r\n")]),
            ("no colon here\r\nA:1\r\n", &[("A", "1\r\n")]),
            ("  Lead: ws\r\n", &[("Lead", " ws\r\n")]),
            ("a:b", &[("a", "b")]),
            (
                "X: 1\r\n \r\nY: 2\r\n",
                &[("X", " 1\r\n \r\n"), ("Y", " 2\r\n")],
            ),
            ("X: 1\r\n\t\r\n\r\nY: 2\r\n", &[("X", " 1\r\n\t\r\n")]),
            ("", &[]),
            ("\r\nA: b\r\n", &[]),
        ];
        for &(block, want) in rows {
            for block in [block.to_owned(), block.replace("\r\n", "\n")] {
                let got: Vec<(String, String)> = fields(block.as_bytes())
                    .map(|f| {
                        assert_eq!(&block.as_bytes()[f.value_range()], f.value);
                        (
                            String::from_utf8_lossy(f.name).into_owned(),
                            String::from_utf8_lossy(f.value).into_owned(),
                        )
                    })
                    .collect();
                let want: Vec<(String, String)> = want
                    .iter()
                    .map(|(n, v)| {
                        let v = if block.contains("\r\n") {
                            (*v).to_owned()
                        } else {
                            v.replace("\r\n", "\n")
                        };
                        ((*n).to_owned(), v)
                    })
                    .collect();
                assert_eq!(got, want, "{block:?}");
            }
        }
    }

    #[test]
    fn names_and_unfolding() {
        let f = fields(b"Content - Type :x\r\n").next().expect("a field");
        assert!(f.is("content-type"));
        assert!(!f.is("content-typ"));
        let rows: &[(&[u8], &[u8])] = &[
            (b" a\r\n b\r\n", b"a b"),
            (b"\t x \r\n", b"x "),
            (b" a\r\nb", b"a b"),
            (b" a\nb", b"a b"),
            (b"\r\nb", b"b"),
            (b" caf\xe9\r\n", b"caf\xe9"),
            (b"", b""),
        ];
        for (value, want) in rows {
            assert_eq!(unfold(value), *want, "{value:?}");
        }
    }

    /// (message, header block, items, selected From+To, selected NOT From).
    #[test]
    fn line_rows() {
        type Row<'a> = (&'a str, &'a str, &'a [&'a str], &'a str, &'a str);
        let rows: &[Row] = &[
            (
                "From: a\r\nTo: b\r\n  c\r\nX: y\r\n\r\nbody\r\n",
                "From: a\r\nTo: b\r\n  c\r\nX: y\r\n\r\n",
                &["From: a\r\n", "To: b\r\n  c\r\n", "X: y\r\n"],
                "From: a\r\nTo: b\r\n  c\r\n\r\n",
                "To: b\r\n  c\r\nX: y\r\n\r\n",
            ),
            ("\r\nbody", "\r\n", &[], "\r\n", "\r\n"),
            (
                "no blank line",
                "no blank line",
                &["no blank line"],
                "\r\n",
                "\r\n",
            ),
            (
                "From: a",
                "From: a",
                &["From: a"],
                "From: a\r\n\r\n",
                "\r\n",
            ),
            (
                " lead\r\nFrom : a\r\ngarbage\r\n cont\r\nto:b\r\n\r\n",
                " lead\r\nFrom : a\r\ngarbage\r\n cont\r\nto:b\r\n\r\n",
                &[
                    " lead\r\n",
                    "From : a\r\n",
                    "garbage\r\n cont\r\n",
                    "to:b\r\n",
                ],
                "From : a\r\nto:b\r\n\r\n",
                "to:b\r\n\r\n",
            ),
            (
                "A: 1\r\n \r\nB: 2\r\n\r\nx",
                "A: 1\r\n \r\nB: 2\r\n\r\n",
                &["A: 1\r\n \r\n", "B: 2\r\n"],
                "\r\n",
                "A: 1\r\n \r\nB: 2\r\n\r\n",
            ),
        ];
        for &(raw, header, items, from_to, not_from) in rows {
            let lf = |s: &str| s.replace("\r\n", "\n");
            let variants = [
                (raw.to_owned(), header.to_owned(), false),
                (lf(raw), lf(header), true),
            ];
            for (raw, header, is_lf) in variants {
                let raw = raw.as_bytes();
                let (h, body) = split(raw);
                assert_eq!(h, header.as_bytes(), "{raw:?}");
                assert_eq!([h, body].concat(), raw);
                let got: Vec<&[u8]> = field_lines(h).collect();
                let want: Vec<String> = items
                    .iter()
                    .map(|i| if is_lf { lf(i) } else { (*i).to_owned() })
                    .collect();
                let want: Vec<&[u8]> = want.iter().map(|w| w.as_bytes()).collect();
                assert_eq!(got, want, "{raw:?}");
                // Selection keeps line ends as written (the store serves the CRLF
                // form); the CRLF rows check its bytes.
                if !is_lf {
                    assert_eq!(select(h, &["FROM", "to"], false), from_to.as_bytes());
                    assert_eq!(select(h, &["from"], true), not_from.as_bytes());
                }
            }
        }
    }

    #[test]
    fn cr_cr_lf_is_no_empty_line() {
        let raw = b"A: b\r\n\r\r\nx";
        assert_eq!(split(raw), (&raw[..], &b""[..]));
        let items: Vec<&[u8]> = field_lines(raw).collect();
        assert_eq!(items, [&b"A: b\r\n"[..], b"\r\r\n", b"x"]);
        assert_eq!(select(raw, &["a"], true), b"\r\n");
    }

    #[test]
    fn line_names() {
        let rows: &[(&[u8], Option<&[u8]>)] = &[
            (b"From: a\r\n", Some(b"From")),
            (b"From \t: a\r\n", Some(b"From")),
            (b" From: a\r\n", None),
            (b"garbage\r\n cont: x\r\n", None),
            (b": empty\r\n", Some(b"")),
            (b"X:", Some(b"X")),
        ];
        for (item, want) in rows {
            assert_eq!(line_name(item), *want, "{item:?}");
        }
    }
}
