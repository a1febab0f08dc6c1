//! Validation of a parsed script: `require` first, every command, test and tag known
//! and its extension required, argument shapes (RFC 5228 §2.6, §2.7), comparators,
//! match types and address parts. The command and test signatures are data (the tables
//! below); one walker checks them all.

use std::collections::BTreeSet;

use crate::ast::{Arg, Ast, Command, Test, Tests, Value};
use crate::encoded;

/// The extensions this implementation knows (`require` of anything else is an error).
pub const EXTENSIONS: &[&str] = &[
    "fileinto",
    "reject",
    "ereject",
    "envelope",
    "encoded-character",
    "imap4flags",
    "copy",
    "body",
    "variables",
    "vacation",
    "vacation-seconds",
    "relational",
    "subaddress",
    "date",
    "index",
    "mailbox",
    "regex",
    "include",
    "duplicate",
    "editheader",
    "comparator-i;octet",
    "comparator-i;ascii-casemap",
    "comparator-i;ascii-numeric",
];

/// The date parts of RFC 5260 §4.2.
pub const DATE_PARTS: &[&str] = &[
    "year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601",
    "std11", "zone", "weekday",
];

/// The header fields the `address` test reads (RFC 5228 §5.1: at least From, To, Cc,
/// Bcc, Sender, Resent-From, Resent-To; and other address-list fields).
pub const ADDRESS_FIELDS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "sender",
    "reply-to",
    "resent-from",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "resent-sender",
    "resent-reply-to",
    "return-path",
    "delivered-to",
    "envelope-to",
    "x-original-to",
    "errors-to",
    "mail-followup-to",
    "mail-reply-to",
    "disposition-notification-to",
    "original-recipient",
    "x-envelope-to",
    "x-beenthere",
];

/// The relational operators of RFC 5231 §5.
pub const RELATIONS: &[&str] = &["gt", "ge", "lt", "le", "eq", "ne"];

/// A validation error at a byte offset of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub offset: usize,
    pub message: String,
}

/// What a positional argument or a tag's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One string.
    Str,
    /// A string list (a single string counts as a list of one).
    List,
    Num,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::List => "a string list",
            Kind::Num => "a number",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (Kind::Str, Value::String(_))
                | (Kind::List, Value::String(_) | Value::List(_))
                | (Kind::Num, Value::Number(_))
        )
    }
}

/// A tagged argument: its name, the value it takes, the extension it needs, and the
/// group of which only one may appear.
struct TagSpec {
    name: &'static str,
    value: Option<Kind>,
    ext: Option<&'static str>,
    group: Option<&'static str>,
}

const fn t(
    name: &'static str,
    value: Option<Kind>,
    ext: Option<&'static str>,
    group: Option<&'static str>,
) -> TagSpec {
    TagSpec {
        name,
        value,
        ext,
        group,
    }
}

