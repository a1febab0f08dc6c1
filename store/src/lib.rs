//! mailyard's message store: a Maildir++ tree per user (the truth), a SQLite index
//! (a cache, rebuildable from the tree), an accounts database (not a cache), and a
//! delivery API with group commit.
//!
//! Invariants (see each module):
//! - A message is acknowledged only after its file is fsynced, linked into place, its
//!   directory fsynced and its index row committed (`writer/mod.rs`).
//! - All index writes go through one writer thread; readers use their own connections.
//! - Changes are published per mailbox and per user after commit (`changes.rs`);
//!   what a selected session reads then is recorded before the publish (`journal.rs`),
//!   and what a FETCH read of a message's stored blobs is kept until it is expunged
//!   (`blobcache.rs`).
//! - No mailbox name reaches a path outside the user's tree (`mailbox_name.rs`).
//! - URLAUTH keys (`urlauth.rs`) live beside each mailbox's state file, never in the
//!   rebuildable index.
//!
//! Layout (`../shared/DESIGN.md` pictures the door "in lib.rs"; it grew its own file):
//! - `door.rs`: the typed async door the protocol crates use. Each method makes its own
//!   hop off the runtime: small reads to the reader threads (`readers.rs`, each with
//!   its own SQLite connection), whole-mailbox jobs (FETCH chunks, SEARCH/SORT/THREAD
//!   scans with a `Cancel`) to the blocking pool, changes to the writer's queue; a
//!   delivered or appended message is first staged (written and fdatasynced) on a
//!   staging thread (`readers.rs` again), which queues it to the writer itself.
//!   `*_blocking` twins serve the CLI. Two answers need no hop: a selected session's
//!   changes from the writer's change journal (`journal.rs`), a FETCH of shapes
//!   and header blocks from the blob cache (`blobcache.rs`), and a user's mailboxes
//!   for LIST from the list cache (`lists.rs`).
//! - `writer/`: the one writer thread. `mod.rs` takes requests in batches, commits
//!   them in one transaction and hands directory fsyncs to the syncer (group commit
//!   per directory, `dirsync.rs`); `mailbox.rs`, `message.rs` and `reconcile.rs` apply
//!   the requests of their kind.
//! - `index.rs` (private): the SQL; `summary.rs` (private): a message parsed once at
//!   delivery into its `mailyard_message` shape, envelope facts and cached header
//!   fields; `maildir.rs`: file names, write order, the state files.
//! - `delivery.rs` and `queue.rs`: one delivery's local copies, relay queue entries
//!   and Sieve memory in one durable request; `accounts.rs`: users, aliases, domains
//!   (not a cache: `synchronous=FULL`).
#![forbid(unsafe_code)]

pub mod accounts;
pub mod backup;
mod blobcache;
pub mod changes;
pub mod delivery;
mod dirsync;
mod door;
pub mod dovecot;
pub mod error;
pub mod export;
pub mod headers;
pub mod import;
pub(crate) mod index;
mod journal;
mod lists;
pub mod lookup;
pub mod mailbox_name;
pub mod maildir;
pub mod message_file;
pub mod model;
pub mod pigeonhole;
pub mod queue;
mod readers;
mod reads;
pub mod sieve_scripts;
pub mod spare;
pub mod stats;
mod summary;
pub mod urlauth;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use accounts::Accounts;
pub use blobcache::{DERIVED_SLOTS, StoredShape};
pub use delivery::{Delivery, LocalCopy, Mark, Outbound};
pub use door::{Cancel, MailboxRef, Opened, Reader, Stored};
pub use error::{Result, StoreError};
pub use index::{MailboxCounts, MailboxInfo, MessageInfo};
pub use lists::{ListedMailbox, MAX_LISTED_USERS};
pub use message_file::MessageFile;
pub use model::{Address, FlagSet, Flags, MailboxId, ModSeq, Uid, UidValidity};
pub use sieve_scripts::SieveScope;
pub use summary::Summary;
pub use writer::{Delivered, FlagMode, IfMissing, ReconcileReport, Target};

use changes::Changes;
use error::IoContext;
use writer::{DeliverOp, Op, Outcome, Writer};

