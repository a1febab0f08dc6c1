//! The outbound relay end to end on loopback: the real server (submission and MX
//! listeners, queue, scheduler) with `[dns] nameservers` pointing at a DNS server in
//! the test, whose MX and A records lead to SMTP sinks on 127.0.0.2, 127.0.0.3 …

mod relay_support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use mail_parser::MimeHeaders;
use mailyard_tests::TestServer;
use relay_support::{Got, Sink, SinkConf, Zone, dns_server, send, sinks, wait_until};

const ALICE: &str = "alice@example.com";
const PW: &str = "alice password";

/// The server with a DNS server for `zone`, sinks on `port`, a retry schedule of
/// `retry` seconds, and alice as a user.
async fn server(zone: Zone, port: u16, retry: u64, extra: &str) -> TestServer {
    let dns = dns_server(zone).await;
    let s = TestServer::start(&format!(
        "[dns]\nnameservers = [\"{dns}\"]\n[relay]\nport = {port}\nretry_seconds = [{retry}]\n\
         retry_every_seconds = {retry}\n{extra}"
    ))
    .await;
    s.add_user(ALICE, PW).await;
    s
}

fn message(subject: &str) -> String {
    format!(
        "From: Alice <{ALICE}>\nTo: someone\nSubject: {subject}\nMessage-ID: <{subject}@example.com>\n\nhello {subject}\n"
    )
}

/// Alice submits `m` to `rcpt`; once `sink` has a message, returns the first it got.
async fn submit_and_relay(s: &TestServer, sink: &Sink, rcpt: &str, m: &str) -> Got {
    let (_, end) = send(s.addr("submission"), Some((ALICE, PW)), ALICE, &[rcpt], m).await;
    assert!(end.starts_with("250"), "{end}");
    wait_until("relayed", Duration::from_secs(20), || {
        !sink.got().is_empty()
    })
    .await;
    sink.got().swap_remove(0)
}

async fn queue_empty(s: &TestServer, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let store = s.store().clone();
        let left = tokio::task::spawn_blocking(move || store.queue_list().expect("list"))
            .await
            .expect("join");
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "queue not empty after {limit:?}: {left:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn several_domains_one_connection_per_host_and_local_copy() {
    let (port, sinks) = sinks(vec![SinkConf::default(), SinkConf::default()]).await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .mx("b.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2))
        // No MX: the A record of the domain itself (RFC 5321 §5.1).
        .a("c.test", Ipv4Addr::new(127, 0, 0, 3));
    let s = server(zone, port, 60, "").await;
    s.add_user("bob@example.com", "bob password").await;
    let (rr, end) = send(
        s.addr("submission"),
        Some((ALICE, PW)),
        ALICE,
        &[
            "x@a.test",
            "y@a.test",
            "z@b.test",
            "w@c.test",
            "bob@example.com",
        ],
        &message("several"),
    )
    .await;
    assert!(rr.iter().all(|r| r.starts_with("250")), "{rr:?}");
    assert!(end.starts_with("250"), "{end}");
    // The local copy is there as soon as the 250 is.
    assert_eq!(
        s.mailbox_contents("bob@example.com", "INBOX").await.len(),
        1
    );

    wait_until(
        "both hosts got the message",
        Duration::from_secs(20),
        || !sinks[0].got().is_empty() && !sinks[1].got().is_empty(),
    )
    .await;
    queue_empty(&s, Duration::from_secs(10)).await;
    let a = sinks[0].got();
    assert_eq!(a.len(), 1, "one transaction for the shared MX host");
    assert_eq!(
        sinks[0].connections(),
        1,
        "one connection for the shared MX host"
    );
    let mut rcpts = a[0].rcpts.clone();
    rcpts.sort();
    assert_eq!(rcpts, ["x@a.test", "y@a.test", "z@b.test"]);
    assert_eq!(a[0].from, ALICE);
    assert!(!a[0].tls, "this peer offers no STARTTLS");
    let text = String::from_utf8_lossy(&a[0].data);
    assert!(text.contains("Subject: several"), "{text}");
    assert!(
        text.starts_with("Received: "),
        "our trace header first: {text}"
    );
    assert!(!text.contains("Return-Path:"), "Return-Path is not relayed");
    let c = sinks[1].got();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].rcpts, ["w@c.test"]);
    s.stop().await;
}

