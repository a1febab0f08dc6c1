//! Users' Sieve scripts at local delivery: each local recipient's active script
//! (`mailyard sieve`, ManageSieve) runs on the message before it is stored, and its
//! result becomes part of the one durable delivery (`mailyard_store::Delivery`):
//! copies in the mailboxes it names with the flags it sets, redirects and vacation
//! replies in the relay queue, what `vacation` and `duplicate` must remember.
//!
//! Invariants:
//! - Nothing is lost: a script that does not compile, runs out of its limits
//!   (`[sieve]`) or contradicts itself keeps the message in the INBOX, logged.
//! - A user's refusal (`reject`/`ereject`, RFC 5429) is a `550 5.7.1` at SMTP time
//!   when every recipient refused and nothing else was to be delivered; otherwise the
//!   sender gets a DSN (never `<>`).
//! - No loops and no backscatter: vacation answers only what RFC 5230 §4.5–4.6 allow
//!   (the interpreter checks), once per sender and handle per period; a redirect is
//!   not repeated by the user it already came from (`X-Sieve-Redirected-From:`, as
//!   Pigeonhole marks it) nor past the `Received:` count that means a loop.
//! - Redirect keeps the envelope sender (RFC 5228 §4.2 lets the implementation
//!   choose; no SRS rewriting): the next hop may fail SPF for it, and DKIM of the
//!   original signer is what survives. Mail redirected to a local user goes to their
//!   INBOX without running their own script (so two users' scripts cannot loop).
//! - A user's runs that remember (`duplicate`, `vacation`) go one at a time, each
//!   held until its delivery is stored ([`Serial`]): copies arriving at once see
//!   each other, as copies arriving one after the other do (in this process; a
//!   `sendmail` run in its own process is not held by the server's runs).

mod edit;
mod reply;
mod view;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use mailyard_common::Config;
use mailyard_sieve::{Action, Outcome, RuntimeError, Script};
use mailyard_store::delivery::{MAX_SIEVE_MEMORY_SECONDS, VACATION};
use mailyard_store::queue::{Envelope, QueuedRcpt};
use mailyard_store::{
    Address, Delivery, FlagSet, Flags, IfMissing, LocalCopy, Mark, Outbound, SieveScope, Store,
    Target,
};

use crate::queue::{MAX_RECEIVED, SendLimit, count_received, own_mail};

/// The header field that marks a message a user's script redirected (Pigeonhole's
/// name), so that user's script does not send it round again.
pub const REDIRECTED_FROM: &str = "X-Sieve-Redirected-From";

/// Compiled scripts kept, keyed by path; the cache starts afresh when full.
const MAX_CACHED_SCRIPTS: usize = 1024;

/// A message arriving for local users.
pub(crate) struct Inbound {
    /// The message as it will be stored (its `Return-Path:` and trace fields on top).
    pub message: Vec<u8>,
    /// MAIL FROM; empty for `<>`.
    pub from: String,
    /// The authenticated submitter, if any (RFC 5228 §5.4 `envelope "auth"`).
    pub auth: Option<String>,
    /// Each local user, once.
    pub rcpts: Vec<LocalRcpt>,
    /// The recipients on other servers, queued in the same delivery.
    pub remote: Option<Envelope>,
    /// Whether the caller can still refuse the message (SMTP, before its reply).
    pub can_refuse: bool,
}

/// A local recipient of an [`Inbound`].
pub(crate) struct LocalRcpt {
    pub user: Address,
    /// The RCPT TO that reached them (Sieve's `envelope "to"`).
    pub given: String,
    /// Their active Sieve script, when already looked up.
    pub script: ActiveScript,
}

impl LocalRcpt {
    /// A recipient whose script is looked up when the message is planned.
    pub(crate) fn new(user: Address, given: String) -> LocalRcpt {
        LocalRcpt {
            user,
            given,
            script: ActiveScript::Unknown,
        }
    }
}

/// A user's active Sieve script as SMTP's RCPT TO found it, in the same store hop
/// as the recipient's lookup ([`active_scripts`]), so that the message's plan needs
/// no hop of its own for users without one. The script is the one active at RCPT
/// TO (for up to [`RCPT_SCRIPT_FRESH`]); one activated between RCPT TO and the end of
/// DATA applies from the next message.
#[derive(Debug, Clone, Default)]
pub(crate) enum ActiveScript {
    /// Not looked up: [`plan`] looks.
    #[default]
    Unknown,
    /// None active (or Sieve is off, or the script does not compile).
    None,
    /// This one.
    Some(Arc<Script>),
}

