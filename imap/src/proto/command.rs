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
use super::notify::NotifyArgs;
use super::parser::{ErrorKind, PResult, ParseError, Parser, is_tag_char};
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
    /// The message, or the parts to catenate into it.
    pub content: AppendContent,
}

/// RFC 9051 §9 / RFC 4466 §2.3 `append-data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendContent {
    /// A literal; `binary` when sent as literal8 (RFC 3516 §4.4) or `UTF8 (…)`
    /// (RFC 6855 §4).
    Literal {
        /// The message.
        data: Vec<u8>,
        /// literal8.
        binary: bool,
    },
    /// `CATENATE (…)`: the parts, in order, at least one (RFC 4469 §5).
    Catenate(Vec<CatPart>),
}

/// RFC 4469 §5 `cat-part = text-literal / url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`
    Text(Vec<u8>),
    /// `URL astring`: an IMAP URL (RFC 5092), not yet parsed.
    Url(String),
}

/// One URLFETCH argument. RFC 4467 §6, RFC 5524 §3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlFetchArg {
    /// The URL, not yet parsed.
    pub url: String,
    /// RFC 5524 §3: the parenthesized form, with what it asks for; None for a bare
    /// URL (its content as a string, RFC 4467 §6).
    pub params: Option<UrlFetchParams>,
}

/// RFC 5524 §3 `urlfetch-param`s of one URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlFetchParams {
    /// `BODYPARTSTRUCTURE`
    pub body_part_structure: bool,
    /// `BINARY`: the content decoded.
    pub binary: bool,
    /// `BODY`: the content as stored.
    pub body: bool,
}

/// Most URLs in one GENURLAUTH or URLFETCH. RFC 4467 sets no limit; each costs a
/// message (or key) read, and clients send one or a few.
pub const MAX_URLS: usize = 100;

/// Most parts in one `CATENATE (…)`. RFC 4469 sets no limit; Dovecot's clients send
/// a handful, and each part costs a message lookup.
pub const MAX_CATENATE_PARTS: usize = 256;

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
    let command = command(&mut p)
        .and_then(|c| p.end().map(|()| c))
        .map_err(with_tag)?;
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
                    let b64 = p.take_while(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
                    });
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
            Command::Create {
                mailbox,
                special_use,
            }
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
        "GENURLAUTH" => genurlauth(p)?,
        "RESETKEY" => {
            let mut mailbox = None;
            let mut mechanisms = Vec::new();
            if !p.at_end() {
                mailbox = Some(sp_mailbox(p)?);
                while !p.at_end() {
                    p.sp()?;
                    mechanisms.push(p.atom()?.to_ascii_uppercase());
                }
            }
            Command::ResetKey {
                mailbox,
                mechanisms,
            }
        }
        "URLFETCH" => urlfetch(p)?,
        "IDLE" => Command::Idle,
        "NOTIFY" => Command::Notify(p.notify_args()?),
        "CHECK" => Command::Check,
        "CLOSE" => Command::Close,
        "UNSELECT" => Command::Unselect,
        "CANCELUPDATE" => {
            let mut tags = Vec::new();
            loop {
                p.sp()?;
                tags.push(p.quoted()?);
                if p.at_end() {
                    break;
                }
            }
            Command::CancelUpdate { tags }
        }
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
/// `[RETURN (…) SP]` before SEARCH's or SORT's arguments (RFC 4731 §3.1 ESEARCH,
/// RFC 5267 §3 ESORT): `None` when absent (the classic response).
fn optional_return(p: &mut Parser<'_>) -> PResult<Option<Vec<SearchReturn>>> {
    if !p.keyword("RETURN") {
        return Ok(None);
    }
    p.sp()?;
    let r = p.search_return_opts()?;
    p.sp()?;
    Ok(Some(r))
}

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
            let ret = optional_return(p)?;
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
        "SORT" => {
            p.sp()?;
            let ret = optional_return(p)?;
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
                ret,
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
            // RFC 7162 §3.2.5: known-uids are UIDs; `$` means nothing here.
            let set = Sequence::Set(p.sequence_set()?);
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
        Sequence::Set(set) | Sequence::SetAndSaved(set) => set.items.iter().any(|i| match i {
            SeqItem::Number(n) => *n == SeqNumber::Star,
            SeqItem::Range(a, b) => *a == SeqNumber::Star || *b == SeqNumber::Star,
        }),
    }
}

/// RFC 7162 §3.2.5 `seq-match-data` = "(" known-sequence-set SP
/// known-uid-set ")".
fn seq_match_data(p: &mut Parser<'_>) -> PResult<(Sequence, Sequence)> {
    p.expect(b'(', "(")?;
    let seqs = Sequence::Set(p.sequence_set()?);
    p.sp()?;
    let uids = Sequence::Set(p.sequence_set()?);
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
        let content = if p.keyword("UTF8") {
            // RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")".
            p.sp()?;
            p.expect(b'(', "(")?;
            if p.peek() != Some(b'~') {
                return p.fail("literal8");
            }
            let (data, _) = p.literal()?;
            p.expect(b')', ")")?;
            AppendContent::Literal {
                data: data.to_vec(),
                binary: true,
            }
        } else if p.keyword("CATENATE") {
            p.sp()?;
            AppendContent::Catenate(cat_parts(p)?)
        } else {
            match p.peek() {
                Some(b'{' | b'~') => {
                    let (data, binary) = p.literal()?;
                    AppendContent::Literal {
                        data: data.to_vec(),
                        binary,
                    }
                }
                _ => return p.fail("literal"),
            }
        };
        messages.push(AppendMessage {
            flags,
            date,
            content,
        });
        if p.at_end() {
            break;
        }
    }
    Ok(Command::Append { mailbox, messages })
}

