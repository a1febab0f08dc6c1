//! Thunderbird 153's submission and Sent copy, replayed byte for byte as recorded in
//! /work/shared/clients/thunderbird.md: `EHLO [127.0.0.1]`, STARTTLS, EHLO again,
//! `AUTH PLAIN <initial response>`, `MAIL FROM:<..> BODY=8BITMIME SIZE=n`, one RCPT per
//! recipient, DATA, every command waiting for its reply (no pipelining), a second
//! message on the cached connection, the socket closed without QUIT; then the FCC:
//! IMAP STARTTLS, `capability`, `authenticate PLAIN` (no SASL-IR) and
//! `append "Sent" (\Seen) {n+}`. The TLS is done by Python's ssl module over the raw
//! socket, trusting only the server's self-signed certificate.

use mailyard_tests::{TestServer, python, without_trace_headers};

const SCRIPT: &str = r#"
import base64, os, socket, ssl

CERT = os.environ["CERT"]
ctx = ssl.create_default_context(cafile=CERT)
HOST = "mail.example.com"   # a name in the certificate; the socket goes to 127.0.0.1

def message(n):
    # Thunderbird's plain-text compose: format=flowed, 8bit because of the UTF-8 body.
    body = (
        "Hi Bob, hi Carol,\r\n"
        "\r\n"
        "the numbers for week %d are attached in spirit. Grüße, café.\r\n"
        ".a line starting with a dot (Thunderbird dot-stuffs it)\r\n"
        "..and one with two\r\n"
        "\r\n"
        "-- \r\n"
        "Alice\r\n" % n
    )
    return (
        "Message-ID: <%d-5f0c7d2e-1b2a-4c3d-9e8f-0a1b2c3d4e5f@example.com>\r\n"
        "Date: Tue, 3 Mar 2026 11:2%d:00 +0100\r\n"
        "MIME-Version: 1.0\r\n"
        "User-Agent: Mozilla Thunderbird\r\n"
        "Content-Language: en-US\r\n"
        "To: bob@example.com\r\n"
        "Cc: carol@example.com\r\n"
        "From: Alice <alice@example.com>\r\n"
        "Subject: Week %d\r\n"
        "Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n" % (n, n, n) + body
    ).encode("utf-8")

class Smtp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.f = self.sock.makefile("rb")
    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            assert line.endswith(b"\r\n"), ("reply line", line, lines)
            lines.append(line.decode())
            if line[3:4] == b" ":
                return lines
    def cmd(self, text, expect):
        # No pipelining: one command, then wait for its whole reply.
        self.sock.sendall(text.encode() + b"\r\n")
        r = self.reply()
        assert r[-1].startswith(expect), (text, r)
        return r
    def starttls(self):
        self.f.close()
        self.sock = ctx.wrap_socket(self.sock, server_hostname=HOST)
        self.f = self.sock.makefile("rb")

# Keep what was composed, to compare with what the server stored.
for n in (1, 2):
    with open(os.path.join(os.environ["OUT"], "m%d.eml" % n), "wb") as f:
        f.write(message(n))

smtp = Smtp(int(os.environ["SUBMISSION"]))
greeting = smtp.reply()
assert greeting[-1].startswith("220 "), greeting
ehlo = smtp.cmd("EHLO [127.0.0.1]", "250 ")
assert any("STARTTLS" in l for l in ehlo), ehlo
smtp.cmd("STARTTLS", "220 ")
smtp.starttls()
print("tls", smtp.sock.version())
ehlo = smtp.cmd("EHLO [127.0.0.1]", "250 ")
caps = [l[4:].strip() for l in ehlo]
assert not any(c.startswith("STARTTLS") for c in caps), caps
auth = [c for c in caps if c.startswith("AUTH ")]
assert auth and "PLAIN" in auth[0].split(), caps
assert "8BITMIME" in caps, caps
size_cap = [c for c in caps if c.startswith("SIZE")]
assert size_cap, caps
ir = base64.b64encode(b"\0alice@example.com\0Tb pass word").decode()
smtp.cmd("AUTH PLAIN " + ir, "235 ")

def send(msg):
    smtp.cmd("MAIL FROM:<alice@example.com> BODY=8BITMIME SIZE=%d" % len(msg), "250 ")
    for rcpt in ("bob@example.com", "carol@example.com"):
        smtp.cmd("RCPT TO:<%s>" % rcpt, "250 ")
    smtp.cmd("DATA", "354 ")
    stuffed = b"\r\n".join((b"." + l if l.startswith(b".") else l) for l in msg.split(b"\r\n"))
    assert stuffed.endswith(b"\r\n")
    smtp.sock.sendall(stuffed + b".\r\n")
    r = smtp.reply()
    assert r[-1].startswith("250 "), r
    return r

