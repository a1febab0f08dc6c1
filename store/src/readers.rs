//! The door's hop ([`crate::Store::hop`]): a few dedicated reader threads fed by one
//! channel, each answering on a oneshot, for the small reads a session makes per
//! command (a mailbox's changes, a FETCH chunk, a lookup). Measured against tokio's
//! `spawn_blocking` on the one-client mixed workload (issue 10): a thread that has
//! just finished a job spins briefly on the channel before it parks, so a session
//! that asks again soon finds it awake. When every reader is busy (a long job), the
//! job goes to tokio's blocking pool instead, so small reads never queue behind a
//! big one. A second set of the same threads stages delivered and appended messages
//! (`Store::stage_and_submit`, [`STAGERS`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A job for a reader thread.
type Job = Box<dyn FnOnce() + Send>;

/// Reader threads kept (each parks when idle).
pub(crate) const READERS: usize = 4;

/// Staging threads kept: each writes and fdatasyncs one delivered or appended message
/// at a time (`Store::stage_and_submit`), so this many stage at once before the rest
/// go to tokio's blocking pool. 20 SMTP sessions keep about as many busy.
pub(crate) const STAGERS: usize = 16;

/// A set of threads fed by one queue: the reader threads (the door's hops; not
/// `index::Readers`, the pool of read connections those threads use) or the staging
/// threads. Dropping it ends the threads (their `recv` fails).
pub(crate) struct Hops {
    tx: crossbeam_channel::Sender<Job>,
    idle: Arc<AtomicUsize>,
}

impl Hops {
    /// Starts `threads` threads named `<name>-<n>`.
    pub(crate) fn start(name: &str, threads: usize) -> Hops {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let idle = Arc::new(AtomicUsize::new(0));
        for n in 0..threads {
            let (rx, idle) = (rx.clone(), idle.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || {
                    idle.fetch_add(1, Ordering::AcqRel);
                    while let Ok(job) = rx.recv() {
                        // A job that panics answers nobody (its caller hears
                        // `StoreError::Closed`, dropped with the job) and does not
                        // take the thread with it.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            tracing::error!(thread = ?std::thread::current().name(), "store: a job panicked");
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

    /// Runs `f` on one of the threads when one is idle, else on tokio's blocking pool
    /// ([`Hops::spawn`]), and waits for its answer; `None` when it could not run
    /// (shutting down) or panicked.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.spawn(move || {
            let _ = done.send(f());
        });
        answer.await.ok()
    }

    /// Starts `f` on one of the threads when one is idle, else on tokio's blocking
    /// pool, without waiting for it (`f` answers through its own channel).
    pub(crate) fn spawn(&self, f: impl FnOnce() + Send + 'static) {
        // Claims an idle thread, so a job sent never waits behind a busy one.
        let claimed = self
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        let job: Job = Box::new(f);
        let unsent = if claimed {
            self.tx.send(job).err().map(|e| e.into_inner())
        } else {
            Some(job)
        };
        // Not claimed, or the threads are gone: the blocking pool, which drops the job
        // unrun when the runtime is shutting down too.
        if let Some(job) = unsent {
            drop(tokio::task::spawn_blocking(job));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// `spawn` runs a job on one of its own threads while one is idle, and on tokio's
    /// blocking pool when all are busy, so a slow job never holds up the next one.
    #[tokio::test]
    async fn spawned_jobs_use_the_threads_then_the_blocking_pool() {
        let hops = Hops::start("test-stage", 2);
        all_idle(&hops, 2).await;
        let (names_tx, names) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        let release = Arc::new(std::sync::Mutex::new(release));
        // Two jobs that wait until released: both threads busy.
        for _ in 0..2 {
            let (names_tx, release) = (names_tx.clone(), release.clone());
            hops.spawn(move || {
                let name = std::thread::current().name().map(str::to_string);
                names_tx.send(name).expect("the test waits");
                let _ = release
                    .lock()
                    .expect("the lock")
                    .recv_timeout(Duration::from_secs(10));
            });
        }
        let busy: Vec<_> = (0..2)
            .map(|_| {
                names
                    .recv_timeout(Duration::from_secs(10))
                    .expect("a job ran")
            })
            .collect();
        for name in &busy {
            assert!(
                name.as_deref()
                    .is_some_and(|n| n.starts_with("test-stage-")),
                "ran on {name:?}"
            );
        }
        // A third job runs at once, elsewhere.
        let names_tx2 = names_tx.clone();
        hops.spawn(move || {
            names_tx2
                .send(std::thread::current().name().map(str::to_string))
                .expect("the test waits");
        });
        let third = names
            .recv_timeout(Duration::from_secs(10))
            .expect("the third job ran while both threads were busy");
        assert!(
            !third
                .as_deref()
                .is_some_and(|n| n.starts_with("test-stage-")),
            "ran on {third:?}"
        );
        drop(release_tx);
        all_idle(&hops, 2).await;
    }

    /// Waits (10 s at most) until `threads` threads of `hops` are idle: all alive.
    async fn all_idle(hops: &Hops, threads: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while hops.idle.load(Ordering::Acquire) != threads {
            assert!(std::time::Instant::now() < deadline, "a thread is gone");
            tokio::task::yield_now().await;
        }
    }

    /// A job that panics answers None, and its reader thread goes on serving: after
    /// more panics than there are readers, every reader is idle again and the next
    /// job runs on one of them (not on tokio's blocking pool, the fallback when no
    /// reader is left).
    #[tokio::test]
    async fn a_panicking_job_does_not_take_its_reader_thread() {
        let hops = Hops::start("store-reader", READERS);
        for _ in 0..2 * READERS {
            all_idle(&hops, READERS).await;
            let answer: Option<()> = hops.run(|| panic!("a job that panics")).await;
            assert!(answer.is_none());
        }
        all_idle(&hops, READERS).await;
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
