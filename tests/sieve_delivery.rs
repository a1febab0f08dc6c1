//! Users' Sieve scripts at delivery, end to end (issue 11): `mailyard serve` on loopback
//! with SMTP, IMAP and ManageSieve; scripts uploaded with the PyPI `managesieve` client
//! or `mailyard sieve put`; mail sent over SMTP (and `mailyard sendmail`); the result
//! read back over IMAP with Python's imaplib, and what leaves the server (vacation
//! replies, redirects, refusal notices) caught by an SMTP sink on 127.0.0.2 that a DNS
//! server on loopback names as remote.test's MX.
//!
//! Local delivery is durable before the SMTP `250`, so what IMAP shows right after it
//! is final. Mail that goes out is waited for; that some mail did NOT go out is made
//! certain by a later message that must go out, after which the queue is empty.

mod bin_support;
#[path = "tests/relay_support/mod.rs"]
mod relay_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bin_support::{BIN, Serve, addr, mailyard, python, run_with_input, serve, text};
use relay_support::{Got, Sink, SinkConf, Zone, dns_server, send, sinks, wait_until};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const PW: &str = "s3cret pw";
/// How long mail that goes out may take to reach the sink.
const RELAY_LIMIT: Duration = Duration::from_secs(30);

/// A running server with alice and bob, and the sink that is remote.test's MX.
struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
    server: Serve,
    sink: Sink,
}

impl Env {
    /// Starts everything; `sieve` is the body of a `[sieve]` section ("" for none).
    async fn start(sieve: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, mut sinks) = sinks(vec![SinkConf::default()]).await;
        let dns = dns_server(
            Zone::default()
                .mx("remote.test", 10, "mx.remote.test")
                .a("mx.remote.test", Ipv4Addr::new(127, 0, 0, 2)),
        )
        .await;
        let config = write_config(dir.path(), dns, port, sieve);
        for user in [ALICE, BOB] {
            let o = mailyard(&config, &["user", "add", user], Some(&format!("{PW}\n")));
            assert!(o.status.success(), "{}", text(&o));
        }
        let server = blocking(|| serve(&config, 3));
        Env {
            dir,
            config,
            server,
            sink: sinks.remove(0),
        }
    }

    fn smtp(&self) -> SocketAddr {
        addr(&self.server, "smtp")
    }

    fn imap(&self) -> SocketAddr {
        addr(&self.server, "imap")
    }

    /// Sends `message` over SMTP from `from` to `rcpts`: the end-of-data reply.
    async fn send(&self, from: &str, rcpts: &[&str], message: &str) -> String {
        let (replies, end) = send(self.smtp(), None, from, rcpts, message).await;
        assert!(
            replies.iter().all(|r| r.starts_with("250")),
            "RCPT: {replies:?}"
        );
        end
    }

    /// Like [`Env::send`], and the reply must be `250`.
    async fn deliver(&self, from: &str, rcpts: &[&str], message: &str) {
        let end = self.send(from, rcpts, message).await;
        assert!(end.starts_with("250"), "end of data: {end}");
    }

    /// `mailyard sieve put USER NAME - --activate` with `script` on stdin.
    fn put_script(&self, user: &str, name: &str, script: &str) {
        let o = blocking(|| {
            mailyard(
                &self.config,
                &["sieve", "put", user, name, "-", "--activate"],
                Some(script),
            )
        });
        assert!(o.status.success(), "sieve put: {}", text(&o));
    }

    /// Every message of every mailbox of `user`, over IMAP.
    fn mail(&self, user: &str) -> Vec<Msg> {
        blocking(|| imap(self.imap(), user, &[], "BODY.PEEK[]"))
    }

    /// The queue ids `mailyard queue list` prints.
    fn queued(&self) -> Vec<String> {
        let o = mailyard(&self.config, &["queue", "list"], None);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.ends_with("queued"))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    }

    /// Waits until the sink holds a message `f` accepts; returns it.
    async fn wait_sink(&self, what: &str, f: impl Fn(&Got) -> bool) -> Got {
        wait_until(what, RELAY_LIMIT, || self.sink.got().iter().any(&f)).await;
        self.sink
            .got()
            .into_iter()
            .find(|g| f(g))
            .expect("just seen")
    }

    /// Waits until the relay queue is empty: everything queued has reached the sink.
    async fn wait_queue_empty(&self) {
        wait_until("an empty relay queue", RELAY_LIMIT, || {
            blocking(|| self.queued()).is_empty()
        })
        .await;
    }
}

