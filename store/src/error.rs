//! The store's one error type.

use std::path::PathBuf;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The mailbox does not exist.
    #[error("no such mailbox: {0}")]
    NoMailbox(String),
    /// The mailbox exists already.
    #[error("mailbox exists: {0}")]
    MailboxExists(String),
    /// A mailbox name that cannot be used.
    #[error("bad mailbox name {name:?}: {why}")]
    BadName {
        /// The name given.
        name: String,
        /// Why it is refused.
        why: crate::mailbox_name::NameError,
    },
    /// The user does not exist.
    #[error("no such user: {0}")]
    NoUser(String),
    /// The user, alias or domain exists already.
    #[error("{0} exists already")]
    Exists(String),
    /// A value was refused (bad address, bad domain, ...).
    #[error("{0}")]
    Invalid(String),
    /// No Sieve script of that name (RFC 5804 §1.3 NONEXISTENT).
    #[error("no such script: {0}")]
    NoScript(String),
    /// The active Sieve script cannot be deleted (RFC 5804 §2.10 ACTIVE).
    #[error("script {0:?} is active")]
    ScriptActive(String),
    /// Storing this would take the user over their quota (RFC 9208 §5.1: APPEND and
    /// COPY fail with `NO [OVERQUOTA]`).
    #[error("over quota")]
    OverQuota,
    /// A mailbox has used all 26 keyword letters maildir offers.
    #[error("too many keywords in this mailbox (maildir allows 26)")]
    TooManyKeywords,
    /// The writer thread is gone (the store is shutting down).
    #[error("the store is shutting down")]
    Closed,
    /// A bug: the request panicked in the writer. It failed alone (rolled back, its
    /// files removed) and the writer went on.
    #[error("internal error: {0}")]
    Internal(String),
    /// A job was cancelled: whoever waited for it is gone (`door::Cancel`).
    #[error("cancelled")]
    Cancelled,
    /// A job tried the disk on its caller's thread (`door.rs`: a FETCH answered from
    /// the blob cache); the store runs it again on a reader thread. Never returned.
    #[error("needs a reader thread")]
    WouldBlock,
    /// The index was written by a newer mailyard.
    #[error("index schema version {found} is newer than this mailyard knows ({known})")]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest this build knows.
        known: i64,
    },
}

impl StoreError {
    /// Whether a file operation was refused for lack of permission (the data dir is
    /// another user's).
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, StoreError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied)
    }
}

/// Attaches the path to an io::Error.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Shorthand.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
