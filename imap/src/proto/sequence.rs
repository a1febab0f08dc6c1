//! Sequence sets: RFC 9051 §9 `sequence-set` (message sequence numbers or
//! UIDs), with `*`, ranges written in either order (RFC 9051 §9: "3:1" is
//! the same as "1:3") and `$`, the saved search result (RFC 5182 §2.1).
//!
//! A set is kept as written; [`SequenceSet::ranges`] resolves `*` against
//! the largest number in use and gives sorted, merged, inclusive ranges, and
//! [`SequenceSet::iter`] walks them without allocating per element, so
//! `1:*` over 100 000 messages costs one range.

use std::ops::RangeInclusive;

use super::parser::{PResult, Parser};

/// RFC 9051 §9 `seq-number` = nz-number / "*".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNumber {
    /// An explicit number (never 0).
    Value(u32),
    /// `*`: the largest number in use (RFC 9051 §9).
    Star,
}

impl SeqNumber {
    fn resolve(self, max: u32) -> u32 {
        match self {
            SeqNumber::Value(n) => n,
            SeqNumber::Star => max,
        }
    }
}

/// One element of a sequence set: a number or a range `a:b` (either order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqItem {
    /// `n` or `*`.
    Number(SeqNumber),
    /// `a:b`, RFC 9051 §9 `seq-range`.
    Range(SeqNumber, SeqNumber),
}

/// A concrete sequence set (no `$`). RFC 9051 §9 `sequence-set`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceSet {
    /// The elements as written (at least one when parsed).
    pub items: Vec<SeqItem>,
}

/// A sequence-set argument as a command carries it: either a set or `$`,
/// the result saved by the last `SEARCH RETURN (SAVE)` (RFC 5182 §2.1),
/// which the session substitutes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sequence {
    /// An explicit set.
    Set(SequenceSet),
    /// `$` (RFC 5182).
    Saved,
    /// `set,$`: an explicit set and the saved result (RFC 5182 §4: `$` may
    /// end a `sequence-set`, e.g. `1:3,$`).
    SetAndSaved(SequenceSet),
}

impl SequenceSet {
    /// A set of one range `a:b`.
    pub fn range(a: u32, b: u32) -> Self {
        SequenceSet {
            items: vec![SeqItem::Range(SeqNumber::Value(a), SeqNumber::Value(b))],
        }
    }

    /// Whether `n` is in the set, `*` being `max`. Numbers outside
    /// `1..=max` are never contained (with `max == 0` the set is empty).
    /// RFC 9051 §9: "n:*" with n > max still includes `max`.
    pub fn contains(&self, n: u32, max: u32) -> bool {
        if n == 0 || n > max {
            return false;
        }
        self.items.iter().any(|item| {
            let (lo, hi) = bounds(item, max);
            lo <= n && n <= hi
        })
    }

