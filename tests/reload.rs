//! SIGHUP on `mailyard serve`: the config file and the certificate are read again
//! without dropping a session. A new TLS connection (Python's ssl) gets the new
//! certificate, an IMAP session opened before still answers NOOP, a changed limit
//! shows in new sessions, a changed listener is logged as needing a restart, and a
//! broken config or certificate is logged while the old ones stay in force.

mod bin_support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bin_support::{Serve, addr, mailyard, serve, text};

const USER: &str = "alice@example.com";
const PW: &str = "alice password";
const WAIT: Duration = Duration::from_secs(20);

/// A new self-signed certificate and key for `name`, written as PEM.
fn write_cert(dir: &Path, name: &str) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("cert.pem");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("key.pem");
    cert.der().to_vec()
}

fn write_config(dir: &Path, extra_listen: &str, message_size: u64) -> std::path::PathBuf {
    let config = dir.join("mailyard.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mail.example.com\"\ndata_dir = {:?}\n\
             [listen]\nsmtp = \"\"\nsubmission = \"\"\nsubmissions = \"\"\n\
             imap = \"127.0.0.1:0\"\nimaps = \"127.0.0.1:0\"\nhttp = \"\"\n{extra_listen}\
             [tls]\ncert = {:?}\nkey = {:?}\n\
             [limits]\nmessage_size = {message_size}\n[log]\nformat = \"json\"\n",
            dir.join("data").display().to_string(),
            dir.join("cert.pem").display().to_string(),
            dir.join("key.pem").display().to_string(),
        ),
    )
    .expect("write config");
    config
}

/// The DER certificate a new TLS connection to `imaps` is given (Python's ssl).
fn served_cert(imaps: SocketAddr) -> Vec<u8> {
    let script = "import socket,ssl,sys\n\
                  c=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\nc.check_hostname=False\n\
                  c.verify_mode=ssl.CERT_NONE\n\
                  s=c.wrap_socket(socket.create_connection((sys.argv[1],int(sys.argv[2]))))\n\
                  print(s.getpeercert(binary_form=True).hex())\ns.close()\n";
    let o = Command::new("python3")
        .args([
            "-c",
            script,
            &imaps.ip().to_string(),
            &imaps.port().to_string(),
        ])
        .output()
        .expect("python3 runs (apt-get install -y python3)");
    assert!(o.status.success(), "python ssl: {}", text(&o));
    let hex = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A plain IMAP connection, logged in.
struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    greeting: String,
}

impl Session {
    fn open(imap: SocketAddr) -> Session {
        let stream = TcpStream::connect(imap).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut greeting = String::new();
        reader.read_line(&mut greeting).expect("greeting");
        let mut s = Session {
            reader,
            writer: stream,
            greeting,
        };
        let done = s.command("a1", &format!("LOGIN {USER} \"{PW}\""));
        assert!(done.starts_with("a1 OK"), "{done}");
        s
    }

    /// Sends `tag command`; returns everything up to the tagged line.
    fn command(&mut self, tag: &str, command: &str) -> String {
        self.writer
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .expect("write");
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read");
            assert!(n > 0, "connection closed; got {all}");
            all.push_str(&line);
            if line.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }
}

fn hangup(server: &Serve) {
    let o = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .output()
        .expect("kill");
    assert!(o.status.success(), "kill -HUP: {}", text(&o));
}

#[test]
fn sighup_reloads_certificate_and_config_keeping_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = write_cert(dir.path(), "mail.example.com");
    let config = write_config(dir.path(), "", 1_000_000);
    let o = mailyard(&config, &["user", "add", USER], Some(PW));
    assert!(o.status.success(), "{}", text(&o));
    let server = serve(&config, 2);
    let (imap, imaps) = (addr(&server, "imap"), addr(&server, "imaps"));
    assert_eq!(served_cert(imaps), first);
    let mut old = Session::open(imap);
    assert!(old.greeting.starts_with("* OK"), "{}", old.greeting);
    let caps = old.command("a0", "CAPABILITY");
    assert!(caps.contains("APPENDLIMIT=1000000"), "{caps}");

    // New certificate, a new limit, and a listener change (which needs a restart).
    let second = write_cert(dir.path(), "mail.example.com");
    assert_ne!(first, second);
    write_config(dir.path(), "", 2_000_000);
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("config")
            .replace("submission = \"\"", "submission = \"127.0.0.1:0\"")
            + "[autoconfig]\nhostname = \"imap.example.com\"\n",
    )
    .expect("write");
    hangup(&server);
    let line = server.wait_log(&["needs a restart"], WAIT);
    assert!(line.contains("[listen]"), "{line}");
    // One line per section, in the order they are checked.
    server.wait_log(&["needs a restart", "[autoconfig]"], WAIT);
    server.wait_log(&["configuration reloaded"], WAIT);
    assert_eq!(
        served_cert(imaps),
        second,
        "new handshakes get the new certificate"
    );
    let noop = old.command("a2", "NOOP");
    assert!(noop.contains("a2 OK"), "the old session goes on: {noop}");
    let mut fresh = Session::open(imap);
    let caps = fresh.command("c1", "CAPABILITY");
    assert!(
        caps.contains("APPENDLIMIT=2000000"),
        "the new limit: {caps}"
    );

    // A broken config: logged, the old one (and its certificate) kept.
    std::fs::write(&config, "this is [[ not toml\n").expect("write");
    hangup(&server);
    let line = server.wait_log(&["configuration not reloaded"], WAIT);
    assert!(line.contains("mailyard.toml"), "{line}");
    assert_eq!(served_cert(imaps), second);
    assert!(old.command("a3", "NOOP").contains("a3 OK"));
    let caps = Session::open(imap).command("c2", "CAPABILITY");
    assert!(caps.contains("APPENDLIMIT=2000000"), "{caps}");

    // A good config whose certificate does not load: also refused whole.
    write_config(dir.path(), "", 3_000_000);
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").expect("write");
    hangup(&server);
    server.wait_log(&["configuration not reloaded"], WAIT);
    assert_eq!(served_cert(imaps), second);
    let caps = Session::open(imap).command("c3", "CAPABILITY");
    assert!(caps.contains("APPENDLIMIT=2000000"), "{caps}");
    assert!(fresh.command("c4", "NOOP").contains("c4 OK"));
}
