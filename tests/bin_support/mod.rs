//! What the tests of the `mailyard` binary share (`tests/cli.rs`, `tests/relay_cli.rs`):
//! running an admin command, and `mailyard serve` on a config, waited for until it has
//! logged its listeners.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mailyard");

pub fn mailyard(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(config).args(args);
    run_with_input(cmd, stdin.unwrap_or(""))
}

/// Runs `cmd` with `input` on its stdin (then closed), and its output collected.
pub fn run_with_input(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
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
    child.wait_with_output().expect("wait")
}

/// Runs a Python client (`python3 -c script`) with `env`, from outside the checkout:
/// there, our `managesieve/` crate directory would be imported as a namespace package
/// and shadow PyPI's `managesieve`.
pub fn python(script: &str, env: &[(&str, String)]) -> Output {
    Command::new("python3")
        .current_dir(std::env::temp_dir())
        .arg("-c")
        .arg(script)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("python3 runs (apt-get install -y python3)")
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
    /// Listeners on a Unix socket (`[listen] local`), with its path.
    pub sockets: Vec<(String, PathBuf)>,
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

/// Starts `mailyard serve` and waits (deadline 60 s) until it has logged `expect`
/// listeners bound, the local submission socket included (JSON log lines on stderr).
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
    let mut sockets = Vec::new();
    while listeners.len() + sockets.len() < expect {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "serve did not log {expect} listeners; log so far:\n{}",
                log.join("\n")
            )
        });
        if line.contains("\"listening\"") {
            let name = json_field(&line, "listener").expect("listener name");
            let addr = json_field(&line, "addr").expect("addr");
            // The local submission socket's address is a path.
            match addr.parse() {
                Ok(a) => listeners.push((name, a)),
                Err(_) => sockets.push((name, PathBuf::from(addr))),
            }
        }
        log.push(line);
    }
    Serve {
        child,
        listeners,
        sockets,
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

/// The TCP listeners a test config names: each is off unless listed in `on`.
const LISTENERS: [&str; 7] = [
    "smtp",
    "submission",
    "submissions",
    "imap",
    "imaps",
    "http",
    "managesieve",
];

/// Writes `dir/<file>` for `hostname = "mail.example.com"` with its data in `dir/<data>`:
/// the listeners in `on` on `127.0.0.1:0`, every other one off, then `rest` (more
/// sections: `[log]`, `[relay]` …).
pub fn write_config(dir: &Path, file: &str, data: &str, on: &[&str], rest: &str) -> PathBuf {
    let path = dir.join(file);
    let mut text = format!(
        "hostname = \"mail.example.com\"\ndata_dir = {:?}\n[listen]\n",
        dir.join(data).display().to_string()
    );
    for name in LISTENERS {
        let addr = if on.contains(&name) {
            "127.0.0.1:0"
        } else {
            ""
        };
        text.push_str(&format!("{name} = \"{addr}\"\n"));
    }
    text.push_str(rest);
    std::fs::write(&path, text).expect("write config");
    path
}

/// `[log]` as the binary tests read it: JSON lines at info.
pub const JSON_LOG: &str = "[log]\nformat = \"json\"\nlevel = \"info\"\n";
