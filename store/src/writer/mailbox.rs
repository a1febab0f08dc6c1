//! The writer's mailbox operations: create (a fresh UIDVALIDITY for a re-created
//! mailbox), delete, rename (children included; INBOX moves its messages), subscribe.
//! They keep the order the module doc (`mod.rs`) gives: the maildir changes first, with
//! directory renames recorded so that a failing request renames them back, then the
//! index commits.

use std::path::Path;

use rusqlite::{Connection, params};

use super::message::copy_messages;
use super::{Effects, MailboxRow, load_mailbox, mailbox_path, normalize_name, now_secs};
use crate::changes::MailboxEvent;
use crate::error::{IoContext, Result, StoreError};
use crate::index;
use crate::maildir::{self, MailboxState};
use crate::model::{Address, MailboxId, Uid};

/// Renames a directory and records it for undo; fsyncs both parents later.
fn rename_dir(fx: &mut Effects, from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).at(from)?;
    fx.renames.push((from.to_path_buf(), to.to_path_buf()));
    for p in [from, to] {
        if let Some(parent) = p.parent() {
            fx.dirs.insert(parent.to_path_buf());
        }
    }
    Ok(())
}

/// RFC 9051 §6.3.5: removes one mailbox; its children (separate Maildir++ folders)
/// stay. The tree leaves the namespace by a rename before the commit and is removed
/// after it.
pub(super) fn delete_mailbox(
    conn: &Connection,
    data_dir: &Path,
    fx: &mut Effects,
    user: &Address,
    name: &str,
) -> Result<()> {
    let name = normalize_name(name)?;
    if name == "INBOX" {
        return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
    }
    let mb = load_mailbox(conn, data_dir, user, &name)?
        .ok_or_else(|| StoreError::NoMailbox(name.clone()))?;
    conn.prepare_cached("DELETE FROM mailbox WHERE id = ?1")?
        .execute([mb.id.0])?;
    let root = maildir::user_root(data_dir, user);
    let graveyard = root.join(format!("..deleted.{}", maildir::unique_name("x")));
    rename_dir(fx, &mb.dir, &graveyard)?;
    fx.remove_trees.push(graveyard);
    // Sessions that have it selected learn that it is gone.
    fx.mark_changed(mb.id, mb.highestmodseq + 1);
    fx.event(user, MailboxEvent::Deleted { name });
    Ok(())
}

