//! SMTP command lines: `parse_command` turns one line (without its CRLF) into
//! a typed [`Command`].
//!
//! RFC 5321 §4.1.1 (commands), §4.1.2 (argument syntax), §2.4 (verbs are
//! case-insensitive), RFC 3030 §2 (BDAT), RFC 3207 §4 (STARTTLS), RFC 4954 §4
//! (AUTH), and the parameter RFCs listed in [`super::params`].
//!
//! Lenient where real clients deviate harmlessly: spaces after `MAIL FROM:` /
//! `RCPT TO:` before `<`, runs of spaces between arguments, trailing spaces,
//! extra words after the EHLO/HELO domain. Strict where it matters: paths must
//! be in angle brackets, parameters must be well formed, unknown parameters
//! are refused. Which commands a state allows, and whether an extension was
//! offered, is the session's business.

use super::address::{
    AddressError, ForwardPath, ReversePath, parse_forward_path, parse_reverse_path,
};
use super::params::{MailParams, ParamError, RcptParams};
use super::reply::Reply;

/// Longest SASL mechanism name. RFC 4422 §3.1 (`sasl-mech = 1*20mech-char`).
pub const MAX_SASL_MECHANISM: usize = 20;

/// Longest EHLO/HELO argument we keep: a domain (RFC 5321 §4.5.3.1.2) or an
/// address literal.
pub const MAX_HELO_ARGUMENT: usize = 255;

/// One SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain-or-literal`. RFC 5321 §4.1.1.1.
    Ehlo(String),
    /// `HELO domain`. RFC 5321 §4.1.1.1.
    Helo(String),
    /// `MAIL FROM:<reverse-path> [params]`. RFC 5321 §4.1.1.2.
    Mail {
        /// The sender, or `<>`.
        from: ReversePath,
        /// The ESMTP parameters.
        params: MailParams,
    },
    /// `RCPT TO:<forward-path> [params]`. RFC 5321 §4.1.1.3.
    Rcpt {
        /// The recipient, or `<Postmaster>`.
        to: ForwardPath,
        /// The ESMTP parameters.
        params: RcptParams,
    },
    /// `DATA`. RFC 5321 §4.1.1.4.
    Data,
    /// `BDAT size [LAST]`. RFC 3030 §2.
    Bdat {
        /// Octets in this chunk.
        size: u64,
        /// `LAST`: this chunk ends the message.
        last: bool,
    },
    /// `BURL absolute-URI [LAST]`: message data fetched from a URL. RFC 4468 §3.5.
    Burl {
        /// The URL as sent.
        url: String,
        /// `LAST`: this part ends the message.
        last: bool,
    },
    /// `RSET`. RFC 5321 §4.1.1.5.
    Rset,
    /// `NOOP [string]`, the argument ignored. RFC 5321 §4.1.1.9.
    Noop,
    /// `QUIT`. RFC 5321 §4.1.1.10.
    Quit,
    /// `VRFY string`. RFC 5321 §4.1.1.6.
    Vrfy(String),
    /// `EXPN string`. RFC 5321 §4.1.1.7.
    Expn(String),
    /// `HELP [string]`. RFC 5321 §4.1.1.8.
    Help(Option<String>),
    /// `STARTTLS`. RFC 3207 §4.
    StartTls,
    /// `AUTH mechanism [initial-response]`. RFC 4954 §4.
    Auth {
        /// The SASL mechanism, uppercased.
        mechanism: String,
        /// The initial response as sent: base64, or `=` for an empty one
        /// (decode with `mailyard_common::sasl`).
        initial_response: Option<String>,
    },
}

/// The verbs, for error reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// EHLO
    Ehlo,
    /// HELO
    Helo,
    /// MAIL
    Mail,
    /// RCPT
    Rcpt,
    /// DATA
    Data,
    /// BDAT
    Bdat,
    /// BURL
    Burl,
    /// RSET
    Rset,
    /// NOOP
    Noop,
    /// QUIT
    Quit,
    /// VRFY
    Vrfy,
    /// EXPN
    Expn,
    /// HELP
    Help,
    /// STARTTLS
    StartTls,
    /// AUTH
    Auth,
}

