//! Apple's configuration profile for iOS, iPadOS and macOS Mail
//! (`GET /apple/mail.mobileconfig?emailaddress=…`): an unsigned XML property list
//! (Apple's "Configuration Profile Reference": a `Configuration` profile holding one
//! `com.apple.mail.managed` payload). IMAP goes to the implicit-TLS port when there is
//! one, else to the STARTTLS port; SMTP likewise to submissions, else submission.
//! The password is not in the profile: the device asks for it when it is installed.
//!
//! `PayloadUUID`s are derived from the domain and the address, so the same account
//! always gets the same profile and installing it again replaces the old one.

use std::fmt::Write as _;

use crate::endpoints::Endpoints;
use crate::xml::escape;

/// The content type iOS and macOS open as a profile.
pub const CONTENT_TYPE: &str = "application/x-apple-aspen-config";

/// A stable UUID for `parts` (RFC 9562 §5.8, version 8: the first 128 bits of the
/// SHA-256 of the parts, with the version and variant bits set).
pub fn stable_uuid(parts: &[&str]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"mailyard mobileconfig");
    for p in parts {
        ctx.update(b"\0");
        ctx.update(p.as_bytes());
    }
    let digest = ctx.finish();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The profile for `address` in `domain`, or None when there is no IMAP or no
/// submission port to offer.
pub fn render(domain: &str, address: &str, e: &Endpoints) -> Option<String> {
    let (imap_port, imap_tls) = e.incoming().into_iter().next()?;
    let (smtp_port, smtp_tls) = e.outgoing().into_iter().next()?;
    let key = address.to_ascii_lowercase();
    let profile_uuid = stable_uuid(&["profile", domain, &key]);
    let mail_uuid = stable_uuid(&["mail", domain, &key]);
    let reversed: Vec<&str> = domain.split('.').rev().collect();
    let ident = format!("{}.mailyard", reversed.join("."));
    let (a, d, host) = (escape(address), escape(domain), escape(&e.hostname));
    let b = |v: bool| if v { "<true/>" } else { "<false/>" };
    let mut x = String::with_capacity(3000);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n");
    x.push_str("<plist version=\"1.0\">\n<dict>\n");
    x.push_str("  <key>PayloadContent</key>\n  <array>\n    <dict>\n");
    let mail: [(&str, String); 23] = [
        ("EmailAccountDescription", format!("<string>{a}</string>")),
        ("EmailAccountType", "<string>EmailTypeIMAP</string>".into()),
        ("EmailAddress", format!("<string>{a}</string>")),
        (
            "IncomingMailServerAuthentication",
            "<string>EmailAuthPassword</string>".into(),
        ),
        (
            "IncomingMailServerHostName",
            format!("<string>{host}</string>"),
        ),
        (
            "IncomingMailServerPortNumber",
            format!("<integer>{imap_port}</integer>"),
        ),
        ("IncomingMailServerUseSSL", b(imap_tls).into()),
        (
            "IncomingMailServerUsername",
            format!("<string>{a}</string>"),
        ),
        (
            "OutgoingMailServerAuthentication",
            "<string>EmailAuthPassword</string>".into(),
        ),
        (
            "OutgoingMailServerHostName",
            format!("<string>{host}</string>"),
        ),
        (
            "OutgoingMailServerPortNumber",
            format!("<integer>{smtp_port}</integer>"),
        ),
        ("OutgoingMailServerUseSSL", b(smtp_tls).into()),
        (
            "OutgoingMailServerUsername",
            format!("<string>{a}</string>"),
        ),
        ("OutgoingPasswordSameAsIncomingPassword", b(true).into()),
        (
            "PayloadDescription",
            format!("<string>Mail account {a}</string>"),
        ),
        ("PayloadDisplayName", format!("<string>{d} mail</string>")),
        (
            "PayloadIdentifier",
            format!("<string>{}.mail.{mail_uuid}</string>", escape(&ident)),
        ),
        (
            "PayloadType",
            "<string>com.apple.mail.managed</string>".into(),
        ),
        ("PayloadUUID", format!("<string>{mail_uuid}</string>")),
        ("PayloadVersion", "<integer>1</integer>".into()),
        ("PreventAppSheet", b(false).into()),
        ("PreventMove", b(false).into()),
        ("SMIMEEnabled", b(false).into()),
    ];
    for (k, v) in mail {
        let _ = writeln!(x, "      <key>{k}</key>\n      {v}");
    }
    x.push_str("    </dict>\n  </array>\n");
    let profile: [(&str, String); 8] = [
        (
            "PayloadDescription",
            format!("<string>Sets up the mail account {a}</string>"),
        ),
        ("PayloadDisplayName", format!("<string>Mail: {a}</string>")),
        (
            "PayloadIdentifier",
            format!("<string>{}.{profile_uuid}</string>", escape(&ident)),
        ),
        ("PayloadOrganization", format!("<string>{d}</string>")),
        ("PayloadRemovalDisallowed", b(false).into()),
        ("PayloadType", "<string>Configuration</string>".into()),
        ("PayloadUUID", format!("<string>{profile_uuid}</string>")),
        ("PayloadVersion", "<integer>1</integer>".into()),
    ];
    for (k, v) in profile {
        let _ = writeln!(x, "  <key>{k}</key>\n  {v}");
    }
    x.push_str("</dict>\n</plist>\n");
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Endpoints {
        Endpoints {
            hostname: "mail.example.com".into(),
            imaps: Some(993),
            imap: Some(143),
            submissions: None,
            submission: Some(587),
        }
    }

    #[test]
    fn uuids_are_stable_and_well_formed() {
        let a = stable_uuid(&["mail", "example.com", "alice@example.com"]);
        assert_eq!(
            a,
            stable_uuid(&["mail", "example.com", "alice@example.com"])
        );
        assert_ne!(a, stable_uuid(&["mail", "example.com", "bob@example.com"]));
        assert_ne!(
            a,
            stable_uuid(&["mailexample.com", "", "alice@example.com"])
        );
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "8", "version 8");
        assert!("89AB".contains(&a[19..20]), "RFC variant");
    }

    #[test]
    fn profile_picks_tls_ports_and_escapes() {
        let x = render("example.com", "o'neil&co@example.com", &endpoints()).expect("profile");
        assert!(
            x.contains("<key>IncomingMailServerPortNumber</key>\n      <integer>993</integer>")
        );
        assert!(x.contains("<key>IncomingMailServerUseSSL</key>\n      <true/>"));
        assert!(
            x.contains("<key>OutgoingMailServerPortNumber</key>\n      <integer>587</integer>")
        );
        assert!(x.contains("<key>OutgoingMailServerUseSSL</key>\n      <false/>"));
        assert!(
            x.contains("<string>o&apos;neil&amp;co@example.com</string>"),
            "{x}"
        );
        assert!(!x.contains("o'neil&co"));
        assert_eq!(
            x,
            render("example.com", "o'neil&co@example.com", &endpoints()).expect("again")
        );
        let mut none = endpoints();
        none.imaps = None;
        none.imap = None;
        assert!(render("example.com", "a@example.com", &none).is_none());
    }
}
