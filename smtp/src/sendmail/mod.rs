//! `mailyard sendmail`: the sendmail(8) interface of Postfix, for cron, `mail`/`mailx`,
//! PHP's `mail()`, Git's `send-email` and scripts. The binary answers to it when called
//! as `mailyard sendmail …` or through a link named `sendmail`.
//!
//! Two ways in, one submission path ([`submit`]):
//!
//! - **In-process**, for root and the owner of `data_dir` (the user `serve` runs as):
//!   the command opens the store itself, as every admin command does, and makes the
//!   same durable request an SMTP session makes (`Store::deliver_all`): local
//!   recipients' copies (after their Sieve scripts) and the relay queue entry for remote
//!   ones, in one transaction.
//!   A running `serve` sees the new mail at once (its IMAP sessions are told within
//!   200 ms) and its relay scheduler reads the queue every second; with no server
//!   running the mail waits in the data dir (maildir and `queue/`) and goes out at the
//!   next start.
//! - **Through the local socket** (`[listen] local`), for every other user (PHP as
//!   www-data, user crontabs): `data_dir` is mode 0700 and not theirs (opening the
//!   store would fail for lack of permission, or at best give a read-only store), so
//!   the command hands the message to the running server instead ([`client`], [`protocol`], [`server`]), as OpenSMTPD's `smtpctl` does. The
//!   server learns the user from the kernel (the socket peer's uid), never from the
//!   client, and runs the same submission path with it. No server running: `EX_TEMPFAIL`
//!   (an unprivileged user cannot queue without it).
//!
//! No password is involved either way, as with Postfix's `postdrop`.
//!
//! Envelope: the sender is `-f`/`-r`, else the invoking Unix user `@` `hostname`; an
//! address without a domain gets `@hostname`. A recipient without a domain is
//! `name@hostname` when that is a local user or alias, else the postmaster (the
//! `postmaster` key, else the first user): what system mail for `root` wants. A local
//! address that does not exist is `EX_NOUSER`.
//!
//! Exit codes are sysexits.h's ([`Exit`]).

pub mod args;
pub mod client;
pub mod message;
pub mod protocol;
pub mod server;
pub mod submit;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use mailyard_common::Config;
use mailyard_store::Store;

use crate::proto::{Command, ForwardPath, Reply, ReversePath};
use args::{Mode, Options};
use message::InputError;
use protocol::End;
use submit::{Submission, Submitter, store_failure};

/// sysexits.h exit codes, as Postfix's sendmail uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// EX_USAGE: a bad command line.
    Usage = 64,
    /// EX_DATAERR: bad input (too big, a bad address in the header).
    DataErr = 65,
    /// EX_NOUSER: a local recipient that does not exist.
    NoUser = 67,
    /// EX_UNAVAILABLE: refused (a mail loop, an address that cannot be relayed).
    Unavailable = 69,
    /// EX_SOFTWARE: an internal error.
    Software = 70,
    /// EX_TEMPFAIL: try again later (the store could not take it now, or no server
    /// answers on the local socket).
    TempFail = 75,
    /// EX_PROTOCOL: the server's answer on the local socket was not understood.
    Protocol = 76,
    /// EX_NOPERM: no permission to write the data dir.
    NoPerm = 77,
    /// EX_CONFIG: the configuration is unusable.
    Config = 78,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit for a process exit code, when it is one of these.
    pub fn from_code(code: u8) -> Option<Exit> {
        [
            Exit::Ok,
            Exit::Usage,
            Exit::DataErr,
            Exit::NoUser,
            Exit::Unavailable,
            Exit::Software,
            Exit::TempFail,
            Exit::Protocol,
            Exit::NoPerm,
            Exit::Config,
        ]
        .into_iter()
        .find(|e| e.code() == code)
    }
}

/// A failure: its exit code and what to tell the user on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// The message.
    pub message: String,
}

impl Failure {
    /// A failure exiting with `exit`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
        }
    }
}

/// Who runs the command: the Unix user, from the real uid and `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoker {
    /// The login name (`LOGNAME`/`USER` when the uid has no passwd entry).
    pub user: String,
    /// The uid (for the `Received:` field, as Postfix writes it).
    pub uid: u32,
    /// The GECOS name, when there is one.
    pub full_name: Option<String>,
}

