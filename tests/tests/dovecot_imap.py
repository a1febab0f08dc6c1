# Drives Dovecot (its imap binary, preauthenticated over a pipe: IMAP4_stream) and
# mailyard (IMAP on loopback) for tests/tests/dovecot_migration.rs.
#
#   MODE=build    fill a fresh Dovecot maildir through IMAP: APPENDs (Dovecot stores
#                 them with bare LF line ends), flags and keywords, nested folders with
#                 non-ASCII names, subscriptions, expunges (gaps in the UIDs)
#   MODE=compare  print what each server shows of every mailbox and fail on any
#                 difference: LIST, LSUB, LIST (SUBSCRIBED), STATUS (UIDVALIDITY UIDNEXT
#                 MESSAGES), UID FETCH 1:* (UID FLAGS), RFC822.SIZE and BODY[]
# Environment: DOVECOT (the command line), IMAP (mailyard's port), USER, PASS,
# EXTRA_OK (mailbox names only mailyard may have, empty: comma separated).
import hashlib
import imaplib
import os
import re
import sys

# Mailbox names on the wire (modified UTF-7, '.' separated).
FOLDERS = [
    "Entw&APw-rfe",              # Entwürfe
    "Entw&APw-rfe.Privat",
    "Caf&AOk-.Men&APw-.D&AOk-j&AOA-",   # Café.Menü.Déjà
    "&ZeVnLIqe-",                # 日本語
    "Lists.rust",
]


def dovecot():
    return imaplib.IMAP4_stream(os.environ["DOVECOT"])


def mailyard():
    m = imaplib.IMAP4("127.0.0.1", int(os.environ["IMAP"]), timeout=30)
    m.login(os.environ["USER"], os.environ["PASS"])
    return m


def ok(resp):
    typ, data = resp
    assert typ == "OK", (typ, data)
    return data


def message(i, lf):
    nl = b"\n" if lf else b"\r\n"
    lines = [
        b"From: Bob <bob@example.net>",
        b"To: alice@example.com",
        ("Subject: message %d" % i).encode(),
        ("Message-ID: <%d@example.net>" % i).encode(),
        b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: 8bit",
        b"",
        ("Hello %d, caf\u00e9" % i).encode(),
        b"line two",
    ]
    if i % 4 == 0:
        lines += [b"x" * 70] * 1500  # ~100 KiB
    return nl.join(lines) + nl


def append(m, box, flags, data):
    # imaplib turns every line end into CRLF on the wire; Dovecot stores the message
    # with bare LF line ends (mail_save_crlf = no), as it does with every delivery.
    ok(m.append(box, flags, None, data))


def build():
    m = dovecot()
    flags = [
        "(\\Seen)",
        "(\\Flagged $Label1)",
        "(\\Answered \\Seen Junk)",
        None,
        "(\\Draft)",
        "(\\Seen $Forwarded NonJunk)",
        "(\\Deleted)",
        "(\\Seen)",
        None,
        "($Label2 \\Flagged)",
    ]
    for i, f in enumerate(flags):
        append(m, "INBOX", f, message(i, i % 2 == 0))
    for name in FOLDERS:
        ok(m.create(name))
    for j, name in enumerate(FOLDERS):
        for k in range(3):
            append(m, name, "(\\Seen $Project%d)" % k if k else None, message(100 + 10 * j + k, k != 1))
    ok(m.subscribe("INBOX"))
    ok(m.subscribe(FOLDERS[0]))
    ok(m.subscribe(FOLDERS[2]))
    ok(m.subscribe(FOLDERS[3]))
    ok(m.select("INBOX"))
    # Flag changes after delivery; expunge two so the UIDs have gaps.
    ok(m.uid("STORE", "4", "+FLAGS", "(\\Seen $Label3)"))
    ok(m.uid("STORE", "2", "-FLAGS", "($Label1)"))
    ok(m.uid("STORE", "3", "+FLAGS", "(\\Deleted)"))
    ok(m.expunge())  # UIDs 3 and 7
    ok(m.uid("COPY", "1:2", FOLDERS[1]))
    ok(m.select(FOLDERS[4]))
    ok(m.uid("STORE", "3", "+FLAGS", "(\\Deleted)"))
    ok(m.expunge())  # the last UID: UIDNEXT stays above it
    m.logout()
    print("built")


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


