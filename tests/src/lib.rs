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
    server: Option<mailyard::Server>,
}

impl TestServer {
    /// Starts every listener on 127.0.0.1:0 (http off); `extra` is appended to the
    /// TOML (e.g. "[limits]\nmessage_size = 4096\n").
    pub async fn start(extra: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "hostname = \"mail.example.com\"\ndata_dir = {:?}\n\
             [listen]\nsmtp = \"127.0.0.1:0\"\nsubmission = \"127.0.0.1:0\"\n\
             submissions = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\nimaps = \"127.0.0.1:0\"\nhttp = \"\"\n{extra}",
            dir.path().display().to_string()
        );
        let config = Config::parse(&text, "test").expect("test config");
        let server = mailyard::start(config).await.expect("server starts");
        TestServer {
            dir,
            server: Some(server),
        }
    }

    fn server(&self) -> &mailyard::Server {
        self.server.as_ref().expect("running")
    }

    /// The bound address of a listener ("smtp", "imap", ...).
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.server().addr(name).expect("listener bound")
    }

    /// The store the server uses.
    pub fn store(&self) -> &Store {
        &self.server().store
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
