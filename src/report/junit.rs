//! JUnit XML (via nextest's `quick-junit`) for CI dashboards: GitLab's test report, Jenkins'
//! JUnit plugin, Azure DevOps, Buildkite.
//!
//! One test suite per rule, one test case per object × rule: a pass when the rule ran and
//! found nothing on the object, a failure carrying every finding's message when it found
//! something. Suites per rule rather than per file because dashboards key history on suite
//! and case names: rule ids are stable while files move, the case classname (the rule id,
//! `area.condition`) makes Jenkins group rules by area, and "which rule fails where" is the
//! question a CI reader asks. The case's `file` attribute (shown by GitLab) names the file.
//! Rules that could not run (no cluster state or metrics) are one skipped case each; input
//! errors form an `input errors` suite of error cases, with notices in its system-out.
//!
//! Findings accepted by an exemption or the baseline are never counted as failures, nor
//! hidden: an object × rule whose every finding was accepted is a skipped case
//! (`<skipped message="exempted: reason"/>` or `"baselined: …"`), counted in `skipped`, with
//! each accepted finding in its text; when other findings on it still fail, the failure's text
//! lists the accepted ones after them.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;

use super::Options;
use crate::Outcome;
use crate::exempt::Exempted;
use crate::rules::{self, Finding};

/// The name of the suite holding input errors.
pub const ERRORS_SUITE: &str = "input errors";

/// An object is identified by where it starts, which is unique even when two files hold an
/// object of the same name.
type ObjectKey = (Arc<str>, u32);

/// A finding that is not counted: accepted by an inline exemption or by the baseline.
#[derive(Clone, Copy)]
enum Accepted<'a> {
    Exempted(&'a Exempted),
    Baselined(&'a Finding),
}

impl<'a> Accepted<'a> {
    fn finding(self) -> &'a Finding {
        match self {
            Accepted::Exempted(e) => &e.finding,
            Accepted::Baselined(f) => f,
        }
    }

    /// `exempted: <reason>` or `baselined: …`: the skipped case's message.
    fn label(self, baseline: Option<&str>) -> String {
        match (self, baseline) {
            (Accepted::Exempted(e), _) => format!("exempted: {}", e.exemption.reason),
            (Accepted::Baselined(_), Some(file)) => format!("baselined: accepted by {file}"),
            (Accepted::Baselined(_), None) => "baselined: accepted by the baseline".to_owned(),
        }
    }

    /// One line for the case text: what was accepted, where, and on what grounds.
    fn line(self, baseline: Option<&str>) -> String {
        let f = self.finding();
        let container = f
            .container
            .as_ref()
            .map(|c| format!(" (container `{c}`)"))
            .unwrap_or_default();
        let grounds = match self {
            Accepted::Exempted(e) => {
                let x = &e.exemption;
                let until = x.until.map(|u| format!(" until {u}")).unwrap_or_default();
                format!(
                    "exempted{until} by `{}` at {}:{}: {}",
                    x.annotation, x.file, x.line, x.reason
                )
            }
            Accepted::Baselined(_) => self.label(baseline),
        };
        format!(
            "accepted ({}) {}: {}:{}{container}: {}\n  {grounds}\n",
            f.severity, f.rule, f.location.file, f.location.line, f.message
        )
    }
}

