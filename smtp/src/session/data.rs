//! DATA and BDAT: receive the message, complete its headers, deliver it durably, and
//! only then reply 250.

use mailyard_store::Address;

use super::spool::{SPOOL_THRESHOLD, Spool};
use super::{End, Flow, Session, Transaction};
use crate::Role;
use crate::auth_checks::{Disposition, Envelope, Verdict, remove_forged_results};
use crate::filter;
use crate::proto::fields;
use crate::proto::params::Body;
use crate::proto::{
    BdatEvent, BdatReceiver, DataOutcome, DataReceiver, EnhancedStatus, ForwardPath, Reply,
    ReversePath,
};

impl Session {
    /// DATA. Inside a transaction with at least one accepted recipient. RFC 5321
    /// §4.1.1.4 (only CRLF.CRLF ends it, §4.5.2 dot-unstuffing in the receiver);
    /// RFC 3030 §3: BINARYMIME needs BDAT.
    pub(super) async fn handle_data(&mut self) -> Result<Flow, End> {
        let Some(tx) = &self.tx else {
            return Ok(self.refuse_data(Reply::bad_sequence("Need MAIL and RCPT before DATA")));
        };
        if tx.rcpts.is_empty() {
            return Ok(self.refuse_data(Reply::new(
                554,
                Some(EnhancedStatus::new(5, 5, 1)),
                "No valid recipients",
            )));
        }
        if tx.params.body == Some(Body::BinaryMime) {
            return Ok(self.refuse_data(Reply::bad_sequence("BODY=BINARYMIME requires BDAT")));
        }
        self.reply(Reply::start_data());
        self.conn.flush().await?;
        // RFC 5321 §4.5.3.1: no line-length limit we can avoid; lines of any length
        // are taken (bare CR and LF are still refused), and relayed mail is made to
        // fit before it is queued (`queue::wrap`).
        let mut rx = DataReceiver::new(self.max_size()).with_max_line(None);
        let mut spool = Spool::new(self.ctx.store.data_dir());
        let outcome = loop {
            let (consumed, outcome) = rx.feed(&self.conn.rbuf);
            self.conn.rbuf.drain(..consumed);
            if let Some(o) = outcome {
                break o;
            }
            if rx.stored() >= SPOOL_THRESHOLD {
                spool.append(&rx.take_stored()).await;
            }
            self.read_more(false).await?;
        };
        Ok(self.complete(outcome, spool).await)
    }

    /// A refused DATA. A client that pipelined its message after DATA without waiting
    /// for 354 (RFC 2920 §3.1 forbids it, some do it) would have the message run as
    /// commands: whatever it has already sent is discarded, as Postfix does.
    fn refuse_data(&mut self, reply: Reply) -> Flow {
        if !self.conn.rbuf.is_empty() {
            tracing::debug!(
                octets = self.conn.rbuf.len(),
                "discarded input pipelined after a refused DATA"
            );
            self.conn.rbuf.clear();
        }
        self.error(reply)
    }

    /// BDAT size [LAST]. RFC 3030 §2: the chunk's octets are always consumed, even when
    /// the command fails; each non-LAST chunk is acknowledged, the LAST one delivers.
    pub(super) async fn handle_bdat(&mut self, size: u64, last: bool) -> Result<Flow, End> {
        let mut rx = self.chunk_receiver();
        let mut spool = self
            .spool
            .take()
            .unwrap_or_else(|| Spool::new(self.ctx.store.data_dir()));
        rx.start_chunk(size, last);
        let event = loop {
            let (consumed, event) = rx.feed(&self.conn.rbuf);
            self.conn.rbuf.drain(..consumed);
            if let Some(e) = event {
                break e;
            }
            if rx.stored() >= SPOOL_THRESHOLD {
                spool.append(&rx.take_stored()).await;
            }
            self.read_more(false).await?;
        };
        self.spool = Some(spool);
        Ok(self.chunk_done(rx, event).await)
    }

    /// The receiver of the message being sent in chunks (BDAT, BURL), or a new one.
    pub(super) fn chunk_receiver(&mut self) -> BdatReceiver {
        let max = self.max_size();
        let binary = self
            .tx
            .as_ref()
            .is_some_and(|t| t.params.body == Some(Body::BinaryMime));
        self.bdat.take().unwrap_or_else(|| {
            let r = BdatReceiver::new(max).with_max_line(None);
            if binary { r.binary() } else { r }
        })
    }

