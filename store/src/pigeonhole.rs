//! Dovecot Pigeonhole's Sieve layout, both ways: `mailyard import maildir PATH --user A
//! --sieve DIR [--sieve-active FILE]` and `mailyard export maildir DIR --user A --sieve
//! DIR2`.
//!
//! Pigeonhole (`sieve = file:~/sieve;active=~/.dovecot.sieve`) keeps a user's scripts as
//! `~/sieve/NAME.sieve` and the active one as the symlink `~/.dovecot.sieve` →
//! `sieve/NAME.sieve`; older set-ups (`sieve = ~/.dovecot.sieve` alone) have a plain
//! file there. On the way in, every `*.sieve` in DIR becomes the script NAME (names as
//! RFC 5804 §1.6 and [`check_name`] allow; others are left out and reported), and the
//! active one is what `.dovecot.sieve` beside DIR (or `--sieve-active`) points at; a
//! plain file, or a link to a file outside DIR, becomes the script
//! [`PLAIN_ACTIVE_NAME`]. Pigeonhole's compiled `*.svbin`, its `tmp/` and anything else
//! are not scripts and stay behind. On the way out, the user's scripts are written as
//! `DIR2/NAME.sieve` and the active one linked from `DIR2/../.dovecot.sieve`.
//!
//! The store does not compile Sieve: the caller hands in a checker. A script that does
//! not compile is imported all the same (the user can fix it), but never made active:
//! delivery would keep every message in the INBOX.
//!
//! Order: [`read_source`] reads DIR and [`crate::Store::sieve_import_plan`] compares it
//! with the user's scripts — a different script under the same name refuses the whole
//! import, nothing written — before the mail is imported; then
//! [`crate::Store::sieve_import_apply`] writes (each script durable on its own, as
//! `sieve_put` writes it).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result, StoreError};
use crate::maildir;
use crate::model::Address;
use crate::sieve_scripts::{SCRIPT_DIR, SUFFIX, check_name};

/// Pigeonhole's active script: a symlink (or plain file) in the user's home, beside
/// the script directory.
pub const ACTIVE_LINK: &str = ".dovecot.sieve";
/// The script a plain-file `.dovecot.sieve` is imported as.
pub const PLAIN_ACTIVE_NAME: &str = "dovecot";
/// How many names (`dovecot`, `dovecot-2`, …) are tried for a plain active file when
/// DIR holds scripts of those names already.
const MAX_NAME_TRIES: usize = 100;

/// One script of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceScript {
    /// Its name in mailyard.
    pub name: String,
    /// The file it was read from.
    pub path: PathBuf,
    pub text: Vec<u8>,
}

/// A Pigeonhole script directory as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// In name order; a plain active file last.
    pub scripts: Vec<SourceScript>,
    /// The name of the active one.
    pub active: Option<String>,
    /// What was left out or could not be followed, one line each.
    pub notes: Vec<String>,
}

