//! Header edits of a Sieve result (RFC 5293 `addheader`/`deleteheader`) applied to
//! the bytes, and the few header reads the filter needs. Pure.

use base64::Engine;
use mailyard_sieve::Action;

use crate::proto::fields::{self, raw_fields};

/// Longest run of UTF-8 bytes put in one RFC 2047 encoded word (base64 of 45 bytes
/// is 60 characters; with `=?utf-8?B?` and `?=` the word stays under 75, §2).
const ENCODED_WORD_BYTES: usize = 45;

/// `message` with `edits` applied in order. The message's first field stays first
/// when it is `Return-Path:` (the delivery's own trace field): `addheader` adds below
/// it (RFC 5293 §4 puts new fields at the top of what the script sees).
pub(super) fn apply(message: &[u8], edits: &[Action]) -> Vec<u8> {
    let (raw, rest) = raw_fields(message);
    let mut list: Vec<Vec<u8>> = raw.into_iter().map(<[u8]>::to_vec).collect();
    let trace = match list.first() {
        Some(f) if name_of(f).eq_ignore_ascii_case("return-path") => Some(list.remove(0)),
        _ => None,
    };
    for e in edits {
        match e {
            Action::AddHeader { name, value, last } => {
                let field = format!("{name}: {}\r\n", encode_value(value)).into_bytes();
                if *last {
                    list.push(field);
                } else {
                    list.insert(0, field);
                }
            }
            Action::DeleteHeader { name, occurrences } => {
                let mut n = 0;
                list.retain(|f| {
                    if !name_of(f).eq_ignore_ascii_case(name) {
                        return true;
                    }
                    let keep = !occurrences.contains(&n);
                    n += 1;
                    keep
                });
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(message.len() + 256);
    if let Some(t) = trace {
        out.extend_from_slice(&t);
    }
    for f in &list {
        out.extend_from_slice(f);
    }
    out.extend_from_slice(&message[rest..]);
    out
}

/// A field's name (before the colon, trailing blanks removed).
fn name_of(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end])
        .trim_end()
        .to_string()
}

/// A value as a header may carry it: as it is when it is ASCII without line breaks,
/// else RFC 2047 encoded words (UTF-8, base64), one per [`ENCODED_WORD_BYTES`].
fn encode_value(value: &str) -> String {
    if value.is_ascii() && !value.contains(['\r', '\n']) {
        return value.to_string();
    }
    let clean: String = value
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in clean.chars() {
        if chunk.len() + c.len_utf8() > ENCODED_WORD_BYTES {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            format!(
                "=?utf-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w)
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// The trimmed values of every field named `name`.
pub(super) fn field_values(message: &[u8], name: &str) -> Vec<String> {
    fields::fields(message)
        .into_iter()
        .filter(|f| f.is(name))
        .map(|f| f.value.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"Return-Path: <a@x.test>\r\nReceived: by us\r\nX-A: 1\r\nSubject: s\r\nX-A: 2\r\n\r\nbody\r\n";

    #[test]
    fn edits_in_order_below_the_return_path() {
        let edits = [
            Action::AddHeader {
                name: "X-Top".into(),
                value: "t".into(),
                last: false,
            },
            Action::AddHeader {
                name: "X-End".into(),
                value: "caf\u{e9}".into(),
                last: true,
            },
            Action::DeleteHeader {
                name: "x-a".into(),
                occurrences: vec![1],
            },
        ];
        let out = apply(MSG, &edits);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "Return-Path: <a@x.test>\r\nX-Top: t\r\nReceived: by us\r\nX-A: 1\r\nSubject: s\r\n\
             X-End: =?utf-8?B?Y2Fmw6k=?=\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn no_edits_is_the_same_message() {
        assert_eq!(apply(MSG, &[]), MSG);
    }

    #[test]
    fn long_values_become_several_words() {
        let v = "\u{e9}".repeat(40);
        let e = encode_value(&v);
        assert_eq!(e.matches("=?utf-8?B?").count(), 2, "{e}");
        assert!(e.split("\r\n ").all(|w| w.len() <= 75));
    }

    #[test]
    fn values() {
        assert_eq!(field_values(MSG, "X-A"), ["1", "2"]);
    }
}
