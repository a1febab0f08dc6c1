//! Abuse limits shared by the SMTP and IMAP daemons: connections per client address,
//! and authentication failures (slowed down per address, then a temporary ban).
//!
//! Failures are counted per client address (slowed, then banned) and per target
//! account (locked when guessed at from many addresses); see [`AuthThrottle`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// Counts open connections per client address.
#[derive(Clone, Default)]
pub struct PerIpConnections {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Held for a connection's lifetime; releases its slot when dropped.
pub struct ConnectionSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl PerIpConnections {
    /// Takes a slot for `ip` unless it already has `max` connections.
    pub fn try_acquire(&self, ip: IpAddr, max: usize) -> Option<ConnectionSlot> {
        let mut counts = self.counts.lock().ok()?;
        let n = counts.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            counts: self.counts.clone(),
            ip,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock()
            && let Some(n) = counts.get_mut(&self.ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Authentication failures, counted per client address and per target account.
///
/// Invariants: a ban (of an address) or a lock (of an account) lasts until it expires,
/// whatever logs in meanwhile; a good login forgives only the failures that the same
/// address made against the same account (a user's typos), never those against
/// other accounts. Callers ask [`AuthThrottle::check`] before verifying a password.
#[derive(Clone)]
pub struct AuthThrottle {
    inner: Arc<Mutex<State>>,
    max_failures: u32,
    max_account_failures: u32,
    ban: Duration,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct State {
    addresses: HashMap<IpAddr, AddressFailures>,
    accounts: HashMap<String, Failures>,
}

/// One address's failures, with how many of them targeted each account (at most
/// `max_failures` accounts: the address is banned before it can name more).
struct AddressFailures {
    total: Failures,
    by_account: HashMap<String, u32>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    banned_until: Option<Instant>,
}

impl Failures {
    fn new(now: Instant) -> Self {
        Failures {
            count: 0,
            last: now,
            banned_until: None,
        }
    }

    fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|t| t > now)
    }

    /// Counts one failure; past `max` (0: never) a ban until `now + ban`. Returns
    /// whether the window restarted (older failures forgotten) and whether this
    /// failure began a ban.
    fn add(&mut self, now: Instant, max: u32, ban: Duration) -> (bool, bool) {
        let restarted = now.duration_since(self.last) > FAILURE_WINDOW;
        if restarted {
            self.count = 0;
        }
        self.count += 1;
        self.last = now;
        let ban_begins = max > 0 && self.count >= max && !self.banned(now);
        if ban_begins {
            self.banned_until = Some(now + ban);
        }
        (restarted, ban_begins)
    }

    /// Whether this entry still matters: recent failures or a ban not yet expired.
    fn live(&self, now: Instant) -> bool {
        now.duration_since(self.last) < FAILURE_WINDOW || self.banned(now)
    }
}

/// Why a login may not be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client's address is banned (`[auth] max_failures`).
    AddressBanned,
    /// The account is locked (`[auth] max_account_failures`).
    AccountLocked,
}

/// What [`AuthThrottle::verify`] concluded.
#[derive(Debug)]
pub enum Verdict<T, E> {
    /// The credentials are right: `T` (the user), the success recorded.
    Ok(T),
    /// Wrong credentials: the failure recorded and its delay already waited.
    Wrong,
    /// Not tried: the address is banned or the account locked.
    Refused(Refusal),
    /// The check itself failed (`E`), or its task did (`None`); nothing recorded.
    Failed(Option<E>),
}

/// Failures older than this are forgotten.
const FAILURE_WINDOW: Duration = Duration::from_secs(600);
/// Delay added per recent failure, capped at `MAX_DELAY`.
const DELAY_STEP: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Entries (addresses, accounts) kept before the stale ones are swept.
const SWEEP_ABOVE: usize = 100_000;
/// Longest account name kept as a key; longer names are cut (no valid login is longer:
/// RFC 5321 §4.5.3.1.1 and §4.5.3.1.2 give 64 + 1 + 255).
const MAX_ACCOUNT_KEY: usize = 320;

/// The key an account's failures are counted under: case-insensitive, bounded.
fn account_key(login: &str) -> String {
    let mut end = login.len().min(MAX_ACCOUNT_KEY);
    while !login.is_char_boundary(end) {
        end -= 1;
    }
    login[..end].to_lowercase()
}

impl AuthThrottle {
    /// `max_failures` from one address within ten minutes ban it for `ban`;
    /// `max_account_failures` (0: never) against one account lock the account for `ban`.
    pub fn new(max_failures: u32, max_account_failures: u32, ban: Duration) -> Self {
        AuthThrottle {
            inner: Arc::new(Mutex::new(State::default())),
            max_failures: max_failures.max(1),
            max_account_failures,
            ban,
            metrics: Arc::default(),
        }
    }

