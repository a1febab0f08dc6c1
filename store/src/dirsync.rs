//! fsync of many directories at once, on threads started once.
//!
//! A batch of deliveries for 10 users touches 10 `new/` directories: one fsync after
//! another, each waits for its own disk round; in parallel the file system folds them
//! into a few. Spawning threads for each round (as `std::thread::scope` does) costs a
//! thread creation and exit per directory group and round — about as many `clone3`
//! calls as messages under load. Here [`THREADS`] − 1 helper threads wait for rounds;
//! the caller works on its own round too, so a round of one directory involves no
//! other thread.
//!
//! Invariant: [`sync_all`] returns only when every directory it was given has been
//! fsynced (or one failed: the first failure is returned, with its directory, after
//! the others finished).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, mpsc};

/// Threads fsyncing one round's directories at once, the caller included.
pub const THREADS: usize = 8;

/// One call's directories, worked off by whoever claims the next index.
struct Round {
    dirs: Vec<PathBuf>,
    next: AtomicUsize,
    /// Directories not finished yet, and the first error.
    left: Mutex<(usize, Option<(PathBuf, io::Error)>)>,
    done: Condvar,
}

impl Round {
    /// fsyncs directories of this round until none is left to claim.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(dir) = self.dirs.get(i) else {
                return;
            };
            let r = crate::maildir::sync_dir(dir);
            let mut left = self.left.lock().unwrap_or_else(|p| p.into_inner());
            left.0 -= 1;
            if let Err(e) = r
                && left.1.is_none()
            {
                left.1 = Some((dir.clone(), e));
            }
            if left.0 == 0 {
                self.done.notify_all();
            }
        }
    }
}

/// The helper threads' queue (None: they could not be started; the caller does all).
fn helpers() -> Option<&'static Mutex<mpsc::Sender<Arc<Round>>>> {
    static POOL: OnceLock<Option<Mutex<mpsc::Sender<Arc<Round>>>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Arc<Round>>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..THREADS - 1 {
            let rx = rx.clone();
            let started = std::thread::Builder::new()
                .name(format!("store-dirsync-{n}"))
                .spawn(move || {
                    loop {
                        let round = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match round {
                            Ok(round) => round.work(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = started {
                tracing::warn!(error = %e, "cannot start a directory fsync thread");
                if n == 0 {
                    return None;
                }
                break;
            }
        }
        Some(Mutex::new(tx))
    })
    .as_ref()
}

/// fsyncs every directory of `dirs`, up to [`THREADS`] at a time. Err: the first
/// directory whose fsync failed, and why.
pub fn sync_all<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Result<(), (PathBuf, io::Error)> {
    let dirs: Vec<PathBuf> = dirs.into_iter().map(Path::to_path_buf).collect();
    match dirs.as_slice() {
        [] => return Ok(()),
        [one] => return crate::maildir::sync_dir(one).map_err(|e| (one.clone(), e)),
        _ => {}
    }
    let round = Arc::new(Round {
        next: AtomicUsize::new(0),
        left: Mutex::new((dirs.len(), None)),
        done: Condvar::new(),
        dirs,
    });
    if let Some(helpers) = helpers()
        && let Ok(tx) = helpers.lock()
    {
        // As many helpers as there are directories beyond the caller's own.
        for _ in 1..round.dirs.len().min(THREADS) {
            if tx.send(round.clone()).is_err() {
                break;
            }
        }
    }
    round.work();
    let mut left = round.left.lock().unwrap_or_else(|p| p.into_inner());
    while left.0 > 0 {
        left = round.done.wait(left).unwrap_or_else(|p| p.into_inner());
    }
    match left.1.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_directory_synced_and_errors_reported() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs: Vec<PathBuf> = (0..20).map(|i| tmp.path().join(format!("d{i}"))).collect();
        for d in &dirs {
            std::fs::create_dir(d).expect("mkdir");
        }
        sync_all(dirs.iter().map(PathBuf::as_path)).expect("all exist");
        sync_all(dirs[..1].iter().map(PathBuf::as_path)).expect("one");
        sync_all(std::iter::empty()).expect("none");
        // Many rounds at once, from several callers.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20 {
                        sync_all(dirs.iter().map(PathBuf::as_path)).expect("concurrent");
                    }
                });
            }
        });
        let mut with_missing = dirs.clone();
        with_missing.insert(7, tmp.path().join("missing"));
        let (dir, _) =
            sync_all(with_missing.iter().map(PathBuf::as_path)).expect_err("missing dir");
        assert!(dir.ends_with("missing"), "{}", dir.display());
    }
}
