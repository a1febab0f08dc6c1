//! Store behaviour end to end on a real temp directory: delivery durability and
//! layout, concurrency, index rebuild, hostile names, crash recovery.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailyard_store::changes::{MailboxEvent, MessageChanges, USER_EVENTS_PENDING};
use mailyard_store::{Address, FlagMode, FlagSet, Flags, MailboxInfo, Store, StoreError, maildir};

fn addr(s: &str) -> Address {
    Address::parse(s).expect("valid address")
}

fn message(token: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.net>\r\nTo: alice@example.com\r\nSubject: test {token}\r\n\
         Message-ID: <{token}@example.net>\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\n\
         body {token}\r\n"
    )
    .into_bytes()
}

fn open_with_users(dir: &Path, users: &[&str]) -> Store {
    let (store, _) = Store::open(dir).expect("open store");
    for u in users {
        store
            .accounts()
            .add_user(&addr(u), "secret")
            .expect("add user");
        store.setup_user_blocking(&addr(u)).expect("setup user");
    }
    store
}

/// A store with alice, `tokens.len()` messages delivered to her INBOX in that order
/// (`message(token)`), and her INBOX's row.
async fn alice_with_mail(dir: &Path, tokens: &[&str]) -> (Store, Address, MailboxInfo) {
    let store = open_with_users(dir, &["alice@example.com"]);
    let alice = addr("alice@example.com");
    for token in tokens {
        store
            .deliver(message(token), std::slice::from_ref(&alice))
            .await
            .expect("deliver");
    }
    let inbox = store
        .mailbox_blocking(&alice, "INBOX")
        .expect("q")
        .expect("inbox");
    (store, alice, inbox)
}

#[test]
fn new_user_gets_special_use_mailboxes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_users(dir.path(), &["alice@example.com"]);
    let boxes = store
        .mailboxes_blocking(&addr("alice@example.com"))
        .expect("mailboxes");
    let got: Vec<(String, Option<String>, bool)> = boxes
        .iter()
        .map(|m| (m.name.clone(), m.special_use.clone(), m.subscribed))
        .collect();
    let want = [
        ("Archive", Some("\\Archive")),
        ("Drafts", Some("\\Drafts")),
        ("INBOX", None),
        ("Junk", Some("\\Junk")),
        ("Sent", Some("\\Sent")),
        ("Trash", Some("\\Trash")),
    ];
    let want: Vec<(String, Option<String>, bool)> = want
        .iter()
        .map(|(n, s)| (n.to_string(), s.map(str::to_string), true))
        .collect();
    assert_eq!(got, want);
    let root = dir.path().join("mail/example.com/alice");
    for sub in ["cur", "new", "tmp", ".Sent/cur", ".Trash/new", ".Junk/tmp"] {
        assert!(root.join(sub).is_dir(), "{sub}");
    }
    assert!(root.join(".Sent/maildirfolder").is_file());
}

