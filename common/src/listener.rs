//! The accept loop every daemon uses: a connection permit is taken *before* `accept()`
//! (so a flood waits in the kernel's backlog instead of in our memory), accept errors
//! back off instead of spinning, and every connection task is tracked for shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::shutdown::Shutdown;

/// Accepts until shutdown, running `handle` on its own task for each connection, with
/// at most `max_connections` at once.
pub async fn accept_loop<F, Fut>(
    name: &'static str,
    listener: TcpListener,
    shutdown: Shutdown,
    max_connections: usize,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
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
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let _ = stream.set_nodelay(true);
                let fut = handle(stream, peer);
                shutdown.tracker.spawn(async move {
                    fut.await;
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
