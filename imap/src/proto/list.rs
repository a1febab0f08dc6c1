//! The arguments of LIST (RFC 9051 §6.3.9) with LIST-EXTENDED's selection and
//! return options (RFC 5258 §3), LIST-STATUS (RFC 5819 §2) and SPECIAL-USE
//! (RFC 6154 §5), and of LSUB (RFC 3501 §6.3.9).
//!
//! ```text
//! list             = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
//!                    [SP list-return-opts]
//! list-select-opts = "(" [list-select-option *(SP list-select-option)] ")"
//! mbox-or-pat      = list-mailbox / patterns
//! patterns         = "(" list-mailbox *(SP list-mailbox) ")"
//! list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
//! lsub             = "LSUB" SP mailbox SP list-mailbox
//! ```

use super::command::Command;
use super::parser::{PResult, ParseError, Parser};
use super::status::StatusItem;

/// LIST arguments. RFC 9051 §6.3.9, RFC 5258 §3, RFC 5819 §2, RFC 6154 §5.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListArgs {
    /// Reference name.
    pub reference: String,
    /// Patterns, at least one (several with LIST-EXTENDED `("a" "b")`).
    pub patterns: Vec<String>,
    /// Selection options.
    pub select: ListSelect,
    /// Return options.
    pub returns: ListReturn,
    /// Selection or return options were given (LIST-EXTENDED syntax).
    pub extended: bool,
}

/// RFC 5258 §3.1 selection options (and RFC 6154 §5 SPECIAL-USE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListSelect {
    /// `SUBSCRIBED`
    pub subscribed: bool,
    /// `REMOTE`
    pub remote: bool,
    /// `RECURSIVEMATCH`
    pub recursive_match: bool,
    /// `SPECIAL-USE`
    pub special_use: bool,
}

/// RFC 5258 §3.2 return options, RFC 6154 §5, RFC 5819 §2 (STATUS).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListReturn {
    /// `SUBSCRIBED`
    pub subscribed: bool,
    /// `CHILDREN`
    pub children: bool,
    /// `SPECIAL-USE`
    pub special_use: bool,
    /// `STATUS (…)`
    pub status: Option<Vec<StatusItem>>,
}

