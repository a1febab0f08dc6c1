//! The POP3 grammar, pure (bytes in, types out; no I/O): [`receiver`] cuts the input
//! into bounded lines, [`command`] parses one line into a [`command::Command`],
//! [`response`] renders every reply the server sends.

pub mod command;
pub mod receiver;
pub mod response;
