//! The relay queue's delivery side: one scheduler task owns the queue (RFC 5321 §4.5.4
//! retry strategy), hands due messages to a bounded pool of workers, and records what
//! each attempt achieved. A worker routes each recipient's domain (`route`: MX, or the
//! smarthost), sends one connection per destination carrying all its recipients
//! (`client`, RFC 5321 §3.3), and turns final failures, long delays and requested
//! successes into DSNs (`dsn`, RFC 3464) to the envelope sender. `wrap` makes mail fit
//! the next hop (long lines before queueing; 8-bit content for a 7-bit peer at
//! delivery), `dkim` signs what leaves (and signs again what `wrap` converted).
//!
//! Invariants:
//! - Only the scheduler picks messages; a message is with at most one worker at a
//!   time (the scheduler's in-flight set).
//! - A DSN is queued or delivered before the attempt that caused it is recorded, so a
//!   crash in between can repeat a DSN but never lose one.
//! - Never a DSN to the null sender (RFC 5321 §4.5.5, RFC 3464 §4): DSNs themselves
//!   are sent from `<>`, so bounces cannot loop.
//! - The queue is re-read from the index every `POLL_INTERVAL`, so changes made by
//!   `mailyard queue …` in another process take effect without a restart.

mod client;
pub mod dkim;
pub mod dsn;
mod route;
pub mod wrap;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use mailyard_common::Config;
use mailyard_common::config::RelayTls;
use mailyard_common::metrics::Metrics;
use mailyard_common::shutdown::Shutdown;
use mailyard_store::queue::{Envelope, QueueChange, QueueEntry, QueuedRcpt, RcptState, RcptStatus};
use mailyard_store::{Address, LocalCopy, Outbound, Store};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use client::{Outcome, Rcpt, Target, TlsMode};
use route::{RouteError, Router};

/// How often the scheduler looks at the queue without being woken.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// RFC 5321 §6.3: a message that has passed this many hosts (Received: fields) is in
/// a loop; Postfix's `hopcount_limit` is the same.
pub const MAX_RECEIVED: usize = 50;

/// A handle on the running scheduler: wakes it when something was queued, and
/// holds the relay's event counters.
#[derive(Clone, Default)]
pub struct RelayHandle {
    wake: Arc<Notify>,
    counters: Arc<Counters>,
}

impl RelayHandle {
    /// Tells the scheduler to look at the queue now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The counters, since the server started (what a metrics endpoint reads).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// Relay events counted since the server started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages refused (`451 4.7.1`) because the account reached `[relay]
    /// max_messages_per_day`.
    pub refused_messages_per_day: AtomicU64,
    /// Messages refused because the account reached `[relay]
    /// max_new_recipients_per_day`.
    pub refused_new_recipients_per_day: AtomicU64,
}

/// The smarthost, when one is configured.
struct Smarthost {
    host: String,
    port: u16,
    tls: TlsMode,
    auth: Option<(String, String)>,
}

struct Shared {
    config: Arc<Config>,
    store: Store,
    router: Router,
    smarthost: Option<Smarthost>,
    metrics: Arc<Metrics>,
    handle: RelayHandle,
    /// Idle connections for the next message to the same server.
    pool: client::Pool,
    /// Per server address: the permits of `[relay] max_connections_per_host`.
    per_host: std::sync::Mutex<HashMap<std::net::IpAddr, Arc<tokio::sync::Semaphore>>>,
}

impl Shared {
    /// The per-destination semaphore of `ip` (None if the map is poisoned: no limit).
    fn gate(&self, ip: std::net::IpAddr) -> Option<Arc<tokio::sync::Semaphore>> {
        let mut map = self.per_host.lock().ok()?;
        Some(
            map.entry(ip)
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Semaphore::new(
                        self.config.relay.max_connections_per_host,
                    ))
                })
                .clone(),
        )
    }
}

