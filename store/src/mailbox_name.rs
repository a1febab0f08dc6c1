//! IMAP mailbox names and their Maildir++ directory names.
//!
//! mailyard lays out a user's mailboxes exactly like Dovecot's default
//! Maildir++ layout, so that a maildir tree can move between Dovecot and
//! mailyard unchanged:
//!
//! * The hierarchy separator is [`SEPARATOR`] (`.`), as reported in the
//!   LIST response (RFC 3501 §6.3.8, §5.1.1).
//! * `INBOX` is the root of the user's maildir (its own `cur`/`new`/`tmp`);
//!   every other mailbox `Name` lives in a directory `.Name` directly below
//!   the root, children included (`Archive.2024` → `.Archive.2024`).
//! * Names are stored on disk in modified UTF-7 (RFC 3501 §5.1.3), which is
//!   what Dovecot does unless `UTF-8` storage is explicitly enabled.
//!
//! Everything here is a pure function. The central safety property is that
//! [`to_dir`] can never produce a path that leaves the user's maildir: its
//! output is either `""` or `.` followed by printable ASCII without `/`,
//! `\` or an empty hierarchy component, whatever the input.

use thiserror::Error;

/// The IMAP hierarchy delimiter (RFC 3501 §5.1.1, §6.3.8), which is also
/// the Maildir++ folder separator.
pub const SEPARATOR: char = '.';

/// The one mailbox name that is case-insensitive (RFC 3501 §5.1).
const INBOX: &str = "INBOX";

/// `NAME_MAX`: the longest directory entry, in octets, that the usual Linux
/// filesystems (ext4, XFS, Btrfs, tmpfs) hold. Maildir++ keeps a whole hierarchy in
/// one directory entry, `.` + the modified UTF-7 name, so that entry is the only
/// on-disk component a mailbox name makes and it must fit here.
pub const NAME_MAX: usize = 255;

/// Maximum length in octets of a whole mailbox name, after modified UTF-7
/// encoding: its directory entry is `.` and the name ([`NAME_MAX`]).
pub const MAX_NAME_LEN: usize = NAME_MAX - 1;

/// Why a mailbox name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// The name is the empty string.
    #[error("mailbox name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] octets once encoded: its directory
    /// entry would not fit [`NAME_MAX`]. A limit, not a malformed name.
    #[error("mailbox name is too long: at most {MAX_NAME_LEN} octets once encoded")]
    TooLong,
    /// The name has an empty hierarchy component: a leading, trailing or
    /// doubled separator.
    #[error("mailbox name has an empty hierarchy component")]
    EmptyComponent,
    /// The name contains a character that is never allowed (`/`, `\`, NUL,
    /// an ASCII control character or DEL).
    #[error("mailbox name contains forbidden character {0:?}")]
    ForbiddenChar(char),
    /// The name contains an IMAP LIST wildcard (`*` or `%`, RFC 3501 §6.3.8).
    #[error("mailbox name contains wildcard {0:?}")]
    Wildcard(char),
    /// A hierarchy component starts with `~` (home-directory syntax in
    /// Dovecot's filesystem layouts; refused for compatibility and safety).
    #[error("mailbox name component starts with '~'")]
    TildeComponent,
    /// Internal consistency check of [`to_dir`] failed. Never expected;
    /// exists so that a bug cannot turn into a path escaping the maildir.
    #[error("mailbox name maps to an unsafe directory")]
    UnsafeDirectory,
}

/// The modified BASE64 alphabet of RFC 3501 §5.1.3: RFC 4648 §4 base64 with
/// `,` instead of `/`.
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Value of a modified BASE64 character, `None` for anything else.
fn b64_value(b: u8) -> Option<u32> {
    let v = match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Characters that represent themselves in modified UTF-7: printable
/// US-ASCII 0x20..=0x7e (RFC 3501 §5.1.3). `&` is among them but must be
/// written as `&-`.
fn is_direct(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7e}')
}

