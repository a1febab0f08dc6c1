//! Accounts: domains, users (argon2id password hashes, quota) and aliases, in their own
//! small SQLite database (`accounts.db`). Unlike the index this is not a cache: it is
//! never rebuilt, so it runs with `synchronous=FULL`.
//!
//! Every call opens no long transaction, so the CLI and a running `serve` share the file;
//! `serve` reads it on every login and every RCPT, so changes need no restart.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Result, StoreError};
use crate::index::BUSY_TIMEOUT;
use crate::model::{Address, validate_domain};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS domain (
    name    TEXT PRIMARY KEY,
    created INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS user (
    address  TEXT PRIMARY KEY,
    domain   TEXT NOT NULL REFERENCES domain(name),
    password TEXT NOT NULL,              -- PHC string, argon2id
    quota    INTEGER NOT NULL DEFAULT 0, -- bytes, 0 = none
    created  INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS alias (
    address TEXT NOT NULL,
    target  TEXT NOT NULL,
    PRIMARY KEY (address, target)
) STRICT;
";

/// A user as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `local@domain`.
    pub address: Address,
    /// Quota in bytes; 0 means none.
    pub quota: u64,
}

/// The accounts database.
pub struct Accounts {
    path: PathBuf,
    /// The one write connection (writes are rare: the CLI, password changes).
    conn: Mutex<Connection>,
    /// Read connections, one per concurrent lookup: SMTP's RCPT lookups from many
    /// sessions do not queue behind one connection's lock.
    readers: crate::index::Readers,
    cache: AuthCache,
}

/// How long a verified login is remembered (Dovecot's `auth_cache_ttl` is an hour; a
/// shorter time bounds how long a password stays usable in memory after a theft).
pub const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 60);
/// Most logins remembered at once (then the oldest are dropped).
pub const AUTH_CACHE_ENTRIES: usize = 10_000;

/// Verified logins, in memory, as Dovecot's auth cache keeps them: a client that logs
/// in for every few commands (phones, imaptest's login mix) pays argon2id once per
/// [`AUTH_CACHE_TTL`], not per login. An entry holds the stored hash it was verified
/// against and an HMAC of the password under a key made at start (never the password):
/// a changed password (a new salted hash, also from the CLI in another process) or a
/// deleted user no longer matches, so nothing has to be invalidated. Failures are
/// never cached: every wrong guess costs a full argon2id verification.
///
/// Logins with the same credentials that arrive while the first is being verified wait
/// for that verification instead of running their own (`verify_once`): Thunderbird
/// opens its connections (up to 5) at once, mbsync and phones more, and each would
/// otherwise cost a full argon2id on a cold cache.
struct AuthCache {
    key: Option<ring::hmac::Key>,
    entries: Mutex<std::collections::HashMap<String, CacheEntry>>,
    /// Verifications under way, by address, stored hash and password tag.
    flights: Mutex<std::collections::HashMap<FlightKey, Arc<Flight>>>,
    /// argon2id verifications run for logins (cache misses), since start.
    verified: AtomicU64,
}

/// (address, stored hash, HMAC of the password): never the password itself.
type FlightKey = (String, String, Vec<u8>);

/// One verification under way; its waiters sleep on `ready`.
#[derive(Default)]
struct Flight {
    answer: Mutex<Option<bool>>,
    ready: Condvar,
}

impl Flight {
    fn wait(&self) -> bool {
        let Ok(mut answer) = self.answer.lock() else {
            return false;
        };
        loop {
            if let Some(ok) = *answer {
                return ok;
            }
            answer = match self.ready.wait(answer) {
                Ok(a) => a,
                Err(_) => return false,
            };
        }
    }

    fn land(&self, ok: bool) {
        if let Ok(mut answer) = self.answer.lock() {
            *answer = Some(ok);
        }
        self.ready.notify_all();
    }
}

/// Lands a flight when its verification ends, however it ends (a waiter never sleeps
/// forever): removes it from the table, then wakes the waiters with the answer
/// (false if the verification never gave one).
struct Landing<'a> {
    cache: &'a AuthCache,
    key: FlightKey,
    flight: Arc<Flight>,
    answer: Option<bool>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        if let Ok(mut flights) = self.cache.flights.lock() {
            flights.remove(&self.key);
        }
        self.flight.land(self.answer.unwrap_or(false));
    }
}

