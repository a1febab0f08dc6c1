//! The SMTP client: one connection to one server, carrying one message to several
//! recipients (RFC 5321 §3.3), with STARTTLS (RFC 3207) when offered, PIPELINING
//! (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), DSN (RFC
//! 3461) and AUTH PLAIN (RFC 4954, to a smarthost).
//!
//! Invariants:
//! - A recipient counts as sent only on a 2xx to RCPT followed by a 2xx to the final
//!   dot; a connection lost before that reply leaves it pending (it may then arrive
//!   twice, which RFC 5321 §6.1 accepts; never zero times).
//! - Never an 8-bit octet to a peer without 8BITMIME (or SMTPUTF8): the message goes
//!   converted to 7-bit MIME (`wrap::seven_bit`, via `Job::seven_bit`) or is returned
//!   (5.6.3); never an SMTPUTF8 message to a peer without SMTPUTF8 (5.6.7).
//! - Opportunistic TLS does not verify the certificate (RFC 7435: encryption against
//!   passive listeners is better than plain text); a smarthost's is verified unless
//!   configured otherwise.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Connecting gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// RFC 5321 §4.5.3.2.1–5: the greeting, MAIL, RCPT, DATA and each data block: 5 min.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// RFC 5321 §4.5.3.2.6: the reply to the final dot: 10 min.
const DATA_END_TIMEOUT: Duration = Duration::from_secs(600);
/// A TLS handshake gives up after this long.
const TLS_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest reply accepted (all lines), against a peer that never ends one.
const MAX_REPLY: usize = 64 * 1024;

/// A stream the client can speak over, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How to use TLS with this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// STARTTLS when offered, certificate not verified (MX delivery).
    Opportunistic,
    /// STARTTLS must succeed (smarthost).
    Required,
    /// TLS from the first byte (smarthost on 465).
    Implicit,
    /// Never (smarthost configured so).
    Off,
}

/// One server to talk to.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Its address.
    pub ip: IpAddr,
    /// Its port.
    pub port: u16,
    /// Its name (TLS SNI, logs, DSN Remote-MTA).
    pub host: String,
    /// TLS policy.
    pub tls: TlsMode,
    /// Verify the certificate against the system's roots.
    pub verify: bool,
    /// AUTH PLAIN credentials.
    pub auth: Option<(String, String)>,
}

/// One recipient with its RFC 3461 parameters.
#[derive(Debug, Clone)]
pub(crate) struct Rcpt {
    /// `local@domain`, quoted where needed.
    pub address: String,
    /// NOTIFY value, e.g. "FAILURE,DELAY".
    pub notify: Option<String>,
    /// ORCPT as `addr-type;address` (decoded).
    pub orcpt: Option<String>,
}

/// What to send.
pub(crate) struct Job<'a> {
    /// Our name for EHLO.
    pub helo: &'a str,
    /// Reverse path ("" for `<>`).
    pub sender: &'a str,
    /// RFC 3461 ENVID and RET.
    pub envid: Option<&'a str>,
    /// RET.
    pub ret: Option<&'a str>,
    /// The recipients for this server.
    pub rcpts: &'a [Rcpt],
    /// The message, CRLF line ends.
    pub message: &'a [u8],
    /// The message converted to 7-bit MIME (and signed again), for a peer without
    /// 8BITMIME; Err with the reason when it cannot be converted. Called only then; the
    /// work (a parse, a DKIM key read and signature) runs off the runtime's threads.
    pub seven_bit: &'a (dyn Fn() -> SevenBit + Send + Sync),
}

/// The 7-bit form of a message, made on the blocking pool (`Job::seven_bit`).
pub(crate) type SevenBit =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, String>> + Send>>;

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Accepted (the server's reply).
    Sent(String),
    /// Try later (reply or reason).
    Temporary(String),
    /// Refused for good (reply or reason).
    Permanent(String),
}

/// The conversation ended before any recipient's fate was known: try the next
/// server. The text is a reason with an enhanced code.
#[derive(Debug, Clone)]
pub(crate) struct Failed(pub String);

