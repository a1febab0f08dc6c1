//! The arguments of NOTIFY (RFC 5465 §3.1, grammar §8), parsed into typed event
//! groups. Pure: the session decides what the groups mean (`session/notify.rs`).
//!
//! ```text
//! notify           = "NOTIFY" SP (notify-set / notify-none)
//! notify-set       = "SET" [status-indicator] SP event-groups
//! status-indicator = SP "STATUS"
//! notify-none      = "NONE"
//! event-groups     = event-group *(SP event-group)
//! event-group      = "(" filter-mailboxes SP events ")"
//! filter-mailboxes = "selected" / "selected-delayed" / "inboxes" / "personal" /
//!                    "subscribed" / ("subtree" SP one-or-more-mailbox) /
//!                    ("mailboxes" SP one-or-more-mailbox)
//! events           = ("(" event *(SP event) ")") / "NONE"
//! event            = ("MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]) /
//!                    "MessageExpunge" / "FlagChange" / "AnnotationChange" /
//!                    "MailboxName" / "SubscriptionChange" /
//!                    "MailboxMetadataChange" / "ServerMetadataChange" / event-ext
//! ```
//!
//! Refused as syntax errors (BAD): an empty event list, a second `selected` or
//! `selected-delayed` group (§6.1), an event other than a message event in such a
//! group (§6.1), and there MessageNew without MessageExpunge or the reverse, or
//! FlagChange/AnnotationChange without both (§5). RFC 5465 §5 asks for the last two
//! checks in every group; like Dovecot we make them only for the selected mailbox,
//! where they protect message sequence numbers, and accept e.g.
//! `(mailboxes x (MessageExpunge))` for other mailboxes (imaptest's `notify` script
//! does). Unknown event names parse (`event-ext`); the session answers them with
//! `NO [BADEVENT …]` (§3.1).

use super::fetch::FetchAttribute;
use super::parser::{ErrorKind, PResult, ParseError, Parser};

/// Most mailbox names one NOTIFY command may list (over all `subtree` and
/// `mailboxes` groups); RFC 5465 §3.1 lets a server refuse an expensive request
/// (the session answers `NO [NOTIFICATIONOVERFLOW]`). Dovecot's limit.
pub const MAX_NOTIFY_MAILBOXES: usize = 100;

/// NOTIFY's arguments. RFC 5465 §3.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyArgs {
    /// `NOTIFY NONE`: no notifications at all.
    None,
    /// `NOTIFY SET [STATUS] groups`.
    Set {
        /// `STATUS`: send the initial STATUS of each watched mailbox.
        status: bool,
        /// The event groups, in order.
        groups: Vec<EventGroup>,
    },
}

/// `(filter events)`. RFC 5465 §8 `event-group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGroup {
    /// Which mailboxes.
    pub filter: Filter,
    /// Which events; empty for `NONE`.
    pub events: Vec<EventName>,
    /// MessageNew's fetch attributes (selected mailbox only, RFC 5465 §5.2).
    pub fetch: Vec<FetchAttribute>,
}

/// RFC 5465 §6 mailbox specifiers. Names are as sent (undecoded; INBOX upper-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// §6.1.1 `selected`.
    Selected,
    /// §6.1.2 `selected-delayed`.
    SelectedDelayed,
    /// §6.3 `inboxes`.
    Inboxes,
    /// §6.2 `personal`.
    Personal,
    /// §6.4 `subscribed`.
    Subscribed,
    /// §6.5 `subtree` names.
    Subtree(Vec<String>),
    /// §6.6 `mailboxes` names.
    Mailboxes(Vec<String>),
}

impl Filter {
    /// `selected` or `selected-delayed`.
    pub fn is_selected(&self) -> bool {
        matches!(self, Filter::Selected | Filter::SelectedDelayed)
    }
}

/// RFC 5465 §5 event names (§8 `event`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventName {
    /// §5.2
    MessageNew,
    /// §5.3
    MessageExpunge,
    /// §5.1
    FlagChange,
    /// §5.1
    AnnotationChange,
    /// §5.4
    MailboxName,
    /// §5.5
    SubscriptionChange,
    /// §5.6
    MailboxMetadataChange,
    /// §5.7
    ServerMetadataChange,
    /// §8 `event-ext`: an event this server does not know, as sent.
    Other(String),
}

impl EventName {
    /// Every event name RFC 5465 defines, with its wire spelling.
    pub const NAMED: &'static [(&'static str, EventName)] = &[
        ("MessageNew", EventName::MessageNew),
        ("MessageExpunge", EventName::MessageExpunge),
        ("FlagChange", EventName::FlagChange),
        ("AnnotationChange", EventName::AnnotationChange),
        ("MailboxName", EventName::MailboxName),
        ("SubscriptionChange", EventName::SubscriptionChange),
        ("MailboxMetadataChange", EventName::MailboxMetadataChange),
        ("ServerMetadataChange", EventName::ServerMetadataChange),
    ];

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            EventName::Other(s) => s,
            named => EventName::NAMED
                .iter()
                .find(|(_, e)| e == named)
                .map_or("", |(s, _)| s),
        }
    }

    /// A message event (RFC 5465 §8 `message-event`).
    pub fn is_message_event(&self) -> bool {
        matches!(
            self,
            EventName::MessageNew
                | EventName::MessageExpunge
                | EventName::FlagChange
                | EventName::AnnotationChange
        )
    }
}