/// `[COMPARATOR]` (RFC 5228 §2.7.3).
const COMPARATOR: &[TagSpec] = &[t("comparator", Some(Kind::Str), None, Some("comparator"))];
/// `[MATCH-TYPE]` (RFC 5228 §2.7.1, regex draft, RFC 5231 §4).
const MATCH_TYPE: &[TagSpec] = &[
    t("is", None, None, Some("match type")),
    t("contains", None, None, Some("match type")),
    t("matches", None, None, Some("match type")),
    t("regex", None, Some("regex"), Some("match type")),
    t(
        "count",
        Some(Kind::Str),
        Some("relational"),
        Some("match type"),
    ),
    t(
        "value",
        Some(Kind::Str),
        Some("relational"),
        Some("match type"),
    ),
];
/// `[ADDRESS-PART]` (RFC 5228 §2.7.4, RFC 5233 §4).
const ADDRESS_PART: &[TagSpec] = &[
    t("all", None, None, Some("address part")),
    t("localpart", None, None, Some("address part")),
    t("domain", None, None, Some("address part")),
    t("user", None, Some("subaddress"), Some("address part")),
    t("detail", None, Some("subaddress"), Some("address part")),
];
/// `:index` / `:last` (RFC 5260 §6).
const INDEX: &[TagSpec] = &[
    t("index", Some(Kind::Num), Some("index"), None),
    t("last", None, Some("index"), None),
];
/// `:zone` / `:originalzone` (RFC 5260 §4.1).
const ZONE: &[TagSpec] = &[
    t("zone", Some(Kind::Str), None, Some("zone")),
    t("originalzone", None, None, Some("zone")),
];
/// `:flags` (RFC 5232 §5).
const FLAGS: &[TagSpec] = &[t("flags", Some(Kind::List), Some("imap4flags"), None)];
/// `:copy` (RFC 3894 §3).
const COPY: &[TagSpec] = &[t("copy", None, Some("copy"), None)];
/// `:create` (RFC 5490 §3.2).
const CREATE: &[TagSpec] = &[t("create", None, Some("mailbox"), None)];
/// Body transforms (RFC 5173 §5).
const BODY_TRANSFORM: &[TagSpec] = &[
    t("raw", None, None, Some("body transform")),
    t("content", Some(Kind::List), None, Some("body transform")),
    t("text", None, None, Some("body transform")),
];
/// `vacation`'s tags (RFC 5230 §4, RFC 6131 §2).
const VACATION: &[TagSpec] = &[
    t("days", Some(Kind::Num), None, Some("period")),
    t(
        "seconds",
        Some(Kind::Num),
        Some("vacation-seconds"),
        Some("period"),
    ),
    t("subject", Some(Kind::Str), None, None),
    t("from", Some(Kind::Str), None, None),
    t("addresses", Some(Kind::List), None, None),
    t("mime", None, None, None),
    t("handle", Some(Kind::Str), None, None),
];
/// `set` modifiers (RFC 5229 §4.1).
const SET_MODIFIERS: &[TagSpec] = &[
    t("lower", None, None, Some("case modifier")),
    t("upper", None, None, Some("case modifier")),
    t("lowerfirst", None, None, Some("first-letter modifier")),
    t("upperfirst", None, None, Some("first-letter modifier")),
    t("quotewildcard", None, None, Some("quote modifier")),
    t("quoteregex", None, Some("regex"), Some("quote modifier")),
    t("length", None, None, None),
];
/// `include`'s tags (RFC 6609 §3.2).
const INCLUDE: &[TagSpec] = &[
    t("personal", None, None, Some("location")),
    t("global", None, None, Some("location")),
    t("once", None, None, None),
    t("optional", None, None, None),
];
/// `duplicate`'s tags (RFC 7352 §3).
const DUPLICATE: &[TagSpec] = &[
    t("handle", Some(Kind::Str), None, None),
    t("header", Some(Kind::Str), None, Some("unique id")),
    t("uniqueid", Some(Kind::Str), None, Some("unique id")),
    t("seconds", Some(Kind::Num), None, None),
    t("last", None, None, None),
];
/// `addheader :last` (RFC 5293 §4).
const ADDHEADER: &[TagSpec] = &[t("last", None, None, None)];
/// `deleteheader :index n [:last]` (RFC 5293 §5).
const DELETEHEADER_INDEX: &[TagSpec] = &[
    t("index", Some(Kind::Num), None, None),
    t("last", None, None, None),
];
/// `size`'s `:over` / `:under` (RFC 5228 §5.9).
const SIZE: &[TagSpec] = &[
    t("over", None, None, Some("size comparison")),
    t("under", None, None, Some("size comparison")),
];

/// What follows the arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    None,
    OneTest,
    TestList,
}

/// The signature of a command or test.
struct Spec {
    name: &'static str,
    ext: Option<&'static str>,
    tags: &'static [&'static [TagSpec]],
    positional: &'static [Kind],
    /// How many of the positionals may be left out, from the front (`setflag
    /// [<variablename>] <flags>`, `hasflag [<variable-list>] <flags>`) or, for
    /// `deleteheader`, from the back.
    optional: usize,
    optional_front: bool,
    tail: Tail,
    block: bool,
}

const fn spec(
    name: &'static str,
    ext: Option<&'static str>,
    tags: &'static [&'static [TagSpec]],
    positional: &'static [Kind],
) -> Spec {
    Spec {
        name,
        ext,
        tags,
        positional,
        optional: 0,
        optional_front: true,
        tail: Tail::None,
        block: false,
    }
}

use Kind::{List, Num, Str};

