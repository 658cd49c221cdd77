//! `hindsight diff`: the risk in a change, before it merges.
//!
//! Two sides (files and directories, standard input, or paths at a git ref read through the
//! `git` binary, see [`git`]) are each loaded with the normal loader and scanned with every
//! scan rule. Objects are matched by [`ObjectKey`] (API group, kind, namespace, name); the
//! change rules ([`crate::rules::change`]) run over the matched pairs; findings are split into
//! new (fingerprint only after) and resolved (fingerprint only before).
//!
//! Invariants: a problem on either side is an error that names the side and never hides the
//! rest of the report; resolved and pre-existing findings never fail a diff. Fields that the
//! API server owns (`status`, `metadata.resourceVersion`, `managedFields`, ...) are not
//! changes, so a diff of two cluster snapshots shows only what someone changed.

pub mod git;
pub mod json;
pub mod markdown;
pub mod text;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::load::{Loaded, Object, Problem};
use crate::node::{Node, Value};
use crate::rules::change::{self, DiffContext, ObjectChange, ObjectKey, Risk};
use crate::rules::{self, Context, Finding, Location, ObjectRef, Severity};

/// Which side of the diff something comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Before,
    After,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Before => "before",
            Side::After => "after",
        }
    }
}

/// An input problem with the side it came from.
#[derive(Debug, Clone, Serialize)]
pub struct SideProblem {
    pub side: Side,
    #[serde(flatten)]
    pub problem: Problem,
}

impl std::fmt::Display for SideProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.problem;
        match p.line {
            Some(line) => write!(
                f,
                "{}: {}:{line}: {}",
                self.side.as_str(),
                p.file,
                p.message
            ),
            None => write!(f, "{}: {}: {}", self.side.as_str(), p.file, p.message),
        }
    }
}

/// An object only one side has.
#[derive(Debug, Clone, Serialize)]
pub struct Presence {
    pub object: ObjectRef,
    pub location: Location,
}

/// An object both sides have, with different content.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    pub object: ObjectRef,
    pub before: Location,
    pub after: Location,
    /// Paths of the fields that differ, e.g. `spec.template.spec.containers[0].image`.
    pub fields: Vec<String>,
}

/// Added, removed and changed objects.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Changes {
    pub added: Vec<Presence>,
    pub removed: Vec<Presence>,
    pub changed: Vec<Changed>,
}

/// Everything a diff produced; every diff format renders this.
#[derive(Debug, Default)]
pub struct DiffOutcome {
    pub changes: Changes,
    pub risks: Vec<Risk>,
    pub new_findings: Vec<Finding>,
    pub resolved_findings: Vec<Finding>,
    pub errors: Vec<SideProblem>,
    pub notices: Vec<SideProblem>,
    pub before_objects: usize,
    pub after_objects: usize,
    pub unchanged: usize,
    /// Findings present on both sides (neither new nor resolved).
    pub persisting_findings: usize,
}

impl DiffOutcome {
    /// 2 on any input error (either side), else 1 when a change risk or a new finding is at or
    /// above `fail_on`, else 0. Resolved and persisting findings never fail a diff.
    pub fn exit_code(&self, fail_on: Severity) -> i32 {
        if !self.errors.is_empty() {
            2
        } else if self
            .risks
            .iter()
            .map(|r| &r.finding)
            .chain(&self.new_findings)
            .any(|f| f.severity >= fail_on)
        {
            1
        } else {
            0
        }
    }
}

/// Counts for the summary of every format.
#[derive(Debug, Serialize)]
pub struct DiffSummary {
    pub before_objects: usize,
    pub after_objects: usize,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub risks: usize,
    pub new_findings: usize,
    pub resolved_findings: usize,
    pub persisting_findings: usize,
    pub errors: usize,
    pub notices: usize,
    /// Change risks and new findings by severity (what can fail the diff).
    pub by_severity: std::collections::BTreeMap<&'static str, usize>,
}

impl DiffSummary {
    pub fn of(d: &DiffOutcome) -> DiffSummary {
        let mut by_severity = std::collections::BTreeMap::new();
        for sev in ["critical", "high", "medium", "low", "info"] {
            by_severity.insert(sev, 0);
        }
        for f in d.risks.iter().map(|r| &r.finding).chain(&d.new_findings) {
            *by_severity.entry(f.severity.as_str()).or_default() += 1;
        }
        DiffSummary {
            before_objects: d.before_objects,
            after_objects: d.after_objects,
            added: d.changes.added.len(),
            removed: d.changes.removed.len(),
            changed: d.changes.changed.len(),
            unchanged: d.unchanged,
            risks: d.risks.len(),
            new_findings: d.new_findings.len(),
            resolved_findings: d.resolved_findings.len(),
            persisting_findings: d.persisting_findings,
            errors: d.errors.len(),
            notices: d.notices.len(),
            by_severity,
        }
    }
}

