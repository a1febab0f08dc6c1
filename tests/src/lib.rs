//! Helpers for end-to-end tests: the whole server (`mailyard::start`, the same code
//! `mailyard serve` runs) in-process on 127.0.0.1 port 0 with a temp data dir and
//! inline TOML, and a runner for real clients (python3's smtplib/imaplib, ...).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::Duration;

use mailyard_common::Config;
use mailyard_store::{Address, Store};

/// A running server on a temp data dir.
pub struct TestServer {
    /// The data dir (removed on drop).
    pub dir: tempfile::TempDir,
    config: Config,
    server: Option<mailyard::Server>,
}

impl TestServer {
    /// Starts every listener on 127.0.0.1:0 (http off); `extra` is appended to the
    /// TOML (e.g. `"[limits]\nmessage_size = 4096\n"`). SPF/DKIM/DMARC checks are off
    /// unless `extra` has an `[auth_checks]` table: they would ask the machine's resolver
    /// about test domains, and CI has no DNS beyond its package registries (the checks
    /// have their own tests against a DNS server on loopback).
    pub async fn start(extra: &str) -> TestServer {
        Self::start_listening(
            tempfile::tempdir().expect("tempdir"),
            "http = \"\"\n",
            extra,
        )
        .await
    }

    /// [`TestServer::start`] on a given data dir (e.g. one a backup was restored into).
    pub async fn start_in(dir: tempfile::TempDir, extra: &str) -> TestServer {
        Self::start_listening(dir, "http = \"\"\n", extra).await
    }

    /// As [`TestServer::start`], with the `http` and `https` listeners on 127.0.0.1:0
    /// too.
    pub async fn start_with_http(extra: &str) -> TestServer {
        Self::start_listening(
            tempfile::tempdir().expect("tempdir"),
            "http = \"127.0.0.1:0\"\nhttps = \"127.0.0.1:0\"\n",
            extra,
        )
        .await
    }

    /// As [`TestServer::start`], with more `[listen]` keys (e.g. `pop3 = "127.0.0.1:0"`).
    pub async fn start_with_listeners(listeners: &str, extra: &str) -> TestServer {
        Self::start_listening(
            tempfile::tempdir().expect("tempdir"),
            &format!("http = \"\"\n{listeners}"),
            extra,
        )
        .await
    }

    async fn start_listening(dir: tempfile::TempDir, http: &str, extra: &str) -> TestServer {
        let checks = if extra.contains("[auth_checks]") {
            ""
        } else {
            "[auth_checks]\nenabled = false\n"
        };
        let text = format!(
            "hostname = \"mail.example.com\"\ndata_dir = {:?}\n\
             [listen]\nsmtp = \"127.0.0.1:0\"\nsubmission = \"127.0.0.1:0\"\n\
             submissions = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\nimaps = \"127.0.0.1:0\"\n{http}{checks}{extra}",
            dir.path().display().to_string()
        );
        let config = Config::parse(&text, "test").expect("test config");
        let server = mailyard::start(config.clone())
            .await
            .expect("server starts");
        TestServer {
            dir,
            config,
            server: Some(server),
        }
    }

    /// Stops the server (shutdown deadline 5 s), runs `offline` on the data dir while
    /// nothing has it open (as an admin would with `serve` stopped), and starts it again
    /// on the same data dir and configuration. Listeners get new ports.
    pub async fn restart(&mut self, offline: impl FnOnce(&std::path::Path)) {
        if let Some(s) = self.server.take() {
            s.stop(Duration::from_secs(5)).await;
        }
        offline(self.dir.path());
        self.server = Some(
            mailyard::start(self.config.clone())
                .await
                .expect("server restarts"),
        );
    }

    /// The server's counters (`/metrics`, and the listener gauges `/healthz` reads).
    pub fn metrics(&self) -> &mailyard_common::metrics::Metrics {
        &self.server().metrics
    }

    fn server(&self) -> &mailyard::Server {
        self.server.as_ref().expect("running")
    }

    /// The bound address of a listener ("smtp", "imap", ...).
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.server().addr(name).expect("listener bound")
    }

    /// The SMTP (port 25 role) and IMAP ports as `SMTP` and `IMAP`, for a client
    /// script's environment.
    pub fn ports_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SMTP", self.addr("smtp").port().to_string()),
            ("IMAP", self.addr("imap").port().to_string()),
        ]
    }

    /// The store the server uses.
    pub fn store(&self) -> &Store {
        &self.server().store
    }

    /// The relay scheduler's handle (its event counters).
    pub fn relay(&self) -> &mailyard_smtp::queue::RelayHandle {
        &self.server().relay
    }

    /// Adds a user with its default mailboxes, as `mailyard user add` does.
    pub async fn add_user(&self, address: &str, password: &str) -> Address {
        let a = Address::parse(address).expect("address");
        let store = self.store().clone();
        let (a2, pw) = (a.clone(), password.to_string());
        tokio::task::spawn_blocking(move || {
            store.accounts().add_user(&a2, &pw).expect("add user");
            store.setup_user_blocking(&a2).expect("setup user");
        })
        .await
        .expect("join");
        a
    }

    /// Stops the server (shutdown deadline 5 s).
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop(Duration::from_secs(5)).await;
        }
    }
}

