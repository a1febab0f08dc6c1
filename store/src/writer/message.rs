//! The writer's message operations: deliver and APPEND (one file linked into each
//! target), COPY and MOVE (hard links, new UIDs), STORE (flags, renamed in the file
//! name), `\Recent` claims, EXPUNGE (logged, files parked then unlinked), and the
//! message rows they write.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use super::mailbox::ensure_mailbox;
use super::{
    DeliverOp, Delivered, Effects, FlagMode, IfMissing, MailboxRow, Outcome, load_mailbox,
    load_mailbox_by_id,
};
use crate::changes::MessageChanges;
use crate::error::{IoContext, Result, StoreError};
use crate::index::{self, MessageInfo};
use crate::maildir;
use crate::model::{FlagSet, Flags, MailboxId, ModSeq, Uid, UidValidity};
use crate::summary::Summary;

/// Hard links each message of `uids` from `src` into `dst` with a new UID, the same
/// flags and the same summary; with `remove`, the source copies are then forgotten and
/// unlinked (MOVE). Returns (source UID, new UID) pairs.
pub(super) fn copy_messages(
    conn: &Connection,
    fx: &mut Effects,
    mut src: MailboxRow,
    dst: &mut MailboxRow,
    uids: &[Uid],
    remove: bool,
) -> Result<Vec<(Uid, Uid)>> {
    let src_map = maildir::read_keywords(&src.dir).at(&src.dir)?;
    let mut pairs = Vec::with_capacity(uids.len());
    let mut unlink = Vec::new();
    let mut dst_modseq = None;
    let mut src_modseq = None;
    for &uid in uids {
        let Some(m) = message(conn, src.id, uid)? else {
            continue;
        };
        let Some(old_path) = locate(&src, &m, &src_map)? else {
            continue;
        };
        let new_uid = dst.next_uid()?;
        let ms = dst.shared_modseq(&mut dst_modseq)?;
        let dst_map = keyword_map_with(&dst.dir, &m.flags.keywords)?;
        let unique = m.base.split(',').next().unwrap_or("x").to_string();
        let base = maildir::base_name(&unique, m.size, new_uid);
        let path = maildir::message_path(&dst.dir, &base, m.in_new, &m.flags, &dst_map);
        std::fs::hard_link(&old_path, &path).at(&path)?;
        fx.created.push(path.clone());
        if let Some(parent) = path.parent() {
            fx.dirs.insert(parent.to_path_buf());
        }
        NewRow {
            mailbox: dst.id,
            uid: new_uid,
            base: &base,
            in_new: m.in_new,
            size: m.size,
            internaldate: m.internaldate,
            flags: &m.flags,
            modseq: ms,
        }
        .insert(conn)?;
        conn.prepare_cached(
            "INSERT INTO message_meta (mailbox_id, uid, shape, sent_date, subject,
                 from_addr, to_addr, cc_addr, bcc_addr, message_id, in_reply_to, refs)
             SELECT ?3, ?4, shape, sent_date, subject, from_addr, to_addr, cc_addr,
                 bcc_addr, message_id, in_reply_to, refs
             FROM message_meta WHERE mailbox_id = ?1 AND uid = ?2",
        )?
        .execute(params![src.id.0, uid.0, dst.id.0, new_uid])?;
        conn.prepare_cached(
            "INSERT INTO header_cache (mailbox_id, uid, fields)
             SELECT ?3, ?4, fields FROM header_cache WHERE mailbox_id = ?1 AND uid = ?2",
        )?
        .execute(params![src.id.0, uid.0, dst.id.0, new_uid])?;
        if remove {
            let sms = src.shared_modseq(&mut src_modseq)?;
            forget_message(conn, src.id, uid, sms)?;
            unlink.push((old_path, path));
        }
        pairs.push((uid, Uid(new_uid)));
    }
    if dst_modseq.is_some() {
        dst.save(conn)?;
        fx.touch(dst, MessageChanges::NEW);
    }
    if src_modseq.is_some() {
        src.save(conn)?;
        fx.touch(&src, MessageChanges::EXPUNGED);
    }
    // Last, so that no failure above can lose a message; and each recorded, so that a
    // failure after (the batch's commit) links it back (`undo_files`).
    for (path, kept) in unlink {
        match std::fs::remove_file(&path) {
            Ok(()) => fx.unlinked.push((path.clone(), kept)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e,
                "moved message left in its source directory; reconcile will adopt it"),
        }
        if let Some(parent) = path.parent() {
            fx.dirs.insert(parent.to_path_buf());
        }
    }
    #[cfg(test)]
    if super::testkit::PANIC_AFTER_MOVE.with(std::cell::Cell::get) {
        panic!("the test's panic after a move");
    }
    Ok(pairs)
}