struct CacheEntry {
    stored_hash: String,
    tag: ring::hmac::Tag,
    at: std::time::Instant,
}

impl AuthCache {
    fn new() -> AuthCache {
        let rng = ring::rand::SystemRandom::new();
        AuthCache {
            // Without randomness there is no cache (every login verifies).
            key: ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).ok(),
            entries: Mutex::new(std::collections::HashMap::new()),
            flights: Mutex::new(std::collections::HashMap::new()),
            verified: AtomicU64::new(0),
        }
    }

    /// Verifies `password` against `stored_hash` for `address`: one argon2id run for
    /// any number of identical logins arriving while it runs (they all get its
    /// answer); a success is remembered before the waiters wake, so a login arriving
    /// after that finds the cache instead.
    fn verify_once(&self, address: &str, stored_hash: &str, password: &str) -> bool {
        let run = || {
            self.verified.fetch_add(1, Ordering::Relaxed);
            let ok = verify_password(stored_hash, password);
            if ok {
                self.remember(address, stored_hash, password);
            }
            ok
        };
        let Some(key) = &self.key else { return run() };
        let flight_key = (
            address.to_string(),
            stored_hash.to_string(),
            ring::hmac::sign(key, password.as_bytes()).as_ref().to_vec(),
        );
        let (flight, leader) = {
            let Ok(mut flights) = self.flights.lock() else {
                return run();
            };
            match flights.get(&flight_key) {
                Some(f) => (f.clone(), false),
                None => {
                    let f = Arc::new(Flight::default());
                    flights.insert(flight_key.clone(), f.clone());
                    (f, true)
                }
            }
        };
        if !leader {
            return flight.wait();
        }
        let mut landing = Landing {
            cache: self,
            key: flight_key,
            flight,
            answer: None,
        };
        let ok = run();
        landing.answer = Some(ok);
        ok
    }

    /// Whether `address` logged in with `password` against `stored_hash` recently.
    fn hit(&self, address: &str, stored_hash: &str, password: &str) -> bool {
        let Some(key) = &self.key else { return false };
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        entries.get(address).is_some_and(|e| {
            e.stored_hash == stored_hash
                && e.at.elapsed() < AUTH_CACHE_TTL
                && ring::hmac::verify(key, password.as_bytes(), e.tag.as_ref()).is_ok()
        })
    }

    fn remember(&self, address: &str, stored_hash: &str, password: &str) {
        let Some(key) = &self.key else { return };
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= AUTH_CACHE_ENTRIES {
            entries.retain(|_, e| e.at.elapsed() < AUTH_CACHE_TTL);
            if entries.len() >= AUTH_CACHE_ENTRIES
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.at)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            address.to_string(),
            CacheEntry {
                stored_hash: stored_hash.to_string(),
                tag: ring::hmac::sign(key, password.as_bytes()),
                at: std::time::Instant::now(),
            },
        );
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Accounts {
    /// Opens (creating) `accounts.db` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Accounts> {
        let path = data_dir.join("accounts.db");
        let conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        crate::index::stable_plans(&conn)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Accounts {
            readers: crate::index::Readers::new(&path),
            path,
            conn: Mutex::new(conn),
            cache: AuthCache::new(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a read on a pooled read connection (one snapshot).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.readers.with(f)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        // Poison-tolerant: a panic in another call rolled its transaction back (the
        // `Transaction` drops), and must not fail every later lookup and login.
        let mut conn = crate::lock(&self.conn);
        f(&mut conn)
    }

    /// Adds a domain (idempotent when `allow_existing`).
    pub fn add_domain(&self, domain: &str, allow_existing: bool) -> Result<String> {
        let d = validate_domain(domain).map_err(StoreError::Invalid)?;
        self.with(|c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO domain (name, created) VALUES (?1, ?2)",
                params![d, now()],
            )?;
            if n == 0 && !allow_existing {
                return Err(StoreError::Exists(format!("domain {d}")));
            }
            Ok(d.clone())
        })
    }

    /// Removes a domain that has no users and no aliases left.
    pub fn del_domain(&self, domain: &str) -> Result<()> {
        let d = validate_domain(domain).map_err(StoreError::Invalid)?;
        self.with(|c| {
            let users: i64 =
                c.query_row("SELECT COUNT(*) FROM user WHERE domain = ?1", [&d], |r| {
                    r.get(0)
                })?;
            let aliases: i64 = c.query_row(
                "SELECT COUNT(*) FROM alias WHERE address LIKE '%@' || ?1",
                [&d],
                |r| r.get(0),
            )?;
            if users + aliases > 0 {
                return Err(StoreError::Invalid(format!(
                    "domain {d} still has {users} user(s) and {aliases} alias target(s); remove them first"
                )));
            }
            if c.execute("DELETE FROM domain WHERE name = ?1", [&d])? == 0 {
                return Err(StoreError::Invalid(format!("no such domain: {d}")));
            }
            Ok(())
        })
    }

    /// The domains, sorted.
    pub fn domains(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT name FROM domain ORDER BY name")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Whether `domain` is one of ours.
    pub fn is_local_domain(&self, domain: &str) -> Result<bool> {
        let d = domain.trim_end_matches('.').to_lowercase();
        self.read(|c| {
            Ok(c.prepare_cached("SELECT 1 FROM domain WHERE name = ?1")?
                .query_row([d], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    /// Adds a user (and its domain if new). Hashing happens before the database is
    /// touched, so the write itself is short.
    pub fn add_user(&self, address: &Address, password: &str) -> Result<()> {
        let hash = hash_password(password)?;
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT OR IGNORE INTO domain (name, created) VALUES (?1, ?2)",
                params![address.domain(), now()],
            )?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO user (address, domain, password, created)
                 VALUES (?1, ?2, ?3, ?4)",
                params![address.to_string(), address.domain(), hash, now()],
            )?;
            if n == 0 {
                return Err(StoreError::Exists(format!("user {address}")));
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Changes a user's password.
    pub fn set_password(&self, address: &Address, password: &str) -> Result<()> {
        let hash = hash_password(password)?;
        self.with(|c| {
            let n = c.execute(
                "UPDATE user SET password = ?2 WHERE address = ?1",
                params![address.to_string(), hash],
            )?;
            if n == 0 {
                return Err(StoreError::NoUser(address.to_string()));
            }
            Ok(())
        })
    }

    /// Sets a user's quota in bytes (0: none).
    pub fn set_quota(&self, address: &Address, bytes: u64) -> Result<()> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE user SET quota = ?2 WHERE address = ?1",
                params![address.to_string(), bytes as i64],
            )?;
            if n == 0 {
                return Err(StoreError::NoUser(address.to_string()));
            }
            Ok(())
        })
    }

    /// Removes a user (and aliases pointing only at it stay: they are the admin's to
    /// remove). The mail stays on disk.
    pub fn del_user(&self, address: &Address) -> Result<()> {
        self.with(|c| {
            if c.execute("DELETE FROM user WHERE address = ?1", [address.to_string()])? == 0 {
                return Err(StoreError::NoUser(address.to_string()));
            }
            Ok(())
        })
    }

    /// One user.
    pub fn user(&self, address: &Address) -> Result<Option<User>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT quota FROM user WHERE address = ?1")?
                    .query_row([address.to_string()], |r| r.get::<_, i64>(0))
                    .optional()?
                    .map(|quota| User {
                        address: address.clone(),
                        quota: quota as u64,
                    }),
            )
        })
    }

    /// The user added first (the one who set the server up, usually), if any.
    pub fn first_user(&self) -> Result<Option<Address>> {
        self.read(|c| {
            let first: Option<String> = c
                .query_row(
                    "SELECT address FROM user ORDER BY created, rowid LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(first.and_then(|a| Address::parse(&a).ok()))
        })
    }

    /// Every user, sorted.
    pub fn users(&self) -> Result<Vec<User>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT address, quota FROM user ORDER BY address")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (a, quota) = row?;
                if let Ok(address) = Address::parse(&a) {
                    out.push(User {
                        address,
                        quota: quota as u64,
                    });
                }
            }
            Ok(out)
        })
    }

    /// argon2id verifications run for logins since start (logins answered from the
    /// cache, or by another login's verification under way, are not counted).
    pub fn password_verifications(&self) -> u64 {
        self.cache.verified.load(Ordering::Relaxed)
    }

    /// Checks a login. Returns the user on success; None for an unknown user or a wrong
    /// password (indistinguishable to the caller, and the unknown-user path hashes too,
    /// so timing does not tell them apart).
    pub fn authenticate(&self, login: &str, password: &str) -> Result<Option<Address>> {
        let Ok(address) = Address::parse(login) else {
            let _ = verify_password(DUMMY_HASH, password);
            return Ok(None);
        };
        let hash: Option<String> = self.with(|c| {
            Ok(
                c.prepare_cached("SELECT password FROM user WHERE address = ?1")?
                    .query_row([address.to_string()], |r| r.get(0))
                    .optional()?,
            )
        })?;
        match hash {
            Some(h) if self.cache.hit(&address.to_string(), &h, password) => Ok(Some(address)),
            Some(h) if self.cache.verify_once(&address.to_string(), &h, password) => {
                Ok(Some(address))
            }
            Some(_) => Ok(None),
            None => {
                let _ = verify_password(DUMMY_HASH, password);
                Ok(None)
            }
        }
    }

    /// Adds an alias with one or more targets (the alias's domain becomes local).
    pub fn add_alias(&self, alias: &Address, targets: &[Address]) -> Result<()> {
        if targets.is_empty() {
            return Err(StoreError::Invalid(
                "an alias needs at least one target".into(),
            ));
        }
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT OR IGNORE INTO domain (name, created) VALUES (?1, ?2)",
                params![alias.domain(), now()],
            )?;
            for t in targets {
                tx.execute(
                    "INSERT OR IGNORE INTO alias (address, target) VALUES (?1, ?2)",
                    params![alias.to_string(), t.to_string()],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Removes an alias with all its targets.
    pub fn del_alias(&self, alias: &Address) -> Result<()> {
        self.with(|c| {
            if c.execute("DELETE FROM alias WHERE address = ?1", [alias.to_string()])? == 0 {
                return Err(StoreError::Invalid(format!("no such alias: {alias}")));
            }
            Ok(())
        })
    }

    /// Every alias with its targets, sorted.
    pub fn aliases(&self) -> Result<Vec<(String, Vec<String>)>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT address, target FROM alias ORDER BY address, target")?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut out: Vec<(String, Vec<String>)> = Vec::new();
            for row in rows {
                let (a, t) = row?;
                match out.last_mut() {
                    Some((last, ts)) if *last == a => ts.push(t),
                    _ => out.push((a, vec![t])),
                }
            }
            Ok(out)
        })
    }

    /// The targets of an alias (empty when it is none).
    pub fn alias_targets(&self, alias: &Address) -> Result<Vec<Address>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT target FROM alias WHERE address = ?1")?;
            let rows = st.query_map([alias.to_string()], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for t in rows {
                if let Ok(a) = Address::parse(&t?) {
                    out.push(a);
                }
            }
            Ok(out)
        })
    }

    /// Resolves a recipient to local users: a user, an alias (followed through other
    /// aliases up to a depth of 10, cycles ignored), or `user+tag` plus-addressing.
    /// Empty when nobody here receives it.
    pub fn resolve(&self, rcpt: &Address) -> Result<Vec<Address>> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        self.resolve_into(rcpt, 0, &mut out, &mut seen)?;
        if out.is_empty()
            && let Some((base, _tag)) = rcpt.local().split_once('+')
            && let Ok(plain) = Address::parse(&format!("{base}@{}", rcpt.domain()))
        {
            self.resolve_into(&plain, 0, &mut out, &mut seen)?;
        }
        Ok(out)
    }

    fn resolve_into(
        &self,
        a: &Address,
        depth: usize,
        out: &mut Vec<Address>,
        seen: &mut std::collections::HashSet<Address>,
    ) -> Result<()> {
        if depth > 10 || !seen.insert(a.clone()) {
            return Ok(());
        }
        if self.user(a)?.is_some() {
            if !out.contains(a) {
                out.push(a.clone());
            }
            return Ok(());
        }
        for t in self.alias_targets(a)? {
            self.resolve_into(&t, depth + 1, out, seen)?;
        }
        Ok(())
    }
}

