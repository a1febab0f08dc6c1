//! Shared pieces of the mailyard daemons: configuration, TLS, SASL decoding, logging,
//! graceful shutdown and the listener loop.
#![forbid(unsafe_code)]

pub mod config;
pub mod listener;
pub mod log;
pub mod sasl;
pub mod shutdown;
pub mod stream;
pub mod throttle;
pub mod time;
pub mod tls;

pub use config::Config;
