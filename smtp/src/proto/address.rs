//! Envelope addresses: Path, Mailbox, Local-part, Domain, address literals.
//!
//! RFC 5321 §4.1.2 (syntax), §4.1.3 (address literals), §4.5.3.1.1–3 (lengths),
//! §4.1.1.3 and §4.5.1 (`<Postmaster>`), Appendix C and F.2 (source routes,
//! accepted and dropped), RFC 6531 §3.3 (UTF-8 in local parts and domains).
//!
//! The parser accepts UTF-8 everywhere RFC 6531 allows it; whether that is
//! permitted in a given transaction (the MAIL command carried SMTPUTF8) is the
//! session's decision, made with [`Mailbox::is_ascii`].

use std::fmt;

/// Longest local part, in octets as transmitted. RFC 5321 §4.5.3.1.1.
pub const MAX_LOCAL_PART: usize = 64;
/// Longest domain, in octets. RFC 5321 §4.5.3.1.2.
pub const MAX_DOMAIN: usize = 255;
/// Longest reverse- or forward-path including `<`, `>` and any source route.
/// RFC 5321 §4.5.3.1.3.
pub const MAX_PATH: usize = 256;
/// Longest DNS label. RFC 1035 §2.3.4.
pub const MAX_LABEL: usize = 63;

/// A mailbox `local@domain`. RFC 5321 §4.1.2 `Mailbox`.
///
/// `local` is the local part with any quoting removed (`"a b"@x` gives
/// `a b`); `domain` is the domain as sent, or the address literal with its
/// brackets (`[192.0.2.1]`, `[IPv6:2001:db8::1]`). Neither is case-folded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part, unquoted.
    pub local: String,
    /// The domain or bracketed address literal.
    pub domain: String,
}

impl Mailbox {
    /// True when both parts are ASCII, i.e. the address needs no SMTPUTF8.
    /// RFC 6531 §3.4.
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.is_ascii()
    }

    /// True when the domain is an address literal. RFC 5321 §4.1.3.
    pub fn is_address_literal(&self) -> bool {
        self.domain.starts_with('[')
    }

    /// Parses a bare `local@domain` (no angle brackets), e.g. the decoded
    /// value of an `AUTH=` or `ORCPT=rfc822;` parameter.
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        let mut p = Parser::new(s);
        let mailbox = p.mailbox(false)?;
        match mailbox {
            Parsed::Mailbox(m) if p.at_end() => Ok(m),
            Parsed::Mailbox(_) => Err(AddressError::TrailingCharacters),
            Parsed::Postmaster => Err(AddressError::MissingAt),
        }
    }
}

impl fmt::Display for Mailbox {
    /// `local@domain`, the local part re-quoted when it is not a Dot-string
    /// (RFC 5321 §4.1.2: "a Quoted-string ... SHOULD NOT be used unless
    /// needed"), so the output parses back to the same mailbox.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_dot_string(&self.local) {
            write!(f, "{}@{}", self.local, self.domain)
        } else {
            f.write_str("\"")?;
            for ch in self.local.chars() {
                if ch == '"' || ch == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{ch}")?;
            }
            write!(f, "\"@{}", self.domain)
        }
    }
}

/// The argument of MAIL FROM. RFC 5321 §4.1.2 `Reverse-path`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`: no bounces (notifications are sent with it). RFC 5321 §4.5.5.
    Null,
    /// A sender mailbox.
    Mailbox(Mailbox),
}

impl fmt::Display for ReversePath {
    /// `<>` or `<local@domain>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// The argument of RCPT TO. RFC 5321 §4.1.2 `Forward-path`, §4.1.1.3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<Postmaster>` with no domain (any case), which every server MUST
    /// accept. RFC 5321 §4.5.1. `<postmaster@domain>` is a plain mailbox.
    Postmaster,
    /// A recipient mailbox.
    Mailbox(Mailbox),
}

