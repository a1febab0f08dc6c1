//! The local submission protocol: how `mailyard sendmail`, run by a user who cannot
//! write `data_dir`, hands a message to `mailyard serve` over the Unix socket of
//! `[listen] local` (OpenSMTPD's `smtpctl` and `/var/run/smtpd.sock` work this way).
//! Pure: bytes in, typed values out; the I/O is in `server` and `client`.
//!
//! One request per connection, then one reply, then the server closes:
//!
//! ```text
//! request  = "MAILYARD-SUBMIT 1" LF *field end
//! field    = "MAIL" SP sender LF       ; at most once; -f as given; "" or "<>": null
//!                                      ; absent: the peer's login name @ hostname
//!          / "RCPT" SP recipient LF    ; 0 to [limits] max_recipients times
//!          / "EXTRACT" LF              ; -t: recipients from To:, Cc:, Bcc: too
//!          / "FULLNAME" SP text LF     ; -F
//!          / "NOTIFY" SP text LF       ; -N (RFC 3461 §4.1)
//!          / "RET" SP text LF          ; -R (RFC 3461 §4.3)
//!          / "ENVID" SP text LF        ; -V (RFC 3461 §4.4)
//! end      = "CHECK" LF                ; route the recipients, deliver nothing (-bs RCPT)
//!          / "DATA" SP length LF message ; exactly `length` octets follow
//! reply    = "OK" SP text LF / "ERR" SP code SP text LF
//! ```
//!
//! A line may end in CR LF; it holds at most [`MAX_LINE`] octets, UTF-8 without
//! control characters. Each field but RCPT comes at most once. `length` is decimal and
//! at most `[limits] message_size`: a larger one is refused (`ERR 65`) before a byte
//! of the message is read. `message` is what sendmail read from stdin, lines ending in
//! CR LF (`message::read_input`); the server completes it (From/Date/Message-ID, the
//! `Received:` field naming the peer's uid), so the client sends nothing that depends
//! on who it is: the kernel says that (`SO_PEERCRED`). `code` is a sysexits.h code
//! ([`super::Exit`]) the client exits with: 64 for a malformed request, 65 for bad
//! data, 67 an unknown local recipient, 75 try again later. The whole request must
//! arrive within [`REQUEST_DEADLINE`].

use std::time::Duration;

use super::submit::Submission;
use super::{Exit, Failure};

/// The first line of every request (the protocol's version).
pub const GREETING: &str = "MAILYARD-SUBMIT 1";

/// The longest request line, its LF included (an address is at most 256 octets,
/// RFC 5321 §4.5.3.1.3; a display name or ENVID fits many times over).
pub const MAX_LINE: usize = 1024;

/// The longest reply line, its LF included.
pub const MAX_REPLY: usize = 1024;

/// How long the server waits for a whole request, and the client for the reply.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(120);

/// What the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `[limits] max_recipients`: RCPT lines per request.
    pub max_recipients: usize,
    /// `[limits] message_size`: the largest `DATA` length.
    pub message_size: u64,
}

/// How a request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `CHECK`: route the recipients only.
    Check,
    /// `DATA n`: a message of `n` octets follows.
    Data(u64),
}

/// A request's lines, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The envelope and options.
    pub submission: Submission,
    /// How it ends.
    pub end: End,
    /// Octets of the input the lines took (the message starts there).
    pub consumed: usize,
}

fn bad(text: impl Into<String>) -> Failure {
    Failure::new(Exit::Usage, text)
}

