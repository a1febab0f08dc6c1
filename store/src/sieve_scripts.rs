//! A user's Sieve scripts (RFC 5228), as ManageSieve (RFC 5804) and the CLI manage them
//! and delivery reads them.
//!
//! On disk, in the user's tree, the way Dovecot's Pigeonhole keeps them: one file per
//! script, `mail/<domain>/<user>/sieve/<name>.sieve`, so that a tree moved from Dovecot
//! carries them over. Which one is active (RFC 5804 §2.8: at most one) is the regular
//! file `sieve/active` holding its name (Pigeonhole uses a `~/.dovecot.sieve` symlink,
//! which in a Maildir++ root would read as a folder): no script file can be called
//! that, since every script name gets the `.sieve` suffix. Every change is written to a
//! temporary name, fsynced and renamed into place, and the directory fsynced: a script
//! stored is stored, and a crash leaves the old version or the new one.
//!
//! These are blocking calls (small files): callers in async code run them as they run
//! other small store reads.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result, StoreError};
use crate::model::Address;
use crate::{Store, maildir};

/// The directory of a user's scripts, inside their tree.
pub const SCRIPT_DIR: &str = "sieve";
/// The file naming the active script.
pub const ACTIVE_FILE: &str = "active";
/// What every script file name ends with.
pub const SUFFIX: &str = ".sieve";
/// Longest script name, in bytes (its file name must fit NAME_MAX with the suffix).
pub const MAX_NAME_BYTES: usize = 200;

/// A stored script, as LISTSCRIPTS shows it (RFC 5804 §2.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptInfo {
    /// Its name.
    pub name: String,
    /// Whether it is the active one.
    pub active: bool,
    /// Its size in bytes.
    pub size: u64,
}

/// Why a script name is refused: RFC 5804 §1.6 excludes control characters (and the
/// line and paragraph separators); a `/` or a leading `.` could not be one file name.
pub fn check_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() {
        return Err("a script name cannot be empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("the script name is too long");
    }
    if name.starts_with('.') || name.contains('/') {
        return Err("a script name cannot contain '/' or start with '.'");
    }
    let control = |c: char| {
        c.is_control() || c == '\u{2028}' || c == '\u{2029}' // RFC 5804 §1.6
    };
    if name.chars().any(control) {
        return Err("a script name cannot contain control characters");
    }
    Ok(())
}

fn bad_name(name: &str, why: &str) -> StoreError {
    StoreError::Invalid(format!("script name {name:?}: {why}"))
}

/// `name`'s file in `dir`, once the name is checked.
fn script_path(dir: &Path, name: &str) -> Result<PathBuf> {
    check_name(name).map_err(|why| bad_name(name, why))?;
    Ok(dir.join(format!("{name}{SUFFIX}")))
}

/// Writes `bytes` to `path` by a temporary name in the same directory, fsynced, renamed
/// into place, the directory fsynced.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    fs::create_dir_all(dir).at(dir)?;
    let tmp = dir.join(format!(".tmp-{}", maildir::unique_name(maildir::host())));
    let written = (|| -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).at(path);
    }
    maildir::sync_dir(dir).at(dir)
}

impl Store {
    /// The directory of `user`'s scripts.
    pub fn sieve_dir(&self, user: &Address) -> PathBuf {
        maildir::user_root(self.data_dir(), user).join(SCRIPT_DIR)
    }

