//! The DATA stream after the 354 reply: dot-unstuffing, end detection, size
//! and line limits.
//!
//! RFC 5321 §4.1.1.4 (DATA; the end is `<CRLF>.<CRLF>`, and `<LF>.<LF>` MUST
//! NOT be taken for it), §4.5.2 (transparency / dot-stuffing), §2.3.8 (CR and
//! LF only as CRLF), §4.5.3.1.6 (text lines ≤ 1000 octets), §4.5.3.1.7 and
//! RFC 1870 (message size).
//!
//! Invariants, for any input split in any way:
//! - the message ends only at the exact bytes CR LF "." CR LF, where the
//!   start of DATA counts as just after a CRLF; no bare CR or LF anywhere
//!   ends it (the SMTP smuggling vectors);
//! - `feed` stops right after the terminator, so pipelined bytes that follow
//!   are left to the caller;
//! - once the message is refused (too big, bare CR/LF, long line) nothing
//!   more is stored but the terminator is still found, so the session stays
//!   in step with the client;
//! - the stored message never exceeds `max_size` bytes and the buffer's
//!   capacity never exceeds `max_size`.

/// Longest text line in a message, including CRLF and not counting a
/// stuffed leading dot. RFC 5321 §4.5.3.1.6 (RFC 5322 §2.1.1: 998 + CRLF).
pub const MAX_DATA_LINE: usize = 1000;

/// First allocation for a message buffer; it then doubles, capped at
/// `max_size`.
const INITIAL_CAPACITY: usize = 16 * 1024;

/// How a DATA (or BDAT) transfer ended.
///
/// When several problems occur, the first in this order is reported:
/// `BareLineEnding`, `TooBig`, `LineTooLong` — the order does not depend on
/// how the input was split.
#[derive(Clone, PartialEq, Eq)]
pub enum DataOutcome {
    /// The message, unstuffed, CRLF line endings kept, terminator removed.
    Message(Vec<u8>),
    /// Larger than `max_size`: reply `552 5.3.4` ([`super::Reply::message_too_big`]).
    /// RFC 1870 §6.3, RFC 5321 §4.5.3.1.9.
    TooBig,
    /// A CR or LF not part of a CRLF pair: reply `550 5.6.11`
    /// ([`super::Reply::bare_line_ending`]). RFC 5321 §2.3.8.
    BareLineEnding,
    /// A line longer than [`MAX_DATA_LINE`]: reply `554 5.6.0`
    /// ([`super::Reply::data_line_too_long`]). RFC 5321 §4.5.3.1.6.
    LineTooLong,
}

impl std::fmt::Debug for DataOutcome {
    // The message body must not reach logs (DESIGN habit 8): only its size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataOutcome::Message(m) => write!(f, "Message({} octets)", m.len()),
            DataOutcome::TooBig => f.write_str("TooBig"),
            DataOutcome::BareLineEnding => f.write_str("BareLineEnding"),
            DataOutcome::LineTooLong => f.write_str("LineTooLong"),
        }
    }
}

impl DataOutcome {
    /// The reply the session sends for this outcome (250 for a message
    /// accepted by the protocol layer; the session replaces it once the
    /// message is stored).
    pub fn reply(&self) -> super::Reply {
        match self {
            DataOutcome::Message(_) => super::Reply::ok(),
            DataOutcome::TooBig => super::Reply::message_too_big(),
            DataOutcome::BareLineEnding => super::Reply::bare_line_ending(),
            DataOutcome::LineTooLong => super::Reply::data_line_too_long(),
        }
    }
}

/// Where we are relative to line structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Just after CRLF (or at the very start of DATA).
    LineStart,
    /// LineStart then ".".
    Dot,
    /// LineStart "." CR.
    DotCr,
    /// Inside a line.
    Text,
    /// Inside a line, after a CR.
    Cr,
}

/// Problems seen so far and the message buffer, shared by DATA and BDAT.
pub(crate) struct Sink {
    max_size: usize,
    /// Longest line including CRLF; `None` disables the check.
    max_line: Option<usize>,
    buf: Vec<u8>,
    /// Octets counted so far (stored or not).
    size: usize,
    line_len: usize,
    bare: bool,
    too_big: bool,
    long_line: bool,
    nul: bool,
}

