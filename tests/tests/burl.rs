//! BURL (RFC 4468) end to end, with real clients over sockets: Alice stores a draft
//! over IMAP, authorizes it for submission with GENURLAUTH (RFC 4467), and submits it
//! with Python's smtplib (`BURL … LAST` through `docmd`); Bob finds it in his INBOX.
//! Refusals: another server's URL, a forged token, a URL for another submitter, BURL
//! before AUTH, and BURL on the MX listener.

use mailyard_tests::{TestServer, python};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genurlauth_over_imap_then_burl_over_smtp_delivers() {
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "pw").await;
    s.add_user("bob@example.com", "pw").await;
    s.add_user("carol@example.com", "pw").await;
    let script = r#"
import os, smtplib, imaplib, re
imaplib.Commands['GENURLAUTH'] = ('AUTH', 'SELECTED')
draft = b'From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: via BURL\r\n\r\nHello Bob, from the Drafts folder.\r\n'
m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']), timeout=10)
m.login('alice@example.com', 'pw')
typ, data = m.append('Drafts', None, None, draft)
assert typ == 'OK', data
uid = re.search(rb'APPENDUID (\d+) (\d+)', data[0]).group(2).decode()
def genurlauth(rump):
    typ, data = m._simple_command('GENURLAUTH', '"%s"' % rump, 'INTERNAL')
    assert typ == 'OK', (typ, data)
    typ, urls = m._untagged_response(typ, data, 'GENURLAUTH')
    return urls[0].decode()
base = 'imap://alice@example.com/Drafts/;uid=%s' % uid
url = genurlauth(base + ';urlauth=submit+alice@example.com')
assert url.startswith(base + ';urlauth=submit+alice@example.com:internal:'), url
header_url = genurlauth(base + '/;section=HEADER;urlauth=submit+alice@example.com')
text_url = genurlauth(base + '/;section=TEXT;urlauth=submit+alice@example.com')
m.logout()

def submit(user):
    s = smtplib.SMTP('127.0.0.1', int(os.environ['SUBMISSION']), timeout=10)
    s.ehlo('client.example')
    s.login(user, 'pw')
    s.ehlo('client.example')
    return s

s = submit('alice@example.com')
assert s.has_extn('burl'), s.esmtp_features
assert s.esmtp_features['burl'].strip().lower() == 'imap', s.esmtp_features
s.mail('alice@example.com')
s.rcpt('bob@example.com')
code, msg = s.docmd('BURL', url + ' LAST')
assert code == 250, (code, msg)

# BURL pieces and BDAT mixed (RFC 4468 §3.2): header, one BDAT chunk, text.
s.mail('alice@example.com')
s.rcpt('bob@example.com')
code, msg = s.docmd('BURL', header_url)
assert code == 250, (code, msg)
s.send(b'BDAT 10\r\nInserted\r\n')
code, msg = s.getreply()
assert code == 250, (code, msg)
code, msg = s.docmd('BURL', text_url + ' LAST')
assert code == 250, (code, msg)

# Refusals: the transaction is dropped, the session goes on.
for bad, want in [
    (url.replace('@example.com/', '@elsewhere.example/', 1), (554, b'5.7.0')),
    (url[:-1] + ('0' if url[-1] != '0' else '1'), (554, b'5.6.6')),
    ('https://example.com/x', (554, b'5.5.4')),
]:
    s.mail('alice@example.com')
    s.rcpt('bob@example.com')
    code, msg = s.docmd('BURL', bad + ' LAST')
    assert (code, msg[:5]) == want, (bad, code, msg)
    code, msg = s.docmd('DATA')
    assert code == 503, (code, msg)
code, msg = s.docmd('BURL', url + ' LAST')
assert code == 503, (code, msg)
s.quit()

# A submit+alice URL is not Carol's to submit.
s = submit('carol@example.com')
s.mail('carol@example.com')
s.rcpt('bob@example.com')
code, msg = s.docmd('BURL', url + ' LAST')
assert (code, msg[:5]) == (554, b'5.6.6'), (code, msg)
s.quit()

# Not before AUTH, and not on the MX listener (not advertised there either).
s = smtplib.SMTP('127.0.0.1', int(os.environ['SUBMISSION']), timeout=10)
s.ehlo('client.example')
assert not s.has_extn('burl'), s.esmtp_features
code, msg = s.docmd('BURL', url + ' LAST')
assert (code, msg[:5]) == (530, b'5.7.0'), (code, msg)
s.quit()
s = smtplib.SMTP('127.0.0.1', int(os.environ['SMTP']), timeout=10)
s.ehlo('client.example')
assert not s.has_extn('burl'), s.esmtp_features
code, msg = s.docmd('BURL', url + ' LAST')
assert (code, msg[:5]) == (502, b'5.5.1'), (code, msg)
s.quit()

m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']), timeout=10)
m.login('bob@example.com', 'pw')
m.select('INBOX')
typ, data = m.search(None, 'ALL')
assert data[0].split() == [b'1', b'2'], data
typ, data = m.fetch('1', '(BODY.PEEK[])')
first = data[0][1]
assert first.endswith(draft), first
assert b'Received: ' in first[:first.index(b'From: Alice')], first
typ, data = m.fetch('2', '(BODY.PEEK[])')
second = data[0][1]
assert second.endswith(b'Subject: via BURL\r\n\r\nInserted\r\nHello Bob, from the Drafts folder.\r\n'), second
m.logout()
print('ok')
"#;
    let (ok, out) = python(
        script,
        &[
            ("SMTP", s.addr("smtp").port().to_string()),
            ("SUBMISSION", s.addr("submission").port().to_string()),
            ("IMAP", s.addr("imap").port().to_string()),
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("ok"), "{out}");
    s.stop().await;
}
