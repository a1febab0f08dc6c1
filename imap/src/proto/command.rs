//! Parses one framed command (see [`super::receiver`]) into a typed
//! [`Request`]: RFC 9051 §6 (IMAP4rev2) and RFC 3501 §6 (IMAP4rev1), with the
//! extensions listed in [`super`].
//!
//! Command names and keywords are case-insensitive (RFC 9051 §9 note 1).
//! Mailbox names are returned undecoded, except that `INBOX` is matched
//! case-insensitively and returned upper-case (RFC 9051 §5.1); the session
//! decodes modified UTF-7 (RFC 9051 §5.1.3) or, after `ENABLE UTF8=ACCEPT`,
//! UTF-8 (RFC 6855 §3).

use base64::Engine as _;

use super::fetch::{FetchAttribute, FetchModifiers};
use super::parser::{ErrorKind, PResult, ParseError, Parser, is_atom_char, is_tag_char};
use super::search::{SearchKey, SearchReturn};
use super::sequence::Sequence;
use super::types::{DateTime, Flag};

/// At most this many field-value pairs in an ID command. RFC 2971 §3.3:
/// "Implementations MUST NOT send more than 30 field-value pairs."
pub const MAX_ID_PAIRS: usize = 30;

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
    /// RFC 9051 §6.3.13 / RFC 2177
    Idle,
    /// RFC 3501 §6.4.1
    Check,
    /// RFC 9051 §6.4.1
    Close,
    /// RFC 9051 §6.4.2 / RFC 3691
    Unselect,
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

/// SELECT / EXAMINE arguments. RFC 9051 §6.3.2, RFC 7162 §3.1.8, §3.2.5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectArgs {
    /// Mailbox name.
    pub mailbox: String,
    /// `(CONDSTORE)` (RFC 7162 §3.1.8).
    pub condstore: bool,
    /// `(QRESYNC (…))` (RFC 7162 §3.2.5).
    pub qresync: Option<QResync>,
}

/// RFC 7162 §3.2.5 QRESYNC select parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    /// The client's last known UIDVALIDITY.
    pub uid_validity: u32,
    /// The client's last known mod-sequence.
    pub mod_seq: u64,
    /// UIDs the client knows (no `*`, RFC 7162 §3.2.5 `known-uids`).
    pub known_uids: Option<Sequence>,
    /// Message sequence numbers and the UIDs they map to.
    pub seq_match: Option<(Sequence, Sequence)>,
}

/// LIST arguments. RFC 9051 §6.3.9, RFC 5258 §3, RFC 5819 §2, RFC 6154 §5.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListArgs {
    /// Reference name.
    pub reference: String,
    /// Patterns, at least one (several with LIST-EXTENDED `("a" "b")`).
    pub patterns: Vec<String>,
    /// Selection options.
    pub select: ListSelect,
    /// Return options.
    pub returns: ListReturn,
    /// Selection or return options were given (LIST-EXTENDED syntax).
    pub extended: bool,
}

/// RFC 5258 §3.1 selection options (and RFC 6154 §5 SPECIAL-USE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListSelect {
    /// `SUBSCRIBED`
    pub subscribed: bool,
    /// `REMOTE`
    pub remote: bool,
    /// `RECURSIVEMATCH`
    pub recursive_match: bool,
    /// `SPECIAL-USE`
    pub special_use: bool,
}

/// RFC 5258 §3.2 return options, RFC 6154 §5, RFC 5819 §2 (STATUS).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListReturn {
    /// `SUBSCRIBED`
    pub subscribed: bool,
    /// `CHILDREN`
    pub children: bool,
    /// `SPECIAL-USE`
    pub special_use: bool,
    /// `STATUS (…)`
    pub status: Option<Vec<StatusItem>>,
}

/// STATUS data items. RFC 9051 §6.3.11, RFC 3501 §6.3.10 (RECENT),
/// RFC 8438 (SIZE), RFC 7162 §3.1.6 (HIGHESTMODSEQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `UNSEEN`
    Unseen,
    /// `RECENT`
    Recent,
    /// `DELETED`
    Deleted,
    /// `SIZE`
    Size,
    /// `HIGHESTMODSEQ`
    HighestModSeq,
}

