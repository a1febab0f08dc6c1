//! Loopback helpers for the relay tests: a DNS server answering MX/A from a table, SMTP
//! sinks on 127.0.0.2, 127.0.0.3 … (all on one port, as `[relay] port` is one value),
//! and a small submission client.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

// ---- DNS (RFC 1035 §4.1) ----

/// The zone: MX records (preference, exchange; "" is the null MX's root) and A records.
#[derive(Default, Clone)]
pub struct Zone {
    pub mx: HashMap<String, Vec<(u16, String)>>,
    pub a: HashMap<String, Ipv4Addr>,
    pub txt: HashMap<String, String>,
    /// CNAME records (`mailyard dns check`).
    pub cname: HashMap<String, String>,
    /// SRV records: priority, weight, port, target (`mailyard dns check`).
    pub srv: HashMap<String, Vec<(u16, u16, u16, String)>>,
}

impl Zone {
    pub fn mx(mut self, domain: &str, pref: u16, host: &str) -> Self {
        self.mx
            .entry(domain.into())
            .or_default()
            .push((pref, host.into()));
        self
    }
    pub fn txt(mut self, name: &str, text: &str) -> Self {
        self.txt.insert(name.into(), text.into());
        self
    }
    pub fn cname(mut self, name: &str, target: &str) -> Self {
        self.cname.insert(name.into(), target.into());
        self
    }
    pub fn srv(mut self, name: &str, priority: u16, weight: u16, port: u16, target: &str) -> Self {
        self.srv
            .entry(name.into())
            .or_default()
            .push((priority, weight, port, target.into()));
        self
    }
    pub fn a(mut self, name: &str, ip: Ipv4Addr) -> Self {
        self.a.insert(name.into(), ip);
        self
    }
}

/// Serves `zone` on a UDP port of 127.0.0.1.
pub async fn dns_server(zone: Zone) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            if let Some(reply) = answer(&buf[..n], &zone) {
                let _ = socket.send_to(&reply, peer).await;
            }
        }
    });
    addr
}

