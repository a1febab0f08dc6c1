//! Directory fsyncs of the writer's batches (started before their commit, finished
//! after it), grouped per directory, on threads started once.
//!
//! A committed batch is answered once every directory it changed has been fsynced by
//! an fsync that *started after* the batch made its changes there. Each directory is
//! fsynced by one thread at a time; a batch that arrives while its directory's fsync
//! runs waits for the next one, which the same thread starts as soon as the running
//! one returns, for every batch that waited meanwhile (per-directory group commit).
//! Directories do not wait for each other: a batch is finished as soon as *its*
//! directories are done, on the thread that synced the last of them.
//!
//! The writer's syncer once fsynced rounds: every batch waiting, all their directories
//! in parallel, and answered them all when the slowest was done; a batch committed
//! meanwhile waited for the whole round before its own began. On the delivery bench
//! (8 deliverers, each its own mailbox) that wait was about half of each delivery's
//! latency.
//!
//! Invariants:
//! - An item is finished exactly once, after fsyncs of all its directories that
//!   started after [`DirSync::submit`] (or [`DirSync::reserve`]) was called for it, or
//!   with the first error.
//! - Never two fsyncs of one directory at once (on an ext4 without a journal the
//!   second would only wait for the first's buffers and write them again).
//! - Dropping the [`DirSync`] finishes every item submitted before it returns.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::lock;

/// Threads fsyncing directories at once.
pub const THREADS: usize = 8;

/// How a directory is fsynced (`maildir::sync_dir`; tests count and slow it).
pub(crate) type SyncFn = Arc<dyn Fn(&Path) -> io::Result<()> + Send + Sync>;

/// What is done with an item once its directories are durable (Ok) or one of them
/// could not be fsynced (Err: the directory and the error).
pub(crate) type FinishFn<T> = Arc<dyn Fn(T, Result<(), String>) + Send + Sync>;

/// The pool: submit items with their directories; each is finished on a pool thread.
pub(crate) struct DirSync<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Threads wait here for work.
    work: Condvar,
    /// A drop waits here for the last item.
    drained: Condvar,
    sync: SyncFn,
    finish: FinishFn<T>,
}

struct State<T> {
    /// Directories queued or being fsynced, each with the items its next fsync to
    /// *start* serves (taken by the thread as it starts one).
    dirs: HashMap<PathBuf, Vec<u64>>,
    /// Work not taken by a thread yet.
    ready: VecDeque<Work>,
    /// Items not finished, by id.
    items: HashMap<u64, Pending<T>>,
    next_id: u64,
    closed: bool,
}

/// One unit of a thread's work.
enum Work {
    /// fsync a directory (for the items `State::dirs` holds for it then).
    Sync(PathBuf),
    /// Finish an item that needs no fsync.
    Finish(u64),
}

struct Pending<T> {
    item: Held<T>,
    /// Directories still to be fsynced for it.
    left: usize,
    /// The first failure.
    error: Option<String>,
}

/// What a pending entry holds.
enum Held<T> {
    /// The item, finished once its fsyncs are done.
    Item(T),
    /// Nothing yet: a [`Reserved`] place waiting for its item.
    Awaited,
    /// Nothing ever: a [`Reserved`] place given up, dropped once its fsyncs are done.
    GivenUp,
}

impl<T> Pending<T> {
    /// Whether nothing keeps it in the pool any more: its fsyncs are done and it is
    /// not waiting for its item.
    fn done(&self) -> bool {
        self.left == 0 && !matches!(self.item, Held::Awaited)
    }
}