/// Links `op`'s staged file into each target mailbox and indexes each copy. Its `tmp/`
/// name, if it has one, goes to `fx.tmp_done` whether this succeeds or fails (a panic
/// leaves it to the 36-hour `tmp/` cleanup).
pub(crate) fn deliver(
    conn: &Connection,
    data_dir: &Path,
    fx: &mut Effects,
    op: DeliverOp,
) -> Result<Vec<Delivered>> {
    let r = deliver_copies(conn, data_dir, fx, &op);
    fx.release_staged(op);
    r
}

fn deliver_copies(
    conn: &Connection,
    data_dir: &Path,
    fx: &mut Effects,
    op: &DeliverOp,
) -> Result<Vec<Delivered>> {
    let mut out: Vec<Delivered> = Vec::with_capacity(op.targets.len());
    for t in &op.targets {
        let (user, name) = (&t.user, &t.mailbox);
        let found = if name == "INBOX" || t.if_missing == IfMissing::Create {
            Some(ensure_mailbox(conn, data_dir, user, name, None)?)
        } else {
            load_mailbox(conn, data_dir, user, name)?
        };
        let mut mb = match (found, t.if_missing) {
            (Some(mb), _) => mb,
            (None, IfMissing::Inbox) => ensure_mailbox(conn, data_dir, user, "INBOX", None)?,
            (None, _) => return Err(StoreError::NoMailbox(name.clone())),
        };
        // RFC 5228 §2.10.3: one copy per mailbox, however it was reached (a Sieve
        // `fileinto` that fell back to the INBOX beside the implicit keep).
        if out.iter().any(|d| d.user == *user && d.mailbox == mb.id) {
            continue;
        }
        let flags = &t.flags;
        let uid = mb.next_uid()?;
        let modseq = mb.next_modseq()?;
        // The map only names keyword letters: a delivery without keywords (every
        // SMTP one) needs none, nor the stat of `dovecot-keywords`.
        let keyword_map = if flags.keywords.is_empty() {
            Vec::new()
        } else {
            keyword_map_with(&mb.dir, &flags.keywords)?
        };
        let unique = maildir::unique_name(maildir::host());
        let base = maildir::base_name(&unique, op.size, uid);
        let in_new = flags.flags == Flags::empty() && flags.keywords.is_empty();
        let path = maildir::message_path(&mb.dir, &base, in_new, flags, &keyword_map);
        op.file.link(&path).at(&path)?;
        fx.created.push(path.clone());
        if let Some(parent) = path.parent() {
            fx.dirs.insert(parent.to_path_buf());
        }
        #[cfg(test)]
        if op.summary.subject == super::testkit::PANIC_AFTER_LINK {
            panic!("the test's panic after the link");
        }
        let row = NewRow {
            mailbox: mb.id,
            uid,
            base: &base,
            in_new,
            size: op.size,
            internaldate: op.internaldate,
            flags,
            modseq,
        };
        insert_message(conn, &row, &op.summary)?;
        fx.stored
            .push((mb.id, Uid(uid), op.summary.clone(), op.body.clone()));
        mb.save(conn)?;
        fx.touch(&mb, MessageChanges::NEW);
        out.push(Delivered {
            user: user.clone(),
            mailbox: mb.id,
            uidvalidity: UidValidity(mb.uidvalidity),
            uid: Uid(uid),
        });
    }
    Ok(out)
}

/// The mailbox's keyword letters, extended (and written) with any of `keywords` that
/// it lacks.
pub(super) fn keyword_map_with(dir: &Path, keywords: &[String]) -> Result<Vec<String>> {
    // The whole map even when `keywords` is empty: a flag change renames a file that
    // may carry keyword letters of its own.
    let mut map = maildir::read_keywords(dir).at(dir)?;
    let missing: Vec<&String> = keywords.iter().filter(|k| !map.contains(k)).collect();
    if missing.is_empty() {
        return Ok(map);
    }
    for k in missing {
        if map.len() >= maildir::MAX_KEYWORDS {
            return Err(StoreError::TooManyKeywords);
        }
        map.push(k.clone());
    }
    maildir::write_keywords(dir, &map).at(dir)?;
    Ok(map)
}

