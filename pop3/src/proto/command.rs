//! POP3 commands (RFC 1939 §3: a case-insensitive keyword, then arguments separated by
//! single spaces) and which session states allow each ([`Command::allowed_in`]).

use std::fmt;

/// A session's state as commands see it (RFC 1939 §3). The UPDATE state is entered
/// by QUIT and left by closing; no command is read in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the maildrop is opened: USER/PASS, AUTH, STLS.
    Authorization,
    /// The maildrop is open and locked.
    Transaction,
}

/// One client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 1939 §7 USER name.
    User(String),
    /// RFC 1939 §7 PASS string: the rest of the line (a password may hold spaces).
    Pass(String),
    /// RFC 1939 §7 APOP: parsed so that it can be refused with a clear reply (we keep
    /// only password hashes, so there is no shared secret to digest).
    Apop,
    /// RFC 1939 §6 QUIT (AUTHORIZATION: close; TRANSACTION: UPDATE, then close).
    Quit,
    /// RFC 1939 §5 STAT.
    Stat,
    /// RFC 1939 §5 `LIST [msg]`.
    List(Option<u32>),
    /// RFC 1939 §5 RETR msg.
    Retr(u32),
    /// RFC 1939 §5 DELE msg.
    Dele(u32),
    /// RFC 1939 §5 NOOP.
    Noop,
    /// RFC 1939 §5 RSET.
    Rset,
    /// RFC 1939 §7 TOP msg n.
    Top {
        /// The message number.
        msg: u32,
        /// How many lines of the body.
        lines: u32,
    },
    /// RFC 1939 §7 `UIDL [msg]`.
    Uidl(Option<u32>),
    /// RFC 2449 §5 CAPA.
    Capa,
    /// RFC 2595 §4 STLS.
    Stls,
    /// RFC 5034 §4 AUTH mechanism [initial-response]; without a mechanism, the
    /// mechanisms' list (an older form some clients still send).
    Auth {
        /// The SASL mechanism, upper-cased.
        mechanism: Option<String>,
        /// The initial response, base64 (`=` is an empty one).
        initial: Option<String>,
    },
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// An empty line or an unknown keyword.
    Unknown,
    /// A known keyword with missing, extra or malformed arguments.
    Syntax(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unknown => f.write_str("Unknown command"),
            ParseError::Syntax(usage) => write!(f, "Syntax: {usage}"),
        }
    }
}

impl Command {
    /// Which states allow this command: data, walked by a test. RFC 1939 §4 (USER,
    /// PASS, APOP, QUIT), §5 (the TRANSACTION commands), §7 (TOP, UIDL); RFC 2449 §5
    /// (CAPA, in both); RFC 2595 §4 and RFC 5034 §4 (STLS, AUTH: AUTHORIZATION only).
    pub fn allowed_in(&self) -> &'static [Phase] {
        use Phase::*;
        match self {
            Command::User(_)
            | Command::Pass(_)
            | Command::Apop
            | Command::Stls
            | Command::Auth { .. } => &[Authorization],
            Command::Quit | Command::Capa => &[Authorization, Transaction],
            Command::Stat
            | Command::List(_)
            | Command::Retr(_)
            | Command::Dele(_)
            | Command::Noop
            | Command::Rset
            | Command::Top { .. }
            | Command::Uidl(_) => &[Transaction],
        }
    }

    /// The keyword, for logs and replies.
    pub fn name(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop => "APOP",
            Command::Quit => "QUIT",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Top { .. } => "TOP",
            Command::Uidl(_) => "UIDL",
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::Auth { .. } => "AUTH",
        }
    }
}

