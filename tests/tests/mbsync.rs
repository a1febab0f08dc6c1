//! mbsync (isync) keeping a laptop's maildir in sync with the server, the way its users
//! run it: a ~/.mbsyncrc with one IMAPS account (the server's certificate pinned with
//! `CertificateFile`), a maildir store, one channel over every folder with
//! `Create Both` / `Expunge Both` / `SyncState *`, and `mbsync -a` from cron.
//!
//! A 500-message account with nested folders is pulled; then both sides change
//! (flags set by renaming maildir files and by IMAP STORE, messages deleted on each
//! side, new messages and a new folder on each side); the next run reconciles them; a
//! third run must change nothing on either side. After each run the client maildir and
//! the server hold the same folders and, per folder, the same messages with the same
//! flags and bytes. mbsync stores messages with LF line endings and adds an `X-TUID:`
//! header to every message it copies, either way (its journal key); the comparison
//! undoes exactly those two transformations and nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mailyard_store::{Address, FlagSet, Flags};
use mailyard_tests::{TestServer, output_text, python, require_client, run_client};
use tokio::process::Command;

const USER: &str = "alice@example.com";
const PASS: &str = "sync pass";

/// Server folder -> number of messages created there before the first sync.
const LAYOUT: [(&str, usize); 5] = [
    ("INBOX", 300),
    ("Work", 100),
    ("Work.Reports", 50),
    ("Sent", 30),
    ("Archive", 20),
];

/// A distinct message for `folder`, number `n`; some are larger and some 8-bit.
fn message(folder: &str, n: usize) -> Vec<u8> {
    let tag = folder.replace('.', "-").to_lowercase();
    let mut body = format!("Message {n} of {folder}.\r\n");
    if n.is_multiple_of(7) {
        for i in 0..150 {
            body.push_str(&format!(
                "line {i:03} of a longer report, padded to width ....\r\n"
            ));
        }
    }
    if n.is_multiple_of(5) {
        body.push_str("Gr\u{fc}\u{df}e, caf\u{e9} \u{2713}\r\n");
    }
    body.push_str(".a line starting with a dot\r\n");
    format!(
        "From: Sender {n} <s{n}@example.net>\r\nTo: {USER}\r\nSubject: {folder} #{n}\r\n\
         Date: Thu, 05 Mar 2026 08:00:00 +0000\r\nMessage-ID: <{tag}-{n}@example.net>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}"
    )
    .into_bytes()
}

fn flags(f: Flags) -> FlagSet {
    FlagSet {
        flags: f,
        keywords: Vec::new(),
    }
}

/// The client maildir folder of a server folder (`Work.Reports` -> `Work/Reports`).
fn local_dir(root: &Path, folder: &str) -> PathBuf {
    root.join(folder.replace('.', "/"))
}

/// Per folder (server name): the messages as (bytes in maildir form, flag letters),
/// sorted, so that two sides compare regardless of UIDs and file names.
type Contents = BTreeMap<String, Vec<(Vec<u8>, String)>>;

/// A message in the form both sides are compared in: LF endings (mbsync's maildir
/// form), without the `X-TUID:` header mbsync adds to every copy it makes, in either
/// direction.
fn maildir_form(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let head: Vec<&str> = head
        .split('\n')
        .filter(|l| !l.starts_with("X-TUID: "))
        .collect();
    format!("{}\n\n{body}", head.join("\n")).into_bytes()
}

async fn server_contents(s: &TestServer) -> Contents {
    let user = Address::parse(USER).expect("address");
    let names: Vec<String> = s
        .store()
        .mailboxes_blocking(&user)
        .expect("mailboxes")
        .into_iter()
        .map(|m| m.name)
        .collect();
    let mut out = Contents::new();
    for name in names {
        let mut msgs: Vec<(Vec<u8>, String)> = s
            .mailbox_contents(USER, &name)
            .await
            .into_iter()
            .map(|m| (maildir_form(&m.bytes), m.flag_letters()))
            .collect();
        msgs.sort();
        out.insert(name, msgs);
    }
    out
}

/// Every maildir under `root` (a directory with `cur/`), by server name.
fn client_contents(root: &Path) -> Contents {
    let mut out = Contents::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join("cur").is_dir() {
            let rel = dir.strip_prefix(root).expect("under root");
            let name = rel.to_string_lossy().replace('/', ".");
            let mut msgs = Vec::new();
            for (_, path) in maildir_files(&dir) {
                let name = path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .to_string();
                let flags = name.split_once(":2,").map_or("", |(_, f)| f).to_string();
                msgs.push((maildir_form(&std::fs::read(&path).expect("read")), flags));
            }
            msgs.sort();
            out.insert(name, msgs);
        }
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            let leaf = p.file_name().expect("name").to_string_lossy().to_string();
            if p.is_dir() && !["cur", "new", "tmp"].contains(&leaf.as_str()) {
                stack.push(p);
            }
        }
    }
    out
}

