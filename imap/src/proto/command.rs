//! Parses one framed command (see [`super::receiver`]) into a typed
//! [`Request`]: RFC 9051 §6 (IMAP4rev2) and RFC 3501 §6 (IMAP4rev1), with the
//! extensions listed in [`super`].
//!
//! This file reads the tag and the command name and dispatches; a command whose
//! arguments have a grammar of their own is parsed in its verb family's file, as
//! `impl Parser` methods named `<verb>_args` that read from the SP after the
//! name: [`super::auth`] (AUTHENTICATE, LOGIN), [`super::select`] (SELECT,
//! EXAMINE), [`super::mailbox`] (CREATE), [`super::list`] (LIST, LSUB),
//! [`super::status`], [`super::append`], [`super::urlauth`] (GENURLAUTH, RESETKEY,
//! URLFETCH), [`super::notify`], [`super::id`], [`super::quota`] (SETQUOTA),
//! [`super::fetch`], [`super::search`], [`super::store`], [`super::sort`],
//! [`super::thread`]. Arguments that are a single primitive of [`super::parser`]
//! (a mailbox, a sequence set, an atom list) are read here. The argument types
//! are re-exported here, so the session names them all from `command`.
//!
//! Command names and keywords are case-insensitive (RFC 9051 §9 note 1).
//! Mailbox names are returned undecoded, except that `INBOX` is matched
//! case-insensitively and returned upper-case (RFC 9051 §5.1); the session
//! decodes modified UTF-7 (RFC 9051 §5.1.3) or, after `ENABLE UTF8=ACCEPT`,
//! UTF-8 (RFC 6855 §3).

use super::fetch::{FetchAttribute, FetchModifiers};
use super::notify::NotifyArgs;
use super::parser::{ErrorKind, PResult, ParseError, Parser, is_tag_char};
use super::search::{SearchKey, SearchReturn};
use super::sequence::Sequence;
use super::types::Flag;

pub use super::append::{AppendContent, AppendMessage, CatPart, MAX_CATENATE_PARTS};
pub use super::auth::{AuthResponse, parse_auth_response};
pub use super::id::MAX_ID_PAIRS;
pub use super::list::{ListArgs, ListReturn, ListSelect};
pub use super::select::{QResync, SelectArgs};
pub use super::sort::{SortCriterion, SortKey};
pub use super::status::StatusItem;
pub use super::store::StoreAction;
pub use super::thread::ThreadAlgorithm;
pub use super::urlauth::{MAX_URLS, UrlFetchArg, UrlFetchParams};

/// A tagged client command. RFC 9051 §2.2.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The client's tag, echoed in the tagged response.
    pub tag: String,
    /// The command.
    pub command: Command,
}

