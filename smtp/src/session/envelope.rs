//! MAIL and RCPT: who sends, who receives, and the relay policy.

use mailyard_store::Address;

use super::{Flow, Recipient, Session, Transaction};
use crate::Role;
use crate::filter::ActiveScript;
use crate::proto::{
    EnhancedStatus, ForwardPath, MailParams, Mailbox, RcptParams, Reply, ReversePath,
};

impl Session {
    /// MAIL FROM. After EHLO/HELO, outside a transaction; on submission listeners only
    /// after AUTH (RFC 6409 §4.3). RFC 5321 §4.1.1.2; SIZE RFC 1870 §6.2; SMTPUTF8
    /// RFC 6531 §3.4.
    pub(super) async fn handle_mail(&mut self, from: ReversePath, params: MailParams) -> Flow {
        let Some((_, esmtp)) = &self.helo else {
            return self.error(Reply::bad_sequence("Send EHLO or HELO first"));
        };
        if self.tx.is_some() {
            return self.error(Reply::bad_sequence("Nested MAIL command"));
        }
        if !esmtp && params != MailParams::default() {
            return self.error(Reply::new(
                555,
                Some(EnhancedStatus::new(5, 5, 4)),
                "MAIL parameters need EHLO",
            ));
        }
        if self.role != Role::Mx && self.auth.is_none() {
            return self.error(Reply::auth_required());
        }
        if params
            .size
            .is_some_and(|s| s > self.ctx.config().limits.message_size)
        {
            return self.error(Reply::message_too_big());
        }
        if let ReversePath::Mailbox(m) = &from
            && !m.is_ascii()
            && !params.smtputf8
        {
            return self.error(Reply::non_ascii_address());
        }
        if let Some(user) = self.auth.clone() {
            // RFC 6409 §8.1 lets the MSA enforce the sender; we do, against spoofing.
            let owned = match &from {
                ReversePath::Null => Ok(false),
                ReversePath::Mailbox(m) => self.owns(&user, vec![address_of(m)]).await,
            };
            let owned = match owned {
                Ok(o) => o,
                Err(e) => return self.lookup_failed(e),
            };
            if !owned {
                return self.error(Reply::new(
                    550,
                    Some(EnhancedStatus::new(5, 7, 1)),
                    format!("Sender address not owned by {user}"),
                ));
            }
        }
        self.drop_message();
        // The session has work to do: the login deadline no longer applies.
        self.login_deadline = None;
        self.tx = Some(Transaction {
            from,
            params,
            rcpts: Vec::new(),
        });
        self.reply(Reply::sender_ok());
        Flow::Continue
    }

    /// Whether `user` may send as every one of `addresses`: its own address, or one
    /// that resolves to it (an alias targeting it, its plus-address). `None` (a
    /// mailbox that is no address of ours to check) is not owned.
    pub(super) async fn owns(
        &self,
        user: &Address,
        addresses: Vec<Option<Address>>,
    ) -> Result<bool, mailyard_store::StoreError> {
        match addresses.into_iter().collect::<Option<Vec<_>>>() {
            Some(all) => self.ctx.store.all_owned_by(user, all).await,
            None => Ok(false),
        }
    }

    /// A lookup in `accounts.db` failed: `451 4.3.0`, logged (the sender retries;
    /// never a permanent refusal for our own trouble).
    pub(super) fn lookup_failed(&mut self, e: mailyard_store::StoreError) -> Flow {
        tracing::error!(error = %e, "account lookup failed");
        self.error(Reply::local_error())
    }

