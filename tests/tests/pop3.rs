//! POP3 end to end: the real server on loopback driven by real clients — Python's
//! poplib (USER/PASS, AUTH PLAIN, STAT/LIST/UIDL/TOP/RETR byte for byte, DELE with
//! QUIT, RSET and a dropped connection, STLS, pop3s, the `[IN-USE]` lock, IMAP seeing
//! the expunge at once and the other way round), Debian's fetchmail (download and
//! delete; keep with UIDL tracking across runs), curl `pop3://` and `pop3s://`; hostile
//! input over a raw socket; UIDL stable across a restart and a reindex.

use std::net::SocketAddr;
use std::time::Duration;

use mailyard_store::Address;
use mailyard_tests::{TestServer, output_text, python, require_client, run_client};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const USER: &str = "alice@example.com";
const PASSWORD: &str = "secret pw";
const LIMIT: Duration = Duration::from_secs(20);

async fn server(extra: &str) -> (TestServer, Address) {
    let s = TestServer::start_with_listeners(
        "pop3 = \"127.0.0.1:0\"\npop3s = \"127.0.0.1:0\"\n",
        extra,
    )
    .await;
    let alice = s.add_user(USER, PASSWORD).await;
    (s, alice)
}

/// A message with a body line starting with "." and one that is only "..", so
/// dot-stuffing is exercised both ways.
fn message(i: usize) -> Vec<u8> {
    format!(
        "From: bob@example.net\r\nTo: {USER}\r\nSubject: pop-{i}\r\n\
         Message-ID: <pop-{i}@example.net>\r\n\r\nline one of {i}\r\n.starts with a dot\r\n..\r\n\
         last line\r\n"
    )
    .into_bytes()
}

async fn deliver(s: &TestServer, alice: &Address, n: std::ops::Range<usize>) {
    for i in n {
        s.store()
            .deliver(message(i), std::slice::from_ref(alice))
            .await
            .expect("deliver");
    }
}

fn env(s: &TestServer) -> Vec<(&'static str, String)> {
    vec![
        ("POP3", s.addr("pop3").port().to_string()),
        ("POP3S", s.addr("pop3s").port().to_string()),
        ("IMAP", s.addr("imap").port().to_string()),
        ("USER", USER.to_string()),
        ("PASSWORD", PASSWORD.to_string()),
    ]
}

async fn run_python(s: &TestServer, script: &str) -> String {
    let (ok, out) = python(script, &env(s)).await;
    assert!(ok, "python failed:\n{out}");
    out
}

/// Python helpers every script starts with.
const PRELUDE: &str = r#"
import os, poplib, ssl, base64, json, time, imaplib
P, PS, I = int(os.environ["POP3"]), int(os.environ["POP3S"]), int(os.environ["IMAP"])
U, W = os.environ["USER"], os.environ["PASSWORD"]
def login(port=P):
    deadline = time.time() + 10
    while True:
        p = poplib.POP3("127.0.0.1", port, timeout=10)
        try:
            p.user(U); p.pass_(W); return p
        except poplib.error_proto as e:
            # A dropped session's lock is released when the server notices the drop.
            if b"[IN-USE]" not in e.args[0] or time.time() > deadline: raise
            p.close(); time.sleep(0.05)
def auth_plain():
    deadline = time.time() + 10
    while True:
        p = poplib.POP3("127.0.0.1", P, timeout=10)
        ir = base64.b64encode(("\0" + U + "\0" + W).encode()).decode()
        try:
            return p, p._shortcmd("AUTH PLAIN " + ir)
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0] or time.time() > deadline: raise
            p.close(); time.sleep(0.05)
def insecure():
    c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
    return c
"#;

