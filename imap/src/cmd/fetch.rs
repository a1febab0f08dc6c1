//! FETCH / UID FETCH (RFC 9051 §6.4.5, §6.4.9; RFC 3501 §6.4.5 for the RFC822 items;
//! BINARY RFC 3516 §4.2; MODSEQ, CHANGEDSINCE and VANISHED RFC 7162 §3.1.4, §3.2.6).
//!
//! Items answered from the session's view (no I/O): FLAGS, UID, INTERNALDATE,
//! RFC822.SIZE, MODSEQ. From the index summary: ENVELOPE, BODY, BODYSTRUCTURE. From
//! the message file, bytes exactly as stored: RFC822, RFC822.HEADER, RFC822.TEXT and
//! BODY[section]<partial> / BODY.PEEK (located by `section.rs`); decoded:
//! BINARY[part]<partial> and BINARY.SIZE[part] (`binary.rs`), as a literal8 when the
//! decoded data holds a NUL (RFC 3516 §4.3).
//!
//! Once CONDSTORE is on, every FETCH response with FLAGS also carries MODSEQ
//! (RFC 7162 §3.1.4.1); once IMAP4rev2 is on, `\Recent` is never sent (RFC 9051
//! Appendix E).
//!
//! Messages are processed in chunks; output is flushed every ~64 KiB, so
//! `UID FETCH 1:* (FLAGS)` on 100 000 messages streams from memory. Body fetches
//! without PEEK set `\Seen` (read-write mailboxes) and report the new FLAGS.

use std::io::Write as _;

use mailyard_store::headers::covers;
use mailyard_store::summary::Summary;
use mailyard_store::{FlagMode, FlagSet, Flags, MessageInfo, Uid};

use crate::cmd::binary::{UnknownCte, binary_part};
use crate::cmd::from_flag_set;
use crate::cmd::section::{apply_partial, section_bytes, split_message};
use crate::proto::fetch::{FetchAttribute, FetchModifiers, SectionText};
use crate::proto::response::{ResponseCode, write_flag_list, write_literal, write_literal8};
use crate::proto::sequence::Sequence;
use crate::session::ext::Extensions;
use crate::session::state::State;
use crate::session::view::Msg;
use crate::session::{Done, End, Session, offload, store_error};

/// Messages loaded from the index and disk per round.
const CHUNK: usize = 128;
/// A FETCH of at most this many messages whose files (if it needs them) add up to at
/// most [`SMALL_FETCH_BYTES`] reads them inline rather than on the blocking pool.
const SMALL_FETCH: usize = 16;
/// See [`SMALL_FETCH`].
const SMALL_FETCH_BYTES: u64 = 256 * 1024;
/// Messages per round when only view data is needed.
const VIEW_CHUNK: usize = 4096;

/// `(\Seen \Recent $label1)` for one message; no `\Recent` once IMAP4rev2 is
/// enabled (RFC 9051 Appendix E).
pub(crate) fn write_flags(out: &mut Vec<u8>, m: &Msg, ext: &Extensions) {
    write_flag_list(out, &from_flag_set(m.flags(), m.recent && !ext.rev2));
}

/// `FLAGS (…)` and, once CONDSTORE is on, ` MODSEQ (n)` (RFC 7162 §3.1.4.1: every
/// FETCH response with FLAGS carries MODSEQ).
pub(crate) fn write_flags_modseq(out: &mut Vec<u8>, m: &Msg, ext: &Extensions) {
    out.extend_from_slice(b"FLAGS ");
    write_flags(out, m, ext);
    if ext.condstore {
        let _ = write!(out, " MODSEQ ({})", m.info.modseq.0);
    }
}

/// An unsolicited flag update: `* seq FETCH (UID u FLAGS (…) [MODSEQ (n)])`
/// (RFC 9051 §7.5.2, RFC 7162 §3.1.4.1, §3.2.4: UID is included so that QRESYNC
/// clients can use it).
pub(crate) fn write_flags_update(out: &mut Vec<u8>, seq: usize, m: &Msg, ext: &Extensions) {
    let _ = write!(out, "* {seq} FETCH (UID {} ", m.uid.0);
    write_flags_modseq(out, m, ext);
    out.extend_from_slice(b")\r\n");
}

