//! Load generator for benchmarks: speaks plain SMTP and IMAP to any server (mailyard,
//! Postfix, Dovecot), so the same load runs against each in one benchmark run
//! (`tests/bench/*.sh`). Prints one `key=value` result line per run, easy to parse.
//!
//! Loopback only: every address it is given must be on 127.0.0.0/8 or ::1.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

#[derive(Parser)]
#[command(about = "mailyard benchmark load generator (loopback only)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send messages over SMTP from N concurrent sessions for S seconds.
    Smtp {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 1)]
        sessions: usize,
        #[arg(long, default_value_t = 4096)]
        size: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// The envelope sender and the From: of the messages.
        #[arg(long, default_value = "load@example.net")]
        from: String,
        /// Log in with AUTH PLAIN after EHLO, as `user:password` (a submission server).
        #[arg(long)]
        auth: Option<String>,
        /// Stop after this many messages in all (the sessions share the count), or at
        /// `--seconds`, whichever comes first.
        #[arg(long)]
        count: Option<u64>,
        /// Recipients, comma-separated: message n goes to the (n mod count)-th, one
        /// recipient per message.
        #[arg(long, value_delimiter = ',', required = true)]
        to: Vec<String>,
        /// IMAP server where the recipients' mailboxes become visible (for a server
        /// whose 250 only means "queued"): after sending, poll STATUS MESSAGES of every
        /// recipient's INBOX there until every accepted message is counted, and report
        /// the rate up to then.
        #[arg(long)]
        visible_addr: Option<SocketAddr>,
        /// IMAP users to watch, comma-separated (default: the recipients).
        #[arg(long, value_delimiter = ',')]
        visible_user: Vec<String>,
        #[arg(long, default_value = "")]
        visible_pass: String,
        /// Maildirs where the recipients' mail becomes visible, comma-separated (for a
        /// server with no IMAP of its own, e.g. Postfix's virtual(8)): after sending,
        /// count the files in their `new/` and `cur/` until every accepted message is
        /// there, and report the rate up to then.
        #[arg(long, value_delimiter = ',')]
        visible_maildir: Vec<PathBuf>,
        /// Give up waiting for visibility after this many seconds past the sending phase.
        #[arg(long, default_value_t = 300.0)]
        visible_timeout: f64,
    },
    /// Write N messages of S bytes into a maildir's cur/ (no fsync: test data).
    FillMaildir {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 4096)]
        size: usize,
    },
    /// Count the messages in a mailbox (STATUS MESSAGES).
    Count {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        user: String,
        #[arg(long)]
        pass: String,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
    },
    /// SELECT + UID FETCH 1:* (UID FLAGS), R times (the first reported as cold, the
    /// median of the others as warm); then, R times each, a Thunderbird-style header
    /// fetch of the first `headers` messages (0: skip) and SEARCH TEXT "needle".
    Imap {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        user: String,
        #[arg(long)]
        pass: String,
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        #[arg(long, default_value_t = 10_000)]
        headers: usize,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
        /// Skip the SEARCH TEXT measurement.
        #[arg(long)]
        no_search: bool,
    },
    /// A mixed IMAP workload from N clients for S seconds: SELECT, FETCH flags,
    /// headers and bodies, SEARCH, STORE, APPEND, EXPUNGE. Prints operations/s.
    Mixed {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        user: String,
        #[arg(long)]
        pass: String,
        #[arg(long, default_value_t = 8)]
        clients: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Pace the clients to at most this many loops per second in all (default: as
        /// fast as they can). For comparing two servers at the same load: a faster
        /// server run unpaced carries more work on the same cores, so its per-command
        /// times are not comparable with a slower server's; paced to the slower one's
        /// loop rate (its ops/s / 9), both carry the same load. Client `id` starts its
        /// k-th loop no earlier than `(k * clients + id) / R` s after the start (at once
        /// when behind); the wait before a loop is not in the per-command times.
        #[arg(long)]
        loops_per_second: Option<f64>,
    },
    /// Open N IMAP connections, each logged in, selected and in IDLE; print READY,
    /// hold them for S seconds (the caller measures the server's memory), then close.
    Idle {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        user: String,
        #[arg(long)]
        pass: String,
        #[arg(long, default_value_t = 5000)]
        conns: usize,
        #[arg(long, default_value_t = 10.0)]
        hold: f64,
    },
}

