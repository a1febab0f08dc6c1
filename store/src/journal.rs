//! What a selected session reads when its mailbox changed, kept in memory by the
//! writer: the change journal.
//!
//! Without it, every session with a mailbox selected asks the index after each change
//! to that mailbox what changed since the MODSEQ it last saw: a hop to a reader thread
//! and back, and the same three queries, once per session and change. With it, the
//! writer asks once per batch and mailbox, right after commit, on its own connection,
//! and keeps the answer here ([`Journals::record`]); sessions take theirs from memory
//! ([`Journals::delta`]) and hop to the index only when the journal does not cover
//! their MODSEQ.
//!
//! Invariants:
//! - An entry holds exactly what the index answers for "changed since `before`" after
//!   the commit that left the mailbox at `after`: the rows with a MODSEQ above
//!   `before` and the UIDs expunged above it, read by the same function as
//!   `Store::mailbox_changes_blocking` (`index::changes_since`). Entries chain (`before` of one is `after` of
//!   the previous), so any MODSEQ from the first `before` on is covered, and
//!   [`Journals::delta`] answers what the index would have answered.
//! - An entry is recorded before the batch is published, so a session woken by a
//!   publish finds it (a command's change is in the journal before its OK).
//! - Whatever changes a mailbox's rows or row other than the message requests the
//!   writer records (a reconcile, a rename, a delete, another process's write) removes
//!   the journal: [`Journals::forget`], [`Journals::forget_all`], [`Journals::behind`].
//!   A journal that does not cover a MODSEQ answers None and the caller reads the index.
//! - Only mailboxes someone has selected have a journal, and each holds at most
//!   [`JOURNAL_ROWS`] rows and UIDs: memory stays bounded, and a session that fell
//!   further behind reads the index.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;

use crate::MailboxChanges;
use crate::error::Result;
use crate::index::{self, MailboxInfo, MessageInfo};
use crate::model::{MailboxId, ModSeq, Uid};

/// The most rows and expunged UIDs one mailbox's journal keeps; older entries go first.
pub const JOURNAL_ROWS: usize = 1024;

/// Every this many recorded batches, the journals of mailboxes nobody has selected any
/// more are dropped (otherwise each stays until its mailbox changes again).
pub const JOURNAL_SWEEP_BATCHES: usize = 1024;

/// One commit's changes to one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The mailbox's HIGHESTMODSEQ before the commit (the previous entry's `after`).
    before: u64,
    /// Its HIGHESTMODSEQ after.
    after: u64,
    /// Rows with a MODSEQ above `before`, as the index had them after the commit.
    changed: Vec<MessageInfo>,
    /// UIDs expunged above `before`, with their MODSEQ.
    expunged: Vec<(Uid, u64)>,
}

impl Entry {
    fn size(&self) -> usize {
        self.changed.len() + self.expunged.len()
    }
}

/// One mailbox's journal.
#[derive(Debug, Clone)]
struct Journal {
    /// The mailbox row after the last recorded commit.
    info: MailboxInfo,
    /// Oldest first, chained.
    entries: VecDeque<Entry>,
    /// Rows and UIDs in `entries`.
    size: usize,
}

impl Journal {
    /// The HIGHESTMODSEQ up to which the journal knows every change.
    fn last(&self) -> u64 {
        self.info.highestmodseq.0
    }

    /// The changes after `since`, as the index would answer them, if covered.
    fn delta(&self, since: u64) -> Option<MailboxChanges> {
        if since > self.last() {
            // The caller read the index after a commit not recorded yet.
            return None;
        }
        let from = self.entries.partition_point(|e| e.after <= since);
        match self.entries.get(from) {
            Some(first) if first.before > since => return None,
            None if since < self.last() => return None,
            _ => {}
        }
        let mut changed: BTreeMap<Uid, &MessageInfo> = BTreeMap::new();
        let mut expunged: Vec<Uid> = Vec::new();
        for e in self.entries.range(from..) {
            for m in e.changed.iter().filter(|m| m.modseq.0 > since) {
                changed.insert(m.uid, m);
            }
            for &(uid, _) in e.expunged.iter().filter(|(_, m)| *m > since) {
                changed.remove(&uid);
                expunged.push(uid);
            }
        }
        expunged.sort_unstable();
        expunged.dedup();
        Some((
            self.info.clone(),
            changed.into_values().cloned().collect(),
            expunged,
        ))
    }

