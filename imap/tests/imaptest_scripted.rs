//! The cases of Dovecot's imaptest scripted suite (`imaptest/tests/<name>`) that
//! mailyard once failed, replayed over a raw socket against the real daemon, so that
//! `cargo test` catches them without imaptest installed. Each test names its file.

mod common;

use common::{Raw, start, tagged};

/// Untagged lines of `r` that start with `prefix` (case-sensitive).
fn lines<'a>(r: &'a [String], prefix: &str) -> Vec<&'a str> {
    r.iter()
        .map(String::as_str)
        .filter(|l| l.starts_with(prefix))
        .collect()
}

fn ok(r: &[String], tag: &str) {
    assert!(tagged(r).starts_with(&format!("{tag} OK")), "{r:?}");
}

/// `atoms`: a LIST pattern of every ATOM-CHAR, `&` included, is a pattern (OK, no
/// match), not a mailbox name that failed modified UTF-7 decoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn atoms_list_pattern_with_bare_ampersand() {
    let s = start().await;
    let mut raw = s.raw_login().await;
    let r = raw.cmd("a1", "list \"\" ~foo").await;
    ok(&r, "a1");
    let r = raw.cmd("a2", "select ~foo").await;
    assert!(tagged(&r).starts_with("a2 NO"), "{r:?}");
    let r = raw
        .cmd("a3", "select !#$&'+,-.0123456789:;<=>?@^_`|[}")
        .await;
    assert!(tagged(&r).starts_with("a3 NO"), "{r:?}");
    let r = raw
        .cmd("a4", "list \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*")
        .await;
    ok(&r, "a4");
    assert!(lines(&r, "* LIST").is_empty(), "{r:?}");
    // A bare `&` followed by a wildcard matches names as the client sees them.
    let r = raw.cmd("a5", "create \"&AOk-t&AOk-\"").await;
    ok(&r, "a5");
    let r = raw.cmd("a6", "list \"\" &*").await;
    ok(&r, "a6");
    assert_eq!(
        lines(&r, "* LIST"),
        vec!["* LIST (\\HasNoChildren) \".\" \"&AOk-t&AOk-\"\r\n"],
        "{r:?}"
    );
    let r = raw.cmd("a7", "lsub \"\" &").await;
    ok(&r, "a7");
}

async fn listext_setup(raw: &mut Raw) {
    let mut n = 0;
    let mut run = |cmd: String| {
        n += 1;
        (format!("s{n}"), cmd)
    };
    let mut cmds = Vec::new();
    for name in [
        "t",
        "t.test1",
        "t.test2",
        "t.test2.test1",
        "t.test3",
        "t.test4.test5",
        "t.test4.test52",
        "t.test6",
        "t.test7.test7",
        "t.test8.test8",
        "t.test8.test9",
    ] {
        cmds.push(run(format!("create {name}")));
    }
    for name in [
        "t.test1",
        "t.test2.test1",
        "t.test6",
        "t.test7.test7",
        "t.test8.test8",
        "t.test8.test9",
    ] {
        cmds.push(run(format!("subscribe {name}")));
    }
    cmds.push(run("delete t.test6".into()));
    for (tag, cmd) in cmds {
        let r = raw.cmd(&tag, &cmd).await;
        ok(&r, &tag);
    }
}