fn check_loopback(addr: &SocketAddr) -> Result<()> {
    if !addr.ip().to_canonical().is_loopback() {
        bail!("{addr} is not a loopback address; this tool only talks to 127.0.0.0/8 and ::1");
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli.cmd))
}

async fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Smtp {
            addr,
            sessions,
            size,
            seconds,
            from,
            auth,
            count,
            to,
            visible_addr,
            visible_user,
            visible_pass,
            visible_timeout,
            visible_maildir,
        } => {
            check_loopback(&addr)?;
            let timeout = Duration::from_secs_f64(visible_timeout);
            let visible = match visible_addr {
                Some(a) => {
                    check_loopback(&a)?;
                    Some(Visible {
                        at: VisibleAt::Imap {
                            addr: a,
                            users: if visible_user.is_empty() {
                                to.clone()
                            } else {
                                visible_user
                            },
                            pass: visible_pass,
                        },
                        timeout,
                    })
                }
                None if !visible_maildir.is_empty() => Some(Visible {
                    at: VisibleAt::Maildirs(visible_maildir),
                    timeout,
                }),
                None => None,
            };
            let auth = match auth {
                Some(a) => {
                    let (user, pass) = a.split_once(':').context("--auth wants user:password")?;
                    Some(base64_plain(user, pass))
                }
                None => None,
            };
            let load = Load {
                sessions,
                size,
                run_for: Duration::from_secs_f64(seconds),
                from,
                auth,
                count: count.unwrap_or(u64::MAX),
                to,
            };
            smtp_load(addr, load, visible).await
        }
        Cmd::FillMaildir { dir, count, size } => fill_maildir(&dir, count, size),
        Cmd::Count {
            addr,
            user,
            pass,
            mailbox,
        } => {
            check_loopback(&addr)?;
            let mut c = Imap::login(addr, &user, &pass).await?;
            let n = c.status_messages(&mailbox).await?;
            println!("messages={n}");
            Ok(())
        }
        Cmd::Imap {
            addr,
            user,
            pass,
            repeat,
            headers,
            mailbox,
            no_search,
        } => {
            check_loopback(&addr)?;
            imap_bench(addr, &user, &pass, repeat, headers, &mailbox, !no_search).await
        }
        Cmd::Mixed {
            addr,
            user,
            pass,
            clients,
            seconds,
            loops_per_second,
        } => {
            check_loopback(&addr)?;
            if let Some(r) = loops_per_second
                && !(r.is_finite() && r > 0.0)
            {
                bail!("--loops-per-second must be a positive number, not {r}");
            }
            mixed(
                addr,
                &user,
                &pass,
                clients,
                Duration::from_secs_f64(seconds),
                loops_per_second,
            )
            .await
        }
        Cmd::Idle {
            addr,
            user,
            pass,
            conns,
            hold,
        } => {
            check_loopback(&addr)?;
            idle(addr, &user, &pass, conns, Duration::from_secs_f64(hold)).await
        }
    }
}

/// A message of about `size` bytes with CRLF lines; `n` (with `tag`) makes it unique
/// and gives SEARCH a word to find in every 10th message. The same arguments give the
/// same bytes, so two servers can be filled with identical mailboxes.
fn message(n: u64, size: usize, from: &str, to: &str, tag: &str) -> Vec<u8> {
    let word = if n.is_multiple_of(10) {
        "needle"
    } else {
        "hay"
    };
    let mut m = format!(
        "From: Load <{from}>\r\nTo: {to}\r\nSubject: load message {n}\r\n\
         Message-ID: <{n}.{tag}@load.example.net>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         first line {word}\r\n"
    )
    .into_bytes();
    while m.len() + 66 < size {
        m.extend_from_slice(b"The quick brown fox jumps over the lazy dog 0123456789 abcdefgh\r\n");
    }
    m
}

