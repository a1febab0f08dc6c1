//! `mailyard backup DIR`, `backup --verify DIR` and `restore DIR`: an online backup of
//! a data dir while `serve` runs and mail arrives, a check of one, and bringing one
//! back into an empty data dir.
//!
//! What a backup holds (`DIR/`):
//! - `MANIFEST`: `mailyard-backup 1`, `created <unix seconds>`, `index_schema <n>`,
//!   then one line per file, `<size> <sha256 hex> <path relative to DIR>`.
//! - `data/accounts.db`: users, domains, aliases, password hashes, copied through
//!   SQLite's online backup API (a consistent snapshot; writers are not stopped).
//! - `data/queue.db`: the relay queue's state (its `queue` and `queue_rcpt` rows),
//!   copied from the index in one read transaction; `data/queue/msg/` its files.
//! - `data/mail/`: every user's Maildir++ tree. Message files (in `cur/` and `new/`)
//!   are hard links where the backup is on the data dir's filesystem (maildir files
//!   never change once written; a flag change renames them), else copies; every
//!   other file (`mailyard-state`, keyword maps, subscriptions) is copied. `tmp/`
//!   contents are left out (deliveries not acknowledged yet).
//! - `data/<anything else>`: the rest of the data dir (DKIM keys, the generated TLS
//!   certificate), copied; `index.db` is left out (rebuilt on restore), as are `tmp/`
//!   and `queue/tmp/`.
//! - `config/`: the config file and TLS certificate and key named in it (when given),
//!   copied for the admin to put back; restore does not write outside the data dir.
//!
//! Consistency: the databases are snapshotted first, then the maildirs walked. Every
//! message acknowledged before the backup started is in some mailbox's `new/` or
//! `cur/` by then; each mailbox is read `new/` first, then `cur/`, so a message
//! moved from `new/` to `cur/` meanwhile is still seen, and a file renamed between
//! the listing and the link (a flag change) is found again by its base name. A second
//! pass over every mailbox then takes any file whose name the first pass did not see
//! (mail moved from a folder not yet read into one already read); each mailbox's
//! side files are copied after its messages, so its `mailyard-state` reservation is
//! above every UID in the backup, and a restored mailbox goes on above UIDs the
//! source handed out until then (RFC 9051 §2.3.1.1). Mail that arrives
//! during the backup may or may not be in it. On restore the index is rebuilt from
//! the tree, and UIDs go on from each mailbox's `mailyard-state` reservations and the
//! files' own `,U=` UIDs, so no UID is handed out twice.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, Result, StoreError};
use crate::maildir;

/// The manifest's file name.
pub const MANIFEST: &str = "MANIFEST";
/// The manifest's first line.
pub const MAGIC: &str = "mailyard-backup 1";
/// Pages copied per step of SQLite's online backup (writers get the database between
/// steps).
pub const BACKUP_PAGES_PER_STEP: std::ffi::c_int = 256;

/// What `backup` should also copy from outside the data dir.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// The config file, when one was given.
    pub config: Option<PathBuf>,
    /// TLS certificate and key named in the config (outside the data dir).
    pub tls: Vec<PathBuf>,
}

/// What a backup or restore did.
#[derive(Debug, Clone, Default)]
pub struct BackupReport {
    /// Files in the backup.
    pub files: usize,
    /// Message files hard linked.
    pub linked: usize,
    /// Files copied.
    pub copied: usize,
    /// Octets of all files.
    pub bytes: u64,
}

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the backup dir.
    pub path: String,
    /// Octets.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn empty_or_missing(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut r) => Ok(r.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).at(dir),
    }
}