impl fmt::Display for ForwardPath {
    /// `<Postmaster>` or `<local@domain>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// Why a path or mailbox did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The path does not start with `<` (RFC 5321 §4.1.2 `Path`).
    #[error("address must be enclosed in <>")]
    MissingOpeningBracket,
    /// No `>` closes the path.
    #[error("missing closing >")]
    MissingClosingBracket,
    /// `<>` where a mailbox is required (RCPT).
    #[error("empty address")]
    Empty,
    /// A bad `@domain,@domain:` source route (RFC 5321 §4.1.2 `A-d-l`).
    #[error("invalid source route")]
    InvalidSourceRoute,
    /// The local part is not a Dot-string or Quoted-string.
    #[error("invalid local part")]
    InvalidLocalPart,
    /// An unterminated Quoted-string.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// No `@` after the local part.
    #[error("missing @domain")]
    MissingAt,
    /// The domain is not a valid Domain (RFC 5321 §4.1.2).
    #[error("invalid domain")]
    InvalidDomain,
    /// A bad `[...]` address literal (RFC 5321 §4.1.3).
    #[error("invalid address literal")]
    InvalidAddressLiteral,
    /// Local part over [`MAX_LOCAL_PART`] octets.
    #[error("local part too long")]
    LocalPartTooLong,
    /// Domain over [`MAX_DOMAIN`] octets.
    #[error("domain too long")]
    DomainTooLong,
    /// Path over [`MAX_PATH`] octets. RFC 5321 §4.5.3.1.9 "501 Path too long".
    #[error("path too long")]
    PathTooLong,
    /// Characters after the address.
    #[error("unexpected characters after address")]
    TrailingCharacters,
}

/// Parses a reverse-path at the start of `s` (which must begin with `<`) and
/// returns it with the rest of `s` after the closing `>`. RFC 5321 §4.1.2.
pub fn parse_reverse_path(s: &str) -> Result<(ReversePath, &str), AddressError> {
    let (parsed, rest) = parse_path(s, PathKind::Reverse)?;
    let path = match parsed {
        None => ReversePath::Null,
        Some(Parsed::Mailbox(m)) => ReversePath::Mailbox(m),
        // Unreachable by construction (postmaster only allowed for Forward),
        // but mapped to an error rather than a panic.
        Some(Parsed::Postmaster) => return Err(AddressError::MissingAt),
    };
    Ok((path, rest))
}

/// Parses a forward-path at the start of `s` (which must begin with `<`) and
/// returns it with the rest of `s` after the closing `>`. RFC 5321 §4.1.2,
/// §4.1.1.3.
pub fn parse_forward_path(s: &str) -> Result<(ForwardPath, &str), AddressError> {
    let (parsed, rest) = parse_path(s, PathKind::Forward)?;
    let path = match parsed {
        None => return Err(AddressError::Empty),
        Some(Parsed::Mailbox(m)) => ForwardPath::Mailbox(m),
        Some(Parsed::Postmaster) => ForwardPath::Postmaster,
    };
    Ok((path, rest))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Reverse,
    Forward,
}

enum Parsed {
    Mailbox(Mailbox),
    Postmaster,
}

/// `Path = "<" [ A-d-l ":" ] Mailbox ">"`, plus `<>` (returned as `None`).
fn parse_path(s: &str, kind: PathKind) -> Result<(Option<Parsed>, &str), AddressError> {
    let mut p = Parser::new(s);
    if !p.eat(b'<') {
        return Err(AddressError::MissingOpeningBracket);
    }
    let result = if p.eat(b'>') {
        None
    } else {
        if p.peek() == Some(b'@') {
            p.source_route()?;
        }
        let parsed = p.mailbox(kind == PathKind::Forward)?;
        if !p.eat(b'>') {
            return Err(if p.at_end() {
                AddressError::MissingClosingBracket
            } else {
                AddressError::TrailingCharacters
            });
        }
        Some(parsed)
    };
    if p.pos > MAX_PATH {
        return Err(AddressError::PathTooLong);
    }
    Ok((result, p.rest()))
}

