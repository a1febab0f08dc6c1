//! The stored shapes and header blocks FETCH reads, kept in memory: the blob cache.
//!
//! A message list's FETCH (ENVELOPE, BODYSTRUCTURE, the list's header fields) needs, per
//! message, its shape and its cached header block from the index. Read through SQLite
//! that is a hop to a reader thread and back, and, because every write resets each
//! connection's page cache, a fresh read of every page involved. Both blobs never change
//! once a message is stored (its UID names that content for good, RFC 9051 §2.3.1.1),
//! so [`crate::Store::fetch_messages`] keeps what it read here, and the next FETCH of
//! the same messages that needs nothing else (no file) is answered without a hop.
//! Shapes are kept decoded ([`StoredShape`]). The whole file of a small message (at
//! most [`BODY_CACHE_MAX_BYTES`]) is kept too, read whole by a FETCH that opened it or
//! given by the delivery, so a FETCH of `BODY[]`, `BODY[HEADER]`, `BODY[1]` … of
//! recent small mail needs no file and no hop either: a file never changes under its
//! name's base either (the content of a UID is fixed).
//!
//! Invariants:
//! - An entry holds exactly what the index held for that message; only reads of the
//!   index fill it, and only for rows that exist. A read that overlapped a forgetting
//!   (an expunge committed, the cache or its mailbox emptied) fills nothing for that
//!   mailbox ([`BlobCache::epoch`]): it may have read a message that is gone now.
//! - A message expunged by this process's writer leaves the cache before the expunge is
//!   published or answered ([`BlobCache::forget`]), so a FETCH after another session's
//!   EXPUNGE OK hops to the index and answers as it always did (RFC 2180 §4.1.2);
//!   requests the change journal does not follow (reindex, rename, delete …) empty the
//!   whole cache, and a write by another process empties the mailbox's entries
//!   ([`BlobCache::other_process`]).
//! - At most [`BLOB_CACHE_BYTES`] of blobs; the least recently used go first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use hashlink::LinkedHashMap;
use mailyard_message::shape::Shape;

use crate::model::{MailboxId, Uid};

/// The most bytes of shapes and header blocks the cache keeps.
pub const BLOB_CACHE_BYTES: usize = 32 << 20;

/// Bookkeeping per entry, beside its blobs (key, map links, two `Arc` headers).
const ENTRY_OVERHEAD: usize = 96;

/// The largest message whose whole file the cache keeps (for FETCH of its body or
/// header, `BODY[]`, `BODY[HEADER]`, `BODY[1]`, … without opening the file).
pub const BODY_CACHE_MAX_BYTES: u64 = 16 << 10;

/// What a shape counts for, per byte of its stored form: the stored bytes and, once
/// decoded, the [`Shape`] (its strings are as long as in the stored form; its fixed
/// parts, spans and counts, take about twice the stored bytes again), and the
/// renderings a reader keeps with it ([`StoredShape::derived`]: IMAP's ENVELOPE,
/// BODY and BODYSTRUCTURE, together about three times the stored bytes again).
const SHAPE_WEIGHT: usize = 8;

/// How many renderings of one shape [`StoredShape::derived`] keeps.
pub const DERIVED_SLOTS: usize = 6;

/// A message's stored shape (`mailyard_message::codec`) as FETCH gets it: decoded at
/// most once, however many FETCHes read it from the cache.
pub struct StoredShape {
    bytes: Box<[u8]>,
    decoded: OnceLock<Option<Arc<Shape>>>,
    derived: [OnceLock<Box<[u8]>>; DERIVED_SLOTS],
}

impl StoredShape {
    pub(crate) fn new(bytes: impl Into<Box<[u8]>>) -> StoredShape {
        StoredShape {
            bytes: bytes.into(),
            decoded: OnceLock::new(),
            derived: Default::default(),
        }
    }