impl Parser<'_> {
    /// LIST's arguments after `LIST`, SP included. RFC 5258 §6.
    pub(crate) fn list_args(&mut self) -> PResult<ListArgs> {
        let mut args = ListArgs::default();
        self.sp()?;
        if self.peek() == Some(b'(') {
            args.extended = true;
            let at = self.pos();
            self.paren_list(true, |p| {
                let at = p.pos();
                match p.atom_upper()?.as_str() {
                    "SUBSCRIBED" => args.select.subscribed = true,
                    "REMOTE" => args.select.remote = true,
                    "RECURSIVEMATCH" => args.select.recursive_match = true,
                    "SPECIAL-USE" => args.select.special_use = true,
                    // RFC 5258 §3: unknown selection options are an error.
                    _ => return Err(ParseError::invalid(at, "unknown LIST selection option")),
                }
                Ok(())
            })?;
            // RFC 5258 §3.1: RECURSIVEMATCH alone (or with REMOTE only) is BAD.
            let s = args.select;
            if s.recursive_match && !s.subscribed && !s.special_use {
                return Err(ParseError::invalid(
                    at,
                    "RECURSIVEMATCH needs another selection option",
                ));
            }
            self.sp()?;
        }
        args.reference = self.mailbox()?;
        self.sp()?;
        if self.peek() == Some(b'(') {
            args.extended = true;
            args.patterns = self.paren_list(false, |p| p.list_mailbox())?;
        } else {
            args.patterns = vec![self.list_mailbox()?];
        }
        if self.eat(b' ') {
            args.extended = true;
            if !self.keyword("RETURN") {
                return self.fail("RETURN");
            }
            self.sp()?;
            self.paren_list(true, |p| {
                let at = p.pos();
                match p.atom_upper()?.as_str() {
                    "SUBSCRIBED" => args.returns.subscribed = true,
                    "CHILDREN" => args.returns.children = true,
                    "SPECIAL-USE" => args.returns.special_use = true,
                    "STATUS" => {
                        p.sp()?;
                        args.returns.status = Some(p.status_items()?);
                    }
                    _ => return Err(ParseError::invalid(at, "unknown LIST return option")),
                }
                Ok(())
            })?;
        }
        Ok(args)
    }

    /// LSUB's arguments after `LSUB`, SP included.
    pub(crate) fn lsub_args(&mut self) -> PResult<Command> {
        let reference = self.sp_mailbox()?;
        self.sp()?;
        Ok(Command::Lsub {
            reference,
            pattern: self.list_mailbox()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::ErrorKind;
    use super::super::testing::{check_errors, check_rows, s};
    use super::*;

    fn list(reference: &str, patterns: &[&str]) -> ListArgs {
        ListArgs {
            reference: s(reference),
            patterns: patterns.iter().map(|p| s(p)).collect(),
            ..ListArgs::default()
        }
    }

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 9051 §6.3.9
            (
                b"A101 LIST \"\" \"\"",
                "A101",
                Command::List(list("", &[""])),
            ),
            (
                b"A202 LIST ~/Mail/ %",
                "A202",
                Command::List(list("~/Mail/", &["%"])),
            ),
            (b"A1 list \"\" *]", "A1", Command::List(list("", &["*]"]))),
            // Thunderbird.
            (
                b"6 list \"\" \"INBOX\"",
                "6",
                Command::List(list("", &["INBOX"])),
            ),
            (
                b"5 list (subscribed) \"\" \"*\" return (special-use)",
                "5",
                Command::List(ListArgs {
                    select: ListSelect {
                        subscribed: true,
                        ..ListSelect::default()
                    },
                    returns: ListReturn {
                        special_use: true,
                        ..ListReturn::default()
                    },
                    extended: true,
                    ..list("", &["*"])
                }),
            ),
            // RFC 5258 §5
            (
                b"A03 LIST () \"\" \"%\" RETURN (CHILDREN)",
                "A03",
                Command::List(ListArgs {
                    returns: ListReturn {
                        children: true,
                        ..ListReturn::default()
                    },
                    extended: true,
                    ..list("", &["%"])
                }),
            ),
            (
                b"A05 LIST (REMOTE SUBSCRIBED) \"/\" \"*\"",
                "A05",
                Command::List(ListArgs {
                    select: ListSelect {
                        subscribed: true,
                        remote: true,
                        ..ListSelect::default()
                    },
                    extended: true,
                    ..list("/", &["*"])
                }),
            ),
            (
                b"C04 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)",
                "C04",
                Command::List(ListArgs {
                    select: ListSelect {
                        subscribed: true,
                        recursive_match: true,
                        ..ListSelect::default()
                    },
                    returns: ListReturn {
                        children: true,
                        ..ListReturn::default()
                    },
                    extended: true,
                    ..list("", &["%"])
                }),
            ),
            (
                b"BBB LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")",
                "BBB",
                Command::List(ListArgs {
                    extended: true,
                    ..list("", &["INBOX", "Drafts", "Sent/%"])
                }),
            ),
            // RFC 5819 §3, RFC 6154 §5.1
            (
                b"A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))",
                "A01",
                Command::List(ListArgs {
                    returns: ListReturn {
                        status: Some(vec![StatusItem::Messages, StatusItem::Unseen]),
                        ..ListReturn::default()
                    },
                    extended: true,
                    ..list("", &["%"])
                }),
            ),
            (
                b"t1 LIST (SPECIAL-USE) \"\" \"*\" RETURN (SUBSCRIBED)",
                "t1",
                Command::List(ListArgs {
                    select: ListSelect {
                        special_use: true,
                        ..ListSelect::default()
                    },
                    returns: ListReturn {
                        subscribed: true,
                        ..ListReturn::default()
                    },
                    extended: true,
                    ..list("", &["*"])
                }),
            ),
            (
                b"A002 LSUB \"#news.\" \"comp.mail.*\"",
                "A002",
                Command::Lsub {
                    reference: s("#news."),
                    pattern: s("comp.mail.*"),
                },
            ),
        ]);
    }

    #[test]
    fn errors() {
        check_errors(vec![
            // Unbalanced parentheses.
            (
                b"A1 LIST (SUBSCRIBED \"\" *",
                Some("A1"),
                ErrorKind::Expected("atom"),
            ),
            // RFC 5258 §3, §3.1: options.
            (
                b"A1 LIST (RECURSIVEMATCH) \"\" \"*\"",
                Some("A1"),
                ErrorKind::Invalid("RECURSIVEMATCH needs another selection option"),
            ),
            (
                b"A1 LIST (FOO) \"\" \"*\"",
                Some("A1"),
                ErrorKind::Invalid("unknown LIST selection option"),
            ),
            (
                b"A1 LIST \"\" \"*\" (CHILDREN)",
                Some("A1"),
                ErrorKind::Expected("RETURN"),
            ),
        ]);
    }
}