    /// The name of `user`'s active script, if any (one whose file is missing counts as
    /// none).
    pub fn sieve_active_name_blocking(&self, user: &Address) -> Result<Option<String>> {
        let dir = self.sieve_dir(user);
        let path = dir.join(ACTIVE_FILE);
        let name = match fs::read_to_string(&path) {
            Ok(s) => s.trim_end_matches(['\r', '\n']).to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).at(&path),
        };
        match script_path(&dir, &name) {
            Ok(p) if p.is_file() => Ok(Some(name)),
            _ => Ok(None),
        }
    }

    /// `user`'s scripts, by name (RFC 5804 §2.7 LISTSCRIPTS).
    pub fn sieve_list_blocking(&self, user: &Address) -> Result<Vec<ScriptInfo>> {
        let dir = self.sieve_dir(user);
        let active = self.sieve_active_name_blocking(user)?;
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at(&dir),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.at(&dir)?;
            let Ok(file) = entry.file_name().into_string() else {
                continue;
            };
            let Some(name) = file.strip_suffix(SUFFIX) else {
                continue;
            };
            if check_name(name).is_err() {
                continue;
            }
            let meta = entry.metadata().at(&entry.path())?;
            if !meta.is_file() {
                continue;
            }
            out.push(ScriptInfo {
                name: name.to_string(),
                active: active.as_deref() == Some(name),
                size: meta.len(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A script's text, or None when there is no such script (RFC 5804 §2.9).
    pub fn sieve_get_blocking(&self, user: &Address, name: &str) -> Result<Option<Vec<u8>>> {
        let path = script_path(&self.sieve_dir(user), name)?;
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at(&path),
        }
    }

    /// The active script's name and text, if there is one: what delivery runs.
    pub fn sieve_active_blocking(&self, user: &Address) -> Result<Option<(String, Vec<u8>)>> {
        let Some(name) = self.sieve_active_name_blocking(user)? else {
            return Ok(None);
        };
        Ok(self
            .sieve_get_blocking(user, &name)?
            .map(|text| (name, text)))
    }

    /// Stores `text` as script `name`, replacing one of that name (RFC 5804 §2.6
    /// PUTSCRIPT; the caller has validated it). Durable when this returns.
    pub fn sieve_put_blocking(&self, user: &Address, name: &str, text: &[u8]) -> Result<()> {
        let dir = self.sieve_dir(user);
        let path = script_path(&dir, name)?;
        write_atomic(&dir, &path, text)
    }

    /// Makes `name` the active script, or none with `None` (RFC 5804 §2.8 SETACTIVE;
    /// an unknown name is `StoreError::NoScript`).
    pub fn sieve_activate_blocking(&self, user: &Address, name: Option<&str>) -> Result<()> {
        let dir = self.sieve_dir(user);
        let active = dir.join(ACTIVE_FILE);
        match name {
            Some(name) => {
                if !script_path(&dir, name)?.is_file() {
                    return Err(StoreError::NoScript(name.to_string()));
                }
                write_atomic(&dir, &active, format!("{name}\n").as_bytes())
            }
            None => match fs::remove_file(&active) {
                Ok(()) => maildir::sync_dir(&dir).at(&dir),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e).at(&active),
            },
        }
    }

    /// Deletes script `name`; the active one cannot be (RFC 5804 §2.10: NO (ACTIVE)).
    pub fn sieve_delete_blocking(&self, user: &Address, name: &str) -> Result<()> {
        let dir = self.sieve_dir(user);
        let path = script_path(&dir, name)?;
        if self.sieve_active_name_blocking(user)?.as_deref() == Some(name) {
            return Err(StoreError::ScriptActive(name.to_string()));
        }
        match fs::remove_file(&path) {
            Ok(()) => maildir::sync_dir(&dir).at(&dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::NoScript(name.to_string()))
            }
            Err(e) => Err(e).at(&path),
        }
    }

    /// Renames script `old` to `new` (RFC 5804 §2.11 RENAMESCRIPT); the active script
    /// stays active under its new name. `new` must not exist.
    pub fn sieve_rename_blocking(&self, user: &Address, old: &str, new: &str) -> Result<()> {
        let dir = self.sieve_dir(user);
        let from = script_path(&dir, old)?;
        let to = script_path(&dir, new)?;
        if !from.is_file() {
            return Err(StoreError::NoScript(old.to_string()));
        }
        if to.exists() {
            return Err(StoreError::Exists(format!("script {new:?}")));
        }
        let was_active = self.sieve_active_name_blocking(user)?.as_deref() == Some(old);
        // Hard link then unlink: never two scripts replaced, never none left.
        fs::hard_link(&from, &to).at(&to)?;
        if was_active {
            write_atomic(&dir, &dir.join(ACTIVE_FILE), format!("{new}\n").as_bytes())?;
        }
        fs::remove_file(&from).at(&from)?;
        maildir::sync_dir(&dir).at(&dir)
    }
}

