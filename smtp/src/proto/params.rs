//! ESMTP parameters of MAIL FROM and RCPT TO.
//!
//! RFC 5321 §4.1.2 (`esmtp-param`), RFC 1870 (SIZE), RFC 6152 (8BITMIME),
//! RFC 3030 (BINARYMIME), RFC 6531 (SMTPUTF8), RFC 3461 §4 (DSN: RET, ENVID,
//! NOTIFY, ORCPT, xtext), RFC 4954 §5 (AUTH).
//!
//! Keywords are case-insensitive (RFC 5321 §2.4); a repeated keyword is an
//! error (501), an unknown one is 555 (RFC 5321 §4.1.1.11). Whether an
//! extension was advertised (e.g. DSN) is the session's check.

/// Longest ENVID value, after xtext decoding. RFC 3461 §4.4.
pub const MAX_ENVID: usize = 100;
/// Longest ORCPT value (addr-type, ";" and the decoded address). RFC 3461 §4.2.
pub const MAX_ORCPT: usize = 500;

/// `BODY=` of MAIL FROM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    /// `7BIT`. RFC 6152 §2.
    SevenBit,
    /// `8BITMIME`. RFC 6152 §2.
    EightBitMime,
    /// `BINARYMIME` (BDAT only). RFC 3030 §3.
    BinaryMime,
}

/// `RET=` of MAIL FROM: how much of the message a DSN returns. RFC 3461 §4.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `FULL`: the whole message.
    Full,
    /// `HDRS`: the header section only.
    Hdrs,
}

/// `NOTIFY=` of RCPT TO. RFC 3461 §4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NEVER`: no DSN at all.
    Never,
    /// A non-empty set of `SUCCESS`, `FAILURE`, `DELAY`.
    On {
        /// `SUCCESS`
        success: bool,
        /// `FAILURE`
        failure: bool,
        /// `DELAY`
        delay: bool,
    },
}

/// The parameters of a MAIL FROM command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=` the client's size estimate in octets; values beyond `u64` are
    /// read as `u64::MAX` (RFC 1870 §6 allows up to 20 digits).
    pub size: Option<u64>,
    /// `BODY=`. RFC 6152, RFC 3030.
    pub body: Option<Body>,
    /// `SMTPUTF8` (no value). RFC 6531 §3.4.
    pub smtputf8: bool,
    /// `RET=`. RFC 3461 §4.3.
    pub ret: Option<Ret>,
    /// `ENVID=`, xtext-decoded. RFC 3461 §4.4.
    pub envid: Option<String>,
    /// `AUTH=`, xtext-decoded: a mailbox or `<>`. RFC 4954 §5.
    pub auth: Option<String>,
}

/// The parameters of a RCPT TO command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    /// `NOTIFY=`. RFC 3461 §4.1.
    pub notify: Option<Notify>,
    /// `ORCPT=addr-type;xtext` as (addr-type, decoded address). RFC 3461 §4.2.
    pub orcpt: Option<(String, String)>,
}

