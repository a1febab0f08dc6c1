//! SMTP replies: `Reply` and its wire form.
//!
//! RFC 5321 §4.2 (reply syntax), §4.2.1 (multi-line replies),
//! RFC 3463 (enhanced status codes), RFC 2034 §3–§4 (enhanced codes on every line).
//!
//! Invariants: [`Reply::write`] never emits a CR or LF that is not a line
//! terminator it chose itself (text is sanitised, so no reply injection), and
//! no emitted line is longer than [`MAX_REPLY_LINE`].

use std::fmt;

/// Longest reply line we emit, including the reply code and the CRLF.
/// RFC 5321 §4.5.3.1.5.
pub const MAX_REPLY_LINE: usize = 512;

/// An enhanced mail system status code `class.subject.detail`. RFC 3463 §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// RFC 3463 §3: 0 other, 1 addressing, 2 mailbox, 3 mail system,
    /// 4 network/routing, 5 mail delivery protocol, 6 content, 7 security.
    pub subject: u16,
    /// Detail within the subject.
    pub detail: u16,
}

impl EnhancedStatus {
    /// Builds `class.subject.detail`.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Self {
        Self {
            class,
            subject,
            detail,
        }
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // RFC 3463 §2: subject and detail are 1 to 3 digits.
        write!(
            f,
            "{}.{}.{}",
            self.class % 10,
            self.subject % 1000,
            self.detail % 1000
        )
    }
}

/// One SMTP reply: a three-digit code, an optional enhanced status code and
/// one or more lines of text. RFC 5321 §4.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, 200–599 in practice (RFC 5321 §4.2.1); written as
    /// three digits (values above 999 are reduced modulo 1000).
    pub code: u16,
    /// Written on every line when present (RFC 2034 §4). Left out for the
    /// greeting and the EHLO/HELO replies (RFC 2034 §3) and for 3xx replies.
    pub status: Option<EnhancedStatus>,
    /// The text lines; an empty vector writes a single line with no text.
    pub text: Vec<String>,
}