/// The pairing of two object lists.
#[derive(Debug, Default)]
pub struct Pairing {
    /// Added, removed and changed objects, sorted by key.
    pub changes: Vec<ObjectChange>,
    pub unchanged: usize,
    /// Objects whose key appears twice on one side (the first one is compared).
    pub duplicates: Vec<(Side, usize)>,
}

/// Matches objects by key and keeps the ones that differ.
pub fn pair(before: &[Object], after: &[Object]) -> Pairing {
    use rayon::prelude::*;
    let mut out = Pairing::default();
    let mut index = |objects: &[Object], side: Side| {
        let mut map: HashMap<ObjectKey, usize> = HashMap::with_capacity(objects.len());
        for (i, o) in objects.iter().enumerate() {
            match map.entry(ObjectKey::of(o)) {
                std::collections::hash_map::Entry::Occupied(_) => out.duplicates.push((side, i)),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }
        map
    };
    let b = index(before, Side::Before);
    let a = index(after, Side::After);
    let mut keys: Vec<&ObjectKey> = b
        .keys()
        .chain(a.keys().filter(|k| !b.contains_key(*k)))
        .collect();
    keys.sort();
    let results: Vec<Option<ObjectChange>> = keys
        .par_iter()
        .map(|key| {
            let bi = b.get(*key).copied();
            let ai = a.get(*key).copied();
            let fields = match (bi, ai) {
                (Some(x), Some(y)) => {
                    let mut fields = Vec::new();
                    differences(
                        &before[x].root,
                        &after[y].root,
                        &mut String::new(),
                        &mut fields,
                    );
                    if fields.is_empty() {
                        return None;
                    }
                    fields
                }
                _ => Vec::new(),
            };
            Some(ObjectChange {
                key: (*key).clone(),
                before: bi,
                after: ai,
                fields,
            })
        })
        .collect();
    for r in results {
        match r {
            Some(c) => out.changes.push(c),
            None => out.unchanged += 1,
        }
    }
    out
}

/// At most this many differing paths are listed per object.
const MAX_FIELDS: usize = 20;

/// Whether a path is owned by the API server rather than by whoever edits the manifest.
fn server_owned(path: &str) -> bool {
    matches!(
        path,
        "status"
            | "metadata.resourceVersion"
            | "metadata.generation"
            | "metadata.managedFields"
            | "metadata.uid"
            | "metadata.creationTimestamp"
            | "metadata.selfLink"
            | "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration"
            | "metadata.annotations.deployment.kubernetes.io/revision"
    )
}

/// Collects the paths where two trees differ (maps by key, whatever their order; lists by
/// position). Lines are ignored: moving an object in its file is no change.
fn differences(a: &Node, b: &Node, path: &mut String, out: &mut Vec<String>) {
    if out.len() >= MAX_FIELDS || server_owned(path) {
        return;
    }
    match (&a.value, &b.value) {
        (Value::Map(x), Value::Map(y)) => {
            for (k, va) in x.iter() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match b.get(k) {
                    Some(vb) => differences(va, vb, path, out),
                    None if va.is_null() || server_owned(path) => {}
                    None => push(out, path),
                }
                path.truncate(len);
            }
            for (k, vb) in y.iter() {
                if a.get(k).is_none() && !vb.is_null() {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    if !server_owned(path) {
                        push(out, path);
                    }
                    path.truncate(len);
                }
            }
        }
        (Value::Seq(x), Value::Seq(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y.iter()).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                differences(va, vb, path, out);
                path.truncate(len);
            }
        }
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => {
            if (*x as f64) != *y {
                push(out, path);
            }
        }
        (x, y) => {
            if !same_scalar(x, y) {
                push(out, path);
            }
        }
    }
}

fn same_scalar(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(p), Value::Bool(q)) => p == q,
        (Value::Int(p), Value::Int(q)) => p == q,
        (Value::Float(p), Value::Float(q)) => p == q,
        (Value::Str(p), Value::Str(q)) => p == q,
        _ => false,
    }
}

fn push(out: &mut Vec<String>, path: &str) {
    if out.len() < MAX_FIELDS {
        out.push(if path.is_empty() {
            "(document)".into()
        } else {
            path.to_owned()
        });
    }
}

fn location(o: &Object) -> Location {
    Location {
        file: o.file.clone(),
        line: o.line,
    }
}

fn side_problems(side: Side, problems: Vec<Problem>) -> impl Iterator<Item = SideProblem> {
    problems
        .into_iter()
        .map(move |problem| SideProblem { side, problem })
}