/// A client command with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 9051 §6.1.1
    Capability,
    /// RFC 9051 §6.1.2
    Noop,
    /// RFC 9051 §6.1.3
    Logout,
    /// RFC 9051 §6.2.1
    StartTls,
    /// RFC 9051 §6.2.2, with the SASL-IR initial response (RFC 4959 §3):
    /// `Some(empty)` for `=`.
    Authenticate {
        /// SASL mechanism name, upper-cased.
        mechanism: String,
        /// Decoded initial response.
        initial_response: Option<Vec<u8>>,
    },
    /// RFC 9051 §6.2.3
    Login {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// RFC 9051 §6.3.1 / RFC 5161 §3.1: capability names, upper-cased.
    Enable {
        /// Capabilities to enable.
        capabilities: Vec<String>,
    },
    /// RFC 9051 §6.3.2
    Select(SelectArgs),
    /// RFC 9051 §6.3.3
    Examine(SelectArgs),
    /// RFC 9051 §6.3.4, with `USE (…)` (RFC 6154 §3).
    Create {
        /// Name to create.
        mailbox: String,
        /// Special-use attributes requested, e.g. `\Sent`.
        special_use: Vec<String>,
    },
    /// RFC 9051 §6.3.5
    Delete {
        /// Name to delete.
        mailbox: String,
    },
    /// RFC 9051 §6.3.6
    Rename {
        /// Existing name.
        from: String,
        /// New name.
        to: String,
    },
    /// RFC 9051 §6.3.7
    Subscribe {
        /// Name to subscribe.
        mailbox: String,
    },
    /// RFC 9051 §6.3.8
    Unsubscribe {
        /// Name to unsubscribe.
        mailbox: String,
    },
    /// RFC 9051 §6.3.9, RFC 5258 (LIST-EXTENDED), RFC 5819 (LIST-STATUS).
    List(ListArgs),
    /// RFC 3501 §6.3.9
    Lsub {
        /// Reference name.
        reference: String,
        /// Pattern with `*` / `%`.
        pattern: String,
    },
    /// RFC 9051 §6.3.10 / RFC 2342
    Namespace,
    /// RFC 9051 §6.3.11
    Status {
        /// Mailbox name.
        mailbox: String,
        /// Requested items.
        items: Vec<StatusItem>,
    },
    /// RFC 9051 §6.3.12; several messages with MULTIAPPEND (RFC 3502 §6.3.11).
    Append {
        /// Target mailbox.
        mailbox: String,
        /// The messages, at least one.
        messages: Vec<AppendMessage>,
    },
    /// RFC 4467 §7: `GENURLAUTH 1*(SP url-rump SP mechanism)`: URL rumps with
    /// their mechanism, upper-cased.
    GenUrlAuth {
        /// (rump, mechanism) pairs, at least one.
        urls: Vec<(String, String)>,
    },
    /// RFC 4467 §4: `RESETKEY [SP mailbox *(SP mechanism)]`.
    ResetKey {
        /// The mailbox; None resets every mailbox's key.
        mailbox: Option<String>,
        /// Mechanisms, upper-cased.
        mechanisms: Vec<String>,
    },
    /// RFC 4467 §6 / RFC 5524 §3: `URLFETCH 1*(SP (url / "(" url *(SP param) ")"))`.
    UrlFetch {
        /// The URLs, at least one.
        urls: Vec<UrlFetchArg>,
    },
    /// RFC 9051 §6.3.13 / RFC 2177
    Idle,
    /// RFC 5465 §3.1
    Notify(NotifyArgs),
    /// RFC 3501 §6.4.1
    Check,
    /// RFC 9051 §6.4.1
    Close,
    /// RFC 9051 §6.4.2 / RFC 3691
    Unselect,
    /// RFC 5267 §4.3 `CANCELUPDATE 1*(SP quoted)`: the tags of `RETURN (UPDATE)`
    /// searches whose updates stop.
    CancelUpdate {
        /// The searches' tags.
        tags: Vec<String>,
    },
    /// RFC 9051 §6.4.3 EXPUNGE, or UID EXPUNGE (RFC 9051 §6.4.9, RFC 4315 §2.1)
    /// with its UID set.
    Expunge {
        /// `Some` for UID EXPUNGE.
        uids: Option<Sequence>,
    },
    /// RFC 9051 §6.4.4 (and UID SEARCH), ESEARCH (RFC 4731 §3.1).
    Search {
        /// UID SEARCH.
        uid: bool,
        /// `RETURN (…)`; `None` for a classic `* SEARCH` response.
        ret: Option<Vec<SearchReturn>>,
        /// `CHARSET x`.
        charset: Option<String>,
        /// The criteria (several keys are an [`SearchKey::And`]).
        criteria: SearchKey,
    },
    /// RFC 9051 §6.4.5 (and UID FETCH), modifiers RFC 7162 §3.1.4, §3.2.6.
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// Messages.
        sequence: Sequence,
        /// Items, macros expanded.
        attributes: Vec<FetchAttribute>,
        /// CHANGEDSINCE / VANISHED.
        modifiers: FetchModifiers,
    },
    /// RFC 9051 §6.4.6 (and UID STORE), UNCHANGEDSINCE RFC 7162 §3.1.3.
    Store {
        /// UID STORE.
        uid: bool,
        /// Messages.
        sequence: Sequence,
        /// FLAGS, +FLAGS or -FLAGS.
        action: StoreAction,
        /// `.SILENT`
        silent: bool,
        /// The flags.
        flags: Vec<Flag>,
        /// `UNCHANGEDSINCE n`.
        unchanged_since: Option<u64>,
    },
    /// RFC 9051 §6.4.7 (and UID COPY)
    Copy {
        /// UID COPY.
        uid: bool,
        /// Messages.
        sequence: Sequence,
        /// Target mailbox.
        mailbox: String,
    },
    /// RFC 9051 §6.4.8 / RFC 6851 (and UID MOVE)
    Move {
        /// UID MOVE.
        uid: bool,
        /// Messages.
        sequence: Sequence,
        /// Target mailbox.
        mailbox: String,
    },
    /// RFC 2971 §3.1: `None` for `ID NIL`.
    Id {
        /// Field-value pairs.
        params: Option<Vec<(String, Option<String>)>>,
    },
    /// RFC 5256 §3 SORT (and UID SORT).
    Sort {
        /// UID SORT.
        uid: bool,
        /// RFC 5267 §3 ESORT `RETURN (…)`: an ESEARCH response in sort order; `None`
        /// for a classic `* SORT` response.
        ret: Option<Vec<SearchReturn>>,
        /// Sort criteria, at least one.
        criteria: Vec<SortCriterion>,
        /// Charset of the search strings (mandatory in SORT).
        charset: String,
        /// Search criteria.
        search: SearchKey,
    },
    /// RFC 5256 §3 THREAD (and UID THREAD).
    Thread {
        /// UID THREAD.
        uid: bool,
        /// Threading algorithm.
        algorithm: ThreadAlgorithm,
        /// Charset of the search strings.
        charset: String,
        /// Search criteria.
        search: SearchKey,
    },
    /// RFC 9208 §4.2
    GetQuota {
        /// Quota root.
        root: String,
    },
    /// RFC 9208 §4.3
    GetQuotaRoot {
        /// Mailbox.
        mailbox: String,
    },
    /// RFC 9208 §4.4 (parsed only).
    SetQuota {
        /// Quota root.
        root: String,
        /// Resource names (upper-cased) and limits.
        limits: Vec<(String, u64)>,
    },
    /// RFC 4978 §3: the mechanism, upper-cased (`DEFLATE`).
    Compress {
        /// Compression mechanism.
        mechanism: String,
    },
}

