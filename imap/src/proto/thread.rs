//! The arguments of THREAD and UID THREAD (RFC 5256 §3).
//!
//! ```text
//! thread     = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
//! thread-alg = "ORDEREDSUBJECT" / "REFERENCES" / thread-alg-ext
//! search-criteria = charset 1*(SP search-key)
//! ```

use super::command::Command;
use super::parser::{PResult, Parser};

/// RFC 5256 §3 `thread-alg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    /// `ORDEREDSUBJECT`
    OrderedSubject,
    /// `REFERENCES`
    References,
    /// Any other algorithm name (upper-cased); the session answers NO.
    Other(String),
}

impl Parser<'_> {
    /// THREAD's arguments after `THREAD`, SP included.
    pub(crate) fn thread_args(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        let algorithm = match self.atom_upper()?.as_str() {
            "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
            "REFERENCES" => ThreadAlgorithm::References,
            other => ThreadAlgorithm::Other(other.to_owned()),
        };
        self.sp()?;
        let (charset, search) = self.search_criteria()?;
        Ok(Command::Thread {
            uid,
            algorithm,
            charset,
            search,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::search::SearchKey as K;
    use super::super::testing::{b, check_rows, date, s};
    use super::*;

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 5256 §3 examples.
            (
                b"A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000",
                "A283",
                Command::Thread {
                    uid: false,
                    algorithm: ThreadAlgorithm::OrderedSubject,
                    charset: s("UTF-8"),
                    search: K::Since(date(2000, 3, 5)),
                },
            ),
            (
                b"A284 UID THREAD REFERENCES US-ASCII TEXT \"gewp\" UNDELETED",
                "A284",
                Command::Thread {
                    uid: true,
                    algorithm: ThreadAlgorithm::References,
                    charset: s("US-ASCII"),
                    search: K::And(vec![K::Text(b("gewp")), K::Undeleted]),
                },
            ),
        ]);
    }
}
