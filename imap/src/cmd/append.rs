//! APPEND (RFC 9051 §6.3.12; LITERAL+ RFC 7888; APPENDUID RFC 4315 §3; APPENDLIMIT
//! RFC 7889; UTF8 append-data RFC 6855 §4).

use mailyard_store::{StoreError, Uid};

use crate::cmd::to_flag_set;
use crate::proto::command::AppendMessage;
use crate::proto::response::ResponseCode;
use crate::proto::sequence::SequenceSet;
use crate::session::{Done, Session, store_error};

impl Session {
    /// APPEND mailbox [(flags)] ["date-time"] literal: stores the message durably
    /// before answering OK [APPENDUID uidvalidity uid]. A missing mailbox is
    /// NO [TRYCREATE]; a message over the quota NO [OVERQUOTA]; over APPENDLIMIT the
    /// receiver already refused the literal (TOOBIG). Authenticated and selected
    /// states. RFC 9051 §6.3.12.
    pub(crate) async fn handle_append(
        &mut self,
        mailbox: String,
        messages: Vec<AppendMessage>,
    ) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        let name = match self.decode_mailbox(&mailbox) {
            Ok(n) => n,
            Err(done) => return done,
        };
        let limit = self.ctx.config.limits.message_size;
        let mut uids: Vec<u32> = Vec::new();
        let mut validity = 0;
        for m in messages {
            if m.data.is_empty() {
                return Done::no(Some(ResponseCode::Cannot), "Empty message");
            }
            if m.data.len() as u64 > limit {
                return Done::no(Some(ResponseCode::TooBig), "Message too big");
            }
            let flags = match to_flag_set(&m.flags) {
                Ok(f) => f,
                Err(done) => return done,
            };
            if let Some(done) = self.over_quota(&user, m.data.len() as u64).await {
                return done;
            }
            let date = m.date.map(|d| d.unix_timestamp());
            match self.store().append(&user, &name, m.data, flags, date).await {
                Ok(d) => {
                    validity = d.uidvalidity.0;
                    let Uid(u) = d.uid;
                    uids.push(u);
                }
                Err(StoreError::NoMailbox(_)) => {
                    return Done::no(Some(ResponseCode::TryCreate), "No such mailbox");
                }
                Err(e) => return store_error(e),
            }
        }
        Done::ok_code(
            ResponseCode::AppendUid {
                uid_validity: validity,
                uids: SequenceSet::from_sorted(uids),
            },
            "APPEND completed",
        )
    }
}
