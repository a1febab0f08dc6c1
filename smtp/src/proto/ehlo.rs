//! The EHLO reply: the greeting line, then one line per service extension.
//!
//! RFC 5321 §4.1.1.1 (`ehlo-ok-rsp`), RFC 2034 §3 (no enhanced codes in the
//! EHLO reply) and the RFCs of each keyword, cited on the fields.

use super::reply::Reply;

/// What the server offers on this connection. The session builds it from
/// configuration and connection state (TLS active, authenticated, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EhloCapabilities {
    /// `PIPELINING`. RFC 2920.
    pub pipelining: bool,
    /// `SIZE n`: the fixed maximum message size; `Some(0)` advertises no fixed
    /// maximum. RFC 1870 §4.
    pub size: Option<u64>,
    /// `8BITMIME`. RFC 6152.
    pub eight_bit_mime: bool,
    /// `SMTPUTF8`. RFC 6531.
    pub smtputf8: bool,
    /// `ENHANCEDSTATUSCODES`. RFC 2034.
    pub enhanced_status_codes: bool,
    /// `CHUNKING` (BDAT). RFC 3030.
    pub chunking: bool,
    /// `BINARYMIME`; only advertised together with CHUNKING. RFC 3030 §3.
    pub binary_mime: bool,
    /// `DSN`. RFC 3461.
    pub dsn: bool,
    /// `STARTTLS`: offered on a plain connection with TLS configured.
    /// RFC 3207 §4.
    pub starttls: bool,
    /// `AUTH PLAIN LOGIN`: offered where authentication is allowed (after
    /// TLS, unless configured otherwise, RFC 4954 §4). RFC 4954 §3.
    pub auth: bool,
    /// `BURL imap`: BURL with IMAP URLs, offered once authenticated on a
    /// submission listener (RFC 4468 §3.1: the argument lists the URL schemes
    /// the server can fetch for this user).
    pub burl: bool,
}

impl EhloCapabilities {
    /// The keywords in the order they are advertised.
    pub fn keywords(&self) -> Vec<String> {
        let mut k = Vec::new();
        if self.pipelining {
            k.push("PIPELINING".to_string());
        }
        if let Some(size) = self.size {
            k.push(format!("SIZE {size}"));
        }
        if self.eight_bit_mime {
            k.push("8BITMIME".to_string());
        }
        if self.smtputf8 {
            k.push("SMTPUTF8".to_string());
        }
        if self.enhanced_status_codes {
            k.push("ENHANCEDSTATUSCODES".to_string());
        }
        if self.chunking {
            k.push("CHUNKING".to_string());
            if self.binary_mime {
                k.push("BINARYMIME".to_string());
            }
        }
        if self.dsn {
            k.push("DSN".to_string());
        }
        if self.starttls {
            k.push("STARTTLS".to_string());
        }
        if self.auth {
            k.push("AUTH PLAIN LOGIN".to_string());
        }
        if self.burl {
            k.push("BURL imap".to_string());
        }
        k
    }

    /// The EHLO reply: `250-<hostname> greets <client>` then the keywords,
    /// no enhanced status codes (RFC 2034 §3). RFC 5321 §4.1.1.1.
    pub fn reply(&self, hostname: &str, client: &str) -> Reply {
        let mut text = vec![greeting(hostname, client)];
        text.extend(self.keywords());
        Reply {
            code: 250,
            status: None,
            text,
        }
    }
}

/// The HELO reply: one line, no extensions. RFC 5321 §4.1.1.1.
pub fn helo_reply(hostname: &str, client: &str) -> Reply {
    Reply::new(250, None, greeting(hostname, client))
}

fn greeting(hostname: &str, client: &str) -> String {
    // The client's argument is echoed; Reply::write strips control
    // characters, and the length is bounded by parse_command.
    format!("{hostname} greets {client}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Reply) -> String {
        String::from_utf8(r.to_bytes()).expect("replies are UTF-8")
    }

    #[test]
    fn ehlo_replies_byte_exact() {
        let all = EhloCapabilities {
            pipelining: true,
            size: Some(52_428_800),
            eight_bit_mime: true,
            smtputf8: true,
            enhanced_status_codes: true,
            chunking: true,
            binary_mime: true,
            dsn: true,
            starttls: true,
            auth: true,
            burl: false,
        };
        let rows: &[(EhloCapabilities, &str)] = &[
            (
                EhloCapabilities::default(),
                "250 foo.com greets bar.com\r\n",
            ),
            // RFC 5321 Appendix D.1's reply shape (without HELP).
            (
                EhloCapabilities {
                    eight_bit_mime: true,
                    size: Some(0),
                    dsn: true,
                    ..Default::default()
                },
                "250-foo.com greets bar.com\r\n250-SIZE 0\r\n250-8BITMIME\r\n250 DSN\r\n",
            ),
            (
                all.clone(),
                "250-foo.com greets bar.com\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n\
                 250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-BINARYMIME\r\n\
                 250-DSN\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n",
            ),
            // After STARTTLS: no STARTTLS; AUTH offered.
            (
                EhloCapabilities {
                    starttls: false,
                    ..all.clone()
                },
                "250-foo.com greets bar.com\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n\
                 250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-BINARYMIME\r\n\
                 250-DSN\r\n250 AUTH PLAIN LOGIN\r\n",
            ),
            // Authenticated submission: BURL imap (RFC 4468 §3.1, §3.6 example).
            (
                EhloCapabilities {
                    starttls: false,
                    auth: false,
                    burl: true,
                    ..all.clone()
                },
                "250-foo.com greets bar.com\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n\
                 250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-BINARYMIME\r\n\
                 250-DSN\r\n250 BURL imap\r\n",
            ),
            // BINARYMIME without CHUNKING is not advertised (RFC 3030 §3).
            (
                EhloCapabilities {
                    binary_mime: true,
                    ..Default::default()
                },
                "250 foo.com greets bar.com\r\n",
            ),
        ];
        for (caps, expected) in rows {
            assert_eq!(
                wire(&caps.reply("foo.com", "bar.com")),
                *expected,
                "{caps:?}"
            );
        }
    }

    #[test]
    fn helo_reply_is_one_line_and_echo_is_sanitised() {
        assert_eq!(
            wire(&helo_reply("foo.com", "bar.com")),
            "250 foo.com greets bar.com\r\n"
        );
        let r = EhloCapabilities::default().reply("foo.com", "evil\r\n250 x");
        assert_eq!(wire(&r), "250 foo.com greets evil  250 x\r\n");
    }
}