/// Where and how to check that accepted messages became visible.
struct Visible {
    at: VisibleAt,
    timeout: Duration,
}

/// Where accepted messages show.
enum VisibleAt {
    /// IMAP STATUS MESSAGES of each user's INBOX.
    Imap {
        addr: SocketAddr,
        users: Vec<String>,
        pass: String,
    },
    /// Files in these maildirs' `new/` and `cur/`.
    Maildirs(Vec<PathBuf>),
}

/// Files in the `new/` and `cur/` of `dirs` (a missing directory counts none).
fn maildir_files(dirs: &[PathBuf]) -> u64 {
    let mut n = 0;
    for d in dirs {
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(d.join(sub)) {
                n += entries.count() as u64;
            }
        }
    }
    n
}

/// What the SMTP sessions send.
struct Load {
    sessions: usize,
    size: usize,
    run_for: Duration,
    from: String,
    /// The AUTH PLAIN token (base64), when the server wants a login.
    auth: Option<String>,
    /// Messages in all (u64::MAX: as many as fit in `run_for`).
    count: u64,
    to: Vec<String>,
}

/// RFC 4616 PLAIN: `\0user\0password`, base64.
fn base64_plain(user: &str, pass: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"))
}

async fn smtp_load(addr: SocketAddr, load: Load, visible: Option<Visible>) -> Result<()> {
    // One logged-in connection per watched user, and its INBOX count before sending.
    let mut watchers = Vec::new();
    let mut files_before = 0;
    match visible.as_ref().map(|v| &v.at) {
        Some(VisibleAt::Imap { addr, users, pass }) => {
            for user in users {
                let mut c = Imap::login(*addr, user, pass).await?;
                let before = c.status_messages("INBOX").await?;
                watchers.push((c, before));
            }
        }
        Some(VisibleAt::Maildirs(dirs)) => files_before = maildir_files(dirs),
        None => {}
    }
    let sessions = load.sessions;
    let size = load.size;
    let load = Arc::new(load);
    let accepted = Arc::new(AtomicU64::new(0));
    let seq = Arc::new(AtomicU64::new(0));
    let tag = Arc::new(std::process::id().to_string());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..sessions {
        let (accepted, seq, load, tag) = (accepted.clone(), seq.clone(), load.clone(), tag.clone());
        tasks.push(tokio::spawn(async move {
            smtp_session(addr, &load, start + load.run_for, &tag, &accepted, &seq).await
        }));
    }
    for t in tasks {
        t.await.context("session task")??;
    }
    let secs = start.elapsed().as_secs_f64();
    let n = accepted.load(Ordering::Relaxed);
    println!(
        "smtp sessions={sessions} size={size} accepted={n} seconds={secs:.2} rate={:.1}",
        n as f64 / secs
    );
    if let Some(v) = visible {
        let deadline = Instant::now() + v.timeout;
        let mut seen;
        loop {
            seen = 0;
            for (c, before) in &mut watchers {
                seen += c.status_messages("INBOX").await?.saturating_sub(*before);
            }
            if let VisibleAt::Maildirs(dirs) = &v.at {
                seen = maildir_files(dirs).saturating_sub(files_before);
            }
            if seen >= n || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let vsecs = start.elapsed().as_secs_f64();
        println!(
            "visible count={seen} of={n} complete={} seconds={vsecs:.2} rate={:.1}",
            seen >= n,
            seen.min(n) as f64 / vsecs
        );
        for (c, _) in &mut watchers {
            let _ = c.cmd("LOGOUT").await;
        }
    }
    Ok(())
}

/// A TCP connection with Nagle's algorithm off, as mail clients have it: a command
/// written in several pieces (APPEND's line, literal, CRLF) must not wait for the
/// server's delayed ACK (40 ms on Linux), which would measure the client, not the server.
async fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

async fn reply(r: &mut BufReader<OwnedReadHalf>) -> Result<String> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            bail!("server closed the connection; so far: {all:?}");
        }
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(all);
        }
    }
}

