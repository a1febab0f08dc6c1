//! SEARCH / UID SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4) with ESEARCH result
//! options MIN MAX ALL COUNT (RFC 4731 §3.1), SAVE and `$` (SEARCHRES, RFC 5182)
//! and MODSEQ (RFC 7162 §3.1.5).
//!
//! The whole key tree is evaluated per message: flags, sizes, UIDs, sequence numbers
//! and internal dates from the view; sent dates and the address/subject fields from
//! the index summary (decoded); HEADER, BODY and TEXT from the message file parsed
//! with mail-parser (decoded MIME text). What a message needs is loaded lazily, once.
//! Strings compare as case-insensitive substrings. Dates are compared in UTC.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::io::Write as _;

use mail_parser::{HeaderValue, Message, MessageParser, PartType};
use mailyard_store::{Address, Cancel, Flags, MailboxRef, MessageInfo, Stored, Summary, Uid};

use crate::cmd::context::Update;
use crate::cmd::section::split;
use crate::proto::response::{ResponseCode, write_string};
use crate::proto::search::{SearchKey, SearchReturn};
use crate::proto::sequence::{Sequence, SequenceSet};
use crate::session::view::{Msg, View};
use crate::session::{Done, End, Session};
use mailyard_message::header::{field_lines, line_name};

/// One message as SEARCH sees it: its view data, borrowed when the search runs on
/// the session's own task, owned when it goes to the store's scan.
struct Candidate<'v> {
    seq: u32,
    info: Cow<'v, MessageInfo>,
    recent: bool,
}

impl AsRef<MessageInfo> for Candidate<'_> {
    fn as_ref(&self) -> &MessageInfo {
        &self.info
    }
}

/// What evaluation knows of the mailbox, shared by every message.
struct Env {
    max_seq: u32,
    max_uid: u32,
    now: i64,
    /// The client left: stop evaluating (the result is thrown away).
    cancel: Cancel,
}

/// What a search runs over: the selected view's mailbox and its messages that are
/// not expunged (and that `pick` takes), with their sequence numbers, and what
/// evaluating a key knows. Shared by SEARCH, SORT and THREAD (RFC 5256 §3 searches
/// with SEARCH's keys) and the live results of RFC 5267 §4.3.
fn scope(
    user: Address,
    view: &View,
    pick: impl Fn(&Msg) -> bool,
) -> (MailboxRef, Vec<Candidate<'static>>, Env) {
    let candidates = borrowed(view, pick)
        .map(|c| Candidate {
            info: Cow::Owned(c.info.into_owned()),
            ..c
        })
        .collect();
    let mailbox = MailboxRef {
        user,
        name: view.name.clone(),
        id: view.id,
    };
    (mailbox, candidates, env(view))
}

/// The view's messages that are not expunged (and that `pick` takes), borrowed.
fn borrowed<'v>(
    view: &'v View,
    pick: impl Fn(&Msg) -> bool + 'v,
) -> impl Iterator<Item = Candidate<'v>> + 'v {
    view.msgs
        .iter()
        .enumerate()
        .filter(move |(_, m)| !m.expunged && pick(m))
        .map(|(i, m)| Candidate {
            seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
            info: Cow::Borrowed(&m.info),
            recent: m.recent,
        })
}

/// Whether `key` needs nothing but the view: flags, keywords, sizes, internal dates,
/// MODSEQ, UIDs and sequence numbers (no summary, no file). Such a search runs on
/// the session's task over the view it already holds: no copy of the messages, no
/// hop to the blocking pool.
fn view_only(key: &SearchKey) -> bool {
    use SearchKey as K;
    match key {
        K::From(_)
        | K::To(_)
        | K::Cc(_)
        | K::Bcc(_)
        | K::Subject(_)
        | K::Header(..)
        | K::Body(_)
        | K::Text(_)
        | K::SentBefore(_)
        | K::SentOn(_)
        | K::SentSince(_) => false,
        K::Not(k) => view_only(k),
        K::Or(a, b) => view_only(a) && view_only(b),
        K::And(keys) => keys.iter().all(view_only),
        _ => true,
    }
}

