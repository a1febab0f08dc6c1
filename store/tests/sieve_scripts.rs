//! A user's Sieve scripts in the store (RFC 5804 semantics: one active, the active one
//! cannot be deleted, rename keeps it active), beside the maildir without disturbing it,
//! and carried by backup and restore.

use mailyard_store::sieve_scripts::ScriptInfo;
use mailyard_store::{Address, Store, StoreError};

fn user(store: &Store, a: &str) -> Address {
    let addr = Address::parse(a).expect("address");
    store.accounts().add_user(&addr, "pw").expect("user");
    store.setup_user_blocking(&addr).expect("setup");
    addr
}

fn info(name: &str, active: bool, size: u64) -> ScriptInfo {
    ScriptInfo {
        name: name.into(),
        active,
        size,
    }
}

#[test]
fn put_activate_rename_delete_as_managesieve_needs() {
    let dir = tempfile::tempdir().expect("tmp");
    let (store, _) = Store::open(dir.path()).expect("open");
    let alice = user(&store, "alice@example.com");
    assert_eq!(store.sieve_list_blocking(&alice).expect("list"), vec![]);
    assert_eq!(store.sieve_active_blocking(&alice).expect("active"), None);

    store
        .sieve_put_blocking(&alice, "vacation", b"keep;\r\n")
        .expect("put");
    store
        .sieve_put_blocking(&alice, "Spam rules", b"discard;")
        .expect("put");
    assert_eq!(
        store.sieve_list_blocking(&alice).expect("list"),
        vec![info("Spam rules", false, 8), info("vacation", false, 7)]
    );
    store
        .sieve_activate_blocking(&alice, Some("vacation"))
        .expect("activate");
    assert_eq!(
        store.sieve_active_blocking(&alice).expect("active"),
        Some(("vacation".into(), b"keep;\r\n".to_vec()))
    );
    // RFC 5804 §2.10: not the active one.
    assert!(matches!(
        store.sieve_delete_blocking(&alice, "vacation"),
        Err(StoreError::ScriptActive(_))
    ));
    // Replacing keeps it active.
    store
        .sieve_put_blocking(&alice, "vacation", b"stop;")
        .expect("replace");
    assert_eq!(
        store.sieve_get_blocking(&alice, "vacation").expect("get"),
        Some(b"stop;".to_vec())
    );
    // RFC 5804 §2.11: renamed, still active; the new name must be free.
    assert!(matches!(
        store.sieve_rename_blocking(&alice, "vacation", "Spam rules"),
        Err(StoreError::Exists(_))
    ));
    store
        .sieve_rename_blocking(&alice, "vacation", "away")
        .expect("rename");
    assert_eq!(
        store.sieve_list_blocking(&alice).expect("list"),
        vec![info("Spam rules", false, 8), info("away", true, 5)]
    );
    assert_eq!(
        store.sieve_get_blocking(&alice, "vacation").expect("get"),
        None
    );
    assert!(matches!(
        store.sieve_rename_blocking(&alice, "nothing", "x"),
        Err(StoreError::NoScript(_))
    ));
    assert!(matches!(
        store.sieve_activate_blocking(&alice, Some("nothing")),
        Err(StoreError::NoScript(_))
    ));
    assert!(matches!(
        store.sieve_delete_blocking(&alice, "nothing"),
        Err(StoreError::NoScript(_))
    ));
    // SETACTIVE "": none active; then anything can go.
    store
        .sieve_activate_blocking(&alice, None)
        .expect("deactivate");
    assert_eq!(store.sieve_active_blocking(&alice).expect("active"), None);
    store.sieve_delete_blocking(&alice, "away").expect("delete");
    store
        .sieve_delete_blocking(&alice, "Spam rules")
        .expect("delete");
    assert_eq!(store.sieve_list_blocking(&alice).expect("list"), vec![]);
}

#[test]
fn names_that_cannot_be_files_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let (store, _) = Store::open(dir.path()).expect("open");
    let alice = user(&store, "alice@example.com");
    for bad in [
        "",
        "../escape",
        "a/b",
        ".hidden",
        "line\nbreak",
        "nul\0",
        "sep\u{2028}",
    ] {
        assert!(
            matches!(
                store.sieve_put_blocking(&alice, bad, b"keep;"),
                Err(StoreError::Invalid(_))
            ),
            "{bad:?} accepted"
        );
    }
    let long = "x".repeat(mailyard_store::sieve_scripts::MAX_NAME_BYTES + 1);
    assert!(store.sieve_put_blocking(&alice, &long, b"keep;").is_err());
    // Non-ASCII names are fine (RFC 5804 §1.6: UTF-8).
    store
        .sieve_put_blocking(&alice, "Müll", b"keep;")
        .expect("utf-8 name");
    assert_eq!(
        store.sieve_list_blocking(&alice).expect("list")[0].name,
        "Müll"
    );
}

#[test]
fn scripts_live_beside_the_maildir_and_survive_backup_and_restore() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let (store, _) = Store::open(&data).expect("open");
    let alice = user(&store, "alice@example.com");
    store
        .sieve_put_blocking(&alice, "main", b"require \"fileinto\";\r\nkeep;\r\n")
        .expect("put");
    store
        .sieve_activate_blocking(&alice, Some("main"))
        .expect("activate");
    // The scripts are no mailbox, and the index and tree still agree.
    let report = store.reconcile_blocking(&alice, false).expect("reconcile");
    let before = store.mailboxes_blocking(&alice).expect("mailboxes").len();
    assert_eq!(
        report,
        mailyard_store::ReconcileReport {
            mailboxes: before,
            ..Default::default()
        }
    );
    assert_eq!(store.check().expect("check"), Vec::<String>::new());
    let names: Vec<String> = store
        .mailboxes_blocking(&alice)
        .expect("mailboxes")
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(
        names.iter().all(|n| !n.to_lowercase().contains("sieve")),
        "{names:?}"
    );

    let backup = dir.path().join("backup");
    mailyard_store::backup::backup(&data, &backup, &Default::default()).expect("backup");
    drop(store);
    let restored = dir.path().join("restored");
    mailyard_store::backup::restore(&backup, &restored).expect("restore");
    let (store, _) = Store::open(&restored).expect("open restored");
    assert_eq!(
        store.sieve_active_blocking(&alice).expect("active"),
        Some((
            "main".into(),
            b"require \"fileinto\";\r\nkeep;\r\n".to_vec()
        ))
    );
}
