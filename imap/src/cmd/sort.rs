//! SORT / UID SORT (RFC 5256 §3), with DISPLAYFROM and DISPLAYTO (RFC 5957) and
//! ESORT's `RETURN (MIN MAX COUNT ALL)` (RFC 5267 §3).
//!
//! The search criteria are evaluated by SEARCH's own code (`search.rs`,
//! [`Session::search_matched`]); the sort keys come from the view (ARRIVAL, SIZE)
//! and the index summary (DATE, SUBJECT, and FROM/TO/CC from the envelope facts of
//! the stored shape), so no message file is read. Strings compare with i;ascii-casemap (RFC 5256 §2,
//! RFC 4790 §9.2); messages equal on every key keep mailbox order.

use std::cmp::Ordering;
use std::io::Write as _;

use crate::cmd::context::Update;
use crate::cmd::search::{Matched, window, write_partial};
use crate::cmd::threading::{base_subject, collate};
use mailyard_message::Address;

use crate::proto::body_render;
use crate::proto::command::{SortCriterion, SortKey};
use crate::proto::response::write_string;
use crate::proto::search::{SearchKey, SearchReturn};
use crate::session::{Done, End, Session};

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
        let envelope = m
            .summary
            .as_ref()
            .and_then(|s| s.shape())
            .map(|s| s.envelope)
            .unwrap_or_default();
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
            from: collate(&first_mailbox(&envelope.from)),
            to: collate(&first_mailbox(&envelope.to)),
            cc: collate(&first_mailbox(&envelope.cc)),
            display_from: collate(&display_name(&envelope.from)),
            display_to: collate(&display_name(&envelope.to)),
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

/// The `addr-mailbox` of the first address of `list` (RFC 5256 §3 FROM/TO/CC: "the
/// first ... address"), "" when there is none or that mailbox is empty.
///
/// The first entry counts whatever it is. For group syntax (`Cc: team: a@b;`) that
/// is the group start, `(NIL NIL "team" NIL)` in ENVELOPE (RFC 9051 §7.5.2), so the
/// key is the group name, as in Dovecot (which sorts on the first parsed address's
/// mailbox and for a group that is the group name; imaptest `sort-addresses`
/// expects it).
pub(crate) fn first_mailbox(list: &[Address]) -> String {
    match list.first() {
        Some(Address::Mailbox(m)) => String::from_utf8_lossy(&m.mailbox).into_owned(),
        Some(Address::GroupStart(name)) => String::from_utf8_lossy(name).into_owned(),
        Some(Address::GroupEnd) | None => String::new(),
    }
}

/// RFC 5957 §2 DISPLAYFROM / DISPLAYTO: the display name of the first address of
/// `list` (white space collapsed as ENVELOPE shows it), RFC 2047-decoded, when it is
/// present and not empty; else that address's addr-spec (`mailbox@host`, or the
/// mailbox alone without a host — a group's name, as Dovecot sorts them); "" without
/// an address.
pub(crate) fn display_name(list: &[Address]) -> String {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let Some(Address::Mailbox(m)) = list.first() else {
        return first_mailbox(list);
    };
    let name = m
        .name
        .as_deref()
        .map(|n| decode_words(&lossy(&body_render::humanize(n))))
        .unwrap_or_default();
    if !name.trim().is_empty() {
        return name;
    }
    if m.host.is_empty() {
        lossy(&m.mailbox)
    } else {
        format!("{}@{}", lossy(&m.mailbox), lossy(&m.host))
    }
}

/// Decodes RFC 2047 encoded words in a display name as written (IMAP sends them
/// encoded, RFC 9051 §7.5.2), with mail-parser's decoder.
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
        let by = criteria.clone();
        let sort = move |matched: Vec<Matched>| {
            let mut keys: Vec<Keys> = matched.iter().map(|m| Keys::of(m, uid)).collect();
            drop(matched);
            keys.sort_by(|a, b| compare(a, b, &by));
            keys
        };
        let sorted = match self.search_matched(&charset, search, sort).await {
            Ok(k) => k,
            Err(done) => return Ok(done),
        };
        let numbers: Vec<u32> = sorted.iter().map(|k| k.number).collect();
        if let Some((search, checked)) = keep {
            self.keep_update(Update::sort(tag, uid, search, criteria, sorted, checked));
        }
        match ret {
            None => {
                self.conn.wbuf.extend_from_slice(b"* SORT");
                for n in numbers {
                    let _ = write!(self.conn.wbuf, " {n}");
                }
                self.conn.wbuf.extend_from_slice(b"\r\n");
            }
            Some(opts) => write_esort(&mut self.conn.wbuf, tag, uid, &opts, &numbers),
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
    use mailyard_message::address::parse_list;

    /// RFC 5957 §2, with imaptest's `sort-display-from` / `sort-display-to` cases.
    #[test]
    fn display_names() {
        for (from, want) in [
            ("\"foo  bar\" <a@b.c>", "foo bar"),
            ("b@c.d", "b@c.d"),
            // The lexer's recovery, as ENVELOPE shows it (Dovecot's).
            ("d", "d@MISSING_DOMAIN"),
            ("=?iso-8859-1?q?foo_aar?= <e@f.g>", "foo aar"),
            ("\"\" <x@y.z>", "x@y.z"),
            ("a: xx@xx.org;", "a"),
            ("", ""),
        ] {
            assert_eq!(display_name(&parse_list(from.as_bytes())), want, "{from}");
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

    /// imaptest `sort-addresses`: the first address's mailbox; a group's name; an
    /// empty address or group sorts as "".
    #[test]
    fn first_mailbox_table() {
        let cases: &[(&str, &str)] = &[
            ("user2@domain2.org", "user2"),
            ("foo bar <user2@domain2.org>", "user2"),
            // A group start is the first address: its mailbox is the group name.
            ("user2: blah@domain1.org;", "user2"),
            ("undisclosed-recipients:;", "undisclosed-recipients"),
            ("<>", "MISSING_MAILBOX"),
            ("", ""),
            // Only the first address counts.
            ("zed@x, abe@x", "zed"),
            ("J\u{f6}rg@x.de", "J\u{f6}rg"),
        ];
        for &(cc, want) in cases {
            assert_eq!(first_mailbox(&parse_list(cc.as_bytes())), want, "{cc}");
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
                let envelope = mailyard_message::Shape::parse(m.as_bytes()).envelope;
                Keys {
                    uid: seq,
                    number: seq,
                    arrival: i64::from(seq),
                    from: collate(&first_mailbox(&envelope.from)),
                    to: collate(&first_mailbox(&envelope.to)),
                    cc: collate(&first_mailbox(&envelope.cc)),
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
