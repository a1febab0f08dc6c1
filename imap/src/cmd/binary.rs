//! BINARY (RFC 3516): a body part with its Content-Transfer-Encoding undone.
//!
//! The part is found by `section.rs` over the stored shape and read by positioned
//! reads (its body and its MIME header); the encoding is read from that header, as
//! written. `7bit`, `8bit` and `binary` (and no header) are identity; `base64` and
//! `quoted-printable` are decoded leniently as RFC 2045 §6.7, §6.8 ask (characters
//! outside the base64 alphabet are ignored; a quoted-printable `=` not followed by
//! two hex digits is kept); any other encoding is [`UnknownCte`] (RFC 3516 §4.3
//! `[UNKNOWN-CTE]`). `BINARY[]` is the whole message as stored (nothing to decode).
//!
//! The other direction, for APPEND of a literal8 (RFC 3516 §4.4):
//! [`encode_binary_parts`] stores every `binary` part base64-encoded, so that
//! `BODY[…]` (which can only be an IMAP `string`, never NUL, RFC 9051 §4.3) still
//! returns the stored bytes, and `BINARY[…]` returns the original ones. It and
//! [`binary_message`] rewrite a message in memory, walking its shape.

use std::io;
use std::ops::Range;

use base64::Engine as _;
use mailyard_message::section::Encoding;
use mailyard_message::{Kind, Part, Shape};
use mailyard_store::MessageFile;

use crate::cmd::section::find;
use mailyard_message::content::parse_encoding;
use mailyard_message::header::{field_lines, fields, line_name};

/// The part's Content-Transfer-Encoding is not one we can decode (RFC 3516 §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownCte;

/// The decoded content of `part` of the message in `file` whose shape is `shape`:
/// `None` when the part does not exist. RFC 3516 §4.2 BINARY[section-binary].
pub(crate) fn binary_part(
    file: &MessageFile,
    shape: &Shape,
    part: &[u32],
) -> io::Result<Option<Result<Vec<u8>, UnknownCte>>> {
    if part.is_empty() {
        return Ok(Some(Ok(file.read_wire(0..file.len())?)));
    }
    let Some(found) = find(file, shape, part)? else {
        return Ok(None);
    };
    let header = found.source.read_all(file, found.part.header)?;
    let body = found.source.read_all(file, found.part.body)?;
    Ok(Some(decode(&body, transfer_encoding(&header).as_deref())))
}

/// The first Content-Transfer-Encoding field of a header block: its token (RFC 2045
/// §6.1, comments and folding allowed), lower-cased. Read from the header even when
/// the part is not MIME (no MIME-Version), as Dovecot's decoder does for BINARY, so
/// this is not the shape's `encoding` (which follows Dovecot's BODYSTRUCTURE).
fn transfer_encoding(header: &[u8]) -> Option<String> {
    let field = fields(header).find(|f| f.is("content-transfer-encoding"))?;
    let token = parse_encoding(field.value).unwrap_or_else(|| field.unfolded());
    Some(String::from_utf8_lossy(&token).to_ascii_lowercase())
}

/// Undoes `encoding` (lower-case; None or empty means 7bit): RFC 2045 §6.7, §6.8,
/// leniently (`mailyard_message::section`).
fn decode(body: &[u8], encoding: Option<&str>) -> Result<Vec<u8>, UnknownCte> {
    Encoding::named(encoding.map(str::as_bytes))
        .decode(body)
        .ok_or(UnknownCte)
}

/// Base64 lines are at most 76 characters (RFC 2045 §6.8).
const BASE64_LINE: usize = 76;

/// One leaf part to rewrite: its header and body as byte ranges of the message,
/// and whether the body runs to the end of the message (then its last line gets a
/// CRLF; inside a multipart the CRLF before the boundary is the boundary's).
struct Leaf {
    header: Range<usize>,
    body: Range<usize>,
    at_end: bool,
    /// Its Content-Transfer-Encoding, as [`transfer_encoding`] reads it.
    cte: Option<String>,
}

