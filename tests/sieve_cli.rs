//! `mailyard sieve …` through the built binary: `check` (`FILE: ok`,
//! `FILE:LINE:COL: message` and the exit status), and a user's scripts stored (validated
//! first), listed, activated, renamed and deleted while `serve` runs on the same data dir.
//! `mailyard vacation|forward set|show|clear`: the scripts they write, chained with the
//! user's own, and what delivery then does (replies and redirects caught by an SMTP
//! sink that a DNS server on loopback names as remote.test's MX).

mod bin_support;
#[path = "tests/relay_support/mod.rs"]
mod relay_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bin_support::{JSON_LOG, addr, mailyard, python, serve, text};
use relay_support::{Got, SinkConf, Zone, dns_server, send, sinks, wait_until};

#[test]
fn sieve_check_reports_each_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.sieve");
    let bad = dir.path().join("bad.sieve");
    std::fs::write(
        &good,
        "require [\"fileinto\", \"envelope\"];\nif envelope :is \"to\" \"a@b.c\" { fileinto \"A\"; }\n",
    )
    .expect("write");
    std::fs::write(&bad, "keep;\nfileinto \"x\";\n").expect("write");

    let ok = Command::new(env!("CARGO_BIN_EXE_mailyard"))
        .args(["sieve", "check"])
        .arg(&good)
        .output()
        .expect("run");
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        format!("{}: ok\n", good.display())
    );

    let out = Command::new(env!("CARGO_BIN_EXE_mailyard"))
        .args(["sieve", "check"])
        .arg(&good)
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{}: ok\n", good.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{}:2:1: command 'fileinto' needs the \"fileinto\" extension",
            bad.display()
        )),
        "{stdout}"
    );
}

fn write_config(dir: &Path) -> PathBuf {
    bin_support::write_config(dir, "mailyard.toml", "data", &["smtp", "imap"], JSON_LOG)
}

const GOOD: &str = "require [\"fileinto\"];\r\nif header :contains \"subject\" \"[list]\" {\r\n  fileinto \"Lists\";\r\n}\r\n";
const BAD: &str =
    "require \"fileinto\";\nif header :contains \"subject\" \"x\" {\n  fileinto;\n}\n";

