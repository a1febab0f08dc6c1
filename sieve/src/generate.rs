//! Scripts written for users without a Sieve client (mailyard issue 11): `mailyard
//! vacation set` (RFC 5230 §4) and `mailyard forward set` (RFC 5228 §4.2, `:copy` RFC
//! 3894). Pure: the caller reads the user's scripts, hands their state in, and carries
//! out the [`Step`]s planned here with the store.
//!
//! A generated script is an ordinary script under a reserved name ([`VACATION_SCRIPT`],
//! [`FORWARD_SCRIPT`]): ManageSieve lists it and a client may read it. Its first line
//! records which script was active before it,
//!
//! ```text
//! # mailyard-generated vacation; previous active script: "filters"
//! ```
//!
//! and after its own action it includes that one (RFC 6609 §3.2 `include :personal
//! :optional`), so the user's filters keep working; `clear` makes it active again.
//!
//! Chains: the active script, then the previous recorded in its header while that is a
//! generated script too, form a chain (`mailyard-vacation` → `mailyard-forward` →
//! `filters`). `set` of a kind already in the chain rewrites that script and keeps
//! its recorded previous (and what is active); otherwise the new script wraps the
//! active one and becomes active. `clear` of the active script makes its previous
//! active; `clear` of one further down rewrites the script that includes it to include
//! its previous instead, so nothing dangles.
//!
//! Invariants: every script written here compiles (checked before it is returned).
//! `set` and `clear` replace or delete their own kind's script (what was changed in it
//! by hand is lost, as its comment says), but never a script under a reserved name
//! without the header line ([`GenerateError::NotOurs`]); and a generated script that
//! would have to be rewritten to unlink another but no longer reads back (changed by
//! hand) is left alone: [`GenerateError::Edited`].

use std::fmt;

use crate::address;
use crate::ast::{Command, Tests, Value};
use crate::date::DateTime;
use crate::validate::split_args;

/// The script `mailyard vacation set` writes.
pub const VACATION_SCRIPT: &str = "mailyard-vacation";
/// The script `mailyard forward set` writes.
pub const FORWARD_SCRIPT: &str = "mailyard-forward";
/// How often a sender hears the reply, by default (RFC 5230 §4.1: 7 days).
pub const DEFAULT_VACATION_DAYS: u64 = 7;
/// The shortest `:days` accepted (RFC 5230 §4.1: a site's minimum is at least 1).
pub const MIN_VACATION_DAYS: u64 = 1;
/// The longest `:days` accepted (RFC 5230 §4.1 lets a site cap it above 30): a year.
pub const MAX_VACATION_DAYS: u64 = 365;
/// Longest subject, in bytes: one header line (RFC 5322 §2.1.1).
pub const MAX_SUBJECT_BYTES: usize = 998;
/// Longest reply text, in bytes: one Sieve string (the parser's cap).
pub const MAX_REASON_BYTES: usize = crate::parser::MAX_STRING_LEN;
/// Most extra `:addresses` (RFC 5230 §4.5) — the parser's cap on a string list.
pub const MAX_ADDRESSES: usize = crate::parser::MAX_LIST_LEN;

/// What the header line of a generated script starts with.
const MARK: &str = "# mailyard-generated ";
/// Line ends of generated scripts (RFC 5228 §8.1 writes CRLF).
const CRLF: &str = "\r\n";

/// Why a script cannot be generated, read back or planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// A bad argument (an address that is not one, an empty text …).
    #[error("{0}")]
    Invalid(String),
    /// A generated script that was changed by hand so that it no longer reads back.
    #[error(
        "script \"{name}\" was edited by hand ({why}); change it with a Sieve client, or delete it"
    )]
    Edited { name: String, why: String },
    /// The reserved name holds a script mailyard did not write.
    #[error(
        "script \"{0}\" exists and was not written by mailyard; rename or delete it first (mailyard sieve rename|delete)"
    )]
    NotOurs(String),
}

fn invalid(s: impl Into<String>) -> GenerateError {
    GenerateError::Invalid(s.into())
}

