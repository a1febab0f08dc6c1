//! Where mail for a domain goes: its MX hosts in preference order (RFC 5321 §5.1),
//! randomised among equal preferences, the domain itself when it has no MX (the
//! implicit MX), nowhere for a null MX (RFC 7505); then each host's addresses.
//! Lookups go to `[dns] nameservers` (or the system resolver).

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::hickory_resolver::TokioResolver;
use mail_auth::hickory_resolver::net::NetError;
use mail_auth::hickory_resolver::net::runtime::TokioRuntimeProvider;
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::hickory_resolver::proto::rr::RData;
use mailyard_common::config::Dns;

/// One DNS query's upper bound.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a domain or host could not be routed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteError {
    /// Never deliverable (no such domain, null MX): bounce now. The text is a reply
    /// with an enhanced code, as it goes into the DSN.
    Permanent(String),
    /// Try again later (DNS trouble).
    Temporary(String),
}

/// The resolver for outbound delivery.
pub(crate) struct Router {
    resolver: Result<TokioResolver, String>,
}

impl Router {
    /// A router on `[dns] nameservers` (UDP then TCP) or the system configuration.
    pub(crate) fn new(dns: &Dns) -> Router {
        Router {
            resolver: build(dns),
        }
    }

    fn resolver(&self) -> Result<&TokioResolver, RouteError> {
        self.resolver
            .as_ref()
            .map_err(|e| RouteError::Temporary(format!("451 4.4.3 no resolver: {e}")))
    }

    /// The hosts to try for `domain`, best first. RFC 5321 §5.1: MX records sorted
    /// by preference, random among equals; no MX (but the domain exists): the domain
    /// itself. RFC 7505: a null MX ("." at preference 0) means no mail at all.
    pub(crate) async fn mx_hosts(&self, domain: &str) -> Result<Vec<String>, RouteError> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match self.resolver()?.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                // CNAMEs in the answer were followed by the resolver; keep the MXs.
                let mut mx: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(m) => Some((m.preference, m.exchange.to_ascii())),
                        _ => None,
                    })
                    .collect();
                if mx.is_empty() {
                    return Ok(vec![domain.to_string()]);
                }
                if mx.iter().any(|(_, h)| h == "." || h.is_empty()) {
                    return Err(RouteError::Permanent(format!(
                        "556 5.1.10 {domain} does not accept mail (null MX, RFC 7505)"
                    )));
                }
                shuffle(&mut mx);
                mx.sort_by_key(|(p, _)| *p);
                Ok(mx
                    .into_iter()
                    .map(|(_, h)| h.trim_end_matches('.').to_string())
                    .collect())
            }
            Err(e) => match no_records(&e) {
                Some(ResponseCode::NXDomain) => Err(RouteError::Permanent(format!(
                    "550 5.1.2 domain {domain} does not exist"
                ))),
                Some(_) => Ok(vec![domain.to_string()]),
                None => Err(RouteError::Temporary(format!(
                    "451 4.4.3 MX lookup for {domain} failed: {e}"
                ))),
            },
        }
    }

    /// The addresses of `host` (A and AAAA; an IP literal as it is).
    pub(crate) async fn addrs(&self, host: &str) -> Result<Vec<IpAddr>, RouteError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.trim_start_matches("IPv6:").parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        match self.resolver()?.lookup_ip(fqdn.as_str()).await {
            Ok(l) => {
                let ips: Vec<IpAddr> = l.iter().collect();
                if ips.is_empty() {
                    Err(RouteError::Temporary(format!(
                        "451 4.4.4 {host} has no address"
                    )))
                } else {
                    Ok(ips)
                }
            }
            Err(e) => match no_records(&e) {
                Some(_) => Err(RouteError::Temporary(format!(
                    "451 4.4.4 {host} has no address"
                ))),
                None => Err(RouteError::Temporary(format!(
                    "451 4.4.3 address lookup for {host} failed: {e}"
                ))),
            },
        }
    }
}

/// The response code of a "no records" answer (NXDOMAIN or NODATA); None for other
/// errors (timeouts, SERVFAIL), which are temporary.
fn no_records(e: &NetError) -> Option<ResponseCode> {
    use mail_auth::hickory_resolver::net::DnsError;
    match e {
        NetError::Dns(DnsError::NoRecordsFound(n)) => Some(n.response_code),
        _ => None,
    }
}

/// Fisher–Yates with a clock-seeded xorshift: randomness enough to spread load
/// among equal MX preferences, not for anything secret.
fn shuffle<T>(v: &mut [T]) {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
        | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

fn build(dns: &Dns) -> Result<TokioResolver, String> {
    let (config, opts) = crate::dns::resolver_config(dns, QUERY_TIMEOUT, 2)?;
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|e| format!("building the resolver: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_keeps_every_element() {
        let mut v: Vec<u32> = (0..20).collect();
        shuffle(&mut v);
        v.sort_unstable();
        assert_eq!(v, (0..20).collect::<Vec<_>>());
    }
}
