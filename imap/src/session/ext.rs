//! What a session turned on beyond IMAP4rev1, and the SEARCHRES saved result.
//!
//! - CONDSTORE (RFC 7162 §3.1): on after `ENABLE CONDSTORE` or any
//!   CONDSTORE-enabling command (§3.1: SELECT/EXAMINE (CONDSTORE), STATUS
//!   HIGHESTMODSEQ, FETCH MODSEQ / CHANGEDSINCE, SEARCH MODSEQ, STORE
//!   UNCHANGEDSINCE). From then on every FETCH response that carries FLAGS also
//!   carries MODSEQ (§3.1.4.1, §3.1.3).
//! - QRESYNC (RFC 7162 §3.2): on after `ENABLE QRESYNC` (which implies CONDSTORE,
//!   §3.2.3); expunges are then reported as `* VANISHED uid-set` (§3.2.10).
//! - IMAP4rev2 (RFC 9051 §6.3.1, Appendix A): on after `ENABLE IMAP4rev2`; SEARCH
//!   answers with ESEARCH (§6.4.4), `\Recent` and RECENT are no longer sent
//!   (Appendix E), names are UTF-8 (§5.1).
//! - SEARCHRES (RFC 5182 §2.1): the result of the last `SEARCH RETURN (SAVE)`, kept
//!   as UIDs so that it follows the messages through expunges; emptied by SELECT,
//!   EXAMINE and failed saving searches (§2.1, §2.4). `$` resolves against it.
//!
//! Invariant: `saved` is sorted ascending, without duplicates.

use mailyard_store::Uid;

use super::view::View;
use crate::proto::search::SearchKey;
use crate::proto::sequence::{Sequence, SequenceSet};

/// Per-session extension state.
#[derive(Debug, Default)]
pub(crate) struct Extensions {
    /// RFC 7162 §3.1 CONDSTORE is on.
    pub condstore: bool,
    /// RFC 7162 §3.2 QRESYNC is on.
    pub qresync: bool,
    /// RFC 9051 IMAP4rev2 was enabled.
    pub rev2: bool,
    /// RFC 5182 §2.1 saved search result (UIDs, sorted).
    pub saved: Vec<Uid>,
}

impl Extensions {
    /// Replaces the saved result (RFC 5182 §2.1 SAVE).
    pub(crate) fn save(&mut self, mut uids: Vec<Uid>) {
        uids.sort_unstable();
        uids.dedup();
        self.saved = uids;
    }

    /// The saved result as UIDs (`uid`) or as the message sequence numbers the
    /// saved messages have in `view` now (RFC 5182 §2.1: `$` means the same
    /// messages in UID and in non-UID commands). Saved messages no longer in the
    /// view are left out.
    fn saved_numbers(&self, view: &View, uid: bool) -> Vec<u32> {
        if uid {
            return self
                .saved
                .iter()
                .filter(|u| view.index_of(**u).is_some())
                .map(|u| u.0)
                .collect();
        }
        let mut seqs: Vec<u32> = self
            .saved
            .iter()
            .filter_map(|u| view.index_of(*u))
            .map(|i| u32::try_from(i + 1).unwrap_or(u32::MAX))
            .collect();
        seqs.sort_unstable();
        seqs
    }

    /// A command's sequence-set argument with `$` substituted (RFC 5182 §2.1).
    pub(crate) fn resolve(&self, seq: &Sequence, view: &View, uid: bool) -> SequenceSet {
        match seq {
            Sequence::Set(s) => s.clone(),
            Sequence::Saved => SequenceSet::from_sorted(self.saved_numbers(view, uid)),
            Sequence::SetAndSaved(s) => {
                let mut items = s.items.clone();
                items.extend(SequenceSet::from_sorted(self.saved_numbers(view, uid)).items);
                SequenceSet { items }
            }
        }
    }

    /// A search program with every `$` substituted: `UID $` by the saved UIDs, a
    /// bare `$` by their sequence numbers (RFC 5182 §2.1).
    pub(crate) fn resolve_key(&self, key: SearchKey, view: &View) -> SearchKey {
        match key {
            SearchKey::Uid(s) => SearchKey::Uid(Sequence::Set(self.resolve(&s, view, true))),
            SearchKey::Sequence(s) => {
                SearchKey::Sequence(Sequence::Set(self.resolve(&s, view, false)))
            }
            SearchKey::Not(k) => SearchKey::Not(Box::new(self.resolve_key(*k, view))),
            SearchKey::Or(a, b) => SearchKey::Or(
                Box::new(self.resolve_key(*a, view)),
                Box::new(self.resolve_key(*b, view)),
            ),
            SearchKey::And(keys) => SearchKey::And(
                keys.into_iter()
                    .map(|k| self.resolve_key(k, view))
                    .collect(),
            ),
            other => other,
        }
    }
}
