//! Across the daemons: what SMTP accepts, IMAP serves, byte for byte and promptly.

use std::time::{Duration, Instant};

use mailyard_tests::{TestServer, python};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_delivery_read_back_over_imap_byte_for_byte() {
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "pw").await;
    let script = r#"
import os, smtplib, imaplib
original = b'From: Bob <bob@example.net>\r\nTo: alice@example.com\r\nSubject: bytes\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\xc3\xa9 \r\n..dots\r\n\tend\r\n'
s = smtplib.SMTP('127.0.0.1', int(os.environ['SMTP']), timeout=10)
s.sendmail('bob@example.net', ['alice@example.com'], original)
s.quit()
m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']), timeout=10)
m.login('alice@example.com', 'pw')
m.select('INBOX')
typ, data = m.uid('fetch', '1', '(RFC822.SIZE BODY.PEEK[])')
body = data[0][1]
size = int(data[0][0].split(b'RFC822.SIZE ')[1].split(b' ')[0])
assert size == len(body), (size, len(body))
assert body.startswith(b'Return-Path: <bob@example.net>\r\nReceived: from '), body[:400]
# Everything after the trace headers is exactly what was sent (smtplib dot-stuffs
# '..dots' on the wire, the server un-stuffs it).
rest = body[body.index(b'From: Bob'):]
assert rest == original, rest
print('ok', size)
m.logout()
"#;
    let (ok, out) = python(script, &s.ports_env()).await;
    assert!(ok, "{out}");
    assert!(out.contains("ok "), "{out}");
    s.stop().await;
}

async fn read_until(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, needle: &str) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within 10 s; got {all:?}"))
            .expect("read");
        assert!(n > 0, "closed; got {all:?}");
        all.push_str(&line);
        if line.contains(needle) {
            return all;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sees_an_smtp_delivery_within_a_second() {
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "pw").await;
    let (r, mut w) = TcpStream::connect(s.addr("imap"))
        .await
        .expect("connect")
        .into_split();
    let mut r = BufReader::new(r);
    read_until(&mut r, "* OK").await;
    w.write_all(b"1 login alice@example.com pw\r\n")
        .await
        .expect("w");
    read_until(&mut r, "1 OK").await;
    w.write_all(b"2 select INBOX\r\n").await.expect("w");
    read_until(&mut r, "2 OK").await;
    w.write_all(b"3 IDLE\r\n").await.expect("w");
    read_until(&mut r, "+ ").await;

    let mut smtp = TcpStream::connect(s.addr("smtp")).await.expect("smtp");
    smtp.write_all(
        b"EHLO t\r\nMAIL FROM:<x@example.net>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nSubject: ping\r\n\r\nping\r\n.\r\nQUIT\r\n",
    )
    .await
    .expect("smtp write");
    let mut smtp_r = BufReader::new(smtp);
    let mut replies = String::new();
    while !replies.contains("250 2.0.0 Ok") {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), smtp_r.read_line(&mut line))
            .await
            .expect("smtp reply in time")
            .expect("read");
        assert!(n > 0, "smtp closed: {replies}");
        replies.push_str(&line);
    }
    let acked = Instant::now();
    read_until(&mut r, "* 1 EXISTS").await;
    let waited = acked.elapsed();
    assert!(
        waited < Duration::from_secs(1),
        "IDLE reported the delivery after {waited:?}"
    );
    w.write_all(b"DONE\r\n").await.expect("w");
    read_until(&mut r, "3 OK").await;
    s.stop().await;
}