async fn expect(
    r: &mut BufReader<OwnedReadHalf>,
    w: &mut OwnedWriteHalf,
    cmd: &[u8],
    code: &str,
) -> Result<()> {
    if !cmd.is_empty() {
        w.write_all(cmd).await?;
    }
    let got = reply(r).await?;
    if !got.starts_with(code) {
        bail!("{} → {got:?}", String::from_utf8_lossy(cmd).trim_end());
    }
    Ok(())
}

async fn smtp_session(
    addr: SocketAddr,
    load: &Load,
    until: Instant,
    tag: &str,
    accepted: &AtomicU64,
    seq: &AtomicU64,
) -> Result<()> {
    let (from, to) = (&load.from, &load.to);
    let (r, mut w) = connect(addr).await?.into_split();
    let mut r = BufReader::new(r);
    expect(&mut r, &mut w, b"", "220").await?;
    expect(&mut r, &mut w, b"EHLO load.example.net\r\n", "250").await?;
    if let Some(token) = &load.auth {
        let cmd = format!("AUTH PLAIN {token}\r\n");
        expect(&mut r, &mut w, cmd.as_bytes(), "235").await?;
    }
    while Instant::now() < until {
        let n = seq.fetch_add(1, Ordering::Relaxed);
        if n >= load.count {
            break;
        }
        let to = to
            .get(n as usize % to.len().max(1))
            .map_or("", String::as_str);
        expect(
            &mut r,
            &mut w,
            format!("MAIL FROM:<{from}>\r\n").as_bytes(),
            "250",
        )
        .await?;
        expect(
            &mut r,
            &mut w,
            format!("RCPT TO:<{to}>\r\n").as_bytes(),
            "250",
        )
        .await?;
        expect(&mut r, &mut w, b"DATA\r\n", "354").await?;
        let mut body = message(n, load.size, from, to, tag);
        body.extend_from_slice(b".\r\n");
        expect(&mut r, &mut w, &body, "250").await?;
        accepted.fetch_add(1, Ordering::Relaxed);
    }
    let _ = w.write_all(b"QUIT\r\n").await;
    Ok(())
}

fn fill_maildir(dir: &std::path::Path, count: usize, size: usize) -> Result<()> {
    let cur = dir.join("cur");
    std::fs::create_dir_all(&cur)?;
    for sub in ["new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    for i in 0..count {
        let m = message(
            i as u64,
            size,
            "load@example.net",
            "user@example.com",
            "fill",
        );
        // Every third message seen, every 50th flagged: realistic flag variety.
        let mut info = String::new();
        if i % 50 == 0 {
            info.push('F');
        }
        if i % 3 != 0 {
            info.push('S');
        }
        // Fixed names and contents: filling two servers' maildirs gives the same files.
        let name = format!("{}.M{i}P0.load,S={}:2,{info}", 1_790_000_000 + i, m.len());
        let mut f = std::fs::File::create(cur.join(name))?;
        f.write_all(&m)?;
    }
    println!("filled={count} dir={}", dir.display());
    Ok(())
}

/// A minimal IMAP client: tagged commands, responses read whole (literals included).
struct Imap {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    tag: u64,
}

impl Imap {
    async fn connect(addr: SocketAddr) -> Result<Imap> {
        let (r, w) = connect(addr).await?.into_split();
        let mut c = Imap {
            r: BufReader::new(r),
            w,
            tag: 0,
        };
        let mut greeting = String::new();
        c.r.read_line(&mut greeting).await?;
        if !greeting.starts_with("* OK") {
            bail!("greeting {greeting:?}");
        }
        Ok(c)
    }

