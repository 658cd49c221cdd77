//! Inline exemptions: an annotation on the object (or on its pod template) that accepts a
//! finding, with a reason and an optional expiry date.
//!
//! ```yaml
//! metadata:
//!   annotations:
//!     hindsight.dev/exempt.security.runs-as-root: "reason=vendor image needs root; until=2027-01-31; container=init-db"
//!     hindsight.dev/exempt.exposure: "reason=internal cluster, no internet gateway"
//! ```
//!
//! The key names a rule id or a whole area; the value is `key=value` pairs separated by `;`:
//! `reason` (required), `until` (an ISO date, inclusive) and `container` (only that container's
//! findings). Invariants: an exemption never loses a finding. Valid exemptions move findings
//! to [`Exempted`] (counted and listable); expired ones leave the finding in place and say so
//! in its message; invalid ones (no reason, unknown rule, bad date, unknown container) are input
//! errors and exempt nothing; unused ones (their rule ran, nothing matched) are notices.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

use crate::load::{Object, Problem};
use crate::model::{containers, pod_template};
use crate::node::Node;
use crate::rules::{ALL, Finding};

/// Annotation key prefix; the rest of the key is a rule id or an area.
pub const PREFIX: &str = "hindsight.dev/exempt.";
/// Keys valid in an exemption's value.
pub const KEYS: [&str; 3] = ["reason", "until", "container"];

