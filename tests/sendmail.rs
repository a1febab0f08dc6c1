//! `mailyard sendmail` and the `sendmail` link, as scripts use them: bsd-mailx configured
//! to use our sendmail, cron's way (`… | sendmail -t`), an SMTP session on stdin
//! (`-bs`), local and remote recipients in one message, and mail submitted while no
//! server runs, delivered once it starts; and sendmail run as an unprivileged user
//! (`setpriv`, uid 65534), which goes through the server's local submission socket.
//! Mail is read back over IMAP with Python's imaplib; remote mail goes to an SMTP sink
//! found through a DNS server on loopback.

mod bin_support;
#[path = "tests/relay_support/mod.rs"]
mod relay_support;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bin_support::{BIN, addr, mailyard, python, run_with_input, serve, text};
use relay_support::{SinkConf, Zone, dns_server, free_port, sinks_on, wait_until};

const ALICE: &str = "alice@example.com";
const PW: &str = "alice password";

/// A config with SMTP and IMAP on loopback, DNS at `dns`, remote MX port `port`.
fn write_config(dir: &Path, dns: SocketAddr, port: u16) -> PathBuf {
    bin_support::write_config(
        dir,
        "mailyard.toml",
        "data",
        &["smtp", "imap"],
        &format!(
            "[log]\nformat = \"json\"\n[auth_checks]\nenabled = false\n\
             [dns]\nnameservers = [\"{dns}\"]\n\
             [relay]\nport = {port}\nretry_seconds = [1]\nretry_every_seconds = 1\n"
        ),
    )
}

fn zone() -> Zone {
    Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2))
        // Nothing ever listens on 127.0.0.3: mail for slow.test stays queued.
        .mx("slow.test", 10, "mx.slow.test")
        .a("mx.slow.test", Ipv4Addr::new(127, 0, 0, 3))
}

/// A link named `sendmail` to the binary, in `dir`.
fn sendmail_link(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let link = bin.join("sendmail");
    std::os::unix::fs::symlink(BIN, &link).expect("symlink");
    link
}

/// Runs `program args` with MAILYARD_CONFIG=`config`, `input` on stdin.
fn run(program: &Path, config: &Path, args: &[&str], input: &str) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).env("MAILYARD_CONFIG", config);
    run_with_input(cmd, input)
}

