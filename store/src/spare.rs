//! Spare inodes for the relay queue's files.
//!
//! Each relayed message used to cost one inode allocated (its queue file) and one
//! freed (when it had been delivered). On ext4 without a journal, which this project's
//! benchmark and CI machines run, allocating an inode steps over every inode of the
//! block group freed in the last minute (`recently_deleted` in the kernel's
//! `fs/ext4/ialloc.c`), while holding the directory's lock: relaying 2,000 messages/s,
//! half the server's CPU went into that walk and into sessions spinning on the lock
//! (perf, `tests/bench/results-2026-12-04-*-relay.md`). So a delivered queue file is
//! emptied and kept in `queue/spare/`, and the next message queued takes it over: one
//! rename each way, no inode allocated or freed, on any filesystem.
//!
//! A spare keeps the bytes it held until the next message is written over them: writing
//! over allocated blocks allocates nothing, and the `fdatasync` of a file whose size
//! did not change writes only its data. Only small files are kept ([`MAX_SPARE_BYTES`],
//! [`MAX_SPARES`] of them: at most 64 MiB of delivered mail waits there to be
//! overwritten), and a message the admin deletes from the queue is emptied first.
//!
//! Safety of the reuse:
//! - A queue file leaves `queue/msg/` by a rename before anything else happens to it,
//!   and queue ids are never reused. So a reader that still finds its file at the queue
//!   path after reading it (same inode) has read the original ([`read_verified`]); a
//!   reader that does not treats the entry as gone.
//! - A taken spare is written under a fresh name in `queue/tmp/` and cut to its new
//!   length before it is fsynced and renamed into `queue/msg/`: nobody reads it before.
//! - Only queue files are recycled, and only inodes with one name: mailbox files, which
//!   IMAP sessions read without locks, and anything hard linked are unlinked as before.
//! - Several processes (`serve`, the CLI's in-process `sendmail`) may share the
//!   directory: names carry the process id, and a spare another process took first is
//!   simply not there (the caller then creates a file as before).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most spare files kept; queue files given back beyond it are unlinked.
pub const MAX_SPARES: usize = 1024;

/// Largest queue file kept as a spare; larger ones are unlinked (their inode is a small
/// part of their cost, and their blocks should not wait on disk).
pub const MAX_SPARE_BYTES: u64 = 64 * 1024;

/// The pool of one data directory's spare queue files.
#[derive(Debug)]
pub struct Spares {
    dir: PathBuf,
    /// Names in `dir` believed free; read from the directory on first use.
    free: Mutex<Option<Vec<String>>>,
    next: AtomicU64,
}

impl Spares {
    /// The pool in `dir` (created on first give-back).
    pub fn new(dir: PathBuf) -> Spares {
        Spares {
            dir,
            free: Mutex::new(None),
            next: AtomicU64::new(0),
        }
    }

