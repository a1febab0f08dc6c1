-- mailyard index, schema version 3: the relay queue's state. The messages and their
-- envelopes are files in queue/msg/ (the truth); these rows say where each recipient
-- stands. Rows without a file are dropped and files without rows adopted on start.

CREATE TABLE queue (
    id             TEXT    PRIMARY KEY,          -- file name in queue/msg/
    sender         TEXT    NOT NULL,             -- reverse path, '' for <>
    envid          TEXT,                         -- RFC 3461 ENVID
    ret            TEXT,                         -- RFC 3461 RET: FULL or HDRS
    auth_user      TEXT,                         -- who submitted it
    created        INTEGER NOT NULL,             -- unix seconds
    size           INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_attempt   INTEGER NOT NULL,             -- unix seconds
    held           INTEGER NOT NULL DEFAULT 0,
    delay_notified INTEGER NOT NULL DEFAULT 0,
    cancelled      INTEGER NOT NULL DEFAULT 0,   -- deleted by the admin, bounce pending
    last_error     TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX queue_due ON queue (held, next_attempt);

CREATE TABLE queue_rcpt (
    queue_id TEXT    NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
    rcpt     TEXT    NOT NULL,                   -- as given, local part's case kept
    notify   TEXT,                               -- RFC 3461 NOTIFY
    orcpt    TEXT,                               -- RFC 3461 ORCPT
    status   TEXT    NOT NULL DEFAULT 'pending', -- pending, sent, failed
    reply    TEXT    NOT NULL DEFAULT '',        -- last reply or reason
    PRIMARY KEY (queue_id, rcpt)
) STRICT;

-- Per-account send limits (`[relay] max_messages_per_day`, `max_new_recipients_per_day`):
-- one row per message an account sent outside, kept for a day, and every remote
-- recipient it ever wrote to, with when it first did. Lost with the index (the limits
-- then start afresh), which is acceptable for an abuse brake.
CREATE TABLE send_log (
    user TEXT    NOT NULL,
    at   INTEGER NOT NULL                        -- unix seconds
) STRICT;
CREATE INDEX send_log_user ON send_log (user, at);

CREATE TABLE sent_rcpt (
    user  TEXT    NOT NULL,
    rcpt  TEXT    NOT NULL,                      -- lower case
    first INTEGER NOT NULL,                      -- unix seconds of the first message
    PRIMARY KEY (user, rcpt)
) STRICT, WITHOUT ROWID;
CREATE INDEX sent_rcpt_first ON sent_rcpt (user, first);