/// Appends `&`, the modified BASE64 of `units` (big-endian UTF-16, no `=`
/// padding, zero fill bits) and `-`.
fn push_b64_run(out: &mut String, units: &[u16]) {
    out.push('&');
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for &u in units {
        acc = (acc << 16) | u32::from(u);
        bits += 16;
        while bits >= 6 {
            bits -= 6;
            out.push(char::from(B64[((acc >> bits) & 0x3f) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(B64[((acc << (6 - bits)) & 0x3f) as usize]));
    }
    out.push('-');
}

/// RFC 3501 §5.1.3 modified UTF-7 encoding of a UTF-8 mailbox name.
///
/// Printable US-ASCII (0x20..=0x7e) except `&` represents itself; `&` is
/// written `&-`; every maximal run of other characters (non-ASCII, and also
/// ASCII control characters and DEL) is written as `&`, the modified BASE64
/// of its UTF-16 form, `-`. This is the canonical encoding, identical to
/// Dovecot's `imap_utf8_to_utf7`.
pub fn utf7_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + name.len() / 2);
    let mut units: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) {
            if !units.is_empty() {
                push_b64_run(&mut out, &units);
                units.clear();
            }
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    if !units.is_empty() {
        push_b64_run(&mut out, &units);
    }
    out
}

/// Decode modified UTF-7 (RFC 3501 §5.1.3); `None` when the input is not
/// valid, canonical modified UTF-7.
///
/// Rejected, so that decoding is the exact inverse of [`utf7_encode`] (one
/// name ↔ one encoding, as in Dovecot's `imap_utf7_to_utf8`):
/// * any octet outside printable US-ASCII 0x20..=0x7e;
/// * `&` not followed by `-` or by modified BASE64 terminated with `-`
///   (including an unterminated run at the end of the input);
/// * BASE64 runs whose length does not match a whole number of UTF-16 code
///   units, or whose fill bits are not zero (non-canonical BASE64);
/// * invalid UTF-16: lone or reversed surrogates;
/// * encoded printable US-ASCII, which §5.1.3 says MUST NOT be encoded
///   (this also covers encoded `&`, `/`, `.` …);
/// * encoded NUL (as Dovecot: it cannot be handled safely downstream);
/// * two adjacent BASE64 runs (`&…-&…-`), which must be one run.
pub fn utf7_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    // Whether the previous token was a BASE64 run (for the adjacency rule).
    let mut after_run = false;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x20..=0x7e).contains(&b) {
            return None;
        }
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            after_run = false;
            continue;
        }
        // '&'
        i += 1;
        if bytes.get(i) == Some(&b'-') {
            out.push('&');
            i += 1;
            after_run = false;
            continue;
        }
        if after_run {
            return None;
        }
        let mut acc: u32 = 0;
        let mut bits: u32 = 0;
        let mut units: Vec<u16> = Vec::new();
        loop {
            let c = *bytes.get(i)?;
            i += 1;
            if c == b'-' {
                break;
            }
            let v = b64_value(c)?;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 16 {
                bits -= 16;
                units.push(((acc >> bits) & 0xffff) as u16);
                acc &= (1 << bits) - 1;
            }
        }
        // Canonical: fewer than 6 leftover bits, all zero, at least one unit.
        if bits >= 6 || acc != 0 || units.is_empty() {
            return None;
        }
        for r in char::decode_utf16(units.iter().copied()) {
            let c = r.ok()?;
            if is_direct(c) || c == '\0' {
                return None;
            }
            out.push(c);
        }
        after_run = true;
    }
    Some(out)
}

/// Normalize an IMAP mailbox name as received (already UTF-8) and validate
/// it.
///
/// RFC 3501 §5.1: "The case-insensitive mailbox name INBOX is a special name
/// reserved to mean 'the primary mailbox for this user on this server'".
/// So `inbox` in any ASCII case becomes `INBOX`, also as the first
/// hierarchy component (`inbox.x` → `INBOX.x`, the same as Dovecot). The
/// rest of the name is case-sensitive and left untouched.
pub fn normalize(name: &str) -> Result<String, NameError> {
    let (first, rest) = match name.find(SEPARATOR) {
        Some(i) => name.split_at(i),
        None => (name, ""),
    };
    let out = if first.eq_ignore_ascii_case(INBOX) {
        format!("{INBOX}{rest}")
    } else {
        name.to_owned()
    };
    validate(&out)?;
    Ok(out)
}