fn encode_name(name: &str, out: &mut Vec<u8>) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn answer(query: &[u8], zone: &Zone) -> Option<Vec<u8>> {
    const A: u16 = 1;
    const MX: u16 = 15;
    if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    let question = query.get(12..i + 4)?;
    let name = labels.join(".");
    let known = zone.mx.contains_key(&name)
        || zone.a.contains_key(&name)
        || zone.txt.contains_key(&name)
        || zone.cname.contains_key(&name)
        || zone.srv.contains_key(&name);
    let mut rrs: Vec<(u16, Vec<u8>)> = Vec::new();
    if qtype == MX {
        for (pref, host) in zone.mx.get(&name).into_iter().flatten() {
            let mut rdata = pref.to_be_bytes().to_vec();
            encode_name(host, &mut rdata);
            rrs.push((MX, rdata));
        }
    } else if qtype == A
        && let Some(ip) = zone.a.get(&name)
    {
        rrs.push((A, ip.octets().to_vec()));
    } else if qtype == 16
        && let Some(text) = zone.txt.get(&name)
    {
        let mut rdata = Vec::new();
        for chunk in text.as_bytes().chunks(255) {
            rdata.push(chunk.len() as u8);
            rdata.extend_from_slice(chunk);
        }
        rrs.push((16, rdata));
    } else if qtype == 5
        && let Some(target) = zone.cname.get(&name)
    {
        let mut rdata = Vec::new();
        encode_name(target, &mut rdata);
        rrs.push((5, rdata));
    } else if qtype == 33 {
        for (priority, weight, port, target) in zone.srv.get(&name).into_iter().flatten() {
            let mut rdata = Vec::new();
            for v in [priority, weight, port] {
                rdata.extend_from_slice(&v.to_be_bytes());
            }
            encode_name(target, &mut rdata);
            rrs.push((33, rdata));
        }
    }
    let rcode = if known { 0 } else { 3 };
    let flags =
        0x8000 | (u16::from_be_bytes([query[2], query[3]]) & 0x7900) | 0x0400 | 0x0080 | rcode;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[..2]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(rrs.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for (t, rdata) in rrs {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&60u32.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}

// ---- SMTP sinks ----

/// How a sink behaves.
#[derive(Clone, Default)]
pub struct SinkConf {
    /// Offer STARTTLS with this certificate.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Answer `451` to the final dot of the first n messages.
    pub temp_fail_first: usize,
    /// Drop the connection in the middle of the data of the first n messages.
    pub drop_first: usize,
    /// Recipients refused with `550 5.1.1`.
    pub reject: Vec<String>,
    /// Require AUTH PLAIN with this base64 token before MAIL.
    pub auth_token: Option<String>,
    /// TLS from the first byte (with `tls`'s certificate), as on port 465.
    pub implicit_tls: bool,
    /// Offer CHUNKING (RFC 3030) and take BDAT.
    pub chunking: bool,
    /// Offer no 8BITMIME (RFC 6152): a 7-bit-only peer.
    pub seven_bit: bool,
}

/// A message the sink accepted.
#[derive(Debug, Clone)]
pub struct Got {
    pub from: String,
    pub rcpts: Vec<String>,
    pub data: Vec<u8>,
    pub tls: bool,
    pub authed: bool,
    pub at: Instant,
    pub connection: usize,
    /// Arrived with BDAT.
    pub bdat: bool,
    /// The MAIL FROM parameters (BODY=, SIZE=, SMTPUTF8 …).
    pub mail_params: String,
}

#[derive(Default)]
pub struct SinkState {
    pub got: Mutex<Vec<Got>>,
    pub connections: AtomicUsize,
    /// Message attempts seen (each final dot or drop), for the fail-first counters.
    pub attempts: AtomicUsize,
    pub attempt_times: Mutex<Vec<Instant>>,
}

pub struct Sink {
    pub ip: Ipv4Addr,
    pub state: Arc<SinkState>,
}

impl Sink {
    pub fn got(&self) -> Vec<Got> {
        self.state.got.lock().expect("lock").clone()
    }
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }
}

/// Binds one sink per configuration on 127.0.0.2, 127.0.0.3 … sharing one port.
pub async fn sinks(confs: Vec<SinkConf>) -> (u16, Vec<Sink>) {
    for _ in 0..50 {
        let port = free_port().await;
        if let Some(s) = sinks_on(port, confs.clone()).await {
            return (port, s);
        }
    }
    panic!("no common free port on 127.0.0.2..");
}

/// A port free on 127.0.0.2 at the moment (nothing listens on it afterwards).
pub async fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.2:0")
        .await
        .expect("bind 127.0.0.2");
    l.local_addr().expect("addr").port()
}

/// Sinks on 127.0.0.2, 127.0.0.3 … at `port`; None when the port is taken.
pub async fn sinks_on(port: u16, confs: Vec<SinkConf>) -> Option<Vec<Sink>> {
    let mut listeners = Vec::new();
    for i in 0..confs.len() {
        listeners.push(
            TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2 + i as u8), port))
                .await
                .ok()?,
        );
    }
    let mut out = Vec::new();
    for (i, (l, conf)) in listeners.into_iter().zip(confs).enumerate() {
        let state = Arc::new(SinkState::default());
        tokio::spawn(accept(l, conf, state.clone()));
        out.push(Sink {
            ip: Ipv4Addr::new(127, 0, 0, 2 + i as u8),
            state,
        });
    }
    Some(out)
}

