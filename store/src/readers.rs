//! The door's hop ([`crate::Store::hop`]): a few dedicated reader threads fed by one
//! channel, each answering on a oneshot, for the small reads a session makes per
//! command (a mailbox's changes, a FETCH chunk, a lookup). Measured against tokio's
//! `spawn_blocking` on the one-client mixed workload (issue 10): a thread that has
//! just finished a job spins briefly on the channel before it parks, so a session
//! that asks again soon finds it awake. When every reader is busy (a long job), the
//! job goes to tokio's blocking pool instead, so small reads never queue behind a
//! big one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A job for a reader thread.
type Job = Box<dyn FnOnce() + Send>;

/// Reader threads kept (each parks when idle).
const READERS: usize = 4;

/// The reader threads' queue (the door's hops; not `index::Readers`, the pool of
/// read connections those threads use). Dropping it ends the threads (their `recv`
/// fails).
pub(crate) struct Hops {
    tx: crossbeam_channel::Sender<Job>,
    idle: Arc<AtomicUsize>,
}

impl Hops {
    /// Starts the reader threads.
    pub(crate) fn start() -> Hops {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let idle = Arc::new(AtomicUsize::new(0));
        for n in 0..READERS {
            let (rx, idle) = (rx.clone(), idle.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("store-reader-{n}"))
                .spawn(move || {
                    idle.fetch_add(1, Ordering::AcqRel);
                    while let Ok(job) = rx.recv() {
                        // A job that panics answers nobody (its caller hears
                        // `StoreError::Closed`, dropped with the job) and does not
                        // take the thread with it.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            tracing::error!("store: a job on a reader thread panicked");
                        }
                        idle.fetch_add(1, Ordering::AcqRel);
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "store: cannot start a reader thread");
            }
        }
        Hops { tx, idle }
    }

    /// Runs `f` on a reader thread when one is idle, else on tokio's blocking pool;
    /// `None` when it could not run (shutting down) or panicked.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let claimed = self
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if !claimed {
            return tokio::task::spawn_blocking(f).await.ok();
        }
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        if self.tx.send(job).is_err() {
            return None;
        }
        answer.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (10 s at most) until every reader thread is idle: all of them alive.
    async fn all_readers_idle(hops: &Hops) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while hops.idle.load(Ordering::Acquire) != READERS {
            assert!(
                std::time::Instant::now() < deadline,
                "a reader thread is gone"
            );
            tokio::task::yield_now().await;
        }
    }

    /// A job that panics answers None, and its reader thread goes on serving: after
    /// more panics than there are readers, every reader is idle again and the next
    /// job runs on one of them (not on tokio's blocking pool, the fallback when no
    /// reader is left).
    #[tokio::test]
    async fn a_panicking_job_does_not_take_its_reader_thread() {
        let hops = Hops::start();
        for _ in 0..2 * READERS {
            all_readers_idle(&hops).await;
            let answer: Option<()> = hops.run(|| panic!("a job that panics")).await;
            assert!(answer.is_none());
        }
        all_readers_idle(&hops).await;
        let name = hops
            .run(|| std::thread::current().name().map(str::to_string))
            .await
            .flatten();
        assert!(
            name.as_deref()
                .is_some_and(|n| n.starts_with("store-reader-")),
            "ran on {name:?}"
        );
    }
}
