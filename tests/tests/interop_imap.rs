//! Reading mail the way users do: curl (`imap://`, `imaps://`), a Python imaplib
//! script that files and marks mail, neomutt in a terminal (driven through tmux), and
//! offlineimap downloading to a maildir. Every client gets exactly the bytes the store
//! holds.

use std::path::Path;
use std::time::Duration;

use mailyard_store::{FlagSet, Flags};
use mailyard_tests::{TestServer, output_text, python, require_client, run_client};
use tokio::process::Command;

const LIMIT: Duration = Duration::from_secs(30);

/// A distinct message; `n` picks subject and body.
fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Sender {n} <sender{n}@example.net>\r\nTo: alice@example.com\r\n\
         Subject: interop message {n}\r\nDate: Wed, 04 Mar 2026 09:{n:02}:00 +0000\r\n\
         Message-ID: <interop-{n}@example.net>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Body of message {n}: caf\u{e9} \u{2713}\r\n\tindented line\r\n.dot line\r\n"
    )
    .into_bytes()
}

async fn user_with_mail(s: &TestServer, n: usize) {
    let alice = s.add_user("alice@example.com", "pw").await;
    for i in 1..=n {
        s.store()
            .deliver(message(i), std::slice::from_ref(&alice))
            .await
            .expect("deliver");
    }
}