/// Runs blocking work (a child process) without stalling the runtime's other tasks
/// (the DNS server and the sink).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// A config with SMTP, IMAP and ManageSieve on loopback, DNS at `dns`, the relay to
/// port `port`, and `[sieve]` `sieve` (when not empty).
fn write_config(dir: &Path, dns: SocketAddr, port: u16, sieve: &str) -> PathBuf {
    let mut rest = format!(
        "[log]\nformat = \"json\"\n[auth_checks]\nenabled = false\n\
         [dns]\nnameservers = [\"{dns}\"]\n\
         [relay]\nport = {port}\nretry_seconds = [1]\nretry_every_seconds = 1\n"
    );
    if !sieve.is_empty() {
        rest.push_str(&format!("[sieve]\n{sieve}\n"));
    }
    bin_support::write_config(
        dir,
        "mailyard.toml",
        "data",
        &["smtp", "imap", "managesieve"],
        &rest,
    )
}

/// One message as IMAP shows it.
#[derive(Debug, Clone)]
struct Msg {
    mailbox: String,
    flags: Vec<String>,
    /// What was fetched (the whole message, or its header).
    text: String,
}

impl Msg {
    fn subject(&self) -> Option<&str> {
        field(&self.text, "Subject")
    }
}

/// The value of header field `name` in `message` (first occurrence, unfolded lines
/// only).
fn field<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let head = message.split("\r\n\r\n").next()?;
    head.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The subjects of the messages in `mailbox`, sorted.
