//! SEARCH / UID SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4) with ESEARCH result
//! options MIN MAX ALL COUNT (RFC 4731 §3.1).
//!
//! The whole key tree is evaluated per message: flags, sizes, UIDs, sequence numbers
//! and internal dates from the view; sent dates and the address/subject fields from
//! the index summary (decoded); HEADER, BODY and TEXT from the message file parsed
//! with mail-parser (decoded MIME text). What a message needs is loaded lazily, once.
//! Strings compare as case-insensitive substrings. Dates are compared in UTC.

use std::cell::OnceCell;
use std::io::Write as _;

use mail_parser::{HeaderValue, Message, MessageParser, PartType};
use mailyard_store::summary::Summary;
use mailyard_store::{Address, Flags, MailboxId, MessageInfo, Store};

use crate::cmd::section::split_message;
use crate::proto::response::{ResponseCode, write_string};
use crate::proto::search::{SearchKey, SearchReturn};
use crate::proto::sequence::{Sequence, SequenceSet};
use crate::session::{Done, End, Session};

/// One message as SEARCH sees it.
struct Candidate {
    seq: u32,
    info: MessageInfo,
    recent: bool,
}

/// What evaluation may load, shared by every message.
struct Env {
    store: Store,
    user: Address,
    mailbox: MailboxId,
    mailbox_name: String,
    max_seq: u32,
    max_uid: u32,
    now: i64,
}

/// Lazily loaded data of one message.
struct Lazy<'a> {
    env: &'a Env,
    c: &'a Candidate,
    summary: OnceCell<Option<Summary>>,
    raw: OnceCell<Option<Vec<u8>>>,
    body_text: OnceCell<String>,
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_lowercase()
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
    fn summary(&self) -> Option<&Summary> {
        self.summary
            .get_or_init(|| {
                let (id, uid) = (self.env.mailbox, self.c.info.uid);
                self.env
                    .store
                    .read(|c| mailyard_store::index::summary(c, id, uid))
                    .ok()
                    .flatten()
            })
            .as_ref()
    }

    fn raw(&self) -> Option<&[u8]> {
        self.raw
            .get_or_init(|| {
                self.env
                    .store
                    .message_path(&self.env.user, &self.env.mailbox_name, &self.c.info)
                    .ok()
                    .and_then(|p| std::fs::read(p).ok())
            })
            .as_deref()
    }

    fn body_text(&self) -> &str {
        self.body_text.get_or_init(|| {
            let mut s = String::new();
            if let Some(msg) = self.raw().and_then(|r| MessageParser::default().parse(r)) {
                collect_text(&msg, &mut s, 0);
            }
            s.to_lowercase()
        })
    }

    fn header(&self, field: &str, needle: &str) -> bool {
        let Some(raw) = self.raw() else {
            return false;
        };
        let (header, _) = split_message(raw);
        // Raw, unfolded values first (exact bytes as sent).
        let mut found_field = false;
        let mut value = String::new();
        let mut current = false;
        let check = |value: &str| contains(value, needle);
        for line in header.split_inclusive(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(line);
            if text.starts_with(' ') || text.starts_with('\t') {
                if current {
                    value.push_str(text.trim_end());
                }
                continue;
            }
            if current && check(&value) {
                return true;
            }
            current = false;
            value.clear();
            if let Some((name, v)) = text.split_once(':')
                && name.trim_end().eq_ignore_ascii_case(field)
            {
                found_field = true;
                current = true;
                value.push_str(v.trim_end());
            }
        }
        if current && check(&value) {
            return true;
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
        if let Some(d) = summary.and_then(|s| written_date(&s.envelope)) {
            return d;
        }
        days(
            summary
                .and_then(|s| s.sent_date)
                .unwrap_or(self.c.info.internaldate),
        )
    }

    fn matches(&self, key: &SearchKey) -> bool {
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
            SearchKey::Header(field, s) => self.header(field, &lower(s)),
            SearchKey::Body(s) => self.body_text().contains(&lower(s)),
            SearchKey::Text(s) => {
                let needle = lower(s);
                self.body_text().contains(&needle)
                    || self.raw().is_some_and(|r| {
                        contains(&String::from_utf8_lossy(split_message(r).0), &needle)
                    })
            }
            SearchKey::Uid(Sequence::Set(set)) => set.contains(info.uid.0, self.env.max_uid),
            SearchKey::Sequence(Sequence::Set(set)) => set.contains(self.c.seq, self.env.max_seq),
            // Refused before evaluation.
            SearchKey::Uid(Sequence::Saved) | SearchKey::Sequence(Sequence::Saved) => false,
            SearchKey::Not(k) => !self.matches(k),
            SearchKey::Or(a, b) => self.matches(a) || self.matches(b),
            SearchKey::And(keys) => keys.iter().all(|k| self.matches(k)),
        }
    }

    /// A decoded summary field, or (when it does not match) the header itself, which
    /// also covers undecoded raw text.
    fn address_field(&self, s: &[u8], field: fn(&Summary) -> &String, name: &str) -> bool {
        let needle = lower(s);
        if self.summary().is_some_and(|x| contains(field(x), &needle)) {
            return true;
        }
        self.header(name, &needle)
    }
}

