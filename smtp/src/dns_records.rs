//! The DNS records a mail domain served by this server should publish (`mailyard dns
//! DOMAIN`), rendered for a zone file, and checked against what the DNS answers
//! (`mailyard dns check DOMAIN`).
//!
//! The records: MX (RFC 5321 §5.1) to `hostname`; the host's A record (its public
//! address when a listener is bound to one, else a placeholder line to fill in); SPF
//! (RFC 7208) `v=spf1 mx -all`; every DKIM key of the domain (RFC 6376 §3.6.2); DMARC
//! (RFC 7489 §6.1); `autoconfig` and `autodiscover` names (Thunderbird, Outlook) as
//! CNAMEs to `hostname`; SRV records for mail clients (RFC 6186 §3: `_submission`,
//! `_imap`, `_pop3`; RFC 8314 §5.1: `_submissions`, `_imaps`, `_pop3s`) on the
//! configured listeners' ports, with target "." for a service not offered (RFC 6186
//! §4, RFC 2782). MTA-STS and TLS-RPT have no configuration here, so none are printed.
//!
//! The rendering is pure; `check` resolves through `[dns] nameservers` (or the system
//! resolver), as the relay and the sender checks do.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use mail_auth::hickory_resolver::TokioResolver;
use mail_auth::hickory_resolver::net::runtime::TokioRuntimeProvider;
use mail_auth::hickory_resolver::proto::rr::{RData, RecordType};
use mailyard_common::Config;

/// TTL written on every record (one hour: short enough to fix a mistake quickly).
pub const TTL: u32 = 3600;
/// One DNS query's upper bound in `check`.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest character-string in a TXT record (RFC 1035 §3.3): longer values are split
/// into several strings, which verifiers join (RFC 6376 §3.6.2.2, RFC 7208 §3.3).
pub const TXT_CHUNK: usize = 255;

/// A record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    /// MX preference and exchange (a host name, no trailing dot).
    Mx(u16, String),
    /// An IPv4 address; None: unknown, the admin fills it in.
    A(Option<Ipv4Addr>),
    /// TXT text (joined).
    Txt(String),
    /// CNAME target.
    Cname(String),
    /// SRV priority, weight, port, target ("." for "not offered").
    Srv(u16, u16, u16, String),
}

impl Rdata {
    fn kind(&self) -> &'static str {
        match self {
            Rdata::Mx(..) => "MX",
            Rdata::A(_) => "A",
            Rdata::Txt(_) => "TXT",
            Rdata::Cname(_) => "CNAME",
            Rdata::Srv(..) => "SRV",
        }
    }

    fn record_type(&self) -> RecordType {
        match self {
            Rdata::Mx(..) => RecordType::MX,
            Rdata::A(_) => RecordType::A,
            Rdata::Txt(_) => RecordType::TXT,
            Rdata::Cname(_) => RecordType::CNAME,
            Rdata::Srv(..) => RecordType::SRV,
        }
    }

    /// The data as a zone file writes it.
    fn zone_text(&self) -> String {
        match self {
            Rdata::Mx(p, host) => format!("{p} {}", fqdn(host)),
            Rdata::A(Some(ip)) => ip.to_string(),
            Rdata::A(None) => "<public IPv4 address of this server>".into(),
            Rdata::Txt(text) => txt_strings(text),
            Rdata::Cname(target) => fqdn(target),
            Rdata::Srv(p, w, port, target) => format!("{p} {w} {port} {}", fqdn(target)),
        }
    }
}

/// One record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name (no trailing dot).
    pub name: String,
    /// Its data.
    pub data: Rdata,
    /// Why it is there, printed above it.
    pub comment: Option<String>,
}

/// `name.` (the root stays `.`).
fn fqdn(name: &str) -> String {
    let n = name.trim_end_matches('.');
    if n.is_empty() {
        ".".into()
    } else {
        format!("{n}.")
    }
}

/// TXT text as quoted character-strings of at most [`TXT_CHUNK`] octets each.
fn txt_strings(text: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() || parts.is_empty() {
        let mut cut = rest.len().min(TXT_CHUNK);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (chunk, tail) = rest.split_at(cut);
        parts.push(format!(
            "\"{}\"",
            chunk.replace('\\', "\\\\").replace('"', "\\\"")
        ));
        rest = tail;
    }
    parts.join(" ")
}

/// Whether `ip` is reachable from the internet (not loopback, private, link-local,
/// unspecified, shared or documentation space).
fn is_public(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || (o[0] == 100 && (64..128).contains(&o[1])))
}