/// Which generated script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Vacation,
    Forward,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 2] = [Kind::Vacation, Kind::Forward];

    /// Its reserved script name.
    pub fn script_name(self) -> &'static str {
        match self {
            Kind::Vacation => VACATION_SCRIPT,
            Kind::Forward => FORWARD_SCRIPT,
        }
    }

    /// The kind whose reserved name this is.
    pub fn from_script_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.script_name() == name)
    }

    /// The word in the header line (and the CLI command).
    pub fn word(self) -> &'static str {
        match self {
            Kind::Vacation => "vacation",
            Kind::Forward => "forward",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A calendar day, `YYYY-MM-DD` (RFC 5260 §4.2 "date").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Day {
    /// `YYYY-MM-DD`, a day that exists (years 1000–9999: the part `currentdate`
    /// compares as text is then in order).
    pub fn parse(s: &str) -> Option<Day> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let part = &s[r];
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())
                .flatten()
        };
        let year = num(0..4)?;
        let month = u8::try_from(num(5..7)?).ok()?;
        let day = u8::try_from(num(8..10)?).ok()?;
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let last = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (year >= 1000 && (1..=last).contains(&day)).then_some(Day { year, month, day })
    }

    /// The day of a moment, in its own zone.
    pub fn of(t: &DateTime) -> Day {
        Day {
            year: u16::try_from(t.year.clamp(0, 9999)).unwrap_or(9999),
            month: u8::try_from(t.month).unwrap_or(1),
            day: u8::try_from(t.day).unwrap_or(1),
        }
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// An auto-reply (RFC 5230 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacationSpec {
    /// `:subject` (RFC 5230 §4.3), one line.
    pub subject: String,
    /// The reply text (RFC 5230 §4.7 `reason`), lines ending CRLF, no trailing line end.
    pub reason: String,
    /// `:days` (RFC 5230 §4.1).
    pub days: u64,
    /// The last day replies are sent (inclusive), as `currentdate` sees "now" (RFC 5260
    /// §5); `None`: until cleared.
    pub until: Option<Day>,
    /// `:from` (RFC 5230 §4.4).
    pub from: Option<String>,
    /// `:addresses` (RFC 5230 §4.5): more addresses of the user's.
    pub addresses: Vec<String>,
}

impl VacationSpec {
    /// Checks the arguments and normalizes the text (line ends to CRLF, trailing blank
    /// lines dropped). `days` is [`DEFAULT_VACATION_DAYS`] when not given.
    pub fn new(
        subject: &str,
        reason: &str,
        days: Option<u64>,
        until: Option<&str>,
        from: Option<&str>,
        addresses: &[String],
    ) -> Result<VacationSpec, GenerateError> {
        let subject = subject.trim();
        if subject.is_empty() {
            return Err(invalid("the subject is empty"));
        }
        if subject.chars().any(char::is_control) {
            return Err(invalid(
                "the subject must be one line without control characters",
            ));
        }
        if subject.len() > MAX_SUBJECT_BYTES {
            return Err(invalid(format!(
                "the subject is longer than {MAX_SUBJECT_BYTES} bytes"
            )));
        }
        let reason = reason
            .replace("\r\n", "\n")
            .trim_end()
            .trim_start_matches(['\r', '\n'])
            .replace('\n', CRLF);
        if reason.trim().is_empty() {
            return Err(invalid("the reply text (standard input) is empty"));
        }
        if reason
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\r' | '\n' | '\t'))
        {
            return Err(invalid("the reply text contains control characters"));
        }
        if reason.len() > MAX_REASON_BYTES {
            return Err(invalid(format!(
                "the reply text is longer than {MAX_REASON_BYTES} bytes"
            )));
        }
        let days = days.unwrap_or(DEFAULT_VACATION_DAYS);
        if !(MIN_VACATION_DAYS..=MAX_VACATION_DAYS).contains(&days) {
            return Err(invalid(format!(
                "--days must be from {MIN_VACATION_DAYS} to {MAX_VACATION_DAYS} (RFC 5230 §4.1)"
            )));
        }
        let until = match until {
            None => None,
            Some(u) => Some(
                Day::parse(u.trim())
                    .ok_or_else(|| invalid(format!("--until {u:?}: not a date as YYYY-MM-DD")))?,
            ),
        };
        let from = match from.map(str::trim) {
            None => None,
            Some(f) if address::is_valid_mailbox(f) => Some(f.to_string()),
            Some(f) => return Err(invalid(format!("--from {f:?}: not an address"))),
        };
        if addresses.len() > MAX_ADDRESSES {
            return Err(invalid(format!("more than {MAX_ADDRESSES} --address")));
        }
        let mut extra = Vec::new();
        for a in addresses {
            let Some(bare) = address::parse_mailbox(a) else {
                return Err(invalid(format!("--address {a:?}: not an address")));
            };
            if !extra.contains(&bare) {
                extra.push(bare);
            }
        }
        Ok(VacationSpec {
            subject: subject.to_string(),
            reason,
            days,
            until,
            from,
            addresses: extra,
        })
    }
}

