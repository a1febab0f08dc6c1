//! FETCH's arguments and data items: RFC 9051 §6.4.5 (§9 `fetch-att`), the IMAP4rev1
//! RFC822 items (RFC 3501 §6.4.5), BINARY (RFC 3516 §4.2), MODSEQ and the
//! CHANGEDSINCE / VANISHED modifiers (RFC 7162 §3.1.4, §3.2.6).
//!
//! The macros ALL, FAST and FULL are expanded here (RFC 9051 §6.4.5).

use super::command::Command;
use super::parser::{ErrorKind, PResult, ParseError, Parser, is_atom_char};

/// Most items one FETCH may name (after `(`; the macros are fewer). RFC 9051 §6.4.5
/// sets no limit, but every item is computed for every message: 1,000
/// `BODY.PEEK[]<0.1>` over 500 messages once took 21.8 s. Clients send a dozen or
/// two. More: BAD. Issue 9.
pub const MAX_FETCH_ITEMS: usize = 100;

/// One FETCH data item. RFC 9051 §6.4.5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttribute {
    /// `ENVELOPE`
    Envelope,
    /// `FLAGS`
    Flags,
    /// `INTERNALDATE`
    InternalDate,
    /// `RFC822.SIZE`
    Rfc822Size,
    /// `BODY` (BODYSTRUCTURE without extension data)
    Body,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `UID`
    Uid,
    /// `MODSEQ` (RFC 7162 §3.1.4.1)
    ModSeq,
    /// `RFC822` = `BODY[]` (sets \Seen) (RFC 3501 §6.4.5)
    Rfc822,
    /// `RFC822.HEADER` = `BODY.PEEK[HEADER]` (RFC 3501 §6.4.5)
    Rfc822Header,
    /// `RFC822.TEXT` = `BODY[TEXT]` (RFC 3501 §6.4.5)
    Rfc822Text,
    /// `BODY[section]<partial>` / `BODY.PEEK[section]<partial>`
    BodySection {
        /// `.PEEK`: do not set \Seen.
        peek: bool,
        /// Which part.
        section: Section,
        /// Optional byte range.
        partial: Option<Partial>,
    },
    /// `BINARY[part]<partial>` / `BINARY.PEEK[part]<partial>` (RFC 3516 §4.2)
    Binary {
        /// `.PEEK`: do not set \Seen.
        peek: bool,
        /// Part number; empty for the whole message.
        part: Vec<u32>,
        /// Optional byte range.
        partial: Option<Partial>,
    },
    /// `BINARY.SIZE[part]` (RFC 3516 §4.2)
    BinarySize {
        /// Part number; empty for the whole message.
        part: Vec<u32>,
    },
}

/// RFC 9051 §9 `section-spec`: a part number (possibly empty) and what of
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// `1.2.3`; empty for the whole message.
    pub part: Vec<u32>,
    /// HEADER, TEXT, MIME …; `None` for the whole part.
    pub text: Option<SectionText>,
}

/// RFC 9051 §9 `section-text` / `section-msgtext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (names)`, names as sent.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`
    Text,
    /// `MIME` (only after a part number)
    Mime,
}

/// RFC 9051 §9 `partial` = "<" number64 "." nz-number64 ">".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    /// First octet (0-based).
    pub start: u64,
    /// Number of octets (> 0).
    pub count: u64,
}

/// FETCH modifiers. RFC 7162 §3.1.4 (CHANGEDSINCE), §3.2.6 (VANISHED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchModifiers {
    /// `CHANGEDSINCE modseq`
    pub changed_since: Option<u64>,
    /// `VANISHED` (UID FETCH only, with CHANGEDSINCE)
    pub vanished: bool,
}

