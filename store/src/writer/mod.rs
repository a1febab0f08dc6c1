//! The one writer: a thread that owns the index's write connection and applies every
//! change to the maildir and the index, in batches.
//!
//! Group commit: while a batch is being applied, new requests queue up in the
//! channel; the next batch takes all of them (up to `MAX_BATCH`) into one index
//! transaction. The fsync of the directories a batch touched runs on other threads,
//! the syncer (`dirsync.rs`), which fsyncs each directory for every batch that changed
//! it since its last fsync began, and answers a batch once its own directories are
//! durable; the writer commits the next batch (a STORE, an EXPUNGE) meanwhile.
//! Throughput therefore grows with the number of concurrent deliverers instead of
//! being capped at one fsync round per message, and no flag change waits for a
//! delivery's disk round.
//!
//! This file holds the requests and answers, the thread, the batching and what the
//! other files share (the mailbox row); `mailbox.rs`, `message.rs` and `reconcile.rs`
//! apply the requests of their kind.
//!
//! Invariants:
//! - Per message: file in `tmp/` fsynced (by the caller), linked into `new/` or `cur/`,
//!   the index committed while the syncer fsyncs the directory (its fsync starts once
//!   the batch's links are made, before the commit), the tmp name removed, then the
//!   change published and the caller answered. Nothing is acknowledged before
//!   its names are durable; another session may see a committed message a moment
//!   earlier (when a later change to the same mailbox is published first), and a crash
//!   in that moment loses only mail nobody was told was kept — its UID stays used, as
//!   UIDs are reserved durably. The overlap is safe because the index is a cache
//!   (`index.rs`: `synchronous=NORMAL`, rebuilt from the files) and nothing is answered
//!   before both are done. Its one cost: when a commit fails, its links may already be
//!   durable; they are removed and the directories fsynced again, but a crash before
//!   that leaves a message nobody was told was kept, which the next reconcile adopts
//!   (a sender retrying then delivers it twice).
//! - Each request runs in its own SAVEPOINT (a request alone in its batch in the
//!   transaction itself, rolled back when it fails): one failing request leaves the
//!   others in the batch untouched, and the files it created are removed again.
//! - Changes are published only after the commit, per mailbox and on the owner's
//!   bus (`changes.rs`); the events of a failing request are dropped with it.
//! - Flag changes and expunges rename or unlink files without fsyncing the directory
//!   (as Dovecot's default `mail_fsync = optimized`): they are not acknowledged mail, and
//!   a crash can at worst undo the last ones (file names win over the index on
//!   recovery). An expunged message that a crash brings back is given a new UID by the
//!   reconcile, never its old one, since clients were told that UID is gone.
//! - Mailbox rows are read inside the write transaction (BEGIN IMMEDIATE), never cached
//!   across batches, so another process writing the same index (the CLI) stays coherent.
//! - Mailbox operations (delete, rename, copy/move) follow the same order: the maildir
//!   is changed first (directories renamed, files linked), then the index commits while
//!   the touched directories are fsynced, both before the answer. Directory renames are recorded so that a failing
//!   request or batch renames them back; a deleted mailbox's tree is first renamed out
//!   of the namespace (`..deleted.*`, which no mailbox name maps to) and removed only
//!   after the commit. A MOVE unlinks the source files last, after every link and
//!   statement of the request succeeded, so a failure never loses a message: at worst
//!   it is in both mailboxes, and the next reconcile adopts the extra file. Should the
//!   batch's commit fail after that, each source is linked back from the target's link
//!   before the target's links are removed (`Effects::unlinked`, `undo_files`), and the
//!   directories are fsynced again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use crate::changes::{Changes, MailboxEvent, MessageChanges};
use crate::error::{IoContext, Result, StoreError};
use crate::index;
use crate::maildir::{self, MailboxState};
use crate::model::{Address, FlagSet, MailboxId, ModSeq, Uid, UidValidity};
use crate::summary::Summary;

mod mailbox;
mod message;
mod reconcile;

use mailbox::{delete_mailbox, ensure_mailbox, rename_mailbox, subscribe};
pub(crate) use message::deliver;
use message::{claim_recent, copy_messages, expunge, set_flags};
pub(crate) use reconcile::rebuild_shapes;
use reconcile::{import, reconcile};

/// Most requests folded into one transaction.
pub const MAX_BATCH: usize = 512;

/// WAL frames (pages) written since the last checkpoint past which the index is
/// checkpointed (SQLite's own automatic checkpoint mark): by the writer at its next
/// idle moment, or, while requests keep waiting, by the checkpoint thread beside it.
pub const CHECKPOINT_PAGES: u64 = 1000;

/// WAL frames written since the writer's own last checkpoint past which it
/// checkpoints between two batches even while requests wait: what bounds the WAL
/// (about 16 MiB of 4 KiB pages, plus one batch) under a load that never pauses. A
/// reader still on an older snapshot when the next transaction begins keeps the WAL
/// from starting over until a later checkpoint: under imaptest's 10 sessions for a
/// minute the WAL file reached 21 MB (47 MB after runs with only the checkpoint thread).
pub const CHECKPOINT_PAGES_BUSY: u64 = 4 * CHECKPOINT_PAGES;

/// A message the writer stored (its mailbox, UID, summary and small file), for the
/// blob cache after commit.
type StoredMessage = (MailboxId, Uid, Arc<Summary>, Option<Arc<[u8]>>);

/// One message to put into one or more mailboxes.
#[derive(Debug)]
pub struct DeliverOp {
    /// The fsynced file, linked into each mailbox; when it has a `tmp/` name, that
    /// is removed once the links are durable.
    pub file: maildir::Staged,
    /// Where each copy goes.
    pub targets: Vec<Target>,
    /// Byte size of the file.
    pub size: u64,
    /// INTERNALDATE, unix seconds.
    pub internaldate: i64,
    /// Parsed once by the caller.
    pub summary: Arc<Summary>,
    /// The file's bytes when it is small enough for the blob cache
    /// (`blobcache::BODY_CACHE_MAX_BYTES`): a FETCH of a new message in a selected
    /// mailbox then needs no file.
    pub body: Option<Arc<[u8]>>,
}

/// One copy of a delivered message: whose, which mailbox, with which flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Owner.
    pub user: Address,
    /// Mailbox name (IMAP form).
    pub mailbox: String,
    /// Initial flags and keywords (APPEND, or a Sieve script's `imap4flags`).
    pub flags: FlagSet,
    /// What to do when the mailbox does not exist.
    pub if_missing: IfMissing,
}

impl Target {
    /// The user's INBOX (created if need be), no flags: plain SMTP delivery.
    pub fn inbox(user: &Address) -> Target {
        Target {
            user: user.clone(),
            mailbox: "INBOX".into(),
            flags: FlagSet::default(),
            if_missing: IfMissing::Create,
        }
    }
}

/// What a delivery does when its target mailbox does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMissing {
    /// Fail the request (APPEND: `NO [TRYCREATE]`, RFC 9051 §6.3.12).
    Fail,
    /// Create it (the INBOX; Sieve `fileinto :create`, RFC 5490 §3.2).
    Create,
    /// Put the copy in the INBOX instead (Sieve `fileinto` to a mailbox that is not
    /// there: RFC 5228 §4.1 leaves it open; Pigeonhole, like us, keeps the message).
    Inbox,
}

/// How STORE combines flags (RFC 9051 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagMode {
    /// FLAGS: replace.
    Replace,
    /// +FLAGS: add.
    Add,
    /// -FLAGS: remove.
    Remove,
}

/// A change request for the writer.
#[derive(Debug)]
pub enum Op {
    /// Deliver or append a message.
    Deliver(DeliverOp),
    /// Create a mailbox unless it exists (`exclusive`: fail when it does).
    EnsureMailbox {
        /// Owner.
        user: Address,
        /// IMAP name, normalized.
        name: String,
        /// RFC 6154 attribute.
        special_use: Option<String>,
        /// Fail with MailboxExists when present.
        exclusive: bool,
    },
    /// STORE.
    SetFlags {
        /// Which mailbox.
        mailbox: MailboxId,
        /// Which messages.
        uids: Vec<Uid>,
        /// How.
        mode: FlagMode,
        /// The flags given.
        flags: FlagSet,
        /// RFC 7162 §3.1.3 UNCHANGEDSINCE.
        unchanged_since: Option<ModSeq>,
    },
    /// EXPUNGE (all `\Deleted`) or UID EXPUNGE (those of `uids` that are `\Deleted`).
    Expunge {
        /// Which mailbox.
        mailbox: MailboxId,
        /// Restrict to these UIDs.
        uids: Option<Vec<Uid>>,
    },
    /// Bring the index in line with a user's maildir tree; `rebuild` drops the user's
    /// rows first.
    Reconcile {
        /// Whose tree.
        user: Address,
        /// Start from nothing.
        rebuild: bool,
        /// The index may have lost commits (just opened after a crash or an older copy
        /// put back): raise UIDNEXT and HIGHESTMODSEQ to the reservations first.
        stale: bool,
    },
    /// RFC 3501 §2.3.2 `\Recent`: claim the mailbox's recent messages up to `upto` for
    /// the calling session (moving `first_recent_uid` past them, so exactly one session
    /// gets each); their files move from `new/` to `cur/`, as a maildir reader does
    /// with mail it has seen.
    ClaimRecent {
        /// Which mailbox.
        mailbox: MailboxId,
        /// The highest UID the session has seen.
        upto: Uid,
    },
    /// Drop a user's index rows (the account is gone; the files stay).
    Forget {
        /// Whose rows.
        user: Address,
    },
    /// RFC 9051 §6.3.5 DELETE: one mailbox (not its children, not INBOX).
    DeleteMailbox {
        /// Owner.
        user: Address,
        /// IMAP name.
        name: String,
    },
    /// RFC 9051 §6.3.6 RENAME, children included; renaming INBOX moves its messages
    /// into a new mailbox and leaves INBOX empty.
    RenameMailbox {
        /// Owner.
        user: Address,
        /// Existing name.
        from: String,
        /// New name.
        to: String,
    },
    /// RFC 9051 §6.4.7 COPY / RFC 6851 MOVE: hard links into the target with new UIDs.
    Copy {
        /// Source mailbox.
        from: MailboxId,
        /// Source UIDs, ascending; missing ones are skipped.
        uids: Vec<Uid>,
        /// Target owner.
        user: Address,
        /// Target mailbox name.
        to: String,
        /// Remove the messages from the source (MOVE).
        remove: bool,
    },
    /// RFC 9051 §6.3.7/§6.3.8 SUBSCRIBE / UNSUBSCRIBE: the `subscriptions` file and the
    /// index column.
    Subscribe {
        /// Owner.
        user: Address,
        /// IMAP name (need not exist).
        name: String,
        /// Subscribe (true) or unsubscribe.
        on: bool,
    },
    /// RFC 3502 MULTIAPPEND: several messages delivered in one request, so in one
    /// SAVEPOINT: all of them or none (a failing one rolls the others back and their
    /// files are removed again). Answered with one `Delivered` per message, in order.
    /// With `claim_for`, the session that has that mailbox selected read-write claims
    /// its `\Recent` messages up to the last new one when they went there (one trip
    /// instead of a `ClaimRecent` after).
    DeliverMany {
        /// The messages, in order.
        ops: Vec<DeliverOp>,
        /// The appending session's selected mailbox.
        claim_for: Option<MailboxId>,
    },
    /// Local copies (one op per distinct content), relay queue entries and Sieve
    /// memory of one delivery, in one request: all durable or none (`delivery.rs`).
    DeliverAll(crate::delivery::StagedDelivery),
    /// A change to the relay queue's state (`queue.rs`).
    Queue(crate::queue::QueueChange),
    /// `mailyard import maildir`: staged files into a user's tree (`import.rs`).
    Import(Box<crate::import::ImportOp>),
}