#[tokio::test]
async fn temporary_failure_is_retried_at_its_time_and_starttls_is_used() {
    let (port, sinks) = sinks(vec![SinkConf {
        temp_fail_first: 1,
        tls: Some(relay_support::tls_config("mx.tls.test")),
        ..SinkConf::default()
    }])
    .await;
    let zone = Zone::default()
        .mx("tls.test", 5, "mx.tls.test")
        .a("mx.tls.test", Ipv4Addr::new(127, 0, 0, 2));
    let s = server(zone, port, 3, "").await;
    let (_, end) = send(
        s.addr("submission"),
        Some((ALICE, PW)),
        ALICE,
        &["r@tls.test"],
        &message("retry"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    wait_until("delivered on the retry", Duration::from_secs(30), || {
        !sinks[0].got().is_empty()
    })
    .await;
    queue_empty(&s, Duration::from_secs(10)).await;
    let times = sinks[0].state.attempt_times.lock().expect("lock").clone();
    assert_eq!(times.len(), 2, "one failure, one success");
    let gap = times[1] - times[0];
    assert!(
        gap >= Duration::from_millis(2500),
        "retried after {gap:?}, before its time (3 s)"
    );
    let got = sinks[0].got();
    assert_eq!(got.len(), 1, "delivered once");
    assert!(
        got[0].tls,
        "STARTTLS used though the certificate does not verify"
    );
    s.stop().await;
}

#[tokio::test]
async fn permanent_failures_bounce_to_the_sender_as_multipart_report() {
    let (port, sinks) = sinks(vec![SinkConf {
        reject: vec!["nobody@a.test".into()],
        ..SinkConf::default()
    }])
    .await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2))
        // RFC 7505 null MX.
        .mx("null.test", 0, "");
    let s = server(zone, port, 60, "").await;
    let started = Instant::now();
    let (_, end) = send(
        s.addr("submission"),
        Some((ALICE, PW)),
        ALICE,
        &["nobody@a.test", "x@null.test", "ok@a.test"],
        &message("bounce"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    let inbox = s.wait_for_messages(ALICE, "INBOX", 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "bounced at once, not after retries"
    );
    queue_empty(&s, Duration::from_secs(10)).await;
    assert_eq!(sinks[0].got().len(), 1);
    assert_eq!(sinks[0].got()[0].rcpts, ["ok@a.test"]);

    let dsn = &inbox[0].bytes;
    let text = String::from_utf8_lossy(dsn);
    assert!(text.starts_with("Return-Path: <>\r\n"), "{text}");
    let parsed = mail_parser::MessageParser::default()
        .parse(dsn)
        .expect("DSN parses");
    let ct = parsed.content_type().expect("content type");
    assert_eq!(ct.ctype(), "multipart");
    assert_eq!(ct.subtype(), Some("report"));
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
    assert_eq!(
        parsed.parts.len(),
        4,
        "root + text + delivery-status + message"
    );
    assert!(
        text.contains("Final-Recipient: rfc822; nobody@a.test\r\n"),
        "{text}"
    );
    assert!(text.contains("Status: 5.1.1\r\n"), "{text}");
    assert!(
        text.contains("Final-Recipient: rfc822; x@null.test\r\n"),
        "{text}"
    );
    assert!(text.contains("Status: 5.1.10\r\n"), "{text}");
    assert!(
        !text.contains("Final-Recipient: rfc822; ok@a.test"),
        "{text}"
    );
    assert!(
        text.contains("Subject: bounce"),
        "the original is returned: {text}"
    );
    s.stop().await;
}

#[tokio::test]
async fn dropped_mid_data_is_retried_and_delivered_once() {
    let (port, sinks) = sinks(vec![SinkConf {
        drop_first: 1,
        ..SinkConf::default()
    }])
    .await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2));
    let s = server(zone, port, 1, "").await;
    let (_, end) = send(
        s.addr("submission"),
        Some((ALICE, PW)),
        ALICE,
        &["x@a.test"],
        &message("dropped"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    wait_until("delivered after the drop", Duration::from_secs(20), || {
        !sinks[0].got().is_empty()
    })
    .await;
    queue_empty(&s, Duration::from_secs(10)).await;
    assert_eq!(sinks[0].got().len(), 1);
    assert_eq!(sinks[0].connections(), 2);
    assert!(
        s.mailbox_contents(ALICE, "INBOX").await.is_empty(),
        "no bounce for a temporary failure"
    );
    s.stop().await;
}

#[tokio::test]
async fn port_25_refuses_relaying_and_aliases_pointing_outside_are_queued() {
    let (port, sinks) = sinks(vec![SinkConf::default()]).await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2));
    let s = server(zone, port, 60, "").await;
    let store = s.store().clone();
    tokio::task::spawn_blocking(move || {
        let a = |x: &str| mailyard_store::Address::parse(x).expect("address");
        store
            .accounts()
            .add_alias(&a("fwd@example.com"), &[a("out@a.test"), a(ALICE)])
            .expect("alias");
    })
    .await
    .expect("join");
    // An outside sender to an outside recipient on the MX listener: refused.
    let (rr, _) = send(
        s.addr("smtp"),
        None,
        "someone@elsewhere.test",
        &["victim@a.test"],
        &message("relay"),
    )
    .await;
    assert!(rr[0].starts_with("554 5.7.1"), "{rr:?}");
    // To the alias: a local copy for alice, a queued one for the outside target.
    let (rr, end) = send(
        s.addr("smtp"),
        None,
        "someone@elsewhere.test",
        &["fwd@example.com"],
        &message("forwarded"),
    )
    .await;
    assert!(rr[0].starts_with("250"), "{rr:?}");
    assert!(end.starts_with("250"), "{end}");
    assert_eq!(s.mailbox_contents(ALICE, "INBOX").await.len(), 1);
    wait_until("forwarded outside", Duration::from_secs(20), || {
        !sinks[0].got().is_empty()
    })
    .await;
    let got = sinks[0].got();
    assert_eq!(got[0].rcpts, ["out@a.test"]);
    assert_eq!(got[0].from, "someone@elsewhere.test");
    queue_empty(&s, Duration::from_secs(10)).await;
    s.stop().await;
}

