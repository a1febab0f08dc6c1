//! The fuzz targets' bodies: each takes arbitrary bytes, drives one pure entry
//! point of the library crates with them, and panics when an invariant the
//! code documents does not hold. A panic is what libFuzzer reports as a crash.
//!
//! `fuzz_targets/<name>.rs` calls the function of the same name under
//! libFuzzer (`cargo +nightly fuzz run <name>`), and the stable test
//! `tests/tests/fuzz_corpus.rs` includes this file and replays every seed in
//! `fuzz/corpus/<name>/` through it, so a seed that once crashed stays fixed
//! where there is no nightly toolchain.
//!
//! Invariants checked, beyond "no panic, no hang, no unbounded allocation":
//! - the receivers give the same events whether the input arrives whole, in
//!   two reads or one byte at a time (a client chooses how its bytes are cut);
//! - SMTP DATA ends exactly after the first CRLF "." CRLF, its message is the
//!   unstuffed text, and bare CR/LF, size and line limits are reported in the
//!   documented order; BDAT takes chunks as they are;
//! - the MIME caps' copy of a message keeps its length and line ends; the shape
//!   the store keeps at delivery survives its binary form, its spans lie inside
//!   the message, and ENVELOPE, BODY, BODYSTRUCTURE and every part's structure
//!   (URLFETCH's BODYPARTSTRUCTURE) render as lists;
//! - POP3: lines never exceed the limit in force and never keep more than it
//!   unconsumed; a command that parses has the keyword it was sent with, is allowed
//!   in some state, and parses the same with its keyword in another case; a refusal
//!   is one `-ERR` line;
//! - mailbox names: modified UTF-7 round-trips, `to_dir` never leaves the
//!   user's maildir and `from_dir` is its inverse;
//! - the local submission request (sendmail's socket): its head parses the same
//!   however it is cut, ends inside the input, and what the client would send
//!   for it parses back to it;
//! - Sieve scripts: errors point inside the script (1-based line and column), a
//!   script that compiles runs to a result or a runtime error within the limits,
//!   and a trailing comment never changes whether it compiles.

use mailyard_imap::proto::body_render;
use mailyard_imap::proto::command::{self, Command};
use mailyard_imap::proto::receiver::{self, Limits, Mode};
use mailyard_message::{Kind, Part, Shape, codec, limits as mime_limits};
use mailyard_pop3::proto::command as pop3_command;
use mailyard_pop3::proto::receiver as pop3_receiver;
use mailyard_pop3::proto::response as pop3_response;
use mailyard_smtp::proto::transcript;
use mailyard_smtp::proto::{BdatEvent, BdatReceiver, DataOutcome, DataReceiver, MAX_DATA_LINE};
use mailyard_store::mailbox_name;

/// A target's body: panics on a broken invariant.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory and fuzz target.
pub const TARGETS: &[(&str, Target)] = &[
    ("imap_receiver", imap_receiver),
    ("pop3_receiver", pop3_receiver),
    ("smtp_command", smtp_command),
    ("smtp_data", smtp_data),
    ("mime_summary", mime_summary),
    ("mailbox_name", mailbox_name),
    ("sendmail_request", sendmail_request),
    ("sieve_script", sieve_script),
];

/// Inputs up to this size are also fed one byte at a time (longer ones in
/// reads of this many bytes, to keep each run fast).
const BYTEWISE_MAX: usize = 1024;

/// A second cut point that depends on the input, so that every offset gets
/// tried as the corpus evolves.
fn cut_of(data: &[u8]) -> usize {
    let h = data.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    h as usize % (data.len() + 1)
}

/// `data` as the reads a slow client makes.
fn small_reads(data: &[u8]) -> Vec<&[u8]> {
    let step = if data.len() <= BYTEWISE_MAX { 1 } else { 61 };
    data.chunks(step).collect()
}

