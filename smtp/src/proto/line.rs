//! Command lines (and SASL response lines): finds line ends in the caller's
//! buffer, with a length limit that never needs the whole long line in
//! memory.
//!
//! RFC 5321 §2.3.8 (lines end in CRLF), §4.5.3.1.4 (command line at least 512
//! octets, extensions may raise it), §4.5.3.1.9 ("500 Line too long"),
//! RFC 4954 §4 (SASL lines: 12288 octets, "500 5.5.6" when over).
//!
//! A bare LF is accepted as the end of a command line (a CR before it is
//! dropped): commands are read one line at a time and the choice cannot
//! change where a message ends — SMTP smuggling is about the DATA
//! terminator, which [`super::DataReceiver`] handles strictly. A stray CR
//! inside a line is left in it, so `parse_command` refuses the line.

/// Longest command line we accept, including CRLF. RFC 5321 §4.5.3.1.4 sets
/// a 512-octet minimum that extensions raise: SIZE (RFC 1870), DSN's ENVID
/// and ORCPT (RFC 3461, up to three octets per character once xtext-encoded),
/// AUTH= (RFC 4954 §5) and UTF-8 addresses (RFC 6531) can take MAIL or RCPT
/// close to 2000 octets. 4096 covers them all with room to spare.
pub const MAX_COMMAND_LINE: usize = 4096;

/// Longest SASL response line during AUTH, including CRLF. RFC 4954 §4
/// ("12288 octets is considered to be a sufficient line length limit").
pub const MAX_SASL_LINE: usize = 12288;

// RFC 5321 §4.5.3.1.4: at least 512 octets; RFC 4954 §4: 12288 for SASL.
const _: () = assert!(MAX_COMMAND_LINE >= 512 && MAX_SASL_LINE >= 12288);

/// What [`LineReceiver::next_line`] found in the buffer. In every case the
/// caller drops the first `consumed` bytes of its buffer before reading
/// more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineResult<'a> {
    /// A complete line, without its CRLF or LF.
    Line {
        /// The line.
        line: &'a [u8],
        /// Bytes to drop, line ending included.
        consumed: usize,
    },
    /// The current line is longer than the limit: reply `500 5.5.2 Line too
    /// long` ([`super::Reply::line_too_long`]; for a SASL line, `500 5.5.6`,
    /// [`super::Reply::auth_line_too_long`]). Reported once per line; the
    /// rest of the line, up to its LF, is skipped without being buffered.
    TooLong {
        /// Bytes to drop.
        consumed: usize,
    },
    /// No complete line yet: drop `consumed` bytes (non-zero only while
    /// skipping an over-long line) and read more. What remains in the
    /// buffer is always shorter than the limit.
    NeedMore {
        /// Bytes to drop.
        consumed: usize,
    },
}

/// Splits command lines out of a byte stream.
#[derive(Debug, Clone)]
pub struct LineReceiver {
    max: usize,
    skipping: bool,
}

impl Default for LineReceiver {
    /// A receiver for command lines, limit [`MAX_COMMAND_LINE`].
    fn default() -> Self {
        Self::new(MAX_COMMAND_LINE)
    }
}

