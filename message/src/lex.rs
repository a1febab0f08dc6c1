//! The RFC 5322 §3.2 / RFC 2045 §5.1 lexical tokens shared by the address lexer
//! ([`crate::address`]) and the `Content-*` field parsers ([`crate::content`]), as
//! `nom` parsers over one raw (folded) header value.
//!
//! They follow Dovecot's `rfc822-parser.c`, error recovery included, because that is
//! what decides the strings Dovecot sends in ENVELOPE and BODYSTRUCTURE: every
//! parser returns the rest of the input, and a *broken* input (an unterminated
//! comment, quoted string or domain literal, a missing token) is a nom error whose
//! input is where the break was found — callers recover from there. "Success with
//! nothing left" and "success with more to come" are told apart by the rest being
//! empty ([`Lx`]).
//!
//! The one piece of state is the content of the last comment skipped (RFC 5322
//! §3.4: `addr-spec (Name)` takes its display name from it), kept in [`Lexer`].

use nom::bytes::complete::{take_while, take_while1};
use nom::error::{Error, ErrorKind};
use nom::{Err, IResult, Parser as _};

/// A lexer result: the rest of the input, or where it broke.
pub(crate) type Res<'a> = IResult<&'a [u8], ()>;

/// The three outcomes Dovecot's lexer distinguishes, ordered as its -1 / 0 / 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Lx {
    /// Syntax error (unterminated comment, quoted string, missing token …).
    Broken,
    /// Success, and the input is exhausted.
    End,
    /// Success, and more input follows.
    More,
}

/// A position in the value and what the last step made of it.
pub(crate) type Step<'a> = (Lx, &'a [u8]);

/// A broken parse at `at`.
pub(crate) fn broken(at: &[u8]) -> Res<'_> {
    Err(Err::Error(Error::new(at, ErrorKind::Verify)))
}

/// The outcome of a lexer result, and where it left the input.
pub(crate) fn step(r: Res<'_>) -> Step<'_> {
    match r {
        Ok((rest, ())) if rest.is_empty() => (Lx::End, rest),
        Ok((rest, ())) => (Lx::More, rest),
        Err(Err::Error(e) | Err::Failure(e)) => (Lx::Broken, e.input),
        Err(Err::Incomplete(_)) => (Lx::Broken, &[]),
    }
}

/// The byte at the head of `i`, NUL at the end (like the C string terminator
/// Dovecot's lexer peeks at).
pub(crate) fn peek(i: &[u8]) -> u8 {
    i.first().copied().unwrap_or(0)
}

/// `i` without its first byte.
pub(crate) fn skip1(i: &[u8]) -> &[u8] {
    i.get(1..).unwrap_or_default()
}

/// RFC 5322 §3.2.3 `atext`, 8-bit bytes included as Dovecot accepts them.
pub(crate) fn is_atext(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || c >= 0x80
        || matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        )
}

/// RFC 2045 §5.1 `token` octet: `atext` less the `tspecials` `/`, `=`, `?`, plus
/// `.` (Dovecot accepts it).
pub(crate) fn is_token_char(c: u8) -> bool {
    (is_atext(c) && !matches!(c, b'/' | b'=' | b'?')) || c == b'.'
}

/// RFC 5322 §3.2.2 `WSP` and line breaks (a folded value still has its CRLFs).
pub(crate) fn is_fws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// The tokens of one value; remembers the last comment skipped.
#[derive(Debug, Default)]
pub(crate) struct Lexer {
    /// Content of the last comment skipped (quoted-pairs resolved).
    pub(crate) comment: Vec<u8>,
}

