//! `mailyard import maildir`: takes over a Maildir++ tree written by Dovecot, Courier
//! or a plain maildir tool (mutt, getmail, procmail) for one user, keeping what its
//! clients already know, so nothing is downloaded again.
//!
//! What is kept:
//! - Folders (Maildir++ `.Name` directories, modified UTF-7, `.` separated: the same
//!   layout as ours, `mailbox_name.rs`) and subscriptions (`subscriptions`, either
//!   version, `dovecot.rs`).
//! - Flags (`:2,` info letters) and keyword names (`dovecot-keywords`, letters a–z).
//! - From `dovecot-uidlist`: each mailbox's UIDVALIDITY and each message's UID; the
//!   mailbox's UIDNEXT becomes max(N, last UID + 1, `dovecot.index`'s next UID), so
//!   no UID Dovecot handed out (even to a message expunged since) is given again.
//!   A message the uidlist does not know, and every message of a maildir without one,
//!   gets a fresh UID above those, in file name order (delivery order for maildir(5)
//!   names); a mailbox without a uidlist gets a fresh UIDVALIDITY.
//! - INTERNALDATE is the file's mtime on both sides; a link or copy keeps it.
//! - HIGHESTMODSEQ cannot be carried over (Dovecot keeps it only in its binary index):
//!   it starts at the import's time in seconds, above any MODSEQ a Dovecot mailbox
//!   plausibly reached, so a CONDSTORE client resynchronises flags once (flags only,
//!   no bodies) and MODSEQs never go down (RFC 7162 §3.1.1).
//!
//! Files keep their unique part; their names become ours:
//! `<unique>,S=<file size>,W=<size with CRLF>,U=<uid>[:2,<info>]`. Their bytes are
//! not touched: a file with bare-LF line ends (as Dovecot and mutt write them) is
//! served with CRLF, sizes counted that way (`maildir::wire_form`), as Dovecot does.
//!
//! Order (so it is safe while `serve` runs): the tree is read and its files staged
//! under `data_dir/tmp/import-<unique>/` (hard links, copies, or the tree itself
//! renamed there, see [`Transfer`]); then one writer request, inside the index's
//! write transaction (which `serve`'s writer waits for), checks the user's mailboxes
//! are empty (or `merge`), renames the staged files into the user's tree, writes each
//! mailbox's `mailyard-state` and keyword map, and reconciles the user; its
//! directories are fsynced before it is answered. A failure renames every file back
//! into the stage. Sessions of that user that have a mailbox selected should log in
//! again afterwards (the mailbox may have a new UIDVALIDITY).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::dovecot;
use crate::error::{IoContext, Result, StoreError};
use crate::maildir;
use crate::model::{Address, FlagSet};

/// How files get from the source tree into the data dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// Hard links where the filesystem allows, else copies (per file).
    Auto,
    /// Hard links only (fails across filesystems).
    Link,
    /// Copies only (the source is left as it was).
    Copy,
    /// In place: the source tree itself is renamed into the data dir (same filesystem
    /// only) and becomes the user's maildir; what Dovecot kept beside the mail
    /// (`dovecot.index*`, `dovecot-uidlist`) is removed.
    Move,
}

/// What `import` is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// How files are brought over.
    pub transfer: Transfer,
    /// Only read the source and report; change nothing.
    pub dry_run: bool,
    /// Allow a user whose mailboxes already hold mail: the imported messages of a
    /// mailbox that is not empty get new UIDs above its UIDNEXT (its UIDVALIDITY is
    /// kept); empty and new mailboxes are taken over as without `merge`.
    pub merge: bool,
}

/// One message of the source, as staged.
#[derive(Debug, Clone)]
pub struct StagedFile {
    /// Where it is now (in the stage, or in the source for a dry run).
    pub path: PathBuf,
    /// Found in `new/`.
    pub in_new: bool,
    /// The unique part of its name (up to the first ',').
    pub unique: String,
    /// Octets on disk (S=).
    pub file_size: u64,
    /// Octets as IMAP sends it (W=, RFC822.SIZE).
    pub wire_size: u64,
    /// Its Dovecot UID, if the uidlist had one.
    pub uid: Option<u32>,
    /// Flags and keyword names.
    pub flags: FlagSet,
}