    /// Bytes a reader derives from the shape alone (a protocol's rendering of it),
    /// made at most once per cached shape and kept as long as the shape is: the same
    /// message's shape never changes, and the shape leaves the cache when the message
    /// does. What `slot` (below [`DERIVED_SLOTS`]) holds is the caller's to decide;
    /// the store never reads it. None when the shape cannot be decoded or `slot` is
    /// out of range (the caller renders for itself).
    pub fn derived(&self, slot: usize, make: impl FnOnce(&Shape) -> Vec<u8>) -> Option<&[u8]> {
        let shape = self.shape()?;
        Some(self.derived.get(slot)?.get_or_init(|| make(shape).into()))
    }

    /// The shape; `None` when this build cannot read the stored form (the caller
    /// parses the file instead).
    pub fn shape(&self) -> Option<&Arc<Shape>> {
        self.decoded
            .get_or_init(|| {
                mailyard_message::codec::decode(&self.bytes)
                    .ok()
                    .map(Arc::new)
            })
            .as_ref()
    }

    /// The stored form.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A message's shape and header block as the index has them, per FETCH.
pub type BlobPairs = Vec<(Option<Arc<StoredShape>>, Option<Arc<[u8]>>)>;

#[derive(Default)]
struct Entry {
    /// The stored shape (None: not read yet).
    shape: Option<Arc<StoredShape>>,
    /// The header block (None: not read yet; Some(None): the message has none).
    headers: Option<Option<Arc<[u8]>>>,
    /// The whole file as stored, for a message of at most [`BODY_CACHE_MAX_BYTES`].
    body: Option<Arc<[u8]>>,
}

impl Entry {
    fn bytes(&self) -> usize {
        ENTRY_OVERHEAD
            + self.body.as_ref().map_or(0, |b| b.len())
            + self
                .shape
                .as_ref()
                .map_or(0, |s| SHAPE_WEIGHT * s.bytes.len())
            + self
                .headers
                .as_ref()
                .and_then(Option::as_ref)
                .map_or(0, |h| h.len())
    }
}

#[derive(Default)]
struct Inner {
    map: LinkedHashMap<(MailboxId, Uid), Entry>,
    bytes: usize,
    /// Each mailbox's HIGHESTMODSEQ as this process's writer last committed it.
    committed: HashMap<MailboxId, u64>,
    /// Forgettings so far: of everything (`clear`), and per mailbox.
    cleared: u64,
    forgotten: HashMap<MailboxId, u64>,
}

impl Inner {
    fn epoch(&self, mailbox: MailboxId) -> Epoch {
        Epoch(
            self.cleared,
            self.forgotten.get(&mailbox).copied().unwrap_or(0),
        )
    }

    /// Something of `mailbox` was forgotten: reads begun before fill nothing.
    fn forgetting(&mut self, mailbox: MailboxId) {
        *self.forgotten.entry(mailbox).or_insert(0) += 1;
    }

    /// Sets what is known of `key` (`shape`, `block`: None for not read), most
    /// recently used, then drops the least recently used past the budget.
    fn put(
        &mut self,
        key: (MailboxId, Uid),
        shape: Option<&Arc<StoredShape>>,
        block: Option<Option<&Arc<[u8]>>>,
        body: Option<&Arc<[u8]>>,
    ) {
        let mut e = match self.map.remove(&key) {
            Some(e) => {
                self.bytes -= e.bytes();
                e
            }
            None => Entry::default(),
        };
        if let Some(s) = shape {
            e.shape = Some(s.clone());
        }
        if let Some(b) = block {
            e.headers = Some(b.cloned());
        }
        if let Some(b) = body.filter(|b| b.len() as u64 <= BODY_CACHE_MAX_BYTES) {
            e.body = Some(b.clone());
        }
        self.bytes += e.bytes();
        self.map.insert(key, e);
        while self.bytes > BLOB_CACHE_BYTES {
            let Some((_, old)) = self.map.pop_front() else {
                break;
            };
            self.bytes -= old.bytes();
        }
    }

    fn remove(&mut self, key: &(MailboxId, Uid)) {
        if let Some(e) = self.map.remove(key) {
            self.bytes -= e.bytes();
        }
    }
}

/// See the module documentation.
#[derive(Default)]
pub struct BlobCache {
    inner: Mutex<Inner>,
}

/// What [`BlobCache::epoch`] saw before a read of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Epoch(u64, u64);

impl BlobCache {
    /// Taken before reading the index for [`BlobCache::fill`]: a fill whose epoch is no
    /// longer current for its mailbox is dropped.
    pub(crate) fn epoch(&self, mailbox: MailboxId) -> Epoch {
        self.inner
            .lock()
            .map_or(Epoch(u64::MAX, u64::MAX), |i| i.epoch(mailbox))
    }

