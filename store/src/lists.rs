//! Each user's mailboxes as LIST shows them (id, name, special-use attribute), kept in
//! memory.
//!
//! Clients send `LIST "" *` again and again (imaptest's mix every other cycle,
//! Thunderbird at every folder check); each one was a hop to a reader thread and a
//! read of the user's rows, though a user's set of mailboxes rarely changes. The
//! session takes the list from here ([`MailboxLists::get`]) and reads the index only
//! when it is not here.
//!
//! Invariants:
//! - An entry is what the index held after the last change to any mailbox set that
//!   was committed: the writer empties the cache after a batch that inserted or deleted
//!   a mailbox row or renamed a mailbox, before that batch is published or answered
//!   ([`MailboxLists::forget_all`]), so the next LIST after its OK reads the index.
//! - A read that overlaps such a change is not kept: [`MailboxLists::fill`] stores it
//!   only if the epoch taken before the read ([`MailboxLists::epoch`]) is still
//!   current, and every [`MailboxLists::forget_all`] moves the epoch.
//! - Another process's change (the CLI creating a mailbox) is noticed by the store's
//!   watcher, which compares every mailbox's id and name at each look
//!   (`changes::WATCH_INTERVAL`) and empties the cache, as it does for the change
//!   journal.
//! - At most [`MAX_LISTED_USERS`] users are kept; past that the cache starts over.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

use crate::index::MailboxInfo;
use crate::model::MailboxId;

/// The most users whose lists are kept at once.
pub const MAX_LISTED_USERS: usize = 10_000;

/// One mailbox as LIST needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMailbox {
    /// Row id (LIST-STATUS reads the mailbox by it).
    pub id: MailboxId,
    /// IMAP name.
    pub name: String,
    /// RFC 6154 attribute.
    pub special_use: Option<String>,
}

impl From<MailboxInfo> for ListedMailbox {
    fn from(m: MailboxInfo) -> ListedMailbox {
        ListedMailbox {
            id: m.id,
            name: m.name,
            special_use: m.special_use,
        }
    }
}

/// The users' lists and the epoch that guards their fills.
#[derive(Default)]
pub struct MailboxLists {
    inner: Mutex<Lists>,
}

#[derive(Default)]
struct Lists {
    epoch: u64,
    by_user: HashMap<String, Arc<[ListedMailbox]>>,
}

impl MailboxLists {
    /// `user`'s mailboxes, when known.
    pub fn get(&self, user: &str) -> Option<Arc<[ListedMailbox]>> {
        self.inner.lock().ok()?.by_user.get(user).cloned()
    }

    /// The epoch to take before reading a list from the index.
    pub fn epoch(&self) -> u64 {
        self.inner.lock().map_or(u64::MAX, |l| l.epoch)
    }

    /// Keeps `list`, read from the index after [`MailboxLists::epoch`] said `epoch`,
    /// unless a change came in between.
    pub fn fill(&self, user: &str, epoch: u64, list: Arc<[ListedMailbox]>) {
        let Ok(mut l) = self.inner.lock() else {
            return;
        };
        if l.epoch != epoch {
            return;
        }
        if l.by_user.len() >= MAX_LISTED_USERS && !l.by_user.contains_key(user) {
            l.by_user.clear();
        }
        l.by_user.insert(user.to_string(), list);
    }

    /// Some mailbox set changed: every list is read from the index again.
    pub(crate) fn forget_all(&self) {
        if let Ok(mut l) = self.inner.lock() {
            l.epoch = l.epoch.wrapping_add(1);
            l.by_user.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Arc<[ListedMailbox]> {
        names
            .iter()
            .zip(1..)
            .map(|(n, id)| ListedMailbox {
                id: MailboxId(id),
                name: (*n).to_string(),
                special_use: None,
            })
            .collect()
    }

    #[test]
    fn a_fill_is_kept_until_a_change() {
        let lists = MailboxLists::default();
        assert!(lists.get("a@x").is_none());
        let e = lists.epoch();
        lists.fill("a@x", e, list(&["INBOX"]));
        assert_eq!(lists.get("a@x"), Some(list(&["INBOX"])));
        lists.forget_all();
        assert!(lists.get("a@x").is_none());
    }

    #[test]
    fn a_read_that_overlapped_a_change_is_dropped() {
        let lists = MailboxLists::default();
        let e = lists.epoch();
        // The writer commits a CREATE while the read is under way.
        lists.forget_all();
        lists.fill("a@x", e, list(&["INBOX"]));
        assert!(lists.get("a@x").is_none(), "a stale read must not be kept");
        let e = lists.epoch();
        lists.fill("a@x", e, list(&["INBOX", "new"]));
        assert_eq!(lists.get("a@x"), Some(list(&["INBOX", "new"])));
    }

    #[test]
    fn the_cache_is_bounded() {
        let lists = MailboxLists::default();
        let e = lists.epoch();
        for n in 0..=MAX_LISTED_USERS {
            lists.fill(&format!("u{n}@x"), e, list(&["INBOX"]));
        }
        let kept = (0..=MAX_LISTED_USERS)
            .filter(|n| lists.get(&format!("u{n}@x")).is_some())
            .count();
        assert!(kept <= MAX_LISTED_USERS, "{kept}");
        assert!(lists.get(&format!("u{MAX_LISTED_USERS}@x")).is_some());
    }
}