/// Starts the scheduler on `shutdown`'s tracker; it stops taking work when the
/// shutdown token is cancelled and lets running deliveries finish.
/// Relay results (recipients sent, bounced, deferred) are counted into `metrics`.
pub fn start(
    config: Arc<Config>,
    store: Store,
    metrics: Arc<Metrics>,
    shutdown: &Shutdown,
) -> RelayHandle {
    let handle = RelayHandle::default();
    let smarthost = config.relay.smarthost.as_ref().and_then(|hp| {
        let (host, port) = hp.rsplit_once(':')?;
        let password = match (&config.relay.password, &config.relay.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(f)) => match std::fs::read_to_string(f) {
                Ok(t) => Some(t.lines().next().unwrap_or("").to_string()),
                Err(e) => {
                    tracing::error!(file = %f.display(), error = %e,
                        "cannot read [relay] password_file; smarthost AUTH will fail");
                    Some(String::new())
                }
            },
            (None, None) => None,
        };
        Some(Smarthost {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: port.parse().ok()?,
            tls: match config.relay.tls {
                RelayTls::Starttls => TlsMode::Required,
                RelayTls::Implicit => TlsMode::Implicit,
                RelayTls::None => TlsMode::Off,
            },
            auth: config
                .relay
                .username
                .clone()
                .map(|u| (u, password.unwrap_or_default())),
        })
    });
    let shared = Arc::new(Shared {
        router: Router::new(&config.dns),
        pool: client::Pool::new(config.relay.max_messages_per_connection),
        config,
        store,
        smarthost,
        metrics,
        handle: handle.clone(),
        per_host: std::sync::Mutex::new(HashMap::new()),
    });
    let token = shutdown.token.clone();
    shutdown.tracker.spawn(async move {
        schedule(shared, token).await;
    });
    handle
}

/// The scheduler loop: fill free worker slots with due messages, then wait for a
/// worker to finish, a wake-up, the poll tick or shutdown.
///
/// Due ids are read in batches into `ready` and handed out from there: the index is
/// asked again only when `ready` ran dry and more may be due (something was queued,
/// the last read was full, or the poll ticked) — not once per message queued and once
/// per message delivered. The read is a few rows of an index (`queue_due`), done in
/// place rather than through the blocking pool. A ready id that was deleted, held or
/// rescheduled meanwhile is found so by its worker (`deliver_entry`), which then does
/// nothing.
async fn schedule(shared: Arc<Shared>, token: mailyard_common::shutdown::CancellationToken) {
    let max = shared.config.relay.workers;
    let mut in_flight: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut busy: HashSet<String> = HashSet::new();
    let mut ready: VecDeque<String> = VecDeque::new();
    // Whether the queue may hold due entries that are neither ready nor busy.
    let mut more = true;
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut workers: JoinSet<()> = JoinSet::new();
    loop {
        shared.pool.expire();
        if busy.len() < max && ready.is_empty() && more {
            let limit = max + busy.len();
            match shared
                .store
                .queue_due(mailyard_store::queue::now(), limit)
                .await
            {
                Ok(due) => {
                    more = due.len() >= limit;
                    ready.extend(due.into_iter().filter(|id| !busy.contains(id)));
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the relay queue");
                    more = false;
                }
            }
        }
        while busy.len() < max {
            let Some(id) = ready.pop_front() else { break };
            if busy.insert(id.clone()) {
                let h = workers.spawn(deliver_entry(shared.clone(), id.clone()));
                in_flight.insert(h.id(), id);
            }
        }
        tokio::select! {
            _ = token.cancelled() => break,
            _ = shared.handle.wake.notified() => more = true,
            Some(done) = workers.join_next_with_id(), if !workers.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        tracing::error!(error = %e, "a relay worker failed");
                        e.id()
                    }
                };
                if let Some(q) = in_flight.remove(&id) {
                    busy.remove(&q);
                }
            }
            _ = poll.tick() => more = true,
        }
    }
    // Shutdown: no new work; deliveries under way finish (within serve's deadline).
    while workers.join_next().await.is_some() {}
}

/// One recipient's result in one attempt.
struct Result1 {
    rcpt: QueuedRcpt,
    outcome: Outcome,
    remote_mta: Option<String>,
    /// The server took over success reporting (it offered DSN).
    peer_dsn: bool,
}

