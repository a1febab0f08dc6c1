-- Schema version 8: message_meta keeps facts, not IMAP strings. The ENVELOPE, BODY
-- and BODYSTRUCTURE text columns (written by the store's own IMAP formatter) give way
-- to one BLOB, `shape`: the message's MIME shape with byte ranges and its envelope
-- facts (`mailyard_message::codec`), which IMAP renders and slices sections from.
-- The index is a cache: the existing rows keep their decoded SEARCH/SORT/THREAD
-- columns and get an empty shape, which `Store::open` recomputes from each message's
-- file before it serves (`writer::rebuild_shapes`, logged with its count).
ALTER TABLE message_meta ADD COLUMN shape BLOB NOT NULL DEFAULT x''; -- empty: to rebuild
ALTER TABLE message_meta DROP COLUMN envelope;
ALTER TABLE message_meta DROP COLUMN body;
ALTER TABLE message_meta DROP COLUMN bodystructure;
