//! The server's event counters, for the HTTP listener's `/metrics` (Prometheus text
//! exposition format 0.0.4).
//!
//! One [`Metrics`] per running server, created by `serve` and handed to every daemon,
//! so servers started side by side in one process (the end-to-end tests) count apart.
//! Each event is one call at the place it happens (an accept, a session's end, a
//! delivery, a failed login, an IMAP command): atomics only, no lock on the hot paths
//! except a read lock to find a labelled series that already exists.
//!
//! Why not the `prometheus-client` crate: the set of metrics is fixed and small, its
//! label values are `&'static str` known in the code, and the text format is a few
//! lines of `format!`; a registry of atomics here costs no dependency and no dynamic
//! dispatch, and [`write_histogram`] and friends render every family the same way.
//!
//! Invariants: counters only go up; a histogram's buckets are cumulative when
//! rendered and its `+Inf` bucket equals its `_count`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The content type of the text exposition format this module writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the store writer's batch-size buckets (requests per group commit;
/// the last is the writer's largest batch).
pub const BATCH_BUCKETS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// Bucket bounds for latencies, in microseconds (1 ms … 10 s).
pub const LATENCY_BUCKETS_US: &[u64] = &[
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// A monotonic counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The value now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Adds `n` (negative to lower it).
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets it.
    pub fn set(&self, n: i64) {
        self.0.store(n, Ordering::Relaxed);
    }

    /// The value now.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram over integer observations (microseconds, a batch's size) with fixed
/// upper bounds; rendered with the bounds and the sum divided by a scale (1e6 turns
/// microseconds into the seconds Prometheus expects).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// Per bucket (not cumulative); the last one is `+Inf`.
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// An empty histogram with these (ascending) upper bounds.
    pub fn new(bounds: &'static [u64]) -> Self {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: u64) {
        let i = self.bounds.partition_point(|&b| b < v);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a duration in microseconds (for [`LATENCY_BUCKETS_US`]).
    pub fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// A consistent-enough copy: the cumulative bucket counts (the last is `+Inf`),
    /// the sum and the count.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect::<Vec<_>>();
        HistogramSnapshot {
            bounds: self.bounds,
            // `+Inf` and `_count` agree even while observations race the copy.
            count: running,
            cumulative,
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// What [`write_histogram`] renders.
#[derive(Debug, Clone)]
pub struct HistogramSnapshot {
    /// Upper bounds (without `+Inf`).
    pub bounds: &'static [u64],
    /// Cumulative counts, one per bound and a last one for `+Inf`.
    pub cumulative: Vec<u64>,
    /// Sum of the observations (unscaled).
    pub sum: u64,
    /// Number of observations.
    pub count: u64,
}

/// A labelled family: one series per label value tuple, made on first use.
#[derive(Debug)]
pub struct Family<K, V> {
    series: RwLock<BTreeMap<K, Arc<V>>>,
    make: fn() -> V,
}

impl<K: Ord + Copy, V> Family<K, V> {
    fn new(make: fn() -> V) -> Self {
        Family {
            series: RwLock::new(BTreeMap::new()),
            make,
        }
    }

    /// The series for `key`, made when new.
    pub fn get(&self, key: K) -> Arc<V> {
        if let Ok(map) = self.series.read()
            && let Some(v) = map.get(&key)
        {
            return v.clone();
        }
        match self.series.write() {
            Ok(mut map) => map
                .entry(key)
                .or_insert_with(|| Arc::new((self.make)()))
                .clone(),
            // A poisoned lock (a panic elsewhere): count into a detached series.
            Err(_) => Arc::new((self.make)()),
        }
    }

    /// Every series, in key order.
    pub fn all(&self) -> Vec<(K, Arc<V>)> {
        self.series
            .read()
            .map(|m| m.iter().map(|(k, v)| (*k, v.clone())).collect())
            .unwrap_or_default()
    }
}

/// One listener's connections.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Connections open now.
    pub open: Gauge,
    /// Connections accepted since the start.
    pub total: Counter,
    /// 1 while the accept loop runs.
    pub up: Gauge,
}

/// How a session ended (the `outcome` label of `mailyard_sessions_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The session ran to its end: QUIT, LOGOUT, or closed by the server after an
    /// error reply (too many errors, a banned address).
    Closed,
    /// The client closed the connection without saying goodbye.
    Eof,
    /// Idle or login timeout.
    Timeout,
    /// A network or TLS error.
    Error,
    /// The server was shutting down.
    Shutdown,
    /// Refused at once by the connection limits.
    Refused,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Closed => "closed",
            Outcome::Eof => "eof",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
            Outcome::Shutdown => "shutdown",
            Outcome::Refused => "refused",
        }
    }
}

