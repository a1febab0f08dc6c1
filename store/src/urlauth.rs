//! URLAUTH keys and tokens (RFC 4467 §7, the `INTERNAL` mechanism): one random key
//! per user and mailbox, kept in the mailbox's directory as [`KEY_FILE`] (beside
//! `mailyard-state`, so it is as durable as the mailbox and goes with it when the
//! mailbox is deleted: a mailbox created again under the same name gets a new key,
//! and old URLs stop working). The index is a cache and holds no keys.
//!
//! A token is HMAC-SHA256 of the URL's rump (RFC 4467 §3: the URL up to and
//! including `;URLAUTH=access`) under the mailbox's key, hex. Dovecot uses
//! HMAC-SHA1 the same way; RFC 4467 §7 leaves the algorithm to the server and asks
//! for at least 128 bits, which both give.
//!
//! Invariants: a key is created once (linked into place with `link(2)`, which fails
//! when another session created it first; that one is then used), written and its
//! directory fsynced before a token made with it is handed out; RESETKEY removes the
//! key durably (RFC 4467 §4: every URL made with it stops working), and the next
//! GENURLAUTH makes a new one. Tokens are compared in constant time (`ring`).

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::IoContext;
use crate::model::Address;
use crate::{Result, Store, StoreError, maildir, writer};

/// The key file's name in a mailbox directory.
pub const KEY_FILE: &str = "mailyard-urlauth";

/// Key length in bytes: HMAC-SHA256's block-sized key strength (RFC 2104 §3: at
/// least the hash output length, 32).
pub const KEY_BYTES: usize = 32;

impl Store {
    /// RFC 4467 §7 GENURLAUTH, `INTERNAL`: the token for `rump` in `mailbox` of
    /// `user`, creating the mailbox's key when it has none. `NoMailbox` when the
    /// mailbox does not exist. Blocking (file I/O).
    pub(crate) fn urlauth_token_blocking(
        &self,
        user: &Address,
        mailbox: &str,
        rump: &str,
    ) -> Result<String> {
        let dir = self.urlauth_dir(user, mailbox)?;
        let key = match read_key(&dir).at(&dir)? {
            Some(k) => k,
            None => create_key(&dir).at(&dir)?,
        };
        Ok(hex(hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &key),
            rump.as_bytes(),
        )
        .as_ref()))
    }

    /// RFC 4467 §6 URLFETCH: whether `token` (hex) is the one [`Store::urlauth_token_blocking`]
    /// gave for `rump`. False when the mailbox or its key does not exist (never made,
    /// or reset). Blocking (file I/O).
    pub(crate) fn urlauth_check_blocking(
        &self,
        user: &Address,
        mailbox: &str,
        rump: &str,
        token: &str,
    ) -> Result<bool> {
        let dir = match self.urlauth_dir(user, mailbox) {
            Ok(d) => d,
            Err(StoreError::NoMailbox(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let Some(key) = read_key(&dir).at(&dir)? else {
            return Ok(false);
        };
        let Some(tag) = unhex(token) else {
            return Ok(false);
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
        Ok(hmac::verify(&key, rump.as_bytes(), &tag).is_ok())
    }

    /// RFC 4467 §4 RESETKEY: removes the key of `mailbox`, or of every mailbox of
    /// `user` when None, so every URL made with it stops working. `NoMailbox` for a
    /// named mailbox that does not exist. Blocking (file I/O).
    pub(crate) fn urlauth_reset_blocking(
        &self,
        user: &Address,
        mailbox: Option<&str>,
    ) -> Result<()> {
        let names: Vec<String> = match mailbox {
            Some(name) => vec![name.to_string()],
            None => self
                .mailboxes_blocking(user)?
                .into_iter()
                .map(|m| m.name)
                .collect(),
        };
        for name in names {
            let dir = self.urlauth_dir(user, &name)?;
            match fs::remove_file(dir.join(KEY_FILE)) {
                Ok(()) => maildir::sync_dir(&dir).at(&dir)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at(&dir),
            }
        }
        Ok(())
    }

    /// The directory of an existing mailbox.
    fn urlauth_dir(&self, user: &Address, mailbox: &str) -> Result<PathBuf> {
        let Some(mb) = self.mailbox_blocking(user, mailbox)? else {
            return Err(StoreError::NoMailbox(mailbox.to_string()));
        };
        writer::mailbox_path(self.data_dir(), user, &mb.name)
    }
}

/// The key in `dir`, if there is one; a damaged file is an error (never a key
/// silently replaced).
fn read_key(dir: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read_to_string(dir.join(KEY_FILE)) {
        Ok(text) => match unhex(text.trim()).filter(|k| k.len() == KEY_BYTES) {
            Some(k) => Ok(Some(k)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: damaged URLAUTH key", dir.join(KEY_FILE).display()),
            )),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Makes a key and links it into place durably; when another session linked one
/// first, that one is returned.
fn create_key(dir: &Path) -> io::Result<Vec<u8>> {
    let mut key = vec![0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| io::Error::other("no system randomness"))?;
    let tmp = dir.join(format!(".{KEY_FILE}.tmp{}", std::process::id()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(format!("{}\n", hex(&key)).as_bytes())?;
        f.sync_all()?;
    }
    let linked = fs::hard_link(&tmp, dir.join(KEY_FILE));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            maildir::sync_dir(dir)?;
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key(dir)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "URLAUTH key vanished")),
        Err(e) => Err(e),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }
}
