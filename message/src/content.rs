//! The `Content-*` fields of one part (RFC 2045 §5, §6, §7, §8; RFC 2183; RFC 3282;
//! RFC 2557 §4), as written: no case folding, no decoding. Parsed like Dovecot's
//! `rfc822-parser.c` so that BODYSTRUCTURE shows what Dovecot shows:
//!
//! * parameters (RFC 2045 §5.1) with RFC 2231 §3 continuations merged into one
//!   `name` (or `name*` when any section is extended) but not decoded; a section
//!   missing makes every section its own parameter again; garbage is stepped over
//!   octet by octet;
//! * Content-Transfer-Encoding is kept only when it is a single token;
//! * Content-ID, -Description, -MD5 and -Location are the unfolded raw values;
//! * without MIME-Version or Content-Type (and outside a multipart) the other
//!   `Content-*` fields are ignored; of repeated fields the first counts, except
//!   Content-Type, where the last counts (the one mail-parser built the tree from),
//!   and Content-Disposition, re-read while no parameters were seen (Dovecot).

use crate::header::Fields;
use crate::lex::{Lexer, Lx, Step, peek, skip1, step};

/// One `attribute=value` parameter, as written.
pub type Param = (Vec<u8>, Vec<u8>);

/// A media type as written (RFC 2045 §5.1 `type "/" subtype`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaType {
    /// The top-level type.
    pub kind: Vec<u8>,
    /// The subtype (empty when the field had none).
    pub subtype: Vec<u8>,
}

impl MediaType {
    /// Whether this is `kind/subtype` (ASCII case-insensitive).
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind.as_bytes())
            && self.subtype.eq_ignore_ascii_case(subtype.as_bytes())
    }
}

/// RFC 2183 Content-Disposition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disposition {
    /// `inline`, `attachment`, … as written.
    pub kind: Vec<u8>,
    /// Its parameters.
    pub params: Vec<Param>,
}

/// The `Content-*` facts of one part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    /// Content-Type's type and subtype; None without the field (or when the part
    /// is not MIME).
    pub media_type: Option<MediaType>,
    /// Content-Type's parameters.
    pub params: Vec<Param>,
    /// Content-ID, unfolded.
    pub id: Option<Vec<u8>>,
    /// Content-Description, unfolded.
    pub description: Option<Vec<u8>>,
    /// Content-Transfer-Encoding's token; None: absent or invalid (`7bit`).
    pub encoding: Option<Vec<u8>>,
    /// Content-MD5, unfolded.
    pub md5: Option<Vec<u8>>,
    /// Content-Disposition.
    pub disposition: Option<Disposition>,
    /// Content-Language's tags.
    pub language: Option<Vec<Vec<u8>>>,
    /// Content-Location, unfolded.
    pub location: Option<Vec<u8>>,
}

impl Content {
    /// Reads the `Content-*` fields of one part's header (`in_multipart`: the part
    /// is a body part of a multipart, which makes it MIME without MIME-Version).
    pub fn from_fields(fields: Fields<'_>, in_multipart: bool) -> Content {
        let mut c = Content::default();
        let is_mime = in_multipart
            || fields
                .clone()
                .any(|f| f.is("mime-version") || f.is("content-type"));
        if !is_mime {
            return c;
        }
        for f in fields {
            let v = f.value;
            if f.is("content-type") {
                let (media_type, params) = parse_content_type(v);
                c.media_type = Some(media_type);
                c.params = params;
            } else if f.is("content-id") {
                c.id.get_or_insert_with(|| f.unfolded());
            } else if f.is("content-description") {
                c.description.get_or_insert_with(|| f.unfolded());
            } else if f.is("content-md5") {
                c.md5.get_or_insert_with(|| f.unfolded());
            } else if f.is("content-location") {
                c.location.get_or_insert_with(|| f.unfolded());
            } else if f.is("content-transfer-encoding") {
                if c.encoding.is_none() {
                    c.encoding = parse_encoding(v);
                }
            } else if f.is("content-language") {
                if c.language.is_none() {
                    c.language = parse_language(v);
                }
            } else if f.is("content-disposition")
                && c.disposition.as_ref().is_none_or(|d| d.params.is_empty())
                && let Some(mut d) = parse_disposition(v)
            {
                if d.params.is_empty()
                    && let Some(old) = c.disposition.take()
                {
                    d.params = old.params;
                }
                c.disposition = Some(d);
            }
        }
        c
    }
}

