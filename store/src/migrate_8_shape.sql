-- Schema version 8: message_meta keeps facts, not IMAP strings. The ENVELOPE, BODY
-- and BODYSTRUCTURE text columns (written by the store's own IMAP formatter) give way
-- to one BLOB, `shape`: the message's MIME shape with byte ranges and its envelope
-- facts (`mailyard_message::codec`), which IMAP renders and slices sections from.
-- The index is a cache: the existing rows keep their decoded SEARCH/SORT/THREAD
-- columns and get an empty shape, which `Store::open` recomputes from each message's
-- file before it serves (`rebuild_shapes`, logged with its count).
CREATE TABLE message_meta_8 (
    mailbox_id    INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    shape         BLOB    NOT NULL,              -- mailyard_message::codec; empty: to rebuild
    sent_date     INTEGER,                       -- Date: header, unix seconds
    subject       TEXT    NOT NULL DEFAULT '',   -- decoded
    from_addr     TEXT    NOT NULL DEFAULT '',   -- decoded, for SEARCH/SORT
    to_addr       TEXT    NOT NULL DEFAULT '',
    cc_addr       TEXT    NOT NULL DEFAULT '',
    bcc_addr      TEXT    NOT NULL DEFAULT '',
    message_id    TEXT    NOT NULL DEFAULT '',
    in_reply_to   TEXT    NOT NULL DEFAULT '',
    refs          TEXT    NOT NULL DEFAULT '',   -- References, for THREAD
    PRIMARY KEY (mailbox_id, uid),
    FOREIGN KEY (mailbox_id, uid) REFERENCES message (mailbox_id, uid) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
INSERT INTO message_meta_8 (mailbox_id, uid, shape, sent_date, subject, from_addr, to_addr,
                            cc_addr, bcc_addr, message_id, in_reply_to, refs)
    SELECT mailbox_id, uid, x'', sent_date, subject, from_addr, to_addr, cc_addr, bcc_addr,
           message_id, in_reply_to, refs
    FROM message_meta;
DROP TABLE message_meta;
ALTER TABLE message_meta_8 RENAME TO message_meta;
