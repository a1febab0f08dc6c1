//! URLAUTH (RFC 4467) and URLAUTH=BINARY (RFC 5524) over a real socket: GENURLAUTH,
//! URLFETCH by the owner and by another user, and NIL for forged, expired,
//! reset, foreign and unauthorized URLs.

mod common;

use common::{PASS, Raw, message, start, tagged};
use mailyard_store::Address;

/// The URL of a `* GENURLAUTH url` response.
fn generated(r: &[String]) -> String {
    let line = r
        .iter()
        .find(|l| l.starts_with("* GENURLAUTH "))
        .unwrap_or_else(|| panic!("no GENURLAUTH response: {r:?}"));
    line["* GENURLAUTH ".len()..].trim_end().to_string()
}

/// `URLFETCH url`: the data after the URL (`NIL` or the literal's content).
async fn urlfetch(a: &mut Raw, tag: &str, url: &str) -> String {
    let r = a.cmd(tag, &format!("URLFETCH {url}")).await;
    assert!(tagged(&r).starts_with(&format!("{tag} OK")), "{r:?}");
    let line = r
        .iter()
        .find(|l| l.starts_with("* URLFETCH "))
        .unwrap_or_else(|| panic!("no URLFETCH response: {r:?}"));
    let rest = line
        .strip_prefix(&format!("* URLFETCH {url} "))
        .unwrap_or_else(|| panic!("URL not echoed: {line}"));
    match rest.find("}\r\n") {
        Some(end) => rest[end + 3..].trim_end_matches("\r\n").to_string(),
        None => rest.trim_end().to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn genurlauth_urlfetch_and_every_refusal() {
    let s = start().await;
    let bob = Address::parse("bob@example.com").expect("address");
    s.store.accounts().add_user(&bob, PASS).expect("bob");
    s.store.setup_user_blocking(&bob).expect("bob's mailboxes");
    let mut a = s.raw_login().await;
    let caps = a.cmd("c", "CAPABILITY").await;
    assert!(
        caps[0].contains(" URLAUTH ") && caps[0].contains(" URLAUTH=BINARY"),
        "{caps:?}"
    );
    let body = message("shared", "the shared body");
    let r = a.append("a1", "INBOX", "()", &body).await;
    assert!(tagged(&r).starts_with("a1 OK"), "{r:?}");
    let text = String::from_utf8(body.clone()).expect("ascii");

    // user+alice: alice may fetch it.
    let rump = "imap://alice@example.com/INBOX/;uid=1;urlauth=user+alice@example.com";
    let r = a
        .cmd("g1", &format!("GENURLAUTH \"{rump}\" INTERNAL"))
        .await;
    assert!(tagged(&r).starts_with("g1 OK"), "{r:?}");
    let mine = generated(&r);
    assert!(mine.starts_with(&format!("{rump}:internal:")), "{mine}");
    assert_eq!(
        urlfetch(&mut a, "f1", &mine).await,
        text.trim_end_matches("\r\n")
    );
    // A section and a partial, and the extended form (RFC 5524).
    let rump = "imap://alice@example.com/INBOX/;uid=1/;section=TEXT/;partial=4.6;urlauth=authuser";
    let authuser = generated(
        &a.cmd("g2", &format!("GENURLAUTH \"{rump}\" INTERNAL"))
            .await,
    );
    assert_eq!(urlfetch(&mut a, "f2", &authuser).await, "shared");
    let rump = "imap://alice@example.com/INBOX/;uid=1/;section=1;urlauth=authuser";
    let part = generated(
        &a.cmd("g6", &format!("GENURLAUTH \"{rump}\" INTERNAL"))
            .await,
    );
    let r = a
        .cmd("f3", &format!("URLFETCH ({part} BODY BODYPARTSTRUCTURE)"))
        .await;
    assert!(tagged(&r).starts_with("f3 OK"), "{r:?}");
    assert_eq!(
        r[0],
        format!(
            "* URLFETCH {part} (BODYPARTSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") \
             NIL NIL \"7bit\" 17 1 NIL NIL NIL NIL) BODY {{17}}\r\nthe shared body\r\n)\r\n"
        )
    );
    let r = a.cmd("f4", &format!("URLFETCH ({part} BINARY)")).await;
    assert_eq!(
        r[0],
        format!("* URLFETCH {part} (BINARY {{17}}\r\nthe shared body\r\n)\r\n")
    );
    // A HEADER/TEXT section has no structure of its own (RFC 5524 §3): NIL.
    let r = a
        .cmd("f5", &format!("URLFETCH ({authuser} BODYPARTSTRUCTURE)"))
        .await;
    assert_eq!(r[0], format!("* URLFETCH {authuser} NIL\r\n"));

    // Bob: authuser admits him, user+alice does not; his own URLs are his.
    let mut b = s.raw().await;
    b.response().await;
    let r = b.cmd("L", &format!("LOGIN bob@example.com {PASS}")).await;
    assert!(tagged(&r).starts_with("L OK"), "{r:?}");
    assert_eq!(urlfetch(&mut b, "b1", &authuser).await, "shared");
    assert_eq!(urlfetch(&mut b, "b2", &mine).await, "NIL");
    // Bob cannot authorize URLs into Alice's mailboxes.
    let r = b
        .cmd(
            "b3",
            "GENURLAUTH \"imap://alice@example.com/INBOX/;uid=1;urlauth=anonymous\" INTERNAL",
        )
        .await;
    assert!(tagged(&r).starts_with("b3 NO [NOPERM]"), "{r:?}");

    // Forged: one hex digit changed. Wrong mechanism, a rump without a token, a
    // URL of another server, a relative URL: NIL, and the command still succeeds.
    let mut forged = mine.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).expect("ascii");
    assert_eq!(urlfetch(&mut a, "n1", &forged).await, "NIL");
    assert_eq!(
        urlfetch(&mut a, "n2", &mine.replace(":internal:", ":other:")).await,
        "NIL"
    );
    let bare = "imap://alice@example.com/INBOX/;uid=1;urlauth=user+alice@example.com";
    assert_eq!(urlfetch(&mut a, "n3", bare).await, "NIL");
    assert_eq!(
        urlfetch(
            &mut a,
            "n4",
            &mine.replace("@example.com/", "@elsewhere.example/")
        )
        .await,
        "NIL"
    );
    assert_eq!(urlfetch(&mut a, "n5", "/INBOX/;uid=1").await, "NIL");
    // submit+alice is for the submission server only (RFC 4467 §3).
    let submit = generated(
        &a.cmd(
            "g3",
            "GENURLAUTH \"imap://alice@example.com/INBOX/;uid=1;urlauth=submit+alice@example.com\" INTERNAL",
        )
        .await,
    );
    assert_eq!(urlfetch(&mut a, "n6", &submit).await, "NIL");

    // Expired (RFC 4467 §3 ;EXPIRE=): NIL; one that expires later works.
    let past = generated(
        &a.cmd(
            "g4",
            "GENURLAUTH \"imap://alice@example.com/INBOX/;uid=1;expire=2001-01-01T00:00:00Z;urlauth=anonymous\" INTERNAL",
        )
        .await,
    );
    assert_eq!(urlfetch(&mut a, "n7", &past).await, "NIL");
    let future = generated(
        &a.cmd(
            "g5",
            "GENURLAUTH \"imap://alice@example.com/INBOX/;uid=1/;section=TEXT;expire=2999-01-01T00:00:00Z;urlauth=anonymous\" INTERNAL",
        )
        .await,
    );
    assert_eq!(urlfetch(&mut b, "b4", &future).await, "the shared body");
    // Changing ;EXPIRE= breaks the token.
    assert_eq!(
        urlfetch(&mut b, "b5", &future.replace("2999", "3999")).await,
        "NIL"
    );

    // Not rumps: BAD; an unknown mechanism or a missing mailbox: NO.
    let r = a.cmd("e1", "GENURLAUTH \"/INBOX/;uid=1\" INTERNAL").await;
    assert!(tagged(&r).starts_with("e1 BAD"), "{r:?}");
    let r = a
        .cmd("e2", &format!("GENURLAUTH \"{mine}\" INTERNAL"))
        .await;
    assert!(tagged(&r).starts_with("e2 BAD"), "{r:?}");
    let r = a.cmd("e3", &format!("GENURLAUTH \"{bare}\" XSHA1")).await;
    assert!(tagged(&r).starts_with("e3 NO"), "{r:?}");
    let r = a
        .cmd(
            "e4",
            "GENURLAUTH \"imap://alice@example.com/Nope/;uid=1;urlauth=anonymous\" INTERNAL",
        )
        .await;
    assert!(tagged(&r).starts_with("e4 NO [NONEXISTENT]"), "{r:?}");
    let r = a.cmd("e5", "RESETKEY Nope").await;
    assert!(tagged(&r).starts_with("e5 NO [NONEXISTENT]"), "{r:?}");

    // RESETKEY: every URL of the mailbox dies, for everyone.
    let r = a.cmd("r1", "RESETKEY INBOX INTERNAL").await;
    assert!(tagged(&r).starts_with("r1 OK"), "{r:?}");
    assert_eq!(urlfetch(&mut a, "r2", &mine).await, "NIL");
    assert_eq!(urlfetch(&mut b, "r3", &authuser).await, "NIL");
    assert_eq!(urlfetch(&mut b, "r4", &future).await, "NIL");
}