fn invalid(at: usize, what: &'static str) -> ParseError {
    ParseError {
        tag: None,
        kind: ErrorKind::Invalid(what),
        at,
    }
}

impl Parser<'_> {
    /// NOTIFY's arguments after `NOTIFY`, SP included. RFC 5465 §8.
    pub(crate) fn notify_args(&mut self) -> PResult<NotifyArgs> {
        self.sp()?;
        if self.keyword("NONE") {
            return Ok(NotifyArgs::None);
        }
        if !self.keyword("SET") {
            return self.fail("SET or NONE");
        }
        self.sp()?;
        let status = self.keyword("STATUS");
        if status {
            self.sp()?;
        }
        let mut groups: Vec<EventGroup> = Vec::new();
        loop {
            let at = self.pos();
            let group = self.event_group()?;
            if group.filter.is_selected() && groups.iter().any(|g| g.filter.is_selected()) {
                // RFC 5465 §6.1: only one of them in a NOTIFY command.
                return Err(invalid(at, "only one selected or selected-delayed group"));
            }
            groups.push(group);
            if self.at_end() {
                break;
            }
            self.sp()?;
        }
        Ok(NotifyArgs::Set { status, groups })
    }

    /// `"(" filter-mailboxes SP events ")"`.
    fn event_group(&mut self) -> PResult<EventGroup> {
        let at = self.pos();
        self.expect(b'(', "(")?;
        self.enter()?;
        let filter = self.filter_mailboxes()?;
        self.sp()?;
        let (events, fetch) = if self.keyword("NONE") {
            (Vec::new(), Vec::new())
        } else {
            self.events()?
        };
        self.expect(b')', ")")?;
        self.leave();
        if filter.is_selected() {
            check_selected_events(&events).map_err(|what| invalid(at, what))?;
        } else if !fetch.is_empty() {
            // RFC 5465 §5.2: fetch attributes are for the selected mailbox.
            return Err(invalid(at, "MessageNew fetch attributes need selected"));
        }
        Ok(EventGroup {
            filter,
            events,
            fetch,
        })
    }

    fn filter_mailboxes(&mut self) -> PResult<Filter> {
        let at = self.pos();
        // `selected-delayed` first: `selected` is its prefix.
        Ok(if self.keyword("SELECTED-DELAYED") {
            Filter::SelectedDelayed
        } else if self.keyword("SELECTED") {
            Filter::Selected
        } else if self.keyword("INBOXES") {
            Filter::Inboxes
        } else if self.keyword("PERSONAL") {
            Filter::Personal
        } else if self.keyword("SUBSCRIBED") {
            Filter::Subscribed
        } else if self.keyword("SUBTREE") {
            self.sp()?;
            Filter::Subtree(self.one_or_more_mailbox()?)
        } else if self.keyword("MAILBOXES") {
            self.sp()?;
            Filter::Mailboxes(self.one_or_more_mailbox()?)
        } else {
            return Err(ParseError {
                tag: None,
                kind: ErrorKind::Expected("mailbox filter"),
                at,
            });
        })
    }

    /// `mailbox / "(" mailbox *(SP mailbox) ")"`.
    fn one_or_more_mailbox(&mut self) -> PResult<Vec<String>> {
        if self.peek() == Some(b'(') {
            self.paren_list(false, |p| p.mailbox())
        } else {
            Ok(vec![self.mailbox()?])
        }
    }

    /// `"(" event *(SP event) ")"`, with MessageNew's optional fetch attributes.
    fn events(&mut self) -> PResult<(Vec<EventName>, Vec<FetchAttribute>)> {
        let mut fetch = Vec::new();
        let events = self.paren_list(false, |p| {
            let word = p.atom()?;
            let event = EventName::NAMED
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(word))
                .map_or_else(|| EventName::Other(word.to_owned()), |(_, e)| e.clone());
            if event == EventName::MessageNew
                && p.peek() == Some(b' ')
                && p.peek_at(1) == Some(b'(')
            {
                p.sp()?;
                fetch = p.paren_list(false, |p| p.fetch_att())?;
            }
            Ok(event)
        })?;
        Ok((events, fetch))
    }
}

/// RFC 5465 §5 and §6.1 for a `selected`/`selected-delayed` group: message events
/// only; MessageNew and MessageExpunge together; FlagChange and AnnotationChange
/// only with both.
fn check_selected_events(events: &[EventName]) -> Result<(), &'static str> {
    if events
        .iter()
        .any(|e| !e.is_message_event() && !matches!(e, EventName::Other(_)))
    {
        return Err("only message events for the selected mailbox");
    }
    let new = events.contains(&EventName::MessageNew);
    let expunge = events.contains(&EventName::MessageExpunge);
    if new != expunge {
        return Err("MessageNew and MessageExpunge go together");
    }
    let flags = events
        .iter()
        .any(|e| matches!(e, EventName::FlagChange | EventName::AnnotationChange));
    if flags && !new {
        return Err("FlagChange needs MessageNew and MessageExpunge");
    }
    Ok(())
}
