//! BDAT chunks (CHUNKING). RFC 3030 §2–§4.
//!
//! Each `BDAT size [LAST]` command is followed by exactly `size` octets,
//! taken as they are: no dot-stuffing, no terminator (RFC 3030 §2). The
//! receiver accumulates the chunks of one message with the same size limit
//! and discard mode as DATA, and — unless the body is BINARYMIME (RFC 3030
//! §3) — the same bare CR/LF and line-length checks, carried across chunk
//! boundaries (a CR ending one chunk and the LF starting the next form a
//! CRLF). A message refused by those checks is still read to the end of
//! every chunk so the session stays in step (RFC 3030 §2: the server must
//! consume the chunk's octets even when it fails the command).

use super::data::{DataOutcome, Sink};

/// What a [`BdatReceiver::feed`] call completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BdatEvent {
    /// A non-LAST chunk has been read in full: reply `250 2.0.0 <size>
    /// octets received` ([`super::Reply::chunk_received`]), or, if
    /// [`BdatReceiver::failure`] is set, its failure reply.
    ChunkComplete {
        /// The chunk's size.
        size: u64,
    },
    /// The LAST chunk has been read: the message or why it was refused.
    Done(DataOutcome),
}

/// Receives the chunks of one message.
#[derive(Debug)]
pub struct BdatReceiver {
    sink: Sink,
    /// Line checks apply (not BINARYMIME).
    text: bool,
    /// Inside a line, after a CR that may pair with an LF in the next chunk.
    pending_cr: bool,
    /// Octets still expected in the current chunk.
    remaining: u64,
    chunk_size: u64,
    last: bool,
    in_chunk: bool,
    received: u64,
    done: bool,
}

impl BdatReceiver {
    /// A receiver for a message of at most `max_size` octets, with the bare
    /// CR/LF check and the [`super::MAX_DATA_LINE`] line limit.
    pub fn new(max_size: usize) -> Self {
        Self {
            sink: Sink::new(max_size),
            text: true,
            pending_cr: false,
            remaining: 0,
            chunk_size: 0,
            last: false,
            in_chunk: false,
            received: 0,
            done: false,
        }
    }

    /// For `BODY=BINARYMIME` (RFC 3030 §3): octets are arbitrary, so no line
    /// checks; only the size limit applies.
    pub fn binary(mut self) -> Self {
        self.text = false;
        self.sink.set_max_line(None);
        self
    }

    /// Changes the line limit (`None`: no limit); see
    /// [`super::DataReceiver::with_max_line`].
    pub fn with_max_line(mut self, max_line: Option<usize>) -> Self {
        if self.text {
            self.sink.set_max_line(max_line);
        }
        self
    }

    /// Starts a chunk after a `BDAT size [LAST]` command. RFC 3030 §2.
    /// Ignored once the message is done.
    pub fn start_chunk(&mut self, size: u64, last: bool) {
        if self.done {
            return;
        }
        self.remaining = size;
        self.chunk_size = size;
        self.last = last;
        self.in_chunk = true;
    }

    /// Consumes up to the rest of the current chunk from `input`; returns how
    /// many octets were consumed and the event when the chunk completed.
    /// Consumes nothing outside a chunk. A zero-size chunk completes on the
    /// first call, even with empty input.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<BdatEvent>) {
        if self.done || !self.in_chunk {
            return (0, None);
        }
        let take = usize::try_from(self.remaining).map_or(input.len(), |r| r.min(input.len()));
        let bytes = input.get(..take).unwrap_or_default();
        self.scan(bytes);
        self.remaining -= take as u64;
        self.received += take as u64;
        if self.remaining > 0 {
            return (take, None);
        }
        self.in_chunk = false;
        if !self.last {
            return (
                take,
                Some(BdatEvent::ChunkComplete {
                    size: self.chunk_size,
                }),
            );
        }
        if self.pending_cr {
            // The message ends with a CR that no LF followed.
            self.pending_cr = false;
            self.sink.bare_line_ending();
        }
        self.done = true;
        (take, Some(BdatEvent::Done(self.sink.finish())))
    }

    fn scan(&mut self, bytes: &[u8]) {
        if !self.text {
            self.sink.raw(bytes);
            return;
        }
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    i += 1;
                    self.sink.end_line();
                    continue;
                }
                self.sink.bare_line_ending();
            }
            let tail = bytes.get(i..).unwrap_or_default();
            let run = tail
                .iter()
                .position(|&c| c == b'\r' || c == b'\n')
                .unwrap_or(tail.len());
            if run > 0 {
                self.sink.content(tail.get(..run).unwrap_or_default());
                i += run;
                continue;
            }
            i += 1;
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                self.sink.bare_line_ending();
            }
        }
    }

    /// True once the LAST chunk has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// True while a chunk is being read.
    pub fn in_chunk(&self) -> bool {
        self.in_chunk
    }

    /// Octets of chunk data consumed so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The failure already decided, if any. After a ChunkComplete the session
    /// may answer it at once (RFC 3030 §2: a client receiving an error
    /// to a BDAT MUST NOT send more chunks; any it already pipelined are
    /// still read and discarded).
    pub fn failure(&self) -> Option<DataOutcome> {
        self.sink.failure()
    }

    /// True if the message contained a NUL octet (see
    /// [`super::DataReceiver::saw_nul`]).
    pub fn saw_nul(&self) -> bool {
        self.sink.saw_nul()
    }

    /// Octets of the message stored in the receiver (not yet taken).
    pub fn stored(&self) -> usize {
        self.sink.stored()
    }

    /// Takes the stored octets, in order; the final [`DataOutcome::Message`] holds
    /// only what was stored after the last take.
    pub fn take_stored(&mut self) -> Vec<u8> {
        self.sink.take_stored()
    }

    /// Octets of the message counted so far.
    pub fn size(&self) -> usize {
        self.sink.size()
    }
}

