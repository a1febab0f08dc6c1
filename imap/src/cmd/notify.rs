//! NOTIFY (RFC 5465 §3.1): NOTIFY NONE and NOTIFY SET [STATUS] event-groups. What
//! the groups then make the session send is in `session/notify.rs`.

use std::collections::HashSet;

use mailyard_store::StoreError;

use crate::proto::fetch::{FetchAttribute, FetchModifiers};
use crate::proto::notify::{EventGroup, Filter, MAX_NOTIFY_MAILBOXES, NotifyArgs};
use crate::proto::response::ResponseCode;
use crate::proto::sequence::{Sequence, SequenceSet};
use crate::session::notify::{Events, Group, Mailboxes, Notify, SelectedEvents, initial_items};
use crate::session::{Done, End, Session, store_error};

impl Session {
    /// NOTIFY NONE: no more notifications. NOTIFY SET [STATUS] groups: replaces the
    /// groups in force (§3.1); unsupported events (annotations and metadata: we have
    /// neither ANNOTATE nor METADATA, §5.1, §5.6, §5.7) are refused with
    /// `NO [BADEVENT (supported events)]` (§3.1); more than
    /// [`MAX_NOTIFY_MAILBOXES`] names with `NO [NOTIFICATIONOVERFLOW]` (§3.1). With
    /// STATUS, each watched mailbox other than the selected one gets its STATUS
    /// before the tagged OK (§3.1; names of mailboxes that do not exist are
    /// ignored). The dispatcher then sends the selected mailbox's pending changes
    /// (the implicit NOOP of §3.1). Authenticated and selected states. RFC 5465 §3.1.
    pub(crate) async fn handle_notify(&mut self, args: NotifyArgs) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        let (status, groups) = match args {
            NotifyArgs::None => {
                self.notify = None;
                return Done::ok("NOTIFY completed");
            }
            NotifyArgs::Set { status, groups } => (status, groups),
        };
        if groups
            .iter()
            .flat_map(|g| &g.events)
            .any(|e| !Events::SUPPORTED.contains(e))
        {
            let supported = Events::SUPPORTED
                .iter()
                .map(|e| e.as_str().to_string())
                .collect();
            return Done::no(
                Some(ResponseCode::BadEvent(supported)),
                "Unsupported NOTIFY event",
            );
        }
        let names: usize = groups
            .iter()
            .map(|g| match &g.filter {
                Filter::Subtree(n) | Filter::Mailboxes(n) => n.len(),
                _ => 0,
            })
            .sum();
        if names > MAX_NOTIFY_MAILBOXES {
            return Done::no(
                Some(ResponseCode::NotificationOverflow),
                "Too many mailbox names",
            );
        }
        let (resolved, selected) = match self.resolve_groups(groups) {
            Ok(r) => r,
            Err(done) => return done,
        };
        // Subscribed before the initial STATUS is read: nothing falls between.
        let rx = self.store().subscribe_user(&user);
        let notify = Notify::new(resolved, selected, rx);
        if status && let Err(e) = self.send_initial_status(&notify).await {
            return store_error(e);
        }
        self.notify = Some(Box::new(notify));
        Done::ok("NOTIFY completed")
    }

    /// The groups with their names decoded; the selected group apart (the parser
    /// allows one at most, RFC 5465 §6.1).
    fn resolve_groups(
        &self,
        groups: Vec<EventGroup>,
    ) -> Result<(Vec<Group>, Option<SelectedEvents>), Done> {
        let mut resolved = Vec::new();
        let mut selected = None;
        for g in groups {
            let events = Events::of(&g.events);
            let decode = |names: Vec<String>| -> Result<Vec<String>, Done> {
                names.iter().map(|n| self.decode_mailbox(n)).collect()
            };
            let mailboxes = match g.filter {
                Filter::Selected | Filter::SelectedDelayed => {
                    selected = Some(SelectedEvents {
                        delayed: g.filter == Filter::SelectedDelayed,
                        events,
                        fetch: g.fetch,
                    });
                    continue;
                }
                Filter::Inboxes | Filter::Personal => Mailboxes::Personal,
                Filter::Subscribed => Mailboxes::Subscribed,
                Filter::Subtree(names) => Mailboxes::Subtree(decode(names)?),
                Filter::Mailboxes(names) => Mailboxes::Named(decode(names)?),
            };
            resolved.push(Group { mailboxes, events });
        }
        Ok((resolved, selected))
    }

    /// RFC 5465 §3.1 NOTIFY SET STATUS: `* STATUS` of every existing mailbox watched
    /// for message events, except the selected one, with the items its events call
    /// for ([`initial_items`]).
    async fn send_initial_status(&mut self, notify: &Notify) -> Result<(), StoreError> {
        let Some(user) = self.user() else {
            return Ok(());
        };
        let subscriptions = notify.uses_subscriptions();
        let (mailboxes, subscribed) = self
            .store()
            .mailboxes_and_subscriptions(&user, true, subscriptions)
            .await?;
        let subscribed: HashSet<String> = subscribed.into_iter().collect();
        let selected = self.view().map(|v| v.id);
        let wanted: Vec<_> = mailboxes
            .into_iter()
            .filter(|mb| Some(mb.id) != selected)
            .filter_map(|mb| {
                let ev = notify.watching(&mb.name, subscribed.contains(&mb.name));
                let items = initial_items(ev);
                (!items.is_empty()).then_some((mb, items))
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let counts = wanted
            .iter()
            .any(|(_, items)| crate::cmd::status::needs_counts(items));
        let ids = wanted.iter().map(|(mb, _)| mb.id).collect();
        let read = self.store().mailbox_statuses(ids, counts).await?;
        let values: Vec<(String, String)> = wanted
            .iter()
            .zip(read)
            .filter_map(|((_, items), st)| {
                st.map(|(mb, n)| {
                    let v = crate::cmd::status::status_values(&mb, &n, items);
                    (mb.name, v)
                })
            })
            .collect();
        let mut out = Vec::new();
        for (name, v) in values {
            self.write_status_line(&mut out, &name, v.as_bytes());
        }
        self.conn.wbuf.extend_from_slice(&out);
        Ok(())
    }

    /// RFC 5465 §5.2: after EXISTS, the fetch attributes MessageNew asked for, for
    /// the new messages `uids` of the selected mailbox (as UID FETCH: UID included).
    pub(crate) async fn fetch_new(&mut self, uids: Vec<u32>) -> Result<(), End> {
        let Some(attributes) = self
            .notify
            .as_deref()
            .and_then(|n| n.selected.as_ref())
            .map(|s| s.fetch.clone())
            .filter(|f: &Vec<FetchAttribute>| !f.is_empty())
        else {
            return Ok(());
        };
        let mut uids = uids;
        uids.sort_unstable();
        let set = Sequence::Set(SequenceSet::from_sorted(uids));
        let done = self
            .handle_fetch(true, set, attributes, FetchModifiers::default())
            .await?;
        if done.status != crate::proto::response::Status::Ok {
            // Expunged meanwhile, or a part that cannot be decoded: the client sees
            // EXISTS and can fetch itself.
            tracing::debug!(text = %done.text, "NOTIFY MessageNew FETCH incomplete");
        }
        Ok(())
    }
}