/// The writer reports each batch it takes to the observer `serve` gives it: a
/// delivery is a batch of one request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_reports_its_batches() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_users(dir.path(), &["alice@example.com"]);
    let (batches, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (b, r) = (batches.clone(), requests.clone());
    store.observe_batches(Box::new(move |n| {
        b.fetch_add(1, Ordering::SeqCst);
        r.fetch_add(n, Ordering::SeqCst);
    }));
    store
        .deliver(message("counted"), &[addr("alice@example.com")])
        .await
        .expect("deliver");
    assert_eq!(batches.load(Ordering::SeqCst), 1);
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_write_many_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_users(dir.path(), &["alice@example.com", "bob@example.com"]);
    let rcpts = [addr("alice@example.com"), addr("bob@example.com")];
    let raw = message("m1");
    let delivered = store.deliver(raw.clone(), &rcpts).await.expect("deliver");
    assert_eq!(delivered.len(), 2);
    let mut inodes = HashSet::new();
    for d in &delivered {
        assert_eq!(d.uid.0, 1);
        let msgs = store.messages_blocking(d.mailbox).expect("messages");
        assert_eq!(msgs.len(), 1);
        let path = store
            .message_path(&d.user, "INBOX", &msgs[0])
            .expect("path");
        assert!(
            path.starts_with(
                dir.path()
                    .join("mail/example.com")
                    .join(d.user.local())
                    .join("new")
            )
        );
        assert_eq!(
            std::fs::read(&path).expect("read"),
            raw,
            "stored byte for byte"
        );
        assert_eq!(msgs[0].size, raw.len() as u64);
        inodes.insert(std::fs::metadata(&path).expect("meta").ino());
        let summary = store
            .summaries(d.mailbox, vec![d.uid])
            .await
            .expect("summary")
            .pop()
            .flatten()
            .expect("row");
        assert_eq!(summary.subject, "test m1");
        assert_eq!(summary.message_id, "m1@example.net");
    }
    assert_eq!(inodes.len(), 1, "one file, hard-linked");
    // tmp/ is cleaned after the commit.
    let tmp = dir.path().join("mail/example.com/alice/tmp");
    assert_eq!(std::fs::read_dir(tmp).expect("tmp").count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_get_unique_dense_uids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = ["alice@example.com", "bob@example.com", "carol@example.org"];
    let store = open_with_users(dir.path(), &users);
    let tasks = 64;
    let per_task = 10;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        let rcpts: Vec<Address> = users.iter().map(|u| addr(u)).collect();
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                let token = format!("t{t}-{i}");
                store
                    .deliver(message(&token), &rcpts)
                    .await
                    .expect("deliver");
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let n = tasks * per_task;
    for u in users {
        let inbox = store
            .mailbox_blocking(&addr(u), "INBOX")
            .expect("q")
            .expect("inbox");
        let msgs = store.messages_blocking(inbox.id).expect("messages");
        let uids: Vec<u32> = msgs.iter().map(|m| m.uid.0).collect();
        assert_eq!(
            uids,
            (1..=n as u32).collect::<Vec<_>>(),
            "{u}: dense, ascending"
        );
        assert_eq!(inbox.uidnext.0, n as u32 + 1);
        let files = maildir::scan_messages(
            &dir.path()
                .join("mail")
                .join(addr(u).domain())
                .join(addr(u).local()),
            &[],
        )
        .expect("scan");
        assert_eq!(files.len(), n);
    }
    assert!(store.check().expect("check").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_rebuilt_with_same_uids_uidvalidity_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = addr("alice@example.com");
    let before;
    let sent_before;
    {
        let (store, _, inbox) = alice_with_mail(dir.path(), &["r0", "r1", "r2", "r3", "r4"]).await;
        let flags = FlagSet {
            flags: Flags::SEEN.union(Flags::FLAGGED),
            keywords: vec!["$label1".into(), "Work".into()],
        };
        let uids = vec![mailyard_store::Uid(2), mailyard_store::Uid(4)];
        store
            .set_flags(inbox.id, uids, FlagMode::Add, flags, None)
            .await
            .expect("store");
        // Expunge the highest UID: its number must not come back after the rebuild.
        let del = FlagSet {
            flags: Flags::DELETED,
            keywords: vec![],
        };
        store
            .set_flags(
                inbox.id,
                vec![mailyard_store::Uid(5)],
                FlagMode::Add,
                del,
                None,
            )
            .await
            .expect("store");
        assert_eq!(
            store.expunge(inbox.id, None).await.expect("expunge"),
            [mailyard_store::Uid(5)]
        );
        let appended = store
            .append(
                &alice,
                "Sent",
                message("s1"),
                FlagSet {
                    flags: Flags::SEEN,
                    keywords: vec![],
                },
                Some(1_000_000_000),
            )
            .await
            .expect("append");
        assert_eq!(appended.uid.0, 1);
        let inbox = store
            .mailbox_blocking(&alice, "INBOX")
            .expect("q")
            .expect("inbox");
        before = (
            inbox.uidvalidity,
            store.messages_blocking(inbox.id).expect("messages"),
            inbox.highestmodseq,
        );
        let sent = store
            .mailbox_blocking(&alice, "Sent")
            .expect("q")
            .expect("sent");
        sent_before = (
            sent.uidvalidity,
            store.messages_blocking(sent.id).expect("messages"),
        );
    }
    std::fs::remove_file(dir.path().join("index.db")).expect("delete index");
    let _ = std::fs::remove_file(dir.path().join("index.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("index.db-shm"));
    let (store, report) = Store::open(dir.path()).expect("reopen");
    assert!(report.rebuilt.is_some(), "rebuilt on open");
    let inbox = store
        .mailbox_blocking(&alice, "INBOX")
        .expect("q")
        .expect("inbox");
    let after = store.messages_blocking(inbox.id).expect("messages");
    assert_eq!(inbox.uidvalidity, before.0);
    let key = |m: &mailyard_store::MessageInfo| {
        (
            m.uid,
            m.flags.clone(),
            m.size,
            m.base.clone(),
            m.internaldate,
        )
    };
    assert_eq!(
        after.iter().map(key).collect::<Vec<_>>(),
        before.1.iter().map(key).collect::<Vec<_>>()
    );
    assert!(
        inbox.uidnext.0 > 5,
        "expunged UID 5 never reused (uidnext {})",
        inbox.uidnext.0
    );
    assert!(
        inbox.highestmodseq > before.2,
        "modseq moves forward across a rebuild"
    );
    for m in &after {
        assert!(m.modseq > before.2);
    }
    let sent = store
        .mailbox_blocking(&alice, "Sent")
        .expect("q")
        .expect("sent");
    let sent_after = store.messages_blocking(sent.id).expect("messages");
    assert_eq!(sent.uidvalidity, sent_before.0);
    assert_eq!(
        sent_after.iter().map(key).collect::<Vec<_>>(),
        sent_before.1.iter().map(key).collect::<Vec<_>>()
    );
    assert_eq!(sent_after[0].internaldate, 1_000_000_000);
    assert_eq!(sent.special_use.as_deref(), Some("\\Sent"));
    assert!(sent.subscribed);
    // Summaries were recomputed from the files.
    let s = store
        .summaries(inbox.id, vec![mailyard_store::Uid(1)])
        .await
        .expect("q")
        .pop()
        .flatten()
        .expect("row");
    assert_eq!(s.subject, "test r0");
    let next = store
        .deliver(message("after"), std::slice::from_ref(&alice))
        .await
        .expect("deliver");
    assert!(next[0].uid.0 >= inbox.uidnext.0);
    assert!(store.check().expect("check").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_mailbox_names_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_users(dir.path(), &["alice@example.com"]);
    let alice = addr("alice@example.com");
    let long = "x".repeat(10_000);
    let hostile = [
        "..",
        "../x",
        "a/../../etc",
        "/etc/passwd",
        "a\0b",
        "",
        ".",
        "a..b",
        "a.",
        ".a",
        "~x",
        "a\\b",
        &long,
        "a*",
        "a%",
        "\u{1}",
    ];
    for name in hostile {
        let r = store.create_mailbox(&alice, name, None).await;
        assert!(
            matches!(r, Err(StoreError::BadName { .. })),
            "{name:?}: {r:?}"
        );
    }
    // Nothing escaped: the only entries under mail/ are the user's tree.
    let mut entries = Vec::new();
    for e in walk(dir.path()) {
        entries.push(e);
    }
    for e in &entries {
        assert!(!e.contains("etc"), "{e}");
    }
    let made = store
        .create_mailbox(&alice, "Projekte.Größe & Co", None)
        .await
        .expect("create");
    assert_eq!(made.name, "Projekte.Größe & Co");
    assert!(
        dir.path()
            .join("mail/example.com/alice/.Projekte.Gr&APYA3w-e &- Co/cur")
            .is_dir()
    );
    assert!(matches!(
        store.create_mailbox(&alice, "inbox", None).await,
        Err(StoreError::MailboxExists(_))
    ));
}

fn walk(p: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            out.push(e.path().display().to_string());
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_tools_changing_the_tree_are_reconciled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, alice, inbox) = alice_with_mail(dir.path(), &["o0", "o1", "o2"]).await;
    let msgs = store.messages_blocking(inbox.id).expect("messages");
    let root = dir.path().join("mail/example.com/alice");
    // mutt reads message 1: moves it to cur/ with :2,S.
    let p1 = store.message_path(&alice, "INBOX", &msgs[0]).expect("path");
    std::fs::rename(&p1, root.join("cur").join(format!("{}:2,S", msgs[0].base))).expect("mv");
    // Someone deletes message 2.
    std::fs::remove_file(store.message_path(&alice, "INBOX", &msgs[1]).expect("path")).expect("rm");
    // Another MDA drops in a file without U=.
    std::fs::write(
        root.join("new/1700000000.M1P1.otherhost"),
        message("foreign"),
    )
    .expect("write");
    let problems = store.check().expect("check");
    assert_eq!(problems.len(), 3, "{problems:#?}");
    let report = store.reconcile_blocking(&alice, false).expect("reconcile");
    assert_eq!(
        (
            report.adopted,
            report.dropped,
            report.reflagged,
            report.renumbered
        ),
        (1, 1, 1, 1)
    );
    let after = store.messages_blocking(inbox.id).expect("messages");
    let uids: Vec<u32> = after.iter().map(|m| m.uid.0).collect();
    assert_eq!(uids, [1, 3, 4]);
    assert_eq!(after[0].flags.flags, Flags::SEEN);
    assert!(store.check().expect("check").is_empty());
    let gone = store
        .expunge_log(inbox.id, mailyard_store::ModSeq(0))
        .await
        .expect("q")
        .1;
    assert_eq!(gone, [mailyard_store::Uid(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_published_after_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_users(dir.path(), &["alice@example.com"]);
    let alice = addr("alice@example.com");
    let inbox = store
        .mailbox_blocking(&alice, "INBOX")
        .expect("q")
        .expect("inbox");
    let mut rx = store.subscribe(inbox.id);
    store
        .deliver(message("c1"), std::slice::from_ref(&alice))
        .await
        .expect("deliver");
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .expect("notified")
        .expect("open");
    let seen = *rx.borrow_and_update();
    let now = store
        .mailbox_blocking(&alice, "INBOX")
        .expect("q")
        .expect("inbox");
    assert_eq!(seen, now.highestmodseq.0);

    // A write by another process (a second Store on the same data dir) is noticed too.
    store.watch_other_processes().expect("watch");
    tokio::time::sleep(Duration::from_millis(300)).await; // let the watcher take its first look
    let (other, _) = Store::open(dir.path()).expect("second store");
    other
        .deliver(message("c2"), std::slice::from_ref(&alice))
        .await
        .expect("deliver");
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            rx.changed().await.expect("open");
            if *rx.borrow_and_update() > seen {
                break;
            }
        }
    })
    .await
    .expect("noticed the other process's delivery within 5 s");
}

/// The next event on a user bus, within 5 s.
async fn next_event(rx: &mut tokio::sync::broadcast::Receiver<MailboxEvent>) -> MailboxEvent {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an event within 5 s")
        .expect("bus open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_bus_carries_every_mailbox_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_users(dir.path(), &["alice@example.com", "bob@example.com"]);
    let alice = addr("alice@example.com");
    let bob = addr("bob@example.com");
    let mut rx = store.subscribe_user(&alice);
    let inbox = store
        .mailbox_blocking(&alice, "INBOX")
        .expect("q")
        .expect("inbox");
    let messages = |name: &str, changes: MessageChanges| MailboxEvent::Messages {
        mailbox: inbox.id,
        name: name.into(),
        changes,
    };

    // Bob's delivery is not on Alice's bus; hers is.
    store
        .deliver(message("b1"), std::slice::from_ref(&bob))
        .await
        .expect("deliver");
    let d = store
        .deliver(message("a1"), std::slice::from_ref(&alice))
        .await
        .expect("deliver");
    assert_eq!(
        next_event(&mut rx).await,
        messages("INBOX", MessageChanges::NEW)
    );
    let deleted = FlagSet {
        flags: Flags::DELETED,
        keywords: vec![],
    };
    store
        .set_flags(inbox.id, vec![d[0].uid], FlagMode::Add, deleted, None)
        .await
        .expect("flags");
    assert_eq!(
        next_event(&mut rx).await,
        messages("INBOX", MessageChanges::FLAGS)
    );
    store.expunge(inbox.id, None).await.expect("expunge");
    assert_eq!(
        next_event(&mut rx).await,
        messages("INBOX", MessageChanges::EXPUNGED)
    );
    store
        .create_mailbox(&alice, "Lists", None)
        .await
        .expect("create");
    assert_eq!(
        next_event(&mut rx).await,
        MailboxEvent::Created {
            name: "Lists".into()
        }
    );
    store
        .set_subscribed(&alice, "Lists", true)
        .await
        .expect("subscribe");
    assert_eq!(
        next_event(&mut rx).await,
        MailboxEvent::Subscription {
            name: "Lists".into(),
            subscribed: true
        }
    );
    store
        .rename_mailbox(&alice, "Lists", "Groups")
        .await
        .expect("rename");
    assert_eq!(
        next_event(&mut rx).await,
        MailboxEvent::Renamed {
            from: "Lists".into(),
            to: "Groups".into()
        }
    );
    store
        .delete_mailbox(&alice, "Groups")
        .await
        .expect("delete");
    assert_eq!(
        next_event(&mut rx).await,
        MailboxEvent::Deleted {
            name: "Groups".into()
        }
    );
    // A failing request publishes nothing.
    assert!(store.delete_mailbox(&alice, "Groups").await.is_err());
    assert!(rx.try_recv().is_err(), "nothing for a failed request");

    // Concurrent deliveries that share a batch arrive as few coalesced events.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let alice = alice.clone();
            tokio::spawn(async move {
                store
                    .deliver(message(&format!("burst{i}")), &[alice])
                    .await
                    .expect("deliver")
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let mut n = 0;
    while let Ok(ev) = rx.try_recv() {
        assert_eq!(ev, messages("INBOX", MessageChanges::NEW));
        n += 1;
    }
    assert!((1..=20).contains(&n), "{n} events for 20 deliveries");

    // Another process's write reaches the bus through the watcher, once.
    store.watch_other_processes().expect("watch");
    tokio::time::sleep(Duration::from_millis(300)).await; // its first look
    let (other, _) = Store::open(dir.path()).expect("second store");
    other
        .deliver(message("other"), std::slice::from_ref(&alice))
        .await
        .expect("deliver");
    assert_eq!(
        next_event(&mut rx).await,
        messages("INBOX", MessageChanges::NEW)
    );
    // This process's own writes are not reported a second time by the watcher.
    store
        .deliver(message("own"), std::slice::from_ref(&alice))
        .await
        .expect("deliver");
    assert_eq!(
        next_event(&mut rx).await,
        messages("INBOX", MessageChanges::NEW)
    );
    tokio::time::sleep(Duration::from_millis(600)).await; // two more looks
    assert!(rx.try_recv().is_err(), "no duplicate from the watcher");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_bus_is_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_users(dir.path(), &["alice@example.com"]);
    let alice = addr("alice@example.com");
    let mut rx = store.subscribe_user(&alice);
    for i in 0..=USER_EVENTS_PENDING {
        // One event each, never read.
        store
            .set_subscribed(&alice, "Lists", i % 2 == 0)
            .await
            .expect("subscribe");
    }
    assert!(
        matches!(
            rx.try_recv(),
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_))
        ),
        "a reader more than USER_EVENTS_PENDING behind learns it lost events"
    );
}

/// The child half of `sigkill_during_deliveries_loses_nothing_acknowledged`: delivers
/// in a loop from several tasks and prints "ACK <token>" after each acknowledgement.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("MAILYARD_CRASH_CHILD") else {
        return;
    };
    let round = std::env::var("MAILYARD_CRASH_ROUND").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async move {
        let (store, _) = Store::open(Path::new(&dir)).expect("open");
        let rcpts = [addr("alice@example.com"), addr("bob@example.com")];
        let mut handles = Vec::new();
        for t in 0..8 {
            let store = store.clone();
            let rcpts = rcpts.clone();
            let round = round.clone();
            handles.push(tokio::spawn(async move {
                for i in 0.. {
                    let token = format!("r{round}k{t}x{i}");
                    store
                        .deliver(message(&token), &rcpts)
                        .await
                        .expect("deliver");
                    println!("ACK {token}");
                }
            }));
        }
        for h in handles {
            let _ = h.await;
        }
    });
}

#[test]
fn sigkill_during_deliveries_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open_with_users(
        dir.path(),
        &["alice@example.com", "bob@example.com"],
    ));
    let exe = std::env::current_exe().expect("exe");
    let mut acked: HashSet<String> = HashSet::new();
    for round in 0..3 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("MAILYARD_CRASH_CHILD", dir.path())
            .env("MAILYARD_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let target = acked.len() + 150 + round * 37;
        while acked.len() < target && Instant::now() < deadline {
            match lines.next() {
                Some(Ok(l)) => {
                    if let Some(t) = l.strip_prefix("ACK ") {
                        acked.insert(t.to_string());
                    }
                }
                _ => break,
            }
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        // Lines printed before the kill but not yet read are acknowledged too.
        for l in lines.map_while(Result::ok) {
            if let Some(t) = l.strip_prefix("ACK ") {
                acked.insert(t.to_string());
            }
        }
        assert!(
            acked.len() >= target.min(50),
            "child made progress: {}",
            acked.len()
        );

        let (store, _) = Store::open(dir.path()).expect("reopen after kill");
        store.recover_blocking().expect("recover");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        assert_eq!(
            store.check().expect("check"),
            Vec::<String>::new(),
            "index agrees with maildir"
        );
        for u in ["alice@example.com", "bob@example.com"] {
            let inbox = store
                .mailbox_blocking(&addr(u), "INBOX")
                .expect("q")
                .expect("inbox");
            let mut count: HashMap<String, usize> = HashMap::new();
            for m in store.messages_blocking(inbox.id).expect("messages") {
                let s = rt
                    .block_on(store.summaries(inbox.id, vec![m.uid]))
                    .expect("q")
                    .pop()
                    .flatten()
                    .expect("summary");
                *count
                    .entry(s.message_id.trim_end_matches("@example.net").to_string())
                    .or_default() += 1;
            }
            for t in &acked {
                assert_eq!(
                    count.get(t),
                    Some(&1),
                    "{u}: acknowledged {t} present exactly once"
                );
            }
            let uids: Vec<u32> = store
                .messages_blocking(inbox.id)
                .expect("m")
                .iter()
                .map(|m| m.uid.0)
                .collect();
            let mut sorted = uids.clone();
            sorted.dedup();
            assert_eq!(uids, sorted, "UIDs unique and ascending");
        }
    }
}

/// Messages of a mailbox as (uid, subject line) from the files themselves.
fn subjects(store: &Store, user: &Address, name: &str) -> Vec<(u32, String)> {
    let mb = store
        .mailbox_blocking(user, name)
        .expect("q")
        .expect("mailbox");
    store
        .messages_blocking(mb.id)
        .expect("messages")
        .iter()
        .map(|m| {
            let path = store.message_path(user, name, m).expect("path");
            let text = std::fs::read_to_string(&path).expect("file");
            let subject = text
                .lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap_or("")
                .to_string();
            (m.uid.0, subject)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_move_link_files_with_new_uids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, alice, inbox) = alice_with_mail(dir.path(), &["a", "b", "c"]).await;
    let flagged = FlagSet {
        flags: Flags::FLAGGED,
        keywords: vec!["$label1".into()],
    };
    store
        .set_flags(
            inbox.id,
            vec![mailyard_store::Uid(2)],
            FlagMode::Add,
            flagged,
            None,
        )
        .await
        .expect("flags");
    let mut rx = store.subscribe(inbox.id);
    let (archive_id, validity, pairs) = store
        .copy_messages(
            inbox.id,
            vec![
                mailyard_store::Uid(1),
                mailyard_store::Uid(2),
                mailyard_store::Uid(9),
            ],
            &alice,
            "Archive",
            false,
        )
        .await
        .expect("copy");
    let archive = store
        .mailbox_blocking(&alice, "Archive")
        .expect("q")
        .expect("archive");
    assert_eq!((archive_id, validity), (archive.id, archive.uidvalidity));
    let pairs: Vec<(u32, u32)> = pairs.iter().map(|(a, b)| (a.0, b.0)).collect();
    assert_eq!(pairs, vec![(1, 1), (2, 2)], "missing UIDs are skipped");
    assert_eq!(
        subjects(&store, &alice, "Archive"),
        vec![(1, "Subject: test a".into()), (2, "Subject: test b".into())]
    );
    let copied = store.messages_blocking(archive.id).expect("messages");
    assert_eq!(copied[1].flags.keywords, vec!["$label1".to_string()]);
    assert!(copied[1].flags.flags.contains(Flags::FLAGGED));
    let summary = store
        .summaries(archive.id, vec![mailyard_store::Uid(2)])
        .await
        .expect("read")
        .pop()
        .flatten()
        .expect("summary copied");
    assert_eq!(summary.subject, "test b");
    // Same inode: a hard link, not a second copy.
    let src = store.messages_blocking(inbox.id).expect("messages");
    let a = store.message_path(&alice, "INBOX", &src[0]).expect("path");
    let b = store
        .message_path(&alice, "Archive", &copied[0])
        .expect("path");
    assert_eq!(
        std::fs::metadata(a).expect("meta").ino(),
        std::fs::metadata(b).expect("meta").ino()
    );

    // MOVE: gone from the source (files and rows, logged as expunged), published.
    let (_, _, moved) = store
        .copy_messages(
            inbox.id,
            vec![mailyard_store::Uid(3)],
            &alice,
            "Trash",
            true,
        )
        .await
        .expect("move");
    assert_eq!(moved.len(), 1);
    assert_eq!(
        subjects(&store, &alice, "INBOX").len(),
        2,
        "moved message left INBOX"
    );
    assert_eq!(
        subjects(&store, &alice, "Trash"),
        vec![(1, "Subject: test c".into())]
    );
    let expunged = store
        .expunge_log(inbox.id, mailyard_store::ModSeq(0))
        .await
        .expect("read")
        .1;
    assert_eq!(expunged, vec![mailyard_store::Uid(3)]);
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .expect("published")
        .expect("open");
    assert!(store.check().expect("check").is_empty());
    let err = store
        .copy_messages(
            inbox.id,
            vec![mailyard_store::Uid(1)],
            &alice,
            "Nope",
            false,
        )
        .await
        .expect_err("no target");
    assert!(matches!(err, StoreError::NoMailbox(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_delete_and_subscriptions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_users(dir.path(), &["alice@example.com"]);
    let alice = addr("alice@example.com");
    store
        .create_mailbox(&alice, "Work", None)
        .await
        .expect("create");
    store
        .create_mailbox(&alice, "Work.2024", None)
        .await
        .expect("create");
    store
        .append(&alice, "Work.2024", message("w"), FlagSet::default(), None)
        .await
        .expect("append");
    let before = store
        .mailbox_blocking(&alice, "Work.2024")
        .expect("q")
        .expect("mb");

    store
        .rename_mailbox(&alice, "Work", "Jobs")
        .await
        .expect("rename");
    let names: Vec<String> = store
        .mailboxes_blocking(&alice)
        .expect("list")
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(names.contains(&"Jobs".into()) && names.contains(&"Jobs.2024".into()));
    assert!(!names.iter().any(|n| n.starts_with("Work")), "{names:?}");
    let after = store
        .mailbox_blocking(&alice, "Jobs.2024")
        .expect("q")
        .expect("mb");
    assert_eq!(
        (after.id, after.uidvalidity),
        (before.id, before.uidvalidity)
    );
    assert_eq!(subjects(&store, &alice, "Jobs.2024").len(), 1);
    let root = dir.path().join("mail/example.com/alice");
    assert!(root.join(".Jobs.2024/cur").is_dir() && !root.join(".Work").exists());
    let err = store
        .rename_mailbox(&alice, "Jobs", "Sent")
        .await
        .expect_err("target exists");
    assert!(matches!(err, StoreError::MailboxExists(_)), "{err}");
    assert!(
        store
            .rename_mailbox(&alice, "Jobs", "Jobs.x")
            .await
            .is_err(),
        "into itself"
    );

    // INBOX: messages move to the new mailbox, INBOX stays.
    store
        .deliver(message("i"), std::slice::from_ref(&alice))
        .await
        .expect("deliver");
    store
        .rename_mailbox(&alice, "INBOX", "Old")
        .await
        .expect("rename inbox");
    assert!(subjects(&store, &alice, "INBOX").is_empty());
    assert_eq!(
        subjects(&store, &alice, "Old"),
        vec![(1, "Subject: test i".into())]
    );

    // DELETE: the mailbox goes, its child stays; INBOX cannot be deleted.
    store.delete_mailbox(&alice, "Jobs").await.expect("delete");
    assert!(store.mailbox_blocking(&alice, "Jobs").expect("q").is_none());
    assert!(
        store
            .mailbox_blocking(&alice, "Jobs.2024")
            .expect("q")
            .is_some()
    );
    assert!(!root.join(".Jobs").exists());
    assert!(
        std::fs::read_dir(&root).expect("root").all(|e| !e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .starts_with("..")),
        "deleted tree removed after commit"
    );
    assert!(store.delete_mailbox(&alice, "INBOX").await.is_err());
    assert!(matches!(
        store.delete_mailbox(&alice, "Nope").await,
        Err(StoreError::NoMailbox(_))
    ));

    // Subscriptions: file and index column.
    store
        .set_subscribed(&alice, "Jobs.2024", true)
        .await
        .expect("subscribe");
    store
        .set_subscribed(&alice, "Ghost", true)
        .await
        .expect("subscribe a name that does not exist");
    store
        .set_subscribed(&alice, "Sent", false)
        .await
        .expect("unsubscribe");
    let subs = store.subscriptions(&alice).await.expect("subs");
    assert!(subs.contains(&"Jobs.2024".into()) && subs.contains(&"Ghost".into()));
    assert!(!subs.contains(&"Sent".into()));
    let jobs = store
        .mailbox_blocking(&alice, "Jobs.2024")
        .expect("q")
        .expect("mb");
    assert!(jobs.subscribed);
    assert!(
        !store
            .mailbox_blocking(&alice, "Sent")
            .expect("q")
            .expect("mb")
            .subscribed
    );
    assert!(
        store.check().expect("check").is_empty(),
        "{:?}",
        store.check()
    );

    // Usage for QUOTA (read only for a user with a quota, RFC 9208 §5).
    assert_eq!(store.quota_usage(&alice).await.expect("usage"), (0, 0, 0));
    store.accounts().set_quota(&alice, 1 << 30).expect("quota");
    let (quota, bytes, count) = store.quota_usage(&alice).await.expect("usage");
    assert_eq!(quota, 1 << 30);
    assert_eq!(count, 2);
    assert_eq!(bytes, (message("w").len() + message("i").len()) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expunged_file_that_comes_back_gets_a_new_uid() {
    // Expunges are not fsynced (like Dovecot's mail_fsync=optimized), so a crash can
    // bring an expunged file back. Clients were told its UID is gone: it must not
    // return under that UID.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, alice, inbox) = alice_with_mail(dir.path(), &["e0", "e1"]).await;
    let m1 = store.messages_blocking(inbox.id).expect("messages")[0].clone();
    let path = store.message_path(&alice, "INBOX", &m1).expect("path");
    let saved = std::fs::read(&path).expect("read");
    let del = FlagSet {
        flags: Flags::DELETED,
        keywords: vec![],
    };
    store
        .set_flags(inbox.id, vec![m1.uid], FlagMode::Add, del, None)
        .await
        .expect("store");
    let flagged_path = store
        .message_path(
            &alice,
            "INBOX",
            &store.messages_blocking(inbox.id).expect("m")[0],
        )
        .expect("path");
    let flagged_name = flagged_path.file_name().expect("name").to_owned();
    assert_eq!(
        store.expunge(inbox.id, None).await.expect("expunge"),
        [m1.uid]
    );
    assert!(!flagged_path.exists());
    // The "crash": the unlink did not reach the disk.
    std::fs::write(flagged_path.with_file_name(&flagged_name), &saved).expect("restore");
    let report = store.reconcile_blocking(&alice, false).expect("reconcile");
    assert_eq!((report.adopted, report.renumbered), (1, 1));
    let uids: Vec<u32> = store
        .messages_blocking(inbox.id)
        .expect("m")
        .iter()
        .map(|m| m.uid.0)
        .collect();
    assert_eq!(uids.len(), 2);
    assert!(
        !uids.contains(&m1.uid.0),
        "expunged UID {} reused: {uids:?}",
        m1.uid.0
    );
    assert!(store.check().expect("check").is_empty());
}

#[test]
fn stale_tmp_files_are_removed_on_reconcile() {
    // maildir(5): a tmp/ file untouched for 36 hours is a crashed delivery's leftover.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_users(dir.path(), &["alice@example.com"]);
    let alice = addr("alice@example.com");
    let tmp = dir.path().join("mail/example.com/alice/tmp");
    let old = tmp.join("1.M1P1.crashed");
    let fresh = tmp.join("2.M2P2.in-progress");
    std::fs::write(&old, "x").expect("write");
    std::fs::write(&fresh, "y").expect("write");
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(48 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .expect("open")
        .set_modified(two_days_ago)
        .expect("set mtime");
    let report = store.reconcile_blocking(&alice, false).expect("reconcile");
    assert_eq!(report.stale_tmp, 1);
    assert!(!old.exists(), "the 2-day-old leftover is removed");
    assert!(
        fresh.exists(),
        "a fresh file (a delivery in progress) stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expunged_file_leaves_the_mailbox_at_once_and_the_disk_soon_after() {
    // The writer parks an expunged file in tmp/ (a rename) and the syncer thread
    // unlinks it after the commit. Neither a reader nor a reconcile may see it in
    // between, and a parked file a crash leaves behind is a stale tmp/ file.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, alice, inbox) = alice_with_mail(dir.path(), &["x0", "x1", "x2"]).await;
    let del = FlagSet {
        flags: Flags::DELETED,
        keywords: vec![],
    };
    let uids = vec![mailyard_store::Uid(1), mailyard_store::Uid(2)];
    store
        .set_flags(inbox.id, uids.clone(), FlagMode::Add, del, None)
        .await
        .expect("store");
    let root = dir.path().join("mail/example.com/alice");
    let names = |sub: &str| -> Vec<String> {
        std::fs::read_dir(root.join(sub))
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(store.expunge(inbox.id, None).await.expect("expunge"), uids);
    let mut left: Vec<String> = names("cur");
    left.extend(names("new"));
    assert_eq!(left.len(), 1, "only the kept message stays: {left:?}");
    let report = store.reconcile_blocking(&alice, false).expect("reconcile");
    assert_eq!((report.adopted, report.renumbered), (0, 0));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !names("tmp").is_empty() {
        assert!(
            Instant::now() < deadline,
            "expunged files never unlinked: {:?}",
            names("tmp")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(store.check().expect("check").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_flag_change_keeps_the_keyword_letters_in_the_file_name() {
    // A STORE that names only system flags used to rename the file with an empty
    // keyword map, dropping its keyword letters: the index and the file name then
    // disagreed, and a reconcile (file names win) lost the keywords.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, alice, inbox) = alice_with_mail(dir.path(), &["k"]).await;
    let uid = vec![mailyard_store::Uid(1)];
    let label = FlagSet {
        flags: Flags::empty(),
        keywords: vec!["$Label1".into()],
    };
    store
        .set_flags(inbox.id, uid.clone(), FlagMode::Add, label, None)
        .await
        .expect("store keyword");
    for (mode, flags) in [
        (FlagMode::Add, Flags::SEEN),
        (FlagMode::Remove, Flags::SEEN),
    ] {
        let system = FlagSet {
            flags,
            keywords: vec![],
        };
        store
            .set_flags(inbox.id, uid.clone(), mode, system, None)
            .await
            .expect("store system flag");
        assert_eq!(store.check().expect("check"), Vec::<String>::new());
    }
    let m = &store.messages_blocking(inbox.id).expect("messages")[0];
    let path = store.message_path(&alice, "INBOX", m).expect("path");
    assert!(
        path.to_string_lossy().ends_with(":2,a"),
        "keyword letter kept: {}",
        path.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_changes_and_expunges_find_a_file_another_tool_moved() {
    // The writer renames a message's file at the path the index says it has, and
    // looks for it only when it is not there: here mutt has moved it from new/ to
    // cur/ with its own flags. The STORE must still rename it (to the new flags) and
    // the EXPUNGE still remove it.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, alice, inbox) = alice_with_mail(dir.path(), &["moved"]).await;
    let m = store.messages_blocking(inbox.id).expect("messages")[0].clone();
    let root = dir.path().join("mail/example.com/alice");
    let indexed = store.message_path(&alice, "INBOX", &m).expect("path");
    let by_mutt = root.join("cur").join(format!("{}:2,S", m.base));
    std::fs::rename(&indexed, &by_mutt).expect("mv");
    // STORE +FLAGS of the only message; its row and file path after.
    let add = |flags| {
        let (store, alice, uid) = (store.clone(), alice.clone(), m.uid);
        async move {
            let flags = FlagSet {
                flags,
                keywords: vec![],
            };
            store
                .set_flags(inbox.id, vec![uid], FlagMode::Add, flags, None)
                .await
                .expect("store");
            let m = store.messages_blocking(inbox.id).expect("messages")[0].clone();
            let path = store.message_path(&alice, "INBOX", &m).expect("path");
            (m, path)
        }
    };
    let (_, path) = add(Flags::FLAGGED).await;
    assert!(
        path.exists(),
        "renamed to the index's flags: {}",
        path.display()
    );
    assert!(!by_mutt.exists());
    assert!(
        path.to_string_lossy().ends_with(":2,F"),
        "{}",
        path.display()
    );
    // Marked deleted, moved again behind the writer's back, then expunged.
    let (m, path) = add(Flags::DELETED).await;
    let again = root.join("cur").join(format!("{}:2,DFS", m.base));
    std::fs::rename(&path, &again).expect("mv");
    assert_eq!(
        store.expunge(inbox.id, None).await.expect("expunge"),
        vec![m.uid]
    );
    let left: Vec<_> = ["cur", "new"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).expect("read_dir"))
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