#[cfg(test)]
mod tests {
    use super::super::data::tests::SMUGGLING;
    use super::*;

    const BIG: usize = 1 << 20;

    /// Plays `chunks` (each a BDAT with its data), with the session's byte
    /// stream cut at `cuts`; returns the events and the octets consumed.
    fn run(rx: BdatReceiver, chunks: &[&[u8]], cuts: &[usize]) -> (Vec<BdatEvent>, usize) {
        let mut rx = rx;
        let stream: Vec<u8> = chunks.concat();
        let mut events = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut consumed = 0;
        let mut prev = 0;
        let mut chunk_index = 0;
        let mut started = false;
        for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
            buf.extend_from_slice(&stream[prev..cut]);
            prev = cut;
            loop {
                if !started {
                    let Some(chunk) = chunks.get(chunk_index) else {
                        break;
                    };
                    rx.start_chunk(chunk.len() as u64, chunk_index + 1 == chunks.len());
                    started = true;
                }
                let (n, ev) = rx.feed(&buf);
                buf.drain(..n);
                consumed += n;
                assert!(rx.sink_capacity() <= BIG);
                match ev {
                    Some(ev) => {
                        events.push(ev);
                        chunk_index += 1;
                        started = false;
                    }
                    None => break,
                }
            }
        }
        (events, consumed)
    }

    /// Same events for the whole stream, split at every byte, and bytewise.
    fn check(make: impl Fn() -> BdatReceiver, chunks: &[&[u8]], expected: &[BdatEvent]) {
        let total: usize = chunks.iter().map(|c| c.len()).sum();
        let want = (expected.to_vec(), total);
        assert_eq!(run(make(), chunks, &[]), want, "whole");
        for k in 0..=total {
            assert_eq!(run(make(), chunks, &[k]), want, "split at {k}");
        }
        let bytes: Vec<usize> = (1..total).collect();
        assert_eq!(run(make(), chunks, &bytes), want, "bytewise");
    }

    impl BdatReceiver {
        fn sink_capacity(&self) -> usize {
            self.sink.capacity()
        }
    }

    fn chunk(n: usize) -> BdatEvent {
        BdatEvent::ChunkComplete { size: n as u64 }
    }

    fn done(m: &[u8]) -> BdatEvent {
        BdatEvent::Done(DataOutcome::Message(m.to_vec()))
    }

    #[test]
    fn chunks_table() {
        let new = || BdatReceiver::new(BIG);
        // RFC 3030 §4.2-style: a message in several chunks, one ending in
        // the middle of a CRLF.
        check(
            new,
            &[
                b"To: ned@innosoft.com\r\nSubject: Test\r",
                b"\n\r\nHello.\r\n",
                b"",
            ],
            &[
                chunk(36),
                chunk(11),
                done(b"To: ned@innosoft.com\r\nSubject: Test\r\n\r\nHello.\r\n"),
            ],
        );
        // BDAT 0 LAST alone: an empty message.
        check(new, &[b""], &[done(b"")]);
        // No dot-unstuffing and no terminator in BDAT.
        check(new, &[b".\r\n..\r\n"], &[done(b".\r\n..\r\n")]);
        // A message need not end in CRLF.
        check(new, &[b"abc"], &[done(b"abc")]);
        // Bare CR / LF, including a CR at the very end.
        check(
            new,
            &[b"a\nb"],
            &[BdatEvent::Done(DataOutcome::BareLineEnding)],
        );
        check(
            new,
            &[b"a\r", b"b"],
            &[chunk(2), BdatEvent::Done(DataOutcome::BareLineEnding)],
        );
        check(
            new,
            &[b"a\r"],
            &[BdatEvent::Done(DataOutcome::BareLineEnding)],
        );
        check(
            new,
            &[b"a\r", b"\r\n"],
            &[chunk(2), BdatEvent::Done(DataOutcome::BareLineEnding)],
        );
        check(
            new,
            &[b"a\r", b"", b"\n"],
            &[chunk(2), chunk(0), done(b"a\r\n")],
        );
        // NUL is data.
        check(new, &[b"a\x00.\r\n"], &[done(b"a\x00.\r\n")]);
    }

    #[test]
    fn smuggling_sequences_are_refused_in_bdat_too() {
        for (name, seq) in SMUGGLING {
            if seq.contains(&0) {
                continue;
            }
            let data = [b"hello".as_slice(), seq, b"more\r\n"].concat();
            let (events, _) = run(BdatReceiver::new(BIG), &[&data], &[]);
            assert_eq!(
                events,
                vec![BdatEvent::Done(DataOutcome::BareLineEnding)],
                "{name}"
            );
            // BINARYMIME takes them as data.
            let (events, _) = run(BdatReceiver::new(BIG).binary(), &[&data], &[]);
            assert_eq!(events, vec![done(&data)], "{name}");
        }
    }

    #[test]
    fn size_limit_discards_but_reads_every_chunk() {
        let make = || BdatReceiver::new(10);
        check(
            make,
            &[b"01234", b"56789"],
            &[chunk(5), done(b"0123456789")],
        );
        check(
            make,
            &[b"01234", b"567890", b"abc"],
            &[chunk(5), chunk(6), BdatEvent::Done(DataOutcome::TooBig)],
        );
        // The failure is visible at the chunk that crossed the limit.
        let mut rx = BdatReceiver::new(4);
        rx.start_chunk(6, false);
        assert_eq!(rx.feed(b"abcdefBDAT"), (6, Some(chunk(6))));
        assert_eq!(rx.failure(), Some(DataOutcome::TooBig));
        assert_eq!(rx.sink_capacity(), 0);
        rx.start_chunk(2, true);
        assert_eq!(
            rx.feed(b"gh"),
            (2, Some(BdatEvent::Done(DataOutcome::TooBig)))
        );
        assert!(rx.is_done());
        assert_eq!(rx.received(), 8);
        // Nothing more is consumed after the end.
        rx.start_chunk(5, true);
        assert_eq!(rx.feed(b"12345"), (0, None));
    }

    #[test]
    fn huge_declared_chunk_is_streamed_without_storing() {
        let mut rx = BdatReceiver::new(1000);
        rx.start_chunk(u64::MAX, true);
        let block = [b'x'; 4096];
        for _ in 0..100 {
            assert_eq!(rx.feed(&block), (4096, None));
            assert!(rx.sink_capacity() <= 1000);
        }
        assert_eq!(rx.failure(), Some(DataOutcome::TooBig));
        assert!(rx.in_chunk());
    }

    #[test]
    fn line_limits_across_chunks() {
        let make = || BdatReceiver::new(BIG);
        let a = vec![b'a'; 500];
        let b = vec![b'b'; 498];
        let ok = [a.as_slice(), &b, b"\r\n"].concat();
        check(
            make,
            &[&a, &[&b[..], b"\r\n"].concat()],
            &[chunk(500), done(&ok)],
        );
        let b499 = vec![b'b'; 499];
        check(
            make,
            &[&a, &[&b499[..], b"\r\n"].concat()],
            &[chunk(500), BdatEvent::Done(DataOutcome::LineTooLong)],
        );
        // BINARYMIME has no line limit.
        let long = vec![b'z'; 5000];
        let (events, _) = run(BdatReceiver::new(BIG).binary(), &[&long], &[]);
        assert_eq!(events, vec![done(&long)]);
        let (events, _) = run(BdatReceiver::new(BIG).with_max_line(None), &[&long], &[]);
        assert_eq!(events, vec![done(&long)]);
    }

    #[test]
    fn feed_outside_a_chunk_consumes_nothing() {
        let mut rx = BdatReceiver::new(BIG);
        assert_eq!(rx.feed(b"MAIL FROM:<>\r\n"), (0, None));
        assert!(!rx.in_chunk());
        rx.start_chunk(3, false);
        assert_eq!(rx.feed(b"abcQUIT\r\n"), (3, Some(chunk(3))));
        assert_eq!(rx.feed(b"QUIT\r\n"), (0, None));
        assert_eq!(rx.size(), 3);
    }
}
