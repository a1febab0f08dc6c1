//! Dovecot's maildir side files, read on import and written on export, in the formats
//! of Dovecot 2.3's own code (`src/lib-storage/index/maildir/maildir-uidlist.c`,
//! `src/lib-storage/list/subscription-file.c`, `src/lib-index/mail-index.h`).
//!
//! - `dovecot-uidlist`, one per mailbox: a header `3 V<uidvalidity> N<nextuid>
//!   G<guid>` (version 3; version 1 is `1 <uidvalidity> <nextuid>`), then one line per
//!   message `<uid> [<key><value> ...] :<filename base>` (version 1: `<uid>
//!   <filename>`), UIDs ascending. The base is the file name up to its `:` (the
//!   maildir info part is left out). Dovecot appends new lines to the file and
//!   rewrites it only now and then, so the header's N may be behind the last line,
//!   and lines of expunged messages may still be there.
//! - `dovecot-keywords`: `<index> <keyword>` lines; maildir info letters `a`..`z` are
//!   indices 0..25 (the same file mailyard keeps, `maildir::read_keywords`).
//! - `subscriptions` at the root: version 2 is `V\t2`, an empty line, then one name
//!   per line in modified UTF-7 with the hierarchy separator written as a TAB; version
//!   1 (Courier, older Dovecot) is one name per line as it is.
//! - `dovecot.index`: its header's `next_uid` (offset 28) is the mailbox's UIDNEXT as
//!   Dovecot last saw it, which may be above the uidlist's N.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use crate::mailbox_name;

/// The uidlist's file name.
pub const UIDLIST_FILE: &str = "dovecot-uidlist";
/// Dovecot's main index file (only its header is read).
pub const INDEX_FILE: &str = "dovecot.index";
/// Longest `dovecot-uidlist` read (a line is ~60 octets: about 4 million messages).
pub const MAX_UIDLIST_BYTES: u64 = 256 * 1024 * 1024;

/// What a `dovecot-uidlist` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uidlist {
    /// UIDVALIDITY (0 when the header has none).
    pub uidvalidity: u32,
    /// The header's next UID (0 when it has none).
    pub next_uid: u32,
    /// UID by file name base.
    pub uids: HashMap<String, u32>,
}

impl Uidlist {
    /// The UID after every UID the list knows: max(N, last UID + 1).
    pub fn uidnext(&self) -> u32 {
        let last = self.uids.values().max().map_or(1, |u| u.saturating_add(1));
        self.next_uid.max(last).max(1)
    }
}

/// Parses a `dovecot-uidlist`. Lines that do not parse are skipped (Dovecot calls the
/// file corrupted and rebuilds it; an import then gives those files fresh UIDs).
pub fn parse_uidlist(text: &str) -> Uidlist {
    let mut out = Uidlist::default();
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return out;
    };
    let mut fields = header.split(' ');
    let version = fields.next().unwrap_or("");
    match version {
        "1" | "2" => {
            out.uidvalidity = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            out.next_uid = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        }
        "3" => {
            for f in fields {
                if let Some(v) = f.strip_prefix('V') {
                    out.uidvalidity = v.parse().unwrap_or(0);
                } else if let Some(v) = f.strip_prefix('N') {
                    out.next_uid = v.parse().unwrap_or(0);
                }
            }
        }
        _ => return out,
    }
    for line in lines {
        let Some((uid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(uid) = uid.parse::<u32>() else {
            continue;
        };
        if uid == 0 || uid == u32::MAX {
            continue;
        }
        let name = match version {
            // Extensions, then ':' and the name (which may itself hold no ':').
            "3" => match rest.split_once(':') {
                Some((_, name)) => name,
                None => continue,
            },
            // Version 2 has a flags field before the name.
            "2" => rest.split_once(' ').map_or(rest, |(_, n)| n),
            _ => rest,
        };
        let base = name.split_once(':').map_or(name, |(b, _)| b).trim_end();
        if base.is_empty() || base.contains('/') {
            continue;
        }
        // A base listed twice: the later line wins, as Dovecot's record lookup does.
        out.uids.insert(base.to_string(), uid);
    }
    out
}

/// Reads `dir/dovecot-uidlist`; None when there is none.
pub fn read_uidlist(dir: &Path) -> io::Result<Option<Uidlist>> {
    let path = dir.join(UIDLIST_FILE);
    match std::fs::metadata(&path) {
        Ok(m) if m.len() > MAX_UIDLIST_BYTES => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is larger than {MAX_UIDLIST_BYTES} octets",
                    path.display()
                ),
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let bytes = std::fs::read(&path)?;
    Ok(Some(parse_uidlist(&String::from_utf8_lossy(&bytes))))
}

/// A version 3 `dovecot-uidlist` for `entries` (uid, file name base), UIDs ascending.
/// The mailbox GUID is derived from the UIDVALIDITY and a caller's seed (Dovecot
/// only needs it to be stable and 32 hex digits).
pub fn format_uidlist(
    uidvalidity: u32,
    next_uid: u32,
    guid_seed: &str,
    entries: &[(u32, String)],
) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{guid_seed}\0{uidvalidity}").as_bytes(),
    );
    let guid: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut out = format!("3 V{uidvalidity} N{next_uid} G{guid}\n");
    for (uid, base) in entries {
        out.push_str(&format!("{uid} :{base}\n"));
    }
    out
}