/// Forwarding (RFC 5228 §4.2 `redirect`; with a copy kept, RFC 3894 `:copy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSpec {
    /// Where to, as `local@domain`.
    pub target: String,
    /// Whether the user keeps a copy.
    pub keep: bool,
}

impl ForwardSpec {
    /// Checks that `target` is one address other than `owner`'s.
    pub fn new(owner: &str, target: &str, keep: bool) -> Result<ForwardSpec, GenerateError> {
        let Some(target) = address::parse_mailbox(target) else {
            return Err(invalid(format!(
                "{target:?} is not an address (local@domain)"
            )));
        };
        if target.eq_ignore_ascii_case(owner.trim()) {
            return Err(invalid(format!("{owner} cannot forward to itself")));
        }
        Ok(ForwardSpec { target, keep })
    }
}

/// What a generated script does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Vacation(VacationSpec),
    Forward(ForwardSpec),
}

impl Spec {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Spec::Vacation(_) => Kind::Vacation,
            Spec::Forward(_) => Kind::Forward,
        }
    }
}

/// A generated script read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub spec: Spec,
    /// The script that was active before, which this one includes.
    pub previous: Option<String>,
}

/// `s` as a Sieve quoted string: `\` and `"` escaped (RFC 5228 §2.4.2). Line ends may
/// stand in it as they are.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A quoted string at the start of `s` and what follows it (RFC 5228 §2.4.2).
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    let body = &s[1..];
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

/// The header line: the kind and the previous active script.
fn header_line(kind: Kind, previous: Option<&str>) -> String {
    match previous {
        Some(p) => format!("{MARK}{kind}; previous active script: {}", quote(p)),
        None => format!("{MARK}{kind}; no previous active script"),
    }
}

/// The kind and recorded previous script of a generated script, from its first line;
/// `None` when `text` does not start like one.
pub fn header(text: &str) -> Option<(Kind, Option<String>)> {
    let line = text.lines().next()?.trim_end_matches('\r');
    let rest = line.strip_prefix(MARK)?;
    let (word, rest) = rest.split_once("; ")?;
    let kind = Kind::ALL.into_iter().find(|k| k.word() == word)?;
    if rest == "no previous active script" {
        return Some((kind, None));
    }
    let (name, tail) = unquote(rest.strip_prefix("previous active script: ")?)?;
    tail.is_empty().then_some((kind, Some(name)))
}

