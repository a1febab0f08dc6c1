//! SASL helpers shared by SMTP AUTH and IMAP AUTHENTICATE: PLAIN and LOGIN
//! decoding, base64 client responses, cancel and empty initial responses.
//!
//! RFC 4616 (PLAIN), RFC 4648 §4 (base64), RFC 4954 §4 (SMTP AUTH: `=` is an
//! empty initial response, `*` cancels), RFC 9051 §6.2.2 and RFC 4959 (the
//! same conventions in IMAP), draft-murchison-sasl-login (LOGIN).
//!
//! Invariant: passwords never appear in `Debug` output or in errors —
//! [`Password`] redacts itself, and no error carries client data other than
//! identities (needed to refuse proxy authentication).
//!
//! Reply mapping (SMTP / IMAP):
//! - [`SaslError::Cancelled`] → `501 5.0.0` (RFC 4954 §4) / tagged `BAD`.
//! - [`SaslError::InvalidBase64`] → `501 5.5.2` (RFC 4954 §4) / tagged `BAD`.
//! - [`SaslError::ProxyNotAllowed`] and the other malformed-message errors →
//!   `535 5.7.8` / tagged `NO [AUTHENTICATIONFAILED]`: the credentials were
//!   delivered but cannot be accepted.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

/// The LOGIN mechanism's first challenge, base64 of `Username:`.
pub const LOGIN_USERNAME_CHALLENGE: &str = "VXNlcm5hbWU6";
/// The LOGIN mechanism's second challenge, base64 of `Password:`.
pub const LOGIN_PASSWORD_CHALLENGE: &str = "UGFzc3dvcmQ6";

/// Longest authcid, authzid or password we accept, in octets. RFC 4616 §2
/// requires at least 255; we allow more for long passphrases but bound it.
pub const MAX_FIELD: usize = 1024;

/// RFC 4648 §4 alphabet; padding may be present or absent (clients differ,
/// and missing padding is unambiguous), but trailing bits must be zero and
/// any character outside the alphabet is refused (RFC 4954 §4).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A password: `Debug` prints `<redacted>`; read it with [`Password::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: String) -> Self {
        Self(password)
    }

    /// The password itself, for verification only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Password {
    /// The password itself, for verification only (as [`Password::expose`]).
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Credentials from a PLAIN message. RFC 4616 §2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// The authentication identity (user name).
    pub authcid: String,
    /// The password.
    pub password: Password,
}

/// Why a SASL response was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The client sent `*`. RFC 4954 §4 (501 5.0.0), RFC 9051 §6.2.2.
    #[error("authentication cancelled by the client")]
    Cancelled,
    /// Not base64 (RFC 4648 §4), as RFC 4954 §4 requires the server to
    /// detect (501 5.5.2).
    #[error("invalid base64")]
    InvalidBase64,
    /// The decoded text is not UTF-8 (RFC 4616 §2: UTF8-encoded).
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// Not `[authzid] NUL authcid NUL passwd`. RFC 4616 §2.
    #[error("malformed PLAIN message")]
    Malformed,
    /// Empty authcid or password (RFC 4616 §2: `1*SAFE`).
    #[error("empty user name or password")]
    Empty,
    /// A field over [`MAX_FIELD`] octets.
    #[error("field too long")]
    TooLong,
    /// An authzid other than the authcid: a request to act as someone
    /// else (RFC 4616 §2), which we do not support.
    #[error("proxy authentication as {authzid:?} is not allowed for {authcid:?}")]
    ProxyNotAllowed {
        /// The requested authorization identity.
        authzid: String,
        /// The authenticated identity.
        authcid: String,
    },
}