/// A server reply: the code and its lines' texts.
#[derive(Debug, Clone)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }
    fn is_ok(&self) -> bool {
        (200..400).contains(&self.code)
    }
}

/// What the server offered in its EHLO reply.
#[derive(Debug, Default)]
struct Offer {
    pipelining: bool,
    starttls: bool,
    size: Option<u64>,
    eight_bit: bool,
    smtputf8: bool,
    dsn: bool,
    auth_plain: bool,
    chunking: bool,
}

impl Offer {
    fn parse(r: &Reply) -> Offer {
        let mut o = Offer::default();
        for line in r.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let kw = words.next().unwrap_or("").to_ascii_uppercase();
            match kw.as_str() {
                "PIPELINING" => o.pipelining = true,
                "STARTTLS" => o.starttls = true,
                "SIZE" => o.size = words.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0),
                "8BITMIME" => o.eight_bit = true,
                "SMTPUTF8" => o.smtputf8 = true,
                "DSN" => o.dsn = true,
                "CHUNKING" => o.chunking = true,
                "AUTH" => o.auth_plain = words.any(|m| m.eq_ignore_ascii_case("PLAIN")),
                _ => {}
            }
        }
        o
    }
}

struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
}

impl Conn {
    async fn read_reply(&mut self, limit: Duration) -> Result<Reply, Failed> {
        let mut lines = Vec::new();
        let mut code = 0;
        loop {
            while let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..p + 2).collect();
                let line = String::from_utf8_lossy(&line[..p]).into_owned();
                let c = line
                    .get(..3)
                    .and_then(|c| c.parse::<u16>().ok())
                    .filter(|c| (200..600).contains(c))
                    .ok_or_else(|| Failed(format!("451 4.5.0 malformed reply {line:?}")))?;
                code = c;
                let more = line.as_bytes().get(3) == Some(&b'-');
                lines.push(line.get(4..).unwrap_or("").to_string());
                if !more {
                    return Ok(Reply { code, lines });
                }
            }
            if self.buf.len() > MAX_REPLY {
                return Err(Failed("451 4.5.0 reply too long".into()));
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(limit, self.io.read(&mut chunk))
                .await
                .map_err(|_| Failed("451 4.4.2 timeout waiting for the server".into()))?
                .map_err(|e| Failed(format!("451 4.4.2 connection error: {e}")))?;
            if n == 0 {
                let _ = code;
                return Err(Failed("451 4.4.2 connection closed by the server".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Failed> {
        tokio::time::timeout(COMMAND_TIMEOUT, async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        })
        .await
        .map_err(|_| Failed("451 4.4.2 timeout writing to the server".into()))?
        .map_err(|e| Failed(format!("451 4.4.2 connection error: {e}")))
    }

    async fn command(&mut self, line: &str) -> Result<Reply, Failed> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.read_reply(COMMAND_TIMEOUT).await
    }
}

/// The message dot-stuffed (RFC 5321 §4.5.2) and terminated with CRLF.CRLF.
pub(crate) fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut line_start = true;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn tls_connector(verify: bool) -> Result<TlsConnector, Failed> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Failed(format!("451 4.7.5 TLS setup: {e}")))?;
    let config = if verify {
        use rustls_platform_verifier::BuilderVerifierExt;
        builder
            .with_platform_verifier()
            .map_err(|e| Failed(format!("451 4.7.5 TLS setup: {e}")))?
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn start_tls(tcp: Box<dyn Io>, host: &str, verify: bool) -> Result<Box<dyn Io>, Failed> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| Failed(format!("451 4.7.5 {host:?} is not a TLS server name")))?;
    let tls = tokio::time::timeout(TLS_TIMEOUT, tls_connector(verify)?.connect(name, tcp))
        .await
        .map_err(|_| Failed("451 4.7.5 TLS handshake timed out".into()))?
        .map_err(|e| Failed(format!("451 4.7.5 TLS handshake failed: {e}")))?;
    Ok(Box::new(tls))
}

