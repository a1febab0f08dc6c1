//! The selected mailbox as one session sees it (RFC 9051 §2.3.1.2): message sequence
//! numbers ↔ UIDs, flags, sizes and dates, in memory, so that `UID FETCH 1:* (FLAGS)`
//! on 100 000 messages reads neither the index nor any file.
//!
//! Changes by other sessions (and processes) arrive through the store's watch channel
//! ([`mailyard_store::Store::subscribe`]); [`View::apply`] folds what the index says
//! changed since the view's MODSEQ into the view and returns what to announce.
//! Expunged messages keep their slot (marked `expunged`) until an EXPUNGE response
//! may be sent (RFC 9051 §7.5.1), so sequence numbers stay what the client believes.

use std::collections::BTreeSet;
use std::ops::Range;

use mailyard_store::{FlagSet, Flags, MailboxCounts, MailboxId, MessageInfo, ModSeq, Uid};
use tokio::sync::watch;

use crate::proto::response::{ResponseCode, Status, status_response, write_flag_list};
use crate::proto::sequence::SequenceSet;
use crate::proto::types::Flag;

/// One message in the view.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub uid: Uid,
    /// The index row as last seen (flags, size, date, file name).
    pub info: MessageInfo,
    /// RFC 3501 §2.3.2 `\Recent`: this session claimed the message (read-write), or
    /// saw it unclaimed (read-only).
    pub recent: bool,
    /// Expunged in the store; the EXPUNGE response is still owed.
    pub expunged: bool,
}

impl Msg {
    pub(crate) fn from_info(m: MessageInfo, recent: bool) -> Msg {
        Msg {
            uid: m.uid,
            info: m,
            recent,
            expunged: false,
        }
    }

    pub(crate) fn flags(&self) -> &FlagSet {
        &self.info.flags
    }
}

/// The selected mailbox.
pub(crate) struct View {
    pub id: MailboxId,
    /// The mailbox name (UTF-8, as stored), for reading message files.
    pub name: String,
    /// RFC 9051 §2.3.1.1, as SELECT reported it.
    pub uidvalidity: u32,
    pub uidnext: u32,
    /// EXAMINE (RFC 9051 §6.3.3).
    pub read_only: bool,
    /// In UID order; sequence number = index + 1.
    pub msgs: Vec<Msg>,
    /// Every change up to this MODSEQ is in the view.
    pub modseq: u64,
    /// Wakes when the mailbox changes.
    pub rx: watch::Receiver<u64>,
    /// The mailbox was deleted.
    pub gone: bool,
    /// Keywords announced to the client in `* FLAGS` (RFC 9051 §7.3.5: a keyword may
    /// appear in FETCH FLAGS only once the client has seen it there).
    pub keywords: BTreeSet<String>,
    /// A message in the view carries a keyword not yet announced.
    pub keywords_pending: bool,
    /// Live SEARCH/SORT results (RFC 5267 §4.3); they end with the selection.
    pub contexts: Vec<crate::cmd::context::Update>,
    /// Messages whose flag change (by another session) is not announced yet: with
    /// NOTIFY but without FlagChange for the selected mailbox, it waits for the next
    /// command (RFC 5465 §5.1).
    pub flags_owed: BTreeSet<Uid>,
    /// Messages this session added itself (APPEND, COPY, MOVE into the selected
    /// mailbox), not yet seen as new: NOTIFY's MessageNew FETCH skips them
    /// (RFC 5465 §5.2).
    pub own_new: BTreeSet<Uid>,
    /// `\Recent` messages this session claimed with its APPEND that the view has not
    /// seen yet: marked recent when they come in ([`View::claim_ahead`]).
    pub claimed_ahead: BTreeSet<Uid>,
}

/// What [`View::apply`] found.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Sequence numbers (indexes + 1) whose flags changed, to announce with FETCH.
    pub flags: Vec<usize>,
    /// UIDs of the messages appended to the view, ascending; the session decides which
    /// are `\Recent` (RFC 3501 §2.3.2).
    pub new: Vec<Uid>,
}

