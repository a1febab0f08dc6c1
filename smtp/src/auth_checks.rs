//! Sender authentication for mail arriving at the MX listener: SPF (RFC 7208), DKIM
//! (RFC 6376) and DMARC (RFC 7489), checked with the `mail-auth` crate against the
//! resolver of `[dns] nameservers`; the verdict is an `Authentication-Results:` header
//! (RFC 8601) and a [`Disposition`].
//!
//! Invariants:
//! - All DNS work for one message is bounded by `[auth_checks] timeout_seconds`; what
//!   is unknown when it passes is `temperror`, and a `temperror` never rejects.
//! - A resolver whose nameservers do not answer (refused, unreachable) is found out by
//!   one probe and then skipped for `dns::DOWN_HOLD`: messages meanwhile get
//!   `temperror` at once instead of each waiting out the budget (`dns::Health`).
//! - Only a definite DMARC `fail` under `p=reject` refuses a message (when
//!   `dmarc_reject` is on); `p=quarantine` files it into Junk (when
//!   `dmarc_quarantine` is on). Everything else is delivered to the INBOX.
//! - An incoming `Authentication-Results:` field whose authserv-id is our hostname is
//!   removed before delivery ([`remove_forged_results`], RFC 8601 §5), whether or not
//!   the checks run.
//! - The checks see the message exactly as it arrived (before our trace headers and
//!   before forged results are removed), so DKIM signatures verify as sent.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mail_auth::dkim::DkimError;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    DnsError, Error as AuthError, MessageAuthenticator, SpfOutput, SpfResult,
};
use mailyard_common::Config;
use mailyard_common::config::Dns;
use mailyard_store::{Address, FlagSet, IfMissing, Target};
use tokio::time::{Instant, timeout_at};

use crate::dns::Health;

/// How long one DNS query may take before the resolver gives up on it. Several
/// queries (an SPF record with includes, several DKIM keys, the DMARC tree walk) share
/// the per-message budget `[auth_checks] timeout_seconds`.
const QUERY_TIMEOUT: Duration = Duration::from_secs(4);

/// RFC 6376 §6.1: verifiers MAY limit the number of signatures they try, against
/// denial of service (each costs a DNS query and a hash of the signed headers).
const MAX_DKIM_SIGNATURES: usize = 10;

/// The Junk folder a `p=quarantine` failure is filed into (created for every user).
const JUNK: &str = "Junk";

/// What the SMTP session knows about the sender, for SPF and DMARC.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope<'a> {
    /// The client's address (IPv4-mapped addresses as IPv4).
    pub ip: IpAddr,
    /// The EHLO/HELO argument as given.
    pub helo: &'a str,
    /// The MAIL FROM address as `local@domain`; empty for the null reverse-path `<>`.
    pub mail_from: &'a str,
}

/// Where a checked message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// The recipients' INBOX.
    Inbox,
    /// The recipients' Junk folder: DMARC failed under `p=quarantine` (RFC 7489 §6.3).
    Junk,
    /// Refused with `550 5.7.1` and this text: DMARC failed under `p=reject`.
    Reject(String),
}

/// The outcome of the checks on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The complete `Authentication-Results:` field, folded, ending in CRLF.
    pub header: String,
    /// What to do with the message.
    pub disposition: Disposition,
}

/// The checks' configuration and resolver, shared by every MX session.
pub(crate) struct AuthChecker {
    /// The resolver, or why it could not be built (then every check is `temperror`).
    resolver: Result<MessageAuthenticator, String>,
    /// Whether the resolver's nameservers answer at all (probed, remembered briefly).
    health: Health,
    /// Our authserv-id (RFC 8601 §2.5): `hostname`.
    hostname: String,
    enabled: bool,
    dmarc_reject: bool,
    dmarc_quarantine: bool,
    budget: Duration,
}

