//! Live results (RFC 5267 §4.3, CONTEXT=SEARCH and CONTEXT=SORT) over real sessions:
//! session A keeps `SEARCH`/`SORT … RETURN (UPDATE)` results, session B changes the
//! mailbox at random (flags, new messages, expunges), and after each change A applies
//! the `ADDTO`/`REMOVEFROM` updates it hears — positions checked — to its copy of the
//! result, renumbering on EXPUNGE as a client must, and compares it with the same
//! search run afresh. Plus the limits: NOUPDATE past ten live results, duplicate tags,
//! CANCELUPDATE, and a new SELECT ending them all.

mod common;

use common::*;

/// Random steps of session B per test.
const STEPS: usize = 40;

/// A small deterministic generator (the test must not depend on luck).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// A sequence-set as the server writes it (`a:b` runs ascending), in its order.
fn numbers(set: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().expect("a"), b.parse().expect("b"));
                assert!(a <= b, "runs are written ascending: {set}");
                out.extend(a..=b);
            }
            None => out.push(part.parse().expect("number")),
        }
    }
    out
}

/// `(pos set pos set …)` after `name` in an ESEARCH line.
fn pairs(line: &str, name: &str) -> Vec<(usize, Vec<u32>)> {
    let Some(at) = line.find(&format!(" {name} (")) else {
        return Vec::new();
    };
    let rest = &line[at + name.len() + 3..];
    let inner = &rest[..rest.find(')').expect("closing paren")];
    let words: Vec<&str> = inner.split(' ').collect();
    assert!(words.len().is_multiple_of(2), "pairs in {line}");
    words
        .chunks(2)
        .map(|w| (w[0].parse().expect("position"), numbers(w[1])))
        .collect()
}

/// What a client keeps of one live result.
struct Model {
    tag: String,
    /// Sorted result (positions matter), else a SEARCH result (ascending numbers).
    sorted: bool,
    /// Sequence numbers (renumbered on EXPUNGE), else UIDs.
    seqs: bool,
    list: Vec<u32>,
}

impl Model {
    /// Applies the untagged responses of one command, in order.
    fn apply(&mut self, lines: &[String]) {
        for l in lines {
            let l = l.trim_end();
            if self.seqs
                && let Some(n) = l
                    .strip_prefix("* ")
                    .and_then(|r| r.strip_suffix(" EXPUNGE"))
                    .and_then(|n| n.parse::<u32>().ok())
            {
                assert!(
                    !self.list.contains(&n),
                    "{}: REMOVEFROM must come before the EXPUNGE of {n}: {lines:?}",
                    self.tag
                );
                for v in &mut self.list {
                    if *v > n {
                        *v -= 1;
                    }
                }
                continue;
            }
            if !l.starts_with(&format!("* ESEARCH (TAG \"{}\")", self.tag)) {
                continue;
            }
            for (pos, nums) in pairs(l, "REMOVEFROM") {
                if self.sorted {
                    let at = pos - 1;
                    assert_eq!(
                        self.list.get(at..at + nums.len()),
                        Some(&nums[..]),
                        "{}: REMOVEFROM ({pos} …) names what is there: {l} on {:?}",
                        self.tag,
                        self.list
                    );
                    self.list.drain(at..at + nums.len());
                } else {
                    assert_eq!(pos, 0, "SEARCH updates use position 0: {l}");
                    for n in nums {
                        let i = self.list.iter().position(|&v| v == n);
                        let i = i.unwrap_or_else(|| panic!("{}: {n} not in result: {l}", self.tag));
                        self.list.remove(i);
                    }
                }
            }
            for (pos, nums) in pairs(l, "ADDTO") {
                if self.sorted {
                    let at = pos - 1;
                    assert!(at <= self.list.len(), "{}: ADDTO ({pos} …): {l}", self.tag);
                    self.list.splice(at..at, nums);
                } else {
                    assert_eq!(pos, 0, "SEARCH updates use position 0: {l}");
                    self.list.extend(nums);
                    self.list.sort_unstable();
                }
            }
        }
    }
}