    async fn login(addr: SocketAddr, user: &str, pass: &str) -> Result<Imap> {
        let mut c = Imap::connect(addr).await?;
        c.ok(&format!("LOGIN \"{user}\" \"{pass}\"")).await?;
        Ok(c)
    }

    /// Sends a command and reads its whole response; returns (untagged bytes, count of
    /// untagged responses).
    async fn cmd(&mut self, command: &str) -> Result<(Vec<u8>, usize, String)> {
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        self.w
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await?;
        self.read_response(&tag).await
    }

    async fn read_response(&mut self, tag: &str) -> Result<(Vec<u8>, usize, String)> {
        let mut out = Vec::new();
        let mut untagged = 0;
        loop {
            let mut line = Vec::new();
            if self.r.read_until(b'\n', &mut line).await? == 0 {
                bail!("connection closed");
            }
            if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                return Ok((
                    out,
                    untagged,
                    String::from_utf8_lossy(&line).trim_end().to_string(),
                ));
            }
            if line.starts_with(b"* ") {
                untagged += 1;
            }
            // A literal at the end of the line: read its bytes, then the rest of the line.
            let mut tail = line.clone();
            out.extend_from_slice(&line);
            while let Some(n) = literal_len(&tail) {
                let mut buf = vec![0; n];
                self.r.read_exact(&mut buf).await?;
                out.extend_from_slice(&buf);
                let mut rest = Vec::new();
                self.r.read_until(b'\n', &mut rest).await?;
                out.extend_from_slice(&rest);
                tail = rest;
            }
        }
    }

    async fn ok(&mut self, command: &str) -> Result<(Vec<u8>, usize)> {
        let (out, n, status) = self.cmd(command).await?;
        if status.split_whitespace().nth(1).is_none_or(|s| s != "OK") {
            bail!("{command} → {status}");
        }
        Ok((out, n))
    }

    /// Like `ok`, but also accepts `NO [EXPUNGEISSUED]` (RFC 9051 §7.1): a FETCH or
    /// STORE that met a message another client expunged has still been answered.
    async fn ok_or_expunged(&mut self, command: &str) -> Result<()> {
        let (_, _, status) = self.cmd(command).await?;
        let mut words = status.split_whitespace().skip(1);
        match (words.next(), words.next()) {
            (Some("OK"), _) | (Some("NO"), Some("[EXPUNGEISSUED]")) => Ok(()),
            _ => bail!("{command} → {status}"),
        }
    }

    async fn status_messages(&mut self, mailbox: &str) -> Result<u64> {
        let (out, _) = self.ok(&format!("STATUS \"{mailbox}\" (MESSAGES)")).await?;
        let text = String::from_utf8_lossy(&out);
        text.split("MESSAGES ")
            .nth(1)
            .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|s| s.parse().ok())
            .context("no MESSAGES in STATUS")
    }
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&line[open + 1..])
        .ok()?
        .trim_end_matches('+')
        .parse()
        .ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `"cold_ms=<first> warm_ms=<median of the rest>"` (warm is the only one when `v` has one).
fn cold_warm(v: &[f64]) -> String {
    let cold = v.first().copied().unwrap_or(0.0);
    let warm = if v.len() > 1 {
        median(v[1..].to_vec())
    } else {
        cold
    };
    format!("cold_ms={cold:.1} warm_ms={warm:.1}")
}