    /// The set resolved against `max` (the largest number in use):
    /// sorted, merged, clipped to `1..=max`.
    pub fn ranges(&self, max: u32) -> Vec<RangeInclusive<u32>> {
        let mut v: Vec<(u32, u32)> = self
            .items
            .iter()
            .map(|item| bounds(item, max))
            .filter_map(|(lo, hi)| {
                let hi = hi.min(max);
                (lo <= hi).then_some((lo.max(1), hi))
            })
            .collect();
        v.sort_unstable();
        let mut out: Vec<RangeInclusive<u32>> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.end().saturating_add(1) => {
                    if hi > *last.end() {
                        *last = *last.start()..=hi;
                    }
                }
                _ => out.push(lo..=hi),
            }
        }
        out
    }

    /// Every number of the set in `1..=max`, ascending, each once. Allocates
    /// the merged range list once, nothing per element.
    pub fn iter(&self, max: u32) -> impl Iterator<Item = u32> + use<> {
        self.ranges(max).into_iter().flatten()
    }

    /// The largest explicit number in the set (ignoring `*`), so the session
    /// can reject message numbers beyond the mailbox size (RFC 9051 §6.4.5
    /// "invalid sequence number").
    pub fn max_explicit(&self) -> Option<u32> {
        self.items
            .iter()
            .flat_map(|item| match *item {
                SeqItem::Number(a) => [Some(a), None],
                SeqItem::Range(a, b) => [Some(a), Some(b)],
            })
            .flatten()
            .filter_map(|n| match n {
                SeqNumber::Value(v) => Some(v),
                SeqNumber::Star => None,
            })
            .max()
    }

    /// Whether `*` appears in the set (QRESYNC's known-uids may not hold it,
    /// RFC 7162 §3.2.5).
    pub fn has_star(&self) -> bool {
        self.items.iter().any(|item| match *item {
            SeqItem::Number(n) => n == SeqNumber::Star,
            SeqItem::Range(a, b) => a == SeqNumber::Star || b == SeqNumber::Star,
        })
    }

    /// Builds a set from sorted numbers, compressing runs into ranges, for
    /// responses such as COPYUID (RFC 4315 §3) or ESEARCH ALL.
    pub fn from_sorted(numbers: impl IntoIterator<Item = u32>) -> Self {
        let mut items: Vec<SeqItem> = Vec::new();
        let mut run: Option<(u32, u32)> = None;
        let flush = |items: &mut Vec<SeqItem>, (a, b): (u32, u32)| {
            items.push(if a == b {
                SeqItem::Number(SeqNumber::Value(a))
            } else {
                SeqItem::Range(SeqNumber::Value(a), SeqNumber::Value(b))
            })
        };
        for n in numbers {
            run = match run {
                Some((a, b)) if b.checked_add(1) == Some(n) => Some((a, n)),
                Some(r) => {
                    flush(&mut items, r);
                    Some((n, n))
                }
                None => Some((n, n)),
            };
        }
        if let Some(r) = run {
            flush(&mut items, r);
        }
        SequenceSet { items }
    }

    /// The wire form, e.g. `1:3,5,7:*`.
    pub fn to_wire(&self) -> String {
        fn num(n: SeqNumber) -> String {
            match n {
                SeqNumber::Value(v) => v.to_string(),
                SeqNumber::Star => "*".to_owned(),
            }
        }
        let parts: Vec<String> = self
            .items
            .iter()
            .map(|item| match *item {
                SeqItem::Number(a) => num(a),
                SeqItem::Range(a, b) => format!("{}:{}", num(a), num(b)),
            })
            .collect();
        parts.join(",")
    }
}

/// Inclusive bounds of one item, `*` resolved, in ascending order.
fn bounds(item: &SeqItem, max: u32) -> (u32, u32) {
    match *item {
        SeqItem::Number(a) => {
            let a = a.resolve(max);
            (a, a)
        }
        SeqItem::Range(a, b) => {
            let (a, b) = (a.resolve(max), b.resolve(max));
            (a.min(b), a.max(b))
        }
    }
}

impl Parser<'_> {
    fn seq_number(&mut self) -> PResult<SeqNumber> {
        if self.eat(b'*') {
            Ok(SeqNumber::Star)
        } else {
            Ok(SeqNumber::Value(self.nz_number()?))
        }
    }

    /// The elements of a `sequence-set`; with `allow_saved`, a final `,$`
    /// (RFC 5182 §4) ends it and is reported as `true`.
    fn seq_items(&mut self, allow_saved: bool) -> PResult<(SequenceSet, bool)> {
        let mut items = Vec::new();
        loop {
            let a = self.seq_number()?;
            if self.eat(b':') {
                items.push(SeqItem::Range(a, self.seq_number()?));
            } else {
                items.push(SeqItem::Number(a));
            }
            if !self.eat(b',') {
                return Ok((SequenceSet { items }, false));
            }
            if allow_saved && self.eat(b'$') {
                return Ok((SequenceSet { items }, true));
            }
        }
    }

    /// RFC 9051 §9 `sequence-set` without `$`.
    pub(crate) fn sequence_set(&mut self) -> PResult<SequenceSet> {
        Ok(self.seq_items(false)?.0)
    }

    /// RFC 9051 §9 `sequence-set` including `$` (RFC 5182 §4
    /// `sequence-set =/ seq-last-command`): the whole set, or the last
    /// element after explicit ones (`1:3,$`).
    pub(crate) fn sequence(&mut self) -> PResult<Sequence> {
        if self.eat(b'$') {
            return Ok(Sequence::Saved);
        }
        Ok(match self.seq_items(true)? {
            (set, false) => Sequence::Set(set),
            (set, true) => Sequence::SetAndSaved(set),
        })
    }
}

