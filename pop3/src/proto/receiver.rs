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

/// Feeds `chunks` to a receiver taking lines of `max` octets, keeping what it did not
/// consume as a session does, and returns every event but [`Event::NeedMore`]. After
/// each event, `next_max` gives the limit for what follows (a session reads SASL
/// responses, up to [`MAX_SASL_LINE`], after `AUTH` without an initial response). The
/// same input must give the same events however it is cut into reads; the unit tests
/// and the fuzz target `pop3_receiver` (`fuzz/`) check that through this function.
///
/// # Panics
///
/// If the receiver breaks its contract: it consumes more than it was given, keeps
/// `max` octets or more unconsumed while asking for more (memory must stay bounded
/// by the limit), or gives a line holding an LF or as long as the limit.
pub fn replay(
    max: usize,
    chunks: &[&[u8]],
    mut next_max: impl FnMut(&Event) -> usize,
) -> Vec<Event> {
    let mut r = Receiver::new(max);
    let mut max = max.max(2);
    let mut pending: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        loop {
            let (n, ev) = r.feed(&pending);
            assert!(n <= pending.len(), "consumed more than was fed");
            pending.drain(..n);
            if ev == Event::NeedMore {
                assert!(
                    pending.len() < max,
                    "{} octets kept unconsumed",
                    pending.len()
                );
                break;
            }
            if let Event::Line(line) = &ev {
                assert!(!line.contains(&b'\n'), "a line holds its LF");
                assert!(line.len() < max, "a line of {} octets", line.len());
            }
            max = next_max(&ev).max(2);
            r.set_max(max);
            events.push(ev);
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` whole, split at every byte into two reads, and byte by byte; all
    /// give `expected` (and [`replay`] checks that memory stays bounded).
    fn check(max: usize, input: &[u8], expected: &[Event]) {
        let run = |chunks: &[&[u8]]| replay(max, chunks, |_| max);
        assert_eq!(run(&[input]), expected, "whole {input:?}");
        for k in 0..=input.len() {
            let (a, b) = input.split_at(k);
            assert_eq!(run(&[a, b]), expected, "split at {k}: {input:?}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(&bytes), expected, "byte by byte {input:?}");
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

    #[test]
    fn a_longer_limit_for_sasl_lines() {
        // After `AUTH PLAIN` the next line may be longer; then the command limit again.
        let sasl = format!("{}\r\n", "A".repeat(40));
        let input = [
            b"AUTH PLAIN\r\n",
            sasl.as_bytes(),
            b"NOOP\r\n",
            sasl.as_bytes(),
        ]
        .concat();
        let next = |ev: &Event| match ev {
            Event::Line(l) if l == b"AUTH PLAIN" => 64,
            _ => 16,
        };
        let whole = replay(16, &[&input], next);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(replay(16, &bytes, next), whole);
        assert_eq!(
            whole,
            [
                Event::Line(b"AUTH PLAIN".to_vec()),
                Event::Line("A".repeat(40).into_bytes()),
                Event::Line(b"NOOP".to_vec()),
                Event::TooLong,
            ]
        );
    }
}
