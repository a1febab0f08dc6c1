//! Dovecot's imaptest against the real server (issue 14): its scripted compliance suite,
//! one process per test file, and its stress mode, where 50 clients on 5 accounts do
//! random SELECT / FETCH / STORE / EXPUNGE / APPEND / COPY while imaptest checks every
//! answer against what the other sessions did.
//!
//! imaptest is built by `tests/imaptest/build.sh` (`.ci/run` calls it) into
//! `target/imaptest`; `IMAPTEST=/path/bin/imaptest` points elsewhere, and
//! `IMAPTEST_TESTS=DIR` at another scripted-test folder (default: `bin/../tests`). A
//! missing imaptest fails the tests with how to build it; `IMAPTEST_ONLY=a,b` runs only
//! those scripted files. `IMAPTEST_STRESS_SECS` sets the
//! stress duration (default 60; `tests/README.md` has the 10-minute run).
//!
//! What may still go wrong is data, at the top of this file: `ALLOWED_SKIPS` (will not be
//! built soon), `KNOWN_FAILING` and `ALLOWED_STRESS_ERRORS` (issue 14's open work; remove
//! an entry when its fix lands — the tests print "passed: remove it" when one can go).
//! Anything not listed fails the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use mailyard_tests::TestServer;
use tokio::process::Command;

/// Scripted tests that are allowed to skip for a missing capability, for good.
const ALLOWED_SKIPS: &[(&str, &str)] = &[];

/// Scripted tests whose file lacks a precondition its own commands rely on: the
/// header line the suite adds (to a copy; the vendored file stays as it is) and why.
const MISSING_HEADERS: &[(&str, &str, &str)] = &[(
    "urlauth2",
    "messages: 2",
    "it FETCHes messages 1:2 of its freshly created mailbox but, unlike its sibling \
     `urlauth`, has no `messages: 2` line, and release-2.3 appends nothing without one: \
     as shipped it fails against any server (Dovecot's CI skips it, having no user2)",
)];

/// The file to run for scripted test `name`: the vendored one, or a copy in `tmp`
/// with the header [`MISSING_HEADERS`] lists (and the mbox files imaptest reads from
/// the test's folder).
fn scripted_file(dir: &Path, name: &str, tmp: &Path) -> PathBuf {
    let path = dir.join(name);
    let Some((_, header, _)) = MISSING_HEADERS.iter().find(|(n, _, _)| *n == name) else {
        return path;
    };
    let script = std::fs::read_to_string(&path).expect("read scripted test");
    let copy = tmp.join(name);
    std::fs::write(&copy, format!("{header}\n{script}")).expect("write scripted test copy");
    for mbox in ["default.mbox".to_string(), format!("{name}.mbox")] {
        if dir.join(&mbox).exists() {
            std::fs::copy(dir.join(&mbox), tmp.join(&mbox)).expect("copy mbox");
        }
    }
    copy
}

/// What a test on `KNOWN_FAILING` does today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Fails (a server bug, issue 14).
    Fails,
    /// Skipped: the server does not advertise the capability the test needs.
    Skips,
    /// Sometimes fails, sometimes passes (a race in the server, issue 14): either is
    /// accepted, and a pass is no news.
    Flaky,
}

/// Scripted tests that fail or skip on today's server, each with why (issue 14). The
/// fixes land in parallel: when a test listed as `Fails` or `Skips` passes, the suite
/// prints "passed: remove it from KNOWN_FAILING" and stays green; shrink this list then.
/// `Flaky` ones (a race) may pass or fail: remove them when the race is fixed. A listed
/// test that does something else than listed (a skip that now fails: a capability
/// advertised before it works) fails the suite.
const KNOWN_FAILING: &[(&str, Known, &str)] = &[];

/// An `Error:` line the stress run may print today: which (a predicate on the line) and
/// why (issue 14). Allowed lines are counted and printed per entry; any other `Error:` line
/// fails the test. Remove an entry when its fix lands (the test prints "not seen" for an
/// entry that did not occur in a run; one 60 s run is weak evidence, a few are better).
struct Allowance {
    label: &'static str,
    matches: fn(&str) -> bool,
    why: &'static str,
}

