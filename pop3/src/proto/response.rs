//! Every reply the server sends, rendered here and nowhere else: status lines
//! (RFC 1939 §3 `+OK`/`-ERR`, with RFC 2449 §8 response codes), multi-line replies
//! with their terminating `.` and dot-stuffing (RFC 1939 §3), the CAPA list
//! (RFC 2449 §5), SASL challenges (RFC 5034 §4) and the unique-id listing.

/// RFC 2449 §8 response codes (and RFC 3206 `SYS/*`, `AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// RFC 2449 §8.1.2: the maildrop is locked by another session.
    InUse,
    /// RFC 3206 §4: a temporary system problem (a banned address, a store error).
    SysTemp,
    /// RFC 3206 §4: a lasting system problem.
    SysPerm,
    /// RFC 3206 §5: the credentials were wrong, or authentication is refused.
    Auth,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::InUse => "IN-USE",
            Code::SysTemp => "SYS/TEMP",
            Code::SysPerm => "SYS/PERM",
            Code::Auth => "AUTH",
        }
    }
}

/// `+OK text` (RFC 1939 §3).
pub fn ok(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+OK");
    if !text.is_empty() {
        out.push(b' ');
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `-ERR [CODE] text` (RFC 1939 §3, RFC 2449 §8).
pub fn err(out: &mut Vec<u8>, code: Option<Code>, text: &str) {
    out.extend_from_slice(b"-ERR ");
    if let Some(code) = code {
        out.push(b'[');
        out.extend_from_slice(code.as_str().as_bytes());
        out.extend_from_slice(b"] ");
    }
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The end of a multi-line reply (RFC 1939 §3).
pub fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(b".\r\n");
}

/// One line of a multi-line reply whose lines never start with `.` (scan listings,
/// capabilities): the line and CRLF.
pub fn line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A SASL challenge: `+ ` and the base64 text (RFC 5034 §4).
pub fn challenge(out: &mut Vec<u8>, base64: &str) {
    out.extend_from_slice(b"+ ");
    out.extend_from_slice(base64.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The unique-id of a message (RFC 1939 §7 UIDL): the mailbox's UIDVALIDITY and the
/// message's UID in hexadecimal, eight digits each — Dovecot's `%08Xv%08Xu`. Both
/// survive restarts and `mailyard reindex` (they are kept in the maildir), and a UID
/// is never reused under one UIDVALIDITY, so the id is stable and unique as
/// RFC 1939 asks.
pub fn unique_id(uidvalidity: u32, uid: u32) -> String {
    format!("{uidvalidity:08X}{uid:08X}")
}

/// A message (RETR) or its header and first `body_lines` body lines (TOP, RFC 1939
/// §7), dot-stuffed (a line starting with `.` gets another), ending with CRLF and the
/// terminating `.` line. `message` is in wire form (CRLF line ends). Returns the
/// octets of the message taken (before stuffing).
pub fn message(out: &mut Vec<u8>, message: &[u8], body_lines: Option<u32>) -> usize {
    let taken = match body_lines {
        None => message,
        Some(n) => top(message, n),
    };
    out.reserve(taken.len() + taken.len() / 64 + 8);
    let mut at_line_start = true;
    for &b in taken {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !taken.is_empty() && !taken.ends_with(b"\r\n") {
        if taken.ends_with(b"\r") {
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    end(out);
    taken.len()
}

/// The header, the blank line and the first `n` lines of the body.
fn top(message: &[u8], n: u32) -> &[u8] {
    // The header ends at the first empty line (RFC 5322 §2.1).
    let Some(body_start) = mailyard_message::header::block_end(message) else {
        return message;
    };
    let mut end = body_start;
    for _ in 0..n {
        if end >= message.len() {
            break;
        }
        end = match message[end..].iter().position(|&b| b == b'\n') {
            Some(i) => end + i + 1,
            None => message.len(),
        };
    }
    &message[..end]
}

/// What CAPA lists (RFC 2449 §5, §6). EXPIRE and LOGIN-DELAY are left out: we
/// enforce neither. APOP is never offered: we keep argon2 hashes, not the
/// shared secret its digest needs. UTF8 (RFC 6856) is not implemented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// STLS is offered (a plain connection, not yet authenticated).
    pub stls: bool,
    /// USER/PASS and SASL may be used now (TLS, or plaintext allowed on loopback).
    pub login: bool,
    /// SASL mechanisms.
    pub sasl: &'static [&'static str],
    /// The IMPLEMENTATION string.
    pub implementation: &'static str,
}

impl Capabilities {
    /// `+OK` and the list, one capability a line, then `.` (RFC 2449 §5).
    pub fn write(&self, out: &mut Vec<u8>) {
        ok(out, "Capability list follows");
        line(out, "TOP");
        line(out, "UIDL");
        if self.login {
            line(out, "USER");
            if !self.sasl.is_empty() {
                line(out, &format!("SASL {}", self.sasl.join(" ")));
            }
        }
        line(out, "RESP-CODES");
        line(out, "AUTH-RESP-CODE");
        line(out, "PIPELINING");
        if self.stls {
            line(out, "STLS");
        }
        line(out, &format!("IMPLEMENTATION {}", self.implementation));
        end(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn status_lines() {
        // RFC 1939 §5 STAT example and §4 greeting, RFC 2449 §8.1.2 IN-USE.
        assert_eq!(text(|o| ok(o, "2 320")), "+OK 2 320\r\n");
        assert_eq!(text(|o| ok(o, "")), "+OK\r\n");
        assert_eq!(
            text(|o| err(o, None, "no such message, only 2 messages in maildrop")),
            "-ERR no such message, only 2 messages in maildrop\r\n"
        );
        assert_eq!(
            text(|o| err(
                o,
                Some(Code::InUse),
                "Do you have another POP session running?"
            )),
            "-ERR [IN-USE] Do you have another POP session running?\r\n"
        );
        assert_eq!(
            text(|o| err(o, Some(Code::SysTemp), "x")),
            "-ERR [SYS/TEMP] x\r\n"
        );
        assert_eq!(text(|o| err(o, Some(Code::Auth), "x")), "-ERR [AUTH] x\r\n");
        assert_eq!(text(|o| challenge(o, "")), "+ \r\n");
        assert_eq!(text(|o| challenge(o, "VXNlcm5hbWU6")), "+ VXNlcm5hbWU6\r\n");
    }

    #[test]
    fn unique_ids() {
        assert_eq!(unique_id(1, 1), "0000000100000001");
        assert_eq!(unique_id(0x6553_1A2B, 255), "65531A2B000000FF");
        assert_eq!(unique_id(u32::MAX, u32::MAX), "FFFFFFFFFFFFFFFF");
    }

    #[test]
    fn messages_are_dot_stuffed_and_terminated() {
        let rows: &[(&[u8], Option<u32>, &str, usize)] = &[
            (b"A: b\r\n\r\nhi\r\n", None, "A: b\r\n\r\nhi\r\n.\r\n", 12),
            // A line starting with "." gets another; "." alone too.
            (
                b"A: b\r\n\r\n.hidden\r\n.\r\nx.\r\n",
                None,
                "A: b\r\n\r\n..hidden\r\n..\r\nx.\r\n.\r\n",
                24,
            ),
            // No final CRLF: one is added (outside the counted octets).
            (b"A: b\r\n\r\nhi", None, "A: b\r\n\r\nhi\r\n.\r\n", 10),
            (b"", None, ".\r\n", 0),
            // TOP: header, blank line, n body lines.
            (
                b"A: b\r\nC: d\r\n\r\n1\r\n.2\r\n3\r\n",
                Some(2),
                "A: b\r\nC: d\r\n\r\n1\r\n..2\r\n.\r\n",
                21,
            ),
            (b"A: b\r\n\r\n1\r\n2\r\n", Some(0), "A: b\r\n\r\n.\r\n", 8),
            (
                b"A: b\r\n\r\n1\r\n2\r\n",
                Some(99),
                "A: b\r\n\r\n1\r\n2\r\n.\r\n",
                14,
            ),
            // No body at all.
            (b"A: b\r\n", Some(3), "A: b\r\n.\r\n", 6),
            (b"\r\nbody\r\n", Some(0), "\r\n.\r\n", 2),
        ];
        for (input, lines, expected, taken) in rows {
            let mut out = Vec::new();
            let n = message(&mut out, input, *lines);
            assert_eq!(String::from_utf8_lossy(&out), *expected, "{input:?}");
            assert_eq!(n, *taken, "{input:?}");
        }
    }

    #[test]
    fn capabilities() {
        let caps = Capabilities {
            stls: true,
            login: false,
            sasl: &["PLAIN", "LOGIN"],
            implementation: "mailyard",
        };
        assert_eq!(
            text(|o| caps.write(o)),
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n\
             PIPELINING\r\nSTLS\r\nIMPLEMENTATION mailyard\r\n.\r\n"
        );
        let caps = Capabilities {
            stls: false,
            login: true,
            ..caps
        };
        assert_eq!(
            text(|o| caps.write(o)),
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN LOGIN\r\n\
             RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nIMPLEMENTATION mailyard\r\n.\r\n"
        );
    }
}
