-- Schema version 7: the header cache (`headers.rs`): per message, the header fields
-- mail clients fetch for their message lists, so that such a FETCH reads no file.
-- Rows are written at delivery, APPEND, COPY and reindex; a message delivered before
-- this version has none and its header fetches read the file until `mailyard reindex`.
CREATE TABLE header_cache (
    mailbox_id INTEGER NOT NULL,
    uid        INTEGER NOT NULL,
    fields     BLOB    NOT NULL,                -- selected lines, CRLF, then CRLF
    PRIMARY KEY (mailbox_id, uid),
    FOREIGN KEY (mailbox_id, uid) REFERENCES message (mailbox_id, uid) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
