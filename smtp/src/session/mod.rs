//! One SMTP session: the state, the read/reply loop with PIPELINING, and dispatch to
//! one handler per verb (`envelope.rs`: MAIL, RCPT; `data.rs`: DATA, BDAT and
//! delivery; `burl.rs`: BURL; `auth.rs`: AUTH; this file: EHLO/HELO, STARTTLS, RSET,
//! NOOP, VRFY, EXPN, HELP, QUIT).
//!
//! Replies are queued and flushed only when no further complete command is buffered
//! (RFC 2920 §3: the server may group replies), and always before reading.

mod auth;
mod burl;
mod data;
mod envelope;
mod spool;

pub(crate) use data::{field_addresses, unique_token};

pub(crate) use spool::remove_leftovers as remove_spool_leftovers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailyard_common::conn::Conn;
pub(crate) use mailyard_common::conn::End;
use mailyard_common::listener::{Full, Slot};
use mailyard_common::metrics::Outcome;
use mailyard_common::shutdown::Shutdown;
use mailyard_common::stream::{Stream, TlsInfo};
use mailyard_common::throttle::is_loopback;
use mailyard_store::Address;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::proto::ehlo::EhloCapabilities;
use crate::proto::{
    Command, EnhancedStatus, ForwardPath, LineReceiver, LineResult, MailParams, Reply, ReversePath,
    parse_command,
};
use crate::{Context, Role};

/// RFC 5321 §4.5.3.2.7: the server waits at least 5 minutes for the next command
/// (and for DATA blocks, §4.5.3.2.5–6, which we hold to the same bound).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// How a handler wants the session to go on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close,
}

/// One accepted recipient.
#[derive(Debug, Clone)]
pub(crate) struct Recipient {
    /// As the client gave it.
    pub given: ForwardPath,
    /// The local users it resolves to, each with their active Sieve script as
    /// RCPT TO found it.
    pub local: Vec<(Address, crate::filter::ActiveScript)>,
    /// Addresses on other servers it goes to (itself when remote, or what a local
    /// alias points to outside), for the relay queue.
    pub remote: Vec<String>,
    /// Its RFC 3461 parameters (NOTIFY, ORCPT).
    pub params: crate::proto::RcptParams,
    /// When it was looked up (the age of its users' scripts).
    pub routed: std::time::Instant,
}

/// A mail transaction (RFC 5321 §3.3): from MAIL to the end of DATA.
#[derive(Debug)]
pub(crate) struct Transaction {
    pub from: ReversePath,
    pub params: MailParams,
    pub rcpts: Vec<Recipient>,
}

pub(crate) struct Session {
    ctx: Arc<Context>,
    role: Role,
    peer: SocketAddr,
    id: String,
    /// The stream, its buffers, the connection's place in its listener's count
    /// (stress, the share of connections that have not authenticated), shutdown.
    conn: Conn,
    tls: Option<TlsInfo>,
    lines: LineReceiver,
    /// EHLO/HELO argument and whether it was EHLO.
    helo: Option<(String, bool)>,
    auth: Option<Address>,
    tx: Option<Transaction>,
    /// The BDAT message being received (RFC 3030), across chunks.
    bdat: Option<crate::proto::BdatReceiver>,
    /// What of that message is already on disk (`spool.rs`).
    spool: Option<spool::Spool>,
    errors: u32,
    /// Until AUTH or the first MAIL FROM: when the session is closed, whatever it
    /// sends meanwhile (`[limits] login_seconds`).
    login_deadline: Option<Instant>,
}

