//! Wiring of the `mailyard` binary: open the store, bind every listener, run the
//! daemons, stop gracefully. The logic lives in the library crates; this only connects
//! them, and is a library so end-to-end tests run the real server in-process.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailyard_common::Config;
use mailyard_common::live::Live;
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
    /// The local submission socket (`[listen] local`) could not be bound.
    #[error("cannot listen on {} (local): {source}", path.display())]
    BindLocal {
        /// Where.
        path: std::path::PathBuf,
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
    /// The configuration the sessions read; `reload` replaces it.
    config: Arc<Live<Config>>,
    /// The certificate new TLS handshakes get; `reload` replaces it.
    cert: Arc<mailyard_common::tls::LiveCert>,
    /// The counters every daemon adds to (what `/metrics` renders, `/healthz` reads).
    pub metrics: Arc<mailyard_common::metrics::Metrics>,
}

impl Server {
    /// The bound address of listener `name`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.bound.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
    }

    /// Applies a new configuration (SIGHUP) without dropping a session: the TLS
    /// certificate and key are loaded again (new handshakes get them), and the keys
    /// sessions read as they go take effect at once: `hostname`, `postmaster`,
    /// `[limits]` but `max_connections`, `[auth] plaintext_on_loopback`, `[relay]
    /// max_messages_per_day` and `max_new_recipients_per_day`. Returns the sections
    /// that changed but need a restart (they keep their old values meanwhile; the
    /// listeners and `data_dir` also in what sessions see). An error (the certificate
    /// does not load) changes nothing.
    pub fn reload(&self, new: Config) -> Result<Vec<&'static str>, ServeError> {
        let old = self.config.get();
        let mut restart = Vec::new();
        if old.data_dir != new.data_dir {
            restart.push("data_dir");
        }
        if old.listen != new.listen {
            restart.push("[listen]");
        }
        if old.limits.max_connections != new.limits.max_connections {
            restart.push("[limits] max_connections");
        }
        let live_auth = mailyard_common::config::Auth {
            plaintext_on_loopback: old.auth.plaintext_on_loopback,
            ..new.auth.clone()
        };
        if old.auth != live_auth {
            restart.push("[auth] max_failures, ban_seconds, max_account_failures");
        }
        if old.dns != new.dns {
            restart.push("[dns]");
        }
        if old.auth_checks != new.auth_checks {
            restart.push("[auth_checks]");
        }
        let live_relay = mailyard_common::config::Relay {
            max_messages_per_day: old.relay.max_messages_per_day,
            max_new_recipients_per_day: old.relay.max_new_recipients_per_day,
            ..new.relay.clone()
        };
        if old.relay != live_relay {
            restart.push("[relay] (but its per-day limits)");
        }
        if old.log != new.log {
            restart.push("[log]");
        }
        // The HTTP listener works out the endpoints it advertises once, at start.
        if old.autoconfig != new.autoconfig
            || (old.hostname != new.hostname && new.autoconfig.hostname.is_none())
        {
            restart.push("[autoconfig] (the host name and ports autoconfig advertises)");
        }
        let applied = Config {
            data_dir: old.data_dir.clone(),
            listen: old.listen.clone(),
            ..new
        };
        self.cert.reload(&applied)?;
        self.config.set(Arc::new(applied));
        Ok(restart)
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
    // Local submission for users who cannot write data_dir (`mailyard sendmail`),
    // bound first: a server already answering on it is found before the store is
    // touched.
    let local = match &config.listen.local {
        Some(path) => Some((
            path.clone(),
            mailyard_smtp::sendmail::server::bind(path).map_err(|source| {
                ServeError::BindLocal {
                    path: path.clone(),
                    source,
                }
            })?,
        )),
        None => None,
    };
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

    let (tls, cert, created) = mailyard_common::tls::load_live(&config)?;
    let live = Arc::new(Live::new(config.clone()));
    if created {
        let (cert, _) = mailyard_common::tls::self_signed_paths(&config.data_dir);
        tracing::info!(cert = %cert.display(), hostname = %config.hostname,
            "created a self-signed certificate; set [tls] cert and key for a real one");
    }

    let shutdown = Shutdown::new();
    // One registry of counters for every daemon, rendered by the HTTP listener.
    let metrics = Arc::new(mailyard_common::metrics::Metrics::default());
    let counted = metrics.clone();
    store.observe_batches(Box::new(move |n| {
        counted.store_batch_size.observe(n as u64);
    }));
    // One throttle for every protocol: a password guesser banned on IMAP is banned on
    // submission too.
    let auth_throttle =
        mailyard_common::throttle::AuthThrottle::from_config(&config).with_metrics(metrics.clone());
    let relay =
        mailyard_smtp::queue::start(config.clone(), store.clone(), metrics.clone(), &shutdown);
    let smtp_ctx = Arc::new(
        mailyard_smtp::Context::new(
            config.clone(),
            store.clone(),
            tls.clone(),
            auth_throttle.clone(),
        )
        .with_relay(relay.clone())
        .with_metrics(metrics.clone())
        .with_live_config(live.clone()),
    );
    let sieve_ctx = Arc::new(mailyard_managesieve::Context::new(
        live.clone(),
        store.clone(),
        tls.clone(),
        auth_throttle.clone(),
    ));
    let pop3_ctx = Arc::new(mailyard_pop3::Context::new(
        live.clone(),
        store.clone(),
        tls.clone(),
        auth_throttle.clone(),
        metrics.clone(),
    ));
    let imap_ctx = Arc::new(
        mailyard_imap::Context::new(config.clone(), store.clone(), tls.clone(), auth_throttle)
            .with_metrics(metrics.clone())
            .with_live_config(live.clone()),
    );
    // Made when the first HTTP listener is reached: `listeners()` names them last, so
    // the mail listeners are bound by then and clients are told their real ports.
    let mut http_ctx: Option<Arc<mailyard_http::Context>> = None;
    let mut bound = Vec::new();
    for (name, addr) in config.listeners() {
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
            "http" | "https" => {
                let ctx = http_ctx
                    .get_or_insert_with(|| {
                        Arc::new(mailyard_http::Context::new(
                            config.clone(),
                            store.clone(),
                            tls.clone(),
                            metrics.clone(),
                            &bound,
                        ))
                    })
                    .clone();
                shutdown
                    .tracker
                    .spawn(mailyard_http::serve(listener, name == "https", ctx, sd));
            }
            "managesieve" => {
                shutdown.tracker.spawn(mailyard_managesieve::serve(
                    listener,
                    sieve_ctx.clone(),
                    metrics.clone(),
                    sd,
                ));
            }
            "pop3" | "pop3s" => {
                shutdown.tracker.spawn(mailyard_pop3::serve(
                    listener,
                    name == "pop3s",
                    pop3_ctx.clone(),
                    sd,
                ));
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
    if let Some((path, listener)) = local {
        tracing::info!(listener = "local", addr = %path.display(), "listening");
        shutdown
            .tracker
            .spawn(mailyard_smtp::sendmail::server::serve(
                listener,
                path,
                smtp_ctx.clone(),
                shutdown.clone(),
            ));
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
        config: live,
        cert,
        metrics,
    })
}
