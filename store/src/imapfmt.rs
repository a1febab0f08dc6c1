//! IMAP `ENVELOPE`, `BODY` and `BODYSTRUCTURE` fetch items (RFC 9051
//! §7.5.2, RFC 3501 §7.4.2), computed once at delivery from a parsed
//! message and kept in the store's index.
//!
//! Everything here is a pure function of a [`mail_parser::Message`]. The
//! MIME tree (which parts exist, where their headers and bodies start and
//! end, nested `message/rfc822` messages) comes from `mail-parser`; every
//! string that ends up in a response is taken from the **raw header bytes**
//! (`Header::offset_start..offset_end` into `Message::raw_message`), never
//! from mail-parser's decoded values, because that is what Dovecot returns
//! and what clients that cache `BODYSTRUCTURE` across servers expect.
//!
//! # Dovecot compatibility
//!
//! The output is meant to be byte-for-byte what Dovecot 2.3 sends for a
//! message stored with CRLF line endings (the test suite reproduces
//! Dovecot's own `test-imap-bodystructure.c` expectations):
//!
//! * **Envelope strings.** Date, In-Reply-To and Message-ID are the raw
//!   header value, unfolded (CR and LF removed) with leading whitespace
//!   trimmed; trailing whitespace is kept, as Dovecot does. The subject is
//!   the raw value with runs of whitespace collapsed to one space and
//!   trimmed at both ends (Dovecot's "string for humans"). RFC 2047
//!   encoded-words are **left encoded**. When a header occurs more than
//!   once, the last occurrence wins (Dovecot overwrites). A present but
//!   empty Subject is `""`, an absent one `NIL`.
//! * **Addresses.** mail-parser decodes RFC 2047 in display names and drops
//!   source routes, so addresses are parsed from the raw header text with
//!   a small RFC 5322 parser that follows Dovecot's `message-address.c`:
//!   display names are the raw phrase (encoded-words still encoded, quoted
//!   strings unquoted, words joined by one space), a comment after a bare
//!   `addr-spec` becomes the name, a source route becomes the `adl`
//!   (`"@a,@b"`), a missing local part or domain is reported as
//!   `MISSING_MAILBOX` / `MISSING_DOMAIN`, an unparsable angle address as
//!   domain `SYNTAX_ERROR`. Groups are `(NIL NIL "name" NIL)` …
//!   `(NIL NIL NIL NIL)`. An empty list is `NIL`; Sender and Reply-To
//!   default to From when absent or empty (RFC 9051 §7.5.2).
//! * **Body fields.** Type, subtype, parameter names and values, the
//!   Content-Transfer-Encoding, disposition and languages are returned as
//!   written in the message (no case folding), parsed like Dovecot's
//!   `rfc822-parser.c`: RFC 2231 continuations are merged into one
//!   `name` / `name*` parameter but not decoded. Content-ID,
//!   Content-Description, Content-MD5 and Content-Location are the raw
//!   unfolded values. Defaults: no Content-Type means `"text" "plain"`
//!   (`"message" "rfc822"` directly below `multipart/digest`); a `text/*`
//!   part without a charset gets `"charset" "us-ascii"` appended; a missing
//!   or invalid Content-Transfer-Encoding is `"7bit"`. Without a
//!   MIME-Version or Content-Type header (and outside a multipart) the other
//!   `Content-*` headers are ignored, as Dovecot does.
//! * **Sizes and lines.** `body-fld-octets` is the number of octets of the
//!   part's (still encoded) body as stored, `body-fld-lines` its number of
//!   LF characters; the CRLF before a boundary belongs to the boundary.
//!   For CRLF-stored messages this equals Dovecot's "virtual size".
//! * **Degenerate trees.** A multipart with a boundary but no parts gets one
//!   empty `text/plain` child; `message/rfc822` always carries an envelope
//!   and a body (empty ones if the encapsulated message cannot be parsed);
//!   `message/global` is written as a basic part like Dovecot does (IMAP4rev1
//!   clients only know the `message/rfc822` form). Nesting deeper than
//!   [`MAX_DEPTH`] is flattened to a `text/plain` part.
//!
//! Where the representation is free, these functions pick one: strings
//! are quoted when that is possible ([`write_string`]) where Dovecot
//! sometimes sends a literal, which is equivalent for every IMAP client.
//! Header bytes that are not UTF-8 are replaced with U+FFFD, since the
//! results are Rust strings.

use std::borrow::Cow;

use mail_parser::{Header, HeaderName, HeaderValue, Message, MessageParser, MessagePart, PartType};

/// Longest string [`write_string`] sends as a quoted string; longer strings
/// are sent as literals.
pub const MAX_QUOTED_LEN: usize = 1024;

/// Deepest multipart / `message/rfc822` nesting written as such (Dovecot's
/// default `mail_max_nested_mime_parts`-style guard). Deeper parts are
/// written as flat `text/plain` parts, which also bounds recursion.
pub const MAX_DEPTH: usize = 100;

/// `body-fld-*` of an empty `text/plain` part, used for a multipart without
/// parts and an unparsable encapsulated message (Dovecot's `EMPTY_BODY`).
const EMPTY_BODY: &str = "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0";
/// Extension data appended to [`EMPTY_BODY`] for `BODYSTRUCTURE`.
const EMPTY_BODY_EXT: &str = " NIL NIL NIL NIL";
/// The envelope of a message without any envelope header.
const EMPTY_ENVELOPE: &str = "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL";

/// RFC 9051 §7.5.2 ENVELOPE, as the parenthesized list that follows "ENVELOPE ".
///
/// Fields, in order: date, subject, from, sender, reply-to, to, cc, bcc,
/// in-reply-to, message-id (RFC 9051 §9 `envelope`). See the module
/// documentation for how each value is derived from the raw header.
pub fn envelope(msg: &mail_parser::Message<'_>) -> String {
    let mut out = String::with_capacity(256);
    out.push('(');
    match msg.parts.first() {
        Some(root) => write_envelope_fields(&mut out, &root.headers, &msg.raw_message),
        None => out.push_str(EMPTY_ENVELOPE),
    }
    out.push(')');
    out
}

