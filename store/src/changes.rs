//! Change notification, two buses, both fed by the writer after commit (and by
//! `watch_other_processes` for other processes' writes):
//!
//! - Per mailbox: every write publishes the mailbox's new HIGHESTMODSEQ on a `watch`
//!   channel; a session with the mailbox selected subscribes and, when woken, asks what
//!   changed since the MODSEQ it last saw: the change journal the writer keeps for
//!   selected mailboxes answers from memory (`journal.rs`), the index when the journal
//!   does not cover that MODSEQ. A `watch` keeps only the latest value, so a slow
//!   subscriber never makes a publisher wait or lose anything.
//! - Per user ([`Changes::subscribe_user`], for RFC 5465 NOTIFY): one `broadcast`
//!   channel per user with subscribers carries a [`MailboxEvent`] for every mailbox of
//!   the user that changed (messages new, expunged or re-flagged; created, deleted,
//!   renamed; subscribed or unsubscribed). Message events are coalesced per mailbox
//!   per writer batch. The channel holds at most [`USER_EVENTS_PENDING`] events a
//!   subscriber has not read; a subscriber that falls further behind loses the oldest
//!   and learns it (`RecvError::Lagged`), which NOTIFY reports as
//!   `[NOTIFICATIONOVERFLOW]` (RFC 5465 §5.8). Publishing never waits for a
//!   subscriber; with no subscriber for any user it is one atomic load.
//!
//! Another process writing the same data dir (the CLI, a second `serve`) is noticed by
//! `watch_other_processes`, which polls SQLite's `PRAGMA data_version` and compares
//! every mailbox's HIGHESTMODSEQ, UIDNEXT and name with what it saw last.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::blobcache::BlobCache;
use crate::index;
use crate::journal::Journals;
use crate::lock;
use crate::model::{Address, MailboxId};

/// The most events a user's bus keeps for a subscriber that has not read them yet
/// (RFC 5465 §5.8: past it the subscriber is told it lost events).
pub const USER_EVENTS_PENDING: usize = 1024;

/// What happened to the messages of one mailbox (several at once once coalesced).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageChanges {
    /// Messages were added (delivery, APPEND, COPY, MOVE).
    pub new: bool,
    /// Messages were expunged (EXPUNGE, MOVE out).
    pub expunged: bool,
    /// Flags or keywords changed.
    pub flags: bool,
}

impl MessageChanges {
    /// New messages only.
    pub const NEW: MessageChanges = MessageChanges {
        new: true,
        expunged: false,
        flags: false,
    };
    /// Expunges only.
    pub const EXPUNGED: MessageChanges = MessageChanges {
        new: false,
        expunged: true,
        flags: false,
    };
    /// Flag changes only.
    pub const FLAGS: MessageChanges = MessageChanges {
        new: false,
        expunged: false,
        flags: true,
    };
    /// Anything may have changed (a reconcile, another process's write).
    pub const ANY: MessageChanges = MessageChanges {
        new: true,
        expunged: true,
        flags: true,
    };

    /// Both sets of changes.
    pub fn union(self, o: MessageChanges) -> MessageChanges {
        MessageChanges {
            new: self.new || o.new,
            expunged: self.expunged || o.expunged,
            flags: self.flags || o.flags,
        }
    }
}

/// One change to one of a user's mailboxes, as the user bus carries it. Names are the
/// stored (UTF-8) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxEvent {
    /// Messages of a mailbox changed.
    Messages {
        /// Which mailbox.
        mailbox: MailboxId,
        /// Its name.
        name: String,
        /// What changed.
        changes: MessageChanges,
    },
    /// A mailbox was created.
    Created {
        /// Its name.
        name: String,
    },
    /// A mailbox was deleted.
    Deleted {
        /// Its name.
        name: String,
    },
    /// A mailbox was renamed (each child of a renamed mailbox is one event too).
    Renamed {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// A name was subscribed or unsubscribed (the mailbox need not exist).
    Subscription {
        /// The name.
        name: String,
        /// Subscribed after the change.
        subscribed: bool,
    },
}

