//! Frames client input into whole commands (RFC 9051 §2.2.1, §4.3).
//!
//! A command is one or more lines; a line ending in a literal marker —
//! `{n}` (synchronizing, RFC 9051 §4.3), `{n+}` (non-synchronizing,
//! RFC 7888 §3) or `~{n}` / `~{n+}` (literal8, RFC 3516 §4.3) — is followed
//! by exactly `n` bytes of data and then the rest of the command. The
//! receiver hands the session each complete command as bytes, ready for
//! [`super::command::parse`]: the terminator of the last line is removed,
//! and every literal marker is followed by `\r\n` and its data.
//!
//! Invariants:
//! - Memory is bounded by [`Limits`]: the non-literal part of a command by
//!   `max_line`, literal data by `max_literal` each and `max_command` in
//!   all. A literal announced as 4 GB costs nothing before its bytes
//!   arrive (nothing is reserved from an announced size).
//! - A synchronizing literal over the limit is refused before any of its
//!   bytes are read ([`Event::Error`]; the client does not send the data,
//!   RFC 9051 §7.5); a non-synchronizing one cannot be refused, so its
//!   bytes are read and dropped (RFC 7888 §4), with the rest of the command.
//! - After any error the receiver resynchronizes at the end of the
//!   offending command, so the next command is framed correctly.
//! - Lines may end in CRLF or a bare LF (tolerated, RFC 9051 §2.2: CRLF is
//!   required, but lenient receivers interoperate with broken clients).
//! - `{n}` inside a quoted string is not a literal marker: quotes are
//!   tracked per line.

use thiserror::Error;

use super::parser::is_tag_char;

/// Longest non-literal part of a command we accept, in bytes. RFC 9051 §4
/// sets no limit; RFC 7162 §4 asks servers to accept command lines of at
/// least 8192 octets (clients send long UID sets after CONDSTORE). 64 KiB
/// leaves room for big sets while bounding memory per connection.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Default largest literal (e.g. an APPENDed message). RFC 9051 §7.1 TOOBIG
/// / RFC 7889 APPENDLIMIT: a server may refuse literals it considers too
/// big; the session normally sets this from the configured message size
/// limit.
pub const DEFAULT_MAX_LITERAL_BYTES: u64 = 64 * 1024 * 1024;

/// Default total of all literals in one command (MULTIAPPEND, RFC 3502, can
/// carry several messages).
pub const DEFAULT_MAX_COMMAND_BYTES: u64 = 2 * DEFAULT_MAX_LITERAL_BYTES;

/// Largest literal size the grammar allows: RFC 9051 §9 `number64`
/// (2^63 - 1).
pub const MAX_NUMBER64: u64 = i64::MAX as u64;

/// The receiver's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest non-literal part of a command, all lines together, and
    /// longest line in [`Mode::Line`]. See [`MAX_LINE_BYTES`].
    pub max_line: usize,
    /// Largest single literal. See [`DEFAULT_MAX_LITERAL_BYTES`].
    pub max_literal: u64,
    /// Largest total of literal data in one command. See
    /// [`DEFAULT_MAX_COMMAND_BYTES`].
    pub max_command: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: MAX_LINE_BYTES,
            max_literal: DEFAULT_MAX_LITERAL_BYTES,
            max_command: DEFAULT_MAX_COMMAND_BYTES,
        }
    }
}

/// Why input was refused. The session answers with the tag when it is
/// known (`tag BAD …` / `tag NO [TOOBIG] …`), otherwise `* BAD …`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReceiveError {
    /// The non-literal part of the command (or the line in line mode) is
    /// longer than [`Limits::max_line`]. The rest of the command is dropped.
    #[error("command line too long")]
    LineTooLong,
    /// A literal is larger than [`Limits::max_literal`] or would take the
    /// command over [`Limits::max_command`]. RFC 9051 §7.1 `TOOBIG`.
    /// Synchronizing: refused before its data; the client will not send it.
    /// Non-synchronizing: its data and the rest of the command are read
    /// and dropped (RFC 7888 §4).
    #[error("literal too big")]
    LiteralTooBig {
        /// The announced size.
        size: u64,
        /// `{n}` (true) or `{n+}` (false).
        synchronizing: bool,
    },
    /// A literal size that is not an RFC 9051 §9 `number64`. For a
    /// non-synchronizing literal the data that follows cannot be framed: the
    /// session should send `* BYE` and close the connection.
    #[error("invalid literal size")]
    InvalidLiteral {
        /// `{n}` (true) or `{n+}` (false).
        synchronizing: bool,
    },
}