/// The records for `domain` under `config` (pure). `dkim` is each key's selector and
/// TXT value (`queue::dkim::public_value`).
pub fn records(config: &Config, domain: &str, dkim: &[(String, String)]) -> Vec<Record> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let host = config.hostname.trim_end_matches('.').to_ascii_lowercase();
    let rec = |name: String, data: Rdata, comment: Option<&str>| Record {
        name,
        data,
        comment: comment.map(str::to_string),
    };
    let mut out = vec![rec(
        domain.clone(),
        Rdata::Mx(10, host.clone()),
        Some("Mail for the domain goes to this server (RFC 5321 section 5.1)."),
    )];
    let public = config
        .listeners()
        .into_iter()
        .find_map(|(_, a)| match a.ip() {
            IpAddr::V4(v4) if is_public(v4) => Some(v4),
            _ => None,
        });
    out.push(rec(
        host.clone(),
        Rdata::A(public),
        Some(if public.is_some() {
            "The server's address (from [listen]); add an AAAA record too if it has IPv6."
        } else {
            "The server's address: fill in its public IPv4 address (and an AAAA record for IPv6)."
        }),
    ));
    out.push(rec(
        domain.clone(),
        Rdata::Txt("v=spf1 mx -all".into()),
        Some("SPF (RFC 7208): only the domain's MX hosts send its mail."),
    ));
    for (selector, value) in dkim {
        out.push(rec(
            format!("{selector}._domainkey.{domain}"),
            Rdata::Txt(value.clone()),
            Some("DKIM (RFC 6376): the public key outgoing mail is signed with."),
        ));
    }
    out.push(rec(
        format!("_dmarc.{domain}"),
        Rdata::Txt(format!(
            "v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}"
        )),
        Some(
            "DMARC (RFC 7489): p=quarantine to start with: mail forged in the domain's name \
             goes to the Junk folder rather than bouncing, and the daily reports to \
             postmaster (rua) show who sends as the domain. Raise to p=reject once they \
             show only your own servers.",
        ),
    ));
    out.push(rec(
        format!("autoconfig.{domain}"),
        Rdata::Cname(host.clone()),
        Some("Thunderbird's autoconfig and Outlook's autodiscover look here."),
    ));
    out.push(rec(
        format!("autodiscover.{domain}"),
        Rdata::Cname(host.clone()),
        None,
    ));
    let port = |a: Option<std::net::SocketAddr>| a.map(|a| a.port());
    let l = &config.listen;
    let services: [(&str, Option<u16>); 6] = [
        ("_submission._tcp", port(l.submission)),
        ("_submissions._tcp", port(l.submissions)),
        ("_imap._tcp", port(l.imap)),
        ("_imaps._tcp", port(l.imaps)),
        ("_pop3._tcp", port(l.pop3)),
        ("_pop3s._tcp", port(l.pop3s)),
    ];
    for (i, (service, port)) in services.into_iter().enumerate() {
        // RFC 6186 §3.4: the priority orders IMAP and POP3 for a client that can
        // use both; IMAP first (POP3 downloads and deletes).
        let priority = if service.starts_with("_pop3") { 10 } else { 0 };
        let data = match port {
            Some(p) => Rdata::Srv(priority, 1, p, host.clone()),
            None => Rdata::Srv(0, 0, 0, ".".into()),
        };
        out.push(rec(
            format!("{service}.{domain}"),
            data,
            (i == 0).then_some(
                "Where mail clients find each service (RFC 6186, RFC 8314); target \".\": \
                 not offered.",
            ),
        ));
    }
    out
}