/// IMAP: the command receiver (framing, literals, limits, line mode) and the
/// command parser on every command it frames.
pub fn imap_receiver(data: &[u8]) {
    let small = Limits {
        max_line: 64,
        max_literal: 32,
        max_command: 48,
    };
    for limits in [Limits::default(), small] {
        // What a session does after a command: IDLE and an AUTHENTICATE
        // without initial response read one line next.
        let next_mode = |c: &[u8]| match command::parse(c) {
            Ok(r)
                if matches!(
                    r.command,
                    Command::Idle
                        | Command::Authenticate {
                            initial_response: None,
                            ..
                        }
                ) =>
            {
                Mode::Line
            }
            _ => Mode::Command,
        };
        let whole = receiver::replay(limits, &[data], next_mode);
        let (a, b) = data.split_at(cut_of(data));
        assert_eq!(
            receiver::replay(limits, &[a, b], next_mode),
            whole,
            "split at {}",
            a.len()
        );
        assert_eq!(
            receiver::replay(limits, &small_reads(data), next_mode),
            whole,
            "small reads"
        );
        for event in &whole {
            match event {
                receiver::Event::Command(c) => {
                    let parsed = command::parse(c);
                    if let Ok(r) = &parsed {
                        assert_eq!(receiver::tag_of(c).as_deref(), Some(r.tag.as_str()));
                    }
                }
                receiver::Event::Line(l) => {
                    let _ = command::parse_auth_response(l);
                    let _ = command::is_idle_done(l);
                }
                _ => {}
            }
        }
    }
}

/// POP3: the line receiver (bounded lines, the longer limit for SASL responses after
/// `AUTH`) and the command parser on every command line it frames.
pub fn pop3_receiver(data: &[u8]) {
    use pop3_command::Command;
    use pop3_receiver::{Event, MAX_COMMAND_LINE, MAX_SASL_LINE};
    for (command_max, sasl_max) in [(MAX_COMMAND_LINE, MAX_SASL_LINE), (16, 40)] {
        // What a session does after a line: `AUTH PLAIN` or `AUTH LOGIN` without an
        // initial response reads one or two SASL lines at the longer limit (LOGIN with
        // one, the password line); a line over the limit there ends the exchange.
        let next_max = || {
            let mut sasl_lines = 0;
            move |ev: &Event| {
                match ev {
                    Event::Line(line) if sasl_lines == 0 => {
                        if let Ok(Command::Auth {
                            mechanism: Some(m),
                            initial,
                        }) = pop3_command::parse(line)
                        {
                            sasl_lines = match (m.as_str(), initial.is_some()) {
                                ("PLAIN", false) | ("LOGIN", true) => 1,
                                ("LOGIN", false) => 2,
                                _ => 0,
                            };
                        }
                    }
                    Event::Line(_) => sasl_lines -= 1,
                    _ => sasl_lines = 0,
                }
                if sasl_lines > 0 {
                    sasl_max
                } else {
                    command_max
                }
            }
        };
        let whole = pop3_receiver::replay(command_max, &[data], next_max());
        let (a, b) = data.split_at(cut_of(data));
        assert_eq!(
            pop3_receiver::replay(command_max, &[a, b], next_max()),
            whole,
            "split at {}",
            a.len()
        );
        assert_eq!(
            pop3_receiver::replay(command_max, &small_reads(data), next_max()),
            whole,
            "small reads"
        );
        for event in &whole {
            let Event::Line(line) = event else { continue };
            let parsed = pop3_command::parse(line);
            match &parsed {
                Ok(c) => {
                    let text = std::str::from_utf8(line).expect("a command is UTF-8");
                    let keyword = text.split(' ').next().unwrap_or_default();
                    assert!(
                        keyword.eq_ignore_ascii_case(c.name()),
                        "{c:?} from {text:?}"
                    );
                    assert!(!c.allowed_in().is_empty(), "{c:?} allowed nowhere");
                    match c {
                        Command::User(name) => assert!(!name.is_empty() && !name.contains(' ')),
                        Command::Pass(password) => assert!(!password.is_empty()),
                        Command::Auth {
                            mechanism: Some(m), ..
                        } => assert_eq!(*m, m.to_ascii_uppercase()),
                        _ => {}
                    }
                    // Keywords are case-insensitive (RFC 1939 §3).
                    let mut other_case = line.clone();
                    let k = keyword.len();
                    other_case[..k].make_ascii_lowercase();
                    assert_eq!(pop3_command::parse(&other_case), parsed, "{text:?}");
                }
                Err(e) => {
                    let mut reply = Vec::new();
                    pop3_response::err(&mut reply, None, &e.to_string());
                    assert!(reply.ends_with(b"\r\n"));
                    assert_eq!(
                        reply.iter().filter(|&&b| b == b'\n').count(),
                        1,
                        "{reply:?}"
                    );
                }
            }
        }
    }
}