/// RFC 3516 §4.4: "The server MAY modify the CTE of the appended data, however any
/// such transformation MUST NOT result in a loss of data." Every leaf part labelled
/// `Content-Transfer-Encoding: binary`, or unlabelled (7bit/8bit) but holding a NUL,
/// is rewritten as base64 (its field replaced, or added), as Dovecot does for a
/// literal8 APPEND. Then no stored part needs literal8 for `BODY[…]`, whose
/// response is an IMAP `string` (RFC 9051 §4.3: no NUL), while `BINARY[…]` decodes
/// the base64 back to the exact octets appended (imaptest `append-binary`). None
/// when nothing needs it (the message is stored as sent).
pub(crate) fn encode_binary_parts(raw: &[u8]) -> Option<Vec<u8>> {
    rewrite_leaves(
        raw,
        |cte, body| match cte {
            Some("binary") => true,
            None | Some("" | "7bit" | "8bit") => body.contains(&0),
            _ => false,
        },
        Some(b"base64".as_slice()),
        |body, _, at_end| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(body);
            let lines: Vec<&[u8]> = encoded.as_bytes().chunks(BASE64_LINE).collect();
            let mut out = lines.join(&b"\r\n"[..]);
            if at_end && !lines.is_empty() {
                out.extend_from_slice(b"\r\n");
            }
            out
        },
    )
}

/// The binary form of a whole message (an encapsulated one, for URLFETCH BINARY of
/// a `message/rfc822` part, RFC 5524 §3): every base64 or quoted-printable leaf
/// decoded and, with `relabel`, labelled `Content-Transfer-Encoding: binary`, as
/// Dovecot sends it (imaptest `urlauth-binary`). Without `relabel` the fields stay:
/// the form Dovecot describes in BODYPARTSTRUCTURE next to BINARY (decoded sizes,
/// original encodings). The message itself when nothing is encoded.
pub(crate) fn binary_message(raw: &[u8], relabel: bool) -> Vec<u8> {
    rewrite_leaves(
        raw,
        |cte, _| matches!(cte, Some("base64" | "quoted-printable")),
        relabel.then_some(b"binary".as_slice()),
        // The selector picked only encodings `decode` knows.
        |body, cte, _| decode(body, cte).unwrap_or_default(),
    )
    .unwrap_or_else(|| raw.to_vec())
}

/// Rewrites every leaf part of `raw` that `select(cte, body)` picks: its
/// Content-Transfer-Encoding field becomes `cte` (when given), its body
/// `transform(body, cte, at_end)`. None when no leaf is picked, or the tree cannot
/// be rewritten safely.
fn rewrite_leaves(
    raw: &[u8],
    select: impl Fn(Option<&str>, &[u8]) -> bool,
    cte: Option<&[u8]>,
    transform: impl Fn(&[u8], Option<&str>, bool) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let shape = Shape::parse(raw);
    let mut leaves = Vec::new();
    collect_leaves(&shape.root, raw, false, &select, &mut leaves);
    if leaves.is_empty() {
        return None;
    }
    leaves.sort_by_key(|l| l.header.start);
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 2);
    let mut at = 0;
    for leaf in leaves {
        // Overlapping ranges would mean a tree we misread: keep the message as is.
        if leaf.header.start < at || leaf.header.end != leaf.body.start || leaf.body.end > raw.len()
        {
            return None;
        }
        out.extend_from_slice(&raw[at..leaf.header.start]);
        let header = &raw[leaf.header.clone()];
        match cte {
            Some(cte) => out.extend_from_slice(&with_cte(header, cte)),
            None => out.extend_from_slice(header),
        }
        out.extend_from_slice(&transform(
            &raw[leaf.body.clone()],
            leaf.cte.as_deref(),
            leaf.at_end,
        ));
        at = leaf.body.end;
    }
    out.extend_from_slice(&raw[at..]);
    Some(out)
}