/// What one message needs loaded.
struct Loaded {
    summary: Option<Summary>,
    raw: Option<Vec<u8>>,
}

fn needs_summary(a: &FetchAttribute) -> bool {
    matches!(
        a,
        FetchAttribute::Envelope | FetchAttribute::Body | FetchAttribute::BodyStructure
    )
}

fn needs_file(a: &FetchAttribute) -> bool {
    matches!(
        a,
        FetchAttribute::Rfc822
            | FetchAttribute::Rfc822Header
            | FetchAttribute::Rfc822Text
            | FetchAttribute::BodySection { .. }
            | FetchAttribute::Binary { .. }
            | FetchAttribute::BinarySize { .. }
    )
}

/// `load` of every message when `want`, else `None` for each.
fn per_message<T: Clone>(
    want: bool,
    infos: &[MessageInfo],
    load: impl Fn(Uid) -> mailyard_store::Result<Option<T>>,
) -> mailyard_store::Result<Vec<Option<T>>> {
    if want {
        infos.iter().map(|info| load(info.uid)).collect()
    } else {
        Ok(vec![None; infos.len()])
    }
}

/// Whether the header cache answers `a` without the file: a top-level
/// `BODY[HEADER.FIELDS (…)]` of fields it keeps (`mailyard_store::headers`).
fn cache_answers(a: &FetchAttribute) -> bool {
    match a {
        FetchAttribute::BodySection { section, .. } => {
            section.part.is_empty()
                && matches!(&section.text, Some(SectionText::HeaderFields(names)) if covers(names))
        }
        _ => false,
    }
}

fn is_binary(a: &FetchAttribute) -> bool {
    matches!(
        a,
        FetchAttribute::Binary { .. } | FetchAttribute::BinarySize { .. }
    )
}

/// The decoded parts one message's BINARY items need, by part number; `Err` when
/// one has an unknown Content-Transfer-Encoding (RFC 3516 §4.3).
type Decoded = Vec<(Vec<u32>, Option<Vec<u8>>)>;

fn decode_binary(raw: &[u8], attributes: &[FetchAttribute]) -> Result<Decoded, UnknownCte> {
    let mut out: Decoded = Vec::new();
    for a in attributes {
        let part = match a {
            FetchAttribute::Binary { part, .. } | FetchAttribute::BinarySize { part } => part,
            _ => continue,
        };
        if out.iter().any(|(p, _)| p == part) {
            continue;
        }
        let data = binary_part(raw, part).transpose()?;
        out.push((part.clone(), data));
    }
    Ok(out)
}