impl AuthChecker {
    /// Builds the checker from `[auth_checks]` and the resolver from `[dns]`. A resolver
    /// that cannot be built (no usable `/etc/resolv.conf`) is logged once and makes
    /// every result `temperror`: mail is still accepted, and says why it is unchecked.
    pub(crate) fn new(config: &Config) -> Self {
        let (resolver, servers) = if config.auth_checks.enabled {
            match build_resolver(&config.dns) {
                Ok((r, servers)) => (Ok(r), servers),
                Err(e) => (Err(e), Vec::new()),
            }
        } else {
            (Err("auth checks are off".to_string()), Vec::new())
        };
        if config.auth_checks.enabled
            && let Err(e) = &resolver
        {
            tracing::error!(error = %e, "no DNS resolver: SPF, DKIM and DMARC results will be temperror");
        }
        let a = &config.auth_checks;
        AuthChecker {
            resolver,
            health: Health::new(servers),
            hostname: config.hostname.clone(),
            enabled: a.enabled,
            dmarc_reject: a.dmarc_reject,
            dmarc_quarantine: a.dmarc_quarantine,
            budget: Duration::from_secs(a.timeout_seconds),
        }
    }

    /// Whether `[auth_checks] enabled` is on.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Checks SPF (RFC 7208 §2.3–§2.4, §4), every DKIM signature (RFC 6376 §6) and DMARC
    /// (RFC 7489 §6.6) for a message received on the MX listener, within the
    /// configured time budget, and decides its disposition (RFC 7489 §6.3, §6.7).
    /// A resolver whose nameservers do not answer a probe is not asked at all: every
    /// result is `temperror` at once (RFC 7208 §2.6.6, RFC 7489 §6.6.3).
    pub(crate) async fn check(&self, env: &Envelope<'_>, message: &[u8]) -> Verdict {
        let deadline = Instant::now() + self.budget;
        let resolver = match &self.resolver {
            Ok(r) => r,
            Err(e) => return self.unavailable(env, message, e),
        };
        if !timeout_at(deadline, self.health.usable())
            .await
            .unwrap_or(false)
        {
            return self.unavailable(env, message, "no DNS server answers");
        }
        let parsed = AuthenticatedMessage::parse(message).map(|mut m| {
            m.dkim_headers.truncate(MAX_DKIM_SIGNATURES);
            m
        });
        let host = self.hostname.as_str();
        let spf_domain = spf_domain(env);

        // RFC 7208 §2.4: MAIL FROM is the identity; with a null reverse-path, §2.4 says
        // check postmaster@HELO, which is the HELO identity check of §2.3.
        let spf = async {
            let params = if env.mail_from.is_empty() {
                SpfParameters::verify_ehlo(env.ip, env.helo, host)
            } else {
                SpfParameters::verify_mail_from(env.ip, env.helo, host, env.mail_from)
            };
            timeout_at(deadline, resolver.verify_spf(params))
                .await
                .unwrap_or_else(|_| {
                    SpfOutput::new(spf_domain.to_string()).with_result(SpfResult::TempError)
                })
        };
        let dkim = async {
            let Some(m) = &parsed else {
                return Vec::new();
            };
            match timeout_at(deadline, resolver.verify_dkim(m)).await {
                Ok(out) => out
                    .into_iter()
                    .map(|o| body_hash_mismatch_is_fail(m, o))
                    .collect(),
                Err(_) => m
                    .dkim_headers
                    .iter()
                    .map(|h| DkimOutput::temp_err(timed_out()).with_signature(&h.header))
                    .collect(),
            }
        };
        let (spf, dkim) = tokio::join!(spf, dkim);

        let dmarc = match &parsed {
            Some(m) => {
                let params = DmarcParameters::new(m, &dkim, spf_domain, &spf);
                match timeout_at(deadline, resolver.verify_dmarc(params)).await {
                    Ok(out) => out,
                    Err(_) => DmarcOutput::new(author_domain(m))
                        .with_spf_result(DmarcResult::TempError(timed_out()))
                        .with_dkim_result(DmarcResult::TempError(timed_out())),
                }
            }
            None => DmarcOutput::default(),
        };

        let header_from = parsed.as_ref().map_or("", |m| m.from());
        let header = self.header(env, &spf, &dkim, &dmarc, header_from);
        let disposition = self.disposition(&spf, &dkim, &dmarc);
        tracing::info!(
            spf = %spf.result(),
            dkim_signatures = dkim.len(),
            dkim_pass = dkim.iter().filter(|d| d.result() == &DkimResult::Pass).count(),
            dmarc = %dmarc.result(),
            policy = ?dmarc.policy(),
            disposition = ?disposition,
            "sender authentication"
        );
        Verdict {
            header,
            disposition,
        }
    }

