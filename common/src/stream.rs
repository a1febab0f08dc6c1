//! One stream type over plain TCP, TLS and compression, so a session keeps its type
//! across STARTTLS (RFC 3207, RFC 9051 §6.2.1) and COMPRESS (RFC 4978):
//! `Stream::start_tls(self)` consumes the plain stream and returns the encrypted one,
//! `Stream::compress(self, …)` wraps either in deflate. Sessions hold it inside a
//! [`crate::conn::Conn`].

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::deflate::Deflate;

/// A client connection, plain or TLS, and either of them compressed.
pub enum Stream {
    /// Not (yet) encrypted.
    Plain(TcpStream),
    /// After STARTTLS or on an implicit-TLS port.
    Tls(Box<TlsStream<TcpStream>>),
    /// After COMPRESS DEFLATE (RFC 4978), over a `Plain` or a `Tls` stream.
    Deflate(Box<Deflate<Stream>>),
}

/// What a session logs and writes into Received headers about the TLS in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// e.g. "TLSv1.3".
    pub version: String,
    /// e.g. "TLS13_AES_256_GCM_SHA384".
    pub cipher: String,
}

/// How long a client may take over the TLS handshake (implicit TLS, or after
/// STARTTLS).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

impl Stream {
    /// A newly accepted connection: TLS from the first byte when `implicit_tls` holds
    /// its configuration (RFC 8314 §3.3), else plain.
    pub async fn accept(
        tcp: TcpStream,
        implicit_tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<Stream> {
        match implicit_tls {
            Some(config) => Stream::Plain(tcp).start_tls(config).await,
            None => Ok(Stream::Plain(tcp)),
        }
    }

    /// Runs the TLS handshake on a plain stream. On a stream that is already TLS this
    /// is an error (a second STARTTLS), as on a compressed one (COMPRESS is only
    /// allowed after login, when STARTTLS no longer is).
    ///
    /// A handshake that fails, or takes longer than [`TLS_HANDSHAKE_TIMEOUT`], is
    /// logged at debug with its reason (the alert a client sent, e.g. `UnknownCA` when
    /// it does not trust the certificate), so an admin can see why a client gave up.
    pub async fn start_tls(self, config: Arc<ServerConfig>) -> io::Result<Stream> {
        match self {
            Stream::Plain(tcp) => {
                let accept = TlsAcceptor::from(config).accept(tcp);
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, accept).await {
                    Ok(Ok(tls)) => Ok(Stream::Tls(Box::new(tls))),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        Err(e)
                    }
                    Err(_) => {
                        tracing::debug!(
                            seconds = TLS_HANDSHAKE_TIMEOUT.as_secs(),
                            "TLS handshake failed: timed out"
                        );
                        Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "TLS handshake timed out",
                        ))
                    }
                }
            }
            Stream::Tls(_) => Err(io::Error::other("TLS is already active")),
            Stream::Deflate(_) => Err(io::Error::other("STARTTLS inside COMPRESS")),
        }
    }

    /// Wraps the stream in deflate (RFC 4978); `pending` is input already read past
    /// the COMPRESS command (already compressed). A compressed stream stays as it is.
    pub fn compress(self, pending: Vec<u8>) -> Stream {
        match self {
            s @ (Stream::Plain(_) | Stream::Tls(_)) => {
                Stream::Deflate(Box::new(Deflate::new(s, pending)))
            }
            s @ Stream::Deflate(_) => s,
        }
    }

    /// Whether COMPRESS is active.
    pub fn is_compressed(&self) -> bool {
        matches!(self, Stream::Deflate(_))
    }

    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(t) => t,
            Stream::Tls(t) => t.get_ref().0,
            Stream::Deflate(d) => d.get_ref().tcp(),
        }
    }

    /// Asks the kernel to acknowledge received data at once (Linux `TCP_QUICKACK`:
    /// an ACK now if one is owed, and quick ACKs until the kernel's next delayed-ACK
    /// decision). Why: a client that sends a command in pieces with Nagle on (Python's
    /// imaplib sends an APPEND literal and its final CRLF in two writes) holds the last
    /// piece until the first is acknowledged, and a delayed ACK costs it 40 ms. The
    /// IMAP session asks for it only when it waits in the middle of a command: after
    /// a whole command its reply carries the ACK, and an ACK of its own was one more
    /// packet per read (about 1 % of the server's CPU under imaptest).
    pub fn quickack(&self) {
        #[cfg(target_os = "linux")]
        let _ = self.tcp().set_quickack(true);
    }

    /// Whether TLS is active (under compression or not).
    pub fn is_tls(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(_) => true,
            Stream::Deflate(d) => d.get_ref().is_tls(),
        }
    }

    /// The negotiated protocol version and cipher suite.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let tls = match self {
            Stream::Plain(_) => return None,
            Stream::Tls(tls) => tls,
            Stream::Deflate(d) => return d.get_ref().tls_info(),
        };
        let (_, conn) = tls.get_ref();
        Some(TlsInfo {
            version: conn
                .protocol_version()
                .and_then(|v| v.as_str())
                .unwrap_or("TLS")
                .replace("TLSv1_", "TLSv1."),
            cipher: conn
                .negotiated_cipher_suite()
                .and_then(|c| c.suite().as_str())
                .unwrap_or("unknown")
                .to_string(),
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Deflate(d) => Pin::new(d.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Deflate(d) => Pin::new(d.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Deflate(d) => Pin::new(d.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Deflate(d) => Pin::new(d.as_mut()).poll_shutdown(cx),
        }
    }
}