/// One mailbox of the source.
#[derive(Debug, Clone)]
pub struct StagedMailbox {
    /// IMAP name.
    pub name: String,
    /// Dovecot's UIDVALIDITY, if it had a uidlist.
    pub uidvalidity: Option<u32>,
    /// The first UID not handed out by Dovecot (1 without a uidlist).
    pub uidnext: u32,
    /// Keyword names by letter (the source's map).
    pub keywords: Vec<String>,
    /// Messages, Dovecot UIDs first (ascending), then the others in name order.
    pub files: Vec<StagedFile>,
}

/// The writer's request (`writer/reconcile.rs` applies it).
#[derive(Debug)]
pub struct ImportOp {
    /// Whose tree.
    pub user: Address,
    /// Mailboxes to bring in.
    pub mailboxes: Vec<StagedMailbox>,
    /// Subscribed names of the source.
    pub subscriptions: Vec<String>,
    /// See [`ImportOptions::merge`].
    pub merge: bool,
}

/// What an import did (or, for a dry run, would do), per mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxOutcome {
    /// IMAP name.
    pub name: String,
    /// Messages.
    pub messages: usize,
    /// Messages that kept their Dovecot UID.
    pub uids_kept: usize,
    /// UIDVALIDITY after the import.
    pub uidvalidity: u32,
    /// UIDNEXT after the import.
    pub uidnext: u32,
    /// Merged into a mailbox that already held mail (new UIDs).
    pub merged: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Per mailbox.
    pub mailboxes: Vec<MailboxOutcome>,
    /// Subscribed names taken over.
    pub subscriptions: usize,
    /// Files hard linked.
    pub linked: usize,
    /// Files copied.
    pub copied: usize,
    /// Files renamed (in place).
    pub moved: usize,
    /// Directories of the source that are not valid mailbox names (left out).
    pub skipped_dirs: Vec<String>,
}