    /// Every result `temperror`: the resolver could not be built.
    fn unavailable(&self, env: &Envelope<'_>, message: &[u8], why: &str) -> Verdict {
        tracing::debug!(error = %why, "sender authentication unavailable");
        let err = || AuthError::Dns(DnsError::Resolver(why.to_string()));
        let spf = SpfOutput::new(spf_domain(env).to_string()).with_result(SpfResult::TempError);
        let parsed = AuthenticatedMessage::parse(message);
        let dkim: Vec<DkimOutput<'_>> = parsed.as_ref().map_or_else(Vec::new, |m| {
            m.dkim_headers
                .iter()
                .take(MAX_DKIM_SIGNATURES)
                .map(|h| DkimOutput::temp_err(err()).with_signature(&h.header))
                .collect()
        });
        let dmarc = parsed.as_ref().map_or_else(DmarcOutput::default, |m| {
            DmarcOutput::new(author_domain(m))
                .with_spf_result(DmarcResult::TempError(err()))
                .with_dkim_result(DmarcResult::TempError(err()))
        });
        let header_from = parsed.as_ref().map_or("", |m| m.from());
        Verdict {
            header: self.header(env, &spf, &dkim, &dmarc, header_from),
            disposition: Disposition::Inbox,
        }
    }

    /// The `Authentication-Results:` field, RFC 8601 §2.2: our authserv-id, then one
    /// resinfo per method: `spf` (§2.7.2: `smtp.mailfrom`, or `smtp.helo` for a null
    /// MAIL FROM), `dkim` per signature (§2.7.1: `header.d`/`header.i`, `header.s`,
    /// RFC 6008 `header.b`; `none` when unsigned), `dmarc` (RFC 7489 §11.2:
    /// `header.from`, and `policy.dmarc` when a record was found). The resinfo text comes from mail-auth, which
    /// sanitizes every pvalue and comment.
    fn header(
        &self,
        env: &Envelope<'_>,
        spf: &SpfOutput,
        dkim: &[DkimOutput<'_>],
        dmarc: &DmarcOutput,
        header_from: &str,
    ) -> String {
        let host = self.hostname.as_str();
        let mut h = String::from("Authentication-Results: ");
        if !env.mail_from.is_empty() {
            let r = AuthenticationResults::new(host).with_spf_mailfrom_result(
                spf,
                env.ip,
                env.mail_from,
                env.helo,
            );
            h.push_str(&r.to_string());
        } else if is_domain(env.helo) {
            let r = AuthenticationResults::new(host).with_spf_ehlo_result(spf, env.ip, env.helo);
            h.push_str(&r.to_string());
        } else {
            // A null sender with an address-literal HELO has no SPF identity (RFC 7208
            // §2.3: only a domain can be checked). The literal is not a valid pvalue
            // unquoted, so it is reported as a quoted-string.
            h.push_str(host);
            h.push_str(";\r\n\tspf=none smtp.helo=\"");
            h.extend(
                env.helo
                    .chars()
                    .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
                    .take(255),
            );
            h.push('"');
        }
        if dkim.is_empty() {
            h.push_str(";\r\n\tdkim=none");
        } else {
            let r = AuthenticationResults::new("").with_dkim_results(dkim, header_from);
            h.push_str(&r.to_string());
        }
        if dmarc.domain().is_empty() {
            // No single From: domain (none, or several): DMARC does not apply (RFC 7489
            // §6.6.1), and `header.from` would have no value.
            h.push_str(";\r\n\tdmarc=none");
        } else {
            let r = AuthenticationResults::new("")
                .with_dmarc_result(dmarc)
                .to_string();
            // mail-auth writes `policy.dmarc=none` also when no record was found (or
            // the lookup failed): there is no published policy to report then.
            let r = match dmarc.dmarc_record() {
                None => r.strip_suffix(" policy.dmarc=none").unwrap_or(&r),
                Some(_) => &r,
            };
            h.push_str(r);
        }
        h.push_str("\r\n");
        h
    }

    /// RFC 7489 §6.3 (policies) and §6.7 (local policy may be less strict): a definite
    /// DMARC failure under `p=reject` is refused when `dmarc_reject` is on, else
    /// quarantined; under `p=quarantine` it goes to Junk when `dmarc_quarantine` is on.
    /// `temperror`, `permerror`, `none` and `pass` always go to the INBOX.
    fn disposition(
        &self,
        spf: &SpfOutput,
        dkim: &[DkimOutput<'_>],
        dmarc: &DmarcOutput,
    ) -> Disposition {
        if !matches!(dmarc.result(), DmarcResult::Fail(_)) {
            return Disposition::Inbox;
        }
        match dmarc.policy() {
            Policy::Reject if self.dmarc_reject => {
                Disposition::Reject(reject_text(dmarc.domain(), spf.result(), dkim))
            }
            Policy::Reject | Policy::Quarantine if self.dmarc_quarantine => Disposition::Junk,
            _ => Disposition::Inbox,
        }
    }
}

/// RFC 6376 §6.1.3: a body hash that does not verify is PERMFAIL, which RFC 8601
/// §2.7.1 reports as `fail` ("the signature failed the verification test"); mail-auth
/// reports it as `neutral`, as some large providers do.
fn body_hash_mismatch_is_fail<'x>(
    m: &'x AuthenticatedMessage<'x>,
    out: DkimOutput<'x>,
) -> DkimOutput<'x> {
    let DkimResult::Neutral(e @ AuthError::Dkim(DkimError::FailedBodyHashMatch)) = out.result()
    else {
        return out;
    };
    // The output borrows its signature from `m`; find that same signature there.
    let signature = out.signature().and_then(|sig| {
        m.dkim_headers
            .iter()
            .find(|h| std::ptr::eq(&h.header, sig))
            .map(|h| &h.header)
    });
    match signature {
        Some(sig) => DkimOutput::fail(e.clone()).with_signature(sig),
        None => out,
    }
}