/// USER/PASS and AUTH PLAIN with an initial response; STAT, LIST, UIDL, TOP and RETR
/// against the stored bytes (CRLF, dot-stuffing undone by poplib gives the lines back);
/// RETR marks \Seen, TOP does not; DELE+RSET keeps, a dropped connection keeps,
/// DELE+QUIT removes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poplib_reads_exactly_and_deletes_only_on_quit() {
    let (s, alice) = server("").await;
    deliver(&s, &alice, 0..3).await;
    let stored = s.mailbox_contents(USER, "INBOX").await;
    let script = format!(
        "{PRELUDE}{}",
        r#"
p = login()
out = {"stat": p.stat(), "list": [l.decode() for l in p.list()[1]],
       "uidl": [l.decode() for l in p.uidl()[1]], "uidl2": p.uidl(2).decode(),
       "top": [l.decode() for l in p.top(1, 2)[1]],
       "retr": [l.decode() for l in p.retr(2)[1]], "retr_octets": p.retr(3)[2]}
out["capa_transaction"] = sorted(p.capa())
c = poplib.POP3("127.0.0.1", P, timeout=10); out["capa"] = sorted(c.capa()); c.quit()
p.dele(1); out["after_dele"] = p.stat(); p.rset(); out["after_rset"] = p.stat()
p.dele(1); p.close()                         # dropped without QUIT: nothing removed
p, r = auth_plain()                          # AUTH PLAIN with an initial response
out["auth"] = r.decode()
out["kept"] = p.stat()
p.dele(2); out["quit"] = p.quit().decode()
p = login(); out["after_quit"] = p.stat(); out["after_quit_list"] = [l.decode() for l in p.list()[1]]
p.quit()
print(json.dumps(out))
"#
    );
    let out = run_python(&s, &script).await;
    let v = json(&out);
    let sizes: Vec<usize> = stored.iter().map(|m| m.bytes.len()).collect();
    let total: usize = sizes.iter().sum();
    assert_eq!(v["stat"], json!([3, total]), "{out}");
    assert_eq!(
        v["list"],
        json!([
            format!("1 {}", sizes[0]),
            format!("2 {}", sizes[1]),
            format!("3 {}", sizes[2])
        ]),
        "{out}"
    );
    let uidvalidity = s
        .store()
        .mailbox_blocking(&alice, "INBOX")
        .expect("mailbox")
        .expect("INBOX")
        .uidvalidity
        .0;
    let ids: Vec<String> = stored
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{} {uidvalidity:08X}{:08X}", i + 1, m.info.uid.0))
        .collect();
    assert_eq!(v["uidl"], json!(ids), "{out}");
    assert_eq!(text(&v["uidl2"]), format!("+OK {}", ids[1]), "{out}");
    // RETR: the stored message's lines exactly (poplib undoes the dot-stuffing).
    assert_eq!(v["retr"], lines(&stored[1].bytes), "{out}");
    assert!(
        text(&v["retr"][6]) == ".starts with a dot" && text(&v["retr"][7]) == "..",
        "{out}"
    );
    // poplib counts the octets of the lines it returns (stuffing undone), CRLFs in.
    assert_eq!(v["retr_octets"], json!(stored[2].bytes.len()), "{out}");
    // TOP 1 2: the header, the blank line, two body lines.
    let text0 = String::from_utf8_lossy(&stored[0].bytes).to_string();
    let header_end = text0.find("\r\n\r\n").expect("header") + 4;
    let body: Vec<&str> = text0[header_end..].split("\r\n").take(2).collect();
    let top = format!("{}{}\r\n", &text0[..header_end], body.join("\r\n"));
    assert_eq!(v["top"], lines(top.as_bytes()), "{out}");
    let capa = v["capa"].to_string();
    for cap in [
        "TOP",
        "UIDL",
        "USER",
        "SASL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
    ] {
        assert!(capa.contains(&format!("\"{cap}\"")), "{cap}: {out}");
    }
    assert!(!capa.contains("APOP") && !capa.contains("UTF8"), "{out}");
    let after_login = v["capa_transaction"].to_string();
    assert!(
        after_login.contains("\"TOP\"") && !after_login.contains("STLS"),
        "{out}"
    );
    assert_eq!(v["after_dele"], json!([2, total - sizes[0]]), "{out}");
    assert_eq!(v["after_rset"], json!([3, total]), "{out}");
    assert!(text(&v["auth"]).starts_with("+OK"), "{out}");
    assert_eq!(v["kept"], json!([3, total]), "dropped: {out}");
    assert!(text(&v["quit"]).contains("1 messages deleted"), "{out}");
    assert_eq!(v["after_quit"], json!([2, total - sizes[1]]), "{out}");
    // The numbering of a new session: the remaining messages, 1 and 2.
    assert_eq!(
        v["after_quit_list"],
        json!([format!("1 {}", sizes[0]), format!("2 {}", sizes[2])]),
        "{out}"
    );
    let left = s.mailbox_contents(USER, "INBOX").await;
    assert_eq!(left.len(), 2);
    // RETR marked \Seen (messages 2 and 3 were retrieved; 2 is gone), TOP did not.
    assert_eq!(left[0].flag_letters(), "", "TOP leaves message 1 unseen");
    assert_eq!(left[1].flag_letters(), "S", "RETR marks \\Seen");
    s.stop().await;
}

