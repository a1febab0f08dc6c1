//! The header fields of a message, unfolded, and the RFC 5322 §3.6 rule that some
//! fields occur at most once. Pure: bytes in, fields out. Lines are cut as
//! `mailyard_message::header::field_lines` cuts them (the one line reading of a header).
//!
//! Names are matched case-insensitively and may have white space before the colon
//! (RFC 5322 §4.5: the obsolete field syntax, which a receiver must still read), so
//! `FROM:`, `from:` and `From :` are all the same field.

use mailyard_message::header;

/// RFC 5322 §3.6: the fields whose table row says "max 1" (`orig-date` is `Date`).
pub const SINGLE_FIELDS: &[&str] = &[
    "Date",
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Subject",
];

/// One header field: its name as written (without trailing white space) and its
/// unfolded value (continuation lines appended as they are, CRLFs removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
}

impl Field {
    /// Whether this field is named `name` (case-insensitive, RFC 5322 §1.2.2).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// The header section of a message: up to and including the line end before the
/// first empty line (all of it when there is no body).
pub fn header_section(message: &[u8]) -> &[u8] {
    &message[..raw_fields(message).1]
}

/// The fields of `message`'s header section, in order. A line that is neither a
/// field nor a continuation (no colon, or white space inside the name) is skipped,
/// and so are its continuation lines.
pub fn fields(message: &[u8]) -> Vec<Field> {
    header::field_lines(message)
        .filter_map(|item| {
            let name = header::line_name(item)?;
            let name = std::str::from_utf8(name).ok()?;
            if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace() || c.is_control())
            {
                return None;
            }
            let colon = item.iter().position(|&b| b == b':')?;
            let value = String::from_utf8_lossy(&item[colon + 1..])
                .replace("\r\n", "")
                .replace('\n', "");
            Some(Field {
                name: name.to_string(),
                value,
            })
        })
        .collect()
}

/// The header section's fields as they are written, each with its continuation lines
/// and final line end, and the offset where the rest (the empty line and the body)
/// starts. Byte-exact: the fields and the rest, concatenated, are `message`.
pub fn raw_fields(message: &[u8]) -> (Vec<&[u8]>, usize) {
    let items: Vec<&[u8]> = header::field_lines(message).collect();
    let end = items.iter().map(|i| i.len()).sum();
    (items, end)
}

/// The first of [`SINGLE_FIELDS`] that occurs more than once, in its canonical
/// spelling. RFC 5322 §3.6.
pub fn repeated_single_field(fields: &[Field]) -> Option<&'static str> {
    SINGLE_FIELDS
        .iter()
        .find(|name| fields.iter().filter(|f| f.is(name)).count() > 1)
        .copied()
}

/// The trimmed value of the first field named `name`.
pub fn first_value(fields: &[Field], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|f| f.is(name))
        .map(|f| f.value.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_fields_are_byte_exact() {
        let m = b"A: 1\r\nB: 2\r\n  more\r\nC:3\r\n\r\nbody\r\n";
        let (f, rest) = raw_fields(m);
        assert_eq!(f, [&b"A: 1\r\n"[..], b"B: 2\r\n  more\r\n", b"C:3\r\n"]);
        assert_eq!(&m[rest..], b"\r\nbody\r\n");
        let (f, rest) = raw_fields(b"\r\nbody");
        assert!(f.is_empty());
        assert_eq!(rest, 0);
        let (f, rest) = raw_fields(b"X: y");
        assert_eq!(f, [&b"X: y"[..]]);
        assert_eq!(rest, 4);
    }

    fn names(message: &[u8]) -> Vec<(String, String)> {
        fields(message)
            .into_iter()
            .map(|f| (f.name, f.value))
            .collect()
    }

    #[test]
    fn fields_table() {
        /// Input, then the expected (name, value) pairs.
        type Row<'a> = (&'a [u8], &'a [(&'a str, &'a str)]);
        let rows: &[Row] = &[
            (b"From: a@x\r\n\r\nFrom: body@x\r\n", &[("From", " a@x")]),
            (b"From : a@x\r\n", &[("From", " a@x")]),
            (
                b"FROM\t:a@x\r\nfrom: b@x\r\n",
                &[("FROM", "a@x"), ("from", " b@x")],
            ),
            (
                b"Subject: hi\r\n  there\r\nDate: now\r\n\r\n",
                &[("Subject", " hi  there"), ("Date", " now")],
            ),
            (b"\r\nFrom: x@y\r\n", &[]),
            (b"garbage\r\n cont\r\nTo: t\r\n", &[("To", " t")]),
            (b"Not a: field\r\n: empty\r\nX: 1\r\n", &[("X", " 1")]),
            (b"X-A: 1", &[("X-A", " 1")]),
        ];
        for (input, want) in rows {
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(names(input), want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn repeated_single_fields_table() {
        let rows: &[(&[u8], Option<&str>)] = &[
            (b"From: a\r\nTo: b\r\nCc: c\r\nSubject: s\r\n", None),
            (b"From: a\r\nFrom: b\r\n", Some("From")),
            (b"from: a\r\nFROM : b\r\n", Some("From")),
            (b"From: a\r\nSubject: 1\r\nsubject: 2\r\n", Some("Subject")),
            (
                b"Received: 1\r\nReceived: 2\r\nComments: a\r\nComments: b\r\n",
                None,
            ),
            (b"Message-Id: 1\r\nMESSAGE-ID: 2\r\n", Some("Message-ID")),
            (b"Subject: 1\r\n\r\nSubject: 2\r\n", None),
        ];
        for (input, want) in rows {
            assert_eq!(
                repeated_single_field(&fields(input)),
                *want,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn first_value_trims() {
        let f = fields(b"Date:  now \r\nDate: later\r\n");
        assert_eq!(first_value(&f, "date").as_deref(), Some("now"));
        assert_eq!(first_value(&f, "Message-ID"), None);
    }
}