    /// After a chunk (BDAT's octets, or what a BURL fetched, RFC 4468 §3.2): 250 for
    /// a non-LAST one, delivery after the LAST, or the refusal.
    pub(super) async fn chunk_done(&mut self, rx: BdatReceiver, event: BdatEvent) -> Flow {
        let ready = self.tx.as_ref().is_some_and(|t| !t.rcpts.is_empty());
        match event {
            BdatEvent::ChunkComplete { size } => {
                if !ready {
                    return self.error(Reply::bad_sequence("Need MAIL and RCPT before BDAT"));
                }
                match rx.failure() {
                    Some(f) => {
                        // The message is refused; later chunks are read and refused too.
                        let r = f.reply();
                        self.bdat = Some(rx);
                        self.error(r)
                    }
                    None => {
                        self.bdat = Some(rx);
                        self.reply(Reply::chunk_received(size));
                        Flow::Continue
                    }
                }
            }
            BdatEvent::Done(outcome) => {
                let spool = self.spool.take();
                if !ready {
                    self.tx = None;
                    return self.error(Reply::bad_sequence("Need MAIL and RCPT before BDAT"));
                }
                let spool = spool.unwrap_or_else(|| Spool::new(self.ctx.store.data_dir()));
                self.complete(outcome, spool).await
            }
        }
    }

    /// Drops the message being received in chunks, and its spool file.
    pub(super) fn drop_message(&mut self) {
        self.bdat = None;
        self.spool = None;
    }

    fn max_size(&self) -> usize {
        usize::try_from(self.ctx.config().limits.message_size).unwrap_or(usize::MAX)
    }

    /// Ends the transaction with the receiver's outcome (the message: what `spool`
    /// holds, then the rest): deliver, or refuse.
    async fn complete(&mut self, outcome: DataOutcome, spool: Spool) -> Flow {
        // The final dot (or BDAT LAST) is in: `/metrics` times from here to the 250.
        let started = std::time::Instant::now();
        let Some(tx) = self.tx.take() else {
            return self.error(Reply::bad_sequence("No transaction"));
        };
        self.drop_message();
        match outcome {
            DataOutcome::Message(tail) => match spool.finish(tail).await {
                Ok(message) => self.deliver(tx, message, started).await,
                Err(e) => {
                    tracing::error!(error = %e, "spooled message lost");
                    self.reply(Reply::new(
                        452,
                        Some(EnhancedStatus::new(4, 3, 1)),
                        "Insufficient system storage",
                    ));
                    Flow::Continue
                }
            },
            refused => {
                let r = refused.reply();
                self.error(r)
            }
        }
    }

