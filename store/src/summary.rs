//! Parse once at delivery: the message's facts, kept in the index's `message_meta`
//! row — its shape (`mailyard_message::Shape`: the MIME tree with byte ranges, sizes
//! and `Content-*` facts, and the envelope facts, in the versioned binary form of
//! `mailyard_message::codec`), from which IMAP renders ENVELOPE, BODY and
//! BODYSTRUCTURE and slices sections; and the decoded header values SEARCH, SORT and
//! THREAD compare.
//!
//! The shape is computed from the file as stored, so its ranges index the file (a
//! bare-LF file included: its sizes are on the CRLF form, what IMAP sends).

use mail_parser::{Address, HeaderValue, Message, MessageParser};
use mailyard_message::{Shape, codec};

/// The index's per-message summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The shape and envelope facts, `mailyard_message::codec::encode`d ([`Summary::shape`]).
    pub shape: Vec<u8>,
    /// The Date: header as unix seconds.
    pub sent_date: Option<i64>,
    /// Subject, decoded.
    pub subject: String,
    /// From, decoded (`"Name <addr>, ..."`).
    pub from: String,
    /// To, decoded.
    pub to: String,
    /// Cc, decoded.
    pub cc: String,
    /// Bcc, decoded.
    pub bcc: String,
    /// Message-ID without angle brackets.
    pub message_id: String,
    /// In-Reply-To ids, space separated.
    pub in_reply_to: String,
    /// References ids, space separated.
    pub references: String,
    /// The cached header fields (`headers::cached_block`); `None` when too long.
    pub header_cache: Option<Vec<u8>>,
}

impl Summary {
    /// The shape; `None` when the stored form is not one this build reads (the
    /// caller recomputes it from the file).
    pub fn shape(&self) -> Option<Shape> {
        codec::decode(&self.shape).ok()
    }
}

/// Parses `raw` (a whole message, as stored) into its summary, with one mail-parser
/// parse. Never fails: a message mail-parser cannot make sense of is one
/// `text/plain` part ([`Shape::unparsed`]) without decoded fields.
pub fn summarize(raw: &[u8]) -> Summary {
    // At most MAX_PARTS parts and MAX_DEPTH levels; offsets are those of `raw`.
    let src = mailyard_message::limits::structure_source(raw);
    let header_cache = crate::headers::cached_block(raw);
    let Some(msg) = MessageParser::default().parse(&src[..]) else {
        return Summary {
            shape: codec::encode(&Shape::unparsed(raw)),
            header_cache,
            ..Summary::default()
        };
    };
    Summary {
        header_cache,
        ..from_message(&msg)
    }
}

fn from_message(msg: &Message<'_>) -> Summary {
    Summary {
        shape: codec::encode(&Shape::of(msg)),
        sent_date: msg.date().map(|d| d.to_timestamp()),
        subject: msg.subject().unwrap_or_default().to_string(),
        from: addresses(msg.from()),
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        bcc: addresses(msg.bcc()),
        message_id: msg.message_id().unwrap_or_default().to_string(),
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        header_cache: None,
    }
}

fn addresses(a: Option<&Address<'_>>) -> String {
    let Some(a) = a else {
        return String::new();
    };
    a.iter()
        .map(
            |addr| match (addr.name.as_deref(), addr.address.as_deref()) {
                (Some(n), Some(a)) => format!("{n} <{a}>"),
                (None, Some(a)) => a.to_string(),
                (Some(n), None) => n.to_string(),
                (None, None) => String::new(),
            },
        )
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn ids(v: &HeaderValue<'_>) -> String {
    match v {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.join(" "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields() {
        let raw = b"From: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>\r\n\
To: a@example.com, Bob <b@example.com>\r\n\
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\
Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\
Message-ID: <id1@example.com>\r\n\
In-Reply-To: <id0@example.com>\r\n\
References: <a@x> <id0@example.com>\r\n\
\r\n\
Hello\r\n";
        let s = summarize(raw);
        assert_eq!(s.subject, "Grüße");
        assert_eq!(s.from, "Jörg <jorg@example.com>");
        assert_eq!(s.to, "a@example.com, Bob <b@example.com>");
        assert_eq!(s.sent_date, Some(1_057_049_557));
        assert_eq!(s.message_id, "id1@example.com");
        assert_eq!(s.in_reply_to, "id0@example.com");
        assert_eq!(s.references, "a@x id0@example.com");
        let shape = s.shape().expect("shape");
        assert_eq!(
            shape.envelope.date.as_deref(),
            Some(&b"Tue, 1 Jul 2003 10:52:37 +0200"[..])
        );
        assert_eq!(shape.root.body.slice(raw), b"Hello\r\n");
    }

    #[test]
    fn garbage_never_fails() {
        for raw in [&b""[..], b"\0\0\0", b"\xff\xfe", b"no colon here\r\n\r\n"] {
            let s = summarize(raw);
            assert!(s.shape().is_some(), "{raw:?}");
        }
    }
}
