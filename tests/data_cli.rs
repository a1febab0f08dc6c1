//! The data commands of the `mailyard` binary as an admin types them, against a
//! running `serve`: `backup`, `backup --verify`, `restore` into a fresh data dir (then a
//! second server on it), and `import maildir` of a mutt-style tree (`--dry-run`, then
//! for real). The store-level tests (`tests/tests/backup.rs`,
//! `tests/tests/dovecot_migration.rs`) cover load and Dovecot; this one covers the
//! commands, their exit codes and what a client sees afterwards.

mod bin_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use bin_support::{JSON_LOG, addr, mailyard, serve, text};

fn write_config(dir: &Path, data: &str) -> PathBuf {
    bin_support::write_config(
        dir,
        &format!("{data}.toml"),
        data,
        &["smtp", "imap"],
        JSON_LOG,
    )
}

/// Runs a python3 script with the IMAP (and SMTP) port in the environment; returns
/// its stdout, failing the test with everything it printed when it fails.
fn python(script: &str, imap: u16, smtp: u16) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("IMAP", imap.to_string())
        .env("SMTP", smtp.to_string())
        .output()
        .expect("python3");
    let all =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{all}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Every message of alice's INBOX as `uid flags sha256-of-body` lines, sorted by UID.
const LISTING: &str = r#"
import os, imaplib, hashlib, re
m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']), timeout=10)
m.login('alice@example.com', 'pw')
m.select('INBOX', readonly=True)
typ, data = m.uid('FETCH', '1:*', '(UID FLAGS BODY.PEEK[])')
rows = []
for item in data:
    if not isinstance(item, tuple):
        continue
    head = item[0].decode()
    uid = re.search(r'UID (\d+)', head).group(1)
    flags = ' '.join(sorted(re.search(r'FLAGS \(([^)]*)\)', head).group(1).split()))
    rows.append((int(uid), flags, hashlib.sha256(item[1]).hexdigest()[:16]))
for uid, flags, digest in sorted(rows):
    print(uid, '[' + flags + ']', digest)
m.logout()
"#;

