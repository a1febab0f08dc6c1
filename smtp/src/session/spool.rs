//! A message being received, kept on disk once it is large: past [`SPOOL_THRESHOLD`]
//! octets, what the DATA / BDAT receiver has stored is appended to a file under
//! `data_dir/tmp/` and the receiver's buffer starts again, so a session holds at most
//! about the threshold in memory however large the message and however slowly it
//! comes (issue 9: 40 unfinished 20 MB messages once held 794 MB).
//!
//! Invariants:
//! - The file is removed when the spool is dropped: the message delivered, refused,
//!   or the transaction or session gone. Files a crash leaves behind are removed by
//!   the next `serve` ([`remove_leftovers`]).
//! - Spooling changes nothing of the durability contract: after the final dot the
//!   message is read back and delivered as before, 250 only once it is durable.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Octets of a message a session keeps in memory while receiving it; past this,
/// they go to the spool file.
pub(crate) const SPOOL_THRESHOLD: usize = 1 << 20;

/// The directory of spool files, under the data dir.
fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tmp")
}

/// One message's spool file (created on the first write).
pub(crate) struct Spool {
    data_dir: PathBuf,
    file: Option<(tokio::fs::File, PathBuf)>,
    len: usize,
    /// A write failed: the message cannot be taken (452 at its end).
    failed: bool,
}

impl Spool {
    /// A spool in `data_dir/tmp/` (nothing is created yet).
    pub(crate) fn new(data_dir: &Path) -> Spool {
        Spool {
            data_dir: data_dir.to_path_buf(),
            file: None,
            len: 0,
            failed: false,
        }
    }

    /// Appends `bytes` (the receiver's stored octets, in order).
    pub(crate) async fn append(&mut self, bytes: &[u8]) {
        if self.failed || bytes.is_empty() {
            return;
        }
        if let Err(e) = self.try_append(bytes).await {
            tracing::error!(error = %e, "cannot spool a message to disk");
            self.failed = true;
        }
    }

    async fn try_append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            let dir = dir(&self.data_dir);
            tokio::fs::create_dir_all(&dir).await?;
            let path = dir.join(format!("smtp-{}", super::data::unique_token()));
            let file = tokio::fs::OpenOptions::new()
                .write(true)
                .read(true)
                .create_new(true)
                .open(&path)
                .await?;
            self.file = Some((file, path));
        }
        if let Some((file, _)) = self.file.as_mut() {
            file.write_all(bytes).await?;
            self.len += bytes.len();
        }
        Ok(())
    }

    /// The whole message: what was spooled, then `tail` (what the receiver still
    /// holds). Err when spooling failed or the file cannot be read back.
    pub(crate) async fn finish(mut self, tail: Vec<u8>) -> std::io::Result<Vec<u8>> {
        if self.failed {
            return Err(std::io::Error::other("spooling failed"));
        }
        let Some((file, _)) = self.file.as_mut() else {
            return Ok(tail);
        };
        file.flush().await?;
        file.seek(std::io::SeekFrom::Start(0)).await?;
        let mut message = Vec::with_capacity(self.len + tail.len());
        file.read_to_end(&mut message).await?;
        message.extend_from_slice(&tail);
        Ok(message)
    }
}

impl Drop for Spool {
    /// Removes the file; on the runtime, from its blocking pool (an unlink waits for
    /// the file system, which a session's worker thread must not).
    fn drop(&mut self) {
        if let Some((_, path)) = self.file.take() {
            let unlink = move || {
                let _ = std::fs::remove_file(path);
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(unlink)),
                Err(_) => unlink(),
            }
        }
    }
}

/// Removes the spool files a previous run left (a crash, a kill): none of them was
/// acknowledged. Called once when the SMTP listeners start.
pub(crate) fn remove_leftovers(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir(data_dir)) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with("smtp-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