/// Runs a python3 script with `env`; returns (success, stdout + stderr).
pub async fn python(script: &str, env: &[(&str, String)]) -> (bool, String) {
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg("-c").arg(script);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .await
        .expect("python3 runs (apt-get install -y python3)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

// ---------------------------------------------------------------------------------
// Real clients (swaks, msmtp, curl, mbsync, neomutt, offlineimap, ...): finding them,
// running them with a deadline, and reading back what the server stored.

/// The path of a real client's program. A missing client fails the test with the
/// Debian package to install (never a silent pass).
pub fn require_client(program: &str, package: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{program}` is not installed: this test drives the real client. \
                 Install the Debian package: apt-get install -y {package}"
            )
        })
}

/// Runs a client to completion with `stdin` as its input. A client still running after
/// `limit` is killed and the test fails naming the command.
pub async fn run_client(
    cmd: &mut tokio::process::Command,
    stdin: &[u8],
    limit: Duration,
) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin piped");
    let data = stdin.to_vec();
    let writer = tokio::spawn(async move {
        // A client that exits without reading its input is not an error here.
        let _ = input.write_all(&data).await;
    });
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{cmd:?} did not finish within {limit:?}"))
        .expect("wait for client");
    let _ = writer.await;
    out
}

/// A client's exit status, stdout and stderr, for assertion messages.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One stored message: its index row and the bytes of its file.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// The index row (UID, flags, size, ...).
    pub info: mailyard_store::MessageInfo,
    /// The message file's bytes.
    pub bytes: Vec<u8>,
}

impl StoredMessage {
    /// The flags as maildir info letters, sorted (`"FS"`), keywords left out.
    pub fn flag_letters(&self) -> String {
        let mut s: Vec<char> = mailyard_store::Flags::TABLE
            .iter()
            .filter(|(f, _, _)| self.info.flags.flags.contains(*f))
            .map(|(_, _, c)| *c)
            .collect();
        s.sort_unstable();
        s.into_iter().collect()
    }
}

impl TestServer {
    /// The self-signed certificate the server generated (`<data_dir>/tls/cert.pem`),
    /// for clients that pin it.
    pub fn cert_path(&self) -> std::path::PathBuf {
        self.dir.path().join("tls").join("cert.pem")
    }

    /// The messages of `user`'s `mailbox` in UID order with their bytes (empty when the
    /// mailbox does not exist).
    pub async fn mailbox_contents(&self, user: &str, mailbox: &str) -> Vec<StoredMessage> {
        let store = self.store().clone();
        let user = Address::parse(user).expect("address");
        let mailbox = mailbox.to_string();
        tokio::task::spawn_blocking(move || {
            let Some(mb) = store
                .mailbox_blocking(&user, &mailbox)
                .expect("read mailbox")
            else {
                return Vec::new();
            };
            store
                .messages_blocking(mb.id)
                .expect("read messages")
                .into_iter()
                .map(|info| {
                    let path = store
                        .message_path(&user, &mailbox, &info)
                        .expect("message path");
                    let bytes = std::fs::read(&path)
                        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                    StoredMessage { info, bytes }
                })
                .collect()
        })
        .await
        .expect("join")
    }

    /// Waits until `user`'s `mailbox` holds at least `n` messages and returns them.
    pub async fn wait_for_messages(
        &self,
        user: &str,
        mailbox: &str,
        n: usize,
    ) -> Vec<StoredMessage> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.mailbox_contents(user, mailbox).await;
            if got.len() >= n {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{user} {mailbox}: {} of {n} messages after 10 s",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The part of a delivered message after the trace headers the server prepends
/// (`Return-Path:`, `Authentication-Results:` on the MX listener, and `Received:`,
/// with their folded lines).
pub fn without_trace_headers(bytes: &[u8]) -> &[u8] {
    let mut rest = bytes;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(rest.len(), |p| p + 2);
        let line = &rest[..line_end];
        let is_trace = line.starts_with(b"Return-Path:")
            || line.starts_with(b"Authentication-Results:")
            || line.starts_with(b"Received:");
        let is_fold = line.starts_with(b" ") || line.starts_with(b"\t");
        if !(is_trace || (is_fold && rest.len() < bytes.len())) {
            return rest;
        }
        rest = &rest[line_end..];
    }
}

/// A memory figure of this process from `/proc/self/status`, in KiB: `"VmRSS"`
/// (resident now) or `"VmHWM"` (peak). The in-process server's memory is in it.
pub fn memory_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// Waits until `cond` holds, polling every 20 ms; panics with `what()` after
/// `deadline`.
pub async fn wait_until(
    deadline: Duration,
    mut cond: impl FnMut() -> bool,
    what: impl FnOnce() -> String,
) {
    let end = tokio::time::Instant::now() + deadline;
    while !cond() {
        assert!(tokio::time::Instant::now() < end, "{}", what());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