/// The reply text for a DMARC rejection: the policy's domain and why it failed.
fn reject_text(domain: &str, spf: SpfResult, dkim: &[DkimOutput<'_>]) -> String {
    let domain: String = domain
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    let dkim = if dkim.is_empty() {
        "none".to_string()
    } else if dkim.iter().any(|d| d.result() == &DkimResult::Pass) {
        "pass, not aligned".to_string()
    } else {
        "fail".to_string()
    };
    let spf = match spf {
        SpfResult::Pass => "pass, not aligned".to_string(),
        other => other.to_string().to_ascii_lowercase(),
    };
    format!(
        "Rejected by the DMARC policy (p=reject) of {domain}: no SPF or DKIM pass aligned with the From: domain (SPF {spf}; DKIM {dkim})"
    )
}

/// The domain DMARC aligns SPF with (RFC 7489 §3.1.2, §4.1): MAIL FROM's, or the HELO
/// name's when MAIL FROM is null.
fn spf_domain<'a>(env: &Envelope<'a>) -> &'a str {
    match env.mail_from.rsplit_once('@') {
        Some((_, d)) => d,
        None => env.helo,
    }
}

/// The From: domain (RFC 7489 §3.1: the Author Domain), for results built without
/// mail-auth; empty when there is no From: address.
fn author_domain(m: &AuthenticatedMessage<'_>) -> String {
    m.from()
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default()
}

fn timed_out() -> AuthError {
    AuthError::Dns(DnsError::Resolver(
        "time budget for DNS lookups spent".into(),
    ))
}

