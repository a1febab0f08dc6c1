//! Byte writers for server responses: strings (RFC 9051 §4.3), flag lists
//! (§2.3.2), status responses with response codes (§7.1, RFC 5530, RFC 4315
//! §3, RFC 7162 §3.1.2-3, §3.2.11, RFC 3516 §4.3, RFC 5465), and
//! continuation requests (§7.5).
//!
//! Invariant: nothing taken from data reaches the wire unframed. A string
//! that is not safe as a quoted string (CR, LF, NUL, 8-bit without UTF-8
//! mode, invalid UTF-8) is written as a literal; free text (status text,
//! continuation text) has CR, LF and NUL replaced by spaces.

use std::io::Write as _;

use super::parser::{is_astring_char, is_atom_char};
use super::sequence::SequenceSet;
use super::types::{DateTime, Flag};
use mailyard_common::time::month_name;

/// The status of a status response. RFC 9051 §7.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `OK` (RFC 9051 §7.1.1)
    Ok,
    /// `NO` (RFC 9051 §7.1.2)
    No,
    /// `BAD` (RFC 9051 §7.1.3)
    Bad,
    /// `PREAUTH` (untagged greeting only, RFC 9051 §7.1.4)
    PreAuth,
    /// `BYE` (untagged only, RFC 9051 §7.1.5)
    Bye,
}

impl Status {
    /// The wire keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::PreAuth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }
}

/// A response code, the bracketed part of a status response.
/// RFC 9051 §7.1 unless noted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseCode {
    /// `ALERT`
    Alert,
    /// `CAPABILITY …` (RFC 9051 §7.2.2)
    Capability(Vec<String>),
    /// `PERMANENTFLAGS (…)`; `allow_new` adds `\*`.
    PermanentFlags {
        /// Flags the client can change permanently.
        flags: Vec<Flag>,
        /// New keywords can be created (`\*`).
        allow_new: bool,
    },
    /// `READ-ONLY`
    ReadOnly,
    /// `READ-WRITE`
    ReadWrite,
    /// `TRYCREATE`
    TryCreate,
    /// `UIDNEXT n`
    UidNext(u32),
    /// `UIDVALIDITY n`
    UidValidity(u32),
    /// `UNSEEN n` (RFC 3501 §7.1)
    Unseen(u32),
    /// `APPENDUID uidvalidity uid-set` (RFC 4315 §3)
    AppendUid {
        /// UIDVALIDITY of the target.
        uid_validity: u32,
        /// Assigned UIDs.
        uids: SequenceSet,
    },
    /// `COPYUID uidvalidity source-set dest-set` (RFC 4315 §3)
    CopyUid {
        /// UIDVALIDITY of the target.
        uid_validity: u32,
        /// Source UIDs.
        source: SequenceSet,
        /// Target UIDs, in the same order.
        dest: SequenceSet,
    },
    /// `UIDNOTSTICKY` (RFC 4315 §3)
    UidNotSticky,
    /// `HIGHESTMODSEQ n` (RFC 7162 §3.1.2.1)
    HighestModSeq(u64),
    /// `NOMODSEQ` (RFC 7162 §3.1.2.2)
    NoModSeq,
    /// `MODIFIED set` (RFC 7162 §3.1.3)
    Modified(SequenceSet),
    /// `CLOSED` (RFC 7162 §3.2.11)
    Closed,
    /// `TOOBIG` (RFC 4469 §4, RFC 9051 §7.1)
    TooBig,
    /// `NONEXISTENT` (RFC 5530 §3)
    Nonexistent,
    /// `ALREADYEXISTS` (RFC 5530 §3)
    AlreadyExists,
    /// `AUTHENTICATIONFAILED` (RFC 5530 §3)
    AuthenticationFailed,
    /// `AUTHORIZATIONFAILED` (RFC 5530 §3)
    AuthorizationFailed,
    /// `EXPIRED` (RFC 5530 §3)
    Expired,
    /// `PRIVACYREQUIRED` (RFC 5530 §3)
    PrivacyRequired,
    /// `CONTACTADMIN` (RFC 5530 §3)
    ContactAdmin,
    /// `UNAVAILABLE` (RFC 5530 §3)
    Unavailable,
    /// `OVERQUOTA` (RFC 5530 §3)
    OverQuota,
    /// `LIMIT` (RFC 5530 §3)
    Limit,
    /// `SERVERBUG` (RFC 5530 §3)
    ServerBug,
    /// `CANNOT` (RFC 5530 §3)
    Cannot,
    /// `NOPERM` (RFC 5530 §3)
    NoPerm,
    /// `INUSE` (RFC 5530 §3)
    InUse,
    /// `EXPUNGEISSUED` (RFC 5530 §3)
    ExpungeIssued,
    /// `CORRUPTION` (RFC 5530 §3)
    Corruption,
    /// `CLIENTBUG` (RFC 5530 §3)
    ClientBug,
    /// `HASCHILDREN` (RFC 9051 §7.1)
    HasChildren,
    /// `UNKNOWN-CTE` (RFC 3516 §4.3)
    UnknownCte,
    /// `PARSE`
    Parse,
    /// `BADCHARSET (…)`; the list may be empty.
    BadCharset(Vec<String>),
    /// `COMPRESSIONACTIVE` (RFC 4978 §3)
    CompressionActive,
    /// `NOUPDATE "tag"` (RFC 5267 §4.3): the search with that tag is not kept
    /// up to date.
    NoUpdate(String),
    /// `BADURL url` (RFC 4469 §4.1): the URL bare, not a string (RFC 4469 errata
    /// 4046; Dovecot sends it so too), bytes `url-resp-text` does not allow dropped.
    BadUrl(String),
    /// `NOTIFICATIONOVERFLOW` (RFC 5465 §5.8, §3.1)
    NotificationOverflow,
    /// `BADEVENT (…)`: the events the server supports (RFC 5465 §3.1, §8).
    BadEvent(Vec<String>),
}