/// Reads the `next_uid` of `dir/dovecot.index`'s header when the file is there, of
/// major version 7, little-endian, and of UIDVALIDITY `uidvalidity`; else None.
pub fn index_next_uid(dir: &Path, uidvalidity: u32) -> Option<u32> {
    use std::io::Read as _;
    let mut header = [0u8; 32];
    std::fs::File::open(dir.join(INDEX_FILE))
        .ok()?
        .read_exact(&mut header)
        .ok()?;
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    // MAIL_INDEX_MAJOR_VERSION 7; compat_flags bit 0: little-endian.
    if header[0] != 7 || header[12] & 1 == 0 || word(24) != uidvalidity {
        return None;
    }
    Some(word(28))
}

/// Parses a `subscriptions` file of either version into IMAP names ('.' separated,
/// UTF-8).
pub fn parse_subscriptions(text: &str) -> Vec<String> {
    let v2 = text.starts_with("V\t");
    text.lines()
        .skip(usize::from(v2))
        .filter(|l| !l.is_empty())
        .map(|l| {
            let l = if v2 {
                l.replace('\t', &mailbox_name::SEPARATOR.to_string())
            } else {
                l.to_string()
            };
            mailbox_name::utf7_decode(&l).unwrap_or(l)
        })
        .collect()
}

/// A version 2 `subscriptions` file for Dovecot.
pub fn format_subscriptions(names: &[String]) -> String {
    let mut out = String::from("V\t2\n\n");
    for n in names {
        let encoded = mailbox_name::utf7_encode(n);
        out.push_str(&encoded.replace(mailbox_name::SEPARATOR, "\t"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uidlist_versions() {
        // What Dovecot 2.3 wrote in a test (the last line without its newline).
        let v3 = "3 V1796349589 N3 G809eb91d951e126b6412000083ecc375\n\
                  1 :1796349589.M498704P4708.vm,S=18,W=21\n\
                  2 :1796349627.M102757P5104.vm,S=19,W=22";
        let u = parse_uidlist(v3);
        assert_eq!((u.uidvalidity, u.next_uid, u.uidnext()), (1796349589, 3, 3));
        assert_eq!(u.uids.get("1796349627.M102757P5104.vm,S=19,W=22"), Some(&2));
        // Extensions before the name; a header N behind the last line.
        let u = parse_uidlist("3 V7 N2 Gx\n5 G1a2b W30 :a.b.c,S=1\n9 :d:2,S\nbad line\n0 :z\n");
        assert_eq!(u.uids.get("a.b.c,S=1"), Some(&5));
        assert_eq!(u.uids.get("d"), Some(&9));
        assert_eq!(u.uids.len(), 2);
        assert_eq!(u.uidnext(), 10);
        // Version 1 (Courier's courierimapuiddb too).
        let u = parse_uidlist("1 42 7\n3 1.2.host:2,S\n");
        assert_eq!((u.uidvalidity, u.next_uid), (42, 7));
        assert_eq!(u.uids.get("1.2.host"), Some(&3));
        assert_eq!(parse_uidlist(""), Uidlist::default());
        assert_eq!(parse_uidlist("9 nonsense").uids.len(), 0);
        let text = format_uidlist(7, 10, "seed", &[(5, "a,S=1".into()), (9, "d".into())]);
        let back = parse_uidlist(&text);
        assert_eq!(
            (back.uidvalidity, back.next_uid, back.uids.len()),
            (7, 10, 2)
        );
        let guid = text
            .lines()
            .next()
            .and_then(|l| l.split(" G").nth(1))
            .unwrap_or("");
        assert_eq!(guid.len(), 32);
    }

    #[test]
    fn subscriptions_versions() {
        let v2 = "V\t2\n\nCaf&AOk-\tSub\nINBOX\n";
        assert_eq!(parse_subscriptions(v2), vec!["Café.Sub", "INBOX"]);
        assert_eq!(parse_subscriptions("INBOX\nA.B\n"), vec!["INBOX", "A.B"]);
        let names = vec!["Café.Sub".to_string(), "INBOX".to_string()];
        assert_eq!(format_subscriptions(&names), v2);
    }

    #[test]
    fn index_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(index_next_uid(dir.path(), 5), None);
        let mut h = vec![0u8; 64];
        h[0] = 7;
        h[12] = 1;
        h[24..28].copy_from_slice(&5u32.to_le_bytes());
        h[28..32].copy_from_slice(&17u32.to_le_bytes());
        std::fs::write(dir.path().join(INDEX_FILE), &h).expect("write");
        assert_eq!(index_next_uid(dir.path(), 5), Some(17));
        assert_eq!(index_next_uid(dir.path(), 6), None);
    }
}