/// How long the scripts RCPT TO found serve the message: a transaction held open
/// longer (a slow client, NOOPs between RCPT TO and DATA) has its recipients' scripts
/// looked up again at the end of DATA, so that a script deactivated meanwhile (a
/// forward, say) is not run.
pub(crate) const RCPT_SCRIPT_FRESH: std::time::Duration = std::time::Duration::from_secs(60);

/// The active scripts of `users` ([`ActiveScript`]), on the blocking side of a hop;
/// all None when Sieve is off (`[sieve] enabled`).
pub(crate) fn active_scripts(
    store: &SieveScope<'_>,
    enabled: bool,
    users: &[Address],
) -> Vec<ActiveScript> {
    users
        .iter()
        .map(|u| match enabled {
            false => ActiveScript::None,
            true => active_script(store, u).map_or(ActiveScript::None, ActiveScript::Some),
        })
        .collect()
}

/// What to do with an [`Inbound`].
pub(crate) enum Planned {
    /// Store all of this, durably, then say yes; hold the [`Serial`] until it is
    /// stored (or failed).
    Deliver(Delivery, Serial),
    /// Every recipient's script refused it: `550 5.7.1` with this text.
    Refuse(String),
}

/// The locks of the users whose runs remember what they saw (`duplicate`, `vacation`),
/// held from before their scripts run until the delivery that writes that memory is
/// stored: without them, two copies of a message arriving at once both find nothing
/// remembered and both are kept, and two messages from one sender both get a reply
/// (RFC 7352 §3, RFC 5230 §4.2). Dropping it lets the next run of those users go.
#[must_use = "hold it until the delivery is stored"]
#[derive(Default)]
pub(crate) struct Serial {
    _guards: Vec<tokio::sync::OwnedMutexGuard<()>>,
}

/// Idle per-user locks kept before the unused ones are dropped.
const MAX_IDLE_LOCKS: usize = 1024;

/// Whether runs of `script` may read or write the user's Sieve memory: it uses
/// `duplicate` or `vacation`, or may include a script that does.
fn remembers(script: &Script) -> bool {
    ["duplicate", "vacation", "include"]
        .iter()
        .any(|e| script.extensions.contains(*e))
}

/// Takes the locks of `users` (each once, in one order, so two deliveries to the same
/// users cannot wait on each other).
async fn serialize(mut users: Vec<String>) -> Serial {
    type Locks = HashMap<String, Arc<tokio::sync::Mutex<()>>>;
    static LOCKS: Mutex<Option<Locks>> = Mutex::new(None);
    users.sort();
    users.dedup();
    let mut guards = Vec::with_capacity(users.len());
    for user in users {
        let lock = {
            let mut guard = LOCKS.lock().unwrap_or_else(PoisonError::into_inner);
            let locks = guard.get_or_insert_with(HashMap::new);
            if locks.len() >= MAX_IDLE_LOCKS {
                locks.retain(|_, l| Arc::strong_count(l) > 1);
            }
            locks.entry(user).or_default().clone()
        };
        guards.push(lock.lock_owned().await);
    }
    Serial { _guards: guards }
}

/// The compiled script at `path` whose text is `text`, from the cache when that text
/// was compiled before; `None` (logged) when it does not compile.
pub(crate) fn compiled(path: &Path, text: &[u8]) -> Option<Arc<Script>> {
    type Cache = HashMap<PathBuf, (Vec<u8>, Arc<Script>)>;
    static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
    if let Ok(mut guard) = CACHE.lock()
        && let Some((cached, script)) = guard.get_or_insert_with(HashMap::new).get(path)
        && cached == text
    {
        return Some(script.clone());
    }
    let script = match mailyard_sieve::compile_bytes(text) {
        Ok(s) => Arc::new(s),
        Err(errors) => {
            let first = errors.first();
            tracing::warn!(
                script = %path.display(),
                line = first.map_or(0, |e| e.line),
                column = first.map_or(0, |e| e.column),
                error = first.map_or("", |e| e.message.as_str()),
                "sieve: script does not compile; keeping mail in the INBOX"
            );
            return None;
        }
    };
    if let Ok(mut guard) = CACHE.lock() {
        let cache = guard.get_or_insert_with(HashMap::new);
        if cache.len() >= MAX_CACHED_SCRIPTS {
            cache.clear();
        }
        cache.insert(path.to_path_buf(), (text.to_vec(), script.clone()));
    }
    Some(script)
}