impl StatusItem {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Recent => "RECENT",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
        }
    }
}

/// One APPEND message. RFC 9051 §6.3.12, RFC 3502 §6.3.11.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags to set.
    pub flags: Vec<Flag>,
    /// Internal date to set.
    pub date: Option<DateTime>,
    /// The message.
    pub data: Vec<u8>,
    /// Sent as literal8 (RFC 3516 §4.4) or `UTF8 (…)` (RFC 6855 §4).
    pub binary: bool,
}

/// STORE action. RFC 9051 §6.4.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// RFC 5256 §3 `sort-key`, RFC 5957 (DISPLAYFROM, DISPLAYTO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `ARRIVAL`
    Arrival,
    /// `CC`
    Cc,
    /// `DATE`
    Date,
    /// `FROM`
    From,
    /// `SIZE`
    Size,
    /// `SUBJECT`
    Subject,
    /// `TO`
    To,
    /// `DISPLAYFROM`
    DisplayFrom,
    /// `DISPLAYTO`
    DisplayTo,
}

/// RFC 5256 §3 `sort-criterion` = ["REVERSE" SP] sort-key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    /// `REVERSE`
    pub reverse: bool,
    /// The key.
    pub key: SortKey,
}

/// RFC 5256 §3 `thread-alg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    /// `ORDEREDSUBJECT`
    OrderedSubject,
    /// `REFERENCES`
    References,
    /// Any other algorithm name (upper-cased); the session answers NO.
    Other(String),
}

/// A response to an AUTHENTICATE continuation. RFC 9051 §6.2.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResponse {
    /// Decoded base64 data.
    Data(Vec<u8>),
    /// `*`: the client cancels; answer `tag BAD`.
    Cancel,
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
    let command = command(&mut p).and_then(|c| p.end().map(|()| c)).map_err(with_tag)?;
    Ok(Request { tag, command })
}

/// Parses a line sent in answer to an AUTHENTICATE continuation request:
/// base64, or `*` to cancel. RFC 9051 §6.2.2.
pub fn parse_auth_response(line: &[u8]) -> Result<AuthResponse, ParseError> {
    if line == b"*" {
        return Ok(AuthResponse::Cancel);
    }
    decode_base64(line, 0).map(AuthResponse::Data)
}

/// Whether a line ends IDLE: `DONE`, case-insensitive. RFC 2177 §3.
pub fn is_idle_done(line: &[u8]) -> bool {
    line.eq_ignore_ascii_case(b"DONE")
}

fn decode_base64(data: &[u8], at: usize) -> Result<Vec<u8>, ParseError> {
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| ParseError {
            tag: None,
            kind: ErrorKind::Invalid("invalid base64"),
            at,
        })
}

fn invalid(at: usize, what: &'static str) -> ParseError {
    ParseError {
        tag: None,
        kind: ErrorKind::Invalid(what),
        at,
    }
}

