//! The arguments of ID (RFC 2971 §3.1, grammar §4).
//!
//! ```text
//! id             = "ID" SP id-params-list
//! id-params-list = "(" *(string SP nstring) ")" / nil
//! ```

use super::command::Command;
use super::parser::{PResult, ParseError, Parser};

/// At most this many field-value pairs in an ID command. RFC 2971 §3.3:
/// "Implementations MUST NOT send more than 30 field-value pairs."
pub const MAX_ID_PAIRS: usize = 30;

impl Parser<'_> {
    /// ID's arguments after `ID`, SP included: `None` for `ID NIL`.
    pub(crate) fn id_args(&mut self) -> PResult<Command> {
        self.sp()?;
        if self.keyword("NIL") {
            return Ok(Command::Id { params: None });
        }
        let at = self.pos();
        let params = self.paren_list(true, |p| {
            let field = p.string()?;
            p.sp()?;
            Ok((field, p.nstring()?))
        })?;
        if params.len() > MAX_ID_PAIRS {
            return Err(ParseError::invalid(at, "too many ID fields"));
        }
        Ok(Command::Id {
            params: Some(params),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::ErrorKind;
    use super::super::testing::{check_errors, check_rows, s};
    use super::*;

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 2971 §3.1, Thunderbird.
            (
                b"a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" \"Pink Floyd Music Limited\")",
                "a023",
                Command::Id {
                    params: Some(vec![
                        (s("name"), Some(s("sodr"))),
                        (s("version"), Some(s("19.34"))),
                        (s("vendor"), Some(s("Pink Floyd Music Limited"))),
                    ]),
                },
            ),
            (
                b"4 ID (\"name\" \"Thunderbird\" \"version\" \"153.7.0\")",
                "4",
                Command::Id {
                    params: Some(vec![(s("name"), Some(s("Thunderbird"))), (s("version"), Some(s("153.7.0")))]),
                },
            ),
            (b"a ID NIL", "a", Command::Id { params: None }),
            (
                b"a ID (\"os\" NIL)",
                "a",
                Command::Id {
                    params: Some(vec![(s("os"), None)]),
                },
            ),
        ]);
    }

    #[test]
    fn errors() {
        let many_ids = format!("A1 ID ({})", vec!["\"a\" \"b\""; 31].join(" "));
        check_errors(vec![
            // RFC 2971 §3.3: at most 30 field-value pairs.
            (
                many_ids.as_bytes(),
                Some("A1"),
                ErrorKind::Invalid("too many ID fields"),
            ),
        ]);
    }
}
