//! CATENATE (RFC 4469) over a real socket: messages built from TEXT literals and IMAP
//! URLs (RFC 5092), BADURL, TRYCREATE, TOOBIG, and MULTIAPPEND atomicity when a
//! later message's URL is bad.

mod common;

use common::{Raw, message, start, start_with, tagged};

/// `tag APPEND mailbox CATENATE (…)` with `parts` (TEXT data sent as LITERAL+).
async fn catenate(a: &mut Raw, tag: &str, mailbox: &str, messages: &[&[Part<'_>]]) -> Vec<String> {
    let mut cmd = format!("{tag} APPEND {mailbox}").into_bytes();
    for parts in messages {
        cmd.extend_from_slice(b" CATENATE (");
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                cmd.push(b' ');
            }
            match part {
                Part::Text(t) => {
                    cmd.extend_from_slice(format!("TEXT {{{}+}}\r\n", t.len()).as_bytes());
                    cmd.extend_from_slice(t);
                }
                Part::Url(u) => cmd.extend_from_slice(format!("URL \"{u}\"").as_bytes()),
            }
        }
        cmd.push(b')');
    }
    cmd.extend_from_slice(b"\r\n");
    a.send(&cmd).await;
    a.until(tag).await
}

enum Part<'a> {
    Text(&'a [u8]),
    Url(&'a str),
}

fn messages_in(s: &common::Server, mailbox: &str) -> usize {
    let mb = s
        .store
        .mailbox_blocking(&s.user(), mailbox)
        .expect("read")
        .expect("mailbox");
    s.store.messages_blocking(mb.id).expect("messages").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn catenate_builds_from_urls_and_refuses_bad_ones() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let caps = a.cmd("c", "CAPABILITY").await;
    assert!(caps[0].contains(" CATENATE"), "{caps:?}");
    let original = message("orig", "original body");
    let r = a.append("a1", "INBOX", "()", &original).await;
    assert!(tagged(&r).starts_with("a1 OK"), "{r:?}");
    let r = a.cmd("a2", "CREATE Built").await;
    assert!(tagged(&r).starts_with("a2 OK"), "{r:?}");
    let validity = s
        .store
        .mailbox_blocking(&s.user(), "INBOX")
        .expect("read")
        .expect("inbox")
        .uidvalidity
        .0;

    // RFC 4469 Appendix A: the header of one message, new text, part 1 of it.
    let header_url = format!("/INBOX;UIDVALIDITY={validity}/;UID=1/;SECTION=HEADER");
    let r = catenate(
        &mut a,
        "a3",
        "Built",
        &[&[
            Part::Url(&header_url),
            Part::Text(b"new text\r\n"),
            Part::Url("/INBOX/;uid=1/;section=1/;partial=0.8"),
        ]],
    )
    .await;
    assert!(tagged(&r).starts_with("a3 OK [APPENDUID "), "{r:?}");
    a.cmd("a4", "SELECT Built").await;
    let r = a.cmd("a5", "FETCH 1 BODY.PEEK[]").await;
    let (header, _) = original.split_at(
        original
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("blank line")
            + 4,
    );
    let want = [header, b"new text\r\n", b"original"].concat();
    let literal = format!("{{{}}}\r\n{})", want.len(), String::from_utf8_lossy(&want));
    assert!(r[0].contains(&literal), "{r:?}");
    // `;UID=` alone is relative to the selected mailbox (RFC 5092 §6).
    let r = catenate(
        &mut a,
        "a6",
        "Built",
        &[&[Part::Url(";UID=1/;SECTION=TEXT")]],
    )
    .await;
    assert!(tagged(&r).starts_with("a6 OK"), "{r:?}");

    // A bad UIDVALIDITY, a missing UID, a missing part, another user, garbage: NO
    // [BADURL url] with the URL bare (RFC 4469 §4.1, errata 4046), nothing stored.
    let before = messages_in(&s, "Built");
    for (i, url) in [
        "/INBOX;UIDVALIDITY=1/;UID=1".to_string(),
        "/INBOX/;UID=99".into(),
        "/INBOX/;UID=1/;SECTION=4.2".into(),
        "imap://bob@example.com/INBOX/;UID=1".into(),
        "imap://alice@elsewhere.example/INBOX/;UID=1".into(),
        "/INBOX".into(),
        "http://example.com/".into(),
    ]
    .iter()
    .enumerate()
    {
        let tag = format!("b{i}");
        let r = catenate(
            &mut a,
            &tag,
            "Built",
            &[&[Part::Text(b"Subject: x\r\n\r\n"), Part::Url(url)]],
        )
        .await;
        assert_eq!(
            tagged(&r),
            format!("{tag} NO [BADURL {url}] CATENATE URL is invalid or names no message part\r\n"),
            "{r:?}"
        );
    }
    // MULTIAPPEND: the first message is fine, the second has a bad URL: nothing is
    // stored (RFC 3502 §6.3.11).
    let r = catenate(
        &mut a,
        "c1",
        "Built",
        &[
            &[Part::Url("/INBOX/;UID=1")],
            &[
                Part::Text(b"Subject: y\r\n\r\n"),
                Part::Url("/INBOX/;UID=7"),
            ],
        ],
    )
    .await;
    assert!(
        tagged(&r).starts_with("c1 NO [BADURL /INBOX/;UID=7]"),
        "{r:?}"
    );
    assert_eq!(messages_in(&s, "Built"), before);
    let r = a.cmd("c2", "NOOP").await;
    assert!(!r.iter().any(|l| l.contains("EXISTS")), "{r:?}");

    // A missing target is TRYCREATE before any URL is looked at.
    let r = catenate(
        &mut a,
        "d1",
        "Nope",
        &[&[Part::Url("/INBOX;UIDVALIDITY=1/;UID=1")]],
    )
    .await;
    assert!(tagged(&r).starts_with("d1 NO [TRYCREATE]"), "{r:?}");
    // Catenating only an empty partial is an empty message.
    let r = catenate(
        &mut a,
        "d2",
        "Built",
        &[&[Part::Url("/INBOX/;UID=1/;PARTIAL=100000.1")]],
    )
    .await;
    assert!(tagged(&r).starts_with("d2 NO [CANNOT]"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn catenate_over_the_size_limit_is_toobig() {
    let s = start_with(|c| c.limits.message_size = 2000).await;
    let mut a = s.raw_login().await;
    let big = message("big", &"x".repeat(1000));
    let r = a.append("a1", "INBOX", "()", &big).await;
    assert!(tagged(&r).starts_with("a1 OK"), "{r:?}");
    // Two copies of a 1200-byte message are over the 2000-byte limit (RFC 4469 §4.2).
    let r = catenate(
        &mut a,
        "a2",
        "INBOX",
        &[&[Part::Url("/INBOX/;UID=1"), Part::Url("/INBOX/;UID=1")]],
    )
    .await;
    assert!(tagged(&r).starts_with("a2 NO [TOOBIG]"), "{r:?}");
    assert_eq!(messages_in(&s, "INBOX"), 1);
}
