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
                return Err(ParseError::invalid(
                    at,
                    "only one selected or selected-delayed group",
                ));
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
            check_selected_events(&events).map_err(|what| ParseError::invalid(at, what))?;
        } else if !fetch.is_empty() {
            // RFC 5465 §5.2: fetch attributes are for the selected mailbox.
            return Err(ParseError::invalid(
                at,
                "MessageNew fetch attributes need selected",
            ));
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
            return Err(ParseError::at(ErrorKind::Expected("mailbox filter"), at));
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

#[cfg(test)]
mod tests {
    use super::super::command::Command;
    use super::super::testing::{check_errors, check_rows, header_fields, s};
    use super::*;
    use EventName as E;
    use FetchAttribute as F;

    fn notify(status: bool, groups: Vec<EventGroup>) -> Command {
        Command::Notify(NotifyArgs::Set { status, groups })
    }

    fn group(filter: Filter, events: Vec<E>, fetch: Vec<F>) -> EventGroup {
        EventGroup {
            filter,
            events,
            fetch,
        }
    }

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 5465 §3.1, §8; imaptest's `notify` script.
            (b"a notify none", "a", Command::Notify(NotifyArgs::None)),
            (
                b"a notify set status (mailboxes INBOX2 (MessageExpunge))",
                "a",
                notify(
                    true,
                    vec![group(
                        Filter::Mailboxes(vec![s("INBOX2")]),
                        vec![E::MessageExpunge],
                        vec![],
                    )],
                ),
            ),
            (
                b"a NOTIFY SET (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge MailboxName))",
                "a",
                notify(
                    false,
                    vec![
                        group(
                            Filter::Selected,
                            vec![E::MessageNew, E::MessageExpunge],
                            vec![F::Uid, header_fields(true, &["from", "to", "subject"])],
                        ),
                        group(
                            Filter::Subtree(vec![s("Lists")]),
                            vec![E::MessageNew, E::MessageExpunge, E::MailboxName],
                            vec![],
                        ),
                    ],
                ),
            ),
            (
                b"b Notify Set (SELECTED-DELAYED (messagenew messageexpunge flagchange)) (personal (MailboxName SubscriptionChange)) (inboxes NONE) (subscribed (MessageNew)) (mailboxes (inbox \"b c\" {1}\r\nd) (FlagChange)) (personal (AnnotationChange ServerMetadataChange X-Foo))",
                "b",
                notify(
                    false,
                    vec![
                        group(
                            Filter::SelectedDelayed,
                            vec![E::MessageNew, E::MessageExpunge, E::FlagChange],
                            vec![],
                        ),
                        group(
                            Filter::Personal,
                            vec![E::MailboxName, E::SubscriptionChange],
                            vec![],
                        ),
                        group(Filter::Inboxes, vec![], vec![]),
                        group(Filter::Subscribed, vec![E::MessageNew], vec![]),
                        group(
                            Filter::Mailboxes(vec![s("INBOX"), s("b c"), s("d")]),
                            vec![E::FlagChange],
                            vec![],
                        ),
                        group(
                            Filter::Personal,
                            vec![
                                E::AnnotationChange,
                                E::ServerMetadataChange,
                                E::Other(s("X-Foo")),
                            ],
                            vec![],
                        ),
                    ],
                ),
            ),
        ]);
    }

    #[test]
    fn errors() {
        check_errors(vec![
            // RFC 5465 §8 grammar; §5 and §6.1 for the selected mailbox.
            (b"A1 NOTIFY", Some("A1"), ErrorKind::UnexpectedEnd),
            (
                b"A1 NOTIFY FOO",
                Some("A1"),
                ErrorKind::Expected("SET or NONE"),
            ),
            (b"A1 NOTIFY SET", Some("A1"), ErrorKind::UnexpectedEnd),
            (
                b"A1 NOTIFY SET STATUS",
                Some("A1"),
                ErrorKind::UnexpectedEnd,
            ),
            (
                b"A1 NOTIFY NONE (personal NONE)",
                Some("A1"),
                ErrorKind::Trailing,
            ),
            (
                b"A1 NOTIFY SET (personal ())",
                Some("A1"),
                ErrorKind::Expected("list element"),
            ),
            (
                b"A1 NOTIFY SET (personal (MessageNew)",
                Some("A1"),
                ErrorKind::UnexpectedEnd,
            ),
            (
                b"A1 NOTIFY SET (personal (MessageNew)) ",
                Some("A1"),
                ErrorKind::UnexpectedEnd,
            ),
            (
                b"A1 NOTIFY SET (everything (MessageNew))",
                Some("A1"),
                ErrorKind::Expected("mailbox filter"),
            ),
            (
                b"A1 NOTIFY SET (subtree (MessageNew))",
                Some("A1"),
                ErrorKind::Expected("SP"),
            ),
            (
                b"A1 NOTIFY SET (selected (MessageNew))",
                Some("A1"),
                ErrorKind::Invalid("MessageNew and MessageExpunge go together"),
            ),
            (
                b"A1 NOTIFY SET (selected (MessageExpunge))",
                Some("A1"),
                ErrorKind::Invalid("MessageNew and MessageExpunge go together"),
            ),
            (
                b"A1 NOTIFY SET (selected (FlagChange))",
                Some("A1"),
                ErrorKind::Invalid("FlagChange needs MessageNew and MessageExpunge"),
            ),
            (
                b"A1 NOTIFY SET (selected (MessageNew MessageExpunge MailboxName))",
                Some("A1"),
                ErrorKind::Invalid("only message events for the selected mailbox"),
            ),
            (
                b"A1 NOTIFY SET (selected NONE) (personal NONE) (selected-delayed NONE)",
                Some("A1"),
                ErrorKind::Invalid("only one selected or selected-delayed group"),
            ),
            (
                b"A1 NOTIFY SET (personal (MessageNew (uid) MessageExpunge))",
                Some("A1"),
                ErrorKind::Invalid("MessageNew fetch attributes need selected"),
            ),
            (
                b"A1 NOTIFY SET (selected (MessageNew (uid foo) MessageExpunge))",
                Some("A1"),
                ErrorKind::Expected("fetch attribute"),
            ),
        ]);
    }
}
