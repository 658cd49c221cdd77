//! SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.
//!
//! Hand-written serde structs for the part of SARIF we emit, rather than `serde-sarif`: that
//! crate generates every type of the schema at build time and builds values through
//! typed-builder, which costs build time and verbosity for the ~25 fields we use; ours are
//! plain structs whose shape the tests check against the official schema
//! (`../shared/schemas/sarif-2.1.0.json`) on every run.
//!
//! What a viewer gets: every rule with its help (remediation and the incidents it echoes,
//! with links), a GitHub `security-severity`, and per finding a result with the level
//! mapped from severity, a location relative to `%SRCROOT%` (the working directory) at the
//! line of the offending field with that line as a snippet, the object as a logical
//! location, and `partialFingerprints["hindsight/v1"]` from [`Finding::fingerprint`] so
//! alerts survive line moves. Input errors and notices become `toolExecutionNotifications`
//! of the single invocation; `executionSuccessful` is false when any error occurred.
//!
//! Accepted (exempted, baselined) findings are counted in the run's `properties` and in a
//! `note` notification. With [`Options::sarif_suppressed`] they are also results, after the
//! reported ones, each with a `suppressions` entry (§3.35), `status: "accepted"` and the reason
//! as `justification`: `kind: "inSource"` with the annotation's location for an inline
//! exemption, `kind: "external"` for the baseline; every other result then carries an empty
//! `suppressions` array (§3.27.23: all results have it or none). Off by default because GitHub
//! code scanning ignores `suppressions` and would open an alert for each accepted finding
//! (github/codeql-action#1230); SARIF viewers that honour them (VS Code, sarif-web-component)
//! hide them. The fingerprint is the same either way.

use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use super::{Lines, Options, squash_spaces};
use crate::Outcome;
use crate::exempt::Exemption;
use crate::load::Problem;
use crate::rules::{self, Finding, Rule, Severity};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const SRCROOT: &str = "%SRCROOT%";
/// The key of our fingerprint in `partialFingerprints`; bump the version if
/// [`Finding::fingerprint`] ever changes meaning.
pub const FINGERPRINT_KEY: &str = "hindsight/v1";

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    original_uri_base_ids: BTreeMap<&'static str, ArtifactLocation>,
    invocations: Vec<Invocation>,
    results: Vec<SarifResult<'a>>,
    properties: RunProperties,
}

/// Counts of accepted findings, present whether or not they are listed as results.
#[derive(Serialize)]
struct RunProperties {
    exempted: usize,
    baselined: usize,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    information_uri: Option<&'static str>,
    rules: Vec<ReportingDescriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportingDescriptor {
    id: &'static str,
    name: String,
    short_description: Text,
    full_description: Text,
    help: Help,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties {
    tags: Vec<String>,
    /// GitHub's 0.0–10.0 score (a string), from which it shows critical/high/medium/low.
    #[serde(rename = "security-severity")]
    security_severity: &'static str,
    precision: &'static str,
    severity: &'static str,
    stories: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    level: &'static str,
    message: Text,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    associated_rule: Option<RuleReference>,
}

#[derive(Serialize)]
struct RuleReference {
    id: &'static str,
    index: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'static str,
    rule_index: usize,
    kind: &'static str,
    level: &'static str,
    message: Text,
    locations: Vec<Location>,
    partial_fingerprints: BTreeMap<&'static str, String>,
    /// `None` when no result of the run is suppressed; else `Some` on every result.
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressions: Option<Vec<Suppression<'a>>>,
    properties: ResultProperties<'a>,
}

/// SARIF §3.35: why a result is not counted.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Suppression<'a> {
    /// `inSource` (an annotation on the object) or `external` (the baseline file).
    kind: &'static str,
    status: &'static str,
    justification: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<SuppressionProperties<'a>>,
}

/// The exemption as written, for tools that show more than the justification.
#[derive(Serialize)]
struct SuppressionProperties<'a> {
    scope: &'a str,
    annotation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<String>,
}

#[derive(Serialize)]
struct ResultProperties<'a> {
    severity: &'static str,
    stories: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<&'a str>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<PhysicalLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<LogicalLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<Text>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    name: String,
    fully_qualified_name: String,
    kind: &'static str,
}

