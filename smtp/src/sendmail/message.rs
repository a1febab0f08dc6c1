//! What `sendmail` does to a message before it is submitted, as Postfix's `sendmail`
//! and `cleanup` do it. Pure: bytes in, bytes out.
//!
//! - Input lines end in LF or CRLF; the result has CRLF everywhere (RFC 5322 §2.1).
//! - Without `-i`, a line holding a single `.` ends the input (sendmail(8)); nothing
//!   is un-stuffed (that is SMTP's business, not the command line's).
//! - A leading mbox `From ` line is dropped (Postfix does the same).
//! - Header lines are those up to the first empty line; a line that is neither a
//!   field nor a continuation starts the body (an empty line is put before it).
//! - Missing `From:`, `Date:` and `Message-ID:` fields are added (RFC 5322 §3.6
//!   requires `From:` and `Date:`; RFC 6409 §8 lets a submission agent complete a
//!   message).
//! - `Bcc:` fields are removed (RFC 5322 §3.6.3: blind recipients must not be shown
//!   to the others), after `-t` has read them.

use std::io::BufRead;

use crate::proto::fields;

/// Why the input could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum InputError {
    /// Longer than the limit (`[limits] message_size`).
    TooBig(u64),
    /// stdin could not be read.
    Io(String),
}

/// Reads the message from `input` (see the module docs), at most `max` octets of it.
pub fn read_input(
    input: &mut impl BufRead,
    ignore_dots: bool,
    max: u64,
) -> Result<Vec<u8>, InputError> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        // One more octet than allowed tells a line that reaches the limit from one
        // over it.
        let room = max.saturating_sub(out.len() as u64).saturating_add(2);
        let n = std::io::Read::take(&mut *input, room)
            .read_until(b'\n', &mut line)
            .map_err(|e| InputError::Io(e.to_string()))?;
        if n == 0 {
            break;
        }
        let ended = line.ends_with(b"\n");
        if ended {
            line.pop();
        }
        if line.ends_with(b"\r") {
            line.pop();
        }
        if !ended && n as u64 >= room {
            return Err(InputError::TooBig(max));
        }
        if std::mem::take(&mut first) && line.starts_with(b"From ") {
            continue;
        }
        if !ignore_dots && line == b"." {
            break;
        }
        out.extend_from_slice(&line);
        out.extend_from_slice(b"\r\n");
        if out.len() as u64 > max {
            return Err(InputError::TooBig(max));
        }
    }
    Ok(out)
}

/// What to complete a message with.
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    /// The address for an added `From:` field.
    pub from: &'a str,
    /// Its display name (`-F`, else the user's GECOS name).
    pub full_name: Option<&'a str>,
    /// `Date:` value to add when the message has none.
    pub date: &'a str,
    /// `Message-ID:` value (with its angle brackets) to add when the message has none.
    pub message_id: &'a str,
}

/// A message ready to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Header fields added (each with its CRLF), to be put before `message`.
    pub added: Vec<String>,
    /// The message, `Bcc:` removed.
    pub message: Vec<u8>,
    /// The addresses in `To:`, `Cc:` and `Bcc:` (for `-t`), in order.
    pub header_recipients: Vec<String>,
}

