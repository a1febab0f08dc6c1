//! NOTIFY (RFC 5465) in a session: the event groups in force, the session's
//! subscription to its user's bus ([`mailyard_store::Store::subscribe_user`]), and
//! the turning of bus events into `* STATUS` and `* LIST` responses.
//!
//! When the responses go out (RFC 5465 §5: unsolicited, at any time):
//! - with every command's response, before its tagged line (`Session::command`);
//! - between commands as soon as an event arrives, when the client has sent nothing
//!   of a next command (`Session::read_or_notify`);
//! - during IDLE, after the short pause that coalesces bursts (`cmd/idle.rs`, §4).
//!
//! The selected mailbox (§6.1): its message events keep coming through the view
//! (`view.rs`); bus events about it are not reported as STATUS (Dovecot does the
//! same). With `selected`, its updates are also pushed between commands, EXPUNGE
//! included (§6.1.1: the client uses UIDs); with `selected-delayed`, EXPUNGE waits
//! for a command that allows it (§6.1.2); with neither, only command responses carry
//! them (RFC 9051 §7.5.1), and IDLE does not either (§4: during IDLE exactly the
//! events NOTIFY asked for). Flag changes are pushed only with FlagChange (§5.1);
//! otherwise they wait in the view for the next command. MessageNew's fetch
//! attributes are fetched for new messages other sessions added (§5.2: not for this
//! session's own APPEND, COPY or MOVE).
//!
//! `inboxes` is taken as `personal` (§6.3 allows it when the server cannot tell
//! where mail is delivered without user action; Dovecot does the same): Sieve can
//! file into any mailbox.
//!
//! Bound: the bus keeps at most [`mailyard_store::changes::USER_EVENTS_PENDING`]
//! events this session has not read; a session that falls further behind gets
//! `* OK [NOTIFICATIONOVERFLOW]` and behaves as after NOTIFY NONE (§5.8).

use std::collections::{HashMap, HashSet};

use mailyard_store::MailboxId;
use mailyard_store::changes::{MailboxEvent, MessageChanges};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::proto::command::StatusItem;
use crate::proto::fetch::FetchAttribute;
use crate::proto::notify::EventName;
use crate::proto::response::{ResponseCode, Status};
use crate::session::{End, Session};

/// The events one group asks for (RFC 5465 §5), as flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Events {
    /// §5.2 MessageNew.
    pub new: bool,
    /// §5.3 MessageExpunge.
    pub expunge: bool,
    /// §5.1 FlagChange.
    pub flags: bool,
    /// §5.4 MailboxName.
    pub name: bool,
    /// §5.5 SubscriptionChange.
    pub subscription: bool,
}

impl Events {
    /// The events this server reports (§3.1 BADEVENT lists them).
    pub(crate) const SUPPORTED: &'static [EventName] = &[
        EventName::MessageNew,
        EventName::MessageExpunge,
        EventName::FlagChange,
        EventName::MailboxName,
        EventName::SubscriptionChange,
    ];

    /// The flags of `names` (unsupported names were refused before).
    pub(crate) fn of(names: &[EventName]) -> Events {
        Events {
            new: names.contains(&EventName::MessageNew),
            expunge: names.contains(&EventName::MessageExpunge),
            flags: names.contains(&EventName::FlagChange),
            name: names.contains(&EventName::MailboxName),
            subscription: names.contains(&EventName::SubscriptionChange),
        }
    }

    fn union(self, o: Events) -> Events {
        Events {
            new: self.new || o.new,
            expunge: self.expunge || o.expunge,
            flags: self.flags || o.flags,
            name: self.name || o.name,
            subscription: self.subscription || o.subscription,
        }
    }

    fn is_empty(self) -> bool {
        self == Events::default()
    }
}

/// RFC 5465 §6.2-§6.6 mailbox specifiers, names decoded to stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mailboxes {
    /// §6.2 `personal` (and §6.3 `inboxes`).
    Personal,
    /// §6.4 `subscribed`, evaluated when the event happens.
    Subscribed,
    /// §6.5 `subtree`: the names and everything below them.
    Subtree(Vec<String>),
    /// §6.6 `mailboxes`: exactly these names (no wildcards).
    Named(Vec<String>),
}

