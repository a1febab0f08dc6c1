//! Shared pieces of the mailyard daemons: configuration, TLS, SASL decoding, logging,
//! graceful shutdown, the listener loop, the client connection with its read loop
//! (plain, TLS, compressed) and the metrics registry.
#![forbid(unsafe_code)]

pub mod config;
pub mod conn;
pub mod deflate;
pub mod init;
pub mod listener;
pub mod live;
pub mod log;
pub mod metrics;
pub mod sasl;
pub mod shutdown;
pub mod stream;
pub mod throttle;
pub mod time;
pub mod tls;

pub use config::Config;