/// RFC 9051 §6.3.6: renames a mailbox and all its children (`from.*`). Renaming INBOX
/// moves its messages into a new mailbox `to`; INBOX and its children stay.
pub(super) fn rename_mailbox(
    conn: &Connection,
    data_dir: &Path,
    fx: &mut Effects,
    user: &Address,
    from: &str,
    to: &str,
) -> Result<()> {
    let from = normalize_name(from)?;
    let to = normalize_name(to)?;
    if to == "INBOX" {
        return Err(StoreError::MailboxExists(to));
    }
    if load_mailbox(conn, data_dir, user, &to)?.is_some() {
        return Err(StoreError::MailboxExists(to));
    }
    if from == to {
        return Err(StoreError::MailboxExists(to));
    }
    if from == "INBOX" {
        let src = load_mailbox(conn, data_dir, user, "INBOX")?
            .ok_or_else(|| StoreError::NoMailbox(from.clone()))?;
        let mut dst = ensure_mailbox(conn, data_dir, user, &to, None)?;
        fx.mark_changed(dst.id, dst.highestmodseq);
        // RFC 9051 §6.3.6: INBOX stays; its messages move to a new mailbox.
        fx.event(user, MailboxEvent::Created { name: to.clone() });
        let uids: Vec<Uid> = index::messages(conn, src.id)?
            .into_iter()
            .map(|m| m.uid)
            .collect();
        copy_messages(conn, fx, src, &mut dst, &uids, true)?;
        return Ok(());
    }
    if to.starts_with(&format!("{from}.")) {
        return Err(StoreError::Invalid(
            "a mailbox cannot be renamed into its own hierarchy".into(),
        ));
    }
    let src = load_mailbox(conn, data_dir, user, &from)?
        .ok_or_else(|| StoreError::NoMailbox(from.clone()))?;
    let prefix = format!("{from}.");
    let mut moves: Vec<(MailboxId, String, String)> = vec![(src.id, from.clone(), to.clone())];
    for m in index::mailboxes(conn, &user.to_string())? {
        if let Some(rest) = m.name.strip_prefix(&prefix) {
            moves.push((m.id, m.name.clone(), format!("{to}.{rest}")));
        }
    }
    for (_, _, new) in &moves {
        normalize_name(new)?;
        if load_mailbox(conn, data_dir, user, new)?.is_some() {
            return Err(StoreError::MailboxExists(new.clone()));
        }
    }
    for (id, old, new) in &moves {
        let old_dir = mailbox_path(data_dir, user, old)?;
        let new_dir = mailbox_path(data_dir, user, new)?;
        if new_dir.exists() {
            return Err(StoreError::MailboxExists(new.clone()));
        }
        rename_dir(fx, &old_dir, &new_dir)?;
        conn.prepare_cached("UPDATE mailbox SET name = ?2 WHERE id = ?1")?
            .execute(params![id.0, new])?;
        let hms: i64 = conn
            .prepare_cached("SELECT highestmodseq FROM mailbox WHERE id = ?1")?
            .query_row([id.0], |r| r.get(0))?;
        // Sessions that have it selected learn that the name is gone.
        fx.mark_changed(*id, hms as u64);
        fx.event(
            user,
            MailboxEvent::Renamed {
                from: old.clone(),
                to: new.clone(),
            },
        );
    }
    Ok(())
}

/// Adds or removes `name` in the user's `subscriptions` file and sets the index column.
pub(super) fn subscribe(
    conn: &Connection,
    data_dir: &Path,
    fx: &mut Effects,
    user: &Address,
    name: &str,
    on: bool,
) -> Result<()> {
    let name = normalize_name(name)?;
    let root = maildir::user_root(data_dir, user);
    std::fs::create_dir_all(&root).at(&root)?;
    let mut subs = maildir::read_subscriptions(&root).at(&root)?;
    let present = subs.contains(&name);
    if on && !present {
        subs.push(name.clone());
    } else if !on && present {
        subs.retain(|s| s != &name);
    }
    if on != present {
        maildir::write_subscriptions(&root, &subs).at(&root)?;
        fx.event(
            user,
            MailboxEvent::Subscription {
                name: name.clone(),
                subscribed: on,
            },
        );
    }
    conn.prepare_cached("UPDATE mailbox SET subscribed = ?3 WHERE user = ?1 AND name = ?2")?
        .execute(params![user.to_string(), name, on])?;
    Ok(())
}

/// Returns the mailbox, creating its directory, state file and row when missing. A
/// directory that exists with a state file (the index was lost) keeps its UIDVALIDITY.
pub(super) fn ensure_mailbox(
    conn: &Connection,
    data_dir: &Path,
    user: &Address,
    name: &str,
    special_use: Option<String>,
) -> Result<MailboxRow> {
    let name = normalize_name(name)?;
    if let Some(row) = load_mailbox(conn, data_dir, user, &name)? {
        return Ok(row);
    }
    let dir = mailbox_path(data_dir, user, &name)?;
    maildir::create_maildir(&dir, name != "INBOX").at(&dir)?;
    let state = state_or_new(conn, data_dir, user, &dir, special_use)?;
    insert_mailbox_row(
        conn,
        user,
        &name,
        &state,
        state.uid_reserved,
        state.modseq_reserved,
    )?;
    load_mailbox(conn, data_dir, user, &name)?.ok_or(StoreError::NoMailbox(name))
}

