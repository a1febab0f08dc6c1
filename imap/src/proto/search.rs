//! SEARCH's arguments (RFC 9051 §6.4.4, and UID SEARCH) and its search keys:
//! the RFC 9051 §6.4.4 / RFC 3501 §6.4.4 grammar (§9 `search-key`) as an AST,
//! with MODSEQ (RFC 7162 §3.1.5), YOUNGER/OLDER (RFC 5032 §3) and the ESEARCH
//! return options (RFC 4731 §3.1, RFC 5182 §2.1 SAVE).
//!
//! String arguments stay bytes: their charset is the one named by
//! `CHARSET` (RFC 9051 §6.4.4), which the session applies. Nesting through
//! NOT, OR and parentheses is bounded by [`super::parser::MAX_NESTING`].

use super::command::Command;
use super::parser::{ErrorKind, PResult, ParseError, Parser, is_atom_char};
use super::sequence::Sequence;
use super::types::Date;

/// Longest string a search key may carry (`BODY`, `TEXT`, `HEADER`, `SUBJECT`, …).
/// RFC 9051 §6.4.4 sets no limit; every string is compared with every message, so a
/// few KiB is what a person types and bounds what one SEARCH costs (Dovecot has no
/// such limit; a 20 MB needle once pinned a core). Longer: BAD. Issue 9.
pub const MAX_SEARCH_KEY: usize = 4096;

/// One search key. RFC 9051 §6.4.4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// `ALL`
    All,
    /// `ANSWERED`
    Answered,
    /// `BCC string`
    Bcc(Vec<u8>),
    /// `BEFORE date` (internal date)
    Before(Date),
    /// `BODY string`
    Body(Vec<u8>),
    /// `CC string`
    Cc(Vec<u8>),
    /// `DELETED`
    Deleted,
    /// `DRAFT`
    Draft,
    /// `FLAGGED`
    Flagged,
    /// `FROM string`
    From(Vec<u8>),
    /// `HEADER field-name string`
    Header(String, Vec<u8>),
    /// `KEYWORD flag`
    Keyword(String),
    /// `LARGER n`
    Larger(u64),
    /// `NEW` (RFC 3501 only: RECENT UNSEEN)
    New,
    /// `NOT key`
    Not(Box<SearchKey>),
    /// `OLD` (RFC 3501 only: NOT RECENT)
    Old,
    /// `ON date` (internal date)
    On(Date),
    /// `OR key1 key2`
    Or(Box<SearchKey>, Box<SearchKey>),
    /// `RECENT` (RFC 3501 only)
    Recent,
    /// `SEEN`
    Seen,
    /// `SENTBEFORE date` (Date: header)
    SentBefore(Date),
    /// `SENTON date`
    SentOn(Date),
    /// `SENTSINCE date`
    SentSince(Date),
    /// `SINCE date` (internal date)
    Since(Date),
    /// `SMALLER n`
    Smaller(u64),
    /// `SUBJECT string`
    Subject(Vec<u8>),
    /// `TEXT string`
    Text(Vec<u8>),
    /// `TO string`
    To(Vec<u8>),
    /// `UID sequence-set`
    Uid(Sequence),
    /// `UNANSWERED`
    Unanswered,
    /// `UNDELETED`
    Undeleted,
    /// `UNDRAFT`
    Undraft,
    /// `UNFLAGGED`
    Unflagged,
    /// `UNKEYWORD flag`
    Unkeyword(String),
    /// `UNSEEN`
    Unseen,
    /// A sequence set of message numbers.
    Sequence(Sequence),
    /// `(key key …)` or several keys in a row: all must match.
    And(Vec<SearchKey>),
    /// `MODSEQ ["/flags/…" priv|shared|all] n` (RFC 7162 §3.1.5).
    ModSeq {
        /// Optional metadata entry name and type.
        entry: Option<(String, EntryType)>,
        /// Matches messages with a mod-sequence ≥ this.
        modseq: u64,
    },
    /// `YOUNGER seconds` (RFC 5032 §3)
    Younger(u32),
    /// `OLDER seconds` (RFC 5032 §3)
    Older(u32),
}

/// RFC 7162 §3.1.5 `entry-type-req`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    /// `priv`
    Private,
    /// `shared`
    Shared,
    /// `all`
    All,
}

