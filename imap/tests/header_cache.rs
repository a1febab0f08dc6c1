//! The header cache (`mailyard_store::headers`): a message-list FETCH of header
//! fields answers from the index, byte for byte what the file gives, and reads no
//! file; a selection the cache does not cover still reads the file.

mod common;
use common::*;

const MESSAGE: &[u8] = b"Received: from a.example.net\r\n\tby mx.example.com\r\n\
From: Alice <alice@example.net>\r\nX-Spam-Score: 1.5\r\n\
Subject: a folded\r\n  subject line\r\nTo: bob@example.com\r\nReceived: from b\r\n\
Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\nbody\r\n";

/// Stored with bare LF (as Dovecot or procmail write): cached in its CRLF form.
const LF_MESSAGE: &[u8] = b"From: Procmail <p@example.net>\nSubject: lf only\n\tfolded\n\nbody\n";

const LIST: &str = "BODY.PEEK[HEADER.FIELDS (From Subject Received)]";

fn literal_after<'a>(text: &'a str, item: &str) -> &'a str {
    let at = text
        .find(item)
        .unwrap_or_else(|| panic!("{item} in {text}"))
        + item.len();
    let rest = &text[at..];
    let open = rest.find('{').expect("literal");
    let close = rest.find("}\r\n").expect("literal end");
    let n: usize = rest[open + 1..close].parse().expect("length");
    &rest[close + 3..close + 3 + n]
}

/// Every message file under the user's maildir, removed: what is answered after
/// this comes from the index alone.
fn remove_message_files(root: &std::path::Path) -> usize {
    let mut removed = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if matches!(
                p.parent()
                    .and_then(|x| x.file_name())
                    .and_then(|x| x.to_str()),
                Some("cur" | "new")
            ) {
                std::fs::remove_file(&p).expect("remove");
                removed += 1;
            }
        }
    }
    removed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_fetches_answer_from_the_cache_as_the_file_would() {
    let server = start().await;
    let mut raw = server.raw_login().await;
    assert!(tagged(&raw.append("a", "INBOX", "()", MESSAGE).await).starts_with("a OK"));
    assert!(tagged(&raw.append("b", "INBOX", "()", LF_MESSAGE).await).starts_with("b OK"));
    assert!(tagged(&raw.cmd("c", "CREATE Other").await).starts_with("c OK"));
    assert!(tagged(&raw.cmd("s", "SELECT INBOX").await).starts_with("s OK"));
    assert!(tagged(&raw.cmd("k", "COPY 1:2 Other").await).starts_with("k OK"));

    let fetch = format!("FETCH 1:2 (RFC822.SIZE {LIST})");
    let before = raw.cmd("f", &fetch).await;
    assert!(tagged(&before).starts_with("f OK"), "{before:?}");
    let text = before.concat();
    assert_eq!(
        literal_after(&text, "* 1 FETCH"),
        "Received: from a.example.net\r\n\tby mx.example.com\r\n\
From: Alice <alice@example.net>\r\nSubject: a folded\r\n  subject line\r\n\
Received: from b\r\n\r\n"
    );
    assert_eq!(
        literal_after(&text, "* 2 FETCH"),
        "From: Procmail <p@example.net>\r\nSubject: lf only\r\n\tfolded\r\n\r\n"
    );
    // A field outside the cache: read from the file, while it is there.
    let spam = raw
        .cmd("x", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (X-Spam-Score)])")
        .await;
    assert!(
        spam.concat().contains("X-Spam-Score: 1.5\r\n\r\n"),
        "{spam:?}"
    );

    let user_root = server.data_dir().join("mail/example.com/alice");
    assert_eq!(
        remove_message_files(&user_root),
        4,
        "two messages, two copies"
    );

    // Same bytes with no file on disk: the list fetch reads none.
    let after = raw.cmd("f", &fetch).await;
    assert_eq!(after, before);
    // The copies carry their cache along.
    assert!(tagged(&raw.cmd("o", "SELECT Other").await).starts_with("o OK"));
    let copied = raw.cmd("f", &fetch).await;
    assert_eq!(copied, before);
    // A selection the cache does not cover needs the file, which is gone.
    let spam = raw
        .cmd("x", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (X-Spam-Score)])")
        .await;
    assert!(!tagged(&spam).starts_with("x OK"), "{spam:?}");
}
