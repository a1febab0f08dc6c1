//! Addresses in header fields and envelopes, and their parts (RFC 5228 §2.7.4, RFC
//! 5233): a small RFC 5322 lexer that knows display names, angle brackets, quoted
//! strings, comments and groups.

/// The address part a test compares (RFC 5228 §2.7.4, RFC 5233 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    All,
    LocalPart,
    Domain,
    User,
    Detail,
}

/// The `+` that separates user from detail (RFC 5233 §4, as Postfix and Dovecot use).
pub const DETAIL_SEPARATOR: char = '+';

/// The `local@domain` addresses in a header value such as `"Jo" <jo@x.org>, b@y.org`,
/// in order; group names are skipped. An entry without `@` (`undisclosed-recipients`)
/// is kept as written so `:localpart` can still see it.
pub fn parse_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut angle: Option<String> = None;
    let mut in_angle = false;
    let mut chars = value.chars().peekable();
    let flush = |cur: &mut String, angle: &mut Option<String>, out: &mut Vec<String>| {
        let a = angle.take().unwrap_or_else(|| cur.trim().to_string());
        let a = a.trim().to_string();
        if !a.is_empty() {
            out.push(a);
        }
        cur.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // A quoted local part stays; a quoted display name is dropped later
                // by the angle address that follows.
                let mut q = String::from('"');
                while let Some(c) = chars.next() {
                    q.push(c);
                    if c == '\\' {
                        if let Some(n) = chars.next() {
                            q.push(n);
                        }
                    } else if c == '"' {
                        break;
                    }
                }
                if in_angle {
                    angle.get_or_insert_with(String::new).push_str(&q);
                } else {
                    cur.push_str(&q);
                }
            }
            '(' => {
                let mut depth = 1;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            '<' => {
                in_angle = true;
                angle = Some(String::new());
            }
            '>' => in_angle = false,
            ':' if !in_angle => cur.clear(),
            ',' | ';' if !in_angle => flush(&mut cur, &mut angle, &mut out),
            c if in_angle => {
                if !c.is_whitespace() {
                    angle.get_or_insert_with(String::new).push(c);
                }
            }
            c => cur.push(c),
        }
    }
    flush(&mut cur, &mut angle, &mut out);
    out.into_iter()
        .map(|a| {
            // Drop a source route (`<@a,@b:x@y>`) and blanks around the `@`.
            let a = a
                .rsplit_once(':')
                .map_or(a.as_str(), |(_, x)| x)
                .to_string();
            a.split_whitespace().collect::<String>()
        })
        .filter(|a| !a.is_empty())
        .collect()
}

/// The first address in a header-style value.
pub fn first_address(value: &str) -> Option<String> {
    parse_list(value)
        .into_iter()
        .next()
        .filter(|a| split(a).is_some())
}

/// Whether `s` is one `local@domain` address (with or without a display name).
pub fn is_valid_mailbox(s: &str) -> bool {
    parse_mailbox(s).is_some()
}

/// One mailbox as `redirect` and vacation's `:from` take it (RFC 5322 §3.4): an
/// `addr-spec`, or a display name and `<addr-spec>`; blanks around `@` are allowed,
/// inside a local part only when quoted; ASCII only (no SMTPUTF8 on the way out).
/// Returns the bare `local@domain`.
pub fn parse_mailbox(s: &str) -> Option<String> {
    let s = s.trim();
    if !s.is_ascii() {
        return None;
    }
    let spec = match s.find('<') {
        Some(open) => {
            let inner = s[open + 1..].strip_suffix('>')?;
            if inner.contains(['<', '>']) || s[..open].contains(['>', ',', '@']) {
                return None;
            }
            inner
        }
        None => s,
    };
    let (local, domain) = spec.rsplit_once('@')?;
    let (local, domain) = (local.trim(), domain.trim());
    let local_ok = if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        true
    } else {
        !local.is_empty()
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
    };
    let domain_ok = !domain.is_empty()
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    (local_ok && domain_ok).then(|| format!("{local}@{domain}"))
}

/// `(local, domain)` split at the last `@`.
pub fn split(addr: &str) -> Option<(&str, &str)> {
    addr.rsplit_once('@')
}

/// The part of `addr` a test compares; `None` when the part does not exist (`:detail`
/// of an address without a separator, RFC 5233 §4; `:domain` of a bare name).
pub fn part(addr: &str, which: Part) -> Option<String> {
    let (local, domain) = match split(addr) {
        Some(x) => x,
        None => (addr, ""),
    };
    let local_unquoted = if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        &local[1..local.len() - 1]
    } else {
        local
    };
    match which {
        Part::All => Some(addr.to_string()),
        Part::LocalPart => Some(local_unquoted.to_string()),
        Part::Domain => split(addr).map(|_| domain.to_string()),
        Part::User => Some(
            local_unquoted
                .split_once(DETAIL_SEPARATOR)
                .map_or(local_unquoted, |(u, _)| u)
                .to_string(),
        ),
        Part::Detail => local_unquoted
            .split_once(DETAIL_SEPARATOR)
            .map(|(_, d)| d.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values() {
        let rows: &[(&str, &[&str])] = &[
            ("a@b.c", &["a@b.c"]),
            (
                "\"Jo, Smith\" <jo@x.org>, b@y.org",
                &["jo@x.org", "b@y.org"],
            ),
            ("Jo (comment, here) <jo@x.org>", &["jo@x.org"]),
            (
                "team: a@x.org, b@x.org;, c@y.org",
                &["a@x.org", "b@x.org", "c@y.org"],
            ),
            ("<@r.example:x@y.org>", &["x@y.org"]),
            ("undisclosed-recipients:;", &[]),
            ("", &[]),
        ];
        for (input, want) in rows {
            assert_eq!(parse_list(input), *want, "{input}");
        }
    }

    #[test]
    fn parts() {
        let rows: &[(&str, Part, Option<&str>)] = &[
            ("ken+sieve@example.org", Part::User, Some("ken")),
            ("ken+sieve@example.org", Part::Detail, Some("sieve")),
            ("ken@example.org", Part::Detail, None),
            ("ken+@example.org", Part::Detail, Some("")),
            ("Ken@Example.org", Part::Domain, Some("Example.org")),
            ("Ken@Example.org", Part::LocalPart, Some("Ken")),
            ("nobody", Part::Domain, None),
        ];
        for (addr, p, want) in rows {
            assert_eq!(part(addr, *p).as_deref(), *want, "{addr} {p:?}");
        }
        // Pigeonhole's out-address cases (tests/compile/errors/out-address.sieve).
        for bad in [
            "@wrong.example.com",
            "error",
            "error@",
            "Stephan Bosch error@example.org",
            "Stephan Bosch <error@example.org",
            " more error @  example.com  ",
            "@",
            "<>",
            "Error <",
            "Error <stephan",
            "Error <stephan@",
            "stephan@example.org,tss@example.net",
            "stephan@example.org,%&^&!!~",
            "rüdiger@example.com",
        ] {
            assert!(!is_valid_mailbox(bad), "{bad:?} accepted");
        }
        for (good, spec) in [
            ("Ok Good <stephan@example.org>", "stephan@example.org"),
            ("ok@example.com", "ok@example.com"),
            (" more  @  example.com  ", "more@example.com"),
            (".japanese@example.com", ".japanese@example.com"),
            (
                "..japanese...localpart..@example.com",
                "..japanese...localpart..@example.com",
            ),
            ("\"a b\"@example.com", "\"a b\"@example.com"),
        ] {
            assert_eq!(parse_mailbox(good).as_deref(), Some(spec), "{good:?}");
        }
    }
}
