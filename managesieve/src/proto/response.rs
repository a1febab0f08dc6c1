//! The server's responses (RFC 5804 §1.2, §4 `response-*`): `OK`, `NO` and `BYE` with an
//! optional response code and human-readable text, strings as quoted or literals, and
//! the capability, script-list and script answers.

use std::fmt::Write as _;

use super::command::MAX_QUOTED;

/// RFC 5804 §1.2: the three results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok,
    /// Failure; the connection stays.
    No,
    /// The server closes the connection.
    Bye,
}

/// RFC 5804 §1.3 response codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// The mechanism is too weak for this user.
    AuthTooWeak,
    /// Authentication needs TLS first.
    EncryptNeeded,
    /// Over the user's quota: `QUOTA`, `QUOTA/MAXSCRIPTS`, `QUOTA/MAXSIZE`.
    Quota(Option<QuotaKind>),
    /// The active script cannot be deleted.
    Active,
    /// No such script.
    Nonexistent,
    /// The name is taken.
    AlreadyExists,
    /// A temporary failure.
    TryLater,
    /// The script was stored but has warnings.
    Warnings,
    /// NOOP's echo (RFC 5804 §2.13).
    Tag(Vec<u8>),
}

/// Which quota a `QUOTA/…` code names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// Too many scripts.
    MaxScripts,
    /// The script, or all of them, too large.
    MaxSize,
}

/// Appends `s` as RFC 5804 §4 `string`: quoted when it is short and holds no CR, LF,
/// NUL, `"` needing more than an escape, else a literal `{n}` CRLF data (the server's
/// `literal-s2c`).
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s.len() <= MAX_QUOTED
        && std::str::from_utf8(s).is_ok()
        && !s.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0));
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        let _ = write!(Lossless(out), "{{{}}}\r\n", s.len());
        out.extend_from_slice(s);
    }
}

