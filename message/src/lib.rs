//! The shape of a stored message, computed once: pure, no I/O, no store, no
//! protocol. What IMAP renders as ENVELOPE, BODY and BODYSTRUCTURE (RFC 9051
//! §7.5.2), and what `BODY[n]`, `BODY[n.MIME]` and `BINARY[n]` slice (RFC 9051
//! §6.4.5, RFC 3516), are facts about the message kept here as values, not strings.
//!
//! | module | what | RFC |
//! |---|---|---|
//! | [`header`] | the one header field scanner, unfolding | RFC 5322 §2.2 |
//! | [`address`] | the one address-list lexer (`nom`), Dovecot's recovery | RFC 5322 §3.4, §4.4 |
//! | [`content`] | `Content-*` fields, parameters with RFC 2231 continuations | RFC 2045 §5.1, RFC 2231 §3, RFC 2183 |
//! | [`date`] | month names, civil date ↔ Unix seconds (mail-parser's calendar) | RFC 5322 §3.3 |
//! | [`envelope`] | envelope facts as raw bytes | RFC 5322 §3.6, RFC 9051 §7.5.2 |
//! | [`shape`] | the part tree with byte ranges, CRLF-form sizes | RFC 2045, RFC 2046 §5 |
//! | [`section`] | part numbering, transfer decoding | RFC 9051 §6.4.5, RFC 2045 §6.7–6.8 |
//! | [`limits`] | caps on parts and nesting | RFC 2046 §5.1 (none), Dovecot's defaults |
//! | [`codec`] | versioned binary form of a shape | — |
//! | [`dump`] | readable text form (golden corpus) | — |
//!
//! Invariants: values are bytes as written (nothing decoded, nothing forced to
//! UTF-8; the renderer decides); spans index the message as stored (or, inside a
//! transfer-encoded `message/rfc822`, its decoded body); no input panics.
#![forbid(unsafe_code)]

pub mod address;
pub mod codec;
pub mod content;
pub mod date;
pub mod dump;
pub mod envelope;
pub mod header;
mod lex;
pub mod limits;
pub mod section;
pub mod shape;

pub use address::{Address, Mailbox};
pub use content::{Content, Disposition, MediaType, Param};
pub use envelope::Envelope;
pub use section::{Encoding, Located, locate};
pub use shape::{Encapsulated, Kind, Part, Shape, Span};

/// Why [`codec::decode`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The input ends inside a value (or a count exceeds what is left).
    Truncated,
    /// An unknown format version.
    Version(u8),
    /// A tag octet with no meaning.
    Tag,
    /// A number too large for its field.
    Overflow,
    /// Nesting deeper than any shape has.
    TooDeep,
    /// Bytes after the shape.
    Trailing,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Truncated => f.write_str("shape: truncated"),
            Error::Version(v) => write!(f, "shape: unknown version {v}"),
            Error::Tag => f.write_str("shape: invalid tag"),
            Error::Overflow => f.write_str("shape: number out of range"),
            Error::TooDeep => f.write_str("shape: nested too deep"),
            Error::Trailing => f.write_str("shape: trailing bytes"),
        }
    }
}

impl std::error::Error for Error {}