/// A valid hash of a random password, verified against when the user is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Yl0ciz9Lx2PrtM1FXkQq7DPPhJ9NbvUP2gxcyHJDUfg";

/// argon2id with the crate's defaults (RFC 9106's second recommended option).
pub fn hash_password(password: &str) -> Result<String> {
    if password.is_empty() {
        return Err(StoreError::Invalid("the password is empty".into()));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("hashing the password: {e}")))
}

/// Checks `password` against a PHC hash string, on the verifier pool.
pub fn verify_password(hash: &str, password: &str) -> bool {
    verifier().verify(hash, password)
}

thread_local! {
    /// The argon2 memory of this verifier thread: allocated once, at the size the
    /// hashes ask for, and reused by every verification on the thread.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Hashes larger than this memory cost (KiB) are refused rather than allocated for.
const MAX_M_COST_KIB: usize = 1024 * 1024;

/// Checks a password on the calling thread (what the pool's threads run), hashing into
/// the thread's reused memory (`hash_password_into_with_memory`) instead of letting
/// argon2 allocate and free its memory cost per call: freeing 19 MiB makes glibc raise
/// its mmap threshold and keep such blocks in its heaps, which is what made every
/// login cost resident memory.
fn verify_here(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let Ok(algorithm) = parsed.algorithm.as_str().parse::<argon2::Algorithm>() else {
        return false;
    };
    let version = match parsed.version {
        Some(v) => match argon2::Version::try_from(v) {
            Ok(v) => v,
            Err(_) => return false,
        },
        None => argon2::Version::default(),
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let need = params.block_count();
    if need > MAX_M_COST_KIB {
        return false;
    }
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let hashed = BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < need {
            blocks.resize(need, argon2::Block::default());
        }
        argon
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt.as_ref(),
                &mut out,
                &mut blocks[..need],
            )
            .is_ok()
    });
    // Constant time: every byte is compared whatever the first difference.
    hashed
        && out.len() == expected.len()
        && out
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Password verification runs on a few dedicated threads (one per core), never on
/// whatever thread a session happens to be on.
///
/// Why: an argon2id verification allocates its memory cost (19 MiB with the default
/// parameters). Run from tokio's blocking pool, hundreds of concurrent logins spread
/// those allocations over hundreds of threads and the allocator's per-thread arenas
/// keep them: 1 000 IMAP logins left 5 GiB resident. On a fixed pool the memory is
/// bounded by the pool's size whatever the number of logins, and a login flood is
/// queued instead of taking every core.
struct Verifier {
    jobs: std::sync::mpsc::Sender<VerifyJob>,
}

