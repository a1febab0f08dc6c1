//! The TOML configuration: every key optional, defaulting to the embedded values that
//! `mailyard serve` runs on without `--config`.
//!
//! Invariants: an unknown key or a bad value is an error that names the key and the
//! file's line (serde's `deny_unknown_fields` plus toml's spans); nothing starts on a bad
//! config. `conf/mailyard.toml` is parsed by a test so it never rots.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The name this server gives itself: SMTP greeting and EHLO, Received headers,
    /// Message-IDs it adds, the self-signed certificate's subject.
    pub hostname: String,
    /// Where mail (`mail/`), the index (`index.db`), the accounts (`accounts.db`) and
    /// the generated certificate (`tls/`) live. Relative paths are taken from the
    /// current directory.
    pub data_dir: PathBuf,
    /// Where mail for `<Postmaster>` and for postmaster@ a local domain goes when no
    /// user or alias of that name exists (RFC 5321 §4.5.1): a local user or alias.
    /// Unset (the default): the first user added.
    pub postmaster: Option<String>,
    /// Listening addresses; a listener left out of `[listen]` keeps its default, one
    /// set to "" is off.
    pub listen: Listen,
    /// Certificate and key. Without them, a self-signed certificate for `hostname` is
    /// created in `data_dir/tls/` on first start.
    pub tls: Tls,
    /// Authentication policy.
    pub auth: Auth,
    /// Protocol limits.
    pub limits: Limits,
    /// DNS resolution for SPF/DKIM/DMARC and MX lookups.
    pub dns: Dns,
    /// SPF, DKIM and DMARC checks on mail arriving at the `smtp` (MX) listener.
    pub auth_checks: AuthChecks,
    /// Outbound relay.
    pub relay: Relay,
    /// Logging.
    pub log: Log,
    /// What the HTTP listener tells mail clients that configure themselves
    /// (Thunderbird autoconfig, Autodiscover, Apple's profile).
    pub autoconfig: Autoconfig,
    /// Users' Sieve filters at local delivery.
    pub sieve: Sieve,
}

/// `[sieve]`: running each user's active Sieve script (RFC 5228) at local delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sieve {
    /// Run the active scripts. Default true; false files all mail in the INBOX.
    pub enabled: bool,
    /// Most redirects one run may make (Pigeonhole's `sieve_max_redirects`); more is
    /// a runtime error, and the message is kept in the INBOX. Default 4.
    pub max_redirects: usize,
    /// Most actions one run may make (Pigeonhole's `sieve_max_actions`). Default 32.
    pub max_actions: usize,
    /// Commands and tests one run may execute before it is stopped. Default 100000.
    pub max_steps: u64,
    /// Shortest period between two vacation replies to one sender, in seconds: a
    /// script's shorter `:days`/`:seconds` is raised to it (RFC 6131 §2; Pigeonhole's
    /// `sieve_vacation_min_period`). Default 86400 (one day).
    pub vacation_min_period: u64,
}

impl Default for Sieve {
    fn default() -> Self {
        Sieve {
            enabled: true,
            max_redirects: 4,
            max_actions: 32,
            max_steps: 100_000,
            vacation_min_period: 86_400,
        }
    }
}

