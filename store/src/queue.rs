//! The relay queue: mail for recipients on other servers, kept under
//! `data_dir/queue/` until it is delivered, bounced or deleted.
//!
//! Layout: `queue/msg/<id>` is the message, preceded by its envelope (sender,
//! recipients with their RFC 3461 parameters, ENVID, RET, the authenticated user) as a
//! few text lines and an empty line; `queue/tmp/` holds files being written. The
//! mutable state (per-recipient status, attempts, next attempt, last reply, hold) is
//! a `queue`/`queue_rcpt` row in the index.
//!
//! Invariants:
//! - A message is queued like it is delivered: its file is fsynced in `queue/tmp/`,
//!   then one writer request renames it into `queue/msg/`, fsyncs that directory and
//!   inserts its rows, in the same transaction (and group commit) as the local copies
//!   of the same message. Only then is the client answered `250`.
//! - The file is the truth, the rows its state: a file without rows (the index was
//!   deleted, or a commit lost to a power cut) is adopted again with every recipient
//!   pending; rows without a file are dropped (`recover`).
//! - An entry is removed only when every recipient is final (sent or failed): its
//!   file is unlinked first, then its rows, so a crash in between never brings it back
//!   to be sent twice.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{IoContext, Result, StoreError};
use crate::model::Address;
use crate::spare::Spares;
use crate::writer::{Delivered, Effects, Op, Outcome, Target};
use crate::{Store, maildir};

/// The first line of every queue file: its format and version.
const MAGIC: &str = "mailyard-queue 1";

/// `data_dir/queue/msg`: the queued messages.
pub fn msg_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("queue").join("msg")
}

/// `data_dir/queue/tmp`: files being written.
pub fn tmp_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("queue").join("tmp")
}

/// Emptied queue files kept for reuse (`spare.rs`).
pub fn spare_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("queue").join("spare")
}

/// One recipient as the client gave it, with its RFC 3461 parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRcpt {
    /// `local@domain` as given (the local part keeps its case).
    pub address: String,
    /// RFC 3461 §4.1 NOTIFY, e.g. "FAILURE,DELAY" or "NEVER"; None: the default
    /// (failure and delay).
    pub notify: Option<String>,
    /// RFC 3461 §4.2 ORCPT, `addr-type;xtext` as given.
    pub orcpt: Option<String>,
}

/// What a queued message was sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path, `local@domain`, or "" for the null sender.
    pub sender: String,
    /// The remote recipients.
    pub recipients: Vec<QueuedRcpt>,
    /// RFC 3461 §4.4 ENVID.
    pub envid: Option<String>,
    /// RFC 3461 §4.3 RET: "FULL" or "HDRS".
    pub ret: Option<String>,
    /// The user who submitted it, or whose Sieve script redirected it (None: a bounce
    /// or other mail of our own); counted towards that user's daily send limits.
    pub auth_user: Option<String>,
    /// When it was accepted, unix seconds.
    pub created: i64,
}

/// Where a recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcptStatus {
    /// Not yet delivered; retried.
    Pending,
    /// Accepted by the remote server.
    Sent,
    /// Refused for good (or given up on); bounced.
    Failed,
}

impl RcptStatus {
    fn as_str(self) -> &'static str {
        match self {
            RcptStatus::Pending => "pending",
            RcptStatus::Sent => "sent",
            RcptStatus::Failed => "failed",
        }
    }
    fn parse(s: &str) -> RcptStatus {
        match s {
            "sent" => RcptStatus::Sent,
            "failed" => RcptStatus::Failed,
            _ => RcptStatus::Pending,
        }
    }
}

/// One recipient's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptState {
    /// The recipient and its parameters.
    pub rcpt: QueuedRcpt,
    /// Where it stands.
    pub status: RcptStatus,
    /// The last reply (or local reason) for it, e.g. "550 5.1.1 no such user".
    pub reply: String,
}