/// The script for `spec`, including `previous` after its action (RFC 6609 §3.2). It
/// compiles: an input that would not is refused here.
pub fn script(spec: &Spec, previous: Option<&str>) -> Result<String, GenerateError> {
    let kind = spec.kind();
    if previous == Some(kind.script_name()) {
        return Err(invalid(format!("\"{kind}\" cannot include itself")));
    }
    let mut out = header_line(kind, previous);
    out.push_str(CRLF);
    out.push_str(&format!(
        "# Written by `mailyard {kind} set`; `mailyard {kind} clear` deletes it{}.{CRLF}",
        if previous.is_some() {
            " and makes the previous script active again"
        } else {
            ""
        }
    ));
    out.push_str(&format!(
        "# `mailyard {kind} set` rewrites it: to change it by hand, copy it under another name.{CRLF}"
    ));
    let mut require: Vec<&str> = Vec::new();
    let mut body = String::new();
    match spec {
        Spec::Vacation(v) => {
            require.push("vacation");
            let mut cmd = format!("vacation :days {} :subject {}", v.days, quote(&v.subject));
            if let Some(f) = &v.from {
                cmd.push_str(&format!(" :from {}", quote(f)));
            }
            if !v.addresses.is_empty() {
                let list: Vec<String> = v.addresses.iter().map(|a| quote(a)).collect();
                cmd.push_str(&format!(" :addresses [{}]", list.join(", ")));
            }
            cmd.push_str(&format!(" {};", quote(&v.reason)));
            match v.until {
                // RFC 5260 §5 with RFC 5231 §4.2: "date" compares as text, in order.
                Some(day) => {
                    require.extend(["date", "relational"]);
                    body.push_str(&format!(
                        "if currentdate :value \"le\" \"date\" {} {{{CRLF}    {cmd}{CRLF}}}{CRLF}",
                        quote(&day.to_string())
                    ));
                }
                None => {
                    body.push_str(&cmd);
                    body.push_str(CRLF);
                }
            }
        }
        Spec::Forward(f) => {
            if f.keep {
                require.push("copy");
                body.push_str(&format!("redirect :copy {};{CRLF}", quote(&f.target)));
            } else {
                body.push_str(&format!("redirect {};{CRLF}", quote(&f.target)));
            }
        }
    }
    if let Some(p) = previous {
        require.push("include");
        body.push_str(&format!("include :personal :optional {};{CRLF}", quote(p)));
    }
    if !require.is_empty() {
        let list: Vec<String> = require.iter().map(|r| quote(r)).collect();
        out.push_str(&format!("require [{}];{CRLF}", list.join(", ")));
    }
    out.push_str(&body);
    if let Err(errors) = crate::compile(&out) {
        let first = errors.first().map(ToString::to_string).unwrap_or_default();
        return Err(invalid(format!("the script would not compile: {first}")));
    }
    Ok(out)
}

/// Reads a generated script back; `Ok(None)` when `text` is not one (no header line),
/// [`GenerateError::Edited`] when it has the header but not the shape [`script`] gives.
pub fn read(name: &str, text: &str) -> Result<Option<Generated>, GenerateError> {
    let Some((kind, previous)) = header(text) else {
        return Ok(None);
    };
    let edited = |why: &str| GenerateError::Edited {
        name: name.to_string(),
        why: why.to_string(),
    };
    let parsed = crate::compile(text).map_err(|errors| {
        let first = errors.first().map(ToString::to_string).unwrap_or_default();
        edited(&format!("it does not compile: {first}"))
    })?;
    let mut spec = None;
    let mut included = None;
    for c in &parsed.commands {
        match c.name.as_str() {
            "require" => {}
            "vacation" if kind == Kind::Vacation && spec.is_none() => {
                let v = read_vacation(c, None).ok_or_else(|| edited("an unexpected tag"))?;
                spec = Some(Spec::Vacation(v));
            }
            "if" if kind == Kind::Vacation && spec.is_none() => {
                let until = until_of(c).ok_or_else(|| edited("an unexpected test"))?;
                let inner = match c.block.as_deref() {
                    Some([v]) if v.name == "vacation" => v,
                    _ => return Err(edited("an unexpected block")),
                };
                let v =
                    read_vacation(inner, Some(until)).ok_or_else(|| edited("an unexpected tag"))?;
                spec = Some(Spec::Vacation(v));
            }
            "redirect" if kind == Kind::Forward && spec.is_none() => {
                let f = split_args(&c.args);
                if f.tags.iter().any(|(n, _, _)| *n != "copy") {
                    return Err(edited("an unexpected tag"));
                }
                let target = f
                    .positional
                    .first()
                    .and_then(|a| a.value.strings().first())
                    .cloned()
                    .unwrap_or_default();
                spec = Some(Spec::Forward(ForwardSpec {
                    target,
                    keep: f.has("copy"),
                }));
            }
            "include" if spec.is_some() && included.is_none() => {
                let f = split_args(&c.args);
                let n = f
                    .positional
                    .first()
                    .and_then(|a| a.value.strings().first())
                    .cloned()
                    .unwrap_or_default();
                if !f.has("optional")
                    || f.tags
                        .iter()
                        .any(|(n, _, _)| *n == "global" || *n == "once")
                {
                    return Err(edited("an unexpected include"));
                }
                included = Some(n);
            }
            other => return Err(edited(&format!("an unexpected '{other}'"))),
        }
    }
    let spec = spec.ok_or_else(|| edited(&format!("no {kind} command")))?;
    if included != previous {
        return Err(edited("its include does not match its first line"));
    }
    Ok(Some(Generated { spec, previous }))
}

