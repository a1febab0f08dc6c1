//! The `mailyard` binary: `serve` and the admin subcommands. Wiring only; every
//! command's logic lives in the library crates. The command names, arguments and exit
//! codes are a public interface that admins' scripts rely on.
#![forbid(unsafe_code)]

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use mailyard_common::Config;
use mailyard_store::{Address, Store};

/// mailyard: SMTP, submission and IMAP over a maildir + SQLite store.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML). Without it, the embedded default: data in ./data,
    /// listeners on 127.0.0.1 (smtp 2525, submission 2587, submissions 2465,
    /// imap 2143, imaps 2993).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run SMTP, submission and IMAP in one process until SIGINT/SIGTERM.
    Serve,
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage aliases (an address delivered to one or more others).
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Manage local domains.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Rebuild the index from the maildir tree (one user, or everyone).
    Reindex {
        /// Only this user.
        address: Option<String>,
    },
    /// Check the config, and the index against the maildir; exit 1 on any problem.
    Check,
    /// Inspect and steer the relay queue (mail waiting for other servers).
    #[command(subcommand)]
    Queue(QueueCmd),
    /// DKIM keys for signing outgoing mail.
    #[command(subcommand)]
    Dkim(DkimCmd),
}

#[derive(Subcommand)]
enum DkimCmd {
    /// Create a signing key for DOMAIN under data_dir/dkim/ and print the DNS TXT
    /// record to publish.
    Generate {
        /// The signing domain (a local domain).
        domain: String,
        /// The selector (the name under _domainkey).
        #[arg(long, default_value = "mailyard")]
        selector: String,
        /// rsa (rsa-sha256, 2048 bits) or ed25519 (ed25519-sha256, RFC 8463).
        #[arg(long, default_value = "rsa", value_parser = ["rsa", "ed25519"])]
        algorithm: String,
    },
    /// List the signing keys.
    List,
}