/// Diffs two loaded sides: scans both (in parallel), pairs objects, runs the change rules.
pub fn diff(before: Loaded, after: Loaded) -> DiffOutcome {
    let mut out = DiffOutcome {
        before_objects: before.objects.len(),
        after_objects: after.objects.len(),
        ..DiffOutcome::default()
    };
    out.errors
        .extend(side_problems(Side::Before, before.errors));
    out.errors.extend(side_problems(Side::After, after.errors));
    out.notices
        .extend(side_problems(Side::Before, before.notices));
    out.notices
        .extend(side_problems(Side::After, after.notices));
    let (b_objects, a_objects) = (before.objects, after.objects);

    let ((b_cx, b_run), ((a_cx, a_run), pairing)) = rayon::join(
        || scan(&b_objects),
        || rayon::join(|| scan(&a_objects), || pair(&b_objects, &a_objects)),
    );
    for (side, run) in [(Side::Before, &b_run), (Side::After, &a_run)] {
        out.errors
            .extend(run.internal_errors.iter().map(|m| SideProblem {
                side,
                problem: internal(m),
            }));
    }
    for &(side, i) in &pairing.duplicates {
        let o = match side {
            Side::Before => &b_objects[i],
            Side::After => &a_objects[i],
        };
        out.notices.push(SideProblem {
            side,
            problem: Problem {
                file: o.file.clone(),
                line: Some(o.line),
                message: format!(
                    "{} appears more than once; the first one is compared",
                    ObjectRef::of(o)
                ),
            },
        });
    }

    let cx = DiffContext::new(b_cx, a_cx, &pairing.changes);
    let (risks, errors) = change::run(&cx);
    out.risks = risks;
    out.errors.extend(errors.iter().map(|m| SideProblem {
        side: Side::After,
        problem: internal(m),
    }));

    for c in &pairing.changes {
        match (c.before, c.after) {
            (Some(b), Some(a)) => out.changes.changed.push(Changed {
                object: ObjectRef::of(&a_objects[a]),
                before: location(&b_objects[b]),
                after: location(&a_objects[a]),
                fields: c.fields.clone(),
            }),
            (None, Some(a)) => out.changes.added.push(Presence {
                object: ObjectRef::of(&a_objects[a]),
                location: location(&a_objects[a]),
            }),
            (Some(b), None) => out.changes.removed.push(Presence {
                object: ObjectRef::of(&b_objects[b]),
                location: location(&b_objects[b]),
            }),
            (None, None) => {}
        }
    }
    out.unchanged = pairing.unchanged;

    let before_prints: HashSet<String> = b_run.findings.iter().map(Finding::fingerprint).collect();
    let after_prints: HashSet<String> = a_run.findings.iter().map(Finding::fingerprint).collect();
    for f in a_run.findings {
        if before_prints.contains(&f.fingerprint()) {
            out.persisting_findings += 1;
        } else {
            out.new_findings.push(f);
        }
    }
    out.resolved_findings = b_run
        .findings
        .into_iter()
        .filter(|f| !after_prints.contains(&f.fingerprint()))
        .collect();
    out.errors.sort_by(|x, y| {
        (x.side as u8, &x.problem.file, x.problem.line).cmp(&(
            y.side as u8,
            &y.problem.file,
            y.problem.line,
        ))
    });
    out
}

fn scan(objects: &[Object]) -> (Context<'_>, rules::RunResult) {
    let cx = Context::new(objects);
    let run = rules::run(&cx, rules::ALL);
    (cx, run)
}

fn internal(message: &str) -> Problem {
    Problem {
        file: Arc::from("<hindsight>"),
        line: None,
        message: message.to_owned(),
    }
}

/// Loads one side: either inputs through the normal loader, or paths at a git ref.
pub fn load_side(source: &Source) -> Loaded {
    match source {
        Source::Inputs(inputs) => crate::load::load(inputs),
        Source::Git { rev, paths } => git::load(rev, paths),
        Source::WorkTree { inputs, missing } => {
            let mut loaded = crate::load::load(inputs);
            loaded.notices.extend(missing.iter().map(|p| Problem {
                file: Arc::from(p.as_str()),
                line: None,
                message: "not in the work tree: everything under it at the revision counts as removed"
                    .into(),
            }));
            loaded
        }
    }
}