    /// The blobs of every one of `uids` (shapes when `shapes`, header blocks when
    /// `headers`), in order, or None unless the cache has all of them.
    pub(crate) fn get(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        shapes: bool,
        headers: bool,
    ) -> Option<BlobPairs> {
        let mut inner = self.inner.lock().ok()?;
        let mut out = Vec::with_capacity(uids.len());
        for &uid in uids {
            let key = (mailbox, uid);
            let e = inner.map.get(&key)?;
            let shape = match (shapes, &e.shape) {
                (false, _) => None,
                (true, Some(s)) => Some(s.clone()),
                (true, None) => return None,
            };
            let block = match (headers, &e.headers) {
                (false, _) => None,
                (true, Some(h)) => h.clone(),
                (true, None) => return None,
            };
            out.push((shape, block));
        }
        for &uid in uids {
            inner.map.to_back(&(mailbox, uid));
        }
        Some(out)
    }

    /// Keeps what one read of the index gave for `uids` (`shapes`/`headers` when that
    /// kind was read). A message is kept only when the read shows it exists: its shape
    /// row, or (headers alone) its header block.
    /// `epoch`: [`BlobCache::epoch`] before the read.
    pub(crate) fn fill(
        &self,
        mailbox: MailboxId,
        epoch: Epoch,
        uids: &[Uid],
        shapes: Option<&[Option<Arc<StoredShape>>]>,
        headers: Option<&[Option<Arc<[u8]>>]>,
    ) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.epoch(mailbox) != epoch {
            return;
        }
        for (i, &uid) in uids.iter().enumerate() {
            let shape = shapes.and_then(|s| s.get(i));
            let block = headers.and_then(|h| h.get(i));
            let exists = match shape {
                Some(s) => s.is_some(),
                None => block.is_some_and(Option::is_some),
            };
            if exists {
                inner.put(
                    (mailbox, uid),
                    shape.and_then(Option::as_ref),
                    block.map(Option::as_ref),
                    None,
                );
            }
        }
    }

    /// A message this process's writer just stored, with its shape and header block
    /// (`None`: it has none), as the index now has them, and its file when it is
    /// small (`body`).
    pub(crate) fn stored(
        &self,
        mailbox: MailboxId,
        uid: Uid,
        shape: &[u8],
        block: Option<&[u8]>,
        body: Option<&Arc<[u8]>>,
    ) {
        let shape = Arc::new(StoredShape::new(shape));
        let block = block.map(Arc::<[u8]>::from);
        if let Ok(mut inner) = self.inner.lock() {
            inner.put((mailbox, uid), Some(&shape), Some(block.as_ref()), body);
        }
    }

    /// The whole file of a message, when the cache has it.
    pub(crate) fn body(&self, mailbox: MailboxId, uid: Uid) -> Option<Arc<[u8]>> {
        let mut inner = self.inner.lock().ok()?;
        let body = inner.map.get(&(mailbox, uid))?.body.clone()?;
        inner.map.to_back(&(mailbox, uid));
        Some(body)
    }

    /// Keeps the whole file of a message a reader thread read (`epoch`: taken before
    /// the read, as for [`BlobCache::fill`]).
    pub(crate) fn fill_body(&self, mailbox: MailboxId, epoch: Epoch, uid: Uid, body: &Arc<[u8]>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.epoch(mailbox) == epoch {
            inner.put((mailbox, uid), None, None, Some(body));
        }
    }