/// Every counter of one server. See the README, "Metrics and health", for each
/// metric's name and meaning.
#[derive(Debug)]
pub struct Metrics {
    /// Per listener name.
    pub listeners: Family<&'static str, ListenerStats>,
    /// Per (protocol, outcome).
    pub sessions: Family<(&'static str, Outcome), Counter>,
    /// Messages accepted over SMTP (`250` after DATA or BDAT LAST).
    pub received: Counter,
    /// Copies filed into local mailboxes by SMTP (one per local recipient).
    pub delivered_local: Counter,
    /// Messages put in the relay queue.
    pub queued: Counter,
    /// Recipients a remote server accepted.
    pub relayed: Counter,
    /// Recipients given up on (a failure DSN goes to the sender when one may).
    pub bounced: Counter,
    /// Recipients deferred for a later retry.
    pub deferred: Counter,
    /// Final dot (or BDAT LAST) to the `250`, durable delivery included.
    pub delivery_latency: Histogram,
    /// Requests per store writer batch (group commit); the store reports each batch
    /// through the observer `serve` gives it.
    pub store_batch_size: Histogram,
    /// Failed logins (any protocol).
    pub auth_failures: Counter,
    /// Addresses banned after `[auth] max_failures`.
    pub address_bans: Counter,
    /// Accounts locked after `[auth] max_account_failures`.
    pub account_locks: Counter,
    /// IMAP commands by name: latency from parsed to answered.
    pub imap_commands: Family<&'static str, Histogram>,
    /// HTTP responses by status code.
    pub http_responses: Family<u16, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            listeners: Family::new(ListenerStats::default),
            sessions: Family::new(Counter::default),
            received: Counter::default(),
            delivered_local: Counter::default(),
            queued: Counter::default(),
            relayed: Counter::default(),
            bounced: Counter::default(),
            deferred: Counter::default(),
            delivery_latency: Histogram::new(LATENCY_BUCKETS_US),
            store_batch_size: Histogram::new(BATCH_BUCKETS),
            auth_failures: Counter::default(),
            address_bans: Counter::default(),
            account_locks: Counter::default(),
            imap_commands: Family::new(|| Histogram::new(LATENCY_BUCKETS_US)),
            http_responses: Family::new(Counter::default),
        }
    }
}

impl Metrics {
    /// A session of `protocol` ("smtp", "imap", "http") ended.
    pub fn session_ended(&self, protocol: &'static str, outcome: Outcome) {
        self.sessions.get((protocol, outcome)).inc();
    }

    /// An SMTP message was made durable and answered `250` after `latency`:
    /// `local` mailbox copies, and whether it went into the relay queue.
    pub fn smtp_delivered(&self, local: usize, queued: bool, latency: Duration) {
        self.received.inc();
        self.delivered_local.add(local as u64);
        self.queued.add(u64::from(queued));
        self.delivery_latency.observe_duration(latency);
    }

    /// One relay attempt's results, in recipients.
    pub fn relay_attempt(&self, sent: usize, bounced: usize, deferred: usize) {
        self.relayed.add(sent as u64);
        self.bounced.add(bounced as u64);
        self.deferred.add(deferred as u64);
    }