/// Parses a whole sequence set (e.g. for tests or configuration).
pub fn parse_sequence(input: &[u8]) -> Result<Sequence, super::parser::ParseError> {
    let mut p = Parser::new(input);
    let s = p.sequence()?;
    p.end()?;
    Ok(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::super::parser::ErrorKind;
    use super::*;

    fn set(s: &str) -> SequenceSet {
        match parse_sequence(s.as_bytes()).unwrap() {
            Sequence::Set(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parse_and_resolve() {
        // (input, max, expected members)
        let rows: &[(&str, u32, &[u32])] = &[
            ("1", 5, &[1]),
            ("2:4", 5, &[2, 3, 4]),
            ("4:2", 5, &[2, 3, 4]),
            ("*", 5, &[5]),
            ("1:*", 3, &[1, 2, 3]),
            ("*:4", 5, &[4, 5]),
            // RFC 9051 §6.4.8: "n:*" includes the largest UID even if n > it.
            ("10:*", 7, &[7]),
            ("2,4:7,9,12:*", 15, &[2, 4, 5, 6, 7, 9, 12, 13, 14, 15]),
            ("3,1,2,2:3", 9, &[1, 2, 3]),
            ("1:*", 0, &[]),
            ("100", 5, &[]),
            ("4294967295", 4294967295, &[4294967295]),
        ];
        for (input, max, members) in rows {
            let s = set(input);
            let got: Vec<u32> = s.iter(*max).collect();
            assert_eq!(&got, members, "{input} max {max}");
            for n in 0..=20 {
                assert_eq!(
                    s.contains(n, *max),
                    members.contains(&n),
                    "{input} {n} {max}"
                );
            }
        }
    }

    #[test]
    fn large_ranges_are_cheap() {
        let s = set("1:*");
        assert_eq!(s.ranges(100_000), vec![1..=100_000]);
        assert_eq!(s.iter(100_000).count(), 100_000);
        assert_eq!(set("1:4294967295").ranges(u32::MAX).len(), 1);
        assert_eq!(set("5:9,1:3,4,20:*").ranges(30), vec![1..=9, 20..=30]);
    }

    #[test]
    fn saved_and_errors() {
        assert_eq!(parse_sequence(b"$").unwrap(), Sequence::Saved);
        // RFC 5182 §4: `$` may end a set.
        assert_eq!(
            parse_sequence(b"1:3,$").unwrap(),
            Sequence::SetAndSaved(set("1:3"))
        );
        assert_eq!(
            parse_sequence(b"5,$").unwrap(),
            Sequence::SetAndSaved(set("5"))
        );
        let bad: &[(&[u8], ErrorKind)] = &[
            (b"0", ErrorKind::Number),
            (b"1:0", ErrorKind::Number),
            (b"4294967296", ErrorKind::Number),
            (b"1,", ErrorKind::UnexpectedEnd),
            (b"1:", ErrorKind::UnexpectedEnd),
            (b"", ErrorKind::UnexpectedEnd),
            (b"a", ErrorKind::Expected("number")),
            (b"$,1", ErrorKind::Trailing),
            (b"1,$,2", ErrorKind::Trailing),
            (b"1:$", ErrorKind::Expected("number")),
            (b"1 2", ErrorKind::Trailing),
            (b"1\0", ErrorKind::Nul),
        ];
        for (input, kind) in bad {
            assert_eq!(
                &parse_sequence(input).unwrap_err().kind,
                kind,
                "{:?}",
                input
            );
        }
    }

    #[test]
    fn wire_round_trip() {
        for s in ["1:3,5,7:*", "*", "4:2"] {
            assert_eq!(set(s).to_wire(), s);
        }
        assert_eq!(
            SequenceSet::from_sorted([1, 2, 3, 5, 7, 8]).to_wire(),
            "1:3,5,7:8"
        );
        assert_eq!(SequenceSet::from_sorted([]).to_wire(), "");
        assert_eq!(set("1:3,9").max_explicit(), Some(9));
        assert_eq!(set("*").max_explicit(), None);
        assert!(set("1,3:*").has_star() && set("*:2").has_star() && set("*").has_star());
        assert!(!set("1:3,9").has_star());
    }
}