/// STLS on the pop3 port and pop3s; without `plaintext_on_loopback` USER and AUTH
/// are refused before TLS (CAPA says so), and accepted after STLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stls_pop3s_and_no_plaintext_before_tls() {
    let (s, alice) = server("[auth]\nplaintext_on_loopback = false\n").await;
    deliver(&s, &alice, 0..2).await;
    let script = format!(
        "{PRELUDE}{}",
        r#"
out = {}
p = poplib.POP3("127.0.0.1", P, timeout=10)
out["capa_plain"] = sorted(p.capa())
try:
    p.user(U); out["user_plain"] = "accepted"
except poplib.error_proto as e:
    out["user_plain"] = e.args[0].decode()
try:
    p._shortcmd("AUTH PLAIN " + base64.b64encode(("\0" + U + "\0" + W).encode()).decode())
    out["auth_plain"] = "accepted"
except poplib.error_proto as e:
    out["auth_plain"] = e.args[0].decode()
p.stls(insecure())
out["capa_tls"] = sorted(p.capa())
p.user(U); p.pass_(W); out["stls_stat"] = p.stat(); p.quit()
q = poplib.POP3_SSL("127.0.0.1", PS, context=insecure(), timeout=10)
q.user(U); q.pass_(W); out["pop3s_stat"] = q.stat()
out["pop3s_retr"] = q.retr(1)[1][2].decode(); q.quit()
print(json.dumps(out))
"#
    );
    let out = run_python(&s, &script).await;
    let v = json(&out);
    let (plain, tls) = (v["capa_plain"].to_string(), v["capa_tls"].to_string());
    assert!(plain.contains("\"STLS\""), "{out}");
    assert!(
        !plain.contains("\"USER\"") && !plain.contains("SASL"),
        "{out}"
    );
    assert!(text(&v["user_plain"]).starts_with("-ERR [AUTH]"), "{out}");
    assert!(text(&v["auth_plain"]).starts_with("-ERR [AUTH]"), "{out}");
    assert!(!tls.contains("STLS") && tls.contains("\"USER\""), "{out}");
    assert_eq!(v["stls_stat"][0], json!(2), "{out}");
    assert_eq!(v["pop3s_stat"][0], json!(2), "{out}");
    assert_eq!(v["pop3s_retr"], json!("Subject: pop-0"), "{out}");
    s.stop().await;
}