async fn accept(l: TcpListener, conf: SinkConf, state: Arc<SinkState>) {
    loop {
        let Ok((tcp, _)) = l.accept().await else {
            return;
        };
        let n = state.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let (conf, state) = (conf.clone(), state.clone());
        tokio::spawn(async move {
            let _ = session(Box::new(tcp), conf, state, n).await;
        });
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn read_line(io: &mut Box<dyn Io>, buf: &mut Vec<u8>) -> std::io::Result<Option<String>> {
    loop {
        if let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..p + 2).collect();
            return Ok(Some(String::from_utf8_lossy(&line[..p]).into_owned()));
        }
        let mut chunk = [0u8; 8192];
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn session(
    mut io: Box<dyn Io>,
    conf: SinkConf,
    state: Arc<SinkState>,
    connection: usize,
) -> std::io::Result<()> {
    let mut tls = false;
    if conf.implicit_tls
        && let Some(cfg) = conf.tls.clone()
    {
        io = Box::new(tokio_rustls::TlsAcceptor::from(cfg).accept(io).await?);
        tls = true;
    }
    io.write_all(b"220 sink ESMTP\r\n").await?;
    let mut buf = Vec::new();
    let mut authed = false;
    let mut from = String::new();
    let mut mail_params = String::new();
    let mut rcpts: Vec<String> = Vec::new();
    while let Some(line) = read_line(&mut io, &mut buf).await? {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            let mut r = String::from("250-sink\r\n250-PIPELINING\r\n250-SIZE 10000000\r\n");
            if !conf.seven_bit {
                r.push_str("250-8BITMIME\r\n");
            }
            if conf.tls.is_some() && !tls {
                r.push_str("250-STARTTLS\r\n");
            }
            if conf.auth_token.is_some() {
                r.push_str("250-AUTH PLAIN\r\n");
            }
            if conf.chunking {
                r.push_str("250-CHUNKING\r\n");
            }
            r.push_str("250 ENHANCEDSTATUSCODES\r\n");
            io.write_all(r.as_bytes()).await?;
        } else if upper == "STARTTLS" {
            let Some(cfg) = conf.tls.clone() else {
                io.write_all(b"502 no\r\n").await?;
                continue;
            };
            io.write_all(b"220 go\r\n").await?;
            let stream = tokio_rustls::TlsAcceptor::from(cfg).accept(io).await?;
            io = Box::new(stream);
            tls = true;
            buf.clear();
        } else if upper.starts_with("AUTH PLAIN ") {
            let want = conf.auth_token.clone().unwrap_or_default();
            if line.get(11..) == Some(want.as_str()) {
                authed = true;
                io.write_all(b"235 2.7.0 ok\r\n").await?;
            } else {
                io.write_all(b"535 5.7.8 bad\r\n").await?;
            }
        } else if upper.starts_with("MAIL FROM:") {
            if conf.auth_token.is_some() && !authed {
                io.write_all(b"530 5.7.0 auth first\r\n").await?;
                continue;
            }
            let (address, params) = line[10..].split_once('>').unwrap_or((&line[10..], ""));
            from = address.trim_start_matches('<').to_string();
            mail_params = params.trim().to_string();
            rcpts.clear();
            io.write_all(b"250 2.1.0 ok\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            let to = line[8..]
                .split('>')
                .next()
                .unwrap_or("")
                .trim_start_matches('<')
                .to_string();
            if conf.reject.iter().any(|r| r.eq_ignore_ascii_case(&to)) {
                io.write_all(b"550 5.1.1 no such user here\r\n").await?;
            } else {
                rcpts.push(to);
                io.write_all(b"250 2.1.5 ok\r\n").await?;
            }
        } else if upper == "DATA" {
            if rcpts.is_empty() {
                io.write_all(b"554 5.5.1 no valid recipients\r\n").await?;
                continue;
            }
            io.write_all(b"354 go\r\n").await?;
            let attempt = state.attempts.fetch_add(1, Ordering::SeqCst);
            state
                .attempt_times
                .lock()
                .expect("lock")
                .push(Instant::now());
            if attempt < conf.drop_first {
                // Read a little of the message, then vanish.
                let _ = read_line(&mut io, &mut buf).await?;
                return Ok(());
            }
            let mut data = Vec::new();
            loop {
                let Some(l) = read_line(&mut io, &mut buf).await? else {
                    return Ok(());
                };
                if l == "." {
                    break;
                }
                let l = l.strip_prefix('.').map_or(l.as_str(), |s| s);
                data.extend_from_slice(l.as_bytes());
                data.extend_from_slice(b"\r\n");
            }
            if attempt < conf.drop_first + conf.temp_fail_first {
                io.write_all(b"451 4.3.0 try again later\r\n").await?;
            } else {
                state.got.lock().expect("lock").push(Got {
                    from: from.clone(),
                    rcpts: rcpts.clone(),
                    data,
                    tls,
                    authed,
                    at: Instant::now(),
                    connection,
                    bdat: false,
                    mail_params: mail_params.clone(),
                });
                io.write_all(b"250 2.0.0 queued\r\n").await?;
            }
        } else if conf.chunking && upper.starts_with("BDAT ") {
            let mut words = upper.split_whitespace().skip(1);
            let n: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let last = words.next() == Some("LAST");
            while buf.len() < n {
                let mut chunk = [0u8; 8192];
                let got = io.read(&mut chunk).await?;
                if got == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..got]);
            }
            let data: Vec<u8> = buf.drain(..n).collect();
            if !last {
                io.write_all(b"500 only BDAT LAST here\r\n").await?;
                continue;
            }
            state.attempts.fetch_add(1, Ordering::SeqCst);
            state.got.lock().expect("lock").push(Got {
                from: from.clone(),
                rcpts: rcpts.clone(),
                data,
                tls,
                authed,
                at: Instant::now(),
                connection,
                bdat: true,
                mail_params: mail_params.clone(),
            });
            io.write_all(b"250 2.0.0 queued\r\n").await?;
        } else if upper == "RSET" {
            rcpts.clear();
            io.write_all(b"250 ok\r\n").await?;
        } else if upper == "QUIT" {
            io.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            io.write_all(b"250 ok\r\n").await?;
        }
    }
    Ok(())
}

