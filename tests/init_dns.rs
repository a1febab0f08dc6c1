//! `mailyard init` and `mailyard dns` through the binary: init writes a config the
//! loader and `mailyard check` accept, with the admin (password from stdin) and the
//! DKIM key; a server on that config (listeners moved to loopback) lets the admin log
//! in over IMAP. `dns check` against a DNS server on loopback serving some records
//! right, some wrong and some not at all reports each, and exits 1 until all are right.

mod bin_support;
#[path = "tests/relay_support/mod.rs"]
mod relay_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;

use bin_support::{BIN, addr, mailyard, serve, text};
use relay_support::{Zone, dns_server};

const ADMIN: &str = "alice@example.com";
const PW: &str = "a good admin password";

fn init(dir: &Path, config: &Path, stdin: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args([
            "init",
            "--domain",
            "example.com",
            "--hostname",
            "mail.example.com",
        ])
        .args(["--admin", ADMIN, "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mailyard init");
    use std::io::Write;
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    child.wait_with_output().expect("wait")
}

#[test]
fn init_writes_a_working_production_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("mailyard.toml");
    let o = init(dir.path(), &config, &format!("{PW}\n"));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("dns example.com"),
        "next steps name the DNS command: {out}"
    );
    assert!(out.contains("conf/mailyard.service"), "{out}");

    let c = mailyard_common::Config::load(Some(&config)).expect("the loader takes it");
    assert_eq!(c.hostname, "mail.example.com");
    assert_eq!(c.postmaster.as_deref(), Some(ADMIN));
    assert_eq!(c.data_dir, dir.path().join("data"));
    let ports: Vec<u16> = c.listeners().iter().map(|(_, a)| a.port()).collect();
    for p in [25, 587, 465, 143, 993] {
        assert!(ports.contains(&p), "standard port {p}: {ports:?}");
    }
    let o = mailyard(&config, &["check"], None);
    assert!(o.status.success(), "check: {}", text(&o));
    let o = mailyard(&config, &["user", "list"], None);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        ADMIN,
        "{}",
        text(&o)
    );
    let o = mailyard(&config, &["dkim", "list"], None);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("example.com  mailyard  rsa-sha256"),
        "{}",
        text(&o)
    );

    // Never overwrites; nothing is read or written when the file exists.
    let before = std::fs::read(&config).expect("config");
    let o = init(dir.path(), &config, "other\n");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists already"));
    assert_eq!(std::fs::read(&config).expect("config"), before);

    // The same config on loopback ports: the admin logs in with the password given.
    let mut text_cfg = String::from_utf8(before).expect("utf8");
    for port in ["25", "587", "465", "143", "993"] {
        text_cfg = text_cfg.replace(&format!("\"0.0.0.0:{port}\""), "\"127.0.0.1:0\"");
    }
    // The local submission socket in the temp dir, not /run/mailyard.
    let socket = dir.path().join("submit.sock");
    text_cfg = text_cfg.replace(
        "\"/run/mailyard/submit.sock\"",
        &format!("{:?}", socket.display().to_string()),
    );
    text_cfg.push_str("\n# test\n");
    let local = dir.path().join("local.toml");
    std::fs::write(
        &local,
        text_cfg.replace("format = \"auto\"", "format = \"json\""),
    )
    .expect("write");
    let server = serve(&local, 5);
    let imap = addr(&server, "imap");
    let script = "import imaplib,sys\nm=imaplib.IMAP4(sys.argv[1],int(sys.argv[2]))\n\
                  print(m.login(sys.argv[3],sys.argv[4])[0])\nm.logout()\n";
    let o = Command::new("python3")
        .args([
            "-c",
            script,
            &imap.ip().to_string(),
            &imap.port().to_string(),
            ADMIN,
            PW,
        ])
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "OK",
        "{}",
        text(&o)
    );
}

