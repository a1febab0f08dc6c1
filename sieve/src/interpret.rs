//! Running a validated script against one message (RFC 5228 §2.10, §3–§5 and the
//! extensions): the result is the list of actions, with the implicit keep applied.
//!
//! Invariants: pure (the message, its envelope and "now" come in; questions only the
//! store can answer — does a mailbox exist, was this message seen before — go through
//! [`MessageView`]); bounded by [`Limits`]: running out of steps, actions or redirects
//! is a [`RuntimeError`], which the caller turns into "keep in INBOX".

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::address::{self, Part};
use crate::ast::{Arg, Command, Test, Tests, Value};
use crate::date::{self, DateTime};
use crate::matcher::{self, Comparator, MatchType, Relation};
use crate::validate::{Found, Script, split_args};

/// Longest value a variable holds, in bytes (RFC 5229 §3 lets implementations cap it;
/// longer values are cut at a character boundary).
pub const MAX_VARIABLE_LEN: usize = 4096;
/// Most distinct variables one run may set.
pub const MAX_VARIABLES: usize = 256;
/// Deepest chain of `include`s (Pigeonhole's `sieve_include_max_nesting_depth`).
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// Most `include`s run in one delivery (Pigeonhole's `sieve_include_max_includes`).
pub const MAX_INCLUDES: usize = 255;

/// What the interpreter needs to know about the message and the store.
pub trait MessageView {
    /// The values of every header field named `name` (case-insensitive), in message
    /// order, unfolded, without leading and trailing blanks, not decoded.
    fn header_raw(&self, name: &str) -> Vec<String>;
    /// As [`MessageView::header_raw`], with RFC 2047 encoded words decoded (what
    /// `header` compares, RFC 5228 §5.7).
    fn header_decoded(&self, name: &str) -> Vec<String>;
    /// The texts `body` compares (RFC 5173 §5): the whole undecoded body for `Raw`; the
    /// decoded text of the parts whose content type matches for `Content` (an empty
    /// string matches every type, a type without `/` every subtype); the text parts,
    /// with HTML turned to text, for `Text`.
    fn body(&self, transform: &BodyTransform) -> Vec<String>;
    /// The message size in octets (RFC 5228 §5.9).
    fn size(&self) -> u64;
    /// Whether the user has a mailbox of this name (RFC 5490 §3.1 `mailboxexists`).
    fn mailbox_exists(&self, name: &str) -> bool;
    /// Whether a message with `id` was seen under `handle` within `seconds` (RFC 7352
    /// §3); the store records `id` when delivery succeeds. `last` asks to measure the
    /// period from the last sighting instead of the first.
    fn duplicate(&self, handle: &str, id: &str, seconds: u64, last: bool) -> bool;
    /// The user's (`global` false) or the site's (`global` true) script `name`,
    /// compiled, for `include` (RFC 6609 §3.2); `None` when there is none.
    fn include(&self, name: &str, global: bool) -> Option<Arc<Script>>;
}

/// Which text `body` compares (RFC 5173 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyTransform {
    Raw,
    Content(Vec<String>),
    Text,
}

/// The SMTP envelope of this delivery and the time it runs at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// MAIL FROM; empty for the null sender.
    pub from: String,
    /// The RCPT TO that caused this delivery.
    pub to: String,
    /// The authenticated sender (RFC 5228 §5.4 "auth"), if any.
    pub auth: Option<String>,
    /// "Now", for `currentdate` and the default time zone of `date`.
    pub now: DateTime,
    /// The user's own addresses, besides `to`: vacation answers only mail sent to one of
    /// them and never to them (RFC 5230 §4.5, §4.6).
    pub own_addresses: Vec<String>,
}

/// Caps on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Commands run, tests evaluated and values compared.
    pub max_steps: u64,
    /// Actions in the result (keep, fileinto, redirect, vacation, header edits).
    pub max_actions: usize,
    /// Redirects in the result.
    pub max_redirects: usize,
    /// Comparison work over the whole run: each value compared costs its length, and
    /// `:matches` (O(pattern × text)) also each step of its matcher. A big message
    /// under many tests, or a long pattern against a long body, stops here.
    pub max_match_work: u64,
}

impl Default for Limits {
    /// Pigeonhole's defaults for actions (32) and redirects (4); `:matches` work that
    /// takes well under a second.
    fn default() -> Limits {
        Limits {
            max_steps: 100_000,
            max_actions: 32,
            max_redirects: 4,
            max_match_work: 200_000_000,
        }
    }
}