/// RFC 2045 §5.1 Content-Type: type and subtype as written (subtype empty when
/// missing), and the parameters unless the type itself is broken.
pub fn parse_content_type(value: &[u8]) -> (MediaType, Vec<Param>) {
    let mut lex = Lexer::default();
    let mut kind = Vec::new();
    let mut subtype = Vec::new();
    let (lx, rest) = media_type(&mut lex, value, &mut kind, &mut subtype);
    let params = if lx == Lx::Broken {
        Vec::new()
    } else {
        params(&mut lex, rest)
    };
    (MediaType { kind, subtype }, params)
}

/// `type "/" subtype`, each half collected as far as it got.
fn media_type<'a>(
    lex: &mut Lexer,
    i: &'a [u8],
    kind: &mut Vec<u8>,
    subtype: &mut Vec<u8>,
) -> Step<'a> {
    let (lx, i) = step(lex.cfws(i));
    if lx <= Lx::End {
        return (Lx::Broken, i);
    }
    let (lx, i) = step(lex.token(i, kind));
    if lx <= Lx::End || peek(i) != b'/' {
        return (Lx::Broken, i);
    }
    let (lx, i) = step(lex.cfws(skip1(i)));
    if lx <= Lx::End {
        return (Lx::Broken, i);
    }
    step(lex.token(i, subtype))
}

/// RFC 2045 §6.1 Content-Transfer-Encoding: one token, else None.
pub fn parse_encoding(value: &[u8]) -> Option<Vec<u8>> {
    let mut lex = Lexer::default();
    let (_, i) = step(lex.cfws(value));
    let mut s = Vec::new();
    let (lx, _) = step(lex.token(i, &mut s));
    (lx == Lx::End && !s.is_empty()).then_some(s)
}

/// RFC 3282 Content-Language: `1#Language-tag`.
pub fn parse_language(value: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut lex = Lexer::default();
    let (_, mut i) = step(lex.cfws(value));
    let mut langs = Vec::new();
    loop {
        let mut s = Vec::new();
        let (lx, rest) = step(lex.atom(i, &mut s));
        if lx == Lx::Broken {
            break;
        }
        langs.push(s);
        if peek(rest) != b',' {
            break;
        }
        (_, i) = step(lex.cfws(skip1(rest)));
    }
    (!langs.is_empty()).then_some(langs)
}

/// RFC 2183 Content-Disposition: a token and parameters.
pub fn parse_disposition(value: &[u8]) -> Option<Disposition> {
    let mut lex = Lexer::default();
    let (_, i) = step(lex.cfws(value));
    let mut kind = Vec::new();
    let (lx, rest) = step(lex.token(i, &mut kind));
    if lx == Lx::Broken {
        return None;
    }
    let params = params(&mut lex, rest);
    Some(Disposition { kind, params })
}

/// `";" attribute "=" value`; `End` when nothing is left.
fn param<'a>(lex: &mut Lexer, i: &'a [u8], key: &mut Vec<u8>, value: &mut Vec<u8>) -> Step<'a> {
    if i.is_empty() {
        return (Lx::End, i);
    }
    if peek(i) != b';' {
        return (Lx::Broken, i);
    }
    let (lx, i) = step(lex.cfws(skip1(i)));
    if lx <= Lx::End {
        return (Lx::Broken, i);
    }
    let (lx, i) = step(lex.token(i, key));
    if lx <= Lx::End || peek(i) != b'=' {
        return (Lx::Broken, i);
    }
    let (mut lx, mut i) = step(lex.cfws(skip1(i)));
    if lx == Lx::More {
        (lx, i) = match peek(i) {
            b'"' => step(lex.quoted(i, value)),
            // An unquoted encoded-word (`name==?utf-8?b?…?=`), seen in the wild.
            b'=' => {
                let end = i
                    .iter()
                    .position(|c| matches!(c, b';' | b' ' | b'\t' | b'\r' | b'\n'))
                    .unwrap_or(i.len());
                value.extend_from_slice(i.get(..end).unwrap_or_default());
                (Lx::More, i.get(end..).unwrap_or_default())
            }
            _ => step(lex.token(i, value)),
        };
    }
    (
        if lx == Lx::Broken {
            Lx::Broken
        } else {
            Lx::More
        },
        i,
    )
}