/// Why the parameters did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A keyword we do not know (555 5.5.4). The keyword is uppercased and
    /// at most 32 characters of `esmtp-keyword` syntax.
    #[error("unrecognized parameter {0}")]
    Unknown(String),
    /// A known keyword with a bad, missing or unexpected value (501 5.5.4).
    #[error("invalid {keyword} parameter: {reason}")]
    Invalid {
        /// The keyword, uppercased.
        keyword: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// The same keyword twice (501 5.5.4).
    #[error("duplicate {0} parameter")]
    Duplicate(&'static str),
    /// Not `keyword[=value]` separated by spaces (501 5.5.4).
    #[error("malformed parameter")]
    Malformed,
}

impl MailParams {
    /// Parses the parameters after `MAIL FROM:<path>` (already split off the
    /// path; leading and trailing spaces are ignored).
    pub fn parse(s: &str) -> Result<Self, ParamError> {
        let mut p = MailParams::default();
        for (keyword, value) in split_params(s)? {
            match keyword.to_ascii_uppercase().as_str() {
                "SIZE" => {
                    set_once(&mut p.size, "SIZE", parse_size(value)?)?;
                }
                "BODY" => {
                    let v = need_value("BODY", value)?;
                    let body = if v.eq_ignore_ascii_case("7BIT") {
                        Body::SevenBit
                    } else if v.eq_ignore_ascii_case("8BITMIME") {
                        Body::EightBitMime
                    } else if v.eq_ignore_ascii_case("BINARYMIME") {
                        Body::BinaryMime
                    } else {
                        return Err(invalid("BODY", "expected 7BIT, 8BITMIME or BINARYMIME"));
                    };
                    set_once(&mut p.body, "BODY", body)?;
                }
                "SMTPUTF8" => {
                    if value.is_some() {
                        return Err(invalid("SMTPUTF8", "takes no value"));
                    }
                    if p.smtputf8 {
                        return Err(ParamError::Duplicate("SMTPUTF8"));
                    }
                    p.smtputf8 = true;
                }
                "RET" => {
                    let v = need_value("RET", value)?;
                    let ret = if v.eq_ignore_ascii_case("FULL") {
                        Ret::Full
                    } else if v.eq_ignore_ascii_case("HDRS") {
                        Ret::Hdrs
                    } else {
                        return Err(invalid("RET", "expected FULL or HDRS"));
                    };
                    set_once(&mut p.ret, "RET", ret)?;
                }
                "ENVID" => {
                    let v = need_value("ENVID", value)?;
                    let decoded = xtext_decode(v).ok_or_else(|| invalid("ENVID", "bad xtext"))?;
                    if decoded.len() > MAX_ENVID {
                        return Err(invalid("ENVID", "longer than 100 characters"));
                    }
                    set_once(&mut p.envid, "ENVID", decoded)?;
                }
                "AUTH" => {
                    let v = need_value("AUTH", value)?;
                    let decoded = xtext_decode(v).ok_or_else(|| invalid("AUTH", "bad xtext"))?;
                    set_once(&mut p.auth, "AUTH", decoded)?;
                }
                _ => return Err(unknown(keyword)),
            }
        }
        Ok(p)
    }
}

impl RcptParams {
    /// Parses the parameters after `RCPT TO:<path>`.
    pub fn parse(s: &str) -> Result<Self, ParamError> {
        let mut p = RcptParams::default();
        for (keyword, value) in split_params(s)? {
            match keyword.to_ascii_uppercase().as_str() {
                "NOTIFY" => {
                    let v = need_value("NOTIFY", value)?;
                    set_once(&mut p.notify, "NOTIFY", parse_notify(v)?)?;
                }
                "ORCPT" => {
                    let v = need_value("ORCPT", value)?;
                    set_once(&mut p.orcpt, "ORCPT", parse_orcpt(v)?)?;
                }
                _ => return Err(unknown(keyword)),
            }
        }
        Ok(p)
    }
}

/// Splits `esmtp-param *(SP esmtp-param)` into (keyword, value). RFC 5321
/// §4.1.2: `esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`,
/// `esmtp-value = 1*(%d33-60 / %d62-126)`, plus UTF-8 (RFC 6531 §3.3).
/// Runs of spaces are accepted as one separator (harmless leniency).
fn split_params(s: &str) -> Result<Vec<(&str, Option<&str>)>, ParamError> {
    let mut out = Vec::new();
    for param in s.split(' ').filter(|p| !p.is_empty()) {
        let (keyword, value) = match param.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (param, None),
        };
        let keyword_ok = keyword
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && keyword
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !keyword_ok {
            return Err(ParamError::Malformed);
        }
        if let Some(v) = value {
            let value_ok = !v.is_empty()
                && v.chars().all(|c| {
                    (c.is_ascii_graphic() && c != '=') || (!c.is_ascii() && !c.is_control())
                });
            if !value_ok {
                return Err(ParamError::Malformed);
            }
        }
        out.push((keyword, value));
    }
    Ok(out)
}

fn set_once<T>(slot: &mut Option<T>, keyword: &'static str, value: T) -> Result<(), ParamError> {
    if slot.is_some() {
        return Err(ParamError::Duplicate(keyword));
    }
    *slot = Some(value);
    Ok(())
}

fn need_value<'a>(keyword: &'static str, value: Option<&'a str>) -> Result<&'a str, ParamError> {
    value.ok_or(ParamError::Invalid {
        keyword,
        reason: "value required",
    })
}

fn invalid(keyword: &'static str, reason: &'static str) -> ParamError {
    ParamError::Invalid { keyword, reason }
}

