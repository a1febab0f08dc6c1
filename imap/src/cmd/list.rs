//! LIST (RFC 9051 §6.3.9; LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE
//! RFC 6154 §5, CHILDREN RFC 3348) and LSUB (RFC 3501 §6.3.9).
//!
//! The candidate names are the user's mailboxes plus every missing parent of one
//! (Maildir++ folders need no parent directory): such a parent is listed
//! `\Noselect` (`\NonExistent` with LIST-EXTENDED syntax), so hierarchies stay
//! navigable with `%`.

use std::collections::{BTreeMap, HashSet};

use mailyard_store::ListedMailbox;
use mailyard_store::mailbox_name::{self, SEPARATOR, list_matches};

use crate::proto::command::ListArgs;
use crate::session::{Done, End, Session, store_error};

/// One LIST response line to write: name, attributes, CHILDINFO, the mailbox whose STATUS follows it.
type Line<'a> = (
    String,
    Vec<&'a str>,
    bool,
    Option<mailyard_store::MailboxId>,
);

/// One name LIST may report.
struct Candidate<'a> {
    /// The mailbox, None for a missing parent.
    info: Option<&'a ListedMailbox>,
    has_children: bool,
    subscribed: bool,
}

fn parents(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices(SEPARATOR).map(move |(i, _)| &name[..i])
}

/// A LIST or LSUB pattern, the reference already prepended (RFC 9051 §6.3.9).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// Decoded like a mailbox name (valid modified UTF-7, or UTF-8): matched against
    /// the stored names.
    Name(String),
    /// Not valid modified UTF-7 (RFC 3501 §5.1.3), e.g. a bare `&`: still a pattern
    /// (RFC 9051 §6.3.9 makes no exception for it, and Dovecot answers OK), matched
    /// as written against the names as the client sees them, encoded. No encoded
    /// name has a bare `&`, so such a literal matches nothing.
    Wire(String),
}

impl Pattern {
    /// `raw` as the client sent it; `decode` is how mailbox names are decoded for
    /// this session.
    fn new(raw: String, decode: impl Fn(&str) -> Option<String>) -> Pattern {
        match decode(&raw) {
            Some(name) => Pattern::Name(name),
            None => Pattern::Wire(raw),
        }
    }

    /// Whether stored mailbox `name` matches (RFC 9051 §6.3.9 wildcards).
    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Name(p) => list_matches(p, name),
            Pattern::Wire(p) => list_matches(p, &mailbox_name::utf7_encode(name)),
        }
    }
}

/// RFC 5258 §3.5 RECURSIVEMATCH (CHILDINFO, §4): a name that matches a pattern but
/// not the selection criteria is reported with `("CHILDINFO" ("SUBSCRIBED"))` when a
/// descendant satisfies them (is subscribed) and does not itself match a pattern; a
/// descendant that matches is listed on its own line, so the parent adds nothing
/// (what Dovecot answers and imaptest `listext` expects).
fn subscribed_child_info<'a>(
    name: &str,
    subscribed: impl IntoIterator<Item = &'a String>,
    matches: impl Fn(&str) -> bool,
) -> bool {
    let prefix = format!("{name}{SEPARATOR}");
    subscribed
        .into_iter()
        .any(|s| s.starts_with(&prefix) && !matches(s))
}

impl Session {
    /// The reference and pattern joined and decoded (RFC 9051 §6.3.9: the reference
    /// is prepended; names on the wire are modified UTF-7 unless UTF8=ACCEPT).
    fn list_pattern(&self, reference: &str, pattern: &str) -> Pattern {
        Pattern::new(format!("{reference}{pattern}"), |p| {
            self.decode_mailbox(p).ok()
        })
    }