/// RFC 4467 §9: `genurlauth = "GENURLAUTH" 1*(SP url-rump SP mechanism)`,
/// `url-rump = astring`, `mechanism = "INTERNAL" / 1*(ALPHA / DIGIT / "-" / ".")`.
fn genurlauth(p: &mut Parser<'_>) -> PResult<Command> {
    let mut urls = Vec::new();
    loop {
        p.sp()?;
        let url = p.astring()?;
        p.sp()?;
        let at = p.pos();
        let mechanism = p.atom()?.to_ascii_uppercase();
        if !mechanism
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        {
            return Err(invalid(at, "URLAUTH mechanism"));
        }
        urls.push((url, mechanism));
        if urls.len() > MAX_URLS {
            return Err(invalid(at, "too many URLs"));
        }
        if p.at_end() {
            return Ok(Command::GenUrlAuth { urls });
        }
    }
}

/// RFC 4467 §9 `urlfetch = "URLFETCH" 1*(SP url)`, extended by RFC 5524 §6:
/// a URL may be `"(" url *(SP urlfetch-param) ")"`, `urlfetch-param =
/// "BODYPARTSTRUCTURE" / "BINARY" / "BODY"` (BINARY and BODY exclusive).
fn urlfetch(p: &mut Parser<'_>) -> PResult<Command> {
    let mut urls = Vec::new();
    loop {
        p.sp()?;
        let at = p.pos();
        let arg = if p.eat(b'(') {
            let url = p.astring()?;
            let mut params = UrlFetchParams::default();
            while !p.eat(b')') {
                p.sp()?;
                let at = p.pos();
                let name = p.atom()?.to_ascii_uppercase();
                let flag = match name.as_str() {
                    "BODYPARTSTRUCTURE" => &mut params.body_part_structure,
                    "BINARY" => &mut params.binary,
                    "BODY" => &mut params.body,
                    _ => return Err(invalid(at, "unknown URLFETCH parameter")),
                };
                *flag = true;
            }
            if params.binary && params.body {
                return Err(invalid(at, "BINARY and BODY exclude each other"));
            }
            UrlFetchArg {
                url,
                params: Some(params),
            }
        } else {
            UrlFetchArg {
                url: p.astring()?,
                params: None,
            }
        };
        urls.push(arg);
        if urls.len() > MAX_URLS {
            return Err(invalid(at, "too many URLs"));
        }
        if p.at_end() {
            return Ok(Command::UrlFetch { urls });
        }
    }
}