fn env(view: &View) -> Env {
    Env {
        max_seq: u32::try_from(view.msgs.len()).unwrap_or(u32::MAX),
        max_uid: view.max_uid(),
        now: mailyard_common::time::now(),
        cancel: Cancel::default(),
    }
}

/// One message under evaluation: its view data and, when the search runs in the
/// store's scan, its stored message (summary and file, each read on first use).
/// The view-only search ([`view_only`]) has no stored message and asks for none.
struct Lazy<'a> {
    env: &'a Env,
    c: &'a Candidate<'a>,
    stored: Option<&'a Stored<'a>>,
    body_text: OnceCell<String>,
}

/// `key` with every string it compares lower-cased, once per command rather than
/// once per message (see [`needle`]).
fn fold_needles(key: SearchKey) -> SearchKey {
    use SearchKey as K;
    let fold = |b: Vec<u8>| String::from_utf8_lossy(&b).to_lowercase().into_bytes();
    match key {
        K::Body(s) => K::Body(fold(s)),
        K::Text(s) => K::Text(fold(s)),
        K::Header(f, s) => K::Header(f, fold(s)),
        K::From(s) => K::From(fold(s)),
        K::To(s) => K::To(fold(s)),
        K::Cc(s) => K::Cc(fold(s)),
        K::Bcc(s) => K::Bcc(fold(s)),
        K::Subject(s) => K::Subject(fold(s)),
        K::Not(k) => K::Not(Box::new(fold_needles(*k))),
        K::Or(a, b) => K::Or(Box::new(fold_needles(*a)), Box::new(fold_needles(*b))),
        K::And(keys) => K::And(keys.into_iter().map(fold_needles).collect()),
        other => other,
    }
}

