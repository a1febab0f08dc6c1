//! IMAP URLs (RFC 5092) naming one message or message part, with the URLAUTH
//! pieces of RFC 4467 (`;EXPIRE=`, `;URLAUTH=access`, `:mechanism:token`).
//!
//! Pure: a string in, an [`ImapUrl`] out. What CATENATE (RFC 4469 §3), URLFETCH and
//! GENURLAUTH (RFC 4467 §6, §7) and BURL (RFC 4468 §3.3) need:
//!
//! - absolute: `imap://[enc-user[;AUTH=…]@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n
//!   [/;SECTION=s][/;PARTIAL=a[.b]][;EXPIRE=t][;URLAUTH=access[:mech:token]]`
//!   (RFC 5092 §6 `imapurl`, RFC 4467 §9 `authimapurl`);
//! - absolute path: the same from the `/` before the mailbox (RFC 5092 §6
//!   `iabsolute-path`), what CATENATE clients send (RFC 4469 §3);
//! - `;UID=n[/;SECTION=s][/;PARTIAL=a[.b]]` (RFC 5092 §6 `imessagepart-nopath`),
//!   relative to the selected mailbox.
//!
//! Mailbox lists and searches (`imessagelist`, no `;UID=`) name no message and are
//! refused, as are other relative forms. Keywords are case-insensitive (RFC 5092
//! §6 note). `%XX` escapes are decoded in the user, mailbox and section (RFC 5092
//! §3.1 `enc-*`); the mailbox is UTF-8 (RFC 5092 §3.2). Like Dovecot, an access
//! identifier's user may carry a bare `@` (`user+fred@example.com`), which strict
//! `achar` would not allow.
//!
//! [`ImapUrl::rump`] is the URL up to and including the access identifier (RFC 4467
//! §3: the "URLAUTH-authorized URL" minus `:mechanism:token`): what the token signs.

use mailyard_common::time::days_from_civil;

/// Longest URL accepted, in bytes. RFC 5092 sets no limit; a URL that names one
/// message part is short, and the command line limit bounds it anyway.
pub const MAX_URL_LEN: usize = 8 * 1024;

/// Fewest hex digits of a URLAUTH token. RFC 4467 §9 `enc-urlauth = 32*HEXDIG`
/// (128 bits).
pub const MIN_TOKEN_HEX: usize = 32;

/// The server part of an absolute URL. RFC 5092 §6 `iserver`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `enc-user`, decoded; None when absent (anonymous, RFC 5092 §3.2).
    pub user: Option<String>,
    /// `host`, lower-cased.
    pub host: String,
    /// `port`.
    pub port: Option<u16>,
}

/// Who may use a URLAUTH-authorized URL. RFC 4467 §3 `access`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `submit+user`: only a message submission server acting for `user`.
    Submit(String),
    /// `user+user`: only `user`, logged in.
    User(String),
    /// `authuser`: any user logged in to this server.
    AuthUser,
    /// `anonymous`: anyone.
    Anonymous,
}

/// An IMAP URL naming one message or message part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// Absolute URL: its server. None for a relative URL.
    pub server: Option<Server>,
    /// The mailbox, decoded; None for `;UID=…` relative to the selected mailbox.
    pub mailbox: Option<String>,
    /// `;UIDVALIDITY=n`.
    pub uidvalidity: Option<u32>,
    /// `;UID=n`.
    pub uid: u32,
    /// `;SECTION=…`, decoded (an IMAP `section-spec`, RFC 5092 §6 `enc-section`).
    pub section: Option<String>,
    /// `;PARTIAL=start[.count]`.
    pub partial: Option<(u64, Option<u64>)>,
    /// `;EXPIRE=…` as unix seconds (RFC 4467 §3, RFC 3339 date-time).
    pub expire: Option<i64>,
    /// `;URLAUTH=access` (RFC 4467 §3).
    pub access: Option<Access>,
    /// `:mechanism:token`: the mechanism upper-cased, the token as sent (RFC 4467
    /// §3 `iua-verifier`).
    pub verifier: Option<(String, String)>,
    /// Length of the rump (the URL before `:mechanism:token`).
    rump_len: usize,
}

/// Why a string is not an IMAP URL we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// Longer than [`MAX_URL_LEN`].
    TooLong,
    /// Not the syntax of RFC 5092 / RFC 4467.
    Syntax(&'static str),
    /// A valid URL that names no single message (a mailbox list, a search).
    NotAMessage,
}