fn command(p: &mut Parser<'_>) -> PResult<Command> {
    let at = p.pos();
    let name = p.atom()?.to_ascii_uppercase();
    let unknown = ParseError {
        tag: None,
        kind: ErrorKind::UnknownCommand,
        at,
    };
    Ok(match name.as_str() {
        "CAPABILITY" => Command::Capability,
        "NOOP" => Command::Noop,
        "LOGOUT" => Command::Logout,
        "STARTTLS" => Command::StartTls,
        "AUTHENTICATE" => {
            p.sp()?;
            let mechanism = p.atom()?.to_ascii_uppercase();
            let initial_response = if p.eat(b' ') {
                let at = p.pos();
                if p.eat(b'=') {
                    Some(Vec::new())
                } else {
                    let b64 = p.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                    if b64.is_empty() {
                        return p.fail("base64");
                    }
                    Some(decode_base64(b64, at)?)
                }
            } else {
                None
            };
            Command::Authenticate {
                mechanism,
                initial_response,
            }
        }
        "LOGIN" => {
            p.sp()?;
            let username = p.astring()?;
            p.sp()?;
            let password = p.astring()?;
            Command::Login { username, password }
        }
        "ENABLE" => {
            let mut capabilities = Vec::new();
            loop {
                p.sp()?;
                capabilities.push(p.atom()?.to_ascii_uppercase());
                if p.at_end() {
                    break;
                }
            }
            Command::Enable { capabilities }
        }
        "SELECT" => Command::Select(select_args(p)?),
        "EXAMINE" => Command::Examine(select_args(p)?),
        "CREATE" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            let mut special_use = Vec::new();
            if p.eat(b' ') {
                // RFC 4466 §2.2 create-params; RFC 6154 §3 USE.
                p.paren_list(false, |p| {
                    let at = p.pos();
                    if !p.keyword("USE") {
                        return Err(invalid(at, "unknown CREATE parameter"));
                    }
                    p.sp()?;
                    special_use = p.paren_list(false, |p| {
                        p.expect(b'\\', "special-use attribute")?;
                        Ok(format!("\\{}", p.atom()?))
                    })?;
                    Ok(())
                })?;
            }
            Command::Create { mailbox, special_use }
        }
        "DELETE" => Command::Delete {
            mailbox: sp_mailbox(p)?,
        },
        "RENAME" => Command::Rename {
            from: sp_mailbox(p)?,
            to: sp_mailbox(p)?,
        },
        "SUBSCRIBE" => Command::Subscribe {
            mailbox: sp_mailbox(p)?,
        },
        "UNSUBSCRIBE" => Command::Unsubscribe {
            mailbox: sp_mailbox(p)?,
        },
        "LIST" => Command::List(list_args(p)?),
        "LSUB" => {
            let reference = sp_mailbox(p)?;
            p.sp()?;
            Command::Lsub {
                reference,
                pattern: p.list_mailbox()?,
            }
        }
        "NAMESPACE" => Command::Namespace,
        "STATUS" => {
            let mailbox = sp_mailbox(p)?;
            p.sp()?;
            Command::Status {
                mailbox,
                items: status_items(p)?,
            }
        }
        "APPEND" => append(p)?,
        "IDLE" => Command::Idle,
        "CHECK" => Command::Check,
        "CLOSE" => Command::Close,
        "UNSELECT" => Command::Unselect,
        "EXPUNGE" => Command::Expunge { uids: None },
        "ID" => id(p)?,
        "GETQUOTA" => {
            p.sp()?;
            Command::GetQuota { root: p.astring()? }
        }
        "GETQUOTAROOT" => Command::GetQuotaRoot {
            mailbox: sp_mailbox(p)?,
        },
        "SETQUOTA" => {
            p.sp()?;
            let root = p.astring()?;
            p.sp()?;
            let limits = p.paren_list(true, |p| {
                let name = p.atom()?.to_ascii_uppercase();
                p.sp()?;
                Ok((name, p.number64()?))
            })?;
            Command::SetQuota { root, limits }
        }
        "COMPRESS" => {
            p.sp()?;
            Command::Compress {
                mechanism: p.atom()?.to_ascii_uppercase(),
            }
        }
        "UID" => {
            p.sp()?;
            let at = p.pos();
            let sub = p.atom()?.to_ascii_uppercase();
            match sub.as_str() {
                "EXPUNGE" => {
                    p.sp()?;
                    Command::Expunge {
                        uids: Some(p.sequence()?),
                    }
                }
                _ => selected_command(p, &sub, true)?.ok_or(ParseError {
                    tag: None,
                    kind: ErrorKind::UnknownCommand,
                    at,
                })?,
            }
        }
        other => selected_command(p, other, false)?.ok_or(unknown)?,
    })
}

