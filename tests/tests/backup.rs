//! Backups (README "Backups"): `backup` while the server takes mail from several SMTP
//! clients at once and another session changes flags, `restore` into another data
//! dir, a second server on it, and every message whose `250` came before the backup
//! started is there with its UID, flags and body, compared over IMAP on both servers.
//! `backup --verify` finds a changed and a missing file; `restore` refuses a data
//! dir that is not empty.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailyard_store::backup::{self, Extras};
use mailyard_store::{Address, FlagMode, FlagSet, Flags};
use mailyard_tests::{TestServer, python, wait_until};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const USERS: [&str; 3] = ["alice@example.com", "bob@example.com", "carol@example.com"];
const PASS: &str = "pw";
/// Concurrent SMTP clients sending while the backup runs.
const CLIENTS: usize = 6;
/// alice's INBOX UIDs whose `\Seen` flips all through the backup (their flags are not
/// compared: the backup holds one of the states they went through).
const TOGGLED: [u32; 5] = [1, 2, 3, 4, 5];

type Acked = Arc<Mutex<Vec<(String, Instant)>>>;

async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await.expect("read");
        assert!(n > 0, "connection closed after {all:?}");
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

/// One SMTP client: message after message, round robin over the users, until `stop`;
/// every `250` is logged with its moment.
async fn client(port: u16, id: usize, stop: Arc<AtomicBool>, acked: Acked) {
    let (r, mut w) = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect")
        .into_split();
    let mut r = BufReader::new(r);
    assert!(reply(&mut r).await.starts_with("220"));
    w.write_all(b"EHLO load.example.net\r\n")
        .await
        .expect("write");
    assert!(reply(&mut r).await.starts_with("250"));
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let subject = format!("load {id}-{n}");
        let rcpt = USERS[(id + n) % USERS.len()];
        for cmd in [
            "MAIL FROM:<sender@example.net>\r\n".to_string(),
            format!("RCPT TO:<{rcpt}>\r\n"),
            "DATA\r\n".to_string(),
        ] {
            w.write_all(cmd.as_bytes()).await.expect("write");
            let text = reply(&mut r).await;
            assert!(text.starts_with('2') || text.starts_with("354"), "{text}");
        }
        let filler = "0123456789abcdef".repeat(64 * (n % 7));
        let msg = format!(
            "From: sender@example.net\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n{filler}\r\n.\r\n"
        );
        w.write_all(msg.as_bytes()).await.expect("write");
        let text = reply(&mut r).await;
        assert!(text.starts_with("250"), "{text}");
        acked.lock().expect("lock").push((subject, Instant::now()));
        n += 1;
    }
    let _ = w.write_all(b"QUIT\r\n").await;
}

/// Prints every message of every user's INBOX on both servers and checks, for each
/// subject in ACKED, that the restored server has it with the same UID, body and
/// (but for TOGGLED UIDs of alice) flags; and that it holds nothing the source lacks.
const COMPARE: &str = r#"
import hashlib, imaplib, os, re, sys
def snap(port):
    out = {}
    for user in os.environ['USERS'].split(','):
        m = imaplib.IMAP4('127.0.0.1', int(port), timeout=30)
        m.login(user, os.environ['PASS'])
        typ, data = m.select('INBOX', readonly=True)
        uv = m.untagged_responses.get('UIDVALIDITY', [b'?'])[0]
        msgs = {}
        typ, data = m.uid('FETCH', '1:*', '(UID FLAGS BODY.PEEK[])')
        for item in data:
            if not isinstance(item, tuple):
                continue
            head, body = item[0].decode(), item[1]
            uid = int(re.search(r'UID (\d+)', head).group(1))
            flags = sorted(f for f in re.search(r'FLAGS \(([^)]*)\)', head).group(1).split() if f != '\\Recent')
            subj = re.search(rb'\r\nSubject: ([^\r\n]*)', body).group(1).decode()
            msgs[subj] = (uid, flags, hashlib.sha256(body).hexdigest())
        out[user] = (uv, msgs)
        m.logout()
    return out