/// The numbers of `* SORT n…` / `* SEARCH n…` in `lines`.
fn classic(lines: &[String], name: &str) -> Vec<u32> {
    let prefix = format!("* {name}");
    lines
        .iter()
        .find_map(|l| l.trim_end().strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect()
}

/// The numbers of `ALL set` in the ESEARCH line of `tag` (empty without ALL).
fn all_of(lines: &[String], tag: &str) -> Vec<u32> {
    lines
        .iter()
        .find(|l| l.starts_with(&format!("* ESEARCH (TAG \"{tag}\")")))
        .and_then(|l| l.split(" ALL ").nth(1).map(|s| numbers(s.trim_end())))
        .unwrap_or_default()
}

/// A message whose size grows with `n % 7` (so SIZE orders and ties both happen).
fn sized(n: u64) -> Vec<u8> {
    message(&format!("m{n}"), &"x".repeat(10 * (n % 7) as usize))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_results_follow_every_change() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    for n in 0..12 {
        let flags = if n % 3 == 0 { "(\\Seen)" } else { "()" };
        let r = b.append("p", "INBOX", flags, &sized(n)).await;
        assert!(tagged(&r).starts_with("p OK"), "{r:?}");
    }
    a.cmd("s", "SELECT INBOX").await;
    b.cmd("s", "SELECT INBOX").await;

    // Four live results: sorted and not, by UID and by sequence number.
    let programs = [
        (
            "t1",
            true,
            false,
            "UID SORT RETURN (UPDATE ALL) (REVERSE SIZE) UTF-8 UNSEEN",
        ),
        (
            "t2",
            true,
            true,
            "SORT RETURN (UPDATE ALL) (SIZE) UTF-8 NOT FLAGGED",
        ),
        (
            "t3",
            false,
            true,
            "SEARCH RETURN (UPDATE ALL) OR SEEN FLAGGED",
        ),
        ("t4", false, false, "UID SEARCH RETURN (UPDATE ALL) UNSEEN"),
    ];
    let fresh = |p: &str| p.replace("RETURN (UPDATE ALL) ", "");
    let mut models = Vec::new();
    for (tag, sorted, seqs, program) in programs {
        let r = a.cmd(tag, program).await;
        assert!(tagged(&r).starts_with(&format!("{tag} OK")), "{r:?}");
        models.push(Model {
            tag: tag.into(),
            sorted,
            seqs,
            list: all_of(&r, tag),
        });
    }

    let mut rng = Lcg(7);
    let mut uids = 12;
    for step in 0..STEPS {
        // UID STORE on a UID that may be gone is a no-op, never BAD.
        let uid = 1 + rng.below(uids);
        let cmd = match rng.below(6) {
            0 => format!("UID STORE {uid} +FLAGS (\\Seen)"),
            1 => format!("UID STORE {uid} -FLAGS (\\Seen)"),
            2 => format!("UID STORE {uid} +FLAGS (\\Flagged)"),
            3 => format!("UID STORE {uid}:* -FLAGS (\\Flagged)"),
            4 => {
                uids += 1;
                let r = b.append("p", "INBOX", "()", &sized(uids)).await;
                assert!(tagged(&r).starts_with("p OK"), "{r:?}");
                "NOOP".into()
            }
            _ => format!("UID STORE {uid} +FLAGS (\\Deleted)"),
        };
        let r = b.cmd("b", &cmd).await;
        assert!(!tagged(&r).starts_with("b BAD"), "{cmd}: {r:?}");
        if rng.below(3) == 0 {
            let r = b.cmd("x", "EXPUNGE").await;
            assert!(tagged(&r).starts_with("x OK"), "{r:?}");
        }
        // A hears the changes on its next command and keeps its copies right.
        let r = a.cmd("n", "NOOP").await;
        for m in &mut models {
            m.apply(&r);
        }
        for ((tag, sorted, _, program), m) in programs.iter().zip(&models) {
            let r = a.cmd("c", &fresh(program)).await;
            let want = classic(&r, if *sorted { "SORT" } else { "SEARCH" });
            assert_eq!(
                m.list, want,
                "step {step} ({cmd}): live result {tag} drifted"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn own_changes_and_expunges_update_the_result() {
    let s = start().await;
    let mut a = s.raw_login().await;
    for n in 0..5 {
        a.append("p", "INBOX", "()", &sized(n)).await;
    }
    a.cmd("s", "SELECT INBOX").await;
    let r = a.cmd("t", "SEARCH RETURN (UPDATE) SEEN").await;
    assert_eq!(r[0].trim_end(), "* ESEARCH (TAG \"t\")", "{r:?}");
    // The session's own STORE reports the change in the same response.
    let r = a.cmd("s1", "STORE 2,4:5 +FLAGS.SILENT (\\Seen)").await;
    assert!(
        r.iter()
            .any(|l| l == "* ESEARCH (TAG \"t\") ADDTO (0 2,4:5)\r\n"),
        "{r:?}"
    );
    // EXPUNGE: REMOVEFROM with the numbers before renumbering, then the EXPUNGEs.
    a.cmd("s2", "STORE 4 +FLAGS.SILENT (\\Deleted)").await;
    let r = a.cmd("x", "EXPUNGE").await;
    let remove = r
        .iter()
        .position(|l| l == "* ESEARCH (TAG \"t\") REMOVEFROM (0 4)\r\n");
    let expunge = r.iter().position(|l| l == "* 4 EXPUNGE\r\n");
    assert!(remove.is_some() && remove < expunge, "{r:?}");
    // APPEND into the selected mailbox: EXISTS, then ADDTO.
    let r = a.append("p", "INBOX", "(\\Seen)", &sized(9)).await;
    let exists = r.iter().position(|l| l == "* 5 EXISTS\r\n");
    let add = r
        .iter()
        .position(|l| l == "* ESEARCH (TAG \"t\") ADDTO (0 5)\r\n");
    assert!(exists.is_some() && exists < add, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_cancel_and_reselect() {
    let s = start().await;
    let mut a = s.raw_login().await;
    let mut b = s.raw_login().await;
    a.append("p", "INBOX", "()", &sized(1)).await;
    a.cmd("s", "SELECT INBOX").await;
    b.cmd("s", "SELECT INBOX").await;
    for n in 1..=10 {
        let tag = format!("u{n}");
        let r = a.cmd(&tag, "SEARCH RETURN (UPDATE) FLAGGED").await;
        assert!(tagged(&r).starts_with(&format!("{tag} OK")), "{r:?}");
        assert!(!r.iter().any(|l| l.contains("NOUPDATE")), "{r:?}");
    }
    // The eleventh answers, without staying live (RFC 5267 §4.3 NOUPDATE).
    let r = a.cmd("u11", "SEARCH RETURN (UPDATE ALL) FLAGGED").await;
    assert!(
        r.iter().any(|l| l.starts_with("* NO [NOUPDATE \"u11\"]")),
        "{r:?}"
    );
    assert!(tagged(&r).starts_with("u11 OK"), "{r:?}");
    // A tag already live is refused.
    let r = a.cmd("u1", "SEARCH RETURN (UPDATE) SEEN").await;
    assert!(tagged(&r).starts_with("u1 BAD"), "{r:?}");
    let r = a.cmd("c", "CANCELUPDATE \"u1\" \"u2\"").await;
    assert!(tagged(&r).starts_with("c OK"), "{r:?}");
    let r = a.cmd("c", "CANCELUPDATE \"nope\"").await;
    assert!(tagged(&r).starts_with("c NO"), "{r:?}");
    let r = a.cmd("c", "CANCELUPDATE").await;
    assert!(tagged(&r).starts_with("c BAD"), "{r:?}");

    b.cmd("f", "STORE 1 +FLAGS (\\Flagged)").await;
    let r = a.cmd("n", "NOOP").await;
    let updated: Vec<&String> = r.iter().filter(|l| l.contains("ADDTO (0 1)")).collect();
    assert_eq!(updated.len(), 8, "u3..u10 are live, u1, u2, u11 not: {r:?}");
    assert!(
        !r.iter()
            .any(|l| l.contains("\"u1\"") || l.contains("\"u11\""))
    );

    // Leaving the mailbox ends every live result.
    a.cmd("s", "SELECT INBOX").await;
    b.cmd("f", "STORE 1 -FLAGS (\\Flagged)").await;
    let r = a.cmd("n", "NOOP").await;
    assert!(!r.iter().any(|l| l.contains("ESEARCH")), "{r:?}");
    let r = a.cmd("c", "CANCELUPDATE \"u3\"").await;
    assert!(tagged(&r).starts_with("c NO"), "{r:?}");
}
