//! SORT / UID SORT (RFC 5256 §3), with DISPLAYFROM and DISPLAYTO (RFC 5957) and
//! ESORT's `RETURN (MIN MAX COUNT ALL)` (RFC 5267 §3).
//!
//! The search criteria are evaluated by SEARCH's own code (`search.rs`,
//! [`Session::search_matched`]); the sort keys come from the view (ARRIVAL, SIZE)
//! and the index summary (DATE, SUBJECT, and FROM/TO/CC from the stored ENVELOPE), so
//! no message file is read. Strings compare with i;ascii-casemap (RFC 5256 §2,
//! RFC 4790 §9.2); messages equal on every key keep mailbox order.

use std::cmp::Ordering;
use std::io::Write as _;

use crate::cmd::context::Update;
use crate::cmd::search::{Matched, window, write_partial};
use crate::cmd::threading::{base_subject, collate};
use crate::proto::command::{SortCriterion, SortKey};
use crate::proto::response::{ResponseCode, write_string};
use crate::proto::search::{SearchKey, SearchReturn};
use crate::session::{Done, End, Session};

/// ENVELOPE fields (RFC 9051 §7.5.2) holding the address lists SORT uses.
const ENV_FROM: usize = 2;
const ENV_TO: usize = 5;
const ENV_CC: usize = 6;

/// One message's sort keys, computed once before sorting.
#[derive(Debug, Default, Clone)]
pub(crate) struct Keys {
    /// UID: the final tie-break. RFC 5256 §3 breaks ties by sequence number, which is
    /// the same order; the UID stays valid when expunges renumber the messages, so
    /// an updating SORT (RFC 5267 §4.3) can keep these keys.
    pub uid: u32,
    /// What the response shows (sequence number or UID).
    pub number: u32,
    /// INTERNALDATE.
    pub arrival: i64,
    /// RFC 5256 §2.2 sent date: the Date: header, else INTERNALDATE.
    pub date: i64,
    /// RFC822.SIZE.
    pub size: u64,
    /// Collation keys of the first From/To/Cc address's mailbox (local part).
    pub from: String,
    pub to: String,
    pub cc: String,
    /// Collation keys of the first From/To address's display name (RFC 5957 §2).
    pub display_from: String,
    pub display_to: String,
    /// Collation key of the RFC 5256 §2.1 base subject.
    pub subject: String,
}

impl Keys {
    pub(crate) fn of(m: &Matched, uid: bool) -> Keys {
        let envelope = m.summary.as_ref().map_or("", |s| s.envelope.as_str());
        Keys {
            uid: m.info.uid.0,
            number: if uid { m.info.uid.0 } else { m.seq },
            arrival: m.info.internaldate,
            date: m
                .summary
                .as_ref()
                .and_then(|s| s.sent_date)
                .unwrap_or(m.info.internaldate),
            size: m.info.size,
            from: collate(&first_mailbox(envelope, ENV_FROM)),
            to: collate(&first_mailbox(envelope, ENV_TO)),
            cc: collate(&first_mailbox(envelope, ENV_CC)),
            display_from: collate(&display_name(envelope, ENV_FROM)),
            display_to: collate(&display_name(envelope, ENV_TO)),
            subject: collate(
                &base_subject(m.summary.as_ref().map_or("", |s| s.subject.as_str())).text,
            ),
        }
    }
}