#[tokio::test]
async fn mail_loops_are_refused() {
    let (port, _sinks) = sinks(vec![SinkConf::default()]).await;
    let zone = Zone::default().mx("a.test", 10, "mx.a.test");
    let s = server(zone, port, 60, "").await;
    let mut m = String::new();
    for i in 0..mailyard_smtp::queue::MAX_RECEIVED {
        m.push_str(&format!(
            "Received: from hop{i}.test by hop{i}.test; Thu, 1 Jan 2026 00:00:00 +0000\n"
        ));
    }
    m.push_str(&message("loop"));
    let (_, end) = send(
        s.addr("submission"),
        Some((ALICE, PW)),
        ALICE,
        &["x@a.test"],
        &m,
    )
    .await;
    assert!(end.starts_with("554 5.4.6"), "{end}");
    s.stop().await;
}

#[tokio::test]
async fn smarthost_with_auth_over_starttls() {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode("\0relayuser\0relaypass");
    let (port, sinks) = sinks(vec![SinkConf {
        tls: Some(relay_support::tls_config("smarthost.test")),
        auth_token: Some(token),
        ..SinkConf::default()
    }])
    .await;
    // No DNS needed: the smarthost is an address; the zone is empty.
    let extra = format!(
        "smarthost = \"127.0.0.2:{port}\"\nusername = \"relayuser\"\npassword = \"relaypass\"\n\
         tls = \"starttls\"\ntls_verify = false\n"
    );
    let s = server(Zone::default(), port, 60, &extra).await;
    let (_, end) = send(
        s.addr("submission"),
        Some((ALICE, PW)),
        ALICE,
        &["x@anywhere.test", "y@elsewhere.test"],
        &message("smarthost"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    wait_until("the smarthost got it", Duration::from_secs(20), || {
        !sinks[0].got().is_empty()
    })
    .await;
    queue_empty(&s, Duration::from_secs(10)).await;
    let got = sinks[0].got();
    assert_eq!(got.len(), 1, "one transaction for every recipient");
    assert_eq!(got[0].rcpts, ["x@anywhere.test", "y@elsewhere.test"]);
    assert!(got[0].tls && got[0].authed);
    s.stop().await;
}

#[tokio::test]
async fn delay_notice_then_bounce_when_the_retry_window_ends() {
    let (port, sinks) = sinks(vec![SinkConf {
        temp_fail_first: usize::MAX / 2,
        ..SinkConf::default()
    }])
    .await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2));
    let s = server(
        zone,
        port,
        1,
        "delay_notice_seconds = 1\ngive_up_seconds = 4\n",
    )
    .await;
    let (_, end) = send(
        s.addr("submission"),
        Some((ALICE, PW)),
        ALICE,
        &["x@a.test"],
        &message("late"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    let inbox = s.wait_for_messages(ALICE, "INBOX", 1).await;
    let delay = String::from_utf8_lossy(&inbox[0].bytes).into_owned();
    assert!(delay.contains("Action: delayed\r\n"), "{delay}");
    assert!(delay.contains("Status: 4.3.0\r\n"), "{delay}");
    assert!(delay.contains("Will-Retry-Until: "), "{delay}");
    assert!(
        delay.contains("Content-Type: text/rfc822-headers"),
        "{delay}"
    );
    queue_empty(&s, Duration::from_secs(20)).await;
    let inbox = s.wait_for_messages(ALICE, "INBOX", 2).await;
    assert_eq!(inbox.len(), 2, "one delay notice, one bounce");
    let bounce = String::from_utf8_lossy(&inbox[1].bytes).into_owned();
    assert!(bounce.contains("Action: failed\r\n"), "{bounce}");
    assert!(bounce.contains("Status: 5.4.7\r\n"), "{bounce}");
    assert!(
        bounce.contains("451 4.3.0 try again later"),
        "last problem: {bounce}"
    );
    assert!(sinks[0].got().is_empty());
    s.stop().await;
}

#[tokio::test]
async fn per_account_send_limits() {
    let (port, sinks) = sinks(vec![SinkConf::default()]).await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2));
    let s = server(
        zone,
        port,
        60,
        "max_messages_per_day = 3\nmax_new_recipients_per_day = 3\n",
    )
    .await;
    let sub = s.addr("submission");
    let go = |rcpts: &'static [&'static str], subject: &'static str| async move {
        send(sub, Some((ALICE, PW)), ALICE, rcpts, &message(subject))
            .await
            .1
    };
    assert!(
        go(&["p@a.test", "q@a.test"], "one")
            .await
            .starts_with("250")
    );
    // The same two again are not new.
    assert!(
        go(&["p@a.test", "q@a.test"], "two")
            .await
            .starts_with("250")
    );
    // Two more would make four first-time recipients today.
    let r = go(&["r@a.test", "t@a.test"], "three").await;
    assert!(r.starts_with("451 4.7.1"), "{r}");
    assert!(go(&["r@a.test"], "three").await.starts_with("250"));
    // The fourth message of the day is one too many.
    let r = go(&["p@a.test"], "four").await;
    assert!(r.starts_with("451 4.7.1"), "{r}");
    // Each refusal is counted, by the limit it hit (what metrics will read).
    let counters = s.relay().counters();
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(counters.refused_new_recipients_per_day.load(Relaxed), 1);
    assert_eq!(counters.refused_messages_per_day.load(Relaxed), 1);
    wait_until("three messages out", Duration::from_secs(20), || {
        sinks[0].got().len() == 3
    })
    .await;
    s.stop().await;
}