/// What a request produced.
#[derive(Debug)]
pub enum Outcome {
    /// One entry per target of a DeliverOp.
    Delivered(Vec<Delivered>),
    /// The mailbox (existing or new).
    Mailbox(index::MailboxInfo),
    /// STORE: messages changed (uid, new flags, modseq) and those refused by
    /// UNCHANGEDSINCE.
    Flags {
        /// Changed.
        changed: Vec<(Uid, FlagSet, ModSeq)>,
        /// RFC 7162 §3.1.3 MODIFIED.
        modified: Vec<Uid>,
    },
    /// `DeliverMany`: one entry per message, and the UIDs claimed as `\Recent`.
    Appended {
        /// One per message, in order.
        delivered: Vec<Delivered>,
        /// Claimed for the appending session (`claim_for`).
        claimed: Vec<Uid>,
    },
    /// Expunged UIDs.
    Expunged(Vec<Uid>),
    /// What a reconcile did.
    Reconciled(ReconcileReport),
    /// UIDs claimed as `\Recent` by the caller.
    Claimed(Vec<Uid>),
    /// COPY/MOVE: the target's UIDVALIDITY and (source UID, new UID) pairs.
    Copied {
        /// Target mailbox.
        mailbox: MailboxId,
        /// Target UIDVALIDITY (RFC 4315 COPYUID).
        uidvalidity: UidValidity,
        /// Source and target UIDs, in source UID order.
        pairs: Vec<(Uid, Uid)>,
    },
    /// A mailbox operation without a result (delete, rename, subscribe).
    Done,
    /// DeliverAll: the local copies and the queue ids.
    Queued(Vec<Delivered>, Vec<String>),
    /// Import: what each mailbox became.
    Imported(Vec<crate::import::MailboxOutcome>),
}

/// Where a delivered copy went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Owner.
    pub user: Address,
    /// The mailbox.
    pub mailbox: MailboxId,
    /// Its UIDVALIDITY (for APPENDUID).
    pub uidvalidity: UidValidity,
    /// The new message's UID.
    pub uid: Uid,
}

/// Counts from a reconcile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Mailboxes seen.
    pub mailboxes: usize,
    /// Messages present.
    pub messages: usize,
    /// Files the index did not know (adopted).
    pub adopted: usize,
    /// Index rows whose file was gone (dropped).
    pub dropped: usize,
    /// Rows whose flags the file name contradicted (file wins).
    pub reflagged: usize,
    /// Files given a new UID (none, or a duplicate).
    pub renumbered: usize,
    /// Files left in `tmp/` by crashed deliveries, removed (maildir(5): 36 hours).
    pub stale_tmp: usize,
}

pub(crate) struct Job {
    pub op: Op,
    pub reply: Reply,
}

/// Where a request's outcome goes: an async caller's oneshot, or a blocking caller's
/// channel (the CLI, and setup code that may run inside a runtime).
pub(crate) enum Reply {
    Async(oneshot::Sender<Result<Outcome>>),
    Sync(mpsc::SyncSender<Result<Outcome>>),
}

impl Reply {
    fn send(self, r: Result<Outcome>) {
        // A caller that went away no longer needs the answer.
        match self {
            Reply::Async(tx) => drop(tx.send(r)),
            Reply::Sync(tx) => drop(tx.send(r)),
        }
    }
}

/// Handle to the writer thread. Dropping it (with the store) closes the queue and waits
/// for the thread to finish what it was given: its connection is closed, and SQLite's
/// checkpoint-on-close done, before the store is gone. Otherwise a store opened again
/// on the same data dir (a rebuild after the index file was removed) could have its new
/// `-wal` file removed by the old connection closing late ("disk I/O error").
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

impl Writer {
    /// Starts the thread with its own write connection.
    pub fn start(
        conn: Connection,
        data_dir: PathBuf,
        changes: Arc<Changes>,
        batch_observer: Arc<std::sync::OnceLock<crate::stats::BatchObserver>>,
        spares: Arc<crate::spare::Spares>,
    ) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        let mut state = WriterState {
            conn,
            data_dir,
            changes,
            batch_observer,
            spares,
            touched: HashSet::new(),
            mailbox_rows: None,
        };
        let spawned = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || state.run(rx));
        let thread = spawned
            .inspect_err(|e| tracing::error!(error = %e, "cannot start the store writer thread"))
            .ok();
        Writer {
            tx: Some(tx),
            thread,
        }
    }

    /// Whether the writer thread is still running (it ends only when the store is
    /// dropped, or by a panic, after which every write would fail).
    pub fn alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The queue, while the writer is open.
    fn queue(&self, job: Job) {
        if let Some(tx) = &self.tx {
            // When the thread is gone the reply sender is dropped, which the caller
            // sees as StoreError::Closed.
            let _ = tx.send(job);
        }
    }

    /// Queues `op`; the receiver yields its outcome once durable.
    pub fn submit(&self, op: Op) -> oneshot::Receiver<Result<Outcome>> {
        let (reply, rx) = oneshot::channel();
        self.submit_to(op, reply);
        rx
    }

    /// Queues `op`; its outcome goes to `reply` once durable. For a request built on
    /// another thread (a delivery staged on a blocking thread) whose caller already
    /// waits on the receiver.
    pub fn submit_to(&self, op: Op, reply: oneshot::Sender<Result<Outcome>>) {
        self.queue(Job {
            op,
            reply: Reply::Async(reply),
        });
    }

    /// Queues `op` and blocks the calling thread until it is durable.
    pub fn submit_blocking(&self, op: Op) -> Result<Outcome> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.queue(Job {
            op,
            reply: Reply::Sync(reply),
        });
        rx.recv().map_err(|_| StoreError::Closed)?
    }
}

struct WriterState {
    conn: Connection,
    data_dir: PathBuf,
    changes: Arc<Changes>,
    /// Requests per batch, for `/metrics`.
    batch_observer: Arc<std::sync::OnceLock<crate::stats::BatchObserver>>,
    /// Where removed queue files go (`spare.rs`).
    spares: Arc<crate::spare::Spares>,
    /// Mailboxes this writer changed: their unused UID and MODSEQ reservations are
    /// given back when it stops (`trim_reservations`).
    touched: HashSet<MailboxId>,
    /// Set by the connection's update hook when a mailbox row is inserted or deleted
    /// (`watch_mailbox_rows`): the users' LIST caches are then emptied (`lists.rs`).
    /// None until the hook is set (and when it cannot be).
    mailbox_rows: Option<Arc<AtomicBool>>,
}

/// The lengths of an [`Effects`]' records before a request ([`Effects::mark`]); the
/// default is before the batch.
#[derive(Clone, Copy, Default)]
struct EffectsMark {
    created: usize,
    unlinked: usize,
    renames: usize,
    remove_trees: usize,
    trash: usize,
    events: usize,
    stored: usize,
    changed: usize,
}

/// What a batch must do after its statements succeed.
#[derive(Default)]
pub(crate) struct Effects {
    /// Directories whose entries changed: fsynced (while the index commits) before the
    /// answer.
    pub(crate) dirs: BTreeSet<PathBuf>,
    /// Files created by requests (removed again if their request fails).
    pub(crate) created: Vec<PathBuf>,
    /// Names a MOVE removed from its source, each with the link it made of the same
    /// file (one of `created`): linked back before `created` is removed when the
    /// request or the batch's commit fails, so that the message is never lost.
    pub(crate) unlinked: Vec<(PathBuf, PathBuf)>,
    /// tmp files to remove after commit.
    pub(crate) tmp_done: Vec<PathBuf>,
    /// Mailboxes changed, with their new HIGHESTMODSEQ ([`Effects::mark_changed`]).
    changed: HashMap<MailboxId, u64>,
    /// Each entry of `changed` as it was before a request changed it, so that a
    /// failing request's are put back ([`Effects::undo_changed`]).
    changed_before: Vec<(MailboxId, Option<u64>)>,
    /// What changed, for the users' buses (`changes.rs`); a failing request's
    /// events are dropped with it.
    events: Vec<(Address, MailboxEvent)>,
    /// Directory renames done (from, to): undone in reverse if the request or the
    /// batch fails.
    renames: Vec<(PathBuf, PathBuf)>,
    /// Trees renamed out of the namespace, removed after commit.
    remove_trees: Vec<PathBuf>,
    /// Messages stored, with their summaries and small files: the blob cache learns
    /// their shapes, header blocks and files after commit (`blobcache.rs`).
    stored: Vec<StoredMessage>,
    /// Expunged files, parked in their mailbox's `tmp/` (a rename, quick) and unlinked
    /// after commit by the syncer: an unlink waits for the filesystem to free
    /// the file's blocks, which the writer thread must not.
    trash: Vec<PathBuf>,
}

impl Effects {
    /// Records that the messages of `mb` changed: its watchers learn its new
    /// HIGHESTMODSEQ, its owner's bus the event.
    fn touch(&mut self, mb: &MailboxRow, changes: MessageChanges) {
        self.mark_changed(mb.id, mb.highestmodseq);
        self.event(
            &mb.user,
            MailboxEvent::Messages {
                mailbox: mb.id,
                name: mb.name.clone(),
                changes,
            },
        );
    }

    /// Records that `mailbox` is now at HIGHESTMODSEQ `modseq` (its watchers learn it
    /// after commit).
    pub(crate) fn mark_changed(&mut self, mailbox: MailboxId, modseq: u64) {
        let before = self.changed.insert(mailbox, modseq);
        self.changed_before.push((mailbox, before));
    }

    /// Puts back what [`Effects::mark_changed`] recorded since the log held `len` entries
    /// (a failing request's changes, rolled back with it).
    fn undo_changed(&mut self, len: usize) {
        while self.changed_before.len() > len {
            match self.changed_before.pop() {
                Some((id, Some(modseq))) => {
                    self.changed.insert(id, modseq);
                }
                Some((id, None)) => {
                    self.changed.remove(&id);
                }
                None => break,
            }
        }
    }

    /// Where each record stands before a request runs, for [`Effects::undo_to`].
    fn mark(&self) -> EffectsMark {
        EffectsMark {
            created: self.created.len(),
            unlinked: self.unlinked.len(),
            renames: self.renames.len(),
            remove_trees: self.remove_trees.len(),
            trash: self.trash.len(),
            events: self.events.len(),
            stored: self.stored.len(),
            changed: self.changed_before.len(),
        }
    }