/// A second POP3 login gets `[IN-USE]`; an IMAP session with INBOX selected sees
/// EXPUNGE right after POP3's QUIT; an IMAP expunge during a POP3 session leaves the
/// POP3 numbering (and unique-ids) alone and the expunged message answers -ERR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_and_imap_see_each_other() {
    let (s, alice) = server("").await;
    deliver(&s, &alice, 0..4).await;
    let script = format!(
        "{PRELUDE}{}",
        r#"
out = {}
p = login()
q = poplib.POP3("127.0.0.1", P, timeout=10)
q.user(U)
try:
    q.pass_(W); out["second"] = "accepted"
except poplib.error_proto as e:
    out["second"] = e.args[0].decode()
q.quit()
m = imaplib.IMAP4("127.0.0.1", I); m.login(U, W); m.select("INBOX")
p.dele(1); out["quit"] = p.quit().decode()
m.noop()
out["imap_expunge"] = [x.decode() for x in m.untagged_responses.get("EXPUNGE", [])]
out["imap_exists"] = m.select("INBOX")[1][0].decode()
# Now IMAP expunges while POP3 is in a session.
p = login()
before = [l.decode() for l in p.uidl()[1]]
m.store("1", "+FLAGS", "\\Deleted"); m.expunge()
out["after_imap_list"] = [l.decode() for l in p.list()[1]]
after = [l.decode() for l in p.uidl()[1]]
out["uidl_same"] = before == after
try:
    p.retr(1); out["retr_gone"] = "accepted"
except poplib.error_proto as e:
    out["retr_gone"] = e.args[0].decode()
out["retr_2"] = p.retr(2)[1][2].decode()
p.dele(3); out["quit2"] = p.quit().decode()
m.noop(); m.logout()
print(json.dumps(out))
"#
    );
    let out = run_python(&s, &script).await;
    let v = json(&out);
    assert!(text(&v["second"]).starts_with("-ERR [IN-USE]"), "{out}");
    assert!(text(&v["quit"]).starts_with("+OK"), "{out}");
    assert_eq!(v["imap_expunge"], json!(["1"]), "{out}");
    assert_eq!(v["imap_exists"], json!("3"), "{out}");
    // Three messages, numbered 1 to 3 as at login, after IMAP expunged the first.
    let numbers: Vec<&str> = v["after_imap_list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|l| text(l).split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(numbers, ["1", "2", "3"], "{out}");
    assert_eq!(v["uidl_same"], json!(true), "{out}");
    let gone = text(&v["retr_gone"]);
    assert!(
        gone.starts_with("-ERR") && gone.contains("expunged"),
        "{out}"
    );
    assert_eq!(v["retr_2"], json!("Subject: pop-2"), "{out}");
    assert!(text(&v["quit2"]).contains("1 messages deleted"), "{out}");
    let left = s.mailbox_contents(USER, "INBOX").await;
    let subjects: Vec<String> = left
        .iter()
        .map(|m| {
            let t = String::from_utf8_lossy(&m.bytes).to_string();
            t.lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(subjects, ["Subject: pop-2"], "{out}");
    s.stop().await;
}

/// fetchmail (Debian): `--nokeep` downloads and deletes; `keep` with UIDL tracking in
/// an id file fetches only the new message on the second run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetchmail_downloads_deletes_and_tracks_uidl() {
    let fetchmail = require_client("fetchmail", "fetchmail");
    let (s, alice) = server("").await;
    let home = tempfile::tempdir().expect("tempdir");
    let mbox = home.path().join("mbox");
    let ids = home.path().join("ids");
    let rc = home.path().join("fetchmailrc");
    let write_rc = |keep: &str| {
        // Plaintext on loopback: `sslproto ''` keeps fetchmail from trying STLS against
        // the self-signed certificate.
        let text = format!(
            "set no syslog\npoll 127.0.0.1 protocol pop3 port {} uidl\n  user \"{USER}\" \
             password \"{PASSWORD}\" is \"{USER}\" here\n  {keep} sslproto '' \
             mda \"cat >> {}\"\n",
            s.addr("pop3").port(),
            mbox.display()
        );
        std::fs::write(&rc, text).expect("rc");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    };
    let run = |what: &'static str| {
        let mut cmd = tokio::process::Command::new(&fetchmail);
        cmd.arg("-f")
            .arg(&rc)
            .arg("--idfile")
            .arg(&ids)
            .arg("--pidfile")
            .arg(home.path().join("pid"))
            .env("HOME", home.path())
            .env("FETCHMAILHOME", home.path());
        async move {
            let out = run_client(&mut cmd, b"", LIMIT).await;
            // 0: mail fetched; 1: no mail.
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{what}: {}",
                output_text(&out)
            );
            output_text(&out)
        }
    };
    let count = |mbox: &std::path::Path| {
        std::fs::read_to_string(mbox)
            .unwrap_or_default()
            .matches("Subject: pop-")
            .count()
    };
    deliver(&s, &alice, 0..2).await;
    write_rc("nokeep");
    let log = run("nokeep").await;
    assert_eq!(count(&mbox), 2, "{log}");
    assert!(
        s.mailbox_contents(USER, "INBOX").await.is_empty(),
        "deleted: {log}"
    );
    deliver(&s, &alice, 2..4).await;
    write_rc("keep");
    let log = run("keep 1").await;
    assert_eq!(count(&mbox), 4, "{log}");
    assert_eq!(s.mailbox_contents(USER, "INBOX").await.len(), 2, "kept");
    deliver(&s, &alice, 4..5).await;
    let log = run("keep 2").await;
    assert_eq!(count(&mbox), 5, "only the new one: {log}");
    let text = std::fs::read_to_string(&mbox).expect("mbox");
    assert_eq!(text.matches("Subject: pop-4").count(), 1, "{log}");
    assert_eq!(s.mailbox_contents(USER, "INBOX").await.len(), 3, "kept");
    s.stop().await;
}

