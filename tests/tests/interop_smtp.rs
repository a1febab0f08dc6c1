//! Sending mail the way users do: swaks, msmtp and curl on the command line, and a
//! cron-like Python script with smtplib. Submission is STARTTLS + AUTH with the
//! server's self-signed certificate pinned (the client verifies it against
//! `<data_dir>/tls/cert.pem`), the MX listener is plain and unauthenticated. Each test
//! asserts the message is in the recipient's maildir with the bytes the client sent.

use std::time::Duration;

use mailyard_tests::{
    TestServer, output_text, python, require_client, run_client, without_trace_headers,
};
use tokio::process::Command;

const LIMIT: Duration = Duration::from_secs(30);

/// A message as a user's MUA or script would hand it to the client (CRLF endings).
fn message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n\
         Message-ID: <{subject}@client.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

/// Asserts `user`'s INBOX holds exactly one message and that, after the trace
/// headers, it is `sent`; returns its full bytes.
async fn assert_delivered(s: &TestServer, user: &str, sent: &[u8]) -> Vec<u8> {
    let got = s.wait_for_messages(user, "INBOX", 1).await;
    assert_eq!(got.len(), 1, "one message in {user}'s INBOX");
    let bytes = got[0].bytes.clone();
    assert_eq!(
        String::from_utf8_lossy(without_trace_headers(&bytes)),
        String::from_utf8_lossy(sent),
        "stored message differs from what was sent"
    );
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_submission_starttls_auth_with_pinned_certificate() {
    let swaks = require_client("swaks", "swaks");
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "correct horse").await;
    s.add_user("bob@example.com", "pw").await;
    let body = message(
        "alice@example.com",
        "bob@example.com",
        "swaks-587",
        "Hello Bob,\r\n.leading dot\r\nsent with swaks\r\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("msg.eml");
    // swaks takes DATA as on the wire, ending with the "." line (it adds one after
    // the data otherwise, keeping the final CRLF as an empty line).
    std::fs::write(&file, [body.as_slice(), b".\r\n"].concat()).expect("write message");
    let out = run_client(
        Command::new(&swaks)
            .args(["--server", &s.addr("submission").to_string()])
            .args(["--from", "alice@example.com", "--to", "bob@example.com"])
            .args(["--tls", "--tls-verify", "--tls-sni", "mail.example.com"])
            .arg("--tls-ca-path")
            .arg(s.cert_path())
            .args(["--auth", "PLAIN", "--auth-user", "alice@example.com"])
            .args(["--auth-password", "correct horse"])
            .arg("--data")
            .arg(&file),
        b"",
        LIMIT,
    )
    .await;
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("<~  235 "), "AUTH accepted: {text}");
    assert!(
        text.contains("<~  250 2.0.0 Ok"),
        "message accepted: {text}"
    );
    let stored = assert_delivered(&s, "bob@example.com", &body).await;
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        stored.contains("(Authenticated sender: alice@example.com)"),
        "{stored}"
    );
    assert!(stored.contains("using TLSv1."), "{stored}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_refuses_the_server_without_the_pinned_certificate() {
    // The pinning above is real: with only the system's CAs, swaks' verification of
    // the self-signed certificate fails and nothing is sent.
    let swaks = require_client("swaks", "swaks");
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "pw").await;
    let out = run_client(
        Command::new(&swaks)
            .args(["--server", &s.addr("submission").to_string()])
            .args(["--from", "alice@example.com", "--to", "alice@example.com"])
            .args(["--tls", "--tls-verify"])
            .args(["--auth", "PLAIN", "--auth-user", "alice@example.com"])
            .args(["--auth-password", "pw"]),
        b"",
        LIMIT,
    )
    .await;
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("TLS"), "{text}");
    assert!(
        s.mailbox_contents("alice@example.com", "INBOX")
            .await
            .is_empty()
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_mx_port25_unauthenticated() {
    let swaks = require_client("swaks", "swaks");
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "pw").await;
    let body = message(
        "Carol <carol@example.net>",
        "alice@example.com",
        "swaks-25",
        "inbound over the MX port\r\n",
    );
    let out = run_client(
        Command::new(&swaks)
            .args(["--server", &s.addr("smtp").to_string()])
            .args(["--helo", "mx.example.net"])
            .args(["--from", "carol@example.net", "--to", "alice@example.com"])
            .args(["--data", "-"]),
        &[body.as_slice(), b".\r\n"].concat(),
        LIMIT,
    )
    .await;
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("-> AUTH"), "no AUTH on the MX port: {text}");
    let stored = assert_delivered(&s, "alice@example.com", &body).await;
    assert!(stored.starts_with(b"Return-Path: <carol@example.net>\r\n"));
    s.stop().await;
}

