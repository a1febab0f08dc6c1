//! The accept loop every daemon uses: a connection permit is taken *before* `accept()`
//! (so a flood waits in the kernel's backlog instead of in our memory), accept errors
//! back off instead of spinning, and every connection task is tracked for shutdown.
//!
//! Against connection exhaustion (slowloris), each connection also gets a [`Slot`]:
//! connections that have not authenticated may hold at most `100 - RESERVED_PERCENT` %
//! of a listener's slots (one more is handed `None`, and the daemon refuses it at once
//! with `421 4.7.0` / `* BYE`), so clients that have logged in always find room; and
//! past [`STRESS_PERCENT`] % of the slots a listener is *under stress*, as Postfix calls
//! it, and connections that have not authenticated get [`STRESS_IDLE`] of idleness.
//!
//! The loop takes any [`Accept`]: TCP listeners and the local submission socket (a Unix
//! socket) share it.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::metrics::{ListenerStats, Metrics};
use crate::shutdown::Shutdown;
use crate::throttle::{ConnectionSlot, PerIpConnections};

/// The share of a listener's `max_connections` (in percent, at least one slot) that
/// connections which have not authenticated cannot take.
pub const RESERVED_PERCENT: usize = 10;

/// Past this share of its `max_connections` (in percent) a listener is under stress
/// (Postfix's stress mode, `smtpd_timeout` cut to 10 s).
pub const STRESS_PERCENT: usize = 80;

/// The idle timeout of a connection that has not authenticated while its listener is
/// under stress (Postfix's `${stress?10s}`).
pub const STRESS_IDLE: Duration = Duration::from_secs(10);

/// How often a connection that has not authenticated looks again at whether its
/// listener came under stress while it waits for input.
const STRESS_CHECK: Duration = Duration::from_secs(1);

/// A listener's connections: how many are open and how many of them have not
/// authenticated.
#[derive(Debug)]
struct Load {
    max: usize,
    /// Most connections that have not authenticated.
    unauthenticated_max: usize,
    open: AtomicUsize,
    unauthenticated: AtomicUsize,
}

/// One connection's place in its listener's `Load`; dropping it frees it.
#[derive(Debug)]
pub struct Slot {
    load: Arc<Load>,
    authenticated: bool,
}

impl Slot {
    /// The connection has authenticated: it leaves the share of the unauthenticated
    /// and is never cut short by stress.
    pub fn authenticated(&mut self) {
        if !self.authenticated {
            self.authenticated = true;
            self.load.unauthenticated.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Reads from `stream` into `buf` (what `read_buf` does), giving up (None) once
    /// the connection has been idle for [`Slot::idle_timeout`]`(normal)` or `deadline`
    /// has passed. For a connection that has not authenticated the timeout is judged
    /// again every `STRESS_CHECK`, so one that began waiting before its listener
    /// came under stress is cut too.
    pub async fn read_idle<R: AsyncRead + Unpin>(
        &self,
        stream: &mut R,
        buf: &mut Vec<u8>,
        normal: Duration,
        deadline: Option<Instant>,
    ) -> Option<std::io::Result<usize>> {
        let started = Instant::now();
        let end = || {
            let idle_end = started + self.idle_timeout(normal);
            deadline.map_or(idle_end, |d| d.min(idle_end))
        };
        loop {
            let now = Instant::now();
            let until = end();
            if now >= until {
                return None;
            }
            let step = if self.authenticated {
                until - now
            } else {
                (until - now).min(STRESS_CHECK)
            };
            // `read_buf` is cancel-safe: a read cut short by the timeout loses nothing.
            if let Ok(r) = tokio::time::timeout(step, stream.read_buf(buf)).await {
                return Some(r);
            }
        }
    }

    /// How long this connection may stay idle: `normal`, or [`STRESS_IDLE`] when it
    /// has not authenticated and its listener is under stress.
    pub fn idle_timeout(&self, normal: Duration) -> Duration {
        let open = self.load.open.load(Ordering::Relaxed);
        let stressed = open.saturating_mul(100) >= self.load.max.saturating_mul(STRESS_PERCENT);
        if stressed && !self.authenticated {
            normal.min(STRESS_IDLE)
        } else {
            normal
        }
    }
}

/// A slot in a listener of its own, far from stress (for the tests of the read loop).
#[cfg(test)]
pub(crate) fn lone_slot() -> Slot {
    Arc::new(Load::new(100))
        .admit()
        .expect("an empty listener admits")
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.authenticated {
            self.load.unauthenticated.fetch_sub(1, Ordering::Relaxed);
        }
        self.load.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Load {
    fn new(max: usize) -> Load {
        let reserved = (max * RESERVED_PERCENT / 100).max(1);
        Load {
            max,
            unauthenticated_max: max.saturating_sub(reserved).max(1),
            open: AtomicUsize::new(0),
            unauthenticated: AtomicUsize::new(0),
        }
    }

    /// A slot for a new (unauthenticated) connection, or None when they hold their
    /// whole share already.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        self.unauthenticated
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.unauthenticated_max).then_some(n + 1)
            })
            .ok()?;
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            load: self.clone(),
            authenticated: false,
        })
    }
}