/// The records as zone file lines, each after its comment. The A placeholder is
/// commented out, so the text pastes into a zone as it is.
pub fn render(records: &[Record]) -> String {
    let width = records
        .iter()
        .map(|r| fqdn(&r.name).len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for r in records {
        if let Some(c) = &r.comment {
            out.push('\n');
            for line in wrap(c, 86) {
                out.push_str(&format!("; {line}\n"));
            }
        }
        let line = format!(
            "{:width$} {TTL} IN {:5} {}",
            fqdn(&r.name),
            r.data.kind(),
            r.data.zone_text()
        );
        if r.data == Rdata::A(None) {
            out.push_str(&format!(";{line}   ; <- FILL IN, then remove the ';'\n"));
        } else {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.len() + 1 + word.len() <= width => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// What the DNS says about one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Published as it should be.
    Ok,
    /// Nothing there.
    Missing,
    /// Something else there: what was found.
    Wrong(String),
    /// The lookup failed (timeout, SERVFAIL): what happened.
    Failed(String),
}

/// Compares `record` with what the DNS returned for its name and type (`found`, as
/// zone file data; TXT strings joined). Pure.
pub fn judge(record: &Record, found: &[Rdata]) -> Status {
    let same_name = |a: &str, b: &str| {
        a.trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.'))
    };
    let norm = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let ok = match &record.data {
        Rdata::Mx(p, h) => found
            .iter()
            .any(|f| matches!(f, Rdata::Mx(fp, fh) if fp == p && same_name(fh, h))),
        Rdata::A(None) => found.iter().any(|f| matches!(f, Rdata::A(_))),
        Rdata::A(Some(ip)) => found.contains(&Rdata::A(Some(*ip))),
        Rdata::Txt(want) if want.starts_with("v=DMARC1") => found.iter().any(|f| {
            // Any DMARC policy is the domain owner's choice; it must be one.
            matches!(f, Rdata::Txt(t) if t.starts_with("v=DMARC1") && t.split(';').any(|tag| tag.trim().starts_with("p=")))
        }),
        Rdata::Txt(want) => {
            let key = |t: &str| {
                // DKIM: the same key (p=), whatever the spacing or tag order.
                t.split(';')
                    .find_map(|tag| tag.trim().strip_prefix("p="))
                    .map(|p| p.split_whitespace().collect::<String>())
            };
            found.iter().any(|f| match f {
                Rdata::Txt(t) if want.starts_with("v=DKIM1") => key(t) == key(want),
                Rdata::Txt(t) => norm(t) == norm(want),
                _ => false,
            })
        }
        Rdata::Cname(target) => found
            .iter()
            .any(|f| matches!(f, Rdata::Cname(t) if same_name(t, target))),
        Rdata::Srv(_, _, port, target) => found.iter().any(|f| {
            matches!(f, Rdata::Srv(_, _, fport, t) if same_name(t, target) && (fport == port || target == "."))
        }),
    };
    // Only records of the family asked about count as "found" (an SPF check ignores
    // the domain's other TXT records).
    let relevant: Vec<&Rdata> = found
        .iter()
        .filter(|f| match (&record.data, f) {
            (Rdata::Txt(w), Rdata::Txt(t)) if w.starts_with("v=spf1") => t.starts_with("v=spf1"),
            (Rdata::Txt(w), Rdata::Txt(t)) if w.starts_with("v=DMARC1") => {
                t.starts_with("v=DMARC1")
            }
            _ => true,
        })
        .collect();
    if ok {
        Status::Ok
    } else if relevant.is_empty() {
        Status::Missing
    } else {
        Status::Wrong(
            relevant
                .iter()
                .map(|f| f.zone_text())
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

/// Looks every record up through `[dns]` and judges it.
pub async fn check(config: &Config, records: &[Record]) -> Result<Vec<Status>, String> {
    let (rc, opts) = crate::dns::resolver_config(&config.dns, QUERY_TIMEOUT, 2)?;
    let resolver = TokioResolver::builder_with_config(rc, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|e| format!("building the resolver: {e}"))?;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let ty = r.data.record_type();
        let status = match resolver.lookup(fqdn(&r.name).as_str(), ty).await {
            Ok(lookup) => {
                let found: Vec<Rdata> = lookup
                    .answers()
                    .iter()
                    .filter(|a| a.record_type() == ty)
                    .filter_map(|a| from_rdata(&a.data))
                    .collect();
                judge(r, &found)
            }
            Err(e) => {
                use mail_auth::hickory_resolver::net::{DnsError, NetError};
                match e {
                    NetError::Dns(DnsError::NoRecordsFound(_)) => judge(r, &[]),
                    other => Status::Failed(other.to_string()),
                }
            }
        };
        out.push(status);
    }
    Ok(out)
}

fn from_rdata(d: &RData) -> Option<Rdata> {
    Some(match d {
        RData::MX(m) => Rdata::Mx(m.preference, m.exchange.to_ascii()),
        RData::A(a) => Rdata::A(Some(a.0)),
        RData::TXT(t) => Rdata::Txt(
            t.txt_data
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        RData::CNAME(c) => Rdata::Cname(c.0.to_ascii()),
        RData::SRV(s) => Rdata::Srv(s.priority, s.weight, s.port, s.target.to_ascii()),
        _ => return None,
    })
}

/// One line per record for `mailyard dns check`: `ok`/`MISSING`/`WRONG`/`FAILED`, the
/// record, and what was found.
pub fn report(records: &[Record], statuses: &[Status]) -> (String, bool) {
    let mut out = String::new();
    let mut all_ok = true;
    for (r, s) in records.iter().zip(statuses) {
        let what = format!("{} {} {}", fqdn(&r.name), r.data.kind(), r.data.zone_text());
        let line = match s {
            Status::Ok => format!("ok       {what}"),
            Status::Missing => format!("MISSING  {what}"),
            Status::Wrong(found) => format!("WRONG    {what}  (found: {found})"),
            Status::Failed(e) => format!("FAILED   {what}  (lookup failed: {e})"),
        };
        if *s != Status::Ok {
            all_ok = false;
        }
        out.push_str(&line);
        out.push('\n');
    }
    (out, all_ok)
}

/// The DKIM keys of `domain` under `data_dir` as (selector, TXT value); a key that
/// cannot be read is an error naming its file.
pub fn dkim_values(data_dir: &Path, domain: &str) -> Result<Vec<(String, String)>, String> {
    let keys = crate::queue::dkim::keys_of(data_dir, domain)
        .map_err(|e| format!("listing DKIM keys: {e}"))?;
    keys.iter()
        .map(|k| crate::queue::dkim::public_value(k).map(|v| (k.selector.clone(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        Config::parse(&format!("hostname = \"mail.example.com\"\n{extra}"), "test").expect("config")
    }

    const STANDARD: &str = "[listen]\nsmtp = \"0.0.0.0:25\"\nsubmission = \"0.0.0.0:587\"\n\
        submissions = \"0.0.0.0:465\"\nimap = \"0.0.0.0:143\"\nimaps = \"0.0.0.0:993\"\nhttp = \"\"\n";

    #[test]
    fn rendered_records_table() {
        let c = config(STANDARD);
        let dkim = vec![(
            "mailyard".to_string(),
            "v=DKIM1; k=ed25519; p=AAAA".to_string(),
        )];
        let text = render(&records(&c, "Example.COM.", &dkim));
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("; ") && !l.is_empty())
            .collect();
        let want = [
            "example.com. 3600 IN MX    10 mail.example.com.",
            ";mail.example.com. 3600 IN A     <public IPv4 address of this server>   ; <- FILL IN, then remove the ';'",
            "example.com. 3600 IN TXT   \"v=spf1 mx -all\"",
            "mailyard._domainkey.example.com. 3600 IN TXT   \"v=DKIM1; k=ed25519; p=AAAA\"",
            "_dmarc.example.com. 3600 IN TXT   \"v=DMARC1; p=quarantine; rua=mailto:postmaster@example.com\"",
            "autoconfig.example.com. 3600 IN CNAME mail.example.com.",
            "autodiscover.example.com. 3600 IN CNAME mail.example.com.",
            "_submission._tcp.example.com. 3600 IN SRV   0 1 587 mail.example.com.",
            "_submissions._tcp.example.com. 3600 IN SRV   0 1 465 mail.example.com.",
            "_imap._tcp.example.com. 3600 IN SRV   0 1 143 mail.example.com.",
            "_imaps._tcp.example.com. 3600 IN SRV   0 1 993 mail.example.com.",
            "_pop3._tcp.example.com. 3600 IN SRV   0 0 0 .",
            "_pop3s._tcp.example.com. 3600 IN SRV   0 0 0 .",
        ];
        let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(lines.len(), want.len(), "{text}");
        for (got, want) in lines.iter().zip(want) {
            assert_eq!(squeeze(got), squeeze(want), "{text}");
        }
        // With POP3 on: its SRV records, after IMAP in priority (RFC 6186 §3.4).
        let c = config(&format!(
            "{STANDARD}pop3 = \"0.0.0.0:110\"\npop3s = \"0.0.0.0:995\"\n"
        ));
        let text = render(&records(&c, "example.com", &dkim));
        for want in [
            "_pop3._tcp.example.com. 3600 IN SRV 10 1 110 mail.example.com.",
            "_pop3s._tcp.example.com. 3600 IN SRV 10 1 995 mail.example.com.",
        ] {
            assert!(text.lines().any(|l| squeeze(l) == want), "{want}: {text}");
        }
        assert!(text.contains("p=quarantine to start with"), "{text}");
    }

    #[test]
    fn listeners_decide_ports_address_and_offered_services() {
        let c = config(
            "[listen]\nsmtp = \"198.51.100.7:25\"\nsubmission = \"\"\nsubmissions = \"198.51.100.7:4465\"\n\
             imap = \"\"\nimaps = \"127.0.0.1:993\"\nhttp = \"\"\n",
        );
        let r = records(&c, "example.org", &[]);
        let find = |name: &str| r.iter().find(|r| r.name == name).map(|r| r.data.clone());
        // 198.51.100.0/24 is documentation space: not public, so a placeholder.
        assert_eq!(find("mail.example.com"), Some(Rdata::A(None)));
        assert_eq!(
            find("_submission._tcp.example.org"),
            Some(Rdata::Srv(0, 0, 0, ".".into()))
        );
        assert_eq!(
            find("_submissions._tcp.example.org"),
            Some(Rdata::Srv(0, 1, 4465, "mail.example.com".into()))
        );
        assert!(
            !r.iter().any(|r| r.name.contains("_domainkey")),
            "no DKIM keys, no record"
        );
        let c = config("[listen]\nsmtp = \"8.8.4.4:25\"\n");
        let r = records(&c, "example.org", &[]);
        assert!(
            r.iter()
                .any(|r| r.data == Rdata::A(Some(Ipv4Addr::new(8, 8, 4, 4))))
        );
    }

    #[test]
    fn long_txt_is_split_into_strings() {
        let long = "p=".to_string() + &"A".repeat(400);
        let z = Rdata::Txt(long.clone()).zone_text();
        assert_eq!(z, format!("\"{}\" \"{}\"", &long[..255], &long[255..]));
        assert_eq!(
            Rdata::Txt("say \"x\"".into()).zone_text(),
            "\"say \\\"x\\\"\""
        );
    }

    #[test]
    fn judge_table() {
        let rec = |data: Rdata| Record {
            name: "example.com".into(),
            data,
            comment: None,
        };
        let txt = |t: &str| Rdata::Txt(t.into());
        let mx = rec(Rdata::Mx(10, "mail.example.com".into()));
        let spf = rec(txt("v=spf1 mx -all"));
        let dkim = rec(txt("v=DKIM1; k=rsa; p=ABCD"));
        let dmarc = rec(txt(
            "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.com",
        ));
        let srv = rec(Rdata::Srv(0, 1, 993, "mail.example.com".into()));
        let none = rec(Rdata::Srv(0, 0, 0, ".".into()));
        let a = rec(Rdata::A(None));
        let rows: Vec<(&Record, Vec<Rdata>, Status)> = vec![
            (
                &mx,
                vec![Rdata::Mx(10, "MAIL.example.com.".into())],
                Status::Ok,
            ),
            (&mx, vec![], Status::Missing),
            (
                &mx,
                vec![Rdata::Mx(10, "other.example.net".into())],
                Status::Wrong("10 other.example.net.".into()),
            ),
            (
                &spf,
                vec![txt("google-site-verification=x"), txt("v=spf1  mx  -all")],
                Status::Ok,
            ),
            (
                &spf,
                vec![txt("google-site-verification=x")],
                Status::Missing,
            ),
            (
                &spf,
                vec![txt("v=spf1 a ~all")],
                Status::Wrong("\"v=spf1 a ~all\"".into()),
            ),
            (&dkim, vec![txt("v=DKIM1; p=AB CD; k=rsa")], Status::Ok),
            (
                &dkim,
                vec![txt("v=DKIM1; k=rsa; p=OTHER")],
                Status::Wrong("\"v=DKIM1; k=rsa; p=OTHER\"".into()),
            ),
            (&dmarc, vec![txt("v=DMARC1; p=reject")], Status::Ok),
            (
                &dmarc,
                vec![txt("v=DMARC1; rua=x")],
                Status::Wrong("\"v=DMARC1; rua=x\"".into()),
            ),
            (
                &srv,
                vec![Rdata::Srv(5, 0, 993, "mail.example.com.".into())],
                Status::Ok,
            ),
            (
                &srv,
                vec![Rdata::Srv(0, 1, 143, "mail.example.com.".into())],
                Status::Wrong("0 1 143 mail.example.com.".into()),
            ),
            (&none, vec![Rdata::Srv(0, 0, 0, ".".into())], Status::Ok),
            (
                &a,
                vec![Rdata::A(Some(Ipv4Addr::new(192, 0, 2, 1)))],
                Status::Ok,
            ),
            (&a, vec![], Status::Missing),
        ];
        for (r, found, want) in rows {
            assert_eq!(judge(r, &found), want, "{r:?} {found:?}");
        }
    }
}