/// A queue entry as the scheduler and `mailyard queue` see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// The queue id (also the file name).
    pub id: String,
    /// The envelope's sender ("" for the null sender).
    pub sender: String,
    /// RFC 3461 ENVID.
    pub envid: Option<String>,
    /// RFC 3461 RET.
    pub ret: Option<String>,
    /// The submitting user.
    pub auth_user: Option<String>,
    /// Accepted at, unix seconds.
    pub created: i64,
    /// Message size in bytes.
    pub size: u64,
    /// Delivery attempts made.
    pub attempts: u32,
    /// The next attempt, unix seconds.
    pub next_attempt: i64,
    /// Held by the admin: not attempted until released.
    pub held: bool,
    /// A delay DSN was sent.
    pub delay_notified: bool,
    /// Deleted by the admin with a bounce to send (`mailyard queue delete`).
    pub cancelled: bool,
    /// The last problem, for `queue list`.
    pub last_error: String,
    /// Every recipient with its state.
    pub recipients: Vec<RcptState>,
}

impl QueueEntry {
    /// The recipients still to deliver.
    pub fn pending(&self) -> impl Iterator<Item = &RcptState> {
        self.recipients
            .iter()
            .filter(|r| r.status == RcptStatus::Pending)
    }
}

/// A change to the queue, applied by the writer.
#[derive(Debug)]
pub enum QueueChange {
    /// After a delivery attempt: the recipients' new status and reply, when to try
    /// again, whether a delay DSN has now been sent.
    Attempted {
        /// Which entry.
        id: String,
        /// (recipient address, status, reply).
        results: Vec<(String, RcptStatus, String)>,
        /// Next attempt, unix seconds.
        next_attempt: i64,
        /// A delay DSN was sent (stays true once set).
        delay_notified: bool,
        /// Summary for `queue list`.
        last_error: String,
    },
    /// Every recipient is final: remove the file, then the rows.
    Remove {
        /// Which entry.
        id: String,
    },
    /// Hold (true) or release (false).
    Hold {
        /// Which entry.
        id: String,
        /// Hold or release.
        on: bool,
    },
    /// Attempt now: one entry, or every entry not held.
    Flush {
        /// Which entry; None: all.
        id: Option<String>,
    },
    /// The admin deletes the entry: at once when `silent`, else it is marked so the
    /// scheduler bounces its pending recipients first.
    Cancel {
        /// Which entry.
        id: String,
        /// No bounce.
        silent: bool,
    },
    /// Bring the rows in line with `queue/msg/` (start of `serve`).
    Recover,
}

/// A message staged for the queue: its file fsynced in `queue/tmp/`.
#[derive(Debug)]
pub struct StagedQueue {
    /// The queue id.
    pub id: String,
    /// The fsynced file in `queue/tmp/`.
    pub tmp: PathBuf,
    /// The envelope.
    pub envelope: Envelope,
    /// Message size (without the envelope lines).
    pub size: u64,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A new queue id: time-ordered, unique to this process and moment.
pub fn new_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:X}{:05X}{:X}{:X}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Percent-encodes what would break a line-and-space format.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' | ' ' | '\r' | '\n' | '\t' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    if out.is_empty() { "-".into() } else { out }
}