#[derive(Subcommand)]
enum QueueCmd {
    /// List queued messages: id, age, attempts, next attempt, sender, pending
    /// recipients, last problem.
    List,
    /// Show one queued message's envelope and each recipient's state.
    Show {
        /// Queue id.
        id: String,
    },
    /// Retry now: one message, or every message not held.
    Flush {
        /// Queue id (all when left out).
        id: Option<String>,
    },
    /// Remove a message; its sender gets a bounce unless --silent.
    Delete {
        /// Queue id.
        id: String,
        /// No bounce.
        #[arg(long)]
        silent: bool,
    },
    /// Stop attempting a message until released.
    Hold {
        /// Queue id.
        id: String,
    },
    /// Attempt a held message again (at once).
    Release {
        /// Queue id.
        id: String,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user (password from stdin when it is not a terminal, else prompted twice).
    Add {
        /// local@domain
        address: String,
    },
    /// Change a user's password (read like `add`).
    Passwd {
        /// local@domain
        address: String,
    },
    /// Remove a user (the mail stays on disk).
    Del {
        /// local@domain
        address: String,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum AliasCmd {
    /// Deliver mail for ALIAS to each TARGET.
    Add {
        /// The alias address.
        alias: String,
        /// One or more target addresses.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Remove an alias.
    Del {
        /// The alias address.
        alias: String,
    },
    /// List aliases.
    List,
}

#[derive(Subcommand)]
enum DomainCmd {
    /// Add a local domain.
    Add {
        /// The domain.
        domain: String,
    },
    /// Remove a local domain that has no users or aliases.
    Del {
        /// The domain.
        domain: String,
    },
    /// List local domains.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailyard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    mailyard_common::log::init(config.log.format, &config.log.level);
    match cli.command {
        Command::Serve => serve(config),
        Command::User(cmd) => user(&config, cmd),
        Command::Alias(cmd) => alias(&config, cmd),
        Command::Domain(cmd) => domain(&config, cmd),
        Command::Reindex { address } => reindex(&config, address),
        Command::Check => check(&config),
        Command::Queue(cmd) => queue(&config, cmd),
        Command::Dkim(cmd) => dkim(&config, cmd),
    }
}

fn serve(config: Config) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let server = mailyard::start(config).await?;
        mailyard_common::shutdown::signal().await;
        tracing::info!("shutting down: no new connections, sessions get 10 s to finish");
        server.stop(Duration::from_secs(10)).await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn open(config: &Config) -> Result<Store> {
    let (store, _) = Store::open(&config.data_dir)
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    Ok(store)
}

fn parse_address(s: &str) -> Result<Address> {
    Address::parse(s).map_err(anyhow::Error::msg)
}

/// Reads a new password: one line from stdin when it is not a terminal (scripts),
/// else prompted twice without echo.
fn read_new_password() -> Result<String> {
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            bail!("no password on stdin");
        }
        return Ok(pw);
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Again: ")?;
    if first != second {
        bail!("the passwords differ");
    }
    if first.is_empty() {
        bail!("the password is empty");
    }
    Ok(first)
}

fn user(config: &Config, cmd: UserCmd) -> Result<ExitCode> {
    match cmd {
        UserCmd::Add { address } => {
            let a = parse_address(&address)?;
            let pw = read_new_password()?;
            let store = open(config)?;
            store.accounts().add_user(&a, &pw)?;
            store.setup_user_blocking(&a)?;
            println!("added {a}");
        }
        UserCmd::Passwd { address } => {
            let a = parse_address(&address)?;
            let pw = read_new_password()?;
            open(config)?.accounts().set_password(&a, &pw)?;
            println!("password changed for {a}");
        }
        UserCmd::Del { address } => {
            let a = parse_address(&address)?;
            let store = open(config)?;
            store.accounts().del_user(&a)?;
            store.forget_user_blocking(&a)?;
            let root = mailyard_store::maildir::user_root(&config.data_dir, &a);
            println!("removed {a}; its mail stays in {}", root.display());
        }
        UserCmd::List => {
            for u in open(config)?.accounts().users()? {
                println!("{}", u.address);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn alias(config: &Config, cmd: AliasCmd) -> Result<ExitCode> {
    let store = open(config)?;
    match cmd {
        AliasCmd::Add { alias, targets } => {
            let a = parse_address(&alias)?;
            let t = targets
                .iter()
                .map(|t| parse_address(t))
                .collect::<Result<Vec<_>>>()?;
            store.accounts().add_alias(&a, &t)?;
            println!("added alias {a}");
        }
        AliasCmd::Del { alias } => {
            let a = parse_address(&alias)?;
            store.accounts().del_alias(&a)?;
            println!("removed alias {a}");
        }
        AliasCmd::List => {
            for (a, targets) in store.accounts().aliases()? {
                println!("{a} -> {}", targets.join(", "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn domain(config: &Config, cmd: DomainCmd) -> Result<ExitCode> {
    let store = open(config)?;
    match cmd {
        DomainCmd::Add { domain } => {
            let d = store.accounts().add_domain(&domain, false)?;
            println!("added domain {d}");
        }
        DomainCmd::Del { domain } => {
            store.accounts().del_domain(&domain)?;
            println!("removed domain {domain}");
        }
        DomainCmd::List => {
            for d in store.accounts().domains()? {
                println!("{d}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn reindex(config: &Config, address: Option<String>) -> Result<ExitCode> {
    let store = open(config)?;
    let reports = match address {
        Some(a) => {
            let a = parse_address(&a)?;
            if store.accounts().user(&a)?.is_none() {
                bail!("no such user: {a}");
            }
            vec![(a.to_string(), store.reconcile_blocking(&a, true)?)]
        }
        None => store.reconcile_all_blocking(true)?,
    };
    for (user, r) in reports {
        println!(
            "{user}: {} mailboxes, {} messages ({} renumbered)",
            r.mailboxes, r.messages, r.renumbered
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check(config: &Config) -> Result<ExitCode> {
    let mut problems = Vec::new();
    // The configured certificate, or the generated one if it exists yet (check never
    // creates one: that is serve's first start).
    let (cert, key) = match (&config.tls.cert, &config.tls.key) {
        (Some(c), Some(k)) => (Some(c.clone()), Some(k.clone())),
        _ => {
            let (c, k) = mailyard_common::tls::self_signed_paths(&config.data_dir);
            if c.exists() {
                (Some(c), Some(k))
            } else {
                (None, None)
            }
        }
    };
    if let (Some(cert), Some(key)) = (cert, key)
        && let Err(e) = mailyard_common::tls::server_config(&cert, &key)
    {
        problems.push(format!("tls: {e}"));
    }
    let store = open(config)?;
    problems.extend(store.check()?);
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        let users = store.accounts().users()?.len();
        println!("ok: config valid, {users} users, index agrees with the maildir");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} problem(s)", problems.len());
        Ok(ExitCode::FAILURE)
    }
}

fn queue(config: &Config, cmd: QueueCmd) -> Result<ExitCode> {
    use mailyard_store::queue::{QueueChange, RcptStatus};
    let store = open(config)?;
    let now = mailyard_store::queue::now();
    let when = |t: i64| {
        if t <= now {
            "now".to_string()
        } else {
            format!("in {}", duration(t - now))
        }
    };
    match cmd {
        QueueCmd::List => {
            let entries = store.queue_list()?;
            for e in &entries {
                let pending: Vec<&str> = e.pending().map(|r| r.rcpt.address.as_str()).collect();
                let state = if e.held {
                    "held".to_string()
                } else {
                    format!("next {}", when(e.next_attempt))
                };
                println!(
                    "{}  {:>6}  age {}  attempts {}  {}  from <{}>  to {}{}",
                    e.id,
                    e.size,
                    duration(now - e.created),
                    e.attempts,
                    state,
                    e.sender,
                    pending.join(", "),
                    if e.last_error.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", e.last_error)
                    }
                );
            }
            println!("{} message(s) queued", entries.len());
        }
        QueueCmd::Show { id } => {
            let Some(e) = store.queue_entry(&id)? else {
                bail!("no such queue entry: {id}");
            };
            println!("id: {}", e.id);
            println!("from: <{}>", e.sender);
            if let Some(u) = &e.auth_user {
                println!("submitted by: {u}");
            }
            println!("size: {}", e.size);
            println!("accepted: {}", mailyard_common::time::rfc5322(e.created));
            println!("attempts: {}", e.attempts);
            println!(
                "next attempt: {}",
                if e.held {
                    "held".into()
                } else {
                    when(e.next_attempt)
                }
            );
            if let Some(envid) = &e.envid {
                println!("envid: {envid}");
            }
            if let Some(ret) = &e.ret {
                println!("ret: {ret}");
            }
            for r in &e.recipients {
                let status = match r.status {
                    RcptStatus::Pending => "pending",
                    RcptStatus::Sent => "sent",
                    RcptStatus::Failed => "failed",
                };
                println!("rcpt: <{}> {status} {}", r.rcpt.address, r.reply);
            }
        }
        QueueCmd::Flush { id } => {
            let all = id.is_none();
            store.queue_change_blocking(QueueChange::Flush { id: id.clone() })?;
            if all {
                println!("every message not held will be retried now");
            } else {
                println!("{} will be retried now", id.unwrap_or_default());
            }
        }
        QueueCmd::Delete { id, silent } => {
            store.queue_change_blocking(QueueChange::Cancel {
                id: id.clone(),
                silent,
            })?;
            if silent {
                println!("deleted {id}");
            } else {
                println!("{id} will be bounced to its sender and removed by the running server");
            }
        }
        QueueCmd::Hold { id } => {
            store.queue_change_blocking(QueueChange::Hold {
                id: id.clone(),
                on: true,
            })?;
            println!("held {id}");
        }
        QueueCmd::Release { id } => {
            store.queue_change_blocking(QueueChange::Flush {
                id: Some(id.clone()),
            })?;
            println!("released {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "3d4h", "2h5m", "40s".
fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

fn dkim(config: &Config, cmd: DkimCmd) -> Result<ExitCode> {
    use mailyard_smtp::queue::dkim::{self, Algorithm};
    match cmd {
        DkimCmd::Generate {
            domain,
            selector,
            algorithm,
        } => {
            let algorithm = if algorithm == "ed25519" {
                Algorithm::Ed25519
            } else {
                Algorithm::Rsa
            };
            let (path, record) = dkim::generate(&config.data_dir, &domain, &selector, algorithm)
                .map_err(anyhow::Error::msg)?;
            println!("created {}", path.display());
            println!("publish this DNS record, then mail from {domain} is signed:");
            println!("{record}");
        }
        DkimCmd::List => {
            for k in dkim::list(&config.data_dir)? {
                let alg = match k.algorithm {
                    Algorithm::Rsa => "rsa-sha256",
                    Algorithm::Ed25519 => "ed25519-sha256",
                };
                println!("{}  {}  {alg}  {}", k.domain, k.selector, k.path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
