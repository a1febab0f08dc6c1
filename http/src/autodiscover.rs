//! Outlook's plain-old-XML Autodiscover (`POST /autodiscover/autodiscover.xml`),
//! [MS-OXDSCLI] §2.2.3 (request) and §2.2.4 (response, the "outlook/responseschema
//! /2006a" schema), for IMAP and SMTP accounts; Thunderbird, eM Client and others ask
//! it too.
//!
//! Each protocol entry says how to encrypt: `<SSL>on</SSL>` alone for an implicit-TLS
//! port; `<SSL>off</SSL>` with `<Encryption>TLS</Encryption>` for a STARTTLS port.
//! `Encryption` overrides `SSL` (§2.2.4.1.1.2.6.22) and its `TLS` means STARTTLS in
//! Outlook's terms, so it must never accompany an implicit-TLS port: Outlook would
//! wait for a plain greeting on 993/465 and fail (Stalwart's issue #3248).

use std::fmt::Write as _;

use crate::endpoints::Endpoints;
use crate::xml::escape;

/// Largest request body read (a real request is about 400 bytes).
pub const MAX_REQUEST_BODY: usize = 16 * 1024;

/// Why a request could not be answered.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Not well-formed XML (or a DTD, which is refused).
    BadXml(String),
    /// No `EMailAddress` element, or an empty one.
    NoAddress,
}

/// The `EMailAddress` of a POX request (the `Request` element's child, in any
/// namespace), trimmed. DTDs are refused (roxmltree's default), so no entity can
/// expand.
pub fn parse_request(body: &[u8]) -> Result<String, RequestError> {
    let text = std::str::from_utf8(body).map_err(|e| RequestError::BadXml(e.to_string()))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| RequestError::BadXml(e.to_string()))?;
    doc.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "EMailAddress")
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or(RequestError::NoAddress)
}

/// The response for `address` (echoed as the login name).
pub fn render(address: &str, e: &Endpoints) -> String {
    let a = escape(address);
    let host = escape(&e.hostname);
    let mut x = String::with_capacity(2000);
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str(
        "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n",
    );
    x.push_str(
        "  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n",
    );
    x.push_str(
        "    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n",
    );
    let protocols = e
        .incoming()
        .into_iter()
        .map(|s| ("IMAP", s))
        .chain(e.outgoing().into_iter().map(|s| ("SMTP", s)));
    for (kind, (port, implicit)) in protocols {
        x.push_str("      <Protocol>\n");
        let _ = writeln!(x, "        <Type>{kind}</Type>");
        let _ = writeln!(x, "        <Server>{host}</Server>");
        let _ = writeln!(x, "        <Port>{port}</Port>");
        let _ = writeln!(x, "        <LoginName>{a}</LoginName>");
        x.push_str("        <DomainRequired>off</DomainRequired>\n");
        x.push_str("        <SPA>off</SPA>\n");
        if implicit {
            x.push_str("        <SSL>on</SSL>\n");
        } else {
            x.push_str("        <SSL>off</SSL>\n        <Encryption>TLS</Encryption>\n");
        }
        x.push_str("        <AuthRequired>on</AuthRequired>\n");
        if kind == "SMTP" {
            x.push_str("        <UsePOPAuth>on</UsePOPAuth>\n        <SMTPLast>off</SMTPLast>\n");
        }
        x.push_str("      </Protocol>\n");
    }
    x.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
        <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\
        <Request><EMailAddress> alice@example.com </EMailAddress>\
        <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\
        </Request></Autodiscover>";

    #[test]
    fn requests() {
        assert_eq!(
            parse_request(REQUEST.as_bytes()),
            Ok("alice@example.com".into())
        );
        for bad in [
            &b"<Autodiscover><Request>"[..],
            b"not xml",
            b"\xff\xfe",
            b"<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>",
        ] {
            assert!(
                matches!(parse_request(bad), Err(RequestError::BadXml(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_request(b"<Autodiscover><Request><EMailAddress/></Request></Autodiscover>"),
            Err(RequestError::NoAddress)
        );
    }

    #[test]
    fn ssl_and_encryption_per_port() {
        let e = Endpoints {
            hostname: "mail.example.com".into(),
            imaps: Some(993),
            imap: Some(143),
            submissions: Some(465),
            submission: Some(587),
        };
        let x = render("o'neil&co@example.com", &e);
        let doc = roxmltree::Document::parse(&x).expect("well-formed");
        let protocols: Vec<_> = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "Protocol")
            .map(|p| {
                let child = |name: &str| {
                    p.children()
                        .find(|c| c.tag_name().name() == name)
                        .and_then(|c| c.text())
                        .map(str::to_string)
                };
                (
                    child("Type").unwrap_or_default(),
                    child("Port").unwrap_or_default(),
                    child("SSL").unwrap_or_default(),
                    child("Encryption"),
                    child("LoginName").unwrap_or_default(),
                )
            })
            .collect();
        let tls = Some("TLS".to_string());
        let login = "o'neil&co@example.com".to_string();
        assert_eq!(
            protocols,
            [
                (
                    "IMAP".into(),
                    "993".into(),
                    "on".into(),
                    None,
                    login.clone()
                ),
                (
                    "IMAP".into(),
                    "143".into(),
                    "off".into(),
                    tls.clone(),
                    login.clone()
                ),
                (
                    "SMTP".into(),
                    "465".into(),
                    "on".into(),
                    None,
                    login.clone()
                ),
                ("SMTP".into(), "587".into(), "off".into(), tls, login),
            ]
        );
    }
}
