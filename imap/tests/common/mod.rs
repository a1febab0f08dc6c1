//! Shared harness: the real IMAP daemon on 127.0.0.1 port 0 over a temp data dir,
//! a Python imaplib runner and a raw-socket client.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use mailyard_common::Config;
use mailyard_common::shutdown::Shutdown;
use mailyard_store::{Address, Store};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub const USER: &str = "alice@example.com";
pub const PASS: &str = "secret-pw";

/// A running server.
pub struct Server {
    pub port: u16,
    pub tls_port: u16,
    pub store: Store,
    pub shutdown: Shutdown,
    pub dir: tempfile::TempDir,
}

/// Starts `imap` (STARTTLS) and `imaps` listeners with one user.
pub async fn start() -> Server {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    tweak(&mut config);
    let data = dir.path().to_path_buf();
    let store = tokio::task::spawn_blocking(move || {
        let (store, _) = Store::open(&data).expect("open store");
        let user = Address::parse(USER).expect("address");
        store.accounts().add_user(&user, PASS).expect("add user");
        store.setup_user_blocking(&user).expect("setup user");
        store
    })
    .await
    .expect("join");
    let (port, tls_port, shutdown) = serve_store(config, store.clone()).await;
    Server {
        port,
        tls_port,
        store,
        shutdown,
        dir,
    }
}

/// Serves `store` on new `imap` (STARTTLS) and `imaps` listeners: (port, TLS port,
/// the shutdown that stops them).
pub async fn serve_store(config: Config, store: Store) -> (u16, u16, Shutdown) {
    let (tls, _) = mailyard_common::tls::load(&config).expect("tls");
    let config = Arc::new(config);
    let throttle = mailyard_common::throttle::AuthThrottle::from_config(&config);
    let ctx = Arc::new(mailyard_imap::Context::new(config, store, tls, throttle));
    let shutdown = Shutdown::new();
    let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let secure = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = plain.local_addr().expect("addr").port();
    let tls_port = secure.local_addr().expect("addr").port();
    shutdown.tracker.spawn(mailyard_imap::serve(
        plain,
        false,
        ctx.clone(),
        shutdown.clone(),
    ));
    shutdown
        .tracker
        .spawn(mailyard_imap::serve(secure, true, ctx, shutdown.clone()));
    (port, tls_port, shutdown)
}

/// The golden corpus's messages (`corpus::corpus_messages`).
#[path = "../../../message/tests/common/mod.rs"]
pub mod corpus;

/// Helpers every Python script gets.
pub const PRELUDE: &str = r#"
import imaplib, os, ssl, socket, sys, time, re, base64
PORT = int(os.environ["PORT"]); TLSPORT = int(os.environ["TLSPORT"])
USER = os.environ["IMAPUSER"]; PASS = os.environ["IMAPPASS"]
def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data
def ctx():
    c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
    return c
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED", "LOGOUT"))
imaplib.Commands.setdefault("MOVE", ("SELECTED",))
def tagged(M, name, *args):
    """Runs a command and returns (typ, tagged response text)."""
    tag = M._command(name, *args)
    return M._command_complete(name, tag)
def login():
    M = imaplib.IMAP4("127.0.0.1", PORT)
    ok(M.login(USER, PASS))
    return M
"#;

impl Server {
    /// Runs a Python imaplib script; asserts it exits 0 and returns its stdout.
    pub async fn python(&self, script: &str) -> String {
        let out = tokio::time::timeout(Duration::from_secs(120), self.python_cmd(script).output())
            .await
            .expect("python timed out")
            .expect("run python3");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "python failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        stdout
    }