/// The day of `if currentdate :value "le" "date" "YYYY-MM-DD"`.
fn until_of(c: &Command) -> Option<Day> {
    let Some(Tests::One(t)) = &c.tests else {
        return None;
    };
    if t.name != "currentdate" {
        return None;
    }
    let f = split_args(&t.args);
    let le = matches!(f.value("value"), Some(Value::String(r)) if r == "le");
    let part = f.positional.first()?.value.strings();
    let keys = f.positional.get(1)?.value.strings();
    if !le || f.tags.len() != 1 || part != ["date"] || keys.len() != 1 {
        return None;
    }
    Day::parse(&keys[0])
}

/// The settings of a `vacation` command with only the tags [`script`] writes.
fn read_vacation(c: &Command, until: Option<Day>) -> Option<VacationSpec> {
    let f = split_args(&c.args);
    let known = |n: &str| matches!(n, "days" | "subject" | "from" | "addresses");
    if !f.tags.iter().all(|(n, _, _)| known(n)) {
        return None;
    }
    let text = |tag: &str| match f.value(tag) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let days = match f.value("days") {
        Some(Value::Number(d)) => *d,
        _ => DEFAULT_VACATION_DAYS,
    };
    Some(VacationSpec {
        subject: text("subject").unwrap_or_default(),
        reason: f
            .positional
            .first()
            .and_then(|a| a.value.strings().first())
            .cloned()
            .unwrap_or_default(),
        days,
        until,
        from: text("from"),
        addresses: f
            .value("addresses")
            .map(|v| v.strings().to_vec())
            .unwrap_or_default(),
    })
}

/// What the planner needs to know of a user's scripts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The active script's name.
    pub active: Option<String>,
    /// Every script's name.
    pub names: Vec<String>,
    /// The text of [`VACATION_SCRIPT`], if it exists.
    pub vacation: Option<String>,
    /// The text of [`FORWARD_SCRIPT`], if it exists.
    pub forward: Option<String>,
}

impl State {
    /// The text of `kind`'s script.
    pub fn text(&self, kind: Kind) -> Option<&str> {
        match kind {
            Kind::Vacation => self.vacation.as_deref(),
            Kind::Forward => self.forward.as_deref(),
        }
    }

    /// The generated scripts the active one reaches, active first: (kind, recorded
    /// previous). Stops at a script that is not a generated one (the user's own).
    pub fn chain(&self) -> Vec<(Kind, Option<String>)> {
        let mut out: Vec<(Kind, Option<String>)> = Vec::new();
        let mut next = self.active.clone();
        while let Some(name) = next {
            let Some(kind) = Kind::from_script_name(&name) else {
                break;
            };
            let Some((k, previous)) = self.text(kind).and_then(header) else {
                break;
            };
            if k != kind || out.iter().any(|(seen, _)| *seen == kind) {
                break;
            }
            next = previous.clone();
            out.push((kind, previous));
        }
        out
    }

    /// Where `kind`'s script stands.
    pub fn placement(&self, kind: Kind) -> Placement {
        if self.active.as_deref() == Some(kind.script_name()) {
            return Placement::Active;
        }
        let chain = self.chain();
        match chain.iter().position(|(k, _)| *k == kind) {
            Some(i) if i > 0 => Placement::IncludedBy(chain[i - 1].0),
            _ if self.text(kind).is_some() => Placement::Unused,
            _ => Placement::Absent,
        }
    }
}

/// Where a generated script stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// It is the active script.
    Active,
    /// The active chain includes it, from this generated script.
    IncludedBy(Kind),
    /// It exists, but the active script does not reach it: it does nothing.
    Unused,
    /// There is no such script.
    Absent,
}

/// One change to a user's scripts; apply them in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Store this script (RFC 5804 §2.6 PUTSCRIPT).
    Put { name: String, text: String },
    /// Make this script active, or none (RFC 5804 §2.8 SETACTIVE).
    Activate(Option<String>),
    /// Delete this script; it is not active by then (RFC 5804 §2.10 DELETESCRIPT).
    Delete(String),
}