fn subjects(mail: &[Msg], mailbox: &str) -> Vec<String> {
    let mut s: Vec<String> = mail
        .iter()
        .filter(|m| m.mailbox == mailbox)
        .map(|m| m.subject().unwrap_or("").to_string())
        .collect();
    s.sort();
    s
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

const IMAP_CLIENT: &str = r#"
import imaplib, os, re, sys
m = imaplib.IMAP4(os.environ["HOST"], int(os.environ["PORT"]))
m.login(os.environ["USER_"], os.environ["PASS"])
for name in filter(None, os.environ["CREATE"].split(",")):
    typ, d = m.create(name)
    assert typ == "OK", (name, d)
item = os.environ["ITEM"]
typ, listing = m.list()
assert typ == "OK", listing
for line in listing:
    mt = re.match(rb'\((.*?)\) (?:NIL|"(?:[^"\\]|\\.)*") (.*)$', line)
    assert mt, line
    if b"\\noselect" in mt.group(1).lower():
        continue
    name = mt.group(2)
    if name.startswith(b'"'):
        name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
    name = name.decode()
    typ, d = m.select(name, readonly=True)
    assert typ == "OK", (name, d)
    for i in range(1, int(d[0]) + 1):
        typ, f = m.fetch(str(i), "(FLAGS)")
        assert typ == "OK", f
        flags = b" ".join(imaplib.ParseFlags(f[0])).decode()
        typ, b = m.fetch(str(i), "(" + item + ")")
        assert typ == "OK", b
        sys.stdout.write("=====MSG\t%s\t%s\n" % (name, flags))
        sys.stdout.write(b[0][1].decode("utf-8", "replace"))
        sys.stdout.write("\n=====END\n")
m.logout()
"#;

/// One imaplib session as `user`: CREATE each of `create`, then fetch FLAGS and `item`
/// of every message in every selectable mailbox.
fn imap(at: SocketAddr, user: &str, create: &[&str], item: &str) -> Vec<Msg> {
    let out = python(
        IMAP_CLIENT,
        &[
            ("HOST", at.ip().to_string()),
            ("PORT", at.port().to_string()),
            ("USER_", user.to_string()),
            ("PASS", PW.to_string()),
            ("CREATE", create.join(",")),
            ("ITEM", item.to_string()),
        ],
    );
    assert!(out.status.success(), "imaplib: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .split("=====MSG\t")
        .skip(1)
        .map(|chunk| {
            let (head, rest) = chunk.split_once('\n').expect("a header line");
            let (mailbox, flags) = head.split_once('\t').expect("mailbox and flags");
            Msg {
                mailbox: mailbox.to_string(),
                flags: flags.split_whitespace().map(str::to_string).collect(),
                text: rest
                    .strip_suffix("\n=====END\n")
                    .expect("end marker")
                    .to_string(),
            }
        })
        .collect()
}

const MANAGESIEVE_CLIENT: &str = r#"
import os, managesieve
m = managesieve.MANAGESIEVE("127.0.0.1", int(os.environ["PORT"]))
assert m.login("", os.environ["USER_"], os.environ["PASS"]) == "OK", m.response_text
assert m.putscript(os.environ["NAME"], os.environ["SCRIPT"]) == "OK", m.response_text
assert m.setactive(os.environ["NAME"]) == "OK", m.response_text
typ, scripts = m.listscripts()
assert typ == "OK", typ
print("list:", [(n if isinstance(n, str) else n.decode(), a) for n, a in scripts])
assert m.logout() == "OK"
"#;

/// Uploads `script` as `name` for `user` with the PyPI ManageSieve client and makes it
/// the active one; returns what LISTSCRIPTS said.
fn managesieve_put(at: SocketAddr, user: &str, name: &str, script: &str) -> String {
    let out = python(
        MANAGESIEVE_CLIENT,
        &[
            ("PORT", at.port().to_string()),
            ("USER_", user.to_string()),
            ("PASS", PW.to_string()),
            ("NAME", name.to_string()),
            ("SCRIPT", script.to_string()),
        ],
    );
    assert!(
        out.status.success(),
        "managesieve client (pip install managesieve): {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A message from `from` to alice with `subject`, Message-ID `<id@remote.test>`, and
/// `extra` header lines.
fn message(from: &str, subject: &str, id: &str, extra: &str) -> String {
    format!(
        "From: <{from}>\nTo: <{ALICE}>\nSubject: {subject}\nMessage-ID: <{id}@remote.test>\n\
         Date: Mon, 6 Jan 2025 10:00:00 +0000\n{extra}\nbody of {subject}\n"
    )
}

// ---- 1. Sorting ----

const SORTING: &str = "require [\"fileinto\", \"imap4flags\", \"mailbox\"];\r\n\
if header :contains \"subject\" \"[list]\" {\r\n  fileinto \"Lists\";\r\n}\r\n\
elsif header :contains \"subject\" \"report\" {\r\n  addflag \"\\\\Flagged\";\r\n  fileinto :create \"Work.Reports\";\r\n}\r\n\
elsif header :contains \"subject\" \"nowhere\" {\r\n  fileinto \"Missing\";\r\n}\r\n\
elsif header :contains \"subject\" \"slash\" {\r\n  fileinto :create \"Work/Reports\";\r\n}\r\n\
elsif header :contains \"subject\" \"mark\" {\r\n  setflag [\"\\\\Seen\", \"$Sorted\"];\r\n}\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managesieve_script_sorts_into_folders_with_flags() {
    let env = Env::start("").await;
    let ms = addr(&env.server, "managesieve");
    let said = blocking(|| managesieve_put(ms, ALICE, "sorting", SORTING));
    assert!(said.contains("list: [('sorting', True)]"), "{said}");
    // Lists exists (created by the user); Work.Reports is made by :create; Missing
    // never exists.
    let before = blocking(|| imap(env.imap(), ALICE, &["Lists"], "BODY.PEEK[]"));
    assert!(before.is_empty(), "{before:?}");

    let from = "bob@remote.test";
    for (subject, id) in [
        ("[list] weekly digest", "s1"),
        ("monthly report", "s2"),
        ("hello alice", "s3"),
        ("nowhere to go", "s4"),
        ("slash in the name", "s5"),
        ("[list] second", "s6"),
        ("mark me", "s7"),
    ] {
        env.deliver(from, &[ALICE], &message(from, subject, id, ""))
            .await;
    }

    let mail = env.mail(ALICE);
    assert_eq!(
        subjects(&mail, "Lists"),
        sorted(&["[list] weekly digest", "[list] second"]),
        "{mail:?}"
    );
    assert_eq!(
        subjects(&mail, "Work.Reports"),
        ["monthly report"],
        "{mail:?}"
    );
    // A mailbox that does not exist without :create, and a name this store cannot
    // hold (`/` is no hierarchy separator here): the message is kept in the INBOX.
    assert_eq!(
        subjects(&mail, "INBOX"),
        sorted(&[
            "hello alice",
            "nowhere to go",
            "slash in the name",
            "mark me"
        ]),
        "{mail:?}"
    );
    assert_eq!(mail.len(), 7, "nothing else anywhere: {mail:?}");
    for m in &mail {
        let mut flags = m.flags.clone();
        flags.retain(|f| f != "\\Recent");
        flags.sort();
        // The implicit keep takes the flags set before it (RFC 5232 §5).
        let want: &[&str] = match m.subject() {
            Some("monthly report") => &["\\Flagged"],
            Some("mark me") => &["$Sorted", "\\Seen"],
            _ => &[],
        };
        assert_eq!(flags, want, "flags of {:?} in {}", m.subject(), m.mailbox);
    }
    assert!(
        !mail.iter().any(|m| m.mailbox == "Missing"),
        "no Missing mailbox created"
    );
}

// ---- 2. Vacation ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacation_replies_once_and_never_to_automatic_mail() {
    let env = Env::start("").await;
    env.put_script(
        ALICE,
        "away",
        "require \"vacation\";\nvacation :days 1 :subject \"Away\" \"I am away\";\n",
    );
    let bob = "bob@remote.test";
    env.deliver(bob, &[ALICE], &message(bob, "first", "v1", ""))
        .await;
    env.deliver(bob, &[ALICE], &message(bob, "second", "v2", ""))
        .await;
    let reply = env
        .wait_sink("the vacation reply to bob", |g| g.rcpts == [bob])
        .await;

    // None of these may be answered (RFC 5230 §4.5, §4.6; RFC 3834 §2).
    let list = "list@remote.test";
    env.deliver(
        list,
        &[ALICE],
        &message(list, "list mail", "n1", "List-Id: <friends.remote.test>\n"),
    )
    .await;
    let bulk = "bulk@remote.test";
    env.deliver(
        bulk,
        &[ALICE],
        &message(bulk, "bulk mail", "n2", "Precedence: bulk\n"),
    )
    .await;
    let auto = "robot@remote.test";
    env.deliver(
        auto,
        &[ALICE],
        &message(auto, "automatic", "n3", "Auto-Submitted: auto-generated\n"),
    )
    .await;
    env.deliver(
        "",
        &[ALICE],
        &message("postmaster@remote.test", "null sender", "n4", ""),
    )
    .await;
    let other = "other@remote.test";
    env.deliver(
        other,
        &[ALICE],
        &format!(
            "From: <{other}>\nTo: <someone@remote.test>\nSubject: not to alice\n\
             Message-ID: <n5@remote.test>\n\nbcc'd\n"
        ),
    )
    .await;
    // A sender that does get a reply, after all of them: once it has arrived and the
    // queue is empty, any reply to the mail above would have arrived too.
    // (Alice in Cc:, with a display name, is addressed too.)
    let carol = "carol@remote.test";
    env.deliver(
        carol,
        &[ALICE],
        &format!(
            "From: <{carol}>\nTo: <someone@remote.test>\nCc: \"Alice L.\" <{ALICE}>\n\
             Subject: from carol\nMessage-ID: <c1@remote.test>\n\nhi\n"
        ),
    )
    .await;
    env.wait_sink("the vacation reply to carol", |g| g.rcpts == [carol])
        .await;
    env.wait_queue_empty().await;
    let got = env.sink.got();
    let to: Vec<&[String]> = got.iter().map(|g| g.rcpts.as_slice()).collect();
    assert_eq!(got.len(), 2, "one reply to bob, one to carol: {to:?}");

    assert_eq!(reply.from, "", "a vacation reply is sent from <>");
    let data = String::from_utf8_lossy(&reply.data).into_owned();
    assert!(
        field(&data, "Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied")),
        "{data}"
    );
    assert_eq!(
        field(&data, "In-Reply-To"),
        Some("<v1@remote.test>"),
        "{data}"
    );
    assert_eq!(field(&data, "Subject"), Some("Away"), "{data}");
    assert!(
        field(&data, "From").is_some_and(|v| v.contains(ALICE)),
        "{data}"
    );
    assert!(
        field(&data, "To").is_some_and(|v| v.contains(bob)),
        "{data}"
    );
    assert!(data.contains("I am away"), "{data}");

    // Vacation does not cancel the implicit keep: all eight are in the INBOX.
    let mail = env.mail(ALICE);
    assert_eq!(subjects(&mail, "INBOX").len(), 8, "{mail:?}");
    assert_eq!(mail.len(), 8, "{mail:?}");
}

// ---- 3. Redirect ----

const REDIRECTS: &str = "require [\"copy\"];\n\
if header :is \"subject\" \"plain\" { redirect \"dave@remote.test\"; }\n\
elsif header :is \"subject\" \"copy\" { redirect :copy \"dave@remote.test\"; }\n\
elsif header :is \"subject\" \"local\" { redirect \"bob@example.com\"; }\n\
elsif header :is \"subject\" \"looped\" { redirect \"dave@remote.test\"; }\n\
elsif header :is \"subject\" \"many\" {\n  redirect \"r1@remote.test\";\n  \
redirect \"r2@remote.test\";\n  redirect \"r3@remote.test\";\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_keep_the_sender_and_respect_the_limit() {
    let env = Env::start("max_redirects = 2").await;
    env.put_script(ALICE, "redirects", REDIRECTS);
    let sender = "erin@remote.test";

    // More redirects than [sieve] max_redirects: a runtime error, the message kept
    // and none of its redirects made.
    env.deliver(sender, &[ALICE], &message(sender, "many", "r0", ""))
        .await;
    let mail = env.mail(ALICE);
    assert_eq!(subjects(&mail, "INBOX"), ["many"], "{mail:?}");

    env.deliver(sender, &[ALICE], &message(sender, "plain", "r1", ""))
        .await;
    let plain = env
        .wait_sink("the redirected message", |g| {
            String::from_utf8_lossy(&g.data).contains("Subject: plain\r\n")
        })
        .await;
    assert_eq!(plain.from, sender, "the original envelope sender");
    assert_eq!(plain.rcpts, ["dave@remote.test"]);
    let data = String::from_utf8_lossy(&plain.data).into_owned();
    assert_eq!(
        field(&data, "X-Sieve-Redirected-From"),
        Some(ALICE),
        "{data}"
    );
    assert!(!data.contains("Return-Path:"), "not relayed: {data}");
    assert!(data.contains("body of plain"), "{data}");

    env.deliver(sender, &[ALICE], &message(sender, "copy", "r2", ""))
        .await;
    let copy = env
        .wait_sink("the redirected copy", |g| {
            String::from_utf8_lossy(&g.data).contains("Subject: copy\r\n")
        })
        .await;
    assert_eq!(copy.from, sender);
    assert_eq!(copy.rcpts, ["dave@remote.test"]);

    env.deliver(sender, &[ALICE], &message(sender, "local", "r3", ""))
        .await;
    let bobs = env.mail(BOB);
    assert_eq!(subjects(&bobs, "INBOX"), ["local"], "{bobs:?}");
    let m = &bobs[0];
    assert_eq!(field(&m.text, "X-Sieve-Redirected-From"), Some(ALICE));
    assert_eq!(
        field(&m.text, "Return-Path"),
        Some(format!("<{sender}>").as_str())
    );

    // A message alice's script already redirected once is not sent round again
    // (what the field is for): kept instead.
    env.deliver(
        sender,
        &[ALICE],
        &message(
            sender,
            "looped",
            "r4",
            &format!("X-Sieve-Redirected-From: {ALICE}\n"),
        ),
    )
    .await;

    // plain went away, copy stayed, local went to bob, many and looped stayed.
    let mail = env.mail(ALICE);
    assert_eq!(
        subjects(&mail, "INBOX"),
        sorted(&["many", "copy", "looped"]),
        "{mail:?}"
    );
    assert_eq!(mail.len(), 3, "{mail:?}");
    // Nothing else went out: not the redirects of "many" nor "looped", nothing twice.
    env.wait_queue_empty().await;
    let got = env.sink.got();
    let to: Vec<&[String]> = got.iter().map(|g| g.rcpts.as_slice()).collect();
    assert_eq!(got.len(), 2, "{to:?}");
}