/// What identifies a file's content without reading it: inode, size, modification
/// time. The store replaces scripts and the `active` file only by rename, so new text
/// is a new inode.
type Stamp = (u64, u64, i64, i64);

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

/// A user's active script as last read: the `active` file's stamp, the script's name
/// and stamp, and the script (None: it does not compile).
type Known = (Stamp, String, Stamp, Option<Arc<Script>>);

/// The user's active script, compiled; `None` without one (or a broken one). Two
/// `stat`s when neither the `active` file nor the script changed since the last
/// delivery (reading both costs ten system calls per message).
fn active_script(store: &SieveScope<'_>, user: &Address) -> Option<Arc<Script>> {
    static KNOWN: Mutex<Option<HashMap<PathBuf, Known>>> = Mutex::new(None);
    let dir = store.dir(user);
    let active = dir.join(mailyard_store::sieve_scripts::ACTIVE_FILE);
    let active_stamp = stamp(&active)?;
    if let Ok(mut guard) = KNOWN.lock()
        && let Some((a, name, s, script)) = guard.get_or_insert_with(HashMap::new).get(&dir)
        && *a == active_stamp
        && stamp(&dir.join(format!("{name}.sieve"))) == Some(*s)
    {
        return script.clone();
    }
    // Each file is stamped before it is read, so a change in between is seen at the
    // next delivery rather than hidden behind the new stamp.
    let read = store.active_name(user).and_then(|name| match name {
        Some(name) => {
            let script_stamp = stamp(&dir.join(format!("{name}.sieve")));
            Ok(store
                .script(user, &name)?
                .map(|text| (name, script_stamp, text)))
        }
        None => Ok(None),
    });
    match read {
        Ok(Some((name, script_stamp, text))) => {
            let path = dir.join(format!("{name}.sieve"));
            let script = compiled(&path, &text);
            if let (Some(s), Ok(mut guard)) = (script_stamp, KNOWN.lock()) {
                let known = guard.get_or_insert_with(HashMap::new);
                if known.len() >= MAX_CACHED_SCRIPTS {
                    known.clear();
                }
                known.insert(dir, (active_stamp, name, s, script.clone()));
            }
            script
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(%user, error = %e, "sieve: active script unreadable; keeping mail in the INBOX");
            None
        }
    }
}

/// One user's script run.
struct Run {
    user: Address,
    rcpt: String,
    result: Result<Outcome, RuntimeError>,
    marks: Vec<Mark>,
}

