//! Issue 9 item 5: a MIME part bomb on port 25 — 25 MB of 2.5 million empty parts —
//! is accepted and readable whole, while what the server parses and keeps of its
//! structure stays bounded (`mailyard_message::limits`: 10,000 parts, 100 levels).
//! Its own test binary, so the process's peak RSS is this test's alone.

use mailyard_tests::{TestServer, memory_kib, python};

/// index.db and its WAL, in bytes.
fn index_bytes(dir: &std::path::Path) -> u64 {
    ["index.db", "index.db-wal"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_bomb_is_accepted_with_its_structure_capped() {
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "pw").await;
    let index_before = index_bytes(s.dir.path());
    let script = r#"
import os, re, smtplib, imaplib
head = (b'From: Mallory <m@example.net>\r\nTo: alice@example.com\r\nSubject: bomb\r\n'
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n')
# Part 3 is distinctive, so BODYSTRUCTURE and BODY[3] can be compared.
parts = b'--z\r\n\r\nx\r\n' * 2 + b'--z\r\nContent-Type: text/html\r\n\r\n<b>hi</b>\r\n'
message = head + parts + b'--z\r\n\r\nx\r\n' * 2_500_000 + b'--z--\r\n'
s = smtplib.SMTP('127.0.0.1', int(os.environ['SMTP']), timeout=300)
code, text = s.docmd('EHLO', 'client.example.net')
s.mail('m@example.net')
s.rcpt('alice@example.com')
code, text = s.data(message)
print('data', code, text.decode())
s.quit()
m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']), timeout=300)
m.login('alice@example.com', 'pw')
m.select('INBOX')
typ, data = m.fetch('1', '(RFC822.SIZE BODYSTRUCTURE)')
line = data[0] if isinstance(data[0], bytes) else b''.join(x if isinstance(x, bytes) else b''.join(x) for x in data)
size = int(re.search(rb'RFC822\.SIZE (\d+)', line).group(1))
print('structure_bytes', len(line))
print('structure_parts', line.count(b'("text" '))
children = re.findall(rb'\("text" "([a-z]+)" \("charset" "us-ascii"\) NIL NIL "7bit" (\d+) (\d+) ', line)
print('part3', children[2][0].decode(), children[2][1].decode(), children[2][2].decode())
typ, data = m.fetch('1', '(BODY.PEEK[3] BODY.PEEK[3.MIME] BODY.PEEK[4])')
print('body3', repr(data[0][1]))
print('mime3', repr(data[1][1]))
print('body4', repr(data[2][1]))
typ, data = m.fetch('1', '(BODY.PEEK[])')
print('whole', len(data[0][1]) == size, size)
m.logout()
"#;
    let (ok, out) = python(script, &s.ports_env()).await;
    assert!(ok, "{out}");
    assert!(out.contains("data 250 "), "accepted: {out}");
    assert!(out.contains("whole True "), "readable whole: {out}");
    let number = |name: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {out}"))
    };
    let parts = number("structure_parts ");
    assert!(
        (10_000..=10_002).contains(&parts),
        "BODYSTRUCTURE capped at 10,000 parts: {parts}"
    );
    let bytes = number("structure_bytes ");
    assert!(bytes < 2_000_000, "BODYSTRUCTURE answer of {bytes} octets");
    // BODYSTRUCTURE and BODY[n] agree on a part inside the cap.
    assert!(out.contains("part3 html 9 0"), "{out}");
    assert!(out.contains("body3 b'<b>hi</b>'"), "{out}");
    assert!(
        out.contains("mime3 b'Content-Type: text/html\\r\\n\\r\\n'"),
        "{out}"
    );
    assert!(out.contains("body4 b'x'"), "{out}");
    let grown = index_bytes(s.dir.path()).saturating_sub(index_before);
    assert!(
        grown < 8 << 20,
        "index.db (+WAL) grew by {grown} bytes for one message"
    );
    let peak = memory_kib("VmHWM");
    eprintln!("peak RSS {peak} KiB; index.db grew by {grown} bytes");
    assert!(
        peak < 512 * 1024,
        "peak RSS {peak} KiB: the structure was not capped"
    );
    s.stop().await;
}