    /// Runs `f` on the free list, reading the directory the first time.
    fn with_free<T>(&self, f: impl FnOnce(&mut Vec<String>) -> T) -> T {
        let mut guard = crate::lock(&self.free);
        let list = guard.get_or_insert_with(|| {
            fs::read_dir(&self.dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .filter_map(|e| e.file_name().into_string().ok())
                        .take(MAX_SPARES)
                        .collect()
                })
                .unwrap_or_default()
        });
        f(list)
    }

    /// Opens a new file at `path` (which must not exist) for writing: a spare renamed
    /// there when there is one (`true`: it still holds old bytes, to be written over
    /// and cut to length with `set_len`), else a file created as usual.
    pub fn create(&self, path: &Path) -> io::Result<(File, bool)> {
        while let Some(name) = self.with_free(|l| l.pop()) {
            let from = self.dir.join(&name);
            // Another process may have taken it: then try the next.
            if fs::rename(&from, path).is_ok() {
                return Ok((OpenOptions::new().write(true).open(path)?, true));
            }
        }
        let f = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok((f, false))
    }

    /// Takes the file at `path` out of its directory: kept as a spare when it is small,
    /// the inode's only name and the pool has room (emptied first when `wipe`), else
    /// unlinked. A missing file is no error.
    pub fn give_back(&self, path: &Path, wipe: bool) -> io::Result<()> {
        let keep = match fs::symlink_metadata(path) {
            Ok(m) => m.is_file() && m.nlink() == 1 && m.len() <= MAX_SPARE_BYTES,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if !keep || self.with_free(|l| l.len()) >= MAX_SPARES {
            return remove(path);
        }
        let name = format!(
            "{}-{}",
            std::process::id(),
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let to = self.dir.join(&name);
        let moved = fs::rename(path, &to).or_else(|e| {
            if e.kind() != io::ErrorKind::NotFound {
                return Err(e);
            }
            fs::create_dir_all(&self.dir)?;
            fs::rename(path, &to)
        });
        if moved.is_err() {
            return remove(path);
        }
        // Out of the queue first, then (if asked) emptied: see the module doc.
        if wipe
            && let Err(e) = OpenOptions::new()
                .write(true)
                .open(&to)
                .and_then(|f| f.set_len(0))
        {
            tracing::warn!(path = %to.display(), error = %e, "cannot empty a spare queue file");
            return remove(&to);
        }
        self.with_free(|l| l.push(name));
        Ok(())
    }
}

/// Unlinks `path`; a missing file is no error.
fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Reads the file at `path` whole, and checks that it is still there afterwards (the
/// same inode): only then is what was read the file's content (see the module doc).
/// A file given back meanwhile reads as `NotFound`.
pub fn read_verified(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = File::open(path)?;
    let before = f.metadata()?;
    let mut bytes = Vec::with_capacity(usize::try_from(before.len()).unwrap_or(0));
    f.read_to_end(&mut bytes)?;
    let now = fs::symlink_metadata(path)?;
    if now.ino() != before.ino() || now.dev() != before.dev() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the queue file was removed while it was read",
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_back_file_is_reused_under_the_new_name() {
        let dir = tempfile::tempdir().expect("tmp");
        let spares = Spares::new(dir.path().join("spare"));
        let old = dir.path().join("old");
        fs::write(&old, b"secret content").expect("write");
        let ino = fs::metadata(&old).expect("meta").ino();
        spares.give_back(&old, true).expect("give back");
        assert!(!old.exists());
        let new = dir.path().join("new");
        let (f, reused) = spares.create(&new).expect("create");
        assert!(reused);
        assert_eq!(
            f.metadata().expect("meta").ino(),
            ino,
            "the same inode, reused"
        );
        assert_eq!(
            fs::read(&new).expect("read"),
            b"",
            "wiped: nothing of the old content"
        );
        // The pool is empty again: the next one is created.
        let other = dir.path().join("other");
        let (g, reused) = spares.create(&other).expect("create");
        assert!(!reused);
        assert_ne!(g.metadata().expect("meta").ino(), ino);
    }

    #[test]
    fn written_over_and_cut_to_length() {
        let dir = tempfile::tempdir().expect("tmp");
        let spares = Spares::new(dir.path().join("spare"));
        let tmp = dir.path().join("tmp");
        fs::create_dir(&tmp).expect("tmp dir");
        let old = crate::maildir::write_tmp_in(&tmp, "q1", b"a longer old message", Some(&spares))
            .expect("first");
        spares.give_back(&old, false).expect("give back");
        let new =
            crate::maildir::write_tmp_in(&tmp, "q2", b"short", Some(&spares)).expect("second");
        assert_eq!(
            fs::read(&new).expect("read"),
            b"short",
            "no tail of the old one"
        );
    }

    #[test]
    fn large_hard_linked_and_missing_files_are_not_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let spares = Spares::new(dir.path().join("spare"));
        let a = dir.path().join("a");
        fs::write(&a, b"shared").expect("write");
        fs::hard_link(&a, dir.path().join("b")).expect("link");
        spares.give_back(&a, false).expect("give back");
        assert!(!a.exists());
        assert_eq!(fs::read(dir.path().join("b")).expect("read"), b"shared");
        let big = dir.path().join("big");
        fs::write(&big, vec![b'x'; MAX_SPARE_BYTES as usize + 1]).expect("write");
        spares.give_back(&big, false).expect("give back");
        assert!(!big.exists());
        assert_eq!(spares.with_free(|l| l.len()), 0);
        spares
            .give_back(&dir.path().join("missing"), false)
            .expect("no error");
    }

    #[test]
    fn a_spare_taken_by_another_process_is_skipped() {
        let dir = tempfile::tempdir().expect("tmp");
        let spares = Spares::new(dir.path().join("spare"));
        let a = dir.path().join("a");
        fs::write(&a, b"x").expect("write");
        spares.give_back(&a, false).expect("give back");
        // Another process renames it away.
        let name = spares.with_free(|l| l[0].clone());
        fs::rename(
            dir.path().join("spare").join(&name),
            dir.path().join("taken"),
        )
        .expect("mv");
        let new = dir.path().join("new");
        let (_, reused) = spares.create(&new).expect("created instead");
        assert!(!reused);
        assert!(new.exists());
    }

    #[test]
    fn a_read_that_loses_its_file_says_not_found() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("q");
        fs::write(&p, b"queued").expect("write");
        assert_eq!(read_verified(&p).expect("read"), b"queued");
        fs::remove_file(&p).expect("rm");
        assert_eq!(
            read_verified(&p).expect_err("gone").kind(),
            io::ErrorKind::NotFound
        );
    }
}