/// A syntactically plausible domain name (what `smtp.helo` may carry unquoted).
fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The resolver for the checks: `[dns] nameservers` (UDP, then TCP for truncated
/// answers) or the system's, and its nameservers' UDP addresses (for [`Health`]). Each
/// query gets [`QUERY_TIMEOUT`] and one attempt per server; hickory caches answers,
/// negative ones included, for their TTL (RFC 2308).
fn build_resolver(dns: &Dns) -> Result<(MessageAuthenticator, Vec<SocketAddr>), String> {
    let (config, opts) = crate::dns::resolver_config(dns, QUERY_TIMEOUT, 1)?;
    let servers = crate::dns::udp_servers(&config);
    let resolver = MessageAuthenticator::new(config, opts)
        .map_err(|e| format!("building the resolver: {e}"))?;
    Ok((resolver, servers))
}

/// A quarantined message's copies: each user's Junk folder, or the INBOX for a user
/// who has deleted Junk (`IfMissing::Inbox`: decided inside the delivery's own
/// transaction, so a Junk deleted meanwhile cannot fail it).
pub(crate) fn junk_targets<'a>(users: impl Iterator<Item = &'a Address>) -> Vec<Target> {
    users
        .map(|user| Target {
            user: user.clone(),
            mailbox: JUNK.into(),
            flags: FlagSet::default(),
            if_missing: IfMissing::Inbox,
        })
        .collect()
}

/// RFC 8601 §5: removes every `Authentication-Results:` field whose authserv-id is
/// `authserv_id` (compared as a domain name: ASCII case-insensitive, trailing dot
/// ignored). Such a field can only be forged, since we add ours after this. Returns
/// the message without them and how many were removed; every other byte is kept. The
/// message is copied only when there is something to remove.
pub(crate) fn remove_forged_results<'a>(
    message: &'a [u8],
    authserv_id: &str,
) -> (std::borrow::Cow<'a, [u8]>, usize) {
    let ours = authserv_id.trim_end_matches('.');
    // The copy, from the first forged field on (None: nothing removed so far).
    let mut out: Option<Vec<u8>> = None;
    let mut removed = 0;
    let mut pos = 0;
    // The header section's fields, each with its continuation lines (RFC 5322 §2.2.3).
    for field in mailyard_message::header::field_lines(message) {
        let start = pos;
        pos += field.len();
        let forged = field_value(field, b"Authentication-Results")
            .and_then(authserv_id_of)
            .is_some_and(|id| id.trim_end_matches('.').eq_ignore_ascii_case(ours));
        match (&mut out, forged) {
            (None, true) => {
                let mut copy = Vec::with_capacity(message.len());
                copy.extend_from_slice(&message[..start]);
                out = Some(copy);
                removed += 1;
            }
            (Some(_), true) => removed += 1,
            (Some(copy), false) => copy.extend_from_slice(field),
            (None, false) => {}
        }
    }
    match out {
        Some(mut copy) => {
            copy.extend_from_slice(&message[pos..]);
            (std::borrow::Cow::Owned(copy), removed)
        }
        None => (std::borrow::Cow::Borrowed(message), 0),
    }
}

/// The value of `field` when its name is `name` (ASCII case-insensitive).
fn field_value<'a>(field: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let colon = field.iter().position(|&b| b == b':')?;
    let (n, rest) = field.split_at(colon);
    let n = n.trim_ascii_end();
    n.eq_ignore_ascii_case(name).then(|| &rest[1..])
}