/// ESEARCH return options. RFC 4731 §3.1, RFC 5182 §2.1 (SAVE), RFC 5267 §4
/// (CONTEXT, UPDATE, PARTIAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchReturn {
    /// `MIN`
    Min,
    /// `MAX`
    Max,
    /// `ALL`
    All,
    /// `COUNT`
    Count,
    /// `SAVE`
    Save,
    /// `CONTEXT` (RFC 5267 §4.2): a hint that the client will ask again; nothing to
    /// do for it (as in Dovecot).
    Context,
    /// `UPDATE` (RFC 5267 §4.3): keep the result and report changes to it.
    Update,
    /// `PARTIAL lo:hi` (RFC 5267 §4.4): the matches at positions `lo..=hi` (1-based,
    /// `lo <= hi` after normalising `hi:lo`).
    Partial(u32, u32),
}

impl SearchReturn {
    /// The `PARTIAL` window among `opts`, if any.
    pub fn partial(opts: &[SearchReturn]) -> Option<(u32, u32)> {
        opts.iter().find_map(|o| match *o {
            SearchReturn::Partial(lo, hi) => Some((lo, hi)),
            _ => None,
        })
    }
}

/// `value` (read at `at`), or the error `what` when it is longer than
/// [`MAX_SEARCH_KEY`].
fn within_cap<T: AsRef<[u8]>>(value: T, at: usize, what: &'static str) -> PResult<T> {
    if value.as_ref().len() > MAX_SEARCH_KEY {
        return Err(ParseError::invalid(at, what));
    }
    Ok(value)
}

