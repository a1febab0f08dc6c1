//! The relay queue through the `mailyard` binary: a server SIGKILLed with a full queue
//! delivers every message exactly once after a restart, and `mailyard queue …` steers
//! the queue of a running server from another process.

mod bin_support;
#[path = "tests/relay_support/mod.rs"]
mod relay_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use bin_support::{addr, mailyard, serve};

use relay_support::{SinkConf, Zone, dns_server, free_port, send, sinks_on, wait_until};

const ALICE: &str = "alice@example.com";
const PW: &str = "alice password";

fn ok(o: Output) -> String {
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "status {:?}\n{text}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    text
}

/// A config on `dir` with DNS at `dns`, MX port `port` and a retry every `retry` s.
fn write_config(dir: &Path, dns: SocketAddr, port: u16, retry: u64) -> std::path::PathBuf {
    bin_support::write_config(
        dir,
        "mailyard.toml",
        "data",
        &["smtp", "submission"],
        &format!(
            "[log]\nformat = \"json\"\n[auth_checks]\nenabled = false\n\
             [dns]\nnameservers = [\"{dns}\"]\n\
             [relay]\nport = {port}\nretry_seconds = [{retry}]\nretry_every_seconds = {retry}\n"
        ),
    )
}

fn zone() -> Zone {
    Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2))
        // Nothing ever listens on 127.0.0.3: always a temporary failure.
        .mx("slow.test", 10, "mx.slow.test")
        .a("mx.slow.test", Ipv4Addr::new(127, 0, 0, 3))
}