/// DKIM keys for example.com (rsa-sha256 selector r1, ed25519-sha256 selector e1),
/// made in a directory of their own; their TXT records are added to `zone`.
struct DkimKeys {
    dir: tempfile::TempDir,
    rsa: String,
    ed: String,
}

impl DkimKeys {
    fn new(zone: Zone) -> (DkimKeys, Zone) {
        use mailyard_smtp::queue::dkim::{Algorithm, generate};
        let dir = tempfile::tempdir().expect("tempdir");
        let txt = |record: String| {
            record
                .split_once('"')
                .map(|(_, r)| r.trim_end_matches('"').to_string())
                .expect("TXT text")
        };
        let (_, rsa) = generate(dir.path(), "example.com", "r1", Algorithm::Rsa).expect("rsa key");
        let (_, ed) =
            generate(dir.path(), "example.com", "e1", Algorithm::Ed25519).expect("ed key");
        let (rsa, ed) = (txt(rsa), txt(ed));
        let zone = zone
            .txt("r1._domainkey.example.com", &rsa)
            .txt("e1._domainkey.example.com", &ed);
        (DkimKeys { dir, rsa, ed }, zone)
    }

    /// Moves the keys into the server's data dir (read at each signing).
    fn install(&self, s: &TestServer) {
        std::fs::rename(self.dir.path().join("dkim"), s.dir.path().join("dkim"))
            .expect("move keys into the data dir");
    }
}