impl Mailboxes {
    fn matches(&self, name: &str, subscribed: bool) -> bool {
        match self {
            Mailboxes::Personal => true,
            Mailboxes::Subscribed => subscribed,
            Mailboxes::Subtree(roots) => roots.iter().any(|r| {
                name == r
                    || name
                        .strip_prefix(r.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            }),
            Mailboxes::Named(names) => names.iter().any(|n| n == name),
        }
    }
}

/// One `(filter events)` group for mailboxes other than the selected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    pub mailboxes: Mailboxes,
    pub events: Events,
}

/// The `selected` / `selected-delayed` group (RFC 5465 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SelectedEvents {
    /// `selected-delayed`: EXPUNGE only where RFC 9051 §7.5.1 allows it.
    pub delayed: bool,
    pub events: Events,
    /// MessageNew's fetch attributes (§5.2); empty: EXISTS only.
    pub fetch: Vec<FetchAttribute>,
}

/// What the selected mailbox's updates may carry at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Updates {
    /// EXPUNGE / VANISHED responses.
    pub expunges: bool,
    /// FETCH FLAGS for other sessions' flag changes.
    pub flags: bool,
    /// FETCH MessageNew's attributes for new messages.
    pub fetch_new: bool,
}

/// The session lost events (RFC 5465 §5.8).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Overflow;

/// The NOTIFY state of a session: present from NOTIFY SET until NOTIFY NONE.
pub(crate) struct Notify {
    groups: Vec<Group>,
    pub(crate) selected: Option<SelectedEvents>,
    rx: broadcast::Receiver<MailboxEvent>,
    /// Received while waiting, not reported yet (at most one: every wake is followed
    /// by a report).
    pending: Vec<MailboxEvent>,
    overflow: bool,
    /// The bus is gone (the store is closing): nothing more will come.
    closed: bool,
}

impl Notify {
    pub(crate) fn new(
        groups: Vec<Group>,
        selected: Option<SelectedEvents>,
        rx: broadcast::Receiver<MailboxEvent>,
    ) -> Notify {
        Notify {
            groups: groups
                .into_iter()
                .filter(|g| !g.events.is_empty())
                .collect(),
            selected: selected.filter(|s| !s.events.is_empty()),
            rx,
            pending: Vec::new(),
            overflow: false,
            closed: false,
        }
    }

    /// The events asked for `name` (a mailbox other than the selected one).
    pub(crate) fn watching(&self, name: &str, subscribed: bool) -> Events {
        self.groups
            .iter()
            .filter(|g| g.mailboxes.matches(name, subscribed))
            .fold(Events::default(), |a, g| a.union(g.events))
    }

    /// Whether the `subscribed` filter is used (its matches need the subscriptions).
    pub(crate) fn uses_subscriptions(&self) -> bool {
        self.groups
            .iter()
            .any(|g| g.mailboxes == Mailboxes::Subscribed)
    }

    /// Waits for the next event on the bus and keeps it for the next report.
    /// Cancel-safe.
    pub(crate) async fn recv(&mut self) {
        if self.closed || self.overflow {
            return std::future::pending().await;
        }
        match self.rx.recv().await {
            Ok(e) => self.pending.push(e),
            Err(RecvError::Lagged(_)) => self.overflow = true,
            Err(RecvError::Closed) => self.closed = true,
        }
    }

    /// Every event received so far, or [`Overflow`] when some were lost.
    pub(crate) fn drain(&mut self) -> Result<Vec<MailboxEvent>, Overflow> {
        let mut out = std::mem::take(&mut self.pending);
        loop {
            match self.rx.try_recv() {
                Ok(e) => out.push(e),
                Err(TryRecvError::Lagged(_)) => self.overflow = true,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    self.closed = true;
                    break;
                }
            }
        }
        if self.overflow {
            return Err(Overflow);
        }
        Ok(out)
    }

    /// What the selected mailbox's updates may carry when pushed outside a command
    /// response; `None`: nothing is pushed.
    pub(crate) fn selected_updates(&self, idle: bool) -> Option<Updates> {
        let s = self.selected.as_ref()?;
        Some(Updates {
            expunges: idle || !s.delayed,
            flags: s.events.flags,
            fetch_new: !s.fetch.is_empty(),
        })
    }
}

