//! A message file opened for positioned reads (`pread(2)`,
//! [`std::os::unix::fs::FileExt::read_at`]): a FETCH of one part, or of a partial
//! range, reads those bytes and no others, at the offsets the message's shape
//! recorded at delivery (`mailyard_message::Shape`, kept in the index).
//!
//! What IMAP sends is the wire form ([`crate::maildir::wire_form`]): a file whose
//! first line ends in a bare LF (a Dovecot or procmail file adopted as it was) gets a
//! CR before every bare LF. Such a file is shorter than its RFC822.SIZE (the size of
//! the wire form, recorded in the index), which is how an opened file knows, without
//! reading its first line. Offsets are always those of the file as stored; the
//! wire-form reads convert what they read, and a partial read of a bare-LF file
//! reads only as far as the wanted wire bytes reach.
//!
//! The file stays readable once open, whatever another session does to its name
//! (a flag change renames it, an expunge unlinks it).
//!
//! A small message may be held in memory instead ([`MessageFile::in_memory`], the
//! blob cache's copy): the same reads, served from its bytes.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest single read of a wire-form conversion or a header search.
const CHUNK: u64 = 64 * 1024;

/// First read when looking for the end of a header block (most headers fit).
const HEADER_PROBE: u64 = 8 * 1024;

/// Where a message's stored bytes are read from.
#[derive(Debug)]
enum Backing {
    File(File),
    /// The whole file, read before (the blob cache).
    Memory(Arc<[u8]>),
}

/// An open message file.
#[derive(Debug)]
pub struct MessageFile {
    backing: Backing,
    path: PathBuf,
    /// The file's length as stored.
    len: u64,
    /// Lines end in bare LF: the wire form adds a CR before each.
    lf: bool,
    /// Bytes read so far (what the tests of ranged FETCH count).
    read: AtomicU64,
}