    /// An IMAP command `name` was answered after `latency`.
    pub fn imap_command(&self, name: &'static str, latency: Duration) {
        self.imap_commands.get(name).observe_duration(latency);
    }

    /// Renders every metric here in the text exposition format.
    pub fn render(&self, out: &mut String) {
        write_header(
            out,
            "mailyard_connections_open",
            "gauge",
            "Connections open now, per listener.",
        );
        let listeners = self.listeners.all();
        for (name, l) in &listeners {
            write_sample(
                out,
                "mailyard_connections_open",
                &[("listener", name)],
                l.open.get(),
            );
        }
        write_header(
            out,
            "mailyard_connections_total",
            "counter",
            "Connections accepted, per listener.",
        );
        for (name, l) in &listeners {
            write_sample(
                out,
                "mailyard_connections_total",
                &[("listener", name)],
                l.total.get(),
            );
        }
        write_header(
            out,
            "mailyard_listener_up",
            "gauge",
            "1 while the listener accepts connections.",
        );
        for (name, l) in &listeners {
            write_sample(
                out,
                "mailyard_listener_up",
                &[("listener", name)],
                l.up.get(),
            );
        }
        write_header(
            out,
            "mailyard_sessions_total",
            "counter",
            "Sessions ended, per protocol and outcome.",
        );
        for ((protocol, outcome), c) in self.sessions.all() {
            let labels = [("protocol", protocol), ("outcome", outcome.as_str())];
            write_sample(out, "mailyard_sessions_total", &labels, c.get());
        }
        for (name, help, c) in [
            (
                "mailyard_messages_received_total",
                "Messages accepted over SMTP (250 after the data).",
                &self.received,
            ),
            (
                "mailyard_messages_delivered_local_total",
                "Message copies filed into local mailboxes by SMTP, one per recipient mailbox.",
                &self.delivered_local,
            ),
            (
                "mailyard_messages_queued_total",
                "Messages put in the relay queue.",
                &self.queued,
            ),
            (
                "mailyard_messages_relayed_total",
                "Recipients a remote server accepted.",
                &self.relayed,
            ),
            (
                "mailyard_messages_bounced_total",
                "Recipients given up on (failure DSN).",
                &self.bounced,
            ),
            (
                "mailyard_messages_deferred_total",
                "Recipients deferred to a later relay attempt.",
                &self.deferred,
            ),
            (
                "mailyard_auth_failures_total",
                "Failed logins, every protocol.",
                &self.auth_failures,
            ),
            (
                "mailyard_auth_bans_total",
                "Client addresses banned after [auth] max_failures.",
                &self.address_bans,
            ),
            (
                "mailyard_auth_account_locks_total",
                "Accounts locked after [auth] max_account_failures.",
                &self.account_locks,
            ),
        ] {
            write_header(out, name, "counter", help);
            write_sample(out, name, &[], c.get());
        }
        let name = "mailyard_smtp_delivery_seconds";
        write_header(
            out,
            name,
            "histogram",
            "SMTP final dot (or BDAT LAST) to the 250 reply, durable delivery included.",
        );
        write_histogram(out, name, &[], &self.delivery_latency.snapshot(), 1_000_000);
        let name = "mailyard_store_batch_size";
        write_header(
            out,
            name,
            "histogram",
            "Requests per store writer batch (group commit).",
        );
        write_histogram(out, name, &[], &self.store_batch_size.snapshot(), 1);
        let name = "mailyard_imap_command_seconds";
        write_header(
            out,
            name,
            "histogram",
            "IMAP command latency, per command name (_count: commands answered).",
        );
        for (command, h) in self.imap_commands.all() {
            write_histogram(out, name, &[("command", command)], &h.snapshot(), 1_000_000);
        }
        let name = "mailyard_http_responses_total";
        write_header(out, name, "counter", "HTTP responses, per status code.");
        for (code, c) in self.http_responses.all() {
            write_sample(out, name, &[("code", &code.to_string())], c.get());
        }
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a metric.
pub fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample line `name{labels} value`.
pub fn write_sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: impl std::fmt::Display,
) {
    let _ = writeln!(out, "{name}{} {value}", label_text(labels, None));
}

/// Writes a histogram's `_bucket{le=…}`, `_sum` and `_count` lines; bounds and sum
/// are divided by `scale`.
pub fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    h: &HistogramSnapshot,
    scale: u64,
) {
    let scaled = |v: u64| format_scaled(v, scale);
    for (i, c) in h.cumulative.iter().enumerate() {
        let le = h.bounds.get(i).map_or("+Inf".to_string(), |b| scaled(*b));
        let _ = writeln!(out, "{name}_bucket{} {c}", label_text(labels, Some(&le)));
    }
    let plain = label_text(labels, None);
    let _ = writeln!(out, "{name}_sum{plain} {}", scaled(h.sum));
    let _ = writeln!(out, "{name}_count{plain} {}", h.count);
}