    /// Completes the headers and hands the message to the store; 250 only once it is
    /// durable for every local recipient (RFC 5321 §6.1).
    async fn deliver(
        &mut self,
        tx: Transaction,
        message: Vec<u8>,
        started: std::time::Instant,
    ) -> Flow {
        let mut added = Vec::new();
        if let Some(user) = self.auth.clone() {
            let fields = fields::fields(&message);
            if let Some(refusal) = self.submitted_fields(&user, &fields).await {
                // Refused content, not a protocol error (no count towards max_errors).
                tracing::info!(%user, reply = %refusal.code, "submitted header fields refused");
                self.reply(refusal);
                return Flow::Continue;
            }
            // RFC 6409 §8: the MSA may complete a message.
            if !fields.iter().any(|f| f.is("From")) {
                added.push(format!("From: <{user}>\r\n"));
            }
            if fields::first_value(&fields, "Date").is_none() {
                added.push(format!(
                    "Date: {}\r\n",
                    mailyard_common::time::rfc5322(mailyard_common::time::now())
                ));
            }
            if fields::first_value(&fields, "Message-ID").is_none() {
                added.push(format!(
                    "Message-ID: <{}.{}@{}>\r\n",
                    self.id,
                    unique_token(),
                    self.ctx.config().hostname
                ));
            }
        }
        let (message, verdict) = if self.role == Role::Mx {
            self.check_sender(&tx, message).await
        } else {
            (message, None)
        };
        if let Some(Disposition::Reject(text)) = verdict.as_ref().map(|v| &v.disposition) {
            // RFC 7489 §6.3 p=reject, refused inside the session (not a protocol error).
            tracing::info!(from = %tx.from, "refused by DMARC policy");
            self.reply(Reply::new(550, Some(EnhancedStatus::new(5, 7, 1)), text));
            return Flow::Continue;
        }
        let rcpts = local_rcpts(&tx.rcpts, std::time::Instant::now());
        let envelope = self.relay_envelope(&tx);
        if envelope.is_some()
            && crate::queue::count_received(&message) >= crate::queue::MAX_RECEIVED
        {
            // RFC 5321 §6.3: a mail loop; refuse rather than pass it on once more.
            tracing::warn!(from = %tx.from, "refused: too many Received: fields (mail loop)");
            self.reply(Reply::new(
                554,
                Some(EnhancedStatus::new(5, 4, 6)),
                "Too many hops (Received: fields): mail loop",
            ));
            return Flow::Continue;
        }
        // Lines over 998 octets are re-encoded or wrapped for the next hop, before
        // the DKIM signature is computed over the result.
        let message = if envelope.is_some() {
            crate::queue::wrap::fit(message)
        } else {
            message
        };
        if let (Some(env), Some(user)) = (&envelope, &self.auth)
            && let Some(refusal) = self.over_send_limit(user, env).await
        {
            self.reply(refusal);
            return Flow::Continue;
        }
        // Mail our users send out is signed for its From: domain (RFC 6376), over
        // the message as completed (the added Date:/Message-ID: included).
        let dkim = match (&envelope, &self.auth) {
            (Some(_), Some(user)) => self.dkim_signatures(user, &added, &message).await,
            _ => String::new(),
        };
        let mut full = Vec::with_capacity(message.len() + 512);
        full.extend_from_slice(format!("Return-Path: {}\r\n", tx.from).as_bytes());
        full.extend_from_slice(dkim.as_bytes());
        // RFC 8601 §2.1: a trace field, so prepended like Received (above ours).
        if let Some(v) = &verdict {
            full.extend_from_slice(v.header.as_bytes());
        }
        full.extend_from_slice(self.received(&tx).as_bytes());
        for h in &added {
            full.extend_from_slice(h.as_bytes());
        }
        full.extend_from_slice(&message);
        let size = full.len();
        let success_notice = self.success_notice_rcpts(&tx, &full);
        let junk = verdict.is_some_and(|v| v.disposition == Disposition::Junk);
        let stored = if junk {
            // Quarantined mail is filed locally only; it is not passed on elsewhere.
            let copy = mailyard_store::LocalCopy {
                message: full,
                targets: crate::auth_checks::junk_targets(rcpts.iter().map(|r| &r.user)),
            };
            self.ctx
                .store
                .deliver_all(mailyard_store::Delivery {
                    copies: vec![copy],
                    ..Default::default()
                })
                .await
        } else {
            let inbound = filter::Inbound {
                message: full,
                from: match &tx.from {
                    ReversePath::Mailbox(m) => m.to_string(),
                    ReversePath::Null => String::new(),
                },
                auth: self.auth.as_ref().map(ToString::to_string),
                rcpts,
                remote: envelope,
                can_refuse: true,
            };
            let config = self.ctx.config();
            match filter::plan(&self.ctx.store, &config, inbound).await {
                // The serial is held until the delivery is stored.
                filter::Planned::Deliver(delivery, _serial) => {
                    self.ctx.store.deliver_all(delivery).await
                }
                filter::Planned::Refuse(reason) => {
                    // RFC 5429 §2.1: refused at the protocol level, so nobody gets
                    // a bounce; not a protocol error (no count towards max_errors).
                    tracing::info!(from = %tx.from, "refused by the recipients' Sieve scripts");
                    self.reply(Reply::new(
                        550,
                        Some(EnhancedStatus::new(5, 7, 1)),
                        filter::reply_text(&reason),
                    ));
                    return Flow::Continue;
                }
            }
        };
        match stored {
            Ok((delivered, queued)) => {
                let queued = queued.first().cloned();
                tracing::info!(
                    from = %tx.from,
                    recipients = delivered.len(),
                    queued = queued.as_deref().unwrap_or(""),
                    size,
                    "delivered"
                );
                if let Some((rcpts, headers)) = success_notice
                    && let ReversePath::Mailbox(m) = &tx.from
                {
                    let relay = self.ctx.relay.clone();
                    let (store, host) = (self.ctx.store.clone(), self.ctx.config());
                    let (sender, envid) = (m.to_string(), tx.params.envid.clone());
                    tokio::spawn(async move {
                        crate::queue::local_success_notice(
                            store, host, sender, envid, rcpts, headers,
                        )
                        .await;
                        relay.wake();
                    });
                }
                if queued.is_some() {
                    self.ctx.relay.wake();
                }
                self.ctx.metrics.smtp_delivered(
                    delivered.len(),
                    queued.is_some(),
                    started.elapsed(),
                );
                self.reply(Reply::new(
                    250,
                    Some(EnhancedStatus::new(2, 0, 0)),
                    format!("Ok: delivered as {}", self.id),
                ));
                Flow::Continue
            }
            Err(e) => {
                tracing::error!(error = %e, "delivery failed; not acknowledged");
                self.reply(Reply::local_error());
                Flow::Continue
            }
        }
    }

