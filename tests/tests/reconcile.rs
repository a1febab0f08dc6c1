//! The index is a cache that can lose its last commits (a power cut under
//! `synchronous=NORMAL`) or be put back from an older copy; the maildir and each
//! mailbox's `mailyard-state` are the truth. After such a loss no UID or MODSEQ a
//! client has seen is handed out again (RFC 9051 §2.3.1.1, RFC 7162 §3.1.1).

use std::path::{Path, PathBuf};

use mailyard_tests::{TestServer, python};

/// Delivers `count` messages to alice over SMTP, then optionally marks them \Deleted
/// and expunges them over IMAP; prints alice's INBOX as `uids=… highestmodseq=…`.
const PHASE: &str = r#"
import os, smtplib, imaplib
count, tag, expunge = int(os.environ['COUNT']), os.environ['TAG'], os.environ['EXPUNGE'] == '1'
s = smtplib.SMTP('127.0.0.1', int(os.environ['SMTP']), timeout=10)
for i in range(count):
    s.sendmail('bob@example.net', ['alice@example.com'],
               ('From: bob@example.net\r\nSubject: %s %d\r\n\r\nbody\r\n' % (tag, i)).encode())
s.quit()
m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']), timeout=10)
m.login('alice@example.com', 'pw')
typ, _ = m.select('INBOX')
assert typ == 'OK'
typ, data = m.uid('search', None, 'SUBJECT', tag)
mine = data[0].decode().split()
print('delivered=' + ','.join(mine))
if expunge:
    m.uid('store', ','.join(mine), '+FLAGS', '(\\Deleted)')
    m.expunge()
typ, data = m.uid('search', None, 'ALL')
print('uids=' + ','.join(data[0].decode().split()))
typ, data = m.status('INBOX', '(HIGHESTMODSEQ UIDNEXT)')
print('status=' + data[0].decode())
since = os.environ.get('SINCE')
if since:
    typ, data = m.uid('fetch', '1:*', '(UID) (CHANGEDSINCE %s)' % since)
    print('changed=' + ' '.join(d.decode() for d in data if d))
m.logout()
"#;

async fn phase(s: &TestServer, count: usize, tag: &str, expunge: bool, since: u64) -> String {
    let (ok, out) = python(
        PHASE,
        &[
            ("SMTP", s.addr("smtp").port().to_string()),
            ("IMAP", s.addr("imap").port().to_string()),
            ("COUNT", count.to_string()),
            ("TAG", tag.to_string()),
            ("EXPUNGE", if expunge { "1" } else { "0" }.to_string()),
            (
                "SINCE",
                if since > 0 {
                    since.to_string()
                } else {
                    String::new()
                },
            ),
        ],
    )
    .await;
    assert!(ok, "{out}");
    out
}

/// The value of `key=` in a phase's output.
fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

fn uids(out: &str, key: &str) -> Vec<u32> {
    field(out, key)
        .split(',')
        .filter(|u| !u.is_empty())
        .map(|u| u.parse().expect("uid"))
        .collect()
}

fn highestmodseq(out: &str) -> u64 {
    let status = field(out, "status");
    let after = status
        .split("HIGHESTMODSEQ ")
        .nth(1)
        .expect("HIGHESTMODSEQ");
    after
        .trim_end_matches(')')
        .split([' ', ')'])
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

/// The index files (`index.db` and its `-wal`/`-shm`) in `dir`.
fn index_files(dir: &Path) -> Vec<PathBuf> {
    ["index.db", "index.db-wal", "index.db-shm"]
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_index_never_reuses_a_uid_or_lowers_highestmodseq() {
    let mut s = TestServer::start("").await;
    s.add_user("alice@example.com", "pw").await;
    let first = phase(&s, 2, "kept", false, 0).await;
    assert_eq!(uids(&first, "uids").len(), 2, "{first}");

    // serve stopped: keep a copy of the index as it is now.
    s.restart(|data| {
        let backup = data.join("backup");
        std::fs::create_dir_all(&backup).expect("mkdir");
        for f in index_files(data) {
            std::fs::copy(&f, backup.join(f.file_name().expect("name"))).expect("copy");
        }
    })
    .await;

    // Mail a client sees, then expunged: its UIDs must never come back.
    let lost = phase(&s, 2, "lost", true, 0).await;
    let seen_max = uids(&lost, "delivered")
        .into_iter()
        .max()
        .expect("delivered");
    let seen_modseq = highestmodseq(&lost);

    // serve stopped: the index goes back to the older copy (lost commits).
    s.restart(|data| {
        for f in index_files(data) {
            std::fs::remove_file(f).expect("remove");
        }
        let backup = data.join("backup");
        for f in std::fs::read_dir(&backup).expect("backup") {
            let f = f.expect("entry").path();
            std::fs::copy(&f, data.join(f.file_name().expect("name"))).expect("restore");
        }
    })
    .await;

    let after = phase(&s, 1, "fresh", false, seen_modseq).await;
    let fresh = uids(&after, "delivered");
    assert_eq!(fresh.len(), 1, "{after}");
    assert!(
        fresh[0] > seen_max,
        "the new message got UID {} though the client saw UID {seen_max} (RFC 9051 §2.3.1.1): {after}",
        fresh[0]
    );
    let modseq = highestmodseq(&after);
    assert!(
        modseq > seen_modseq,
        "HIGHESTMODSEQ went from {seen_modseq} to {modseq} (RFC 7162 §3.1.1): {after}"
    );
    assert!(
        field(&after, "changed").contains(&format!("UID {}", fresh[0])),
        "CHANGEDSINCE {seen_modseq} shows the new message: {after}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_restart_leaves_no_gap_in_uids() {
    // A clean stop gives back the unused part of the UID and MODSEQ reservations, so
    // the next start's raise to the reservations costs nothing: the next message gets
    // the next UID, as with Dovecot.
    let mut s = TestServer::start("").await;
    s.add_user("alice@example.com", "pw").await;
    let first = phase(&s, 2, "before", false, 0).await;
    let before = uids(&first, "delivered");
    let modseq = highestmodseq(&first);
    s.restart(|_| {}).await;
    let after = phase(&s, 1, "after", false, 0).await;
    let next = uids(&after, "delivered");
    assert_eq!(
        next,
        vec![before.iter().max().expect("delivered") + 1],
        "{first}\n{after}"
    );
    assert_eq!(highestmodseq(&after), modseq + 1, "{first}\n{after}");
    s.stop().await;
}
