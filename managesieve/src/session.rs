//! One ManageSieve connection (RFC 5804): greeting with the capabilities, STARTTLS,
//! AUTHENTICATE (PLAIN, LOGIN) under the same rules as IMAP (TLS first unless
//! plaintext is allowed on loopback; the shared auth throttle asked before every
//! password check), then the script commands over the store's `sieve_scripts`.
//!
//! Invariants: input is framed by the IMAP receiver with its limits (a script literal
//! over [`MAX_SCRIPT_BYTES`] is refused, `NO (QUOTA/MAXSIZE)`); every read has a
//! timeout ([`IDLE`], and `[limits] login_seconds` before authentication); a malformed
//! command gets `NO` and the session goes on, until [`MAX_BAD`] of them (`BYE`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailyard_common::conn::{Conn, End};
use mailyard_common::listener::Slot;
use mailyard_common::sasl::{self, LOGIN_PASSWORD_CHALLENGE, LOGIN_USERNAME_CHALLENGE};
use mailyard_common::shutdown::Shutdown;
use mailyard_common::stream::Stream;
use mailyard_common::throttle::is_loopback;
use mailyard_imap::proto::receiver::{Event, Limits, ReceiveError, Receiver};
use mailyard_store::{Address, StoreError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::Context;
use crate::proto::command::{Command, parse, parse_string};
use crate::proto::response::{
    Capabilities, Code, QuotaKind, Status, write_script, write_script_list, write_status,
};

/// Largest script accepted (PUTSCRIPT, CHECKSCRIPT): the Sieve parser's own limit.
pub const MAX_SCRIPT_BYTES: usize = mailyard_sieve::parser::MAX_SCRIPT_SIZE;
/// Most scripts one user may keep (HAVESPACE and PUTSCRIPT answer `QUOTA/MAXSCRIPTS`).
pub const MAX_SCRIPTS: usize = 64;
/// How long an authenticated session may stay silent (Pigeonhole: 30 min; ours as IMAP's
/// autologout is shorter for a protocol nobody idles in).
pub const IDLE: Duration = Duration::from_secs(10 * 60);
/// Malformed commands before the server says BYE.
pub const MAX_BAD: u32 = 20;
/// What `IMPLEMENTATION` says.
pub const IMPLEMENTATION: &str = "mailyard";

struct Session {
    ctx: Arc<Context>,
    peer: SocketAddr,
    /// The stream, its buffers, the connection's place in its listener's count,
    /// shutdown.
    conn: Conn,
    receiver: Receiver,
    user: Option<Address>,
    bad: u32,
    login_deadline: tokio::time::Instant,
}

/// Runs one connection to its end.
pub(crate) async fn run(
    ctx: Arc<Context>,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: Option<Slot>,
    shutdown: Shutdown,
) {
    let span =
        tracing::info_span!("managesieve", %peer, session = %mailyard_common::log::session_id());
    use tracing::Instrument;
    let Some(slot) = slot else {
        let mut tcp = tcp;
        let _ = tcp
            .write_all(b"BYE \"Too many connections, try again later\"\r\n")
            .await;
        return;
    };
    let Ok(stream) = Stream::accept(tcp, None).instrument(span.clone()).await else {
        return;
    };
    let login_seconds = ctx.config().limits.login_seconds;
    let mut s = Session {
        ctx,
        peer,
        conn: Conn::new(stream, slot, &shutdown),
        receiver: Receiver::new(script_limits()),
        user: None,
        bad: 0,
        login_deadline: tokio::time::Instant::now() + Duration::from_secs(login_seconds),
    };
    let end = s.serve().instrument(span.clone()).await;
    span.in_scope(|| {
        let why = match end {
            Ok(()) | Err(End::Eof) => "closed",
            Err(End::Io(_)) => "i/o error",
            Err(End::Timeout) => "timeout",
            Err(End::Shutdown) => "shutdown",
        };
        tracing::debug!(why, "session ended");
    });
}

fn script_limits() -> Limits {
    Limits {
        max_literal: MAX_SCRIPT_BYTES as u64,
        max_command: MAX_SCRIPT_BYTES as u64 + 4096,
        ..Limits::default()
    }
}

impl Session {
    async fn serve(&mut self) -> Result<(), End> {
        if self.ctx.auth_throttle.is_banned(self.peer.ip()) {
            self.bye("Too many failed logins");
            let _ = self.conn.flush().await;
            return Ok(());
        }
        self.capabilities().write(&mut self.conn.wbuf);
        write_status(
            &mut self.conn.wbuf,
            Status::Ok,
            None,
            "mailyard ManageSieve ready",
        );
        loop {
            let (n, ev) = self.receiver.feed(&self.conn.rbuf);
            self.conn.rbuf.drain(..n);
            match ev {
                Event::NeedMore | Event::NeedsContinuation => {
                    if let Err(end) = self.read_more().await {
                        if matches!(end, End::Shutdown) {
                            self.bye("Server shutting down");
                        } else if matches!(end, End::Timeout) {
                            self.bye("Disconnected for inactivity");
                        }
                        let _ = self.conn.flush().await;
                        return Err(end);
                    }
                }
                Event::Command(frame) | Event::Line(frame) => match self.command(&frame).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = self.conn.flush().await;
                        return Ok(());
                    }
                    Err(end) => return Err(end),
                },
                Event::Error { kind, .. } => {
                    let (code, text) = match kind {
                        ReceiveError::LiteralTooBig { .. } => (
                            Some(Code::Quota(Some(QuotaKind::MaxSize))),
                            "Script too big",
                        ),
                        ReceiveError::LineTooLong => (None, "Command line too long"),
                        _ => (None, "Invalid literal"),
                    };
                    write_status(&mut self.conn.wbuf, Status::No, code.as_ref(), text);
                    if !self.count_bad() {
                        let _ = self.conn.flush().await;
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Counts a malformed command; false when the session must end (BYE written).
    fn count_bad(&mut self) -> bool {
        self.bad += 1;
        if self.bad >= MAX_BAD {
            self.bye("Too many errors");
            return false;
        }
        true
    }

    /// Flushes, then reads more input with the state's timeout (before
    /// authentication: until the login deadline); shutdown interrupts.
    async fn read_more(&mut self) -> Result<(), End> {
        self.conn.flush().await?;
        let (timeout, deadline) = match self.user {
            None => {
                let left = self
                    .login_deadline
                    .saturating_duration_since(tokio::time::Instant::now());
                (left, Some(self.login_deadline))
            }
            Some(_) => (IDLE, None),
        };
        self.conn.read_more(timeout, deadline, true).await
    }

    /// The next frame the client sends, as one string (a SASL response, RFC 5804 §2.1).
    async fn read_string(&mut self) -> Result<Option<Vec<u8>>, End> {
        loop {
            let (n, ev) = self.receiver.feed(&self.conn.rbuf);
            self.conn.rbuf.drain(..n);
            match ev {
                Event::NeedMore | Event::NeedsContinuation => self.read_more().await?,
                Event::Command(frame) | Event::Line(frame) => return Ok(parse_string(&frame).ok()),
                Event::Error { .. } => return Ok(None),
            }
        }
    }

    fn auth_allowed(&self) -> bool {
        self.conn.is_tls()
            || (self.ctx.config().auth.plaintext_on_loopback && is_loopback(self.peer.ip()))
    }

    /// RFC 5804 §1.7: what this state offers.
    fn capabilities(&self) -> Capabilities {
        let sasl = if self.user.is_none() && self.auth_allowed() {
            vec!["PLAIN".into(), "LOGIN".into()]
        } else {
            Vec::new()
        };
        Capabilities {
            implementation: IMPLEMENTATION.into(),
            sasl,
            sieve: mailyard_sieve::validate::EXTENSIONS
                .iter()
                .map(|e| e.to_string())
                .collect(),
            starttls: !self.conn.is_tls() && self.user.is_none(),
            max_redirects: Some(mailyard_sieve::Limits::default().max_redirects as u32),
            owner: self.user.as_ref().map(|u| u.to_string()),
        }
    }

    /// Runs one command; `Ok(false)` when the session ends (LOGOUT).
    async fn command(&mut self, frame: &[u8]) -> Result<bool, End> {
        let cmd = match parse(frame) {
            Ok(c) => c,
            Err(e) => {
                write_status(&mut self.conn.wbuf, Status::No, None, &e.to_string());
                return Ok(self.count_bad());
            }
        };
        let authed = self.user.clone();
        match (cmd, authed) {
            (Command::Capability, _) => {
                self.capabilities().write(&mut self.conn.wbuf);
                self.ok("");
            }
            (Command::Logout, _) => {
                // RFC 5804 §2.3 (errata 7825): OK, then close.
                self.ok("Logout completed");
                return Ok(false);
            }
            (Command::Noop { tag }, _) => {
                let code = tag.map(Code::Tag);
                write_status(&mut self.conn.wbuf, Status::Ok, code.as_ref(), "Done");
            }
            (Command::StartTls, None) if !self.conn.is_tls() => self.starttls().await?,
            (Command::Authenticate { mechanism, initial }, None) => {
                self.authenticate(&mechanism, initial).await?;
            }
            (Command::Unauthenticate, Some(_)) => {
                // RFC 5804 §2.14.1: back to the non-authenticated state.
                self.user = None;
                self.login_deadline = tokio::time::Instant::now()
                    + Duration::from_secs(self.ctx.config().limits.login_seconds);
                self.ok("");
            }
            (cmd, Some(user)) => self.script_command(&user, cmd).await,
            (_, None) => {
                write_status(&mut self.conn.wbuf, Status::No, None, "Authenticate first");
                return Ok(self.count_bad());
            }
        }
        Ok(true)
    }

    fn bye(&mut self, text: &str) {
        write_status(&mut self.conn.wbuf, Status::Bye, None, text);
    }

    fn ok(&mut self, text: &str) {
        write_status(&mut self.conn.wbuf, Status::Ok, None, text);
    }

    fn no(&mut self, code: Option<Code>, text: &str) {
        write_status(&mut self.conn.wbuf, Status::No, code.as_ref(), text);
    }

    /// RFC 5804 §2.2: OK, the handshake, then the capabilities again and OK.
    async fn starttls(&mut self) -> Result<(), End> {
        self.ok("Begin TLS negotiation now");
        self.receiver = Receiver::new(script_limits());
        self.conn.start_tls(self.ctx.tls.clone()).await?;
        self.capabilities().write(&mut self.conn.wbuf);
        self.ok("TLS negotiation successful");
        Ok(())
    }

    /// RFC 5804 §2.1: PLAIN (RFC 4616) and LOGIN, with or without an initial response;
    /// challenges and responses are strings; `"*"` cancels.
    async fn authenticate(&mut self, mechanism: &str, initial: Option<Vec<u8>>) -> Result<(), End> {
        if !self.auth_allowed() {
            self.no(Some(Code::EncryptNeeded), "Use STARTTLS first");
            return Ok(());
        }
        let decode = |b: &[u8]| -> Option<Vec<u8>> {
            let s = std::str::from_utf8(b).ok()?;
            if s == "*" {
                return None;
            }
            sasl::decode_b64_line(s).ok()
        };
        let (login, password) = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let message = match initial {
                    Some(ir) => decode(&ir),
                    None => self.challenge("").await?.as_deref().and_then(decode),
                };
                match message.map(|m| sasl::parse_plain(&m)) {
                    Some(Ok(creds)) => (creds.authcid, creds.password),
                    _ => return self.auth_failed().await,
                }
            }
            "LOGIN" => {
                let user = match initial {
                    Some(ir) => decode(&ir),
                    None => self
                        .challenge(LOGIN_USERNAME_CHALLENGE)
                        .await?
                        .as_deref()
                        .and_then(decode),
                };
                let Some(user) = user.and_then(|u| String::from_utf8(u).ok()) else {
                    return self.auth_failed().await;
                };
                let pass = self
                    .challenge(LOGIN_PASSWORD_CHALLENGE)
                    .await?
                    .as_deref()
                    .and_then(decode)
                    .and_then(|p| String::from_utf8(p).ok());
                let Some(pass) = pass else {
                    return self.auth_failed().await;
                };
                (user, sasl::Password::new(pass))
            }
            _ => {
                self.no(None, "Unsupported authentication mechanism");
                return Ok(());
            }
        };
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
                // Leaves the share of connections that have not authenticated, and is
                // no longer cut short when the listener is under stress.
                self.conn.authenticated();
                self.user = Some(user);
                self.ok("Logged in");
            }
            Verdict::Wrong => self.no(None, "Authentication failed"),
            Verdict::Refused(_) => {
                self.no(
                    Some(Code::TryLater),
                    "Too many failed logins, try again later",
                );
            }
            Verdict::Failed(Some(e)) => self.store_error(e),
            Verdict::Failed(None) => self.no(Some(Code::TryLater), "Internal error"),
        }
        Ok(())
    }

    /// Sends a challenge (already base64) as a string and reads the response string.
    async fn challenge(&mut self, challenge_b64: &str) -> Result<Option<Vec<u8>>, End> {
        crate::proto::response::write_string(&mut self.conn.wbuf, challenge_b64.as_bytes());
        self.conn.wbuf.extend_from_slice(b"\r\n");
        self.conn.flush().await?;
        self.read_string().await
    }

    async fn auth_failed(&mut self) -> Result<(), End> {
        let delay = self.ctx.auth_throttle.failed(self.peer.ip(), None);
        tokio::time::sleep(delay).await;
        self.no(None, "Authentication failed");
        Ok(())
    }

    fn store_error(&mut self, e: StoreError) {
        match e {
            StoreError::NoScript(_) => {
                self.no(Some(Code::Nonexistent), "There is no script by that name")
            }
            StoreError::ScriptActive(_) => {
                self.no(Some(Code::Active), "You may not delete an active script")
            }
            StoreError::Exists(_) => {
                self.no(Some(Code::AlreadyExists), "A script by that name exists")
            }
            StoreError::Invalid(why) => self.no(None, &why),
            other => {
                tracing::error!(error = %other, "store error");
                self.no(Some(Code::TryLater), "Internal error, try again later");
            }
        }
    }

    /// The validator's verdict on a script: its errors, one per line.
    fn check(script: &[u8]) -> Result<(), String> {
        mailyard_sieve::compile_bytes(script)
            .map(|_| ())
            .map_err(|errors| {
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\r\n")
            })
    }

    /// Whether `user` may store a script `name` of `size` octets (RFC 5804 §2.5).
    async fn space(&self, user: &Address, name: &str, size: u64) -> Result<(), Code> {
        if size > MAX_SCRIPT_BYTES as u64 {
            return Err(Code::Quota(Some(QuotaKind::MaxSize)));
        }
        let scripts = self.ctx.store.sieve_list(user).await.unwrap_or_default();
        if scripts.len() >= MAX_SCRIPTS && !scripts.iter().any(|s| s.name == name) {
            return Err(Code::Quota(Some(QuotaKind::MaxScripts)));
        }
        Ok(())
    }

    /// The commands of the authenticated state (RFC 5804 §2.5–§2.12). The store's
    /// calls are small file operations, each one hop to the blocking pool.
    async fn script_command(&mut self, user: &Address, cmd: Command) {
        let store = self.ctx.store.clone();
        match cmd {
            Command::HaveSpace { name, size } => match self.space(user, &name, size).await {
                Ok(()) => self.ok(""),
                Err(code) => self.no(Some(code), "Quota exceeded"),
            },
            Command::PutScript { name, script } => {
                if let Err(code) = self.space(user, &name, script.len() as u64).await {
                    return self.no(Some(code), "Quota exceeded");
                }
                match Self::check(&script) {
                    Err(errors) => self.no(None, &errors),
                    Ok(()) => match store.sieve_put(user, &name, script).await {
                        Ok(()) => self.ok(""),
                        Err(e) => self.store_error(e),
                    },
                }
            }
            Command::CheckScript { script } => match Self::check(&script) {
                Err(errors) => self.no(None, &errors),
                Ok(()) => self.ok(""),
            },
            Command::ListScripts => match store.sieve_list(user).await {
                Ok(list) => {
                    write_script_list(
                        &mut self.conn.wbuf,
                        list.iter().map(|s| (s.name.as_str(), s.active)),
                    );
                    self.ok("");
                }
                Err(e) => self.store_error(e),
            },
            Command::SetActive { name } => {
                let which = (!name.is_empty()).then_some(name.as_str());
                match store.sieve_activate(user, which).await {
                    Ok(()) => self.ok(""),
                    Err(e) => self.store_error(e),
                }
            }
            Command::GetScript { name } => match store.sieve_get(user, &name).await {
                Ok(Some(text)) => {
                    write_script(&mut self.conn.wbuf, &text);
                    self.ok("");
                }
                Ok(None) => self.store_error(StoreError::NoScript(name)),
                Err(e) => self.store_error(e),
            },
            Command::DeleteScript { name } => match store.sieve_delete(user, &name).await {
                Ok(()) => self.ok(""),
                Err(e) => self.store_error(e),
            },
            Command::RenameScript { old, new } => {
                match store.sieve_rename(user, &old, &new).await {
                    Ok(()) => self.ok(""),
                    Err(e) => self.store_error(e),
                }
            }
            Command::StartTls | Command::Authenticate { .. } => {
                self.no(None, "Already authenticated");
            }
            // Handled in every state by `command`.
            Command::Capability
            | Command::Logout
            | Command::Noop { .. }
            | Command::Unauthenticate => {}
        }
    }
}