/// A string of a key that went through [`fold_needles`] (so it is UTF-8, lower case).
fn needle(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

fn contains(hay: &str, needle: &str) -> bool {
    needle.is_empty() || hay.to_lowercase().contains(needle)
}

fn days(unix: i64) -> i64 {
    unix.div_euclid(86_400)
}

/// Text of a header value as mail-parser decoded it.
fn header_text(v: &HeaderValue<'_>) -> String {
    match v {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.join(" "),
        HeaderValue::Address(a) => a
            .iter()
            .map(|x| {
                format!(
                    "{} <{}>",
                    x.name.as_deref().unwrap_or(""),
                    x.address.as_deref().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        HeaderValue::DateTime(d) => d.to_rfc822(),
        HeaderValue::ContentType(ct) => {
            let mut s = ct.ctype().to_string();
            if let Some(sub) = ct.subtype() {
                s.push('/');
                s.push_str(sub);
            }
            s
        }
        HeaderValue::Received(_) | HeaderValue::Empty => String::new(),
    }
}

/// Decoded text of every text part, nested messages included.
fn collect_text(msg: &Message<'_>, out: &mut String, depth: usize) {
    if depth > 20 {
        return;
    }
    for part in &msg.parts {
        match &part.body {
            PartType::Text(t) | PartType::Html(t) => {
                out.push_str(t);
                out.push('\n');
            }
            PartType::Message(m) => collect_text(m, out, depth + 1),
            _ => {}
        }
    }
}

impl<'a> Lazy<'a> {
    /// Nothing loaded yet.
    fn new(env: &'a Env, c: &'a Candidate<'a>, stored: Option<&'a Stored<'a>>) -> Self {
        Lazy {
            env,
            c,
            stored,
            body_text: OnceCell::new(),
        }
    }

    fn summary(&self) -> Option<&'a Summary> {
        self.stored.and_then(Stored::summary)
    }

    fn raw(&self) -> Option<&'a [u8]> {
        self.stored.and_then(Stored::bytes)
    }

    fn body_text(&self) -> &str {
        self.body_text.get_or_init(|| {
            let mut s = String::new();
            let src = self.raw().map(mailyard_message::limits::structure_source);
            if let Some(msg) = src
                .as_deref()
                .and_then(|r| MessageParser::default().parse(r))
            {
                collect_text(&msg, &mut s, 0);
            }
            s.to_lowercase()
        })
    }

    fn header(&self, field: &str, needle: &str) -> bool {
        let Some(raw) = self.raw() else {
            return false;
        };
        let (header, _) = split(raw);
        // Raw, unfolded values first (exact bytes as sent).
        let mut found_field = false;
        for item in field_lines(header) {
            if !line_name(item).is_some_and(|n| n.eq_ignore_ascii_case(field.as_bytes())) {
                continue;
            }
            found_field = true;
            let after_colon = item
                .iter()
                .position(|&b| b == b':')
                .map_or(item.len(), |c| c + 1);
            let value: String = item[after_colon..]
                .split_inclusive(|&b| b == b'\n')
                .map(|line| String::from_utf8_lossy(line).trim_end().to_owned())
                .collect();
            if contains(&value, needle) {
                return true;
            }
        }
        if !found_field {
            return false;
        }
        // Then the decoded values (RFC 2047 encoded-words).
        let Some(msg) = MessageParser::default().parse_headers(header) else {
            return false;
        };
        msg.headers().iter().any(|h| {
            h.name.as_str().eq_ignore_ascii_case(field) && contains(&header_text(&h.value), needle)
        })
    }

    /// The Date: header's calendar date as written, "disregarding time and timezone"
    /// (RFC 9051 §6.4.4 SENT*); else its UTC date; else the internal date's.
    fn sent_days(&self) -> i64 {
        let summary = self.summary();
        let written = summary
            .and_then(|s| s.shape())
            .and_then(|s| s.envelope.date)
            .and_then(|d| written_date(&String::from_utf8_lossy(&d)));
        if let Some(d) = written {
            return d;
        }
        days(
            summary
                .and_then(|s| s.sent_date)
                .unwrap_or(self.c.info.internaldate),
        )
    }

    /// Whether the message matches `key`, whose strings went through
    /// [`fold_needles`]. Once the client is gone, every key is false.
    fn matches(&self, key: &SearchKey) -> bool {
        if self.env.cancel.is_cancelled() {
            return false;
        }
        let info = &self.c.info;
        let flags = info.flags.flags;
        match key {
            SearchKey::All => true,
            SearchKey::Answered => flags.contains(Flags::ANSWERED),
            SearchKey::Unanswered => !flags.contains(Flags::ANSWERED),
            SearchKey::Deleted => flags.contains(Flags::DELETED),
            SearchKey::Undeleted => !flags.contains(Flags::DELETED),
            SearchKey::Draft => flags.contains(Flags::DRAFT),
            SearchKey::Undraft => !flags.contains(Flags::DRAFT),
            SearchKey::Flagged => flags.contains(Flags::FLAGGED),
            SearchKey::Unflagged => !flags.contains(Flags::FLAGGED),
            SearchKey::Seen => flags.contains(Flags::SEEN),
            SearchKey::Unseen => !flags.contains(Flags::SEEN),
            SearchKey::Recent => self.c.recent,
            SearchKey::Old => !self.c.recent,
            SearchKey::New => self.c.recent && !flags.contains(Flags::SEEN),
            SearchKey::Keyword(k) => info.flags.keywords.iter().any(|x| x == k),
            SearchKey::Unkeyword(k) => !info.flags.keywords.iter().any(|x| x == k),
            SearchKey::Larger(n) => info.size > *n,
            SearchKey::Smaller(n) => info.size < *n,
            SearchKey::Before(d) => days(info.internaldate) < d.days_since_epoch(),
            SearchKey::On(d) => days(info.internaldate) == d.days_since_epoch(),
            SearchKey::Since(d) => days(info.internaldate) >= d.days_since_epoch(),
            SearchKey::SentBefore(d) => self.sent_days() < d.days_since_epoch(),
            SearchKey::SentOn(d) => self.sent_days() == d.days_since_epoch(),
            SearchKey::SentSince(d) => self.sent_days() >= d.days_since_epoch(),
            SearchKey::Younger(s) => self.env.now - info.internaldate <= i64::from(*s),
            SearchKey::Older(s) => self.env.now - info.internaldate >= i64::from(*s),
            SearchKey::ModSeq { modseq, .. } => info.modseq.0 >= *modseq,
            SearchKey::From(s) => self.address_field(s, |x| &x.from, "From"),
            SearchKey::To(s) => self.address_field(s, |x| &x.to, "To"),
            SearchKey::Cc(s) => self.address_field(s, |x| &x.cc, "Cc"),
            SearchKey::Bcc(s) => self.address_field(s, |x| &x.bcc, "Bcc"),
            SearchKey::Subject(s) => self.address_field(s, |x| &x.subject, "Subject"),
            SearchKey::Header(field, s) => self.header(field, needle(s)),
            SearchKey::Body(s) => self.body_text().contains(needle(s)),
            SearchKey::Text(s) => {
                let needle = needle(s);
                self.body_text().contains(needle)
                    || self
                        .raw()
                        .is_some_and(|r| contains(&String::from_utf8_lossy(split(r).0), needle))
            }
            SearchKey::Uid(Sequence::Set(set)) => set.contains(info.uid.0, self.env.max_uid),
            SearchKey::Sequence(Sequence::Set(set)) => set.contains(self.c.seq, self.env.max_seq),
            // `$` is substituted before evaluation (`Extensions::resolve_key`).
            SearchKey::Uid(_) | SearchKey::Sequence(_) => false,
            SearchKey::Not(k) => !self.matches(k),
            SearchKey::Or(a, b) => self.matches(a) || self.matches(b),
            SearchKey::And(keys) => keys.iter().all(|k| self.matches(k)),
        }
    }

    /// A decoded summary field, or (when it does not match) the header itself, which
    /// also covers undecoded raw text.
    fn address_field(&self, s: &[u8], field: fn(&Summary) -> &String, name: &str) -> bool {
        let needle = needle(s);
        if self.summary().is_some_and(|x| contains(field(x), needle)) {
            return true;
        }
        self.header(name, needle)
    }
}

/// The calendar date written in a Date: value (`Mon, 7 Feb 1994 21:52:25 -0800`, as
/// the envelope facts keep it), as days since the epoch: the date as written, before
/// any zone shift (mail-parser's RFC 5322 §3.3 reading, obsolete forms included).
fn written_date(date: &str) -> Option<i64> {
    let d = mail_parser::DateTime::parse_rfc822(date).filter(|d| d.is_valid())?;
    Some(mailyard_common::time::days_from_civil(
        d.year, d.month, d.day,
    ))
}

/// The search charsets we take (RFC 9051 §6.4.4: UTF-8 and US-ASCII must be
/// supported); another is NO [BADCHARSET (UTF-8 US-ASCII)].
fn check_charset(charset: &str) -> Result<(), Done> {
    if charset.eq_ignore_ascii_case("UTF-8") || charset.eq_ignore_ascii_case("US-ASCII") {
        return Ok(());
    }
    Err(Done::no(
        Some(ResponseCode::BadCharset(vec![
            "UTF-8".into(),
            "US-ASCII".into(),
        ])),
        "Unsupported charset",
    ))
}

/// Whether the program has a MODSEQ key (RFC 7162 §3.1.5: the result then carries
/// the highest MODSEQ of the matches).
fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}

/// The MODSEQ a search with a MODSEQ key reports: the highest mod-sequence of the
/// messages *returned* (RFC 4731 §3.2, RFC 7162 §3.1.5). For classic SEARCH, ALL and
/// COUNT that is every match; for MIN and/or MAX alone, only the message(s) they
/// return, so `RETURN (MIN)` gives the MODSEQ of the lowest match. `found` is
/// ascending; `opts` None is a classic SEARCH. None when nothing matched.
fn result_modseq(found: &[(u32, Uid, u64)], opts: Option<&[SearchReturn]>) -> Option<u64> {
    let every = || found.iter().map(|f| f.2).max();
    let Some(opts) = opts else {
        return every();
    };
    if opts.contains(&SearchReturn::All) || opts.contains(&SearchReturn::Count) {
        return every();
    }
    let min = opts
        .contains(&SearchReturn::Min)
        .then(|| found.first().map(|f| f.2))
        .flatten();
    let max = opts
        .contains(&SearchReturn::Max)
        .then(|| found.last().map(|f| f.2))
        .flatten();
    match (min, max) {
        (None, None) => every(),
        (a, b) => a.max(b),
    }
}

/// RFC 5182 §2.1: what SAVE keeps: the MIN and/or MAX match when only those are
/// requested beside SAVE, else every match. `found` is ascending.
fn saved_part(found: &[(u32, Uid, u64)], opts: &[SearchReturn]) -> Vec<Uid> {
    let min = opts.contains(&SearchReturn::Min);
    let max = opts.contains(&SearchReturn::Max);
    let all = opts.contains(&SearchReturn::All) || opts.contains(&SearchReturn::Count);
    if all || !(min || max) {
        return found.iter().map(|f| f.1).collect();
    }
    let mut out = Vec::new();
    if min && let Some(f) = found.first() {
        out.push(f.1);
    }
    if max && let Some(f) = found.last() {
        out.push(f.1);
    }
    out
}

impl Session {
    /// SEARCH / UID SEARCH [RETURN (…)] [CHARSET c] keys: classic `* SEARCH n…`
    /// (with `(MODSEQ n)` when the program has a MODSEQ key, RFC 7162 §3.1.5) or,
    /// with RETURN or after ENABLE IMAP4rev2 (RFC 9051 §6.4.4, where no RETURN means
    /// ALL), `* ESEARCH (TAG "t") [UID] MIN MAX COUNT ALL PARTIAL [MODSEQ n]`. RETURN
    /// (SAVE) keeps the result for `$` (RFC 5182 §2.1; alone, it sends no ESEARCH); `$`
    /// in the program is that result. `PARTIAL lo:hi` returns the matches at those
    /// positions (RFC 5267 §4.4); `UPDATE` keeps the result live (§4.3, `context.rs`);
    /// `CONTEXT` is a hint with nothing to do (§4.2). Charsets UTF-8 and US-ASCII;
    /// others NO [BADCHARSET]. Selected state. RFC 9051 §6.4.4, RFC 4731, RFC 5182,
    /// RFC 5267.
    pub(crate) async fn handle_search(
        &mut self,
        tag: &str,
        uid: bool,
        ret: Option<Vec<SearchReturn>>,
        charset: Option<String>,
        criteria: SearchKey,
    ) -> Result<Done, End> {
        let save = ret
            .as_ref()
            .is_some_and(|r| r.contains(&SearchReturn::Save));
        if let Some(Err(done)) = charset.as_deref().map(check_charset) {
            if save {
                // RFC 5182 §2.4: a failed saving SEARCH empties `$`.
                self.ext.saved.clear();
            }
            return Ok(done);
        }
        let update = match self.may_update(tag, ret.as_deref()) {
            Ok(keep) => keep,
            Err(done) => return Ok(done),
        };
        let want_modseq = uses_modseq(&criteria);
        if want_modseq {
            // RFC 7162 §3.1: SEARCH MODSEQ is CONDSTORE-enabling.
            self.enable_condstore();
        }
        let Some(user) = self.user() else {
            return Ok(Done::bad("Not logged in"));
        };
        let Some(view) = self.view() else {
            return Ok(Done::bad("No mailbox selected"));
        };
        let criteria = fold_needles(self.ext.resolve_key(criteria, view));
        let keep = update.then(|| self.live_start(&criteria)).flatten();
        let Some(view) = self.view() else {
            return Ok(Done::bad("No mailbox selected"));
        };
        let hit = move |c: &Candidate<'_>| {
            let n = if uid { c.info.uid.0 } else { c.seq };
            (n, c.info.uid, c.info.modseq.0)
        };
        let found = if view_only(&criteria) {
            let env = env(view);
            Ok(borrowed(view, |_| true)
                .filter(|c| Lazy::new(&env, c, None).matches(&criteria))
                .map(|c| hit(&c))
                .collect::<Vec<(u32, Uid, u64)>>())
        } else {
            let scoped = scope(user, view, |_| true);
            self.scan_scoped(
                scoped,
                move |env, c, stored| {
                    Lazy::new(env, c, Some(stored))
                        .matches(&criteria)
                        .then(|| hit(c))
                },
                |found, _| Ok(found),
            )
            .await?
        };
        let mut found = match found {
            Ok(f) => f,
            Err(e) => {
                if save {
                    self.ext.saved.clear();
                }
                return Ok(crate::session::store_error(e));
            }
        };
        found.sort_unstable();
        if let Some((criteria, checked)) = keep {
            let uids: Vec<Uid> = found.iter().map(|f| f.1).collect();
            self.keep_update(Update::search(tag, uid, criteria, &uids, checked));
        }
        let numbers: Vec<u32> = found.iter().map(|f| f.0).collect();
        let ret = match ret {
            Some(r) => Some(r),
            None if self.ext.rev2 => Some(vec![SearchReturn::All]),
            None => None,
        };
        let mut out = Vec::new();
        match ret {
            None => {
                out.extend_from_slice(b"* SEARCH");
                for n in &numbers {
                    let _ = write!(out, " {n}");
                }
                if want_modseq && let Some(h) = result_modseq(&found, None) {
                    let _ = write!(out, " (MODSEQ {h})");
                }
                out.extend_from_slice(b"\r\n");
            }
            Some(opts) => {
                let partial = SearchReturn::partial(&opts);
                // RFC 5267 §4.4: MODSEQ and (as Dovecot does) SAVE without COUNT look
                // at the PARTIAL window only.
                let returned = partial.map_or(&found[..], |(lo, hi)| window(&found, lo, hi));
                if save {
                    let part = if opts.contains(&SearchReturn::Count) {
                        &found[..]
                    } else {
                        returned
                    };
                    self.ext.save(saved_part(part, &opts));
                }
                // RFC 5182 §2.1: SAVE alone sends no ESEARCH.
                if opts.iter().any(|o| *o != SearchReturn::Save) {
                    out.extend_from_slice(b"* ESEARCH (TAG ");
                    write_string(&mut out, tag.as_bytes(), false);
                    out.push(b')');
                    if uid {
                        out.extend_from_slice(b" UID");
                    }
                    for opt in &opts {
                        match opt {
                            SearchReturn::Min => {
                                if let Some(n) = numbers.first() {
                                    let _ = write!(out, " MIN {n}");
                                }
                            }
                            SearchReturn::Max => {
                                if let Some(n) = numbers.last() {
                                    let _ = write!(out, " MAX {n}");
                                }
                            }
                            SearchReturn::Count => {
                                let _ = write!(out, " COUNT {}", numbers.len());
                            }
                            SearchReturn::All => {
                                if !numbers.is_empty() {
                                    let set = SequenceSet::from_sorted(numbers.iter().copied());
                                    let _ = write!(out, " ALL {}", set.to_wire());
                                }
                            }
                            SearchReturn::Partial(lo, hi) => {
                                let set = SequenceSet::from_sorted(
                                    window(&numbers, *lo, *hi).iter().copied(),
                                );
                                write_partial(&mut out, *lo, *hi, &set.to_wire());
                            }
                            SearchReturn::Save | SearchReturn::Context | SearchReturn::Update => {}
                        }
                    }
                    // RFC 7162 §3.1.5: MODSEQ in ESEARCH.
                    if want_modseq && let Some(h) = result_modseq(returned, Some(opts.as_slice())) {
                        let _ = write!(out, " MODSEQ {h}");
                    }
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        self.conn.wbuf.extend_from_slice(&out);
        Ok(Done::ok("SEARCH completed"))
    }
}

/// The items at positions `lo..=hi` (1-based) of `items` (RFC 5267 §4.4 PARTIAL).
pub(crate) fn window<T>(items: &[T], lo: u32, hi: u32) -> &[T] {
    let start = (lo as usize).saturating_sub(1).min(items.len());
    let end = (hi as usize).min(items.len()).max(start);
    &items[start..end]
}

/// ` PARTIAL (lo:hi set)`, or `NIL` for an empty window (RFC 5267 §4.4).
pub(crate) fn write_partial(out: &mut Vec<u8>, lo: u32, hi: u32, set: &str) {
    let set = if set.is_empty() { "NIL" } else { set };
    let _ = write!(out, " PARTIAL ({lo}:{hi} {set})");
}

/// A message SORT or THREAD selected, with its index summary (RFC 5256 §3: their
/// search criteria are SEARCH's, evaluated here by the same code).
pub(crate) struct Matched {
    pub seq: u32,
    pub info: MessageInfo,
    pub summary: Option<Summary>,
}

impl Session {
    /// Evaluates `criteria` exactly as SEARCH does (`$` included) over the selected
    /// mailbox, for SORT and THREAD: `then` of the matching messages in mailbox
    /// order, each with its index summary (loaded once, in one read transaction);
    /// `then` (the sort, the threading) runs in the same store job, off the session's
    /// task. Charsets UTF-8 and US-ASCII, else `Err(NO [BADCHARSET])`. RFC 5256 §3.
    pub(crate) async fn search_matched<T: Send + 'static>(
        &mut self,
        charset: &str,
        criteria: SearchKey,
        then: impl FnOnce(Vec<Matched>) -> T + Send + 'static,
    ) -> Result<T, Done> {
        check_charset(charset)?;
        self.matched_where(criteria, |_| true, then).await
    }

    /// The one scan of SEARCH, SORT and THREAD: `each` over the messages [`scope`]
    /// took, with their search environment, then `finish`, in one store job
    /// (`Store::scan_messages`) that the session watches: cancelled when the client
    /// leaves (`Err(End)`).
    async fn scan_scoped<R, T>(
        &mut self,
        (mailbox, candidates, env): (MailboxRef, Vec<Candidate<'static>>, Env),
        each: impl Fn(&Env, &Candidate<'static>, &mut Stored<'_>) -> Option<R> + Send + 'static,
        finish: impl FnOnce(Vec<R>, &mailyard_store::Reader<'_>) -> mailyard_store::Result<T>
        + Send
        + 'static,
    ) -> Result<mailyard_store::Result<T>, End>
    where
        R: Send + 'static,
        T: Send + 'static,
    {
        let cancel = env.cancel.clone();
        let store = self.store().clone();
        let job = store.scan_messages(
            mailbox,
            candidates,
            cancel.clone(),
            move |c, stored| each(&env, c, stored),
            finish,
        );
        self.watched(cancel, job).await
    }

    /// [`Session::search_matched`] over the messages `pick` takes only (RFC 5267 §4.3:
    /// a live result looks again at the messages that changed).
    pub(crate) async fn matched_where<T: Send + 'static>(
        &mut self,
        criteria: SearchKey,
        pick: impl Fn(&Msg) -> bool,
        then: impl FnOnce(Vec<Matched>) -> T + Send + 'static,
    ) -> Result<T, Done> {
        let (Some(user), Some(view)) = (self.user(), self.view()) else {
            return Err(Done::bad("No mailbox selected"));
        };
        let criteria = fold_needles(self.ext.resolve_key(criteria, view));
        let scoped = scope(user, view, pick);
        let job = self.scan_scoped(
            scoped,
            move |env, c, stored| {
                let lazy = Lazy::new(env, c, Some(stored));
                if !lazy.matches(&criteria) {
                    return None;
                }
                drop(lazy);
                Some(Matched {
                    seq: c.seq,
                    info: c.info.clone().into_owned(),
                    summary: stored.take_summary(),
                })
            },
            |mut found: Vec<Matched>, reader| {
                // The summaries the keys did not need, in one read transaction.
                let missing: Vec<usize> = (0..found.len())
                    .filter(|&i| found[i].summary.is_none())
                    .collect();
                if !missing.is_empty() {
                    let uids: Vec<_> = missing.iter().map(|&i| found[i].info.uid).collect();
                    for (i, s) in missing.into_iter().zip(reader.summaries(&uids)?) {
                        found[i].summary = s;
                    }
                }
                Ok(then(found))
            },
        );
        match job.await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => Err(crate::session::store_error(e)),
            // The session ends at its next read.
            Err(_) => Err(Done::no(
                Some(ResponseCode::Unavailable),
                "Search abandoned",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which searches run on the session's task over its view (no summary, no file).
    #[test]
    fn view_only_table() {
        use SearchKey as K;
        let not = |k| K::Not(Box::new(k));
        let or = |a, b| K::Or(Box::new(a), Box::new(b));
        let cases = [
            (K::Unseen, true),
            (
                K::And(vec![
                    K::Undeleted,
                    K::Keyword("$Junk".into()),
                    K::Larger(10),
                ]),
                true,
            ),
            (or(K::Recent, not(K::Flagged)), true),
            (
                K::ModSeq {
                    modseq: 4,
                    entry: None,
                },
                true,
            ),
            (K::Subject(b"x".to_vec()), false),
            (
                K::And(vec![
                    K::Unseen,
                    K::SentSince(crate::proto::types::Date {
                        year: 2026,
                        month: 1,
                        day: 1,
                    }),
                ]),
                false,
            ),
            (or(K::Seen, K::Text(b"x".to_vec())), false),
            (not(K::Header("List-Id".into(), Vec::new())), false),
        ];
        for (key, want) in cases {
            assert_eq!(view_only(&key), want, "{key:?}");
        }
    }

    /// imaptest `esearch-condstore`: messages 1..4 changed in the order 1, 3, 2, 4.
    #[test]
    fn result_modseq_table() {
        use SearchReturn::*;
        let found: Vec<(u32, Uid, u64)> = [(1, 10), (2, 30), (3, 20)]
            .iter()
            .map(|&(n, m)| (n, Uid(n), m))
            .collect();
        let cases: &[(Option<&[SearchReturn]>, Option<u64>)] = &[
            (None, Some(30)),
            (Some(&[Min]), Some(10)),
            (Some(&[Max]), Some(20)),
            (Some(&[Min, Max]), Some(20)),
            (Some(&[All]), Some(30)),
            (Some(&[Count]), Some(30)),
            (Some(&[Min, Count]), Some(30)),
            (Some(&[Max, All]), Some(30)),
            (Some(&[Save]), Some(30)),
            (Some(&[Min, Save]), Some(10)),
        ];
        for &(opts, want) in cases {
            assert_eq!(result_modseq(&found, opts), want, "{opts:?}");
        }
        let two = &found[1..];
        assert_eq!(result_modseq(two, Some(&[Min, Max])), Some(30));
        assert_eq!(result_modseq(two, Some(&[Min])), Some(30));
        assert_eq!(result_modseq(two, Some(&[Max])), Some(20));
        assert_eq!(result_modseq(&[], Some(&[Min])), None);
        assert_eq!(result_modseq(&[], None), None);
    }

    #[test]
    fn written_dates() {
        let env = "Mon, 7 Feb 1994 21:52:25 -0800";
        let want = crate::proto::types::Date {
            year: 1994,
            month: 2,
            day: 7,
        }
        .days_since_epoch();
        assert_eq!(written_date(env), Some(want));
        assert_eq!(written_date(""), None);
        assert_eq!(written_date("garbage"), None);
    }
}
