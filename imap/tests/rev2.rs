//! IMAP4rev2 (RFC 9051) and what it requires beyond our IMAP4rev1: BINARY
//! (RFC 3516), SEARCHRES (RFC 5182), ENABLE IMAP4rev2 behaviour; and MULTIAPPEND
//! (RFC 3502) stored atomically. The real daemon on loopback, raw sockets and
//! Python's imaplib; every wait has a deadline.

mod common;

use common::{message, number_after, start, tagged};

/// A multipart message: a quoted-printable text part, a base64 part holding NUL
/// and 0xFF, and a part in an encoding nobody knows (RFC 3516 §4.3).
const MIME: &str = "From: a@example.net\r\n\
Subject: binary\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Caf=C3=A9 cr=C3=A8me, a very long line that was =\r\n\
softly broken.\r\n\
--b1\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAwBGT08A/w==\r\n\
--b1\r\n\
Content-Type: application/x-thing\r\n\
Content-Transfer-Encoding: x-unknown\r\n\
\r\n\
whatever\r\n\
--b1--\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binary_fetch_base64_and_quoted_printable() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let caps = a.cmd("c", "CAPABILITY").await;
    assert!(
        caps[0].starts_with("* CAPABILITY IMAP4rev1 IMAP4rev2 "),
        "{caps:?}"
    );
    assert!(
        caps[0].contains(" BINARY") && caps[0].contains(" SEARCHRES"),
        "{caps:?}"
    );
    let r = a.append("a0", "INBOX", "(\\Draft)", MIME.as_bytes()).await;
    assert!(tagged(&r).contains("OK [APPENDUID"), "{r:?}");
    a.cmd("a1", "SELECT INBOX").await;

    // The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1).
    let text = "Café crème, a very long line that was softly broken.";
    let r = a.cmd("a2", "FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])").await;
    assert_eq!(
        r[0],
        format!(
            "* 1 FETCH (BINARY[1] {{{}}}\r\n{text} BINARY.SIZE[1] {})\r\n",
            text.len(),
            text.len()
        )
    );
    // Decoded base64 holds NUL: a literal8 (RFC 3516 §4.3), exact bytes.
    let bin: &[u8] = b"\x00\x01\x02\x03\x00FOO\x00\xff";
    let r = a
        .cmd("a3", "UID FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])")
        .await;
    let mut want = b"* 1 FETCH (UID 1 BINARY.SIZE[2] 10 BINARY[2] ~{10}\r\n".to_vec();
    want.extend_from_slice(bin);
    want.extend_from_slice(b")\r\n");
    assert_eq!(r[0], String::from_utf8_lossy(&want), "{r:?}");
    // A partial range: origin octet echoed, NUL-free data as a plain literal.
    let r = a.cmd("a4", "FETCH 1 (BINARY.PEEK[2]<5.3>)").await;
    assert_eq!(r[0], "* 1 FETCH (BINARY[2]<5> {3}\r\nFOO)\r\n");
    // Nonexistent part: NIL; size 0.
    let r = a.cmd("a5", "FETCH 1 (BINARY.PEEK[9] BINARY.SIZE[9])").await;
    assert_eq!(r[0], "* 1 FETCH (BINARY[9] NIL BINARY.SIZE[9] 0)\r\n");
    // Unknown Content-Transfer-Encoding: NO [UNKNOWN-CTE], no data for it.
    let r = a.cmd("a6", "FETCH 1 (BINARY.PEEK[3])").await;
    assert!(tagged(&r).starts_with("a6 NO [UNKNOWN-CTE]"), "{r:?}");
    assert_eq!(r.len(), 1, "{r:?}");
    // BINARY (not PEEK) sets \Seen and reports it.
    let r = a.cmd("a7", "FETCH 1 (BINARY[1]<0.4>)").await;
    assert!(
        r[0].starts_with("* 1 FETCH (BINARY[1]<0> {4}\r\nCaf"),
        "{r:?}"
    );
    assert!(r[0].contains(" FLAGS (\\Seen \\Draft"), "{r:?}");
    // The same through imaplib.
    let out = s
        .python(
            r#"
M = login(); ok(M.select("INBOX"))
typ, data = M.fetch("1", "(BINARY.PEEK[2])"); assert typ == "OK", data
assert data[0][1] == b"\x00\x01\x02\x03\x00FOO\x00\xff", data
typ, data = M.fetch("1", "(BINARY.PEEK[1])"); assert typ == "OK", data
assert data[0][1].decode() == "Café crème, a very long line that was softly broken.", data
print("done")
"#,
        )
        .await;
    assert!(out.contains("done"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn literal8_append_with_nul() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let data: &[u8] = b"Subject: nul\r\nContent-Transfer-Encoding: binary\r\n\r\na\x00b\x00\r\n";
    // RFC 3516 §4.4: APPEND with a literal8.
    let mut cmd = format!("a1 APPEND INBOX ~{{{}+}}\r\n", data.len()).into_bytes();
    cmd.extend_from_slice(data);
    cmd.extend_from_slice(b"\r\n");
    a.send(&cmd).await;
    let r = a.until("a1").await;
    assert!(tagged(&r).starts_with("a1 OK [APPENDUID "), "{r:?}");
    // A synchronizing literal8 gets its continuation.
    a.send(format!("a2 APPEND INBOX ~{{{}}}\r\n", data.len()).as_bytes())
        .await;
    assert!(a.response().await.starts_with("+ "));
    let mut rest = data.to_vec();
    rest.extend_from_slice(b"\r\n");
    a.send(&rest).await;
    assert!(tagged(&a.until("a2").await).starts_with("a2 OK"));
    // NUL in a plain literal is refused (RFC 9051 §4.3).
    let mut cmd = format!("a3 APPEND INBOX {{{}+}}\r\n", data.len()).into_bytes();
    cmd.extend_from_slice(data);
    cmd.extend_from_slice(b"\r\n");
    a.send(&cmd).await;
    assert!(tagged(&a.until("a3").await).starts_with("a3 BAD"));
    // The appended octets come back exactly, as a literal8; the `binary` part is
    // stored base64-encoded (RFC 3516 §4.4), so BODY[1] is an ordinary string.
    a.cmd("a4", "SELECT INBOX").await;
    let r = a
        .cmd(
            "a5",
            "FETCH 1:* (BINARY.PEEK[1] BINARY.SIZE[1] BODY.PEEK[1])",
        )
        .await;
    let want = "* 1 FETCH (BINARY[1] ~{6}\r\na\0b\0\r\n BINARY.SIZE[1] 6 BODY[1] {10}\r\nYQBiAA0K\r\n)\r\n";
    assert_eq!(r[0], want);
    assert_eq!(r.len(), 3, "two messages: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn searchres_saved_result() {
    let s = start().await;
    let mut a = s.raw_login().await;
    for i in 1..=5 {
        let flags = if i % 2 == 0 { "(\\Flagged)" } else { "()" };
        a.append(
            &format!("p{i}"),
            "INBOX",
            flags,
            &message(&format!("s{i}"), "x"),
        )
        .await;
    }
    a.cmd("a0", "SELECT INBOX").await;
    // Before any SAVE, `$` is empty.
    let r = a.cmd("a1", "FETCH $ (UID)").await;
    assert_eq!(r.len(), 1, "{r:?}");
    // RFC 5182 §2.1 / example: SAVE alone sends no ESEARCH.
    let r = a.cmd("a2", "SEARCH RETURN (SAVE) FLAGGED").await;
    assert_eq!(r, vec!["a2 OK SEARCH completed\r\n"]);
    let r = a.cmd("a3", "FETCH $ (UID)").await;
    assert_eq!(r[..2], ["* 2 FETCH (UID 2)\r\n", "* 4 FETCH (UID 4)\r\n"]);
    // `1,$` (RFC 5182 §4: `$` may end a set) and in UID commands and SEARCH.
    let r = a.cmd("a4", "FETCH 1,$ (UID)").await;
    assert_eq!(r.len(), 4, "{r:?}");
    let r = a.cmd("a5", "UID SEARCH UID $ NOT 4").await;
    assert_eq!(r[0], "* SEARCH 2\r\n");
    let r = a.cmd("a6", "SEARCH OR $ 5").await;
    assert_eq!(r[0], "* SEARCH 2 4 5\r\n");
    // STORE and COPY on `$`.
    let r = a.cmd("a7", "STORE $ +FLAGS.SILENT (\\Answered)").await;
    assert!(tagged(&r).starts_with("a7 OK"));
    let r = a.cmd("a8", "SEARCH ANSWERED").await;
    assert_eq!(r[0], "* SEARCH 2 4\r\n");
    let r = a.cmd("a9", "UID COPY $ Archive").await;
    assert!(tagged(&r).starts_with("a9 OK [COPYUID "), "{r:?}");
    // SAVE with MIN keeps only the minimum (RFC 5182 §2.1), and results stay
    // attached to messages across expunges of others.
    let r = a.cmd("a10", "SEARCH RETURN (MIN SAVE) UNFLAGGED").await;
    assert_eq!(r[0], "* ESEARCH (TAG \"a10\") MIN 1\r\n");
    let r = a.cmd("a11", "SEARCH RETURN (SAVE COUNT) 3:5").await;
    assert_eq!(r[0], "* ESEARCH (TAG \"a11\") COUNT 3\r\n");
    a.cmd("a12", "STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    a.cmd("a13", "EXPUNGE").await;
    let r = a.cmd("a14", "FETCH $ (UID)").await;
    assert_eq!(
        r[..3],
        [
            "* 2 FETCH (UID 3)\r\n",
            "* 3 FETCH (UID 4)\r\n",
            "* 4 FETCH (UID 5)\r\n"
        ]
    );
    // UID EXPUNGE $ only touches the saved messages.
    a.cmd("a15", "STORE 1:* +FLAGS.SILENT (\\Deleted)").await;
    a.cmd("a16", "UID SEARCH RETURN (SAVE) UID 5").await;
    let r = a.cmd("a17", "UID EXPUNGE $").await;
    assert_eq!(r[0], "* 4 EXPUNGE\r\n", "{r:?}");
    assert_eq!(r.len(), 2);
    // SELECT empties it (RFC 5182 §2.1).
    a.cmd("a18", "SEARCH RETURN (SAVE) ALL").await;
    a.cmd("a19", "SELECT INBOX").await;
    let r = a.cmd("a20", "FETCH $ (UID)").await;
    assert_eq!(r.len(), 1, "{r:?}");
    // A failed saving SEARCH empties it too (RFC 5182 §2.4).
    a.cmd("a21", "SEARCH RETURN (SAVE) ALL").await;
    let r = a
        .cmd("a22", "SEARCH RETURN (SAVE) CHARSET KOI8-R ALL")
        .await;
    assert!(tagged(&r).starts_with("a22 NO [BADCHARSET"));
    let r = a.cmd("a23", "FETCH $ (UID)").await;
    assert_eq!(r.len(), 1, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enable_imap4rev2_behaviour() {
    let s = start().await;
    let mut a = s.raw_login().await;
    a.append("p1", "INBOX", "()", &message("r1", "x")).await;
    a.append("p2", "INBOX", "(\\Seen)", &message("r2", "x"))
        .await;
    // Before ENABLE: IMAP4rev1 answers (RECENT, \Recent, SEARCH).
    let r = a.cmd("a0", "EXAMINE INBOX").await;
    assert!(r.iter().any(|l| l.ends_with(" RECENT\r\n")), "{r:?}");
    a.cmd("a1", "UNSELECT").await;
    let r = a.cmd("a2", "ENABLE IMAP4rev2").await;
    assert_eq!(r[0], "* ENABLED IMAP4rev2\r\n");
    let r = a.cmd("a3", "ENABLE IMAP4rev2").await;
    assert_eq!(r[0], "* ENABLED\r\n", "only newly enabled ones are listed");
    let r = a.cmd("a4", "SELECT INBOX").await;
    assert!(!r.iter().any(|l| l.contains("RECENT")), "{r:?}");
    assert!(r.iter().any(|l| l.contains("[HIGHESTMODSEQ ")), "{r:?}");
    let r = a.cmd("a5", "FETCH 1:* (FLAGS)").await;
    assert_eq!(
        r[..2],
        ["* 1 FETCH (FLAGS ())\r\n", "* 2 FETCH (FLAGS (\\Seen))\r\n"]
    );
    // RFC 9051 §6.4.4: SEARCH answers with ESEARCH (no RETURN means ALL).
    let r = a.cmd("a6", "SEARCH ALL").await;
    assert_eq!(r[0], "* ESEARCH (TAG \"a6\") ALL 1:2\r\n");
    let r = a.cmd("a7", "UID SEARCH UNSEEN").await;
    assert_eq!(r[0], "* ESEARCH (TAG \"a7\") UID ALL 1\r\n");
    let r = a.cmd("a8", "SEARCH DELETED").await;
    assert_eq!(r[0], "* ESEARCH (TAG \"a8\")\r\n");
    let r = a.cmd("a9", "SEARCH RETURN (COUNT) ALL").await;
    assert_eq!(r[0], "* ESEARCH (TAG \"a9\") COUNT 2\r\n");
    // Mailbox names are UTF-8 (RFC 9051 §5.1); a rev1 session sees modified UTF-7.
    let r = a.cmd("a10", "CREATE \"Café\"").await;
    assert!(tagged(&r).starts_with("a10 OK"), "{r:?}");
    let r = a.cmd("a11", "LIST \"\" \"Caf*\"").await;
    assert_eq!(r[0], "* LIST (\\HasNoChildren) \".\" \"Café\"\r\n");
    let r = a
        .cmd("a12", "STATUS \"Café\" (MESSAGES SIZE DELETED)")
        .await;
    assert_eq!(r[0], "* STATUS \"Café\" (MESSAGES 0 SIZE 0 DELETED 0)\r\n");
    let mut b = s.raw_login().await;
    let r = b.cmd("b1", "LIST \"\" \"Caf*\"").await;
    assert_eq!(r[0], "* LIST (\\HasNoChildren) \".\" \"Caf&AOk-\"\r\n");
    // Other sessions' changes: no RECENT, no \Recent.
    b.cmd("b2", "SELECT INBOX").await;
    b.append("b3", "INBOX", "()", &message("r3", "x")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = a.cmd("a13", "NOOP").await;
        if r.iter().any(|l| l == "* 3 EXISTS\r\n") {
            assert!(!r.iter().any(|l| l.contains("RECENT")), "{r:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no EXISTS in time");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = a.cmd("a14", "FETCH 3 (FLAGS)").await;
    assert_eq!(r[0], "* 3 FETCH (FLAGS ())\r\n");
    // Switching mailboxes announces [CLOSED] (RFC 9051 §7.1).
    let r = a.cmd("a15", "EXAMINE Sent").await;
    assert_eq!(r[0], "* OK [CLOSED] Previous mailbox closed\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multiappend_is_atomic() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let caps = a.cmd("c", "CAPABILITY").await;
    assert!(caps[0].contains(" MULTIAPPEND"), "{caps:?}");
    let one = message("m1", "one");
    let two = message("m2", "two");
    let three = message("m3", "three");
    // RFC 3502 §6.3.11: several messages, each with its own flags and date.
    let mut cmd = format!("a1 APPEND INBOX (\\Seen) {{{}+}}\r\n", one.len()).into_bytes();
    cmd.extend_from_slice(&one);
    cmd.extend_from_slice(
        format!(" \"07-Feb-1994 22:43:04 -0800\" {{{}+}}\r\n", two.len()).as_bytes(),
    );
    cmd.extend_from_slice(&two);
    cmd.extend_from_slice(format!(" ($label1) {{{}+}}\r\n", three.len()).as_bytes());
    cmd.extend_from_slice(&three);
    cmd.extend_from_slice(b"\r\n");
    a.send(&cmd).await;
    let r = a.until("a1").await;
    let uidvalidity = s
        .store
        .mailbox_blocking(&s.user(), "INBOX")
        .expect("read")
        .expect("inbox")
        .uidvalidity
        .0;
    assert_eq!(
        tagged(&r),
        format!("a1 OK [APPENDUID {uidvalidity} 1:3] APPEND completed\r\n")
    );
    a.cmd("a2", "SELECT INBOX").await;
    let r = a.cmd("a3", "FETCH 1:3 (FLAGS INTERNALDATE)").await;
    assert!(r[0].contains("\\Seen"), "{r:?}");
    assert!(r[1].contains("8-Feb-1994 06:43:04 +0000\""), "{r:?}");
    assert!(r[2].contains("$label1"), "{r:?}");

    // One bad message (more keywords than a maildir can name): nothing stored.
    let kws: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
    let kws = format!("({})", kws.join(" "));
    let r = a
        .multiappend("a4", "INBOX", &[("", &one), (&kws, &two)])
        .await;
    assert!(tagged(&r).starts_with("a4 NO [LIMIT]"), "{r:?}");
    // An empty second message: refused before anything is stored.
    let r = a.multiappend("a5", "INBOX", &[("", &one), ("", b"")]).await;
    assert!(tagged(&r).starts_with("a5 NO"), "{r:?}");
    let r = a.cmd("a6", "STATUS INBOX (MESSAGES UIDNEXT)").await;
    assert!(r[0].contains("MESSAGES 3 "), "{r:?}");
    assert_eq!(
        s.store
            .messages_blocking(
                s.store
                    .mailbox_blocking(&s.user(), "INBOX")
                    .expect("read")
                    .expect("inbox")
                    .id
            )
            .expect("messages")
            .len(),
        3
    );
    let r = a.cmd("a7", "NOOP").await;
    assert!(!r.iter().any(|l| l.contains("EXISTS")), "{r:?}");
    assert!(number_after(&r, "EXISTS").is_none());
}