/// Validate a (normalized) mailbox name.
///
/// Rules (RFC 3501 §5.1 leaves naming to the server; these are Dovecot's
/// Maildir++ rules plus hardening):
/// * non-empty;
/// * no empty hierarchy component (RFC 3501 §5.1.1): no leading, trailing
///   or doubled [`SEPARATOR`] — which also rules out `.` and `..`;
/// * no `/` or `\` (path separators on disk), NUL, other ASCII control
///   characters (0x01..=0x1f) or DEL (0x7f);
/// * no `*` or `%` (LIST wildcards, RFC 3501 §6.3.8);
/// * no component starting with `~`;
/// * at most [`MAX_NAME_LEN`] octets in total, measured after modified UTF-7
///   encoding (RFC 3501 §5.1.3), i.e. as stored on disk, where `.` + the name is
///   one directory entry of at most [`NAME_MAX`] octets.
pub fn validate(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    for c in name.chars() {
        match c {
            '/' | '\\' | '\0'..='\u{1f}' | '\u{7f}' => return Err(NameError::ForbiddenChar(c)),
            '*' | '%' => return Err(NameError::Wildcard(c)),
            _ => {}
        }
    }
    let mut total = 0usize;
    for (n, component) in name.split(SEPARATOR).enumerate() {
        if component.is_empty() {
            return Err(NameError::EmptyComponent);
        }
        if component.starts_with('~') {
            return Err(NameError::TildeComponent);
        }
        total += utf7_encode(component).len() + usize::from(n > 0);
        if total > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
    }
    Ok(())
}

/// Whether `dir` is a safe Maildir++ directory name relative to the user's
/// root: `""`, or `.` followed by one or more non-empty components of
/// printable ASCII without `/` or `\`.
fn is_safe_dir(dir: &str) -> bool {
    if dir.is_empty() {
        return true;
    }
    let Some(rest) = dir.strip_prefix(SEPARATOR) else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'/' && b != b'\\')
        && rest.split(SEPARATOR).all(|c| !c.is_empty())
}

/// The Maildir++ directory, relative to the user's maildir root, holding
/// mailbox `name`.
///
/// * `INBOX` → `""` (the root's own `cur`/`new`/`tmp`);
/// * `Sent` → `.Sent`, `Archive.2024` → `.Archive.2024`, `INBOX.x` →
///   `.INBOX.x` (Maildir++ keeps the whole hierarchy in one directory name);
/// * non-ASCII is stored modified UTF-7 encoded (RFC 3501 §5.1.3), as
///   Dovecot does: `été` → `.&AOk-t&AOk-`.
///
/// The name is passed through [`normalize`] (which validates it), so
/// `inbox` maps to `""` as well. The result is always `""` or `.` followed
/// by printable ASCII with no `/`, no `\` and no empty component, so it
/// cannot escape the maildir whatever the input.
///
/// The result, when not `""`, is one directory entry of at most [`NAME_MAX`]
/// octets (see [`validate`]).
pub fn to_dir(name: &str) -> Result<String, NameError> {
    let name = normalize(name)?;
    let dir = if name == INBOX {
        String::new()
    } else {
        format!("{SEPARATOR}{}", utf7_encode(&name))
    };
    if !is_safe_dir(&dir) {
        return Err(NameError::UnsafeDirectory);
    }
    Ok(dir)
}

/// Inverse of [`to_dir`]: the IMAP mailbox name for a directory entry found
/// in the user's maildir root (e.g. `.Sent`, `.&AOk-t&AOk-`).
///
/// `None` for entries that are not mailboxes: no leading `.`, `.` and `..`,
/// invalid modified UTF-7 (RFC 3501 §5.1.3, see [`utf7_decode`]), decoded
/// names that fail [`validate`], and entries that no name maps to (such as
/// `.INBOX`, since INBOX is the root, or `.inbox.x`, since that name
/// normalizes to `INBOX.x`). Hence `from_dir(e) == Some(n)` exactly when
/// `to_dir(n) == Ok(e)` and `n` is normalized.
pub fn from_dir(entry: &str) -> Option<String> {
    let encoded = entry.strip_prefix(SEPARATOR)?;
    if encoded.is_empty() || encoded == "." {
        return None;
    }
    let name = utf7_decode(encoded)?;
    match to_dir(&name) {
        Ok(dir) if dir == entry => Some(name),
        _ => None,
    }
}

