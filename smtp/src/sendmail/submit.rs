//! The one submission path of `sendmail`: routing, message completion and the durable
//! store request, shared by both ways in — `mailyard sendmail` run by root or the user
//! `serve` runs as (in-process, on the store it opened), and the server's end of the
//! local submission socket (for everyone else, [`super::server`]).
//!
//! Who submits is an [`Invoker`] the caller vouches for: in-process the process's own
//! real uid, on the socket the peer's uid as the kernel reports it (`SO_PEERCRED`),
//! never anything the client says. The invoker's login name is the default sender, its
//! GECOS name the display name of an added `From:`, and its uid goes into the
//! `Received:` field (RFC 5321 §4.4).

use std::sync::Arc;

use mailyard_common::Config;
use mailyard_store::queue::{Envelope, QueuedRcpt};
use mailyard_store::{Address, Store, StoreError};

use super::message::{self, Completion};
use super::{Exit, Failure, Invoker};
use crate::proto::Mailbox;

/// What a submission asks for, besides the message: the command line's envelope,
/// as given (the submitter qualifies and routes it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submission {
    /// `-f`/`-r` (or SMTP's MAIL FROM) as given; `""` and `<>` are the null sender;
    /// None: the invoker's login name.
    pub sender: Option<String>,
    /// The recipients named (command line, or RCPT TO), as given.
    pub recipients: Vec<String>,
    /// `-t`: add the addresses of the `To:`, `Cc:` and `Bcc:` fields.
    pub extract: bool,
    /// `-F`: the display name of an added `From:` (else the invoker's GECOS name).
    pub full_name: Option<String>,
    /// `-N`: RFC 3461 NOTIFY for every remote recipient.
    pub notify: Option<String>,
    /// `-R`: RFC 3461 RET.
    pub ret: Option<String>,
    /// `-V`: RFC 3461 ENVID.
    pub envid: Option<String>,
}

/// Where a message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// Local users that got a copy.
    pub local: Vec<Address>,
    /// The relay queue id, when some recipients are remote.
    pub queued: Option<String>,
}

impl Submitted {
    /// What happened, in a few words: `queued as ID` or `delivered` (the text of
    /// `-bs`'s `250` and of the socket's `OK`).
    pub fn describe(&self) -> String {
        match &self.queued {
            Some(id) => format!("queued as {id}"),
            None => "delivered".to_string(),
        }
    }
}

/// The recipients of one message, routed.
#[derive(Debug, Default)]
struct Routed {
    local: Vec<Address>,
    remote: Vec<String>,
}

impl Routed {
    fn add_local(&mut self, users: Vec<Address>) {
        for u in users {
            if !self.local.contains(&u) {
                self.local.push(u);
            }
        }
    }

    fn add_remote(&mut self, a: String) {
        if !self.remote.contains(&a) {
            self.remote.push(a);
        }
    }
}

/// A store request's failure as a sysexits code.
pub(super) fn store_failure(e: StoreError) -> Failure {
    let text = e.to_string();
    if e.is_permission_denied() {
        Failure::new(
            Exit::NoPerm,
            format!("{text} (run as the user mailyard serve runs as, or root)"),
        )
    } else {
        Failure::new(Exit::TempFail, text)
    }
}

/// A message ready for the store: its octets, its local recipients and the relay
/// envelope of its remote ones, and the envelope sender (empty for `<>`).
type Assembled = (Vec<u8>, Vec<Address>, Option<Envelope>, String);

/// Submits into one store under one configuration.
#[derive(Clone)]
pub struct Submitter {
    config: Arc<Config>,
    store: Store,
}

impl Submitter {
    /// Submits into `store` with `config`'s host name, postmaster and limits.
    pub fn new(config: Arc<Config>, store: Store) -> Submitter {
        Submitter { config, store }
    }

    /// `-q`: every queued message retried now (`mailyard queue flush`).
    pub fn flush_queue(&self) -> Result<(), Failure> {
        self.store
            .queue_change_blocking(mailyard_store::queue::QueueChange::Flush { id: None })
            .map_err(store_failure)
    }

    /// Routes `recipients` as a submission would, delivering nothing: the first
    /// refusal (`EX_NOUSER` for an unknown local address). What `-bs` answers RCPT with.
    pub fn check(&self, recipients: &[String]) -> Result<(), Failure> {
        let mut routed = Routed::default();
        for r in recipients {
            self.route(r, &mut routed)?;
        }
        Ok(())
    }

