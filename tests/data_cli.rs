//! The data commands of the `mailyard` binary as an admin types them, against a
//! running `serve`: `backup`, `backup --verify`, `restore` into a fresh data dir (then a
//! second server on it), and `import maildir` of a mutt-style tree (`--dry-run`, then
//! for real). The store-level tests (`tests/tests/backup.rs`,
//! `tests/tests/dovecot_migration.rs`) cover load and Dovecot; this one covers the
//! commands, their exit codes and what a client sees afterwards. `import maildir
//! --sieve` and `export maildir --sieve` carry Dovecot Pigeonhole's scripts over, on a
//! Pigeonhole-style home built by hand.

mod bin_support;

use std::path::{Path, PathBuf};

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
    let out = bin_support::python(
        script,
        &[("IMAP", imap.to_string()), ("SMTP", smtp.to_string())],
    );
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

/// Runs a command that must succeed: (stdout, stderr).
fn ok(config: &Path, args: &[&str]) -> (String, String) {
    let o = mailyard(config, args, None);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A home as Dovecot with Pigeonhole leaves it: `Maildir/` with one message, `sieve/`
/// with the scripts (`scripts`: name, text), Pigeonhole's compiled `.svbin` and `tmp/`,
/// and `.dovecot.sieve` a link to `sieve/<active>.sieve`, or a plain file `plain`.
fn pigeonhole_home(
    root: &Path,
    scripts: &[(&str, &str)],
    active: Option<&str>,
    plain: Option<&str>,
) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(root.join("Maildir").join(sub)).expect("mkdir");
    }
    std::fs::write(
        root.join("Maildir/cur/1700000000.1.host:2,S"),
        b"From: a@example.net\nSubject: old\n\nbody\n",
    )
    .expect("write");
    let dir = root.join("sieve");
    std::fs::create_dir_all(dir.join("tmp")).expect("mkdir");
    for (name, text) in scripts {
        std::fs::write(dir.join(format!("{name}.sieve")), text).expect("write");
        std::fs::write(dir.join(format!("{name}.svbin")), b"\0\x01binary").expect("write");
    }
    if let Some(a) = active {
        std::os::unix::fs::symlink(format!("sieve/{a}.sieve"), root.join(".dovecot.sieve"))
            .expect("symlink");
    }
    if let Some(p) = plain {
        std::fs::write(root.join(".dovecot.sieve"), p).expect("write");
    }
}

const WORK: &str = "require \"fileinto\";\nif header :contains \"subject\" \"report\" {\n  fileinto \"Reports\";\n}\n";
const BROKEN: &str = "require \"fileinto\";\nif true {\n  fileinto;\n}\n";

