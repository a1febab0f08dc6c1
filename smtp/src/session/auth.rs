//! AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms.

use mailyard_common::sasl;
use mailyard_common::throttle::{Refusal, Verdict};

use super::{End, Flow, Session};
use crate::Role;
use crate::proto::{EnhancedStatus, LineReceiver, LineResult, MAX_SASL_LINE, Reply};

impl Session {
    /// AUTH. On submission listeners, after EHLO, before MAIL, once; only over TLS
    /// unless loopback plaintext is allowed (RFC 4954 §4: 538 otherwise). A failure is
    /// answered after a delay that grows per address, and repeated failures ban the
    /// address or lock the account (`AuthThrottle`, asked before every verification,
    /// as IMAP does: a banned address gets `421` even with the right password).
    pub(super) async fn handle_auth(
        &mut self,
        mechanism: &str,
        initial: Option<String>,
    ) -> Result<Flow, End> {
        if self.role == Role::Mx {
            return Ok(self.error(Reply::not_implemented()));
        }
        if !self.auth_allowed() {
            return Ok(self.error(Reply::encryption_required()));
        }
        if self.helo.is_none() {
            return Ok(self.error(Reply::bad_sequence("Send EHLO first")));
        }
        if self.auth.is_some() {
            return Ok(self.error(Reply::bad_sequence("Already authenticated")));
        }
        if self.tx.is_some() {
            return Ok(self.error(Reply::bad_sequence(
                "AUTH not allowed during a mail transaction",
            )));
        }
        let creds = match mechanism {
            "PLAIN" => {
                let response = match initial {
                    Some(ir) => ir,
                    None => match self.challenge("").await? {
                        Some(line) => line,
                        None => return Ok(self.error(Reply::auth_line_too_long())),
                    },
                };
                sasl::decode_plain(&response).map(|c| (c.authcid, c.password))
            }
            "LOGIN" => {
                let user = match initial {
                    Some(ir) => sasl::decode_login_username(&ir),
                    None => match self.challenge(sasl::LOGIN_USERNAME_CHALLENGE).await? {
                        Some(line) => sasl::decode_login_username(&line),
                        None => return Ok(self.error(Reply::auth_line_too_long())),
                    },
                };
                match user {
                    Ok(user) => match self.challenge(sasl::LOGIN_PASSWORD_CHALLENGE).await? {
                        Some(line) => sasl::decode_login_password(&line).map(|p| (user, p)),
                        None => return Ok(self.error(Reply::auth_line_too_long())),
                    },
                    Err(e) => Err(e),
                }
            }
            _ => {
                return Ok(self.error(Reply::new(
                    504,
                    Some(EnhancedStatus::new(5, 5, 4)),
                    "Unrecognized authentication mechanism",
                )));
            }
        };
        let (login, password) = match creds {
            Ok(c) => c,
            Err(sasl::SaslError::Cancelled) => return Ok(self.error(Reply::auth_cancelled())),
            Err(e) => {
                return Ok(self.error(Reply::syntax_error(&format!(
                    "Cannot decode the response: {e}"
                ))));
            }
        };
        let ip = self.peer.ip();
        let check = self.ctx.store.password_check(&login, password);
        let verdict = self.ctx.auth_throttle.verify(ip, &login, check).await;
        match verdict {
            Verdict::Ok(user) => {
                tracing::info!(%user, "authenticated");
                self.auth = Some(user);
                self.conn.authenticated();
                self.login_deadline = None;
                self.reply(Reply::auth_successful());
                Ok(Flow::Continue)
            }
            Verdict::Refused(Refusal::AddressBanned) => Ok(self.banned()),
            // RFC 4954 §6: 454 4.7.0 Temporary authentication failure.
            Verdict::Refused(Refusal::AccountLocked) => {
                tracing::info!("authentication refused: account locked");
                Ok(self.error(Reply::new(
                    454,
                    Some(EnhancedStatus::new(4, 7, 0)),
                    "Temporary authentication failure, try again later",
                )))
            }
            // A store error answers as a failed check (never a success), uncounted.
            Verdict::Wrong | Verdict::Failed(_) => {
                tracing::info!("authentication failed");
                if self.ctx.auth_throttle.is_banned(ip) {
                    self.reply(Reply::auth_failed());
                    return Ok(self.banned());
                }
                Ok(self.error(Reply::auth_failed()))
            }
        }
    }

    /// The client's address is banned: `421 4.7.0` and the connection closes, whether
    /// the ban came from this session or another.
    fn banned(&mut self) -> Flow {
        self.reply(Reply::new(
            421,
            Some(EnhancedStatus::new(4, 7, 0)),
            "Too many failed logins, closing",
        ));
        Flow::Close
    }

    /// Sends a `334` challenge (base64 already) and reads one response line. None when
    /// the line is too long (RFC 4954 §4: 500 5.5.6).
    async fn challenge(&mut self, base64: &str) -> Result<Option<String>, End> {
        self.reply(Reply::auth_challenge(base64));
        self.conn.flush().await?;
        let mut lines = LineReceiver::new(MAX_SASL_LINE);
        let mut too_long = false;
        loop {
            match lines.next_line(&self.conn.rbuf) {
                LineResult::Line { line, consumed } => {
                    let text = String::from_utf8_lossy(line).into_owned();
                    self.conn.rbuf.drain(..consumed);
                    return Ok(if too_long { None } else { Some(text) });
                }
                LineResult::TooLong { consumed } => {
                    self.conn.rbuf.drain(..consumed);
                    too_long = true;
                }
                LineResult::NeedMore { consumed } => {
                    self.conn.rbuf.drain(..consumed);
                    self.read_more(false).await?;
                }
            }
        }
    }
}