/// Whether `data` can be sent as a quoted string (RFC 9051 §9 `quoted`):
/// no CR, LF or NUL; 8-bit only as valid UTF-8 and only in UTF-8 mode
/// (IMAP4rev2 or `UTF8=ACCEPT`, RFC 9051 §4.3, RFC 6855 §3).
pub fn is_quotable(data: &[u8], utf8: bool) -> bool {
    if data.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        return false;
    }
    if data.is_ascii() {
        return true;
    }
    utf8 && std::str::from_utf8(data).is_ok()
}

/// Writes a quoted string; the caller checked [`is_quotable`].
fn write_quoted(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'"');
    for &b in data {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Writes a literal `{n}\r\n` + data (RFC 9051 §4.3). A literal is CHAR8, never
/// NUL; a NUL in stored data (a message delivered or imported with one; binary
/// APPENDs are re-encoded, `cmd/binary.rs`) is sent as 0x80, as Dovecot does, so
/// the length and every other octet stay as stored. Data that must keep its NULs
/// goes in a literal8 ([`write_literal8`], BINARY responses only).
pub fn write_literal(out: &mut Vec<u8>, data: &[u8]) {
    let _ = write!(out, "{{{}}}\r\n", data.len());
    let at = out.len();
    out.extend_from_slice(data);
    if data.contains(&0) {
        for b in &mut out[at..] {
            if *b == 0 {
                *b = 0x80;
            }
        }
    }
}

/// Writes a literal8 `~{n}\r\n` + data (RFC 3516 §4.3, BINARY responses).
pub fn write_literal8(out: &mut Vec<u8>, data: &[u8]) {
    let _ = write!(out, "~{{{}}}\r\n", data.len());
    out.extend_from_slice(data);
}

/// RFC 9051 §9 `string`: quoted when safe ([`is_quotable`]), a literal
/// otherwise.
pub fn write_string(out: &mut Vec<u8>, data: &[u8], utf8: bool) {
    if is_quotable(data, utf8) {
        write_quoted(out, data);
    } else {
        write_literal(out, data);
    }
}

/// RFC 9051 §9 `astring`: an atom when every byte is an ASTRING-CHAR (and it
/// is not `NIL`, which some clients would misread), otherwise a string.
pub fn write_astring(out: &mut Vec<u8>, data: &[u8], utf8: bool) {
    if !data.is_empty()
        && data.iter().all(|&b| is_astring_char(b))
        && !data.eq_ignore_ascii_case(b"NIL")
    {
        out.extend_from_slice(data);
    } else {
        write_string(out, data, utf8);
    }
}

/// RFC 9051 §9 `nstring`: `NIL` or a string.
pub fn write_nstring(out: &mut Vec<u8>, data: Option<&[u8]>, utf8: bool) {
    match data {
        Some(d) => write_string(out, d, utf8),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// RFC 9051 §9 `flag-list`: `(\Seen $label1)`. Keywords that are not atoms
/// (they cannot be sent) are left out.
pub fn write_flag_list(out: &mut Vec<u8>, flags: &[Flag]) {
    out.push(b'(');
    let mut first = true;
    for flag in flags {
        let wire = flag.as_wire();
        let name = wire.strip_prefix('\\').unwrap_or(&wire);
        if name.is_empty() || !name.bytes().all(is_atom_char) {
            continue;
        }
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(wire.as_bytes());
    }
    out.push(b')');
}

/// RFC 9051 §9 `date-time` for INTERNALDATE: `"17-Jul-1996 02:44:25 -0700"`.
pub fn write_date_time(out: &mut Vec<u8>, dt: &DateTime) {
    let zone = dt.zone_minutes;
    let sign = if zone < 0 { '-' } else { '+' };
    let zone = zone.unsigned_abs();
    let _ = write!(
        out,
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}\"",
        dt.date.day,
        month_name(dt.date.month),
        dt.date.year,
        dt.hour,
        dt.minute,
        dt.second,
        sign,
        zone / 60,
        zone % 60
    );
}

/// Free text (RFC 9051 §9 `text` = 1*TEXT-CHAR): CR, LF and NUL become
/// spaces, so data can never end the line early; empty text becomes "done".
fn write_text(out: &mut Vec<u8>, text: &str) {
    if text.is_empty() {
        out.extend_from_slice(b"done");
        return;
    }
    out.extend(text.bytes().map(|b| {
        if matches!(b, 0 | b'\r' | b'\n') {
            b' '
        } else {
            b
        }
    }));
}

/// Capability names and charsets are atoms; anything else is dropped.
fn write_atoms(out: &mut Vec<u8>, atoms: &[String], sep: u8) {
    let mut first = true;
    for a in atoms
        .iter()
        .filter(|a| !a.is_empty() && a.bytes().all(is_atom_char))
    {
        if !first {
            out.push(sep);
        }
        first = false;
        out.extend_from_slice(a.as_bytes());
    }
}

/// Writes a response code without brackets.
pub fn write_code(out: &mut Vec<u8>, code: &ResponseCode) {
    use ResponseCode as C;
    let simple = match code {
        C::Alert => "ALERT",
        C::ReadOnly => "READ-ONLY",
        C::ReadWrite => "READ-WRITE",
        C::TryCreate => "TRYCREATE",
        C::UidNotSticky => "UIDNOTSTICKY",
        C::NoModSeq => "NOMODSEQ",
        C::Closed => "CLOSED",
        C::TooBig => "TOOBIG",
        C::Nonexistent => "NONEXISTENT",
        C::AlreadyExists => "ALREADYEXISTS",
        C::AuthenticationFailed => "AUTHENTICATIONFAILED",
        C::AuthorizationFailed => "AUTHORIZATIONFAILED",
        C::Expired => "EXPIRED",
        C::PrivacyRequired => "PRIVACYREQUIRED",
        C::ContactAdmin => "CONTACTADMIN",
        C::Unavailable => "UNAVAILABLE",
        C::OverQuota => "OVERQUOTA",
        C::Limit => "LIMIT",
        C::ServerBug => "SERVERBUG",
        C::Cannot => "CANNOT",
        C::NoPerm => "NOPERM",
        C::InUse => "INUSE",
        C::ExpungeIssued => "EXPUNGEISSUED",
        C::Corruption => "CORRUPTION",
        C::ClientBug => "CLIENTBUG",
        C::HasChildren => "HASCHILDREN",
        C::UnknownCte => "UNKNOWN-CTE",
        C::Parse => "PARSE",
        C::CompressionActive => "COMPRESSIONACTIVE",
        C::NotificationOverflow => "NOTIFICATIONOVERFLOW",
        C::Capability(caps) => {
            out.extend_from_slice(b"CAPABILITY ");
            write_atoms(out, caps, b' ');
            return;
        }
        C::PermanentFlags { flags, allow_new } => {
            out.extend_from_slice(b"PERMANENTFLAGS ");
            write_flag_list(out, flags);
            if *allow_new {
                out.pop();
                if out.last() != Some(&b'(') {
                    out.push(b' ');
                }
                out.extend_from_slice(b"\\*)");
            }
            return;
        }
        C::UidNext(n) => {
            let _ = write!(out, "UIDNEXT {n}");
            return;
        }
        C::UidValidity(n) => {
            let _ = write!(out, "UIDVALIDITY {n}");
            return;
        }
        C::Unseen(n) => {
            let _ = write!(out, "UNSEEN {n}");
            return;
        }
        C::AppendUid { uid_validity, uids } => {
            let _ = write!(out, "APPENDUID {uid_validity} {}", uids.to_wire());
            return;
        }
        C::CopyUid {
            uid_validity,
            source,
            dest,
        } => {
            let _ = write!(
                out,
                "COPYUID {uid_validity} {} {}",
                source.to_wire(),
                dest.to_wire()
            );
            return;
        }
        C::HighestModSeq(n) => {
            let _ = write!(out, "HIGHESTMODSEQ {n}");
            return;
        }
        C::Modified(set) => {
            let _ = write!(out, "MODIFIED {}", set.to_wire());
            return;
        }
        C::NoUpdate(tag) => {
            out.extend_from_slice(b"NOUPDATE ");
            write_string(out, tag.as_bytes(), false);
            return;
        }
        C::BadUrl(url) => {
            out.extend_from_slice(b"BADURL ");
            // RFC 4469 §5 url-resp-text: TEXT-CHAR except "]".
            out.extend(
                url.bytes()
                    .filter(|&b| (0x20..0x7f).contains(&b) && b != b']'),
            );
            return;
        }
        C::BadEvent(events) => {
            out.extend_from_slice(b"BADEVENT (");
            write_atoms(out, events, b' ');
            out.push(b')');
            return;
        }
        C::BadCharset(charsets) => {
            out.extend_from_slice(b"BADCHARSET");
            if !charsets.is_empty() {
                out.extend_from_slice(b" (");
                write_atoms(out, charsets, b' ');
                out.push(b')');
            }
            return;
        }
    };
    out.extend_from_slice(simple.as_bytes());
}

/// A status response line, CRLF included: `tag OK [CODE] text` or, without
/// a tag, `* BAD text`. RFC 9051 §7.1.
pub fn status_response(
    tag: Option<&str>,
    status: Status,
    code: Option<&ResponseCode>,
    text: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + text.len());
    match tag {
        // A tag we echo was read by our own parser; still never let it
        // carry CR/LF or spaces.
        Some(t) if !t.is_empty() && t.bytes().all(|b| is_astring_char(b) && b != b'+') => {
            out.extend_from_slice(t.as_bytes())
        }
        _ => out.push(b'*'),
    }
    out.push(b' ');
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    if let Some(code) = code {
        out.push(b'[');
        write_code(&mut out, code);
        out.extend_from_slice(b"] ");
    }
    write_text(&mut out, text);
    out.extend_from_slice(b"\r\n");
    out
}

/// A command continuation request `+ text\r\n`. RFC 9051 §7.5.
pub fn continuation(text: &str) -> Vec<u8> {
    let mut out = b"+ ".to_vec();
    write_text(&mut out, text);
    out.extend_from_slice(b"\r\n");
    out
}

/// A SASL challenge `+ base64\r\n` (RFC 9051 §6.2.2); an empty challenge is
/// `+ \r\n`.
pub fn continuation_base64(challenge: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let mut out = b"+ ".to_vec();
    out.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(challenge)
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::super::sequence::Sequence;
    use super::super::sequence::parse_sequence;
    use super::*;
    use ResponseCode as C;

    fn set(s: &str) -> SequenceSet {
        match parse_sequence(s.as_bytes()).unwrap() {
            Sequence::Set(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn literals_never_carry_nul() {
        let cases: &[(&[u8], &[u8], &[u8])] = &[
            // (data, literal, literal8)
            (b"abc", b"{3}\r\nabc", b"~{3}\r\nabc"),
            (b"", b"{0}\r\n", b"~{0}\r\n"),
            (b"a\0b\0", b"{4}\r\na\x80b\x80", b"~{4}\r\na\0b\0"),
            (b"\0-\xe4\n", b"{4}\r\n\x80-\xe4\n", b"~{4}\r\n\0-\xe4\n"),
        ];
        for &(data, literal, literal8) in cases {
            let mut out = b"x ".to_vec();
            write_literal(&mut out, data);
            assert_eq!(&out[2..], literal, "{data:?}");
            let mut out = Vec::new();
            write_literal8(&mut out, data);
            assert_eq!(out, literal8, "{data:?}");
        }
    }

    #[test]
    fn status_responses() {
        let rows: Vec<(Option<&str>, Status, Option<ResponseCode>, &str, &str)> = vec![
            // RFC 9051 §6.3.2, §7.1 examples.
            (
                Some("A142"),
                Status::Ok,
                Some(C::ReadWrite),
                "SELECT completed",
                "A142 OK [READ-WRITE] SELECT completed\r\n",
            ),
            (
                None,
                Status::Ok,
                Some(C::UidValidity(3857529045)),
                "UIDs valid",
                "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
            ),
            // RFC 5465 §5.8, §3.1.
            (
                None,
                Status::Ok,
                Some(C::NotificationOverflow),
                "Too many events",
                "* OK [NOTIFICATIONOVERFLOW] Too many events\r\n",
            ),
            (
                Some("a"),
                Status::No,
                Some(C::BadEvent(vec!["MessageNew".into(), "FlagChange".into()])),
                "Unsupported event",
                "a NO [BADEVENT (MessageNew FlagChange)] Unsupported event\r\n",
            ),
            (
                None,
                Status::Ok,
                Some(C::UidNext(4392)),
                "Predicted next UID",
                "* OK [UIDNEXT 4392] Predicted next UID\r\n",
            ),
            (
                None,
                Status::Ok,
                Some(C::Unseen(12)),
                "Message 12 is first unseen",
                "* OK [UNSEEN 12] Message 12 is first unseen\r\n",
            ),
            (
                None,
                Status::Ok,
                Some(C::PermanentFlags {
                    flags: vec![Flag::Deleted, Flag::Seen],
                    allow_new: true,
                }),
                "Limited",
                "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
            ),
            (
                None,
                Status::Ok,
                Some(C::PermanentFlags {
                    flags: vec![],
                    allow_new: true,
                }),
                "x",
                "* OK [PERMANENTFLAGS (\\*)] x\r\n",
            ),
            (
                None,
                Status::Ok,
                Some(C::PermanentFlags {
                    flags: vec![],
                    allow_new: false,
                }),
                "No permanent flags permitted",
                "* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n",
            ),
            (
                Some("A932"),
                Status::Ok,
                Some(C::ReadOnly),
                "EXAMINE completed",
                "A932 OK [READ-ONLY] EXAMINE completed\r\n",
            ),
            (
                None,
                Status::Ok,
                Some(C::Alert),
                "System shutdown in 10 minutes",
                "* OK [ALERT] System shutdown in 10 minutes\r\n",
            ),
            (
                Some("A003"),
                Status::No,
                Some(C::TryCreate),
                "No such mailbox",
                "A003 NO [TRYCREATE] No such mailbox\r\n",
            ),
            (
                None,
                Status::Bye,
                None,
                "Autologout; idle for too long",
                "* BYE Autologout; idle for too long\r\n",
            ),
            (
                None,
                Status::PreAuth,
                None,
                "IMAP4rev2 server logged in as Smith",
                "* PREAUTH IMAP4rev2 server logged in as Smith\r\n",
            ),
            (
                None,
                Status::Bad,
                None,
                "Command line too long",
                "* BAD Command line too long\r\n",
            ),
            (
                None,
                Status::Ok,
                Some(C::Capability(vec![
                    "IMAP4rev1".into(),
                    "STARTTLS".into(),
                    "AUTH=PLAIN".into(),
                ])),
                "ready",
                "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n",
            ),
            // RFC 4315 §3 examples.
            (
                Some("A003"),
                Status::Ok,
                Some(C::AppendUid {
                    uid_validity: 38505,
                    uids: set("3955"),
                }),
                "APPEND completed",
                "A003 OK [APPENDUID 38505 3955] APPEND completed\r\n",
            ),
            (
                Some("A004"),
                Status::Ok,
                Some(C::CopyUid {
                    uid_validity: 38505,
                    source: set("304,319:320"),
                    dest: set("3956:3958"),
                }),
                "Done",
                "A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
            ),
            // RFC 7162 §3.1.2, §3.1.3, §3.2.11 examples.
            (
                None,
                Status::Ok,
                Some(C::HighestModSeq(715194045007)),
                "Highest",
                "* OK [HIGHESTMODSEQ 715194045007] Highest\r\n",
            ),
            (
                None,
                Status::Ok,
                Some(C::NoModSeq),
                "Sorry, this mailbox format doesn't support modsequences",
                "* OK [NOMODSEQ] Sorry, this mailbox format doesn't support modsequences\r\n",
            ),
            (
                Some("d105"),
                Status::Ok,
                Some(C::Modified(set("7,9"))),
                "Conditional STORE failed",
                "d105 OK [MODIFIED 7,9] Conditional STORE failed\r\n",
            ),
            (
                None,
                Status::Ok,
                Some(C::Closed),
                "",
                "* OK [CLOSED] done\r\n",
            ),
            // RFC 5530 §3.
            (
                Some("a"),
                Status::No,
                Some(C::AuthenticationFailed),
                "Authentication failed",
                "a NO [AUTHENTICATIONFAILED] Authentication failed\r\n",
            ),
            (
                Some("a"),
                Status::No,
                Some(C::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()])),
                "x",
                "a NO [BADCHARSET (UTF-8 US-ASCII)] x\r\n",
            ),
            (
                Some("a"),
                Status::No,
                Some(C::BadCharset(vec![])),
                "x",
                "a NO [BADCHARSET] x\r\n",
            ),
            (
                Some("a"),
                Status::No,
                Some(C::TooBig),
                "Too big",
                "a NO [TOOBIG] Too big\r\n",
            ),
            (
                Some("a"),
                Status::Bad,
                Some(C::ClientBug),
                "x",
                "a BAD [CLIENTBUG] x\r\n",
            ),
            (
                Some("a"),
                Status::No,
                Some(C::UnknownCte),
                "x",
                "a NO [UNKNOWN-CTE] x\r\n",
            ),
            // Never let data end the line or forge a tag.
            (
                Some("a"),
                Status::No,
                None,
                "bad\r\n* OK [ALERT] forged\0",
                "a NO bad  * OK [ALERT] forged \r\n",
            ),
            (Some("a b\r\n"), Status::Bad, None, "x", "* BAD x\r\n"),
        ];
        for (tag, status, code, text, expected) in rows {
            let got = status_response(tag, status, code.as_ref(), text);
            assert_eq!(String::from_utf8_lossy(&got), expected);
        }
        // Every simple code writes its RFC name.
        let simple = [
            (C::Unavailable, "UNAVAILABLE"),
            (C::OverQuota, "OVERQUOTA"),
            (C::Limit, "LIMIT"),
            (C::ServerBug, "SERVERBUG"),
            (C::Cannot, "CANNOT"),
            (C::NoPerm, "NOPERM"),
            (C::InUse, "INUSE"),
            (C::ExpungeIssued, "EXPUNGEISSUED"),
            (C::Parse, "PARSE"),
            (C::Nonexistent, "NONEXISTENT"),
            (C::AlreadyExists, "ALREADYEXISTS"),
            (C::HasChildren, "HASCHILDREN"),
            (C::UidNotSticky, "UIDNOTSTICKY"),
            (C::AuthorizationFailed, "AUTHORIZATIONFAILED"),
            (C::Expired, "EXPIRED"),
            (C::PrivacyRequired, "PRIVACYREQUIRED"),
            (C::ContactAdmin, "CONTACTADMIN"),
            (C::Corruption, "CORRUPTION"),
        ];
        for (code, name) in simple {
            let mut out = Vec::new();
            write_code(&mut out, &code);
            assert_eq!(out, name.as_bytes());
        }
    }

    #[test]
    fn strings() {
        // (data, utf8 mode, string, astring)
        let rows: Vec<(&[u8], bool, &str, &str)> = vec![
            (b"abc", false, "\"abc\"", "abc"),
            (b"", false, "\"\"", "\"\""),
            (b"NIL", false, "\"NIL\"", "\"NIL\""),
            (b"a b", false, "\"a b\"", "\"a b\""),
            (b"a\"b\\", false, "\"a\\\"b\\\\\"", "\"a\\\"b\\\\\""),
            (b"INBOX]", false, "\"INBOX]\"", "INBOX]"),
            (b"a{b", false, "\"a{b\"", "\"a{b\""),
            (b"a\r\nb", false, "{4}\r\na\r\nb", "{4}\r\na\r\nb"),
            (b"a\nb", true, "{3}\r\na\nb", "{3}\r\na\nb"),
            ("trés".as_bytes(), false, "{5}\r\ntrés", "{5}\r\ntrés"),
            ("trés".as_bytes(), true, "\"trés\"", "\"trés\""),
            (
                b"\xff\xfe",
                true,
                "{2}\r\n\u{fffd}\u{fffd}",
                "{2}\r\n\u{fffd}\u{fffd}",
            ),
        ];
        for (data, utf8, string, astring) in rows {
            let mut out = Vec::new();
            write_string(&mut out, data, utf8);
            assert_eq!(String::from_utf8_lossy(&out), string, "{:?}", data);
            let mut out = Vec::new();
            write_astring(&mut out, data, utf8);
            assert_eq!(String::from_utf8_lossy(&out), astring, "{:?}", data);
        }
        let mut out = Vec::new();
        write_nstring(&mut out, None, false);
        out.push(b' ');
        write_nstring(&mut out, Some(b"x"), false);
        assert_eq!(out, b"NIL \"x\"");
        let mut out = Vec::new();
        write_literal8(&mut out, b"\0\x01");
        assert_eq!(out, b"~{2}\r\n\0\x01");
    }

    #[test]
    fn flags_and_dates() {
        let mut out = Vec::new();
        write_flag_list(
            &mut out,
            &[
                Flag::Seen,
                Flag::Answered,
                Flag::Flagged,
                Flag::Deleted,
                Flag::Draft,
                Flag::Recent,
                Flag::Keyword("$label1".into()),
                Flag::Keyword("bad keyword".into()),
                Flag::Extension("X".into()),
            ],
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "(\\Seen \\Answered \\Flagged \\Deleted \\Draft \\Recent $label1 \\X)"
        );
        let dt = super::super::parser::Parser::new(b"\"17-Jul-1996 02:44:25 -0700\"")
            .date_time()
            .unwrap();
        let mut out = Vec::new();
        write_date_time(&mut out, &dt);
        assert_eq!(out, b"\"17-Jul-1996 02:44:25 -0700\"");
        let dt = super::super::parser::Parser::new(b"\" 1-Aug-2002 22:00:00 +0530\"")
            .date_time()
            .unwrap();
        let mut out = Vec::new();
        write_date_time(&mut out, &dt);
        assert_eq!(out, b"\"01-Aug-2002 22:00:00 +0530\"");
    }

    #[test]
    fn continuations() {
        assert_eq!(continuation("Ready"), b"+ Ready\r\n");
        assert_eq!(continuation("a\r\nb"), b"+ a  b\r\n");
        assert_eq!(continuation_base64(b""), b"+ \r\n");
        assert_eq!(continuation_base64(b"Username:"), b"+ VXNlcm5hbWU6\r\n");
    }
}
