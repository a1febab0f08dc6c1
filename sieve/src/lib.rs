//! Sieve mail filtering (RFC 5228) for mailyard: a pure parser (nom), a validator and
//! an interpreter. No I/O: the caller hands in the script text, a view of the message
//! and its envelope, and gets back the list of actions to carry out.
//!
//! Implemented: RFC 5228 (base), 5229 (variables), 5230 (vacation), 6131
//! (vacation-seconds), 5231 (relational), 5232 (imap4flags), 5233 (subaddress), 5173
//! (body), 5260 (date, index), 5293 (editheader), 5429 (reject, ereject), 5490
//! (mailbox), 6609 (include; the caller supplies the scripts), 7352 (duplicate), 3894
//! (copy), the comparators `i;octet`, `i;ascii-casemap` (RFC 4790) and
//! `i;ascii-numeric` (RFC 4790 §9.1), and the regex draft (draft-ietf-sieve-regex)
//! with a linear-time engine.
//!
//! Layout: [`parser`] (text → [`ast`]), [`validate`] (signatures as data → [`Script`]),
//! [`interpret`] (script × [`MessageView`] × [`Envelope`] → [`Outcome`]), and the
//! helpers they share: [`matcher`] (comparators, match types, match variables),
//! [`address`] (address lists and parts), [`date`] (date parts and zones). Beside them,
//! [`generate`] writes and reads back the vacation and forwarding scripts of `mailyard
//! vacation|forward` and plans how they chain with the user's own active script.
//!
//! Invariants: parsing, validation and running are bounded (the limits in
//! [`parser`] and [`interpret::Limits`]); nothing panics on any input; a script that
//! fails to run yields an error the caller turns into "keep in INBOX".
#![forbid(unsafe_code)]

pub mod address;
pub mod ast;
pub mod date;
mod encoded;
pub mod generate;
pub mod interpret;
pub mod matcher;
pub mod parser;
pub mod validate;

pub use interpret::{Action, Envelope, Limits, MessageView, Outcome, RuntimeError, Vacation, run};
pub use validate::Script;

/// An error in a script, at a 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct Error {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses and validates a script; on failure every error found, in source order (a
/// syntax error stops parsing, so then there is one).
pub fn compile(src: &str) -> Result<Script, Vec<Error>> {
    let ast = parser::parse(src).map_err(|e| vec![locate(src, e.offset, e.message)])?;
    validate::validate(ast).map_err(|errs| {
        errs.into_iter()
            .map(|e| locate(src, e.offset, e.message))
            .collect()
    })
}

/// As [`compile`], for raw bytes: a script must be UTF-8 (RFC 5228 §2.4.2).
pub fn compile_bytes(src: &[u8]) -> Result<Script, Vec<Error>> {
    match std::str::from_utf8(src) {
        Ok(s) => compile(s),
        Err(e) => {
            let good = e.valid_up_to();
            let s = std::str::from_utf8(&src[..good]).unwrap_or_default();
            Err(vec![locate(s, good, "script is not valid UTF-8".into())])
        }
    }
}

/// The 1-based line and column of byte `offset` in `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |n| n + 1);
    (line, before[start..].chars().count() + 1)
}

fn locate(src: &str, offset: usize, message: String) -> Error {
    let (line, column) = line_col(src, offset);
    Error {
        line,
        column,
        message,
    }
}