fn skipped(accepted: &[Accepted<'_>], baseline: Option<&str>) -> TestCaseStatus {
    let mut labels: Vec<String> = accepted.iter().map(|a| a.label(baseline)).collect();
    labels.dedup();
    let description: String = accepted.iter().map(|a| a.line(baseline)).collect();
    let mut status = TestCaseStatus::skipped();
    status
        .set_message(labels.join("; "))
        .set_description(description);
    status
}

fn failure(
    findings: &[&Finding],
    accepted: &[Accepted<'_>],
    baseline: Option<&str>,
) -> TestCaseStatus {
    let worst = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .expect("a failure has at least one finding");
    let message = match findings {
        [one] => one.message.clone(),
        many => format!("{} findings: {}", many.len(), many[0].message),
    };
    let mut description = String::new();
    for f in findings {
        let container = f
            .container
            .as_ref()
            .map(|c| format!(" (container `{c}`)"))
            .unwrap_or_default();
        description.push_str(&format!(
            "{}: {}:{}{container}: {}\n",
            f.severity, f.location.file, f.location.line, f.message
        ));
        for s in &f.stories {
            description.push_str(&format!("  story: {}\n", s.info().echo));
        }
    }
    if let Some(rule) = rules::find(findings[0].rule) {
        description.push_str(&format!(
            "help: {} (`hindsight explain {}`)\n",
            super::squash_spaces(super::first_sentence(rule.meta.remediation)),
            rule.meta.id
        ));
    }
    for a in accepted {
        description.push_str(&a.line(baseline));
    }
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status
        .set_message(message)
        .set_type(worst.as_str())
        .set_description(description);
    status
}

fn case(rule: &str, name: String, file: &str, status: TestCaseStatus) -> TestCase {
    let mut case = TestCase::new(name, status);
    case.set_classname(rule);
    case.extra.insert("file".into(), file.into());
    case
}

/// Builds the report (public so tests and other tools can inspect it). `opts.baseline` names
/// the baseline file in the messages of baselined cases.
pub fn report(outcome: &Outcome, opts: &Options) -> Report {
    let baseline = opts.baseline.as_ref().map(|p| p.display().to_string());
    let baseline = baseline.as_deref();
    let mut by_rule: BTreeMap<&str, BTreeMap<ObjectKey, Vec<&Finding>>> = BTreeMap::new();
    for f in &outcome.findings {
        by_rule
            .entry(f.rule)
            .or_default()
            .entry((f.location.file.clone(), f.object_line))
            .or_default()
            .push(f);
    }
    let mut accepted_by_rule: BTreeMap<&str, BTreeMap<ObjectKey, Vec<Accepted<'_>>>> =
        BTreeMap::new();
    let accepted = (outcome.exempted.iter().map(Accepted::Exempted))
        .chain(outcome.baselined.iter().map(Accepted::Baselined));
    for a in accepted {
        let f = a.finding();
        accepted_by_rule
            .entry(f.rule)
            .or_default()
            .entry((f.location.file.clone(), f.object_line))
            .or_default()
            .push(a);
    }
    let mut report = Report::new("hindsight");
    let mut ids: Vec<&str> = rules::ALL.iter().map(|r| r.meta.id).collect();
    // Findings of rules outside the registry (tests) still get a suite: nothing is dropped.
    let mut unregistered: Vec<&str> = (by_rule.keys().chain(accepted_by_rule.keys()))
        .copied()
        .filter(|id| rules::find(id).is_none())
        .collect();
    unregistered.sort_unstable();
    unregistered.dedup();
    ids.extend(unregistered);
    for id in ids {
        let mut suite = TestSuite::new(id);
        if let Some(rule) = rules::find(id) {
            suite.add_property(("severity", rule.meta.severity.as_str()));
            let stories: Vec<&str> = rule.meta.stories.iter().map(|s| s.id()).collect();
            suite.add_property(("stories", stories.join(",").as_str()));
            suite.add_property(("title", rule.meta.title));
        }
        if outcome.not_run.contains(&id) {
            let mut status = TestCaseStatus::skipped();
            status.set_message("not run: its input (cluster state or metrics) was not given");
            suite.add_test_case(case(id, "not run".into(), "", status));
            report.add_test_suite(suite);
            continue;
        }
        let mut found = by_rule.remove(id).unwrap_or_default();
        let mut accepted = accepted_by_rule.remove(id).unwrap_or_default();
        for (object, at) in &outcome.scanned {
            let key = (at.file.clone(), at.line);
            let ok = accepted.remove(&key).unwrap_or_default();
            let status = match found.remove(&key) {
                Some(findings) => failure(&findings, &ok, baseline),
                None if !ok.is_empty() => skipped(&ok, baseline),
                None => TestCaseStatus::success(),
            };
            suite.add_test_case(case(id, object.to_string(), &at.file, status));
        }
        // Findings whose object is not in `scanned` (an outcome built by hand) are kept too.
        for (key, findings) in found {
            let ok = accepted.remove(&key).unwrap_or_default();
            let name = findings[0].object.to_string();
            suite.add_test_case(case(id, name, &key.0, failure(&findings, &ok, baseline)));
        }
        for ((file, _), ok) in accepted {
            let name = ok[0].finding().object.to_string();
            suite.add_test_case(case(id, name, &file, skipped(&ok, baseline)));
        }
        report.add_test_suite(suite);
    }
    if !outcome.errors.is_empty() || !outcome.notices.is_empty() {
        let mut suite = TestSuite::new(ERRORS_SUITE);
        for e in &outcome.errors {
            let at = match e.line {
                Some(l) => format!("{}:{l}", e.file),
                None => e.file.to_string(),
            };
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(e.message.clone())
                .set_type("input error");
            status.set_description(format!("{at}: {}", e.message));
            suite.add_test_case(case("input", at, &e.file, status));
        }
        if !outcome.notices.is_empty() {
            let notices: Vec<String> = outcome
                .notices
                .iter()
                .map(|n| match n.line {
                    Some(l) => format!("notice: {}:{l}: {}", n.file, n.message),
                    None => format!("notice: {}: {}", n.file, n.message),
                })
                .collect();
            suite.set_system_out(notices.join("\n"));
        }
        report.add_test_suite(suite);
    }
    report
}

/// Writes the JUnit XML report.
pub fn write(outcome: &Outcome, out: &mut dyn Write, opts: &Options) -> io::Result<()> {
    let xml = report(outcome, opts)
        .to_string()
        .map_err(io::Error::other)?;
    out.write_all(xml.as_bytes())?;
    writeln!(out)
}