send(message(1))
# The connection is cached; the next message goes over it a moment later.
send(message(2))
# Thunderbird exits before quit_delay_ms: the socket is just closed, no QUIT.
smtp.sock.close()
print("smtp done")

# The FCC copy of message 2 over IMAP STARTTLS (socketType=2).
class Imap:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.f = self.sock.makefile("rb")
        self.tag = 0
    def line(self):
        l = self.f.readline()
        assert l.endswith(b"\r\n"), l
        return l.decode("utf-8", "replace")
    def cmd(self, text):
        self.tag += 1
        t = str(self.tag)
        self.sock.sendall(("%s %s\r\n" % (t, text)).encode())
        return self.until(t)
    def until(self, t):
        out = []
        while True:
            l = self.line()
            out.append(l)
            if l.startswith(t + " "):
                assert l.startswith(t + " OK"), out
                return out

imap = Imap(int(os.environ["IMAP"]))
greeting = imap.line()
assert greeting.startswith("* OK"), greeting
imap.cmd("STARTTLS")
imap.f.close()
imap.sock = ctx.wrap_socket(imap.sock, server_hostname=HOST)
imap.f = imap.sock.makefile("rb")
caps = imap.cmd("capability")
assert any("AUTH=PLAIN" in l for l in caps), caps
assert any("LITERAL+" in l for l in caps), caps
# "N authenticate PLAIN", wait for "+ ", then the credentials (no SASL-IR).
imap.tag += 1
t = str(imap.tag)
imap.sock.sendall(("%s authenticate PLAIN\r\n" % t).encode())
cont = imap.line()
assert cont.startswith("+"), cont
imap.sock.sendall(ir.encode() + b"\r\n")
ok = imap.until(t)
print("imap login", ok[-1].strip())
fcc = message(2)
imap.tag += 1
t = str(imap.tag)
# LITERAL+: the literal follows the command line without waiting for "+".
imap.sock.sendall(('%s append "Sent" (\\Seen) {%d+}\r\n' % (t, len(fcc))).encode() + fcc + b"\r\n")
r = imap.until(t)
assert "[APPENDUID " in r[-1], r
print("append", r[-1].strip())
imap.sock.close()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thunderbird_submission_and_sent_copy_replayed() {
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "Tb pass word").await;
    s.add_user("bob@example.com", "pw").await;
    s.add_user("carol@example.com", "pw").await;
    let out_dir = tempfile::tempdir().expect("tempdir");
    let (ok, out) = python(
        SCRIPT,
        &[
            ("OUT", out_dir.path().display().to_string()),
            ("SUBMISSION", s.addr("submission").port().to_string()),
            ("IMAP", s.addr("imap").port().to_string()),
            ("CERT", s.cert_path().display().to_string()),
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("tls TLSv1."), "{out}");
    assert!(out.contains("smtp done"), "{out}");
    assert!(out.contains("append 4 OK [APPENDUID "), "{out}");

    // What Thunderbird composed (before dot-stuffing), as the script saved it.
    let m1 = std::fs::read_to_string(out_dir.path().join("m1.eml")).expect("m1");
    let m2 = std::fs::read_to_string(out_dir.path().join("m2.eml")).expect("m2");

    for user in ["bob@example.com", "carol@example.com"] {
        let got = s.wait_for_messages(user, "INBOX", 2).await;
        assert_eq!(got.len(), 2, "{user}");
        for (stored, sent) in got.iter().zip([&m1, &m2]) {
            assert_eq!(
                String::from_utf8_lossy(without_trace_headers(&stored.bytes)),
                sent.as_str(),
                "{user}: the delivered message is what Thunderbird sent"
            );
            let text = String::from_utf8_lossy(&stored.bytes);
            assert!(
                text.starts_with("Return-Path: <alice@example.com>\r\n"),
                "{text}"
            );
            assert!(
                text.contains("(Authenticated sender: alice@example.com)"),
                "{text}"
            );
            assert!(stored.flag_letters().is_empty(), "new mail is unseen");
        }
    }
    // Sender's own INBOX untouched; the FCC is in Sent, \Seen, byte for byte.
    assert!(
        s.mailbox_contents("alice@example.com", "INBOX")
            .await
            .is_empty()
    );
    let sent = s.mailbox_contents("alice@example.com", "Sent").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(String::from_utf8_lossy(&sent[0].bytes), m2);
    assert_eq!(sent[0].flag_letters(), "S");
    s.stop().await;
}
