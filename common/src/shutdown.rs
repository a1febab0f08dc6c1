//! Graceful shutdown: one token every task watches, one tracker every task is spawned
//! on, and a deadline for sessions to finish.

use std::time::Duration;

pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;

/// What a server hands to its listeners and sessions.
#[derive(Clone, Default)]
pub struct Shutdown {
    /// Cancelled when the server should stop accepting and wind sessions down.
    pub token: CancellationToken,
    /// Every connection task is spawned here, so `serve` can wait for them.
    pub tracker: TaskTracker,
}

impl Shutdown {
    /// A fresh, not yet cancelled shutdown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels, then waits for the tracked tasks up to `deadline`. Returns false when
    /// tasks were still running at the deadline.
    pub async fn stop(&self, deadline: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