/// The SARIF level of a severity: GitHub shows error, warning and note.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity`: over 9.0 is critical, 7.0–8.9 high, 4.0–6.9 medium,
/// 0.1–3.9 low.
pub fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.5",
    }
}

/// `workload.replicas-without-spread` → `WorkloadReplicasWithoutSpread`.
fn pascal_name(id: &str) -> String {
    id.split(['.', '-'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn descriptor(rule: &Rule) -> ReportingDescriptor {
    let m = &rule.meta;
    let remediation = squash_spaces(m.remediation);
    let mut text = format!("{remediation}\n\nIncidents this rule echoes:\n");
    let mut markdown =
        format!("**What to change.** {remediation}\n\n**Incidents this rule echoes:**\n\n");
    for story in m.stories {
        let i = story.info();
        text.push_str(&format!(
            "- {} ({}): {} {}\n  {}\n",
            i.org, i.year, i.title, i.url, i.summary
        ));
        markdown.push_str(&format!(
            "- [{} ({}): {}]({}): {}\n",
            i.org, i.year, i.title, i.url, i.summary
        ));
    }
    text.push_str(&format!("\nMore: `hindsight explain {}`", m.id));
    markdown.push_str(&format!("\nMore: `hindsight explain {}`", m.id));
    let area = m.id.split_once('.').map_or(m.id, |(a, _)| a);
    let mut tags = vec!["kubernetes".to_owned(), area.to_owned()];
    // GitHub shows `security-severity` only for rules tagged `security`.
    if matches!(area, "security" | "exposure") {
        tags.push("security".to_owned());
    } else {
        tags.push("reliability".to_owned());
    }
    tags.extend(m.stories.iter().map(|s| format!("story:{}", s.id())));
    // SARIF requires unique tags (the area may itself be `security`).
    let mut seen = std::collections::HashSet::new();
    tags.retain(|t| seen.insert(t.clone()));
    ReportingDescriptor {
        id: m.id,
        name: pascal_name(m.id),
        short_description: Text {
            text: m.title.to_owned(),
        },
        full_description: Text {
            text: squash_spaces(m.rationale),
        },
        help: Help { text, markdown },
        default_configuration: Configuration {
            level: level(m.severity),
        },
        properties: RuleProperties {
            tags,
            security_severity: security_severity(m.severity),
            precision: "high",
            severity: m.severity.as_str(),
            stories: m.stories.iter().map(|s| s.id()).collect(),
        },
    }
}

/// The project's home (Cargo.toml `repository`), when set.
fn information_uri() -> Option<&'static str> {
    Some(env!("CARGO_PKG_REPOSITORY")).filter(|u| !u.is_empty())
}

fn unregistered(id: &'static str, severity: Severity) -> ReportingDescriptor {
    ReportingDescriptor {
        id,
        name: pascal_name(id),
        short_description: Text {
            text: id.to_owned(),
        },
        full_description: Text {
            text: id.to_owned(),
        },
        help: Help {
            text: id.to_owned(),
            markdown: id.to_owned(),
        },
        default_configuration: Configuration {
            level: level(severity),
        },
        properties: RuleProperties {
            tags: vec!["kubernetes".to_owned()],
            security_severity: security_severity(severity),
            precision: "high",
            severity: severity.as_str(),
            stories: Vec::new(),
        },
    }
}

/// Percent-encodes what may not appear in a URI path (RFC 3986 `pchar` plus `/`).
fn encode_uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The artifact location of a report file name: relative to `%SRCROOT%` when it lies under
/// the root, else an absolute `file://` URI. Names like `<stdin>` are not files: `None`.
fn artifact(file: &str, root: &Path) -> Option<ArtifactLocation> {
    if file.starts_with('<') {
        return None;
    }
    let path = crate::load::normalise_path(&root.join(file));
    match path.strip_prefix(root) {
        Ok(rel) => Some(ArtifactLocation {
            uri: encode_uri_path(&rel.to_string_lossy().replace('\\', "/")),
            uri_base_id: Some(SRCROOT),
        }),
        Err(_) => Some(ArtifactLocation {
            uri: format!("file://{}", encode_uri_path(&path.to_string_lossy())),
            uri_base_id: None,
        }),
    }
}

fn physical(
    file: &str,
    line: Option<u32>,
    root: &Path,
    lines: &mut Lines<'_>,
) -> Option<PhysicalLocation> {
    Some(PhysicalLocation {
        artifact_location: artifact(file, root)?,
        region: line.filter(|&l| l > 0).map(|start_line| Region {
            start_line,
            snippet: lines
                .get(file, start_line)
                .map(|t| Text { text: t.to_owned() }),
        }),
    })
}

fn result<'a>(f: &'a Finding, index: usize, root: &Path, lines: &mut Lines<'_>) -> SarifResult<'a> {
    let object = &f.object;
    let qualified = format!(
        "{}/{}/{}",
        object.kind,
        object.namespace.as_deref().unwrap_or("default"),
        object.name
    );
    let subject = match &f.container {
        Some(c) => format!("{object} (container `{c}`)"),
        None => object.to_string(),
    };
    let mut logical = vec![LogicalLocation {
        name: object.name.clone(),
        fully_qualified_name: qualified.clone(),
        kind: "resource",
    }];
    if let Some(c) = &f.container {
        logical.push(LogicalLocation {
            name: c.clone(),
            fully_qualified_name: format!("{qualified}/{c}"),
            kind: "member",
        });
    }
    SarifResult {
        rule_id: f.rule,
        rule_index: index,
        kind: "fail",
        level: level(f.severity),
        message: Text {
            text: format!("{subject}: {}", f.message),
        },
        locations: vec![Location {
            physical_location: physical(&f.location.file, Some(f.location.line), root, lines),
            logical_locations: logical,
        }],
        partial_fingerprints: BTreeMap::from([(FINGERPRINT_KEY, f.fingerprint())]),
        suppressions: None,
        properties: ResultProperties {
            severity: f.severity.as_str(),
            stories: f.stories.iter().map(|s| s.id()).collect(),
            container: f.container.as_deref(),
        },
    }
}

fn in_source<'a>(e: &'a Exemption, root: &Path, lines: &mut Lines<'_>) -> Suppression<'a> {
    Suppression {
        kind: "inSource",
        status: "accepted",
        justification: e.reason.clone(),
        location: physical(&e.file, Some(e.line), root, lines).map(|pl| Location {
            physical_location: Some(pl),
            logical_locations: Vec::new(),
        }),
        properties: Some(SuppressionProperties {
            scope: &e.scope,
            annotation: &e.annotation,
            container: e.container.as_deref(),
            until: e.until.map(|u| u.to_string()),
        }),
    }
}

fn external(baseline: Option<&Path>) -> Suppression<'static> {
    Suppression {
        kind: "external",
        status: "accepted",
        justification: match baseline {
            Some(p) => format!("accepted by the baseline {}", p.display()),
            None => "accepted by the baseline".to_owned(),
        },
        location: None,
        properties: None,
    }
}

fn notification(
    p: &Problem,
    level: &'static str,
    root: &Path,
    lines: &mut Lines<'_>,
) -> Notification {
    let location = physical(&p.file, p.line, root, lines);
    let text = match (location.is_some(), p.line) {
        (true, _) => p.message.clone(),
        (false, Some(l)) => format!("{}:{l}: {}", p.file, p.message),
        (false, None) => format!("{}: {}", p.file, p.message),
    };
    Notification {
        level,
        message: Text { text },
        locations: location
            .map(|pl| Location {
                physical_location: Some(pl),
                logical_locations: Vec::new(),
            })
            .into_iter()
            .collect(),
        associated_rule: None,
    }
}

/// Writes the SARIF log for `outcome`, pretty-printed.
pub fn write(outcome: &Outcome, out: &mut dyn Write, opts: &Options) -> io::Result<()> {
    let root = match &opts.root {
        Some(r) => r.clone(),
        None => std::env::current_dir()?,
    };
    let root = crate::load::normalise_path(&root);
    let mut lines = Lines::new(&outcome.sources);
    let mut driver_rules: Vec<ReportingDescriptor> =
        rules::ALL.iter().map(|r| descriptor(r)).collect();
    let mut results = Vec::with_capacity(
        outcome.findings.len() + outcome.exempted.len() + outcome.baselined.len(),
    );
    let mut index_for = |f: &Finding| match driver_rules.iter().position(|d| d.id == f.rule) {
        Some(i) => i,
        // Findings come from registered rules; one that is not (a test rule) still gets
        // a descriptor so its `ruleIndex` stays valid and nothing is dropped.
        None => {
            driver_rules.push(unregistered(f.rule, f.severity));
            driver_rules.len() - 1
        }
    };
    let accepted = outcome.exempted.len() + outcome.baselined.len();
    let suppressed = opts.sarif_suppressed && accepted > 0;
    for f in &outcome.findings {
        let index = index_for(f);
        let mut r = result(f, index, &root, &mut lines);
        r.suppressions = suppressed.then(Vec::new);
        results.push(r);
    }
    if suppressed {
        for e in &outcome.exempted {
            let mut r = result(&e.finding, index_for(&e.finding), &root, &mut lines);
            r.suppressions = Some(vec![in_source(&e.exemption, &root, &mut lines)]);
            results.push(r);
        }
        for f in &outcome.baselined {
            let mut r = result(f, index_for(f), &root, &mut lines);
            r.suppressions = Some(vec![external(opts.baseline.as_deref())]);
            results.push(r);
        }
    }
    let index_of = |id: &str| rules::ALL.iter().position(|r| r.meta.id == id);
    let mut notes = Vec::new();
    for e in &outcome.errors {
        notes.push(notification(e, "error", &root, &mut lines));
    }
    for n in &outcome.notices {
        notes.push(notification(n, "note", &root, &mut lines));
    }
    if accepted > 0 {
        let placed = if suppressed {
            "listed as suppressed results"
        } else {
            "not in the results (`--sarif-suppressed` adds them as suppressed results)"
        };
        notes.push(Notification {
            level: "note",
            message: Text {
                text: format!(
                    "{} exempted and {} baselined finding(s) are accepted and not counted: {placed}",
                    outcome.exempted.len(),
                    outcome.baselined.len()
                ),
            },
            locations: Vec::new(),
            associated_rule: None,
        });
    }
    for id in &outcome.not_run {
        notes.push(Notification {
            level: "note",
            message: Text {
                text: format!(
                    "rule `{id}` did not run: its input (cluster state or metrics) was not given"
                ),
            },
            locations: Vec::new(),
            associated_rule: index_of(id).map(|index| RuleReference { id, index }),
        });
    }
    let mut root_uri = format!("file://{}", encode_uri_path(&root.to_string_lossy()));
    if !root_uri.ends_with('/') {
        root_uri.push('/');
    }
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "hindsight",
                    version: env!("CARGO_PKG_VERSION"),
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    information_uri: information_uri(),
                    rules: driver_rules,
                },
            },
            original_uri_base_ids: BTreeMap::from([(
                SRCROOT,
                ArtifactLocation {
                    uri: root_uri,
                    uri_base_id: None,
                },
            )]),
            invocations: vec![Invocation {
                execution_successful: outcome.errors.is_empty(),
                tool_execution_notifications: notes,
            }],
            results,
            properties: RunProperties {
                exempted: outcome.exempted.len(),
                baselined: outcome.baselined.len(),
            },
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_are_relative_to_the_root_when_under_it() {
        let root = Path::new("/work/repo");
        let a = artifact("deploy/api.yaml", root).unwrap();
        assert_eq!(
            (a.uri.as_str(), a.uri_base_id),
            ("deploy/api.yaml", Some(SRCROOT))
        );
        let a = artifact("/work/repo/./x/my app.yaml", root).unwrap();
        assert_eq!(a.uri, "x/my%20app.yaml");
        let a = artifact("../other/x.yaml", root).unwrap();
        assert_eq!(
            (a.uri.as_str(), a.uri_base_id),
            ("file:///work/other/x.yaml", None)
        );
        assert!(artifact("<stdin>", root).is_none());
    }

    #[test]
    fn names_and_levels() {
        assert_eq!(
            pascal_name("workload.replicas-without-spread"),
            "WorkloadReplicasWithoutSpread"
        );
        assert_eq!(level(Severity::High), "error");
        assert_eq!(level(Severity::Medium), "warning");
        assert_eq!(level(Severity::Info), "note");
        for s in super::super::SEVERITIES {
            let v: f64 = security_severity(s).parse().unwrap();
            assert!((0.1..=10.0).contains(&v));
        }
    }
}