/// Reads Pigeonhole's script directory `dir` and its active script: `active_file`, or
/// by default `dir/../.dovecot.sieve` (whose absence means none is active). Files over
/// `max_bytes` are left out (reported). Nothing is changed.
pub fn read_source(dir: &Path, active_file: Option<&Path>, max_bytes: u64) -> Result<Source> {
    let canon = fs::canonicalize(dir).at(dir)?;
    if !canon.is_dir() {
        return Err(StoreError::Invalid(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let mut src = Source::default();
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(&canon)
        .at(&canon)?
        .collect::<io::Result<_>>()
        .at(&canon)?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let Ok(file) = entry.file_name().into_string() else {
            src.notes
                .push(format!("{}: left out: not a UTF-8 name", path.display()));
            continue;
        };
        let Some(name) = file.strip_suffix(SUFFIX) else {
            continue;
        };
        let meta = fs::metadata(&path).at(&path)?;
        if !meta.is_file() {
            continue;
        }
        if let Err(why) = check_name(name) {
            src.notes
                .push(format!("{}: left out: {why}", path.display()));
            continue;
        }
        if meta.len() > max_bytes {
            src.notes.push(format!(
                "{}: left out: {} bytes, more than a script may have ({max_bytes})",
                path.display(),
                meta.len()
            ));
            continue;
        }
        let text = fs::read(&path).at(&path)?;
        src.scripts.push(SourceScript {
            name: name.to_string(),
            path,
            text,
        });
    }
    let (link, explicit) = match active_file {
        Some(f) => (f.to_path_buf(), true),
        None => (canon.parent().unwrap_or(&canon).join(ACTIVE_LINK), false),
    };
    match fs::symlink_metadata(&link) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound && !explicit => return Ok(src),
        Err(e) => return Err(e).at(&link),
    }
    let target = match fs::canonicalize(&link) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let to = fs::read_link(&link).unwrap_or_default();
            src.notes.push(format!(
                "{}: a link to {}, which does not exist: no script made active",
                link.display(),
                to.display()
            ));
            return Ok(src);
        }
        Err(e) => return Err(e).at(&link),
    };
    // A link to one of DIR's scripts (what Pigeonhole writes).
    let in_dir = target.parent() == Some(canon.as_path());
    let stem = target
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.strip_suffix(SUFFIX));
    if in_dir
        && let Some(stem) = stem
        && src.scripts.iter().any(|s| s.name == stem)
    {
        src.active = Some(stem.to_string());
        return Ok(src);
    }
    // A plain file, or a link elsewhere: its text is the active script.
    let meta = fs::metadata(&target).at(&target)?;
    if !meta.is_file() {
        return Err(StoreError::Invalid(format!(
            "{}: not a file",
            link.display()
        )));
    }
    if meta.len() > max_bytes {
        src.notes.push(format!(
            "{}: left out: {} bytes, more than a script may have ({max_bytes}); no script made active",
            link.display(),
            meta.len()
        ));
        return Ok(src);
    }
    let text = fs::read(&target).at(&target)?;
    // The same text as a script of DIR (a copy, a hard link): that one.
    if let Some(same) = src.scripts.iter().find(|s| s.text == text) {
        src.active = Some(same.name.clone());
        return Ok(src);
    }
    let taken = |n: &str| src.scripts.iter().any(|s| s.name == n);
    let name = std::iter::once(PLAIN_ACTIVE_NAME.to_string())
        .chain((2..=MAX_NAME_TRIES).map(|i| format!("{PLAIN_ACTIVE_NAME}-{i}")))
        .find(|n| !taken(n))
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "{}: no free name for it ({PLAIN_ACTIVE_NAME} to {PLAIN_ACTIVE_NAME}-{MAX_NAME_TRIES} are taken)",
                link.display()
            ))
        })?;
    src.scripts.push(SourceScript {
        name: name.clone(),
        path: link,
        text,
    });
    src.active = Some(name);
    Ok(src)
}

/// Compiles a script's text: `Err` with its errors as `LINE:COL: message` lines (the
/// caller's Sieve compiler; the store has none).
pub type Check<'a> = &'a dyn Fn(&[u8]) -> std::result::Result<(), Vec<String>>;

/// One script as the import will bring it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedScript {
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    pub text: Vec<u8>,
    /// Why it does not compile (`LINE:COL: message` each), empty when it does.
    pub errors: Vec<String>,
    /// The user has this script already, with the same text: nothing to write.
    pub unchanged: bool,
}

/// What a Sieve import will do (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SieveImport {
    pub scripts: Vec<ImportedScript>,
    /// The script made active.
    pub active: Option<String>,
    /// Dovecot's active script, which does not compile: imported, not made active.
    pub active_broken: Option<String>,
    /// From [`Source::notes`].
    pub notes: Vec<String>,
}

/// What a Sieve export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SieveExport {
    /// The scripts written, by name.
    pub scripts: Vec<String>,
    /// The `.dovecot.sieve` link made and what it points at.
    pub link: Option<(PathBuf, PathBuf)>,
}

/// Where `.dovecot.sieve` goes for the script directory `dir`: beside it.
fn link_path(dir: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(dir).at(dir)?;
    Ok(abs.parent().unwrap_or(&abs).join(ACTIVE_LINK))
}

