//! The scripts `mailyard vacation|forward` write, as tables: each generated script is
//! compiled and run (RFC 5230 §4 vacation, RFC 5228 §4.2 redirect, RFC 3894 :copy,
//! RFC 6609 §3.2 include, RFC 5260 §5 currentdate), read back, and the plans for
//! set/clear applied to a store kept in a map and run again.

use std::collections::BTreeMap;
use std::sync::Arc;

use mailyard_sieve::date::DateTime;
use mailyard_sieve::generate::{
    self, ClearPlan, Day, FORWARD_SCRIPT, ForwardSpec, GenerateError, Generated, Kind, Placement,
    Spec, State, Step, VACATION_SCRIPT, VacationSpec,
};
use mailyard_sieve::interpret::BodyTransform;
use mailyard_sieve::{Action, Envelope, Limits, MessageView, Script, compile, run};

/// A message as header fields, and the user's scripts `include` finds (by name, as the
/// delivery's view reads them from the store).
struct Msg {
    headers: Vec<(String, String)>,
    scripts: BTreeMap<String, String>,
}

impl MessageView for Msg {
    fn header_raw(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn header_decoded(&self, name: &str) -> Vec<String> {
        self.header_raw(name)
    }
    fn body(&self, _: &BodyTransform) -> Vec<String> {
        vec!["Hello.\r\n".to_string()]
    }
    fn size(&self) -> u64 {
        100
    }
    fn mailbox_exists(&self, _: &str) -> bool {
        true
    }
    fn duplicate(&self, _: &str, _: &str, _: u64, _: bool) -> bool {
        false
    }
    fn include(&self, name: &str, global: bool) -> Option<Arc<Script>> {
        if global {
            return None;
        }
        let text = self.scripts.get(name)?;
        compile(text).ok().map(Arc::new)
    }
}

/// The user's own filters, active before any generated script.
const FILTERS: &str = "require \"fileinto\";\r\nif header :contains \"subject\" \"report\" { fileinto \"Reports\"; }\r\n";

fn msg(subject: &str, scripts: &BTreeMap<String, String>) -> Msg {
    Msg {
        headers: vec![
            ("From".into(), "boss@example.com".into()),
            ("To".into(), "ken@example.com".into()),
            ("Subject".into(), subject.into()),
            ("Message-ID".into(), "<m1@example.com>".into()),
        ],
        scripts: scripts.clone(),
    }
}

/// Delivery to ken@example.com at noon UTC of `day`.
fn env(day: &str) -> Envelope {
    let d = Day::parse(day).expect("day");
    Envelope {
        from: "boss@example.com".into(),
        to: "ken@example.com".into(),
        auth: None,
        now: DateTime {
            year: i64::from(d.year),
            month: u32::from(d.month),
            day: u32::from(d.day),
            hour: 12,
            minute: 0,
            second: 0,
            zone: 0,
        },
        own_addresses: Vec::new(),
    }
}

fn render(a: &Action) -> String {
    match a {
        Action::Keep { .. } => "keep".into(),
        Action::FileInto { mailbox, .. } => format!("fileinto {mailbox}"),
        Action::Redirect { address, copy } => {
            format!("redirect{} {address}", if *copy { " :copy" } else { "" })
        }
        Action::Vacation(v) => format!(
            "vacation to={} days={} subject={} from={} addresses={} reason={}",
            v.to,
            v.period / 86_400,
            v.subject.as_deref().unwrap_or("-"),
            v.from.as_deref().unwrap_or("-"),
            v.addresses.join(","),
            v.reason
        ),
        other => format!("{other:?}"),
    }
}

/// Runs `text` (with `scripts` for include) on a message with `subject` on `day`.
fn run_script(
    text: &str,
    scripts: &BTreeMap<String, String>,
    subject: &str,
    day: &str,
) -> Vec<String> {
    let script = compile(text).unwrap_or_else(|e| panic!("does not compile: {e:?}\n{text}"));
    match run(
        &script,
        &msg(subject, scripts),
        &env(day),
        &Limits::default(),
    ) {
        Ok(o) => o.actions.iter().map(render).collect(),
        Err(e) => vec![format!("error: {e}")],
    }
}

fn vacation(subject: &str, reason: &str, until: Option<&str>) -> Spec {
    Spec::Vacation(VacationSpec::new(subject, reason, None, until, None, &[]).expect("valid"))
}

fn forward(target: &str, keep: bool) -> Spec {
    Spec::Forward(ForwardSpec::new("ken@example.com", target, keep).expect("valid"))
}

#[test]
fn generated_scripts_run() {
    let scripts = BTreeMap::from([("filters".to_string(), FILTERS.to_string())]);
    let full = Spec::Vacation(
        VacationSpec::new(
            "Away \"until\" C:\\ fixed",
            "I am away.\nBack on ${date}, \"promised\" \\o/\n\n",
            Some(3),
            Some("2026-12-31"),
            Some("\"Ken Example\" <ken@example.com>"),
            &["ken.example@example.com".to_string()],
        )
        .expect("valid"),
    );
    type Row<'a> = (
        &'a str,
        Spec,
        Option<&'a str>,
        &'a str,
        &'a str,
        &'a [&'a str],
    );
    let rows: &[Row] = &[
        (
            "vacation without an end",
            vacation("Away", "Back soon.", None),
            None,
            "2030-01-01",
            "hello",
            &[
                "vacation to=boss@example.com days=7 subject=Away from=- addresses= reason=Back soon.",
                "keep",
            ],
        ),
        (
            "before the last day",
            vacation("Away", "Back soon.", Some("2026-12-31")),
            None,
            "2026-12-04",
            "hello",
            &[
                "vacation to=boss@example.com days=7 subject=Away from=- addresses= reason=Back soon.",
                "keep",
            ],
        ),
        (
            "on the last day (inclusive)",
            vacation("Away", "Back soon.", Some("2026-12-31")),
            None,
            "2026-12-31",
            "hello",
            &[
                "vacation to=boss@example.com days=7 subject=Away from=- addresses= reason=Back soon.",
                "keep",
            ],
        ),
        (
            "after the last day: no reply",
            vacation("Away", "Back soon.", Some("2026-12-31")),
            None,
            "2027-01-01",
            "hello",
            &["keep"],
        ),
        (
            "every option, quoting kept exactly, no variables expanded",
            full,
            None,
            "2026-12-04",
            "hello",
            &[
                "vacation to=boss@example.com days=3 subject=Away \"until\" C:\\ fixed from=\"Ken Example\" <ken@example.com> addresses=ken.example@example.com reason=I am away.\r\nBack on ${date}, \"promised\" \\o/",
                "keep",
            ],
        ),
        (
            "vacation, then the previous script's filing",
            vacation("Away", "Back soon.", None),
            Some("filters"),
            "2026-12-04",
            "weekly report",
            &[
                "vacation to=boss@example.com days=7 subject=Away from=- addresses= reason=Back soon.",
                "fileinto Reports",
            ],
        ),
        (
            "after the last day the previous script still runs",
            vacation("Away", "Back soon.", Some("2026-12-31")),
            Some("filters"),
            "2027-01-02",
            "weekly report",
            &["fileinto Reports"],
        ),
        (
            "a previous script that is gone: include is optional",
            vacation("Away", "Back soon.", None),
            Some("deleted meanwhile"),
            "2026-12-04",
            "hello",
            &[
                "vacation to=boss@example.com days=7 subject=Away from=- addresses= reason=Back soon.",
                "keep",
            ],
        ),
        (
            "forward: no copy kept",
            forward("ken@elsewhere.example", false),
            None,
            "2026-12-04",
            "hello",
            &["redirect ken@elsewhere.example"],
        ),
        (
            "forward --keep: redirect :copy and the implicit keep",
            forward("Ken <ken@elsewhere.example>", true),
            None,
            "2026-12-04",
            "hello",
            &["redirect :copy ken@elsewhere.example", "keep"],
        ),
        (
            "forward --keep, then the previous script",
            forward("ken@elsewhere.example", true),
            Some("filters"),
            "2026-12-04",
            "weekly report",
            &["redirect :copy ken@elsewhere.example", "fileinto Reports"],
        ),
        (
            "forward without a copy, the previous script's filing still happens",
            forward("ken@elsewhere.example", false),
            Some("filters"),
            "2026-12-04",
            "weekly report",
            &["redirect ken@elsewhere.example", "fileinto Reports"],
        ),
    ];
    let mut wrong = Vec::new();
    for (name, spec, previous, day, subject, want) in rows {
        let text = match generate::script(spec, *previous) {
            Ok(t) => t,
            Err(e) => {
                wrong.push(format!("{name}: not generated: {e}"));
                continue;
            }
        };
        let got = run_script(&text, &scripts, subject, day);
        if got != *want {
            wrong.push(format!("{name}: got {got:#?}, want {want:#?}\n{text}"));
        }
        // Every script reads back as what made it.
        let back = generate::read("x", &text);
        let expect = Ok(Some(Generated {
            spec: spec.clone(),
            previous: previous.map(str::to_string),
        }));
        if back != expect {
            wrong.push(format!("{name}: read back {back:?}, want {expect:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_header_line_records_the_previous_script() {
    let text =
        generate::script(&vacation("Away", "x", None), Some("my \"odd\" \\ name")).expect("ok");
    assert!(
        text.starts_with(
            "# mailyard-generated vacation; previous active script: \"my \\\"odd\\\" \\\\ name\"\r\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("include :personal :optional \"my \\\"odd\\\" \\\\ name\";\r\n"),
        "{text}"
    );
    let text = generate::script(&forward("a@b.example", true), None).expect("ok");
    assert!(
        text.starts_with("# mailyard-generated forward; no previous active script\r\n"),
        "{text}"
    );
    assert!(!text.contains("include"), "{text}");
    assert!(text.contains("require [\"copy\"];\r\n"), "{text}");
    let text = generate::script(&vacation("Away", "x", Some("2027-02-28")), None).expect("ok");
    assert!(
        text.contains("require [\"vacation\", \"date\", \"relational\"];\r\nif currentdate :value \"le\" \"date\" \"2027-02-28\" {"),
        "{text}"
    );
    // A script never includes itself.
    assert!(generate::script(&vacation("Away", "x", None), Some(VACATION_SCRIPT)).is_err());
}

#[test]
fn bad_arguments_are_refused() {
    let v = |subject: &str,
             reason: &str,
             days: Option<u64>,
             until: Option<&str>,
             from: Option<&str>,
             addresses: &[&str]| {
        let addresses: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
        VacationSpec::new(subject, reason, days, until, from, &addresses).map(|_| ())
    };
    assert!(v("Away", "text", None, None, None, &[]).is_ok());
    for (why, r) in [
        ("empty subject", v("  ", "text", None, None, None, &[])),
        (
            "two-line subject",
            v("a\r\nBcc: x@y.z", "text", None, None, None, &[]),
        ),
        ("empty text", v("Away", " \n\r\n ", None, None, None, &[])),
        ("NUL in text", v("Away", "a\0b", None, None, None, &[])),
        ("days 0", v("Away", "text", Some(0), None, None, &[])),
        (
            "days over a year",
            v("Away", "text", Some(366), None, None, &[]),
        ),
        (
            "bad date",
            v("Away", "text", None, Some("31.12.2026"), None, &[]),
        ),
        (
            "no such day",
            v("Away", "text", None, Some("2026-02-30"), None, &[]),
        ),
        (
            "bad from",
            v("Away", "text", None, None, Some("nobody"), &[]),
        ),
        ("bad address", v("Away", "text", None, None, None, &["x@"])),
        (
            "long subject",
            v(&"s".repeat(999), "text", None, None, None, &[]),
        ),
        (
            "long text",
            v("Away", &"t".repeat(64 * 1024 + 1), None, None, None, &[]),
        ),
    ] {
        assert!(matches!(r, Err(GenerateError::Invalid(_))), "{why}: {r:?}");
    }
    assert!(ForwardSpec::new("ken@example.com", "not an address", false).is_err());
    assert!(ForwardSpec::new("ken@example.com", "KEN@example.com", false).is_err());
    assert_eq!(
        ForwardSpec::new("ken@example.com", " Ken <ken@elsewhere.example> ", true),
        Ok(ForwardSpec {
            target: "ken@elsewhere.example".into(),
            keep: true
        })
    );
}

#[test]
fn scripts_changed_by_hand_are_not_read_as_generated() {
    let text =
        generate::script(&vacation("Away", "Back soon.", None), Some("filters")).expect("ok");
    assert_eq!(generate::read("v", "keep;\r\n"), Ok(None));
    for (why, edited) in [
        (
            "a command added",
            text.replace("include :personal", "keep;\r\ninclude :personal"),
        ),
        (
            "the include changed",
            text.replace("\"filters\";", "\"other\";"),
        ),
        (
            "a tag added",
            text.replace("vacation :days 7", "vacation :mime :days 7"),
        ),
        ("broken", text.replace("vacation :days", "vacation :dayz")),
    ] {
        assert!(
            matches!(
                generate::read("v", &edited),
                Err(GenerateError::Edited { .. })
            ),
            "{why}: {edited}"
        );
    }
}

/// A user's scripts kept in a map, changed only by applying planned steps as the CLI
/// applies them with the store.
#[derive(Default)]
struct Fake {
    scripts: BTreeMap<String, String>,
    active: Option<String>,
}

impl Fake {
    fn state(&self) -> State {
        State {
            active: self.active.clone(),
            names: self.scripts.keys().cloned().collect(),
            vacation: self.scripts.get(VACATION_SCRIPT).cloned(),
            forward: self.scripts.get(FORWARD_SCRIPT).cloned(),
        }
    }

    fn apply(&mut self, steps: &[Step]) {
        for s in steps {
            match s {
                Step::Put { name, text } => {
                    self.scripts.insert(name.clone(), text.clone());
                }
                Step::Activate(name) => {
                    if let Some(n) = name {
                        assert!(self.scripts.contains_key(n), "activate missing {n}");
                    }
                    self.active = name.clone();
                }
                Step::Delete(name) => {
                    assert_ne!(self.active.as_ref(), Some(name), "deleting the active one");
                    assert!(self.scripts.remove(name).is_some(), "delete missing {name}");
                }
            }
        }
    }

    fn set(&mut self, spec: &Spec) -> generate::SetPlan {
        let plan = generate::plan_set(&self.state(), spec).expect("set plans");
        self.apply(&plan.steps);
        plan
    }

    fn clear(&mut self, kind: Kind) -> ClearPlan {
        let plan = generate::plan_clear(&self.state(), kind).expect("clear plans");
        self.apply(plan.steps());
        plan
    }

    /// What delivery would do now with a "weekly report".
    fn deliver(&self) -> Vec<String> {
        match &self.active {
            None => vec!["keep (no script)".into()],
            Some(a) => run_script(
                &self.scripts[a],
                &self.scripts,
                "weekly report",
                "2026-12-04",
            ),
        }
    }

    fn with_filters() -> Fake {
        Fake {
            scripts: BTreeMap::from([("filters".to_string(), FILTERS.to_string())]),
            active: Some("filters".into()),
        }
    }
}

const REPLY: &str =
    "vacation to=boss@example.com days=7 subject=Away from=- addresses= reason=Back soon.";
const REPLY2: &str =
    "vacation to=boss@example.com days=7 subject=Still away from=- addresses= reason=Back soon.";

#[test]
fn set_and_clear_without_other_scripts() {
    let mut f = Fake::default();
    assert_eq!(
        generate::plan_clear(&f.state(), Kind::Vacation),
        Ok(ClearPlan::NotSet)
    );
    let plan = f.set(&vacation("Away", "Back soon.", None));
    assert_eq!((plan.previous, plan.replaced), (None, false));
    assert_eq!(f.active.as_deref(), Some(VACATION_SCRIPT));
    assert_eq!(f.deliver(), [REPLY, "keep"]);
    let plan = f.clear(Kind::Vacation);
    assert!(
        matches!(
            &plan,
            ClearPlan::Restored {
                restored: None,
                missing: None,
                ..
            }
        ),
        "{plan:?}"
    );
    assert_eq!(f.active, None);
    assert!(f.scripts.is_empty());
    assert_eq!(f.clear(Kind::Vacation), ClearPlan::NotSet);
}

#[test]
fn set_wraps_the_active_script_and_clear_restores_it() {
    let mut f = Fake::with_filters();
    let plan = f.set(&vacation("Away", "Back soon.", None));
    assert_eq!(plan.previous.as_deref(), Some("filters"));
    assert_eq!(f.deliver(), [REPLY, "fileinto Reports"]);
    assert_eq!(f.state().placement(Kind::Vacation), Placement::Active);
    // Set again: rewritten, the recorded previous kept (not itself).
    let plan = f.set(&vacation("Still away", "Back soon.", None));
    assert_eq!(plan.steps.len(), 1, "{plan:?}");
    assert_eq!(
        (plan.previous.as_deref(), plan.replaced),
        (Some("filters"), true)
    );
    assert_eq!(f.deliver(), [REPLY2, "fileinto Reports"]);
    let plan = f.clear(Kind::Vacation);
    assert!(
        matches!(&plan, ClearPlan::Restored { restored: Some(r), .. } if r == "filters"),
        "{plan:?}"
    );
    assert_eq!(f.active.as_deref(), Some("filters"));
    assert_eq!(f.scripts.keys().collect::<Vec<_>>(), ["filters"]);
    assert_eq!(f.deliver(), ["fileinto Reports"]);
}

#[test]
fn chains_clear_from_the_middle_and_from_the_top() {
    // filters ← vacation ← forward (active): all three run, in that order.
    let mut f = Fake::with_filters();
    f.set(&vacation("Away", "Back soon.", None));
    let plan = f.set(&forward("ken@elsewhere.example", true));
    assert_eq!(plan.previous.as_deref(), Some(VACATION_SCRIPT));
    assert_eq!(
        f.deliver(),
        [
            "redirect :copy ken@elsewhere.example",
            REPLY,
            "fileinto Reports"
        ]
    );
    let state = f.state();
    assert_eq!(state.placement(Kind::Forward), Placement::Active);
    assert_eq!(
        state.placement(Kind::Vacation),
        Placement::IncludedBy(Kind::Forward)
    );
    // Setting the included one again rewrites it in place; forward stays active.
    let plan = f.set(&vacation("Still away", "Back soon.", None));
    assert_eq!(
        (plan.previous.as_deref(), plan.replaced),
        (Some("filters"), true)
    );
    assert_eq!(f.active.as_deref(), Some(FORWARD_SCRIPT));
    assert_eq!(
        f.deliver(),
        [
            "redirect :copy ken@elsewhere.example",
            REPLY2,
            "fileinto Reports"
        ]
    );
    // Clearing the one in the middle: forward now includes filters.
    let plan = f.clear(Kind::Vacation);
    assert!(
        matches!(
            plan,
            ClearPlan::Unlinked {
                by: Kind::Forward,
                ..
            }
        ),
        "{plan:?}"
    );
    assert!(!f.scripts.contains_key(VACATION_SCRIPT));
    assert_eq!(
        generate::header(&f.scripts[FORWARD_SCRIPT]),
        Some((Kind::Forward, Some("filters".to_string())))
    );
    assert_eq!(
        f.deliver(),
        ["redirect :copy ken@elsewhere.example", "fileinto Reports"]
    );
    f.clear(Kind::Forward);
    assert_eq!(f.active.as_deref(), Some("filters"));
    assert_eq!(f.scripts.len(), 1);

    // filters ← forward ← vacation (active); clearing vacation re-activates forward.
    let mut f = Fake::with_filters();
    f.set(&forward("ken@elsewhere.example", false));
    f.set(&vacation("Away", "Back soon.", None));
    assert_eq!(
        f.deliver(),
        [REPLY, "redirect ken@elsewhere.example", "fileinto Reports"]
    );
    let plan = f.clear(Kind::Vacation);
    assert!(
        matches!(&plan, ClearPlan::Restored { restored: Some(r), .. } if r == FORWARD_SCRIPT),
        "{plan:?}"
    );
    assert_eq!(
        f.deliver(),
        ["redirect ken@elsewhere.example", "fileinto Reports"]
    );
    // Clearing forward from the middle with nothing above it: forward was active now.
    f.clear(Kind::Forward);
    assert_eq!(f.active.as_deref(), Some("filters"));
}

#[test]
fn leftovers_and_scripts_not_ours() {
    // A vacation script the user switched away from: set wraps the new active one.
    let mut f = Fake::with_filters();
    f.set(&vacation("Away", "Back soon.", None));
    f.active = Some("filters".into());
    assert_eq!(f.state().placement(Kind::Vacation), Placement::Unused);
    let plan = f.set(&vacation("Still away", "Back soon.", None));
    assert_eq!(
        (plan.previous.as_deref(), plan.replaced),
        (Some("filters"), false)
    );
    assert_eq!(f.active.as_deref(), Some(VACATION_SCRIPT));
    // ... and clear of a leftover just deletes it.
    f.active = Some("filters".into());
    assert!(matches!(f.clear(Kind::Vacation), ClearPlan::Unused { .. }));
    assert!(!f.scripts.contains_key(VACATION_SCRIPT));

    // The previous script was deleted meanwhile: clear leaves none active.
    let mut f = Fake::with_filters();
    f.set(&vacation("Away", "Back soon.", None));
    f.scripts.remove("filters");
    let plan = f.clear(Kind::Vacation);
    assert!(
        matches!(&plan, ClearPlan::Restored { restored: None, missing: Some(m), .. } if m == "filters"),
        "{plan:?}"
    );
    assert_eq!(f.active, None);

    // A script of the user's own under the reserved name is never overwritten.
    let mut f = Fake::default();
    f.scripts.insert(
        VACATION_SCRIPT.into(),
        "require \"vacation\"; vacation \"mine\";".into(),
    );
    f.active = Some(VACATION_SCRIPT.into());
    let s = f.state();
    assert_eq!(s.placement(Kind::Vacation), Placement::Active);
    assert!(matches!(
        generate::plan_set(&s, &vacation("Away", "x", None)),
        Err(GenerateError::NotOurs(_))
    ));
    assert!(matches!(
        generate::plan_clear(&s, Kind::Vacation),
        Err(GenerateError::NotOurs(_))
    ));

    // A generated script edited by hand that includes the one cleared: refused, with
    // nothing changed.
    let mut f = Fake::with_filters();
    f.set(&vacation("Away", "Back soon.", None));
    f.set(&forward("ken@elsewhere.example", true));
    let fwd = f.scripts[FORWARD_SCRIPT].replace("redirect :copy", "keep;\r\nredirect :copy");
    f.scripts.insert(FORWARD_SCRIPT.into(), fwd);
    assert!(matches!(
        generate::plan_clear(&f.state(), Kind::Vacation),
        Err(GenerateError::Edited { .. })
    ));
}

#[test]
fn show_describes_what_runs() {
    let mut f = Fake::with_filters();
    let today = Day::parse("2026-12-04").expect("day");
    assert_eq!(
        generate::describe(&f.state(), Kind::Vacation, today),
        "vacation: off\n"
    );
    f.set(&Spec::Vacation(
        VacationSpec::new(
            "Away",
            "Line one\nline two\n",
            Some(3),
            Some("2026-12-31"),
            None,
            &[],
        )
        .expect("valid"),
    ));
    f.set(&forward("ken@elsewhere.example", false));
    assert_eq!(
        generate::describe(&f.state(), Kind::Vacation, today),
        "vacation: on (script \"mailyard-vacation\" runs from \"mailyard-forward\", which is active)\n\
         subject: Away\n\
         until: 2026-12-31 (inclusive, UTC)\n\
         days: 3\n\
         then runs: \"filters\" (the previous active script)\n\
         text:\n\
         Line one\n\
         line two\n"
    );
    assert_eq!(
        generate::describe(&f.state(), Kind::Forward, today),
        "forward: on (script \"mailyard-forward\" is active)\n\
         to: ken@elsewhere.example\n\
         keep a copy: no\n\
         then runs: \"mailyard-vacation\" (the previous active script)\n"
    );
    let later = Day::parse("2027-01-01").expect("day");
    assert!(
        generate::describe(&f.state(), Kind::Vacation, later)
            .starts_with("vacation: on (script \"mailyard-vacation\" runs from \"mailyard-forward\", which is active), but its last day 2026-12-31 has passed: no replies\n"),
    );
}
