//! POP3: the user's INBOX for clients that download mail and delete it from the
//! server (fetchmail, older phones, Outlook set to POP).
//!
//! Implemented: RFC 1939 (USER/PASS, STAT, LIST, RETR, DELE, NOOP, RSET, QUIT with
//! the UPDATE state, TOP, UIDL), RFC 2449 (CAPA; response codes `IN-USE`, and
//! RFC 3206's `SYS/TEMP`, `SYS/PERM`, `AUTH`; PIPELINING; IMPLEMENTATION), RFC 2595
//! (STLS), RFC 5034 (AUTH PLAIN and LOGIN, with an initial response), RFC 8314
//! (`pop3s`, TLS from the first byte).
//!
//! Not implemented, and never advertised: APOP (RFC 1939 §7) needs the plaintext
//! password on the server to digest, and we keep only argon2 hashes; EXPIRE and
//! LOGIN-DELAY (RFC 2449 §6.5, §6.7), which we do not enforce; UTF8 (RFC 6856).
//!
//! - [`proto`], pure: [`proto::receiver`] cuts bounded lines, [`proto::command`]
//!   parses them (and says which states allow each), [`proto::response`] renders
//!   every reply.
//! - [`maildrop`]: the INBOX snapshot taken at login (numbers, sizes, DELE marks,
//!   unique-ids) and the lock against a second POP3 session.
//! - `session`: one task per connection: the login rules of IMAP (TLS first unless
//!   plaintext is allowed on loopback, the shared auth throttle and bans, per-address
//!   connection limits), then the maildrop over the store.
//!
//! Invariants: nothing is removed before QUIT, and QUIT removes the DELE'd messages
//! with one store expunge, which IMAP sessions see at once (EXPUNGE); a disconnect
//! without QUIT removes nothing (RFC 1939 §6). Input is read in lines of at most
//! [`proto::receiver::MAX_COMMAND_LINE`] octets; a longer one is discarded as it comes
//! and answered `-ERR`. Every read has a timeout.
#![forbid(unsafe_code)]

pub mod maildrop;
pub mod proto;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use mailyard_common::Config;
use mailyard_common::listener::Slot;
use mailyard_common::live::Live;
use mailyard_common::metrics::Metrics;
use mailyard_common::shutdown::Shutdown;
use mailyard_common::throttle::{AuthThrottle, PerIpConnections};
use mailyard_store::Store;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};

pub use session::{IDLE, LOGIN_IDLE, MAX_BAD};

/// What every POP3 session shares.
pub struct Context {
    config: Arc<Live<Config>>,
    store: Store,
    tls: Arc<ServerConfig>,
    auth_throttle: AuthThrottle,
    per_ip: PerIpConnections,
    locks: maildrop::Locks,
    metrics: Arc<Metrics>,
}

impl Context {
    /// The shared context; `auth_throttle` is the one IMAP and SMTP use, so a guesser
    /// is slowed and banned on every protocol. `config` is the live configuration
    /// (SIGHUP replaces it); `metrics` counts the sessions.
    pub fn new(
        config: Arc<Live<Config>>,
        store: Store,
        tls: Arc<ServerConfig>,
        auth_throttle: AuthThrottle,
        metrics: Arc<Metrics>,
    ) -> Self {
        Context {
            config,
            store,
            tls,
            auth_throttle,
            per_ip: PerIpConnections::default(),
            locks: maildrop::Locks::default(),
            metrics,
        }
    }

    fn config(&self) -> Arc<Config> {
        self.config.get()
    }
}

/// Accepts POP3 connections on `listener` until shutdown: `[listen] pop3` (STLS,
/// RFC 2595) or, with `implicit_tls`, `[listen] pop3s` (RFC 8314 §3.3).
pub async fn serve(
    listener: TcpListener,
    implicit_tls: bool,
    ctx: Arc<Context>,
    shutdown: Shutdown,
) {
    let max = ctx.config().limits.max_connections;
    let sd = shutdown.clone();
    let name = if implicit_tls { "pop3s" } else { "pop3" };
    let metrics = ctx.metrics.clone();
    mailyard_common::listener::accept_loop(
        name,
        listener,
        shutdown,
        max,
        &metrics,
        move |stream: TcpStream, peer: SocketAddr, slot: Option<Slot>| {
            session::run(ctx.clone(), implicit_tls, stream, peer, slot, sd.clone())
        },
    )
    .await;
}