/// Parses one command line (without its CRLF).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::Unknown)?;
    let (keyword, rest) = match line.split_once(' ') {
        Some((k, r)) => (k, Some(r)),
        None => (line, None),
    };
    let args: Vec<&str> = rest
        .map(|r| r.split(' ').filter(|a| !a.is_empty()).collect())
        .unwrap_or_default();
    let none = |c: Command, usage| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Syntax(usage))
        }
    };
    let msg = |usage| match args.as_slice() {
        [n] => number(n).ok_or(ParseError::Syntax(usage)),
        _ => Err(ParseError::Syntax(usage)),
    };
    let optional_msg = |usage| match args.as_slice() {
        [] => Ok(None),
        [n] => number(n).map(Some).ok_or(ParseError::Syntax(usage)),
        _ => Err(ParseError::Syntax(usage)),
    };
    match keyword.to_ascii_uppercase().as_str() {
        "USER" => match args.as_slice() {
            [name] => Ok(Command::User((*name).to_string())),
            _ => Err(ParseError::Syntax("USER name")),
        },
        "PASS" => match rest {
            Some(p) if !p.is_empty() => Ok(Command::Pass(p.to_string())),
            _ => Err(ParseError::Syntax("PASS password")),
        },
        "APOP" => Ok(Command::Apop),
        "QUIT" => none(Command::Quit, "QUIT"),
        "STAT" => none(Command::Stat, "STAT"),
        "LIST" => optional_msg("LIST [msg]").map(Command::List),
        "RETR" => msg("RETR msg").map(Command::Retr),
        "DELE" => msg("DELE msg").map(Command::Dele),
        "NOOP" => none(Command::Noop, "NOOP"),
        "RSET" => none(Command::Rset, "RSET"),
        "TOP" => match args.as_slice() {
            [m, n] => match (number(m), lines(n)) {
                (Some(msg), Some(lines)) => Ok(Command::Top { msg, lines }),
                _ => Err(ParseError::Syntax("TOP msg lines")),
            },
            _ => Err(ParseError::Syntax("TOP msg lines")),
        },
        "UIDL" => optional_msg("UIDL [msg]").map(Command::Uidl),
        "CAPA" => none(Command::Capa, "CAPA"),
        "STLS" => none(Command::Stls, "STLS"),
        "AUTH" => match args.as_slice() {
            [] => Ok(Command::Auth {
                mechanism: None,
                initial: None,
            }),
            [m] => Ok(Command::Auth {
                mechanism: Some(m.to_ascii_uppercase()),
                initial: None,
            }),
            [m, ir] => Ok(Command::Auth {
                mechanism: Some(m.to_ascii_uppercase()),
                initial: Some((*ir).to_string()),
            }),
            _ => Err(ParseError::Syntax("AUTH mechanism [initial-response]")),
        },
        _ => Err(ParseError::Unknown),
    }
}

/// A message number: decimal digits, at least 1 (RFC 1939 §5: "message-number").
fn number(s: &str) -> Option<u32> {
    lines(s).filter(|&n| n > 0)
}