// ---- 4. A broken script ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_active_script_keeps_mail_in_the_inbox() {
    let env = Env::start("").await;
    // Written as the store keeps scripts (store::sieve_scripts), past the validation
    // of ManageSieve and the CLI, as a tree copied from elsewhere might hold one.
    let sieve = env.dir.path().join("data/mail/example.com/alice/sieve");
    std::fs::create_dir_all(&sieve).expect("mkdir");
    std::fs::write(
        sieve.join("broken.sieve"),
        "require \"fileinto\";\nif header :contains \"subject\" \"x\" {\n  fileinto;\n",
    )
    .expect("write script");
    std::fs::write(sieve.join("active"), "broken\n").expect("write active");
    let list = mailyard(&env.config, &["sieve", "list", ALICE], None);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("broken\t")
            && String::from_utf8_lossy(&list.stdout).contains("ACTIVE"),
        "the store sees it active: {}",
        text(&list)
    );
    let from = "bob@remote.test";
    env.deliver(from, &[ALICE], &message(from, "x marks", "b1", ""))
        .await;
    let mail = env.mail(ALICE);
    assert_eq!(subjects(&mail, "INBOX"), ["x marks"], "{mail:?}");
    assert_eq!(mail.len(), 1);
}

// ---- 5. ereject ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ereject_refuses_at_smtp_or_bounces_when_others_take_it() {
    let env = Env::start("").await;
    env.put_script(
        ALICE,
        "refuse",
        "require \"ereject\";\nereject \"no thanks\";\n",
    );
    let sender = "bob@remote.test";
    let end = env
        .send(sender, &[ALICE], &message(sender, "refused", "e1", ""))
        .await;
    assert_eq!(end.trim_end(), "550 5.7.1 no thanks");
    let mail = env.mail(ALICE);
    assert!(mail.is_empty(), "nothing stored: {mail:?}");

    // Bob (no script) takes it: 250, and the sender learns of alice's refusal.
    env.deliver(
        sender,
        &[ALICE, BOB],
        &message(sender, "half refused", "e2", ""),
    )
    .await;
    let bobs = env.mail(BOB);
    assert_eq!(subjects(&bobs, "INBOX"), ["half refused"], "{bobs:?}");
    assert!(env.mail(ALICE).is_empty());
    let dsn = env
        .wait_sink("the refusal notice", |g| g.rcpts == [sender])
        .await;
    assert_eq!(dsn.from, "", "a DSN is sent from <>");
    let data = String::from_utf8_lossy(&dsn.data).into_owned();
    assert!(data.contains("Status: 5.7.1"), "{data}");
    assert!(data.contains("no thanks"), "{data}");
    assert!(data.contains("Subject: half refused"), "{data}");
    // The message refused at SMTP time had no notice (RFC 5429 §2.1).
    env.wait_queue_empty().await;
    assert_eq!(env.sink.got().len(), 1);
}