/// RFC 9051 §7.5.2 BODYSTRUCTURE (extended = true: with extension data) or BODY (extended = false).
///
/// The result is the parenthesized `body` production of RFC 9051 §9, i.e.
/// what follows "BODYSTRUCTURE " or "BODY " in a FETCH response. Single
/// parts carry `body-ext-1part` = md5, disposition, language and location;
/// multiparts carry `body-ext-mpart` = parameters, disposition, language
/// and location — always all four, as Dovecot sends them.
pub fn body_structure(msg: &mail_parser::Message<'_>, extended: bool) -> String {
    let mut out = String::with_capacity(256);
    out.push('(');
    if msg.parts.is_empty() {
        write_empty_body(&mut out, extended);
    } else {
        write_part(&mut out, msg, 0, Parent::Message, extended, 0);
    }
    out.push(')');
    out
}

/// Write `s` as an IMAP string: quoted ("..." with \\ and \" escaped) when it is short and has no CR, LF or NUL and is valid for a quoted string; otherwise a literal {n}\r\n<bytes>.
///
/// "Short" is at most [`MAX_QUOTED_LEN`] octets. "Valid for a quoted string"
/// is the IMAP4rev1 `QUOTED-CHAR` set (RFC 3501 §9): 7-bit characters other
/// than NUL, CR and LF, so non-ASCII text is always sent as a literal, which
/// both IMAP4rev1 and IMAP4rev2 (RFC 9051 §4.3) clients accept. A literal
/// cannot carry NUL either (`CHAR8`), so NULs are replaced with U+FFFD.
pub fn write_string(out: &mut String, s: &str) {
    if s.len() <= MAX_QUOTED_LEN && s.bytes().all(is_quoted_char) {
        out.reserve(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        let body: Cow<'_, str> = if s.contains('\0') {
            Cow::Owned(s.replace('\0', "\u{FFFD}"))
        } else {
            Cow::Borrowed(s)
        };
        out.push('{');
        out.push_str(&body.len().to_string());
        out.push_str("}\r\n");
        out.push_str(&body);
    }
}

/// NIL when None, else write_string.
pub fn write_nstring(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.push_str("NIL"),
    }
}

/// `QUOTED-CHAR` without the escaping: any 7-bit `TEXT-CHAR` (RFC 3501 §9).
fn is_quoted_char(b: u8) -> bool {
    matches!(b, 0x01..=0x7f) && b != b'\r' && b != b'\n'
}

// ---------------------------------------------------------------------------
// Raw header access
// ---------------------------------------------------------------------------

/// The last header called `name`, as Dovecot lets a later occurrence win.
fn last_header<'h, 'x>(headers: &'h [Header<'x>], name: &HeaderName<'_>) -> Option<&'h Header<'x>> {
    headers.iter().rev().find(|h| &h.name == name)
}

/// The raw bytes of a header's value, after the colon, folds and final
/// line ending included.
fn header_raw<'r>(raw: &'r [u8], header: &Header<'_>) -> &'r [u8] {
    raw.get(header.offset_start as usize..header.offset_end as usize)
        .unwrap_or_default()
}

/// Unfold a raw header value the way Dovecot's `imap_append_nstring_nolf`
/// sees it: CR and LF are removed (a space is inserted should a line break
/// not be followed by whitespace) and leading whitespace is trimmed.
fn unfold(value: &[u8]) -> String {
    let mut buf = Vec::with_capacity(value.len());
    for (i, &b) in value.iter().enumerate() {
        if b == b'\r' || b == b'\n' {
            if !matches!(value.get(i + 1), None | Some(b' ' | b'\t' | b'\r' | b'\n')) {
                buf.push(b' ');
            }
        } else {
            buf.push(b);
        }
    }
    let start = buf
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(buf.len());
    String::from_utf8_lossy(buf.get(start..).unwrap_or_default()).into_owned()
}

/// Dovecot's "string for humans" (used for the subject and display names):
/// every run of SP, TAB, CR and LF becomes one space, whitespace at either
/// end is removed, and NUL (not representable in IMAP) becomes U+FFFD.
fn humanize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        match c {
            ' ' | '\t' | '\r' | '\n' => pending_space = !out.is_empty(),
            _ => {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push(if c == '\0' { '\u{FFFD}' } else { c });
            }
        }
    }
    out
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------
// ENVELOPE
// ---------------------------------------------------------------------------

/// Write the ten envelope fields (without the surrounding parentheses) of
/// the message whose top-level headers are `headers`.
fn write_envelope_fields(out: &mut String, headers: &[Header<'_>], raw: &[u8]) {
    let value = |name: HeaderName<'static>| last_header(headers, &name).map(|h| header_raw(raw, h));
    let text = |name: HeaderName<'static>| value(name).map(unfold);

    write_nstring(out, text(HeaderName::Date).as_deref());
    out.push(' ');
    match text(HeaderName::Subject) {
        Some(subject) => write_string(out, &humanize(&subject)),
        None => out.push_str("NIL"),
    }

    let from = parse_address_list(value(HeaderName::From));
    let sender = parse_address_list(value(HeaderName::Sender));
    let reply_to = parse_address_list(value(HeaderName::ReplyTo));
    for list in [
        &from,
        if sender.is_empty() { &from } else { &sender },
        if reply_to.is_empty() { &from } else { &reply_to },
        &parse_address_list(value(HeaderName::To)),
        &parse_address_list(value(HeaderName::Cc)),
        &parse_address_list(value(HeaderName::Bcc)),
    ] {
        out.push(' ');
        write_address_list(out, list);
    }

    out.push(' ');
    write_nstring(out, text(HeaderName::InReplyTo).as_deref());
    out.push(' ');
    write_nstring(out, text(HeaderName::MessageId).as_deref());
}

/// One RFC 9051 `address`: (name adl mailbox host). A group start has only
/// `mailbox` (the group name), a group end has nothing (RFC 9051 §7.5.2).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Address {
    name: Option<Vec<u8>>,
    route: Option<Vec<u8>>,
    mailbox: Option<Vec<u8>>,
    domain: Option<Vec<u8>>,
}