impl Invoker {
    /// The user with `uid` (the local socket's peer), from `/etc/passwd`; `uid<N>`
    /// when it has no entry there.
    pub async fn of_uid(uid: u32) -> Invoker {
        let passwd = tokio::fs::read_to_string("/etc/passwd")
            .await
            .unwrap_or_default();
        Self::from_passwd(&passwd, uid).unwrap_or_else(|| Invoker {
            user: format!("uid{uid}"),
            uid,
            full_name: None,
        })
    }

    /// The current process's user.
    pub fn current() -> Invoker {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Self::from_passwd(&passwd, uid).unwrap_or_else(|| Invoker {
            user: std::env::var("LOGNAME")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| format!("uid{uid}")),
            uid,
            full_name: None,
        })
    }

    /// The entry for `uid` in passwd(5) text.
    pub fn from_passwd(passwd: &str, uid: u32) -> Option<Invoker> {
        passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 5 || f[2].parse::<u32>().ok()? != uid {
                return None;
            }
            let gecos = f[4].split(',').next().unwrap_or("").trim();
            Some(Invoker {
                user: f[0].to_string(),
                uid,
                full_name: (!gecos.is_empty()).then(|| gecos.to_string()),
            })
        })
    }
}

/// Whether `uid` is root or owns `data_dir`.
/// Where `conf/mailyard.toml` and `conf/mailyard.service` put the local submission
/// socket: what a user who may not read the config file submits to.
pub const DEFAULT_LOCAL_SOCKET: &str = "/run/mailyard/submit.sock";

/// The configuration `sendmail` runs with, given what loading the config file gave.
/// A user other than root whom the file's mode keeps out (it may hold the smarthost
/// password) still submits: through the server, at [`DEFAULT_LOCAL_SOCKET`], which
/// does all routing and completion itself (the data dir named here is one that user
/// does not own, so nothing is opened in-process). Any other error stays an error.
pub fn config_for(
    loaded: Result<Config, mailyard_common::config::ConfigError>,
    uid: u32,
) -> Result<Config, mailyard_common::config::ConfigError> {
    match loaded {
        Err(mailyard_common::config::ConfigError::Read { source, .. })
            if uid != 0 && source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            let mut config = Config::default();
            config.listen.local = Some(PathBuf::from(DEFAULT_LOCAL_SOCKET));
            config.data_dir = PathBuf::from(mailyard_common::init::DEFAULT_DATA_DIR);
            Ok(config)
        }
        other => other,
    }
}

fn owns(data_dir: &std::path::Path, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    uid == 0 || std::fs::metadata(data_dir).is_ok_and(|m| m.uid() == uid)
}

/// How this `sendmail` submits: on the store it opened, or through the server.
enum Door {
    /// Root or the user `serve` runs as: the store in `data_dir`, in this process.
    InProcess {
        submitter: Submitter,
        runtime: tokio::runtime::Runtime,
    },
    /// Anyone else: the local submission socket at this path.
    Socket(PathBuf),
}

/// A `sendmail` ready to submit: the configuration, the invoking user and the way in.
pub struct Sendmail {
    config: Config,
    invoker: Invoker,
    door: Door,
}

