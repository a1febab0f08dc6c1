//! `mailyard export maildir DIR --user ADDRESS`: a user's mail as a Maildir++ tree
//! Dovecot takes over as it is (`mail_location = maildir:DIR`), so nobody is locked
//! in: every mailbox with its UIDVALIDITY, UIDs and UIDNEXT in a `dovecot-uidlist`,
//! its keyword names in `dovecot-keywords`, flags in the `:2,` info letters,
//! subscriptions in a version 2 `subscriptions` file, folders as `.Name` directories
//! (modified UTF-7) with the `maildirfolder` marker — the formats of `dovecot.rs`.
//!
//! Message files are hard linked from the store where the filesystem allows, else
//! copied (with their mtime, which is INTERNALDATE for both). Their names are
//! `<unique>,S=<file size>,W=<RFC822.SIZE>,U=<uid>[:2,<info>]`: Dovecot takes the
//! size it reports from `W=`, which counts CRLF line ends as we do for files with
//! bare LF. The export reads the index and the files while `serve` runs: a file
//! renamed under it (another session's flag change) is found again, one expunged
//! meanwhile is left out, and mail that arrives meanwhile may or may not be in it.

use std::fs;
use std::io;
use std::path::Path;

use crate::dovecot;
use crate::error::{IoContext, Result, StoreError};
use crate::maildir;
use crate::model::Address;

/// What an export wrote.
#[derive(Debug, Clone, Default)]
pub struct ExportReport {
    /// (mailbox name, messages) in name order.
    pub mailboxes: Vec<(String, usize)>,
    /// Files hard linked.
    pub linked: usize,
    /// Files copied.
    pub copied: usize,
}

/// Hard links `from` to `to`, else copies it (keeping its mtime). Returns whether it
/// linked; `NotFound` when `from` is gone.
pub(crate) fn link_or_copy(from: &Path, to: &Path) -> io::Result<bool> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(e),
        Err(_) => {
            fs::copy(from, to)?;
            let mtime = fs::metadata(from)?.modified()?;
            let f = fs::OpenOptions::new().write(true).open(to)?;
            f.set_modified(mtime)?;
            f.sync_all()?;
            Ok(false)
        }
    }
}

impl crate::Store {
    /// Writes `user`'s mail to `dir` (which must not exist, or be empty) as a tree for
    /// Dovecot; see the module docs.
    pub fn export_maildir_blocking(&self, user: &Address, dir: &Path) -> Result<ExportReport> {
        if self.accounts().user(user)?.is_none() {
            return Err(StoreError::Invalid(format!("no such user: {user}")));
        }
        if dir.exists() && fs::read_dir(dir).at(dir)?.next().is_some() {
            return Err(StoreError::Invalid(format!(
                "{} is not empty; export into a new directory",
                dir.display()
            )));
        }
        fs::create_dir_all(dir).at(dir)?;
        let mut report = ExportReport::default();
        let mut subscribed = Vec::new();
        for mb in self.mailboxes_blocking(user)? {
            let target =
                maildir::mailbox_dir(dir, &mb.name).map_err(|why| StoreError::BadName {
                    name: mb.name.clone(),
                    why,
                })?;
            maildir::create_maildir(&target, mb.name != "INBOX").at(&target)?;
            let messages = self.messages_blocking(mb.id)?;
            // Keyword letters in order of first use (at most 26, as in any maildir).
            let mut map: Vec<String> = Vec::new();
            for m in &messages {
                for k in &m.flags.keywords {
                    if !map.contains(k) && map.len() < maildir::MAX_KEYWORDS {
                        map.push(k.clone());
                    }
                }
            }
            let mut entries = Vec::with_capacity(messages.len());
            for m in &messages {
                let unique = m.base.split(',').next().unwrap_or("x");
                let mut info = m.clone();
                let mut done = None;
                // Another session may rename the file (a flag change) between finding
                // and linking it: find it again.
                for _ in 0..crate::READ_ATTEMPTS {
                    let src = self.message_path(user, &mb.name, &info)?;
                    let size = match fs::metadata(&src) {
                        Ok(meta) => meta.len(),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
                        Err(e) => return Err(e).at(&src),
                    };
                    let base = format!("{unique},S={size},W={},U={}", m.size, m.uid.0);
                    let to = maildir::message_path(&target, &base, info.in_new, &info.flags, &map);
                    match link_or_copy(&src, &to) {
                        Ok(linked) => {
                            done = Some((base, linked));
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            let _ = fs::remove_file(&to);
                            match self.read(|c| crate::index::message(c, mb.id, m.uid))? {
                                Some(fresh) => info = fresh,
                                None => break, // expunged while we went
                            }
                        }
                        Err(e) => return Err(e).at(&src),
                    }
                }
                let Some((base, linked)) = done else { continue };
                if linked {
                    report.linked += 1;
                } else {
                    report.copied += 1;
                }
                entries.push((m.uid.0, base));
            }
            if !map.is_empty() {
                maildir::write_keywords(&target, &map).at(&target)?;
            }
            let seed = format!("{user}\0{}", mb.name);
            let uidlist = dovecot::format_uidlist(mb.uidvalidity.0, mb.uidnext.0, &seed, &entries);
            maildir::write_atomic(&target, dovecot::UIDLIST_FILE, uidlist.as_bytes())
                .at(&target)?;
            if mb.subscribed {
                subscribed.push(mb.name.clone());
            }
            report.mailboxes.push((mb.name.clone(), entries.len()));
        }
        // Subscriptions of mailboxes that do not exist are kept too (RFC 9051 §6.3.7).
        for s in self.subscriptions_blocking(user)? {
            if !subscribed.contains(&s) {
                subscribed.push(s);
            }
        }
        maildir::write_atomic(
            dir,
            maildir::SUBSCRIPTIONS_FILE,
            dovecot::format_subscriptions(&subscribed).as_bytes(),
        )
        .at(dir)?;
        Ok(report)
    }
}