/// SMTP: a client's byte stream through the command line receiver, the
/// command parser, and DATA/BDAT as the commands start them.
pub fn smtp_command(data: &[u8]) {
    for max_size in [1 << 20, 64] {
        let whole = transcript::replay(data, &[], max_size);
        let cut = cut_of(data);
        assert_eq!(
            transcript::replay(data, &[cut], max_size),
            whole,
            "split at {cut}"
        );
        let step = if data.len() <= BYTEWISE_MAX { 1 } else { 61 };
        let cuts: Vec<usize> = (step..data.len()).step_by(step).collect();
        assert_eq!(
            transcript::replay(data, &cuts, max_size),
            whole,
            "small reads"
        );
        for event in &whole {
            match event {
                transcript::Event::Command(Err(e)) => {
                    let _ = e.reply().to_bytes();
                }
                transcript::Event::Message(o) => {
                    let _ = o.reply().to_bytes();
                }
                _ => {}
            }
        }
    }
}

/// What a DATA or BDAT transfer must give for the message text `body` (DATA:
/// after unstuffing, terminator removed), by the policy in
/// `smtp/src/proto/mod.rs`: bare CR or LF, then size, then line length.
fn expected_outcome(
    body: &[u8],
    had_bare: bool,
    max_size: usize,
    max_line: Option<usize>,
) -> DataOutcome {
    if had_bare {
        return DataOutcome::BareLineEnding;
    }
    if body.len() > max_size {
        return DataOutcome::TooBig;
    }
    let longest = body
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
        .max()
        .unwrap_or(0);
    if max_line.is_some_and(|max| longest + 2 > max) {
        return DataOutcome::LineTooLong;
    }
    DataOutcome::Message(body.to_vec())
}

/// Whether `text` has a CR or LF that is not part of a CRLF.
fn has_bare_line_ending(text: &[u8]) -> bool {
    text.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => text.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || text.get(i - 1) != Some(&b'\r'),
        _ => false,
    })
}

