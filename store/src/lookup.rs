//! The account lookups the protocol daemons make per command (RCPT TO, MAIL FROM, a
//! submitted From:), as async methods that do their own blocking hop: each runs on
//! the blocking pool with a pooled read connection of `accounts.db`, so no SQLite call
//! runs on a tokio worker thread and no session waits for another's lookup.

use crate::model::Address;
use crate::{Accounts, Result, SieveScope, Store};

/// Who receives mail sent to one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipients {
    /// Local users (after aliases and plus-addressing).
    pub local: Vec<Address>,
    /// Addresses elsewhere an alias forwards to (the relay queue takes them).
    pub remote: Vec<Address>,
}

impl Recipients {
    /// Nobody here receives it.
    pub fn is_empty(&self) -> bool {
        self.local.is_empty() && self.remote.is_empty()
    }
}

impl Store {
    /// The check a login runs through the auth throttle (`AuthThrottle::verify` in
    /// common, which asks the throttle first and runs this on the blocking pool): the
    /// argon2id verification of `password` against `login`'s stored hash, through the
    /// verified-login cache ([`Accounts::authenticate`]). One for IMAP, POP3, SMTP
    /// AUTH and ManageSieve.
    pub fn password_check(
        &self,
        login: &str,
        password: impl AsRef<str> + Send + 'static,
    ) -> impl FnOnce() -> Result<Option<Address>> + Send + 'static {
        let (store, login) = (self.clone(), login.to_string());
        move || store.accounts().authenticate(&login, password.as_ref())
    }

    async fn with_accounts<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Accounts) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.hop(move |s| f(s.accounts())).await
    }

    /// The first of `candidates` that is one of our domains, else our first domain
    /// (`None`: no domain at all): which domain an autoconfig request is about.
    pub async fn local_domain_among(&self, candidates: Vec<String>) -> Result<Option<String>> {
        self.with_accounts(move |a| {
            for c in candidates {
                if !c.is_empty() && a.is_local_domain(&c)? {
                    return Ok(Some(c));
                }
            }
            Ok(a.domains()?.into_iter().next())
        })
        .await
    }

    /// Whether `domain` is one of ours (a trailing dot and case do not matter).
    pub async fn is_local_domain(&self, domain: &str) -> Result<bool> {
        let domain = domain.to_string();
        self.with_accounts(move |a| a.is_local_domain(&domain))
            .await
    }

    /// Who receives mail for `rcpt` when its domain is ours: users, aliases followed
    /// (also to other domains), plus-addressing ([`crate::queue::resolve_with_remote`]);
    /// None when its domain is not one of ours. Both lookups in one hop.
    pub async fn local_recipients(&self, rcpt: &Address) -> Result<Option<Recipients>> {
        let rcpt = rcpt.clone();
        self.route_rcpt(rcpt.domain().to_string(), Some(rcpt), |_, _| ())
            .await
            .map(|found| found.map(|(r, ())| r))
    }

    /// RCPT TO's lookups in one hop to the blocking pool: whether `domain` is ours
    /// (None when not) and, when it is, who receives `rcpt` (nobody when `rcpt` is
    /// None: a local part the store does not take); then `then` with those
    /// recipients, on the same thread, with a [`SieveScope`] — the SMTP filter looks
    /// up their active Sieve scripts there. So a recipient costs one hop, not three
    /// (domain, recipients, and the scripts when the message comes).
    pub async fn route_rcpt<T: Send + 'static>(
        &self,
        domain: String,
        rcpt: Option<Address>,
        then: impl FnOnce(&SieveScope<'_>, &Recipients) -> T + Send + 'static,
    ) -> Result<Option<(Recipients, T)>> {
        self.hop(move |s| {
            let accounts = s.accounts();
            if !accounts.is_local_domain(&domain)? {
                return Ok(None);
            }
            let found = match rcpt {
                Some(rcpt) => {
                    let (local, remote) = crate::queue::resolve_with_remote(accounts, &rcpt)?;
                    Recipients { local, remote }
                }
                None => Recipients::default(),
            };
            let more = then(&s.sieve_scope_blocking(), &found);
            Ok(Some((found, more)))
        })
        .await
    }

    /// Whether every one of `addresses` belongs to `user`: its own address, or one that
    /// resolves to it (an alias targeting it, its plus-address). RFC 6409 §8.1: what a
    /// submission server checks MAIL FROM and From:/Sender: against.
    pub async fn all_owned_by(&self, user: &Address, addresses: Vec<Address>) -> Result<bool> {
        let user = user.clone();
        self.with_accounts(move |a| {
            for addr in &addresses {
                if addr != &user && !a.resolve(addr)?.contains(&user) {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await
    }

    /// RFC 5321 §4.5.1: the users `<Postmaster>` reaches. `postmaster@` the host name's
    /// domain, else of any local domain, whichever resolves first (`any_domain` false:
    /// only the fallback), else the `configured` postmaster (a local user or alias),
    /// else the first user added.
    pub async fn postmaster(
        &self,
        hostname: &str,
        configured: Option<&str>,
        any_domain: bool,
    ) -> Result<Vec<Address>> {
        let (hostname, configured) = (hostname.to_string(), configured.map(str::to_string));
        self.with_accounts(move |a| {
            if any_domain {
                let mut domains = vec![hostname];
                domains.extend(a.domains()?);
                for d in domains {
                    if let Ok(p) = Address::parse(&format!("postmaster@{d}")) {
                        let users = a.resolve(&p)?;
                        if !users.is_empty() {
                            return Ok(users);
                        }
                    }
                }
            }
            if let Some(configured) = configured {
                match Address::parse(&configured).map(|p| a.resolve(&p)) {
                    Ok(Ok(users)) if !users.is_empty() => return Ok(users),
                    Ok(Err(e)) => return Err(e),
                    _ => tracing::warn!(
                        postmaster = %configured,
                        "the configured postmaster is no local user or alias; using the first user"
                    ),
                }
            }
            Ok(a.first_user()?.into_iter().collect())
        })
        .await
    }
}