impl ImapUrl {
    /// Parses `s`. See the module documentation for the forms accepted.
    pub fn parse(s: &str) -> Result<ImapUrl, UrlError> {
        if s.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        let mut url = ImapUrl {
            server: None,
            mailbox: None,
            uidvalidity: None,
            uid: 0,
            section: None,
            partial: None,
            expire: None,
            access: None,
            verifier: None,
            rump_len: s.len(),
        };
        let mut rest = s;
        if let Some(after) = s
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("imap://"))
            .and_then(|_| s.get(7..))
        {
            let end = after.find('/').ok_or(UrlError::NotAMessage)?;
            url.server = Some(parse_server(&after[..end])?);
            rest = &after[end..];
        }
        let mut params = if let Some(path) = rest.strip_prefix('/') {
            // `enc-mailbox [;UIDVALIDITY=n] "/" ;UID=…`: bchar has no `;`, so the
            // mailbox runs to the first `;`, less the `/` of `iuid`.
            let semi = path.find(';').ok_or(UrlError::NotAMessage)?;
            let (mailbox, params) = path.split_at(semi);
            if mailbox.contains('?') {
                return Err(UrlError::NotAMessage);
            }
            let (mailbox, slash) = match mailbox.strip_suffix('/') {
                Some(m) => (m, true),
                None => (mailbox, false),
            };
            if mailbox.is_empty() {
                return Err(UrlError::Syntax("empty mailbox"));
            }
            url.mailbox = Some(decode_utf8(mailbox, is_bchar)?);
            let mut params = Params::new(params);
            if !slash {
                let v = params
                    .take("UIDVALIDITY")?
                    .ok_or(UrlError::Syntax("expected /;UID="))?;
                url.uidvalidity = Some(nz_number(v)?);
                if !params.slash() {
                    return Err(UrlError::NotAMessage);
                }
            }
            params
        } else if url.server.is_none() && rest.starts_with(';') {
            Params::new(rest)
        } else {
            return Err(UrlError::Syntax("not an IMAP URL"));
        };
        url.uid = nz_number(params.take("UID")?.ok_or(UrlError::NotAMessage)?)?;
        if params.slash_then("SECTION") {
            let v = params.take("SECTION")?.ok_or(UrlError::Syntax("section"))?;
            url.section = Some(decode_utf8(v, is_bchar)?);
        }
        if params.slash_then("PARTIAL") {
            let v = params.take("PARTIAL")?.ok_or(UrlError::Syntax("partial"))?;
            url.partial = Some(partial_range(v)?);
        }
        if let Some(v) = params.take("EXPIRE")? {
            url.expire = Some(parse_rfc3339(v).ok_or(UrlError::Syntax("expire"))?);
        }
        if let Some(v) = params.take("URLAUTH")? {
            // access runs to the verifier's `:`; `achar` has no `:`.
            let (access, verifier) = match v.find(':') {
                Some(c) => (&v[..c], Some(&v[c + 1..])),
                None => (v, None),
            };
            url.access = Some(parse_access(access)?);
            if let Some(verifier) = verifier {
                url.rump_len = s.len() - verifier.len() - 1;
                let (mech, token) = verifier
                    .split_once(':')
                    .ok_or(UrlError::Syntax("expected :mechanism:token"))?;
                if mech.is_empty() || !mech.bytes().all(is_mech_char) {
                    return Err(UrlError::Syntax("mechanism"));
                }
                if token.len() < MIN_TOKEN_HEX || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(UrlError::Syntax("token"));
                }
                url.verifier = Some((mech.to_ascii_uppercase(), token.to_string()));
            }
        } else if url.expire.is_some() {
            return Err(UrlError::Syntax(";EXPIRE= without ;URLAUTH="));
        }
        if !params.rest.is_empty() {
            return Err(UrlError::Syntax("unexpected text after the URL"));
        }
        if url.access.is_some() && url.server.is_none() {
            // RFC 4467 §3: only absolute URLs carry authorization.
            return Err(UrlError::Syntax(";URLAUTH= needs an absolute URL"));
        }
        Ok(url)
    }

    /// The URL without `:mechanism:token` (RFC 4467 §3 the "rump"), from the string
    /// this was parsed from.
    pub fn rump<'s>(&self, original: &'s str) -> &'s str {
        original.get(..self.rump_len).unwrap_or(original)
    }
}

