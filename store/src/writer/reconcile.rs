//! The maildir is the truth and the index a cache: the writer's reconcile (files the
//! index lacks adopted, rows without a file dropped, file-name flags winning), the
//! import of staged trees that ends in one, and the rebuild of message shapes from
//! their files (schema 8).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rusqlite::{Connection, params};

use super::mailbox::{
    default_special_use, ensure_mailbox, insert_mailbox_row, new_uidvalidity, state_or_new,
};
use super::message::{NewRow, forget_message, insert_message, keyword_map_with};
use super::{
    Effects, MailboxRow, ReconcileReport, load_mailbox, mailbox_path, normalize_name, now_secs,
};
use crate::changes::MessageChanges;
use crate::error::{IoContext, Result, StoreError};
use crate::index::{self, MessageInfo};
use crate::maildir::{self, MailboxState};
use crate::model::{Address, MailboxId, ModSeq, Uid};
use crate::summary;

/// Rows [`rebuild_shapes`] recomputes per transaction.
const REBUILD_BATCH: usize = 512;

/// Schema 8 (`migrate_8_shape.sql`) left the shape of every message indexed before
/// it empty: recomputes each from its file (the index is a cache), [`REBUILD_BATCH`]
/// rows a transaction, so an interrupted rebuild resumes where it stopped on the next
/// open. A row whose file is gone keeps its empty shape (reconcile drops the row;
/// until then FETCH parses the file if it finds one). Runs before the writer thread
/// starts, on its connection. Returns how many shapes were rebuilt.
pub(crate) fn rebuild_shapes(conn: &mut Connection, data_dir: &Path) -> Result<usize> {
    let todo: Vec<(i64, u32, String, String)> = conn
        .prepare(
            "SELECT mm.mailbox_id, mm.uid, mb.user, mb.name
             FROM message_meta mm JOIN mailbox mb ON mb.id = mm.mailbox_id
             WHERE length(mm.shape) = 0 ORDER BY mm.mailbox_id, mm.uid",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut dirs: HashMap<i64, Option<(PathBuf, Vec<String>)>> = HashMap::new();
    let mut rebuilt = 0;
    for batch in todo.chunks(REBUILD_BATCH) {
        let tx = conn.transaction()?;
        for (mailbox, uid, user, name) in batch {
            let dir = dirs.entry(*mailbox).or_insert_with(|| {
                let user = Address::parse(user).ok()?;
                let dir = mailbox_path(data_dir, &user, name).ok()?;
                let map = maildir::read_keywords(&dir).ok()?;
                Some((dir, map))
            });
            let Some((dir, map)) = dir.as_ref() else {
                continue;
            };
            let Some(m) = index::message(&tx, MailboxId(*mailbox), Uid(*uid))? else {
                continue;
            };
            let Some(path) = maildir::locate(dir, &m.base, m.in_new, &m.flags, map).at(dir)? else {
                continue;
            };
            let file = match std::fs::read(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).at(&path),
            };
            let summary = summary::summarize(&file);
            tx.prepare_cached(
                "UPDATE message_meta SET shape = ?3 WHERE mailbox_id = ?1 AND uid = ?2",
            )?
            .execute(params![mailbox, uid, summary.shape])?;
            rebuilt += 1;
        }
        tx.commit()?;
    }
    Ok(rebuilt)
}

