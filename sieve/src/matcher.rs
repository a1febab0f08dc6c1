//! Comparators (RFC 4790 §9, RFC 5228 §2.7.3), match types (RFC 5228 §2.7.1, RFC 5231
//! §4, the regex draft) and match variables (RFC 5229 §3.2).
//!
//! Bounded by construction: `:matches` is the iterative glob matcher that backtracks
//! only to the most recent `*` (O(pattern × text), never exponential); `:regex` uses the
//! `regex` crate (finite automata, linear in the text) with a cap on the compiled size.

use std::cmp::Ordering;

/// Largest compiled regular expression, in bytes (the `regex` crate's size limit).
pub const MAX_REGEX_SIZE: usize = 1 << 20;

/// A comparator (RFC 4790).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// `i;octet`: bytes as they are.
    Octet,
    /// `i;ascii-casemap`: ASCII letters folded to one case (the default, RFC 5228 §2.7.3).
    AsciiCasemap,
    /// `i;ascii-numeric`: the leading decimal digits as a number; a string not
    /// starting with a digit is positive infinity (RFC 4790 §9.1).
    AsciiNumeric,
}

impl Comparator {
    pub fn from_name(name: &str) -> Option<Comparator> {
        match name.to_ascii_lowercase().as_str() {
            "i;octet" => Some(Comparator::Octet),
            "i;ascii-casemap" => Some(Comparator::AsciiCasemap),
            "i;ascii-numeric" => Some(Comparator::AsciiNumeric),
            _ => None,
        }
    }

    fn char_eq(self, a: char, b: char) -> bool {
        match self {
            Comparator::AsciiCasemap => a.eq_ignore_ascii_case(&b),
            _ => a == b,
        }
    }

    /// The ordering of two values (RFC 4790 §9; used by `:is` and `:value`).
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Comparator::Octet => a.as_bytes().cmp(b.as_bytes()),
            Comparator::AsciiCasemap => a
                .bytes()
                .map(|c| c.to_ascii_lowercase())
                .cmp(b.bytes().map(|c| c.to_ascii_lowercase())),
            Comparator::AsciiNumeric => numeric_key(a).cmp(&numeric_key(b)),
        }
    }

    /// `:contains` (RFC 5228 §2.7.1): for `i;ascii-numeric`, which has no substring
    /// operation, equality.
    pub fn contains(self, hay: &str, needle: &str) -> bool {
        match self {
            Comparator::Octet => hay.contains(needle),
            Comparator::AsciiCasemap => hay
                .to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase()),
            Comparator::AsciiNumeric => self.compare(hay, needle) == Ordering::Equal,
        }
    }
}

/// `None` is positive infinity; leading zeros do not count; any length of digits works.
fn numeric_key(s: &str) -> (bool, usize, String) {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return (true, 0, String::new());
    }
    let trimmed = digits.trim_start_matches('0').to_string();
    (false, trimmed.len(), trimmed)
}

/// A relational operator (RFC 5231 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Relation {
    pub fn from_name(name: &str) -> Option<Relation> {
        Some(match name.to_ascii_lowercase().as_str() {
            "gt" => Relation::Gt,
            "ge" => Relation::Ge,
            "lt" => Relation::Lt,
            "le" => Relation::Le,
            "eq" => Relation::Eq,
            "ne" => Relation::Ne,
            _ => return None,
        })
    }

    pub fn holds(self, o: Ordering) -> bool {
        match self {
            Relation::Gt => o == Ordering::Greater,
            Relation::Ge => o != Ordering::Less,
            Relation::Lt => o == Ordering::Less,
            Relation::Le => o != Ordering::Greater,
            Relation::Eq => o == Ordering::Equal,
            Relation::Ne => o != Ordering::Equal,
        }
    }
}

/// A match type (RFC 5228 §2.7.1, RFC 5231 §4, regex draft §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Is,
    Contains,
    Matches,
    Regex,
    Count(Relation),
    Value(Relation),
}

enum Tok {
    Star,
    One,
    Lit(char),
}

/// `:matches` (RFC 5228 §2.7.1): `*` any run, `?` one character, `\` escapes. On a
/// match, the match variables of RFC 5229 §3.2: `[whole text, each wildcard's text…]`,
/// each `*` as short as the match allows, left to right.
pub fn wildcard(pattern: &str, text: &str, cmp: Comparator) -> Option<Vec<String>> {
    let mut budget = u64::MAX;
    wildcard_bounded(pattern, text, cmp, &mut budget).unwrap_or(None)
}