/// RFC 4469 §5: `"CATENATE" SP "(" cat-part *(SP cat-part) ")"`, `cat-part =
/// text-literal / url`, `text-literal = "TEXT" SP literal`, `url = "URL" SP astring`.
fn cat_parts(p: &mut Parser<'_>) -> PResult<Vec<CatPart>> {
    let at = p.pos();
    let parts = p.paren_list(false, |p| {
        if p.keyword("TEXT") {
            p.sp()?;
            if p.peek() != Some(b'{') {
                return p.fail("literal");
            }
            let (data, _) = p.literal()?;
            Ok(CatPart::Text(data.to_vec()))
        } else if p.keyword("URL") {
            p.sp()?;
            Ok(CatPart::Url(p.astring()?))
        } else {
            p.fail("TEXT or URL")
        }
    })?;
    if parts.len() > MAX_CATENATE_PARTS {
        return Err(invalid(at, "too many CATENATE parts"));
    }
    Ok(parts)
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::super::fetch::{Partial, Section, SectionText};
    use super::super::notify::{EventGroup, EventName as E, Filter};
    use super::super::receiver::{Event, Limits, Receiver};
    use super::super::search::SearchKey as K;
    use super::super::sequence::parse_sequence;
    use super::super::types::Date;
    use super::*;
    use FetchAttribute as F;

    /// Frames `input` with the receiver whole, split at every byte and byte
    /// by byte; all must give the same single command, which is returned.
    fn frame(input: &[u8]) -> Vec<u8> {
        fn run(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
            let mut r = Receiver::new(Limits::default());
            let mut pending = Vec::new();
            let mut out = Vec::new();
            for chunk in chunks {
                pending.extend_from_slice(chunk);
                loop {
                    let (n, ev) = r.feed(&pending);
                    pending.drain(..n);
                    match ev {
                        Event::NeedMore => break,
                        Event::NeedsContinuation => {}
                        Event::Command(c) => out.push(c),
                        other => panic!("{other:?}"),
                    }
                }
            }
            out
        }
        let whole = run(&[input]);
        assert_eq!(whole.len(), 1, "{:?}", String::from_utf8_lossy(input));
        for k in 0..=input.len() {
            let (a, b) = input.split_at(k);
            assert_eq!(run(&[a, b]), whole, "split at {k}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(&bytes), whole);
        whole.into_iter().next().unwrap_or_default()
    }

    /// Frames `line` + CRLF and `line` + LF (must agree), then parses.
    fn req(line: &[u8]) -> Result<Request, ParseError> {
        let mut input = line.to_vec();
        input.extend_from_slice(b"\n");
        let lf = frame(&input);
        input.pop();
        input.extend_from_slice(b"\r\n");
        let crlf = frame(&input);
        assert_eq!(lf, crlf);
        parse(&crlf)
    }

    fn s(v: &str) -> String {
        v.to_owned()
    }

    fn seq(v: &str) -> Sequence {
        parse_sequence(v.as_bytes()).unwrap()
    }

    fn date(year: u16, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    fn sel(mailbox: &str) -> SelectArgs {
        SelectArgs {
            mailbox: s(mailbox),
            condstore: false,
            qresync: None,
        }
    }

    fn list(reference: &str, patterns: &[&str]) -> ListArgs {
        ListArgs {
            reference: s(reference),
            patterns: patterns.iter().map(|p| s(p)).collect(),
            ..ListArgs::default()
        }
    }

    fn header_fields(peek: bool, names: &[&str]) -> F {
        F::BodySection {
            peek,
            section: Section {
                part: vec![],
                text: Some(SectionText::HeaderFields(
                    names.iter().map(|n| s(n)).collect(),
                )),
            },
            partial: None,
        }
    }

    fn msg(flags: Vec<Flag>, date: Option<DateTime>, data: &[u8], binary: bool) -> AppendMessage {
        AppendMessage {
            flags,
            date,
            content: AppendContent::Literal {
                data: data.to_vec(),
                binary,
            },
        }
    }

    fn dt(s: &str) -> DateTime {
        Parser::new(s.as_bytes()).date_time().unwrap()
    }

    fn fetch(uid: bool, set: &str, attributes: Vec<F>) -> Command {
        Command::Fetch {
            uid,
            sequence: seq(set),
            attributes,
            modifiers: FetchModifiers::default(),
        }
    }

    fn store(uid: bool, set: &str, action: StoreAction, silent: bool, flags: Vec<Flag>) -> Command {
        Command::Store {
            uid,
            sequence: seq(set),
            action,
            silent,
            flags,
            unchanged_since: None,
        }
    }

    fn search(uid: bool, criteria: K) -> Command {
        Command::Search {
            uid,
            ret: None,
            charset: None,
            criteria,
        }
    }

    fn b(v: &str) -> Vec<u8> {
        v.as_bytes().to_vec()
    }

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
    fn rfc_and_client_examples() {
        let rows: Vec<(&[u8], &str, Command)> = vec![
            // RFC 9051 §6.1
            (b"a001 CAPABILITY", "a001", Command::Capability),
            (b"a002 noop", "a002", Command::Noop),
            (b"A023 LOGOUT", "A023", Command::Logout),
            (b"a001 StartTLS", "a001", Command::StartTls),
            // RFC 9051 §6.2.2, RFC 4959 §3, Thunderbird.
            (
                b"A001 AUTHENTICATE GSSAPI",
                "A001",
                Command::Authenticate {
                    mechanism: s("GSSAPI"),
                    initial_response: None,
                },
            ),
            (
                b"2 authenticate PLAIN",
                "2",
                Command::Authenticate {
                    mechanism: s("PLAIN"),
                    initial_response: None,
                },
            ),
            (
                b"a01 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=",
                "a01",
                Command::Authenticate {
                    mechanism: s("PLAIN"),
                    initial_response: Some(b("test\0test\0test")),
                },
            ),
            (
                b"a02 AUTHENTICATE EXTERNAL =",
                "a02",
                Command::Authenticate {
                    mechanism: s("EXTERNAL"),
                    initial_response: Some(vec![]),
                },
            ),
            // RFC 9051 §6.2.3, Thunderbird's quoted form, literals.
            (
                b"a001 LOGIN SMITH SESAME",
                "a001",
                Command::Login {
                    username: s("SMITH"),
                    password: s("SESAME"),
                },
            ),
            (
                b"3 login \"user@example.org\" \"p\\\"w\\\\d\"",
                "3",
                Command::Login {
                    username: s("user@example.org"),
                    password: s("p\"w\\d"),
                },
            ),
            (
                b"A1 LOGIN {4}\r\nuser {6+}\r\np ss\"\\",
                "A1",
                Command::Login {
                    username: s("user"),
                    password: s("p ss\"\\"),
                },
            ),
            // RFC 5161 §4, RFC 7162 §3.2.3
            (
                b"t2 ENABLE CONDSTORE qresync",
                "t2",
                Command::Enable {
                    capabilities: vec![s("CONDSTORE"), s("QRESYNC")],
                },
            ),
            // RFC 9051 §6.3.2, §6.3.3, Thunderbird.
            (b"A142 SELECT INBOX", "A142", Command::Select(sel("INBOX"))),
            (b"5 select \"inbox\"", "5", Command::Select(sel("INBOX"))),
            (b"A932 EXAMINE blurdybloop", "A932", Command::Examine(sel("blurdybloop"))),
            (
                b"A1 SELECT \"&ZeVnLIqe-/Caf\\\"e\"",
                "A1",
                Command::Select(sel("&ZeVnLIqe-/Caf\"e")),
            ),
            // RFC 7162 §3.1.8, §3.2.5.1
            (
                b"a SELECT INBOX (CONDSTORE)",
                "a",
                Command::Select(SelectArgs {
                    condstore: true,
                    ..sel("INBOX")
                }),
            ),
            (
                b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
                "A02",
                Command::Select(SelectArgs {
                    qresync: Some(QResync {
                        uid_validity: 67890007,
                        mod_seq: 20050715194045000,
                        known_uids: Some(seq("41,43:211,214:541")),
                        seq_match: None,
                    }),
                    ..sel("INBOX")
                }),
            ),
            (
                b"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9500 5000,7500,9000,9500)))",
                "B04",
                Command::Select(SelectArgs {
                    qresync: Some(QResync {
                        uid_validity: 67890007,
                        mod_seq: 90060115194045000,
                        known_uids: Some(seq("1:29997")),
                        seq_match: Some((seq("5000,7500,9000,9500"), seq("5000,7500,9000,9500"))),
                    }),
                    ..sel("INBOX")
                }),
            ),
            (
                b"A03 EXAMINE INBOX (QRESYNC (67890007 90060115194045000))",
                "A03",
                Command::Examine(SelectArgs {
                    qresync: Some(QResync {
                        uid_validity: 67890007,
                        mod_seq: 90060115194045000,
                        known_uids: None,
                        seq_match: None,
                    }),
                    ..sel("INBOX")
                }),
            ),
            // RFC 9051 §6.3.4-8, RFC 6154 §5.2
            (
                b"A003 CREATE owatagusiam/",
                "A003",
                Command::Create {
                    mailbox: s("owatagusiam/"),
                    special_use: vec![],
                },
            ),
            (
                b"t1 CREATE \"Important Messages\" (USE (\\Important \\Sent))",
                "t1",
                Command::Create {
                    mailbox: s("Important Messages"),
                    special_use: vec![s("\\Important"), s("\\Sent")],
                },
            ),
            (b"A683 DELETE blurdybloop", "A683", Command::Delete { mailbox: s("blurdybloop") }),
            (
                b"A683 RENAME blurdybloop sarasoop",
                "A683",
                Command::Rename {
                    from: s("blurdybloop"),
                    to: s("sarasoop"),
                },
            ),
            (
                b"11 rename \"X\" \"Trash/X\"",
                "11",
                Command::Rename {
                    from: s("X"),
                    to: s("Trash/X"),
                },
            ),
            (
                b"A002 SUBSCRIBE #news.comp.mail.mime",
                "A002",
                Command::Subscribe {
                    mailbox: s("#news.comp.mail.mime"),
                },
            ),
            (
                b"A002 UNSUBSCRIBE #news.comp.mail.mime",
                "A002",
                Command::Unsubscribe {
                    mailbox: s("#news.comp.mail.mime"),
                },
            ),
            // RFC 9051 §6.3.9
            (b"A101 LIST \"\" \"\"", "A101", Command::List(list("", &[""]))),
            (b"A202 LIST ~/Mail/ %", "A202", Command::List(list("~/Mail/", &["%"]))),
            (b"A1 list \"\" *]", "A1", Command::List(list("", &["*]"]))),
            // Thunderbird.
            (b"6 list \"\" \"INBOX\"", "6", Command::List(list("", &["INBOX"]))),
            (
                b"5 list (subscribed) \"\" \"*\" return (special-use)",
                "5",
                Command::List(ListArgs {
                    select: ListSelect {
                        subscribed: true,
                        ..ListSelect::default()
                    },
                    returns: ListReturn {
                        special_use: true,
                        ..ListReturn::default()
                    },
                    extended: true,
                    ..list("", &["*"])
                }),
            ),
            // RFC 5258 §5
            (
                b"A03 LIST () \"\" \"%\" RETURN (CHILDREN)",
                "A03",
                Command::List(ListArgs {
                    returns: ListReturn {
                        children: true,
                        ..ListReturn::default()
                    },
                    extended: true,
                    ..list("", &["%"])
                }),
            ),
            (
                b"A05 LIST (REMOTE SUBSCRIBED) \"/\" \"*\"",
                "A05",
                Command::List(ListArgs {
                    select: ListSelect {
                        subscribed: true,
                        remote: true,
                        ..ListSelect::default()
                    },
                    extended: true,
                    ..list("/", &["*"])
                }),
            ),
            (
                b"C04 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)",
                "C04",
                Command::List(ListArgs {
                    select: ListSelect {
                        subscribed: true,
                        recursive_match: true,
                        ..ListSelect::default()
                    },
                    returns: ListReturn {
                        children: true,
                        ..ListReturn::default()
                    },
                    extended: true,
                    ..list("", &["%"])
                }),
            ),
            (
                b"BBB LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")",
                "BBB",
                Command::List(ListArgs {
                    extended: true,
                    ..list("", &["INBOX", "Drafts", "Sent/%"])
                }),
            ),
            // RFC 5819 §3, RFC 6154 §5.1
            (
                b"A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))",
                "A01",
                Command::List(ListArgs {
                    returns: ListReturn {
                        status: Some(vec![StatusItem::Messages, StatusItem::Unseen]),
                        ..ListReturn::default()
                    },
                    extended: true,
                    ..list("", &["%"])
                }),
            ),
            (
                b"t1 LIST (SPECIAL-USE) \"\" \"*\" RETURN (SUBSCRIBED)",
                "t1",
                Command::List(ListArgs {
                    select: ListSelect {
                        special_use: true,
                        ..ListSelect::default()
                    },
                    returns: ListReturn {
                        subscribed: true,
                        ..ListReturn::default()
                    },
                    extended: true,
                    ..list("", &["*"])
                }),
            ),
            (
                b"A002 LSUB \"#news.\" \"comp.mail.*\"",
                "A002",
                Command::Lsub {
                    reference: s("#news."),
                    pattern: s("comp.mail.*"),
                },
            ),
            (b"A001 NAMESPACE", "A001", Command::Namespace),
            // RFC 9051 §6.3.11, Thunderbird.
            (
                b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
                "A042",
                Command::Status {
                    mailbox: s("blurdybloop"),
                    items: vec![StatusItem::UidNext, StatusItem::Messages],
                },
            ),
            (
                b"7 STATUS \"Drafts\" (UIDNEXT MESSAGES UNSEEN RECENT)",
                "7",
                Command::Status {
                    mailbox: s("Drafts"),
                    items: vec![StatusItem::UidNext, StatusItem::Messages, StatusItem::Unseen, StatusItem::Recent],
                },
            ),
            (
                b"A1 STATUS x (uidvalidity deleted size highestmodseq)",
                "A1",
                Command::Status {
                    mailbox: s("x"),
                    items: vec![
                        StatusItem::UidValidity,
                        StatusItem::Deleted,
                        StatusItem::Size,
                        StatusItem::HighestModSeq,
                    ],
                },
            ),
            // RFC 9051 §6.3.12
            (
                b"A003 APPEND saved-messages (\\Seen) {21}\r\nFrom: a@b\r\n\r\nHi there",
                "A003",
                Command::Append {
                    mailbox: s("saved-messages"),
                    messages: vec![msg(vec![Flag::Seen], None, b"From: a@b\r\n\r\nHi there", false)],
                },
            ),
            (
                b"A004 APPEND x \"17-Jul-1996 02:44:25 -0700\" {2}\r\nhi",
                "A004",
                Command::Append {
                    mailbox: s("x"),
                    messages: vec![msg(vec![], Some(dt("\"17-Jul-1996 02:44:25 -0700\"")), b"hi", false)],
                },
            ),
            // Thunderbird's FCC with LITERAL+.
            (
                b"9 append \"Sent\" (\\Seen) {5+}\r\nhello",
                "9",
                Command::Append {
                    mailbox: s("Sent"),
                    messages: vec![msg(vec![Flag::Seen], None, b"hello", false)],
                },
            ),
            // RFC 3502 §6.3.11 MULTIAPPEND, RFC 3516 literal8, RFC 6855 UTF8.
            (
                b"A003 APPEND saved-messages (\\Seen) {3}\r\none (\\Flagged) \" 1-Aug-2002 22:00:00 -0700\" ~{3}\r\nt\0o UTF8 (~{5+}\r\ntr\xc3\xa9s)",
                "A003",
                Command::Append {
                    mailbox: s("saved-messages"),
                    messages: vec![
                        msg(vec![Flag::Seen], None, b"one", false),
                        msg(vec![Flag::Flagged], Some(dt("\" 1-Aug-2002 22:00:00 -0700\"")), b"t\0o", true),
                        msg(vec![], None, "trés".as_bytes(), true),
                    ],
                },
            ),
            // RFC 4469 Appendix A example 1 (shortened text), and CATENATE beside a
            // literal in one MULTIAPPEND (imaptest catenate-multiappend).
            (
                b"A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" TEXT {4}\r\n\r\n-- URL \"/Drafts;UIDVALIDITY=385759045/;UID=30\")",
                "A003",
                Command::Append {
                    mailbox: s("Drafts"),
                    messages: vec![AppendMessage {
                        flags: vec![Flag::Seen, Flag::Draft, Flag::Keyword(s("$MDNSent"))],
                        date: None,
                        content: AppendContent::Catenate(vec![
                            CatPart::Url(s("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER")),
                            CatPart::Text(b"\r\n--".to_vec()),
                            CatPart::Url(s("/Drafts;UIDVALIDITY=385759045/;UID=30")),
                        ]),
                    }],
                },
            ),
            (
                b"a append box catenate (url \"/box/;uid=1\") (\\Answered) {2}\r\nhi",
                "a",
                Command::Append {
                    mailbox: s("box"),
                    messages: vec![
                        AppendMessage {
                            flags: vec![],
                            date: None,
                            content: AppendContent::Catenate(vec![CatPart::Url(s("/box/;uid=1"))]),
                        },
                        msg(vec![Flag::Answered], None, b"hi", false),
                    ],
                },
            ),
            // RFC 4467 §7 / §6 examples, RFC 5524 §3 and imaptest urlauth-binary.
            (
                b"a002 GENURLAUTH \"imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred\" INTERNAL",
                "a002",
                Command::GenUrlAuth {
                    urls: vec![(
                        s("imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred"),
                        s("INTERNAL"),
                    )],
                },
            ),
            (
                b"a001 URLFETCH imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038",
                "a001",
                Command::UrlFetch {
                    urls: vec![UrlFetchArg {
                        url: s("imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038"),
                        params: None,
                    }],
                },
            ),
            (
                b"b URLFETCH (imap://a@b/X/;uid=1;urlauth=anonymous:internal:91354a473744909de610943775f92038 binary BODYPARTSTRUCTURE) \"/x\"",
                "b",
                Command::UrlFetch {
                    urls: vec![
                        UrlFetchArg {
                            url: s("imap://a@b/X/;uid=1;urlauth=anonymous:internal:91354a473744909de610943775f92038"),
                            params: Some(UrlFetchParams {
                                body_part_structure: true,
                                binary: true,
                                body: false,
                            }),
                        },
                        UrlFetchArg {
                            url: s("/x"),
                            params: None,
                        },
                    ],
                },
            ),
            (
                b"c RESETKEY",
                "c",
                Command::ResetKey {
                    mailbox: None,
                    mechanisms: vec![],
                },
            ),
            (
                b"c RESETKEY INBOX internal",
                "c",
                Command::ResetKey {
                    mailbox: Some(s("INBOX")),
                    mechanisms: vec![s("INTERNAL")],
                },
            ),
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
            // RFC 9051 §6.4.4, RFC 4731 §3.1, Thunderbird.
            (
                b"A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
                "A282",
                search(
                    false,
                    K::And(vec![K::Flagged, K::Since(date(1994, 2, 1)), K::Not(Box::new(K::From(b("Smith"))))]),
                ),
            ),
            (
                b"A283 SEARCH TEXT \"string not in mailbox\"",
                "A283",
                search(false, K::Text(b("string not in mailbox"))),
            ),
            (
                "A284 SEARCH CHARSET UTF-8 TEXT {12}\r\nотпуск".as_bytes(),
                "A284",
                Command::Search {
                    uid: false,
                    ret: None,
                    charset: Some(s("UTF-8")),
                    criteria: K::Text(b("отпуск")),
                },
            ),
            (
                b"A285 SEARCH RETURN (MIN COUNT) FLAGGED",
                "A285",
                Command::Search {
                    uid: false,
                    ret: Some(vec![SearchReturn::Min, SearchReturn::Count]),
                    charset: None,
                    criteria: K::Flagged,
                },
            ),
            (
                b"A286 UID SEARCH RETURN () CHARSET us-ascii 1:* UNSEEN",
                "A286",
                Command::Search {
                    uid: true,
                    ret: Some(vec![SearchReturn::All]),
                    charset: Some(s("us-ascii")),
                    criteria: K::And(vec![K::Sequence(seq("1:*")), K::Unseen]),
                },
            ),
            (
                b"12 uid SEARCH UNDELETED BODY \"attached\"",
                "12",
                search(true, K::And(vec![K::Undeleted, K::Body(b("attached"))])),
            ),
            // RFC 7162 §3.1.5
            (
                b"a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338",
                "a",
                search(
                    false,
                    K::ModSeq {
                        entry: Some((s("/flags/\\draft"), super::super::search::EntryType::All)),
                        modseq: 620162338,
                    },
                ),
            ),
            // RFC 9051 §6.4.5 and Thunderbird.
            (
                b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
                "A654",
                fetch(false, "2:4", vec![F::Flags, header_fields(false, &["DATE", "FROM"])]),
            ),
            (b"8 UID fetch 1:* (FLAGS)", "8", fetch(true, "1:*", vec![F::Flags])),
            (
                b"9 UID fetch 1:21 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To Received)])",
                "9",
                fetch(
                    true,
                    "1:21",
                    vec![
                        F::Uid,
                        F::Rfc822Size,
                        F::Flags,
                        header_fields(
                            true,
                            &[
                                "From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "Priority",
                                "X-Priority", "References", "Newsgroups", "In-Reply-To", "Content-Type",
                                "Reply-To", "Received",
                            ],
                        ),
                    ],
                ),
            ),
            (
                b"10 UID fetch 22:* (UID RFC822.SIZE BODY.PEEK[])",
                "10",
                fetch(
                    true,
                    "22:*",
                    vec![
                        F::Uid,
                        F::Rfc822Size,
                        F::BodySection {
                            peek: true,
                            section: Section::default(),
                            partial: None,
                        },
                    ],
                ),
            ),
            (
                b"a FETCH 1 body[1.2]<0.1024>",
                "a",
                fetch(
                    false,
                    "1",
                    vec![F::BodySection {
                        peek: false,
                        section: Section {
                            part: vec![1, 2],
                            text: None,
                        },
                        partial: Some(Partial { start: 0, count: 1024 }),
                    }],
                ),
            ),
            (
                b"a FETCH 1:3 FAST",
                "a",
                fetch(false, "1:3", vec![F::Flags, F::InternalDate, F::Rfc822Size]),
            ),
            (b"A1 UID FETCH $ (FLAGS)", "A1", fetch(true, "$", vec![F::Flags])),
            // RFC 7162 §3.1.4.1, §3.2.6
            (
                b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
                "s100",
                Command::Fetch {
                    uid: true,
                    sequence: seq("1:*"),
                    attributes: vec![F::Flags],
                    modifiers: FetchModifiers {
                        changed_since: Some(12345),
                        vanished: false,
                    },
                },
            ),
            (
                b"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
                "s100",
                Command::Fetch {
                    uid: true,
                    sequence: seq("300:500"),
                    attributes: vec![F::Flags],
                    modifiers: FetchModifiers {
                        changed_since: Some(12345),
                        vanished: true,
                    },
                },
            ),
            // RFC 9051 §6.4.6 and Thunderbird.
            (
                b"A003 STORE 2:4 +FLAGS (\\Deleted)",
                "A003",
                store(false, "2:4", StoreAction::Add, false, vec![Flag::Deleted]),
            ),
            (
                b"13 uid store 42 +Flags (\\Seen)",
                "13",
                store(true, "42", StoreAction::Add, false, vec![Flag::Seen]),
            ),
            (
                b"14 uid store 42 -Flags (\\Seen)",
                "14",
                store(true, "42", StoreAction::Remove, false, vec![Flag::Seen]),
            ),
            (
                b"15 uid store 7 +FLAGS ($label1)",
                "15",
                store(true, "7", StoreAction::Add, false, vec![Flag::Keyword(s("$label1"))]),
            ),
            (
                b"16 store 1:* +FLAGS.SILENT (\\Deleted)",
                "16",
                store(false, "1:*", StoreAction::Add, true, vec![Flag::Deleted]),
            ),
            (
                b"17 uid store 9 +FLAGS (\\Deleted \\Seen)",
                "17",
                store(true, "9", StoreAction::Add, false, vec![Flag::Deleted, Flag::Seen]),
            ),
            (
                b"A5 STORE 1 FLAGS \\Seen \\Flagged",
                "A5",
                store(false, "1", StoreAction::Replace, false, vec![Flag::Seen, Flag::Flagged]),
            ),
            (
                b"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)",
                "a103",
                Command::Store {
                    uid: true,
                    sequence: seq("6,4,8"),
                    action: StoreAction::Add,
                    silent: true,
                    flags: vec![Flag::Deleted],
                    unchanged_since: Some(12121230045),
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
            // RFC 2971 §3.1, Thunderbird.
            (
                b"a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" \"Pink Floyd Music Limited\")",
                "a023",
                Command::Id {
                    params: Some(vec![
                        (s("name"), Some(s("sodr"))),
                        (s("version"), Some(s("19.34"))),
                        (s("vendor"), Some(s("Pink Floyd Music Limited"))),
                    ]),
                },
            ),
            (
                b"4 ID (\"name\" \"Thunderbird\" \"version\" \"153.7.0\")",
                "4",
                Command::Id {
                    params: Some(vec![(s("name"), Some(s("Thunderbird"))), (s("version"), Some(s("153.7.0")))]),
                },
            ),
            (b"a ID NIL", "a", Command::Id { params: None }),
            (
                b"a ID (\"os\" NIL)",
                "a",
                Command::Id {
                    params: Some(vec![(s("os"), None)]),
                },
            ),
            // RFC 5256 §3 examples.
            (
                b"A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994",
                "A282",
                Command::Sort {
                    uid: false,
                    ret: None,
                    criteria: vec![SortCriterion {
                        reverse: false,
                        key: SortKey::Subject,
                    }],
                    charset: s("UTF-8"),
                    search: K::Since(date(1994, 2, 1)),
                },
            ),
            (
                b"A283 UID SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
                "A283",
                Command::Sort {
                    uid: true,
                    ret: None,
                    criteria: vec![
                        SortCriterion {
                            reverse: false,
                            key: SortKey::Subject,
                        },
                        SortCriterion {
                            reverse: true,
                            key: SortKey::Date,
                        },
                    ],
                    charset: s("UTF-8"),
                    search: K::All,
                },
            ),
            // RFC 5267 §3 example.
            (
                b"A301 UID SORT RETURN (MIN COUNT) (DATE) utf-8 SUBJECT adult",
                "A301",
                Command::Sort {
                    uid: true,
                    ret: Some(vec![SearchReturn::Min, SearchReturn::Count]),
                    criteria: vec![SortCriterion {
                        reverse: false,
                        key: SortKey::Date,
                    }],
                    charset: s("utf-8"),
                    search: K::Subject(b"adult".to_vec()),
                },
            ),
            (
                b"A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000",
                "A283",
                Command::Thread {
                    uid: false,
                    algorithm: ThreadAlgorithm::OrderedSubject,
                    charset: s("UTF-8"),
                    search: K::Since(date(2000, 3, 5)),
                },
            ),
            (
                b"A284 UID THREAD REFERENCES US-ASCII TEXT \"gewp\" UNDELETED",
                "A284",
                Command::Thread {
                    uid: true,
                    algorithm: ThreadAlgorithm::References,
                    charset: s("US-ASCII"),
                    search: K::And(vec![K::Text(b("gewp")), K::Undeleted]),
                },
            ),
            // RFC 9208 §4.2-4.4
            (
                b"G0001 GETQUOTA \"!partition/sda4\"",
                "G0001",
                Command::GetQuota {
                    root: s("!partition/sda4"),
                },
            ),
            (
                b"20 getquotaroot \"INBOX\"",
                "20",
                Command::GetQuotaRoot { mailbox: s("INBOX") },
            ),
            (
                b"S0000 SETQUOTA \"#user/alice\" (STORAGE 510 message 1000)",
                "S0000",
                Command::SetQuota {
                    root: s("#user/alice"),
                    limits: vec![(s("STORAGE"), 510), (s("MESSAGE"), 1000)],
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
        ];
        for (line, tag, command) in rows {
            let name = String::from_utf8_lossy(line).into_owned();
            let expected = Request {
                tag: s(tag),
                command,
            };
            assert_eq!(req(line), Ok(expected), "{name}");
        }
    }

    #[test]
    fn hostile_rows() {
        let deep_not = format!("A1 SEARCH {}SEEN", "NOT ".repeat(1_000_000));
        let deep_paren = format!("A1 SEARCH {}SEEN", "(".repeat(1_000_000));
        let many_ids = format!("A1 ID ({})", vec!["\"a\" \"b\""; 31].join(" "));
        let rows: Vec<(&[u8], Option<&str>, ErrorKind)> = vec![
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
            (b"A1 SELECT", Some("A1"), ErrorKind::UnexpectedEnd),
            (
                b"A1 SELECT INBOX (FOO)",
                Some("A1"),
                ErrorKind::Invalid("unknown SELECT parameter"),
            ),
            (
                b"A1 SELECT INBOX (QRESYNC (0 1))",
                Some("A1"),
                ErrorKind::Number,
            ),
            (
                b"A1 SELECT INBOX (QRESYNC (1 1 1:*))",
                Some("A1"),
                ErrorKind::Invalid("known-uids may not contain *"),
            ),
            // RFC 4469 §5: CATENATE needs at least one TEXT or URL part.
            (
                b"A1 APPEND x CATENATE ()",
                Some("A1"),
                ErrorKind::Expected("list element"),
            ),
            (
                b"A1 APPEND x CATENATE (FOO \"a\")",
                Some("A1"),
                ErrorKind::Expected("TEXT or URL"),
            ),
            (
                b"A1 APPEND x CATENATE (TEXT \"a\")",
                Some("A1"),
                ErrorKind::Expected("literal"),
            ),
            (
                b"A1 APPEND x CATENATE (URL \"/x/;uid=1\"",
                Some("A1"),
                ErrorKind::UnexpectedEnd,
            ),
            // RFC 4467 §9, RFC 5524 §6.
            (b"A1 GENURLAUTH", Some("A1"), ErrorKind::UnexpectedEnd),
            (
                b"A1 GENURLAUTH \"imap://a@b/X/;uid=1;urlauth=anonymous\"",
                Some("A1"),
                ErrorKind::UnexpectedEnd,
            ),
            (b"A1 URLFETCH", Some("A1"), ErrorKind::UnexpectedEnd),
            (
                b"A1 URLFETCH (x FOO)",
                Some("A1"),
                ErrorKind::Invalid("unknown URLFETCH parameter"),
            ),
            (
                b"A1 URLFETCH (x BINARY BODY)",
                Some("A1"),
                ErrorKind::Invalid("BINARY and BODY exclude each other"),
            ),
            // Unbalanced parentheses.
            (b"A1 FETCH 1 (FLAGS", Some("A1"), ErrorKind::UnexpectedEnd),
            (b"A1 FETCH 1 FLAGS)", Some("A1"), ErrorKind::Trailing),
            (
                b"A1 STORE 1 +FLAGS (\\Seen",
                Some("A1"),
                ErrorKind::UnexpectedEnd,
            ),
            (b"A1 STORE 1 FLAGS \\Seen)", Some("A1"), ErrorKind::Trailing),
            (b"A1 SEARCH (SEEN", Some("A1"), ErrorKind::UnexpectedEnd),
            (b"A1 SEARCH SEEN)", Some("A1"), ErrorKind::Expected("SP")),
            (
                b"A1 STATUS x (MESSAGES",
                Some("A1"),
                ErrorKind::UnexpectedEnd,
            ),
            (
                b"A1 LIST (SUBSCRIBED \"\" *",
                Some("A1"),
                ErrorKind::Expected("atom"),
            ),
            // Bad strings.
            (b"A1 LOGIN \"a\0\" b", Some("A1"), ErrorKind::Nul),
            (
                b"A1 LOGIN \"\xff\xfe\" b",
                Some("A1"),
                ErrorKind::InvalidUtf8,
            ),
            (
                b"A1 LOGIN {2}\r\n\xc3( b",
                Some("A1"),
                ErrorKind::InvalidUtf8,
            ),
            (b"A1 LOGIN \"abc", Some("A1"), ErrorKind::UnexpectedEnd),
            (b"A1 LOGIN {2}\r\na\0 b", Some("A1"), ErrorKind::Nul),
            // Modifiers.
            (
                b"A1 FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
                Some("A1"),
                ErrorKind::Invalid("VANISHED needs UID FETCH and CHANGEDSINCE"),
            ),
            (
                b"A1 UID FETCH 1:* (FLAGS) (VANISHED)",
                Some("A1"),
                ErrorKind::Invalid("VANISHED needs UID FETCH and CHANGEDSINCE"),
            ),
            (
                b"A1 STORE 1 (FOO 1) FLAGS x",
                Some("A1"),
                ErrorKind::Invalid("unknown STORE modifier"),
            ),
            (
                b"A1 STORE 1 SETFLAGS x",
                Some("A1"),
                ErrorKind::Expected("FLAGS"),
            ),
            (
                b"A1 LIST (RECURSIVEMATCH) \"\" \"*\"",
                Some("A1"),
                ErrorKind::Invalid("RECURSIVEMATCH needs another selection option"),
            ),
            (
                b"A1 LIST (FOO) \"\" \"*\"",
                Some("A1"),
                ErrorKind::Invalid("unknown LIST selection option"),
            ),
            (
                b"A1 LIST \"\" \"*\" (CHILDREN)",
                Some("A1"),
                ErrorKind::Expected("RETURN"),
            ),
            (
                b"A1 AUTHENTICATE PLAIN !!",
                Some("A1"),
                ErrorKind::Expected("base64"),
            ),
            (
                b"A1 AUTHENTICATE PLAIN abc",
                Some("A1"),
                ErrorKind::Invalid("invalid base64"),
            ),
            (b"A1 COPY 0 x", Some("A1"), ErrorKind::Number),
            (b"A1 FETCH 4294967296 FLAGS", Some("A1"), ErrorKind::Number),
            (b"A1 APPEND x", Some("A1"), ErrorKind::UnexpectedEnd),
            (
                b"A1 APPEND x (\\Seen) hello",
                Some("A1"),
                ErrorKind::Expected("literal"),
            ),
            (
                b"A1 APPEND x \"31-Feb-2020 00:00:00 +0000\" {1}\r\na",
                Some("A1"),
                ErrorKind::Date,
            ),
            (
                b"A1 APPEND x UTF8 ({1}\r\na)",
                Some("A1"),
                ErrorKind::Expected("literal8"),
            ),
            (
                b"A1 SORT () UTF-8 ALL",
                Some("A1"),
                ErrorKind::Expected("list element"),
            ),
            (
                b"A1 SORT (FOO) UTF-8 ALL",
                Some("A1"),
                ErrorKind::Expected("sort key"),
            ),
            (b"A1 SORT (DATE) ALL", Some("A1"), ErrorKind::UnexpectedEnd),
            (b"A1 ENABLE", Some("A1"), ErrorKind::UnexpectedEnd),
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
            (
                many_ids.as_bytes(),
                Some("A1"),
                ErrorKind::Invalid("too many ID fields"),
            ),
            // Deep nesting.
            (deep_not.as_bytes(), Some("A1"), ErrorKind::TooDeep),
            (deep_paren.as_bytes(), Some("A1"), ErrorKind::TooDeep),
        ];
        for (line, tag, kind) in rows {
            let name = String::from_utf8_lossy(&line[..line.len().min(60)]).into_owned();
            // Long rows are checked whole only (framing them byte by byte
            // would be slow and is covered by the receiver's tests).
            let got = if line.len() > 2000 {
                parse(line)
            } else {
                req(line)
            };
            let err = got.expect_err(&name);
            assert_eq!((err.tag.as_deref(), err.kind), (tag, kind), "{name}");
        }
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
    fn auth_and_idle_lines() {
        assert_eq!(
            parse_auth_response(b"AHVzZXIAcGFzcw=="),
            Ok(AuthResponse::Data(b("\0user\0pass")))
        );
        assert_eq!(parse_auth_response(b""), Ok(AuthResponse::Data(vec![])));
        assert_eq!(parse_auth_response(b"*"), Ok(AuthResponse::Cancel));
        assert_eq!(
            parse_auth_response(b"not base64!").map_err(|e| e.kind),
            Err(ErrorKind::Invalid("invalid base64"))
        );
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