/// Commands (RFC 5228 §3, §4 and the extensions).
const COMMANDS: &[Spec] = &[
    Spec {
        tail: Tail::OneTest,
        block: true,
        ..spec("if", None, &[], &[])
    },
    Spec {
        tail: Tail::OneTest,
        block: true,
        ..spec("elsif", None, &[], &[])
    },
    Spec {
        block: true,
        ..spec("else", None, &[], &[])
    },
    spec("require", None, &[], &[List]),
    spec("stop", None, &[], &[]),
    spec("keep", None, &[FLAGS], &[]),
    spec("discard", None, &[], &[]),
    spec("redirect", None, &[COPY], &[Str]),
    spec("fileinto", Some("fileinto"), &[COPY, CREATE, FLAGS], &[Str]),
    spec("reject", Some("reject"), &[], &[Str]),
    spec("ereject", Some("ereject"), &[], &[Str]),
    spec("vacation", Some("vacation"), &[VACATION], &[Str]),
    Spec {
        optional: 1,
        ..spec("setflag", Some("imap4flags"), &[], &[Str, List])
    },
    Spec {
        optional: 1,
        ..spec("addflag", Some("imap4flags"), &[], &[Str, List])
    },
    Spec {
        optional: 1,
        ..spec("removeflag", Some("imap4flags"), &[], &[Str, List])
    },
    spec("set", Some("variables"), &[SET_MODIFIERS], &[Str, Str]),
    spec("include", Some("include"), &[INCLUDE], &[Str]),
    spec("return", Some("include"), &[], &[]),
    spec("global", Some("include"), &[], &[List]),
    spec("addheader", Some("editheader"), &[ADDHEADER], &[Str, Str]),
    Spec {
        optional: 1,
        optional_front: false,
        ..spec(
            "deleteheader",
            Some("editheader"),
            &[DELETEHEADER_INDEX, COMPARATOR, MATCH_TYPE],
            &[Str, List],
        )
    },
];

/// Tests (RFC 5228 §5 and the extensions).
const TESTS: &[Spec] = &[
    spec(
        "address",
        None,
        &[COMPARATOR, ADDRESS_PART, MATCH_TYPE, INDEX],
        &[List, List],
    ),
    Spec {
        tail: Tail::TestList,
        ..spec("allof", None, &[], &[])
    },
    Spec {
        tail: Tail::TestList,
        ..spec("anyof", None, &[], &[])
    },
    spec(
        "envelope",
        Some("envelope"),
        &[COMPARATOR, ADDRESS_PART, MATCH_TYPE],
        &[List, List],
    ),
    spec("exists", None, &[], &[List]),
    spec("false", None, &[], &[]),
    spec("true", None, &[], &[]),
    spec(
        "header",
        None,
        &[COMPARATOR, MATCH_TYPE, INDEX],
        &[List, List],
    ),
    Spec {
        tail: Tail::OneTest,
        ..spec("not", None, &[], &[])
    },
    spec("size", None, &[SIZE], &[Num]),
    spec(
        "body",
        Some("body"),
        &[COMPARATOR, MATCH_TYPE, BODY_TRANSFORM],
        &[List],
    ),
    spec(
        "date",
        Some("date"),
        &[ZONE, COMPARATOR, MATCH_TYPE, INDEX],
        &[Str, Str, List],
    ),
    spec(
        "currentdate",
        Some("date"),
        &[ZONE, COMPARATOR, MATCH_TYPE],
        &[Str, List],
    ),
    spec(
        "string",
        Some("variables"),
        &[COMPARATOR, MATCH_TYPE],
        &[List, List],
    ),
    Spec {
        optional: 1,
        ..spec(
            "hasflag",
            Some("imap4flags"),
            &[COMPARATOR, MATCH_TYPE],
            &[List, List],
        )
    },
    spec("mailboxexists", Some("mailbox"), &[], &[List]),
    spec("duplicate", Some("duplicate"), &[DUPLICATE], &[]),
];