#[test]
fn backup_verify_restore_and_import_through_the_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "data");
    let server = serve(&config, 2);
    for user in ["alice@example.com", "bob@example.com"] {
        let o = mailyard(&config, &["user", "add", user], Some("pw\n"));
        assert!(o.status.success(), "{}", text(&o));
    }
    let imap = addr(&server, "imap").port();
    let smtp = addr(&server, "smtp").port();
    python(
        r#"
import os, smtplib, imaplib
s = smtplib.SMTP('127.0.0.1', int(os.environ['SMTP']), timeout=10)
for i in range(3):
    s.sendmail('someone@example.net', ['alice@example.com'],
               ('From: someone@example.net\r\nSubject: m%d\r\n\r\nbody %d\r\n' % (i, i)).encode())
s.quit()
m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']), timeout=10)
m.login('alice@example.com', 'pw')
m.select('INBOX')
m.uid('STORE', '2', '+FLAGS', '(\\Seen $Important)')
m.logout()
"#,
        imap,
        smtp,
    );
    let before = python(LISTING, imap, smtp);
    assert_eq!(before.lines().count(), 3, "{before}");
    assert!(before.contains("[$Important \\Seen]"), "{before}");

    // backup while serve runs; verify it; a damaged copy is reported.
    let backup = dir.path().join("backup");
    let o = mailyard(&config, &["backup", backup.to_str().expect("utf-8")], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = mailyard(
        &config,
        &["backup", "--verify", backup.to_str().expect("utf-8")],
        None,
    );
    assert!(o.status.success(), "a fresh backup verifies: {}", text(&o));
    let damaged = dir.path().join("damaged");
    let o = mailyard(&config, &["backup", damaged.to_str().expect("utf-8")], None);
    assert!(o.status.success(), "{}", text(&o));
    let inbox_cur = damaged.join("data/mail/example.com/alice/cur");
    let victim = std::fs::read_dir(&inbox_cur)
        .expect("backed-up cur/")
        .map(|e| e.expect("entry").path())
        .next()
        .expect("a message in the backup");
    // Hard links share the live file: replace the backup's name, never write through it.
    std::fs::remove_file(&victim).expect("unlink");
    std::fs::write(&victim, b"Subject: not the message\r\n\r\n").expect("write");
    let o = mailyard(
        &config,
        &["backup", "--verify", damaged.to_str().expect("utf-8")],
        None,
    );
    assert!(!o.status.success(), "a damaged backup fails: {}", text(&o));
    let name = victim
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(
        text(&o).contains(&name),
        "the damaged file is named: {}",
        text(&o)
    );
    assert_eq!(
        python(LISTING, imap, smtp),
        before,
        "the live mailbox is untouched"
    );

    // restore into an empty data dir, serve it, and see the same mailbox.
    let config2 = write_config(dir.path(), "restored");
    let o = mailyard(
        &config2,
        &["restore", backup.to_str().expect("utf-8")],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = mailyard(
        &config2,
        &["restore", backup.to_str().expect("utf-8")],
        None,
    );
    assert!(
        !o.status.success(),
        "restore refuses a data dir that is not empty: {}",
        text(&o)
    );
    {
        let server2 = serve(&config2, 2);
        let after = python(
            LISTING,
            addr(&server2, "imap").port(),
            addr(&server2, "smtp").port(),
        );
        assert_eq!(after, before, "the restored mailbox is the same");
        let o = mailyard(&config2, &["check"], None);
        assert!(o.status.success(), "{}", text(&o));
    }

    // import a mutt-style maildir for bob: dry run changes nothing, then for real.
    let tree = dir.path().join("mutt");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(tree.join(sub)).expect("mkdir");
    }
    std::fs::write(
        tree.join("cur/1700000000.1.host:2,S"),
        b"From: a@example.net\nSubject: old read\n\nbare LF body\n",
    )
    .expect("write");
    std::fs::write(
        tree.join("cur/1700000001.2.host:2,FR"),
        b"From: a@example.net\nSubject: flagged\n\nanother\n",
    )
    .expect("write");
    std::fs::write(
        tree.join("new/1700000002.3.host"),
        b"From: a@example.net\nSubject: unread\n\nnew one\n",
    )
    .expect("write");
    let tree_s = tree.to_str().expect("utf-8");
    let o = mailyard(
        &config,
        &[
            "import",
            "maildir",
            tree_s,
            "--user",
            "bob@example.com",
            "--dry-run",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let count = r#"
import os, imaplib
m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']), timeout=10)
m.login('bob@example.com', 'pw')
typ, data = m.select('INBOX', readonly=True)
print('exists', data[0].decode())
m.logout()
"#;
    assert_eq!(
        python(count, imap, smtp),
        "exists 0\n",
        "a dry run imports nothing"
    );
    let o = mailyard(
        &config,
        &["import", "maildir", tree_s, "--user", "bob@example.com"],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let listing = python(
        r#"
import os, imaplib
m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']), timeout=10)
m.login('bob@example.com', 'pw')
m.select('INBOX', readonly=True)
typ, data = m.uid('FETCH', '1:*', '(UID FLAGS RFC822.SIZE BODY.PEEK[])')
for item in data:
    if isinstance(item, tuple):
        print(item[0].decode(), len(item[1]), item[1].count(b'\r\n'), item[1].count(b'\n'))
m.logout()
"#,
        imap,
        smtp,
    );
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(lines[0].contains("FLAGS (\\Seen)"), "{listing}");
    assert!(
        lines[1].contains("\\Flagged") && lines[1].contains("\\Answered"),
        "{listing}"
    );
    assert!(!lines[2].contains("\\Seen"), "{listing}");
    for line in &lines {
        // Served with CRLF: every LF is part of a CRLF, and RFC822.SIZE counts them.
        let nums: Vec<usize> = line
            .split_whitespace()
            .rev()
            .take(3)
            .map(|n| n.parse().expect("number"))
            .collect();
        let (lf, crlf, len) = (nums[0], nums[1], nums[2]);
        assert_eq!(lf, crlf, "bare LF served as CRLF: {line}");
        assert!(
            line.contains(&format!("RFC822.SIZE {len}")),
            "RFC822.SIZE is the size served: {line}"
        );
    }
    let o = mailyard(&config, &["check"], None);
    assert!(o.status.success(), "{}", text(&o));
    drop(server);
}