    /// The local recipients that asked for a success DSN (RFC 3461 NOTIFY=SUCCESS),
    /// with their ORCPT, and the header section to return; None when nobody asked or
    /// the sender is `<>`.
    #[allow(clippy::type_complexity)]
    fn success_notice_rcpts(
        &self,
        tx: &Transaction,
        message: &[u8],
    ) -> Option<(Vec<(String, Option<String>)>, Vec<u8>)> {
        use crate::proto::params::Notify;
        if tx.from == ReversePath::Null {
            return None;
        }
        let rcpts: Vec<(String, Option<String>)> = tx
            .rcpts
            .iter()
            .filter(|r| {
                !r.local.is_empty()
                    && matches!(r.params.notify, Some(Notify::On { success: true, .. }))
            })
            .map(|r| {
                let addr = r.given.to_string();
                let addr = addr
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string();
                let orcpt = r.params.orcpt.as_ref().map(|(k, a)| format!("{k};{a}"));
                (addr, orcpt)
            })
            .collect();
        if rcpts.is_empty() {
            return None;
        }
        Some((rcpts, mailyard_message::header::split(message).0.to_vec()))
    }

    /// DKIM-Signature fields for the From: domain when it is ours and has keys.
    async fn dkim_signatures(&self, user: &Address, added: &[String], message: &[u8]) -> String {
        let from = header_addresses(message, "From");
        let domain = from
            .first()
            .and_then(|a| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
            .unwrap_or_else(|| user.domain().to_string());
        if !self
            .ctx
            .store
            .is_local_domain(&domain)
            .await
            .unwrap_or(false)
        {
            return String::new();
        }
        let mut signed = Vec::with_capacity(message.len() + 256);
        for h in added {
            signed.extend_from_slice(h.as_bytes());
        }
        signed.extend_from_slice(message);
        let data_dir = self.ctx.store.data_dir().to_path_buf();
        tokio::task::spawn_blocking(move || crate::queue::dkim::sign(&data_dir, &domain, &signed))
            .await
            .unwrap_or_default()
    }

    /// `[relay]` per-account limits: messages per day and first-time recipients per
    /// day. Past either, `451 4.7.1` (the message is not taken), logged.
    async fn over_send_limit(
        &self,
        user: &Address,
        env: &mailyard_store::queue::Envelope,
    ) -> Option<Reply> {
        let relay = &self.ctx.config().relay;
        let rcpts: Vec<String> = env.recipients.iter().map(|r| r.address.clone()).collect();
        let usage = self.ctx.store.send_usage(&user.to_string(), rcpts).await;
        let usage = match usage {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "cannot read send counts; not limiting");
                return None;
            }
        };
        let counters = self.ctx.relay.counters();
        let limit = crate::queue::SendLimit::reached(&usage, relay)?;
        let (counter, why) = match limit {
            crate::queue::SendLimit::Messages => (
                &counters.refused_messages_per_day,
                format!(
                    "Daily limit of {} messages to other servers reached",
                    relay.max_messages_per_day
                ),
            ),
            crate::queue::SendLimit::NewRecipients => (
                &counters.refused_new_recipients_per_day,
                format!(
                    "Daily limit of {} first-time recipients reached",
                    relay.max_new_recipients_per_day
                ),
            ),
        };
        let limit = limit.key();
        let refused = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        tracing::warn!(%user, limit, messages = usage.messages, new_recipients = usage.new_recipients,
            new_in_this = usage.new_in_this, refused_since_start = refused,
            "send limit reached; refused");
        Some(Reply::new(451, Some(EnhancedStatus::new(4, 7, 1)), why))
    }

    /// The relay queue's envelope for the transaction's remote recipients (None when
    /// every recipient is local).
    fn relay_envelope(&self, tx: &Transaction) -> Option<mailyard_store::queue::Envelope> {
        use crate::proto::params::{Notify, Ret};
        let mut recipients: Vec<mailyard_store::queue::QueuedRcpt> = Vec::new();
        for r in &tx.rcpts {
            let notify = r.params.notify.map(|n| match n {
                Notify::Never => "NEVER".to_string(),
                Notify::On {
                    success,
                    failure,
                    delay,
                } => [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, w)| *w)
                    .collect::<Vec<_>>()
                    .join(","),
            });
            let orcpt = r
                .params
                .orcpt
                .as_ref()
                .map(|(kind, addr)| format!("{kind};{addr}"));
            for a in &r.remote {
                if !recipients.iter().any(|q| &q.address == a) {
                    recipients.push(mailyard_store::queue::QueuedRcpt {
                        address: a.clone(),
                        notify: notify.clone(),
                        orcpt: orcpt.clone(),
                    });
                }
            }
        }
        if recipients.is_empty() {
            return None;
        }
        Some(mailyard_store::queue::Envelope {
            sender: match &tx.from {
                ReversePath::Null => String::new(),
                ReversePath::Mailbox(m) => m.to_string(),
            },
            recipients,
            envid: tx.params.envid.clone(),
            ret: tx.params.ret.map(|r| match r {
                Ret::Full => "FULL".to_string(),
                Ret::Hdrs => "HDRS".to_string(),
            }),
            auth_user: self.auth.as_ref().map(ToString::to_string),
            created: mailyard_common::time::now(),
        })
    }

    /// MX only: sender authentication (`auth_checks`) on the message as it arrived,
    /// then removal of any `Authentication-Results:` forged in our name (RFC 8601 §5).
    async fn check_sender(&self, tx: &Transaction, message: Vec<u8>) -> (Vec<u8>, Option<Verdict>) {
        let checker = &self.ctx.auth_checks;
        let verdict = if checker.enabled() {
            let mail_from = match &tx.from {
                ReversePath::Null => String::new(),
                ReversePath::Mailbox(m) => format!("{}@{}", m.local, m.domain),
            };
            let env = Envelope {
                ip: self.peer.ip().to_canonical(),
                helo: self.helo.as_ref().map_or("", |(h, _)| h.as_str()),
                mail_from: &mail_from,
            };
            Some(checker.check(&env, &message).await)
        } else {
            None
        };
        let (cleaned, removed) = remove_forged_results(&message, &self.ctx.config().hostname);
        let cleaned = match cleaned {
            std::borrow::Cow::Owned(copy) => Some(copy),
            std::borrow::Cow::Borrowed(_) => None,
        };
        if removed > 0 {
            tracing::info!(removed, "removed Authentication-Results forged in our name");
        }
        (cleaned.unwrap_or(message), verdict)
    }

    /// The refusal, if any, for a submitted message's header fields: a field RFC 5322
    /// §3.6 allows once that occurs twice (`554 5.6.0`; a second `From:` or `Sender:`
    /// is `550 5.7.1`, as a spoofing attempt), or a `From:`/`Sender:` with any address
    /// that is not `user`'s (RFC 6409 §8: `550 5.7.1`). Every field is checked, not
    /// just the one a particular parser would show.
    async fn submitted_fields(&self, user: &Address, fields: &[fields::Field]) -> Option<Reply> {
        let spoofed = || {
            Reply::new(
                550,
                Some(EnhancedStatus::new(5, 7, 1)),
                format!("From:/Sender: header address not owned by {user}"),
            )
        };
        match fields::repeated_single_field(fields) {
            Some("From" | "Sender") => return Some(spoofed()),
            Some(name) => {
                return Some(Reply::new(
                    554,
                    Some(EnhancedStatus::new(5, 6, 0)),
                    format!("More than one {name}: header field (RFC 5322 section 3.6)"),
                ));
            }
            None => {}
        }
        let mut addresses = Vec::new();
        for f in fields.iter().filter(|f| f.is("From") || f.is("Sender")) {
            let addrs = field_addresses(&f.value);
            if addrs.is_empty() {
                return Some(spoofed());
            }
            addresses.extend(addrs.iter().map(|a| {
                crate::proto::Mailbox::parse(a)
                    .ok()
                    .as_ref()
                    .and_then(super::envelope::address_of)
            }));
        }
        match self.owns(user, addresses).await {
            Ok(true) => None,
            Ok(false) => Some(spoofed()),
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                Some(Reply::local_error())
            }
        }
    }

    /// RFC 5321 §4.4 trace header, with RFC 3848 / RFC 6531 §3.7.3 protocol names, the
    /// TLS in use and the authenticated user as comments (as Postfix writes them).
    fn received(&self, tx: &Transaction) -> String {
        let helo = self
            .helo
            .as_ref()
            .map(|(h, _)| sanitize(h))
            .unwrap_or_else(|| "unknown".into());
        let esmtp = self.helo.as_ref().is_some_and(|(_, e)| *e);
        let mut proto = String::new();
        if tx.params.smtputf8 {
            proto.push_str("UTF8SMTP");
        } else if esmtp {
            proto.push_str("ESMTP");
        } else {
            proto.push_str("SMTP");
        }
        if self.tls.is_some() {
            proto.push('S');
        }
        if self.auth.is_some() {
            proto.push('A');
        }
        let ip = self.peer.ip().to_canonical();
        let literal = match ip {
            std::net::IpAddr::V4(v4) => format!("[{v4}]"),
            std::net::IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
        };
        let mut h = format!("Received: from {helo} ({literal})\r\n");
        if let Some(tls) = &self.tls {
            h.push_str(&format!(
                "\t(using {} with cipher {})\r\n",
                tls.version, tls.cipher
            ));
        }
        if let Some(user) = &self.auth {
            h.push_str(&format!("\t(Authenticated sender: {user})\r\n"));
        }
        h.push_str(&format!(
            "\tby {} (mailyard) with {proto} id {}",
            self.ctx.config().hostname,
            self.id
        ));
        if let [only] = tx.rcpts.as_slice() {
            h.push_str(&format!("\r\n\tfor {}", only.given));
        }
        h.push_str(&format!(
            "; {}\r\n",
            mailyard_common::time::rfc5322(mailyard_common::time::now())
        ));
        h
    }
}