/// Brings the index in line with the user's tree (the maildir is the truth):
/// files the index lacks are adopted (keeping their `,U=` UID when it is free),
/// rows whose file is gone are dropped (logged as expunged), flags in file names win
/// over the index, mailboxes gone from disk are dropped, subscriptions are re-read.
pub(super) fn reconcile(
    conn: &Connection,
    data_dir: &Path,
    fx: &mut Effects,
    user: &Address,
    rebuild: bool,
    stale: bool,
) -> Result<ReconcileReport> {
    let mut report = ReconcileReport::default();
    let root = maildir::user_root(data_dir, user);
    if rebuild {
        conn.prepare_cached("DELETE FROM mailbox WHERE user = ?1")?
            .execute([user.to_string()])?;
    }
    let on_disk = if root.is_dir() {
        maildir::list_mailboxes(&root).at(&root)?
    } else {
        Vec::new()
    };
    let names: HashSet<&str> = on_disk.iter().map(|(n, _)| n.as_str()).collect();
    for gone in index::mailboxes(conn, &user.to_string())? {
        if !names.contains(gone.name.as_str()) {
            conn.prepare_cached("DELETE FROM mailbox WHERE id = ?1")?
                .execute([gone.id.0])?;
        }
    }
    let subscriptions = maildir::read_subscriptions(&root).unwrap_or_default();
    for (name, dir) in &on_disk {
        report.mailboxes += 1;
        let mut mb = match load_mailbox(conn, data_dir, user, name)? {
            Some(mb) => mb,
            None => {
                let state = state_or_new(conn, data_dir, user, dir, default_special_use(name))?;
                // Everything rebuilt gets a MODSEQ above any handed out before.
                insert_mailbox_row(
                    conn,
                    user,
                    name,
                    &state,
                    state.uid_reserved,
                    state.modseq_reserved,
                )?;
                load_mailbox(conn, data_dir, user, name)?
                    .ok_or_else(|| StoreError::NoMailbox(name.clone()))?
            }
        };
        conn.prepare_cached("UPDATE mailbox SET subscribed = ?2 WHERE id = ?1")?
            .execute(params![mb.id.0, subscriptions.contains(name)])?;
        if stale {
            raise_to_reservations(&mut mb)?;
        }
        reconcile_mailbox(conn, fx, &mut mb, &mut report)?;
    }
    Ok(report)
}

/// Messages a user's mailboxes hold, in the index and on disk (files the index does
/// not know yet count too).
fn mail_count(conn: &Connection, data_dir: &Path, user: &Address) -> Result<u64> {
    let indexed: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM message m JOIN mailbox b ON b.id = m.mailbox_id
             WHERE b.user = ?1",
        )?
        .query_row([user.to_string()], |r| r.get(0))?;
    let root = maildir::user_root(data_dir, user);
    let mut on_disk = 0;
    if root.is_dir() {
        for (_, dir) in maildir::list_mailboxes(&root).at(&root)? {
            on_disk += maildir::scan_messages(&dir, &[]).at(&dir)?.len() as u64;
        }
    }
    Ok((indexed.max(0) as u64).max(on_disk))
}

