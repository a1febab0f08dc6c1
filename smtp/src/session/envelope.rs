//! MAIL and RCPT: who sends, who receives, and the relay policy.

use mailyard_store::Address;

use super::{Flow, Recipient, Session, Transaction};
use crate::Role;
use crate::proto::{
    EnhancedStatus, ForwardPath, MailParams, Mailbox, RcptParams, Reply, ReversePath,
};

impl Session {
    /// MAIL FROM. After EHLO/HELO, outside a transaction; on submission listeners only
    /// after AUTH (RFC 6409 §4.3). RFC 5321 §4.1.1.2; SIZE RFC 1870 §6.2; SMTPUTF8
    /// RFC 6531 §3.4.
    pub(super) fn handle_mail(&mut self, from: ReversePath, params: MailParams) -> Flow {
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
                ReversePath::Null => false,
                ReversePath::Mailbox(m) => self.owns(&user, m),
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

    /// Whether `user` may send as `m`: its own address, or an address that resolves to
    /// it (an alias targeting it, or its plus-address).
    pub(super) fn owns(&self, user: &Address, m: &Mailbox) -> bool {
        let Ok(a) = Address::parse(&format!("{}@{}", m.local, m.domain)) else {
            return false;
        };
        if &a == user {
            return true;
        }
        self.ctx
            .store
            .accounts()
            .resolve(&a)
            .is_ok_and(|users| users.contains(user))
    }

    /// RCPT TO. Inside a transaction. Local recipients (users, aliases, plus-addressing,
    /// `<Postmaster>`) are accepted on every listener; others only from an
    /// authenticated user, for the relay queue. RFC 5321 §4.1.1.3, §3.6.2 (no open
    /// relay), §4.5.3.1.8 (recipient limit).
    pub(super) fn handle_rcpt(&mut self, to: ForwardPath, params: RcptParams) -> Flow {
        let Some(tx) = &self.tx else {
            return self.error(Reply::bad_sequence("Need MAIL before RCPT"));
        };
        if tx.rcpts.len() >= self.ctx.config().limits.max_recipients {
            self.reply(Reply::too_many_recipients());
            return Flow::Continue;
        }
        let smtputf8 = tx.params.smtputf8;
        let accounts = self.ctx.store.accounts();
        let (local, remote) = match &to {
            ForwardPath::Postmaster => (self.postmaster(), Vec::new()),
            ForwardPath::Mailbox(m) => {
                if !m.is_ascii() && !smtputf8 {
                    return self.error(Reply::non_ascii_address());
                }
                let is_local = accounts.is_local_domain(&m.domain).unwrap_or(false);
                if !is_local {
                    return if self.auth.is_some() && !m.is_address_literal() {
                        // RFC 6409 §3.3: an authenticated user's mail goes anywhere,
                        // through the relay queue.
                        self.accept_rcpt(to.clone(), params, Vec::new(), vec![m.to_string()])
                    } else {
                        self.error(Reply::relay_denied())
                    };
                }
                let found: (Vec<Address>, Vec<String>) =
                    Address::parse(&format!("{}@{}", m.local, m.domain))
                        .ok()
                        .and_then(|a| mailyard_store::queue::resolve_with_remote(accounts, &a).ok())
                        .map(|(l, r)| (l, r.iter().map(ToString::to_string).collect()))
                        .unwrap_or_default();
                if found.0.is_empty()
                    && found.1.is_empty()
                    && m.local.eq_ignore_ascii_case("postmaster")
                {
                    // RFC 5321 §4.5.1: postmaster@ every domain we receive for.
                    (self.postmaster_fallback(), Vec::new())
                } else {
                    found
                }
            }
        };
        if local.is_empty() && remote.is_empty() {
            return self.error(Reply::no_such_user());
        }
        self.accept_rcpt(to, params, local, remote)
    }

    fn accept_rcpt(
        &mut self,
        given: ForwardPath,
        params: RcptParams,
        local: Vec<Address>,
        remote: Vec<String>,
    ) -> Flow {
        if let Some(tx) = self.tx.as_mut() {
            tx.rcpts.push(Recipient {
                given,
                local,
                remote,
                params,
            });
        }
        self.reply(Reply::recipient_ok());
        Flow::Continue
    }

    /// RFC 5321 §4.5.1: `<Postmaster>` must be accepted: postmaster@ the host name's
    /// domain, else of any local domain, whichever resolves first; else the fallback.
    fn postmaster(&self) -> Vec<Address> {
        let accounts = self.ctx.store.accounts();
        let mut domains = vec![self.ctx.config().hostname.clone()];
        domains.extend(accounts.domains().unwrap_or_default());
        for d in domains {
            if let Ok(a) = Address::parse(&format!("postmaster@{d}"))
                && let Ok(users) = accounts.resolve(&a)
                && !users.is_empty()
            {
                return users;
            }
        }
        self.postmaster_fallback()
    }

    /// Who gets postmaster mail when no user or alias is named postmaster: the
    /// `postmaster` config key (a local user or alias), else the first user added.
    fn postmaster_fallback(&self) -> Vec<Address> {
        let accounts = self.ctx.store.accounts();
        if let Some(configured) = &self.ctx.config().postmaster {
            match Address::parse(configured).map(|a| accounts.resolve(&a)) {
                Ok(Ok(users)) if !users.is_empty() => return users,
                _ => tracing::warn!(
                    postmaster = %configured,
                    "the configured postmaster is no local user or alias; using the first user"
                ),
            }
        }
        accounts.first_user().ok().flatten().into_iter().collect()
    }
}