/// A calendar date (proleptic Gregorian), as in `until=2027-01-31`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD`, checking the day exists.
    pub fn parse(s: &str) -> Option<Date> {
        let mut parts = s.trim().split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let date = Date {
            year: y.parse().ok()?,
            month: m.parse().ok()?,
            day: d.parse().ok()?,
        };
        let valid = (1..=12).contains(&date.month)
            && (1..=days_in_month(date.year, date.month)).contains(&date.day);
        valid.then_some(date)
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_unix_days(days: i64) -> Date {
        let (year, month, day) = crate::time::civil_from_days(days);
        Date {
            year: year as i32,
            month: month as u8,
            day: day as u8,
        }
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Today's UTC date: `HINDSIGHT_TODAY` (`YYYY-MM-DD`, for tests and reproducible runs) when
/// set and valid, else the system clock.
pub fn today() -> Date {
    if let Some(d) = std::env::var("HINDSIGHT_TODAY")
        .ok()
        .and_then(|s| Date::parse(&s))
    {
        return d;
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Date::from_unix_days(i64::try_from(secs / 86_400).unwrap_or(0))
}

/// One valid exemption, as read from an annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exemption {
    /// The rule id or area it covers.
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
    /// The annotation it came from, and where.
    pub annotation: String,
    pub file: Arc<str>,
    pub line: u32,
}

impl Exemption {
    fn covers(&self, f: &Finding) -> bool {
        let rule_ok = self.scope == f.rule
            || f.rule
                .strip_prefix(self.scope.as_str())
                .is_some_and(|rest| rest.starts_with('.'));
        let container_ok = match &self.container {
            None => true,
            Some(c) => f.container.as_deref() == Some(c.as_str()),
        };
        rule_ok && container_ok
    }

    fn expired(&self, today: Date) -> bool {
        self.until.is_some_and(|until| today > until)
    }
}

/// A finding accepted by an exemption; reports list these on request.
#[derive(Debug, Clone, Serialize)]
pub struct Exempted {
    #[serde(flatten)]
    pub finding: Finding,
    pub exemption: Exemption,
}

/// What applying exemptions produced.
#[derive(Debug, Default)]
pub struct Applied {
    /// Findings still reported (expired exemptions say so in the message).
    pub findings: Vec<Finding>,
    pub exempted: Vec<Exempted>,
    /// Invalid exemption annotations: input errors.
    pub errors: Vec<Problem>,
    /// Exemptions for rules that ran but matched no finding: stale, worth removing.
    pub notices: Vec<Problem>,
}

/// Reads every object's exemptions and applies them to the findings. `ran` lists the rules
/// that ran, so an exemption for a rule that did not run is not called stale.
pub fn apply<'a>(
    objects: impl IntoIterator<Item = &'a Object>,
    findings: Vec<Finding>,
    ran: &[&str],
    today: Date,
) -> Applied {
    struct Entry<'a> {
        exemption: Exemption,
        object: &'a Object,
        used: bool,
    }
    let mut out = Applied::default();
    let mut by_object: HashMap<(Arc<str>, u32), Vec<Entry<'a>>> = HashMap::new();
    for object in objects {
        let (valid, errors) = read(object);
        out.errors.extend(errors);
        for exemption in valid {
            by_object
                .entry((object.file.clone(), object.line))
                .or_default()
                .push(Entry {
                    exemption,
                    object,
                    used: false,
                });
        }
    }
    for mut finding in findings {
        let key = (finding.location.file.clone(), finding.object_line);
        let Some(entries) = by_object.get_mut(&key) else {
            out.findings.push(finding);
            continue;
        };
        let mut valid: Option<Exemption> = None;
        let mut expired: Option<(Date, String)> = None;
        for entry in entries.iter_mut().filter(|e| e.exemption.covers(&finding)) {
            entry.used = true;
            let e = &entry.exemption;
            match e.until {
                Some(until) if e.expired(today) => {
                    if expired.as_ref().is_none_or(|(d, _)| until > *d) {
                        expired = Some((until, e.reason.clone()));
                    }
                }
                _ => {
                    valid.get_or_insert_with(|| e.clone());
                }
            }
        }
        if let Some(exemption) = valid {
            out.exempted.push(Exempted { finding, exemption });
            continue;
        }
        if let Some((until, reason)) = expired {
            finding
                .message
                .push_str(&format!(" (exemption expired on {until}: {reason})"));
        }
        out.findings.push(finding);
    }
    for entry in by_object.into_values().flatten() {
        let e = &entry.exemption;
        let scope_ran = ran.iter().any(|id| {
            *id == e.scope
                || id
                    .strip_prefix(e.scope.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        });
        if !entry.used && scope_ran {
            out.notices.push(Problem {
                file: e.file.clone(),
                line: Some(e.line),
                message: format!(
                    "exemption `{}` on {} {} matched no finding: the condition it accepted is gone; remove the annotation",
                    e.annotation, entry.object.kind, entry.object.name
                ),
            });
        }
    }
    out.notices
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    out
}

/// The exemptions of one object: from its own annotations and its pod template's.
pub fn read(object: &Object) -> (Vec<Exemption>, Vec<Problem>) {
    let mut annotation_maps: Vec<&Node> = Vec::new();
    if let Some(a) = object.root.path(&["metadata", "annotations"]) {
        annotation_maps.push(a);
    }
    if object.kind != "Pod"
        && let Some((meta, _)) = pod_template(object)
        && let Some(a) = meta.get("annotations")
    {
        annotation_maps.push(a);
    }
    let container_names: Vec<&str> = pod_template(object)
        .map(|(_, spec)| containers(spec).map(|c| c.name).collect())
        .unwrap_or_default();
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for map in annotation_maps {
        for (key, value) in map.as_map() {
            let Some(scope) = key.strip_prefix(PREFIX).or_else(|| {
                (key == "hindsight.dev/exempt" || key == "hindsight.dev/exempt.").then_some("")
            }) else {
                continue;
            };
            let line = if value.line > 0 {
                value.line
            } else {
                object.line
            };
            let problem = |message: String| Problem {
                file: object.file.clone(),
                line: Some(line),
                message: format!(
                    "exemption `{key}` on {} {}: {message}; the exemption is ignored",
                    object.kind, object.name
                ),
            };
            match parse(key, scope, value, &container_names) {
                Ok((scope, container, reason, until)) => valid.push(Exemption {
                    scope,
                    container,
                    reason,
                    until,
                    annotation: key.to_string(),
                    file: object.file.clone(),
                    line,
                }),
                Err(message) => errors.push(problem(message)),
            }
        }
    }
    (valid, errors)
}

type Parsed = (String, Option<String>, String, Option<Date>);

fn parse(key: &str, scope: &str, value: &Node, containers: &[&str]) -> Result<Parsed, String> {
    if scope.is_empty() {
        return Err(format!(
            "name the rule or area in the key, e.g. `{PREFIX}workload.replicas-without-spread`"
        ));
    }
    let known = ALL.iter().any(|r| r.meta.id == scope)
        || ALL
            .iter()
            .any(|r| r.meta.id.split_once('.').is_some_and(|(a, _)| a == scope));
    if !known {
        let hint = crate::docs::did_you_mean(scope)
            .map(|s| format!(" (did you mean `{PREFIX}{s}`?)"))
            .unwrap_or_default();
        return Err(format!(
            "no rule or area `{scope}`{hint}; `hindsight rules` lists them"
        ));
    }
    let Some(text) = value.as_str() else {
        return Err(format!(
            "the value of `{key}` must be a string like `reason=…`"
        ));
    };
    let (mut reason, mut until, mut container) = (None, None, None);
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!(
                "`{part}` is not `key=value`; valid keys: {}",
                KEYS.join(", ")
            ));
        };
        let (k, v) = (k.trim(), v.trim());
        let slot = match k {
            "reason" => &mut reason,
            "until" => &mut until,
            "container" => &mut container,
            _ => {
                return Err(format!(
                    "unknown key `{k}`; valid keys: {}",
                    KEYS.join(", ")
                ));
            }
        };
        if slot.replace(v).is_some() {
            return Err(format!("`{k}` is given twice"));
        }
    }
    let reason = match reason {
        Some(r) if !r.is_empty() => r.to_owned(),
        _ => return Err("no reason given: add `reason=<why this is accepted>`".into()),
    };
    let until = match until {
        None => None,
        Some(u) => Some(
            Date::parse(u).ok_or_else(|| format!("`until={u}` is not a date like `2027-01-31`"))?,
        ),
    };
    if let Some(c) = container
        && !containers.contains(&c)
    {
        return Err(if containers.is_empty() {
            format!("`container={c}`, but this object has no pod template")
        } else {
            format!("no container `{c}`; containers: {}", containers.join(", "))
        });
    }
    Ok((
        scope.to_owned(),
        container.map(str::to_owned),
        reason,
        until,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{self, Context};

    const RULE: &str = "workload.replicas-without-spread";

    /// A Deployment with two containers that fires `workload.replicas-without-spread`, with
    /// `annotations` (a YAML flow map body) on the object.
    fn deployment(annotations: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  annotations: {{{annotations}}}\nspec:\n  replicas: 3\n  template:\n    metadata: {{labels: {{app: api}}}}\n    spec:\n      containers: [{{name: api}}, {{name: sidecar}}]\n"
        )
    }

    fn run(yaml: &str, today: &str) -> Applied {
        let loaded = crate::load::load_bytes(Arc::from("t.yaml"), yaml.as_bytes(), None);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let cx = Context::new(&loaded.objects);
        let rule = rules::find(RULE).expect("rule exists");
        let findings = rules::run(&cx, &[rule]).findings;
        assert!(!findings.is_empty(), "fixture must fire");
        apply(
            &loaded.objects,
            findings,
            &[RULE],
            Date::parse(today).unwrap(),
        )
    }

    #[test]
    fn valid_exemption_moves_the_finding() {
        let a = run(
            &deployment(&format!(
                "'{PREFIX}{RULE}': 'reason=batch workers, losing them is fine; until=2027-01-31'"
            )),
            "2026-11-27",
        );
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        assert!(a.findings.is_empty());
        assert_eq!(a.exempted.len(), 1);
        let e = &a.exempted[0].exemption;
        assert_eq!(e.reason, "batch workers, losing them is fine");
        assert_eq!(e.until, Date::parse("2027-01-31"));
        assert_eq!(e.line, 5);
    }

    #[test]
    fn area_and_pod_template_annotations_work() {
        let yaml = deployment("").replace(
            "metadata: {labels: {app: api}}",
            &format!("metadata: {{labels: {{app: api}}, annotations: {{'{PREFIX}workload': 'reason=r'}}}}"),
        );
        let a = run(&yaml, "2026-11-27");
        assert_eq!((a.findings.len(), a.exempted.len()), (0, 1));
    }

    #[test]
    fn missing_reason_is_an_error_and_keeps_the_finding() {
        let a = run(
            &deployment(&format!("'{PREFIX}{RULE}': 'until=2027-01-31'")),
            "2026-11-27",
        );
        assert_eq!(a.findings.len(), 1);
        assert!(a.exempted.is_empty());
        assert_eq!(a.errors.len(), 1);
        assert!(
            a.errors[0].message.contains("no reason given"),
            "{:?}",
            a.errors
        );
        assert_eq!(a.errors[0].line, Some(5));
    }

    #[test]
    fn expired_exemption_turns_back_into_a_finding() {
        let a = run(
            &deployment(&format!(
                "'{PREFIX}{RULE}': 'reason=temporary; until=2026-11-26'"
            )),
            "2026-11-27",
        );
        assert!(a.exempted.is_empty());
        assert_eq!(a.findings.len(), 1);
        assert!(
            a.findings[0]
                .message
                .ends_with("(exemption expired on 2026-11-26: temporary)"),
            "{}",
            a.findings[0].message
        );
        // The last day is still covered.
        let a = run(
            &deployment(&format!(
                "'{PREFIX}{RULE}': 'reason=temporary; until=2026-11-27'"
            )),
            "2026-11-27",
        );
        assert_eq!(a.exempted.len(), 1);
    }

    #[test]
    fn container_scope_only_covers_that_container() {
        let yaml = deployment(&format!("'{PREFIX}{RULE}': 'reason=r; container=sidecar'"));
        let loaded = crate::load::load_bytes(Arc::from("t.yaml"), yaml.as_bytes(), None);
        let o = &loaded.objects;
        let make = |container: Option<&str>| {
            let mut sink = rules::Sink::new(&rules::find(RULE).expect("rule exists").meta);
            sink.report(&o[0], container, None, "m");
            sink.findings.remove(0)
        };
        let findings = vec![make(Some("api")), make(Some("sidecar")), make(None)];
        let a = apply(o, findings, &[RULE], Date::parse("2026-11-27").unwrap());
        assert_eq!(a.exempted.len(), 1);
        assert_eq!(a.exempted[0].finding.container.as_deref(), Some("sidecar"));
        let left: Vec<_> = a.findings.iter().map(|f| f.container.as_deref()).collect();
        assert_eq!(left, [Some("api"), None]);
    }

    #[test]
    fn invalid_annotations_name_the_problem() {
        let cases = [
            (
                format!("'{PREFIX}workload.replicas-without-sprad': 'reason=r'"),
                "did you mean",
            ),
            (
                format!("'{PREFIX}{RULE}': 'reason=r; until=2027-02-30'"),
                "not a date",
            ),
            (
                format!("'{PREFIX}{RULE}': 'reason=r; contaner=x'"),
                "valid keys: reason, until, container",
            ),
            (
                format!("'{PREFIX}{RULE}': 'reason=r; container=db'"),
                "containers: api, sidecar",
            ),
            (
                format!("'{PREFIX}{RULE}': 'just because'"),
                "not `key=value`",
            ),
            (format!("'{PREFIX}{RULE}': 'reason='"), "no reason"),
            (
                "'hindsight.dev/exempt': 'reason=r'".to_owned(),
                "name the rule",
            ),
        ];
        for (annotation, expected) in cases {
            let a = run(&deployment(&annotation), "2026-11-27");
            assert_eq!(a.findings.len(), 1, "{annotation}");
            assert!(
                a.errors.len() == 1 && a.errors[0].message.contains(expected),
                "{annotation}: {:?}",
                a.errors
            );
        }
    }

    #[test]
    fn unused_exemptions_are_noticed_only_when_their_rule_ran() {
        let yaml = deployment(&format!("'{PREFIX}{RULE}': 'reason=r'"))
            .replace("replicas: 3", "replicas: 1");
        let loaded = crate::load::load_bytes(Arc::from("t.yaml"), yaml.as_bytes(), None);
        let today = Date::parse("2026-11-27").unwrap();
        let a = apply(&loaded.objects, Vec::new(), &[RULE], today);
        assert_eq!(a.notices.len(), 1);
        assert!(a.notices[0].message.contains("matched no finding"));
        assert_eq!(a.notices[0].line, Some(5));
        let a = apply(&loaded.objects, Vec::new(), &[], today);
        assert!(a.notices.is_empty());
    }

    #[test]
    fn other_annotations_are_ignored() {
        let a = run(
            &deployment("'hindsight.dev/owner': team-a, other: x"),
            "2026-11-27",
        );
        assert!(a.errors.is_empty());
        assert_eq!(a.findings.len(), 1);
    }

    #[test]
    fn dates() {
        assert_eq!(Date::from_unix_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_unix_days(20_419).to_string(), "2025-11-27");
        assert_eq!(Date::from_unix_days(11_016).to_string(), "2000-02-29");
        assert_eq!(Date::from_unix_days(-1).to_string(), "1969-12-31");
        assert!(Date::parse("2024-02-29").is_some());
        assert!(Date::parse("2023-02-29").is_none());
        assert!(Date::parse("2023-13-01").is_none());
        assert!(Date::parse("2023-1-01").is_none());
        assert!(Date::parse("2027-01-31") > Date::parse("2026-12-31"));
    }
}