/// `import.rs`: moves the staged files of every mailbox into the user's tree and
/// reconciles. A mailbox that holds no mail is taken over (Dovecot's UIDVALIDITY and
/// UIDs, UIDNEXT at least Dovecot's); one that does (only with `merge`) gets the
/// messages with new UIDs above its UIDNEXT. Without `merge`, a user with any mail is
/// refused before anything is moved.
pub(super) fn import(
    conn: &Connection,
    data_dir: &Path,
    fx: &mut Effects,
    op: crate::import::ImportOp,
) -> Result<Vec<crate::import::MailboxOutcome>> {
    use crate::import::{MailboxOutcome, target_base};
    let user = &op.user;
    let root = maildir::user_root(data_dir, user);
    if !op.merge {
        let n = mail_count(conn, data_dir, user)?;
        if n > 0 {
            return Err(StoreError::Invalid(format!(
                "{user} already has {n} message(s); import into an empty account, or pass \
                 --merge to add the imported mail with new UIDs where a mailbox is not empty"
            )));
        }
    }
    let mut last_uidvalidity = maildir::read_last_uidvalidity(&root).at(&root)?;
    let mut out = Vec::with_capacity(op.mailboxes.len());
    for mb in op.mailboxes {
        let name = normalize_name(&mb.name)?;
        let dir = mailbox_path(data_dir, user, &name)?;
        if !dir.join("cur").is_dir() {
            maildir::create_maildir(&dir, name != "INBOX").at(&dir)?;
        }
        let existing = load_mailbox(conn, data_dir, user, &name)?;
        let indexed: i64 = match &existing {
            Some(row) => conn
                .prepare_cached("SELECT COUNT(*) FROM message WHERE mailbox_id = ?1")?
                .query_row([row.id.0], |r| r.get(0))?,
            None => 0,
        };
        let full = indexed > 0 || !maildir::scan_messages(&dir, &[]).at(&dir)?.is_empty();
        let mut kept = 0;
        let mut moves = Vec::with_capacity(mb.files.len());
        let (uidvalidity, uidnext) = if full {
            // Merge: the mailbox's own UIDVALIDITY, new UIDs above its UIDNEXT.
            let mut row = match existing {
                Some(row) => row,
                None => ensure_mailbox(conn, data_dir, user, &name, default_special_use(&name))?,
            };
            raise_to_reservations(&mut row)?;
            let mut keywords: Vec<String> = mb
                .files
                .iter()
                .flat_map(|f| f.flags.keywords.clone())
                .collect();
            keywords.sort();
            keywords.dedup();
            let map = keyword_map_with(&row.dir, &keywords)?;
            for f in &mb.files {
                let uid = row.next_uid()?;
                let to =
                    maildir::message_path(&dir, &target_base(f, uid), f.in_new, &f.flags, &map);
                moves.push((f.path.clone(), to));
            }
            row.save(conn)?;
            (row.uidvalidity, row.uidnext)
        } else {
            let old_state = maildir::read_state(&dir).at(&dir)?;
            let old = existing
                .as_ref()
                .map(|r| {
                    (
                        r.uidvalidity,
                        r.uidnext.max(r.uid_reserved),
                        r.modseq_reserved,
                    )
                })
                .or(old_state
                    .as_ref()
                    .map(|s| (s.uidvalidity, s.uid_reserved, s.modseq_reserved)));
            let (uidvalidity, mut next) = match (mb.uidvalidity, old) {
                // The same UIDVALIDITY as before: UIDs must not go below what it handed out.
                (Some(v), Some((ov, onext, _))) if v == ov => (v, mb.uidnext.max(onext)),
                (Some(v), _) => (v, mb.uidnext),
                (None, Some((ov, onext, _))) => (ov, onext.max(mb.uidnext)),
                (None, None) => (new_uidvalidity(conn, data_dir, user)?, mb.uidnext),
            };
            let map = mb.keywords.clone();
            if !map.is_empty() || dir.join(maildir::KEYWORDS_FILE).exists() {
                maildir::write_keywords(&dir, &map).at(&dir)?;
            }
            for f in &mb.files {
                let uid = match f.uid {
                    Some(u) => {
                        kept += 1;
                        u
                    }
                    None => next,
                };
                next = next.max(uid.saturating_add(1));
                let to =
                    maildir::message_path(&dir, &target_base(f, uid), f.in_new, &f.flags, &map);
                moves.push((f.path.clone(), to));
            }
            let modseq = old.map_or(0, |(_, _, m)| m).max(now_secs().max(1) as u64);
            let special_use = existing
                .as_ref()
                .and_then(|r| r.special_use.clone())
                .or(old_state.and_then(|s| s.special_use))
                .or_else(|| default_special_use(&name));
            maildir::write_state(
                &dir,
                &MailboxState {
                    uidvalidity,
                    uid_reserved: next,
                    modseq_reserved: modseq,
                    special_use,
                },
            )
            .at(&dir)?;
            if let Some(row) = existing {
                // Inserted again by the reconcile below, from the state just written.
                conn.prepare_cached("DELETE FROM mailbox WHERE id = ?1")?
                    .execute([row.id.0])?;
            }
            (uidvalidity, next)
        };
        for (from, to) in moves {
            std::fs::rename(&from, &to).at(&from)?;
            if let Some(parent) = to.parent() {
                fx.dirs.insert(parent.to_path_buf());
            }
            fx.renames.push((from, to));
        }
        last_uidvalidity = last_uidvalidity.max(uidvalidity);
        out.push(MailboxOutcome {
            name,
            messages: mb.files.len(),
            uids_kept: kept,
            uidvalidity,
            uidnext,
            merged: full,
        });
    }
    let mut subscriptions = maildir::read_subscriptions(&root).at(&root)?;
    for s in op.subscriptions {
        if let Ok(s) = normalize_name(&s)
            && !subscriptions.contains(&s)
        {
            subscriptions.push(s);
        }
    }
    maildir::write_subscriptions(&root, &subscriptions).at(&root)?;
    maildir::write_last_uidvalidity(&root, last_uidvalidity).at(&root)?;
    reconcile(conn, data_dir, fx, user, false, false)?;
    Ok(out)
}

