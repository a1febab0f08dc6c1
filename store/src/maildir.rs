//! The Maildir++ tree: the truth the index is rebuilt from.
//!
//! Layout per user, under `data_dir/mail/<domain>/<localpart>/`:
//! - INBOX is the root's `cur/ new/ tmp/`; a folder is `.Name` (hierarchy separator
//!   `.`, non-ASCII names in modified UTF-7 as Dovecot stores them), with a
//!   `maildirfolder` marker file as Courier and Dovecot create.
//! - A message file is named `<unique>,S=<size>,W=<size>,U=<uid>` in `new/`, or with
//!   `:2,<flags>` in `cur/` (maildir(5) info: D F R S T, then keyword letters a–z
//!   mapped by the mailbox's `dovecot-keywords` file, Dovecot's format). The file holds
//!   the message as received, CRLF line endings, so S= and W= are equal and FETCH
//!   serves the bytes unchanged. `,U=` keeps the UID in the name itself, so the UID
//!   is as durable as the rename that delivered the file; other tools (mutt, Dovecot)
//!   keep the part before `:2,` when they move or re-flag a file.
//! - `mailyard-state` per mailbox: UIDVALIDITY, the UID and MODSEQ reserved so far
//!   (never reused after an index rebuild, even for expunged messages), special use.
//! - `subscriptions` at the root: one subscribed name per line, as Courier/Dovecot.
//!
//! Write order for a message (invariant): write to `tmp/`, fsync the file, link or
//! rename it into `new/` or `cur/`, fsync that directory and commit the index row (the
//! writer overlaps the two; the invariants in `writer/mod.rs` say why that is safe),
//! and only then acknowledge. A delivered message is written as an unnamed file on
//! `tmp/`'s filesystem where Linux allows it ([`Staged`]), so it never has a `tmp/`
//! name to create and remove.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::mailbox_name;
use crate::model::{Address, FlagSet, Flags};

/// The mailbox state file's name.
pub const STATE_FILE: &str = "mailyard-state";
/// Dovecot's keyword map file's name.
pub const KEYWORDS_FILE: &str = "dovecot-keywords";
/// Courier/Dovecot subscriptions file.
pub const SUBSCRIPTIONS_FILE: &str = "subscriptions";
/// Maildir info letters give at most 26 keywords per mailbox (Dovecot's limit too).
pub const MAX_KEYWORDS: usize = 26;

/// The root of a user's Maildir++ tree.
pub fn user_root(data_dir: &Path, user: &Address) -> PathBuf {
    data_dir.join("mail").join(user.domain()).join(user.local())
}

/// The directory of mailbox `name` inside `root`. Fails for names that are not valid,
/// which is how no crafted name reaches outside the tree.
pub fn mailbox_dir(root: &Path, name: &str) -> Result<PathBuf, mailbox_name::NameError> {
    let dir = mailbox_name::to_dir(name)?;
    Ok(if dir.is_empty() {
        root.to_path_buf()
    } else {
        root.join(dir)
    })
}

/// Creates `cur/ new/ tmp/` (and the `maildirfolder` marker for a subfolder), then
/// fsyncs the parents so the mailbox survives a crash.
pub fn create_maildir(dir: &Path, is_folder: bool) -> io::Result<()> {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    if is_folder {
        File::create(dir.join("maildirfolder"))?;
    }
    sync_dir(dir)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// fsync of a directory: makes the renames and links inside it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A name unique to this process and moment: `<secs>.M<usecs>P<pid>Q<n>.<host>`, as
/// maildir(5) recommends, with '/' and ':' in the host escaped as it says.
pub fn unique_name(host: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let host = host.replace('/', "\\057").replace(':', "\\072");
    format!(
        "{}.M{}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        n,
        host
    )
}

/// The host part of generated file names: the kernel's host name, as maildir(5) asks.
pub fn host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
}

/// Writes `bytes` to a new file in `tmp_dir` (created when missing), sets its
/// modification time to `mtime` (INTERNALDATE lives there, as with Dovecot) and
/// fsyncs it. Returns its path. One open per message: the directory is created only
/// when the open finds it missing, and the time is set through the open file.
pub fn write_tmp(
    tmp_dir: &Path,
    host: &str,
    bytes: &[u8],
    mtime: SystemTime,
) -> io::Result<PathBuf> {
    let path = tmp_dir.join(unique_name(host));
    let mut f = open_in(tmp_dir, || {
        OpenOptions::new().write(true).create_new(true).open(&path)
    })?;
    write_synced(&mut f, bytes, mtime)?;
    Ok(path)
}