    /// LIST [(selection)] reference pattern(s) [RETURN (options)]. Authenticated and
    /// selected states. RFC 9051 §6.3.9, RFC 5258 §3, RFC 5819 §2, RFC 6154 §5.
    pub(crate) async fn handle_list(&mut self, args: ListArgs) -> Result<Done, End> {
        let Some(user) = self.user() else {
            return Ok(Done::bad("Not logged in"));
        };
        // REMOTE selects what a plain LIST does here: there are no remote mailboxes
        // (RFC 5258 §3.1).
        if args.patterns.len() == 1
            && args.patterns.first().is_some_and(|p| p.is_empty())
            && !args.extended
        {
            // RFC 9051 §6.3.9: the hierarchy delimiter and root name.
            self.conn
                .wbuf
                .extend_from_slice(b"* LIST (\\Noselect) \".\" \"\"\r\n");
            return Ok(Done::ok("LIST completed"));
        }
        let patterns: Vec<Pattern> = args
            .patterns
            .iter()
            .map(|p| self.list_pattern(&args.reference, p))
            .collect();
        // The user's mailboxes, usually from memory (`Store::listed_mailboxes`); the
        // subscriptions file only when the answer depends on it (RFC 5258 SUBSCRIBED
        // selection or return option), not for every plain LIST.
        let boxes = match self.store().listed_mailboxes(&user).await {
            Ok(list) => list,
            Err(e) => return Ok(store_error(e)),
        };
        let subs: HashSet<String> = if args.select.subscribed || args.returns.subscribed {
            match self.store().subscriptions(&user).await {
                Ok(subs) => subs.into_iter().collect(),
                Err(e) => return Ok(store_error(e)),
            }
        } else {
            HashSet::new()
        };
        let mut cands: BTreeMap<String, Candidate<'_>> = BTreeMap::new();
        for b in boxes.iter() {
            cands.insert(
                b.name.clone(),
                Candidate {
                    subscribed: subs.contains(&b.name),
                    info: Some(b),
                    has_children: false,
                },
            );
        }
        let mut extra: Vec<String> = Vec::new();
        for name in cands.keys() {
            for p in parents(name) {
                if !cands.contains_key(p) {
                    extra.push(p.to_string());
                }
            }
        }
        if args.select.subscribed {
            // Subscribed names that do not exist are listed \NonExistent.
            for s in &subs {
                if !cands.contains_key(s) {
                    extra.push(s.clone());
                }
                for p in parents(s) {
                    if !cands.contains_key(p) {
                        extra.push(p.to_string());
                    }
                }
            }
        }
        for name in extra {
            let subscribed = subs.contains(&name);
            cands.entry(name).or_insert(Candidate {
                info: None,
                has_children: false,
                subscribed,
            });
        }
        let names: Vec<String> = cands.keys().cloned().collect();
        for name in &names {
            for p in parents(name) {
                if let Some(c) = cands.get_mut(p) {
                    c.has_children = true;
                }
            }
        }
        let matches = |name: &str| patterns.iter().any(|p| p.matches(name));
        let mut lines: Vec<Line<'_>> = Vec::new();
        for (name, c) in &cands {
            let exists = c.info.is_some();
            let special = c.info.as_ref().and_then(|i| i.special_use.as_deref());
            let mut child_info = false;
            if !matches(name) {
                continue;
            }
            if args.select.subscribed && !c.subscribed {
                if args.select.recursive_match && subscribed_child_info(name, &subs, matches) {
                    child_info = true;
                } else {
                    continue;
                }
            }
            if args.select.special_use && special.is_none() {
                continue;
            }
            if !args.select.subscribed && !exists && !c.has_children {
                continue;
            }
            let mut attrs: Vec<&str> = Vec::new();
            if !exists {
                attrs.push(if args.extended {
                    "\\NonExistent"
                } else {
                    "\\Noselect"
                });
            }
            attrs.push(if c.has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            if let Some(s) = special {
                attrs.push(s);
            }
            if (args.returns.subscribed || args.select.subscribed) && c.subscribed {
                attrs.push("\\Subscribed");
            }
            // RFC 5819: STATUS of the listed mailboxes that exist, read below.
            let status = match (&args.returns.status, &c.info) {
                (Some(_), Some(info)) => Some(info.id),
                _ => None,
            };
            lines.push((name.clone(), attrs, child_info, status));
        }
        let statuses = match &args.returns.status {
            Some(items) => {
                let ids: Vec<_> = lines.iter().filter_map(|l| l.3).collect();
                let read = self
                    .store()
                    .mailbox_statuses(ids.clone(), crate::cmd::status::needs_counts(items))
                    .await
                    .unwrap_or_default();
                ids.into_iter()
                    .zip(read)
                    .filter_map(|(id, st)| {
                        st.map(|(mb, n)| {
                            let v = crate::cmd::status::status_values(&mb, &n, items);
                            (id, v.into_bytes())
                        })
                    })
                    .collect()
            }
            None => std::collections::HashMap::new(),
        };
        let mut out = Vec::new();
        for (name, attrs, child_info, status) in lines {
            let status = status.and_then(|id| statuses.get(&id));
            let extra: &[u8] = if child_info {
                b" (\"CHILDINFO\" (\"SUBSCRIBED\"))"
            } else {
                b""
            };
            self.write_list_line(&mut out, &attrs, &name, extra);
            if let Some(values) = status {
                self.write_status_line(&mut out, &name, values);
            }
        }
        self.conn.wbuf.extend_from_slice(&out);
        Ok(Done::ok("LIST completed"))
    }

    /// `* LIST (attrs) "." name` + `extra` (RFC 5258 extended data items, with their
    /// leading space) + CRLF. RFC 9051 §7.3.1.
    pub(crate) fn write_list_line(
        &self,
        out: &mut Vec<u8>,
        attrs: &[&str],
        name: &str,
        extra: &[u8],
    ) {
        out.extend_from_slice(b"* LIST (");
        out.extend_from_slice(attrs.join(" ").as_bytes());
        out.extend_from_slice(b") \".\" ");
        self.write_mailbox(out, name);
        out.extend_from_slice(extra);
        out.extend_from_slice(b"\r\n");
    }

    /// LSUB reference pattern: subscribed names; a parent of a subscribed name that
    /// matches `%` where the name does not is listed `\Noselect`. Authenticated and
    /// selected states. RFC 3501 §6.3.9.
    pub(crate) async fn handle_lsub(
        &mut self,
        reference: String,
        pattern: String,
    ) -> Result<Done, End> {
        let Some(user) = self.user() else {
            return Ok(Done::bad("Not logged in"));
        };
        let pattern = self.list_pattern(&reference, &pattern);
        let subs = match self.store().subscriptions(&user).await {
            Ok(s) => s,
            Err(e) => return Ok(store_error(e)),
        };
        let set: HashSet<&str> = subs.iter().map(String::as_str).collect();
        let mut listed: BTreeMap<String, bool> = BTreeMap::new();
        for s in &subs {
            if pattern.matches(s) {
                listed.insert(s.clone(), false);
            } else {
                for p in parents(s) {
                    if !set.contains(p) && pattern.matches(p) {
                        listed.entry(p.to_string()).or_insert(true);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (name, noselect) in listed {
            out.extend_from_slice(if noselect {
                b"* LSUB (\\Noselect) \".\" ".as_slice()
            } else {
                b"* LSUB () \".\" ".as_slice()
            });
            self.write_mailbox(&mut out, &name);
            out.extend_from_slice(b"\r\n");
        }
        self.conn.wbuf.extend_from_slice(&out);
        Ok(Done::ok("LSUB completed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_of_names() {
        assert_eq!(parents("a.b.c").collect::<Vec<_>>(), vec!["a", "a.b"]);
        assert!(parents("INBOX").next().is_none());
    }

    fn utf7(p: &str) -> Option<String> {
        mailbox_name::utf7_decode(p)
    }

    /// Patterns that are not valid modified UTF-7 are still patterns (imaptest
    /// `atoms`: every ATOM-CHAR in a LIST pattern is OK).
    #[test]
    fn patterns_table() {
        let cases: &[(&str, &str, bool)] = &[
            // (pattern as sent, stored name, matches)
            ("*", "été", true),
            ("&AOk-t&AOk-", "été", true),
            ("&AOk-*", "été", true),
            ("&-", "&", true),
            ("&-*", "&x", true),
            // Invalid modified UTF-7: matched against the encoded names.
            ("&", "&", false),
            ("&*", "&", true),
            ("&*", "été", true),
            ("&AOk*", "été", true),
            ("x&AOk*", "xé", true),
            ("!#$&'+,-.0123456789:;<=>?@^_`|[}%*", "INBOX", false),
            (
                "!#$&'+,-.0123456789:;<=>?@^_`|[}%*",
                "!#$&'+,-.0123456789:;<=>?@^_`|[}",
                false,
            ),
            ("a&'b", "a&'b", false),
            ("a&*", "a&'b", true),
            ("inbox&*", "INBOX", false),
        ];
        for &(raw, name, want) in cases {
            let p = Pattern::new(raw.to_string(), utf7);
            assert_eq!(p.matches(name), want, "{raw:?} vs {name:?} ({p:?})");
        }
        assert_eq!(Pattern::new("a&".into(), utf7), Pattern::Wire("a&".into()));
        assert_eq!(
            Pattern::new("a&AOk-".into(), utf7),
            Pattern::Name("aé".into())
        );
    }

    /// RFC 5258 §3.5 and imaptest `listext`.
    #[test]
    fn recursivematch_child_info_table() {
        let subs: Vec<String> = [
            "t.test1",
            "t.test2.test1",
            "t.test7.test7",
            "t.test8.test8",
            "t.test8.test9",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        let cases: &[(&str, &[&str], bool)] = &[
            // (name, patterns, CHILDINFO)
            ("t.test2", &["t.test2%"], true),
            ("t.test2", &["t.test2"], true),
            ("t.test2", &["t.test2", "t.test2.test1"], false),
            ("t.test2", &["t.test2", "t.*"], false),
            ("t.test7", &["t*test7"], false),
            ("t.test8", &["t*test8"], true),
            ("t.test3", &["t.test3"], false),
            ("t", &["t"], true),
            ("t", &["t", "t.%"], true),
            ("t", &["t*"], false),
            // A prefix that is not a parent.
            ("t.test", &["t.test"], false),
        ];
        for &(name, patterns, want) in cases {
            let matches = |n: &str| patterns.iter().any(|p| list_matches(p, n));
            assert_eq!(
                subscribed_child_info(name, &subs, matches),
                want,
                "{name:?} {patterns:?}"
            );
        }
    }
}
