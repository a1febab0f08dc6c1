//! A whole client transcript through the pure layer, the way a session drives
//! it: lines → [`parse_command`], `DATA` → [`DataReceiver`], `BDAT` →
//! [`BdatReceiver`], back to lines. No I/O and no session state beyond the
//! framing: every `DATA` and `BDAT` is taken, as if each command succeeded.
//!
//! The unit tests replay RFC transcripts through [`replay`] split at every
//! byte, and the fuzz targets (`fuzz/`) replay arbitrary input through it: the
//! events must not depend on how the input is cut into reads.

use super::{
    BdatEvent, BdatReceiver, Command, CommandError, DataOutcome, DataReceiver, LineReceiver,
    LineResult, parse_command,
};

/// What the server side of a transcript saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A command line, parsed.
    Command(Result<Command, CommandError>),
    /// A command line over [`super::MAX_COMMAND_LINE`], skipped.
    LineTooLong,
    /// The end of a message (DATA, or BDAT … LAST).
    Message(DataOutcome),
    /// A non-LAST BDAT chunk read in full.
    Chunk(u64),
}

/// Which receiver takes the next bytes.
enum Mode {
    Lines,
    Data(DataReceiver),
    Bdat(BdatReceiver),
}

/// Replays `input` as a client's byte stream arriving in reads cut at the
/// offsets `cuts` (ascending, at most `input.len()`), with messages of up to
/// `max_size` octets; returns every event in order.
pub fn replay(input: &[u8], cuts: &[usize], max_size: usize) -> Vec<Event> {
    let mut lines = LineReceiver::default();
    let mut mode = Mode::Lines;
    // The BDAT receiver between the chunks of one message.
    let mut bdat: Option<BdatReceiver> = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut prev = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(prev, input.len());
        buf.extend_from_slice(input.get(prev..cut).unwrap_or_default());
        prev = cut;
        loop {
            let (next, progressed) = match &mut mode {
                Mode::Lines => match lines.next_line(&buf) {
                    LineResult::Line { line, consumed } => {
                        let cmd = parse_command(line);
                        buf.drain(..consumed);
                        let next = match &cmd {
                            Ok(Command::Data) => Some(Mode::Data(DataReceiver::new(max_size))),
                            Ok(Command::Bdat { size, last }) => {
                                let mut rx =
                                    bdat.take().unwrap_or_else(|| BdatReceiver::new(max_size));
                                rx.start_chunk(*size, *last);
                                Some(Mode::Bdat(rx))
                            }
                            _ => None,
                        };
                        events.push(Event::Command(cmd));
                        (next, true)
                    }
                    LineResult::TooLong { consumed } => {
                        buf.drain(..consumed);
                        events.push(Event::LineTooLong);
                        (None, true)
                    }
                    LineResult::NeedMore { consumed } => {
                        buf.drain(..consumed);
                        (None, false)
                    }
                },
                Mode::Data(rx) => {
                    let (n, outcome) = rx.feed(&buf);
                    buf.drain(..n);
                    match outcome {
                        Some(o) => {
                            events.push(Event::Message(o));
                            (Some(Mode::Lines), true)
                        }
                        None => (None, false),
                    }
                }
                Mode::Bdat(rx) => {
                    let (n, event) = rx.feed(&buf);
                    buf.drain(..n);
                    match event {
                        Some(BdatEvent::ChunkComplete { size }) => {
                            events.push(Event::Chunk(size));
                            if let Mode::Bdat(rx) = std::mem::replace(&mut mode, Mode::Lines) {
                                bdat = Some(rx);
                            }
                            (None, true)
                        }
                        Some(BdatEvent::Done(o)) => {
                            events.push(Event::Message(o));
                            (Some(Mode::Lines), true)
                        }
                        None => (None, false),
                    }
                }
            };
            if let Some(m) = next {
                mode = m;
            }
            if !progressed {
                break;
            }
        }
    }
    events
}