/// RFC 8601 §2.2 `authres-payload = [CFWS] authserv-id ...`, `authserv-id = value`
/// (RFC 2045 token or RFC 5322 quoted-string): the authserv-id of a field value, or
/// None when it has none.
fn authserv_id_of(value: &[u8]) -> Option<String> {
    let mut i = skip_cfws(value, 0);
    let first = *value.get(i)?;
    if first == b'"' {
        let mut id = Vec::new();
        i += 1;
        while let Some(&b) = value.get(i) {
            match b {
                b'"' => return Some(String::from_utf8_lossy(&id).into_owned()),
                b'\\' => {
                    i += 1;
                    id.extend(value.get(i));
                }
                b'\r' | b'\n' => {}
                _ => id.push(b),
            }
            i += 1;
        }
        return None;
    }
    let start = i;
    while let Some(&b) = value.get(i) {
        if b.is_ascii_whitespace() || matches!(b, b';' | b'(' | b'"') {
            break;
        }
        i += 1;
    }
    (i > start).then(|| String::from_utf8_lossy(&value[start..i]).into_owned())
}

/// Skips folding white space and (nested, escaped) comments. RFC 5322 §3.2.2.
fn skip_cfws(value: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while let Some(&b) = value.get(i) {
        match b {
            b'(' => depth += 1,
            b')' if depth > 0 => depth -= 1,
            b'\\' if depth > 0 => i += 1,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ if depth > 0 => {}
            _ => return i,
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authserv_id_parsing() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b" mail.example.com; spf=pass", Some("mail.example.com")),
            (b"mail.example.com;spf=pass", Some("mail.example.com")),
            (b" mail.example.com 1; none", Some("mail.example.com")),
            (
                b" (a (nested) comment \\) here)\r\n\tMAIL.example.com; none",
                Some("MAIL.example.com"),
            ),
            (b" \"mail.example.com\"; none", Some("mail.example.com")),
            (b" \"mail.ex\\\"ample\"; none", Some("mail.ex\"ample")),
            (b" example.com(comment); none", Some("example.com")),
            (b" ; spf=pass", None),
            (b"   ", None),
            (b" (unterminated comment", None),
            (b" \"unterminated", None),
        ];
        for (value, want) in cases {
            assert_eq!(
                authserv_id_of(value).as_deref(),
                *want,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn forged_results_removed_others_kept() {
        let m = b"Authentication-Results: mail.example.com;\r\n\tspf=pass smtp.mailfrom=x@y\r\n\
Authentication-Results: other.example.net; dkim=pass\r\n\
Subject: hi\r\n\
authentication-results :  (c) \"MAIL.EXAMPLE.COM.\"; dmarc=pass\r\n\
X-Authentication-Results: mail.example.com; spf=pass\r\n\
\r\n\
Authentication-Results: mail.example.com; in the body\r\n";
        let (out, n) = remove_forged_results(m, "mail.example.com");
        assert_eq!(n, 2);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "Authentication-Results: other.example.net; dkim=pass\r\n\
Subject: hi\r\n\
X-Authentication-Results: mail.example.com; spf=pass\r\n\
\r\n\
Authentication-Results: mail.example.com; in the body\r\n"
        );
        let (same, n) = remove_forged_results(b"Subject: x\r\n\r\nbody", "mail.example.com");
        assert_eq!((&same[..], n), (&b"Subject: x\r\n\r\nbody"[..], 0));
        assert!(matches!(same, std::borrow::Cow::Borrowed(_)), "no copy");
    }

    #[test]
    fn removal_never_panics_and_only_shrinks() {
        // Every prefix of a tricky message, and some degenerate inputs.
        let m: &[u8] = b"Authentication-Results: (x\\) \"h\\\r\n\t; a\r\n \r\n:\r\n\r\n";
        for end in 0..=m.len() {
            let (out, _) = remove_forged_results(&m[..end], "h");
            assert!(out.len() <= end);
        }
        for input in [
            &b""[..],
            b"\r\n",
            b"\n",
            b":",
            b"\t\t",
            b"Authentication-Results:",
        ] {
            let (out, _) = remove_forged_results(input, "x");
            assert!(out.len() <= input.len());
        }
    }

    #[test]
    fn domains_for_smtp_helo() {
        assert!(is_domain("mail.example.com"));
        assert!(is_domain("localhost"));
        assert!(!is_domain("[127.0.0.1]"));
        assert!(!is_domain("a..b"));
        assert!(!is_domain(""));
    }
}