/// The shape of `raw` (a whole message, as stored) in the form delivery stores it
/// in the index (`mailyard_message::codec`): what FETCH renders from. For checks of
/// the delivery-time parse (the fuzz target `mime_summary`); the other index
/// columns stay the store's.
pub fn stored_shape(raw: &[u8]) -> Vec<u8> {
    summary::summarize(raw).shape
}

/// How often [`Store::read_message`] follows a message whose file was renamed under
/// it before calling it gone (each rename is one flag change by another session; the
/// last attempts also search the directory).
const READ_ATTEMPTS: usize = 4;

/// The store of one data dir. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    writer: Writer,
    readers: index::Readers,
    /// The door's reader threads (`readers.rs`).
    hops: readers::Hops,
    /// Threads that stage messages (`stage_and_submit`), started by the first message
    /// (a CLI command that opens the store stores none).
    stagers: std::sync::OnceLock<readers::Hops>,
    changes: Arc<Changes>,
    accounts: Accounts,
    batch_observer: Arc<std::sync::OnceLock<stats::BatchObserver>>,
    /// Emptied queue files kept for the next message queued (`spare.rs`).
    spares: Arc<spare::Spares>,
}

/// A changed mailbox as a selected session reads it ([`Store::mailbox_changes`]): the
/// mailbox, its messages changed since a MODSEQ, the UIDs expunged since then.
pub type MailboxChanges = (MailboxInfo, Vec<MessageInfo>, Vec<Uid>);

/// What `Store::open` found and did.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// The index file did not exist and was rebuilt from the maildir tree.
    pub rebuilt: Option<Vec<(String, ReconcileReport)>>,
    /// Message shapes recomputed from their files (the upgrade to schema 8).
    pub shapes_rebuilt: usize,
}

