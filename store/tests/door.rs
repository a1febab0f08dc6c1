//! The store's async door (`door.rs`) on a real temp directory: the bulk jobs run
//! their whole loop in one hop, read what their callbacks ask for, and stop when
//! cancelled.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mailyard_store::{
    Address, Cancel, FlagMode, FlagSet, Flags, MailboxRef, MessageInfo, Store, StoreError, Uid,
};

fn addr(s: &str) -> Address {
    Address::parse(s).expect("valid address")
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: a@example.net\r\nSubject: message {n}\r\nMessage-ID: <m{n}@example.net>\r\n\r\nbody {n}{}\r\n",
        if n.is_multiple_of(3) { " needle" } else { "" }
    )
    .into_bytes()
}

/// A store with `count` messages in alice's INBOX, and that INBOX.
async fn filled(count: usize) -> (tempfile::TempDir, Store, MailboxRef, Vec<MessageInfo>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = addr("alice@example.com");
    let (store, _) = Store::open(dir.path()).expect("open");
    store.accounts().add_user(&alice, "pw").expect("user");
    store.setup_user_blocking(&alice).expect("setup");
    for n in 0..count {
        store
            .deliver(message(n), std::slice::from_ref(&alice))
            .await
            .expect("deliver");
    }
    let (mb, msgs) = store
        .mailbox_messages(&alice, "INBOX")
        .await
        .expect("read")
        .expect("INBOX");
    let inbox = MailboxRef {
        user: alice,
        name: mb.name,
        id: mb.id,
    };
    (dir, store, inbox, msgs)
}

/// Expunges one message as a client does: STORE +FLAGS \Deleted, then UID EXPUNGE
/// (RFC 4315 §2.1: of the messages marked \Deleted).
async fn expunge_one(store: &Store, inbox: &MailboxRef, uid: Uid) {
    let deleted = FlagSet {
        flags: Flags::DELETED,
        keywords: vec![],
    };
    store
        .set_flags(inbox.id, vec![uid], FlagMode::Add, deleted, None)
        .await
        .expect("flag");
    store
        .expunge(inbox.id, Some(vec![uid]))
        .await
        .expect("expunge");
}

/// A wrapper a caller scans with (as IMAP's SEARCH candidates are).
struct Item(MessageInfo);

impl AsRef<MessageInfo> for Item {
    fn as_ref(&self) -> &MessageInfo {
        &self.0
    }
}

/// SEARCH's shape: the body read only for the messages whose summary does not
/// decide, the kept results handed to `finish` with a reader for one batch read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_reads_what_the_callback_asks_for_in_one_job() {
    let (_dir, store, inbox, msgs) = filled(9).await;
    let items: Vec<Item> = msgs.iter().cloned().map(Item).collect();
    let bodies_read = Arc::new(AtomicUsize::new(0));
    let counted = bodies_read.clone();
    let (hits, summaries) = store
        .scan_messages(
            inbox,
            items,
            Cancel::default(),
            move |item, stored| {
                assert_eq!(stored.info().uid, item.0.uid);
                // The subject decides for message 0; the others need the body.
                let subject = stored.summary().map(|s| s.subject.clone())?;
                if subject == "message 0" {
                    return Some(item.0.uid);
                }
                counted.fetch_add(1, Ordering::Relaxed);
                let body = stored.bytes()?;
                body.windows(6)
                    .any(|w| w == b"needle")
                    .then_some(item.0.uid)
            },
            |hits: Vec<Uid>, reader| {
                let summaries = reader.summaries(&hits)?;
                Ok((hits, summaries))
            },
        )
        .await
        .expect("scan");
    // Messages 0, 3 and 6 (UIDs 1, 4, 7); bodies of the eight others read once each.
    assert_eq!(hits, vec![Uid(1), Uid(4), Uid(7)]);
    assert_eq!(bodies_read.load(Ordering::Relaxed), 8);
    let ids: Vec<String> = summaries
        .into_iter()
        .map(|s| s.expect("summary").message_id)
        .collect();
    assert_eq!(ids, ["m0@example.net", "m3@example.net", "m6@example.net"]);
}