    /// Adds one commit's entry and drops the oldest past [`JOURNAL_ROWS`].
    fn push(&mut self, info: MailboxInfo, entry: Entry) {
        self.size += entry.size();
        self.info = info;
        if entry.before != entry.after || entry.size() > 0 {
            self.entries.push_back(entry);
        }
        while self.size > JOURNAL_ROWS {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.size -= old.size();
        }
    }
}

/// The journals of the mailboxes sessions have selected.
#[derive(Default)]
pub struct Journals {
    map: Mutex<HashMap<MailboxId, Journal>>,
    /// Batches recorded since the last sweep.
    batches: AtomicUsize,
}

impl Journals {
    /// What changed in `mailbox` after `since`, as `Store::mailbox_changes_blocking`
    /// would answer it, or None when the journal does not cover it (read the index).
    pub fn delta(&self, mailbox: MailboxId, since: ModSeq) -> Option<MailboxChanges> {
        self.map.lock().ok()?.get(&mailbox)?.delta(since.0)
    }

    /// On the writer's connection, right after a commit that changed `mailbox` (its
    /// messages or its row): records what a session that saw the previous commit will
    /// ask for. `selected`: some session has the mailbox selected; without one the
    /// journal is dropped and nothing is read.
    pub(crate) fn record(&self, conn: &Connection, mailbox: MailboxId, selected: bool) {
        if !selected {
            self.forget(mailbox);
            return;
        }
        let last = self
            .map
            .lock()
            .ok()
            .and_then(|m| m.get(&mailbox).map(Journal::last));
        // What `Store::mailbox_changes_blocking` reads, with each expunge's MODSEQ.
        let read = (|| -> Result<Option<(MailboxInfo, Option<Entry>)>> {
            let Some(before) = last else {
                return Ok(index::mailbox_by_id(conn, mailbox)?.map(|info| (info, None)));
            };
            let Some((info, changed, expunged)) =
                index::changes_since(conn, mailbox, ModSeq(before))?
            else {
                return Ok(None);
            };
            let after = info.highestmodseq.0;
            let entry = Entry {
                before,
                after,
                changed,
                expunged,
            };
            Ok(Some((info, Some(entry))))
        })();
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        match read {
            Ok(Some((info, Some(entry)))) => match map.get_mut(&mailbox) {
                // Only this thread records: the journal is as it was read unless it
                // was forgotten meanwhile, and then it stays forgotten.
                Some(j) if j.last() == entry.before => j.push(info, entry),
                _ => {}
            },
            Ok(Some((info, None))) => {
                map.insert(
                    mailbox,
                    Journal {
                        info,
                        entries: VecDeque::new(),
                        size: 0,
                    },
                );
            }
            Ok(None) => {
                map.remove(&mailbox);
            }
            Err(e) => {
                tracing::warn!(error = %e, mailbox = mailbox.0, "cannot record mailbox changes");
                map.remove(&mailbox);
            }
        }
    }

    /// Counts one recorded batch; every [`JOURNAL_SWEEP_BATCHES`] drops the journals
    /// of the mailboxes `selected` says nobody has selected.
    pub(crate) fn sweep(&self, selected: impl Fn(MailboxId) -> bool) {
        if !self
            .batches
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(JOURNAL_SWEEP_BATCHES)
        {
            return;
        }
        if let Ok(mut map) = self.map.lock() {
            map.retain(|&id, _| selected(id));
        }
    }

    /// A `\Recent` claim moved `uids` of `mailbox` from `new/` to `cur/` without a new
    /// MODSEQ: the rows the journal holds for them say so too, as the index does.
    pub(crate) fn claimed(&self, mailbox: MailboxId, uids: &[Uid]) {
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        let Some(j) = map.get_mut(&mailbox) else {
            return;
        };
        for m in j.entries.iter_mut().flat_map(|e| e.changed.iter_mut()) {
            if m.in_new && uids.binary_search(&m.uid).is_ok() {
                m.in_new = false;
            }
        }
    }

