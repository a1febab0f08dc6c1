//! The arguments of APPEND (RFC 9051 §6.3.12), with several messages in one
//! command (MULTIAPPEND, RFC 3502 §6.3.11), literal8 (RFC 3516 §4.4), `UTF8 (…)`
//! (RFC 6855 §4) and CATENATE (RFC 4469 §5).
//!
//! ```text
//! append         = "APPEND" SP mailbox 1*append-message
//! append-message = [SP flag-list] [SP date-time] SP append-data
//! append-data    = literal / literal8 / "UTF8" SP "(" literal8 ")" /
//!                  "CATENATE" SP "(" cat-part *(SP cat-part) ")"
//! cat-part       = "TEXT" SP literal / "URL" SP astring
//! ```

use super::command::Command;
use super::parser::{PResult, ParseError, Parser};
use super::types::{DateTime, Flag};

/// Most parts in one `CATENATE (…)`. RFC 4469 sets no limit; Dovecot's clients send
/// a handful, and each part costs a message lookup.
pub const MAX_CATENATE_PARTS: usize = 256;

/// One APPEND message. RFC 9051 §6.3.12, RFC 3502 §6.3.11.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags to set.
    pub flags: Vec<Flag>,
    /// Internal date to set.
    pub date: Option<DateTime>,
    /// The message, or the parts to catenate into it.
    pub content: AppendContent,
}

/// RFC 9051 §9 / RFC 4466 §2.3 `append-data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendContent {
    /// A literal; `binary` when sent as literal8 (RFC 3516 §4.4) or `UTF8 (…)`
    /// (RFC 6855 §4).
    Literal {
        /// The message.
        data: Vec<u8>,
        /// literal8.
        binary: bool,
    },
    /// `CATENATE (…)`: the parts, in order, at least one (RFC 4469 §5).
    Catenate(Vec<CatPart>),
}

/// RFC 4469 §5 `cat-part = text-literal / url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`
    Text(Vec<u8>),
    /// `URL astring`: an IMAP URL (RFC 5092), not yet parsed.
    Url(String),
}