/// Decodes a client response line (a continuation line during AUTH /
/// AUTHENTICATE): `*` cancels, an empty line is an empty response, anything
/// else must be base64. RFC 4954 §4.
pub fn decode_b64_line(line: &str) -> Result<Vec<u8>, SaslError> {
    let line = line.trim_matches(' ');
    if line == "*" {
        return Err(SaslError::Cancelled);
    }
    BASE64
        .decode(line.as_bytes())
        .map_err(|_| SaslError::InvalidBase64)
}

/// Decodes the initial response argument of `AUTH mech <ir>` (or IMAP's
/// SASL-IR, RFC 4959): `=` is a present but empty response (RFC 4954 §4),
/// `*` cancels, anything else must be base64.
pub fn decode_initial_response(ir: &str) -> Result<Vec<u8>, SaslError> {
    if ir.trim_matches(' ') == "=" {
        return Ok(Vec::new());
    }
    decode_b64_line(ir)
}

/// Decodes a base64 PLAIN message (an initial response or a response line)
/// into credentials. RFC 4616 §2: `message = [authzid] UTF8NUL authcid
/// UTF8NUL passwd`. An authzid that is empty or equal to the authcid is
/// accepted; any other is [`SaslError::ProxyNotAllowed`].
pub fn decode_plain(b64: &str) -> Result<PlainCredentials, SaslError> {
    parse_plain(&decode_initial_response(b64)?)
}

/// Parses a decoded PLAIN message. See [`decode_plain`].
pub fn parse_plain(message: &[u8]) -> Result<PlainCredentials, SaslError> {
    let mut parts = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    if authzid.len() > MAX_FIELD || authcid.len() > MAX_FIELD || password.len() > MAX_FIELD {
        return Err(SaslError::TooLong);
    }
    let authzid = std::str::from_utf8(authzid).map_err(|_| SaslError::InvalidUtf8)?;
    let authcid = std::str::from_utf8(authcid).map_err(|_| SaslError::InvalidUtf8)?;
    let password = std::str::from_utf8(password).map_err(|_| SaslError::InvalidUtf8)?;
    if authcid.is_empty() || password.is_empty() {
        return Err(SaslError::Empty);
    }
    if !authzid.is_empty() && authzid != authcid {
        return Err(SaslError::ProxyNotAllowed {
            authzid: authzid.to_string(),
            authcid: authcid.to_string(),
        });
    }
    Ok(PlainCredentials {
        authcid: authcid.to_string(),
        password: Password(password.to_string()),
    })
}

/// Decodes the LOGIN user name: the initial response of `AUTH LOGIN <ir>`
/// or the answer to [`LOGIN_USERNAME_CHALLENGE`].
pub fn decode_login_username(line: &str) -> Result<String, SaslError> {
    let bytes = decode_initial_response(line)?;
    let text = login_text(bytes)?;
    Ok(text)
}

/// Decodes the LOGIN password: the answer to [`LOGIN_PASSWORD_CHALLENGE`].
pub fn decode_login_password(line: &str) -> Result<Password, SaslError> {
    let bytes = decode_b64_line(line)?;
    login_text(bytes).map(Password)
}

fn login_text(bytes: Vec<u8>) -> Result<String, SaslError> {
    if bytes.len() > MAX_FIELD {
        return Err(SaslError::TooLong);
    }
    let text = String::from_utf8(bytes).map_err(|_| SaslError::InvalidUtf8)?;
    if text.is_empty() {
        return Err(SaslError::Empty);
    }
    if text.contains('\0') {
        return Err(SaslError::Malformed);
    }
    Ok(text)
}