src, dst = snap(os.environ['IMAP1']), snap(os.environ['IMAP2'])
acked = set(open(os.environ['ACKED']).read().split('\n')) - {''}
toggled = set(int(u) for u in os.environ['TOGGLED'].split(','))
problems, checked = [], 0
for user, (uv, msgs) in src.items():
    ruv, rmsgs = dst[user]
    if uv != ruv:
        problems.append('%s: UIDVALIDITY %r, restored %r' % (user, uv, ruv))
    for subj, (uid, flags, sha) in msgs.items():
        if subj not in acked:
            continue
        checked += 1
        got = rmsgs.get(subj)
        if got is None:
            problems.append('%s: %r (UID %d) acknowledged before the backup, missing' % (user, subj, uid))
            continue
        if got[0] != uid or got[2] != sha:
            problems.append('%s: %r: UID %d/%d or body differs' % (user, subj, uid, got[0]))
        if got[1] != flags and not (user.startswith('alice@') and uid in toggled):
            problems.append('%s: %r: flags %r, restored %r' % (user, subj, flags, got[1]))
    for subj, (uid, flags, sha) in rmsgs.items():
        if subj not in msgs or msgs[subj][0] != uid or msgs[subj][2] != sha:
            problems.append('%s: restored %r (UID %d) is not in the source' % (user, subj, uid))
missing_src = acked - set(s for _, (_, msgs) in src.items() for s in msgs)
if missing_src:
    problems.append('the source lacks %d acknowledged messages' % len(missing_src))
print('acknowledged before the backup: %d, checked %d; source %d, restored %d messages' % (
    len(acked), checked, sum(len(m) for _, m in src.values()), sum(len(m) for _, m in dst.values())))
if problems:
    print('\n'.join(problems[:50]))
    sys.exit(1)
