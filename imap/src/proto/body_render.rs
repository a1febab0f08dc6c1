//! ENVELOPE, BODY and BODYSTRUCTURE (RFC 9051 §7.5.2, grammar §9 `envelope`,
//! `body`) rendered from a message's shape (`mailyard_message::Shape`), with the one
//! [`write_string`]: quoted when the bytes allow it (UTF-8 only in UTF-8 mode, RFC
//! 9051 §4.3, RFC 6855 §3), a literal otherwise — so header bytes that are not
//! UTF-8 reach the client as they are, never as U+FFFD.
//!
//! The presentation rules are Dovecot's (`imap-envelope.c`, `imap-bodystructure.c`):
//! Sender and Reply-To default to From when absent or empty; the subject and display
//! names have runs of white space collapsed to one space and are trimmed ("string
//! for humans"); no Content-Type is `"text" "plain"`; a text part without a charset
//! gets `"charset" "us-ascii"`; no (or an invalid) transfer encoding is `"7bit"`; a
//! multipart without parts has one empty `text/plain` part; an encapsulated message
//! that could not be parsed has an empty envelope and body; `message/global` is a
//! basic part. Extension data is always complete (RFC 9051 §7.5.2 allows fewer).

use mailyard_message::{Address, Content, Envelope, Kind, Param, Part, Shape};

use super::response::{write_nstring, write_string};

/// `body-fld-*` of an empty `text/plain` part (Dovecot's `EMPTY_BODY`).
const EMPTY_BODY: &[u8] = b"\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0";
/// Extension data of [`EMPTY_BODY`] in BODYSTRUCTURE.
const EMPTY_BODY_EXT: &[u8] = b" NIL NIL NIL NIL";
/// The fields of an envelope without any envelope header.
const EMPTY_ENVELOPE: &[u8] = b"NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL";

/// RFC 9051 §7.5.2 ENVELOPE: the parenthesized list that follows `ENVELOPE `.
pub fn envelope(out: &mut Vec<u8>, env: &Envelope, utf8: bool) {
    out.push(b'(');
    envelope_fields(out, env, utf8);
    out.push(b')');
}

/// RFC 9051 §7.5.2 BODYSTRUCTURE (`extended`) or BODY: the parenthesized `body`
/// that follows `BODYSTRUCTURE ` or `BODY `.
pub fn body_structure(out: &mut Vec<u8>, shape: &Shape, extended: bool, utf8: bool) {
    out.push(b'(');
    part(out, &shape.root, extended, utf8);
    out.push(b')');
}

/// RFC 5524 §3 `BODYPARTSTRUCTURE`: the structure of part `path` of `shape` (empty:
/// the whole message) as BODYSTRUCTURE shows it, parts numbered as for
/// `BODY[section]` (`mailyard_message::locate`); false, with nothing written, when
/// there is no such part.
pub fn part_structure(out: &mut Vec<u8>, shape: &Shape, path: &[u32], utf8: bool) -> bool {
    let Some(found) = mailyard_message::locate(shape, path) else {
        return false;
    };
    out.push(b'(');
    part(out, found.part, true, utf8);
    out.push(b')');
    true
}