    /// Undoes what a failed request recorded since `mark`: its file changes on disk
    /// ([`undo_files`]) and its post-commit effects. (`dirs` keeps its directories:
    /// an extra fsync at worst; `tmp_done` keeps its staged names, which are garbage.)
    fn undo_to(&mut self, mark: EffectsMark) {
        self.undo_files_to(mark);
        self.remove_trees.truncate(mark.remove_trees);
        self.trash.truncate(mark.trash);
        self.events.truncate(mark.events);
        self.stored.truncate(mark.stored);
        self.undo_changed(mark.changed);
    }

    /// Undoes the file changes on disk recorded since `mark` ([`undo_files`]).
    fn undo_files_to(&mut self, mark: EffectsMark) {
        undo_files(
            self.unlinked.drain(mark.unlinked..),
            self.created.drain(mark.created..),
            self.renames.drain(mark.renames..),
        );
    }

    /// Lets go of a staged message the writer is done with, delivered or not (its
    /// request failed before reaching it): an unnamed file closes here, a `tmp/` name
    /// is removed after the commit.
    pub(crate) fn release_staged(&mut self, op: DeliverOp) {
        self.tmp_done.extend(op.file.into_leftover());
    }

    /// Records an event for `user`'s bus.
    fn event(&mut self, user: &Address, event: MailboxEvent) {
        self.events.push((user.clone(), event));
    }
}

/// A mailbox row as the writer needs it.
struct MailboxRow {
    id: MailboxId,
    /// Owner and name, for the change events.
    user: Address,
    name: String,
    dir: PathBuf,
    uidvalidity: u32,
    uidnext: u32,
    highestmodseq: u64,
    uid_reserved: u32,
    modseq_reserved: u64,
    special_use: Option<String>,
}

impl MailboxRow {
    fn state(&self) -> MailboxState {
        MailboxState {
            uidvalidity: self.uidvalidity,
            uid_reserved: self.uid_reserved,
            modseq_reserved: self.modseq_reserved,
            special_use: self.special_use.clone(),
        }
    }

    /// The next UID, raising the durable reservation first when it runs out.
    fn next_uid(&mut self) -> Result<u32> {
        let uid = self.uidnext;
        if uid >= self.uid_reserved {
            self.uid_reserved = uid.saturating_add(maildir::UID_BLOCK);
            maildir::write_state(&self.dir, &self.state()).at(&self.dir)?;
        }
        self.uidnext = uid + 1;
        Ok(uid)
    }

    /// The MODSEQ every change of one request shares (RFC 7162 §3.1: the messages a
    /// single command changes may get the same MODSEQ): allocated on first use.
    fn shared_modseq(&mut self, slot: &mut Option<u64>) -> Result<u64> {
        match *slot {
            Some(m) => Ok(m),
            None => Ok(*slot.insert(self.next_modseq()?)),
        }
    }

    /// The next MODSEQ, likewise reserved durably.
    fn next_modseq(&mut self) -> Result<u64> {
        let m = self.highestmodseq + 1;
        if m >= self.modseq_reserved {
            self.modseq_reserved = m + maildir::MODSEQ_BLOCK;
            maildir::write_state(&self.dir, &self.state()).at(&self.dir)?;
        }
        self.highestmodseq = m;
        Ok(m)
    }

    fn save(&self, conn: &Connection) -> Result<()> {
        conn.prepare_cached(
            "UPDATE mailbox SET uidnext = ?2, highestmodseq = ?3, uid_reserved = ?4,
                    modseq_reserved = ?5, special_use = ?6 WHERE id = ?1",
        )?
        .execute(params![
            self.id.0,
            self.uidnext,
            self.highestmodseq as i64,
            self.uid_reserved,
            self.modseq_reserved as i64,
            self.special_use
        ])?;
        Ok(())
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl WriterState {
    /// Takes what is queued as one batch, in two transactions: first the requests
    /// that fsync nothing (flag changes, expunges, `\Recent` claims — STORE and
    /// EXPUNGE of every session), answered at once; then those that make mail durable
    /// (deliveries, copies, mailbox changes), committed here and handed to the syncer
    /// (threads), which fsyncs their directories and answers them while this thread goes
    /// on with the next batch. A STORE that arrives while an APPEND's directory is
    /// being fsynced so never waits for that disk round. Concurrent requests have no
    /// order among themselves; one session's requests are never in one batch together
    /// (each waits for its answer).
    fn run(&mut self, rx: mpsc::Receiver<Job>) {
        let mut wal = self.watch_wal();
        self.watch_mailbox_rows();
        let checkpointer = wal.as_ref().and_then(|_| self.start_checkpointer());
        // Without its threads, its work is done here, one batch at a time.
        let syncer = start_syncer(self.changes.clone());
        // A request taken while looking whether the queue was empty.
        let mut taken: Option<Job> = None;
        while let Some(first) = taken.take().or_else(|| rx.recv().ok()) {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            if let Some(observe) = self.batch_observer.get() {
                observe(batch.len());
            }
            let (quick, durable): (Vec<Job>, Vec<Job>) =
                batch.into_iter().partition(|j| j.op.syncs_nothing());
            for part in [quick, durable] {
                if part.is_empty() {
                    continue;
                }
                // A request's own panic fails it alone (`guarded`). One outside
                // the requests (a bug in the batch's bookkeeping, before or after the
                // commit) loses this batch's answers — its callers hear `Closed`, and
                // what was committed stays — but not the writer. The caches that may
                // have missed the batch are dropped (sessions read the index).
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.run_part(part, syncer.as_ref());
                }));
                if ran.is_err() {
                    tracing::error!("store: a write batch panicked outside its requests");
                    self.changes.journals.forget_all();
                    self.changes.lists.forget_all();
                }
            }
            if let Some(wal) = wal.as_mut() {
                let idle = match rx.try_recv() {
                    Ok(job) => {
                        taken = Some(job);
                        false
                    }
                    Err(_) => true,
                };
                match wal.due(idle) {
                    Checkpoint::No => {}
                    Checkpoint::Beside => match &checkpointer {
                        // Full: one is already asked for.
                        Some((tx, _)) => drop(tx.try_send(())),
                        None => drop(checkpoint(&self.conn)),
                    },
                    Checkpoint::Here => {
                        if checkpoint(&self.conn) {
                            wal.checkpointed();
                        }
                    }
                }
            }
        }
        // Waits for every batch handed over to be finished.
        drop(syncer);
        if let Some((tx, handle)) = checkpointer {
            drop(tx);
            let _ = handle.join();
        }
        if let Err(e) = self.trim_reservations() {
            tracing::warn!(error = %e, "cannot give back unused UID reservations");
        }
    }

    /// Runs one part of a batch (its quick requests, or those that sync) and answers
    /// it now or hands it to the syncer.
    fn run_part(&mut self, part: Vec<Job>, syncer: Option<&crate::dirsync::DirSync<ToSync>>) {
        let Some((mut done, reserved)) = self.run_batch(part, syncer) else {
            return;
        };
        if done.dirs.is_empty() {
            // Nothing to make durable: answered now, its unlinks left for later.
            let trash = std::mem::take(&mut done.trash);
            done.finish(&self.changes, Ok(()));
            if !trash.is_empty() {
                self.hand_off(syncer, ToSync::Trash(trash));
            }
        } else if let Some(reserved) = reserved {
            reserved.submit(ToSync::Batch(done));
        } else {
            self.hand_off(syncer, ToSync::Batch(done));
        }
    }

    /// Gives `work` to the syncer, or does it here when there is none.
    fn hand_off(&self, syncer: Option<&crate::dirsync::DirSync<ToSync>>, work: ToSync) {
        match syncer {
            Some(pool) => {
                let dirs = work.dirs();
                pool.submit(work, dirs);
            }
            None => work.run(&self.changes),
        }
    }

    /// On a clean stop, gives back what the mailboxes this writer changed reserved but
    /// did not use: `mailyard-state` and the row then say UIDNEXT and HIGHESTMODSEQ
    /// exactly. The next start raises UIDNEXT and HIGHESTMODSEQ to the reservations
    /// (the index may have lost commits, `raise_to_reservations`), so without this
    /// every restart would leave a gap of up to `UID_BLOCK` UIDs; after a crash the
    /// full reservation stays, as it must. Correct even if the index commit here is
    /// lost: the values written are the ones in use, above every UID handed out.
    fn trim_reservations(&mut self) -> Result<()> {
        if self.touched.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for &id in &self.touched {
            let mut mb = match load_mailbox_by_id(&tx, &self.data_dir, id) {
                Ok(mb) => mb,
                Err(StoreError::NoMailbox(_)) => continue,
                Err(e) => return Err(e),
            };
            if mb.uid_reserved <= mb.uidnext && mb.modseq_reserved <= mb.highestmodseq {
                continue;
            }
            mb.uid_reserved = mb.uidnext;
            mb.modseq_reserved = mb.highestmodseq;
            maildir::write_state(&mb.dir, &mb.state()).at(&mb.dir)?;
            mb.save(&tx)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Counts the frames each commit adds to the WAL, in place of SQLite's automatic
    /// checkpoint (which would run inside the commit, before the batch is answered):
    /// this thread checkpoints between batches instead, when [`WalPolicy`] says so.
    /// None when the hook cannot be set; SQLite then checkpoints on its own.
    fn watch_wal(&mut self) -> Option<WalPolicy> {
        let frames = Arc::new(WalFrames::default());
        let counted = frames.clone();
        let hooked = self.conn.wal_hook(Some(
            move |_: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
                counted.committed(pages);
                Ok(())
            },
        ));
        match hooked {
            Ok(()) => Some(WalPolicy::new(frames)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot hook the index's commits");
                None
            }
        }
    }

    /// Notes every insert or delete of a mailbox row on the write connection, whatever
    /// request did it (CREATE, DELETE, a delivery that creates its mailbox, a
    /// reconcile, an import): after its commit the LIST caches are emptied. Without
    /// the hook every batch empties them.
    fn watch_mailbox_rows(&mut self) {
        let flag = Arc::new(AtomicBool::new(false));
        let seen = flag.clone();
        let hooked = self.conn.update_hook(Some(
            move |action: rusqlite::hooks::Action, _: &str, table: &str, _: i64| {
                if table == "mailbox" && action != rusqlite::hooks::Action::SQLITE_UPDATE {
                    seen.store(true, Ordering::Relaxed);
                }
            },
        ));
        match hooked {
            Ok(()) => self.mailbox_rows = Some(flag),
            Err(e) => tracing::warn!(error = %e, "cannot hook the index's mailbox rows"),
        }
    }

    /// The checkpoint thread: a connection of its own that copies the WAL while this
    /// thread goes on committing, asked for when requests keep the writer busy (see
    /// [`WalPolicy`]), so that the bulk of the copying and the fsync of a long WAL
    /// happen beside the writer and its own checkpoint, which lets the WAL start
    /// over, finds little left to do. None when it cannot start; the writer then
    /// checkpoints on its own.
    fn start_checkpointer(&self) -> Option<(mpsc::SyncSender<()>, std::thread::JoinHandle<()>)> {
        let db = self.data_dir.join("index.db");
        let conn = match index::connect(&db, false) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the checkpoint connection");
                return None;
            }
        };
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let handle = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    checkpoint(&conn);
                }
            })
            .inspect_err(|e| tracing::warn!(error = %e, "cannot start the checkpoint thread"))
            .ok()?;
        Some((tx, handle))
    }

    /// Applies and commits one batch. Returns what it still owes (the fsync of its
    /// directories, then its post-commit effects and answers), or None when the batch
    /// failed and every request in it was already answered with the error. With a
    /// `syncer`, the fsyncs of the batch's directories start before the commit (its
    /// files are linked by then) and run while it commits: the place reserved for them
    /// comes back with the batch.
    fn run_batch<'s>(
        &mut self,
        batch: Vec<Job>,
        syncer: Option<&'s crate::dirsync::DirSync<ToSync>>,
    ) -> Option<(Committed, Option<crate::dirsync::Reserved<'s, ToSync>>)> {
        let mut reserved = None;
        let mut effects = Effects::default();
        let mut results: Vec<(Reply, Result<Outcome>)> = Vec::with_capacity(batch.len());
        let data_dir = self.data_dir.clone();
        let spares = self.spares.clone();
        // What the change journal must learn after commit (`journal.rs`).
        let followed = batch.iter().all(|j| j.op.journal_follows());
        // And what leaves the blob cache, and which mailboxes' \Recent is claimed.
        let removals = mailboxes_of(&batch, Op::removes_from);
        let claims = mailboxes_of(&batch, Op::claims_in);
        // And whether the users' LIST caches must go (`lists.rs`): a rename changes a
        // row's name, the hook sees rows come and go.
        let renames = batch
            .iter()
            .any(|j| matches!(j.op, Op::RenameMailbox { .. }));
        let committed = (|| -> Result<()> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            // A request alone in its batch needs no savepoint of its own: the
            // transaction is rolled back instead when it fails. (Each savepoint costs
            // a copy of every page the request changes, in case it must be undone.)
            let alone = batch.len() == 1;
            let mut failed_alone = false;
            for job in batch {
                let mark = effects.mark();
                // Each request in its own savepoint.
                let kind = job.op.kind();
                let run = || {
                    guarded(kind, || {
                        apply(&tx, &data_dir, &spares, &mut effects, job.op)
                    })
                };
                let r = if alone {
                    run()
                } else {
                    Savepoint::REQUEST.run(&tx, run)?
                };
                if r.is_err() {
                    failed_alone = alone;
                    effects.undo_to(mark);
                }
                results.push((job.reply, r));
            }
            if failed_alone {
                tx.rollback()?;
            } else {
                if !effects.dirs.is_empty() {
                    reserved = syncer.map(|s| s.reserve(effects.dirs.iter().cloned()));
                }
                tx.commit()?;
            }
            Ok(())
        })();
        let rows = self
            .mailbox_rows
            .as_ref()
            .is_none_or(|seen| seen.swap(false, Ordering::Relaxed));
        match committed {
            Ok(()) => {
                if renames || rows {
                    self.changes.lists.forget_all();
                }
                self.touched.extend(effects.changed.keys().copied());
                let claimed: Vec<(MailboxId, &[Uid])> = claims
                    .iter()
                    .filter_map(|&(i, id)| match results.get(i) {
                        Some((
                            _,
                            Ok(Outcome::Claimed(uids) | Outcome::Appended { claimed: uids, .. }),
                        )) => Some((id, uids.as_slice())),
                        _ => None,
                    })
                    .collect();
                self.forget_blobs(followed, &effects.changed, &removals, &results);
                for (mailbox, uid, summary, body) in effects.stored.drain(..) {
                    #[cfg(test)]
                    if summary.subject == testkit::PANIC_AFTER_COMMIT {
                        panic!("the test's panic after the commit");
                    }
                    if self.changes.is_selected(mailbox) {
                        self.changes.blobs.stored(
                            mailbox,
                            uid,
                            &summary.shape,
                            summary.header_cache.as_deref(),
                            body.as_ref(),
                        );
                    }
                }
                self.record_journals(followed, &effects.changed, &claimed);
                let committed = Committed {
                    dirs: effects.dirs,
                    tmp_done: effects.tmp_done,
                    remove_trees: effects.remove_trees,
                    trash: effects.trash,
                    changed: effects.changed,
                    events: effects.events,
                    results,
                };
                Some((committed, reserved))
            }
            Err(e) => {
                tracing::error!(error = %e, "index batch failed; nothing in it is acknowledged");
                effects.undo_files_to(EffectsMark::default());
                // The directories' fsyncs may have run before the commit failed
                // (`DirSync::reserve`): make the undoing durable too.
                for dir in &effects.dirs {
                    let _ = maildir::sync_dir(dir);
                }
                let msg = e.to_string();
                for (reply, _) in results {
                    reply.send(Err(StoreError::Invalid(format!(
                        "store write failed: {msg}"
                    ))));
                }
                None
            }
        }
    }
}