/// The date written in an ENVELOPE's date field (`("Mon, 7 Feb 1994 21:52:25 -0800"
/// …`), as days since the epoch.
fn written_date(envelope: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let quoted = envelope.strip_prefix("(\"")?;
    let date = &quoted[..quoted.find('"')?];
    let tokens: Vec<&str> = date
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    tokens.windows(3).find_map(|w| {
        let day: u8 = w[0].parse().ok()?;
        let month = MONTHS
            .iter()
            .position(|m| w[1].get(..3).is_some_and(|x| x.eq_ignore_ascii_case(m)))?;
        let year: u16 = w[2].parse().ok()?;
        let d = crate::proto::types::Date {
            year,
            month: month as u8 + 1,
            day,
        };
        (1..=31).contains(&day).then(|| d.days_since_epoch())
    })
}

fn uses_saved(key: &SearchKey) -> bool {
    match key {
        SearchKey::Uid(Sequence::Saved) | SearchKey::Sequence(Sequence::Saved) => true,
        SearchKey::Not(k) => uses_saved(k),
        SearchKey::Or(a, b) => uses_saved(a) || uses_saved(b),
        SearchKey::And(keys) => keys.iter().any(uses_saved),
        _ => false,
    }
}

impl Session {
    /// SEARCH / UID SEARCH [RETURN (…)] [CHARSET c] keys: classic `* SEARCH n…` or,
    /// with RETURN, `* ESEARCH (TAG "t") [UID] MIN MAX COUNT ALL`. Charsets UTF-8 and
    /// US-ASCII; others NO [BADCHARSET]. Selected state. RFC 9051 §6.4.4, RFC 4731.
    pub(crate) async fn handle_search(
        &mut self,
        tag: &str,
        uid: bool,
        ret: Option<Vec<SearchReturn>>,
        charset: Option<String>,
        criteria: SearchKey,
    ) -> Result<Done, End> {
        if let Some(cs) = &charset
            && !cs.eq_ignore_ascii_case("UTF-8")
            && !cs.eq_ignore_ascii_case("US-ASCII")
        {
            return Ok(Done::no(
                Some(ResponseCode::BadCharset(vec![
                    "UTF-8".into(),
                    "US-ASCII".into(),
                ])),
                "Unsupported charset",
            ));
        }
        if uses_saved(&criteria)
            || ret
                .as_ref()
                .is_some_and(|r| r.contains(&SearchReturn::Save))
        {
            return Ok(Done::bad("SEARCHRES ($, SAVE) is not supported"));
        }
        let Some(user) = self.user() else {
            return Ok(Done::bad("Not logged in"));
        };
        let Some(view) = self.view() else {
            return Ok(Done::bad("No mailbox selected"));
        };
        let candidates: Vec<Candidate> = view
            .msgs
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.expunged)
            .map(|(i, m)| Candidate {
                seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                info: m.info.clone(),
                recent: m.recent,
            })
            .collect();
        let env = Env {
            store: self.store().clone(),
            user,
            mailbox: view.id,
            mailbox_name: view.name.clone(),
            max_seq: u32::try_from(view.msgs.len()).unwrap_or(u32::MAX),
            max_uid: view.max_uid(),
            now: mailyard_common::time::now(),
        };
        let found = tokio::task::spawn_blocking(move || {
            candidates
                .iter()
                .filter(|c| {
                    Lazy {
                        env: &env,
                        c,
                        summary: OnceCell::new(),
                        raw: OnceCell::new(),
                        body_text: OnceCell::new(),
                    }
                    .matches(&criteria)
                })
                .map(|c| if uid { c.info.uid.0 } else { c.seq })
                .collect::<Vec<u32>>()
        })
        .await;
        let mut found = match found {
            Ok(f) => f,
            Err(_) => return Ok(Done::no(Some(ResponseCode::ServerBug), "Internal error")),
        };
        found.sort_unstable();
        let mut out = Vec::new();
        match ret {
            None => {
                out.extend_from_slice(b"* SEARCH");
                for n in &found {
                    let _ = write!(out, " {n}");
                }
                out.extend_from_slice(b"\r\n");
            }
            Some(opts) => {
                out.extend_from_slice(b"* ESEARCH (TAG ");
                write_string(&mut out, tag.as_bytes(), false);
                out.push(b')');
                if uid {
                    out.extend_from_slice(b" UID");
                }
                for opt in &opts {
                    match opt {
                        SearchReturn::Min => {
                            if let Some(n) = found.first() {
                                let _ = write!(out, " MIN {n}");
                            }
                        }
                        SearchReturn::Max => {
                            if let Some(n) = found.last() {
                                let _ = write!(out, " MAX {n}");
                            }
                        }
                        SearchReturn::Count => {
                            let _ = write!(out, " COUNT {}", found.len());
                        }
                        SearchReturn::All => {
                            if !found.is_empty() {
                                let set = SequenceSet::from_sorted(found.iter().copied());
                                let _ = write!(out, " ALL {}", set.to_wire());
                            }
                        }
                        SearchReturn::Save => {}
                    }
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        self.wbuf.extend_from_slice(&out);
        Ok(Done::ok("SEARCH completed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_dates() {
        let env = "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"s\" NIL NIL NIL NIL NIL NIL NIL NIL)";
        let want = crate::proto::types::Date {
            year: 1994,
            month: 2,
            day: 7,
        }
        .days_since_epoch();
        assert_eq!(written_date(env), Some(want));
        assert_eq!(written_date("(NIL NIL)"), None);
        assert_eq!(written_date("(\"garbage\" NIL)"), None);
    }
}