/// Asserts that `data` has two DKIM signatures (RSA and ed25519) and that mail-auth's
/// verifier passes both, with the keys from the DNS server at `dns`.
async fn assert_dkim_passes(dns: std::net::SocketAddr, data: &[u8]) {
    use mail_auth::hickory_resolver::config::{
        ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
    };
    use mail_auth::{AuthenticatedMessage, MessageAuthenticator};
    let mut udp = ConnectionConfig::udp();
    udp.port = dns.port();
    let config =
        ResolverConfig::from_name_servers(vec![NameServerConfig::new(dns.ip(), true, vec![udp])]);
    let verifier = MessageAuthenticator::new(config, ResolverOpts::default()).expect("resolver");
    let parsed = AuthenticatedMessage::parse(data).expect("parses");
    let results: Vec<_> = verifier
        .verify_dkim(&parsed)
        .await
        .iter()
        .map(|r| r.result().clone())
        .collect();
    let pass = mail_auth::DkimResult::Pass;
    assert_eq!(
        results,
        [pass.clone(), pass],
        "{}",
        String::from_utf8_lossy(data)
    );
}

#[tokio::test]
async fn outgoing_mail_is_dkim_signed_and_verifies() {
    let (port, sinks) = sinks(vec![SinkConf::default()]).await;
    // The keys first (into a data dir made for them), then the zone with their records.
    let (keys, zone) = DkimKeys::new(
        Zone::default()
            .mx("a.test", 10, "mx.a.test")
            .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2)),
    );
    let dns = dns_server(zone.clone()).await;
    let s = server(zone, port, 60, "").await;
    keys.install(&s);

    // No Date: or Message-ID: — the server adds them, and they are signed too.
    let m = format!("From: Alice <{ALICE}>\nTo: x@a.test\nSubject: signed\n\nsigned body\n.dot\n");
    let data = submit_and_relay(&s, &sinks[0], "x@a.test", &m).await.data;
    let text = String::from_utf8_lossy(&data).into_owned();
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");
    assert!(
        text.contains("a=rsa-sha256") && text.contains("a=ed25519-sha256"),
        "{text}"
    );

    // An independent verifier (mail-auth's) with the published keys.
    assert_dkim_passes(dns, &data).await;

    // And a second, independent implementation: dkimpy (Debian python3-dkim).
    let script = r#"
import os, sys, dkim
msg = open(os.environ['MSG'], 'rb').read()
records = {os.environ['N1'].encode(): os.environ['T1'].encode(),
           os.environ['N2'].encode(): os.environ['T2'].encode()}
def dns(name, timeout=5):
    return records.get(name.rstrip(b'.'))
d = dkim.DKIM(msg)
n = sum(1 for h in d.headers if h[0].lower() == b'dkim-signature')
ok = [d.verify(idx=i, dnsfunc=dns) for i in range(n)]
print('results', ok)
sys.exit(0 if n == 2 and all(ok) else 1)
"#;
    let msg_path = s.dir.path().join("relayed.eml");
    std::fs::write(&msg_path, &data).expect("write message");
    let env = [
        ("MSG", msg_path.display().to_string()),
        ("N1", "r1._domainkey.example.com".to_string()),
        ("T1", keys.rsa.clone()),
        ("N2", "e1._domainkey.example.com".to_string()),
        ("T2", keys.ed.clone()),
    ];
    let (ok, out) = dkimpy(script, &env).await;
    assert!(ok, "dkimpy does not verify the signatures: {out}\n{text}");
    s.stop().await;
}