/// curl: `pop3://` LIST and RETR by URL (AUTH from CAPA's SASL), and `pop3s://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_lists_and_retrieves() {
    let curl = require_client("curl", "curl");
    let (s, alice) = server("").await;
    deliver(&s, &alice, 0..2).await;
    let stored = s.mailbox_contents(USER, "INBOX").await;
    let user = format!("{USER}:{PASSWORD}");
    let get = |url: String| {
        let mut cmd = tokio::process::Command::new(&curl);
        cmd.args(["-s", "-S", "-k", "--max-time", "20", "-u", &user, &url]);
        async move {
            let out = run_client(&mut cmd, b"", LIMIT).await;
            assert!(out.status.success(), "{url}: {}", output_text(&out));
            out.stdout
        }
    };
    let pop3 = s.addr("pop3").port();
    let pop3s = s.addr("pop3s").port();
    let list = get(format!("pop3://127.0.0.1:{pop3}/")).await;
    assert_eq!(
        String::from_utf8_lossy(&list),
        format!(
            "1 {}\r\n2 {}\r\n",
            stored[0].bytes.len(),
            stored[1].bytes.len()
        )
    );
    let one = get(format!("pop3://127.0.0.1:{pop3}/1")).await;
    assert_eq!(
        String::from_utf8_lossy(&one),
        String::from_utf8_lossy(&stored[0].bytes),
        "RETR by URL, unstuffed"
    );
    let two = get(format!("pop3s://127.0.0.1:{pop3s}/2")).await;
    assert_eq!(
        String::from_utf8_lossy(&two),
        String::from_utf8_lossy(&stored[1].bytes)
    );
    s.stop().await;
}

/// A raw POP3 connection: one command, one reply line.
struct Raw {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> (Raw, String) {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (r, w) = tcp.into_split();
        let mut raw = Raw {
            r: BufReader::new(r),
            w,
        };
        let greeting = raw.line().await;
        (raw, greeting)
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(LIMIT, self.r.read_line(&mut line))
            .await
            .expect("a reply in time")
            .expect("read");
        line
    }

    async fn send(&mut self, bytes: &[u8]) -> String {
        self.w.write_all(bytes).await.expect("write");
        self.line().await
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await
    }

    /// The lines of a multi-line reply after its status line, up to the ".".
    async fn rest(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.line().await;
            if l == ".\r\n" || l.is_empty() {
                return lines;
            }
            lines.push(l.trim_end().to_string());
        }
    }

    async fn login(addr: SocketAddr) -> Raw {
        let (mut raw, greeting) = Raw::connect(addr).await;
        assert!(greeting.starts_with("+OK"), "{greeting}");
        let r = raw.cmd(&format!("USER {USER}")).await;
        assert!(r.starts_with("+OK"), "{r}");
        let r = raw.cmd(&format!("PASS {PASSWORD}")).await;
        assert!(r.starts_with("+OK"), "{r}");
        raw
    }
}

