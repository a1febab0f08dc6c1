//! RFC 3502 MULTIAPPEND in the store: `Store::append_many` stores every message or
//! none, on a real temp directory.

use std::path::Path;

use mailyard_store::{Address, FlagSet, Flags, Store};

fn addr(s: &str) -> Address {
    Address::parse(s).expect("valid address")
}

fn message(token: &str) -> Vec<u8> {
    format!("From: a@example.net\r\nSubject: {token}\r\n\r\nbody {token}\r\n").into_bytes()
}

/// Message files under a mailbox's new/ and cur/.
fn files(dir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .map(|d| std::fs::read_dir(dir.join(d)).map_or(0, |r| r.count()))
        .sum()
}

/// A store in a temp directory with one user, alice, set up.
fn alice_store() -> (tempfile::TempDir, Store, Address) {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = addr("alice@example.com");
    let (store, _) = Store::open(dir.path()).expect("open");
    store.accounts().add_user(&alice, "pw").expect("user");
    store.setup_user_blocking(&alice).expect("setup");
    (dir, store, alice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_many_is_all_or_nothing() {
    let (dir, store, alice) = alice_store();
    let inbox = dir.path().join("mail/example.com/alice");

    // Three good messages: all stored, UIDs ascending, one change published.
    let plain = FlagSet::default();
    let seen = FlagSet {
        flags: Flags::SEEN,
        keywords: vec!["$label1".into()],
    };
    let d = store
        .append_many(
            &alice,
            "INBOX",
            vec![
                (message("a"), plain.clone(), None),
                (message("b"), seen.clone(), Some(760_000_000)),
                (message("c"), plain.clone(), None),
            ],
        )
        .await
        .expect("append_many");
    let uids: Vec<u32> = d.iter().map(|x| x.uid.0).collect();
    assert_eq!(uids, vec![1, 2, 3]);
    let mb = store
        .mailbox_blocking(&alice, "INBOX")
        .expect("read")
        .expect("inbox");
    let msgs = store.messages_blocking(mb.id).expect("messages");
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[1].flags, seen);
    assert_eq!(msgs[1].internaldate, 760_000_000);
    assert_eq!(files(&inbox), 3);

    // The third message needs more keywords than a maildir can name (26 letters):
    // the writer fails it, and the two before it in the same request are rolled
    // back, files included.
    let many = FlagSet {
        flags: Flags::empty(),
        keywords: (0..40).map(|i| format!("kw{i}")).collect(),
    };
    let err = store
        .append_many(
            &alice,
            "INBOX",
            vec![
                (message("d"), plain.clone(), None),
                (message("e"), seen.clone(), None),
                (message("f"), many, None),
            ],
        )
        .await;
    assert!(err.is_err(), "{err:?}");
    assert_eq!(store.messages_blocking(mb.id).expect("messages").len(), 3);
    assert_eq!(files(&inbox), 3, "no file of the failed request remains");
    let tmp_left = std::fs::read_dir(inbox.join("tmp")).map_or(0, |r| r.count());
    assert_eq!(tmp_left, 0, "staged files are cleaned up");
    // UIDs handed out to the failed request are not reused by the index state.
    let next = store
        .append_many(&alice, "INBOX", vec![(message("g"), plain, None)])
        .await
        .expect("append after failure");
    assert!(next[0].uid.0 >= 4);
    assert_eq!(files(&inbox), 4);
    // A missing mailbox fails as a whole too.
    assert!(
        store
            .append_many(
                &alice,
                "Nope",
                vec![(message("h"), FlagSet::default(), None)]
            )
            .await
            .is_err()
    );
}

/// RFC 3501 §2.3.2 with an APPEND into the session's selected mailbox: the same
/// request claims `\Recent` up to the new message (mail delivered before it that no
/// session claimed included), so nothing is left for another claim; into another
/// mailbox nothing is claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_into_the_selected_mailbox_claims_recent_in_the_same_request() {
    let (_dir, store, alice) = alice_store();
    let inbox = store
        .mailbox(&alice, "INBOX")
        .await
        .expect("read")
        .expect("INBOX")
        .id;
    store
        .deliver(message("delivered"), std::slice::from_ref(&alice))
        .await
        .expect("deliver");
    let one = || vec![(message("appended"), FlagSet::default(), None)];
    let (d, claimed) = store
        .append_many_claiming(&alice, "INBOX", one(), Some(inbox))
        .await
        .expect("append");
    assert_eq!(d[0].uid.0, 2);
    assert_eq!(claimed.iter().map(|u| u.0).collect::<Vec<_>>(), vec![1, 2]);
    let later = store.claim_recent(inbox, d[0].uid).await.expect("claim");
    assert!(later.is_empty(), "already claimed: {later:?}");
    // Selected elsewhere: the APPEND into INBOX claims nothing there.
    let other = store
        .create_mailbox(&alice, "Other", None)
        .await
        .expect("create")
        .id;
    let (d, claimed) = store
        .append_many_claiming(&alice, "INBOX", one(), Some(other))
        .await
        .expect("append");
    assert!(claimed.is_empty(), "{claimed:?}");
    let later = store.claim_recent(inbox, d[0].uid).await.expect("claim");
    assert_eq!(later, vec![d[0].uid]);
}