#[tokio::test]
async fn bounces_to_other_servers_are_dkim_signed_for_the_host_domain() {
    let (port, sinks) = sinks(vec![SinkConf {
        reject: vec!["out@a.test".into()],
        ..SinkConf::default()
    }])
    .await;
    let (keys, zone) = DkimKeys::new(
        Zone::default()
            .mx("a.test", 10, "mx.a.test")
            .mx("elsewhere.test", 10, "mx.a.test")
            .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2)),
    );
    let dns = dns_server(zone.clone()).await;
    let s = server(zone, port, 60, "").await;
    keys.install(&s);
    let store = s.store().clone();
    tokio::task::spawn_blocking(move || {
        let a = |x: &str| mailyard_store::Address::parse(x).expect("address");
        store
            .accounts()
            .add_alias(&a("fwd@example.com"), &[a("out@a.test")])
            .expect("alias");
    })
    .await
    .expect("join");
    // Forwarded outside, refused there: the bounce goes to the outside sender.
    let (_, end) = send(
        s.addr("smtp"),
        None,
        "someone@elsewhere.test",
        &["fwd@example.com"],
        &message("refused"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    wait_until("the bounce went out", Duration::from_secs(20), || {
        sinks[0].got().iter().any(|g| g.from.is_empty())
    })
    .await;
    let got = sinks[0].got();
    let dsn = got.iter().find(|g| g.from.is_empty()).expect("the DSN");
    assert_eq!(dsn.rcpts, ["someone@elsewhere.test"]);
    let text = String::from_utf8_lossy(&dsn.data).into_owned();
    // From: MAILER-DAEMON@mail.example.com, signed by example.com (relaxed alignment).
    assert!(text.contains("MAILER-DAEMON@mail.example.com"), "{text}");
    assert_eq!(text.matches("d=example.com").count(), 2, "{text}");
    assert_dkim_passes(dns, &dsn.data).await;
    queue_empty(&s, Duration::from_secs(10)).await;
    s.stop().await;
}

#[tokio::test]
async fn eight_bit_mail_to_a_seven_bit_peer_is_converted_and_signed_again() {
    let (port, sinks) = sinks(vec![SinkConf {
        seven_bit: true,
        ..SinkConf::default()
    }])
    .await;
    let (keys, zone) = DkimKeys::new(
        Zone::default()
            .mx("old.test", 10, "mx.old.test")
            .a("mx.old.test", Ipv4Addr::new(127, 0, 0, 2)),
    );
    let dns = dns_server(zone.clone()).await;
    let s = server(zone, port, 60, "").await;
    keys.install(&s);
    let body = "Grüße aus Köln\r\n.naïve café = 2 €\r\n";
    let m = format!(
        "From: Alice <{ALICE}>\nTo: x@old.test\nSubject: eight bit\nMIME-Version: 1.0\n\
         Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}"
    );
    let got = submit_and_relay(&s, &sinks[0], "x@old.test", &m).await;
    let text = String::from_utf8_lossy(&got.data).into_owned();
    assert!(got.data.is_ascii(), "7-bit on the wire: {text}");
    assert!(!got.mail_params.contains("BODY="), "{}", got.mail_params);
    let parsed = mail_parser::MessageParser::default()
        .parse(&got.data)
        .expect("parses");
    assert_eq!(parsed.content_transfer_encoding(), Some("quoted-printable"));
    assert_eq!(parsed.body_text(0).as_deref(), Some(body), "{text}");
    // Our signatures were made again over the converted message.
    assert_dkim_passes(dns, &got.data).await;
    queue_empty(&s, Duration::from_secs(10)).await;
    s.stop().await;
}

#[tokio::test]
async fn utf8_header_fields_to_a_peer_without_smtputf8_bounce_with_5_6_7() {
    // 8BITMIME but no SMTPUTF8: an 8-bit body alone would go as it is.
    let (port, sinks) = sinks(vec![SinkConf::default()]).await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2));
    let s = server(zone, port, 60, "").await;
    for (rcpt, subject) in [("x@a.test", "Grüße"), ("y@a.test", "plain")] {
        let m = format!("From: <{ALICE}>\nSubject: {subject}\n\nbody: Köln\n");
        let (_, end) = send(s.addr("submission"), Some((ALICE, PW)), ALICE, &[rcpt], &m).await;
        assert!(end.starts_with("250"), "{end}");
    }
    let inbox = s.wait_for_messages(ALICE, "INBOX", 1).await;
    queue_empty(&s, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&inbox[0].bytes);
    assert!(
        text.contains("Final-Recipient: rfc822; x@a.test\r\nAction: failed\r\nStatus: 5.6.7\r\n"),
        "{text}"
    );
    let got = sinks[0].got();
    assert_eq!(
        got.len(),
        1,
        "only the message with ASCII header fields went"
    );
    assert_eq!(got[0].rcpts, ["y@a.test"]);
    assert!(
        got[0].mail_params.contains("BODY=8BITMIME"),
        "{}",
        got[0].mail_params
    );
    assert!(!got[0].mail_params.contains("SMTPUTF8"));
    s.stop().await;
}

