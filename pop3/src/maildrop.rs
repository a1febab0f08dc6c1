//! The maildrop (RFC 1939 §3): the user's INBOX as it was at login, numbered from 1,
//! with the DELE marks of this session; and the lock that keeps a second POP3 session
//! out of it (RFC 2449 §8.1.2 `[IN-USE]`).
//!
//! Invariants: the numbering never changes during a session (messages expunged
//! meanwhile by IMAP keep their numbers, and reading one answers `-ERR`, as Dovecot
//! does); nothing is removed from the store before QUIT (RFC 1939 §6).
//!
//! Sizes (STAT, LIST) are the octets of the message in CRLF form before dot-stuffing
//! — the index's RFC822.SIZE, the same figure Dovecot reports (its virtual size,
//! `,W=`): RFC 1939 §5 (LIST note) lets the size differ from what RETR sends once
//! stuffed, and CRLF form is exactly what RETR sends apart from the stuffing.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use mailyard_store::{Address, MailboxId, MessageInfo, Uid};

use crate::proto::response::unique_id;

/// Why a message number names no message the client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No message has that number.
    NoSuch,
    /// DELE marked it in this session.
    Deleted,
}

impl Missing {
    /// The reply text.
    pub fn text(self) -> &'static str {
        match self {
            Missing::NoSuch => "No such message",
            Missing::Deleted => "Message is deleted",
        }
    }
}

/// The snapshot taken at login.
#[derive(Debug)]
pub struct Maildrop {
    /// The INBOX.
    pub mailbox: MailboxId,
    uidvalidity: u32,
    messages: Vec<MessageInfo>,
    deleted: Vec<bool>,
}

impl Maildrop {
    /// The INBOX `mailbox` with its UIDVALIDITY and messages (UID order).
    pub fn new(mailbox: MailboxId, uidvalidity: u32, messages: Vec<MessageInfo>) -> Self {
        let deleted = vec![false; messages.len()];
        Maildrop {
            mailbox,
            uidvalidity,
            messages,
            deleted,
        }
    }

    /// RFC 1939 §5 STAT: messages not marked deleted, and their octets.
    pub fn stat(&self) -> (usize, u64) {
        self.listing()
            .fold((0, 0), |(n, size), (_, m)| (n + 1, size + m.size))
    }

    /// Message `n` (from 1), unless there is none or it is marked deleted.
    pub fn get(&self, n: u32) -> Result<&MessageInfo, Missing> {
        let i = (n as usize).checked_sub(1).ok_or(Missing::NoSuch)?;
        match (self.messages.get(i), self.deleted.get(i)) {
            (Some(_), Some(true)) => Err(Missing::Deleted),
            (Some(m), _) => Ok(m),
            (None, _) => Err(Missing::NoSuch),
        }
    }

    /// RFC 1939 §5 DELE: marks message `n`.
    pub fn delete(&mut self, n: u32) -> Result<(), Missing> {
        self.get(n)?;
        self.deleted[n as usize - 1] = true;
        Ok(())
    }

    /// RFC 1939 §5 RSET: unmarks every message.
    pub fn reset(&mut self) {
        self.deleted.iter_mut().for_each(|d| *d = false);
    }

    /// The messages not marked deleted, with their numbers.
    pub fn listing(&self) -> impl Iterator<Item = (u32, &MessageInfo)> {
        self.messages
            .iter()
            .zip(&self.deleted)
            .enumerate()
            .filter(|(_, (_, d))| !**d)
            .map(|(i, (m, _))| (i as u32 + 1, m))
    }

    /// The UIDs marked deleted (what QUIT expunges).
    pub fn deleted_uids(&self) -> Vec<Uid> {
        self.messages
            .iter()
            .zip(&self.deleted)
            .filter(|(_, d)| **d)
            .map(|(m, _)| m.uid)
            .collect()
    }

    /// The number of messages in the snapshot, deleted or not.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the snapshot has no message.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// RFC 1939 §7 UIDL: the unique-id of `m`.
    pub fn unique_id(&self, m: &MessageInfo) -> String {
        unique_id(self.uidvalidity, m.uid.0)
    }
}

/// The maildrops open in this process, by user (RFC 1939 §8: "the POP3 server
/// acquires an exclusive-access lock on the maildrop").
#[derive(Debug, Clone, Default)]
pub struct Locks(Arc<Mutex<HashSet<String>>>);

/// One held lock; dropping it (QUIT, disconnect, a dropped session) releases it.
#[derive(Debug)]
pub struct Lock {
    locks: Locks,
    user: String,
}

impl Locks {
    /// The lock on `user`'s maildrop, or None when another session holds it.
    pub fn try_lock(&self, user: &Address) -> Option<Lock> {
        let key = user.to_string().to_lowercase();
        let mut held = self.0.lock().ok()?;
        if !held.insert(key.clone()) {
            return None;
        }
        Some(Lock {
            locks: self.clone(),
            user: key,
        })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Ok(mut held) = self.locks.0.lock() {
            held.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailyard_store::{FlagSet, ModSeq};

    fn msg(uid: u32, size: u64) -> MessageInfo {
        MessageInfo {
            uid: Uid(uid),
            base: format!("m{uid}"),
            in_new: false,
            size,
            internaldate: 0,
            flags: FlagSet::default(),
            modseq: ModSeq(1),
        }
    }

    #[test]
    fn numbering_marks_and_reset() {
        let mut d = Maildrop::new(MailboxId(1), 7, vec![msg(3, 100), msg(5, 20), msg(9, 3)]);
        assert_eq!(d.stat(), (3, 123));
        assert_eq!(d.get(2).map(|m| m.uid), Ok(Uid(5)));
        assert_eq!(d.get(0).err(), Some(Missing::NoSuch));
        assert_eq!(d.get(4).err(), Some(Missing::NoSuch));
        assert_eq!(d.get(u32::MAX).err(), Some(Missing::NoSuch));
        assert_eq!(d.delete(2), Ok(()));
        assert_eq!(d.delete(2), Err(Missing::Deleted));
        assert_eq!(d.get(2).err(), Some(Missing::Deleted));
        assert_eq!(d.stat(), (2, 103));
        // Numbers never shift: message 3 is still 3.
        let listed: Vec<u32> = d.listing().map(|(n, _)| n).collect();
        assert_eq!(listed, [1, 3]);
        assert_eq!(d.deleted_uids(), [Uid(5)]);
        assert_eq!(d.unique_id(d.get(3).expect("3")), "0000000700000009");
        d.reset();
        assert_eq!(d.stat(), (3, 123));
        assert!(d.deleted_uids().is_empty());
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn one_session_per_maildrop() {
        let locks = Locks::default();
        let alice = Address::parse("alice@example.com").expect("address");
        let bob = Address::parse("bob@example.com").expect("address");
        let held = locks.try_lock(&alice).expect("first");
        assert!(locks.try_lock(&alice).is_none(), "second refused");
        assert!(locks.try_lock(&bob).is_some(), "another user");
        drop(held);
        assert!(locks.try_lock(&alice).is_some(), "released on drop");
    }
}
