//! The arguments of SORT and UID SORT (RFC 5256 §3), with ESORT's `RETURN (…)`
//! (RFC 5267 §3) and the DISPLAYFROM / DISPLAYTO keys (RFC 5957).
//!
//! ```text
//! sort           = ["UID" SP] "SORT" [SP "RETURN" SP search-return-opts]
//!                  SP sort-criteria SP charset 1*(SP search-key)
//! sort-criteria  = "(" sort-criterion *(SP sort-criterion) ")"
//! sort-criterion = ["REVERSE" SP] sort-key
//! sort-key       = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" / "SUBJECT" / "TO" /
//!                  "DISPLAYFROM" / "DISPLAYTO"
//! ```

use super::command::Command;
use super::parser::{ErrorKind, PResult, ParseError, Parser};

/// RFC 5256 §3 `sort-key`, RFC 5957 (DISPLAYFROM, DISPLAYTO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `ARRIVAL`
    Arrival,
    /// `CC`
    Cc,
    /// `DATE`
    Date,
    /// `FROM`
    From,
    /// `SIZE`
    Size,
    /// `SUBJECT`
    Subject,
    /// `TO`
    To,
    /// `DISPLAYFROM`
    DisplayFrom,
    /// `DISPLAYTO`
    DisplayTo,
}

/// RFC 5256 §3 `sort-criterion` = ["REVERSE" SP] sort-key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    /// `REVERSE`
    pub reverse: bool,
    /// The key.
    pub key: SortKey,
}

impl Parser<'_> {
    /// SORT's arguments after `SORT`, SP included.
    pub(crate) fn sort_args(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        let ret = self.optional_return()?;
        let criteria = self.paren_list(false, |p| {
            let reverse = p.keyword("REVERSE");
            if reverse {
                p.sp()?;
            }
            let at = p.pos();
            let key = match p.atom_upper()?.as_str() {
                "ARRIVAL" => SortKey::Arrival,
                "CC" => SortKey::Cc,
                "DATE" => SortKey::Date,
                "FROM" => SortKey::From,
                "SIZE" => SortKey::Size,
                "SUBJECT" => SortKey::Subject,
                "TO" => SortKey::To,
                "DISPLAYFROM" => SortKey::DisplayFrom,
                "DISPLAYTO" => SortKey::DisplayTo,
                _ => return Err(ParseError::at(ErrorKind::Expected("sort key"), at)),
            };
            Ok(SortCriterion { reverse, key })
        })?;
        self.sp()?;
        let (charset, search) = self.search_criteria()?;
        Ok(Command::Sort {
            uid,
            ret,
            criteria,
            charset,
            search,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::search::SearchKey as K;
    use super::super::search::SearchReturn;
    use super::super::testing::{check_errors, check_rows, date, s};
    use super::*;

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 5256 §3 examples.
            (
                b"A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994",
                "A282",
                Command::Sort {
                    uid: false,
                    ret: None,
                    criteria: vec![SortCriterion {
                        reverse: false,
                        key: SortKey::Subject,
                    }],
                    charset: s("UTF-8"),
                    search: K::Since(date(1994, 2, 1)),
                },
            ),
            (
                b"A283 UID SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
                "A283",
                Command::Sort {
                    uid: true,
                    ret: None,
                    criteria: vec![
                        SortCriterion {
                            reverse: false,
                            key: SortKey::Subject,
                        },
                        SortCriterion {
                            reverse: true,
                            key: SortKey::Date,
                        },
                    ],
                    charset: s("UTF-8"),
                    search: K::All,
                },
            ),
            // RFC 5267 §3 example.
            (
                b"A301 UID SORT RETURN (MIN COUNT) (DATE) utf-8 SUBJECT adult",
                "A301",
                Command::Sort {
                    uid: true,
                    ret: Some(vec![SearchReturn::Min, SearchReturn::Count]),
                    criteria: vec![SortCriterion {
                        reverse: false,
                        key: SortKey::Date,
                    }],
                    charset: s("utf-8"),
                    search: K::Subject(b"adult".to_vec()),
                },
            ),
        ]);
    }

    #[test]
    fn errors() {
        check_errors(vec![
            // RFC 5256 §3: at least one known sort key, then a charset.
            (
                b"A1 SORT () UTF-8 ALL",
                Some("A1"),
                ErrorKind::Expected("list element"),
            ),
            (
                b"A1 SORT (FOO) UTF-8 ALL",
                Some("A1"),
                ErrorKind::Expected("sort key"),
            ),
            (b"A1 SORT (DATE) ALL", Some("A1"), ErrorKind::UnexpectedEnd),
        ]);
    }
}