impl LineReceiver {
    /// A receiver for lines of at most `max` octets including CRLF (at least
    /// 2).
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(2),
            skipping: false,
        }
    }

    /// The limit, including CRLF.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Looks for the next line at the start of `buf`. See [`LineResult`].
    /// Scans at most `max` bytes of a line, so a call costs O(`max`) plus the
    /// length of a skipped tail.
    pub fn next_line<'a>(&mut self, buf: &'a [u8]) -> LineResult<'a> {
        let mut start = 0;
        if self.skipping {
            match find_lf(buf) {
                Some(p) => {
                    start = p + 1;
                    self.skipping = false;
                }
                None => {
                    return LineResult::NeedMore {
                        consumed: buf.len(),
                    };
                }
            }
        }
        let rest = buf.get(start..).unwrap_or_default();
        // A line with its LF fits in `max` bytes iff the LF is among the
        // first `max` bytes.
        let window = rest.get(..self.max.min(rest.len())).unwrap_or_default();
        if let Some(p) = find_lf(window) {
            let mut line = rest.get(..p).unwrap_or_default();
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            return LineResult::Line {
                line,
                consumed: start + p + 1,
            };
        }
        if rest.len() < self.max {
            return LineResult::NeedMore { consumed: start };
        }
        // Too long: skip to its LF if it is already here, else everything.
        let beyond = rest.get(self.max..).unwrap_or_default();
        match find_lf(beyond) {
            Some(p) => LineResult::TooLong {
                consumed: start + self.max + p + 1,
            },
            None => {
                self.skipping = true;
                LineResult::TooLong {
                    consumed: buf.len(),
                }
            }
        }
    }
}