/// Parses one command, as framed by [`super::receiver::Receiver`] (no
/// trailing CRLF). RFC 9051 §6.
pub fn parse(input: &[u8]) -> Result<Request, ParseError> {
    let mut p = Parser::new(input);
    if input.is_empty() {
        return Err(p.error(ErrorKind::Empty));
    }
    let tag = match p.atom_of(is_tag_char, "tag") {
        Ok(t) if matches!(p.peek(), Some(b' ') | None) => t.to_owned(),
        Ok(_) | Err(_) => return Err(p.error(ErrorKind::InvalidTag)),
    };
    let with_tag = |mut e: ParseError| {
        e.tag = Some(tag.clone());
        e
    };
    p.sp().map_err(with_tag)?;
    let command = command(&mut p)
        .and_then(|c| p.end().map(|()| c))
        .map_err(with_tag)?;
    Ok(Request { tag, command })
}

/// Whether a line ends IDLE: `DONE`, case-insensitive. RFC 2177 §3.
pub fn is_idle_done(line: &[u8]) -> bool {
    line.eq_ignore_ascii_case(b"DONE")
}

fn command(p: &mut Parser<'_>) -> PResult<Command> {
    let at = p.pos();
    let name = p.atom_upper()?;
    let unknown = ParseError::at(ErrorKind::UnknownCommand, at);
    Ok(match name.as_str() {
        "CAPABILITY" => Command::Capability,
        "NOOP" => Command::Noop,
        "LOGOUT" => Command::Logout,
        "STARTTLS" => Command::StartTls,
        "AUTHENTICATE" => p.authenticate_args()?,
        "LOGIN" => p.login_args()?,
        "ENABLE" => Command::Enable {
            capabilities: p.sp_each_to_end(Parser::atom_upper)?,
        },
        "SELECT" => Command::Select(p.select_args()?),
        "EXAMINE" => Command::Examine(p.select_args()?),
        "CREATE" => p.create_args()?,
        "DELETE" => Command::Delete {
            mailbox: p.sp_mailbox()?,
        },
        "RENAME" => Command::Rename {
            from: p.sp_mailbox()?,
            to: p.sp_mailbox()?,
        },
        "SUBSCRIBE" => Command::Subscribe {
            mailbox: p.sp_mailbox()?,
        },
        "UNSUBSCRIBE" => Command::Unsubscribe {
            mailbox: p.sp_mailbox()?,
        },
        "LIST" => Command::List(p.list_args()?),
        "LSUB" => p.lsub_args()?,
        "NAMESPACE" => Command::Namespace,
        "STATUS" => p.status_args()?,
        "APPEND" => p.append_args()?,
        "GENURLAUTH" => p.genurlauth_args()?,
        "RESETKEY" => p.resetkey_args()?,
        "URLFETCH" => p.urlfetch_args()?,
        "IDLE" => Command::Idle,
        "NOTIFY" => Command::Notify(p.notify_args()?),
        "CHECK" => Command::Check,
        "CLOSE" => Command::Close,
        "UNSELECT" => Command::Unselect,
        "CANCELUPDATE" => Command::CancelUpdate {
            tags: p.sp_each_to_end(Parser::quoted)?,
        },
        "EXPUNGE" => Command::Expunge { uids: None },
        "ID" => p.id_args()?,
        "GETQUOTA" => {
            p.sp()?;
            Command::GetQuota { root: p.astring()? }
        }
        "GETQUOTAROOT" => Command::GetQuotaRoot {
            mailbox: p.sp_mailbox()?,
        },
        "SETQUOTA" => p.setquota_args()?,
        "COMPRESS" => {
            p.sp()?;
            Command::Compress {
                mechanism: p.atom_upper()?,
            }
        }
        "UID" => {
            p.sp()?;
            let at = p.pos();
            let sub = p.atom_upper()?;
            if sub == "EXPUNGE" {
                p.sp()?;
                Command::Expunge {
                    uids: Some(p.sequence()?),
                }
            } else {
                selected_command(p, &sub, true)?
                    .ok_or(ParseError::at(ErrorKind::UnknownCommand, at))?
            }
        }
        other => selected_command(p, other, false)?.ok_or(unknown)?,
    })
}

