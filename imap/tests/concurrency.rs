//! Several sessions on one mailbox (issue: imaptest's state tracking). Each test pins
//! one mechanism with real sessions over sockets:
//! - a completed command is visible to every next command of every session
//!   (RFC 9051 §7.5.1; APPEND into the selected mailbox announces EXISTS before its
//!   tagged OK, RFC 9051 §6.3.12);
//! - a keyword appears in FETCH FLAGS only after `* FLAGS` announced it (§7.3.5);
//! - a copied message is `\Recent` in exactly one session (RFC 3501 §2.3.2);
//! - a mailbox deleted and created again gets a new UIDVALIDITY (§2.3.1.1);
//! - no FETCH ever describes a message as empty: one expunged by another session is
//!   answered `NO [EXPUNGEISSUED]` (RFC 2180 §4.1.2), one whose file another session
//!   renames (a flag change) is read through the rename.

mod common;
use std::time::{Duration, Instant};

use common::*;

/// Rounds for the races: the old ordering (reply before publish) lost about one in
/// two.
const ROUNDS: usize = 40;

fn line_index(lines: &[String], pred: impl Fn(&str) -> bool) -> Option<usize> {
    lines.iter().position(|l| pred(l))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn append_to_selected_mailbox_announces_exists_before_ok() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let r = a.cmd("s", "SELECT INBOX").await;
    assert!(tagged(&r).starts_with("s OK"), "{r:?}");
    for n in 1..=ROUNDS {
        let r = a
            .append("a", "INBOX", "()", &message(&format!("m{n}"), "body"))
            .await;
        assert!(tagged(&r).starts_with("a OK"), "{r:?}");
        assert!(
            r.contains(&format!("* {n} EXISTS\r\n")),
            "round {n}: APPEND into the selected mailbox must announce EXISTS first: {r:?}"
        );
        let r = a.cmd("f", &format!("FETCH {n} (UID FLAGS)")).await;
        assert!(tagged(&r).starts_with("f OK"), "round {n}: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn completed_changes_reach_the_next_command_of_other_sessions() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    a.cmd("s", "SELECT INBOX").await;
    b.cmd("s", "SELECT INBOX").await;
    for n in 1..=ROUNDS {
        let r = a
            .append("a", "INBOX", "()", &message(&format!("m{n}"), "x"))
            .await;
        assert!(tagged(&r).starts_with("a OK"), "{r:?}");
        // B's very next command reports the new message.
        let r = b.cmd("n", "NOOP").await;
        assert!(
            r.contains(&format!("* {n} EXISTS\r\n")),
            "round {n}: B's NOOP after A's APPEND OK: {r:?}"
        );
        // A flag change by A: B's next command reports it.
        let r = a
            .cmd("t", &format!("STORE {n} +FLAGS.SILENT (\\Seen)"))
            .await;
        assert!(tagged(&r).starts_with("t OK"), "{r:?}");
        let r = b.cmd("c", "CHECK").await;
        assert!(
            r.iter()
                .any(|l| l.starts_with(&format!("* {n} FETCH")) && l.contains("\\Seen")),
            "round {n}: B's CHECK after A's STORE OK: {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keywords_are_announced_in_flags_before_fetch_uses_them() {
    let s = start().await;
    s.store
        .deliver(message("k", "body"), &[s.user()])
        .await
        .expect("deliver");
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    a.cmd("s", "SELECT INBOX").await;
    b.cmd("s", "SELECT INBOX").await;
    for (i, kw) in ["$label1", "$label2", "custom"].iter().enumerate() {
        let r = a.cmd("t", &format!("STORE 1 +FLAGS ({kw})")).await;
        assert!(tagged(&r).starts_with("t OK"), "{r:?}");
        let flags = line_index(&r, |l| l.starts_with("* FLAGS") && l.contains(kw));
        let fetch = line_index(&r, |l| l.starts_with("* 1 FETCH") && l.contains(kw));
        assert!(
            flags.is_some() && flags < fetch,
            "{i}: the storing session hears FLAGS with {kw} before the FETCH: {r:?}"
        );
        assert!(
            r.iter()
                .any(|l| l.contains("PERMANENTFLAGS") && l.contains(kw)),
            "PERMANENTFLAGS lists {kw}: {r:?}"
        );
        let r = b.cmd("n", "NOOP").await;
        let flags = line_index(&r, |l| l.starts_with("* FLAGS") && l.contains(kw));
        let fetch = line_index(&r, |l| l.starts_with("* 1 FETCH") && l.contains(kw));
        assert!(
            fetch.is_some() && flags.is_some() && flags < fetch,
            "{i}: the other session hears FLAGS with {kw} before the FETCH: {r:?}"
        );
        // Announced once only.
        let r = b.cmd("n2", "FETCH 1 (FLAGS)").await;
        assert!(!r.iter().any(|l| l.starts_with("* FLAGS")), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copied_messages_are_recent_in_exactly_one_session() {
    let s = start().await;
    for i in 0..3 {
        s.store
            .deliver(message(&format!("c{i}"), "body"), &[s.user()])
            .await
            .expect("deliver");
    }
    let mut src = s.raw_login().await;
    src.cmd("s", "SELECT INBOX").await;
    // Seen and flagged in the source: the copies are still new to the destination.
    src.cmd("t", "STORE 1:3 +FLAGS.SILENT (\\Seen)").await;
    let mut x = s.raw_login().await;
    let mut y = s.raw_login().await;
    x.cmd("s", "SELECT Archive").await;
    y.cmd("s", "SELECT Archive").await;
    let r = src.cmd("c", "COPY 1:3 Archive").await;
    assert!(tagged(&r).starts_with("c OK"), "{r:?}");
    let rx = x.cmd("n", "NOOP").await;
    let ry = y.cmd("n", "NOOP").await;
    for r in [&rx, &ry] {
        assert!(r.contains(&"* 3 EXISTS\r\n".to_string()), "{r:?}");
    }
    let counts = (recent_count(&rx), recent_count(&ry));
    assert!(
        counts == (Some(3), Some(0)) || counts == (Some(0), Some(3)),
        "the three copies are recent in exactly one session: {counts:?}\n{rx:?}\n{ry:?}"
    );
    let fx = x.cmd("f", "FETCH 1:3 (FLAGS)").await;
    let fy = y.cmd("f", "FETCH 1:3 (FLAGS)").await;
    let recent = |r: &[String]| r.iter().filter(|l| l.contains("\\Recent")).count();
    assert_eq!(recent(&fx) + recent(&fy), 3, "{fx:?}\n{fy:?}");
    assert!(
        fx.iter()
            .chain(&fy)
            .filter(|l| l.starts_with("* "))
            .all(|l| l.contains("\\Seen")),
        "flags travel with the copy: {fx:?} {fy:?}"
    );
    // A session selecting afterwards gets none.
    let mut z = s.raw_login().await;
    let r = z.cmd("s", "SELECT Archive").await;
    assert_eq!(recent_count(&r), Some(0), "{r:?}");
}

fn uidvalidity(lines: &[String]) -> u64 {
    number_after(lines, "UIDVALIDITY").expect("UIDVALIDITY in STATUS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_mailbox_gets_a_new_uidvalidity_in_the_same_second() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = a.cmd("c", "CREATE again").await;
        assert!(tagged(&r).starts_with("c OK"), "{r:?}");
        let r = a.cmd("st", "STATUS again (UIDVALIDITY)").await;
        seen.push(uidvalidity(&r));
        let r = a.cmd("d", "DELETE again").await;
        assert!(tagged(&r).starts_with("d OK"), "{r:?}");
    }
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "UIDVALIDITY reused: {seen:?}");
}

/// A FETCH response that describes a message as empty: ENVELOPE of NILs, a
/// BODYSTRUCTURE of zero octets, or no data for a section.
fn looks_empty(line: &str) -> bool {
    line.contains("ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)")
        || line.contains("NIL NIL \"7bit\" 0 0")
        || line.contains("BODY[] NIL")
        || line.contains("BODY[HEADER.FIELDS (SUBJECT)] NIL")
        || line.contains("ENVELOPE NIL")
        || line.contains("BODYSTRUCTURE NIL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fetch_of_a_message_expunged_elsewhere_is_no_expungeissued_never_empty() {
    let s = start().await;
    for i in 0..4 {
        s.store
            .deliver(message(&format!("e{i}"), "body"), &[s.user()])
            .await
            .expect("deliver");
    }
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    a.cmd("s", "SELECT INBOX").await;
    b.cmd("s", "SELECT INBOX").await;
    let r = b.cmd("t", "STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    assert!(tagged(&r).starts_with("t OK"), "{r:?}");
    let r = b.cmd("x", "EXPUNGE").await;
    assert!(tagged(&r).starts_with("x OK"), "{r:?}");
    // A still numbers the expunged message 2 (no EXPUNGE during FETCH, RFC 9051
    // §7.5.1) and asks for its content.
    let r = a
        .cmd(
            "f",
            "FETCH 1:4 (ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
        )
        .await;
    assert!(
        !r.iter().any(|l| looks_empty(l)),
        "made-up empty data: {r:?}"
    );
    assert!(
        !r.iter().any(|l| l.starts_with("* 2 FETCH")),
        "no data for the expunged message: {r:?}"
    );
    assert_eq!(
        r.iter().filter(|l| l.contains("FETCH (ENVELOPE")).count(),
        3,
        "{r:?}"
    );
    assert!(
        tagged(&r)
            .starts_with("f NO [EXPUNGEISSUED] Some of the requested messages no longer exist"),
        "{r:?}"
    );
    // The next command may announce it.
    let r = a.cmd("n", "NOOP").await;
    assert!(r.contains(&"* 2 EXPUNGE\r\n".to_string()), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fetch_reads_through_renames_by_other_sessions() {
    let s = start().await;
    s.store
        .deliver(message("renamed", "the body"), &[s.user()])
        .await
        .expect("deliver");
    let mut reader = s.raw_login().await;
    reader.cmd("s", "EXAMINE INBOX").await;
    let port = s.port;
    // Another session flips flags as fast as it can: each flip renames the file.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut w = Raw::connect(port).await;
            w.response().await;
            w.cmd("L", &format!("LOGIN {USER} {PASS}")).await;
            w.cmd("s", "SELECT INBOX").await;
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let op = if n.is_multiple_of(2) { "+" } else { "-" };
                w.cmd(
                    "t",
                    &format!("STORE 1 {op}FLAGS.SILENT (\\Flagged $k{})", n % 7),
                )
                .await;
                n += 1;
            }
            n
        })
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut reads = 0;
    while Instant::now() < deadline {
        let r = reader.cmd("f", "FETCH 1 (BODY.PEEK[] ENVELOPE)").await;
        assert!(tagged(&r).starts_with("f OK"), "read {reads}: {r:?}");
        assert!(
            r.iter().any(|l| l.contains("the body")),
            "read {reads}: {r:?}"
        );
        assert!(!r.iter().any(|l| looks_empty(l)), "{r:?}");
        reads += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flips = flipper.await.expect("flipper");
    assert!(flips > 10 && reads > 10, "flips {flips}, reads {reads}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_racing_a_fetch_loop_are_never_answered_empty() {
    let s = start().await;
    let mut a = s.raw_login().await;
    a.cmd("s", "SELECT INBOX").await;
    let mut b = s.raw_login().await;
    b.cmd("s", "SELECT INBOX").await;
    const MESSAGES: usize = 150;
    let store = s.store.clone();
    let user = s.user();
    let deliverer = tokio::spawn(async move {
        for i in 0..MESSAGES {
            store
                .deliver(
                    message(&format!("d{i}"), "payload"),
                    std::slice::from_ref(&user),
                )
                .await
                .expect("deliver");
        }
    });
    // B expunges what A reads, flag by flag, while A keeps reading everything.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut answered = 0usize;
    loop {
        assert!(Instant::now() < deadline, "deliveries did not finish");
        let r = a
            .cmd(
                "f",
                // UID FETCH: `1:*` in a mailbox that is empty just now is BAD for
                // sequence numbers (as in Dovecot), and ten BADs end the session.
                "UID FETCH 1:* (UID ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
            )
            .await;
        assert!(!r.iter().any(|l| looks_empty(l)), "empty answer: {r:?}");
        assert!(
            tagged(&r).starts_with("f OK") || tagged(&r).starts_with("f NO [EXPUNGEISSUED]"),
            "{r:?}"
        );
        answered += r.iter().filter(|l| l.contains(" FETCH (UID")).count();
        // UID STORE: B's mailbox may be empty just now, and `1:*` on an empty
        // mailbox is BAD for sequence numbers (ten of them end the session).
        b.cmd("t", "UID STORE 1:* +FLAGS.SILENT (\\Deleted)").await;
        b.cmd("x", "EXPUNGE").await;
        if deliverer.is_finished() {
            break;
        }
    }
    deliverer.await.expect("deliverer");
    assert!(answered > 0);
}

/// STATUS of the selected mailbox is answered from the session's view (as Dovecot
/// does), so the view must first take in what other sessions completed: their
/// appends, flag changes and expunges are in the numbers, the EXISTS/EXPUNGE the view
/// owed go out first, and everything but RECENT (this session's `\Recent`, RFC 3501
/// §2.3.2) equals what a session without the mailbox selected reads from the index.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_of_the_selected_mailbox_counts_what_other_sessions_completed() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    let mut c = s.raw_login().await;
    let r = a.cmd("s", "SELECT INBOX").await;
    assert!(tagged(&r).starts_with("s OK"), "{r:?}");
    const ITEMS: &str = "(MESSAGES UNSEEN DELETED SIZE UIDNEXT UIDVALIDITY HIGHESTMODSEQ)";
    let numbers = |r: &[String]| -> Vec<u64> {
        let line = r
            .iter()
            .find(|l| l.starts_with("* STATUS"))
            .expect("STATUS line");
        [
            "MESSAGES",
            "UNSEEN",
            "DELETED",
            "SIZE",
            "UIDNEXT",
            "UIDVALIDITY",
            "HIGHESTMODSEQ",
        ]
        .iter()
        .map(|k| number_after(std::slice::from_ref(line), k).expect(k))
        .collect()
    };
    b.cmd("sb", "SELECT INBOX").await;
    for n in 1..=ROUNDS {
        let r = b
            .append("a", "INBOX", "()", &message(&format!("m{n}"), "x"))
            .await;
        assert!(tagged(&r).starts_with("a OK"), "{r:?}");
        match n % 4 {
            1 => drop(b.cmd("f", &format!("STORE {n} +FLAGS (\\Seen)")).await),
            2 => drop(b.cmd("f", &format!("STORE {n} +FLAGS (\\Deleted)")).await),
            3 => {
                let r = b.cmd("x", "EXPUNGE").await;
                assert!(tagged(&r).starts_with("x OK"), "{r:?}");
            }
            _ => {}
        }
        let mine = a.cmd("st", &format!("STATUS INBOX {ITEMS}")).await;
        assert!(tagged(&mine).starts_with("st OK"), "{mine:?}");
        let index = c.cmd("st", &format!("STATUS INBOX {ITEMS}")).await;
        assert_eq!(
            numbers(&mine),
            numbers(&index),
            "round {n}: the selected session's STATUS {mine:?} against the index's {index:?}"
        );
        // The view's owed updates precede the STATUS line.
        let status = line_index(&mine, |l| l.starts_with("* STATUS")).expect("STATUS");
        let messages = numbers(&mine)[0];
        let exists = line_index(&mine, |l| l.ends_with(" EXISTS\r\n"));
        if let Some(i) = exists {
            assert!(i < status, "EXISTS after STATUS: {mine:?}");
        }
        let r = a.cmd("n", "NOOP").await;
        assert!(
            !r.iter()
                .any(|l| l.ends_with(" EXISTS\r\n") || l.ends_with(" EXPUNGE\r\n")),
            "round {n}: the view was not brought up to date by STATUS ({messages} messages): {r:?}"
        );
    }
}

/// RECENT in STATUS of the selected mailbox counts the messages `\Recent` in this
/// session, as Dovecot does; another session's STATUS counts those nobody claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_recent_of_the_selected_mailbox_is_this_sessions() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    a.cmd("s", "SELECT INBOX").await;
    for n in 1..=3 {
        let r = b
            .append("a", "INBOX", "()", &message(&format!("m{n}"), "x"))
            .await;
        assert!(tagged(&r).starts_with("a OK"), "{r:?}");
    }
    let r = a.cmd("st", "STATUS INBOX (MESSAGES RECENT)").await;
    assert!(
        r.iter()
            .any(|l| l == "* STATUS \"INBOX\" (MESSAGES 3 RECENT 3)\r\n"),
        "A claimed the three: {r:?}"
    );
    let r = b.cmd("st", "STATUS INBOX (MESSAGES RECENT)").await;
    assert!(
        r.iter()
            .any(|l| l == "* STATUS \"INBOX\" (MESSAGES 3 RECENT 0)\r\n"),
        "nothing left unclaimed for B: {r:?}"
    );
}

fn listed(r: &[String]) -> Vec<String> {
    let mut names: Vec<String> = r
        .iter()
        .filter(|l| l.starts_with("* LIST "))
        .filter_map(|l| l.trim_end().rsplit(' ').next())
        .map(|n| n.trim_matches('"').to_string())
        .collect();
    names.sort();
    names
}

/// `base` (the user's default mailboxes) and `extra`, sorted.
fn plus(base: &[String], extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = base.to_vec();
    v.extend(extra.iter().map(|s| (*s).to_string()));
    v.sort();
    v
}

/// A plain LIST takes the user's mailboxes from memory; every completed CREATE,
/// RENAME and DELETE of another session, and a mailbox the store creates itself, is
/// in the next LIST all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_every_completed_mailbox_change_of_other_sessions() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    let base = listed(&a.cmd("l", "LIST \"\" *").await);
    assert!(base.contains(&"INBOX".to_string()), "{base:?}");
    for n in 0..5 {
        let r = a.cmd("l", "LIST \"\" *").await;
        assert_eq!(listed(&r), base, "round {n}: {r:?}");
        let r = b.cmd("c", &format!("CREATE Box{n}")).await;
        assert!(tagged(&r).starts_with("c OK"), "{r:?}");
        let r = a.cmd("l", "LIST \"\" *").await;
        assert_eq!(listed(&r), plus(&base, &[&format!("Box{n}")]), "{r:?}");
        let r = b.cmd("r", &format!("RENAME Box{n} Moved{n}")).await;
        assert!(tagged(&r).starts_with("r OK"), "{r:?}");
        let r = a.cmd("l", "LIST \"\" *").await;
        assert_eq!(listed(&r), plus(&base, &[&format!("Moved{n}")]), "{r:?}");
        let r = b.cmd("d", &format!("DELETE Moved{n}")).await;
        assert!(tagged(&r).starts_with("d OK"), "{r:?}");
    }
    // Created by the store's own API (the writer), not by a session.
    let user = mailyard_store::Address::parse(USER).expect("address");
    s.store
        .create_mailbox(&user, "Filed", None)
        .await
        .expect("create");
    let r = a.cmd("l", "LIST \"\" *").await;
    assert_eq!(listed(&r), plus(&base, &["Filed"]), "{r:?}");
}

/// Another process's CREATE (the CLI writes the same index) reaches LIST once the
/// store's watcher has seen it, as other processes' message changes do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_a_mailbox_another_process_created() {
    let s = start().await;
    // As `mailyard serve` does.
    s.store.watch_other_processes().expect("watch");
    let mut a = s.raw_login().await;
    let base = listed(&a.cmd("l", "LIST \"\" *").await);
    let data = s.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let (other, _) = mailyard_store::Store::open(&data).expect("second store");
        let user = mailyard_store::Address::parse(USER).expect("address");
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(other.create_mailbox(&user, "FromCli", None))
            .expect("create");
    })
    .await
    .expect("join");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = a.cmd("l", "LIST \"\" *").await;
        if listed(&r) == plus(&base, &["FromCli"]) {
            break;
        }
        assert!(Instant::now() < deadline, "never listed: {r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
