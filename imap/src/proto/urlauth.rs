//! The arguments of the URLAUTH commands: GENURLAUTH, RESETKEY and URLFETCH
//! (RFC 4467 §4, §6, §7, grammar §9), with URLFETCH's parameters from RFC 5524 §3.
//! The URLs themselves are parsed by [`super::url`] when the session uses them.
//!
//! ```text
//! genurlauth     = "GENURLAUTH" 1*(SP url-rump SP mechanism)
//! url-rump       = astring
//! mechanism      = "INTERNAL" / 1*(ALPHA / DIGIT / "-" / ".")
//! resetkey       = "RESETKEY" [SP mailbox *(SP mechanism)]
//! urlfetch       = "URLFETCH" 1*(SP url)   ; RFC 5524 §6:
//! url            =/ "(" url *(SP urlfetch-param) ")"
//! urlfetch-param = "BODYPARTSTRUCTURE" / "BINARY" / "BODY"
//! ```

use super::command::Command;
use super::parser::{PResult, ParseError, Parser};

/// Most URLs in one GENURLAUTH or URLFETCH. RFC 4467 sets no limit; each costs a
/// message (or key) read, and clients send one or a few.
pub const MAX_URLS: usize = 100;

/// One URLFETCH argument. RFC 4467 §6, RFC 5524 §3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlFetchArg {
    /// The URL, not yet parsed.
    pub url: String,
    /// RFC 5524 §3: the parenthesized form, with what it asks for; None for a bare
    /// URL (its content as a string, RFC 4467 §6).
    pub params: Option<UrlFetchParams>,
}

/// RFC 5524 §3 `urlfetch-param`s of one URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlFetchParams {
    /// `BODYPARTSTRUCTURE`
    pub body_part_structure: bool,
    /// `BINARY`: the content decoded.
    pub binary: bool,
    /// `BODY`: the content as stored.
    pub body: bool,
}

impl Parser<'_> {
    /// GENURLAUTH's arguments after `GENURLAUTH`, SP included: URL rumps with
    /// their mechanism, upper-cased; at most [`MAX_URLS`].
    pub(crate) fn genurlauth_args(&mut self) -> PResult<Command> {
        let mut urls = Vec::new();
        loop {
            self.sp()?;
            let url = self.astring()?;
            self.sp()?;
            let at = self.pos();
            let mechanism = self.atom_upper()?;
            if !mechanism
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
            {
                return Err(ParseError::invalid(at, "URLAUTH mechanism"));
            }
            urls.push((url, mechanism));
            if urls.len() > MAX_URLS {
                return Err(ParseError::invalid(at, "too many URLs"));
            }
            if self.at_end() {
                return Ok(Command::GenUrlAuth { urls });
            }
        }
    }

    /// RESETKEY's arguments after `RESETKEY`, SP included (if any).
    pub(crate) fn resetkey_args(&mut self) -> PResult<Command> {
        let mut mailbox = None;
        let mut mechanisms = Vec::new();
        if !self.at_end() {
            mailbox = Some(self.sp_mailbox()?);
            while !self.at_end() {
                self.sp()?;
                mechanisms.push(self.atom_upper()?);
            }
        }
        Ok(Command::ResetKey {
            mailbox,
            mechanisms,
        })
    }

    /// URLFETCH's arguments after `URLFETCH`, SP included; at most [`MAX_URLS`].
    /// BINARY and BODY exclude each other (RFC 5524 §3).
    pub(crate) fn urlfetch_args(&mut self) -> PResult<Command> {
        let mut urls = Vec::new();
        loop {
            self.sp()?;
            let at = self.pos();
            let arg = if self.eat(b'(') {
                let url = self.astring()?;
                let mut params = UrlFetchParams::default();
                while !self.eat(b')') {
                    self.sp()?;
                    let at = self.pos();
                    let flag = match self.atom_upper()?.as_str() {
                        "BODYPARTSTRUCTURE" => &mut params.body_part_structure,
                        "BINARY" => &mut params.binary,
                        "BODY" => &mut params.body,
                        _ => return Err(ParseError::invalid(at, "unknown URLFETCH parameter")),
                    };
                    *flag = true;
                }
                if params.binary && params.body {
                    return Err(ParseError::invalid(
                        at,
                        "BINARY and BODY exclude each other",
                    ));
                }
                UrlFetchArg {
                    url,
                    params: Some(params),
                }
            } else {
                UrlFetchArg {
                    url: self.astring()?,
                    params: None,
                }
            };
            urls.push(arg);
            if urls.len() > MAX_URLS {
                return Err(ParseError::invalid(at, "too many URLs"));
            }
            if self.at_end() {
                return Ok(Command::UrlFetch { urls });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::ErrorKind;
    use super::super::testing::{check_errors, check_rows, s};
    use super::*;

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 4467 §7 / §6 examples, RFC 5524 §3 and imaptest urlauth-binary.
            (
                b"a002 GENURLAUTH \"imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred\" INTERNAL",
                "a002",
                Command::GenUrlAuth {
                    urls: vec![(
                        s("imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred"),
                        s("INTERNAL"),
                    )],
                },
            ),
            (
                b"a001 URLFETCH imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038",
                "a001",
                Command::UrlFetch {
                    urls: vec![UrlFetchArg {
                        url: s("imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038"),
                        params: None,
                    }],
                },
            ),
            (
                b"b URLFETCH (imap://a@b/X/;uid=1;urlauth=anonymous:internal:91354a473744909de610943775f92038 binary BODYPARTSTRUCTURE) \"/x\"",
                "b",
                Command::UrlFetch {
                    urls: vec![
                        UrlFetchArg {
                            url: s("imap://a@b/X/;uid=1;urlauth=anonymous:internal:91354a473744909de610943775f92038"),
                            params: Some(UrlFetchParams {
                                body_part_structure: true,
                                binary: true,
                                body: false,
                            }),
                        },
                        UrlFetchArg {
                            url: s("/x"),
                            params: None,
                        },
                    ],
                },
            ),
            (
                b"c RESETKEY",
                "c",
                Command::ResetKey {
                    mailbox: None,
                    mechanisms: vec![],
                },
            ),
            (
                b"c RESETKEY INBOX internal",
                "c",
                Command::ResetKey {
                    mailbox: Some(s("INBOX")),
                    mechanisms: vec![s("INTERNAL")],
                },
            ),
        ]);
    }

    #[test]
    fn errors() {
        check_errors(vec![
            // RFC 4467 §9, RFC 5524 §6.
            (b"A1 GENURLAUTH", Some("A1"), ErrorKind::UnexpectedEnd),
            (
                b"A1 GENURLAUTH \"imap://a@b/X/;uid=1;urlauth=anonymous\"",
                Some("A1"),
                ErrorKind::UnexpectedEnd,
            ),
            (b"A1 URLFETCH", Some("A1"), ErrorKind::UnexpectedEnd),
            (
                b"A1 URLFETCH (x FOO)",
                Some("A1"),
                ErrorKind::Invalid("unknown URLFETCH parameter"),
            ),
            (
                b"A1 URLFETCH (x BINARY BODY)",
                Some("A1"),
                ErrorKind::Invalid("BINARY and BODY exclude each other"),
            ),
        ]);
    }
}