impl Lexer {
    /// RFC 5322 §3.2.2 `comment` (nested, with quoted-pairs); `i` starts with `(`.
    fn comment<'a>(&mut self, i: &'a [u8]) -> Res<'a> {
        self.comment.clear();
        let mut depth = 0usize;
        let mut start = 1;
        let mut k = 1;
        while let Some(&c) = i.get(k) {
            match c {
                b'(' => depth += 1,
                b')' if depth == 0 => {
                    self.comment
                        .extend_from_slice(i.get(start..k).unwrap_or_default());
                    return Ok((i.get(k + 1..).unwrap_or_default(), ()));
                }
                b')' => depth -= 1,
                b'\\' => {
                    self.comment
                        .extend_from_slice(i.get(start..k).unwrap_or_default());
                    start = k + 1;
                    if start >= i.len() {
                        return broken(&[]);
                    }
                    k = start;
                }
                _ => {}
            }
            k += 1;
        }
        broken(&[])
    }

    /// RFC 5322 §3.2.2 `CFWS`: white space, line breaks and comments, all optional.
    pub(crate) fn cfws<'a>(&mut self, mut i: &'a [u8]) -> Res<'a> {
        loop {
            let (rest, _) = take_while(is_fws).parse(i)?;
            i = rest;
            if peek(i) != b'(' {
                return Ok((i, ()));
            }
            (i, ()) = self.comment(i)?;
        }
    }

    /// RFC 5322 §3.2.3 `atom`: `1*atext [CFWS]`.
    pub(crate) fn atom<'a>(&mut self, i: &'a [u8], out: &mut Vec<u8>) -> Res<'a> {
        let (rest, run) = take_while1(is_atext).parse(i)?;
        out.extend_from_slice(run);
        self.cfws(rest)
    }

    /// RFC 5322 §3.2.3 `dot-atom`, with CFWS allowed around the dots (RFC 822).
    pub(crate) fn dot_atom<'a>(&mut self, i: &'a [u8], out: &mut Vec<u8>) -> Res<'a> {
        if !is_atext(peek(i)) {
            return broken(i);
        }
        let mut i = i;
        loop {
            let (rest, run) = take_while(is_atext).parse(i)?;
            out.extend_from_slice(run);
            if rest.is_empty() {
                return Ok((rest, ()));
            }
            (i, ()) = self.cfws(rest)?;
            if i.is_empty() || peek(i) != b'.' {
                return Ok((i, ()));
            }
            out.push(b'.');
            (i, ()) = self.cfws(skip1(i))?;
            if i.is_empty() {
                return Ok((i, ()));
            }
        }
    }

    /// RFC 2045 §5.1 `token` (possibly empty) and CFWS.
    pub(crate) fn token<'a>(&mut self, i: &'a [u8], out: &mut Vec<u8>) -> Res<'a> {
        let (rest, run) = take_while(is_token_char).parse(i)?;
        out.extend_from_slice(run);
        self.cfws(rest)
    }

    /// RFC 5322 §3.2.4 `quoted-string`, unquoted into `out` (quoted-pairs
    /// resolved, line breaks of folds removed), and CFWS; `i` starts with `"`.
    pub(crate) fn quoted<'a>(&mut self, i: &'a [u8], out: &mut Vec<u8>) -> Res<'a> {
        let mut start = 1;
        let mut k = 1;
        while let Some(&c) = i.get(k) {
            match c {
                b'"' => {
                    out.extend_from_slice(i.get(start..k).unwrap_or_default());
                    return self.cfws(i.get(k + 1..).unwrap_or_default());
                }
                b'\n' => {
                    let end = if k > start && i.get(k - 1) == Some(&b'\r') {
                        k - 1
                    } else {
                        k
                    };
                    out.extend_from_slice(i.get(start..end).unwrap_or_default());
                    start = k + 1;
                }
                b'\\' => {
                    out.extend_from_slice(i.get(start..k).unwrap_or_default());
                    start = k + 1;
                    if start >= i.len() {
                        return broken(&[]);
                    }
                    k = start;
                }
                _ => {}
            }
            k += 1;
        }
        broken(&[])
    }

    /// Atoms and dots (RFC 5322 §4.1 `obs-phrase`), possibly empty, and CFWS.
    fn atoms_and_dots<'a>(&mut self, i: &'a [u8], out: &mut Vec<u8>) -> Res<'a> {
        let (rest, run) = take_while(|c| is_atext(c) || c == b'.').parse(i)?;
        out.extend_from_slice(run);
        self.cfws(rest)
    }

    /// RFC 5322 §3.2.5 `phrase` (`1*word / obs-phrase`), words joined by one space.
    pub(crate) fn phrase<'a>(&mut self, i: &'a [u8], out: &mut Vec<u8>) -> Res<'a> {
        if i.is_empty() {
            return Ok((i, ()));
        }
        if peek(i) == b'.' {
            return broken(i);
        }
        let mut i = i;
        loop {
            (i, ()) = if peek(i) == b'"' {
                self.quoted(i, out)?
            } else {
                self.atoms_and_dots(i, out)?
            };
            if i.is_empty() {
                return Ok((i, ()));
            }
            let c = peek(i);
            if !is_atext(c) && c != b'"' && c != b'.' {
                return self.cfws(i);
            }
            out.push(b' ');
        }
    }

    /// RFC 5322 §3.4.1 `domain-literal`, kept with its brackets, and CFWS; `i`
    /// starts with `[`.
    fn domain_literal<'a>(&mut self, i: &'a [u8], out: &mut Vec<u8>) -> Res<'a> {
        let mut k = 0;
        while let Some(&c) = i.get(k) {
            if c == b'\\' {
                k += 1;
            } else if c == b']' {
                out.extend_from_slice(i.get(..=k).unwrap_or_default());
                return self.cfws(i.get(k + 1..).unwrap_or_default());
            }
            k += 1;
        }
        broken(&[])
    }

    /// `"@" domain` (RFC 5322 §3.4.1: `dot-atom / domain-literal / obs-domain`);
    /// `i` starts with `@`. Nothing after the `@` is broken.
    pub(crate) fn domain<'a>(&mut self, i: &'a [u8], out: &mut Vec<u8>) -> Res<'a> {
        let (i, ()) = self.cfws(skip1(i))?;
        if i.is_empty() {
            return broken(i);
        }
        if peek(i) == b'[' {
            self.domain_literal(i, out)
        } else {
            self.dot_atom(i, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, what `phrase` collects, outcome, rest) — each row also with LF-only
    /// line endings.
    #[test]
    fn phrases_and_comments() {
        let rows: &[(&str, &str, Lx, &str)] = &[
            ("Joe Q. Public <x>", "Joe Q. Public", Lx::More, "<x>"),
            (
                "\"quoted \\\"name\\\"\" <x>",
                "quoted \"name\"",
                Lx::More,
                "<x>",
            ),
            ("\"folded\r\n name\" <x>", "folded name", Lx::More, "<x>"),
            ("a (comment (nested) \\) ) b", "a b", Lx::End, ""),
            ("(unterminated", "", Lx::Broken, ""),
            ("\"unterminated", "", Lx::Broken, ""),
            (".dot first", "", Lx::Broken, ".dot first"),
            ("", "", Lx::End, ""),
        ];
        for &(input, want, lx, rest) in rows {
            for input in [input.to_owned(), input.replace("\r\n", "\n")] {
                let mut lexer = Lexer::default();
                let mut out = Vec::new();
                let (got_lx, got_rest) = step(lexer.phrase(input.as_bytes(), &mut out));
                assert_eq!(
                    (String::from_utf8_lossy(&out).as_ref(), got_lx, got_rest),
                    (want, lx, rest.as_bytes()),
                    "{input:?}"
                );
            }
        }
    }

    #[test]
    fn comment_content_is_remembered() {
        let mut lexer = Lexer::default();
        let (lx, _) = step(lexer.cfws(b" (Last, comment (nested)) \\"));
        assert_eq!(lx, Lx::More);
        assert_eq!(lexer.comment, b"Last, comment (nested)");
        let (lx, _) = step(lexer.cfws(b"(a\\)b)"));
        assert_eq!((lx, &lexer.comment[..]), (Lx::End, &b"a)b"[..]));
    }

    #[test]
    fn dot_atoms_domains_and_tokens() {
        let rows: &[(&str, &str, Lx, &str)] = &[
            ("@example.com>", "example.com", Lx::More, ">"),
            ("@ a . b (c)", "a.b", Lx::End, ""),
            ("@[192.0.2.1] x", "[192.0.2.1]", Lx::More, "x"),
            ("@[unterminated", "", Lx::Broken, ""),
            ("@", "", Lx::Broken, ""),
            ("@>", "", Lx::Broken, ">"),
        ];
        for &(input, want, lx, rest) in rows {
            let mut out = Vec::new();
            let (got_lx, got_rest) = step(Lexer::default().domain(input.as_bytes(), &mut out));
            assert_eq!(
                (String::from_utf8_lossy(&out).as_ref(), got_lx, got_rest),
                (want, lx, rest.as_bytes()),
                "{input:?}"
            );
        }
        let mut out = Vec::new();
        let r = step(Lexer::default().token(b"us-ascii.x/y", &mut out));
        assert_eq!((&out[..], r), (&b"us-ascii.x"[..], (Lx::More, &b"/y"[..])));
    }
}