/// The stress errors allowed today (see `Allowance`).
const ALLOWED_STRESS_ERRORS: &[Allowance] = &[];

/// The number of scripted test files in the vendored imaptest (release-2.3); a different
/// count means a different tarball or a broken build.
const SCRIPTED_TEST_FILES: usize = 71;

/// Longest one scripted test file may take before it counts as failed (they take well
/// under a second each when they pass; a hang is a server that never answered).
const SCRIPTED_DEADLINE: Duration = Duration::from_secs(60);

const PASSWORD: &str = "imaptest password";

/// The mailbox imaptest's scripted tests run in (its `mailbox=` default).
const IMAPTEST_MAILBOX: &str = "imaptest";

/// The server settings imaptest needs: its 50 stress clients come from one address, and
/// nothing here guesses passwords.
const SERVER_CONFIG: &str =
    "[limits]\nmax_connections_per_ip = 200\n[auth]\nmax_failures = 1000000\n";

// ---------------------------------------------------------------------------------------
// Finding imaptest.

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

const HOW_TO_BUILD: &str = "build it with `tests/imaptest/build.sh` (Debian 12, as root: \
    it installs dovecot-core, dovecot-dev and the C toolchain, and builds into \
    target/imaptest, which this test finds by itself), or set IMAPTEST=/path/to/bin/imaptest";

/// The imaptest binary: `$IMAPTEST`, else `target/imaptest/bin/imaptest`, else
/// `/opt/imaptest/bin/imaptest` (where the shared build script puts it). Missing: the test
/// fails saying how to build it.
fn imaptest_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("IMAPTEST") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "IMAPTEST={} does not exist; {HOW_TO_BUILD}",
            p.display()
        );
        return p;
    }
    let candidates = [
        repo_root().join("target/imaptest/bin/imaptest"),
        PathBuf::from("/opt/imaptest/bin/imaptest"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!("imaptest is not built (looked at {candidates:?}); {HOW_TO_BUILD}")
        })
}

/// The scripted tests' folder: `$IMAPTEST_TESTS`, else `tests/` beside imaptest's `bin/`.
fn scripted_dir(binary: &Path) -> PathBuf {
    let dir = std::env::var_os("IMAPTEST_TESTS").map_or_else(
        || {
            binary
                .parent()
                .and_then(Path::parent)
                .expect("imaptest is in PREFIX/bin")
                .join("tests")
        },
        PathBuf::from,
    );
    assert!(
        dir.is_dir(),
        "imaptest's scripted tests are not in {}; {HOW_TO_BUILD}",
        dir.display()
    );
    dir
}

/// Every scripted test file, sorted: the files in `dir` that are not `.mbox` data (the
/// `broken/` folder is not meant to be run).
fn scripted_tests(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".mbox"))
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------
// Reading imaptest's output.

/// The three summary lines of a scripted run:
/// `1 test groups: F failed, S skipped due to missing capabilities`,
/// `base protocol: a/b individual commands failed`, `extensions: c/d ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Summary {
    groups_failed: u32,
    groups_skipped: u32,
    base: (u32, u32),
    ext: (u32, u32),
}

fn parse_summary(out: &str) -> Option<Summary> {
    let mut groups = None;
    let mut base = None;
    let mut ext = None;
    for line in out.lines() {
        let line = line.trim();
        if let Some((_, rest)) = line.split_once(" test groups: ") {
            // "F failed, S skipped due to missing capabilities"
            let mut it = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty());
            let f = it.next()?.parse().ok()?;
            let s = it.next()?.parse().ok()?;
            groups = Some((f, s));
        } else if let Some(rest) = line.strip_prefix("base protocol: ") {
            base = parse_ratio(rest);
        } else if let Some(rest) = line.strip_prefix("extensions: ") {
            ext = parse_ratio(rest);
        }
    }
    let (groups_failed, groups_skipped) = groups?;
    Some(Summary {
        groups_failed,
        groups_skipped,
        base: base?,
        ext: ext?,
    })
}