#[test]
fn pigeonhole_scripts_in_and_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "data");
    for user in ["bob@example.com", "carol@example.com", "dave@example.com"] {
        let o = mailyard(&config, &["user", "add", user], Some("pw\n"));
        assert!(o.status.success(), "{}", text(&o));
    }
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();

    // bob: the link names work; broken does not compile (imported, reported).
    let bob = dir.path().join("bob");
    pigeonhole_home(
        &bob,
        &[
            ("work", WORK),
            ("broken", BROKEN),
            ("away", "require \"vacation\";\nvacation \"away\";\n"),
        ],
        Some("work"),
        None,
    );
    let (maildir, sieve) = (s(&bob.join("Maildir")), s(&bob.join("sieve")));
    let import = [
        "import",
        "maildir",
        &maildir,
        "--user",
        "bob@example.com",
        "--sieve",
        &sieve,
    ];
    let (out, err) = ok(&config, &[&import[..], &["--dry-run"]].concat());
    assert!(out.contains("sieve: script \"work\""), "{out}");
    assert!(out.contains("\"work\" would be made active"), "{out}");
    assert!(out.contains("dry run: nothing changed"), "{out}");
    let broken_at = format!("{}:3:3: ", bob.join("sieve/broken.sieve").display());
    assert!(err.contains(&broken_at), "{err}");
    assert_eq!(ok(&config, &["sieve", "list", "bob@example.com"]).0, "");

    let (out, err) = ok(&config, &import);
    assert!(
        err.contains(&broken_at),
        "line:col of the broken script: {err}"
    );
    assert!(
        out.contains("script \"broken\"") && out.contains("does not compile"),
        "{out}"
    );
    assert_eq!(
        ok(&config, &["sieve", "list", "bob@example.com"]).0,
        format!(
            "away\t{}\nbroken\t{}\nwork\t{}\tACTIVE\n",
            "require \"vacation\";\nvacation \"away\";\n".len(),
            BROKEN.len(),
            WORK.len()
        )
    );
    assert_eq!(
        ok(&config, &["sieve", "get", "bob@example.com", "work"]).0,
        WORK
    );

    // Another tree whose work.sieve differs: refused before any mail moves.
    let other = dir.path().join("bob2");
    pigeonhole_home(&other, &[("work", "keep;\n")], None, None);
    let cur = dir.path().join("data/mail/example.com/bob/cur");
    let before = std::fs::read_dir(&cur).expect("cur").count();
    let o = mailyard(
        &config,
        &[
            "import",
            "maildir",
            &s(&other.join("Maildir")),
            "--user",
            "bob@example.com",
            "--merge",
            "--sieve",
            &s(&other.join("sieve")),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already has script(s) \"work\""),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_dir(&cur).expect("cur").count(),
        before,
        "no mail moved"
    );

    // carol: a plain .dovecot.sieve is the script "dovecot", active.
    let carol = dir.path().join("carol");
    pigeonhole_home(&carol, &[("spare", "keep;\n")], None, Some(WORK));
    let (out, _) = ok(
        &config,
        &[
            "import",
            "maildir",
            &s(&carol.join("Maildir")),
            "--user",
            "carol@example.com",
            "--sieve",
            &s(&carol.join("sieve")),
        ],
    );
    assert!(out.contains("\"dovecot\" made active"), "{out}");
    assert_eq!(
        ok(&config, &["sieve", "list", "carol@example.com"]).0,
        format!("dovecot\t{}\tACTIVE\nspare\t6\n", WORK.len())
    );

    // dave: the active one does not compile: imported, not made active; and the
    // active file named with --sieve-active.
    let dave = dir.path().join("dave");
    pigeonhole_home(&dave, &[("broken", BROKEN), ("ok", "keep;\n")], None, None);
    let elsewhere = dir.path().join("dave-active");
    std::os::unix::fs::symlink(dave.join("sieve/broken.sieve"), &elsewhere).expect("symlink");
    let (out, err) = ok(
        &config,
        &[
            "import",
            "maildir",
            &s(&dave.join("Maildir")),
            "--user",
            "dave@example.com",
            "--sieve",
            &s(&dave.join("sieve")),
            "--sieve-active",
            &s(&elsewhere),
        ],
    );
    assert!(
        err.contains(
            "\"broken\" was Dovecot's active script but does not compile: not made active"
        ),
        "{out}{err}"
    );
    assert_eq!(
        ok(&config, &["sieve", "list", "dave@example.com"]).0,
        format!("broken\t{}\nok\t6\n", BROKEN.len())
    );
    // --sieve-active alone is a usage error.
    let o = mailyard(
        &config,
        &[
            "import",
            "maildir",
            &s(&dave.join("Maildir")),
            "--user",
            "dave@example.com",
            "--sieve-active",
            "x",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // The way back: DIR/sieve gets a relative link, another name an absolute one.
    let home = dir.path().join("export-bob");
    let (out, _) = ok(
        &config,
        &[
            "export",
            "maildir",
            &s(&home.join("Maildir")),
            "--user",
            "bob@example.com",
            "--sieve",
            &s(&home.join("sieve")),
        ],
    );
    assert!(out.contains("sieve: 3 script(s) written"), "{out}");
    assert_eq!(
        std::fs::read_link(home.join(".dovecot.sieve")).expect("link"),
        Path::new("sieve/work.sieve")
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".dovecot.sieve")).expect("read through the link"),
        WORK
    );
    assert_eq!(
        std::fs::read_to_string(home.join("sieve/broken.sieve")).expect("read"),
        BROKEN
    );
    assert!(home.join("Maildir/cur").is_dir());
    let home2 = dir.path().join("export-carol");
    ok(
        &config,
        &[
            "export",
            "maildir",
            &s(&home2.join("Maildir")),
            "--user",
            "carol@example.com",
            "--sieve",
            &s(&home2.join("scripts")),
        ],
    );
    let target = std::fs::read_link(home2.join(".dovecot.sieve")).expect("link");
    assert!(target.is_absolute(), "{target:?}");
    assert_eq!(
        target,
        std::fs::canonicalize(home2.join("scripts"))
            .expect("canon")
            .join("dovecot.sieve")
    );
    // An export target that is not empty is refused before the mail is written.
    let home3 = dir.path().join("export-again");
    std::fs::create_dir_all(home3.join("sieve")).expect("mkdir");
    std::fs::write(home3.join("sieve/x.sieve"), "keep;\n").expect("write");
    let o = mailyard(
        &config,
        &[
            "export",
            "maildir",
            &s(&home3.join("Maildir")),
            "--user",
            "bob@example.com",
            "--sieve",
            &s(&home3.join("sieve")),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!home3.join("Maildir").exists(), "{}", text(&o));

    // What comes back in goes in again as it was.
    let (out, _) = ok(
        &config,
        &[
            "import",
            "maildir",
            &s(&home.join("Maildir")),
            "--user",
            "dave@example.com",
            "--merge",
            "--sieve",
            &s(&home.join("sieve")),
            "--dry-run",
        ],
    );
    assert!(out.contains("\"work\" would be made active"), "{out}");
}
