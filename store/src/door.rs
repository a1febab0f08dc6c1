//! The store's door for async callers: every read the protocol daemons make from a
//! session task, as an async method that makes its own blocking hop ([`Store::hop`])
//! and takes and returns typed values (mailbox ids, UIDs, infos), so no SQLite call
//! and no `std::fs` call runs on a tokio worker thread, and no caller sees SQLite.
//!
//! Small reads (one mailbox, a session's changes, a quota) are one method each.
//! Bulk jobs that interleave protocol logic with many reads (FETCH of a chunk of
//! messages, SEARCH/SORT/THREAD over a mailbox, a URL's message) are one method per
//! job shape that runs the whole loop in one hop and hands the caller's per-message
//! callback a [`Reader`] (or a [`Stored`] message) on the blocking side: one hop per
//! job, not per message. A [`Cancel`] reaches the loop, so a job whose client left
//! stops between messages (issue 9).

use std::cell::OnceCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::blobcache::{BODY_CACHE_MAX_BYTES, Epoch, StoredShape};
use crate::index::{self, MailboxCounts};
use crate::lists::ListedMailbox;
use crate::summary::Summary;
use crate::{
    MailboxChanges, MailboxId, MailboxInfo, MessageFile, MessageInfo, ModSeq, Result, Store,
    StoreError, Uid, writer,
};
use crate::{maildir, model::Address};

/// One mailbox of one user as a job names it: the owner and the name locate its
/// files, the id its index rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRef {
    /// The owner.
    pub user: Address,
    /// The mailbox's name, as stored.
    pub name: String,
    /// Its index id.
    pub id: MailboxId,
}

/// Set by whoever waits for a job once nobody wants its result any more (the client
/// left); the job stops at its next message. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks the job to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the job was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A job's view of one mailbox's messages on the blocking side of the hop (only the
/// store makes one): message files and index rows by typed key.
pub struct Reader<'a> {
    store: &'a Store,
    mailbox: &'a MailboxRef,
    /// On the caller's (tokio) thread: no disk, every read is `WouldBlock`.
    inline: bool,
    /// A FETCH's hop: the blob cache's epoch before its reads, so that a small file
    /// it reads whole may fill the cache (`blobcache.rs`).
    fills: Option<Epoch>,
}

impl Reader<'_> {
    /// The mailbox read.
    pub fn mailbox(&self) -> &MailboxRef {
        self.mailbox
    }

    /// Opens a message's file for positioned reads, or `None` when it is gone
    /// (`Store::open_message`). A small message the blob cache holds is read from
    /// memory, on any thread; one opened on a FETCH's hop is read whole and kept
    /// there (at most `blobcache::BODY_CACHE_MAX_BYTES`).
    pub fn open(&self, info: &MessageInfo) -> Result<Option<MessageFile>> {
        let m = self.mailbox;
        let blobs = &self.store.inner.changes.blobs;
        if info.size <= BODY_CACHE_MAX_BYTES
            && let Some(bytes) = blobs.body(m.id, info.uid)
        {
            let label = std::path::Path::new(&info.base);
            return Ok(Some(MessageFile::in_memory(bytes, label, info.size)));
        }
        self.on_reader_thread()?;
        let opened = self.store.open_message(&m.user, &m.name, m.id, info)?;
        let (Some(file), Some(epoch)) = (&opened, self.fills) else {
            return Ok(opened);
        };
        let Some(bytes) = file
            .whole(BODY_CACHE_MAX_BYTES)
            .map_err(|e| file.error(e))?
        else {
            return Ok(opened);
        };
        blobs.fill_body(m.id, epoch, info.uid, &bytes);
        Ok(Some(MessageFile::in_memory(bytes, file.path(), info.size)))
    }

    /// A message's bytes in wire form (CRLF), or `None` when it is gone.
    pub fn read(&self, info: &MessageInfo) -> Result<Option<Vec<u8>>> {
        self.on_reader_thread()?;
        let m = self.mailbox;
        self.store
            .read_message_blocking(&m.user, &m.name, m.id, info)
    }

    /// The summaries of `uids`, in their order (`None`: gone); one read transaction.
    pub fn summaries(&self, uids: &[Uid]) -> Result<Vec<Option<Summary>>> {
        self.on_reader_thread()?;
        self.store.summaries_blocking(self.mailbox.id, uids)
    }

    fn on_reader_thread(&self) -> Result<()> {
        if self.inline {
            return Err(StoreError::WouldBlock);
        }
        Ok(())
    }
}

