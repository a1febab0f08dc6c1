//! `encoded-character` (RFC 5228 §2.4.2.4): `${hex: 41 42}` and `${unicode: 263a}`
//! inside strings, decoded once when the script is validated.

/// Decodes every well-formed encoding in `s`; `Ok(None)` when there is none. Malformed
/// ones are left as written (RFC 5228 §2.4.2.4); a code point outside Unicode, or hex
/// octets that are not UTF-8, are errors.
pub(crate) fn decode(s: &str) -> Result<Option<String>, String> {
    if !s.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    while let Some(n) = rest.find("${") {
        out.push_str(&rest[..n]);
        let after = &rest[n + 2..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[n..]);
            rest = "";
            break;
        };
        let body = &after[..close];
        let decoded = match body.split_once(':') {
            Some((kind, data)) if kind.eq_ignore_ascii_case("hex") => hex(data)?,
            Some((kind, data)) if kind.eq_ignore_ascii_case("unicode") => unicode(data)?,
            _ => None,
        };
        match decoded {
            Some(d) => {
                out.push_str(&d);
                rest = &after[close + 1..];
                changed = true;
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(changed.then_some(out))
}

fn words(data: &str) -> Option<Vec<&str>> {
    let ws: Vec<&str> = data
        .split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
        .collect();
    (!ws.is_empty() && ws.iter().all(|w| w.bytes().all(|b| b.is_ascii_hexdigit()))).then_some(ws)
}

fn hex(data: &str) -> Result<Option<String>, String> {
    let Some(ws) = words(data) else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    for w in ws {
        // `hex-pair = 1*2HEXDIG`, pairs separated by blanks.
        if w.len() > 2 {
            return Ok(None);
        }
        bytes.push(u8::from_str_radix(w, 16).map_err(|e| e.to_string())?);
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| format!("${{hex:{data}}} is not UTF-8"))
}

fn unicode(data: &str) -> Result<Option<String>, String> {
    let Some(ws) = words(data) else {
        return Ok(None);
    };
    let mut out = String::new();
    for w in ws {
        let n = u32::from_str_radix(w.trim_start_matches('0'), 16).unwrap_or(0);
        if w.trim_start_matches('0').len() > 6 {
            return Err(format!("${{unicode:{w}}} is not a Unicode code point"));
        }
        match char::from_u32(n) {
            Some(c) => out.push(c),
            None => return Err(format!("${{unicode:{w}}} is not a Unicode code point")),
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn rfc_5228_examples() {
        let rows: &[(&str, Option<&str>)] = &[
            ("${hex:40}", Some("@")),
            ("${HEX: 40}", Some("@")),
            ("${hex:4${hex:30}}", Some("${hex:40}")),
            ("${hex:40", None),
            ("${hex:400}", None),
            ("${hex:4}", Some("\u{4}")),
            ("$${hex:24 24}", Some("$$$")),
            ("${hex:4${env.fo}o}", None),
            ("${unicode:40}", Some("@")),
            ("${ unicode:40}", None),
            ("${UNICODE:40}", Some("@")),
            ("${UnICoDE:0000040}", Some("@")),
            ("${Unicode:40}", Some("@")),
            ("${Unicode:Cool}", None),
            ("${unicode:200 40}", Some("\u{200}@")),
            ("${hex:e2 98 ba}", Some("☺")),
            ("no encoding", None),
        ];
        for (input, want) in rows {
            assert_eq!(
                decode(input).expect(input).as_deref(),
                *want,
                "decoding {input}"
            );
        }
        assert!(decode("${unicode:D800}").is_err());
        assert!(decode("${unicode:110000}").is_err());
        assert!(decode("${hex:ff}").is_err());
    }
}