/// Where each command and test is defined, for error messages and readers.
pub fn citation(name: &str) -> Option<&'static str> {
    Some(match name {
        "if" | "elsif" | "else" => "RFC 5228 §3.1",
        "require" => "RFC 5228 §3.2",
        "stop" => "RFC 5228 §3.3",
        "fileinto" => "RFC 5228 §4.1",
        "redirect" => "RFC 5228 §4.2",
        "keep" => "RFC 5228 §4.3",
        "discard" => "RFC 5228 §4.4",
        "address" => "RFC 5228 §5.1",
        "allof" => "RFC 5228 §5.2",
        "anyof" => "RFC 5228 §5.3",
        "envelope" => "RFC 5228 §5.4",
        "exists" => "RFC 5228 §5.5",
        "false" => "RFC 5228 §5.6",
        "header" => "RFC 5228 §5.7",
        "not" => "RFC 5228 §5.8",
        "size" => "RFC 5228 §5.9",
        "true" => "RFC 5228 §5.10",
        "reject" => "RFC 5429 §2.2",
        "ereject" => "RFC 5429 §2.1",
        "vacation" => "RFC 5230 §4",
        "setflag" => "RFC 5232 §3.1",
        "addflag" => "RFC 5232 §3.2",
        "removeflag" => "RFC 5232 §3.3",
        "hasflag" => "RFC 5232 §4",
        "set" => "RFC 5229 §4",
        "string" => "RFC 5229 §5",
        "include" => "RFC 6609 §3.2",
        "return" => "RFC 6609 §3.3",
        "global" => "RFC 6609 §3.4",
        "addheader" => "RFC 5293 §4",
        "deleteheader" => "RFC 5293 §5",
        "body" => "RFC 5173 §4",
        "date" => "RFC 5260 §4",
        "currentdate" => "RFC 5260 §5",
        "mailboxexists" => "RFC 5490 §3.1",
        "duplicate" => "RFC 7352 §3",
        _ => return None,
    })
}

/// A validated script: the tree, known to match the signatures above, and the
/// extensions it requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub commands: Vec<Command>,
    pub extensions: BTreeSet<String>,
}

/// Checks `ast` and returns it as a [`Script`], or every error found (in source order).
/// With `encoded-character` required, `${hex:…}` and `${unicode:…}` are decoded in
/// every string here (RFC 5228 §2.4.2.4).
pub fn validate(mut ast: Ast) -> Result<Script, Vec<ValidationError>> {
    let mut v = Validator {
        extensions: BTreeSet::new(),
        errors: Vec::new(),
    };
    v.requires(&ast.commands);
    if v.extensions.contains("encoded-character") {
        for c in &mut ast.commands {
            decode_command(c, &mut v.errors);
        }
    }
    v.block(&ast.commands, true);
    if v.errors.is_empty() {
        Ok(Script {
            commands: ast.commands,
            extensions: v.extensions,
        })
    } else {
        v.errors.sort_by_key(|e| e.offset);
        Err(v.errors)
    }
}

fn decode_args(args: &mut [Arg], errors: &mut Vec<ValidationError>) {
    for a in args {
        let pos = a.pos;
        let mut one = |s: &mut String| match encoded::decode(s) {
            Ok(Some(d)) => *s = d,
            Ok(None) => {}
            Err(message) => errors.push(ValidationError {
                offset: pos,
                message,
            }),
        };
        match &mut a.value {
            Value::String(s) => one(s),
            Value::List(l) => l.iter_mut().for_each(one),
            Value::Tag(_) | Value::Number(_) => {}
        }
    }
}

fn decode_tests(tests: &mut Option<Tests>, errors: &mut Vec<ValidationError>) {
    let list: &mut [Test] = match tests {
        Some(Tests::One(t)) => std::slice::from_mut(&mut **t),
        Some(Tests::List(l)) => l,
        None => &mut [],
    };
    for t in list {
        decode_args(&mut t.args, errors);
        decode_tests(&mut t.tests, errors);
    }
}

fn decode_command(c: &mut Command, errors: &mut Vec<ValidationError>) {
    decode_args(&mut c.args, errors);
    decode_tests(&mut c.tests, errors);
    for c in c.block.iter_mut().flatten() {
        decode_command(c, errors);
    }
}

struct Validator {
    extensions: BTreeSet<String>,
    errors: Vec<ValidationError>,
}

/// The tags found on one command or test, by name, with their values.
pub(crate) struct Found<'a> {
    pub tags: Vec<(&'a str, usize, Option<&'a Value>)>,
    pub positional: Vec<&'a Arg>,
}