/// Runs each recipient's active script on `inbound` and turns the results into one
/// delivery (or a refusal).
pub(crate) async fn plan(store: &Store, config: &Config, inbound: Inbound) -> Planned {
    let Inbound {
        message,
        from,
        auth,
        mut rcpts,
        remote,
        can_refuse,
    } = inbound;
    // Which recipients have an active script: known from RCPT TO, else a few
    // `stat`s per recipient in one store hop (no file system call on the delivering
    // task). Only the unknown ones are looked up; the others keep what RCPT TO found.
    if !config.sieve.enabled {
        for r in &mut rcpts {
            r.script = ActiveScript::None;
        }
    }
    let unknown: Vec<Address> = rcpts
        .iter()
        .filter(|r| matches!(r.script, ActiveScript::Unknown))
        .map(|r| r.user.clone())
        .collect();
    if !unknown.is_empty() {
        let n = unknown.len();
        let mut found = store
            .with_sieve(move |sv| active_scripts(sv, true, &unknown))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "sieve: scripts unreadable; keeping mail in the INBOXes");
                vec![ActiveScript::None; n]
            })
            .into_iter();
        for r in &mut rcpts {
            if matches!(r.script, ActiveScript::Unknown) {
                r.script = found.next().unwrap_or(ActiveScript::None);
            }
        }
    }
    let mut plain = Vec::new();
    let mut scripted = Vec::new();
    for r in rcpts {
        match r.script {
            ActiveScript::Some(script) => scripted.push((r.user, r.given, script)),
            ActiveScript::None | ActiveScript::Unknown => plain.push(Target::inbox(&r.user)),
        }
    }
    let mut delivery = Delivery {
        outbound: remote
            .map(|envelope| Outbound {
                message: message.clone(),
                envelope,
            })
            .into_iter()
            .collect(),
        ..Delivery::default()
    };
    if scripted.is_empty() {
        delivery.copies.push(LocalCopy {
            message,
            targets: plain,
        });
        return Planned::Deliver(delivery, Serial::default());
    }
    let serial = serialize(
        scripted
            .iter()
            .filter(|(_, _, script)| remembers(script))
            .map(|(user, _, _)| user.to_string())
            .collect(),
    )
    .await;
    let message = Arc::new(message);
    let limits = mailyard_sieve::Limits {
        max_steps: config.sieve.max_steps,
        max_actions: config.sieve.max_actions,
        max_redirects: config.sieve.max_redirects,
        ..mailyard_sieve::Limits::default()
    };
    // Every script in one store hop: a run reads the store (`mailboxexists`,
    // `duplicate`, `include`), so it runs off the tokio workers.
    let (runs, unrun) = {
        let (message, from, auth) = (message.clone(), from.clone(), auth.clone());
        let users: Vec<Address> = scripted.iter().map(|(u, _, _)| u.clone()).collect();
        match store
            .with_sieve(move |sv| run_all(sv, &message, &from, auth, scripted, &limits))
            .await
        {
            Ok(runs) => (runs, Vec::new()),
            Err(e) => {
                // Each user's mail stays in the INBOX, as for a failed script.
                tracing::warn!(error = %e, "sieve: scripts not run; keeping mail in the INBOXes");
                (Vec::new(), users)
            }
        }
    };
    let mut base = LocalCopy {
        message: message.to_vec(),
        targets: plain,
    };
    base.targets.extend(unrun.iter().map(Target::inbox));
    let mut refused: Vec<(String, String)> = Vec::new();
    let mut later: Vec<(Address, String, Outcome)> = Vec::new();
    for run in runs {
        match run.result {
            Ok(outcome) => {
                if let Some(reason) = outcome.actions.iter().find_map(|a| match a {
                    Action::Reject { reason } | Action::Ereject { reason } => Some(reason),
                    _ => None,
                }) {
                    tracing::info!(user = %run.user, "sieve: message refused by the user's script");
                    refused.push((run.rcpt.clone(), reason.clone()));
                    continue;
                }
                delivery.marks.extend(run.marks);
                later.push((run.user, run.rcpt, outcome));
            }
            Err(e) => {
                tracing::warn!(user = %run.user, error = %e, "sieve: script failed; keeping mail in the INBOX");
                base.targets.push(Target::inbox(&run.user));
            }
        }
    }
    for (user, rcpt, outcome) in later {
        carry_out(
            store,
            config,
            &message,
            &from,
            &user,
            &rcpt,
            outcome,
            &mut base,
            &mut delivery,
        )
        .await;
    }
    if !base.targets.is_empty() {
        delivery.copies.insert(0, base);
    }
    let nothing_else = delivery.copies.is_empty() && delivery.outbound.is_empty();
    if can_refuse && !refused.is_empty() && nothing_else {
        return Planned::Refuse(refused.swap_remove(0).1);
    }
    if !from.is_empty() {
        for (rcpt, reason) in refused {
            let notice = reply::reject_notice(&config.hostname, &from, &rcpt, &reason, &message);
            match own_mail(store, &config.hostname, None, &from, notice).await {
                Ok((copy, out)) => {
                    delivery.copies.extend(copy);
                    delivery.outbound.extend(out);
                }
                Err(e) => tracing::error!(error = %e, "sieve: cannot route a reject notice"),
            }
        }
    }
    Planned::Deliver(delivery, serial)
}

/// [`plan`] and store the result, for callers that cannot refuse (a DSN, `sendmail`):
/// durable once this returns.
pub(crate) async fn deliver(
    store: &Store,
    config: &Config,
    inbound: Inbound,
) -> mailyard_store::Result<(Vec<mailyard_store::Delivered>, Vec<String>)> {
    match plan(
        store,
        config,
        Inbound {
            can_refuse: false,
            ..inbound
        },
    )
    .await
    {
        Planned::Deliver(d, _serial) => store.deliver_all(d).await,
        // Not reached: a refusal is only planned when the caller can make it.
        Planned::Refuse(_) => Ok((Vec::new(), Vec::new())),
    }
}

