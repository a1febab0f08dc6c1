//! STORE / UID STORE (RFC 9051 §6.4.6, §6.4.9; UNCHANGEDSINCE RFC 7162 §3.1.3).

use std::io::Write as _;

use mailyard_store::{FlagMode, ModSeq, Uid};

use crate::cmd::fetch::write_flags_modseq;
use crate::cmd::to_flag_set;
use crate::proto::command::StoreAction;
use crate::proto::response::ResponseCode;
use crate::proto::sequence::{Sequence, SequenceSet};
use crate::proto::types::Flag;
use crate::session::{Done, Session, store_error};

impl Session {
    /// STORE seq-set [(UNCHANGEDSINCE n)] [+|-]FLAGS[.SILENT] (flags): changes flags
    /// and, unless SILENT, answers with each message's new FLAGS (and UID for UID
    /// STORE, MODSEQ once CONDSTORE is on). With UNCHANGEDSINCE (CONDSTORE-enabling)
    /// messages whose MODSEQ is above n are left alone and listed in
    /// `OK [MODIFIED set]`; with SILENT the changed ones are still reported with
    /// their new MODSEQ (RFC 7162 §3.1.3). `$` is the saved search result
    /// (RFC 5182). Selected state, read-write mailboxes only. RFC 9051 §6.4.6.
    pub(crate) async fn handle_store(
        &mut self,
        uid: bool,
        sequence: Sequence,
        action: StoreAction,
        silent: bool,
        flags: Vec<Flag>,
        unchanged_since: Option<u64>,
    ) -> Done {
        let given = match to_flag_set(&flags) {
            Ok(f) => f,
            Err(done) => return done,
        };
        let Some(view) = self.view() else {
            return Done::bad("No mailbox selected");
        };
        if view.read_only {
            return Done::no(Some(ResponseCode::ReadOnly), "Mailbox is read-only");
        }
        let set = match self.message_set(&sequence, uid) {
            Ok(s) => s,
            Err(done) => return done,
        };
        let Some(view) = self.view() else {
            return Done::bad("No mailbox selected");
        };
        let indices = view.resolve(&set, uid);
        let uids: Vec<Uid> = indices
            .iter()
            .filter_map(|&i| view.msgs.get(i))
            .filter(|m| !m.expunged)
            .map(|m| m.uid)
            .collect();
        let id = view.id;
        let mode = match action {
            StoreAction::Replace => FlagMode::Replace,
            StoreAction::Add => FlagMode::Add,
            StoreAction::Remove => FlagMode::Remove,
        };
        if unchanged_since.is_some() {
            // RFC 7162 §3.1: a CONDSTORE-enabling command.
            self.enable_condstore();
        }
        if uids.is_empty() {
            return Done::ok("STORE completed");
        }
        let (changed, modified) = match self
            .store()
            .set_flags(id, uids.clone(), mode, given, unchanged_since.map(ModSeq))
            .await
        {
            Ok(r) => r,
            Err(e) => return store_error(e),
        };
        let changed_uids: Vec<Uid> = changed.iter().map(|(u, _, _)| *u).collect();
        let ext = &self.ext;
        let crate::session::state::State::Selected { view, .. } = &mut self.state else {
            return Done::bad("No mailbox selected");
        };
        view.set_flags(changed);
        // RFC 9051 §7.3.5: a keyword new to the mailbox is announced first.
        let mut out = Vec::new();
        view.announce_keywords(&mut out);
        self.conn.wbuf.extend_from_slice(&out);
        if !silent {
            let mut out = Vec::new();
            for u in &uids {
                if modified.contains(u) {
                    continue;
                }
                if let Some(i) = view.index_of(*u) {
                    let m = &view.msgs[i];
                    let _ = write!(out, "* {} FETCH (", i + 1);
                    write_flags_modseq(&mut out, m, ext);
                    if uid {
                        let _ = write!(out, " UID {}", u.0);
                    }
                    out.extend_from_slice(b")\r\n");
                }
            }
            self.conn.wbuf.extend_from_slice(&out);
        } else if ext.condstore {
            // RFC 7162 §3.1.3: with .SILENT, the new MODSEQ of each changed message.
            let mut out = Vec::new();
            for u in &changed_uids {
                if let Some(i) = view.index_of(*u) {
                    let m = &view.msgs[i];
                    let _ = write!(out, "* {} FETCH (MODSEQ ({})", i + 1, m.info.modseq.0);
                    if uid {
                        let _ = write!(out, " UID {}", u.0);
                    }
                    out.extend_from_slice(b")\r\n");
                }
            }
            self.conn.wbuf.extend_from_slice(&out);
        }
        if !modified.is_empty() {
            let numbers: Vec<u32> = if uid {
                modified.iter().map(|u| u.0).collect()
            } else {
                let Some(view) = self.view() else {
                    return Done::ok("STORE completed");
                };
                modified
                    .iter()
                    .filter_map(|u| view.index_of(*u))
                    .map(|i| u32::try_from(i + 1).unwrap_or(u32::MAX))
                    .collect()
            };
            return Done::ok_code(
                ResponseCode::Modified(SequenceSet::from_sorted(numbers)),
                "Conditional STORE failed for some messages",
            );
        }
        Done::ok("STORE completed")
    }
}