/// An msmtp configuration file with a submission account (STARTTLS, AUTH PLAIN, the
/// server's certificate as the only trust anchor) and an MX account.
fn msmtprc(s: &TestServer, dir: &std::path::Path) -> std::path::PathBuf {
    let sub = s.addr("submission");
    let mx = s.addr("smtp");
    let text = format!(
        "defaults\n\
         logfile {log}\n\
         timeout 20\n\
         \n\
         account submission\n\
         host {sub_host}\n\
         port {sub_port}\n\
         tls on\n\
         tls_starttls on\n\
         tls_trust_file {cert}\n\
         tls_host_override mail.example.com\n\
         auth plain\n\
         user alice@example.com\n\
         password \"s3cret pass\"\n\
         from alice@example.com\n\
         \n\
         account mx\n\
         host {mx_host}\n\
         port {mx_port}\n\
         tls off\n\
         auth off\n\
         from dave@example.org\n",
        log = dir.join("msmtp.log").display(),
        sub_host = sub.ip(),
        sub_port = sub.port(),
        cert = s.cert_path().display(),
        mx_host = mx.ip(),
        mx_port = mx.port(),
    );
    let path = dir.join("msmtprc");
    std::fs::write(&path, text).expect("write msmtprc");
    // msmtp refuses a configuration with a password that others can read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msmtp_submission_starttls_auth_with_pinned_certificate() {
    let msmtp = require_client("msmtp", "msmtp");
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "s3cret pass").await;
    s.add_user("bob@example.com", "pw").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let rc = msmtprc(&s, dir.path());
    // As `sendmail`-style MUAs (mutt, git send-email) hand it over: LF line endings.
    let input = b"From: alice@example.com\nTo: bob@example.com\nSubject: msmtp-587\n\
                  Message-ID: <msmtp-587@client.example>\nDate: Tue, 03 Mar 2026 10:00:00 +0000\n\
                  \nhi bob\n.\n..two dots\nbye\n";
    let out = run_client(
        Command::new(&msmtp)
            .arg("-C")
            .arg(&rc)
            .args(["-a", "submission", "bob@example.com"]),
        input,
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    let log = std::fs::read_to_string(dir.path().join("msmtp.log")).expect("msmtp log");
    assert!(log.contains("tls=on auth=on"), "{log}");
    assert!(log.contains("smtpstatus=250"), "{log}");
    // msmtp sends CRLF on the wire and dot-stuffs; the server stores the CRLF form.
    let expected: Vec<u8> = String::from_utf8_lossy(input)
        .replace('\n', "\r\n")
        .into_bytes();
    let stored = assert_delivered(&s, "bob@example.com", &expected).await;
    assert!(String::from_utf8_lossy(&stored).contains("(Authenticated sender: alice@example.com)"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msmtp_mx_port25_unauthenticated() {
    let msmtp = require_client("msmtp", "msmtp");
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "s3cret pass").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let rc = msmtprc(&s, dir.path());
    let body = message(
        "dave@example.org",
        "alice@example.com",
        "msmtp-25",
        "to the MX\r\n",
    );
    let out = run_client(
        Command::new(&msmtp)
            .arg("-C")
            .arg(&rc)
            .args(["-a", "mx", "alice+reports@example.com"]),
        &body,
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    let log = std::fs::read_to_string(dir.path().join("msmtp.log")).expect("msmtp log");
    assert!(log.contains("tls=off auth=off"), "{log}");
    let stored = assert_delivered(&s, "alice@example.com", &body).await;
    assert!(stored.starts_with(b"Return-Path: <dave@example.org>\r\n"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_smtp_mx_upload_file() {
    let curl = require_client("curl", "curl");
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "pw").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let body = message(
        "erin@example.net",
        "alice@example.com",
        "curl-25",
        "uploaded by curl\r\n",
    );
    let file = dir.path().join("mail.eml");
    std::fs::write(&file, &body).expect("write");
    let out = run_client(
        Command::new(&curl)
            .args(["-sS", "--max-time", "20"])
            .arg(format!("smtp://{}", s.addr("smtp")))
            .args(["--mail-from", "erin@example.net"])
            .args(["--mail-rcpt", "alice@example.com"])
            .arg("--upload-file")
            .arg(&file),
        b"",
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    assert_delivered(&s, "alice@example.com", &body).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_smtp_starttls_submission_with_pinned_certificate() {
    let curl = require_client("curl", "curl");
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "pw").await;
    s.add_user("bob@example.com", "pw").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let body = message(
        "alice@example.com",
        "bob@example.com",
        "curl-587",
        "curl --ssl-reqd\r\n",
    );
    let file = dir.path().join("mail.eml");
    std::fs::write(&file, &body).expect("write");
    let port = s.addr("submission").port();
    // The certificate names mail.example.com: --resolve points that name at the
    // listener, --cacert makes the self-signed certificate the only trusted one, so
    // curl verifies both the chain and the host name.
    let out = run_client(
        Command::new(&curl)
            .args(["-sS", "--max-time", "20", "--ssl-reqd"])
            .arg("--cacert")
            .arg(s.cert_path())
            .arg("--resolve")
            .arg(format!("mail.example.com:{port}:127.0.0.1"))
            .arg(format!("smtp://mail.example.com:{port}"))
            .args(["--user", "alice@example.com:pw"])
            .args(["--mail-from", "alice@example.com"])
            .args(["--mail-rcpt", "bob@example.com"])
            .arg("--upload-file")
            .arg(&file),
        b"",
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    let stored = assert_delivered(&s, "bob@example.com", &body).await;
    assert!(String::from_utf8_lossy(&stored).contains("(Authenticated sender: alice@example.com)"));

    // The same with -k (no verification), as quick scripts do, over port 25.
    let out = run_client(
        Command::new(&curl)
            .args(["-sS", "--max-time", "20", "--ssl-reqd", "-k"])
            .arg(format!("smtp://{}", s.addr("smtp")))
            .args(["--mail-from", "x@example.net"])
            .args(["--mail-rcpt", "alice@example.com"])
            .arg("--upload-file")
            .arg(&file),
        b"",
        LIMIT,
    )
    .await;
    assert!(out.status.success(), "{}", output_text(&out));
    let got = s.wait_for_messages("alice@example.com", "INBOX", 1).await;
    assert!(String::from_utf8_lossy(&got[0].bytes).contains("using TLSv1."));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_cron_script_mails_a_report_with_an_attachment() {
    let s = TestServer::start("").await;
    s.add_user("reports@example.com", "cron pw").await;
    s.add_user("boss@example.com", "pw").await;
    // What a nightly cron job does: build a report with the email package, connect to
    // submission with STARTTLS verifying the server against its certificate, log in,
    // send_message, quit. `localhost` is one of the certificate's names.
    let script = r#"
import csv, io, os, smtplib, ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

rows = [("day", "orders", "revenue €"), ("2026-03-02", 17, "1234.50"), ("2026-03-03", 21, "1502.00")]
buf = io.StringIO()
csv.writer(buf).writerows(rows)

msg = EmailMessage()
msg["From"] = "Nightly report <reports@example.com>"
msg["To"] = "boss@example.com"
msg["Subject"] = "Daily sales report"
msg["Date"] = formatdate(localtime=True)
msg["Message-ID"] = make_msgid(domain="example.com")
msg.set_content("Good morning,\n\nattached: yesterday's sales.\n")
msg.add_attachment(buf.getvalue().encode("utf-8"), maintype="text", subtype="csv", filename="sales.csv")

ctx = ssl.create_default_context(cafile=os.environ["CERT"])
with smtplib.SMTP("localhost", int(os.environ["PORT"]), timeout=20) as smtp:
    smtp.ehlo()
    smtp.starttls(context=ctx)
    smtp.ehlo()
    smtp.login("reports@example.com", "cron pw")
    refused = smtp.send_message(msg)
    assert refused == {}, refused
print("sent", msg["Message-ID"])
"#;
    let (ok, out) = python(
        script,
        &[
            ("PORT", s.addr("submission").port().to_string()),
            ("CERT", s.cert_path().display().to_string()),
        ],
    )
    .await;
    assert!(ok, "{out}");
    let msgid = out
        .lines()
        .find_map(|l| l.strip_prefix("sent "))
        .expect("script printed the Message-ID")
        .to_string();
    let got = s.wait_for_messages("boss@example.com", "INBOX", 1).await;
    let text = String::from_utf8_lossy(&got[0].bytes).to_string();
    assert!(text.contains(&format!("Message-ID: {msgid}")), "{text}");
    assert!(text.contains("Subject: Daily sales report"), "{text}");
    assert!(text.contains("filename=\"sales.csv\""), "{text}");
    assert!(
        text.contains("(Authenticated sender: reports@example.com)"),
        "{text}"
    );
    // The attachment decodes to the CSV the script wrote.
    let check = r#"
import email, os, sys
from email import policy
msg = email.message_from_bytes(open(os.environ["FILE"], "rb").read(), policy=policy.default)
att = [p for p in msg.iter_attachments()][0]
data = att.get_payload(decode=True)
assert b"2026-03-03,21,1502.00" in data and "revenue €".encode() in data, data
print("attachment ok")
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("m.eml");
    std::fs::write(&file, &got[0].bytes).expect("write");
    let (ok, out) = python(check, &[("FILE", file.display().to_string())]).await;
    assert!(ok && out.contains("attachment ok"), "{out}");
    s.stop().await;
}
