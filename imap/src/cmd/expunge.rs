//! EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 9051 §6.4.9, RFC 4315 §2.1).

use mailyard_store::Uid;

use crate::proto::response::ResponseCode;
use crate::proto::sequence::Sequence;
use crate::session::{Done, Session, store_error};

impl Session {
    /// EXPUNGE / UID EXPUNGE set: removes `\Deleted` messages (of `set` only, for UID
    /// EXPUNGE) and sends `* n EXPUNGE` for each, highest first. Selected state,
    /// read-write mailboxes only. RFC 9051 §6.4.3, §6.4.9.
    pub(crate) async fn handle_expunge(&mut self, uids: Option<Sequence>) -> Done {
        let Some(view) = self.view() else {
            return Done::bad("No mailbox selected");
        };
        if view.read_only {
            return Done::no(Some(ResponseCode::ReadOnly), "Mailbox is read-only");
        }
        let only: Option<Vec<Uid>> = match uids {
            None => None,
            Some(Sequence::Saved) => return Done::bad("$ (SEARCHRES) is not supported"),
            Some(Sequence::Set(set)) => Some(
                view.resolve(&set, true)
                    .into_iter()
                    .filter_map(|i| view.msgs.get(i))
                    .map(|m| m.uid)
                    .collect(),
            ),
        };
        let id = view.id;
        if only.as_ref().is_some_and(Vec::is_empty) {
            return Done::ok("EXPUNGE completed");
        }
        let gone = match self.store().expunge(id, only).await {
            Ok(g) => g,
            Err(e) => return store_error(e),
        };
        if let Some(view) = self.view_mut() {
            for u in gone {
                if let Some(i) = view.index_of(u) {
                    view.msgs[i].expunged = true;
                }
            }
        }
        self.send_expunges();
        Done::ok("EXPUNGE completed")
    }
}