    /// `uids` of `mailbox` were expunged (by this process's writer, just committed).
    pub(crate) fn forget(&self, mailbox: MailboxId, uids: impl IntoIterator<Item = Uid>) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.forgetting(mailbox);
            for uid in uids {
                inner.remove(&(mailbox, uid));
            }
        }
    }

    /// Empties the cache.
    pub(crate) fn clear(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.map.clear();
            inner.bytes = 0;
            inner.cleared += 1;
        }
    }

    /// This process's writer committed `mailbox` at `modseq`.
    pub(crate) fn committed(&self, mailbox: MailboxId, modseq: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            let m = inner.committed.entry(mailbox).or_insert(0);
            *m = (*m).max(modseq);
        }
    }

    /// The watcher saw `mailbox` at `modseq`: beyond what this process's writer
    /// committed, another process wrote it (and may have expunged), so its entries go.
    pub(crate) fn other_process(&self, mailbox: MailboxId, modseq: u64) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.committed.get(&mailbox).is_some_and(|&m| m >= modseq) {
            return;
        }
        inner.forgetting(mailbox);
        let gone: Vec<(MailboxId, Uid)> = inner
            .map
            .keys()
            .filter(|(id, _)| *id == mailbox)
            .copied()
            .collect();
        for key in gone {
            inner.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: MailboxId = MailboxId(3);

    fn blob(n: usize) -> Option<Vec<u8>> {
        Some(vec![7; n])
    }

    fn shapes(bytes: &[Option<Vec<u8>>]) -> Vec<Option<Arc<StoredShape>>> {
        bytes
            .iter()
            .map(|b| b.clone().map(|b| Arc::new(StoredShape::new(b))))
            .collect()
    }

    fn blocks(bytes: &[Option<Vec<u8>>]) -> Vec<Option<Arc<[u8]>>> {
        bytes.iter().map(|b| b.as_deref().map(Arc::from)).collect()
    }

    /// A shape's and a header block's bytes.
    type Pair = (Option<Vec<u8>>, Option<Vec<u8>>);

    /// What `get` answered, as bytes.
    fn bytes(got: Option<BlobPairs>) -> Option<Vec<Pair>> {
        got.map(|v| {
            v.into_iter()
                .map(|(s, b)| (s.map(|s| s.bytes().to_vec()), b.map(|b| b.to_vec())))
                .collect()
        })
    }

    #[test]
    fn a_fetch_is_answered_only_when_every_message_and_kind_is_cached() {
        let c = BlobCache::default();
        let uids = [Uid(1), Uid(2)];
        // Shapes read, headers not: uid 2's row is gone.
        c.fill(M, c.epoch(M), &uids, Some(&shapes(&[blob(10), None])), None);
        assert!(c.get(M, &uids[..1], true, false).is_some());
        assert!(
            c.get(M, &uids[..1], true, true).is_none(),
            "headers not read"
        );
        assert!(c.get(M, &uids, true, false).is_none(), "uid 2 is not kept");
        // Both read for uid 1; uid 1 has no header block.
        c.fill(
            M,
            c.epoch(M),
            &uids[..1],
            Some(&shapes(&[blob(10)])),
            Some(&blocks(&[None])),
        );
        assert_eq!(
            bytes(c.get(M, &uids[..1], true, true)),
            Some(vec![(blob(10), None)])
        );
        // Headers alone: kept only where a block shows the message exists.
        c.fill(
            M,
            c.epoch(M),
            &[Uid(5), Uid(6)],
            None,
            Some(&blocks(&[blob(4), None])),
        );
        assert_eq!(
            bytes(c.get(M, &[Uid(5)], false, true)),
            Some(vec![(None, blob(4))])
        );
        assert!(c.get(M, &[Uid(5)], true, true).is_none(), "shape not read");
        assert!(c.get(M, &[Uid(6)], false, true).is_none());
        assert!(c.get(MailboxId(4), &[Uid(5)], false, true).is_none());
    }

    #[test]
    fn expunged_and_foreign_writes_leave_the_cache() {
        let c = BlobCache::default();
        c.fill(
            M,
            c.epoch(M),
            &[Uid(1), Uid(2)],
            Some(&shapes(&[blob(1), blob(1)])),
            None,
        );
        c.forget(M, [Uid(1)]);
        assert!(c.get(M, &[Uid(1)], true, false).is_none());
        assert!(c.get(M, &[Uid(2)], true, false).is_some());
        // The watcher reports what this process's writer committed: nothing goes.
        c.committed(M, 9);
        c.other_process(M, 9);
        assert!(c.get(M, &[Uid(2)], true, false).is_some());
        // Beyond it: another process wrote the mailbox.
        c.other_process(M, 10);
        assert!(c.get(M, &[Uid(2)], true, false).is_none());
    }

    /// A read that began before an expunge may hold the expunged message: it fills
    /// nothing for that mailbox (other mailboxes' reads still fill).
    #[test]
    fn a_read_that_overlapped_a_forgetting_fills_nothing() {
        let c = BlobCache::default();
        let before = c.epoch(M);
        let other = c.epoch(MailboxId(4));
        // A read of uid 1's shape in `mailbox` that began at `epoch`.
        let read =
            |mailbox, epoch| c.fill(mailbox, epoch, &[Uid(1)], Some(&shapes(&[blob(1)])), None);
        c.forget(M, [Uid(1)]);
        read(M, before);
        assert!(c.get(M, &[Uid(1)], true, false).is_none());
        read(MailboxId(4), other);
        assert!(c.get(MailboxId(4), &[Uid(1)], true, false).is_some());
        let before = c.epoch(MailboxId(4));
        c.clear();
        read(MailboxId(4), before);
        assert!(c.get(MailboxId(4), &[Uid(1)], true, false).is_none());
        read(M, c.epoch(M));
        assert!(c.get(M, &[Uid(1)], true, false).is_some());
    }

    #[test]
    fn the_least_recently_used_go_past_the_budget() {
        let c = BlobCache::default();
        let size = 1 << 20;
        let n = BLOB_CACHE_BYTES / (SHAPE_WEIGHT * size) + 4;
        for u in 0..n as u32 {
            c.fill(M, c.epoch(M), &[Uid(u)], Some(&shapes(&[blob(size)])), None);
            if u > 0 {
                // Uid 0 stays in use.
                assert!(c.get(M, &[Uid(0)], true, false).is_some(), "at {u}");
            }
        }
        let inner = c.inner.lock().expect("lock");
        assert!(inner.bytes <= BLOB_CACHE_BYTES);
        assert!(inner.map.contains_key(&(M, Uid(0))));
        assert!(!inner.map.contains_key(&(M, Uid(1))));
    }

    const RAW: &[u8] = b"From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n";

    /// [`RAW`]'s shape in its stored form.
    fn encoded_shape() -> Vec<u8> {
        mailyard_message::codec::encode(&Shape::parse(RAW))
    }

    /// A shape read from the cache is decoded once: every later FETCH gets the same
    /// decoded shape.
    #[test]
    fn a_cached_shape_is_decoded_once() {
        let c = BlobCache::default();
        c.stored(M, Uid(1), &encoded_shape(), None, None);
        let first = c.get(M, &[Uid(1)], true, false).expect("cached");
        let second = c.get(M, &[Uid(1)], true, false).expect("cached");
        let decoded = |v: &BlobPairs| v[0].0.as_ref().and_then(|s| s.shape()).cloned();
        let (a, b) = (
            decoded(&first).expect("decodes"),
            decoded(&second).expect("decodes"),
        );
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(*a, Shape::parse(RAW));
        // A stored form this build cannot read gives no shape (the file is parsed).
        assert!(StoredShape::new(vec![0xff, 0]).shape().is_none());
    }

    #[test]
    fn a_derived_rendering_is_made_once_per_slot() {
        let stored = StoredShape::new(encoded_shape());
        let made = std::cell::Cell::new(0);
        let render = |tag: &'static [u8]| {
            let made = &made;
            move |_: &Shape| {
                made.set(made.get() + 1);
                tag.to_vec()
            }
        };
        assert_eq!(stored.derived(0, render(b"zero")), Some(&b"zero"[..]));
        assert_eq!(stored.derived(0, render(b"again")), Some(&b"zero"[..]));
        assert_eq!(stored.derived(1, render(b"one")), Some(&b"one"[..]));
        assert_eq!(made.get(), 2);
        assert_eq!(stored.derived(DERIVED_SLOTS, render(b"x")), None);
        let unreadable = StoredShape::new(vec![0xff, 0]);
        assert_eq!(unreadable.derived(0, render(b"x")), None);
        assert_eq!(made.get(), 2);
    }
}
