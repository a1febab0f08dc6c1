//! One IMAP session: the read/flush loop, the state (`state.rs`, with the table of
//! which commands each state allows), the selected-mailbox view (`view.rs`) and the
//! dispatch to the handlers in `crate::cmd`.
//!
//! Every handler returns a [`Done`] (the tagged completion); the dispatcher first
//! sends the untagged updates the view owes (EXISTS, FETCH FLAGS, and EXPUNGE when
//! RFC 9051 §7.5.1 allows it), then the tagged line. Replies are buffered and flushed
//! before each read.

pub(crate) mod ext;
pub(crate) mod notify;
pub(crate) mod state;
pub(crate) mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailyard_common::conn::Conn;
pub(crate) use mailyard_common::conn::End;
use mailyard_common::listener::{Full, Slot};
use mailyard_common::metrics::Outcome;
use mailyard_common::shutdown::Shutdown;
use mailyard_common::stream::Stream;
use mailyard_common::throttle::is_loopback;
use mailyard_store::mailbox_name::NameError;
use mailyard_store::{Cancel, Store, StoreError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::Context;
use crate::proto::command::{self, Command, Request};
use crate::proto::receiver::{Event, Limits, Mode, ReceiveError, Receiver};
use crate::proto::response::{ResponseCode, Status, status_response};
use state::State;

/// RFC 9051 §5.4: an authenticated client may stay idle at least 30 minutes.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(31 * 60);
/// Before login a client gets one minute per command (RFC 9051 §5.4 allows
/// closing unauthenticated connections sooner).
pub(crate) const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Output is flushed once this much is buffered (large FETCH responses stream).
pub(crate) const FLUSH_AT: usize = 64 * 1024;
/// Largest literal before login (a LOGIN password as a literal fits easily).
const PRE_AUTH_LITERAL: u64 = 8 * 1024;
/// Protocol errors (BAD) in one session before it is disconnected.
const MAX_BAD: u32 = 50;

/// The server's name and version in ID (RFC 2971) and the greeting.
pub(crate) const SERVER_NAME: &str = "mailyard";
pub(crate) const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A tagged completion (RFC 9051 §7.1) a handler returns.
#[derive(Debug)]
pub(crate) struct Done {
    pub status: Status,
    pub code: Option<ResponseCode>,
    pub text: String,
    /// Close the connection after sending it (LOGOUT).
    pub close: bool,
    /// The handler wrote its tagged response itself (STARTTLS must answer before the
    /// handshake).
    pub sent: bool,
}

impl Done {
    pub(crate) fn ok(text: impl Into<String>) -> Done {
        Done {
            status: Status::Ok,
            code: None,
            text: text.into(),
            close: false,
            sent: false,
        }
    }
    /// The tagged response was already written.
    pub(crate) fn sent() -> Done {
        Done {
            sent: true,
            ..Done::ok("")
        }
    }
    pub(crate) fn ok_code(code: ResponseCode, text: impl Into<String>) -> Done {
        Done {
            code: Some(code),
            ..Done::ok(text)
        }
    }
    pub(crate) fn no(code: Option<ResponseCode>, text: impl Into<String>) -> Done {
        Done {
            status: Status::No,
            code,
            text: text.into(),
            close: false,
            sent: false,
        }
    }
    pub(crate) fn bad(text: impl Into<String>) -> Done {
        Done {
            status: Status::Bad,
            code: None,
            text: text.into(),
            close: false,
            sent: false,
        }
    }
}

/// `* n EXISTS` and, unless IMAP4rev2 is on (RFC 9051 Appendix E), `* n RECENT`
/// for `msgs` (RFC 9051 §7.4.1, RFC 3501 §7.3.2): after SELECT and when the view
/// grew.
pub(crate) fn write_exists(out: &mut Vec<u8>, msgs: &[view::Msg], rev2: bool) {
    use std::io::Write as _;
    let _ = write!(out, "* {} EXISTS\r\n", msgs.len());
    if !rev2 {
        let recent = msgs.iter().filter(|m| m.recent).count();
        let _ = write!(out, "* {recent} RECENT\r\n");
    }
}

/// Most client input [`Session::watched`] reads ahead (pipelined commands) while it
/// watches for the client leaving; past it, the job is simply awaited.
const WATCH_READ_AHEAD: usize = 64 * 1024;

/// The one place store errors become replies: user errors are NO with their
/// RFC 5530 code; server errors are NO [SERVERBUG] and logged.
pub(crate) fn store_error(e: StoreError) -> Done {
    use ResponseCode as C;
    match e {
        StoreError::NoMailbox(_) => Done::no(Some(C::Nonexistent), "No such mailbox"),
        StoreError::MailboxExists(_) => Done::no(Some(C::AlreadyExists), "Mailbox exists"),
        // RFC 5530 §3: LIMIT, an implementation limit (the directory entry's NAME_MAX).
        StoreError::BadName {
            why: NameError::TooLong,
            ..
        } => Done::no(Some(C::Limit), format!("{}", NameError::TooLong)),
        StoreError::BadName { why, .. } => Done::no(Some(C::Cannot), format!("{why}")),
        StoreError::TooManyKeywords => Done::no(Some(C::Limit), "Too many keywords"),
        // RFC 9208 §5.1.
        StoreError::OverQuota => Done::no(Some(C::OverQuota), "Quota exceeded"),
        StoreError::Invalid(why) => Done::no(Some(C::Cannot), why),
        StoreError::Closed => Done::no(Some(C::Unavailable), "Server shutting down"),
        // The client left while its job ran; the session ends at its next read.
        StoreError::Cancelled => Done::no(Some(C::Unavailable), "Command abandoned"),
        other => {
            tracing::error!(error = %other, "store error");
            Done::no(Some(C::ServerBug), "Internal error, try again later")
        }
    }
}

pub(crate) struct Session {
    pub(crate) ctx: Arc<Context>,
    pub(crate) peer: SocketAddr,
    /// The stream (plain, TLS, compressed), its buffers, the connection's place in its
    /// listener's count (stress, the share of connections that have not logged in),
    /// shutdown.
    pub(crate) conn: Conn,
    pub(crate) receiver: Receiver,
    pub(crate) state: State,
    /// RFC 6855 UTF8=ACCEPT was enabled: mailbox names and strings in UTF-8.
    pub(crate) utf8: bool,
    /// CONDSTORE, QRESYNC, IMAP4rev2 and the SEARCHRES result (`ext.rs`).
    pub(crate) ext: ext::Extensions,
    /// RFC 5465 NOTIFY, from NOTIFY SET to NOTIFY NONE (`notify.rs`).
    pub(crate) notify: Option<Box<notify::Notify>>,
    bad_count: u32,
    /// When a session that has not logged in is closed, whatever it sends meanwhile
    /// (`[limits] login_seconds`).
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
    let span = tracing::info_span!("imap", tls = implicit_tls, %peer, session = %id);
    let max_per_ip = ctx.config().limits.max_connections_per_ip;
    let (slot, _per_ip) =
        match mailyard_common::listener::admit(slot, &ctx.per_ip, peer.ip(), max_per_ip) {
            Ok(places) => places,
            Err(full) => {
                let bye: &[u8] = match full {
                    Full::Listener => b"* BYE Too many connections, try again later\r\n",
                    Full::Address => b"* BYE Too many connections from your address\r\n",
                };
                let mut tcp = tcp;
                if !implicit_tls {
                    let _ = tcp.write_all(bye).await;
                }
                ctx.metrics.session_ended("imap", Outcome::Refused);
                return;
            }
        };
    let login_deadline =
        tokio::time::Instant::now() + Duration::from_secs(ctx.config().limits.login_seconds);
    use tracing::Instrument;
    let Ok(stream) = Stream::accept(tcp, implicit_tls.then(|| ctx.tls.clone()))
        .instrument(span.clone())
        .await
    else {
        ctx.metrics.session_ended("imap", Outcome::Error);
        return;
    };
    let receiver = Receiver::new(Limits {
        max_literal: PRE_AUTH_LITERAL,
        max_command: PRE_AUTH_LITERAL,
        ..Limits::default()
    });
    let mut s = Session {
        conn: Conn::new(stream, slot, &shutdown),
        ctx,
        peer,
        receiver,
        state: State::NotAuthenticated,
        utf8: false,
        ext: ext::Extensions::default(),
        notify: None,
        bad_count: 0,
        login_deadline,
    };
    let result = s.serve().instrument(span.clone()).await;
    let outcome = mailyard_common::conn::outcome(&result);
    s.ctx.metrics.session_ended("imap", outcome);
    span.in_scope(|| tracing::debug!(?result, "session ended"));
}

/// What ended a wait for client input ([`Session::wait`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Input arrived in `rbuf`.
    Input,
    /// The selected mailbox changed.
    Selected,
    /// The selected mailbox's publisher is gone (the store is closing).
    SelectedGone,
    /// An event arrived on the NOTIFY bus (or it overflowed).
    Notify,
}

