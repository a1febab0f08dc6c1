//! The arguments of SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3) with their
//! RFC 4466 §2.1 `select-params`: CONDSTORE (RFC 7162 §3.1.8) and QRESYNC
//! (RFC 7162 §3.2.5).
//!
//! ```text
//! select         = "SELECT" SP mailbox [select-params]
//! select-params  = SP "(" select-param *(SP select-param) ")"
//! select-param   = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP
//!                  mod-sequence-value [SP known-uids] [SP seq-match-data] ")"
//! seq-match-data = "(" known-sequence-set SP known-uid-set ")"
//! ```

use super::parser::{PResult, ParseError, Parser};
use super::sequence::Sequence;

/// SELECT / EXAMINE arguments. RFC 9051 §6.3.2, RFC 7162 §3.1.8, §3.2.5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectArgs {
    /// Mailbox name.
    pub mailbox: String,
    /// `(CONDSTORE)` (RFC 7162 §3.1.8).
    pub condstore: bool,
    /// `(QRESYNC (…))` (RFC 7162 §3.2.5).
    pub qresync: Option<QResync>,
}

/// RFC 7162 §3.2.5 QRESYNC select parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    /// The client's last known UIDVALIDITY.
    pub uid_validity: u32,
    /// The client's last known mod-sequence.
    pub mod_seq: u64,
    /// UIDs the client knows (no `*`, RFC 7162 §3.2.5 `known-uids`).
    pub known_uids: Option<Sequence>,
    /// Message sequence numbers and the UIDs they map to.
    pub seq_match: Option<(Sequence, Sequence)>,
}

impl Parser<'_> {
    /// SELECT's or EXAMINE's arguments after the command name, SP included.
    pub(crate) fn select_args(&mut self) -> PResult<SelectArgs> {
        let mut args = SelectArgs {
            mailbox: self.sp_mailbox()?,
            condstore: false,
            qresync: None,
        };
        if self.eat(b' ') {
            self.paren_list(false, |p| {
                let at = p.pos();
                if p.keyword("CONDSTORE") {
                    args.condstore = true;
                } else if p.keyword("QRESYNC") {
                    p.sp()?;
                    args.qresync = Some(p.qresync()?);
                } else {
                    return Err(ParseError::invalid(at, "unknown SELECT parameter"));
                }
                Ok(())
            })?;
        }
        Ok(args)
    }

    /// RFC 7162 §3.2.5: `"(" uidvalidity SP mod-sequence-value [SP known-uids]
    /// [SP seq-match-data] ")"`.
    fn qresync(&mut self) -> PResult<QResync> {
        self.expect(b'(', "(")?;
        let uid_validity = self.nz_number()?;
        self.sp()?;
        let mod_seq = self.mod_sequence_value()?;
        let mut known_uids = None;
        let mut seq_match = None;
        if self.eat(b' ') {
            if self.peek() != Some(b'(') {
                let at = self.pos();
                // RFC 7162 §3.2.5: known-uids are UIDs; `$` means nothing here.
                let set = self.sequence_set()?;
                if set.has_star() {
                    return Err(ParseError::invalid(at, "known-uids may not contain *"));
                }
                known_uids = Some(Sequence::Set(set));
                if self.eat(b' ') {
                    seq_match = Some(self.seq_match_data()?);
                }
            } else {
                seq_match = Some(self.seq_match_data()?);
            }
        }
        self.expect(b')', ")")?;
        Ok(QResync {
            uid_validity,
            mod_seq,
            known_uids,
            seq_match,
        })
    }

    /// RFC 7162 §3.2.5 `seq-match-data` = "(" known-sequence-set SP
    /// known-uid-set ")".
    fn seq_match_data(&mut self) -> PResult<(Sequence, Sequence)> {
        self.expect(b'(', "(")?;
        let seqs = Sequence::Set(self.sequence_set()?);
        self.sp()?;
        let uids = Sequence::Set(self.sequence_set()?);
        self.expect(b')', ")")?;
        Ok((seqs, uids))
    }
}

#[cfg(test)]
mod tests {
    use super::super::command::Command;
    use super::super::parser::ErrorKind;
    use super::super::testing::{check_errors, check_rows, s, seq};
    use super::*;

    fn sel(mailbox: &str) -> SelectArgs {
        SelectArgs {
            mailbox: s(mailbox),
            condstore: false,
            qresync: None,
        }
    }

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 9051 §6.3.2, §6.3.3, Thunderbird.
            (b"A142 SELECT INBOX", "A142", Command::Select(sel("INBOX"))),
            (b"5 select \"inbox\"", "5", Command::Select(sel("INBOX"))),
            (b"A932 EXAMINE blurdybloop", "A932", Command::Examine(sel("blurdybloop"))),
            (
                b"A1 SELECT \"&ZeVnLIqe-/Caf\\\"e\"",
                "A1",
                Command::Select(sel("&ZeVnLIqe-/Caf\"e")),
            ),
            // RFC 7162 §3.1.8, §3.2.5.1
            (
                b"a SELECT INBOX (CONDSTORE)",
                "a",
                Command::Select(SelectArgs {
                    condstore: true,
                    ..sel("INBOX")
                }),
            ),
            (
                b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
                "A02",
                Command::Select(SelectArgs {
                    qresync: Some(QResync {
                        uid_validity: 67890007,
                        mod_seq: 20050715194045000,
                        known_uids: Some(seq("41,43:211,214:541")),
                        seq_match: None,
                    }),
                    ..sel("INBOX")
                }),
            ),
            (
                b"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9500 5000,7500,9000,9500)))",
                "B04",
                Command::Select(SelectArgs {
                    qresync: Some(QResync {
                        uid_validity: 67890007,
                        mod_seq: 90060115194045000,
                        known_uids: Some(seq("1:29997")),
                        seq_match: Some((seq("5000,7500,9000,9500"), seq("5000,7500,9000,9500"))),
                    }),
                    ..sel("INBOX")
                }),
            ),
            (
                b"A03 EXAMINE INBOX (QRESYNC (67890007 90060115194045000))",
                "A03",
                Command::Examine(SelectArgs {
                    qresync: Some(QResync {
                        uid_validity: 67890007,
                        mod_seq: 90060115194045000,
                        known_uids: None,
                        seq_match: None,
                    }),
                    ..sel("INBOX")
                }),
            ),
        ]);
    }

    #[test]
    fn errors() {
        check_errors(vec![
            (b"A1 SELECT", Some("A1"), ErrorKind::UnexpectedEnd),
            (
                b"A1 SELECT INBOX (FOO)",
                Some("A1"),
                ErrorKind::Invalid("unknown SELECT parameter"),
            ),
            (
                b"A1 SELECT INBOX (QRESYNC (0 1))",
                Some("A1"),
                ErrorKind::Number,
            ),
            (
                b"A1 SELECT INBOX (QRESYNC (1 1 1:*))",
                Some("A1"),
                ErrorKind::Invalid("known-uids may not contain *"),
            ),
        ]);
    }
}