impl Parser<'_> {
    /// RFC 4731 §3.1 `search-return-opts` after `RETURN SP`:
    /// `"(" [opt *(SP opt)] ")"`. `RETURN ()` means ALL (RFC 4731 §3.1). RFC 5267 §4
    /// adds `CONTEXT`, `UPDATE` and `PARTIAL lo:hi` (`partial-range = nz-number ":"
    /// nz-number`, either order). UPDATE or PARTIAL twice, and PARTIAL beside ALL, are
    /// refused, as Dovecot does.
    pub(crate) fn search_return_opts(&mut self) -> PResult<Vec<SearchReturn>> {
        let start = self.pos();
        let opts = self.paren_list(true, |p| {
            let at = p.pos();
            let name = p.atom()?;
            Ok(match name.to_ascii_uppercase().as_str() {
                "MIN" => SearchReturn::Min,
                "MAX" => SearchReturn::Max,
                "ALL" => SearchReturn::All,
                "COUNT" => SearchReturn::Count,
                "SAVE" => SearchReturn::Save,
                "CONTEXT" => SearchReturn::Context,
                "UPDATE" => SearchReturn::Update,
                "PARTIAL" => {
                    p.sp()?;
                    let lo = p.nz_number()?;
                    p.expect(b':', "partial-range")?;
                    let hi = p.nz_number()?;
                    SearchReturn::Partial(lo.min(hi), lo.max(hi))
                }
                _ => {
                    return Err(ParseError::invalid(at, "unknown search return option"));
                }
            })
        })?;
        let count = |f: fn(&SearchReturn) -> bool| opts.iter().filter(|o| f(o)).count();
        let invalid = |what| Err(ParseError::invalid(start, what));
        if count(|o| *o == SearchReturn::Update) > 1 {
            return invalid("UPDATE given twice");
        }
        match count(|o| matches!(o, SearchReturn::Partial(..))) {
            0 => {}
            1 if opts.contains(&SearchReturn::All) => return invalid("PARTIAL conflicts with ALL"),
            1 => {}
            _ => return invalid("PARTIAL given twice"),
        }
        Ok(if opts.is_empty() {
            vec![SearchReturn::All]
        } else {
            opts
        })
    }

    /// SEARCH's arguments after `SEARCH`, SP included: `[RETURN (…) SP]
    /// search-program` (RFC 9051 §6.4.4, RFC 4731 §3.1).
    pub(crate) fn search_args(&mut self, uid: bool) -> PResult<Command> {
        self.sp()?;
        let ret = self.optional_return()?;
        let (charset, criteria) = self.search_program()?;
        Ok(Command::Search {
            uid,
            ret,
            charset,
            criteria,
        })
    }

    /// `[RETURN (…) SP]` before SEARCH's or SORT's arguments (RFC 4731 §3.1
    /// ESEARCH, RFC 5267 §3 ESORT): `None` when absent (the classic response).
    pub(crate) fn optional_return(&mut self) -> PResult<Option<Vec<SearchReturn>>> {
        if !self.keyword("RETURN") {
            return Ok(None);
        }
        self.sp()?;
        let r = self.search_return_opts()?;
        self.sp()?;
        Ok(Some(r))
    }

    /// RFC 9051 §9 `search-program` minus RETURN: `["CHARSET" SP charset
    /// SP] search-key *(SP search-key)`, to the end of the command.
    pub(crate) fn search_program(&mut self) -> PResult<(Option<String>, SearchKey)> {
        let charset = if self.keyword("CHARSET") {
            self.sp()?;
            let c = self.astring()?;
            self.sp()?;
            Some(c)
        } else {
            None
        };
        Ok((charset, self.search_keys_to_end()?))
    }

    /// RFC 5256 §3 `search-criteria` = charset 1*(SP search-key), to the end of
    /// the command: what SORT and THREAD end with (the charset is mandatory there).
    pub(crate) fn search_criteria(&mut self) -> PResult<(String, SearchKey)> {
        let charset = self.astring()?;
        self.sp()?;
        Ok((charset, self.search_keys_to_end()?))
    }

    /// `search-key *(SP search-key)` to the end of input; one key is
    /// returned as is, several as [`SearchKey::And`].
    pub(crate) fn search_keys_to_end(&mut self) -> PResult<SearchKey> {
        let mut keys = vec![self.search_key()?];
        while !self.at_end() {
            self.sp()?;
            keys.push(self.search_key()?);
        }
        Ok(if keys.len() == 1 {
            keys.pop().unwrap_or(SearchKey::All)
        } else {
            SearchKey::And(keys)
        })
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self) -> PResult<SearchKey>) -> PResult<SearchKey> {
        self.enter()?;
        let key = f(self)?;
        self.leave();
        Ok(key)
    }

    /// A search string, at most [`MAX_SEARCH_KEY`] octets.
    fn sp_astring(&mut self) -> PResult<Vec<u8>> {
        self.sp()?;
        let at = self.pos();
        let s = self.astring_bytes()?;
        within_cap(s, at, "search string too long (at most 4096 octets)")
    }

    fn sp_date(&mut self) -> PResult<Date> {
        self.sp()?;
        self.date()
    }

    /// RFC 9051 §9 `flag-keyword` = atom.
    fn sp_keyword(&mut self) -> PResult<String> {
        self.sp()?;
        Ok(self.atom_of(is_atom_char, "keyword")?.to_owned())
    }

    /// One RFC 9051 §9 `search-key`.
    pub(crate) fn search_key(&mut self) -> PResult<SearchKey> {
        match self.peek() {
            // paren_list counts the nesting level.
            Some(b'(') => return Ok(SearchKey::And(self.paren_list(false, |p| p.search_key())?)),
            Some(b'0'..=b'9' | b'*' | b'$') => return Ok(SearchKey::Sequence(self.sequence()?)),
            _ => {}
        }
        let at = self.pos();
        let name = self
            .atom_of(is_atom_char, "search key")?
            .to_ascii_uppercase();
        Ok(match name.as_str() {
            "ALL" => SearchKey::All,
            "ANSWERED" => SearchKey::Answered,
            "BCC" => SearchKey::Bcc(self.sp_astring()?),
            "BEFORE" => SearchKey::Before(self.sp_date()?),
            "BODY" => SearchKey::Body(self.sp_astring()?),
            "CC" => SearchKey::Cc(self.sp_astring()?),
            "DELETED" => SearchKey::Deleted,
            "DRAFT" => SearchKey::Draft,
            "FLAGGED" => SearchKey::Flagged,
            "FROM" => SearchKey::From(self.sp_astring()?),
            "HEADER" => {
                self.sp()?;
                let at = self.pos();
                let field = within_cap(self.astring()?, at, "header field name too long")?;
                SearchKey::Header(field, self.sp_astring()?)
            }
            "KEYWORD" => SearchKey::Keyword(self.sp_keyword()?),
            "LARGER" => {
                self.sp()?;
                SearchKey::Larger(self.number64()?)
            }
            "NEW" => SearchKey::New,
            "NOT" => self.nested(|p| {
                p.sp()?;
                Ok(SearchKey::Not(Box::new(p.search_key()?)))
            })?,
            "OLD" => SearchKey::Old,
            "ON" => SearchKey::On(self.sp_date()?),
            "OR" => self.nested(|p| {
                p.sp()?;
                let a = p.search_key()?;
                p.sp()?;
                let b = p.search_key()?;
                Ok(SearchKey::Or(Box::new(a), Box::new(b)))
            })?,
            "RECENT" => SearchKey::Recent,
            "SEEN" => SearchKey::Seen,
            "SENTBEFORE" => SearchKey::SentBefore(self.sp_date()?),
            "SENTON" => SearchKey::SentOn(self.sp_date()?),
            "SENTSINCE" => SearchKey::SentSince(self.sp_date()?),
            "SINCE" => SearchKey::Since(self.sp_date()?),
            "SMALLER" => {
                self.sp()?;
                SearchKey::Smaller(self.number64()?)
            }
            "SUBJECT" => SearchKey::Subject(self.sp_astring()?),
            "TEXT" => SearchKey::Text(self.sp_astring()?),
            "TO" => SearchKey::To(self.sp_astring()?),
            "UID" => {
                self.sp()?;
                SearchKey::Uid(self.sequence()?)
            }
            "UNANSWERED" => SearchKey::Unanswered,
            "UNDELETED" => SearchKey::Undeleted,
            "UNDRAFT" => SearchKey::Undraft,
            "UNFLAGGED" => SearchKey::Unflagged,
            "UNKEYWORD" => SearchKey::Unkeyword(self.sp_keyword()?),
            "UNSEEN" => SearchKey::Unseen,
            "MODSEQ" => {
                self.sp()?;
                let entry = if self.peek() == Some(b'"') {
                    let name = self.quoted()?;
                    self.sp()?;
                    let type_at = self.pos();
                    let kind = match self.atom()?.to_ascii_lowercase().as_str() {
                        "priv" => EntryType::Private,
                        "shared" => EntryType::Shared,
                        "all" => EntryType::All,
                        _ => {
                            return Err(ParseError::at(
                                ErrorKind::Expected("priv, shared or all"),
                                type_at,
                            ));
                        }
                    };
                    self.sp()?;
                    Some((name, kind))
                } else {
                    None
                };
                SearchKey::ModSeq {
                    entry,
                    modseq: self.number64()?,
                }
            }
            "YOUNGER" => {
                self.sp()?;
                SearchKey::Younger(self.nz_number()?)
            }
            "OLDER" => {
                self.sp()?;
                SearchKey::Older(self.nz_number()?)
            }
            _ => {
                return Err(ParseError::at(ErrorKind::Expected("search key"), at));
            }
        })
    }
}