/// A vacation reply to send (RFC 5230 §4, RFC 6131).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacation {
    /// Where the reply goes: the envelope sender.
    pub to: String,
    pub from: Option<String>,
    pub subject: Option<String>,
    /// The reply text, or a MIME entity when `mime`.
    pub reason: String,
    pub mime: bool,
    /// The `:handle`; when `None` the caller derives one from subject, from and reason
    /// (RFC 5230 §4.2).
    pub handle: Option<String>,
    /// How long to stay quiet towards this sender, in seconds (`:days` × 86400 or
    /// `:seconds`; RFC 5230 §4.1 default 7 days).
    pub period: u64,
    pub addresses: Vec<String>,
}

/// One action of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// RFC 5228 §4.3 (and the implicit keep, §2.10.2); flags per RFC 5232 §5.
    Keep { flags: Vec<String> },
    /// RFC 5228 §4.1; `copy` RFC 3894, `create` RFC 5490 §3.2, flags RFC 5232 §5.
    FileInto {
        mailbox: String,
        copy: bool,
        create: bool,
        flags: Vec<String>,
    },
    /// RFC 5228 §4.2; `copy` RFC 3894.
    Redirect { address: String, copy: bool },
    /// RFC 5228 §4.4: only cancels the implicit keep; a `keep`, `fileinto` or
    /// `redirect` elsewhere in the list still happens.
    Discard,
    /// RFC 5429 §2.2.
    Reject { reason: String },
    /// RFC 5429 §2.1: refuse at SMTP time.
    Ereject { reason: String },
    /// RFC 5230.
    Vacation(Vacation),
    /// RFC 5293 §4: add a field at the top (or the bottom with `last`).
    AddHeader {
        name: String,
        value: String,
        last: bool,
    },
    /// RFC 5293 §5: delete these occurrences (0-based, in message order as it stands
    /// after the edits before this one) of the fields named `name`.
    DeleteHeader {
        name: String,
        occurrences: Vec<usize>,
    },
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub actions: Vec<Action>,
    /// Whether the `Keep` in `actions` is the implicit one (RFC 5228 §2.10.2).
    pub implicit_keep: bool,
}

/// Why a run stopped without a result; the caller keeps the message in INBOX.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error("script ran more than {0} steps")]
    TooManySteps(u64),
    #[error("script made more than {0} actions")]
    TooManyActions(usize),
    #[error("comparisons took more than {0} steps")]
    TooMuchMatching(u64),
    #[error("script redirected more than {0} times")]
    TooManyRedirects(usize),
    #[error("{0}")]
    Conflict(String),
    #[error("include: {0}")]
    Include(String),
}

/// Runs `script` on one message (RFC 5228 §2.10).
pub fn run(
    script: &Script,
    msg: &dyn MessageView,
    env: &Envelope,
    limits: &Limits,
) -> Result<Outcome, RuntimeError> {
    let mut m = Machine {
        variables: script.extensions.contains("variables"),
        msg,
        env,
        limits,
        steps: 0,
        match_work: limits.max_match_work,
        actions: Vec::new(),
        keep_cancelled: false,
        flags: Vec::new(),
        vars: HashMap::new(),
        match_vars: Vec::new(),
        headers: HashMap::new(),
        regexes: HashMap::new(),
        globals: HashSet::new(),
        global_vars: HashMap::new(),
        include_stack: Vec::new(),
        included: HashSet::new(),
        includes: 0,
    };
    m.block(&script.commands)?;
    m.finish()
}

enum Flow {
    Continue,
    /// `stop`: the whole run ends (RFC 5228 §3.3).
    Stop,
    /// `return`: the current script ends (RFC 6609 §3.3).
    Return,
}

struct Machine<'a> {
    /// Whether the running script required "variables".
    variables: bool,
    msg: &'a dyn MessageView,
    env: &'a Envelope,
    limits: &'a Limits,
    steps: u64,
    /// What is left of [`Limits::max_match_work`].
    match_work: u64,
    actions: Vec<Action>,
    keep_cancelled: bool,
    /// The internal flag variable of RFC 5232 §3.
    flags: Vec<String>,
    vars: HashMap<String, String>,
    match_vars: Vec<String>,
    /// Header fields as edited so far (RFC 5293 §2: later tests see the edits), by
    /// lower-cased name: (raw, decoded) values.
    headers: HashMap<String, (Vec<String>, Vec<String>)>,
    regexes: HashMap<(String, bool), Option<regex::Regex>>,
    /// The names the running script declared `global` (RFC 6609 §3.4).
    globals: HashSet<String>,
    /// The values of global variables, shared by every script of the run.
    global_vars: HashMap<String, String>,
    /// `(global, name)` of the scripts being included, outermost first.
    include_stack: Vec<(bool, String)>,
    /// Scripts included so far, for `:once`.
    included: HashSet<(bool, String)>,
    includes: usize,
}

fn strings(a: Option<&Arg>) -> &[String] {
    a.map_or(&[], |a| a.value.strings())
}

fn string(a: Option<&Arg>) -> &str {
    strings(a).first().map_or("", String::as_str)
}

