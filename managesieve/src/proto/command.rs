//! A client's command, parsed from one complete frame (RFC 5804 §4 `command`).
//!
//! A frame is the command line without its CRLF, where each literal's marker
//! (`{n+}`, RFC 5804 §4 `literal-c2s`; the synchronizing `{n}` too, which clients
//! must not send but some do, as Dovecot's Pigeonhole tolerates) is followed by CRLF and
//! exactly `n` octets. Command names are case-insensitive (§4: "commands are
//! case-insensitive"); strings are quoted (at most [`MAX_QUOTED`] octets, `\"` and `\\`
//! escaped) or literals; numbers fit 32 bits.

use thiserror::Error;

/// RFC 5804 §4 `quoted`: "limited to 1024 octets between the <\">s" (errata 2655).
pub const MAX_QUOTED: usize = 1024;

/// RFC 5804 §4 `number`: below 4,294,967,296.
pub const MAX_NUMBER: u64 = u32::MAX as u64;

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 5804 §2.1: a SASL mechanism and an optional initial response (base64).
    Authenticate {
        /// The mechanism, as sent.
        mechanism: String,
        /// The initial response, still base64.
        initial: Option<Vec<u8>>,
    },
    /// RFC 5804 §2.2.
    StartTls,
    /// RFC 5804 §2.3.
    Logout,
    /// RFC 5804 §2.4.
    Capability,
    /// RFC 5804 §2.5: could a script of `size` octets be stored as `name`.
    HaveSpace {
        /// The script name.
        name: String,
        /// Its size in octets.
        size: u64,
    },
    /// RFC 5804 §2.6.
    PutScript {
        /// The script name.
        name: String,
        /// The script.
        script: Vec<u8>,
    },
    /// RFC 5804 §2.7.
    ListScripts,
    /// RFC 5804 §2.8: `""` makes no script active.
    SetActive {
        /// The script name; empty: none.
        name: String,
    },
    /// RFC 5804 §2.9.
    GetScript {
        /// The script name.
        name: String,
    },
    /// RFC 5804 §2.10.
    DeleteScript {
        /// The script name.
        name: String,
    },
    /// RFC 5804 §2.11.
    RenameScript {
        /// The old name.
        old: String,
        /// The new name.
        new: String,
    },
    /// RFC 5804 §2.12: validate without storing.
    CheckScript {
        /// The script.
        script: Vec<u8>,
    },
    /// RFC 5804 §2.13: the optional string is echoed in a TAG response code.
    Noop {
        /// What to echo.
        tag: Option<Vec<u8>>,
    },
    /// RFC 5804 §2.14.1.
    Unauthenticate,
}

/// Why a frame is not a command: the session answers `NO` with this text (RFC 5804
/// §1.3: a command the server cannot parse gets NO, the connection stays).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Not a command name this server knows.
    #[error("unknown command")]
    Unknown,
    /// A known command with arguments it does not take.
    #[error("bad arguments for {0}")]
    Arguments(&'static str),
    /// A quoted string over [`MAX_QUOTED`] octets, unterminated, or holding a CR, LF
    /// or NUL.
    #[error("bad quoted string")]
    Quoted,
    /// A literal whose marker or length does not match its data.
    #[error("bad literal")]
    Literal,
    /// A number that is not digits or is too large.
    #[error("bad number")]
    Number,
    /// A script name that is not UTF-8 (RFC 5804 §1.6).
    #[error("names must be UTF-8")]
    NotUtf8,
}

/// One argument as the grammar sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    String(Vec<u8>),
    Number(u64),
}

/// Parses a frame (see the module doc).
pub fn parse(frame: &[u8]) -> Result<Command, ParseError> {
    let name_end = frame.iter().position(|&b| b == b' ').unwrap_or(frame.len());
    let name = std::str::from_utf8(&frame[..name_end])
        .map_err(|_| ParseError::Unknown)?
        .to_ascii_uppercase();
    let args = arguments(&frame[name_end..])?;
    use Arg::{Number as N, String as S};
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| ParseError::NotUtf8);
    Ok(match (name.as_str(), args.as_slice()) {
        ("AUTHENTICATE", [S(m)]) => Command::Authenticate {
            mechanism: text(m)?,
            initial: None,
        },
        ("AUTHENTICATE", [S(m), S(i)]) => Command::Authenticate {
            mechanism: text(m)?,
            initial: Some(i.clone()),
        },
        ("STARTTLS", []) => Command::StartTls,
        ("LOGOUT", []) => Command::Logout,
        ("CAPABILITY", []) => Command::Capability,
        ("HAVESPACE", [S(n), N(size)]) => Command::HaveSpace {
            name: text(n)?,
            size: *size,
        },
        ("PUTSCRIPT", [S(n), S(script)]) => Command::PutScript {
            name: text(n)?,
            script: script.clone(),
        },
        ("LISTSCRIPTS", []) => Command::ListScripts,
        ("SETACTIVE", [S(n)]) => Command::SetActive { name: text(n)? },
        ("GETSCRIPT", [S(n)]) => Command::GetScript { name: text(n)? },
        ("DELETESCRIPT", [S(n)]) => Command::DeleteScript { name: text(n)? },
        ("RENAMESCRIPT", [S(old), S(new)]) => Command::RenameScript {
            old: text(old)?,
            new: text(new)?,
        },
        ("CHECKSCRIPT", [S(script)]) => Command::CheckScript {
            script: script.clone(),
        },
        ("NOOP", []) => Command::Noop { tag: None },
        ("NOOP", [S(t)]) => Command::Noop {
            tag: Some(t.clone()),
        },
        ("UNAUTHENTICATE", []) => Command::Unauthenticate,
        (n, _) => return Err(ParseError::Arguments(known(n).ok_or(ParseError::Unknown)?)),
    })
}

