//! Thunderbird's autoconfiguration document (clientConfig version 1.1), answered at
//! `/.well-known/autoconfig/mail/config-v1.1.xml` and `/mail/config-v1.1.xml`.
//!
//! Format: Mozilla's "Thunderbird:Autoconfiguration:ConfigFileFormat", written up
//! as draft-ietf-mailmaint-autoconfig (the clientConfig 1.1 schema Thunderbird's
//! `readFromXML` reads; the URLs are its §4.1 "ISP" lookups): one `emailProvider`
//! whose `id` and `domain` are the mail domain; each `incomingServer type="imap"` and
//! `outgoingServer type="smtp"` with `hostname`, `port`, `socketType` (`SSL` for
//! implicit TLS, `STARTTLS`), `authentication` `password-cleartext` (PLAIN/LOGIN under
//! TLS) and `username` `%EMAILADDRESS%`, which Thunderbird replaces with the address
//! the user typed. The first server of each kind is the default, the others are
//! alternatives; implicit TLS comes first (RFC 8314 §3).

use std::fmt::Write as _;

use crate::endpoints::Endpoints;
use crate::xml::escape;

/// The clientConfig 1.1 document for `domain`.
pub fn render(domain: &str, e: &Endpoints) -> String {
    let d = escape(domain);
    let host = escape(&e.hostname);
    let mut x = String::with_capacity(1500);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<clientConfig version=\"1.1\">\n");
    let _ = writeln!(x, "  <emailProvider id=\"{d}\">");
    let _ = writeln!(x, "    <domain>{d}</domain>");
    let _ = writeln!(x, "    <displayName>{d} mail</displayName>");
    let _ = writeln!(x, "    <displayShortName>{d}</displayShortName>");
    let servers = e
        .incoming()
        .into_iter()
        .map(|s| ("incomingServer", "imap", s))
        .chain(
            e.outgoing()
                .into_iter()
                .map(|s| ("outgoingServer", "smtp", s)),
        );
    for (element, kind, (port, implicit)) in servers {
        let socket = if implicit { "SSL" } else { "STARTTLS" };
        let _ = writeln!(x, "    <{element} type=\"{kind}\">");
        let _ = writeln!(x, "      <hostname>{host}</hostname>");
        let _ = writeln!(x, "      <port>{port}</port>");
        let _ = writeln!(x, "      <socketType>{socket}</socketType>");
        x.push_str("      <authentication>password-cleartext</authentication>\n");
        x.push_str("      <username>%EMAILADDRESS%</username>\n");
        let _ = writeln!(x, "    </{element}>");
    }
    x.push_str("  </emailProvider>\n</clientConfig>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(host: &str) -> Endpoints {
        Endpoints {
            hostname: host.into(),
            imaps: Some(993),
            imap: Some(143),
            submissions: Some(465),
            submission: Some(587),
        }
    }

    #[test]
    fn standard_ports_in_order() {
        let x = render("example.com", &endpoints("mail.example.com"));
        let order: Vec<_> = ["993", "143", "465", "587"]
            .iter()
            .map(|p| x.find(&format!("<port>{p}</port>")).expect(p))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{x}");
        assert_eq!(x.matches("<socketType>SSL</socketType>").count(), 2);
        assert_eq!(x.matches("<socketType>STARTTLS</socketType>").count(), 2);
        assert_eq!(x.matches("<username>%EMAILADDRESS%</username>").count(), 4);
        assert!(x.contains("<emailProvider id=\"example.com\">"));
    }

    #[test]
    fn odd_names_are_escaped_and_off_listeners_left_out() {
        let mut e = endpoints("h<&>\"'.test");
        e.imap = None;
        e.submissions = None;
        let x = render("d&<\"'>.test", &e);
        assert!(
            x.contains("<hostname>h&lt;&amp;&gt;&quot;&apos;.test</hostname>"),
            "{x}"
        );
        assert!(x.contains("id=\"d&amp;&lt;&quot;&apos;&gt;.test\""), "{x}");
        assert!(!x.contains("<port>143</port>") && !x.contains("<port>465</port>"));
        assert_eq!(x.matches("<incomingServer").count(), 1);
        assert_eq!(x.matches("<outgoingServer").count(), 1);
        assert!(!x.contains("h<"), "nothing unescaped: {x}");
    }
}
