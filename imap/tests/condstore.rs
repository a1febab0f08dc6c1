//! CONDSTORE and QRESYNC (RFC 7162) end to end: the real daemon on loopback, two
//! sessions over raw sockets (one changes, the other sees), and Python's imaplib.
//! Every wait has a deadline.

mod common;

use common::{Raw, message, number_after, start, tagged};

/// Untagged lines of `r` that contain `needle`, without `\\Recent` (appended
/// messages are recent to the sessions that see them first; not what is tested).
/// The untagged responses in `r` that contain `needle`, leaving out the `* FLAGS` /
/// `[PERMANENTFLAGS]` announcements of keywords (RFC 9051 §7.3.5).
fn with(r: &[String], needle: &str) -> Vec<String> {
    r.iter()
        .filter(|l| l.starts_with("* ") && l.contains(needle))
        .filter(|l| !l.starts_with("* FLAGS") && !l.contains("[PERMANENTFLAGS"))
        .map(|l| norecent(l))
        .collect()
}

fn norecent(l: &str) -> String {
    l.replace(" \\Recent", "")
        .replace("(\\Recent ", "(")
        .replace("(\\Recent)", "()")
}

/// NOOP until an untagged line containing `needle` arrives (other sessions'
/// changes are announced once the store has published them), within a deadline.
async fn noop_until(raw: &mut Raw, needle: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut n = 0;
    loop {
        n += 1;
        let r = raw.cmd(&format!("n{n}"), "NOOP").await;
        if !with(&r, needle).is_empty() {
            return r;
        }
        assert!(std::time::Instant::now() < deadline, "no {needle} in time");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn fill(raw: &mut Raw, n: usize) {
    for i in 0..n {
        let r = raw
            .append(
                &format!("f{i}"),
                "INBOX",
                "()",
                &message(&format!("m{i}"), "hi"),
            )
            .await;
        assert!(tagged(&r).contains("OK [APPENDUID"), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn condstore_two_sessions() {
    let s = start().await;
    let mut a = s.raw_login().await;
    fill(&mut a, 3).await;
    let caps = a.cmd("c", "CAPABILITY").await;
    assert!(
        caps[0].contains(" CONDSTORE") && caps[0].contains(" QRESYNC"),
        "{caps:?}"
    );

    // RFC 7162 §3.1.8: SELECT (CONDSTORE) enables it; HIGHESTMODSEQ is announced.
    let mut b = s.raw_login().await;
    let r = b.cmd("b1", "SELECT INBOX (CONDSTORE)").await;
    assert!(tagged(&r).starts_with("b1 OK [READ-WRITE]"), "{r:?}");
    let h0 = number_after(&r, "[HIGHESTMODSEQ").expect("HIGHESTMODSEQ");

    // Session A: ENABLE, then a flag change reports MODSEQ (RFC 7162 §3.1.4.1).
    let r = a.cmd("a1", "ENABLE CONDSTORE").await;
    assert_eq!(r[0], "* ENABLED CONDSTORE\r\n");
    let r = a.cmd("a2", "SELECT INBOX").await;
    assert_eq!(number_after(&r, "[HIGHESTMODSEQ"), Some(h0), "{r:?}");
    let r = a.cmd("a3", "STORE 2 +FLAGS (\\Flagged)").await;
    let m = number_after(&r, "MODSEQ").expect("MODSEQ in STORE reply");
    assert!(m > h0);
    assert_eq!(
        norecent(&r[0]),
        format!("* 2 FETCH (FLAGS (\\Flagged) MODSEQ ({m}))\r\n")
    );

    // Session B sees the change with its MODSEQ.
    let r = noop_until(&mut b, "FETCH").await;
    assert_eq!(
        with(&r, "FETCH"),
        vec![format!(
            "* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ({m}))\r\n"
        )],
        "{r:?}"
    );
    // CHANGEDSINCE: only message 2 (RFC 7162 §3.1.4.1).
    let r = b
        .cmd("b3", &format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})"))
        .await;
    assert_eq!(
        with(&r, "FETCH"),
        vec![format!("* 2 FETCH (FLAGS (\\Flagged) MODSEQ ({m}))\r\n")]
    );
    let r = b
        .cmd("b4", &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m})"))
        .await;
    assert!(with(&r, "FETCH").is_empty(), "{r:?}");
    assert!(tagged(&r).starts_with("b4 OK"));
    // FETCH MODSEQ, SEARCH MODSEQ with the (MODSEQ n) result (RFC 7162 §3.1.5).
    let r = b.cmd("b5", "FETCH 1,2 (MODSEQ)").await;
    assert_eq!(r[1], format!("* 2 FETCH (MODSEQ ({m}))\r\n"));
    let r = b.cmd("b6", &format!("SEARCH MODSEQ {}", h0 + 1)).await;
    assert_eq!(r[0], format!("* SEARCH 2 (MODSEQ {m})\r\n"));
    let r = b.cmd("b7", "UID SEARCH RETURN (ALL) MODSEQ 1").await;
    assert!(
        r[0].ends_with(&format!(" UID ALL 1:3 MODSEQ {m}\r\n")),
        "{r:?}"
    );
    let r = b.cmd("b8", &format!("SEARCH MODSEQ {}", m + 1)).await;
    assert_eq!(r[0], "* SEARCH\r\n");
    // STATUS HIGHESTMODSEQ (RFC 7162 §3.1.6).
    let r = b.cmd("b9", "STATUS INBOX (HIGHESTMODSEQ MESSAGES)").await;
    assert_eq!(
        r[0],
        format!("* STATUS \"INBOX\" (HIGHESTMODSEQ {m} MESSAGES 3)\r\n")
    );

    // A session that never enabled CONDSTORE gets no MODSEQ.
    let mut c = s.raw_login().await;
    c.cmd("c1", "SELECT INBOX").await;
    let r = c.cmd("c2", "FETCH 2 (FLAGS)").await;
    assert_eq!(norecent(&r[0]), "* 2 FETCH (FLAGS (\\Flagged))\r\n");
    // …until a CONDSTORE-enabling command (here FETCH MODSEQ).
    c.cmd("c3", "FETCH 1 (MODSEQ)").await;
    let r = c.cmd("c4", "FETCH 2 (FLAGS)").await;
    assert_eq!(
        norecent(&r[0]),
        format!("* 2 FETCH (FLAGS (\\Flagged) MODSEQ ({m}))\r\n")
    );
}

/// RFC 7162 §3.1.3 examples: a conditional STORE fails for messages modified since.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unchangedsince_conflicts() {
    let s = start().await;
    let mut a = s.raw_login().await;
    fill(&mut a, 3).await;
    a.cmd("a0", "ENABLE CONDSTORE").await;
    let r = a.cmd("a1", "SELECT INBOX").await;
    let h0 = number_after(&r, "[HIGHESTMODSEQ").expect("HIGHESTMODSEQ");
    let mut b = s.raw_login().await;
    b.cmd("b0", "SELECT INBOX").await;
    let r = b.cmd("b1", "STORE 2 +FLAGS.SILENT ($Important)").await;
    assert!(tagged(&r).starts_with("b1 OK"), "{r:?}");

    // A did not see B's change yet: message 2 fails the test, 1 and 3 change.
    let r = a
        .cmd(
            "a2",
            &format!("STORE 1:3 (UNCHANGEDSINCE {h0}) +FLAGS (\\Seen)"),
        )
        .await;
    assert_eq!(
        tagged(&r),
        "a2 OK [MODIFIED 2] Conditional STORE failed for some messages\r\n"
    );
    let fetched = with(&r, "\\Seen");
    assert_eq!(fetched.len(), 2, "{r:?}");
    assert!(
        fetched[0].starts_with("* 1 FETCH (FLAGS (\\Seen) MODSEQ ("),
        "{r:?}"
    );
    assert!(
        fetched[1].starts_with("* 3 FETCH (FLAGS (\\Seen) MODSEQ ("),
        "{r:?}"
    );
    // B's own change arrives as an unsolicited FETCH with MODSEQ.
    assert!(with(&r, "$Important")[0].starts_with("* 2 FETCH (UID 2 FLAGS ($Important) MODSEQ ("));

    // UID STORE reports UIDs; .SILENT still reports the new MODSEQ (RFC 7162 §3.1.3
    // example: `* 5 FETCH (MODSEQ (320162350))`).
    let r = a.cmd("a3", "FETCH 1:3 (MODSEQ)").await;
    let m1 = number_after(&r[..1], "MODSEQ").expect("modseq 1");
    b.cmd("b2", "STORE 3 +FLAGS.SILENT ($Later)").await;
    let r = a
        .cmd(
            "a4",
            &format!("UID STORE 1,3 (UNCHANGEDSINCE {m1}) +FLAGS.SILENT (\\Deleted)"),
        )
        .await;
    assert_eq!(
        tagged(&r),
        "a4 OK [MODIFIED 3] Conditional STORE failed for some messages\r\n"
    );
    assert_eq!(with(&r, "FETCH (MODSEQ").len(), 1, "{r:?}");
    assert!(
        r[0].starts_with("* 1 FETCH (MODSEQ (") && r[0].ends_with(" UID 1)\r\n"),
        "{r:?}"
    );
    // UNCHANGEDSINCE 0 always fails (RFC 7162 §3.1.3).
    let r = a
        .cmd("a5", "STORE 1:3 (UNCHANGEDSINCE 0) -FLAGS (\\Seen)")
        .await;
    assert_eq!(
        tagged(&r),
        "a5 OK [MODIFIED 1:3] Conditional STORE failed for some messages\r\n"
    );
    let r = a.cmd("a6", "FETCH 1 (FLAGS)").await;
    assert!(r[0].contains("\\Seen"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn qresync_resync_and_live_vanished() {
    let s = start().await;
    let mut b = s.raw_login().await;
    fill(&mut b, 5).await;
    let mut a = s.raw_login().await;
    // QRESYNC parameters need ENABLE QRESYNC first (RFC 7162 §3.2.5).
    let r = a.cmd("a0", "SELECT INBOX (QRESYNC (1 1))").await;
    assert!(tagged(&r).starts_with("a0 BAD"), "{r:?}");
    let r = a.cmd("a1", "ENABLE QRESYNC").await;
    assert_eq!(r[0], "* ENABLED QRESYNC\r\n");
    let r = a.cmd("a2", "SELECT INBOX").await;
    let v = number_after(&r, "[UIDVALIDITY").expect("UIDVALIDITY");
    let h = number_after(&r, "[HIGHESTMODSEQ").expect("HIGHESTMODSEQ");
    a.cmd("a3", "LOGOUT").await;

    // While A is away, B expunges UIDs 2 and 4 and flags 5.
    b.cmd("b1", "SELECT INBOX").await;
    b.cmd("b2", "STORE 2,4 +FLAGS.SILENT (\\Deleted)").await;
    b.cmd("b3", "EXPUNGE").await;
    b.cmd("b4", "UID STORE 5 +FLAGS.SILENT (\\Seen)").await;

    // RFC 7162 §3.2.5.1 style resync.
    let mut a = s.raw_login().await;
    a.cmd("a4", "ENABLE QRESYNC").await;
    let r = a
        .cmd("a5", &format!("SELECT INBOX (QRESYNC ({v} {h} 1:5))"))
        .await;
    assert!(tagged(&r).starts_with("a5 OK [READ-WRITE]"), "{r:?}");
    assert_eq!(
        with(&r, "VANISHED"),
        vec!["* VANISHED (EARLIER) 2,4\r\n"],
        "{r:?}"
    );
    let fetch = with(&r, "FETCH");
    assert_eq!(fetch.len(), 1, "{r:?}");
    assert!(
        fetch[0].starts_with("* 3 FETCH (UID 5 FLAGS (\\Seen) MODSEQ ("),
        "{r:?}"
    );
    let vanished_at = r.iter().position(|l| l.contains("VANISHED"));
    let fetch_at = r.iter().position(|l| l.contains("FETCH"));
    assert!(
        vanished_at < fetch_at,
        "VANISHED (EARLIER) comes first: {r:?}"
    );
    // Known UIDs restrict both (only 1:3 known: UID 5's change is not reported).
    let r = a
        .cmd("a6", &format!("EXAMINE INBOX (QRESYNC ({v} {h} 1:3))"))
        .await;
    assert_eq!(r[0], "* OK [CLOSED] Previous mailbox closed\r\n", "{r:?}");
    assert_eq!(with(&r, "VANISHED"), vec!["* VANISHED (EARLIER) 2\r\n"]);
    assert!(with(&r, "FETCH").is_empty(), "{r:?}");
    // Another UIDVALIDITY: the resync data is ignored.
    let r = a
        .cmd("a7", &format!("SELECT INBOX (QRESYNC ({} {h} 1:5))", v + 1))
        .await;
    assert!(
        with(&r, "VANISHED").is_empty() && with(&r, "FETCH").is_empty(),
        "{r:?}"
    );

    // Live: B expunges UID 1; A hears VANISHED, not EXPUNGE (RFC 7162 §3.2.10).
    b.cmd("b5", "UID STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.cmd("b6", "EXPUNGE").await;
    let r = noop_until(&mut a, "VANISHED").await;
    assert_eq!(with(&r, "VANISHED"), vec!["* VANISHED 1\r\n"], "{r:?}");
    assert!(with(&r, "EXPUNGE").is_empty(), "{r:?}");
    // UID FETCH … (CHANGEDSINCE h VANISHED) (RFC 7162 §3.2.6).
    let r = a
        .cmd(
            "a9",
            &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h} VANISHED)"),
        )
        .await;
    assert_eq!(r[0], "* VANISHED (EARLIER) 1:2,4\r\n", "{r:?}");
    assert_eq!(with(&r, "FETCH").len(), 1, "{r:?}");
    assert!(
        norecent(&r[1]).starts_with("* 2 FETCH (UID 5 FLAGS (\\Seen) MODSEQ ("),
        "{r:?}"
    );
    // VANISHED only with CHANGEDSINCE in UID FETCH.
    let r = a
        .cmd("a10", "FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        .await;
    assert!(tagged(&r).starts_with("a10 BAD"), "{r:?}");
    // A's own EXPUNGE also answers with VANISHED.
    a.cmd("a11", "UID STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    let r = a.cmd("a12", "EXPUNGE").await;
    assert_eq!(r[0], "* VANISHED 3\r\n", "{r:?}");
    // A session without QRESYNC still gets EXPUNGE (UID 3 is B's message 1 now).
    let r = noop_until(&mut b, "EXPUNGE").await;
    assert_eq!(with(&r, "EXPUNGE"), vec!["* 1 EXPUNGE\r\n"], "{r:?}");
}

/// After an index rebuild the expunged log is gone: the server falls back to
/// reporting every known UID that is not present (RFC 7162 §3.2.5.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn qresync_falls_back_after_index_rebuild() {
    let s = start().await;
    let mut b = s.raw_login().await;
    fill(&mut b, 4).await;
    b.cmd("b0", "ENABLE QRESYNC").await;
    let r = b.cmd("b1", "SELECT INBOX").await;
    let v = number_after(&r, "[UIDVALIDITY").expect("UIDVALIDITY");
    let h = number_after(&r, "[HIGHESTMODSEQ").expect("HIGHESTMODSEQ");
    b.cmd("b2", "UID STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    b.cmd("b3", "EXPUNGE").await;
    b.cmd("b4", "LOGOUT").await;

    let store = s.store.clone();
    let user = s.user();
    tokio::task::spawn_blocking(move || store.reconcile_blocking(&user, true))
        .await
        .expect("join")
        .expect("rebuild");

    let mut a = s.raw_login().await;
    a.cmd("a0", "ENABLE QRESYNC").await;
    let r = a
        .cmd("a1", &format!("SELECT INBOX (QRESYNC ({v} {h} 1:4))"))
        .await;
    assert_eq!(
        number_after(&r, "[UIDVALIDITY"),
        Some(v),
        "UIDVALIDITY survives"
    );
    assert_eq!(
        with(&r, "VANISHED"),
        vec!["* VANISHED (EARLIER) 2\r\n"],
        "{r:?}"
    );
    // Every message got a new MODSEQ in the rebuild: all are reported.
    assert_eq!(with(&r, "FETCH").len(), 3, "{r:?}");
    // Without the log, known UIDs that never existed are reported too (below
    // UIDNEXT, which a rebuild moves past its reservation); clients ignore UIDs
    // they do not know (RFC 7162 §3.2.10).
    let r = a
        .cmd("a3", &format!("SELECT INBOX (QRESYNC ({v} {h} 1:10))"))
        .await;
    assert_eq!(
        with(&r, "VANISHED"),
        vec!["* VANISHED (EARLIER) 2,5:10\r\n"],
        "{r:?}"
    );
    // Sequence-match data narrows the fallback: the client's message 1 is UID 1 and
    // 2 is UID 3, both still so, so nothing at or below UID 3 vanished.
    let r = a
        .cmd(
            "a2",
            &format!("SELECT INBOX (QRESYNC ({v} {h} 1:4 (1:2 1,3)))"),
        )
        .await;
    assert!(with(&r, "VANISHED").is_empty(), "{r:?}");
}

/// CONDSTORE through Python's imaplib, as a client library sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn condstore_with_imaplib() {
    let s = start().await;
    let out = s
        .python(
            r#"
M = login()
for i in range(3):
    ok(M.append("INBOX", None, None, ("Subject: %d\r\n\r\nbody\r\n" % i).encode()))
typ, data = M.enable("CONDSTORE"); assert typ == "OK", data
assert b"CONDSTORE" in b" ".join(M.untagged_responses.get("ENABLED", [b""])) or typ == "OK"
ok(M.select("INBOX"))
h = int(M.response("HIGHESTMODSEQ")[1][0])
ok(M.store("3", "+FLAGS", "(\\Answered)"))
data = ok(M.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE %d)" % h))
assert len(data) == 1 and b"UID 3" in data[0] and b"MODSEQ" in data[0], data
typ, data = M.uid("SEARCH", "MODSEQ", str(h + 1)); assert typ == "OK"
assert data[0].startswith(b"3 (MODSEQ "), data
print("done")
"#,
        )
        .await;
    assert!(out.contains("done"), "{out}");
}
