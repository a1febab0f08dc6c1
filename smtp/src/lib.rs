//! mailyard's SMTP daemon: inbound MX (port 25 role), authenticated submission (587
//! STARTTLS, 465 implicit TLS), durable local delivery, no open relay.
//!
//! RFCs: 5321 (SMTP), 1870 (SIZE), 2034 and 3463 (enhanced status codes), 2920
//! (PIPELINING), 3030 (CHUNKING, BINARYMIME), 3207 (STARTTLS), 3461 (DSN), 3848
//! (`with` protocol types), 4954 (AUTH), 6152 (8BITMIME), 6409 (submission), 6531
//! (SMTPUTF8), 8314 (implicit TLS), 4468 (BURL, on authenticated submission: the URL
//! resolved in our own store by `mailyard_imap::urlfetch`); on the MX listener 7208
//! (SPF), 6376 (DKIM), 7489 (DMARC) and 8601 (Authentication-Results), in
//! `auth_checks`.
//!
//! Invariants:
//! - `250` after DATA/BDAT LAST is sent only after the store says the message is
//!   durable in every local recipient's maildir and index.
//! - Only CR LF "." CR LF ends DATA; a message with a bare CR or LF is refused
//!   (`proto::data`), so no smuggled second message can exist.
//! - Without authentication only local recipients are accepted: no open relay.
//! - Remote recipients (an authenticated user's, or a local alias's outside targets)
//!   go to the relay queue in the same durable request as the local copies; `queue`
//!   delivers them (RFC 5321 §4.5.4, RFC 3461/3464, RFC 6376).
//! - A delivered MX message carries exactly one `Authentication-Results:` field with
//!   our hostname as authserv-id: ours (`auth_checks`).
#![forbid(unsafe_code)]

mod auth_checks;
mod dns;
pub mod dns_records;
mod filter;
pub mod proto;
pub mod queue;
pub mod sendmail;
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

/// Which job a listener does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Port 25: mail from the internet for local recipients; no AUTH.
    Mx,
    /// Port 587: RFC 6409 submission, STARTTLS then AUTH.
    Submission,
    /// Port 465: RFC 8314 submission over implicit TLS.
    Submissions,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Mx => "smtp",
            Role::Submission => "submission",
            Role::Submissions => "submissions",
        }
    }
}

/// What every SMTP session shares.
pub struct Context {
    /// The configuration; SIGHUP replaces it (`with_live_config`).
    config: Arc<Live<Config>>,
    store: Store,
    tls: Arc<ServerConfig>,
    per_ip: PerIpConnections,
    auth_throttle: AuthThrottle,
    /// SPF/DKIM/DMARC for the MX listener, with its resolver (`[dns]`).
    auth_checks: auth_checks::AuthChecker,
    /// Wakes the relay scheduler after something was queued.
    relay: queue::RelayHandle,
    /// The server's counters (`/metrics`).
    metrics: Arc<Metrics>,
}

impl Context {
    /// Builds the shared context. `auth_throttle` is shared with the other daemons,
    /// so an address guessing passwords is slowed and banned on every protocol.
    pub fn new(
        config: Arc<Config>,
        store: Store,
        tls: Arc<ServerConfig>,
        auth_throttle: AuthThrottle,
    ) -> Self {
        session::remove_spool_leftovers(store.data_dir());
        Context {
            auth_checks: auth_checks::AuthChecker::new(&config),
            config: Arc::new(Live::new(config)),
            store,
            tls,
            per_ip: PerIpConnections::default(),
            auth_throttle,
            relay: queue::RelayHandle::default(),
            metrics: Arc::default(),
        }
    }

    /// The same context reading its configuration from `live`, which the server
    /// replaces on SIGHUP (sessions read it at each use).
    pub fn with_live_config(mut self, live: Arc<Live<Config>>) -> Self {
        self.config = live;
        self
    }

    /// The configuration now.
    fn config(&self) -> Arc<Config> {
        self.config.get()
    }

    /// The same context, waking `relay`'s scheduler whenever a message is queued.
    pub fn with_relay(mut self, relay: queue::RelayHandle) -> Self {
        self.relay = relay;
        self
    }

    /// The same context, counting connections, sessions and deliveries into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }
}

/// Accepts SMTP connections on `listener` in `role` until shutdown.
pub async fn serve(listener: TcpListener, role: Role, ctx: Arc<Context>, shutdown: Shutdown) {
    let max = ctx.config().limits.max_connections;
    let sd = shutdown.clone();
    let metrics = ctx.metrics.clone();
    mailyard_common::listener::accept_loop(
        role.name(),
        listener,
        shutdown,
        max,
        &metrics,
        move |stream: TcpStream, peer: SocketAddr, slot: Option<Slot>| {
            session::run(ctx.clone(), role, stream, peer, slot, sd.clone())
        },
    )
    .await;
}
