//! APPEND (RFC 9051 §6.3.12; LITERAL+ RFC 7888; APPENDUID RFC 4315 §3; APPENDLIMIT
//! RFC 7889; UTF8 append-data RFC 6855 §4; literal8 RFC 3516 §4.4; several messages,
//! atomically, MULTIAPPEND RFC 3502).

use mailyard_store::{FlagSet, StoreError};

use crate::cmd::binary::encode_binary_parts;
use crate::cmd::to_flag_set;
use crate::proto::command::AppendMessage;
use crate::proto::response::ResponseCode;
use crate::proto::sequence::SequenceSet;
use crate::session::{Done, Session, store_error};

impl Session {
    /// APPEND mailbox 1*([(flags)] ["date-time"] literal): stores every message
    /// durably, all or none (RFC 3502 §6.3.11: one failing message fails the
    /// command and nothing is stored), before answering OK [APPENDUID uidvalidity
    /// uid-set]. A message may be a literal8 `~{n}` holding any octet (RFC 3516
    /// §4.4); its `binary` parts are stored base64-encoded. A missing mailbox is NO [TRYCREATE]; over the quota NO [OVERQUOTA]; an
    /// empty message NO; over APPENDLIMIT the receiver already refused the literal
    /// (TOOBIG). Authenticated and selected states. RFC 9051 §6.3.12, RFC 3502.
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
        // Everything that can be refused is checked before anything is stored.
        let mut batch: Vec<(Vec<u8>, FlagSet, Option<i64>)> = Vec::with_capacity(messages.len());
        let mut total: u64 = 0;
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
            // RFC 3516 §4.4: binary parts of a literal8 are stored base64-encoded
            // (`binary.rs`), so BODY[…] never has to carry a NUL.
            let data = if m.binary {
                encode_binary_parts(&m.data).unwrap_or(m.data)
            } else {
                m.data
            };
            total = total.saturating_add(data.len() as u64);
            batch.push((data, flags, m.date.map(|d| d.unix_timestamp())));
        }
        if let Some(done) = self.over_quota(&user, total).await {
            return done;
        }
        match self.store().append_many(&user, &name, batch).await {
            Ok(delivered) => {
                for d in &delivered {
                    self.note_own_new(d.mailbox, d.uid);
                }
                let validity = delivered.first().map_or(0, |d| d.uidvalidity.0);
                let mut uids: Vec<u32> = delivered.iter().map(|d| d.uid.0).collect();
                uids.sort_unstable();
                Done::ok_code(
                    ResponseCode::AppendUid {
                        uid_validity: validity,
                        uids: SequenceSet::from_sorted(uids),
                    },
                    "APPEND completed",
                )
            }
            Err(StoreError::NoMailbox(_)) => {
                Done::no(Some(ResponseCode::TryCreate), "No such mailbox")
            }
            Err(e) => store_error(e),
        }
    }
}