/// Splits off the header section, removes `Bcc:`, collects recipients and says what
/// to add (module docs).
pub fn prepare(input: &[u8], c: &Completion<'_>) -> Prepared {
    // Header lines: up to the empty line, or up to the first line that is not a
    // field or continuation (then an empty line is inserted before it).
    let mut header: Vec<&[u8]> = Vec::new();
    let mut pos = 0;
    let mut body_start: Option<usize> = None;
    while pos < input.len() {
        let end = input[pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(input.len(), |p| pos + p + 2);
        let line = &input[pos..end];
        let content = line.strip_suffix(b"\r\n").unwrap_or(line);
        if content.is_empty() {
            body_start = Some(end);
            break;
        }
        let continuation = matches!(content[0], b' ' | b'\t') && !header.is_empty();
        if !continuation && !is_field_start(content) {
            body_start = Some(pos);
            break;
        }
        header.push(line);
        pos = end;
    }
    // Where the body starts (after the empty line, or at the first non-field line).
    let body = match body_start {
        Some(at) => &input[at..],
        None => &input[input.len()..],
    };
    // Drop Bcc: fields (and their continuation lines).
    let mut kept: Vec<u8> = Vec::with_capacity(input.len());
    let mut dropping = false;
    for line in &header {
        if matches!(line[0], b' ' | b'\t') {
            if !dropping {
                kept.extend_from_slice(line);
            }
            continue;
        }
        dropping = field_name(line).is_some_and(|n| n.eq_ignore_ascii_case("bcc"));
        if !dropping {
            kept.extend_from_slice(line);
        }
    }
    let mut with_end: Vec<u8> = header.concat();
    with_end.extend_from_slice(b"\r\n");
    let found = fields::fields(&with_end);
    let mut header_recipients = Vec::new();
    for f in &found {
        if f.is("To") || f.is("Cc") || f.is("Bcc") {
            for a in crate::session::field_addresses(&f.value) {
                if !header_recipients.contains(&a) {
                    header_recipients.push(a);
                }
            }
        }
    }
    let mut added = Vec::new();
    if !found.iter().any(|f| f.is("From")) {
        added.push(format!("From: {}\r\n", from_value(c.from, c.full_name)));
    }
    if !found.iter().any(|f| f.is("Date")) {
        added.push(format!("Date: {}\r\n", c.date));
    }
    if !found.iter().any(|f| f.is("Message-ID")) {
        added.push(format!("Message-ID: {}\r\n", c.message_id));
    }
    // The empty line between the header and the body: the one the input had, or
    // one put before a body that started without it.
    let mut message = kept;
    message.extend_from_slice(b"\r\n");
    message.extend_from_slice(body);
    Prepared {
        added,
        message,
        header_recipients,
    }
}

/// `Name:` at the start of a line: printable ASCII other than `:` and space, then
/// optional white space and a colon (RFC 5322 §2.2, §4.5 obsolete syntax).
fn is_field_start(line: &[u8]) -> bool {
    field_name(line).is_some()
}

fn field_name(line: &[u8]) -> Option<&str> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = std::str::from_utf8(&line[..colon])
        .ok()?
        .trim_end_matches([' ', '\t']);
    (!name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b))).then_some(name)
}

/// `From:` value: `addr`, or `"Display Name" <addr>` — the name as an atom phrase,
/// a quoted string, or an RFC 2047 encoded word when it is not ASCII.
pub fn from_value(addr: &str, name: Option<&str>) -> String {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return addr.to_string();
    };
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    let phrase = if !name.is_ascii() {
        use base64::Engine;
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(name.as_bytes())
        )
    } else if name
        .split(' ')
        .all(|w| !w.is_empty() && w.chars().all(is_atext))
    {
        name
    } else {
        let escaped: String = name
            .chars()
            .flat_map(|c| {
                let esc = (c == '"' || c == '\\').then_some('\\');
                esc.into_iter().chain(std::iter::once(c))
            })
            .collect();
        format!("\"{escaped}\"")
    };
    format!("{phrase} <{addr}>")
}