/// RFC 5465 §3.1: the items of the initial STATUS (NOTIFY SET STATUS) of a mailbox
/// watched for `ev`: MESSAGES UIDNEXT UIDVALIDITY for MessageNew, MESSAGES for
/// MessageExpunge, UIDVALIDITY HIGHESTMODSEQ for FlagChange (we have CONDSTORE).
pub(crate) fn initial_items(ev: Events) -> Vec<StatusItem> {
    let mut items = Vec::new();
    if ev.new || ev.expunge {
        items.push(StatusItem::Messages);
    }
    if ev.new {
        items.extend([StatusItem::UidNext, StatusItem::UidValidity]);
    }
    if ev.flags {
        items.extend([StatusItem::UidValidity, StatusItem::HighestModSeq]);
    }
    canonical(items)
}

/// RFC 5465 §5.1-§5.3: the items of the STATUS sent when `changes` happened to a
/// mailbox watched for `ev`: MESSAGES UIDNEXT for new or expunged messages (§5.2,
/// §5.3), UIDVALIDITY HIGHESTMODSEQ for flag changes (§5.1), HIGHESTMODSEQ always
/// once CONDSTORE is on (§5.2); UNSEEN with each, as Dovecot sends. Empty: nothing
/// asked for happened.
pub(crate) fn event_items(ev: Events, changes: MessageChanges, condstore: bool) -> Vec<StatusItem> {
    let count = (ev.new && changes.new) || (ev.expunge && changes.expunged);
    let flags = ev.flags && changes.flags;
    let mut items = Vec::new();
    if count {
        items.extend([
            StatusItem::Messages,
            StatusItem::UidNext,
            StatusItem::Unseen,
        ]);
    }
    if flags {
        items.extend([
            StatusItem::UidValidity,
            StatusItem::Unseen,
            StatusItem::HighestModSeq,
        ]);
    }
    if condstore && !items.is_empty() {
        items.push(StatusItem::HighestModSeq);
    }
    canonical(items)
}

/// Without duplicates, in one order: MESSAGES UIDNEXT UIDVALIDITY UNSEEN
/// HIGHESTMODSEQ.
fn canonical(items: Vec<StatusItem>) -> Vec<StatusItem> {
    const ORDER: [StatusItem; 5] = [
        StatusItem::Messages,
        StatusItem::UidNext,
        StatusItem::UidValidity,
        StatusItem::Unseen,
        StatusItem::HighestModSeq,
    ];
    ORDER.into_iter().filter(|i| items.contains(i)).collect()
}

/// One response a batch of events asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Out {
    /// `* LIST (attrs) "." name [("OLDNAME" (old))]` (§5.4, §5.5).
    List {
        attrs: Vec<&'static str>,
        name: String,
        old: Option<String>,
    },
    /// `* STATUS name (items)` of the mailbox as it is when sent.
    Status {
        mailbox: MailboxId,
        items: Vec<StatusItem>,
    },
}

/// What the session knows of the user's mailboxes when it reports.
pub(crate) struct Known<'a> {
    /// Names subscribed now.
    pub subscribed: &'a HashSet<String>,
    /// Names of the mailboxes that exist now.
    pub existing: &'a HashSet<String>,
}

