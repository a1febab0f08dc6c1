//! mailyard's IMAP daemon: IMAP4rev1 (RFC 3501) over STARTTLS (port 143 role,
//! RFC 9051 §6.2.1) or implicit TLS (port 993 role, RFC 8314).
//!
//! Advertised (and implemented) extensions, see `Session::capabilities`: SASL-IR
//! (RFC 4959) with AUTH=PLAIN and AUTH=LOGIN, LITERAL+ (RFC 7888), ID (RFC 2971),
//! ENABLE (RFC 5161), IDLE (RFC 2177), NAMESPACE (RFC 2342), UNSELECT (RFC 3691),
//! UIDPLUS (RFC 4315), MOVE (RFC 6851), CHILDREN (RFC 3348), LIST-EXTENDED
//! (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE and CREATE-SPECIAL-USE (RFC 6154),
//! ESEARCH (RFC 4731), STATUS=SIZE (RFC 8438), QUOTA with QUOTA=RES-STORAGE
//! (RFC 9208), APPENDLIMIT (RFC 7889), UTF8=ACCEPT (RFC 6855).
//!
//! Also IMAP4rev2 (RFC 9051, its behaviour after `ENABLE IMAP4rev2`), CONDSTORE and
//! QRESYNC (RFC 7162), BINARY (RFC 3516), SEARCHRES (RFC 5182) and MULTIAPPEND
//! (RFC 3502, stored atomically); see `session/ext.rs`. CATENATE (RFC 4469) with IMAP
//! URLs (RFC 5092, `proto/url.rs`) resolved by [`urlfetch`]; URLAUTH (RFC 4467) and
//! URLAUTH=BINARY (RFC 5524) in `cmd/urlauth.rs`.
//!
//! And SORT with SORT=DISPLAY (RFC 5957), ESORT (RFC 5267 §3), THREAD=ORDEREDSUBJECT
//! and THREAD=REFERENCES (RFC 5256; `cmd/sort.rs`, `cmd/thread.rs`,
//! `cmd/threading.rs`), CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4; `cmd/context.rs`),
//! COMPRESS=DEFLATE (RFC 4978; `session/compress.rs`) and NOTIFY (RFC 5465; `proto/notify.rs`, `cmd/notify.rs`, `session/notify.rs`, over the
//! store's per-user bus, `Store::subscribe_user`).
//!
//! Parsed but not offered (answered BAD/NO, never advertised): SETQUOTA.
//!
//! Layers:
//! - [`proto`]: the pure protocol (receiver, command parser, response writers).
//! - `session`: one task per connection; the state enum, which commands each state
//!   allows (a table), the read/flush loop, the selected-mailbox view (seq ↔ UID, with
//!   updates from other sessions through `Store::subscribe`), NOTIFY's state.
//! - [`urlfetch`]: IMAP URLs resolved to message data in our own store, for
//!   CATENATE, URLFETCH and (public, in-process) SMTP BURL.
//! - `cmd`: one file per command family (`fetch.rs`, `search.rs`, `store.rs` …), each
//!   handler citing its RFC section and the states that allow it.
//!
//! Invariants:
//! - Replies are buffered and flushed before every read; a large FETCH is flushed in
//!   chunks of about `session::FLUSH_AT` bytes.
//! - No EXPUNGE is sent while responding to FETCH, STORE, SEARCH, COPY or MOVE by
//!   message sequence numbers, nor when no command is in progress (RFC 9051 §7.5.1,
//!   §5.5); such expunges wait in the view, which keeps the expunged message's slot.
//!   (After NOTIFY with `selected`, RFC 5465 §6.1.1 makes them immediate: the client
//!   asked for it and uses UIDs.)
//! - Malformed input gets `BAD`; the session goes on. Nothing the client sends can
//!   make the session panic, allocate without bound (the receiver's limits) or hang
//!   (timeouts on every read).
//! - Plaintext authentication needs TLS, except from loopback when
//!   `auth.plaintext_on_loopback` allows it (RFC 9051 §6.2.3, LOGINDISABLED).
#![forbid(unsafe_code)]

mod cmd;
pub mod proto;
mod session;
pub mod urlfetch;

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

/// What every IMAP session shares.
pub struct Context {
    /// The configuration; SIGHUP replaces it (`with_live_config`).
    config: Arc<Live<Config>>,
    store: Store,
    tls: Arc<ServerConfig>,
    per_ip: PerIpConnections,
    auth_throttle: AuthThrottle,
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
        Context {
            config: Arc::new(Live::new(config)),
            store,
            tls,
            per_ip: PerIpConnections::default(),
            auth_throttle,
            metrics: Arc::default(),
        }
    }

    /// The same context, counting connections, sessions and commands into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
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
}

/// Accepts IMAP connections on `listener` until shutdown; `implicit_tls` for the
/// `imaps` listener (TLS handshake first, RFC 8314 §3.3).
pub async fn serve(
    listener: TcpListener,
    implicit_tls: bool,
    ctx: Arc<Context>,
    shutdown: Shutdown,
) {
    let max = ctx.config().limits.max_connections;
    let sd = shutdown.clone();
    let name = if implicit_tls { "imaps" } else { "imap" };
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