/// RFC 3501 §6.3.8 LIST pattern matching of a mailbox `name` against
/// `pattern` (with the reference name already applied).
///
/// `*` matches zero or more characters; `%` matches zero or more characters
/// other than the hierarchy delimiter [`SEPARATOR`]. Matching is
/// case-sensitive, except that INBOX is case-insensitive (RFC 3501 §5.1):
/// when the name's first hierarchy component is `INBOX`, those five
/// characters compare ASCII case-insensitively, so `inbox`, `Inbox.*` and
/// `in%` all match `INBOX`, while `INBOX.foo` does not match `INBOX.Foo`.
///
/// Runs in O(|pattern| · |name|) time and O(|name|) space (dynamic
/// programming over the name, after collapsing runs of wildcards), never
/// exponentially.
pub fn list_matches(pattern: &str, name: &str) -> bool {
    // Collapse runs of wildcards: a run containing '*' is '*', a run of
    // only '%' is '%'.
    let mut pat: Vec<char> = Vec::with_capacity(pattern.len());
    let mut literals = 0usize;
    for c in pattern.chars() {
        match (c, pat.last().copied()) {
            ('*', Some('*')) | ('%', Some('*')) | ('%', Some('%')) => {}
            ('*', Some('%')) => {
                if let Some(last) = pat.last_mut() {
                    *last = '*';
                }
            }
            ('*', _) | ('%', _) => pat.push(c),
            _ => {
                pat.push(c);
                literals += 1;
            }
        }
    }
    let text: Vec<char> = name.chars().collect();
    if literals > text.len() {
        return false;
    }
    let inbox_len = match name.split(SEPARATOR).next() {
        Some(first) if first.eq_ignore_ascii_case(INBOX) => INBOX.len(),
        _ => 0,
    };
    let eq = |p: char, j: usize| -> bool {
        let t = text[j];
        if j < inbox_len {
            p.eq_ignore_ascii_case(&t)
        } else {
            p == t
        }
    };

    // cur[j]: the pattern prefix processed so far matches text[..j].
    let mut cur = vec![false; text.len() + 1];
    cur[0] = true;
    let mut next = vec![false; text.len() + 1];
    for &p in &pat {
        match p {
            '*' => {
                let mut any = false;
                for j in 0..=text.len() {
                    any |= cur[j];
                    next[j] = any;
                }
            }
            '%' => {
                next[0] = cur[0];
                for j in 1..=text.len() {
                    next[j] = cur[j] || (next[j - 1] && text[j - 1] != SEPARATOR);
                }
            }
            _ => {
                next[0] = false;
                for j in 1..=text.len() {
                    next[j] = cur[j - 1] && eq(p, j - 1);
                }
            }
        }
        std::mem::swap(&mut cur, &mut next);
        if !cur.iter().any(|&m| m) {
            return false;
        }
    }
    cur[text.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn rfc3501_example_decodes() {
        // RFC 3501 §5.1.3.
        assert_eq!(
            utf7_decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some("~peter/mail/台北/日本語")
        );
        assert_eq!(
            utf7_encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
    }

    #[test]
    fn encode_table() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("INBOX", "INBOX"),
            ("&", "&-"),
            ("&&", "&-&-"),
            ("a&b", "a&-b"),
            ("été", "&AOk-t&AOk-"),
            ("é", "&AOk-"),
            ("éé", "&AOkA6Q-"),
            ("é&é", "&AOk-&-&AOk-"),
            ("日本語", "&ZeVnLIqe-"),
            ("😀", "&2D3eAA-"),
            ("a😀b", "a&2D3eAA-b"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
            ("\u{7f}", "&AH8-"),
            ("\t", "&AAk-"),
            ("a.b", "a.b"),
            (" ~-+,", " ~-+,"),
        ];
        for &(input, want) in cases {
            assert_eq!(utf7_encode(input), want, "encode {input:?}");
            assert_eq!(utf7_decode(want).as_deref(), Some(input), "decode {want:?}");
        }
    }

    #[test]
    fn round_trips() {
        let cases = [
            "",
            "INBOX",
            "Sent Items",
            "&",
            "&-",
            "&&&",
            "-&-",
            "a&b&c",
            "été",
            "Ünïcödé.Ordner",
            "台北",
            "~peter/mail/台北/日本語",
            "😀",
            "😀😀😀",
            "a😀b🎉c",
            "👨‍👩‍👧‍👦 family",
            "𝕳𝖊𝖑𝖑𝖔",
            "Ω≈ç√∫",
            "\u{ffff}\u{10000}\u{10ffff}",
            "\u{e000}\u{d7ff}",
            "mixed ascii 和 中文 and emoji 🚀!",
            "\u{1}\u{1f}\u{7f}\u{80}\u{9f}",
            "x\u{a0}y",
        ];
        for s in cases {
            let enc = utf7_encode(s);
            assert!(enc.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{enc:?}");
            assert_eq!(
                utf7_decode(&enc).as_deref(),
                Some(s),
                "round trip {s:?} via {enc:?}"
            );
        }
        // Every single code point of interest, alone and between ASCII.
        for cp in (0x01u32..0x800)
            .chain(0xd700..0xe100)
            .chain(0x1_0000..0x1_0100)
        {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            for s in [c.to_string(), format!("a{c}b{c}{c}&")] {
                assert_eq!(utf7_decode(&utf7_encode(&s)), Some(s));
            }
        }
    }

    #[test]
    fn invalid_mutf7() {
        let cases = [
            "&",                  // bare '&' at end
            "a&",                 // bare '&' at end
            "&a",                 // unterminated
            "&AOk",               // unterminated run
            "&AOk-&",             // bare '&' after run
            "& -",                // not base64
            "&AO k-",             // space inside run
            "&AO/k-",             // '/' is not modified base64
            "&AO=k-",             // '=' padding not allowed
            "&A-",                // 6 bits: not a UTF-16 unit
            "&AA-",               // 12 bits: not a UTF-16 unit
            "&AOkA-",             // extra char (24 bits, 8 left over)
            "&AOl-",              // non-zero fill bits
            "&AOn-",              // non-zero fill bits
            "&AOkA6R-",           // non-zero fill bits at end
            "&AGE-",              // encoded 'a' (printable ASCII)
            "&ACY-",              // encoded '&'
            "&AC8-",              // encoded '/'
            "&AC4-",              // encoded '.'
            "&ACAALg-",           // encoded " ."
            "&AOkAYQ-",           // encoded 'a' after é
            "&AAA-",              // encoded NUL
            "&2D0-",              // lone high surrogate
            "&3gA-",              // lone low surrogate
            "&3gDYPQ-",           // reversed surrogate pair
            "&2D3YPQ-",           // two high surrogates
            "&2D0AYQ-",           // high surrogate then ASCII
            "&AOk-&AOk-",         // adjacent runs must be one run
            "&AOk-&AOk-x",        // adjacent runs
            "é",                  // raw non-ASCII
            "a\tb",               // raw control character
            "a\u{7f}",            // raw DEL
            "\0",                 // raw NUL
            "&Jjo--&",            // trailing bare '&'
            "&U,BTFw-&ZeVnLIqe-", // adjacent runs
        ];
        for s in cases {
            assert_eq!(utf7_decode(s), None, "{s:?} should be rejected");
        }
    }

    /// Exhaustively: whatever decodes, re-encodes to exactly the input, so
    /// the encoding is a bijection (no two directories for one name).
    #[test]
    fn decode_is_canonical_exhaustive() {
        let alphabet = [
            b'&', b'-', b'A', b'O', b'k', b'2', b'D', b'3', b'e', b'x', b',',
        ];
        let mut buf = Vec::new();
        fn rec(alphabet: &[u8], buf: &mut Vec<u8>, depth: usize, hits: &mut usize) {
            let s = std::str::from_utf8(buf).unwrap_or_default();
            if let Some(d) = utf7_decode(s) {
                assert_eq!(utf7_encode(&d), s, "non-canonical accepted: {s:?}");
                *hits += 1;
            }
            if depth == 0 {
                return;
            }
            for &b in alphabet {
                buf.push(b);
                rec(alphabet, buf, depth - 1, hits);
                buf.pop();
            }
        }
        let mut hits = 0;
        rec(&alphabet, &mut buf, 6, &mut hits);
        assert!(hits > 1000);
    }

    #[test]
    fn normalize_table() {
        let cases: &[(&str, Result<&str, NameError>)] = &[
            ("INBOX", Ok("INBOX")),
            ("inbox", Ok("INBOX")),
            ("InBoX", Ok("INBOX")),
            ("inbox.x", Ok("INBOX.x")),
            ("iNbOx.Sub.inbox", Ok("INBOX.Sub.inbox")),
            ("inboxes", Ok("inboxes")),
            ("My.inbox", Ok("My.inbox")),
            ("Sent", Ok("Sent")),
            ("ınbox", Ok("ınbox")), // dotless i is not ASCII 'i'
            ("inbox.", Err(NameError::EmptyComponent)),
            ("", Err(NameError::Empty)),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input).as_deref(), want.as_deref(), "{input:?}");
        }
    }

    #[test]
    fn valid_names() {
        let long_component = "a".repeat(MAX_NAME_LEN);
        let long_name = vec!["b".repeat(24); 10].join(".");
        assert_eq!(long_name.len(), 249);
        // 84 'é' encode to "&" + 224 + "-" = 226 octets, + 28 = 254.
        let long_encoded = format!("{}{}", "é".repeat(84), "c".repeat(28));
        assert_eq!(utf7_encode(&long_encoded).len(), MAX_NAME_LEN);
        assert_eq!(to_dir(&long_component).map(|d| d.len()), Ok(NAME_MAX));
        let cases = [
            "INBOX",
            "Sent",
            "Sent Items",
            "Archive.2024",
            "INBOX.x",
            "été",
            "a~b",
            "a.b~",
            "&",
            "&AC8-",
            "-",
            "a-b_c+d,e",
            "😀",
            "台北.日本語",
        ];
        for name in cases {
            assert_eq!(validate(name), Ok(()), "{name:?}");
        }
        assert_eq!(validate(&long_component), Ok(()));
        assert_eq!(validate(&long_name), Ok(()));
        assert_eq!(validate(&long_encoded), Ok(()));
    }

    #[test]
    fn hostile_names_rejected() {
        use NameError::*;
        // One octet over: the directory entry `.` + name would be 256 octets.
        let too_long_component = "a".repeat(MAX_NAME_LEN + 1);
        // 100 'é' = 100 UTF-16 units = 1600 bits → "&" + 267 + "-" = 269 > 254,
        // although the UTF-8 form is only 200 bytes.
        let too_long_encoded = "é".repeat(100);
        let too_long_name = vec!["b".repeat(24); 11].join(".");
        let inbox_child = format!("INBOX.{}", "b".repeat(249));
        let huge = "x".repeat(10_000);
        let huge_dots = ".".repeat(10_000);
        let huge_cjk = "語".repeat(10_000);
        let cases: Vec<(&str, NameError)> = vec![
            ("", Empty),
            (".", EmptyComponent),
            ("..", EmptyComponent),
            ("...", EmptyComponent),
            (".Sent", EmptyComponent),
            ("Sent.", EmptyComponent),
            ("a..b", EmptyComponent),
            ("a...b", EmptyComponent),
            ("../../etc", ForbiddenChar('/')),
            ("..", EmptyComponent),
            ("a/b", ForbiddenChar('/')),
            ("/etc/passwd", ForbiddenChar('/')),
            ("/", ForbiddenChar('/')),
            ("a\\b", ForbiddenChar('\\')),
            ("..\\..\\x", ForbiddenChar('\\')),
            ("a\0b", ForbiddenChar('\0')),
            ("\0", ForbiddenChar('\0')),
            ("a\nb", ForbiddenChar('\n')),
            ("a\rb", ForbiddenChar('\r')),
            ("\t", ForbiddenChar('\t')),
            ("\u{1b}[31m", ForbiddenChar('\u{1b}')),
            ("a\u{7f}", ForbiddenChar('\u{7f}')),
            ("*", Wildcard('*')),
            ("%", Wildcard('%')),
            ("a.*", Wildcard('*')),
            ("50%", Wildcard('%')),
            ("~", TildeComponent),
            ("~root", TildeComponent),
            ("a.~b", TildeComponent),
            ("INBOX.~", TildeComponent),
            (&too_long_component, TooLong),
            (&too_long_encoded, TooLong),
            (&too_long_name, TooLong),
            (&inbox_child, TooLong),
            (&huge, TooLong),
            (&huge_dots, EmptyComponent),
            (&huge_cjk, TooLong),
        ];
        for (name, err) in &cases {
            assert_eq!(validate(name), Err(err.clone()), "validate {name:?}");
            assert_eq!(normalize(name), Err(err.clone()), "normalize {name:?}");
            assert_eq!(to_dir(name), Err(err.clone()), "to_dir {name:?}");
        }
    }

    #[test]
    fn too_long_total_after_encoding() {
        // 2 components of 84 CJK chars: each encodes to 2 + 224 = 226 octets
        // (< 254) but the total is 2 * 226 + 1 = 453 > 254.
        let comp = "語".repeat(84);
        assert_eq!(utf7_encode(&comp).len(), 226);
        assert_eq!(validate(&comp), Ok(()));
        let name = vec![comp; 2].join(".");
        assert_eq!(validate(&name), Err(NameError::TooLong));
    }

    #[test]
    fn to_dir_table() {
        let cases: &[(&str, &str)] = &[
            ("INBOX", ""),
            ("inbox", ""),
            ("Sent", ".Sent"),
            ("Sent Items", ".Sent Items"),
            ("Archive.2024", ".Archive.2024"),
            ("INBOX.x", ".INBOX.x"),
            ("inbox.x", ".INBOX.x"),
            ("été", ".&AOk-t&AOk-"),
            ("Entwürfe", ".Entw&APw-rfe"),
            ("台北.日本語", ".&U,BTFw-.&ZeVnLIqe-"),
            ("😀", ".&2D3eAA-"),
            ("&", ".&-"),
            ("&AC8-", ".&-AC8-"),
            ("a~b", ".a~b"),
        ];
        for &(name, dir) in cases {
            assert_eq!(to_dir(name).as_deref(), Ok(dir), "to_dir {name:?}");
            if !dir.is_empty() {
                let back = from_dir(dir).unwrap_or_default();
                assert_eq!(
                    normalize(name).as_deref(),
                    Ok(back.as_str()),
                    "from_dir {dir:?}"
                );
            }
        }
    }

    #[test]
    fn from_dir_table() {
        let cases: &[(&str, Option<&str>)] = &[
            (".Sent", Some("Sent")),
            (".Sent Items", Some("Sent Items")),
            (".Archive.2024", Some("Archive.2024")),
            (".INBOX.x", Some("INBOX.x")),
            (".&AOk-t&AOk-", Some("été")),
            (".&U,BTFw-.&ZeVnLIqe-", Some("台北.日本語")),
            (".&-", Some("&")),
            (".&-AC8-", Some("&AC8-")),
            (".&2D3eAA-", Some("😀")),
            ("", None),
            (".", None),
            ("..", None),
            ("...", None),
            ("Sent", None),
            ("cur", None),
            ("new", None),
            ("tmp", None),
            ("dovecot-uidlist", None),
            ("dovecot.index", None),
            (".INBOX", None),   // INBOX is the root, not a subdirectory
            (".inbox", None),   // would be INBOX
            (".inbox.x", None), // INBOX.x lives in .INBOX.x
            (".Sent.", None),
            (".a..b", None),
            ("..Sent", None),
            (".&AC8-", None),      // decodes to '/'
            (".&AC8-etc", None),   // decodes to '/etc'
            (".&AC4ALg-", None),   // decodes to '..'
            (".&AAA-", None),      // decodes to NUL
            (".&AAo-", None),      // decodes to '\n'
            (".&AH8-", None),      // decodes to DEL
            (".&AFw-", None),      // decodes to '\\'
            (".&ACo-", None),      // decodes to '*'
            (".&AOk", None),       // unterminated
            (".&", None),          // bare '&'
            (".&AOk-&AOk-", None), // non-canonical
            (".&AOl-", None),      // non-zero fill bits
            (".&2D0-", None),      // lone surrogate
            (".été", None),        // raw UTF-8 (not Dovecot's default)
            (".a/b", None),
            (".a\\b", None),
            (".~x", None),
            (".x*", None),
            (".x%", None),
            (".a\nb", None),
        ];
        for &(entry, want) in cases {
            assert_eq!(from_dir(entry).as_deref(), want, "from_dir {entry:?}");
        }
        let huge = format!(".{}", "a".repeat(10_000));
        assert_eq!(from_dir(&huge), None);
    }

    #[test]
    fn to_dir_never_escapes() {
        let mut names: Vec<String> = [
            "..",
            ".",
            "/",
            "../../etc",
            "..\\..",
            "a/../b",
            "&AC8-",
            "&AC4ALg-",
            "~",
            "~/x",
            "\0",
            "a\0b",
            "\u{1}",
            "\u{7f}",
            "*",
            "%",
            "INBOX/..",
            "INBOX..",
            ".INBOX",
            "&AC8-&AC8-",
            "&-AC8-",
            "a.&AC4-.b",
            "\u{2215}",
            "\u{ff0f}",
            "\u{2024}\u{2024}",
            "Sent",
            "été",
            "😀",
            "inbox",
            "INBOX",
            "&",
            "-",
            " ",
            " . ",
            "a. .b",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        names.push("x".repeat(10_000));
        names.push("../".repeat(3000));
        names.push("é".repeat(84));
        // Every 1- and 2-char combination of interesting characters.
        let chars = [
            '.', '/', '\\', '\0', '\n', '&', '-', '~', '*', '%', 'a', 'é', '😀', ' ', '\u{7f}',
        ];
        for a in chars {
            names.push(a.to_string());
            for b in chars {
                names.push(format!("{a}{b}"));
                for c in chars {
                    names.push(format!("{a}{b}{c}"));
                }
            }
        }
        for name in &names {
            if let Ok(dir) = to_dir(name) {
                assert!(is_safe_dir(&dir), "{name:?} -> {dir:?}");
                assert!(!dir.contains('/') && !dir.contains('\\'), "{dir:?}");
                assert!(dir.is_empty() || !dir[1..].split('.').any(|c| c.is_empty() || c == ".."));
                if !dir.is_empty() {
                    // Bijection: the directory maps back to the normalized name.
                    assert_eq!(from_dir(&dir), normalize(name).ok(), "{name:?}");
                }
            }
        }
    }

    #[test]
    fn is_safe_dir_table() {
        for ok in ["", ".a", ".a.b", ".&AOk-", ". "] {
            assert!(is_safe_dir(ok), "{ok:?}");
        }
        for bad in [
            ".", "..", "a", ".a/b", ".a\\b", ".a..b", ".a.", "..a", ".é", ".\n",
        ] {
            assert!(!is_safe_dir(bad), "{bad:?}");
        }
    }

    #[test]
    fn list_matches_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "INBOX", true),
            ("*", "a.b.c", true),
            ("*", "", true),
            ("%", "INBOX", true),
            ("%", "Sent", true),
            ("%", "a.b", false),
            ("%", "", true),
            ("%.%", "a.b", true),
            ("%.%", "a.b.c", false),
            ("%.*", "a.b.c", true),
            ("%.*", "a", false),
            ("a.%", "a.b", true),
            ("a.%", "a.b.c", false),
            ("a.%", "a", false),
            ("a.*", "a.b.c", true),
            ("a*", "a", true),
            ("a*", "a.b", true),
            ("a%", "a.b", false),
            ("a%", "abc", true),
            ("a%c", "abc", true),
            ("a%c", "a.c", false),
            ("a*c", "a.c", true),
            ("a*c", "a.b.c", true),
            ("a*c", "a.b.d", false),
            ("%c", "abc", true),
            ("%%", "abc", true),
            ("%*", "a.b", true),
            ("*%", "a.b", true),
            ("**", "a.b", true),
            ("*.%", "a.b.c", true),
            ("*.%", "abc", false),
            ("Sent", "Sent", true),
            ("sent", "Sent", false),
            ("Sent", "Sent Items", false),
            ("Sent*", "Sent Items", true),
            ("", "Sent", false),
            ("", "", true),
            ("x", "", false),
            ("INBOX", "INBOX", true),
            ("inbox", "INBOX", true),
            ("Inbox", "INBOX", true),
            ("inbox.*", "INBOX.Sub", true),
            ("inbox.%", "INBOX.Sub", true),
            ("inbox.%", "INBOX.Sub.Deep", false),
            ("inbox*", "INBOX", true),
            ("in%", "INBOX", true),
            ("i%b%x", "INBOX", true),
            ("INBOX.foo", "INBOX.Foo", false),
            ("inbox.Foo", "INBOX.Foo", true),
            ("inbox", "INBOX.x", false),
            ("inbox", "inboxes", false),
            ("inboxes", "INBOXES", false),
            ("my.inbox", "my.INBOX", false),
            ("été", "été", true),
            ("%", "日本語", true),
            ("台*", "台北.日本語", true),
            ("台%", "台北.日本語", false),
            ("😀%", "😀x", true),
        ];
        for &(pattern, name, want) in cases {
            assert_eq!(list_matches(pattern, name), want, "{pattern:?} vs {name:?}");
        }
    }

    #[test]
    fn list_matches_is_not_exponential() {
        let name = "a".repeat(1000);
        let start = Instant::now();
        assert!(list_matches(&"*".repeat(50), &name));
        assert!(list_matches(&"%".repeat(50), &name));
        assert!(!list_matches(&format!("{}b", "*".repeat(50)), &name));
        // Classic backtracking killers.
        assert!(!list_matches(&format!("{}b", "*a".repeat(50)), &name));
        assert!(!list_matches(&format!("{}b", "%a".repeat(50)), &name));
        let dotted = vec!["a"; 500].join(".");
        assert!(!list_matches(&format!("{}b", "*.".repeat(50)), &dotted));
        assert!(list_matches(&format!("{}%", "%.".repeat(499)), &dotted));
        // Huge pattern against a max-length name.
        let pattern = "*a%".repeat(20_000);
        assert!(!list_matches(&pattern, &name));
        let pattern = format!("{}{}", "*".repeat(100_000), "a".repeat(1000));
        assert!(list_matches(&pattern, &name));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