fn unknown(keyword: &str) -> ParamError {
    let mut k = keyword.to_ascii_uppercase();
    k.truncate(32); // ASCII by the keyword syntax check, so a char boundary
    ParamError::Unknown(k)
}

/// `size-value = 1*20DIGIT`. RFC 1870 §6.
fn parse_size(value: Option<&str>) -> Result<u64, ParamError> {
    let v = need_value("SIZE", value)?;
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("SIZE", "expected 1 to 20 digits"));
    }
    Ok(v.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// `notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"`, or `NEVER`
/// alone. RFC 3461 §4.1.
fn parse_notify(v: &str) -> Result<Notify, ParamError> {
    if v.eq_ignore_ascii_case("NEVER") {
        return Ok(Notify::Never);
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for item in v.split(',') {
        if item.eq_ignore_ascii_case("SUCCESS") {
            success = true;
        } else if item.eq_ignore_ascii_case("FAILURE") {
            failure = true;
        } else if item.eq_ignore_ascii_case("DELAY") {
            delay = true;
        } else if item.eq_ignore_ascii_case("NEVER") {
            return Err(invalid("NOTIFY", "NEVER cannot be combined"));
        } else {
            return Err(invalid(
                "NOTIFY",
                "expected NEVER or SUCCESS, FAILURE, DELAY",
            ));
        }
    }
    Ok(Notify::On {
        success,
        failure,
        delay,
    })
}

/// `orcpt-parameter = "ORCPT=" original-recipient-address`,
/// `original-recipient-address = addr-type ";" xtext`, `addr-type = atom`.
/// RFC 3461 §4.2.
fn parse_orcpt(v: &str) -> Result<(String, String), ParamError> {
    let (addr_type, xtext) = v
        .split_once(';')
        .ok_or_else(|| invalid("ORCPT", "expected addr-type;address"))?;
    let atom_ok = !addr_type.is_empty()
        && addr_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b));
    if !atom_ok {
        return Err(invalid("ORCPT", "bad addr-type"));
    }
    let addr = xtext_decode(xtext).ok_or_else(|| invalid("ORCPT", "bad xtext"))?;
    if addr.is_empty() {
        return Err(invalid("ORCPT", "empty address"));
    }
    if addr_type.len() + 1 + addr.len() > MAX_ORCPT {
        return Err(invalid("ORCPT", "longer than 500 characters"));
    }
    Ok((addr_type.to_string(), addr))
}

/// Decodes xtext: `xtext = *( xchar / hexchar )`, `xchar` any of `!`..`~`
/// except `+` and `=`, `hexchar = "+" 2HEXDIG`. RFC 3461 §4. Lowercase hex
/// digits and raw UTF-8 (RFC 6531 §3.3 esmtp-value) are accepted; the decoded
/// octets must be UTF-8 without control characters. `None` when malformed.
pub fn xtext_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                let hi = hex_digit(*bytes.get(i + 1)?)?;
                let lo = hex_digit(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'=' => return None,
            b'!'..=b'~' | 0x80.. => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    let text = String::from_utf8(out).ok()?;
    if text.chars().any(char::is_control) {
        return None;
    }
    Some(text)
}