impl<T: Send + 'static> DirSync<T> {
    /// Starts [`THREADS`] threads named `name-N`. None when not even one starts (the
    /// caller then fsyncs and finishes by itself).
    pub(crate) fn start(name: &str, sync: SyncFn, finish: FinishFn<T>) -> Option<DirSync<T>> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                dirs: HashMap::new(),
                ready: VecDeque::new(),
                items: HashMap::new(),
                next_id: 0,
                closed: false,
            }),
            work: Condvar::new(),
            drained: Condvar::new(),
            sync,
            finish,
        });
        let mut threads = Vec::new();
        for n in 0..THREADS {
            let worker = shared.clone();
            match std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || worker.run())
            {
                Ok(t) => threads.push(t),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a directory fsync thread");
                    break;
                }
            }
        }
        if threads.is_empty() {
            return None;
        }
        Some(DirSync { shared, threads })
    }

    /// Finishes `item` once each of `dirs` has been fsynced after this call.
    pub(crate) fn submit(&self, item: T, dirs: impl IntoIterator<Item = PathBuf>) {
        self.register(dirs, Held::Item(item));
    }

    /// Starts the fsyncs an item will need before the item exists: each of `dirs` is
    /// fsynced after this call, and the item given later ([`Reserved::submit`]) is
    /// finished once they are done. The writer reserves as soon as a batch's files are
    /// linked, so their directories' fsyncs run while it commits the index.
    pub(crate) fn reserve(&self, dirs: impl IntoIterator<Item = PathBuf>) -> Reserved<'_, T> {
        let id = self.register(dirs, Held::Awaited);
        Reserved {
            pool: self,
            id: Some(id),
        }
    }

    /// Enters an item (or a place for one) for `dirs`; returns its id.
    fn register(&self, dirs: impl IntoIterator<Item = PathBuf>, item: Held<T>) -> u64 {
        let mut state = lock(&self.shared.state);
        let id = state.next_id;
        state.next_id += 1;
        let mut left = 0;
        let mut wake = 0;
        for dir in dirs {
            left += 1;
            // Served by the next fsync of `dir` to start: a queued one, or the one after
            // the running one (which may have passed this item's changes).
            match state.dirs.get_mut(&dir) {
                Some(next) => next.push(id),
                None => {
                    state.dirs.insert(dir.clone(), vec![id]);
                    state.ready.push_back(Work::Sync(dir));
                    wake += 1;
                }
            }
        }
        if left == 0 && matches!(item, Held::Item(_)) {
            state.ready.push_back(Work::Finish(id));
            wake += 1;
        }
        state.items.insert(
            id,
            Pending {
                item,
                left,
                error: None,
            },
        );
        drop(state);
        for _ in 0..wake {
            self.shared.work.notify_one();
        }
        id
    }
}

/// A place reserved in the pool ([`DirSync::reserve`]): its fsyncs run already.
/// Dropped without [`Reserved::submit`] (the commit failed), the place is given up.
pub(crate) struct Reserved<'a, T: Send + 'static> {
    pool: &'a DirSync<T>,
    /// None once submitted.
    id: Option<u64>,
}

impl<T: Send + 'static> Reserved<'_, T> {
    /// Gives the place its item: finished once the fsyncs reserved are done (now, on a
    /// pool thread, if they are).
    pub(crate) fn submit(mut self, item: T) {
        let Some(id) = self.id.take() else {
            return;
        };
        let mut state = lock(&self.pool.shared.state);
        let Some(p) = state.items.get_mut(&id) else {
            // Cannot happen: only this place's drop removes it before it has an item.
            tracing::error!(
                "store: a reserved directory fsync lost its place; the batch goes unanswered"
            );
            return;
        };
        p.item = Held::Item(item);
        if p.done() {
            state.ready.push_back(Work::Finish(id));
            drop(state);
            self.pool.shared.work.notify_one();
        }
    }
}

impl<T: Send + 'static> Drop for Reserved<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let mut state = lock(&self.pool.shared.state);
        let Some(p) = state.items.get_mut(&id) else {
            return;
        };
        p.item = Held::GivenUp;
        if p.done() {
            state.items.remove(&id);
            if state.items.is_empty() {
                self.pool.shared.drained.notify_all();
            }
        }
    }
}