/// Delivers what is pending of one entry, then records it (and sends DSNs).
async fn deliver_entry(shared: Arc<Shared>, id: String) {
    let span = tracing::info_span!("relay", queue_id = %id);
    use tracing::Instrument;
    async {
        // The entry and its message, in one store hop. None: gone meanwhile
        // (`mailyard queue delete --silent`), held (`mailyard queue hold`) or
        // rescheduled since the scheduler read it as due (it waits in `ready` a
        // moment): not now; the scheduler reads it again.
        let (entry, message) = match shared
            .store
            .queue_work(&id, mailyard_store::queue::now())
            .await
        {
            Ok(Some(w)) => w,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read a queue entry");
                return;
            }
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot read a queued message");
                let results = entry
                    .pending()
                    .map(|r| Result1 {
                        rcpt: r.rcpt.clone(),
                        outcome: Outcome::Temporary(format!(
                            "451 4.3.0 queue file unreadable: {e}"
                        )),
                        remote_mta: None,
                        peer_dsn: false,
                    })
                    .collect();
                finish(&shared, &entry, results, b"").await;
                return;
            }
        };
        let pending: Vec<RcptState> = entry.pending().cloned().collect();
        let results = if entry.cancelled {
            pending
                .into_iter()
                .map(|r| Result1 {
                    rcpt: r.rcpt,
                    outcome: Outcome::Permanent(
                        "550 5.3.0 deleted from the queue by the administrator".into(),
                    ),
                    remote_mta: None,
                    peer_dsn: false,
                })
                .collect()
        } else {
            attempt(&shared, &entry, pending, &message).await
        };
        finish(&shared, &entry, results, &message).await;
    }
    .instrument(span)
    .await
}

/// Routes the pending recipients and sends to each destination once.
async fn attempt(
    shared: &Shared,
    entry: &QueueEntry,
    pending: Vec<RcptState>,
    message: &[u8],
) -> Vec<Result1> {
    let mut results = Vec::new();
    // Destination (the host list to try) → recipients.
    let mut groups: Vec<(Vec<String>, u16, Vec<QueuedRcpt>)> = Vec::new();
    let mut by_domain: HashMap<String, Result<Vec<String>, RouteError>> = HashMap::new();
    for r in pending {
        let (hosts, port) = match &shared.smarthost {
            Some(s) => (Ok(vec![s.host.clone()]), s.port),
            None => {
                let domain = r
                    .rcpt
                    .address
                    .rsplit_once('@')
                    .map_or(String::new(), |(_, d)| d.to_ascii_lowercase());
                if !by_domain.contains_key(&domain) {
                    let hosts = shared.router.mx_hosts(&domain).await;
                    by_domain.insert(domain.clone(), hosts);
                }
                (
                    by_domain
                        .get(&domain)
                        .cloned()
                        .unwrap_or_else(|| Err(RouteError::Temporary("451 4.4.3 no route".into()))),
                    shared.config.relay.port,
                )
            }
        };
        match hosts {
            Ok(hosts) => match groups
                .iter_mut()
                .find(|(h, p, _)| *h == hosts && *p == port)
            {
                Some((_, _, rcpts)) => rcpts.push(r.rcpt),
                None => groups.push((hosts, port, vec![r.rcpt])),
            },
            Err(RouteError::Permanent(t)) => results.push(Result1 {
                rcpt: r.rcpt,
                outcome: Outcome::Permanent(t),
                remote_mta: None,
                peer_dsn: false,
            }),
            Err(RouteError::Temporary(t)) => results.push(Result1 {
                rcpt: r.rcpt,
                outcome: Outcome::Temporary(t),
                remote_mta: None,
                peer_dsn: false,
            }),
        }
    }
    for (hosts, port, rcpts) in groups {
        results.extend(send_to(shared, entry, &hosts, port, rcpts, message).await);
    }
    results
}

