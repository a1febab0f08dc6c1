//! The ManageSieve grammar (RFC 5804 §4): commands in, responses out. No I/O.

pub mod command;
pub mod response;
