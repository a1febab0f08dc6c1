//! What the store tells `/metrics` about itself: the size of the writer's group-commit
//! batches (the writer thread calls a [`BatchObserver`] once per batch), and the sizes
//! of the index and of the mail it holds (read when asked).

use crate::{Result, StoreError};

/// Called by the writer thread with the number of requests in each batch it takes
/// (one group commit): how `serve` counts batch sizes into its metrics.
pub type BatchObserver = Box<dyn Fn(usize) + Send + Sync>;

/// Sizes, read from the index and the file system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// `index.db` with its `-wal` file, in bytes.
    pub index_bytes: u64,
    /// Messages in every mailbox.
    pub messages: u64,
    /// Their sizes added up (what the maildir trees hold, in message bytes).
    pub message_bytes: u64,
    /// Messages in the relay queue.
    pub queue_length: u64,
}

impl crate::Store {
    /// Has the writer thread call `observer` with the size of every batch it takes
    /// from now on. Only the first observer given is kept.
    pub fn observe_batches(&self, observer: BatchObserver) {
        let _ = self.inner.batch_observer.set(observer);
    }

    /// [`Store::ping_blocking`](crate::Store::ping_blocking) from async code (`/healthz`).
    pub async fn ping(&self) -> Result<()> {
        self.hop(|s| s.ping_blocking()).await
    }

    /// [`Store::usage_blocking`](crate::Store::usage_blocking) from async code (`/metrics`).
    pub async fn usage(&self) -> Result<Usage> {
        self.hop(|s| s.usage_blocking()).await
    }

    /// One cheap read through a pooled index connection (blocking), and the writer
    /// thread still running: what `/healthz` asks to know that the store answers and
    /// can take mail.
    pub fn ping_blocking(&self) -> Result<()> {
        if !self.writer_alive() {
            return Err(StoreError::Closed);
        }
        self.read(|conn| {
            conn.query_row(
                "SELECT count(*) FROM (SELECT 1 FROM mailbox LIMIT 1)",
                [],
                |_| Ok(()),
            )?;
            Ok(())
        })
    }

    /// Reads [`Usage`] (blocking: one pooled read connection, two aggregate queries;
    /// a full scan of the message table's sizes, a few ms per 100 000 messages).
    pub fn usage_blocking(&self) -> Result<Usage> {
        let file = |suffix: &str| {
            std::fs::metadata(self.data_dir().join(format!("index.db{suffix}")))
                .map_or(0, |m| m.len())
        };
        let index_bytes = file("") + file("-wal");
        self.read(|conn| {
            let (messages, message_bytes): (i64, i64) = conn.query_row(
                "SELECT count(*), coalesce(sum(size), 0) FROM message",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let queue_length: i64 =
                conn.query_row("SELECT count(*) FROM queue", [], |r| r.get(0))?;
            Ok(Usage {
                index_bytes,
                messages: messages.max(0) as u64,
                message_bytes: message_bytes.max(0) as u64,
                queue_length: queue_length.max(0) as u64,
            })
        })
    }
}
