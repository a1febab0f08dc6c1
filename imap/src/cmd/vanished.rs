//! Which UIDs a resynchronizing client must be told are gone: `VANISHED (EARLIER)`
//! for SELECT/EXAMINE (QRESYNC …) (RFC 7162 §3.2.5) and UID FETCH … (CHANGEDSINCE n
//! VANISHED) (RFC 7162 §3.2.6).
//!
//! From the expunged log when it covers the client's MODSEQ; otherwise (the index
//! was rebuilt, losing the log) every UID the client may know that is not in the
//! mailbox, which RFC 7162 §3.2.5.2 allows ("the server MAY send all UIDs … that
//! are not present"), narrowed by the client's sequence-match data when given.

use std::ops::RangeInclusive;

use mailyard_store::{MailboxId, ModSeq, Store, StoreError, Uid};

use crate::proto::sequence::{SeqItem, SeqNumber, SequenceSet};

/// Upper bound on sequence-match pairs examined (the client's data is advisory).
const MAX_SEQ_MATCH_PAIRS: usize = 100_000;

/// RFC 7162 §3.2.5.2: the largest UID up to which the client's sequence numbers
/// still map to the same UIDs, so nothing at or below it was expunged. `present`
/// is the mailbox's UIDs, ascending; pairs are checked in ascending order and the
/// first mismatch stops the walk.
pub(crate) fn seq_match_floor(seqs: &SequenceSet, uids: &SequenceSet, present: &[u32]) -> u32 {
    let mut floor = 0;
    for (s, u) in seqs
        .iter(u32::MAX)
        .zip(uids.iter(u32::MAX))
        .take(MAX_SEQ_MATCH_PAIRS)
    {
        match present.get(s as usize - 1) {
            Some(&p) if p == u => floor = u,
            _ => break,
        }
    }
    floor
}

/// The UIDs of `known` (merged, ascending ranges) below `uidnext` that are not in
/// `present` (ascending), as ranges. Work is proportional to the ranges and the
/// present UIDs, not to the numbers spanned.
fn absent(known: &[RangeInclusive<u32>], present: &[u32], uidnext: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let top = uidnext.saturating_sub(1);
    for r in known {
        let (lo, hi) = (*r.start(), (*r.end()).min(top));
        if lo > hi {
            continue;
        }
        let mut next = lo;
        let start = present.partition_point(|&p| p < lo);
        for &p in present[start..].iter().take_while(|&&p| p <= hi) {
            if p > next {
                out.push((next, p - 1));
            }
            next = p.saturating_add(1);
        }
        if next <= hi && next >= lo {
            out.push((next, hi));
        }
    }
    out
}

fn set_of(ranges: Vec<(u32, u32)>) -> SequenceSet {
    SequenceSet {
        items: ranges
            .into_iter()
            .map(|(a, b)| {
                if a == b {
                    SeqItem::Number(SeqNumber::Value(a))
                } else {
                    SeqItem::Range(SeqNumber::Value(a), SeqNumber::Value(b))
                }
            })
            .collect(),
    }
}

/// UIDs expunged since `since` among `known`. `present` is the mailbox's UIDs now, ascending; `floor` a UID at or below
/// which nothing can have vanished (sequence-match data), 0 when unknown.
pub(crate) async fn vanished_since(
    store: &Store,
    mailbox: MailboxId,
    since: u64,
    known: &[RangeInclusive<u32>],
    present: &[u32],
    uidnext: u32,
    floor: u32,
) -> Result<SequenceSet, StoreError> {
    let (log_floor, logged) = store.expunge_log(mailbox, ModSeq(since)).await?;
    let log_covers = log_floor.is_some_and(|f| since.saturating_add(1) >= f);
    if log_covers {
        let in_known = |u: &Uid| known.iter().any(|r| r.contains(&u.0));
        let uids: Vec<u32> = logged
            .iter()
            .filter(|u| in_known(u) && present.binary_search(&u.0).is_err())
            .map(|u| u.0)
            .collect();
        return Ok(SequenceSet::from_sorted(uids));
    }
    let narrowed: Vec<RangeInclusive<u32>> = known
        .iter()
        .filter_map(|r| {
            let lo = (*r.start()).max(floor.saturating_add(1));
            (lo <= *r.end()).then_some(lo..=*r.end())
        })
        .collect();
    Ok(set_of(absent(&narrowed, present, uidnext)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::sequence::{Sequence, parse_sequence};

    fn set(s: &str) -> SequenceSet {
        match parse_sequence(s.as_bytes()) {
            Ok(Sequence::Set(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absent_ranges() {
        let present = [2, 3, 7, 10];
        assert_eq!(
            absent(&[1..=12], &present, 11),
            vec![(1, 1), (4, 6), (8, 9)]
        );
        assert_eq!(absent(&[3..=3, 5..=5], &present, 11), vec![(5, 5)]);
        assert_eq!(absent(&[1..=u32::MAX], &[], 4), vec![(1, 3)]);
        assert!(absent(&[20..=30], &present, 11).is_empty());
        assert_eq!(set_of(vec![(1, 1), (4, 6)]).to_wire(), "1,4:6");
    }

    #[test]
    fn seq_match() {
        // RFC 7162 §3.2.5.2 style: the client's 1..4 → 10,20,30,40; 20 is gone now.
        let present = [10, 30, 40];
        assert_eq!(
            seq_match_floor(&set("1:4"), &set("10,20,30,40"), &present),
            10
        );
        assert_eq!(
            seq_match_floor(&set("1,3"), &set("10,40"), &[10, 30, 40]),
            40
        );
        assert_eq!(seq_match_floor(&set("5"), &set("50"), &present), 0);
    }
}