/// Encodes `s` as xtext (RFC 3461 §4): `+`, `=`, and bytes outside `!`..`~`
/// become `+XX` (uppercase hex).
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push('+');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_params_table() {
        let rows: &[(&str, Result<MailParams, ParamError>)] = &[
            ("", Ok(MailParams::default())),
            ("   ", Ok(MailParams::default())),
            // RFC 1870 §6.
            (
                "SIZE=500000",
                Ok(MailParams {
                    size: Some(500_000),
                    ..Default::default()
                }),
            ),
            (
                "size=0",
                Ok(MailParams {
                    size: Some(0),
                    ..Default::default()
                }),
            ),
            (
                "SIZE=99999999999999999999",
                Ok(MailParams {
                    size: Some(u64::MAX),
                    ..Default::default()
                }),
            ),
            (
                "SIZE=123456789012345678901",
                Err(invalid("SIZE", "expected 1 to 20 digits")),
            ),
            ("SIZE=-1", Err(invalid("SIZE", "expected 1 to 20 digits"))),
            ("SIZE=1k", Err(invalid("SIZE", "expected 1 to 20 digits"))),
            ("SIZE", Err(invalid("SIZE", "value required"))),
            ("SIZE=", Err(ParamError::Malformed)),
            // RFC 6152 / RFC 3030.
            (
                "BODY=8BITMIME",
                Ok(MailParams {
                    body: Some(Body::EightBitMime),
                    ..Default::default()
                }),
            ),
            (
                "body=7bit",
                Ok(MailParams {
                    body: Some(Body::SevenBit),
                    ..Default::default()
                }),
            ),
            (
                "BODY=BINARYMIME",
                Ok(MailParams {
                    body: Some(Body::BinaryMime),
                    ..Default::default()
                }),
            ),
            (
                "BODY=9BIT",
                Err(invalid("BODY", "expected 7BIT, 8BITMIME or BINARYMIME")),
            ),
            // RFC 6531 §3.4.
            (
                "SMTPUTF8",
                Ok(MailParams {
                    smtputf8: true,
                    ..Default::default()
                }),
            ),
            (
                "smtputf8",
                Ok(MailParams {
                    smtputf8: true,
                    ..Default::default()
                }),
            ),
            ("SMTPUTF8=yes", Err(invalid("SMTPUTF8", "takes no value"))),
            ("SMTPUTF8 SMTPUTF8", Err(ParamError::Duplicate("SMTPUTF8"))),
            // RFC 3461 §4.3, §4.4 and its example ENVID=QQ314159.
            (
                "RET=HDRS ENVID=QQ314159",
                Ok(MailParams {
                    ret: Some(Ret::Hdrs),
                    envid: Some("QQ314159".into()),
                    ..Default::default()
                }),
            ),
            (
                "RET=full",
                Ok(MailParams {
                    ret: Some(Ret::Full),
                    ..Default::default()
                }),
            ),
            ("RET=BODY", Err(invalid("RET", "expected FULL or HDRS"))),
            (
                "ENVID=a+2Bb+3Dc",
                Ok(MailParams {
                    envid: Some("a+b=c".into()),
                    ..Default::default()
                }),
            ),
            ("ENVID=a+2", Err(invalid("ENVID", "bad xtext"))),
            ("ENVID=a+0Ab", Err(invalid("ENVID", "bad xtext"))),
            // RFC 4954 §5 (example: AUTH=e+3Dmc2@example.com).
            (
                "AUTH=e+3Dmc2@example.com",
                Ok(MailParams {
                    auth: Some("e=mc2@example.com".into()),
                    ..Default::default()
                }),
            ),
            (
                "AUTH=<>",
                Ok(MailParams {
                    auth: Some("<>".into()),
                    ..Default::default()
                }),
            ),
            // Combination, RFC 5321 spacing; runs of spaces tolerated.
            (
                "SIZE=10  BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=x AUTH=<>",
                Ok(MailParams {
                    size: Some(10),
                    body: Some(Body::EightBitMime),
                    smtputf8: true,
                    ret: Some(Ret::Full),
                    envid: Some("x".into()),
                    auth: Some("<>".into()),
                }),
            ),
            // Duplicates and unknowns.
            ("SIZE=1 size=2", Err(ParamError::Duplicate("SIZE"))),
            ("BODY=7BIT BODY=7BIT", Err(ParamError::Duplicate("BODY"))),
            ("XFOO=1", Err(ParamError::Unknown("XFOO".into()))),
            ("x-custom", Err(ParamError::Unknown("X-CUSTOM".into()))),
            ("NOTIFY=NEVER", Err(ParamError::Unknown("NOTIFY".into()))),
            // Malformed.
            ("-X=1", Err(ParamError::Malformed)),
            ("=1", Err(ParamError::Malformed)),
            ("SIZE=1=2", Err(ParamError::Malformed)),
            ("SIZE=1\t", Err(ParamError::Malformed)),
            ("SI_ZE=1", Err(ParamError::Malformed)),
        ];
        for (input, expected) in rows {
            assert_eq!(MailParams::parse(input), *expected, "{input:?}");
        }
        let long = "x".repeat(101);
        assert_eq!(
            MailParams::parse(&format!("ENVID={long}")),
            Err(invalid("ENVID", "longer than 100 characters"))
        );
        assert!(MailParams::parse(&format!("ENVID={}", "x".repeat(100))).is_ok());
    }

    #[test]
    fn rcpt_params_table() {
        let on = |success, failure, delay| {
            Some(Notify::On {
                success,
                failure,
                delay,
            })
        };
        let rows: &[(&str, Result<RcptParams, ParamError>)] = &[
            ("", Ok(RcptParams::default())),
            // RFC 3461 §4.1.
            (
                "NOTIFY=NEVER",
                Ok(RcptParams {
                    notify: Some(Notify::Never),
                    orcpt: None,
                }),
            ),
            (
                "NOTIFY=SUCCESS",
                Ok(RcptParams {
                    notify: on(true, false, false),
                    orcpt: None,
                }),
            ),
            (
                "NOTIFY=SUCCESS,FAILURE,DELAY",
                Ok(RcptParams {
                    notify: on(true, true, true),
                    orcpt: None,
                }),
            ),
            (
                "notify=delay,failure",
                Ok(RcptParams {
                    notify: on(false, true, true),
                    orcpt: None,
                }),
            ),
            (
                "NOTIFY=NEVER,SUCCESS",
                Err(invalid("NOTIFY", "NEVER cannot be combined")),
            ),
            (
                "NOTIFY=SUCCESS,NEVER",
                Err(invalid("NOTIFY", "NEVER cannot be combined")),
            ),
            (
                "NOTIFY=SOMETIMES",
                Err(invalid(
                    "NOTIFY",
                    "expected NEVER or SUCCESS, FAILURE, DELAY",
                )),
            ),
            (
                "NOTIFY=SUCCESS,",
                Err(invalid(
                    "NOTIFY",
                    "expected NEVER or SUCCESS, FAILURE, DELAY",
                )),
            ),
            ("NOTIFY", Err(invalid("NOTIFY", "value required"))),
            // RFC 3461 §4.2 and its examples (§9).
            (
                "ORCPT=rfc822;Bob@Big-Box.Example",
                Ok(RcptParams {
                    notify: None,
                    orcpt: Some(("rfc822".into(), "Bob@Big-Box.Example".into())),
                }),
            ),
            (
                "NOTIFY=FAILURE ORCPT=rfc822;Carol@Ivory.EDU",
                Ok(RcptParams {
                    notify: on(false, true, false),
                    orcpt: Some(("rfc822".into(), "Carol@Ivory.EDU".into())),
                }),
            ),
            (
                "ORCPT=rfc822;a+2Bb@x",
                Ok(RcptParams {
                    notify: None,
                    orcpt: Some(("rfc822".into(), "a+b@x".into())),
                }),
            ),
            (
                "ORCPT=rfc822",
                Err(invalid("ORCPT", "expected addr-type;address")),
            ),
            ("ORCPT=;a@b", Err(invalid("ORCPT", "bad addr-type"))),
            ("ORCPT=rfc822;", Err(invalid("ORCPT", "empty address"))),
            ("ORCPT=rfc822;a+zz", Err(invalid("ORCPT", "bad xtext"))),
            (
                "ORCPT=rfc822;a ORCPT=rfc822;b",
                Err(ParamError::Duplicate("ORCPT")),
            ),
            ("SIZE=1", Err(ParamError::Unknown("SIZE".into()))),
        ];
        for (input, expected) in rows {
            assert_eq!(RcptParams::parse(input), *expected, "{input:?}");
        }
        let long = "x".repeat(500);
        assert_eq!(
            RcptParams::parse(&format!("ORCPT=rfc822;{long}")),
            Err(invalid("ORCPT", "longer than 500 characters"))
        );
    }

    #[test]
    fn xtext_round_trip() {
        let rows: &[(&str, &str)] = &[
            ("", ""),
            ("plain", "plain"),
            ("a+b=c", "a+2Bb+3Dc"),
            ("a b", "a+20b"),
            ("<>", "<>"),
            ("ü", "+C3+BC"),
        ];
        for (plain, encoded) in rows {
            assert_eq!(xtext_encode(plain), *encoded);
            assert_eq!(xtext_decode(encoded).as_deref(), Some(*plain));
        }
        assert_eq!(xtext_decode("+c3+bc").as_deref(), Some("ü"));
        assert_eq!(xtext_decode("ü").as_deref(), Some("ü"));
        for bad in ["+", "+4", "+G0", "a=b", "a b", "+FF", "+00", "a\tb"] {
            assert_eq!(xtext_decode(bad), None, "{bad:?}");
        }
    }
}