/// Tries each host (and each of its addresses) in turn until one takes the
/// conversation; RFC 5321 §5.1.
async fn send_to(
    shared: &Shared,
    entry: &QueueEntry,
    hosts: &[String],
    port: u16,
    rcpts: Vec<QueuedRcpt>,
    message: &[u8],
) -> Vec<Result1> {
    let client_rcpts: Vec<Rcpt> = rcpts
        .iter()
        .map(|r| Rcpt {
            address: r.address.clone(),
            notify: r.notify.clone(),
            orcpt: r.orcpt.clone(),
        })
        .collect();
    let data_dir = shared.store.data_dir();
    let seven_bit = || -> client::SevenBit {
        let (message, data_dir) = (message.to_vec(), data_dir.to_path_buf());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                wrap::seven_bit(&message).map(|m| dkim::resign(&data_dir, &m))
            })
            .await
            .map_err(|e| format!("conversion task: {e}"))?
        })
    };
    let job = client::Job {
        helo: &shared.config.hostname,
        sender: &entry.sender,
        envid: entry.envid.as_deref(),
        ret: entry.ret.as_deref(),
        rcpts: &client_rcpts,
        message,
        seven_bit: &seven_bit,
    };
    let (tls, auth) = match &shared.smarthost {
        Some(s) => (s.tls, s.auth.clone()),
        None => (TlsMode::Opportunistic, None),
    };
    let mut last = "451 4.4.0 no server could be reached".to_string();
    for host in hosts {
        let addrs = match shared.router.addrs(host).await {
            Ok(a) => a,
            Err(RouteError::Permanent(t) | RouteError::Temporary(t)) => {
                last = t;
                continue;
            }
        };
        for ip in addrs {
            let target = Target {
                ip,
                port,
                host: host.clone(),
                tls,
                verify: shared.smarthost.is_some() && shared.config.relay.tls_verify,
                auth: auth.clone(),
            };
            let _permit = match shared.gate(ip) {
                Some(sem) => sem.acquire_owned().await.ok(),
                None => None,
            };
            match client::deliver(&shared.pool, &target, &job).await {
                Ok(d) => {
                    tracing::info!(host = %host, %ip, recipients = rcpts.len(), "delivery attempt done");
                    return rcpts
                        .into_iter()
                        .zip(d.outcomes)
                        .map(|(rcpt, outcome)| Result1 {
                            rcpt,
                            outcome,
                            peer_dsn: d.peer_dsn,
                            remote_mta: Some(host.clone()),
                        })
                        .collect();
                }
                Err(client::Failed(t)) => {
                    tracing::info!(host = %host, %ip, reason = %t, "server not usable; trying the next");
                    last = t;
                }
            }
        }
    }
    rcpts
        .into_iter()
        .map(|rcpt| Result1 {
            rcpt,
            outcome: Outcome::Temporary(last.clone()),
            remote_mta: None,
            peer_dsn: false,
        })
        .collect()
}

/// Whether a recipient's NOTIFY asks for `what` (RFC 3461 §4.1); `default` when the
/// client gave no NOTIFY.
fn notify_wants(notify: Option<&str>, what: &str, default: bool) -> bool {
    match notify {
        None => default,
        Some(n) => n.split(',').any(|w| w.trim().eq_ignore_ascii_case(what)),
    }
}

/// The delay before the attempt after `attempts` attempts.
fn retry_delay(config: &Config, attempts: u32) -> u64 {
    let i = attempts.saturating_sub(1) as usize;
    config
        .relay
        .retry_seconds
        .get(i)
        .copied()
        .unwrap_or(config.relay.retry_every_seconds)
}