/// What [`Receiver::feed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// All input was consumed; feed more when it arrives.
    NeedMore,
    /// A synchronizing literal was announced and accepted: send a command
    /// continuation request (`+ Ready`, RFC 9051 §7.5), then feed more.
    NeedsContinuation,
    /// A complete command: last line terminator removed, each literal
    /// marker followed by `\r\n` and the literal data.
    Command(Vec<u8>),
    /// A complete line in [`Mode::Line`], without its terminator.
    Line(Vec<u8>),
    /// Input refused; see [`ReceiveError`] for what the receiver skips.
    Error {
        /// The command tag, when it could be read.
        tag: Option<String>,
        /// What was wrong.
        kind: ReceiveError,
    },
}

/// What the next input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Commands, with literals.
    Command,
    /// One plain line, without literal framing: an AUTHENTICATE
    /// continuation response (RFC 9051 §6.2.2) or IDLE's `DONE`
    /// (RFC 2177 §3). Reverts to [`Mode::Command`] after that line.
    Line,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a line of the command (its non-literal part), storing it.
    Line,
    /// Storing literal data.
    Literal { remaining: u64 },
    /// The rest of a refused command: lines are framed (so that
    /// non-synchronizing literals are skipped whole) but not stored.
    Discard,
    /// The data of a refused non-synchronizing literal.
    DiscardLiteral { remaining: u64 },
    /// Everything up to the next LF (a refused line in [`Mode::Line`]).
    SkipLine,
}

/// Longest literal marker we recognize at the end of a line:
/// `~{9223372036854775807+}` is 24 bytes; a longer digit run is invalid.
const TAIL: usize = 32;

/// A literal marker found at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Literal { size: u64, synchronizing: bool },
    Invalid { synchronizing: bool },
}

/// Frames client input into commands. See the module documentation.
#[derive(Debug)]
pub struct Receiver {
    limits: Limits,
    mode: Mode,
    state: State,
    /// The command (or line) received so far.
    buf: Vec<u8>,
    /// Non-literal bytes of the current command so far.
    line_bytes: usize,
    /// Literal bytes of the current command so far.
    literal_bytes: u64,
    /// Inside a quoted string on the current line.
    quoted: bool,
    /// The previous byte was a backslash inside a quoted string.
    escaped: bool,
    /// The last byte of the current line segment was CR.
    last_cr: bool,
    /// Ring of the last [`TAIL`] bytes of the current line segment.
    tail: [u8; TAIL],
    /// Bytes pushed into `tail` for the current line segment.
    tail_len: usize,
}