/// Before anything in a mailbox reconciled from a possibly stale index gets a UID or
/// MODSEQ: the index may have lost commits (a power cut under `synchronous=NORMAL`, an
/// older copy put back) that handed out UIDs and MODSEQs a client has seen, so UIDNEXT
/// and HIGHESTMODSEQ go up to the durable reservations in `mailyard-state`, above all
/// of those (RFC 9051 §2.3.1.1: UIDs strictly ascending, never reused; RFC 7162
/// §3.1.1: HIGHESTMODSEQ never goes down). After a clean stop the reservations were
/// trimmed to what was used (`WriterState::trim_reservations`), so this costs nothing;
/// after a crash it leaves a gap of at most `UID_BLOCK` UIDs and `MODSEQ_BLOCK` MODSEQs.
fn raise_to_reservations(mb: &mut MailboxRow) -> Result<()> {
    if let Some(state) = maildir::read_state(&mb.dir).at(&mb.dir)? {
        mb.uid_reserved = mb.uid_reserved.max(state.uid_reserved);
        mb.modseq_reserved = mb.modseq_reserved.max(state.modseq_reserved);
    }
    mb.uidnext = mb.uidnext.max(mb.uid_reserved);
    mb.highestmodseq = mb.highestmodseq.max(mb.modseq_reserved);
    Ok(())
}

