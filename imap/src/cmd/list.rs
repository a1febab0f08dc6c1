//! LIST (RFC 9051 §6.3.9; LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE
//! RFC 6154 §5, CHILDREN RFC 3348) and LSUB (RFC 3501 §6.3.9).
//!
//! The candidate names are the user's mailboxes plus every missing parent of one
//! (Maildir++ folders need no parent directory): such a parent is listed
//! `\Noselect` (`\NonExistent` with LIST-EXTENDED syntax), so hierarchies stay
//! navigable with `%`.

use std::collections::{BTreeMap, HashSet};

use mailyard_store::MailboxInfo;
use mailyard_store::mailbox_name::{SEPARATOR, list_matches};

use crate::proto::command::ListArgs;
use crate::session::{Done, End, Session, store_error};

/// One LIST response line to write: name, attributes, CHILDINFO, STATUS values.
type Line<'a> = (String, Vec<&'a str>, bool, Option<Vec<u8>>);

/// One name LIST may report.
struct Candidate {
    /// The mailbox, None for a missing parent.
    info: Option<MailboxInfo>,
    has_children: bool,
    subscribed: bool,
}

fn parents(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices(SEPARATOR).map(move |(i, _)| &name[..i])
}

impl Session {
    /// The reference and pattern joined and decoded (RFC 9051 §6.3.9: the reference
    /// is prepended; names on the wire are modified UTF-7 unless UTF8=ACCEPT).
    fn list_pattern(&self, reference: &str, pattern: &str) -> Result<String, Done> {
        let joined = format!("{reference}{pattern}");
        self.decode_mailbox(&joined)
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
            self.wbuf
                .extend_from_slice(b"* LIST (\\Noselect) \".\" \"\"\r\n");
            return Ok(Done::ok("LIST completed"));
        }
        let mut patterns = Vec::new();
        for p in &args.patterns {
            match self.list_pattern(&args.reference, p) {
                Ok(p) => patterns.push(p),
                Err(done) => return Ok(done),
            }
        }
        let store = self.store().clone();
        let u = user.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            Ok::<_, mailyard_store::StoreError>((store.mailboxes(&u)?, store.subscriptions(&u)?))
        })
        .await;
        let (boxes, subs) = match loaded {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Ok(store_error(e)),
            Err(_) => return Ok(Done::no(None, "Internal error")),
        };
        let subs: HashSet<String> = subs.into_iter().collect();
        let mut cands: BTreeMap<String, Candidate> = BTreeMap::new();
        for b in boxes {
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
        let matches = |name: &str| patterns.iter().any(|p| list_matches(p, name));
        let mut lines: Vec<Line<'_>> = Vec::new();
        for (name, c) in &cands {
            let exists = c.info.is_some();
            let special = c.info.as_ref().and_then(|i| i.special_use.as_deref());
            let mut child_info = false;
            if !matches(name) {
                continue;
            }
            if args.select.subscribed && !c.subscribed {
                // RFC 5258 §3.5 RECURSIVEMATCH: a parent of a subscribed name.
                let prefix = format!("{name}{SEPARATOR}");
                let sub_child = subs.iter().any(|s| s.starts_with(&prefix));
                if args.select.recursive_match && sub_child {
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
            let status = match (&args.returns.status, &c.info) {
                (Some(items), Some(info)) => {
                    let store = self.store().clone();
                    let info = info.clone();
                    let items = items.clone();
                    match tokio::task::spawn_blocking(move || {
                        crate::cmd::status::status_values(&store, &info, &items)
                    })
                    .await
                    {
                        Ok(Ok(v)) => Some(v.into_bytes()),
                        _ => None,
                    }
                }
                _ => None,
            };
            lines.push((name.clone(), attrs, child_info, status));
        }
        let mut out = Vec::new();
        for (name, attrs, child_info, status) in lines {
            out.extend_from_slice(b"* LIST (");
            out.extend_from_slice(attrs.join(" ").as_bytes());
            out.extend_from_slice(b") \".\" ");
            self.write_mailbox(&mut out, &name);
            if child_info {
                out.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            out.extend_from_slice(b"\r\n");
            if let Some(values) = status {
                out.extend_from_slice(b"* STATUS ");
                self.write_mailbox(&mut out, &name);
                out.push(b' ');
                out.extend_from_slice(&values);
                out.extend_from_slice(b"\r\n");
            }
        }
        self.wbuf.extend_from_slice(&out);
        Ok(Done::ok("LIST completed"))
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
        let pattern = match self.list_pattern(&reference, &pattern) {
            Ok(p) => p,
            Err(done) => return Ok(done),
        };
        let store = self.store().clone();
        let subs = match tokio::task::spawn_blocking(move || store.subscriptions(&user)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Ok(store_error(e)),
            Err(_) => return Ok(Done::no(None, "Internal error")),
        };
        let set: HashSet<&str> = subs.iter().map(String::as_str).collect();
        let mut listed: BTreeMap<String, bool> = BTreeMap::new();
        for s in &subs {
            if list_matches(&pattern, s) {
                listed.insert(s.clone(), false);
            } else {
                for p in parents(s) {
                    if !set.contains(p) && list_matches(&pattern, p) {
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
        self.wbuf.extend_from_slice(&out);
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
}
