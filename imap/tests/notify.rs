//! NOTIFY (RFC 5465) with two real sessions over sockets: session A asks for events,
//! session B makes them happen, A must hear them promptly (each wait has a deadline;
//! no bare sleeps): during IDLE (§4), between commands without IDLE (§5), with
//! command responses; NOTIFY NONE stops them; a session that falls more than the
//! bus's bound behind gets `* OK [NOTIFICATIONOVERFLOW]` and NOTIFY NONE (§5.8).

mod common;
use std::time::{Duration, Instant};

use common::*;
use mailyard_store::changes::USER_EVENTS_PENDING;

/// How long an event may take to reach A.
const PROMPT: Duration = Duration::from_secs(10);

/// Reads A's responses until one satisfies `pred`; returns every response read.
async fn hear(a: &mut Raw, what: &str, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + PROMPT;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let r = tokio::time::timeout(left, a.response())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {PROMPT:?}; got {got:?}"));
        let done = pred(&r);
        got.push(r);
        if done {
            return got;
        }
    }
}

fn ok(r: &[String], tag: &str) {
    assert!(tagged(r).starts_with(&format!("{tag} OK")), "{r:?}");
}

fn no_notifications(r: &[String]) {
    assert!(
        !r.iter()
            .any(|l| l.starts_with("* STATUS") || l.starts_with("* LIST")),
        "nothing may be reported: {r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_hears_other_mailboxes_and_the_selected_one() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    ok(&a.cmd("s", "SELECT INBOX").await, "s");
    let r = a
        .cmd(
            "n",
            "NOTIFY SET (selected (MessageNew (uid) MessageExpunge)) \
             (personal (MessageNew MessageExpunge FlagChange MailboxName))",
        )
        .await;
    ok(&r, "n");
    no_notifications(&r);
    a.send(b"i IDLE\r\n").await;
    assert!(a.response().await.starts_with("+ "), "IDLE continuation");

    // §5.4: a new mailbox is a LIST.
    ok(&b.cmd("c", "CREATE Work").await, "c");
    hear(&mut a, "LIST for CREATE", |l| {
        l == "* LIST () \".\" \"Work\"\r\n"
    })
    .await;

    // §5.2: a new message elsewhere is a STATUS (MESSAGES UIDNEXT …).
    ok(&b.append("a", "Work", "()", &message("w1", "x")).await, "a");
    hear(&mut a, "STATUS for APPEND", |l| {
        l.starts_with("* STATUS \"Work\" (MESSAGES 1 UIDNEXT 2 UNSEEN 1")
    })
    .await;

    // §5.1: a flag change is a STATUS with UIDVALIDITY and HIGHESTMODSEQ.
    ok(&b.cmd("s", "SELECT Work").await, "s");
    ok(&b.cmd("f", "STORE 1 +FLAGS.SILENT (\\Seen)").await, "f");
    hear(&mut a, "STATUS for STORE", |l| {
        l.starts_with("* STATUS \"Work\" (UIDVALIDITY ") && l.contains("UNSEEN 0 HIGHESTMODSEQ ")
    })
    .await;

    // §5.3: an expunge is a STATUS with the new MESSAGES.
    ok(&b.cmd("d", "STORE 1 +FLAGS.SILENT (\\Deleted)").await, "d");
    ok(&b.cmd("e", "EXPUNGE").await, "e");
    hear(&mut a, "STATUS for EXPUNGE", |l| {
        l.starts_with("* STATUS \"Work\" (MESSAGES 0 ")
    })
    .await;

    // The selected mailbox: EXISTS, then the FETCH MessageNew asked for; no STATUS.
    ok(
        &b.append("a", "INBOX", "()", &message("i1", "x")).await,
        "a",
    );
    let got = hear(&mut a, "FETCH for the selected mailbox", |l| {
        l == "* 1 FETCH (UID 1)\r\n"
    })
    .await;
    assert!(got.iter().any(|l| l == "* 1 EXISTS\r\n"), "{got:?}");
    assert!(
        !got.iter().any(|l| l.starts_with("* STATUS \"INBOX\"")),
        "no STATUS for the selected mailbox: {got:?}"
    );

    // §5.4: a rename is a LIST of the new name with OLDNAME.
    ok(&b.cmd("u", "UNSELECT").await, "u");
    ok(&b.cmd("r", "RENAME Work Play").await, "r");
    hear(&mut a, "LIST for RENAME", |l| {
        l == "* LIST () \".\" \"Play\" (\"OLDNAME\" (\"Work\"))\r\n"
    })
    .await;
    ok(&b.cmd("x", "DELETE Play").await, "x");
    hear(&mut a, "LIST for DELETE", |l| {
        l == "* LIST (\\NonExistent) \".\" \"Play\"\r\n"
    })
    .await;

    a.send(b"DONE\r\n").await;
    ok(&a.until("i").await, "i");

    // NOTIFY NONE stops it; the selected mailbox still updates with commands.
    ok(&a.cmd("n", "NOTIFY NONE").await, "n");
    ok(&b.cmd("c", "CREATE Quiet").await, "c");
    ok(
        &b.append("a", "Quiet", "()", &message("q1", "x")).await,
        "a",
    );
    ok(
        &b.append("a", "INBOX", "()", &message("i2", "x")).await,
        "a",
    );
    let r = a.cmd("p", "NOOP").await;
    ok(&r, "p");
    no_notifications(&r);
    assert!(r.iter().any(|l| l == "* 2 EXISTS\r\n"), "{r:?}");
    assert!(
        !r.iter().any(|l| l.contains("FETCH")),
        "no MessageNew FETCH after NOTIFY NONE: {r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_arrive_between_commands_and_with_responses() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    ok(&b.cmd("c", "CREATE Lists").await, "c");
    ok(&b.cmd("c", "CREATE Other").await, "c");
    // §6.5 subtree and §6.4 subscribed, with SubscriptionChange (§5.5).
    let r = a
        .cmd(
            "n",
            "NOTIFY SET STATUS (subtree Lists (MessageNew MessageExpunge)) \
             (subscribed (SubscriptionChange))",
        )
        .await;
    ok(&r, "n");
    // §3.1: the initial STATUS for the watched mailbox only.
    assert!(
        r.iter()
            .any(|l| l.starts_with("* STATUS \"Lists\" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY ")),
        "{r:?}"
    );
    assert!(
        !r.iter().any(|l| l.starts_with("* STATUS \"Other\"")),
        "{r:?}"
    );

    // Not idling, no command in progress: the event is sent as it happens.
    ok(&b.cmd("c", "CREATE Lists.rust").await, "c");
    ok(
        &b.append("a", "Lists.rust", "()", &message("r1", "x")).await,
        "a",
    );
    hear(&mut a, "unsolicited STATUS", |l| {
        l.starts_with("* STATUS \"Lists.rust\" (MESSAGES 1 UIDNEXT 2 UNSEEN 1)")
    })
    .await;
    ok(&b.cmd("s", "SUBSCRIBE Other").await, "s");
    hear(&mut a, "LIST for SUBSCRIBE", |l| {
        l == "* LIST (\\Subscribed) \".\" \"Other\"\r\n"
    })
    .await;
    ok(&b.cmd("s", "UNSUBSCRIBE Other").await, "s");
    hear(&mut a, "LIST for UNSUBSCRIBE", |l| {
        l == "* LIST () \".\" \"Other\"\r\n"
    })
    .await;

    // Events outside the filters are not reported.
    ok(
        &b.append("a", "Other", "()", &message("o1", "x")).await,
        "a",
    );
    ok(
        &b.append("a", "Lists", "()", &message("l1", "x")).await,
        "a",
    );
    let got = hear(&mut a, "STATUS Lists", |l| {
        l.starts_with("* STATUS \"Lists\" ")
    })
    .await;
    assert!(
        !got.iter().any(|l| l.contains("Other")),
        "Other is not watched: {got:?}"
    );

    // §3.1: unsupported events are NO [BADEVENT (supported)], bad groups BAD, and
    // neither changes what is in force.
    let r = a.cmd("b", "NOTIFY SET (personal (AnnotationChange))").await;
    assert_eq!(
        tagged(&r),
        "b NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName \
         SubscriptionChange)] Unsupported NOTIFY event\r\n"
    );
    let r = a.cmd("b", "NOTIFY SET (selected (MessageNew))").await;
    assert!(tagged(&r).starts_with("b BAD "), "{r:?}");
    ok(
        &b.append("a", "Lists", "()", &message("l2", "x")).await,
        "a",
    );
    hear(&mut a, "STATUS still in force", |l| {
        l.starts_with("* STATUS \"Lists\" (MESSAGES 2 ")
    })
    .await;
    let r = a.cmd("c", "CAPABILITY").await;
    assert!(r[0].contains(" NOTIFY"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn falling_behind_overflows_into_notify_none() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    ok(&b.cmd("c", "CREATE Other").await, "c");
    ok(
        &a.cmd(
            "n",
            "NOTIFY SET (personal (MessageNew MessageExpunge SubscriptionChange))",
        )
        .await,
        "n",
    );
    // A is inside a command (waiting for an APPEND literal): nothing is read from
    // the bus while B makes more events than it holds.
    a.send(b"x APPEND Other {5}\r\n").await;
    assert!(a.response().await.starts_with("+ "), "literal continuation");
    let mut burst = Vec::new();
    for i in 0..=USER_EVENTS_PENDING {
        let verb = if i % 2 == 0 {
            "SUBSCRIBE"
        } else {
            "UNSUBSCRIBE"
        };
        burst.extend_from_slice(format!("t{i} {verb} Other\r\n").as_bytes());
    }
    b.send(&burst).await;
    ok(
        &b.until(&format!("t{USER_EVENTS_PENDING}")).await,
        &format!("t{USER_EVENTS_PENDING}"),
    );
    a.send(b"hello\r\n").await;
    let r = a.until("x").await;
    ok(&r, "x");
    assert!(
        r.iter()
            .any(|l| l.starts_with("* OK [NOTIFICATIONOVERFLOW] ")),
        "{r:?}"
    );
    // §5.8: as after NOTIFY NONE.
    ok(
        &b.append("a", "Other", "()", &message("o1", "x")).await,
        "a",
    );
    let r = a.cmd("p", "NOOP").await;
    ok(&r, "p");
    no_notifications(&r);
}
