-- Schema version 4: every IMAP session asks "what was expunged since MODSEQ n" after
-- each change to its mailbox (RFC 7162 QRESYNC, and plain EXPUNGE reporting). The log
-- only grows, so without this index each question scanned the mailbox's whole log.
CREATE INDEX IF NOT EXISTS expunged_modseq ON expunged (mailbox_id, modseq);