/// A byte cursor over a `&str`. Every position it stops at is either the end
/// or just before/after an ASCII byte, so slicing is always at a char
/// boundary.
struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Self { s, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Advances over bytes matching `f` and returns the slice passed over.
    /// `f` must accept either all or none of the bytes >= 0x80 so the slice
    /// ends on a char boundary.
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if !f(b) {
                break;
            }
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or("")
    }

    /// `A-d-l ":"` — `@one,@two:` — validated, then dropped (RFC 5321
    /// Appendix C: servers MUST be prepared to receive them; F.2: SHOULD
    /// ignore the route).
    fn source_route(&mut self) -> Result<(), AddressError> {
        loop {
            if !self.eat(b'@') {
                return Err(AddressError::InvalidSourceRoute);
            }
            let domain = self.take_while(is_domain_byte);
            if validate_domain(domain).is_err() {
                return Err(AddressError::InvalidSourceRoute);
            }
            if self.eat(b':') {
                return Ok(());
            }
            if !self.eat(b',') {
                return Err(AddressError::InvalidSourceRoute);
            }
        }
    }

    /// `Mailbox = Local-part "@" ( Domain / address-literal )`; with
    /// `allow_postmaster`, a bare `Postmaster` (any case, unquoted) followed by
    /// `>` is returned as [`Parsed::Postmaster`].
    fn mailbox(&mut self, allow_postmaster: bool) -> Result<Parsed, AddressError> {
        let start = self.pos;
        let local = if self.peek() == Some(b'"') {
            self.quoted_string()?
        } else {
            let atoms = self.take_while(|b| is_atext(b) || b == b'.');
            if atoms.is_empty() || !is_dot_string(atoms) {
                return Err(AddressError::InvalidLocalPart);
            }
            if allow_postmaster
                && self.peek() == Some(b'>')
                && atoms.eq_ignore_ascii_case("postmaster")
            {
                return Ok(Parsed::Postmaster);
            }
            atoms.to_string()
        };
        if self.pos - start > MAX_LOCAL_PART {
            return Err(AddressError::LocalPartTooLong);
        }
        if !self.eat(b'@') {
            return Err(match self.peek() {
                None | Some(b'>') => AddressError::MissingAt,
                Some(_) => AddressError::InvalidLocalPart,
            });
        }
        let domain = if self.peek() == Some(b'[') {
            self.address_literal()?
        } else {
            let d = self.take_while(is_domain_byte);
            validate_domain(d)?;
            d
        };
        Ok(Parsed::Mailbox(Mailbox {
            local,
            domain: domain.to_string(),
        }))
    }

    /// `Quoted-string = DQUOTE *QcontentSMTP DQUOTE`, returned unquoted.
    /// RFC 5321 §4.1.2; RFC 6531 §3.3 adds UTF-8 to qtextSMTP.
    fn quoted_string(&mut self) -> Result<String, AddressError> {
        let mut out = String::new();
        self.pos += 1; // the opening DQUOTE
        loop {
            let rest = self.rest();
            let mut chars = rest.chars();
            match chars.next() {
                None => return Err(AddressError::UnterminatedQuote),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    // quoted-pairSMTP = %d92 %d32-126
                    match chars.next() {
                        Some(c @ ' '..='~') => {
                            out.push(c);
                            self.pos += 2;
                        }
                        None => return Err(AddressError::UnterminatedQuote),
                        Some(_) => return Err(AddressError::InvalidLocalPart),
                    }
                }
                // qtextSMTP = %d32-33 / %d35-91 / %d93-126 / UTF8-non-ascii
                Some(c) if (' '..='~').contains(&c) || !c.is_ascii() => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
                Some(_) => return Err(AddressError::InvalidLocalPart),
            }
        }
    }

    /// `address-literal = "[" ( IPv4 / IPv6 / General ) "]"`. RFC 5321 §4.1.3.
    fn address_literal(&mut self) -> Result<&'a str, AddressError> {
        let start = self.pos;
        self.pos += 1; // '['
        let inner = self.take_while(|b| b != b']' && b != b'>' && b.is_ascii_graphic());
        if !self.eat(b']') {
            return Err(AddressError::InvalidAddressLiteral);
        }
        validate_address_literal(inner)?;
        if self.pos - start > MAX_DOMAIN {
            return Err(AddressError::DomainTooLong);
        }
        Ok(self.s.get(start..self.pos).unwrap_or(""))
    }
}