/// The commands that also exist as UID commands.
fn selected_command(p: &mut Parser<'_>, name: &str, uid: bool) -> PResult<Option<Command>> {
    Ok(Some(match name {
        "FETCH" => {
            p.sp()?;
            let sequence = p.sequence()?;
            p.sp()?;
            let attributes = p.fetch_atts()?;
            let modifiers = if p.eat(b' ') {
                let at = p.pos();
                let m = p.fetch_modifiers()?;
                // RFC 7162 §3.2.6: VANISHED only in UID FETCH, only with
                // CHANGEDSINCE.
                if m.vanished && (!uid || m.changed_since.is_none()) {
                    return Err(invalid(at, "VANISHED needs UID FETCH and CHANGEDSINCE"));
                }
                m
            } else {
                FetchModifiers::default()
            };
            Command::Fetch {
                uid,
                sequence,
                attributes,
                modifiers,
            }
        }
        "SEARCH" => {
            p.sp()?;
            let ret = if p.keyword("RETURN") {
                p.sp()?;
                let r = p.search_return_opts()?;
                p.sp()?;
                Some(r)
            } else {
                None
            };
            let (charset, criteria) = p.search_program()?;
            Command::Search {
                uid,
                ret,
                charset,
                criteria,
            }
        }
        "STORE" => store(p, uid)?,
        "COPY" | "MOVE" => {
            p.sp()?;
            let sequence = p.sequence()?;
            let mailbox = sp_mailbox(p)?;
            if name == "COPY" {
                Command::Copy { uid, sequence, mailbox }
            } else {
                Command::Move { uid, sequence, mailbox }
            }
        }
        "SORT" => {
            p.sp()?;
            let criteria = p.paren_list(false, |p| {
                let reverse = p.keyword("REVERSE");
                if reverse {
                    p.sp()?;
                }
                let at = p.pos();
                let key = match p.atom()?.to_ascii_uppercase().as_str() {
                    "ARRIVAL" => SortKey::Arrival,
                    "CC" => SortKey::Cc,
                    "DATE" => SortKey::Date,
                    "FROM" => SortKey::From,
                    "SIZE" => SortKey::Size,
                    "SUBJECT" => SortKey::Subject,
                    "TO" => SortKey::To,
                    "DISPLAYFROM" => SortKey::DisplayFrom,
                    "DISPLAYTO" => SortKey::DisplayTo,
                    _ => {
                        return Err(ParseError {
                            tag: None,
                            kind: ErrorKind::Expected("sort key"),
                            at,
                        });
                    }
                };
                Ok(SortCriterion { reverse, key })
            })?;
            p.sp()?;
            let charset = p.astring()?;
            p.sp()?;
            Command::Sort {
                uid,
                criteria,
                charset,
                search: p.search_keys_to_end()?,
            }
        }
        "THREAD" => {
            p.sp()?;
            let algorithm = match p.atom()?.to_ascii_uppercase().as_str() {
                "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
                "REFERENCES" => ThreadAlgorithm::References,
                other => ThreadAlgorithm::Other(other.to_owned()),
            };
            p.sp()?;
            let charset = p.astring()?;
            p.sp()?;
            Command::Thread {
                uid,
                algorithm,
                charset,
                search: p.search_keys_to_end()?,
            }
        }
        _ => return Ok(None),
    }))
}

fn sp_mailbox(p: &mut Parser<'_>) -> PResult<String> {
    p.sp()?;
    p.mailbox()
}

/// RFC 9051 §6.3.2 `select` with RFC 4466 §2.1 `select-params`.
fn select_args(p: &mut Parser<'_>) -> PResult<SelectArgs> {
    let mut args = SelectArgs {
        mailbox: sp_mailbox(p)?,
        condstore: false,
        qresync: None,
    };
    if p.eat(b' ') {
        p.paren_list(false, |p| {
            let at = p.pos();
            if p.keyword("CONDSTORE") {
                args.condstore = true;
            } else if p.keyword("QRESYNC") {
                p.sp()?;
                args.qresync = Some(qresync(p)?);
            } else {
                return Err(invalid(at, "unknown SELECT parameter"));
            }
            Ok(())
        })?;
    }
    Ok(args)
}