/// Parses a frame holding one string: a client's SASL response (RFC 5804 §2.1,
/// `authenticate-response`-like: quoted or literal).
pub fn parse_string(frame: &[u8]) -> Result<Vec<u8>, ParseError> {
    match argument(frame)? {
        (Arg::String(s), []) => Ok(s),
        _ => Err(ParseError::Arguments("a SASL response")),
    }
}

/// The command names this server knows.
fn known(name: &str) -> Option<&'static str> {
    const NAMES: [&str; 14] = [
        "AUTHENTICATE",
        "STARTTLS",
        "LOGOUT",
        "CAPABILITY",
        "HAVESPACE",
        "PUTSCRIPT",
        "LISTSCRIPTS",
        "SETACTIVE",
        "GETSCRIPT",
        "DELETESCRIPT",
        "RENAMESCRIPT",
        "CHECKSCRIPT",
        "NOOP",
        "UNAUTHENTICATE",
    ];
    NAMES.into_iter().find(|n| *n == name)
}

/// The arguments after the command name: each preceded by one space.
fn arguments(mut rest: &[u8]) -> Result<Vec<Arg>, ParseError> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        rest = rest
            .strip_prefix(b" ")
            .ok_or(ParseError::Arguments("this command"))?;
        let (arg, after) = argument(rest)?;
        out.push(arg);
        rest = after;
    }
    Ok(out)
}

fn argument(input: &[u8]) -> Result<(Arg, &[u8]), ParseError> {
    match input.first() {
        Some(b'"') => quoted(&input[1..]),
        Some(b'{') => literal(&input[1..]),
        Some(b) if b.is_ascii_digit() => {
            let end = input
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(input.len());
            let n: u64 = std::str::from_utf8(&input[..end])
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|&n| n <= MAX_NUMBER)
                .ok_or(ParseError::Number)?;
            Ok((Arg::Number(n), &input[end..]))
        }
        _ => Err(ParseError::Arguments("this command")),
    }
}

/// RFC 5804 §4 `quoted`, after its opening DQUOTE.
fn quoted(input: &[u8]) -> Result<(Arg, &[u8]), ParseError> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'"' => return Ok((Arg::String(out), &input[i + 1..])),
            b'\\' => match input.get(i + 1) {
                Some(&c @ (b'"' | b'\\')) => {
                    out.push(c);
                    i += 2;
                    continue;
                }
                _ => return Err(ParseError::Quoted),
            },
            b'\r' | b'\n' | 0 => return Err(ParseError::Quoted),
            _ => out.push(b),
        }
        if out.len() > MAX_QUOTED {
            return Err(ParseError::Quoted);
        }
        i += 1;
    }
    Err(ParseError::Quoted)
}