/// The message files of one maildir, with the Message-ID each carries.
fn maildir_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(dir.join(sub)).expect("read maildir") {
            let path = e.expect("entry").path();
            let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).to_string();
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("Message-ID: "))
                .unwrap_or("")
                .to_string();
            out.push((id, path));
        }
    }
    out.sort();
    out
}

/// Every file under `root` with its bytes, minus mbsync's own state files (rewritten
/// on every run): what a no-op run must leave untouched.
fn client_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().contains(".mbsyncstate") {
                out.insert(p.clone(), std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

/// Everything the server holds for the user that a sync could change: per mailbox its
/// UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, and each message's UID, flags and MODSEQ.
type ServerState = Vec<(String, u32, u32, u64, Vec<(u32, String, u64)>)>;

async fn server_state(s: &TestServer) -> ServerState {
    let user = Address::parse(USER).expect("address");
    let mut out = Vec::new();
    for mb in s.store().mailboxes_blocking(&user).expect("mailboxes") {
        let msgs = s
            .mailbox_contents(USER, &mb.name)
            .await
            .into_iter()
            .map(|m| (m.info.uid.0, m.flag_letters(), m.info.modseq.0))
            .collect();
        out.push((
            mb.name.clone(),
            mb.uidvalidity.0,
            mb.uidnext.0,
            mb.highestmodseq.0,
            msgs,
        ));
    }
    out
}

fn assert_same(server: &Contents, client: &Contents, when: &str) {
    let server_names: BTreeSet<&String> = server.keys().collect();
    let client_names: BTreeSet<&String> = client.keys().collect();
    assert_eq!(server_names, client_names, "{when}: the same folders");
    for (name, msgs) in server {
        let local = &client[name];
        assert_eq!(msgs.len(), local.len(), "{when}: {name} message count");
        for (i, (a, b)) in msgs.iter().zip(local).enumerate() {
            assert!(
                a == b,
                "{when}: {name} message {i} differs: server flags {:?}, client flags {:?}, \
                 bytes {}\nserver:\n{}\nclient:\n{}",
                a.1,
                b.1,
                if a.0 == b.0 { "equal" } else { "differ" },
                String::from_utf8_lossy(&a.0),
                String::from_utf8_lossy(&b.0)
            );
        }
    }
}

async fn mbsync_run(mbsync: &Path, rc: &Path, home: &Path, what: &str) -> String {
    let out = run_client(
        Command::new(mbsync)
            .arg("-c")
            .arg(rc)
            .args(["-a", "-V"])
            .env("HOME", home),
        b"",
        Duration::from_secs(60),
    )
    .await;
    let text = output_text(&out);
    assert!(out.status.success(), "{what}: {text}");
    text
}

/// Adds the maildir info letter `flag` to a message file, as a MUA does when the user
/// reads or flags it (moving it from new/ to cur/).
fn add_flag(path: &Path, flag: char) {
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    let (base, info) = name.split_once(":2,").unwrap_or((&name, ""));
    let mut letters: Vec<char> = info.chars().chain([flag]).collect();
    letters.sort_unstable();
    letters.dedup();
    let new_name = format!("{base}:2,{}", letters.into_iter().collect::<String>());
    let maildir = path.parent().and_then(Path::parent).expect("maildir");
    std::fs::rename(path, maildir.join("cur").join(new_name)).expect("rename");
}

/// The UIDs of the server messages of `folder` whose Message-ID is one of `ids`.
async fn uids_of(s: &TestServer, folder: &str, ids: &[String]) -> String {
    let uids: Vec<String> = s
        .mailbox_contents(USER, folder)
        .await
        .into_iter()
        .filter(|m| {
            let text = String::from_utf8_lossy(&m.bytes);
            ids.iter()
                .any(|id| text.contains(&format!("Message-ID: {id}\r\n")))
        })
        .map(|m| m.info.uid.0.to_string())
        .collect();
    assert_eq!(uids.len(), ids.len(), "{folder}: all of {ids:?} found");
    uids.join(",")
}

fn ids(folder: &str, range: std::ops::Range<usize>) -> Vec<String> {
    let tag = folder.replace('.', "-").to_lowercase();
    range.map(|n| format!("<{tag}-{n}@example.net>")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_two_way_sync_of_a_500_message_account() {
    let mbsync = require_client("mbsync", "isync");
    let started = Instant::now();
    let s = TestServer::start("").await;
    let alice = s.add_user(USER, PASS).await;
    for name in ["Work", "Work.Reports"] {
        s.store()
            .create_mailbox(&alice, name, None)
            .await
            .expect("create");
    }
    // 500 messages, delivered concurrently (they share the store's group commits).
    let mut tasks = tokio::task::JoinSet::new();
    for (folder, count) in LAYOUT {
        for n in 0..count {
            let store = s.store().clone();
            let alice = alice.clone();
            tasks.spawn(async move {
                let m = message(folder, n);
                let f = match folder {
                    "INBOX" => return store.deliver(m, &[alice]).await.map(|_| ()),
                    "Work" if n.is_multiple_of(3) => Flags::SEEN,
                    "Work" => Flags::empty(),
                    "Work.Reports" if n.is_multiple_of(10) => Flags::SEEN.union(Flags::FLAGGED),
                    "Archive" => Flags::SEEN.union(Flags::ANSWERED),
                    _ => Flags::SEEN,
                };
                store
                    .append(&alice, folder, m, flags(f), None)
                    .await
                    .map(|_| ())
            });
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("join").expect("store message");
    }

    let home = tempfile::tempdir().expect("tempdir");
    let root = home.path().join("Mail");
    std::fs::create_dir_all(&root).expect("mkdir");
    let rc = home.path().join(".mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount office\n\
             Host 127.0.0.1\n\
             Port {port}\n\
             User {USER}\n\
             Pass \"{PASS}\"\n\
             SSLType IMAPS\n\
             CertificateFile {cert}\n\
             \n\
             IMAPStore office-remote\n\
             Account office\n\
             \n\
             MaildirStore office-local\n\
             Path {root}/\n\
             Inbox {root}/INBOX\n\
             SubFolders Verbatim\n\
             \n\
             Channel office\n\
             Far :office-remote:\n\
             Near :office-local:\n\
             Patterns *\n\
             Create Both\n\
             Expunge Both\n\
             SyncState *\n",
            port = s.addr("imaps").port(),
            cert = s.cert_path().display(),
            root = root.display(),
        ),
    )
    .expect("write mbsyncrc");

    // 1. The first run pulls everything.
    mbsync_run(&mbsync, &rc, home.path(), "first sync").await;
    let server = server_contents(&s).await;
    let total: usize = server.values().map(Vec::len).sum();
    assert_eq!(total, 500);
    assert_same(&server, &client_contents(&root), "after the first sync");

    // 2. Both sides change.
    // Client: read 10 and flag 5 INBOX messages, delete 7; delete 2 in Sent; write 3
    // new messages into Work; create a folder with one message.
    let inbox_files: BTreeMap<String, PathBuf> = maildir_files(&local_dir(&root, "INBOX"))
        .into_iter()
        .collect();
    for id in ids("INBOX", 0..10) {
        add_flag(&inbox_files[&id], 'S');
    }
    for id in ids("INBOX", 10..15) {
        add_flag(&inbox_files[&id], 'F');
    }
    for id in ids("INBOX", 15..22) {
        std::fs::remove_file(&inbox_files[&id]).expect("delete");
    }
    let sent_files: BTreeMap<String, PathBuf> = maildir_files(&local_dir(&root, "Sent"))
        .into_iter()
        .collect();
    for id in ids("Sent", 0..2) {
        std::fs::remove_file(&sent_files[&id]).expect("delete");
    }
    let local_new = |dir: &Path, n: usize, text: &str| {
        let body = format!(
            "From: {USER}\nTo: bob@example.com\nSubject: written offline {n}\n\
             Message-ID: <offline-{n}@example.com>\nDate: Thu, 05 Mar 2026 12:00:00 +0000\n\n{text}\n"
        );
        std::fs::write(
            dir.join("new").join(format!("1772700000.M{n}P1.laptop")),
            body,
        )
        .expect("write");
    };
    for n in 0..3 {
        local_new(&local_dir(&root, "Work"), n, "drafted on the train");
    }
    let local_folder = local_dir(&root, "Local");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(local_folder.join(sub)).expect("mkdir");
    }
    local_new(&local_folder, 9, "a folder made on the laptop");

    // Server: another client reads 10 and flags 5 other INBOX messages and deletes 5
    // (STORE \Deleted + EXPUNGE), deletes 4 in Work.Reports, flags 3 in Archive; new
    // mail arrives; a folder is created with two messages.
    let script = r#"
import imaplib, os
m = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT"]), timeout=20)
m.login(os.environ["USER"], os.environ["PASS"])
def ok(r):
    assert r[0] == "OK", r
ok(m.select("INBOX"))
ok(m.uid("store", os.environ["SEEN"], "+FLAGS", r"(\Seen)"))
ok(m.uid("store", os.environ["FLAG"], "+FLAGS", r"(\Flagged)"))
ok(m.uid("store", os.environ["DEL"], "+FLAGS", r"(\Deleted)"))
ok(m.expunge())
ok(m.select("Work.Reports"))
ok(m.uid("store", os.environ["REPORTS_DEL"], "+FLAGS.SILENT", r"(\Deleted)"))
ok(m.expunge())
ok(m.select("Archive"))
ok(m.uid("store", os.environ["ARCHIVE_FLAG"], "+FLAGS", r"(\Flagged)"))
m.logout()
print("changed")
"#;
    let env = [
        ("PORT", s.addr("imap").port().to_string()),
        ("USER", USER.to_string()),
        ("PASS", PASS.to_string()),
        ("SEEN", uids_of(&s, "INBOX", &ids("INBOX", 100..110)).await),
        ("FLAG", uids_of(&s, "INBOX", &ids("INBOX", 110..115)).await),
        ("DEL", uids_of(&s, "INBOX", &ids("INBOX", 115..120)).await),
        (
            "REPORTS_DEL",
            uids_of(&s, "Work.Reports", &ids("Work.Reports", 1..5)).await,
        ),
        (
            "ARCHIVE_FLAG",
            uids_of(&s, "Archive", &ids("Archive", 0..3)).await,
        ),
    ];
    let (ok, out) = python(script, &env).await;
    assert!(ok && out.contains("changed"), "{out}");
    for n in 300..305 {
        s.store()
            .deliver(message("INBOX", n), std::slice::from_ref(&alice))
            .await
            .expect("deliver");
    }
    s.store()
        .create_mailbox(&alice, "Projects", None)
        .await
        .expect("create");
    for n in 0..2 {
        s.store()
            .append(
                &alice,
                "Projects",
                message("Projects", n),
                flags(Flags::empty()),
                None,
            )
            .await
            .expect("append");
    }

    // 3. The second run reconciles both sides.
    mbsync_run(&mbsync, &rc, home.path(), "second sync").await;
    let server = server_contents(&s).await;
    assert_same(&server, &client_contents(&root), "after the second sync");
    let counts: BTreeMap<&str, usize> = server.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    let expected: BTreeMap<&str, usize> = [
        ("INBOX", 300 - 7 - 5 + 5),
        ("Work", 103),
        ("Work.Reports", 46),
        ("Sent", 28),
        ("Archive", 20),
        ("Drafts", 0),
        ("Trash", 0),
        ("Junk", 0),
        ("Projects", 2),
        ("Local", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, expected, "messages per folder on the server");
    // The flags each side set reached the server (and, by the comparison above, the
    // client): read and flagged on the laptop, read and flagged by the other client.
    let inbox = s.mailbox_contents(USER, "INBOX").await;
    let flags_of = |id: &str| -> String {
        inbox
            .iter()
            .find(|m| String::from_utf8_lossy(&m.bytes).contains(&format!("Message-ID: {id}\r\n")))
            .map(|m| m.flag_letters())
            .unwrap_or_else(|| panic!("{id} not on the server"))
    };
    for id in ids("INBOX", 0..10).iter().chain(&ids("INBOX", 100..110)) {
        assert_eq!(flags_of(id), "S", "{id}");
    }
    for id in ids("INBOX", 10..15).iter().chain(&ids("INBOX", 110..115)) {
        assert_eq!(flags_of(id), "F", "{id}");
    }
    for id in ids("INBOX", 15..22).iter().chain(&ids("INBOX", 115..120)) {
        assert!(
            !inbox
                .iter()
                .any(|m| String::from_utf8_lossy(&m.bytes).contains(id.as_str())),
            "{id} deleted"
        );
    }
    let uploaded = s.mailbox_contents(USER, "Local").await;
    assert!(String::from_utf8_lossy(&uploaded[0].bytes).contains("a folder made on the laptop"));

    // 4. A third run has nothing to do: neither side changes.
    let before_server = server_state(&s).await;
    let before_client = client_files(&root);
    let log = mbsync_run(&mbsync, &rc, home.path(), "third sync").await;
    assert_eq!(
        server_state(&s).await,
        before_server,
        "server unchanged\n{log}"
    );
    let after_client = client_files(&root);
    assert!(
        after_client == before_client,
        "client maildir unchanged: files now {:?}\n{log}",
        after_client
            .keys()
            .filter(|k| !before_client.contains_key(*k))
            .collect::<Vec<_>>()
    );
    assert_same(
        &server_contents(&s).await,
        &client_contents(&root),
        "after the third sync",
    );
    s.stop().await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "the whole sync test took {took:?}"
    );
}