    /// RCPT TO. Inside a transaction. Local recipients (users, aliases, plus-addressing,
    /// `<Postmaster>`) are accepted on every listener; others only from an
    /// authenticated user, for the relay queue. RFC 5321 §4.1.1.3, §3.6.2 (no open
    /// relay), §4.5.3.1.8 (recipient limit).
    pub(super) async fn handle_rcpt(&mut self, to: ForwardPath, params: RcptParams) -> Flow {
        let Some(tx) = &self.tx else {
            return self.error(Reply::bad_sequence("Need MAIL before RCPT"));
        };
        if tx.rcpts.len() >= self.ctx.config().limits.max_recipients {
            self.reply(Reply::too_many_recipients());
            return Flow::Continue;
        }
        let smtputf8 = tx.params.smtputf8;
        let found = match &to {
            ForwardPath::Postmaster => self.postmaster(true).await.map(unknown_scripts),
            ForwardPath::Mailbox(m) => {
                if !m.is_ascii() && !smtputf8 {
                    return self.error(Reply::non_ascii_address());
                }
                // One hop: the domain, the recipients, their Sieve scripts.
                let address = address_of(m);
                let parsed = address.is_some();
                let sieve = self.ctx.config().sieve.enabled;
                let routed = self
                    .ctx
                    .store
                    .route_rcpt(m.domain.to_string(), address, move |sv, r| {
                        // A script that cannot be read never fails the recipient:
                        // it is looked up again when the message comes.
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            crate::filter::active_scripts(sv, sieve, &r.local)
                        }))
                        .unwrap_or_else(|_| vec![ActiveScript::Unknown; r.local.len()])
                    })
                    .await;
                match routed {
                    Err(e) => return self.lookup_failed(e),
                    Ok(None) => {
                        return if self.auth.is_some() && !m.is_address_literal() {
                            // RFC 6409 §3.3: an authenticated user's mail goes
                            // anywhere, through the relay queue.
                            self.accept_rcpt(to.clone(), params, Vec::new(), vec![m.to_string()])
                        } else {
                            self.error(Reply::relay_denied())
                        };
                    }
                    Ok(Some((r, _)))
                        if parsed && r.is_empty() && m.local.eq_ignore_ascii_case("postmaster") =>
                    {
                        // RFC 5321 §4.5.1: postmaster@ every domain we receive for.
                        self.postmaster(false).await.map(unknown_scripts)
                    }
                    Ok(Some((r, scripts))) => Ok((
                        r.local.into_iter().zip(scripts).collect(),
                        r.remote.iter().map(ToString::to_string).collect(),
                    )),
                }
            }
        };
        let (local, remote) = match found {
            Ok(f) => f,
            Err(e) => return self.lookup_failed(e),
        };
        if local.is_empty() && remote.is_empty() {
            return self.error(Reply::no_such_user());
        }
        self.accept_rcpt(to, params, local, remote)
    }

    /// RFC 5321 §4.5.1: who `<Postmaster>` (`any_domain`) or an unknown
    /// `postmaster@` of a local domain reaches ([`mailyard_store::Store::postmaster`]).
    async fn postmaster(
        &self,
        any_domain: bool,
    ) -> Result<Vec<Address>, mailyard_store::StoreError> {
        let config = self.ctx.config();
        self.ctx
            .store
            .postmaster(&config.hostname, config.postmaster.as_deref(), any_domain)
            .await
    }

    fn accept_rcpt(
        &mut self,
        given: ForwardPath,
        params: RcptParams,
        local: Vec<(Address, ActiveScript)>,
        remote: Vec<String>,
    ) -> Flow {
        if let Some(tx) = self.tx.as_mut() {
            tx.rcpts.push(Recipient {
                given,
                local,
                remote,
                params,
                routed: std::time::Instant::now(),
            });
        }
        self.reply(Reply::recipient_ok());
        Flow::Continue
    }
}

/// Local users found without their scripts (the postmaster's): looked up when the
/// message comes.
fn unknown_scripts(users: Vec<Address>) -> (Vec<(Address, ActiveScript)>, Vec<String>) {
    let local = users
        .into_iter()
        .map(|u| (u, ActiveScript::Unknown))
        .collect();
    (local, Vec::new())
}

/// The store's form of an SMTP mailbox (`None` when it is not one, e.g. a quoted
/// local part the store does not take).
pub(super) fn address_of(m: &Mailbox) -> Option<Address> {
    Address::parse(&format!("{}@{}", m.local, m.domain)).ok()
}
