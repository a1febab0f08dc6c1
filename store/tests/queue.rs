//! The relay queue in the store: local copies and the queue entry in one request,
//! state changes, recovery from the files when rows are missing, removal.

use mailyard_store::queue::{Envelope, QueueChange, QueuedRcpt, RcptStatus};
use mailyard_store::{Address, Store};

fn addr(s: &str) -> Address {
    Address::parse(s).expect("valid address")
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope {
        sender: "alice@example.com".into(),
        recipients: rcpts
            .iter()
            .map(|r| QueuedRcpt {
                address: r.to_string(),
                notify: None,
                orcpt: None,
            })
            .collect(),
        envid: Some("env-1".into()),
        ret: None,
        auth_user: Some("alice@example.com".into()),
        created: mailyard_store::queue::now(),
    }
}

const MSG: &[u8] = b"From: alice@example.com\r\nSubject: out\r\n\r\nhello\r\n";

#[tokio::test]
async fn local_and_remote_in_one_request_then_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(dir.path()).expect("open");
    let alice = addr("alice@example.com");
    store.accounts().add_user(&alice, "pw").expect("user");
    store.setup_user_blocking(&alice).expect("setup");

    let (delivered, id) = store
        .deliver_and_queue(
            MSG.to_vec(),
            std::slice::from_ref(&alice),
            Some(envelope(&["Bob@remote.test", "carol@other.test"])),
        )
        .await
        .expect("stored");
    assert_eq!(delivered.len(), 1);
    let id = id.expect("queued");
    let entry = store.queue_entry(&id).expect("read").expect("entry");
    assert_eq!(entry.sender, "alice@example.com");
    assert_eq!(entry.size, MSG.len() as u64);
    assert_eq!(entry.envid.as_deref(), Some("env-1"));
    let rcpts: Vec<&str> = entry
        .recipients
        .iter()
        .map(|r| r.rcpt.address.as_str())
        .collect();
    assert_eq!(rcpts, ["Bob@remote.test", "carol@other.test"]);
    assert_eq!(queued_message(&store, &id).await, MSG);
    assert_eq!(store.queue_due(i64::MAX, 10).await.expect("due").len(), 1);

    store
        .queue_change(QueueChange::Attempted {
            id: id.clone(),
            results: vec![
                ("Bob@remote.test".into(), RcptStatus::Sent, "250 ok".into()),
                (
                    "carol@other.test".into(),
                    RcptStatus::Pending,
                    "451 later".into(),
                ),
            ],
            next_attempt: i64::MAX - 1,
            delay_notified: false,
            last_error: "451 later".into(),
        })
        .await
        .expect("attempted");
    let entry = store.queue_entry(&id).expect("read").expect("entry");
    assert_eq!(entry.attempts, 1);
    assert_eq!(entry.pending().count(), 1);
    assert!(
        store
            .queue_due(mailyard_store::queue::now(), 10)
            .await
            .expect("due")
            .is_empty()
    );

    store
        .queue_change(QueueChange::Hold {
            id: id.clone(),
            on: true,
        })
        .await
        .expect("hold");
    store
        .queue_change(QueueChange::Flush { id: None })
        .await
        .expect("flush all");
    assert!(
        store.queue_due(i64::MAX, 10).await.expect("due").is_empty(),
        "held stays"
    );
    store
        .queue_change(QueueChange::Flush {
            id: Some(id.clone()),
        })
        .await
        .expect("flush one releases");
    assert_eq!(
        store
            .queue_due(mailyard_store::queue::now(), 10)
            .await
            .expect("due")
            .len(),
        1
    );

    store
        .queue_change(QueueChange::Remove { id: id.clone() })
        .await
        .expect("remove");
    assert!(store.queue_entry(&id).expect("read").is_none());
    assert!(!dir.path().join("queue/msg").join(&id).exists());
    assert!(
        store
            .queue_change(QueueChange::Hold { id, on: true })
            .await
            .is_err(),
        "unknown id"
    );
}

