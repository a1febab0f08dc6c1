//! APPEND (RFC 9051 §6.3.12; LITERAL+ RFC 7888; APPENDUID RFC 4315 §3; APPENDLIMIT
//! RFC 7889; UTF8 append-data RFC 6855 §4; literal8 RFC 3516 §4.4; several messages,
//! atomically, MULTIAPPEND RFC 3502; messages built from literals and IMAP URLs,
//! CATENATE RFC 4469).

use mailyard_store::{FlagSet, StoreError};

use crate::cmd::binary::encode_binary_parts;
use crate::cmd::to_flag_set;
use crate::proto::command::{AppendContent, AppendMessage, CatPart};
use crate::proto::response::ResponseCode;
use crate::proto::sequence::SequenceSet;
use crate::session::{Done, Session, store_error};
use crate::urlfetch::{Located, Need, Refused, Who, locate};

/// The largest message an APPEND can build, whatever the configuration: RFC 4469
/// §4.2 "the 4-GB IMAP message limit" (sizes are 32-bit, RFC 9051 §9 `number`).
pub(crate) const MAX_MESSAGE_BYTES: u64 = u32::MAX as u64;

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
        let limit = self.ctx.config().limits.message_size.min(MAX_MESSAGE_BYTES);
        let catenates = messages
            .iter()
            .any(|m| matches!(m.content, AppendContent::Catenate(_)));
        if catenates && let Some(done) = self.require_mailbox(&user, &name).await {
            return done;
        }
        let who = Who::Session {
            user: user.clone(),
            selected: self.view().map(|v| v.name.clone()),
        };
        // Everything that can be refused is checked before anything is stored (the
        // quota by the store, with the first message's staging: RFC 9208 §5.1).
        let mut batch: Vec<(Vec<u8>, FlagSet, Option<i64>)> = Vec::with_capacity(messages.len());
        for m in messages {
            let flags = match to_flag_set(&m.flags) {
                Ok(f) => f,
                Err(done) => return done,
            };
            let data = match m.content {
                AppendContent::Literal { data, binary } => {
                    if data.is_empty() {
                        return Done::no(Some(ResponseCode::Cannot), "Empty message");
                    }
                    if data.len() as u64 > limit {
                        return Done::no(Some(ResponseCode::TooBig), "Message too big");
                    }
                    // RFC 3516 §4.4: binary parts of a literal8 are stored
                    // base64-encoded (`binary.rs`), so BODY[…] never has to carry a
                    // NUL.
                    if binary {
                        encode_binary_parts(&data).unwrap_or(data)
                    } else {
                        data
                    }
                }
                AppendContent::Catenate(parts) => match self.catenate(parts, &who, limit).await {
                    Ok(data) if data.is_empty() => {
                        return Done::no(Some(ResponseCode::Cannot), "Empty message");
                    }
                    Ok(data) => data,
                    Err(done) => return done,
                },
            };
            batch.push((data, flags, m.date.map(|d| d.unix_timestamp())));
        }
        // Into the mailbox selected read-write: the APPEND claims its `\Recent`
        // messages too (RFC 3501 §2.3.2), so announcing them takes no second trip.
        let selected = self.view().filter(|v| !v.read_only).map(|v| v.id);
        match self
            .store()
            .append_many_claiming(&user, &name, batch, selected)
            .await
        {
            Ok((delivered, claimed)) => {
                for d in &delivered {
                    self.note_own_new(d.mailbox, d.uid);
                }
                if let Some(view) = self.view_mut()
                    && Some(view.id) == selected
                {
                    view.claim_ahead(claimed);
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

    /// NO [TRYCREATE] when the target mailbox does not exist. RFC 4469 §3 leaves the
    /// order of checks open; like Dovecot, a missing target is reported before any
    /// URL is looked at (imaptest `catenate`).
    async fn require_mailbox(&self, user: &mailyard_store::Address, name: &str) -> Option<Done> {
        match self.store().mailbox(user, name).await {
            Ok(Some(_)) => None,
            Ok(None) => Some(Done::no(Some(ResponseCode::TryCreate), "No such mailbox")),
            Err(e) => Some(store_error(e)),
        }
    }

    /// RFC 4469 §3: the message CATENATE builds, its parts in order: TEXT as sent,
    /// URL as `BODY[section]<partial>` of the message it names (`urlfetch.rs`).
    /// The first URL that gives nothing is NO [BADURL url] (RFC 4469 §4.1); a
    /// message over `limit` NO [TOOBIG] (§4.2).
    async fn catenate(&self, parts: Vec<CatPart>, who: &Who, limit: u64) -> Result<Vec<u8>, Done> {
        let hostname = self.ctx.config().hostname.clone();
        let mut out: Vec<u8> = Vec::new();
        for part in parts {
            match part {
                CatPart::Text(text) => out.extend_from_slice(&text),
                CatPart::Url(url) => {
                    let located =
                        locate(self.store(), &hostname, &url, who, Need::Own, Located::body).await;
                    match located.and_then(|b| b.ok_or(Refused::NoMessage)) {
                        Ok(bytes) => out.extend_from_slice(&bytes),
                        Err(Refused::Store(e)) => return Err(store_error(e)),
                        Err(why) => {
                            tracing::debug!(%url, %why, "CATENATE URL refused");
                            return Err(Done::no(
                                Some(ResponseCode::BadUrl(url)),
                                "CATENATE URL is invalid or names no message part",
                            ));
                        }
                    }
                }
            }
            if out.len() as u64 > limit {
                return Err(Done::no(Some(ResponseCode::TooBig), "Message too big"));
            }
        }
        Ok(out)
    }
}
