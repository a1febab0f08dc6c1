//! RFC 5322 §3.4 address lists (From, Sender, Reply-To, To, Cc, Bcc), parsed from
//! the raw header value into typed addresses, with Dovecot's error recovery
//! (`message-address.c`) so that the ENVELOPE built from them is Dovecot's:
//!
//! * display names are the raw phrase: RFC 2047 encoded-words still encoded, quoted
//!   strings unquoted, words joined by one space;
//! * a comment after a bare `addr-spec` is the name (`a@b (Name)`);
//! * a source route (RFC 5322 §4.4 `obs-route`) is the `adl` (`"@a,@b"`), an
//!   unparsable one `INVALID_ROUTE`;
//! * a missing local part or domain is [`MISSING_MAILBOX`] / [`MISSING_DOMAIN`], an
//!   unparsable angle address has the domain [`SYNTAX_ERROR`];
//! * groups (RFC 5322 §3.4 `group`) are a [`Address::GroupStart`] … [`Address::GroupEnd`]
//!   pair around their members (RFC 9051 §7.5.2);
//! * parsing stops at the first garbage it cannot step over.
//!
//! Values are bytes: nothing is decoded and nothing is forced to UTF-8.

use crate::lex::{Lexer, Lx, Step, peek, skip1, step};

/// The mailbox of an address without a local part (Dovecot's placeholder).
pub const MISSING_MAILBOX: &[u8] = b"MISSING_MAILBOX";
/// The host of an address without a domain (Dovecot's placeholder).
pub const MISSING_DOMAIN: &[u8] = b"MISSING_DOMAIN";
/// The host of an angle address that could not be parsed (Dovecot's placeholder).
pub const SYNTAX_ERROR: &[u8] = b"SYNTAX_ERROR";
/// The route of an angle address whose source route could not be parsed.
pub const INVALID_ROUTE: &[u8] = b"INVALID_ROUTE";

/// One element of an address list, as RFC 9051 §7.5.2 lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A mailbox (RFC 5322 §3.4 `mailbox`).
    Mailbox(Mailbox),
    /// The start of a group: its display name (RFC 5322 §3.4 `group`).
    GroupStart(Vec<u8>),
    /// The end of a group.
    GroupEnd,
}

/// A mailbox: `name <adl:mailbox@host>`. The mailbox and host are always there
/// (placeholders stand for missing ones, as in Dovecot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mailbox {
    /// The display name (or the comment after a bare address), as written.
    pub name: Option<Vec<u8>>,
    /// The source route, `@a,@b`.
    pub adl: Option<Vec<u8>>,
    /// The local part, unquoted.
    pub mailbox: Vec<u8>,
    /// The domain, a domain literal with its brackets.
    pub host: Vec<u8>,
}

/// Parses one address header's raw value (after the colon, folds included).
pub fn parse_list(value: &[u8]) -> Vec<Address> {
    let mut p = ListParser::default();
    let (lx, i) = step(p.lex.cfws(value));
    if lx == Lx::More {
        p.address_list(i);
    }
    p.list
}

/// The mailbox being built.
#[derive(Debug, Default)]
struct Current {
    name: Option<Vec<u8>>,
    adl: Option<Vec<u8>>,
    mailbox: Option<Vec<u8>>,
    host: Option<Vec<u8>>,
}

#[derive(Debug, Default)]
struct ListParser {
    lex: Lexer,
    cur: Current,
    list: Vec<Address>,
}

impl ListParser {
    /// Adds the current mailbox, placeholders for what is missing.
    fn push_mailbox(&mut self) {
        let cur = std::mem::take(&mut self.cur);
        self.list.push(Address::Mailbox(Mailbox {
            name: cur.name,
            adl: cur.adl,
            mailbox: cur.mailbox.unwrap_or_else(|| MISSING_MAILBOX.to_vec()),
            host: cur.host.unwrap_or_else(|| MISSING_DOMAIN.to_vec()),
        }));
    }