impl Sendmail {
    /// Opens the store of `config` for `invoker` when it is root or owns `data_dir`;
    /// when it does not, or opening is not permitted, and `[listen] local` is set,
    /// submits through the server's socket instead.
    pub fn open(config: Config, invoker: Invoker) -> Result<Sendmail, Failure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::new(Exit::Software, format!("starting the runtime: {e}")))?;
        let socket = config.listen.local.clone();
        let door = match socket {
            // Not root and not the data dir's owner: the store could at best be read
            // (files are 0600, the dir 0700), so the server takes the message.
            Some(path) if !owns(&config.data_dir, invoker.uid) => Door::Socket(path),
            socket => match (Store::open(&config.data_dir).map_err(store_failure), socket) {
                (Ok((store, _)), _) => Door::InProcess {
                    submitter: Submitter::new(Arc::new(config.clone()), store),
                    runtime,
                },
                (Err(f), Some(path)) if f.exit == Exit::NoPerm => Door::Socket(path),
                (Err(f), None) if f.exit == Exit::NoPerm => {
                    return Err(Failure::new(
                        Exit::NoPerm,
                        format!(
                            "{} (or set [listen] local so that other users submit through \
                             the server)",
                            f.message
                        ),
                    ));
                }
                (Err(f), _) => return Err(f),
            },
        };
        Ok(Sendmail {
            config,
            invoker,
            door,
        })
    }

    /// Runs `options` (parsed by [`args::parse`]) with `input` as stdin and `output` as
    /// stdout (written only with `-bs`).
    pub fn run(
        &self,
        options: &Options,
        input: &mut impl BufRead,
        output: &mut impl Write,
    ) -> Result<(), Failure> {
        match options.mode {
            Mode::Newaliases => Ok(()),
            Mode::FlushQueue => match &self.door {
                Door::InProcess { submitter, .. } => submitter.flush_queue(),
                Door::Socket(_) => Err(Failure::new(
                    Exit::NoPerm,
                    "-q needs write access to data_dir (run it as root or as the user \
                     mailyard serve runs as); the server retries the queue by itself",
                )),
            },
            Mode::Smtp => self.smtp(options, input, output),
            Mode::Deliver => self.deliver_stdin(options, input),
        }
    }

    /// Submits `message` with `s`: what happened (`Submitted::describe`).
    fn submit(&self, s: &Submission, message: Vec<u8>) -> Result<String, Failure> {
        match &self.door {
            Door::InProcess { submitter, runtime } => runtime
                .block_on(submitter.submit(s, message, &self.invoker))
                .map(|done| done.describe()),
            Door::Socket(path) => {
                client::request(path, s, End::Data(message.len() as u64), &message)
            }
        }
    }

    /// Routes `rcpt` as a submission would (`-bs`'s RCPT).
    fn check(&self, rcpt: &str) -> Result<(), Failure> {
        let recipients = [rcpt.to_string()];
        match &self.door {
            Door::InProcess { submitter, .. } => submitter.check(&recipients),
            Door::Socket(path) => {
                let s = Submission {
                    recipients: recipients.to_vec(),
                    ..Submission::default()
                };
                client::request(path, &s, End::Check, &[]).map(|_| ())
            }
        }
    }

    /// The envelope and options the command line gives.
    fn submission(
        options: &Options,
        sender: Option<String>,
        recipients: Vec<String>,
    ) -> Submission {
        Submission {
            sender,
            recipients,
            extract: options.extract,
            full_name: options.full_name.clone(),
            notify: options.notify.clone(),
            ret: options.ret.clone(),
            envid: options.envid.clone(),
        }
    }

    /// One message from stdin (the default mode).
    fn deliver_stdin(&self, options: &Options, input: &mut impl BufRead) -> Result<(), Failure> {
        if !options.extract && options.recipients.is_empty() {
            return Err(Failure::new(
                Exit::Usage,
                "no recipients given (name them, or use -t)",
            ));
        }
        let raw = message::read_input(input, options.ignore_dots, self.config.limits.message_size)
            .map_err(|e| match e {
                InputError::TooBig(max) => Failure::new(
                    Exit::DataErr,
                    format!("message larger than [limits] message_size ({max} octets)"),
                ),
                InputError::Io(e) => Failure::new(Exit::Software, format!("reading stdin: {e}")),
            })?;
        let s = Self::submission(options, options.sender.clone(), options.recipients.clone());
        self.submit(&s, raw).map(|_| ())
    }

    /// `-bs`: SMTP on `input`/`output` (RFC 5321 §4.1.1; no TLS or AUTH, the caller
    /// is trusted as with the default mode). Lines may end in LF or CRLF. Recipients
    /// are checked at RCPT; each message is submitted at the end of its DATA (through
    /// the socket: one request each).
    fn smtp(
        &self,
        options: &Options,
        input: &mut impl BufRead,
        output: &mut impl Write,
    ) -> Result<(), Failure> {
        let host = self.config.hostname.clone();
        let max = self.config.limits.message_size;
        let io = |e: std::io::Error| Failure::new(Exit::Software, format!("stdout: {e}"));
        let send = |out: &mut dyn Write, r: Reply| -> Result<(), Failure> {
            out.write_all(&r.to_bytes()).map_err(io)?;
            out.flush().map_err(io)
        };
        send(
            output,
            Reply::new(220, None, format!("{host} ESMTP mailyard sendmail")),
        )?;
        let status = |code, s: (u8, u16, u16), text: String| {
            Reply::new(
                code,
                Some(crate::proto::EnhancedStatus::new(s.0, s.1, s.2)),
                text,
            )
        };
        // The transaction: MAIL FROM's sender ("<>" for the null sender) and the
        // recipients accepted so far.
        let mut tx: Option<(String, Vec<String>)> = None;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = std::io::Read::take(&mut *input, crate::proto::MAX_COMMAND_LINE as u64)
                .read_until(b'\n', &mut line)
                .map_err(|e| Failure::new(Exit::Software, format!("stdin: {e}")))?;
            if n == 0 {
                return Ok(());
            }
            if !line.ends_with(b"\n") && n >= crate::proto::MAX_COMMAND_LINE {
                // Skip the rest of an overlong line.
                let mut rest = Vec::new();
                let _ = input.read_until(b'\n', &mut rest);
                send(output, Reply::line_too_long())?;
                continue;
            }
            while line.ends_with(b"\n") || line.ends_with(b"\r") {
                line.pop();
            }
            let reply = match crate::proto::parse_command(&line) {
                Err(e) => e.reply(),
                Ok(Command::Ehlo(_)) => Reply::new(250, None, host.clone())
                    .with_line("PIPELINING")
                    .with_line(format!("SIZE {max}"))
                    .with_line("8BITMIME")
                    .with_line("ENHANCEDSTATUSCODES")
                    .with_line("SMTPUTF8"),
                Ok(Command::Helo(_)) => Reply::new(250, None, host.clone()),
                Ok(Command::Mail { from, .. }) => {
                    if tx.is_some() {
                        Reply::bad_sequence("Sender already given")
                    } else {
                        tx = Some((
                            match from {
                                ReversePath::Null => "<>".to_string(),
                                ReversePath::Mailbox(m) => m.to_string(),
                            },
                            Vec::new(),
                        ));
                        Reply::sender_ok()
                    }
                }
                Ok(Command::Rcpt { to, .. }) => match tx.as_mut() {
                    None => Reply::bad_sequence("Need MAIL before RCPT"),
                    Some((_, rcpts)) if rcpts.len() >= self.config.limits.max_recipients => {
                        Reply::too_many_recipients()
                    }
                    Some((_, rcpts)) => {
                        let rcpt = match &to {
                            ForwardPath::Postmaster => "<Postmaster>".to_string(),
                            ForwardPath::Mailbox(m) => m.to_string(),
                        };
                        match self.check(&rcpt) {
                            Ok(()) => {
                                rcpts.push(rcpt);
                                Reply::recipient_ok()
                            }
                            Err(f) if f.exit == Exit::NoUser => Reply::no_such_user(),
                            Err(f) if f.exit == Exit::TempFail => status(451, (4, 3, 0), f.message),
                            Err(f) => status(550, (5, 1, 0), f.message),
                        }
                    }
                },
                Ok(Command::Data) => match tx.take() {
                    None => Reply::bad_sequence("Need MAIL before DATA"),
                    Some((_, rcpts)) if rcpts.is_empty() => Reply::new(
                        554,
                        Some(crate::proto::EnhancedStatus::new(5, 5, 1)),
                        "No valid recipients",
                    ),
                    Some((sender, rcpts)) => {
                        send(output, Reply::start_data())?;
                        match read_data(input, max)? {
                            None => Reply::message_too_big(),
                            Some(raw) => {
                                let s = Submission {
                                    extract: false,
                                    ..Self::submission(options, Some(sender), rcpts)
                                };
                                match self.submit(&s, raw) {
                                    Ok(done) => status(250, (2, 0, 0), format!("Ok: {done}")),
                                    Err(f) if f.exit == Exit::Unavailable => {
                                        status(554, (5, 4, 6), f.message)
                                    }
                                    Err(f) if f.exit == Exit::NoUser => {
                                        status(550, (5, 1, 1), f.message)
                                    }
                                    Err(f) if f.exit == Exit::DataErr => {
                                        status(554, (5, 6, 0), f.message)
                                    }
                                    Err(f) => status(451, (4, 3, 0), f.message),
                                }
                            }
                        }
                    }
                },
                Ok(Command::Rset) => {
                    tx = None;
                    Reply::ok()
                }
                Ok(Command::Noop) => Reply::ok(),
                Ok(Command::Vrfy(_)) => status(
                    252,
                    (2, 5, 2),
                    "Cannot VRFY user, but will accept message".into(),
                ),
                Ok(Command::Help(_)) => status(
                    214,
                    (2, 0, 0),
                    "HELO EHLO MAIL RCPT DATA RSET NOOP VRFY QUIT".into(),
                ),
                Ok(Command::Quit) => {
                    send(output, Reply::closing())?;
                    return Ok(());
                }
                Ok(
                    Command::Bdat { .. }
                    | Command::Burl { .. }
                    | Command::StartTls
                    | Command::Auth { .. }
                    | Command::Expn(_),
                ) => Reply::not_implemented(),
            };
            send(output, reply)?;
        }
    }
}