/// What `set` will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetPlan {
    pub steps: Vec<Step>,
    /// The script included after the new action.
    pub previous: Option<String>,
    /// Whether a script of this kind already ran (and is rewritten in place).
    pub replaced: bool,
}

/// Plans `set`: see the module docs for chains.
pub fn plan_set(state: &State, spec: &Spec) -> Result<SetPlan, GenerateError> {
    let kind = spec.kind();
    let name = kind.script_name();
    if let Some((_, previous)) = state.chain().into_iter().find(|(k, _)| *k == kind) {
        let text = script(spec, previous.as_deref())?;
        return Ok(SetPlan {
            steps: vec![Step::Put {
                name: name.to_string(),
                text,
            }],
            previous,
            replaced: true,
        });
    }
    // Not reached from the active script: a leftover of ours is overwritten, a script
    // of someone else's under the name is not.
    let exists = state.text(kind).is_some() || state.names.iter().any(|n| n == name);
    if exists && state.text(kind).and_then(header).map(|h| h.0) != Some(kind) {
        return Err(GenerateError::NotOurs(name.to_string()));
    }
    let previous = state.active.clone();
    let text = script(spec, previous.as_deref())?;
    Ok(SetPlan {
        steps: vec![
            Step::Put {
                name: name.to_string(),
                text,
            },
            Step::Activate(Some(name.to_string())),
        ],
        previous,
        replaced: false,
    })
}

/// What `clear` will do, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearPlan {
    /// Nothing set: nothing to do.
    NotSet,
    /// It was active: `restored` becomes active (none when it had no previous, or
    /// its previous no longer exists: `missing` names that one).
    Restored {
        steps: Vec<Step>,
        restored: Option<String>,
        missing: Option<String>,
    },
    /// It was included by `by`, which now includes its previous instead.
    Unlinked { steps: Vec<Step>, by: Kind },
    /// It existed but nothing ran it: deleted.
    Unused { steps: Vec<Step> },
}

impl ClearPlan {
    /// The steps to apply.
    pub fn steps(&self) -> &[Step] {
        match self {
            ClearPlan::NotSet => &[],
            ClearPlan::Restored { steps, .. }
            | ClearPlan::Unlinked { steps, .. }
            | ClearPlan::Unused { steps } => steps,
        }
    }
}

/// Plans `clear`: see the module docs for chains.
pub fn plan_clear(state: &State, kind: Kind) -> Result<ClearPlan, GenerateError> {
    let name = kind.script_name().to_string();
    let chain = state.chain();
    match chain.iter().position(|(k, _)| *k == kind) {
        Some(0) => {
            let previous = chain[0].1.clone();
            let (restored, missing) = match previous {
                Some(p) if state.names.contains(&p) => (Some(p), None),
                Some(p) => (None, Some(p)),
                None => (None, None),
            };
            Ok(ClearPlan::Restored {
                steps: vec![Step::Activate(restored.clone()), Step::Delete(name)],
                restored,
                missing,
            })
        }
        Some(i) => {
            let (outer, _) = chain[i - 1];
            let outer_name = outer.script_name();
            let text = state.text(outer).unwrap_or_default();
            let Some(g) = read(outer_name, text)? else {
                return Err(GenerateError::NotOurs(outer_name.to_string()));
            };
            let previous = chain[i].1.clone();
            let text = script(&g.spec, previous.as_deref())?;
            Ok(ClearPlan::Unlinked {
                steps: vec![
                    Step::Put {
                        name: outer_name.to_string(),
                        text,
                    },
                    Step::Delete(name),
                ],
                by: outer,
            })
        }
        None => {
            let Some(text) = state.text(kind) else {
                return Ok(ClearPlan::NotSet);
            };
            match header(text) {
                // Not active (else the chain would start with it): nothing runs it.
                Some((k, _)) if k == kind => Ok(ClearPlan::Unused {
                    steps: vec![Step::Delete(name)],
                }),
                _ => Err(GenerateError::NotOurs(name)),
            }
        }
    }
}