/// `[listen]`: one address per listener, e.g. `smtp = "0.0.0.0:25"`; "" turns it off.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// Inbound MX (port 25 role): mail from the internet for local domains.
    #[serde(deserialize_with = "listener")]
    pub smtp: Option<SocketAddr>,
    /// Submission with STARTTLS (port 587 role), RFC 6409.
    #[serde(deserialize_with = "listener")]
    pub submission: Option<SocketAddr>,
    /// Submission over implicit TLS (port 465 role), RFC 8314.
    #[serde(deserialize_with = "listener")]
    pub submissions: Option<SocketAddr>,
    /// IMAP with STARTTLS (port 143 role).
    #[serde(deserialize_with = "listener")]
    pub imap: Option<SocketAddr>,
    /// IMAP over implicit TLS (port 993 role), RFC 8314.
    #[serde(deserialize_with = "listener")]
    pub imaps: Option<SocketAddr>,
    /// HTTP: client autoconfiguration, `/metrics`, `/healthz`.
    #[serde(deserialize_with = "listener")]
    pub http: Option<SocketAddr>,
    /// The same over TLS (RFC 2818), with the `[tls]` certificate. Off by default.
    #[serde(deserialize_with = "listener")]
    pub https: Option<SocketAddr>,
    /// ManageSieve (RFC 5804, port 4190 role; STARTTLS): users manage their Sieve
    /// scripts from Thunderbird's Sieve add-on or a webmail. Off in the embedded
    /// default (so that a config written before it existed opens no new port);
    /// `conf/mailyard.toml` sets `127.0.0.1:4190`.
    #[serde(deserialize_with = "listener")]
    pub managesieve: Option<SocketAddr>,
    /// POP3 with STLS (RFC 1939, RFC 2595; port 110 role): the INBOX for clients that
    /// download and delete. Off by default.
    #[serde(deserialize_with = "listener")]
    pub pop3: Option<SocketAddr>,
    /// POP3 over implicit TLS (port 995 role), RFC 8314. Off by default.
    #[serde(deserialize_with = "listener")]
    pub pop3s: Option<SocketAddr>,
    /// Local submission: the path of a Unix socket (mode 0666) through which
    /// `mailyard sendmail` run by any local user submits, identified by the kernel
    /// (the peer's uid). Off by default.
    #[serde(deserialize_with = "socket_path")]
    pub local: Option<PathBuf>,
}

/// The longest Unix socket path (`sun_path` holds 108 octets with its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// `[autoconfig]`: the host name and ports mail clients are told to use. Each port
/// defaults to the port of its `[listen]` listener and is left out when that listener
/// is off; set one where clients reach the server through another port (a NAT, a
/// proxy); 0 leaves it out.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Autoconfig {
    /// The public host name of the IMAP and SMTP servers. Default: `hostname`.
    pub hostname: Option<String>,
    /// IMAP with STARTTLS (143). Default: the `[listen] imap` port.
    pub imap: Option<u16>,
    /// IMAP over TLS (993). Default: the `[listen] imaps` port.
    pub imaps: Option<u16>,
    /// Submission with STARTTLS (587). Default: the `[listen] submission` port.
    pub submission: Option<u16>,
    /// Submission over TLS (465). Default: the `[listen] submissions` port.
    pub submissions: Option<u16>,
}

impl Autoconfig {
    /// The host name clients are told, for a server named `hostname`.
    pub fn public_hostname<'a>(&'a self, hostname: &'a str) -> &'a str {
        self.hostname.as_deref().unwrap_or(hostname)
    }

    /// The port clients are told for a service: the key when set (0: none), else the
    /// listener's port, else none.
    pub fn port(key: Option<u16>, listener: Option<SocketAddr>) -> Option<u16> {
        match key {
            Some(0) => None,
            Some(p) => Some(p),
            None => listener.map(|a| a.port()),
        }
    }
}

/// `[tls]`: PEM files.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// Certificate chain, PEM.
    pub cert: Option<PathBuf>,
    /// Private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Accept LOGIN / AUTH PLAIN without TLS from 127.0.0.0/8 and ::1 (default true).
    /// Everywhere else plaintext authentication needs TLS first.
    pub plaintext_on_loopback: bool,
    /// Failed logins from one address within ten minutes before it is banned
    /// (default 10). Each failure is answered a little slower than the last.
    pub max_failures: u32,
    /// How long a banned address (or locked account) is refused, in seconds
    /// (default 900). A ban stays until it expires, whatever logs in meanwhile.
    pub ban_seconds: u64,
    /// Failed logins for one account, from all addresses together, within ten minutes
    /// before the account is locked for `ban_seconds` (default 100; 0: never). Stops
    /// guessing spread over many addresses; sessions already logged in are not touched.
    pub max_account_failures: u32,
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest message accepted, in bytes (SMTP SIZE, IMAP APPENDLIMIT). Default 25 MiB.
    pub message_size: u64,
    /// Recipients per SMTP message (RFC 5321 §4.5.3.1.8 asks for at least 100). Default 100.
    pub max_recipients: usize,
    /// Open connections per listener. Default 1000.
    pub max_connections: usize,
    /// Open connections per client address, per daemon (the SMTP listeners share one
    /// count, IMAP and IMAPS another). Default 20.
    pub max_connections_per_ip: usize,
    /// Protocol errors in one SMTP session before it is disconnected. Default 10.
    pub max_errors: u32,
    /// Seconds a connection may take from its greeting to logging in (IMAP LOGIN or
    /// AUTHENTICATE; SMTP AUTH) or, on SMTP, to its first MAIL FROM; commands do not
    /// extend it. Then `* BYE` / `421 4.4.2`. Default 180 (Dovecot's login timeout).
    pub login_seconds: u64,
}

