//! RFC 3501 §2.3.2 `\Recent`: a message is recent for exactly one session, the first
//! to see it read-write; EXAMINE looks without taking it.

mod common;
use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_goes_to_exactly_one_session() {
    let s = start().await;
    for i in 0..3 {
        s.store
            .deliver(message(&format!("r{i}"), "body"), &[s.user()])
            .await
            .expect("deliver");
    }
    // EXAMINE peeks: it sees 3 recent and takes none.
    let mut peek = s.raw_login().await;
    let r = peek.cmd("e", "EXAMINE INBOX").await;
    assert_eq!(recent_count(&r), Some(3), "{r:?}");
    // The first read-write SELECT claims them all…
    let mut first = s.raw_login().await;
    let r = first.cmd("s", "SELECT INBOX").await;
    assert_eq!(recent_count(&r), Some(3), "{r:?}");
    let r = first.cmd("f", "FETCH 1:* (FLAGS)").await;
    assert!(
        r.iter().filter(|l| l.contains("\\Recent")).count() == 3,
        "{r:?}"
    );
    // …so a later one sees none.
    let mut second = s.raw_login().await;
    let r = second.cmd("s", "SELECT INBOX").await;
    assert_eq!(recent_count(&r), Some(0), "{r:?}");
    let r = second.cmd("f", "FETCH 1:* (FLAGS)").await;
    assert!(!r.iter().any(|l| l.contains("\\Recent")), "{r:?}");
    // New mail while both are selected: recent for exactly one of them.
    s.store
        .deliver(message("r3", "body"), &[s.user()])
        .await
        .expect("deliver");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = [None, None];
    while seen.iter().any(Option::is_none) {
        assert!(
            Instant::now() < deadline,
            "both sessions see the new message: {seen:?}"
        );
        for (i, session) in [&mut first, &mut second].into_iter().enumerate() {
            if seen[i].is_some() {
                continue;
            }
            let r = session.cmd("n", "NOOP").await;
            if r.iter().any(|l| l.trim_end() == "* 4 EXISTS") {
                let f = session.cmd("g", "FETCH 4 (FLAGS)").await;
                seen[i] = Some(f.iter().any(|l| l.contains("\\Recent")));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        seen.iter().filter(|r| **r == Some(true)).count(),
        1,
        "exactly one session has the new message as \\Recent: {seen:?}"
    );
}

/// RFC 3501 §2.3.2 with APPEND into the selected mailbox: the appending session is the
/// first to be told, so the message is `\Recent` there and nowhere else; mail that
/// arrived just before and that no session has seen yet goes with it (the APPEND
/// claims up to its own UID in the same store request). Another session's NOOP then
/// reports the new messages with `* 0 RECENT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_is_recent_in_the_appending_session_only() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    a.cmd("s", "SELECT INBOX").await;
    b.cmd("s", "SELECT INBOX").await;
    for round in 0..3u32 {
        // Delivered while both sessions wait: nobody has seen it when A appends.
        s.store
            .deliver(message(&format!("d{round}"), "body"), &[s.user()])
            .await
            .expect("deliver");
        let exists = 2 * (round + 1);
        let r = a
            .append("a", "INBOX", "()", &message(&format!("a{round}"), "body"))
            .await;
        assert!(tagged(&r).starts_with("a OK"), "{r:?}");
        assert!(
            r.contains(&format!("* {exists} EXISTS\r\n")),
            "round {round}: {r:?}"
        );
        // Every message so far came in while A was selected and was claimed by A.
        assert_eq!(
            recent_count(&r),
            Some(exists.into()),
            "round {round}: {r:?}"
        );
        let f = a
            .cmd("f", &format!("FETCH {}:{exists} (FLAGS)", exists - 1))
            .await;
        assert_eq!(
            f.iter().filter(|l| l.contains("\\Recent")).count(),
            2,
            "round {round}: {f:?}"
        );
        let r = b.cmd("n", "NOOP").await;
        assert!(
            r.contains(&format!("* {exists} EXISTS\r\n")),
            "round {round}: {r:?}"
        );
        assert_eq!(recent_count(&r), Some(0), "round {round}: {r:?}");
        let f = b.cmd("f", "FETCH 1:* (FLAGS)").await;
        assert!(
            !f.iter().any(|l| l.contains("\\Recent")),
            "round {round}: {f:?}"
        );
    }
}