    pub fn python_cmd(&self, script: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("python3");
        cmd.arg("-c")
            .arg(format!("{PRELUDE}\n{script}"))
            .env("PORT", self.port.to_string())
            .env("TLSPORT", self.tls_port.to_string())
            .env("IMAPUSER", USER)
            .env("IMAPPASS", PASS)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    pub fn user(&self) -> Address {
        Address::parse(USER).expect("address")
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub async fn raw(&self) -> Raw {
        Raw::connect(self.port).await
    }
}

/// A test message with CRLF line endings.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Bob Sender <bob@example.net>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject}@example.net>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A raw IMAP connection for byte-level tests.
pub struct Raw {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

const DEADLINE: Duration = Duration::from_secs(20);

impl Raw {
    pub async fn connect(port: u16) -> Raw {
        Raw::connect_from(port, [127, 0, 0, 1]).await
    }

    /// Connects from another loopback address (`127.0.0.x`), as a second client host.
    pub async fn connect_from(port: u16, ip: [u8; 4]) -> Raw {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind((std::net::Ipv4Addr::from(ip), 0).into())
            .expect("bind a loopback address");
        let tcp = sock
            .connect((std::net::Ipv4Addr::LOCALHOST, port).into())
            .await
            .expect("connect");
        let (r, w) = tcp.into_split();
        Raw {
            r: BufReader::new(r),
            w,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).await.expect("write");
    }

    /// One response: a line, with any literals it announces read and appended.
    pub async fn response(&mut self) -> String {
        tokio::time::timeout(DEADLINE, self.response_inner())
            .await
            .expect("response within deadline")
    }

    async fn response_inner(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self.r.read_until(b'\n', &mut line).await.expect("read");
            assert!(
                n > 0,
                "connection closed; got so far: {}",
                String::from_utf8_lossy(&out)
            );
            out.extend_from_slice(&line);
            let text = String::from_utf8_lossy(&line);
            let trimmed = text.trim_end();
            if let Some(open) = trimmed.rfind('{')
                && trimmed.ends_with('}')
                && let Ok(len) = trimmed[open + 1..trimmed.len() - 1].parse::<usize>()
            {
                let mut lit = vec![0u8; len];
                self.r.read_exact(&mut lit).await.expect("literal");
                out.extend_from_slice(&lit);
                continue;
            }
            return String::from_utf8_lossy(&out).into_owned();
        }
    }

    /// Responses up to and including the tagged one for `tag`.
    pub async fn until(&mut self, tag: &str) -> Vec<String> {
        let mut v = Vec::new();
        loop {
            let r = self.response().await;
            let done = r.starts_with(&format!("{tag} "));
            v.push(r);
            if done {
                return v;
            }
        }
    }

    /// Sends `tag command` and returns every response up to the tagged one.
    pub async fn cmd(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        self.until(tag).await
    }

    /// Whether the connection is closed (EOF) within the deadline.
    pub async fn closed(&mut self) -> bool {
        let mut buf = Vec::new();
        matches!(
            tokio::time::timeout(DEADLINE, self.r.read_to_end(&mut buf)).await,
            Ok(Ok(_))
        )
    }
}

/// The tagged (last) line of a response list.
pub fn tagged(v: &[String]) -> &str {
    v.last().map(String::as_str).unwrap_or("")
}

impl Server {
    /// A raw connection past the greeting, logged in.
    pub async fn raw_login(&self) -> Raw {
        let mut raw = self.raw().await;
        raw.response().await;
        let r = raw.cmd("L", &format!("LOGIN {USER} {PASS}")).await;
        assert!(tagged(&r).starts_with("L OK"), "{r:?}");
        raw
    }
}

impl Raw {
    /// APPEND with a non-synchronizing literal (LITERAL+); returns the responses.
    pub async fn append(
        &mut self,
        tag: &str,
        mailbox: &str,
        flags: &str,
        data: &[u8],
    ) -> Vec<String> {
        self.multiappend(tag, mailbox, &[(flags, data)]).await
    }

    /// RFC 3502 MULTIAPPEND of `messages` (flags, `""` for none, and data), each a
    /// non-synchronizing literal, in one write; returns the responses.
    pub async fn multiappend(
        &mut self,
        tag: &str,
        mailbox: &str,
        messages: &[(&str, &[u8])],
    ) -> Vec<String> {
        let mut cmd = format!("{tag} APPEND {mailbox}").into_bytes();
        for (flags, data) in messages {
            if !flags.is_empty() {
                cmd.extend_from_slice(format!(" {flags}").as_bytes());
            }
            cmd.extend_from_slice(format!(" {{{}+}}\r\n", data.len()).as_bytes());
            cmd.extend_from_slice(data);
        }
        cmd.extend_from_slice(b"\r\n");
        self.send(&cmd).await;
        self.until(tag).await
    }
}

/// The number in `[NAME n]` or `NAME (n)` / `NAME n` found in `lines`.
pub fn number_after(lines: &[String], name: &str) -> Option<u64> {
    lines.iter().find_map(|l| {
        let at = l.find(name)? + name.len();
        let digits: String = l[at..]
            .trim_start_matches([' ', '('])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// The number in `* n RECENT`, if `lines` has one.
pub fn recent_count(lines: &[String]) -> Option<u64> {
    lines.iter().find_map(|l| {
        l.trim_end()
            .strip_prefix("* ")
            .and_then(|l| l.strip_suffix(" RECENT"))
            .and_then(|n| n.parse().ok())
    })
}
