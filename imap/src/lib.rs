//! mailyard's IMAP daemon.
pub mod proto;
