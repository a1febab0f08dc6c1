//! The SMTP daemon end to end: real listeners on 127.0.0.1 port 0, a real store in a
//! temp dir, and real clients: Python's smtplib, swaks, and raw sockets for pipelining,
//! BDAT and the smuggling sequences.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailyard_common::Config;
use mailyard_common::shutdown::Shutdown;
use mailyard_smtp::{Context, Role};
use mailyard_store::{Address, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

struct Server {
    _dir: tempfile::TempDir,
    store: Store,
    mx: SocketAddr,
    submission: SocketAddr,
    submissions: SocketAddr,
    _shutdown: Shutdown,
}

async fn start(extra: &str) -> Server {
    start_with("", extra).await
}

/// `start` with top-level keys (before any table).
async fn start_top(top: &str) -> Server {
    start_with(top, "").await
}

async fn start_with(top: &str, extra: &str) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        // SPF/DKIM/DMARC off: they would query the machine's resolver about test
        // domains (tests/authchecks.rs covers them against a DNS server on loopback).
        "hostname = \"mail.example.com\"\ndata_dir = {:?}\n{top}[auth_checks]\nenabled = false\n{extra}",
        dir.path().display().to_string()
    );
    let config = Arc::new(Config::parse(&text, "test").expect("config"));
    let (store, _) = Store::open(&config.data_dir).expect("store");
    for (u, pw) in [
        ("alice@example.com", "alicepw"),
        ("bob@example.com", "bobpw"),
    ] {
        let a = Address::parse(u).expect("address");
        store.accounts().add_user(&a, pw).expect("add user");
        store.setup_user_blocking(&a).expect("setup");
    }
    store
        .accounts()
        .add_alias(
            &Address::parse("team@example.com").expect("a"),
            &[
                Address::parse("alice@example.com").expect("a"),
                Address::parse("bob@example.com").expect("a"),
            ],
        )
        .expect("alias");
    let (tls, _) = mailyard_common::tls::load(&config).expect("tls");
    let throttle = mailyard_common::throttle::AuthThrottle::from_config(&config);
    let ctx = Arc::new(Context::new(config.clone(), store.clone(), tls, throttle));
    let shutdown = Shutdown::new();
    let mut addrs = Vec::new();
    for role in [Role::Mx, Role::Submission, Role::Submissions] {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        addrs.push(l.local_addr().expect("addr"));
        tokio::spawn(mailyard_smtp::serve(l, role, ctx.clone(), shutdown.clone()));
    }
    Server {
        _dir: dir,
        store,
        mx: addrs[0],
        submission: addrs[1],
        submissions: addrs[2],
        _shutdown: shutdown,
    }
}

/// The INBOX messages of `user`, as stored.
fn inbox(store: &Store, user: &str) -> Vec<Vec<u8>> {
    let a = Address::parse(user).expect("address");
    let mb = store
        .mailbox_blocking(&a, "INBOX")
        .expect("query")
        .expect("inbox");
    store
        .messages_blocking(mb.id)
        .expect("messages")
        .iter()
        .map(|m| std::fs::read(store.message_path(&a, "INBOX", m).expect("path")).expect("read"))
        .collect()
}