async fn imap_bench(
    addr: SocketAddr,
    user: &str,
    pass: &str,
    repeat: usize,
    headers: usize,
    mailbox: &str,
    search: bool,
) -> Result<()> {
    let repeat = repeat.max(1);
    let mut c = Imap::login(addr, user, pass).await?;
    let mut times = Vec::new();
    let mut lines = 0;
    for _ in 0..repeat {
        let t = Instant::now();
        c.ok(&format!("SELECT \"{mailbox}\"")).await?;
        let (_, n) = c.ok("UID FETCH 1:* (UID FLAGS)").await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        lines = n;
    }
    println!(
        "imap select_fetch_flags {} messages={lines}",
        cold_warm(&times)
    );
    if headers > 0 {
        let mut times = Vec::new();
        let (mut count, mut bytes) = (0, 0);
        for _ in 0..repeat {
            let t = Instant::now();
            let (out, n) = c
                .ok(&format!(
                    "UID FETCH 1:{headers} (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])"
                ))
                .await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            (count, bytes) = (n, out.len());
        }
        println!(
            "imap header_fetch {} messages={count} bytes={bytes}",
            cold_warm(&times)
        );
    }
    if search {
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..repeat {
            let t = Instant::now();
            let (out, _) = c.ok("SEARCH TEXT \"needle\"").await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            found = String::from_utf8_lossy(&out)
                .lines()
                .filter(|l| l.starts_with("* SEARCH"))
                .map(|l| l.split_whitespace().count().saturating_sub(2))
                .sum::<usize>();
        }
        println!("imap search_text {} found={found}", cold_warm(&times));
    }
    let _ = c.cmd("LOGOUT").await;
    Ok(())
}

/// The commands of one mixed-workload loop, in order (for the per-command times).
const MIXED_OPS: [&str; 9] = [
    "SELECT",
    "FETCH_FLAGS_ALL",
    "FETCH_HEADERS_21",
    "FETCH_BODY",
    "SEARCH_UNSEEN",
    "STORE_SEEN",
    "APPEND",
    "UID_SEARCH_UNSEEN",
    "STORE_DELETED_UID_EXPUNGE",
];