/// Parses the lines of a request at the start of `input`: `Ok(None)` while more input
/// is needed, the head once its `CHECK` or `DATA` line is in, or the failure to answer
/// (then the server closes the connection). The same input split anywhere gives the
/// same outcome.
pub fn parse_head(input: &[u8], limits: &Limits) -> Result<Option<Head>, Failure> {
    let mut s = Submission::default();
    let mut pos = 0;
    let mut first = true;
    loop {
        let rest = &input[pos..];
        let Some(nl) = rest.iter().take(MAX_LINE).position(|&b| b == b'\n') else {
            return if rest.len() >= MAX_LINE {
                Err(bad(format!("a request line longer than {MAX_LINE} octets")))
            } else {
                Ok(None)
            };
        };
        pos += nl + 1;
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = std::str::from_utf8(line).map_err(|_| bad("a request line is not UTF-8"))?;
        if line.chars().any(char::is_control) {
            return Err(bad("a control character in a request line"));
        }
        if std::mem::take(&mut first) {
            if line != GREETING {
                return Err(bad(format!(
                    "not a mailyard submission (expected {GREETING:?})"
                )));
            }
            continue;
        }
        let (verb, value) = match line.split_once(' ') {
            Some((v, rest)) => (v, Some(rest)),
            None => (line, None),
        };
        let once = |slot: &mut Option<String>, value: Option<&str>| match (&slot, value) {
            (Some(_), _) => Err(bad(format!("{verb} given twice"))),
            (None, None) => Err(bad(format!("{verb} needs a value"))),
            (None, Some(v)) => {
                *slot = Some(v.to_string());
                Ok(())
            }
        };
        match (verb, value) {
            ("MAIL", v) => once(&mut s.sender, v)?,
            ("FULLNAME", v) => once(&mut s.full_name, v)?,
            ("NOTIFY", v) => once(&mut s.notify, v)?,
            ("RET", v) => once(&mut s.ret, v)?,
            ("ENVID", v) => once(&mut s.envid, v)?,
            ("RCPT", Some(v)) if !v.trim().is_empty() => {
                if s.recipients.len() >= limits.max_recipients {
                    return Err(bad(format!(
                        "more than [limits] max_recipients ({}) recipients",
                        limits.max_recipients
                    )));
                }
                s.recipients.push(v.to_string());
            }
            ("RCPT", _) => return Err(bad("RCPT needs an address")),
            ("EXTRACT", None) if !s.extract => s.extract = true,
            ("EXTRACT", _) => return Err(bad("EXTRACT takes no value, once")),
            ("CHECK", None) => {
                return Ok(Some(Head {
                    submission: s,
                    end: End::Check,
                    consumed: pos,
                }));
            }
            ("DATA", Some(n)) => {
                let len = (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| n.parse::<u64>().ok())
                    .flatten()
                    .ok_or_else(|| bad(format!("DATA {n:?}: not a length")))?;
                if len > limits.message_size {
                    return Err(Failure::new(
                        Exit::DataErr,
                        format!(
                            "message larger than [limits] message_size ({} octets)",
                            limits.message_size
                        ),
                    ));
                }
                return Ok(Some(Head {
                    submission: s,
                    end: End::Data(len),
                    consumed: pos,
                }));
            }
            _ => {
                let shown: String = line.chars().take(40).collect();
                return Err(bad(format!("unknown request line {shown:?}")));
            }
        }
    }
}