/// `atext` (RFC 5322 §3.2.3, used by RFC 5321 §4.1.2) plus UTF8-non-ascii
/// (RFC 6531 §3.3).
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || b >= 0x80
}

/// Bytes that may appear in a Domain (letters, digits, hyphen, dot, and
/// UTF-8 for U-labels, RFC 6531 §3.3).
fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b >= 0x80
}

/// `Dot-string = Atom *("." Atom)`. RFC 5321 §4.1.2.
fn is_dot_string(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|atom| !atom.is_empty() && atom.bytes().all(is_atext))
}

/// `Domain = sub-domain *("." sub-domain)`, `sub-domain = Let-dig [Ldh-str]`
/// (RFC 5321 §4.1.2) or a U-label (RFC 6531 §3.3); labels at most 63 octets
/// (RFC 1035 §2.3.4), the whole at most [`MAX_DOMAIN`].
fn validate_domain(d: &str) -> Result<(), AddressError> {
    if d.len() > MAX_DOMAIN {
        return Err(AddressError::DomainTooLong);
    }
    if d.is_empty() {
        return Err(AddressError::InvalidDomain);
    }
    for label in d.split('.') {
        let ok = !label.is_empty()
            && label.len() <= MAX_LABEL
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b >= 0x80)
            && label.chars().all(|c| c.is_ascii() || !c.is_control());
        if !ok {
            return Err(AddressError::InvalidDomain);
        }
    }
    Ok(())
}

/// The inside of `[...]`: `IPv4-address-literal`, `"IPv6:" IPv6-addr`, or a
/// `General-address-literal` with a registered tag (only IPv6 is registered,
/// RFC 5321 §4.1.3, so any other tag is refused). RFC 5321 §4.1.3.
fn validate_address_literal(inner: &str) -> Result<(), AddressError> {
    if let Some(v6) = strip_prefix_ignore_case(inner, "IPv6:") {
        return v6
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| AddressError::InvalidAddressLiteral);
    }
    if is_ipv4_literal(inner) {
        Ok(())
    } else {
        Err(AddressError::InvalidAddressLiteral)
    }
}

