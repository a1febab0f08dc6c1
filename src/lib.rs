//! Wiring of the `mailyard` binary: open the store, bind every listener, run the
//! daemons, stop gracefully. The logic lives in the library crates; this only connects
//! them, and is a library so end-to-end tests run the real server in-process.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailyard_common::Config;
use mailyard_common::shutdown::Shutdown;
use mailyard_store::Store;
use tokio::net::TcpListener;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Opening or recovering the store failed.
    #[error("store: {0}")]
    Store(#[from] mailyard_store::StoreError),
    /// TLS setup failed.
    #[error("tls: {0}")]
    Tls(#[from] mailyard_common::tls::TlsError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({name}): {source}")]
    Bind {
        /// Which listener.
        name: &'static str,
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running server.
pub struct Server {
    /// Every listener bound, with its real address (port 0 resolved).
    pub bound: Vec<(&'static str, SocketAddr)>,
    /// The store it serves.
    pub store: Store,
    /// The relay scheduler: wakes it, and its event counters (for metrics).
    pub relay: mailyard_smtp::queue::RelayHandle,
    shutdown: Shutdown,
}

impl Server {
    /// The bound address of listener `name`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.bound.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
    }

    /// Stops accepting, lets sessions finish up to `deadline`, then returns. Nothing
    /// acknowledged is lost: acknowledgements follow durability, so a session cut at the
    /// deadline loses only what it had not acknowledged.
    pub async fn stop(self, deadline: Duration) {
        if !self.shutdown.stop(deadline).await {
            tracing::warn!(?deadline, "sessions still open at the shutdown deadline");
        }
    }
}

/// Opens the store (rebuilding or recovering the index from the maildir), creates the
/// self-signed certificate if needed, binds every listener and starts the daemons.
pub async fn start(config: Config) -> Result<Server, ServeError> {
    let config = Arc::new(config);
    let data_dir = config.data_dir.clone();
    let (store, report) = tokio::task::spawn_blocking(move || -> Result<_, ServeError> {
        let (store, report) = Store::open(&data_dir)?;
        // A freshly rebuilt index was just made from the tree: scanning it again
        // would find nothing.
        let recovered = if report.rebuilt.is_some() {
            Vec::new()
        } else {
            store.recover_blocking()?
        };
        // The relay queue's rows against its files (adopts what a lost index forgot).
        store.recover_queue_blocking()?;
        Ok((store, (report, recovered)))
    })
    .await
    .map_err(|e| ServeError::Store(mailyard_store::StoreError::Invalid(e.to_string())))??;
    let (opened, recovered) = report;
    if let Some(rebuilt) = opened.rebuilt {
        tracing::info!(users = rebuilt.len(), "index built from the maildir tree");
    }
    for (user, r) in recovered {
        if r.adopted + r.dropped + r.reflagged + r.renumbered + r.stale_tmp > 0 {
            tracing::warn!(%user, adopted = r.adopted, dropped = r.dropped, reflagged = r.reflagged,
                renumbered = r.renumbered, stale_tmp_removed = r.stale_tmp,
                "index brought in line with the maildir");
        }
    }
    store.watch_other_processes()?;

    let (tls, created) = mailyard_common::tls::load(&config)?;
    if created {
        let (cert, _) = mailyard_common::tls::self_signed_paths(&config.data_dir);
        tracing::info!(cert = %cert.display(), hostname = %config.hostname,
            "created a self-signed certificate; set [tls] cert and key for a real one");
    }

    let shutdown = Shutdown::new();
    // One throttle for every protocol: a password guesser banned on IMAP is banned on
    // submission too.
    let auth_throttle = mailyard_common::throttle::AuthThrottle::from_config(&config);
    let relay = mailyard_smtp::queue::start(config.clone(), store.clone(), &shutdown);
    let smtp_ctx = Arc::new(
        mailyard_smtp::Context::new(
            config.clone(),
            store.clone(),
            tls.clone(),
            auth_throttle.clone(),
        )
        .with_relay(relay.clone()),
    );
    let imap_ctx = Arc::new(mailyard_imap::Context::new(
        config.clone(),
        store.clone(),
        tls.clone(),
        auth_throttle,
    ));
    let mut bound = Vec::new();
    for (name, addr) in config.listeners() {
        if name == "http" {
            tracing::info!(%addr, "http listener configured; this version serves no HTTP yet");
            continue;
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { name, addr, source })?;
        let local =
            listener
                .local_addr()
                .map_err(|source| ServeError::Bind { name, addr, source })?;
        tracing::info!(listener = name, addr = %local, "listening");
        bound.push((name, local));
        let sd = shutdown.clone();
        match name {
            "smtp" | "submission" | "submissions" => {
                let role = match name {
                    "smtp" => mailyard_smtp::Role::Mx,
                    "submission" => mailyard_smtp::Role::Submission,
                    _ => mailyard_smtp::Role::Submissions,
                };
                let ctx = smtp_ctx.clone();
                shutdown
                    .tracker
                    .spawn(mailyard_smtp::serve(listener, role, ctx, sd));
            }
            _ => {
                let implicit_tls = name == "imaps";
                let ctx = imap_ctx.clone();
                shutdown
                    .tracker
                    .spawn(mailyard_imap::serve(listener, implicit_tls, ctx, sd));
            }
        }
    }
    let users = store.accounts().users()?.len();
    if users == 0 {
        tracing::info!(
            "no users yet; add one with: mailyard user add you@{} (password on stdin or prompted)",
            if config.hostname == "localhost" {
                "example.com"
            } else {
                &config.hostname
            }
        );
    } else {
        tracing::info!(users, "ready");
    }
    Ok(Server {
        bound,
        store,
        relay,
        shutdown,
    })
}