/// Hostile input: a 10,000-byte line, unknown commands, commands in the wrong state,
/// PASS before USER all get -ERR and the session lives; pipelined commands are
/// answered in order; wrong passwords ban the address as on IMAP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_err_and_the_session_lives() {
    let (s, alice) = server("[auth]\nmax_failures = 3\n").await;
    deliver(&s, &alice, 0..2).await;
    let addr = s.addr("pop3");
    let (mut raw, _) = Raw::connect(addr).await;
    let long = format!("{}\r\n", "A".repeat(10_000));
    assert!(raw.send(long.as_bytes()).await.starts_with("-ERR"));
    assert!(raw.cmd("XYZZY").await.starts_with("-ERR"));
    assert!(raw.cmd("RETR 1").await.starts_with("-ERR"));
    assert!(raw.cmd("STAT").await.starts_with("-ERR"));
    assert!(raw.cmd("PASS secret").await.starts_with("-ERR"));
    assert!(
        raw.cmd("APOP alice c4c9334bac560ecc979e58001b3e22fb")
            .await
            .starts_with("-ERR")
    );
    assert!(raw.cmd("CAPA").await.starts_with("+OK"));
    assert!(raw.rest().await.contains(&"USER".to_string()));
    assert!(raw.cmd(&format!("USER {USER}")).await.starts_with("+OK"));
    assert!(
        raw.cmd(&format!("PASS {PASSWORD}"))
            .await
            .starts_with("+OK")
    );
    assert!(raw.send(long.as_bytes()).await.starts_with("-ERR"));
    assert!(raw.cmd("NOOP").await.starts_with("+OK"));
    assert!(raw.cmd("USER x").await.starts_with("-ERR"));
    assert!(raw.cmd("STLS").await.starts_with("-ERR"));
    assert!(raw.cmd("RETR 99").await.starts_with("-ERR"));
    assert!(raw.cmd("LIST 0").await.starts_with("-ERR"));
    assert!(raw.cmd("DELE 1").await.starts_with("+OK"));
    assert!(raw.cmd("DELE 1").await.starts_with("-ERR"));
    assert!(raw.cmd("RETR 1").await.starts_with("-ERR"));
    assert!(raw.cmd("RSET").await.starts_with("+OK"));
    // Pipelined (RFC 2449 PIPELINING): three commands in one write.
    assert!(
        raw.send(b"STAT\r\nUIDL 2\r\nNOOP\r\n")
            .await
            .starts_with("+OK 2 ")
    );
    assert!(raw.line().await.starts_with("+OK 2 "));
    assert!(raw.line().await.starts_with("+OK"));
    assert!(raw.cmd("QUIT").await.starts_with("+OK"));
    assert_eq!(
        s.mailbox_contents(USER, "INBOX").await.len(),
        2,
        "RSET kept"
    );

    // Wrong passwords: max_failures = 3 bans the address, even for the right one.
    let (mut raw, _) = Raw::connect(addr).await;
    for _ in 0..3 {
        assert!(raw.cmd(&format!("USER {USER}")).await.starts_with("+OK"));
        let r = raw.cmd("PASS wrong").await;
        assert!(r.starts_with("-ERR [AUTH]"), "{r}");
    }
    assert!(raw.cmd(&format!("USER {USER}")).await.starts_with("+OK"));
    let r = raw.cmd(&format!("PASS {PASSWORD}")).await;
    assert!(r.starts_with("-ERR [SYS/TEMP]"), "banned: {r}");
    let (_, greeting) = Raw::connect(addr).await;
    assert!(greeting.starts_with("-ERR [SYS/TEMP]"), "{greeting}");
    s.stop().await;
}

/// UIDL is the same after a restart of the server and a `mailyard reindex` (the
/// index rebuilt from the maildir) in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uidl_survives_restart_and_reindex() {
    let (mut s, alice) = server("").await;
    deliver(&s, &alice, 0..3).await;
    let uidl = |addr| async move {
        let mut raw = Raw::login(addr).await;
        assert!(raw.cmd("UIDL").await.starts_with("+OK"));
        let ids = raw.rest().await;
        assert!(raw.cmd("QUIT").await.starts_with("+OK"));
        ids
    };
    let before = uidl(s.addr("pop3")).await;
    assert_eq!(before.len(), 3);
    s.restart(|data| {
        // What `mailyard reindex` does, on a thread of its own (no runtime).
        let data = data.to_path_buf();
        std::thread::spawn(move || {
            let (store, _) = mailyard_store::Store::open(&data).expect("open");
            store.reconcile_all_blocking(true).expect("reindex");
        })
        .join()
        .expect("reindex thread");
    })
    .await;
    let after = uidl(s.addr("pop3")).await;
    assert_eq!(before, after);
    s.stop().await;
}

/// The JSON object a script printed last.
fn json(out: &str) -> Value {
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON in:\n{out}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// A message's lines without their CRLF, as poplib returns them (unstuffed).
fn lines(bytes: &[u8]) -> Value {
    let text = String::from_utf8_lossy(bytes);
    json!(
        text.trim_end_matches("\r\n")
            .split("\r\n")
            .collect::<Vec<_>>()
    )
}

/// The text of a JSON string value (panics on another kind).
fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}