/// Checks that `dir` can take an export: new or empty, and no `.dovecot.sieve` beside
/// it. Nothing is changed.
pub fn check_export_target(dir: &Path) -> Result<()> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(StoreError::Invalid(format!(
                    "{} is not empty; export the scripts into a new directory",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).at(dir),
    }
    let link = link_path(dir)?;
    if fs::symlink_metadata(&link).is_ok() {
        return Err(StoreError::Invalid(format!(
            "{} exists; move it away first",
            link.display()
        )));
    }
    Ok(())
}

impl crate::Store {
    /// Compares `source` with `user`'s scripts and compiles each with `check`
    /// (`Err` with `LINE:COL: message` lines when it does not); see the module docs.
    /// A script the user has under the same name with other text refuses the import.
    /// Nothing is changed.
    pub fn sieve_import_plan(
        &self,
        user: &Address,
        source: Source,
        check: Check<'_>,
    ) -> Result<SieveImport> {
        if self.accounts().user(user)?.is_none() {
            return Err(StoreError::Invalid(format!(
                "no such user: {user} (add it first: mailyard user add {user})"
            )));
        }
        let mut plan = SieveImport {
            notes: source.notes,
            ..SieveImport::default()
        };
        let mut clashes = Vec::new();
        for s in source.scripts {
            let unchanged = match self.sieve_get_blocking(user, &s.name)? {
                Some(have) if have == s.text => true,
                Some(_) => {
                    clashes.push(format!("{:?}", s.name));
                    continue;
                }
                None => false,
            };
            plan.scripts.push(ImportedScript {
                errors: check(&s.text).err().unwrap_or_default(),
                name: s.name,
                path: s.path,
                text: s.text,
                unchanged,
            });
        }
        if !clashes.is_empty() {
            return Err(StoreError::Invalid(format!(
                "{user} already has script(s) {} with other text; rename or delete them first \
                 (mailyard sieve rename|delete), or import without --sieve",
                clashes.join(", ")
            )));
        }
        if let Some(active) = source.active {
            let broken = plan
                .scripts
                .iter()
                .any(|s| s.name == active && !s.errors.is_empty());
            if broken {
                plan.active_broken = Some(active);
            } else {
                plan.active = Some(active);
            }
        }
        Ok(plan)
    }

    /// Writes what [`crate::Store::sieve_import_plan`] planned: the scripts, then the
    /// active one.
    pub fn sieve_import_apply(&self, user: &Address, plan: &SieveImport) -> Result<()> {
        for s in plan.scripts.iter().filter(|s| !s.unchanged) {
            self.sieve_put_blocking(user, &s.name, &s.text)?;
        }
        if let Some(active) = &plan.active {
            self.sieve_activate_blocking(user, Some(active))?;
        }
        Ok(())
    }