#[tokio::test]
async fn rows_rebuilt_from_files_when_the_index_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = {
        let (store, _) = Store::open(dir.path()).expect("open");
        let (_, id) = store
            .deliver_and_queue(MSG.to_vec(), &[], Some(envelope(&["bob@remote.test"])))
            .await
            .expect("queued");
        id.expect("id")
    };
    for f in ["index.db", "index.db-wal", "index.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    let (store, _) = Store::open(dir.path()).expect("reopen");
    assert!(store.queue_list().expect("list").is_empty());
    tokio::task::spawn_blocking({
        let store = store.clone();
        move || store.recover_queue_blocking()
    })
    .await
    .expect("join")
    .expect("recover");
    let entry = store.queue_entry(&id).expect("read").expect("adopted");
    assert_eq!(entry.recipients.len(), 1);
    assert_eq!(entry.next_attempt, 0, "adopted entries are due at once");
    assert_eq!(queued_message(&store, &id).await, MSG);
}

/// A queued message's bytes as a relay worker reads them (`Store::queue_work`).
async fn queued_message(store: &Store, id: &str) -> Vec<u8> {
    let (_, message) = store
        .queue_work(id, i64::MAX)
        .await
        .expect("read")
        .expect("entry due");
    message.expect("message")
}

#[tokio::test]
async fn send_usage_counts_messages_and_first_time_recipients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(dir.path()).expect("open");
    let who = "alice@example.com";
    let ask = async |rcpts: &[&str]| {
        let rcpts: Vec<String> = rcpts.iter().map(|r| r.to_string()).collect();
        store.send_usage(who, rcpts).await.expect("usage")
    };
    let fresh = ask(&["bob@remote.test"]).await;
    assert_eq!(
        (fresh.messages, fresh.new_recipients, fresh.new_in_this),
        (0, 0, 1)
    );
    for rcpts in [
        &["bob@remote.test"][..],
        &["Bob@remote.test", "carol@other.test"],
    ] {
        store
            .deliver_and_queue(MSG.to_vec(), &[], Some(envelope(rcpts)))
            .await
            .expect("queued");
    }
    // Two messages (counted in the same hourly bucket), two distinct recipients (case
    // folded); of the ones asked about, only dave is new.
    let u = ask(&["BOB@remote.test", "dave@remote.test", "dave@remote.test"]).await;
    assert_eq!((u.messages, u.new_recipients, u.new_in_this), (2, 2, 1));
    // Another account's sending is its own.
    assert_eq!(
        store
            .send_usage("eve@example.com", Vec::new())
            .await
            .expect("usage")
            .messages,
        0
    );
}

/// A removed entry's file is emptied and taken over by the next message queued (one
/// inode, no allocation: `spare.rs`), which reads back whole; the removed entry's
/// message is gone, not the newcomer's bytes.
#[tokio::test]
async fn a_removed_entrys_file_is_reused_for_the_next_message() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(dir.path()).expect("open");
    let queue_file = |id: &str| mailyard_store::queue::msg_dir(dir.path()).join(id);
    let (_, first) = store
        .deliver_and_queue(MSG.to_vec(), &[], Some(envelope(&["bob@remote.test"])))
        .await
        .expect("queued");
    let first = first.expect("id");
    let ino = std::fs::metadata(queue_file(&first)).expect("file").ino();
    store
        .queue_change(QueueChange::Remove { id: first.clone() })
        .await
        .expect("removed");
    assert!(store.queue_entry(&first).expect("read").is_none());
    assert!(
        store
            .queue_work(&first, i64::MAX)
            .await
            .expect("read")
            .is_none()
    );

    let second_msg = b"From: alice@example.com\r\nSubject: two\r\n\r\nsecond\r\n";
    let (_, second) = store
        .deliver_and_queue(
            second_msg.to_vec(),
            &[],
            Some(envelope(&["carol@other.test"])),
        )
        .await
        .expect("queued");
    let second = second.expect("id");
    assert_eq!(
        std::fs::metadata(queue_file(&second)).expect("file").ino(),
        ino,
        "the spare inode was taken over"
    );
    assert_eq!(queued_message(&store, &second).await, second_msg);
    assert_eq!(
        store
            .queue_entry(&second)
            .expect("read")
            .expect("entry")
            .recipients
            .len(),
        1
    );
}