/// `budget` ran out (see [`wildcard_bounded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBudget;

/// [`wildcard`] that spends one unit of `budget` per step of the matcher and gives
/// `Err(OutOfBudget)` when it runs out: the matcher is O(pattern × text), which a long body
/// and a long pattern make large.
pub fn wildcard_bounded(
    pattern: &str,
    text: &str,
    cmp: Comparator,
    budget: &mut u64,
) -> Result<Option<Vec<String>>, OutOfBudget> {
    // Collecting the text's characters is work too.
    *budget = budget.checked_sub(text.len() as u64).ok_or(OutOfBudget)?;
    let mut toks = Vec::new();
    let mut pc = pattern.chars();
    while let Some(c) = pc.next() {
        toks.push(match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            '\\' => Tok::Lit(pc.next().unwrap_or('\\')),
            c => Tok::Lit(c),
        });
    }
    // Which capture slot each token fills.
    let mut slot = Vec::with_capacity(toks.len());
    let mut n = 0;
    for t in &toks {
        slot.push(n);
        if !matches!(t, Tok::Lit(_)) {
            n += 1;
        }
    }
    let text: Vec<char> = text.chars().collect();
    let mut caps = vec![(0usize, 0usize); n];
    let (mut p, mut t) = (0usize, 0usize);
    // The most recent `*`: its token index and where its match now ends.
    let mut star: Option<(usize, usize)> = None;
    loop {
        *budget = budget.checked_sub(1).ok_or(OutOfBudget)?;
        if p < toks.len() {
            match toks[p] {
                Tok::Star => {
                    caps[slot[p]] = (t, t);
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                Tok::One if t < text.len() => {
                    caps[slot[p]] = (t, t + 1);
                    p += 1;
                    t += 1;
                    continue;
                }
                Tok::Lit(c) if t < text.len() && cmp.char_eq(c, text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        } else if t == text.len() {
            break;
        }
        // Mismatch: let the last `*` take one more character, or fail.
        match star {
            Some((sp, end)) if end < text.len() => {
                star = Some((sp, end + 1));
                caps[slot[sp]] = (caps[slot[sp]].0, end + 1);
                p = sp + 1;
                t = end + 1;
            }
            _ => return Ok(None),
        }
    }
    let mut out = vec![text.iter().collect::<String>()];
    out.extend(
        caps.iter()
            .map(|&(a, b)| text[a..b].iter().collect::<String>()),
    );
    Ok(Some(out))
}

/// Compiles a `:regex` key (POSIX extended syntax is close to the `regex` crate's; the
/// crate has no backreferences, which keeps it linear).
pub fn compile_regex(pattern: &str, case_insensitive: bool) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(MAX_REGEX_SIZE)
        .dfa_size_limit(MAX_REGEX_SIZE)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(n) => format!("larger than {n} bytes compiled"),
            e => e
                .to_string()
                .lines()
                .last()
                .unwrap_or("syntax error")
                .to_string(),
        })
}

/// Compiled patterns kept by [`compile_regex_cached`]; the cache starts afresh when
/// full.
pub const MAX_CACHED_REGEXES: usize = 1024;

/// [`compile_regex`], remembered across runs: a script's patterns are the same at every
/// delivery, and compiling one costs far more than matching it.
pub fn compile_regex_cached(pattern: &str, case_insensitive: bool) -> Option<regex::Regex> {
    type Cache = std::collections::HashMap<(String, bool), Option<regex::Regex>>;
    static CACHE: std::sync::Mutex<Option<Cache>> = std::sync::Mutex::new(None);
    let key = (pattern.to_string(), case_insensitive);
    if let Ok(mut guard) = CACHE.lock()
        && let Some(re) = guard.get_or_insert_with(Cache::new).get(&key)
    {
        return re.clone();
    }
    let re = compile_regex(pattern, case_insensitive).ok();
    if let Ok(mut guard) = CACHE.lock() {
        let cache = guard.get_or_insert_with(Cache::new);
        if cache.len() >= MAX_CACHED_REGEXES {
            cache.clear();
        }
        cache.insert(key, re.clone());
    }
    re
}

