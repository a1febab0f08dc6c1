//! The pure parts of SORT and THREAD (RFC 5256): base-subject extraction (§2.1),
//! the ORDEREDSUBJECT and REFERENCES threading algorithms (§3) and the `thread-list`
//! syntax of the THREAD response (§4). No I/O: the handlers in `sort.rs` and
//! `thread.rs` collect what these need from the index.
//!
//! Invariants: nothing here recurses over message data (a thread may be as deep as
//! a References header is long), so no input can exhaust the stack; containers live
//! in one arena (`Vec`) and are linked by index, so dropping a deep thread is flat.

use std::cmp::Ordering;
use std::collections::HashMap;

/// References looked at per message: the last ones, which name the closest
/// ancestors. A References header of thousands of ids (legal, and cheap to send)
/// must not make threading quadratic.
const MAX_REFERENCES: usize = 1000;

/// RFC 5256 §2.1: a subject's base subject, and whether the original subject marked
/// a reply or forward (a `subj-refwd` leader or a `(fwd)` trailer, §3 REFERENCES
/// step 6.B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseSubject {
    pub text: String,
    pub refwd: bool,
}

/// RFC 4790 §9.2 i;ascii-casemap, the default collation of RFC 5256 §2 (I18NLEVEL=1):
/// ASCII letters compare as upper case, every other octet as itself.
pub(crate) fn collate(s: &str) -> String {
    s.to_ascii_uppercase()
}

/// RFC 5256 §2.1 base subject extraction. `subject` is already decoded (RFC 2047
/// encoded-words to UTF-8, step 1's first part; the index stores it so).
pub(crate) fn base_subject(subject: &str) -> BaseSubject {
    // (1) Tabs and continuations to a space; runs of spaces to one.
    let mut s = String::with_capacity(subject.len());
    for c in subject.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(c);
    }
    let mut refwd = false;
    loop {
        // (2) Remove subj-trailer ("(fwd)" / WSP) from the end, repeatedly.
        loop {
            if s.ends_with(' ') {
                s.pop();
            } else if s.len() >= 5
                && s.is_char_boundary(s.len() - 5)
                && s[s.len() - 5..].eq_ignore_ascii_case("(fwd)")
            {
                s.truncate(s.len() - 5);
                refwd = true;
            } else {
                break;
            }
        }
        // (3), (4), repeated (5).
        loop {
            let before = s.len();
            // (3) Remove subj-leader ((*subj-blob subj-refwd) / WSP), repeatedly.
            loop {
                if s.starts_with(' ') {
                    s.remove(0);
                } else if let Some(n) = refwd_leader(&s) {
                    s.drain(..n);
                    refwd = true;
                } else {
                    break;
                }
            }
            // (4) Remove a leading subj-blob if a non-empty subj-base remains.
            if let Some(n) = blob(&s, 0)
                && n < s.len()
            {
                s.drain(..n);
            }
            if s.len() == before {
                break;
            }
        }
        // (6) "[fwd:" subject "]": unwrap and start again from (2).
        if s.len() >= 6
            && s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("[fwd:"))
            && s.ends_with(']')
        {
            s = s[5..s.len() - 1].to_string();
            continue;
        }
        break;
    }
    BaseSubject { text: s, refwd }
}

/// Length of the `subj-blob` (`"[" *BLOBCHAR "]" *WSP`) at `at`, trailing spaces
/// included.
fn blob(s: &str, at: usize) -> Option<usize> {
    let b = s.as_bytes();
    if b.get(at) != Some(&b'[') {
        return None;
    }
    let close = b[at + 1..].iter().position(|&c| c == b']' || c == b'[')?;
    if b[at + 1 + close] != b']' {
        return None;
    }
    let mut end = at + close + 2;
    while b.get(end) == Some(&b' ') {
        end += 1;
    }
    Some(end - at)
}

/// Length of `*subj-blob subj-refwd` at the start of `s`, where
/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn refwd_leader(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut at = 0;
    while let Some(n) = blob(s, at) {
        at += n;
    }
    let word = |at: usize, w: &str| {
        b.get(at..at + w.len())
            .is_some_and(|x| x.eq_ignore_ascii_case(w.as_bytes()))
    };
    if word(at, "re") {
        at += 2;
    } else if word(at, "fwd") {
        at += 3;
    } else if word(at, "fw") {
        at += 2;
    } else {
        return None;
    }
    while b.get(at) == Some(&b' ') {
        at += 1;
    }
    if let Some(n) = blob(s, at) {
        at += n;
    }
    (b.get(at) == Some(&b':')).then_some(at + 1)
}