/// DATA's content up to the line holding a single `.`, leading dots unstuffed
/// (RFC 5321 §4.5.2), lines ending in LF or CRLF; `None` when it exceeded `max`
/// (read to its end all the same).
fn read_data(input: &mut impl BufRead, max: u64) -> Result<Option<Vec<u8>>, Failure> {
    let mut out = Vec::new();
    let mut too_big = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = std::io::Read::take(&mut *input, max.saturating_add(3))
            .read_until(b'\n', &mut line)
            .map_err(|e| Failure::new(Exit::Software, format!("stdin: {e}")))?;
        if n == 0 {
            // End of input inside DATA: no message.
            return Err(Failure::new(Exit::DataErr, "end of input inside DATA"));
        }
        while line.ends_with(b"\n") || line.ends_with(b"\r") {
            line.pop();
        }
        if line == b"." {
            return Ok((!too_big).then_some(out));
        }
        if too_big {
            continue;
        }
        let content = line.strip_prefix(b".").unwrap_or(&line);
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
        if out.len() as u64 > max {
            too_big = true;
            out = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_kept_from_a_user_sends_through_the_default_socket() {
        use mailyard_common::config::ConfigError;
        let denied = || {
            Err(ConfigError::Read {
                file: "/etc/mailyard/mailyard.toml".into(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            })
        };
        let c = config_for(denied(), 1000).expect("a user falls back");
        assert_eq!(
            c.listen.local.as_deref(),
            Some(std::path::Path::new(DEFAULT_LOCAL_SOCKET))
        );
        assert!(!owns(&c.data_dir, 1000), "nothing is opened in-process");
        assert!(config_for(denied(), 0).is_err(), "root is told");
        let missing = Err(ConfigError::Read {
            file: "x".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
        assert!(
            config_for(missing, 1000).is_err(),
            "only a denied read falls back"
        );
        let fine = config_for(Ok(Config::default()), 1000).expect("loaded");
        assert_eq!(
            fine.listen.local, None,
            "a readable config is used as it is"
        );
    }

    #[test]
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      alice:x:1000:1000:Alice Smith,,,:/home/alice:/bin/bash\n\
                      www-data:x:33:33::/var/www:/usr/sbin/nologin\n";
        let alice = Invoker::from_passwd(passwd, 1000).expect("alice");
        assert_eq!(alice.user, "alice");
        assert_eq!(alice.full_name.as_deref(), Some("Alice Smith"));
        let www = Invoker::from_passwd(passwd, 33).expect("www-data");
        assert_eq!((www.user.as_str(), www.full_name), ("www-data", None));
        assert!(Invoker::from_passwd(passwd, 4242).is_none());
    }

    #[test]
    fn data_is_unstuffed_and_bounded() {
        let mut input: &[u8] = b"a\n..b\r\n.\nQUIT\n";
        assert_eq!(
            read_data(&mut input, 100).expect("data"),
            Some(b"a\r\n.b\r\n".to_vec())
        );
        assert_eq!(input, b"QUIT\n", "stops after the dot");
        let mut big: &[u8] = b"0123456789\n0123456789\n.\nNOOP\n";
        assert_eq!(read_data(&mut big, 15).expect("data"), None);
        assert_eq!(big, b"NOOP\n", "read to the dot");
        let mut cut: &[u8] = b"a\n";
        assert!(read_data(&mut cut, 100).is_err());
    }
}
