//! SPF, DKIM and DMARC on the MX listener, end to end: the real SMTP listener on
//! 127.0.0.1 port 0 driven by Python's smtplib, a tiny DNS server on a UDP port of
//! 127.0.0.1 answering TXT queries from a table (`[dns] nameservers`), messages signed
//! with mail-auth's DKIM signer and a key generated per test, and the delivered file
//! read back from the store with its `Authentication-Results:` header compared exactly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mailyard_common::Config;
use mailyard_common::shutdown::Shutdown;
use mailyard_smtp::{Context, Role};
use mailyard_store::{Address, Store};
use tokio::net::{TcpListener, UdpSocket};

const HOST: &str = "mail.example.com";

// ---- A tiny DNS server (RFC 1035 §4.1): TXT answers from a table. ----

/// Serves `records` (lowercase name without the trailing dot → TXT strings) on a UDP
/// port of 127.0.0.1. A known name answers its TXT records (and NODATA for other
/// types); an unknown name answers NXDOMAIN. `silent`: read nothing, answer nothing
/// (a resolver that hangs).
async fn dns_server(records: HashMap<String, Vec<String>>, silent: bool) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let addr = socket.local_addr().expect("udp addr");
    tokio::spawn(async move {
        if silent {
            // Keep the socket open so queries are neither answered nor refused.
            std::future::pending::<()>().await;
        }
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            if let Some(reply) = dns_answer(&buf[..n], &records) {
                let _ = socket.send_to(&reply, peer).await;
            }
        }
    });
    addr
}