fn reconcile_mailbox(
    conn: &Connection,
    fx: &mut Effects,
    mb: &mut MailboxRow,
    report: &mut ReconcileReport,
) -> Result<()> {
    report.stale_tmp += maildir::clean_tmp(&mb.dir).at(&mb.dir)?;
    let keyword_map = maildir::read_keywords(&mb.dir).at(&mb.dir)?;
    let files = maildir::scan_messages(&mb.dir, &keyword_map).at(&mb.dir)?;
    let rows: HashMap<String, MessageInfo> = index::messages(conn, mb.id)?
        .into_iter()
        .map(|m| (m.base.clone(), m))
        .collect();
    let mut seen_bases: HashSet<String> = HashSet::new();
    let mut used_uids: HashSet<u32> = rows.values().map(|m| m.uid.0).collect();
    // UIDs reported expunged are never given to a file again (a crash can bring an
    // expunged file back: its expunge was not fsynced).
    used_uids.extend(
        index::expunged_since(conn, mb.id, ModSeq(0))?
            .into_iter()
            .map(|u| u.0),
    );
    let mut adopt = Vec::new();
    let mut modseq = None;
    for f in files {
        if !seen_bases.insert(f.parsed.base.clone()) {
            continue; // the same base twice (new/ and cur/): keep the first
        }
        match rows.get(&f.parsed.base) {
            Some(m) => {
                if m.flags != f.parsed.flags || m.in_new != f.in_new {
                    let ms = mb.shared_modseq(&mut modseq)?;
                    conn.prepare_cached(
                        "UPDATE message SET flags = ?3, keywords = ?4, in_new = ?5, modseq = ?6
                         WHERE mailbox_id = ?1 AND uid = ?2",
                    )?
                    .execute(params![
                        mb.id.0,
                        m.uid.0,
                        f.parsed.flags.flags.0,
                        f.parsed.flags.keywords_text(),
                        f.in_new,
                        ms as i64
                    ])?;
                    report.reflagged += 1;
                }
                report.messages += 1;
            }
            None => adopt.push(f),
        }
    }
    // Rows whose file is gone.
    let gone: Vec<Uid> = rows
        .values()
        .filter(|m| !seen_bases.contains(&m.base))
        .map(|m| m.uid)
        .collect();
    if !gone.is_empty() {
        let ms = mb.shared_modseq(&mut modseq)?;
        for uid in gone {
            forget_message(conn, mb.id, uid, ms)?;
            // Its UID stays used: it is expunged now, never to be given again.
            report.dropped += 1;
        }
    }
    // Adopt unknown files: keep a free ,U= UID, else renumber (in file order).
    adopt.sort_by_key(|f| (f.parsed.uid.is_none(), f.parsed.uid, f.path.clone()));
    let mut keep = Vec::new();
    let mut renumber = Vec::new();
    for f in adopt {
        match f.parsed.uid {
            Some(u) if used_uids.insert(u) => keep.push(f),
            _ => renumber.push(f),
        }
    }
    if let Some(max) = used_uids.iter().max() {
        mb.uidnext = mb.uidnext.max(max + 1);
    }
    let mut adopted = Vec::new();
    for f in keep {
        let uid = f.parsed.uid.unwrap_or(0);
        adopted.push((uid, f.path, f.parsed, f.in_new));
    }
    for f in renumber {
        let uid = mb.next_uid()?;
        let unique = f.parsed.base.split(',').next().unwrap_or("x").to_string();
        let size = std::fs::metadata(&f.path).at(&f.path)?.len();
        let base = maildir::base_name(&unique, size, uid);
        let new_path =
            maildir::message_path(&mb.dir, &base, f.in_new, &f.parsed.flags, &keyword_map);
        std::fs::rename(&f.path, &new_path).at(&f.path)?;
        if let Some(parent) = new_path.parent() {
            fx.dirs.insert(parent.to_path_buf());
        }
        let mut parsed = f.parsed;
        parsed.base = base;
        report.renumbered += 1;
        adopted.push((uid, new_path, parsed, f.in_new));
    }
    if !adopted.is_empty() {
        let ms = mb.shared_modseq(&mut modseq)?;
        for (uid, path, parsed, in_new) in adopted {
            let file = std::fs::read(&path).at(&path)?;
            // RFC822.SIZE is what IMAP will send (a Dovecot or procmail file may end
            // its lines in bare LF); the summary's shape indexes the file as stored.
            let size = maildir::wire_form(&file).len() as u64;
            let meta = std::fs::metadata(&path).at(&path)?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or_else(now_secs, |d| d.as_secs() as i64);
            let summary = summary::summarize(&file);
            let row = NewRow {
                mailbox: mb.id,
                uid,
                base: &parsed.base,
                in_new,
                size,
                internaldate: mtime,
                flags: &parsed.flags,
                modseq: ms,
            };
            insert_message(conn, &row, &summary)?;
            report.adopted += 1;
            report.messages += 1;
        }
    }
    if mb.uidnext > mb.uid_reserved {
        mb.uid_reserved = mb.uidnext;
        maildir::write_state(&mb.dir, &mb.state()).at(&mb.dir)?;
    }
    mb.save(conn)?;
    if modseq.is_some() {
        fx.touch(mb, MessageChanges::ANY);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::testkit::{Kit, alice, flags, message, open_index, start};
    use super::super::{Op, Outcome, ReconcileReport};
    use super::rebuild_shapes;
    use crate::index::{self, MessageInfo};
    use crate::maildir;
    use crate::model::{FlagSet, Flags, MailboxId, ModSeq, Uid};

    fn reconcile(kit: &Kit, rebuild: bool) -> ReconcileReport {
        let op = Op::Reconcile {
            user: alice(),
            rebuild,
            stale: false,
        };
        match kit.submit(op) {
            Ok(Outcome::Reconciled(r)) => r,
            other => panic!("reconcile: {other:?}"),
        }
    }

    fn nothing(_: &Path, _: &[MessageInfo]) {}

    fn add_free_uid(dir: &Path, _: &[MessageInfo]) {
        std::fs::write(dir.join("new/1700000000.M1P1.other,U=7"), message("x")).expect("write");
    }

    fn add_taken_uid(dir: &Path, _: &[MessageInfo]) {
        std::fs::write(dir.join("cur/1700000000.M2P2.other,U=1:2,S"), message("y")).expect("write");
    }

    fn remove_second(dir: &Path, m: &[MessageInfo]) {
        std::fs::remove_file(dir.join("new").join(&m[1].base)).expect("rm");
    }

    fn flag_first(dir: &Path, m: &[MessageInfo]) {
        let to = dir.join("cur").join(format!("{}:2,FS", m[0].base));
        std::fs::rename(dir.join("new").join(&m[0].base), to).expect("mv");
    }

    fn read_first(dir: &Path, m: &[MessageInfo]) {
        let to = dir.join("cur").join(format!("{}:2,", m[0].base));
        std::fs::rename(dir.join("new").join(&m[0].base), to).expect("mv");
    }

    #[test]
    fn reconcile_follows_each_change_made_behind_the_index() {
        type Change = fn(&Path, &[MessageInfo]);
        let seen_flagged = FlagSet {
            flags: Flags::SEEN.union(Flags::FLAGGED),
            keywords: Vec::new(),
        };
        // (what, change, (adopted, dropped, reflagged, renumbered), UIDs after,
        //  uid 1's flags and place after)
        type Counts = (usize, usize, usize, usize);
        type Row = (&'static str, Change, Counts, Vec<u32>, (FlagSet, bool));
        let rows: [Row; 6] = [
            (
                "nothing",
                nothing,
                (0, 0, 0, 0),
                vec![1, 2],
                (FlagSet::default(), true),
            ),
            (
                "a file with a free U=",
                add_free_uid,
                (1, 0, 0, 0),
                vec![1, 2, 7],
                (FlagSet::default(), true),
            ),
            (
                "a file with a taken U=",
                add_taken_uid,
                (1, 0, 0, 1),
                vec![1, 2, 3],
                (FlagSet::default(), true),
            ),
            (
                "a file removed",
                remove_second,
                (0, 1, 0, 0),
                vec![1],
                (FlagSet::default(), true),
            ),
            (
                "flags changed by a rename",
                flag_first,
                (0, 0, 1, 0),
                vec![1, 2],
                (seen_flagged, false),
            ),
            (
                "moved to cur/",
                read_first,
                (0, 0, 1, 0),
                vec![1, 2],
                (FlagSet::default(), false),
            ),
        ];
        for (what, change, counts, uids, (first_flags, first_in_new)) in rows {
            let kit = Kit::new();
            for i in 0..2 {
                kit.put(&alice(), "INBOX", &format!("m{i}"), FlagSet::default());
            }
            let inbox = kit.mailbox(&alice(), "INBOX").expect("INBOX");
            change(&kit.dir(&alice(), "INBOX"), &kit.messages(inbox.id));
            let report = reconcile(&kit, false);
            assert_eq!(
                (
                    report.adopted,
                    report.dropped,
                    report.reflagged,
                    report.renumbered
                ),
                counts,
                "{what}"
            );
            let after = kit.messages(inbox.id);
            let got: Vec<u32> = after.iter().map(|m| m.uid.0).collect();
            assert_eq!(got, uids, "{what}");
            assert_eq!(report.messages, uids.len(), "{what}");
            assert_eq!(
                (&after[0].flags, after[0].in_new),
                (&first_flags, first_in_new),
                "{what}"
            );
            // Any change is a new MODSEQ; none leaves HIGHESTMODSEQ where it was.
            let row = kit.mailbox(&alice(), "INBOX").expect("INBOX");
            let changed = counts != (0, 0, 0, 0);
            assert_eq!(row.highestmodseq > inbox.highestmodseq, changed, "{what}");
            assert!(row.uidnext.0 > *uids.iter().max().expect("a uid"), "{what}");
            // A dropped row is logged as expunged; the index and the tree agree again.
            let gone = index::expunged_since(&kit.read(), inbox.id, ModSeq(0)).expect("log");
            assert_eq!(gone.len(), counts.1, "{what}");
            assert_eq!(kit.files(&alice(), "INBOX").len(), uids.len(), "{what}");
            let again = reconcile(&kit, false);
            assert_eq!(
                again.adopted + again.dropped + again.reflagged,
                0,
                "{what}: twice"
            );
        }
    }

    /// What a rebuild must keep of each message: UID, flags, place.
    fn contents(kit: &Kit, mailbox: MailboxId) -> Vec<(Uid, FlagSet, bool)> {
        let messages = kit.messages(mailbox).into_iter();
        messages.map(|m| (m.uid, m.flags, m.in_new)).collect()
    }

    #[test]
    fn rebuild_from_nothing_keeps_uids_uidvalidity_and_flags() {
        for crashed in [false, true] {
            let kit = Kit::new();
            kit.put(&alice(), "INBOX", "a", FlagSet::default());
            kit.put(&alice(), "INBOX", "b", flags(Flags::ANSWERED, &["$label1"]));
            kit.put(&alice(), "Work", "c", flags(Flags::SEEN, &[]));
            let names = kit.names(&alice());
            let before: Vec<_> = names
                .iter()
                .map(|n| {
                    let mb = kit.mailbox(&alice(), n).expect("mailbox");
                    (mb.uidvalidity, mb.uidnext, contents(&kit, mb.id))
                })
                .collect();
            // A clean stop gives unused reservations back; a crash leaves them.
            let super::super::testkit::Kit { dir, writer } = kit;
            drop(writer);
            let inbox_dir = super::super::mailbox_path(dir.path(), &alice(), "INBOX").expect("dir");
            if crashed {
                let mut state = maildir::read_state(&inbox_dir)
                    .expect("read")
                    .expect("state");
                state.uid_reserved += maildir::UID_BLOCK;
                maildir::write_state(&inbox_dir, &state).expect("write");
            }
            for f in ["index.db", "index.db-wal", "index.db-shm"] {
                let _ = std::fs::remove_file(dir.path().join(f));
            }
            let kit = Kit {
                writer: start(dir.path()),
                dir,
            };
            let report = reconcile(&kit, true);
            assert_eq!(
                (report.mailboxes, report.messages, report.adopted),
                (2, 3, 3),
                "{crashed}"
            );
            assert_eq!(kit.names(&alice()), names, "{crashed}");
            for (name, (validity, next, msgs)) in names.iter().zip(before) {
                let mb = kit.mailbox(&alice(), name).expect("mailbox");
                let now = contents(&kit, mb.id);
                assert_eq!(
                    (mb.uidvalidity, &now),
                    (validity, &msgs),
                    "{crashed} {name}"
                );
                // UIDs a crashed writer reserved may have been seen: never handed out again.
                let want = if crashed && name == "INBOX" {
                    next.0 + maildir::UID_BLOCK
                } else {
                    next.0
                };
                assert_eq!(mb.uidnext, Uid(want), "{crashed} {name}");
            }
        }
    }

    #[test]
    fn empty_shapes_are_rebuilt_from_their_files() {
        let kit = Kit::new();
        let first = kit.put(&alice(), "INBOX", "a", FlagSet::default());
        let second = kit.put(&alice(), "INBOX", "b", FlagSet::default());
        let shape = |uid: Uid| {
            index::shape(&kit.read(), first.mailbox, uid)
                .expect("read")
                .expect("row")
        };
        let stored = shape(first.uid);
        assert!(!stored.is_empty());
        let mut conn = open_index(kit.data_dir());
        conn.execute("UPDATE message_meta SET shape = x''", [])
            .expect("empty the shapes");
        // The second message's file is gone: its row keeps the empty shape.
        let m = &kit.messages(first.mailbox)[1];
        std::fs::remove_file(kit.dir(&alice(), "INBOX").join("new").join(&m.base)).expect("rm");
        assert_eq!(
            rebuild_shapes(&mut conn, kit.data_dir()).expect("rebuild"),
            1
        );
        assert_eq!(shape(first.uid), stored);
        assert!(shape(second.uid).is_empty());
        assert_eq!(rebuild_shapes(&mut conn, kit.data_dir()).expect("again"), 0);
    }
}