/// The commands that also exist as UID commands (RFC 9051 §6.4.9).
fn selected_command(p: &mut Parser<'_>, name: &str, uid: bool) -> PResult<Option<Command>> {
    Ok(Some(match name {
        "FETCH" => p.fetch_args(uid)?,
        "SEARCH" => p.search_args(uid)?,
        "STORE" => p.store_args(uid)?,
        "COPY" | "MOVE" => {
            // RFC 9051 §6.4.7, §6.4.8: `SP sequence-set SP mailbox`.
            p.sp()?;
            let sequence = p.sequence()?;
            let mailbox = p.sp_mailbox()?;
            if name == "COPY" {
                Command::Copy {
                    uid,
                    sequence,
                    mailbox,
                }
            } else {
                Command::Move {
                    uid,
                    sequence,
                    mailbox,
                }
            }
        }
        "SORT" => p.sort_args(uid)?,
        "THREAD" => p.thread_args(uid)?,
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check_errors, check_rows, s, seq};
    use super::*;

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 9051 §6.1
            (b"a001 CAPABILITY", "a001", Command::Capability),
            (b"a002 noop", "a002", Command::Noop),
            (b"A023 LOGOUT", "A023", Command::Logout),
            (b"a001 StartTLS", "a001", Command::StartTls),
            // RFC 5161 §4, RFC 7162 §3.2.3
            (
                b"t2 ENABLE CONDSTORE qresync",
                "t2",
                Command::Enable {
                    capabilities: vec![s("CONDSTORE"), s("QRESYNC")],
                },
            ),
            // RFC 9051 §6.3.10
            (b"A001 NAMESPACE", "A001", Command::Namespace),
            // RFC 2177, RFC 9051 §6.4.1-3, RFC 5267 §4.3, RFC 4315 §2.1.
            (b"a IDLE", "a", Command::Idle),
            (b"FXXZ CHECK", "FXXZ", Command::Check),
            (b"A341 CLOSE", "A341", Command::Close),
            (b"A342 UNSELECT", "A342", Command::Unselect),
            (
                b"B01 CANCELUPDATE \"A1\" \"A2\"",
                "B01",
                Command::CancelUpdate {
                    tags: vec![s("A1"), s("A2")],
                },
            ),
            (b"A202 EXPUNGE", "A202", Command::Expunge { uids: None }),
            (
                b"A003 UID EXPUNGE 3000:3002",
                "A003",
                Command::Expunge {
                    uids: Some(seq("3000:3002")),
                },
            ),
            // RFC 9051 §6.4.7-8, RFC 6851, Thunderbird.
            (
                b"A003 COPY 2:4 MEETING",
                "A003",
                Command::Copy {
                    uid: false,
                    sequence: seq("2:4"),
                    mailbox: s("MEETING"),
                },
            ),
            (
                b"18 uid copy 12 \"Archive\"",
                "18",
                Command::Copy {
                    uid: true,
                    sequence: seq("12"),
                    mailbox: s("Archive"),
                },
            ),
            (
                b"a UID MOVE 42:69 foo",
                "a",
                Command::Move {
                    uid: true,
                    sequence: seq("42:69"),
                    mailbox: s("foo"),
                },
            ),
            (
                b"19 uid move 5 \"Trash\"",
                "19",
                Command::Move {
                    uid: true,
                    sequence: seq("5"),
                    mailbox: s("Trash"),
                },
            ),
            // RFC 4978 §3
            (
                b"a COMPRESS DEFLATE",
                "a",
                Command::Compress {
                    mechanism: s("DEFLATE"),
                },
            ),
        ]);
    }

    #[test]
    fn errors() {
        check_errors(vec![
            // Tags, names, the end of the command.
            (b"+ NOOP", None, ErrorKind::InvalidTag),
            (b"(A1 NOOP", None, ErrorKind::InvalidTag),
            (b"A1\0 NOOP", None, ErrorKind::InvalidTag),
            (b"A1", Some("A1"), ErrorKind::UnexpectedEnd),
            (b"A1  NOOP", Some("A1"), ErrorKind::Expected("atom")),
            (b"A1 FOO", Some("A1"), ErrorKind::UnknownCommand),
            (b"A1 UID FOO 1", Some("A1"), ErrorKind::UnknownCommand),
            (b"A1 UID NOOP", Some("A1"), ErrorKind::UnknownCommand),
            (b"A1 NOOP extra", Some("A1"), ErrorKind::Trailing),
            (b"A1 NOOP\0", Some("A1"), ErrorKind::Nul),
            // Arguments that are primitives.
            (b"A1 COPY 0 x", Some("A1"), ErrorKind::Number),
            (b"A1 ENABLE", Some("A1"), ErrorKind::UnexpectedEnd),
        ]);
        // Not through the receiver: literals that do not match the data.
        let direct: Vec<(&[u8], ErrorKind)> = vec![
            (b"", ErrorKind::Empty),
            (b"A1 SELECT {4294967296}\r\nabc", ErrorKind::UnexpectedEnd),
            (b"A1 APPEND x {5}\r\nabc", ErrorKind::UnexpectedEnd),
            (
                b"A1 LOGIN {3}abc x",
                ErrorKind::Expected("CRLF after literal size"),
            ),
        ];
        for (input, kind) in direct {
            assert_eq!(parse(input).map_err(|e| e.kind), Err(kind), "{:?}", input);
        }
    }

    #[test]
    fn idle_done() {
        assert!(is_idle_done(b"DONE"));
        assert!(is_idle_done(b"done"));
        assert!(!is_idle_done(b"DONE "));
    }

    /// A deterministic fuzz smoke run: random concatenations of IMAP-ish
    /// tokens must parse or fail, never panic.
    #[test]
    fn fuzz_smoke() {
        const TOKENS: &[&[u8]] = &[
            b"A1",
            b" ",
            b"(",
            b")",
            b"\"",
            b"\\",
            b"{",
            b"}",
            b"{3}\r\n",
            b"~{2+}\r\n",
            b"*",
            b"$",
            b":",
            b",",
            b"1",
            b"0",
            b"4294967295",
            b"UID",
            b"FETCH",
            b"SEARCH",
            b"STORE",
            b"NOT",
            b"OR",
            b"BODY[",
            b"]",
            b"<0.1>",
            b"HEADER.FIELDS",
            b"FLAGS",
            b"+FLAGS",
            b"LIST",
            b"APPEND",
            b"SELECT",
            b"QRESYNC",
            b"RETURN",
            b"\0",
            b"\xff",
            b"\r\n",
            b"1-Feb-1994",
            b"SINCE",
            b"SORT",
            b"THREAD",
            b"ID",
            b"NIL",
            b"\"17-Jul-1996 02:44:25 -0700\"",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut input = b"A1 ".to_vec();
            let n = next() % 24;
            for _ in 0..n {
                input.extend_from_slice(TOKENS[(next() % TOKENS.len() as u64) as usize]);
            }
            let _ = parse(&input);
        }
    }
}