impl Store {
    /// Opens the store in `data_dir`, creating the directory, the index and the accounts
    /// database as needed. When the index file is missing it is rebuilt from the maildir
    /// tree for every user in the accounts database.
    pub fn open(data_dir: &Path) -> Result<(Store, OpenReport)> {
        std::fs::create_dir_all(data_dir.join("mail")).at(data_dir)?;
        let db = data_dir.join("index.db");
        let fresh = !db.exists();
        let mut conn = index::connect(&db, false)?;
        index::migrate(&mut conn)?;
        // Before anything is served: every row has the shape FETCH renders.
        let shapes_rebuilt = writer::rebuild_shapes(&mut conn, data_dir)?;
        if shapes_rebuilt > 0 {
            tracing::info!(
                messages = shapes_rebuilt,
                "index: message shapes recomputed from their files (schema 8)"
            );
        }
        let changes = Arc::new(Changes::default());
        let batch_observer = Arc::new(std::sync::OnceLock::new());
        let spares = Arc::new(spare::Spares::new(queue::spare_dir(data_dir)));
        let store = Store {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_path_buf(),
                writer: Writer::start(
                    conn,
                    data_dir.to_path_buf(),
                    changes.clone(),
                    batch_observer.clone(),
                    spares.clone(),
                ),
                batch_observer,
                spares,
                readers: index::Readers::new(&db),
                hops: readers::Hops::start("store-reader", readers::READERS),
                stagers: std::sync::OnceLock::new(),
                changes,
                accounts: Accounts::open(data_dir)?,
            }),
        };
        let mut report = OpenReport {
            shapes_rebuilt,
            ..OpenReport::default()
        };
        if fresh {
            report.rebuilt = Some(store.reconcile_all_blocking(true)?);
        }
        Ok((store, report))
    }

    /// Whether the writer thread runs (see `stats::ping_blocking`).
    pub(crate) fn writer_alive(&self) -> bool {
        self.inner.writer.alive()
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// The relay queue's spare files (`spare.rs`).
    pub(crate) fn spares(&self) -> Arc<spare::Spares> {
        self.inner.spares.clone()
    }

    /// The accounts database.
    pub fn accounts(&self) -> &Accounts {
        &self.inner.accounts
    }

    /// Starts noticing writes made by other processes on this data dir (the CLI) and
    /// publishing them like our own. `serve` calls this once.
    pub fn watch_other_processes(&self) -> Result<()> {
        let db = self.inner.data_dir.join("index.db");
        changes::watch_other_processes(db.clone(), Arc::downgrade(&self.inner.changes)).at(&db)
    }

    /// Subscribes to a mailbox's changes (its HIGHESTMODSEQ as last published).
    pub fn subscribe(&self, mailbox: MailboxId) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe(mailbox)
    }

    /// Subscribes to every change of every mailbox of `user` (RFC 5465 NOTIFY): the
    /// receiver holds at most [`changes::USER_EVENTS_PENDING`] unread events, then
    /// reports that it lagged.
    pub fn subscribe_user(
        &self,
        user: &Address,
    ) -> tokio::sync::broadcast::Receiver<changes::MailboxEvent> {
        self.inner.changes.subscribe_user(user)
    }

    /// Runs `f` on a pooled read connection (blocking). Crate-private: the protocol
    /// crates read through typed methods (`reads.rs`, `lookup.rs`) and never see SQLite.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        self.inner.readers.with(f)
    }

    /// The path of a message's file inside `mailbox` of `user`.
    pub fn message_path(&self, user: &Address, mailbox: &str, m: &MessageInfo) -> Result<PathBuf> {
        let dir = writer::mailbox_path(&self.inner.data_dir, user, mailbox)?;
        let map = if m.flags.keywords.is_empty() {
            Vec::new()
        } else {
            maildir::read_keywords(&dir).at(&dir)?
        };
        // When the file is gone, the expected path: the caller's open reports it.
        Ok(maildir::locate(&dir, &m.base, m.in_new, &m.flags, &map)
            .at(&dir)?
            .unwrap_or_else(|| maildir::message_path(&dir, &m.base, m.in_new, &m.flags, &map)))
    }

    /// Reads a message's file in its wire form ([`maildir::wire_form`]: CRLF line
    /// ends), or `None` when the message is gone (expunged); see [`Store::open_message`].
    pub(crate) fn read_message_blocking(
        &self,
        user: &Address,
        mailbox: &str,
        id: MailboxId,
        m: &MessageInfo,
    ) -> Result<Option<Vec<u8>>> {
        let Some(file) = self.open_message(user, mailbox, id, m)? else {
            return Ok(None);
        };
        let bytes = file.read_stored(0..file.len()).at(file.path())?;
        Ok(Some(match maildir::wire_form(&bytes) {
            std::borrow::Cow::Owned(crlf) => crlf,
            std::borrow::Cow::Borrowed(_) => bytes,
        }))
    }

    /// Opens a message's file for positioned reads of the ranges a FETCH needs
    /// ([`MessageFile`]), or `None` when the message is gone (expunged). Readers take
    /// no lock (maildir(5)): another session may rename the file (a flag change) at
    /// any moment, so the name the caller knows is tried first, then the index's
    /// current one, and only then the directory is searched ([`Store::message_path`])
    /// — as Dovecot's maildir code does on ENOENT. Once open, the file stays readable
    /// whatever happens to its name.
    pub(crate) fn open_message(
        &self,
        user: &Address,
        mailbox: &str,
        id: MailboxId,
        m: &MessageInfo,
    ) -> Result<Option<MessageFile>> {
        let dir = writer::mailbox_path(&self.inner.data_dir, user, mailbox)?;
        let mut info = std::borrow::Cow::Borrowed(m);
        for attempt in 0..READ_ATTEMPTS {
            let path = if attempt < 2 {
                let map = if info.flags.keywords.is_empty() {
                    Vec::new()
                } else {
                    maildir::read_keywords(&dir).at(&dir)?
                };
                maildir::message_path(&dir, &info.base, info.in_new, &info.flags, &map)
            } else {
                self.message_path(user, mailbox, &info)?
            };
            match MessageFile::open(&path, m.size) {
                Ok(file) => return Ok(Some(file)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match self.read(|c| index::message(c, id, m.uid))? {
                        Some(fresh) => info = std::borrow::Cow::Owned(fresh),
                        None => return Ok(None),
                    }
                }
                Err(e) => return Err(e).at(&path),
            }
        }
        Ok(None)
    }

    async fn submit(&self, op: Op) -> Result<Outcome> {
        self.inner
            .writer
            .submit(op)
            .await
            .map_err(|_| StoreError::Closed)?
    }

    fn submit_blocking(&self, op: Op) -> Result<Outcome> {
        self.inner.writer.submit_blocking(op)
    }

    /// Delivers one message to the INBOX of each of `recipients`: written once, hard
    /// linked into every mailbox, durable in every maildir and in the index before this
    /// returns (RFC 5321 §6.1: the 250 reply means we took responsibility).
    pub async fn deliver(
        &self,
        message: Vec<u8>,
        recipients: &[Address],
    ) -> Result<Vec<Delivered>> {
        let targets = recipients.iter().map(Target::inbox).collect();
        let staged = self
            .stage_and_submit(move |s| Ok(Op::Deliver(s.stage_blocking(message, targets, None)?)))
            .await?;
        match staged {
            Outcome::Delivered(d) => Ok(d),
            other => Err(unexpected(other)),
        }
    }

    /// RFC 9051 §6.3.12 APPEND: one message into one mailbox with flags and an
    /// optional INTERNALDATE (unix seconds).
    pub async fn append(
        &self,
        user: &Address,
        mailbox: &str,
        message: Vec<u8>,
        flags: FlagSet,
        internaldate: Option<i64>,
    ) -> Result<Delivered> {
        let targets = vec![appended(user, writer::normalize_name(mailbox)?, flags)];
        let staged = self
            .stage_and_submit(move |s| {
                Ok(Op::Deliver(s.stage_blocking(
                    message,
                    targets,
                    internaldate,
                )?))
            })
            .await?;
        match staged {
            Outcome::Delivered(mut d) => d.pop().ok_or(StoreError::Closed),
            other => Err(unexpected(other)),
        }
    }

    /// Stages a delivery on a staging thread and queues it to the writer from that
    /// same thread: `build` writes the files (each fsynced in `tmp/`,
    /// [`Store::stage_blocking`]) and returns the writer's request, or fails having
    /// removed what it wrote. The caller waits once, for the writer's answer. Awaiting
    /// the staging first and submitting afterwards would cost one more hand-over
    /// between threads, and each costs 150–300 µs of wake-up on a busy machine
    /// (measured under imaptest: 170–200 µs per APPEND).
    ///
    /// The store's own threads (`readers::STAGERS`), and tokio's blocking pool only
    /// when all are busy: that pool's one queue lock, taken by every SMTP session's
    /// message at once, spun and yielded (with the threads, SMTP at 20 sessions +12 %
    /// and 9 % less CPU per message, `ab-smtp.sh`). At shutdown the staging threads are
    /// not waited for as the blocking pool is when the runtime is dropped: a message
    /// still being staged then was answered to nobody, and its unnamed file goes with
    /// the process (a named one is left to the `tmp/` cleanup).
    async fn stage_and_submit<F>(&self, build: F) -> Result<Outcome>
    where
        F: FnOnce(&Store) -> Result<Op> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let store = self.clone();
        // Not awaited: the outcome comes through `reply`. If the closure never runs
        // (the runtime is shutting down), `reply` is dropped and the caller hears
        // StoreError::Closed.
        let stagers = self
            .inner
            .stagers
            .get_or_init(|| readers::Hops::start("store-stage", readers::STAGERS));
        stagers.spawn(move || match build(&store) {
            Ok(op) => store.inner.writer.submit_to(op, reply),
            Err(e) => drop(reply.send(Err(e))),
        });
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Writes the message to `tmp/` of the first target's user and fsyncs it; parses
    /// it once. Blocking: runs inside [`Store::stage_and_submit`].
    fn stage_blocking(
        &self,
        message: Vec<u8>,
        targets: Vec<Target>,
        internaldate: Option<i64>,
    ) -> Result<DeliverOp> {
        let Some(first) = targets.first() else {
            return Err(StoreError::Invalid("no recipients".into()));
        };
        let tmp_dir = maildir::user_root(&self.inner.data_dir, &first.user).join("tmp");
        // Stored as it is sent: sizes, summary and file agree (RFC 9051 §2.3.4).
        let message = match maildir::wire_form(&message) {
            std::borrow::Cow::Owned(crlf) => crlf,
            std::borrow::Cow::Borrowed(_) => message,
        };
        // INTERNALDATE is the file's mtime (what a rebuild reads back), set
        // explicitly: the kernel stamps files from a coarser clock than SystemTime,
        // so at a second's edge the two could disagree.
        let internaldate = internaldate.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
        let mtime = maildir::internaldate_mtime(internaldate);
        let file = maildir::stage(&tmp_dir, maildir::host(), &message, mtime).at(&tmp_dir)?;
        let summary = Arc::new(summary::summarize(&message));
        let size = message.len() as u64;
        let body = (size <= blobcache::BODY_CACHE_MAX_BYTES).then(|| Arc::from(message));
        Ok(DeliverOp {
            file,
            targets,
            size,
            internaldate,
            summary,
            body,
        })
    }

    /// Creates a mailbox (RFC 9051 §6.3.4); fails when it exists.
    pub async fn create_mailbox(
        &self,
        user: &Address,
        name: &str,
        special_use: Option<String>,
    ) -> Result<MailboxInfo> {
        let op = Op::EnsureMailbox {
            user: user.clone(),
            name: name.to_string(),
            special_use,
            exclusive: true,
        };
        match self.submit(op).await? {
            Outcome::Mailbox(m) => Ok(m),
            other => Err(unexpected(other)),
        }
    }

    /// Creates a user's default mailboxes (INBOX, Sent, Drafts, Trash, Junk, Archive
    /// with their RFC 6154 attributes) where missing, and subscribes them.
    pub fn setup_user_blocking(&self, user: &Address) -> Result<Vec<MailboxInfo>> {
        let mut out = Vec::new();
        for (name, special) in model::DEFAULT_MAILBOXES {
            let op = Op::EnsureMailbox {
                user: user.clone(),
                name: name.to_string(),
                special_use: special.map(str::to_string),
                exclusive: false,
            };
            match self.submit_blocking(op)? {
                Outcome::Mailbox(m) => out.push(m),
                other => return Err(unexpected(other)),
            }
        }
        let root = maildir::user_root(&self.inner.data_dir, user);
        let mut subs = maildir::read_subscriptions(&root).at(&root)?;
        for m in &out {
            if !subs.contains(&m.name) {
                subs.push(m.name.clone());
            }
        }
        maildir::write_subscriptions(&root, &subs).at(&root)?;
        self.reconcile_blocking(user, false)?;
        self.mailboxes_blocking(user)
    }

    /// RFC 9051 §6.4.6 STORE on UIDs.
    pub async fn set_flags(
        &self,
        mailbox: MailboxId,
        uids: Vec<Uid>,
        mode: FlagMode,
        flags: FlagSet,
        unchanged_since: Option<ModSeq>,
    ) -> Result<(Vec<(Uid, FlagSet, ModSeq)>, Vec<Uid>)> {
        let op = Op::SetFlags {
            mailbox,
            uids,
            mode,
            flags,
            unchanged_since,
        };
        match self.submit(op).await? {
            Outcome::Flags { changed, modified } => Ok((changed, modified)),
            other => Err(unexpected(other)),
        }
    }

    /// RFC 3501 §2.3.2: claims the mailbox's `\Recent` messages with UIDs up to `upto`
    /// for the caller (a read-write session that has seen them); no other session will
    /// get them. Returns the claimed UIDs.
    pub async fn claim_recent(&self, mailbox: MailboxId, upto: Uid) -> Result<Vec<Uid>> {
        match self.submit(Op::ClaimRecent { mailbox, upto }).await? {
            Outcome::Claimed(u) => Ok(u),
            other => Err(unexpected(other)),
        }
    }

    /// RFC 9051 §6.4.3 EXPUNGE (or §6.4.9 UID EXPUNGE with `uids`).
    pub async fn expunge(&self, mailbox: MailboxId, uids: Option<Vec<Uid>>) -> Result<Vec<Uid>> {
        match self.submit(Op::Expunge { mailbox, uids }).await? {
            Outcome::Expunged(u) => Ok(u),
            other => Err(unexpected(other)),
        }
    }

    /// RFC 9051 §6.3.5 DELETE: removes one mailbox (its children stay; INBOX cannot be
    /// deleted).
    pub async fn delete_mailbox(&self, user: &Address, name: &str) -> Result<()> {
        let op = Op::DeleteMailbox {
            user: user.clone(),
            name: name.to_string(),
        };
        match self.submit(op).await? {
            Outcome::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// RFC 9051 §6.3.6 RENAME, children included. Renaming INBOX moves its messages to
    /// a new mailbox `to` and leaves INBOX in place, empty.
    pub async fn rename_mailbox(&self, user: &Address, from: &str, to: &str) -> Result<()> {
        let op = Op::RenameMailbox {
            user: user.clone(),
            from: from.to_string(),
            to: to.to_string(),
        };
        match self.submit(op).await? {
            Outcome::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// RFC 9051 §6.4.7 COPY (`remove` false) or RFC 6851 MOVE (`remove` true) of the
    /// messages `uids` of `from` into mailbox `to` of `user`: hard links, new UIDs,
    /// same flags. Returns the target's id, its UIDVALIDITY and (source, new) UID pairs
    /// (RFC 4315 COPYUID); UIDs that no longer exist are skipped.
    pub async fn copy_messages(
        &self,
        from: MailboxId,
        uids: Vec<Uid>,
        user: &Address,
        to: &str,
        remove: bool,
    ) -> Result<(MailboxId, UidValidity, Vec<(Uid, Uid)>)> {
        let op = Op::Copy {
            from,
            uids,
            user: user.clone(),
            to: to.to_string(),
            remove,
        };
        match self.submit(op).await? {
            Outcome::Copied {
                mailbox,
                uidvalidity,
                pairs,
            } => Ok((mailbox, uidvalidity, pairs)),
            other => Err(unexpected(other)),
        }
    }

    /// RFC 9051 §6.3.7 SUBSCRIBE (`on`) / §6.3.8 UNSUBSCRIBE: persisted in the user's
    /// `subscriptions` file and the index. The mailbox need not exist.
    pub async fn set_subscribed(&self, user: &Address, name: &str, on: bool) -> Result<()> {
        let op = Op::Subscribe {
            user: user.clone(),
            name: name.to_string(),
            on,
        };
        match self.submit(op).await? {
            Outcome::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Err([`StoreError::OverQuota`]) when `extra` bytes more would exceed `user`'s
    /// quota (RFC 9208 §5.1); a user without one (quota 0) always fits.
    pub(crate) fn within_quota_blocking(&self, user: &Address, extra: u64) -> Result<()> {
        let (quota, bytes, _) = self.quota_usage_blocking(user)?;
        if quota > 0 && bytes.saturating_add(extra) > quota {
            return Err(StoreError::OverQuota);
        }
        Ok(())
    }

    /// RFC 9208 §5: `user`'s quota in bytes (0: none) and, when there is one, the
    /// bytes and messages stored over all mailboxes (else zeros: the sum over every
    /// message is read only for a user with a quota).
    pub(crate) fn quota_usage_blocking(&self, user: &Address) -> Result<(u64, u64, u64)> {
        let quota = self.accounts().user(user)?.map_or(0, |u| u.quota);
        if quota == 0 {
            return Ok((0, 0, 0));
        }
        let (bytes, count) = self.user_usage_blocking(user)?;
        Ok((quota, bytes, count))
    }

    /// Bytes and messages stored for a user over all mailboxes (RFC 9208 STORAGE and
    /// MESSAGE usage; blocking).
    pub(crate) fn user_usage_blocking(&self, user: &Address) -> Result<(u64, u64)> {
        let user = user.to_string();
        self.read(move |c| {
            let (bytes, count): (i64, i64) = c
                .prepare_cached(
                    "SELECT COALESCE(SUM(m.size), 0), COUNT(*) FROM message m
                     JOIN mailbox b ON b.id = m.mailbox_id WHERE b.user = ?1",
                )?
                .query_row([user], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok((bytes.max(0) as u64, count.max(0) as u64))
        })
    }

    /// What a selected session learns when `mailbox` changed: the mailbox (None once
    /// deleted), its messages changed since `since` (new or re-flagged, in UID order)
    /// and the UIDs expunged since then — from one read transaction (blocking).
    pub(crate) fn mailbox_changes_blocking(
        &self,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<Option<MailboxChanges>> {
        self.read(move |c| {
            Ok(
                index::changes_since(c, mailbox, since)?.map(|(mb, changed, expunged)| {
                    (
                        mb,
                        changed,
                        expunged.into_iter().map(|(uid, _)| uid).collect(),
                    )
                }),
            )
        })
    }

    /// Brings one user's index in line with the maildir (`rebuild`: from nothing).
    pub fn reconcile_blocking(&self, user: &Address, rebuild: bool) -> Result<ReconcileReport> {
        self.reconcile_user(user, rebuild, false)
    }

    /// Reconciles `user`; `stale`: the index may have lost commits, so every mailbox's
    /// UIDNEXT and HIGHESTMODSEQ first go up to its reservations (RFC 9051 §2.3.1.1).
    fn reconcile_user(
        &self,
        user: &Address,
        rebuild: bool,
        stale: bool,
    ) -> Result<ReconcileReport> {
        let op = Op::Reconcile {
            user: user.clone(),
            rebuild,
            stale,
        };
        match self.submit_blocking(op)? {
            Outcome::Reconciled(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Reconciles every user of the accounts database, and drops index rows of users
    /// that no longer exist.
    pub fn reconcile_all_blocking(&self, rebuild: bool) -> Result<Vec<(String, ReconcileReport)>> {
        self.reconcile_all(rebuild, false)
    }

    fn reconcile_all(&self, rebuild: bool, stale: bool) -> Result<Vec<(String, ReconcileReport)>> {
        let users = self.accounts().users()?;
        let mut out = Vec::new();
        for u in &users {
            out.push((
                u.address.to_string(),
                self.reconcile_user(&u.address, rebuild, stale)?,
            ));
        }
        for stale in self.read(index::users)? {
            if !users.iter().any(|u| u.address.to_string() == stale)
                && let Ok(a) = Address::parse(&stale)
            {
                // Their tree is gone from accounts: forget the rows, keep the files.
                self.forget_user_blocking(&a)?;
            }
        }
        Ok(out)
    }

    /// After a crash (or another tool writing the tree), brings the whole index in line
    /// with the maildir: files the index lacks are adopted, rows without files dropped.
    /// The index may have lost its last commits (or be an older copy), so UIDNEXT and
    /// HIGHESTMODSEQ go up to the reservations in `mailyard-state` first: no UID or
    /// MODSEQ a client saw is handed out again. `serve` runs this on start, before it
    /// accepts anything.
    pub fn recover_blocking(&self) -> Result<Vec<(String, ReconcileReport)>> {
        self.reconcile_all(false, true)
    }

    /// Drops a user's index rows (the files stay).
    pub fn forget_user_blocking(&self, user: &Address) -> Result<()> {
        self.submit_blocking(Op::Forget { user: user.clone() })
            .map(|_| ())
    }

    /// Compares the index with the maildir tree for every user, without changing
    /// anything. Each problem is one line.
    pub fn check(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for u in self.accounts().users()? {
            let root = maildir::user_root(&self.inner.data_dir, &u.address);
            let on_disk = if root.is_dir() {
                maildir::list_mailboxes(&root).at(&root)?
            } else {
                problems.push(format!("{}: no maildir at {}", u.address, root.display()));
                continue;
            };
            let indexed = self.mailboxes_blocking(&u.address)?;
            for (name, dir) in &on_disk {
                let Some(mb) = indexed.iter().find(|m| &m.name == name) else {
                    problems.push(format!("{}: mailbox {name:?} is not indexed", u.address));
                    continue;
                };
                let map = maildir::read_keywords(dir).at(dir)?;
                let files = maildir::scan_messages(dir, &map).at(dir)?;
                let rows = self.messages_blocking(mb.id)?;
                let by_base: std::collections::HashMap<&str, &MessageInfo> =
                    rows.iter().map(|m| (m.base.as_str(), m)).collect();
                let mut seen = std::collections::HashSet::new();
                for f in &files {
                    seen.insert(f.parsed.base.as_str());
                    match by_base.get(f.parsed.base.as_str()) {
                        None => problems.push(format!(
                            "{}: {name}: file {} is not indexed",
                            u.address,
                            f.path.display()
                        )),
                        Some(m) if m.flags != f.parsed.flags => problems.push(format!(
                            "{}: {name}: UID {} flags differ between index and file name",
                            u.address, m.uid.0
                        )),
                        Some(m) if m.uid.0 >= mb.uidnext.0 => problems.push(format!(
                            "{}: {name}: UID {} is not below UIDNEXT {}",
                            u.address, m.uid.0, mb.uidnext.0
                        )),
                        Some(_) => {}
                    }
                }
                for m in &rows {
                    if !seen.contains(m.base.as_str()) {
                        problems.push(format!(
                            "{}: {name}: UID {} has no file ({})",
                            u.address, m.uid.0, m.base
                        ));
                    }
                }
            }
            for mb in &indexed {
                if !on_disk.iter().any(|(n, _)| n == &mb.name) {
                    problems.push(format!(
                        "{}: mailbox {:?} is indexed but has no directory",
                        u.address, mb.name
                    ));
                }
            }
        }
        Ok(problems)
    }
}

/// An APPENDed copy: into an existing mailbox only (RFC 9051 §6.3.12 TRYCREATE).
fn appended(user: &Address, mailbox: String, flags: FlagSet) -> Target {
    Target {
        user: user.clone(),
        mailbox,
        flags,
        if_missing: IfMissing::Fail,
    }
}

/// Locks `m`, also when a thread panicked while holding it: the store's shared maps
/// (subscribers, sync state) hold no invariant a half-done update could break that
/// is worse than stopping every later user of them (IDLE wake-ups, fsync rounds).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unexpected(o: Outcome) -> StoreError {
    StoreError::Invalid(format!("internal: unexpected writer outcome {o:?}"))
}

impl Store {
    /// RFC 3502 MULTIAPPEND: several messages (data, flags, optional INTERNALDATE)
    /// into one mailbox, atomically: every message is staged first, then one writer
    /// request delivers them all in one SAVEPOINT, so either all are stored (their
    /// `Delivered`, in order, with ascending UIDs) or none is. Refused with
    /// [`StoreError::OverQuota`], before anything is written, when they would take
    /// the user over their quota (RFC 9208 §5.1).
    pub async fn append_many(
        &self,
        user: &Address,
        mailbox: &str,
        messages: Vec<(Vec<u8>, FlagSet, Option<i64>)>,
    ) -> Result<Vec<Delivered>> {
        Ok(self
            .append_many_claiming(user, mailbox, messages, None)
            .await?
            .0)
    }

    /// [`Store::append_many`] from a session that has `selected` selected read-write:
    /// when the messages go into that mailbox, the same request claims its `\Recent`
    /// messages up to the last new one for that session ([`Store::claim_recent`],
    /// RFC 3501 §2.3.2: the session that appends is the first to be told), so the
    /// session needs no second trip to the writer when it announces them. Returns the
    /// UIDs claimed too.
    pub async fn append_many_claiming(
        &self,
        user: &Address,
        mailbox: &str,
        messages: Vec<(Vec<u8>, FlagSet, Option<i64>)>,
        selected: Option<MailboxId>,
    ) -> Result<(Vec<Delivered>, Vec<Uid>)> {
        let name = writer::normalize_name(mailbox)?;
        let bytes = messages.iter().map(|m| m.0.len() as u64).sum::<u64>();
        let user = user.clone();
        let staged = self.stage_and_submit(move |s| {
            // The quota is checked once, for all of them, before anything is written
            // (RFC 9208 §5.1).
            s.within_quota_blocking(&user, bytes)?;
            let mut ops = Vec::with_capacity(messages.len());
            for (data, flags, date) in messages {
                let targets = vec![appended(&user, name.clone(), flags)];
                match s.stage_blocking(data, targets, date) {
                    Ok(op) => ops.push(op),
                    Err(e) => {
                        for op in ops {
                            op.file.discard();
                        }
                        return Err(e);
                    }
                }
            }
            Ok(Op::DeliverMany {
                ops,
                claim_for: selected,
            })
        });
        match staged.await? {
            Outcome::Appended { delivered, claimed } => Ok((delivered, claimed)),
            other => Err(unexpected(other)),
        }
    }
}