/// `a/b individual commands failed` → (a, b).
fn parse_ratio(s: &str) -> Option<(u32, u32)> {
    let (ratio, _) = s.split_once(' ')?;
    let (a, b) = ratio.split_once('/')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Pass,
    /// Failed; the lines imaptest printed about it.
    Fail(String),
    /// Skipped for a capability the server does not advertise.
    Skip,
}

/// A scripted run's outcome. A run skipped for a missing capability prints
/// `0 failed, 0 skipped` (the skip count is not reliable) but ran no command at all:
/// `0/0` and `0/0`.
fn classify(out: &str, summary: Option<Summary>) -> Outcome {
    let Some(s) = summary else {
        return Outcome::Fail(format!(
            "no summary in imaptest's output:\n{}",
            tail(out, 40)
        ));
    };
    if s.groups_failed > 0 || s.base.0 > 0 || s.ext.0 > 0 {
        return Outcome::Fail(tail(out, 60));
    }
    if s.groups_skipped > 0 || (s.base.1 == 0 && s.ext.1 == 0) {
        return Outcome::Skip;
    }
    Outcome::Pass
}

/// The first failed command of a failed run: imaptest's `*** Test ...` line and the
/// `- failed: ...` line after it (or the first line, for a run that printed neither).
fn first_failure(detail: &str) -> Vec<&str> {
    let lines: Vec<&str> = detail.lines().map(str::trim).collect();
    match lines.iter().position(|l| l.starts_with("- failed")) {
        Some(i) => lines[..i]
            .iter()
            .rev()
            .find(|l| l.starts_with("*** Test"))
            .into_iter()
            .chain(std::iter::once(&lines[i]))
            .copied()
            .collect(),
        None => lines.into_iter().take(1).collect(),
    }
}

/// The last `n` lines of `s`.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn summaries_are_read_as_imaptest_prints_them() {
    let pass = "1 test groups: 0 failed, 0 skipped due to missing capabilities\n\
                base protocol: 0/12 individual commands failed\n\
                extensions: 0/3 individual commands failed\n";
    let skip = "1 test groups: 0 failed, 0 skipped due to missing capabilities\n\
                base protocol: 0/0 individual commands failed\n\
                extensions: 0/0 individual commands failed\n";
    let skip_counted = "1 test groups: 0 failed, 1 skipped due to missing capabilities\n\
                base protocol: 0/0 individual commands failed\n\
                extensions: 0/0 individual commands failed\n";
    let fail = "*** Test append command 2/3 (line 12)\n - failed: Missing 1 untagged replies\n\
                1 test groups: 1 failed, 0 skipped due to missing capabilities\n\
                base protocol: 1/4 individual commands failed\n\
                extensions: 0/0 individual commands failed\n";
    let ext_fail = "1 test groups: 0 failed, 0 skipped due to missing capabilities\n\
                base protocol: 0/4 individual commands failed\n\
                extensions: 1/2 individual commands failed\n";
    let cut = "1 test groups: 0 failed, 0 skipped due to missing capabilities\n";
    for (out, want) in [
        (pass, "pass"),
        (skip, "skip"),
        (skip_counted, "skip"),
        (fail, "fail"),
        (ext_fail, "fail"),
        (cut, "fail"),
        ("", "fail"),
    ] {
        let got = match classify(out, parse_summary(out)) {
            Outcome::Pass => "pass",
            Outcome::Fail(_) => "fail",
            Outcome::Skip => "skip",
        };
        assert_eq!(got, want, "{out:?}");
    }
    assert_eq!(
        first_failure(&tail(fail, 60)),
        [
            "*** Test append command 2/3 (line 12)",
            "- failed: Missing 1 untagged replies"
        ]
    );
    assert_eq!(
        parse_summary(pass),
        Some(Summary {
            groups_failed: 0,
            groups_skipped: 0,
            base: (0, 12),
            ext: (0, 3)
        })
    );
}

// ---------------------------------------------------------------------------------------
// Running it.

