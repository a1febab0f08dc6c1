//! RFC 4467 URLAUTH keys in the store: tokens are stable, checked, per mailbox, and
//! die with RESETKEY or the mailbox, on a real temp directory.

use mailyard_store::{Address, Store, StoreError};

fn addr(s: &str) -> Address {
    Address::parse(s).expect("valid address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_per_mailbox_and_die_with_resetkey() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = addr("alice@example.com");
    let (store, _) = Store::open(dir.path()).expect("open");
    store.accounts().add_user(&alice, "pw").expect("user");
    store.setup_user_blocking(&alice).expect("setup");
    store
        .create_mailbox(&alice, "Notes", None)
        .await
        .expect("create");
    let rump = "imap://alice@example.com/INBOX/;uid=1;urlauth=anonymous";

    let token = store.urlauth_token(&alice, "INBOX", rump).expect("token");
    assert_eq!(token.len(), 64, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    // Stable, checked, and bound to the rump and the mailbox.
    assert_eq!(
        store.urlauth_token(&alice, "inbox", rump).expect("again"),
        token
    );
    assert!(
        store
            .urlauth_check(&alice, "INBOX", rump, &token)
            .expect("check")
    );
    assert!(
        !store
            .urlauth_check(&alice, "INBOX", &format!("{rump}x"), &token)
            .expect("other rump")
    );
    assert!(
        !store
            .urlauth_check(&alice, "Notes", rump, &token)
            .expect("no key yet")
    );
    let notes = store
        .urlauth_token(&alice, "Notes", rump)
        .expect("notes token");
    assert_ne!(notes, token, "each mailbox has its own key");
    let mut forged = token.clone().into_bytes();
    forged[0] = if forged[0] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).expect("ascii");
    assert!(
        !store
            .urlauth_check(&alice, "INBOX", rump, &forged)
            .expect("forged")
    );
    assert!(
        !store
            .urlauth_check(&alice, "INBOX", rump, "xyz")
            .expect("not hex")
    );

    // The key survives a restart (it is on disk, not in the index).
    drop(store);
    std::fs::remove_file(dir.path().join("index.db")).expect("drop the index");
    let (store, _) = Store::open(dir.path()).expect("reopen, rebuilding the index");
    assert!(
        store
            .urlauth_check(&alice, "INBOX", rump, &token)
            .expect("after restart")
    );

    // RESETKEY of one mailbox, then of all.
    store
        .urlauth_reset(&alice, Some("Notes"))
        .expect("reset Notes");
    assert!(
        !store
            .urlauth_check(&alice, "Notes", rump, &notes)
            .expect("reset")
    );
    assert!(
        store
            .urlauth_check(&alice, "INBOX", rump, &token)
            .expect("INBOX kept")
    );
    store.urlauth_reset(&alice, None).expect("reset all");
    assert!(
        !store
            .urlauth_check(&alice, "INBOX", rump, &token)
            .expect("reset all")
    );
    let fresh = store.urlauth_token(&alice, "INBOX", rump).expect("new key");
    assert_ne!(fresh, token);

    // A missing mailbox: no token, no check, NONEXISTENT for RESETKEY.
    assert!(matches!(
        store.urlauth_token(&alice, "Nope", rump),
        Err(StoreError::NoMailbox(_))
    ));
    assert!(
        !store
            .urlauth_check(&alice, "Nope", rump, &fresh)
            .expect("no mailbox")
    );
    assert!(matches!(
        store.urlauth_reset(&alice, Some("Nope")),
        Err(StoreError::NoMailbox(_))
    ));

    // A mailbox deleted and created again has a new key.
    let notes = store
        .urlauth_token(&alice, "Notes", rump)
        .expect("notes token");
    store.delete_mailbox(&alice, "Notes").await.expect("delete");
    store
        .create_mailbox(&alice, "Notes", None)
        .await
        .expect("create again");
    assert!(
        !store
            .urlauth_check(&alice, "Notes", rump, &notes)
            .expect("recreated")
    );
}