impl View {
    /// STATUS counts of the mailbox as this session sees it (RFC 9051 §6.3.11): the
    /// messages not expunged, those without `\Seen` and with `\Deleted`, their
    /// RFC822.SIZE, and those `\Recent` in this session (RFC 3501 §2.3.2), which is
    /// what Dovecot reports for the selected mailbox. Bring the view up to date first.
    pub(crate) fn counts(&self) -> MailboxCounts {
        let mut n = MailboxCounts::default();
        for m in self.msgs.iter().filter(|m| !m.expunged) {
            let flags = m.flags().flags;
            n.messages += 1;
            n.unseen += u64::from(!flags.contains(Flags::SEEN));
            n.deleted += u64::from(flags.contains(Flags::DELETED));
            n.recent += u64::from(m.recent);
            n.size += m.info.size;
        }
        n
    }

    /// Notes the keywords of `flags`; a new one must be announced before it is used.
    fn learn_keywords(&mut self, flags: &FlagSet) {
        for k in &flags.keywords {
            if !self.keywords.contains(k) {
                self.keywords.insert(k.clone());
                self.keywords_pending = true;
            }
        }
    }

    /// The flags of `* FLAGS` (RFC 9051 §7.3.5): the system flags and every keyword
    /// the mailbox's messages carry (as far as this session has seen them).
    pub(crate) fn flag_list(&self) -> Vec<Flag> {
        let mut flags: Vec<Flag> = Flags::TABLE
            .iter()
            .map(|(_, name, _)| Flag::from_wire(name))
            .collect();
        flags.extend(self.keywords.iter().cloned().map(Flag::Keyword));
        flags
    }

    /// `[PERMANENTFLAGS]` (RFC 9051 §7.1): none for EXAMINE; otherwise every flag
    /// of [`View::flag_list`] and `\*` (new keywords can be created), as Dovecot says.
    pub(crate) fn permanent_flags(&self) -> ResponseCode {
        ResponseCode::PermanentFlags {
            flags: if self.read_only {
                Vec::new()
            } else {
                self.flag_list()
            },
            allow_new: !self.read_only,
        }
    }