/// `[dns]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// Nameservers as `ip:port`, e.g. `["127.0.0.1:5353"]`. Empty: the system resolver.
    #[serde(deserialize_with = "socket_addrs")]
    pub nameservers: Vec<SocketAddr>,
}

/// `[auth_checks]`: sender authentication on the `smtp` (MX) listener. Submission
/// listeners never check: their sender is an authenticated local user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthChecks {
    /// Check SPF (RFC 7208) on MAIL FROM (on the HELO name when MAIL FROM is `<>`),
    /// every DKIM signature (RFC 6376) and DMARC (RFC 7489) against the From: domain,
    /// and prepend the verdict as an `Authentication-Results:` header (RFC 8601).
    /// Lookups go to `[dns] nameservers`. Default true. Off or on, an incoming
    /// `Authentication-Results:` header that claims to come from `hostname` is removed
    /// (RFC 8601 §5): only this server may speak in its name.
    pub enabled: bool,
    /// Refuse with `550 5.7.1` a message that fails DMARC when its From: domain
    /// publishes `p=reject` (RFC 7489 §6.3). Default true: the domain owner asked for
    /// exactly this, the refusal happens inside the SMTP session so the sending server
    /// bounces it to its sender (nothing vanishes silently), and a DNS problem is a
    /// `temperror` that never rejects. Set false if you receive mail through old
    /// forwarders or mailing lists that break DKIM without rewriting From:; such mail
    /// is then treated as `p=quarantine` (see `dmarc_quarantine`).
    pub dmarc_reject: bool,
    /// File into each recipient's Junk folder a message that fails DMARC when its From:
    /// domain publishes `p=quarantine` (RFC 7489 §6.3), or `p=reject` while
    /// `dmarc_reject` is false. Default true. False: such mail goes to the INBOX with
    /// `dmarc=fail` in its `Authentication-Results:` header.
    pub dmarc_quarantine: bool,
    /// Upper bound, in seconds, on all DNS lookups for one message (default 10, 1 to
    /// 60). When it passes, what is still unknown is reported as `temperror` and the
    /// message is accepted: a slow resolver delays a session by at most this much.
    pub timeout_seconds: u64,
}

/// `[relay]`: the outbound queue, MX delivery or a smarthost, retries and bounces.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Relay {
    /// Send all outbound mail through this `host:port` instead of the recipients' MX.
    #[serde(deserialize_with = "host_port")]
    pub smarthost: Option<String>,
    /// Smarthost login (AUTH PLAIN); none: no AUTH.
    pub username: Option<String>,
    /// Smarthost password (prefer `password_file`).
    pub password: Option<String>,
    /// A file whose first line is the smarthost password.
    pub password_file: Option<PathBuf>,
    /// TLS to the smarthost: "starttls" (required), "implicit" (TLS from the first
    /// byte, port 465) or "none". Default "starttls". Direct MX delivery always uses
    /// STARTTLS when the peer offers it (opportunistic, RFC 3207).
    pub tls: RelayTls,
    /// Verify the smarthost's certificate against the system's roots (default true).
    /// False only for a smarthost with a self-signed certificate you trust otherwise.
    pub tls_verify: bool,
    /// The TCP port of the recipients' MX hosts (default 25; other values are for tests
    /// and odd setups).
    pub port: u16,
    /// Delay before each retry after a temporary failure, in seconds (default
    /// 5 m, 10 m, 20 m, 40 m, 1 h, 2 h).
    pub retry_seconds: Vec<u64>,
    /// After the schedule above runs out, retry this often, in seconds (default 4 h).
    pub retry_every_seconds: u64,
    /// Give up and bounce this long after the message was accepted, in seconds
    /// (default 5 days).
    pub give_up_seconds: u64,
    /// Tell the sender that a message is delayed (a delay DSN, once) when it is still
    /// undelivered this long after it was accepted, in seconds (default 4 h; 0: never).
    pub delay_notice_seconds: u64,
    /// Messages delivered at once (default 16).
    pub workers: usize,
    /// Connections open at once to one server address (default 10): a burst to one
    /// domain must not look like an attack to its MX. Postfix's
    /// `default_destination_concurrency_limit` is 20 per domain, reached from 5 while
    /// deliveries succeed; 10 is a fixed middle. With 4, delivery to one smarthost
    /// fell behind what submission took in (`tests/bench/peers.sh --only relay`).
    pub max_connections_per_host: usize,
    /// Messages sent over one connection, one after another with RSET between
    /// (RFC 5321 §3.3), before it is closed (default 100; 1: a new connection for
    /// every message). A connection also closes after 5 s without a message.
    pub max_messages_per_connection: usize,
    /// Messages one account may send to remote recipients in 24 hours (default 1000);
    /// past it, `451 4.7.1`. A brake on a stolen password.
    pub max_messages_per_day: u64,
    /// Remote recipients one account may write to for the first time in 24 hours
    /// (default 200); past it, `451 4.7.1`.
    pub max_new_recipients_per_day: u64,
}