impl Section {
    /// The wire form between the brackets, as echoed in the FETCH response
    /// (RFC 9051 §7.5.2: `BODY[section]`), e.g. `1.2.HEADER.FIELDS (DATE)`.
    pub fn to_wire(&self) -> String {
        let mut s: String = self
            .part
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(".");
        if let Some(text) = &self.text {
            if !s.is_empty() {
                s.push('.');
            }
            let list = |s: &mut String, names: &[String]| {
                s.push_str(" (");
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        s.push(' ');
                    }
                    if !n.is_empty() && n.bytes().all(is_atom_char) {
                        s.push_str(n);
                    } else {
                        s.push('"');
                        for c in n.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')) {
                            if c == '"' || c == '\\' {
                                s.push('\\');
                            }
                            s.push(c);
                        }
                        s.push('"');
                    }
                }
                s.push(')');
            };
            match text {
                SectionText::Header => s.push_str("HEADER"),
                SectionText::HeaderFields(names) => {
                    s.push_str("HEADER.FIELDS");
                    list(&mut s, names);
                }
                SectionText::HeaderFieldsNot(names) => {
                    s.push_str("HEADER.FIELDS.NOT");
                    list(&mut s, names);
                }
                SectionText::Text => s.push_str("TEXT"),
                SectionText::Mime => s.push_str("MIME"),
            }
        }
        s
    }
}