/// A non-negative decimal number (TOP's line count), digits only.
fn lines(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // More lines than any message has: as many as there are.
    Some(s.parse().unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::receiver::{Event, MAX_COMMAND_LINE, Receiver};

    /// The RFCs' own examples (RFC 1939 §5–§7, RFC 2449 §5, RFC 2595 §4, RFC 5034 §6)
    /// and the malformed neighbours.
    fn rows() -> Vec<(&'static str, Result<Command, ParseError>)> {
        use Command as C;
        let syntax = ParseError::Syntax;
        vec![
            ("USER mrose", Ok(C::User("mrose".into()))),
            (
                "user alice@example.com",
                Ok(C::User("alice@example.com".into())),
            ),
            ("PASS secret", Ok(C::Pass("secret".into()))),
            (
                "PASS with spaces  in it",
                Ok(C::Pass("with spaces  in it".into())),
            ),
            ("APOP mrose c4c9334bac560ecc979e58001b3e22fb", Ok(C::Apop)),
            ("QUIT", Ok(C::Quit)),
            ("STAT", Ok(C::Stat)),
            ("LIST", Ok(C::List(None))),
            ("LIST 2", Ok(C::List(Some(2)))),
            ("LIST 3", Ok(C::List(Some(3)))),
            ("RETR 1", Ok(C::Retr(1))),
            ("DELE 1", Ok(C::Dele(1))),
            ("NOOP", Ok(C::Noop)),
            ("RSET", Ok(C::Rset)),
            ("TOP 1 10", Ok(C::Top { msg: 1, lines: 10 })),
            ("TOP 100 3", Ok(C::Top { msg: 100, lines: 3 })),
            ("TOP 1 0", Ok(C::Top { msg: 1, lines: 0 })),
            ("UIDL", Ok(C::Uidl(None))),
            ("UIDL 2", Ok(C::Uidl(Some(2)))),
            ("CAPA", Ok(C::Capa)),
            ("STLS", Ok(C::Stls)),
            ("stls", Ok(C::Stls)),
            (
                "AUTH",
                Ok(C::Auth {
                    mechanism: None,
                    initial: None,
                }),
            ),
            (
                "AUTH plain",
                Ok(C::Auth {
                    mechanism: Some("PLAIN".into()),
                    initial: None,
                }),
            ),
            (
                "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=",
                Ok(C::Auth {
                    mechanism: Some("PLAIN".into()),
                    initial: Some("dGVzdAB0ZXN0AHRlc3Q=".into()),
                }),
            ),
            (
                "AUTH PLAIN =",
                Ok(C::Auth {
                    mechanism: Some("PLAIN".into()),
                    initial: Some("=".into()),
                }),
            ),
            // Malformed.
            ("", Err(ParseError::Unknown)),
            ("XYZZY", Err(ParseError::Unknown)),
            ("RETRX 1", Err(ParseError::Unknown)),
            ("USER", Err(syntax("USER name"))),
            ("USER a b", Err(syntax("USER name"))),
            ("PASS", Err(syntax("PASS password"))),
            ("PASS ", Err(syntax("PASS password"))),
            ("STAT 1", Err(syntax("STAT"))),
            ("LIST x", Err(syntax("LIST [msg]"))),
            ("LIST 1 2", Err(syntax("LIST [msg]"))),
            ("RETR", Err(syntax("RETR msg"))),
            ("RETR 0", Err(syntax("RETR msg"))),
            ("RETR -1", Err(syntax("RETR msg"))),
            ("RETR +1", Err(syntax("RETR msg"))),
            ("DELE 1x", Err(syntax("DELE msg"))),
            ("TOP 1", Err(syntax("TOP msg lines"))),
            ("TOP 1 -1", Err(syntax("TOP msg lines"))),
            ("TOP 0 1", Err(syntax("TOP msg lines"))),
            ("UIDL 0", Err(syntax("UIDL [msg]"))),
            ("QUIT now", Err(syntax("QUIT"))),
            (
                "AUTH PLAIN a b",
                Err(syntax("AUTH mechanism [initial-response]")),
            ),
        ]
    }

    #[test]
    fn table() {
        for (line, expected) in rows() {
            assert_eq!(parse(line.as_bytes()), expected, "{line:?}");
        }
        // Numbers past u32: no such message (never a panic).
        assert_eq!(
            parse(b"RETR 99999999999999999999"),
            Ok(Command::Retr(u32::MAX))
        );
        assert_eq!(parse(b"RETR \xff"), Err(ParseError::Unknown));
        assert_eq!(parse(b"\xff\xfe"), Err(ParseError::Unknown));
    }

    /// Every row through the receiver, with CRLF and with LF, whole and split at every
    /// byte: the same command comes out.
    #[test]
    fn table_through_the_receiver_split_at_every_byte() {
        for (line, expected) in rows() {
            for end in ["\r\n", "\n"] {
                let input = format!("{line}{end}");
                let bytes = input.as_bytes();
                for cut in 0..=bytes.len() {
                    let mut r = Receiver::new(MAX_COMMAND_LINE);
                    let mut buf = bytes[..cut].to_vec();
                    let (n, first) = r.feed(&buf);
                    buf.drain(..n);
                    let got = match first {
                        Event::Line(l) => l,
                        Event::NeedMore => {
                            buf.extend_from_slice(&bytes[cut..]);
                            match r.feed(&buf) {
                                (_, Event::Line(l)) => l,
                                other => panic!("{input:?} cut {cut}: {other:?}"),
                            }
                        }
                        Event::TooLong => panic!("{input:?}: too long"),
                    };
                    assert_eq!(parse(&got), expected, "{input:?} cut at {cut}");
                }
            }
        }
    }

    /// Every command in every state: only what the RFCs allow there.
    #[test]
    fn states_times_commands() {
        use Phase::*;
        let cases: &[(&str, &[Phase])] = &[
            ("USER a", &[Authorization]),
            ("PASS a", &[Authorization]),
            ("APOP a b", &[Authorization]),
            ("AUTH PLAIN", &[Authorization]),
            ("STLS", &[Authorization]),
            ("CAPA", &[Authorization, Transaction]),
            ("QUIT", &[Authorization, Transaction]),
            ("STAT", &[Transaction]),
            ("LIST", &[Transaction]),
            ("RETR 1", &[Transaction]),
            ("DELE 1", &[Transaction]),
            ("NOOP", &[Transaction]),
            ("RSET", &[Transaction]),
            ("TOP 1 1", &[Transaction]),
            ("UIDL", &[Transaction]),
        ];
        for (line, states) in cases {
            let c = parse(line.as_bytes()).expect(line);
            for phase in [Authorization, Transaction] {
                assert_eq!(
                    c.allowed_in().contains(&phase),
                    states.contains(&phase),
                    "{line} in {phase:?}"
                );
            }
        }
    }
}