    /// `local-part = dot-atom / quoted-string / obs-local-part`
    fn local_part<'a>(&mut self, i: &'a [u8]) -> Step<'a> {
        let mut s = Vec::new();
        let r = if peek(i) == b'"' {
            step(self.lex.quoted(i, &mut s))
        } else {
            step(self.lex.dot_atom(i, &mut s))
        };
        if r.0 != Lx::Broken {
            self.cur.mailbox = Some(s);
        }
        r
    }

    /// `"@" domain`
    fn domain<'a>(&mut self, i: &'a [u8]) -> Step<'a> {
        let mut s = Vec::new();
        let r = step(self.lex.domain(i, &mut s));
        if r.0 != Lx::Broken {
            self.cur.host = Some(s);
        }
        r
    }

    /// `obs-domain-list = "@" domain *(*(CFWS / ",") [CFWS] "@" domain)`
    fn route<'a>(&mut self, mut i: &'a [u8]) -> Step<'a> {
        let mut s = Vec::new();
        while !i.is_empty() {
            if peek(i) != b'@' {
                self.cur.adl = Some(s);
                return (Lx::More, i);
            }
            if !s.is_empty() {
                s.push(b',');
            }
            s.push(b'@');
            let (lx, rest) = step(self.lex.domain(i, &mut s));
            if lx <= Lx::End {
                return (lx, rest);
            }
            i = rest;
            loop {
                let (lx, rest) = step(self.lex.cfws(i));
                i = rest;
                if lx != Lx::More || peek(i) != b',' {
                    break;
                }
                i = skip1(i);
            }
        }
        (Lx::End, i)
    }

    /// `angle-addr = [CFWS] "<" [obs-route] addr-spec ">" [CFWS]`; `i` starts with `<`.
    fn angle_addr<'a>(&mut self, i: &'a [u8]) -> Step<'a> {
        let (lx, mut i) = step(self.lex.cfws(skip1(i)));
        if lx <= Lx::End {
            return (lx, i);
        }
        if peek(i) == b'@' {
            let (lx, rest) = self.route(i);
            if lx <= Lx::End || peek(rest) != b':' {
                self.cur.adl = Some(INVALID_ROUTE.to_vec());
                return (Lx::Broken, rest);
            }
            let (lx, rest) = step(self.lex.cfws(skip1(rest)));
            if lx <= Lx::End {
                return (lx, rest);
            }
            i = rest;
        }
        let (lx, mut i) = self.local_part(i);
        if lx <= Lx::End {
            return (lx, i);
        }
        if peek(i) == b'@' {
            let (lx, rest) = self.domain(i);
            if lx <= Lx::End {
                return (lx, rest);
            }
            i = rest;
        }
        if peek(i) != b'>' {
            return (Lx::Broken, i);
        }
        step(self.lex.cfws(skip1(i)))
    }

    /// `name-addr = [display-name] angle-addr`
    fn name_addr<'a>(&mut self, i: &'a [u8]) -> Step<'a> {
        let mut name = Vec::new();
        let (lx, i) = step(self.lex.phrase(i, &mut name));
        if lx <= Lx::End || peek(i) != b'<' {
            return (Lx::Broken, i);
        }
        self.cur.name = (!name.is_empty()).then_some(name);
        let (lx, rest) = self.angle_addr(i);
        if lx == Lx::Broken {
            self.cur.host = Some(SYNTAX_ERROR.to_vec());
        }
        step(Ok((rest, ())))
    }

    /// `addr-spec = local-part "@" domain`, a comment within being the name.
    fn addr_spec<'a>(&mut self, i: &'a [u8]) -> Step<'a> {
        self.lex.comment.clear();
        let (mut lx, mut i) = self.local_part(i);
        if lx != Lx::End && peek(i) == b'@' {
            let (lx2, rest) = self.domain(i);
            i = rest;
            if lx2 <= Lx::End {
                lx = lx2;
            }
        }
        if !self.lex.comment.is_empty() {
            self.cur.name = Some(self.lex.comment.clone());
        }
        (lx, i)
    }

    /// `mailbox = name-addr / addr-spec`
    fn mailbox<'a>(&mut self, i: &'a [u8]) -> Step<'a> {
        let mut r = self.name_addr(i);
        if r.0 == Lx::Broken {
            r = self.addr_spec(i);
        }
        self.push_mailbox();
        r
    }

    /// `group = display-name ":" [group-list] ";" [CFWS]`
    fn group<'a>(&mut self, i: &'a [u8]) -> Step<'a> {
        let mut name = Vec::new();
        let (lx, i) = step(self.lex.phrase(i, &mut name));
        if lx <= Lx::End || peek(i) != b':' {
            return (Lx::Broken, i);
        }
        let (mut lx, mut i) = step(self.lex.cfws(skip1(i)));
        self.list.push(Address::GroupStart(name));
        if lx == Lx::More && peek(i) != b';' {
            loop {
                let (m, rest) = self.mailbox(i);
                i = rest;
                if m <= Lx::End {
                    lx = Lx::Broken;
                    break;
                }
                if peek(i) != b',' {
                    break;
                }
                let (c, rest) = step(self.lex.cfws(skip1(i)));
                i = rest;
                if c <= Lx::End {
                    lx = Lx::Broken;
                    break;
                }
            }
        }
        if lx != Lx::Broken {
            if peek(i) == b';' {
                (lx, i) = step(self.lex.cfws(skip1(i)));
            } else {
                lx = Lx::Broken;
            }
        }
        self.list.push(Address::GroupEnd);
        (if lx == Lx::End { Lx::End } else { Lx::More }, i)
    }

    /// `address = mailbox / group`
    fn address<'a>(&mut self, i: &'a [u8]) -> Step<'a> {
        let r = self.group(i);
        if r.0 == Lx::Broken {
            self.mailbox(i)
        } else {
            r
        }
    }

    /// `address-list = address *("," address)`, stopping at the first garbage.
    fn address_list(&mut self, mut i: &[u8]) {
        loop {
            let (lx, rest) = self.address(i);
            if lx == Lx::End || peek(rest) != b',' {
                return;
            }
            let (lx, rest) = step(self.lex.cfws(skip1(rest)));
            if lx <= Lx::End {
                if lx == Lx::Broken {
                    // Ends in garbage (an unterminated comment).
                    self.push_mailbox();
                }
                return;
            }
            i = rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(name: Option<&str>, adl: Option<&str>, mailbox: &str, host: &str) -> Address {
        Address::Mailbox(Mailbox {
            name: name.map(|s| s.as_bytes().to_vec()),
            adl: adl.map(|s| s.as_bytes().to_vec()),
            mailbox: mailbox.as_bytes().to_vec(),
            host: host.as_bytes().to_vec(),
        })
    }

    fn group(name: &str) -> Address {
        Address::GroupStart(name.as_bytes().to_vec())
    }

    /// RFC 5322 Appendix A.1 and A.5 examples, Dovecot's recovery rules, each row
    /// also with LF-only line endings.
    #[test]
    fn address_lists() {
        let rows: Vec<(&str, Vec<Address>)> = vec![
            (
                "Mary Smith <mary@x.test>",
                vec![mb(Some("Mary Smith"), None, "mary", "x.test")],
            ),
            (
                "localpart",
                vec![mb(None, None, "localpart", "MISSING_DOMAIN")],
            ),
            ("(nobody)", vec![]),
            ("", vec![]),
            (
                "undisclosed-recipients:;",
                vec![group("undisclosed-recipients"), Address::GroupEnd],
            ),
            (
                "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
                vec![
                    group("A Group"),
                    mb(Some("Ed Jones"), None, "c", "a.test"),
                    mb(None, None, "joe", "where.test"),
                    mb(Some("John"), None, "jdoe", "one.test"),
                    Address::GroupEnd,
                ],
            ),
            (
                "Friends: \"Joe Q. Public\" <joe@example.com>, jane@example.com (Jane Doe);, bob@x.org",
                vec![
                    group("Friends"),
                    mb(Some("Joe Q. Public"), None, "joe", "example.com"),
                    mb(Some("Jane Doe"), None, "jane", "example.com"),
                    Address::GroupEnd,
                    mb(None, None, "bob", "x.org"),
                ],
            ),
            (
                "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
                vec![mb(Some("Pete"), None, "pete", "silly.test")],
            ),
            (
                "\"quoted \\\"name\\\"\" <\"odd local\"@example.com>, x@[192.0.2.1],\r\n\tlast@example.com (Last, comment (nested)), <@a.example:r@example.com>",
                vec![
                    mb(Some("quoted \"name\""), None, "odd local", "example.com"),
                    mb(None, None, "x", "[192.0.2.1]"),
                    mb(Some("Last, comment (nested)"), None, "last", "example.com"),
                    mb(None, Some("@a.example"), "r", "example.com"),
                ],
            ),
            (
                "Some One <@relay1.example,@relay2.example:someone@example.net>",
                vec![mb(
                    Some("Some One"),
                    Some("@relay1.example,@relay2.example"),
                    "someone",
                    "example.net",
                )],
            ),
            (
                "broken <no-close@example.com, next@x",
                vec![
                    mb(Some("broken"), None, "no-close", "SYNTAX_ERROR"),
                    mb(None, None, "next", "x"),
                ],
            ),
            (
                "a@b, (unterminated comment",
                vec![
                    mb(None, None, "a", "b"),
                    mb(None, None, "MISSING_MAILBOX", "MISSING_DOMAIN"),
                ],
            ),
            (
                "@example.com",
                vec![mb(None, None, "MISSING_MAILBOX", "example.com")],
            ),
            (
                "=?utf-8?q?J=C3=B6rg?= <joerg@example.de>",
                vec![mb(
                    Some("=?utf-8?q?J=C3=B6rg?="),
                    None,
                    "joerg",
                    "example.de",
                )],
            ),
            (
                "<@bad route:x@y>",
                vec![mb(
                    None,
                    Some("INVALID_ROUTE"),
                    "MISSING_MAILBOX",
                    "SYNTAX_ERROR",
                )],
            ),
        ];
        for (input, want) in rows {
            for input in [input.to_owned(), input.replace("\r\n", "\n")] {
                assert_eq!(parse_list(input.as_bytes()), want, "{input:?}");
            }
        }
    }

    #[test]
    fn non_utf8_bytes_are_kept() {
        assert_eq!(
            parse_list(b"J\xf6rg <j@x.de>"),
            vec![Address::Mailbox(Mailbox {
                name: Some(b"J\xf6rg".to_vec()),
                adl: None,
                mailbox: b"j".to_vec(),
                host: b"x.de".to_vec(),
            })]
        );
    }
}