/// SMTP: the DATA receiver (end of data, dot-unstuffing, limits) and the BDAT
/// receiver, against a plain model of RFC 5321 §4.1.1.4 / RFC 3030.
pub fn smtp_data(data: &[u8]) {
    for (max_size, max_line) in [
        (1 << 20, Some(MAX_DATA_LINE)),
        (1 << 20, None),
        (40, Some(12)),
    ] {
        // The model: DATA ends at the first CRLF "." CRLF, the CRLF ending the
        // DATA command line counting as the first CRLF.
        let framed = [b"\r\n".as_slice(), data].concat();
        let end = framed.windows(5).position(|w| w == b"\r\n.\r\n");
        let (consumed, expected) = match end {
            Some(p) => {
                let stuffed = data.get(..p).unwrap_or_default();
                let mut body = Vec::with_capacity(stuffed.len());
                for line in stuffed.split_inclusive(|&b| b == b'\n') {
                    body.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
                }
                let bare = has_bare_line_ending(stuffed) || stuffed.ends_with(b"\r");
                (
                    p + 3,
                    Some(expected_outcome(&body, bare, max_size, max_line)),
                )
            }
            None => (data.len(), None),
        };
        let feed_all = |reads: &[&[u8]]| {
            let mut rx = DataReceiver::new(max_size).with_max_line(max_line);
            let mut total = 0;
            for read in reads {
                let (n, outcome) = rx.feed(read);
                assert!(n <= read.len());
                total += n;
                if outcome.is_some() {
                    assert!(rx.is_done());
                    assert_eq!(rx.received(), total as u64);
                    return (total, outcome);
                }
                assert_eq!(n, read.len(), "consumed less without an outcome");
            }
            (total, None)
        };
        let (a, b) = data.split_at(cut_of(data));
        for (reads, how) in [
            (vec![data], "whole"),
            (vec![a, b], "split"),
            (small_reads(data), "small reads"),
        ] {
            let (n, outcome) = feed_all(&reads);
            assert_eq!(n, consumed, "DATA consumed ({how})");
            assert_eq!(outcome, expected, "DATA outcome ({how})");
        }

        // BDAT: the input in chunks cut where the hash says, the last LAST.
        let cut = cut_of(data);
        for binary in [false, true] {
            let mut rx = BdatReceiver::new(max_size).with_max_line(max_line);
            if binary {
                rx = rx.binary();
            }
            let chunks = [
                data.get(..cut).unwrap_or_default(),
                data.get(cut..).unwrap_or_default(),
            ];
            let mut done = None;
            for (i, chunk) in chunks.iter().enumerate() {
                let last = i + 1 == chunks.len();
                rx.start_chunk(chunk.len() as u64, last);
                let mut rest: &[u8] = chunk;
                loop {
                    let (n, event) = rx.feed(rest);
                    rest = rest.get(n..).unwrap_or_default();
                    match event {
                        Some(BdatEvent::ChunkComplete { size }) => {
                            assert!(!last && rest.is_empty() && size == chunk.len() as u64);
                            break;
                        }
                        Some(BdatEvent::Done(o)) => {
                            assert!(last && rest.is_empty());
                            done = Some(o);
                            break;
                        }
                        None => assert!(n > 0 || rest.is_empty(), "BDAT stalled"),
                    }
                    if rest.is_empty() && n == 0 {
                        break;
                    }
                }
            }
            let expected = if binary {
                expected_outcome(data, false, max_size, None)
            } else {
                expected_outcome(data, has_bare_line_ending(data), max_size, max_line)
            };
            assert_eq!(done, Some(expected), "BDAT outcome (binary: {binary})");
        }
    }
}

/// The store's summary of a message at delivery (the MIME part and depth caps, the
/// shape and its stored form, the header fields for SEARCH and SORT), and what IMAP
/// renders from it: ENVELOPE, BODY, BODYSTRUCTURE and single parts' structures.
pub fn mime_summary(data: &[u8]) {
    // The part and depth caps rewrite a copy that keeps every offset and line end.
    let src = mime_limits::structure_source(data);
    assert_eq!(src.len(), data.len(), "the capped copy moved offsets");
    for (a, b) in src.iter().zip(data) {
        assert!(
            a == b || !matches!((a, b), (b'\r' | b'\n', _) | (_, b'\r' | b'\n')),
            "the capped copy changed a line end"
        );
    }
    let stored = mailyard_store::stored_shape(data);
    let shape = codec::decode(&stored).expect("the stored shape decodes");
    assert_eq!(shape, Shape::parse(data), "the stored shape round-trips");
    // Every span of the stored message lies inside it, header before body.
    fn within(part: &Part, len: usize) {
        assert!(part.header.start <= part.header.end && part.body.start <= part.body.end);
        assert!(
            part.body.end as usize <= len,
            "span {:?} past {len}",
            part.body
        );
        match &part.kind {
            Kind::Multipart { parts, .. } => parts.iter().for_each(|p| within(p, len)),
            Kind::Message(enc) if !enc.decoded => {
                if let Some(m) = &enc.message {
                    within(&m.root, len);
                }
            }
            _ => {}
        }
    }
    within(&shape.root, data.len());
    for utf8 in [false, true] {
        let mut out = Vec::new();
        body_render::envelope(&mut out, &shape.envelope, utf8);
        assert!(
            out.starts_with(b"(") && out.ends_with(b")"),
            "envelope {out:?}"
        );
        for extended in [false, true] {
            let mut out = Vec::new();
            body_render::body_structure(&mut out, &shape, extended, utf8);
            assert!(out.starts_with(b"(") && out.ends_with(b")"), "body {out:?}");
        }
        for part in [&[][..], &[1], &[2], &[1, 1], &[1, 2], &[2, 1], &[1, 1, 1]] {
            let mut out = Vec::new();
            if body_render::part_structure(&mut out, &shape, part, utf8) {
                assert!(
                    out.starts_with(b"(") && out.ends_with(b")"),
                    "part {part:?}: {out:?}"
                );
            } else {
                assert!(out.is_empty(), "part {part:?}");
            }
        }
    }
}