/// Records an attempt: DSNs first, then the recipients' new state, or the entry's
/// removal when nothing is pending.
async fn finish(shared: &Shared, entry: &QueueEntry, results: Vec<Result1>, message: &[u8]) {
    let relay = &shared.config.relay;
    let now = mailyard_store::queue::now();
    let age = now.saturating_sub(entry.created).max(0) as u64;
    let give_up = age >= relay.give_up_seconds;
    let attempts = entry.attempts + 1;
    let mut updates = Vec::new();
    let mut failed = Vec::new();
    let mut delivered = Vec::new();
    let mut still = Vec::new();
    let mut last_error = String::new();
    for r in results {
        let (status, reply) = match r.outcome {
            Outcome::Sent(t) => (RcptStatus::Sent, t),
            Outcome::Permanent(t) => (RcptStatus::Failed, t),
            Outcome::Temporary(t) if give_up => (
                RcptStatus::Failed,
                format!(
                    "550 5.4.7 gave up after {} hours; last problem: {t}",
                    age / 3600
                ),
            ),
            Outcome::Temporary(t) => (RcptStatus::Pending, t),
        };
        let notify = r.rcpt.notify.as_deref();
        let report = dsn::RcptReport {
            address: r.rcpt.address.clone(),
            orcpt: r.rcpt.orcpt.clone(),
            action: dsn::Action::Failed,
            diagnostic: reply.clone(),
            remote_mta: r.remote_mta.clone(),
        };
        match status {
            RcptStatus::Sent => {
                tracing::info!(rcpt = %r.rcpt.address, reply = %reply, "sent");
                // RFC 3461 §5.2.2: a DSN-capable next hop got NOTIFY and reports
                // itself; otherwise we report "relayed".
                if notify_wants(notify, "SUCCESS", false) && !r.peer_dsn {
                    delivered.push(dsn::RcptReport {
                        action: dsn::Action::Relayed,
                        ..report
                    });
                }
            }
            RcptStatus::Failed => {
                tracing::info!(rcpt = %r.rcpt.address, reply = %reply, "failed; bouncing");
                last_error.clone_from(&reply);
                if notify_wants(notify, "FAILURE", true) {
                    failed.push(report);
                }
            }
            RcptStatus::Pending => {
                tracing::info!(rcpt = %r.rcpt.address, reply = %reply, "deferred");
                last_error.clone_from(&reply);
                still.push((report, notify_wants(notify, "DELAY", true)));
            }
        }
        updates.push((r.rcpt.address, status, reply));
    }
    let count = |status| updates.iter().filter(|u| u.1 == status).count();
    shared.metrics.relay_attempt(
        count(RcptStatus::Sent),
        count(RcptStatus::Failed),
        count(RcptStatus::Pending),
    );
    let remaining = entry
        .recipients
        .iter()
        .filter(|r| r.status == RcptStatus::Pending)
        .count()
        .saturating_sub(
            updates
                .iter()
                .filter(|u| u.1 != RcptStatus::Pending)
                .count(),
        );
    let mut delay_notified = entry.delay_notified;
    let send_delay = !delay_notified
        && relay.delay_notice_seconds > 0
        && age >= relay.delay_notice_seconds
        && !still.is_empty();
    if !entry.sender.is_empty() {
        let retry_until = entry.created.saturating_add(relay.give_up_seconds as i64);
        for (rcpts, headers_only_default) in [(failed, false), (delivered, true)] {
            if rcpts.is_empty() {
                continue;
            }
            // RFC 3461 §4.3: RET=HDRS returns only the headers; a success DSN never
            // needs the whole message.
            let headers_only = headers_only_default || entry.ret.as_deref() == Some("HDRS");
            send_dsn(shared, entry, &rcpts, headers_only, None, message).await;
        }
        if send_delay {
            let rcpts: Vec<dsn::RcptReport> = still
                .iter()
                .filter(|(_, wants)| *wants)
                .map(|(r, _)| dsn::RcptReport {
                    action: dsn::Action::Delayed,
                    ..r.clone()
                })
                .collect();
            if !rcpts.is_empty() {
                send_dsn(shared, entry, &rcpts, true, Some(retry_until), message).await;
            }
        }
    }
    if send_delay {
        delay_notified = true;
    }
    let next = mailyard_store::queue::now_ceil()
        .saturating_add(retry_delay(&shared.config, attempts) as i64);
    // One writer request either way: when every recipient is final, the entry goes
    // (file, then rows, in one transaction) without its results being written first;
    // a crash before that commit leaves it pending, as it would leave the results.
    let (change, done) = if remaining == 0 {
        (
            QueueChange::Remove {
                id: entry.id.clone(),
            },
            "queue entry done",
        )
    } else {
        (
            QueueChange::Attempted {
                id: entry.id.clone(),
                results: updates,
                next_attempt: next,
                delay_notified,
                last_error,
            },
            "attempt recorded",
        )
    };
    match shared.store.queue_change(change).await {
        Ok(()) => tracing::info!("{done}"),
        Err(e) => tracing::error!(error = %e, "cannot record a delivery attempt"),
    }
}

