//! Change notification: every write publishes (after commit) the mailbox's new
//! HIGHESTMODSEQ; IMAP sessions subscribe per mailbox and, when woken, ask the index
//! what changed since the MODSEQ they last saw. A `watch` channel keeps only the latest
//! value, so a slow subscriber never makes a publisher wait or lose anything.
//!
//! Another process writing the same data dir (the CLI, a second `serve`) is noticed by
//! `watch_other_processes`, which polls SQLite's `PRAGMA data_version` and compares
//! every mailbox's HIGHESTMODSEQ and UIDNEXT with what it saw last.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::index;
use crate::model::MailboxId;

/// Per-mailbox publishers.
#[derive(Default)]
pub struct Changes {
    senders: Mutex<HashMap<MailboxId, watch::Sender<u64>>>,
}

impl Changes {
    /// Subscribes to `mailbox`: the receiver sees its HIGHESTMODSEQ as last published.
    pub fn subscribe(&self, mailbox: MailboxId) -> watch::Receiver<u64> {
        let Ok(mut map) = self.senders.lock() else {
            return watch::channel(0).1;
        };
        map.entry(mailbox)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Announces that `mailbox` changed and is now at `modseq`.
    pub fn publish(&self, mailbox: MailboxId, modseq: u64) {
        let Ok(mut map) = self.senders.lock() else {
            return;
        };
        if let Some(tx) = map.get(&mailbox) {
            if tx.receiver_count() == 0 {
                map.remove(&mailbox);
            } else {
                tx.send_if_modified(|v| {
                    // Equal values are republished too: an expunge and a delivery from
                    // another process can land on a value we already announced.
                    *v = (*v).max(modseq);
                    true
                });
            }
        }
    }
}

/// How often the watcher looks at the index for other processes' writes.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// Starts a thread that notices writes made by other processes and publishes them.
/// It ends when the store is dropped.
pub(crate) fn watch_other_processes(
    db: std::path::PathBuf,
    changes: Weak<Changes>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("store-watch".into())
        .spawn(move || {
            let Ok(conn) = index::connect(&db, true) else {
                return;
            };
            let mut last_version: i64 = -1;
            let mut marks: HashMap<MailboxId, (u64, u32)> = HashMap::new();
            loop {
                let Some(changes) = changes.upgrade() else {
                    return;
                };
                let version: i64 = conn
                    .pragma_query_value(None, "data_version", |r| r.get(0))
                    .unwrap_or(last_version);
                if version != last_version {
                    last_version = version;
                    if let Ok(all) = index::all_mailbox_marks(&conn) {
                        for (id, modseq, uidnext) in all {
                            let prev = marks.insert(id, (modseq, uidnext));
                            if prev.is_some_and(|p| p != (modseq, uidnext)) {
                                changes.publish(id, modseq);
                            }
                        }
                    }
                }
                drop(changes);
                std::thread::sleep(WATCH_INTERVAL);
            }
        })
        .map(|_| ())
}