// ---- 6. duplicate ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_message_ids_are_discarded() {
    let env = Env::start("").await;
    env.put_script(
        ALICE,
        "dedup",
        "require \"duplicate\";\nif duplicate { discard; }\n",
    );
    let from = "bob@remote.test";
    env.deliver(from, &[ALICE], &message(from, "original", "same", ""))
        .await;
    env.deliver(from, &[ALICE], &message(from, "again", "same", ""))
        .await;
    env.deliver(from, &[ALICE], &message(from, "another", "different", ""))
        .await;
    let mail = env.mail(ALICE);
    assert_eq!(
        subjects(&mail, "INBOX"),
        sorted(&["original", "another"]),
        "{mail:?}"
    );
    assert_eq!(mail.len(), 2);
}

// ---- 7. editheader ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editheader_changes_what_is_stored() {
    let env = Env::start("").await;
    env.put_script(
        ALICE,
        "edit",
        "require \"editheader\";\naddheader \"X-Filtered\" \"yes\";\ndeleteheader \"X-Junk\";\n",
    );
    let from = "bob@remote.test";
    env.deliver(
        from,
        &[ALICE],
        &message(from, "edited", "h1", "X-Junk: spam\nX-Keep: this\n"),
    )
    .await;
    let mail = blocking(|| imap(env.imap(), ALICE, &[], "BODY.PEEK[HEADER]"));
    assert_eq!(mail.len(), 1, "{mail:?}");
    let head = &mail[0].text;
    assert_eq!(field(head, "X-Filtered"), Some("yes"), "{head}");
    assert_eq!(field(head, "X-Junk"), None, "{head}");
    assert_eq!(field(head, "X-Keep"), Some("this"), "{head}");
    assert_eq!(field(head, "Subject"), Some("edited"), "{head}");
    assert!(head.starts_with("Return-Path: <"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "the whole header: {head:?}");
}