/// The scripts, run on the message parsed once.
fn run_all(
    store: &SieveScope<'_>,
    message: &[u8],
    from: &str,
    auth: Option<String>,
    scripted: Vec<(Address, String, Arc<Script>)>,
    limits: &mailyard_sieve::Limits,
) -> Vec<Run> {
    let now = mailyard_common::time::now();
    scripted
        .into_iter()
        .map(|(user, rcpt, script)| {
            let view = view::View::new(message, store, &user);
            let env = mailyard_sieve::Envelope {
                from: from.to_string(),
                to: rcpt.clone(),
                auth: auth.clone(),
                now: mailyard_sieve::date::DateTime::from_timestamp(now, 0),
                own_addresses: vec![user.to_string()],
            };
            let result = mailyard_sieve::run(&script, &view, &env, limits);
            let marks = view.marks.into_inner();
            Run {
                user,
                rcpt,
                result,
                marks,
            }
        })
        .collect()
}

/// A Sieve flag list (RFC 5232 §3) as stored flags: system flags by name, the rest as
/// keywords when they are IMAP atoms (RFC 9051 §9 `flag-keyword`); `\Recent` and
/// other backslash names are dropped (`\` is no atom character).
fn flag_set(names: &[String]) -> FlagSet {
    let mut set = FlagSet::default();
    for n in names {
        if let Some(f) = Flags::from_name(n) {
            set.flags = set.flags.union(f);
        } else if !n.is_empty() && n.bytes().all(mailyard_imap::proto::parser::is_atom_char) {
            set.keywords.push(n.clone());
        }
    }
    set.keywords.sort();
    set.keywords.dedup();
    set
}

/// One user's actions into `delivery` (their plain copies into `base`).
#[allow(clippy::too_many_arguments)]
async fn carry_out(
    store: &Store,
    config: &Config,
    message: &[u8],
    from: &str,
    user: &Address,
    rcpt: &str,
    outcome: Outcome,
    base: &mut LocalCopy,
    delivery: &mut Delivery,
) {
    let mut targets = Vec::new();
    let mut redirects = Vec::new();
    let mut vacation = None;
    let mut edits = Vec::new();
    for action in outcome.actions {
        match action {
            Action::Keep { flags } => targets.push(Target {
                flags: flag_set(&flags),
                ..Target::inbox(user)
            }),
            Action::FileInto {
                mailbox,
                create,
                flags,
                ..
            } => {
                let valid = mailyard_store::mailbox_name::normalize(&mailbox).is_ok();
                if !valid {
                    tracing::info!(%user, %mailbox, "sieve: fileinto an invalid name; into the INBOX");
                }
                targets.push(Target {
                    user: user.clone(),
                    mailbox: if valid { mailbox } else { "INBOX".into() },
                    flags: flag_set(&flags),
                    if_missing: if create {
                        IfMissing::Create
                    } else {
                        IfMissing::Inbox
                    },
                });
            }
            Action::Redirect { address, .. } => redirects.push(address),
            Action::Vacation(v) => vacation = Some(v),
            a @ (Action::AddHeader { .. } | Action::DeleteHeader { .. }) => edits.push(a),
            Action::Discard | Action::Reject { .. } | Action::Ereject { .. } => {}
        }
    }
    let edited = (!edits.is_empty()).then(|| edit::apply(message, &edits));
    let content: &[u8] = edited.as_deref().unwrap_or(message);

    let loops = || {
        edit::field_values(message, REDIRECTED_FROM)
            .iter()
            .any(|v| v.eq_ignore_ascii_case(&user.to_string()))
            || count_received(message) >= MAX_RECEIVED
    };
    if !redirects.is_empty() && loops() {
        tracing::warn!(%user, "sieve: not redirecting a message this user already redirected (a loop); keeping it");
        targets.push(Target::inbox(user));
        redirects.clear();
    }
    for address in redirects {
        if !redirect(store, config, from, user, &address, content, delivery).await {
            targets.push(Target::inbox(user));
        }
    }
    if let Some(v) = vacation {
        send_vacation(store, config, message, user, rcpt, v, delivery).await;
    }
    if targets.is_empty() {
        return;
    }
    match edited {
        None => base.targets.extend(targets),
        Some(m) => delivery.copies.push(LocalCopy {
            message: m,
            targets,
        }),
    }
}

