//! The byte cursor shared by the command parser, the per-verb argument parsers
//! and the search, fetch and sequence-set parsers, with the RFC 9051 §9 lexical
//! primitives (atom, astring, quoted, literal, number …) and the one error type
//! of the parsing layer.
//!
//! Input is one whole command as framed by [`super::receiver::Receiver`]:
//! the line terminator of the last line is stripped, and every literal
//! marker `{n}` is followed by `\r\n` and the `n` literal bytes.
//!
//! Invariant: no function here indexes out of bounds or allocates more than
//! the input length; every loop advances the cursor.

use thiserror::Error;

/// Why a command could not be parsed. Every kind maps to a tagged (or, without
/// a tag, untagged) `BAD` response: RFC 9051 §7.1.3.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErrorKind {
    /// The command was empty.
    #[error("empty command")]
    Empty,
    /// The tag is missing or contains characters not allowed in a tag
    /// (RFC 9051 §9, `tag`).
    #[error("invalid tag")]
    InvalidTag,
    /// The command name is not one we know.
    #[error("unknown command")]
    UnknownCommand,
    /// A syntax element was expected at this position.
    #[error("expected {0}")]
    Expected(&'static str),
    /// The command ended in the middle of a syntax element (for instance an
    /// unbalanced parenthesis or a literal shorter than announced).
    #[error("unexpected end of command")]
    UnexpectedEnd,
    /// The command parsed, but more bytes follow it.
    #[error("unexpected data after the command")]
    Trailing,
    /// A quoted string or a string where text is required is not valid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A NUL byte outside a literal8 (RFC 9051 §4.3: NUL is never allowed).
    #[error("NUL byte")]
    Nul,
    /// A number is zero where `nz-number` is required, or it overflows its
    /// range (RFC 9051 §9, `number`, `number64`, `nz-number`).
    #[error("number out of range")]
    Number,
    /// A date or date-time that does not exist (RFC 9051 §9, `date`,
    /// `date-time`).
    #[error("invalid date")]
    Date,
    /// Parentheses or NOT/OR nest deeper than [`MAX_NESTING`].
    #[error("nesting too deep")]
    TooDeep,
    /// A rule that is not purely syntactic was broken (the text says which).
    #[error("{0}")]
    Invalid(&'static str),
}

/// A parse error: the tag when it could be read (so the session can answer
/// `tag BAD …`, otherwise `* BAD …`), what went wrong and at which byte.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} at byte {at}")]
pub struct ParseError {
    /// The command tag, if it could be read.
    pub tag: Option<String>,
    /// What went wrong.
    pub kind: ErrorKind,
    /// Byte offset in the command where the error was noticed.
    pub at: usize,
}

impl ParseError {
    /// An error of `kind` noticed at byte `at`, without a tag (the command parser
    /// adds it).
    pub(crate) fn at(kind: ErrorKind, at: usize) -> Self {
        ParseError {
            tag: None,
            kind,
            at,
        }
    }

    /// [`ErrorKind::Invalid`] at byte `at`: a rule that is not purely syntactic
    /// was broken (`what` says which).
    pub(crate) fn invalid(at: usize, what: &'static str) -> Self {
        Self::at(ErrorKind::Invalid(what), at)
    }
}

/// Deepest nesting of parentheses and NOT/OR operands accepted in search
/// keys, body sections and lists. RFC 9051 sets no limit; we bound it so
/// that hostile input (`NOT NOT …` ×1e6, `((((…`) cannot overflow the stack.
pub const MAX_NESTING: usize = 100;

pub(crate) type PResult<T> = Result<T, ParseError>;

/// RFC 9051 §9 `ATOM-CHAR`: any CHAR except atom-specials
/// (`(` `)` `{` SP CTL `%` `*` `"` `\` `]`).
pub fn is_atom_char(b: u8) -> bool {
    matches!(b, 0x21..=0x7e) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// RFC 9051 §9 `ASTRING-CHAR` = ATOM-CHAR / resp-specials (`]`).
pub(crate) fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// RFC 9051 §9 `tag` = 1*<any ASTRING-CHAR except "+">.
pub(crate) fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// RFC 9051 §9 `list-char` = ATOM-CHAR / list-wildcards / resp-specials.
pub(crate) fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// A cursor over one command.
#[derive(Debug, Clone)]
pub(crate) struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Current nesting depth, bounded by [`MAX_NESTING`].
    depth: usize,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Parser {
            buf,
            pos: 0,
            depth: 0,
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(crate) fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.buf.get(self.pos + ahead).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn slice(&self, start: usize, end: usize) -> &'a [u8] {
        self.buf.get(start..end).unwrap_or_default()
    }

    /// An error at the current position, without a tag (the command parser
    /// adds it).
    pub(crate) fn error(&self, kind: ErrorKind) -> ParseError {
        ParseError::at(kind, self.pos)
    }

    /// "Expected X", refined: at the end of input it is
    /// [`ErrorKind::UnexpectedEnd`], at a NUL byte [`ErrorKind::Nul`].
    pub(crate) fn expected(&self, what: &'static str) -> ParseError {
        match self.peek() {
            None => self.error(ErrorKind::UnexpectedEnd),
            Some(0) => self.error(ErrorKind::Nul),
            Some(_) => self.error(ErrorKind::Expected(what)),
        }
    }

    pub(crate) fn fail<T>(&self, what: &'static str) -> PResult<T> {
        Err(self.expected(what))
    }

    /// Enters one nesting level (a parenthesis, NOT, OR …).
    pub(crate) fn enter(&mut self) -> PResult<()> {
        if self.depth >= MAX_NESTING {
            return Err(self.error(ErrorKind::TooDeep));
        }
        self.depth += 1;
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Consumes `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, b: u8, what: &'static str) -> PResult<()> {
        if self.eat(b) { Ok(()) } else { self.fail(what) }
    }

    /// Exactly one space (RFC 9051 §9 `SP`).
    pub(crate) fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "SP")
    }

    /// Requires the end of the command.
    pub(crate) fn end(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else if self.peek() == Some(0) {
            Err(self.error(ErrorKind::Nul))
        } else {
            Err(self.error(ErrorKind::Trailing))
        }
    }

    /// Consumes `word` (ASCII, case-insensitive) if it is next and is not
    /// followed by another atom character.
    pub(crate) fn keyword(&mut self, word: &str) -> bool {
        let w = word.as_bytes();
        let end = self.pos + w.len();
        match self.buf.get(self.pos..end) {
            Some(s) if s.eq_ignore_ascii_case(w) => {
                if self
                    .buf
                    .get(end)
                    .is_some_and(|&b| is_atom_char(b) && b != b'[')
                {
                    return false;
                }
                self.pos = end;
                true
            }
            _ => false,
        }
    }

    /// Consumes `prefix` (ASCII, case-insensitive) if it is next, whatever
    /// follows.
    pub(crate) fn prefix(&mut self, prefix: &str) -> bool {
        let w = prefix.as_bytes();
        let end = self.pos + w.len();
        match self.buf.get(self.pos..end) {
            Some(s) if s.eq_ignore_ascii_case(w) => {
                self.pos = end;
                true
            }
            _ => false,
        }
    }

    /// Bytes while `pred` holds (possibly none).
    pub(crate) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        self.buf.get(start..self.pos).unwrap_or_default()
    }

    /// RFC 9051 §9 `atom` = 1*ATOM-CHAR.
    pub(crate) fn atom(&mut self) -> PResult<&'a str> {
        self.atom_of(is_atom_char, "atom")
    }

    /// One or more bytes matching `pred` (all ASCII), as text.
    pub(crate) fn atom_of(
        &mut self,
        pred: impl Fn(u8) -> bool,
        what: &'static str,
    ) -> PResult<&'a str> {
        let s = self.take_while(|b| b.is_ascii() && pred(b));
        if s.is_empty() {
            return self.fail(what);
        }
        // Only ASCII bytes were taken.
        std::str::from_utf8(s).map_err(|_| self.error(ErrorKind::InvalidUtf8))
    }

    /// RFC 9051 §9 `number64`: up to 2^63 - 1. Also used for `number`
    /// through [`Parser::number`].
    pub(crate) fn number64(&mut self) -> PResult<u64> {
        let start = self.pos;
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return self.fail("number");
        }
        let mut n: u64 = 0;
        for &d in digits {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or(ParseError::at(ErrorKind::Number, start))?;
        }
        Ok(n)
    }

    /// RFC 9051 §9 `number` (32-bit unsigned).
    pub(crate) fn number(&mut self) -> PResult<u32> {
        let start = self.pos;
        let n = self.number64()?;
        u32::try_from(n).map_err(|_| ParseError::at(ErrorKind::Number, start))
    }

    /// RFC 9051 §9 `nz-number`.
    pub(crate) fn nz_number(&mut self) -> PResult<u32> {
        let start = self.pos;
        match self.number()? {
            0 => Err(ParseError::at(ErrorKind::Number, start)),
            n => Ok(n),
        }
    }

    /// RFC 7162 §7 `mod-sequence-value` (1*DIGIT, non-zero, < 2^63).
    pub(crate) fn mod_sequence_value(&mut self) -> PResult<u64> {
        let start = self.pos;
        match self.number64()? {
            0 => Err(ParseError::at(ErrorKind::Number, start)),
            n => Ok(n),
        }
    }

    /// RFC 9051 §9 `quoted`: DQUOTE *QUOTED-CHAR DQUOTE, with `\"` and `\\`
    /// escapes; UTF-8 allowed (`QUOTED-CHAR =/ UTF8-2 / UTF8-3 / UTF8-4`), CR,
    /// LF and NUL not. Returns the unescaped bytes, valid UTF-8.
    pub(crate) fn quoted(&mut self) -> PResult<String> {
        self.expect(b'"', "quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error(ErrorKind::UnexpectedEnd)),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return self.fail("quoted-special after backslash"),
                    }
                }
                Some(0) => return Err(self.error(ErrorKind::Nul)),
                Some(b'\r' | b'\n') => return self.fail("closing quote"),
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.error(ErrorKind::InvalidUtf8))
    }

    /// RFC 9051 §9 `literal` / `literal8` (RFC 3516 §4.3) and the
    /// non-synchronizing forms (RFC 7888 §3): `{n}`, `{n+}`, `~{n}`,
    /// `~{n+}`, then CRLF and `n` bytes. Returns the data and whether it was
    /// a literal8.
    pub(crate) fn literal(&mut self) -> PResult<(&'a [u8], bool)> {
        let binary = self.eat(b'~');
        self.expect(b'{', "literal")?;
        let n = self.number64()?;
        self.eat(b'+');
        self.expect(b'}', "}")?;
        self.eat(b'\r');
        self.expect(b'\n', "CRLF after literal size")?;
        let len = usize::try_from(n).map_err(|_| self.error(ErrorKind::UnexpectedEnd))?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            self.pos = self.buf.len();
            return Err(self.error(ErrorKind::UnexpectedEnd));
        };
        let data = self.buf.get(self.pos..end).unwrap_or_default();
        if !binary && data.contains(&0) {
            // RFC 9051 §4.3: a literal is CHAR8 (%x01-ff); NUL needs literal8.
            return Err(self.error(ErrorKind::Nul));
        }
        self.pos = end;
        Ok((data, binary))
    }

    /// Whether a quoted string or a literal (`{`, `~{`) starts here.
    fn at_string(&self) -> bool {
        match self.peek() {
            Some(b'"' | b'{') => true,
            Some(b'~') => self.peek_at(1) == Some(b'{'),
            _ => false,
        }
    }

    /// RFC 9051 §9 `string` = quoted / literal, as bytes.
    pub(crate) fn string_bytes(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => Ok(self.quoted()?.into_bytes()),
            _ if self.at_string() => Ok(self.literal()?.0.to_vec()),
            _ => self.fail("string"),
        }
    }

    /// RFC 9051 §9 `astring` = 1*ASTRING-CHAR / string, as bytes (literals
    /// may carry any charset: search strings are decoded by the session).
    pub(crate) fn astring_bytes(&mut self) -> PResult<Vec<u8>> {
        if self.at_string() {
            self.string_bytes()
        } else {
            Ok(self
                .atom_of(is_astring_char, "astring")?
                .as_bytes()
                .to_vec())
        }
    }

    /// `astring` that must be UTF-8 text.
    pub(crate) fn astring(&mut self) -> PResult<String> {
        let start = self.pos;
        let bytes = self.astring_bytes()?;
        String::from_utf8(bytes).map_err(|_| ParseError::at(ErrorKind::InvalidUtf8, start))
    }

    /// `string` that must be UTF-8 text.
    pub(crate) fn string(&mut self) -> PResult<String> {
        let start = self.pos;
        let bytes = self.string_bytes()?;
        String::from_utf8(bytes).map_err(|_| ParseError::at(ErrorKind::InvalidUtf8, start))
    }

    /// RFC 9051 §9 `nstring` = string / nil.
    pub(crate) fn nstring(&mut self) -> PResult<Option<String>> {
        if self.keyword("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// RFC 9051 §9 `mailbox` = "INBOX" / astring. INBOX is case-insensitive
    /// and returned as `INBOX`; every other name is returned undecoded
    /// (modified UTF-7 or, with UTF8=ACCEPT, UTF-8: the session decodes).
    pub(crate) fn mailbox(&mut self) -> PResult<String> {
        let name = self.astring()?;
        if name.eq_ignore_ascii_case("INBOX") {
            Ok("INBOX".to_owned())
        } else {
            Ok(name)
        }
    }

    /// `SP mailbox`: the argument of most mailbox commands.
    pub(crate) fn sp_mailbox(&mut self) -> PResult<String> {
        self.sp()?;
        self.mailbox()
    }

    /// An `atom`, upper-cased: a keyword, capability, mechanism or option name
    /// (RFC 9051 §9 note 1: case-insensitive).
    pub(crate) fn atom_upper(&mut self) -> PResult<String> {
        Ok(self.atom()?.to_ascii_uppercase())
    }

    /// `1*(SP item)` up to the end of the command.
    pub(crate) fn sp_each_to_end<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        let mut out = Vec::new();
        loop {
            self.sp()?;
            out.push(item(self)?);
            if self.at_end() {
                return Ok(out);
            }
        }
    }

    /// RFC 9051 §9 `list-mailbox` = 1*list-char / string.
    pub(crate) fn list_mailbox(&mut self) -> PResult<String> {
        if self.at_string() {
            self.string()
        } else {
            Ok(self.atom_of(is_list_char, "list-mailbox")?.to_owned())
        }
    }

    /// `(` a *(SP a) `)` with at least one element, or `()` when
    /// `allow_empty`.
    pub(crate) fn paren_list<T>(
        &mut self,
        allow_empty: bool,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.expect(b'(', "(")?;
        self.enter()?;
        let mut out = Vec::new();
        if self.eat(b')') {
            self.leave();
            if allow_empty {
                return Ok(out);
            }
            self.pos -= 1;
            return self.fail("list element");
        }
        loop {
            out.push(item(self)?);
            if self.eat(b')') {
                break;
            }
            self.sp()?;
        }
        self.leave();
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;

    #[test]
    fn primitives() {
        let mut p = Parser::new(b"\"a\\\"b\" {3}\r\nxyz ~{2+}\r\n\0\x01 atom] 123 00 4294967296");
        assert_eq!(p.astring().unwrap(), "a\"b");
        p.sp().unwrap();
        assert_eq!(p.astring().unwrap(), "xyz");
        p.sp().unwrap();
        assert_eq!(p.literal().unwrap(), (&b"\0\x01"[..], true));
        p.sp().unwrap();
        assert_eq!(p.astring().unwrap(), "atom]");
        p.sp().unwrap();
        assert_eq!(p.number().unwrap(), 123);
        p.sp().unwrap();
        assert_eq!(p.nz_number().unwrap_err().kind, ErrorKind::Number);
        p.sp().unwrap();
        assert_eq!(p.number().unwrap_err().kind, ErrorKind::Number);
    }

    #[test]
    fn hostile_strings() {
        let rows: &[(&[u8], ErrorKind)] = &[
            (b"\"abc", ErrorKind::UnexpectedEnd),
            (b"\"a\0b\"", ErrorKind::Nul),
            (b"\"\xff\xfe\"", ErrorKind::InvalidUtf8),
            (
                b"\"a\\n\"",
                ErrorKind::Expected("quoted-special after backslash"),
            ),
            (b"{5}\r\nab", ErrorKind::UnexpectedEnd),
            (b"{18446744073709551615}\r\nab", ErrorKind::Number),
            (b"{2}\r\na\0", ErrorKind::Nul),
            (b"\0", ErrorKind::Nul),
            (b"", ErrorKind::UnexpectedEnd),
            (b"(", ErrorKind::Expected("astring")),
        ];
        for (input, kind) in rows {
            let err = Parser::new(input).astring().unwrap_err();
            assert_eq!(&err.kind, kind, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn keyword_boundary() {
        let mut p = Parser::new(b"FLAGS.SILENT");
        assert!(!p.keyword("FLAGS"));
        assert!(p.prefix("flags"));
        assert!(p.keyword(".silent"));
        assert!(p.at_end());
        let mut p = Parser::new(b"BODY[TEXT]");
        assert!(p.keyword("body"));
    }
}
