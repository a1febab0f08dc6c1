#!/usr/bin/env python3
"""Differential check of message rendering against a running Dovecot.

    dovecot-diff.py MAILYARD_PORT DOVECOT_PORT USER PASS MBOX... [--show N]

APPENDs every message of the given mbox files (CRLF line ends) to a fresh mailbox
"diff" on both servers, then FETCHes the same items from each and prints every
difference: RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE and body sections (parts,
nested parts, MIME headers, TEXT of encapsulated messages). A string sent quoted by
one server and as a literal by the other is the same value (RFC 9051 §4.3).
Exit status 1 when anything differs. Dovecot is the reference where RFCs leave room.

Used with tests/bench/peers.sh's Dovecot or any Dovecot 2.3 on loopback; imaptest's
tests/*.mbox and tests/imaptest/make-mbox.py's output make a good corpus.
"""
import imaplib
import mailbox
import re
import sys

ITEMS = ["RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE", "BODY.PEEK[1]",
         "BODY.PEEK[1.MIME]", "BODY.PEEK[2]", "BODY.PEEK[1.1]", "BODY.PEEK[2.1]",
         "BODY.PEEK[TEXT]", "BODY.PEEK[2.HEADER]", "BODY.PEEK[1.TEXT]",
         "BODY.PEEK[2.1.1]", "BODY.PEEK[3]"]


def quote(b):
    return '"' + b.decode("latin1").replace("\\", "\\\\").replace('"', '\\"') + '"'


def norm(data):
    out = []
    for x in data:
        if isinstance(x, tuple):
            head = x[0].decode("latin1")
            m = re.search(r"\{\d+\}$", head)
            out.append((head[:m.start()] if m else head) + quote(x[1]))
        else:
            out.append(x.decode("latin1"))
    return re.sub(r"^\d+ \(", "(", "".join(out))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--show")]
    show = 30
    for a in sys.argv[1:]:
        if a.startswith("--show="):
            show = int(a.split("=", 1)[1])
    my_port, dv_port, user, password, *mboxes = args
    msgs = []
    for f in mboxes:
        for m in mailbox.mbox(f, create=False):
            raw = m.as_bytes(unixfrom=False).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            msgs.append((f.rsplit("/", 1)[-1], raw))
    servers = []
    for port in (my_port, dv_port):
        c = imaplib.IMAP4("127.0.0.1", int(port))
        c.login(user, password)
        c.delete("diff")
        c.create("diff")
        c.select("diff")
        for _, raw in msgs:
            typ, data = c.append("diff", None, None, raw)
            if typ != "OK":
                sys.exit(f"APPEND on port {port}: {data}")
        servers.append(c)
    diffs = 0
    for i, (name, _) in enumerate(msgs, 1):
        for item in ITEMS:
            a, b = (norm(c.fetch(str(i), f"({item})")[1]) for c in servers)
            if a != b:
                diffs += 1
                if diffs <= show:
                    print(f"=== {name} #{i} {item}\n mailyard: {a}\n dovecot:  {b}")
    print(f"messages {len(msgs)}, items {len(ITEMS)}, differences {diffs}")
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