/// Where one side's manifests come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Files, directories, or `-` for standard input.
    Inputs(Vec<crate::load::Input>),
    /// Paths at a git revision (read with `git ls-tree` / `git cat-file`).
    Git { rev: String, paths: Vec<String> },
    /// The work-tree side of `--git REF PATHS`: the paths that exist, and the ones the change
    /// deleted (a notice each, not an error).
    WorkTree {
        inputs: Vec<crate::load::Input>,
        missing: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_bytes;

    fn objects(name: &str, src: &str) -> Vec<Object> {
        let l = load_bytes(Arc::from(name), src.as_bytes(), None);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        l.objects
    }

    /// Name, before index, after index, differing fields.
    type Row = (String, Option<usize>, Option<usize>, Vec<String>);

    #[test]
    fn pairs_by_group_kind_namespace_and_name() {
        let before = objects(
            "b.yaml",
            "apiVersion: apps/v1beta2\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: 1}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone, namespace: default}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: same, namespace: x}\ndata: {k: v, j: w}\n",
        );
        let after = objects(
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x, name: same}\ndata: {j: w, k: v}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a, namespace: default}\nspec: {replicas: 2}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: new}\n---\napiVersion: example.com/v1\nkind: ConfigMap\nmetadata: {name: gone}\n",
        );
        let p = pair(&before, &after);
        assert_eq!(p.unchanged, 1, "key order and line moves are no change");
        let summary: Vec<Row> = p
            .changes
            .iter()
            .map(|c| (c.key.name.clone(), c.before, c.after, c.fields.clone()))
            .collect();
        let want: Vec<Row> = vec![
            ("gone".into(), Some(1), None, vec![]),
            ("new".into(), None, Some(2), vec![]),
            (
                "a".into(),
                Some(0),
                Some(1),
                vec![
                    "apiVersion".into(),
                    "metadata.namespace".into(),
                    "spec.replicas".into(),
                ],
            ),
            ("gone".into(), None, Some(3), vec![]),
        ];
        assert_eq!(summary, want);
    }

    #[test]
    fn server_owned_fields_are_no_change() {
        let before = objects(
            "b.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: s, resourceVersion: '1'}\nspec: {type: ClusterIP}\nstatus: {loadBalancer: {}}\n",
        );
        let after = objects(
            "a.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: s, resourceVersion: '9', managedFields: [{}]}\nspec: {type: ClusterIP}\n",
        );
        let p = pair(&before, &after);
        assert!(p.changes.is_empty(), "{:?}", p.changes);
    }

    #[test]
    fn findings_split_into_new_and_resolved_by_fingerprint() {
        let spread = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: NAME}\nspec:\n  replicas: 3\n  template:\n    metadata: {labels: {app: NAME}}\n    spec: {containers: [{name: c, image: x}]}\n";
        let b = load_bytes(
            Arc::from("b.yaml"),
            format!(
                "{}---\n{}",
                spread.replace("NAME", "old"),
                spread.replace("NAME", "kept")
            )
            .as_bytes(),
            None,
        );
        // `kept` moves down the file: its finding persists; `old` is fixed; `fresh` is new.
        let a = load_bytes(
            Arc::from("a.yaml"),
            format!(
                "# moved\n\n{}---\n{}",
                spread.replace("NAME", "kept"),
                spread.replace("NAME", "fresh")
            )
            .as_bytes(),
            None,
        );
        let d = diff(b, a);
        // Other scan rules fire on these objects too; follow the spread rule's findings.
        let names = |fs: &[Finding]| {
            fs.iter()
                .filter(|f| f.rule == "workload.replicas-without-spread")
                .map(|f| f.object.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&d.new_findings), ["fresh"]);
        assert_eq!(names(&d.resolved_findings), ["old"]);
        assert!(
            d.new_findings
                .iter()
                .chain(&d.resolved_findings)
                .all(|f| f.object.name != "kept")
        );
        assert!(d.persisting_findings >= 1);
        assert_eq!(d.exit_code(Severity::High), 1, "a new high finding fails");
        assert_eq!(d.exit_code(Severity::Critical), 0);
    }

    #[test]
    fn resolved_findings_never_fail_and_errors_name_the_side() {
        let spread = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 3\n  template:\n    metadata: {labels: {app: a}}\n    spec: {containers: [{name: c, image: x}]}\n";
        let b = load_bytes(Arc::from("b.yaml"), spread.as_bytes(), None);
        let a = load_bytes(Arc::from("a.yaml"), b"kind: [unclosed\n", None);
        let d = diff(b, a);
        assert!(
            d.resolved_findings
                .iter()
                .any(|f| f.rule == "workload.replicas-without-spread")
        );
        assert_eq!(d.errors.len(), 1);
        assert!(
            d.errors[0]
                .to_string()
                .starts_with("after: a.yaml:2: invalid YAML"),
            "{}",
            d.errors[0]
        );
        assert_eq!(d.exit_code(Severity::Info), 2);
        let b = load_bytes(Arc::from("b.yaml"), spread.as_bytes(), None);
        let a = load_bytes(Arc::from("a.yaml"), b"", None);
        assert_eq!(diff(b, a).exit_code(Severity::Info), 0);
    }
}