    /// Writes `user`'s scripts to `dir` (new or empty) as `NAME.sieve`, and the active
    /// one as the link `dir/../.dovecot.sieve`: `sieve/NAME.sieve` when `dir` is called
    /// `sieve` (Pigeonhole's own layout, which moves with the home directory), else
    /// `dir`'s absolute path.
    pub fn export_sieve_blocking(&self, user: &Address, dir: &Path) -> Result<SieveExport> {
        if self.accounts().user(user)?.is_none() {
            return Err(StoreError::Invalid(format!("no such user: {user}")));
        }
        check_export_target(dir)?;
        fs::create_dir_all(dir).at(dir)?;
        let canon = fs::canonicalize(dir).at(dir)?;
        let mut report = SieveExport::default();
        for s in self.sieve_list_blocking(user)? {
            let Some(text) = self.sieve_get_blocking(user, &s.name)? else {
                continue; // deleted meanwhile
            };
            maildir::write_atomic(&canon, &format!("{}{SUFFIX}", s.name), &text).at(&canon)?;
            report.scripts.push(s.name);
        }
        let active = self.sieve_active_name_blocking(user)?;
        if let Some(active) = active.filter(|a| report.scripts.contains(a)) {
            let file = format!("{active}{SUFFIX}");
            let target = if canon.file_name() == Some(SCRIPT_DIR.as_ref()) {
                Path::new(SCRIPT_DIR).join(&file)
            } else {
                canon.join(&file)
            };
            let parent = canon.parent().unwrap_or(&canon).to_path_buf();
            let link = parent.join(ACTIVE_LINK);
            std::os::unix::fs::symlink(&target, &link).at(&link)?;
            maildir::sync_dir(&parent).at(&parent)?;
            report.link = Some((link, target));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 1 << 20;

    fn write(p: &Path, text: &str) {
        fs::write(p, text).expect("write");
    }

    /// A home as Pigeonhole leaves it: `sieve/` with scripts, its compiled and temporary
    /// files, and `.dovecot.sieve` → `sieve/work.sieve`.
    fn home() -> tempfile::TempDir {
        let home = tempfile::tempdir().expect("tmp");
        let dir = home.path().join("sieve");
        fs::create_dir_all(dir.join("tmp")).expect("mkdir");
        write(&dir.join("work.sieve"), "keep;\n");
        write(&dir.join("old.sieve"), "discard;\n");
        write(&dir.join("work.svbin"), "\0binary");
        write(&dir.join(".hidden.sieve"), "keep;\n");
        write(&dir.join("tmp/x.sieve"), "keep;\n");
        std::os::unix::fs::symlink("sieve/work.sieve", home.path().join(ACTIVE_LINK))
            .expect("link");
        home
    }

    #[test]
    fn the_link_names_the_active_script() {
        let home = home();
        let src = read_source(&home.path().join("sieve"), None, MAX).expect("read");
        let names: Vec<&str> = src.scripts.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["old", "work"]);
        assert_eq!(src.active.as_deref(), Some("work"));
        assert_eq!(src.notes.len(), 1, "{:?}", src.notes);
        assert!(src.notes[0].contains(".hidden.sieve"), "{:?}", src.notes);
    }

    #[test]
    fn a_plain_file_is_the_script_dovecot() {
        let home = home();
        let link = home.path().join(ACTIVE_LINK);
        fs::remove_file(&link).expect("rm");
        write(&link, "require \"fileinto\"; fileinto \"X\";\n");
        // A script called dovecot already: the next free name.
        write(&home.path().join("sieve/dovecot.sieve"), "stop;\n");
        let src = read_source(&home.path().join("sieve"), None, MAX).expect("read");
        assert_eq!(src.active.as_deref(), Some("dovecot-2"));
        let last = src.scripts.last().expect("one");
        assert_eq!(
            (last.name.as_str(), last.path.as_path()),
            ("dovecot-2", link.as_path())
        );
        // A plain file with a script's text is that script.
        write(&link, "discard;\n");
        let src = read_source(&home.path().join("sieve"), None, MAX).expect("read");
        assert_eq!(src.active.as_deref(), Some("old"));
        assert_eq!(src.scripts.len(), 3);
    }

    #[test]
    fn missing_and_dangling_links() {
        let home = home();
        let dir = home.path().join("sieve");
        let link = home.path().join(ACTIVE_LINK);
        fs::remove_file(&link).expect("rm");
        let src = read_source(&dir, None, MAX).expect("read");
        assert_eq!((src.active, src.notes.len()), (None, 1));
        // Named explicitly, a missing file is an error.
        assert!(read_source(&dir, Some(&link), MAX).is_err());
        std::os::unix::fs::symlink("sieve/gone.sieve", &link).expect("link");
        let src = read_source(&dir, None, MAX).expect("read");
        assert_eq!(src.active, None);
        assert!(
            src.notes.iter().any(|n| n.contains("does not exist")),
            "{:?}",
            src.notes
        );
        // --sieve-active elsewhere.
        let other = home.path().join("other-active");
        std::os::unix::fs::symlink("sieve/old.sieve", &other).expect("link");
        let src = read_source(&dir, Some(&other), MAX).expect("read");
        assert_eq!(src.active.as_deref(), Some("old"));
        // Too big to be a script: left out.
        let src = read_source(&dir, None, 7).expect("read");
        let names: Vec<&str> = src.scripts.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["work"]);
    }
}