fn write_address_list(out: &mut String, list: &[Address]) {
    if list.is_empty() {
        out.push_str("NIL");
        return;
    }
    out.push('(');
    for addr in list {
        out.push('(');
        match &addr.name {
            Some(name) => write_string(out, &humanize(&lossy(name))),
            None => out.push_str("NIL"),
        }
        for field in [&addr.route, &addr.mailbox, &addr.domain] {
            out.push(' ');
            write_nstring(out, field.as_deref().map(lossy).as_deref());
        }
        out.push(')');
    }
    out.push(')');
}

/// Parse an address header's raw value (`None`: header absent).
fn parse_address_list(value: Option<&[u8]>) -> Vec<Address> {
    let Some(value) = value else {
        return Vec::new();
    };
    let mut parser = AddressParser {
        lex: Lexer::new(value),
        cur: Address::default(),
        list: Vec::new(),
    };
    if parser.lex.skip_lwsp() > Lx::End {
        parser.address_list();
    }
    parser.list
}

/// RFC 5322 §3.4 address-list parser with Dovecot's error recovery
/// (`message-address.c`), producing IMAP envelope addresses.
struct AddressParser<'a> {
    lex: Lexer<'a>,
    cur: Address,
    list: Vec<Address>,
}

impl AddressParser<'_> {
    fn add(&mut self) {
        self.list.push(std::mem::take(&mut self.cur));
    }

    /// Add the current mailbox, filling in what is missing.
    fn add_fixed(&mut self) {
        if self.cur.mailbox.is_none() {
            self.cur.mailbox = Some(b"MISSING_MAILBOX".to_vec());
        }
        if self.cur.domain.is_none() {
            self.cur.domain = Some(b"MISSING_DOMAIN".to_vec());
        }
        self.add();
    }

    /// local-part = dot-atom / quoted-string / obs-local-part
    fn local_part(&mut self) -> Lx {
        let mut s = Vec::new();
        let r = if self.lex.peek() == b'"' {
            self.lex.quoted_string(&mut s)
        } else {
            self.lex.dot_atom(&mut s)
        };
        if r != Lx::Broken {
            self.cur.mailbox = Some(s);
        }
        r
    }

    fn domain(&mut self) -> Lx {
        let mut s = Vec::new();
        let r = self.lex.domain(&mut s);
        if r != Lx::Broken {
            self.cur.domain = Some(s);
        }
        r
    }

    /// obs-domain-list = "@" domain *(*(CFWS / ",") [CFWS] "@" domain)
    fn domain_list(&mut self) -> Lx {
        let mut s = Vec::new();
        loop {
            if self.lex.at_end() {
                return Lx::End;
            }
            if self.lex.peek() != b'@' {
                break;
            }
            if !s.is_empty() {
                s.push(b',');
            }
            s.push(b'@');
            let r = self.lex.domain(&mut s);
            if r <= Lx::End {
                return r;
            }
            while self.lex.skip_lwsp() == Lx::More && self.lex.peek() == b',' {
                self.lex.pos += 1;
            }
        }
        self.cur.route = Some(s);
        Lx::More
    }

    /// angle-addr = "<" [obs-route] addr-spec ">"
    fn angle_addr(&mut self) -> Lx {
        self.lex.pos += 1;
        let r = self.lex.skip_lwsp();
        if r <= Lx::End {
            return r;
        }
        if self.lex.peek() == b'@' {
            if self.domain_list() <= Lx::End || self.lex.peek() != b':' {
                self.cur.route = Some(b"INVALID_ROUTE".to_vec());
                return Lx::Broken;
            }
            self.lex.pos += 1;
            let r = self.lex.skip_lwsp();
            if r <= Lx::End {
                return r;
            }
        }
        let r = self.local_part();
        if r <= Lx::End {
            return r;
        }
        if self.lex.peek() == b'@' {
            let r = self.domain();
            if r <= Lx::End {
                return r;
            }
        }
        if self.lex.peek() != b'>' {
            return Lx::Broken;
        }
        self.lex.pos += 1;
        self.lex.skip_lwsp()
    }

    /// name-addr = [display-name] angle-addr
    fn name_addr(&mut self) -> Lx {
        let mut name = Vec::new();
        if self.lex.phrase(&mut name) <= Lx::End || self.lex.peek() != b'<' {
            return Lx::Broken;
        }
        self.cur.name = (!name.is_empty()).then_some(name);
        if self.angle_addr() == Lx::Broken {
            self.cur.domain = Some(b"SYNTAX_ERROR".to_vec());
        }
        self.lex.status()
    }

    /// addr-spec = local-part "@" domain, a trailing comment being the name.
    fn addr_spec(&mut self) -> Lx {
        self.lex.last_comment.clear();
        let mut r = self.local_part();
        if r != Lx::End && self.lex.peek() == b'@' {
            let r2 = self.domain();
            if r2 <= Lx::End {
                r = r2;
            }
        }
        if !self.lex.last_comment.is_empty() {
            self.cur.name = Some(self.lex.last_comment.clone());
        }
        r
    }

    /// mailbox = name-addr / addr-spec
    fn mailbox(&mut self) -> Lx {
        let start = self.lex.pos;
        let mut r = self.name_addr();
        if r == Lx::Broken {
            self.lex.pos = start;
            r = self.addr_spec();
        }
        self.add_fixed();
        r
    }

    /// group = display-name ":" [group-list] ";" [CFWS]
    fn group(&mut self) -> Lx {
        let mut name = Vec::new();
        if self.lex.phrase(&mut name) <= Lx::End || self.lex.peek() != b':' {
            return Lx::Broken;
        }
        self.lex.pos += 1;
        let mut r = self.lex.skip_lwsp();
        self.cur.mailbox = Some(name);
        self.add();

        if r == Lx::More && self.lex.peek() != b';' {
            loop {
                if self.mailbox() <= Lx::End {
                    r = Lx::Broken;
                    break;
                }
                if self.lex.peek() != b',' {
                    break;
                }
                self.lex.pos += 1;
                if self.lex.skip_lwsp() <= Lx::End {
                    r = Lx::Broken;
                    break;
                }
            }
        }
        if r != Lx::Broken {
            if self.lex.peek() == b';' {
                self.lex.pos += 1;
                r = self.lex.skip_lwsp();
            } else {
                r = Lx::Broken;
            }
        }
        // End of group: an all-NIL address.
        self.add();
        if r == Lx::End { Lx::End } else { Lx::More }
    }

    /// address = mailbox / group
    fn address(&mut self) -> Lx {
        let start = self.lex.pos;
        let r = self.group();
        if r == Lx::Broken {
            self.lex.pos = start;
            self.mailbox()
        } else {
            r
        }
    }

    /// address-list = address *("," address); stops at the first garbage.
    fn address_list(&mut self) {
        loop {
            if self.address() == Lx::End || self.lex.peek() != b',' {
                break;
            }
            self.lex.pos += 1;
            let r = self.lex.skip_lwsp();
            if r <= Lx::End {
                if r == Lx::Broken {
                    // Ends with garbage (an unterminated comment).
                    self.add_fixed();
                }
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// RFC 5322 / RFC 2045 lexer
// ---------------------------------------------------------------------------

/// Lexer result, ordered like Dovecot's -1 / 0 / 1 convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Lx {
    /// Syntax error (unterminated comment, quoted string, …).
    Broken,
    /// Success, and the input is exhausted.
    End,
    /// Success, and more input follows.
    More,
}

/// Character classes of RFC 5322 `atext` (8-bit bytes included, as
/// Dovecot accepts them), split by whether they are RFC 2045 `tspecials`.
fn atext_class(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | 0x80..=0xff => 2,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'^' | b'_' | b'`'
        | b'{' | b'|' | b'}' | b'~' => 1,
        b'/' | b'=' | b'?' => 4,
        _ => 0,
    }
}

/// RFC 5322 §3.2.3 `atext`.
fn is_atext(c: u8) -> bool {
    atext_class(c) != 0
}

/// RFC 2045 §5.1 `token` character (Dovecot also accepts '.').
fn is_token_char(c: u8) -> bool {
    matches!(atext_class(c), 1 | 2) || c == b'.'
}

/// A cursor over one raw header value, with the RFC 5322 §3.2 lexical
/// productions. Every method stays within bounds whatever the input.
struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
    /// Contents of the last comment skipped (for `addr-spec (Name)`).
    last_comment: Vec<u8>,
}