/// The lines of a request for `s` (the client's side of [`parse_head`]). A value the
/// protocol cannot carry (a control character, a line too long) is `EX_USAGE`.
pub fn encode_head(s: &Submission, end: End) -> Result<Vec<u8>, Failure> {
    let mut lines = vec![GREETING.to_string()];
    let mut field = |verb: &str, value: Option<&String>| {
        if let Some(v) = value {
            lines.push(format!("{verb} {v}"));
        }
    };
    field("MAIL", s.sender.as_ref());
    field("FULLNAME", s.full_name.as_ref());
    field("NOTIFY", s.notify.as_ref());
    field("RET", s.ret.as_ref());
    field("ENVID", s.envid.as_ref());
    for r in &s.recipients {
        lines.push(format!("RCPT {r}"));
    }
    if s.extract {
        lines.push("EXTRACT".into());
    }
    lines.push(match end {
        End::Check => "CHECK".into(),
        End::Data(n) => format!("DATA {n}"),
    });
    let mut out = Vec::new();
    for l in lines {
        if l.chars().any(char::is_control) {
            return Err(bad(format!(
                "{:?}: a control character in an option or address",
                l.split_once(' ').map_or(l.as_str(), |(_, v)| v)
            )));
        }
        if l.len() + 1 > MAX_LINE {
            return Err(bad(format!(
                "an option or address longer than {} octets",
                MAX_LINE - 1
            )));
        }
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

/// The reply line for `result`: `OK text` or `ERR code text`, one line whatever the
/// text holds, at most [`MAX_REPLY`] octets.
pub fn encode_reply(result: &Result<String, Failure>) -> Vec<u8> {
    let line = match result {
        Ok(text) => format!("OK {text}"),
        Err(f) => format!("ERR {} {}", f.exit.code(), f.message),
    };
    let mut line: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() >= MAX_REPLY {
        let mut cut = MAX_REPLY - 1;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    line.push('\n');
    line.into_bytes()
}

/// The text of an `OK` reply, or the failure an `ERR` reply carries. Anything else is
/// `EX_PROTOCOL`.
pub fn parse_reply(line: &[u8]) -> Result<String, Failure> {
    let garbled = || {
        Failure::new(
            Exit::Protocol,
            format!(
                "the server's answer is not understood: {:?}",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            ),
        )
    };
    let text = std::str::from_utf8(line).map_err(|_| garbled())?;
    let text = text.strip_suffix('\n').ok_or_else(garbled)?;
    let text = text.strip_suffix('\r').unwrap_or(text);
    if let Some(ok) = text.strip_prefix("OK ") {
        return Ok(ok.to_string());
    }
    let err = text.strip_prefix("ERR ").ok_or_else(garbled)?;
    let (code, message) = err.split_once(' ').unwrap_or((err, ""));
    let exit = code
        .parse::<u8>()
        .ok()
        .and_then(Exit::from_code)
        .filter(|e| *e != Exit::Ok)
        .ok_or_else(garbled)?;
    Err(Failure::new(exit, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_recipients: 3,
        message_size: 1000,
    };

    /// Every split of `input` in two, fed as a server reads it (the second part
    /// appended to the first): the same outcome as the whole, and `None` before.
    fn parse_split(input: &[u8]) -> Result<Option<Head>, Failure> {
        let whole = parse_head(input, &LIMITS);
        for at in 0..=input.len() {
            let mut buf = input[..at].to_vec();
            let mut got = parse_head(&buf, &LIMITS);
            if matches!(got, Ok(None)) {
                buf.extend_from_slice(&input[at..]);
                got = parse_head(&buf, &LIMITS);
            }
            assert_eq!(got, whole, "{input:?} split at {at}");
        }
        // Byte by byte: the first outcome that is not `None` is the whole's.
        let mut buf = Vec::new();
        let mut got = Ok(None);
        for &b in input {
            buf.push(b);
            got = parse_head(&buf, &LIMITS);
            if !matches!(got, Ok(None)) {
                break;
            }
        }
        assert_eq!(got, whole, "{input:?} byte by byte");
        whole
    }

    fn sub(f: impl FnOnce(&mut Submission)) -> Submission {
        let mut s = Submission::default();
        f(&mut s);
        s
    }

    #[test]
    fn request_table() {
        let rows: Vec<(&str, Submission, End)> = vec![
            (
                "MAILYARD-SUBMIT 1\nRCPT alice@example.com\nDATA 5\nhello",
                sub(|s| s.recipients = vec!["alice@example.com".into()]),
                End::Data(5),
            ),
            // CRLF lines; the null sender; every field.
            (
                "MAILYARD-SUBMIT 1\r\nMAIL <>\r\nFULLNAME Cron Daemon\r\nNOTIFY failure,delay\r\n\
                 RET hdrs\r\nENVID env 1\r\nRCPT root\r\nRCPT b@x.test\r\nEXTRACT\r\nDATA 0\r\n",
                sub(|s| {
                    s.sender = Some("<>".into());
                    s.full_name = Some("Cron Daemon".into());
                    s.notify = Some("failure,delay".into());
                    s.ret = Some("hdrs".into());
                    s.envid = Some("env 1".into());
                    s.recipients = vec!["root".into(), "b@x.test".into()];
                    s.extract = true;
                }),
                End::Data(0),
            ),
            // An empty sender is the null sender too; -t needs no RCPT.
            (
                "MAILYARD-SUBMIT 1\nMAIL \nEXTRACT\nDATA 1000\n",
                sub(|s| {
                    s.sender = Some(String::new());
                    s.extract = true;
                }),
                End::Data(1000),
            ),
            (
                "MAILYARD-SUBMIT 1\nRCPT <Postmaster>\nRCPT zoë@例え.jp\nCHECK\n",
                sub(|s| s.recipients = vec!["<Postmaster>".into(), "zoë@例え.jp".into()]),
                End::Check,
            ),
            (
                "MAILYARD-SUBMIT 1\nCHECK\n",
                Submission::default(),
                End::Check,
            ),
        ];
        for (input, want, end) in rows {
            let head = parse_split(input.as_bytes())
                .unwrap_or_else(|f| panic!("{input:?}: {f:?}"))
                .unwrap_or_else(|| panic!("{input:?}: incomplete"));
            assert_eq!(head.submission, want, "{input:?}");
            assert_eq!(head.end, end, "{input:?}");
            let body_at = input
                .find("DATA")
                .map_or(input.len(), |d| d + input[d..].find('\n').expect("LF") + 1);
            assert_eq!(head.consumed, body_at, "{input:?}");
            // What the client writes for it parses back to the same.
            let encoded = encode_head(&head.submission, end).expect("encodes");
            let again = parse_head(&encoded, &LIMITS)
                .expect("parses")
                .expect("whole");
            assert_eq!(
                (again.submission, again.end, again.consumed),
                (head.submission.clone(), end, encoded.len())
            );
        }
    }

    #[test]
    fn incomplete_requests_wait() {
        for input in [
            "",
            "MAILYARD-SUB",
            "MAILYARD-SUBMIT 1\n",
            "MAILYARD-SUBMIT 1\nRCPT a@b\nDATA 12",
            "MAILYARD-SUBMIT 1\nRCPT a@b\r",
        ] {
            assert_eq!(parse_head(input.as_bytes(), &LIMITS), Ok(None), "{input:?}");
        }
    }

    #[test]
    fn bad_requests_table() {
        let long = format!("MAILYARD-SUBMIT 1\nRCPT {}\n", "a".repeat(MAX_LINE));
        let just = format!(
            "MAILYARD-SUBMIT 1\nRCPT {}\nCHECK\n",
            "a".repeat(MAX_LINE - 6)
        );
        assert!(parse_split(just.as_bytes()).is_ok(), "a line of MAX_LINE");
        let rows: Vec<(String, Exit, &str)> = vec![
            ("HELO x\n".into(), Exit::Usage, "not a mailyard submission"),
            ("MAILYARD-SUBMIT 2\n".into(), Exit::Usage, "not a mailyard"),
            (long, Exit::Usage, "longer than 1024"),
            (
                "MAILYARD-SUBMIT 1\nMAIL a\nMAIL b\nCHECK\n".into(),
                Exit::Usage,
                "MAIL given twice",
            ),
            (
                "MAILYARD-SUBMIT 1\nNOTIFY\n".into(),
                Exit::Usage,
                "needs a value",
            ),
            (
                "MAILYARD-SUBMIT 1\nRCPT \n".into(),
                Exit::Usage,
                "RCPT needs",
            ),
            (
                "MAILYARD-SUBMIT 1\nRCPT\n".into(),
                Exit::Usage,
                "RCPT needs",
            ),
            (
                "MAILYARD-SUBMIT 1\nRCPT a\nRCPT b\nRCPT c\nRCPT d\nCHECK\n".into(),
                Exit::Usage,
                "max_recipients (3)",
            ),
            (
                "MAILYARD-SUBMIT 1\nEXTRACT\nEXTRACT\n".into(),
                Exit::Usage,
                "EXTRACT",
            ),
            (
                "MAILYARD-SUBMIT 1\nEXTRACT yes\n".into(),
                Exit::Usage,
                "EXTRACT",
            ),
            (
                "MAILYARD-SUBMIT 1\nCHECK now\n".into(),
                Exit::Usage,
                "unknown",
            ),
            (
                "MAILYARD-SUBMIT 1\nrcpt a@b\n".into(),
                Exit::Usage,
                "unknown",
            ),
            (
                "MAILYARD-SUBMIT 1\nDATA -1\n".into(),
                Exit::Usage,
                "not a length",
            ),
            (
                "MAILYARD-SUBMIT 1\nDATA +1\n".into(),
                Exit::Usage,
                "not a length",
            ),
            (
                "MAILYARD-SUBMIT 1\nDATA \n".into(),
                Exit::Usage,
                "not a length",
            ),
            ("MAILYARD-SUBMIT 1\nDATA\n".into(), Exit::Usage, "unknown"),
            (
                "MAILYARD-SUBMIT 1\nDATA 99999999999999999999999\n".into(),
                Exit::Usage,
                "not a length",
            ),
            // Refused before a byte of the message is read.
            (
                "MAILYARD-SUBMIT 1\nRCPT a@b\nDATA 1001\n".into(),
                Exit::DataErr,
                "message_size (1000 octets)",
            ),
            (
                "MAILYARD-SUBMIT 1\nFULLNAME a\tb\n".into(),
                Exit::Usage,
                "control character",
            ),
            (
                "MAILYARD-SUBMIT 1\nRCPT a\rb\n".into(),
                Exit::Usage,
                "control",
            ),
            (
                "MAILYARD-SUBMIT 1\nRCPT a\0b\n".into(),
                Exit::Usage,
                "control",
            ),
        ];
        for (input, exit, needle) in rows {
            let f = parse_split(input.as_bytes()).expect_err(&input);
            assert_eq!(f.exit, exit, "{input:?}: {f:?}");
            assert!(f.message.contains(needle), "{input:?}: {f:?}");
        }
        let f = parse_split(b"MAILYARD-SUBMIT 1\nRCPT \xff\n").expect_err("not UTF-8");
        assert!(f.message.contains("UTF-8"), "{f:?}");
    }

    #[test]
    fn encode_refuses_what_cannot_be_carried() {
        let s = sub(|s| s.recipients = vec!["a@b\nDATA 0".into()]);
        assert_eq!(
            encode_head(&s, End::Check).expect_err("LF").exit,
            Exit::Usage
        );
        let s = sub(|s| s.full_name = Some("x".repeat(MAX_LINE)));
        assert_eq!(
            encode_head(&s, End::Check).expect_err("long").exit,
            Exit::Usage
        );
    }

    #[test]
    fn reply_table() {
        type Row = (&'static [u8], Result<&'static str, (Exit, &'static str)>);
        let rows: &[Row] = &[
            (b"OK delivered\n", Ok("delivered")),
            (b"OK queued as 17a\r\n", Ok("queued as 17a")),
            (
                b"ERR 67 x@y: no such user\n",
                Err((Exit::NoUser, "x@y: no such user")),
            ),
            (b"ERR 65 too big\n", Err((Exit::DataErr, "too big"))),
            (b"ERR 75\n", Err((Exit::TempFail, ""))),
        ];
        for (line, want) in rows {
            let got = parse_reply(line).map_err(|f| (f.exit, f.message));
            let want = want
                .map(str::to_string)
                .map_err(|(e, m)| (e, m.to_string()));
            assert_eq!(got, want, "{line:?}");
        }
        for garbled in [
            &b"OK delivered"[..],
            b"ok fine\n",
            b"ERR x y\n",
            b"ERR 0 fine\n",
            b"ERR 12 what\n",
            b"ERR 999 what\n",
            b"\xff\n",
            b"",
        ] {
            let f = parse_reply(garbled).expect_err("garbled");
            assert_eq!(f.exit, Exit::Protocol, "{garbled:?}");
        }
        // Encoded replies are one line, parse back, and stay under MAX_REPLY.
        let ok = encode_reply(&Ok("queued as 1".into()));
        assert_eq!(ok, b"OK queued as 1\n");
        let err = encode_reply(&Err(Failure::new(Exit::NoUser, "a\nb")));
        assert_eq!(err, b"ERR 67 a b\n");
        assert_eq!(parse_reply(&err).expect_err("err").exit, Exit::NoUser);
        let long = encode_reply(&Err(Failure::new(Exit::DataErr, "é".repeat(MAX_REPLY))));
        assert!(long.len() <= MAX_REPLY && long.ends_with(b"\n"));
        assert_eq!(parse_reply(&long).expect_err("err").exit, Exit::DataErr);
    }
}
