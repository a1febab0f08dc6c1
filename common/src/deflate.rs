//! COMPRESS=DEFLATE (RFC 4978): raw deflate (RFC 1951, no zlib header) in both
//! directions over a client's stream, [`crate::stream::Stream::Deflate`]. IMAP's
//! COMPRESS command turns it on (`Conn::compress`).
//!
//! Invariants:
//! - The client never waits on bytes held in the compressor: every flush of the
//!   connection ends with a sync flush (`Z_SYNC_FLUSH`, RFC 4978 §4), and a read
//!   first flushes any output still pending, so the guarantee does not depend on the
//!   session remembering to flush before it reads (IDLE updates included).
//! - Memory while idle is small: the compressor (~300 KiB with miniz_oxide's fixed
//!   32 KiB window and hash tables) exists only while there is output; when a read
//!   has to wait, output is fully flushed, so the compressor is dropped, and the next
//!   batch starts a new one. That is valid deflate: after a sync flush the stream
//!   is byte-aligned and the new compressor's blocks refer to nothing before them.
//!   The decompressor (the client's 32 KiB window plus tables, ~43 KiB) must stay.
//! - A decompression bomb cannot grow memory: a read inflates at most the space the
//!   caller offers.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Compressed bytes read from the socket at a time.
const READ_CHUNK: usize = 4 * 1024;
/// Input the decompressor may hold back without progress before the stream is
/// called corrupt (a deflate code is far shorter).
const MAX_STALLED_INPUT: usize = 64 * 1024;
/// Plain bytes compressed per `poll_write` call, so the output buffer stays bounded.
const WRITE_CHUNK: usize = 64 * 1024;
/// Compressed output buffered before `poll_write` waits for the socket.
const OUT_HIGH_WATER: usize = 64 * 1024;
/// Output buffer capacity kept while idle.
const OUT_KEEP: usize = 4 * 1024;
/// zlib's default level 6: IMAP text compresses about 3–5×.
const LEVEL: u32 = 6;

/// A stream with raw deflate in both directions (RFC 4978 §4). `flush` ends the
/// current batch with a sync flush.
pub struct Deflate<S> {
    inner: S,
    inflate: Decompress,
    /// Compressed input not yet inflated: `rin[rpos..]`.
    rin: Vec<u8>,
    rpos: usize,
    /// The last inflate filled the caller's buffer: more output may be waiting
    /// inside the decompressor even without new input.
    more_out: bool,
    /// The client ended its deflate stream; nothing more can be read.
    ended: bool,
    /// The compressor, only while a batch of output is in progress.
    deflate: Option<Compress>,
    /// Bytes went into the compressor since the last sync flush.
    dirty: bool,
    /// Compressed output not yet written: `wout[wpos..]`.
    wout: Vec<u8>,
    wpos: usize,
}

fn corrupt(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("deflate: {e}"))
}