/// `IPv4-address-literal = Snum 3("." Snum)`, `Snum = 1*3DIGIT` (0–255).
fn is_ipv4_literal(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
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
    use super::*;

    fn mb(local: &str, domain: &str) -> Mailbox {
        Mailbox {
            local: local.into(),
            domain: domain.into(),
        }
    }

    #[test]
    fn reverse_paths() {
        type Row<'a> = (&'a str, Result<(ReversePath, &'a str), AddressError>);
        let rows: &[Row] = &[
            // RFC 5321 Appendix D.1.
            (
                "<Smith@bar.com>",
                Ok((ReversePath::Mailbox(mb("Smith", "bar.com")), "")),
            ),
            (
                "<JQP@bar.com>",
                Ok((ReversePath::Mailbox(mb("JQP", "bar.com")), "")),
            ),
            ("<>", Ok((ReversePath::Null, ""))),
            ("<> SIZE=10", Ok((ReversePath::Null, " SIZE=10"))),
            (
                "<a@b.c> BODY=8BITMIME",
                Ok((ReversePath::Mailbox(mb("a", "b.c")), " BODY=8BITMIME")),
            ),
            // Source route accepted and dropped (RFC 5321 Appendix C).
            (
                "<@a.example,@b.example:u@c.example>",
                Ok((ReversePath::Mailbox(mb("u", "c.example")), "")),
            ),
            ("<@a:u@c>", Ok((ReversePath::Mailbox(mb("u", "c")), ""))),
            // Quoted local parts, unquoted in the value.
            (
                "<\"john doe\"@example.com>",
                Ok((ReversePath::Mailbox(mb("john doe", "example.com")), "")),
            ),
            (
                "<\"a\\\"b\\\\c\"@x>",
                Ok((ReversePath::Mailbox(mb("a\"b\\c", "x")), "")),
            ),
            (
                "<\"a>b\"@x>",
                Ok((ReversePath::Mailbox(mb("a>b", "x")), "")),
            ),
            ("<\"\"@x>", Ok((ReversePath::Mailbox(mb("", "x")), ""))),
            (
                "<\"john\"@x>",
                Ok((ReversePath::Mailbox(mb("john", "x")), "")),
            ),
            // Address literals, RFC 5321 §4.1.3.
            (
                "<u@[192.0.2.1]>",
                Ok((ReversePath::Mailbox(mb("u", "[192.0.2.1]")), "")),
            ),
            (
                "<u@[IPv6:2001:db8::1]>",
                Ok((ReversePath::Mailbox(mb("u", "[IPv6:2001:db8::1]")), "")),
            ),
            (
                "<u@[ipv6:::ffff:192.0.2.1]>",
                Ok((ReversePath::Mailbox(mb("u", "[ipv6:::ffff:192.0.2.1]")), "")),
            ),
            // atext specials.
            (
                "<!#$%&'*+-/=?^_`{|}~@x>",
                Ok((ReversePath::Mailbox(mb("!#$%&'*+-/=?^_`{|}~", "x")), "")),
            ),
            (
                "<first.last+tag@sub-domain.example.org>",
                Ok((
                    ReversePath::Mailbox(mb("first.last+tag", "sub-domain.example.org")),
                    "",
                )),
            ),
            // RFC 6531: UTF-8 local part and domain (the session checks SMTPUTF8).
            (
                "<用户@例子.广告>",
                Ok((ReversePath::Mailbox(mb("用户", "例子.广告")), "")),
            ),
            (
                "<\"jöhn dœ\"@x.example>",
                Ok((ReversePath::Mailbox(mb("jöhn dœ", "x.example")), "")),
            ),
            // Errors.
            ("Smith@bar.com", Err(AddressError::MissingOpeningBracket)),
            ("", Err(AddressError::MissingOpeningBracket)),
            (" <a@b>", Err(AddressError::MissingOpeningBracket)),
            ("<a@b", Err(AddressError::MissingClosingBracket)),
            ("<", Err(AddressError::InvalidLocalPart)),
            ("<a@b c>", Err(AddressError::TrailingCharacters)),
            ("<a>", Err(AddressError::MissingAt)),
            ("<postmaster>", Err(AddressError::MissingAt)),
            ("<a@>", Err(AddressError::InvalidDomain)),
            ("<@b>", Err(AddressError::InvalidSourceRoute)),
            ("<@a,b:u@c>", Err(AddressError::InvalidSourceRoute)),
            ("<@a:>", Err(AddressError::InvalidLocalPart)),
            ("<a..b@x>", Err(AddressError::InvalidLocalPart)),
            ("<.a@x>", Err(AddressError::InvalidLocalPart)),
            ("<a.@x>", Err(AddressError::InvalidLocalPart)),
            ("<a b@x>", Err(AddressError::InvalidLocalPart)),
            ("<a(b)@x>", Err(AddressError::InvalidLocalPart)),
            ("<a@b@x>", Err(AddressError::TrailingCharacters)),
            ("<\"abc@x>", Err(AddressError::UnterminatedQuote)),
            ("<\"a\tb\"@x>", Err(AddressError::InvalidLocalPart)),
            ("<\"a\\\tb\"@x>", Err(AddressError::InvalidLocalPart)),
            ("<a@-x.com>", Err(AddressError::InvalidDomain)),
            ("<a@x-.com>", Err(AddressError::InvalidDomain)),
            ("<a@x..com>", Err(AddressError::InvalidDomain)),
            ("<a@x.com.>", Err(AddressError::InvalidDomain)),
            ("<a@x_y.com>", Err(AddressError::TrailingCharacters)),
            ("<a@[1.2.3]>", Err(AddressError::InvalidAddressLiteral)),
            ("<a@[1.2.3.256]>", Err(AddressError::InvalidAddressLiteral)),
            ("<a@[1.2.3.4444]>", Err(AddressError::InvalidAddressLiteral)),
            (
                "<a@[IPv6:1.2.3.4]>",
                Err(AddressError::InvalidAddressLiteral),
            ),
            (
                "<a@[x-tag:whatever]>",
                Err(AddressError::InvalidAddressLiteral),
            ),
            ("<a@[1.2.3.4>", Err(AddressError::InvalidAddressLiteral)),
            ("<a@\u{85}x>", Err(AddressError::InvalidDomain)),
        ];
        for (input, expected) in rows {
            assert_eq!(parse_reverse_path(input), *expected, "{input:?}");
        }
    }

    #[test]
    fn forward_paths() {
        let rows: &[(&str, Result<ForwardPath, AddressError>)] = &[
            (
                "<Jones@foo.com>",
                Ok(ForwardPath::Mailbox(mb("Jones", "foo.com"))),
            ),
            (
                "<Jones@XYZ.COM>",
                Ok(ForwardPath::Mailbox(mb("Jones", "XYZ.COM"))),
            ),
            // RFC 5321 §4.1.1.3: "<Postmaster>" is case-insensitive.
            ("<Postmaster>", Ok(ForwardPath::Postmaster)),
            ("<postmaster>", Ok(ForwardPath::Postmaster)),
            ("<POSTMASTER>", Ok(ForwardPath::Postmaster)),
            (
                "<postmaster@foo.com>",
                Ok(ForwardPath::Mailbox(mb("postmaster", "foo.com"))),
            ),
            // A quoted "postmaster" is a local part that needs a domain.
            ("<\"postmaster\">", Err(AddressError::MissingAt)),
            (
                "<@ONE,@TWO:JOE@THREE>",
                Ok(ForwardPath::Mailbox(mb("JOE", "THREE"))),
            ),
            ("<>", Err(AddressError::Empty)),
            ("<postmasterx>", Err(AddressError::MissingAt)),
        ];
        for (input, expected) in rows {
            let got = parse_forward_path(input).map(|(p, _)| p);
            assert_eq!(got, *expected, "{input:?}");
        }
    }

    #[test]
    fn length_limits() {
        // RFC 5321 §4.5.3.1.1: 64-octet local part ok, 65 refused.
        let l64 = "a".repeat(64);
        let l65 = "a".repeat(65);
        assert!(parse_reverse_path(&format!("<{l64}@x.example>")).is_ok());
        assert_eq!(
            parse_reverse_path(&format!("<{l65}@x.example>")),
            Err(AddressError::LocalPartTooLong)
        );
        // Counted in octets, quotes included.
        let q63 = format!("\"{}\"", "a".repeat(63));
        assert_eq!(
            parse_reverse_path(&format!("<{q63}@x>")),
            Err(AddressError::LocalPartTooLong)
        );
        let utf = "é".repeat(33); // 66 octets
        assert_eq!(
            parse_reverse_path(&format!("<{utf}@x>")),
            Err(AddressError::LocalPartTooLong)
        );
        // Labels of 63 ok, 64 refused (RFC 1035).
        let lab63 = "b".repeat(63);
        let lab64 = "b".repeat(64);
        assert!(parse_reverse_path(&format!("<a@{lab63}.example>")).is_ok());
        assert_eq!(
            parse_reverse_path(&format!("<a@{lab64}.example>")),
            Err(AddressError::InvalidDomain)
        );
        // Domain 255 ok by itself but path then exceeds 256: "<a@" + 255 + ">" = 259.
        let d255 = format!("{}.{}.{}.{}", lab63, lab63, lab63, "c".repeat(63));
        assert_eq!(d255.len(), 255);
        assert!(validate_domain(&d255).is_ok());
        assert_eq!(
            validate_domain(&format!("{d255}x")),
            Err(AddressError::DomainTooLong)
        );
        assert_eq!(
            parse_reverse_path(&format!("<a@{d255}>")),
            Err(AddressError::PathTooLong)
        );
        // Exactly 256 octets of path is fine: "<" + 64 + "@" + 189 + ">";
        // 257 is not.
        let d189 = format!("{}.{}.{}", lab63, lab63, "c".repeat(61));
        assert_eq!(d189.len(), 189);
        let path = format!("<{l64}@{d189}>");
        assert_eq!(path.len(), 256);
        assert!(parse_reverse_path(&path).is_ok());
        let path = format!("<{l64}@{d189}c>");
        assert_eq!(path.len(), 257);
        assert_eq!(parse_reverse_path(&path), Err(AddressError::PathTooLong));
        // A long source route counts towards the path.
        let route = format!("@{lab63}.example,@{lab63}.example,@{lab63}.example:");
        assert_eq!(
            parse_reverse_path(&format!("<{route}{l64}@x.example>")),
            Err(AddressError::PathTooLong)
        );
    }

    #[test]
    fn display_round_trips() {
        let rows: &[(Mailbox, &str)] = &[
            (mb("Smith", "bar.com"), "Smith@bar.com"),
            (mb("john doe", "x"), "\"john doe\"@x"),
            (mb("a\"b\\c", "x"), "\"a\\\"b\\\\c\"@x"),
            (mb("a..b", "x"), "\"a..b\"@x"),
            (mb("", "x"), "\"\"@x"),
            (mb(".a", "x"), "\".a\"@x"),
            (mb("用户", "例子.广告"), "用户@例子.广告"),
            (mb("u", "[IPv6:2001:db8::1]"), "u@[IPv6:2001:db8::1]"),
        ];
        for (m, expected) in rows {
            assert_eq!(m.to_string(), *expected);
            assert_eq!(Mailbox::parse(expected).as_ref(), Ok(m), "{expected}");
            let path = format!("<{m}>");
            assert_eq!(
                parse_forward_path(&path),
                Ok((ForwardPath::Mailbox(m.clone()), ""))
            );
        }
        assert_eq!(ReversePath::Null.to_string(), "<>");
        assert_eq!(ForwardPath::Postmaster.to_string(), "<Postmaster>");
        assert_eq!(ReversePath::Mailbox(mb("a", "b")).to_string(), "<a@b>");
    }

    #[test]
    fn ascii_and_literal_predicates() {
        assert!(mb("a", "b.c").is_ascii());
        assert!(!mb("ä", "b.c").is_ascii());
        assert!(!mb("a", "bü.c").is_ascii());
        assert!(mb("a", "[1.2.3.4]").is_address_literal());
        assert!(!mb("a", "b").is_address_literal());
    }

    #[test]
    fn bare_mailbox_parse() {
        assert_eq!(Mailbox::parse("a@b"), Ok(mb("a", "b")));
        assert_eq!(
            Mailbox::parse("a@b "),
            Err(AddressError::TrailingCharacters)
        );
        assert_eq!(Mailbox::parse("postmaster"), Err(AddressError::MissingAt));
        assert_eq!(Mailbox::parse("<a@b>"), Err(AddressError::InvalidLocalPart));
        assert_eq!(Mailbox::parse(""), Err(AddressError::InvalidLocalPart));
    }

    #[test]
    fn never_panics_on_prefixes_of_odd_input() {
        let inputs = [
            "<@a,@b:\"x\\\"y\"@[IPv6:::1]> SIZE=1",
            "<\"é\\é\"@x>",
            "<用户@例子.广告>",
            "<a@[",
            "<\"\\",
        ];
        for input in inputs {
            for end in 0..=input.len() {
                if let Some(prefix) = input.get(..end) {
                    let _ = parse_reverse_path(prefix);
                    let _ = parse_forward_path(prefix);
                    let _ = Mailbox::parse(prefix);
                }
            }
        }
    }
}