/// Makes a backup of `data_dir` in `dest` (new or empty). Safe while `serve` runs.
pub fn backup(data_dir: &Path, dest: &Path, extras: &Extras) -> Result<BackupReport> {
    if !empty_or_missing(dest)? {
        return Err(StoreError::Invalid(format!(
            "{} is not empty; back up into a new directory",
            dest.display()
        )));
    }
    let created = now_secs();
    let data = dest.join("data");
    fs::create_dir_all(&data).at(&data)?;
    let mut report = BackupReport::default();
    // 1. The databases: consistent snapshots.
    snapshot_accounts(data_dir, &data)?;
    snapshot_queue(data_dir, &data)?;
    // 2. The queue's files, then every user's maildir, then the rest.
    copy_tree(
        &data_dir.join("queue").join("msg"),
        &data.join("queue").join("msg"),
        &mut report,
    )?;
    let mail = data_dir.join("mail");
    if mail.is_dir() {
        let mut seen = HashSet::new();
        for pass in 0..2 {
            walk_mail(&mail, &data.join("mail"), &mut seen, pass, &mut report)?;
        }
    }
    for entry in fs::read_dir(data_dir).at(data_dir)? {
        let entry = entry.at(data_dir)?;
        let name = entry.file_name().to_string_lossy().to_string();
        if matches!(name.as_str(), "mail" | "queue" | "tmp")
            || name.starts_with("index.db")
            || name.starts_with("accounts.db")
        {
            continue;
        }
        let to = data.join(&name);
        if entry.file_type().at(&entry.path())?.is_dir() {
            copy_tree(&entry.path(), &to, &mut report)?;
        } else {
            copy_file(&entry.path(), &to, &mut report)?;
        }
    }
    let config = dest.join("config");
    let mut external = Vec::new();
    external.extend(extras.config.clone());
    external.extend(
        extras
            .tls
            .iter()
            .filter(|p| !p.starts_with(data_dir))
            .cloned(),
    );
    for p in external {
        if let Some(name) = p.file_name() {
            fs::create_dir_all(&config).at(&config)?;
            copy_file(&p, &config.join(name), &mut report)?;
        }
    }
    // 3. The manifest, last: a backup without one is incomplete.
    let entries = list_files(dest)?;
    let mut text = format!(
        "{MAGIC}\ncreated {created}\nindex_schema {}\n",
        crate::index::SCHEMA_VERSION
    );
    for e in &entries {
        report.bytes += e.size;
        text.push_str(&format!("{} {} {}\n", e.size, e.sha256, e.path));
    }
    report.files = entries.len();
    maildir::write_atomic(dest, MANIFEST, text.as_bytes()).at(dest)?;
    Ok(report)
}

/// `accounts.db` through SQLite's online backup API.
fn snapshot_accounts(data_dir: &Path, data: &Path) -> Result<()> {
    let src_path = data_dir.join("accounts.db");
    if !src_path.exists() {
        return Ok(());
    }
    let src = rusqlite::Connection::open_with_flags(
        &src_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    src.busy_timeout(crate::index::BUSY_TIMEOUT)?;
    let mut dst = rusqlite::Connection::open(data.join("accounts.db"))?;
    {
        let b = rusqlite::backup::Backup::new(&src, &mut dst)?;
        b.run_to_completion(BACKUP_PAGES_PER_STEP, std::time::Duration::ZERO, None)?;
    }
    // One self-contained file (no -wal beside it).
    dst.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

/// The relay queue's rows, copied in one read transaction of the index.
fn snapshot_queue(data_dir: &Path, data: &Path) -> Result<()> {
    let db = data_dir.join("index.db");
    if !db.exists() {
        return Ok(());
    }
    let conn = crate::index::connect(&db, false)?;
    let target = data.join("queue.db");
    conn.execute("ATTACH DATABASE ?1 AS b", [target.to_string_lossy()])?;
    conn.execute_batch(
        "BEGIN;
         CREATE TABLE b.queue AS SELECT * FROM main.queue;
         CREATE TABLE b.queue_rcpt AS SELECT * FROM main.queue_rcpt;
         COMMIT;",
    )?;
    conn.execute_batch("DETACH DATABASE b")?;
    Ok(())
}

/// Copies a regular file (fsynced, mtime kept).
fn copy_file(from: &Path, to: &Path, report: &mut BackupReport) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).at(parent)?;
    }
    crate::import::copy_file(from, to)?;
    report.copied += 1;
    Ok(())
}

/// Copies a directory tree (regular files only; symlinks and others are skipped).
fn copy_tree(from: &Path, to: &Path, report: &mut BackupReport) -> Result<()> {
    let read = match fs::read_dir(from) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).at(from),
    };
    fs::create_dir_all(to).at(to)?;
    for entry in read {
        let entry = entry.at(from)?;
        let ft = entry.file_type().at(&entry.path())?;
        let target = to.join(entry.file_name());
        if ft.is_dir() {
            copy_tree(&entry.path(), &target, report)?;
        } else if ft.is_file() {
            match copy_file(&entry.path(), &target, report) {
                // Gone meanwhile (a queue entry delivered): not part of the backup.
                Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    Ok(())
}

/// One pass over `mail/<domain>/<user>/`: every mailbox's message files not seen
/// yet; the last pass (1) then copies each mailbox's side files.
fn walk_mail(
    mail: &Path,
    out: &Path,
    seen: &mut HashSet<PathBuf>,
    pass: usize,
    report: &mut BackupReport,
) -> Result<()> {
    for domain in read_dirs(mail)? {
        for user in read_dirs(&domain)? {
            let rel_user = user.strip_prefix(mail).unwrap_or(&user).to_path_buf();
            let user_out = out.join(&rel_user);
            fs::create_dir_all(&user_out).at(&user_out)?;
            let mailboxes = match maildir::list_mailboxes(&user) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).at(&user),
            };
            for (_, dir) in mailboxes {
                let rel = dir.strip_prefix(mail).unwrap_or(&dir).to_path_buf();
                let mb_out = out.join(&rel);
                for sub in ["cur", "new", "tmp"] {
                    fs::create_dir_all(mb_out.join(sub)).at(&mb_out)?;
                }
                backup_messages(&dir, &mb_out, &rel, seen, report)?;
                // After the files: the UID reservation in `mailyard-state` then
                // covers every UID in them, and the keyword map every letter.
                if pass == 1 {
                    copy_side_files(&dir, &mb_out, report)?;
                }
            }
            // The user's Sieve scripts (`sieve_scripts.rs`), once.
            if pass == 1 {
                let scripts = crate::sieve_scripts::SCRIPT_DIR;
                copy_tree(&user.join(scripts), &user_out.join(scripts), report)?;
            }
        }
    }
    Ok(())
}