/// Runs `script` with a python3 that has dkimpy (the one on PATH, else Debian's).
async fn dkimpy(script: &str, env: &[(&str, String)]) -> (bool, String) {
    for python in ["python3", "/usr/bin/python3"] {
        let has = tokio::process::Command::new(python)
            .args(["-c", "import dkim"])
            .output()
            .await
            .is_ok_and(|o| o.status.success());
        if has {
            let mut cmd = tokio::process::Command::new(python);
            cmd.arg("-c").arg(script);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let out = cmd.output().await.expect("run python");
            return (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            );
        }
    }
    panic!("dkimpy is not installed: apt-get install -y python3-dkim python3-nacl");
}

#[tokio::test]
async fn long_lines_are_accepted_and_reencoded_for_the_next_hop() {
    let (port, sinks) = sinks(vec![SinkConf::default()]).await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2));
    let s = server(zone, port, 60, "").await;
    let long = "0123456789 ".repeat(400); // 4,400 octets on one line
    let m =
        format!("From: <{ALICE}>\nSubject: long\nMessage-ID: <long@example.com>\n\n{long}\nend\n");
    // Port 25, to a local user: stored as it came.
    let (_, end) = send(s.addr("smtp"), None, "x@elsewhere.test", &[ALICE], &m).await;
    assert!(end.starts_with("250"), "{end}");
    let inbox = s.wait_for_messages(ALICE, "INBOX", 1).await;
    assert!(String::from_utf8_lossy(&inbox[0].bytes).contains(&long));
    // Submission, to a remote recipient: relayed in lines the next hop takes.
    let data = submit_and_relay(&s, &sinks[0], "x@a.test", &m).await.data;
    assert!(
        data.split(|b| *b == b'\n').all(|l| l.len() <= 1000),
        "no line over 998 octets: {}",
        String::from_utf8_lossy(&data)
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(&data)
        .expect("parses");
    assert_eq!(
        parsed.body_text(0).map(|t| t.replace("\r\n", "\n")),
        Some(format!("{long}\nend\n")),
        "the content is unchanged once decoded"
    );
    s.stop().await;
}

#[tokio::test]
async fn success_notice_when_asked_for() {
    let (port, sinks) = sinks(vec![SinkConf::default()]).await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2));
    let s = server(zone, port, 60, "").await;
    let (rr, end) = send(
        s.addr("submission"),
        Some((ALICE, PW)),
        ALICE,
        &[
            "x@a.test NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@a.test",
            "y@a.test NOTIFY=NEVER",
        ],
        &message("notify"),
    )
    .await;
    assert!(rr.iter().all(|r| r.starts_with("250")), "{rr:?}");
    assert!(end.starts_with("250"), "{end}");
    let inbox = s.wait_for_messages(ALICE, "INBOX", 1).await;
    queue_empty(&s, Duration::from_secs(10)).await;
    assert_eq!(sinks[0].got().len(), 1);
    let text = String::from_utf8_lossy(&inbox[0].bytes).into_owned();
    // The next hop offers no DSN, so the notice says "relayed" (RFC 3461 §5.2.2).
    assert!(text.contains("Action: relayed\r\n"), "{text}");
    assert!(text.contains("Status: 2.0.0\r\n"), "{text}");
    assert!(
        text.contains("Original-Recipient: rfc822;x@a.test\r\n"),
        "{text}"
    );
    assert!(!text.contains("y@a.test"), "NOTIFY=NEVER: {text}");
    assert!(text.contains("Content-Type: text/rfc822-headers"), "{text}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        s.mailbox_contents(ALICE, "INBOX").await.len(),
        1,
        "one notice only"
    );

    // A local recipient that asks: "delivered", once it is in the mailbox.
    s.add_user("bob@example.com", "bob password").await;
    let (_, end) = send(
        s.addr("submission"),
        Some((ALICE, PW)),
        ALICE,
        &["bob@example.com NOTIFY=SUCCESS"],
        &message("local-notify"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    let inbox = s.wait_for_messages(ALICE, "INBOX", 2).await;
    let text = String::from_utf8_lossy(&inbox[1].bytes).into_owned();
    assert!(text.contains("Action: delivered\r\n"), "{text}");
    assert!(
        text.contains("Final-Recipient: rfc822; bob@example.com\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Subject: local-notify"),
        "headers returned: {text}"
    );
    s.stop().await;
}

/// Sends three messages to one MX, each once the one before has arrived, with
/// `extra` in `[relay]`; returns the sink's connection number for each message.
async fn three_in_a_row(extra: &str) -> Vec<usize> {
    let (port, sinks) = sinks(vec![SinkConf::default()]).await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2));
    let s = server(zone, port, 60, extra).await;
    for (i, subject) in ["one", "two", "three"].into_iter().enumerate() {
        let (_, end) = send(
            s.addr("submission"),
            Some((ALICE, PW)),
            ALICE,
            &["x@a.test"],
            &message(subject),
        )
        .await;
        assert!(end.starts_with("250"), "{end}");
        wait_until("delivered", Duration::from_secs(20), || {
            sinks[0].got().len() == i + 1
        })
        .await;
    }
    s.stop().await;
    sinks[0].got().iter().map(|g| g.connection).collect()
}

