//! The configuration `mailyard init` writes: `conf/mailyard.toml` (the production
//! example, every key explained, standard ports on all addresses, TLS paths commented)
//! with the host name, data dir and postmaster filled in. Pure.

use std::path::Path;

/// What `mailyard init` was told.
#[derive(Debug, Clone)]
pub struct InitParams<'a> {
    /// The server's host name (what MX points at).
    pub hostname: &'a str,
    /// The data dir (absolute).
    pub data_dir: &'a Path,
    /// The admin's address: the postmaster.
    pub admin: &'a str,
}

/// The production example the config is made from.
pub const TEMPLATE: &str = include_str!("../../conf/mailyard.toml");

/// The default data dir of `mailyard init` (and of `conf/mailyard.service`).
pub const DEFAULT_DATA_DIR: &str = "/var/lib/mailyard";

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The config text, parsed back to make sure it is valid. The error names a line of
/// the template that was not found (the template changed) or the parse problem.
pub fn config_text(p: &InitParams<'_>) -> Result<String, String> {
    let data_dir = p
        .data_dir
        .to_str()
        .ok_or_else(|| format!("{}: not UTF-8", p.data_dir.display()))?;
    let mut text =
        format!("# Written by `mailyard init` from conf/mailyard.toml; edit freely.\n{TEMPLATE}");
    let replacements = [
        (
            "hostname = \"mail.example.com\"",
            format!("hostname = {}", quote(p.hostname)),
        ),
        (
            "data_dir = \"/var/lib/mailyard\"",
            format!("data_dir = {}", quote(data_dir)),
        ),
        (
            "postmaster = \"admin@example.com\"",
            format!("postmaster = {}", quote(p.admin)),
        ),
        (
            "/etc/letsencrypt/live/mail.example.com/",
            format!("/etc/letsencrypt/live/{}/", p.hostname),
        ),
    ];
    for (from, to) in replacements {
        if !text.contains(from) {
            return Err(format!("conf/mailyard.toml has no `{from}` to fill in"));
        }
        text = text.replace(from, &to);
    }
    crate::Config::parse(&text, "the generated config").map_err(|e| e.to_string())?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_in_and_valid() {
        let text = config_text(&InitParams {
            hostname: "mx.example.org",
            data_dir: Path::new("/srv/mail \"data\""),
            admin: "boss@example.org",
        })
        .expect("config");
        let c = crate::Config::parse(&text, "t").expect("parses");
        assert_eq!(c.hostname, "mx.example.org");
        assert_eq!(c.data_dir, Path::new("/srv/mail \"data\""));
        assert_eq!(c.postmaster.as_deref(), Some("boss@example.org"));
        let ports: Vec<u16> = c.listeners().iter().map(|(_, a)| a.port()).collect();
        for p in [25, 587, 465, 143, 993] {
            assert!(ports.contains(&p), "{ports:?}");
        }
        assert!(c.tls.cert.is_none(), "TLS paths stay commented");
        assert!(text.contains("# cert = \"/etc/letsencrypt/live/mx.example.org/fullchain.pem\""));
    }
}