    /// Completes `message` (as `message::read_input` made it: CRLF lines), routes the
    /// recipients and stores it: local copies (after their Sieve scripts) and the relay
    /// queue entry, durable before this returns (`filter::deliver`).
    pub async fn submit(
        &self,
        submission: &Submission,
        message: Vec<u8>,
        invoker: &Invoker,
    ) -> Result<Submitted, Failure> {
        // Routing reads the accounts database and DKIM signing hashes the message:
        // blocking work, off the runtime's threads.
        let this = self.clone();
        let (s, who) = (submission.clone(), invoker.clone());
        let (full, local, envelope, from) =
            tokio::task::spawn_blocking(move || this.assemble(&s, message, &who))
                .await
                .map_err(|e| Failure::new(Exit::Software, format!("submission task: {e}")))??;
        let sender = envelope.as_ref().map(|e| e.sender.clone());
        // Local recipients' Sieve scripts run as on SMTP delivery; a refusal cannot
        // be said to a command that has exited, so it becomes a DSN.
        let inbound = crate::filter::Inbound {
            message: full,
            from,
            auth: Some(invoker.user.clone()),
            rcpts: local
                .iter()
                .map(|u| crate::filter::LocalRcpt::new(u.clone(), u.to_string()))
                .collect(),
            remote: envelope,
            can_refuse: false,
        };
        let (delivered, queued) = crate::filter::deliver(&self.store, &self.config, inbound)
            .await
            .map_err(store_failure)?;
        let queued = queued.into_iter().next();
        let local: Vec<Address> = delivered.into_iter().map(|d| d.user).collect();
        tracing::info!(
            uid = invoker.uid,
            user = %invoker.user,
            from = sender.as_deref().unwrap_or(""),
            local = local.len(),
            queued = queued.as_deref().unwrap_or(""),
            "sendmail: submitted"
        );
        Ok(Submitted { local, queued })
    }