/// A generated script as `mailyard vacation|forward show` prints it: where it stands,
/// then its settings read back (or, edited by hand, its text). `today` is the day
/// delivery's `currentdate` sees.
pub fn describe(state: &State, kind: Kind, today: Day) -> String {
    let name = kind.script_name();
    let placement = state.placement(kind);
    let Some(text) = state.text(kind) else {
        return format!("{kind}: off\n");
    };
    let status = match placement {
        Placement::Active => format!("on (script \"{name}\" is active)"),
        Placement::IncludedBy(by) => format!(
            "on (script \"{name}\" runs from \"{}\", which is active)",
            by.script_name()
        ),
        Placement::Unused | Placement::Absent => format!(
            "off (script \"{name}\" exists but is not active nor included by the active one)"
        ),
    };
    let mut out = String::new();
    match read(name, text) {
        Ok(Some(g)) => {
            let mut status = status;
            if let Spec::Vacation(VacationSpec {
                until: Some(until), ..
            }) = &g.spec
                && *until < today
                && matches!(placement, Placement::Active | Placement::IncludedBy(_))
            {
                status = format!("{status}, but its last day {until} has passed: no replies");
            }
            out.push_str(&format!("{kind}: {status}\n"));
            match &g.spec {
                Spec::Vacation(v) => {
                    out.push_str(&format!("subject: {}\n", v.subject));
                    match v.until {
                        Some(u) => out.push_str(&format!("until: {u} (inclusive, UTC)\n")),
                        None => out.push_str("until: cleared\n"),
                    }
                    out.push_str(&format!("days: {}\n", v.days));
                    if let Some(f) = &v.from {
                        out.push_str(&format!("from: {f}\n"));
                    }
                    if !v.addresses.is_empty() {
                        out.push_str(&format!("addresses: {}\n", v.addresses.join(", ")));
                    }
                }
                Spec::Forward(f) => {
                    out.push_str(&format!("to: {}\n", f.target));
                    out.push_str(&format!(
                        "keep a copy: {}\n",
                        if f.keep { "yes" } else { "no" }
                    ));
                }
            }
            match &g.previous {
                Some(p) => out.push_str(&format!(
                    "then runs: \"{p}\" (the previous active script)\n"
                )),
                None => out.push_str("then runs: nothing (no script was active before)\n"),
            }
            if let Spec::Vacation(v) = &g.spec {
                out.push_str("text:\n");
                for line in v.reason.lines() {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        Ok(None) | Err(_) => {
            out.push_str(&format!("{kind}: {status}\n"));
            out.push_str(&format!(
                "script \"{name}\" is not as `mailyard {kind} set` wrote it (changed by hand?); its text:\n{}",
                text.replace("\r\n", "\n")
            ));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_only_when_they_exist() {
        for (s, ok) in [
            ("2026-12-31", true),
            ("2028-02-29", true),
            ("2000-02-29", true),
            ("1900-02-29", false),
            ("2026-02-29", false),
            ("2026-04-31", false),
            ("2026-13-01", false),
            ("2026-00-10", false),
            ("2026-1-01", false),
            ("2026-01-1x", false),
            ("0999-01-01", false),
            ("+026-01-01", false),
        ] {
            assert_eq!(Day::parse(s).is_some(), ok, "{s}");
        }
        let d = Day::parse("2026-03-09").expect("day");
        assert_eq!(d.to_string(), "2026-03-09");
    }

    #[test]
    fn quoting_round_trips() {
        for s in ["plain", "a \"quoted\" \\ back", "", "line\r\nline", "\\\""] {
            let q = quote(s);
            assert_eq!(unquote(&q), Some((s.to_string(), "")), "{q}");
        }
    }

    #[test]
    fn header_lines() {
        assert_eq!(
            header(
                "# mailyard-generated vacation; previous active script: \"fil\\\"ters\"\r\nkeep;"
            ),
            Some((Kind::Vacation, Some("fil\"ters".to_string())))
        );
        assert_eq!(
            header("# mailyard-generated forward; no previous active script\n"),
            Some((Kind::Forward, None))
        );
        assert_eq!(
            header("# mailyard-generated other; no previous active script"),
            None
        );
        assert_eq!(header("# mine\r\nkeep;"), None);
        assert_eq!(
            header("# mailyard-generated vacation; previous active script: \"x\" more"),
            None
        );
    }
}