/// Builds a DSN and hands it to local delivery or the queue, from `<>`.
async fn send_dsn(
    shared: &Shared,
    entry: &QueueEntry,
    rcpts: &[dsn::RcptReport],
    headers_only: bool,
    retry_until: Option<i64>,
    message: &[u8],
) {
    let report = dsn::Report {
        hostname: &shared.config.hostname,
        to: &entry.sender,
        envid: entry.envid.as_deref(),
        headers_only,
        arrival: entry.created,
        retry_until,
        rcpts,
        message,
    };
    let bytes = dsn::build(&report);
    match submit_own(&shared.store, &shared.config, &entry.sender, bytes).await {
        Ok(()) => {
            tracing::info!(to = %entry.sender, recipients = rcpts.len(), "DSN sent");
            shared.handle.wake();
        }
        Err(e) => tracing::error!(error = %e, to = %entry.sender, "cannot send a DSN"),
    }
}

/// RFC 3461 §4.1 NOTIFY=SUCCESS for recipients delivered locally: a "delivered"
/// DSN (headers only) to `sender`. Called after the `250`; the notice is mail like any
/// other, durable once this returns.
pub(crate) async fn local_success_notice(
    store: Store,
    config: Arc<Config>,
    sender: String,
    envid: Option<String>,
    rcpts: Vec<(String, Option<String>)>,
    headers: Vec<u8>,
) {
    let reports: Vec<dsn::RcptReport> = rcpts
        .into_iter()
        .map(|(address, orcpt)| dsn::RcptReport {
            address,
            orcpt,
            action: dsn::Action::Delivered,
            diagnostic: "250 2.0.0 delivered to the mailbox".into(),
            remote_mta: None,
        })
        .collect();
    let bytes = dsn::build(&dsn::Report {
        hostname: &config.hostname,
        to: &sender,
        envid: envid.as_deref(),
        headers_only: true,
        arrival: mailyard_common::time::now(),
        retry_until: None,
        rcpts: &reports,
        message: &headers,
    });
    if let Err(e) = submit_own(&store, &config, &sender, bytes).await {
        tracing::error!(error = %e, to = %sender, "cannot send a success DSN");
    }
}

/// Mail the server writes itself (a DSN), from `<>`, to `to`: delivered (through the
/// recipient's Sieve script) or queued like any other, durable once this returns.
async fn submit_own(
    store: &Store,
    config: &Config,
    to: &str,
    message: Vec<u8>,
) -> mailyard_store::Result<()> {
    let (copy, outbound) = own_mail(store, &config.hostname, None, to, message).await?;
    let delivery = match copy {
        Some(copy) => {
            let inbound = crate::filter::Inbound {
                rcpts: copy
                    .targets
                    .iter()
                    .map(|t| crate::filter::LocalRcpt::new(t.user.clone(), to.to_string()))
                    .collect(),
                message: copy.message,
                from: String::new(),
                auth: None,
                remote: outbound.map(|o| o.envelope),
                can_refuse: false,
            };
            return crate::filter::deliver(store, config, inbound)
                .await
                .map(|_| ());
        }
        None => mailyard_store::Delivery {
            outbound: outbound.into_iter().collect(),
            ..Default::default()
        },
    };
    store.deliver_all(delivery).await.map(|_| ())
}

