//! One client connection of a line protocol session (SMTP, IMAP, POP3, ManageSieve):
//! the [`Stream`] (plain, TLS, compressed), the input read but not yet consumed
//! (`rbuf`), the replies not yet written (`wbuf`), the connection's [`Slot`] in its
//! listener's count and the shutdown token; and the one read loop every session uses.
//!
//! Invariants:
//! - Every read has an idle timeout and, before login, a deadline (judged by the
//!   [`Slot`], which cuts connections that have not authenticated shorter while the
//!   listener is under stress).
//! - Shutdown interrupts a read only where the caller says it may (between commands);
//!   inside a message or a SASL exchange the read goes on.
//! - Every read is cancel-safe: input that arrives is in `rbuf`, never lost, so a
//!   session can put [`Conn::read_once`] in its own `select!` (IMAP's IDLE and NOTIFY).
//! - STARTTLS discards whatever the client pipelined after the command (RFC 3207 §4.2,
//!   RFC 9051 §6.2.1, RFC 2595 §4, RFC 5804 §2.2: against plaintext injection); a
//!   refused STARTTLS changes nothing.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::listener::Slot;
use crate::metrics::Outcome;
use crate::shutdown::Shutdown;
use crate::stream::{Stream, TlsInfo};

/// What one read asks room for in `rbuf`.
pub const READ_CHUNK: usize = 16 * 1024;

/// Why a session ended before the client said goodbye (logged; the session's metrics
/// count it).
#[derive(Debug)]
pub enum End {
    /// The client closed the connection.
    Eof,
    /// The connection failed (or the TLS handshake did).
    Io(io::Error),
    /// The client was idle too long, or did not log in in time.
    Timeout,
    /// The server is shutting down.
    Shutdown,
}

impl From<io::Error> for End {
    fn from(e: io::Error) -> Self {
        End::Io(e)
    }
}

/// How a session that ended with `result` is counted (`Metrics::session_ended`).
pub fn outcome(result: &Result<(), End>) -> Outcome {
    match result {
        Ok(()) => Outcome::Closed,
        Err(End::Eof) => Outcome::Eof,
        Err(End::Io(_)) => Outcome::Error,
        Err(End::Timeout) => Outcome::Timeout,
        Err(End::Shutdown) => Outcome::Shutdown,
    }
}

/// A session's connection: the stream, its buffers, its slot, the shutdown token.
pub struct Conn {
    /// None only after a failed STARTTLS (the session then ends).
    stream: Option<Stream>,
    /// Input read and not yet consumed; the session drains what it parses.
    pub rbuf: Vec<u8>,
    /// Output not yet written; [`Conn::flush`] writes it.
    pub wbuf: Vec<u8>,
    slot: Slot,
    shutdown: CancellationToken,
}

impl Conn {
    /// A connection over `stream` (from [`Stream::accept`]).
    pub fn new(stream: Stream, slot: Slot, shutdown: &Shutdown) -> Conn {
        Conn {
            stream: Some(stream),
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            slot,
            shutdown: shutdown.token.clone(),
        }
    }

