//! Contexts (RFC 5267 §4, CONTEXT=SEARCH and CONTEXT=SORT): a `SEARCH` or `SORT` with
//! `RETURN (UPDATE)` stays live while its mailbox is selected, and the session reports
//! every change to its result as `* ESEARCH (TAG "t") [UID] REMOVEFROM (…) ADDTO (…)`
//! (§4.3) until `CANCELUPDATE "t"` or the mailbox is left.
//!
//! How it works: each live result keeps its messages by UID, in result order (UID
//! order for SEARCH, the sort order for SORT, with the sort keys), and `checked`, the
//! MODSEQ up to which the view's messages were evaluated. A message whose flags
//! change, or that arrives, gets a higher MODSEQ (RFC 7162 §3.1.1), so after every
//! command (and in IDLE) the session evaluates the criteria again on exactly the
//! messages above `checked` ([`Session::refresh_contexts`]). Expunged messages leave
//! the result *before* the EXPUNGE responses are sent
//! ([`Session::contexts_forget_expunged`]), so the sequence numbers in REMOVEFROM are
//! the ones the client still holds, as Dovecot does.
//!
//! Positions (§4.3 `context-position`): a SORT result is ordered, so each REMOVEFROM
//! pair names the position (1-based) of a run of consecutive removed entries in the
//! result before the removal, highest run first, and each ADDTO pair the position of
//! a run of added entries in the result after the addition, lowest first: a client
//! applying the pairs in order, or all against the old and new lists, gets the same
//! list. A SEARCH result is ordered by message number, so it is one pair with
//! position 0 ("may be 0 for SEARCH result additions"), as Dovecot sends for both.
//!
//! Limits: [`MAX_UPDATES`] live results per session (Dovecot's number); past it the
//! search still answers, with `* NO [NOUPDATE "t"]`.

use std::collections::HashSet;
use std::io::Write as _;

use mailyard_store::Uid;

use crate::cmd::sort::{Keys, compare, ordered_set};
use crate::proto::command::SortCriterion;
use crate::proto::response::{ResponseCode, Status, write_string};
use crate::proto::search::{SearchKey, SearchReturn};
use crate::proto::sequence::SequenceSet;
use crate::session::state::State;
use crate::session::view::View;
use crate::session::{Done, Session};

/// Live (`RETURN (UPDATE)`) results one session may hold, as Dovecot's
/// `CLIENT_MAX_SEARCH_UPDATES`.
pub(crate) const MAX_UPDATES: usize = 10;

/// One message in a live result.
#[derive(Debug, Clone)]
struct Entry {
    uid: Uid,
    /// The sort keys (SORT only).
    keys: Option<Keys>,
}

/// A live SEARCH or SORT result (RFC 5267 §4.3).
#[derive(Debug)]
pub(crate) struct Update {
    /// The tag of the command that asked for it; the updates carry it.
    pub tag: String,
    /// UID SEARCH / UID SORT: updates name UIDs, else sequence numbers.
    uid: bool,
    /// The search criteria, `$` already resolved.
    criteria: SearchKey,
    /// The SORT criteria; `None` for SEARCH.
    sort: Option<Vec<SortCriterion>>,
    /// The result, in result order.
    result: Vec<Entry>,
    /// Messages whose MODSEQ is at most this have been evaluated.
    checked: u64,
}

/// `context-position SP sequence-set` pairs of one REMOVEFROM or ADDTO.
type Pairs = Vec<(u32, Vec<u32>)>;

impl Update {
    /// A live SEARCH result: `uids` ascending.
    pub(crate) fn search(
        tag: &str,
        uid: bool,
        criteria: SearchKey,
        uids: &[Uid],
        checked: u64,
    ) -> Update {
        Update {
            tag: tag.to_owned(),
            uid,
            criteria,
            sort: None,
            result: uids.iter().map(|&uid| Entry { uid, keys: None }).collect(),
            checked,
        }
    }

    /// A live SORT result: `sorted` in sort order.
    pub(crate) fn sort(
        tag: &str,
        uid: bool,
        criteria: SearchKey,
        sort: Vec<SortCriterion>,
        sorted: Vec<Keys>,
        checked: u64,
    ) -> Update {
        Update {
            tag: tag.to_owned(),
            uid,
            criteria,
            sort: Some(sort),
            result: sorted
                .into_iter()
                .map(|k| Entry {
                    uid: Uid(k.uid),
                    keys: Some(k),
                })
                .collect(),
            checked,
        }
    }