impl Parser<'_> {
    /// APPEND's arguments after `APPEND`, SP included.
    pub(crate) fn append_args(&mut self) -> PResult<Command> {
        let mailbox = self.sp_mailbox()?;
        let mut messages = Vec::new();
        loop {
            self.sp()?;
            let mut flags = Vec::new();
            if self.peek() == Some(b'(') {
                flags = self.flag_list()?;
                self.sp()?;
            }
            let mut date = None;
            if self.peek() == Some(b'"') {
                date = Some(self.date_time()?);
                self.sp()?;
            }
            let content = if self.keyword("UTF8") {
                // RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")".
                self.sp()?;
                self.expect(b'(', "(")?;
                if self.peek() != Some(b'~') {
                    return self.fail("literal8");
                }
                let (data, _) = self.literal()?;
                self.expect(b')', ")")?;
                AppendContent::Literal {
                    data: data.to_vec(),
                    binary: true,
                }
            } else if self.keyword("CATENATE") {
                self.sp()?;
                AppendContent::Catenate(self.cat_parts()?)
            } else {
                match self.peek() {
                    Some(b'{' | b'~') => {
                        let (data, binary) = self.literal()?;
                        AppendContent::Literal {
                            data: data.to_vec(),
                            binary,
                        }
                    }
                    _ => return self.fail("literal"),
                }
            };
            messages.push(AppendMessage {
                flags,
                date,
                content,
            });
            if self.at_end() {
                break;
            }
        }
        Ok(Command::Append { mailbox, messages })
    }

    /// RFC 4469 §5: `"(" cat-part *(SP cat-part) ")"`, at most
    /// [`MAX_CATENATE_PARTS`].
    fn cat_parts(&mut self) -> PResult<Vec<CatPart>> {
        let at = self.pos();
        let parts = self.paren_list(false, |p| {
            if p.keyword("TEXT") {
                p.sp()?;
                if p.peek() != Some(b'{') {
                    return p.fail("literal");
                }
                let (data, _) = p.literal()?;
                Ok(CatPart::Text(data.to_vec()))
            } else if p.keyword("URL") {
                p.sp()?;
                Ok(CatPart::Url(p.astring()?))
            } else {
                p.fail("TEXT or URL")
            }
        })?;
        if parts.len() > MAX_CATENATE_PARTS {
            return Err(ParseError::invalid(at, "too many CATENATE parts"));
        }
        Ok(parts)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::parser::ErrorKind;
    use super::super::testing::{check_errors, check_rows, s};
    use super::*;

    fn msg(flags: Vec<Flag>, date: Option<DateTime>, data: &[u8], binary: bool) -> AppendMessage {
        AppendMessage {
            flags,
            date,
            content: AppendContent::Literal {
                data: data.to_vec(),
                binary,
            },
        }
    }

    fn dt(s: &str) -> DateTime {
        Parser::new(s.as_bytes()).date_time().unwrap()
    }

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 9051 §6.3.12
            (
                b"A003 APPEND saved-messages (\\Seen) {21}\r\nFrom: a@b\r\n\r\nHi there",
                "A003",
                Command::Append {
                    mailbox: s("saved-messages"),
                    messages: vec![msg(vec![Flag::Seen], None, b"From: a@b\r\n\r\nHi there", false)],
                },
            ),
            (
                b"A004 APPEND x \"17-Jul-1996 02:44:25 -0700\" {2}\r\nhi",
                "A004",
                Command::Append {
                    mailbox: s("x"),
                    messages: vec![msg(vec![], Some(dt("\"17-Jul-1996 02:44:25 -0700\"")), b"hi", false)],
                },
            ),
            // Thunderbird's FCC with LITERAL+.
            (
                b"9 append \"Sent\" (\\Seen) {5+}\r\nhello",
                "9",
                Command::Append {
                    mailbox: s("Sent"),
                    messages: vec![msg(vec![Flag::Seen], None, b"hello", false)],
                },
            ),
            // RFC 3502 §6.3.11 MULTIAPPEND, RFC 3516 literal8, RFC 6855 UTF8.
            (
                b"A003 APPEND saved-messages (\\Seen) {3}\r\none (\\Flagged) \" 1-Aug-2002 22:00:00 -0700\" ~{3}\r\nt\0o UTF8 (~{5+}\r\ntr\xc3\xa9s)",
                "A003",
                Command::Append {
                    mailbox: s("saved-messages"),
                    messages: vec![
                        msg(vec![Flag::Seen], None, b"one", false),
                        msg(vec![Flag::Flagged], Some(dt("\" 1-Aug-2002 22:00:00 -0700\"")), b"t\0o", true),
                        msg(vec![], None, "trés".as_bytes(), true),
                    ],
                },
            ),
            // literal in one MULTIAPPEND (imaptest catenate-multiappend).
            (
                b"A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" TEXT {4}\r\n\r\n-- URL \"/Drafts;UIDVALIDITY=385759045/;UID=30\")",
                "A003",
                Command::Append {
                    mailbox: s("Drafts"),
                    messages: vec![AppendMessage {
                        flags: vec![Flag::Seen, Flag::Draft, Flag::Keyword(s("$MDNSent"))],
                        date: None,
                        content: AppendContent::Catenate(vec![
                            CatPart::Url(s("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER")),
                            CatPart::Text(b"\r\n--".to_vec()),
                            CatPart::Url(s("/Drafts;UIDVALIDITY=385759045/;UID=30")),
                        ]),
                    }],
                },
            ),
            (
                b"a append box catenate (url \"/box/;uid=1\") (\\Answered) {2}\r\nhi",
                "a",
                Command::Append {
                    mailbox: s("box"),
                    messages: vec![
                        AppendMessage {
                            flags: vec![],
                            date: None,
                            content: AppendContent::Catenate(vec![CatPart::Url(s("/box/;uid=1"))]),
                        },
                        msg(vec![Flag::Answered], None, b"hi", false),
                    ],
                },
            ),
        ]);
    }

    #[test]
    fn errors() {
        check_errors(vec![
            // RFC 4469 §5: CATENATE needs at least one TEXT or URL part.
            (
                b"A1 APPEND x CATENATE ()",
                Some("A1"),
                ErrorKind::Expected("list element"),
            ),
            (
                b"A1 APPEND x CATENATE (FOO \"a\")",
                Some("A1"),
                ErrorKind::Expected("TEXT or URL"),
            ),
            (
                b"A1 APPEND x CATENATE (TEXT \"a\")",
                Some("A1"),
                ErrorKind::Expected("literal"),
            ),
            (
                b"A1 APPEND x CATENATE (URL \"/x/;uid=1\"",
                Some("A1"),
                ErrorKind::UnexpectedEnd,
            ),
            // A message, a real date, literal8 in UTF8 (…).
            (b"A1 APPEND x", Some("A1"), ErrorKind::UnexpectedEnd),
            (
                b"A1 APPEND x (\\Seen) hello",
                Some("A1"),
                ErrorKind::Expected("literal"),
            ),
            (
                b"A1 APPEND x \"31-Feb-2020 00:00:00 +0000\" {1}\r\na",
                Some("A1"),
                ErrorKind::Date,
            ),
            (
                b"A1 APPEND x UTF8 ({1}\r\na)",
                Some("A1"),
                ErrorKind::Expected("literal8"),
            ),
        ]);
    }
}