/// Reads a source tree: its mailboxes, their messages with UIDs and flags, and its
/// subscriptions. Nothing is changed.
pub fn read_source(root: &Path) -> Result<(Vec<StagedMailbox>, Vec<String>, Vec<String>)> {
    if !root.is_dir() {
        return Err(StoreError::Invalid(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    let mut skipped = Vec::new();
    for entry in fs::read_dir(root).at(root)? {
        let entry = entry.at(root)?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.')
            && name != "."
            && name != ".."
            && entry.path().join("cur").is_dir()
            && crate::mailbox_name::from_dir(&name).is_none()
        {
            skipped.push(name);
        }
    }
    let found = maildir::list_mailboxes(root).at(root)?;
    if found.is_empty() {
        return Err(StoreError::Invalid(format!(
            "{} holds no maildir (no cur/ at its root or in any .Folder)",
            root.display()
        )));
    }
    let mut mailboxes = Vec::new();
    for (name, dir) in found {
        mailboxes.push(read_mailbox(&name, &dir)?);
    }
    let subscriptions = match fs::read_to_string(root.join(maildir::SUBSCRIPTIONS_FILE)) {
        Ok(t) => dovecot::parse_subscriptions(&t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).at(root),
    };
    Ok((mailboxes, subscriptions, skipped))
}

fn read_mailbox(name: &str, dir: &Path) -> Result<StagedMailbox> {
    let uidlist = dovecot::read_uidlist(dir).at(dir)?;
    let keywords = maildir::read_keywords(dir).at(dir)?;
    let mut files = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for f in maildir::scan_messages(dir, &keywords).at(dir)? {
        let meta = fs::metadata(&f.path).at(&f.path)?;
        let file_size = meta.len();
        let uid = uidlist
            .as_ref()
            .and_then(|u| u.uids.get(&f.parsed.base).copied())
            .filter(|u| taken.insert(*u));
        let unique = f
            .parsed
            .base
            .split(',')
            .next()
            .filter(|u| !u.is_empty())
            .map_or_else(|| maildir::unique_name(maildir::host()), str::to_string);
        files.push(StagedFile {
            wire_size: wire_size(&f.path, &f.parsed.base, file_size)?,
            path: f.path,
            in_new: f.in_new,
            unique,
            file_size,
            uid,
            flags: f.parsed.flags,
        });
    }
    files.sort_by(|a, b| {
        (a.uid.is_none(), a.uid, file_name(&a.path)).cmp(&(
            b.uid.is_none(),
            b.uid,
            file_name(&b.path),
        ))
    });
    let (uidvalidity, uidnext) = match &uidlist {
        Some(u) if u.uidvalidity != 0 => {
            let from_index = dovecot::index_next_uid(dir, u.uidvalidity).unwrap_or(0);
            (Some(u.uidvalidity), u.uidnext().max(from_index))
        }
        _ => (None, 1),
    };
    Ok(StagedMailbox {
        name: name.to_string(),
        uidvalidity,
        uidnext,
        keywords,
        files,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// RFC822.SIZE of a file: the name's `W=` when its `S=` matches the file (Dovecot
/// writes both), else counted from the bytes.
fn wire_size(path: &Path, base: &str, file_size: u64) -> Result<u64> {
    let field = |key: &str| {
        base.split(',')
            .skip(1)
            .find_map(|p| p.strip_prefix(key))
            .and_then(|v| v.parse::<u64>().ok())
    };
    if let (Some(s), Some(w)) = (field("S="), field("W="))
        && s == file_size
        && w >= s
    {
        return Ok(w);
    }
    let bytes = fs::read(path).at(path)?;
    Ok(maildir::wire_form(&bytes).len() as u64)
}

/// The name of a message file once imported.
pub fn target_base(f: &StagedFile, uid: u32) -> String {
    format!("{},S={},W={},U={uid}", f.unique, f.file_size, f.wire_size)
}

/// Brings the source's files into `stage` (a new directory under the data dir) by
/// `transfer`, laid out as a Maildir++ tree; updates each file's `path`. Returns
/// (linked, copied, moved).
pub fn stage_files(
    source: &Path,
    stage: &Path,
    mailboxes: &mut [StagedMailbox],
    transfer: Transfer,
) -> Result<(usize, usize, usize)> {
    let mut counts = (0, 0, 0);
    if transfer == Transfer::Move {
        if let Some(parent) = stage.parent() {
            fs::create_dir_all(parent).at(parent)?;
        }
        fs::rename(source, stage).map_err(|e| {
            let hint = if e.raw_os_error() == Some(18) {
                " (another filesystem: use --link or --copy)"
            } else {
                ""
            };
            StoreError::Invalid(format!(
                "cannot move {} to {}: {e}{hint}",
                source.display(),
                stage.display()
            ))
        })?;
        for mb in mailboxes.iter_mut() {
            for f in &mut mb.files {
                let rel = f.path.strip_prefix(source).map_err(|_| {
                    StoreError::Invalid(format!("{} is outside the source", f.path.display()))
                })?;
                f.path = stage.join(rel);
                counts.2 += 1;
            }
        }
        return Ok(counts);
    }
    fs::create_dir_all(stage).at(stage)?;
    for mb in mailboxes.iter_mut() {
        let dir = maildir::mailbox_dir(stage, &mb.name).map_err(|why| StoreError::BadName {
            name: mb.name.clone(),
            why,
        })?;
        for sub in ["cur", "new"] {
            fs::create_dir_all(dir.join(sub)).at(&dir)?;
        }
        for (i, f) in mb.files.iter_mut().enumerate() {
            let to = dir
                .join(if f.in_new { "new" } else { "cur" })
                .join(format!("{i}"));
            let linked = match transfer {
                Transfer::Copy => false,
                Transfer::Link => {
                    fs::hard_link(&f.path, &to).at(&f.path)?;
                    true
                }
                _ => fs::hard_link(&f.path, &to).is_ok(),
            };
            if linked {
                counts.0 += 1;
            } else {
                copy_file(&f.path, &to)?;
                counts.1 += 1;
            }
            f.path = to;
        }
    }
    Ok(counts)
}

/// Copies a file with its mtime (INTERNALDATE) and fsyncs it.
pub(crate) fn copy_file(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to).at(from)?;
    let mtime = fs::metadata(from)
        .at(from)?
        .modified()
        .unwrap_or(UNIX_EPOCH);
    let f = fs::OpenOptions::new().write(true).open(to).at(to)?;
    f.set_modified(mtime).at(to)?;
    f.sync_all().at(to)?;
    Ok(())
}

/// What a dry run reports: the source as it would be taken over (UIDs given to
/// messages without one are counted from the mailbox's UIDNEXT).
pub fn dry_run_report(mailboxes: &[StagedMailbox], subscriptions: usize) -> ImportReport {
    ImportReport {
        mailboxes: mailboxes
            .iter()
            .map(|mb| {
                let fresh = mb.files.iter().filter(|f| f.uid.is_none()).count() as u32;
                MailboxOutcome {
                    name: mb.name.clone(),
                    messages: mb.files.len(),
                    uids_kept: mb.files.len() - fresh as usize,
                    uidvalidity: mb.uidvalidity.unwrap_or(0),
                    uidnext: mb.uidnext + fresh,
                    merged: false,
                }
            })
            .collect(),
        subscriptions,
        ..ImportReport::default()
    }
}

impl crate::Store {
    /// `mailyard import maildir SOURCE --user USER`: see the module docs. The user must
    /// exist. Safe while `serve` runs on the same data dir.
    pub fn import_maildir_blocking(
        &self,
        user: &Address,
        source: &Path,
        opts: ImportOptions,
    ) -> Result<ImportReport> {
        if self.accounts().user(user)?.is_none() {
            return Err(StoreError::Invalid(format!(
                "no such user: {user} (add it first: mailyard user add {user})"
            )));
        }
        let source = fs::canonicalize(source).at(source)?;
        if source.starts_with(fs::canonicalize(self.data_dir()).at(self.data_dir())?) {
            return Err(StoreError::Invalid(format!(
                "{} is inside the data dir; import from outside it",
                source.display()
            )));
        }
        let (mut mailboxes, subscriptions, skipped) = read_source(&source)?;
        if !opts.merge {
            let (_, messages) = self.user_usage_blocking(user)?;
            if messages > 0 {
                return Err(StoreError::Invalid(format!(
                    "{user} already has {messages} message(s); import into an empty \
                     account, or pass --merge"
                )));
            }
        }
        if opts.dry_run {
            let mut report = dry_run_report(&mailboxes, subscriptions.len());
            report.skipped_dirs = skipped;
            return Ok(report);
        }
        let stage = self
            .data_dir()
            .join("tmp")
            .join(format!("import-{}", maildir::unique_name(maildir::host())));
        let counts = match stage_files(&source, &stage, &mut mailboxes, opts.transfer) {
            Ok(c) => c,
            Err(e) => {
                if opts.transfer != Transfer::Move {
                    let _ = fs::remove_dir_all(&stage);
                }
                return Err(e);
            }
        };
        let op = crate::writer::Op::Import(Box::new(ImportOp {
            user: user.clone(),
            mailboxes,
            subscriptions: subscriptions.clone(),
            merge: opts.merge,
        }));
        match self.submit_blocking(op) {
            Ok(crate::writer::Outcome::Imported(outcomes)) => {
                if let Err(e) = fs::remove_dir_all(&stage) {
                    tracing::warn!(path = %stage.display(), error = %e,
                        "cannot remove the import's staging directory");
                }
                Ok(ImportReport {
                    mailboxes: outcomes,
                    subscriptions: subscriptions.len(),
                    linked: counts.0,
                    copied: counts.1,
                    moved: counts.2,
                    skipped_dirs: skipped,
                })
            }
            Ok(other) => Err(StoreError::Invalid(format!(
                "internal: unexpected writer outcome {other:?}"
            ))),
            Err(e) if opts.transfer == Transfer::Move => Err(StoreError::Invalid(format!(
                "{e}; nothing was imported, and the tree is now in {} (move it back by hand)",
                stage.display()
            ))),
            Err(e) => {
                let _ = fs::remove_dir_all(&stage);
                Err(e)
            }
        }
    }
}