impl std::fmt::Debug for Sink {
    // Sizes and flags only: the message body must not reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("max_size", &self.max_size)
            .field("max_line", &self.max_line)
            .field("size", &self.size)
            .field("stored", &self.buf.len())
            .field("bare", &self.bare)
            .field("too_big", &self.too_big)
            .field("long_line", &self.long_line)
            .field("nul", &self.nul)
            .finish()
    }
}

impl Sink {
    pub(crate) fn new(max_size: usize) -> Self {
        Self {
            max_size,
            max_line: Some(MAX_DATA_LINE),
            buf: Vec::new(),
            size: 0,
            line_len: 0,
            bare: false,
            too_big: false,
            long_line: false,
            nul: false,
        }
    }

    pub(crate) fn set_max_line(&mut self, max_line: Option<usize>) {
        self.max_line = max_line;
    }

    fn failed(&self) -> bool {
        self.bare || self.too_big || self.long_line
    }

    /// Frees the buffer once the message is refused: discard mode.
    fn discard(&mut self) {
        self.buf = Vec::new();
    }

    pub(crate) fn bare_line_ending(&mut self) {
        self.bare = true;
        self.discard();
    }

    /// Octets of the message counted so far (after unstuffing).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Content bytes of the current line (no CR/LF among them).
    pub(crate) fn content(&mut self, bytes: &[u8]) {
        if memchr::memchr(0, bytes).is_some() {
            self.nul = true;
        }
        self.line_len = self.line_len.saturating_add(bytes.len());
        if self
            .max_line
            .is_some_and(|max| self.line_len.saturating_add(2) > max)
        {
            self.long_line = true;
        }
        self.store(bytes);
    }

    /// The CRLF ending a line.
    pub(crate) fn end_line(&mut self) {
        self.line_len = 0;
        self.store(b"\r\n");
    }