/// `:regex`'s match variables: the whole match and each group (`""` for a group that
/// took no part).
pub fn regex_captures(re: &regex::Regex, text: &str) -> Option<Vec<String>> {
    re.captures(text).map(|c| {
        c.iter()
            .map(|m| m.map_or(String::new(), |m| m.as_str().to_string()))
            .collect()
    })
}

/// `:quotewildcard` (RFC 5229 §4.1): `*`, `?` and `\` escaped.
pub fn quote_wildcard(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let c = Comparator::AsciiCasemap;
        let rows: &[(&str, &str, Option<&[&str]>)] = &[
            ("*", "", Some(&["", ""])),
            ("a*", "abc", Some(&["abc", "bc"])),
            (
                "*@*",
                "ken@example.org",
                Some(&["ken@example.org", "ken", "example.org"]),
            ),
            // RFC 5229 §3.2's example.
            (
                "[*] *",
                "[acme-users] [fwd] version 1.0 is out",
                Some(&[
                    "[acme-users] [fwd] version 1.0 is out",
                    "acme-users",
                    "[fwd] version 1.0 is out",
                ]),
            ),
            (
                "*<*@*",
                "Sieve <sieve@example.org>",
                Some(&[
                    "Sieve <sieve@example.org>",
                    "Sieve ",
                    "sieve",
                    "example.org>",
                ]),
            ),
            ("?*?", "ab", Some(&["ab", "a", "", "b"])),
            // RFC 5229 §3.2: "${1} is always the empty string".
            (
                "coyote@**.com",
                "coyote@ACME.Example.COM",
                Some(&["coyote@ACME.Example.COM", "", "ACME.Example"]),
            ),
            ("?", "", None),
            ("\\*", "*", Some(&["*"])),
            ("\\*", "x", None),
            ("A*C", "abc", Some(&["abc", "b"])),
            (
                "*money*",
                "make MONEY fast",
                Some(&["make MONEY fast", "make ", " fast"]),
            ),
            ("*x", "aaaa", None),
        ];
        for (p, t, want) in rows {
            let got = wildcard(p, t, c);
            let want: Option<Vec<String>> = want.map(|w| w.iter().map(|s| s.to_string()).collect());
            assert_eq!(got, want, "{p} against {t}");
        }
        assert!(wildcard("A*C", "abc", Comparator::Octet).is_none());
    }

    #[test]
    fn pathological_wildcard_is_quick() {
        let text = "a".repeat(20_000);
        let pattern = "*a".repeat(50) + "b";
        let start = std::time::Instant::now();
        assert!(wildcard(&pattern, &text, Comparator::Octet).is_none());
        assert!(start.elapsed().as_secs() < 5);
        let mut budget = 10_000;
        assert_eq!(
            wildcard_bounded(&pattern, &text, Comparator::Octet, &mut budget),
            Err(OutOfBudget)
        );
        let mut budget = 10_000;
        assert!(wildcard_bounded("a*c", "abc", Comparator::Octet, &mut budget).is_ok());
        assert!(budget < 10_000);
    }

    #[test]
    fn comparators() {
        use Ordering::*;
        let rows: &[(Comparator, &str, &str, Ordering)] = &[
            (Comparator::Octet, "a", "A", Greater),
            (Comparator::AsciiCasemap, "abc", "ABC", Equal),
            (Comparator::AsciiNumeric, "10", "9", Greater),
            (Comparator::AsciiNumeric, "007", "7", Equal),
            (Comparator::AsciiNumeric, "5 apples", "5", Equal),
            (
                Comparator::AsciiNumeric,
                "x",
                "99999999999999999999999",
                Greater,
            ),
            (Comparator::AsciiNumeric, "", "x", Equal),
        ];
        for (c, a, b, want) in rows {
            assert_eq!(c.compare(a, b), *want, "{c:?} {a} {b}");
        }
        assert!(Relation::Ge.holds(Equal));
        assert!(!Relation::Ne.holds(Equal));
    }

    #[test]
    fn regex_is_bounded() {
        assert!(compile_regex("(a+)+$", false).is_ok());
        let re = compile_regex("(a+)+$", false).expect("compiles");
        let text = "a".repeat(50_000) + "!";
        assert!(regex_captures(&re, &text).is_none());
        assert!(compile_regex("(", false).is_err());
        assert!(compile_regex("a{1000}{1000}", false).is_err());
    }
}