print('ok')
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_load_restores_every_acknowledged_message() {
    let server = TestServer::start("").await;
    for u in USERS {
        server.add_user(u, PASS).await;
    }
    let port = server.addr("smtp").port();
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Acked = Arc::default();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(port, id, stop.clone(), acked.clone())))
        .collect();
    // Some mail first, some of it flagged.
    wait_until(
        Duration::from_secs(60),
        || acked.lock().map_or(0, |a| a.len()) >= 90,
        || "90 messages accepted within 60 s".into(),
    )
    .await;
    let store = server.store().clone();
    for u in USERS {
        let a = Address::parse(u).expect("address");
        let mb = store
            .mailbox_blocking(&a, "INBOX")
            .expect("read")
            .expect("INBOX");
        let uids = store.messages_blocking(mb.id).expect("messages");
        let pick: Vec<_> = uids
            .iter()
            .map(|m| m.uid)
            .filter(|u| u.0 % 3 == 0)
            .collect();
        let flagged = FlagSet {
            flags: Flags::FLAGGED,
            keywords: vec!["$Label1".into()],
        };
        store
            .set_flags(mb.id, pick, FlagMode::Add, flagged, None)
            .await
            .expect("flag");
    }
    // Another session flips \Seen on a few of alice's messages all through the backup:
    // their files are renamed under the backup's walk.
    let flipping = Arc::new(AtomicBool::new(true));
    let alice = Address::parse(USERS[0]).expect("address");
    let inbox = store
        .mailbox_blocking(&alice, "INBOX")
        .expect("read")
        .expect("INBOX");
    let flipper = {
        let (store, flipping) = (store.clone(), flipping.clone());
        tokio::spawn(async move {
            let mut on = true;
            let mut flips = 0u64;
            while flipping.load(Ordering::Relaxed) {
                let mode = if on { FlagMode::Add } else { FlagMode::Remove };
                let seen = FlagSet {
                    flags: Flags::SEEN,
                    keywords: Vec::new(),
                };
                let uids = TOGGLED.iter().map(|u| mailyard_store::Uid(*u)).collect();
                store
                    .set_flags(inbox.id, uids, mode, seen, None)
                    .await
                    .expect("flip");
                on = !on;
                flips += 1;
                tokio::task::yield_now().await;
            }
            flips
        })
    };

    let dest = tempfile::tempdir().expect("tempdir");
    let target = dest.path().join("backup");
    let started = Instant::now();
    let data_dir = server.dir.path().to_path_buf();
    let target2 = target.clone();
    let report = tokio::task::spawn_blocking(move || {
        backup::backup(&data_dir, &target2, &Extras::default())
    })
    .await
    .expect("join")
    .expect("backup");
    let took = started.elapsed();
    flipping.store(false, Ordering::Relaxed);
    let flips = flipper.await.expect("flipper");
    let during = acked
        .lock()
        .map_or(0, |a| a.iter().filter(|(_, t)| *t >= started).count());
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client");
    }
    let before: Vec<String> = acked
        .lock()
        .expect("lock")
        .iter()
        .filter(|(_, t)| *t < started)
        .map(|(s, _)| s.clone())
        .collect();
    println!(
        "backup: {} files, {} octets, {} linked, {} copied in {took:?}; \
         {} messages accepted before it, {during} during it; {flips} flag flips during it",
        report.files,
        report.bytes,
        report.linked,
        report.copied,
        before.len()
    );
    assert!(report.linked > 0, "{report:?}");
    assert!(
        backup::verify(&target).expect("verify").is_empty(),
        "a fresh backup verifies"
    );

    // Restore into another data dir; a second server on it.
    let restored_dir = tempfile::tempdir().expect("tempdir");
    let (dest_dir, restored_path) = (target.clone(), restored_dir.path().to_path_buf());
    let r = tokio::task::spawn_blocking(move || backup::restore(&dest_dir, &restored_path))
        .await
        .expect("join")
        .expect("restore");
    assert!(r.files > 0);
    let restored = TestServer::start_in(restored_dir, "").await;
    let acked_file = dest.path().join("acked.txt");
    std::fs::write(&acked_file, before.join("\n")).expect("write");
    let toggled: Vec<String> = TOGGLED.iter().map(|u| u.to_string()).collect();
    let (ok, out) = python(
        COMPARE,
        &[
            ("IMAP1", server.addr("imap").port().to_string()),
            ("IMAP2", restored.addr("imap").port().to_string()),
            ("USERS", USERS.join(",")),
            ("PASS", PASS.to_string()),
            ("ACKED", acked_file.display().to_string()),
            ("TOGGLED", toggled.join(",")),
        ],
    )
    .await;
    println!("{out}");
    assert!(ok, "{out}");
    let problems = restored.store().check().expect("check");
    assert!(problems.is_empty(), "{problems:?}");

    // A restore refuses a data dir that is not empty.
    let busy = restored.dir.path().to_path_buf();
    let t = target.clone();
    let refused = tokio::task::spawn_blocking(move || backup::restore(&t, &busy))
        .await
        .expect("join");
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("not empty")),
        "{refused:?}"
    );

    // --verify: a changed file and a missing one.
    let accounts = target.join("data").join("accounts.db");
    let mut bytes = std::fs::read(&accounts).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&accounts, &bytes).expect("write");
    let (_, entries) = backup::read_manifest(&target).expect("manifest");
    let victim = entries
        .iter()
        .find(|e| e.path.contains("/cur/") || e.path.contains("/new/"))
        .expect("a message file");
    std::fs::remove_file(target.join(&victim.path)).expect("remove");
    let problems = backup::verify(&target).expect("verify");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("data/accounts.db: checksum")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p == &format!("{}: missing", victim.path)),
        "{problems:?}"
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    restored.stop().await;
    server.stop().await;
}
