//! The Sieve grammar of RFC 5228 §8 with nom: comments, quoted and multi-line strings,
//! numbers with quantifiers, tags, string lists, tests, test lists, blocks, commands.
//!
//! Invariants: every error carries the byte offset where it was found (the caller turns
//! it into a 1-based line and column); nesting, string length, list length and script
//! size are capped by the constants below, so no input overflows the stack or grows
//! memory without bound.

use std::borrow::Cow;

use nom::bytes::complete::{tag, tag_no_case, take_until, take_while, take_while1};
use nom::character::complete::satisfy;
use nom::combinator::recognize;
use nom::sequence::pair;
use nom::{IResult, Parser};

use crate::ast::{Arg, Ast, Command, Test, Tests, Value};

/// Largest script accepted, in bytes (Pigeonhole's default `sieve_max_script_size`).
pub const MAX_SCRIPT_SIZE: usize = 1 << 20;
/// Deepest nesting of blocks (`if { if { … } }`).
pub const MAX_BLOCK_NESTING: usize = 32;
/// Deepest nesting of tests (`not anyof (not allof (…))`).
pub const MAX_TEST_NESTING: usize = 32;
/// Longest string after unescaping, in bytes.
pub const MAX_STRING_LEN: usize = 64 * 1024;
/// Most strings in one string list, and most tests in one test list.
pub const MAX_LIST_LEN: usize = 1024;
/// Most arguments to one command or test.
pub const MAX_ARGUMENTS: usize = 64;

/// A syntax error at a byte offset of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

/// nom's error type here: where, and what went wrong.
#[derive(Debug)]
pub(crate) struct PErr<'a> {
    input: &'a str,
    msg: Cow<'static, str>,
}

impl<'a> nom::error::ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        PErr {
            input,
            msg: Cow::Borrowed("syntax error"),
        }
    }
    fn append(_: &'a str, _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

type R<'a, T> = IResult<&'a str, T, PErr<'a>>;

/// A hard error (nom `Failure`: no alternative is tried) at `input`.
fn fail<'a, T>(input: &'a str, msg: impl Into<Cow<'static, str>>) -> R<'a, T> {
    Err(nom::Err::Failure(PErr {
        input,
        msg: msg.into(),
    }))
}

/// Parses a whole script (RFC 5228 §8.2 `start = commands`).
pub fn parse(src: &str) -> Result<Ast, SyntaxError> {
    if src.len() > MAX_SCRIPT_SIZE {
        return Err(SyntaxError {
            offset: 0,
            message: format!(
                "script is {} bytes, more than the limit of {MAX_SCRIPT_SIZE}",
                src.len()
            ),
        });
    }
    let p = Parser_ { src };
    match p.commands(src, 0) {
        Ok((rest, commands)) => {
            if rest.is_empty() {
                Ok(Ast { commands })
            } else if rest.starts_with('}') {
                Err(p.error_at(rest, "unexpected '}' without a matching '{'"))
            } else {
                Err(p.error_at(rest, "expected a command"))
            }
        }
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(p.error_at(e.input, e.msg)),
        Err(nom::Err::Incomplete(_)) => Err(p.error_at("", "unexpected end of script")),
    }
}

struct Parser_<'s> {
    src: &'s str,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `identifier = (ALPHA / "_") *(ALPHA / DIGIT / "_")`, lower-cased.
fn identifier(i: &str) -> R<'_, String> {
    let (i, id) = recognize(pair(satisfy(is_ident_start), take_while(is_ident_char))).parse(i)?;
    Ok((i, id.to_ascii_lowercase()))
}

/// White space and comments between tokens (RFC 5228 §2.3, §8.1): `#` to end of line,
/// `/* … */` not nesting.
fn ws(mut i: &str) -> R<'_, ()> {
    loop {
        if let Ok((rest, _)) =
            take_while1::<_, _, PErr>(|c| matches!(c, ' ' | '\t' | '\r' | '\n')).parse(i)
        {
            i = rest;
        } else if let Some(rest) = i.strip_prefix('#') {
            let (rest, _) = take_while(|c| c != '\n').parse(rest)?;
            i = rest.strip_prefix('\n').unwrap_or(rest);
        } else if let Some(rest) = i.strip_prefix("/*") {
            match take_until::<_, _, PErr>("*/").parse(rest) {
                Ok((rest, _)) => i = &rest[2..],
                Err(_) => return fail(i, "unterminated comment: '/*' without '*/'"),
            }
        } else {
            return Ok((i, ()));
        }
    }
}

