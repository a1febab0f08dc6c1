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
    /// imap 2143, imaps 2993). The environment variable MAILYARD_CONFIG names it too.
    #[arg(long, global = true, value_name = "FILE", env = "MAILYARD_CONFIG")]
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
    /// Take over mail from another server (README "Moving from Dovecot").
    #[command(subcommand)]
    Import(ImportCmd),
    /// Write a user's mail out for another server (README "Moving from Dovecot").
    #[command(subcommand)]
    Export(ExportCmd),
    /// Back up the data dir while serve runs, or check a backup (README "Backups").
    Backup {
        /// The backup directory (new or empty; with --verify, an existing backup).
        dir: PathBuf,
        /// Check a backup against its manifest instead of making one; exit 1 on any
        /// missing or changed file.
        #[arg(long)]
        verify: bool,
    },
    /// Restore a backup into an empty data dir, then rebuild the index.
    Restore {
        /// A directory written by `mailyard backup`.
        dir: PathBuf,
    },
    /// Write a production config (standard ports), add the domain and the admin user
    /// (password from stdin when it is not a terminal, else prompted twice), create the
    /// domain's DKIM key, and print what to do next.
    Init {
        /// The mail domain, e.g. example.com.
        #[arg(long)]
        domain: String,
        /// This server's host name (what the MX record points at), e.g. mail.example.com.
        #[arg(long)]
        hostname: String,
        /// The admin's address: the first user, and the postmaster.
        #[arg(long)]
        admin: String,
        /// The data dir to write into the config (default /var/lib/mailyard).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// `dns DOMAIN`: print the DNS records to publish for DOMAIN (zone file lines);
    /// `dns check DOMAIN`: look them up through [dns] and say which are missing or
    /// wrong (exit 1 if any).
    Dns {
        /// DOMAIN, or `check DOMAIN`.
        #[arg(num_args = 1..=2, value_names = ["DOMAIN"])]
        args: Vec<String>,
    },
    /// Sieve filter scripts (README "Sieve (filtering)").
    #[command(subcommand)]
    Sieve(SieveCmd),
    /// A user's vacation auto-reply, written as a Sieve script (README "Vacation and
    /// forwarding").
    #[command(subcommand)]
    Vacation(VacationCmd),
    /// A user's forwarding, written as a Sieve script (README "Vacation and
    /// forwarding").
    #[command(subcommand)]
    Forward(ForwardCmd),
    /// Submit a message from stdin, as Postfix's sendmail(1): `mailyard sendmail [-t]
    /// [-f FROM] [-F NAME] [-i] [-bs] [RCPT...]` (also what a link named `sendmail`
    /// runs). Exit codes per sysexits.h.
    #[command(disable_help_flag = true)]
    Sendmail {
        /// sendmail's own options and the recipients.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum SieveCmd {
    /// Parse and validate Sieve scripts: print `FILE: ok`, or `FILE:LINE:COL: message`
    /// for each error; exit 1 if any file fails.
    Check {
        /// The scripts.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Store a user's script, validated first as ManageSieve's PUTSCRIPT does (FILE, or
    /// `-` for stdin); `--activate` makes it the active one.
    Put {
        /// The user.
        address: String,
        /// The script's name.
        name: String,
        /// The script file (`-`: standard input).
        file: PathBuf,
        /// Make it the active script.
        #[arg(long)]
        activate: bool,
    },
    /// Print a user's script.
    Get {
        /// The user.
        address: String,
        /// The script's name.
        name: String,
    },
    /// List a user's scripts (the active one marked `ACTIVE`).
    List {
        /// The user.
        address: String,
    },
    /// Make a script the active one (at most one is).
    Activate {
        /// The user.
        address: String,
        /// The script's name.
        name: String,
    },
    /// Leave the user without an active script.
    Deactivate {
        /// The user.
        address: String,
    },
    /// Delete a script (not the active one: deactivate it first).
    Delete {
        /// The user.
        address: String,
        /// The script's name.
        name: String,
    },
    /// Rename a script (the active one stays active).
    Rename {
        /// The user.
        address: String,
        /// The script's name.
        name: String,
        /// Its new name.
        new_name: String,
    },
}

#[derive(Subcommand)]
enum VacationCmd {
    /// Answer the user's mail with the text on standard input (RFC 5230): writes the
    /// script `mailyard-vacation`, makes it active, and runs the script active before
    /// it afterwards. Set again to change it.
    Set {
        /// The user.
        address: String,
        /// The reply's subject.
        #[arg(long)]
        subject: String,
        /// The last day replies are sent (inclusive, UTC); without it, until cleared.
        #[arg(long, value_name = "YYYY-MM-DD")]
        until: Option<String>,
        /// Reply to the same sender at most once in this many days (default 7).
        #[arg(long, value_name = "N")]
        days: Option<u64>,
        /// The reply's From: (default: the address the mail was sent to).
        #[arg(long, value_name = "ADDR")]
        from: Option<String>,
        /// Another address of the user's that mail may be sent to (repeatable).
        #[arg(long = "address", value_name = "A")]
        addresses: Vec<String>,
    },
    /// Print whether the auto-reply is on, its settings and its text.
    Show {
        /// The user.
        address: String,
    },
    /// Turn it off: the script active before `set` is active again. Exit 0 also
    /// when none was set.
    Clear {
        /// The user.
        address: String,
    },
}

#[derive(Subcommand)]
enum ForwardCmd {
    /// Forward the user's mail to TARGET (Sieve `redirect`; with --keep `redirect
    /// :copy`, RFC 3894): writes the script `mailyard-forward`, makes it active, and
    /// runs the script active before it afterwards.
    Set {
        /// The user.
        address: String,
        /// Where to (local@domain).
        target: String,
        /// Keep a copy in the user's mailbox too.
        #[arg(long)]
        keep: bool,
    },
    /// Print whether forwarding is on, and where to.
    Show {
        /// The user.
        address: String,
    },
    /// Stop forwarding: the script active before `set` is active again. Exit 0 also
    /// when none was set.
    Clear {
        /// The user.
        address: String,
    },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Take over a Maildir++ tree (Dovecot, Courier, mutt, getmail) for an existing
    /// user, keeping Dovecot's UIDVALIDITY, UIDs and keywords, flags, folders and
    /// subscriptions. Files are hard linked where the filesystem allows, else copied.
    Maildir {
        /// The tree's root (its INBOX: cur/ new/ tmp/, folders as .Name/).
        path: PathBuf,
        /// The user (local@domain) whose mail it becomes.
        #[arg(long)]
        user: String,
        /// Read the tree and print what would be imported; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Allow a user that already has mail: messages for a mailbox that is not
        /// empty get new UIDs after its own (clients download those again).
        #[arg(long)]
        merge: bool,
        /// Hard links only (fail across filesystems).
        #[arg(long, conflicts_with_all = ["copy", "move_in_place"])]
        link: bool,
        /// Copy every file; the source is left untouched.
        #[arg(long, conflicts_with = "move_in_place")]
        copy: bool,
        /// In place: move the tree itself into the data dir (same filesystem); it
        /// becomes the user's maildir and PATH is gone.
        #[arg(long = "move")]
        move_in_place: bool,
        /// Also take over the user's Sieve scripts from this Pigeonhole script directory
        /// (`~/sieve`): every NAME.sieve becomes the script NAME; the one
        /// `DIR/../.dovecot.sieve` points at becomes active (if it compiles).
        #[arg(long, value_name = "DIR")]
        sieve: Option<PathBuf>,
        /// Pigeonhole's active script, a link or a plain file, when it is not
        /// `DIR/../.dovecot.sieve`.
        #[arg(long, value_name = "FILE", requires = "sieve")]
        sieve_active: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ExportCmd {
    /// Write a user's mail to DIR as a Maildir++ tree Dovecot takes over as it is
    /// (dovecot-uidlist, dovecot-keywords, subscriptions): same UIDs and UIDVALIDITY.
    Maildir {
        /// A new or empty directory.
        dir: PathBuf,
        /// The user (local@domain).
        #[arg(long)]
        user: String,
        /// Also write the user's Sieve scripts to this new or empty directory as
        /// Pigeonhole keeps them (NAME.sieve), the active one linked from
        /// `DIR/../.dovecot.sieve`.
        #[arg(long, value_name = "DIR")]
        sieve: Option<PathBuf>,
    },
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

/// Where the `sendmail` link looks for the configuration when neither `-C`,
/// `--config` nor `MAILYARD_CONFIG` names one (then the embedded default).
const SENDMAIL_CONFIG: &str = "/etc/mailyard/mailyard.toml";

fn main() -> ExitCode {
    // Linked as /usr/sbin/sendmail: behave as `mailyard sendmail`.
    let mut argv = std::env::args_os();
    let called = argv.next().map(PathBuf::from);
    if called.as_deref().and_then(|p| p.file_name()) == Some("sendmail".as_ref()) {
        let args = argv.map(|a| a.to_string_lossy().into_owned()).collect();
        let config = std::env::var_os("MAILYARD_CONFIG").map(PathBuf::from);
        return sendmail(args, config);
    }
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
    match cli.command {
        Command::Sendmail { args } => return Ok(sendmail(args, cli.config)),
        Command::Init {
            domain,
            hostname,
            admin,
            data_dir,
        } => return init(cli.config, &domain, &hostname, &admin, data_dir),
        // Needs no config: it only reads the scripts.
        Command::Sieve(SieveCmd::Check { files }) => return Ok(sieve_check(files)),
        _ => {}
    }
    let config = Config::load(cli.config.as_deref())?;
    mailyard_common::log::init(config.log.format, &config.log.level);
    match cli.command {
        Command::Serve => serve(config, cli.config),
        Command::User(cmd) => user(&config, cmd),
        Command::Alias(cmd) => alias(&config, cmd),
        Command::Domain(cmd) => domain(&config, cmd),
        Command::Reindex { address } => reindex(&config, address),
        Command::Check => check(&config),
        Command::Queue(cmd) => queue(&config, cmd),
        Command::Dkim(cmd) => dkim(&config, cmd),
        Command::Import(cmd) => import(&config, cmd),
        Command::Export(cmd) => export(&config, cmd),
        Command::Backup { dir, verify } => backup(&config, cli.config.as_deref(), &dir, verify),
        Command::Restore { dir } => restore(&config, &dir),
        Command::Dns { args } => dns(&config, &args),
        // Their own config handling (before the lines above).
        Command::Sieve(cmd) => sieve_scripts(&config, cmd),
        Command::Vacation(cmd) => vacation(&config, cmd),
        Command::Forward(cmd) => forward(&config, cmd),
        Command::Sendmail { .. } | Command::Init { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// `mailyard sieve check FILE…`: `mailyard_sieve::compile_bytes` on each file.
fn sieve_check(files: Vec<PathBuf>) -> ExitCode {
    let mut failed = false;
    for file in files {
        let name = file.display();
        let errors = match std::fs::read(&file) {
            Ok(bytes) => match mailyard_sieve::compile_bytes(&bytes) {
                Ok(_) => {
                    println!("{name}: ok");
                    continue;
                }
                Err(errors) => errors.iter().map(|e| format!("{name}:{e}")).collect(),
            },
            Err(e) => vec![format!("{name}: {e}")],
        };
        failed = true;
        for e in errors {
            println!("{e}");
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `mailyard sieve put|get|list|activate|deactivate|delete|rename ADDRESS …`: a user's
/// scripts in the store (`store/src/sieve_scripts.rs`). `put` validates the script
/// first and refuses it with every error (`NAME:LINE:COL: message`), as PUTSCRIPT does.
fn sieve_scripts(config: &Config, cmd: SieveCmd) -> Result<ExitCode> {
    let store = open(config)?;
    let user = |a: &str| existing_user(&store, a);
    match cmd {
        // Dispatched before the config is loaded (`run`): it needs none.
        SieveCmd::Check { .. } => {}
        SieveCmd::Put {
            address,
            name,
            file,
            activate,
        } => {
            let address = user(&address)?;
            let text = if file.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
                buf
            } else {
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?
            };
            if let Err(errors) = mailyard_sieve::compile_bytes(&text) {
                for e in errors {
                    eprintln!("{name}:{e}");
                }
                return Ok(ExitCode::FAILURE);
            }
            store.sieve_put_blocking(&address, &name, &text)?;
            if activate {
                store.sieve_activate_blocking(&address, Some(&name))?;
            }
            println!(
                "stored script {name:?} for {address}{}",
                if activate { " (active)" } else { "" }
            );
        }
        SieveCmd::Get { address, name } => {
            let address = user(&address)?;
            let Some(text) = store.sieve_get_blocking(&address, &name)? else {
                anyhow::bail!("{address} has no script {name:?}");
            };
            std::io::Write::write_all(&mut std::io::stdout(), &text)?;
        }
        SieveCmd::List { address } => {
            let address = user(&address)?;
            for s in store.sieve_list_blocking(&address)? {
                println!(
                    "{}\t{}{}",
                    s.name,
                    s.size,
                    if s.active { "\tACTIVE" } else { "" }
                );
            }
        }
        SieveCmd::Activate { address, name } => {
            let address = user(&address)?;
            store.sieve_activate_blocking(&address, Some(&name))?;
            println!("{name:?} is {address}'s active script");
        }
        SieveCmd::Deactivate { address } => {
            let address = user(&address)?;
            store.sieve_activate_blocking(&address, None)?;
            println!("{address} has no active script");
        }
        SieveCmd::Delete { address, name } => {
            let address = user(&address)?;
            store.sieve_delete_blocking(&address, &name)?;
            println!("deleted script {name:?} of {address}");
        }
        SieveCmd::Rename {
            address,
            name,
            new_name,
        } => {
            let address = user(&address)?;
            store.sieve_rename_blocking(&address, &name, &new_name)?;
            println!("renamed script {name:?} of {address} to {new_name:?}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A user that exists.
fn existing_user(store: &Store, address: &str) -> Result<Address> {
    let a = parse_address(address)?;
    if store.accounts().user(&a)?.is_none() {
        bail!("no such user: {a}");
    }
    Ok(a)
}

/// What `mailyard_sieve::generate` plans with: the active script, every name, and the
/// texts of the generated scripts.
fn generated_state(store: &Store, user: &Address) -> Result<mailyard_sieve::generate::State> {
    use mailyard_sieve::generate::{FORWARD_SCRIPT, State, VACATION_SCRIPT};
    let text = |name: &str| -> Result<Option<String>> {
        Ok(store
            .sieve_get_blocking(user, name)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    };
    Ok(State {
        active: store.sieve_active_name_blocking(user)?,
        names: store
            .sieve_list_blocking(user)?
            .into_iter()
            .map(|s| s.name)
            .collect(),
        vacation: text(VACATION_SCRIPT)?,
        forward: text(FORWARD_SCRIPT)?,
    })
}

/// Carries out planned steps with the store, in order (each one durable on its own:
/// delivery in between sees the old script or the new one, never a broken one).
fn apply_steps(
    store: &Store,
    user: &Address,
    steps: &[mailyard_sieve::generate::Step],
) -> Result<()> {
    use mailyard_sieve::generate::Step;
    for step in steps {
        match step {
            Step::Put { name, text } => store.sieve_put_blocking(user, name, text.as_bytes())?,
            Step::Activate(name) => store.sieve_activate_blocking(user, name.as_deref())?,
            Step::Delete(name) => store.sieve_delete_blocking(user, name)?,
        }
    }
    Ok(())
}

/// The day `currentdate` sees at delivery (UTC, as the filter's clock).
fn today() -> mailyard_sieve::generate::Day {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    mailyard_sieve::generate::Day::of(&mailyard_sieve::date::DateTime::from_timestamp(now, 0))
}

/// `set`: plans with `mailyard_sieve::generate`, applies, says what runs now.
fn set_generated(
    store: &Store,
    user: &Address,
    spec: &mailyard_sieve::generate::Spec,
) -> Result<()> {
    let state = generated_state(store, user)?;
    let plan = mailyard_sieve::generate::plan_set(&state, spec)?;
    apply_steps(store, user, &plan.steps)?;
    let kind = spec.kind();
    let then = match &plan.previous {
        Some(p) => format!("; then {p:?} runs as before"),
        None => String::new(),
    };
    println!(
        "{kind} {} for {user} (script {:?}){then}",
        if plan.replaced { "updated" } else { "on" },
        kind.script_name()
    );
    Ok(())
}

/// `clear`: plans, applies, says what runs now. Nothing set is not an error.
fn clear_generated(
    store: &Store,
    user: &Address,
    kind: mailyard_sieve::generate::Kind,
) -> Result<()> {
    use mailyard_sieve::generate::ClearPlan;
    let state = generated_state(store, user)?;
    let plan = mailyard_sieve::generate::plan_clear(&state, kind)?;
    apply_steps(store, user, plan.steps())?;
    match plan {
        ClearPlan::NotSet => println!("{user} has no {kind} set; nothing to clear"),
        ClearPlan::Restored {
            restored: Some(r), ..
        } => println!("{kind} off for {user}; {r:?} is active again"),
        ClearPlan::Restored {
            restored: None,
            missing: Some(m),
            ..
        } => println!(
            "{kind} off for {user}; the script active before it, {m:?}, no longer exists: no script is active"
        ),
        ClearPlan::Restored { restored: None, .. } => {
            println!("{kind} off for {user}; no script is active")
        }
        ClearPlan::Unlinked { by, .. } => println!(
            "{kind} off for {user}; {:?} stays active and runs what {kind} ran after it",
            by.script_name()
        ),
        ClearPlan::Unused { .. } => println!(
            "{kind} was not in use for {user} (its script was not active); deleted script {:?}",
            kind.script_name()
        ),
    }
    Ok(())
}

/// `mailyard vacation set|show|clear ADDRESS`: wiring for `mailyard_sieve::generate`.
fn vacation(config: &Config, cmd: VacationCmd) -> Result<ExitCode> {
    use mailyard_sieve::generate::{Kind, Spec, VacationSpec, describe};
    let store = open(config)?;
    match cmd {
        VacationCmd::Set {
            address,
            subject,
            until,
            days,
            from,
            addresses,
        } => {
            let user = existing_user(&store, &address)?;
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Type the reply text; end it with Ctrl-D on a line of its own.");
            }
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut stdin.lock(), &mut bytes)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                anyhow::anyhow!("the reply text (standard input) is not valid UTF-8")
            })?;
            let spec = VacationSpec::new(
                &subject,
                &text,
                days,
                until.as_deref(),
                from.as_deref(),
                &addresses,
            )?;
            if let Some(u) = spec.until
                && u < today()
            {
                eprintln!("warning: --until {u} has passed: no replies will be sent");
            }
            set_generated(&store, &user, &Spec::Vacation(spec))?;
        }
        VacationCmd::Show { address } => {
            let user = existing_user(&store, &address)?;
            let state = generated_state(&store, &user)?;
            print!("{}", describe(&state, Kind::Vacation, today()));
        }
        VacationCmd::Clear { address } => {
            let user = existing_user(&store, &address)?;
            clear_generated(&store, &user, Kind::Vacation)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `mailyard forward set|show|clear ADDRESS`: wiring for `mailyard_sieve::generate`.
fn forward(config: &Config, cmd: ForwardCmd) -> Result<ExitCode> {
    use mailyard_sieve::generate::{ForwardSpec, Kind, Spec, describe};
    let store = open(config)?;
    match cmd {
        ForwardCmd::Set {
            address,
            target,
            keep,
        } => {
            let user = existing_user(&store, &address)?;
            let spec = ForwardSpec::new(&user.to_string(), &target, keep)?;
            set_generated(&store, &user, &Spec::Forward(spec))?;
        }
        ForwardCmd::Show { address } => {
            let user = existing_user(&store, &address)?;
            let state = generated_state(&store, &user)?;
            print!("{}", describe(&state, Kind::Forward, today()));
        }
        ForwardCmd::Clear { address } => {
            let user = existing_user(&store, &address)?;
            clear_generated(&store, &user, Kind::Forward)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `mailyard sendmail` / the `sendmail` link: `mailyard_smtp::sendmail` does the work;
/// this picks the config and turns failures into sysexits codes.
fn sendmail(args: Vec<String>, config: Option<PathBuf>) -> ExitCode {
    use mailyard_smtp::sendmail::{Exit, Invoker, Sendmail, args::parse};
    let fail = |exit: Exit, message: &str| {
        eprintln!("sendmail: {message}");
        ExitCode::from(exit.code())
    };
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            return fail(
                Exit::Usage,
                &format!(
                    "{e}\nusage: sendmail [-t] [-i] [-f sender] [-F name] [-bs] [recipient...]"
                ),
            );
        }
    };
    let path = options.config.clone().or(config).or_else(|| {
        let default = PathBuf::from(SENDMAIL_CONFIG);
        default.exists().then_some(default)
    });
    let invoker = Invoker::current();
    let config =
        match mailyard_smtp::sendmail::config_for(Config::load(path.as_deref()), invoker.uid) {
            Ok(c) => c,
            Err(e) => return fail(Exit::Config, &e.to_string()),
        };
    // Only problems reach stderr: cron mails whatever a job prints.
    mailyard_common::log::init(config.log.format, "warn");
    let result = Sendmail::open(config, invoker).and_then(|s| {
        s.run(
            &options,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
        )
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => fail(f.exit, &f.message),
    }
}

/// Runs the server until SIGINT/SIGTERM; SIGHUP reads `path` again and applies it
/// (`Server::reload`); a config that does not load is logged and the old one kept.
fn serve(config: Config, path: Option<PathBuf>) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let server = mailyard::start(config).await?;
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("listening for SIGHUP")?;
        let stop = mailyard_common::shutdown::signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = hangup.recv() => {
                    let loaded = tokio::task::block_in_place(|| Config::load(path.as_deref()));
                    match loaded.map_err(anyhow::Error::from).and_then(|c| {
                        tokio::task::block_in_place(|| server.reload(c)).map_err(anyhow::Error::from)
                    }) {
                        Ok(restart) => {
                            for section in restart {
                                tracing::warn!(%section, "changed in the config file; needs a restart to take effect");
                            }
                            tracing::info!("configuration reloaded (SIGHUP)");
                        }
                        Err(e) => tracing::error!(error = %format!("{e:#}"),
                            "configuration not reloaded; the old one stays in force"),
                    }
                }
            }
        }
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

fn import(config: &Config, cmd: ImportCmd) -> Result<ExitCode> {
    use mailyard_store::import::{ImportOptions, Transfer};
    let ImportCmd::Maildir {
        path,
        user,
        dry_run,
        merge,
        link,
        copy,
        move_in_place,
        sieve,
        sieve_active,
    } = cmd;
    let user = parse_address(&user)?;
    let transfer = match (link, copy, move_in_place) {
        (true, _, _) => Transfer::Link,
        (_, true, _) => Transfer::Copy,
        (_, _, true) => Transfer::Move,
        _ => Transfer::Auto,
    };
    let store = open(config)?;
    let opts = ImportOptions {
        transfer,
        dry_run,
        merge,
    };
    // The scripts are read and compared before the mail moves (a clash refuses both),
    // and written after it.
    let scripts = match &sieve {
        Some(dir) => {
            let source = mailyard_store::pigeonhole::read_source(
                dir,
                sieve_active.as_deref(),
                mailyard_sieve::parser::MAX_SCRIPT_SIZE as u64,
            )?;
            let check = |text: &[u8]| {
                mailyard_sieve::compile_bytes(text)
                    .map(drop)
                    .map_err(|errors| errors.iter().map(ToString::to_string).collect())
            };
            Some(store.sieve_import_plan(&user, source, &check)?)
        }
        None => None,
    };
    let r = store.import_maildir_blocking(&user, &path, opts)?;
    for m in &r.mailboxes {
        println!(
            "{}: {} messages ({} with their Dovecot UID), UIDVALIDITY {}, UIDNEXT {}{}",
            m.name,
            m.messages,
            m.uids_kept,
            if m.uidvalidity == 0 {
                "new".to_string()
            } else {
                m.uidvalidity.to_string()
            },
            m.uidnext,
            if m.merged {
                ", merged with new UIDs"
            } else {
                ""
            }
        );
    }
    for d in &r.skipped_dirs {
        println!("skipped {d}: not a valid mailbox name");
    }
    if let Some(plan) = &scripts {
        if !dry_run {
            store.sieve_import_apply(&user, plan)?;
        }
        report_sieve_import(plan, dry_run);
    }
    if dry_run {
        println!("dry run: nothing changed");
    } else {
        println!(
            "imported into {user}: {} subscriptions; files linked {}, copied {}, moved {}",
            r.subscriptions, r.linked, r.copied, r.moved
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints what a Sieve import did (or would do): each script, the compile errors of
/// those that do not compile on stderr as `FILE:LINE:COL: message`, the active one.
fn report_sieve_import(plan: &mailyard_store::pigeonhole::SieveImport, dry_run: bool) {
    for note in &plan.notes {
        eprintln!("sieve: {note}");
    }
    for s in &plan.scripts {
        for e in &s.errors {
            eprintln!("{}:{e}", s.path.display());
        }
        let what = match (s.unchanged, s.errors.is_empty(), dry_run) {
            (true, _, _) => "already there, the same",
            (false, true, false) => "imported",
            (false, true, true) => "would be imported",
            (false, false, false) => {
                "does not compile; imported all the same (fix it with mailyard sieve put)"
            }
            (false, false, true) => "does not compile; would be imported all the same",
        };
        println!(
            "sieve: script {:?} from {}: {what}",
            s.name,
            s.path.display()
        );
    }
    let activate = if dry_run {
        "would be made active"
    } else {
        "made active"
    };
    if let Some(a) = &plan.active {
        println!("sieve: {a:?} {activate}");
    }
    if let Some(b) = &plan.active_broken {
        eprintln!(
            "sieve: {b:?} was Dovecot's active script but does not compile: not made active \
             (fix it, then mailyard sieve activate)"
        );
    }
}

fn export(config: &Config, cmd: ExportCmd) -> Result<ExitCode> {
    let ExportCmd::Maildir { dir, user, sieve } = cmd;
    let user = parse_address(&user)?;
    if let Some(scripts) = &sieve {
        if std::path::absolute(scripts)? == std::path::absolute(&dir)? {
            bail!("--sieve needs a directory of its own, not the mail's");
        }
        mailyard_store::pigeonhole::check_export_target(scripts)?;
    }
    let store = open(config)?;
    let r = store.export_maildir_blocking(&user, &dir)?;
    for (name, n) in &r.mailboxes {
        println!("{name}: {n} messages");
    }
    println!(
        "exported {user} to {}: files linked {}, copied {}",
        dir.display(),
        r.linked,
        r.copied
    );
    if let Some(scripts) = &sieve {
        let s = store.export_sieve_blocking(&user, scripts)?;
        println!(
            "sieve: {} script(s) written to {}",
            s.scripts.len(),
            scripts.display()
        );
        if let Some((link, target)) = &s.link {
            println!("sieve: {} -> {}", link.display(), target.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn backup(
    config: &Config,
    config_file: Option<&std::path::Path>,
    dir: &std::path::Path,
    verify: bool,
) -> Result<ExitCode> {
    use mailyard_store::backup;
    if verify {
        let problems = backup::verify(dir)?;
        for p in &problems {
            println!("{p}");
        }
        if problems.is_empty() {
            let (created, entries) = backup::read_manifest(dir)?;
            println!(
                "ok: {} files as listed in the manifest (backup of {})",
                entries.len(),
                mailyard_common::time::rfc5322(created as i64)
            );
            return Ok(ExitCode::SUCCESS);
        }
        println!("{} problem(s)", problems.len());
        return Ok(ExitCode::FAILURE);
    }
    let extras = backup::Extras {
        config: config_file.map(std::path::Path::to_path_buf),
        tls: [&config.tls.cert, &config.tls.key]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
    };
    let r = backup::backup(&config.data_dir, dir, &extras)?;
    println!(
        "backed up {} to {}: {} files, {} octets ({} linked, {} copied)",
        config.data_dir.display(),
        dir.display(),
        r.files,
        r.bytes,
        r.linked,
        r.copied
    );
    Ok(ExitCode::SUCCESS)
}

/// `mailyard init`: the config from `conf/mailyard.toml` (`mailyard_common::init`),
/// then the domain, the admin, the DKIM key; nothing is written before the password
/// has been read.
fn init(
    config: Option<PathBuf>,
    domain: &str,
    hostname: &str,
    admin: &str,
    data_dir: Option<PathBuf>,
) -> Result<ExitCode> {
    use mailyard_common::init::{DEFAULT_DATA_DIR, InitParams, config_text};
    use mailyard_smtp::queue::dkim::{self, Algorithm};
    let path = config.unwrap_or_else(|| PathBuf::from("mailyard.toml"));
    if path.exists() {
        bail!("{} exists already; not overwriting it", path.display());
    }
    let domain = mailyard_store::model::validate_domain(domain).map_err(anyhow::Error::msg)?;
    let admin = parse_address(admin)?;
    let cwd = std::env::current_dir().context("the current directory")?;
    let data_dir = cwd.join(data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)));
    let text = config_text(&InitParams {
        hostname,
        data_dir: &data_dir,
        admin: &admin.to_string(),
    })
    .map_err(anyhow::Error::msg)?;
    let config = Config::parse(&text, &path.display().to_string())?;
    let password = read_new_password()?;
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    println!("wrote {}", path.display());
    let store = open(&config)?;
    store.accounts().add_domain(&domain, true)?;
    if store.accounts().user(&admin)?.is_none() {
        store.accounts().add_user(&admin, &password)?;
        store.setup_user_blocking(&admin)?;
        println!("added domain {domain} and user {admin} (the postmaster)");
    } else {
        store.accounts().set_password(&admin, &password)?;
        println!(
            "{admin} exists already in {}; password set",
            data_dir.display()
        );
    }
    if dkim::keys_of(&data_dir, &domain)?.is_empty() {
        let (key, _) = dkim::generate(&data_dir, &domain, "mailyard", Algorithm::Rsa)
            .map_err(anyhow::Error::msg)?;
        println!("created the DKIM key {}", key.display());
    }
    let c = path.display();
    println!(
        "\nNext:\n\
         1. DNS: `mailyard --config {c} dns {domain}` prints the records to put in the zone\n   \
            of {domain} (MX, SPF, DKIM, DMARC, autoconfig, SRV); then\n   \
            `mailyard --config {c} dns check {domain}` says which are missing or wrong.\n\
         2. TLS: set [tls] cert and key in {c} to a certificate for {hostname}\n   \
            (e.g. `certbot certonly --standalone -d {hostname}`); until then the first\n   \
            start makes a self-signed one, which clients will question.\n\
         3. systemd: `install -D -m 640 {c} /etc/mailyard/mailyard.toml`,\n   \
            `useradd --system --home {dd} --shell /usr/sbin/nologin mailyard`,\n   \
            `chown -R mailyard:mailyard {dd}`, install conf/mailyard.service into\n   \
            /etc/systemd/system/ and `systemctl enable --now mailyard`\n   \
            (or try it first: `mailyard --config {c} serve`).\n\
         4. More users: `mailyard --config {c} user add bob@{domain}`.",
        dd = data_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn restore(config: &Config, dir: &std::path::Path) -> Result<ExitCode> {
    let r = mailyard_store::backup::restore(dir, &config.data_dir)?;
    println!(
        "restored {} files ({} octets) into {}; the index was rebuilt",
        r.files,
        r.bytes,
        config.data_dir.display()
    );
    if dir.join("config").is_dir() {
        println!(
            "the config file and TLS material are in {}: put them back in place",
            dir.join("config").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `mailyard dns DOMAIN` / `mailyard dns check DOMAIN` (`mailyard_smtp::dns_records`).
fn dns(config: &Config, args: &[String]) -> Result<ExitCode> {
    use mailyard_smtp::dns_records::{check, dkim_values, records, render, report};
    let (checking, domain) = match args {
        [domain] => (false, domain),
        [word, domain] if word == "check" => (true, domain),
        _ => bail!("usage: mailyard dns DOMAIN | mailyard dns check DOMAIN"),
    };
    let domain = mailyard_store::model::validate_domain(domain).map_err(anyhow::Error::msg)?;
    let dkim = dkim_values(&config.data_dir, &domain).map_err(anyhow::Error::msg)?;
    let recs = records(config, &domain, &dkim);
    if !checking {
        println!(
            "; DNS records for {domain} (mailyard dns), zone file syntax: paste them into\n\
             ; the zone of {domain}; names end in a dot. Server host name: {}.",
            config.hostname
        );
        if config.hostname == "localhost" {
            println!("; WARNING: hostname is \"localhost\": set `hostname` in the config first.");
        }
        if dkim.is_empty() {
            println!(
                "; No DKIM key for {domain} yet: `mailyard dkim generate {domain}`, then run this again."
            );
        }
        print!("{}", render(&recs));
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let statuses = runtime
        .block_on(check(config, &recs))
        .map_err(anyhow::Error::msg)?;
    let (text, all_ok) = report(&recs, &statuses);
    print!("{text}");
    if all_ok {
        println!("every record is published");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("some records are missing or wrong: `mailyard dns {domain}` prints them");
        Ok(ExitCode::FAILURE)
    }
}
