//! The pure IMAP protocol layer: bytes in, typed values out, no I/O.
//!
//! - [`receiver`]: frames client input into whole commands, with literals
//!   (RFC 9051 §4.3, §7.5), LITERAL+ (RFC 7888), literal8 (RFC 3516) and
//!   limits; also plain lines for AUTHENTICATE (RFC 9051 §6.2.2) and IDLE
//!   (RFC 2177).
//! - [`command`]: parses one command into a [`command::Request`]
//!   (RFC 9051 §6, RFC 3501 §6 and the extensions listed there): the tag, the
//!   command name and the dispatch. Each verb family's arguments are parsed in
//!   a file of its own, with its table-driven tests beside it: [`auth`]
//!   (AUTHENTICATE, LOGIN), [`select`] (SELECT, EXAMINE, QRESYNC), [`mailbox`]
//!   (CREATE), [`list`] (LIST, LSUB), [`status`], [`append`] (with MULTIAPPEND
//!   and CATENATE), [`urlauth`] (GENURLAUTH, RESETKEY, URLFETCH), [`notify`],
//!   [`id`], [`quota`], [`fetch`], [`search`], [`store`], [`sort`], [`thread`].
//! - [`sequence`], [`search`], [`fetch`]: sequence sets (RFC 9051 §9,
//!   RFC 5182), search keys (RFC 9051 §6.4.4, RFC 7162 §3.1.5) and fetch
//!   attributes (RFC 9051 §6.4.5, RFC 3516, RFC 7162).
//! - [`parser`]: the byte cursor and the RFC 9051 §9 lexical primitives every
//!   parser above shares, and the one error type.
//! - [`url`]: IMAP URLs naming a message part (RFC 5092, RFC 4467 URLAUTH).
//! - [`body_render`]: ENVELOPE, BODY, BODYSTRUCTURE and one part's structure
//!   (RFC 9051 §7.5.2, RFC 5524 §3) rendered from a message's stored shape.
//! - [`notify`]: NOTIFY's event groups (RFC 5465 §3.1, §8).
//! - [`response`]: byte writers for responses (RFC 9051 §7) and response
//!   codes (RFC 9051 §7.1, RFC 5530, RFC 4315, RFC 7162).
//!
//! Extensions understood by the parser: LITERAL+ (RFC 7888), SASL-IR
//! (RFC 4959), ENABLE (RFC 5161), CONDSTORE/QRESYNC (RFC 7162), LIST-EXTENDED
//! (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE (RFC 6154), ESEARCH
//! (RFC 4731), SEARCHRES (RFC 5182), MULTIAPPEND (RFC 3502), BINARY
//! (RFC 3516), ID (RFC 2971), SORT/THREAD (RFC 5256), QUOTA (RFC 9208),
//! COMPRESS (RFC 4978), UIDPLUS (RFC 4315), MOVE (RFC 6851), UNSELECT
//! (RFC 3691), IDLE (RFC 2177), NAMESPACE (RFC 2342), CATENATE (RFC 4469),
//! NOTIFY (RFC 5465).
//!
//! Invariants: no function here panics, loops forever or allocates more than
//! a constant factor of the bytes received, whatever the input; every limit
//! is a named constant citing its RFC.

pub mod append;
pub mod auth;
pub mod body_render;
pub mod command;
pub mod fetch;
pub mod id;
pub mod list;
pub mod mailbox;
pub mod notify;
pub mod parser;
pub mod quota;
pub mod receiver;
pub mod response;
pub mod search;
pub mod select;
pub mod sequence;
pub mod sort;
pub mod status;
pub mod store;
#[cfg(test)]
mod testing;
pub mod thread;
pub mod types;
pub mod url;
pub mod urlauth;

pub use parser::{ErrorKind, ParseError};
