//! What the protocol crates read from the index, as typed methods: each runs its
//! queries in one read transaction on a pooled read connection
//! ([`crate::index::Readers`]), so callers never see SQLite. They block: the async
//! door (`door.rs`) calls them on its side of the hop.

use crate::index;
use crate::summary::Summary;
use crate::{MailboxId, MessageInfo, ModSeq, Result, Store, Uid};

/// Per message, in the order asked: the blob, or `None` (none stored, or gone).
pub type Blobs = Vec<Option<Vec<u8>>>;

/// `load` of each of `uids` when `want`, else `None` for each.
fn each<T>(
    want: bool,
    uids: &[Uid],
    mut load: impl FnMut(Uid) -> Result<Option<T>>,
) -> Result<Vec<Option<T>>> {
    if want {
        uids.iter().map(|&uid| load(uid)).collect()
    } else {
        Ok(std::iter::repeat_with(|| None).take(uids.len()).collect())
    }
}

impl Store {
    /// The stored shapes (`mailyard_message::codec`, when `shapes`) and cached header
    /// fields (`headers.rs`, when `headers`) of `uids`, in their order; `None` where a
    /// message has none or is gone. One snapshot for both.
    pub(crate) fn shapes_and_headers_blocking(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        shapes: bool,
        headers: bool,
    ) -> Result<(Blobs, Blobs)> {
        self.read(|c| {
            Ok((
                each(shapes, uids, |uid| index::shape(c, mailbox, uid))?,
                each(headers, uids, |uid| index::header_cache(c, mailbox, uid))?,
            ))
        })
    }

    /// The summaries (decoded fields for SEARCH, SORT and THREAD, and the shape) of
    /// `uids`, in their order; `None` for a message that is gone.
    pub(crate) fn summaries_blocking(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<Option<Summary>>> {
        self.read(|c| each(true, uids, |uid| index::summary(c, mailbox, uid)))
    }

    /// One message's row and stored shape, from one snapshot.
    pub(crate) fn message_with_shape_blocking(
        &self,
        mailbox: MailboxId,
        uid: Uid,
    ) -> Result<(Option<MessageInfo>, Option<Vec<u8>>)> {
        self.read(|c| {
            Ok((
                index::message(c, mailbox, uid)?,
                index::shape(c, mailbox, uid)?,
            ))
        })
    }

    /// RFC 7162 §3.2.5, §3.2.10: the lowest MODSEQ the expunge log still covers
    /// (`None`: nothing known) and the UIDs expunged with a MODSEQ above `since`.
    pub(crate) fn expunge_log_blocking(
        &self,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<(Option<u64>, Vec<Uid>)> {
        self.read(|c| {
            Ok((
                index::modseq_floor(c, mailbox)?,
                index::expunged_since(c, mailbox, since)?,
            ))
        })
    }
}