/// RFC 5256 §3: compares by each criterion in turn (REVERSE flips only its own key),
/// then by sequence number.
pub(crate) fn compare(a: &Keys, b: &Keys, criteria: &[SortCriterion]) -> Ordering {
    for c in criteria {
        let o = match c.key {
            SortKey::Arrival => a.arrival.cmp(&b.arrival),
            SortKey::Cc => a.cc.cmp(&b.cc),
            SortKey::Date => a.date.cmp(&b.date),
            SortKey::From => a.from.cmp(&b.from),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Subject => a.subject.cmp(&b.subject),
            SortKey::To => a.to.cmp(&b.to),
            SortKey::DisplayFrom => a.display_from.cmp(&b.display_from),
            SortKey::DisplayTo => a.display_to.cmp(&b.display_to),
        };
        let o = if c.reverse { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.uid.cmp(&b.uid)
}

/// The `addr-mailbox` of the first address in ENVELOPE field `field` (RFC 5256 §3
/// FROM/TO/CC: "the first ... address"), "" when the field is NIL or that mailbox is
/// NIL (an empty address).
///
/// The first entry counts whatever it is. For group syntax (`Cc: team: a@b;`) that
/// is the group start, `(NIL NIL "team" NIL)` (RFC 9051 §7.5.2), so the key is the
/// group name, as in Dovecot (which sorts on the first parsed address's mailbox and
/// for a group that is the group name; imaptest `sort-addresses` expects it).
pub(crate) fn first_mailbox(envelope: &str, field: usize) -> String {
    first_address(envelope, field)
        .and_then(|a| a.get(2).cloned().flatten())
        .unwrap_or_default()
}

/// RFC 5957 §2 DISPLAYFROM / DISPLAYTO: the display name of the first address in
/// ENVELOPE field `field`, RFC 2047-decoded, when it is present and not empty; else
/// that address's addr-spec (`mailbox@host`, or the mailbox alone without a host — a
/// group's name, as Dovecot sorts them); "" without an address.
pub(crate) fn display_name(envelope: &str, field: usize) -> String {
    let Some(parts) = first_address(envelope, field) else {
        return String::new();
    };
    let part = |i: usize| parts.get(i).cloned().flatten().unwrap_or_default();
    let name = decode_words(&part(0));
    if !name.trim().is_empty() {
        return name;
    }
    let (mailbox, host) = (part(2), part(3));
    if host.is_empty() {
        mailbox
    } else {
        format!("{mailbox}@{host}")
    }
}

/// Decodes RFC 2047 encoded words in a display name as stored in the ENVELOPE (IMAP
/// sends them encoded, RFC 9051 §7.5.2), with mail-parser's decoder.
fn decode_words(name: &str) -> String {
    if !name.contains("=?") {
        return name.to_string();
    }
    let mut line = name.as_bytes().to_vec();
    line.extend_from_slice(b"\r\n");
    match mail_parser::parsers::MessageStream::new(&line).parse_unstructured() {
        mail_parser::HeaderValue::Text(t) => t.into_owned(),
        _ => name.to_string(),
    }
}

/// The parts (name, adl, mailbox, host; `None` for NIL) of the first address in
/// ENVELOPE field `field`. The first entry counts whatever it is: for group syntax
/// (`Cc: team: a@b;`) that is the group start, `(NIL NIL "team" NIL)` (RFC 9051
/// §7.5.2).
fn first_address(envelope: &str, field: usize) -> Option<Vec<Option<String>>> {
    let mut r = Reader {
        b: envelope.as_bytes(),
        pos: 0,
    };
    let Some(Sx::List(fields)) = r.value(0) else {
        return None;
    };
    let Some(Sx::List(addresses)) = fields.get(field) else {
        return None;
    };
    match addresses.first() {
        Some(Sx::List(parts)) => Some(
            parts
                .iter()
                .map(|p| match p {
                    Sx::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// An IMAP value of a stored ENVELOPE.
#[derive(Debug)]
enum Sx {
    Nil,
    Str(String),
    List(Vec<Sx>),
}

/// A reader for the ENVELOPE text the store wrote (RFC 9051 §9 `envelope`): lists,
/// NIL, quoted strings and literals. Malformed text reads as what it can; nesting is
/// bounded.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

/// An envelope nests three lists deep; anything deeper is not one.
const MAX_DEPTH: usize = 8;

impl Reader<'_> {
    fn skip_sp(&mut self) {
        while self.b.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<Sx> {
        self.skip_sp();
        match *self.b.get(self.pos)? {
            b'(' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_sp();
                    match self.b.get(self.pos) {
                        Some(b')') => {
                            self.pos += 1;
                            return Some(Sx::List(items));
                        }
                        None => return Some(Sx::List(items)),
                        Some(_) => items.push(self.value(depth + 1)?),
                    }
                }
            }
            b'"' => {
                self.pos += 1;
                let mut s = Vec::new();
                while let Some(&c) = self.b.get(self.pos) {
                    self.pos += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            if let Some(&e) = self.b.get(self.pos) {
                                s.push(e);
                                self.pos += 1;
                            }
                        }
                        _ => s.push(c),
                    }
                }
                Some(Sx::Str(String::from_utf8_lossy(&s).into_owned()))
            }
            b'{' => {
                let close = self.b[self.pos..].iter().position(|&c| c == b'}')?;
                let n: usize = std::str::from_utf8(&self.b[self.pos + 1..self.pos + close])
                    .ok()?
                    .trim_end_matches('+')
                    .parse()
                    .ok()?;
                let start = self.pos + close + 3; // "}\r\n"
                let end = start.checked_add(n)?;
                let s = self.b.get(start..end)?;
                self.pos = end;
                Some(Sx::Str(String::from_utf8_lossy(s).into_owned()))
            }
            _ => {
                let start = self.pos;
                while self
                    .b
                    .get(self.pos)
                    .is_some_and(|&c| !matches!(c, b' ' | b'(' | b')'))
                {
                    self.pos += 1;
                }
                let atom = &self.b[start..self.pos];
                Some(if atom.eq_ignore_ascii_case(b"NIL") {
                    Sx::Nil
                } else {
                    Sx::Str(String::from_utf8_lossy(atom).into_owned())
                })
            }
        }
    }
}

impl Session {
    /// SORT / UID SORT [RETURN (…)] (criteria) charset search-keys: `* SORT n…` with
    /// the matching messages (sequence numbers, or UIDs for UID SORT) in the requested
    /// order, or with RETURN an ESEARCH response in that order (RFC 5267 §3 ESORT);
    /// RETURN (PARTIAL lo:hi) takes positions of the sort order (§4.4), RETURN
    /// (UPDATE) keeps the sorted result live (§4.3, `context.rs`). Charsets UTF-8 and
    /// US-ASCII, else NO [BADCHARSET]. Selected state. RFC 5256 §3.
    pub(crate) async fn handle_sort(
        &mut self,
        tag: &str,
        uid: bool,
        ret: Option<Vec<SearchReturn>>,
        criteria: Vec<SortCriterion>,
        charset: String,
        search: SearchKey,
    ) -> Result<Done, End> {
        if ret
            .as_ref()
            .is_some_and(|r| r.contains(&SearchReturn::Save))
        {
            // RFC 5267 §3 defines MIN, MAX, ALL and COUNT for ESORT; a saved result
            // (RFC 5182) is a set, which a sort order would not keep.
            return Ok(Done::bad("SORT RETURN (SAVE) is not supported"));
        }
        let update = match self.may_update(tag, ret.as_deref()) {
            Ok(keep) => keep,
            Err(done) => return Ok(done),
        };
        let keep = update.then(|| self.live_start(&search)).flatten();
        let matched = match self.search_matched(&charset, search).await {
            Ok(m) => m,
            Err(done) => return Ok(done),
        };
        let by = criteria.clone();
        let sorted = tokio::task::spawn_blocking(move || {
            let mut keys: Vec<Keys> = matched.iter().map(|m| Keys::of(m, uid)).collect();
            drop(matched);
            keys.sort_by(|a, b| compare(a, b, &by));
            keys
        })
        .await;
        let Ok(sorted) = sorted else {
            return Ok(Done::no(Some(ResponseCode::ServerBug), "Internal error"));
        };
        let numbers: Vec<u32> = sorted.iter().map(|k| k.number).collect();
        if let Some((search, checked)) = keep {
            self.keep_update(Update::sort(tag, uid, search, criteria, sorted, checked));
        }
        match ret {
            None => {
                self.wbuf.extend_from_slice(b"* SORT");
                for n in numbers {
                    let _ = write!(self.wbuf, " {n}");
                }
                self.wbuf.extend_from_slice(b"\r\n");
            }
            Some(opts) => write_esort(&mut self.wbuf, tag, uid, &opts, &numbers),
        }
        Ok(Done::ok(if uid {
            "UID SORT completed"
        } else {
            "SORT completed"
        }))
    }
}

/// RFC 5267 §3 ESORT: `* ESEARCH (TAG "t") [UID] …` for a SORT RETURN (…), where MIN
/// and MAX are the first and last message in sort order, ALL lists every match in
/// sort order (ascending runs written `a:b`), PARTIAL the matches at those positions
/// of the sort order (§4.4), and COUNT counts them. With no match, only COUNT (and
/// `PARTIAL (… NIL)`) appear (RFC 4731 §3.1).
fn write_esort(out: &mut Vec<u8>, tag: &str, uid: bool, opts: &[SearchReturn], sorted: &[u32]) {
    out.extend_from_slice(b"* ESEARCH (TAG ");
    write_string(out, tag.as_bytes(), false);
    out.push(b')');
    if uid {
        out.extend_from_slice(b" UID");
    }
    // RFC 4731 §3.1: an empty RETURN () means ALL.
    let all_only = [SearchReturn::All];
    let opts = if opts.is_empty() { &all_only[..] } else { opts };
    for opt in opts {
        match opt {
            SearchReturn::Min => {
                if let Some(n) = sorted.first() {
                    let _ = write!(out, " MIN {n}");
                }
            }
            SearchReturn::Max => {
                if let Some(n) = sorted.last() {
                    let _ = write!(out, " MAX {n}");
                }
            }
            SearchReturn::Count => {
                let _ = write!(out, " COUNT {}", sorted.len());
            }
            SearchReturn::All => {
                if !sorted.is_empty() {
                    let _ = write!(out, " ALL {}", ordered_set(sorted));
                }
            }
            SearchReturn::Partial(lo, hi) => {
                write_partial(out, *lo, *hi, &ordered_set(window(sorted, *lo, *hi)));
            }
            SearchReturn::Save | SearchReturn::Context | SearchReturn::Update => {}
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Numbers in the given order as a sequence-set, ascending runs of consecutive
/// numbers written `a:b` (RFC 5267 §3: ALL keeps the sort order).
pub(crate) fn ordered_set(numbers: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end.wrapping_add(1) {
            end = numbers[i + 1];
            i += 1;
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn esort_responses() {
        assert_eq!(ordered_set(&[1, 2, 3, 4, 5]), "1:5");
        assert_eq!(ordered_set(&[3, 1, 2, 7, 8, 5]), "3,1:2,7:8,5");
        assert_eq!(ordered_set(&[5, 4, 3]), "5,4,3");
        let write = |opts: &[SearchReturn], sorted: &[u32]| {
            let mut out = Vec::new();
            write_esort(&mut out, "A301", true, opts, sorted);
            String::from_utf8(out).expect("utf-8")
        };
        use SearchReturn::*;
        // RFC 5267 §3's example shape.
        assert_eq!(
            write(&[Min, Count], &[17, 3, 9]),
            "* ESEARCH (TAG \"A301\") UID MIN 17 COUNT 3\r\n"
        );
        assert_eq!(
            write(&[Max, All], &[17, 3, 4, 9]),
            "* ESEARCH (TAG \"A301\") UID MAX 9 ALL 17,3:4,9\r\n"
        );
        assert_eq!(
            write(&[], &[2, 1]),
            "* ESEARCH (TAG \"A301\") UID ALL 2,1\r\n"
        );
        assert_eq!(
            write(&[Min, Max, Count, All], &[]),
            "* ESEARCH (TAG \"A301\") UID COUNT 0\r\n"
        );
    }
    use super::*;

    #[test]
    fn first_mailboxes_from_envelopes() {
        let env = concat!(
            "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"subject\" ",
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ",
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ",
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ",
            "((NIL NIL \"imap\" \"cac.washington.edu\")(NIL NIL \"z\" \"x\")) ",
            "((NIL NIL \"minutes\" NIL)(\"Quoted \\\"x\\\"\" NIL \"StJohns\" \"mit.edu\")(NIL NIL NIL NIL)) ",
            "NIL NIL \"<B27397-0100000@cac.washington.edu>\")"
        );
        assert_eq!(first_mailbox(env, ENV_FROM), "gray");
        assert_eq!(first_mailbox(env, ENV_TO), "imap");
        // A group start is the first address: its mailbox is the group name.
        assert_eq!(first_mailbox(env, ENV_CC), "minutes");
        assert_eq!(first_mailbox(env, 7), "");
        // Literals (non-ASCII names) and garbage.
        let lit = "(NIL NIL ((\"J\" NIL {5}\r\nJörg \"x.de\")) NIL NIL NIL NIL NIL NIL NIL)";
        assert_eq!(first_mailbox(lit, ENV_FROM), "Jörg");
        for bad in [
            "",
            "(",
            "((((((((((((((",
            "(NIL NIL ((NIL NIL {999}\r\nx",
            "{x}",
            ")",
        ] {
            assert_eq!(first_mailbox(bad, ENV_FROM), "", "{bad:?}");
        }
    }

    /// imaptest `sort-addresses`: the first address's mailbox; a group's name; an
    /// empty address or group sorts as "".
    /// RFC 5957 §2, with imaptest's `sort-display-from` / `sort-display-to` cases.
    #[test]
    fn display_names() {
        let env = |field: &str| format!("(NIL NIL {field} NIL NIL NIL NIL NIL NIL NIL)");
        for (from, want) in [
            (r#"(("foo bar" NIL "a" "b.c"))"#, "foo bar"),
            (r#"((NIL NIL "b" "c.d"))"#, "b@c.d"),
            (r#"((NIL NIL "d" NIL))"#, "d"),
            (r#"(("=?iso-8859-1?q?foo_aar?=" NIL "e" "f.g"))"#, "foo aar"),
            (r#"(("" NIL "x" "y.z"))"#, "x@y.z"),
            (
                r#"((NIL NIL "a" NIL)(NIL NIL "xx" "xx.org")(NIL NIL NIL NIL))"#,
                "a",
            ),
            ("NIL", ""),
        ] {
            assert_eq!(display_name(&env(from), ENV_FROM), want, "{from}");
        }
        let keys = |names: &[&str]| -> Vec<u32> {
            let mut rows: Vec<Keys> = names
                .iter()
                .enumerate()
                .map(|(i, n)| Keys {
                    uid: i as u32 + 1,
                    number: i as u32 + 1,
                    display_to: collate(n),
                    ..Keys::default()
                })
                .collect();
            let c = [SortCriterion {
                reverse: false,
                key: SortKey::DisplayTo,
            }];
            rows.sort_by(|a, b| compare(a, b, &c));
            rows.iter().map(|k| k.uid).collect()
        };
        assert_eq!(
            keys(&[
                "foo bar", "b@c.d", "d", "foo aar", "foo car", "a", "z", "empty"
            ]),
            vec![6, 2, 3, 8, 4, 1, 5, 7]
        );
    }

    #[test]
    fn first_mailbox_table() {
        let cases: &[(&str, &str)] = &[
            ("((NIL NIL \"user2\" \"domain2.org\"))", "user2"),
            ("((\"foo bar\" NIL \"user2\" \"domain2.org\"))", "user2"),
            // Cc: user2: blah@domain1.org;
            (
                "((NIL NIL \"user2\" NIL)(NIL NIL \"blah\" \"domain1.org\")(NIL NIL NIL NIL))",
                "user2",
            ),
            // Cc: undisclosed-recipients:;
            (
                "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))",
                "undisclosed-recipients",
            ),
            // Cc: <>
            ("((NIL NIL \"\" NIL))", ""),
            ("((NIL NIL NIL NIL))", ""),
            ("NIL", ""),
            ("()", ""),
            // Only the first address counts.
            ("((NIL NIL \"zed\" \"x\")(NIL NIL \"abe\" \"x\"))", "zed"),
        ];
        for &(cc, want) in cases {
            let env = format!("(NIL NIL NIL NIL NIL NIL {cc} NIL NIL NIL)");
            assert_eq!(first_mailbox(&env, ENV_CC), want, "{cc}");
        }
    }

    /// imaptest `sort-addresses`: its three messages, summarized as delivery does,
    /// sorted by FROM, TO and CC (plain, REVERSE, and then REVERSE ARRIVAL).
    #[test]
    fn sort_addresses_with_group() {
        let messages = [
            "From: user2@domain2.org\r\nTo: foo bar <user2@domain2.org>\r\nCc: user2@domain2.org (foo bar)\r\n\r\n1\r\n",
            "From: user2@domain1.org\r\nTo: user2@domain1.org\r\nCc: user2: blah@domain1.org;\r\n\r\n2\r\n",
            "From: user1@domain1.org\r\nTo: user1@domain1.org\r\nCc: user1@domain1.org\r\n\r\n3\r\n",
        ];
        let rows: Vec<Keys> = messages
            .iter()
            .zip(1u32..)
            .map(|(m, seq)| {
                let envelope = mailyard_store::summary::summarize(m.as_bytes()).envelope;
                Keys {
                    uid: seq,
                    number: seq,
                    arrival: i64::from(seq),
                    from: collate(&first_mailbox(&envelope, ENV_FROM)),
                    to: collate(&first_mailbox(&envelope, ENV_TO)),
                    cc: collate(&first_mailbox(&envelope, ENV_CC)),
                    ..Keys::default()
                }
            })
            .collect();
        for key in [SortKey::From, SortKey::To, SortKey::Cc] {
            assert_eq!(order(&rows, &[(false, key)]), vec![3, 1, 2], "{key:?}");
            assert_eq!(order(&rows, &[(true, key)]), vec![1, 2, 3], "{key:?}");
            assert_eq!(
                order(&rows, &[(false, key), (true, SortKey::Arrival)]),
                vec![3, 2, 1],
                "{key:?}"
            );
        }
    }

    fn keys(seq: u32, date: i64, size: u64, from: &str, subject: &str) -> Keys {
        Keys {
            uid: seq,
            number: seq,
            arrival: i64::from(100 - seq),
            date,
            size,
            from: collate(from),
            subject: collate(&base_subject(subject).text),
            ..Keys::default()
        }
    }

    fn order(rows: &[Keys], criteria: &[(bool, SortKey)]) -> Vec<u32> {
        let criteria: Vec<SortCriterion> = criteria
            .iter()
            .map(|&(reverse, key)| SortCriterion { reverse, key })
            .collect();
        let mut v = rows.to_vec();
        v.sort_by(|a, b| compare(a, b, &criteria));
        v.iter().map(|k| k.number).collect()
    }

    #[test]
    fn criteria_in_turn_then_sequence() {
        let rows = vec![
            keys(1, 30, 10, "bob", "Re: zebra"),
            keys(2, 10, 30, "Alice", "apple"),
            keys(3, 20, 10, "alice", "Fwd: Apple"),
            keys(4, 10, 20, "carol", "[list] zebra"),
        ];
        assert_eq!(order(&rows, &[(false, SortKey::Date)]), vec![2, 4, 3, 1]);
        assert_eq!(order(&rows, &[(true, SortKey::Date)]), vec![1, 3, 2, 4]);
        assert_eq!(order(&rows, &[(false, SortKey::Arrival)]), vec![4, 3, 2, 1]);
        assert_eq!(order(&rows, &[(false, SortKey::Size)]), vec![1, 3, 4, 2]);
        // REVERSE applies to its key only; ties still go by sequence number.
        assert_eq!(order(&rows, &[(true, SortKey::Size)]), vec![2, 4, 1, 3]);
        // Base subjects, case-insensitively: apple (2, 3), zebra (1, 4).
        assert_eq!(order(&rows, &[(false, SortKey::Subject)]), vec![2, 3, 1, 4]);
        assert_eq!(
            order(&rows, &[(false, SortKey::Subject), (true, SortKey::Date)]),
            vec![3, 2, 1, 4]
        );
        assert_eq!(
            order(&rows, &[(false, SortKey::From), (false, SortKey::Size)]),
            vec![3, 2, 1, 4]
        );
    }
}
