//! QUOTA (RFC 9208) end to end, as Thunderbird uses it: `getquotaroot "<folder>"`
//! after every SELECT. Every reply must parse by the RFC 9208 formal syntax; in
//! particular a QUOTA response never has an empty resource list (`* QUOTA "" ()`
//! makes Thunderbird's parser fail and drop the connection).

mod common;

use common::{Raw, message, start, tagged};

/// `astring` (RFC 9051 §9) at the start of `s`: a quoted string or an atom; returns
/// the rest. Literals are not used for these short names.
fn astring(s: &str) -> Option<&str> {
    if let Some(rest) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => return Some(&rest[i + 1..]),
                _ => {}
            }
        }
        return None;
    }
    let end = s
        .find(|c: char| c == ' ' || c == '(' || c == ')' || c == '\r' || c.is_control())
        .unwrap_or(s.len());
    (end > 0).then(|| &s[end..])
}

/// RFC 9208 formal syntax: `"QUOTAROOT" SP mailbox *(SP quota-root-name)`.
fn is_quotaroot(line: &str) -> bool {
    let Some(mut rest) = line
        .strip_prefix("* QUOTAROOT ")
        .and_then(|l| l.strip_suffix("\r\n"))
        .and_then(astring)
    else {
        return false;
    };
    while let Some(r) = rest.strip_prefix(' ') {
        match astring(r) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// RFC 9208 formal syntax: `"QUOTA" SP quota-root-name SP quota_list`, `quota_list = "("
/// quota_resource *(SP quota_resource) ")"`, `quota_resource = resource-name SP
/// resource-usage SP resource-limit` (numbers).
fn is_quota(line: &str) -> bool {
    let Some(rest) = line
        .strip_prefix("* QUOTA ")
        .and_then(|l| l.strip_suffix("\r\n"))
        .and_then(astring)
        .and_then(|r| r.strip_prefix(" ("))
        .and_then(|r| r.strip_suffix(')'))
    else {
        return false;
    };
    let words: Vec<&str> = rest.split(' ').collect();
    !rest.is_empty()
        && words.len().is_multiple_of(3)
        && words.chunks(3).all(|w| {
            !w[0].is_empty()
                && w[0].chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && w[1].parse::<u64>().is_ok()
                && w[2].parse::<u64>().is_ok()
        })
}

#[test]
fn grammar_checks_themselves() {
    assert!(is_quotaroot("* QUOTAROOT \"INBOX\"\r\n"));
    assert!(is_quotaroot("* QUOTAROOT INBOX \"\"\r\n"));
    assert!(is_quotaroot("* QUOTAROOT \"a b\" \"\" \"x\"\r\n"));
    assert!(!is_quotaroot("* QUOTAROOT\r\n"));
    assert!(!is_quotaroot("* QUOTAROOT \"INBOX\" \r\n"));
    assert!(is_quota("* QUOTA \"\" (STORAGE 10 512)\r\n"));
    assert!(is_quota("* QUOTA \"\" (STORAGE 10 512 MESSAGE 1 10)\r\n"));
    assert!(!is_quota("* QUOTA \"\" ()\r\n"));
    assert!(!is_quota("* QUOTA \"\" (STORAGE 10)\r\n"));
}

/// Every untagged line of `r` about QUOTA parses; returns them.
fn quota_lines(r: &[String]) -> Vec<&str> {
    let lines: Vec<&str> = r
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("* QUOTA"))
        .collect();
    for l in &lines {
        assert!(
            is_quotaroot(l) || is_quota(l),
            "not RFC 9208 grammar: {l:?}"
        );
    }
    lines
}

async fn select(raw: &mut Raw, tag: &str, mailbox: &str) {
    let r = raw.cmd(tag, &format!("select \"{mailbox}\"")).await;
    assert!(tagged(&r).starts_with(&format!("{tag} OK")), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_quota_means_no_quota_root() {
    let s = start().await;
    let mut raw = s.raw_login().await;
    let caps = raw.cmd("c", "CAPABILITY").await;
    assert!(caps[0].contains(" QUOTA "), "{caps:?}");
    for (i, folder) in ["INBOX", "Sent", "Trash"].iter().enumerate() {
        select(&mut raw, &format!("s{i}"), folder).await;
        // Thunderbird's request, as it sends it.
        let r = raw
            .cmd(&format!("q{i}"), &format!("getquotaroot \"{folder}\""))
            .await;
        assert_eq!(
            quota_lines(&r),
            vec![format!("* QUOTAROOT \"{folder}\"\r\n")],
            "{r:?}"
        );
        assert!(tagged(&r).starts_with(&format!("q{i} OK")), "{r:?}");
    }
    let r = raw.cmd("g", "GETQUOTA \"\"").await;
    assert!(quota_lines(&r).is_empty(), "{r:?}");
    assert!(tagged(&r).starts_with("g NO [NONEXISTENT]"), "{r:?}");
    let r = raw.cmd("m", "GETQUOTAROOT \"No such\"").await;
    assert!(tagged(&r).starts_with("m NO [NONEXISTENT]"), "{r:?}");
    // The connection is still good: Thunderbird keeps using it.
    let r = raw.cmd("n", "noop").await;
    assert!(tagged(&r).starts_with("n OK"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_root_with_storage_usage_and_limit() {
    let s = start().await;
    let store = s.store.clone();
    let user = s.user();
    tokio::task::spawn_blocking(move || store.accounts().set_quota(&user, 10 * 1024 * 1024))
        .await
        .expect("join")
        .expect("set quota");
    for i in 0..3 {
        let body = "x".repeat(1500);
        s.store
            .deliver(message(&format!("q{i}"), &body), &[s.user()])
            .await
            .expect("deliver");
    }
    let (_, bytes, _) = s.store.quota_usage(&s.user()).await.expect("usage");
    let used = bytes.div_ceil(1024);
    assert!(used >= 5, "{bytes}");
    let want = format!("* QUOTA \"\" (STORAGE {used} 10240)\r\n");

    let mut raw = s.raw_login().await;
    select(&mut raw, "s", "INBOX").await;
    let r = raw.cmd("q", "getquotaroot \"INBOX\"").await;
    assert_eq!(
        quota_lines(&r),
        vec!["* QUOTAROOT \"INBOX\" \"\"\r\n", want.as_str()],
        "{r:?}"
    );
    assert!(tagged(&r).starts_with("q OK"), "{r:?}");
    let r = raw.cmd("g", "GETQUOTA \"\"").await;
    assert_eq!(quota_lines(&r), vec![want.as_str()], "{r:?}");
    assert!(tagged(&r).starts_with("g OK"), "{r:?}");
    let r = raw.cmd("h", "GETQUOTA \"other\"").await;
    assert!(tagged(&r).starts_with("h NO [NONEXISTENT]"), "{r:?}");
    let r = raw.cmd("x", "SETQUOTA \"\" (STORAGE 1)").await;
    assert!(tagged(&r).starts_with("x NO [NOPERM]"), "{r:?}");
}

/// RFC 9208 §5.1: an APPEND (one message or several, MULTIAPPEND) or a COPY that would
/// take the user over the quota fails with NO [OVERQUOTA] and stores nothing; one
/// that fits is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_quota_append_and_copy_store_nothing() {
    let s = start().await;
    let store = s.store.clone();
    let user = s.user();
    tokio::task::spawn_blocking(move || store.accounts().set_quota(&user, 6000))
        .await
        .expect("join")
        .expect("set quota");
    let mut raw = s.raw_login().await;
    let fits = message("fits", &"x".repeat(2000));
    let r = raw.append("a", "INBOX", "()", &fits).await;
    assert!(tagged(&r).starts_with("a OK"), "{r:?}");
    let big = message("big", &"y".repeat(5000));
    let r = raw.append("b", "INBOX", "()", &big).await;
    assert!(tagged(&r).starts_with("b NO [OVERQUOTA]"), "{r:?}");
    // Two that fit one by one but not together: neither is stored.
    let half = message("half", &"z".repeat(2000));
    let r = raw
        .multiappend("m", "INBOX", &[("", &half), ("", &half)])
        .await;
    assert!(tagged(&r).starts_with("m NO [OVERQUOTA]"), "{r:?}");
    let r = raw.cmd("st", "STATUS INBOX (MESSAGES)").await;
    assert!(r[0].contains("(MESSAGES 1)"), "{r:?}");
    // COPY of the stored message would double the usage past the quota.
    let r = raw.cmd("c0", "CREATE Copies").await;
    assert!(tagged(&r).starts_with("c0 OK"), "{r:?}");
    select(&mut raw, "s", "INBOX").await;
    let r = raw.cmd("c1", "COPY 1 Copies").await;
    assert!(tagged(&r).starts_with("c1 OK"), "{r:?}");
    let r = raw.cmd("c2", "COPY 1 Copies").await;
    assert!(tagged(&r).starts_with("c2 NO [OVERQUOTA]"), "{r:?}");
    let r = raw.cmd("st", "STATUS Copies (MESSAGES)").await;
    assert!(r[0].contains("(MESSAGES 1)"), "{r:?}");
    // Nothing was left behind in tmp/ by the refused APPENDs.
    let tmp = s
        .data_dir()
        .join("mail")
        .join(s.user().domain())
        .join(s.user().local())
        .join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("the user's tmp/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Python's imaplib (a second, independent parser) reads both shapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imaplib_reads_quota_replies() {
    let s = start().await;
    let out = s
        .python(
            r#"
M = login()
ok(M.select("INBOX"))
typ, data = M.getquotaroot("INBOX")
assert typ == "OK", (typ, data)
roots, quotas = data
assert roots == [b'"INBOX"'], data
assert quotas in ([], [None]), data
typ, data = M.getquota('""')
assert typ == "NO" and b"[NONEXISTENT]" in data[0], (typ, data)
print("done")
"#,
        )
        .await;
    assert!(out.contains("done"), "{out}");
}