/// Opens with `open` a file in `dir`, creating `dir` when the open finds it missing.
fn open_in(dir: &Path, open: impl Fn() -> io::Result<File>) -> io::Result<File> {
    match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir)?;
            open()
        }
        other => other,
    }
}

/// Writes a staged message's `bytes` to the new file `f`, sets its modification time
/// to `mtime` (INTERNALDATE lives there, as with Dovecot) and fdatasyncs it.
fn write_synced(f: &mut File, bytes: &[u8], mtime: SystemTime) -> io::Result<()> {
    f.write_all(bytes)?;
    f.set_modified(mtime)?;
    f.sync_data()
}

/// Unnamed staged files open at once, at most ([`stage`]): each holds a descriptor until
/// the writer has linked it, and a MULTIAPPEND of thousands of messages must not run
/// the process out of them. Beyond it, files are staged with a name in `tmp/`.
pub const MAX_UNNAMED_STAGED: usize = 256;

/// The process's unnamed staged files.
static UNNAMED: SlotPool = SlotPool::new(MAX_UNNAMED_STAGED);

/// Set once an `O_TMPFILE` open failed for want of support (an old kernel, a
/// filesystem without it) or the first link by descriptor failed (no `/proc`, a
/// sandbox refusing it; [`open_unnamed`]): named files from then on, for the process.
static UNNAMED_UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// A message file written and fsynced, not yet in any mailbox: what the writer links
/// into `new/` or `cur/` ([`Staged::link`]).
#[derive(Debug)]
pub enum Staged {
    /// A file without a name (Linux `O_TMPFILE`, opened on the user's `tmp/`), linked
    /// by its descriptor. It never has a `tmp/` entry, so no name is created before
    /// the link nor removed after it, and a crash leaves nothing to clean up: the
    /// kernel frees a file nobody linked.
    Unnamed(UnnamedFile),
    /// A file in `tmp/` (maildir(5)'s way, where `O_TMPFILE` is missing), removed by
    /// the writer once the mailboxes' names are durable.
    Named(PathBuf),
}

/// An open unnamed staged file.
#[derive(Debug)]
pub struct UnnamedFile {
    file: File,
    _slot: Slot,
}

/// At most `max` things held at once, counted without a lock.
#[derive(Debug)]
struct SlotPool {
    taken: AtomicUsize,
    max: usize,
}