    /// Writes `wbuf` out, flushes the stream (for a compressed one: a sync flush) and
    /// empties `wbuf`.
    pub async fn flush(&mut self) -> Result<(), End> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(End::Eof);
        };
        stream.write_all(&self.wbuf).await?;
        stream.flush().await?;
        self.wbuf.clear();
        Ok(())
    }

    /// Reads more input into `rbuf`: Timeout once the connection has been idle for
    /// `timeout` (shortened under stress, see [`Slot::idle_timeout`]) or `deadline`
    /// has passed; Shutdown when `interruptible` and the server begins to stop. Does
    /// not flush (a session flushes its replies first).
    pub async fn read_more(
        &mut self,
        timeout: Duration,
        deadline: Option<Instant>,
        interruptible: bool,
    ) -> Result<(), End> {
        if !interruptible {
            return self.read_once(timeout, deadline).await;
        }
        let token = self.shutdown.clone();
        tokio::select! {
            r = self.read_once(timeout, deadline) => r,
            _ = token.cancelled() => Err(End::Shutdown),
        }
    }

    /// One read into `rbuf` with `timeout` and `deadline` as in [`Conn::read_more`],
    /// not interrupted by shutdown. Cancel-safe: a session may race it in its own
    /// `select!` against other events (and [`Conn::shutdown`]) and lose nothing.
    pub async fn read_once(
        &mut self,
        timeout: Duration,
        deadline: Option<Instant>,
    ) -> Result<(), End> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(End::Eof);
        };
        self.rbuf.reserve(READ_CHUNK);
        match self
            .slot
            .read_idle(stream, &mut self.rbuf, timeout, deadline)
            .await
        {
            Some(Ok(0)) => Err(End::Eof),
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(End::Io(e)),
            None => Err(End::Timeout),
        }
    }

    /// One read into `rbuf` with no timeout (the session is busy with a command and
    /// only watches whether the client leaves). Cancel-safe, as [`Conn::read_once`].
    pub async fn read_ahead(&mut self) -> Result<(), End> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(End::Eof);
        };
        self.rbuf.reserve(READ_CHUNK);
        match stream.read_buf(&mut self.rbuf).await {
            Ok(0) => Err(End::Eof),
            Ok(_) => Ok(()),
            Err(e) => Err(End::Io(e)),
        }
    }

    /// STARTTLS after its positive reply (in `wbuf`): writes the reply, discards
    /// whatever the client pipelined after the command, runs the handshake. A
    /// connection that is already TLS or compressed is refused with nothing changed
    /// (nothing written, `rbuf` kept). A handshake that times out is Timeout.
    pub async fn start_tls(&mut self, config: Arc<ServerConfig>) -> Result<(), End> {
        if !matches!(self.stream, Some(Stream::Plain(_))) {
            return Err(End::Io(io::Error::other(
                "STARTTLS on a TLS or compressed stream",
            )));
        }
        self.flush().await?;
        self.rbuf.clear();
        let Some(stream) = self.stream.take() else {
            return Err(End::Eof);
        };
        match stream.start_tls(config).await {
            Ok(s) => {
                self.stream = Some(s);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(End::Timeout),
            Err(e) => Err(End::Io(e)),
        }
    }

    /// COMPRESS DEFLATE after its positive reply (in `wbuf`): writes the reply
    /// uncompressed, then both directions are deflate (RFC 4978 §3); what the client
    /// sent after the command is already compressed and is read through it. False
    /// (nothing done) when compression is already active.
    pub async fn compress(&mut self) -> Result<bool, End> {
        if self.is_compressed() {
            return Ok(false);
        }
        self.flush().await?;
        let Some(stream) = self.stream.take() else {
            return Err(End::Eof);
        };
        let pending = std::mem::take(&mut self.rbuf);
        self.stream = Some(stream.compress(pending));
        Ok(true)
    }

    /// See [`Stream::quickack`].
    pub fn quickack(&self) {
        if let Some(s) = &self.stream {
            s.quickack();
        }
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.stream.as_ref().is_some_and(Stream::is_tls)
    }

    /// Whether COMPRESS is active.
    pub fn is_compressed(&self) -> bool {
        self.stream.as_ref().is_some_and(Stream::is_compressed)
    }

    /// The negotiated TLS version and cipher suite.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.stream.as_ref().and_then(Stream::tls_info)
    }

    /// The client has authenticated: see [`Slot::authenticated`].
    pub fn authenticated(&mut self) {
        self.slot.authenticated();
    }

    /// Cancelled when the server begins to stop (for a session's own `select!`).
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::Deflate;
    use crate::listener::lone_slot;
    use tokio::net::{TcpListener, TcpStream};

    /// A server-side connection and its client, over loopback.
    async fn pair() -> (Conn, TcpStream, Shutdown) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (server, _) = accepted.expect("accept");
        let shutdown = Shutdown::new();
        let conn = Conn::new(Stream::Plain(server), lone_slot(), &shutdown);
        (conn, client.expect("connect"), shutdown)
    }

    /// Reads from `r` until `want` octets have come (with a deadline).
    async fn read_exact<R: tokio::io::AsyncRead + Unpin>(r: &mut R, want: usize) -> Vec<u8> {
        let mut out = vec![0; want];
        tokio::time::timeout(Duration::from_secs(10), r.read_exact(&mut out))
            .await
            .expect("in time")
            .expect("read");
        out
    }

    #[tokio::test]
    async fn input_accumulates_output_flushes_and_eof_ends() {
        let (mut conn, mut client, _sd) = pair().await;
        client.write_all(b"a NOOP\r\n").await.expect("write");
        while conn.rbuf.len() < 8 {
            conn.read_more(Duration::from_secs(10), None, true)
                .await
                .expect("read");
        }
        // What the session has not consumed stays; more input is appended.
        client.write_all(b"b NO").await.expect("write");
        while conn.rbuf.len() < 12 {
            conn.read_more(Duration::from_secs(10), None, true)
                .await
                .expect("read");
        }
        assert_eq!(conn.rbuf, b"a NOOP\r\nb NO");
        conn.wbuf.extend_from_slice(b"a OK done\r\n");
        conn.flush().await.expect("flush");
        assert!(conn.wbuf.is_empty(), "flush empties wbuf");
        assert_eq!(read_exact(&mut client, 11).await, b"a OK done\r\n");
        drop(client);
        let end = conn.read_more(Duration::from_secs(10), None, true).await;
        assert!(matches!(end, Err(End::Eof)), "{end:?}");
        assert_eq!(conn.rbuf, b"a NOOP\r\nb NO", "EOF keeps what was read");
    }

    #[tokio::test]
    async fn idle_timeout_and_login_deadline() {
        let (mut conn, _client, _sd) = pair().await;
        let started = Instant::now();
        let end = conn.read_more(Duration::from_millis(200), None, true).await;
        assert!(matches!(end, Err(End::Timeout)), "{end:?}");
        assert!(started.elapsed() >= Duration::from_millis(200));
        // The deadline cuts a read whose idle timeout is far away.
        let started = Instant::now();
        let deadline = started + Duration::from_millis(150);
        let end = conn
            .read_more(Duration::from_secs(60), Some(deadline), false)
            .await;
        assert!(matches!(end, Err(End::Timeout)), "{end:?}");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(150) && took < Duration::from_secs(30));
        // A deadline already past: no wait at all.
        let end = conn
            .read_once(Duration::from_secs(60), Some(Instant::now()))
            .await;
        assert!(matches!(end, Err(End::Timeout)), "{end:?}");
    }

    #[tokio::test]
    async fn shutdown_interrupts_only_an_interruptible_read() {
        let (mut conn, mut client, shutdown) = pair().await;
        shutdown.token.cancel();
        let end = conn.read_more(Duration::from_secs(60), None, true).await;
        assert!(matches!(end, Err(End::Shutdown)), "{end:?}");
        assert!(conn.shutdown().is_cancelled());
        // Inside a message: the read goes on and gets the client's input.
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            client.write_all(b"line of DATA\r\n").await.expect("write");
            client
        });
        conn.read_more(Duration::from_secs(10), None, false)
            .await
            .expect("not interrupted");
        let _client = writer.await.expect("writer");
        assert!(b"line of DATA\r\n".starts_with(&conn.rbuf) && !conn.rbuf.is_empty());
    }

    #[tokio::test]
    async fn read_once_is_cancel_safe() {
        let (mut conn, mut client, _sd) = pair().await;
        let text: Vec<u8> = (0..200u8).map(|i| b'a' + i % 26).collect();
        let sent = text.clone();
        let writer = tokio::spawn(async move {
            for chunk in sent.chunks(7) {
                client.write_all(chunk).await.expect("write");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            client
        });
        // Raced against a short timer that often wins: nothing read is lost.
        let deadline = Instant::now() + Duration::from_secs(10);
        while conn.rbuf.len() < text.len() {
            assert!(Instant::now() < deadline, "input lost: {:?}", conn.rbuf);
            tokio::select! {
                r = conn.read_once(Duration::from_secs(10), None) => r.expect("read"),
                () = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
        }
        assert_eq!(conn.rbuf, text);
        let _client = writer.await.expect("writer");
    }

    #[tokio::test]
    async fn read_ahead_has_no_timeout_and_sees_eof() {
        let (mut conn, mut client, _sd) = pair().await;
        client.write_all(b"x").await.expect("write");
        conn.read_ahead().await.expect("read");
        assert_eq!(conn.rbuf, b"x");
        drop(client);
        assert!(matches!(conn.read_ahead().await, Err(End::Eof)));
    }

    /// A certificate for "localhost", the server configuration with it, and a client
    /// configuration that trusts it.
    fn tls_configs() -> (Arc<ServerConfig>, Arc<rustls::ClientConfig>) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let der = key.cert.der().clone();
        let private =
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], private)
            .expect("server config");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).expect("root");
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    #[tokio::test]
    async fn start_tls_discards_pipelined_input_and_keeps_the_buffers() {
        let (mut conn, mut client, _sd) = pair().await;
        let (server_tls, client_tls) = tls_configs();
        // The client pipelines a command after STLS (the injection attack).
        client
            .write_all(b"STLS\r\nUSER injected\r\n")
            .await
            .expect("write");
        while conn.rbuf.len() < 21 {
            conn.read_more(Duration::from_secs(10), None, true)
                .await
                .expect("read");
        }
        conn.rbuf.drain(..6);
        conn.wbuf
            .extend_from_slice(b"+OK Begin TLS negotiation\r\n");
        let handshake = tokio::spawn(async move {
            let reply = read_exact(&mut client, 27).await;
            let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
            let mut tls = tokio_rustls::TlsConnector::from(client_tls)
                .connect(name, client)
                .await
                .expect("handshake");
            tls.write_all(b"CAPA\r\n").await.expect("write");
            tls.flush().await.expect("flush");
            (reply, tls)
        });
        conn.start_tls(server_tls.clone()).await.expect("start_tls");
        let (reply, mut tls) = handshake.await.expect("client");
        assert_eq!(reply, b"+OK Begin TLS negotiation\r\n", "written before");
        assert!(conn.is_tls() && !conn.is_compressed());
        assert!(
            conn.tls_info()
                .is_some_and(|i| i.version.starts_with("TLSv1."))
        );
        while conn.rbuf.len() < 6 {
            conn.read_more(Duration::from_secs(10), None, true)
                .await
                .expect("read");
        }
        assert_eq!(conn.rbuf, b"CAPA\r\n", "the pipelined USER was discarded");
        // A second STARTTLS is refused and changes nothing.
        conn.wbuf.extend_from_slice(b"-ERR no\r\n");
        let end = conn.start_tls(server_tls).await;
        assert!(matches!(end, Err(End::Io(_))), "{end:?}");
        assert_eq!(conn.rbuf, b"CAPA\r\n");
        assert_eq!(conn.wbuf, b"-ERR no\r\n");
        conn.flush().await.expect("still usable");
        assert_eq!(read_exact(&mut tls, 9).await, b"-ERR no\r\n");
    }

    #[tokio::test]
    async fn compress_then_start_tls_refused_keeps_buffered_input() {
        let (mut conn, client, _sd) = pair().await;
        conn.wbuf.extend_from_slice(b"a OK DEFLATE active\r\n");
        assert!(conn.compress().await.expect("compress"));
        assert!(conn.is_compressed() && !conn.is_tls());
        assert!(!conn.compress().await.expect("second"), "already active");
        // The OK went out uncompressed; from here on both sides speak deflate.
        let mut client = client;
        assert_eq!(
            read_exact(&mut client, 21).await,
            b"a OK DEFLATE active\r\n"
        );
        let mut client = Deflate::new(client, Vec::new());
        client
            .write_all(b"b NOOP\r\nc NOOP\r\n")
            .await
            .expect("write");
        client.flush().await.expect("flush");
        while conn.rbuf.len() < 16 {
            conn.read_more(Duration::from_secs(10), None, true)
                .await
                .expect("read");
        }
        conn.rbuf.drain(..8);
        conn.wbuf.extend_from_slice(b"b OK\r\n");
        let (server_tls, _) = tls_configs();
        let end = conn.start_tls(server_tls).await;
        assert!(matches!(end, Err(End::Io(_))), "{end:?}");
        assert_eq!(conn.rbuf, b"c NOOP\r\n", "buffered input kept");
        assert_eq!(conn.wbuf, b"b OK\r\n", "nothing written");
        conn.flush().await.expect("flush");
        assert_eq!(read_exact(&mut client, 6).await, b"b OK\r\n");
    }
}