/// What one conversation achieved.
pub(crate) struct Delivery {
    /// One outcome per recipient, in order.
    pub outcomes: Vec<Outcome>,
    /// The server offered DSN (RFC 3461), so NOTIFY was passed on and it reports
    /// success itself (§5.2.2).
    pub peer_dsn: bool,
}

/// How long a connection waits, idle after RSET, for the next message to its server.
pub const IDLE_KEEP: Duration = Duration::from_secs(5);

/// A connection kept between messages (after RSET).
struct Idle {
    c: Conn,
    offer: Offer,
    messages: usize,
    since: std::time::Instant,
}

/// Idle connections by server address and port (and TLS policy, login), so the
/// next message to the same server goes on the same connection.
pub(crate) struct Pool {
    idle: std::sync::Mutex<std::collections::HashMap<PoolKey, Vec<Idle>>>,
    /// Messages one connection carries before it is closed (`[relay]
    /// max_messages_per_connection`; RFC 5321 §3.3 allows several transactions per
    /// session, the bound spreads load and limits damage).
    max_messages: usize,
}

type PoolKey = (IpAddr, u16, Option<String>);

fn pool_key(t: &Target) -> PoolKey {
    (t.ip, t.port, t.auth.as_ref().map(|(u, _)| u.clone()))
}

impl Pool {
    pub(crate) fn new(max_messages: usize) -> Pool {
        Pool {
            idle: std::sync::Mutex::default(),
            max_messages,
        }
    }

    fn take(&self, key: &PoolKey) -> Option<Idle> {
        let mut map = self.idle.lock().ok()?;
        let list = map.get_mut(key)?;
        while let Some(i) = list.pop() {
            if i.since.elapsed() < IDLE_KEEP {
                return Some(i);
            }
        }
        None
    }

    fn put(&self, key: PoolKey, idle: Idle) {
        if let Ok(mut map) = self.idle.lock() {
            map.entry(key).or_default().push(idle);
        }
    }

    /// Closes connections idle longer than [`IDLE_KEEP`] (the scheduler calls this).
    pub(crate) fn expire(&self) {
        if let Ok(mut map) = self.idle.lock() {
            map.retain(|_, list| {
                list.retain(|i| i.since.elapsed() < IDLE_KEEP);
                !list.is_empty()
            });
        }
    }
}

/// Sends `job` to `target`, on an idle connection to the same server when there is
/// one (RSET first), else a new one. `Err` when no recipient's fate is known
/// (connection, greeting or TLS trouble): the caller tries the next server.
pub(crate) async fn deliver(
    pool: &Pool,
    target: &Target,
    job: &Job<'_>,
) -> Result<Delivery, Failed> {
    let key = pool_key(target);
    if let Some(mut idle) = pool.take(&key) {
        // RFC 5321 §4.1.1.5: RSET starts the next transaction cleanly.
        if idle.c.command("RSET").await.is_ok_and(|r| r.code == 250) {
            let outcomes = transaction(&mut idle.c, &idle.offer, job).await?;
            let peer_dsn = idle.offer.dsn;
            park(pool, key, idle.c, idle.offer, idle.messages + 1).await;
            return Ok(Delivery { outcomes, peer_dsn });
        }
        // The server closed it meanwhile: a new connection.
    }
    let (mut c, offer) = open(target, job).await?;
    let outcomes = transaction(&mut c, &offer, job).await?;
    let peer_dsn = offer.dsn;
    park(pool, key, c, offer, 1).await;
    Ok(Delivery { outcomes, peer_dsn })
}

/// Keeps a connection for the next message, or says QUIT when it has carried enough.
async fn park(pool: &Pool, key: PoolKey, mut c: Conn, offer: Offer, messages: usize) {
    if messages >= pool.max_messages || !c.buf.is_empty() {
        let _ = c.send(b"QUIT\r\n").await;
        return;
    }
    pool.put(
        key,
        Idle {
            c,
            offer,
            messages,
            since: std::time::Instant::now(),
        },
    );
}

