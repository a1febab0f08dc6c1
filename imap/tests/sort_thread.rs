//! SORT and THREAD (RFC 5256) end to end, driven by Python's imaplib (`M.sort`,
//! `M.thread`, `M.uid("SORT" | "THREAD", …)`) on a mailbox of crafted messages:
//! Re:/Fwd:/[list] subjects, an RFC 2047-encoded subject, References chains, a
//! missing parent, a missing Date: and a missing Message-ID.

mod common;

use common::*;

/// A message with the given header fields (None: the field is left out).
struct Mail<'a> {
    from: &'a str,
    to: &'a str,
    cc: Option<&'a str>,
    subject: &'a str,
    date: Option<&'a str>,
    id: Option<&'a str>,
    references: Option<&'a str>,
    in_reply_to: Option<&'a str>,
    body_lines: usize,
}

impl Mail<'_> {
    fn bytes(&self) -> Vec<u8> {
        let mut m = format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\n",
            self.from, self.to, self.subject
        );
        if let Some(cc) = self.cc {
            m.push_str(&format!("Cc: {cc}\r\n"));
        }
        if let Some(d) = self.date {
            m.push_str(&format!("Date: {d}\r\n"));
        }
        if let Some(id) = self.id {
            m.push_str(&format!("Message-ID: {id}\r\n"));
        }
        if let Some(r) = self.references {
            m.push_str(&format!("References: {r}\r\n"));
        }
        if let Some(r) = self.in_reply_to {
            m.push_str(&format!("In-Reply-To: {r}\r\n"));
        }
        m.push_str("\r\n");
        for i in 0..self.body_lines {
            m.push_str(&format!("body line {i}\r\n"));
        }
        m.into_bytes()
    }
}

const BASE: Mail<'static> = Mail {
    from: "x@example.net",
    to: "alice@example.com",
    cc: None,
    subject: "",
    date: None,
    id: None,
    references: None,
    in_reply_to: None,
    body_lines: 1,
};

/// Delivers a throwaway message (expunged by the scripts, so UIDs are sequence
/// numbers + 1) and then the eight crafted ones, in this order.
async fn mailbox(s: &Server) {
    let mails = [
        Mail {
            subject: "throwaway",
            ..BASE
        },
        // 1
        Mail {
            from: "Zed <zed@example.net>",
            to: "bob@example.com",
            subject: "Project plan",
            date: Some("Mon, 1 Jan 2024 10:00:00 +0000"),
            id: Some("<a@x>"),
            body_lines: 5,
            ..BASE
        },
        // 2
        Mail {
            from: "alice@example.com",
            to: "carol@example.com",
            cc: Some("Dave <dave@example.com>"),
            subject: "Re: Project plan",
            date: Some("Tue, 2 Jan 2024 09:00:00 +0000"),
            id: Some("<b@x>"),
            references: Some("<a@x>"),
            body_lines: 50,
            ..BASE
        },
        // 3: encoded "Fwd: Lunch"; 08:00 -0500 is 13:00 UTC.
        Mail {
            from: "\"Bob\" <bob@example.com>",
            to: "alice@example.com",
            subject: "=?utf-8?q?Fwd=3A_Lunch?=",
            date: Some("Mon, 1 Jan 2024 08:00:00 -0500"),
            id: Some("<c@x>"),
            body_lines: 20,
            ..BASE
        },
        // 4
        Mail {
            from: "carol@example.com",
            to: "zoe@example.com",
            subject: "[team] Re: Project plan",
            date: Some("Wed, 3 Jan 2024 12:00:00 +0000"),
            id: Some("<d@x>"),
            references: Some("<a@x> <b@x>"),
            body_lines: 400,
            ..BASE
        },
        // 5: no Date: sorts by INTERNALDATE (now).
        Mail {
            from: "dave@example.com",
            to: "Mallory <mallory@example.com>",
            subject: "Lunch",
            id: Some("<e@x>"),
            body_lines: 10,
            ..BASE
        },
        // 6, 7: both answer a message that is not in the mailbox.
        Mail {
            from: "erin@example.com",
            to: "bob@example.com",
            subject: "Re: lost thread",
            date: Some("Thu, 4 Jan 2024 12:00:00 +0000"),
            id: Some("<f@x>"),
            in_reply_to: Some("<missing@x>"),
            body_lines: 3,
            ..BASE
        },
        Mail {
            from: "frank@example.com",
            to: "alice@example.com",
            subject: "Re: lost thread",
            date: Some("Fri, 5 Jan 2024 12:00:00 +0000"),
            id: Some("<g@x>"),
            references: Some("<missing@x>"),
            body_lines: 7,
            ..BASE
        },
        // 8: no Message-ID.
        Mail {
            from: "<Gina@example.com>",
            to: "yves@example.com",
            subject: "Unrelated",
            date: Some("Sat, 6 Jan 2024 12:00:00 +0000"),
            body_lines: 2,
            ..BASE
        },
    ];
    for m in &mails {
        s.store
            .deliver(m.bytes(), &[s.user()])
            .await
            .expect("deliver");
    }
}

