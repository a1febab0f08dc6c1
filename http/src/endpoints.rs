//! What clients are told to connect to: the public host name and the ports of IMAP
//! and submission, from `[autoconfig]` with defaults from `[listen]` and `hostname`.

use std::net::SocketAddr;

use mailyard_common::Config;
use mailyard_common::config::Autoconfig;

/// The servers a mail client should use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Host name of the IMAP and SMTP servers.
    pub hostname: String,
    /// IMAP over implicit TLS (RFC 8314 §3.3), e.g. 993.
    pub imaps: Option<u16>,
    /// IMAP with STARTTLS (RFC 9051 §6.2.1), e.g. 143.
    pub imap: Option<u16>,
    /// Submission over implicit TLS (RFC 8314 §3.3), e.g. 465.
    pub submissions: Option<u16>,
    /// Submission with STARTTLS (RFC 6409, RFC 3207), e.g. 587.
    pub submission: Option<u16>,
}

impl Endpoints {
    /// From the configuration: `[autoconfig]` keys, else the listeners' ports, as
    /// bound when `bound` names the listener (a configured port 0 becomes the real one).
    pub fn from_config(config: &Config, bound: &[(&'static str, SocketAddr)]) -> Endpoints {
        let a = &config.autoconfig;
        let l = &config.listen;
        let listener = |name: &str, configured: Option<SocketAddr>| {
            configured.map(|c| {
                bound
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(c, |(_, b)| *b)
            })
        };
        Endpoints {
            hostname: a.public_hostname(&config.hostname).to_string(),
            imaps: Autoconfig::port(a.imaps, listener("imaps", l.imaps)),
            imap: Autoconfig::port(a.imap, listener("imap", l.imap)),
            submissions: Autoconfig::port(a.submissions, listener("submissions", l.submissions)),
            submission: Autoconfig::port(a.submission, listener("submission", l.submission)),
        }
    }

    /// IMAP servers, implicit TLS first (RFC 8314 §3 prefers it): (port, implicit TLS).
    pub fn incoming(&self) -> Vec<(u16, bool)> {
        [(self.imaps, true), (self.imap, false)]
            .into_iter()
            .filter_map(|(p, tls)| p.map(|p| (p, tls)))
            .collect()
    }

    /// SMTP submission servers, implicit TLS first: (port, implicit TLS).
    pub fn outgoing(&self) -> Vec<(u16, bool)> {
        [(self.submissions, true), (self.submission, false)]
            .into_iter()
            .filter_map(|(p, tls)| p.map(|p| (p, tls)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_bound_listeners() {
        let config = Config::parse(
            "hostname = \"mx.example.com\"\n[listen]\nimap = \"127.0.0.1:0\"\nimaps = \"\"\n\
             submission = \"0.0.0.0:587\"\nsubmissions = \"0.0.0.0:465\"\n[autoconfig]\n\
             submissions = 0\n",
            "t",
        )
        .expect("config");
        let bound = [("imap", "127.0.0.1:40143".parse().expect("addr"))];
        let e = Endpoints::from_config(&config, &bound);
        assert_eq!(
            e,
            Endpoints {
                hostname: "mx.example.com".into(),
                imaps: None,
                imap: Some(40143),
                submissions: None,
                submission: Some(587),
            }
        );
        assert_eq!(e.incoming(), [(40143, false)]);
        assert_eq!(e.outgoing(), [(587, false)]);
    }
}