impl<'a> Lexer<'a> {
    fn new(data: &'a [u8]) -> Self {
        Lexer {
            data,
            pos: 0,
            last_comment: Vec::new(),
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The current byte, or NUL at the end (like a C string terminator).
    fn peek(&self) -> u8 {
        self.data.get(self.pos).copied().unwrap_or(0)
    }

    fn status(&self) -> Lx {
        if self.at_end() { Lx::End } else { Lx::More }
    }

    fn take(&self, start: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.data.get(start..self.pos).unwrap_or_default());
    }

    /// comment = "(" *([FWS] ccontent) [FWS] ")", nested, with quoted-pairs.
    fn skip_comment(&mut self) -> Lx {
        self.last_comment.clear();
        self.pos += 1;
        let mut start = self.pos;
        let mut level = 1usize;
        while let Some(&c) = self.data.get(self.pos) {
            match c {
                b'(' => level += 1,
                b')' => {
                    level -= 1;
                    if level == 0 {
                        let comment = self.data.get(start..self.pos).unwrap_or_default();
                        self.last_comment.extend_from_slice(comment);
                        self.pos += 1;
                        return self.status();
                    }
                }
                b'\\' => {
                    let part = self.data.get(start..self.pos).unwrap_or_default();
                    self.last_comment.extend_from_slice(part);
                    self.pos += 1;
                    start = self.pos;
                    if self.at_end() {
                        return Lx::Broken;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Lx::Broken
    }

    /// Skip CFWS (whitespace, line breaks and comments).
    fn skip_lwsp(&mut self) -> Lx {
        while let Some(&c) = self.data.get(self.pos) {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    if self.skip_comment() == Lx::Broken {
                        return Lx::Broken;
                    }
                }
                _ => break,
            }
        }
        self.status()
    }

    /// atom = [CFWS] 1*atext [CFWS]
    fn atom(&mut self, out: &mut Vec<u8>) -> Lx {
        if !is_atext(self.peek()) {
            return Lx::Broken;
        }
        let start = self.pos;
        while !self.at_end() && is_atext(self.peek()) {
            self.pos += 1;
        }
        self.take(start, out);
        self.skip_lwsp()
    }

    /// dot-atom = [CFWS] 1*atext *("." 1*atext) [CFWS], allowing CFWS
    /// around the dots (RFC 822).
    fn dot_atom(&mut self, out: &mut Vec<u8>) -> Lx {
        if !is_atext(self.peek()) {
            return Lx::Broken;
        }
        let mut start = self.pos;
        loop {
            while !self.at_end() && is_atext(self.peek()) {
                self.pos += 1;
            }
            self.take(start, out);
            if self.at_end() {
                return Lx::End;
            }
            let r = self.skip_lwsp();
            if r <= Lx::End {
                return r;
            }
            if self.peek() != b'.' {
                return Lx::More;
            }
            self.pos += 1;
            out.push(b'.');
            let r = self.skip_lwsp();
            if r <= Lx::End {
                return r;
            }
            start = self.pos;
        }
    }

    /// RFC 2045 token (possibly empty).
    fn mime_token(&mut self, out: &mut Vec<u8>) -> Lx {
        let start = self.pos;
        while !self.at_end() && is_token_char(self.peek()) {
            self.pos += 1;
        }
        self.take(start, out);
        self.skip_lwsp()
    }

    /// quoted-string, unquoted into `out` (quoted-pairs resolved, folds
    /// removed).
    fn quoted_string(&mut self, out: &mut Vec<u8>) -> Lx {
        self.pos += 1;
        let mut start = self.pos;
        while let Some(&c) = self.data.get(self.pos) {
            match c {
                b'"' => {
                    self.take(start, out);
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    let mut end = self.pos;
                    if end > start && self.data.get(end - 1) == Some(&b'\r') {
                        end -= 1;
                    }
                    out.extend_from_slice(self.data.get(start..end).unwrap_or_default());
                    start = self.pos + 1;
                }
                b'\\' => {
                    out.extend_from_slice(self.data.get(start..self.pos).unwrap_or_default());
                    self.pos += 1;
                    if self.at_end() {
                        return Lx::Broken;
                    }
                    start = self.pos;
                }
                _ => {}
            }
            self.pos += 1;
        }
        Lx::Broken
    }

    /// Atoms and dots (obs-phrase), possibly empty.
    fn atom_or_dot(&mut self, out: &mut Vec<u8>) -> Lx {
        let start = self.pos;
        while !self.at_end() && (is_atext(self.peek()) || self.peek() == b'.') {
            self.pos += 1;
        }
        self.take(start, out);
        self.skip_lwsp()
    }

    /// phrase = 1*word / obs-phrase; words are joined with one space.
    fn phrase(&mut self, out: &mut Vec<u8>) -> Lx {
        if self.at_end() {
            return Lx::End;
        }
        if self.peek() == b'.' {
            return Lx::Broken;
        }
        loop {
            let r = if self.peek() == b'"' {
                self.quoted_string(out)
            } else {
                self.atom_or_dot(out)
            };
            if r <= Lx::End {
                return r;
            }
            let c = self.peek();
            if !is_atext(c) && c != b'"' && c != b'.' {
                break;
            }
            out.push(b' ');
        }
        self.skip_lwsp()
    }

    /// domain-literal, kept with its brackets.
    fn domain_literal(&mut self, out: &mut Vec<u8>) -> Lx {
        let start = self.pos;
        while let Some(&c) = self.data.get(self.pos) {
            if c == b'\\' {
                self.pos += 1;
                if self.at_end() {
                    break;
                }
            } else if c == b']' {
                self.pos += 1;
                self.take(start, out);
                return self.skip_lwsp();
            }
            self.pos += 1;
        }
        Lx::Broken
    }

    /// "@" domain, where domain = dot-atom / domain-literal / obs-domain.
    fn domain(&mut self, out: &mut Vec<u8>) -> Lx {
        self.pos += 1;
        if self.skip_lwsp() <= Lx::End {
            return Lx::Broken;
        }
        if self.peek() == b'[' {
            self.domain_literal(out)
        } else {
            self.dot_atom(out)
        }
    }

    /// RFC 2045 `type "/" subtype` into `out` (stops early when broken).
    fn content_type(&mut self, out: &mut Vec<u8>) -> Lx {
        if self.skip_lwsp() <= Lx::End || self.mime_token(out) <= Lx::End {
            return Lx::Broken;
        }
        if self.peek() != b'/' {
            return Lx::Broken;
        }
        self.pos += 1;
        if self.skip_lwsp() <= Lx::End {
            return Lx::Broken;
        }
        out.push(b'/');
        self.mime_token(out)
    }

    /// `";" attribute "=" value`; `End` when the input is exhausted.
    fn content_param(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Lx {
        if self.at_end() {
            return Lx::End;
        }
        if self.peek() != b';' {
            return Lx::Broken;
        }
        self.pos += 1;
        if self.skip_lwsp() <= Lx::End || self.mime_token(key) <= Lx::End {
            return Lx::Broken;
        }
        if self.peek() != b'=' {
            return Lx::Broken;
        }
        self.pos += 1;
        let mut r = self.skip_lwsp();
        if r <= Lx::End {
            // No value at all.
        } else if self.peek() == b'"' {
            r = self.quoted_string(value);
        } else if self.peek() == b'=' {
            // Unquoted encoded-word (`name==?utf-8?b?...?=`), seen in the wild.
            while !self.at_end() && !matches!(self.peek(), b';' | b' ' | b'\t' | b'\r' | b'\n') {
                value.push(self.peek());
                self.pos += 1;
            }
        } else {
            r = self.mime_token(value);
        }
        if r == Lx::Broken { Lx::Broken } else { Lx::More }
    }

    /// All `; name=value` parameters, RFC 2231 continuations merged
    /// (`name*0`, `name*1` → `name`; any `*`-encoded section → `name*`),
    /// values left encoded. Invalid input is skipped byte by byte.
    fn mime_params(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        struct Section {
            key: Vec<u8>,
            value: Vec<u8>,
            idx: u32,
            extended: bool,
        }
        let mut result = Vec::new();
        let mut sections: Vec<Section> = Vec::new();
        loop {
            let mut key = Vec::new();
            let mut value = Vec::new();
            match self.content_param(&mut key, &mut value) {
                Lx::End => break,
                Lx::Broken => {
                    if self.at_end() {
                        break;
                    }
                    self.pos += 1;
                    continue;
                }
                Lx::More => {}
            }
            if let Some(star) = key.iter().position(|&c| c == b'*') {
                let mut p = star;
                let mut idx = 0u32;
                if p + 1 < key.len() {
                    p += 1;
                    while let Some(d) = key.get(p).filter(|d| d.is_ascii_digit()) {
                        idx = idx.saturating_mul(10).saturating_add(u32::from(d - b'0'));
                        p += 1;
                    }
                }
                let extended = key.get(p) == Some(&b'*');
                if extended {
                    p += 1;
                }
                if p == key.len() {
                    key.truncate(star);
                    sections.push(Section {
                        key,
                        value,
                        idx,
                        extended,
                    });
                    continue;
                }
            }
            result.push((key, value));
        }

        sections.sort_by(|a, b| a.key.cmp(&b.key).then(a.idx.cmp(&b.idx)));
        let mut i = 0;
        while let Some(first) = sections.get(i) {
            let group: Vec<&Section> = sections
                .get(i..)
                .unwrap_or_default()
                .iter()
                .take_while(|s| s.key.eq_ignore_ascii_case(&first.key))
                .collect();
            i += group.len().max(1);
            let complete = group.iter().zip(0u32..).all(|(s, n)| s.idx == n);
            let any_extended = group.iter().any(|s| s.extended);
            if !complete {
                for s in group {
                    let mut key = s.key.clone();
                    key.push(b'*');
                    key.extend_from_slice(s.idx.to_string().as_bytes());
                    if s.extended {
                        key.push(b'*');
                    }
                    result.push((key, s.value.clone()));
                }
                continue;
            }
            let mut value = Vec::new();
            if any_extended && !first.extended {
                value.extend_from_slice(b"''");
            }
            for s in group {
                if any_extended && !s.extended {
                    for &c in &s.value {
                        if c == b'%' {
                            value.extend_from_slice(b"%25");
                        } else {
                            value.push(c);
                        }
                    }
                } else {
                    value.extend_from_slice(&s.value);
                }
            }
            let mut key = first.key.clone();
            if any_extended {
                key.push(b'*');
            }
            result.push((key, value));
        }
        result
    }
}

// ---------------------------------------------------------------------------
// BODY / BODYSTRUCTURE
// ---------------------------------------------------------------------------

type Params = Vec<(String, String)>;

/// The `Content-*` data of one part, as written in its raw headers.
#[derive(Debug, Default)]
struct ContentInfo {
    /// `(type, subtype)`; `None` without a Content-Type header.
    ctype: Option<(String, String)>,
    params: Params,
    id: Option<String>,
    description: Option<String>,
    encoding: Option<String>,
    md5: Option<String>,
    disposition: Option<(String, Params)>,
    language: Option<Vec<String>>,
    location: Option<String>,
}

fn lossy_params(params: Vec<(Vec<u8>, Vec<u8>)>) -> Params {
    params
        .into_iter()
        .map(|(k, v)| (lossy(&k), lossy(&v)))
        .collect()
}

impl ContentInfo {
    /// Collect the `Content-*` headers of a part. Like Dovecot, the first
    /// occurrence of each header wins, except Content-Type where the last
    /// one wins so that it agrees with the MIME tree mail-parser built.
    /// Without MIME-Version or Content-Type (and outside a multipart) all
    /// `Content-*` headers are ignored.
    fn parse(headers: &[Header<'_>], raw: &[u8], in_multipart: bool) -> Self {
        let mut info = ContentInfo::default();
        let is_mime = in_multipart
            || headers
                .iter()
                .any(|h| matches!(h.name, HeaderName::MimeVersion | HeaderName::ContentType));
        if !is_mime {
            return info;
        }
        for header in headers {
            let value = header_raw(raw, header);
            match header.name {
                HeaderName::ContentType => {
                    let (ctype, params) = parse_content_type(value);
                    info.ctype = Some(ctype);
                    info.params = params;
                }
                HeaderName::ContentId if info.id.is_none() => info.id = Some(unfold(value)),
                HeaderName::ContentDescription if info.description.is_none() => {
                    info.description = Some(unfold(value));
                }
                HeaderName::ContentMd5 if info.md5.is_none() => info.md5 = Some(unfold(value)),
                HeaderName::ContentLocation if info.location.is_none() => {
                    info.location = Some(unfold(value));
                }
                HeaderName::ContentTransferEncoding if info.encoding.is_none() => {
                    info.encoding = parse_transfer_encoding(value);
                }
                HeaderName::ContentLanguage if info.language.is_none() => {
                    info.language = parse_language(value);
                }
                HeaderName::ContentDisposition => {
                    // Dovecot re-parses while no parameters were seen.
                    if info.disposition.as_ref().is_none_or(|(_, p)| p.is_empty())
                        && let Some((disposition, params)) = parse_disposition(value)
                    {
                        let old = info.disposition.take().map(|(_, p)| p).unwrap_or_default();
                        let params = if params.is_empty() { old } else { params };
                        info.disposition = Some((disposition, params));
                    }
                }
                _ => {}
            }
        }
        info
    }
}

/// Content-Type: type and subtype as written (subtype `""` when missing,
/// so that the result is always grammatical), parameters unless the
/// type/subtype itself is broken.
fn parse_content_type(value: &[u8]) -> ((String, String), Params) {
    let mut lex = Lexer::new(value);
    let mut s = Vec::new();
    let r = lex.content_type(&mut s);
    let (ctype, subtype) = match s.iter().position(|&c| c == b'/') {
        Some(slash) => (
            s.get(..slash).unwrap_or_default(),
            s.get(slash + 1..).unwrap_or_default(),
        ),
        None => (&s[..], &[][..]),
    };
    let ctype = (lossy(ctype), lossy(subtype));
    let params = if r == Lx::Broken {
        Vec::new()
    } else {
        lossy_params(lex.mime_params())
    };
    (ctype, params)
}

/// Content-Transfer-Encoding: a single token, else ignored ("7bit").
fn parse_transfer_encoding(value: &[u8]) -> Option<String> {
    let mut lex = Lexer::new(value);
    lex.skip_lwsp();
    let mut s = Vec::new();
    (lex.mime_token(&mut s) != Lx::Broken && lex.skip_lwsp() == Lx::End && !s.is_empty())
        .then(|| lossy(&s))
}

/// Content-Language: 1#Language-tag (RFC 3282).
fn parse_language(value: &[u8]) -> Option<Vec<String>> {
    let mut lex = Lexer::new(value);
    lex.skip_lwsp();
    let mut langs = Vec::new();
    loop {
        let mut s = Vec::new();
        if lex.atom(&mut s) == Lx::Broken {
            break;
        }
        langs.push(lossy(&s));
        if lex.peek() != b',' {
            break;
        }
        lex.pos += 1;
        lex.skip_lwsp();
    }
    (!langs.is_empty()).then_some(langs)
}

/// Content-Disposition (RFC 2183): a token and parameters.
fn parse_disposition(value: &[u8]) -> Option<(String, Params)> {
    let mut lex = Lexer::new(value);
    lex.skip_lwsp();
    let mut s = Vec::new();
    if lex.mime_token(&mut s) == Lx::Broken {
        return None;
    }
    Some((lossy(&s), lossy_params(lex.mime_params())))
}

/// Where a part sits, which decides its defaults.
#[derive(Debug, Clone, Copy)]
enum Parent<'b> {
    /// The root of a message (top level or encapsulated).
    Message,
    /// A body part of a multipart; `digest` for `multipart/digest`,
    /// `boundary` the parent's boundary as mail-parser split on it.
    Multipart {
        digest: bool,
        boundary: Option<&'b [u8]>,
    },
}

/// A part's stored body (`offset_body..offset_end`), clamped to the buffer.
fn part_body<'r>(part: &MessagePart<'_>, raw: &'r [u8]) -> &'r [u8] {
    let start = (part.offset_body as usize).min(raw.len());
    let end = (part.offset_end as usize).clamp(start, raw.len());
    raw.get(start..end).unwrap_or_default()
}

/// Cut a body part at the first line that starts with its parent's
/// delimiter (RFC 2046 §5.1.1: `CRLF "--" boundary`, the CRLF belonging to
/// the delimiter). mail-parser already ends well-formed parts there; this
/// only corrects parts it let run on, such as a `message/rfc822` part
/// without headers.
fn clamp_at_boundary<'r>(body: &'r [u8], boundary: &[u8]) -> &'r [u8] {
    let delimiter_at = |i: usize| {
        body.get(i + 1..)
            .is_some_and(|rest| rest.starts_with(b"--") && rest.get(2..).is_some_and(|r| r.starts_with(boundary)))
    };
    let Some(lf) = (0..body.len()).find(|&i| body.get(i) == Some(&b'\n') && delimiter_at(i)) else {
        return body;
    };
    let end = if lf > 0 && body.get(lf - 1) == Some(&b'\r') { lf - 1 } else { lf };
    body.get(..end).unwrap_or(body)
}

/// The boundary mail-parser used to split a multipart part.
fn multipart_boundary<'p>(part: &'p MessagePart<'_>) -> Option<&'p [u8]> {
    last_header(&part.headers, &HeaderName::ContentType).and_then(|h| match &h.value {
        HeaderValue::ContentType(ct) => ct.attribute("boundary").map(str::as_bytes),
        _ => None,
    })
}

fn count_lines(body: &[u8]) -> usize {
    body.iter().filter(|&&b| b == b'\n').count()
}

fn write_empty_body(out: &mut String, extended: bool) {
    out.push_str(EMPTY_BODY);
    if extended {
        out.push_str(EMPTY_BODY_EXT);
    }
}

/// Write part `id` of `msg` without the surrounding parentheses.
fn write_part(
    out: &mut String,
    msg: &Message<'_>,
    id: usize,
    parent: Parent<'_>,
    extended: bool,
    depth: usize,
) {
    let Some(part) = msg.parts.get(id) else {
        write_empty_body(out, extended);
        return;
    };
    let raw: &[u8] = &msg.raw_message;
    let info = ContentInfo::parse(&part.headers, raw, matches!(parent, Parent::Multipart { .. }));
    let body = match parent {
        Parent::Multipart {
            boundary: Some(boundary),
            ..
        } if !boundary.is_empty() => clamp_at_boundary(part_body(part, raw), boundary),
        _ => part_body(part, raw),
    };

    let is_rfc822 = match &info.ctype {
        Some((t, s)) => t.eq_ignore_ascii_case("message") && s.eq_ignore_ascii_case("rfc822"),
        None => matches!(parent, Parent::Multipart { digest: true, .. }),
    };
    let is_multipart_type = info.ctype.as_ref().is_some_and(|(t, _)| {
        t.eq_ignore_ascii_case("multipart")
            && info
                .params
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("boundary"))
    });
    let is_multipart = matches!(part.body, PartType::Multipart(_));

    if depth >= MAX_DEPTH && (is_rfc822 || is_multipart || is_multipart_type) {
        write_basic(out, &ContentInfo::default(), body, extended);
        return;
    }
    match &part.body {
        PartType::Multipart(children) => {
            let subtype = multipart_subtype(part, &info);
            write_multipart(out, msg, id, children, &info, &subtype, extended, depth);
        }
        PartType::Message(nested) if is_rfc822 => {
            write_rfc822(out, &info, body, Some(nested), extended, depth);
        }
        _ if is_rfc822 => {
            // mail-parser gave up on the encapsulated message (no headers,
            // undecodable, …); parse what is there ourselves.
            let nested = MessageParser::default().parse(body);
            write_rfc822(out, &info, body, nested.as_ref(), extended, depth);
        }
        _ if is_multipart_type => {
            // Boundary declared but never found: no body parts.
            let subtype = multipart_subtype(part, &info);
            write_multipart(out, msg, id, &[], &info, &subtype, extended, depth);
        }
        _ => write_basic(out, &info, body, extended),
    }
}

/// The subtype of a multipart: as written, or mail-parser's idea of it when
/// the raw Content-Type does not say multipart.
fn multipart_subtype(part: &MessagePart<'_>, info: &ContentInfo) -> String {
    match &info.ctype {
        Some((t, s)) if t.eq_ignore_ascii_case("multipart") => s.clone(),
        _ => last_header(&part.headers, &HeaderName::ContentType)
            .and_then(|h| match &h.value {
                HeaderValue::ContentType(ct) => ct.subtype().map(str::to_owned),
                _ => None,
            })
            .unwrap_or_else(|| "mixed".to_owned()),
    }
}

/// body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
#[allow(clippy::too_many_arguments)]
fn write_multipart(
    out: &mut String,
    msg: &Message<'_>,
    id: usize,
    children: &[u32],
    info: &ContentInfo,
    subtype: &str,
    extended: bool,
    depth: usize,
) {
    let digest = subtype.eq_ignore_ascii_case("digest");
    let boundary = msg.parts.get(id).and_then(multipart_boundary);
    let mut wrote_child = false;
    for &child in children {
        let child = child as usize;
        // mail-parser numbers children after their parent; anything else
        // would be a cycle.
        if child <= id || child >= msg.parts.len() {
            continue;
        }
        out.push('(');
        let parent = Parent::Multipart { digest, boundary };
        write_part(out, msg, child, parent, extended, depth + 1);
        out.push(')');
        wrote_child = true;
    }
    if !wrote_child {
        // RFC 2046 requires at least one part; like Dovecot, report an
        // empty text/plain one.
        out.push('(');
        write_empty_body(out, extended);
        out.push(')');
    }
    out.push(' ');
    write_string(out, subtype);
    if extended {
        out.push(' ');
        write_params(out, &info.params, false);
        write_ext_common(out, info);
    }
}

/// body-type-msg = media-message SP body-fields SP envelope SP body SP
/// body-fld-lines, then body-ext-1part for BODYSTRUCTURE.
fn write_rfc822(
    out: &mut String,
    info: &ContentInfo,
    body: &[u8],
    nested: Option<&Message<'_>>,
    extended: bool,
    depth: usize,
) {
    out.push_str("\"message\" \"rfc822\" ");
    write_params(out, &info.params, false);
    write_body_fields_tail(out, info, body.len());
    out.push_str(" (");
    match nested.and_then(|m| m.parts.first().map(|root| (m, root))) {
        Some((m, root)) => write_envelope_fields(out, &root.headers, &m.raw_message),
        None => out.push_str(EMPTY_ENVELOPE),
    }
    out.push_str(") (");
    match nested.filter(|m| !m.parts.is_empty()) {
        Some(m) => write_part(out, m, 0, Parent::Message, extended, depth + 1),
        None => write_empty_body(out, extended),
    }
    out.push_str(") ");
    out.push_str(&count_lines(body).to_string());
    if extended {
        write_ext_1part(out, info);
    }
}

/// body-type-basic / body-type-text, then body-ext-1part for BODYSTRUCTURE.
fn write_basic(out: &mut String, info: &ContentInfo, body: &[u8], extended: bool) {
    let text = match &info.ctype {
        None => {
            out.push_str("\"text\" \"plain\"");
            true
        }
        Some((t, s)) => {
            write_string(out, t);
            out.push(' ');
            write_string(out, s);
            t.eq_ignore_ascii_case("text")
        }
    };
    out.push(' ');
    write_params(out, &info.params, text);
    write_body_fields_tail(out, info, body.len());
    if text {
        out.push(' ');
        out.push_str(&count_lines(body).to_string());
    }
    if extended {
        write_ext_1part(out, info);
    }
}

/// body-fld-param; with `default_charset` (text parts) `"charset"
/// "us-ascii"` is added when no charset parameter is present.
fn write_params(out: &mut String, params: &[(String, String)], default_charset: bool) {
    if params.is_empty() && !default_charset {
        out.push_str("NIL");
        return;
    }
    out.push('(');
    let mut seen_charset = false;
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        seen_charset |= name.eq_ignore_ascii_case("charset");
        write_string(out, name);
        out.push(' ');
        write_string(out, value);
    }
    if default_charset && !seen_charset {
        if !params.is_empty() {
            out.push(' ');
        }
        out.push_str("\"charset\" \"us-ascii\"");
    }
    out.push(')');
}