impl Parser<'_> {
    /// RFC 9051 §9 `section` = "[" [section-spec] "]".
    fn section(&mut self) -> PResult<Section> {
        self.expect(b'[', "[")?;
        let mut section = Section::default();
        if self.eat(b']') {
            return Ok(section);
        }
        let at = self.pos();
        if self.peek().is_some_and(|b| b.is_ascii_digit()) {
            section.part = self.section_part()?;
            if self.eat(b']') {
                return Ok(section);
            }
            self.expect(b'.', ".")?;
        }
        let text = if self.prefix("HEADER.FIELDS.NOT") || self.prefix("HEADER.FIELDS") {
            let not = self
                .slice(at, self.pos())
                .to_ascii_uppercase()
                .ends_with(b".NOT");
            self.sp()?;
            let names = self.paren_list(false, |p| p.astring())?;
            if not {
                SectionText::HeaderFieldsNot(names)
            } else {
                SectionText::HeaderFields(names)
            }
        } else if self.prefix("HEADER") {
            SectionText::Header
        } else if self.prefix("TEXT") {
            SectionText::Text
        } else if self.prefix("MIME") {
            if section.part.is_empty() {
                // RFC 9051 §6.4.5: MIME refers to a body part's header.
                return Err(ParseError::invalid(at, "MIME needs a part number"));
            }
            SectionText::Mime
        } else {
            return self.fail("section text");
        };
        section.text = Some(text);
        self.expect(b']', "]")?;
        Ok(section)
    }

    /// RFC 9051 §9 `section-part` = nz-number *("." nz-number); stops
    /// before a `.` not followed by a digit.
    fn section_part(&mut self) -> PResult<Vec<u32>> {
        let mut part = vec![self.nz_number()?];
        while self.peek() == Some(b'.') && self.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
            self.eat(b'.');
            part.push(self.nz_number()?);
        }
        Ok(part)
    }

    /// RFC 3516 §4.2 `section-binary` = "[" [section-part] "]".
    fn section_binary(&mut self) -> PResult<Vec<u32>> {
        self.expect(b'[', "[")?;
        if self.eat(b']') {
            return Ok(Vec::new());
        }
        let part = self.section_part()?;
        self.expect(b']', "]")?;
        Ok(part)
    }

    /// Optional RFC 9051 §9 `partial`.
    fn partial(&mut self) -> PResult<Option<Partial>> {
        if !self.eat(b'<') {
            return Ok(None);
        }
        let start = self.number64()?;
        self.expect(b'.', ".")?;
        let at = self.pos();
        let count = self.number64()?;
        if count == 0 {
            return Err(ParseError::at(ErrorKind::Number, at));
        }
        self.expect(b'>', ">")?;
        Ok(Some(Partial { start, count }))
    }

    /// One RFC 9051 §9 `fetch-att`.
    pub(crate) fn fetch_att(&mut self) -> PResult<FetchAttribute> {
        use FetchAttribute as F;
        let at = self.pos();
        let name = self.atom_of(
            |b| b.is_ascii_alphanumeric() || b == b'.',
            "fetch attribute",
        )?;
        Ok(match name.to_ascii_uppercase().as_str() {
            "ENVELOPE" => F::Envelope,
            "FLAGS" => F::Flags,
            "INTERNALDATE" => F::InternalDate,
            "RFC822.SIZE" => F::Rfc822Size,
            "BODYSTRUCTURE" => F::BodyStructure,
            "UID" => F::Uid,
            "MODSEQ" => F::ModSeq,
            "RFC822" => F::Rfc822,
            "RFC822.HEADER" => F::Rfc822Header,
            "RFC822.TEXT" => F::Rfc822Text,
            "BODY" if self.peek() != Some(b'[') => F::Body,
            "BODY" | "BODY.PEEK" => F::BodySection {
                peek: name.len() > 4,
                section: self.section()?,
                partial: self.partial()?,
            },
            "BINARY" | "BINARY.PEEK" => F::Binary {
                peek: name.len() > 6,
                part: self.section_binary()?,
                partial: self.partial()?,
            },
            "BINARY.SIZE" => F::BinarySize {
                part: self.section_binary()?,
            },
            _ => {
                return Err(ParseError::at(ErrorKind::Expected("fetch attribute"), at));
            }
        })
    }

    /// The FETCH item argument: `ALL` / `FULL` / `FAST` / fetch-att /
    /// `"(" fetch-att *(SP fetch-att) ")"` (RFC 9051 §6.4.5), macros
    /// expanded.
    pub(crate) fn fetch_atts(&mut self) -> PResult<Vec<FetchAttribute>> {
        use FetchAttribute as F;
        if self.peek() == Some(b'(') {
            let at = self.pos();
            let atts = self.paren_list(false, |p| p.fetch_att())?;
            if atts.len() > MAX_FETCH_ITEMS {
                return Err(ParseError::invalid(
                    at,
                    "too many FETCH items (at most 100)",
                ));
            }
            return Ok(atts);
        }
        if self.keyword("ALL") {
            Ok(vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope])
        } else if self.keyword("FAST") {
            Ok(vec![F::Flags, F::InternalDate, F::Rfc822Size])
        } else if self.keyword("FULL") {
            Ok(vec![
                F::Flags,
                F::InternalDate,
                F::Rfc822Size,
                F::Envelope,
                F::Body,
            ])
        } else {
            Ok(vec![self.fetch_att()?])
        }
    }

    /// FETCH's arguments after `FETCH`, SP included: `SP sequence-set SP
    /// (macro / fetch-att / "(" fetch-att *(SP fetch-att) ")") [SP
    /// fetch-modifiers]` (RFC 9051 §6.4.5, RFC 4466 §2.4).
    pub(crate) fn fetch_args(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        let sequence = self.sequence()?;
        self.sp()?;
        let attributes = self.fetch_atts()?;
        let modifiers = if self.eat(b' ') {
            let at = self.pos();
            let m = self.fetch_modifiers()?;
            // RFC 7162 §3.2.6: VANISHED only in UID FETCH, only with
            // CHANGEDSINCE.
            if m.vanished && (!uid || m.changed_since.is_none()) {
                return Err(ParseError::invalid(
                    at,
                    "VANISHED needs UID FETCH and CHANGEDSINCE",
                ));
            }
            m
        } else {
            FetchModifiers::default()
        };
        Ok(Command::Fetch {
            uid,
            sequence,
            attributes,
            modifiers,
        })
    }

    /// RFC 7162 §3.1.4 / RFC 4466 `fetch-modifiers` after SP:
    /// `"(" modifier *(SP modifier) ")"`.
    pub(crate) fn fetch_modifiers(&mut self) -> PResult<FetchModifiers> {
        let mut m = FetchModifiers::default();
        self.paren_list(false, |p| {
            let at = p.pos();
            if p.keyword("CHANGEDSINCE") {
                p.sp()?;
                // mod-sequence-valzer: 0 allowed (RFC 7162 §7).
                m.changed_since = Some(p.number64()?);
            } else if p.keyword("VANISHED") {
                m.vanished = true;
            } else {
                return Err(ParseError::invalid(at, "unknown FETCH modifier"));
            }
            Ok(())
        })?;
        Ok(m)
    }
}

