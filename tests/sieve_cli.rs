//! `mailyard sieve …` through the built binary: `check` (`FILE: ok`,
//! `FILE:LINE:COL: message` and the exit status), and a user's scripts stored (validated
//! first), listed, activated, renamed and deleted while `serve` runs on the same data dir.

mod bin_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use bin_support::{JSON_LOG, mailyard, serve, text};

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