/// A cancelled scan stops at its next message and ends in `Cancelled`: a SEARCH
/// whose client left does not read the rest of the mailbox (issue 9).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_scan_stops_at_the_next_message() {
    let (_dir, store, inbox, msgs) = filled(20).await;
    let items: Vec<Item> = msgs.iter().cloned().map(Item).collect();
    let cancel = Cancel::default();
    let seen = Arc::new(AtomicUsize::new(0));
    let (c, s) = (cancel.clone(), seen.clone());
    let out = store
        .scan_messages(
            inbox.clone(),
            items,
            cancel,
            move |_, stored| {
                // The client leaves while the fifth message is evaluated.
                if s.fetch_add(1, Ordering::Relaxed) == 4 {
                    c.cancel();
                }
                stored.bytes().map(<[u8]>::len)
            },
            |sizes: Vec<usize>, _| Ok(sizes.len()),
        )
        .await;
    assert!(matches!(out, Err(StoreError::Cancelled)), "{out:?}");
    assert_eq!(seen.load(Ordering::Relaxed), 5);

    // Cancelled before it starts: no message is looked at.
    let cancel = Cancel::default();
    cancel.cancel();
    let items: Vec<Item> = msgs.iter().cloned().map(Item).collect();
    let out = store
        .scan_messages(
            inbox,
            items,
            cancel,
            |_, _| -> Option<()> { panic!("evaluated after cancel") },
            |_, _| Ok(()),
        )
        .await;
    assert!(matches!(out, Err(StoreError::Cancelled)));
}

/// FETCH's shape: shapes and cached header fields for the chunk from one read, each
/// message's file opened by the callback; a message expunged meanwhile has neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_job_hands_each_message_its_shape_cache_and_file() {
    let (_dir, store, inbox, msgs) = filled(3).await;
    let gone = msgs[1].uid;
    expunge_one(&store, &inbox, gone).await;
    let got = store
        .fetch_messages(
            inbox,
            msgs.clone(),
            true,
            true,
            |reader, info, shape, cached| {
                let file = reader.open(info)?;
                let head = match &file {
                    Some(f) => f.read_stored(0..f.len().min(5)).expect("read"),
                    None => Vec::new(),
                };
                Ok((info.uid, shape.is_some(), cached.is_some(), head))
            },
        )
        .await
        .expect("fetch");
    assert_eq!(got.len(), 3);
    for (uid, shape, cached, head) in got {
        if uid == gone {
            assert!(
                !shape && !cached && head.is_empty(),
                "{uid:?} {shape} {cached} {head:?}"
            );
        } else {
            assert!(shape && cached, "{uid:?}");
            assert_eq!(head, b"From:");
        }
    }
}

/// The small typed reads: STATUS of many mailboxes in one hop (a deleted one is
/// `None`), and a URL's message opened with its mailbox row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_and_with_message() {
    let (_dir, store, inbox, msgs) = filled(2).await;
    let notes = store
        .create_mailbox(&inbox.user, "Notes", None)
        .await
        .expect("create");
    store
        .delete_mailbox(&inbox.user, "Notes")
        .await
        .expect("delete");
    let st = store
        .mailbox_statuses(vec![inbox.id, notes.id], true)
        .await
        .expect("statuses");
    let (mb, counts) = st[0].clone().expect("INBOX");
    assert_eq!((mb.id, counts.messages, counts.unseen), (inbox.id, 2, 2));
    assert!(st[1].is_none());

    let uid = msgs[0].uid;
    let len = store
        .with_message(&inbox.user, "INBOX", uid, move |opened| {
            let o = opened.expect("opened");
            assert_eq!(o.info.uid, uid);
            assert!(o.shape.is_some());
            o.file.len()
        })
        .await
        .expect("with_message");
    assert_eq!(len, msgs[0].size);
    let missing = store
        .with_message(&inbox.user, "INBOX", Uid(999), |opened| opened.is_none())
        .await
        .expect("with_message");
    assert!(missing);
}

/// A message delivered into `inbox` while a session has it selected (the returned
/// subscription stands for that session: keep it): the new message's row.
async fn delivered_while_selected(
    store: &Store,
    inbox: &MailboxRef,
) -> (tokio::sync::watch::Receiver<u64>, Vec<MessageInfo>) {
    let selected = store.subscribe(inbox.id);
    store
        .deliver(message(9), std::slice::from_ref(&inbox.user))
        .await
        .expect("deliver");
    let (_, now) = store
        .mailbox_messages(&inbox.user, "INBOX")
        .await
        .expect("read")
        .expect("INBOX");
    (selected, vec![now.last().expect("the new message").clone()])
}