    /// The same throttle, counting failures, bans and locks into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Whether `ip` is banned now.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        let Ok(state) = self.inner.lock() else {
            return false;
        };
        state
            .addresses
            .get(&ip)
            .is_some_and(|a| a.total.banned(Instant::now()))
    }

    /// Whether a login as `login` from `ip` may be tried now; asked before the
    /// password is verified, so a banned address learns nothing from a right guess.
    pub fn check(&self, ip: IpAddr, login: &str) -> Result<(), Refusal> {
        let Ok(state) = self.inner.lock() else {
            return Err(Refusal::AddressBanned);
        };
        let now = Instant::now();
        if state
            .addresses
            .get(&ip)
            .is_some_and(|a| a.total.banned(now))
        {
            return Err(Refusal::AddressBanned);
        }
        if state
            .accounts
            .get(&account_key(login))
            .is_some_and(|f| f.banned(now))
        {
            return Err(Refusal::AccountLocked);
        }
        Ok(())
    }

    /// Records a failure from `ip` against `login` (None when the client never named
    /// one, e.g. a malformed SASL response) and returns how long to wait before
    /// answering it.
    pub fn failed(&self, ip: IpAddr, login: Option<&str>) -> Duration {
        self.metrics.auth_failures.inc();
        let Ok(mut state) = self.inner.lock() else {
            return MAX_DELAY;
        };
        let now = Instant::now();
        if state.addresses.len() > SWEEP_ABOVE {
            state.addresses.retain(|_, a| a.total.live(now));
        }
        if state.accounts.len() > SWEEP_ABOVE {
            state.accounts.retain(|_, f| f.live(now));
        }
        let address = state
            .addresses
            .entry(ip)
            .or_insert_with(|| AddressFailures {
                total: Failures::new(now),
                by_account: HashMap::new(),
            });
        let (restarted, banned) = address.total.add(now, self.max_failures, self.ban);
        if restarted {
            address.by_account.clear();
        }
        if banned {
            self.metrics.address_bans.inc();
        }
        let count = address.total.count;
        if let Some(login) = login {
            let key = account_key(login);
            *address.by_account.entry(key.clone()).or_insert(0) += 1;
            let (_, locked) = state
                .accounts
                .entry(key)
                .or_insert_with(|| Failures::new(now))
                .add(now, self.max_account_failures, self.ban);
            if locked {
                self.metrics.account_locks.inc();
            }
        }
        (DELAY_STEP * count).min(MAX_DELAY)
    }

    /// One login attempt, the same for every protocol: the throttle asked first; then
    /// `check` (a password hash verification: run on the blocking pool) answering the
    /// user or `None` for wrong credentials; the outcome recorded; after a failure its
    /// delay waited (the slowdown a guesser feels). The caller turns the verdict into
    /// its protocol's reply.
    pub async fn verify<T, E>(
        &self,
        ip: IpAddr,
        login: &str,
        check: impl FnOnce() -> Result<Option<T>, E> + Send + 'static,
    ) -> Verdict<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        if let Err(refusal) = self.check(ip, login) {
            return Verdict::Refused(refusal);
        }
        match tokio::task::spawn_blocking(check).await {
            Ok(Ok(Some(user))) => {
                self.succeeded(ip, login);
                Verdict::Ok(user)
            }
            Ok(Ok(None)) => {
                let delay = self.failed(ip, Some(login));
                tokio::time::sleep(delay).await;
                Verdict::Wrong
            }
            Ok(Err(e)) => Verdict::Failed(Some(e)),
            Err(_) => Verdict::Failed(None),
        }
    }

    /// Records a good login as `login` from `ip`: forgets that address's failures
    /// against this same account (typos), and nothing else. Bans and locks stay.
    pub fn succeeded(&self, ip: IpAddr, login: &str) {
        let Ok(mut state) = self.inner.lock() else {
            return;
        };
        let Some(address) = state.addresses.get_mut(&ip) else {
            return;
        };
        if let Some(n) = address.by_account.remove(&account_key(login)) {
            address.total.count = address.total.count.saturating_sub(n);
        }
        let now = Instant::now();
        if address.total.count == 0 && !address.total.banned(now) {
            state.addresses.remove(&ip);
        }
    }

    /// The throttle `[auth]` configures: `max_failures` within ten minutes ban an
    /// address, `max_account_failures` lock an account, each for `ban_seconds`.
    pub fn from_config(config: &crate::Config) -> Self {
        AuthThrottle::new(
            config.auth.max_failures,
            config.auth.max_account_failures,
            Duration::from_secs(config.auth.ban_seconds),
        )
    }
}

