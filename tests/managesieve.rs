//! ManageSieve (RFC 5804) with a real client: Python's `managesieve` package (PyPI;
//! `.ci/run` installs it), against `mailyard serve` with `[listen] managesieve` on
//! loopback — logging in, uploading a script (one with errors is refused with its line),
//! listing, activating, reading back, renaming, deleting — and what it stored is what
//! the CLI and the store see. A second session goes through STARTTLS first.

mod bin_support;

use std::path::{Path, PathBuf};

use bin_support::{JSON_LOG, mailyard, python, serve, text};

fn write_config(dir: &Path) -> PathBuf {
    bin_support::write_config(
        dir,
        "mailyard.toml",
        "data",
        &["smtp", "managesieve"],
        JSON_LOG,
    )
}

const CLIENT: &str = r#"
import os, sys, managesieve
port = int(os.environ["PORT"])
tls = os.environ.get("TLS") == "1"
m = managesieve.MANAGESIEVE("127.0.0.1", port, use_tls=tls)
assert "PLAIN" in m.loginmechs, m.loginmechs
assert "fileinto" in m.capabilities and "vacation" in m.capabilities, m.capabilities
assert m.login("", "alice@example.com", "s3cret pw") == "OK", m.response_text
if tls:
    print("tls ok")
    sys.exit(0)
# A script with an error is refused, with its line and column.
assert m.putscript("broken", 'require "fileinto";\r\nif true {\r\n  fileinto;\r\n}\r\n') == "NO"
print("refused:", m.response_text.decode() if isinstance(m.response_text, bytes) else m.response_text)
script = 'require ["fileinto"];\r\nif header :contains "subject" "[list]" {\r\n  fileinto "Lists";\r\n}\r\n'
assert m.putscript("lists", script) == "OK", m.response_text
assert m.putscript("other", "keep;\r\n") == "OK", m.response_text
assert m.havespace("big", 10 * 1024 * 1024) == "NO"
assert m.setactive("lists") == "OK", m.response_text
typ, scripts = m.listscripts()
assert typ == "OK", typ
print("list:", sorted((n if isinstance(n, str) else n.decode(), a) for n, a in scripts))
typ, data = m.getscript("lists")
assert typ == "OK" and (data if isinstance(data, str) else data.decode()) == script, data
assert m.deletescript("lists") == "NO"   # the active one
assert m.deletescript("other") == "OK", m.response_text
assert m.getscript("other")[0] == "NO"
assert m.logout() == "OK"
print("done")
"#;

fn client(port: u16, tls: bool) -> String {
    let out = python(
        CLIENT,
        &[
            ("PORT", port.to_string()),
            ("TLS", if tls { "1" } else { "0" }.to_string()),
        ],
    );
    assert!(
        out.status.success(),
        "client failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn a_real_client_manages_scripts() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = write_config(dir.path());
    let out = mailyard(
        &config,
        &["user", "add", "alice@example.com"],
        Some("s3cret pw\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let server = serve(&config, 2);
    let port = server
        .listeners
        .iter()
        .find(|(name, _)| name == "managesieve")
        .map(|(_, a)| a.port())
        .expect("managesieve listener");

    let said = client(port, false);
    assert!(
        said.contains("refused: 3:"),
        "no line 3 in the refusal: {said}"
    );
    assert!(
        said.contains("list: [('lists', True), ('other', False)]"),
        "{said}"
    );
    assert!(said.contains("done"), "{said}");
    // What the client stored is what the admin sees.
    let out = mailyard(&config, &["sieve", "list", "alice@example.com"], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("lists\t")
            && String::from_utf8_lossy(&out.stdout).contains("ACTIVE"),
        "{}",
        text(&out)
    );
    // STARTTLS, then the same login.
    assert!(client(port, true).contains("tls ok"));
}
