//! What the tests of the `mailyard` binary share (`tests/cli.rs`, `tests/relay_cli.rs`):
//! running an admin command, and `mailyard serve` on a config, waited for until it has
//! logged its listeners.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mailyard");

pub fn mailyard(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mailyard");
    if let Some(input) = stdin {
        let written = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes());
        // A command that refuses its arguments exits before reading its input.
        if let Err(e) = written
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            panic!("write stdin: {e}");
        }
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("wait")
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub struct Serve {
    pub child: Child,
    pub listeners: Vec<(String, SocketAddr)>,
    /// The log lines after the listeners' (a thread keeps reading stderr, so the
    /// server never blocks on a full pipe).
    log: mpsc::Receiver<String>,
}

impl Serve {
    /// The first log line from now on that contains every one of `needles`, waited
    /// for until `limit`; panics with the lines seen meanwhile.
    pub fn wait_log(&self, needles: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if needles.iter().all(|n| line.contains(n)) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "no log line with {needles:?} within {limit:?}; seen:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mailyard serve` and waits (deadline 60 s) until it has logged every
/// listener it bound (JSON log lines on stderr).
pub fn serve(config: &Path, expect: usize) -> Serve {
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut listeners = Vec::new();
    let mut log = Vec::new();
    while listeners.len() < expect {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "serve did not log {expect} listeners; log so far:\n{}",
                log.join("\n")
            )
        });
        if line.contains("\"listening\"") {
            let name = json_field(&line, "listener").expect("listener name");
            let addr = json_field(&line, "addr")
                .expect("addr")
                .parse()
                .expect("socket addr");
            listeners.push((name, addr));
        }
        log.push(line);
    }
    Serve {
        child,
        listeners,
        log: rx,
    }
}

pub fn json_field(line: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":\"");
    let start = line.find(&pat)? + pat.len();
    let end = line[start..].find('"')?;
    Some(line[start..start + end].to_string())
}

pub fn addr(s: &Serve, name: &str) -> SocketAddr {
    s.listeners
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, a)| *a)
        .unwrap_or_else(|| panic!("no {name} listener in {:?}", s.listeners))
}