/// Where mail from `<>` to `to` goes (a DSN, a Sieve vacation reply or reject
/// notice): a copy for the local users `to` resolves to, and a queue entry for the
/// rest (or for `to` itself outside our domains), signed with DKIM by `sign_as`'s keys
/// or, when `None`, by the nearest domain of `hostname` with keys (as mox signs its
/// DSNs: a bounce that fails DMARC at the sender's server would be lost).
pub(crate) async fn own_mail(
    store: &Store,
    hostname: &str,
    sign_as: Option<&str>,
    to: &str,
    message: Vec<u8>,
) -> mailyard_store::Result<(Option<LocalCopy>, Option<Outbound>)> {
    let found = match Address::parse(to) {
        Ok(a) => store.local_recipients(&a).await?,
        Err(_) => None,
    };
    let (local, remote) = found.map_or_else(Default::default, |r| (r.local, r.remote));
    let remote_rcpts: Vec<QueuedRcpt> = if local.is_empty() && remote.is_empty() {
        vec![QueuedRcpt {
            address: to.to_string(),
            notify: None,
            orcpt: None,
        }]
    } else {
        remote
            .iter()
            .map(|a| QueuedRcpt {
                address: a.to_string(),
                notify: None,
                orcpt: None,
            })
            .collect()
    };
    let signature = if remote_rcpts.is_empty() {
        String::new()
    } else {
        let (data_dir, host) = (store.data_dir().to_path_buf(), hostname.to_string());
        let domain = sign_as.map(str::to_string);
        let m = message.clone();
        tokio::task::spawn_blocking(move || match domain {
            Some(d) => dkim::sign(&data_dir, &d, &m),
            None => dkim::sign_for_host(&data_dir, &host, &m),
        })
        .await
        .unwrap_or_default()
    };
    let mut full = b"Return-Path: <>\r\n".to_vec();
    full.extend_from_slice(signature.as_bytes());
    full.extend_from_slice(&message);
    let copy = (!local.is_empty()).then(|| LocalCopy {
        message: full.clone(),
        targets: local.iter().map(mailyard_store::Target::inbox).collect(),
    });
    let outbound = (!remote_rcpts.is_empty()).then(|| Outbound {
        message: full,
        envelope: Envelope {
            sender: String::new(),
            recipients: remote_rcpts,
            envid: None,
            ret: None,
            auth_user: None,
            created: mailyard_store::queue::now(),
        },
    });
    Ok((copy, outbound))
}

/// A `[relay]` per-account daily brake (a stolen password must not turn the office
/// into a spam source): what submission refuses with `451 4.7.1` and a Sieve redirect
/// keeps the message for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendLimit {
    /// `max_messages_per_day`.
    Messages,
    /// `max_new_recipients_per_day`.
    NewRecipients,
}

impl SendLimit {
    /// The brake `usage` (with the recipients asked about) has reached, if any.
    pub(crate) fn reached(
        usage: &mailyard_store::queue::SendUsage,
        relay: &mailyard_common::config::Relay,
    ) -> Option<SendLimit> {
        if usage.messages >= relay.max_messages_per_day {
            Some(SendLimit::Messages)
        } else if usage.new_recipients + usage.new_in_this > relay.max_new_recipients_per_day {
            Some(SendLimit::NewRecipients)
        } else {
            None
        }
    }

    /// Its config key.
    pub(crate) fn key(self) -> &'static str {
        match self {
            SendLimit::Messages => "max_messages_per_day",
            SendLimit::NewRecipients => "max_new_recipients_per_day",
        }
    }
}

/// How many `Received:` fields a message's header section has (RFC 5321 §6.3).
pub fn count_received(message: &[u8]) -> usize {
    use mailyard_message::header::{field_lines, line_name};
    field_lines(message)
        .filter(|item| line_name(item).is_some_and(|n| n.eq_ignore_ascii_case(b"received")))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_defaults() {
        assert!(notify_wants(None, "FAILURE", true));
        assert!(!notify_wants(None, "SUCCESS", false));
        assert!(!notify_wants(Some("NEVER"), "FAILURE", true));
        assert!(notify_wants(Some("SUCCESS,FAILURE"), "SUCCESS", false));
    }

    #[test]
    fn schedule_from_config() {
        let c = Config::default();
        assert_eq!(retry_delay(&c, 1), 300);
        assert_eq!(retry_delay(&c, 6), 7200);
        assert_eq!(retry_delay(&c, 7), 14400);
    }

    #[test]
    fn received_counting() {
        let m = b"Received: a\r\nreceived: b\r\n\tcont\r\nSubject: x\r\n\r\nReceived: body\r\n";
        assert_eq!(count_received(m), 2);
    }
}
