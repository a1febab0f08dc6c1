//! The HTTP listener end to end: the whole server on 127.0.0.1:0 (`http` and `https`),
//! asked the way clients ask. Thunderbird's autoconfig fetch (curl with the Host
//! header and `?emailaddress=` Thunderbird sends, the XML read with python3's
//! xml.etree), Outlook's Autodiscover POST, Apple's profile (python3's plistlib),
//! `/metrics` after real SMTP and IMAP traffic (python3's smtplib and imaplib), and
//! the hardening: a slowloris connection, an oversize header section, unknown paths
//! and methods.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mailyard_tests::{TestServer, python, require_client, run_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod relay_support;

const PASSWORD: &str = "correct horse battery";

/// Standard ports, as a production `[autoconfig]` would tell clients.
const AUTOCONFIG: &str =
    "[autoconfig]\nimaps = 993\nimap = 143\nsubmissions = 465\nsubmission = 587\n";

/// An HTTP answer as curl saw it.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// Runs curl with `args` (plus `-sS -i`) and splits its answer.
async fn curl(args: &[&str]) -> Answer {
    let bin = require_client("curl", "curl");
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["-sS", "-i", "--max-time", "20"]).args(args);
    let out = run_client(&mut cmd, b"", Duration::from_secs(30)).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        mailyard_tests::output_text(&out)
    );
    let (head, body) = text.split_once("\r\n\r\n").expect("a header section");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// A server with http on, users in two domains.
async fn server() -> TestServer {
    let s = TestServer::start_with_http(AUTOCONFIG).await;
    s.add_user("alice@example.com", PASSWORD).await;
    s.add_user("bob@example.org", PASSWORD).await;
    s
}