/// The mailbox's `mailyard-state`, or a new one (fresh UIDVALIDITY, nothing reserved)
/// written durably when the directory has none: a mailbox whose index row was lost
/// keeps its UIDVALIDITY.
pub(super) fn state_or_new(
    conn: &Connection,
    data_dir: &Path,
    user: &Address,
    dir: &Path,
    special_use: Option<String>,
) -> Result<MailboxState> {
    if let Some(s) = maildir::read_state(dir).at(dir)? {
        return Ok(s);
    }
    let s = MailboxState {
        uidvalidity: new_uidvalidity(conn, data_dir, user)?,
        uid_reserved: 1,
        modseq_reserved: 1,
        special_use,
    };
    maildir::write_state(dir, &s).at(dir)?;
    Ok(s)
}

pub(super) fn insert_mailbox_row(
    conn: &Connection,
    user: &Address,
    name: &str,
    state: &MailboxState,
    uidnext: u32,
    highestmodseq: u64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO mailbox (user, name, uidvalidity, uidnext, highestmodseq, uid_reserved,
                              modseq_reserved, special_use, first_recent_uid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?4)",
    )?
    .execute(params![
        user.to_string(),
        name,
        state.uidvalidity,
        uidnext.max(1),
        highestmodseq.max(1) as i64,
        state.uid_reserved.max(uidnext),
        state.modseq_reserved.max(highestmodseq) as i64,
        state.special_use
    ])?;
    Ok(())
}

/// RFC 9051 §2.3.1.1: a re-created mailbox must get a new UIDVALIDITY. Time-based,
/// above every UIDVALIDITY the user's mailboxes have now and above the last one handed
/// out (recorded at the user's root, so a mailbox deleted and created again in the
/// same second still gets a new one).
pub(super) fn new_uidvalidity(conn: &Connection, data_dir: &Path, user: &Address) -> Result<u32> {
    let max: Option<u32> = conn
        .prepare_cached("SELECT MAX(uidvalidity) FROM mailbox WHERE user = ?1")?
        .query_row([user.to_string()], |r| r.get(0))?;
    let root = maildir::user_root(data_dir, user);
    let last = maildir::read_last_uidvalidity(&root).at(&root)?;
    let now = u32::try_from(now_secs()).unwrap_or(u32::MAX - 1);
    let v = now
        .max(max.map_or(1, |m| m.saturating_add(1)))
        .max(last.saturating_add(1));
    maildir::write_last_uidvalidity(&root, v).at(&root)?;
    Ok(v)
}