/// Parses search keys (`search-key *(SP search-key)`) on their own.
pub fn parse_search_keys(input: &[u8]) -> Result<SearchKey, ParseError> {
    let mut p = Parser::new(input);
    let key = p.search_keys_to_end()?;
    p.end()?;
    Ok(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::super::sequence::{
        SeqItem, SeqNumber, Sequence as Seq, SequenceSet, parse_sequence,
    };
    use super::super::testing::{b, date as d};
    use super::*;
    use SearchKey::*;

    #[test]
    fn rows() {
        let rows: Vec<(&str, SearchKey)> = vec![
            // RFC 9051 §6.4.4 examples.
            (
                "FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
                And(vec![
                    Flagged,
                    Since(d(1994, 2, 1)),
                    Not(Box::new(From(b("Smith")))),
                ]),
            ),
            (
                "TEXT \"string not in mailbox\"",
                Text(b("string not in mailbox")),
            ),
            (
                "DELETED FROM \"SMITH\" SINCE 1-Feb-1994",
                And(vec![Deleted, From(b("SMITH")), Since(d(1994, 2, 1))]),
            ),
            // Literal strings, any charset.
            ("TEXT {6}\r\nXXXXXX", Text(b("XXXXXX"))),
            ("SUBJECT {2}\r\n\u{e9}", Subject(vec![0xc3, 0xa9])),
            // Thunderbird.
            (
                "UNDELETED BODY \"attached\"",
                And(vec![Undeleted, Body(b("attached"))]),
            ),
            (
                "uid 5:* not deleted",
                And(vec![
                    Uid(Seq::Set(SequenceSet {
                        items: vec![SeqItem::Range(SeqNumber::Value(5), SeqNumber::Star)],
                    })),
                    Not(Box::new(Deleted)),
                ]),
            ),
            (
                "OR (FROM a TO b) (CC c BCC d)",
                Or(
                    Box::new(And(vec![From(b("a")), To(b("b"))])),
                    Box::new(And(vec![Cc(b("c")), Bcc(b("d"))])),
                ),
            ),
            (
                "HEADER Message-ID <x@y>",
                Header("Message-ID".into(), b("<x@y>")),
            ),
            ("HEADER \"X-Spam\" \"\"", Header("X-Spam".into(), vec![])),
            (
                "LARGER 1000 SMALLER 9223372036854775807",
                And(vec![Larger(1000), Smaller(i64::MAX as u64)]),
            ),
            (
                "KEYWORD $label1 UNKEYWORD Junk",
                And(vec![Keyword("$label1".into()), Unkeyword("Junk".into())]),
            ),
            (
                "BEFORE 1-Jan-2000 ON \"2-Jan-2000\" SENTBEFORE 3-Jan-2000 SENTON 4-jan-2000 SENTSINCE 5-Jan-2000",
                And(vec![
                    Before(d(2000, 1, 1)),
                    On(d(2000, 1, 2)),
                    SentBefore(d(2000, 1, 3)),
                    SentOn(d(2000, 1, 4)),
                    SentSince(d(2000, 1, 5)),
                ]),
            ),
            (
                "ALL ANSWERED DRAFT NEW OLD RECENT SEEN UNANSWERED UNDRAFT UNFLAGGED UNSEEN",
                And(vec![
                    All, Answered, Draft, New, Old, Recent, Seen, Unanswered, Undraft, Unflagged,
                    Unseen,
                ]),
            ),
            (
                "1:3,5 $",
                And(vec![
                    Sequence(parse_sequence(b"1:3,5").unwrap()),
                    Sequence(Seq::Saved),
                ]),
            ),
            ("((seen))", And(vec![And(vec![Seen])])),
            // RFC 7162 §3.1.5 examples.
            (
                "MODSEQ \"/flags/\\\\draft\" all 620162338",
                ModSeq {
                    entry: Some(("/flags/\\draft".into(), EntryType::All)),
                    modseq: 620162338,
                },
            ),
            (
                "MODSEQ 0",
                ModSeq {
                    entry: None,
                    modseq: 0,
                },
            ),
            ("YOUNGER 3600 OLDER 60", And(vec![Younger(3600), Older(60)])),
        ];
        for (input, expected) in rows {
            assert_eq!(parse_search_keys(input.as_bytes()), Ok(expected), "{input}");
        }
    }

    #[test]
    fn errors() {
        let deep_not = "NOT ".repeat(1_000_000) + "SEEN";
        let deep_paren = "(".repeat(1_000_000) + "SEEN" + &")".repeat(1_000_000);
        let deep_or = "OR SEEN ".repeat(200) + "SEEN";
        let x = "x".repeat(MAX_SEARCH_KEY + 1);
        let long_body = format!("BODY {{{}}}\r\n{x}", x.len());
        let long_text = format!("SEEN TEXT \"{x}\"");
        let long_value = format!("HEADER Subject {x}");
        let long_field = format!("HEADER {x} y");
        let too_long = ErrorKind::Invalid("search string too long (at most 4096 octets)");
        let rows: Vec<(&[u8], ErrorKind)> = vec![
            (long_body.as_bytes(), too_long.clone()),
            (long_text.as_bytes(), too_long.clone()),
            (long_value.as_bytes(), too_long),
            (
                long_field.as_bytes(),
                ErrorKind::Invalid("header field name too long"),
            ),
            (b"", ErrorKind::UnexpectedEnd),
            (b"FOO", ErrorKind::Expected("search key")),
            (b"(SEEN", ErrorKind::UnexpectedEnd),
            (b"SEEN)", ErrorKind::Expected("SP")),
            (b"()", ErrorKind::Expected("list element")),
            (b"(SEEN DELETED))", ErrorKind::Expected("SP")),
            (b"SINCE 30-Feb-2020", ErrorKind::Date),
            (b"SINCE Feb-2020", ErrorKind::Expected("digit")),
            (b"OR SEEN", ErrorKind::UnexpectedEnd),
            (b"NOT", ErrorKind::UnexpectedEnd),
            (b"LARGER -1", ErrorKind::Expected("number")),
            (b"LARGER 99999999999999999999", ErrorKind::Number),
            (b"FROM \"a\0\"", ErrorKind::Nul),
            (b"FROM \"\xc3\x28\"", ErrorKind::InvalidUtf8),
            (b"SEEN  DELETED", ErrorKind::Expected("search key")),
            (
                b"MODSEQ \"/flags/x\" mine 5",
                ErrorKind::Expected("priv, shared or all"),
            ),
            (b"UID 0", ErrorKind::Number),
            (b"SEEN\0", ErrorKind::Nul),
            (deep_not.as_bytes(), ErrorKind::TooDeep),
            (deep_paren.as_bytes(), ErrorKind::TooDeep),
            (deep_or.as_bytes(), ErrorKind::TooDeep),
        ];
        for (input, kind) in rows {
            let name = String::from_utf8_lossy(&input[..input.len().min(40)]).into_owned();
            assert_eq!(
                parse_search_keys(input).map_err(|e| e.kind),
                Err(kind),
                "{name}"
            );
        }
        // Just under the limit is fine.
        let ok = "NOT ".repeat(99) + "SEEN";
        assert!(parse_search_keys(ok.as_bytes()).is_ok());
        let at_cap = format!("BODY \"{}\"", "x".repeat(MAX_SEARCH_KEY));
        assert!(parse_search_keys(at_cap.as_bytes()).is_ok());
        assert!(
            ErrorKind::Invalid("search string too long (at most 4096 octets)")
                .to_string()
                .contains(&MAX_SEARCH_KEY.to_string())
        );
    }

    #[test]
    fn return_options() {
        let mut p = Parser::new(b"(MIN max COUNT all SAVE)");
        use SearchReturn as R;
        assert_eq!(
            p.search_return_opts(),
            Ok(vec![R::Min, R::Max, R::Count, R::All, R::Save])
        );
        assert_eq!(Parser::new(b"()").search_return_opts(), Ok(vec![R::All]));
        // RFC 5267 §4: CONTEXT, UPDATE, PARTIAL (imaptest `search-partial`).
        let ok: &[(&[u8], Vec<R>)] = &[
            (b"(UPDATE)", vec![R::Update]),
            (b"(context update ALL)", vec![R::Context, R::Update, R::All]),
            (b"(PARTIAL 1:1)", vec![R::Partial(1, 1)]),
            (b"(PARTIAL 4:2)", vec![R::Partial(2, 4)]),
            (b"(COUNT PARTIAL 2:10)", vec![R::Count, R::Partial(2, 10)]),
        ];
        for (input, want) in ok {
            let name = String::from_utf8_lossy(input);
            assert_eq!(
                &Parser::new(input).search_return_opts().unwrap(),
                want,
                "{name}"
            );
        }
        let bad: &[&[u8]] = &[
            b"(PARTIAL 1)",
            b"(PARTIAL 1:*)",
            b"(PARTIAL *:1)",
            b"(PARTIAL 0:3)",
            b"(PARTIAL)",
            b"(PARTIAL 1:2 PARTIAL 3:4)",
            b"(ALL PARTIAL 1:2)",
            b"(UPDATE UPDATE)",
            b"(FOO)",
        ];
        for input in bad {
            let name = String::from_utf8_lossy(input);
            assert!(Parser::new(input).search_return_opts().is_err(), "{name}");
        }
    }
}

/// SEARCH commands whole: framed by the receiver and parsed by
/// [`super::command::parse`].
#[cfg(test)]
mod command_tests {
    use super::super::parser::ErrorKind;
    use super::super::testing::{b, check_errors, check_rows, date, s, seq};
    use super::*;
    use SearchKey as K;

    fn search(uid: bool, criteria: K) -> Command {
        Command::Search {
            uid,
            ret: None,
            charset: None,
            criteria,
        }
    }

    #[test]
    fn rows() {
        check_rows(vec![
            // RFC 9051 §6.4.4, RFC 4731 §3.1, Thunderbird.
            (
                b"A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
                "A282",
                search(
                    false,
                    K::And(vec![
                        K::Flagged,
                        K::Since(date(1994, 2, 1)),
                        K::Not(Box::new(K::From(b("Smith")))),
                    ]),
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
        ]);
    }

    #[test]
    fn errors() {
        let deep_not = format!("A1 SEARCH {}SEEN", "NOT ".repeat(1_000_000));
        let deep_paren = format!("A1 SEARCH {}SEEN", "(".repeat(1_000_000));
        check_errors(vec![
            // Unbalanced parentheses.
            (b"A1 SEARCH (SEEN", Some("A1"), ErrorKind::UnexpectedEnd),
            (b"A1 SEARCH SEEN)", Some("A1"), ErrorKind::Expected("SP")),
            // Deep nesting.
            (deep_not.as_bytes(), Some("A1"), ErrorKind::TooDeep),
            (deep_paren.as_bytes(), Some("A1"), ErrorKind::TooDeep),
        ]);
    }
}