/// RFC 5322 §3.2.3 atext.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str, ignore_dots: bool) -> Result<String, InputError> {
        read_input(&mut input.as_bytes(), ignore_dots, 64)
            .map(|b| String::from_utf8(b).expect("utf8"))
    }

    #[test]
    fn input_table() {
        let rows: &[(&str, bool, &str)] = &[
            ("a\nb\n", false, "a\r\nb\r\n"),
            ("a\r\nb", false, "a\r\nb\r\n"),
            ("a\n.\nb\n", false, "a\r\n"),
            ("a\n.\r\nb\n", false, "a\r\n"),
            ("a\n.\nb\n", true, "a\r\n.\r\nb\r\n"),
            ("a\n..\nb\n", false, "a\r\n..\r\nb\r\n"),
            (
                "From alice Mon Jan  1\nSubject: x\n\nb\n",
                false,
                "Subject: x\r\n\r\nb\r\n",
            ),
            ("x\nFrom me\n", false, "x\r\nFrom me\r\n"),
            ("", false, ""),
        ];
        for (input, dots, want) in rows {
            assert_eq!(read(input, *dots).as_deref(), Ok(*want), "{input:?}");
        }
        let exactly = "a".repeat(62) + "\n";
        assert_eq!(read(&exactly, false).map(|s| s.len()), Ok(64));
        assert_eq!(read(&"a".repeat(65), false), Err(InputError::TooBig(64)));
        assert_eq!(read(&"a\n".repeat(40), false), Err(InputError::TooBig(64)));
    }

    const C: Completion<'static> = Completion {
        from: "root@host.test",
        full_name: None,
        date: "Thu, 1 Jan 2026 00:00:00 +0000",
        message_id: "<1@host.test>",
    };

    #[test]
    fn prepare_table() {
        // (input, added field names, message after, header recipients)
        let rows: &[(&str, &[&str], &str, &[&str])] = &[
            (
                "To: a@x.test\r\nSubject: s\r\n\r\nbody\r\n",
                &["From", "Date", "Message-ID"],
                "To: a@x.test\r\nSubject: s\r\n\r\nbody\r\n",
                &["a@x.test"],
            ),
            (
                "From: me@x.test\r\nDate: d\r\nMessage-ID: <m@x>\r\nTo: A <a@x.test>, b@x.test\r\nCc: c@y.test\r\nBcc: d@z.test,\r\n e@z.test\r\nSubject: s\r\n\r\nb\r\n",
                &[],
                "From: me@x.test\r\nDate: d\r\nMessage-ID: <m@x>\r\nTo: A <a@x.test>, b@x.test\r\nCc: c@y.test\r\nSubject: s\r\n\r\nb\r\n",
                &["a@x.test", "b@x.test", "c@y.test", "d@z.test", "e@z.test"],
            ),
            // No header at all: the text is the body.
            (
                "hello there\r\nsecond\r\n",
                &["From", "Date", "Message-ID"],
                "\r\nhello there\r\nsecond\r\n",
                &[],
            ),
            // A header without a body, and without the empty line.
            (
                "Subject: only\r\n",
                &["From", "Date", "Message-ID"],
                "Subject: only\r\n\r\n",
                &[],
            ),
            // A non-field line ends the header.
            (
                "Subject: s\r\nnot a field\r\nmore\r\n",
                &["From", "Date", "Message-ID"],
                "Subject: s\r\n\r\nnot a field\r\nmore\r\n",
                &[],
            ),
            // Names matched without regard to case; a To: in the body is body.
            (
                "FROM: me@x.test\r\ndate: d\r\nMESSAGE-id: <m@x>\r\n\r\nTo: z@z.test\r\n",
                &[],
                "FROM: me@x.test\r\ndate: d\r\nMESSAGE-id: <m@x>\r\n\r\nTo: z@z.test\r\n",
                &[],
            ),
        ];
        for (input, added, message, rcpts) in rows {
            let p = prepare(input.as_bytes(), &C);
            let names: Vec<&str> = p
                .added
                .iter()
                .map(|a| a.split(':').next().unwrap_or(""))
                .collect();
            assert_eq!(&names, added, "{input:?}");
            assert_eq!(String::from_utf8_lossy(&p.message), *message, "{input:?}");
            assert_eq!(&p.header_recipients, rcpts, "{input:?}");
        }
        let p = prepare(b"Subject: s\r\n\r\nb\r\n", &C);
        assert_eq!(
            p.added,
            [
                "From: root@host.test\r\n",
                "Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n",
                "Message-ID: <1@host.test>\r\n"
            ]
        );
    }

    #[test]
    fn from_value_table() {
        let rows: &[(Option<&str>, &str)] = &[
            (None, "a@x.test"),
            (Some(""), "a@x.test"),
            (Some("CronDaemon"), "CronDaemon <a@x.test>"),
            (Some("Alice Smith"), "Alice Smith <a@x.test>"),
            (Some("Smith, Alice"), "\"Smith, Alice\" <a@x.test>"),
            (Some("say \"hi\""), "\"say \\\"hi\\\"\" <a@x.test>"),
            (Some("Zoë"), "=?UTF-8?B?Wm/Dqw==?= <a@x.test>"),
        ];
        for (name, want) in rows {
            assert_eq!(from_value("a@x.test", *name), *want, "{name:?}");
        }
    }
}