impl Receiver {
    /// A receiver in [`Mode::Command`].
    pub fn new(limits: Limits) -> Self {
        Receiver {
            limits,
            mode: Mode::Command,
            state: State::Line,
            buf: Vec::new(),
            line_bytes: 0,
            literal_bytes: 0,
            quoted: false,
            escaped: false,
            last_cr: false,
            tail: [0; TAIL],
            tail_len: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes the limits for the next commands (for instance after login,
    /// when the account's message size limit is known).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Sets the mode for the next input. Call it between commands: after
    /// AUTHENTICATE's or IDLE's continuation request, [`Mode::Line`]; the
    /// receiver returns to [`Mode::Command`] by itself after one line.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Bytes currently held (for tests and metrics).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Consumes input up to the next event. Returns how many bytes of
    /// `input` were consumed and what happened; with [`Event::NeedMore`] all
    /// of `input` was consumed, otherwise call again with the rest.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Event) {
        let mut i = 0;
        while i < input.len() {
            let rest = input.get(i..).unwrap_or_default();
            match self.state {
                State::Literal { remaining } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    self.buf
                        .extend_from_slice(rest.get(..take).unwrap_or_default());
                    i += take;
                    self.literal_done(remaining, take, State::Line);
                }
                State::DiscardLiteral { remaining } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    i += take;
                    self.literal_done(remaining, take, State::Discard);
                }
                State::SkipLine => match rest.iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        i += p + 1;
                        self.reset_command();
                        self.state = State::Line;
                    }
                    None => i = input.len(),
                },
                State::Line | State::Discard => {
                    let storing = self.state == State::Line;
                    for &b in rest {
                        i += 1;
                        if b == b'\n' {
                            if let Some(event) = self.end_of_line(storing) {
                                return (i, event);
                            }
                            break;
                        }
                        if storing {
                            self.line_bytes += 1;
                            if self.line_bytes > self.limits.max_line {
                                let tag = self.tag();
                                self.buf = Vec::new();
                                self.state = match self.mode {
                                    Mode::Command => State::Discard,
                                    Mode::Line => State::SkipLine,
                                };
                                self.mode = Mode::Command;
                                return (
                                    i,
                                    Event::Error {
                                        tag,
                                        kind: ReceiveError::LineTooLong,
                                    },
                                );
                            }
                            self.buf.push(b);
                        }
                        self.scan(b);
                    }
                }
            }
        }
        (input.len(), Event::NeedMore)
    }

    /// After `take` of `remaining` literal bytes: continue with `next` (a new
    /// line segment) once the literal is complete.
    fn literal_done(&mut self, remaining: u64, take: usize, next: State) {
        let remaining = remaining.saturating_sub(take as u64);
        if remaining == 0 {
            self.new_segment();
            self.state = next;
        } else {
            self.state = match next {
                State::Line => State::Literal { remaining },
                _ => State::DiscardLiteral { remaining },
            };
        }
    }

    /// Tracks quoting, CR and the tail ring for one non-literal byte.
    fn scan(&mut self, b: u8) {
        if self.quoted {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.quoted = false;
            }
        } else if b == b'"' {
            self.quoted = true;
        }
        self.last_cr = b == b'\r';
        if let Some(slot) = self.tail.get_mut(self.tail_len % TAIL) {
            *slot = b;
        }
        self.tail_len = self.tail_len.saturating_add(1);
    }

    fn new_segment(&mut self) {
        self.quoted = false;
        self.escaped = false;
        self.last_cr = false;
        self.tail_len = 0;
    }

    fn reset_command(&mut self) {
        self.new_segment();
        self.line_bytes = 0;
        self.literal_bytes = 0;
    }

    /// The tag of the command in `buf`, if it has a valid one.
    fn tag(&self) -> Option<String> {
        tag_of(&self.buf)
    }

    /// The literal marker ending the current line segment, if any.
    fn marker(&self) -> Option<Marker> {
        if self.quoted {
            return None;
        }
        let n = self.tail_len.min(TAIL);
        let mut window = [0u8; TAIL];
        for (k, slot) in window.iter_mut().take(n).enumerate() {
            let idx = (self.tail_len - n + k) % TAIL;
            *slot = self.tail.get(idx).copied().unwrap_or(0);
        }
        let mut line = window.get(..n).unwrap_or_default();
        if self.last_cr {
            line = line.get(..n.saturating_sub(1)).unwrap_or_default();
        }
        let rest = line.strip_suffix(b"}")?;
        let (rest, synchronizing) = match rest.strip_suffix(b"+") {
            Some(r) => (r, false),
            None => (rest, true),
        };
        let digits_start = rest
            .iter()
            .rposition(|b| !b.is_ascii_digit())
            .map_or(0, |p| p + 1);
        let digits = rest.get(digits_start..).unwrap_or_default();
        let before = rest.get(..digits_start).unwrap_or_default();
        if before.last() != Some(&b'{') {
            // No `{` in the window: a digit run longer than any number64
            // (or no marker at all).
            return (digits.len() == rest.len() && !digits.is_empty() && self.tail_len > TAIL)
                .then_some(Marker::Invalid { synchronizing });
        }
        if digits.is_empty() {
            return None;
        }
        let mut size: u64 = 0;
        for &d in digits {
            match size
                .checked_mul(10)
                .and_then(|s| s.checked_add(u64::from(d - b'0')))
                .filter(|&s| s <= MAX_NUMBER64)
            {
                Some(s) => size = s,
                None => return Some(Marker::Invalid { synchronizing }),
            }
        }
        Some(Marker::Literal {
            size,
            synchronizing,
        })
    }

    /// Handles the end of a line segment (LF just consumed).
    fn end_of_line(&mut self, storing: bool) -> Option<Event> {
        if storing && self.last_cr {
            self.buf.pop();
        }
        if self.mode == Mode::Line {
            // Only reached while storing: refused lines use SkipLine.
            self.mode = Mode::Command;
            self.reset_command();
            self.state = State::Line;
            return Some(Event::Line(std::mem::take(&mut self.buf)));
        }
        let marker = self.marker();
        self.new_segment();
        match marker {
            None => {
                self.reset_command();
                self.state = State::Line;
                if !storing || self.buf.is_empty() {
                    // End of a dropped command, or a blank line (ignored).
                    self.buf.clear();
                    return None;
                }
                Some(Event::Command(std::mem::take(&mut self.buf)))
            }
            Some(Marker::Invalid { synchronizing }) => {
                let tag = self.tag();
                self.buf = Vec::new();
                self.reset_command();
                self.state = State::Line;
                storing.then_some(Event::Error {
                    tag,
                    kind: ReceiveError::InvalidLiteral { synchronizing },
                })
            }
            Some(Marker::Literal {
                size,
                synchronizing,
            }) => {
                if !storing {
                    // Inside a dropped command: skip non-synchronizing data;
                    // the client waits in vain for a continuation on a
                    // synchronizing one, so the command ends here.
                    self.state = if synchronizing {
                        self.reset_command();
                        State::Line
                    } else {
                        State::DiscardLiteral { remaining: size }
                    };
                    return None;
                }
                let total = self.literal_bytes.saturating_add(size);
                if size > self.limits.max_literal || total > self.limits.max_command {
                    let tag = self.tag();
                    self.buf = Vec::new();
                    self.state = if synchronizing {
                        self.reset_command();
                        State::Line
                    } else {
                        State::DiscardLiteral { remaining: size }
                    };
                    return Some(Event::Error {
                        tag,
                        kind: ReceiveError::LiteralTooBig {
                            size,
                            synchronizing,
                        },
                    });
                }
                self.buf.extend_from_slice(b"\r\n");
                self.literal_bytes = total;
                self.state = State::Literal { remaining: size };
                synchronizing.then_some(Event::NeedsContinuation)
            }
        }
    }
}

