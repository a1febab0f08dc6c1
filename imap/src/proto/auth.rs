//! The arguments of AUTHENTICATE (RFC 9051 §6.2.2, with the SASL-IR initial
//! response of RFC 4959 §3) and LOGIN (RFC 9051 §6.2.3), and the lines a client
//! sends in answer to an AUTHENTICATE continuation request.
//!
//! ```text
//! authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp] *(CRLF base64)
//! initial-resp = base64 / "="
//! login        = "LOGIN" SP userid SP password
//! ```

use base64::Engine as _;

use super::command::Command;
use super::parser::{PResult, ParseError, Parser};

/// A response to an AUTHENTICATE continuation. RFC 9051 §6.2.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResponse {
    /// Decoded base64 data.
    Data(Vec<u8>),
    /// `*`: the client cancels; answer `tag BAD`.
    Cancel,
}

/// Parses a line sent in answer to an AUTHENTICATE continuation request:
/// base64, or `*` to cancel. RFC 9051 §6.2.2.
pub fn parse_auth_response(line: &[u8]) -> Result<AuthResponse, ParseError> {
    if line == b"*" {
        return Ok(AuthResponse::Cancel);
    }
    decode_base64(line, 0).map(AuthResponse::Data)
}

fn decode_base64(data: &[u8], at: usize) -> Result<Vec<u8>, ParseError> {
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| ParseError::invalid(at, "invalid base64"))
}

impl Parser<'_> {
    /// AUTHENTICATE's arguments after `AUTHENTICATE`, SP included: the mechanism
    /// (upper-cased) and the decoded initial response, `Some(empty)` for `=`.
    pub(crate) fn authenticate_args(&mut self) -> PResult<Command> {
        self.sp()?;
        let mechanism = self.atom_upper()?;
        let initial_response = if self.eat(b' ') {
            let at = self.pos();
            if self.eat(b'=') {
                Some(Vec::new())
            } else {
                let b64 = self
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                if b64.is_empty() {
                    return self.fail("base64");
                }
                Some(decode_base64(b64, at)?)
            }
        } else {
            None
        };
        Ok(Command::Authenticate {
            mechanism,
            initial_response,
        })
    }

    /// LOGIN's arguments after `LOGIN`, SP included.
    pub(crate) fn login_args(&mut self) -> PResult<Command> {
        self.sp()?;
        let username = self.astring()?;
        self.sp()?;
        let password = self.astring()?;
        Ok(Command::Login { username, password })
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::ErrorKind;
    use super::super::testing::{b, check_errors, check_rows, s};
    use super::*;

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 9051 §6.2.2, RFC 4959 §3, Thunderbird.
            (
                b"A001 AUTHENTICATE GSSAPI",
                "A001",
                Command::Authenticate {
                    mechanism: s("GSSAPI"),
                    initial_response: None,
                },
            ),
            (
                b"2 authenticate PLAIN",
                "2",
                Command::Authenticate {
                    mechanism: s("PLAIN"),
                    initial_response: None,
                },
            ),
            (
                b"a01 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=",
                "a01",
                Command::Authenticate {
                    mechanism: s("PLAIN"),
                    initial_response: Some(b("test\0test\0test")),
                },
            ),
            (
                b"a02 AUTHENTICATE EXTERNAL =",
                "a02",
                Command::Authenticate {
                    mechanism: s("EXTERNAL"),
                    initial_response: Some(vec![]),
                },
            ),
            // RFC 9051 §6.2.3, Thunderbird's quoted form, literals.
            (
                b"a001 LOGIN SMITH SESAME",
                "a001",
                Command::Login {
                    username: s("SMITH"),
                    password: s("SESAME"),
                },
            ),
            (
                b"3 login \"user@example.org\" \"p\\\"w\\\\d\"",
                "3",
                Command::Login {
                    username: s("user@example.org"),
                    password: s("p\"w\\d"),
                },
            ),
            (
                b"A1 LOGIN {4}\r\nuser {6+}\r\np ss\"\\",
                "A1",
                Command::Login {
                    username: s("user"),
                    password: s("p ss\"\\"),
                },
            ),
        ]);
    }

    #[test]
    fn errors() {
        check_errors(vec![
            // Bad strings.
            (b"A1 LOGIN \"a\0\" b", Some("A1"), ErrorKind::Nul),
            (
                b"A1 LOGIN \"\xff\xfe\" b",
                Some("A1"),
                ErrorKind::InvalidUtf8,
            ),
            (
                b"A1 LOGIN {2}\r\n\xc3( b",
                Some("A1"),
                ErrorKind::InvalidUtf8,
            ),
            (b"A1 LOGIN \"abc", Some("A1"), ErrorKind::UnexpectedEnd),
            (b"A1 LOGIN {2}\r\na\0 b", Some("A1"), ErrorKind::Nul),
            // RFC 4959 §3: the initial response is base64 or `=`.
            (
                b"A1 AUTHENTICATE PLAIN !!",
                Some("A1"),
                ErrorKind::Expected("base64"),
            ),
            (
                b"A1 AUTHENTICATE PLAIN abc",
                Some("A1"),
                ErrorKind::Invalid("invalid base64"),
            ),
        ]);
    }

    #[test]
    fn continuation_lines() {
        assert_eq!(
            parse_auth_response(b"AHVzZXIAcGFzcw=="),
            Ok(AuthResponse::Data(b("\0user\0pass")))
        );
        assert_eq!(parse_auth_response(b""), Ok(AuthResponse::Data(vec![])));
        assert_eq!(parse_auth_response(b"*"), Ok(AuthResponse::Cancel));
        assert_eq!(
            parse_auth_response(b"not base64!").map_err(|e| e.kind),
            Err(ErrorKind::Invalid("invalid base64"))
        );
    }
}