fn part_wire(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether fetching `a` sets `\Seen` (RFC 9051 §6.4.5: BODY[…] without PEEK,
/// RFC822, RFC822.TEXT).
fn sets_seen(a: &FetchAttribute) -> bool {
    matches!(
        a,
        FetchAttribute::Rfc822
            | FetchAttribute::Rfc822Text
            | FetchAttribute::BodySection { peek: false, .. }
            | FetchAttribute::Binary { peek: false, .. }
    )
}

/// Writes one item of a FETCH response (without the separating space). The caller
/// skips messages whose summary or file is gone, so `loaded` holds what `a` needs.
fn write_item(
    out: &mut Vec<u8>,
    a: &FetchAttribute,
    m: &Msg,
    loaded: Option<&Loaded>,
    decoded: &Decoded,
    ext: &Extensions,
) {
    let raw = loaded.and_then(|l| l.raw.as_deref());
    let summary = loaded.and_then(|l| l.summary.as_ref());
    let literal = |out: &mut Vec<u8>, data: Option<&[u8]>| match data {
        Some(d) => write_literal(out, d),
        None => out.extend_from_slice(b"NIL"),
    };
    match a {
        FetchAttribute::Flags => {
            out.extend_from_slice(b"FLAGS ");
            write_flags(out, m, ext);
        }
        FetchAttribute::Uid => {
            let _ = write!(out, "UID {}", m.uid.0);
        }
        FetchAttribute::InternalDate => {
            let _ = write!(
                out,
                "INTERNALDATE \"{}\"",
                mailyard_common::time::imap_datetime(m.info.internaldate)
            );
        }
        FetchAttribute::Rfc822Size => {
            let _ = write!(out, "RFC822.SIZE {}", m.info.size);
        }
        FetchAttribute::ModSeq => {
            let _ = write!(out, "MODSEQ ({})", m.info.modseq.0);
        }
        FetchAttribute::Envelope => {
            out.extend_from_slice(b"ENVELOPE ");
            out.extend_from_slice(summary.map_or("NIL", |s| s.envelope.as_str()).as_bytes());
        }
        FetchAttribute::Body => {
            out.extend_from_slice(b"BODY ");
            out.extend_from_slice(summary.map_or("NIL", |s| s.body.as_str()).as_bytes());
        }
        FetchAttribute::BodyStructure => {
            out.extend_from_slice(b"BODYSTRUCTURE ");
            out.extend_from_slice(
                summary
                    .map_or("NIL", |s| s.bodystructure.as_str())
                    .as_bytes(),
            );
        }
        FetchAttribute::Rfc822 => {
            out.extend_from_slice(b"RFC822 ");
            literal(out, raw);
        }
        FetchAttribute::Rfc822Header => {
            out.extend_from_slice(b"RFC822.HEADER ");
            literal(out, raw.map(|r| split_message(r).0));
        }
        FetchAttribute::Rfc822Text => {
            out.extend_from_slice(b"RFC822.TEXT ");
            literal(out, raw.map(|r| split_message(r).1));
        }
        FetchAttribute::BodySection {
            section, partial, ..
        } => {
            out.extend_from_slice(b"BODY[");
            out.extend_from_slice(section.to_wire().as_bytes());
            out.push(b']');
            if let Some(p) = partial {
                let _ = write!(out, "<{}>", p.start);
            }
            out.push(b' ');
            match raw {
                Some(r) => {
                    // A part that does not exist is empty (as Dovecot answers).
                    let data = section_bytes(r, section).unwrap_or_default();
                    write_literal(out, apply_partial(&data, *partial));
                }
                None => out.extend_from_slice(b"NIL"),
            }
        }
        FetchAttribute::Binary { part, partial, .. } => {
            let _ = write!(out, "BINARY[{}]", part_wire(part));
            if let Some(p) = partial {
                let _ = write!(out, "<{}>", p.start);
            }
            out.push(b' ');
            match decoded
                .iter()
                .find(|(p, _)| p == part)
                .and_then(|(_, d)| d.as_deref())
            {
                Some(d) => {
                    let d = apply_partial(d, *partial);
                    if d.contains(&0) {
                        write_literal8(out, d);
                    } else {
                        write_literal(out, d);
                    }
                }
                None => out.extend_from_slice(b"NIL"),
            }
        }
        FetchAttribute::BinarySize { part } => {
            let size = decoded
                .iter()
                .find(|(p, _)| p == part)
                .and_then(|(_, d)| d.as_ref())
                .map_or(0, Vec::len);
            let _ = write!(out, "BINARY.SIZE[{}] {size}", part_wire(part));
        }
    }
}

impl Session {
    /// FETCH / UID FETCH seq-set items [(CHANGEDSINCE n [VANISHED])]. `$` is the
    /// saved search result (RFC 5182). CHANGEDSINCE keeps the messages whose MODSEQ
    /// is above n and adds MODSEQ (RFC 7162 §3.1.4.1); VANISHED (UID FETCH, QRESYNC
    /// on) first reports the UIDs of the set expunged since n as
    /// `* VANISHED (EARLIER)` (RFC 7162 §3.2.6). A part with an unknown
    /// Content-Transfer-Encoding makes BINARY answer NO [UNKNOWN-CTE] (RFC 3516
    /// §4.3). Selected state. RFC 9051 §6.4.5, §6.4.9.
    pub(crate) async fn handle_fetch(
        &mut self,
        uid: bool,
        sequence: Sequence,
        mut attributes: Vec<FetchAttribute>,
        modifiers: FetchModifiers,
    ) -> Result<Done, End> {
        if modifiers.vanished && !self.ext.qresync {
            // RFC 7162 §3.2.6: VANISHED needs ENABLE QRESYNC.
            return Ok(Done::bad("VANISHED needs ENABLE QRESYNC"));
        }
        let Some(user) = self.user() else {
            return Ok(Done::bad("Not logged in"));
        };
        let set = match self.message_set(&sequence, uid) {
            Ok(s) => s,
            Err(done) => return Ok(done),
        };
        // RFC 7162 §3.1: FETCH MODSEQ and CHANGEDSINCE are CONDSTORE-enabling.
        if modifiers.changed_since.is_some() || attributes.contains(&FetchAttribute::ModSeq) {
            self.enable_condstore();
        }
        if uid && !attributes.contains(&FetchAttribute::Uid) {
            attributes.insert(0, FetchAttribute::Uid);
        }
        let wants_modseq = (self.ext.condstore && attributes.contains(&FetchAttribute::Flags))
            || modifiers.changed_since.is_some();
        if wants_modseq && !attributes.contains(&FetchAttribute::ModSeq) {
            attributes.push(FetchAttribute::ModSeq);
        }
        let Some(view) = self.view() else {
            return Ok(Done::bad("No mailbox selected"));
        };
        let mut indices = view.resolve(&set, uid);
        if let Some(since) = modifiers.changed_since {
            indices.retain(|&i| view.msgs.get(i).is_some_and(|m| m.info.modseq.0 > since));
        }
        if let (true, Some(since)) = (modifiers.vanished, modifiers.changed_since) {
            // UIDs of the set: `*` is the largest UID ever assigned here.
            let top = view.uidnext.saturating_sub(1).max(view.max_uid());
            let known = set.ranges(top);
            let present: Vec<u32> = view
                .msgs
                .iter()
                .filter(|m| !m.expunged)
                .map(|m| m.uid.0)
                .collect();
            let (store, id, uidnext) = (self.store().clone(), view.id, view.uidnext);
            let gone = tokio::task::spawn_blocking(move || {
                crate::cmd::vanished::vanished_since(
                    &store, id, since, &known, &present, uidnext, 0,
                )
            })
            .await;
            match gone {
                Ok(Ok(set)) => crate::cmd::expunge::write_vanished_set(&mut self.wbuf, true, &set),
                Ok(Err(e)) => return Ok(store_error(e)),
                Err(_) => return Ok(Done::no(Some(ResponseCode::ServerBug), "Internal error")),
            }
        }
        let Some(view) = self.view() else {
            return Ok(Done::bad("No mailbox selected"));
        };
        let mailbox_id = view.id;
        let mailbox_name = view.name.clone();
        let mark_seen = !view.read_only && attributes.iter().any(sets_seen);
        let want_summary = attributes.iter().any(needs_summary);
        let want_file = attributes.iter().any(needs_file);
        let want_binary = attributes.iter().any(is_binary);
        // Message-list fetches (RFC822.SIZE, FLAGS, ENVELOPE, the list's header
        // fields) read no file: the header cache has the fields.
        let from_cache = want_file
            && attributes
                .iter()
                .filter(|a| needs_file(a))
                .all(cache_answers);
        let want_flags = attributes.contains(&FetchAttribute::Flags);
        let chunk_size = if want_summary || want_file {
            CHUNK
        } else {
            VIEW_CHUNK
        };
        let mut missing = false;
        let mut unknown_cte = false;
        for chunk in indices.chunks(chunk_size) {
            // \Seen first, so the response carries the new flags.
            let mut newly_seen: Vec<Uid> = Vec::new();
            if mark_seen && let Some(view) = self.view() {
                let unseen: Vec<Uid> = chunk
                    .iter()
                    .filter_map(|&i| view.msgs.get(i))
                    .filter(|m| !m.expunged && !m.flags().flags.contains(Flags::SEEN))
                    .map(|m| m.uid)
                    .collect();
                if !unseen.is_empty() {
                    let seen = FlagSet {
                        flags: Flags::SEEN,
                        keywords: vec![],
                    };
                    match self
                        .store()
                        .set_flags(mailbox_id, unseen, FlagMode::Add, seen, None)
                        .await
                    {
                        Ok((changed, _)) => {
                            newly_seen = changed.iter().map(|(u, _, _)| *u).collect();
                            if let Some(view) = self.view_mut() {
                                view.set_flags(changed);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot set \\Seen");
                        }
                    }
                }
            }
            let loaded: Vec<Loaded> = if want_summary || want_file {
                let Some(view) = self.view() else {
                    break;
                };
                let infos: Vec<MessageInfo> = chunk
                    .iter()
                    .filter_map(|&i| view.msgs.get(i))
                    .map(|m| m.info.clone())
                    .collect();
                let store = self.store().clone();
                let user = user.clone();
                let name = mailbox_name.clone();
                // A few summaries and small files are read inline (`offload`).
                let bytes: u64 = infos.iter().map(|i| i.size).sum();
                let small = infos.len() <= SMALL_FETCH
                    && (!want_file || from_cache || bytes <= SMALL_FETCH_BYTES);
                let result = offload(small, move || {
                    // The chunk's summaries and cached header fields in one read (one
                    // pooled connection).
                    let (summaries, cached) = store.read(|c| {
                        let summaries = per_message(want_summary, &infos, |uid| {
                            mailyard_store::index::summary(c, mailbox_id, uid)
                        })?;
                        let cached = per_message(from_cache, &infos, |uid| {
                            mailyard_store::index::header_cache(c, mailbox_id, uid)
                        })?;
                        Ok((summaries, cached))
                    })?;
                    infos
                        .iter()
                        .zip(summaries)
                        .zip(cached)
                        .map(|((info, summary), cached)| {
                            // The cached block is a header block: the sections
                            // `cache_answers` takes select from it as from the file.
                            let raw = match cached {
                                Some(block) => Some(block),
                                None if want_file => {
                                    store.read_message(&user, &name, mailbox_id, info)?
                                }
                                None => None,
                            };
                            Ok(Loaded { summary, raw })
                        })
                        .collect::<Result<Vec<_>, mailyard_store::StoreError>>()
                })
                .await;
                match result {
                    Ok(Ok(v)) => v,
                    Ok(Err(e)) => return Ok(store_error(e)),
                    Err(_) => return Ok(Done::no(Some(ResponseCode::ServerBug), "Internal error")),
                }
            } else {
                Vec::new()
            };
            let State::Selected { view, .. } = &self.state else {
                break;
            };
            let ext = &self.ext;
            let out = &mut self.wbuf;
            for (k, &i) in chunk.iter().enumerate() {
                let Some(m) = view.msgs.get(i) else { continue };
                let l = loaded.get(k);
                // A message expunged by another session has no summary row and no
                // file any more: no data is made up for it (RFC 2180 §4.1.2), the
                // command ends in NO [EXPUNGEISSUED].
                let gone = l.is_some_and(|l| {
                    (want_file && l.raw.is_none()) || (want_summary && l.summary.is_none())
                });
                if gone {
                    missing = true;
                    continue;
                }
                let decoded = match l.and_then(|l| l.raw.as_deref()) {
                    Some(raw) if want_binary => match decode_binary(raw, &attributes) {
                        Ok(d) => d,
                        Err(UnknownCte) => {
                            // RFC 3516 §4.3: no data for this message; NO at the end.
                            unknown_cte = true;
                            continue;
                        }
                    },
                    _ => Vec::new(),
                };
                let _ = write!(out, "* {} FETCH (", i + 1);
                let mut first = true;
                for a in &attributes {
                    if !first {
                        out.push(b' ');
                    }
                    first = false;
                    write_item(out, a, m, l, &decoded, ext);
                }
                if !want_flags && newly_seen.contains(&m.uid) {
                    out.extend_from_slice(b" FLAGS ");
                    write_flags(out, m, ext);
                    if ext.condstore && !attributes.contains(&FetchAttribute::ModSeq) {
                        let _ = write!(out, " MODSEQ ({})", m.info.modseq.0);
                    }
                }
                out.extend_from_slice(b")\r\n");
            }
            self.maybe_flush().await?;
        }
        if unknown_cte {
            return Ok(Done::no(
                Some(ResponseCode::UnknownCte),
                "Cannot decode a part's Content-Transfer-Encoding",
            ));
        }
        if missing {
            // RFC 9051 §7.1 EXPUNGEISSUED, in the words clients and imaptest know.
            return Ok(Done::no(
                Some(ResponseCode::ExpungeIssued),
                crate::cmd::EXPUNGED_TEXT,
            ));
        }
        Ok(Done::ok("FETCH completed"))
    }
}
