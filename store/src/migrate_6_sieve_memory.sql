-- Schema version 6: what Sieve remembers between deliveries (`delivery.rs`): the
-- vacation replies sent (RFC 5230 §4.2, once per sender and handle per period) and
-- the message ids `duplicate` has seen (RFC 7352 §3). Like send_count, not rebuilt
-- from the maildir: losing it costs at most one more reply per sender.
CREATE TABLE sieve_memory (
    user  TEXT    NOT NULL,
    kind  TEXT    NOT NULL,                     -- 'vacation' or 'duplicate'
    key   TEXT    NOT NULL,                     -- handle, NUL, sender or message id
    first INTEGER NOT NULL,                     -- unix seconds: the period's start
    last  INTEGER NOT NULL,                     -- unix seconds: last seen
    PRIMARY KEY (user, kind, key)
) STRICT, WITHOUT ROWID;