/// What a handler asks of the loop.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close,
}

impl Session {
    pub(crate) fn store(&self) -> &Store {
        &self.ctx.store
    }

    async fn serve(&mut self) -> Result<(), End> {
        if self.ctx.auth_throttle.is_banned(self.peer.ip()) {
            self.conn
                .wbuf
                .extend_from_slice(b"* BYE Too many failed logins, try again later\r\n");
            return self.conn.flush().await;
        }
        // RFC 9051 §7.1.1: the greeting, with the capabilities (§7.1).
        let caps = ResponseCode::Capability(self.capabilities());
        self.untagged(Status::Ok, Some(&caps), &format!("{SERVER_NAME} ready"));
        loop {
            let (n, ev) = self.receiver.feed(&self.conn.rbuf);
            self.conn.rbuf.drain(..n);
            match ev {
                Event::NeedMore => {
                    self.conn.flush().await?;
                    match self.read_or_notify().await {
                        Ok(()) => {}
                        Err(End::Shutdown) => {
                            self.untagged(Status::Bye, None, "server shutting down");
                            // Said goodbye; the end is still counted as what it was.
                            self.conn.flush().await?;
                            return Err(End::Shutdown);
                        }
                        Err(End::Timeout) => {
                            self.untagged(Status::Bye, None, "Autologout; idle for too long");
                            // Said goodbye; the end is still counted as what it was.
                            self.conn.flush().await?;
                            return Err(End::Timeout);
                        }
                        Err(e) => return Err(e),
                    }
                }
                Event::NeedsContinuation => {
                    self.conn
                        .wbuf
                        .extend_from_slice(&crate::proto::response::continuation("Ready"));
                }
                Event::Command(bytes) => match self.command(bytes).await {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Close) => return self.conn.flush().await,
                    // Inside AUTHENTICATE or IDLE.
                    Err(End::Shutdown) => {
                        self.untagged(Status::Bye, None, "server shutting down");
                        // Said goodbye; the end is still counted as what it was.
                        self.conn.flush().await?;
                        return Err(End::Shutdown);
                    }
                    Err(End::Timeout) => {
                        self.untagged(Status::Bye, None, "Autologout; idle for too long");
                        // Said goodbye; the end is still counted as what it was.
                        self.conn.flush().await?;
                        return Err(End::Timeout);
                    }
                    Err(e) => return Err(e),
                },
                // Only produced in line mode, which handlers leave again themselves.
                Event::Line(_) => {}
                Event::Error { tag, kind } => {
                    if self.receive_error(tag, kind) == Flow::Close {
                        return self.conn.flush().await;
                    }
                }
            }
        }
    }

    /// Input the receiver refused (RFC 9051 §7.1.3 BAD; TOOBIG for literals).
    fn receive_error(&mut self, tag: Option<String>, kind: ReceiveError) -> Flow {
        let (code, text) = match kind {
            ReceiveError::LineTooLong => (None, "Command line too long"),
            ReceiveError::LiteralTooBig { .. } => (Some(ResponseCode::TooBig), "Literal too big"),
            ReceiveError::InvalidLiteral {
                synchronizing: false,
            } => {
                self.untagged(
                    Status::Bye,
                    None,
                    "Invalid literal size; cannot resynchronize",
                );
                return Flow::Close;
            }
            ReceiveError::InvalidLiteral { .. } => (None, "Invalid literal size"),
        };
        self.conn.wbuf.extend_from_slice(&status_response(
            tag.as_deref(),
            Status::Bad,
            code.as_ref(),
            text,
        ));
        self.count_bad()
    }

    fn count_bad(&mut self) -> Flow {
        self.bad_count += 1;
        if self.bad_count >= MAX_BAD {
            self.untagged(Status::Bye, None, "Too many errors");
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Writes `* STATUS [code] text`.
    pub(crate) fn untagged(&mut self, status: Status, code: Option<&ResponseCode>, text: &str) {
        self.conn
            .wbuf
            .extend_from_slice(&status_response(None, status, code, text));
    }

    /// Awaits `job` (a store job that makes its own blocking hop) while watching the
    /// connection: input that arrives meanwhile is kept in `rbuf` (the next
    /// commands), and when the client closes the connection (or shutdown begins),
    /// `cancel` is set so the job stops at its next message, and the session ends
    /// without waiting for it. Issue 9: a SEARCH of a client that left kept a core
    /// busy.
    pub(crate) async fn watched<T>(
        &mut self,
        cancel: Cancel,
        job: impl std::future::Future<Output = T>,
    ) -> Result<T, End> {
        let mut job = std::pin::pin!(job);
        let token = self.conn.shutdown().clone();
        let end = loop {
            if self.conn.rbuf.len() >= WATCH_READ_AHEAD {
                return Ok(job.await);
            }
            tokio::select! {
                r = &mut job => return Ok(r),
                r = self.conn.read_ahead() => if let Err(end) = r {
                    break end;
                },
                _ = token.cancelled() => break End::Shutdown,
            }
        };
        cancel.cancel();
        Err(end)
    }

    /// Reads more input into `rbuf`, with the state's timeout; shutdown interrupts.
    pub(crate) async fn read_more(&mut self) -> Result<(), End> {
        self.wait(false, false).await.map(|_| ())
    }

    /// Waits for client input (read into `rbuf`, with the state's timeout) and, when
    /// asked, for a change of the selected mailbox (`selected`) or an event on the
    /// NOTIFY bus (`notify`); shutdown interrupts. Every branch is cancel-safe.
    pub(crate) async fn wait(&mut self, selected: bool, notify: bool) -> Result<Wake, End> {
        let (timeout, deadline) = match self.state {
            State::NotAuthenticated => (LOGIN_TIMEOUT, Some(self.login_deadline)),
            _ => (IDLE_TIMEOUT, None),
        };
        let mut rx = match &self.state {
            State::Selected { view, .. } if selected => Some(view.rx.clone()),
            _ => None,
        };
        let bus = if notify {
            self.notify.as_deref_mut()
        } else {
            None
        };
        let token = self.conn.shutdown().clone();
        let changed = async {
            match rx.as_mut() {
                Some(rx) => rx.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let event = async {
            match bus {
                Some(n) => n.recv().await,
                None => std::future::pending().await,
            }
        };
        if self.receiver.buffered() > 0 {
            // In the middle of a command: acknowledge what came at once, so that a
            // client holding the rest back until then (Nagle's algorithm) sends it
            // (see `Stream::quickack`). Between commands the reply carries the ACK.
            self.conn.quickack();
        }
        tokio::select! {
            r = self.conn.read_once(timeout, deadline) => r.map(|()| Wake::Input),
            ok = changed => Ok(if ok { Wake::Selected } else { Wake::SelectedGone }),
            () = event => Ok(Wake::Notify),
            _ = token.cancelled() => Err(End::Shutdown),
        }
    }

    /// Reads more input; meanwhile, between commands (nothing of the next one
    /// received), sends what NOTIFY asks for as it happens (RFC 5465 §5).
    async fn read_or_notify(&mut self) -> Result<(), End> {
        let mut watch_selected = true;
        loop {
            let between = self.conn.rbuf.is_empty() && self.receiver.buffered() == 0;
            let Some(n) = self.notify.as_deref().filter(|_| between) else {
                return self.read_more().await;
            };
            let selected = watch_selected && n.selected_updates(false).is_some();
            match self.wait(selected, true).await? {
                Wake::Input => return Ok(()),
                Wake::SelectedGone => watch_selected = false,
                Wake::Selected | Wake::Notify => {
                    self.push_unsolicited(false).await?;
                    self.conn.flush().await?;
                }
            }
        }
    }

    /// Sends, outside a command's response, what may go out now: the selected
    /// mailbox's updates (during IDLE without NOTIFY: all of them, RFC 2177 §3;
    /// with NOTIFY: as its selected group says, RFC 5465 §4, §6.1), then the NOTIFY
    /// bus's events.
    pub(crate) async fn push_unsolicited(&mut self, idle: bool) -> Result<(), End> {
        let updates = match self.notify.as_deref() {
            Some(n) => n.selected_updates(idle),
            None if idle => Some(notify::Updates {
                expunges: true,
                flags: true,
                fetch_new: false,
            }),
            None => None,
        };
        if let Some(u) = updates {
            self.send_updates_with(u).await?;
        }
        self.send_notifications().await
    }

    /// Reads one plain line (AUTHENTICATE response, IDLE's DONE). `None` when the
    /// line was too long (refused; the caller answers BAD).
    pub(crate) async fn read_line(&mut self) -> Result<Option<Vec<u8>>, End> {
        self.receiver.set_mode(Mode::Line);
        loop {
            let (n, ev) = self.receiver.feed(&self.conn.rbuf);
            self.conn.rbuf.drain(..n);
            match ev {
                Event::Line(line) => return Ok(Some(line)),
                Event::Error { .. } => return Ok(None),
                Event::NeedMore => {
                    self.conn.flush().await?;
                    self.read_more().await?;
                }
                // Not produced in line mode.
                Event::NeedsContinuation | Event::Command(_) => return Ok(None),
            }
        }
    }

    /// Flushes when enough output is buffered (streaming large responses).
    pub(crate) async fn maybe_flush(&mut self) -> Result<(), End> {
        if self.conn.wbuf.len() >= FLUSH_AT {
            self.conn.flush().await?;
        }
        Ok(())
    }

    /// Whether plaintext authentication may happen now (RFC 9051 §6.2.3: not without
    /// TLS, except loopback when configured).
    pub(crate) fn auth_allowed(&self) -> bool {
        self.conn.is_tls()
            || (self.ctx.config().auth.plaintext_on_loopback && is_loopback(self.peer.ip()))
    }

    /// RFC 9051 §7.2.2 capability list for the current state. Only what is fully
    /// implemented is advertised.
    pub(crate) fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = vec!["IMAP4rev1".into()];
        if matches!(self.state, State::NotAuthenticated) {
            if !self.conn.is_tls() {
                caps.push("STARTTLS".into());
            }
            if self.auth_allowed() {
                caps.push("AUTH=PLAIN".into());
                caps.push("AUTH=LOGIN".into());
            } else {
                caps.push("LOGINDISABLED".into());
            }
        }
        for c in [
            "SASL-IR",
            "LITERAL+",
            "ID",
            "ENABLE",
            "IDLE",
            "NAMESPACE",
            "UNSELECT",
            "UIDPLUS",
            "MOVE",
            "CHILDREN",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "SPECIAL-USE",
            "CREATE-SPECIAL-USE",
            "ESEARCH",
            "STATUS=SIZE",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "UTF8=ACCEPT",
            "SORT",
            "SORT=DISPLAY",
            "ESORT",
            "CONTEXT=SEARCH",
            "CONTEXT=SORT",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "COMPRESS=DEFLATE",
        ] {
            caps.push(c.into());
        }
        caps.push(format!(
            "APPENDLIMIT={}",
            self.ctx.config().limits.message_size
        ));
        self.extension_capabilities(&mut caps);
        caps
    }

    /// Switches to the authenticated state: larger literals (APPENDLIMIT).
    pub(crate) fn logged_in(&mut self, user: mailyard_store::Address) {
        let max = self.ctx.config().limits.message_size;
        self.receiver.set_limits(Limits {
            max_literal: max,
            max_command: max.saturating_mul(2),
            ..Limits::default()
        });
        self.conn.authenticated();
        self.state = State::Authenticated { user };
    }

    async fn command(&mut self, bytes: Vec<u8>) -> Result<Flow, End> {
        let req = match command::parse(&bytes) {
            Ok(r) => r,
            Err(e) => {
                let text = match e.kind {
                    crate::proto::ErrorKind::UnknownCommand => "Unknown command".to_string(),
                    ref k => format!("Syntax error: {k}"),
                };
                self.conn.wbuf.extend_from_slice(&status_response(
                    e.tag.as_deref(),
                    Status::Bad,
                    None,
                    &text,
                ));
                return Ok(self.count_bad());
            }
        };
        drop(bytes);
        let Request { tag, command } = req;
        let name = state::command_name(&command);
        if !state::allowed(&command, self.state.kind()) {
            self.conn.wbuf.extend_from_slice(&status_response(
                Some(&tag),
                Status::Bad,
                None,
                &format!("{name} is not valid in this state"),
            ));
            return Ok(self.count_bad());
        }
        // RFC 9051 §7.5.1: no EXPUNGE while responding to commands that use
        // message sequence numbers.
        let expunge_ok = match &command {
            Command::Fetch { uid, .. }
            | Command::Store { uid, .. }
            | Command::Search { uid, .. }
            | Command::Sort { uid, .. }
            | Command::Thread { uid, .. }
            | Command::Copy { uid, .. }
            | Command::Move { uid, .. } => *uid,
            _ => true,
        };
        let started = tokio::time::Instant::now();
        let done = self.dispatch(&tag, command).await?;
        self.ctx.metrics.imap_command(name, started.elapsed());
        if matches!(self.state, State::Selected { .. }) {
            self.send_updates(expunge_ok).await?;
        }
        // RFC 5465 §5: NOTIFY's events go out with any command's response.
        self.send_notifications().await?;
        if done.status == Status::Bad {
            self.count_bad();
        }
        if !done.sent {
            self.conn.wbuf.extend_from_slice(&status_response(
                Some(&tag),
                done.status,
                done.code.as_ref(),
                &done.text,
            ));
        }
        if done.close || matches!(self.state, State::Logout) {
            return Ok(Flow::Close);
        }
        if self.bad_count >= MAX_BAD {
            return Ok(Flow::Close);
        }
        Ok(Flow::Continue)
    }

    async fn dispatch(&mut self, tag: &str, command: Command) -> Result<Done, End> {
        Ok(match command {
            Command::Capability => self.handle_capability(),
            Command::Noop => self.handle_noop(),
            Command::Logout => self.handle_logout(),
            Command::Id { params } => self.handle_id(params),
            Command::Enable { capabilities } => self.handle_enable(capabilities),
            Command::Namespace => self.handle_namespace(),
            Command::StartTls => return self.handle_starttls(tag).await,
            Command::Login { username, password } => {
                return self.handle_login(username, password).await;
            }
            Command::Authenticate {
                mechanism,
                initial_response,
            } => return self.handle_authenticate(mechanism, initial_response).await,
            Command::Select(args) => self.handle_select(args, false).await,
            Command::Examine(args) => self.handle_select(args, true).await,
            Command::Create {
                mailbox,
                special_use,
            } => self.handle_create(mailbox, special_use).await,
            Command::Delete { mailbox } => self.handle_delete(mailbox).await,
            Command::Rename { from, to } => self.handle_rename(from, to).await,
            Command::Subscribe { mailbox } => self.handle_subscribe(mailbox, true).await,
            Command::Unsubscribe { mailbox } => self.handle_subscribe(mailbox, false).await,
            Command::List(args) => self.handle_list(args).await?,
            Command::Lsub { reference, pattern } => self.handle_lsub(reference, pattern).await?,
            Command::Status { mailbox, items } => self.handle_status(mailbox, items).await?,
            Command::Append { mailbox, messages } => self.handle_append(mailbox, messages).await,
            Command::GenUrlAuth { urls } => self.handle_genurlauth(urls).await,
            Command::ResetKey {
                mailbox,
                mechanisms,
            } => self.handle_resetkey(mailbox, mechanisms).await,
            Command::UrlFetch { urls } => self.handle_urlfetch(urls).await,
            Command::Idle => return self.handle_idle().await,
            Command::Notify(args) => self.handle_notify(args).await,
            Command::Check => self.handle_check(),
            Command::Close => self.handle_close().await,
            Command::Unselect => self.handle_unselect(),
            Command::CancelUpdate { tags } => self.handle_cancel_update(tags),
            Command::Expunge { uids } => self.handle_expunge(uids).await,
            Command::Search {
                uid,
                ret,
                charset,
                criteria,
            } => return self.handle_search(tag, uid, ret, charset, criteria).await,
            Command::Fetch {
                uid,
                sequence,
                attributes,
                modifiers,
            } => {
                return self
                    .handle_fetch(uid, sequence, attributes, modifiers)
                    .await;
            }
            Command::Store {
                uid,
                sequence,
                action,
                silent,
                flags,
                unchanged_since,
            } => {
                self.handle_store(uid, sequence, action, silent, flags, unchanged_since)
                    .await
            }
            Command::Copy {
                uid,
                sequence,
                mailbox,
            } => self.handle_copy(uid, sequence, mailbox, false).await?,
            Command::Move {
                uid,
                sequence,
                mailbox,
            } => self.handle_copy(uid, sequence, mailbox, true).await?,
            Command::GetQuota { root } => self.handle_getquota(root).await,
            Command::GetQuotaRoot { mailbox } => self.handle_getquotaroot(mailbox).await,
            Command::SetQuota { .. } => self.handle_setquota(),
            Command::Sort {
                uid,
                ret,
                criteria,
                charset,
                search,
            } => {
                return self
                    .handle_sort(tag, uid, ret, criteria, charset, search)
                    .await;
            }
            Command::Thread {
                uid,
                algorithm,
                charset,
                search,
            } => return self.handle_thread(uid, algorithm, charset, search).await,
            Command::Compress { mechanism } => return self.handle_compress(tag, mechanism).await,
        })
    }

    /// Sends what the selected mailbox's view owes the client at the end of a
    /// command: everything, EXPUNGE only if `expunge_ok`, MessageNew's FETCH when
    /// NOTIFY asks for it (RFC 5465 §5.2).
    pub(crate) async fn send_updates(&mut self, expunge_ok: bool) -> Result<(), End> {
        let fetch_new = self
            .notify
            .as_deref()
            .and_then(|n| n.selected.as_ref())
            .is_some_and(|s| !s.fetch.is_empty());
        self.send_updates_with(notify::Updates {
            expunges: expunge_ok,
            flags: true,
            fetch_new,
        })
        .await
    }

    /// Sends what the selected mailbox's view owes the client as `allowed` permits:
    /// changes from other sessions (checked when the store's watch channel fired),
    /// then EXPUNGE (if allowed), EXISTS, RECENT, FETCH of MessageNew's attributes
    /// (RFC 5465 §5.2) and FETCH FLAGS (those not allowed now wait in the view).
    pub(crate) async fn send_updates_with(&mut self, allowed: notify::Updates) -> Result<(), End> {
        let mut fetch_uids: Vec<u32> = Vec::new();
        let State::Selected { view, .. } = &mut self.state else {
            return Ok(());
        };
        let changed = view.rx.has_changed().unwrap_or(false);
        if changed {
            view.rx.borrow_and_update();
            let id = view.id;
            let since = view.modseq();
            let store_for_claim = self.ctx.store.clone();
            let fetched = self.ctx.store.mailbox_changes(id, since).await;
            let State::Selected { view, .. } = &mut self.state else {
                return Ok(());
            };
            let before = view.exists();
            match fetched {
                Ok(Some((mb, changed, expunged))) => {
                    // Renamed by another session: files now live under the new name.
                    if view.name != mb.name {
                        view.name = mb.name.clone();
                    }
                    let c = view.apply(changed, &expunged, mb.highestmodseq.0, mb.uidnext.0);
                    view.take_claimed_ahead();
                    // RFC 3501 §2.3.2: new mail is `\Recent` in exactly one session: a
                    // read-write session claims it in the store; a read-only one only
                    // sees what nobody has claimed yet.
                    if let Some(&last) = c.new.last() {
                        if view.read_only {
                            let first = mb.first_recent_uid;
                            view.mark_recent(c.new.iter().copied().filter(|&u| u >= first));
                        } else if last >= mb.first_recent_uid {
                            // (Below it, another session claimed them already, and
                            // claims only move forward: no trip to the writer.)
                            match store_for_claim.claim_recent(view.id, last).await {
                                Ok(claimed) => view.mark_recent(claimed),
                                Err(e) => tracing::warn!(error = %e, "cannot claim \\Recent"),
                            }
                        }
                    }
                    let mut out = Vec::new();
                    // RFC 9051 §7.3.5: new keywords are announced before FETCH uses them.
                    view.announce_keywords(&mut out);
                    view.owe_flags(
                        c.flags
                            .iter()
                            .filter_map(|seq| view.msgs.get(seq - 1))
                            .map(|m| m.uid)
                            .collect(),
                    );
                    if view.exists() != before {
                        write_exists(&mut out, &view.msgs, self.ext.rev2);
                    }
                    // Always: it also forgets the session's own new messages.
                    let others = view.others_new(&c.new);
                    if allowed.fetch_new {
                        fetch_uids = others;
                    }
                    self.conn.wbuf.extend_from_slice(&out);
                }
                Ok(None) => {
                    // The mailbox was deleted: every message is gone.
                    view.gone = true;
                    for m in &mut view.msgs {
                        m.expunged = true;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read mailbox changes");
                }
            }
        }
        if allowed.flags
            && let State::Selected { view, .. } = &mut self.state
        {
            let mut out = Vec::new();
            for (seq, m) in view.take_owed_flags() {
                crate::cmd::fetch::write_flags_update(&mut out, seq, m, &self.ext);
            }
            self.conn.wbuf.extend_from_slice(&out);
        }
        if !fetch_uids.is_empty() {
            self.fetch_new(fetch_uids).await?;
        }
        // RFC 5267 §4.3: live results follow the changes just announced.
        self.refresh_contexts().await;
        if allowed.expunges {
            self.send_expunges();
        }
        Ok(())
    }

    /// Sends the EXPUNGE responses the view owes (highest sequence number first).
    pub(crate) fn send_expunges(&mut self) {
        // RFC 5267 §4.3: REMOVEFROM names the numbers the client still holds.
        self.contexts_forget_expunged();
        let State::Selected { view, .. } = &mut self.state else {
            return;
        };
        if self.ext.qresync {
            // RFC 7162 §3.2.10: VANISHED instead of EXPUNGE.
            let uids = view.take_expunged_uids();
            crate::cmd::expunge::write_vanished(&mut self.conn.wbuf, false, uids);
            return;
        }
        let seqs = view.take_expunged();
        for seq in seqs {
            self.conn
                .wbuf
                .extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_codes() {
        let d = store_error(StoreError::NoMailbox("x".into()));
        assert_eq!(
            (d.status, d.code),
            (Status::No, Some(ResponseCode::Nonexistent))
        );
        let d = store_error(StoreError::MailboxExists("x".into()));
        assert_eq!(d.code, Some(ResponseCode::AlreadyExists));
        let d = store_error(StoreError::Closed);
        assert_eq!(d.code, Some(ResponseCode::Unavailable));
    }
}