/// The ManageSieve door (RFC 5804): each script operation as an async method that
/// makes its own blocking hop (the scripts are files).
impl Store {
    /// RFC 5804 §2.7 LISTSCRIPTS.
    pub async fn sieve_list(&self, user: &Address) -> Result<Vec<ScriptInfo>> {
        let user = user.clone();
        self.hop(move |s| s.sieve_list_blocking(&user)).await
    }

    /// RFC 5804 §2.9 GETSCRIPT.
    pub async fn sieve_get(&self, user: &Address, name: &str) -> Result<Option<Vec<u8>>> {
        let (user, name) = (user.clone(), name.to_string());
        self.hop(move |s| s.sieve_get_blocking(&user, &name)).await
    }

    /// RFC 5804 §2.6 PUTSCRIPT.
    pub async fn sieve_put(&self, user: &Address, name: &str, text: Vec<u8>) -> Result<()> {
        let (user, name) = (user.clone(), name.to_string());
        self.hop(move |s| s.sieve_put_blocking(&user, &name, &text))
            .await
    }

    /// RFC 5804 §2.8 SETACTIVE (`None`: no script active).
    pub async fn sieve_activate(&self, user: &Address, name: Option<&str>) -> Result<()> {
        let (user, name) = (user.clone(), name.map(str::to_string));
        self.hop(move |s| s.sieve_activate_blocking(&user, name.as_deref()))
            .await
    }

    /// RFC 5804 §2.10 DELETESCRIPT.
    pub async fn sieve_delete(&self, user: &Address, name: &str) -> Result<()> {
        let (user, name) = (user.clone(), name.to_string());
        self.hop(move |s| s.sieve_delete_blocking(&user, &name))
            .await
    }

    /// RFC 5804 §2.11.1 RENAMESCRIPT.
    pub async fn sieve_rename(&self, user: &Address, old: &str, new: &str) -> Result<()> {
        let (user, old, new) = (user.clone(), old.to_string(), new.to_string());
        self.hop(move |s| s.sieve_rename_blocking(&user, &old, &new))
            .await
    }
}

/// What a Sieve run reads of the store (RFC 5228 §5.1 `mailboxexists` is RFC 5490's,
/// `duplicate` RFC 7352's, `include` RFC 6609's), on the blocking side of
/// [`Store::with_sieve`]: scripts are files and the duplicate memory is in the index,
/// so a run never happens on a tokio worker thread.
pub struct SieveScope<'a> {
    store: &'a Store,
}

impl SieveScope<'_> {
    /// The directory of `user`'s scripts.
    pub fn dir(&self, user: &Address) -> PathBuf {
        self.store.sieve_dir(user)
    }

    /// The name of `user`'s active script, if any.
    pub fn active_name(&self, user: &Address) -> Result<Option<String>> {
        self.store.sieve_active_name_blocking(user)
    }

    /// One of `user`'s scripts.
    pub fn script(&self, user: &Address, name: &str) -> Result<Option<Vec<u8>>> {
        self.store.sieve_get_blocking(user, name)
    }

    /// RFC 5490 §3.1 `mailboxexists`: whether `user` has mailbox `name`.
    pub fn mailbox_exists(&self, user: &Address, name: &str) -> Result<bool> {
        Ok(self.store.mailbox_blocking(user, name)?.is_some())
    }

    /// RFC 7352 §3 `duplicate` and RFC 5230 §4.2 vacation memory: whether `key` of
    /// `kind` was remembered for `user` within `seconds` ([`Store::sieve_seen`]).
    pub fn seen(
        &self,
        user: &Address,
        kind: &str,
        key: &str,
        seconds: u64,
        from_last: bool,
    ) -> Result<bool> {
        self.store.sieve_seen(user, kind, key, seconds, from_last)
    }
}

impl Store {
    /// Runs `job` (Sieve script lookups and runs) with a [`SieveScope`] in one hop to
    /// the blocking pool.
    pub async fn with_sieve<T: Send + 'static>(
        &self,
        job: impl FnOnce(&SieveScope<'_>) -> T + Send + 'static,
    ) -> Result<T> {
        self.hop(move |s| Ok(job(&SieveScope { store: s }))).await
    }

    /// A [`SieveScope`] for blocking code that already runs off the tokio workers
    /// (the CLI, tests).
    pub fn sieve_scope_blocking(&self) -> SieveScope<'_> {
        SieveScope { store: self }
    }
}