    /// `* FLAGS (…)` and `* OK [PERMANENTFLAGS (…)]`.
    pub(crate) fn write_flags_response(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"* FLAGS ");
        write_flag_list(out, &self.flag_list());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&status_response(
            None,
            Status::Ok,
            Some(&self.permanent_flags()),
            "Flags permitted",
        ));
    }

    /// Announces keywords that arrived since the last announcement (RFC 9051 §7.3.5);
    /// call before writing any FETCH FLAGS that may carry them.
    pub(crate) fn announce_keywords(&mut self, out: &mut Vec<u8>) {
        if self.keywords_pending {
            self.keywords_pending = false;
            self.write_flags_response(out);
        }
    }

    /// The index of `uid`, if present.
    pub(crate) fn index_of(&self, uid: Uid) -> Option<usize> {
        self.msgs.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// Marks `uids` (claimed by this session in the store, or seen unclaimed by a
    /// read-only session) as `\Recent`.
    pub(crate) fn mark_recent(&mut self, uids: impl IntoIterator<Item = Uid>) {
        for uid in uids {
            if let Some(i) = self.index_of(uid) {
                self.msgs[i].recent = true;
            }
        }
    }

    /// Takes `uids`, claimed for this session as `\Recent` by its own request (an
    /// APPEND into this mailbox, `Store::append_many_claiming`): those in the view are
    /// recent now, the others once they come in ([`View::take_claimed_ahead`]).
    pub(crate) fn claim_ahead(&mut self, uids: impl IntoIterator<Item = Uid>) {
        self.claimed_ahead.extend(uids);
        self.take_claimed_ahead();
    }

    /// Marks the messages claimed ahead that are in the view now as recent, and
    /// forgets those the view went past (expunged before it saw them).
    pub(crate) fn take_claimed_ahead(&mut self) {
        let later = self
            .claimed_ahead
            .split_off(&Uid(self.max_uid().saturating_add(1)));
        let due = std::mem::replace(&mut self.claimed_ahead, later);
        self.mark_recent(due);
    }

    /// Marks `uids` expunged in the store; their slots stay until the EXPUNGE (or
    /// VANISHED) responses are sent ([`View::take_expunged`]).
    pub(crate) fn mark_expunged(&mut self, uids: impl IntoIterator<Item = Uid>) {
        for uid in uids {
            if let Some(i) = self.index_of(uid) {
                self.msgs[i].expunged = true;
            }
        }
    }

    /// Records this session's own flag changes (`(uid, flags, modseq)` as the store
    /// returns them); a message whose flags were set is no longer in `new/`.
    pub(crate) fn set_flags(&mut self, changed: impl IntoIterator<Item = (Uid, FlagSet, ModSeq)>) {
        for (uid, flags, modseq) in changed {
            self.learn_keywords(&flags);
            if let Some(i) = self.index_of(uid) {
                let m = &mut self.msgs[i].info;
                m.flags = flags;
                m.modseq = modseq;
                m.in_new = false;
            }
        }
    }

    /// Notes flag changes to announce once allowed ([`View::take_owed_flags`]).
    pub(crate) fn owe_flags(&mut self, uids: Vec<Uid>) {
        self.flags_owed.extend(uids);
    }

    /// The owed flag changes with their current sequence numbers, ascending;
    /// messages expunged since are left out.
    pub(crate) fn take_owed_flags(&mut self) -> Vec<(usize, &Msg)> {
        let owed = std::mem::take(&mut self.flags_owed);
        owed.into_iter()
            .filter_map(|u| self.index_of(u))
            .filter_map(|i| self.msgs.get(i).map(|m| (i + 1, m)))
            .filter(|(_, m)| !m.expunged)
            .collect()
    }

    /// Of `new` (UIDs just added to the view), those other sessions added; forgets
    /// the session's own ones once seen.
    pub(crate) fn others_new(&mut self, new: &[Uid]) -> Vec<u32> {
        let out = new
            .iter()
            .filter(|u| !self.own_new.contains(u))
            .map(|u| u.0)
            .collect();
        let max = self.max_uid();
        self.own_new.retain(|u| u.0 > max);
        out
    }

    /// The largest UID in the view (0 when empty).
    pub(crate) fn max_uid(&self) -> u32 {
        self.msgs.last().map_or(0, |m| m.uid.0)
    }

    /// Indexes selected by `set`: message sequence numbers, or UIDs (`uid`). Work is
    /// proportional to the number of ranges and matches, not to the numbers spanned
    /// (`1:4294967295` costs two binary searches).
    pub(crate) fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<usize> {
        let mut out = Vec::new();
        if uid {
            for r in set.ranges(self.max_uid()) {
                for i in self.uid_range(*r.start(), *r.end()) {
                    out.push(i);
                }
            }
        } else {
            let n = u32::try_from(self.msgs.len()).unwrap_or(u32::MAX);
            for seq in set.iter(n) {
                out.push(seq as usize - 1);
            }
        }
        out
    }

    /// Indexes of messages with `lo <= uid <= hi`.
    fn uid_range(&self, lo: u32, hi: u32) -> Range<usize> {
        let start = self.msgs.partition_point(|m| m.uid.0 < lo);
        let end = self.msgs.partition_point(|m| m.uid.0 <= hi);
        start..end.max(start)
    }

    /// Messages in the view, expunged slots included: the EXISTS count the client
    /// holds until the owed EXPUNGE responses are sent (RFC 9051 §7.5.1).
    pub(crate) fn exists(&self) -> usize {
        self.msgs.len()
    }

    /// Folds what the index reports into the view: `changed` are the rows whose MODSEQ
    /// is above the view's, `expunged` the UIDs expunged since, `highest` the mailbox's
    /// HIGHESTMODSEQ read before them.
    pub(crate) fn apply(
        &mut self,
        changed: Vec<MessageInfo>,
        expunged: &[Uid],
        highest: u64,
        uidnext: u32,
    ) -> Changes {
        let mut out = Changes::default();
        self.mark_expunged(expunged.iter().copied());
        for m in changed {
            self.learn_keywords(&m.flags);
            match self.index_of(m.uid) {
                Some(i) => {
                    let v = &mut self.msgs[i];
                    if v.expunged {
                        continue;
                    }
                    if v.info.flags != m.flags {
                        out.flags.push(i + 1);
                    }
                    v.info = m;
                }
                None if m.uid.0 > self.max_uid() => {
                    out.new.push(m.uid);
                    self.msgs.push(Msg::from_info(m, false));
                }
                // A UID below ours that we never saw (adopted by a reconcile): it
                // cannot be given a sequence number in the middle; a new SELECT
                // shows it.
                None => {}
            }
        }
        self.modseq = self.modseq.max(highest);
        self.uidnext = self.uidnext.max(uidnext);
        out.flags.sort_unstable();
        out.flags.dedup();
        out
    }

    /// Removes every expunged message, returning their sequence numbers in the order
    /// the EXPUNGE responses must be sent (highest first, so each number is right at
    /// the moment it is sent, RFC 9051 §7.5.1).
    pub(crate) fn take_expunged(&mut self) -> Vec<usize> {
        let mut seqs: Vec<usize> = self
            .msgs
            .iter()
            .enumerate()
            .filter(|(_, m)| m.expunged)
            .map(|(i, _)| i + 1)
            .collect();
        if seqs.is_empty() {
            return seqs;
        }
        self.msgs.retain(|m| !m.expunged);
        seqs.reverse();
        seqs
    }

    /// Removes every expunged message, returning their UIDs ascending, for
    /// `* VANISHED` (RFC 7162 §3.2.10) once QRESYNC is enabled.
    pub(crate) fn take_expunged_uids(&mut self) -> Vec<Uid> {
        let uids: Vec<Uid> = self
            .msgs
            .iter()
            .filter(|m| m.expunged)
            .map(|m| m.uid)
            .collect();
        if !uids.is_empty() {
            self.msgs.retain(|m| !m.expunged);
        }
        uids
    }

    /// The highest MODSEQ the view has seen.
    pub(crate) fn modseq(&self) -> ModSeq {
        ModSeq(self.modseq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailyard_store::Flags;

    fn info(uid: u32, flags: u8, modseq: u64) -> MessageInfo {
        MessageInfo {
            uid: Uid(uid),
            base: format!("b{uid}"),
            in_new: true,
            size: 10,
            internaldate: 0,
            flags: FlagSet {
                flags: Flags(flags),
                keywords: vec![],
            },
            modseq: ModSeq(modseq),
        }
    }

    fn view(uids: &[u32]) -> View {
        let (_tx, rx) = watch::channel(0);
        View {
            id: MailboxId(1),
            name: "INBOX".into(),
            uidvalidity: 1,
            uidnext: 100,
            read_only: false,
            msgs: uids
                .iter()
                .map(|&u| Msg::from_info(info(u, 0, 1), false))
                .collect(),
            modseq: 1,
            rx,
            gone: false,
            keywords: BTreeSet::new(),
            keywords_pending: false,
            contexts: Vec::new(),
            flags_owed: BTreeSet::new(),
            own_new: BTreeSet::new(),
            claimed_ahead: BTreeSet::new(),
        }
    }

    #[test]
    fn resolve_uids_and_sequences() {
        let v = view(&[2, 4, 6, 8]);
        let set = |s: &str| match crate::proto::sequence::parse_sequence(s.as_bytes()) {
            Ok(crate::proto::sequence::Sequence::Set(s)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(v.resolve(&set("1:*"), true), vec![0, 1, 2, 3]);
        assert_eq!(v.resolve(&set("3:5"), true), vec![1]);
        assert_eq!(v.resolve(&set("9:*"), true), vec![3]);
        assert_eq!(v.resolve(&set("1:4294967295"), true), vec![0, 1, 2, 3]);
        assert_eq!(v.resolve(&set("2,4"), false), vec![1, 3]);
        assert_eq!(v.resolve(&set("*"), false), vec![3]);
    }

    #[test]
    fn apply_keeps_expunged_slots_until_taken() {
        let mut v = view(&[1, 2, 3]);
        let c = v.apply(vec![info(2, 1, 5), info(4, 0, 6)], &[Uid(1), Uid(3)], 6, 5);
        assert_eq!(c.flags, vec![2]);
        assert_eq!(c.new, vec![Uid(4)]);
        assert_eq!(v.exists(), 4, "expunged slots still count");
        assert_eq!(v.take_expunged(), vec![3, 1]);
        assert_eq!(
            v.msgs.iter().map(|m| m.uid.0).collect::<Vec<_>>(),
            vec![2, 4]
        );
        assert_eq!(v.modseq, 6);
    }

    #[test]
    fn owed_flags_and_own_messages() {
        let mut v = view(&[1, 2, 3]);
        v.owe_flags(vec![Uid(3), Uid(1)]);
        v.mark_expunged([Uid(3)]);
        let owed: Vec<(usize, u32)> = v
            .take_owed_flags()
            .into_iter()
            .map(|(seq, m)| (seq, m.uid.0))
            .collect();
        assert_eq!(owed, vec![(1, 1)], "expunged messages owe nothing");
        assert!(v.take_owed_flags().is_empty());
        v.own_new.insert(Uid(5));
        v.own_new.insert(Uid(9));
        v.apply(vec![info(4, 0, 2), info(5, 0, 2)], &[], 2, 6);
        assert_eq!(v.others_new(&[Uid(4), Uid(5)]), vec![4]);
        assert_eq!(
            v.own_new.iter().map(|u| u.0).collect::<Vec<_>>(),
            vec![9],
            "seen ones are forgotten"
        );
    }

    /// RFC 3501 §2.3.2: what an APPEND claimed is `\Recent` in this view once the view
    /// has it; a UID the view went past without it (expunged meanwhile) is forgotten.
    #[test]
    fn claimed_ahead_becomes_recent_when_it_comes_in() {
        let mut v = view(&[1, 2]);
        v.claim_ahead([Uid(2), Uid(3), Uid(5)]);
        let recent = |v: &View| -> Vec<u32> {
            v.msgs
                .iter()
                .filter(|m| m.recent)
                .map(|m| m.uid.0)
                .collect()
        };
        assert_eq!(recent(&v), vec![2], "in the view: recent now");
        assert_eq!(
            v.claimed_ahead.iter().map(|u| u.0).collect::<Vec<_>>(),
            vec![3, 5]
        );
        // 3 was expunged before this view saw it; 4 is someone else's; 5 comes in.
        v.apply(vec![info(4, 0, 2), info(5, 0, 3)], &[], 3, 6);
        v.take_claimed_ahead();
        assert_eq!(recent(&v), vec![2, 5]);
        assert!(v.claimed_ahead.is_empty(), "3 is forgotten");
    }

    #[test]
    fn expunged_uids_for_vanished() {
        let mut v = view(&[1, 2, 3, 5]);
        v.apply(vec![], &[Uid(5), Uid(2)], 7, 6);
        assert_eq!(v.take_expunged_uids(), vec![Uid(2), Uid(5)]);
        assert!(v.take_expunged_uids().is_empty());
        assert_eq!(
            v.msgs.iter().map(|m| m.uid.0).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }
}