impl WriterState {
    /// After a commit, before its publish or answers: the blob cache forgets the
    /// messages the batch expunged or moved out (`removals`: the requests' indexes in
    /// `results` and their mailboxes), or everything after a request the journal does
    /// not follow, and learns the MODSEQs committed (`blobcache.rs`).
    fn forget_blobs(
        &self,
        followed: bool,
        changed: &HashMap<MailboxId, u64>,
        removals: &[(usize, MailboxId)],
        results: &[(Reply, Result<Outcome>)],
    ) {
        let blobs = &self.changes.blobs;
        if !followed {
            blobs.clear();
        }
        for &(i, mailbox) in removals {
            match results.get(i) {
                Some((_, Ok(Outcome::Expunged(uids)))) => {
                    blobs.forget(mailbox, uids.iter().copied());
                }
                Some((_, Ok(Outcome::Copied { pairs, .. }))) => {
                    blobs.forget(mailbox, pairs.iter().map(|&(from, _)| from));
                }
                _ => {}
            }
        }
        for (&id, &modseq) in changed {
            blobs.committed(id, modseq);
        }
    }

    /// After a commit, before its publish: the change journal records what the
    /// sessions that have the `mailboxes` it changed selected will read; after a
    /// request it does not follow (`followed` false), every journal is dropped.
    /// `claimed`: the UIDs each `\Recent` claim moved to `cur/` (sorted).
    fn record_journals(
        &self,
        followed: bool,
        changed: &HashMap<MailboxId, u64>,
        claimed: &[(MailboxId, &[Uid])],
    ) {
        let journals = &self.changes.journals;
        if !followed {
            journals.forget_all();
            return;
        }
        journals.sweep(|id| self.changes.is_selected(id));
        for &(id, uids) in claimed {
            journals.claimed(id, uids);
        }
        let mut done = HashSet::new();
        for id in changed.keys().chain(claimed.iter().map(|(id, _)| id)) {
            if done.insert(*id) {
                journals.record(&self.conn, *id, self.changes.is_selected(*id));
            }
        }
    }
}

/// A committed batch that is not answered yet: its directories still need their
/// fsync, which makes its new file names (and so its mail) durable.
struct Committed {
    /// Directories whose entries the batch changed.
    dirs: BTreeSet<PathBuf>,
    /// tmp names of delivered files: removed only once the new names are durable.
    tmp_done: Vec<PathBuf>,
    /// Trees of deleted mailboxes, removed after the fsync.
    remove_trees: Vec<PathBuf>,
    /// Expunged files to unlink (`Effects::trash`).
    trash: Vec<PathBuf>,
    /// Mailboxes changed, with their new HIGHESTMODSEQ.
    changed: HashMap<MailboxId, u64>,
    /// Events for the users' buses.
    events: Vec<(Address, MailboxEvent)>,
    /// Each request's answer.
    results: Vec<(Reply, Result<Outcome>)>,
}

impl Committed {
    /// Runs the post-commit effects, publishes and answers, once `synced` says
    /// whether the directories' fsync succeeded. When it failed, the index already
    /// holds the batch (a reconcile corrects it if a crash then loses a name), but no
    /// request is acknowledged: the senders try again.
    fn finish(self, changes: &Changes, synced: std::result::Result<(), String>) {
        if synced.is_ok() {
            for tmp in &self.tmp_done {
                let _ = std::fs::remove_file(tmp);
            }
        }
        unlink_trash(&self.trash);
        for tree in &self.remove_trees {
            if let Err(e) = std::fs::remove_dir_all(tree) {
                tracing::warn!(path = %tree.display(), error = %e,
                    "cannot remove a deleted mailbox's files");
            }
        }
        // Publish before replying: once a command's issuer hears OK, every session's
        // next command sees the change (RFC 9051 §7.5.1 lets it be announced then),
        // and the issuer's own session does too (APPEND into the selected mailbox
        // announces EXISTS before its tagged OK, RFC 9051 §6.3.12).
        changes.publish_batch(self.changed, self.events);
        match synced {
            Ok(()) => {
                for (reply, r) in self.results {
                    reply.send(r);
                }
            }
            Err(msg) => {
                tracing::error!(error = %msg, "directory fsync failed; the batch is not acknowledged");
                for (reply, _) in self.results {
                    reply.send(Err(StoreError::Invalid(format!(
                        "store write failed: {msg}"
                    ))));
                }
            }
        }
    }
}

/// Unlinks expunged files parked in `tmp/`.
fn unlink_trash(trash: &[PathBuf]) {
    for f in trash {
        if let Err(e) = std::fs::remove_file(f)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %f.display(), error = %e, "cannot remove an expunged message file");
        }
    }
}

/// Copies the WAL into the database file and fsyncs it (PASSIVE: never waits for
/// readers; frames a reader still needs stay for the next one). The writer runs it
/// between batches on its own connection, with no write transaction open, so that
/// when it copies every frame the next transaction starts the WAL over from its
/// beginning. Only such a checkpoint lets the WAL start over: one on another
/// connection runs while the writer commits, so the WAL is never fully copied
/// when a transaction begins. The writer once checkpointed only there, whenever a
/// commit left `CHECKPOINT_PAGES` in the WAL: under steady delivery the WAL never
/// started over (78 MB after 4 s of the delivery bench) and, always past the
/// mark, was checkpointed after nearly every commit, two more fsyncs each time.
/// Returns false when another connection's checkpoint was running (SQLite allows one
/// at a time) or it failed. The checkpoint thread runs it on its own connection.
fn checkpoint(conn: &Connection) -> bool {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0)) {
        Ok(busy) => busy == 0,
        Err(e) => {
            tracing::warn!(error = %e, "index checkpoint failed");
            false
        }
    }
}

