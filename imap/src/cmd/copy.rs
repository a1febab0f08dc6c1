//! COPY / UID COPY (RFC 9051 §6.4.7, COPYUID RFC 4315 §3) and MOVE / UID MOVE
//! (RFC 6851 §3).

use mailyard_store::{StoreError, Uid};

use crate::proto::response::{ResponseCode, Status};
use crate::proto::sequence::{Sequence, SequenceSet};
use crate::session::{Done, End, Session, store_error};

impl Session {
    /// COPY / MOVE seq-set mailbox: hard links into the target with new UIDs,
    /// answered with [COPYUID uidvalidity source-uids target-uids]. MOVE then
    /// expunges the source messages: `* OK [COPYUID …]`, the EXPUNGE responses, the
    /// tagged OK (RFC 6851 §4.3). A missing target is NO [TRYCREATE]. Selected state.
    /// RFC 9051 §6.4.7, RFC 6851 §3, RFC 4315 §3.
    pub(crate) async fn handle_copy(
        &mut self,
        uid: bool,
        sequence: Sequence,
        mailbox: String,
        remove: bool,
    ) -> Result<Done, End> {
        let Some(user) = self.user() else {
            return Ok(Done::bad("Not logged in"));
        };
        let target = match self.decode_mailbox(&mailbox) {
            Ok(n) => n,
            Err(done) => return Ok(done),
        };
        let Some(view) = self.view() else {
            return Ok(Done::bad("No mailbox selected"));
        };
        if remove && view.read_only {
            return Ok(Done::no(
                Some(ResponseCode::ReadOnly),
                "Mailbox is read-only",
            ));
        }
        // RFC 5182 §2.1: `$` is the saved search result.
        let set = match self.message_set(&sequence, uid) {
            Ok(s) => s,
            Err(done) => return Ok(done),
        };
        let Some(view) = self.view() else {
            return Ok(Done::bad("No mailbox selected"));
        };
        let mut size: u64 = 0;
        let uids: Vec<Uid> = view
            .resolve(&set, uid)
            .into_iter()
            .filter_map(|i| view.msgs.get(i))
            .filter(|m| !m.expunged)
            .map(|m| {
                size = size.saturating_add(m.info.size);
                m.uid
            })
            .collect();
        let id = view.id;
        let verb = if remove { "MOVE" } else { "COPY" };
        if uids.is_empty() {
            return Ok(Done::ok(format!("{verb} completed (no messages)")));
        }
        if !remove && let Some(done) = self.over_quota(&user, size).await {
            return Ok(done);
        }
        let (to, uidvalidity, pairs) = match self
            .store()
            .copy_messages(id, uids, &user, &target, remove)
            .await
        {
            Ok(r) => r,
            Err(StoreError::NoMailbox(_)) => {
                return Ok(Done::no(
                    Some(ResponseCode::TryCreate),
                    "No such target mailbox",
                ));
            }
            Err(e) => return Ok(store_error(e)),
        };
        for (_, new) in &pairs {
            self.note_own_new(to, *new);
        }
        let code = ResponseCode::CopyUid {
            uid_validity: uidvalidity.0,
            source: SequenceSet::from_sorted(pairs.iter().map(|(s, _)| s.0)),
            dest: SequenceSet::from_sorted(pairs.iter().map(|(_, d)| d.0)),
        };
        if pairs.is_empty() {
            return Ok(Done::ok(format!("{verb} completed (no messages)")));
        }
        if !remove {
            return Ok(Done::ok_code(code, "COPY completed"));
        }
        self.untagged(Status::Ok, Some(&code), "Moved UIDs");
        if let Some(view) = self.view_mut() {
            view.mark_expunged(pairs.iter().map(|(s, _)| *s));
        }
        self.send_expunges();
        Ok(Done::ok("MOVE completed"))
    }
}