/// The blob cache (`blobcache.rs`): a FETCH that needs only shapes and header blocks
/// is answered without a hop once they were read (its callback runs on the caller's
/// thread); one that needs the file still reads it on a reader thread; and a message
/// expunged since is not answered from the cache (RFC 2180 §4.1.2: it is gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_of_stored_blobs_is_answered_from_memory_until_expunged() {
    let (_dir, store, inbox, msgs) = filled(3).await;
    let fetch = |store: Store, inbox: MailboxRef, msgs: Vec<MessageInfo>, file: bool| async move {
        // The test's task stays on this thread (`block_on`); a hop runs elsewhere.
        let caller = std::thread::current().id();
        let on_reader = move || std::thread::current().id() != caller;
        store
            .fetch_messages(
                inbox,
                msgs,
                true,
                true,
                move |reader, info, shape, cached| {
                    if file {
                        reader.open(info)?;
                    }
                    Ok((info.uid, shape.is_some(), cached.is_some(), on_reader()))
                },
            )
            .await
            .expect("fetch")
    };
    // First: read from the index on a reader thread.
    let got = fetch(store.clone(), inbox.clone(), msgs.clone(), false).await;
    assert!(got.iter().all(|&(_, s, c, r)| s && c && r), "{got:?}");
    // Again: from memory, on this task's thread.
    let got = fetch(store.clone(), inbox.clone(), msgs.clone(), false).await;
    assert!(got.iter().all(|&(_, s, c, r)| s && c && !r), "{got:?}");
    // A callback that needs the file runs again where it may read it.
    let got = fetch(store.clone(), inbox.clone(), msgs.clone(), true).await;
    assert!(got.iter().all(|&(_, s, c, r)| s && c && r), "{got:?}");
    // Expunged: the index says gone, and so does the FETCH.
    let gone = msgs[1].uid;
    expunge_one(&store, &inbox, gone).await;
    let got = fetch(store.clone(), inbox.clone(), msgs.clone(), false).await;
    for (uid, shape, cached, reader) in got {
        assert!(reader, "read from the index again: {uid:?}");
        assert_eq!((shape, cached), (uid != gone, uid != gone), "{uid:?}");
    }
    // Delivered into a mailbox a session has selected: known from the delivery.
    let (_selected, new) = delivered_while_selected(&store, &inbox).await;
    let got = fetch(store.clone(), inbox.clone(), new, false).await;
    assert!(got.iter().all(|&(_, s, c, r)| s && c && !r), "{got:?}");
}

/// Small files in the blob cache (`BODY_CACHE_MAX_BYTES`): a FETCH of a message's
/// bytes reads the file on a reader thread once and is then answered from memory, on
/// the caller's thread, with the same bytes; a message delivered into a selected
/// mailbox is known from its delivery; an expunged one is not answered from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_of_a_small_file_is_answered_from_memory_until_expunged() {
    let (_dir, store, inbox, msgs) = filled(3).await;
    let fetch = |store: Store, inbox: MailboxRef, msgs: Vec<MessageInfo>| async move {
        let caller = std::thread::current().id();
        let on_reader = move || std::thread::current().id() != caller;
        store
            .fetch_messages(inbox, msgs, false, false, move |reader, info, _, _| {
                let bytes = reader
                    .open(info)?
                    .map(|f| f.read_wire(0..f.len()).expect("read"));
                Ok((info.uid, bytes, on_reader()))
            })
            .await
            .expect("fetch")
    };
    let first = fetch(store.clone(), inbox.clone(), msgs.clone()).await;
    assert!(first.iter().all(|(_, b, r)| b.is_some() && *r), "{first:?}");
    let again = fetch(store.clone(), inbox.clone(), msgs.clone()).await;
    assert!(again.iter().all(|(_, _, r)| !r), "from memory: {again:?}");
    let strip = |v: &[(Uid, Option<Vec<u8>>, bool)]| -> Vec<(Uid, Option<Vec<u8>>)> {
        v.iter().map(|(u, b, _)| (*u, b.clone())).collect()
    };
    assert_eq!(strip(&first), strip(&again));
    assert!(first[0].1.as_ref().is_some_and(|b| b.starts_with(b"From:")));
    // Expunged: not answered from memory; the FETCH finds it gone.
    let gone = msgs[1].uid;
    expunge_one(&store, &inbox, gone).await;
    let got = fetch(store.clone(), inbox.clone(), msgs.clone()).await;
    for (uid, bytes, reader) in &got {
        if *uid == gone {
            assert!(bytes.is_none() && *reader, "{got:?}");
        }
    }
    // Delivered into a mailbox a session has selected: its file is known from the
    // delivery.
    let (_selected, new) = delivered_while_selected(&store, &inbox).await;
    let got = fetch(store.clone(), inbox.clone(), new).await;
    assert!(
        got.iter().all(|(_, b, r)| b.is_some() && !r),
        "from the delivery: {got:?}"
    );
}
