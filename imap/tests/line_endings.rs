//! Messages whose lines end in a bare LF (maildir files written by Dovecot, mutt or
//! procmail; APPENDs from sloppy scripts) are served with CRLF, and every size counts
//! that form (RFC 9051 §2.3.4, §6.4.5), as Dovecot serves them.

mod common;
use common::*;

const LF_MESSAGE: &[u8] = b"From: Procmail <p@example.net>\nTo: alice@example.com\n\
Subject: lf only\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
--b\nContent-Type: text/plain\n\none\ntwo\n--b\nContent-Type: text/plain\n\nthree\n--b--\n";

fn crlf(lf: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(lf)
        .replace('\n', "\r\n")
        .into_bytes()
}

/// Checks what the server says about message 1 against the CRLF form of `lf`.
async fn assert_served_as_crlf(raw: &mut Raw, lf: &[u8]) {
    let want = crlf(lf);
    let r = raw
        .cmd(
            "f",
            "FETCH 1 (RFC822.SIZE BODY.PEEK[] BODY.PEEK[1] BODYSTRUCTURE)",
        )
        .await;
    assert!(tagged(&r).starts_with("f OK"), "{r:?}");
    let text = r.concat();
    assert_eq!(
        number_after(&r, "RFC822.SIZE"),
        Some(want.len() as u64),
        "{text}"
    );
    assert!(
        text.contains(&format!("BODY[] {{{}}}\r\n", want.len())),
        "{text}"
    );
    assert!(
        text.contains(&String::from_utf8_lossy(&want).into_owned()),
        "served with CRLF: {text}"
    );
    assert!(!text.contains("one\ntwo\n"), "{text}");
    // The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1).
    assert!(text.contains("BODY[1] {8}\r\none\r\ntwo "), "{text}");
    // BODYSTRUCTURE octets of part 1 ("one\r\ntwo" = 8) and lines (1), as Dovecot.
    assert!(
        text.contains("\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 1"),
        "{text}"
    );
    // A partial fetch counts offsets on the CRLF form.
    let r = raw.cmd("p", "FETCH 1 (BODY.PEEK[]<0.32>)").await;
    let text = r.concat();
    assert!(
        text.contains(&format!(
            "BODY[]<0> {{32}}\r\n{}",
            String::from_utf8_lossy(&want[..32])
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_bare_lf_from_another_tool_is_served_with_crlf() {
    let s = start().await;
    let cur = s
        .data_dir()
        .join("mail/example.com/alice/cur/1700000000.M1P1.other:2,S");
    std::fs::write(&cur, LF_MESSAGE).expect("drop a file as procmail would");
    let (store, user) = (s.store.clone(), s.user());
    tokio::task::spawn_blocking(move || store.reconcile_blocking(&user, false))
        .await
        .expect("join")
        .expect("reconcile");
    let mut raw = s.raw_login().await;
    let r = raw.cmd("s", "SELECT INBOX").await;
    assert!(r.contains(&"* 1 EXISTS\r\n".to_string()), "{r:?}");
    assert_served_as_crlf(&mut raw, LF_MESSAGE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_with_bare_lf_is_stored_and_served_with_crlf() {
    let s = start().await;
    let mut raw = s.raw_login().await;
    raw.cmd("s", "SELECT INBOX").await;
    let r = raw.append("a", "INBOX", "()", LF_MESSAGE).await;
    assert!(tagged(&r).starts_with("a OK"), "{r:?}");
    assert_served_as_crlf(&mut raw, LF_MESSAGE).await;
}