/// The `;NAME=value` parameters after the mailbox, consumed in order.
struct Params<'a> {
    rest: &'a str,
}

impl<'a> Params<'a> {
    fn new(rest: &'a str) -> Self {
        Params { rest }
    }

    /// `;NAME=value` (NAME case-insensitive) next: its value, up to the next `;` or
    /// `/`. A value may hold `/` only in the section (`bchar`), handled by the caller
    /// passing `SECTION`.
    fn take(&mut self, name: &str) -> Result<Option<&'a str>, UrlError> {
        let Some(after) = self.rest.strip_prefix(';') else {
            return Ok(None);
        };
        let Some(eq) = after.find('=') else {
            return Err(UrlError::Syntax("expected ;NAME=value"));
        };
        if !after[..eq].eq_ignore_ascii_case(name) {
            return Ok(None);
        }
        let value = &after[eq + 1..];
        let end = if name == "SECTION" {
            // enc-section is 1*bchar (may hold `/`), up to the next `;`, less the
            // `/` of a following `/;PARTIAL=`.
            let end = value.find(';').unwrap_or(value.len());
            if end < value.len() && value[..end].ends_with('/') {
                end - 1
            } else {
                end
            }
        } else if name == "URLAUTH" {
            // access and verifier run to the end or the next parameter.
            value.find(';').unwrap_or(value.len())
        } else {
            value.find([';', '/']).unwrap_or(value.len())
        };
        if end == 0 {
            return Err(UrlError::Syntax("empty value"));
        }
        self.rest = &value[end..];
        Ok(Some(&value[..end]))
    }

    /// Consumes a `/` before the next parameter.
    fn slash(&mut self) -> bool {
        match self.rest.strip_prefix('/') {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    /// Consumes `/` when `/;NAME=` follows.
    fn slash_then(&mut self, name: &str) -> bool {
        let Some(after) = self.rest.strip_prefix("/;") else {
            return false;
        };
        let matches = after
            .get(..name.len())
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
            && after.as_bytes().get(name.len()) == Some(&b'=');
        if matches {
            self.rest = &self.rest[1..];
        }
        matches
    }
}

/// RFC 5092 §6 `iserver = [iuserinfo "@"] host [":" port]`, `iuserinfo = enc-user
/// [iauth] / [enc-user] iauth`; `;AUTH=` is accepted and ignored (we are the server,
/// the session already authenticated).
fn parse_server(s: &str) -> Result<Server, UrlError> {
    let (userinfo, hostport) = match s.rfind('@') {
        Some(at) => (Some(&s[..at]), &s[at + 1..]),
        None => (None, s),
    };
    let user = match userinfo {
        Some(ui) => {
            let user = match ui.find(';') {
                Some(semi) => {
                    let auth = &ui[semi..];
                    // iauth = ";AUTH=" ( "*" / enc-auth-type ), enc-auth-type = 1*achar
                    let kind = auth
                        .get(..6)
                        .filter(|a| a.eq_ignore_ascii_case(";AUTH="))
                        .and_then(|_| auth.get(6..))
                        .unwrap_or_default();
                    if kind != "*" && (kind.is_empty() || !kind.bytes().all(is_achar)) {
                        return Err(UrlError::Syntax(";AUTH="));
                    }
                    &ui[..semi]
                }
                None => ui,
            };
            if user.is_empty() {
                None
            } else {
                Some(decode_utf8(user, is_achar)?)
            }
        }
        None => None,
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !hostport.ends_with(']') => {
            (h, Some(p.parse().map_err(|_| UrlError::Syntax("port"))?))
        }
        _ => (hostport, None),
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
    {
        return Err(UrlError::Syntax("host"));
    }
    Ok(Server {
        user,
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// RFC 4467 §9 `access = ("submit+" enc-user) / ("user+" enc-user) / "authuser" /
/// "anonymous"`.
fn parse_access(s: &str) -> Result<Access, UrlError> {
    let user = |rest: &str| -> Result<String, UrlError> {
        if rest.is_empty() {
            return Err(UrlError::Syntax("access user"));
        }
        decode_utf8(rest, |b| is_achar(b) || b == b'@')
    };
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("submit+") {
        Ok(Access::Submit(user(&s[7..])?))
    } else if lower.starts_with("user+") {
        Ok(Access::User(user(&s[5..])?))
    } else if lower == "authuser" {
        Ok(Access::AuthUser)
    } else if lower == "anonymous" {
        Ok(Access::Anonymous)
    } else {
        Err(UrlError::Syntax("access"))
    }
}

impl Access {
    /// The wire form (RFC 4467 §9 `access`), for building a rump.
    pub fn to_wire(&self) -> String {
        match self {
            Access::Submit(u) => format!("submit+{}", encode(u)),
            Access::User(u) => format!("user+{}", encode(u)),
            Access::AuthUser => "authuser".into(),
            Access::Anonymous => "anonymous".into(),
        }
    }
}

/// Percent-encodes what `achar` (plus `@`) does not allow.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if is_achar(b) || b == b'@' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RFC 5092 §6 `partial-range = number ["." nz-number]`.
fn partial_range(s: &str) -> Result<(u64, Option<u64>), UrlError> {
    let bad = UrlError::Syntax("partial range");
    let digits = |d: &str| -> Result<u64, UrlError> {
        if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad);
        }
        d.parse().map_err(|_| bad)
    };
    match s.split_once('.') {
        Some((a, b)) => {
            let count = digits(b)?;
            if count == 0 {
                return Err(bad);
            }
            Ok((digits(a)?, Some(count)))
        }
        None => Ok((digits(s)?, None)),
    }
}

/// RFC 9051 §9 `nz-number`.
fn nz_number(s: &str) -> Result<u32, UrlError> {
    if s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::Syntax("number"));
    }
    s.parse().map_err(|_| UrlError::Syntax("number"))
}

/// RFC 5092 §6 `uchar = unreserved / sub-delims-sh / pct-encoded`, `achar = uchar /
/// "&" / "="` (the `%` of pct-encoded is checked by [`decode_utf8`]).
fn is_achar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'&'
                | b'='
                | b'%'
        )
}

