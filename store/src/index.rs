//! The SQLite index: WAL, foreign keys, `STRICT` tables, schema in `schema.sql`,
//! migrations on `PRAGMA user_version`.
//!
//! Invariants: writes go through the one writer thread (`writer/`); readers take a
//! connection from the pool, so a reader never waits on a writer (WAL) and nobody sees
//! "database is locked" (a generous busy timeout covers another process's writer).
//! The index is a cache: `synchronous=NORMAL` is enough, because a commit lost to a
//! power cut is recovered from the maildir on the next start (see `reconcile`).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::error::Result;
use crate::model::{FlagSet, Flags, MailboxId, ModSeq, Uid, UidValidity};

/// The newest schema version this build writes.
pub const SCHEMA_VERSION: i64 = 8;

/// Migrations: `MIGRATIONS[n]` takes version n to n+1.
const MIGRATIONS: [&str; 8] = [
    include_str!("schema.sql"),
    include_str!("migrate_2_recent.sql"),
    include_str!("migrate_3_queue.sql"),
    include_str!("migrate_4_expunged_modseq.sql"),
    include_str!("migrate_5_send_count.sql"),
    include_str!("migrate_6_sieve_memory.sql"),
    include_str!("migrate_7_header_cache.sql"),
    include_str!("migrate_8_shape.sql"),
];

/// How long a connection waits for another process's write transaction.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Opens a connection with the pragmas every index connection uses.
pub fn connect(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    stable_plans(&conn)?;
    Ok(conn)
}