impl Verb {
    /// The verb as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Ehlo => "EHLO",
            Verb::Helo => "HELO",
            Verb::Mail => "MAIL",
            Verb::Rcpt => "RCPT",
            Verb::Data => "DATA",
            Verb::Bdat => "BDAT",
            Verb::Burl => "BURL",
            Verb::Rset => "RSET",
            Verb::Noop => "NOOP",
            Verb::Quit => "QUIT",
            Verb::Vrfy => "VRFY",
            Verb::Expn => "EXPN",
            Verb::Help => "HELP",
            Verb::StartTls => "STARTTLS",
            Verb::Auth => "AUTH",
        }
    }

    /// Case-insensitive lookup. RFC 5321 §2.4.
    fn from_bytes(word: &[u8]) -> Option<Self> {
        const VERBS: [Verb; 15] = [
            Verb::Ehlo,
            Verb::Helo,
            Verb::Mail,
            Verb::Rcpt,
            Verb::Data,
            Verb::Bdat,
            Verb::Burl,
            Verb::Rset,
            Verb::Noop,
            Verb::Quit,
            Verb::Vrfy,
            Verb::Expn,
            Verb::Help,
            Verb::StartTls,
            Verb::Auth,
        ];
        VERBS
            .into_iter()
            .find(|v| v.as_str().as_bytes().eq_ignore_ascii_case(word))
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a command line did not parse; [`CommandError::reply`] gives the reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Not a command we know (500 5.5.2). RFC 5321 §4.2.4.
    #[error("unrecognized command")]
    UnknownCommand,
    /// Bad arguments to a known command (501 5.5.4). RFC 5321 §4.2.3.
    #[error("syntax error in {verb} arguments: {reason}")]
    Syntax {
        /// The command.
        verb: Verb,
        /// What was wrong.
        reason: &'static str,
    },
    /// An ESMTP parameter we do not know (555 5.5.4). RFC 5321 §4.1.1.11.
    #[error("unrecognized parameter {keyword}")]
    UnknownParameter {
        /// The keyword, uppercased, at most 32 characters.
        keyword: String,
    },
    /// A known parameter with a bad value, repeated, or malformed
    /// (501 5.5.4).
    #[error("{0}")]
    InvalidParameter(ParamError),
    /// The MAIL FROM path did not parse (501 5.1.7). RFC 3463 §3.2.
    #[error("bad sender address: {0}")]
    BadSender(AddressError),
    /// The RCPT TO path did not parse (501 5.1.3). RFC 3463 §3.2.
    #[error("bad recipient address: {0}")]
    BadRecipient(AddressError),
}

impl CommandError {
    /// The reply for this error.
    ///
    /// Address syntax errors use 501 with X.1.7 (sender) / X.1.3 (recipient),
    /// as Postfix does: 501 is valid for any command (RFC 5321 §4.2.3 "syntax
    /// error in parameters or arguments", §4.5.3.1.9 "501 Path too long");
    /// 553 is left to the session for syntactically valid mailboxes it will
    /// not take (e.g. 553 5.6.7 for UTF-8 without SMTPUTF8).
    pub fn reply(&self) -> Reply {
        match self {
            CommandError::UnknownCommand => Reply::unknown_command(),
            CommandError::Syntax { verb, reason } => {
                Reply::syntax_error(&format!("{verb}: {reason}"))
            }
            CommandError::UnknownParameter { keyword } => Reply::unknown_parameter(keyword),
            CommandError::InvalidParameter(e) => Reply::syntax_error(&e.to_string()),
            CommandError::BadSender(e) => Reply::bad_sender_syntax(&e.to_string()),
            CommandError::BadRecipient(e) => Reply::bad_recipient_syntax(&e.to_string()),
        }
    }
}

impl From<ParamError> for CommandError {
    fn from(e: ParamError) -> Self {
        match e {
            ParamError::Unknown(keyword) => CommandError::UnknownParameter { keyword },
            other => CommandError::InvalidParameter(other),
        }
    }
}

