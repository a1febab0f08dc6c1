//! THREAD / UID THREAD (RFC 5256 §3) with the ORDEREDSUBJECT and REFERENCES
//! algorithms (`threading.rs`).
//!
//! The search criteria are evaluated by SEARCH's own code (`search.rs`,
//! [`Session::search_matched`]); Message-ID, In-Reply-To, References, Subject and
//! the sent date come from the index summary, so no message file is read.

use crate::cmd::search::Matched;
use crate::cmd::threading::{self, ThreadMsg};
use crate::proto::command::ThreadAlgorithm;
use crate::proto::search::SearchKey;
use crate::session::{Done, End, Session};

/// What threading needs of one message. `uid`: number it by UID (UID THREAD).
fn thread_msg(m: Matched, uid: bool) -> ThreadMsg {
    let ids = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let (date, subject, message_id, references, in_reply_to) = match m.summary {
        Some(s) => (
            s.sent_date.unwrap_or(m.info.internaldate),
            s.subject,
            s.message_id.trim().to_string(),
            ids(&s.references),
            ids(&s.in_reply_to),
        ),
        None => (
            m.info.internaldate,
            String::new(),
            String::new(),
            Vec::new(),
            Vec::new(),
        ),
    };
    ThreadMsg {
        number: if uid { m.info.uid.0 } else { m.seq },
        seq: m.seq,
        date,
        subject,
        message_id,
        references,
        in_reply_to,
    }
}

impl Session {
    /// THREAD / UID THREAD algorithm charset search-keys: `* THREAD (1)(2 3 (4)(5))`
    /// over the matching messages (sequence numbers, or UIDs for UID THREAD).
    /// ORDEREDSUBJECT and REFERENCES; another algorithm is BAD. Charsets UTF-8 and
    /// US-ASCII, else NO [BADCHARSET]. Selected state. RFC 5256 §3, §4.
    pub(crate) async fn handle_thread(
        &mut self,
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: String,
        search: SearchKey,
    ) -> Result<Done, End> {
        if let ThreadAlgorithm::Other(name) = &algorithm {
            return Ok(Done::bad(format!(
                "Unknown threading algorithm {}",
                name.chars().take(40).collect::<String>()
            )));
        }
        let render = move |matched: Vec<Matched>| {
            let msgs: Vec<ThreadMsg> = matched.into_iter().map(|m| thread_msg(m, uid)).collect();
            let forest = match algorithm {
                ThreadAlgorithm::OrderedSubject => threading::ordered_subject(&msgs),
                _ => threading::references(&msgs),
            };
            let mut out = b"* THREAD".to_vec();
            let mut lists = Vec::new();
            forest.write(&msgs, &mut lists);
            if !lists.is_empty() {
                out.push(b' ');
                out.extend_from_slice(&lists);
            }
            out.extend_from_slice(b"\r\n");
            out
        };
        let out = match self.search_matched(&charset, search, render).await {
            Ok(out) => out,
            Err(done) => return Ok(done),
        };
        self.conn.wbuf.extend_from_slice(&out);
        Ok(Done::ok(if uid {
            "UID THREAD completed"
        } else {
            "THREAD completed"
        }))
    }
}