/// Keeps a cached statement's plan when its parameters change. SQLite (built with
/// STAT4, as rusqlite bundles it) otherwise marks a statement to be prepared again when
/// a new value is bound to a parameter it thinks could change the plan — for our
/// statements nearly every one (`user = ?1`, `(flags & ?2) = ?2`): a parse and a plan
/// per execution, 5 % of the server's CPU under imaptest. Our statements have one good
/// plan (the indexes are chosen by the `mailbox_id`/`user` prefix), and the query
/// planner stability guarantee keeps it.
pub(crate) fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Brings the schema up to `SCHEMA_VERSION`.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(crate::StoreError::SchemaTooNew {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    for (v, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        // Another process may have migrated while we waited for the lock.
        let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now > v as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", v as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// A pool of read-only connections.
pub struct Readers {
    path: std::path::PathBuf,
    pool: Mutex<Vec<Connection>>,
}

/// Readers kept when idle; more are opened on demand and dropped after use.
const MAX_IDLE_READERS: usize = 16;

impl Readers {
    /// A pool over the index at `path`.
    pub fn new(path: &Path) -> Self {
        Readers {
            path: path.to_path_buf(),
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` with a read connection (blocking; call from a blocking context), in
    /// one read transaction: every query of `f` sees the same snapshot, and the WAL
    /// read lock is taken and released once (two `fcntl` calls) rather than once per
    /// query, which for a FETCH of 128 messages' summaries was an eighth of its time.
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.pool.lock().map_or(None, |mut p| p.pop());
        let conn = match conn {
            Some(c) => c,
            None => connect(&self.path, true)?,
        };
        conn.prepare_cached("BEGIN")?.execute([])?;
        let out = f(&conn);
        // A read transaction: COMMIT only ends it. A connection still in one is not
        // pooled (the next user would read an old snapshot).
        let ended = conn
            .prepare_cached("COMMIT")
            .and_then(|mut st| st.execute([]))
            .is_ok();
        if ended
            && conn.is_autocommit()
            && let Ok(mut p) = self.pool.lock()
            && p.len() < MAX_IDLE_READERS
        {
            p.push(conn);
        }
        out
    }
}

/// A mailbox as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Row id.
    pub id: MailboxId,
    /// Owner, `local@domain`.
    pub user: String,
    /// IMAP name.
    pub name: String,
    /// RFC 9051 §2.3.1.1.
    pub uidvalidity: UidValidity,
    /// The next UID to be assigned.
    pub uidnext: Uid,
    /// RFC 7162 HIGHESTMODSEQ.
    pub highestmodseq: ModSeq,
    /// RFC 6154 attribute.
    pub special_use: Option<String>,
    /// Subscribed (RFC 9051 §6.3.7).
    pub subscribed: bool,
    /// RFC 3501 §2.3.2: messages from this UID on are `\Recent` for the next session
    /// that claims them ([`crate::Store::claim_recent`]).
    pub first_recent_uid: Uid,
}

const MAILBOX_COLUMNS: &str = "id, user, name, uidvalidity, uidnext, highestmodseq, special_use, subscribed, first_recent_uid";

fn mailbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MailboxInfo> {
    Ok(MailboxInfo {
        id: MailboxId(r.get(0)?),
        user: r.get(1)?,
        name: r.get(2)?,
        uidvalidity: UidValidity(r.get(3)?),
        uidnext: Uid(r.get(4)?),
        highestmodseq: ModSeq(r.get::<_, i64>(5)? as u64),
        special_use: r.get(6)?,
        subscribed: r.get(7)?,
        first_recent_uid: Uid(r.get(8)?),
    })
}

/// A user's mailboxes, by name.
pub fn mailboxes(conn: &Connection, user: &str) -> Result<Vec<MailboxInfo>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailbox WHERE user = ?1 ORDER BY name"
    ))?;
    let rows = st.query_map([user], mailbox_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One mailbox by owner and name.
pub fn mailbox(conn: &Connection, user: &str, name: &str) -> Result<Option<MailboxInfo>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailbox WHERE user = ?1 AND name = ?2"
    ))?;
    Ok(st.query_row([user, name], mailbox_row).optional()?)
}

/// One mailbox by id.
pub fn mailbox_by_id(conn: &Connection, id: MailboxId) -> Result<Option<MailboxInfo>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailbox WHERE id = ?1"
    ))?;
    Ok(st.query_row([id.0], mailbox_row).optional()?)
}

/// Every mailbox of every user with its HIGHESTMODSEQ and UIDNEXT: what the change
/// watcher compares to notice another process's writes.
pub fn all_mailbox_marks(conn: &Connection) -> Result<Vec<MailboxMark>> {
    let mut st =
        conn.prepare_cached("SELECT id, highestmodseq, uidnext, user, name FROM mailbox")?;
    let rows = st.query_map([], |r| {
        Ok(MailboxMark {
            id: MailboxId(r.get(0)?),
            highestmodseq: r.get::<_, i64>(1)? as u64,
            uidnext: r.get(2)?,
            user: r.get(3)?,
            name: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What the watcher of other processes' writes compares for one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxMark {
    /// The mailbox.
    pub id: MailboxId,
    /// Its HIGHESTMODSEQ.
    pub highestmodseq: u64,
    /// Its UIDNEXT.
    pub uidnext: u32,
    /// Its owner, as stored.
    pub user: String,
    /// Its name.
    pub name: String,
}

/// A message's row in the hot table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// RFC 9051 §2.3.1.1.
    pub uid: Uid,
    /// File name before `:2,`.
    pub base: String,
    /// Whether the file is in `new/`.
    pub in_new: bool,
    /// RFC822.SIZE.
    pub size: u64,
    /// INTERNALDATE, unix seconds.
    pub internaldate: i64,
    /// Flags and keywords.
    pub flags: FlagSet,
    /// RFC 7162 MODSEQ.
    pub modseq: ModSeq,
}

/// The messages of a mailbox in UID order.
pub fn messages(conn: &Connection, mailbox: MailboxId) -> Result<Vec<MessageInfo>> {
    let mut st = conn.prepare_cached(
        "SELECT uid, base, in_new, size, internaldate, flags, keywords, modseq
         FROM message WHERE mailbox_id = ?1 ORDER BY uid",
    )?;
    let rows = st.query_map([mailbox.0], message_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The messages of a mailbox that carry every flag of `flags`, in UID order (EXPUNGE
/// asks for `\Deleted` ones without reading the others).
pub fn messages_with_flags(
    conn: &Connection,
    mailbox: MailboxId,
    flags: Flags,
) -> Result<Vec<MessageInfo>> {
    let mut st = conn.prepare_cached(
        "SELECT uid, base, in_new, size, internaldate, flags, keywords, modseq
         FROM message WHERE mailbox_id = ?1 AND (flags & ?2) = ?2 ORDER BY uid",
    )?;
    let rows = st.query_map(rusqlite::params![mailbox.0, flags.0], message_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What STATUS reports about a mailbox's messages (RFC 9051 §6.3.11), counted by the
/// index in one query rather than by reading every row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxCounts {
    /// MESSAGES.
    pub messages: u64,
    /// UNSEEN: without `\Seen`.
    pub unseen: u64,
    /// DELETED: with `\Deleted` (RFC 9051 §6.3.11).
    pub deleted: u64,
    /// RECENT (RFC 3501): UIDs from `first_recent` on.
    pub recent: u64,
    /// SIZE (RFC 8438): the sum of RFC822.SIZE.
    pub size: u64,
}

/// Counts `mailbox`'s messages for STATUS.
pub fn mailbox_counts(
    conn: &Connection,
    mailbox: MailboxId,
    first_recent: Uid,
) -> Result<MailboxCounts> {
    let mut st = conn.prepare_cached(
        "SELECT COUNT(*), COALESCE(SUM((flags & ?2) = 0), 0), COALESCE(SUM((flags & ?3) != 0), 0),
                COALESCE(SUM(uid >= ?4), 0), COALESCE(SUM(size), 0)
         FROM message WHERE mailbox_id = ?1",
    )?;
    Ok(st.query_row(
        rusqlite::params![mailbox.0, Flags::SEEN.0, Flags::DELETED.0, first_recent.0],
        |r| {
            Ok(MailboxCounts {
                messages: r.get::<_, i64>(0)? as u64,
                unseen: r.get::<_, i64>(1)? as u64,
                deleted: r.get::<_, i64>(2)? as u64,
                recent: r.get::<_, i64>(3)? as u64,
                size: r.get::<_, i64>(4)? as u64,
            })
        },
    )?)
}

/// One message's row, if it is still in the mailbox.
pub fn message(conn: &Connection, mailbox: MailboxId, uid: Uid) -> Result<Option<MessageInfo>> {
    Ok(conn
        .prepare_cached(
            "SELECT uid, base, in_new, size, internaldate, flags, keywords, modseq
             FROM message WHERE mailbox_id = ?1 AND uid = ?2",
        )?
        .query_row(rusqlite::params![mailbox.0, uid.0], message_row)
        .optional()?)
}

pub(crate) fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageInfo> {
    Ok(MessageInfo {
        uid: Uid(r.get(0)?),
        base: r.get(1)?,
        in_new: r.get(2)?,
        size: r.get::<_, i64>(3)? as u64,
        internaldate: r.get(4)?,
        flags: FlagSet {
            flags: Flags(r.get(5)?),
            keywords: FlagSet::parse_keywords(&r.get::<_, String>(6)?),
        },
        modseq: ModSeq(r.get::<_, i64>(7)? as u64),
    })
}

/// The summary columns of one message (without the header cache: [`header_cache`]).
pub fn summary(
    conn: &Connection,
    mailbox: MailboxId,
    uid: Uid,
) -> Result<Option<crate::summary::Summary>> {
    let mut st = conn.prepare_cached(
        "SELECT shape, sent_date, subject, from_addr, to_addr, cc_addr, bcc_addr,
                message_id, in_reply_to, refs
         FROM message_meta WHERE mailbox_id = ?1 AND uid = ?2",
    )?;
    Ok(st
        .query_row(params![mailbox.0, uid.0], |r| {
            // The decoded header values, from the third column on.
            let text = |i: usize| r.get::<_, String>(i + 2);
            Ok(crate::summary::Summary {
                shape: r.get(0)?,
                sent_date: r.get(1)?,
                subject: text(0)?,
                from: text(1)?,
                to: text(2)?,
                cc: text(3)?,
                bcc: text(4)?,
                message_id: text(5)?,
                in_reply_to: text(6)?,
                references: text(7)?,
                // Its own table, read by `header_cache` when a FETCH needs it.
                header_cache: None,
            })
        })
        .optional()?)
}

/// The stored shape of one message (`mailyard_message::codec`), what FETCH renders
/// and slices; `None` when the message is gone.
pub fn shape(conn: &Connection, mailbox: MailboxId, uid: Uid) -> Result<Option<Vec<u8>>> {
    message_blob(
        conn,
        "SELECT shape FROM message_meta WHERE mailbox_id = ?1 AND uid = ?2",
        mailbox,
        uid,
    )
}

/// The cached header fields of one message (`headers.rs`); `None` when it has none
/// (too long, delivered before schema 7, or gone).
pub fn header_cache(conn: &Connection, mailbox: MailboxId, uid: Uid) -> Result<Option<Vec<u8>>> {
    message_blob(
        conn,
        "SELECT fields FROM header_cache WHERE mailbox_id = ?1 AND uid = ?2",
        mailbox,
        uid,
    )
}

/// The one BLOB `sql` selects for a message (`?1` its mailbox, `?2` its UID).
fn message_blob(
    conn: &Connection,
    sql: &str,
    mailbox: MailboxId,
    uid: Uid,
) -> Result<Option<Vec<u8>>> {
    let mut st = conn.prepare_cached(sql)?;
    Ok(st
        .query_row(params![mailbox.0, uid.0], |r| r.get(0))
        .optional()?)
}

/// The messages of `mailbox` whose MODSEQ is above `since`, in UID order.
pub fn changed_since(
    conn: &Connection,
    mailbox: MailboxId,
    since: ModSeq,
) -> Result<Vec<MessageInfo>> {
    let mut st = conn.prepare_cached(CHANGED_SINCE_SQL)?;
    let rows = st.query_map(params![mailbox.0, since.0 as i64], message_row)?;
    let mut changed: Vec<MessageInfo> = rows.collect::<rusqlite::Result<_>>()?;
    changed.sort_unstable_by_key(|m| m.uid);
    Ok(changed)
}

/// Expunged UIDs with MODSEQ above `since` (RFC 7162 §3.2.10 VANISHED), ascending.
pub fn expunged_since(conn: &Connection, mailbox: MailboxId, since: ModSeq) -> Result<Vec<Uid>> {
    Ok(expunged_since_with_modseq(conn, mailbox, since)?
        .into_iter()
        .map(|(uid, _)| uid)
        .collect())
}

/// [`expunged_since`] with the MODSEQ each UID was expunged at, in UID order.
pub fn expunged_since_with_modseq(
    conn: &Connection,
    mailbox: MailboxId,
    since: ModSeq,
) -> Result<Vec<(Uid, u64)>> {
    let mut st = conn.prepare_cached(EXPUNGED_SINCE_SQL)?;
    let rows = st.query_map(params![mailbox.0, since.0 as i64], |r| {
        Ok((Uid(r.get(0)?), r.get::<_, i64>(1)? as u64))
    })?;
    let mut uids: Vec<(Uid, u64)> = rows.collect::<rusqlite::Result<_>>()?;
    uids.sort_unstable();
    Ok(uids)
}

/// [`changes_since`]'s answer: the mailbox row, the changed rows, (UID, MODSEQ) expunged.
pub type ChangesSince = (MailboxInfo, Vec<MessageInfo>, Vec<(Uid, u64)>);

/// What a selected session learns when `mailbox` changed, and what the change journal
/// records after a commit (`journal.rs`), from one connection: the mailbox row (None
/// once deleted), its messages with a MODSEQ above `since` ([`changed_since`]) and the
/// UIDs expunged above it with their MODSEQ ([`expunged_since_with_modseq`]).
pub fn changes_since(
    conn: &Connection,
    mailbox: MailboxId,
    since: ModSeq,
) -> Result<Option<ChangesSince>> {
    let Some(mb) = mailbox_by_id(conn, mailbox)? else {
        return Ok(None);
    };
    let changed = changed_since(conn, mailbox, since)?;
    let expunged = expunged_since_with_modseq(conn, mailbox, since)?;
    Ok(Some((mb, changed, expunged)))
}

/// UIDs expunged after a MODSEQ, with it. No ORDER BY: SQLite would walk the primary
/// key (every UID ever expunged) to avoid a sort, instead of the (mailbox_id, modseq)
/// index.
const EXPUNGED_SINCE_SQL: &str =
    "SELECT uid, modseq FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2";

/// Rows changed after a MODSEQ, for [`crate::Store::messages_changed_since`]. No ORDER
/// BY, for the same reason: the (mailbox_id, modseq) index, not a walk of the mailbox.
pub(crate) const CHANGED_SINCE_SQL: &str =
    "SELECT uid, base, in_new, size, internaldate, flags, keywords, modseq
     FROM message WHERE mailbox_id = ?1 AND modseq > ?2";

/// The distinct users that have mailboxes in the index.
pub fn users(conn: &Connection) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached("SELECT DISTINCT user FROM mailbox ORDER BY user")?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The lowest MODSEQ any message row or expunged row of `mailbox` has, or None for
/// neither. The expunged log (RFC 7162 §3.2.5.2) is complete for every MODSEQ at or
/// above this value minus one: a rebuilt index gives every row a MODSEQ above all
/// those handed out before (the reservation in `mailyard-state`), and losing the log
/// only happens with a rebuild. A client that knew the mailbox at a lower MODSEQ
/// needs the full known-UIDs comparison instead.
pub fn modseq_floor(conn: &Connection, mailbox: MailboxId) -> Result<Option<u64>> {
    let mut st = conn.prepare_cached(
        "SELECT MIN(m) FROM (SELECT MIN(modseq) AS m FROM message WHERE mailbox_id = ?1
                             UNION ALL
                             SELECT MIN(modseq) FROM expunged WHERE mailbox_id = ?1)",
    )?;
    let v: Option<i64> = st.query_row([mailbox.0], |r| r.get(0))?;
    Ok(v.map(|m| m.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cached statement is prepared once, whatever values are bound to it later
    /// (`stable_plans`): the mailbox list of alternating users and the flag query of
    /// alternating mailboxes run without a re-prepare.
    #[test]
    fn cached_statements_keep_their_plans_across_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = connect(&dir.path().join("index.db"), false).expect("connect");
        migrate(&mut conn).expect("migrate");
        conn.execute_batch(
            "INSERT INTO mailbox (user, name, uidvalidity, uidnext, highestmodseq,
                                  uid_reserved, modseq_reserved)
             VALUES ('a@example.com', 'INBOX', 1, 1, 1, 1, 1),
                    ('b@example.com', 'INBOX', 2, 1, 1, 1, 1);",
        )
        .expect("mailboxes");
        for user in ["a@example.com", "b@example.com", "a@example.com"] {
            assert_eq!(mailboxes(&conn, user).expect("list").len(), 1);
        }
        for (id, flag) in [(1, Flags::DELETED), (2, Flags::DELETED), (1, Flags::SEEN)] {
            messages_with_flags(&conn, MailboxId(id), flag).expect("flags");
        }
        for sql in [
            format!("SELECT {MAILBOX_COLUMNS} FROM mailbox WHERE user = ?1 ORDER BY name"),
            "SELECT uid, base, in_new, size, internaldate, flags, keywords, modseq
         FROM message WHERE mailbox_id = ?1 AND (flags & ?2) = ?2 ORDER BY uid"
                .to_string(),
        ] {
            let st = conn.prepare_cached(&sql).expect("cached");
            assert_eq!(
                st.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }

    /// What a selected session asks after every change reads only what changed: the
    /// plans use the MODSEQ indexes (a walk of the mailbox made imaptest's benchmark
    /// spend half its time here).
    #[test]
    fn changes_since_use_the_modseq_indexes() {
        let mut conn = Connection::open_in_memory().expect("db");
        migrate(&mut conn).expect("migrate");
        conn.execute_batch(
            "INSERT INTO mailbox (user, name, uidvalidity, uidnext, highestmodseq,
                                  uid_reserved, modseq_reserved)
             VALUES ('a@example.com', 'INBOX', 1, 1, 1, 1, 1);",
        )
        .expect("mailbox");
        for uid in 1..500 {
            conn.execute(
                "INSERT INTO message (mailbox_id, uid, base, in_new, size, internaldate,
                                      flags, modseq) VALUES (1, ?1, 'b', 0, 1, 0, 0, ?1)",
                [uid],
            )
            .expect("message");
            conn.execute(
                "INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (1, ?1 + 1000, ?1)",
                [uid],
            )
            .expect("expunged");
        }
        conn.execute_batch("ANALYZE").expect("analyze");
        for (sql, index) in [
            (CHANGED_SINCE_SQL, "message_modseq"),
            (EXPUNGED_SINCE_SQL, "expunged_modseq"),
        ] {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("explain")
                .query_map(params![1, 5], |r| r.get::<_, String>(3))
                .expect("plan")
                .collect::<rusqlite::Result<_>>()
                .expect("rows");
            assert!(plan.iter().any(|p| p.contains(index)), "{sql}: {plan:?}");
        }
    }
}
