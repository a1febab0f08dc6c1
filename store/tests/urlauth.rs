//! RFC 4467 URLAUTH keys in the store: tokens are stable, checked, per mailbox, and
//! die with RESETKEY or the mailbox, on a real temp directory.

use mailyard_store::{Address, Store, StoreError};

fn addr(s: &str) -> Address {
    Address::parse(s).expect("valid address")
}

/// One GENURLAUTH token through the door.
async fn gen_token(
    store: &Store,
    user: &Address,
    mailbox: &str,
    rump: &str,
) -> mailyard_store::Result<String> {
    let mut t = store
        .urlauth_tokens(user, vec![(mailbox.to_string(), rump.to_string())])
        .await?;
    Ok(t.pop().unwrap_or_default())
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

    let token = gen_token(&store, &alice, "INBOX", rump)
        .await
        .expect("token");
    assert_eq!(token.len(), 64, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    // Stable, checked, and bound to the rump and the mailbox.
    assert_eq!(
        gen_token(&store, &alice, "inbox", rump)
            .await
            .expect("again"),
        token
    );
    assert!(
        store
            .urlauth_check(&alice, "INBOX", rump, &token)
            .await
            .expect("check")
    );
    assert!(
        !store
            .urlauth_check(&alice, "INBOX", &format!("{rump}x"), &token)
            .await
            .expect("other rump")
    );
    assert!(
        !store
            .urlauth_check(&alice, "Notes", rump, &token)
            .await
            .expect("no key yet")
    );
    let notes = gen_token(&store, &alice, "Notes", rump)
        .await
        .expect("notes token");
    assert_ne!(notes, token, "each mailbox has its own key");
    let mut forged = token.clone().into_bytes();
    forged[0] = if forged[0] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).expect("ascii");
    assert!(
        !store
            .urlauth_check(&alice, "INBOX", rump, &forged)
            .await
            .expect("forged")
    );
    assert!(
        !store
            .urlauth_check(&alice, "INBOX", rump, "xyz")
            .await
            .expect("not hex")
    );

    // The key survives a restart (it is on disk, not in the index).
    drop(store);
    std::fs::remove_file(dir.path().join("index.db")).expect("drop the index");
    let (store, _) = Store::open(dir.path()).expect("reopen, rebuilding the index");
    assert!(
        store
            .urlauth_check(&alice, "INBOX", rump, &token)
            .await
            .expect("after restart")
    );

    // RESETKEY of one mailbox, then of all.
    store
        .urlauth_reset(&alice, Some("Notes"))
        .await
        .expect("reset Notes");
    assert!(
        !store
            .urlauth_check(&alice, "Notes", rump, &notes)
            .await
            .expect("reset")
    );
    assert!(
        store
            .urlauth_check(&alice, "INBOX", rump, &token)
            .await
            .expect("INBOX kept")
    );
    store.urlauth_reset(&alice, None).await.expect("reset all");
    assert!(
        !store
            .urlauth_check(&alice, "INBOX", rump, &token)
            .await
            .expect("reset all")
    );
    let fresh = gen_token(&store, &alice, "INBOX", rump)
        .await
        .expect("new key");
    assert_ne!(fresh, token);

    // A missing mailbox: no token, no check, NONEXISTENT for RESETKEY.
    assert!(matches!(
        gen_token(&store, &alice, "Nope", rump).await,
        Err(StoreError::NoMailbox(_))
    ));
    assert!(
        !store
            .urlauth_check(&alice, "Nope", rump, &fresh)
            .await
            .expect("no mailbox")
    );
    assert!(matches!(
        store.urlauth_reset(&alice, Some("Nope")).await,
        Err(StoreError::NoMailbox(_))
    ));

    // A mailbox deleted and created again has a new key.
    let notes = gen_token(&store, &alice, "Notes", rump)
        .await
        .expect("notes token");
    store.delete_mailbox(&alice, "Notes").await.expect("delete");
    store
        .create_mailbox(&alice, "Notes", None)
        .await
        .expect("create again");
    assert!(
        !store
            .urlauth_check(&alice, "Notes", rump, &notes)
            .await
            .expect("recreated")
    );
}
