//! The one header scanner: the fields of a header block (RFC 5322 §2.2), each with
//! its name, its raw value (folds and final line break included) and where that
//! value sits, plus the unfolding Dovecot applies before it quotes a value.
//!
//! Field boundaries are the ones `mail-parser` uses, so that the fields read here
//! are the fields it built the MIME tree from ([`crate::shape`]): a field ends at a
//! line break not followed by SP or TAB (RFC 5322 §2.2.3); white space before a
//! field name is skipped, and a line without a colon is no field; an empty line (or
//! one of white space only) ends the block. Names compare case-insensitively with
//! white space inside them ignored (`From :` is `From`, RFC 5322 §4.5.3).

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
}