/// `listext`: RFC 5258 §3.5 RECURSIVEMATCH with several patterns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listext_recursivematch() {
    let s = start().await;
    let mut raw = s.raw_login().await;
    listext_setup(&mut raw).await;
    let list = |r: &[String]| -> Vec<String> {
        let mut v: Vec<String> = lines(r, "* LIST").iter().map(|l| l.to_string()).collect();
        v.sort();
        v
    };
    // test2.test1 matches a pattern itself: test2 gets no CHILDINFO line.
    let r = raw
        .cmd(
            "l1",
            "list (subscribed recursivematch) \"\" (t.test2 t.test2.test1)",
        )
        .await;
    ok(&r, "l1");
    assert_eq!(
        list(&r),
        vec!["* LIST (\\HasNoChildren \\Subscribed) \".\" \"t.test2.test1\"\r\n"]
    );
    // Only test2 matches: CHILDINFO for its subscribed child.
    let r = raw
        .cmd("l2", "list (subscribed recursivematch) \"\" (t.test2)")
        .await;
    ok(&r, "l2");
    assert_eq!(
        list(&r),
        vec!["* LIST (\\HasChildren) \".\" \"t.test2\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"]
    );
    // test7.test7 matches `t*test7` itself: test7 is not reported.
    let r = raw
        .cmd("l3", "list (subscribed recursivematch) \"\" t*test7")
        .await;
    ok(&r, "l3");
    assert_eq!(
        list(&r),
        vec!["* LIST (\\HasNoChildren \\Subscribed) \".\" \"t.test7.test7\"\r\n"]
    );
    // test8.test9 does not match `t*test8`: test8 (a parent never created)
    // gets CHILDINFO.
    let r = raw
        .cmd("l4", "list (subscribed recursivematch) \"\" t*test8")
        .await;
    ok(&r, "l4");
    assert_eq!(
        list(&r),
        vec![
            "* LIST (\\HasNoChildren \\Subscribed) \".\" \"t.test8.test8\"\r\n",
            "* LIST (\\NonExistent \\HasChildren) \".\" \"t.test8\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
        ]
    );
}

/// `esearch-condstore`: the first CONDSTORE-enabling command in selected state
/// announces HIGHESTMODSEQ; MIN/MAX report their own message's MODSEQ.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn esearch_condstore_min_max_modseq() {
    let s = start().await;
    let mut raw = s.raw_login().await;
    for i in 0..4 {
        let r = raw
            .append(
                &format!("p{i}"),
                "INBOX",
                "()",
                &common::message(&format!("m{i}"), "x"),
            )
            .await;
        ok(&r, &format!("p{i}"));
    }
    let r = raw.cmd("s", "select INBOX").await;
    ok(&r, "s");
    let r = raw.cmd("f", "fetch 1 modseq").await;
    ok(&r, "f");
    assert_eq!(lines(&r, "* OK [HIGHESTMODSEQ ").len(), 1, "{r:?}");
    // A second one announces nothing more.
    let r = raw.cmd("f2", "fetch 1 modseq").await;
    assert!(lines(&r, "* OK [HIGHESTMODSEQ ").is_empty(), "{r:?}");
    let mut modseq = [0u64; 5];
    for n in [1, 3, 2, 4] {
        let r = raw
            .cmd(&format!("st{n}"), &format!("store {n} +flags \\seen"))
            .await;
        ok(&r, &format!("st{n}"));
        modseq[n] = common::number_after(&r, "MODSEQ").expect("MODSEQ");
    }
    assert!(modseq[1] < modseq[3] && modseq[3] < modseq[2] && modseq[2] < modseq[4]);
    let cases = [
        ("return (min) 1:3", format!("MIN 1 MODSEQ {}", modseq[1])),
        ("return (max) 1:3", format!("MAX 3 MODSEQ {}", modseq[3])),
        ("return () 1:3", format!("ALL 1:3 MODSEQ {}", modseq[2])),
        (
            "return (min max) 2:3",
            format!("MIN 2 MAX 3 MODSEQ {}", modseq[2]),
        ),
        (
            "return (count) 1:3",
            format!("COUNT 3 MODSEQ {}", modseq[2]),
        ),
    ];
    for (i, (args, want)) in cases.iter().enumerate() {
        let tag = format!("q{i}");
        let r = raw
            .cmd(
                &tag,
                &format!("search {args} modseq \"/flags/\\\\seen\" all 1"),
            )
            .await;
        ok(&r, &tag);
        assert_eq!(
            lines(&r, "* ESEARCH"),
            vec![format!("* ESEARCH (TAG \"{tag}\") {want}\r\n")],
            "{args}"
        );
    }
}