    /// Takes the entries `gone` says left the result out of it; the REMOVEFROM pairs,
    /// numbers by `number`.
    fn remove(
        &mut self,
        gone: impl Fn(Uid) -> bool,
        number: &impl Fn(Uid) -> Option<u32>,
    ) -> Pairs {
        let positions: Vec<usize> = (0..self.result.len())
            .filter(|&i| gone(self.result[i].uid))
            .collect();
        if positions.is_empty() {
            return Vec::new();
        }
        let pairs = if self.sort.is_some() {
            let mut runs = self.runs(&positions, number);
            runs.reverse();
            runs
        } else {
            single(positions.iter().map(|&i| self.result[i].uid), number)
        };
        let mut i = 0;
        self.result.retain(|_| {
            let keep = positions.binary_search(&i).is_err();
            i += 1;
            keep
        });
        pairs
    }

    /// Puts `new` (not yet in the result) in its place; the ADDTO pairs.
    fn add(&mut self, mut new: Vec<Entry>, number: &impl Fn(Uid) -> Option<u32>) -> Pairs {
        if new.is_empty() {
            return Vec::new();
        }
        let added: HashSet<Uid> = new.iter().map(|e| e.uid).collect();
        match &self.sort {
            None => {
                self.result.extend(new);
                self.result.sort_unstable_by_key(|e| e.uid);
            }
            Some(criteria) => {
                let cmp = |a: &Entry, b: &Entry| match (&a.keys, &b.keys) {
                    (Some(x), Some(y)) => compare(x, y, criteria),
                    _ => a.uid.cmp(&b.uid),
                };
                new.sort_by(cmp);
                for e in new {
                    let at = self
                        .result
                        .partition_point(|x| cmp(x, &e) == std::cmp::Ordering::Less);
                    self.result.insert(at, e);
                }
            }
        }
        let positions: Vec<usize> = (0..self.result.len())
            .filter(|&i| added.contains(&self.result[i].uid))
            .collect();
        if self.sort.is_some() {
            self.runs(&positions, number)
        } else {
            single(positions.iter().map(|&i| self.result[i].uid), number)
        }
    }

    /// Runs of consecutive `positions` (indexes, ascending) as (1-based position of
    /// the run, its numbers in result order), lowest first.
    fn runs(&self, positions: &[usize], number: &impl Fn(Uid) -> Option<u32>) -> Pairs {
        let mut pairs: Pairs = Vec::new();
        let mut prev: Option<usize> = None;
        for &i in positions {
            let Some(n) = number(self.result[i].uid) else {
                continue;
            };
            match (prev, pairs.last_mut()) {
                (Some(p), Some(last)) if p + 1 == i => last.1.push(n),
                _ => pairs.push((u32::try_from(i + 1).unwrap_or(u32::MAX), vec![n])),
            }
            prev = Some(i);
        }
        pairs
    }
}

/// One pair at position 0 with every number (a SEARCH result's update).
fn single(uids: impl Iterator<Item = Uid>, number: &impl Fn(Uid) -> Option<u32>) -> Pairs {
    let mut numbers: Vec<u32> = uids.filter_map(number).collect();
    numbers.sort_unstable();
    if numbers.is_empty() {
        Vec::new()
    } else {
        vec![(0, numbers)]
    }
}

/// `* ESEARCH (TAG "t") [UID] [REMOVEFROM (…)] [ADDTO (…)]` (RFC 5267 §4.3); nothing
/// when both are empty.
fn write_update(out: &mut Vec<u8>, u: &Update, removed: &Pairs, added: &Pairs) {
    if removed.is_empty() && added.is_empty() {
        return;
    }
    out.extend_from_slice(b"* ESEARCH (TAG ");
    write_string(out, u.tag.as_bytes(), false);
    out.push(b')');
    if u.uid {
        out.extend_from_slice(b" UID");
    }
    for (name, pairs) in [("REMOVEFROM", removed), ("ADDTO", added)] {
        if pairs.is_empty() {
            continue;
        }
        let _ = write!(out, " {name} (");
        for (i, (pos, numbers)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            let set = if u.sort.is_some() {
                ordered_set(numbers)
            } else {
                SequenceSet::from_sorted(numbers.iter().copied()).to_wire()
            };
            let _ = write!(out, "{pos} {set}");
        }
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
}

/// How `update` names `uid` now: the UID, or its sequence number in `view`.
fn numbering(view: &View, uid_numbers: bool) -> impl Fn(Uid) -> Option<u32> + '_ {
    move |uid| {
        if uid_numbers {
            Some(uid.0)
        } else {
            view.index_of(uid)
                .map(|i| u32::try_from(i + 1).unwrap_or(u32::MAX))
        }
    }
}

