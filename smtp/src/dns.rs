//! The resolver settings both DNS users share: the SPF/DKIM/DMARC checks on the MX
//! listener (`auth_checks`) and the relay's MX routing (`queue::route`).

use std::net::SocketAddr;
use std::time::Duration;

use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolverConfig, ResolverOpts,
};
use mailyard_common::config::Dns;
use tokio::time::Instant;

/// `[dns] nameservers` (each asked over UDP, then TCP for truncated answers) or, when
/// none are set, the system's resolver configuration; each query waits `timeout` and
/// is tried `attempts` times per server.
pub(crate) fn resolver_config(
    dns: &Dns,
    timeout: Duration,
    attempts: usize,
) -> Result<(ResolverConfig, ResolverOpts), String> {
    let (config, mut opts) = if dns.nameservers.is_empty() {
        mail_auth::hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("reading the system resolver configuration: {e}"))?
    } else {
        let servers = dns
            .nameservers
            .iter()
            .map(|a| {
                let mut udp = ConnectionConfig::udp();
                udp.port = a.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = a.port();
                NameServerConfig::new(a.ip(), true, vec![udp, tcp])
            })
            .collect();
        (
            ResolverConfig::from_name_servers(servers),
            ResolverOpts::default(),
        )
    };
    opts.timeout = timeout;
    opts.attempts = attempts;
    Ok((config, opts))
}

/// The UDP endpoints of a resolver configuration (each server's UDP connections).
pub(crate) fn udp_servers(config: &ResolverConfig) -> Vec<SocketAddr> {
    config
        .name_servers()
        .iter()
        .flat_map(|ns| {
            ns.connections
                .iter()
                .filter(|c| matches!(c.protocol, ProtocolConfig::Udp))
                .map(move |c| SocketAddr::new(ns.ip, c.port))
        })
        .collect()
}

/// How long [`Health`] waits for a nameserver to answer its probe. A server that
/// refuses (ICMP port unreachable, seen on a connected UDP socket) fails at once; one
/// that answers nothing fails after this long.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a failed probe is remembered: until then, callers skip DNS at once
/// (the checks report `temperror`) instead of each waiting out the resolver's timeouts.
pub(crate) const DOWN_HOLD: Duration = Duration::from_secs(30);

/// How long a good probe is trusted before the next message probes again.
pub(crate) const UP_HOLD: Duration = Duration::from_secs(60);

/// Whether the resolver's nameservers answer at all, probed with one cheap query
/// (RFC 1035 §4.1: the root's NS records, which a recursive resolver has cached) and
/// remembered for [`UP_HOLD`] / [`DOWN_HOLD`]. It never judges answers for one domain:
/// a slow or broken zone must not switch the checks off for everyone else's mail.
pub(crate) struct Health {
    servers: Vec<SocketAddr>,
    /// When the last probe ended and whether some server answered it.
    last: std::sync::Mutex<Option<(Instant, bool)>>,
}

impl Health {
    /// Probes `servers` (UDP) when asked.
    pub(crate) fn new(servers: Vec<SocketAddr>) -> Self {
        Health {
            servers,
            last: std::sync::Mutex::new(None),
        }
    }

    /// Whether a nameserver answered the last probe; probes again (at most
    /// [`PROBE_TIMEOUT`]) when that is older than its hold time.
    pub(crate) async fn usable(&self) -> bool {
        let now = Instant::now();
        if let Ok(last) = self.last.lock()
            && let Some((at, up)) = *last
        {
            let hold = if up { UP_HOLD } else { DOWN_HOLD };
            if now.duration_since(at) < hold {
                return up;
            }
        }
        let up = probe_any(&self.servers).await;
        if !up {
            tracing::warn!(servers = ?self.servers, "no DNS server answers; skipping DNS checks for {} s", DOWN_HOLD.as_secs());
        }
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), up));
        }
        up
    }
}

/// Whether any of `servers` answers a probe within [`PROBE_TIMEOUT`] (all at once).
async fn probe_any(servers: &[SocketAddr]) -> bool {
    let mut probes: tokio::task::JoinSet<bool> = servers
        .iter()
        .map(|&s| async move {
            tokio::time::timeout(PROBE_TIMEOUT, probe(s))
                .await
                .is_ok_and(|r| r.is_ok())
        })
        .collect();
    while let Some(r) = probes.join_next().await {
        if r.unwrap_or(false) {
            return true;
        }
    }
    false
}

/// One probe: `. IN NS` with recursion desired over a connected UDP socket, so that
/// an ICMP port unreachable comes back as an error instead of silence. Any reply with
/// our id counts, whatever its rcode: the server is there.
async fn probe(server: SocketAddr) -> std::io::Result<()> {
    let local: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    let id = u16::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() & 0xffff),
    )
    .unwrap_or(0)
    .to_be_bytes();
    // Header: id, RD, QDCOUNT 1; question: root name, type NS (2), class IN (1).
    let query = [
        id[0], id[1], 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1,
    ];
    socket.send(&query).await?;
    let mut buf = [0u8; 512];
    loop {
        let n = socket.recv(&mut buf).await?;
        if n >= 2 && buf[..2] == id {
            return Ok(());
        }
    }
}