/// A message's row in the hot table, as a delivery, a copy or an adopted file makes it.
pub(super) struct NewRow<'a> {
    pub mailbox: MailboxId,
    pub uid: u32,
    /// The file's base name (`maildir::base_name`).
    pub base: &'a str,
    pub in_new: bool,
    /// RFC822.SIZE.
    pub size: u64,
    /// INTERNALDATE, unix seconds.
    pub internaldate: i64,
    pub flags: &'a FlagSet,
    pub modseq: u64,
}

impl NewRow<'_> {
    /// Inserts the row (its summary row is the caller's).
    fn insert(&self, conn: &Connection) -> Result<()> {
        conn.prepare_cached(
            "INSERT INTO message (mailbox_id, uid, base, in_new, size, internaldate, flags,
                                  keywords, modseq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            self.mailbox.0,
            self.uid,
            self.base,
            self.in_new,
            self.size as i64,
            self.internaldate,
            self.flags.flags.0,
            self.flags.keywords_text(),
            self.modseq as i64
        ])?;
        Ok(())
    }
}

/// Inserts `row` with its summary row and cached header fields from `s`.
pub(super) fn insert_message(conn: &Connection, row: &NewRow<'_>, s: &Summary) -> Result<()> {
    row.insert(conn)?;
    let (mailbox, uid) = (row.mailbox, row.uid);
    conn.prepare_cached(
        "INSERT INTO message_meta (mailbox_id, uid, shape, sent_date, subject, from_addr,
             to_addr, cc_addr, bcc_addr, message_id, in_reply_to, refs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        mailbox.0,
        uid,
        s.shape,
        s.sent_date,
        s.subject,
        s.from,
        s.to,
        s.cc,
        s.bcc,
        s.message_id,
        s.in_reply_to,
        s.references
    ])?;
    if let Some(fields) = &s.header_cache {
        conn.prepare_cached(
            "INSERT INTO header_cache (mailbox_id, uid, fields) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![mailbox.0, uid, fields])?;
    }
    Ok(())
}

fn message(conn: &Connection, mailbox: MailboxId, uid: Uid) -> Result<Option<MessageInfo>> {
    index::message(conn, mailbox, uid)
}

/// Where a message's file is now: the index's idea, or found by its base name when
/// another tool moved it.
fn locate(mb: &MailboxRow, m: &MessageInfo, keyword_map: &[String]) -> Result<Option<PathBuf>> {
    maildir::locate(&mb.dir, &m.base, m.in_new, &m.flags, keyword_map).at(&mb.dir)
}

