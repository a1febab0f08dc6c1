//! Command handlers, one file per command family, each an `impl Session` block:
//! `any.rs` (CAPABILITY, NOOP, LOGOUT, ID, ENABLE, NAMESPACE), `auth.rs` (STARTTLS,
//! LOGIN, AUTHENTICATE), `select.rs` (SELECT, EXAMINE, CLOSE, UNSELECT, CHECK),
//! `mailbox.rs` (CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE), `list.rs` (LIST,
//! LSUB), `status.rs` (STATUS), `append.rs`, `fetch.rs` (with `section.rs`, the pure
//! body-section locator), `store.rs`, `expunge.rs`, `copy.rs` (COPY, MOVE),
//! `search.rs`, `sort.rs`, `thread.rs`, `compress.rs`, `context.rs` (RETURN (UPDATE) results kept
//! live, CANCELUPDATE), `idle.rs`, `quota.rs`, `notify.rs`, `urlauth.rs` (GENURLAUTH, RESETKEY,
//! URLFETCH).
//!
//! Shared here: mailbox names on the wire (modified UTF-7, RFC 9051 §5.1.3, or UTF-8
//! after `ENABLE UTF8=ACCEPT`, RFC 6855 §3) and flags between the wire and the store.

mod any;
mod append;
mod auth;
pub(crate) mod binary;
mod capability;
mod compress;
pub(crate) mod context;
mod copy;
mod enable;
pub(crate) mod expunge;
pub(crate) mod fetch;
mod idle;
mod list;
mod mailbox;
mod notify;
mod quota;
mod search;
pub(crate) mod section;
mod select;
pub(crate) mod sort;
pub(crate) mod status;
mod store;
mod thread;
mod threading;
mod urlauth;
mod vanished;

use mailyard_store::mailbox_name;
use mailyard_store::{Address, FlagSet, Flags};

use crate::proto::response::{ResponseCode, write_string};
use crate::proto::sequence::{Sequence, SequenceSet};
use crate::proto::types::Flag;

/// The text of `NO [EXPUNGEISSUED]` (RFC 9051 §7.1) when a command names messages
/// another session expunged: the words Dovecot uses, which clients and imaptest
/// recognise.
pub(crate) const EXPUNGED_TEXT: &str = "Some of the requested messages no longer exist";
use crate::session::state::State;
use crate::session::{Done, Session};

impl Session {
    /// A mailbox name as the client sent it → the stored (UTF-8) name. Modified UTF-7
    /// is decoded unless UTF8=ACCEPT is enabled; a non-ASCII name is taken as UTF-8
    /// either way (clients that send it mean it).
    pub(crate) fn decode_mailbox(&self, name: &str) -> Result<String, Done> {
        if self.utf8 || !name.is_ascii() {
            return Ok(name.to_string());
        }
        mailbox_name::utf7_decode(name).ok_or_else(|| {
            Done::no(
                Some(ResponseCode::Cannot),
                "Mailbox name is not valid modified UTF-7",
            )
        })
    }

    /// Writes a stored mailbox name as an IMAP string, encoded for this client.
    pub(crate) fn write_mailbox(&self, out: &mut Vec<u8>, name: &str) {
        if self.utf8 {
            write_string(out, name.as_bytes(), true);
        } else {
            write_string(out, mailbox_name::utf7_encode(name).as_bytes(), false);
        }
    }

    /// A command's sequence set against the selected view, `$` substituted (RFC 5182
    /// §2.1). A message number beyond the mailbox is BAD (RFC 9051 §6.4.5 "invalid
    /// sequence number"); UIDs outside the mailbox simply select nothing.
    pub(crate) fn message_set(&self, sequence: &Sequence, uid: bool) -> Result<SequenceSet, Done> {
        let Some(view) = self.view() else {
            return Err(Done::bad("No mailbox selected"));
        };
        let set = self.ext.resolve(sequence, view, uid);
        if !uid
            && set
                .max_explicit()
                .is_some_and(|max| max as usize > view.msgs.len())
        {
            return Err(Done::bad("Invalid message sequence number"));
        }
        Ok(set)
    }

    /// The logged-in user (authenticated or selected state).
    pub(crate) fn user(&self) -> Option<Address> {
        self.state.user().cloned()
    }

    /// The selected view.
    pub(crate) fn view(&self) -> Option<&crate::session::view::View> {
        match &self.state {
            State::Selected { view, .. } => Some(view),
            _ => None,
        }
    }

    /// Notes that this session itself added `uid` to `mailbox`: when that is the
    /// selected mailbox, NOTIFY's MessageNew FETCH leaves it out (RFC 5465 §5.2).
    pub(crate) fn note_own_new(
        &mut self,
        mailbox: mailyard_store::MailboxId,
        uid: mailyard_store::Uid,
    ) {
        if let Some(view) = self.view_mut()
            && view.id == mailbox
        {
            view.own_new.insert(uid);
        }
    }

    /// The selected view, mutable.
    pub(crate) fn view_mut(&mut self) -> Option<&mut crate::session::view::View> {
        match &mut self.state {
            State::Selected { view, .. } => Some(view),
            _ => None,
        }
    }
}

/// Wire flags → stored flags. `\Recent` is never stored (RFC 3501 §2.3.2) and is
/// dropped; other unknown system flags (`\Foo`) are refused.
pub(crate) fn to_flag_set(flags: &[Flag]) -> Result<FlagSet, Done> {
    let mut set = FlagSet::default();
    for f in flags {
        match f {
            Flag::Seen => set.flags = set.flags.union(Flags::SEEN),
            Flag::Answered => set.flags = set.flags.union(Flags::ANSWERED),
            Flag::Flagged => set.flags = set.flags.union(Flags::FLAGGED),
            Flag::Deleted => set.flags = set.flags.union(Flags::DELETED),
            Flag::Draft => set.flags = set.flags.union(Flags::DRAFT),
            Flag::Recent => {}
            Flag::Extension(name) => {
                return Err(Done::no(
                    Some(ResponseCode::Cannot),
                    format!("Unknown system flag \\{name}"),
                ));
            }
            Flag::Keyword(k) => set.keywords.push(k.clone()),
        }
    }
    set.keywords.sort();
    set.keywords.dedup();
    Ok(set)
}

/// Stored flags → wire flags, system flags first.
pub(crate) fn from_flag_set(set: &FlagSet, recent: bool) -> Vec<Flag> {
    let mut out: Vec<Flag> = set.flags.names().map(Flag::from_wire).collect();
    if recent {
        out.push(Flag::Recent);
    }
    out.extend(set.keywords.iter().map(|k| Flag::Keyword(k.clone())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip() {
        let wire = vec![
            Flag::Seen,
            Flag::Deleted,
            Flag::Recent,
            Flag::Keyword("$label1".into()),
        ];
        let set = to_flag_set(&wire).expect("valid");
        assert_eq!(set.flags, Flags::SEEN.union(Flags::DELETED));
        assert_eq!(set.keywords, vec!["$label1".to_string()]);
        assert_eq!(
            from_flag_set(&set, false),
            vec![Flag::Seen, Flag::Deleted, Flag::Keyword("$label1".into())]
        );
        assert!(to_flag_set(&[Flag::Extension("Foo".into())]).is_err());
    }
}