/// Dovecot's "string for humans": runs of SP, TAB, CR and LF become one space,
/// white space at either end is dropped.
pub fn humanize(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut space = false;
    for &c in s {
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            space = !out.is_empty();
        } else {
            if space {
                out.push(b' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

fn envelope_fields(out: &mut Vec<u8>, env: &Envelope, utf8: bool) {
    write_nstring(out, env.date.as_deref(), utf8);
    out.push(b' ');
    write_nstring(out, env.subject.as_deref().map(humanize).as_deref(), utf8);
    let or_from = |list: &'_ [Address]| -> Vec<Address> {
        if list.is_empty() {
            env.from.clone()
        } else {
            list.to_vec()
        }
    };
    for list in [
        &env.from,
        &or_from(&env.sender),
        &or_from(&env.reply_to),
        &env.to,
        &env.cc,
        &env.bcc,
    ] {
        out.push(b' ');
        addresses(out, list, utf8);
    }
    out.push(b' ');
    write_nstring(out, env.in_reply_to.as_deref(), utf8);
    out.push(b' ');
    write_nstring(out, env.message_id.as_deref(), utf8);
}

/// RFC 9051 §9 `env-from` etc.: NIL or a list of `address`.
fn addresses(out: &mut Vec<u8>, list: &[Address], utf8: bool) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        match a {
            Address::Mailbox(m) => {
                write_nstring(out, m.name.as_deref().map(humanize).as_deref(), utf8);
                out.push(b' ');
                write_nstring(out, m.adl.as_deref(), utf8);
                out.push(b' ');
                write_string(out, &m.mailbox, utf8);
                out.push(b' ');
                write_string(out, &m.host, utf8);
            }
            Address::GroupStart(name) => {
                out.extend_from_slice(b"NIL NIL ");
                write_string(out, name, utf8);
                out.extend_from_slice(b" NIL");
            }
            Address::GroupEnd => out.extend_from_slice(b"NIL NIL NIL NIL"),
        }
        out.push(b')');
    }
    out.push(b')');
}

fn empty_body(out: &mut Vec<u8>, extended: bool) {
    out.extend_from_slice(EMPTY_BODY);
    if extended {
        out.extend_from_slice(EMPTY_BODY_EXT);
    }
}

/// One part, without its parentheses.
fn part(out: &mut Vec<u8>, p: &Part, extended: bool, utf8: bool) {
    match &p.kind {
        Kind::Multipart { subtype, parts } => {
            if parts.is_empty() {
                out.push(b'(');
                empty_body(out, extended);
                out.push(b')');
            }
            for child in parts {
                out.push(b'(');
                part(out, child, extended, utf8);
                out.push(b')');
            }
            out.push(b' ');
            write_string(out, subtype, utf8);
            if extended {
                out.push(b' ');
                params(out, &p.content.params, false, utf8);
                ext_common(out, &p.content, utf8);
            }
        }
        Kind::Message(enc) if p.is_rfc822() => {
            out.extend_from_slice(b"\"message\" \"rfc822\" ");
            params(out, &p.content.params, false, utf8);
            fields_tail(out, &p.content, p.octets, utf8);
            out.extend_from_slice(b" (");
            match &enc.message {
                Some(m) => envelope_fields(out, &m.envelope, utf8),
                None => out.extend_from_slice(EMPTY_ENVELOPE),
            }
            out.extend_from_slice(b") (");
            match &enc.message {
                Some(m) => part(out, &m.root, extended, utf8),
                None => empty_body(out, extended),
            }
            out.extend_from_slice(format!(") {}", p.lines).as_bytes());
            if extended {
                ext_1part(out, &p.content, utf8);
            }
        }
        _ => basic(out, p, extended, utf8),
    }
}

/// `body-type-basic` / `body-type-text`, and `body-ext-1part` for BODYSTRUCTURE.
fn basic(out: &mut Vec<u8>, p: &Part, extended: bool, utf8: bool) {
    let c = &p.content;
    let text = match &c.media_type {
        None => {
            out.extend_from_slice(b"\"text\" \"plain\"");
            true
        }
        Some(m) => {
            write_string(out, &m.kind, utf8);
            out.push(b' ');
            write_string(out, &m.subtype, utf8);
            m.kind.eq_ignore_ascii_case(b"text")
        }
    };
    out.push(b' ');
    params(out, &c.params, text, utf8);
    fields_tail(out, c, p.octets, utf8);
    if text {
        out.extend_from_slice(format!(" {}", p.lines).as_bytes());
    }
    if extended {
        ext_1part(out, c, utf8);
    }
}

/// `body-fld-param`; with `default_charset` (text parts) `"charset" "us-ascii"`
/// is added when no charset is given (RFC 2045 §5.2).
fn params(out: &mut Vec<u8>, params: &[Param], default_charset: bool, utf8: bool) {
    let has_charset = params
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case(b"charset"));
    if params.is_empty() && !default_charset {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_string(out, k, utf8);
        out.push(b' ');
        write_string(out, v, utf8);
    }
    if default_charset && !has_charset {
        if !params.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(b"\"charset\" \"us-ascii\"");
    }
    out.push(b')');
}