pub(super) fn default_special_use(name: &str) -> Option<String> {
    crate::model::DEFAULT_MAILBOXES
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, s)| s.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, alice, ensure};
    use super::super::{Op, Outcome};
    use crate::error::StoreError;
    use crate::maildir;

    fn delete(name: &str) -> Op {
        Op::DeleteMailbox {
            user: alice(),
            name: name.into(),
        }
    }

    fn rename(from: &str, to: &str) -> Op {
        Op::RenameMailbox {
            user: alice(),
            from: from.into(),
            to: to.into(),
        }
    }

    /// The entries of alice's root directory, sorted.
    fn tree(kit: &Kit) -> Vec<String> {
        let root = maildir::user_root(kit.data_dir(), &alice());
        let mut names: Vec<String> = std::fs::read_dir(root)
            .expect("root")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_mailbox_created_again_in_the_same_second_gets_a_higher_uidvalidity() {
        let kit = Kit::new();
        kit.create(&alice(), "INBOX");
        let first = kit.create(&alice(), "Work").uidvalidity;
        assert!(matches!(kit.submit(delete("Work")), Ok(Outcome::Done)));
        assert!(kit.mailbox(&alice(), "Work").is_none());
        let again = kit.create(&alice(), "Work").uidvalidity;
        assert!(again > first, "{again:?} after {first:?}");
        let other = kit.create(&alice(), "Other").uidvalidity;
        assert!(other > again, "above every UIDVALIDITY handed out");
        // The rows lost (the index is a cache): the directory's state file keeps it.
        assert!(kit.submit(Op::Forget { user: alice() }).is_ok());
        assert!(kit.mailbox(&alice(), "Work").is_none());
        assert_eq!(kit.create(&alice(), "Work").uidvalidity, again);
    }

    #[test]
    fn refused_mailbox_requests_change_nothing() {
        let kit = Kit::new();
        for name in ["INBOX", "Work", "Work.2024"] {
            kit.create(&alice(), name);
        }
        let names = kit.names(&alice());
        let files = tree(&kit);
        type Check = fn(&StoreError) -> bool;
        let exists: Check = |e| matches!(e, StoreError::MailboxExists(_));
        let missing: Check = |e| matches!(e, StoreError::NoMailbox(_));
        let invalid: Check = |e| matches!(e, StoreError::Invalid(_));
        let bad_name: Check = |e| matches!(e, StoreError::BadName { .. });
        let rows: [(&str, Op, Check); 9] = [
            (
                "exclusive create of an existing one",
                ensure("Work", true),
                exists,
            ),
            ("a name outside the tree", ensure("../etc", false), bad_name),
            ("rename onto INBOX", rename("Work", "INBOX"), exists),
            ("rename onto itself", rename("Work", "Work"), exists),
            (
                "rename onto an existing one",
                rename("Work.2024", "Work"),
                exists,
            ),
            (
                "rename into its own children",
                rename("Work", "Work.x"),
                invalid,
            ),
            (
                "rename of a missing one",
                rename("Ghost", "Spirit"),
                missing,
            ),
            ("delete INBOX", delete("INBOX"), invalid),
            ("delete a missing one", delete("Ghost"), missing),
        ];
        for (what, op, check) in rows {
            match kit.submit(op) {
                Err(e) => assert!(check(&e), "{what}: {e:?}"),
                Ok(o) => panic!("{what}: {o:?}"),
            }
            assert_eq!(kit.names(&alice()), names, "{what}");
            assert_eq!(tree(&kit), files, "{what}");
        }
    }

    #[test]
    fn a_rename_that_fails_halfway_puts_every_directory_back() {
        let kit = Kit::new();
        let work = kit.create(&alice(), "Work");
        let child = kit.create(&alice(), "Work.2024");
        // A directory the index does not know sits where the child would go: the
        // parent is renamed first, then the child's rename is refused.
        let stray = kit.dir(&alice(), "Jobs.2024");
        maildir::create_maildir(&stray, true).expect("stray dir");
        let err = kit.submit(rename("Work", "Jobs")).expect_err("refused");
        assert!(
            matches!(&err, StoreError::MailboxExists(n) if n == "Jobs.2024"),
            "{err:?}"
        );
        assert_eq!(kit.mailbox(&alice(), "Work"), Some(work));
        assert_eq!(kit.mailbox(&alice(), "Work.2024"), Some(child));
        assert!(kit.mailbox(&alice(), "Jobs").is_none());
        assert!(kit.dir(&alice(), "Work").join("cur").is_dir());
        assert!(kit.dir(&alice(), "Work.2024").join("cur").is_dir());
        assert!(!kit.dir(&alice(), "Jobs").exists());
    }

    #[test]
    fn subscribing_twice_or_unsubscribing_a_stranger_is_a_no_op() {
        let kit = Kit::new();
        kit.create(&alice(), "Work");
        let root = maildir::user_root(kit.data_dir(), &alice());
        let sub = |name: &str, on: bool| {
            let op = Op::Subscribe {
                user: alice(),
                name: name.into(),
                on,
            };
            assert!(matches!(kit.submit(op), Ok(Outcome::Done)), "{name} {on}");
            maildir::read_subscriptions(&root).expect("subscriptions")
        };
        for (name, on, after) in [
            ("Work", true, vec!["Work"]),
            ("Work", true, vec!["Work"]),
            ("Ghost", true, vec!["Work", "Ghost"]),
            ("Never", false, vec!["Work", "Ghost"]),
            ("Work", false, vec!["Ghost"]),
            ("Work", false, vec!["Ghost"]),
        ] {
            assert_eq!(sub(name, on), after, "{name} {on}");
            let row = kit.mailbox(&alice(), "Work").expect("Work");
            assert_eq!(row.subscribed, after.contains(&"Work"), "{name} {on}");
        }
    }
}