/// One imaptest run of at most `limit`: (stdout + stderr, exit code), or `None` when it
/// was still running at the deadline (it is killed).
async fn run_imaptest(
    binary: &Path,
    args: &[String],
    limit: Duration,
) -> (Option<String>, Option<i32>) {
    let mut cmd = Command::new(binary);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", binary.display()));
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => {
            let out = out.expect("wait for imaptest");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (Some(text), out.status.code())
        }
        Err(_) => (None, None),
    }
}

/// Panics anywhere in this process (the server's tasks run here), with the thread name.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The two tests share the machine badly (50 stress clients beside the scripted suite
/// make both slower and noisier), and `PANICS` is per process: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_string();
            if let Ok(mut p) = PANICS.lock() {
                p.push(format!("thread {thread}: {info}"));
            }
            previous(info);
        }));
    });
}

/// Fails the test if the server panicked since `before` (a [`panics_since`] mark).
fn assert_no_panic_since(before: usize) {
    let panics = panics_since(before);
    assert!(
        panics.is_empty(),
        "the server panicked:\n{}",
        panics.join("\n")
    );
}

fn panics_since(start: usize) -> Vec<String> {
    let p = PANICS.lock().unwrap_or_else(|e| e.into_inner());
    p[start.min(p.len())..].to_vec()
}

fn panic_count() -> usize {
    PANICS.lock().unwrap_or_else(|e| e.into_inner()).len()
}

/// How one scripted result stands against `ALLOWED_SKIPS` and `KNOWN_FAILING`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// As it may be: a pass, or a listed failure or skip (the note says which and why).
    Fine(String),
    /// Listed as failing or skipping, but passed: the named list can shrink.
    NowPasses(&'static str),
    /// Not allowed; fails the suite (the text says what happened).
    Problem(String),
}

fn verdict(name: &str, outcome: &Outcome) -> Verdict {
    verdict_in(KNOWN_FAILING, ALLOWED_SKIPS, name, outcome)
}

/// [`verdict`] against given lists (the unit test brings its own).
fn verdict_in(
    known_failing: &[(&str, Known, &'static str)],
    allowed_skips: &[(&str, &'static str)],
    name: &str,
    outcome: &Outcome,
) -> Verdict {
    let known = known_failing
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, k, why)| (*k, *why));
    let allowed_skip = allowed_skips
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why);
    match (outcome, known, allowed_skip) {
        (Outcome::Pass, Some((Known::Flaky, why)), _) => {
            Verdict::Fine(format!("known flaky: {why}"))
        }
        (Outcome::Fail(_), Some((Known::Flaky, why)), _) => {
            Verdict::Fine(format!("known flaky: {why}"))
        }
        (Outcome::Pass, Some(_), _) => Verdict::NowPasses("KNOWN_FAILING"),
        (Outcome::Pass, None, Some(_)) => Verdict::NowPasses("ALLOWED_SKIPS"),
        (Outcome::Pass, None, None) => Verdict::Fine(String::new()),
        (Outcome::Fail(_), Some((Known::Fails, why)), _) => Verdict::Fine(format!("known: {why}")),
        (Outcome::Skip, Some((Known::Skips, why)), _) => Verdict::Fine(format!("known: {why}")),
        (Outcome::Skip, None, Some(why)) => Verdict::Fine(format!("allowed: {why}")),
        (Outcome::Fail(detail), _, _) => Verdict::Problem(format!("{name} FAILED:\n{detail}")),
        (Outcome::Skip, _, _) => Verdict::Problem(format!(
            "{name} was SKIPPED (the server lacks a capability it needs), and neither \
             ALLOWED_SKIPS nor KNOWN_FAILING lists it as a skip"
        )),
    }
}

fn word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail(_) => "FAIL",
        Outcome::Skip => "skip",
    }
}