/// Walks `part` of the shape of `raw` and its descendants, adding the leaves
/// `select(cte, body)` picks. `in_multipart`: some enclosing part is a multipart
/// (then no leaf runs to the end of the message). Encapsulated messages are followed
/// only when their spans index `raw` (not transfer-encoded).
fn collect_leaves(
    part: &Part,
    raw: &[u8],
    in_multipart: bool,
    select: &impl Fn(Option<&str>, &[u8]) -> bool,
    out: &mut Vec<Leaf>,
) {
    match &part.kind {
        Kind::Multipart { parts, .. } => {
            for child in parts {
                collect_leaves(child, raw, true, select, out);
            }
        }
        Kind::Message(enc) => {
            if let (false, Some(m)) = (enc.decoded, &enc.message) {
                collect_leaves(&m.root, raw, in_multipart, select, out);
            }
        }
        Kind::Single => {
            let (header, body) = (part.header.range(), part.body.range());
            let cte = transfer_encoding(part.header.slice(raw));
            if header.end == body.start && select(cte.as_deref(), part.body.slice(raw)) {
                out.push(Leaf {
                    at_end: !in_multipart && body.end == raw.len(),
                    header,
                    body,
                    cte,
                });
            }
        }
    }
}

/// `header` (a header block with its empty line) with its Content-Transfer-Encoding
/// field, continuation lines included, replaced by `cte`, or that field added
/// before the empty line.
fn with_cte(header: &[u8], cte: &[u8]) -> Vec<u8> {
    let field = [b"Content-Transfer-Encoding: ".as_slice(), cte, b"\r\n"].concat();
    let mut out = Vec::with_capacity(header.len() + field.len());
    let mut written = false;
    let mut fields_len = 0;
    for item in field_lines(header) {
        fields_len += item.len();
        if line_name(item).is_some_and(|n| n.eq_ignore_ascii_case(b"content-transfer-encoding")) {
            if !written {
                out.extend_from_slice(&field);
                written = true;
            }
            continue;
        }
        out.extend_from_slice(item);
        if !item.ends_with(b"\n") {
            // A last field without its line end: the added field starts a line.
            out.extend_from_slice(b"\r\n");
        }
    }
    if !written {
        out.extend_from_slice(&field);
    }
    // The empty line (none when the message is all header).
    out.extend_from_slice(&header[fields_len..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `binary_part` of `raw` as stored.
    fn binary_of(raw: &[u8], part: &[u32]) -> Option<Result<Vec<u8>, UnknownCte>> {
        let m = crate::cmd::section::tests::stored(raw);
        binary_part(&m.file, &m.shape, part).expect("read")
    }

    const MULTI: &[u8] = b"From: a@example.com\r\n\
Content-Type: multipart/mixed; boundary=\"B\"\r\n\
\r\n\
--B\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: Quoted-Printable\r\n\
\r\n\
caf=C3=A9 au =\r\n\
lait=3D ok  \r\n\
--B\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding:\r\n base64 (binary data)\r\n\
\r\n\
AAEC/w==\r\n\
--B\r\n\
Content-Type: application/x-foo\r\n\
Content-Transfer-Encoding: x-uuencode\r\n\
\r\n\
begin 644 x\r\n\
--B--\r\n";

    #[test]
    fn decodes_parts() {
        assert_eq!(
            binary_of(MULTI, &[1]),
            // The CRLF before the boundary is the boundary's (RFC 2046 §5.1.1);
            // trailing white space is dropped (RFC 2045 §6.7 rule 3).
            Some(Ok("café au lait= ok".as_bytes().to_vec()))
        );
        assert_eq!(binary_of(MULTI, &[2]), Some(Ok(vec![0, 1, 2, 255])));
        assert_eq!(binary_of(MULTI, &[3]), Some(Err(UnknownCte)));
        assert_eq!(binary_of(MULTI, &[4]), None);
        assert_eq!(binary_of(MULTI, &[]), Some(Ok(MULTI.to_vec())));
        // A single-part message: part 1 is its body, its header the message's.
        let single = b"Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n";
        assert_eq!(binary_of(single, &[1]), Some(Ok(b"hello".to_vec())));
    }

    /// imaptest `append-binary`: a single-part message appended as literal8.
    const APPENDED: &[u8] = b"From: user@domain.org\r\n\
Date: Sat, 24 Mar 2007 23:00:00 +0200\r\n\
Mime-Version: 1.0\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
\x00-\xe4\n\r\n\n";

    #[test]
    fn binary_append_is_stored_as_base64() {
        let stored = encode_binary_parts(APPENDED).expect("converted");
        assert_eq!(
            stored,
            b"From: user@domain.org\r\n\
Date: Sat, 24 Mar 2007 23:00:00 +0200\r\n\
Mime-Version: 1.0\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AC3kCg0KCg==\r\n"
        );
        // BODY[1] is the stored (base64) text, no NUL; BINARY[1] the original.
        let m = crate::cmd::section::tests::stored(&stored);
        let section = crate::proto::fetch::Section {
            part: vec![1],
            text: None,
        };
        let body = crate::cmd::section::section_bytes(&m.file, Some(&m.shape), &section, None)
            .expect("read")
            .expect("part 1");
        assert!(!body.contains(&0));
        assert_eq!(
            binary_of(&stored, &[1]),
            Some(Ok(b"\x00-\xe4\n\r\n\n".to_vec()))
        );
        assert_eq!(
            binary_of(APPENDED, &[1]),
            binary_of(&stored, &[1]),
            "nothing is lost"
        );
    }

    #[test]
    fn binary_append_table() {
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            // Nothing to do: text, 8bit without NUL, base64 already.
            (b"Subject: x\r\n\r\nhello\r\n", None),
            (
                b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9\r\n",
                None,
            ),
            (
                b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n",
                None,
            ),
            // A NUL without a label; the field is added.
            (
                b"Subject: x\r\n\r\na\x00b",
                Some(b"Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\nYQBi\r\n"),
            ),
            // A folded field is replaced whole, in its place.
            (
                b"Content-Transfer-Encoding:\r\n BINARY (raw)\r\nX-After: y\r\n\r\n\x01",
                Some(b"Content-Transfer-Encoding: base64\r\nX-After: y\r\n\r\nAQ==\r\n"),
            ),
            // Inside a multipart: only the binary part; the CRLF before the
            // boundary stays the boundary's.
            (
                b"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\ntext\r\n\
--B\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\xff\r\n\
--B--\r\n",
                Some(
                    b"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\ntext\r\n\
--B\r\nContent-Transfer-Encoding: base64\r\n\r\nAP8=\r\n\
--B--\r\n",
                ),
            ),
        ];
        for &(raw, want) in cases {
            let got = encode_binary_parts(raw);
            assert_eq!(
                got.as_deref().map(String::from_utf8_lossy),
                want.map(String::from_utf8_lossy),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
            if let Some(stored) = got {
                for part in [vec![1], vec![2]] {
                    assert_eq!(binary_of(raw, &part), binary_of(&stored, &part), "{part:?}");
                }
            }
        }
        // Long bodies are cut into 76-character lines.
        let big: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut raw = b"Content-Transfer-Encoding: binary\r\n\r\n".to_vec();
        raw.extend_from_slice(&big);
        let stored = encode_binary_parts(&raw).expect("converted");
        let (_, body) = crate::cmd::section::split(&stored);
        assert!(
            body.split(|&b| b == b'\n')
                .all(|l| l.len() <= BASE64_LINE + 1)
        );
        assert_eq!(binary_of(&stored, &[1]), Some(Ok(big)));
    }
}
