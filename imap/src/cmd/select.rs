//! SELECT, EXAMINE (RFC 9051 §6.3.2, §6.3.3; CONDSTORE and QRESYNC parameters
//! RFC 7162 §3.1.8, §3.2.5), CLOSE (§6.4.1), UNSELECT (§6.4.2, RFC 3691).

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use mailyard_store::Flags;

use crate::cmd::expunge::write_vanished_set;
use crate::cmd::fetch::write_flags_update;
use crate::cmd::vanished::{seq_match_floor, vanished_since};
use crate::proto::command::{QResync, SelectArgs};
use crate::proto::response::{ResponseCode, Status, write_flag_list};
use crate::proto::sequence::Sequence;
use crate::session::state::State;
use crate::session::view::{Msg, View};
use crate::session::{Done, Session, store_error, write_exists};

/// The QRESYNC data of a SELECT, resolved: the client's MODSEQ, the UIDs it knows
/// (merged ranges) and a UID at or below which nothing vanished (RFC 7162 §3.2.5).
struct Resync {
    since: u64,
    known: Vec<RangeInclusive<u32>>,
    floor: u32,
}

impl Session {
    /// SELECT / EXAMINE [(CONDSTORE | QRESYNC (…))]: builds the view (all messages'
    /// index rows, in memory) and sends FLAGS, EXISTS, RECENT (not after ENABLE
    /// IMAP4rev2), [UNSEEN], [UIDVALIDITY], [UIDNEXT], [PERMANENTFLAGS] and
    /// [HIGHESTMODSEQ] (RFC 7162 §3.1.2.1: sent on every SELECT, the MODSEQ being
    /// persistent). A previously selected mailbox is deselected first, even when this
    /// one fails, announced by `OK [CLOSED]` (RFC 9051 §7.1, RFC 7162 §3.2.11); the
    /// SEARCHRES result is emptied (RFC 5182 §2.1). `(CONDSTORE)` enables CONDSTORE
    /// (RFC 7162 §3.1.8); `(QRESYNC (uidvalidity modseq [known-uids [seq-match]]))`
    /// needs ENABLE QRESYNC and, when UIDVALIDITY matches, adds
    /// `* VANISHED (EARLIER)` and FETCH (UID FLAGS MODSEQ) of what changed since
    /// (RFC 7162 §3.2.5). Authenticated and selected states. RFC 9051 §6.3.2, §6.3.3.
    pub(crate) async fn handle_select(&mut self, args: SelectArgs, read_only: bool) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        if args.qresync.is_some() && !self.ext.qresync {
            // RFC 7162 §3.2.5: QRESYNC parameters need ENABLE QRESYNC.
            return Done::bad("QRESYNC is not enabled");
        }
        if matches!(self.state, State::Selected { .. }) {
            self.untagged(
                Status::Ok,
                Some(&ResponseCode::Closed),
                "Previous mailbox closed",
            );
        }
        self.state = State::Authenticated { user: user.clone() };
        self.ext.saved.clear();
        if args.condstore {
            self.ext.condstore = true;
        }
        let name = match self.decode_mailbox(&args.mailbox) {
            Ok(n) => n,
            Err(done) => return done,
        };
        let claim_store = self.store().clone();
        let (mb, rx, msgs) = match self.store().select_mailbox(&user, &name).await {
            Ok(Some(x)) => x,
            Ok(None) => return Done::no(Some(ResponseCode::Nonexistent), "No such mailbox"),
            Err(e) => return store_error(e),
        };
        // RFC 3501 §2.3.2: `\Recent` goes to exactly one session. A read-write SELECT
        // claims every message from the mailbox's first recent UID up to the last it
        // loaded (later ones are claimed when the view learns of them); EXAMINE only
        // looks (RFC 3501 §6.3.2: it does not change the mailbox).
        let last = msgs.last().map(|m| m.uid);
        let recent: std::collections::HashSet<mailyard_store::Uid> = match last {
            Some(last) if last >= mb.first_recent_uid => {
                if read_only {
                    msgs.iter()
                        .filter(|m| m.uid >= mb.first_recent_uid)
                        .map(|m| m.uid)
                        .collect()
                } else {
                    match claim_store.claim_recent(mb.id, last).await {
                        Ok(uids) => uids.into_iter().collect(),
                        Err(e) => return store_error(e),
                    }
                }
            }
            _ => Default::default(),
        };
        let mut keywords = BTreeSet::new();
        let msgs: Vec<Msg> = msgs
            .into_iter()
            .map(|m| {
                keywords.extend(m.flags.keywords.iter().cloned());
                let is_recent = recent.contains(&m.uid);
                Msg::from_info(m, is_recent)
            })
            .collect();
        let view = View {
            id: mb.id,
            name: mb.name.clone(),
            uidvalidity: mb.uidvalidity.0,
            uidnext: mb.uidnext.0,
            read_only,
            msgs,
            modseq: mb.highestmodseq.0,
            rx,
            gone: false,
            keywords,
            keywords_pending: false,
            contexts: Vec::new(),
            flags_owed: BTreeSet::new(),
            own_new: BTreeSet::new(),
            claimed_ahead: BTreeSet::new(),
        };
        // RFC 9051 §6.3.2: FLAGS, EXISTS, LIST (rev2 only, not sent), then the OK
        // response codes; RFC 3501 §6.3.1 adds RECENT and [UNSEEN].
        let mut out = b"* FLAGS ".to_vec();
        write_flag_list(&mut out, &view.flag_list());
        out.extend_from_slice(b"\r\n");
        write_exists(&mut out, &view.msgs, self.ext.rev2);
        self.conn.wbuf.extend_from_slice(&out);
        if let Some(i) = view
            .msgs
            .iter()
            .position(|m| !m.flags().flags.contains(Flags::SEEN))
        {
            let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
            self.untagged(Status::Ok, Some(&ResponseCode::Unseen(seq)), "First unseen");
        }
        self.untagged(
            Status::Ok,
            Some(&ResponseCode::UidValidity(mb.uidvalidity.0)),
            "UIDs valid",
        );
        self.untagged(
            Status::Ok,
            Some(&ResponseCode::UidNext(mb.uidnext.0)),
            "Predicted next UID",
        );
        self.untagged(Status::Ok, Some(&view.permanent_flags()), "Flags permitted");
        self.untagged(
            Status::Ok,
            Some(&ResponseCode::HighestModSeq(mb.highestmodseq.0)),
            "Highest",
        );
        let resync = match args.qresync {
            Some(q) if q.uid_validity == mb.uidvalidity.0 => match resync_of(&q, &view) {
                Ok(r) => Some(r),
                Err(done) => return done,
            },
            // RFC 7162 §3.2.5: another UIDVALIDITY, the data is ignored.
            _ => None,
        };
        if let Some(r) = resync
            && let Err(done) = self.resync(&view, r).await
        {
            return done;
        }
        self.state = State::Selected {
            user,
            view: Box::new(view),
        };
        if read_only {
            Done::ok_code(ResponseCode::ReadOnly, "EXAMINE completed")
        } else {
            Done::ok_code(ResponseCode::ReadWrite, "SELECT completed")
        }
    }

    /// RFC 7162 §3.2.5: `* VANISHED (EARLIER)` for the known UIDs expunged since the
    /// client's MODSEQ, then FETCH (UID FLAGS MODSEQ) for the known messages changed
    /// since.
    async fn resync(&mut self, view: &View, r: Resync) -> Result<(), Done> {
        let present: Vec<u32> = view.msgs.iter().map(|m| m.uid.0).collect();
        let (store, id, uidnext) = (self.store().clone(), view.id, view.uidnext);
        let known = r.known.clone();
        let since = r.since;
        let floor = r.floor;
        let gone = vanished_since(&store, id, since, &known, &present, uidnext, floor).await;
        match gone {
            Ok(set) => write_vanished_set(&mut self.conn.wbuf, true, &set),
            Err(e) => return Err(store_error(e)),
        }
        let mut out = Vec::new();
        for (i, m) in view.msgs.iter().enumerate() {
            if m.info.modseq.0 > r.since && r.known.iter().any(|k| k.contains(&m.uid.0)) {
                write_flags_update(&mut out, i + 1, m, &self.ext);
            }
        }
        self.conn.wbuf.extend_from_slice(&out);
        Ok(())
    }

    /// CLOSE: expunges `\Deleted` messages silently (unless read-only) and leaves the
    /// selected state. Selected state. RFC 9051 §6.4.1.
    pub(crate) async fn handle_close(&mut self) -> Done {
        let State::Selected { user, view } = std::mem::replace(&mut self.state, State::Logout)
        else {
            return Done::bad("No mailbox selected");
        };
        self.state = State::Authenticated { user };
        if !view.read_only
            && !view.gone
            && let Err(e) = self.store().expunge(view.id, None).await
        {
            return store_error(e);
        }
        Done::ok("CLOSE completed")
    }

    /// UNSELECT: leaves the selected state without expunging. Selected state.
    /// RFC 9051 §6.4.2, RFC 3691.
    pub(crate) fn handle_unselect(&mut self) -> Done {
        if let Some(user) = self.user() {
            self.state = State::Authenticated { user };
        }
        Done::ok("UNSELECT completed")
    }
}

/// Resolves the QRESYNC parameter against the new view: known UIDs (all up to
/// UIDNEXT when omitted) and the sequence-match floor. `$` has no meaning here.
fn resync_of(q: &QResync, view: &View) -> Result<Resync, Done> {
    let top = view.uidnext.saturating_sub(1);
    let known = match &q.known_uids {
        None => vec![1..=top.max(1)],
        Some(Sequence::Set(s)) => s.ranges(u32::MAX),
        Some(_) => return Err(Done::bad("$ is not valid in QRESYNC")),
    };
    let floor = match &q.seq_match {
        None => 0,
        Some((Sequence::Set(seqs), Sequence::Set(uids))) => {
            let present: Vec<u32> = view.msgs.iter().map(|m| m.uid.0).collect();
            seq_match_floor(seqs, uids, &present)
        }
        Some(_) => return Err(Done::bad("$ is not valid in QRESYNC")),
    };
    Ok(Resync {
        since: q.mod_seq,
        known,
        floor,
    })
}
