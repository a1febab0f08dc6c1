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
//! The values are meant to be the ones Dovecot 2.3 sends for a message
//! stored with CRLF line endings, byte for byte wherever both use a quoted
//! string (the test suite reproduces the expectations of Dovecot's own
//! `test-imap-bodystructure.c`):
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
//!   `Content-*` headers are ignored, as Dovecot does. Of repeated
//!   `Content-*` headers the first counts (Dovecot), except Content-Type,
//!   where the last counts because that is the one mail-parser built the
//!   MIME tree from.
//! * **Sizes and lines.** `body-fld-octets` is the number of octets of the
//!   part's (still encoded) body as stored, `body-fld-lines` its number of
//!   LF characters; the CRLF before a boundary belongs to the boundary.
//!   For CRLF-stored messages this equals Dovecot's "virtual size". A
//!   `message/rfc822` part with a base64 or quoted-printable encoding is
//!   described as stored (its own size and lines) with the envelope and
//!   structure of the decoded message, as mail-parser decodes it.
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

/// Deepest multipart / `message/rfc822` nesting written as such (a guard
/// like Dovecot's limit on nested MIME parts). Deeper parts are written as
/// flat `text/plain` parts, which also bounds recursion.
pub const MAX_DEPTH: usize = crate::mime_limits::MAX_DEPTH;

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

