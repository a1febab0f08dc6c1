-- Schema version 2: RFC 3501 §2.3.2 `\Recent` by UID, as Dovecot keeps it
-- (`first_recent_uid` in its index header). Every message with uid >= first_recent_uid
-- is recent for the next session that selects the mailbox read-write; that session
-- claims them by moving the mark past them, so exactly one session gets each. New
-- mail, APPENDs, COPYs and MOVEs get UIDs above the mark, so they are recent too.
ALTER TABLE mailbox ADD COLUMN first_recent_uid INTEGER NOT NULL DEFAULT 1;
-- Before: recent meant "still in new/".
UPDATE mailbox SET first_recent_uid = COALESCE(
    (SELECT MIN(uid) FROM message m WHERE m.mailbox_id = mailbox.id AND m.in_new = 1),
    uidnext);