impl MessageFile {
    /// Opens `path`, a message whose RFC822.SIZE (wire-form size) is `size`.
    pub fn open(path: &Path, size: u64) -> io::Result<MessageFile> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(MessageFile {
            backing: Backing::File(file),
            path: path.to_path_buf(),
            len,
            lf: len < size,
            read: AtomicU64::new(0),
        })
    }

    /// A message whose stored bytes are `bytes` (the whole file, as it was at `path`),
    /// RFC822.SIZE `size`.
    pub fn in_memory(bytes: Arc<[u8]>, path: &Path, size: u64) -> MessageFile {
        let len = bytes.len() as u64;
        MessageFile {
            backing: Backing::Memory(bytes),
            path: path.to_path_buf(),
            len,
            lf: len < size,
            read: AtomicU64::new(0),
        }
    }

    /// The whole file's bytes when it holds at most `max` (one read); None when it is
    /// bigger.
    pub fn whole(&self, max: u64) -> io::Result<Option<Arc<[u8]>>> {
        if self.len > max {
            return Ok(None);
        }
        Ok(Some(Arc::from(self.read_stored(0..self.len)?)))
    }

    /// The path it was opened at (for error messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `e`, met reading this file, as the store reports it.
    pub fn error(&self, e: io::Error) -> crate::StoreError {
        crate::StoreError::Io {
            path: self.path.clone(),
            source: e,
        }
    }

    /// The file's length as stored.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the file is stored with bare-LF line ends (its wire form differs).
    pub fn is_lf(&self) -> bool {
        self.lf
    }

    /// How many bytes were read from the file so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// The stored bytes of `range` (clamped to the file; short if the file shrank).
    pub fn read_stored(&self, range: Range<u64>) -> io::Result<Vec<u8>> {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        let file = match &self.backing {
            Backing::File(f) => f,
            Backing::Memory(bytes) => {
                let buf = bytes
                    .get(start as usize..end as usize)
                    .unwrap_or_default()
                    .to_vec();
                self.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
                return Ok(buf);
            }
        };
        let mut buf = vec![0u8; usize::try_from(end - start).unwrap_or(usize::MAX)];
        let mut filled = 0;
        while filled < buf.len() {
            let at = start + filled as u64;
            let n = match file.read_at(&mut buf[filled..], at) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            filled += n;
        }
        buf.truncate(filled);
        self.read.fetch_add(filled as u64, Ordering::Relaxed);
        Ok(buf)
    }

    /// The wire form of the stored bytes `range`.
    pub fn read_wire(&self, range: Range<u64>) -> io::Result<Vec<u8>> {
        self.read_wire_window(range, 0, u64::MAX)
    }

    /// Of the wire form of the stored bytes `range`, the bytes from `skip` on, at
    /// most `count` (RFC 9051 §6.4.5 `<partial>`). Reads only what that needs: on a
    /// CRLF file exactly the window; on a bare-LF file (whose wire offsets are not
    /// its own) from `range.start` until the window is filled — at most
    /// `skip + count` stored bytes, since each yields at least one wire byte.
    pub fn read_wire_window(
        &self,
        range: Range<u64>,
        skip: u64,
        count: u64,
    ) -> io::Result<Vec<u8>> {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        if !self.lf {
            let from = start.saturating_add(skip).min(end);
            return self.read_stored(from..from.saturating_add(count).min(end));
        }
        let want_end = skip.saturating_add(count);
        // Whether the byte before the range is a CR (then a LF at its start is not bare).
        let mut prev = if start > 0 {
            self.read_stored(start - 1..start)?
                .first()
                .copied()
                .unwrap_or(0)
        } else {
            0
        };
        let cap = (end - start).saturating_add((end - start) / 16).min(count);
        let mut out = Vec::with_capacity(usize::try_from(cap.min(1 << 24)).unwrap_or(0));
        let mut produced = 0u64;
        let mut pos = start;
        while pos < end && produced < want_end {
            let need = want_end - produced;
            let chunk = self.read_stored(pos..pos + need.min(CHUNK).min(end - pos))?;
            if chunk.is_empty() {
                break;
            }
            for &b in &chunk {
                let wire: &[u8] = if b == b'\n' && prev != b'\r' {
                    b"\r\n"
                } else {
                    std::slice::from_ref(&b)
                };
                for &w in wire {
                    if produced >= skip && produced < want_end {
                        out.push(w);
                    }
                    produced += 1;
                }
                prev = b;
            }
            pos += chunk.len() as u64;
        }
        Ok(out)
    }

    /// Where the header block of the message stored at `range` ends (the offset after
    /// its empty line, as [`mailyard_message::header::split`] splits; `range.end` when
    /// it has none). Reads from `range.start` in growing steps until the empty line is
    /// found: usually one read of a few KiB, whatever the message's size.
    pub fn header_end(&self, range: Range<u64>) -> io::Result<u64> {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        let mut probe = HEADER_PROBE;
        loop {
            let to = start.saturating_add(probe).min(end);
            let buf = self.read_stored(start..to)?;
            let (header, _) = mailyard_message::header::split(&buf);
            // A header that fills the probe may go on past it: look further.
            if header.len() < buf.len() || to == end || (buf.len() as u64) < to - start {
                return Ok(start + header.len() as u64);
            }
            probe = probe.saturating_mul(4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8], size: u64) -> (tempfile::TempDir, MessageFile) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m");
        std::fs::write(&path, bytes).expect("write");
        let f = MessageFile::open(&path, size).expect("open");
        (dir, f)
    }

    #[test]
    fn windows_of_crlf_and_bare_lf_files() {
        let crlf = b"A: b\r\n\r\nline one\r\nline two\r\n";
        let lf = b"A: b\n\nline one\nline two\n";
        let (_d1, c) = file(crlf, crlf.len() as u64);
        let (_d2, l) = file(lf, crlf.len() as u64);
        assert!(!c.is_lf() && l.is_lf());
        assert_eq!(c.read_wire(0..c.len()).expect("read"), crlf);
        assert_eq!(l.read_wire(0..l.len()).expect("read"), crlf);
        for skip in 0..crlf.len() as u64 + 2 {
            for count in [0, 1, 3, 7, 100] {
                let s = (skip as usize).min(crlf.len());
                let e = (s + count).min(crlf.len());
                let want = &crlf[s..e];
                assert_eq!(
                    c.read_wire_window(0..c.len(), skip, count as u64)
                        .expect("read"),
                    want
                );
                assert_eq!(
                    l.read_wire_window(0..l.len(), skip, count as u64)
                        .expect("read"),
                    want
                );
            }
        }
        // A range that starts after a CR keeps its LF as is.
        let mixed = b"x\r\ny";
        let (_d3, m) = file(mixed, 99);
        assert_eq!(m.read_wire(2..4).expect("read"), b"\ny");
        assert_eq!(m.read_wire(3..4).expect("read"), b"y");
    }

    #[test]
    fn partial_reads_read_only_their_window() {
        let mut big = b"Subject: big\r\n\r\n".to_vec();
        while big.len() < 1 << 20 {
            big.extend_from_slice(b"0123456789abcdef0123456789abcdef0123456789abcdef012345678\r\n");
        }
        let (_d, f) = file(&big, big.len() as u64);
        let got = f.read_wire_window(0..f.len(), 0, 1024).expect("read");
        assert_eq!(got, &big[..1024]);
        assert_eq!(f.bytes_read(), 1024);
        let lf: Vec<u8> = String::from_utf8_lossy(&big)
            .replace("\r\n", "\n")
            .into_bytes();
        let (_d, f) = file(&lf, big.len() as u64);
        let got = f.read_wire_window(0..f.len(), 0, 1024).expect("read");
        assert_eq!(got, &big[..1024]);
        assert!(f.bytes_read() <= 1024, "{}", f.bytes_read());
        assert_eq!(f.header_end(0..f.len()).expect("read"), 14);
        assert!(f.bytes_read() <= 1024 + HEADER_PROBE);
    }

    #[test]
    fn header_end_as_split() {
        let long = format!("X: {}\r\n\r\nbody", "y".repeat(20_000));
        let short = "A: b\r\n\r\nbody|\r\nbody|\nbody|A: b\n\nx|no blank line|";
        for raw in short.split('|').chain([long.as_str()]).map(str::as_bytes) {
            let (_d, f) = file(raw, raw.len() as u64);
            let want = mailyard_message::header::split(raw).0.len() as u64;
            assert_eq!(f.header_end(0..f.len()).expect("read"), want, "{raw:?}");
        }
    }
}