/// Shared by the scripts: select INBOX and expunge the throwaway message.
const SETUP: &str = r#"
M = login()
ok(M.select("INBOX"))
ok(M.store("1", "+FLAGS", "\\Deleted"))
ok(M.expunge())
def sort(crit, *keys, charset="UTF-8"):
    return ok(M.sort(crit, charset, *keys))[0].decode().split()
def usort(crit, *keys):
    return ok(M.uid("SORT", crit, "UTF-8", *keys))[0].decode().split()
def nums(*n):
    return [str(x) for x in n]
def bad(*args):
    try:
        tagged(M, *args)
    except M.error as e:
        assert "BAD" in str(e), e
        return
    raise AssertionError("not BAD: %r" % (args,))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sort_by_every_key() {
    let s = start().await;
    mailbox(&s).await;
    let out = s
        .python(&format!(
            "{SETUP}{}",
            r#"
caps = ok(M.capability())[0].decode().split()
for c in ["SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES"]:
    assert c in caps, caps

# DATE: the Date: header in UTC, INTERNALDATE when missing (5 is newest).
assert sort("(DATE)", "ALL") == nums(1, 3, 2, 4, 6, 7, 8, 5), sort("(DATE)", "ALL")
assert sort("(REVERSE DATE)", "ALL") == nums(5, 8, 7, 6, 4, 2, 3, 1)
# SUBJECT: base subjects, case-insensitive; ties by sequence number.
assert sort("(SUBJECT)", "ALL") == nums(6, 7, 3, 5, 1, 2, 4, 8), sort("(SUBJECT)", "ALL")
# FROM / TO: the first address's mailbox (local part), case-insensitive.
assert sort("(FROM)", "ALL") == nums(2, 3, 4, 5, 6, 7, 8, 1), sort("(FROM)", "ALL")
assert sort("(TO)", "ALL") == nums(3, 7, 1, 6, 2, 5, 8, 4), sort("(TO)", "ALL")
# CC: only 2 has one; the rest tie and fall to SUBJECT.
assert sort("(CC SUBJECT)", "ALL") == nums(6, 7, 3, 5, 1, 4, 8, 2), sort("(CC SUBJECT)", "ALL")

# SIZE and ARRIVAL against what FETCH reports (stable sorts keep mailbox order).
data = ok(M.fetch("1:*", "(RFC822.SIZE INTERNALDATE)"))
sizes = {}
for line in data:
    m = re.match(rb"(\d+) \(RFC822.SIZE (\d+) INTERNALDATE \"([^\"]+)\"\)", line)
    sizes[int(m.group(1))] = int(m.group(2))
by_size = sorted(sizes, key=lambda n: sizes[n])
assert sort("(SIZE)", "ALL") == nums(*by_size), (sort("(SIZE)", "ALL"), sizes)
by_rsize = sorted(sizes, key=lambda n: -sizes[n])
assert sort("(REVERSE SIZE)", "ALL") == nums(*by_rsize)
# Delivered in order within a second or two: never out of sequence.
arrival = [int(x) for x in sort("(ARRIVAL)", "ALL")]
assert arrival == sorted(arrival), arrival

# Search criteria are SEARCH's.
assert sort("(DATE)", "SUBJECT", "plan") == nums(1, 2, 4)
assert sort("(REVERSE DATE)", "NOT", "FROM", "zed", "SENTSINCE", "2-Jan-2024") == nums(5, 8, 7, 6, 4, 2)
assert sort("(SUBJECT)", "LARGER", "3000") == nums(4)
assert sort("(DATE)", "SUBJECT", "nothing-matches") == []
assert sort("(DATE)", "ALL", charset="US-ASCII") == nums(1, 3, 2, 4, 6, 7, 8, 5)

# UID SORT answers UIDs (one more than the sequence numbers here).
assert usort("(DATE)", "ALL") == nums(2, 4, 3, 5, 7, 8, 9, 6), usort("(DATE)", "ALL")
assert usort("(SUBJECT REVERSE DATE)", "UID", "2:4") == nums(4, 3, 2)

# Errors.
typ, text = tagged(M, "SORT", "(DATE)", "KOI8-R", "ALL")
assert typ == "NO" and b"[BADCHARSET" in text[-1], (typ, text)
bad("SORT", "(NOSUCHKEY)", "UTF-8", "ALL")

# DISPLAYFROM (RFC 5957): the decoded display name, else the address, case-insensitive;
# the oracle is Python's own header parsing.
import email, email.header, email.utils
for c in ["SORT=DISPLAY", "ESORT"]:
    assert c in caps, caps
froms = {}
for item in ok(M.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (FROM)])")):
    if isinstance(item, tuple):
        n = int(item[0].split()[0])
        hdr = email.message_from_bytes(item[1]).get("From", "")
        name, addr = email.utils.parseaddr(hdr)
        name = str(email.header.make_header(email.header.decode_header(name))) if name else ""
        froms[n] = (name or addr).lower()
want = sorted(froms, key=lambda n: (froms[n], n))
assert sort("(DISPLAYFROM)", "ALL") == nums(*want), (sort("(DISPLAYFROM)", "ALL"), froms)

# ESORT (RFC 5267 §3): an ESEARCH response in sort order.
typ, data = tagged(M, "SORT", "RETURN", "(MIN MAX COUNT ALL)", "(DATE)", "UTF-8", "ALL")
assert typ == "OK", (typ, data)
esearch = [l for l in M.untagged_responses.pop("ESEARCH", [])]
assert any(b"MIN 1 MAX 5 COUNT 8 ALL 1,3,2,4,6:8,5" in l for l in esearch), esearch
bad("SORT", "RETURN", "(SAVE)", "(DATE)", "UTF-8", "ALL")
print("sorted")
"#
        ))
        .await;
    assert!(out.contains("sorted"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thread_references_and_orderedsubject() {
    let s = start().await;
    mailbox(&s).await;
    let out = s
        .python(&format!(
            "{SETUP}{}",
            r#"
def thread(alg, *keys):
    return ok(M.thread(alg, "UTF-8", *keys))[0].decode()

# REFERENCES: 1 <- 2 <- 4 by References; 6 and 7 share a missing parent (a dummy
# with two children); 3 "Fwd: Lunch" joins 5 "Lunch" by subject (the non-forward
# leads); 8 has no Message-ID. Threads in date order of their first message.
got = thread("REFERENCES", "ALL")
assert got == "(1 2 4)((6)(7))(8)(5 3)", got
# ORDEREDSUBJECT: grouped by base subject, the first message the parent of the rest.
got = thread("ORDEREDSUBJECT", "ALL")
assert got == "(1 (2)(4))(3 5)(6 7)(8)", got
# Over a search.
got = thread("REFERENCES", "SUBJECT", "lunch")
assert got == "(5 3)", got
got = thread("REFERENCES", "NOT", "SUBJECT", "lunch")
assert got == "(1 2 4)((6)(7))(8)", got
got = thread("REFERENCES", "SUBJECT", "nothing-matches")
assert got in ("", "None"), got
# UID THREAD answers UIDs.
got = ok(M.uid("THREAD", "REFERENCES", "UTF-8", "ALL"))[0].decode()
assert got == "(2 3 5)((7)(8))(9)(6 4)", got
got = ok(M.uid("THREAD", "ORDEREDSUBJECT", "UTF-8", "ALL"))[0].decode()
assert got == "(2 (3)(5))(4 6)(7 8)(9)", got

# The raw response line, nested parentheses and all.
tag = M._command("THREAD", "REFERENCES", "UTF-8", "ALL")
lines = []
while True:
    l = M.readline()
    lines.append(l)
    if l.startswith(tag):
        break
assert lines[0] == b"* THREAD (1 2 4)((6)(7))(8)(5 3)\r\n", lines
assert b" OK " in lines[-1], lines

bad("THREAD", "NOSUCHALG", "UTF-8", "ALL")
typ, text = tagged(M, "THREAD", "REFERENCES", "KOI8-R", "ALL")
assert typ == "NO" and b"[BADCHARSET" in text[-1], (typ, text)
print("threaded")
"#
        ))
        .await;
    assert!(out.contains("threaded"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sort_and_thread_need_a_selected_mailbox() {
    let s = start().await;
    let mut c = s.raw().await;
    c.response().await;
    assert!(tagged(&c.cmd("a", &format!("LOGIN {USER} {PASS}")).await).starts_with("a OK"));
    let r = c.cmd("b", "SORT (DATE) UTF-8 ALL").await;
    assert!(tagged(&r).starts_with("b BAD"), "{r:?}");
    let r = c.cmd("c", "THREAD REFERENCES UTF-8 ALL").await;
    assert!(tagged(&r).starts_with("c BAD"), "{r:?}");
    // An empty mailbox: empty results.
    assert!(tagged(&c.cmd("d", "SELECT INBOX").await).starts_with("d OK"));
    let r = c.cmd("e", "SORT (DATE) UTF-8 ALL").await;
    assert_eq!(r[0], "* SORT\r\n", "{r:?}");
    let r = c.cmd("f", "UID THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(r[0], "* THREAD\r\n", "{r:?}");
    assert!(tagged(&r).starts_with("f OK"), "{r:?}");
}