fn read_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        if entry.file_type().at(&entry.path())?.is_dir() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// The regular files directly in a mailbox directory (state, keywords, subscriptions,
/// URLAUTH keys): copied.
fn copy_side_files(dir: &Path, out: &Path, report: &mut BackupReport) -> Result<()> {
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name().to_string_lossy().to_string();
        // Our own write_atomic temporaries are not state.
        if name.starts_with('.') || !entry.file_type().at(&entry.path())?.is_file() {
            continue;
        }
        match copy_file(&entry.path(), &out.join(&name), report) {
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// Links (or copies) a mailbox's message files, `new/` first, then `cur/`; a file
/// renamed under us is found again by its base name, one gone is skipped (expunged).
fn backup_messages(
    dir: &Path,
    out: &Path,
    rel: &Path,
    seen: &mut HashSet<PathBuf>,
    report: &mut BackupReport,
) -> Result<()> {
    for sub in ["new", "cur"] {
        let read = match fs::read_dir(dir.join(sub)) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).at(dir),
        };
        let names: Vec<String> = read
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| !n.starts_with('.'))
            .collect();
        for name in names {
            let base = name
                .split_once(':')
                .map_or(name.as_str(), |(b, _)| b)
                .to_string();
            if !seen.insert(rel.join(&base)) {
                continue;
            }
            let mut src = dir.join(sub).join(&name);
            for _ in 0..crate::READ_ATTEMPTS {
                let file_name = src
                    .file_name()
                    .map(|n| n.to_os_string())
                    .unwrap_or_default();
                let sub_now = src
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_os_string())
                    .unwrap_or_default();
                let to = out.join(&sub_now).join(&file_name);
                match crate::export::link_or_copy(&src, &to) {
                    Ok(true) => {
                        report.linked += 1;
                        break;
                    }
                    Ok(false) => {
                        report.copied += 1;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        match maildir::find_by_base(dir, &base).at(dir)? {
                            Some((now, _)) => src = now,
                            None => break, // expunged
                        }
                    }
                    Err(e) => return Err(e).at(&src),
                }
            }
        }
    }
    Ok(())
}

/// Every entry under `dir` that is not a directory, but the manifest: its path, its
/// name relative to `dir`, and whether it is a regular file.
fn walk(dir: &Path) -> Result<Vec<(PathBuf, String, bool)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).at(&d)? {
            let entry = entry.at(&d)?;
            let path = entry.path();
            let ft = entry.file_type().at(&path)?;
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .to_string();
            if rel != MANIFEST {
                out.push((path, rel, ft.is_file()));
            }
        }
    }
    Ok(out)
}

/// Every regular file under `dir` (but the manifest and its temporary), with size and
/// SHA-256, sorted.
fn list_files(dir: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (path, rel, is_file) in walk(dir)? {
        if !is_file || rel.starts_with(&format!(".{MANIFEST}")) {
            continue;
        }
        if rel.contains('\n') {
            return Err(StoreError::Invalid(format!(
                "file name with a newline: {rel:?}"
            )));
        }
        let (size, sha256) = hash_file(&path)?;
        out.push(Entry {
            path: rel,
            size,
            sha256,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = fs::File::open(path).at(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).at(path)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        ctx.update(&buf[..n]);
    }
    let hex = ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((size, hex))
}

/// Reads a backup's manifest.
pub fn read_manifest(dir: &Path) -> Result<(u64, Vec<Entry>)> {
    let path = dir.join(MANIFEST);
    let text = fs::read_to_string(&path).at(&path)?;
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(StoreError::Invalid(format!(
            "{} is not a mailyard backup manifest",
            path.display()
        )));
    }
    let mut created = 0;
    let mut entries = Vec::new();
    for line in lines {
        if let Some(v) = line.strip_prefix("created ") {
            created = v.parse().unwrap_or(0);
            continue;
        }
        if line.starts_with("index_schema ") {
            continue;
        }
        let mut parts = line.splitn(3, ' ');
        let (Some(size), Some(sha), Some(p)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(StoreError::Invalid(format!("bad manifest line: {line:?}")));
        };
        let size = size
            .parse()
            .map_err(|_| StoreError::Invalid(format!("bad manifest line: {line:?}")))?;
        if p.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(StoreError::Invalid(format!("bad path in manifest: {p:?}")));
        }
        entries.push(Entry {
            path: p.to_string(),
            size,
            sha256: sha.to_string(),
        });
    }
    Ok((created, entries))
}