/// How to reach the smarthost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayTls {
    /// Plain connection, then STARTTLS, which must succeed.
    Starttls,
    /// TLS from the first byte (RFC 8314).
    Implicit,
    /// No TLS at all.
    None,
}

impl Default for Relay {
    fn default() -> Self {
        Relay {
            smarthost: None,
            username: None,
            password: None,
            password_file: None,
            tls: RelayTls::Starttls,
            tls_verify: true,
            port: 25,
            retry_seconds: vec![300, 600, 1200, 2400, 3600, 7200],
            retry_every_seconds: 4 * 3600,
            give_up_seconds: 5 * 24 * 3600,
            delay_notice_seconds: 4 * 3600,
            workers: 16,
            max_connections_per_host: 10,
            max_messages_per_connection: 100,
            max_messages_per_day: 1000,
            max_new_recipients_per_day: 200,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// "auto" (human on a terminal, JSON otherwise), "human" or "json".
    pub format: LogFormat,
    /// A tracing filter, e.g. "info" or "mailyard_smtp=debug,info". `RUST_LOG` overrides it.
    pub level: String,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON otherwise.
    Auto,
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

fn loopback(port: u16) -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], port)))
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: "localhost".into(),
            data_dir: PathBuf::from("./data"),
            postmaster: None,
            listen: Listen::default(),
            tls: Tls::default(),
            auth: Auth::default(),
            limits: Limits::default(),
            dns: Dns::default(),
            auth_checks: AuthChecks::default(),
            relay: Relay::default(),
            log: Log::default(),
            autoconfig: Autoconfig::default(),
            sieve: Sieve::default(),
        }
    }
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            smtp: loopback(2525),
            submission: loopback(2587),
            submissions: loopback(2465),
            imap: loopback(2143),
            imaps: loopback(2993),
            http: loopback(8080),
            https: None,
            managesieve: None,
            pop3: None,
            pop3s: None,
            local: None,
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            plaintext_on_loopback: true,
            max_failures: 10,
            ban_seconds: 900,
            max_account_failures: 100,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 1000,
            max_connections_per_ip: 20,
            max_errors: 10,
            login_seconds: 180,
        }
    }
}

impl Default for AuthChecks {
    fn default() -> Self {
        AuthChecks {
            enabled: true,
            dmarc_reject: true,
            dmarc_quarantine: true,
            timeout_seconds: 10,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            format: LogFormat::Auto,
            level: "info".into(),
        }
    }
}

/// A configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The file named by `--config`.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// Bad TOML, an unknown key or a bad value. The message names the key and the line.
    #[error("{file}: {message}")]
    Invalid {
        /// Where the text came from: the file, or what `Config::parse` was told.
        file: String,
        /// toml's message, with the line, column and offending key.
        message: String,
    },
}