#[test]
fn a_users_scripts_while_serve_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = write_config(dir.path());
    let out = mailyard(
        &config,
        &["user", "add", "alice@example.com"],
        Some("s3cret pw\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let _server = serve(&config, 2);
    let ok = |args: &[&str], stdin: Option<&str>| {
        let out = mailyard(&config, args, stdin);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // A script with errors is refused and not stored.
    let out = mailyard(
        &config,
        &["sieve", "put", "alice@example.com", "broken", "-"],
        Some(BAD),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken:3:"),
        "{}",
        text(&out)
    );
    assert_eq!(ok(&["sieve", "list", "alice@example.com"], None), "");

    ok(
        &[
            "sieve",
            "put",
            "alice@example.com",
            "lists",
            "-",
            "--activate",
        ],
        Some(GOOD),
    );
    ok(
        &["sieve", "put", "alice@example.com", "spare", "-"],
        Some("keep;\n"),
    );
    assert_eq!(
        ok(&["sieve", "list", "alice@example.com"], None),
        format!("lists\t{}\tACTIVE\nspare\t6\n", GOOD.len())
    );
    assert_eq!(
        ok(&["sieve", "get", "alice@example.com", "lists"], None),
        GOOD
    );
    // The active script cannot be deleted.
    let out = mailyard(
        &config,
        &["sieve", "delete", "alice@example.com", "lists"],
        None,
    );
    assert!(!out.status.success(), "{}", text(&out));
    ok(
        &["sieve", "rename", "alice@example.com", "lists", "filters"],
        None,
    );
    ok(&["sieve", "activate", "alice@example.com", "spare"], None);
    assert_eq!(
        ok(&["sieve", "list", "alice@example.com"], None),
        format!("filters\t{}\nspare\t6\tACTIVE\n", GOOD.len())
    );
    ok(&["sieve", "deactivate", "alice@example.com"], None);
    ok(&["sieve", "delete", "alice@example.com", "spare"], None);
    assert_eq!(
        ok(&["sieve", "list", "alice@example.com"], None),
        format!("filters\t{}\n", GOOD.len())
    );
    // Unknown users and scripts are errors.
    let out = mailyard(&config, &["sieve", "list", "nobody@example.com"], None);
    assert!(!out.status.success(), "{}", text(&out));
    let out = mailyard(
        &config,
        &["sieve", "get", "alice@example.com", "nothing"],
        None,
    );
    assert!(!out.status.success(), "{}", text(&out));
}

const FILTERS: &str = "require [\"fileinto\", \"mailbox\"];\r\n\
if header :contains \"subject\" \"report\" {\r\n  fileinto :create \"Reports\";\r\n}\r\n";

/// Runs a mailyard command that must succeed; its stdout.
fn must(config: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = mailyard(config, args, stdin);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn vacation_and_forward_write_scripts_and_clear_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = write_config(dir.path());
    must(&config, &["user", "add", "alice@example.com"], Some("pw\n"));
    let a = "alice@example.com";
    must(
        &config,
        &["sieve", "put", a, "filters", "-", "--activate"],
        Some(FILTERS),
    );

    // Nothing set: show says off, clear says so and exits 0.
    assert_eq!(
        must(&config, &["vacation", "show", a], None),
        "vacation: off\n"
    );
    assert!(must(&config, &["vacation", "clear", a], None).contains("has no vacation set"),);

    // Bad input is refused and nothing is written.
    for (args, stdin, why) in [
        (vec!["vacation", "set", a, "--subject", "Away"], "", "empty"),
        (
            vec!["vacation", "set", a, "--subject", "Away"],
            " \n\n",
            "empty",
        ),
        (
            vec![
                "vacation",
                "set",
                a,
                "--subject",
                "Away",
                "--until",
                "2026-02-30",
            ],
            "x",
            "YYYY-MM-DD",
        ),
        (
            vec!["vacation", "set", a, "--subject", "Away", "--days", "0"],
            "x",
            "RFC 5230",
        ),
        (
            vec![
                "vacation",
                "set",
                a,
                "--subject",
                "Away",
                "--from",
                "nobody",
            ],
            "x",
            "not an address",
        ),
        (
            vec!["forward", "set", a, "not-an-address"],
            "",
            "not an address",
        ),
        (vec!["forward", "set", a, "ALICE@example.com"], "", "itself"),
        (
            vec!["vacation", "set", "nobody@example.com", "--subject", "x"],
            "x",
            "no such user",
        ),
    ] {
        let out = mailyard(&config, &args, Some(stdin));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(why),
            "{args:?}: {}",
            text(&out)
        );
    }
    let out = Command::new(bin_support::BIN)
        .arg("--config")
        .arg(&config)
        .args(["vacation", "set", a, "--subject", "Away"])
        .stdin(
            std::fs::File::open(write_bytes(dir.path(), "latin1.txt", b"Gr\xfc\xdfe\n"))
                .expect("open"),
        )
        .output()
        .expect("run");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not valid UTF-8"),
        "{}",
        text(&out)
    );
    assert_eq!(
        must(&config, &["sieve", "list", a], None),
        format!("filters\t{}\tACTIVE\n", FILTERS.len())
    );

    // vacation set wraps filters; forward set wraps vacation.
    let said = must(
        &config,
        &[
            "vacation",
            "set",
            a,
            "--subject",
            "Out \"of\" office",
            "--until",
            "2099-12-31",
            "--days",
            "3",
            "--address",
            "alice.other@example.com",
        ],
        Some("I am away.\nBack in \"January\" \\o/\n"),
    );
    assert!(said.contains("vacation on for alice@example.com"), "{said}");
    let script = must(&config, &["sieve", "get", a, "mailyard-vacation"], None);
    assert!(
        script
            .starts_with("# mailyard-generated vacation; previous active script: \"filters\"\r\n"),
        "{script}"
    );
    assert!(
        script.contains(":subject \"Out \\\"of\\\" office\""),
        "{script}"
    );
    assert!(
        script.contains("\"I am away.\r\nBack in \\\"January\\\" \\\\o/\";"),
        "{script}"
    );
    // What `sieve check` thinks of it.
    let file = dir.path().join("generated.sieve");
    std::fs::write(&file, &script).expect("write");
    let out = Command::new(bin_support::BIN)
        .args(["sieve", "check"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));

    must(
        &config,
        &["forward", "set", a, "Carol <carol@remote.test>", "--keep"],
        None,
    );
    assert_eq!(
        must(&config, &["forward", "show", a], None),
        "forward: on (script \"mailyard-forward\" is active)\n\
         to: carol@remote.test\n\
         keep a copy: yes\n\
         then runs: \"mailyard-vacation\" (the previous active script)\n"
    );
    // Setting vacation again rewrites it where it stands: forward stays active.
    must(
        &config,
        &[
            "vacation",
            "set",
            a,
            "--subject",
            "Still away",
            "--until",
            "2099-12-31",
        ],
        Some("Later.\n"),
    );
    assert_eq!(
        must(&config, &["vacation", "show", a], None),
        "vacation: on (script \"mailyard-vacation\" runs from \"mailyard-forward\", which is active)\n\
         subject: Still away\n\
         until: 2099-12-31 (inclusive, UTC)\n\
         days: 7\n\
         then runs: \"filters\" (the previous active script)\n\
         text:\n\
         Later.\n"
    );
    let list = must(&config, &["sieve", "list", a], None);
    assert!(
        list.contains("mailyard-forward\t") && list.contains("\tACTIVE"),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("mailyard-forward\t") && l.ends_with("\tACTIVE")),
        "{list}"
    );

    // Clearing vacation from the middle: forward now runs filters itself.
    let said = must(&config, &["vacation", "clear", a], None);
    assert!(said.contains("\"mailyard-forward\" stays active"), "{said}");
    let fwd = must(&config, &["sieve", "get", a, "mailyard-forward"], None);
    assert!(
        fwd.starts_with("# mailyard-generated forward; previous active script: \"filters\"\r\n")
            && fwd.contains("include :personal :optional \"filters\";"),
        "{fwd}"
    );
    assert_eq!(
        must(&config, &["vacation", "show", a], None),
        "vacation: off\n"
    );
    let said = must(&config, &["forward", "clear", a], None);
    assert!(said.contains("\"filters\" is active again"), "{said}");
    assert_eq!(
        must(&config, &["sieve", "list", a], None),
        format!("filters\t{}\tACTIVE\n", FILTERS.len())
    );

    // A script of the user's own under the reserved name is left alone.
    must(
        &config,
        &["sieve", "put", a, "mailyard-forward", "-"],
        Some("keep;\r\n"),
    );
    let out = mailyard(&config, &["forward", "set", a, "carol@remote.test"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not written by mailyard"),
        "{}",
        text(&out)
    );
    assert_eq!(
        must(&config, &["sieve", "get", a, "mailyard-forward"], None),
        "keep;\r\n"
    );
}

fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

/// Message counts of `mailboxes` of `user`, over IMAP (python3 imaplib).
fn counts(imap: SocketAddr, user: &str, mailboxes: &[&str]) -> Vec<String> {
    let out = python(
        r#"
import os, imaplib
m = imaplib.IMAP4(os.environ['HOST'], int(os.environ['PORT']), timeout=10)
m.login(os.environ['USER_'], 'pw')
for name in os.environ['BOXES'].split(','):
    typ, data = m.status(name, '(MESSAGES)')
    print(name, typ, data[0].decode().split('MESSAGES ')[1].rstrip(')') if typ == 'OK' else '-')
m.logout()
"#,
        &[
            ("HOST", imap.ip().to_string()),
            ("PORT", imap.port().to_string()),
            ("USER_", user.to_string()),
            ("BOXES", mailboxes.join(",")),
        ],
    );
    assert!(out.status.success(), "imaplib: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.replace(" OK ", " "))
        .collect()
}

fn header(g: &Got, name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(&g.data).into_owned();
    let head = text.split("\r\n\r\n").next()?.to_string();
    head.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The generated scripts at delivery: a report to alice is answered (vacation), sent
/// on with a copy kept (forward --keep), and still filed by her own filters; after
/// `vacation clear`, only the forward and the filing remain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_scripts_at_delivery() {
    const LIMIT: Duration = Duration::from_secs(30);
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, mut sinks) = sinks(vec![SinkConf::default()]).await;
    let sink = sinks.remove(0);
    let dns = dns_server(
        Zone::default()
            .mx("remote.test", 10, "mx.remote.test")
            .a("mx.remote.test", Ipv4Addr::new(127, 0, 0, 2)),
    )
    .await;
    let rest = format!(
        "[log]\nformat = \"json\"\n[auth_checks]\nenabled = false\n\
         [dns]\nnameservers = [\"{dns}\"]\n\
         [relay]\nport = {port}\nretry_seconds = [1]\nretry_every_seconds = 1\n"
    );
    let config = bin_support::write_config(
        dir.path(),
        "mailyard.toml",
        "data",
        &["smtp", "imap"],
        &rest,
    );
    let a = "alice@example.com";
    let cli = |args: &[&str], stdin: Option<&str>| {
        tokio::task::block_in_place(|| must(&config, args, stdin))
    };
    cli(&["user", "add", a], Some("pw\n"));
    cli(
        &["sieve", "put", a, "filters", "-", "--activate"],
        Some(FILTERS),
    );
    let server = tokio::task::block_in_place(|| serve(&config, 2));
    let smtp = addr(&server, "smtp");
    let imap = addr(&server, "imap");

    // While serve runs: vacation (until a far day), then forward with a copy.
    cli(
        &[
            "vacation",
            "set",
            a,
            "--subject",
            "Away",
            "--until",
            "2099-12-31",
        ],
        Some("I am away.\n"),
    );
    cli(&["forward", "set", a, "carol@remote.test", "--keep"], None);
    let report = |from: &str, subject: &str| {
        format!(
            "From: <{from}>\r\nTo: <{a}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@remote.test>\r\n\r\nbody\r\n"
        )
    };
    let (_, end) = send(
        smtp,
        None,
        "boss@remote.test",
        &[a],
        &report("boss@remote.test", "report1"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    wait_until("the reply and the forward", LIMIT, || {
        let got = sink.got();
        got.iter()
            .any(|g| g.from.is_empty() && g.rcpts == ["boss@remote.test"])
            && got.iter().any(|g| g.rcpts == ["carol@remote.test"])
    })
    .await;
    let got = sink.got();
    let reply = got
        .iter()
        .find(|g| g.rcpts == ["boss@remote.test"])
        .expect("reply");
    assert_eq!(header(reply, "Subject").as_deref(), Some("Away"));
    assert!(
        header(reply, "Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied")),
        "{reply:?}"
    );
    let fwd = got
        .iter()
        .find(|g| g.rcpts == ["carol@remote.test"])
        .expect("forward");
    assert_eq!(fwd.from, "boss@remote.test");
    assert_eq!(header(fwd, "Subject").as_deref(), Some("report1"));
    // The copy kept was filed by alice's own filters.
    assert_eq!(
        tokio::task::block_in_place(|| counts(imap, a, &["INBOX", "Reports"])),
        ["INBOX 0", "Reports 1"]
    );

    // Vacation off: the next report is forwarded and filed, and nobody is answered.
    cli(&["vacation", "clear", a], None);
    let (_, end) = send(
        smtp,
        None,
        "boss2@remote.test",
        &[a],
        &report("boss2@remote.test", "report2"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    wait_until("the second forward", LIMIT, || {
        sink.got()
            .iter()
            .any(|g| header(g, "Subject").as_deref() == Some("report2"))
    })
    .await;
    // The reply would have been queued in the same delivery as the forward: an empty
    // queue now means there was none.
    wait_until("an empty relay queue", LIMIT, || {
        tokio::task::block_in_place(|| {
            must(&config, &["queue", "list"], None)
                .lines()
                .all(|l| l.ends_with("queued"))
        })
    })
    .await;
    assert!(
        !sink.got().iter().any(|g| g.rcpts == ["boss2@remote.test"]),
        "no reply after vacation clear"
    );
    assert_eq!(
        tokio::task::block_in_place(|| counts(imap, a, &["INBOX", "Reports"])),
        ["INBOX 0", "Reports 2"]
    );

    // Forward off too: only the filters remain.
    cli(&["forward", "clear", a], None);
    assert_eq!(
        cli(&["sieve", "list", a], None),
        format!("filters\t{}\tACTIVE\n", FILTERS.len())
    );
    drop(server);
}