    /// The message as stored (trace fields, completion, DKIM), its local recipients
    /// and the relay envelope for the remote ones.
    fn assemble(
        &self,
        s: &Submission,
        raw: Vec<u8>,
        invoker: &Invoker,
    ) -> Result<Assembled, Failure> {
        // The recipients named are capped (the socket's request holds them); those
        // `-t` finds in the header are bounded by the message size.
        let max = self.config.limits.max_recipients;
        if s.recipients.len() > max {
            return Err(Failure::new(
                Exit::Usage,
                format!("more than [limits] max_recipients ({max}) recipients"),
            ));
        }
        let sender = self.sender(s.sender.as_deref(), invoker)?;
        let from = sender
            .clone()
            .unwrap_or_else(|| self.qualify(&invoker.user));
        let prepared = self.prepare(
            &raw,
            &from,
            s.full_name.as_deref().or(invoker.full_name.as_deref()),
        );
        drop(raw);
        let mut rcpts = s.recipients.clone();
        if s.extract {
            rcpts.extend(prepared.header_recipients.iter().cloned());
        }
        if rcpts.is_empty() {
            return Err(if s.extract {
                Failure::new(
                    Exit::DataErr,
                    "no recipient addresses found in the message header",
                )
            } else {
                Failure::new(Exit::Usage, "no recipients given (name them, or use -t)")
            });
        }
        let mut routed = Routed::default();
        for r in &rcpts {
            self.route(r, &mut routed)?;
        }

        let mut message: Vec<u8> = prepared.added.concat().into_bytes();
        message.extend_from_slice(&prepared.message);
        drop(prepared);
        if crate::queue::count_received(&message) >= crate::queue::MAX_RECEIVED {
            return Err(Failure::new(
                Exit::Unavailable,
                "too many Received: fields (mail loop)",
            ));
        }
        let envelope = (!routed.remote.is_empty()).then(|| Envelope {
            sender: sender.clone().unwrap_or_default(),
            recipients: routed
                .remote
                .iter()
                .map(|a| QueuedRcpt {
                    address: a.clone(),
                    notify: s.notify.as_ref().map(|n| n.to_ascii_uppercase()),
                    orcpt: None,
                })
                .collect(),
            envid: s.envid.clone(),
            ret: s.ret.as_ref().map(|r| r.to_ascii_uppercase()),
            auth_user: None,
            created: mailyard_common::time::now(),
        });
        let mut dkim = String::new();
        if envelope.is_some() {
            // As on submission: lines over 998 octets fixed for the next hop, then
            // signed for the From: domain when it is ours and has keys (RFC 6376).
            message = crate::queue::wrap::fit(message);
            let fields = crate::proto::fields::fields(&message);
            let domain = fields
                .iter()
                .find(|f| f.is("From"))
                .and_then(|f| crate::session::field_addresses(&f.value).into_iter().next())
                .and_then(|a| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()));
            if let Some(d) = domain
                && self.store.accounts().is_local_domain(&d).unwrap_or(false)
            {
                dkim = crate::queue::dkim::sign(self.store.data_dir(), &d, &message);
            }
        }
        let now = mailyard_common::time::now();
        let id = crate::session::unique_token();
        let mut full = Vec::with_capacity(message.len() + 512);
        full.extend_from_slice(
            format!("Return-Path: <{}>\r\n", sender.as_deref().unwrap_or("")).as_bytes(),
        );
        full.extend_from_slice(dkim.as_bytes());
        // RFC 5321 §4.4 trace field, in Postfix's form for local submissions, with the
        // login name in a comment.
        let user: String = invoker
            .user
            .chars()
            .filter(|c| c.is_ascii_graphic() && !"()\\".contains(*c))
            .collect();
        full.extend_from_slice(
            format!(
                "Received: by {} (mailyard sendmail, from userid {} ({user}))\r\n\tid {id}; {}\r\n",
                self.config.hostname,
                invoker.uid,
                mailyard_common::time::rfc5322(now)
            )
            .as_bytes(),
        );
        full.extend_from_slice(&message);
        Ok((full, routed.local, envelope, sender.unwrap_or_default()))
    }

    /// `name@hostname` for an address without a domain.
    fn qualify(&self, a: &str) -> String {
        let a = a.trim().trim_start_matches('<').trim_end_matches('>');
        if a.contains('@') {
            a.to_string()
        } else {
            format!("{a}@{}", self.config.hostname)
        }
    }

    /// The envelope sender: `given`, else the invoker; `None` is `<>`.
    fn sender(&self, given: Option<&str>, invoker: &Invoker) -> Result<Option<String>, Failure> {
        let given = given.unwrap_or(&invoker.user);
        let bare = given.trim().trim_start_matches('<').trim_end_matches('>');
        if bare.is_empty() {
            return Ok(None);
        }
        let q = self.qualify(bare);
        Mailbox::parse(&q)
            .map(|m| Some(m.to_string()))
            .map_err(|e| Failure::new(Exit::Usage, format!("sender {q:?}: {e}")))
    }

    fn prepare(&self, raw: &[u8], from: &str, full_name: Option<&str>) -> message::Prepared {
        let now = mailyard_common::time::now();
        let date = mailyard_common::time::rfc5322(now);
        let message_id = format!(
            "<{}.{}@{}>",
            now,
            crate::session::unique_token(),
            self.config.hostname
        );
        message::prepare(
            raw,
            &Completion {
                from,
                full_name,
                date: &date,
                message_id: &message_id,
            },
        )
    }

    /// Adds where `rcpt` goes to `routed` (module docs of `sendmail`). `<Postmaster>`
    /// (SMTP's, from `-bs`) is the postmaster.
    fn route(&self, rcpt: &str, routed: &mut Routed) -> Result<(), Failure> {
        let accounts = self.store.accounts();
        if rcpt.trim().eq_ignore_ascii_case("<postmaster>") {
            routed.add_local(self.postmaster()?);
            return Ok(());
        }
        let rcpt = rcpt.trim().trim_start_matches('<').trim_end_matches('>');
        if !rcpt.contains('@') {
            let found = Address::parse(&self.qualify(rcpt))
                .ok()
                .filter(|a| accounts.is_local_domain(a.domain()).unwrap_or(false))
                .and_then(|a| mailyard_store::queue::resolve_with_remote(accounts, &a).ok())
                .filter(|(l, r)| !l.is_empty() || !r.is_empty());
            let (local, remote) = match found {
                Some(f) => f,
                None => (self.postmaster()?, Vec::new()),
            };
            routed.add_local(local);
            for r in remote {
                routed.add_remote(r.to_string());
            }
            return Ok(());
        }
        let m = Mailbox::parse(rcpt)
            .map_err(|e| Failure::new(Exit::DataErr, format!("recipient {rcpt:?}: {e}")))?;
        if !accounts.is_local_domain(&m.domain).map_err(store_failure)? {
            if m.is_address_literal() {
                return Err(Failure::new(
                    Exit::Unavailable,
                    format!("{rcpt}: address literals are not relayed"),
                ));
            }
            routed.add_remote(m.to_string());
            return Ok(());
        }
        let (local, remote) = Address::parse(rcpt)
            .ok()
            .and_then(|a| mailyard_store::queue::resolve_with_remote(accounts, &a).ok())
            .unwrap_or_default();
        if local.is_empty() && remote.is_empty() {
            if m.local.eq_ignore_ascii_case("postmaster") {
                routed.add_local(self.postmaster()?);
                return Ok(());
            }
            return Err(Failure::new(Exit::NoUser, format!("{rcpt}: no such user")));
        }
        routed.add_local(local);
        for r in remote {
            routed.add_remote(r.to_string());
        }
        Ok(())
    }

    /// The postmaster: the `postmaster` key (a user or alias), else the first user.
    fn postmaster(&self) -> Result<Vec<Address>, Failure> {
        let accounts = self.store.accounts();
        if let Some(p) = &self.config.postmaster
            && let Ok(a) = Address::parse(p)
            && let Ok(users) = accounts.resolve(&a)
            && !users.is_empty()
        {
            return Ok(users);
        }
        match accounts.first_user().map_err(store_failure)? {
            Some(u) => Ok(vec![u]),
            None => Err(Failure::new(
                Exit::NoUser,
                "no users yet to receive local mail (mailyard user add)",
            )),
        }
    }
}