/// The responses `events` call for, in order; STATUS once per mailbox (at its first
/// place, items merged). Message events of `selected` are left to the view.
pub(crate) fn plan(
    notify: &Notify,
    events: Vec<MailboxEvent>,
    selected: Option<MailboxId>,
    known: &Known<'_>,
    condstore: bool,
) -> Vec<Out> {
    let mut out: Vec<Out> = Vec::new();
    let mut status_at: HashMap<MailboxId, usize> = HashMap::new();
    let watching = |name: &str| notify.watching(name, known.subscribed.contains(name));
    let exists = |name: &str| known.existing.contains(name);
    let name_attrs = |name: &str| -> Vec<&'static str> {
        if exists(name) {
            vec![]
        } else {
            vec!["\\NonExistent"]
        }
    };
    for ev in events {
        match ev {
            MailboxEvent::Messages {
                mailbox,
                name,
                changes,
            } => {
                if Some(mailbox) == selected {
                    continue;
                }
                let items = event_items(watching(&name), changes, condstore);
                if items.is_empty() {
                    continue;
                }
                match status_at.get(&mailbox) {
                    Some(&i) => {
                        if let Some(Out::Status { items: have, .. }) = out.get_mut(i) {
                            let mut all = std::mem::take(have);
                            all.extend(items);
                            *have = canonical(all);
                        }
                    }
                    None => {
                        status_at.insert(mailbox, out.len());
                        out.push(Out::Status { mailbox, items });
                    }
                }
            }
            // §5.4: one LIST per affected name (a rename: the new one with
            // OLDNAME); \NonExistent once it is gone.
            MailboxEvent::Created { name: to } | MailboxEvent::Deleted { name: to } => {
                if watching(&to).name {
                    out.push(Out::List {
                        attrs: name_attrs(&to),
                        name: to,
                        old: None,
                    });
                }
            }
            MailboxEvent::Renamed { from, to } => {
                if watching(&to).name || watching(&from).name {
                    out.push(Out::List {
                        attrs: name_attrs(&to),
                        name: to,
                        old: Some(from),
                    });
                }
            }
            // §5.5: \Subscribed if and only if subscribed after the event.
            MailboxEvent::Subscription { name, subscribed } => {
                // Subscribed before or after it: `subscribed` matches either way.
                if notify.watching(&name, true).subscription {
                    let mut attrs = Vec::new();
                    if !exists(&name) {
                        attrs.push("\\NonExistent");
                    }
                    if subscribed {
                        attrs.push("\\Subscribed");
                    }
                    out.push(Out::List {
                        attrs,
                        name,
                        old: None,
                    });
                }
            }
        }
    }
    out
}

/// One response ready to write (names as stored).
enum Rendered {
    List {
        attrs: Vec<&'static str>,
        name: String,
        old: Option<String>,
    },
    Status {
        name: String,
        values: String,
    },
}