// ---- 8. sendmail ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendmail_mail_goes_through_the_script() {
    let env = Env::start("").await;
    env.put_script(
        ALICE,
        "cron",
        "require [\"fileinto\", \"mailbox\"];\n\
         if header :contains \"subject\" \"cron\" { fileinto :create \"Cron\"; }\n",
    );
    let mut cmd = Command::new(BIN);
    cmd.args(["sendmail", "-t"])
        .env("MAILYARD_CONFIG", &env.config);
    let o: Output = run_with_input(
        cmd,
        &format!("To: {ALICE}\nSubject: cron output\n\nall done\n"),
    );
    assert!(o.status.success(), "sendmail: {}", text(&o));
    let mail = env.mail(ALICE);
    assert_eq!(subjects(&mail, "Cron"), ["cron output"], "{mail:?}");
    assert_eq!(mail.len(), 1, "{mail:?}");
}

// ---- 9. [sieve] enabled = false ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_sieve_files_everything_in_the_inbox() {
    let env = Env::start("enabled = false").await;
    env.put_script(
        ALICE,
        "all",
        "require [\"fileinto\", \"mailbox\"];\nfileinto :create \"Lists\";\n",
    );
    let from = "bob@remote.test";
    env.deliver(from, &[ALICE], &message(from, "unfiltered", "d1", ""))
        .await;
    let mail = env.mail(ALICE);
    assert_eq!(subjects(&mail, "INBOX"), ["unfiltered"], "{mail:?}");
    assert_eq!(mail.len(), 1, "no Lists: {mail:?}");
}