/// Write `s` as an IMAP string: quoted ("..." with \\ and \" escaped) when it is short and has no CR, LF or NUL and is valid for a quoted string; otherwise a literal `{n}\r\n<bytes>`.
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
        if reply_to.is_empty() {
            &from
        } else {
            &reply_to
        },
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
        if r == Lx::Broken {
            Lx::Broken
        } else {
            Lx::More
        }
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
        body.get(i + 1..).is_some_and(|rest| {
            rest.starts_with(b"--") && rest.get(2..).is_some_and(|r| r.starts_with(boundary))
        })
    };
    let Some(lf) = (0..body.len()).find(|&i| body.get(i) == Some(&b'\n') && delimiter_at(i)) else {
        return body;
    };
    let end = if lf > 0 && body.get(lf - 1) == Some(&b'\r') {
        lf - 1
    } else {
        lf
    };
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
    let info = ContentInfo::parse(
        &part.headers,
        raw,
        matches!(parent, Parent::Multipart { .. }),
    );
    // Only leaf and message/rfc822 parts need their body (multipart sizes
    // are not part of the grammar), so it is computed on demand.
    let body = || match parent {
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
        write_basic(out, &ContentInfo::default(), body(), extended);
        return;
    }
    match &part.body {
        PartType::Multipart(children) => {
            let subtype = multipart_subtype(part, &info);
            write_multipart(out, msg, id, children, &info, &subtype, extended, depth);
        }
        PartType::Message(nested) if is_rfc822 => {
            write_rfc822(out, &info, body(), Some(nested), extended, depth);
        }
        _ if is_rfc822 => {
            // mail-parser gave up on the encapsulated message (no headers,
            // undecodable, …); parse what is there ourselves.
            let body = body();
            let src = crate::mime_limits::structure_source(body);
            let nested = MessageParser::default().parse(&src[..]);
            write_rfc822(out, &info, body, nested.as_ref(), extended, depth);
        }
        _ if is_multipart_type => {
            // Boundary declared but never found: no body parts.
            let subtype = multipart_subtype(part, &info);
            write_multipart(out, msg, id, &[], &info, &subtype, extended, depth);
        }
        _ => write_basic(out, &info, body(), extended),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Convert a message written with `\n` to the CRLF form the store keeps.
    fn crlf(s: &str) -> String {
        s.replace("\r\n", "\n").replace('\n', "\r\n")
    }

    fn parse(raw: &[u8]) -> Message<'_> {
        MessageParser::default()
            .parse(raw)
            .expect("test message has headers")
    }

    // -- A strict reader of the output, used as the grammar oracle --------

    /// One parsed IMAP value.
    #[derive(Debug, Clone, PartialEq)]
    enum Sx {
        Nil,
        Str(String),
        Num(u64),
        List(Vec<Sx>),
    }

    /// Read exactly one IMAP value from `s`, enforcing RFC 9051 §9 string,
    /// literal, number and list syntax, single SP separators (none only
    /// between adjacent lists, as in `1*body`), and nothing left over.
    fn read(s: &str) -> Result<Sx, String> {
        let b = s.as_bytes();
        let mut pos = 0;
        let v = read_value(b, &mut pos)?;
        if pos != b.len() {
            return Err(format!("trailing data at {pos}: {:?}", &s[pos..]));
        }
        Ok(v)
    }

    fn read_value(b: &[u8], pos: &mut usize) -> Result<Sx, String> {
        match b.get(*pos) {
            Some(b'(') => {
                *pos += 1;
                let mut items = Vec::new();
                if b.get(*pos) == Some(&b')') {
                    return Err(format!("empty list at {pos}"));
                }
                loop {
                    items.push(read_value(b, pos)?);
                    match b.get(*pos) {
                        Some(b')') => {
                            *pos += 1;
                            return Ok(Sx::List(items));
                        }
                        Some(b' ') => *pos += 1,
                        Some(b'(') if matches!(items.last(), Some(Sx::List(_))) => {}
                        other => return Err(format!("bad separator {other:?} at {pos}")),
                    }
                }
            }
            Some(b'"') => {
                *pos += 1;
                let mut s = Vec::new();
                loop {
                    match b.get(*pos) {
                        Some(b'"') => {
                            *pos += 1;
                            return String::from_utf8(s).map(Sx::Str).map_err(|e| e.to_string());
                        }
                        Some(b'\\') => {
                            match b.get(*pos + 1) {
                                Some(&c @ (b'"' | b'\\')) => s.push(c),
                                other => return Err(format!("bad escape {other:?}")),
                            }
                            *pos += 2;
                        }
                        Some(&c) if is_quoted_char(c) => {
                            s.push(c);
                            *pos += 1;
                        }
                        other => return Err(format!("bad quoted char {other:?} at {pos}")),
                    }
                }
            }
            Some(b'{') => {
                let close = b[*pos..]
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or("unterminated literal length")?;
                let n: usize = std::str::from_utf8(&b[*pos + 1..*pos + close])
                    .map_err(|e| e.to_string())?
                    .parse()
                    .map_err(|e| format!("literal length: {e}"))?;
                *pos += close + 1;
                if b.get(*pos..*pos + 2) != Some(b"\r\n") {
                    return Err("literal without CRLF".into());
                }
                *pos += 2;
                let data = b.get(*pos..*pos + n).ok_or("literal too short")?;
                if data.contains(&0) {
                    return Err("NUL in literal".into());
                }
                *pos += n;
                String::from_utf8(data.to_vec())
                    .map(Sx::Str)
                    .map_err(|e| e.to_string())
            }
            Some(b'N') if b.get(*pos..*pos + 3) == Some(b"NIL") => {
                *pos += 3;
                Ok(Sx::Nil)
            }
            Some(c) if c.is_ascii_digit() => {
                let start = *pos;
                while b.get(*pos).is_some_and(u8::is_ascii_digit) {
                    *pos += 1;
                }
                let digits = std::str::from_utf8(&b[start..*pos]).map_err(|e| e.to_string())?;
                digits.parse().map(Sx::Num).map_err(|e| e.to_string())
            }
            other => Err(format!("unexpected {other:?} at {pos}")),
        }
    }

    fn nstring(v: &Sx) -> Result<(), String> {
        match v {
            Sx::Nil | Sx::Str(_) => Ok(()),
            _ => Err(format!("expected nstring, got {v:?}")),
        }
    }

    fn string(v: &Sx) -> Result<&str, String> {
        match v {
            Sx::Str(s) => Ok(s),
            _ => Err(format!("expected string, got {v:?}")),
        }
    }

    fn number(v: &Sx) -> Result<u64, String> {
        match v {
            Sx::Num(n) => Ok(*n),
            _ => Err(format!("expected number, got {v:?}")),
        }
    }

    /// body-fld-param
    fn check_params(v: &Sx) -> Result<(), String> {
        match v {
            Sx::Nil => Ok(()),
            Sx::List(items) if items.len() % 2 == 0 => {
                items.iter().try_for_each(|i| string(i).map(drop))
            }
            _ => Err(format!("bad body-fld-param {v:?}")),
        }
    }

    /// body-fld-dsp SP body-fld-lang SP body-fld-loc
    fn check_ext_common(dsp: &Sx, lang: &Sx, loc: &Sx) -> Result<(), String> {
        match dsp {
            Sx::Nil => {}
            Sx::List(items) if items.len() == 2 => {
                string(&items[0])?;
                check_params(&items[1])?;
            }
            _ => return Err(format!("bad body-fld-dsp {dsp:?}")),
        }
        match lang {
            Sx::Nil | Sx::Str(_) => {}
            Sx::List(items) => items.iter().try_for_each(|i| string(i).map(drop))?,
            Sx::Num(_) => return Err("bad body-fld-lang".into()),
        }
        nstring(loc)
    }

    /// envelope (RFC 9051 §9).
    fn check_envelope(v: &Sx) -> Result<(), String> {
        let Sx::List(f) = v else {
            return Err(format!("envelope not a list: {v:?}"));
        };
        if f.len() != 10 {
            return Err(format!("envelope has {} fields", f.len()));
        }
        nstring(&f[0])?;
        nstring(&f[1])?;
        for list in &f[2..8] {
            match list {
                Sx::Nil => {}
                Sx::List(addrs) => {
                    for addr in addrs {
                        match addr {
                            Sx::List(parts) if parts.len() == 4 => {
                                parts.iter().try_for_each(nstring)?;
                            }
                            _ => return Err(format!("bad address {addr:?}")),
                        }
                    }
                }
                _ => return Err(format!("bad address list {list:?}")),
            }
        }
        nstring(&f[8])?;
        nstring(&f[9])
    }

    /// body (RFC 9051 §9), with or without extension data.
    fn check_body(v: &Sx, extended: bool) -> Result<(), String> {
        let Sx::List(items) = v else {
            return Err(format!("body not a list: {v:?}"));
        };
        let children = items
            .iter()
            .take_while(|i| matches!(i, Sx::List(_)))
            .count();
        if children > 0 {
            for child in &items[..children] {
                check_body(child, extended)?;
            }
            match &items[children..] {
                [subtype] if !extended => string(subtype).map(drop),
                [subtype, params, dsp, lang, loc] if extended => {
                    string(subtype)?;
                    check_params(params)?;
                    check_ext_common(dsp, lang, loc)
                }
                rest => Err(format!("bad multipart tail {rest:?}")),
            }
        } else {
            let [t, st, params, id, desc, enc, size, tail @ ..] = &items[..] else {
                return Err(format!("short body-type-1part {items:?}"));
            };
            let t = string(t)?;
            let st = string(st)?;
            check_params(params)?;
            nstring(id)?;
            nstring(desc)?;
            string(enc)?;
            number(size)?;
            let tail = if t.eq_ignore_ascii_case("text") {
                number(tail.first().ok_or("text without lines")?)?;
                &tail[1..]
            } else if t.eq_ignore_ascii_case("message") && st.eq_ignore_ascii_case("rfc822") {
                let [env, body, lines, rest @ ..] = tail else {
                    return Err("short message/rfc822".into());
                };
                check_envelope(env)?;
                check_body(body, extended)?;
                number(lines)?;
                rest
            } else {
                tail
            };
            match tail {
                [] if !extended => Ok(()),
                [md5, dsp, lang, loc] if extended => {
                    nstring(md5)?;
                    check_ext_common(dsp, lang, loc)
                }
                rest => Err(format!("bad body-ext-1part {rest:?}")),
            }
        }
    }

    /// Every output of `msg` is grammatical; returns (envelope, BODYSTRUCTURE, BODY).
    fn render(msg: &Message<'_>) -> (String, String, String) {
        let env = envelope(msg);
        let bs = body_structure(msg, true);
        let b = body_structure(msg, false);
        let checked = read(&env)
            .and_then(|v| check_envelope(&v))
            .and_then(|()| read(&bs))
            .and_then(|v| check_body(&v, true))
            .and_then(|()| read(&b))
            .and_then(|v| check_body(&v, false));
        if let Err(e) = checked {
            panic!("invalid output: {e}\nENVELOPE {env}\nBODYSTRUCTURE {bs}\nBODY {b}");
        }
        (env, bs, b)
    }

    // -- write_string ------------------------------------------------------

    #[test]
    fn string_quoting_and_literals() {
        let long_ok = "x".repeat(MAX_QUOTED_LEN);
        let too_long = "x".repeat(MAX_QUOTED_LEN + 1);
        let cases: Vec<(Option<&str>, String)> = vec![
            (None, "NIL".into()),
            (Some(""), "\"\"".into()),
            (Some("plain text"), "\"plain text\"".into()),
            (Some("a\"b\\c"), "\"a\\\"b\\\\c\"".into()),
            (Some("tab\there"), "\"tab\there\"".into()),
            (Some("line\r\nbreak"), "{11}\r\nline\r\nbreak".into()),
            (Some("bare\nlf"), "{7}\r\nbare\nlf".into()),
            (Some("na\u{ef}ve"), "{6}\r\nna\u{ef}ve".into()),
            (Some("a\0b"), "{5}\r\na\u{FFFD}b".into()),
            (Some(&long_ok), format!("\"{long_ok}\"")),
            (
                Some(&too_long),
                format!("{{{}}}\r\n{too_long}", MAX_QUOTED_LEN + 1),
            ),
        ];
        for (input, expected) in cases {
            let mut out = String::new();
            write_nstring(&mut out, input);
            assert_eq!(out, expected, "input {input:?}");
            let parsed = read(&out).expect("valid IMAP string");
            let want = input.map_or(Sx::Nil, |s| Sx::Str(s.replace('\0', "\u{FFFD}")));
            assert_eq!(parsed, want, "round trip of {input:?}");
        }
    }

    // -- Whole messages ----------------------------------------------------

    struct Case {
        name: &'static str,
        message: &'static str,
        /// Expected ENVELOPE, when the case is about it.
        envelope: Option<&'static str>,
        bodystructure: &'static str,
        body: &'static str,
    }

    fn run(cases: &[Case]) {
        for case in cases {
            let raw = crlf(case.message);
            let msg = parse(raw.as_bytes());
            let (env, bs, b) = render(&msg);
            if let Some(expected) = case.envelope {
                assert_eq!(env, expected, "{}: ENVELOPE", case.name);
            }
            assert_eq!(bs, case.bodystructure, "{}: BODYSTRUCTURE", case.name);
            assert_eq!(b, case.body, "{}: BODY", case.name);
        }
    }

    #[test]
    fn simple_text_message() {
        run(&[Case {
            name: "simple",
            message: "From: Alice Example <alice@example.com>\n\
                      To: bob@example.org\n\
                      Subject: Hello\n\
                      Date: Mon, 1 Jan 2024 10:00:00 +0000\n\
                      Message-ID: <1@example.com>\n\
                      \n\
                      Hello, world!\n",
            envelope: Some(
                "(\"Mon, 1 Jan 2024 10:00:00 +0000\" \"Hello\" \
                 ((\"Alice Example\" NIL \"alice\" \"example.com\")) \
                 ((\"Alice Example\" NIL \"alice\" \"example.com\")) \
                 ((\"Alice Example\" NIL \"alice\" \"example.com\")) \
                 ((NIL NIL \"bob\" \"example.org\")) NIL NIL NIL \"<1@example.com>\")",
            ),
            bodystructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 15 1 NIL NIL NIL NIL)",
            body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 15 1)",
        }]);
    }

    /// The message/expectation table of Dovecot's own
    /// `src/lib-imap/test-imap-bodystructure.c`, stored with CRLF (Dovecot
    /// reports CRLF "virtual" sizes, so the numbers are unchanged).
    #[test]
    fn dovecot_reference_cases() {
        run(&[
            Case {
                name: "dovecot text/plain",
                message: concat!(
                    "From: user@domain.org\n",
                    "Date: Sat, 24 Mar 2017 23:00:00 +0200\n",
                    "Mime-Version: 1.0\n",
                    "Content-Type: text/plain; charset=us-ascii\n",
                    "\n",
                    "body\n",
                ),
                envelope: Some(
                    "(\"Sat, 24 Mar 2017 23:00:00 +0200\" NIL ((NIL NIL \"user\" \"domain.org\")) \
                     ((NIL NIL \"user\" \"domain.org\")) ((NIL NIL \"user\" \"domain.org\")) \
                     NIL NIL NIL NIL NIL)",
                ),
                bodystructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)",
                body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)",
            },
            Case {
                name: "dovecot 8bit",
                message: concat!(
                    "From: user@domain.org\n",
                    "Date: Sat, 24 Mar 2017 23:00:00 +0200\n",
                    "Mime-Version: 1.0\n",
                    "Content-Type: text/plain; charset=utf-8\n",
                    "Content-Transfer-Encoding: 8bit\n",
                    "\n",
                    "body\n",
                    "\n",
                ),
                envelope: None,
                bodystructure: "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 8 2 NIL NIL NIL NIL)",
                body: "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 8 2)",
            },
            Case {
                name: "dovecot folded boundary",
                message: concat!(
                    "From: user@domain.org\n",
                    "Date: Sat, 24 Mar 2007 23:00:00 +0200\n",
                    "Mime-Version: 1.0\n",
                    "Content-Type: multipart/mixed; boundary=\"foo\n",
                    " bar\"\n",
                    "\n",
                    "--foo bar\n",
                    "Content-Type: text/x-myown; charset=us-ascii\n",
                    "\n",
                    "hello\n",
                    "\n",
                    "--foo bar--\n",
                    "\n",
                ),
                envelope: None,
                bodystructure: "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL)",
                body: "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1) \"mixed\")",
            },
            Case {
                name: "dovecot message/rfc822",
                message: concat!(
                    "From: user@domain.org\n",
                    "Date: Sat, 24 Mar 2017 23:00:00 +0200\n",
                    "Mime-Version: 1.0\n",
                    "Content-Type: multipart/mixed; boundary=\"foo bar\"\n",
                    "\n",
                    "--foo bar\n",
                    "Content-Type: text/plain; charset=us-ascii\n",
                    "\n",
                    "See attached...\n",
                    "\n",
                    "--foo bar\n",
                    "Content-Type: message/rfc822\n",
                    "\n",
                    "From: user@domain.org\n",
                    "Date: Sat, 24 Mar 2017 23:00:00 +0200\n",
                    "Mime-Version: 1.0\n",
                    "Content-Type: text/plain; charset=us-ascii\n",
                    "\n",
                    "body\n",
                    "\n",
                    "--foo bar--\n",
                    "\n",
                ),
                envelope: None,
                bodystructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 17 1 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 133 (\"Sat, 24 Mar 2017 23:00:00 +0200\" NIL ((NIL NIL \"user\" \"domain.org\")) ((NIL NIL \"user\" \"domain.org\")) ((NIL NIL \"user\" \"domain.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL) 6 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL)",
                body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 17 1)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 133 (\"Sat, 24 Mar 2017 23:00:00 +0200\" NIL ((NIL NIL \"user\" \"domain.org\")) ((NIL NIL \"user\" \"domain.org\")) ((NIL NIL \"user\" \"domain.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1) 6) \"mixed\")",
            },
            Case {
                name: "dovecot content-id and description",
                message: concat!(
                    "From: user@domain.org\n",
                    "Date: Sat, 24 Mar 2017 23:00:00 +0200\n",
                    "Mime-Version: 1.0\n",
                    "Content-Type: multipart/mixed; boundary=\"foo bar\"\n",
                    "\n",
                    "--foo bar\n",
                    "Content-Type: text/plain; charset=us-ascii\n",
                    "Content-ID: <A.frop.example.com>\n",
                    "Content-Description: Container message\n",
                    "\n",
                    "See attached...\n",
                    "\n",
                    "--foo bar\n",
                    "Content-Type: message/rfc822\n",
                    "Content-ID: <B.frop.example.com>\n",
                    "Content-Description: Forwarded\n",
                    "\n",
                    "From: user@domain.org\n",
                    "Date: Sat, 24 Mar 2017 23:00:00 +0200\n",
                    "Mime-Version: 1.0\n",
                    "Content-Type: text/plain; charset=us-ascii\n",
                    "\n",
                    "body\n",
                    "\n",
                    "--foo bar--\n",
                ),
                envelope: None,
                bodystructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") \"<A.frop.example.com>\" \"Container message\" \"7bit\" 17 1 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL \"<B.frop.example.com>\" \"Forwarded\" \"7bit\" 133 (\"Sat, 24 Mar 2017 23:00:00 +0200\" NIL ((NIL NIL \"user\" \"domain.org\")) ((NIL NIL \"user\" \"domain.org\")) ((NIL NIL \"user\" \"domain.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL) 6 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL)",
                body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") \"<A.frop.example.com>\" \"Container message\" \"7bit\" 17 1)(\"message\" \"rfc822\" NIL \"<B.frop.example.com>\" \"Forwarded\" \"7bit\" 133 (\"Sat, 24 Mar 2017 23:00:00 +0200\" NIL ((NIL NIL \"user\" \"domain.org\")) ((NIL NIL \"user\" \"domain.org\")) ((NIL NIL \"user\" \"domain.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1) 6) \"mixed\")",
            },
            Case {
                name: "dovecot language, folded params, attachment",
                message: concat!(
                    "From: user@domain.org\n",
                    "Date: Sat, 24 Mar 2017 23:00:00 +0200\n",
                    "Mime-Version: 1.0\n",
                    "Content-Type: multipart/mixed; boundary=\"foo bar\"\n",
                    "\n",
                    "--foo bar\n",
                    "Content-Type: text/plain; charset=us-ascii; format=\"flowed\";\n",
                    "  delsp=\"no\"\n",
                    "Content-Language: la\n",
                    "\n",
                    "Lorem ipsum dolor sit amet, consectetuer adipiscing elit. Aenean commodo\n",
                    "ligula eget dolor. Aenean massa. Cum sociis natoque penatibus et magnis dis\n",
                    "parturient montes, nascetur ridiculus mus. Donec quam felis, ultricies nec,\n",
                    "pellentesque eu, pretium quis, sem. Nulla consequat massa quis enim. Donec\n",
                    "pede justo, fringilla vel, aliquet nec, vulputate eget, arcu. In enim justo,\n",
                    "rhoncus ut, imperdiet a, venenatis vitae, justo. Nullam dictum felis eu pede\n",
                    "mollis pretium. Integer tincidunt. Cras dapibus. Vivamus elementum semper\n",
                    "nisi. Aenean vulputate eleifend tellus. Aenean leo ligula, porttitor eu,\n",
                    "consequat vitae, eleifend ac, enim. Aliquam lorem ante, dapibus in, viverra\n",
                    "quis, feugiat a, tellus. Phasellus viverra nulla ut metus varius laoreet.\n",
                    "Quisque rutrum. Aenean imperdiet. Etiam ultricies nisi vel augue. Curabitur\n",
                    "ullamcorper ultricies nisi. Nam eget dui.\n",
                    "\n",
                    "--foo bar\n",
                    "Content-Type: image/png\n",
                    "Content-Transfer-Encoding: base64\n",
                    "Content-Disposition: attachment; filename=\"pigeon.png\"\n",
                    "\n",
                    "iVBORw0KGgoAAAANSUhEUgAAAB8AAAAfCAYAAAAfrhY5AAAABHNCSVQICAgIfAhkiAAAAAlwSFlz\n",
                    "AAAGJwAABicBTVTYxwAAABl0RVh0U29mdHdhcmUAd3d3Lmlua3NjYXBlLm9yZ5vuPBoAAAN2SURB\n",
                    "VEiJ7ZfdK7tvHMffZuWpKTlR1my3bTEPU0hJcsABh0QrKYUTJ5KyHCzlyPwBkpSyg1mUpB3ILYna\n",
                    "lEYKcbADm4cDD7NpM2bv75HF1/az8l3fX/1+77pO7vu6rtf1/jx0X3caSeIvSfK3wP/DPykcDsNs\n",
                    "NqOqqgpdXV3Y2NhIGVz6+4PJyUlcXFxAFEV4vV709fVBrVZDpVL9eTo/aGVlhXl5efT5fDw/P2c4\n",
                    "HKbdbmd3dzdTIZDk6+srh4eHqdPpqNfrSZJGo5H7+/sMBoNUKpUpgUsAQCqVQq1WIxgMfgp/dXU1\n",
                    "srKykJ+fD6/X+8ejHiu4wcFB2Gy2uJPq6uqwt7eXOjgAaLXahHCn05laeCKlyvmXVosnrVaLQCCA\n",
                    "4uJiyOVyCIIQGyqVCoIgoKCgIDXwtLQ0HBwc4O3tDR6PB263G263G8fHx1hbW4Pb7cbNzQ1yc3Nj\n",
                    "hxEEAdXV1WhoaEi88cfSf3h4iLXaR01MTFChUFChULCjo4M7OztxW8fn89HlcnF5eZlTU1Nsb29n\n",
                    "W1sb/X5/3PlJwd/19vbG7e1tlpWVcXV19ftGJjk0NESbzRb33aeCy8zMhM/nSxgliUSCxsZGiKKI\n",
                    "ra2tb9N1e3uLSCSC8fFxGAwGDAwMfC7c309TWFjI09PTpFwlis76+jo7OzspCAJNJhN3d3fpcDho\n",
                    "tVqpUCgYCoVIkl8Krr6+Hna7HSUlJd86+yiPx4P5+XlYLBZUVFSgv78fVqsV6enpAIC7uzt4vV5E\n",
                    "IhFIJJL4zp1OJ2traxmJRL51+fLywuXlZba2trK0tJRms5mXl5c8PT3l4uIix8bG2NbWRqVSyfLy\n",
                    "cvb09PDw8DC2Po38eocbGRlBIBDA9PQ0pNKv3Xh2doa5uTksLCwgJycHNTU1yM3NxdHREa6vr6HR\n",
                    "aKDX62NDp9MhIyPjyz5x4SQxOjoKURTR29sLmUyG7Oxs+P1+WCwW7O7uQiKRQKvVQq/Xo7KyMgaS\n",
                    "y+VJpyou/F0nJydYWlqCy+XC1dUV7u/vYTQa8fT0BIfDgaWlpaRBcZVsFc/OznJsbIwkaTKZODMz\n",
                    "k+zShEr6Arm5uYnm5mYAgCiKaGlp+ZnrZJ1Ho1EWFRXx+fmZj4+P1Gg0P3ZNJqj2dxkMhth3PBAI\n",
                    "QCaTIRqNIhQKoamp6cc5/0d4qvXv+mn4z8B/AV1UVu6zi+zUAAAAAElFTkSuQmCC\n",
                    "--foo bar--\n",
                ),
                envelope: None,
                bodystructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\" \"format\" \"flowed\" \"delsp\" \"no\") NIL NIL \"7bit\" 881 12 NIL NIL (\"la\") NIL)(\"image\" \"png\" NIL NIL NIL \"base64\" 1390 NIL (\"attachment\" (\"filename\" \"pigeon.png\")) NIL NIL) \"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL)",
                body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\" \"format\" \"flowed\" \"delsp\" \"no\") NIL NIL \"7bit\" 881 12)(\"image\" \"png\" NIL NIL NIL \"base64\" 1390) \"mixed\")",
            },
            Case {
                name: "dovecot nested alternative in rfc822, all extension fields",
                message: concat!(
                    "From: user@domain.org\n",
                    "Date: Sat, 24 Mar 2007 23:00:00 +0200\n",
                    "Mime-Version: 1.0\n",
                    "Content-Type: multipart/mixed; boundary=\"foo\n",
                    " bar\"\n",
                    "\n",
                    "Root MIME prologue\n",
                    "\n",
                    "--foo bar\n",
                    "Content-Type: text/x-myown; charset=us-ascii; foo=\"quoted\\\"string\"\n",
                    "Content-ID: <foo@example.com>\n",
                    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n",
                    "Content-Disposition: inline; foo=bar\n",
                    "Content-Description: hellodescription\n",
                    "Content-Language: en, fi, se\n",
                    "Content-Location: http://example.com/test.txt\n",
                    "\n",
                    "hello\n",
                    "\n",
                    "--foo bar\n",
                    "Content-Type: message/rfc822\n",
                    "\n",
                    "From: sub@domain.org\n",
                    "To: sub-to1@domain.org, sub-to2@domain.org\n",
                    "Date: Sun, 12 Aug 2012 12:34:56 +0300\n",
                    "Subject: submsg\n",
                    "Content-Type: multipart/alternative; boundary=\"sub1\"\n",
                    "\n",
                    "Sub MIME prologue\n",
                    "--sub1\n",
                    "Content-Type: text/html\n",
                    "Content-Transfer-Encoding: 8bit\n",
                    "\n",
                    "<p>Hello world</p>\n",
                    "\n",
                    "--sub1\n",
                    "Content-Type: text/plain\n",
                    "Content-Transfer-Encoding: ?invalid\n",
                    "\n",
                    "Hello another world\n",
                    "\n",
                    "--sub1--\n",
                    "Sub MIME epilogue\n",
                    "\n",
                    "--foo bar--\n",
                    "Root MIME epilogue\n",
                ),
                envelope: None,
                bodystructure: "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" \"quoted\\\"string\") \"<foo@example.com>\" \"hellodescription\" \"7bit\" 7 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"inline\" (\"foo\" \"bar\")) (\"en\" \"fi\" \"se\") \"http://example.com/test.txt\")(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 412 (\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub-to1\" \"domain.org\")(NIL NIL \"sub-to2\" \"domain.org\")) NIL NIL NIL NIL) ((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" 20 1 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"sub1\") NIL NIL NIL) 21 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL)",
                body: "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" \"quoted\\\"string\") \"<foo@example.com>\" \"hellodescription\" \"7bit\" 7 1)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 412 (\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub-to1\" \"domain.org\")(NIL NIL \"sub-to2\" \"domain.org\")) NIL NIL NIL NIL) ((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" 20 1)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 1) \"alternative\") 21) \"mixed\")",
            },
            Case {
                name: "dovecot multipart without parts",
                message: concat!("Content-Type: multipart/mixed; boundary=\"foo\"\n", "\n"),
                envelope: Some("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
                bodystructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"foo\") NIL NIL NIL)",
                body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
            },
        ]);
    }

    /// Body of `lines` CRLF-terminated lines totalling `octets` octets.
    fn filler(lines: usize, octets: usize, c: char) -> String {
        let width = octets / lines - 2;
        let mut body = String::new();
        for _ in 1..lines {
            body.push_str(&c.to_string().repeat(width));
            body.push_str("\r\n");
        }
        let last = octets - body.len() - 2;
        body.push_str(&c.to_string().repeat(last));
        body.push_str("\r\n");
        assert_eq!((body.len(), count_lines(body.as_bytes())), (octets, lines));
        body
    }

    /// The BODY example of RFC 3501 §7.4.2 (FETCH response), reproduced
    /// from a message built to have exactly those parts.
    #[test]
    fn rfc3501_multipart_example() {
        let raw = format!(
            "MIME-Version: 1.0\r\n\
             Content-Type: MULTIPART/MIXED; BOUNDARY=\"----=_Part_0\"\r\n\
             \r\n\
             ------=_Part_0\r\n\
             Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
             Content-Transfer-Encoding: 7BIT\r\n\
             \r\n\
             {}\r\n\
             ------=_Part_0\r\n\
             Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\n\
             Content-ID: <960723163407.20117h@cac.washington.edu>\r\n\
             Content-Description: Compiler diff\r\n\
             Content-Transfer-Encoding: BASE64\r\n\
             \r\n\
             {}\r\n\
             ------=_Part_0--\r\n",
            filler(23, 1152, 'x'),
            filler(73, 4554, 'A'),
        );
        let msg = parse(raw.as_bytes());
        let (_, bs, b) = render(&msg);
        assert_eq!(
            b,
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23)\
             (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") \
             \"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) \
             \"MIXED\")"
        );
        assert_eq!(
            bs,
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23 NIL NIL NIL NIL)\
             (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") \
             \"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73 \
             NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"----=_Part_0\") NIL NIL NIL)"
        );
    }

    #[test]
    fn nested_multiparts_and_attachments() {
        run(&[
            Case {
                name: "alternative inside mixed, with a PDF",
                message: concat!(
                    "From: a@example.com\n",
                    "Subject: alt\n",
                    "MIME-Version: 1.0\n",
                    "Content-Type: multipart/mixed; boundary=\"outer\"\n",
                    "\n",
                    "This is a multi-part message in MIME format.\n",
                    "--outer\n",
                    "Content-Type: multipart/alternative; boundary=\"inner\"\n",
                    "\n",
                    "--inner\n",
                    "Content-Type: text/plain; charset=utf-8\n",
                    "\n",
                    "plain\n",
                    "--inner\n",
                    "Content-Type: text/html; charset=utf-8\n",
                    "Content-Transfer-Encoding: quoted-printable\n",
                    "\n",
                    "<b>html</b>\n",
                    "--inner--\n",
                    "\n",
                    "--outer\n",
                    "Content-Type: application/pdf; name=\"doc.pdf\"\n",
                    "Content-Disposition: attachment; filename=\"doc.pdf\"; size=8\n",
                    "Content-Transfer-Encoding: base64\n",
                    "\n",
                    "JVBERi0=\n",
                    "--outer--\n",
                ),
                envelope: None,
                bodystructure: "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)\
                    (\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 11 0 NIL NIL NIL NIL) \
                    \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)\
                    (\"application\" \"pdf\" (\"name\" \"doc.pdf\") NIL NIL \"base64\" 8 NIL \
                    (\"attachment\" (\"filename\" \"doc.pdf\" \"size\" \"8\")) NIL NIL) \
                    \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
                body: "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 0)\
                    (\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 11 0) \
                    \"alternative\")(\"application\" \"pdf\" (\"name\" \"doc.pdf\") NIL NIL \"base64\" 8) \
                    \"mixed\")",
            },
            Case {
                name: "forwarded message/rfc822 with raw encoded-words",
                message: concat!(
                    "From: \"Doe, John\" <john@example.com>\n",
                    "To: =?utf-8?q?J=C3=B6rg?= <joerg@example.de>,\n",
                    "  Some One <@relay1.example,@relay2.example:someone@example.net>\n",
                    "Subject: =?utf-8?b?w4RwZmVs?= and\tmore \n",
                    "Date: Tue, 2 Jan 2024 08:00:00 +0100\n",
                    "In-Reply-To: <prev@example.com>\n",
                    "Message-ID: <fwd@example.com>\n",
                    "MIME-Version: 1.0\n",
                    "Content-Type: multipart/mixed; boundary=b1\n",
                    "\n",
                    "--b1\n",
                    "Content-Type: text/plain; charset=utf-8\n",
                    "Content-Transfer-Encoding: quoted-printable\n",
                    "\n",
                    "See below.\n",
                    "--b1\n",
                    "Content-Type: message/rfc822; name=\"fwd.eml\"\n",
                    "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.eml\n",
                    "\n",
                    "From: inner@example.com\n",
                    "Subject: Inner\n",
                    " folded subject\n",
                    "Message-ID: <inner@example.com>\n",
                    "\n",
                    "Inner body\n",
                    "line 2\n",
                    "--b1--\n",
                ),
                envelope: Some(
                    "(\"Tue, 2 Jan 2024 08:00:00 +0100\" \"=?utf-8?b?w4RwZmVs?= and more\" \
                     ((\"Doe, John\" NIL \"john\" \"example.com\")) \
                     ((\"Doe, John\" NIL \"john\" \"example.com\")) \
                     ((\"Doe, John\" NIL \"john\" \"example.com\")) \
                     ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"joerg\" \"example.de\")\
                     (\"Some One\" \"@relay1.example,@relay2.example\" \"someone\" \"example.net\")) \
                     NIL NIL \"<prev@example.com>\" \"<fwd@example.com>\")",
                ),
                bodystructure: "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 10 0 NIL NIL NIL NIL)\
                    (\"message\" \"rfc822\" (\"name\" \"fwd.eml\") NIL NIL \"7bit\" 111 \
                    (NIL \"Inner folded subject\" ((NIL NIL \"inner\" \"example.com\")) \
                    ((NIL NIL \"inner\" \"example.com\")) ((NIL NIL \"inner\" \"example.com\")) \
                    NIL NIL NIL NIL \"<inner@example.com>\") \
                    (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 18 1 NIL NIL NIL NIL) 6 \
                    NIL (\"attachment\" (\"filename*\" \"utf-8''%E2%82%AC.eml\")) NIL NIL) \
                    \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)",
                body: "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 10 0)\
                    (\"message\" \"rfc822\" (\"name\" \"fwd.eml\") NIL NIL \"7bit\" 111 \
                    (NIL \"Inner folded subject\" ((NIL NIL \"inner\" \"example.com\")) \
                    ((NIL NIL \"inner\" \"example.com\")) ((NIL NIL \"inner\" \"example.com\")) \
                    NIL NIL NIL NIL \"<inner@example.com>\") \
                    (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 18 1) 6) \"mixed\")",
            },
            Case {
                name: "multipart/digest defaults to message/rfc822, RFC 2231 continuations",
                message: concat!(
                    "MIME-Version: 1.0\n",
                    "Content-Type: multipart/digest; boundary=d\n",
                    "\n",
                    "--d\n",
                    "\n",
                    "Subject: one\n",
                    "\n",
                    "A\n",
                    "--d\n",
                    "Content-Type: text/plain; title*0*=us-ascii'en'This%20is; title*1=\" 100%\";\n",
                    " name*1=b; name*0=a\n",
                    "\n",
                    "B\n",
                    "--d--\n",
                ),
                envelope: None,
                bodystructure: "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 17 \
                    (NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) \
                    (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) 2 \
                    NIL NIL NIL NIL)\
                    (\"text\" \"plain\" (\"name\" \"ab\" \"title*\" \"us-ascii'en'This%20is 100%25\" \
                    \"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \
                    \"digest\" (\"boundary\" \"d\") NIL NIL NIL)",
                body: "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 17 \
                    (NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) \
                    (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) 2)\
                    (\"text\" \"plain\" (\"name\" \"ab\" \"title*\" \"us-ascii'en'This%20is 100%25\" \
                    \"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) \"digest\")",
            },
        ]);
    }

    #[test]
    fn address_lists_and_groups() {
        run(&[
            Case {
                name: "RFC 5322 appendix A groups",
                message: concat!(
                    "From: Mary Smith <mary@x.test>\n",
                    "Sender: localpart\n",
                    "Reply-To: (nobody)\n",
                    "To: undisclosed-recipients:;\n",
                    "Cc: Friends: \"Joe Q. Public\" <joe@example.com>, jane@example.com (Jane Doe);, bob@x.org\n",
                    "Bcc: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\n",
                    "Subject:\n",
                    "Date: Thu, 13 Feb 1969 23:32:54 -0330\n",
                    "\n",
                    "x\n",
                ),
                envelope: Some(
                    "(\"Thu, 13 Feb 1969 23:32:54 -0330\" \"\" \
                     ((\"Mary Smith\" NIL \"mary\" \"x.test\")) \
                     ((NIL NIL \"localpart\" \"MISSING_DOMAIN\")) \
                     ((\"Mary Smith\" NIL \"mary\" \"x.test\")) \
                     ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) \
                     ((NIL NIL \"Friends\" NIL)(\"Joe Q. Public\" NIL \"joe\" \"example.com\")\
                     (\"Jane Doe\" NIL \"jane\" \"example.com\")(NIL NIL NIL NIL)(NIL NIL \"bob\" \"x.org\")) \
                     ((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" \"where.test\")\
                     (\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)) NIL NIL)",
                ),
                bodystructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)",
                body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)",
            },
            Case {
                name: "odd but common address forms",
                message: concat!(
                    "From: <bare@example.com>\n",
                    "To: \"quoted \\\"name\\\"\" <\"odd local\"@example.com>, x@[192.0.2.1],\n",
                    "\tlast@example.com (Last, comment (nested)), <@a.example:r@example.com>\n",
                    "Cc: \"Tab\tand  spaces\" <t@example.com>, broken <no-close@example.com, next@x\n",
                    "Bcc: a@b, (unterminated comment\n",
                    "\n",
                ),
                envelope: Some(
                    "(NIL NIL ((NIL NIL \"bare\" \"example.com\")) ((NIL NIL \"bare\" \"example.com\")) \
                     ((NIL NIL \"bare\" \"example.com\")) \
                     ((\"quoted \\\"name\\\"\" NIL \"odd local\" \"example.com\")(NIL NIL \"x\" \"[192.0.2.1]\")\
                     (\"Last, comment (nested)\" NIL \"last\" \"example.com\")\
                     (NIL \"@a.example\" \"r\" \"example.com\")) \
                     ((\"Tab and spaces\" NIL \"t\" \"example.com\")\
                     (\"broken\" NIL \"no-close\" \"SYNTAX_ERROR\")(NIL NIL \"next\" \"x\")) \
                     ((NIL NIL \"a\" \"b\")(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) NIL NIL)",
                ),
                bodystructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
                body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
            },
        ]);
    }

    #[test]
    fn missing_headers_and_defaults() {
        run(&[
            Case {
                name: "no envelope or MIME headers",
                message: "X-Mailer: test\n\nbody\n",
                envelope: Some("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
                bodystructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)",
                body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)",
            },
            Case {
                name: "Content-* ignored without MIME-Version or Content-Type",
                message: "Content-Transfer-Encoding: base64\nContent-ID: <x@y>\n\naGVsbG8=\n",
                envelope: None,
                bodystructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1 NIL NIL NIL NIL)",
                body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1)",
            },
            Case {
                name: "Content-* honoured with MIME-Version",
                message: "MIME-Version: 1.0\nContent-Transfer-Encoding: BASE64\nContent-ID: <x@y>\n\naGVsbG8=\n",
                envelope: None,
                bodystructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") \"<x@y>\" NIL \"BASE64\" 10 1 NIL NIL NIL NIL)",
                body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") \"<x@y>\" NIL \"BASE64\" 10 1)",
            },
            Case {
                name: "Content-Type alone makes a part MIME; no trailing newline",
                message: "Content-Type: Text/HTML ; Charset=\"UTF-8\"\nContent-Location: a.html\n\n<b>x</b>",
                envelope: None,
                bodystructure: "(\"Text\" \"HTML\" (\"Charset\" \"UTF-8\") NIL NIL \"7bit\" 8 0 NIL NIL NIL \"a.html\")",
                body: "(\"Text\" \"HTML\" (\"Charset\" \"UTF-8\") NIL NIL \"7bit\" 8 0)",
            },
            Case {
                name: "headers only",
                message: "Subject:   only headers  \n",
                envelope: Some("(NIL \"only headers\" NIL NIL NIL NIL NIL NIL NIL NIL)"),
                bodystructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
                body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
            },
            Case {
                name: "non-text part without parameters",
                message: "MIME-Version: 1.0\nContent-Type: application/octet-stream\nContent-Language: de-CH\n\n\x01\x02\n",
                envelope: None,
                bodystructure: "(\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" 4 NIL NIL (\"de-CH\") NIL)",
                body: "(\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" 4)",
            },
        ]);
    }

    #[test]
    fn malformed_messages() {
        run(&[
            Case {
                name: "truncated multipart",
                message: "Content-Type: multipart/mixed; boundary=\"x\"\n\n--x\nContent-Type: text/plain\n\ntrunc",
                envelope: None,
                bodystructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)",
                body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"mixed\")",
            },
            Case {
                name: "boundary never found",
                message: "MIME-Version: 1.0\nContent-Type: multipart/related; boundary=zz\n\n--yy\nnot a part\n",
                envelope: None,
                bodystructure: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"related\" (\"boundary\" \"zz\") NIL NIL NIL)",
                body: "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"related\")",
            },
            Case {
                name: "multipart without boundary parameter",
                message: "MIME-Version: 1.0\nContent-Type: multipart/mixed\n\nhello\n",
                envelope: None,
                bodystructure: "(\"multipart\" \"mixed\" NIL NIL NIL \"7bit\" 7 NIL NIL NIL NIL)",
                body: "(\"multipart\" \"mixed\" NIL NIL NIL \"7bit\" 7)",
            },
            Case {
                name: "message/rfc822 without headers",
                message: "Content-Type: multipart/mixed; boundary=\"x\"\n\n--x\nContent-Type: message/rfc822\n\nno headers here\n--x--\n",
                envelope: None,
                bodystructure: "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 15 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) \
                    (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) 0 NIL NIL NIL NIL) \
                    \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)",
                body: "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 15 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) \
                    (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) 0) \"mixed\")",
            },
            Case {
                name: "broken Content-Type and parameters",
                message: concat!(
                    "MIME-Version: 1.0\n",
                    "Content-Type: text\n",
                    "Content-Disposition: inline; filename=\"unterminated; size=3\n",
                    "Content-Transfer-Encoding: 8bit garbage\n",
                    "\n",
                    "x\n",
                ),
                envelope: None,
                bodystructure: "(\"text\" \"\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL (\"inline\" NIL) NIL NIL)",
                body: "(\"text\" \"\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)",
            },
            Case {
                name: "garbage parameters are skipped",
                message: "Content-Type: text/plain; charset=us-ascii (c) junk; format=flowed; =x; ;\n\nx\n",
                envelope: None,
                bodystructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\" \"format\" \"flowed\" \"\" \"x\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)",
                body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\" \"format\" \"flowed\" \"\" \"x\") NIL NIL \"7bit\" 3 1)",
            },
            Case {
                name: "no blank line after the headers",
                message: "Subject: x\nthis line has no colon\nmore\n",
                envelope: Some("(NIL \"x\" NIL NIL NIL NIL NIL NIL NIL NIL)"),
                bodystructure: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
                body: "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
            },
        ]);
    }

    /// 8-bit, invalid UTF-8 and NUL bytes in headers end up as literals.
    #[test]
    fn eight_bit_headers() {
        let raw = b"Subject: caf\xe9 \x00 ok\r\nFrom: J\xc3\xb6rg <j@x.de>\r\nMessage-ID: <\xff@x>\r\n\r\nbody\xff\r\n";
        let msg = parse(raw);
        let (env, bs, _) = render(&msg);
        assert_eq!(
            env,
            "(NIL {13}\r\ncaf\u{FFFD} \u{FFFD} ok (({5}\r\nJ\u{f6}rg NIL \"j\" \"x.de\")) \
             (({5}\r\nJ\u{f6}rg NIL \"j\" \"x.de\")) (({5}\r\nJ\u{f6}rg NIL \"j\" \"x.de\")) \
             NIL NIL NIL NIL {7}\r\n<\u{FFFD}@x>)"
        );
        assert_eq!(
            bs,
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1 NIL NIL NIL NIL)"
        );
    }

    #[test]
    fn empty_message_value() {
        let msg = Message::default();
        assert_eq!(envelope(&msg), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
        assert_eq!(
            body_structure(&msg, true),
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
        );
        assert_eq!(
            body_structure(&msg, false),
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
        );
    }

    /// Nesting beyond MAX_DEPTH is flattened instead of recursing further.
    #[test]
    fn deep_nesting_is_bounded() {
        for kind in ["multipart", "message"] {
            let levels = MAX_DEPTH + 20;
            let mut raw = String::new();
            for i in 0..levels {
                if kind == "multipart" {
                    raw.push_str(&format!(
                        "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
                    ));
                } else {
                    raw.push_str("MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n");
                }
            }
            raw.push_str("Subject: leaf\r\n\r\nleaf\r\n");
            let msg = parse(raw.as_bytes());
            let (_, bs, _) = render(&msg);
            let opening = bs.bytes().filter(|&b| b == b'(').count();
            assert!(opening < 4 * MAX_DEPTH, "{kind}: {opening} lists");
            assert!(bs.contains("\"text\" \"plain\""), "{kind}");
        }
    }

    /// A tiny deterministic generator for the fuzz loop.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Mutated and truncated messages never panic and always produce
    /// output that reads back as a grammatical ENVELOPE / BODY /
    /// BODYSTRUCTURE (balanced parentheses, well-formed strings and
    /// literals, right field counts).
    #[test]
    fn fuzzed_messages_stay_grammatical() {
        let seeds = [
            crlf(concat!(
                "From: \"A, B\" <a@b.c>, group: x@y, (c) <z@w>;\n",
                "To: =?utf-8?q?x?= <@r:q@h>\n",
                "Subject: s\n",
                "MIME-Version: 1.0\n",
                "Content-Type: multipart/mixed; boundary=\"b\"; x*0*=a; x*2=c\n",
                "\n",
                "--b\n",
                "Content-Type: multipart/alternative; boundary=c\n",
                "\n",
                "--c\n",
                "Content-Type: text/plain; charset=\"utf-8\"\n",
                "Content-Disposition: inline; filename=\"a\\\"b\"\n",
                "Content-Language: en, (x) fr\n",
                "\n",
                "t\n",
                "--c--\n",
                "--b\n",
                "Content-Type: message/rfc822\n",
                "\n",
                "From: q@r\n",
                "Content-Type: multipart/digest; boundary=d\n",
                "\n",
                "--d\n",
                "\n",
                "Subject: in digest\n",
                "\n",
                "x\n",
                "--d--\n",
                "--b\n",
                "Content-Type: application/x-thing; name=\"\u{e9}\"\n",
                "Content-Transfer-Encoding: base64\n",
                "\n",
                "AAAA\n",
                "--b--\n",
            )),
            crlf("From: a\nSubject: =?x?q?\"?=\nContent-Type: text/plain; charset=\"\n\nbody"),
        ];
        let tokens: [&[u8]; 16] = [
            b"--b",
            b"--c--",
            b"\r\n",
            b"\n",
            b"(",
            b")",
            b"\"",
            b"\\",
            b":",
            b";",
            b"<",
            b"=?",
            b"\0",
            b"\xff",
            b"Content-Type: message/rfc822\r\n",
            b"Content-Type: multipart/mixed; boundary=b\r\n",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for round in 0..3000 {
            let seed = seeds[round % seeds.len()].as_bytes();
            let mut raw = seed.to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(raw.len() + 1);
                match rng.below(4) {
                    0 => raw.truncate(at),
                    1 => {
                        let token = tokens[rng.below(tokens.len())];
                        raw.splice(at..at, token.iter().copied());
                    }
                    2 if at < raw.len() => raw[at] = (rng.next() & 0xff) as u8,
                    _ if at < raw.len() => {
                        let end = (at + rng.below(16)).min(raw.len());
                        raw.drain(at..end);
                    }
                    _ => {}
                }
            }
            // mail-parser has debug assertions of its own that some inputs
            // trip in debug builds; such inputs are not ours to format.
            let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(&raw[..]));
            if let Ok(Some(msg)) = parsed {
                render(&msg);
            }
        }
    }
}
