//! Session states (RFC 9051 §3) and which commands each allows, as data.
//!
//! The table is the one place that says "SELECT is valid in the authenticated and
//! selected states"; the dispatcher consults it before any handler runs, and a test
//! walks every state × command.

use mailyard_store::Address;

use super::view::View;
use crate::proto::command::Command;

/// RFC 9051 §3: the session's state, carrying only what is valid in it.
pub(crate) enum State {
    /// RFC 9051 §3.1: before LOGIN / AUTHENTICATE.
    NotAuthenticated,
    /// RFC 9051 §3.2: logged in, no mailbox selected.
    Authenticated {
        /// Who.
        user: Address,
    },
    /// RFC 9051 §3.3: a mailbox is selected.
    Selected {
        /// Who.
        user: Address,
        /// The selected mailbox as this session sees it.
        view: Box<View>,
    },
    /// RFC 9051 §3.4: the connection is closing.
    Logout,
}

/// The state without its data, for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateKind {
    NotAuthenticated,
    Authenticated,
    Selected,
    Logout,
}

impl State {
    pub(crate) fn kind(&self) -> StateKind {
        match self {
            State::NotAuthenticated => StateKind::NotAuthenticated,
            State::Authenticated { .. } => StateKind::Authenticated,
            State::Selected { .. } => StateKind::Selected,
            State::Logout => StateKind::Logout,
        }
    }

    /// The logged-in user, in the authenticated and selected states.
    pub(crate) fn user(&self) -> Option<&Address> {
        match self {
            State::Authenticated { user } | State::Selected { user, .. } => Some(user),
            _ => None,
        }
    }
}

const NOT_AUTH: u8 = 1;
const AUTH: u8 = 2;
const SELECTED: u8 = 4;
const ANY: u8 = NOT_AUTH | AUTH | SELECTED;

/// Every command name the parser knows and the states that allow it (RFC 9051 §6.1
/// any state, §6.2 not authenticated, §6.3 authenticated and selected, §6.4 selected;
/// extensions as their RFCs say: ENABLE RFC 5161 §3.1 authenticated only, IDLE
/// RFC 2177 §3, QUOTA RFC 9208 §4, SORT/THREAD RFC 5256 §3, COMPRESS RFC 4978 §3,
/// CANCELUPDATE RFC 5267 §4.3, GENURLAUTH/RESETKEY/URLFETCH RFC 4467 §4, §6, §7, NOTIFY
/// RFC 5465 §3.1).
pub(crate) const COMMANDS: &[(&str, u8)] = &[
    ("CAPABILITY", ANY),
    ("NOOP", ANY),
    ("LOGOUT", ANY),
    ("ID", ANY),
    ("STARTTLS", NOT_AUTH),
    ("AUTHENTICATE", NOT_AUTH),
    ("LOGIN", NOT_AUTH),
    ("ENABLE", AUTH),
    ("SELECT", AUTH | SELECTED),
    ("EXAMINE", AUTH | SELECTED),
    ("CREATE", AUTH | SELECTED),
    ("DELETE", AUTH | SELECTED),
    ("RENAME", AUTH | SELECTED),
    ("SUBSCRIBE", AUTH | SELECTED),
    ("UNSUBSCRIBE", AUTH | SELECTED),
    ("LIST", AUTH | SELECTED),
    ("LSUB", AUTH | SELECTED),
    ("NAMESPACE", AUTH | SELECTED),
    ("STATUS", AUTH | SELECTED),
    ("APPEND", AUTH | SELECTED),
    ("GENURLAUTH", AUTH | SELECTED),
    ("RESETKEY", AUTH | SELECTED),
    ("URLFETCH", AUTH | SELECTED),
    ("IDLE", AUTH | SELECTED),
    ("NOTIFY", AUTH | SELECTED),
    ("GETQUOTA", AUTH | SELECTED),
    ("GETQUOTAROOT", AUTH | SELECTED),
    ("SETQUOTA", AUTH | SELECTED),
    ("COMPRESS", AUTH | SELECTED),
    ("CHECK", SELECTED),
    ("CLOSE", SELECTED),
    ("UNSELECT", SELECTED),
    ("CANCELUPDATE", SELECTED),
    ("EXPUNGE", SELECTED),
    ("SEARCH", SELECTED),
    ("FETCH", SELECTED),
    ("STORE", SELECTED),
    ("COPY", SELECTED),
    ("MOVE", SELECTED),
    ("SORT", SELECTED),
    ("THREAD", SELECTED),
];