struct VerifyJob {
    hash: String,
    password: String,
    reply: std::sync::mpsc::SyncSender<bool>,
}

impl Verifier {
    fn start() -> Verifier {
        let (jobs, rx) = std::sync::mpsc::channel::<VerifyJob>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while taking a job, never while hashing.
                        let job = crate::lock(&rx).recv();
                        let Ok(job) = job else { return };
                        let ok = verify_here(&job.hash, &job.password);
                        let _ = job.reply.send(ok);
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password verifier thread");
            }
        }
        Verifier { jobs }
    }

    /// Blocks until the pool has checked the password (false if the pool is gone).
    fn verify(&self, hash: &str, password: &str) -> bool {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let job = VerifyJob {
            hash: hash.to_string(),
            password: password.to_string(),
            reply,
        };
        if self.jobs.send(job).is_err() {
            return false;
        }
        answer.recv().unwrap_or(false)
    }
}

fn verifier() -> &'static Verifier {
    static POOL: std::sync::OnceLock<Verifier> = std::sync::OnceLock::new();
    POOL.get_or_init(Verifier::start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Address {
        Address::parse(s).expect("valid address")
    }

    /// Identical logins at once share one argon2id run (a right password and a wrong
    /// one alike); a wrong password is still verified again when it comes back later.
    #[test]
    fn simultaneous_identical_logins_verify_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let acc = Accounts::open(dir.path()).expect("open");
        acc.add_user(&addr("tb@example.com"), "secret")
            .expect("add");
        for (password, expect) in [("secret", true), ("wrong", false)] {
            let before = acc.password_verifications();
            let start = std::sync::Barrier::new(8);
            let answers: Vec<bool> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            acc.authenticate("tb@example.com", password)
                                .expect("authenticate")
                                .is_some()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("login thread"))
                    .collect()
            });
            assert_eq!(answers, vec![expect; 8], "password {password:?}");
            // Exactly one: a late thread either joins the flight or, after a success,
            // finds the cache (remembered before the flight lands). A wrong password's
            // late thread may start a second flight after the first landed.
            let ran = acc.password_verifications() - before;
            if expect {
                assert_eq!(ran, 1, "verifications for {password:?}");
            } else {
                assert!(
                    (1..8).contains(&ran),
                    "verifications for {password:?}: {ran}"
                );
            }
        }
        let before = acc.password_verifications();
        assert!(
            acc.authenticate("tb@example.com", "wrong")
                .expect("auth")
                .is_none()
        );
        assert_eq!(
            acc.password_verifications() - before,
            1,
            "failures are not cached"
        );
        assert!(
            acc.authenticate("tb@example.com", "secret")
                .expect("auth")
                .is_some()
        );
        assert_eq!(
            acc.password_verifications() - before,
            1,
            "a success is cached"
        );
    }

    #[test]
    fn users_domains_aliases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let acc = Accounts::open(dir.path()).expect("open");
        acc.add_user(&addr("alice@example.com"), "pw1")
            .expect("add");
        assert!(matches!(
            acc.add_user(&addr("Alice@EXAMPLE.com"), "x"),
            Err(StoreError::Exists(_))
        ));
        assert_eq!(acc.domains().expect("domains"), ["example.com"]);
        assert_eq!(
            acc.authenticate("alice@example.com", "pw1").expect("auth"),
            Some(addr("alice@example.com"))
        );
        assert_eq!(
            acc.authenticate("alice@example.com", "bad").expect("auth"),
            None
        );
        assert_eq!(
            acc.authenticate("nobody@example.com", "pw1").expect("auth"),
            None
        );
        assert_eq!(
            acc.authenticate("not an address", "pw1").expect("auth"),
            None
        );
        acc.set_password(&addr("alice@example.com"), "pw2")
            .expect("passwd");
        assert!(
            acc.authenticate("alice@example.com", "pw2")
                .expect("auth")
                .is_some()
        );

        acc.add_alias(
            &addr("team@other.org"),
            &[addr("alice@example.com"), addr("team2@other.org")],
        )
        .expect("alias");
        acc.add_alias(&addr("team2@other.org"), &[addr("team@other.org")])
            .expect("cycle");
        assert!(acc.is_local_domain("OTHER.org.").expect("local"));
        assert_eq!(
            acc.resolve(&addr("team@other.org")).expect("resolve"),
            [addr("alice@example.com")]
        );
        assert_eq!(
            acc.resolve(&addr("alice+lists@example.com"))
                .expect("resolve"),
            [addr("alice@example.com")]
        );
        assert!(
            acc.resolve(&addr("bob@example.com"))
                .expect("resolve")
                .is_empty()
        );
        assert!(acc.del_domain("example.com").is_err(), "domain with users");
        acc.del_user(&addr("alice@example.com")).expect("del");
        assert!(acc.users().expect("users").is_empty());
        acc.del_domain("example.com").expect("now empty");
        assert_eq!(acc.aliases().expect("aliases").len(), 2);
    }

    #[test]
    fn cached_logins_follow_password_changes_and_deletions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let acc = Accounts::open(dir.path()).expect("open");
        let alice = addr("alice@example.com");
        acc.add_user(&alice, "old").expect("add");
        for _ in 0..3 {
            assert!(
                acc.authenticate("alice@example.com", "old")
                    .expect("auth")
                    .is_some()
            );
        }
        assert!(
            acc.cache.hit(
                "alice@example.com",
                &acc.with(|c| Ok(
                    c.query_row("SELECT password FROM user", [], |r| r.get::<_, String>(0))?
                ))
                .expect("hash"),
                "old"
            )
        );
        assert!(
            acc.authenticate("alice@example.com", "wrong")
                .expect("auth")
                .is_none()
        );
        // Changed by another process (a second handle on the same database).
        Accounts::open(dir.path())
            .expect("open")
            .set_password(&alice, "new")
            .expect("passwd");
        assert!(
            acc.authenticate("alice@example.com", "old")
                .expect("auth")
                .is_none()
        );
        assert!(
            acc.authenticate("alice@example.com", "new")
                .expect("auth")
                .is_some()
        );
        Accounts::open(dir.path())
            .expect("open")
            .del_user(&alice)
            .expect("del");
        assert!(
            acc.authenticate("alice@example.com", "new")
                .expect("auth")
                .is_none()
        );
    }

    #[test]
    fn dummy_hash_is_valid() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password(DUMMY_HASH, "anything"));
    }
}
