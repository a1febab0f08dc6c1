-- mailyard index, schema version 1. A cache of the Maildir++ tree: every row here can
-- be rebuilt from the files (`mailyard reindex`). Ids are never reused.

CREATE TABLE mailbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user            TEXT    NOT NULL,            -- local@domain, lower case
    name            TEXT    NOT NULL,            -- IMAP name, UTF-8, '.' separated
    uidvalidity     INTEGER NOT NULL,
    uidnext         INTEGER NOT NULL,
    highestmodseq   INTEGER NOT NULL,
    uid_reserved    INTEGER NOT NULL,            -- mirrors mailyard-state
    modseq_reserved INTEGER NOT NULL,            -- mirrors mailyard-state
    special_use     TEXT,                        -- RFC 6154, e.g. '\Sent'
    subscribed      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user, name)
) STRICT;

-- The hot table: what `UID FETCH 1:* (FLAGS)` and SEARCH on flags read. Kept narrow.
CREATE TABLE message (
    mailbox_id   INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
    uid          INTEGER NOT NULL,
    base         TEXT    NOT NULL,               -- file name before ':2,'
    in_new       INTEGER NOT NULL,               -- 1: new/<base>, 0: cur/<base>:2,<info>
    size         INTEGER NOT NULL,               -- RFC822.SIZE
    internaldate INTEGER NOT NULL,               -- unix seconds (the file's mtime)
    flags        INTEGER NOT NULL,               -- model::Flags bits
    keywords     TEXT    NOT NULL DEFAULT '',    -- space separated
    modseq       INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) STRICT, WITHOUT ROWID;
CREATE INDEX message_modseq ON message (mailbox_id, modseq);

-- Computed once at delivery with mail-parser: what IMAP asks for all the time.
CREATE TABLE message_meta (
    mailbox_id    INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    envelope      TEXT    NOT NULL,              -- RFC 9051 §7.5.2 ENVELOPE
    body          TEXT    NOT NULL,              -- BODY (non-extensible)
    bodystructure TEXT    NOT NULL,              -- BODYSTRUCTURE
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

-- RFC 7162 §3.2.5 / QRESYNC: which UIDs went, and at which MODSEQ.
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) STRICT, WITHOUT ROWID;