    /// Raw bytes stored as they are (BINARYMIME), only the size is checked.
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.store(bytes);
    }

    /// Counts `bytes` towards the size and stores them unless the message
    /// is already refused. Every counter is updated whatever was seen before,
    /// so the outcome does not depend on how the input was split.
    fn store(&mut self, bytes: &[u8]) {
        self.size = self.size.saturating_add(bytes.len());
        if self.size > self.max_size {
            self.too_big = true;
        }
        if self.failed() {
            self.discard();
            return;
        }
        // Nothing failed so far, so everything counted is stored (or was taken):
        // buf.len() + bytes.len() <= size <= max_size.
        let needed = self.buf.len().saturating_add(bytes.len());
        if needed > self.buf.capacity() {
            // Grow by doubling, but never past max_size (Vec's own growth
            // could reach twice what we store).
            let target = self
                .buf
                .capacity()
                .saturating_mul(2)
                .max(INITIAL_CAPACITY)
                .max(needed)
                .min(self.max_size);
            self.buf
                .reserve_exact(target.saturating_sub(self.buf.len()));
        }
        self.buf.extend_from_slice(bytes);
    }

    pub(crate) fn saw_nul(&self) -> bool {
        self.nul
    }

    /// Octets stored and not yet taken.
    pub(crate) fn stored(&self) -> usize {
        self.buf.len()
    }

    /// Takes the octets stored so far (the session writes them to its spool); what
    /// follows is stored anew, and the outcome's message is then only the rest.
    pub(crate) fn take_stored(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The failure decided so far, in precedence order.
    pub(crate) fn failure(&self) -> Option<DataOutcome> {
        if self.bare {
            Some(DataOutcome::BareLineEnding)
        } else if self.too_big {
            Some(DataOutcome::TooBig)
        } else if self.long_line {
            Some(DataOutcome::LineTooLong)
        } else {
            None
        }
    }

    pub(crate) fn finish(&mut self) -> DataOutcome {
        self.failure()
            .unwrap_or_else(|| DataOutcome::Message(std::mem::take(&mut self.buf)))
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// Receives one message after `354`: feed it bytes until it returns an
/// outcome. RFC 5321 §4.1.1.4.
#[derive(Debug)]
pub struct DataReceiver {
    sink: Sink,
    state: State,
    received: u64,
    done: bool,
}

impl DataReceiver {
    /// A receiver that accepts messages of up to `max_size` octets (after
    /// unstuffing, including line endings) and lines of up to
    /// [`MAX_DATA_LINE`] octets.
    pub fn new(max_size: usize) -> Self {
        Self {
            sink: Sink::new(max_size),
            state: State::LineStart,
            received: 0,
            done: false,
        }
    }

    /// Changes the line limit (`None`: no limit). RFC 5321 §4.5.3.1.6 allows
    /// extensions to raise it; a deployment that must accept mail from
    /// senders with over-long lines can lift it here.
    pub fn with_max_line(mut self, max_line: Option<usize>) -> Self {
        self.sink.set_max_line(max_line);
        self
    }

    /// Consumes bytes from `input`; returns how many were consumed and, when
    /// the terminator was reached, the outcome. Everything is consumed unless
    /// the terminator is found, in which case consumption stops right after
    /// it. After an outcome the receiver is finished and consumes nothing.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<DataOutcome>) {
        if self.done {
            return (0, None);
        }
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            match self.state {
                State::Text => {
                    // Fast path: the run of bytes up to the next CR or LF.
                    let tail = input.get(i..).unwrap_or_default();
                    let run = memchr::memchr2(b'\r', b'\n', tail).unwrap_or(tail.len());
                    if run > 0 {
                        self.sink.content(tail.get(..run).unwrap_or_default());
                        i += run;
                        continue;
                    }
                    i += 1;
                    if b == b'\r' {
                        self.state = State::Cr;
                    } else {
                        // A bare LF: never a line end. RFC 5321 §4.1.1.4.
                        self.sink.bare_line_ending();
                    }
                }
                State::Cr => {
                    if b == b'\n' {
                        i += 1;
                        self.sink.end_line();
                        self.state = State::LineStart;
                    } else {
                        // The previous CR was bare; look at `b` again as text.
                        self.sink.bare_line_ending();
                        self.state = State::Text;
                    }
                }
                State::LineStart => {
                    if b == b'.' {
                        i += 1;
                        self.state = State::Dot;
                    } else {
                        self.state = State::Text;
                    }
                }
                State::Dot => {
                    if b == b'\r' {
                        i += 1;
                        self.state = State::DotCr;
                    } else {
                        // A stuffed dot: dropped (RFC 5321 §4.5.2); `b`
                        // (a second dot included) is the line's first byte.
                        self.state = State::Text;
                    }
                }
                State::DotCr => {
                    if b == b'\n' {
                        // CRLF "." CRLF: the end of the mail data.
                        i += 1;
                        self.done = true;
                        self.received += i as u64;
                        return (i, Some(self.sink.finish()));
                    }
                    // "." then a bare CR: not the end.
                    self.sink.bare_line_ending();
                    self.state = State::Text;
                }
            }
        }
        self.received += i as u64;
        (i, None)
    }

    /// True once the terminator has been consumed.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Octets consumed so far (as sent, stuffing and terminator included).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The failure already decided, if any (the transfer still runs to its
    /// terminator).
    pub fn failure(&self) -> Option<DataOutcome> {
        self.sink.failure()
    }

    /// True if the message contained a NUL octet. NUL is not a line ending
    /// and is delivered as is; RFC 6152 / RFC 2045 §2.8 disallow it outside
    /// BINARYMIME, so the session may refuse or log it.
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
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Feeds `input` to a fresh receiver in the pieces given by `cuts`
    /// (increasing offsets), the way a session does: keep a buffer, append
    /// what arrives, drop what was consumed. Returns (consumed, outcome).
    fn run(max_size: usize, input: &[u8], cuts: &[usize]) -> (usize, Option<DataOutcome>) {
        let mut rx = DataReceiver::new(max_size);
        let mut buf: Vec<u8> = Vec::new();
        let mut consumed = 0;
        let mut prev = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            buf.extend_from_slice(&input[prev..cut]);
            prev = cut;
            let (n, outcome) = rx.feed(&buf);
            buf.drain(..n);
            consumed += n;
            assert!(rx.sink.capacity() <= max_size, "capacity over max_size");
            if let Some(o) = outcome {
                assert!(rx.is_done());
                assert_eq!(rx.feed(b".\r\n"), (0, None));
                assert_eq!(rx.received(), consumed as u64);
                return (consumed, Some(o));
            }
            assert!(buf.is_empty(), "must consume everything before the end");
        }
        (consumed, None)
    }

    /// Runs `input` whole, split at every byte boundary, and one byte at a
    /// time; all must agree with `expected`.
    pub(crate) fn check(max_size: usize, input: &[u8], expected: (usize, Option<DataOutcome>)) {
        let name = String::from_utf8_lossy(input);
        assert_eq!(run(max_size, input, &[]), expected, "whole: {name:?}");
        for k in 0..=input.len() {
            assert_eq!(
                run(max_size, input, &[k]),
                expected,
                "split at {k}: {name:?}"
            );
        }
        let bytes: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run(max_size, input, &bytes), expected, "bytewise: {name:?}");
    }

    fn msg(m: &[u8]) -> Option<DataOutcome> {
        Some(DataOutcome::Message(m.to_vec()))
    }

    const BIG: usize = 1 << 20;
    /// "The whole input" in the consumed column.
    const ALL: usize = usize::MAX;

    #[test]
    fn messages_table() {
        let rows: &[(&[u8], usize, Option<DataOutcome>)] = &[
            // RFC 5321 Appendix D.1 ("...etc." is sent dot-stuffed).
            (
                b"Blah blah blah...\r\n....etc. etc. etc.\r\n.\r\n",
                ALL,
                msg(b"Blah blah blah...\r\n...etc. etc. etc.\r\n"),
            ),
            // RFC 5321 Appendix D.3, step 1.
            (
                b"Date: Thu, 21 May 1998 05:33:29 -0700\r\nFrom: John Q. Public <JQP@bar.com>\r\nSubject: The Next Meeting of the Board\r\nTo: Jones@xyz.com\r\n\r\nBill:\r\nThe next meeting of the board of directors will be\r\non Tuesday.\r\nJohn.\r\n.\r\n",
                ALL,
                msg(b"Date: Thu, 21 May 1998 05:33:29 -0700\r\nFrom: John Q. Public <JQP@bar.com>\r\nSubject: The Next Meeting of the Board\r\nTo: Jones@xyz.com\r\n\r\nBill:\r\nThe next meeting of the board of directors will be\r\non Tuesday.\r\nJohn.\r\n"),
            ),
            // The start of DATA counts as after a CRLF.
            (b".\r\n", 3, msg(b"")),
            (b"\r\n.\r\n", 5, msg(b"\r\n")),
            // Dot-unstuffing, RFC 5321 §4.5.2.
            (b"..\r\n.\r\n", 7, msg(b".\r\n")),
            (b"a\r\n..b\r\n.\r\n", 11, msg(b"a\r\n.b\r\n")),
            (b"...\r\n.\r\n", 8, msg(b"..\r\n")),
            (b".x\r\n.\r\n", 7, msg(b"x\r\n")),
            (b". \r\n.\r\n", 7, msg(b" \r\n")),
            (b"a.\r\n.\r\n", 7, msg(b"a.\r\n")),
            (b"a\r\n.a\r\n.\r\n", 10, msg(b"a\r\na\r\n")),
            // Pipelined bytes after the terminator are not consumed.
            (b"a\r\n.\r\nQUIT\r\n", 6, msg(b"a\r\n")),
            (b".\r\n.\r\n", 3, msg(b"")),
            // Not finished yet.
            (b"a\r\n.", 4, None),
            (b"a\r\n.\r", 5, None),
            (b"", 0, None),
            // 8-bit content passes through.
            ("Grüße\r\n.\r\n".as_bytes(), ALL, msg("Grüße\r\n".as_bytes())),
            // NUL is not a line ending: it neither ends DATA nor counts as a
            // bare line ending; it is delivered as is.
            (b"\r\n\x00.\r\n.\r\n", ALL, msg(b"\r\n\x00.\r\n")),
            (b"a\x00\r\n.\r\n", 7, msg(b"a\x00\r\n")),
            // Bare CR / LF anywhere: the end is still only CRLF.CRLF.
            (b"a\nb\r\n.\r\n", 8, Some(DataOutcome::BareLineEnding)),
            (b"a\rb\r\n.\r\n", 8, Some(DataOutcome::BareLineEnding)),
            (b"a\r\r\n.\r\n", 7, Some(DataOutcome::BareLineEnding)),
            (b"\n.\r\n", 4, None),
            (b"a\n", 2, None),
        ];
        for (input, consumed, outcome) in rows {
            let consumed = if *consumed == ALL {
                input.len()
            } else {
                *consumed
            };
            check(BIG, input, (consumed, outcome.clone()));
        }
    }

    /// SMTP smuggling (SEC Consult, 2023; CVE-2023-51764/51765/51766): each
    /// sequence is a way some server has been fooled into ending DATA. None
    /// may end it here, and each must make the message BareLineEnding —
    /// except NUL, which is not a line ending (the message is delivered with
    /// it). Kept forever.
    pub(crate) const SMUGGLING: &[(&str, &[u8])] = &[
        ("LF.LF", b"\n.\n"),
        ("LF.CRLF", b"\n.\r\n"),
        ("CR.CR", b"\r.\r"),
        ("CR.CRLF", b"\r.\r\n"),
        ("CRLF.CR", b"\r\n.\r"),
        ("CRLF.LF", b"\r\n.\n"),
        ("LF.CR", b"\n.\r"),
        ("CR.LF", b"\r.\n"),
        ("CRLF.CRCRLF", b"\r\n.\r\r\n"),
        ("CRLF.LFCRLF", b"\r\n.\n\r\n"),
        ("CRCRLF.CRLF-ish", b"\r\r\n.\n"),
        ("LFCRLF", b"\n\r\n"),
        ("CRLF.CR.CRLF", b"\r\n.\r.\r\n"),
        ("dot LF at line start", b"\r\n.\n"),
        ("CRLF NUL . CRLF", b"\r\n\x00.\r\n"),
        ("CRLF . NUL CRLF", b"\r\n.\x00\r\n"),
    ];

    #[test]
    fn smuggling_sequences_never_end_data() {
        let injected = b"MAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nFrom: admin@example.com\r\n\r\nsmuggled\r\n";
        for (name, seq) in SMUGGLING {
            let has_nul = seq.contains(&0);
            let expected_outcome = if has_nul {
                None // decided below
            } else {
                Some(DataOutcome::BareLineEnding)
            };
            // In the middle of a message, at the very start of DATA, and
            // right before the real terminator.
            let inputs: Vec<Vec<u8>> = vec![
                [
                    b"Subject: hi\r\n\r\nbody".as_slice(),
                    seq,
                    injected,
                    b"\r\n.\r\n",
                ]
                .concat(),
                [*seq, injected, b"\r\n.\r\n"].concat(),
                [b"body".as_slice(), seq, b"\r\n.\r\n"].concat(),
            ];
            for input in inputs {
                let (consumed, outcome) = run(BIG, &input, &[]);
                assert_eq!(consumed, input.len(), "{name}: DATA ended early");
                match &expected_outcome {
                    Some(e) => {
                        assert_eq!(outcome.as_ref(), Some(e), "{name}");
                        check(BIG, &input, (input.len(), expected_outcome.clone()));
                    }
                    None => {
                        // NUL rows: a message, with the NUL in it.
                        match &outcome {
                            Some(DataOutcome::Message(m)) => assert!(m.contains(&0), "{name}"),
                            other => panic!("{name}: {other:?}"),
                        }
                        check(BIG, &input, (input.len(), outcome.clone()));
                    }
                }
                // With the pipelined next command after the terminator, it is
                // left unconsumed.
                let mut with_next = input.clone();
                with_next.extend_from_slice(b"QUIT\r\n");
                assert_eq!(run(BIG, &with_next, &[]).0, input.len(), "{name}");
            }
        }
    }

    #[test]
    fn nul_is_reported() {
        let mut rx = DataReceiver::new(BIG);
        assert_eq!(rx.feed(b"a\x00b\r\n.\r\n").0, 8);
        assert!(rx.saw_nul());
        let mut rx = DataReceiver::new(BIG);
        let _ = rx.feed(b"ab\r\n.\r\n");
        assert!(!rx.saw_nul());
    }

    #[test]
    fn size_limit_and_discard_mode() {
        // Exactly max_size is accepted; one more octet is TooBig.
        check(10, b"01234567\r\n.\r\n", (13, msg(b"01234567\r\n")));
        check(10, b"012345678\r\n.\r\n", (14, Some(DataOutcome::TooBig)));
        check(0, b".\r\n", (3, msg(b"")));
        check(0, b"\r\n.\r\n", (5, Some(DataOutcome::TooBig)));
        // After going over, it keeps scanning for the terminator and stops
        // there, leaving the next command.
        let mut input = b"x".repeat(100);
        input.extend_from_slice(b"\r\n..\r\nmore\r\n.\r\nRSET\r\n");
        check(50, &input, (input.len() - 6, Some(DataOutcome::TooBig)));
        // Precedence: bare line endings win over size, regardless of order.
        check(
            4,
            b"aaaaaaaa\nb\r\n.\r\n",
            (15, Some(DataOutcome::BareLineEnding)),
        );
        check(
            4,
            b"a\nbbbbbbbb\r\n.\r\n",
            (15, Some(DataOutcome::BareLineEnding)),
        );
    }

    #[test]
    fn memory_stays_bounded_on_a_large_stream() {
        let max = 100_000;
        let mut rx = DataReceiver::new(max);
        let chunk = [b'a'; 997]
            .iter()
            .chain(b"\r\n")
            .copied()
            .collect::<Vec<u8>>();
        for _ in 0..1000 {
            let (n, outcome) = rx.feed(&chunk);
            assert_eq!(n, chunk.len());
            assert!(outcome.is_none());
            assert!(rx.sink.capacity() <= max);
        }
        assert_eq!(rx.failure(), Some(DataOutcome::TooBig));
        assert_eq!(rx.sink.capacity(), 0, "discard mode frees the buffer");
        assert_eq!(rx.feed(b".\r\n"), (3, Some(DataOutcome::TooBig)));
        assert_eq!(rx.received(), 999_003);
    }

    #[test]
    fn line_length_limit() {
        let line = |n: usize| [vec![b'x'; n], b"\r\n.\r\n".to_vec()].concat();
        // 998 + CRLF = 1000 octets: accepted; 999 + CRLF: too long.
        let ok = line(998);
        check(BIG, &ok, (ok.len(), msg(&ok[..1000])));
        let long = line(999);
        check(BIG, &long, (long.len(), Some(DataOutcome::LineTooLong)));
        // The stuffed dot is not counted (RFC 5321 §4.5.3.1.6).
        let stuffed = [b".".as_slice(), &line(998)].concat();
        check(BIG, &stuffed, (stuffed.len(), msg(&line(998)[..1000])));
        // A line that is long only in total across many short lines is fine.
        let many = [b"ab\r\n".repeat(600), b".\r\n".to_vec()].concat();
        check(BIG, &many, (many.len(), msg(&b"ab\r\n".repeat(600))));
        // TooBig wins over LineTooLong.
        check(500, &long, (long.len(), Some(DataOutcome::TooBig)));
        // Lifting the limit.
        let mut rx = DataReceiver::new(BIG).with_max_line(None);
        let input = line(5000);
        assert_eq!(rx.feed(&input), (input.len(), msg(&input[..5002])));
    }

    #[test]
    fn outcome_replies_and_debug() {
        assert_eq!(DataOutcome::TooBig.reply().code, 552);
        assert_eq!(DataOutcome::BareLineEnding.reply().code, 550);
        assert_eq!(DataOutcome::LineTooLong.reply().code, 554);
        assert_eq!(DataOutcome::Message(vec![]).reply().code, 250);
        // The body never shows in Debug output.
        let dbg = format!("{:?}", DataOutcome::Message(b"secret".to_vec()));
        assert_eq!(dbg, "Message(6 octets)");
        let mut rx = DataReceiver::new(BIG);
        let _ = rx.feed(b"secret\r\n");
        let dbg = format!("{rx:?}");
        assert!(!dbg.contains("secret") && !dbg.contains("115"), "{dbg}");
    }
}
