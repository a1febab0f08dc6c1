//! The `mailyard` binary end to end, as an admin and their scripts use it: `serve` on a
//! temp config, the admin commands against the same data dir while it runs, real
//! clients on its ports, `reindex` and `check`, a bad config, SIGTERM.

mod bin_support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bin_support::{addr, mailyard, python, serve, text};

fn first_line(addr: SocketAddr) -> String {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("greeting");
    line
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    write_config_with(
        dir,
        "info",
        "smtp = \"127.0.0.1:0\"\nsubmission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\n\
         imap = \"127.0.0.1:0\"\nimaps = \"127.0.0.1:0\"\nhttp = \"\"\n",
    )
}

#[test]
fn serve_and_admin_commands_on_one_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path());
    let server = serve(&config, 5);
    assert!(
        dir.path().join("data/tls/cert.pem").is_file(),
        "self-signed certificate created"
    );
    assert!(dir.path().join("data/index.db").is_file());

    // Admin commands while serve runs, password on stdin (not a terminal).
    let o = mailyard(
        &config,
        &["user", "add", "Alice@Example.com"],
        Some("s3cret pw\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("added alice@example.com"));
    let o = mailyard(&config, &["user", "add", "alice@example.com"], Some("x\n"));
    assert!(!o.status.success(), "a second add fails: {}", text(&o));
    let o = mailyard(
        &config,
        &["user", "add", "bob@example.com"],
        Some("bobpw\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = mailyard(
        &config,
        &[
            "alias",
            "add",
            "info@example.com",
            "alice@example.com",
            "bob@example.com",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = mailyard(&config, &["user", "list"], None);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "alice@example.com\nbob@example.com\n"
    );
    let o = mailyard(&config, &["alias", "list"], None);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "info@example.com -> alice@example.com, bob@example.com\n"
    );
    let o = mailyard(&config, &["domain", "list"], None);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "example.com\n");
    let o = mailyard(&config, &["domain", "del", "example.com"], None);
    assert!(
        !o.status.success(),
        "a domain in use is not removed: {}",
        text(&o)
    );
    let o = mailyard(&config, &["domain", "add", "example.org"], None);
    assert!(o.status.success(), "{}", text(&o));

    // The server answers on its ports.
    assert!(first_line(addr(&server, "smtp")).starts_with("220 mail.example.com"));
    assert!(first_line(addr(&server, "submission")).starts_with("220 mail.example.com"));
    assert!(first_line(addr(&server, "imap")).starts_with("* OK"));

    // The new user receives mail without a restart: SMTP in, IMAP out, with real clients.
    let script = r#"
import os, smtplib, imaplib, ssl
s = smtplib.SMTP('127.0.0.1', int(os.environ['SMTP']), timeout=10)
s.sendmail('someone@example.net', ['info@example.com'], b'From: someone@example.net\r\nSubject: hi\r\n\r\nhello\r\n')
s.quit()
ctx = ssl._create_unverified_context()
m = imaplib.IMAP4_SSL('127.0.0.1', int(os.environ['IMAPS']), ssl_context=ctx, timeout=10)
m.login('alice@example.com', 's3cret pw')
typ, data = m.select('INBOX')
print('exists', data[0].decode())
typ, data = m.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
print('subject', data[0][1].decode().strip())
m.logout()
"#;
    let out = python(
        script,
        &[
            ("SMTP", addr(&server, "smtp").port().to_string()),
            ("IMAPS", addr(&server, "imaps").port().to_string()),
        ],
    );
    let out_text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out_text}");
    assert!(out_text.contains("exists 1"), "{out_text}");
    assert!(out_text.contains("subject Subject: hi"), "{out_text}");

    let o = mailyard(&config, &["check"], None);
    assert!(o.status.success(), "{}", text(&o));

    // Password change takes effect without a restart; user del keeps the mail.
    let o = mailyard(
        &config,
        &["user", "passwd", "bob@example.com"],
        Some("newbobpw\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = mailyard(&config, &["user", "del", "bob@example.com"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        dir.path().join("data/mail/example.com/bob/cur").is_dir(),
        "mail stays"
    );

    // SIGTERM: a clean exit, promptly.
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut server = server;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            assert!(status.success(), "serve exits 0 on SIGTERM: {status:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The index is a cache: delete it, reindex, nothing lost.
    for f in ["index.db", "index.db-wal", "index.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join("data").join(f));
    }
    let o = mailyard(&config, &["reindex"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("alice@example.com: 6 mailboxes, 1 messages"),
        "{}",
        text(&o)
    );
    let o = mailyard(&config, &["check"], None);
    assert!(o.status.success(), "{}", text(&o));

    // A stray file in the maildir that the index does not know makes check fail.
    std::fs::write(
        dir.path()
            .join("data/mail/example.com/alice/new/1.M1P1.stray"),
        "Subject: stray\r\n\r\nx\r\n",
    )
    .expect("write");
    let o = mailyard(&config, &["check"], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("is not indexed"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_config_names_key_and_line_and_nothing_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "hostname = \"x\"\n[listen]\nsmtp = \"127.0.0.1:0\"\nimapp = \"127.0.0.1:0\"\n",
    )
    .expect("write");
    for args in [&["serve"][..], &["check"][..], &["user", "list"][..]] {
        let o = mailyard(&config, args, None);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("bad.toml") && err.contains("line 4") && err.contains("imapp"),
            "{err}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "nothing created on a bad config"
    );
}

#[test]
fn password_prompt_needs_matching_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path());
    let o = mailyard(&config, &["user", "add", "carol@example.com"], Some(""));
    assert!(
        !o.status.success(),
        "no password on stdin is an error: {}",
        text(&o)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("no password"));
    let o = mailyard(&config, &["user", "add", "not-an-address"], Some("pw\n"));
    assert!(!o.status.success());
}

/// Runs a python3 script with `env` set, to completion.
/// A config with these `[listen]` lines, JSON logs at `level`, and no SPF/DKIM/DMARC.
fn write_config_with(dir: &Path, level: &str, listen: &str) -> std::path::PathBuf {
    let config = dir.join("mailyard.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mail.example.com\"\ndata_dir = {:?}\n[listen]\n{listen}\
             [log]\nformat = \"json\"\nlevel = \"{level}\"\n[auth_checks]\nenabled = false\n",
            dir.join("data").display().to_string()
        ),
    )
    .expect("write config");
    config
}

#[test]
fn imap_session_logs_tls_after_starttls() {
    // Issue 9 item 10: a session that completed STARTTLS logs "tls":true.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config_with(
        dir.path(),
        "info",
        "smtp = \"\"\nsubmission = \"\"\nsubmissions = \"\"\nimap = \"127.0.0.1:0\"\nimaps = \"\"\nhttp = \"\"\n",
    );
    let server = serve(&config, 1);
    let o = mailyard(&config, &["user", "add", "alice@example.com"], Some("pw\n"));
    assert!(o.status.success(), "{}", text(&o));
    let script = r#"
import os, imaplib, ssl
m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']), timeout=10)
m.starttls(ssl._create_unverified_context())
m.login('alice@example.com', 'pw')
m.logout()
"#;
    let out = python(
        script,
        &[("IMAP", addr(&server, "imap").port().to_string())],
    );
    assert!(out.status.success(), "{}", text(&out));
    let line = server.wait_log(&["logged in"], Duration::from_secs(20));
    assert!(line.contains("\"tls\":true"), "{line}");
}