/// Renames message `m`'s file to `to(its path)`, trying first the path the index
/// says it has: one system call when it is there (no `stat` before), and only when it
/// is not (another tool moved or re-flagged it) is the file looked for. Returns its
/// path before and after; None when the file is gone. No rename when the two agree.
fn rename_located(
    mb: &MailboxRow,
    m: &MessageInfo,
    keyword_map: &[String],
    to: impl Fn(&Path) -> PathBuf,
) -> Result<Option<(PathBuf, PathBuf)>> {
    let expected = maildir::message_path(&mb.dir, &m.base, m.in_new, &m.flags, keyword_map);
    let dest = to(&expected);
    if expected == dest {
        return Ok(Some((expected, dest)));
    }
    match std::fs::rename(&expected, &dest) {
        Ok(()) => return Ok(Some((expected, dest))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).at(&expected),
    }
    let Some(old) = locate(mb, m, keyword_map)? else {
        return Ok(None);
    };
    let dest = to(&old);
    if old != dest {
        match std::fs::rename(&old, &dest) {
            Ok(()) => {}
            // Gone since it was found (another process expunged it).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !old.exists() => {
                return Ok(None);
            }
            Err(e) => return Err(e).at(&old),
        }
    }
    Ok(Some((old, dest)))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn set_flags(
    conn: &Connection,
    data_dir: &Path,
    fx: &mut Effects,
    mailbox: MailboxId,
    uids: &[Uid],
    mode: FlagMode,
    given: &FlagSet,
    unchanged_since: Option<ModSeq>,
) -> Result<Outcome> {
    let mut mb = load_mailbox_by_id(conn, data_dir, mailbox)?;
    let keyword_map = keyword_map_with(&mb.dir, &given.keywords)?;
    let mut changed = Vec::new();
    let mut modified = Vec::new();
    let mut modseq = None;
    for &uid in uids {
        let Some(m) = message(conn, mailbox, uid)? else {
            continue;
        };
        if unchanged_since.is_some_and(|u| m.modseq > u) {
            modified.push(uid);
            continue;
        }
        let new = combine(&m.flags, mode, given);
        if new == m.flags {
            continue;
        }
        let ms = mb.shared_modseq(&mut modseq)?;
        // Not fsynced: see "Flag changes and expunges" in the module doc. A file that
        // is gone changes no name; the row changes all the same.
        let new_path = maildir::message_path(&mb.dir, &m.base, false, &new, &keyword_map);
        rename_located(&mb, &m, &keyword_map, |_| new_path.clone())?;
        conn.prepare_cached(
            "UPDATE message SET flags = ?3, keywords = ?4, modseq = ?5, in_new = 0
             WHERE mailbox_id = ?1 AND uid = ?2",
        )?
        .execute(params![
            mailbox.0,
            uid.0,
            new.flags.0,
            new.keywords_text(),
            ms as i64
        ])?;
        changed.push((uid, new, ModSeq(ms)));
    }
    if modseq.is_some() {
        mb.save(conn)?;
        fx.touch(&mb, MessageChanges::FLAGS);
    }
    Ok(Outcome::Flags { changed, modified })
}

fn combine(old: &FlagSet, mode: FlagMode, given: &FlagSet) -> FlagSet {
    let mut out = match mode {
        FlagMode::Replace => given.clone(),
        FlagMode::Add => {
            let mut kw = old.keywords.clone();
            kw.extend(given.keywords.iter().cloned());
            FlagSet {
                flags: old.flags.union(given.flags),
                keywords: kw,
            }
        }
        FlagMode::Remove => FlagSet {
            flags: old.flags.without(given.flags),
            keywords: old
                .keywords
                .iter()
                .filter(|k| !given.keywords.contains(k))
                .cloned()
                .collect(),
        },
    };
    out.keywords.sort();
    out.keywords.dedup();
    out
}

pub(super) fn claim_recent(
    conn: &Connection,
    data_dir: &Path,
    mailbox: MailboxId,
    upto: Uid,
) -> Result<Vec<Uid>> {
    let mb = load_mailbox_by_id(conn, data_dir, mailbox)?;
    let first: u32 = conn
        .prepare_cached("SELECT first_recent_uid FROM mailbox WHERE id = ?1")?
        .query_row([mailbox.0], |r| r.get(0))?;
    if upto.0 < first {
        return Ok(Vec::new());
    }
    let fresh: Vec<MessageInfo> = conn
        .prepare_cached(
            "SELECT uid, base, in_new, size, internaldate, flags, keywords, modseq
             FROM message WHERE mailbox_id = ?1 AND uid >= ?2 AND uid <= ?3 ORDER BY uid",
        )?
        .query_map(params![mailbox.0, first, upto.0], index::message_row)?
        .collect::<rusqlite::Result<_>>()?;
    conn.prepare_cached("UPDATE mailbox SET first_recent_uid = ?2 WHERE id = ?1")?
        .execute(params![mailbox.0, upto.0.saturating_add(1)])?;
    let keyword_map = if fresh.iter().any(|m| m.in_new) {
        maildir::read_keywords(&mb.dir).at(&mb.dir)?
    } else {
        Vec::new()
    };
    let mut claimed = Vec::with_capacity(fresh.len());
    for m in fresh {
        if m.in_new {
            let from = maildir::message_path(&mb.dir, &m.base, true, &m.flags, &keyword_map);
            let to = maildir::message_path(&mb.dir, &m.base, false, &m.flags, &keyword_map);
            // Not fsynced: a crash at worst leaves it in new/, where it belongs as well.
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                // Another tool moved it already; the row still says new/.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at(&from),
            }
            conn.prepare_cached(
                "UPDATE message SET in_new = 0 WHERE mailbox_id = ?1 AND uid = ?2",
            )?
            .execute(params![mailbox.0, m.uid.0])?;
        }
        claimed.push(m.uid);
    }
    Ok(claimed)
}

