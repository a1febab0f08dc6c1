//! The arguments of STATUS (RFC 9051 §6.3.11) and its data items, which LIST's
//! `RETURN (STATUS (…))` also takes (RFC 5819 §2).
//!
//! ```text
//! status     = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
//! status-att = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN" / "DELETED" /
//!              "SIZE" / "RECENT" / "HIGHESTMODSEQ"
//! ```

use super::command::Command;
use super::parser::{ErrorKind, PResult, ParseError, Parser};

/// STATUS data items. RFC 9051 §6.3.11, RFC 3501 §6.3.10 (RECENT),
/// RFC 8438 (SIZE), RFC 7162 §3.1.6 (HIGHESTMODSEQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `UNSEEN`
    Unseen,
    /// `RECENT`
    Recent,
    /// `DELETED`
    Deleted,
    /// `SIZE`
    Size,
    /// `HIGHESTMODSEQ`
    HighestModSeq,
}

impl StatusItem {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Recent => "RECENT",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
        }
    }
}

impl Parser<'_> {
    /// STATUS's arguments after `STATUS`, SP included.
    pub(crate) fn status_args(&mut self) -> PResult<Command> {
        let mailbox = self.sp_mailbox()?;
        self.sp()?;
        Ok(Command::Status {
            mailbox,
            items: self.status_items()?,
        })
    }

    /// RFC 9051 §9 `status-att` list, non-empty.
    pub(crate) fn status_items(&mut self) -> PResult<Vec<StatusItem>> {
        self.paren_list(false, |p| {
            let at = p.pos();
            Ok(match p.atom_upper()?.as_str() {
                "MESSAGES" => StatusItem::Messages,
                "UIDNEXT" => StatusItem::UidNext,
                "UIDVALIDITY" => StatusItem::UidValidity,
                "UNSEEN" => StatusItem::Unseen,
                "RECENT" => StatusItem::Recent,
                "DELETED" => StatusItem::Deleted,
                "SIZE" => StatusItem::Size,
                "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
                _ => return Err(ParseError::at(ErrorKind::Expected("status item"), at)),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check_errors, check_rows, s};
    use super::*;

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 9051 §6.3.11, Thunderbird.
            (
                b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
                "A042",
                Command::Status {
                    mailbox: s("blurdybloop"),
                    items: vec![StatusItem::UidNext, StatusItem::Messages],
                },
            ),
            (
                b"7 STATUS \"Drafts\" (UIDNEXT MESSAGES UNSEEN RECENT)",
                "7",
                Command::Status {
                    mailbox: s("Drafts"),
                    items: vec![
                        StatusItem::UidNext,
                        StatusItem::Messages,
                        StatusItem::Unseen,
                        StatusItem::Recent,
                    ],
                },
            ),
            (
                b"A1 STATUS x (uidvalidity deleted size highestmodseq)",
                "A1",
                Command::Status {
                    mailbox: s("x"),
                    items: vec![
                        StatusItem::UidValidity,
                        StatusItem::Deleted,
                        StatusItem::Size,
                        StatusItem::HighestModSeq,
                    ],
                },
            ),
        ]);
    }

    #[test]
    fn errors() {
        check_errors(vec![
            // Unbalanced parentheses.
            (
                b"A1 STATUS x (MESSAGES",
                Some("A1"),
                ErrorKind::UnexpectedEnd,
            ),
        ]);
    }
}