/// The tag at the start of a command: RFC 9051 §9 `tag` followed by SP.
pub fn tag_of(command: &[u8]) -> Option<String> {
    let len = command
        .iter()
        .position(|&b| !is_tag_char(b))
        .unwrap_or(command.len());
    let tag = command.get(..len)?;
    if tag.is_empty() || command.get(len) != Some(&b' ') {
        return None;
    }
    String::from_utf8(tag.to_vec()).ok()
}

/// Feeds `chunks` to a new receiver one after the other, re-feeding the bytes
/// it did not consume as a session does, and returns every event but
/// [`Event::NeedMore`]. After each command, `next_mode` gives the mode for
/// what follows it (a session reads one [`Mode::Line`] after IDLE or an
/// AUTHENTICATE continuation request). The same input must give the same events however it
/// is cut into chunks; the unit tests and the fuzz targets (`fuzz/`) check
/// that through this function.
///
/// # Panics
///
/// If the receiver breaks its contract: it consumes more than it was given,
/// returns [`Event::NeedMore`] without consuming everything, or an empty
/// command.
pub fn replay(
    limits: Limits,
    chunks: &[&[u8]],
    mut next_mode: impl FnMut(&[u8]) -> Mode,
) -> Vec<Event> {
    let mut r = Receiver::new(limits);
    let mut pending: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        loop {
            let (n, ev) = r.feed(&pending);
            assert!(n <= pending.len(), "consumed more than was fed");
            pending.drain(..n);
            if ev == Event::NeedMore {
                assert!(pending.is_empty(), "NeedMore must consume everything");
                break;
            }
            if let Event::Command(c) = &ev {
                // What the parser will see is well-formed bytes.
                assert!(!c.is_empty(), "empty command");
                r.set_mode(next_mode(c));
            }
            events.push(ev);
        }
    }
    events
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;

    fn run(limits: Limits, chunks: &[&[u8]]) -> Vec<Event> {
        replay(limits, chunks, |_| Mode::Command)
    }

    /// Runs `input` whole, split at every byte into two chunks, and byte by
    /// byte; all must give `expected`.
    fn check(limits: Limits, input: &[u8], expected: &[Event]) {
        let name = String::from_utf8_lossy(input);
        assert_eq!(run(limits, &[input]), expected, "whole: {name:?}");
        for k in 0..=input.len() {
            let (a, b) = input.split_at(k);
            assert_eq!(run(limits, &[a, b]), expected, "split at {k}: {name:?}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(limits, &bytes), expected, "bytewise: {name:?}");
    }

    fn cmd(s: &[u8]) -> Event {
        Event::Command(s.to_vec())
    }

    fn err(tag: Option<&str>, kind: ReceiveError) -> Event {
        Event::Error {
            tag: tag.map(str::to_owned),
            kind,
        }
    }

    fn small() -> Limits {
        Limits {
            max_line: 24,
            max_literal: 10,
            max_command: 16,
        }
    }

    #[test]
    fn framing_rows() {
        use Event::NeedsContinuation as NC;
        let too_big = |size, synchronizing| ReceiveError::LiteralTooBig {
            size,
            synchronizing,
        };
        let rows: Vec<(Limits, &[u8], Vec<Event>)> = vec![
            // RFC 9051 §6.3.2 example.
            (
                Limits::default(),
                b"A142 SELECT INBOX\r\n",
                vec![cmd(b"A142 SELECT INBOX")],
            ),
            (
                Limits::default(),
                b"A142 SELECT INBOX\n",
                vec![cmd(b"A142 SELECT INBOX")],
            ),
            // Pipelined commands and blank lines.
            (
                Limits::default(),
                b"\r\na1 noop\r\n\r\na2 check\r\n",
                vec![cmd(b"a1 noop"), cmd(b"a2 check")],
            ),
            // RFC 9051 §6.3.12 APPEND example: synchronizing literal.
            (
                Limits::default(),
                b"A003 APPEND saved-messages (\\Seen) {21}\r\nFrom: a@b\r\n\r\nHi there\r\n",
                vec![
                    NC,
                    cmd(b"A003 APPEND saved-messages (\\Seen) {21}\r\nFrom: a@b\r\n\r\nHi there"),
                ],
            ),
            // Thunderbird's FCC: LITERAL+ (RFC 7888), no continuation.
            (
                Limits::default(),
                b"9 append \"Sent\" (\\Seen) {5+}\r\nhello\r\n",
                vec![cmd(b"9 append \"Sent\" (\\Seen) {5+}\r\nhello")],
            ),
            // Two literals, LF-only line ends normalized to CRLF after the
            // markers.
            (
                Limits::default(),
                b"A1 LOGIN {4}\nuser {4}\npass\n",
                vec![NC, NC, cmd(b"A1 LOGIN {4}\r\nuser {4}\r\npass")],
            ),
            // Literal8 (RFC 3516) with NUL and CRLF in the data.
            (
                Limits::default(),
                b"A2 APPEND x ~{4+}\r\n\0\r\n\x01\r\n",
                vec![cmd(b"A2 APPEND x ~{4+}\r\n\0\r\n\x01")],
            ),
            // Zero-length literals.
            (
                Limits::default(),
                b"A1 LOGIN {0}\r\n {0+}\r\n\r\n",
                vec![NC, cmd(b"A1 LOGIN {0}\r\n {0+}\r\n")],
            ),
            // A marker inside literal data is data.
            (
                Limits::default(),
                b"A1 LOGIN {5+}\r\n{1}\r\n x\r\n",
                vec![cmd(b"A1 LOGIN {5+}\r\n{1}\r\n x")],
            ),
            // `{3}` inside a quoted string (even unterminated) is no marker.
            (
                Limits::default(),
                b"A1 LOGIN \"x {3}\r\nA2 X \"a\\\"{3}\"\r\n",
                vec![cmd(b"A1 LOGIN \"x {3}"), cmd(b"A2 X \"a\\\"{3}\"")],
            ),
            // Not markers: `{}`, `{+}`, `{1a}`.
            (Limits::default(), b"A1 X {}\r\n", vec![cmd(b"A1 X {}")]),
            (Limits::default(), b"A1 X {+}\r\n", vec![cmd(b"A1 X {+}")]),
            (Limits::default(), b"A1 X {1a}\r\n", vec![cmd(b"A1 X {1a}")]),
            // NUL and 8-bit bytes pass through; the parser judges them.
            (
                Limits::default(),
                b"A1 NOOP\0\xff\r\n",
                vec![cmd(b"A1 NOOP\0\xff")],
            ),
            // Synchronizing literal over the limit: refused before its data,
            // next command framed normally.
            (
                Limits::default(),
                b"A1 APPEND x {4294967296}\r\nA2 NOOP\r\n",
                vec![err(Some("A1"), too_big(4294967296, true)), cmd(b"A2 NOOP")],
            ),
            // Non-synchronizing literal over the limit: data read and
            // dropped, with the rest of the command (RFC 7888 §4), including
            // a second literal (MULTIAPPEND).
            (
                small(),
                b"A1 APPEND x {11+}\r\n01234567890 {3+}\r\nabc\r\nA2 NOOP\r\n",
                vec![err(Some("A1"), too_big(11, false)), cmd(b"A2 NOOP")],
            ),
            // Each literal fits, the total does not (max_command 16).
            (
                small(),
                b"A1 X {9+}\r\n123456789 {9}\r\nA2 NOOP\r\n",
                vec![err(Some("A1"), too_big(9, true)), cmd(b"A2 NOOP")],
            ),
            // Not a number64.
            (
                Limits::default(),
                b"A1 X {99999999999999999999}\r\nA2 NOOP\r\n",
                vec![
                    err(
                        Some("A1"),
                        ReceiveError::InvalidLiteral {
                            synchronizing: true,
                        },
                    ),
                    cmd(b"A2 NOOP"),
                ],
            ),
            (
                Limits::default(),
                b"A1 X {000000000000000000000000000000000000001}\r\nA2 NOOP\r\n",
                vec![
                    err(
                        Some("A1"),
                        ReceiveError::InvalidLiteral {
                            synchronizing: true,
                        },
                    ),
                    cmd(b"A2 NOOP"),
                ],
            ),
            // Line too long: error as soon as the limit is passed, resync at
            // the end of the command.
            (
                small(),
                b"A1 NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nA2 NOOP\r\n",
                vec![err(Some("A1"), ReceiveError::LineTooLong), cmd(b"A2 NOOP")],
            ),
            // … and a dropped line's non-synchronizing literal is skipped.
            (
                small(),
                b"A1 X yyyyyyyyyyyyyyyyyyyyyyyy {3+}\r\nabc\r\nA2 NOOP\r\n",
                vec![err(Some("A1"), ReceiveError::LineTooLong), cmd(b"A2 NOOP")],
            ),
            // No tag to report.
            (
                small(),
                b"(((((((((((((((((((((((((((((\r\n",
                vec![err(None, ReceiveError::LineTooLong)],
            ),
        ];
        for (limits, input, expected) in &rows {
            check(*limits, input, expected);
        }
    }

    #[test]
    fn line_mode() {
        let mut r = Receiver::new(Limits::default());
        r.set_mode(Mode::Line);
        let input = b"dXNlcgBwYXNz\r\nA2 NOOP\r\n";
        let (n, ev) = r.feed(input);
        assert_eq!(ev, Event::Line(b"dXNlcgBwYXNz".to_vec()));
        assert_eq!(r.mode(), Mode::Command);
        assert_eq!(r.feed(&input[n..]), (input.len() - n, cmd(b"A2 NOOP")));

        // IDLE's DONE, split at every byte; a `{3}` is not a literal here.
        for input in [&b"DONE\r\n"[..], b"DONE {3}\n"] {
            for k in 0..=input.len() {
                let mut r = Receiver::new(Limits::default());
                r.set_mode(Mode::Line);
                let (n, ev) = r.feed(&input[..k]);
                let ev = if ev == Event::NeedMore {
                    assert_eq!(n, k);
                    r.feed(&input[k..]).1
                } else {
                    ev
                };
                let expected = input.strip_suffix(b"\r\n").or(input.strip_suffix(b"\n"));
                assert_eq!(ev, Event::Line(expected.unwrap_or_default().to_vec()));
            }
        }

        // Too long: error, the line is skipped, then commands again.
        let mut r = Receiver::new(small());
        r.set_mode(Mode::Line);
        let input = b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa {3+}\r\nA2 NOOP\r\n";
        let (n, ev) = r.feed(input);
        assert_eq!(ev, err(None, ReceiveError::LineTooLong));
        assert_eq!(r.feed(&input[n..]).1, cmd(b"A2 NOOP"));
    }

    #[test]
    fn ten_megabyte_line_is_bounded() {
        let mut r = Receiver::new(Limits::default());
        let chunk = vec![b'a'; 64 * 1024];
        let mut errors = 0;
        for _ in 0..160 {
            let mut off = 0;
            while off < chunk.len() {
                let (n, ev) = r.feed(&chunk[off..]);
                off += n;
                match ev {
                    Event::NeedMore => {}
                    Event::Error { tag, kind } => {
                        assert_eq!((tag, kind), (None, ReceiveError::LineTooLong));
                        errors += 1;
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert!(r.buffered() <= MAX_LINE_BYTES);
        }
        assert_eq!(errors, 1);
        assert_eq!(run_on(&mut r, b"\r\nA1 NOOP\r\n"), vec![cmd(b"A1 NOOP")]);
    }

    fn run_on(r: &mut Receiver, mut input: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            let (n, ev) = r.feed(input);
            input = &input[n..];
            if ev == Event::NeedMore {
                return out;
            }
            out.push(ev);
        }
    }

    #[test]
    fn huge_announced_literal_costs_nothing_upfront() {
        let limits = Limits {
            max_line: MAX_LINE_BYTES,
            max_literal: 8 << 30,
            max_command: 8 << 30,
        };
        let mut r = Receiver::new(limits);
        assert_eq!(run_on(&mut r, b"A1 APPEND x {4294967296+}\r\n"), vec![]);
        assert!(r.buf.capacity() < 1024);
        assert_eq!(run_on(&mut r, &[b'x'; 1000]), vec![]);
        assert_eq!(r.buffered(), "A1 APPEND x {4294967296+}\r\n".len() + 1000);
        // Refused non-synchronizing 4 GB literal: counted down, not stored.
        let mut r = Receiver::new(Limits::default());
        let ev = run_on(&mut r, b"A1 APPEND x {4294967296+}\r\n");
        assert_eq!(
            ev,
            vec![err(
                Some("A1"),
                ReceiveError::LiteralTooBig {
                    size: 4294967296,
                    synchronizing: false
                }
            )]
        );
        let mb = vec![0u8; 1 << 20];
        for _ in 0..64 {
            assert_eq!(run_on(&mut r, &mb), vec![]);
            assert_eq!(r.buffered(), 0);
        }
    }

    /// Deterministic fuzz smoke run: random token soup in random chunks
    /// never panics, always makes progress and stays within the limits.
    #[test]
    fn fuzz_smoke() {
        const TOKENS: &[&[u8]] = &[
            b"A1 ",
            b"{3}",
            b"{2+}",
            b"~{1}",
            b"{99999999999999999999}",
            b"\r\n",
            b"\n",
            b"\r",
            b"\"",
            b"\\",
            b"x",
            b"yyyyyyyyyy",
            b"}",
            b"{",
            b"+",
            b"0",
            b"\0",
            b"\xff",
        ];
        let limits = small();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2_000 {
            let mut input = Vec::new();
            for _ in 0..(next() % 40) {
                input.extend_from_slice(TOKENS[(next() % TOKENS.len() as u64) as usize]);
            }
            let mut r = Receiver::new(limits);
            if next() % 4 == 0 {
                r.set_mode(Mode::Line);
            }
            let mut rest = &input[..];
            while !rest.is_empty() {
                let chunk = 1 + (next() % 8) as usize;
                let mut part = &rest[..chunk.min(rest.len())];
                rest = &rest[part.len()..];
                loop {
                    let (n, ev) = r.feed(part);
                    assert!(n <= part.len());
                    assert!(r.buffered() <= limits.max_line + limits.max_command as usize + 64);
                    part = &part[n..];
                    if ev == Event::NeedMore {
                        assert!(part.is_empty());
                        break;
                    }
                    assert!(n > 0, "an event must consume input");
                }
            }
        }
    }

    #[test]
    fn tags() {
        assert_eq!(tag_of(b"A1 NOOP"), Some("A1".into()));
        assert_eq!(tag_of(b"A1"), None);
        assert_eq!(tag_of(b"+1 NOOP"), None);
        assert_eq!(tag_of(b"A(1 NOOP"), None);
        assert_eq!(tag_of(b""), None);
        assert_eq!(tag_of(b" A1"), None);
    }
}