// ---- Copies arriving at once ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_are_remembered_once() {
    let env = Env::start("").await;
    env.put_script(
        ALICE,
        "memory",
        "require [\"duplicate\", \"vacation\"];\n\
         if duplicate { discard; stop; }\n\
         vacation :days 1 :subject \"Away\" \"I am away\";\n",
    );
    // Four copies of one message on four connections at once (a list's copy and the
    // direct one, say), and four messages from one sender at once: still one copy
    // kept (RFC 7352) and one reply per sender (RFC 5230 §4.2).
    let (bob, carol) = ("bob@remote.test", "carol@remote.test");
    let mut sends = Vec::new();
    for i in 0..4 {
        for (from, subject, id) in [
            (bob, format!("copy {i}"), "same".to_string()),
            (carol, format!("carol {i}"), format!("carol{i}")),
        ] {
            let (smtp, m) = (env.smtp(), message(from, &subject, &id, ""));
            sends.push(tokio::spawn(async move {
                send(smtp, None, from, &[ALICE], &m).await.1
            }));
        }
    }
    for s in sends {
        let end = s.await.expect("send task");
        assert!(end.starts_with("250"), "{end}");
    }
    let mail = env.mail(ALICE);
    let copies = mail
        .iter()
        .filter(|m| m.subject().is_some_and(|s| s.starts_with("copy ")))
        .count();
    assert_eq!(copies, 1, "{mail:?}");
    assert_eq!(mail.len(), 5, "one copy and carol's four: {mail:?}");
    // A later sender's reply, then an empty queue: every reply queued is in.
    let dave = "dave@remote.test";
    env.deliver(dave, &[ALICE], &message(dave, "from dave", "d1", ""))
        .await;
    env.wait_sink("the reply to dave", |g| g.rcpts == [dave])
        .await;
    env.wait_queue_empty().await;
    let mut to: Vec<String> = env.sink.got().iter().map(|g| g.rcpts.join(",")).collect();
    to.sort();
    assert_eq!(to, [bob, carol, dave], "one reply to each sender");
}