/// One taken place of a [`SlotPool`], given back on drop.
#[derive(Debug)]
struct Slot(&'static SlotPool);

impl SlotPool {
    const fn new(max: usize) -> SlotPool {
        SlotPool {
            taken: AtomicUsize::new(0),
            max,
        }
    }

    /// A place, unless all `max` are taken.
    fn take(&'static self) -> Option<Slot> {
        if self.taken.fetch_add(1, Ordering::Relaxed) < self.max {
            Some(Slot(self))
        } else {
            self.taken.fetch_sub(1, Ordering::Relaxed);
            None
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Staged {
    /// Gives the staged file the name `to` (in the same filesystem). Called once per
    /// mailbox the message goes to.
    pub fn link(&self, to: &Path) -> io::Result<()> {
        match self {
            Staged::Named(tmp) => fs::hard_link(tmp, to),
            Staged::Unnamed(UnnamedFile { file, .. }) => link_by_descriptor(file, to),
        }
    }

    /// The `tmp/` name to remove once the file's mailbox names are durable: `None`
    /// for an unnamed file, which closes here.
    pub fn into_leftover(self) -> Option<PathBuf> {
        match self {
            Staged::Named(tmp) => Some(tmp),
            Staged::Unnamed(_) => None,
        }
    }

    /// Throws away a staged file that will not be delivered.
    pub fn discard(self) {
        if let Some(tmp) = self.into_leftover() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Writes `bytes` as a new file on `tmp_dir`'s filesystem (`tmp_dir` created when
/// missing), sets its modification time to `mtime` and fsyncs it: an unnamed file when
/// the system allows it and fewer than [`MAX_UNNAMED_STAGED`] are open, else a named
/// one ([`write_tmp`]).
pub fn stage(tmp_dir: &Path, host: &str, bytes: &[u8], mtime: SystemTime) -> io::Result<Staged> {
    stage_with(&UNNAMED, tmp_dir, host, bytes, mtime)
}

/// [`stage`] with the unnamed files counted in `pool`.
fn stage_with(
    pool: &'static SlotPool,
    tmp_dir: &Path,
    host: &str,
    bytes: &[u8],
    mtime: SystemTime,
) -> io::Result<Staged> {
    let slot = (!UNNAMED_UNSUPPORTED.load(Ordering::Relaxed))
        .then(|| pool.take())
        .flatten();
    if let Some(slot) = slot {
        match open_unnamed(tmp_dir) {
            Ok(file) => {
                let mut file = UnnamedFile { file, _slot: slot };
                write_synced(&mut file.file, bytes, mtime)?;
                return Ok(Staged::Unnamed(file));
            }
            Err(e) if unnamed_unsupported(&e) => {
                UNNAMED_UNSUPPORTED.store(true, Ordering::Relaxed);
                tracing::info!(error = %e, dir = %tmp_dir.display(),
                    "no unnamed files (O_TMPFILE) here: staging messages in tmp/");
            }
            Err(e) => return Err(e),
        }
    }
    write_tmp(tmp_dir, host, bytes, mtime).map(Staged::Named)
}

/// linkat(2) of an open file to `to`. By the descriptor's `/proc` link, followed:
/// `AT_EMPTY_PATH` would need CAP_DAC_READ_SEARCH.
fn link_by_descriptor(file: &File, to: &Path) -> io::Result<()> {
    let fd = std::os::fd::AsRawFd::as_raw_fd(file);
    rustix::fs::linkat(
        rustix::fs::CWD,
        format!("/proc/self/fd/{fd}").as_str(),
        rustix::fs::CWD,
        to,
        rustix::fs::AtFlags::SYMLINK_FOLLOW,
    )
    .map_err(io::Error::from)
}

/// Opens an unnamed file on `tmp_dir`'s filesystem, creating `tmp_dir` when missing.
/// The first time, it also checks that such a file can be linked by its descriptor
/// (a probe file linked into `tmp/` and removed at once): `/proc` may be missing, or
/// a sandbox or security module may refuse the link where `O_TMPFILE` itself works.
/// When it cannot, this fails with `Unsupported` from then on ([`unnamed_unsupported`]).
fn open_unnamed(tmp_dir: &Path) -> io::Result<File> {
    static LINKABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let file = open_unnamed_unchecked(tmp_dir)?;
    let linkable = LINKABLE.get_or_init(|| {
        let probe = tmp_dir.join(format!(".unnamed-probe-{}", unique_name(host())));
        let linked = open_unnamed_unchecked(tmp_dir).and_then(|f| link_by_descriptor(&f, &probe));
        let _ = fs::remove_file(&probe);
        if let Err(e) = &linked {
            tracing::info!(error = %e, dir = %tmp_dir.display(),
                "unnamed files (O_TMPFILE) cannot be linked by descriptor here");
        }
        linked.is_ok()
    });
    if *linkable {
        Ok(file)
    } else {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Opens an unnamed file for writing on `tmp_dir`'s filesystem (creating `tmp_dir` when
/// missing), with the mode a named file gets (0666 less the umask).
fn open_unnamed_unchecked(tmp_dir: &Path) -> io::Result<File> {
    open_in(tmp_dir, || {
        rustix::fs::open(
            tmp_dir,
            rustix::fs::OFlags::TMPFILE | rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::from_raw_mode(0o666),
        )
        .map(File::from)
        .map_err(io::Error::from)
    })
}

/// Whether an `O_TMPFILE` open failed because the kernel or the filesystem lacks it
/// (open(2): EOPNOTSUPP, or EINVAL from some filesystems; EISDIR from kernels before
/// 3.11), or [`open_unnamed`] found that such files cannot be linked here.
fn unnamed_unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || matches!(
            e.raw_os_error(),
            Some(c) if c == rustix::io::Errno::OPNOTSUPP.raw_os_error()
                || c == rustix::io::Errno::ISDIR.raw_os_error()
                || c == rustix::io::Errno::INVAL.raw_os_error()
        )
}

/// Writes `bytes` to a new file in `tmp_dir` and fsyncs it, the file taken from
/// `spares` when it holds one (the relay queue's files, `spare.rs`).
pub fn write_tmp_in(
    tmp_dir: &Path,
    host: &str,
    bytes: &[u8],
    spares: Option<&crate::spare::Spares>,
) -> io::Result<PathBuf> {
    let path = tmp_dir.join(unique_name(host));
    let (mut f, reused) = match spares {
        Some(s) => s.create(&path)?,
        None => (
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?,
            false,
        ),
    };
    f.write_all(bytes)?;
    if reused {
        // Written over a spare's old bytes: cut off what is left of them.
        f.set_len(bytes.len() as u64)?;
    }
    f.sync_data()?;
    Ok(path)
}

/// The modification time that stands for INTERNALDATE `unix_secs`.
pub fn internaldate_mtime(unix_secs: i64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_secs(unix_secs.max(0) as u64)
}

/// The base of a message file name: everything that stays when flags change.
pub fn base_name(unique: &str, size: u64, uid: u32) -> String {
    format!("{unique},S={size},W={size},U={uid}")
}

/// The path of a message inside its mailbox directory: `new/<base>` when it carries no
/// flags yet and `in_new`, else `cur/<base>:2,<info>`.
pub fn message_path(
    mailbox_dir: &Path,
    base: &str,
    in_new: bool,
    flags: &FlagSet,
    keyword_map: &[String],
) -> PathBuf {
    if in_new {
        mailbox_dir.join("new").join(base)
    } else {
        mailbox_dir
            .join("cur")
            .join(format!("{base}:2,{}", info(flags, keyword_map)))
    }
}

/// The maildir(5) info letters for `flags`, in ASCII order as the spec requires.
pub fn info(flags: &FlagSet, keyword_map: &[String]) -> String {
    let mut letters: Vec<char> = Flags::TABLE
        .iter()
        .filter(|(f, _, _)| flags.flags.contains(*f))
        .map(|(_, _, c)| *c)
        .collect();
    for kw in &flags.keywords {
        if let Some(i) = keyword_map.iter().position(|k| k == kw) {
            letters.push((b'a' + i as u8) as char);
        }
    }
    letters.sort_unstable();
    letters.into_iter().collect()
}

/// What a message file's name tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName {
    /// Everything before `:2,`.
    pub base: String,
    /// The `,U=` value, if any.
    pub uid: Option<u32>,
    /// The `,S=` value, if any.
    pub size: Option<u64>,
    /// Flags and keywords from the info part.
    pub flags: FlagSet,
}

/// Parses a file name found in `new/` or `cur/` (keywords resolved through `keyword_map`).
pub fn parse_name(name: &str, keyword_map: &[String]) -> ParsedName {
    let (base, info) = match name.split_once(":2,") {
        Some((b, i)) => (b, i),
        None => (name.split_once(':').map_or(name, |(b, _)| b), ""),
    };
    let field = |key: &str| {
        base.split(',')
            .skip(1)
            .find_map(|part| part.strip_prefix(key))
    };
    let mut flags = FlagSet::default();
    for c in info.chars() {
        if let Some((f, _, _)) = Flags::TABLE.iter().find(|(_, _, l)| *l == c) {
            flags.flags = flags.flags.union(*f);
        } else if c.is_ascii_lowercase()
            && let Some(kw) = keyword_map.get((c as u8 - b'a') as usize)
        {
            flags.keywords.push(kw.clone());
        }
    }
    flags.keywords.sort();
    flags.keywords.dedup();
    ParsedName {
        base: base.to_string(),
        uid: field("U=").and_then(|v| v.parse().ok()).filter(|u| *u > 0),
        size: field("S=").and_then(|v| v.parse().ok()),
        flags,
    }
}

/// Durable per-mailbox numbers that the index alone must not be trusted with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxState {
    /// RFC 9051 §2.3.1.1 UIDVALIDITY.
    pub uidvalidity: u32,
    /// No UID at or above this has been handed out; raised in blocks before use.
    pub uid_reserved: u32,
    /// No MODSEQ at or above this has been handed out; raised in blocks before use.
    pub modseq_reserved: u64,
    /// RFC 6154 special-use attribute, e.g. `\Sent`.
    pub special_use: Option<String>,
}

/// How far a reservation is raised at a time: one state-file write per this many.
pub const UID_BLOCK: u32 = 1024;
/// How far the MODSEQ reservation is raised at a time.
pub const MODSEQ_BLOCK: u64 = 4096;

/// Reads `mailyard-state`; None when it does not exist.
pub fn read_state(dir: &Path) -> io::Result<Option<MailboxState>> {
    let text = match fs::read_to_string(dir.join(STATE_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut state = MailboxState {
        uidvalidity: 0,
        uid_reserved: 1,
        modseq_reserved: 1,
        special_use: None,
    };
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "uidvalidity" => state.uidvalidity = v.parse().unwrap_or(0),
            "uid_reserved" => state.uid_reserved = v.parse().unwrap_or(1),
            "modseq_reserved" => state.modseq_reserved = v.parse().unwrap_or(1),
            "special_use" if !v.is_empty() => state.special_use = Some(v.to_string()),
            _ => {}
        }
    }
    if state.uidvalidity == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: no uidvalidity", dir.join(STATE_FILE).display()),
        ));
    }
    Ok(Some(state))
}

/// A message as IMAP sends it (RFC 9051 §2.3.4 and §6.4.5: lines end in CRLF, and
/// every size and offset counts that form). Maildir files written by Dovecot, mutt or
/// procmail, and APPENDs from sloppy scripts, end lines with a bare LF: such a message
/// (recognised by its first line ending) gets CR added before every bare LF, as
/// Dovecot does when it reads them. A message whose header uses CRLF is left exactly
/// as it is, so the bytes of a binary part (RFC 3516 literal8) are never touched.
pub fn wire_form(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let Some(first) = raw.iter().position(|&b| b == b'\n') else {
        return std::borrow::Cow::Borrowed(raw);
    };
    if first > 0 && raw[first - 1] == b'\r' {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    std::borrow::Cow::Owned(out)
}

/// The user's last UIDVALIDITY handed out, kept at the root of the user's tree
/// (Dovecot keeps `dovecot-uidvalidity` for the same reason): a mailbox deleted and
/// created again takes its state file with it, and must not get its old UIDVALIDITY
/// back, even within the same second (RFC 9051 §2.3.1.1).
pub const UIDVALIDITY_FILE: &str = "mailyard-uidvalidity";

/// Reads the user's last UIDVALIDITY (0 when none was recorded).
pub fn read_last_uidvalidity(root: &Path) -> io::Result<u32> {
    match fs::read_to_string(root.join(UIDVALIDITY_FILE)) {
        Ok(t) => Ok(t.trim().parse().unwrap_or(0)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Records the user's last UIDVALIDITY, atomically and durably.
pub fn write_last_uidvalidity(root: &Path, value: u32) -> io::Result<()> {
    fs::create_dir_all(root)?;
    write_atomic(root, UIDVALIDITY_FILE, format!("{value}\n").as_bytes())
}

/// Writes `mailyard-state` atomically and durably.
pub fn write_state(dir: &Path, state: &MailboxState) -> io::Result<()> {
    let text = format!(
        "uidvalidity={}\nuid_reserved={}\nmodseq_reserved={}\nspecial_use={}\n",
        state.uidvalidity,
        state.uid_reserved,
        state.modseq_reserved,
        state.special_use.as_deref().unwrap_or("")
    );
    write_atomic(dir, STATE_FILE, text.as_bytes())
}

/// Writes `dir/name` through a temporary file, fsync and rename, then fsyncs `dir`.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Directories whose keyword map [`read_keywords`] keeps; past it the cache starts
/// over.
pub const KEYWORD_CACHE_ENTRIES: usize = 4096;

/// What identifies one version of a file: a rewrite ([`write_atomic`] renames a new
/// file in) changes the inode, an edit in place the size or the mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt as _;
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

type KeywordCache = HashMap<PathBuf, (FileStamp, Vec<String>)>;

/// Keyword maps by mailbox directory, each with the stamp of the file it was read from.
static KEYWORDS: std::sync::LazyLock<std::sync::Mutex<KeywordCache>> =
    std::sync::LazyLock::new(Default::default);

/// Reads Dovecot's `dovecot-keywords`: lines `<index> <keyword>`; index 0 is letter 'a'.
/// Every flag change and every read of a message with keywords needs the map, so it is
/// kept per directory and checked with one `stat` against the file it came from
/// (another process — Dovecot, the CLI — may rewrite it at any time).
pub fn read_keywords(dir: &Path) -> io::Result<Vec<String>> {
    let path = dir.join(KEYWORDS_FILE);
    let stamp = match fs::metadata(&path) {
        Ok(m) => FileStamp::of(&m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if let Ok(cache) = KEYWORDS.lock()
        && let Some((s, map)) = cache.get(dir)
        && *s == stamp
    {
        return Ok(map.clone());
    }
    let mut file = fs::File::open(&path)?;
    let stamp = FileStamp::of(&file.metadata()?);
    let mut text = String::new();
    io::Read::read_to_string(&mut file, &mut text)?;
    let map = parse_keywords(&text);
    if let Ok(mut cache) = KEYWORDS.lock() {
        if cache.len() >= KEYWORD_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(dir.to_path_buf(), (stamp, map.clone()));
    }
    Ok(map)
}

/// The `dovecot-keywords` text as a map (index → keyword; unused slots empty).
fn parse_keywords(text: &str) -> Vec<String> {
    let mut map = vec![String::new(); MAX_KEYWORDS];
    let mut len = 0;
    for line in text.lines() {
        let Some((i, kw)) = line.split_once(' ') else {
            continue;
        };
        if let Ok(i) = i.parse::<usize>()
            && i < MAX_KEYWORDS
            && !kw.is_empty()
        {
            map[i] = kw.to_string();
            len = len.max(i + 1);
        }
    }
    map.truncate(len);
    map
}

/// Writes `dovecot-keywords`.
pub fn write_keywords(dir: &Path, map: &[String]) -> io::Result<()> {
    let text: String = map
        .iter()
        .enumerate()
        .filter(|(_, k)| !k.is_empty())
        .map(|(i, k)| format!("{i} {k}\n"))
        .collect();
    write_atomic(dir, KEYWORDS_FILE, text.as_bytes())
}

/// Reads the subscriptions file (one name per line; Dovecot's version 2, with its
/// `V\t2` header and TAB as the hierarchy separator, too: `dovecot.rs`).
pub fn read_subscriptions(root: &Path) -> io::Result<Vec<String>> {
    match fs::read_to_string(root.join(SUBSCRIPTIONS_FILE)) {
        Ok(t) => Ok(crate::dovecot::parse_subscriptions(&t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Writes the subscriptions file (modified UTF-7 names, one per line).
pub fn write_subscriptions(root: &Path, names: &[String]) -> io::Result<()> {
    let text: String = names
        .iter()
        .map(|n| format!("{}\n", mailbox_name::utf7_encode(n)))
        .collect();
    write_atomic(root, SUBSCRIPTIONS_FILE, text.as_bytes())
}

/// The mailboxes present in a user's tree: INBOX (the root) and every `.Name`
/// directory that decodes to a valid name.
pub fn list_mailboxes(root: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    if root.join("cur").is_dir() {
        out.push(("INBOX".to_string(), root.to_path_buf()));
    }
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let Some(fname) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some(name) = mailbox_name::from_dir(&fname)
            && entry.path().join("cur").is_dir()
        {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// A message file found by a scan.
#[derive(Debug, Clone)]
pub struct FoundFile {
    /// The full path.
    pub path: PathBuf,
    /// True when found in `new/`.
    pub in_new: bool,
    /// What the name says.
    pub parsed: ParsedName,
}

/// Lists the message files in a mailbox's `new/` and `cur/`.
pub fn scan_messages(dir: &Path, keyword_map: &[String]) -> io::Result<Vec<FoundFile>> {
    let mut out = Vec::new();
    for (sub, in_new) in [("new", true), ("cur", false)] {
        let read = match fs::read_dir(dir.join(sub)) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in read {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') || !entry.file_type()?.is_file() {
                continue;
            }
            out.push(FoundFile {
                path: entry.path(),
                in_new,
                parsed: parse_name(&name, keyword_map),
            });
        }
    }
    Ok(out)
}

/// maildir(5): a file in `tmp/` untouched for 36 hours is left over from a crashed
/// delivery and may be removed.
pub const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(36 * 3600);

/// Removes the files in `dir/tmp` older than `STALE_TMP`; returns how many.
pub fn clean_tmp(dir: &Path) -> io::Result<usize> {
    let read = match fs::read_dir(dir.join("tmp")) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in read {
        let entry = entry?;
        let meta = entry.metadata()?;
        let old = meta
            .modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_TMP);
        if meta.is_file() && old {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Where a message's file is now: the name the index expects; else, for a row that
/// says `new/`, its `cur/` name (claimed as `\Recent` since the row was read); else
/// found by its base name (another tool moved or re-flagged it). None when it is gone.
pub fn locate(
    mailbox_dir: &Path,
    base: &str,
    in_new: bool,
    flags: &FlagSet,
    keyword_map: &[String],
) -> io::Result<Option<PathBuf>> {
    let expected = message_path(mailbox_dir, base, in_new, flags, keyword_map);
    if expected.exists() {
        return Ok(Some(expected));
    }
    if in_new {
        let cur = message_path(mailbox_dir, base, false, flags, keyword_map);
        if cur.exists() {
            return Ok(Some(cur));
        }
    }
    Ok(find_by_base(mailbox_dir, base)?.map(|(p, _)| p))
}

/// Finds a message by its base name when the index's idea of its path is stale (another
/// tool moved it from new/ to cur/ or changed its flags).
pub fn find_by_base(dir: &Path, base: &str) -> io::Result<Option<(PathBuf, bool)>> {
    let direct = dir.join("new").join(base);
    if direct.exists() {
        return Ok(Some((direct, true)));
    }
    for entry in fs::read_dir(dir.join("cur"))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == base || name.split_once(":2,").is_some_and(|(b, _)| b == base) {
            return Ok(Some((entry.path(), false)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// An unnamed staged file: nothing in `tmp/` before or after, each link a name of
    /// the one file with its bytes and mtime; dropped unlinked, it leaves nothing.
    /// Beyond the pool's places a file is staged with a name, and a place given back
    /// is taken again.
    #[test]
    fn staged_files_are_unnamed_up_to_the_pool_then_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (tmp, new) = (dir.path().join("tmp"), dir.path().join("new"));
        fs::create_dir(&new).expect("new/");
        let pool: &'static SlotPool = Box::leak(Box::new(SlotPool::new(1)));
        let mtime = internaldate_mtime(1_700_000_000);
        let count = |d: &Path| fs::read_dir(d).expect("dir").count();

        // tmp/ is created on the way, and stays empty.
        let first = stage_with(pool, &tmp, "h", b"one\r\n", mtime).expect("stage");
        assert!(matches!(first, Staged::Unnamed(_)), "{first:?}");
        assert_eq!(count(&tmp), 0);
        first.link(&new.join("a")).expect("link a");
        first.link(&new.join("b")).expect("link b");
        let (a, b) = (
            fs::metadata(new.join("a")).expect("a"),
            fs::metadata(new.join("b")).expect("b"),
        );
        assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
        assert_eq!(fs::read(new.join("a")).expect("read"), b"one\r\n");
        assert_eq!(a.modified().expect("mtime"), mtime);

        // The pool's one place is taken: the next file gets a tmp/ name.
        let second = stage_with(pool, &tmp, "h", b"two\r\n", mtime).expect("stage");
        let path = match &second {
            Staged::Named(path) => path.clone(),
            other => panic!("named beyond the pool: {other:?}"),
        };
        assert_eq!(fs::read(&path).expect("read"), b"two\r\n");
        second.link(&new.join("c")).expect("link c");
        assert_eq!(second.into_leftover(), Some(path));
        assert_eq!(first.into_leftover(), None);

        // The place is back; a discarded unnamed file leaves no trace.
        let third = stage_with(pool, &tmp, "h", b"three\r\n", mtime).expect("stage");
        assert!(matches!(third, Staged::Unnamed(_)), "{third:?}");
        third.discard();
        assert_eq!(count(&new), 3);
        assert_eq!(pool.taken.load(Ordering::Relaxed), 0);

        // What turns staging over to named files for good, and what only fails it.
        let errno = |e: rustix::io::Errno| io::Error::from_raw_os_error(e.raw_os_error());
        for (e, unsupported) in [
            (errno(rustix::io::Errno::OPNOTSUPP), true),
            (errno(rustix::io::Errno::ISDIR), true),
            (errno(rustix::io::Errno::INVAL), true),
            (io::Error::from(io::ErrorKind::Unsupported), true),
            (errno(rustix::io::Errno::NOENT), false),
            (errno(rustix::io::Errno::NOSPC), false),
            (errno(rustix::io::Errno::ACCESS), false),
        ] {
            assert_eq!(unnamed_unsupported(&e), unsupported, "{e}");
        }
    }

    #[test]
    fn wire_form_adds_cr_only_to_lf_messages() {
        let cases: [(&[u8], &[u8]); 6] = [
            (b"", b""),
            (b"no newline", b"no newline"),
            (b"A: b\r\n\r\nbody\r\n", b"A: b\r\n\r\nbody\r\n"),
            (b"A: b\n\nbody\n", b"A: b\r\n\r\nbody\r\n"),
            // Mixed, LF first: every bare LF gets its CR, CRLF stays.
            (b"A: b\nC: d\r\n\nx\n", b"A: b\r\nC: d\r\n\r\nx\r\n"),
            // CRLF header: a binary body's bare LF is data, left alone.
            (b"A: b\r\n\r\n\x00\n\xff", b"A: b\r\n\r\n\x00\n\xff"),
        ];
        for (raw, want) in cases {
            assert_eq!(&*wire_form(raw), want, "{:?}", String::from_utf8_lossy(raw));
        }
        assert!(matches!(
            wire_form(b"A: b\r\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn names_round_trip() {
        let map = vec!["$label1".to_string(), "Junk".to_string()];
        let flags = FlagSet {
            flags: Flags::SEEN.union(Flags::ANSWERED).union(Flags::DELETED),
            keywords: vec!["$label1".into(), "Junk".into()],
        };
        let base = base_name("1700000000.M5P9Q0.host", 4096, 42);
        let path = message_path(Path::new("/m"), &base, false, &flags, &map);
        assert_eq!(
            path,
            Path::new("/m/cur/1700000000.M5P9Q0.host,S=4096,W=4096,U=42:2,RSTab")
        );
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parsed = parse_name(name, &map);
        assert_eq!(parsed.base, base);
        assert_eq!(parsed.uid, Some(42));
        assert_eq!(parsed.size, Some(4096));
        assert_eq!(parsed.flags, flags);
    }

    #[test]
    fn foreign_names() {
        // Names other tools write: no U=, other info, unknown keyword letters.
        let rows: &[(&str, Option<u32>, Flags)] = &[
            ("1.2.host", None, Flags(0)),
            ("1.2.host:2,S", None, Flags::SEEN),
            ("1.2.host,S=10:2,FS", None, Flags(5)),
            ("1.2.host,U=7:2,Tz", Some(7), Flags::DELETED),
            ("1.2.host,U=0", None, Flags(0)),
            ("1.2.host,U=x", None, Flags(0)),
            ("1.2.host:1,garbage", None, Flags(0)),
        ];
        for (name, uid, flags) in rows {
            let p = parse_name(name, &[]);
            assert_eq!((p.uid, p.flags.flags), (*uid, *flags), "{name}");
            assert!(p.flags.keywords.is_empty());
        }
    }

    #[test]
    fn state_and_keywords_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_state(dir.path()).expect("read"), None);
        let s = MailboxState {
            uidvalidity: 1234,
            uid_reserved: 1025,
            modseq_reserved: 4097,
            special_use: Some("\\Sent".into()),
        };
        write_state(dir.path(), &s).expect("write");
        assert_eq!(read_state(dir.path()).expect("read"), Some(s));
        let map = vec!["a".to_string(), "$Forwarded".to_string()];
        write_keywords(dir.path(), &map).expect("write");
        assert_eq!(read_keywords(dir.path()).expect("read"), map);
        // The cached map follows every change of the file: our own rewrite, another
        // program's edit in place (same inode), and removal.
        let more = vec!["a".to_string(), "$Forwarded".to_string(), "x".to_string()];
        write_keywords(dir.path(), &more).expect("write");
        assert_eq!(read_keywords(dir.path()).expect("read"), more);
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(KEYWORDS_FILE))
            .and_then(|mut f| f.write_all(b"3 edited\n"))
            .expect("edit in place");
        assert_eq!(read_keywords(dir.path()).expect("read")[3], "edited");
        std::fs::remove_file(dir.path().join(KEYWORDS_FILE)).expect("rm");
        assert!(read_keywords(dir.path()).expect("read").is_empty());
        let subs = vec!["INBOX".to_string(), "Entwürfe".to_string()];
        write_subscriptions(dir.path(), &subs).expect("write");
        assert_eq!(read_subscriptions(dir.path()).expect("read"), subs);
    }

    #[test]
    fn unique_names_differ() {
        let a = unique_name("h/o:st");
        let b = unique_name("h/o:st");
        assert_ne!(a, b);
        assert!(a.ends_with(".h\\057o\\072st"), "{a}");
    }
}