/// The highest MODSEQ of the view's messages: what a result evaluated now has seen.
fn view_checked(view: &View) -> u64 {
    view.msgs.iter().map(|m| m.info.modseq.0).max().unwrap_or(0)
}

impl Session {
    /// Before a `SEARCH`/`SORT` with return options `ret` runs: whether its result is
    /// kept live. `Ok(false)` without `UPDATE`, or when the session holds
    /// [`MAX_UPDATES`] already — the command then answers without keeping the result,
    /// after `* NO [NOUPDATE "tag"]` (RFC 5267 §4.3); `Err` (BAD) when a live result
    /// already has this tag (as Dovecot).
    pub(crate) fn may_update(
        &mut self,
        tag: &str,
        ret: Option<&[SearchReturn]>,
    ) -> Result<bool, Done> {
        if !ret.is_some_and(|r| r.contains(&SearchReturn::Update)) {
            return Ok(false);
        }
        let Some(view) = self.view() else {
            return Err(Done::bad("No mailbox selected"));
        };
        if view.contexts.iter().any(|u| u.tag == tag) {
            return Err(Done::bad("Duplicate search update tag"));
        }
        if view.contexts.len() >= MAX_UPDATES {
            self.untagged(
                Status::No,
                Some(&ResponseCode::NoUpdate(tag.to_owned())),
                "Too many updating searches",
            );
            return Ok(false);
        }
        Ok(true)
    }

    /// What a result kept live starts from, taken before the search runs: `criteria`
    /// with `$` resolved, and the MODSEQ up to which the view's messages are evaluated
    /// by that search. `None` when no mailbox is selected.
    pub(crate) fn live_start(&self, criteria: &SearchKey) -> Option<(SearchKey, u64)> {
        let view = self.view()?;
        Some((
            self.ext.resolve_key(criteria.clone(), view),
            view_checked(view),
        ))
    }

    /// Keeps `update` live (RFC 5267 §4.3).
    pub(crate) fn keep_update(&mut self, update: Update) {
        if let Some(view) = self.view_mut() {
            view.contexts.push(update);
        }
    }

    /// CANCELUPDATE "t"…: stops the updates of those searches; an unknown tag is NO,
    /// as in Dovecot. Selected state. RFC 5267 §4.3.
    pub(crate) fn handle_cancel_update(&mut self, tags: Vec<String>) -> Done {
        let Some(view) = self.view_mut() else {
            return Done::bad("No mailbox selected");
        };
        for tag in tags {
            let before = view.contexts.len();
            view.contexts.retain(|u| u.tag != tag);
            if view.contexts.len() == before {
                return Done::no(None, "Unknown tag");
            }
        }
        Done::ok("Updates cancelled")
    }

    /// Takes messages the store expunged out of every live result and reports it,
    /// before the EXPUNGE (or VANISHED) responses renumber the messages.
    pub(crate) fn contexts_forget_expunged(&mut self) {
        let State::Selected { view, .. } = &mut self.state else {
            return;
        };
        if view.contexts.is_empty() {
            return;
        }
        let mut contexts = std::mem::take(&mut view.contexts);
        for u in &mut contexts {
            let number = numbering(view, u.uid);
            let gone = |uid| view.index_of(uid).is_none_or(|i| view.msgs[i].expunged);
            let removed = u.remove(gone, &number);
            write_update(&mut self.conn.wbuf, u, &removed, &Vec::new());
        }
        view.contexts = contexts;
    }

