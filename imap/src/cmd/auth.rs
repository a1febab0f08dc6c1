//! Not-authenticated state commands (RFC 9051 §6.2): STARTTLS, LOGIN, AUTHENTICATE
//! (PLAIN with and without SASL-IR, LOGIN).
//!
//! Failed logins are slowed and, repeated, banned per client address and locked per
//! account (`AuthThrottle`, asked before every verification); passwords never reach a
//! log.

use mailyard_common::sasl::{self, LOGIN_PASSWORD_CHALLENGE, LOGIN_USERNAME_CHALLENGE, SaslError};

use crate::proto::command::{AuthResponse, parse_auth_response};
use crate::proto::receiver::Receiver;
use crate::proto::response::{ResponseCode, Status, continuation, status_response};
use crate::session::{Done, End, Session};

impl Session {
    /// STARTTLS: answers OK, discards anything the client pipelined after the command
    /// (RFC 9051 §6.2.1, against injection), runs the handshake; the capabilities
    /// change afterwards. Not-authenticated state, plain connections only.
    pub(crate) async fn handle_starttls(&mut self, tag: &str) -> Result<Done, End> {
        if self.conn.is_tls() {
            return Ok(Done::bad("TLS is already active"));
        }
        self.conn.wbuf.extend_from_slice(&status_response(
            Some(tag),
            Status::Ok,
            None,
            "Begin TLS negotiation now",
        ));
        self.receiver = Receiver::new(self.receiver.limits());
        self.conn.start_tls(self.ctx.tls.clone()).await?;
        // The session span was opened with tls=false; from now on it logs true.
        tracing::Span::current().record("tls", true);
        Ok(Done::sent())
    }

    /// LOGIN user password. Not-authenticated state; refused without TLS unless
    /// allowed on loopback (LOGINDISABLED). RFC 9051 §6.2.3.
    pub(crate) async fn handle_login(
        &mut self,
        username: String,
        password: String,
    ) -> Result<Done, End> {
        if !self.auth_allowed() {
            return Ok(Done::no(
                Some(ResponseCode::PrivacyRequired),
                "LOGIN is disabled without TLS; use STARTTLS first",
            ));
        }
        let pw = sasl::Password::new(password);
        Ok(self.check_credentials(username, pw, "LOGIN").await)
    }

    /// AUTHENTICATE PLAIN / LOGIN, with an initial response (SASL-IR, RFC 4959) or
    /// through continuation requests (`+ ` then a base64 line; `*` cancels → BAD).
    /// Not-authenticated state. RFC 9051 §6.2.2, RFC 4616, draft-murchison-sasl-login.
    pub(crate) async fn handle_authenticate(
        &mut self,
        mechanism: String,
        initial_response: Option<Vec<u8>>,
    ) -> Result<Done, End> {
        if !self.auth_allowed() {
            return Ok(Done::no(
                Some(ResponseCode::PrivacyRequired),
                "Authentication is disabled without TLS; use STARTTLS first",
            ));
        }
        match mechanism.as_str() {
            "PLAIN" => {
                let message = match initial_response {
                    Some(ir) => ir,
                    None => match self.challenge("").await? {
                        Ok(data) => data,
                        Err(done) => return Ok(done),
                    },
                };
                match sasl::parse_plain(&message) {
                    Ok(creds) => Ok(self
                        .check_credentials(creds.authcid, creds.password, "AUTHENTICATE")
                        .await),
                    Err(e) => Ok(self.sasl_failed(e).await),
                }
            }
            "LOGIN" => {
                let user = match initial_response {
                    Some(ir) => ir,
                    None => match self.challenge(LOGIN_USERNAME_CHALLENGE).await? {
                        Ok(data) => data,
                        Err(done) => return Ok(done),
                    },
                };
                let pass = match self.challenge(LOGIN_PASSWORD_CHALLENGE).await? {
                    Ok(data) => data,
                    Err(done) => return Ok(done),
                };
                let (Ok(user), Ok(pass)) = (String::from_utf8(user), String::from_utf8(pass))
                else {
                    return Ok(self.sasl_failed(SaslError::InvalidUtf8).await);
                };
                Ok(self
                    .check_credentials(user, sasl::Password::new(pass), "AUTHENTICATE")
                    .await)
            }
            _ => Ok(Done::no(
                Some(ResponseCode::Cannot),
                "Unsupported authentication mechanism",
            )),
        }
    }

    /// Sends `+ <challenge>` (already base64) and reads the client's response line.
    /// `Err(done)` when the client cancelled or sent garbage (tagged BAD).
    async fn challenge(&mut self, challenge_b64: &str) -> Result<Result<Vec<u8>, Done>, End> {
        if challenge_b64.is_empty() {
            self.conn.wbuf.extend_from_slice(b"+ \r\n");
        } else {
            self.conn
                .wbuf
                .extend_from_slice(&continuation(challenge_b64));
        }
        self.conn.flush().await?;
        let Some(line) = self.read_line().await? else {
            return Ok(Err(Done::bad("Response line too long")));
        };
        Ok(match parse_auth_response(&line) {
            Ok(AuthResponse::Data(d)) => Ok(d),
            Ok(AuthResponse::Cancel) => Err(Done::bad("Authentication cancelled")),
            Err(_) => Err(Done::bad("Invalid base64 in authentication response")),
        })
    }

    /// A malformed SASL message: counts as a failed login.
    async fn sasl_failed(&mut self, e: SaslError) -> Done {
        tracing::debug!(error = %e, "malformed SASL response");
        let delay = self.ctx.auth_throttle.failed(self.peer.ip(), None);
        tokio::time::sleep(delay).await;
        Done::no(
            Some(ResponseCode::AuthenticationFailed),
            "Authentication failed",
        )
    }

    /// Verifies credentials (argon2 on the blocking pool) once the throttle allows the
    /// attempt (a banned address or locked account: `NO [UNAVAILABLE]`, RFC 5530 §3);
    /// on success switches to the authenticated state.
    async fn check_credentials(
        &mut self,
        login: String,
        password: sasl::Password,
        what: &str,
    ) -> Done {
        use mailyard_common::throttle::Verdict;
        let check = self.ctx.store.password_check(&login, password);
        let verdict = self
            .ctx
            .auth_throttle
            .verify(self.peer.ip(), &login, check)
            .await;
        match verdict {
            Verdict::Ok(user) => {
                tracing::info!(%user, "logged in");
                self.logged_in(user);
                self.login_ok(what)
            }
            Verdict::Wrong => Done::no(
                Some(ResponseCode::AuthenticationFailed),
                "Authentication failed",
            ),
            Verdict::Refused(_) => Done::no(
                Some(ResponseCode::Unavailable),
                "Too many failed logins, try again later",
            ),
            Verdict::Failed(Some(e)) => crate::session::store_error(e),
            Verdict::Failed(None) => Done::no(Some(ResponseCode::ServerBug), "Internal error"),
        }
    }
}