/// RFC 5804 §4 `literal-c2s` (`{n+}` CRLF data; `{n}` tolerated), after its `{`.
fn literal(input: &[u8]) -> Result<(Arg, &[u8]), ParseError> {
    let close = input
        .iter()
        .position(|&b| b == b'}')
        .ok_or(ParseError::Literal)?;
    let digits = input[..close].strip_suffix(b"+").unwrap_or(&input[..close]);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Literal);
    }
    let n: usize = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ParseError::Literal)?;
    let data = input[close + 1..]
        .strip_prefix(b"\r\n")
        .ok_or(ParseError::Literal)?;
    if data.len() < n {
        return Err(ParseError::Literal);
    }
    Ok((Arg::String(data[..n].to_vec()), &data[n..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5804's examples (§2.x, `C:` lines, as frames) and the edges of the grammar.
    #[test]
    fn table() {
        let ok: &[(&[u8], Command)] = &[
            (b"CAPABILITY", Command::Capability),
            (b"capability", Command::Capability),
            (b"LOGOUT", Command::Logout),
            (b"STARTTLS", Command::StartTls),
            (b"LISTSCRIPTS", Command::ListScripts),
            (b"UNAUTHENTICATE", Command::Unauthenticate),
            // §2.1
            (
                b"AUTHENTICATE \"PLAIN\" \"QJIrweAPyo6Q1T9xy\"",
                Command::Authenticate {
                    mechanism: "PLAIN".into(),
                    initial: Some(b"QJIrweAPyo6Q1T9xy".to_vec()),
                },
            ),
            // §2.5
            (
                b"HAVESPACE \"myscript\" 999999",
                Command::HaveSpace {
                    name: "myscript".into(),
                    size: 999_999,
                },
            ),
            // §2.6
            (
                b"Putscript \"foo\" {31+}\r\n#comment\r\nInvalidSieveCommand\r\n",
                Command::PutScript {
                    name: "foo".into(),
                    script: b"#comment\r\nInvalidSieveCommand\r\n".to_vec(),
                },
            ),
            // §2.8
            (
                b"Setactive \"baz\"",
                Command::SetActive { name: "baz".into() },
            ),
            (b"SETACTIVE \"\"", Command::SetActive { name: "".into() }),
            // §2.9
            (
                b"Getscript \"myscript\"",
                Command::GetScript {
                    name: "myscript".into(),
                },
            ),
            // §2.10
            (
                b"Deletescript \"foo\"",
                Command::DeleteScript { name: "foo".into() },
            ),
            // §2.11
            (
                b"Renamescript \"foo\" \"bar\"",
                Command::RenameScript {
                    old: "foo".into(),
                    new: "bar".into(),
                },
            ),
            // §2.12
            (
                b"CheckScript {31+}\r\n#comment\r\nInvalidSieveCommand\r\n",
                Command::CheckScript {
                    script: b"#comment\r\nInvalidSieveCommand\r\n".to_vec(),
                },
            ),
            // §2.13
            (
                b"NOOP \"STARTTLS-SYNC-42\"",
                Command::Noop {
                    tag: Some(b"STARTTLS-SYNC-42".to_vec()),
                },
            ),
            (b"NOOP", Command::Noop { tag: None }),
            // Escapes, UTF-8 names, a synchronizing literal.
            (
                b"GETSCRIPT \"a\\\"b\\\\c\"",
                Command::GetScript {
                    name: "a\"b\\c".into(),
                },
            ),
            (
                "GETSCRIPT \"Müll\"".as_bytes(),
                Command::GetScript {
                    name: "Müll".into(),
                },
            ),
            (
                b"GETSCRIPT {3}\r\nabc",
                Command::GetScript { name: "abc".into() },
            ),
        ];
        for (frame, want) in ok {
            assert_eq!(
                parse(frame).as_ref(),
                Ok(want),
                "{}",
                String::from_utf8_lossy(frame)
            );
        }
        let bad: &[(&[u8], ParseError)] = &[
            (b"FROB", ParseError::Unknown),
            (b"", ParseError::Unknown),
            (b"GETSCRIPT", ParseError::Arguments("GETSCRIPT")),
            (b"LOGOUT \"now\"", ParseError::Arguments("LOGOUT")),
            (b"GETSCRIPT foo", ParseError::Arguments("this command")),
            (b"GETSCRIPT \"foo", ParseError::Quoted),
            (b"GETSCRIPT \"a\\nb\"", ParseError::Quoted),
            (
                b"GETSCRIPT  \"two spaces\"",
                ParseError::Arguments("this command"),
            ),
            (b"HAVESPACE \"x\" 4294967296", ParseError::Number),
            (b"GETSCRIPT {x+}\r\nabc", ParseError::Literal),
            (b"GETSCRIPT {4+}\r\nabc", ParseError::Literal),
            (b"GETSCRIPT {3+}abc", ParseError::Literal),
            // §2.1's example announces 1488 octets: fewer follow here.
            (
                b"Authenticate \"GSSAPI\" {1488+}\r\nYIIE",
                ParseError::Literal,
            ),
            (b"GETSCRIPT \"\xff\"", ParseError::NotUtf8),
        ];
        for (frame, want) in bad {
            assert_eq!(
                parse(frame).as_ref(),
                Err(want),
                "{}",
                String::from_utf8_lossy(frame)
            );
        }
        let long = format!("GETSCRIPT \"{}\"", "x".repeat(MAX_QUOTED + 1));
        assert_eq!(parse(long.as_bytes()), Err(ParseError::Quoted));
        let max = format!("GETSCRIPT \"{}\"", "x".repeat(MAX_QUOTED));
        assert!(parse(max.as_bytes()).is_ok());
    }
}