fn dec(s: &str) -> Option<String> {
    if s == "-" {
        return None;
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The envelope lines that open a queue file (ending with the empty line).
pub fn encode_envelope(e: &Envelope) -> Vec<u8> {
    let mut s = format!("{MAGIC}\n");
    s.push_str(&format!("sender {}\n", enc(&e.sender)));
    s.push_str(&format!(
        "envid {}\n",
        enc(e.envid.as_deref().unwrap_or(""))
    ));
    s.push_str(&format!("ret {}\n", enc(e.ret.as_deref().unwrap_or(""))));
    s.push_str(&format!(
        "auth {}\n",
        enc(e.auth_user.as_deref().unwrap_or(""))
    ));
    s.push_str(&format!("created {}\n", e.created));
    for r in &e.recipients {
        s.push_str(&format!(
            "rcpt {} {} {}\n",
            enc(&r.address),
            enc(r.notify.as_deref().unwrap_or("")),
            enc(r.orcpt.as_deref().unwrap_or(""))
        ));
    }
    s.push('\n');
    s.into_bytes()
}

/// Parses a queue file: its envelope and where the message starts.
pub fn parse_queue_file(bytes: &[u8]) -> Option<(Envelope, usize)> {
    let end = bytes.windows(2).position(|w| w == b"\n\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.lines();
    if lines.next()? != MAGIC {
        return None;
    }
    let mut e = Envelope {
        sender: String::new(),
        recipients: Vec::new(),
        envid: None,
        ret: None,
        auth_user: None,
        created: 0,
    };
    for line in lines {
        let mut parts = line.split(' ');
        match (parts.next()?, parts.next()) {
            ("sender", Some(v)) => e.sender = dec(v).unwrap_or_default(),
            ("envid", Some(v)) => e.envid = dec(v),
            ("ret", Some(v)) => e.ret = dec(v),
            ("auth", Some(v)) => e.auth_user = dec(v),
            ("created", Some(v)) => e.created = v.parse().ok()?,
            ("rcpt", Some(v)) => e.recipients.push(QueuedRcpt {
                address: dec(v)?,
                notify: parts.next().and_then(dec),
                orcpt: parts.next().and_then(dec),
            }),
            _ => {}
        }
    }
    Some((e, end + 2))
}

/// Resolves a recipient of a local domain through users, aliases (to any depth up
/// to 10, cycles ignored) and plus-addressing: the local users it reaches, and the
/// addresses outside our domains that aliases point to (for the relay queue).
pub fn resolve_with_remote(
    accounts: &crate::Accounts,
    rcpt: &Address,
) -> Result<(Vec<Address>, Vec<Address>)> {
    fn walk(
        accounts: &crate::Accounts,
        a: &Address,
        depth: usize,
        seen: &mut HashSet<Address>,
        local: &mut Vec<Address>,
        remote: &mut Vec<Address>,
    ) -> Result<()> {
        if depth > 10 || !seen.insert(a.clone()) {
            return Ok(());
        }
        if !accounts.is_local_domain(a.domain())? {
            if depth > 0 && !remote.contains(a) {
                remote.push(a.clone());
            }
            return Ok(());
        }
        if accounts.user(a)?.is_some() {
            if !local.contains(a) {
                local.push(a.clone());
            }
            return Ok(());
        }
        for t in accounts.alias_targets(a)? {
            walk(accounts, &t, depth + 1, seen, local, remote)?;
        }
        Ok(())
    }
    let (mut local, mut remote, mut seen) = (Vec::new(), Vec::new(), HashSet::new());
    walk(accounts, rcpt, 0, &mut seen, &mut local, &mut remote)?;
    if local.is_empty()
        && remote.is_empty()
        && let Some((base, _tag)) = rcpt.local().split_once('+')
        && let Ok(plain) = Address::parse(&format!("{base}@{}", rcpt.domain()))
    {
        walk(accounts, &plain, 0, &mut seen, &mut local, &mut remote)?;
    }
    Ok((local, remote))
}

/// The message without a leading `Return-Path:` line (which is added for local
/// copies only).
fn strip_return_path(message: &[u8]) -> &[u8] {
    if message.len() >= 12 && message[..12].eq_ignore_ascii_case(b"return-path:") {
        let end = message
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(message.len(), |p| p + 2);
        return &message[end..];
    }
    message
}

// ---- The writer's side (called on the writer thread, inside its transaction). ----

/// Moves a staged file into `queue/msg/` and inserts its rows.
pub(crate) fn insert(conn: &Connection, fx: &mut Effects, q: StagedQueue) -> Result<()> {
    let Some(queue_root) = q.tmp.parent().and_then(Path::parent) else {
        return Err(StoreError::Invalid("queue file outside queue/tmp".into()));
    };
    let dir = queue_root.join("msg");
    let path = dir.join(&q.id);
    std::fs::rename(&q.tmp, &path).at(&path)?;
    fx.created.push(path);
    fx.dirs.insert(dir);
    insert_rows(conn, &q.id, &q.envelope, q.size, q.envelope.created)?;
    if let Some(user) = &q.envelope.auth_user {
        record_send(conn, user, &q.envelope.recipients, q.envelope.created)?;
    }
    Ok(())
}

/// One day, the window of the send limits.
pub const SEND_WINDOW_SECS: i64 = 86_400;
/// The send counts' granularity: messages are counted per hour, and the window is the
/// current hour and the 23 before it (so between 23 and 24 hours).
const SEND_BUCKET_SECS: i64 = 3_600;

/// The first hour bucket inside the window that ends at `now`.
fn first_send_bucket(now: i64) -> i64 {
    now / SEND_BUCKET_SECS - (SEND_WINDOW_SECS / SEND_BUCKET_SECS - 1)
}

/// Counts a message sent by `user` (and its first-time recipients) for the limits.
fn record_send(conn: &Connection, user: &str, rcpts: &[QueuedRcpt], now: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM send_count WHERE user = ?1 AND hour < ?2")?
        .execute(params![user, first_send_bucket(now)])?;
    conn.prepare_cached(
        "INSERT INTO send_count (user, hour, n) VALUES (?1, ?2, 1)
         ON CONFLICT (user, hour) DO UPDATE SET n = n + 1",
    )?
    .execute(params![user, now / SEND_BUCKET_SECS])?;
    let mut st = conn.prepare_cached(
        "INSERT OR IGNORE INTO sent_rcpt (user, rcpt, first) VALUES (?1, ?2, ?3)",
    )?;
    for r in rcpts {
        st.execute(params![user, r.address.to_lowercase(), now])?;
    }
    Ok(())
}

/// What an account has sent outside in the last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendUsage {
    /// Messages in the last day.
    pub messages: u64,
    /// Recipients written to for the first time in the last day.
    pub new_recipients: u64,
    /// How many of the recipients asked about would be first-time ones.
    pub new_in_this: u64,
}

fn insert_rows(conn: &Connection, id: &str, e: &Envelope, size: u64, next: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO queue (id, sender, envid, ret, auth_user, created, size, next_attempt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        id,
        e.sender,
        e.envid,
        e.ret,
        e.auth_user,
        e.created,
        size as i64,
        next
    ])?;
    let mut st = conn.prepare_cached(
        "INSERT OR IGNORE INTO queue_rcpt (queue_id, rcpt, notify, orcpt) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for r in &e.recipients {
        st.execute(params![id, r.address, r.notify, r.orcpt])?;
    }
    Ok(())
}

fn no_entry(id: &str) -> StoreError {
    StoreError::Invalid(format!("no such queue entry: {id}"))
}

/// Applies one change.
pub(crate) fn apply(
    conn: &Connection,
    data_dir: &Path,
    spares: &Spares,
    fx: &mut Effects,
    change: QueueChange,
) -> Result<Outcome> {
    match change {
        QueueChange::Attempted {
            id,
            results,
            next_attempt,
            delay_notified,
            last_error,
        } => {
            // The admin may have deleted it meanwhile: then there is nothing to record.
            let n = conn
                .prepare_cached(
                    "UPDATE queue SET attempts = attempts + 1, next_attempt = ?2,
                     delay_notified = MAX(delay_notified, ?3), last_error = ?4 WHERE id = ?1",
                )?
                .execute(params![id, next_attempt, delay_notified, last_error])?;
            if n > 0 {
                let mut st = conn.prepare_cached(
                    "UPDATE queue_rcpt SET status = ?3, reply = ?4
                     WHERE queue_id = ?1 AND rcpt = ?2 AND status = 'pending'",
                )?;
                for (rcpt, status, reply) in results {
                    st.execute(params![id, rcpt, status.as_str(), reply])?;
                }
            }
        }
        QueueChange::Remove { id } => remove(conn, data_dir, spares, &id, false)?,
        QueueChange::Hold { id, on } => {
            if conn
                .prepare_cached("UPDATE queue SET held = ?2 WHERE id = ?1")?
                .execute(params![id, on])?
                == 0
            {
                return Err(no_entry(&id));
            }
        }
        QueueChange::Flush { id: Some(id) } => {
            if conn
                .prepare_cached("UPDATE queue SET next_attempt = 0, held = 0 WHERE id = ?1")?
                .execute(params![id])?
                == 0
            {
                return Err(no_entry(&id));
            }
        }
        QueueChange::Flush { id: None } => {
            conn.prepare_cached("UPDATE queue SET next_attempt = 0 WHERE held = 0")?
                .execute([])?;
        }
        QueueChange::Cancel { id, silent: true } => {
            if !exists(conn, &id)? {
                return Err(no_entry(&id));
            }
            // The admin's delete: its bytes do not wait in a spare.
            remove(conn, data_dir, spares, &id, true)?;
        }
        QueueChange::Cancel { id, silent: false } => {
            if conn
                .prepare_cached(
                    "UPDATE queue SET cancelled = 1, held = 0, next_attempt = 0 WHERE id = ?1",
                )?
                .execute(params![id])?
                == 0
            {
                return Err(no_entry(&id));
            }
        }
        QueueChange::Recover => {
            let (adopted, dropped) = recover(conn, data_dir, fx)?;
            if adopted + dropped > 0 {
                tracing::warn!(
                    adopted,
                    dropped,
                    "relay queue brought in line with queue/msg"
                );
            }
        }
    }
    Ok(Outcome::Done)
}

fn exists(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM queue WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Removes an entry: its file leaves `queue/msg/` first (kept as a spare for the next
/// message, `spare.rs`), so that a failure after it leaves a record without a file,
/// which `recover` drops, never a file without a record, which it would send again.
fn remove(conn: &Connection, data_dir: &Path, spares: &Spares, id: &str, wipe: bool) -> Result<()> {
    let path = msg_dir(data_dir).join(id);
    spares.give_back(&path, wipe).at(&path)?;
    conn.prepare_cached("DELETE FROM queue WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

fn recover(conn: &Connection, data_dir: &Path, fx: &mut Effects) -> Result<(usize, usize)> {
    let dir = msg_dir(data_dir);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let tmp = tmp_dir(data_dir);
    std::fs::create_dir_all(&tmp).at(&tmp)?;
    // Files in tmp/ are deliveries that never got their 250: garbage.
    for f in std::fs::read_dir(&tmp).at(&tmp)?.flatten() {
        fx.tmp_done.push(f.path());
    }
    let mut files = HashSet::new();
    for f in std::fs::read_dir(&dir).at(&dir)?.flatten() {
        if let Some(name) = f.file_name().to_str() {
            files.insert(name.to_string());
        }
    }
    let rows: Vec<String> = conn
        .prepare_cached("SELECT id FROM queue")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut dropped = 0;
    for id in &rows {
        if !files.contains(id) {
            conn.prepare_cached("DELETE FROM queue WHERE id = ?1")?
                .execute([id])?;
            dropped += 1;
        }
    }
    let known: HashSet<&String> = rows.iter().collect();
    let mut adopted = 0;
    for id in files.iter().filter(|f| !known.contains(f)) {
        let path = dir.join(id);
        let bytes = std::fs::read(&path).at(&path)?;
        match parse_queue_file(&bytes) {
            Some((e, offset)) => {
                insert_rows(conn, id, &e, (bytes.len() - offset) as u64, 0)?;
                adopted += 1;
            }
            None => tracing::warn!(path = %path.display(), "not a queue file; left alone"),
        }
    }
    Ok((adopted, dropped))
}

// ---- Reading. ----

fn entries(
    conn: &Connection,
    sql_where: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<QueueEntry>> {
    let sql = format!(
        "SELECT id, sender, envid, ret, auth_user, created, size, attempts, next_attempt,
                held, delay_notified, cancelled, last_error
         FROM queue {sql_where}"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let mut out: Vec<QueueEntry> = st
        .query_map(args, |r| {
            Ok(QueueEntry {
                id: r.get(0)?,
                sender: r.get(1)?,
                envid: r.get(2)?,
                ret: r.get(3)?,
                auth_user: r.get(4)?,
                created: r.get(5)?,
                size: r.get::<_, i64>(6)?.max(0) as u64,
                attempts: r.get(7)?,
                next_attempt: r.get(8)?,
                held: r.get(9)?,
                delay_notified: r.get(10)?,
                cancelled: r.get(11)?,
                last_error: r.get(12)?,
                recipients: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = conn.prepare_cached(
        "SELECT rcpt, notify, orcpt, status, reply FROM queue_rcpt WHERE queue_id = ?1
         ORDER BY rowid",
    )?;
    for e in &mut out {
        e.recipients = st
            .query_map([&e.id], |r| {
                Ok(RcptState {
                    rcpt: QueuedRcpt {
                        address: r.get(0)?,
                        notify: r.get(1)?,
                        orcpt: r.get(2)?,
                    },
                    status: RcptStatus::parse(&r.get::<_, String>(3)?),
                    reply: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(out)
}

impl Store {
    /// Delivers `message` to the INBOX of each of `local` and queues it for the
    /// recipients of `remote`, in one writer request (one transaction): durable for
    /// all before this returns, or for none. Returns the local copies and the queue id.
    pub async fn deliver_and_queue(
        &self,
        message: Vec<u8>,
        local: &[Address],
        remote: Option<Envelope>,
    ) -> Result<(Vec<Delivered>, Option<String>)> {
        let remote = remote.filter(|e| !e.recipients.is_empty());
        let Some(envelope) = remote else {
            return Ok((self.deliver(message, local).await?, None));
        };
        let mut delivery = crate::delivery::Delivery::default();
        if !local.is_empty() {
            delivery.copies.push(crate::delivery::LocalCopy {
                message: message.clone(),
                targets: local.iter().map(Target::inbox).collect(),
            });
        }
        delivery
            .outbound
            .push(crate::delivery::Outbound { message, envelope });
        let (delivered, mut ids) = self.deliver_all(delivery).await?;
        Ok((delivered, ids.pop()))
    }

    /// Writes `message` with its envelope to `queue/tmp/`, fsynced: ready for a
    /// writer request to move into `queue/msg/` (`insert`). Blocking (a delivery's
    /// staging, `Store::stage_and_submit`).
    pub(crate) fn stage_queue_blocking(
        &self,
        message: &[u8],
        envelope: Envelope,
    ) -> Result<StagedQueue> {
        let id = new_id();
        let mut file = encode_envelope(&envelope);
        // RFC 5321 §4.4: Return-Path is added by the final delivery, not relayed.
        let relayed = strip_return_path(message);
        file.extend_from_slice(relayed);
        let size = relayed.len() as u64;
        let tmp_dir = tmp_dir(self.data_dir());
        let msg_dir = msg_dir(self.data_dir());
        if !msg_dir.is_dir() {
            // First use: the new directories' own entries must be durable too.
            std::fs::create_dir_all(&msg_dir).at(&msg_dir)?;
            for d in msg_dir.ancestors().skip(1).take(2) {
                maildir::sync_dir(d).at(d)?;
            }
        }
        std::fs::create_dir_all(&tmp_dir).at(&tmp_dir)?;
        let tmp = maildir::write_tmp_in(&tmp_dir, &id, &file, Some(&self.spares())).at(&tmp_dir)?;
        Ok(StagedQueue {
            id,
            tmp,
            envelope,
            size,
        })
    }

    /// Applies a queue change (from the scheduler).
    pub async fn queue_change(&self, change: QueueChange) -> Result<()> {
        self.submit(Op::Queue(change)).await.map(|_| ())
    }

    /// Applies a queue change, blocking (the CLI).
    pub fn queue_change_blocking(&self, change: QueueChange) -> Result<()> {
        self.submit_blocking(Op::Queue(change)).map(|_| ())
    }

    /// Every queue entry, oldest first.
    pub fn queue_list(&self) -> Result<Vec<QueueEntry>> {
        self.read(|c| entries(c, "ORDER BY created, id", &[]))
    }

    /// One queue entry.
    pub fn queue_entry(&self, id: &str) -> Result<Option<QueueEntry>> {
        let id = id.to_string();
        self.read(move |c| Ok(entries(c, "WHERE id = ?1", &[&id])?.pop()))
    }

    /// The ids of entries due at `now` and not held, oldest due first (then in the order
    /// they were queued), at most `limit`. Only ids: the scheduler asks this after every
    /// delivery and every message queued, and each worker reads its own entry. The order
    /// is the `queue_due` index's own (`rowid` is its last column), so the query stops
    /// after `limit` rows however long the queue is.
    fn queue_due_blocking(&self, now: i64, limit: usize) -> Result<Vec<String>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT id FROM queue WHERE held = 0 AND next_attempt <= ?1
                 ORDER BY next_attempt, rowid LIMIT ?2",
            )?
            .query_map(params![now, limit], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The ids of entries due at `now` and not held, oldest due first, at most
    /// `limit` (`Store::queue_due_blocking`): what the relay scheduler asks after
    /// every delivery and every message queued.
    pub async fn queue_due(&self, now: i64, limit: usize) -> Result<Vec<String>> {
        self.hop(move |s| s.queue_due_blocking(now, limit)).await
    }

    /// What a relay worker needs of entry `id` in one hop: the entry and its
    /// message's bytes (or why they cannot be read), unless the entry is gone
    /// (`mailyard queue delete`), held, or no longer due at `now` (then `None`: not
    /// now; the scheduler reads it again when it is due).
    pub async fn queue_work(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<(QueueEntry, Result<Vec<u8>>)>> {
        let id = id.to_string();
        self.hop(move |s| {
            let Some(entry) = s.queue_entry(&id)? else {
                return Ok(None);
            };
            if entry.held || entry.next_attempt > now {
                return Ok(None);
            }
            let message = s.queue_message_blocking(&entry.id);
            Ok(Some((entry, message)))
        })
        .await
    }

    /// The `[relay]` daily brakes' counts: what `user` sent to other servers within
    /// the window, and which of `rcpts` are new to it ([`SendUsage`]).
    pub async fn send_usage(&self, user: &str, rcpts: Vec<String>) -> Result<SendUsage> {
        let user = user.to_string();
        self.hop(move |s| s.send_usage_blocking(&user, &rcpts))
            .await
    }

    /// The earliest next attempt of an entry not held.
    pub fn queue_next_due(&self) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT MIN(next_attempt) FROM queue WHERE held = 0")?
                    .query_row([], |r| r.get(0))?,
            )
        })
    }

    /// A queued message's bytes (without the envelope lines).
    fn queue_message_blocking(&self, id: &str) -> Result<Vec<u8>> {
        let path = msg_dir(self.data_dir()).join(id);
        // Verified: a file removed while it is read may already hold another message.
        let mut bytes = crate::spare::read_verified(&path).at(&path)?;
        let Some((_, offset)) = parse_queue_file(&bytes) else {
            return Err(StoreError::Invalid(format!(
                "{}: not a queue file",
                path.display()
            )));
        };
        bytes.drain(..offset);
        Ok(bytes)
    }

    /// `user`'s sending in the last day, and how many of `rcpts` it has never written
    /// to (for `[relay]` send limits).
    pub(crate) fn send_usage_blocking(&self, user: &str, rcpts: &[String]) -> Result<SendUsage> {
        let now = now_secs();
        let since = now - SEND_WINDOW_SECS;
        self.read(|c| {
            let messages: i64 = c
                .prepare_cached(
                    "SELECT COALESCE(SUM(n), 0) FROM send_count WHERE user = ?1 AND hour >= ?2",
                )?
                .query_row(params![user, first_send_bucket(now)], |r| r.get(0))?;
            let new_recipients: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM sent_rcpt WHERE user = ?1 AND first >= ?2")?
                .query_row(params![user, since], |r| r.get(0))?;
            let mut known =
                c.prepare_cached("SELECT 1 FROM sent_rcpt WHERE user = ?1 AND rcpt = ?2")?;
            let mut new_in_this = 0;
            let mut seen = HashSet::new();
            for r in rcpts {
                let r = r.to_lowercase();
                if seen.insert(r.clone())
                    && known
                        .query_row(params![user, r], |_| Ok(()))
                        .optional()?
                        .is_none()
                {
                    new_in_this += 1;
                }
            }
            Ok(SendUsage {
                messages: messages.max(0) as u64,
                new_recipients: new_recipients.max(0) as u64,
                new_in_this,
            })
        })
    }

    /// Brings the queue rows in line with `queue/msg/` (`serve` runs this on start).
    pub fn recover_queue_blocking(&self) -> Result<()> {
        self.queue_change_blocking(QueueChange::Recover)
    }
}

/// The current time in unix seconds (for callers that schedule).
pub fn now() -> i64 {
    now_secs()
}

/// The first whole second not before this moment: a retry `d` seconds after a failure
/// is due at `now_ceil() + d`, never earlier (`now() + d` could come up to a second
/// early, as the due check compares whole seconds).
pub fn now_ceil() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        let s = d.as_secs() as i64;
        if d.subsec_nanos() > 0 { s + 1 } else { s }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip() {
        let e = Envelope {
            sender: "a b@x.test".into(),
            recipients: vec![
                QueuedRcpt {
                    address: "Bob@y.test".into(),
                    notify: Some("FAILURE,DELAY".into()),
                    orcpt: Some("rfc822;bob%40y.test".into()),
                },
                QueuedRcpt {
                    address: "c@z.test".into(),
                    notify: None,
                    orcpt: None,
                },
            ],
            envid: Some("id 1".into()),
            ret: Some("HDRS".into()),
            auth_user: None,
            created: 1234,
        };
        let mut file = encode_envelope(&e);
        file.extend_from_slice(b"Subject: x\r\n\r\nbody\r\n");
        let (back, offset) = parse_queue_file(&file).expect("parses");
        assert_eq!(back, e);
        assert_eq!(&file[offset..], b"Subject: x\r\n\r\nbody\r\n");
        assert!(parse_queue_file(b"garbage\n\nx").is_none());
    }
}
