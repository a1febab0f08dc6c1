//! COMPRESS=DEFLATE (RFC 4978): the session's connection, plain or wrapped in raw
//! deflate ([`mailyard_common::deflate`]), and the COMPRESS handler.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use mailyard_common::deflate::Deflate;
use mailyard_common::stream::Stream;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::proto::response::{ResponseCode, Status as ImapStatus, status_response};
use crate::session::{Done, End, Session};

/// The connection a session talks through.
pub(crate) enum Conn {
    /// Plain TCP or TLS.
    Plain(Stream),
    /// After COMPRESS DEFLATE (RFC 4978).
    Deflate(Box<Deflate<Stream>>),
}

impl From<Stream> for Conn {
    fn from(s: Stream) -> Conn {
        Conn::Plain(s)
    }
}

impl Conn {
    /// STARTTLS on the plain connection (COMPRESS is only allowed after login, when
    /// STARTTLS no longer is, so a compressed connection never gets here).
    pub(crate) async fn start_tls(self, config: Arc<ServerConfig>) -> io::Result<Conn> {
        match self {
            Conn::Plain(s) => Ok(Conn::Plain(s.start_tls(config).await?)),
            Conn::Deflate(_) => Err(io::Error::other("STARTTLS inside COMPRESS")),
        }
    }

    /// See [`Stream::quickack`].
    pub(crate) fn quickack(&self) {
        match self {
            Conn::Plain(s) => s.quickack(),
            Conn::Deflate(d) => d.get_ref().quickack(),
        }
    }

    /// Whether COMPRESS is active.
    pub(crate) fn is_compressed(&self) -> bool {
        matches!(self, Conn::Deflate(_))
    }

    /// Wraps the connection in deflate; `pending` is input already read past the
    /// COMPRESS command (already compressed).
    fn deflate(self, pending: Vec<u8>) -> Conn {
        match self {
            Conn::Plain(s) => Conn::Deflate(Box::new(Deflate::new(s, pending))),
            c @ Conn::Deflate(_) => c,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Deflate(d) => Pin::new(d.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Deflate(d) => Pin::new(d.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Deflate(d) => Pin::new(d.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Deflate(d) => Pin::new(d.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Session {
    /// COMPRESS DEFLATE: answers OK uncompressed, then both directions are raw
    /// deflate. A second COMPRESS is NO [COMPRESSIONACTIVE]; another mechanism is
    /// BAD. Authenticated and selected states, with or without TLS. RFC 4978 §3.
    pub(crate) async fn handle_compress(
        &mut self,
        tag: &str,
        mechanism: String,
    ) -> Result<Done, End> {
        if mechanism != "DEFLATE" {
            return Ok(Done::bad("Unknown compression mechanism"));
        }
        if self.stream.as_ref().is_some_and(Conn::is_compressed) {
            return Ok(Done::no(
                Some(ResponseCode::CompressionActive),
                "DEFLATE is already active",
            ));
        }
        self.wbuf.extend_from_slice(&status_response(
            Some(tag),
            ImapStatus::Ok,
            None,
            "DEFLATE active",
        ));
        self.flush().await?;
        let Some(stream) = self.stream.take() else {
            return Err(End::Eof);
        };
        // Anything the client sent after the command is already compressed.
        let pending = std::mem::take(&mut self.rbuf);
        self.stream = Some(stream.deflate(pending));
        Ok(Done::sent())
    }
}