/// The queue ids `mailyard queue list` prints.
fn queued(config: &Path) -> Vec<String> {
    ok(mailyard(config, &["queue", "list"], None))
        .lines()
        .filter(|l| !l.ends_with("queued"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn message(subject: &str) -> String {
    format!("From: <{ALICE}>\nTo: <x@a.test>\nSubject: {subject}\n\nbody {subject}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_a_full_queue_then_restart_delivers_each_once() {
    const N: usize = 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let dns = dns_server(zone()).await;
    // Nothing listens on the MX port yet: every attempt fails temporarily.
    let port = free_port().await;
    let config = write_config(dir.path(), dns, port, 1);
    ok(mailyard(&config, &["user", "add", ALICE], Some(PW)));
    let server = serve(&config, 2);
    for i in 0..N {
        let (_, end) = send(
            addr(&server, "submission"),
            Some((ALICE, PW)),
            ALICE,
            &["x@a.test", "y@a.test"],
            &message(&format!("m{i}")),
        )
        .await;
        assert!(end.starts_with("250"), "{end}");
    }
    assert_eq!(queued(&config).len(), N);
    // SIGKILL: no shutdown, whatever was in flight is cut.
    drop(server);

    let sinks = sinks_on(port, vec![SinkConf::default()])
        .await
        .expect("the MX port is still free");
    let _server = serve(&config, 2);
    wait_until("every message delivered", Duration::from_secs(60), || {
        sinks[0].got().len() >= N
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !queued(&config).is_empty() {
        assert!(Instant::now() < deadline, "queue not emptied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = sinks[0].got();
    let mut subjects: Vec<String> = got
        .iter()
        .map(|g| {
            let text = String::from_utf8_lossy(&g.data).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
                .expect("subject")
        })
        .collect();
    subjects.sort();
    let mut want: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(subjects, want, "each message exactly once");
    assert!(got.iter().all(|g| g.rcpts == ["x@a.test", "y@a.test"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_commands_steer_a_running_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dns = dns_server(zone()).await;
    let port = free_port().await;
    // Retries an hour apart: only `queue flush` makes the server try again soon.
    let config = write_config(dir.path(), dns, port, 3600);
    ok(mailyard(&config, &["user", "add", ALICE], Some(PW)));
    let server = serve(&config, 2);
    for s in ["first", "second", "third"] {
        let (_, end) = send(
            addr(&server, "submission"),
            Some((ALICE, PW)),
            ALICE,
            &["x@a.test"],
            &message(s),
        )
        .await;
        assert!(end.starts_with("250"), "{end}");
    }
    let ids = queued(&config);
    assert_eq!(ids.len(), 3, "{ids:?}");
    // The first attempt fails (nothing listens); wait until it is recorded.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let show = ok(mailyard(&config, &["queue", "show", &ids[0]], None));
        if show.contains("attempts: 1") {
            assert!(
                show.contains("rcpt: <x@a.test> pending 451 4.4.1"),
                "{show}"
            );
            assert!(show.contains("from: <alice@example.com>"), "{show}");
            break;
        }
        assert!(Instant::now() < deadline, "no attempt recorded: {show}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    ok(mailyard(&config, &["queue", "hold", &ids[0]], None));
    let list = ok(mailyard(&config, &["queue", "list"], None));
    assert!(
        list.lines()
            .any(|l| l.starts_with(&ids[0]) && l.contains("held")),
        "{list}"
    );
    ok(mailyard(&config, &["queue", "release", &ids[0]], None));

    // Now the MX answers; flushing one message sends exactly that one.
    let sinks = sinks_on(port, vec![SinkConf::default()])
        .await
        .expect("port still free");
    ok(mailyard(&config, &["queue", "flush", &ids[1]], None));
    wait_until("the flushed message", Duration::from_secs(20), || {
        !sinks[0].got().is_empty()
    })
    .await;
    // `release` also made ids[0] due at once; both may arrive, the third may not.
    let deadline = Instant::now() + Duration::from_secs(20);
    while queued(&config).len() > 1 {
        assert!(Instant::now() < deadline, "flushed entries not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(queued(&config), [ids[2].clone()]);
    assert_eq!(sinks[0].got().len(), 2);

    // Delete with a bounce: the running server returns it to alice.
    ok(mailyard(&config, &["queue", "delete", &ids[2]], None));
    let inbox = dir.path().join("data/mail/example.com/alice/new");
    wait_until(
        "the bounce in alice's INBOX",
        Duration::from_secs(20),
        || std::fs::read_dir(&inbox).map_or(0, |d| d.count()) == 1,
    )
    .await;
    let bounce = std::fs::read_dir(&inbox)
        .expect("inbox")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).expect("read"))
        .next()
        .expect("one");
    assert!(
        bounce.contains("deleted from the queue by the administrator"),
        "{bounce}"
    );
    assert!(bounce.contains("Status: 5.3.0"), "{bounce}");
    // The bounce is made durable before the entry goes (a crash between repeats the
    // bounce rather than losing it), so the entry may still be listed a moment.
    wait_until("the deleted entry gone", Duration::from_secs(20), || {
        queued(&config).is_empty()
    })
    .await;

    // Delete --silent: gone at once, no bounce.
    let (_, end) = send(
        addr(&server, "submission"),
        Some((ALICE, PW)),
        ALICE,
        &["x@slow.test"],
        &message("fourth"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    let ids = queued(&config);
    assert_eq!(ids.len(), 1);
    ok(mailyard(
        &config,
        &["queue", "delete", "--silent", &ids[0]],
        None,
    ));
    assert!(queued(&config).is_empty());
    // A fifth message deleted with a bounce: once its bounce is in, the fourth
    // (deleted first) has had every chance to bounce too, and must not have.
    let (_, end) = send(
        addr(&server, "submission"),
        Some((ALICE, PW)),
        ALICE,
        &["x@slow.test"],
        &message("fifth"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    let ids = queued(&config);
    assert_eq!(ids.len(), 1);
    ok(mailyard(&config, &["queue", "delete", &ids[0]], None));
    wait_until("the fifth's bounce", Duration::from_secs(20), || {
        std::fs::read_dir(&inbox).map_or(0, |d| d.count()) >= 2
    })
    .await;
    let bounces: Vec<String> = std::fs::read_dir(&inbox)
        .expect("inbox")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).expect("read"))
        .collect();
    assert_eq!(bounces.len(), 2, "only the fifth bounced");
    assert!(bounces.iter().all(|b| !b.contains("Subject: fourth")));
    assert!(bounces.iter().any(|b| b.contains("Subject: fifth")));

    let bad = mailyard(&config, &["queue", "hold", "NOSUCHID"], None);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no such queue entry"));
}

#[test]
fn dkim_generate_prints_the_record_and_list_shows_the_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n", dir.path().join("data")),
    )
    .expect("w");
    let out = ok(mailyard(
        &config,
        &["dkim", "generate", "example.com"],
        None,
    ));
    assert!(
        out.contains("mailyard._domainkey.example.com. IN TXT \"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"),
        "{out}"
    );
    let out = ok(mailyard(
        &config,
        &[
            "dkim",
            "generate",
            "example.com",
            "--selector",
            "ed",
            "--algorithm",
            "ed25519",
        ],
        None,
    ));
    assert!(
        out.contains("ed._domainkey.example.com. IN TXT \"v=DKIM1; k=ed25519; p="),
        "{out}"
    );
    let again = mailyard(&config, &["dkim", "generate", "example.com"], None);
    assert!(
        !again.status.success(),
        "an existing key is never overwritten"
    );
    let list = ok(mailyard(&config, &["dkim", "list"], None));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].starts_with("example.com  ed  ed25519-sha256"),
        "{list}"
    );
    assert!(
        lines[1].starts_with("example.com  mailyard  rsa-sha256"),
        "{list}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("data/dkim/example.com/mailyard.rsa.pem"))
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