impl Config {
    /// Loads `path`, or the embedded default when there is none.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Config::parse(&text, &file)
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            file: origin.to_string(),
            message: describe(text, &e),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            file: origin.to_string(),
            message,
        })?;
        Ok(config)
    }

    /// Checks that need more than one key at a time.
    fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let host_name = |h: &str| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        };
        if !host_name(&self.hostname) {
            problems.push(format!(
                "key `hostname`: {:?} is not a host name",
                self.hostname
            ));
        }
        if let Some(h) = &self.autoconfig.hostname
            && !host_name(h)
        {
            problems.push(format!(
                "key `autoconfig.hostname`: {h:?} is not a host name"
            ));
        }
        if let Some(p) = &self.postmaster
            && !p
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        {
            problems.push(format!("key `postmaster`: {p:?} is not an address"));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            problems.push("keys `tls.cert` and `tls.key`: set both or neither".to_string());
        }
        if self.limits.message_size < 1024 {
            problems.push("key `limits.message_size`: must be at least 1024 bytes".into());
        }
        for (key, v) in [
            ("limits.max_recipients", self.limits.max_recipients),
            ("limits.max_connections", self.limits.max_connections),
            (
                "limits.max_connections_per_ip",
                self.limits.max_connections_per_ip,
            ),
        ] {
            if v == 0 {
                problems.push(format!("key `{key}`: must be at least 1"));
            }
        }
        for (key, value) in [
            ("workers", self.relay.workers),
            (
                "max_connections_per_host",
                self.relay.max_connections_per_host,
            ),
            (
                "max_messages_per_connection",
                self.relay.max_messages_per_connection,
            ),
        ] {
            if value == 0 {
                problems.push(format!("key `relay.{key}`: must be at least 1"));
            }
        }
        if self.relay.retry_every_seconds == 0 {
            problems.push("key `relay.retry_every_seconds`: must be at least 1".into());
        }
        if self.relay.password.is_some() && self.relay.password_file.is_some() {
            problems
                .push("keys `relay.password` and `relay.password_file`: set one or neither".into());
        }
        if !(1..=60).contains(&self.auth_checks.timeout_seconds) {
            problems.push("key `auth_checks.timeout_seconds`: must be 1 to 60".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Every enabled listener with its name, in a stable order.
    pub fn listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        let l = &self.listen;
        [
            ("smtp", l.smtp),
            ("submission", l.submission),
            ("submissions", l.submissions),
            ("imap", l.imap),
            ("imaps", l.imaps),
            ("managesieve", l.managesieve),
            ("pop3", l.pop3),
            ("pop3s", l.pop3s),
            ("http", l.http),
            ("https", l.https),
        ]
        .into_iter()
        .filter_map(|(name, addr)| addr.map(|a| (name, a)))
        .collect()
    }
}

/// toml's message with the line number and the offending line spelled out, so an
/// admin sees "line 2 (`message_size = "big"`): invalid type ..." — the key is named
/// even where serde's message only names the type.
fn describe(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return e.message().to_string();
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
    let line: String = line.chars().take(120).collect();
    format!("line {line_no} (`{line}`): {}", e.message())
}

fn listener<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "{s:?} is not an address like \"127.0.0.1:25\" or \"[::1]:25\" (\"\" turns it off)"
        ))
    })
}

fn socket_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > MAX_SOCKET_PATH {
        return Err(serde::de::Error::custom(format!(
            "{s:?} is longer than {MAX_SOCKET_PATH} octets, the most a Unix socket path may be"
        )));
    }
    Ok(Some(PathBuf::from(s)))
}

fn socket_addrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    v.iter()
        .map(|s| {
            s.parse().map_err(|_| {
                serde::de::Error::custom(format!("{s:?} is not an address like \"127.0.0.1:53\""))
            })
        })
        .collect()
}