/// `sort-addresses`: SORT CC on the first address, where a group's name counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sort_addresses_with_group_syntax() {
    let s = start().await;
    let mut raw = s.raw_login().await;
    let messages = [
        "From: user2@domain2.org\r\nTo: foo bar <user2@domain2.org>\r\nCc: user2@domain2.org (foo bar)\r\n\r\n1\r\n",
        "From: user2@domain1.org\r\nTo: user2@domain1.org\r\nCc: user2: blah@domain1.org;\r\n\r\n2\r\n",
        "From: user1@domain1.org\r\nTo: user1@domain1.org\r\nCc: user1@domain1.org\r\n\r\n3\r\n",
    ];
    for (i, m) in messages.iter().enumerate() {
        // The mbox's arrival times: one hour apart.
        let date = format!("() \"22-Feb-2008 0{i}:06:23 +0000\"");
        let r = raw
            .append(&format!("p{i}"), "INBOX", &date, m.as_bytes())
            .await;
        ok(&r, &format!("p{i}"));
    }
    ok(&raw.cmd("s", "select INBOX").await, "s");
    let cases = [
        ("from", "3 1 2"),
        ("to", "3 1 2"),
        ("cc", "3 1 2"),
        ("reverse from", "1 2 3"),
        ("reverse to", "1 2 3"),
        ("reverse cc", "1 2 3"),
        ("from reverse arrival", "3 2 1"),
        ("to reverse arrival", "3 2 1"),
        ("cc reverse arrival", "3 2 1"),
    ];
    for (i, (criteria, want)) in cases.iter().enumerate() {
        let tag = format!("o{i}");
        let r = raw
            .cmd(&tag, &format!("sort ({criteria}) us-ascii all"))
            .await;
        ok(&r, &tag);
        assert_eq!(
            lines(&r, "* SORT"),
            vec![format!("* SORT {want}\r\n")],
            "{criteria}"
        );
    }
}

/// `append-binary`: a literal8 APPEND of a `binary` part with a NUL. BODY[1] is an
/// IMAP string (never a NUL, not the raw octets); BINARY[1] gives them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn append_binary_literal8() {
    let s = start().await;
    let mut raw = s.raw_login().await;
    let mut msg = b"From: user@domain.org\r\nDate: Sat, 24 Mar 2007 23:00:00 +0200\r\n\
Mime-Version: 1.0\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    let content = b"\x00-\xe4\n\r\n\n";
    msg.extend_from_slice(content);
    let mut cmd = format!("p APPEND INBOX ~{{{}+}}\r\n", msg.len()).into_bytes();
    cmd.extend_from_slice(&msg);
    cmd.extend_from_slice(b"\r\n");
    raw.send(&cmd).await;
    ok(&raw.until("p").await, "p");
    ok(&raw.cmd("s", "select INBOX").await, "s");
    let r = raw.cmd("f1", "fetch 1 (body.peek[1])").await;
    ok(&r, "f1");
    assert!(!r[0].contains('\0'), "{r:?}");
    assert!(r[0].starts_with("* 1 FETCH (BODY[1] {"), "{r:?}");
    assert!(!r[0].contains("-\u{fffd}\n\r\n\n)"), "raw octets: {r:?}");
    // Base64 of the content.
    assert!(r[0].contains("AC3kCg0KCg=="), "{r:?}");
    raw.send(b"f2 fetch 1 (binary.size[1] binary.peek[1])\r\n")
        .await;
    let r = raw.until("f2").await;
    ok(&r, "f2");
    assert!(
        r[0].starts_with("* 1 FETCH (BINARY.SIZE[1] 7 BINARY[1] ~{7}\r\n\0-"),
        "{r:?}"
    );
    // RFC822.SIZE and BODYSTRUCTURE describe the stored (base64) form.
    let r = raw.cmd("f3", "fetch 1 (bodystructure)").await;
    ok(&r, "f3");
    assert!(r[0].contains("\"base64\""), "{r:?}");
}