/// The rest of body-fields after body-fld-param: SP body-fld-id SP
/// body-fld-desc SP body-fld-enc SP body-fld-octets.
fn write_body_fields_tail(out: &mut String, info: &ContentInfo, octets: usize) {
    out.push(' ');
    write_nstring(out, info.id.as_deref());
    out.push(' ');
    write_nstring(out, info.description.as_deref());
    out.push(' ');
    match &info.encoding {
        Some(encoding) => write_string(out, encoding),
        None => out.push_str("\"7bit\""),
    }
    out.push(' ');
    out.push_str(&octets.to_string());
}

/// body-ext-1part: SP body-fld-md5 SP body-fld-dsp SP body-fld-lang SP
/// body-fld-loc.
fn write_ext_1part(out: &mut String, info: &ContentInfo) {
    out.push(' ');
    write_nstring(out, info.md5.as_deref());
    write_ext_common(out, info);
}

/// SP body-fld-dsp SP body-fld-lang SP body-fld-loc.
fn write_ext_common(out: &mut String, info: &ContentInfo) {
    out.push(' ');
    match &info.disposition {
        Some((disposition, params)) => {
            out.push('(');
            write_string(out, disposition);
            out.push(' ');
            write_params(out, params, false);
            out.push(')');
        }
        None => out.push_str("NIL"),
    }
    out.push(' ');
    match &info.language {
        Some(langs) => {
            out.push('(');
            for (i, lang) in langs.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_string(out, lang);
            }
            out.push(')');
        }
        None => out.push_str("NIL"),
    }
    out.push(' ');
    write_nstring(out, info.location.as_deref());
}