fn host_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Ok(None);
    }
    let ok = s
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        Ok(Some(s))
    } else {
        Err(serde::de::Error::custom(format!(
            "{s:?} is not a host:port like \"smtp.example.net:587\""
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default() {
        let c = Config::parse("", "t").expect("empty config");
        assert_eq!(c.hostname, "localhost");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        let names: Vec<_> = c
            .listeners()
            .iter()
            .map(|(n, a)| format!("{n}={a}"))
            .collect();
        assert_eq!(
            names,
            [
                "smtp=127.0.0.1:2525",
                "submission=127.0.0.1:2587",
                "submissions=127.0.0.1:2465",
                "imap=127.0.0.1:2143",
                "imaps=127.0.0.1:2993",
                "http=127.0.0.1:8080"
            ]
        );
        assert!(c.auth.plaintext_on_loopback);
        assert_eq!(c.limits.message_size, 25 * 1024 * 1024);
        assert!(c.auth_checks.enabled);
        assert!(c.auth_checks.dmarc_reject);
        assert!(c.auth_checks.dmarc_quarantine);
        assert_eq!(c.auth_checks.timeout_seconds, 10);
        assert_eq!(c.listen.local, None, "the local socket is off by default");
    }

    #[test]
    fn auth_checks_keys() {
        let c = Config::parse(
            "[auth_checks]\nenabled = false\ndmarc_reject = false\ndmarc_quarantine = false\ntimeout_seconds = 3\n",
            "t",
        )
        .expect("valid");
        assert!(!c.auth_checks.enabled);
        assert!(!c.auth_checks.dmarc_reject);
        assert!(!c.auth_checks.dmarc_quarantine);
        assert_eq!(c.auth_checks.timeout_seconds, 3);
        let c = Config::parse("[auth_checks]\ndmarc_reject = false\n", "t").expect("valid");
        assert!(c.auth_checks.enabled, "untouched keys keep their defaults");
        assert!(c.auth_checks.dmarc_quarantine);
    }

    #[test]
    fn listener_off_and_override() {
        let c = Config::parse("[listen]\nsmtp = \"\"\nimap = \"127.0.0.2:1143\"\n", "t")
            .expect("valid");
        assert_eq!(c.listen.smtp, None);
        assert_eq!(c.listen.imap, "127.0.0.2:1143".parse().ok());
        let c = Config::parse("[listen]\nlocal = \"/run/m/s.sock\"\n", "t").expect("valid");
        assert_eq!(c.listen.local.as_deref(), Some(Path::new("/run/m/s.sock")));
        let long = format!("[listen]\nlocal = \"/{}\"\n", "a".repeat(MAX_SOCKET_PATH));
        let err = Config::parse(&long, "t").expect_err("too long").to_string();
        assert!(
            err.contains("line 2") && err.contains("Unix socket"),
            "{err}"
        );
        assert_eq!(
            c.listen.submission,
            loopback(2587),
            "untouched keeps default"
        );
    }

    #[test]
    fn errors_name_key_and_line() {
        let cases: &[(&str, &[&str])] = &[
            (
                "hostname = \"a\"\n[listen]\nsmtpp = \"\"\n",
                &["line 3", "smtpp"],
            ),
            (
                "[limits]\nmessage_size = \"big\"\n",
                &["line 2", "message_size"],
            ),
            ("\n\n[listen]\nimap = \"nowhere\"\n", &["line 4", "nowhere"]),
            ("[dns]\nnameservers = [\"x\"]\n", &["line 2", "\"x\""]),
            (
                "[relay]\nsmarthost = \"nohost\"\n",
                &["line 2", "host:port"],
            ),
            ("bogus = 1\n", &["line 1", "bogus"]),
            ("[tls]\ncert = \"/a.pem\"\n", &["tls.key"]),
            ("hostname = \"bad/host\"\n", &["hostname"]),
            (
                "postmaster = \"nobody\"\n",
                &["postmaster", "not an address"],
            ),
            ("[log]\nformat = \"xml\"\n", &["line 2", "xml"]),
            (
                "[auth_checks]\ntimeout_seconds = 0\n",
                &["auth_checks.timeout_seconds"],
            ),
            (
                "[auth_checks]\ndmarc_reject = \"yes\"\n",
                &["line 2", "dmarc_reject"],
            ),
            ("[auth_checks]\nspf = true\n", &["line 2", "spf"]),
            (
                "[autoconfig]\nhostname = \"a b\"\n",
                &["autoconfig.hostname"],
            ),
            ("[autoconfig]\nimap = 70000\n", &["line 2", "imap"]),
            ("[autoconfig]\npop3 = 110\n", &["line 2", "pop3"]),
            ("[listen]\nlocal = 5\n", &["line 2", "local"]),
        ];
        for (text, needles) in cases {
            let err = Config::parse(text, "f.toml").expect_err(text).to_string();
            assert!(err.starts_with("f.toml: "), "{err}");
            for n in *needles {
                assert!(err.contains(n), "{text:?}: {err:?} lacks {n:?}");
            }
        }
    }

    #[test]
    fn production_config_parses() {
        let text = include_str!("../../conf/mailyard.toml");
        let c = Config::parse(text, "conf/mailyard.toml").expect("conf/mailyard.toml is valid");
        assert_eq!(c.listen.smtp, "0.0.0.0:25".parse().ok());
        assert_eq!(c.listen.imaps, "0.0.0.0:993".parse().ok());
        assert_eq!(c.listen.http, "127.0.0.1:8080".parse().ok());
        assert_eq!(c.listen.managesieve, "127.0.0.1:4190".parse().ok());
        assert!(
            c.listen.pop3.is_none() && c.listen.pop3s.is_none(),
            "POP3 is commented out in the example"
        );
        assert_eq!(c.autoconfig.imaps, Some(993));
        assert_eq!(c.autoconfig.submission, Some(587));
        assert!(c.auth_checks.enabled && c.auth_checks.dmarc_reject);
        assert_eq!(
            c.listen.local.as_deref(),
            Some(Path::new("/run/mailyard/submit.sock"))
        );
        assert_eq!(c.relay.port, 25);
        assert_eq!(c.relay.retry_seconds, Relay::default().retry_seconds);
        assert_eq!(c.sieve, Sieve::default());
    }

    #[test]
    fn autoconfig_ports_follow_the_listeners() {
        let c = Config::parse(
            "[listen]\nimap = \"\"\nsubmission = \"0.0.0.0:587\"\n\
             [autoconfig]\nimaps = 1993\nsubmissions = 0\n",
            "t",
        )
        .expect("valid");
        let a = &c.autoconfig;
        assert_eq!(
            Autoconfig::port(a.imap, c.listen.imap),
            None,
            "listener off"
        );
        assert_eq!(Autoconfig::port(a.imaps, c.listen.imaps), Some(1993), "key");
        assert_eq!(
            Autoconfig::port(a.submission, c.listen.submission),
            Some(587)
        );
        assert_eq!(
            Autoconfig::port(a.submissions, c.listen.submissions),
            None,
            "0"
        );
        assert_eq!(a.public_hostname(&c.hostname), "localhost");
        assert!(c.listen.https.is_none(), "https is off by default");
        assert!(
            c.listen.managesieve.is_none(),
            "managesieve is off by default"
        );
        assert!(
            c.listen.pop3.is_none() && c.listen.pop3s.is_none(),
            "POP3 is off by default"
        );
        let on = Config::parse(
            "[listen]\npop3 = \"127.0.0.1:110\"\npop3s = \"127.0.0.1:995\"\n",
            "t",
        )
        .expect("valid");
        let names: Vec<_> = on.listeners().into_iter().map(|(n, _)| n).collect();
        assert!(
            names.contains(&"pop3") && names.contains(&"pop3s"),
            "{names:?}"
        );
    }

    #[test]
    fn relay_keys() {
        let c = Config::parse(
            "[relay]\nsmarthost = \"smtp.x.test:587\"\nusername = \"u\"\npassword_file = \"/p\"\n\
             tls = \"implicit\"\nport = 2525\nretry_seconds = [1, 2]\nretry_every_seconds = 3\n\
             give_up_seconds = 4\ndelay_notice_seconds = 0\nworkers = 2\ntls_verify = false\n\
             max_connections_per_host = 7\nmax_messages_per_connection = 1\n",
            "t",
        )
        .expect("valid");
        assert_eq!(c.relay.tls, RelayTls::Implicit);
        assert_eq!(c.relay.max_connections_per_host, 7);
        assert_eq!(c.relay.max_messages_per_connection, 1);
        let err = Config::parse(
            "[relay]
max_connections_per_host = 0
",
            "t",
        )
        .expect_err("zero");
        assert!(
            err.to_string().contains("relay.max_connections_per_host"),
            "{err}"
        );
        assert_eq!(c.relay.retry_seconds, [1, 2]);
        assert_eq!(c.relay.port, 2525);
        assert!(!c.relay.tls_verify);
        let err = Config::parse("[relay]\npassword = \"a\"\npassword_file = \"/b\"\n", "t")
            .expect_err("both");
        assert!(err.to_string().contains("relay.password"), "{err}");
        let err = Config::parse("[relay]\ntls = \"maybe\"\n", "t").expect_err("bad tls");
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