#[test]
fn verdicts_follow_the_lists() {
    const KNOWN: &[(&str, Known, &str)] = &[
        ("atoms", Known::Fails, "a bug"),
        ("esort", Known::Skips, "not built"),
        ("thread8", Known::Flaky, "a race"),
    ];
    const SKIPS: &[(&str, &str)] = &[("urlauth", "not built")];
    let verdict = |name: &str, outcome: &Outcome| verdict_in(KNOWN, SKIPS, name, outcome);
    let fail = Outcome::Fail("x".into());
    let problem = |v: Verdict| matches!(v, Verdict::Problem(_));
    // Not listed: only a pass is fine.
    assert_eq!(
        verdict("fetch", &Outcome::Pass),
        Verdict::Fine(String::new())
    );
    assert!(problem(verdict("fetch", &fail)));
    assert!(problem(verdict("fetch", &Outcome::Skip)));
    // Listed as failing: a failure is fine, a pass shrinks the list, a skip is not fine.
    assert!(matches!(verdict("atoms", &fail), Verdict::Fine(_)));
    assert_eq!(
        verdict("atoms", &Outcome::Pass),
        Verdict::NowPasses("KNOWN_FAILING")
    );
    assert!(problem(verdict("atoms", &Outcome::Skip)));
    // Listed as skipping: a failure (capability advertised before it works) is not fine.
    assert!(matches!(verdict("esort", &Outcome::Skip), Verdict::Fine(_)));
    assert_eq!(
        verdict("esort", &Outcome::Pass),
        Verdict::NowPasses("KNOWN_FAILING")
    );
    assert!(problem(verdict("esort", &fail)));
    // Flaky: pass or fail, never skip.
    assert!(matches!(verdict("thread8", &fail), Verdict::Fine(_)));
    assert!(matches!(
        verdict("thread8", &Outcome::Pass),
        Verdict::Fine(_)
    ));
    assert!(problem(verdict("thread8", &Outcome::Skip)));
    // Allowed skips.
    assert!(matches!(
        verdict("urlauth", &Outcome::Skip),
        Verdict::Fine(_)
    ));
    assert_eq!(
        verdict("urlauth", &Outcome::Pass),
        Verdict::NowPasses("ALLOWED_SKIPS")
    );
    assert!(problem(verdict("urlauth", &fail)));
}

