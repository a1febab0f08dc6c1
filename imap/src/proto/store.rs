//! The arguments of STORE and UID STORE (RFC 9051 §6.4.6), with the
//! UNCHANGEDSINCE modifier (RFC 7162 §3.1.3).
//!
//! ```text
//! store           = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
//! store-modifiers = SP "(" store-modifier *(SP store-modifier) ")"
//! store-modifier  = "UNCHANGEDSINCE" SP mod-sequence-valzer
//! store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
//! ```

use super::command::Command;
use super::parser::{PResult, ParseError, Parser};

/// STORE action. RFC 9051 §6.4.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

impl Parser<'_> {
    /// STORE's arguments after `STORE`, SP included.
    pub(crate) fn store_args(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        let sequence = self.sequence()?;
        self.sp()?;
        let mut unchanged_since = None;
        if self.peek() == Some(b'(') {
            self.paren_list(false, |p| {
                let at = p.pos();
                if !p.keyword("UNCHANGEDSINCE") {
                    return Err(ParseError::invalid(at, "unknown STORE modifier"));
                }
                p.sp()?;
                unchanged_since = Some(p.number64()?);
                Ok(())
            })?;
            self.sp()?;
        }
        let action = if self.eat(b'+') {
            StoreAction::Add
        } else if self.eat(b'-') {
            StoreAction::Remove
        } else {
            StoreAction::Replace
        };
        let silent = if self.keyword("FLAGS") {
            false
        } else if self.keyword("FLAGS.SILENT") {
            true
        } else {
            return self.fail("FLAGS");
        };
        self.sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut flags = vec![self.flag()?];
            while self.eat(b' ') {
                flags.push(self.flag()?);
            }
            flags
        };
        Ok(Command::Store {
            uid,
            sequence,
            action,
            silent,
            flags,
            unchanged_since,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::ErrorKind;
    use super::super::testing::{check_errors, check_rows, s, seq};
    use super::super::types::Flag;
    use super::*;

    fn store(uid: bool, set: &str, action: StoreAction, silent: bool, flags: Vec<Flag>) -> Command {
        Command::Store {
            uid,
            sequence: seq(set),
            action,
            silent,
            flags,
            unchanged_since: None,
        }
    }

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 9051 §6.4.6 and Thunderbird.
            (
                b"A003 STORE 2:4 +FLAGS (\\Deleted)",
                "A003",
                store(false, "2:4", StoreAction::Add, false, vec![Flag::Deleted]),
            ),
            (
                b"13 uid store 42 +Flags (\\Seen)",
                "13",
                store(true, "42", StoreAction::Add, false, vec![Flag::Seen]),
            ),
            (
                b"14 uid store 42 -Flags (\\Seen)",
                "14",
                store(true, "42", StoreAction::Remove, false, vec![Flag::Seen]),
            ),
            (
                b"15 uid store 7 +FLAGS ($label1)",
                "15",
                store(
                    true,
                    "7",
                    StoreAction::Add,
                    false,
                    vec![Flag::Keyword(s("$label1"))],
                ),
            ),
            (
                b"16 store 1:* +FLAGS.SILENT (\\Deleted)",
                "16",
                store(false, "1:*", StoreAction::Add, true, vec![Flag::Deleted]),
            ),
            (
                b"17 uid store 9 +FLAGS (\\Deleted \\Seen)",
                "17",
                store(
                    true,
                    "9",
                    StoreAction::Add,
                    false,
                    vec![Flag::Deleted, Flag::Seen],
                ),
            ),
            (
                b"A5 STORE 1 FLAGS \\Seen \\Flagged",
                "A5",
                store(
                    false,
                    "1",
                    StoreAction::Replace,
                    false,
                    vec![Flag::Seen, Flag::Flagged],
                ),
            ),
            (
                b"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)",
                "a103",
                Command::Store {
                    uid: true,
                    sequence: seq("6,4,8"),
                    action: StoreAction::Add,
                    silent: true,
                    flags: vec![Flag::Deleted],
                    unchanged_since: Some(12121230045),
                },
            ),
        ]);
    }

    #[test]
    fn errors() {
        check_errors(vec![
            // Unbalanced parentheses.
            (
                b"A1 STORE 1 +FLAGS (\\Seen",
                Some("A1"),
                ErrorKind::UnexpectedEnd,
            ),
            (b"A1 STORE 1 FLAGS \\Seen)", Some("A1"), ErrorKind::Trailing),
            // Modifiers.
            (
                b"A1 STORE 1 (FOO 1) FLAGS x",
                Some("A1"),
                ErrorKind::Invalid("unknown STORE modifier"),
            ),
            (
                b"A1 STORE 1 SETFLAGS x",
                Some("A1"),
                ErrorKind::Expected("FLAGS"),
            ),
        ]);
    }
}