/// Runs one connection to its end.
pub(crate) async fn run(
    ctx: Arc<Context>,
    role: Role,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: Option<Slot>,
    shutdown: Shutdown,
) {
    let id = mailyard_common::log::session_id();
    let span = tracing::info_span!("smtp", listener = role.name(), %peer, session = %id);
    let max_per_ip = ctx.config().limits.max_connections_per_ip;
    let (slot, _per_ip) =
        match mailyard_common::listener::admit(slot, &ctx.per_ip, peer.ip(), max_per_ip) {
            Ok(places) => places,
            Err(full) => {
                let text = match full {
                    Full::Listener => "Too many connections, try again later",
                    Full::Address => "Too many connections from your address, try again later",
                };
                let reply = Reply::new(421, Some(EnhancedStatus::new(4, 7, 0)), text);
                let mut tcp = tcp;
                let _ = tcp.write_all(&reply.to_bytes()).await;
                ctx.metrics.session_ended("smtp", Outcome::Refused);
                return;
            }
        };
    let login_seconds = ctx.config().limits.login_seconds;
    let implicit_tls = (role == Role::Submissions).then(|| ctx.tls.clone());
    use tracing::Instrument;
    let Ok(stream) = Stream::accept(tcp, implicit_tls)
        .instrument(span.clone())
        .await
    else {
        ctx.metrics.session_ended("smtp", Outcome::Error);
        return;
    };
    let mut s = Session {
        tls: stream.tls_info(),
        conn: Conn::new(stream, slot, &shutdown),
        ctx,
        role,
        peer,
        id,
        lines: LineReceiver::default(),
        helo: None,
        auth: None,
        tx: None,
        bdat: None,
        spool: None,
        errors: 0,
        login_deadline: Some(Instant::now() + Duration::from_secs(login_seconds)),
    };
    let result = s.serve().instrument(span.clone()).await;
    let outcome = mailyard_common::conn::outcome(&result);
    s.ctx.metrics.session_ended("smtp", outcome);
    span.in_scope(|| match result {
        Ok(()) => tracing::debug!("session closed"),
        Err(End::Io(e)) => tracing::debug!(error = %e, "connection error"),
        Err(other) => tracing::debug!(reason = ?other, "session ended"),
    });
}