/// Keeps only characters that are safe inside a header (the EHLO argument is the
/// client's text).
fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && *c != '(' && *c != ')')
        .take(255)
        .collect()
}

pub(crate) fn unique_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{:x}{:x}{:x}",
        nanos,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The addresses of the first header field named `name`.
fn header_addresses(message: &[u8], name: &str) -> Vec<String> {
    fields::fields(message)
        .iter()
        .find(|f| f.is(name))
        .map(|f| field_addresses(&f.value))
        .unwrap_or_default()
}

/// The addresses in one address-list field value (groups included), parsed with
/// mail-parser.
pub(crate) fn field_addresses(value: &str) -> Vec<String> {
    let block = format!("From:{value}\r\n\r\n");
    let Some(parsed) = mail_parser::MessageParser::default().parse_headers(block.as_bytes()) else {
        return Vec::new();
    };
    parsed
        .from()
        .map(|l| {
            l.iter()
                .filter_map(|a| a.address.as_deref().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Each local user of the transaction once, with the first RCPT TO that reached them
/// (Sieve's `envelope "to"`, RFC 5228 §5.4) and the script RCPT TO found for them,
/// unless that lookup is older than [`filter::RCPT_SCRIPT_FRESH`] at `now` (then it
/// is looked up again).
fn local_rcpts(rcpts: &[super::Recipient], now: std::time::Instant) -> Vec<filter::LocalRcpt> {
    let mut out: Vec<filter::LocalRcpt> = Vec::new();
    for r in rcpts {
        let fresh = now.saturating_duration_since(r.routed) <= filter::RCPT_SCRIPT_FRESH;
        for (u, script) in &r.local {
            if out.iter().any(|known| known.user == *u) {
                continue;
            }
            let given = match &r.given {
                ForwardPath::Mailbox(m) => m.to_string(),
                ForwardPath::Postmaster => u.to_string(),
            };
            out.push(filter::LocalRcpt {
                user: u.clone(),
                given,
                script: if fresh {
                    script.clone()
                } else {
                    filter::ActiveScript::Unknown
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each user once, the first RCPT TO naming them wins (script included), the
    /// postmaster's RCPT gives the user's own address, and scripts found longer than
    /// `RCPT_SCRIPT_FRESH` ago are left to be looked up again.
    #[test]
    fn local_rcpts_once_each_first_wins_stale_scripts_unknown() {
        use crate::filter::ActiveScript;
        let alice = Address::parse("alice@example.com").expect("address");
        let bob = Address::parse("bob@example.com").expect("address");
        let script = std::sync::Arc::new(mailyard_sieve::compile("keep;").expect("script"));
        // An hour on from now, so that `now - age` never goes before the clock's start.
        let now = std::time::Instant::now() + std::time::Duration::from_secs(3600);
        let rcpt = |given: ForwardPath, local: Vec<(Address, ActiveScript)>, age: u64| {
            super::super::Recipient {
                given,
                local,
                remote: Vec::new(),
                params: Default::default(),
                routed: now - std::time::Duration::from_secs(age),
            }
        };
        let mailbox =
            |s: &str| ForwardPath::Mailbox(crate::proto::Mailbox::parse(s).expect("mailbox"));
        let rcpts = [
            rcpt(
                mailbox("alice@example.com"),
                vec![(alice.clone(), ActiveScript::Some(script.clone()))],
                1,
            ),
            // An alias reaching alice again, and bob, found long ago.
            rcpt(
                mailbox("team@example.com"),
                vec![
                    (alice.clone(), ActiveScript::None),
                    (bob.clone(), ActiveScript::None),
                ],
                filter::RCPT_SCRIPT_FRESH.as_secs() + 1,
            ),
            rcpt(
                ForwardPath::Postmaster,
                vec![(bob.clone(), ActiveScript::None)],
                0,
            ),
        ];
        let got = local_rcpts(&rcpts, now);
        let seen: Vec<(String, String, &str)> = got
            .iter()
            .map(|r| {
                let script = match r.script {
                    ActiveScript::Unknown => "unknown",
                    ActiveScript::None => "none",
                    ActiveScript::Some(_) => "some",
                };
                (r.user.to_string(), r.given.clone(), script)
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "alice@example.com".into(),
                    "alice@example.com".into(),
                    "some"
                ),
                (
                    "bob@example.com".into(),
                    "team@example.com".into(),
                    "unknown"
                ),
            ]
        );
        let postmaster = [rcpt(
            ForwardPath::Postmaster,
            vec![(bob.clone(), ActiveScript::None)],
            0,
        )];
        let got = local_rcpts(&postmaster, now);
        assert_eq!(got[0].given, "bob@example.com");
        assert!(matches!(got[0].script, ActiveScript::None));
    }

    #[test]
    fn header_lookup() {
        let m =
            b"From: A <a@x>\r\nSubject: hi\r\n  there\r\nFrom: b@x, c@y\r\n\r\nFrom: body@x\r\n";
        assert_eq!(header_addresses(m, "From"), ["a@x"], "the first From:");
        assert_eq!(
            field_addresses(" b@x, Group: c@y, D <d@z>;"),
            ["b@x", "c@y", "d@z"]
        );
        assert!(
            header_addresses(b"\r\nFrom: x@y\r\n", "From").is_empty(),
            "body is not headers"
        );
    }
}