/// `quoted-string` (RFC 5228 §2.4.2, §8.1): `\\` and `\"` escape; any other backslash
/// is dropped ("\a" is "a").
fn quoted(i: &str) -> R<'_, String> {
    let start = i;
    let (mut i, _) = tag("\"").parse(i)?;
    let mut out = String::new();
    loop {
        let (rest, chunk) = take_while(|c| c != '"' && c != '\\').parse(i)?;
        out.push_str(chunk);
        if out.len() > MAX_STRING_LEN {
            return fail(start, format!("string longer than {MAX_STRING_LEN} bytes"));
        }
        let mut chars = rest.chars();
        match chars.next() {
            Some('"') => return Ok((chars.as_str(), out)),
            Some('\\') => match chars.next() {
                Some(c) => {
                    out.push(c);
                    i = chars.as_str();
                }
                None => return fail(start, "unterminated string: '\"' without a closing '\"'"),
            },
            _ => return fail(start, "unterminated string: '\"' without a closing '\"'"),
        }
    }
}

/// `multi-line` (RFC 5228 §2.4.2, §8.1): `text:`, optional blanks and a comment, then
/// lines up to one holding only ".", with a leading ".." unstuffed to ".".
fn multiline(i: &str) -> R<'_, String> {
    let start = i;
    let (i, _) = tag_no_case("text:").parse(i)?;
    let (i, _) = take_while(|c| c == ' ' || c == '\t').parse(i)?;
    let i = if let Some(rest) = i.strip_prefix('#') {
        take_while(|c| c != '\n').parse(rest)?.0
    } else {
        i
    };
    let Some(mut i) = i.strip_prefix("\r\n").or_else(|| i.strip_prefix('\n')) else {
        return fail(i, "expected end of line after 'text:'");
    };
    let mut out = String::new();
    loop {
        if i.is_empty() {
            return fail(
                start,
                "unterminated multi-line string: no line with a single '.'",
            );
        }
        let (line, rest) = match i.find('\n') {
            Some(n) => (&i[..=n], &i[n + 1..]),
            None => (i, ""),
        };
        let bare = line.trim_end_matches('\n').trim_end_matches('\r');
        if bare == "." {
            return Ok((rest, out));
        }
        out.push_str(line.strip_prefix('.').unwrap_or(line));
        if out.len() > MAX_STRING_LEN {
            return fail(start, format!("string longer than {MAX_STRING_LEN} bytes"));
        }
        i = rest;
    }
}

/// Whether a multi-line string starts here.
fn starts_text(i: &str) -> bool {
    i.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("text:"))
}

/// `string = quoted-string / multi-line`.
fn string(i: &str) -> R<'_, String> {
    if i.starts_with('"') {
        quoted(i)
    } else {
        multiline(i)
    }
}

/// `number = 1*DIGIT [ QUANTIFIER ]`, `QUANTIFIER = "K" / "M" / "G"` (RFC 5228 §2.4.1).
fn number(i: &str) -> R<'_, u64> {
    let start = i;
    let (i, digits) = take_while1(|c: char| c.is_ascii_digit()).parse(i)?;
    let (i, mult) = match i.chars().next() {
        Some('k' | 'K') => (&i[1..], 1u64 << 10),
        Some('m' | 'M') => (&i[1..], 1 << 20),
        Some('g' | 'G') => (&i[1..], 1 << 30),
        _ => (i, 1),
    };
    match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)) {
        Some(n) => Ok((i, n)),
        None => fail(start, "number too large"),
    }
}

/// `string-list = "[" string *("," string) "]" / string`.
fn string_list(i: &str) -> R<'_, Vec<String>> {
    let (mut i, _) = tag("[").parse(i)?;
    let mut out = Vec::new();
    loop {
        let (rest, _) = ws(i)?;
        if !(rest.starts_with('"') || starts_text(rest)) {
            return fail(rest, "expected a string in the string list");
        }
        let (rest, s) = string(rest)?;
        out.push(s);
        if out.len() > MAX_LIST_LEN {
            return fail(
                rest,
                format!("string list longer than {MAX_LIST_LEN} items"),
            );
        }
        let (rest, _) = ws(rest)?;
        if let Some(rest) = rest.strip_prefix(',') {
            i = rest;
        } else if let Some(rest) = rest.strip_prefix(']') {
            return Ok((rest, out));
        } else {
            return fail(rest, "expected ',' or ']' in the string list");
        }
    }
}