/// Why a connection is refused as soon as it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Connections that have not authenticated hold their listener's share (the
    /// accept loop handed no [`Slot`]).
    Listener,
    /// The client's address has `[limits] max_connections_per_ip` open already.
    Address,
}

/// A new connection's two places: `slot` in its listener's count (from
/// [`accept_loop`]) and one in `per_ip`'s count for `ip` (at most `max_per_ip`), held
/// for the connection's life; or which count is full (the daemon then refuses it at
/// once, in its protocol's words).
pub fn admit(
    slot: Option<Slot>,
    per_ip: &PerIpConnections,
    ip: IpAddr,
    max_per_ip: usize,
) -> Result<(Slot, ConnectionSlot), Full> {
    let slot = slot.ok_or(Full::Listener)?;
    let at_ip = per_ip.try_acquire(ip, max_per_ip).ok_or(Full::Address)?;
    Ok((slot, at_ip))
}

/// A listening socket the accept loop takes connections from.
pub trait Accept: Send + Sync + 'static {
    /// A connection.
    type Stream: Send + 'static;
    /// Who is at the other end (for the log).
    type Peer: std::fmt::Debug + Send + 'static;
    /// The next connection (cancel-safe, as tokio's `accept` is).
    fn accept_next(
        &self,
    ) -> impl Future<Output = std::io::Result<(Self::Stream, Self::Peer)>> + Send;
}

impl Accept for TcpListener {
    type Stream = TcpStream;
    type Peer = SocketAddr;
    async fn accept_next(&self) -> std::io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok((stream, peer))
    }
}

impl Accept for UnixListener {
    type Stream = UnixStream;
    type Peer = tokio::net::unix::SocketAddr;
    async fn accept_next(&self) -> std::io::Result<(UnixStream, Self::Peer)> {
        self.accept().await
    }
}

