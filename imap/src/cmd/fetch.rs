//! FETCH / UID FETCH (RFC 9051 §6.4.5, §6.4.9; RFC 3501 §6.4.5 for the RFC822 items;
//! BINARY RFC 3516 §4.2; MODSEQ, CHANGEDSINCE and VANISHED RFC 7162 §3.1.4, §3.2.6).
//!
//! Items answered from the session's view (no I/O): FLAGS, UID, INTERNALDATE,
//! RFC822.SIZE, MODSEQ. Rendered from the message's shape stored in the index
//! (`proto::body_render`, with the session's UTF-8 state): ENVELOPE, BODY,
//! BODYSTRUCTURE. From the message file, by positioned reads of only the bytes they
//! need at the offsets of that shape (`section.rs`): RFC822, RFC822.HEADER,
//! RFC822.TEXT and `BODY[section]<partial>` / BODY.PEEK; decoded, once per part and
//! request: `BINARY[part]<partial>` and `BINARY.SIZE[part]` (`binary.rs`), as a literal8
//! when the decoded data holds a NUL (RFC 3516 §4.3). Top-level HEADER.FIELDS of the
//! fields clients list come from the index's header cache without the file.
//!
//! Once CONDSTORE is on, every FETCH response with FLAGS also carries MODSEQ
//! (RFC 7162 §3.1.4.1); once IMAP4rev2 is on, `\Recent` is never sent (RFC 9051
//! Appendix E).
//!
//! Messages are processed in chunks; output is flushed every ~64 KiB, so
//! `UID FETCH 1:* (FLAGS)` on 100 000 messages streams from memory. Body fetches
//! without PEEK set `\Seen` (read-write mailboxes) and report the new FLAGS.

use std::io::Write as _;
use std::sync::Arc;

use mailyard_message::Shape;
use mailyard_store::headers::covers;
use mailyard_store::{FlagMode, FlagSet, Flags, MailboxRef, MessageInfo, Reader, StoredShape, Uid};

use crate::cmd::binary::{UnknownCte, binary_part};
use crate::cmd::from_flag_set;
use crate::cmd::section::{apply_partial, parsed_shape, section_bytes, select, with_partial};
use crate::proto::body_render;
use crate::proto::fetch::{FetchAttribute, FetchModifiers, Section, SectionText};
use crate::proto::response::{ResponseCode, write_flag_list, write_literal, write_literal8};
use crate::proto::sequence::Sequence;
use crate::session::ext::Extensions;
use crate::session::state::State;
use crate::session::view::Msg;
use crate::session::{Done, End, Session, store_error};

/// Messages loaded from the index and disk per round (one store job).
const CHUNK: usize = 128;
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

/// What one message's items need loaded.
#[derive(Default)]
struct Loaded {
    /// Its shape, for ENVELOPE, BODY and BODYSTRUCTURE.
    shape: Option<Arc<Shape>>,
    /// The blob cache's entry for that shape, which keeps its renderings
    /// ([`write_rendered`]); None when the shape was parsed from the file.
    stored: Option<Arc<StoredShape>>,
    /// What each attribute read (aligned with the attributes; None for those that
    /// read nothing).
    items: Vec<Option<Item>>,
    /// The message is gone (expunged by another session): nothing is made up for it.
    gone: bool,
    /// A BINARY part has an unknown Content-Transfer-Encoding (RFC 3516 §4.3).
    unknown_cte: bool,
}

/// The data of one file item.
enum Item {
    /// Octets to send as a literal (or NIL when None: a BINARY part that does not
    /// exist).
    Bytes(Option<Vec<u8>>),
    /// BINARY.SIZE.
    Size(usize),
}

