//! ManageSieve (RFC 5804): how users upload and choose their Sieve scripts from a
//! client (Thunderbird's Sieve add-on, Roundcube, `sieve-connect`).
//!
//! - [`proto`], pure: [`proto::command`] parses a client's command from a complete
//!   frame, [`proto::response`] renders the server's answers. A frame is what the IMAP
//!   receiver (`mailyard_imap::proto::receiver`) hands out: the line without its CRLF,
//!   each literal's `{n+}` marker followed by CRLF and its data — ManageSieve frames
//!   commands exactly as IMAP does (RFC 5804 §4 `literal-c2s`), minus the tags, so one
//!   framer serves both.
//! - `session`: one task per connection (STARTTLS, AUTHENTICATE with IMAP's rules and
//!   the shared throttle, the script commands over the store's `sieve_scripts`, each
//!   script validated by `mailyard_sieve` before it is stored).
#![forbid(unsafe_code)]

pub mod proto;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use mailyard_common::Config;
use mailyard_common::listener::Slot;
use mailyard_common::live::Live;
use mailyard_common::metrics::Metrics;
use mailyard_common::shutdown::Shutdown;
use mailyard_common::throttle::AuthThrottle;
use mailyard_store::Store;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};

pub use session::{IDLE, MAX_BAD, MAX_SCRIPT_BYTES, MAX_SCRIPTS};

/// What every ManageSieve session shares.
pub struct Context {
    config: Arc<Live<Config>>,
    store: Store,
    tls: Arc<ServerConfig>,
    auth_throttle: AuthThrottle,
}

impl Context {
    /// The shared context; `auth_throttle` is the one IMAP and SMTP use, so a guesser
    /// is slowed and banned on every protocol. `config` is the live configuration
    /// (SIGHUP replaces it).
    pub fn new(
        config: Arc<Live<Config>>,
        store: Store,
        tls: Arc<ServerConfig>,
        auth_throttle: AuthThrottle,
    ) -> Self {
        Context {
            config,
            store,
            tls,
            auth_throttle,
        }
    }

    fn config(&self) -> Arc<Config> {
        self.config.get()
    }
}

/// Accepts ManageSieve connections on `listener` until shutdown (`[listen]
/// managesieve`; TLS by STARTTLS, RFC 5804 §2.2).
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<Context>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    let max = ctx.config().limits.max_connections;
    let sd = shutdown.clone();
    mailyard_common::listener::accept_loop(
        "managesieve",
        listener,
        shutdown,
        max,
        &metrics,
        move |stream: TcpStream, peer: SocketAddr, slot: Option<Slot>| {
            session::run(ctx.clone(), stream, peer, slot, sd.clone())
        },
    )
    .await;
}