/// Connects, reads the greeting, says EHLO, starts TLS and logs in as `target` says.
async fn open(target: &Target, job: &Job<'_>) -> Result<(Conn, Offer), Failed> {
    let addr = SocketAddr::new(target.ip, target.port);
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| Failed(format!("451 4.4.1 connection to {addr} timed out")))?
        .map_err(|e| Failed(format!("451 4.4.1 cannot connect to {addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = Box::new(tcp);
    let io = if target.tls == TlsMode::Implicit {
        start_tls(io, &target.host, target.verify).await?
    } else {
        io
    };
    let mut c = Conn {
        io,
        buf: Vec::new(),
    };
    let greeting = c.read_reply(COMMAND_TIMEOUT).await?;
    if greeting.code != 220 {
        return Err(Failed(greeting.text()));
    }
    let mut offer = ehlo(&mut c, job.helo).await?;
    let tls_active = target.tls == TlsMode::Implicit;
    let want_tls = matches!(target.tls, TlsMode::Opportunistic | TlsMode::Required);
    if !tls_active && want_tls && offer.starttls {
        let r = c.command("STARTTLS").await?;
        if r.code == 220 {
            if !c.buf.is_empty() {
                // RFC 3207 §5 (the mirror of the server's rule): nothing may precede TLS.
                return Err(Failed("451 4.7.5 data after the STARTTLS reply".into()));
            }
            c.io = start_tls(c.io, &target.host, target.verify).await?;
            offer = ehlo(&mut c, job.helo).await?;
        } else if target.tls == TlsMode::Required {
            return Err(Failed(format!("STARTTLS refused: {}", r.text())));
        }
    } else if !tls_active && target.tls == TlsMode::Required {
        return Err(Failed(format!(
            "451 4.7.4 {} does not offer STARTTLS",
            target.host
        )));
    }
    if let Some((user, pass)) = &target.auth {
        if !offer.auth_plain {
            return Err(Failed(format!(
                "451 4.7.0 {} does not offer AUTH PLAIN",
                target.host
            )));
        }
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
        let r = c.command(&format!("AUTH PLAIN {token}")).await?;
        if r.code != 235 {
            // Wrong credentials are our configuration's fault: retry later, the admin
            // will see it in the queue and the log.
            return Err(Failed(format!(
                "451 4.7.0 smarthost AUTH failed: {}",
                r.text()
            )));
        }
    }
    Ok((c, offer))
}

async fn ehlo(c: &mut Conn, helo: &str) -> Result<Offer, Failed> {
    let r = c.command(&format!("EHLO {helo}")).await?;
    if r.code == 250 {
        return Ok(Offer::parse(&r));
    }
    // RFC 5321 §3.2: fall back to HELO for a server without ESMTP.
    let r = c.command(&format!("HELO {helo}")).await?;
    if r.code == 250 {
        Ok(Offer::default())
    } else {
        Err(Failed(r.text()))
    }
}

/// MAIL, RCPT…, DATA and the message; pipelined when the server allows.
async fn transaction(c: &mut Conn, offer: &Offer, job: &Job<'_>) -> Result<Vec<Outcome>, Failed> {
    let all = |o: Outcome| vec![o; job.rcpts.len()];
    let utf8_addresses = !job.sender.is_ascii() || job.rcpts.iter().any(|r| !r.address.is_ascii());
    let eight_bit = !job.message.is_ascii();
    let utf8_headers = eight_bit && super::wrap::utf8_headers(job.message);
    if !offer.smtputf8 && (utf8_addresses || utf8_headers) {
        // RFC 6531 §3.5: an SMTPUTF8 message is not downgraded (RFC 6530 §7.2: only
        // its author could); it is returned with X.6.7, as Postfix does.
        let (code, what) = if utf8_addresses {
            ("553", "these addresses need")
        } else {
            ("554", "the message's header fields need")
        };
        return Ok(all(Outcome::Permanent(format!(
            "{code} 5.6.7 the receiving server does not support SMTPUTF8, which {what}"
        ))));
    }
    let converted;
    let message = if eight_bit && !offer.eight_bit && !offer.smtputf8 {
        // RFC 6152 §3: never 8-bit octets to a 7-bit peer; converted to 7-bit MIME,
        // or returned (RFC 3463 X.6.3: conversion required but not supported).
        match (job.seven_bit)().await {
            Ok(m) => {
                converted = m;
                converted.as_slice()
            }
            Err(why) => {
                return Ok(all(Outcome::Permanent(format!(
                    "554 5.6.3 the receiving server takes only 7-bit mail (no 8BITMIME) and the \
                     message cannot be converted: {why}"
                ))));
            }
        }
    } else {
        job.message
    };
    let eight_bit = !message.is_ascii();
    if let Some(max) = offer.size
        && message.len() as u64 > max
    {
        return Ok(all(Outcome::Permanent(format!(
            "552 5.3.4 the message ({} octets) is larger than the receiving server accepts ({max})",
            message.len()
        ))));
    }
    let mut mail = format!("MAIL FROM:<{}>", job.sender);
    if offer.size.is_some() {
        mail.push_str(&format!(" SIZE={}", message.len()));
    }
    if eight_bit && offer.eight_bit {
        mail.push_str(" BODY=8BITMIME");
    }
    if utf8_addresses || utf8_headers {
        mail.push_str(" SMTPUTF8");
    }
    if offer.dsn {
        if let Some(ret) = job.ret {
            mail.push_str(&format!(" RET={ret}"));
        }
        if let Some(envid) = job.envid {
            mail.push_str(&format!(
                " ENVID={}",
                crate::proto::params::xtext_encode(envid)
            ));
        }
    }
    let rcpt_lines: Vec<String> = job
        .rcpts
        .iter()
        .map(|r| {
            let mut l = format!("RCPT TO:<{}>", r.address);
            if offer.dsn {
                if let Some(n) = &r.notify {
                    l.push_str(&format!(" NOTIFY={n}"));
                }
                if let Some((kind, a)) = r.orcpt.as_deref().and_then(|o| o.split_once(';')) {
                    l.push_str(&format!(
                        " ORCPT={kind};{}",
                        crate::proto::params::xtext_encode(a)
                    ));
                }
            }
            l
        })
        .collect();

    if offer.chunking {
        return chunked(c, offer, job.rcpts.len(), message, &mail, &rcpt_lines).await;
    }
    let (mail_reply, rcpt_replies, data_reply) = if offer.pipelining {
        // RFC 2920 §3.1: MAIL, every RCPT and DATA in one write.
        let mut batch = format!("{mail}\r\n");
        for l in &rcpt_lines {
            batch.push_str(l);
            batch.push_str("\r\n");
        }
        batch.push_str("DATA\r\n");
        c.send(batch.as_bytes()).await?;
        let m = c.read_reply(COMMAND_TIMEOUT).await?;
        let mut rs = Vec::with_capacity(rcpt_lines.len());
        for _ in &rcpt_lines {
            rs.push(c.read_reply(COMMAND_TIMEOUT).await?);
        }
        let d = c.read_reply(COMMAND_TIMEOUT).await?;
        (m, rs, Some(d))
    } else {
        let m = c.command(&mail).await?;
        if !m.is_ok() {
            (m, Vec::new(), None)
        } else {
            let mut rs = Vec::with_capacity(rcpt_lines.len());
            for l in &rcpt_lines {
                rs.push(c.command(l).await?);
            }
            let d = if rs.iter().any(Reply::is_ok) {
                Some(c.command("DATA").await?)
            } else {
                None
            };
            (m, rs, d)
        }
    };
    if !mail_reply.is_ok() {
        if data_reply.as_ref().is_some_and(|d| d.code == 354) {
            // A server that took DATA anyway gets an empty message, then nothing.
            c.send(b".\r\n").await?;
            let _ = c.read_reply(DATA_END_TIMEOUT).await;
        }
        let o = classify(&mail_reply);
        return Ok(all(o));
    }
    let accepted: Vec<bool> = rcpt_replies.iter().map(Reply::is_ok).collect();
    let mut out: Vec<Outcome> = rcpt_replies.iter().map(classify).collect();
    let Some(data_reply) = data_reply else {
        return Ok(out);
    };
    if data_reply.code != 354 {
        for (o, ok) in out.iter_mut().zip(&accepted) {
            if *ok {
                *o = classify(&data_reply);
            }
        }
        return Ok(out);
    }
    if !accepted.iter().any(|a| *a) {
        c.send(b".\r\n").await?;
        let _ = c.read_reply(DATA_END_TIMEOUT).await;
        return Ok(out);
    }
    c.send(&dot_stuff(message)).await?;
    let end = c.read_reply(DATA_END_TIMEOUT).await?;
    for (o, ok) in out.iter_mut().zip(&accepted) {
        if *ok {
            *o = classify(&end);
        }
    }
    Ok(out)
}

/// RFC 3030 CHUNKING: MAIL and RCPT (pipelined when offered), then the message as
/// it is in one `BDAT <size> LAST`, with no dot-stuffing, once a recipient is taken.
async fn chunked(
    c: &mut Conn,
    offer: &Offer,
    rcpts: usize,
    message: &[u8],
    mail: &str,
    rcpt_lines: &[String],
) -> Result<Vec<Outcome>, Failed> {
    let all = |o: Outcome| vec![o; rcpts];
    let (mail_reply, rcpt_replies) = if offer.pipelining {
        let mut batch = format!("{mail}\r\n");
        for l in rcpt_lines {
            batch.push_str(l);
            batch.push_str("\r\n");
        }
        c.send(batch.as_bytes()).await?;
        let m = c.read_reply(COMMAND_TIMEOUT).await?;
        let mut rs = Vec::with_capacity(rcpt_lines.len());
        for _ in rcpt_lines {
            rs.push(c.read_reply(COMMAND_TIMEOUT).await?);
        }
        (m, rs)
    } else {
        let m = c.command(mail).await?;
        if !m.is_ok() {
            return Ok(all(classify(&m)));
        }
        let mut rs = Vec::with_capacity(rcpt_lines.len());
        for l in rcpt_lines {
            rs.push(c.command(l).await?);
        }
        (m, rs)
    };
    if !mail_reply.is_ok() {
        return Ok(all(classify(&mail_reply)));
    }
    let accepted: Vec<bool> = rcpt_replies.iter().map(Reply::is_ok).collect();
    let mut out: Vec<Outcome> = rcpt_replies.iter().map(classify).collect();
    if !accepted.iter().any(|a| *a) {
        return Ok(out);
    }
    let mut chunk = format!("BDAT {} LAST\r\n", message.len()).into_bytes();
    chunk.extend_from_slice(message);
    c.send(&chunk).await?;
    let end = c.read_reply(DATA_END_TIMEOUT).await?;
    for (o, ok) in out.iter_mut().zip(&accepted) {
        if *ok {
            *o = classify(&end);
        }
    }
    Ok(out)
}

/// 2xx/3xx sent (for RCPT: accepted so far), 4xx temporary, 5xx permanent.
fn classify(r: &Reply) -> Outcome {
    match r.code {
        200..=399 => Outcome::Sent(r.text()),
        400..=499 => Outcome::Temporary(r.text()),
        _ => Outcome::Permanent(r.text()),
    }
}

/// Accepts any certificate but still checks the handshake signatures: opportunistic
/// TLS (RFC 7435) protects against passive eavesdroppers, not against an active
/// attacker, and a certificate that does not verify must not make us fall back to
/// plain text.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(dot_stuff(b".\r\nx"), b"..\r\nx\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b"\r\n.\r\n");
    }

    #[test]
    fn ehlo_offer() {
        let r = Reply {
            code: 250,
            lines: vec![
                "mx.test".into(),
                "PIPELINING".into(),
                "SIZE 1000".into(),
                "8BITMIME".into(),
                "STARTTLS".into(),
                "AUTH LOGIN PLAIN".into(),
                "DSN".into(),
                "CHUNKING".into(),
            ],
        };
        let o = Offer::parse(&r);
        assert!(o.pipelining && o.eight_bit && o.starttls && o.auth_plain && o.dsn && o.chunking);
        assert_eq!(o.size, Some(1000));
        assert!(!o.smtputf8);
    }
}
