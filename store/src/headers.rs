//! A message's header block, the fields selected from it (IMAP's
//! `BODY[HEADER.FIELDS (…)]`, RFC 9051 §6.4.5), and the **header cache**: the fields
//! mail clients list in their message-list fetches, copied at delivery into the
//! index's `header_cache` table so that such a fetch reads no message file.
//!
//! Dovecot does the same with its `dovecot.index.cache` (it learns which fields
//! clients ask for; here the set is fixed: [`CACHED_FIELDS`], the fields Thunderbird,
//! K-9/Thunderbird for Android, Apple Mail, Roundcube, mutt and imaptest ask for).
//! The cache holds the selected lines exactly as [`select`] selects them from
//! the message's wire form (CRLF), followed by the empty line. Because selecting
//! fields is a filter that keeps each field's lines in order, selecting `names` from
//! the cached block gives the same bytes as selecting them from the whole header
//! whenever every name is in [`CACHED_FIELDS`] ([`covers`]). The reading of header
//! lines is `mailyard_message::header`'s ([`split`], [`select`]). A message whose cached
//! block would exceed [`MAX_CACHED_BYTES`] has none, and its fetches read the file.

use mailyard_message::header::{select, split};

/// The header fields the cache keeps (compared case-insensitively).
pub const CACHED_FIELDS: &[&str] = &[
    // RFC 5322 §3.6: what the message list and threading show.
    "Date",
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    // RFC 2045: attachments icon, charset.
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Description",
    // Thunderbird's list (../shared/clients/thunderbird.md) adds these.
    "Priority",
    "X-Priority",
    "Newsgroups",
    "Received",
    // mutt, Roundcube, K-9 and Apple Mail.
    "Importance",
    "Lines",
    "List-Id",
    "List-Post",
    "List-Subscribe",
    "List-Unsubscribe",
    "X-Label",
    "X-Original-To",
    "Disposition-Notification-To",
    "Return-Receipt-To",
    "Chat-Version",
    "X-K9mail-Identity",
    "Auto-Submitted",
    "Delivered-To",
    "Return-Path",
];

/// The largest cached block of one message (bytes, its empty line included). Long
/// `References:` or many `Received:` lines can pass it; such a message keeps no
/// cached block and its header-field fetches read the file.
pub const MAX_CACHED_BYTES: usize = 8 * 1024;

/// Whether the cached block answers a selection of `names` (every name is cached).
pub fn covers(names: &[String]) -> bool {
    names
        .iter()
        .all(|n| CACHED_FIELDS.iter().any(|c| c.eq_ignore_ascii_case(n)))
}

/// The cached block of a message as stored: its [`CACHED_FIELDS`] lines in wire form
/// (CRLF line ends, [`crate::maildir::wire_form`], which depends on the first line
/// only, so the header's wire form is the wire form's header) and the empty line, or
/// `None` when that is longer than [`MAX_CACHED_BYTES`]. The block is itself a header
/// block, so [`split`] and [`select`] work on it as on the message.
pub fn cached_block(raw: &[u8]) -> Option<Vec<u8>> {
    let header = crate::maildir::wire_form(split(raw).0);
    let block = select(&header, CACHED_FIELDS, false);
    (block.len() <= MAX_CACHED_BYTES).then_some(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_string()).collect()
    }

    /// Selecting from the cached block is selecting from the message, for every
    /// selection the cache covers, on tricky headers: folded lines, a continuation
    /// before any field, a line without a colon, repeated fields, case, no body, no
    /// CRLF at the end, and no header at all.
    #[test]
    fn selection_from_the_block_is_selection_from_the_message() {
        let messages: [&[u8]; 7] = [
            b"From: a@example.com\r\nX-Spam: yes\r\nSubject: folded\r\n  second line\r\n\tthird\r\nTo: b@example.com\r\n\r\nbody\r\n",
            b"  leading continuation\r\nno colon line\r\n  its continuation\r\nSUBJECT : odd spacing\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\n",
            b"Received: from a\r\n\tby b\r\nReceived: from c\r\nFrom: x@y\r\nReceived: late\r\n\r\n",
            b"Subject: no body, no empty line\r\nFrom: a@b",
            b"\r\nonly a body\r\n",
            b"X-Other: 1\r\nX-Other: 2\r\n\r\n",
            b"",
        ];
        // Stored with bare LF: the block is the wire form's.
        let lf = b"From: a@b\nSubject: s\n  folded\nX-Other: 1\n\nbody\n";
        assert_eq!(
            cached_block(lf).as_deref(),
            Some(&b"From: a@b\r\nSubject: s\r\n  folded\r\n\r\n"[..])
        );
        let selections = [
            names(&["From", "Subject", "Date"]),
            names(&["subject"]),
            names(&["RECEIVED", "from"]),
            names(&[
                "From",
                "To",
                "Cc",
                "Bcc",
                "Subject",
                "Date",
                "Message-ID",
                "Priority",
                "X-Priority",
                "References",
                "Newsgroups",
                "In-Reply-To",
                "Content-Type",
                "Reply-To",
                "Received",
            ]),
            names(&[]),
        ];
        for raw in messages {
            let block = cached_block(raw).expect("small");
            assert_eq!(split(&block).0, &block[..], "{raw:?}");
            for sel in &selections {
                assert!(covers(sel));
                assert_eq!(
                    select(split(&block).0, sel, false),
                    select(split(raw).0, sel, false),
                    "{raw:?} {sel:?}"
                );
            }
        }
    }

    #[test]
    fn what_is_not_cached() {
        assert!(!covers(&names(&["From", "X-Spam"])));
        let long = format!(
            "Subject: x\r\nReferences: {}\r\n\r\n",
            "<a@b> ".repeat(2000)
        );
        assert_eq!(cached_block(long.as_bytes()), None);
        assert_eq!(
            cached_block(b"X-Other: 1\r\n\r\nbody").as_deref(),
            Some(&b"\r\n"[..])
        );
    }
}