/// Parses one command line without its line ending. RFC 5321 §4.1.1.
///
/// Never panics; the result owns its data.
pub fn parse_command(line: &[u8]) -> Result<Command, CommandError> {
    // The verb ends at the first space (RFC 5321 §4.1.1: SP separates the
    // command from its argument) or at the end of the line.
    let (word, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (
            line.get(..i).unwrap_or_default(),
            line.get(i + 1..).unwrap_or_default(),
        ),
        None => (line, &[][..]),
    };
    let verb = Verb::from_bytes(word).ok_or(CommandError::UnknownCommand)?;
    let syntax = |reason| CommandError::Syntax { verb, reason };
    // Commands are ASCII, but SMTPUTF8 (RFC 6531 §3.3) allows UTF-8 in
    // addresses, parameters and the EHLO domain; anything else is refused.
    let rest = std::str::from_utf8(rest).map_err(|_| syntax("invalid UTF-8"))?;
    if rest.chars().any(|c| c.is_control()) {
        return Err(syntax("control character in command"));
    }
    let rest = rest.trim_matches(' ');

    match verb {
        Verb::Ehlo | Verb::Helo => {
            // RFC 5321 §4.1.1.1: "EHLO" SP ( Domain / address-literal ).
            // Clients send anything here (bare hostnames, underscores, extra
            // words), and the argument has no security meaning; keep the first
            // word, checked for length and printable characters only.
            let domain = rest.split(' ').next().unwrap_or_default();
            if domain.is_empty() {
                return Err(syntax("domain name required"));
            }
            if domain.len() > MAX_HELO_ARGUMENT {
                return Err(syntax("domain name too long"));
            }
            Ok(if verb == Verb::Ehlo {
                Command::Ehlo(domain.to_string())
            } else {
                Command::Helo(domain.to_string())
            })
        }
        Verb::Mail => {
            // RFC 5321 §4.1.1.2: "MAIL FROM:" Reverse-path [SP Mail-parameters].
            let path = strip_prefix_ignore_case(rest, "FROM:")
                .ok_or_else(|| syntax("expected FROM:<address>"))?
                .trim_start_matches(' ');
            let (from, params) = parse_reverse_path(path).map_err(CommandError::BadSender)?;
            let params =
                after_path(params).ok_or_else(|| syntax("space required after address"))?;
            Ok(Command::Mail {
                from,
                params: MailParams::parse(params)?,
            })
        }
        Verb::Rcpt => {
            // RFC 5321 §4.1.1.3: "RCPT TO:" Forward-path [SP Rcpt-parameters].
            let path = strip_prefix_ignore_case(rest, "TO:")
                .ok_or_else(|| syntax("expected TO:<address>"))?
                .trim_start_matches(' ');
            let (to, params) = parse_forward_path(path).map_err(CommandError::BadRecipient)?;
            let params =
                after_path(params).ok_or_else(|| syntax("space required after address"))?;
            Ok(Command::Rcpt {
                to,
                params: RcptParams::parse(params)?,
            })
        }
        Verb::Data | Verb::Rset | Verb::Quit | Verb::StartTls => {
            if !rest.is_empty() {
                return Err(syntax("no arguments allowed"));
            }
            Ok(match verb {
                Verb::Data => Command::Data,
                Verb::Rset => Command::Rset,
                Verb::Quit => Command::Quit,
                _ => Command::StartTls,
            })
        }
        Verb::Noop => Ok(Command::Noop),
        Verb::Vrfy | Verb::Expn => {
            if rest.is_empty() {
                return Err(syntax("argument required"));
            }
            Ok(if verb == Verb::Vrfy {
                Command::Vrfy(rest.to_string())
            } else {
                Command::Expn(rest.to_string())
            })
        }
        Verb::Help => Ok(Command::Help((!rest.is_empty()).then(|| rest.to_string()))),
        Verb::Bdat => parse_bdat(rest).ok_or_else(|| syntax("expected BDAT <size> [LAST]")),
        Verb::Burl => parse_burl(rest).ok_or_else(|| syntax("expected BURL <url> [LAST]")),
        Verb::Auth => parse_auth(rest).map_err(syntax),
    }
}

