//! STATUS (RFC 9051 §6.3.11, RFC 8438 SIZE); also used by LIST RETURN (STATUS …)
//! (RFC 5819).

use mailyard_store::{Address, MailboxCounts, MailboxInfo, Store, StoreError};

use crate::proto::command::StatusItem;
use crate::session::{Done, End, Session, store_error};

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
    render(
        (mb.uidnext.0, mb.uidvalidity.0, mb.highestmodseq.0),
        counts,
        items,
    )
}

/// `(NAME value …)` from a mailbox's UIDNEXT, UIDVALIDITY and HIGHESTMODSEQ and its
/// counts.
fn render(
    (uidnext, uidvalidity, highestmodseq): (u32, u32, u64),
    counts: &MailboxCounts,
    items: &[StatusItem],
) -> String {
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        let v: u64 = match item {
            StatusItem::Messages => counts.messages,
            StatusItem::UidNext => u64::from(uidnext),
            StatusItem::UidValidity => u64::from(uidvalidity),
            StatusItem::Unseen => counts.unseen,
            // RFC 3501 §2.3.2: not yet claimed by a session (for the selected
            // mailbox: `\Recent` in this session, `View::counts`).
            StatusItem::Recent => counts.recent,
            StatusItem::Deleted => counts.deleted,
            StatusItem::Size => counts.size,
            StatusItem::HighestModSeq => highestmodseq,
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
    pub(crate) async fn handle_status(
        &mut self,
        mailbox: String,
        items: Vec<StatusItem>,
    ) -> Result<Done, End> {
        let Some(user) = self.user() else {
            return Ok(Done::bad("Not logged in"));
        };
        if items.contains(&StatusItem::HighestModSeq) {
            self.enable_condstore();
        }
        let name = match self.decode_mailbox(&mailbox) {
            Ok(n) => n,
            Err(done) => return Ok(done),
        };
        let values = match self.status_of_selected(&name, &items).await? {
            Some(values) => Ok(Some(values)),
            None => status_of(self.store(), &user, &name, items).await,
        };
        Ok(match values {
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
        })
    }

    /// STATUS of the selected mailbox (RFC 9051 §6.3.11 allows it, though a client
    /// SHOULD NOT ask): like Dovecot, answered from the session's view, with no trip to
    /// the index. The view is brought up to date first — the updates it owes go out
    /// now, EXPUNGE included, which STATUS permits (§7.5.1) — so every change completed
    /// before this command is counted. None: `name` is not the selected mailbox (or it
    /// was deleted); the index answers.
    async fn status_of_selected(
        &mut self,
        name: &str,
        items: &[StatusItem],
    ) -> Result<Option<String>, End> {
        let selected = |s: &Self| {
            s.view().is_some_and(|v| {
                !v.gone && mailyard_store::mailbox_name::normalize(name).is_ok_and(|n| n == v.name)
            })
        };
        if !selected(self) {
            return Ok(None);
        }
        self.send_updates(true).await?;
        Ok(self
            .view()
            .filter(|_| selected(self))
            .map(|v| render((v.uidnext, v.uidvalidity, v.modseq), &v.counts(), items)))
    }
}