/// RFC 5228 §4.2: `content` to `address`, from the original envelope sender; local
/// users get it in their INBOX. What goes to other servers counts towards the user's
/// daily sending brakes (`[relay] max_messages_per_day`, `max_new_recipients_per_day`),
/// so a stolen password cannot turn a redirect into a spam pump. False (logged) when
/// `address` leads nowhere or a brake is reached: the caller keeps the message.
async fn redirect(
    store: &Store,
    config: &Config,
    from: &str,
    user: &Address,
    address: &str,
    content: &[u8],
    delivery: &mut Delivery,
) -> bool {
    let Ok(target) = Address::parse(address) else {
        tracing::info!(%user, %address, "sieve: redirect to an invalid address; kept instead");
        return false;
    };
    let (local, remote) = match store.local_recipients(&target).await {
        Ok(None) => (Vec::new(), vec![target]),
        Ok(Some(r)) if !r.is_empty() => (r.local, r.remote),
        Err(e) => {
            tracing::warn!(%user, %address, error = %e, "sieve: redirect target not looked up; kept instead");
            return false;
        }
        Ok(Some(_)) => {
            tracing::info!(%user, %address, "sieve: redirect to no local user; kept instead");
            return false;
        }
    };
    if !remote.is_empty() {
        let rcpts: Vec<String> = remote.iter().map(ToString::to_string).collect();
        match store.send_usage(&user.to_string(), rcpts).await {
            Ok(u) => {
                if let Some(limit) = SendLimit::reached(&u, &config.relay) {
                    tracing::warn!(%user, %address, limit = limit.key(), "sieve: daily send limit reached; not redirecting, kept instead");
                    return false;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read send counts; not limiting"),
        }
    }
    // Below the delivery's `Return-Path:` (the original sender's, kept for a local
    // copy; the queue drops it from what it relays, RFC 5321 §4.4).
    let mark = Action::AddHeader {
        name: REDIRECTED_FROM.into(),
        value: user.to_string(),
        last: false,
    };
    let message = edit::apply(content, &[mark]);
    if !local.is_empty() {
        delivery.copies.push(LocalCopy {
            message: message.clone(),
            targets: local.iter().map(Target::inbox).collect(),
        });
    }
    if !remote.is_empty() {
        delivery.outbound.push(Outbound {
            message,
            envelope: Envelope {
                sender: from.to_string(),
                recipients: remote
                    .iter()
                    .map(|a| QueuedRcpt {
                        address: a.to_string(),
                        notify: None,
                        orcpt: None,
                    })
                    .collect(),
                envid: None,
                ret: None,
                auth_user: Some(user.to_string()),
                created: mailyard_store::queue::now(),
            },
        });
    }
    tracing::info!(%user, to = %address, "sieve: redirected");
    true
}

/// RFC 5230: the reply, unless this sender had one under this handle within the
/// period (`[sieve] vacation_min_period` at least).
async fn send_vacation(
    store: &Store,
    config: &Config,
    message: &[u8],
    user: &Address,
    rcpt: &str,
    v: mailyard_sieve::Vacation,
    delivery: &mut Delivery,
) {
    let period = v
        .period
        .max(config.sieve.vacation_min_period)
        .min(MAX_SIEVE_MEMORY_SECONDS);
    let handle = v.handle.clone().unwrap_or_else(|| {
        reply::derived_handle(
            v.subject.as_deref().unwrap_or(""),
            v.from.as_deref().unwrap_or(""),
            &v.reason,
        )
    });
    let key = format!("{handle}\0{}", v.to.to_ascii_lowercase());
    let seen = {
        let (u, key) = (user.clone(), key.clone());
        store
            .with_sieve(move |sv| sv.seen(&u, VACATION, &key, period, false))
            .await
            .and_then(|r| r)
    };
    match seen {
        Ok(true) => {
            tracing::info!(%user, to = %v.to, "sieve: vacation already sent to this sender");
            return;
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(%user, error = %e, "sieve: vacation memory unreadable; not replying");
            return;
        }
    }
    let from = v.from.clone().unwrap_or_else(|| rcpt.to_string());
    let Some(bytes) = reply::vacation(&config.hostname, &from, &v, message) else {
        tracing::warn!(%user, "sieve: vacation reply could not be built");
        return;
    };
    let domain = mailyard_sieve::address::first_address(&from)
        .and_then(|a| a.rsplit_once('@').map(|(_, d)| d.to_string()));
    match own_mail(store, &config.hostname, domain.as_deref(), &v.to, bytes).await {
        Ok((copy, out)) => {
            tracing::info!(%user, to = %v.to, "sieve: vacation reply sent");
            delivery.copies.extend(copy);
            delivery.outbound.extend(out);
            delivery.marks.push(Mark {
                user: user.clone(),
                kind: VACATION,
                key,
                fresh: true,
            });
        }
        Err(e) => tracing::error!(%user, error = %e, "sieve: cannot route a vacation reply"),
    }
}

/// Longest refusal text put in an SMTP reply line.
const MAX_REPLY_TEXT: usize = 200;

/// A script's refusal reason as one SMTP reply line: printable ASCII (others become
/// `?`), at most [`MAX_REPLY_TEXT`] characters, never empty.
pub(crate) fn reply_text(reason: &str) -> String {
    let text: String = reason
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_REPLY_TEXT)
        .collect();
    if text.is_empty() {
        "Refused by the recipient's filter".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(script: &str) -> (tempfile::TempDir, Store, Address) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path()).expect("open");
        let alice = user_with(&store, "alice@example.com", script);
        (dir, store, alice)
    }

    /// A new user of `store` whose active script is `script`.
    fn user_with(store: &Store, address: &str, script: &str) -> Address {
        let user = Address::parse(address).expect("address");
        store.accounts().add_user(&user, "pw").expect("user");
        store.setup_user_blocking(&user).expect("setup");
        store
            .sieve_put_blocking(&user, "s", script.as_bytes())
            .expect("put");
        store
            .sieve_activate_blocking(&user, Some("s"))
            .expect("activate");
        user
    }

    fn inbound(alice: &Address, message: Vec<u8>) -> Inbound {
        Inbound {
            message,
            from: "bob@remote.test".into(),
            auth: None,
            rcpts: vec![LocalRcpt::new(alice.clone(), alice.to_string())],
            remote: None,
            can_refuse: true,
        }
    }

    fn mailboxes(planned: Planned) -> Vec<String> {
        match planned {
            Planned::Deliver(d, _) => d
                .copies
                .iter()
                .flat_map(|c| c.targets.iter().map(|t| t.mailbox.clone()))
                .collect(),
            Planned::Refuse(r) => panic!("refused: {r}"),
        }
    }

    /// A long run (80 body tests over 40 KB) gets the full `[sieve]` limits, and its
    /// result is the script's (not "kept in the INBOX").
    #[tokio::test]
    async fn a_long_run_gets_the_full_limits() {
        let mut script = String::from("require [\"body\", \"fileinto\"];\n");
        for i in 0..80 {
            script.push_str(&format!(
                "if body :text :contains \"absent{i}\" {{ stop; }}\n"
            ));
        }
        script.push_str("if body :text :contains \"needle\" { fileinto \"Found\"; }\n");
        let (_dir, store, alice) = store_with(&script);
        let mut message = b"From: bob@remote.test\r\nSubject: big\r\n\r\n".to_vec();
        while message.len() < 40_000 {
            message.extend_from_slice(b"hay hay hay hay hay hay hay hay hay hay hay hay hay\r\n");
        }
        message.extend_from_slice(b"needle\r\n");
        let config = Config::default();
        let planned = plan(&store, &config, inbound(&alice, message)).await;
        assert_eq!(mailboxes(planned), ["Found"]);
    }

    /// The script cache never serves an old text: a replaced script, another active
    /// one, none active — each seen at the next delivery.
    #[tokio::test]
    async fn script_changes_are_seen_at_the_next_delivery() {
        let (_dir, store, alice) = store_with("require \"fileinto\"; fileinto \"A\";");
        let m = || b"From: bob@remote.test\r\nSubject: x\r\n\r\nhi\r\n".to_vec();
        let config = Config::default();
        assert_eq!(
            mailboxes(plan(&store, &config, inbound(&alice, m())).await),
            ["A"]
        );
        store
            .sieve_put_blocking(&alice, "s", b"require \"fileinto\"; fileinto \"B\";")
            .expect("put");
        assert_eq!(
            mailboxes(plan(&store, &config, inbound(&alice, m())).await),
            ["B"]
        );
        store
            .sieve_put_blocking(&alice, "t", b"require \"fileinto\"; fileinto \"C\";")
            .expect("put");
        store
            .sieve_activate_blocking(&alice, Some("t"))
            .expect("activate");
        assert_eq!(
            mailboxes(plan(&store, &config, inbound(&alice, m())).await),
            ["C"]
        );
        store
            .sieve_activate_blocking(&alice, None)
            .expect("deactivate");
        assert_eq!(
            mailboxes(plan(&store, &config, inbound(&alice, m())).await),
            ["INBOX"]
        );
    }

    /// The script RCPT TO found in its one hop ([`Store::route_rcpt`] with
    /// [`active_scripts`]) is the one the plan runs; a recipient found without
    /// (`Unknown`, e.g. the postmaster) is looked up when the message is planned; with
    /// `[sieve] enabled = false` the lookup finds nothing.
    #[tokio::test]
    async fn the_script_found_at_rcpt_is_the_one_run() {
        let (_dir, store, alice) = store_with("require \"fileinto\"; fileinto \"A\";");
        let m = || b"From: bob@remote.test\r\nSubject: x\r\n\r\nhi\r\n".to_vec();
        let config = Config::default();
        let at_rcpt = |enabled: bool| {
            let store = store.clone();
            let alice = alice.clone();
            async move {
                let (found, scripts) = store
                    .route_rcpt("example.com".into(), Some(alice), move |sv, r| {
                        active_scripts(sv, enabled, &r.local)
                    })
                    .await
                    .expect("lookup")
                    .expect("a local domain");
                assert_eq!(found.local.len(), 1);
                scripts.into_iter().next().expect("one script")
            }
        };
        let found = at_rcpt(true).await;
        assert!(matches!(found, ActiveScript::Some(_)));
        // Replaced after RCPT TO: this message still gets the script RCPT TO found.
        store
            .sieve_put_blocking(&alice, "s", b"require \"fileinto\"; fileinto \"B\";")
            .expect("put");
        let with = |script: ActiveScript| Inbound {
            rcpts: vec![LocalRcpt {
                script,
                ..LocalRcpt::new(alice.clone(), alice.to_string())
            }],
            ..inbound(&alice, m())
        };
        assert_eq!(mailboxes(plan(&store, &config, with(found)).await), ["A"]);
        assert_eq!(
            mailboxes(plan(&store, &config, with(ActiveScript::Unknown)).await),
            ["B"]
        );
        let off = at_rcpt(false).await;
        assert!(matches!(off, ActiveScript::None));
        assert_eq!(mailboxes(plan(&store, &config, with(off)).await), ["INBOX"]);
        // Not one of our domains: nothing looked up.
        let elsewhere = store
            .route_rcpt("remote.test".into(), None, |_, _| ())
            .await
            .expect("lookup");
        assert!(elsewhere.is_none());
    }

    /// Several recipients: only the ones RCPT TO did not look up are looked up at
    /// the plan (the known script is kept even though the file changed since), and
    /// with `[sieve] enabled = false` at the plan no script runs, known or not.
    #[tokio::test]
    async fn only_unknown_scripts_are_looked_up_and_sieve_off_runs_none() {
        let (_dir, store, alice) = store_with("require \"fileinto\"; fileinto \"A\";");
        let bob = user_with(
            &store,
            "bob@example.com",
            "require \"fileinto\"; fileinto \"Bob\";",
        );
        let users = vec![alice.clone()];
        let known = store
            .with_sieve(move |sv| active_scripts(sv, true, &users))
            .await
            .expect("hop")
            .remove(0);
        store
            .sieve_put_blocking(&alice, "s", b"require \"fileinto\"; fileinto \"B\";")
            .expect("put");
        let m = b"From: carol@remote.test\r\nSubject: x\r\n\r\nhi\r\n".to_vec();
        let both = |alice_script: ActiveScript| Inbound {
            rcpts: vec![
                LocalRcpt {
                    script: alice_script,
                    ..LocalRcpt::new(alice.clone(), alice.to_string())
                },
                LocalRcpt::new(bob.clone(), bob.to_string()),
            ],
            ..inbound(&alice, m.clone())
        };
        let mut got = mailboxes(plan(&store, &Config::default(), both(known.clone())).await);
        got.sort();
        assert_eq!(got, ["A", "Bob"]);
        let mut off = Config::default();
        off.sieve.enabled = false;
        assert_eq!(
            mailboxes(plan(&store, &off, both(known)).await),
            ["INBOX", "INBOX"]
        );
    }

    #[tokio::test]
    async fn a_small_run_stays_inline_and_files() {
        let (_dir, store, alice) = store_with(
            "require \"fileinto\"; if header :contains \"subject\" \"x\" { fileinto \"X\"; }",
        );
        let m = b"From: bob@remote.test\r\nSubject: x\r\n\r\nhi\r\n".to_vec();
        let planned = plan(&store, &Config::default(), inbound(&alice, m)).await;
        assert_eq!(mailboxes(planned), ["X"]);
    }
}
