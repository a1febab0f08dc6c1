//! One POP3 connection (RFC 1939): the greeting, the AUTHORIZATION state (USER/PASS,
//! AUTH, STLS, CAPA) under IMAP's login rules, the TRANSACTION state over a snapshot
//! of the INBOX ([`Maildrop`]), and the UPDATE state entered by QUIT.
//!
//! Invariants: replies are buffered and flushed before every read (so pipelined
//! commands, RFC 2449 §6.6, are answered in order with few writes) and whenever a
//! large RETR has filled the buffer; every read has a timeout ([`LOGIN_IDLE`] and
//! `[limits] login_seconds` before login, [`IDLE`] after); a malformed command gets
//! `-ERR` and the session goes on, until [`MAX_BAD`] of them; passwords and AUTH
//! payloads never reach a log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailyard_common::conn::{Conn, End};
use mailyard_common::listener::{Full, Slot, admit};
use mailyard_common::metrics::Outcome;
use mailyard_common::sasl::{self, LOGIN_PASSWORD_CHALLENGE, LOGIN_USERNAME_CHALLENGE, SaslError};
use mailyard_common::shutdown::Shutdown;
use mailyard_common::stream::Stream;
use mailyard_common::throttle::{Verdict, is_loopback};
use mailyard_store::{Address, FlagMode, FlagSet, Flags, StoreError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::Context;
use crate::maildrop::{Lock, Maildrop};
use crate::proto::command::{Command, Phase, parse};
use crate::proto::receiver::{Event, MAX_COMMAND_LINE, MAX_SASL_LINE, Receiver};
use crate::proto::response::{self as reply, Capabilities, Code};

/// How long a logged-in session may stay silent: RFC 1939 §3's autologout timer "MUST
/// be of at least 10 minutes' duration".
pub const IDLE: Duration = Duration::from_secs(10 * 60);
/// How long a session that has not logged in may stay silent (IMAP's figure); the
/// whole login is also bounded by `[limits] login_seconds`.
pub const LOGIN_IDLE: Duration = Duration::from_secs(60);
/// Malformed commands (unknown, bad arguments, over-long lines) before the server
/// closes the session (as ManageSieve; Dovecot's POP3 also gives up after a number of
/// bad commands).
pub const MAX_BAD: u32 = 20;
/// Replies buffered past this are written out before the next command runs.
const FLUSH_AT: usize = 64 * 1024;
/// What IMPLEMENTATION says (RFC 2449 §6.9).
const IMPLEMENTATION: &str = "mailyard";
/// The SASL mechanisms offered (RFC 5034 §4), with the throttle IMAP uses.
const MECHANISMS: &[&str] = &["PLAIN", "LOGIN"];

/// RFC 1939 §3: what the session is allowed to do and holds.
enum State {
    /// Not logged in; the name of a USER command waiting for its PASS.
    Authorization { user: Option<String> },
    /// Logged in: the maildrop, locked.
    Transaction(Box<Open>),
}

struct Open {
    user: Address,
    maildrop: Maildrop,
    /// Held for as long as the session is in TRANSACTION (released on drop).
    _lock: Lock,
}

struct Session {
    ctx: Arc<Context>,
    peer: SocketAddr,
    /// The stream, its buffers, the connection's place in its listener's count,
    /// shutdown.
    conn: Conn,
    receiver: Receiver,
    state: State,
    bad: u32,
    login_deadline: tokio::time::Instant,
}

/// Runs one connection to its end.
pub(crate) async fn run(
    ctx: Arc<Context>,
    implicit_tls: bool,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: Option<Slot>,
    shutdown: Shutdown,
) {
    let id = mailyard_common::log::session_id();
    let span = tracing::info_span!("pop3", tls = implicit_tls, %peer, session = %id);
    let max_per_ip = ctx.config().limits.max_connections_per_ip;
    let (slot, _per_ip) = match admit(slot, &ctx.per_ip, peer.ip(), max_per_ip) {
        Ok(places) => places,
        Err(full) => {
            let mut out = Vec::new();
            let text = match full {
                Full::Listener => "Too many connections, try again later",
                Full::Address => "Too many connections from your address",
            };
            reply::err(&mut out, Some(Code::SysTemp), text);
            let mut tcp = tcp;
            if !implicit_tls {
                let _ = tcp.write_all(&out).await;
            }
            ctx.metrics.session_ended("pop3", Outcome::Refused);
            return;
        }
    };
    use tracing::Instrument;
    let Ok(stream) = Stream::accept(tcp, implicit_tls.then(|| ctx.tls.clone()))
        .instrument(span.clone())
        .await
    else {
        ctx.metrics.session_ended("pop3", Outcome::Error);
        return;
    };
    let login_seconds = ctx.config().limits.login_seconds;
    let mut s = Session {
        conn: Conn::new(stream, slot, &shutdown),
        ctx,
        peer,
        receiver: Receiver::new(MAX_COMMAND_LINE),
        state: State::Authorization { user: None },
        bad: 0,
        login_deadline: tokio::time::Instant::now() + Duration::from_secs(login_seconds),
    };
    let result = s.serve().instrument(span.clone()).await;
    let outcome = mailyard_common::conn::outcome(&result);
    s.ctx.metrics.session_ended("pop3", outcome);
    span.in_scope(|| tracing::debug!(?result, "session ended"));
}

impl Session {
    async fn serve(&mut self) -> Result<(), End> {
        if self.ctx.auth_throttle.is_banned(self.peer.ip()) {
            self.err(
                Some(Code::SysTemp),
                "Too many failed logins, try again later",
            );
            return self.conn.flush().await;
        }
        // RFC 1939 §4: the greeting. No APOP timestamp: APOP is not offered.
        reply::ok(&mut self.conn.wbuf, "mailyard POP3 ready");
        loop {
            let (n, ev) = self.receiver.feed(&self.conn.rbuf);
            self.conn.rbuf.drain(..n);
            let step = match ev {
                Event::NeedMore => self.read_more().await.map(|()| true),
                Event::TooLong => {
                    self.err(None, "Line too long");
                    Ok(self.count_bad())
                }
                Event::Line(line) => self.command(&line).await,
            };
            match step {
                Ok(true) if self.conn.wbuf.len() >= FLUSH_AT => self.conn.flush().await?,
                Ok(true) => {}
                Ok(false) => return self.conn.flush().await,
                Err(end) => {
                    match end {
                        End::Timeout => self.err(None, "Disconnected for inactivity"),
                        End::Shutdown => self.err(Some(Code::SysTemp), "Server shutting down"),
                        End::Eof | End::Io(_) => return Err(end),
                    }
                    // Said goodbye; the end is still counted as what it was.
                    let _ = self.conn.flush().await;
                    return Err(end);
                }
            }
        }
    }

    fn err(&mut self, code: Option<Code>, text: &str) {
        reply::err(&mut self.conn.wbuf, code, text);
    }

    fn ok(&mut self, text: &str) {
        reply::ok(&mut self.conn.wbuf, text);
    }

    /// Counts a malformed command; false when the session must end (said so).
    fn count_bad(&mut self) -> bool {
        self.bad += 1;
        if self.bad >= MAX_BAD {
            self.err(None, "Too many bad commands, closing");
            return false;
        }
        true
    }

    /// Flushes, then reads more input with the state's timeout; shutdown interrupts.
    async fn read_more(&mut self) -> Result<(), End> {
        self.conn.flush().await?;
        let (normal, deadline) = match self.state {
            State::Authorization { .. } => (LOGIN_IDLE, Some(self.login_deadline)),
            State::Transaction(_) => (IDLE, None),
        };
        self.conn.read_more(normal, deadline, true).await
    }

    /// Whether USER/PASS and AUTH may be used: TLS, or plaintext allowed on loopback
    /// (`[auth] plaintext_on_loopback`, IMAP's rule, RFC 2595 §2.1).
    fn auth_allowed(&self) -> bool {
        self.conn.is_tls()
            || (self.ctx.config().auth.plaintext_on_loopback && is_loopback(self.peer.ip()))
    }

    fn phase(&self) -> Phase {
        match self.state {
            State::Authorization { .. } => Phase::Authorization,
            State::Transaction(_) => Phase::Transaction,
        }
    }

    /// RFC 2449 §5: what this state offers.
    fn capabilities(&self) -> Capabilities {
        let authorization = self.phase() == Phase::Authorization;
        Capabilities {
            stls: authorization && !self.conn.is_tls(),
            login: authorization && self.auth_allowed(),
            sasl: MECHANISMS,
            implementation: IMPLEMENTATION,
        }
    }

    /// Runs one command line; `Ok(false)` when the session ends (QUIT, too many errors).
    async fn command(&mut self, line: &[u8]) -> Result<bool, End> {
        let cmd = match parse(line) {
            Ok(c) => c,
            Err(e) => {
                self.err(None, &e.to_string());
                return Ok(self.count_bad());
            }
        };
        let phase = self.phase();
        if !cmd.allowed_in().contains(&phase) {
            let text = match phase {
                Phase::Authorization => format!("{} is not allowed before login", cmd.name()),
                Phase::Transaction => format!("{} is not allowed after login", cmd.name()),
            };
            self.err(None, &text);
            return Ok(true);
        }
        match cmd {
            Command::Capa => self.capabilities().write(&mut self.conn.wbuf),
            Command::Quit => {
                self.quit().await;
                return Ok(false);
            }
            Command::Stls => self.stls().await?,
            Command::User(name) => self.handle_user(name),
            Command::Pass(password) => self.handle_pass(password).await,
            Command::Apop => self.err(
                None,
                "APOP is not supported (passwords are stored hashed); use USER/PASS or AUTH",
            ),
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial).await?,
            Command::Retr(n) => self.retrieve(n, None).await,
            Command::Top { msg, lines } => self.retrieve(msg, Some(lines)).await,
            other => self.transaction(other),
        }
        Ok(true)
    }

    /// RFC 2595 §4 STLS: `+OK`, anything pipelined after it discarded (against
    /// injection), the handshake; the state stays AUTHORIZATION and a USER given
    /// before is forgotten. AUTHORIZATION state, plain connections only.
    async fn stls(&mut self) -> Result<(), End> {
        if self.conn.is_tls() {
            self.err(None, "TLS is already active");
            return Ok(());
        }
        self.ok("Begin TLS negotiation");
        self.receiver = Receiver::new(MAX_COMMAND_LINE);
        self.state = State::Authorization { user: None };
        self.conn.start_tls(self.ctx.tls.clone()).await?;
        tracing::Span::current().record("tls", true);
        Ok(())
    }

    /// Refuses plaintext authentication without TLS (IMAP's LOGINDISABLED rule);
    /// true when it did.
    fn refuse_plaintext(&mut self) -> bool {
        if self.auth_allowed() {
            return false;
        }
        self.err(
            Some(Code::Auth),
            "Plaintext authentication disallowed without TLS; use STLS first",
        );
        true
    }

    /// RFC 1939 §7 USER: remembers the name for PASS (always `+OK`: whether the
    /// mailbox exists is not told). AUTHORIZATION state.
    fn handle_user(&mut self, name: String) {
        if self.refuse_plaintext() {
            return;
        }
        self.state = State::Authorization { user: Some(name) };
        self.ok("Send PASS");
    }

    /// RFC 1939 §7 PASS: right after USER. AUTHORIZATION state.
    async fn handle_pass(&mut self, password: String) {
        if self.refuse_plaintext() {
            return;
        }
        let State::Authorization { user } = &mut self.state else {
            return;
        };
        let Some(user) = user.take() else {
            self.err(None, "Send USER first");
            return;
        };
        self.login(user, sasl::Password::new(password)).await;
    }

    /// RFC 5034 §4 AUTH PLAIN (RFC 4616) and LOGIN, with an initial response (`=` is
    /// an empty one) or through `+ ` challenges; `*` cancels. Without a mechanism, the
    /// list of mechanisms. AUTHORIZATION state.
    async fn auth(
        &mut self,
        mechanism: Option<String>,
        initial: Option<String>,
    ) -> Result<(), End> {
        if self.refuse_plaintext() {
            return Ok(());
        }
        let Some(mechanism) = mechanism else {
            self.ok("Mechanisms follow");
            for m in MECHANISMS {
                reply::line(&mut self.conn.wbuf, m);
            }
            reply::end(&mut self.conn.wbuf);
            return Ok(());
        };
        let credentials = match mechanism.as_str() {
            "PLAIN" => {
                let message = match initial {
                    Some(ir) => Ok(ir),
                    None => self.sasl_response("").await?,
                };
                message
                    .and_then(|m| sasl::decode_plain(&m))
                    .map(|c| (c.authcid, c.password))
            }
            "LOGIN" => {
                let user = match initial {
                    Some(ir) => Ok(ir),
                    None => self.sasl_response(LOGIN_USERNAME_CHALLENGE).await?,
                };
                match user.and_then(|u| sasl::decode_login_username(&u)) {
                    Ok(user) => self
                        .sasl_response(LOGIN_PASSWORD_CHALLENGE)
                        .await?
                        .and_then(|p| sasl::decode_login_password(&p))
                        .map(|p| (user, p)),
                    Err(e) => Err(e),
                }
            }
            _ => {
                self.err(None, "Unsupported authentication mechanism");
                return Ok(());
            }
        };
        match credentials {
            Ok((user, password)) => self.login(user, password).await,
            Err(SaslError::Cancelled) => self.err(None, "Authentication cancelled"),
            Err(e) => {
                tracing::debug!(error = %e, "malformed SASL response");
                let delay = self.ctx.auth_throttle.failed(self.peer.ip(), None);
                tokio::time::sleep(delay).await;
                self.err(Some(Code::Auth), "Authentication failed");
            }
        }
        Ok(())
    }

    /// Sends a challenge (already base64) and reads the client's response line (up
    /// to [`MAX_SASL_LINE`] octets; a longer or non-UTF-8 one is malformed).
    async fn sasl_response(&mut self, challenge: &str) -> Result<Result<String, SaslError>, End> {
        reply::challenge(&mut self.conn.wbuf, challenge);
        self.receiver.set_max(MAX_SASL_LINE);
        let line = loop {
            let (n, ev) = self.receiver.feed(&self.conn.rbuf);
            self.conn.rbuf.drain(..n);
            match ev {
                Event::NeedMore => {
                    if let Err(end) = self.read_more().await {
                        self.receiver.set_max(MAX_COMMAND_LINE);
                        return Err(end);
                    }
                }
                Event::TooLong => break None,
                Event::Line(line) => break Some(line),
            }
        };
        self.receiver.set_max(MAX_COMMAND_LINE);
        Ok(line
            .and_then(|l| String::from_utf8(l).ok())
            .ok_or(SaslError::InvalidBase64))
    }

    /// Verifies credentials as IMAP does (the shared throttle asked first, argon2 on
    /// the blocking pool, the same ban), then opens the maildrop.
    async fn login(&mut self, login: String, password: sasl::Password) {
        let check = self.ctx.store.password_check(&login, password);
        let verdict = self
            .ctx
            .auth_throttle
            .verify(self.peer.ip(), &login, check)
            .await;
        match verdict {
            Verdict::Ok(user) => self.open(user).await,
            Verdict::Wrong => self.err(Some(Code::Auth), "Authentication failed"),
            Verdict::Refused(_) => self.err(
                Some(Code::SysTemp),
                "Too many failed logins, try again later",
            ),
            Verdict::Failed(Some(e)) => self.store_error(e),
            Verdict::Failed(None) => self.err(Some(Code::SysTemp), "Internal error"),
        }
    }

    /// RFC 1939 §4: locks the maildrop (a second session gets `[IN-USE]`, RFC 2449
    /// §8.1.2, and stays in AUTHORIZATION) and takes its snapshot: the INBOX's
    /// messages as IMAP sees them now.
    async fn open(&mut self, user: Address) {
        let Some(lock) = self.ctx.locks.try_lock(&user) else {
            tracing::info!(%user, "maildrop in use");
            self.err(
                Some(Code::InUse),
                "Maildrop is locked by another POP3 session",
            );
            return;
        };
        // RFC 1939 §8: the maildrop as it is at login, in one store hop.
        let snapshot = match self.ctx.store.mailbox_messages(&user, "INBOX").await {
            Ok(Some((inbox, messages))) => {
                Ok(Maildrop::new(inbox.id, inbox.uidvalidity.0, messages))
            }
            Ok(None) => Err(StoreError::NoMailbox("INBOX".into())),
            Err(e) => Err(e),
        };
        match snapshot {
            Ok(maildrop) => {
                tracing::info!(%user, messages = maildrop.len(), "logged in");
                self.conn.authenticated();
                let (n, size) = maildrop.stat();
                self.state = State::Transaction(Box::new(Open {
                    user,
                    maildrop,
                    _lock: lock,
                }));
                self.ok(&format!("Logged in, {n} messages ({size} octets)"));
            }
            Err(e) => self.store_error(e),
        }
    }

    /// The one place store errors become replies: `-ERR [SYS/TEMP]`, logged.
    fn store_error(&mut self, e: StoreError) {
        if matches!(e, StoreError::Closed) {
            self.err(Some(Code::SysTemp), "Server shutting down");
            return;
        }
        tracing::error!(error = %e, "store error");
        self.err(Some(Code::SysTemp), "Internal error, try again later");
    }

    /// The TRANSACTION commands that need no message data: RFC 1939 §5 STAT, LIST,
    /// DELE, NOOP, RSET and §7 UIDL. Numbers name the login snapshot's messages.
    fn transaction(&mut self, cmd: Command) {
        let State::Transaction(open) = &mut self.state else {
            return;
        };
        let drop = &mut open.maildrop;
        let out = &mut self.conn.wbuf;
        match cmd {
            Command::Stat => {
                let (n, size) = drop.stat();
                reply::ok(out, &format!("{n} {size}"));
            }
            Command::List(None) => {
                let (n, size) = drop.stat();
                reply::ok(out, &format!("{n} messages ({size} octets)"));
                for (i, m) in drop.listing() {
                    reply::line(out, &format!("{i} {}", m.size));
                }
                reply::end(out);
            }
            Command::List(Some(i)) => match drop.get(i) {
                Ok(m) => reply::ok(out, &format!("{i} {}", m.size)),
                Err(missing) => reply::err(out, None, missing.text()),
            },
            Command::Uidl(None) => {
                reply::ok(out, "Unique-id listing follows");
                for (i, m) in drop.listing() {
                    reply::line(out, &format!("{i} {}", drop.unique_id(m)));
                }
                reply::end(out);
            }
            Command::Uidl(Some(i)) => match drop.get(i) {
                Ok(m) => reply::ok(out, &format!("{i} {}", drop.unique_id(m))),
                Err(missing) => reply::err(out, None, missing.text()),
            },
            Command::Dele(i) => match drop.delete(i) {
                Ok(()) => reply::ok(out, &format!("Message {i} deleted")),
                Err(missing) => reply::err(out, None, missing.text()),
            },
            Command::Rset => {
                drop.reset();
                let (n, size) = drop.stat();
                reply::ok(out, &format!("Maildrop has {n} messages ({size} octets)"));
            }
            Command::Noop => reply::ok(out, ""),
            // Routed elsewhere by `command`.
            _ => reply::err(out, None, "Not allowed after login"),
        }
    }

    /// RFC 1939 §5 RETR (the whole message; marks it `\Seen`, as Dovecot does by
    /// default, `pop3_no_flag_updates = no`) and §7 TOP (the header and `lines` body
    /// lines; no flag change). A message expunged meanwhile (by IMAP) keeps its number
    /// and answers `-ERR`. TRANSACTION state.
    async fn retrieve(&mut self, n: u32, lines: Option<u32>) {
        let State::Transaction(open) = &self.state else {
            return;
        };
        let info = match open.maildrop.get(n) {
            Ok(m) => m.clone(),
            Err(missing) => return self.err(None, missing.text()),
        };
        let (user, mailbox) = (open.user.clone(), open.maildrop.mailbox);
        let read = self
            .ctx
            .store
            .read_message(&user, "INBOX", mailbox, &info)
            .await;
        let bytes = match read {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return self.err(None, "Message was expunged by another session"),
            Err(e) => return self.store_error(e),
        };
        match lines {
            None => self.ok(&format!("{} octets", bytes.len())),
            Some(_) => self.ok("Top of message follows"),
        }
        reply::message(&mut self.conn.wbuf, &bytes, lines);
        if lines.is_none() && !info.flags.flags.contains(Flags::SEEN) {
            let seen = FlagSet {
                flags: Flags::SEEN,
                keywords: Vec::new(),
            };
            let set = self
                .ctx
                .store
                .set_flags(mailbox, vec![info.uid], FlagMode::Add, seen, None)
                .await;
            if let Err(e) = set {
                tracing::warn!(error = %e, uid = info.uid.0, "could not mark a retrieved message seen");
            }
        }
    }

    /// RFC 1939 §6 QUIT. In TRANSACTION, the UPDATE state: the DELE'd messages are
    /// flagged `\Deleted` and removed with one expunge (IMAP sessions get EXPUNGE at
    /// once); then the lock is released as the session ends. In AUTHORIZATION, only
    /// goodbye (RFC 1939 §4).
    async fn quit(&mut self) {
        let State::Transaction(open) = &self.state else {
            self.ok("mailyard POP3 signing off");
            return;
        };
        let uids = open.maildrop.deleted_uids();
        if uids.is_empty() {
            self.ok("mailyard POP3 signing off");
            return;
        }
        let mailbox = open.maildrop.mailbox;
        let store = &self.ctx.store;
        let deleted = FlagSet {
            flags: Flags::DELETED,
            keywords: Vec::new(),
        };
        let result = match store
            .set_flags(mailbox, uids.clone(), FlagMode::Add, deleted, None)
            .await
        {
            Ok(_) => store.expunge(mailbox, Some(uids)).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(gone) => {
                tracing::info!(user = %open.user, deleted = gone.len(), "maildrop updated");
                self.ok(&format!(
                    "mailyard POP3 signing off ({} messages deleted)",
                    gone.len()
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "UPDATE failed");
                // RFC 1939 §6: "-ERR some deleted messages not removed".
                self.err(
                    Some(Code::SysTemp),
                    "Some deleted messages were not removed",
                );
            }
        }
    }
}