/// Merges the message events of one mailbox into its first; other events keep their
/// order.
fn coalesce(events: Vec<(Address, MailboxEvent)>) -> Vec<(Address, MailboxEvent)> {
    let mut out: Vec<(Address, MailboxEvent)> = Vec::with_capacity(events.len());
    let mut at: HashMap<MailboxId, usize> = HashMap::new();
    for (user, ev) in events {
        if let MailboxEvent::Messages {
            mailbox,
            name,
            changes,
        } = &ev
        {
            if let Some(&i) = at.get(mailbox)
                && let Some((
                    _,
                    MailboxEvent::Messages {
                        name: n,
                        changes: c,
                        ..
                    },
                )) = out.get_mut(i)
            {
                *c = c.union(*changes);
                n.clone_from(name);
                continue;
            }
            at.insert(*mailbox, out.len());
        }
        out.push((user, ev));
    }
    out
}

/// Per-mailbox and per-user publishers.
#[derive(Default)]
pub struct Changes {
    senders: Mutex<HashMap<MailboxId, watch::Sender<u64>>>,
    users: Mutex<HashMap<Address, broadcast::Sender<MailboxEvent>>>,
    /// Some user bus may have a subscriber (cleared when the last one is gone).
    user_subscribers: AtomicBool,
    /// The HIGHESTMODSEQ of each mailbox as this process's writer last announced it
    /// on the user buses (kept while some user bus has a subscriber): the watcher of
    /// other processes' writes announces only what goes beyond it.
    announced: Mutex<HashMap<MailboxId, u64>>,
    /// What selected sessions read when woken (`journal.rs`).
    pub(crate) journals: Journals,
    /// The shapes and header blocks FETCH read (`blobcache.rs`).
    pub(crate) blobs: BlobCache,
    /// Each user's mailboxes as LIST shows them (`lists.rs`).
    pub(crate) lists: crate::lists::MailboxLists,
}