/// `bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]`, `chunk-size =
/// 1*DIGIT`, `end-marker = "LAST"`. RFC 3030 §2. A size beyond `u64` is
/// refused (it could never be transferred).
fn parse_bdat(rest: &str) -> Option<Command> {
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let size = words.next()?;
    if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let size: u64 = size.parse().ok()?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return None,
    };
    if words.next().is_some() {
        return None;
    }
    Some(Command::Bdat { size, last })
}

/// `burl-cmd = "BURL" SP absolute-URI [SP end-marker]`, `end-marker = "LAST"`.
/// RFC 4468 §3.5. The URI is taken as one word of visible characters (RFC 3986 §4.3:
/// no spaces); its scheme and content are the session's business.
fn parse_burl(rest: &str) -> Option<Command> {
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let url = words.next()?;
    if !url.contains(':') || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return None,
    };
    if words.next().is_some() {
        return None;
    }
    Some(Command::Burl {
        url: url.to_string(),
        last,
    })
}

/// `"AUTH" SP sasl-mech [SP initial-response]`, `initial-response =
/// base64 / "="`. RFC 4954 §4; mechanism names per RFC 4422 §3.1.
fn parse_auth(rest: &str) -> Result<Command, &'static str> {
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let mechanism = words.next().ok_or("mechanism required")?;
    let mech_ok = mechanism.len() <= MAX_SASL_MECHANISM
        && mechanism
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !mech_ok {
        return Err("invalid mechanism name");
    }
    let initial_response = match words.next() {
        None => None,
        Some(ir) => {
            let ok = ir == "="
                || ir
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
            if !ok {
                return Err("initial response is not base64");
            }
            Some(ir.to_string())
        }
    };
    if words.next().is_some() {
        return Err("too many arguments");
    }
    Ok(Command::Auth {
        mechanism: mechanism.to_ascii_uppercase(),
        initial_response,
    })
}