fn find_lf(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ev {
        Line(Vec<u8>),
        TooLong,
    }

    /// Feeds `input` cut at `cuts` through a caller-owned buffer; returns the
    /// events, the bytes left unconsumed, and the largest the buffer got.
    fn run(max: usize, input: &[u8], cuts: &[usize]) -> (Vec<Ev>, Vec<u8>, usize) {
        let mut rx = LineReceiver::new(max);
        let mut buf: Vec<u8> = Vec::new();
        let mut events = Vec::new();
        let mut prev = 0;
        let mut peak = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            buf.extend_from_slice(&input[prev..cut]);
            prev = cut;
            peak = peak.max(buf.len());
            loop {
                match rx.next_line(&buf) {
                    LineResult::Line { line, consumed } => {
                        events.push(Ev::Line(line.to_vec()));
                        buf.drain(..consumed);
                    }
                    LineResult::TooLong { consumed } => {
                        events.push(Ev::TooLong);
                        buf.drain(..consumed);
                    }
                    LineResult::NeedMore { consumed } => {
                        buf.drain(..consumed);
                        assert!(buf.len() < rx.max(), "buffer must stay under the limit");
                        break;
                    }
                }
            }
        }
        (events, buf, peak)
    }

    fn check(max: usize, input: &[u8], expected: &[Ev], left: &[u8]) {
        let want = (expected.to_vec(), left.to_vec());
        let strip = |(e, l, _): (Vec<Ev>, Vec<u8>, usize)| (e, l);
        assert_eq!(strip(run(max, input, &[])), want, "whole");
        for k in 0..=input.len() {
            assert_eq!(strip(run(max, input, &[k])), want, "split at {k}");
        }
        let bytes: Vec<usize> = (1..input.len()).collect();
        let (e, l, peak) = run(max, input, &bytes);
        assert_eq!((e, l), want, "bytewise");
        assert!(peak <= max, "bytewise feeding never buffers more than max");
    }

    fn line(s: &[u8]) -> Ev {
        Ev::Line(s.to_vec())
    }

    #[test]
    fn lines_table() {
        let rows: &[(&[u8], &[Ev], &[u8])] = &[
            // RFC 5321 Appendix D.1, pipelined (RFC 2920).
            (
                b"EHLO bar.com\r\nMAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\nDATA\r\n",
                &[
                    Ev::Line(b"EHLO bar.com".to_vec()),
                    Ev::Line(b"MAIL FROM:<Smith@bar.com>".to_vec()),
                    Ev::Line(b"RCPT TO:<Jones@foo.com>".to_vec()),
                    Ev::Line(b"DATA".to_vec()),
                ],
                b"",
            ),
            // Bare LF accepted for commands; the CR before LF is stripped.
            (b"QUIT\n", &[Ev::Line(b"QUIT".to_vec())], b""),
            (
                b"NOOP\r\nQUIT\n",
                &[Ev::Line(b"NOOP".to_vec()), Ev::Line(b"QUIT".to_vec())],
                b"",
            ),
            // A CR not before LF stays in the line (parse_command refuses it).
            (b"NO\rOP\r\n", &[Ev::Line(b"NO\rOP".to_vec())], b""),
            (b"NOOP\r\r\n", &[Ev::Line(b"NOOP\r".to_vec())], b""),
            (b"\r\n", &[Ev::Line(vec![])], b""),
            (b"\n", &[Ev::Line(vec![])], b""),
            // Incomplete lines stay in the caller's buffer.
            (b"QUI", &[], b"QUI"),
            (b"QUIT\r", &[], b"QUIT\r"),
            (b"NOOP\r\nQU", &[Ev::Line(b"NOOP".to_vec())], b"QU"),
        ];
        for (input, events, left) in rows {
            check(64, input, events, left);
            check(MAX_COMMAND_LINE, input, events, left);
        }
    }

    #[test]
    fn too_long_lines_are_reported_once_and_skipped() {
        // max 8: "1234567\n" (8 with LF) fits, "123456\r\n" fits,
        // "1234567\r\n" (9) does not.
        let rows: &[(&[u8], &[Ev], &[u8])] = &[
            (b"1234567\n", &[line(b"1234567")], b""),
            (b"123456\r\n", &[line(b"123456")], b""),
            (b"1234567\r\nNOOP\r\n", &[Ev::TooLong, line(b"NOOP")], b""),
            (b"12345678\n", &[Ev::TooLong], b""),
            (
                b"0123456789abcdefghij\r\nQUIT\r\n",
                &[Ev::TooLong, line(b"QUIT")],
                b"",
            ),
            // Still unterminated: skipping continues, nothing buffered.
            (b"0123456789abcdefghij", &[Ev::TooLong], b""),
            (
                b"0123456789abcdefghij\r\n0123456789\nok\n",
                &[Ev::TooLong, Ev::TooLong, line(b"ok")],
                b"",
            ),
        ];
        for (input, events, left) in rows {
            check(8, input, events, left);
        }
    }

    #[test]
    fn huge_line_is_never_buffered() {
        let mut rx = LineReceiver::default();
        let block = [b'A'; 1000];
        let mut buf: Vec<u8> = Vec::new();
        let mut too_long = 0;
        for _ in 0..100 {
            buf.extend_from_slice(&block);
            match rx.next_line(&buf) {
                LineResult::TooLong { consumed } => {
                    too_long += 1;
                    buf.drain(..consumed);
                }
                LineResult::NeedMore { consumed } => {
                    buf.drain(..consumed);
                }
                LineResult::Line { .. } => panic!("no line yet"),
            }
            assert!(buf.len() < MAX_COMMAND_LINE);
        }
        assert_eq!(too_long, 1);
        buf.extend_from_slice(b"tail\r\nRSET\r\n");
        assert_eq!(
            rx.next_line(&buf),
            LineResult::Line {
                line: b"RSET",
                consumed: 12
            }
        );
    }

    #[test]
    fn limits() {
        assert_eq!(LineReceiver::default().max(), MAX_COMMAND_LINE);
        assert_eq!(LineReceiver::new(MAX_SASL_LINE).max(), 12288);
        // A 12288-octet SASL line fits; one more octet does not.
        let ok = [vec![b'Q'; MAX_SASL_LINE - 2], b"\r\n".to_vec()].concat();
        let mut rx = LineReceiver::new(MAX_SASL_LINE);
        assert!(
            matches!(rx.next_line(&ok), LineResult::Line { consumed, .. } if consumed == ok.len())
        );
        let over = [vec![b'Q'; MAX_SASL_LINE - 1], b"\r\n".to_vec()].concat();
        let mut rx = LineReceiver::new(MAX_SASL_LINE);
        assert_eq!(
            rx.next_line(&over),
            LineResult::TooLong {
                consumed: over.len()
            }
        );
    }
}