/// Parses a FETCH item argument on its own (macros expanded).
pub fn parse_fetch_atts(input: &[u8]) -> Result<Vec<FetchAttribute>, ParseError> {
    let mut p = Parser::new(input);
    let atts = p.fetch_atts()?;
    p.end()?;
    Ok(atts)
}

/// Parses a `section-spec` on its own (what is between the brackets of
/// `BODY[…]`), as an IMAP URL's `;SECTION=` carries it (RFC 5092 §6 `enc-section`,
/// decoded). The empty spec is the whole message.
pub fn parse_section_spec(spec: &[u8]) -> Result<Section, ParseError> {
    let mut buf = Vec::with_capacity(spec.len() + 2);
    buf.push(b'[');
    buf.extend_from_slice(spec);
    buf.push(b']');
    let mut p = Parser::new(&buf);
    let section = p.section()?;
    p.end()?;
    Ok(section)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;
    use FetchAttribute as F;

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn body(peek: bool, part: &[u32], text: Option<SectionText>, partial: Option<(u64, u64)>) -> F {
        F::BodySection {
            peek,
            section: Section {
                part: part.to_vec(),
                text,
            },
            partial: partial.map(|(start, count)| Partial { start, count }),
        }
    }

    #[test]
    fn rows() {
        let rows: Vec<(&str, Vec<F>)> = vec![
            // RFC 9051 §6.4.5 examples.
            (
                "(FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
                vec![
                    F::Flags,
                    body(
                        false,
                        &[],
                        Some(SectionText::HeaderFields(fields(&["DATE", "FROM"]))),
                        None,
                    ),
                ],
            ),
            (
                "ALL",
                vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope],
            ),
            ("fast", vec![F::Flags, F::InternalDate, F::Rfc822Size]),
            (
                "FULL",
                vec![
                    F::Flags,
                    F::InternalDate,
                    F::Rfc822Size,
                    F::Envelope,
                    F::Body,
                ],
            ),
            ("BODY[]", vec![body(false, &[], None, None)]),
            (
                "body.peek[]<0.2048>",
                vec![body(true, &[], None, Some((0, 2048)))],
            ),
            ("BODY[1.2.3]", vec![body(false, &[1, 2, 3], None, None)]),
            (
                "BODY[4.2.HEADER]",
                vec![body(false, &[4, 2], Some(SectionText::Header), None)],
            ),
            (
                "BODY[3.MIME]<10.5>",
                vec![body(false, &[3], Some(SectionText::Mime), Some((10, 5)))],
            ),
            (
                "BODY[TEXT]",
                vec![body(false, &[], Some(SectionText::Text), None)],
            ),
            (
                "BODY.PEEK[HEADER.FIELDS.NOT (Received \"X-Odd Name\")]",
                vec![body(
                    true,
                    &[],
                    Some(SectionText::HeaderFieldsNot(fields(&[
                        "Received",
                        "X-Odd Name",
                    ]))),
                    None,
                )],
            ),
            // Thunderbird's header fetch.
            (
                "(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To Received)])",
                vec![
                    F::Uid,
                    F::Rfc822Size,
                    F::Flags,
                    body(
                        true,
                        &[],
                        Some(SectionText::HeaderFields(fields(&[
                            "From",
                            "To",
                            "Cc",
                            "Bcc",
                            "Subject",
                            "Date",
                            "Message-ID",
                            "Priority",
                            "X-Priority",
                            "References",
                            "Newsgroups",
                            "In-Reply-To",
                            "Content-Type",
                            "Reply-To",
                            "Received",
                        ]))),
                        None,
                    ),
                ],
            ),
            (
                "(UID RFC822.SIZE BODY.PEEK[])",
                vec![F::Uid, F::Rfc822Size, body(true, &[], None, None)],
            ),
            (
                "(ENVELOPE BODY BODYSTRUCTURE INTERNALDATE MODSEQ RFC822 RFC822.HEADER RFC822.TEXT)",
                vec![
                    F::Envelope,
                    F::Body,
                    F::BodyStructure,
                    F::InternalDate,
                    F::ModSeq,
                    F::Rfc822,
                    F::Rfc822Header,
                    F::Rfc822Text,
                ],
            ),
            // RFC 3516 §4.2.
            (
                "(BINARY[1] BINARY.PEEK[2.1]<0.100> BINARY.SIZE[] BINARY[])",
                vec![
                    F::Binary {
                        peek: false,
                        part: vec![1],
                        partial: None,
                    },
                    F::Binary {
                        peek: true,
                        part: vec![2, 1],
                        partial: Some(Partial {
                            start: 0,
                            count: 100,
                        }),
                    },
                    F::BinarySize { part: vec![] },
                    F::Binary {
                        peek: false,
                        part: vec![],
                        partial: None,
                    },
                ],
            ),
        ];
        for (input, expected) in rows {
            assert_eq!(parse_fetch_atts(input.as_bytes()), Ok(expected), "{input}");
        }
    }

    #[test]
    fn errors() {
        let too_many = format!("({})", vec!["FLAGS"; MAX_FETCH_ITEMS + 1].join(" "));
        let at_cap = format!("({})", vec!["FLAGS"; MAX_FETCH_ITEMS].join(" "));
        assert_eq!(
            parse_fetch_atts(at_cap.as_bytes()).map(|v| v.len()),
            Ok(MAX_FETCH_ITEMS)
        );
        assert!(
            ErrorKind::Invalid("too many FETCH items (at most 100)")
                .to_string()
                .contains(&MAX_FETCH_ITEMS.to_string())
        );
        let rows: Vec<(&str, ErrorKind)> = vec![
            ("", ErrorKind::UnexpectedEnd),
            ("(FLAGS", ErrorKind::UnexpectedEnd),
            ("(FLAGS))", ErrorKind::Trailing),
            ("()", ErrorKind::Expected("list element")),
            ("FOO", ErrorKind::Expected("fetch attribute")),
            ("BODY[", ErrorKind::UnexpectedEnd),
            ("BODY[HEADER", ErrorKind::UnexpectedEnd),
            ("BODY[MIME]", ErrorKind::Invalid("MIME needs a part number")),
            ("BODY[0]", ErrorKind::Number),
            ("BODY[1.]", ErrorKind::Expected("section text")),
            ("BODY[FOO]", ErrorKind::Expected("section text")),
            (
                "BODY[HEADER.FIELDS ()]",
                ErrorKind::Expected("list element"),
            ),
            ("BODY[HEADER.FIELDS (A]", ErrorKind::UnexpectedEnd),
            ("BODY[HEADER.FIELDS (A) ]", ErrorKind::Expected("]")),
            ("BODY[]<5.0>", ErrorKind::Number),
            ("BODY[]<5>", ErrorKind::Expected(".")),
            ("BINARY[TEXT]", ErrorKind::Expected("number")),
            ("BODY.PEEK", ErrorKind::UnexpectedEnd),
            ("BODY.PEEK FLAGS", ErrorKind::Expected("[")),
            ("FLAGS\0", ErrorKind::Nul),
            (
                &too_many,
                ErrorKind::Invalid("too many FETCH items (at most 100)"),
            ),
        ];
        for (input, kind) in rows {
            assert_eq!(
                parse_fetch_atts(input.as_bytes()).map_err(|e| e.kind),
                Err(kind),
                "{input}"
            );
        }
    }

    #[test]
    fn section_wire() {
        let rows = [
            "",
            "1.2.3",
            "HEADER",
            "4.2.HEADER",
            "3.MIME",
            "TEXT",
            "HEADER.FIELDS (DATE FROM)",
            "1.HEADER.FIELDS.NOT (\"X Y\" Z)",
        ];
        for wire in rows {
            let input = format!("BODY[{wire}]");
            match parse_fetch_atts(input.as_bytes()).unwrap().as_slice() {
                [F::BodySection { section, .. }] => assert_eq!(section.to_wire(), wire),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn modifiers() {
        let mut p = Parser::new(b"(CHANGEDSINCE 12345 VANISHED)");
        assert_eq!(
            p.fetch_modifiers(),
            Ok(FetchModifiers {
                changed_since: Some(12345),
                vanished: true
            })
        );
        assert_eq!(
            Parser::new(b"(FOO)").fetch_modifiers().map_err(|e| e.kind),
            Err(ErrorKind::Invalid("unknown FETCH modifier"))
        );
    }
}

/// FETCH commands whole: framed by the receiver and parsed by
/// [`super::command::parse`].
#[cfg(test)]
mod command_tests {
    use super::super::testing::{check_errors, check_rows, header_fields, seq};
    use super::*;
    use FetchAttribute as F;

    fn fetch(uid: bool, set: &str, attributes: Vec<F>) -> Command {
        Command::Fetch {
            uid,
            sequence: seq(set),
            attributes,
            modifiers: FetchModifiers::default(),
        }
    }

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 9051 §6.4.5 and Thunderbird.
            (
                b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
                "A654",
                fetch(false, "2:4", vec![F::Flags, header_fields(false, &["DATE", "FROM"])]),
            ),
            (b"8 UID fetch 1:* (FLAGS)", "8", fetch(true, "1:*", vec![F::Flags])),
            (
                b"9 UID fetch 1:21 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To Received)])",
                "9",
                fetch(
                    true,
                    "1:21",
                    vec![
                        F::Uid,
                        F::Rfc822Size,
                        F::Flags,
                        header_fields(
                            true,
                            &[
                                "From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "Priority",
                                "X-Priority", "References", "Newsgroups", "In-Reply-To", "Content-Type",
                                "Reply-To", "Received",
                            ],
                        ),
                    ],
                ),
            ),
            (
                b"10 UID fetch 22:* (UID RFC822.SIZE BODY.PEEK[])",
                "10",
                fetch(
                    true,
                    "22:*",
                    vec![
                        F::Uid,
                        F::Rfc822Size,
                        F::BodySection {
                            peek: true,
                            section: Section::default(),
                            partial: None,
                        },
                    ],
                ),
            ),
            (
                b"a FETCH 1 body[1.2]<0.1024>",
                "a",
                fetch(
                    false,
                    "1",
                    vec![F::BodySection {
                        peek: false,
                        section: Section {
                            part: vec![1, 2],
                            text: None,
                        },
                        partial: Some(Partial { start: 0, count: 1024 }),
                    }],
                ),
            ),
            (
                b"a FETCH 1:3 FAST",
                "a",
                fetch(false, "1:3", vec![F::Flags, F::InternalDate, F::Rfc822Size]),
            ),
            (b"A1 UID FETCH $ (FLAGS)", "A1", fetch(true, "$", vec![F::Flags])),
            // RFC 7162 §3.1.4.1, §3.2.6
            (
                b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
                "s100",
                Command::Fetch {
                    uid: true,
                    sequence: seq("1:*"),
                    attributes: vec![F::Flags],
                    modifiers: FetchModifiers {
                        changed_since: Some(12345),
                        vanished: false,
                    },
                },
            ),
            (
                b"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
                "s100",
                Command::Fetch {
                    uid: true,
                    sequence: seq("300:500"),
                    attributes: vec![F::Flags],
                    modifiers: FetchModifiers {
                        changed_since: Some(12345),
                        vanished: true,
                    },
                },
            ),
        ]);
    }

    #[test]
    fn errors() {
        check_errors(vec![
            // Unbalanced parentheses.
            (b"A1 FETCH 1 (FLAGS", Some("A1"), ErrorKind::UnexpectedEnd),
            (b"A1 FETCH 1 FLAGS)", Some("A1"), ErrorKind::Trailing),
            // Modifiers.
            (
                b"A1 FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
                Some("A1"),
                ErrorKind::Invalid("VANISHED needs UID FETCH and CHANGEDSINCE"),
            ),
            (
                b"A1 UID FETCH 1:* (FLAGS) (VANISHED)",
                Some("A1"),
                ErrorKind::Invalid("VANISHED needs UID FETCH and CHANGEDSINCE"),
            ),
            (b"A1 FETCH 4294967296 FLAGS", Some("A1"), ErrorKind::Number),
        ]);
    }
}
