//! Abuse limits shared by the SMTP and IMAP daemons: connections per client address,
//! and authentication failures (slowed down per address, then a temporary ban).
//!
//! A success after failures is never slowed for *other* addresses: all state is keyed
//! by the client's IP address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Authentication failures per address.
#[derive(Clone)]
pub struct AuthThrottle {
    inner: Arc<Mutex<HashMap<IpAddr, Failures>>>,
    max_failures: u32,
    ban: Duration,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    banned_until: Option<Instant>,
}

/// Failures older than this are forgotten.
const FAILURE_WINDOW: Duration = Duration::from_secs(600);
/// Delay added per recent failure, capped at `MAX_DELAY`.
const DELAY_STEP: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(5);

impl AuthThrottle {
    /// `max_failures` within ten minutes ban the address for `ban`.
    pub fn new(max_failures: u32, ban: Duration) -> Self {
        AuthThrottle {
            inner: Arc::new(Mutex::new(HashMap::new())),
            max_failures: max_failures.max(1),
            ban,
        }
    }

    /// Whether `ip` is banned now.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        let Ok(map) = self.inner.lock() else {
            return false;
        };
        map.get(&ip)
            .and_then(|f| f.banned_until)
            .is_some_and(|t| t > Instant::now())
    }

    /// Records a failure and returns how long to wait before answering it.
    pub fn failed(&self, ip: IpAddr) -> Duration {
        let Ok(mut map) = self.inner.lock() else {
            return MAX_DELAY;
        };
        let now = Instant::now();
        if map.len() > 100_000 {
            map.retain(|_, f| now.duration_since(f.last) < FAILURE_WINDOW);
        }
        let f = map.entry(ip).or_insert(Failures {
            count: 0,
            last: now,
            banned_until: None,
        });
        if now.duration_since(f.last) > FAILURE_WINDOW {
            f.count = 0;
            f.banned_until = None;
        }
        f.count += 1;
        f.last = now;
        if f.count >= self.max_failures {
            f.banned_until = Some(now + self.ban);
        }
        (DELAY_STEP * f.count).min(MAX_DELAY)
    }

    /// Records a success: the address's failures are forgotten.
    pub fn succeeded(&self, ip: IpAddr) {
        if let Ok(mut map) = self.inner.lock() {
            map.remove(&ip);
        }
    }

    /// The throttle `[auth]` configures: `max_failures` within ten minutes ban an
    /// address for `ban_seconds`.
    pub fn from_config(config: &crate::Config) -> Self {
        AuthThrottle::new(
            config.auth.max_failures,
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
        let t = AuthThrottle::new(3, Duration::from_secs(60));
        let bad: IpAddr = [10, 0, 0, 1].into();
        let good: IpAddr = [10, 0, 0, 2].into();
        assert!(t.failed(bad) < t.failed(bad));
        assert!(!t.is_banned(bad));
        t.failed(bad);
        assert!(t.is_banned(bad));
        assert!(!t.is_banned(good));
        t.succeeded(good);
        assert!(
            t.is_banned(bad),
            "another address's success does not lift the ban"
        );
    }

    #[test]
    fn loopback() {
        assert!(is_loopback("127.0.0.2".parse().expect("ip")));
        assert!(is_loopback("::1".parse().expect("ip")));
        assert!(is_loopback("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!is_loopback("10.0.0.1".parse().expect("ip")));
    }
}