async fn python(script: &str, port: u16) -> (bool, String) {
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PORT", port.to_string())
        .output()
        .await
        .expect("python3 runs (apt-get install -y python3)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Strips the headers the server prepends (Return-Path, Authentication-Results on the
/// MX listener, Received, with their folded lines).
fn without_trace(stored: &[u8]) -> &[u8] {
    let mut rest = stored;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(rest.len(), |p| p + 2);
        let line = &rest[..line_end];
        let trace = line.starts_with(b"Return-Path:")
            || line.starts_with(b"Authentication-Results:")
            || line.starts_with(b"Received:")
            || line.starts_with(b"\t");
        if !trace {
            return rest;
        }
        rest = &rest[line_end..];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_delivers_locally_and_refuses_relay() {
    let s = start("").await;
    let script = r#"
import os, smtplib
s = smtplib.SMTP('127.0.0.1', int(os.environ['PORT']), timeout=10)
code, _ = s.ehlo('client.example.net')
assert code == 250
assert 'auth' not in s.esmtp_features, s.esmtp_features
assert 'starttls' in s.esmtp_features
s.mail('sender@example.net')
print('alice', s.rcpt('alice@example.com'))
print('plus', s.rcpt('Alice+lists@EXAMPLE.com'))
print('unknown', s.rcpt('nobody@example.com'))
print('relay', s.rcpt('someone@elsewhere.org'))
print('data', s.data(b'From: sender@example.net\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\nHi Alice\r\n.leading dot\r\n'))
s.quit()
"#;
    let (ok, out) = python(script, s.mx.port()).await;
    assert!(ok, "{out}");
    assert!(out.contains("alice (250, b'2.1.5"), "{out}");
    assert!(out.contains("plus (250, b'2.1.5"), "{out}");
    assert!(out.contains("unknown (550, b'5.1.1"), "{out}");
    assert!(out.contains("relay (554, b'5.7.1"), "{out}");
    assert!(out.contains("data (250, b'2.0.0"), "{out}");
    let msgs = inbox(&s.store, "alice@example.com");
    assert_eq!(
        msgs.len(),
        1,
        "delivered once even though two RCPTs resolve to alice"
    );
    let m = &msgs[0];
    let text = String::from_utf8_lossy(m);
    assert!(
        text.starts_with(
            "Return-Path: <sender@example.net>\r\nReceived: from client.example.net ([127.0.0.1])\r\n"
        ),
        "trace headers first (auth checks are off here; tests/authchecks.rs covers them): {text}"
    );
    assert!(String::from_utf8_lossy(m).contains("by mail.example.com (mailyard) with ESMTP id"));
    assert_eq!(
        without_trace(m),
        b"From: sender@example.net\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\nHi Alice\r\n.leading dot\r\n",
        "stored byte for byte after the trace headers (dot-unstuffed)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_starttls_auth_completes_headers() {
    let s = start("").await;
    let script = r#"
import os, smtplib, ssl
ctx = ssl._create_unverified_context()
s = smtplib.SMTP('127.0.0.1', int(os.environ['PORT']), timeout=10)
s.ehlo('[127.0.0.1]')
print('mail-before-auth', s.mail('alice@example.com'))
s.rset()
s.starttls(context=ctx)
s.ehlo('[127.0.0.1]')
assert 'auth' in s.esmtp_features, s.esmtp_features
s.login('alice@example.com', 'alicepw')
print('spoof', s.mail('bob@example.com'))
s.rset()
s.mail('alice@example.com', ['BODY=8BITMIME', 'SIZE=100'])
print('bob', s.rcpt('bob@example.com'))
print('team', s.rcpt('team@example.com'))
print('remote', s.rcpt('x@remote.example.org'))
print('data', s.data('From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: Grüße\r\n\r\nHallo Bob\r\n'.encode()))
s.mail('alice@example.com')
s.rcpt('bob@example.com')
print('forged-from', s.data(b'From: bob@example.com\r\nSubject: x\r\n\r\nx\r\n'))
s.quit()
"#;
    let (ok, out) = python(script, s.submission.port()).await;
    assert!(ok, "{out}");
    assert!(out.contains("mail-before-auth (530, b'5.7.0"), "{out}");
    assert!(out.contains("spoof (550, b'5.7.1"), "{out}");
    assert!(out.contains("bob (250"), "{out}");
    assert!(out.contains("team (250"), "{out}");
    assert!(
        out.contains("remote (250"),
        "an authenticated user's remote recipient goes to the relay queue: {out}"
    );
    let queued = s.store.queue_list().expect("queue");
    assert_eq!(queued.len(), 1, "{queued:#?}");
    assert_eq!(queued[0].sender, "alice@example.com");
    assert_eq!(queued[0].recipients.len(), 1);
    assert_eq!(queued[0].recipients[0].rcpt.address, "x@remote.example.org");
    assert!(out.contains("data (250, b'2.0.0"), "{out}");
    assert!(out.contains("forged-from (550, b'5.7.1"), "{out}");
    let bob = inbox(&s.store, "bob@example.com");
    assert_eq!(
        bob.len(),
        1,
        "bob once, although also reached through the alias"
    );
    let text = String::from_utf8_lossy(&bob[0]);
    assert!(text.contains("with ESMTPSA id"), "{text}");
    assert!(text.contains("(using TLSv1.3 with cipher"), "{text}");
    assert!(
        text.contains("(Authenticated sender: alice@example.com)"),
        "{text}"
    );
    assert!(text.contains("\r\nDate: "), "Date added: {text}");
    assert!(
        text.contains("\r\nMessage-ID: <"),
        "Message-ID added: {text}"
    );
    assert_eq!(
        inbox(&s.store, "alice@example.com").len(),
        1,
        "alice via the team alias"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_implicit_tls_and_failed_logins() {
    let s = start("").await;
    let script = r#"
import os, smtplib, ssl
ctx = ssl._create_unverified_context()
s = smtplib.SMTP_SSL('127.0.0.1', int(os.environ['PORT']), timeout=10, context=ctx)
s.ehlo('client')
try:
    s.login('alice@example.com', 'wrong')
except smtplib.SMTPAuthenticationError as e:
    print('failed', e.smtp_code, e.smtp_error[:5])
s.login('alice@example.com', 'alicepw')
s.sendmail('alice@example.com', ['bob@example.com'], b'From: alice@example.com\r\nSubject: tls\r\n\r\nsecret\r\n')
print('sent')
s.quit()
"#;
    let (ok, out) = python(script, s.submissions.port()).await;
    assert!(ok, "{out}");
    assert!(out.contains("failed 535 b'5.7.8'"), "{out}");
    assert!(out.contains("sent"), "{out}");
    assert_eq!(inbox(&s.store, "bob@example.com").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_auth_without_tls_when_configured() {
    let s = start("[auth]\nplaintext_on_loopback = false\n").await;
    // A client bound to 127.0.0.2, as a second host on loopback.
    let sock = TcpSocket::new_v4().expect("socket");
    sock.bind("127.0.0.2:0".parse().expect("addr"))
        .expect("bind 127.0.0.2");
    let stream = sock.connect(s.submission).await.expect("connect");
    let mut c = Client::new(stream).await;
    let ehlo = c.cmd("EHLO client").await;
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(
        c.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAGFsaWNlcHc=")
            .await
            .starts_with("538 5.7.11")
    );
    assert!(
        c.cmd("MAIL FROM:<alice@example.com>")
            .await
            .starts_with("530 5.7.0")
    );
}

/// A raw SMTP client: sends lines, reads whole (multi-line) replies.
/// The first line a new connection to `addr` gets (the greeting, or a refusal).
async fn first_line(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut line = String::new();
    let mut r = BufReader::new(&mut stream);
    tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
        .await
        .expect("reply within 10 s")
        .expect("read");
    line
}

struct Client {
    r: BufReader<tokio::io::ReadHalf<TcpStream>>,
    w: tokio::io::WriteHalf<TcpStream>,
}

impl Client {
    async fn new(stream: TcpStream) -> Client {
        let (r, w) = tokio::io::split(stream);
        let mut c = Client {
            r: BufReader::new(r),
            w,
        };
        let greeting = c.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        c
    }
    async fn connect(addr: SocketAddr) -> Client {
        Client::new(TcpStream::connect(addr).await.expect("connect")).await
    }
    async fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).await.expect("write");
    }
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.r.read_line(&mut line))
                .await
                .expect("reply within 10 s")
                .expect("read");
            assert!(n > 0, "connection closed; got so far: {all:?}");
            all.push_str(&line);
            if line.as_bytes().get(3) == Some(&b' ') {
                return all;
            }
        }
    }
    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_session_and_bdat() {
    let s = start("").await;
    let mut c = Client::connect(s.mx).await;
    c.cmd("EHLO pipeliner").await;
    // RFC 2920: the whole transaction in one write.
    c.send(b"MAIL FROM:<p@example.net>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n").await;
    assert!(c.reply().await.starts_with("250 2.1.0"));
    assert!(c.reply().await.starts_with("250 2.1.5"));
    assert!(c.reply().await.starts_with("550 5.1.1"));
    assert!(c.reply().await.starts_with("250 2.1.5"));
    assert!(c.reply().await.starts_with("354"));
    c.send(b"Subject: piped\r\n\r\nbody\r\n.\r\nNOOP\r\n").await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    assert!(
        c.reply().await.starts_with("250 2.0.0"),
        "NOOP after the pipelined end of data"
    );
    // RFC 3030 CHUNKING: two chunks, the second LAST; chunk bytes that look like commands are data.
    let chunk1 = b"Subject: chunked\r\n\r\nMAIL FROM:<evil@x>\r\n";
    let chunk2 = b".\r\nend\r\n";
    c.send(b"MAIL FROM:<p@example.net>\r\nRCPT TO:<alice@example.com>\r\n")
        .await;
    c.reply().await;
    c.reply().await;
    c.send(format!("BDAT {}\r\n", chunk1.len()).as_bytes())
        .await;
    c.send(chunk1).await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    c.send(format!("BDAT {} LAST\r\n", chunk2.len()).as_bytes())
        .await;
    c.send(chunk2).await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    assert!(c.cmd("QUIT").await.starts_with("221 2.0.0"));
    let alice = inbox(&s.store, "alice@example.com");
    assert_eq!(alice.len(), 2);
    assert_eq!(
        without_trace(&alice[1]),
        b"Subject: chunked\r\n\r\nMAIL FROM:<evil@x>\r\n.\r\nend\r\n"
    );
    assert_eq!(inbox(&s.store, "bob@example.com").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_sequences_never_make_a_second_message() {
    let s = start("").await;
    // The 2023 SMTP smuggling end-of-data variants; after each, a smuggled transaction.
    let variants: &[&[u8]] = &[
        b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r.\r\n", b"\r\n.\r", b"\r\n.\n", b".\n",
    ];
    for (i, v) in variants.iter().enumerate() {
        let mut c = Client::connect(s.mx).await;
        c.cmd("EHLO smuggler").await;
        c.cmd("MAIL FROM:<a@example.net>").await;
        c.cmd("RCPT TO:<alice@example.com>").await;
        assert!(c.cmd("DATA").await.starts_with("354"));
        let mut body = format!("Subject: outer {i}\r\n\r\nhello\r\n").into_bytes();
        body.extend_from_slice(v);
        body.extend_from_slice(b"MAIL FROM:<admin@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n");
        c.send(&body).await;
        let r = c.reply().await;
        assert!(r.starts_with("550 5.6.11"), "variant {v:?}: {r}");
        // The session is still in step: the smuggled commands were data.
        assert!(c.cmd("NOOP").await.starts_with("250"), "variant {v:?}");
    }
    assert!(
        inbox(&s.store, "alice@example.com").is_empty(),
        "refused, not delivered"
    );
    assert!(
        inbox(&s.store, "bob@example.com").is_empty(),
        "nothing smuggled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_refused() {
    let s = start("[limits]\nmessage_size = 2048\n").await;
    let mut c = Client::connect(s.mx).await;
    let ehlo = c.cmd("EHLO big").await;
    assert!(ehlo.contains("SIZE 2048"), "{ehlo}");
    assert!(
        c.cmd("MAIL FROM:<a@example.net> SIZE=5000")
            .await
            .starts_with("552 5.3.4")
    );
    c.cmd("MAIL FROM:<a@example.net>").await;
    c.cmd("RCPT TO:<alice@example.com>").await;
    c.cmd("DATA").await;
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..100 {
        body.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
    }
    body.extend_from_slice(b".\r\n");
    c.send(&body).await;
    assert!(c.reply().await.starts_with("552 5.3.4"));
    assert!(c.cmd("NOOP").await.starts_with("250"));
    assert!(inbox(&s.store, "alice@example.com").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtputf8_end_to_end() {
    let s = start("").await;
    let script = r#"
import os, smtplib
s = smtplib.SMTP('127.0.0.1', int(os.environ['PORT']), timeout=10)
s.ehlo('utf8.example')
assert s.has_extn('smtputf8')
msg = 'From: Jörg <jörg@bücher.example>\r\nTo: alice@example.com\r\nSubject: Grüße\r\n\r\nÄpfel\r\n'.encode('utf-8')
print(s.sendmail('jörg@bücher.example', ['alice@example.com'], msg, mail_options=['SMTPUTF8', 'BODY=8BITMIME']))
s.quit()
"#;
    let (ok, out) = python(script, s.mx.port()).await;
    assert!(ok, "{out}");
    let alice = inbox(&s.store, "alice@example.com");
    assert_eq!(alice.len(), 1);
    let text = String::from_utf8(alice[0].clone()).expect("utf-8 kept");
    assert!(
        text.starts_with("Return-Path: <jörg@bücher.example>\r\n"),
        "{text}"
    );
    assert!(text.contains("with UTF8SMTP id"), "{text}");
    assert!(text.ends_with("Subject: Grüße\r\n\r\nÄpfel\r\n"), "{text}");
    // Without SMTPUTF8 a UTF-8 address is refused (RFC 6531 §3.4).
    let mut c = Client::connect(s.mx).await;
    c.cmd("EHLO x").await;
    assert!(
        c.cmd("MAIL FROM:<jörg@bücher.example>")
            .await
            .starts_with("553 5.6.7")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_sends_over_submission_and_mx() {
    let s = start("").await;
    let swaks = |args: Vec<String>| async move {
        tokio::process::Command::new("swaks")
            .args(args)
            .output()
            .await
            .expect("swaks is installed (apt-get install -y swaks; .ci/run does it)")
    };
    let out = swaks(vec![
        "--server".into(),
        "127.0.0.1".into(),
        "--port".into(),
        s.submission.port().to_string(),
        "--tls".into(),
        "--auth".into(),
        "PLAIN".into(),
        "--auth-user".into(),
        "alice@example.com".into(),
        "--auth-password".into(),
        "alicepw".into(),
        "--from".into(),
        "alice@example.com".into(),
        "--to".into(),
        "bob@example.com".into(),
        "--header".into(),
        "Subject: via swaks".into(),
        "--body".into(),
        "hello from swaks".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = swaks(vec![
        "--server".into(),
        "127.0.0.1".into(),
        "--port".into(),
        s.mx.port().to_string(),
        "--from".into(),
        "someone@example.net".into(),
        "--to".into(),
        "alice@example.com".into(),
        "--header".into(),
        "Subject: via swaks to mx".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let bob = inbox(&s.store, "bob@example.com");
    let alice = inbox(&s.store, "alice@example.com");
    assert_eq!(bob.len(), 1);
    assert!(String::from_utf8_lossy(&bob[0]).contains("Subject: via swaks"));
    assert_eq!(alice.len(), 1);
    assert!(String::from_utf8_lossy(&alice[0]).contains("Subject: via swaks to mx"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_errors_disconnects() {
    let s = start("[limits]\nmax_errors = 3\n").await;
    let mut c = Client::connect(s.mx).await;
    assert!(c.cmd("BOGUS").await.starts_with("500"));
    assert!(
        c.cmd("RCPT TO:<alice@example.com>")
            .await
            .starts_with("503")
    );
    assert!(c.cmd("DATA").await.starts_with("503"));
    assert!(c.reply().await.starts_with("421 4.7.0"));
    let mut rest = String::new();
    let n = tokio::time::timeout(Duration::from_secs(10), c.r.read_line(&mut rest))
        .await
        .expect("closed within 10 s")
        .expect("read");
    assert_eq!(n, 0, "the server closed the connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_discards_pipelined_commands() {
    // RFC 3207 §5: commands sent together with STARTTLS, before the handshake, must
    // not be executed afterwards (the plaintext injection attack).
    let s = start("").await;
    let script = r#"
import os, socket, ssl
s = socket.create_connection(('127.0.0.1', int(os.environ['PORT'])), timeout=10)
f = s.makefile('rb')
assert f.readline().startswith(b'220')
s.sendall(b'EHLO x\r\n')
while True:
    l = f.readline()
    if l[3:4] == b' ': break
s.sendall(b'STARTTLS\r\nQUIT\r\n')
assert f.readline().startswith(b'220'), 'ready for TLS'
t = ssl._create_unverified_context().wrap_socket(s, server_hostname='mail.example.com')
tf = t.makefile('rb')
t.sendall(b'NOOP\r\n')
first = tf.readline()
print('first-after-tls', first)
t.sendall(b'MAIL FROM:<a@example.net>\r\n')
print('mail-without-ehlo', tf.readline())
"#;
    let (ok, out) = python(script, s.mx.port()).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("first-after-tls b'250 2.0.0"),
        "the pipelined QUIT was discarded (executed, it would answer 221 and close): {out}"
    );
    assert!(
        out.contains("mail-without-ehlo b'503 5.5.1"),
        "the session starts over after TLS (RFC 3207 §4.2): {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_and_connection_limits() {
    let s = start("[limits]\nmax_recipients = 2\nmax_connections_per_ip = 2\n").await;
    let mut c = Client::connect(s.mx).await;
    c.cmd("EHLO limits").await;
    c.cmd("MAIL FROM:<a@example.net>").await;
    assert!(
        c.cmd("RCPT TO:<alice@example.com>")
            .await
            .starts_with("250")
    );
    assert!(c.cmd("RCPT TO:<bob@example.com>").await.starts_with("250"));
    assert!(
        c.cmd("RCPT TO:<team@example.com>")
            .await
            .starts_with("452 4.5.3"),
        "RFC 5321 §4.5.3.1.10: 452 for too many recipients"
    );
    let _second = Client::connect(s.mx).await;
    let buf = first_line(s.mx).await;
    assert!(
        buf.starts_with("421 4.7.0"),
        "third connection from one address: {buf}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_auth_failures_ban_the_address() {
    let s = start("[auth]\nmax_failures = 3\nban_seconds = 60\n").await;
    let mut c = Client::connect(s.submission).await;
    c.cmd("EHLO guesser").await;
    // AUTH PLAIN \0alice@example.com\0wrong
    let bad = "AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHdyb25n";
    assert!(c.cmd(bad).await.starts_with("535 5.7.8"));
    assert!(c.cmd(bad).await.starts_with("535 5.7.8"));
    let third = c.cmd(bad).await;
    assert!(third.starts_with("535 5.7.8"), "{third}");
    assert!(
        c.reply().await.starts_with("421 4.7.0"),
        "banned after the third failure"
    );
    // A new connection from the banned address is refused at once.
    let line = first_line(s.submission).await;
    assert!(line.starts_with("421 4.7.0"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_on_a_connection_opened_before_the_ban_is_refused() {
    // Issue 9 item 1: a connection that said EHLO before its address was banned must
    // not get `235` afterwards, and a success must never lift the ban.
    let s = start("[auth]\nmax_failures = 3\nban_seconds = 60\n").await;
    let mut early = Client::connect(s.submission).await;
    early.cmd("EHLO patient").await;
    let mut c = Client::connect(s.submission).await;
    c.cmd("EHLO guesser").await;
    // AUTH PLAIN \0alice@example.com\0wrong
    let bad = "AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHdyb25n";
    for _ in 0..3 {
        assert!(c.cmd(bad).await.starts_with("535 5.7.8"));
    }
    assert!(c.reply().await.starts_with("421 4.7.0"), "banned");
    // AUTH PLAIN \0alice@example.com\0alicepw: the right password, from the banned address.
    let good = early
        .cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAGFsaWNlcHc=")
        .await;
    assert!(
        good.starts_with("421 4.7.0"),
        "a banned address gets no 235, whatever the password: {good}"
    );
    let line = first_line(s.submission).await;
    assert!(line.starts_with("421 4.7.0"), "the ban stays: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_refuses_a_second_or_foreign_from() {
    // Issue 9 item 3, RFC 5322 §3.6: at most one From:, Sender:, To:, Subject:…;
    // every address of every From:/Sender: must be the user's.
    let s = start("").await;
    let mut c = Client::connect(s.submission).await;
    c.cmd("EHLO spoofer").await;
    // AUTH PLAIN \0alice@example.com\0alicepw
    let auth = c
        .cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAGFsaWNlcHc=")
        .await;
    assert!(auth.starts_with("235"), "{auth}");
    let rows: &[(&str, &str)] = &[
        (
            "From: CEO <ceo@bank.example>\r\nFrom: alice@example.com\r\n",
            "550 5.7.1",
        ),
        (
            "FROM: ceo@bank.example\r\nfrom: alice@example.com\r\n",
            "550 5.7.1",
        ),
        (
            "From : ceo@bank.example\r\nFrom: alice@example.com\r\n",
            "550 5.7.1",
        ),
        (
            "From: alice@example.com\r\nFrom\t: <ceo@bank.example>\r\n",
            "550 5.7.1",
        ),
        ("From: alice@example.com, ceo@bank.example\r\n", "550 5.7.1"),
        (
            "From: alice@example.com\r\nSender: ceo@bank.example\r\n",
            "550 5.7.1",
        ),
        (
            "From: alice@example.com\r\nSender: alice@example.com\r\nsender: x@bank.example\r\n",
            "550 5.7.1",
        ),
        (
            "From: alice@example.com\r\nSubject: a\r\nSUBJECT : b\r\n",
            "554 5.6.0",
        ),
        (
            "From: alice@example.com\r\nTo: bob@example.com\r\nTo: ceo@bank.example\r\n",
            "554 5.6.0",
        ),
        (
            "From: alice@example.com\r\nMessage-ID: <a@x>\r\nMessage-Id: <b@x>\r\n",
            "554 5.6.0",
        ),
        (
            "From: Alice <alice@example.com>\r\nSender: alice+lists@example.com\r\nSubject: fine\r\n",
            "250 2.0.0",
        ),
    ];
    for (headers, want) in rows {
        assert!(
            c.cmd("MAIL FROM:<alice@example.com>")
                .await
                .starts_with("250")
        );
        assert!(c.cmd("RCPT TO:<bob@example.com>").await.starts_with("250"));
        assert!(c.cmd("DATA").await.starts_with("354"));
        let got = c.cmd(&format!("{headers}\r\nbody\r\n.")).await;
        assert!(got.starts_with(want), "{headers:?}: {got}");
    }
    let bob = inbox(&s.store, "bob@example.com");
    assert_eq!(bob.len(), 1, "only the last message was delivered");
    assert!(String::from_utf8_lossy(&bob[0]).contains("Subject: fine"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmaster_is_accepted_without_a_postmaster_user() {
    // Issue 9 item 10, RFC 5321 §4.5.1: `<Postmaster>` (any case) and postmaster@ a
    // local domain are accepted with no such user or alias: to `postmaster` when set,
    // else to the first user added (alice here).
    for (extra, who) in [
        ("", "alice@example.com"),
        ("postmaster = \"bob@example.com\"\n", "bob@example.com"),
    ] {
        // `postmaster` is a top-level key: it goes before start()'s [auth_checks].
        let s = start_top(extra).await;
        let mut c = Client::connect(s.mx).await;
        c.cmd("EHLO reporter").await;
        for rcpt in [
            "<Postmaster>",
            "<POSTMASTER>",
            "<postmaster@example.com>",
            "<PostMaster@EXAMPLE.COM>",
        ] {
            assert!(c.cmd("MAIL FROM:<r@example.net>").await.starts_with("250"));
            let r = c.cmd(&format!("RCPT TO:{rcpt}")).await;
            assert!(r.starts_with("250"), "{rcpt}: {r}");
            assert!(c.cmd("DATA").await.starts_with("354"));
            let r = c.cmd(&format!("Subject: to {rcpt}\r\n\r\nhi\r\n.")).await;
            assert!(r.starts_with("250"), "{rcpt}: {r}");
        }
        assert_eq!(inbox(&s.store, who).len(), 4, "{extra:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_pipelined_after_a_refused_data_is_discarded() {
    // Issue 9 item 10, RFC 2920 §3.1: a client that pipelines its message after a
    // DATA that is refused (no valid recipients) must not have the message run as
    // commands; what it already sent is discarded, as Postfix does.
    let s = start("").await;
    let mut c = Client::connect(s.mx).await;
    c.cmd("EHLO pipeliner").await;
    c.send(
        b"MAIL FROM:<p@example.net>\r\nRCPT TO:<nobody@example.com>\r\nDATA\r\n\
          MAIL FROM:<admin@example.com>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n\
          Subject: smuggled\r\n\r\nevil\r\n.\r\n",
    )
    .await;
    assert!(c.reply().await.starts_with("250 2.1.0"));
    assert!(c.reply().await.starts_with("550 5.1.1"));
    let data = c.reply().await;
    assert!(data.starts_with("554 5.5.1"), "{data}");
    let next = c.cmd("NOOP").await;
    assert!(
        next.starts_with("250 2.0.0 OK"),
        "the pipelined message was discarded, not run as commands: {next}"
    );
    assert!(
        inbox(&s.store, "alice@example.com").is_empty(),
        "nothing smuggled"
    );
}

/// Issue 9 item 7: a session gets `[limits] login_seconds` from its greeting to AUTH
/// or its first MAIL FROM, however many NOOPs it sends (then `421 4.4.2`); past MAIL
/// FROM it is not bound by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noop_does_not_extend_the_login_deadline() {
    let s = start("[limits]\nlogin_seconds = 2\n").await;
    let script = r#"
import os, smtplib, time
port = int(os.environ['PORT'])
busy = smtplib.SMTP('127.0.0.1', port, timeout=10)
busy.ehlo('client.example.net')
busy.mail('sender@example.net')
s = smtplib.SMTP('127.0.0.1', port, timeout=10)
s.ehlo('client.example.net')
start = time.monotonic()
last = None
while time.monotonic() - start < 8:
    try:
        code, text = s.noop()
    except smtplib.SMTPServerDisconnected:
        last = 'disconnected'
        break
    if code != 250:
        last = (code, text)
        break
    time.sleep(0.3)
print('deadline', last, round(time.monotonic() - start, 1))
print('busy', busy.rset())
"#;
    let (ok, out) = python(script, s.mx.port()).await;
    assert!(ok, "{out}");
    assert!(out.contains("deadline (421, b'4.4.2"), "{out}");
    let seconds: f64 = out
        .split("deadline ")
        .nth(1)
        .and_then(|l| l.lines().next())
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|t| t.parse().ok())
        .expect("seconds");
    assert!((1.5..5.0).contains(&seconds), "{out}");
    assert!(out.contains("busy (250"), "past MAIL FROM: {out}");
}

/// Issue 9 item 7: sessions that have not authenticated take at most
/// `100 - RESERVED_PERCENT` % of a listener's `max_connections`; one more gets
/// `421 4.7.0` at once instead of hanging without a greeting. One that authenticates
/// leaves that share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_sessions_leave_room_and_are_refused_beyond_their_share() {
    let s = start("[limits]\nmax_connections = 10\n").await;
    let script = r#"
import os, smtplib, socket
port = int(os.environ['PORT'])
def greeting():
    c = socket.create_connection(('127.0.0.1', port), timeout=10)
    return c, c.recv(200).decode()
held = [greeting() for _ in range(9)]
print('held', sorted(set(g[:3] for _, g in held)))
c, g = greeting()
print('tenth', g.strip())
c.close()
import time
# One of the nine leaves; once the server has seen it go, a client comes in and logs in.
held.pop()[0].close()
deadline = time.monotonic() + 10
while True:
    try:
        a = smtplib.SMTP('127.0.0.1', port, timeout=10)
        break
    except smtplib.SMTPConnectError:
        assert time.monotonic() < deadline, 'no slot freed'
a.ehlo('[127.0.0.1]')
print('login', a.login('alice@example.com', 'alicepw')[0])
# Nine connections again, but one has authenticated: room for one more.
c, g = greeting()
print('after-login', g[:3])
"#;
    let (ok, out) = python(script, s.submission.port()).await;
    assert!(ok, "{out}");
    assert!(out.contains("held ['220']"), "{out}");
    assert!(out.contains("tenth 421 4.7.0"), "{out}");
    assert!(out.contains("login 235"), "{out}");
    assert!(out.contains("after-login 220"), "{out}");
}