/// Encodes a server challenge as base64 (RFC 4648 §4, with padding).
pub fn encode_challenge(challenge: &[u8]) -> String {
    general_purpose::STANDARD.encode(challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str, pass: &str) -> PlainCredentials {
        PlainCredentials {
            authcid: user.into(),
            password: Password::new(pass.into()),
        }
    }

    #[test]
    fn plain_table() {
        let rows: &[(&str, Result<PlainCredentials, SaslError>)] = &[
            // RFC 4954 §4.1: "AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=" decodes to
            // "test\0test\01234" (authzid = authcid = "test").
            ("dGVzdAB0ZXN0ADEyMzQ=", Ok(creds("test", "1234"))),
            // Without padding (accepted).
            ("dGVzdAB0ZXN0ADEyMzQ", Ok(creds("test", "1234"))),
            // RFC 4616 §4 examples: "\0tim\0tanstaaftanstaaf" and, with an
            // authzid, "Ursel\0Kurt\0xipj3plmq" (proxy: refused here).
            (
                "AHRpbQB0YW5zdGFhZnRhbnN0YWFm",
                Ok(creds("tim", "tanstaaftanstaaf")),
            ),
            (
                "VXJzZWwAS3VydAB4aXBqM3BsbXE=",
                Err(SaslError::ProxyNotAllowed {
                    authzid: "Ursel".into(),
                    authcid: "Kurt".into(),
                }),
            ),
            // UTF-8 identities and passwords.
            (
                "AGrDvHJnZW4AcMOkc3N3w7ZydA==",
                Ok(creds("jürgen", "pässwört")),
            ),
            // Surrounding spaces tolerated.
            (
                " AHRpbQB0YW5zdGFhZnRhbnN0YWFm ",
                Ok(creds("tim", "tanstaaftanstaaf")),
            ),
            // Structure errors.
            ("=", Err(SaslError::Malformed)),
            ("", Err(SaslError::Malformed)),
            ("dGlt", Err(SaslError::Malformed)),         // "tim"
            ("AHRpbQ==", Err(SaslError::Malformed)),     // "\0tim"
            ("AHRpbQB4AHk=", Err(SaslError::Malformed)), // "\0tim\0x\0y"
            ("AAB4", Err(SaslError::Empty)),             // "\0\0x"
            ("AHRpbQA=", Err(SaslError::Empty)),         // "\0tim\0"
            ("AP90aW0AeA==", Err(SaslError::InvalidUtf8)), // "\0\xfftim\0x"
            // Cancel and bad base64 (RFC 4954 §4: reject "=AAA", "AAA=BBB").
            ("*", Err(SaslError::Cancelled)),
            ("=AAA", Err(SaslError::InvalidBase64)),
            ("AAA=BBB", Err(SaslError::InvalidBase64)),
            ("dGVz dAB0ZXN0ADEyMzQ=", Err(SaslError::InvalidBase64)),
            ("dGVzdAB0ZXN0ADEyMzQ=\r", Err(SaslError::InvalidBase64)),
            ("dGVzdAB0ZXN0ADEyMzR=", Err(SaslError::InvalidBase64)), // non-zero trailing bits
            ("dGVzdAB0ZXN0ADEyMzQ-", Err(SaslError::InvalidBase64)),
        ];
        for (input, expected) in rows {
            assert_eq!(decode_plain(input), *expected, "{input:?}");
        }
        // Authzid equal to authcid is fine (not proxying).
        assert_eq!(parse_plain(b"tim\0tim\0pw"), Ok(creds("tim", "pw")));
        assert_eq!(parse_plain(b"\0tim\0pw"), Ok(creds("tim", "pw")));
        let long = [b"\0".as_slice(), &[b'u'; MAX_FIELD + 1], b"\0pw"].concat();
        assert_eq!(parse_plain(&long), Err(SaslError::TooLong));
    }

    #[test]
    fn initial_response_and_lines() {
        let rows: &[(&str, Result<Vec<u8>, SaslError>)] = &[
            // RFC 4954 §4: "=" is a present but empty initial response.
            ("=", Ok(vec![])),
            ("*", Err(SaslError::Cancelled)),
            ("dGVzdA==", Ok(b"test".to_vec())),
            ("!!", Err(SaslError::InvalidBase64)),
        ];
        for (input, expected) in rows {
            assert_eq!(decode_initial_response(input), *expected, "{input:?}");
        }
        let rows: &[(&str, Result<Vec<u8>, SaslError>)] = &[
            // In a continuation line an empty line is the empty response;
            // "=" is not base64 there.
            ("", Ok(vec![])),
            ("=", Err(SaslError::InvalidBase64)),
            ("*", Err(SaslError::Cancelled)),
            (" * ", Err(SaslError::Cancelled)),
            ("**", Err(SaslError::InvalidBase64)),
            // RFC 4954 §4.1 CRAM-MD5 response.
            (
                "cmpzMyBlYzNhNTlmZWQzOTVhYmExZWM2MzY3YzRmNGI0MWFjMA==",
                Ok(b"rjs3 ec3a59fed395aba1ec6367c4f4b41ac0".to_vec()),
            ),
        ];
        for (input, expected) in rows {
            assert_eq!(decode_b64_line(input), *expected, "{input:?}");
        }
    }

    #[test]
    fn login_mechanism() {
        // The challenges are base64 of "Username:" and "Password:".
        assert_eq!(encode_challenge(b"Username:"), LOGIN_USERNAME_CHALLENGE);
        assert_eq!(encode_challenge(b"Password:"), LOGIN_PASSWORD_CHALLENGE);
        assert_eq!(encode_challenge(b""), "");
        let users: &[(&str, Result<String, SaslError>)] = &[
            ("dGlt", Ok("tim".into())),
            ("am9obkBleGFtcGxlLmNvbQ==", Ok("john@example.com".into())),
            ("*", Err(SaslError::Cancelled)),
            ("=", Err(SaslError::Empty)),
            ("", Err(SaslError::Empty)),
            ("/w==", Err(SaslError::InvalidUtf8)),
            ("dAB4", Err(SaslError::Malformed)), // "t\0x"
            ("%%%", Err(SaslError::InvalidBase64)),
        ];
        for (input, expected) in users {
            assert_eq!(decode_login_username(input), *expected, "{input:?}");
        }
        let passwords: &[(&str, Result<Password, SaslError>)] = &[
            ("dGFuc3RhYWY=", Ok(Password::new("tanstaaf".into()))),
            ("*", Err(SaslError::Cancelled)),
            ("", Err(SaslError::Empty)),
        ];
        for (input, expected) in passwords {
            assert_eq!(decode_login_password(input), *expected, "{input:?}");
        }
    }

    #[test]
    fn passwords_never_in_debug_or_errors() {
        let c = decode_plain("AHRpbQB0YW5zdGFhZnRhbnN0YWFm").expect("valid PLAIN");
        let dbg = format!("{c:?} {:?}", c.password);
        assert!(!dbg.contains("tanstaaf"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
        assert_eq!(c.password.expose(), "tanstaaftanstaaf");
        // Errors from a message with a password never carry it.
        let rows = [
            ("VXJzZWwAS3VydAB4aXBqM3BsbXE=", "xipj3plmq"), // proxy
            ("AHRpbQB4AHk=", "x\0y"),                      // malformed
            ("AP90aW0AeA==", "\0x"),                       // bad UTF-8
        ];
        for (input, secret) in rows {
            let e = decode_plain(input).expect_err("must fail");
            let text = format!("{e} {e:?}");
            assert!(!text.contains(secret), "{text}");
        }
        let p = decode_login_password("dGFuc3RhYWY=").expect("valid password");
        assert_eq!(format!("{p:?}"), "<redacted>");
    }

    #[test]
    fn never_panics() {
        let inputs = [
            "", "=", "*", "====", "A", "AA", "AAA", "AAAA", "A===", "\u{e9}", "\0",
        ];
        for i in inputs {
            let _ = decode_plain(i);
            let _ = decode_b64_line(i);
            let _ = decode_login_username(i);
            let _ = decode_login_password(i);
        }
        for len in 0..8 {
            let _ = parse_plain(&vec![0u8; len]);
        }
    }
}