/// What a FETCH needs of each message.
#[derive(Clone, Copy)]
struct Needs {
    /// ENVELOPE, BODY or BODYSTRUCTURE: the shape, to render.
    render: bool,
    /// A section or BINARY item that names a part: the shape, to find it.
    parts: bool,
    /// Any item read from the file.
    file: bool,
    /// Every file item is answered by the header cache.
    from_cache: bool,
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

/// Whether `a` names a part (and so needs the shape to find it), or the header or
/// text of the message (the shape says where its header ends).
fn names_part(a: &FetchAttribute) -> bool {
    match a {
        FetchAttribute::BodySection { section, .. } => {
            !section.part.is_empty() || section.text.is_some()
        }
        FetchAttribute::Rfc822Header | FetchAttribute::Rfc822Text => true,
        FetchAttribute::Binary { part, .. } | FetchAttribute::BinarySize { part } => {
            !part.is_empty()
        }
        _ => false,
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

/// Loads what `attributes` need of one message: its shape (`stored`, the index's
/// blob, None when the row is gone), the bytes of its file items by positioned reads
/// of the stored offsets, or the header cache's block (`cached`) for them. Runs in
/// the store's FETCH job ([`mailyard_store::Store::fetch_messages`]), blocking.
fn load_message(
    src: &Reader<'_>,
    info: &MessageInfo,
    stored: Option<Arc<StoredShape>>,
    cached: Option<Arc<[u8]>>,
    attributes: &[FetchAttribute],
    needs: Needs,
) -> mailyard_store::Result<Loaded> {
    let want_shape = needs.render || needs.parts;
    if want_shape && stored.is_none() {
        return Ok(Loaded {
            gone: true,
            ..Loaded::default()
        });
    }
    // The stored shape, decoded (once per cached message); None when this build
    // cannot read it: then the file is parsed.
    let shape = stored.as_deref().and_then(StoredShape::shape).cloned();
    if let (true, Some(block)) = (needs.from_cache, &cached) {
        // The cached block is a header block (its fields, then the empty line):
        // the sections `cache_answers` takes select from it as from the file.
        let items = attributes
            .iter()
            .map(|a| match a {
                FetchAttribute::BodySection {
                    section:
                        Section {
                            text: Some(SectionText::HeaderFields(names)),
                            ..
                        },
                    partial,
                    ..
                } => Some(Item::Bytes(Some(with_partial(
                    select(block, names, false),
                    *partial,
                )))),
                _ => None,
            })
            .collect();
        // Unreadable stored shape to render: parse the file (below, without the cache).
        if shape.is_some() || !needs.render {
            return Ok(Loaded {
                shape,
                stored: stored.filter(|_| needs.render),
                items,
                ..Loaded::default()
            });
        }
    }
    if !needs.file && !needs.from_cache && shape.is_some() {
        // Rendering only: the stored shape.
        return Ok(Loaded {
            shape,
            stored,
            ..Loaded::default()
        });
    }
    let Some(file) = src.open(info)? else {
        return Ok(Loaded {
            gone: true,
            ..Loaded::default()
        });
    };
    let io = |e| file.error(e);
    let shape = match shape {
        Some(shape) if want_shape => Some(shape),
        None if want_shape => Some(Arc::new(parsed_shape(&file).map_err(io)?)),
        _ => None,
    };
    let mut loaded = Loaded {
        items: Vec::with_capacity(attributes.len()),
        ..Loaded::default()
    };
    // BINARY and BINARY.SIZE of the same part decode it once.
    let mut decoded: Vec<(&[u32], Option<Vec<u8>>)> = Vec::new();
    for a in attributes {
        let whole = |text| Section {
            part: Vec::new(),
            text,
        };
        let section = |s: &Section, partial| {
            section_bytes(&file, shape.as_deref(), s, partial)
                .map(|b| Item::Bytes(Some(b.unwrap_or_default())))
                .map_err(io)
        };
        let item = match a {
            FetchAttribute::Rfc822 => section(&whole(None), None)?,
            FetchAttribute::Rfc822Header => section(&whole(Some(SectionText::Header)), None)?,
            FetchAttribute::Rfc822Text => section(&whole(Some(SectionText::Text)), None)?,
            // A part that does not exist is empty (as Dovecot answers).
            FetchAttribute::BodySection {
                section: s,
                partial,
                ..
            } => section(s, *partial)?,
            FetchAttribute::Binary { part, .. } | FetchAttribute::BinarySize { part } => {
                let at = match decoded.iter().position(|(p, _)| p == part) {
                    Some(at) => at,
                    None => {
                        let shape = shape.as_deref().unwrap_or(&EMPTY_SHAPE);
                        match binary_part(&file, shape, part).map_err(io)? {
                            Some(Err(UnknownCte)) => {
                                // RFC 3516 §4.3: no data for this message; NO at the end.
                                loaded.unknown_cte = true;
                                return Ok(loaded);
                            }
                            data => decoded.push((part, data.and_then(Result::ok))),
                        }
                        decoded.len() - 1
                    }
                };
                let data = decoded.get(at).and_then(|(_, d)| d.as_deref());
                match a {
                    FetchAttribute::Binary { partial, .. } => {
                        Item::Bytes(data.map(|d| apply_partial(d, *partial).to_vec()))
                    }
                    _ => Item::Size(data.map_or(0, <[u8]>::len)),
                }
            }
            _ => {
                loaded.items.push(None);
                continue;
            }
        };
        loaded.items.push(Some(item));
    }
    loaded.shape = shape.filter(|_| needs.render);
    loaded.stored = stored.filter(|_| needs.render);
    Ok(loaded)
}

/// [`StoredShape::derived`] slots of the renderings FETCH keeps with a cached shape;
/// [`UTF8_SLOTS`] more for a session with UTF8=ACCEPT enabled, whose strings differ.
const ENVELOPE_SLOT: usize = 0;
const BODY_SLOT: usize = 1;
const BODYSTRUCTURE_SLOT: usize = 2;
const UTF8_SLOTS: usize = 3;
const _: () = assert!(BODYSTRUCTURE_SLOT + UTF8_SLOTS < mailyard_store::DERIVED_SLOTS);

/// Writes what `render` writes for `shape`: from the rendering kept with the cached
/// shape in `slot` (made by `render` the first time) when there is one, else rendered
/// here. A message's shape never changes, so neither does its rendering.
fn write_rendered(
    out: &mut Vec<u8>,
    shape: &Shape,
    stored: Option<&StoredShape>,
    slot: usize,
    render: impl Fn(&mut Vec<u8>, &Shape),
) {
    let kept = stored.and_then(|st| {
        st.derived(slot, |s| {
            let mut v = Vec::new();
            render(&mut v, s);
            v
        })
    });
    match kept {
        Some(bytes) => out.extend_from_slice(bytes),
        None => render(out, shape),
    }
}

/// The shape of nothing (BINARY[] needs none).
static EMPTY_SHAPE: std::sync::LazyLock<Shape> = std::sync::LazyLock::new(Shape::default);

/// Writes one item of a FETCH response (without the separating space). The caller
/// skips messages that are gone, so `loaded` holds what `a` needs.
fn write_item(
    out: &mut Vec<u8>,
    a: &FetchAttribute,
    wire: Option<&str>,
    m: &Msg,
    loaded: Option<(&Loaded, Option<&Item>)>,
    ext: &Extensions,
    utf8: bool,
) {
    let shape = loaded.and_then(|(l, _)| l.shape.as_deref());
    let stored = loaded.and_then(|(l, _)| l.stored.as_deref());
    let utf8_slots = if utf8 { UTF8_SLOTS } else { 0 };
    let item = loaded.and_then(|(_, i)| i);
    let literal = |out: &mut Vec<u8>| match item {
        Some(Item::Bytes(Some(d))) => write_literal(out, d),
        _ => out.extend_from_slice(b"NIL"),
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
            match shape {
                Some(s) => write_rendered(out, s, stored, ENVELOPE_SLOT + utf8_slots, |o, s| {
                    body_render::envelope(o, &s.envelope, utf8)
                }),
                None => out.extend_from_slice(b"NIL"),
            }
        }
        FetchAttribute::Body | FetchAttribute::BodyStructure => {
            let extended = matches!(a, FetchAttribute::BodyStructure);
            out.extend_from_slice(if extended {
                b"BODYSTRUCTURE "
            } else {
                b"BODY "
            });
            let slot = if extended {
                BODYSTRUCTURE_SLOT
            } else {
                BODY_SLOT
            } + utf8_slots;
            match shape {
                Some(s) => write_rendered(out, s, stored, slot, |o, s| {
                    body_render::body_structure(o, s, extended, utf8)
                }),
                None => out.extend_from_slice(b"NIL"),
            }
        }
        FetchAttribute::Rfc822 => {
            out.extend_from_slice(b"RFC822 ");
            literal(out);
        }
        FetchAttribute::Rfc822Header => {
            out.extend_from_slice(b"RFC822.HEADER ");
            literal(out);
        }
        FetchAttribute::Rfc822Text => {
            out.extend_from_slice(b"RFC822.TEXT ");
            literal(out);
        }
        FetchAttribute::BodySection {
            section, partial, ..
        } => {
            out.extend_from_slice(b"BODY[");
            match wire {
                Some(w) => out.extend_from_slice(w.as_bytes()),
                None => out.extend_from_slice(section.to_wire().as_bytes()),
            }
            out.push(b']');
            if let Some(p) = partial {
                let _ = write!(out, "<{}>", p.start);
            }
            out.push(b' ');
            literal(out);
        }
        FetchAttribute::Binary { part, partial, .. } => {
            let _ = write!(out, "BINARY[{}]", part_wire(part));
            if let Some(p) = partial {
                let _ = write!(out, "<{}>", p.start);
            }
            out.push(b' ');
            match item {
                Some(Item::Bytes(Some(d))) if d.contains(&0) => write_literal8(out, d),
                Some(Item::Bytes(Some(d))) => write_literal(out, d),
                _ => out.extend_from_slice(b"NIL"),
            }
        }
        FetchAttribute::BinarySize { part } => {
            let size = match item {
                Some(Item::Size(n)) => *n,
                _ => 0,
            };
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
            let (id, uidnext) = (view.id, view.uidnext);
            let gone = crate::cmd::vanished::vanished_since(
                self.store(),
                id,
                since,
                &known,
                &present,
                uidnext,
                0,
            )
            .await;
            match gone {
                Ok(set) => crate::cmd::expunge::write_vanished_set(&mut self.conn.wbuf, true, &set),
                Err(e) => return Ok(store_error(e)),
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
        // Message-list fetches (RFC822.SIZE, FLAGS, ENVELOPE, the list's header
        // fields) read no file: the header cache has the fields.
        let from_cache = want_file
            && attributes
                .iter()
                .filter(|a| needs_file(a))
                .all(cache_answers);
        let needs = Needs {
            render: want_summary,
            parts: attributes
                .iter()
                .any(|a| names_part(a) && !(from_cache && cache_answers(a))),
            file: want_file && !from_cache,
            from_cache,
        };
        // RFC 9051 §9 and RFC 6855 §3: UTF-8 in quoted strings once accepted.
        let utf8 = self.utf8 || self.ext.rev2;
        let want_flags = attributes.contains(&FetchAttribute::Flags);
        let chunk_size = if want_summary || want_file {
            CHUNK
        } else {
            VIEW_CHUNK
        };
        // Each BODY[section]'s echo, written once per command, not per message.
        let wires: Vec<Option<String>> = attributes
            .iter()
            .map(|a| match a {
                FetchAttribute::BodySection { section, .. } => Some(section.to_wire()),
                _ => None,
            })
            .collect();
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
                let attributes = attributes.clone();
                let mailbox = MailboxRef {
                    user: user.clone(),
                    name: mailbox_name.clone(),
                    id: mailbox_id,
                };
                // The chunk's shapes and cached header fields in one read, then each
                // message's file ranges: one store job.
                let result = self
                    .store()
                    .fetch_messages(
                        mailbox,
                        infos,
                        needs.render || needs.parts,
                        from_cache,
                        move |src, info, shape, cached| {
                            load_message(src, info, shape, cached, &attributes, needs)
                        },
                    )
                    .await;
                match result {
                    Ok(v) => v,
                    Err(e) => return Ok(store_error(e)),
                }
            } else {
                Vec::new()
            };
            let State::Selected { view, .. } = &self.state else {
                break;
            };
            let ext = &self.ext;
            let out = &mut self.conn.wbuf;
            for (k, &i) in chunk.iter().enumerate() {
                let Some(m) = view.msgs.get(i) else { continue };
                let l = loaded.get(k);
                // A message expunged by another session has no shape row and no
                // file any more: no data is made up for it (RFC 2180 §4.1.2), the
                // command ends in NO [EXPUNGEISSUED].
                if l.is_some_and(|l| l.gone) {
                    missing = true;
                    continue;
                }
                if l.is_some_and(|l| l.unknown_cte) {
                    unknown_cte = true;
                    continue;
                }
                let _ = write!(out, "* {} FETCH (", i + 1);
                for (n, a) in attributes.iter().enumerate() {
                    if n > 0 {
                        out.push(b' ');
                    }
                    let item = l.map(|l| (l, l.items.get(n).and_then(Option::as_ref)));
                    let wire = wires.get(n).and_then(Option::as_deref);
                    write_item(out, a, wire, m, item, ext, utf8);
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