/// `write!` into a byte buffer.
struct Lossless<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Lossless<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends a result line: `OK`/`NO`/`BYE` [SP "(" code ")"] [SP string] CRLF.
pub fn write_status(out: &mut Vec<u8>, status: Status, code: Option<&Code>, text: &str) {
    out.extend_from_slice(match status {
        Status::Ok => b"OK",
        Status::No => b"NO",
        Status::Bye => b"BYE",
    });
    if let Some(code) = code {
        out.extend_from_slice(b" (");
        match code {
            Code::AuthTooWeak => out.extend_from_slice(b"AUTH-TOO-WEAK"),
            Code::EncryptNeeded => out.extend_from_slice(b"ENCRYPT-NEEDED"),
            Code::Quota(None) => out.extend_from_slice(b"QUOTA"),
            Code::Quota(Some(QuotaKind::MaxScripts)) => {
                out.extend_from_slice(b"QUOTA/MAXSCRIPTS");
            }
            Code::Quota(Some(QuotaKind::MaxSize)) => out.extend_from_slice(b"QUOTA/MAXSIZE"),
            Code::Active => out.extend_from_slice(b"ACTIVE"),
            Code::Nonexistent => out.extend_from_slice(b"NONEXISTENT"),
            Code::AlreadyExists => out.extend_from_slice(b"ALREADYEXISTS"),
            Code::TryLater => out.extend_from_slice(b"TRYLATER"),
            Code::Warnings => out.extend_from_slice(b"WARNINGS"),
            Code::Tag(t) => {
                out.extend_from_slice(b"TAG ");
                write_string(out, t);
            }
        }
        out.push(b')');
    }
    if !text.is_empty() {
        out.push(b' ');
        write_string(out, text.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// RFC 5804 §1.7 capabilities, one line each (the greeting and CAPABILITY's answer,
/// before their `OK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `IMPLEMENTATION`.
    pub implementation: String,
    /// `SASL` mechanisms offered now (empty before TLS where plaintext is refused).
    pub sasl: Vec<String>,
    /// `SIEVE` extensions.
    pub sieve: Vec<String>,
    /// `STARTTLS`, when it can be used now.
    pub starttls: bool,
    /// `MAXREDIRECTS`.
    pub max_redirects: Option<u32>,
    /// `OWNER`: the logged-in user (RFC 5804 §1.7, after authentication).
    pub owner: Option<String>,
}

impl Capabilities {
    /// Appends the capability lines, `VERSION "1.0"` included (RFC 5804 §1.7).
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut line = |name: &str, value: Option<&str>| {
            write_string(out, name.as_bytes());
            if let Some(v) = value {
                out.push(b' ');
                write_string(out, v.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        };
        line("IMPLEMENTATION", Some(&self.implementation));
        line("SASL", Some(&self.sasl.join(" ")));
        line("SIEVE", Some(&self.sieve.join(" ")));
        if self.starttls {
            line("STARTTLS", None);
        }
        if let Some(n) = self.max_redirects {
            line("MAXREDIRECTS", Some(&n.to_string()));
        }
        if let Some(owner) = &self.owner {
            line("OWNER", Some(owner));
        }
        line("VERSION", Some("1.0"));
    }
}

/// LISTSCRIPTS' lines (RFC 5804 §2.7): each name, the active one marked `ACTIVE`.
pub fn write_script_list<'a>(
    out: &mut Vec<u8>,
    scripts: impl IntoIterator<Item = (&'a str, bool)>,
) {
    for (name, active) in scripts {
        write_string(out, name.as_bytes());
        if active {
            out.extend_from_slice(b" ACTIVE");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// GETSCRIPT's answer before its `OK` (RFC 5804 §2.9): the script as a literal.
pub fn write_script(out: &mut Vec<u8>, script: &[u8]) {
    let _ = write!(Lossless(out), "{{{}}}\r\n", script.len());
    out.extend_from_slice(script);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: Status, code: Option<Code>, text: &str) -> String {
        let mut out = Vec::new();
        write_status(&mut out, status, code.as_ref(), text);
        String::from_utf8(out).expect("utf-8")
    }

    /// RFC 5804's `S:` lines.
    #[test]
    fn results_as_the_rfc_shows_them() {
        assert_eq!(status(Status::Ok, None, ""), "OK\r\n");
        assert_eq!(
            status(
                Status::No,
                Some(Code::Active),
                "You may not delete an active script"
            ),
            "NO (ACTIVE) \"You may not delete an active script\"\r\n"
        );
        assert_eq!(
            status(
                Status::No,
                Some(Code::Nonexistent),
                "There is no script by that name"
            ),
            "NO (NONEXISTENT) \"There is no script by that name\"\r\n"
        );
        assert_eq!(
            status(
                Status::No,
                Some(Code::Quota(Some(QuotaKind::MaxSize))),
                "Quota exceeded"
            ),
            "NO (QUOTA/MAXSIZE) \"Quota exceeded\"\r\n"
        );
        assert_eq!(
            status(
                Status::Ok,
                Some(Code::Tag(b"STARTTLS-SYNC-42".to_vec())),
                "Done"
            ),
            "OK (TAG \"STARTTLS-SYNC-42\") \"Done\"\r\n"
        );
        assert_eq!(
            status(Status::Bye, None, "Too many errors"),
            "BYE \"Too many errors\"\r\n"
        );
        // A multi-line error text goes as a literal (§2.6's example).
        assert_eq!(
            status(Status::No, None, "line 2: Syntax error\r\nmore"),
            "NO {26}\r\nline 2: Syntax error\r\nmore\r\n"
        );
    }

    #[test]
    fn strings_quote_or_go_literal() {
        let s = |b: &[u8]| {
            let mut out = Vec::new();
            write_string(&mut out, b);
            out
        };
        assert_eq!(s(b"plain"), b"\"plain\"");
        assert_eq!(s(b"a\"b\\c"), b"\"a\\\"b\\\\c\"");
        assert_eq!(s("Müll".as_bytes()), "\"Müll\"".as_bytes());
        assert_eq!(s(b"two\r\nlines"), b"{10}\r\ntwo\r\nlines");
        assert_eq!(s(b"\xff"), b"{1}\r\n\xff");
        let long = vec![b'x'; MAX_QUOTED + 1];
        assert!(s(&long).starts_with(b"{1025}\r\n"));
        // What is written parses back (through the command parser's quoted/literal).
        for sample in [&b"a\"b\\c"[..], b"two\r\nlines", "Müll".as_bytes()] {
            let mut frame = b"GETSCRIPT ".to_vec();
            frame.extend_from_slice(&s(sample));
            let parsed = crate::proto::command::parse(&frame).expect("parses");
            assert_eq!(
                parsed,
                crate::proto::command::Command::GetScript {
                    name: String::from_utf8(sample.to_vec()).expect("utf-8")
                }
            );
        }
    }

    #[test]
    fn capabilities_listing_and_script() {
        let caps = Capabilities {
            implementation: "mailyard".into(),
            sasl: vec!["PLAIN".into(), "LOGIN".into()],
            sieve: vec!["fileinto".into(), "vacation".into()],
            starttls: true,
            max_redirects: Some(4),
            owner: None,
        };
        let mut out = Vec::new();
        caps.write(&mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "\"IMPLEMENTATION\" \"mailyard\"\r\n\"SASL\" \"PLAIN LOGIN\"\r\n\
             \"SIEVE\" \"fileinto vacation\"\r\n\"STARTTLS\"\r\n\"MAXREDIRECTS\" \"4\"\r\n\
             \"VERSION\" \"1.0\"\r\n"
        );
        let mut out = Vec::new();
        write_script_list(&mut out, [("summer_script", false), ("vac\"ation", true)]);
        assert_eq!(out, b"\"summer_script\"\r\n\"vac\\\"ation\" ACTIVE\r\n");
        let mut out = Vec::new();
        write_script(&mut out, b"keep;\r\n");
        assert_eq!(out, b"{7}\r\nkeep;\r\n\r\n");
    }
}
