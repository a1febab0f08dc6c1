//! BURL (RFC 4468): message data fetched from an IMAP URL instead of sent by the
//! client. Our own store is the IMAP server, so the URL is resolved in-process by
//! `mailyard_imap::urlfetch` (the code IMAP URLFETCH uses): no IMAP connection, no
//! trust relationship to configure. A URL of another host is refused.
//!
//! What a BURL fetches is a chunk of the message, exactly as a BDAT chunk of the
//! same octets (RFC 4468 §3.2: BURL and BDAT may be mixed; `LAST` ends the message),
//! so size limits and line checks are the BDAT receiver's.

use mailyard_imap::urlfetch::{Refused, fetch_for_submission};

use super::{End, Flow, Session};
use crate::Role;
use crate::proto::{EnhancedStatus, Reply};

impl Session {
    /// Whether BURL is offered: on a submission listener, once authenticated (RFC
    /// 4468 §3.1, §6: the URL's access is checked against the submitting user).
    pub(super) fn burl_allowed(&self) -> bool {
        self.role != Role::Mx && self.auth.is_some()
    }

    /// BURL url [LAST]. Authenticated submission, inside a transaction with
    /// recipients. The URL must be an IMAP URL of this server, URLAUTH-authorized
    /// for `submit+<user>` (or `authuser`/`anonymous`). RFC 4468 §3.2, §3.5.
    /// A URL that cannot be fetched fails the message (the transaction is reset, as
    /// after a refused BDAT LAST): 554 5.7.0 for another server's URL (§3.5 "URL
    /// resolution requires trust relationship"), 554 5.6.6 when it gives nothing
    /// (§5, X.6.6 "message content not available").
    pub(super) async fn handle_burl(&mut self, url: String, last: bool) -> Result<Flow, End> {
        let Some(user) = self.auth.clone().filter(|_| self.burl_allowed()) else {
            return Ok(if self.role == Role::Mx {
                self.error(Reply::new(
                    502,
                    Some(EnhancedStatus::new(5, 5, 1)),
                    "BURL is offered for authenticated submission only",
                ))
            } else {
                self.error(Reply::new(
                    530,
                    Some(EnhancedStatus::new(5, 7, 0)),
                    "Authentication required for BURL",
                ))
            });
        };
        if self.tx.as_ref().is_none_or(|t| t.rcpts.is_empty()) {
            return Ok(self.error(Reply::bad_sequence("Need MAIL and RCPT before BURL")));
        }
        if !url
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("imap:"))
        {
            return Ok(self.burl_failed(Reply::new(
                554,
                Some(EnhancedStatus::new(5, 5, 4)),
                "Only imap: URLs are supported (BURL imap)",
            )));
        }
        let fetched =
            fetch_for_submission(&self.ctx.store, &self.ctx.config().hostname, &url, &user).await;
        let data = match fetched {
            Ok(data) => data,
            Err(Refused::NotOurs) => {
                return Ok(self.burl_failed(Reply::new(
                    554,
                    Some(EnhancedStatus::new(5, 7, 0)),
                    "URL resolution requires trust relationship",
                )));
            }
            Err(Refused::Store(e)) => {
                tracing::error!(error = %e, "BURL fetch");
                return Ok(self.burl_failed(Reply::local_error()));
            }
            Err(why) => {
                tracing::info!(%why, "BURL URL refused");
                return Ok(self.burl_failed(Reply::new(
                    554,
                    Some(EnhancedStatus::new(5, 6, 6)),
                    "IMAP URL resolution failed",
                )));
            }
        };
        let mut rx = self.chunk_receiver();
        rx.start_chunk(data.len() as u64, last);
        match rx.feed(&data) {
            (_, Some(event)) => Ok(self.chunk_done(rx, event).await),
            // A receiver already done (after a LAST) takes no chunk.
            (_, None) => Ok(self.burl_failed(Reply::bad_sequence("Message already complete"))),
        }
    }

    /// Refuses the BURL and drops the message and its transaction.
    fn burl_failed(&mut self, r: Reply) -> Flow {
        self.drop_message();
        self.tx = None;
        self.error(r)
    }
}