/// Whether plaintext authentication may happen without TLS from `ip`.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots() {
        let c = PerIpConnections::default();
        let ip: IpAddr = [127, 0, 0, 2].into();
        let a = c.try_acquire(ip, 2).expect("first");
        let _b = c.try_acquire(ip, 2).expect("second");
        assert!(c.try_acquire(ip, 2).is_none());
        assert!(
            c.try_acquire([127, 0, 0, 3].into(), 2).is_some(),
            "other address"
        );
        drop(a);
        assert!(c.try_acquire(ip, 2).is_some());
    }

    #[test]
    fn failures_slow_then_ban_per_address() {
        let t = AuthThrottle::new(3, 0, Duration::from_secs(60));
        let bad: IpAddr = [10, 0, 0, 1].into();
        let good: IpAddr = [10, 0, 0, 2].into();
        assert!(t.failed(bad, Some("a")) < t.failed(bad, Some("a")));
        assert!(!t.is_banned(bad));
        t.failed(bad, None);
        assert!(t.is_banned(bad));
        assert_eq!(t.metrics.auth_failures.get(), 3);
        assert_eq!(t.metrics.address_bans.get(), 1);
        assert_eq!(t.check(bad, "b"), Err(Refusal::AddressBanned));
        assert!(!t.is_banned(good));
        t.succeeded(good, "a");
        t.succeeded(bad, "a");
        assert!(t.is_banned(bad), "no success lifts a ban");
        assert_eq!(t.check(good, "a"), Ok(()), "accounts are not locked (0)");
    }

    #[test]
    fn a_success_forgives_only_the_same_accounts_failures() {
        let t = AuthThrottle::new(3, 0, Duration::from_secs(60));
        let ip: IpAddr = [10, 0, 0, 1].into();
        t.failed(ip, Some("Alice@Example.com"));
        t.failed(ip, Some("alice@example.com"));
        t.succeeded(ip, "mallory@example.com");
        t.failed(ip, Some("alice@example.com"));
        assert!(t.is_banned(ip), "mallory's login forgave nothing");
        let typo: IpAddr = [10, 0, 0, 2].into();
        t.failed(typo, Some("bob@example.com"));
        t.failed(typo, Some("bob@example.com"));
        t.succeeded(typo, "BOB@example.com");
        t.failed(typo, Some("bob@example.com"));
        assert!(!t.is_banned(typo), "bob's own login forgave his typos");
    }

    #[test]
    fn failures_from_many_addresses_lock_the_account() {
        let t = AuthThrottle::new(10, 4, Duration::from_secs(60));
        for last in 1..=4u8 {
            t.failed([10, 0, 0, last].into(), Some("alice@example.com"));
        }
        let fresh: IpAddr = [10, 0, 0, 9].into();
        assert_eq!(
            t.check(fresh, "ALICE@example.com"),
            Err(Refusal::AccountLocked)
        );
        assert_eq!(t.metrics.account_locks.get(), 1);
        t.succeeded(fresh, "alice@example.com");
        assert_eq!(
            t.check(fresh, "alice@example.com"),
            Err(Refusal::AccountLocked)
        );
        assert_eq!(t.check(fresh, "bob@example.com"), Ok(()));
    }

    #[test]
    fn loopback() {
        assert!(is_loopback("127.0.0.2".parse().expect("ip")));
        assert!(is_loopback("::1".parse().expect("ip")));
        assert!(is_loopback("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!is_loopback("10.0.0.1".parse().expect("ip")));
    }
}
