//! ManageSieve input framed by the IMAP receiver (the one framer both protocols use:
//! same literals, RFC 5804 §4 `literal-c2s`), then parsed: a client's session as
//! Thunderbird's Sieve add-on and `sieve-connect` send it, fed whole and split at every
//! byte, gives the same commands.

use mailyard_imap::proto::receiver::{Event, Limits, Receiver};
use mailyard_managesieve::proto::command::{Command, parse};

const SESSION: &[u8] = b"CAPABILITY\r\n\
AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n\
PUTSCRIPT \"vacation\" {45+}\r\nrequire \"vacation\";\r\nvacation \"I am away.\";\r\n\r\n\
LISTSCRIPTS\r\n\
SETACTIVE \"vacation\"\r\n\
GETSCRIPT \"vacation\"\r\n\
RENAMESCRIPT \"vacation\" \"away\"\r\n\
CHECKSCRIPT {5+}\r\nkeep;\r\n\
HAVESPACE \"away\" 1024\r\n\
NOOP \"sync\"\r\n\
DELETESCRIPT \"old\"\r\n\
LOGOUT\r\n";

fn expected() -> Vec<Command> {
    vec![
        Command::Capability,
        Command::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some(b"AGFsaWNlAHNlY3JldA==".to_vec()),
        },
        Command::PutScript {
            name: "vacation".into(),
            script: b"require \"vacation\";\r\nvacation \"I am away.\";\r\n".to_vec(),
        },
        Command::ListScripts,
        Command::SetActive {
            name: "vacation".into(),
        },
        Command::GetScript {
            name: "vacation".into(),
        },
        Command::RenameScript {
            old: "vacation".into(),
            new: "away".into(),
        },
        Command::CheckScript {
            script: b"keep;".to_vec(),
        },
        Command::HaveSpace {
            name: "away".into(),
            size: 1024,
        },
        Command::Noop {
            tag: Some(b"sync".to_vec()),
        },
        Command::DeleteScript { name: "old".into() },
        Command::Logout,
    ]
}

/// Feeds `chunks` in order; returns the parsed commands.
fn run(chunks: &[&[u8]]) -> Vec<Command> {
    let mut rx = Receiver::new(Limits::default());
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let (n, ev) = rx.feed(&buf);
            buf.drain(..n);
            match ev {
                Event::NeedMore => break,
                Event::Command(frame) => out.push(
                    parse(&frame)
                        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&frame))),
                ),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    out
}

#[test]
fn a_session_framed_whole_and_split_at_every_byte() {
    assert_eq!(run(&[SESSION]), expected());
    for cut in 1..SESSION.len() {
        let (a, b) = SESSION.split_at(cut);
        assert_eq!(run(&[a, b]), expected(), "split at {cut}");
    }
    let bytes: Vec<&[u8]> = SESSION.chunks(1).collect();
    assert_eq!(run(&bytes), expected(), "one byte at a time");
}