/// After `<path>`: nothing, or SP then parameters. `None` when something
/// other than a space follows the `>`.
fn after_path(rest: &str) -> Option<&str> {
    if rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix(' ')
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::address::Mailbox;
    use super::super::line::{LineReceiver, LineResult};
    use super::super::params::{Body, Notify, Ret};
    use super::*;

    fn mb(local: &str, domain: &str) -> Mailbox {
        Mailbox {
            local: local.into(),
            domain: domain.into(),
        }
    }

    fn mail(local: &str, domain: &str) -> Command {
        Command::Mail {
            from: ReversePath::Mailbox(mb(local, domain)),
            params: MailParams::default(),
        }
    }

    fn rcpt(local: &str, domain: &str) -> Command {
        Command::Rcpt {
            to: ForwardPath::Mailbox(mb(local, domain)),
            params: RcptParams::default(),
        }
    }

    /// Sends `line` + CRLF through a [`LineReceiver`] split at every byte
    /// boundary (and bytewise) and parses what comes out: always exactly one
    /// line, parsing to `expected`.
    fn assert_streamed(line: &[u8], expected: &Result<Command, CommandError>) {
        let input = [line, b"\r\n"].concat();
        let mut splits: Vec<Vec<usize>> = (0..=input.len()).map(|k| vec![k]).collect();
        splits.push((1..input.len()).collect());
        for cuts in splits {
            let mut rx = LineReceiver::default();
            let mut buf: Vec<u8> = Vec::new();
            let mut parsed = Vec::new();
            let mut prev = 0;
            for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
                buf.extend_from_slice(&input[prev..cut]);
                prev = cut;
                loop {
                    match rx.next_line(&buf) {
                        LineResult::Line { line, consumed } => {
                            parsed.push(parse_command(line));
                            buf.drain(..consumed);
                        }
                        LineResult::TooLong { .. } => panic!("{line:?}: too long"),
                        LineResult::NeedMore { consumed } => {
                            buf.drain(..consumed);
                            break;
                        }
                    }
                }
            }
            assert_eq!(
                parsed,
                vec![expected.clone()],
                "{:?} cut at {cuts:?}",
                String::from_utf8_lossy(line)
            );
            assert!(buf.is_empty());
        }
    }

    fn syntax(verb: Verb, reason: &'static str) -> Result<Command, CommandError> {
        Err(CommandError::Syntax { verb, reason })
    }

    #[test]
    fn rfc5321_appendix_d_commands() {
        // Every client line of RFC 5321 Appendix D.1–D.4.
        let rows: &[(&str, Command)] = &[
            ("EHLO bar.com", Command::Ehlo("bar.com".into())),
            ("MAIL FROM:<Smith@bar.com>", mail("Smith", "bar.com")),
            ("RCPT TO:<Jones@foo.com>", rcpt("Jones", "foo.com")),
            ("RCPT TO:<Green@foo.com>", rcpt("Green", "foo.com")),
            ("RCPT TO:<Brown@foo.com>", rcpt("Brown", "foo.com")),
            ("DATA", Command::Data),
            ("QUIT", Command::Quit),
            ("RSET", Command::Rset),
            ("MAIL FROM:<JQP@bar.com>", mail("JQP", "bar.com")),
            ("RCPT TO:<Jones@XYZ.COM>", rcpt("Jones", "XYZ.COM")),
            ("EHLO foo.com", Command::Ehlo("foo.com".into())),
            ("VRFY Crispin", Command::Vrfy("Crispin".into())),
            ("MAIL FROM:<EAK@bar.com>", mail("EAK", "bar.com")),
            ("RCPT TO:<Admin.MRC@foo.com>", rcpt("Admin.MRC", "foo.com")),
        ];
        for (line, expected) in rows {
            assert_eq!(
                parse_command(line.as_bytes()).as_ref(),
                Ok(expected),
                "{line}"
            );
            assert_streamed(line.as_bytes(), &Ok(expected.clone()));
        }
    }

    #[test]
    fn commands_table() {
        let rows: Vec<(&str, Result<Command, CommandError>)> = vec![
            // Verbs are case-insensitive (RFC 5321 §2.4).
            (
                "ehlo client.example",
                Ok(Command::Ehlo("client.example".into())),
            ),
            (
                "HeLo client.example",
                Ok(Command::Helo("client.example".into())),
            ),
            ("EHLO [192.0.2.1]", Ok(Command::Ehlo("[192.0.2.1]".into()))),
            (
                "EHLO my_host extra words",
                Ok(Command::Ehlo("my_host".into())),
            ),
            ("EHLO   spaced  ", Ok(Command::Ehlo("spaced".into()))),
            ("EHLO", syntax(Verb::Ehlo, "domain name required")),
            ("EHLO ", syntax(Verb::Ehlo, "domain name required")),
            ("HELO", syntax(Verb::Helo, "domain name required")),
            ("data", Ok(Command::Data)),
            ("DATA ", Ok(Command::Data)),
            ("DATA x", syntax(Verb::Data, "no arguments allowed")),
            ("rset", Ok(Command::Rset)),
            ("NOOP", Ok(Command::Noop)),
            ("NOOP anything at all", Ok(Command::Noop)),
            ("QUIT", Ok(Command::Quit)),
            ("QUIT now", syntax(Verb::Quit, "no arguments allowed")),
            ("STARTTLS", Ok(Command::StartTls)),
            ("starttls", Ok(Command::StartTls)),
            ("STARTTLS x", syntax(Verb::StartTls, "no arguments allowed")),
            ("VRFY", syntax(Verb::Vrfy, "argument required")),
            (
                "EXPN Example-People",
                Ok(Command::Expn("Example-People".into())),
            ),
            (
                "VRFY <Smith@foo.com>",
                Ok(Command::Vrfy("<Smith@foo.com>".into())),
            ),
            ("HELP", Ok(Command::Help(None))),
            ("HELP MAIL", Ok(Command::Help(Some("MAIL".into())))),
            // MAIL: leniency about the space after the colon; strictness about <>.
            ("MAIL FROM: <a@b.example>", Ok(mail("a", "b.example"))),
            ("mail from:<a@b.example>", Ok(mail("a", "b.example"))),
            ("MAIL FROM:<a@b.example>  ", Ok(mail("a", "b.example"))),
            ("MAIL  FROM:<a@b.example>", Ok(mail("a", "b.example"))),
            (
                "MAIL FROM:<>",
                Ok(Command::Mail {
                    from: ReversePath::Null,
                    params: MailParams::default(),
                }),
            ),
            (
                "MAIL FROM:a@b.example",
                Err(CommandError::BadSender(AddressError::MissingOpeningBracket)),
            ),
            (
                "MAIL FROM:<a@b.example",
                Err(CommandError::BadSender(AddressError::MissingClosingBracket)),
            ),
            (
                "MAIL FROM:<postmaster>",
                Err(CommandError::BadSender(AddressError::MissingAt)),
            ),
            (
                "MAIL FROM <a@b.example>",
                syntax(Verb::Mail, "expected FROM:<address>"),
            ),
            (
                "MAIL TO:<a@b.example>",
                syntax(Verb::Mail, "expected FROM:<address>"),
            ),
            ("MAIL", syntax(Verb::Mail, "expected FROM:<address>")),
            (
                "MAIL FROM:<a@b.example>SIZE=1",
                syntax(Verb::Mail, "space required after address"),
            ),
            (
                "MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME",
                Ok(Command::Mail {
                    from: ReversePath::Mailbox(mb("a", "b.example")),
                    params: MailParams {
                        size: Some(1000),
                        body: Some(Body::EightBitMime),
                        ..Default::default()
                    },
                }),
            ),
            // RFC 3461 §9 example.
            (
                "MAIL FROM:<Alice@Pure-Heart.ORG> RET=HDRS ENVID=QQ314159",
                Ok(Command::Mail {
                    from: ReversePath::Mailbox(mb("Alice", "Pure-Heart.ORG")),
                    params: MailParams {
                        ret: Some(Ret::Hdrs),
                        envid: Some("QQ314159".into()),
                        ..Default::default()
                    },
                }),
            ),
            // RFC 4954 §5 example.
            (
                "MAIL FROM:<e=mc2@example.com> AUTH=e+3Dmc2@example.com",
                Ok(Command::Mail {
                    from: ReversePath::Mailbox(mb("e=mc2", "example.com")),
                    params: MailParams {
                        auth: Some("e=mc2@example.com".into()),
                        ..Default::default()
                    },
                }),
            ),
            // RFC 6531: UTF-8 address with SMTPUTF8 (the session checks the pairing).
            (
                "MAIL FROM:<用户@例子.广告> SMTPUTF8",
                Ok(Command::Mail {
                    from: ReversePath::Mailbox(mb("用户", "例子.广告")),
                    params: MailParams {
                        smtputf8: true,
                        ..Default::default()
                    },
                }),
            ),
            (
                "MAIL FROM:<a@b> XFOO",
                Err(CommandError::UnknownParameter {
                    keyword: "XFOO".into(),
                }),
            ),
            (
                "MAIL FROM:<a@b> SIZE=1 SIZE=2",
                Err(CommandError::InvalidParameter(ParamError::Duplicate(
                    "SIZE",
                ))),
            ),
            // RCPT.
            (
                "RCPT TO:<Postmaster>",
                Ok(Command::Rcpt {
                    to: ForwardPath::Postmaster,
                    params: RcptParams::default(),
                }),
            ),
            (
                "rcpt to: <postmaster>",
                Ok(Command::Rcpt {
                    to: ForwardPath::Postmaster,
                    params: RcptParams::default(),
                }),
            ),
            (
                "RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>",
                Ok(rcpt("userc", "d.bar.org")),
            ),
            (
                "RCPT TO:<>",
                Err(CommandError::BadRecipient(AddressError::Empty)),
            ),
            (
                "RCPT TO:Jones@foo.com",
                Err(CommandError::BadRecipient(
                    AddressError::MissingOpeningBracket,
                )),
            ),
            (
                "RCPT FROM:<a@b>",
                syntax(Verb::Rcpt, "expected TO:<address>"),
            ),
            // RFC 3461 §9 example.
            (
                "RCPT TO:<Bob@Big-Box.Example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob@Big-Box.Example",
                Ok(Command::Rcpt {
                    to: ForwardPath::Mailbox(mb("Bob", "Big-Box.Example")),
                    params: RcptParams {
                        notify: Some(Notify::On {
                            success: true,
                            failure: true,
                            delay: false,
                        }),
                        orcpt: Some(("rfc822".into(), "Bob@Big-Box.Example".into())),
                    },
                }),
            ),
            (
                "RCPT TO:<a@b> NOTIFY=NEVER,DELAY",
                Err(CommandError::InvalidParameter(ParamError::Invalid {
                    keyword: "NOTIFY",
                    reason: "NEVER cannot be combined",
                })),
            ),
            (
                "RCPT TO:<a@b> SIZE=1",
                Err(CommandError::UnknownParameter {
                    keyword: "SIZE".into(),
                }),
            ),
            // BURL, RFC 4468 §3.6 examples.
            (
                "BURL imap://harry@gray.example.com/outbox;uidvalidity=1078863300/;uid=25;urlauth=submit+harry:internal:91354a473744909de610943775f92038 LAST",
                Ok(Command::Burl {
                    url: "imap://harry@gray.example.com/outbox;uidvalidity=1078863300/;uid=25;urlauth=submit+harry:internal:91354a473744909de610943775f92038".into(),
                    last: true,
                }),
            ),
            (
                "burl imap://x@y/z/;uid=1 ",
                Ok(Command::Burl {
                    url: "imap://x@y/z/;uid=1".into(),
                    last: false,
                }),
            ),
            ("BURL", syntax(Verb::Burl, "expected BURL <url> [LAST]")),
            ("BURL nocolon LAST", syntax(Verb::Burl, "expected BURL <url> [LAST]")),
            ("BURL imap://x@y/z/;uid=1 FIRST", syntax(Verb::Burl, "expected BURL <url> [LAST]")),
            ("BURL imap://x@y/z/;uid=1 LAST x", syntax(Verb::Burl, "expected BURL <url> [LAST]")),
            // BDAT, RFC 3030 §2 and its §4.2 example.
            (
                "BDAT 86 LAST",
                Ok(Command::Bdat {
                    size: 86,
                    last: true,
                }),
            ),
            (
                "BDAT 100000",
                Ok(Command::Bdat {
                    size: 100_000,
                    last: false,
                }),
            ),
            (
                "bdat 0 last",
                Ok(Command::Bdat {
                    size: 0,
                    last: true,
                }),
            ),
            (
                "BDAT 18446744073709551615",
                Ok(Command::Bdat {
                    size: u64::MAX,
                    last: false,
                }),
            ),
            (
                "BDAT 18446744073709551616",
                syntax(Verb::Bdat, "expected BDAT <size> [LAST]"),
            ),
            ("BDAT", syntax(Verb::Bdat, "expected BDAT <size> [LAST]")),
            ("BDAT -1", syntax(Verb::Bdat, "expected BDAT <size> [LAST]")),
            ("BDAT +1", syntax(Verb::Bdat, "expected BDAT <size> [LAST]")),
            (
                "BDAT 1 FIRST",
                syntax(Verb::Bdat, "expected BDAT <size> [LAST]"),
            ),
            (
                "BDAT 1 LAST x",
                syntax(Verb::Bdat, "expected BDAT <size> [LAST]"),
            ),
            // AUTH, RFC 4954 §4.1 examples.
            (
                "AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=",
                Ok(Command::Auth {
                    mechanism: "PLAIN".into(),
                    initial_response: Some("dGVzdAB0ZXN0ADEyMzQ=".into()),
                }),
            ),
            (
                "AUTH PLAIN",
                Ok(Command::Auth {
                    mechanism: "PLAIN".into(),
                    initial_response: None,
                }),
            ),
            (
                "AUTH CRAM-MD5",
                Ok(Command::Auth {
                    mechanism: "CRAM-MD5".into(),
                    initial_response: None,
                }),
            ),
            (
                "AUTH EXTERNAL =",
                Ok(Command::Auth {
                    mechanism: "EXTERNAL".into(),
                    initial_response: Some("=".into()),
                }),
            ),
            (
                "auth login",
                Ok(Command::Auth {
                    mechanism: "LOGIN".into(),
                    initial_response: None,
                }),
            ),
            ("AUTH", syntax(Verb::Auth, "mechanism required")),
            ("AUTH PLAIN a b", syntax(Verb::Auth, "too many arguments")),
            (
                "AUTH PLAIN *",
                syntax(Verb::Auth, "initial response is not base64"),
            ),
            ("AUTH PL.AIN", syntax(Verb::Auth, "invalid mechanism name")),
            (
                "AUTH ABCDEFGHIJKLMNOPQRSTU",
                syntax(Verb::Auth, "invalid mechanism name"),
            ),
            // Unknown commands.
            ("", Err(CommandError::UnknownCommand)),
            (" DATA", Err(CommandError::UnknownCommand)),
            ("DATAX", Err(CommandError::UnknownCommand)),
            ("TURN", Err(CommandError::UnknownCommand)),
            ("GET / HTTP/1.1", Err(CommandError::UnknownCommand)),
            ("MAIL\tFROM:<a@b>", Err(CommandError::UnknownCommand)),
            ("EHLO\0", Err(CommandError::UnknownCommand)),
            // Control characters and bad UTF-8 in arguments.
            (
                "EHLO a\0b",
                syntax(Verb::Ehlo, "control character in command"),
            ),
            (
                "MAIL FROM:<a@b>\r",
                syntax(Verb::Mail, "control character in command"),
            ),
            (
                "NOOP \u{7f}",
                syntax(Verb::Noop, "control character in command"),
            ),
        ];
        for (line, expected) in &rows {
            assert_eq!(&parse_command(line.as_bytes()), expected, "{line:?}");
            assert_streamed(line.as_bytes(), expected);
        }
        assert_eq!(
            parse_command(b"EHLO \xff"),
            syntax(Verb::Ehlo, "invalid UTF-8")
        );
        assert_eq!(parse_command(b"\xff"), Err(CommandError::UnknownCommand));
        let long = "a".repeat(256);
        assert_eq!(
            parse_command(format!("EHLO {long}").as_bytes()),
            syntax(Verb::Ehlo, "domain name too long")
        );
    }

    #[test]
    fn error_replies() {
        let rows: &[(&str, u16, &str)] = &[
            ("FOO", 500, "5.5.2"),
            ("DATA x", 501, "5.5.4"),
            ("MAIL FROM:<a@b> XFOO=1", 555, "5.5.4"),
            ("MAIL FROM:<a@b> SIZE=x", 501, "5.5.4"),
            ("MAIL FROM:a@b", 501, "5.1.7"),
            ("RCPT TO:a@b", 501, "5.1.3"),
            ("RCPT TO:<a@b> NOTIFY=X", 501, "5.5.4"),
        ];
        for (line, code, status) in rows {
            let reply = match parse_command(line.as_bytes()) {
                Err(e) => e.reply(),
                Ok(c) => panic!("{line}: parsed as {c:?}"),
            };
            assert_eq!(reply.code, *code, "{line}");
            assert_eq!(
                reply.status.map(|s| s.to_string()).as_deref(),
                Some(*status),
                "{line}"
            );
        }
        // An unknown keyword is echoed, sanitised and short.
        let reply = parse_command(b"MAIL FROM:<a@b> XFOO=1").map_err(|e| e.reply());
        let text = String::from_utf8(reply.expect_err("must fail").to_bytes()).expect("UTF-8");
        assert!(text.contains("XFOO"), "{text}");
    }

    #[test]
    fn never_panics_on_any_prefix_or_byte() {
        let lines: &[&[u8]] = &[
            b"MAIL FROM:<@a,@b:\"x y\"@[IPv6:::1]> SIZE=1 BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=a+2B AUTH=<>",
            b"RCPT TO:<\"\xc3\xa9\"@x> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a+2Bb",
            "MAIL FROM:<用户@例子.广告> SMTPUTF8".as_bytes(),
            b"AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=",
            b"BDAT 12345678901234567890123 LAST",
        ];
        for line in lines {
            for end in 0..=line.len() {
                let _ = parse_command(&line[..end]);
                let _ = parse_command(&line[end..]);
            }
            for i in 0..line.len() {
                for b in [0u8, b'\r', b'\n', b' ', b'<', b'>', b'"', b'\\', 0x80, 0xff] {
                    let mut l = line.to_vec();
                    l[i] = b;
                    if let Err(e) = parse_command(&l) {
                        let _ = e.reply().to_bytes();
                    }
                }
            }
        }
    }
}
