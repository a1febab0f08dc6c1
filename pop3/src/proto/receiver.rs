//! Cuts client input into lines (RFC 1939 §3: commands end with CRLF; a bare LF is
//! taken too), with a bound on a line's length: a longer line is read to its end and
//! thrown away as it arrives (memory stays bounded by the limit), then reported once as
//! [`Event::TooLong`] so the session answers `-ERR` and goes on.

/// The longest command line taken, CRLF included: 255 octets is RFC 2449 §4's limit
/// for clients ("command lines ... MUST NOT exceed 255 octets, including the
/// terminating CRLF"); we accept four times that (Dovecot also takes more than 255),
/// so that a client sending `AUTH PLAIN` with a long initial response or a long
/// `PASS` still gets in.
pub const MAX_COMMAND_LINE: usize = 1024;

/// The longest SASL response line taken during `AUTH` (RFC 5034 §4 lets a response be
/// longer than a command line): base64 of a PLAIN message with the longest fields
/// `mailyard_common::sasl` accepts (3 × 1024 octets) fits.
pub const MAX_SASL_LINE: usize = 8192;

/// What [`Receiver::feed`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// No complete line yet: read more.
    NeedMore,
    /// A line, without its CRLF (or LF).
    Line(Vec<u8>),
    /// A line over the limit has ended; its octets were discarded.
    TooLong,
}

/// The line framer: keeps only whether it is inside an over-long line.
#[derive(Debug)]
pub struct Receiver {
    max: usize,
    discarding: bool,
}

impl Receiver {
    /// A receiver taking lines of at most `max` octets, line end included.
    pub fn new(max: usize) -> Self {
        Receiver {
            max: max.max(2),
            discarding: false,
        }
    }

    /// Changes the limit (the SASL exchange takes longer lines).
    pub fn set_max(&mut self, max: usize) {
        self.max = max.max(2);
    }

    /// Looks at the unconsumed input `buf`: returns how many of its octets are used up
    /// (the caller drops them) and what they made.
    pub fn feed(&mut self, buf: &[u8]) -> (usize, Event) {
        if self.discarding {
            return match memchr(buf) {
                Some(i) => {
                    self.discarding = false;
                    (i + 1, Event::TooLong)
                }
                None => (buf.len(), Event::NeedMore),
            };
        }
        let window = &buf[..buf.len().min(self.max)];
        if let Some(i) = memchr(window) {
            let line = &buf[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            return (i + 1, Event::Line(line.to_vec()));
        }
        if buf.len() < self.max {
            return (0, Event::NeedMore);
        }
        // Over the limit: discard what is here and the rest up to the line's end.
        self.discarding = true;
        let (n, ev) = self.feed(&buf[self.max..]);
        (self.max + n, ev)
    }
}

fn memchr(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` whole and split at every byte; both give `expected`.
    fn check(max: usize, input: &[u8], expected: &[Event]) {
        let mut r = Receiver::new(max);
        let mut buf = input.to_vec();
        let mut got = Vec::new();
        loop {
            let (n, ev) = r.feed(&buf);
            buf.drain(..n);
            if ev == Event::NeedMore {
                break;
            }
            got.push(ev);
        }
        assert_eq!(got, expected, "whole {input:?}");
        assert!(buf.len() < max, "bounded: {} left", buf.len());
        let mut r = Receiver::new(max);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for &b in input {
            buf.push(b);
            loop {
                let (n, ev) = r.feed(&buf);
                buf.drain(..n);
                if ev == Event::NeedMore {
                    break;
                }
                got.push(ev);
            }
            assert!(buf.len() <= max, "bounded while split");
        }
        assert_eq!(got, expected, "split {input:?}");
    }

    #[test]
    fn lines() {
        let line = |s: &str| Event::Line(s.as_bytes().to_vec());
        check(255, b"STAT\r\n", &[line("STAT")]);
        check(255, b"STAT\n", &[line("STAT")]);
        check(
            255,
            b"USER a\r\nPASS b c\r\n",
            &[line("USER a"), line("PASS b c")],
        );
        check(255, b"\r\n", &[line("")]);
        check(255, b"NOOP", &[]);
        // 253 octets + CRLF = 255: taken; one more: too long, then the next line.
        let ok = format!("{}\r\n", "a".repeat(253));
        check(255, ok.as_bytes(), &[line(&"a".repeat(253))]);
        let long = format!("{}\r\nNOOP\r\n", "a".repeat(254));
        check(255, long.as_bytes(), &[Event::TooLong, line("NOOP")]);
        let huge = format!("{}\r\nNOOP\r\n", "x".repeat(10_000));
        check(255, huge.as_bytes(), &[Event::TooLong, line("NOOP")]);
    }
}