async fn mixed(
    addr: SocketAddr,
    user: &str,
    pass: &str,
    clients: usize,
    run_for: Duration,
    loops_per_second: Option<f64>,
) -> Result<()> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for id in 0..clients {
        let (user, pass) = (user.to_string(), pass.to_string());
        tasks.push(tokio::spawn(async move {
            // Per command of MIXED_OPS: total time, and the loops done.
            let mut spent = [Duration::ZERO; MIXED_OPS.len()];
            let mut loops: u64 = 0;
            let mut c = Imap::login(addr, &user, &pass).await?;
            while start.elapsed() < run_for {
                if let Some(r) = loops_per_second {
                    // This client's slot for its loop number `loops` (from 0): the
                    // clients take turns, R loops a second in all. Behind schedule,
                    // sleep_until returns at once.
                    let slot = (loops * clients as u64 + id as u64) as f64 / r;
                    if slot >= run_for.as_secs_f64() {
                        break;
                    }
                    let at = start + Duration::from_secs_f64(slot);
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                }
                loops += 1;
                let i = loops;
                let mut t = Instant::now();
                let mut lap = |k: usize, t: &mut Instant| {
                    spent[k] += t.elapsed();
                    *t = Instant::now();
                };
                let (out, _) = c.ok("SELECT INBOX").await?;
                lap(0, &mut t);
                let exists = String::from_utf8_lossy(&out)
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("* ")
                            .and_then(|l| l.strip_suffix(" EXISTS"))
                            .and_then(|n| n.parse::<u64>().ok())
                    })
                    .unwrap_or(0);
                // Only the mailbox's own messages, never one another client appended
                // (and may be expunging): those sit above `stable`, at most one per
                // other client.
                let stable = exists.saturating_sub(clients as u64).max(1);
                let pick = |k: u64| 1 + (k * 7919 + id as u64 * 31) % stable;
                let a = pick(i);
                let msg = message(
                    i,
                    2048,
                    "load@example.net",
                    "user@example.com",
                    &format!("{}-{id}", std::process::id()),
                );
                let mut t = Instant::now();
                c.ok_or_expunged("FETCH 1:* (FLAGS)").await?;
                lap(1, &mut t);
                c.ok_or_expunged(&format!(
                    "FETCH {a}:{} (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From Subject Date)])",
                    (a + 20).min(stable)
                ))
                .await?;
                lap(2, &mut t);
                c.ok_or_expunged(&format!("FETCH {} BODY.PEEK[]", pick(i + 1)))
                    .await?;
                lap(3, &mut t);
                c.ok("SEARCH UNSEEN").await?;
                lap(4, &mut t);
                c.ok_or_expunged(&format!("STORE {} +FLAGS.SILENT (\\Seen)", pick(i + 2)))
                    .await?;
                lap(5, &mut t);
                c.tag += 1;
                let tag = format!("a{}", c.tag);
                // One write: the command line, the literal (LITERAL+) and the CRLF.
                let mut append = format!("{tag} APPEND INBOX {{{}+}}\r\n", msg.len()).into_bytes();
                append.extend_from_slice(&msg);
                append.extend_from_slice(b"\r\n");
                c.w.write_all(&append).await?;
                let (_, _, status) = c.read_response(&tag).await?;
                if !status.contains(" OK") {
                    bail!("APPEND → {status}");
                }
                lap(6, &mut t);
                // RFC 4315 APPENDUID: remove exactly what we appended, whatever the
                // other clients did meanwhile.
                let uid = status
                    .split("APPENDUID ")
                    .nth(1)
                    .and_then(|s| s.split_whitespace().nth(1))
                    .map(|s| s.trim_end_matches(']').to_string())
                    .context("APPEND without APPENDUID")?;
                c.ok("UID SEARCH UNSEEN").await?;
                lap(7, &mut t);
                c.ok(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))
                    .await?;
                c.ok(&format!("UID EXPUNGE {uid}")).await?;
                lap(8, &mut t);
            }
            let _ = c.cmd("LOGOUT").await;
            anyhow::Ok((loops, spent))
        }));
    }
    let mut loops = 0;
    let mut spent = [Duration::ZERO; MIXED_OPS.len()];
    for t in tasks {
        let (n, s) = t.await.context("client task")??;
        loops += n;
        for (all, one) in spent.iter_mut().zip(s) {
            *all += one;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    // Nine commands a loop; the last pair (UID STORE + UID EXPUNGE) is timed together.
    let n = loops * 9;
    println!(
        "mixed clients={clients} ops={n} seconds={secs:.2} rate={:.1}",
        n as f64 / secs
    );
    if let Some(r) = loops_per_second {
        println!("mixed_paced loops_per_second={r}");
    }
    for (name, d) in MIXED_OPS.iter().zip(spent) {
        println!(
            "mixed_op op={name} mean_ms={:.2}",
            d.as_secs_f64() * 1000.0 / loops.max(1) as f64
        );
    }
    Ok(())
}

async fn idle(
    addr: SocketAddr,
    user: &str,
    pass: &str,
    conns: usize,
    hold: Duration,
) -> Result<()> {
    let setup = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (setup, user, pass) = (setup.clone(), user.to_string(), pass.to_string());
        tasks.push(tokio::spawn(async move {
            let _permit = setup.acquire_owned().await?;
            let mut c = Imap::login(addr, &user, &pass).await?;
            c.ok("SELECT INBOX").await?;
            c.w.write_all(b"i IDLE\r\n").await?;
            let mut line = String::new();
            c.r.read_line(&mut line).await?;
            if !line.starts_with('+') {
                bail!("IDLE → {line:?}");
            }
            anyhow::Ok(c)
        }));
    }
    let mut held = Vec::new();
    let mut failed = 0;
    let mut first_error = None;
    for t in tasks {
        match t.await.context("idle task")? {
            Ok(c) => held.push(c),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("{failed} connections failed; the first: {e:#}");
    }
    if held.is_empty() {
        bail!("no connection reached IDLE");
    }
    println!("READY idle={} failed={failed}", held.len());
    std::io::stdout().flush()?;
    tokio::time::sleep(hold).await;
    drop(held);
    Ok(())
}