/// One message as the threading algorithms see it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ThreadMsg {
    /// What the response shows: the sequence number, or the UID for UID THREAD.
    pub number: u32,
    /// The sequence number (ties in date order are broken by it, §2.2).
    pub seq: u32,
    /// RFC 5256 §2.2 sent date (unix seconds, UTC; INTERNALDATE when no Date:).
    pub date: i64,
    /// The decoded Subject.
    pub subject: String,
    /// Message-ID without angle brackets; empty when missing.
    pub message_id: String,
    /// References ids, oldest first.
    pub references: Vec<String>,
    /// In-Reply-To ids.
    pub in_reply_to: Vec<String>,
}

/// A set of threads: an arena of nodes and the top-level nodes in order. A node
/// without a message is a dummy (only ever at the top level, with 2+ children).
#[derive(Debug, Default)]
pub(crate) struct Forest {
    nodes: Vec<Node>,
    roots: Vec<usize>,
}

#[derive(Debug, Default, Clone)]
struct Node {
    /// Index into the input messages.
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

impl Forest {
    fn add(&mut self, msg: Option<usize>) -> usize {
        self.nodes.push(Node {
            msg,
            parent: None,
            children: Vec::new(),
        });
        self.nodes.len() - 1
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor_or_self(&self, a: usize, b: usize) -> bool {
        if a != b && self.nodes[a].children.is_empty() {
            return false;
        }
        let mut cur = Some(b);
        while let Some(c) = cur {
            if c == a {
                return true;
            }
            cur = self.nodes[c].parent;
        }
        false
    }

    /// Writes the RFC 5256 §4 `thread-list`s (`(1)(2 3 4)(5 (6)(7))`), each number
    /// taken from `msgs`; nothing for an empty forest.
    pub(crate) fn write(&self, msgs: &[ThreadMsg], out: &mut Vec<u8>) {
        enum Step {
            Node(usize),
            Text(&'static [u8]),
        }
        for &root in &self.roots {
            if self.nodes[root].msg.is_none() && self.nodes[root].children.is_empty() {
                continue;
            }
            out.push(b'(');
            let mut stack = vec![Step::Node(root)];
            while let Some(step) = stack.pop() {
                let i = match step {
                    Step::Text(t) => {
                        out.extend_from_slice(t);
                        continue;
                    }
                    Step::Node(i) => i,
                };
                let node = &self.nodes[i];
                let has_msg = match node.msg.and_then(|m| msgs.get(m)) {
                    Some(m) => {
                        out.extend_from_slice(m.number.to_string().as_bytes());
                        true
                    }
                    None => false,
                };
                match node.children.as_slice() {
                    [] => {}
                    // thread-members: a chain continues after a space.
                    [only] => {
                        stack.push(Step::Node(*only));
                        if has_msg {
                            stack.push(Step::Text(b" "));
                        }
                    }
                    // thread-nested: one thread-list per child.
                    kids => {
                        for &k in kids.iter().rev() {
                            stack.push(Step::Text(b")"));
                            stack.push(Step::Node(k));
                            stack.push(Step::Text(b"("));
                        }
                        if has_msg {
                            stack.push(Step::Text(b" "));
                        }
                    }
                }
            }
            out.push(b')');
        }
    }

    /// The written form, for tests and logs.
    #[cfg(test)]
    pub(crate) fn to_wire(&self, msgs: &[ThreadMsg]) -> String {
        let mut out = Vec::new();
        self.write(msgs, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// RFC 5256 §2.2 order: sent date, then sequence number.
fn by_date(a: &ThreadMsg, b: &ThreadMsg) -> Ordering {
    a.date.cmp(&b.date).then(a.seq.cmp(&b.seq))
}

/// RFC 5256 §3 ORDEREDSUBJECT: messages grouped by base subject; in each group the
/// earliest message is the parent of all the others (in sent-date order); threads
/// in the sent-date order of their first messages.
pub(crate) fn ordered_subject(msgs: &[ThreadMsg]) -> Forest {
    let keys: Vec<String> = msgs
        .iter()
        .map(|m| collate(&base_subject(&m.subject).text))
        .collect();
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]).then(by_date(&msgs[a], &msgs[b])));
    let mut f = Forest::default();
    let mut current: Option<(usize, &str)> = None;
    for &i in &order {
        let node = f.add(Some(i));
        match current {
            Some((parent, key)) if key == keys[i] => f.link(parent, node),
            _ => {
                f.roots.push(node);
                current = Some((node, &keys[i]));
            }
        }
    }
    let first = |f: &Forest, n: usize| f.nodes[n].msg.unwrap_or(0);
    let mut roots = std::mem::take(&mut f.roots);
    roots.sort_by(|&a, &b| by_date(&msgs[first(&f, a)], &msgs[first(&f, b)]));
    f.roots = roots;
    f
}

/// RFC 5256 §3 REFERENCES: the threading algorithm of §3 steps 1–6 (Jamie Zawinski's,
/// with base-subject merging), followed by the final sort.
pub(crate) fn references(msgs: &[ThreadMsg]) -> Forest {
    let mut f = Forest::default();
    // (1) Link messages by Message-ID, In-Reply-To and References, in mailbox order.
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    order.sort_by_key(|&i| msgs[i].seq);
    for &i in &order {
        let m = &msgs[i];
        // Without a References id, the first In-Reply-To id is the only reference.
        let refs: &[String] = if m.references.iter().any(|r| !r.is_empty()) {
            &m.references
        } else {
            m.in_reply_to.get(..1).unwrap_or_default()
        };
        let refs = &refs[refs.len().saturating_sub(MAX_REFERENCES)..];
        // (1.A) Chain the references, creating dummies for unknown ids; an existing
        // parent link is kept, and no link may make a loop.
        let mut prev: Option<usize> = None;
        for r in refs.iter().filter(|r| !r.is_empty()) {
            let c = match ids.get(r.as_str()) {
                Some(&c) => c,
                None => {
                    let c = f.add(None);
                    ids.insert(r, c);
                    c
                }
            };
            if let Some(p) = prev
                && f.nodes[c].parent.is_none()
                && !f.is_ancestor_or_self(c, p)
            {
                f.link(p, c);
            }
            prev = Some(c);
        }
        // The message's own container: a dummy waiting for this id, or a new one. A
        // missing id, or one an earlier message already has, gets a unique one (a
        // container no id maps to).
        let me = match ids.get(m.message_id.as_str()) {
            Some(&c) if !m.message_id.is_empty() && f.nodes[c].msg.is_none() => {
                f.nodes[c].msg = Some(i);
                c
            }
            Some(_) => f.add(Some(i)),
            None => {
                let c = f.add(Some(i));
                if !m.message_id.is_empty() {
                    ids.insert(&m.message_id, c);
                }
                c
            }
        };
        // (1.B) The last reference becomes the parent (an old parent link, from a
        // truncated References, is broken first), unless that makes a loop.
        f.unlink(me);
        if let Some(p) = prev
            && !f.is_ancestor_or_self(me, p)
        {
            f.link(p, me);
        }
    }
    // (2) The root set: every container without a parent. (3) Drop the id table.
    drop(ids);
    f.roots = (0..f.nodes.len())
        .filter(|&n| f.nodes[n].parent.is_none())
        .collect();
    // (4) Prune dummies.
    prune(&mut f);
    // (5) Sort the top level by sent date (a dummy by its earliest child).
    for &r in &f.roots {
        if f.nodes[r].msg.is_none() {
            let mut kids = std::mem::take(&mut f.nodes[r].children);
            kids.sort_by(|&a, &b| cmp_nodes(&f, msgs, a, b));
            f.nodes[r].children = kids;
        }
    }
    let mut roots = std::mem::take(&mut f.roots);
    roots.sort_by(|&a, &b| cmp_nodes(&f, msgs, a, b));
    f.roots = roots;
    // (6) Merge threads with the same base subject.
    merge_subjects(&mut f, msgs);
    // Final step: sort every set of siblings by sent date, children before parents
    // (only top-level dummies depend on their first child).
    for n in 0..f.nodes.len() {
        if f.nodes[n].msg.is_some() && f.nodes[n].children.len() > 1 {
            let mut kids = std::mem::take(&mut f.nodes[n].children);
            kids.sort_by(|&a, &b| cmp_nodes(&f, msgs, a, b));
            f.nodes[n].children = kids;
        }
    }
    for r in f.roots.clone() {
        if f.nodes[r].msg.is_none() {
            let mut kids = std::mem::take(&mut f.nodes[r].children);
            kids.sort_by(|&a, &b| cmp_nodes(&f, msgs, a, b));
            f.nodes[r].children = kids;
        }
    }
    let mut roots = std::mem::take(&mut f.roots);
    roots.sort_by(|&a, &b| cmp_nodes(&f, msgs, a, b));
    f.roots = roots;
    f
}

/// The message a node sorts and is named by: its own, or (a dummy) its first child's.
fn first_msg(f: &Forest, mut n: usize) -> Option<usize> {
    // Dummies only nest one level after pruning; the bound guards the invariant.
    for _ in 0..f.nodes.len() + 1 {
        match f.nodes[n].msg {
            Some(m) => return Some(m),
            None => n = *f.nodes[n].children.first()?,
        }
    }
    None
}

fn cmp_nodes(f: &Forest, msgs: &[ThreadMsg], a: usize, b: usize) -> Ordering {
    match (first_msg(f, a), first_msg(f, b)) {
        (Some(a), Some(b)) => by_date(&msgs[a], &msgs[b]),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// RFC 5256 §3 REFERENCES step 4: a dummy without children goes; a dummy with
/// children is replaced by them, except at the top level when it has more than one.
/// Bottom-up without recursion: every node's children are final before its parent
/// is looked at.
fn prune(f: &mut Forest) {
    // Post-order of everything under the roots.
    let mut post = Vec::with_capacity(f.nodes.len());
    let mut stack: Vec<(usize, bool)> = f.roots.iter().rev().map(|&r| (r, false)).collect();
    while let Some((n, expanded)) = stack.pop() {
        if expanded {
            post.push(n);
            continue;
        }
        stack.push((n, true));
        for &c in f.nodes[n].children.iter().rev() {
            stack.push((c, false));
        }
    }
    let splice = |f: &mut Forest, list: Vec<usize>, parent: Option<usize>, top: bool| {
        let mut out = Vec::with_capacity(list.len());
        for c in list {
            if f.nodes[c].msg.is_some() {
                out.push(c);
                continue;
            }
            let kids = &f.nodes[c].children;
            if kids.is_empty() || (top && kids.len() > 1) {
                if !kids.is_empty() {
                    out.push(c);
                }
                continue;
            }
            let kids = std::mem::take(&mut f.nodes[c].children);
            for &k in &kids {
                f.nodes[k].parent = parent;
            }
            out.extend(kids);
            f.nodes[c].parent = None;
        }
        out
    };
    for n in post {
        let kids = std::mem::take(&mut f.nodes[n].children);
        let kids = splice(f, kids, Some(n), false);
        f.nodes[n].children = kids;
    }
    let roots = std::mem::take(&mut f.roots);
    f.roots = splice(f, roots, None, true);
}

/// RFC 5256 §3 REFERENCES step 6: threads whose base subjects match are merged.
fn merge_subjects(f: &mut Forest, msgs: &[ThreadMsg]) {
    let subjects: Vec<BaseSubject> = msgs.iter().map(|m| base_subject(&m.subject)).collect();
    let subject_of = |f: &Forest, n: usize| first_msg(f, n).map(|m| &subjects[m]);
    // (A), (B): one top-level node per base subject: the first, replaced by a later
    // dummy, or by a later non-reply when the first is a reply or forward.
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in &f.roots {
        let Some(s) = subject_of(f, r) else { continue };
        if s.text.is_empty() {
            continue;
        }
        let key = collate(&s.text);
        match table.get(&key) {
            None => {
                table.insert(key, r);
            }
            Some(&t) if f.nodes[t].msg.is_some() => {
                let t_refwd = subject_of(f, t).is_some_and(|x| x.refwd);
                if f.nodes[r].msg.is_none() || (t_refwd && !s.refwd) {
                    table.insert(key, r);
                }
            }
            Some(_) => {}
        }
    }
    // (C) Merge every other top-level node into the one in the table.
    let mut removed = vec![false; f.nodes.len()];
    for r in f.roots.clone() {
        let Some(s) = subject_of(f, r).cloned() else {
            continue;
        };
        if s.text.is_empty() {
            continue;
        }
        let Some(&t) = table.get(&collate(&s.text)) else {
            continue;
        };
        if t == r {
            continue;
        }
        let r_dummy = f.nodes[r].msg.is_none();
        if f.nodes[t].msg.is_some() {
            let t_refwd = subject_of(f, t).is_some_and(|x| x.refwd);
            if !r_dummy && s.refwd && !t_refwd {
                // A reply to the thread in the table joins it.
                f.link(t, r);
                removed[r] = true;
                continue;
            }
            // Otherwise both become children of a new dummy, which takes the table
            // node's place: the table node's message and children move to a new node.
            let msg = f.nodes[t].msg.take();
            let moved = f.add(msg);
            removed.push(false);
            let kids = std::mem::take(&mut f.nodes[t].children);
            for &k in &kids {
                f.nodes[k].parent = Some(moved);
            }
            f.nodes[moved].children = kids;
            f.link(t, moved);
        }
        // The table node is a dummy now: a dummy's children join it, or the node itself.
        if r_dummy {
            let kids = std::mem::take(&mut f.nodes[r].children);
            for k in kids {
                f.link(t, k);
            }
        } else {
            f.link(t, r);
        }
        removed[r] = true;
    }
    f.roots.retain(|&r| !removed[r]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        // (subject, base subject, reply or forward)
        let rows: &[(&str, &str, bool)] = &[
            ("Hello", "Hello", false),
            ("Re: Hello", "Hello", true),
            ("RE: re: Re:Hello", "Hello", true),
            ("Fwd: Hello", "Hello", true),
            ("Fw: Hello", "Hello", true),
            ("FWD:Hello", "Hello", true),
            ("Re [blah]: Hello", "Hello", true),
            ("[list] Re: Hello", "Hello", true),
            ("[list] Hello", "Hello", false),
            ("[list]", "[list]", false),
            ("[a] [b] Hello", "Hello", false),
            ("Hello (fwd)", "Hello", true),
            ("Hello (FWD) (fwd)  ", "Hello", true),
            ("[fwd: Hello]", "Hello", false),
            ("Re: [Fwd: Re: Hello (fwd)]", "Hello", true),
            ("[fwd: [list] Hello]", "Hello", false),
            ("  Hello\t  world  ", "Hello world", false),
            ("Hello\r\n world", "Hello world", false),
            ("Re:", "", true),
            ("", "", false),
            ("Reply to this", "Reply to this", false),
            ("Re: [list]", "[list]", true),
            ("Rex: hi", "Rex: hi", false),
            ("Grüße", "Grüße", false),
            ("Re: Grüße (fwd)", "Grüße", true),
            ("[unterminated Hello", "[unterminated Hello", false),
            ("Re[x]: hi", "hi", true),
            ("Re [x] : hi", "hi", true),
        ];
        for (subject, base, refwd) in rows {
            let got = base_subject(subject);
            assert_eq!(
                (got.text.as_str(), got.refwd),
                (*base, *refwd),
                "subject {subject:?}"
            );
        }
    }

    #[test]
    fn collation_is_ascii_casemap() {
        assert_eq!(collate("hello"), collate("HeLLo"));
        // '_' (0x5F) sorts after upper-case letters, as i;ascii-casemap says.
        assert!(collate("a") < collate("_"));
        assert_eq!(collate("grüße"), "GRüßE");
    }

    fn msg(seq: u32, date: i64, subject: &str, id: &str, refs: &str) -> ThreadMsg {
        ThreadMsg {
            number: seq,
            seq,
            date,
            subject: subject.into(),
            message_id: id.into(),
            references: refs.split_whitespace().map(String::from).collect(),
            in_reply_to: Vec::new(),
        }
    }

    #[test]
    fn ordered_subject_groups_and_orders() {
        let msgs = vec![
            msg(1, 10, "alpha", "", ""),
            msg(2, 20, "Re: alpha", "", ""),
            msg(3, 5, "beta", "", ""),
            msg(4, 15, "RE: ALPHA", "", ""),
            msg(5, 30, "gamma", "", ""),
            msg(6, 31, "Re: gamma", "", ""),
            msg(7, 1, "", "", ""),
        ];
        // alpha: 1 then 4 (15) and 2 (20) as its children; gamma: 5 with one child.
        assert_eq!(
            ordered_subject(&msgs).to_wire(&msgs),
            "(7)(3)(1 (4)(2))(5 6)"
        );
        assert_eq!(ordered_subject(&[]).to_wire(&[]), "");
    }

    #[test]
    fn ordered_subject_ties_break_by_sequence() {
        let msgs = vec![
            msg(1, 100, "b", "", ""),
            msg(2, 100, "a", "", ""),
            msg(3, 100, "a", "", ""),
        ];
        assert_eq!(ordered_subject(&msgs).to_wire(&msgs), "(1)(2 3)");
    }

    #[test]
    fn references_chains_and_branches() {
        // 1 ← 2 ← 3, 2 ← 4 (a branch), 5 unrelated.
        let msgs = vec![
            msg(1, 1, "topic", "a@x", ""),
            msg(2, 2, "Re: topic", "b@x", "a@x"),
            msg(3, 3, "Re: topic", "c@x", "a@x b@x"),
            msg(4, 4, "Re: topic", "d@x", "a@x b@x"),
            msg(5, 5, "other", "e@x", ""),
        ];
        assert_eq!(references(&msgs).to_wire(&msgs), "(1 2 (3)(4))(5)");
    }

    #[test]
    fn references_missing_parent_becomes_dummy() {
        // 2 and 3 both answer a@x, which is not in the mailbox: a top-level dummy with
        // two children (the RFC's "((3)(5))" shape). 4 answers a missing message
        // alone: promoted to the top level.
        let msgs = vec![
            msg(1, 1, "unrelated", "z@x", ""),
            msg(2, 2, "Re: lost", "b@x", "a@x"),
            msg(3, 3, "Re: lost", "c@x", "a@x"),
            msg(4, 4, "Re: single", "d@x", "q@x"),
        ];
        assert_eq!(references(&msgs).to_wire(&msgs), "(1)((2)(3))(4)");
    }

    #[test]
    fn references_out_of_order_arrival() {
        // The reply arrives first; the parent fills the dummy later.
        let msgs = vec![msg(1, 2, "Re: x", "b@x", "a@x"), msg(2, 1, "x", "a@x", "")];
        assert_eq!(references(&msgs).to_wire(&msgs), "(2 1)");
    }

    #[test]
    fn references_falls_back_to_in_reply_to() {
        let mut m2 = msg(2, 2, "second", "b@x", "");
        m2.in_reply_to = vec!["a@x".into(), "ignored@x".into()];
        let msgs = vec![msg(1, 1, "first", "a@x", ""), m2];
        assert_eq!(references(&msgs).to_wire(&msgs), "(1 2)");
    }

    #[test]
    fn references_truncated_header_relinks() {
        // 3's References name only b@x, but 4 says a@x b@x c@x: 3 stays under 2, 4
        // under 3. A later message whose References put 2 elsewhere leaves 2's
        // existing parent alone.
        let msgs = vec![
            msg(1, 1, "s", "a@x", ""),
            msg(2, 2, "Re: s", "b@x", "a@x"),
            msg(3, 3, "Re: s", "c@x", "b@x"),
            msg(4, 4, "Re: s", "d@x", "a@x b@x c@x"),
            msg(5, 5, "Re: s", "e@x", "zz@x b@x"),
        ];
        assert_eq!(references(&msgs).to_wire(&msgs), "(1 2 (3 4)(5))");
    }

    #[test]
    fn references_duplicate_and_missing_ids() {
        // 2 repeats 1's Message-ID: it gets a unique one, so 3 (answering a@x) is a
        // child of 1, and 2 stands alone (merged by subject with nothing: distinct
        // subjects). Messages without ids never collide.
        let msgs = vec![
            msg(1, 1, "one", "a@x", ""),
            msg(2, 2, "two", "a@x", ""),
            msg(3, 3, "Re: one", "c@x", "a@x"),
            msg(4, 4, "four", "", ""),
            msg(5, 5, "five", "", ""),
        ];
        assert_eq!(references(&msgs).to_wire(&msgs), "(1 3)(2)(4)(5)");
    }

    #[test]
    fn references_loops_are_not_made() {
        // a@x says its parent is b@x, b@x says its parent is a@x; a message that
        // references itself.
        let msgs = vec![
            msg(1, 1, "p", "a@x", "b@x"),
            msg(2, 2, "q", "b@x", "a@x"),
            msg(3, 3, "r", "c@x", "c@x"),
        ];
        let out = references(&msgs).to_wire(&msgs);
        // 2 claims a@x as its child, a@x already under b@x: no loop, 2 is the root.
        assert_eq!(out, "(2 1)(3)");
    }

    #[test]
    fn references_merges_by_subject() {
        // No header links at all; subjects do the work.
        // 1 "hello" and 3 "Re: hello": 3 becomes a child of 1.
        // 2 "news" and 4 "news": neither is a reply, so both go under a dummy.
        // 5 "Re: lunch" then 6 "lunch": the non-reply takes the table; 5 joins 6.
        let msgs = vec![
            msg(1, 1, "hello", "1@x", ""),
            msg(2, 2, "news", "2@x", ""),
            msg(3, 3, "Re: hello", "3@x", ""),
            msg(4, 4, "news", "4@x", ""),
            msg(5, 5, "Re: lunch", "5@x", ""),
            msg(6, 6, "lunch", "6@x", ""),
        ];
        assert_eq!(references(&msgs).to_wire(&msgs), "(1 3)((2)(4))(6 5)");
    }

    #[test]
    fn references_dummy_merges() {
        // Two dummies with the same subject merge their children; a message with
        // that subject joins the dummy.
        let msgs = vec![
            msg(1, 1, "Re: t", "b@x", "a@x"),
            msg(2, 2, "Re: t", "c@x", "a@x"),
            msg(3, 3, "Re: t", "e@x", "d@x"),
            msg(4, 4, "Re: t", "f@x", "d@x"),
            msg(5, 5, "t", "g@x", ""),
        ];
        assert_eq!(references(&msgs).to_wire(&msgs), "((1)(2)(3)(4)(5))");
    }

    #[test]
    fn references_rfc_shape() {
        // RFC 5256 §4 example shape: (2)(3 6 (4 23)(44 7 96)).
        let mut v = vec![msg(2, 1, "solo", "2@x", "")];
        let rows: &[(u32, &str, &str)] = &[
            (3, "3@x", ""),
            (6, "6@x", "3@x"),
            (4, "4@x", "3@x 6@x"),
            (23, "23@x", "3@x 6@x 4@x"),
            (44, "44@x", "3@x 6@x"),
            (7, "7@x", "3@x 6@x 44@x"),
            (96, "96@x", "3@x 6@x 44@x 7@x"),
        ];
        for (i, (n, id, refs)) in rows.iter().enumerate() {
            let mut m = msg(*n, 10 + i as i64, "thread", id, refs);
            if *n != 3 {
                m.subject = "Re: thread".into();
            }
            v.push(m);
        }
        assert_eq!(references(&v).to_wire(&v), "(2)(3 6 (4 23)(44 7 96))");
    }

    #[test]
    fn deep_threads_do_not_recurse() {
        // One message with 20 000 references (a dummy chain) and a 20 000-deep
        // chain of real replies: no stack overflow, linear output.
        let refs: Vec<String> = (0..20_000).map(|i| format!("r{i}@x")).collect();
        let mut msgs = vec![ThreadMsg {
            number: 1,
            seq: 1,
            subject: "deep".into(),
            message_id: "top@x".into(),
            references: refs,
            ..ThreadMsg::default()
        }];
        let mut prev = "top@x".to_string();
        for n in 2..20_000u32 {
            let id = format!("m{n}@x");
            msgs.push(msg(n, i64::from(n), "Re: deep", &id, &prev));
            prev = id;
        }
        let out = references(&msgs).to_wire(&msgs);
        assert!(out.starts_with("(1 2 3 4 "), "{}", &out[..40]);
        assert!(out.ends_with(" 19999)"));
        let ordered = ordered_subject(&msgs).to_wire(&msgs);
        assert!(ordered.starts_with("(1 (2)(3)"));
    }
}