/// The response to one DNS query, or None for what is not a one-question query.
fn dns_answer(query: &[u8], records: &HashMap<String, Vec<String>>) -> Option<Vec<u8>> {
    const TXT: u16 = 16;
    if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    let question = query.get(12..i + 4)?;
    let name = labels.join(".");
    let (rcode, answers): (u16, &[String]) = match records.get(&name) {
        Some(txts) if qtype == TXT => (0, txts),
        Some(_) => (0, &[]),
        None => (3, &[]),
    };
    // QR, the query's opcode and RD, RA, the rcode.
    let flags = 0x8000 | (u16::from_be_bytes([query[2], query[3]]) & 0x7900) | 0x0080 | rcode;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[..2]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&u16::try_from(answers.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for txt in answers {
        // RFC 1035 §3.3.14: TXT-DATA is one or more <character-string>s of ≤ 255 octets.
        let mut rdata = Vec::new();
        for chunk in txt.as_bytes().chunks(255) {
            rdata.push(u8::try_from(chunk.len()).ok()?);
            rdata.extend_from_slice(chunk);
        }
        out.extend_from_slice(&[0xc0, 0x0c]); // the name: a pointer to the question
        out.extend_from_slice(&TXT.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // IN
        out.extend_from_slice(&60u32.to_be_bytes()); // TTL
        out.extend_from_slice(&u16::try_from(rdata.len()).ok()?.to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}

/// The DNS zone every test uses: SPF, DMARC and a DKIM key (`sel._domainkey.good.test`)
/// for the test domains (RFC 2606 `.test`).
fn zone(dkim_public_key: &[u8]) -> HashMap<String, Vec<String>> {
    let p = base64::engine::general_purpose::STANDARD.encode(dkim_public_key);
    [
        ("good.test", "v=spf1 ip4:127.0.0.1 -all"),
        ("_dmarc.good.test", "v=DMARC1; p=reject"),
        (
            "sel._domainkey.good.test",
            &format!("v=DKIM1; k=ed25519; p={p}"),
        ),
        ("fail.test", "v=spf1 ip4:192.0.2.1 -all"),
        ("soft.test", "v=spf1 ip4:192.0.2.1 ~all"),
        ("lax.test", "v=spf1 ip4:192.0.2.1 -all"),
        ("_dmarc.lax.test", "v=DMARC1; p=none"),
        ("quarantined.test", "v=spf1 ip4:192.0.2.1 -all"),
        ("_dmarc.quarantined.test", "v=DMARC1; p=quarantine"),
        ("helo.good.test", "v=spf1 ip4:127.0.0.1 -all"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
    .collect()
}

// ---- The server, the client, the store. ----

struct Server {
    _dir: tempfile::TempDir,
    store: Store,
    mx: SocketAddr,
    submission: SocketAddr,
    _shutdown: Shutdown,
}

async fn start(dns: SocketAddr, extra: &str) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "hostname = \"{HOST}\"\ndata_dir = {:?}\n[dns]\nnameservers = [\"{dns}\"]\n{extra}",
        dir.path().display().to_string()
    );
    let config = Arc::new(Config::parse(&text, "test").expect("config"));
    let (store, _) = Store::open(&config.data_dir).expect("store");
    let alice = Address::parse("alice@example.com").expect("address");
    store
        .accounts()
        .add_user(&alice, "alicepw")
        .expect("add user");
    store.setup_user_blocking(&alice).expect("setup");
    let (tls, _) = mailyard_common::tls::load(&config).expect("tls");
    let throttle = mailyard_common::throttle::AuthThrottle::from_config(&config);
    let ctx = Arc::new(Context::new(config.clone(), store.clone(), tls, throttle));
    let shutdown = Shutdown::new();
    let mut addrs = Vec::new();
    for role in [Role::Mx, Role::Submission] {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        addrs.push(l.local_addr().expect("addr"));
        tokio::spawn(mailyard_smtp::serve(l, role, ctx.clone(), shutdown.clone()));
    }
    Server {
        _dir: dir,
        store,
        mx: addrs[0],
        submission: addrs[1],
        _shutdown: shutdown,
    }
}

/// Sends `message` with Python's smtplib: EHLO `helo`, MAIL FROM `mail_from` ("" is
/// `<>`), RCPT alice@example.com, DATA; with `login`, AUTH first. Returns what smtplib
/// printed: `data <code> <text>` and `seconds <DATA duration>`.
async fn send(port: u16, helo: &str, mail_from: &str, message: &[u8], login: bool) -> String {
    let script = r#"
import base64, os, smtplib, time
s = smtplib.SMTP('127.0.0.1', int(os.environ['PORT']), timeout=30)
s.ehlo(os.environ['HELO'])
if os.environ['LOGIN'] == '1':
    s.login('alice@example.com', 'alicepw')
s.mail(os.environ['MAIL_FROM'])
s.rcpt('alice@example.com')
start = time.monotonic()
code, text = s.data(base64.b64decode(os.environ['MSG']))
print('data', code, text.decode())
print('seconds', time.monotonic() - start)
s.quit()
"#;
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PORT", port.to_string())
        .env("HELO", helo)
        .env("MAIL_FROM", mail_from)
        .env("LOGIN", if login { "1" } else { "0" })
        .env(
            "MSG",
            base64::engine::general_purpose::STANDARD.encode(message),
        )
        .output()
        .await
        .expect("python3 runs (apt-get install -y python3)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

/// Sends `message` from ceo@good.test (EHLO client.good.test) to the MX listener on
/// `port`; asserts it is accepted and returns how long DATA took, in seconds.
async fn accepted_in(port: u16, message: &str) -> f64 {
    let out = send(
        port,
        "client.good.test",
        "ceo@good.test",
        message.as_bytes(),
        false,
    )
    .await;
    assert!(out.contains("data 250 2.0.0"), "{out}");
    out.split("seconds ")
        .nth(1)
        .and_then(|t| t.trim().parse().ok())
        .expect("duration")
}

/// The messages in alice's `mailbox`, as stored.
fn stored(store: &Store, mailbox: &str) -> Vec<String> {
    let a = Address::parse("alice@example.com").expect("address");
    let mb = store
        .mailbox_blocking(&a, mailbox)
        .expect("query")
        .expect("mailbox");
    store
        .messages_blocking(mb.id)
        .expect("messages")
        .iter()
        .map(|m| {
            let path = store.message_path(&a, mailbox, m).expect("path");
            String::from_utf8(std::fs::read(path).expect("read")).expect("utf-8")
        })
        .collect()
}

/// The only message in alice's `mailbox`.
fn only(store: &Store, mailbox: &str) -> String {
    let all = stored(store, mailbox);
    assert_eq!(all.len(), 1, "{mailbox}: {all:?}");
    all.into_iter().next().unwrap_or_default()
}

/// Every `Authentication-Results:` field of a message (with its folded lines).
fn auth_results(message: &str) -> Vec<String> {
    let headers = message.split("\r\n\r\n").next().unwrap_or("");
    let mut fields: Vec<String> = Vec::new();
    for line in headers.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push_str("\r\n");
                last.push_str(line);
            }
        } else {
            fields.push(line.to_string());
        }
    }
    fields
        .into_iter()
        .filter(|f| {
            f.to_ascii_lowercase()
                .starts_with("authentication-results:")
        })
        .collect()
}

/// Our one `Authentication-Results:` field, checked against RFC 8601 §2.2's grammar:
/// `authserv-id *( ";" method "=" result [reason] *(ptype "." property "=" pvalue) )`,
/// comments aside.
fn our_results(message: &str) -> String {
    let all = auth_results(message);
    let ours: Vec<&String> = all
        .iter()
        .filter(|f| f.starts_with(&format!("Authentication-Results: {HOST};")))
        .collect();
    assert_eq!(ours.len(), 1, "exactly one field in our name: {all:?}");
    let field = ours[0].clone();
    assert_rfc8601(&field);
    assert!(
        message.starts_with("Return-Path: "),
        "Return-Path first: {message}"
    );
    let ar = message
        .find("Authentication-Results: ")
        .unwrap_or(usize::MAX);
    let received = message.find("Received: ").unwrap_or(0);
    assert!(ar < received, "prepended above Received: {message}");
    field
}

fn assert_rfc8601(field: &str) {
    let value = field
        .strip_prefix("Authentication-Results: ")
        .expect("name");
    // Comments out (none nest in ours), folding to spaces.
    let mut plain = String::new();
    let mut depth = 0;
    for c in value.replace("\r\n\t", " ").chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    assert_eq!(depth, 0, "balanced comments: {field}");
    let mut parts = plain.split(';');
    assert_eq!(
        parts.next().map(str::trim),
        Some(HOST),
        "authserv-id: {field}"
    );
    let results = [
        "pass",
        "fail",
        "softfail",
        "neutral",
        "none",
        "temperror",
        "permerror",
        "policy",
    ];
    for resinfo in parts {
        let mut words = resinfo.split_whitespace();
        let (method, result) = words
            .next()
            .and_then(|w| w.split_once('='))
            .unwrap_or_else(|| panic!("method=result in {resinfo:?}: {field}"));
        assert!(["spf", "dkim", "dmarc"].contains(&method), "{field}");
        assert!(results.contains(&result), "{result:?}: {field}");
        for prop in words {
            let (key, pvalue) = prop
                .split_once('=')
                .unwrap_or_else(|| panic!("propspec {prop:?}: {field}"));
            let (ptype, property) = key
                .split_once('.')
                .unwrap_or_else(|| panic!("ptype.property {key:?}: {field}"));
            assert!(["smtp", "header", "policy"].contains(&ptype), "{field}");
            assert!(
                !property.is_empty()
                    && property
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{field}"
            );
            assert!(!pvalue.is_empty(), "{prop:?}: {field}");
        }
    }
}

/// A message from `from`, signed by `good.test` (selector `sel`) with `key`; also
/// returns the `header.b` value (RFC 6008: the first 8 characters of `b=`).
fn signed(key: Ed25519Key, from: &str, subject: &str) -> (String, String) {
    let message = format!(
        "From: <{from}>\r\nTo: <alice@example.com>\r\nSubject: {subject}\r\n\
Message-ID: <{subject}@good.test>\r\n\r\nHello Alice.\r\n"
    );
    let signature = DkimSigner::from_key(key)
        .domain("good.test")
        .selector("sel")
        .headers(["From", "To", "Subject", "Message-ID"])
        .sign(message.as_bytes())
        .expect("sign");
    let header = signature.to_header();
    let b: String = header
        .replace("\r\n", "")
        .replace([' ', '\t'], "")
        .split(";b=")
        .nth(1)
        .expect("b= tag")
        .chars()
        .take(8)
        .collect();
    (format!("{header}{message}"), b)
}

fn plain(from: &str, subject: &str) -> String {
    format!("From: <{from}>\r\nTo: <alice@example.com>\r\nSubject: {subject}\r\n\r\nHi.\r\n")
}

fn new_key() -> (Ed25519Key, Vec<u8>) {
    let pkcs8 = Ed25519Key::generate_pkcs8().expect("generate");
    let key = Ed25519Key::from_pkcs8_der(&pkcs8).expect("key");
    let public = key.public_key();
    (key, public)
}

// ---- The cases. ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_dkim_dmarc_all_pass() {
    let (key, public) = new_key();
    let dns = dns_server(zone(&public), false).await;
    let s = start(dns, "").await;
    let (message, b) = signed(key, "ceo@good.test", "pass");
    accepted_in(s.mx.port(), &message).await;
    let m = only(&s.store, "INBOX");
    assert_eq!(
        our_results(&m),
        format!(
            "Authentication-Results: {HOST};\r\n\
\tspf=pass ({HOST}: domain of ceo@good.test designates 127.0.0.1 as permitted sender) smtp.mailfrom=ceo@good.test;\r\n\
\tdkim=pass header.d=good.test header.s=sel header.b={b};\r\n\
\tdmarc=pass header.from=good.test policy.dmarc=reject"
        )
    );
    assert!(
        m.ends_with(&message),
        "the message as sent, signature and all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_fail_softfail_none_and_helo_identity() {
    let (_, public) = new_key();
    let dns = dns_server(zone(&public), false).await;
    let s = start(dns, "").await;
    let cases = [
        (
            "client.fail.test",
            "x@fail.test",
            format!(
                "spf=fail ({HOST}: domain of x@fail.test does not designate 127.0.0.1 as permitted sender) smtp.mailfrom=x@fail.test"
            ),
            "fail.test",
        ),
        (
            "client.soft.test",
            "x@soft.test",
            format!(
                "spf=softfail ({HOST}: domain of x@soft.test reports soft fail for 127.0.0.1) smtp.mailfrom=x@soft.test"
            ),
            "soft.test",
        ),
        (
            "client.nothing.test",
            "x@nothing.test",
            format!(
                "spf=none ({HOST}: no SPF records found for x@nothing.test) smtp.mailfrom=x@nothing.test"
            ),
            "nothing.test",
        ),
        // RFC 7208 §2.4: a null MAIL FROM is checked as postmaster@HELO.
        (
            "helo.good.test",
            "",
            format!(
                "spf=pass ({HOST}: domain of postmaster@helo.good.test designates 127.0.0.1 as permitted sender) smtp.helo=helo.good.test"
            ),
            "nothing.test",
        ),
    ];
    for (i, (helo, mail_from, spf, from_domain)) in cases.iter().enumerate() {
        let subject = format!("case{i}");
        let message = plain(&format!("someone@{from_domain}"), &subject);
        let out = send(s.mx.port(), helo, mail_from, message.as_bytes(), false).await;
        assert!(out.contains("data 250 2.0.0"), "{helo}: {out}");
        let all = stored(&s.store, "INBOX");
        let m = all
            .iter()
            .find(|m| m.contains(&format!("Subject: {subject}\r\n")))
            .expect("delivered");
        assert_eq!(
            our_results(m),
            format!(
                "Authentication-Results: {HOST};\r\n\t{spf};\r\n\tdkim=none;\r\n\tdmarc=none header.from={from_domain}"
            ),
            "{helo} {mail_from}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkim_fails_when_the_body_is_tampered_with() {
    let (key, public) = new_key();
    let dns = dns_server(zone(&public), false).await;
    let s = start(dns, "").await;
    let (message, b) = signed(key, "ceo@good.test", "tampered");
    let message = message.replace("Hello Alice.", "Hello Alice, pay this invoice.");
    // SPF passes aligned, so DMARC passes even though the signature broke.
    accepted_in(s.mx.port(), &message).await;
    let m = only(&s.store, "INBOX");
    assert_eq!(
        our_results(&m),
        format!(
            "Authentication-Results: {HOST};\r\n\
\tspf=pass ({HOST}: domain of ceo@good.test designates 127.0.0.1 as permitted sender) smtp.mailfrom=ceo@good.test;\r\n\
\tdkim=fail (body hash did not verify) header.d=good.test header.s=sel header.b={b};\r\n\
\tdmarc=pass header.from=good.test policy.dmarc=reject"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_passes_on_aligned_dkim_alone() {
    let (key, public) = new_key();
    let dns = dns_server(zone(&public), false).await;
    let s = start(dns, "").await;
    // A forwarder: MAIL FROM is its own (SPF fails), the author's signature survives.
    let (message, b) = signed(key, "ceo@good.test", "forwarded");
    let out = send(
        s.mx.port(),
        "fwd.fail.test",
        "fwd@fail.test",
        message.as_bytes(),
        false,
    )
    .await;
    assert!(out.contains("data 250 2.0.0"), "{out}");
    let m = only(&s.store, "INBOX");
    assert_eq!(
        our_results(&m),
        format!(
            "Authentication-Results: {HOST};\r\n\
\tspf=fail ({HOST}: domain of fwd@fail.test does not designate 127.0.0.1 as permitted sender) smtp.mailfrom=fwd@fail.test;\r\n\
\tdkim=pass header.d=good.test header.s=sel header.b={b};\r\n\
\tdmarc=pass header.from=good.test policy.dmarc=reject"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_fail_under_p_none_is_delivered() {
    let (_, public) = new_key();
    let dns = dns_server(zone(&public), false).await;
    let s = start(dns, "").await;
    let message = plain("boss@lax.test", "lax");
    let out = send(
        s.mx.port(),
        "client.lax.test",
        "boss@lax.test",
        message.as_bytes(),
        false,
    )
    .await;
    assert!(out.contains("data 250 2.0.0"), "{out}");
    let m = only(&s.store, "INBOX");
    assert_eq!(
        our_results(&m),
        format!(
            "Authentication-Results: {HOST};\r\n\
\tspf=fail ({HOST}: domain of boss@lax.test does not designate 127.0.0.1 as permitted sender) smtp.mailfrom=boss@lax.test;\r\n\
\tdkim=none;\r\n\
\tdmarc=fail (policy not aligned) header.from=lax.test policy.dmarc=none"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_reject_enforced_refuses_with_550() {
    let (_, public) = new_key();
    let dns = dns_server(zone(&public), false).await;
    let s = start(dns, "").await;
    // Someone else's server claiming From: good.test, unsigned.
    let message = plain("ceo@good.test", "spoof");
    let out = send(
        s.mx.port(),
        "client.fail.test",
        "x@fail.test",
        message.as_bytes(),
        false,
    )
    .await;
    assert!(
        out.contains(
            "data 550 5.7.1 Rejected by the DMARC policy (p=reject) of good.test: no SPF or DKIM pass aligned with the From: domain (SPF fail; DKIM none)"
        ),
        "{out}"
    );
    assert!(stored(&s.store, "INBOX").is_empty());
    assert!(stored(&s.store, "Junk").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_reject_not_enforced_is_delivered_with_dmarc_fail() {
    let (_, public) = new_key();
    let dns = dns_server(zone(&public), false).await;
    let s = start(
        dns,
        "[auth_checks]\ndmarc_reject = false\ndmarc_quarantine = false\n",
    )
    .await;
    let message = plain("ceo@good.test", "spoof");
    let out = send(
        s.mx.port(),
        "client.fail.test",
        "x@fail.test",
        message.as_bytes(),
        false,
    )
    .await;
    assert!(out.contains("data 250 2.0.0"), "{out}");
    let m = only(&s.store, "INBOX");
    assert_eq!(
        our_results(&m),
        format!(
            "Authentication-Results: {HOST};\r\n\
\tspf=fail ({HOST}: domain of x@fail.test does not designate 127.0.0.1 as permitted sender) smtp.mailfrom=x@fail.test;\r\n\
\tdkim=none;\r\n\
\tdmarc=fail (policy not aligned) header.from=good.test policy.dmarc=reject"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_quarantine_goes_to_junk_and_so_does_unenforced_reject() {
    let (_, public) = new_key();
    let dns = dns_server(zone(&public), false).await;
    let s = start(dns, "").await;
    let message = plain("boss@quarantined.test", "quarantined");
    let out = send(
        s.mx.port(),
        "c.test",
        "boss@quarantined.test",
        message.as_bytes(),
        false,
    )
    .await;
    assert!(out.contains("data 250 2.0.0"), "{out}");
    assert!(stored(&s.store, "INBOX").is_empty(), "not in the INBOX");
    let m = only(&s.store, "Junk");
    assert!(
        our_results(&m).ends_with(
            "\tdmarc=fail (policy not aligned) header.from=quarantined.test policy.dmarc=quarantine"
        ),
        "{m}"
    );

    // dmarc_reject off: p=reject is treated as p=quarantine (RFC 7489 §6.7).
    let s = start(dns, "[auth_checks]\ndmarc_reject = false\n").await;
    let message = plain("ceo@good.test", "spoof");
    let out = send(
        s.mx.port(),
        "client.fail.test",
        "x@fail.test",
        message.as_bytes(),
        false,
    )
    .await;
    assert!(out.contains("data 250 2.0.0"), "{out}");
    assert!(stored(&s.store, "INBOX").is_empty());
    assert!(our_results(&only(&s.store, "Junk")).ends_with("policy.dmarc=reject"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_results_in_our_name_are_removed() {
    let (_, public) = new_key();
    let dns = dns_server(zone(&public), false).await;
    for extra in ["", "[auth_checks]\nenabled = false\n"] {
        let s = start(dns, extra).await;
        let message = format!(
            "Authentication-Results: {HOST};\r\n\tspf=pass smtp.mailfrom=ceo@good.test;\r\n\tdmarc=pass header.from=good.test\r\n\
Authentication-Results: (we never wrote this) \"MAIL.Example.COM\"; dkim=pass header.d=good.test\r\n\
Authentication-Results: relay.example.net; spf=pass smtp.mailfrom=x@fail.test\r\n\
{}",
            plain("x@fail.test", "forged")
        );
        let out = send(
            s.mx.port(),
            "client.fail.test",
            "x@fail.test",
            message.as_bytes(),
            false,
        )
        .await;
        assert!(out.contains("data 250 2.0.0"), "{extra}: {out}");
        let m = only(&s.store, "INBOX");
        let all = auth_results(&m);
        if extra.is_empty() {
            assert_eq!(all.len(), 2, "ours and the relay's: {all:?}");
            assert!(our_results(&m).contains("\tspf=fail "), "{m}");
        } else {
            assert_eq!(all.len(), 1, "checks off: only the relay's: {all:?}");
        }
        assert!(
            m.contains(
                "\r\nAuthentication-Results: relay.example.net; spf=pass smtp.mailfrom=x@fail.test\r\nFrom: <x@fail.test>\r\n"
            ),
            "another server's results are kept as they were: {m}"
        );
        assert!(
            !m.contains("we never wrote this") && !m.contains("dmarc=pass"),
            "{m}"
        );
    }
}

/// RFC 7208 §2.6.7 / §8.6 leave `temperror` to the receiver ("accept or temporarily
/// reject"), RFC 7489 §6.6.3 leaves DNS errors in policy discovery to its discretion.
/// We accept and record `temperror`: the budget is spent on *our* resolver, and a 451
/// would make every inbound message wait on it; nothing is rejected on a temperror.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolver_timeout_is_temperror_within_the_budget_and_accepted() {
    let (key, _) = new_key();
    let dns = dns_server(HashMap::new(), true).await;
    let s = start(dns, "[auth_checks]\ntimeout_seconds = 1\n").await;
    let (message, b) = signed(key, "ceo@good.test", "slow");
    let seconds = accepted_in(s.mx.port(), &message).await;
    assert!(
        (1.0..4.0).contains(&seconds),
        "DATA answered after the 1 s budget, not after the resolver's own timeouts: {seconds}"
    );
    let m = only(&s.store, "INBOX");
    assert_eq!(
        our_results(&m),
        format!(
            "Authentication-Results: {HOST};\r\n\
\tspf=temperror ({HOST}: temporary dns error validating ceo@good.test) smtp.mailfrom=ceo@good.test;\r\n\
\tdkim=temperror (dns error) header.d=good.test header.s=sel header.b={b};\r\n\
\tdmarc=temperror (dns error) header.from=good.test"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_is_not_checked() {
    let (_, public) = new_key();
    let dns = dns_server(zone(&public), false).await;
    let s = start(dns, "").await;
    let message = plain("alice@example.com", "sent by alice");
    let out = send(
        s.submission.port(),
        "laptop.example.com",
        "alice@example.com",
        message.as_bytes(),
        true,
    )
    .await;
    assert!(out.contains("data 250 2.0.0"), "{out}");
    let m = only(&s.store, "INBOX");
    assert!(auth_results(&m).is_empty(), "{m}");
    assert!(
        m.contains("(Authenticated sender: alice@example.com)"),
        "{m}"
    );
}

#[test]
fn dns_server_answers_the_table() {
    // The test's own DNS server, checked with a hand-built query (RFC 1035 §4.1.1).
    let mut zone = HashMap::new();
    zone.insert("a.test".to_string(), vec!["x".repeat(300)]);
    let mut q = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x01A\x04test\x00\x00\x10\x00\x01");
    let r = dns_answer(&q, &zone).expect("answer");
    assert_eq!(&r[..4], &[0xab, 0xcd, 0x81, 0x80], "id, QR RD RA, NOERROR");
    assert_eq!(&r[6..8], &[0, 1], "one answer");
    // 300 octets of TXT: two character-strings, 255 + 45.
    assert_eq!(r.len(), q.len() + 12 + 2 + 300);
    let at = q.len() - 11;
    q[at] = b'B';
    let r = dns_answer(&q, &zone).expect("answer");
    assert_eq!(r[3] & 0x0f, 3, "NXDOMAIN");
    assert_eq!(&r[6..8], &[0, 0], "no answer");
}

/// Issue 9 item 11: a `[dns] nameservers` entry that refuses (a closed UDP and TCP port
/// of 127.0.0.1, so the kernel answers ICMP port unreachable / RST) must not make every
/// message wait the whole 10 s budget: the checks notice the dead resolver at once and
/// remember it briefly, the results stay `temperror` and the mail is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_resolver_fails_fast_for_every_message() {
    let dead = {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        udp.local_addr().expect("udp addr")
        // Dropped here: the port is closed again.
    };
    let s = start(dead, "").await;
    let (key, _) = new_key();
    let (message, _) = signed(key, "ceo@good.test", "no dns");
    for i in 0..15 {
        let seconds = accepted_in(s.mx.port(), &message).await;
        assert!(
            seconds < 2.5,
            "message {i}: DATA took {seconds} s with a refusing resolver (budget 10 s)"
        );
    }
    let all = stored(&s.store, "INBOX");
    assert_eq!(all.len(), 15);
    for m in &all {
        let ours = our_results(m);
        assert!(
            ours.contains("spf=temperror") && ours.contains("dmarc=temperror"),
            "{ours}"
        );
    }
}