impl Changes {
    /// Subscribes to `mailbox`: the receiver sees its HIGHESTMODSEQ as last published.
    pub fn subscribe(&self, mailbox: MailboxId) -> watch::Receiver<u64> {
        let mut map = lock(&self.senders);
        map.entry(mailbox)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Whether some session has `mailbox` selected (subscribed to it).
    pub(crate) fn is_selected(&self, mailbox: MailboxId) -> bool {
        lock(&self.senders)
            .get(&mailbox)
            .is_some_and(|tx| tx.receiver_count() > 0)
    }

    /// Subscribes to every change of every mailbox of `user`, from now on.
    pub fn subscribe_user(&self, user: &Address) -> broadcast::Receiver<MailboxEvent> {
        let mut map = lock(&self.users);
        self.user_subscribers.store(true, Ordering::Release);
        map.entry(user.clone())
            .or_insert_with(|| broadcast::channel(USER_EVENTS_PENDING).0)
            .subscribe()
    }

    /// Announces one committed batch of this process's writer: each changed mailbox's
    /// new HIGHESTMODSEQ on its watch channel, then the events on their users' buses.
    pub(crate) fn publish_batch(
        &self,
        changed: HashMap<MailboxId, u64>,
        events: Vec<(Address, MailboxEvent)>,
    ) {
        let users = self.user_subscribers.load(Ordering::Acquire);
        if users {
            let mut announced = lock(&self.announced);
            for (&id, &modseq) in &changed {
                let v = announced.entry(id).or_insert(0);
                *v = (*v).max(modseq);
            }
        }
        for (id, modseq) in changed {
            self.publish(id, modseq);
        }
        if users {
            self.publish_user_events(events);
        }
    }

    /// Announces events on their users' buses (message events coalesced per
    /// mailbox). Never waits for a subscriber.
    pub fn publish_user_events(&self, events: Vec<(Address, MailboxEvent)>) {
        if events.is_empty() || !self.user_subscribers.load(Ordering::Acquire) {
            return;
        }
        let mut map = lock(&self.users);
        for (user, ev) in coalesce(events) {
            if let Some(tx) = map.get(&user) {
                // Err: no receiver left; the entry goes below.
                let _ = tx.send(ev);
            }
        }
        map.retain(|_, tx| tx.receiver_count() > 0);
        if map.is_empty() {
            self.user_subscribers.store(false, Ordering::Release);
            lock(&self.announced).clear();
        }
    }

    /// Whether another process's write that left `mailbox` at `modseq` is news to the
    /// user buses (this process's writer has not announced that far).
    fn unannounced(&self, mailbox: MailboxId, modseq: u64) -> bool {
        self.user_subscribers.load(Ordering::Acquire)
            && lock(&self.announced)
                .get(&mailbox)
                .is_none_or(|&m| modseq > m)
    }

    /// Announces that `mailbox` changed and is now at `modseq`.
    pub fn publish(&self, mailbox: MailboxId, modseq: u64) {
        let mut map = lock(&self.senders);
        if let Some(tx) = map.get(&mailbox) {
            if tx.receiver_count() == 0 {
                map.remove(&mailbox);
            } else {
                tx.send_if_modified(|v| {
                    // Equal values are republished too: an expunge and a delivery from
                    // another process can land on a value we already announced.
                    *v = (*v).max(modseq);
                    true
                });
            }
        }
    }
}

/// How often the watcher looks at the index for other processes' writes.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// Starts a thread that notices writes made by other processes and publishes them.
/// It ends when the store is dropped.
pub(crate) fn watch_other_processes(
    db: std::path::PathBuf,
    changes: Weak<Changes>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("store-watch".into())
        .spawn(move || {
            let Ok(conn) = index::connect(&db, true) else {
                return;
            };
            let mut last_version: i64 = -1;
            let mut marks: HashMap<MailboxId, (u64, u32)> = HashMap::new();
            // Every mailbox's id and name at the last look (`lists.rs`).
            let mut names: Option<Vec<(MailboxId, String)>> = None;
            loop {
                let Some(changes) = changes.upgrade() else {
                    return;
                };
                let version: i64 = conn
                    .pragma_query_value(None, "data_version", |r| r.get(0))
                    .unwrap_or(last_version);
                if version != last_version {
                    last_version = version;
                    if let Ok(all) = index::all_mailbox_marks(&conn) {
                        let mut now: Vec<(MailboxId, String)> =
                            all.iter().map(|m| (m.id, m.name.clone())).collect();
                        now.sort_unstable();
                        if names.as_ref().is_some_and(|before| *before != now) {
                            // A mailbox created, deleted or renamed (by this process's
                            // writer, which emptied the cache already, or another's).
                            changes.lists.forget_all();
                        }
                        names = Some(now);
                        let mut events = Vec::new();
                        for m in all {
                            let prev = marks.insert(m.id, (m.highestmodseq, m.uidnext));
                            let Some(prev) = prev.filter(|p| *p != (m.highestmodseq, m.uidnext))
                            else {
                                continue;
                            };
                            changes.journals.behind(m.id, m.highestmodseq);
                            changes.blobs.other_process(m.id, m.highestmodseq);
                            changes.publish(m.id, m.highestmodseq);
                            if changes.unannounced(m.id, m.highestmodseq)
                                && let Ok(user) = Address::parse(&m.user)
                            {
                                // Each new message takes one MODSEQ: a MODSEQ that
                                // moved further means flags changed or messages went.
                                let new = m.uidnext.saturating_sub(prev.1);
                                let moved = m.highestmodseq.saturating_sub(prev.0);
                                let what = MessageChanges {
                                    new: new > 0,
                                    expunged: moved > u64::from(new),
                                    flags: moved > u64::from(new),
                                };
                                events.push((
                                    user,
                                    MailboxEvent::Messages {
                                        mailbox: m.id,
                                        name: m.name,
                                        changes: what,
                                    },
                                ));
                            }
                        }
                        changes.publish_user_events(events);
                    }
                }
                drop(changes);
                std::thread::sleep(WATCH_INTERVAL);
            }
        })
        .map(|_| ())
}