/// ` body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets`.
fn fields_tail(out: &mut Vec<u8>, c: &Content, octets: u64, utf8: bool) {
    out.push(b' ');
    write_nstring(out, c.id.as_deref(), utf8);
    out.push(b' ');
    write_nstring(out, c.description.as_deref(), utf8);
    out.push(b' ');
    write_string(out, c.encoding.as_deref().unwrap_or(b"7bit"), utf8);
    out.extend_from_slice(format!(" {octets}").as_bytes());
}

/// `body-ext-1part`: ` body-fld-md5`, then [`ext_common`].
fn ext_1part(out: &mut Vec<u8>, c: &Content, utf8: bool) {
    out.push(b' ');
    write_nstring(out, c.md5.as_deref(), utf8);
    ext_common(out, c, utf8);
}

/// ` body-fld-dsp SP body-fld-lang SP body-fld-loc`.
fn ext_common(out: &mut Vec<u8>, c: &Content, utf8: bool) {
    out.push(b' ');
    match &c.disposition {
        Some(d) => {
            out.push(b'(');
            write_string(out, &d.kind, utf8);
            out.push(b' ');
            params(out, &d.params, false, utf8);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match &c.language {
        Some(langs) => {
            out.push(b'(');
            for (i, l) in langs.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_string(out, l, utf8);
            }
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    write_nstring(out, c.location.as_deref(), utf8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(raw: &[u8], utf8: bool) -> (String, String, String) {
        let shape = Shape::parse(raw);
        let (mut e, mut bs, mut b) = (Vec::new(), Vec::new(), Vec::new());
        envelope(&mut e, &shape.envelope, utf8);
        body_structure(&mut bs, &shape, true, utf8);
        body_structure(&mut b, &shape, false, utf8);
        let s = |v: Vec<u8>| String::from_utf8_lossy(&v).into_owned();
        (s(e), s(bs), s(b))
    }

    /// Dovecot's `test-imap-bodystructure.c` stores its messages with bare LF and
    /// expects CRLF-form sizes: `body\n` is 6 octets, 1 line.
    #[test]
    fn bare_lf_counts_as_crlf() {
        let raw = b"From: user@domain.org\nDate: Sat, 24 Mar 2017 23:00:00 +0200\nMime-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nbody\n";
        let (env, bs, b) = render(raw, false);
        assert_eq!(
            env,
            "(\"Sat, 24 Mar 2017 23:00:00 +0200\" NIL ((NIL NIL \"user\" \"domain.org\")) \
             ((NIL NIL \"user\" \"domain.org\")) ((NIL NIL \"user\" \"domain.org\")) NIL NIL NIL NIL NIL)"
        );
        assert_eq!(
            bs,
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)"
        );
        assert_eq!(
            b,
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)"
        );
    }

    /// 8-bit header bytes: quoted in UTF-8 mode when they are UTF-8, a literal
    /// otherwise — the bytes as stored, never U+FFFD.
    #[test]
    fn eight_bit_headers() {
        let raw = b"Subject: caf\xe9 ok\r\nFrom: J\xc3\xb6rg <j@x.de>\r\n\r\nbody\r\n";
        let (env, _, _) = render(raw, true);
        assert_eq!(
            env.as_bytes(),
            "(NIL {7}\r\ncaf\u{FFFD} ok ((\"J\u{f6}rg\" NIL \"j\" \"x.de\")) \
             ((\"J\u{f6}rg\" NIL \"j\" \"x.de\")) ((\"J\u{f6}rg\" NIL \"j\" \"x.de\")) NIL NIL NIL NIL NIL)"
                .as_bytes()
        );
        let shape = Shape::parse(raw);
        let mut e = Vec::new();
        envelope(&mut e, &shape.envelope, false);
        assert!(
            e.starts_with(b"(NIL {7}\r\ncaf\xe9 ok (({5}\r\nJ\xc3\xb6rg NIL"),
            "{e:?}"
        );
    }

    #[test]
    fn empty_and_degenerate() {
        let (env, bs, _) = render(b"", false);
        assert_eq!(env, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
        assert_eq!(
            bs,
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
        );
        let (_, bs, _) = render(
            b"Content-Type: multipart/mixed; boundary=\"foo\"\n\n",
            false,
        );
        assert_eq!(
            bs,
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \
             \"mixed\" (\"boundary\" \"foo\") NIL NIL NIL)"
        );
    }
}
