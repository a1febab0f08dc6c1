//! One delivery request (`Store::deliver_all`): copies of several contents with their
//! own flags and missing-mailbox rules, queue entries and Sieve memory, all in one
//! transaction.

use mailyard_store::delivery::{DUPLICATE, VACATION};
use mailyard_store::queue::{Envelope, QueuedRcpt};
use mailyard_store::{
    Address, Delivery, FlagSet, Flags, IfMissing, LocalCopy, Mark, Outbound, Store, Target,
};

fn addr(s: &str) -> Address {
    Address::parse(s).expect("valid address")
}

const MSG: &[u8] = b"From: bob@remote.test\r\nSubject: hi\r\n\r\nhello\r\n";

async fn store_with_alice() -> (tempfile::TempDir, Store, Address) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(dir.path()).expect("open");
    let alice = addr("alice@example.com");
    store.accounts().add_user(&alice, "pw").expect("user");
    store.setup_user_blocking(&alice).expect("setup");
    (dir, store, alice)
}

fn target(user: &Address, mailbox: &str, flags: Flags, if_missing: IfMissing) -> Target {
    Target {
        user: user.clone(),
        mailbox: mailbox.into(),
        flags: FlagSet {
            flags,
            keywords: vec!["$Label1".into()],
        },
        if_missing,
    }
}

fn count(store: &Store, user: &Address, mailbox: &str) -> usize {
    let mb = store
        .mailbox_blocking(user, mailbox)
        .expect("read")
        .expect("exists");
    store.messages_blocking(mb.id).expect("messages").len()
}

#[tokio::test]
async fn targets_flags_and_missing_mailboxes() {
    let (_dir, store, alice) = store_with_alice().await;
    let edited = b"X-Filtered: yes\r\nFrom: bob@remote.test\r\nSubject: hi\r\n\r\nhello\r\n";
    let delivery = Delivery {
        copies: vec![
            LocalCopy {
                message: MSG.to_vec(),
                targets: vec![
                    target(&alice, "Archive", Flags::SEEN, IfMissing::Fail),
                    // Not there, no :create: into the INBOX instead.
                    target(&alice, "Nowhere", Flags::FLAGGED, IfMissing::Inbox),
                    // The INBOX again: one copy per mailbox (RFC 5228 §2.10.3).
                    Target::inbox(&alice),
                ],
            },
            LocalCopy {
                message: edited.to_vec(),
                targets: vec![target(
                    &alice,
                    "Work.Reports",
                    Flags::empty(),
                    IfMissing::Create,
                )],
            },
        ],
        outbound: vec![Outbound {
            message: MSG.to_vec(),
            envelope: Envelope {
                sender: "bob@remote.test".into(),
                recipients: vec![QueuedRcpt {
                    address: "dave@remote.test".into(),
                    notify: None,
                    orcpt: None,
                }],
                envid: None,
                ret: None,
                auth_user: Some("alice@example.com".into()),
                created: mailyard_store::queue::now(),
            },
        }],
        marks: vec![Mark {
            user: alice.clone(),
            kind: VACATION,
            key: "h\0bob@remote.test".into(),
            fresh: true,
        }],
    };
    let (delivered, ids) = store.deliver_all(delivery).await.expect("stored");
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    assert_eq!(ids.len(), 1);
    assert_eq!(count(&store, &alice, "Archive"), 1);
    assert_eq!(count(&store, &alice, "INBOX"), 1);
    assert_eq!(count(&store, &alice, "Work.Reports"), 1);
    let archive = store
        .mailbox_blocking(&alice, "Archive")
        .expect("r")
        .expect("mb");
    let m = &store.messages_blocking(archive.id).expect("messages")[0];
    assert_eq!(m.flags.flags, Flags::SEEN);
    assert_eq!(m.flags.keywords, ["$Label1"]);
    let inbox = store
        .mailbox_blocking(&alice, "INBOX")
        .expect("r")
        .expect("mb");
    let m = &store.messages_blocking(inbox.id).expect("messages")[0];
    assert_eq!(
        m.flags.flags,
        Flags::FLAGGED,
        "the fallback copy came first"
    );
    assert!(store.queue_entry(&ids[0]).expect("read").is_some());
    assert!(
        store
            .sieve_seen(&alice, VACATION, "h\0bob@remote.test", 3600, false)
            .expect("read")
    );
    assert!(
        !store
            .sieve_seen(&alice, VACATION, "h\0carol@remote.test", 3600, false)
            .expect("read")
    );
    assert!(
        !store
            .sieve_seen(&alice, DUPLICATE, "h\0bob@remote.test", 3600, false)
            .expect("read")
    );
}

#[tokio::test]
async fn a_failing_copy_stores_nothing() {
    let (_dir, store, alice) = store_with_alice().await;
    let delivery = Delivery {
        copies: vec![LocalCopy {
            message: MSG.to_vec(),
            targets: vec![
                Target::inbox(&alice),
                target(&alice, "Missing", Flags::empty(), IfMissing::Fail),
            ],
        }],
        outbound: Vec::new(),
        marks: vec![Mark {
            user: alice.clone(),
            kind: DUPLICATE,
            key: "d\0<m@x>".into(),
            fresh: true,
        }],
    };
    assert!(store.deliver_all(delivery).await.is_err());
    assert_eq!(count(&store, &alice, "INBOX"), 0);
    assert!(
        !store
            .sieve_seen(&alice, DUPLICATE, "d\0<m@x>", 3600, false)
            .expect("read")
    );
    let tmp = _dir.path().join("mail/example.com/alice/tmp");
    let left = std::fs::read_dir(&tmp).map_or(0, |d| d.count());
    assert_eq!(left, 0, "staged files removed");
}

#[tokio::test]
async fn duplicate_memory_from_first_or_last_sighting() {
    let (_dir, store, alice) = store_with_alice().await;
    let mark = |fresh| Mark {
        user: alice.clone(),
        kind: DUPLICATE,
        key: "k".into(),
        fresh,
    };
    for fresh in [true, false] {
        let d = Delivery {
            copies: vec![LocalCopy {
                message: MSG.to_vec(),
                targets: vec![Target::inbox(&alice)],
            }],
            outbound: Vec::new(),
            marks: vec![mark(fresh)],
        };
        store.deliver_all(d).await.expect("stored");
    }
    assert!(
        store
            .sieve_seen(&alice, DUPLICATE, "k", 60, false)
            .expect("r")
    );
    assert!(
        store
            .sieve_seen(&alice, DUPLICATE, "k", 60, true)
            .expect("r")
    );
    // A period of 0 seconds has always passed.
    assert!(
        !store
            .sieve_seen(&alice, DUPLICATE, "k", 0, false)
            .expect("r")
    );
}
