"""Replays Thunderbird 153's first sync of a 2,000-message folder with 5 parallel
connections, as ../shared/clients/thunderbird.md records it, and prints the wall time.

    thunderbird-sync.py PORT fill     # once: (re)creates folder "tbsync" with 2,000
                                      # messages from MBOX, and the special folders
    thunderbird-sync.py PORT sync     # the timed first sync

Environment: TB_USER, TB_PASS (default tb@example.com / pass), TB_MBOX (default
/tmp/stress.mbox, e.g. from tests/imaptest/make-mbox.py). One connection discovers
folders (NAMESPACE, ID, LIST (SUBSCRIBED) RETURN (SPECIAL-USE), STATUS of each); four
each select a folder and do ID, SELECT, GETQUOTAROOT (when QUOTA is offered),
UID FETCH 1:* (FLAGS), the header fetch in chunks of 200 UIDs (Thunderbird's
hdr_chunk_size), NOOP, then the offline download of whole messages in chunks of 50.
Run it against mailyard and a Dovecot with the same account, alternating."""
import imaplib, mailbox, sys, threading, time
imaplib.Commands["ID"] = ("NONAUTH", "AUTH", "SELECTED")
port = int(sys.argv[1]); mode = sys.argv[2]
import os
USER, PASS = os.environ.get("TB_USER", "tb@example.com"), os.environ.get("TB_PASS", "pass")
BOX, N = "tbsync", 2000
HDR = "(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To Received)])"
def login():
    M = imaplib.IMAP4("127.0.0.1", port); M.login(USER, PASS); return M
if mode == "fill":
    M = login(); M.delete(BOX); M.create(BOX)
    for f in ("Drafts", "Sent", "Trash", "Junk", "Archive"):
        M.create(f)
    msgs = [m.as_bytes(unixfrom=False).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            for m in mailbox.mbox(os.environ.get("TB_MBOX", "/tmp/stress.mbox"), create=False)]
    for i in range(N):
        M.append(BOX, None, None, msgs[i % len(msgs)])
    print("filled", M.select(BOX)); sys.exit(0)
errors = []
def folder(name, chunk_hdr=200, chunk_body=50):
    try:
        M = login()
        M._simple_command("ID", '("name" "Thunderbird" "version" "153.7.0")')
        typ, d = M.select(name); n = int(d[0])
        if "QUOTA" in M.capabilities:
            M._simple_command("GETQUOTAROOT", name)
        M.uid("FETCH", "1:*", "(FLAGS)")
        typ, d = M.uid("SEARCH", None, "ALL"); uids = d[0].split()
        for i in range(0, len(uids), chunk_hdr):
            part = uids[i:i + chunk_hdr]
            typ, d = M.uid("FETCH", b"%s:%s" % (part[0], part[-1]), HDR)
            assert typ == "OK", d
        M.noop()
        for i in range(0, len(uids), chunk_body):
            part = uids[i:i + chunk_body]
            typ, d = M.uid("FETCH", b"%s:%s" % (part[0], part[-1]), "(UID RFC822.SIZE BODY.PEEK[])")
            assert typ == "OK", d
        M.logout()
    except Exception as e:
        errors.append(repr(e))
def discovery():
    try:
        M = login()
        M._simple_command("NAMESPACE")
        M._simple_command("ID", '("name" "Thunderbird" "version" "153.7.0")')
        M._simple_command("LIST", '(SUBSCRIBED)', '""', '"*"', 'RETURN', '(SPECIAL-USE)')
        M.list('""', "INBOX")
        for f in ("Drafts", "Sent", "Trash", "Junk", "Archive"):
            M.status(f, "(UIDNEXT MESSAGES UNSEEN RECENT)")
        M.logout()
    except Exception as e:
        errors.append(repr(e))
t = time.perf_counter()
th = [threading.Thread(target=discovery)] + [threading.Thread(target=folder, args=(f,)) for f in (BOX, "Sent", "Drafts", "Archive")]
for x in th: x.start()
for x in th: x.join()
print(f"{time.perf_counter() - t:.2f} s", "errors:", errors)