/// RFC 7162 §3.2.5: `"(" uidvalidity SP mod-sequence-value [SP known-uids]
/// [SP seq-match-data] ")"`.
fn qresync(p: &mut Parser<'_>) -> PResult<QResync> {
    p.expect(b'(', "(")?;
    let uid_validity = p.nz_number()?;
    p.sp()?;
    let mod_seq = p.mod_sequence_value()?;
    let mut known_uids = None;
    let mut seq_match = None;
    if p.eat(b' ') {
        if p.peek() != Some(b'(') {
            let at = p.pos();
            let set = p.sequence()?;
            if set_has_star(&set) {
                return Err(invalid(at, "known-uids may not contain *"));
            }
            known_uids = Some(set);
            if p.eat(b' ') {
                seq_match = Some(seq_match_data(p)?);
            }
        } else {
            seq_match = Some(seq_match_data(p)?);
        }
    }
    p.expect(b')', ")")?;
    Ok(QResync {
        uid_validity,
        mod_seq,
        known_uids,
        seq_match,
    })
}

fn set_has_star(s: &Sequence) -> bool {
    use super::sequence::{SeqItem, SeqNumber};
    match s {
        Sequence::Saved => false,
        Sequence::Set(set) => set.items.iter().any(|i| match i {
            SeqItem::Number(n) => *n == SeqNumber::Star,
            SeqItem::Range(a, b) => *a == SeqNumber::Star || *b == SeqNumber::Star,
        }),
    }
}

/// RFC 7162 §3.2.5 `seq-match-data` = "(" known-sequence-set SP
/// known-uid-set ")".
fn seq_match_data(p: &mut Parser<'_>) -> PResult<(Sequence, Sequence)> {
    p.expect(b'(', "(")?;
    let seqs = p.sequence()?;
    p.sp()?;
    let uids = p.sequence()?;
    p.expect(b')', ")")?;
    Ok((seqs, uids))
}

/// RFC 9051 §9 `status-att` list, non-empty.
fn status_items(p: &mut Parser<'_>) -> PResult<Vec<StatusItem>> {
    p.paren_list(false, |p| {
        let at = p.pos();
        Ok(match p.atom()?.to_ascii_uppercase().as_str() {
            "MESSAGES" => StatusItem::Messages,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "RECENT" => StatusItem::Recent,
            "DELETED" => StatusItem::Deleted,
            "SIZE" => StatusItem::Size,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            _ => {
                return Err(ParseError {
                    tag: None,
                    kind: ErrorKind::Expected("status item"),
                    at,
                });
            }
        })
    })
}

/// RFC 5258 §6 `list` = "LIST" [SP list-select-opts] SP mailbox SP
/// mbox-or-pat [SP list-return-opts].
fn list_args(p: &mut Parser<'_>) -> PResult<ListArgs> {
    let mut args = ListArgs::default();
    p.sp()?;
    if p.peek() == Some(b'(') {
        args.extended = true;
        let at = p.pos();
        p.paren_list(true, |p| {
            let at = p.pos();
            let opt = p.atom()?.to_ascii_uppercase();
            match opt.as_str() {
                "SUBSCRIBED" => args.select.subscribed = true,
                "REMOTE" => args.select.remote = true,
                "RECURSIVEMATCH" => args.select.recursive_match = true,
                "SPECIAL-USE" => args.select.special_use = true,
                // RFC 5258 §3: unknown selection options are an error.
                _ => return Err(invalid(at, "unknown LIST selection option")),
            }
            Ok(())
        })?;
        // RFC 5258 §3.1: RECURSIVEMATCH alone (or with REMOTE only) is BAD.
        let s = args.select;
        if s.recursive_match && !s.subscribed && !s.special_use {
            return Err(invalid(at, "RECURSIVEMATCH needs another selection option"));
        }
        p.sp()?;
    }
    args.reference = p.mailbox()?;
    p.sp()?;
    if p.peek() == Some(b'(') {
        args.extended = true;
        args.patterns = p.paren_list(false, |p| p.list_mailbox())?;
    } else {
        args.patterns = vec![p.list_mailbox()?];
    }
    if p.eat(b' ') {
        args.extended = true;
        if !p.keyword("RETURN") {
            return p.fail("RETURN");
        }
        p.sp()?;
        p.paren_list(true, |p| {
            let at = p.pos();
            let opt = p.atom()?.to_ascii_uppercase();
            match opt.as_str() {
                "SUBSCRIBED" => args.returns.subscribed = true,
                "CHILDREN" => args.returns.children = true,
                "SPECIAL-USE" => args.returns.special_use = true,
                "STATUS" => {
                    p.sp()?;
                    args.returns.status = Some(status_items(p)?);
                }
                _ => return Err(invalid(at, "unknown LIST return option")),
            }
            Ok(())
        })?;
    }
    Ok(args)
}