/// One message of a scan ([`Store::scan_messages`]): its row, and its summary and
/// bytes, each read on first use and kept for the rest of the message's evaluation.
/// A read that fails counts as absent (logged at debug).
pub struct Stored<'a> {
    reader: &'a Reader<'a>,
    info: &'a MessageInfo,
    summary: OnceCell<Option<Summary>>,
    bytes: OnceCell<Option<Vec<u8>>>,
}

impl<'a> Stored<'a> {
    /// The message's row.
    pub fn info(&self) -> &'a MessageInfo {
        self.info
    }

    /// Its summary (decoded header fields and shape), read on first use.
    pub fn summary(&self) -> Option<&Summary> {
        self.summary
            .get_or_init(|| {
                self.reader
                    .summaries(&[self.info.uid])
                    .map_err(|e| tracing::debug!(error = %e, "scan: summary"))
                    .ok()
                    .and_then(|mut s| s.pop())
                    .flatten()
            })
            .as_ref()
    }

    /// Its bytes in wire form, read on first use; `None` when it is gone.
    pub fn bytes(&self) -> Option<&[u8]> {
        self.bytes
            .get_or_init(|| {
                self.reader
                    .read(self.info)
                    .map_err(|e| tracing::debug!(error = %e, "scan: message file"))
                    .ok()
                    .flatten()
            })
            .as_deref()
    }

    /// The summary if one was read for this message (and no read otherwise).
    pub fn take_summary(&mut self) -> Option<Summary> {
        self.summary.take().flatten()
    }
}

/// A message named by mailbox and UID, opened ([`Store::with_message`]).
#[derive(Debug)]
pub struct Opened {
    /// Its mailbox.
    pub mailbox: MailboxInfo,
    /// Its row.
    pub info: MessageInfo,
    /// Its stored shape (`mailyard_message::codec`), when it has one.
    pub shape: Option<Vec<u8>>,
    /// Its file, open for positioned reads.
    pub file: MessageFile,
}

