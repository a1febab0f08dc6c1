//! One delivery, whole: every local copy of an incoming message (several contents
//! when a Sieve script edited headers for one user), every relay queue entry it
//! causes (the message for remote recipients, Sieve redirects, vacation replies), and
//! what Sieve must remember of it (vacation replies sent, `duplicate` ids seen).
//!
//! Invariants:
//! - All of it is staged first (files fsynced in `tmp/` directories), then one writer
//!   request links, renames and inserts it in one transaction: durable for all before
//!   the caller answers `250`, or for none (the staged files are removed).
//! - Sieve memory is written in the same transaction as the copies it belongs to, so
//!   a vacation reply is remembered exactly when it was queued. It lives in the index
//!   (`sieve_memory`), like the send counts: losing the index forgets it, which costs
//!   at most one more reply per sender.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;
use crate::model::Address;
use crate::queue::{Envelope, StagedQueue};
use crate::writer::{DeliverOp, Delivered, Effects, Op, Outcome, Target};
use crate::{Store, unexpected};

/// The longest any Sieve memory is kept, in seconds (a year): `vacation :days` and
/// `duplicate :seconds` longer than this are cut to it, and older rows are pruned.
pub const MAX_SIEVE_MEMORY_SECONDS: u64 = 365 * 86_400;

/// One content and where its copies go.
#[derive(Debug, Clone)]
pub struct LocalCopy {
    /// The message as stored (with its trace fields).
    pub message: Vec<u8>,
    /// Its copies.
    pub targets: Vec<Target>,
}

/// A message for the relay queue.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The message (a leading `Return-Path:` is not relayed).
    pub message: Vec<u8>,
    /// Sender, recipients and DSN parameters.
    pub envelope: Envelope,
}

/// What a Sieve run needs remembered once the delivery is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Whose memory.
    pub user: Address,
    /// Which memory: [`VACATION`] or [`DUPLICATE`].
    pub kind: &'static str,
    /// What is remembered: a vacation handle and the sender, a duplicate handle and
    /// the message's id.
    pub key: String,
    /// Seen for the first time (or its period had passed): the period starts now.
    /// Otherwise only the time it was last seen moves (RFC 7352 §3.1 `:last`).
    pub fresh: bool,
}

/// [`Mark::kind`] of a vacation reply sent (RFC 5230 §4.2).
pub const VACATION: &str = "vacation";
/// [`Mark::kind`] of a message id tracked by `duplicate` (RFC 7352 §3).
pub const DUPLICATE: &str = "duplicate";

/// Everything one incoming message becomes.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub copies: Vec<LocalCopy>,
    pub outbound: Vec<Outbound>,
    pub marks: Vec<Mark>,
}

/// A [`Delivery`] with its files staged: the writer's request.
#[derive(Debug)]
pub struct StagedDelivery {
    copies: Vec<DeliverOp>,
    queued: Vec<StagedQueue>,
    marks: Vec<Mark>,
    now: i64,
}

impl Store {
    /// Stores every part of `delivery` durably in one writer request, or none of it.
    /// Returns the local copies and the queue ids (in `outbound`'s order).
    pub async fn deliver_all(&self, delivery: Delivery) -> Result<(Vec<Delivered>, Vec<String>)> {
        let outcome = self.stage_and_submit(move |s| {
            let mut staged = StagedDelivery {
                copies: Vec::with_capacity(delivery.copies.len()),
                queued: Vec::with_capacity(delivery.outbound.len()),
                marks: delivery.marks,
                now: crate::queue::now(),
            };
            match s.stage_all(delivery.copies, delivery.outbound, &mut staged) {
                Ok(()) => Ok(Op::DeliverAll(staged)),
                Err(e) => {
                    staged.discard();
                    Err(e)
                }
            }
        });
        match outcome.await? {
            Outcome::Queued(delivered, ids) => Ok((delivered, ids)),
            other => Err(unexpected(other)),
        }
    }

    /// Writes every file of a delivery (blocking, inside
    /// [`Store::stage_and_submit`]); on failure `staged` holds what to remove.
    fn stage_all(
        &self,
        copies: Vec<LocalCopy>,
        outbound: Vec<Outbound>,
        staged: &mut StagedDelivery,
    ) -> Result<()> {
        for c in copies.into_iter().filter(|c| !c.targets.is_empty()) {
            staged
                .copies
                .push(self.stage_blocking(c.message, c.targets, None)?);
        }
        for o in outbound
            .into_iter()
            .filter(|o| !o.envelope.recipients.is_empty())
        {
            staged
                .queued
                .push(self.stage_queue_blocking(&o.message, o.envelope)?);
        }
        Ok(())
    }