fn curl_cmd(curl: &Path) -> Command {
    let mut c = Command::new(curl);
    c.args(["-sS", "--max-time", "20", "--user", "alice@example.com:pw"]);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_imap_lists_mailboxes_and_fetches_by_uid() {
    let curl = require_client("curl", "curl");
    let s = TestServer::start("").await;
    user_with_mail(&s, 3).await;
    let stored = s.mailbox_contents("alice@example.com", "INBOX").await;

    // imap://host/ lists the mailboxes.
    let out = run_client(
        curl_cmd(&curl).arg(format!("imap://{}/", s.addr("imap"))),
        b"",
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    let list = String::from_utf8_lossy(&out.stdout);
    for name in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(
            list.lines()
                .any(|l| l.starts_with("* LIST ") && l.ends_with(&format!("\"{name}\""))),
            "{name} missing from {list}"
        );
    }
    assert!(list.contains("\\Sent) \".\" \"Sent\""), "{list}");

    // imap://host/INBOX;UID=2 fetches one message: the exact stored bytes.
    let out = run_client(
        curl_cmd(&curl).arg(format!("imap://{}/INBOX;UID=2", s.addr("imap"))),
        b"",
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(out.stdout, stored[1].bytes, "UID 2 byte for byte");
    assert_eq!(out.stdout, message(2));

    // A search as a custom command, over STARTTLS (--ssl-reqd, -k).
    let out = run_client(
        curl_cmd(&curl)
            .args(["--ssl-reqd", "-k"])
            .arg(format!("imap://{}/INBOX", s.addr("imap")))
            .args(["-X", "UID SEARCH SUBJECT \"message 3\""]),
        b"",
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "* SEARCH 3"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_imaps_lists_and_fetches_by_uid() {
    let curl = require_client("curl", "curl");
    let s = TestServer::start("").await;
    user_with_mail(&s, 2).await;
    let stored = s.mailbox_contents("alice@example.com", "INBOX").await;
    let port = s.addr("imaps").port();

    // -k: no verification, as a quick check from a shell.
    let out = run_client(
        curl_cmd(&curl)
            .arg("-k")
            .arg(format!("imaps://127.0.0.1:{port}/")),
        b"",
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"INBOX\""),
        "{}",
        output_text(&out)
    );
    let out = run_client(
        curl_cmd(&curl)
            .arg("-k")
            .arg(format!("imaps://127.0.0.1:{port}/INBOX;UID=1")),
        b"",
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(out.stdout, stored[0].bytes);

    // The certificate pinned: --cacert, the host name the certificate carries.
    let out = run_client(
        curl_cmd(&curl)
            .arg("--cacert")
            .arg(s.cert_path())
            .arg("--resolve")
            .arg(format!("mail.example.com:{port}:127.0.0.1"))
            .arg(format!("imaps://mail.example.com:{port}/INBOX;UID=2")),
        b"",
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(out.stdout, stored[1].bytes);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_imaplib_script_files_and_marks_mail() {
    let s = TestServer::start("").await;
    let alice = s.add_user("alice@example.com", "pw").await;
    s.store()
        .create_mailbox(&alice, "Invoices", None)
        .await
        .expect("create");
    let mut invoice = message(1);
    invoice.splice(0..0, b"X-Kind: invoice\r\n".iter().copied());
    for m in [invoice, message(2), message(3)] {
        s.store()
            .deliver(m, std::slice::from_ref(&alice))
            .await
            .expect("deliver");
    }
    // Already read: the script must leave it alone.
    let inbox = s
        .store()
        .mailbox_blocking(&alice, "INBOX")
        .expect("inbox")
        .expect("exists");
    s.store()
        .set_flags(
            inbox.id,
            vec![mailyard_store::Uid(3)],
            mailyard_store::FlagMode::Add,
            FlagSet {
                flags: Flags::SEEN,
                keywords: Vec::new(),
            },
            None,
        )
        .await
        .expect("flag");

    // A mail-processing script: over IMAPS (verifying the certificate), for every
    // unseen message, parse it, move invoices to a folder, flag and mark the rest read,
    // print a summary.
    let script = r#"
import email, imaplib, os, ssl
from email import policy
ctx = ssl.create_default_context(cafile=os.environ["CERT"])
m = imaplib.IMAP4_SSL("localhost", int(os.environ["PORT"]), ssl_context=ctx, timeout=20)
m.login("alice@example.com", "pw")
typ, _ = m.select("INBOX")
assert typ == "OK"
typ, data = m.uid("search", None, "UNSEEN")
uids = data[0].split()
print("unseen", b",".join(uids).decode())
for uid in uids:
    typ, data = m.uid("fetch", uid, "(BODY.PEEK[])")
    msg = email.message_from_bytes(data[0][1], policy=policy.default)
    if msg["X-Kind"] == "invoice":
        typ, resp = m.uid("move", uid, "Invoices")
        assert typ == "OK", resp
        print("moved", uid.decode(), msg["Subject"])
    else:
        typ, resp = m.uid("store", uid, "+FLAGS", r"(\Seen \Flagged)")
        assert typ == "OK", resp
        print("marked", uid.decode(), msg["Subject"])
m.close()
m.logout()
"#;
    let (ok, out) = python(
        script,
        &[
            ("PORT", s.addr("imaps").port().to_string()),
            ("CERT", s.cert_path().display().to_string()),
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("unseen 1,2\n"), "{out}");
    assert!(out.contains("moved 1 interop message 1"), "{out}");
    assert!(out.contains("marked 2 interop message 2"), "{out}");

    let inbox = s.mailbox_contents("alice@example.com", "INBOX").await;
    let state: Vec<(u32, String)> = inbox
        .iter()
        .map(|m| (m.info.uid.0, m.flag_letters()))
        .collect();
    assert_eq!(state, vec![(2, "FS".to_string()), (3, "S".to_string())]);
    let filed = s.mailbox_contents("alice@example.com", "Invoices").await;
    assert_eq!(filed.len(), 1);
    assert!(filed[0].bytes.starts_with(b"X-Kind: invoice\r\n"));
    assert_eq!(filed[0].flag_letters(), "", "MOVE keeps the flags (unseen)");
    s.stop().await;
}

/// A tmux server of our own (its socket in the test's temp dir).
struct Tmux {
    tmux: std::path::PathBuf,
    socket: std::path::PathBuf,
}

impl Tmux {
    async fn run(&self, args: &[&str]) -> std::process::Output {
        run_client(
            Command::new(&self.tmux)
                .arg("-S")
                .arg(&self.socket)
                .args(args),
            b"",
            LIMIT,
        )
        .await
    }

    async fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "mail"]).await;
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Waits until the screen shows `needle`, failing with the screen after 15 s.
    async fn wait_screen(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen().await;
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the screen never showed {needle:?}:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "mail"];
        args.extend_from_slice(keys);
        let out = self.run(&args).await;
        assert!(out.status.success(), "{}", output_text(&out));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Ends our own tmux server (and neomutt in it) if the test failed midway.
        let _ = std::process::Command::new(&self.tmux)
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neomutt_reads_a_message_over_imaps() {
    let neomutt = require_client("neomutt", "neomutt");
    let tmux = require_client("tmux", "tmux");
    let s = TestServer::start("").await;
    user_with_mail(&s, 3).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = s.addr("imaps").port();
    // The user's muttrc: IMAPS, the server's certificate as the accepted one (no
    // prompt), no caches.
    let muttrc = dir.path().join("muttrc");
    std::fs::write(
        &muttrc,
        format!(
            "set folder = \"imaps://alice%40example.com@127.0.0.1:{port}/\"\n\
             set imap_pass = \"pw\"\n\
             set spoolfile = \"+INBOX\"\n\
             set certificate_file = \"{cert}\"\n\
             set ssl_verify_host = no\n\
             set header_cache = \"\"\n\
             set message_cachedir = \"\"\n\
             set sort = date\n\
             set wait_key = no\n\
             set quit = yes\n\
             set mark_old = no\n",
            cert = s.cert_path().display()
        ),
    )
    .expect("muttrc");
    let t = Tmux {
        tmux,
        socket: dir.path().join("tmux.sock"),
    };
    let cmd = format!("{} -n -F {}", neomutt.display(), muttrc.display());
    let out = run_client(
        Command::new(&t.tmux)
            .arg("-S")
            .arg(&t.socket)
            .args(["new-session", "-d", "-s", "mail", "-x", "160", "-y", "40"])
            .arg(cmd)
            .env("HOME", dir.path())
            .env("LANG", "C.UTF-8")
            .env("TERM", "xterm"),
        b"",
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));

    // The index lists the three messages; jump to the second and open it.
    let index = t.wait_screen("interop message 3").await;
    assert!(index.contains("interop message 1"), "{index}");
    assert!(index.contains("interop message 2"), "{index}");
    t.keys(&["2", "Enter"]).await;
    t.keys(&["Enter"]).await;
    let pager = t.wait_screen("Body of message 2").await;
    assert!(pager.contains("Subject: interop message 2"), "{pager}");
    assert!(pager.contains("indented line"), "{pager}");
    assert!(pager.contains(".dot line"), "{pager}");

    // Back to the index, quit: neomutt syncs \Seen for the message it showed.
    t.keys(&["q"]).await;
    t.wait_screen("interop message 1").await;
    t.keys(&["q"]).await;
    let mut ended = false;
    for _ in 0..300 {
        if !t.run(&["has-session", "-t", "mail"]).await.status.success() {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ended, "neomutt did not quit:\n{}", t.screen().await);
    let inbox = s.mailbox_contents("alice@example.com", "INBOX").await;
    let flags: Vec<String> = inbox.iter().map(|m| m.flag_letters()).collect();
    assert_eq!(flags, vec!["", "S", ""], "only the message read is \\Seen");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offlineimap_downloads_the_mailboxes() {
    let offlineimap = require_client("offlineimap", "offlineimap3");
    let s = TestServer::start("").await;
    let alice = s.add_user("alice@example.com", "pw").await;
    for i in 1..=20 {
        s.store()
            .deliver(message(i), std::slice::from_ref(&alice))
            .await
            .expect("deliver");
    }
    s.store()
        .create_mailbox(&alice, "Lists", None)
        .await
        .expect("create");
    for i in 21..=25 {
        s.store()
            .append(
                &alice,
                "Lists",
                message(i),
                FlagSet {
                    flags: Flags::SEEN.union(Flags::FLAGGED),
                    keywords: Vec::new(),
                },
                None,
            )
            .await
            .expect("append");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mail = dir.path().join("Mail");
    // offlineimap checks the certificate and its host name: the server's certificate
    // is the CA file, `localhost` one of its names.
    let rc = dir.path().join("offlineimaprc");
    std::fs::write(
        &rc,
        format!(
            "[general]\naccounts = office\nmetadata = {meta}\n\n\
             [Account office]\nlocalrepository = local\nremoterepository = server\n\n\
             [Repository local]\ntype = Maildir\nlocalfolders = {mail}\n\n\
             [Repository server]\ntype = IMAP\nremotehost = localhost\nremoteport = {port}\n\
             remoteuser = alice@example.com\nremotepass = pw\nssl = yes\n\
             sslcacertfile = {cert}\nreadonly = True\n\
             folderfilter = lambda f: f in ['INBOX', 'Lists']\n",
            meta = dir.path().join("meta").display(),
            mail = mail.display(),
            port = s.addr("imaps").port(),
            cert = s.cert_path().display(),
        ),
    )
    .expect("rc");
    let out = run_client(
        Command::new(&offlineimap)
            .arg("-c")
            .arg(&rc)
            .args(["-o", "-u", "basic"])
            .env("HOME", dir.path()),
        b"",
        Duration::from_secs(60),
    )
    .await;
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("ERROR"), "{text}");

    for folder in ["INBOX", "Lists"] {
        let server = s.mailbox_contents("alice@example.com", folder).await;
        let local = read_offlineimap_maildir(&mail.join(folder));
        assert_eq!(local.len(), server.len(), "{folder}: message count");
        for m in &server {
            let (flags, bytes) = local
                .get(&m.info.uid.0)
                .unwrap_or_else(|| panic!("{folder} UID {} not downloaded", m.info.uid.0));
            // offlineimap writes maildir files with LF line endings.
            let expected = String::from_utf8_lossy(&m.bytes).replace("\r\n", "\n");
            assert_eq!(
                String::from_utf8_lossy(bytes),
                expected,
                "{folder} UID {}",
                m.info.uid.0
            );
            assert_eq!(
                flags,
                &m.flag_letters(),
                "{folder} UID {} flags",
                m.info.uid.0
            );
        }
    }
    s.stop().await;
}

/// offlineimap's maildir: UID (from `,U=<uid>,` in the name) -> (flags, bytes).
fn read_offlineimap_maildir(dir: &Path) -> std::collections::BTreeMap<u32, (String, Vec<u8>)> {
    let mut out = std::collections::BTreeMap::new();
    for sub in ["new", "cur"] {
        let entries = std::fs::read_dir(dir.join(sub))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(sub).display()));
        for e in entries {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().to_string();
            let uid: u32 = name
                .split(',')
                .find_map(|p| p.strip_prefix("U="))
                .and_then(|u| u.parse().ok())
                .unwrap_or_else(|| panic!("no U= in {name}"));
            let flags = name.split_once(":2,").map_or("", |(_, f)| f).to_string();
            let bytes = std::fs::read(e.path()).expect("read");
            out.insert(uid, (flags, bytes));
        }
    }
    out
}