impl Store {
    /// The door's one blocking hop: runs `f` on a reader thread (`readers.rs`; on
    /// tokio's blocking pool when all are busy) and waits for it. Every async read
    /// below goes through here.
    pub(crate) async fn hop<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.clone();
        self.inner
            .hops
            .run(move || f(&store))
            .await
            .ok_or(StoreError::Closed)?
    }

    /// The hop of a job that may run long (a scan of a whole mailbox): tokio's
    /// blocking pool, so the reader threads stay free for the small reads.
    async fn hop_long<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// One mailbox of `user` by name (RFC 9051 §5.1: INBOX in any case).
    pub async fn mailbox(&self, user: &Address, name: &str) -> Result<Option<MailboxInfo>> {
        let (user, name) = (user.clone(), name.to_string());
        self.hop(move |s| s.mailbox_blocking(&user, &name)).await
    }

    /// A user's mailboxes as LIST shows them (RFC 9051 §6.3.9): id, name and
    /// special-use attribute, in no particular order. From memory when known
    /// (`lists.rs`), else from the index in one hop.
    pub async fn listed_mailboxes(&self, user: &Address) -> Result<Arc<[ListedMailbox]>> {
        let lists = &self.inner.changes.lists;
        let key = user.to_string();
        if let Some(list) = lists.get(&key) {
            return Ok(list);
        }
        let epoch = lists.epoch();
        let user = user.clone();
        let list: Arc<[ListedMailbox]> = self
            .hop(move |s| s.mailboxes_blocking(&user))
            .await?
            .into_iter()
            .map(ListedMailbox::from)
            .collect();
        lists.fill(&key, epoch, list.clone());
        Ok(list)
    }

    /// A user's mailboxes and, when `subscriptions`, the names in their
    /// subscriptions file (RFC 9051 §6.3.9 LIST, RFC 5465 NOTIFY), from one hop.
    pub async fn mailboxes_and_subscriptions(
        &self,
        user: &Address,
        mailboxes: bool,
        subscriptions: bool,
    ) -> Result<(Vec<MailboxInfo>, Vec<String>)> {
        let user = user.clone();
        self.hop(move |s| {
            let boxes = if mailboxes {
                s.mailboxes_blocking(&user)?
            } else {
                Vec::new()
            };
            let subs = if subscriptions {
                s.subscriptions_blocking(&user)?
            } else {
                Vec::new()
            };
            Ok((boxes, subs))
        })
        .await
    }

    /// The names in a user's `subscriptions` file (RFC 9051 §6.3.9 LSUB).
    pub async fn subscriptions(&self, user: &Address) -> Result<Vec<String>> {
        let user = user.clone();
        self.hop(move |s| s.subscriptions_blocking(&user)).await
    }

    /// RFC 9051 §6.3.1 SELECT: the mailbox, a subscription to its changes taken
    /// before its messages are read (so no change falls between the two), and its
    /// messages in UID order. `None`: no such mailbox.
    pub async fn select_mailbox(
        &self,
        user: &Address,
        name: &str,
    ) -> Result<
        Option<(
            MailboxInfo,
            tokio::sync::watch::Receiver<u64>,
            Vec<MessageInfo>,
        )>,
    > {
        let (user, name) = (user.clone(), name.to_string());
        self.hop(move |s| {
            let Some(mb) = s.mailbox_blocking(&user, &name)? else {
                return Ok(None);
            };
            let rx = s.subscribe(mb.id);
            let msgs = s.messages_blocking(mb.id)?;
            Ok(Some((mb, rx, msgs)))
        })
        .await
    }

    /// A mailbox and its messages in UID order (RFC 1939 §8: a POP3 maildrop).
    pub async fn mailbox_messages(
        &self,
        user: &Address,
        name: &str,
    ) -> Result<Option<(MailboxInfo, Vec<MessageInfo>)>> {
        let (user, name) = (user.clone(), name.to_string());
        self.hop(move |s| {
            let Some(mb) = s.mailbox_blocking(&user, &name)? else {
                return Ok(None);
            };
            let msgs = s.messages_blocking(mb.id)?;
            Ok(Some((mb, msgs)))
        })
        .await
    }

    /// What a selected session learns when `mailbox` changed
    /// (`Store::mailbox_changes_blocking`): from the change journal when it covers
    /// `since` (no hop, `journal.rs`), else from the index.
    pub async fn mailbox_changes(
        &self,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<Option<MailboxChanges>> {
        if let Some(delta) = self.inner.changes.journals.delta(mailbox, since) {
            return Ok(Some(delta));
        }
        self.hop(move |s| s.mailbox_changes_blocking(mailbox, since))
            .await
    }

    /// RFC 7162 §3.2.5, §3.2.10: the lowest MODSEQ the expunge log still covers
    /// (`None`: nothing known) and the UIDs expunged with a MODSEQ above `since`.
    pub async fn expunge_log(
        &self,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<(Option<u64>, Vec<Uid>)> {
        self.hop(move |s| s.expunge_log_blocking(mailbox, since))
            .await
    }

    /// The summaries (decoded header fields and shape) of `uids` of `mailbox`, in
    /// their order; `None` for a message that is gone. One read transaction.
    pub async fn summaries(
        &self,
        mailbox: MailboxId,
        uids: Vec<Uid>,
    ) -> Result<Vec<Option<Summary>>> {
        self.hop(move |s| s.summaries_blocking(mailbox, &uids))
            .await
    }

    /// RFC 9051 §6.3.11 STATUS of one mailbox by name: its row and, when `counts`,
    /// its counts (else zeros). `None`: no such mailbox.
    pub async fn mailbox_status(
        &self,
        user: &Address,
        name: &str,
        counts: bool,
    ) -> Result<Option<(MailboxInfo, MailboxCounts)>> {
        let (user, name) = (user.to_string(), writer::normalize_name(name)?);
        // One read transaction: the row and the counts of the same moment.
        self.hop(move |s| s.read(|c| with_counts(c, index::mailbox(c, &user, &name)?, counts)))
            .await
    }

    /// STATUS of many mailboxes by id, in one hop (RFC 5819 LIST-STATUS, RFC 5465
    /// NOTIFY STATUS): each one's current row and, when `counts`, its counts; `None`
    /// for a mailbox deleted since.
    pub async fn mailbox_statuses(
        &self,
        ids: Vec<MailboxId>,
        counts: bool,
    ) -> Result<Vec<Option<(MailboxInfo, MailboxCounts)>>> {
        self.hop(move |s| {
            s.read(|c| {
                ids.iter()
                    .map(|&id| with_counts(c, index::mailbox_by_id(c, id)?, counts))
                    .collect()
            })
        })
        .await
    }

    /// RFC 9208 §5: a user's quota in bytes (0: none) and, when there is one, the
    /// bytes and messages stored over all mailboxes (else zeros).
    pub async fn quota_usage(&self, user: &Address) -> Result<(u64, u64, u64)> {
        let user = user.clone();
        self.hop(move |s| s.quota_usage_blocking(&user)).await
    }

    /// Err([`StoreError::OverQuota`]) when `extra` bytes more would exceed `user`'s
    /// quota (RFC 9208 §5.1: COPY must then fail; APPEND's check is inside
    /// [`Store::append_many_claiming`]).
    pub async fn within_quota(&self, user: &Address, extra: u64) -> Result<()> {
        let user = user.clone();
        self.hop(move |s| s.within_quota_blocking(&user, extra))
            .await
    }

    /// A message's file in wire form (CRLF), or `None` when it is gone (RFC 1939 §7
    /// RETR and TOP).
    pub async fn read_message(
        &self,
        user: &Address,
        mailbox: &str,
        id: MailboxId,
        m: &MessageInfo,
    ) -> Result<Option<Vec<u8>>> {
        let (user, mailbox, m) = (user.clone(), mailbox.to_string(), m.clone());
        self.hop(move |s| s.read_message_blocking(&user, &mailbox, id, &m))
            .await
    }

    /// RFC 4467 §4 GENURLAUTH, `INTERNAL`: the token of each `(mailbox, rump)` of
    /// `user`, in order, making keys where missing; `NoMailbox` for a mailbox that
    /// does not exist.
    pub async fn urlauth_tokens(
        &self,
        user: &Address,
        rumps: Vec<(String, String)>,
    ) -> Result<Vec<String>> {
        let user = user.clone();
        self.hop(move |s| {
            rumps
                .iter()
                .map(|(mailbox, rump)| s.urlauth_token_blocking(&user, mailbox, rump))
                .collect()
        })
        .await
    }

    /// RFC 4467 §6: whether `token` is the one GENURLAUTH gave for `rump`.
    pub async fn urlauth_check(
        &self,
        user: &Address,
        mailbox: &str,
        rump: &str,
        token: &str,
    ) -> Result<bool> {
        let (user, mailbox, rump, token) = (
            user.clone(),
            mailbox.to_string(),
            rump.to_string(),
            token.to_string(),
        );
        self.hop(move |s| s.urlauth_check_blocking(&user, &mailbox, &rump, &token))
            .await
    }

    /// RFC 4467 §4 RESETKEY: new keys for `mailbox` (every mailbox when `None`).
    pub async fn urlauth_reset(&self, user: &Address, mailbox: Option<&str>) -> Result<()> {
        let (user, mailbox) = (user.clone(), mailbox.map(str::to_string));
        self.hop(move |s| s.urlauth_reset_blocking(&user, mailbox.as_deref()))
            .await
    }

    /// RFC 9051 §6.4.5 FETCH of a chunk of messages, in one hop: their stored shapes
    /// (when `shapes`; each decoded at most once while cached, [`StoredShape`]) and
    /// cached header fields (when `headers`) from one read
    /// transaction, then `per` for each message in order, with a [`Reader`] to open
    /// its file for the ranges it needs. Stops at the first error. When the blob cache
    /// (`blobcache.rs`) has every blob asked for, `per` first runs here without a hop,
    /// with a [`Reader`] that refuses the disk (small files the cache holds open from
    /// memory); if it needs the disk after all, the chunk runs again on a reader
    /// thread.
    pub async fn fetch_messages<T: Send + 'static>(
        &self,
        mailbox: MailboxRef,
        infos: Vec<MessageInfo>,
        shapes: bool,
        headers: bool,
        mut per: impl FnMut(
            &Reader<'_>,
            &MessageInfo,
            Option<Arc<StoredShape>>,
            Option<Arc<[u8]>>,
        ) -> Result<T>
        + Send
        + 'static,
    ) -> Result<Vec<T>> {
        let uids: Vec<Uid> = infos.iter().map(|i| i.uid).collect();
        let blobs = &self.inner.changes.blobs;
        let cached = if shapes || headers {
            blobs.get(mailbox.id, &uids, shapes, headers)
        } else {
            Some(vec![(None, None); uids.len()])
        };
        if let Some(cached) = cached {
            let reader = Reader {
                store: self,
                mailbox: &mailbox,
                inline: true,
                fills: None,
            };
            let answered: Result<Vec<T>> = infos
                .iter()
                .zip(cached)
                .map(|(info, (shape, block))| per(&reader, info, shape, block))
                .collect();
            match answered {
                Err(StoreError::WouldBlock) => {}
                answered => return answered,
            }
        }
        self.hop(move |s| {
            let epoch = s.inner.changes.blobs.epoch(mailbox.id);
            let (read, blocks) =
                s.shapes_and_headers_blocking(mailbox.id, &uids, shapes, headers)?;
            let read: Vec<Option<Arc<StoredShape>>> = read
                .into_iter()
                .map(|b| b.map(|b| Arc::new(StoredShape::new(b))))
                .collect();
            let blocks: Vec<Option<Arc<[u8]>>> =
                blocks.into_iter().map(|b| b.map(Arc::from)).collect();
            s.inner.changes.blobs.fill(
                mailbox.id,
                epoch,
                &uids,
                shapes.then_some(read.as_slice()),
                headers.then_some(blocks.as_slice()),
            );
            let reader = Reader {
                store: s,
                mailbox: &mailbox,
                inline: false,
                fills: Some(epoch),
            };
            infos
                .iter()
                .zip(read)
                .zip(blocks)
                .map(|((info, shape), block)| per(&reader, info, shape, block))
                .collect()
        })
        .await
    }

    /// A scan of `items` of one mailbox in one hop (RFC 9051 §6.4.4 SEARCH, RFC 5256
    /// SORT and THREAD): `per` sees each item with its message as [`Stored`] (summary
    /// and bytes read only if asked for) and keeps what it returns; `finish` turns
    /// the kept results into the job's answer, on the same side of the hop. Checks
    /// `cancel` before each message: a cancelled scan ends with
    /// [`StoreError::Cancelled`].
    pub async fn scan_messages<C, R, T>(
        &self,
        mailbox: MailboxRef,
        items: Vec<C>,
        cancel: Cancel,
        mut per: impl FnMut(&C, &mut Stored<'_>) -> Option<R> + Send + 'static,
        finish: impl FnOnce(Vec<R>, &Reader<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T>
    where
        C: AsRef<MessageInfo> + Send + 'static,
        R: Send + 'static,
        T: Send + 'static,
    {
        self.hop_long(move |s| {
            let reader = Reader {
                store: s,
                mailbox: &mailbox,
                inline: false,
                fills: None,
            };
            let mut kept = Vec::new();
            for item in &items {
                if cancel.is_cancelled() {
                    return Err(StoreError::Cancelled);
                }
                let mut stored = Stored {
                    reader: &reader,
                    info: item.as_ref(),
                    summary: OnceCell::new(),
                    bytes: OnceCell::new(),
                };
                if let Some(r) = per(item, &mut stored) {
                    kept.push(r);
                }
            }
            if cancel.is_cancelled() {
                return Err(StoreError::Cancelled);
            }
            finish(kept, &reader)
        })
        .await
    }

    /// The message `uid` of `mailbox` of `owner`, opened (its mailbox row, its row,
    /// its stored shape and its file), handed to `job` on the blocking side with the
    /// file: one hop for an IMAP URL's message (RFC 5092: CATENATE, URLFETCH, BURL).
    /// `job` gets `None` when the mailbox or the message does not exist.
    pub async fn with_message<T: Send + 'static>(
        &self,
        owner: &Address,
        mailbox: &str,
        uid: Uid,
        job: impl FnOnce(Option<Opened>) -> T + Send + 'static,
    ) -> Result<T> {
        let (owner, mailbox) = (owner.clone(), mailbox.to_string());
        self.hop(move |s| {
            let Some(mb) = s.mailbox_blocking(&owner, &mailbox)? else {
                return Ok(job(None));
            };
            let (info, shape) = s.message_with_shape_blocking(mb.id, uid)?;
            let Some(info) = info else {
                return Ok(job(None));
            };
            let Some(file) = s.open_message(&owner, &mb.name, mb.id, &info)? else {
                return Ok(job(None));
            };
            Ok(job(Some(Opened {
                mailbox: mb,
                info,
                shape,
                file,
            })))
        })
        .await
    }

    /// The blocking body of [`Store::mailbox`].
    pub fn mailbox_blocking(&self, user: &Address, name: &str) -> Result<Option<MailboxInfo>> {
        let name = writer::normalize_name(name)?;
        self.read(|c| index::mailbox(c, &user.to_string(), &name))
    }

    /// A user's mailboxes (blocking).
    pub fn mailboxes_blocking(&self, user: &Address) -> Result<Vec<MailboxInfo>> {
        self.read(|c| index::mailboxes(c, &user.to_string()))
    }

    /// A mailbox's messages in UID order (blocking).
    pub fn messages_blocking(&self, mailbox: MailboxId) -> Result<Vec<MessageInfo>> {
        self.read(|c| index::messages(c, mailbox))
    }

    /// The names in a user's `subscriptions` file, existing mailboxes or not
    /// (blocking).
    pub(crate) fn subscriptions_blocking(&self, user: &Address) -> Result<Vec<String>> {
        use crate::error::IoContext as _;
        let root = maildir::user_root(self.data_dir(), user);
        maildir::read_subscriptions(&root).at(&root)
    }
}

/// A mailbox's row with, when `counts`, its STATUS counts read on the same connection
/// (else zeros); `None` stays `None` (no such mailbox).
fn with_counts(
    c: &rusqlite::Connection,
    mailbox: Option<MailboxInfo>,
    counts: bool,
) -> Result<Option<(MailboxInfo, MailboxCounts)>> {
    let Some(mb) = mailbox else {
        return Ok(None);
    };
    let n = if counts {
        index::mailbox_counts(c, mb.id, mb.first_recent_uid)?
    } else {
        MailboxCounts::default()
    };
    Ok(Some((mb, n)))
}