impl<'a> Found<'a> {
    pub(crate) fn has(&self, name: &str) -> bool {
        self.tags.iter().any(|(n, _, _)| *n == name)
    }
    pub(crate) fn value(&self, name: &str) -> Option<&'a Value> {
        self.tags
            .iter()
            .find(|(n, _, _)| *n == name)
            .and_then(|(_, _, v)| *v)
    }
}

/// Splits `args` into tags (with values) and positionals, trusting the shapes a
/// validated script has.
pub(crate) fn split_args(args: &[Arg]) -> Found<'_> {
    let mut f = Found {
        tags: Vec::new(),
        positional: Vec::new(),
    };
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        match &a.value {
            Value::Tag(name) => {
                let takes = tag_takes_value(name);
                let v = if takes {
                    it.next().map(|a| &a.value)
                } else {
                    None
                };
                f.tags.push((name, a.pos, v));
            }
            _ => f.positional.push(a),
        }
    }
    f
}

/// The tags that take a value, in any signature (the same tag name never takes a value
/// in one place and none in another; a test checks this against the tables). A list
/// rather than a walk over the tables because the interpreter asks on every command.
const VALUE_TAGS: &[&str] = &[
    "comparator",
    "count",
    "value",
    "index",
    "zone",
    "flags",
    "content",
    "days",
    "seconds",
    "subject",
    "from",
    "addresses",
    "handle",
    "header",
    "uniqueid",
];

fn tag_takes_value(name: &str) -> bool {
    VALUE_TAGS.contains(&name)
}

impl Validator {
    fn err(&mut self, offset: usize, message: impl Into<String>) {
        self.errors.push(ValidationError {
            offset,
            message: message.into(),
        });
    }

    /// Collects the leading `require`s (RFC 5228 §3.2) and checks their names.
    fn requires(&mut self, commands: &[Command]) {
        for c in commands.iter().take_while(|c| c.name == "require") {
            for a in &c.args {
                for name in a.value.strings() {
                    let lower = name.to_ascii_lowercase();
                    if EXTENSIONS.contains(&lower.as_str()) {
                        if lower == "vacation-seconds" {
                            self.extensions.insert("vacation".into());
                        }
                        self.extensions.insert(lower);
                    } else {
                        self.err(a.pos, format!("unsupported extension \"{name}\""));
                    }
                }
            }
        }
    }

    fn need(&mut self, ext: Option<&str>, pos: usize, what: &str) {
        if let Some(ext) = ext
            && !self.extensions.contains(ext)
        {
            self.err(
                pos,
                format!("{what} needs the \"{ext}\" extension: add require \"{ext}\""),
            );
        }
    }

    fn block(&mut self, commands: &[Command], top: bool) {
        let mut after_require_section = !top;
        let mut prev: Option<&str> = None;
        for c in commands {
            if c.name == "require" {
                if after_require_section {
                    self.err(
                        c.pos,
                        "'require' is allowed only at the top, before any other command",
                    );
                }
            } else {
                after_require_section = true;
            }
            if (c.name == "elsif" || c.name == "else") && !matches!(prev, Some("if" | "elsif")) {
                self.err(c.pos, format!("'{}' without a preceding 'if'", c.name));
            }
            prev = Some(c.name.as_str());
            self.command(c);
        }
    }

    fn command(&mut self, c: &Command) {
        let Some(spec) = COMMANDS.iter().find(|s| s.name == c.name) else {
            if TESTS.iter().any(|s| s.name == c.name) {
                self.err(c.pos, format!("'{}' is a test, not a command", c.name));
            } else {
                self.err(c.pos, format!("unknown command '{}'", c.name));
            }
            return;
        };
        self.need(spec.ext, c.pos, &format!("command '{}'", c.name));
        let found = self.args(spec, &c.args, c.pos, "command");
        self.tail(spec, &c.tests, c.pos, "command");
        match (&c.block, spec.block) {
            (Some(_), false) => self.err(c.pos, format!("command '{}' takes no block", c.name)),
            (None, true) => self.err(c.pos, format!("command '{}' needs a block", c.name)),
            _ => {}
        }
        if let Some(f) = found {
            self.command_specifics(c, &f);
        }
        if let Some(b) = &c.block {
            self.block(b, false);
        }
    }

