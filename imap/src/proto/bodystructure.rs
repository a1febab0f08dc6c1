//! The structure of one body part, cut out of a message's BODYSTRUCTURE (RFC 9051
//! §7.5.2, rendered by `mailyard_store::imapfmt`): what URLFETCH's
//! `BODYPARTSTRUCTURE` returns for a URL's section (RFC 5524 §3, "the body
//! structure of the part").
//!
//! Pure, over the rendered string, so the part's structure is exactly the bytes
//! `FETCH BODYSTRUCTURE` shows for it. Parts are numbered as for `BODY[section]`
//! (RFC 9051 §6.4.5, and `cmd/section.rs`): the children of a multipart from 1; the
//! parts of a `message/rfc822` as those of its body; part 1 of a part that is not
//! multipart is that part (Dovecot).

/// Deepest list nesting walked; deeper input is refused. The renderer flattens
/// structures deeper than `imapfmt::MAX_DEPTH` (100), each level a few lists.
pub const MAX_LIST_DEPTH: usize = 1024;

/// Longest part number followed (`1.2.3…`); a deeper one names no part.
pub const MAX_PART_DEPTH: usize = 128;

/// The structure of `part` (empty: the whole message) of the message whose
/// BODYSTRUCTURE is `structure` (with its outer parentheses), with its own
/// parentheses; None when there is no such part or the input is not a body.
pub fn part_structure<'a>(structure: &'a str, part: &[u32]) -> Option<&'a str> {
    if part.len() > MAX_PART_DEPTH {
        return None;
    }
    if part.is_empty() {
        return elements(structure).map(|_| structure);
    }
    in_message(structure, part)
}

/// Part `path` (not empty) below `body`, the body of a message (the top one or an
/// encapsulated one): a multipart's children, or the body itself as part 1.
fn in_message<'a>(body: &'a str, path: &[u32]) -> Option<&'a str> {
    let (&n, rest) = path.split_first()?;
    let items = elements(body)?;
    let child = if items.first()?.starts_with('(') {
        let index = usize::try_from(n).ok()?.checked_sub(1)?;
        *items.get(index).filter(|c| c.starts_with('('))?
    } else if n == 1 {
        body
    } else {
        return None;
    };
    in_part(child, rest)
}

/// Part `rest` below the part `node`.
fn in_part<'a>(node: &'a str, rest: &[u32]) -> Option<&'a str> {
    if rest.is_empty() {
        return Some(node);
    }
    if elements(node)?.first()?.starts_with('(') {
        return in_message(node, rest);
    }
    if let Some(body) = rfc822_body(node)? {
        return in_message(body, rest);
    }
    // `n.1` of a part that is neither multipart nor a message is part `n`.
    match rest.split_first() {
        Some((1, deeper)) => in_part(node, deeper),
        _ => None,
    }
}

/// The body of a `message/rfc822` structure (its ninth element), Some(None) for
/// another type, None when the input is not a body.
fn rfc822_body(node: &str) -> Option<Option<&str>> {
    let items = elements(node)?;
    let is = |i: usize, want: &str| {
        items
            .get(i)
            .is_some_and(|t| t.trim_matches('"').eq_ignore_ascii_case(want))
    };
    if is(0, "message") && is(1, "rfc822") {
        return Some(Some(*items.get(8).filter(|b| b.starts_with('('))?));
    }
    Some(None)
}

/// The top-level elements of the parenthesized list `list`: nested lists,
/// quoted strings, literals and atoms, each as written.
fn elements(list: &str) -> Option<Vec<&str>> {
    let inner = list.strip_prefix('(')?.strip_suffix(')')?;
    let b = inner.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        i = skip(b, i)?;
        out.push(inner.get(start..i)?);
    }
    Some(out)
}