/// Checks a backup against its manifest: every file there, of its size and checksum,
/// and no file the manifest does not list. Returns one line per problem.
pub fn verify(dir: &Path) -> Result<Vec<String>> {
    let (_, entries) = read_manifest(dir)?;
    let mut problems = Vec::new();
    let listed: HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    for e in &entries {
        let path = dir.join(&e.path);
        match hash_file(&path) {
            Ok((size, _)) if size != e.size => problems.push(format!(
                "{}: size {size}, the manifest says {}",
                e.path, e.size
            )),
            Ok((_, sha)) if sha != e.sha256 => {
                problems.push(format!("{}: checksum differs from the manifest", e.path))
            }
            Ok(_) => {}
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                problems.push(format!("{}: missing", e.path))
            }
            Err(e) => return Err(e),
        }
    }
    for f in list_files_names(dir)? {
        if !listed.contains(f.as_str()) {
            problems.push(format!("{f}: not in the manifest"));
        }
    }
    Ok(problems)
}

fn list_files_names(dir: &Path) -> Result<Vec<String>> {
    Ok(walk(dir)?.into_iter().map(|(_, rel, _)| rel).collect())
}

/// Brings a verified backup back into `data_dir` (missing or empty), then rebuilds
/// the index from the tree and puts the relay queue's state back.
pub fn restore(backup: &Path, data_dir: &Path) -> Result<BackupReport> {
    if !empty_or_missing(data_dir)? {
        return Err(StoreError::Invalid(format!(
            "{} is not empty; restore into an empty data dir",
            data_dir.display()
        )));
    }
    let problems = verify(backup)?;
    if !problems.is_empty() {
        return Err(StoreError::Invalid(format!(
            "the backup does not verify ({} problem(s)), first: {}",
            problems.len(),
            problems[0]
        )));
    }
    let (_, entries) = read_manifest(backup)?;
    let mut report = BackupReport::default();
    for e in &entries {
        let Some(rel) = e.path.strip_prefix("data/") else {
            continue; // config/: the admin's to put back
        };
        if rel == "queue.db" {
            continue;
        }
        let from = backup.join(&e.path);
        let to = data_dir.join(rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).at(parent)?;
        }
        let message = rel.starts_with("mail/") && (rel.contains("/cur/") || rel.contains("/new/"));
        if message && fs::hard_link(&from, &to).is_ok() {
            report.linked += 1;
        } else {
            crate::import::copy_file(&from, &to)?;
            report.copied += 1;
        }
        report.files += 1;
        report.bytes += e.size;
    }
    // Empty directories (new/, tmp/ of empty mailboxes) are not in the manifest.
    let mail = backup.join("data").join("mail");
    if mail.is_dir() {
        make_dirs(&mail, &data_dir.join("mail"))?;
    }
    // The index, rebuilt from the tree; then the queue's state.
    let (store, _) = crate::Store::open(data_dir)?;
    let queue_db = backup.join("data").join("queue.db");
    if queue_db.exists() {
        let conn = crate::index::connect(&data_dir.join("index.db"), false)?;
        conn.execute("ATTACH DATABASE ?1 AS b", [queue_db.to_string_lossy()])?;
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             INSERT OR REPLACE INTO main.queue SELECT * FROM b.queue;
             INSERT OR REPLACE INTO main.queue_rcpt SELECT * FROM b.queue_rcpt;
             COMMIT;",
        )?;
        conn.execute_batch("DETACH DATABASE b")?;
    }
    store.recover_queue_blocking()?;
    drop(store);
    Ok(report)
}

fn make_dirs(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).at(to)?;
    for d in read_dirs(from)? {
        if let Some(name) = d.file_name() {
            make_dirs(&d, &to.join(name))?;
        }
    }
    Ok(())
}
