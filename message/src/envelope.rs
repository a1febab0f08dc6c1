//! The envelope facts of a message (RFC 9051 §7.5.2 ENVELOPE; RFC 5322 §3.6): the
//! raw values of its Date, Subject, In-Reply-To and Message-ID fields, unfolded but
//! not decoded, and its address fields as typed lists ([`crate::address`]).
//!
//! When a field occurs more than once the last one counts, as in Dovecot. Nothing
//! here applies presentation rules (Sender and Reply-To defaulting to From, white
//! space collapsed in the subject): those belong to the renderer.

use crate::address::{Address, parse_list};
use crate::header::{Fields, last};

/// What ENVELOPE is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Date, unfolded.
    pub date: Option<Vec<u8>>,
    /// Subject, unfolded (encoded-words still encoded).
    pub subject: Option<Vec<u8>>,
    /// From.
    pub from: Vec<Address>,
    /// Sender (empty: absent or empty).
    pub sender: Vec<Address>,
    /// Reply-To (empty: absent or empty).
    pub reply_to: Vec<Address>,
    /// To.
    pub to: Vec<Address>,
    /// Cc.
    pub cc: Vec<Address>,
    /// Bcc.
    pub bcc: Vec<Address>,
    /// In-Reply-To, unfolded.
    pub in_reply_to: Option<Vec<u8>>,
    /// Message-ID, unfolded.
    pub message_id: Option<Vec<u8>>,
}

impl Envelope {
    /// The envelope of the message whose top-level header fields are `fields`.
    pub fn from_fields(fields: Fields<'_>) -> Envelope {
        let text = |name: &str| last(fields.clone(), name).map(|f| f.unfolded());
        let list = |name: &str| {
            last(fields.clone(), name)
                .map(|f| parse_list(f.value))
                .unwrap_or_default()
        };
        Envelope {
            date: text("date"),
            subject: text("subject"),
            from: list("from"),
            sender: list("sender"),
            reply_to: list("reply-to"),
            to: list("to"),
            cc: list("cc"),
            bcc: list("bcc"),
            in_reply_to: text("in-reply-to"),
            message_id: text("message-id"),
        }
    }

    /// Whether no field is there at all.
    pub fn is_empty(&self) -> bool {
        *self == Envelope::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Mailbox;
    use crate::header::fields;

    #[test]
    fn last_field_wins_values_stay_raw() {
        for crlf in [true, false] {
            let mut raw = "Subject: first\r\nSubject: =?utf-8?b?w4RwZmVs?= and\r\n\tmore \r\n\
                           Date: Tue, 2 Jan 2024 08:00:00 +0100\r\nFrom: \"Doe, John\" <john@example.com>\r\n\
                           Message-ID:\r\n <fwd@example.com>\r\n\r\nbody"
                .to_owned();
            if !crlf {
                raw = raw.replace("\r\n", "\n");
            }
            let env = Envelope::from_fields(fields(raw.as_bytes()));
            assert_eq!(
                env.subject.as_deref(),
                Some(&b"=?utf-8?b?w4RwZmVs?= and\tmore "[..])
            );
            assert_eq!(env.message_id.as_deref(), Some(&b"<fwd@example.com>"[..]));
            assert_eq!(
                env.from,
                vec![Address::Mailbox(Mailbox {
                    name: Some(b"Doe, John".to_vec()),
                    adl: None,
                    mailbox: b"john".to_vec(),
                    host: b"example.com".to_vec(),
                })]
            );
            assert!(env.sender.is_empty() && env.to.is_empty() && env.in_reply_to.is_none());
        }
        assert!(Envelope::from_fields(fields(b"X: y\r\n\r\n")).is_empty());
    }
}