/// RFC 9051 §6.3.12 / RFC 3502 §6.3.11: `"APPEND" SP mailbox
/// 1*append-message`, `append-message = [SP flag-list] [SP date-time] SP
/// append-data`.
fn append(p: &mut Parser<'_>) -> PResult<Command> {
    let mailbox = sp_mailbox(p)?;
    let mut messages = Vec::new();
    loop {
        p.sp()?;
        let mut flags = Vec::new();
        if p.peek() == Some(b'(') {
            flags = p.flag_list()?;
            p.sp()?;
        }
        let mut date = None;
        if p.peek() == Some(b'"') {
            date = Some(p.date_time()?);
            p.sp()?;
        }
        let (data, binary) = if p.keyword("UTF8") {
            // RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")".
            p.sp()?;
            p.expect(b'(', "(")?;
            if p.peek() != Some(b'~') {
                return p.fail("literal8");
            }
            let (data, _) = p.literal()?;
            p.expect(b')', ")")?;
            (data, true)
        } else {
            match p.peek() {
                Some(b'{' | b'~') => p.literal()?,
                _ => return p.fail("literal"),
            }
        };
        messages.push(AppendMessage {
            flags,
            date,
            data: data.to_vec(),
            binary,
        });
        if p.at_end() {
            break;
        }
    }
    Ok(Command::Append { mailbox, messages })
}

/// RFC 2971 §4: `"ID" SP id-params-list`, `id-params-list = "(" *(string
/// SP nstring) ")" / nil`.
fn id(p: &mut Parser<'_>) -> PResult<Command> {
    p.sp()?;
    if p.keyword("NIL") {
        return Ok(Command::Id { params: None });
    }
    let at = p.pos();
    let params = p.paren_list(true, |p| {
        let field = p.string()?;
        p.sp()?;
        Ok((field, p.nstring()?))
    })?;
    if params.len() > MAX_ID_PAIRS {
        return Err(invalid(at, "too many ID fields"));
    }
    Ok(Command::Id {
        params: Some(params),
    })
}

/// RFC 9051 §6.4.6 `store` = "STORE" SP sequence-set [SP store-modifiers]
/// SP store-att-flags; RFC 7162 §3.1.3 UNCHANGEDSINCE.
fn store(p: &mut Parser<'_>, uid: bool) -> PResult<Command> {
    p.sp()?;
    let sequence = p.sequence()?;
    p.sp()?;
    let mut unchanged_since = None;
    if p.peek() == Some(b'(') {
        p.paren_list(false, |p| {
            let at = p.pos();
            if !p.keyword("UNCHANGEDSINCE") {
                return Err(invalid(at, "unknown STORE modifier"));
            }
            p.sp()?;
            unchanged_since = Some(p.number64()?);
            Ok(())
        })?;
        p.sp()?;
    }
    let action = if p.eat(b'+') {
        StoreAction::Add
    } else if p.eat(b'-') {
        StoreAction::Remove
    } else {
        StoreAction::Replace
    };
    let silent = if p.keyword("FLAGS") {
        false
    } else if p.keyword("FLAGS.SILENT") {
        true
    } else {
        return p.fail("FLAGS");
    };
    p.sp()?;
    let flags = if p.peek() == Some(b'(') {
        p.flag_list()?
    } else {
        let mut flags = vec![p.flag()?];
        while p.eat(b' ') {
            flags.push(p.flag()?);
        }
        flags
    };
    Ok(Command::Store {
        uid,
        sequence,
        action,
        silent,
        flags,
        unchanged_since,
    })
}

// Keep `is_atom_char` referenced for the flag grammar documentation.
const _: fn(u8) -> bool = is_atom_char;