fn tag_str<'v>(f: &Found<'v>, name: &str) -> Option<&'v str> {
    match f.value(name) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn tag_num(f: &Found<'_>, name: &str) -> Option<u64> {
    match f.value(name) {
        Some(Value::Number(n)) => Some(*n),
        _ => None,
    }
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_VARIABLE_LEN {
        let mut n = MAX_VARIABLE_LEN;
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s.truncate(n);
    }
    s
}

/// Flags as a set: split at blanks, duplicates (case-insensitive) dropped (RFC 5232 §3).
fn flag_set(lists: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in lists.iter().flat_map(|s| s.split_whitespace()) {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
            out.push(f.to_string());
        }
    }
    out
}

impl Machine<'_> {
    fn step(&mut self) -> Result<(), RuntimeError> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return Err(RuntimeError::TooManySteps(self.limits.max_steps));
        }
        Ok(())
    }

    fn variables(&self) -> bool {
        self.variables
    }

    /// `${name}` and `${N}` substituted (RFC 5229 §3); unknown names are empty, text
    /// that is not a variable reference stays.
    fn expand(&self, s: &str) -> String {
        if !self.variables() || !s.contains("${") {
            return s.to_string();
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(n) = rest.find("${") {
            out.push_str(&rest[..n]);
            let after = &rest[n + 2..];
            let end = after.find('}');
            let name = end.map(|e| &after[..e]);
            let value = name.and_then(|name| {
                if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
                    let i: usize = name.parse().unwrap_or(usize::MAX);
                    Some(self.match_vars.get(i).cloned().unwrap_or_default())
                } else if is_identifier_path(name) {
                    Some(self.get_var(name))
                } else {
                    None
                }
            });
            match (value, end) {
                (Some(v), Some(e)) => {
                    out.push_str(&v);
                    rest = &after[e + 1..];
                }
                _ => {
                    out.push_str("${");
                    rest = after;
                }
            }
            if out.len() > MAX_VARIABLE_LEN * 4 {
                break;
            }
        }
        out.push_str(rest);
        out
    }

    fn expand_all(&self, list: &[String]) -> Vec<String> {
        list.iter().map(|s| self.expand(s)).collect()
    }

    fn push(&mut self, a: Action) -> Result<(), RuntimeError> {
        // RFC 5228 §2.10.3: the same fileinto or redirect twice is done once.
        if self.actions.contains(&a) && !matches!(a, Action::AddHeader { .. }) {
            return Ok(());
        }
        self.actions.push(a);
        if self.actions.len() > self.limits.max_actions {
            return Err(RuntimeError::TooManyActions(self.limits.max_actions));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Outcome, RuntimeError> {
        let rejects = self
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Reject { .. } | Action::Ereject { .. }))
            .count();
        let delivers = self.actions.iter().any(|a| {
            matches!(
                a,
                Action::Keep { .. } | Action::FileInto { .. } | Action::Redirect { .. }
            )
        });
        // RFC 5429 §2.1/§2.2: reject does not mix with keeping or passing the
        // message on, nor with vacation; and one reject only.
        if rejects > 1 {
            return Err(RuntimeError::Conflict("more than one reject".into()));
        }
        if rejects == 1
            && (delivers
                || self
                    .actions
                    .iter()
                    .any(|a| matches!(a, Action::Vacation(_))))
        {
            return Err(RuntimeError::Conflict(
                "reject together with keep, fileinto, redirect or vacation".into(),
            ));
        }
        let implicit = !self.keep_cancelled;
        if implicit {
            let flags = self.flags.clone();
            self.actions.push(Action::Keep { flags });
        }
        Ok(Outcome {
            actions: self.actions,
            implicit_keep: implicit,
        })
    }

    fn block(&mut self, commands: &[Command]) -> Result<Flow, RuntimeError> {
        // Whether the current if/elsif chain has taken a branch.
        let mut taken = true;
        for c in commands {
            self.step()?;
            let branch = match c.name.as_str() {
                "if" => {
                    taken = self.test_of(c)?;
                    taken
                }
                "elsif" if !taken => {
                    taken = self.test_of(c)?;
                    taken
                }
                "elsif" => false,
                "else" => {
                    let run = !taken;
                    taken = true;
                    run
                }
                _ => match self.command(c)? {
                    Flow::Continue => continue,
                    flow => return Ok(flow),
                },
            };
            if branch && let Some(b) = &c.block {
                match self.block(b)? {
                    Flow::Continue => {}
                    flow => return Ok(flow),
                }
            }
        }
        Ok(Flow::Continue)
    }

    fn test_of(&mut self, c: &Command) -> Result<bool, RuntimeError> {
        match &c.tests {
            Some(Tests::One(t)) => self.test(t),
            _ => Ok(false),
        }
    }

    fn flags_arg(&self, f: &Found<'_>) -> Vec<String> {
        match f.value("flags") {
            Some(v) => flag_set(&self.expand_all(v.strings())),
            None => self.flags.clone(),
        }
    }

    fn command(&mut self, c: &Command) -> Result<Flow, RuntimeError> {
        let f = split_args(&c.args);
        let p = |i: usize| f.positional.get(i).copied();
        match c.name.as_str() {
            // RFC 5228 §3.2: handled by the validator.
            "require" => {}
            // RFC 5228 §3.3.
            "stop" => return Ok(Flow::Stop),
            // RFC 5228 §4.3, RFC 5232 §5.
            "keep" => {
                self.keep_cancelled = true;
                let flags = self.flags_arg(&f);
                self.push(Action::Keep { flags })?;
            }
            // RFC 5228 §4.4.
            "discard" => {
                self.keep_cancelled = true;
                self.push(Action::Discard)?;
            }
            // RFC 5228 §4.1, RFC 3894, RFC 5490 §3.2, RFC 5232 §5.
            "fileinto" => {
                let copy = f.has("copy");
                if !copy {
                    self.keep_cancelled = true;
                }
                let flags = self.flags_arg(&f);
                let mailbox = self.expand(string(p(0)));
                self.push(Action::FileInto {
                    mailbox,
                    copy,
                    create: f.has("create"),
                    flags,
                })?;
            }
            // RFC 5228 §4.2, RFC 3894.
            "redirect" => {
                let copy = f.has("copy");
                let address = self.expand(string(p(0)));
                let Some(address) = address::parse_mailbox(&address) else {
                    // An address made by variables that is not one: RFC 5228 §4.2
                    // makes it a run-time error.
                    return Err(RuntimeError::Conflict(format!(
                        "redirect to \"{address}\": not an address"
                    )));
                };
                let n = self
                    .actions
                    .iter()
                    .filter(|a| matches!(a, Action::Redirect { .. }))
                    .count();
                if n >= self.limits.max_redirects {
                    return Err(RuntimeError::TooManyRedirects(self.limits.max_redirects));
                }
                if !copy {
                    self.keep_cancelled = true;
                }
                self.push(Action::Redirect { address, copy })?;
            }
            // RFC 5429 §2.2.
            "reject" => {
                self.keep_cancelled = true;
                let reason = self.expand(string(p(0)));
                self.push(Action::Reject { reason })?;
            }
            // RFC 5429 §2.1.
            "ereject" => {
                self.keep_cancelled = true;
                let reason = self.expand(string(p(0)));
                self.push(Action::Ereject { reason })?;
            }
            // RFC 5230 §4, RFC 6131.
            "vacation" => self.vacation(&f)?,
            // RFC 5232 §3.
            "setflag" | "addflag" | "removeflag" => {
                let (var, list) = if f.positional.len() == 2 {
                    (Some(self.expand(string(p(0))).to_ascii_lowercase()), p(1))
                } else {
                    (None, p(0))
                };
                let given = flag_set(&self.expand_all(strings(list)));
                let current = match &var {
                    Some(v) => flag_set(&[self.get_var(v)]),
                    None => self.flags.clone(),
                };
                let new = match c.name.as_str() {
                    "setflag" => given,
                    "addflag" => flag_set(&[current.join(" "), given.join(" ")]),
                    _ => current
                        .into_iter()
                        .filter(|x| !given.iter().any(|g| g.eq_ignore_ascii_case(x)))
                        .collect(),
                };
                match var {
                    Some(v) => self.set_var(v, new.join(" "))?,
                    None => self.flags = new,
                }
            }
            // RFC 5229 §4.
            "set" => {
                let name = string(p(0)).to_ascii_lowercase();
                let mut v = self.expand(string(p(1)));
                if f.has("lower") {
                    v = v.to_lowercase();
                }
                if f.has("upper") {
                    v = v.to_uppercase();
                }
                if f.has("lowerfirst") || f.has("upperfirst") {
                    let mut cs = v.chars();
                    if let Some(first) = cs.next() {
                        let first: String = if f.has("lowerfirst") {
                            first.to_lowercase().collect()
                        } else {
                            first.to_uppercase().collect()
                        };
                        v = first + cs.as_str();
                    }
                }
                if f.has("quotewildcard") {
                    v = matcher::quote_wildcard(&v);
                }
                if f.has("quoteregex") {
                    v = regex::escape(&v);
                }
                if f.has("length") {
                    v = v.chars().count().to_string();
                }
                self.set_var(name, v)?;
            }
            // RFC 6609 §3.2.
            "include" => return self.include(&f),
            // RFC 6609 §3.3.
            "return" => return Ok(Flow::Return),
            // RFC 6609 §3.4.
            "global" => {
                for name in strings(p(0)) {
                    self.globals.insert(name.to_ascii_lowercase());
                }
            }
            // RFC 5293 §4.
            "addheader" => {
                let name = self.expand(string(p(0)));
                let value = self.expand(string(p(1)));
                let last = f.has("last");
                let e = self.header_entry(&name);
                if last {
                    e.0.push(value.clone());
                    e.1.push(value.clone());
                } else {
                    e.0.insert(0, value.clone());
                    e.1.insert(0, value.clone());
                }
                self.push(Action::AddHeader { name, value, last })?;
            }
            // RFC 5293 §5.
            "deleteheader" => self.deleteheader(&f)?,
            _ => {}
        }
        Ok(Flow::Continue)
    }

    /// A variable's value: `global.x` and names declared `global` live in the shared
    /// store (RFC 6609 §3.4, §3.5), the rest in the running script's own.
    fn get_var(&self, name: &str) -> String {
        let name = name.to_ascii_lowercase();
        let v = match name.strip_prefix("global.") {
            Some(g) => self.global_vars.get(g),
            None if self.globals.contains(&name) => self.global_vars.get(&name),
            None => self.vars.get(&name),
        };
        v.cloned().unwrap_or_default()
    }

    fn set_var(&mut self, name: String, value: String) -> Result<(), RuntimeError> {
        let name = name.to_ascii_lowercase();
        let (store, name) = match name.strip_prefix("global.") {
            Some(g) => (&mut self.global_vars, g.to_string()),
            None if self.globals.contains(&name) => (&mut self.global_vars, name),
            None => (&mut self.vars, name),
        };
        if !store.contains_key(&name) && store.len() >= MAX_VARIABLES {
            return Err(RuntimeError::Conflict(format!(
                "more than {MAX_VARIABLES} variables"
            )));
        }
        store.insert(name, cut(value));
        Ok(())
    }

    /// RFC 6609 §3.2: runs another script with the same message, actions, flags and
    /// global variables, and its own local variables; `stop` there ends everything,
    /// `return` only it.
    fn include(&mut self, f: &Found<'_>) -> Result<Flow, RuntimeError> {
        let name = self.expand(string(f.positional.first().copied()));
        let global = f.has("global");
        let key = (global, name.clone());
        if f.has("once") && self.included.contains(&key) {
            return Ok(Flow::Continue);
        }
        if self.include_stack.contains(&key) {
            return Err(RuntimeError::Include(format!("\"{name}\" includes itself")));
        }
        if self.include_stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(RuntimeError::Include(format!(
                "nested deeper than {MAX_INCLUDE_DEPTH}"
            )));
        }
        self.includes += 1;
        if self.includes > MAX_INCLUDES {
            return Err(RuntimeError::Include(format!(
                "more than {MAX_INCLUDES} includes"
            )));
        }
        let Some(script) = self.msg.include(&name, global) else {
            if f.has("optional") {
                return Ok(Flow::Continue);
            }
            return Err(RuntimeError::Include(format!("no script \"{name}\"")));
        };
        self.included.insert(key.clone());
        self.include_stack.push(key);
        let saved = (
            std::mem::replace(&mut self.variables, script.extensions.contains("variables")),
            std::mem::take(&mut self.vars),
            std::mem::take(&mut self.globals),
            std::mem::take(&mut self.match_vars),
        );
        let flow = self.block(&script.commands);
        (self.variables, self.vars, self.globals, self.match_vars) = saved;
        self.include_stack.pop();
        match flow? {
            Flow::Stop => Ok(Flow::Stop),
            Flow::Continue | Flow::Return => Ok(Flow::Continue),
        }
    }

    fn header_entry(&mut self, name: &str) -> &mut (Vec<String>, Vec<String>) {
        let key = name.to_ascii_lowercase();
        let msg = self.msg;
        self.headers
            .entry(key)
            .or_insert_with(|| (msg.header_raw(name), msg.header_decoded(name)))
    }

    fn header(&mut self, name: &str, decoded: bool) -> Vec<String> {
        let e = self.header_entry(name);
        if decoded { e.1.clone() } else { e.0.clone() }
    }

    fn deleteheader(&mut self, f: &Found<'_>) -> Result<(), RuntimeError> {
        let name = self.expand(string(f.positional.first().copied()));
        // RFC 5293 §6: trace fields stay.
        if name.eq_ignore_ascii_case("received") || name.eq_ignore_ascii_case("auto-submitted") {
            return Ok(());
        }
        let values = self.header(&name, true);
        let (mt, cmp) = self.match_spec(f);
        let patterns = f
            .positional
            .get(1)
            .map(|a| self.expand_all(a.value.strings()));
        let index = tag_num(f, "index").map(|n| n as usize);
        let mut hit = Vec::new();
        for (i, v) in values.iter().enumerate() {
            if let Some(n) = index {
                let want = if f.has("last") {
                    values.len().checked_sub(n)
                } else {
                    n.checked_sub(1)
                };
                if want != Some(i) {
                    continue;
                }
            }
            let ok = match &patterns {
                None => true,
                Some(keys) => self.compare(mt, cmp, std::slice::from_ref(v), keys)?,
            };
            if ok {
                hit.push(i);
            }
        }
        if hit.is_empty() {
            return Ok(());
        }
        let e = self.header_entry(&name);
        for &i in hit.iter().rev() {
            if i < e.0.len() {
                e.0.remove(i);
            }
            if i < e.1.len() {
                e.1.remove(i);
            }
        }
        self.push(Action::DeleteHeader {
            name,
            occurrences: hit,
        })
    }

    /// RFC 5230 §4.5–§4.6: no reply to the null sender, to automatic or list mail,
    /// to ourselves, or to mail not addressed to us.
    fn vacation(&mut self, f: &Found<'_>) -> Result<(), RuntimeError> {
        let sender = self.env.from.clone();
        let mut ours: Vec<String> = vec![self.env.to.to_ascii_lowercase()];
        ours.extend(
            self.env
                .own_addresses
                .iter()
                .map(|a| a.to_ascii_lowercase()),
        );
        let extra = f
            .value("addresses")
            .map(|v| self.expand_all(v.strings()))
            .unwrap_or_default();
        ours.extend(
            extra
                .iter()
                .filter_map(|a| address::first_address(a))
                .map(|a| a.to_ascii_lowercase()),
        );
        let lower = sender.to_ascii_lowercase();
        let local = lower.split('@').next().unwrap_or("");
        let automatic = self
            .header("auto-submitted", true)
            .iter()
            .any(|v| !v.trim().eq_ignore_ascii_case("no"))
            || !self.header("list-id", true).is_empty()
            || self.header("precedence", true).iter().any(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "bulk" | "list" | "junk"
                )
            });
        let robot = local.starts_with("owner-")
            || local.ends_with("-request")
            || matches!(local, "mailer-daemon" | "listserv" | "majordomo");
        let mut recipients = Vec::new();
        for h in ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"] {
            for v in self.header(h, false) {
                recipients.extend(
                    address::parse_list(&v)
                        .into_iter()
                        .map(|a| a.to_ascii_lowercase()),
                );
            }
        }
        let addressed = recipients.iter().any(|r| ours.contains(r));
        if sender.is_empty() || automatic || robot || ours.contains(&lower) || !addressed {
            return Ok(());
        }
        let period = match (tag_num(f, "seconds"), tag_num(f, "days")) {
            (Some(s), _) => s,
            (None, Some(d)) => d.saturating_mul(86_400),
            (None, None) => 7 * 86_400,
        };
        let v = Vacation {
            to: sender,
            from: tag_str(f, "from").map(|s| self.expand(s)),
            subject: tag_str(f, "subject").map(|s| self.expand(s)),
            reason: self.expand(string(f.positional.first().copied())),
            mime: f.has("mime"),
            handle: tag_str(f, "handle").map(|s| self.expand(s)),
            period,
            addresses: extra,
        };
        // One vacation response per message (Pigeonhole refuses a second one too).
        if self
            .actions
            .iter()
            .any(|a| matches!(a, Action::Vacation(_)))
        {
            return Err(RuntimeError::Conflict("more than one vacation".into()));
        }
        self.push(Action::Vacation(v))
    }

    /// The comparator and match type of a test (defaults `i;ascii-casemap`, `:is`).
    fn match_spec(&self, f: &Found<'_>) -> (MatchType, Comparator) {
        let cmp = tag_str(f, "comparator")
            .and_then(Comparator::from_name)
            .unwrap_or(Comparator::AsciiCasemap);
        let rel = |n: &str| {
            tag_str(f, n)
                .and_then(Relation::from_name)
                .unwrap_or(Relation::Eq)
        };
        let mt = if f.has("contains") {
            MatchType::Contains
        } else if f.has("matches") {
            MatchType::Matches
        } else if f.has("regex") {
            MatchType::Regex
        } else if f.has("count") {
            MatchType::Count(rel("count"))
        } else if f.has("value") {
            MatchType::Value(rel("value"))
        } else {
            MatchType::Is
        };
        (mt, cmp)
    }

    /// Whether any value matches any key (RFC 5228 §2.7.1); `:count` counts the values
    /// (RFC 5231 §4.1). A `:matches` or `:regex` success sets the match variables.
    fn compare(
        &mut self,
        mt: MatchType,
        cmp: Comparator,
        values: &[String],
        keys: &[String],
    ) -> Result<bool, RuntimeError> {
        if let MatchType::Count(rel) = mt {
            let n = values.len().to_string();
            for k in keys {
                self.step()?;
                if rel.holds(Comparator::AsciiNumeric.compare(&n, k)) {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        for v in values {
            for k in keys {
                self.step()?;
                self.match_work = self
                    .match_work
                    .checked_sub(v.len() as u64 + 1)
                    .ok_or(RuntimeError::TooMuchMatching(self.limits.max_match_work))?;
                let hit = match mt {
                    MatchType::Is => cmp.compare(v, k).is_eq(),
                    MatchType::Contains => cmp.contains(v, k),
                    MatchType::Value(rel) => rel.holds(cmp.compare(v, k)),
                    MatchType::Matches => {
                        match matcher::wildcard_bounded(k, v, cmp, &mut self.match_work).map_err(
                            |_| RuntimeError::TooMuchMatching(self.limits.max_match_work),
                        )? {
                            Some(caps) => {
                                self.set_match_vars(caps);
                                true
                            }
                            None => false,
                        }
                    }
                    MatchType::Regex => {
                        let ci = cmp == Comparator::AsciiCasemap;
                        let re = self
                            .regexes
                            .entry((k.clone(), ci))
                            .or_insert_with(|| matcher::compile_regex_cached(k, ci));
                        match re.as_ref().and_then(|re| matcher::regex_captures(re, v)) {
                            Some(caps) => {
                                self.set_match_vars(caps);
                                true
                            }
                            None => false,
                        }
                    }
                    MatchType::Count(_) => false,
                };
                if hit {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn set_match_vars(&mut self, caps: Vec<String>) {
        if self.variables() {
            self.match_vars = caps.into_iter().take(10).map(cut).collect();
        }
    }

    /// The values of `names` picked by `:index`/`:last` (RFC 5260 §6).
    fn indexed(&mut self, names: &[String], f: &Found<'_>, decoded: bool) -> Vec<String> {
        let mut values = Vec::new();
        for n in names {
            values.extend(self.header(n, decoded));
        }
        match tag_num(f, "index") {
            None => values,
            Some(i) => {
                let i = usize::try_from(i).unwrap_or(usize::MAX);
                let pick = if f.has("last") {
                    values.len().checked_sub(i)
                } else {
                    i.checked_sub(1)
                };
                pick.and_then(|p| values.get(p).cloned())
                    .into_iter()
                    .collect()
            }
        }
    }

    fn address_part(f: &Found<'_>) -> Part {
        if f.has("localpart") {
            Part::LocalPart
        } else if f.has("domain") {
            Part::Domain
        } else if f.has("user") {
            Part::User
        } else if f.has("detail") {
            Part::Detail
        } else {
            Part::All
        }
    }

    fn test(&mut self, t: &Test) -> Result<bool, RuntimeError> {
        self.step()?;
        let f = split_args(&t.args);
        let p = |i: usize| f.positional.get(i).copied();
        let keys_at = |m: &Self, i: usize| m.expand_all(strings(p(i)));
        let (mt, cmp) = self.match_spec(&f);
        match t.name.as_str() {
            // RFC 5228 §5.10, §5.6.
            "true" => Ok(true),
            "false" => Ok(false),
            // RFC 5228 §5.8.
            "not" => match &t.tests {
                Some(Tests::One(inner)) => Ok(!self.test(inner)?),
                _ => Ok(false),
            },
            // RFC 5228 §5.2, §5.3 (short-circuit).
            "allof" | "anyof" => {
                let all = t.name == "allof";
                for inner in t.tests.as_ref().map_or(&[][..], Tests::as_slice) {
                    if self.test(inner)? != all {
                        return Ok(!all);
                    }
                }
                Ok(all)
            }
            // RFC 5228 §5.5.
            "exists" => {
                let names = keys_at(self, 0);
                for n in names {
                    if self.header(&n, false).is_empty() {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            // RFC 5228 §5.7, RFC 5260 §6.
            "header" => {
                let names = keys_at(self, 0);
                let keys = keys_at(self, 1);
                let values = self.indexed(&names, &f, true);
                self.compare(mt, cmp, &values, &keys)
            }
            // RFC 5228 §5.1, RFC 5233, RFC 5260 §6.
            "address" => {
                let names = keys_at(self, 0);
                let keys = keys_at(self, 1);
                let part = Self::address_part(&f);
                let values: Vec<String> = self
                    .indexed(&names, &f, false)
                    .iter()
                    .flat_map(|v| address::parse_list(v))
                    .filter_map(|a| address::part(&a, part))
                    .collect();
                self.compare(mt, cmp, &values, &keys)
            }
            // RFC 5228 §5.4.
            "envelope" => {
                let names = keys_at(self, 0);
                let keys = keys_at(self, 1);
                let part = Self::address_part(&f);
                let mut values = Vec::new();
                for n in names {
                    let a = match n.to_ascii_lowercase().as_str() {
                        "from" => Some(self.env.from.clone()),
                        "to" => Some(self.env.to.clone()),
                        "auth" => self.env.auth.clone(),
                        _ => None,
                    };
                    match a {
                        // The null sender compares as "" in every part.
                        Some(a) if a.is_empty() => values.push(String::new()),
                        Some(a) => values.extend(address::part(&a, part)),
                        None => {}
                    }
                }
                self.compare(mt, cmp, &values, &keys)
            }
            // RFC 5228 §5.9.
            "size" => {
                let limit = match p(0).map(|a| &a.value) {
                    Some(Value::Number(n)) => *n,
                    _ => 0,
                };
                let size = self.msg.size();
                Ok(if f.has("over") {
                    size > limit
                } else {
                    size < limit
                })
            }
            // RFC 5173 §4.
            "body" => {
                let transform = if f.has("raw") {
                    BodyTransform::Raw
                } else if let Some(v) = f.value("content") {
                    BodyTransform::Content(self.expand_all(v.strings()))
                } else {
                    BodyTransform::Text
                };
                let keys = keys_at(self, 0);
                let values = self.msg.body(&transform);
                self.compare(mt, cmp, &values, &keys)
            }
            // RFC 5260 §4 (date), §5 (currentdate).
            "date" | "currentdate" => {
                let n = f.positional.len();
                let part = self.expand(string(p(n - 2)));
                let keys = keys_at(self, n - 1);
                let zone = tag_str(&f, "zone").and_then(|z| date::parse_zone(&self.expand(z)));
                let original = f.has("originalzone");
                let dates: Vec<DateTime> = if t.name == "currentdate" {
                    vec![self.env.now]
                } else {
                    let name = self.expand(string(p(0)));
                    let values = self.indexed(&[name], &f, true);
                    // RFC 5260 §4: a field that is not a valid date is left out.
                    values
                        .iter()
                        .filter_map(|v| date::parse_rfc5322(v))
                        .collect()
                };
                let values: Vec<String> = dates
                    .iter()
                    .map(|d| match (zone, original) {
                        (Some(z), _) => d.in_zone(z),
                        (None, true) => *d,
                        (None, false) => d.in_zone(self.env.now.zone),
                    })
                    .filter_map(|d| d.part(&part))
                    .collect();
                self.compare(mt, cmp, &values, &keys)
            }
            // RFC 5229 §5: empty strings do not count for :count.
            "string" => {
                let mut values = keys_at(self, 0);
                if matches!(mt, MatchType::Count(_)) {
                    values.retain(|v| !v.is_empty());
                }
                let keys = keys_at(self, 1);
                self.compare(mt, cmp, &values, &keys)
            }
            // RFC 5232 §4: the flags of the internal variable or the named ones.
            "hasflag" => {
                let (vars, keys) = if f.positional.len() == 2 {
                    (Some(keys_at(self, 0)), keys_at(self, 1))
                } else {
                    (None, keys_at(self, 0))
                };
                let values = match vars {
                    Some(vs) => flag_set(&vs.iter().map(|v| self.get_var(v)).collect::<Vec<_>>()),
                    None => self.flags.clone(),
                };
                let keys = if matches!(mt, MatchType::Count(_)) {
                    keys
                } else {
                    flag_set(&keys)
                };
                self.compare(mt, cmp, &values, &keys)
            }
            // RFC 5490 §3.1.
            "mailboxexists" => {
                let names = keys_at(self, 0);
                Ok(names.iter().all(|n| self.msg.mailbox_exists(n)))
            }
            // RFC 7352 §3.
            "duplicate" => {
                let handle = tag_str(&f, "handle")
                    .map(|h| self.expand(h))
                    .unwrap_or_default();
                let id = if let Some(u) = tag_str(&f, "uniqueid") {
                    Some(self.expand(u))
                } else {
                    let h =
                        tag_str(&f, "header").map_or("message-id".to_string(), |h| self.expand(h));
                    self.header(&h, false)
                        .first()
                        .map(|v| v.trim().to_string())
                        .filter(|v| !v.is_empty())
                };
                let seconds = tag_num(&f, "seconds").unwrap_or(7 * 86_400);
                match id {
                    // RFC 7352 §3.1: no id (the field absent or empty), no duplicate,
                    // and nothing is tracked.
                    None => Ok(false),
                    Some(id) => Ok(self.msg.duplicate(&handle, &id, seconds, f.has("last"))),
                }
            }
            _ => Ok(false),
        }
    }
}

/// `identifier *("." identifier)` (RFC 5229 §3 variable names with namespaces).
fn is_identifier_path(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            let mut c = p.chars();
            c.next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}