/// Mailbox names: the modified UTF-7 codec, validation, the directory mapping
/// and LIST pattern matching (pattern and name split at the first LF).
pub fn mailbox_name(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();

    let encoded = mailbox_name::utf7_encode(s);
    assert!(
        encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "{encoded:?}"
    );
    if !s.contains('\0') {
        assert_eq!(mailbox_name::utf7_decode(&encoded).as_deref(), Some(s));
    }
    if let Some(decoded) = mailbox_name::utf7_decode(s) {
        assert_eq!(mailbox_name::utf7_encode(&decoded), s, "not canonical");
    }

    match mailbox_name::to_dir(s) {
        Ok(dir) => {
            let name = mailbox_name::normalize(s).expect("to_dir accepted it");
            assert_eq!(mailbox_name::normalize(&name).as_deref(), Ok(name.as_str()));
            if dir.is_empty() {
                assert_eq!(name, "INBOX");
            } else {
                assert!(dir.len() <= mailbox_name::NAME_MAX, "{dir:?}");
                let rest = dir.strip_prefix('.').expect("a folder starts with '.'");
                assert!(
                    rest.bytes()
                        .all(|b| (0x20..=0x7e).contains(&b) && b != b'/' && b != b'\\'),
                    "{dir:?}"
                );
                assert!(rest.split('.').all(|c| !c.is_empty()), "{dir:?}");
                assert_eq!(mailbox_name::from_dir(&dir), Some(name));
            }
        }
        Err(_) => assert!(mailbox_name::normalize(s).is_err()),
    }
    if let Some(name) = mailbox_name::from_dir(s) {
        assert_eq!(mailbox_name::to_dir(&name).as_deref(), Ok(s));
    }

    let (pattern, name) = s.split_once('\n').unwrap_or((s, s));
    let _ = mailbox_name::list_matches(pattern, name);
}