pub(super) fn expunge(
    conn: &Connection,
    data_dir: &Path,
    fx: &mut Effects,
    mailbox: MailboxId,
    only: Option<&[Uid]>,
) -> Result<Vec<Uid>> {
    let mut mb = load_mailbox_by_id(conn, data_dir, mailbox)?;
    let keyword_map = maildir::read_keywords(&mb.dir).at(&mb.dir)?;
    let only: Option<HashSet<Uid>> = only.map(|u| u.iter().copied().collect());
    let doomed: Vec<MessageInfo> = index::messages_with_flags(conn, mailbox, Flags::DELETED)?
        .into_iter()
        .filter(|m| only.as_ref().is_none_or(|o| o.contains(&m.uid)))
        .collect();
    if doomed.is_empty() {
        return Ok(Vec::new());
    }
    let modseq = mb.next_modseq()?;
    let mut gone = Vec::with_capacity(doomed.len());
    for m in doomed {
        // Not fsynced: see "Flag changes and expunges" in the module doc.
        if let Some((path, parked)) = rename_located(&mb, &m, &keyword_map, parked_path)? {
            fx.renames.push((path, parked.clone()));
            fx.trash.push(parked);
        }
        forget_message(conn, mailbox, m.uid, modseq)?;
        gone.push(m.uid);
    }
    mb.save(conn)?;
    fx.touch(&mb, MessageChanges::EXPUNGED);
    Ok(gone)
}

/// Where an expunged message's file at `path` (in `cur/` or `new/`) is parked: its
/// mailbox's `tmp/`, where no reader and no reconcile looks, to be unlinked after
/// commit (a failing request renames it back). A crash before the unlink leaves it in
/// `tmp/`, whose cleanup removes it: its modification time is its INTERNALDATE, long
/// past.
fn parked_path(path: &Path) -> PathBuf {
    let mailbox_dir = path.parent().and_then(Path::parent).unwrap_or(path);
    let mut parked = mailbox_dir
        .join("tmp")
        .join(path.file_name().unwrap_or_default());
    parked.as_mut_os_string().push(".expunged");
    parked
}

