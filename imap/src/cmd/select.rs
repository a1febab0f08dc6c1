//! SELECT, EXAMINE (RFC 9051 §6.3.2, §6.3.3), CLOSE (§6.4.1), UNSELECT (§6.4.2,
//! RFC 3691).

use std::collections::BTreeSet;

use mailyard_store::Flags;

use crate::proto::command::SelectArgs;
use crate::proto::response::{ResponseCode, Status, write_flag_list};
use crate::proto::types::Flag;
use crate::session::state::State;
use crate::session::view::{Msg, View};
use crate::session::{Done, Session, store_error};

impl Session {
    /// SELECT / EXAMINE: builds the view (all messages' index rows, in memory) and
    /// sends FLAGS, EXISTS, RECENT, [UNSEEN], [UIDVALIDITY], [UIDNEXT],
    /// [PERMANENTFLAGS]. A previously selected mailbox is deselected first, even when
    /// this one fails. Authenticated and selected states. RFC 9051 §6.3.2, §6.3.3.
    pub(crate) async fn handle_select(&mut self, args: SelectArgs, read_only: bool) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        self.state = State::Authenticated { user: user.clone() };
        if args.condstore || args.qresync.is_some() {
            return Done::bad("CONDSTORE/QRESYNC are not enabled");
        }
        let name = match self.decode_mailbox(&args.mailbox) {
            Ok(n) => n,
            Err(done) => return done,
        };
        let store = self.store().clone();
        let u = user.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let Some(mb) = store.mailbox(&u, &name)? else {
                return Ok(None);
            };
            let rx = store.subscribe(mb.id);
            let msgs = store.messages(mb.id)?;
            Ok::<_, mailyard_store::StoreError>(Some((mb, rx, msgs)))
        })
        .await;
        let (mb, rx, msgs) = match loaded {
            Ok(Ok(Some(x))) => x,
            Ok(Ok(None)) => return Done::no(Some(ResponseCode::Nonexistent), "No such mailbox"),
            Ok(Err(e)) => return store_error(e),
            Err(_) => return Done::no(Some(ResponseCode::ServerBug), "Internal error"),
        };
        let mut keywords = BTreeSet::new();
        let msgs: Vec<Msg> = msgs
            .into_iter()
            .map(|m| {
                keywords.extend(m.flags.keywords.iter().cloned());
                let recent = m.in_new;
                Msg::from_info(m, recent)
            })
            .collect();
        let mut flags: Vec<Flag> = Flags::TABLE
            .iter()
            .map(|(_, name, _)| Flag::from_wire(name))
            .collect();
        flags.extend(keywords.into_iter().map(Flag::Keyword));
        let mut out = b"* FLAGS ".to_vec();
        write_flag_list(&mut out, &flags);
        out.extend_from_slice(b"\r\n");
        let exists = msgs.len();
        let recent = msgs.iter().filter(|m| m.recent).count();
        out.extend_from_slice(format!("* {exists} EXISTS\r\n* {recent} RECENT\r\n").as_bytes());
        self.wbuf.extend_from_slice(&out);
        if let Some(i) = msgs
            .iter()
            .position(|m| !m.flags().flags.contains(Flags::SEEN))
        {
            let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
            self.untagged(Status::Ok, Some(&ResponseCode::Unseen(seq)), "First unseen");
        }
        self.untagged(
            Status::Ok,
            Some(&ResponseCode::UidValidity(mb.uidvalidity.0)),
            "UIDs valid",
        );
        self.untagged(
            Status::Ok,
            Some(&ResponseCode::UidNext(mb.uidnext.0)),
            "Predicted next UID",
        );
        let permanent = if read_only {
            ResponseCode::PermanentFlags {
                flags: vec![],
                allow_new: false,
            }
        } else {
            ResponseCode::PermanentFlags {
                flags: flags
                    .iter()
                    .filter(|f| !matches!(f, Flag::Keyword(_)))
                    .cloned()
                    .collect(),
                allow_new: true,
            }
        };
        self.untagged(Status::Ok, Some(&permanent), "Flags permitted");
        let view = View {
            id: mb.id,
            name: mb.name.clone(),
            uidnext: mb.uidnext.0,
            read_only,
            msgs,
            modseq: mb.highestmodseq.0,
            rx,
            gone: false,
        };
        self.state = State::Selected {
            user,
            view: Box::new(view),
        };
        if read_only {
            Done::ok_code(ResponseCode::ReadOnly, "EXAMINE completed")
        } else {
            Done::ok_code(ResponseCode::ReadWrite, "SELECT completed")
        }
    }

    /// CLOSE: expunges `\Deleted` messages silently (unless read-only) and leaves the
    /// selected state. Selected state. RFC 9051 §6.4.1.
    pub(crate) async fn handle_close(&mut self) -> Done {
        let State::Selected { user, view } = std::mem::replace(&mut self.state, State::Logout)
        else {
            return Done::bad("No mailbox selected");
        };
        self.state = State::Authenticated { user };
        if !view.read_only
            && !view.gone
            && let Err(e) = self.store().expunge(view.id, None).await
        {
            return store_error(e);
        }
        Done::ok("CLOSE completed")
    }

    /// UNSELECT: leaves the selected state without expunging. Selected state.
    /// RFC 9051 §6.4.2, RFC 3691.
    pub(crate) fn handle_unselect(&mut self) -> Done {
        if let Some(user) = self.user() {
            self.state = State::Authenticated { user };
        }
        Done::ok("UNSELECT completed")
    }
}