    /// Drops `mailbox`'s journal: its sessions read the index until the next commit.
    pub(crate) fn forget(&self, mailbox: MailboxId) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&mailbox);
        }
    }

    /// Drops every journal (a request the journal does not follow, such as a rename).
    pub(crate) fn forget_all(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }

    /// Another process left `mailbox` at `modseq`: unless this process's writer has
    /// recorded that far already, the journal misses that write and is dropped.
    pub(crate) fn behind(&self, mailbox: MailboxId, modseq: u64) {
        if let Ok(mut map) = self.map.lock()
            && map.get(&mailbox).is_some_and(|j| j.last() < modseq)
        {
            map.remove(&mailbox);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FlagSet, UidValidity};

    fn info(highest: u64) -> MailboxInfo {
        MailboxInfo {
            id: MailboxId(1),
            user: "u@example.com".into(),
            name: "INBOX".into(),
            uidvalidity: UidValidity(7),
            uidnext: Uid(100),
            highestmodseq: ModSeq(highest),
            special_use: None,
            subscribed: false,
            first_recent_uid: Uid(1),
        }
    }

    fn row(uid: u32, modseq: u64) -> MessageInfo {
        MessageInfo {
            uid: Uid(uid),
            base: format!("b{uid}"),
            in_new: false,
            size: 10,
            internaldate: 0,
            flags: FlagSet::default(),
            modseq: ModSeq(modseq),
        }
    }

    /// Entries as the writer records them from 10 on: 11 delivers UID 1; 12 and 13
    /// deliver UIDs 2 and 3 in one commit; 14 re-flags UID 1; 15 expunges UID 2.
    fn journal() -> Journal {
        let mut j = Journal {
            info: info(10),
            entries: VecDeque::new(),
            size: 0,
        };
        let commits = [
            (10, 11, vec![row(1, 11)], vec![]),
            (11, 13, vec![row(2, 12), row(3, 13)], vec![]),
            (13, 14, vec![row(1, 14)], vec![]),
            (14, 15, vec![], vec![(Uid(2), 15)]),
        ];
        for (before, after, changed, expunged) in commits {
            j.push(
                info(after),
                Entry {
                    before,
                    after,
                    changed,
                    expunged,
                },
            );
        }
        j
    }

    #[test]
    fn a_delta_is_what_the_index_answers_for_every_covered_modseq() {
        let j = journal();
        // since → (changed rows as (uid, modseq), expunged UIDs), None: read the index.
        type Want = Option<(Vec<(u32, u64)>, Vec<u32>)>;
        let table: [(u64, Want); 8] = [
            (9, None),
            (10, Some((vec![(1, 14), (3, 13)], vec![2]))),
            (11, Some((vec![(1, 14), (3, 13)], vec![2]))),
            // Inside one commit's range (a view that saw half of it never exists,
            // but the rows carry their MODSEQ, so the answer is still exact).
            (12, Some((vec![(1, 14), (3, 13)], vec![2]))),
            (13, Some((vec![(1, 14)], vec![2]))),
            (14, Some((vec![], vec![2]))),
            (15, Some((vec![], vec![]))),
            // Ahead of the journal: a commit not recorded yet.
            (16, None),
        ];
        for (since, want) in table {
            let got = j.delta(since).map(|(mb, changed, expunged)| {
                assert_eq!(mb.highestmodseq, ModSeq(15));
                (
                    changed.iter().map(|m| (m.uid.0, m.modseq.0)).collect(),
                    expunged.iter().map(|u| u.0).collect(),
                )
            });
            assert_eq!(got, want, "since {since}");
        }
    }

    #[test]
    fn a_full_journal_drops_its_oldest_entries_and_no_longer_covers_them() {
        let mut j = journal();
        let many: Vec<MessageInfo> = (10..10 + JOURNAL_ROWS as u32).map(|u| row(u, 16)).collect();
        j.push(
            info(16),
            Entry {
                before: 15,
                after: 16,
                changed: many,
                expunged: vec![],
            },
        );
        assert!(j.size <= JOURNAL_ROWS);
        assert_eq!(j.delta(14), None);
        assert_eq!(j.delta(15).map(|d| d.1.len()), Some(JOURNAL_ROWS));
        assert_eq!(j.delta(16).map(|d| d.1.len()), Some(0));
    }

    /// The real writer and index: after each kind of change to a selected mailbox,
    /// for every MODSEQ a session may hold, the journal answers exactly what the index
    /// does, and from the second change on it covers the previous one's MODSEQ (so the
    /// sessions' fast path is taken, not only allowed).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_journal_answers_as_the_index_does_after_every_kind_of_change() {
        use crate::Store;
        use crate::model::{Address, Flags};
        use crate::writer::FlagMode;
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path()).expect("open");
        let user = Address::parse("journal@example.com").expect("address");
        store.accounts().add_user(&user, "pw").expect("add");
        store.setup_user_blocking(&user).expect("setup");
        store
            .create_mailbox(&user, "Other", None)
            .await
            .expect("create");
        let inbox = store
            .mailbox_blocking(&user, "INBOX")
            .expect("read")
            .expect("inbox")
            .id;
        let _selected = store.subscribe(inbox);
        let msg = |i: u32| format!("Subject: {i}\r\n\r\nbody {i}\r\n").into_bytes();
        let highest = || {
            store
                .mailbox_blocking(&user, "INBOX")
                .expect("read")
                .expect("inbox")
                .highestmodseq
        };
        let journals = &store.inner.changes.journals;
        let check = |seen: &[ModSeq], step: &str| {
            for &since in seen {
                if let Some(delta) = journals.delta(inbox, since) {
                    let index = store
                        .mailbox_changes_blocking(inbox, since)
                        .expect("read")
                        .expect("mailbox");
                    assert_eq!(delta, index, "{step}: since {since:?}");
                }
            }
        };
        let mut seen = vec![highest()];
        let seen_flag = FlagSet {
            flags: Flags::SEEN,
            keywords: Vec::new(),
        };
        let deleted = FlagSet {
            flags: Flags::DELETED,
            keywords: Vec::new(),
        };
        for step in 0..9u32 {
            let name = match step {
                0..=2 => {
                    store
                        .deliver(msg(step), std::slice::from_ref(&user))
                        .await
                        .expect("deliver");
                    "deliver"
                }
                3 => {
                    store
                        .set_flags(inbox, vec![Uid(1)], FlagMode::Add, seen_flag.clone(), None)
                        .await
                        .expect("store");
                    "store"
                }
                4 => {
                    let kw = FlagSet {
                        flags: Flags::default(),
                        keywords: vec!["$Label1".into()],
                    };
                    store
                        .append(&user, "INBOX", msg(step), kw, None)
                        .await
                        .expect("append");
                    "append with a keyword"
                }
                5 => {
                    store.claim_recent(inbox, Uid(4)).await.expect("claim");
                    "claim"
                }
                6 => {
                    store
                        .copy_messages(inbox, vec![Uid(2)], &user, "INBOX", false)
                        .await
                        .expect("copy");
                    "copy into itself"
                }
                7 => {
                    let other = store
                        .mailbox_blocking(&user, "Other")
                        .expect("read")
                        .expect("other")
                        .id;
                    store
                        .deliver(msg(step), std::slice::from_ref(&user))
                        .await
                        .expect("deliver");
                    store
                        .copy_messages(inbox, vec![Uid(3)], &user, "Other", true)
                        .await
                        .expect("move");
                    assert_eq!(journals.delta(other, ModSeq(0)), None, "nobody selected it");
                    "move out"
                }
                _ => {
                    store
                        .set_flags(
                            inbox,
                            vec![Uid(2), Uid(5)],
                            FlagMode::Add,
                            deleted.clone(),
                            None,
                        )
                        .await
                        .expect("store");
                    store.expunge(inbox, None).await.expect("expunge");
                    "expunge"
                }
            };
            let previous = *seen.last().expect("one");
            seen.push(highest());
            check(&seen, name);
            if step > 0 {
                assert!(
                    journals.delta(inbox, previous).is_some(),
                    "{name}: the journal covers the previous MODSEQ"
                );
            }
        }
        // A request the journal does not follow drops it: the index answers.
        store
            .rename_mailbox(&user, "Other", "Renamed")
            .await
            .expect("rename");
        assert_eq!(journals.delta(inbox, *seen.last().expect("one")), None);
    }

    #[test]
    fn a_new_journal_covers_only_its_own_modseq() {
        let j = Journal {
            info: info(10),
            entries: VecDeque::new(),
            size: 0,
        };
        assert_eq!(j.delta(9), None);
        assert_eq!(j.delta(10).map(|d| (d.1.len(), d.2.len())), Some((0, 0)));
        assert_eq!(j.delta(11), None);
    }
}