/// The local submission socket's request head (`smtp/src/sendmail/protocol.rs`):
/// the same outcome whole, after a cut and in small reads (the first that is not
/// "need more" counts), the head within the input, the DATA length within the
/// limit, the reply line for a refusal one line, and the client's encoding of a
/// parsed head parses back to it.
pub fn sendmail_request(data: &[u8]) {
    use mailyard_smtp::sendmail::protocol::{End, Limits, encode_head, encode_reply, parse_head};
    for limits in [
        Limits {
            max_recipients: 100,
            message_size: 25 << 20,
        },
        Limits {
            max_recipients: 2,
            message_size: 16,
        },
    ] {
        let whole = parse_head(data, &limits);
        let fed = |reads: Vec<&[u8]>| {
            let mut buf = Vec::new();
            let mut got = Ok(None);
            for r in reads {
                buf.extend_from_slice(r);
                got = parse_head(&buf, &limits);
                if !matches!(got, Ok(None)) {
                    break;
                }
            }
            got
        };
        let cut = cut_of(data);
        assert_eq!(
            fed(vec![&data[..cut], &data[cut..]]),
            whole,
            "split at {cut}"
        );
        assert_eq!(fed(small_reads(data)), whole, "small reads");
        match &whole {
            Ok(Some(head)) => {
                assert!(head.consumed <= data.len());
                if let End::Data(n) = head.end {
                    assert!(n <= limits.message_size);
                }
                let encoded = encode_head(&head.submission, head.end).expect("encodes");
                let again = parse_head(&encoded, &limits)
                    .expect("parses back")
                    .expect("whole");
                assert_eq!(again.submission, head.submission);
                assert_eq!(again.end, head.end);
            }
            Ok(None) => {}
            Err(f) => {
                let line = encode_reply(&Err(f.clone()));
                assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            }
        }
    }
}

/// A message for `sieve_script` to run against.
struct SieveMessage;

impl mailyard_sieve::MessageView for SieveMessage {
    fn header_raw(&self, name: &str) -> Vec<String> {
        match name.to_ascii_lowercase().as_str() {
            "from" => vec!["\"A, B\" <a+b@example.org>".into()],
            "to" => vec!["c@example.com, d@example.com".into()],
            "subject" => vec!["[list] hello *?".into()],
            "date" => vec!["Tue, 1 Dec 2026 10:00:00 +0100".into()],
            "message-id" => vec!["<m@example.org>".into()],
            _ => Vec::new(),
        }
    }
    fn header_decoded(&self, name: &str) -> Vec<String> {
        self.header_raw(name)
    }
    fn body(&self, _: &mailyard_sieve::interpret::BodyTransform) -> Vec<String> {
        vec!["body text\r\n".into()]
    }
    fn size(&self) -> u64 {
        1234
    }
    fn mailbox_exists(&self, name: &str) -> bool {
        name == "INBOX"
    }
    fn duplicate(&self, _: &str, id: &str, _: u64, _: bool) -> bool {
        id.len().is_multiple_of(2)
    }
    fn include(&self, name: &str, _: bool) -> Option<std::sync::Arc<mailyard_sieve::Script>> {
        mailyard_sieve::compile(name).ok().map(std::sync::Arc::new)
    }
}

/// Sieve script text through `mailyard_sieve::compile_bytes` and, when it compiles,
/// `run` (the input ManageSieve's PUTSCRIPT and `mailyard sieve check` take).
pub fn sieve_script(data: &[u8]) {
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let compiled = mailyard_sieve::compile_bytes(data);
    match &compiled {
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(e.line >= 1 && e.line <= lines && e.column >= 1, "{e:?}");
            }
        }
        Ok(script) => {
            let now = mailyard_sieve::date::DateTime::from_timestamp(1_800_000_000, 60);
            let env = mailyard_sieve::Envelope {
                from: "a+b@example.org".into(),
                to: "c@example.com".into(),
                auth: None,
                now,
                own_addresses: Vec::new(),
            };
            let limits = mailyard_sieve::Limits::default();
            if let Ok(outcome) = mailyard_sieve::run(script, &SieveMessage, &env, &limits) {
                assert!(outcome.actions.len() <= limits.max_actions + 1);
                assert!(!outcome.actions.is_empty() || !outcome.implicit_keep);
            }
        }
    }
    // A comment on a line of its own after the script changes nothing (a script
    // ending inside a bracket comment or a multi-line string stays broken).
    if let Ok(text) = std::str::from_utf8(data)
        && text.len() < mailyard_sieve::parser::MAX_SCRIPT_SIZE - 16
        && compiled.is_ok()
    {
        assert!(mailyard_sieve::compile(&format!("{text}\n# end\n")).is_ok());
    }
}