/// Every message in `user`'s INBOX, read over IMAP with Python's imaplib.
fn imap_messages(imap: SocketAddr, user: &str) -> Vec<String> {
    let script = r#"
import imaplib, os, sys
m = imaplib.IMAP4(os.environ["HOST"], int(os.environ["PORT"]))
m.login(os.environ["USER_"], os.environ["PASS"])
m.select("INBOX", readonly=True)
typ, data = m.search(None, "ALL")
for num in data[0].split():
    typ, d = m.fetch(num, "(BODY.PEEK[])")
    sys.stdout.write(d[0][1].decode("utf-8", "replace"))
    sys.stdout.write("\n=====MESSAGE-END=====\n")
m.logout()
"#;
    let out = python(
        script,
        &[
            ("HOST", imap.ip().to_string()),
            ("PORT", imap.port().to_string()),
            ("USER_", user.to_string()),
            ("PASS", PW.to_string()),
        ],
    );
    assert!(out.status.success(), "imaplib: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .split("\n=====MESSAGE-END=====\n")
        .filter(|m| !m.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The message whose Subject is `subject`, waited for (deadline 20 s).
fn wait_message(imap: SocketAddr, subject: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = imap_messages(imap, ALICE)
            .into_iter()
            .find(|m| m.contains(&format!("\r\nSubject: {subject}\r\n")));
        if let Some(m) = found {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no message {subject:?} over IMAP"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of header field `name` in `message` (first occurrence).
fn field<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let head = message.split("\r\n\r\n").next()?;
    head.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

fn queue_ids(config: &Path) -> Vec<String> {
    let o = mailyard(config, &["queue", "list"], None);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.ends_with("queued"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailx_cron_and_bs_reach_imap_and_the_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dns = dns_server(zone()).await;
    let config = write_config(dir.path(), dns, free_port().await);
    let o = mailyard(&config, &["user", "add", ALICE], Some(PW));
    assert!(o.status.success(), "{}", text(&o));
    let server = serve(&config, 2);
    let imap = addr(&server, "imap");
    let link = sendmail_link(dir.path());

    // bsd-mailx with `set sendmail=` pointing at the link (it runs `sendmail -i -t`).
    let mailrc = dir.path().join("mailrc");
    std::fs::write(&mailrc, format!("set sendmail={}\n", link.display())).expect("mailrc");
    let mut child = Command::new("mailx")
        .args(["-s", "from mailx", ALICE])
        .env("MAILRC", &mailrc)
        .env("MAILYARD_CONFIG", &config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mailx runs (apt-get install -y bsd-mailx)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello from mailx\n.\nafter a dot line\n")
        .expect("write");
    let o = child.wait_with_output().expect("mailx");
    assert!(o.status.success(), "mailx: {}", text(&o));
    let m = wait_message(imap, "from mailx");
    assert_eq!(field(&m, "To"), Some(ALICE), "{m}");
    let from = field(&m, "From").expect("From: added");
    assert!(from.ends_with("@mail.example.com>"), "{m}");
    assert!(field(&m, "Date").is_some(), "{m}");
    assert!(
        field(&m, "Message-ID").is_some_and(|v| v.ends_with("@mail.example.com>")),
        "{m}"
    );
    assert!(m.starts_with("Return-Path: <"), "{m}");
    assert!(m.contains("(mailyard sendmail, from userid "), "{m}");
    // mailx passes -i: the lone dot is text.
    assert!(
        m.contains("hello from mailx\r\n.\r\nafter a dot line"),
        "{m}"
    );

    // Cron's way: `… | mailyard sendmail -t` with To:, Cc:, Bcc:, Subject:, through
    // the subcommand; -F names the sender, a lone dot ends the input (no -i).
    let o = run(
        Path::new(BIN),
        &config,
        &["sendmail", "-t", "-F", "Cron Daemon", "-f", "cron"],
        "To: alice\nBcc: alice@example.com\nSubject: cron job\n\nline 1\n.\nnot sent\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let m = wait_message(imap, "cron job");
    assert_eq!(
        field(&m, "From"),
        Some("Cron Daemon <cron@mail.example.com>"),
        "{m}"
    );
    assert_eq!(field(&m, "Return-Path"), Some("<cron@mail.example.com>"));
    assert!(field(&m, "Bcc").is_none(), "Bcc removed: {m}");
    assert!(m.ends_with("\r\n\r\nline 1\r\n"), "{m:?}");
    // `alice` (no domain) and alice@example.com are one recipient: one copy.
    let copies = imap_messages(imap, ALICE)
        .iter()
        .filter(|m| m.contains("Subject: cron job"))
        .count();
    assert_eq!(copies, 1);

    // Local and remote in one message: the local copy is in the INBOX, the remote
    // recipient in the relay queue (slow.test's MX never answers).
    let o = run(
        &link,
        &config,
        &["-oi", "-oem", "-odi", "-v", ALICE, "bob@slow.test"],
        "Subject: both\n\nfor alice and bob\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    wait_message(imap, "both");
    let list =
        String::from_utf8_lossy(&mailyard(&config, &["queue", "list"], None).stdout).into_owned();
    assert!(list.contains("to bob@slow.test"), "{list}");

    // -bs: an SMTP session on stdin/stdout.
    let o = run(
        &link,
        &config,
        &["-bs"],
        "EHLO client\r\nMAIL FROM:<script@example.com>\r\nRCPT TO:<nobody@example.com>\r\n\
         RCPT TO:<alice@example.com>\r\nDATA\r\nSubject: over bs\r\n\r\n..dotted\r\n.\r\nQUIT\r\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let replies = String::from_utf8_lossy(&o.stdout).into_owned();
    let codes: Vec<&str> = replies
        .lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .map(|l| &l[..3])
        .collect();
    assert_eq!(
        codes,
        ["220", "250", "250", "550", "250", "354", "250", "221"],
        "{replies}"
    );
    let m = wait_message(imap, "over bs");
    assert_eq!(field(&m, "Return-Path"), Some("<script@example.com>"));
    assert!(m.ends_with("\r\n\r\n.dotted\r\n"), "unstuffed: {m:?}");

    // Exit codes (sysexits.h).
    let code = |o: Output| o.status.code();
    assert_eq!(code(run(&link, &config, &["-k", ALICE], "")), Some(64));
    assert_eq!(
        code(run(&link, &config, &["nobody@example.com"], "x\n")),
        Some(67)
    );
    assert_eq!(
        code(run(&link, &config, &["-t"], "Subject: none\n\nx\n")),
        Some(65)
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "no_such_key = 1\n").expect("write");
    assert_eq!(code(run(&link, &bad, &[ALICE], "x\n")), Some(78));
    assert_eq!(code(run(&link, &config, &["-bi"], "")), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_without_a_server_then_delivered_after_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dns = dns_server(zone()).await;
    let port = free_port().await;
    let config = write_config(dir.path(), dns, port);
    let o = mailyard(&config, &["user", "add", ALICE], Some(PW));
    assert!(o.status.success(), "{}", text(&o));
    let link = sendmail_link(dir.path());

    // No server: the local copy goes into the maildir, the remote one into the queue.
    let o = run(
        &link,
        &config,
        &["-t", "-f", ALICE],
        "From: Alice <alice@example.com>\nTo: x@a.test, alice@example.com\nSubject: offline\n\nwritten offline\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let ids = queue_ids(&config);
    assert_eq!(ids.len(), 1, "{ids:?}");

    let sinks = sinks_on(port, vec![SinkConf::default()])
        .await
        .expect("the MX port is free");
    let server = serve(&config, 2);
    wait_until(
        "the queued message relayed",
        Duration::from_secs(30),
        || !sinks[0].got().is_empty(),
    )
    .await;
    let got = &sinks[0].got()[0];
    assert_eq!(got.from, "alice@example.com");
    assert_eq!(got.rcpts, ["x@a.test"]);
    let data = String::from_utf8_lossy(&got.data);
    assert!(data.contains("Subject: offline\r\n"), "{data}");
    assert!(!data.contains("Return-Path:"), "not relayed: {data}");
    let m = wait_message(addr(&server, "imap"), "offline");
    assert!(m.contains("written offline"), "{m}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !queue_ids(&config).is_empty() {
        assert!(Instant::now() < deadline, "queue not emptied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- Unprivileged users: the local submission socket ----

/// The uid and gid the unprivileged runs use (Debian's `nobody`/`nogroup`).
const NOBODY: u32 = 65534;

/// The binary as `nobody` may run it: `BIN` itself when every directory above it is
/// searchable by others and the file is readable and executable by them, else a copy
/// (mode 0755) in `dir`.
fn runnable_by_others(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = Path::new(BIN);
    let mode = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode());
    let reachable = bin.ancestors().skip(1).all(|d| mode(d) & 0o001 != 0);
    if reachable && mode(bin) & 0o005 == 0o005 {
        return bin.to_path_buf();
    }
    let copy = dir.join("mailyard");
    std::fs::copy(bin, &copy).expect("copy the binary");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    copy
}

/// Runs `bin sendmail args` as uid/gid 65534 with no supplementary groups
/// (util-linux's setpriv), MAILYARD_CONFIG=`config`, `input` on stdin.
fn run_as_nobody(bin: &Path, config: &Path, args: &[&str], input: &str) -> Output {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
    ])
    .arg(bin)
    .arg("sendmail")
    .args(args)
    .env("MAILYARD_CONFIG", config)
    .current_dir("/");
    run_with_input(cmd, input)
}

/// A raw request on the socket with Python's `socket` module: the reply line, waited
/// for (deadline 10 s) after sending `request` and nothing more.
fn raw_request(socket: &Path, request: &str) -> String {
    let script = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(os.environ["SOCK"])
s.sendall(os.environ["REQ"].encode())
reply = b""
while not reply.endswith(b"\n"):
    chunk = s.recv(1024)
    if not chunk:
        break
    reply += chunk
sys.stdout.write(reply.decode())
"#;
    let out = python(
        script,
        &[
            ("SOCK", socket.display().to_string()),
            ("REQ", request.to_string()),
        ],
    );
    assert!(out.status.success(), "python socket: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sendmail` run as `nobody` (setpriv) cannot open the data dir (0700, root's), so it
/// submits through `[listen] local`: the server names the uid and user in `Received:`
/// and completes From/Date/Message-ID; remote mail is queued; unknown local users are
/// 67, an oversized message 65 (refused before its body is read), `-bs` works, `-q` is
/// 77. With serve stopped, nobody's run is 75 while root's still works in-process, and
/// the next serve takes over the stale socket. Needs root (CI runs as root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprivileged_users_submit_through_the_socket() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    // The config, the binary and the socket's directory are reachable by others; the
    // data dir is not.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    assert_eq!(
        uid.ok(),
        Some(0),
        "this test runs sendmail as nobody with setpriv: run it as root (CI does)"
    );
    let dns = dns_server(zone()).await;
    let config = write_config(dir.path(), dns, free_port().await);
    let socket = dir.path().join("run").join("submit.sock");
    let server_limits = "[limits]\nmessage_size = 65536\n";
    let base = std::fs::read_to_string(&config).expect("config");
    let with_local = |extra: &str| {
        base.replace(
            "[listen]\n",
            &format!("[listen]\nlocal = {:?}\n", socket.display().to_string()),
        ) + extra
    };
    std::fs::write(&config, with_local(server_limits)).expect("write config");
    // The client's own limit is larger: the server's refusal is what is tested.
    let big_client = dir.path().join("client.toml");
    std::fs::write(
        &big_client,
        with_local("[limits]\nmessage_size = 1048576\n"),
    )
    .expect("write config");
    for c in [&config, &big_client] {
        std::fs::set_permissions(c, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let o = mailyard(&config, &["user", "add", ALICE], Some(PW));
    assert!(o.status.success(), "{}", text(&o));
    let data = dir.path().join("data");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let bin = runnable_by_others(dir.path());

    let server = serve(&config, 3);
    assert_eq!(server.sockets, [("local".to_string(), socket.clone())]);
    let mode = std::fs::metadata(&socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o666, "every local user may connect");
    let imap = addr(&server, "imap");

    // Cron's way, as nobody: -t, nothing but To: and Subject: given.
    let o = run_as_nobody(
        &bin,
        &config,
        &["-t"],
        "To: alice@example.com\nSubject: as nobody\n\nfrom an unprivileged user\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    server.wait_log(
        &[
            "sendmail: submitted",
            "\"uid\":65534",
            "\"user\":\"nobody\"",
        ],
        Duration::from_secs(20),
    );
    let m = wait_message(imap, "as nobody");
    assert!(
        m.ends_with("\r\n\r\nfrom an unprivileged user\r\n"),
        "{m:?}"
    );
    let received = field(&m, "Received").expect("Received:");
    assert!(
        received.contains("(mailyard sendmail, from userid 65534 (nobody))"),
        "{m}"
    );
    assert_eq!(
        field(&m, "From"),
        Some("nobody <nobody@mail.example.com>"),
        "the GECOS name from /etc/passwd: {m}"
    );
    assert_eq!(field(&m, "Return-Path"), Some("<nobody@mail.example.com>"));
    assert!(field(&m, "Date").is_some(), "{m}");
    assert!(
        field(&m, "Message-ID").is_some_and(|v| v.ends_with("@mail.example.com>")),
        "{m}"
    );

    // A data dir others may read (files 0644) is still not theirs to write: the
    // server takes the message, not a read-only store opened in-process.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let o = run_as_nobody(
        &bin,
        &config,
        &[ALICE],
        "Subject: readable dir

x
",
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    assert!(o.status.success(), "{}", text(&o));
    let m = wait_message(imap, "readable dir");
    assert!(m.contains("from userid 65534 (nobody)"), "{m}");

    // A remote recipient goes to the relay queue (slow.test's MX never answers), with
    // the DSN options of the command line.
    let o = run_as_nobody(
        &bin,
        &config,
        &["-N", "failure", "-V", "env-1", "bob@slow.test"],
        "Subject: remote\n\nfor bob\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let list =
        String::from_utf8_lossy(&mailyard(&config, &["queue", "list"], None).stdout).into_owned();
    assert!(list.contains("to bob@slow.test"), "{list}");

    // Exit codes from the server's answers.
    let o = run_as_nobody(&bin, &config, &["ghost@example.com"], "x\n");
    assert_eq!(o.status.code(), Some(67), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ghost@example.com: no such user"));
    let big = format!("Subject: big\n\n{}\n", "x".repeat(100 * 1024));
    let o = run_as_nobody(&bin, &big_client, &[ALICE], &big);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("message_size (65536 octets)"),
        "the server's limit: {}",
        text(&o)
    );
    // The refusal comes before the message: announced, never sent, answered.
    let reply = raw_request(
        &socket,
        "MAILYARD-SUBMIT 1\nRCPT alice@example.com\nDATA 100000\n",
    );
    assert!(reply.starts_with("ERR 65 "), "{reply:?}");
    let reply = raw_request(&socket, "HELO there\n");
    assert!(reply.starts_with("ERR 64 "), "{reply:?}");
    let o = run_as_nobody(&bin, &config, &["-q"], "");
    assert_eq!(o.status.code(), Some(77), "{}", text(&o));

    // -bs over the socket: RCPT checked by the server, each message one request.
    let o = run_as_nobody(
        &bin,
        &config,
        &["-bs"],
        "EHLO client\r\nMAIL FROM:<>\r\nRCPT TO:<ghost@example.com>\r\n\
         RCPT TO:<alice@example.com>\r\nDATA\r\nSubject: bs as nobody\r\n\r\n..dotted\r\n.\r\n\
         MAIL FROM:<script@example.com>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n\
         Subject: second over bs\r\n\r\ntwo\r\n.\r\nQUIT\r\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let replies = String::from_utf8_lossy(&o.stdout).into_owned();
    let codes: Vec<&str> = replies
        .lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .map(|l| &l[..3])
        .collect();
    assert_eq!(
        codes,
        [
            "220", "250", "250", "550", "250", "354", "250", "250", "250", "354", "250", "221"
        ],
        "{replies}"
    );
    let m = wait_message(imap, "bs as nobody");
    assert_eq!(field(&m, "Return-Path"), Some("<>"));
    assert!(m.contains("from userid 65534 (nobody)"), "{m}");
    assert!(m.ends_with("\r\n\r\n.dotted\r\n"), "unstuffed: {m:?}");
    // <Postmaster>: the first user, alice.
    wait_message(imap, "second over bs");

    // A second server cannot take the socket while this one answers on it.
    let o = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .expect("second serve");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("a server answers on this socket already"),
        "{}",
        text(&o)
    );

    // Serve stopped (killed: its socket file stays): nobody cannot queue, root can.
    drop(server);
    assert!(socket.exists(), "a killed server leaves its socket");
    let o = run_as_nobody(&bin, &config, &[ALICE], "Subject: too early\n\nx\n");
    assert_eq!(o.status.code(), Some(75), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("mailyard serve is not running"),
        "{}",
        text(&o)
    );
    let o = run(
        Path::new(BIN),
        &config,
        &["sendmail", ALICE],
        "Subject: root offline\n\nin-process\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    // The next server takes over the stale socket and serves root's message.
    let server = serve(&config, 3);
    let m = wait_message(addr(&server, "imap"), "root offline");
    assert!(m.contains("from userid 0 (root)"), "{m}");
    let o = run_as_nobody(&bin, &config, &[ALICE], "Subject: after restart\n\nok\n");
    assert!(o.status.success(), "{}", text(&o));
    wait_message(addr(&server, "imap"), "after restart");
}