/// Accepts until shutdown, running `handle` on its own task for each connection, with
/// at most `max_connections` at once. `handle` gets the connection's [`Slot`], or
/// None when connections that have not authenticated hold their whole share: it then
/// refuses the connection at once. `metrics` counts the listener's connections (open,
/// total) and whether it is up.
pub async fn accept_loop<L, F, Fut>(
    name: &'static str,
    listener: L,
    shutdown: Shutdown,
    max_connections: usize,
    metrics: &Metrics,
    handle: F,
) where
    L: Accept,
    F: Fn(L::Stream, L::Peer, Option<Slot>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let max_connections = max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max_connections));
    let load = Arc::new(Load::new(max_connections));
    let stats = metrics.listeners.get(name);
    let _up = Up::new(stats.clone());
    let mut backoff = Duration::from_millis(5);
    loop {
        let permit = tokio::select! {
            _ = shutdown.token.cancelled() => return,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.token.cancelled() => return,
            a = listener.accept_next() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let slot = load.admit();
                if slot.is_none() {
                    tracing::info!(
                        listener = name,
                        ?peer,
                        "unauthenticated connections hold their share: refused"
                    );
                }
                let fut = handle(stream, peer, slot);
                stats.total.inc();
                stats.open.add(1);
                let stats = stats.clone();
                shutdown.tracker.spawn(async move {
                    fut.await;
                    stats.open.add(-1);
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE and friends: wait and retry rather than spin.
                tracing::warn!(listener = name, error = %e, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// A listener's `up` gauge, 1 for as long as its accept loop runs (however it ends).
struct Up(Arc<ListenerStats>);

impl Up {
    fn new(stats: Arc<ListenerStats>) -> Self {
        stats.up.set(1);
        Up(stats)
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        self.0.up.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `up` gauge `/healthz` reads is 1 while the accept loop runs and 0 once it
    /// has ended; each accepted connection is counted.
    #[tokio::test]
    async fn up_while_accepting_and_down_after() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = Arc::new(Metrics::default());
        let shutdown = Shutdown::new();
        let (m, sd) = (metrics.clone(), shutdown.clone());
        let running = tokio::spawn(async move {
            accept_loop("test", listener, sd, 4, &m, |_s, _p, _slot| async {}).await;
        });
        let stats = metrics.listeners.get("test");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let _conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        while stats.total.get() < 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "connection not counted"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(stats.up.get(), 1, "up while the loop runs");
        shutdown.token.cancel();
        running.await.expect("accept loop ends");
        assert_eq!(stats.up.get(), 0, "down once it has ended");
    }

    #[test]
    fn admit_takes_both_places_or_names_the_full_one() {
        let load = Arc::new(Load::new(10));
        let per_ip = PerIpConnections::default();
        let ip: IpAddr = [127, 0, 0, 9].into();
        let first = admit(load.admit(), &per_ip, ip, 1).expect("room");
        assert_eq!(
            admit(load.admit(), &per_ip, ip, 1).err(),
            Some(Full::Address)
        );
        assert_eq!(admit(None, &per_ip, ip, 5).err(), Some(Full::Listener));
        drop(first);
        assert!(admit(load.admit(), &per_ip, ip, 1).is_ok(), "released");
    }

    #[test]
    fn shares_and_stress() {
        // (max, unauthenticated admitted, open at which stress begins)
        for (max, admitted, stress_at) in [(10, 9, 8), (1000, 900, 800), (1, 1, 1), (2, 1, 2)] {
            let load = Arc::new(Load::new(max));
            let mut slots = Vec::new();
            while let Some(s) = load.admit() {
                slots.push(s);
            }
            assert_eq!(slots.len(), admitted, "max {max}");
            let stressed = |n: usize| n * 100 >= max * STRESS_PERCENT;
            assert!(stressed(stress_at) && !stressed(stress_at - 1), "max {max}");
            // One authenticates: room for one more, and it is never cut short.
            let mut first = slots.remove(0);
            first.authenticated();
            assert_eq!(
                first.idle_timeout(Duration::from_secs(60)),
                Duration::from_secs(60)
            );
            assert!(load.admit().is_some(), "max {max}");
            drop(first);
        }
        let load = Arc::new(Load::new(10));
        let slots: Vec<Slot> = std::iter::from_fn(|| load.admit()).collect();
        assert_eq!(slots[0].idle_timeout(Duration::from_secs(60)), STRESS_IDLE);
        drop(slots);
        assert_eq!(load.open.load(Ordering::Relaxed), 0);
        assert_eq!(load.unauthenticated.load(Ordering::Relaxed), 0);
    }
}