    /// Whether `user`'s Sieve memory holds `key` of `kind` seen within `seconds`:
    /// since it was first seen, or (`from_last`) since it was last seen.
    pub fn sieve_seen(
        &self,
        user: &Address,
        kind: &str,
        key: &str,
        seconds: u64,
        from_last: bool,
    ) -> Result<bool> {
        let (user, kind, key) = (user.to_string(), kind.to_string(), key.to_string());
        let seconds = seconds.min(MAX_SIEVE_MEMORY_SECONDS) as i64;
        let now = crate::queue::now();
        self.read(move |c| {
            let row: Option<(i64, i64)> = c
                .prepare_cached(
                    "SELECT first, last FROM sieve_memory WHERE user = ?1 AND kind = ?2 AND key = ?3",
                )?
                .query_row(params![user, kind, key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            Ok(row.is_some_and(|(first, last)| {
                let since = if from_last { last } else { first };
                now.saturating_sub(since) < seconds
            }))
        })
    }
}

impl StagedDelivery {
    /// Removes the staged files of a request that will not be made.
    fn discard(self) {
        for c in self.copies {
            c.file.discard();
        }
        for q in self.queued {
            let _ = std::fs::remove_file(&q.tmp);
        }
    }
}

/// The writer's side of [`Store::deliver_all`].
pub(crate) fn apply(
    conn: &Connection,
    data_dir: &std::path::Path,
    fx: &mut Effects,
    staged: StagedDelivery,
) -> Result<Outcome> {
    let StagedDelivery {
        copies,
        queued,
        marks,
        now,
    } = staged;
    let queued_tmps: Vec<std::path::PathBuf> = queued.iter().map(|q| q.tmp.clone()).collect();
    let mut copies = copies.into_iter();
    let r = (|| {
        let mut delivered = Vec::new();
        // `deliver` gives back each copy's tmp name itself, on success or failure.
        for c in copies.by_ref() {
            delivered.extend(crate::writer::deliver(conn, data_dir, fx, c)?);
        }
        let mut ids = Vec::with_capacity(queued.len());
        for q in queued {
            ids.push(q.id.clone());
            crate::queue::insert(conn, fx, q)?;
        }
        for m in &marks {
            remember(conn, m, now)?;
        }
        Ok(Outcome::Queued(delivered, ids))
    })();
    if r.is_err() {
        // The staged files of a failed request are garbage (those already moved
        // are undone with the transaction's other effects).
        copies.for_each(|c| fx.release_staged(c));
        fx.tmp_done.extend(queued_tmps);
    }
    r
}

fn remember(conn: &Connection, m: &Mark, now: i64) -> Result<()> {
    let user = m.user.to_string();
    conn.prepare_cached("DELETE FROM sieve_memory WHERE user = ?1 AND last < ?2")?
        .execute(params![
            user,
            now.saturating_sub(MAX_SIEVE_MEMORY_SECONDS as i64)
        ])?;
    let sql = if m.fresh {
        "INSERT INTO sieve_memory (user, kind, key, first, last) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (user, kind, key) DO UPDATE SET first = ?4, last = ?4"
    } else {
        "INSERT INTO sieve_memory (user, kind, key, first, last) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (user, kind, key) DO UPDATE SET last = ?4"
    };
    conn.prepare_cached(sql)?
        .execute(params![user, m.kind, m.key, now])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;
    use crate::model::FlagSet;
    use crate::writer::IfMissing;
    use crate::writer::testkit::{Kit, alice, stage_named, target};

    /// A request refused on its second message stores none of them and leaves no
    /// `tmp/` name behind of its files staged with names (where `O_TMPFILE` is
    /// missing): a MULTIAPPEND (`DeliverMany`) and a delivery (`DeliverAll`), each with
    /// a message staged after the refused one, which the writer never reaches.
    #[test]
    fn a_refused_request_leaves_no_named_staged_file() {
        let kit = Kit::new();
        kit.create(&alice(), "INBOX");
        let tmp = kit.data_dir().join("mail").join("tmp");
        let to = |mailbox: &str| {
            vec![target(
                &alice(),
                mailbox,
                FlagSet::default(),
                IfMissing::Fail,
            )]
        };
        let three = |tag: &str| {
            ["INBOX", "Missing", "INBOX"]
                .iter()
                .enumerate()
                .map(|(i, m)| stage_named(kit.data_dir(), &format!("{tag}{i}"), to(m)))
                .collect::<Vec<_>>()
        };
        for many in [true, false] {
            let ops = three(if many { "many" } else { "all" });
            assert_eq!(std::fs::read_dir(&tmp).expect("tmp").count(), 3);
            let op = if many {
                Op::DeliverMany {
                    ops,
                    claim_for: None,
                }
            } else {
                Op::DeliverAll(StagedDelivery {
                    copies: ops,
                    queued: Vec::new(),
                    marks: Vec::new(),
                    now: 0,
                })
            };
            let answer = kit.submit(op);
            assert!(
                matches!(&answer, Err(StoreError::NoMailbox(m)) if m == "Missing"),
                "{answer:?}"
            );
            assert_eq!(std::fs::read_dir(&tmp).expect("tmp").count(), 0);
            assert!(kit.files(&alice(), "INBOX").is_empty());
        }
    }
}