impl<S: AsyncRead + AsyncWrite + Unpin> Deflate<S> {
    /// Wraps `inner`; `pending` is input already read past the command that turned
    /// compression on (already compressed).
    pub fn new(inner: S, pending: Vec<u8>) -> Self {
        Deflate {
            inner,
            inflate: Decompress::new(false),
            rin: pending,
            rpos: 0,
            more_out: false,
            ended: false,
            deflate: None,
            dirty: false,
            wout: Vec::new(),
            wpos: 0,
        }
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Whether a compressor is allocated (tests check it is released when idle).
    #[cfg(test)]
    fn has_compressor(&self) -> bool {
        self.deflate.is_some()
    }

    /// Runs the compressor over `input` (all of it) into `wout`; with
    /// `FlushCompress::Sync`, until the flush is complete.
    fn compress(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<()> {
        let c = self
            .deflate
            .get_or_insert_with(|| Compress::new(Compression::new(LEVEL), false));
        loop {
            if self.wout.capacity() - self.wout.len() < 64 {
                self.wout.reserve((input.len() / 2).max(4096));
            }
            let (in0, out0) = (c.total_in(), c.total_out());
            c.compress_vec(input, &mut self.wout, flush)
                .map_err(corrupt)?;
            let consumed = usize::try_from(c.total_in() - in0).unwrap_or(input.len());
            let produced = c.total_out() - out0;
            input = input.get(consumed..).unwrap_or_default();
            let room_left = self.wout.len() < self.wout.capacity();
            if input.is_empty() && room_left {
                return Ok(());
            }
            if consumed == 0 && produced == 0 && room_left {
                return Err(corrupt("compressor made no progress"));
            }
        }
    }

    /// Writes buffered compressed output to the socket.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wpos < self.wout.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.wout[self.wpos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
        self.wout.clear();
        self.wpos = 0;
        Poll::Ready(Ok(()))
    }

    /// Ends the batch: sync flush, everything written, the socket flushed.
    fn poll_flush_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.dirty {
            self.compress(&[], FlushCompress::Sync)?;
            self.dirty = false;
        }
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Frees what an idle connection does not need: called when a read must wait,
    /// by which time all output has been flushed.
    fn release(&mut self) {
        if !self.dirty && self.wpos >= self.wout.len() {
            self.deflate = None;
            if self.wout.capacity() > OUT_KEEP {
                self.wout = Vec::new();
                self.wpos = 0;
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Deflate<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Never wait for input while output is held back.
        if this.dirty || this.wpos < this.wout.len() {
            ready!(this.poll_flush_out(cx))?;
        }
        loop {
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if !this.ended && (this.rpos < this.rin.len() || this.more_out) {
                let (in0, out0) = (this.inflate.total_in(), this.inflate.total_out());
                let dst = buf.initialize_unfilled();
                let room = dst.len();
                let status = this
                    .inflate
                    .decompress(&this.rin[this.rpos..], dst, FlushDecompress::None)
                    .map_err(corrupt)?;
                let consumed = usize::try_from(this.inflate.total_in() - in0).unwrap_or(0);
                let produced = usize::try_from(this.inflate.total_out() - out0).unwrap_or(0);
                this.rpos += consumed;
                this.more_out = produced == room;
                buf.advance(produced.min(room));
                if status == Status::StreamEnd {
                    this.ended = true;
                }
                if produced > 0 {
                    return Poll::Ready(Ok(()));
                }
                if consumed > 0 {
                    continue;
                }
            }
            if this.ended {
                return Poll::Ready(Ok(()));
            }
            // More compressed input is needed.
            this.rin.drain(..this.rpos);
            this.rpos = 0;
            if this.rin.len() >= MAX_STALLED_INPUT {
                return Poll::Ready(Err(corrupt("no progress")));
            }
            let old = this.rin.len();
            this.rin.resize(old + READ_CHUNK, 0);
            let mut rb = ReadBuf::new(&mut this.rin[old..]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            this.rin.truncate(old + n);
            match polled {
                Poll::Pending => {
                    this.release();
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // EOF.
                Poll::Ready(Ok(())) if n == 0 => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {}
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.wout.len() - this.wpos >= OUT_HIGH_WATER {
            ready!(this.poll_drain(cx))?;
        }
        let chunk = &data[..data.len().min(WRITE_CHUNK)];
        this.compress(chunk, FlushCompress::None)?;
        this.dirty = true;
        Poll::Ready(Ok(chunk.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_out(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_flush_out(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::task::Waker;

    /// An in-memory peer: reads return the queued parts one per call (then Pending,
    /// or EOF once `eof`), writes are collected.
    #[derive(Default)]
    struct Peer {
        parts: VecDeque<Vec<u8>>,
        eof: bool,
        written: Vec<u8>,
    }

    impl AsyncRead for Peer {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            match this.parts.pop_front() {
                Some(mut p) => {
                    let n = p.len().min(buf.remaining());
                    buf.put_slice(&p[..n]);
                    if n < p.len() {
                        this.parts.push_front(p.split_off(n));
                    }
                    Poll::Ready(Ok(()))
                }
                None if this.eof => Poll::Ready(Ok(())),
                None => Poll::Pending,
            }
        }
    }

    impl AsyncWrite for Peer {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().written.extend_from_slice(b);
            Poll::Ready(Ok(b.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// What a client sends: each command deflated and sync-flushed.
    fn client_stream(commands: &[&[u8]]) -> Vec<u8> {
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::new();
        for cmd in commands {
            let mut buf = Vec::with_capacity(cmd.len() + 1024);
            c.compress_vec(cmd, &mut buf, FlushCompress::Sync)
                .expect("compress");
            out.extend_from_slice(&buf);
        }
        out
    }

    fn inflate_all(data: &[u8]) -> Vec<u8> {
        let mut d = Decompress::new(false);
        let mut out = Vec::new();
        loop {
            out.reserve(64 * 1024);
            let consumed = usize::try_from(d.total_in()).expect("size");
            d.decompress_vec(&data[consumed..], &mut out, FlushDecompress::Sync)
                .expect("inflate");
            if out.len() < out.capacity() {
                return out;
            }
        }
    }

    /// Reads until EOF (the peer has `eof` set), polling with a no-op waker.
    fn read_to_end(d: &mut Deflate<Peer>, chunk: usize) -> Vec<u8> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        loop {
            let mut space = vec![0u8; chunk];
            let mut rb = ReadBuf::new(&mut space);
            match Pin::new(&mut *d).poll_read(&mut cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => return out,
                Poll::Ready(Ok(())) => out.extend_from_slice(rb.filled()),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn input_split_at_every_byte() {
        let commands: [&[u8]; 3] = [
            b"a SELECT INBOX\r\n",
            b"b FETCH 1:* (FLAGS ENVELOPE)\r\n",
            b"c IDLE\r\nDONE\r\n",
        ];
        let plain = commands.concat();
        let wire = client_stream(&commands);
        for at in 0..=wire.len() {
            for chunk in [1, 7, 4096] {
                let peer = Peer {
                    // (An empty read means EOF, so empty parts are left out.)
                    parts: [&wire[..at], &wire[at..]]
                        .into_iter()
                        .filter(|p| !p.is_empty())
                        .map(<[u8]>::to_vec)
                        .collect(),
                    eof: true,
                    ..Peer::default()
                };
                let mut d = Deflate::new(peer, Vec::new());
                assert_eq!(
                    read_to_end(&mut d, chunk),
                    plain,
                    "split at {at}, chunk {chunk}"
                );
            }
        }
        // One byte per read, and input that arrived with the COMPRESS command.
        let peer = Peer {
            parts: wire[3..].iter().map(|&b| vec![b]).collect(),
            eof: true,
            ..Peer::default()
        };
        let mut d = Deflate::new(peer, wire[..3].to_vec());
        assert_eq!(read_to_end(&mut d, 5), plain);
    }

    #[test]
    fn output_is_sync_flushed_and_compressor_released() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut d = Deflate::new(Peer::default(), Vec::new());
        let batch = b"* 1 FETCH (FLAGS (\\Seen))\r\n".repeat(100);
        let Poll::Ready(Ok(n)) = Pin::new(&mut d).poll_write(&mut cx, &batch) else {
            panic!("write");
        };
        assert_eq!(n, batch.len());
        assert!(matches!(
            Pin::new(&mut d).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        ));
        // A complete sync flush ends with the empty stored block 00 00 FF FF.
        assert!(d.inner.written.ends_with(&[0, 0, 0xff, 0xff]));
        assert!(d.inner.written.len() < batch.len() / 10, "compressed");
        assert_eq!(inflate_all(&d.inner.written), batch);
        assert!(d.has_compressor());
        // A read that has to wait releases the compressor.
        let mut space = [0u8; 16];
        let mut rb = ReadBuf::new(&mut space);
        assert!(Pin::new(&mut d).poll_read(&mut cx, &mut rb).is_pending());
        assert!(!d.has_compressor());
        // The next batch, from a new compressor, continues the same stream.
        let Poll::Ready(Ok(_)) = Pin::new(&mut d).poll_write(&mut cx, b"* 2 EXISTS\r\n") else {
            panic!("write");
        };
        assert!(Pin::new(&mut d).poll_flush(&mut cx).is_ready());
        let mut want = batch.clone();
        want.extend_from_slice(b"* 2 EXISTS\r\n");
        assert_eq!(inflate_all(&d.inner.written), want);
    }

    #[test]
    fn read_flushes_pending_output_first() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut d = Deflate::new(Peer::default(), Vec::new());
        let Poll::Ready(Ok(_)) = Pin::new(&mut d).poll_write(&mut cx, b"* 3 EXISTS\r\n") else {
            panic!("write");
        };
        // No flush: the read must not wait while the line sits in the compressor.
        let mut space = [0u8; 16];
        let mut rb = ReadBuf::new(&mut space);
        assert!(Pin::new(&mut d).poll_read(&mut cx, &mut rb).is_pending());
        assert_eq!(inflate_all(&d.inner.written), b"* 3 EXISTS\r\n");
    }

    #[test]
    fn garbage_and_bombs_are_bounded() {
        // Not deflate: an error, not a panic or a hang.
        let peer = Peer {
            parts: VecDeque::from([vec![0xff; 100]]),
            eof: true,
            ..Peer::default()
        };
        let mut d = Deflate::new(peer, Vec::new());
        let mut cx = Context::from_waker(Waker::noop());
        let mut space = [0u8; 64];
        let mut rb = ReadBuf::new(&mut space);
        assert!(matches!(
            Pin::new(&mut d).poll_read(&mut cx, &mut rb),
            Poll::Ready(Err(_))
        ));
        // 8 MiB of zeros compress to a few KiB; each read yields at most what the
        // caller has room for.
        let zeros = vec![b'0'; 8 << 20];
        let wire = client_stream(&[&zeros]);
        assert!(wire.len() < 64 * 1024);
        let peer = Peer {
            parts: VecDeque::from([wire]),
            eof: true,
            ..Peer::default()
        };
        let mut d = Deflate::new(peer, Vec::new());
        let mut space = [0u8; 100];
        let mut rb = ReadBuf::new(&mut space);
        assert!(Pin::new(&mut d).poll_read(&mut cx, &mut rb).is_ready());
        assert_eq!(rb.filled().len(), 100);
        assert_eq!(read_to_end(&mut d, 65536).len(), (8 << 20) - 100);
    }
}