/// Frames written to the index's WAL, counted from the frame counts SQLite reports
/// after each commit (frames in the WAL now, which drop when the WAL starts over).
#[derive(Debug, Default)]
struct WalFrames {
    /// Frames in the WAL after the last commit.
    last: std::sync::atomic::AtomicI32,
    /// Frames written in all, across the WAL's restarts.
    written: std::sync::atomic::AtomicU64,
}

impl WalFrames {
    /// A commit left `frames` in the WAL.
    fn committed(&self, frames: std::ffi::c_int) {
        use std::sync::atomic::Ordering::Relaxed;
        let last = self.last.swap(frames, Relaxed);
        // Fewer than before: the WAL started over with this commit's frames.
        let new = if frames >= last {
            frames - last
        } else {
            frames
        };
        self.written.fetch_add(new.max(0) as u64, Relaxed);
    }
}

/// Which checkpoint the writer asks for after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkpoint {
    No,
    /// On the checkpoint thread, while this one goes on.
    Beside,
    /// On the writer thread, now.
    Here,
}

/// When the index is checkpointed. The writer checkpoints itself after
/// [`CHECKPOINT_PAGES`] frames written since its last checkpoint when no request
/// waits, and after [`CHECKPOINT_PAGES_BUSY`] even when some do; in between, while
/// requests keep it busy, it asks the checkpoint thread every `CHECKPOINT_PAGES`
/// frames. Counted in frames *written*, not frames *in* the WAL: a checkpoint that did
/// not let the WAL start over (the checkpoint thread's, or one that a reader on an
/// older snapshot kept from copying everything) leaves it as long as it was, and
/// counting what it holds would ask for a checkpoint again after every commit.
#[derive(Debug)]
struct WalPolicy {
    frames: Arc<WalFrames>,
    /// `frames.written` at the writer's last checkpoint.
    at_checkpoint: u64,
    /// `frames.written` when the checkpoint thread was last asked.
    at_beside: u64,
}

impl WalPolicy {
    fn new(frames: Arc<WalFrames>) -> WalPolicy {
        WalPolicy {
            frames,
            at_checkpoint: 0,
            at_beside: 0,
        }
    }

    fn written(&self) -> u64 {
        self.frames
            .written
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Frames written since the writer's last checkpoint.
    fn since(&self) -> u64 {
        self.written().saturating_sub(self.at_checkpoint)
    }

    /// The checkpoint to run now; `idle`: no request is waiting.
    fn due(&mut self, idle: bool) -> Checkpoint {
        let since = self.since();
        if since >= CHECKPOINT_PAGES_BUSY || (idle && since >= CHECKPOINT_PAGES) {
            return Checkpoint::Here;
        }
        let written = self.written();
        let since_beside = written - self.at_beside.max(self.at_checkpoint);
        if !idle && since_beside >= CHECKPOINT_PAGES {
            self.at_beside = written;
            return Checkpoint::Beside;
        }
        Checkpoint::No
    }

    /// The writer's checkpoint ran.
    fn checkpointed(&mut self) {
        self.at_checkpoint = self.written();
    }
}

/// Work for the syncer.
enum ToSync {
    /// A committed batch that owes its directories' fsync and its answers.
    Batch(Committed),
    /// Expunged files of an answered batch, to unlink.
    Trash(Vec<PathBuf>),
}

impl ToSync {
    /// The directories whose fsync it waits for.
    fn dirs(&self) -> Vec<PathBuf> {
        match self {
            ToSync::Batch(done) => done.dirs.iter().cloned().collect(),
            ToSync::Trash(_) => Vec::new(),
        }
    }

    /// Does the work, once `synced` says whether its directories are durable.
    fn finish(self, changes: &Changes, synced: std::result::Result<(), String>) {
        match self {
            ToSync::Batch(done) => done.finish(changes, synced),
            ToSync::Trash(files) => unlink_trash(&files),
        }
    }

    /// Does the work alone, on this thread (when the syncer's threads could not start).
    fn run(self, changes: &Changes) {
        let synced = sync_dirs(&self.dirs()).map_err(|e| e.to_string());
        self.finish(changes, synced);
    }
}

/// The syncer: threads that fsync committed batches' directories, each directory's
/// batches grouped into as few fsyncs as its pace allows, and finish each batch once
/// its own directories are durable (`dirsync.rs`); and unlink expunged files.
fn start_syncer(changes: Arc<Changes>) -> Option<crate::dirsync::DirSync<ToSync>> {
    crate::dirsync::DirSync::start(
        "store-sync",
        Arc::new(|dir: &Path| maildir::sync_dir(dir)),
        Arc::new(move |work: ToSync, synced| work.finish(&changes, synced)),
    )
}

/// fsyncs every directory of `dirs`, one after another.
fn sync_dirs(dirs: &[PathBuf]) -> Result<()> {
    for dir in dirs {
        maildir::sync_dir(dir).at(dir)?;
    }
    Ok(())
}

/// An APPEND's `\Recent` claim (`Op::DeliverMany`'s `claim_for`), in a savepoint of
/// its own: the messages are stored either way. If the claim fails (a file it moves
/// from `new/` to `cur/` cannot be renamed), it is undone and logged, and the session
/// claims them with a `ClaimRecent` when it announces them, as without this shortcut.
fn claim_in_append(
    conn: &Connection,
    data_dir: &Path,
    mailbox: MailboxId,
    upto: Uid,
) -> Result<Vec<Uid>> {
    match Savepoint::CLAIM.run(conn, || claim_recent(conn, data_dir, mailbox, upto))? {
        Ok(claimed) => Ok(claimed),
        Err(e) => {
            tracing::warn!(error = %e, mailbox = mailbox.0, "APPEND cannot claim \\Recent; left to the session");
            Ok(Vec::new())
        }
    }
}

/// A named SAVEPOINT's three statements, run through the statement cache (a rusqlite
/// `Savepoint` prepares its SQL anew each time: two parses per use).
struct Savepoint {
    begin: &'static str,
    release: &'static str,
    rollback: &'static str,
}

impl Savepoint {
    /// Each request of a batch.
    const REQUEST: Savepoint = Savepoint {
        begin: "SAVEPOINT request",
        release: "RELEASE request",
        rollback: "ROLLBACK TO request",
    };
    /// An APPEND's `\Recent` claim inside its request.
    const CLAIM: Savepoint = Savepoint {
        begin: "SAVEPOINT claim",
        release: "RELEASE claim",
        rollback: "ROLLBACK TO claim",
    };

    /// Runs `f` inside the savepoint: kept when it succeeds, rolled back when it
    /// fails. The outer error is the savepoint's own; the inner is `f`'s answer.
    fn run<T>(&self, conn: &Connection, f: impl FnOnce() -> Result<T>) -> Result<Result<T>> {
        conn.prepare_cached(self.begin)?.execute([])?;
        let r = f();
        if r.is_err() {
            conn.prepare_cached(self.rollback)?.execute([])?;
        }
        conn.prepare_cached(self.release)?.execute([])?;
        Ok(r)
    }
}

/// The requests of `batch` for which `pick` names a mailbox: (index, mailbox).
fn mailboxes_of(batch: &[Job], pick: impl Fn(&Op) -> Option<MailboxId>) -> Vec<(usize, MailboxId)> {
    batch
        .iter()
        .enumerate()
        .filter_map(|(i, j)| pick(&j.op).map(|m| (i, m)))
        .collect()
}

impl Op {
    /// The request's name, for the log.
    fn kind(&self) -> &'static str {
        match self {
            Op::Deliver(_) => "deliver",
            Op::EnsureMailbox { .. } => "ensure-mailbox",
            Op::SetFlags { .. } => "set-flags",
            Op::Expunge { .. } => "expunge",
            Op::Reconcile { .. } => "reconcile",
            Op::ClaimRecent { .. } => "claim-recent",
            Op::Forget { .. } => "forget",
            Op::DeleteMailbox { .. } => "delete-mailbox",
            Op::RenameMailbox { .. } => "rename-mailbox",
            Op::Copy { .. } => "copy",
            Op::Subscribe { .. } => "subscribe",
            Op::DeliverMany { .. } => "deliver-many",
            Op::DeliverAll(_) => "deliver-all",
            Op::Queue(_) => "queue",
            Op::Import(_) => "import",
        }
    }

    /// The mailbox whose messages it expunges or moves out (they leave the blob cache).
    fn removes_from(&self) -> Option<MailboxId> {
        match self {
            Op::Expunge { mailbox, .. }
            | Op::Copy {
                from: mailbox,
                remove: true,
                ..
            } => Some(*mailbox),
            _ => None,
        }
    }

    /// The mailbox in which it claims `\Recent` for its session.
    fn claims_in(&self) -> Option<MailboxId> {
        match self {
            Op::ClaimRecent { mailbox, .. }
            | Op::DeliverMany {
                claim_for: Some(mailbox),
                ..
            } => Some(*mailbox),
            _ => None,
        }
    }

    /// Whether the change journal (`journal.rs`) follows what it changes: it changes
    /// only message rows and the HIGHESTMODSEQ, UIDNEXT or `\Recent` mark of the
    /// mailboxes it records as changed or claims. Anything else (renames, deletes,
    /// reconciles, new mailboxes, subscriptions, imports) drops every journal.
    fn journal_follows(&self) -> bool {
        matches!(
            self,
            Op::Deliver(_)
                | Op::SetFlags { .. }
                | Op::Expunge { .. }
                | Op::ClaimRecent { .. }
                | Op::Copy { .. }
                | Op::DeliverMany { .. }
                | Op::DeliverAll(_)
                | Op::Queue(_)
        )
    }

    /// Whether applying it never fsyncs: flag changes and expunges rename or unlink
    /// files without a directory fsync (see the module invariants), and a `\Recent`
    /// claim only moves files from `new/` to `cur/`.
    fn syncs_nothing(&self) -> bool {
        matches!(
            self,
            Op::SetFlags { .. } | Op::Expunge { .. } | Op::ClaimRecent { .. }
        )
    }
}

/// Runs request `kind` (`f`: its [`apply`]) with a panic (a bug) failing only that
/// request, as an error would: its savepoint, or the transaction when it is alone, is
/// rolled back and the files it created are removed, and the writer goes on with the
/// next request rather than every later write failing with [`StoreError::Closed`].
fn guarded(kind: &'static str, f: impl FnOnce() -> Result<Outcome>) -> Result<Outcome> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(request = kind, panic = %why, "store: a write request panicked; it failed alone");
        Err(StoreError::Internal(format!("{kind} panicked")))
    })
}