impl Parser_<'_> {
    fn offset(&self, rest: &str) -> usize {
        self.src.len() - rest.len()
    }

    fn error_at(&self, rest: &str, msg: impl Into<String>) -> SyntaxError {
        SyntaxError {
            offset: self.offset(rest),
            message: msg.into(),
        }
    }

    /// `commands = *command`, up to a `}` or the end.
    fn commands<'a>(&self, i: &'a str, depth: usize) -> R<'a, Vec<Command>> {
        let mut out = Vec::new();
        let (mut i, _) = ws(i)?;
        while !i.is_empty() && !i.starts_with('}') {
            let (rest, c) = self.command(i, depth)?;
            out.push(c);
            i = ws(rest)?.0;
        }
        Ok((i, out))
    }

    /// `command = identifier arguments (";" / block)`.
    fn command<'a>(&self, i: &'a str, depth: usize) -> R<'a, Command> {
        let pos = self.offset(i);
        let Ok((i, name)) = identifier(i) else {
            return fail(i, "expected a command");
        };
        let (i, (args, tests)) = self.arguments(i, 0)?;
        let (i, _) = ws(i)?;
        if let Some(rest) = i.strip_prefix(';') {
            return Ok((
                rest,
                Command {
                    name,
                    pos,
                    args,
                    tests,
                    block: None,
                },
            ));
        }
        if let Some(rest) = i.strip_prefix('{') {
            if depth + 1 > MAX_BLOCK_NESTING {
                return fail(i, format!("blocks nested deeper than {MAX_BLOCK_NESTING}"));
            }
            let (rest, block) = self.commands(rest, depth + 1)?;
            let Some(rest) = rest.strip_prefix('}') else {
                return fail(rest, "unexpected end of script: block without '}'");
            };
            return Ok((
                rest,
                Command {
                    name,
                    pos,
                    args,
                    tests,
                    block: Some(block),
                },
            ));
        }
        if i.is_empty() {
            fail(i, format!("unexpected end of script: '{name}' without ';'"))
        } else {
            fail(
                i,
                format!("expected ';' or '{{' after the arguments of '{name}'"),
            )
        }
    }

    /// `arguments = *argument [ test / test-list ]`; `depth` counts enclosing tests.
    fn arguments<'a>(&self, i: &'a str, depth: usize) -> R<'a, (Vec<Arg>, Option<Tests>)> {
        let mut args = Vec::new();
        let mut i = i;
        loop {
            let (rest, _) = ws(i)?;
            i = rest;
            let pos = self.offset(i);
            let Some(c) = i.chars().next() else { break };
            let (rest, value) = if c == '[' {
                let (r, l) = string_list(i)?;
                (r, Value::List(l))
            } else if c == '"' || starts_text(i) {
                let (r, s) = string(i)?;
                (r, Value::String(s))
            } else if c.is_ascii_digit() {
                let (r, n) = number(i)?;
                (r, Value::Number(n))
            } else if c == ':' {
                match identifier(&i[1..]) {
                    Ok((r, t)) => (r, Value::Tag(t)),
                    Err(_) => return fail(i, "expected a tag name after ':'"),
                }
            } else {
                break;
            };
            args.push(Arg { pos, value });
            if args.len() > MAX_ARGUMENTS {
                return fail(i, format!("more than {MAX_ARGUMENTS} arguments"));
            }
            i = rest;
        }
        if i.starts_with('(') {
            let (i, list) = self.test_list(i, depth)?;
            return Ok((i, (args, Some(Tests::List(list)))));
        }
        if i.starts_with(is_ident_start) {
            let (i, t) = self.test(i, depth)?;
            return Ok((i, (args, Some(Tests::One(Box::new(t))))));
        }
        Ok((i, (args, None)))
    }

    /// `test = identifier arguments`.
    fn test<'a>(&self, i: &'a str, depth: usize) -> R<'a, Test> {
        if depth + 1 > MAX_TEST_NESTING {
            return fail(i, format!("tests nested deeper than {MAX_TEST_NESTING}"));
        }
        let pos = self.offset(i);
        let Ok((i, name)) = identifier(i) else {
            return fail(i, "expected a test");
        };
        let (i, (args, tests)) = self.arguments(i, depth + 1)?;
        Ok((
            i,
            Test {
                name,
                pos,
                args,
                tests,
            },
        ))
    }

    /// `test-list = "(" test *("," test) ")"`.
    fn test_list<'a>(&self, i: &'a str, depth: usize) -> R<'a, Vec<Test>> {
        let (mut i, _) = tag("(").parse(i)?;
        let mut out = Vec::new();
        loop {
            let (rest, _) = ws(i)?;
            let (rest, t) = self.test(rest, depth)?;
            out.push(t);
            if out.len() > MAX_LIST_LEN {
                return fail(rest, format!("test list longer than {MAX_LIST_LEN} tests"));
            }
            let (rest, _) = ws(rest)?;
            if let Some(rest) = rest.strip_prefix(',') {
                i = rest;
            } else if let Some(rest) = rest.strip_prefix(')') {
                return Ok((rest, out));
            } else {
                return fail(rest, "expected ',' or ')' in the test list");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first argument of the first command of `src`.
    fn first_arg(src: &str) -> Value {
        let ast = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
        ast.commands[0].args[0].value.clone()
    }

    fn s(x: &str) -> Value {
        Value::String(x.to_string())
    }

    #[test]
    fn tokens() {
        let rows: &[(&str, Value)] = &[
            // RFC 5228 §2.4.2: \\ and \" escape; any other backslash disappears.
            (r#"x "a\"b";"#, s("a\"b")),
            (r#"x "a\\b";"#, s("a\\b")),
            (r#"x "a\qb";"#, s("aqb")),
            ("x \"two\r\nlines\";", s("two\r\nlines")),
            (r#"x "";"#, s("")),
            // §2.4.2 multi-line: a comment may follow `text:`; ".." at a line start
            // loses one dot; the final CRLF before "." belongs to the string.
            (
                "x text: # note\r\nline 1\r\n..dot\r\n.\r\n;",
                s("line 1\r\n.dot\r\n"),
            ),
            ("x text:\n.\n;", s("")),
            ("x TEXT:  \t\nA\n.\n;", s("A\n")),
            (
                "x text:\n\"quoted\" \\ no escapes\n.\n;",
                s("\"quoted\" \\ no escapes\n"),
            ),
            // §2.4.1 numbers and quantifiers.
            ("x 0;", Value::Number(0)),
            ("x 1K;", Value::Number(1024)),
            ("x 2m;", Value::Number(2 << 20)),
            ("x 3G;", Value::Number(3 << 30)),
            ("x 18446744073709551615;", Value::Number(u64::MAX)),
            // §2.6.2 tags are case-insensitive.
            ("x :Over;", Value::Tag("over".into())),
            // §2.4.2.1 string lists.
            (
                "x [ \"a\" ,\"b\",\r\n text:\r\nc\r\n.\r\n ];",
                Value::List(vec!["a".into(), "b".into(), "c\r\n".into()]),
            ),
            ("x [\"only\"];", Value::List(vec!["only".into()])),
            // Comments anywhere between tokens.
            ("x/* c */\"v\" /* d */;", s("v")),
            ("x # c\n \"v\";", s("v")),
        ];
        for (src, want) in rows {
            assert_eq!(&first_arg(src), want, "{src:?}");
        }
    }

    #[test]
    fn structure() {
        let ast = parse("IF anyof (NOT true, Header :is \"a\" \"b\") { Keep; } else { stop; }")
            .expect("parses");
        assert_eq!(ast.commands.len(), 2);
        let c = &ast.commands[0];
        assert_eq!(c.name, "if");
        let Some(Tests::One(t)) = &c.tests else {
            panic!("one test")
        };
        assert_eq!(t.name, "anyof");
        let Some(Tests::List(l)) = &t.tests else {
            panic!("a test list")
        };
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].name, "not");
        assert!(matches!(&l[0].tests, Some(Tests::One(x)) if x.name == "true"));
        assert_eq!(l[1].name, "header");
        assert_eq!(l[1].args.len(), 3);
        assert_eq!(c.block.as_ref().map(|b| b[0].name.as_str()), Some("keep"));
        assert_eq!(ast.commands[1].name, "else");
        assert_eq!(c.pos, 0);
        assert_eq!(l[1].pos, 20);
    }
}