/// A self-signed TLS server configuration for `name`.
pub fn tls_config(name: &str) -> Arc<rustls::ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("cert");
    let cert = ck.cert.der().clone();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server config"),
    )
}

// ---- A submission client ----

async fn reply(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let mut out = String::new();
    loop {
        while let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..p + 2).collect();
            let line = String::from_utf8_lossy(&line[..p]).into_owned();
            out.push_str(&line);
            out.push('\n');
            if line.as_bytes().get(3) != Some(&b'-') {
                return out;
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut chunk))
            .await
            .expect("reply within 30 s")
            .expect("read");
        assert!(n > 0, "server closed; so far {out:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends one message (AUTH PLAIN as `user` when given) and returns the replies to
/// each RCPT and to the end of data ("" when DATA was not reached).
pub async fn send(
    addr: SocketAddr,
    user: Option<(&str, &str)>,
    from: &str,
    rcpts: &[&str],
    message: &str,
) -> (Vec<String>, String) {
    use base64::Engine;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut buf = Vec::new();
    reply(&mut s, &mut buf).await;
    s.write_all(b"EHLO client.test\r\n").await.expect("w");
    reply(&mut s, &mut buf).await;
    if let Some((u, p)) = user {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{u}\0{p}"));
        s.write_all(format!("AUTH PLAIN {token}\r\n").as_bytes())
            .await
            .expect("w");
        let r = reply(&mut s, &mut buf).await;
        assert!(r.starts_with("235"), "{r}");
    }
    s.write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes())
        .await
        .expect("w");
    let r = reply(&mut s, &mut buf).await;
    assert!(r.starts_with("250"), "MAIL: {r}");
    let mut rr = Vec::new();
    for r in rcpts {
        // "addr PARAMS" sends RCPT parameters too.
        let (addr, params) = r.split_once(' ').map_or((*r, ""), |(a, p)| (a, p));
        let params = if params.is_empty() {
            String::new()
        } else {
            format!(" {params}")
        };
        s.write_all(format!("RCPT TO:<{addr}>{params}\r\n").as_bytes())
            .await
            .expect("w");
        rr.push(reply(&mut s, &mut buf).await);
    }
    if !rr.iter().any(|r| r.starts_with("250")) {
        return (rr, String::new());
    }
    s.write_all(b"DATA\r\n").await.expect("w");
    let r = reply(&mut s, &mut buf).await;
    assert!(r.starts_with("354"), "DATA: {r}");
    // CRLF line ends, dot-stuffed (RFC 5321 §4.5.2).
    let body: String = message
        .replace("\r\n", "\n")
        .split_inclusive('\n')
        .map(|l| {
            let l = l.replace('\n', "\r\n");
            if l.starts_with('.') {
                format!(".{l}")
            } else {
                l
            }
        })
        .collect();
    s.write_all(body.as_bytes()).await.expect("w");
    s.write_all(b".\r\n").await.expect("w");
    let end = reply(&mut s, &mut buf).await;
    s.write_all(b"QUIT\r\n").await.expect("w");
    (rr, end)
}

/// Waits (deadline) until `f` holds.
pub async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