/// `v / scale` as a decimal without float rounding noise (`2500 / 1e6` → `0.0025`).
fn format_scaled(v: u64, scale: u64) -> String {
    if scale <= 1 {
        return v.to_string();
    }
    let digits = scale.ilog10() as usize;
    let frac = format!("{:0digits$}", v % scale);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        (v / scale).to_string()
    } else {
        format!("{}.{frac}", v / scale)
    }
}

/// `{a="x",b="y"}` (with `le` last when given), or nothing without labels.
fn label_text(labels: &[(&str, &str)], le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Label values escape `\`, `"` and newline (exposition format 0.0.4).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text escapes `\` and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_size_buckets() {
        let h = Histogram::new(BATCH_BUCKETS);
        for n in [1, 1, 3, 512, 600] {
            h.observe(n);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, [2, 2, 3, 3, 3, 3, 3, 3, 3, 4, 5]);
        assert_eq!((s.sum, s.count), (1117, 5));
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[1, 4, 16]);
        for v in [0, 1, 2, 4, 5, 100] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, [2, 4, 5, 6]);
        assert_eq!((s.sum, s.count), (112, 6));
        let mut out = String::new();
        write_histogram(&mut out, "x", &[("a", "q\"")], &s, 1);
        assert_eq!(
            out,
            "x_bucket{a=\"q\\\"\",le=\"1\"} 2\nx_bucket{a=\"q\\\"\",le=\"4\"} 4\n\
             x_bucket{a=\"q\\\"\",le=\"16\"} 5\nx_bucket{a=\"q\\\"\",le=\"+Inf\"} 6\n\
             x_sum{a=\"q\\\"\"} 112\nx_count{a=\"q\\\"\"} 6\n"
        );
    }

    #[test]
    fn scaled_numbers() {
        for (v, scale, want) in [
            (2_500, 1_000_000, "0.0025"),
            (1_000_000, 1_000_000, "1"),
            (10_500_000, 1_000_000, "10.5"),
            (0, 1_000_000, "0"),
            (7, 1, "7"),
        ] {
            assert_eq!(format_scaled(v, scale), want);
        }
    }

    #[test]
    fn render_has_help_and_type_for_every_family() {
        let m = Metrics::default();
        m.listeners.get("smtp").total.inc();
        m.session_ended("smtp", Outcome::Closed);
        m.smtp_delivered(2, true, Duration::from_millis(3));
        m.imap_command("FETCH", Duration::from_micros(10));
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("mailyard_connections_total{listener=\"smtp\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("mailyard_messages_delivered_local_total 2\n"),
            "{out}"
        );
        assert!(
            out.contains("mailyard_smtp_delivery_seconds_sum 0.003\n"),
            "{out}"
        );
        assert!(out.contains("mailyard_imap_command_seconds_count{command=\"FETCH\"} 1\n"));
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|b| out.contains(&format!("# TYPE {b} histogram")))
                })
                .unwrap_or(name);
            assert!(
                out.contains(&format!("# TYPE {base} ")),
                "no TYPE for {line}"
            );
        }
    }
}