impl Session {
    async fn serve(&mut self) -> Result<(), End> {
        if self.ctx.auth_throttle.is_banned(self.peer.ip()) {
            self.reply(Reply::new(
                421,
                Some(EnhancedStatus::new(4, 7, 0)),
                "Too many failed logins from your address, try again later",
            ));
            return self.conn.flush().await;
        }
        self.reply(Reply::greeting(&self.ctx.config().hostname));
        loop {
            match self.lines.next_line(&self.conn.rbuf) {
                LineResult::Line { line, consumed } => {
                    let line = line.to_vec();
                    self.conn.rbuf.drain(..consumed);
                    if self.command(&line).await? == Flow::Close {
                        return self.conn.flush().await;
                    }
                }
                LineResult::TooLong { consumed } => {
                    self.conn.rbuf.drain(..consumed);
                    if self.error(Reply::line_too_long()) == Flow::Close {
                        return self.conn.flush().await;
                    }
                }
                LineResult::NeedMore { consumed } => {
                    self.conn.rbuf.drain(..consumed);
                    self.conn.flush().await?;
                    match self.read_more(true).await {
                        Ok(()) => {}
                        Err(End::Shutdown) => {
                            self.reply(Reply::shutting_down(&self.ctx.config().hostname));
                            // Said goodbye; the end is still counted as what it was.
                            self.conn.flush().await?;
                            return Err(End::Shutdown);
                        }
                        Err(End::Timeout) => {
                            self.reply(Reply::new(
                                421,
                                Some(EnhancedStatus::new(4, 4, 2)),
                                "Timeout waiting for a command, closing",
                            ));
                            self.conn.flush().await?;
                            return Err(End::Timeout);
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// Reads more input into `rbuf`. `idle`: between commands, where shutdown may
    /// interrupt; inside DATA it may not (the client is sending a message we will
    /// acknowledge).
    async fn read_more(&mut self, idle: bool) -> Result<(), End> {
        self.conn
            .read_more(COMMAND_TIMEOUT, self.login_deadline, idle)
            .await
    }

    fn reply(&mut self, r: Reply) {
        r.write(&mut self.conn.wbuf);
    }

    /// Replies with an error and counts it; too many close the session.
    fn error(&mut self, r: Reply) -> Flow {
        self.reply(r);
        self.errors += 1;
        if self.errors >= self.ctx.config().limits.max_errors {
            self.reply(Reply::new(
                421,
                Some(EnhancedStatus::new(4, 7, 0)),
                "Too many errors, closing connection",
            ));
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Whether AUTH may be used on this connection now (RFC 4954 §4: not over an
    /// unprotected channel, except loopback when configured).
    fn auth_allowed(&self) -> bool {
        self.role != Role::Mx
            && (self.tls.is_some()
                || (self.ctx.config().auth.plaintext_on_loopback && is_loopback(self.peer.ip())))
    }

    fn capabilities(&self) -> EhloCapabilities {
        EhloCapabilities {
            pipelining: true,
            size: Some(self.ctx.config().limits.message_size),
            eight_bit_mime: true,
            smtputf8: true,
            enhanced_status_codes: true,
            chunking: true,
            binary_mime: true,
            dsn: true,
            starttls: self.tls.is_none(),
            auth: self.auth_allowed() && self.auth.is_none(),
            burl: self.burl_allowed(),
        }
    }

    async fn command(&mut self, line: &[u8]) -> Result<Flow, End> {
        let cmd = match parse_command(line) {
            Ok(c) => c,
            Err(e) => return Ok(self.error(e.reply())),
        };
        match cmd {
            Command::Ehlo(arg) => Ok(self.handle_helo(arg, true)),
            Command::Helo(arg) => Ok(self.handle_helo(arg, false)),
            Command::StartTls => self.handle_starttls().await,
            Command::Auth {
                mechanism,
                initial_response,
            } => self.handle_auth(&mechanism, initial_response).await,
            Command::Mail { from, params } => Ok(self.handle_mail(from, params).await),
            Command::Rcpt { to, params } => Ok(self.handle_rcpt(to, params).await),
            Command::Data => self.handle_data().await,
            Command::Bdat { size, last } => self.handle_bdat(size, last).await,
            Command::Burl { url, last } => self.handle_burl(url, last).await,
            Command::Rset => {
                // RFC 5321 §4.1.1.5
                self.tx = None;
                self.drop_message();
                self.reply(Reply::ok());
                Ok(Flow::Continue)
            }
            Command::Noop => {
                // RFC 5321 §4.1.1.9
                self.reply(Reply::ok());
                Ok(Flow::Continue)
            }
            Command::Quit => {
                // RFC 5321 §4.1.1.10
                self.reply(Reply::closing());
                Ok(Flow::Close)
            }
            Command::Vrfy(_) => {
                // RFC 5321 §3.5.3: 252 when we will not verify (no address harvesting).
                self.reply(Reply::new(
                    252,
                    Some(EnhancedStatus::new(2, 5, 0)),
                    "Cannot VRFY user, but will accept message and attempt delivery",
                ));
                Ok(Flow::Continue)
            }
            Command::Expn(_) => {
                // RFC 5321 §3.5.2: EXPN may be disabled.
                self.reply(Reply::new(
                    502,
                    Some(EnhancedStatus::new(5, 5, 1)),
                    "EXPN is disabled",
                ));
                Ok(Flow::Continue)
            }
            Command::Help(_) => {
                // RFC 5321 §4.1.1.8
                self.reply(Reply::new(
                    214,
                    Some(EnhancedStatus::new(2, 0, 0)),
                    "Commands: EHLO HELO MAIL RCPT DATA BDAT BURL RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
                ));
                Ok(Flow::Continue)
            }
        }
    }

    /// EHLO/HELO. Any state; resets the transaction. RFC 5321 §4.1.1.1.
    fn handle_helo(&mut self, arg: String, esmtp: bool) -> Flow {
        self.tx = None;
        self.helo = Some((arg.clone(), esmtp));
        let host = self.ctx.config().hostname.clone();
        let r = if esmtp {
            self.capabilities().reply(&host, &arg)
        } else {
            crate::proto::ehlo::helo_reply(&host, &arg)
        };
        self.reply(r);
        Flow::Continue
    }

    /// STARTTLS. Allowed on a plain connection with no transaction; afterwards the
    /// session starts over (RFC 3207 §4.2) and anything the client pipelined after
    /// the command is discarded (§5, against injection).
    async fn handle_starttls(&mut self) -> Result<Flow, End> {
        if self.tls.is_some() {
            return Ok(self.error(Reply::bad_sequence("TLS already active")));
        }
        self.reply(Reply::ready_to_start_tls());
        self.conn.start_tls(self.ctx.tls.clone()).await?;
        self.tls = self.conn.tls_info();
        self.helo = None;
        self.auth = None;
        self.tx = None;
        self.drop_message();
        self.lines = LineReceiver::default();
        Ok(Flow::Continue)
    }
}
