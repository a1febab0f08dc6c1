//! The arguments of the QUOTA commands (RFC 9208 §4.2-4.4): SETQUOTA's resource
//! limits here; GETQUOTA's root and GETQUOTAROOT's mailbox are plain arguments
//! read in [`super::command`].
//!
//! ```text
//! setquota          = "SETQUOTA" SP quota-root-name SP setquota-list
//! setquota-list     = "(" [setquota-resource *(SP setquota-resource)] ")"
//! setquota-resource = resource-name SP resource-limit
//! ```

use super::command::Command;
use super::parser::{PResult, Parser};

impl Parser<'_> {
    /// SETQUOTA's arguments after `SETQUOTA`, SP included: resource names
    /// upper-cased.
    pub(crate) fn setquota_args(&mut self) -> PResult<Command> {
        self.sp()?;
        let root = self.astring()?;
        self.sp()?;
        let limits = self.paren_list(true, |p| {
            let name = p.atom_upper()?;
            p.sp()?;
            Ok((name, p.number64()?))
        })?;
        Ok(Command::SetQuota { root, limits })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check_rows, s};
    use super::*;

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 9208 §4.2-4.4
            (
                b"G0001 GETQUOTA \"!partition/sda4\"",
                "G0001",
                Command::GetQuota {
                    root: s("!partition/sda4"),
                },
            ),
            (
                b"20 getquotaroot \"INBOX\"",
                "20",
                Command::GetQuotaRoot {
                    mailbox: s("INBOX"),
                },
            ),
            (
                b"S0000 SETQUOTA \"#user/alice\" (STORAGE 510 message 1000)",
                "S0000",
                Command::SetQuota {
                    root: s("#user/alice"),
                    limits: vec![(s("STORAGE"), 510), (s("MESSAGE"), 1000)],
                },
            ),
        ]);
    }
}