#[tokio::test]
async fn consecutive_messages_share_one_connection() {
    assert_eq!(
        three_in_a_row("").await,
        [1, 1, 1],
        "RSET between messages, no reconnect"
    );
}

#[tokio::test]
async fn max_messages_per_connection_is_a_config_key() {
    assert_eq!(
        three_in_a_row("max_messages_per_connection = 2\n").await,
        [1, 1, 2],
        "QUIT after two messages, a new connection for the third"
    );
}

#[tokio::test]
async fn smarthost_over_implicit_tls_with_a_password_file() {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode("\0office\0from a file");
    let (port, sinks) = sinks(vec![SinkConf {
        tls: Some(relay_support::tls_config("smarthost.test")),
        implicit_tls: true,
        auth_token: Some(token),
        ..SinkConf::default()
    }])
    .await;
    let pw = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(pw.path(), "from a file\nignored second line\n").expect("write");
    let extra = format!(
        "smarthost = \"127.0.0.2:{port}\"\nusername = \"office\"\npassword_file = {:?}\n\
         tls = \"implicit\"\ntls_verify = false\n",
        pw.path().display().to_string()
    );
    let s = server(Zone::default(), port, 60, &extra).await;
    let (_, end) = send(
        s.addr("submission"),
        Some((ALICE, PW)),
        ALICE,
        &["x@anywhere.test"],
        &message("implicit"),
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    wait_until("the smarthost got it", Duration::from_secs(20), || {
        !sinks[0].got().is_empty()
    })
    .await;
    let got = sinks[0].got();
    assert!(got[0].tls && got[0].authed);
    queue_empty(&s, Duration::from_secs(10)).await;
    s.stop().await;
}

#[tokio::test]
async fn chunking_sends_the_message_unstuffed_with_bdat() {
    let (port, sinks) = sinks(vec![SinkConf {
        chunking: true,
        reject: vec!["no@a.test".into()],
        ..SinkConf::default()
    }])
    .await;
    let zone = Zone::default()
        .mx("a.test", 10, "mx.a.test")
        .a("mx.a.test", Ipv4Addr::new(127, 0, 0, 2));
    let s = server(zone, port, 60, "").await;
    let m = format!("From: <{ALICE}>\nSubject: chunks\n\n.a line with a dot\nend\n");
    let (_, end) = send(
        s.addr("submission"),
        Some((ALICE, PW)),
        ALICE,
        &["x@a.test", "no@a.test"],
        &m,
    )
    .await;
    assert!(end.starts_with("250"), "{end}");
    // The refused recipient bounces; the other one gets the message by BDAT.
    s.wait_for_messages(ALICE, "INBOX", 1).await;
    queue_empty(&s, Duration::from_secs(10)).await;
    let got = sinks[0].got();
    assert_eq!(got.len(), 1);
    assert!(got[0].bdat);
    assert_eq!(got[0].rcpts, ["x@a.test"]);
    let text = String::from_utf8_lossy(&got[0].data);
    assert!(
        text.ends_with("\r\n\r\n.a line with a dot\r\nend\r\n"),
        "as it is, not dot-stuffed: {text}"
    );
    s.stop().await;
}