    fn test(&mut self, t: &Test) {
        let Some(spec) = TESTS.iter().find(|s| s.name == t.name) else {
            if COMMANDS.iter().any(|s| s.name == t.name) {
                self.err(t.pos, format!("'{}' is a command, not a test", t.name));
            } else {
                self.err(t.pos, format!("unknown test '{}'", t.name));
            }
            return;
        };
        self.need(spec.ext, t.pos, &format!("test '{}'", t.name));
        if let Some(f) = self.args(spec, &t.args, t.pos, "test") {
            self.test_specifics(t, &f);
        }
        self.tail(spec, &t.tests, t.pos, "test");
    }

    fn tail(&mut self, spec: &Spec, tests: &Option<Tests>, pos: usize, what: &str) {
        let name = spec.name;
        match (spec.tail, tests) {
            (Tail::None, None) => {}
            (Tail::None, Some(ts)) => {
                let p = ts.as_slice().first().map_or(pos, |t| t.pos);
                self.err(p, format!("{what} '{name}' takes no test"));
            }
            (Tail::OneTest, Some(Tests::One(t))) => self.test(t),
            (Tail::TestList, Some(Tests::List(l))) => l.iter().for_each(|t| self.test(t)),
            (Tail::OneTest, Some(Tests::List(_))) => self.err(
                pos,
                format!("{what} '{name}' takes one test, not a test list in parentheses"),
            ),
            (Tail::TestList, Some(Tests::One(_))) => self.err(
                pos,
                format!("{what} '{name}' takes a test list in parentheses"),
            ),
            (Tail::OneTest, None) => self.err(pos, format!("{what} '{name}' needs a test")),
            (Tail::TestList, None) => self.err(pos, format!("{what} '{name}' needs a test list")),
        }
    }