#[test]
fn self_signed_certificate_names_every_listener_and_handshake_failures_are_logged() {
    // Issue 9 item 12: the generated certificate has CN = hostname and names the
    // hostname, localhost and every listener's IP address, so a client connecting
    // to an address verifies it; a handshake a client gives up on is logged at debug
    // with the alert.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config_with(
        dir.path(),
        "info,mailyard_common=debug",
        "smtp = \"\"\nsubmission = \"\"\nsubmissions = \"127.0.0.1:0\"\nimap = \"\"\nimaps = \"127.0.0.2:0\"\nhttp = \"\"\n",
    );
    let server = serve(&config, 2);
    let script = r#"
import os, socket, ssl
cert = os.environ['CERT']
d = ssl._ssl._test_decode_cert(cert)
print('subject', d['subject'])
print('san', d['subjectAltName'])
# The pinned certificate verifies for an address, as Thunderbird checks it.
ctx = ssl.create_default_context(cafile=cert)
for host, port in (('127.0.0.2', os.environ['IMAPS']), ('127.0.0.1', os.environ['SUBMISSIONS'])):
    with socket.create_connection((host, int(port)), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=host) as t:
            print('verified', host, t.recv(3))
# A client that does not trust it gives up with an alert.
try:
    with socket.create_connection(('127.0.0.2', int(os.environ['IMAPS'])), timeout=10) as s:
        ssl.create_default_context().wrap_socket(s, server_hostname='127.0.0.2')
    print('unexpectedly trusted')
except ssl.SSLCertVerificationError as e:
    print('refused by client', e.verify_message)
"#;
    let out = python(
        script,
        &[
            (
                "CERT",
                dir.path().join("data/tls/cert.pem").display().to_string(),
            ),
            ("IMAPS", addr(&server, "imaps").port().to_string()),
            (
                "SUBMISSIONS",
                addr(&server, "submissions").port().to_string(),
            ),
        ],
    );
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains("(('commonName', 'mail.example.com'),)"),
        "{printed}"
    );
    for san in [
        "('DNS', 'mail.example.com')",
        "('DNS', 'localhost')",
        "('IP Address', '127.0.0.1')",
        "('IP Address', '127.0.0.2')",
    ] {
        assert!(printed.contains(san), "{san} in {printed}");
    }
    assert!(printed.contains("verified 127.0.0.2 b'* O'"), "{printed}");
    assert!(printed.contains("verified 127.0.0.1 b'220'"), "{printed}");
    assert!(printed.contains("refused by client"), "{printed}");
    let line = server.wait_log(&["TLS handshake failed"], Duration::from_secs(20));
    assert!(line.contains("\"level\":\"DEBUG\""), "{line}");
    assert!(line.contains("alert"), "the alert is named: {line}");
    assert!(line.contains("\"peer\""), "in the session span: {line}");
}