LIST_RE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?:"."|NIL) (?P<name>.*)$')


def names(lines, selectable=False):
    out = []
    for line in lines:
        if line is None:
            continue
        assert not isinstance(line, tuple), line  # no literal names here
        mm = LIST_RE.match(line)
        assert mm, line
        attrs = mm.group("attrs").lower()
        if selectable and (b"\\noselect" in attrs or b"\\nonexistent" in attrs):
            continue
        n = mm.group("name").decode()
        if n.startswith('"'):
            n = n[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out.append(n)
    return sorted(out)


def snapshot(m):
    listed = ok(m.list('""', "*"))
    boxes = names(listed, selectable=True)
    snap = {"list": names(listed), "lsub": names(ok(m.lsub('""', "*"))), "boxes": boxes}
    typ, data = m._simple_command("LIST", '(SUBSCRIBED)', '""', '"*"')
    assert typ == "OK", data
    subscribed = []
    for line in m.untagged_responses.pop("LIST", []):
        mm = LIST_RE.match(line)
        if mm and b"\\Subscribed" in mm.group("attrs"):
            n = mm.group("name").decode()
            subscribed.append(n[1:-1] if n.startswith('"') else n)
    snap["subscribed"] = sorted(subscribed)
    for box in boxes:
        status = ok(m.status(quote(box), "(UIDVALIDITY UIDNEXT MESSAGES)"))[0].decode()
        fields = dict(re.findall(r"(UIDVALIDITY|UIDNEXT|MESSAGES) (\d+)", status))
        ok(m.select(quote(box), readonly=True))
        msgs = {}
        if fields["MESSAGES"] != "0":
            for line in ok(m.uid("FETCH", "1:*", "(UID FLAGS)")):
                mm = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", line)
                assert mm, line
                fl = sorted(f for f in mm.group(2).decode().split() if f != "\\Recent")
                msgs[int(mm.group(1))] = {"flags": fl}
            for item in ok(m.uid("FETCH", "1:*", "(UID RFC822.SIZE BODY.PEEK[])")):
                if not isinstance(item, tuple):
                    continue
                head, body = item
                uid = int(re.search(rb"UID (\d+)", head).group(1))
                size = int(re.search(rb"RFC822.SIZE (\d+)", head).group(1))
                msgs[uid]["size"] = size
                msgs[uid]["body_len"] = len(body)
                msgs[uid]["body_sha"] = hashlib.sha256(body).hexdigest()[:16]
                msgs[uid]["bare_lf"] = b"\n" in body.replace(b"\r\n", b"")
        snap[box] = {"status": fields, "messages": msgs}
        ok(m.close())
    return snap


def compare():
    d = dovecot()
    dv = snapshot(d)
    d.logout()
    y = mailyard()
    my = snapshot(y)
    y.logout()
    extra_ok = set(filter(None, os.environ.get("EXTRA_OK", "").split(",")))
    problems = []
    for key in ("list", "boxes", "lsub", "subscribed"):
        a, b = set(dv[key]), set(my[key])
        if a - b:
            problems.append("%s: only Dovecot has %s" % (key, sorted(a - b)))
        if b - a - extra_ok:
            problems.append("%s: only mailyard has %s" % (key, sorted(b - a - extra_ok)))
    for box in dv["boxes"]:
        if box not in my:
            continue
        if dv[box] != my[box]:
            problems.append("%s differs:\n  dovecot  %r\n  mailyard %r" % (box, dv[box], my[box]))
    for box in set(my["boxes"]) - set(dv["boxes"]):
        if my[box]["status"]["MESSAGES"] != "0":
            problems.append("%s: only mailyard has it, with mail" % box)
    total = sum(len(dv[b]["messages"]) for b in dv["boxes"])
    bare = sum(1 for b in dv["boxes"] for v in dv[b]["messages"].values() if v.get("bare_lf"))
    print("mailboxes %d, messages %d, bodies with bare LF %d" % (len(dv["boxes"]), total, bare))
    for box in dv["boxes"]:
        st = dv[box]["status"]
        print("  %s: %s" % (box, " ".join("%s %s" % kv for kv in sorted(st.items()))))
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    assert total > 0 and bare == 0
    print("identical")


{"build": build, "compare": compare}[os.environ["MODE"]]()