    /// Checks tags and positionals against `spec` (RFC 5228 §2.6: tags come before
    /// positional arguments, each at most once).
    fn args<'a>(
        &mut self,
        spec: &Spec,
        args: &'a [Arg],
        pos: usize,
        what: &str,
    ) -> Option<Found<'a>> {
        let name = spec.name;
        let errors_before = self.errors.len();
        let mut f = Found {
            tags: Vec::new(),
            positional: Vec::new(),
        };
        let mut groups: Vec<(&str, &str)> = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let Value::Tag(tag) = &a.value else {
                f.positional.push(a);
                continue;
            };
            if !f.positional.is_empty() {
                self.err(
                    a.pos,
                    format!("tag :{tag} after a positional argument of '{name}'"),
                );
                continue;
            }
            let Some(ts) = spec
                .tags
                .iter()
                .flat_map(|g| g.iter())
                .find(|t| t.name == tag)
            else {
                self.err(a.pos, format!("unknown tag :{tag} for {what} '{name}'"));
                continue;
            };
            self.need(ts.ext, a.pos, &format!("tag :{tag}"));
            if f.has(tag) {
                self.err(a.pos, format!("tag :{tag} given twice"));
            }
            if let Some(g) = ts.group {
                if let Some((_, other)) = groups.iter().find(|(gr, _)| *gr == g) {
                    self.err(
                        a.pos,
                        format!("tag :{tag} conflicts with :{other} (only one {g})"),
                    );
                }
                groups.push((g, ts.name));
            }
            let value = match ts.value {
                None => None,
                Some(kind) => match it.next() {
                    Some(v) if kind.accepts(&v.value) => Some(&v.value),
                    Some(v) => {
                        self.err(v.pos, format!("tag :{tag} takes {}", kind.name()));
                        None
                    }
                    None => {
                        self.err(a.pos, format!("tag :{tag} takes {}", kind.name()));
                        None
                    }
                },
            };
            f.tags.push((tag, a.pos, value));
        }
        let max = spec.positional.len();
        let min = max - spec.optional;
        let n = f.positional.len();
        if n < min || n > max {
            let want = if min == max {
                format!("{max}")
            } else {
                format!("{min} or {max}")
            };
            let at = f.positional.get(max).map_or(pos, |a| a.pos);
            let cite = citation(name).unwrap_or("RFC 5228");
            self.err(
                at,
                format!("{what} '{name}' takes {want} positional arguments, not {n} ({cite})"),
            );
        } else {
            let kinds = if spec.optional_front {
                &spec.positional[max - n..]
            } else {
                &spec.positional[..n]
            };
            for (a, k) in f.positional.iter().zip(kinds) {
                if !k.accepts(&a.value) {
                    self.err(a.pos, format!("{what} '{name}' expects {} here", k.name()));
                }
            }
        }
        self.common_tags(&f);
        // `:last` modifies `:index` (RFC 5260 §6, RFC 5293 §5); in `addheader` and
        // `duplicate` it stands alone.
        if !matches!(name, "addheader" | "duplicate")
            && !f.has("index")
            && let Some((_, p, _)) = f.tags.iter().find(|(n, _, _)| *n == "last")
        {
            self.err(*p, "tag :last needs :index");
        }
        (self.errors.len() == errors_before).then_some(f)
    }

    /// Comparator names, relational operators, `:last` without `:index`.
    fn common_tags(&mut self, f: &Found<'_>) {
        for (tag, pos, v) in &f.tags {
            let s = match v {
                Some(Value::String(s)) => s.as_str(),
                _ => continue,
            };
            match *tag {
                // RFC 5228 §2.7.3; RFC 4790 §9.
                "comparator" => match s.to_ascii_lowercase().as_str() {
                    "i;octet" | "i;ascii-casemap" => {}
                    "i;ascii-numeric" => {
                        self.need(Some("comparator-i;ascii-numeric"), *pos, "comparator")
                    }
                    _ => self.err(*pos, format!("unknown comparator \"{s}\"")),
                },
                // RFC 5231 §5.
                "count" | "value" if !RELATIONS.contains(&s.to_ascii_lowercase().as_str()) => self
                    .err(
                        *pos,
                        format!("unknown relational operator \"{s}\" (gt ge lt le eq ne)"),
                    ),
                _ => {}
            }
        }
        if let Some((_, pos, Some(Value::Number(0)))) =
            f.tags.iter().find(|(n, _, _)| *n == "index")
        {
            self.err(*pos, ":index counts from 1");
        }
    }

    fn match_keys(&mut self, f: &Found<'_>, keys: Option<&Arg>) {
        // RFC 4790 §9.1: i;ascii-numeric orders and compares, but has no substring
        // operation, so :contains, :matches and :regex cannot use it.
        if let Some(Value::String(c)) = f.value("comparator")
            && c.eq_ignore_ascii_case("i;ascii-numeric")
            && let Some((m, pos, _)) = f
                .tags
                .iter()
                .find(|(n, _, _)| matches!(*n, "contains" | "matches" | "regex"))
        {
            self.err(
                *pos,
                format!("comparator \"i;ascii-numeric\" cannot do :{m} (only :is, :value, :count)"),
            );
        }
        if f.has("regex")
            && let Some(k) = keys
        {
            for s in k.value.strings() {
                if s.contains("${") && self.extensions.contains("variables") {
                    continue;
                }
                if let Err(e) = crate::matcher::compile_regex(s, false) {
                    self.err(k.pos, format!("bad regular expression \"{s}\": {e}"));
                }
            }
        }
    }

    fn test_specifics(&mut self, t: &Test, f: &Found<'_>) {
        match t.name.as_str() {
            "size" if !f.has("over") && !f.has("under") => {
                self.err(t.pos, "test 'size' needs :over or :under")
            }
            "date" | "currentdate" => {
                let part = f.positional[f.positional.len() - 2];
                if let Value::String(p) = &part.value
                    && !DATE_PARTS.contains(&p.to_ascii_lowercase().as_str())
                    && !p.contains("${")
                {
                    self.err(part.pos, format!("unknown date part \"{p}\""));
                }
                if let Some(Value::String(z)) = f.value("zone")
                    && !z.contains("${")
                    && crate::date::parse_zone(z).is_none()
                {
                    self.err(
                        t.pos,
                        format!("bad time zone \"{z}\" (want +hhmm or -hhmm)"),
                    );
                }
                self.match_keys(f, f.positional.last().copied());
            }
            "envelope" => {
                // RFC 5228 §5.4: "from" and "to"; "auth" as RFC 4954 defines it.
                let parts = f.positional[0];
                for p in parts.value.strings() {
                    if !p.contains("${")
                        && !matches!(p.to_ascii_lowercase().as_str(), "from" | "to" | "auth")
                    {
                        self.err(parts.pos, format!("unknown envelope part \"{p}\""));
                    }
                }
                self.match_keys(f, f.positional.last().copied());
            }
            "hasflag" => {
                // RFC 5232 §4: the variable-list form reads variables.
                if f.positional.len() == 2 {
                    self.need(Some("variables"), f.positional[0].pos, "a flag variable");
                }
                self.match_keys(f, f.positional.last().copied());
            }
            "address" => {
                // RFC 5228 §5.1: only fields that hold addresses.
                let names = f.positional[0];
                for n in names.value.strings() {
                    if !n.contains("${")
                        && !ADDRESS_FIELDS.contains(&n.to_ascii_lowercase().as_str())
                    {
                        self.err(
                            names.pos,
                            format!("\"{n}\" is not a header field that holds addresses"),
                        );
                    }
                }
                self.match_keys(f, f.positional.last().copied());
            }
            "header" | "string" | "body" => {
                self.match_keys(f, f.positional.last().copied());
            }
            _ => {}
        }
    }

    fn command_specifics(&mut self, c: &Command, f: &Found<'_>) {
        match c.name.as_str() {
            "addheader" | "deleteheader" => {
                let name = f.positional[0];
                if let Value::String(n) = &name.value
                    && !n.contains("${")
                    && !is_field_name(n)
                {
                    self.err(name.pos, format!("bad header field name \"{n}\""));
                }
                if c.name == "addheader"
                    && let Value::String(v) = &f.positional[1].value
                    && v.contains('\0')
                {
                    self.err(f.positional[1].pos, "header field value with a NUL");
                }
                if c.name == "deleteheader" {
                    self.match_keys(f, f.positional.get(1).copied());
                }
            }
            "set" => {
                if let Value::String(name) = &f.positional[0].value
                    && !is_variable_name(name, self.extensions.contains("include"))
                {
                    self.err(f.positional[0].pos, format!("bad variable name \"{name}\""));
                }
            }
            "global" => self.need(Some("variables"), c.pos, "command 'global'"),
            // RFC 5232 §3: the variable-name form works on a variable.
            "setflag" | "addflag" | "removeflag" if f.positional.len() == 2 => {
                self.need(Some("variables"), f.positional[0].pos, "a flag variable")
            }
            "redirect" => {
                if let Value::String(a) = &f.positional[0].value
                    && !a.contains("${")
                    && !crate::address::is_valid_mailbox(a)
                {
                    self.err(
                        f.positional[0].pos,
                        format!("redirect to \"{a}\": not an address (local@domain)"),
                    );
                }
            }
            "vacation" => {
                if let Some(Value::String(from)) = f.value("from")
                    && !from.contains("${")
                    && !crate::address::is_valid_mailbox(from)
                {
                    self.err(c.pos, format!("vacation :from \"{from}\": not an address"));
                }
            }
            _ => {}
        }
    }
}

/// A `set` target: an identifier (RFC 5229 §3 `variable-name`); the only namespace
/// known is `global.` with include (RFC 6609 §3.5).
fn is_variable_name(s: &str, include: bool) -> bool {
    let ident = |p: &str| {
        let mut cs = p.chars();
        cs.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match s.split_once('.') {
        None => ident(s),
        Some((ns, rest)) => include && ns.eq_ignore_ascii_case("global") && ident(rest),
    }
}

/// RFC 5322 §3.6.8 `field-name = 1*ftext`: printable ASCII but ":".
fn is_field_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_tags_match_the_tables() {
        for spec in COMMANDS.iter().chain(TESTS) {
            for t in spec.tags.iter().flat_map(|g| g.iter()) {
                assert_eq!(
                    tag_takes_value(t.name),
                    t.value.is_some(),
                    ":{} of {}",
                    t.name,
                    spec.name
                );
            }
        }
    }

    #[test]
    fn every_spec_has_a_citation() {
        for spec in COMMANDS.iter().chain(TESTS) {
            assert!(citation(spec.name).is_some(), "{}", spec.name);
        }
    }
}