/// The account name for scripted test `name` (one fresh account per file: nothing one
/// test leaves behind changes the next).
fn scripted_user(name: &str, n: u32) -> String {
    format!("it{n}-{name}@example.com")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaptest_scripted_suite() {
    let binary = imaptest_binary();
    let dir = scripted_dir(&binary);
    let mut names = scripted_tests(&dir);
    // A folder of a few files (IMAPTEST_TESTS, to run one test) is not the suite:
    // only the suite must be whole and name every listed test.
    if std::env::var_os("IMAPTEST_TESTS").is_none() {
        assert_eq!(
            names.len(),
            SCRIPTED_TEST_FILES,
            "scripted test files in {}: {names:?}",
            dir.display()
        );
        for (listed, _) in ALLOWED_SKIPS {
            assert!(
                names.iter().any(|n| n == listed),
                "ALLOWED_SKIPS names {listed}: no such test"
            );
        }
        for (listed, _, _) in KNOWN_FAILING {
            assert!(
                names.iter().any(|n| n == listed),
                "KNOWN_FAILING names {listed}: no such test"
            );
        }
    }
    // `IMAPTEST_ONLY=a,b` runs those files only (while working on them).
    if let Ok(only) = std::env::var("IMAPTEST_ONLY") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        for o in &only {
            assert!(names.iter().any(|n| n == o), "IMAPTEST_ONLY: no test {o}");
        }
        names.retain(|n| only.contains(&n.as_str()));
    }

    let _one = ONE_AT_A_TIME.lock().await;
    record_panics();
    let panics_before = panic_count();
    let server = TestServer::start(SERVER_CONFIG).await;
    let port = server.addr("imap").port();

    let fixtures = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let mut results: Vec<(String, Outcome, Duration)> = Vec::new();
    for name in &names {
        let path = scripted_file(&dir, name, fixtures.path());
        let script = std::fs::read_to_string(&path).unwrap_or_default();
        let user = scripted_user(name, 1);
        server.add_user(&user, PASSWORD).await;
        let mut args = vec![
            "host=127.0.0.1".to_string(),
            format!("port={port}"),
            format!("user={user}"),
            format!("pass={PASSWORD}"),
            format!("test={}", path.display()),
        ];
        // urlauth2 logs its second connection in as `$user2`, with the same password.
        // imaptest SELECTs its mailbox on every connection but creates it only with
        // the first one's account, so `$user2` gets an empty one (Dovecot's test
        // setups have it by autocreation).
        if script.contains("$user2") || script.contains("${user2}") {
            let user2 = scripted_user(name, 2);
            let address = server.add_user(&user2, PASSWORD).await;
            server
                .store()
                .create_mailbox(&address, IMAPTEST_MAILBOX, None)
                .await
                .expect("create user2's imaptest mailbox");
            args.push(format!("user2={user2}"));
        }
        let t = Instant::now();
        let (out, _code) = run_imaptest(&binary, &args, SCRIPTED_DEADLINE).await;
        let outcome = match out {
            Some(out) => classify(&out, parse_summary(&out)),
            None => Outcome::Fail(format!(
                "still running after {SCRIPTED_DEADLINE:?} (killed)"
            )),
        };
        results.push((name.clone(), outcome, t.elapsed()));
    }
    let total = started.elapsed();
    server.stop().await;

    // The table, then the verdict.
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    let mut problems = Vec::new();
    let mut notices = Vec::new();
    println!(
        "imaptest scripted suite ({} files, {total:.1?}):",
        results.len()
    );
    println!("{:<32} {:<6} {:>8}  note", "test", "result", "time");
    for (name, outcome, took) in &results {
        let (word, mut note) = match verdict(name, outcome) {
            Verdict::Fine(note) => (word(outcome), note),
            Verdict::NowPasses(list) => {
                notices.push(format!(
                    "{name} passed: remove it from {list} in tests/tests/imaptest.rs \
                     (once it passes in every run)"
                ));
                ("pass", format!("passed: remove it from {list}"))
            }
            Verdict::Problem(problem) => {
                problems.push(problem);
                (word(outcome), "NOT LISTED".to_string())
            }
        };
        if let Some((_, header, _)) = MISSING_HEADERS.iter().find(|(n, _, _)| n == name) {
            note = format!("{note}(run with `{header}` added, see MISSING_HEADERS)");
        }
        match outcome {
            Outcome::Pass => pass += 1,
            Outcome::Fail(_) => fail += 1,
            Outcome::Skip => skip += 1,
        }
        println!("{name:<32} {word:<6} {:>7.2}s  {note}", took.as_secs_f64());
        if let Outcome::Fail(detail) = outcome {
            // Which command failed, so a listed failure that fails for a new reason shows.
            for line in first_failure(detail) {
                println!("{:<32}   | {line}", "");
            }
        }
    }
    println!("{pass} passed, {fail} failed, {skip} skipped");
    for n in &notices {
        println!("NOTICE: {n}");
    }
    assert_no_panic_since(panics_before);
    assert!(
        problems.is_empty(),
        "{} scripted test(s) failed or skipped without being listed:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------
// Stress.

/// Which allowance an `Error:` line falls under, if any (its index).
fn allowance(line: &str) -> Option<usize> {
    ALLOWED_STRESS_ERRORS.iter().position(|a| (a.matches)(line))
}

#[test]
fn stress_allowances_are_narrow() {
    // Issue 14's three stress failures are fixed: none of them is allowed any more.
    let not_allowed = [
        "Error: u1@example.com[12]: Keyword used without being in FLAGS: $x",
        "Error: u4@example.com[3155]: FETCH failed: 3155.5 NO [EXPUNGEISSUED] Some messages were expunged",
        r#"Error: u1@example.com[1447]: uid=168 msg204.5@example.com: BODYSTRUCTURE changed '"text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2059 31 NIL NIL NIL NIL' -> '"text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0': * 15 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0))"#,
        "Error: u1@example.com[9]: msg1.2@example.com: Header Subject changed 'hello' -> '': * 1 FETCH",
        // A real structure changing into another real one is a parser bug, never allowed.
        r#"Error: u3@example.com[1156]: uid=116 msg237.7@example.com: BODY changed '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 108 3) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed"' -> '"text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 108 3': * 8 FETCH"#,
        "Error: u1@example.com[9]: msg1.2@example.com: Header Subject changed 'hello' -> 'bye': * 1 FETCH",
        "Error: u1@example.com[9]: FETCH failed: 9.5 NO Internal error",
        "Error: u1@example.com[9]: Message seq=3 UID=7 has \\Recent flag in multiple sessions",
    ];
    for line in not_allowed {
        assert_eq!(allowance(line), None, "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaptest_stress_50_clients() {
    let secs: u64 = std::env::var("IMAPTEST_STRESS_SECS").map_or(60, |s| {
        s.parse()
            .unwrap_or_else(|_| panic!("IMAPTEST_STRESS_SECS={s:?} is not a number of seconds"))
    });
    let binary = imaptest_binary();

    let _one = ONE_AT_A_TIME.lock().await;
    record_panics();
    let panics_before = panic_count();
    let server = TestServer::start(SERVER_CONFIG).await;
    for i in 1..=5 {
        server
            .add_user(&format!("testuser{i}@example.com"), PASSWORD)
            .await;
    }
    let mbox = server.dir.path().join("stress.mbox");
    let maker = repo_root().join("tests/imaptest/make-mbox.py");
    let made = Command::new("python3")
        .arg(&maker)
        .arg(&mbox)
        .output()
        .await
        .expect("python3 runs (apt-get install -y python3)");
    assert!(
        made.status.success(),
        "{}: {}",
        maker.display(),
        String::from_utf8_lossy(&made.stderr)
    );

    let args = vec![
        "host=127.0.0.1".to_string(),
        format!("port={}", server.addr("imap").port()),
        "user=testuser%d@example.com".to_string(),
        format!("pass={PASSWORD}"),
        "users=5".to_string(),
        "clients=50".to_string(),
        format!("secs={secs}"),
        format!("mbox={}", mbox.display()),
    ];
    // imaptest stops by itself after `secs`, then lets its clients log out.
    let limit = Duration::from_secs(secs + 120);
    let started = Instant::now();
    let (out, code) = run_imaptest(&binary, &args, limit).await;
    let took = started.elapsed();
    // The index and the maildir must still agree (`mailyard check`): a flag change
    // that renamed a file wrongly shows up only here.
    let store = server.store().clone();
    let problems = tokio::task::spawn_blocking(move || store.check())
        .await
        .expect("join")
        .expect("check runs");
    server.stop().await;
    let out = out.unwrap_or_else(|| panic!("imaptest stress still running after {limit:?}"));
    assert!(
        problems.is_empty(),
        "index and maildir disagree after the stress run ({} problems, first 20):\n{}",
        problems.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The whole output (the harness shows it on failure, or with --nocapture).
    println!("{out}");
    let mut counts: BTreeMap<usize, (usize, &str)> = BTreeMap::new();
    let mut unexpected = Vec::new();
    for line in out.lines().filter(|l| l.contains("Error:")) {
        match allowance(line) {
            Some(i) => counts.entry(i).or_insert((0, line)).0 += 1,
            None => unexpected.push(line),
        }
    }
    println!("imaptest stress: 50 clients, 5 users, {secs} s (took {took:.1?}, exit {code:?})");
    for (i, a) in ALLOWED_STRESS_ERRORS.iter().enumerate() {
        match counts.get(&i) {
            Some((n, first)) => println!(
                "allowed error, {}: {n} time(s) — {}\n    first: {first}",
                a.label, a.why
            ),
            None => println!(
                "allowed error, {}: not seen (if that holds over a few runs, remove it from \
                 ALLOWED_STRESS_ERRORS in tests/tests/imaptest.rs)",
                a.label
            ),
        }
    }
    println!("other errors: {}", unexpected.len());

    assert_no_panic_since(panics_before);
    assert!(
        out.contains("Totals:"),
        "imaptest did not finish its run (no Totals:):\n{}",
        tail(&out, 40)
    );
    assert!(
        !out.contains("Fatal:"),
        "imaptest stopped with a fatal error:\n{}",
        tail(&out, 40)
    );
    assert!(
        unexpected.is_empty(),
        "{} imaptest error(s) not in ALLOWED_STRESS_ERRORS (first 50):\n{}",
        unexpected.len(),
        unexpected
            .iter()
            .take(50)
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
