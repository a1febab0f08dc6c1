//! EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 9051 §6.4.9, RFC 4315 §2.1); the
//! VANISHED response that replaces EXPUNGE once QRESYNC is on (RFC 7162 §3.2.10).

use mailyard_store::Uid;

use crate::proto::response::ResponseCode;
use crate::proto::sequence::{Sequence, SequenceSet};
use crate::session::{Done, Session, store_error};

/// Writes `* VANISHED [(EARLIER) ]uid-set` (RFC 7162 §3.2.10); nothing when the set
/// is empty.
pub(crate) fn write_vanished_set(out: &mut Vec<u8>, earlier: bool, set: &SequenceSet) {
    if set.items.is_empty() {
        return;
    }
    out.extend_from_slice(if earlier {
        b"* VANISHED (EARLIER) ".as_slice()
    } else {
        b"* VANISHED ".as_slice()
    });
    out.extend_from_slice(set.to_wire().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// [`write_vanished_set`] for UIDs (any order).
pub(crate) fn write_vanished(out: &mut Vec<u8>, earlier: bool, mut uids: Vec<Uid>) {
    uids.sort_unstable();
    uids.dedup();
    write_vanished_set(
        out,
        earlier,
        &SequenceSet::from_sorted(uids.into_iter().map(|u| u.0)),
    );
}

impl Session {
    /// EXPUNGE / UID EXPUNGE set: removes `\Deleted` messages (of `set` only, for UID
    /// EXPUNGE; `$` is the saved search result, RFC 5182) and sends `* n EXPUNGE` for
    /// each, highest first, or one `* VANISHED uid-set` once QRESYNC is on
    /// (RFC 7162 §3.2.10). Selected state, read-write mailboxes only. RFC 9051
    /// §6.4.3, §6.4.9.
    pub(crate) async fn handle_expunge(&mut self, uids: Option<Sequence>) -> Done {
        let Some(view) = self.view() else {
            return Done::bad("No mailbox selected");
        };
        if view.read_only {
            return Done::no(Some(ResponseCode::ReadOnly), "Mailbox is read-only");
        }
        let only: Option<Vec<Uid>> = uids.map(|seq| {
            let set = self.ext.resolve(&seq, view, true);
            view.resolve(&set, true)
                .into_iter()
                .filter_map(|i| view.msgs.get(i))
                .map(|m| m.uid)
                .collect()
        });
        let id = view.id;
        if only.as_ref().is_some_and(Vec::is_empty) {
            return Done::ok("EXPUNGE completed");
        }
        let gone = match self.store().expunge(id, only).await {
            Ok(g) => g,
            Err(e) => return store_error(e),
        };
        if let Some(view) = self.view_mut() {
            view.mark_expunged(gone);
        }
        self.send_expunges();
        Done::ok("EXPUNGE completed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vanished_lines() {
        let mut out = Vec::new();
        write_vanished(&mut out, false, vec![Uid(5), Uid(3), Uid(4), Uid(9)]);
        write_vanished(&mut out, true, vec![]);
        write_vanished(&mut out, true, vec![Uid(41)]);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "* VANISHED 3:5,9\r\n* VANISHED (EARLIER) 41\r\n"
        );
    }
}