/// The end of the element starting at `i`.
fn skip(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match *b.get(i)? {
            b'(' => {
                depth += 1;
                if depth > MAX_LIST_DEPTH {
                    return None;
                }
                i += 1;
            }
            b')' => {
                depth = depth.checked_sub(1)?;
                i += 1;
            }
            b'"' => {
                i += 1;
                loop {
                    match *b.get(i)? {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            b'{' => {
                // {n}\r\n then n octets.
                let close = i + b.get(i..)?.iter().position(|&c| c == b'}')?;
                let n: usize = std::str::from_utf8(b.get(i + 1..close)?)
                    .ok()?
                    .parse()
                    .ok()?;
                i = close.checked_add(3)?.checked_add(n)?;
                if i > b.len() {
                    return None;
                }
            }
            _ => {
                while let Some(&c) = b.get(i) {
                    if matches!(c, b' ' | b'(' | b')') {
                        break;
                    }
                    i += 1;
                }
            }
        }
        if depth == 0 {
            return Some(i);
        }
        // Inside a list: separators belong to it.
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// imaptest's `urlauth-binary` message: multipart/mixed holding a message/rfc822
    /// whose body is multipart/alternative of two text parts.
    const NESTED: &str = r#"(("message" "rfc822" NIL NIL NIL "7bit" 437 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) NIL NIL NIL NIL NIL) (("text" "x-myown" ("charset" "us-ascii") NIL NIL "base64" 22 3 NIL NIL NIL NIL)("text" "x-myown" ("charset" "us-ascii") NIL NIL "base64" 47 5 NIL NIL NIL NIL) "alternative" ("boundary" "sub1") NIL NIL NIL) 26 NIL NIL NIL NIL) "mixed" ("boundary" "foo bar") NIL NIL NIL)"#;

    const TEXT: &str =
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 1 NIL NIL NIL NIL)"#;

    #[test]
    fn parts_of_imaptests_message() {
        let part1 = r#"("message" "rfc822" NIL NIL NIL "7bit" 437 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) NIL NIL NIL NIL NIL) (("text" "x-myown" ("charset" "us-ascii") NIL NIL "base64" 22 3 NIL NIL NIL NIL)("text" "x-myown" ("charset" "us-ascii") NIL NIL "base64" 47 5 NIL NIL NIL NIL) "alternative" ("boundary" "sub1") NIL NIL NIL) 26 NIL NIL NIL NIL)"#;
        let rows: &[(&[u32], Option<&str>)] = &[
            (&[], Some(NESTED)),
            (&[1], Some(part1)),
            (
                &[1, 1],
                Some(
                    r#"("text" "x-myown" ("charset" "us-ascii") NIL NIL "base64" 22 3 NIL NIL NIL NIL)"#,
                ),
            ),
            (
                &[1, 2],
                Some(
                    r#"("text" "x-myown" ("charset" "us-ascii") NIL NIL "base64" 47 5 NIL NIL NIL NIL)"#,
                ),
            ),
            (&[1, 3], None),
            (&[2], None),
            (&[0], None),
            (
                &[1, 1, 1],
                Some(
                    r#"("text" "x-myown" ("charset" "us-ascii") NIL NIL "base64" 22 3 NIL NIL NIL NIL)"#,
                ),
            ),
            (&[1, 1, 2], None),
        ];
        for (part, want) in rows {
            assert_eq!(part_structure(NESTED, part), *want, "{part:?}");
        }
    }

    #[test]
    fn a_single_part_message_is_its_own_part_one() {
        assert_eq!(part_structure(TEXT, &[1]), Some(TEXT));
        assert_eq!(part_structure(TEXT, &[2]), None);
        // A literal and an escaped quote inside strings do not confuse the walk.
        let odd = "(\"text\" \"plain\" (\"name\" {3}\r\na)b) NIL \"a\\\"(\" \"7bit\" 5 1)";
        assert_eq!(part_structure(odd, &[1]), Some(odd));
        let multi = format!("({odd} {TEXT} \"mixed\")");
        assert_eq!(part_structure(&multi, &[2]), Some(TEXT));
        assert_eq!(part_structure(&multi, &[1]), Some(odd));
    }

    #[test]
    fn garbage_is_none_never_a_panic() {
        for s in [
            "",
            "(",
            ")",
            "(\"",
            "({99}\r\nab)",
            "((",
            "(()",
            "(a b",
            "x",
        ] {
            let _ = part_structure(s, &[1, 1]);
            assert_eq!(part_structure(s, &[1, 2]), None, "{s:?}");
        }
        let deep = format!(
            "{}{}",
            "(".repeat(MAX_LIST_DEPTH + 2),
            ")".repeat(MAX_LIST_DEPTH + 2)
        );
        assert_eq!(part_structure(&deep, &[1]), None);
    }
}