fn apply(
    conn: &Connection,
    data_dir: &Path,
    spares: &crate::spare::Spares,
    fx: &mut Effects,
    op: Op,
) -> Result<Outcome> {
    match op {
        Op::Deliver(d) => deliver(conn, data_dir, fx, d).map(Outcome::Delivered),
        Op::EnsureMailbox {
            user,
            name,
            special_use,
            exclusive,
        } => {
            let name = normalize_name(&name)?;
            let existed = load_mailbox(conn, data_dir, &user, &name)?.is_some();
            if exclusive && existed {
                return Err(StoreError::MailboxExists(name));
            }
            let row = ensure_mailbox(conn, data_dir, &user, &name, special_use)?;
            if !existed {
                fx.event(&user, MailboxEvent::Created { name: name.clone() });
            }
            let info = index::mailbox_by_id(conn, row.id)?
                .ok_or_else(|| StoreError::NoMailbox(name.clone()))?;
            Ok(Outcome::Mailbox(info))
        }
        Op::SetFlags {
            mailbox,
            uids,
            mode,
            flags,
            unchanged_since,
        } => set_flags(
            conn,
            data_dir,
            fx,
            mailbox,
            &uids,
            mode,
            &flags,
            unchanged_since,
        ),
        Op::Expunge { mailbox, uids } => {
            expunge(conn, data_dir, fx, mailbox, uids.as_deref()).map(Outcome::Expunged)
        }
        Op::Reconcile {
            user,
            rebuild,
            stale,
        } => reconcile(conn, data_dir, fx, &user, rebuild, stale).map(Outcome::Reconciled),
        Op::ClaimRecent { mailbox, upto } => {
            claim_recent(conn, data_dir, mailbox, upto).map(Outcome::Claimed)
        }
        Op::Forget { user } => {
            conn.prepare_cached("DELETE FROM mailbox WHERE user = ?1")?
                .execute([user.to_string()])?;
            Ok(Outcome::Reconciled(ReconcileReport::default()))
        }
        Op::DeleteMailbox { user, name } => {
            delete_mailbox(conn, data_dir, fx, &user, &name).map(|()| Outcome::Done)
        }
        Op::RenameMailbox { user, from, to } => {
            rename_mailbox(conn, data_dir, fx, &user, &from, &to).map(|()| Outcome::Done)
        }
        Op::Copy {
            from,
            uids,
            user,
            to,
            remove,
        } => {
            let to = normalize_name(&to)?;
            let src = load_mailbox_by_id(conn, data_dir, from)?;
            let mut dst = load_mailbox(conn, data_dir, &user, &to)?
                .ok_or_else(|| StoreError::NoMailbox(to.clone()))?;
            let pairs = copy_messages(conn, fx, src, &mut dst, &uids, remove)?;
            Ok(Outcome::Copied {
                mailbox: dst.id,
                uidvalidity: UidValidity(dst.uidvalidity),
                pairs,
            })
        }
        Op::Subscribe { user, name, on } => {
            subscribe(conn, data_dir, fx, &user, &name, on).map(|()| Outcome::Done)
        }
        Op::DeliverMany { ops, claim_for } => {
            let mut out = Vec::with_capacity(ops.len());
            let mut ops = ops.into_iter();
            while let Some(d) = ops.next() {
                match deliver(conn, data_dir, fx, d) {
                    Ok(v) => out.extend(v),
                    Err(e) => {
                        // The staged files of a failed request are garbage; named
                        // ones go with the batch's other tmp files after the commit
                        // (`deliver` gave back its own on the way out).
                        ops.for_each(|d| fx.release_staged(d));
                        return Err(e);
                    }
                }
            }
            let last = out
                .iter()
                .filter(|d| Some(d.mailbox) == claim_for)
                .map(|d| d.uid)
                .max();
            let claimed = match (claim_for, last) {
                (Some(mailbox), Some(upto)) => claim_in_append(conn, data_dir, mailbox, upto)?,
                _ => Vec::new(),
            };
            Ok(Outcome::Appended {
                delivered: out,
                claimed,
            })
        }
        Op::DeliverAll(staged) => crate::delivery::apply(conn, data_dir, fx, staged),
        Op::Queue(change) => crate::queue::apply(conn, data_dir, spares, fx, change),
        Op::Import(op) => import(conn, data_dir, fx, *op).map(Outcome::Imported),
    }
}

/// Undoes what failed requests did to the maildir: the names a MOVE removed are linked
/// back from the links it made, then the files created are removed and the renames
/// undone (latest first).
fn undo_files(
    unlinked: impl Iterator<Item = (PathBuf, PathBuf)>,
    created: impl Iterator<Item = PathBuf>,
    renames: impl DoubleEndedIterator<Item = (PathBuf, PathBuf)>,
) {
    let mut keep = HashSet::new();
    for (source, kept) in unlinked {
        if let Err(e) = std::fs::hard_link(&kept, &source) {
            tracing::error!(from = %kept.display(), to = %source.display(), error = %e,
                "cannot put a moved message back into its source; it stays in the target");
            // The message must stay somewhere: its new name is not removed below.
            keep.insert(kept);
        }
    }
    for f in created.filter(|f| !keep.contains(f)) {
        let _ = std::fs::remove_file(f);
    }
    undo_renames(renames);
}

/// Renames recorded in `Effects::renames`, undone newest first.
fn undo_renames(renames: impl DoubleEndedIterator<Item = (PathBuf, PathBuf)>) {
    for (from, to) in renames.rev() {
        if let Err(e) = std::fs::rename(&to, &from) {
            tracing::error!(from = %to.display(), to = %from.display(), error = %e,
                "cannot undo a rename");
        }
    }
}

/// The columns [`mailbox_row_fields`] reads, in its order.
macro_rules! mailbox_row_columns {
    () => {
        "id, user, name, uidvalidity, uidnext, highestmodseq, uid_reserved, modseq_reserved, special_use"
    };
}

fn load_mailbox(
    conn: &Connection,
    data_dir: &Path,
    user: &Address,
    name: &str,
) -> Result<Option<MailboxRow>> {
    let row = conn
        .prepare_cached(concat!(
            "SELECT ",
            mailbox_row_columns!(),
            " FROM mailbox WHERE user = ?1 AND name = ?2"
        ))?
        .query_row(params![user.to_string(), name], mailbox_row_fields)
        .optional()?;
    row.map(|r| mailbox_row(data_dir, r, Some(user)))
        .transpose()
}

/// A mailbox row's columns as SQLite gives them.
type MailboxRowFields = (i64, String, String, u32, u32, i64, u32, i64, Option<String>);