/// RFC 5092 §6 `bchar = achar / ":" / "@" / "/"`.
fn is_bchar(b: u8) -> bool {
    is_achar(b) || matches!(b, b':' | b'@' | b'/')
}

/// RFC 4467 §9 `uauth-mechanism = "INTERNAL" / 1*(ALPHA / DIGIT / "-" / ".")`.
fn is_mech_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.')
}

/// Checks every byte with `allowed`, decodes `%XX` and requires UTF-8.
fn decode_utf8(s: &str, allowed: impl Fn(u8) -> bool) -> Result<String, UrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if !allowed(b) {
            return Err(UrlError::Syntax("character not allowed"));
        }
        if b == b'%' {
            let hex = |k: usize| bytes.get(k).and_then(|&c| char::from(c).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(UrlError::Syntax("bad %-escape")),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::Syntax("not UTF-8"))
}

/// RFC 3339 §5.6 `date-time` (`2004-04-30T23:59:59Z`, fractions and offsets
/// allowed), as unix seconds. RFC 4467 §9 `expire = ";EXPIRE=" date-time`.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let d = b.get(from..from + len)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(d).ok()?.parse().ok())?
    };
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let days = days_from_civil(y as u16, mo as u8, d as u8);
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// Writes `url` for a response: an atom when it is one (URLs are made of atom
/// characters, RFC 4467 §9 uses `astring`), a quoted string otherwise.
pub fn write_url(out: &mut Vec<u8>, url: &str) {
    super::response::write_astring(out, url.as_bytes(), true);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(user: Option<&str>, host: &str, port: Option<u16>) -> Option<Server> {
        Some(Server {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
        })
    }

    fn url(mailbox: Option<&str>, uid: u32) -> ImapUrl {
        ImapUrl {
            server: None,
            mailbox: mailbox.map(str::to_string),
            uidvalidity: None,
            uid,
            section: None,
            partial: None,
            expire: None,
            access: None,
            verifier: None,
            rump_len: 0,
        }
    }

    /// RFC 5092's, RFC 4467's and RFC 4469's own examples, and Dovecot's forms.
    #[test]
    fn parses_the_rfc_examples() {
        let rows: Vec<(&str, ImapUrl)> = vec![
            // RFC 5092 §6 (iserver, PARTIAL).
            (
                "imap://minbari.example.org/gray-council;UIDVALIDITY=385759045/;UID=20/;PARTIAL=0.1024",
                ImapUrl {
                    server: server(None, "minbari.example.org", None),
                    uidvalidity: Some(385_759_045),
                    partial: Some((0, Some(1024))),
                    ..url(Some("gray-council"), 20)
                },
            ),
            // RFC 5092 §6, with ;AUTH= and a section.
            (
                "imap://;AUTH=GSSAPI@minbari.example.org/gray-council/;uid=20/;section=1.2",
                ImapUrl {
                    server: server(None, "minbari.example.org", None),
                    section: Some("1.2".into()),
                    ..url(Some("gray-council"), 20)
                },
            ),
            // RFC 5092 §7 (user, port, %-encoded UTF-8 mailbox).
            (
                "imap://michael@minbari.example.org:143/%E6%97%A5%E6%9C%AC%E8%AA%9E/;UID=7",
                ImapUrl {
                    server: server(Some("michael"), "minbari.example.org", Some(143)),
                    ..url(Some("日本語"), 7)
                },
            ),
            // RFC 4467 §4 (a rump) and §7 (an authorized URL).
            (
                "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred",
                ImapUrl {
                    server: server(Some("joe"), "example.com", None),
                    section: Some("1.2".into()),
                    access: Some(Access::Submit("fred".into())),
                    rump_len: 69,
                    ..url(Some("INBOX"), 20)
                },
            ),
            (
                "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038",
                ImapUrl {
                    server: server(Some("joe"), "example.com", None),
                    section: Some("1.2".into()),
                    access: Some(Access::Submit("fred".into())),
                    verifier: Some(("INTERNAL".into(), "91354a473744909de610943775f92038".into())),
                    rump_len: 69,
                    ..url(Some("INBOX"), 20)
                },
            ),
            (
                "imap://joe@example.com/INBOX/;uid=20/;section=1.2;expire=2004-04-30T23:59:59Z;urlauth=anonymous",
                ImapUrl {
                    server: server(Some("joe"), "example.com", None),
                    section: Some("1.2".into()),
                    expire: Some(1_083_369_599),
                    access: Some(Access::Anonymous),
                    ..url(Some("INBOX"), 20)
                },
            ),
            // RFC 4469 Appendix A (CATENATE's relative URLs).
            (
                "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER",
                ImapUrl {
                    uidvalidity: Some(385_759_045),
                    section: Some("HEADER".into()),
                    ..url(Some("Drafts"), 20)
                },
            ),
            (
                "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME",
                ImapUrl {
                    uidvalidity: Some(385_759_045),
                    section: Some("1.MIME".into()),
                    ..url(Some("Drafts"), 20)
                },
            ),
            (
                "/INBOX;UIDVALIDITY=785799047/;UID=11467",
                ImapUrl {
                    uidvalidity: Some(785_799_047),
                    ..url(Some("INBOX"), 11467)
                },
            ),
            // imaptest's forms: a hierarchy, a partial without count, authuser,
            // user+ with an address.
            (
                "/a/b/;uid=3/;partial=100000",
                ImapUrl {
                    partial: Some((100_000, None)),
                    ..url(Some("a/b"), 3)
                },
            ),
            (
                "imap://u@example.com/box/;uid=1;urlauth=authuser",
                ImapUrl {
                    server: server(Some("u"), "example.com", None),
                    access: Some(Access::AuthUser),
                    ..url(Some("box"), 1)
                },
            ),
            (
                "imap://u@example.com/box/;uid=1;urlauth=user+u@example.com",
                ImapUrl {
                    server: server(Some("u"), "example.com", None),
                    access: Some(Access::User("u@example.com".into())),
                    ..url(Some("box"), 1)
                },
            ),
            // RFC 5092 §6 imessagepart-nopath: relative to the selected mailbox.
            (
                ";UID=20/;SECTION=HEADER.FIELDS%20(SUBJECT)",
                ImapUrl {
                    section: Some("HEADER.FIELDS (SUBJECT)".into()),
                    ..url(None, 20)
                },
            ),
        ];
        for (input, mut want) in rows {
            if want.rump_len == 0 {
                want.rump_len = input.len();
            }
            assert_eq!(ImapUrl::parse(input), Ok(want.clone()), "{input}");
            let parsed = ImapUrl::parse(input).unwrap_or_else(|e| panic!("{input}: {e:?}"));
            if want.verifier.is_some() {
                assert!(input.starts_with(parsed.rump(input)));
                assert!(!parsed.rump(input).contains(":internal:"));
            } else {
                assert_eq!(parsed.rump(input), input);
            }
        }
    }

    #[test]
    fn refuses_what_names_no_message() {
        let rows: &[(&str, UrlError)] = &[
            // RFC 5092 §6: a mailbox list and a search.
            (
                "imap://michael@minbari.example.org/users.*",
                UrlError::NotAMessage,
            ),
            (
                "imap://;AUTH=*@minbari.example.org/gray%20council?SUBJECT%20shadows",
                UrlError::NotAMessage,
            ),
            ("imap://minbari.example.org", UrlError::NotAMessage),
            ("/INBOX;UIDVALIDITY=1", UrlError::NotAMessage),
            ("/INBOX/;UIDVALIDITY=1", UrlError::NotAMessage),
            ("/INBOX/;UID=0", UrlError::Syntax("number")),
            ("/INBOX/;UID=x", UrlError::Syntax("number")),
            (
                "/INBOX/;UID=1/;PARTIAL=1.0",
                UrlError::Syntax("partial range"),
            ),
            (
                "/INBOX/;UID=1;urlauth=anonymous",
                UrlError::Syntax(";URLAUTH= needs an absolute URL"),
            ),
            ("/INBOX/;UID=1/;SECTION=", UrlError::Syntax("empty value")),
            ("/INB%ZZOX/;UID=1", UrlError::Syntax("bad %-escape")),
            ("/INB OX/;UID=1", UrlError::Syntax("character not allowed")),
            (
                "/INBOX/;UID=1;junk=2",
                UrlError::Syntax("unexpected text after the URL"),
            ),
            (
                "http://example.com/INBOX/;UID=1",
                UrlError::Syntax("not an IMAP URL"),
            ),
            ("", UrlError::Syntax("not an IMAP URL")),
            ("/;UID=1", UrlError::Syntax("empty mailbox")),
            (
                "imap://a@b/INBOX/;UID=1;URLAUTH=anonymous:internal:abc",
                UrlError::Syntax("token"),
            ),
            (
                "imap://a@b/INBOX/;UID=1;URLAUTH=nobody",
                UrlError::Syntax("access"),
            ),
            (
                "imap://a@b/INBOX/;UID=1;EXPIRE=2004-13-30T23:59:59Z;URLAUTH=anonymous",
                UrlError::Syntax("expire"),
            ),
        ];
        for (input, want) in rows {
            assert_eq!(ImapUrl::parse(input), Err(*want), "{input}");
        }
        assert_eq!(
            ImapUrl::parse(&format!("/{}/;UID=1", "a".repeat(MAX_URL_LEN))),
            Err(UrlError::TooLong)
        );
    }

    /// Every prefix of every valid row is refused or parsed, never a panic; so is
    /// non-ASCII text where a keyword or the scheme is expected.
    #[test]
    fn prefixes_never_panic() {
        for odd in [
            "imap:/é/x/;uid=1",
            "imapé//a@b/x/;uid=1",
            "imap://a;AUTé@b/x/;uid=1",
            "imap://a;AUTH=é@b/x/;uid=1",
            "/x/;uidé=1",
            "/x/;uid=1;urlauth=usé",
            "/é/;uid=1/;section=é",
            "imap://é@é/é/;uid=1;expire=é;urlauth=anonymous",
        ] {
            assert!(ImapUrl::parse(odd).is_err(), "{odd}");
        }
        let s = "imap://joe;AUTH=*@example.com:143/INBOX;UIDVALIDITY=9/;uid=20/;section=1.2/;partial=1.2;expire=2004-04-30T23:59:59.5+02:00;urlauth=submit+fred:internal:91354a473744909de610943775f92038";
        assert!(ImapUrl::parse(s).is_ok());
        for k in 0..s.len() {
            let _ = ImapUrl::parse(&s[..k]);
        }
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:00:00-01:00"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.25Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00"), None);
        assert_eq!(parse_rfc3339("1970-01-01 00:00:00Z"), None);
        assert_eq!(parse_rfc3339("1970-01-01T24:00:00Z"), None);
    }

    #[test]
    fn access_round_trips() {
        for a in [
            Access::Submit("fred".into()),
            Access::User("u@example.com".into()),
            Access::AuthUser,
            Access::Anonymous,
        ] {
            assert_eq!(parse_access(&a.to_wire()), Ok(a.clone()));
        }
        assert_eq!(parse_access("user+a%20b"), Ok(Access::User("a b".into())));
    }
}
