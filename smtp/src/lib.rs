//! mailyard's SMTP daemon.
pub mod proto;