fn mailbox_row_fields(r: &rusqlite::Row<'_>) -> rusqlite::Result<MailboxRowFields> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

/// The row from its fields; `user` when the caller has the owner parsed already.
fn mailbox_row(
    data_dir: &Path,
    fields: MailboxRowFields,
    user: Option<&Address>,
) -> Result<MailboxRow> {
    let (id, owner, name, uidvalidity, uidnext, hms, ur, mr, special_use) = fields;
    let user = match user {
        Some(u) => u.clone(),
        None => Address::parse(&owner).map_err(StoreError::Invalid)?,
    };
    let dir = mailbox_path(data_dir, &user, &name)?;
    Ok(MailboxRow {
        id: MailboxId(id),
        user,
        name,
        dir,
        uidvalidity,
        uidnext,
        highestmodseq: hms as u64,
        uid_reserved: ur,
        modseq_reserved: mr as u64,
        special_use,
    })
}

/// The mailbox row with id `id`, in one query.
fn load_mailbox_by_id(conn: &Connection, data_dir: &Path, id: MailboxId) -> Result<MailboxRow> {
    conn.prepare_cached(concat!(
        "SELECT ",
        mailbox_row_columns!(),
        " FROM mailbox WHERE id = ?1"
    ))?
    .query_row([id.0], mailbox_row_fields)
    .optional()?
    .ok_or_else(|| StoreError::NoMailbox(format!("#{}", id.0)))
    .and_then(|r| mailbox_row(data_dir, r, None))
}

pub(crate) fn normalize_name(name: &str) -> Result<String> {
    crate::mailbox_name::normalize(name).map_err(|why| StoreError::BadName {
        name: name.to_string(),
        why,
    })
}

pub(crate) fn mailbox_path(data_dir: &Path, user: &Address, name: &str) -> Result<PathBuf> {
    maildir::mailbox_dir(&maildir::user_root(data_dir, user), name).map_err(|why| {
        StoreError::BadName {
            name: name.to_string(),
            why,
        }
    })
}

/// What the writer's unit tests share: a real writer thread on a temp data dir, and
/// short ways to ask it things and read the index and the tree back.
#[cfg(test)]
pub(super) mod testkit {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use rusqlite::Connection;

    use super::{DeliverOp, Delivered, IfMissing, Op, Outcome, Target, Writer};
    use crate::changes::Changes;
    use crate::error::Result;
    use crate::index::{self, MailboxInfo, MessageInfo};
    use crate::maildir;
    use crate::model::{Address, FlagSet, Flags, MailboxId};

    /// The index's write connection on a new data dir, migrated.
    pub(crate) fn open_index(data_dir: &Path) -> Connection {
        std::fs::create_dir_all(data_dir.join("mail")).expect("mail dir");
        let mut conn = index::connect(&data_dir.join("index.db"), false).expect("index");
        index::migrate(&mut conn).expect("migrate");
        conn
    }

    pub(crate) fn addr(s: &str) -> Address {
        Address::parse(s).expect("address")
    }

    pub(crate) fn alice() -> Address {
        addr("alice@example.com")
    }

    /// Creates alice's mailbox `name` (`exclusive`: fail when it exists).
    pub(crate) fn ensure(name: &str, exclusive: bool) -> Op {
        Op::EnsureMailbox {
            user: alice(),
            name: name.into(),
            special_use: None,
            exclusive,
        }
    }

    pub(crate) fn flags(f: Flags, keywords: &[&str]) -> FlagSet {
        FlagSet {
            flags: f,
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
        }
    }

    pub(crate) fn target(
        user: &Address,
        mailbox: &str,
        f: FlagSet,
        if_missing: IfMissing,
    ) -> Target {
        Target {
            user: user.clone(),
            mailbox: mailbox.into(),
            flags: f,
            if_missing,
        }
    }

    /// A message with this subject panics in the writer right after its file is
    /// linked into the mailbox (`message::deliver`, test builds only).
    pub(crate) const PANIC_AFTER_LINK: &str = "panic after the link";

    /// A message with this subject panics in the writer's bookkeeping after its batch
    /// committed (`run_batch`, test builds only).
    pub(crate) const PANIC_AFTER_COMMIT: &str = "panic after the commit";

    thread_local! {
        /// Set on a thread that runs the writer: a MOVE on it panics once it has
        /// unlinked its sources (`message::copy_messages`, test builds only).
        pub(crate) static PANIC_AFTER_MOVE: std::cell::Cell<bool> =
            const { std::cell::Cell::new(false) };
    }

    pub(crate) fn message(token: &str) -> Vec<u8> {
        format!("From: a@example.net\r\nSubject: {token}\r\nMessage-ID: <{token}@example.net>\r\n\r\nbody {token}\r\n")
            .into_bytes()
    }

    /// A message staged as the store stages one: a file on the data dir's `mail/tmp/`
    /// (unnamed where the system allows it).
    pub(crate) fn stage(data_dir: &Path, token: &str, targets: Vec<Target>) -> DeliverOp {
        stage_as(data_dir, token, targets, false)
    }

    /// A message staged as where `O_TMPFILE` is missing: a named file in `mail/tmp/`.
    pub(crate) fn stage_named(data_dir: &Path, token: &str, targets: Vec<Target>) -> DeliverOp {
        stage_as(data_dir, token, targets, true)
    }

    fn stage_as(data_dir: &Path, token: &str, targets: Vec<Target>, named: bool) -> DeliverOp {
        let tmp_dir = data_dir.join("mail").join("tmp");
        std::fs::create_dir_all(&tmp_dir).expect("tmp dir");
        let bytes = message(token);
        let internaldate = 1_700_000_000;
        let mtime = maildir::internaldate_mtime(internaldate);
        let file = if named {
            let path = maildir::write_tmp(&tmp_dir, maildir::host(), &bytes, mtime);
            maildir::Staged::Named(path.expect("tmp file"))
        } else {
            maildir::stage(&tmp_dir, maildir::host(), &bytes, mtime).expect("tmp file")
        };
        DeliverOp {
            file,
            targets,
            size: bytes.len() as u64,
            internaldate,
            summary: Arc::new(crate::summary::summarize(&bytes)),
            body: None,
        }
    }

    /// A writer on a temp data dir.
    pub(crate) struct Kit {
        pub(crate) dir: tempfile::TempDir,
        pub(crate) writer: Writer,
    }

    impl Kit {
        pub(crate) fn new() -> Kit {
            let dir = tempfile::tempdir().expect("tempdir");
            let writer = start(dir.path());
            Kit { dir, writer }
        }

        pub(crate) fn data_dir(&self) -> &Path {
            self.dir.path()
        }

        pub(crate) fn submit(&self, op: Op) -> Result<Outcome> {
            self.writer.submit_blocking(op)
        }

        /// A reading connection (a fresh one each time: it sees every commit).
        pub(crate) fn read(&self) -> Connection {
            index::connect(&self.data_dir().join("index.db"), true).expect("reader")
        }

        pub(crate) fn create(&self, user: &Address, name: &str) -> MailboxInfo {
            match self.submit(Op::EnsureMailbox {
                user: user.clone(),
                name: name.into(),
                special_use: None,
                exclusive: false,
            }) {
                Ok(Outcome::Mailbox(info)) => info,
                other => panic!("create {name}: {other:?}"),
            }
        }

        pub(crate) fn mailbox(&self, user: &Address, name: &str) -> Option<MailboxInfo> {
            index::mailbox(&self.read(), &user.to_string(), name).expect("read mailbox")
        }

        pub(crate) fn names(&self, user: &Address) -> Vec<String> {
            index::mailboxes(&self.read(), &user.to_string())
                .expect("read mailboxes")
                .into_iter()
                .map(|m| m.name)
                .collect()
        }

        pub(crate) fn messages(&self, mailbox: MailboxId) -> Vec<MessageInfo> {
            index::messages(&self.read(), mailbox).expect("read messages")
        }

        pub(crate) fn deliver(&self, token: &str, targets: Vec<Target>) -> Result<Vec<Delivered>> {
            match self.submit(Op::Deliver(stage(self.data_dir(), token, targets)))? {
                Outcome::Delivered(d) => Ok(d),
                other => panic!("deliver: {other:?}"),
            }
        }

        /// Delivers to `user`'s `mailbox` (created if need be) with `f`.
        pub(crate) fn put(
            &self,
            user: &Address,
            mailbox: &str,
            token: &str,
            f: FlagSet,
        ) -> Delivered {
            let t = target(user, mailbox, f, IfMissing::Create);
            let mut d = self.deliver(token, vec![t]).expect("deliver");
            d.pop().expect("one copy")
        }

        pub(crate) fn dir(&self, user: &Address, mailbox: &str) -> PathBuf {
            super::mailbox_path(self.data_dir(), user, mailbox).expect("mailbox path")
        }

        /// The message files of a mailbox, `new/…` and `cur/…`, sorted.
        pub(crate) fn files(&self, user: &Address, mailbox: &str) -> Vec<String> {
            let dir = self.dir(user, mailbox);
            let mut out = Vec::new();
            for sub in ["new", "cur"] {
                for e in std::fs::read_dir(dir.join(sub)).expect("read dir") {
                    let name = e.expect("entry").file_name();
                    out.push(format!("{sub}/{}", name.to_string_lossy()));
                }
            }
            out.sort();
            out
        }
    }

    /// A writer thread on `data_dir`'s index (created if need be).
    pub(crate) fn start(data_dir: &Path) -> Writer {
        Writer::start(
            open_index(data_dir),
            data_dir.to_path_buf(),
            Arc::new(Changes::default()),
            Arc::new(std::sync::OnceLock::new()),
            Arc::new(crate::spare::Spares::new(data_dir.join("spare"))),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::testkit::{self, Kit, alice, ensure, flags, open_index, stage, target};
    use super::*;
    use crate::model::Flags;

    /// A writer's state on `data_dir`, its batch sizes recorded in `sizes`.
    fn state(data_dir: &Path, sizes: &Arc<Mutex<Vec<usize>>>) -> WriterState {
        let observer = Arc::new(std::sync::OnceLock::new());
        let seen = sizes.clone();
        let record: crate::stats::BatchObserver =
            Box::new(move |n| seen.lock().expect("sizes").push(n));
        assert!(observer.set(record).is_ok());
        WriterState {
            conn: open_index(data_dir),
            data_dir: data_dir.to_path_buf(),
            changes: Arc::new(Changes::default()),
            batch_observer: observer,
            spares: Arc::new(crate::spare::Spares::new(data_dir.join("spare"))),
            touched: HashSet::new(),
            mailbox_rows: None,
        }
    }

    /// A writer's state on a new temp dir, its batch sizes recorded.
    fn fresh() -> (tempfile::TempDir, WriterState, Arc<Mutex<Vec<usize>>>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let st = state(dir.path(), &sizes);
        (dir, st, sizes)
    }

    /// A delivery of message `token` to alice's INBOX, staged in `data`.
    fn to_inbox(data: &Path, token: &str) -> Op {
        Op::Deliver(stage(data, token, vec![Target::inbox(&alice())]))
    }

    /// Queues every op before the writer loop starts, runs it until the queue is
    /// empty, and returns the answers in the order they were given.
    fn run_queued(state: &mut WriterState, ops: Vec<Op>) -> Vec<Result<Outcome>> {
        let (tx, rx) = mpsc::channel();
        let (reply, answers) = mpsc::sync_channel(ops.len());
        for op in ops {
            tx.send(Job {
                op,
                reply: Reply::Sync(reply.clone()),
            })
            .expect("queue");
        }
        drop((tx, reply));
        state.run(rx);
        answers.iter().collect()
    }

    #[test]
    fn queued_requests_are_taken_in_batches_of_at_most_max_batch() {
        for (queued, batches) in [
            (1, vec![1]),
            (7, vec![7]),
            (MAX_BATCH, vec![MAX_BATCH]),
            (MAX_BATCH + 3, vec![MAX_BATCH, 3]),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let sizes = Arc::new(Mutex::new(Vec::new()));
            let mut st = state(dir.path(), &sizes);
            let ops = (0..queued).map(|_| ensure("INBOX", false)).collect();
            let answers = run_queued(&mut st, ops);
            assert_eq!(*sizes.lock().expect("sizes"), batches, "{queued} queued");
            assert_eq!(answers.len(), queued);
            assert!(answers.iter().all(Result::is_ok), "{queued} queued");
        }
    }

    #[test]
    fn one_batch_quick_requests_first_and_a_failing_request_alone() {
        let (dir, mut st, sizes) = fresh();
        let data = dir.path();
        let inbox = |token| to_inbox(data, token);
        assert!(
            run_queued(&mut st, vec![inbox("m1"), inbox("m2")])
                .iter()
                .all(Result::is_ok)
        );
        let id = index::mailbox(&st.conn, "alice@example.com", "INBOX")
            .expect("read")
            .expect("INBOX")
            .id;
        let answers = run_queued(
            &mut st,
            vec![
                inbox("m3"),
                Op::SetFlags {
                    mailbox: id,
                    uids: vec![Uid(1)],
                    mode: FlagMode::Add,
                    flags: flags(Flags::DELETED, &[]),
                    unchanged_since: None,
                },
                // Linked into INBOX, then fails on the missing mailbox.
                Op::Deliver(stage(
                    data,
                    "m4",
                    vec![
                        Target::inbox(&alice()),
                        target(&alice(), "Nope", FlagSet::default(), IfMissing::Fail),
                    ],
                )),
                ensure("Work", true),
                Op::Expunge {
                    mailbox: id,
                    uids: None,
                },
                ensure("INBOX", true),
                inbox("m5"),
            ],
        );
        assert_eq!(*sizes.lock().expect("sizes"), [2, 7]);
        let got: Vec<String> = answers
            .iter()
            .map(|a| match a {
                Ok(Outcome::Flags { changed, .. }) => format!("flags {}", changed.len()),
                Ok(Outcome::Expunged(uids)) => format!("expunged {uids:?}"),
                Ok(Outcome::Delivered(d)) => format!("delivered {:?}", d[0].uid),
                Ok(Outcome::Mailbox(m)) => format!("mailbox {}", m.name),
                Ok(other) => format!("{other:?}"),
                Err(e) => format!("error {e}"),
            })
            .collect();
        // STORE and EXPUNGE (no fsync) are answered first, in the order given; then
        // the rest, in the order given; the failing requests take nobody down, and the
        // failed delivery's UID goes to the next one (its savepoint was rolled back).
        assert_eq!(
            got,
            [
                "flags 1",
                "expunged [Uid(1)]",
                "delivered Uid(3)",
                &format!("error {}", StoreError::NoMailbox("Nope".into())),
                "mailbox Work",
                &format!("error {}", StoreError::MailboxExists("INBOX".into())),
                "delivered Uid(4)",
            ]
        );
        let uids: Vec<u32> = index::messages(&st.conn, id)
            .expect("read")
            .iter()
            .map(|m| m.uid.0)
            .collect();
        assert_eq!(uids, [2, 3, 4]);
        // The failed delivery's link into INBOX was removed with its request.
        let root = maildir::user_root(data, &alice());
        let files = maildir::scan_messages(&root, &[]).expect("scan");
        assert_eq!(files.len(), 3, "{files:?}");
    }

    /// A request that panics (a bug) fails alone: its savepoint is rolled back and
    /// the file it linked removed, the requests around it in the batch are stored,
    /// and the writer thread goes on taking requests.
    #[test]
    fn a_panicking_request_fails_alone_and_the_writer_goes_on() {
        let (dir, mut st, sizes) = fresh();
        let data = dir.path();
        let inbox = |token| to_inbox(data, token);
        let answers = run_queued(
            &mut st,
            vec![inbox("m1"), inbox(testkit::PANIC_AFTER_LINK), inbox("m3")],
        );
        assert_eq!(*sizes.lock().expect("sizes"), [3], "one batch");
        assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
        assert!(
            matches!(answers[1], Err(StoreError::Internal(_))),
            "{answers:?}"
        );
        let id = index::mailbox(&st.conn, "alice@example.com", "INBOX")
            .expect("read")
            .expect("INBOX")
            .id;
        let subjects = |conn: &Connection| -> Vec<String> {
            index::messages(conn, id)
                .expect("messages")
                .iter()
                .map(|m| {
                    index::summary(conn, id, m.uid)
                        .expect("summary")
                        .expect("a row")
                        .subject
                })
                .collect()
        };
        assert_eq!(subjects(&st.conn), ["m1", "m3"]);
        let files = std::fs::read_dir(
            super::mailbox_path(data, &alice(), "INBOX")
                .expect("path")
                .join("new"),
        )
        .expect("new/")
        .count();
        assert_eq!(files, 2, "the panicking request's link is removed");

        // Alone in its batch (no savepoint: the transaction is rolled back), on the
        // writer's own thread: the next request is served.
        let kit = Kit::new();
        let err = kit
            .deliver(testkit::PANIC_AFTER_LINK, vec![Target::inbox(&alice())])
            .expect_err("the panic fails the request");
        assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
        kit.deliver("after", vec![Target::inbox(&alice())])
            .expect("the writer goes on");
        let inbox = kit.mailbox(&alice(), "INBOX").expect("INBOX");
        assert_eq!(kit.messages(inbox.id).len(), 1);
        assert_eq!(kit.files(&alice(), "INBOX").len(), 1);

        // After the commit, outside any request: the batch's answer is lost (the
        // caller hears `Closed`), what it committed stays, the writer goes on.
        let err = kit
            .deliver(testkit::PANIC_AFTER_COMMIT, vec![Target::inbox(&alice())])
            .expect_err("no answer");
        assert!(matches!(err, StoreError::Closed), "{err:?}");
        kit.deliver("later", vec![Target::inbox(&alice())])
            .expect("the writer goes on");
        assert_eq!(kit.messages(inbox.id).len(), 3);
    }

    /// A request that fails after it changed a mailbox (its first copy stored, its
    /// second refused) is rolled back, and so is its change: the mailbox's watchers
    /// hear nothing of it, while the batch's other requests are published.
    #[test]
    fn a_failed_request_publishes_no_change() {
        let (dir, mut st, _sizes) = fresh();
        let data = dir.path();
        let a = match run_queued(&mut st, vec![ensure("A", false)]).remove(0) {
            Ok(Outcome::Mailbox(info)) => info.id,
            other => panic!("ensure A: {other:?}"),
        };
        let inbox = |token| to_inbox(data, token);
        assert!(run_queued(&mut st, vec![inbox("m0")])[0].is_ok());
        let inbox_id = index::mailbox(&st.conn, "alice@example.com", "INBOX")
            .expect("read")
            .expect("INBOX")
            .id;
        let (watch_a, watch_inbox) = (st.changes.subscribe(a), st.changes.subscribe(inbox_id));
        let none = flags(Flags::empty(), &[]);
        let half = Op::Deliver(stage(
            data,
            "half",
            vec![
                target(&alice(), "A", none.clone(), IfMissing::Fail),
                target(&alice(), "Missing", none, IfMissing::Fail),
            ],
        ));
        let answers = run_queued(&mut st, vec![inbox("m1"), half, inbox("m2")]);
        assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
        assert!(
            matches!(answers[1], Err(StoreError::NoMailbox(_))),
            "{answers:?}"
        );
        assert!(
            !watch_a.has_changed().expect("sender"),
            "A's rolled-back change was published"
        );
        assert!(watch_inbox.has_changed().expect("sender"));
        assert!(index::messages(&st.conn, a).expect("messages").is_empty());
    }

    /// A MOVE that fails after it unlinked its sources (a panic there, in a test
    /// build) loses nothing: the source is linked back before the target's links are
    /// removed, and the index still has it in the source. The same undo runs when a
    /// batch's commit fails.
    #[test]
    fn a_move_that_fails_after_its_unlinks_puts_the_message_back() {
        let (dir, mut st, _sizes) = fresh();
        let data = dir.path();
        assert!(
            run_queued(&mut st, vec![ensure("A", false), to_inbox(data, "m0")])
                .iter()
                .all(Result::is_ok)
        );
        let inbox = index::mailbox(&st.conn, "alice@example.com", "INBOX")
            .expect("read")
            .expect("INBOX");
        let inbox_dir = mailbox_path(data, &alice(), "INBOX").expect("path");
        let a_dir = mailbox_path(data, &alice(), "A").expect("path");
        let files = |d: &Path| -> Vec<PathBuf> {
            ["new", "cur"]
                .iter()
                .flat_map(|s| std::fs::read_dir(d.join(s)).into_iter().flatten())
                .map(|e| e.expect("entry").path())
                .collect()
        };
        let before = files(&inbox_dir);
        assert_eq!(before.len(), 1);
        let bytes = std::fs::read(&before[0]).expect("read");
        let mv = Op::Copy {
            from: inbox.id,
            uids: vec![Uid(1)],
            user: alice(),
            to: "A".into(),
            remove: true,
        };
        testkit::PANIC_AFTER_MOVE.with(|f| f.set(true));
        let answers = run_queued(&mut st, vec![mv]);
        testkit::PANIC_AFTER_MOVE.with(|f| f.set(false));
        assert!(
            matches!(answers[0], Err(StoreError::Internal(_))),
            "{answers:?}"
        );
        assert_eq!(files(&inbox_dir), before, "the source is back");
        assert_eq!(std::fs::read(&before[0]).expect("read"), bytes);
        assert!(files(&a_dir).is_empty(), "{:?}", files(&a_dir));
        assert_eq!(
            index::messages(&st.conn, inbox.id).expect("messages").len(),
            1
        );
    }

    #[test]
    fn a_dropped_writer_answers_its_queue_and_gives_back_unused_reservations() {
        let kit = Kit::new();
        let pending: Vec<_> = (0..5)
            .map(|i| {
                let op = stage(
                    kit.data_dir(),
                    &format!("m{i}"),
                    vec![Target::inbox(&alice())],
                );
                kit.writer.submit(Op::Deliver(op))
            })
            .collect();
        let Kit { dir, writer } = kit;
        drop(writer);
        for rx in pending {
            let answer = rx
                .blocking_recv()
                .expect("answered before the thread ended");
            assert!(answer.is_ok(), "{answer:?}");
        }
        let inbox = mailbox_path(dir.path(), &alice(), "INBOX").expect("path");
        let state = maildir::read_state(&inbox)
            .expect("read")
            .expect("state file");
        // UIDs 1..=5 used: the reservation is trimmed to UIDNEXT, not a UID_BLOCK ahead.
        assert_eq!(state.uid_reserved, 6);
        let conn = open_index(dir.path());
        let row = index::mailbox(&conn, "alice@example.com", "INBOX")
            .expect("read")
            .expect("INBOX");
        assert_eq!(
            (row.uidnext, row.highestmodseq.0),
            (Uid(6), state.modseq_reserved)
        );
    }

    #[test]
    fn directories_are_fsynced_and_a_missing_one_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (count, missing, ok) in [
            (0, false, true),
            (1, false, true),
            (5, false, true),
            (1, true, false),
            (5, true, false),
        ] {
            let mut dirs = Vec::new();
            for i in 0..count {
                let d = dir.path().join(format!("{count}-{i}"));
                std::fs::create_dir_all(&d).expect("mkdir");
                dirs.push(d);
            }
            if missing {
                dirs.insert(count / 2, dir.path().join("gone"));
            }
            assert_eq!(
                sync_dirs(&dirs).is_ok(),
                ok,
                "{count} dirs, missing {missing}"
            );
        }
    }

    /// The checkpoint policy over a run of commits: the writer's own checkpoint after
    /// CHECKPOINT_PAGES frames written when idle, CHECKPOINT_PAGES_BUSY when requests
    /// wait, the checkpoint thread's every CHECKPOINT_PAGES in between; counted from
    /// the last checkpoint whether or not it let the WAL start over.
    #[test]
    fn checkpoints_are_due_per_frames_written_not_per_frames_in_the_wal() {
        use Checkpoint::{Beside, Here, No};
        let frames = Arc::new(WalFrames::default());
        let mut policy = WalPolicy::new(frames.clone());
        let half = (CHECKPOINT_PAGES / 2) as i32;
        let mark = CHECKPOINT_PAGES as i32;
        // (frames in the WAL after a commit, idle, checkpoint due); a `Here` is taken
        // as run.
        let rows: [(i32, bool, Checkpoint); 10] = [
            (half, true, No),
            (mark, true, Here),
            // The checkpoint ran but a reader kept the WAL from starting over: one
            // more commit is not another checkpoint's worth.
            (mark + 6, true, No),
            // The WAL started over: its frames count from zero.
            (half, true, No),
            // Busy from here on: the thread beside every mark, the writer itself at
            // CHECKPOINT_PAGES_BUSY.
            (mark + 6, false, Beside),
            (mark + 6 + half, false, No),
            (2 * mark + 6, false, Beside),
            (3 * mark + 6, false, Beside),
            (4 * mark, false, Here),
            (4 * mark + 6, false, No),
        ];
        for (i, (in_wal, idle, due)) in rows.into_iter().enumerate() {
            frames.committed(in_wal);
            assert_eq!(policy.due(idle), due, "row {i}");
            if due == Here {
                policy.checkpointed();
            }
        }
    }

    /// A writer kept busy keeps its WAL bounded. Eight deliverers keep it busy; the
    /// WAL file (which SQLite reuses from its start once a checkpoint has copied all
    /// of it, and never shrinks) stays near the checkpoint marks. This guards the bound
    /// itself, not the cause of the old failure: in a debug build the writer pauses
    /// often enough that the old checkpoint thread also kept the WAL short, so this
    /// passed before the fix too (the starvation showed in the release delivery bench).
    /// The policy that fixed it is pinned by
    /// `checkpoints_are_due_per_frames_written_not_per_frames_in_the_wal`.
    #[test]
    fn a_busy_writer_keeps_its_wal_bounded() {
        const DELIVERERS: usize = 8;
        const EACH: usize = 400;
        let kit = Kit::new();
        std::thread::scope(|s| {
            for t in 0..DELIVERERS {
                let kit = &kit;
                s.spawn(move || {
                    let user = super::testkit::addr(&format!("u{t}@example.com"));
                    for i in 0..EACH {
                        kit.deliver(&format!("{t}-{i}"), vec![Target::inbox(&user)])
                            .expect("deliver");
                    }
                });
            }
        });
        let wal = std::fs::metadata(kit.data_dir().join("index.db-wal")).map_or(0, |m| m.len());
        // A frame is a page and a 24-byte header; one batch of eight deliveries adds a
        // few dozen frames past the mark.
        let frame = 4096 + 24;
        let bound = (CHECKPOINT_PAGES_BUSY + 200) * frame;
        assert!(
            wal <= bound,
            "WAL of {wal} bytes ({} frames) after {} deliveries; bound {bound}",
            wal / frame,
            DELIVERERS * EACH
        );
    }
}