/// Shorthand for the constructors below.
const fn es(class: u8, subject: u16, detail: u16) -> Option<EnhancedStatus> {
    Some(EnhancedStatus::new(class, subject, detail))
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, status: Option<EnhancedStatus>, text: impl Into<String>) -> Self {
        Self {
            code,
            status,
            text: vec![text.into()],
        }
    }

    /// Appends one more line (making the reply multi-line). RFC 5321 §4.2.1.
    pub fn with_line(mut self, text: impl Into<String>) -> Self {
        self.text.push(text.into());
        self
    }

    /// 2yz: the requested action was completed. RFC 5321 §4.2.1.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4yz: transient negative completion. RFC 5321 §4.2.1.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5yz: permanent negative completion. RFC 5321 §4.2.1.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// Appends the wire form to `out`: `code-text CRLF` for every line but the
    /// last, `code SP text CRLF` for the last one (RFC 5321 §4.2.1), each with
    /// the enhanced status code when present (RFC 2034 §4).
    ///
    /// Text is sanitised: CR, LF and the other ASCII control characters become
    /// a space, so a reply built from untrusted input cannot inject lines; a
    /// line that would exceed [`MAX_REPLY_LINE`] is cut at a character
    /// boundary.
    pub fn write(&self, out: &mut Vec<u8>) {
        let empty = [String::new()];
        let lines: &[String] = if self.text.is_empty() {
            &empty
        } else {
            &self.text
        };
        let code = format!("{:03}", self.code % 1000);
        let status = self.status.map(|s| s.to_string());
        for (i, line) in lines.iter().enumerate() {
            let start = out.len();
            out.extend_from_slice(code.as_bytes());
            // The last line always has the SP, even with no text: RFC 4954 §4
            // requires "334 " for an empty challenge, and clients look for
            // "code SP" to find the last line (RFC 5321 §4.2.1).
            let last = i + 1 == lines.len();
            out.push(if last { b' ' } else { b'-' });
            if let Some(status) = &status {
                out.extend_from_slice(status.as_bytes());
                if !line.is_empty() {
                    out.push(b' ');
                }
            }
            // Room left for text on this line, keeping the CRLF.
            let room = MAX_REPLY_LINE.saturating_sub(out.len() - start + 2);
            push_sanitised(out, line, room);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    // ---- Constructors for the replies a server sends. ----

    /// `220 <host> ESMTP mailyard` — the greeting; no enhanced code (RFC 2034 §3).
    /// RFC 5321 §4.2, §3.1.
    pub fn greeting(hostname: &str) -> Self {
        Self::new(220, None, format!("{hostname} ESMTP mailyard"))
    }

    /// `220 2.0.0 Ready to start TLS` — the reply to STARTTLS. RFC 3207 §4.
    pub fn ready_to_start_tls() -> Self {
        Self::new(220, es(2, 0, 0), "Ready to start TLS")
    }

    /// `221 2.0.0 Bye` — the reply to QUIT. RFC 5321 §4.1.1.10.
    pub fn closing() -> Self {
        Self::new(221, es(2, 0, 0), "Bye")
    }

    /// `235 2.7.0 Authentication successful`. RFC 4954 §6.
    pub fn auth_successful() -> Self {
        Self::new(235, es(2, 7, 0), "Authentication successful")
    }

    /// `250 2.0.0 OK`. RFC 5321 §4.2.2.
    pub fn ok() -> Self {
        Self::new(250, es(2, 0, 0), "OK")
    }

    /// `250 2.1.0 Sender OK` — MAIL accepted. RFC 3463 §3.2 (X.1.0).
    pub fn sender_ok() -> Self {
        Self::new(250, es(2, 1, 0), "Sender OK")
    }

    /// `250 2.1.5 Recipient OK` — RCPT accepted. RFC 3463 §3.2 (X.1.5).
    pub fn recipient_ok() -> Self {
        Self::new(250, es(2, 1, 5), "Recipient OK")
    }

    /// `250 2.0.0 <n> octets received` — one BDAT chunk accepted. RFC 3030 §2.
    pub fn chunk_received(size: u64) -> Self {
        Self::new(250, es(2, 0, 0), format!("{size} octets received"))
    }

    /// `334 <challenge>` — a SASL challenge, base64 or empty; no enhanced code
    /// on a 3xx reply. RFC 4954 §4.
    pub fn auth_challenge(base64: &str) -> Self {
        Self::new(334, None, base64)
    }

    /// `354 Start mail input; end with <CRLF>.<CRLF>`. RFC 5321 §4.1.1.4, §4.2.2.
    pub fn start_data() -> Self {
        Self::new(354, None, "Start mail input; end with <CRLF>.<CRLF>")
    }

    /// `421 4.3.2 <host> Service shutting down`. RFC 5321 §3.8, RFC 3463 §3.4.
    pub fn shutting_down(hostname: &str) -> Self {
        Self::new(
            421,
            es(4, 3, 2),
            format!("{hostname} Service shutting down, closing transmission channel"),
        )
    }

    /// `451 4.3.0 Local error in processing`. RFC 5321 §4.2.3.
    pub fn local_error() -> Self {
        Self::new(
            451,
            es(4, 3, 0),
            "Local error in processing, try again later",
        )
    }

    /// `452 4.5.3 Too many recipients`. RFC 5321 §4.5.3.1.10, RFC 3463 §3.6.
    pub fn too_many_recipients() -> Self {
        Self::new(452, es(4, 5, 3), "Too many recipients")
    }

    /// `500 5.5.2 Syntax error, command unrecognized`. RFC 5321 §4.2.3.
    pub fn unknown_command() -> Self {
        Self::new(500, es(5, 5, 2), "Syntax error, command unrecognized")
    }

    /// `500 5.5.2 Line too long` — a command line over the limit.
    /// RFC 5321 §4.5.3.1.9 ("500 Line too long"); X.5.2 (syntax error) rather
    /// than X.5.6, which RFC 4954 §6 registers for AUTH exchange lines only.
    pub fn line_too_long() -> Self {
        Self::new(500, es(5, 5, 2), "Line too long")
    }

    /// `500 5.5.6 Authentication Exchange line is too long`. RFC 4954 §4.
    pub fn auth_line_too_long() -> Self {
        Self::new(500, es(5, 5, 6), "Authentication Exchange line is too long")
    }

    /// `501 5.5.4 Syntax error in parameters or arguments`. RFC 5321 §4.2.3.
    pub fn syntax_error(detail: &str) -> Self {
        if detail.is_empty() {
            Self::new(501, es(5, 5, 4), "Syntax error in parameters or arguments")
        } else {
            Self::new(
                501,
                es(5, 5, 4),
                format!("Syntax error in parameters or arguments: {detail}"),
            )
        }
    }

    /// `501 5.0.0 Authentication cancelled` — the client sent `*`. RFC 4954 §4.
    pub fn auth_cancelled() -> Self {
        Self::new(501, es(5, 0, 0), "Authentication cancelled")
    }

    /// `501 5.5.2 Cannot decode response` — bad base64 in an AUTH exchange.
    /// RFC 4954 §4.
    pub fn auth_bad_base64() -> Self {
        Self::new(501, es(5, 5, 2), "Cannot decode response")
    }

    /// `502 5.5.1 Command not implemented`. RFC 5321 §4.2.4.
    pub fn not_implemented() -> Self {
        Self::new(502, es(5, 5, 1), "Command not implemented")
    }

    /// `503 5.5.1 Bad sequence of commands`. RFC 5321 §4.2.3, §4.1.4.
    pub fn bad_sequence(detail: &str) -> Self {
        if detail.is_empty() {
            Self::new(503, es(5, 5, 1), "Bad sequence of commands")
        } else {
            Self::new(
                503,
                es(5, 5, 1),
                format!("Bad sequence of commands: {detail}"),
            )
        }
    }

    /// `504 5.5.4 Command parameter not implemented` (e.g. an unsupported AUTH
    /// mechanism, RFC 4954 §6). RFC 5321 §4.2.3.
    pub fn parameter_not_implemented() -> Self {
        Self::new(504, es(5, 5, 4), "Command parameter not implemented")
    }

    /// `530 5.7.0 Authentication required`. RFC 4954 §6.
    pub fn auth_required() -> Self {
        Self::new(530, es(5, 7, 0), "Authentication required")
    }

    /// `530 5.7.0 Must issue a STARTTLS command first`. RFC 3207 §4.
    pub fn starttls_required() -> Self {
        Self::new(530, es(5, 7, 0), "Must issue a STARTTLS command first")
    }

    /// `535 5.7.8 Authentication credentials invalid`. RFC 4954 §6.
    pub fn auth_failed() -> Self {
        Self::new(535, es(5, 7, 8), "Authentication credentials invalid")
    }

    /// `538 5.7.11 Encryption required for requested authentication mechanism`.
    /// RFC 4954 §6.
    pub fn encryption_required() -> Self {
        Self::new(
            538,
            es(5, 7, 11),
            "Encryption required for requested authentication mechanism",
        )
    }

    /// `550 5.1.1 No such user here`. RFC 5321 §3.3, RFC 3463 §3.2.
    pub fn no_such_user() -> Self {
        Self::new(550, es(5, 1, 1), "No such user here")
    }

    /// `554 5.7.1 Relay access denied`. RFC 5321 §3.6.2, RFC 3463 §3.8.
    pub fn relay_denied() -> Self {
        Self::new(554, es(5, 7, 1), "Relay access denied")
    }

    /// `552 5.3.4 Message size exceeds fixed maximum message size`.
    /// RFC 1870 §6.1, RFC 3463 §3.4.
    pub fn message_too_big() -> Self {
        Self::new(
            552,
            es(5, 3, 4),
            "Message size exceeds fixed maximum message size",
        )
    }

    /// `550 5.6.11 Message contains bare CR or LF` — the message had a CR or LF
    /// that was not part of a CRLF pair. RFC 5321 §2.3.8: "CR and LF MUST only
    /// occur together as CRLF; they MUST NOT be used singly in the message
    /// content" (and §4.1.1.4 on `<LF>.<LF>`). Refusing such messages closes
    /// the SMTP smuggling vectors (a next hop that reads a bare LF as a line
    /// end would see a different end of DATA).
    ///
    /// 550 is in RFC 5321 §4.3.2's list for the end of DATA (policy
    /// rejection). X.6.11 is not in RFC 3463; it is the code Exchange Online
    /// uses for bare line feeds, and a client that does not know detail 11
    /// still reads a permanent content (X.6) error, RFC 3463 §2.
    pub fn bare_line_ending() -> Self {
        Self::new(
            550,
            es(5, 6, 11),
            "Message contains bare CR or LF; lines must end with CRLF (RFC 5321 section 2.3.8)",
        )
    }

    /// `554 5.6.0 Message contains a line longer than 1000 octets` — a text
    /// line in the message exceeded RFC 5321 §4.5.3.1.6 (RFC 5322 §2.1.1: 998
    /// characters plus CRLF). 554 "transaction failed" is in RFC 5321 §4.3.2's
    /// list for the end of DATA (500 is not); X.6.0 is RFC 3463's "other media
    /// error" (the content, not the protocol, is at fault).
    pub fn data_line_too_long() -> Self {
        Self::new(
            554,
            es(5, 6, 0),
            "Message contains a line longer than 1000 octets (RFC 5321 section 4.5.3.1.6)",
        )
    }

    /// `553 5.6.7 Non-ASCII addresses not permitted` — a UTF-8 address in MAIL
    /// or RCPT without the SMTPUTF8 parameter. RFC 6531 §3.5 (X.6.7 registered
    /// by RFC 6531 §4.2).
    pub fn non_ascii_address() -> Self {
        Self::new(
            553,
            es(5, 6, 7),
            "Non-ASCII addresses not permitted for that sender/recipient",
        )
    }

    /// `501 5.1.7 Bad sender address syntax`. RFC 3463 §3.2 (X.1.7).
    pub fn bad_sender_syntax(detail: &str) -> Self {
        Self::new(
            501,
            es(5, 1, 7),
            format!("Bad sender address syntax: {detail}"),
        )
    }

    /// `501 5.1.3 Bad recipient address syntax`. RFC 3463 §3.2 (X.1.3).
    pub fn bad_recipient_syntax(detail: &str) -> Self {
        Self::new(
            501,
            es(5, 1, 3),
            format!("Bad recipient address syntax: {detail}"),
        )
    }

    /// `555 5.5.4 MAIL FROM/RCPT TO parameters not recognized or not
    /// implemented`. RFC 5321 §4.1.1.11, §4.2.3.
    pub fn unknown_parameter(keyword: &str) -> Self {
        Self::new(
            555,
            es(5, 5, 4),
            format!("MAIL FROM/RCPT TO parameter not recognized or not implemented: {keyword}"),
        )
    }
}

/// Pushes at most `room` bytes of `text`, replacing control characters with a
/// space and cutting at a UTF-8 character boundary.
fn push_sanitised(out: &mut Vec<u8>, text: &str, room: usize) {
    let mut used = 0;
    for ch in text.chars() {
        let ch = if ch.is_control() { ' ' } else { ch };
        let len = ch.len_utf8();
        if used + len > room {
            break;
        }
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        used += len;
    }
}

impl fmt::Display for Reply {
    /// The wire form without the final CRLF (for logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        f.write_str(text.trim_end_matches("\r\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Reply) -> String {
        String::from_utf8(r.to_bytes()).expect("replies are UTF-8")
    }

    #[test]
    fn serialises_byte_exact() {
        let rows: &[(Reply, &str)] = &[
            // RFC 5321 Appendix D.1 (with our enhanced codes where we add them).
            (
                Reply::new(220, None, "foo.com Simple Mail Transfer Service Ready"),
                "220 foo.com Simple Mail Transfer Service Ready\r\n",
            ),
            (
                Reply::new(250, None, "foo.com greets bar.com")
                    .with_line("8BITMIME")
                    .with_line("SIZE")
                    .with_line("DSN")
                    .with_line("HELP"),
                "250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n",
            ),
            (
                Reply::new(550, None, "No such user here"),
                "550 No such user here\r\n",
            ),
            // RFC 2034 §4: the enhanced code on every line.
            (
                Reply::new(550, es(5, 1, 1), "Mailbox unknown").with_line("Try again"),
                "550-5.1.1 Mailbox unknown\r\n550 5.1.1 Try again\r\n",
            ),
            (Reply::ok(), "250 2.0.0 OK\r\n"),
            (Reply::sender_ok(), "250 2.1.0 Sender OK\r\n"),
            (Reply::recipient_ok(), "250 2.1.5 Recipient OK\r\n"),
            (Reply::closing(), "221 2.0.0 Bye\r\n"),
            (
                Reply::start_data(),
                "354 Start mail input; end with <CRLF>.<CRLF>\r\n",
            ),
            // RFC 4954 §4: an empty challenge is "334 " (with the space).
            (Reply::auth_challenge(""), "334 \r\n"),
            (
                Reply::auth_challenge("VXNlcm5hbWU6"),
                "334 VXNlcm5hbWU6\r\n",
            ),
            (
                Reply::auth_successful(),
                "235 2.7.0 Authentication successful\r\n",
            ),
            (
                Reply::greeting("mx.example"),
                "220 mx.example ESMTP mailyard\r\n",
            ),
            // Empty text.
            (
                Reply {
                    code: 250,
                    status: None,
                    text: vec![],
                },
                "250 \r\n",
            ),
            (
                Reply {
                    code: 250,
                    status: es(2, 0, 0),
                    text: vec![],
                },
                "250 2.0.0\r\n",
            ),
            (Reply::new(250, None, "").with_line(""), "250-\r\n250 \r\n"),
            (
                Reply::message_too_big(),
                "552 5.3.4 Message size exceeds fixed maximum message size\r\n",
            ),
            (
                Reply::too_many_recipients(),
                "452 4.5.3 Too many recipients\r\n",
            ),
            (
                Reply::encryption_required(),
                "538 5.7.11 Encryption required for requested authentication mechanism\r\n",
            ),
        ];
        for (reply, expected) in rows {
            assert_eq!(wire(reply), *expected, "{reply:?}");
        }
    }

    #[test]
    fn codes_and_classes_of_constructors() {
        let rows: &[(Reply, u16, &str)] = &[
            (Reply::greeting("h"), 220, ""),
            (Reply::closing(), 221, "2.0.0"),
            (Reply::ok(), 250, "2.0.0"),
            (Reply::sender_ok(), 250, "2.1.0"),
            (Reply::recipient_ok(), 250, "2.1.5"),
            (Reply::start_data(), 354, ""),
            (Reply::shutting_down("h"), 421, "4.3.2"),
            (Reply::local_error(), 451, "4.3.0"),
            (Reply::too_many_recipients(), 452, "4.5.3"),
            (Reply::unknown_command(), 500, "5.5.2"),
            (Reply::line_too_long(), 500, "5.5.2"),
            (Reply::auth_line_too_long(), 500, "5.5.6"),
            (Reply::syntax_error(""), 501, "5.5.4"),
            (Reply::auth_cancelled(), 501, "5.0.0"),
            (Reply::auth_bad_base64(), 501, "5.5.2"),
            (Reply::not_implemented(), 502, "5.5.1"),
            (Reply::bad_sequence(""), 503, "5.5.1"),
            (Reply::parameter_not_implemented(), 504, "5.5.4"),
            (Reply::auth_required(), 530, "5.7.0"),
            (Reply::auth_failed(), 535, "5.7.8"),
            (Reply::encryption_required(), 538, "5.7.11"),
            (Reply::no_such_user(), 550, "5.1.1"),
            (Reply::relay_denied(), 554, "5.7.1"),
            (Reply::message_too_big(), 552, "5.3.4"),
            (Reply::bare_line_ending(), 550, "5.6.11"),
            (Reply::data_line_too_long(), 554, "5.6.0"),
            (Reply::non_ascii_address(), 553, "5.6.7"),
            (Reply::bad_sender_syntax("x"), 501, "5.1.7"),
            (Reply::bad_recipient_syntax("x"), 501, "5.1.3"),
            (Reply::unknown_parameter("X"), 555, "5.5.4"),
        ];
        for (reply, code, status) in rows {
            assert_eq!(reply.code, *code);
            let got = reply.status.map(|s| s.to_string()).unwrap_or_default();
            assert_eq!(got, *status, "{reply:?}");
            // The enhanced class always matches the reply class (RFC 3463 §2).
            if let Some(s) = reply.status {
                assert_eq!(u16::from(s.class), reply.code / 100, "{reply:?}");
            }
            let w = wire(reply);
            assert!(w.len() <= MAX_REPLY_LINE);
            assert!(w.ends_with("\r\n"));
            assert_eq!(w.matches("\r\n").count(), 1);
        }
        assert!(Reply::ok().is_positive());
        assert!(Reply::local_error().is_transient());
        assert!(Reply::no_such_user().is_permanent());
        assert!(!Reply::start_data().is_positive());
    }

    #[test]
    fn no_line_injection() {
        let rows: &[(&str, &str)] = &[
            ("a\r\n250 OK", "550 a  250 OK\r\n"),
            ("a\nb", "550 a b\r\n"),
            ("a\rb", "550 a b\r\n"),
            ("a\0b\tc", "550 a b c\r\n"),
            ("\u{85}x", "550  x\r\n"),
        ];
        for (text, expected) in rows {
            assert_eq!(wire(&Reply::new(550, None, *text)), *expected);
        }
        let r = Reply::new(550, es(5, 0, 0), "x\r\n550 5.0.0 y").with_line("\n");
        assert_eq!(wire(&r), "550-5.0.0 x  550 5.0.0 y\r\n550 5.0.0  \r\n");
    }

    #[test]
    fn long_lines_are_cut_at_512_octets_on_char_boundaries() {
        for text in ["a".repeat(2000), "é".repeat(700), "€".repeat(600)] {
            let r = Reply::new(250, es(2, 0, 0), text.clone()).with_line(text);
            let w = wire(&r);
            for line in w.split_inclusive("\r\n") {
                assert!(line.len() <= MAX_REPLY_LINE, "{}", line.len());
                assert!(line.len() > MAX_REPLY_LINE - 4);
            }
            assert_eq!(w.matches("\r\n").count(), 2);
        }
    }

    #[test]
    fn odd_codes_stay_three_digits() {
        let r = Reply::new(1250, None, "x");
        assert_eq!(wire(&r), "250 x\r\n");
        let r = Reply::new(5, None, "x");
        assert_eq!(wire(&r), "005 x\r\n");
    }

    #[test]
    fn display_is_wire_form_without_final_crlf() {
        assert_eq!(Reply::ok().to_string(), "250 2.0.0 OK");
    }
}
