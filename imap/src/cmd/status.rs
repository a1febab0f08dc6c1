//! STATUS (RFC 9051 §6.3.11, RFC 8438 SIZE); also used by LIST RETURN (STATUS …)
//! (RFC 5819).

use mailyard_store::{Address, MailboxCounts, MailboxInfo, Store, StoreError};

use crate::proto::command::StatusItem;
use crate::session::{Done, Session, store_error};

/// Whether any of `items` needs the mailbox's counts (one aggregate query on the
/// index); UIDNEXT, UIDVALIDITY and HIGHESTMODSEQ are in the mailbox row.
pub(crate) fn needs_counts(items: &[StatusItem]) -> bool {
    items.iter().any(|i| {
        !matches!(
            i,
            StatusItem::UidNext | StatusItem::UidValidity | StatusItem::HighestModSeq
        )
    })
}

/// The values of `items` for one mailbox, as `(NAME value …)`, from its row and its
/// counts (zeros where [`needs_counts`] said none were needed).
pub(crate) fn status_values(
    mb: &MailboxInfo,
    counts: &MailboxCounts,
    items: &[StatusItem],
) -> String {
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        let v: u64 = match item {
            StatusItem::Messages => counts.messages,
            StatusItem::UidNext => u64::from(mb.uidnext.0),
            StatusItem::UidValidity => u64::from(mb.uidvalidity.0),
            StatusItem::Unseen => counts.unseen,
            // RFC 3501 §2.3.2: not yet claimed by a session.
            StatusItem::Recent => counts.recent,
            StatusItem::Deleted => counts.deleted,
            StatusItem::Size => counts.size,
            StatusItem::HighestModSeq => mb.highestmodseq.0,
        };
        parts.push(format!("{} {v}", item.as_str()));
    }
    format!("({})", parts.join(" "))
}

/// Looks a mailbox up and renders its status values (one store hop).
pub(crate) async fn status_of(
    store: &Store,
    user: &Address,
    name: &str,
    items: Vec<StatusItem>,
) -> Result<Option<String>, StoreError> {
    Ok(store
        .mailbox_status(user, name, needs_counts(&items))
        .await?
        .map(|(mb, counts)| status_values(&mb, &counts, &items)))
}

impl Session {
    /// `* STATUS name values` + CRLF, `values` as [`status_values`] renders them.
    /// RFC 9051 §7.3.3.
    pub(crate) fn write_status_line(&self, out: &mut Vec<u8>, name: &str, values: &[u8]) {
        out.extend_from_slice(b"* STATUS ");
        self.write_mailbox(out, name);
        out.push(b' ');
        out.extend_from_slice(values);
        out.extend_from_slice(b"\r\n");
    }

    /// STATUS name (items): MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT DELETED SIZE
    /// HIGHESTMODSEQ (CONDSTORE-enabling, RFC 7162 §3.1, §3.1.6). Authenticated and
    /// selected states. RFC 9051 §6.3.11.
    pub(crate) async fn handle_status(&mut self, mailbox: String, items: Vec<StatusItem>) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        if items.contains(&StatusItem::HighestModSeq) {
            self.enable_condstore();
        }
        let name = match self.decode_mailbox(&mailbox) {
            Ok(n) => n,
            Err(done) => return done,
        };
        match status_of(self.store(), &user, &name, items).await {
            Ok(Some(values)) => {
                let mut out = Vec::new();
                self.write_status_line(&mut out, &name, values.as_bytes());
                self.conn.wbuf.extend_from_slice(&out);
                Done::ok("STATUS completed")
            }
            Ok(None) => Done::no(
                Some(crate::proto::response::ResponseCode::Nonexistent),
                "No such mailbox",
            ),
            Err(e) => store_error(e),
        }
    }
}