    /// Evaluates every live result again on the messages that changed or arrived
    /// since it last looked (MODSEQ above its `checked`), and reports what left and
    /// what joined it. Expunged messages leave it too.
    pub(crate) async fn refresh_contexts(&mut self) {
        let Some(view) = self.view_mut() else {
            return;
        };
        if view.contexts.is_empty() {
            return;
        }
        let mut contexts = std::mem::take(&mut view.contexts);
        let now = view_checked(view);
        let mut out = Vec::new();
        for u in &mut contexts {
            if u.checked >= now {
                continue;
            }
            let since = u.checked;
            let matched = self
                .matched_where(u.criteria.clone(), move |m| m.info.modseq.0 > since, |m| m)
                .await;
            let Some(view) = self.view() else {
                return;
            };
            let matched = match matched {
                Ok(m) => m,
                Err(_) => {
                    tracing::warn!(tag = %u.tag, "cannot evaluate an updating search");
                    continue;
                }
            };
            let hit: HashSet<Uid> = matched.iter().map(|m| m.info.uid).collect();
            let number = numbering(view, u.uid);
            let in_result: HashSet<Uid> = u.result.iter().map(|e| e.uid).collect();
            let gone = |uid: Uid| match view.index_of(uid) {
                None => true,
                Some(i) => {
                    let m = &view.msgs[i];
                    m.expunged || (m.info.modseq.0 > since && !hit.contains(&uid))
                }
            };
            let removed = u.remove(gone, &number);
            let new: Vec<Entry> = matched
                .iter()
                .filter(|m| !in_result.contains(&m.info.uid))
                .map(|m| Entry {
                    uid: m.info.uid,
                    keys: u.sort.is_some().then(|| Keys::of(m, u.uid)),
                })
                .collect();
            let added = u.add(new, &number);
            write_update(&mut out, u, &removed, &added);
            u.checked = now;
        }
        self.conn.wbuf.extend_from_slice(&out);
        if let Some(view) = self.view_mut() {
            view.contexts = contexts;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::command::SortKey;

    fn keys(uid: u32, size: u64) -> Keys {
        Keys {
            uid,
            number: uid,
            size,
            ..Keys::default()
        }
    }

    fn line(u: &Update, removed: &Pairs, added: &Pairs) -> String {
        let mut out = Vec::new();
        write_update(&mut out, u, removed, added);
        String::from_utf8(out).expect("utf-8")
    }

    fn uids(u: &Update) -> Vec<u32> {
        u.result.iter().map(|e| e.uid.0).collect()
    }

    /// imaptest `search-context-update`: a SEARCH result's changes are one pair at
    /// position 0, numbers ascending.
    #[test]
    fn search_updates_are_one_pair_at_zero() {
        let ids: Vec<Uid> = [1, 2, 4].into_iter().map(Uid).collect();
        let mut u = Update::search("t1", false, SearchKey::All, &ids, 5);
        let number = |uid: Uid| Some(uid.0);
        let removed = u.remove(|uid| uid.0 != 4, &number);
        assert_eq!(removed, vec![(0, vec![1, 2])]);
        let added = u.add(
            [5, 3]
                .into_iter()
                .map(|n| Entry {
                    uid: Uid(n),
                    keys: None,
                })
                .collect(),
            &number,
        );
        assert_eq!(added, vec![(0, vec![3, 5])]);
        assert_eq!(uids(&u), vec![3, 4, 5]);
        assert_eq!(
            line(&u, &removed, &added),
            "* ESEARCH (TAG \"t1\") REMOVEFROM (0 1:2) ADDTO (0 3,5)\r\n"
        );
        assert_eq!(line(&u, &Vec::new(), &Vec::new()), "");
    }

    /// A SORT result: removals as runs of the old positions, highest first; additions
    /// as runs of the new positions, lowest first, numbers in sort order.
    #[test]
    fn sort_updates_name_positions() {
        let by_size = vec![SortCriterion {
            reverse: true,
            key: SortKey::Size,
        }];
        // Sizes: uid 1..6 → 60, 50, 40, 30, 20, 10; REVERSE SIZE sorts them 1..6.
        let sorted: Vec<Keys> = (1..=6).map(|n| keys(n, 70 - 10 * u64::from(n))).collect();
        let mut u = Update::sort("s", true, SearchKey::All, by_size, sorted, 9);
        let number = |uid: Uid| Some(uid.0);
        let removed = u.remove(|uid| [2, 3, 6].contains(&uid.0), &number);
        assert_eq!(removed, vec![(6, vec![6]), (2, vec![2, 3])]);
        assert_eq!(uids(&u), vec![1, 4, 5]);
        // 9 (size 45) goes between 1 and 4, 8 (size 5) last, 7 (size 55) after 1.
        let new = [(9, 45), (8, 5), (7, 55)]
            .into_iter()
            .map(|(n, size)| Entry {
                uid: Uid(n),
                keys: Some(keys(n, size)),
            })
            .collect();
        let added = u.add(new, &number);
        assert_eq!(uids(&u), vec![1, 7, 9, 4, 5, 8]);
        assert_eq!(added, vec![(2, vec![7, 9]), (6, vec![8])]);
        assert_eq!(
            line(&u, &removed, &added),
            "* ESEARCH (TAG \"s\") UID REMOVEFROM (6 6 2 2:3) ADDTO (2 7,9 6 8)\r\n"
        );
    }
}