impl Session {
    /// Reports what the bus brought since the last report (RFC 5465 §5): `* LIST`
    /// and `* STATUS` responses, or `* OK [NOTIFICATIONOVERFLOW]` and NOTIFY NONE
    /// when events were lost (§5.8).
    pub(crate) async fn send_notifications(&mut self) -> Result<(), End> {
        let Some(notify) = self.notify.as_mut() else {
            return Ok(());
        };
        let events = match notify.drain() {
            Ok(e) => e,
            Err(Overflow) => {
                self.notify = None;
                self.untagged(
                    Status::Ok,
                    Some(&ResponseCode::NotificationOverflow),
                    "Too many events; NOTIFY is now NONE",
                );
                return Ok(());
            }
        };
        if events.is_empty() {
            return Ok(());
        }
        let lists = events
            .iter()
            .any(|e| !matches!(e, MailboxEvent::Messages { .. }));
        let subscriptions = lists || notify.uses_subscriptions();
        let Some(user) = self.user() else {
            return Ok(());
        };
        let known = self
            .store()
            .mailboxes_and_subscriptions(&user, lists, subscriptions)
            .await;
        let (subscribed, existing): (HashSet<String>, HashSet<String>) = match known {
            Ok((boxes, subs)) => (
                subs.into_iter().collect(),
                boxes.into_iter().map(|m| m.name).collect(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read mailboxes for NOTIFY");
                return Ok(());
            }
        };
        let Some(notify) = self.notify.as_ref() else {
            return Ok(());
        };
        let selected = self.view().map(|v| v.id);
        let known = Known {
            subscribed: &subscribed,
            existing: &existing,
        };
        let outs = plan(notify, events, selected, &known, self.ext.condstore);
        if outs.is_empty() {
            return Ok(());
        }
        // Every STATUS of the batch from one store hop.
        let ids: Vec<_> = outs
            .iter()
            .filter_map(|o| match o {
                Out::Status { mailbox, .. } => Some(*mailbox),
                Out::List { .. } => None,
            })
            .collect();
        let counts = outs.iter().any(|o| match o {
            Out::Status { items, .. } => crate::cmd::status::needs_counts(items),
            Out::List { .. } => false,
        });
        let mut statuses = if ids.is_empty() {
            Vec::new()
        } else {
            match self.store().mailbox_statuses(ids, counts).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot compute NOTIFY STATUS");
                    return Ok(());
                }
            }
        }
        .into_iter();
        let mut rendered = Vec::with_capacity(outs.len());
        for o in outs {
            match o {
                Out::List { attrs, name, old } => {
                    rendered.push(Rendered::List { attrs, name, old });
                }
                Out::Status { items, .. } => {
                    // Gone since: its LIST (if asked for) says so.
                    if let Some(Some((mb, n))) = statuses.next() {
                        let values = crate::cmd::status::status_values(&mb, &n, &items);
                        rendered.push(Rendered::Status {
                            name: mb.name,
                            values,
                        });
                    }
                }
            }
        }
        let mut out = Vec::new();
        for r in rendered {
            match r {
                Rendered::List { attrs, name, old } => {
                    let mut extra = Vec::new();
                    if let Some(old) = old {
                        extra.extend_from_slice(b" (\"OLDNAME\" (");
                        self.write_mailbox(&mut extra, &old);
                        extra.extend_from_slice(b"))");
                    }
                    self.write_list_line(&mut out, &attrs, &name, &extra);
                }
                Rendered::Status { name, values } => {
                    self.write_status_line(&mut out, &name, values.as_bytes());
                }
            }
        }
        self.conn.wbuf.extend_from_slice(&out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify(groups: Vec<Group>) -> Notify {
        let (_tx, rx) = broadcast::channel(4);
        Notify::new(groups, None, rx)
    }

    fn group(mailboxes: Mailboxes, names: &[EventName]) -> Group {
        Group {
            mailboxes,
            events: Events::of(names),
        }
    }

    fn messages(id: i64, name: &str, changes: MessageChanges) -> MailboxEvent {
        MailboxEvent::Messages {
            mailbox: MailboxId(id),
            name: name.into(),
            changes,
        }
    }

    #[test]
    fn initial_items_follow_rfc_5465_3_1() {
        use StatusItem as S;
        let rows: Vec<(&[EventName], Vec<StatusItem>)> = vec![
            (&[EventName::MessageExpunge], vec![S::Messages]),
            (
                &[EventName::MessageNew],
                vec![S::Messages, S::UidNext, S::UidValidity],
            ),
            (
                &[EventName::FlagChange],
                vec![S::UidValidity, S::HighestModSeq],
            ),
            (
                &[EventName::MessageNew, EventName::FlagChange],
                vec![S::Messages, S::UidNext, S::UidValidity, S::HighestModSeq],
            ),
            (&[EventName::MailboxName], vec![]),
        ];
        for (names, want) in rows {
            assert_eq!(initial_items(Events::of(names)), want, "{names:?}");
        }
    }

    #[test]
    fn event_items_only_for_what_was_asked() {
        use StatusItem as S;
        let new = Events::of(&[EventName::MessageNew, EventName::MessageExpunge]);
        assert_eq!(
            event_items(new, MessageChanges::NEW, false),
            vec![S::Messages, S::UidNext, S::Unseen]
        );
        assert!(event_items(new, MessageChanges::FLAGS, false).is_empty());
        assert_eq!(
            event_items(new, MessageChanges::EXPUNGED, true),
            vec![S::Messages, S::UidNext, S::Unseen, S::HighestModSeq]
        );
        let flags = Events::of(&[EventName::FlagChange]);
        assert_eq!(
            event_items(flags, MessageChanges::ANY, false),
            vec![S::UidValidity, S::Unseen, S::HighestModSeq]
        );
    }

    #[test]
    fn filters_match_names() {
        let sub = Mailboxes::Subtree(vec!["Lists".into()]);
        assert!(sub.matches("Lists", false));
        assert!(sub.matches("Lists.rust", false));
        assert!(!sub.matches("Listserv", false));
        let named = Mailboxes::Named(vec!["INBOX".into()]);
        assert!(named.matches("INBOX", false));
        assert!(!named.matches("INBOX.x", false));
        assert!(Mailboxes::Subscribed.matches("x", true));
        assert!(!Mailboxes::Subscribed.matches("x", false));
        assert!(Mailboxes::Personal.matches("anything", false));
    }

    #[test]
    fn plan_coalesces_and_skips_the_selected_mailbox() {
        use StatusItem as S;
        let n = notify(vec![group(
            Mailboxes::Personal,
            &[
                EventName::MessageNew,
                EventName::MessageExpunge,
                EventName::FlagChange,
                EventName::MailboxName,
            ],
        )]);
        let subscribed = HashSet::new();
        let existing: HashSet<String> = ["a", "b", "c"].map(String::from).into();
        let known = Known {
            subscribed: &subscribed,
            existing: &existing,
        };
        let events = vec![
            messages(1, "a", MessageChanges::NEW),
            messages(2, "sel", MessageChanges::NEW),
            MailboxEvent::Created { name: "c".into() },
            messages(1, "a", MessageChanges::FLAGS),
            MailboxEvent::Deleted {
                name: "gone".into(),
            },
            MailboxEvent::Renamed {
                from: "x".into(),
                to: "b".into(),
            },
            MailboxEvent::Subscription {
                name: "a".into(),
                subscribed: true,
            },
        ];
        let outs = plan(&n, events, Some(MailboxId(2)), &known, false);
        assert_eq!(
            outs,
            vec![
                Out::Status {
                    mailbox: MailboxId(1),
                    items: vec![
                        S::Messages,
                        S::UidNext,
                        S::UidValidity,
                        S::Unseen,
                        S::HighestModSeq
                    ],
                },
                Out::List {
                    attrs: vec![],
                    name: "c".into(),
                    old: None
                },
                Out::List {
                    attrs: vec!["\\NonExistent"],
                    name: "gone".into(),
                    old: None
                },
                Out::List {
                    attrs: vec![],
                    name: "b".into(),
                    old: Some("x".into())
                },
            ],
            "no SubscriptionChange asked for, none reported"
        );
    }

    #[test]
    fn subscription_changes_and_the_subscribed_filter() {
        let n = notify(vec![group(
            Mailboxes::Subscribed,
            &[EventName::SubscriptionChange, EventName::MessageNew],
        )]);
        let subscribed: HashSet<String> = ["on"].map(String::from).into();
        let existing: HashSet<String> = ["on", "off"].map(String::from).into();
        let known = Known {
            subscribed: &subscribed,
            existing: &existing,
        };
        let events = vec![
            MailboxEvent::Subscription {
                name: "on".into(),
                subscribed: true,
            },
            MailboxEvent::Subscription {
                name: "ghost".into(),
                subscribed: true,
            },
            messages(3, "off", MessageChanges::NEW),
            messages(4, "on", MessageChanges::NEW),
        ];
        let outs = plan(&n, events, None, &known, false);
        assert_eq!(
            outs,
            vec![
                Out::List {
                    attrs: vec!["\\Subscribed"],
                    name: "on".into(),
                    old: None
                },
                Out::List {
                    attrs: vec!["\\NonExistent", "\\Subscribed"],
                    name: "ghost".into(),
                    old: None
                },
                Out::Status {
                    mailbox: MailboxId(4),
                    items: vec![
                        StatusItem::Messages,
                        StatusItem::UidNext,
                        StatusItem::Unseen
                    ],
                },
            ]
        );
    }

    #[test]
    fn a_lagging_bus_overflows() {
        let (tx, rx) = broadcast::channel(2);
        let mut n = Notify::new(
            vec![group(Mailboxes::Personal, &[EventName::MailboxName])],
            None,
            rx,
        );
        for i in 0..3 {
            tx.send(MailboxEvent::Created {
                name: format!("m{i}"),
            })
            .ok();
        }
        assert_eq!(n.drain(), Err(Overflow));
        let (tx, rx) = broadcast::channel(2);
        let mut n = Notify::new(vec![], None, rx);
        tx.send(MailboxEvent::Created { name: "m".into() }).ok();
        assert_eq!(n.drain().map(|e| e.len()), Ok(1));
    }
}
