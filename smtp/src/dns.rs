//! The resolver settings both DNS users share: the SPF/DKIM/DMARC checks on the MX
//! listener (`auth_checks`) and the relay's MX routing (`queue::route`).

use std::time::Duration;

use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mailyard_common::config::Dns;

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