/// Checks a clientConfig 1.1 document element by element with python3's xml.etree:
/// the provider of `domain`, IMAP 993 SSL then 143 STARTTLS, SMTP 465 SSL then 587
/// STARTTLS, all on mail.example.com with `%EMAILADDRESS%` and password-cleartext.
async fn check_client_config(xml: &str, domain: &str) {
    let script = r#"
import os, xml.etree.ElementTree as ET
root = ET.fromstring(os.environ["XML"])
assert root.tag == "clientConfig" and root.get("version") == "1.1", root.attrib
providers = list(root)
assert [p.tag for p in providers] == ["emailProvider"], providers
p = providers[0]
domain = os.environ["DOMAIN"]
assert p.get("id") == domain, p.attrib
assert [d.text for d in p.findall("domain")] == [domain]
assert p.findtext("displayName") and p.findtext("displayShortName") == domain
def servers(tag):
    out = []
    for s in p.findall(tag):
        fields = {c.tag: c.text for c in s}
        assert set(fields) == {"hostname", "port", "socketType", "authentication", "username"}, fields
        out.append((s.get("type"), fields["hostname"], fields["port"], fields["socketType"],
                    fields["authentication"], fields["username"]))
    return out
host = "mail.example.com"
assert servers("incomingServer") == [
    ("imap", host, "993", "SSL", "password-cleartext", "%EMAILADDRESS%"),
    ("imap", host, "143", "STARTTLS", "password-cleartext", "%EMAILADDRESS%"),
], servers("incomingServer")
assert servers("outgoingServer") == [
    ("smtp", host, "465", "SSL", "password-cleartext", "%EMAILADDRESS%"),
    ("smtp", host, "587", "STARTTLS", "password-cleartext", "%EMAILADDRESS%"),
], servers("outgoingServer")
assert {c.tag for c in p} == {"domain", "displayName", "displayShortName", "incomingServer", "outgoingServer"}
print("ok")
"#;
    let (ok, out) = python(
        script,
        &[("XML", xml.to_string()), ("DOMAIN", domain.to_string())],
    )
    .await;
    assert!(ok, "clientConfig check failed: {out}\n{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoconfig_as_thunderbird_fetches_it() {
    let s = server().await;
    let http = s.addr("http");
    // Thunderbird's four URLs (FetchConfig._fetchConfigFromIsp), over http here:
    // autoconfig.<domain>/mail/… and <domain>/.well-known/…, with ?emailaddress=.
    for (host, path, domain) in [
        (
            "autoconfig.example.com",
            "/mail/config-v1.1.xml?emailaddress=alice%40example.com",
            "example.com",
        ),
        (
            "example.com",
            "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.com",
            "example.com",
        ),
        // The address decides, whatever the Host.
        (
            "autoconfig.example.com",
            "/mail/config-v1.1.xml?emailaddress=bob%40example.org",
            "example.org",
        ),
        // Without an address: the Host's domain, else the first local domain.
        (
            "autoconfig.example.org",
            "/mail/config-v1.1.xml",
            "example.org",
        ),
        (
            "example.org:8080",
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            "example.org",
        ),
        ("127.0.0.1", "/mail/config-v1.1.xml", "example.com"),
    ] {
        let a = curl(&[
            "-H",
            &format!("Host: {host}"),
            "-A",
            "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Thunderbird/153.7.0",
            "-H",
            "Accept: */*",
            &url(http, path),
        ])
        .await;
        assert_eq!(a.status, 200, "{host}{path}: {}", a.body);
        assert!(
            a.headers["content-type"].starts_with("application/xml"),
            "{:?}",
            a.headers
        );
        check_client_config(&a.body, domain).await;
    }
    // Not our domain, or not an address.
    let a = curl(&[&url(
        http,
        "/mail/config-v1.1.xml?emailaddress=eve%40elsewhere.test",
    )])
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = curl(&[&url(http, "/mail/config-v1.1.xml?emailaddress=nobody")]).await;
    assert_eq!(a.status, 400, "{}", a.body);
    // The same document over https, the certificate verified (the self-signed one
    // names the listener's address).
    let cert = s.dir.path().join("tls/cert.pem");
    let a = curl(&[
        "--cacert",
        cert.to_str().expect("utf-8 path"),
        &format!(
            "https://{}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.com",
            s.addr("https")
        ),
    ])
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    check_client_config(&a.body, "example.com").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoconfig_leaves_out_listeners_that_are_off() {
    let s = TestServer::start_with_http("[autoconfig]\nimap = 0\nsubmissions = 0\n").await;
    s.add_user("alice@example.com", PASSWORD).await;
    let a = curl(&[&url(s.addr("http"), "/mail/config-v1.1.xml")]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // The ports default to the listeners' real ones (bound on port 0 here).
    let imaps = format!("<port>{}</port>", s.addr("imaps").port());
    let submission = format!("<port>{}</port>", s.addr("submission").port());
    assert!(
        a.body.contains(&imaps) && a.body.contains(&submission),
        "{}",
        a.body
    );
    assert_eq!(a.body.matches("<incomingServer").count(), 1, "{}", a.body);
    assert_eq!(a.body.matches("<outgoingServer").count(), 1, "{}", a.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autodiscover_post() {
    let s = server().await;
    let http = s.addr("http");
    let endpoint = url(http, "/autodiscover/autodiscover.xml");
    let request = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
        <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\n\
        <Request><EMailAddress>alice@example.com</EMailAddress>\n\
        <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\n\
        </Request></Autodiscover>\n";
    let a = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: text/xml",
        "-H",
        "Host: autodiscover.example.com",
        "--data-binary",
        request,
        &endpoint,
    ])
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let script = r#"
import os, xml.etree.ElementTree as ET
ns = {"r": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
root = ET.fromstring(os.environ["XML"])
assert root.tag == "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}Autodiscover", root.tag
acct = root.find("r:Response/r:Account", ns)
assert acct.findtext("r:AccountType", namespaces=ns) == "email"
assert acct.findtext("r:Action", namespaces=ns) == "settings"
got = []
for p in acct.findall("r:Protocol", ns):
    f = lambda n: p.findtext("r:" + n, namespaces=ns)
    assert f("Server") == "mail.example.com" and f("LoginName") == "alice@example.com", f("LoginName")
    assert f("AuthRequired") == "on" and f("SPA") == "off"
    got.append((f("Type"), f("Port"), f("SSL"), f("Encryption")))
# Implicit TLS: SSL on and no Encryption; STARTTLS: SSL off + Encryption TLS.
assert got == [("IMAP", "993", "on", None), ("IMAP", "143", "off", "TLS"),
               ("SMTP", "465", "on", None), ("SMTP", "587", "off", "TLS")], got
print("ok")
"#;
    let (ok, out) = python(script, &[("XML", a.body.clone())]).await;
    assert!(ok, "{out}\n{}", a.body);
    // Bad XML, no address, a foreign domain, an oversize body, the wrong method.
    for (body, status) in [
        ("<Autodiscover><Request>", 400),
        ("<Autodiscover><Request/></Autodiscover>", 400),
        (
            "<Autodiscover><Request><EMailAddress>eve@elsewhere.test</EMailAddress></Request></Autodiscover>",
            404,
        ),
    ] {
        let a = curl(&["-X", "POST", "--data-binary", body, &endpoint]).await;
        assert_eq!(a.status, status, "{body}: {}", a.body);
    }
    let big = format!(
        "<Autodiscover><Request><EMailAddress>alice@example.com</EMailAddress>{}</Request></Autodiscover>",
        "<x/>".repeat(mailyard_http::autodiscover::MAX_REQUEST_BODY / 4)
    );
    let file = s.dir.path().join("big.xml");
    std::fs::write(&file, big).expect("write");
    let a = curl(&[
        "-X",
        "POST",
        "--data-binary",
        &format!("@{}", file.display()),
        &endpoint,
    ])
    .await;
    assert_eq!(a.status, 413, "{}", a.body);
    let a = curl(&[&endpoint]).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers.get("allow").map(String::as_str), Some("POST"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mobileconfig_is_a_valid_plist() {
    let s = server().await;
    let http = s.addr("http");
    let fetch = |who: &str| {
        let u = url(
            http,
            &format!("/apple/mail.mobileconfig?emailaddress={who}"),
        );
        async move { curl(&[&u]).await }
    };
    let a = fetch("alice%40example.com").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.headers["content-type"], "application/x-apple-aspen-config",
        "{:?}",
        a.headers
    );
    let again = fetch("alice%40example.com").await;
    let bob = fetch("bob%40example.org").await;
    let script = r#"
import os, plistlib
def load(name):
    return plistlib.loads(os.environ[name].encode())
p = load("A")
assert p["PayloadType"] == "Configuration" and p["PayloadVersion"] == 1
[mail] = p["PayloadContent"]
assert mail["PayloadType"] == "com.apple.mail.managed", mail
expect = {
    "EmailAccountType": "EmailTypeIMAP", "EmailAddress": "alice@example.com",
    "IncomingMailServerHostName": "mail.example.com", "IncomingMailServerPortNumber": 993,
    "IncomingMailServerUseSSL": True, "IncomingMailServerUsername": "alice@example.com",
    "IncomingMailServerAuthentication": "EmailAuthPassword",
    "OutgoingMailServerHostName": "mail.example.com", "OutgoingMailServerPortNumber": 465,
    "OutgoingMailServerUseSSL": True, "OutgoingMailServerUsername": "alice@example.com",
    "OutgoingMailServerAuthentication": "EmailAuthPassword",
    "OutgoingPasswordSameAsIncomingPassword": True,
}
for k, v in expect.items():
    assert mail[k] == v, (k, mail.get(k))
import uuid
for d in (p, mail):
    uuid.UUID(d["PayloadUUID"])
assert p["PayloadUUID"] != mail["PayloadUUID"]
again, bob = load("AGAIN"), load("BOB")
assert again["PayloadUUID"] == p["PayloadUUID"], "stable per address"
assert again["PayloadContent"][0]["PayloadUUID"] == mail["PayloadUUID"]
assert bob["PayloadUUID"] != p["PayloadUUID"], "differs per address"
assert bob["PayloadContent"][0]["EmailAddress"] == "bob@example.org"
print("ok")
"#;
    let (ok, out) = python(
        script,
        &[
            ("A", a.body.clone()),
            ("AGAIN", again.body),
            ("BOB", bob.body),
        ],
    )
    .await;
    assert!(ok, "{out}\n{}", a.body);
    assert_eq!(fetch("eve%40elsewhere.test").await.status, 404);
    assert_eq!(
        curl(&[&url(http, "/apple/mail.mobileconfig")]).await.status,
        400
    );
    s.stop().await;
}

/// One scrape of `/metrics`, checked line by line against the text exposition format
/// 0.0.4: `# HELP` and `# TYPE` before a family's samples, counters named `_total`,
/// histograms with cumulative `_bucket{le=…}` ending in `+Inf` equal to `_count`.
/// Returns each sample (name with labels) and its value.
async fn scrape(http: SocketAddr) -> BTreeMap<String, f64> {
    let a = curl(&[&url(http, "/metrics")]).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = std::collections::BTreeSet::new();
    let mut samples = BTreeMap::new();
    let mut buckets: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for line in a.body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "{line}");
            helped.insert(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(helped.contains(name), "HELP before TYPE: {line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter without _total: {line}");
            }
            assert!(
                types.insert(name.into(), kind.into()).is_none(),
                "twice: {line}"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("sample value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        let name = series.split('{').next().expect("name");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|b| types.get(*b).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before its TYPE: {line}");
        if let Some(labels) = series.strip_prefix(&format!("{family}_bucket{{")) {
            let labels = labels.strip_suffix('}').expect("closing brace");
            let (rest, le) = labels.rsplit_once("le=\"").expect("le label last");
            buckets
                .entry(format!("{family}{{{rest}"))
                .or_default()
                .push((le.trim_end_matches('"').to_string(), value));
        }
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "{line}"
        );
    }
    for (series, b) in &buckets {
        assert_eq!(b.last().map(|x| x.0.as_str()), Some("+Inf"), "{series}");
        assert!(
            b.windows(2).all(|w| w[0].1 <= w[1].1),
            "not cumulative: {series}"
        );
        let (family, labels) = series.split_once('{').expect("{");
        let labels = labels.trim_end_matches(',');
        let count = if labels.is_empty() {
            format!("{family}_count")
        } else {
            format!("{family}_count{{{labels}}}")
        };
        assert_eq!(samples.get(&count), b.last().map(|x| &x.1), "{count}");
    }
    samples
}

/// The increase of `series` between two scrapes.
fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_smtp_and_imap() {
    let s = server().await;
    let http = s.addr("http");
    let before = scrape(http).await;
    assert_eq!(
        before.get("mailyard_listener_up{listener=\"imap\"}"),
        Some(&1.0)
    );
    assert_eq!(before.get("mailyard_messages_stored"), Some(&0.0));
    let script = r#"
import os, smtplib, imaplib
smtp = smtplib.SMTP("127.0.0.1", int(os.environ["SMTP"]))
smtp.sendmail("sender@remote.test", ["alice@example.com"],
              "From: sender@remote.test\r\nTo: alice@example.com\r\nSubject: metrics\r\n\r\nhello\r\n")
smtp.quit()
imap = imaplib.IMAP4("127.0.0.1", int(os.environ["IMAP"]))
try:
    imap.login("alice@example.com", "wrong password")
    raise SystemExit("a wrong password logged in")
except imaplib.IMAP4.error:
    pass
imap.login("alice@example.com", os.environ["PASSWORD"])
imap.select("INBOX")
typ, data = imap.fetch("1", "(RFC822.SIZE)")
assert typ == "OK", data
imap.logout()
print("ok")
"#;
    let mut env = s.ports_env();
    env.push(("PASSWORD", PASSWORD.to_string()));
    let (ok, out) = python(script, &env).await;
    assert!(ok, "{out}");
    // Sessions are counted when their task ends, just after the client saw the end:
    // wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let after = scrape(http).await;
        let imap_closed = delta(
            &before,
            &after,
            "mailyard_sessions_total{protocol=\"imap\",outcome=\"closed\"}",
        );
        let smtp_closed = delta(
            &before,
            &after,
            "mailyard_sessions_total{protocol=\"smtp\",outcome=\"closed\"}",
        );
        if (imap_closed, smtp_closed) == (1.0, 1.0) || Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (series, want) in [
        ("mailyard_connections_total{listener=\"smtp\"}", 1.0),
        ("mailyard_connections_total{listener=\"imap\"}", 1.0),
        (
            "mailyard_sessions_total{protocol=\"smtp\",outcome=\"closed\"}",
            1.0,
        ),
        (
            "mailyard_sessions_total{protocol=\"imap\",outcome=\"closed\"}",
            1.0,
        ),
        ("mailyard_messages_received_total", 1.0),
        ("mailyard_messages_delivered_local_total", 1.0),
        ("mailyard_messages_queued_total", 0.0),
        ("mailyard_smtp_delivery_seconds_count", 1.0),
        ("mailyard_auth_failures_total", 1.0),
        ("mailyard_auth_bans_total", 0.0),
        // The wrong password and the first right one: both verified (not cached).
        ("mailyard_auth_password_verifications_total", 2.0),
        (
            "mailyard_imap_command_seconds_count{command=\"LOGIN\"}",
            2.0,
        ),
        (
            "mailyard_imap_command_seconds_count{command=\"SELECT\"}",
            1.0,
        ),
        (
            "mailyard_imap_command_seconds_count{command=\"FETCH\"}",
            1.0,
        ),
        (
            "mailyard_imap_command_seconds_count{command=\"LOGOUT\"}",
            1.0,
        ),
        ("mailyard_messages_stored", 1.0),
    ] {
        assert_eq!(delta(&before, &after, series), want, "{series}");
    }
    assert_eq!(
        after.get("mailyard_connections_open{listener=\"smtp\"}"),
        Some(&0.0)
    );
    assert!(delta(&before, &after, "mailyard_store_batch_size_count") >= 1.0);
    assert!(
        delta(
            &before,
            &after,
            "mailyard_http_responses_total{code=\"200\"}"
        ) >= 1.0
    );
    assert!(delta(&before, &after, "mailyard_smtp_delivery_seconds_sum") > 0.0);
    assert!(delta(&before, &after, "mailyard_maildir_bytes") > 60.0);
    assert!(after["mailyard_index_bytes"] > 0.0);
    assert_eq!(after.get("mailyard_queue_length"), Some(&0.0));
    assert_eq!(after.get("mailyard_store_up"), Some(&1.0));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_unknown_paths() {
    let s = server().await;
    let http = s.addr("http");
    let a = curl(&[&url(http, "/healthz")]).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok\n"));
    let a = curl(&[&url(http, "/nothing/here")]).await;
    assert_eq!(a.status, 404);
    let a = curl(&["-X", "DELETE", &url(http, "/metrics")]).await;
    assert_eq!(a.status, 405);
    assert_eq!(
        a.headers.get("allow").map(String::as_str),
        Some("GET, HEAD")
    );
    s.stop().await;
}

/// `/healthz` says 503 while a listener's accept loop is down (its `up` gauge, which
/// the accept loop holds at 1 for as long as it runs, is what it reads), naming it,
/// and 200 again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_names_a_listener_that_is_not_accepting() {
    let s = server().await;
    let http = s.addr("http");
    let imap = s.metrics().listeners.get("imap");
    imap.up.set(0);
    let a = curl(&[&url(http, "/healthz")]).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.body, "listener imap: not accepting\n");
    imap.up.set(1);
    let a = curl(&[&url(http, "/healthz")]).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok\n"));
    s.stop().await;
}

/// Reads until the server closes the connection or `limit` passes; returns what it
/// sent and whether it closed.
async fn read_to_close(conn: &mut tokio::net::TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_closed_by_the_deadline() {
    let s = server().await;
    let mut conn = tokio::net::TcpStream::connect(s.addr("http"))
        .await
        .expect("connect");
    let started = Instant::now();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: example.com\r\n")
        .await
        .expect("write");
    // One more header field a second, never the blank line that ends them.
    let timeout = mailyard_http::REQUEST_TIMEOUT;
    let closed = loop {
        let (_, closed) = read_to_close(&mut conn, Duration::from_secs(1)).await;
        if closed {
            break true;
        }
        if started.elapsed() > timeout + Duration::from_secs(10) {
            break false;
        }
        if conn.write_all(b"X-Slow: 1\r\n").await.is_err() {
            break true;
        }
    };
    let took = started.elapsed();
    assert!(closed, "still open after {took:?}");
    assert!(
        took >= timeout - Duration::from_secs(1) && took <= timeout + Duration::from_secs(5),
        "closed after {took:?}, the deadline is {timeout:?}"
    );
    // The server still answers others.
    assert_eq!(curl(&[&url(s.addr("http"), "/healthz")]).await.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_header_sections_get_431() {
    let s = server().await;
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: example.com\r\nX-Big: {}\r\n\r\n",
        "a".repeat(mailyard_http::MAX_HEADER_BYTES)
    );
    let many = format!(
        "GET /healthz HTTP/1.1\r\nHost: example.com\r\n{}\r\n",
        (0..=mailyard_http::MAX_HEADERS)
            .map(|i| format!("X-{i}: 1\r\n"))
            .collect::<String>()
    );
    for request in [big, many] {
        let mut conn = tokio::net::TcpStream::connect(s.addr("http"))
            .await
            .expect("connect");
        conn.write_all(request.as_bytes()).await.expect("write");
        let (got, closed) = read_to_close(&mut conn, Duration::from_secs(5)).await;
        let got = String::from_utf8_lossy(&got);
        assert!(
            got.starts_with("HTTP/1.1 431 "),
            "{:?}",
            &got[..got.len().min(200)]
        );
        assert!(closed, "the connection is closed after a 431");
    }
    s.stop().await;
}

/// The relay's counters move with what the relay does: one recipient taken by the
/// remote server (relayed), one refused with 550 and one with a null MX (bounced, and
/// the bounce is delivered locally), one whose MX does not answer (deferred).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_relayed_bounced_and_deferred() {
    use relay_support::{SinkConf, Zone, dns_server, send, sinks, wait_until};
    use std::net::Ipv4Addr;
    let (port, sinks) = sinks(vec![SinkConf {
        reject: vec!["nobody@a.test".into()],
        ..SinkConf::default()
    }])
    .await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2))
        .mx("null.test", 0, "")
        // Nothing listens on 127.0.0.9: a connection failure, retried later.
        .mx("down.test", 10, "mx.down.test")
        .a("mx.down.test", Ipv4Addr::new(127, 0, 0, 9));
    let dns = dns_server(zone).await;
    let s = TestServer::start_with_http(&format!(
        "[dns]\nnameservers = [\"{dns}\"]\n[relay]\nport = {port}\nretry_seconds = [600]\n"
    ))
    .await;
    let alice = "alice@example.com";
    s.add_user(alice, PASSWORD).await;
    let http = s.addr("http");
    let before = scrape(http).await;
    let (_, end) = send(
        s.addr("submission"),
        Some((alice, PASSWORD)),
        alice,
        &["ok@a.test", "nobody@a.test", "x@null.test", "y@down.test"],
        "From: alice@example.com\nSubject: counted\n\nhello\n",
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    wait_until("relayed to the sink", Duration::from_secs(20), || {
        !sinks[0].got().is_empty()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let after = scrape(http).await;
        let settled = delta(&before, &after, "mailyard_messages_relayed_total") == 1.0
            && delta(&before, &after, "mailyard_messages_bounced_total") == 2.0
            && delta(&before, &after, "mailyard_messages_deferred_total") == 1.0;
        if settled || Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (series, want) in [
        ("mailyard_messages_relayed_total", 1.0),
        ("mailyard_messages_bounced_total", 2.0),
        ("mailyard_messages_deferred_total", 1.0),
        ("mailyard_messages_queued_total", 1.0),
    ] {
        assert_eq!(delta(&before, &after, series), want, "{series}");
    }
    assert_eq!(sinks[0].got()[0].rcpts, ["ok@a.test"]);
    // The entry waits for its retry of y@down.test: the queue gauge says so.
    assert_eq!(after.get("mailyard_queue_length"), Some(&1.0));
    s.stop().await;
}