/// A config for example.com with DNS at `dns` and standard listener ports.
fn dns_config(dir: &Path, dns: SocketAddr) -> std::path::PathBuf {
    let config = dir.join("mailyard.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mail.example.com\"\ndata_dir = {:?}\n\
             [listen]\nsmtp = \"0.0.0.0:25\"\nsubmission = \"0.0.0.0:587\"\n\
             submissions = \"0.0.0.0:465\"\nimap = \"0.0.0.0:143\"\nimaps = \"0.0.0.0:993\"\nhttp = \"\"\n\
             [dns]\nnameservers = [\"{dns}\"]\n",
            dir.join("data").display().to_string()
        ),
    )
    .expect("write config");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_prints_and_checks_the_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Keys first (the config's DNS server does not matter for that).
    let placeholder = dns_config(dir.path(), "127.0.0.1:9".parse().expect("addr"));
    let o = mailyard(&placeholder, &["dkim", "generate", "example.com"], None);
    assert!(o.status.success(), "{}", text(&o));
    let dkim = mailyard_smtp::dns_records::dkim_values(&dir.path().join("data"), "example.com")
        .expect("dkim");
    let (selector, value) = dkim[0].clone();
    assert_eq!(selector, "mailyard");

    // `dns` prints them, the DKIM value included.
    let o = mailyard(&placeholder, &["dns", "example.com"], None);
    assert!(o.status.success(), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    for want in [
        "example.com.",
        "IN MX    10 mail.example.com.",
        "\"v=spf1 mx -all\"",
        "mailyard._domainkey.example.com.",
        "_dmarc.example.com.",
        "autoconfig.example.com.",
        "_submissions._tcp.example.com.   3600 IN SRV   0 1 465 mail.example.com.",
        "_pop3s._tcp.example.com.",
    ] {
        assert!(printed.contains(want), "{want:?} in:\n{printed}");
    }
    let key = value.rsplit("p=").next().expect("p=");
    assert!(printed.contains(&key[..200]), "the key is printed");

    // Some right, some wrong, some missing.
    let right = || {
        Zone::default()
            .mx("example.com", 10, "mail.example.com")
            .a("mail.example.com", Ipv4Addr::new(192, 0, 2, 10))
            .txt("mailyard._domainkey.example.com", &value)
            .cname("autoconfig.example.com", "mail.example.com")
            .srv(
                "_submission._tcp.example.com",
                0,
                1,
                587,
                "mail.example.com",
            )
            .srv("_pop3._tcp.example.com", 0, 0, 0, ".")
    };
    let partial = right().txt("example.com", "v=spf1 a ~all").srv(
        "_submissions._tcp.example.com",
        0,
        1,
        2465,
        "mail.example.com",
    );
    let config = dns_config(dir.path(), dns_server(partial).await);
    let o = mailyard(&config, &["dns", "check", "example.com"], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout).into_owned();
    let line = |needle: &str| {
        report
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line for {needle}:\n{report}"))
            .to_string()
    };
    assert!(
        line(" MX 10 mail.example.com.").starts_with("ok "),
        "{report}"
    );
    assert!(line("mail.example.com. A ").starts_with("ok "), "{report}");
    assert!(line("spf1").starts_with("WRONG "), "{report}");
    assert!(
        line("spf1").contains("found: \"v=spf1 a ~all\""),
        "{report}"
    );
    assert!(line("_domainkey").starts_with("ok "), "{report}");
    assert!(line("_dmarc").starts_with("MISSING "), "{report}");
    assert!(line("autoconfig.").starts_with("ok "), "{report}");
    assert!(line("autodiscover.").starts_with("MISSING "), "{report}");
    assert!(line("_submission._tcp").starts_with("ok "), "{report}");
    assert!(line("_submissions._tcp").starts_with("WRONG "), "{report}");
    assert!(line("_submissions._tcp").contains("2465"), "{report}");
    assert!(line("_imaps._tcp").starts_with("MISSING "), "{report}");
    assert!(line("_pop3._tcp").starts_with("ok "), "{report}");

    // All of them right: exit 0.
    let all = right()
        .txt("example.com", "v=spf1 mx -all")
        .txt(
            "_dmarc.example.com",
            "v=DMARC1; p=reject; rua=mailto:dmarc@example.com",
        )
        .cname("autodiscover.example.com", "mail.example.com.")
        .srv(
            "_submissions._tcp.example.com",
            0,
            1,
            465,
            "mail.example.com",
        )
        .srv("_imap._tcp.example.com", 0, 1, 143, "mail.example.com")
        .srv("_imaps._tcp.example.com", 0, 1, 993, "mail.example.com")
        .srv("_pop3s._tcp.example.com", 0, 0, 0, ".");
    let config = dns_config(dir.path(), dns_server(all).await);
    let o = mailyard(&config, &["dns", "check", "example.com"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("every record is published"),
        "{}",
        text(&o)
    );
}