impl<T: Send + 'static> Drop for DirSync<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        while !state.items.is_empty() {
            state = self
                .shared
                .drained
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.closed = true;
        drop(state);
        self.shared.work.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl<T: Send + 'static> Shared<T> {
    /// A pool thread: takes work until the pool is closed.
    fn run(&self) {
        let mut state = lock(&self.state);
        loop {
            let Some(work) = state.ready.pop_front() else {
                if state.closed {
                    return;
                }
                state = self
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            let dir = match work {
                Work::Finish(id) => {
                    let done = state.items.remove(&id);
                    state = self.finish_all(state, done.into_iter().collect());
                    continue;
                }
                Work::Sync(dir) => dir,
            };
            // This directory's fsyncs, one after another, for as long as items arrive
            // for it while one runs: each serves the items submitted before it starts.
            loop {
                let ids = state
                    .dirs
                    .get_mut(&dir)
                    .map(std::mem::take)
                    .unwrap_or_default();
                drop(state);
                // A panic (a bug) fails this fsync's items like an error, and the
                // thread, and the directory's place in the state, go on.
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.sync)(&dir)))
                        .unwrap_or_else(|_| Err(io::Error::other("the fsync panicked")))
                        .map_err(|e| format!("{}: {e}", dir.display()));
                state = lock(&self.state);
                let mut done = Vec::new();
                for id in ids {
                    let Some(p) = state.items.get_mut(&id) else {
                        continue;
                    };
                    p.left -= 1;
                    if let Err(e) = &result
                        && p.error.is_none()
                    {
                        p.error = Some(e.clone());
                    }
                    // Done, unless a reserved place still waits for its item.
                    if p.done()
                        && let Some(p) = state.items.remove(&id)
                    {
                        done.push(p);
                    }
                }
                let more = state.dirs.get(&dir).is_some_and(|next| !next.is_empty());
                if !more {
                    state.dirs.remove(&dir);
                }
                state = self.finish_all(state, done);
                if !more {
                    break;
                }
            }
        }
    }

    /// Finishes `done` without the lock held; returns the lock.
    fn finish_all<'a>(
        &'a self,
        state: MutexGuard<'a, State<T>>,
        done: Vec<Pending<T>>,
    ) -> MutexGuard<'a, State<T>> {
        if done.is_empty() {
            return state;
        }
        drop(state);
        for p in done {
            let Held::Item(item) = p.item else {
                continue;
            };
            let finish = || (self.finish)(item, p.error.map_or(Ok(()), Err));
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(finish)).is_err() {
                tracing::error!("store: finishing a synced item panicked");
            }
        }
        let state = lock(&self.state);
        if state.items.is_empty() {
            self.drained.notify_all();
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A pool whose fsync takes `slow` and records (directory, start, end) in a
    /// global sequence; finished items land in the returned list with the sequence
    /// number at which they were finished.
    #[allow(clippy::type_complexity)]
    fn pool(
        slow: Duration,
    ) -> (
        DirSync<(u32, usize)>,
        Arc<Mutex<Vec<(PathBuf, usize, usize)>>>,
        Arc<Mutex<Vec<(u32, usize, usize, Result<(), String>)>>>,
        Arc<AtomicUsize>,
    ) {
        let seq = Arc::new(AtomicUsize::new(0));
        let syncs = Arc::new(Mutex::new(Vec::new()));
        let finished = Arc::new(Mutex::new(Vec::new()));
        let (s, q) = (syncs.clone(), seq.clone());
        let sync: SyncFn = Arc::new(move |dir: &Path| {
            let start = q.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(slow);
            let r = crate::maildir::sync_dir(dir);
            let end = q.fetch_add(1, Ordering::SeqCst);
            lock(&s).push((dir.to_path_buf(), start, end));
            r
        });
        let (f, q) = (finished.clone(), seq.clone());
        let finish: FinishFn<(u32, usize)> = Arc::new(move |(item, submitted), r| {
            let at = q.fetch_add(1, Ordering::SeqCst);
            lock(&f).push((item, submitted, at, r));
        });
        let pool = DirSync::start("test-dirsync", sync, finish).expect("threads");
        (pool, syncs, finished, seq)
    }

    #[test]
    fn each_item_waits_for_fsyncs_of_its_directories_started_after_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("d{i}"))).collect();
        for d in &dirs {
            std::fs::create_dir(d).expect("mkdir");
        }
        let (pool, syncs, finished, seq) = pool(Duration::from_millis(5));
        // Items on one, two, three and no directories, submitted while earlier fsyncs
        // of the same directories run.
        let mut wanted = HashMap::new();
        for i in 0..60u32 {
            let n = (i % 4) as usize;
            let mine: Vec<PathBuf> = dirs
                .iter()
                .cycle()
                .skip(i as usize)
                .take(n)
                .cloned()
                .collect();
            let at = seq.fetch_add(1, Ordering::SeqCst);
            wanted.insert(i, mine.clone());
            pool.submit((i, at), mine);
            if i % 7 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        drop(pool);
        let syncs = lock(&syncs).clone();
        let finished = lock(&finished).clone();
        assert_eq!(finished.len(), 60, "every item finished once");
        for (item, submitted, at, r) in &finished {
            assert!(r.is_ok(), "{item}: {r:?}");
            for dir in &wanted[item] {
                assert!(
                    syncs
                        .iter()
                        .any(|(d, start, end)| d == dir && start > submitted && end < at),
                    "item {item}: no fsync of {} between its submission and its finish",
                    dir.display()
                );
            }
        }
        // Never two fsyncs of one directory at once.
        for dir in &dirs {
            let mut runs: Vec<(usize, usize)> = syncs
                .iter()
                .filter(|(d, ..)| d == dir)
                .map(|&(_, s, e)| (s, e))
                .collect();
            runs.sort();
            assert!(
                runs.windows(2).all(|w| w[0].1 < w[1].0),
                "{}: overlapping",
                dir.display()
            );
        }
        // Grouped: fewer fsyncs than items asked for.
        let asked: usize = wanted.values().map(Vec::len).sum();
        assert!(
            syncs.len() < asked,
            "{} fsyncs for {asked} asked",
            syncs.len()
        );
    }

    /// A place reserved before its item exists: its fsync starts after the
    /// reservation, before the item is given; the item is finished once, after it
    /// is given, with the reservation's fsync (none started after the submit). A
    /// place given up finishes nothing, and does not hold the pool's drop.
    #[test]
    fn a_reserved_place_syncs_before_its_item_is_given() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir(d).expect("mkdir");
        }
        let (pool, syncs, finished, seq) = pool(Duration::ZERO);
        let reserved_at = seq.fetch_add(1, Ordering::SeqCst);
        let reserved = pool.reserve([a.clone()]);
        let given_up = pool.reserve([b.clone()]);
        drop(given_up);
        // The fsync runs without the item (it would not have with `submit`).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !lock(&syncs).iter().any(|(d, ..)| d == &a) {
            assert!(std::time::Instant::now() < deadline, "no fsync of a/");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(lock(&finished).is_empty(), "finished before it was given");
        let given_at = seq.fetch_add(1, Ordering::SeqCst);
        reserved.submit((1, given_at));
        drop(pool);
        let finished = lock(&finished).clone();
        assert_eq!(finished.len(), 1, "{finished:?}");
        let (item, _, at, r) = &finished[0];
        assert_eq!((*item, r.is_ok()), (1, true));
        assert!(at > &given_at);
        let syncs = lock(&syncs).clone();
        assert!(
            syncs
                .iter()
                .any(|(d, start, end)| d == &a && *start > reserved_at && *end < given_at),
            "{syncs:?}"
        );
        assert!(
            syncs.iter().any(|(d, ..)| d == &b),
            "b/'s fsync ran, given up or not"
        );
    }

    /// The writer's usual case: the item is given while its reserved fsync still
    /// runs, and is finished only after that fsync ends.
    #[test]
    fn a_reserved_place_given_its_item_mid_fsync_waits_for_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (pool, syncs, finished, seq) = pool(Duration::from_millis(100));
        let reserved = pool.reserve([tmp.path().to_path_buf()]);
        // Until the fsync has started (it counts one at its start), then give the item.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while seq.load(Ordering::SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the fsync never started"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let given_at = seq.fetch_add(1, Ordering::SeqCst);
        reserved.submit((1, given_at));
        drop(pool);
        let (syncs, finished) = (lock(&syncs).clone(), lock(&finished).clone());
        assert_eq!(
            (syncs.len(), finished.len()),
            (1, 1),
            "{syncs:?} {finished:?}"
        );
        let (_, start, end) = &syncs[0];
        assert!(start < &given_at, "the fsync started before the item came");
        assert!(finished[0].2 > *end, "finished before its fsync ended");
    }

    #[test]
    fn a_failing_directory_fails_only_the_items_that_need_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let good = tmp.path().join("good");
        std::fs::create_dir(&good).expect("mkdir");
        let gone = tmp.path().join("gone");
        let (pool, _, finished, _) = pool(Duration::ZERO);
        pool.submit((1, 0), [good.clone()]);
        pool.submit((2, 0), [good.clone(), gone.clone()]);
        pool.submit((3, 0), [gone.clone()]);
        pool.submit((4, 0), []);
        drop(pool);
        let mut finished: Vec<(u32, bool)> = lock(&finished)
            .iter()
            .map(|(i, _, _, r)| (*i, r.is_ok()))
            .collect();
        finished.sort();
        assert_eq!(finished, vec![(1, true), (2, false), (3, false), (4, true)]);
    }

    /// A panic in an fsync fails only its items, one in a finish loses only that
    /// item's finish; every other item is finished and dropping the pool returns
    /// (a thread that died would leave its directory's items unfinished for good).
    #[test]
    fn a_panic_in_an_fsync_or_a_finish_stops_nothing_else() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (good, boom) = (tmp.path().join("good"), tmp.path().join("boom"));
        let finished = Arc::new(Mutex::new(Vec::new()));
        let seen = finished.clone();
        let boom_dir = boom.clone();
        let pool = DirSync::start(
            "test-sync",
            Arc::new(move |dir: &Path| {
                assert!(dir != boom_dir, "a bug in an fsync");
                Ok(())
            }),
            Arc::new(move |item: u32, r: Result<(), String>| {
                assert!(item != 3, "a bug in a finish");
                lock(&seen).push((item, r.is_ok()));
            }),
        )
        .expect("pool");
        for round in 0..3 {
            pool.submit(10 * round + 1, [good.clone()]);
            pool.submit(10 * round + 2, [boom.clone()]);
            pool.submit(10 * round + 3, [good.clone()]);
        }
        let (dropped, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(pool);
            let _ = dropped.send(());
        });
        assert!(
            done.recv_timeout(Duration::from_secs(10)).is_ok(),
            "items left unfinished: a pool thread died"
        );
        let mut finished = lock(&finished).clone();
        finished.sort();
        assert_eq!(
            finished,
            vec![
                (1, true),
                (2, false),
                (11, true),
                (12, false),
                (13, true),
                (21, true),
                (22, false),
                (23, true)
            ]
        );
    }
}
