//! The arguments of the mailbox commands: CREATE with its RFC 4466 §2.2
//! `create-params` (the `USE (…)` of SPECIAL-USE, RFC 6154 §3), and DELETE,
//! RENAME, SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.4-8), whose arguments are
//! plain mailbox names read in [`super::command`].
//!
//! ```text
//! create        = "CREATE" SP mailbox [create-params]
//! create-params = SP "(" create-param *(SP create-param) ")"
//! create-param  = "USE" SP "(" [use-attr *(SP use-attr)] ")"
//! ```

use super::command::Command;
use super::parser::{PResult, ParseError, Parser};

impl Parser<'_> {
    /// CREATE's arguments after `CREATE`, SP included.
    pub(crate) fn create_args(&mut self) -> PResult<Command> {
        let mailbox = self.sp_mailbox()?;
        let mut special_use = Vec::new();
        if self.eat(b' ') {
            self.paren_list(false, |p| {
                let at = p.pos();
                if !p.keyword("USE") {
                    return Err(ParseError::invalid(at, "unknown CREATE parameter"));
                }
                p.sp()?;
                special_use = p.paren_list(false, |p| {
                    p.expect(b'\\', "special-use attribute")?;
                    Ok(format!("\\{}", p.atom()?))
                })?;
                Ok(())
            })?;
        }
        Ok(Command::Create {
            mailbox,
            special_use,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check_rows, s};
    use super::*;

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 9051 §6.3.4-8, RFC 6154 §5.2
            (
                b"A003 CREATE owatagusiam/",
                "A003",
                Command::Create {
                    mailbox: s("owatagusiam/"),
                    special_use: vec![],
                },
            ),
            (
                b"t1 CREATE \"Important Messages\" (USE (\\Important \\Sent))",
                "t1",
                Command::Create {
                    mailbox: s("Important Messages"),
                    special_use: vec![s("\\Important"), s("\\Sent")],
                },
            ),
            (
                b"A683 DELETE blurdybloop",
                "A683",
                Command::Delete {
                    mailbox: s("blurdybloop"),
                },
            ),
            (
                b"A683 RENAME blurdybloop sarasoop",
                "A683",
                Command::Rename {
                    from: s("blurdybloop"),
                    to: s("sarasoop"),
                },
            ),
            (
                b"11 rename \"X\" \"Trash/X\"",
                "11",
                Command::Rename {
                    from: s("X"),
                    to: s("Trash/X"),
                },
            ),
            (
                b"A002 SUBSCRIBE #news.comp.mail.mime",
                "A002",
                Command::Subscribe {
                    mailbox: s("#news.comp.mail.mime"),
                },
            ),
            (
                b"A002 UNSUBSCRIBE #news.comp.mail.mime",
                "A002",
                Command::Unsubscribe {
                    mailbox: s("#news.comp.mail.mime"),
                },
            ),
        ]);
    }
}