pub(super) fn forget_message(
    conn: &Connection,
    mailbox: MailboxId,
    uid: Uid,
    modseq: u64,
) -> Result<()> {
    conn.prepare_cached("DELETE FROM message WHERE mailbox_id = ?1 AND uid = ?2")?
        .execute(params![mailbox.0, uid.0])?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![mailbox.0, uid.0, modseq as i64])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::super::testkit::{Kit, addr, alice, flags, target};
    use super::super::{FlagMode, IfMissing, Op, Outcome};
    use crate::error::StoreError;
    use crate::index;
    use crate::maildir;
    use crate::model::{FlagSet, Flags, ModSeq, Uid};

    fn none() -> FlagSet {
        FlagSet::default()
    }

    #[test]
    fn one_delivery_to_several_targets_is_one_file_linked_once_per_mailbox() {
        let kit = Kit::new();
        let bob = addr("bob@example.com");
        kit.create(&alice(), "INBOX");
        kit.create(&alice(), "Work");
        let seen = flags(Flags::SEEN, &["$label1"]);
        let op = super::super::testkit::stage(
            kit.data_dir(),
            "m",
            vec![
                target(&alice(), "INBOX", none(), IfMissing::Fail),
                target(&alice(), "Work", seen.clone(), IfMissing::Fail),
                target(&bob, "INBOX", none(), IfMissing::Create),
                // Falls back to INBOX, which has its copy already.
                target(&alice(), "Ghost", none(), IfMissing::Inbox),
                target(&alice(), "Lists", none(), IfMissing::Create),
                // Work again: one copy per mailbox.
                target(&alice(), "Work", none(), IfMissing::Fail),
            ],
        );
        assert!(
            matches!(op.file, maildir::Staged::Unnamed(_)),
            "staged without a name where the system allows it"
        );
        let tmp_dir = kit.data_dir().join("mail").join("tmp");
        let Ok(Outcome::Delivered(got)) = kit.submit(Op::Deliver(op)) else {
            panic!("delivered");
        };
        let got: Vec<(String, u32)> = got
            .iter()
            .map(|d| (format!("{}/{}", d.user, d.mailbox.0), d.uid.0))
            .collect();
        let id = |u: &crate::model::Address, n: &str| {
            format!("{u}/{}", kit.mailbox(u, n).expect("mailbox").id.0)
        };
        assert_eq!(
            got,
            [
                (id(&alice(), "INBOX"), 1),
                (id(&alice(), "Work"), 1),
                (id(&bob, "INBOX"), 1),
                (id(&alice(), "Lists"), 1),
            ]
        );
        assert!(kit.mailbox(&alice(), "Ghost").is_none());
        assert_eq!(std::fs::read_dir(&tmp_dir).expect("tmp").count(), 0);
        // One inode; a copy without flags in new/, the flagged one in cur/ with its
        // letters (S, and the keyword's `a`).
        let mut inodes = Vec::new();
        for (user, name, file) in [
            (alice(), "INBOX", "new/"),
            (alice(), "Work", ":2,Sa"),
            (bob.clone(), "INBOX", "new/"),
            (alice(), "Lists", "new/"),
        ] {
            let files = kit.files(&user, name);
            assert_eq!(files.len(), 1, "{user} {name}: {files:?}");
            assert!(files[0].contains(file), "{user} {name}: {files:?}");
            let path = kit.dir(&user, name).join(&files[0]);
            inodes.push(std::fs::metadata(path).expect("meta").ino());
        }
        inodes.dedup();
        assert_eq!(inodes.len(), 1, "hard links of one file");
        let work = kit.mailbox(&alice(), "Work").expect("Work");
        assert_eq!(kit.messages(work.id)[0].flags, seen);

        // A target that must exist and does not fails the whole request: nothing stays.
        let err = kit
            .deliver(
                "n",
                vec![
                    target(&alice(), "INBOX", none(), IfMissing::Fail),
                    target(&alice(), "Ghost", none(), IfMissing::Fail),
                ],
            )
            .expect_err("no Ghost");
        assert!(
            matches!(&err, StoreError::NoMailbox(n) if n == "Ghost"),
            "{err:?}"
        );
        assert_eq!(kit.files(&alice(), "INBOX").len(), 1);
        let inbox = kit.mailbox(&alice(), "INBOX").expect("INBOX");
        assert_eq!(inbox.uidnext, Uid(2));
        assert_eq!(std::fs::read_dir(&tmp_dir).expect("tmp").count(), 0);

        // A file staged with a name in tmp/ (where O_TMPFILE is missing) is linked
        // the same way, and its tmp/ name removed after the commit.
        let inbox_only = vec![target(&alice(), "INBOX", none(), IfMissing::Fail)];
        let named = super::super::testkit::stage_named(kit.data_dir(), "named", inbox_only);
        let bytes = super::super::testkit::message("named");
        let maildir::Staged::Named(path) = &named.file else {
            panic!("named: {:?}", named.file);
        };
        let path = path.clone();
        let Ok(Outcome::Delivered(got)) = kit.submit(Op::Deliver(named)) else {
            panic!("delivered");
        };
        assert_eq!(got[0].uid, Uid(2));
        assert!(!path.exists(), "the tmp/ name is removed once linked");
        let files = kit.files(&alice(), "INBOX");
        assert_eq!(files.len(), 2, "{files:?}");
        let linked = files.iter().map(|f| kit.dir(&alice(), "INBOX").join(f));
        assert!(
            linked
                .map(|p| std::fs::read(p).expect("read"))
                .any(|b| b == bytes)
        );
    }

    #[test]
    fn copy_and_move_keep_each_messages_flags_and_number_in_source_order() {
        let kit = Kit::new();
        let a = alice();
        let kinds = [
            flags(Flags::SEEN, &[]),
            flags(Flags::FLAGGED, &["$label1"]),
            none(),
        ];
        for (i, f) in kinds.iter().enumerate() {
            kit.put(&a, "INBOX", &format!("m{i}"), f.clone());
        }
        for i in 0..2 {
            kit.put(&a, "Archive", &format!("old{i}"), none());
        }
        kit.create(&a, "Trash");
        let inbox = kit.mailbox(&a, "INBOX").expect("INBOX");
        let copy = |to: &str, uids: &[u32], remove: bool| {
            let op = Op::Copy {
                from: inbox.id,
                uids: uids.iter().copied().map(Uid).collect(),
                user: alice(),
                to: to.into(),
                remove,
            };
            match kit.submit(op) {
                Ok(Outcome::Copied { pairs, .. }) => pairs
                    .into_iter()
                    .map(|(s, d)| (s.0, d.0))
                    .collect::<Vec<_>>(),
                other => panic!("{other:?}"),
            }
        };
        let source = kit.messages(inbox.id);
        for (to, uids, remove, pairs) in [
            (
                "Archive",
                vec![1, 2, 3],
                false,
                vec![(1, 3), (2, 4), (3, 5)],
            ),
            ("Trash", vec![1, 3], true, vec![(1, 1), (3, 2)]),
        ] {
            assert_eq!(copy(to, &uids, remove), pairs, "{to}");
            let dst = kit.mailbox(&a, to).expect("target");
            let copies: Vec<_> = kit
                .messages(dst.id)
                .into_iter()
                .filter(|m| pairs.iter().any(|p| p.1 == m.uid.0))
                .collect();
            for ((src_uid, _), m) in pairs.iter().zip(&copies) {
                let s = &source[*src_uid as usize - 1];
                assert_eq!((&m.flags, m.in_new), (&s.flags, s.in_new), "{to} {src_uid}");
                // One MODSEQ for the whole request (RFC 7162 §3.1).
                assert_eq!(m.modseq, dst.highestmodseq, "{to} {src_uid}");
            }
            assert_eq!(kit.files(&a, to).len(), dst.uidnext.0 as usize - 1, "{to}");
        }
        // MOVE: the source keeps only message 2; 1 and 3 are logged as expunged,
        // files gone.
        let left: Vec<u32> = kit.messages(inbox.id).iter().map(|m| m.uid.0).collect();
        assert_eq!(left, [2]);
        assert_eq!(kit.files(&a, "INBOX").len(), 1);
        let gone = index::expunged_since(&kit.read(), inbox.id, ModSeq(0)).expect("log");
        assert_eq!(gone, [Uid(1), Uid(3)]);
        let archive = kit.dir(&a, "Archive");
        assert_eq!(
            maildir::read_keywords(&archive).expect("keywords"),
            ["$label1"]
        );
    }

    #[test]
    fn store_bumps_modseq_only_when_the_flags_change() {
        use FlagMode::{Add, Remove, Replace};
        let kit = Kit::new();
        let d = kit.put(&alice(), "INBOX", "m", flags(Flags::SEEN, &[]));
        let (s, f, e) = (Flags::SEEN, Flags::FLAGGED, Flags::empty());
        let sf = s.union(f);
        // (mode, flags given, flags after, whether that is a change)
        let rows = [
            (Add, flags(s, &[]), flags(s, &[]), false),
            (Add, flags(f, &["a"]), flags(sf, &["a"]), true),
            (Add, flags(e, &["a"]), flags(sf, &["a"]), false),
            (
                Remove,
                flags(Flags::DRAFT, &["z"]),
                flags(sf, &["a"]),
                false,
            ),
            (Remove, flags(e, &["a"]), flags(sf, &[]), true),
            (Replace, flags(sf, &[]), flags(sf, &[]), false),
            (Replace, flags(e, &["b", "a"]), flags(e, &["a", "b"]), true),
            (Replace, none(), none(), true),
        ];
        for (mode, given, want, bumps) in rows {
            let before = kit.mailbox(&alice(), "INBOX").expect("INBOX").highestmodseq;
            let op = Op::SetFlags {
                mailbox: d.mailbox,
                uids: vec![d.uid],
                mode,
                flags: given.clone(),
                unchanged_since: None,
            };
            let Ok(Outcome::Flags { changed, modified }) = kit.submit(op) else {
                panic!("{mode:?} {given:?}");
            };
            let after = kit.mailbox(&alice(), "INBOX").expect("INBOX").highestmodseq;
            let m = &kit.messages(d.mailbox)[0];
            let what = format!("{mode:?} {given:?}");
            assert_eq!(m.flags, want, "{what}");
            assert!(modified.is_empty(), "{what}");
            assert_eq!(changed.len(), usize::from(bumps), "{what}");
            assert_eq!(after.0, before.0 + u64::from(bumps), "{what}");
            assert_eq!(m.modseq, after, "{what}");
            // The file name says the same as the row.
            let map = maildir::read_keywords(&kit.dir(&alice(), "INBOX")).expect("map");
            let file =
                maildir::message_path(&kit.dir(&alice(), "INBOX"), &m.base, false, &want, &map);
            assert!(file.exists(), "{what}: {:?}", kit.files(&alice(), "INBOX"));
        }
        // UNCHANGEDSINCE below the message's MODSEQ: refused, reported, nothing moves.
        let m = kit.messages(d.mailbox).remove(0);
        let op = Op::SetFlags {
            mailbox: d.mailbox,
            uids: vec![d.uid],
            mode: FlagMode::Add,
            flags: flags(Flags::ANSWERED, &[]),
            unchanged_since: Some(ModSeq(m.modseq.0 - 1)),
        };
        let Ok(Outcome::Flags { changed, modified }) = kit.submit(op) else {
            panic!("unchangedsince");
        };
        assert!(changed.is_empty());
        assert_eq!(modified, [d.uid]);
        assert_eq!(kit.messages(d.mailbox)[0], m);
    }

    #[test]
    fn expunge_removes_deleted_messages_only_and_logs_their_uids() {
        let kit = Kit::new();
        let deleted = flags(Flags::DELETED, &[]);
        for (i, f) in [deleted.clone(), none(), deleted.clone(), deleted]
            .into_iter()
            .enumerate()
        {
            kit.put(&alice(), "INBOX", &format!("m{i}"), f);
        }
        let inbox = kit.mailbox(&alice(), "INBOX").expect("INBOX").id;
        let mut log = Vec::new();
        for (only, gone, left) in [
            (Some(vec![3]), vec![3], vec![1, 2, 4]),
            (Some(vec![2]), vec![], vec![1, 2, 4]),
            (None, vec![1, 4], vec![2]),
            (None, vec![], vec![2]),
        ] {
            let before = kit.mailbox(&alice(), "INBOX").expect("INBOX").highestmodseq;
            let op = Op::Expunge {
                mailbox: inbox,
                uids: only.clone().map(|u| u.into_iter().map(Uid).collect()),
            };
            let Ok(Outcome::Expunged(got)) = kit.submit(op) else {
                panic!("{only:?}");
            };
            assert_eq!(
                got,
                gone.iter().copied().map(Uid).collect::<Vec<_>>(),
                "{only:?}"
            );
            let uids: Vec<u32> = kit.messages(inbox).iter().map(|m| m.uid.0).collect();
            assert_eq!(uids, left, "{only:?}");
            assert_eq!(kit.files(&alice(), "INBOX").len(), left.len(), "{only:?}");
            let after = kit.mailbox(&alice(), "INBOX").expect("INBOX").highestmodseq;
            assert_eq!(after.0, before.0 + u64::from(!gone.is_empty()), "{only:?}");
            // The log answers "expunged since" (RFC 7162 VANISHED).
            let since = index::expunged_since(&kit.read(), inbox, before).expect("log");
            assert_eq!(since, got, "{only:?}");
            log.extend(got);
        }
        log.sort();
        let all = index::expunged_since(&kit.read(), inbox, ModSeq(0)).expect("log");
        assert_eq!(all, log, "in UID order");
    }

    #[test]
    fn recent_messages_are_claimed_once_and_leave_new() {
        let kit = Kit::new();
        for i in 0..3 {
            kit.put(&alice(), "INBOX", &format!("m{i}"), none());
        }
        let inbox = kit.mailbox(&alice(), "INBOX").expect("INBOX").id;
        for (upto, claimed, in_new) in [
            (2, vec![1, 2], 1),
            (2, vec![], 1),
            (9, vec![3], 0),
            (9, vec![], 0),
        ] {
            let op = Op::ClaimRecent {
                mailbox: inbox,
                upto: Uid(upto),
            };
            let Ok(Outcome::Claimed(got)) = kit.submit(op) else {
                panic!("claim {upto}");
            };
            assert_eq!(
                got,
                claimed.into_iter().map(Uid).collect::<Vec<_>>(),
                "{upto}"
            );
            let files = kit.files(&alice(), "INBOX");
            let new = files.iter().filter(|f| f.starts_with("new/")).count();
            assert_eq!((new, files.len()), (in_new, 3), "{upto}: {files:?}");
            let rows_new = kit.messages(inbox).iter().filter(|m| m.in_new).count();
            assert_eq!(rows_new, in_new, "{upto}");
        }
    }
}