/// One RFC 2231 §3 section: `name*<n>[*]`.
struct Section {
    name: Vec<u8>,
    index: u32,
    extended: bool,
    value: Vec<u8>,
}

/// If `key` is `name*`, `name*n` or `name*n*`: its name, section number and
/// whether it is extended (`*` at the end).
fn section_key(key: &[u8]) -> Option<(&[u8], u32, bool)> {
    let star = key.iter().position(|&c| c == b'*')?;
    let (name, rest) = key.split_at(star);
    let rest = skip1(rest);
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let index = rest
        .get(..digits)
        .unwrap_or_default()
        .iter()
        .fold(0u32, |n, d| {
            n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
        });
    match rest.get(digits..).unwrap_or_default() {
        // `name*`: one extended section.
        b"" if rest.is_empty() => Some((name, 0, true)),
        b"" => Some((name, index, false)),
        b"*" => Some((name, index, true)),
        _ => None,
    }
}

/// All parameters from `i` on, RFC 2231 sections merged (values left encoded).
fn params(lex: &mut Lexer, mut i: &[u8]) -> Vec<Param> {
    let mut out = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    loop {
        let mut key = Vec::new();
        let mut value = Vec::new();
        let (lx, rest) = param(lex, i, &mut key, &mut value);
        i = rest;
        match lx {
            Lx::End => break,
            Lx::Broken if i.is_empty() => break,
            Lx::Broken => {
                i = skip1(i);
                continue;
            }
            Lx::More => {}
        }
        match section_key(&key) {
            Some((name, index, extended)) => sections.push(Section {
                name: name.to_vec(),
                index,
                extended,
                value,
            }),
            None => out.push((key, value)),
        }
    }
    sections.sort_by(|a, b| a.name.cmp(&b.name).then(a.index.cmp(&b.index)));
    let mut rest: &[Section] = &sections;
    while let Some(first) = rest.first() {
        let n = rest
            .iter()
            .take_while(|s| s.name.eq_ignore_ascii_case(&first.name))
            .count()
            .max(1);
        let (group, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        out.extend(merge(group));
    }
    out
}

/// The parameters one group of sections of the same name stands for.
fn merge(group: &[Section]) -> Vec<Param> {
    let Some(first) = group.first() else {
        return Vec::new();
    };
    let complete = group.iter().zip(0u32..).all(|(s, n)| s.index == n);
    if !complete {
        return group
            .iter()
            .map(|s| {
                let mut key = s.name.clone();
                key.push(b'*');
                key.extend_from_slice(s.index.to_string().as_bytes());
                if s.extended {
                    key.push(b'*');
                }
                (key, s.value.clone())
            })
            .collect();
    }
    let any_extended = group.iter().any(|s| s.extended);
    let mut value = Vec::new();
    if any_extended && !first.extended {
        // RFC 2231 §4: an extended value starts with charset'language'.
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
    let mut key = first.name.clone();
    if any_extended {
        key.push(b'*');
    }
    vec![(key, value)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::fields;

    fn s(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn ps(params: &[Param]) -> Vec<(String, String)> {
        params.iter().map(|(k, v)| (s(k), s(v))).collect()
    }

    /// (Content-Type value, type, subtype, parameters) — each row also with LF-only
    /// line endings.
    #[test]
    fn content_types() {
        type Row<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)]);
        let rows: &[Row<'_>] = &[
            (
                "text/plain; charset=us-ascii",
                "text",
                "plain",
                &[("charset", "us-ascii")],
            ),
            (
                " Text/HTML ; Charset=\"UTF-8\"",
                "Text",
                "HTML",
                &[("Charset", "UTF-8")],
            ),
            (
                "multipart/mixed; boundary=\"foo\r\n bar\"",
                "multipart",
                "mixed",
                &[("boundary", "foo bar")],
            ),
            ("text", "text", "", &[]),
            ("", "", "", &[]),
            (
                "text/plain; charset=us-ascii (c) junk; format=flowed; =x; ;",
                "text",
                "plain",
                &[("charset", "us-ascii"), ("format", "flowed"), ("", "x")],
            ),
            (
                "text/plain; title*0*=us-ascii'en'This%20is; title*1=\" 100%\";\r\n name*1=b; name*0=a",
                "text",
                "plain",
                &[("name", "ab"), ("title*", "us-ascii'en'This%20is 100%25")],
            ),
            (
                "application/x; a*0=x; a*2=z",
                "application",
                "x",
                &[("a*0", "x"), ("a*2", "z")],
            ),
            (
                "text/plain; name==?utf-8?b?w6k=?=",
                "text",
                "plain",
                &[("name", "=?utf-8?b?w6k=?=")],
            ),
            ("text/plain; charset=\"unterminated", "text", "plain", &[]),
            (
                "message/rfc822; filename*=utf-8''%E2%82%AC.eml",
                "message",
                "rfc822",
                &[("filename*", "utf-8''%E2%82%AC.eml")],
            ),
        ];
        for &(value, kind, subtype, want) in rows {
            for value in [value.to_owned(), value.replace("\r\n", "\n")] {
                let (mt, params) = parse_content_type(value.as_bytes());
                assert_eq!(
                    (s(&mt.kind), s(&mt.subtype)),
                    (kind.into(), subtype.into()),
                    "{value:?}"
                );
                let want: Vec<(String, String)> = want
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect();
                assert_eq!(ps(&params), want, "{value:?}");
            }
        }
    }

    #[test]
    fn other_fields() {
        assert_eq!(parse_encoding(b" BASE64\r\n"), Some(b"BASE64".to_vec()));
        assert_eq!(parse_encoding(b" 8bit garbage\r\n"), None);
        assert_eq!(parse_encoding(b" ?invalid\n"), None);
        assert_eq!(
            parse_language(b" en, (x) fi,se\r\n"),
            Some(vec![b"en".to_vec(), b"fi".to_vec(), b"se".to_vec()])
        );
        assert_eq!(parse_language(b" \r\n"), None);
        let d = parse_disposition(b" attachment; filename=\"pigeon.png\"\n").expect("parses");
        assert_eq!(
            (s(&d.kind), ps(&d.params)),
            (
                "attachment".into(),
                vec![("filename".into(), "pigeon.png".into())]
            )
        );
        let d = parse_disposition(b" inline; filename=\"unterminated; size=3\n").expect("parses");
        assert_eq!((s(&d.kind), ps(&d.params)), ("inline".into(), vec![]));
    }

    #[test]
    fn mime_rules() {
        let plain = b"Content-Transfer-Encoding: base64\r\nContent-ID: <x@y>\r\n\r\n";
        assert_eq!(
            Content::from_fields(fields(plain), false),
            Content::default()
        );
        let c = Content::from_fields(fields(plain), true);
        assert_eq!(c.encoding.as_deref(), Some(&b"base64"[..]));
        assert_eq!(c.id.as_deref(), Some(&b"<x@y>"[..]));
        let twice = b"MIME-Version: 1.0\nContent-Type: text/a\nContent-Type: text/b\nContent-ID: 1\nContent-ID: 2\nContent-Disposition: inline\nContent-Disposition: attachment; a=b\nContent-Disposition: x; c=d\n\n";
        let c = Content::from_fields(fields(twice), false);
        assert_eq!(c.media_type.map(|m| s(&m.subtype)).as_deref(), Some("b"));
        assert_eq!(c.id.as_deref(), Some(&b"1"[..]));
        let d = c.disposition.expect("disposition");
        assert_eq!(
            (s(&d.kind), ps(&d.params)),
            ("attachment".into(), vec![("a".into(), "b".into())])
        );
    }
}