/// The table's name for a command (UID variants share their base command's row).
pub(crate) fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Capability => "CAPABILITY",
        Command::Noop => "NOOP",
        Command::Logout => "LOGOUT",
        Command::StartTls => "STARTTLS",
        Command::Authenticate { .. } => "AUTHENTICATE",
        Command::Login { .. } => "LOGIN",
        Command::Enable { .. } => "ENABLE",
        Command::Select(_) => "SELECT",
        Command::Examine(_) => "EXAMINE",
        Command::Create { .. } => "CREATE",
        Command::Delete { .. } => "DELETE",
        Command::Rename { .. } => "RENAME",
        Command::Subscribe { .. } => "SUBSCRIBE",
        Command::Unsubscribe { .. } => "UNSUBSCRIBE",
        Command::List(_) => "LIST",
        Command::Lsub { .. } => "LSUB",
        Command::Namespace => "NAMESPACE",
        Command::Status { .. } => "STATUS",
        Command::Append { .. } => "APPEND",
        Command::GenUrlAuth { .. } => "GENURLAUTH",
        Command::ResetKey { .. } => "RESETKEY",
        Command::UrlFetch { .. } => "URLFETCH",
        Command::Idle => "IDLE",
        Command::Notify(_) => "NOTIFY",
        Command::Check => "CHECK",
        Command::Close => "CLOSE",
        Command::Unselect => "UNSELECT",
        Command::CancelUpdate { .. } => "CANCELUPDATE",
        Command::Expunge { .. } => "EXPUNGE",
        Command::Search { .. } => "SEARCH",
        Command::Fetch { .. } => "FETCH",
        Command::Store { .. } => "STORE",
        Command::Copy { .. } => "COPY",
        Command::Move { .. } => "MOVE",
        Command::Id { .. } => "ID",
        Command::Sort { .. } => "SORT",
        Command::Thread { .. } => "THREAD",
        Command::GetQuota { .. } => "GETQUOTA",
        Command::GetQuotaRoot { .. } => "GETQUOTAROOT",
        Command::SetQuota { .. } => "SETQUOTA",
        Command::Compress { .. } => "COMPRESS",
    }
}

/// Whether the command named `name` is valid in `state`.
pub(crate) fn allowed_name(name: &str, state: StateKind) -> bool {
    let bit = match state {
        StateKind::NotAuthenticated => NOT_AUTH,
        StateKind::Authenticated => AUTH,
        StateKind::Selected => SELECTED,
        StateKind::Logout => return false,
    };
    COMMANDS
        .iter()
        .find(|(n, _)| *n == name)
        .is_some_and(|(_, states)| states & bit != 0)
}

/// Whether `c` is valid in `state`.
pub(crate) fn allowed(c: &Command, state: StateKind) -> bool {
    allowed_name(command_name(c), state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::command::parse;

    /// One sample of every command, parsed by the real parser.
    const SAMPLES: &[&str] = &[
        "a CAPABILITY",
        "a NOOP",
        "a LOGOUT",
        "a ID NIL",
        "a STARTTLS",
        "a AUTHENTICATE PLAIN",
        "a LOGIN u p",
        "a ENABLE UTF8=ACCEPT",
        "a SELECT INBOX",
        "a EXAMINE INBOX",
        "a CREATE x",
        "a DELETE x",
        "a RENAME x y",
        "a SUBSCRIBE x",
        "a UNSUBSCRIBE x",
        "a LIST \"\" *",
        "a LSUB \"\" *",
        "a NAMESPACE",
        "a STATUS INBOX (MESSAGES)",
        "a APPEND INBOX {1+}\r\nx",
        "a GENURLAUTH \"imap://a@b/X/;uid=1;urlauth=anonymous\" INTERNAL",
        "a RESETKEY",
        "a URLFETCH \"imap://a@b/X/;uid=1\"",
        "a IDLE",
        "a NOTIFY NONE",
        "a GETQUOTA \"\"",
        "a GETQUOTAROOT INBOX",
        "a SETQUOTA \"\" (STORAGE 1)",
        "a COMPRESS DEFLATE",
        "a CHECK",
        "a CLOSE",
        "a UNSELECT",
        "a EXPUNGE",
        "a UID EXPUNGE 1",
        "a SEARCH ALL",
        "a UID SEARCH ALL",
        "a FETCH 1 FLAGS",
        "a UID FETCH 1 FLAGS",
        "a STORE 1 +FLAGS (\\Seen)",
        "a UID STORE 1 +FLAGS (\\Seen)",
        "a COPY 1 x",
        "a UID COPY 1 x",
        "a MOVE 1 x",
        "a UID MOVE 1 x",
        "a SORT (DATE) UTF-8 ALL",
        "a THREAD REFERENCES UTF-8 ALL",
        "a CANCELUPDATE \"t\"",
    ];

    fn expected(name: &str, state: StateKind) -> bool {
        use StateKind as S;
        let any = ["CAPABILITY", "NOOP", "LOGOUT", "ID"];
        let not_auth = ["STARTTLS", "AUTHENTICATE", "LOGIN"];
        let selected_only = [
            "CHECK",
            "CLOSE",
            "UNSELECT",
            "EXPUNGE",
            "SEARCH",
            "FETCH",
            "STORE",
            "COPY",
            "MOVE",
            "SORT",
            "THREAD",
            "CANCELUPDATE",
        ];
        match state {
            S::Logout => false,
            _ if any.contains(&name) => true,
            S::NotAuthenticated => not_auth.contains(&name),
            S::Authenticated => !not_auth.contains(&name) && !selected_only.contains(&name),
            S::Selected => !not_auth.contains(&name) && name != "ENABLE",
        }
    }

    #[test]
    fn every_state_times_every_command() {
        let states = [
            StateKind::NotAuthenticated,
            StateKind::Authenticated,
            StateKind::Selected,
            StateKind::Logout,
        ];
        let mut names = std::collections::HashSet::new();
        for sample in SAMPLES {
            let req = parse(sample.as_bytes()).expect(sample);
            let name = command_name(&req.command);
            names.insert(name);
            for state in states {
                assert_eq!(
                    allowed(&req.command, state),
                    expected(name, state),
                    "{sample} in {state:?}"
                );
            }
        }
        // Every row of the table has a sample, and every sample a row.
        for (name, _) in COMMANDS {
            assert!(names.contains(name), "no sample for {name}");
        }
        assert_eq!(names.len(), COMMANDS.len());
    }
}
