//! Test support for the command parser files (`command.rs` and one file per verb
//! family): every row is framed by the [`Receiver`] whole, split at every byte and
//! byte by byte, with CRLF and with LF, all of which must agree, and only then
//! parsed by [`parse`]. Also the small constructors the rows share.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use super::command::{Command, Request, parse};
use super::fetch::{FetchAttribute, Section, SectionText};
use super::parser::{ErrorKind, ParseError};
use super::receiver::{Event, Limits, Receiver};
use super::sequence::{Sequence, parse_sequence};
use super::types::Date;

/// Frames `input` with the receiver whole, split at every byte and byte
/// by byte; all must give the same single command, which is returned.
fn frame(input: &[u8]) -> Vec<u8> {
    fn run(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut r = Receiver::new(Limits::default());
        let mut pending = Vec::new();
        let mut out = Vec::new();
        for chunk in chunks {
            pending.extend_from_slice(chunk);
            loop {
                let (n, ev) = r.feed(&pending);
                pending.drain(..n);
                match ev {
                    Event::NeedMore => break,
                    Event::NeedsContinuation => {}
                    Event::Command(c) => out.push(c),
                    other => panic!("{other:?}"),
                }
            }
        }
        out
    }
    let whole = run(&[input]);
    assert_eq!(whole.len(), 1, "{:?}", String::from_utf8_lossy(input));
    for k in 0..=input.len() {
        let (a, b) = input.split_at(k);
        assert_eq!(run(&[a, b]), whole, "split at {k}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&bytes), whole);
    whole.into_iter().next().unwrap_or_default()
}

/// Frames `line` + CRLF and `line` + LF (must agree), then parses.
pub(super) fn req(line: &[u8]) -> Result<Request, ParseError> {
    let mut input = line.to_vec();
    input.extend_from_slice(b"\n");
    let lf = frame(&input);
    input.pop();
    input.extend_from_slice(b"\r\n");
    let crlf = frame(&input);
    assert_eq!(lf, crlf);
    parse(&crlf)
}

/// Each row's line, framed and parsed, gives its tag and command.
pub(super) fn check_rows(rows: Vec<(&[u8], &str, Command)>) {
    for (line, tag, command) in rows {
        let name = String::from_utf8_lossy(line).into_owned();
        let expected = Request {
            tag: s(tag),
            command,
        };
        assert_eq!(req(line), Ok(expected), "{name}");
    }
}

/// Each row's line, framed and parsed, fails with its tag (if one could be read)
/// and error kind.
pub(super) fn check_errors(rows: Vec<(&[u8], Option<&str>, ErrorKind)>) {
    for (line, tag, kind) in rows {
        let name = String::from_utf8_lossy(&line[..line.len().min(60)]).into_owned();
        // Long rows are checked whole only (framing them byte by byte
        // would be slow and is covered by the receiver's tests).
        let got = if line.len() > 2000 {
            parse(line)
        } else {
            req(line)
        };
        let err = got.expect_err(&name);
        assert_eq!((err.tag.as_deref(), err.kind), (tag, kind), "{name}");
    }
}

pub(super) fn s(v: &str) -> String {
    v.to_owned()
}

pub(super) fn b(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

pub(super) fn seq(v: &str) -> Sequence {
    parse_sequence(v.as_bytes()).unwrap()
}

pub(super) fn date(year: u16, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

/// `BODY[HEADER.FIELDS (names)]`, or `BODY.PEEK[…]`.
pub(super) fn header_fields(peek: bool, names: &[&str]) -> FetchAttribute {
    FetchAttribute::BodySection {
        peek,
        section: Section {
            part: vec![],
            text: Some(SectionText::HeaderFields(
                names.iter().map(|n| s(n)).collect(),
            )),
        },
        partial: None,
    }
}
