//! Change rules: conditions only a diff can see (a value that went down, a guard that went
//! away), run by `hindsight diff` over the objects matched between two sides.
//!
//! Invariants: like scan rules, change rules do no IO and never format output; they share
//! [`Meta`] with scan rules (with `needs: Needs::Diff`) so `rules`, `explain` and the README
//! table list them. A change rule reports on the *after* object when it exists (the line a
//! pull request reviewer can comment on), else on the *before* object, and attaches the
//! before → after values it compared as [`ValueChange`]s for the reports.
//!
//! `example` of a change rule holds both sides: the before manifests, a line
//! [`EXAMPLE_SEPARATOR`], then the after manifests (tested: the example fires its rule).

use serde::Serialize;
use std::collections::HashMap;

use crate::load::Object;
use crate::model::Workload;
use crate::node::{Node, Value};
use crate::rules::{Context, Finding, Meta, Sink};

pub mod cpu_limits_removed;
pub mod disruption_budget_removed;
pub mod external_snat_flipped;
pub mod log_position_removed;
pub mod made_public;
pub mod readiness_weakened;
pub mod spread_removed;
pub mod stateful_scale_with_memory_cut;

/// Separates the before and after sides in a change rule's `example`.
pub const EXAMPLE_SEPARATOR: &str = "# ---- after ----";

/// A change rule: metadata plus a check over both sides.
pub struct ChangeRule {
    pub meta: Meta,
    pub check: fn(&DiffContext<'_>, &mut DiffSink),
}

/// The change registry, sorted by id.
pub static ALL: &[&ChangeRule] = &[
    &cpu_limits_removed::RULE,
    &disruption_budget_removed::RULE,
    &external_snat_flipped::RULE,
    &log_position_removed::RULE,
    &made_public::RULE,
    &readiness_weakened::RULE,
    &spread_removed::RULE,
    &stateful_scale_with_memory_cut::RULE,
];

/// Looks a change rule up by id.
pub fn find(id: &str) -> Option<&'static ChangeRule> {
    ALL.iter().copied().find(|r| r.meta.id == id)
}

/// What identifies an object across the two sides: API group, kind, namespace (unset is
/// `default`, as `kubectl apply` without `-n` would place it) and name. The API version is
/// left out on purpose: `apps/v1beta2` → `apps/v1` is the same object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn of(object: &Object) -> ObjectKey {
        ObjectKey {
            group: object.group().to_owned(),
            kind: object.kind.clone(),
            namespace: object.namespace_or_default().to_owned(),
            name: object.name.clone(),
        }
    }
}

/// One object that differs between the sides: indices into each side's objects.
#[derive(Debug, Clone)]
pub struct ObjectChange {
    pub key: ObjectKey,
    pub before: Option<usize>,
    pub after: Option<usize>,
    /// Paths of the fields that differ (changed objects only; capped).
    pub fields: Vec<String>,
}

/// What change rules see: both sides indexed, and the objects that differ.
pub struct DiffContext<'a> {
    pub before: Context<'a>,
    pub after: Context<'a>,
    pub changes: &'a [ObjectChange],
    /// Object index → workload index, per side.
    before_workloads: HashMap<usize, usize>,
    after_workloads: HashMap<usize, usize>,
}

impl<'a> DiffContext<'a> {
    pub fn new(before: Context<'a>, after: Context<'a>, changes: &'a [ObjectChange]) -> Self {
        let map = |cx: &Context<'_>| {
            cx.index
                .workloads
                .iter()
                .enumerate()
                .map(|(wi, w)| (w.index, wi))
                .collect::<HashMap<usize, usize>>()
        };
        DiffContext {
            before_workloads: map(&before),
            after_workloads: map(&after),
            before,
            after,
            changes,
        }
    }

    /// Objects present on both sides that differ: (before, after).
    pub fn changed(&self) -> impl Iterator<Item = (&'a Object, &'a Object)> + '_ {
        self.changes.iter().filter_map(|c| {
            Some((
                &self.before.index.objects[c.before?],
                &self.after.index.objects[c.after?],
            ))
        })
    }

    /// Objects only on the before side.
    pub fn removed(&self) -> impl Iterator<Item = &'a Object> + '_ {
        self.changes
            .iter()
            .filter(|c| c.after.is_none())
            .filter_map(|c| Some(&self.before.index.objects[c.before?]))
    }

    /// Workloads present on both sides that differ: (before, after).
    pub fn changed_workloads(&self) -> impl Iterator<Item = (&Workload<'a>, &Workload<'a>)> + '_ {
        self.changes.iter().filter_map(|c| {
            let b = self.before_workloads.get(&c.before?)?;
            let a = self.after_workloads.get(&c.after?)?;
            Some((
                &self.before.index.workloads[*b],
                &self.after.index.workloads[*a],
            ))
        })
    }

    /// The after side's workload with the same identity as a before-side object, if any.
    pub fn after_workload_of(&self, before: &Object) -> Option<&Workload<'a>> {
        let key = ObjectKey::of(before);
        // Changed or removed objects are in `changes`; unchanged ones are found by key.
        if let Some(c) = self.changes.iter().find(|c| c.key == key) {
            return self
                .after_workloads
                .get(&c.after?)
                .map(|&i| &self.after.index.workloads[i]);
        }
        self.after
            .index
            .workloads
            .iter()
            .find(|w| ObjectKey::of(w.object) == key)
    }
}

/// A value a change rule compared: the field and its text on each side (`None` = absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl ValueChange {
    pub fn new(field: impl Into<String>, before: Option<&Node>, after: Option<&Node>) -> Self {
        ValueChange {
            field: field.into(),
            before: before.and_then(show),
            after: after.and_then(show),
        }
    }

    pub fn text(field: impl Into<String>, before: Option<String>, after: Option<String>) -> Self {
        ValueChange {
            field: field.into(),
            before,
            after,
        }
    }
}

/// A value as short text: scalars as written, collections as compact JSON. Null is absent.
pub fn show(node: &Node) -> Option<String> {
    match &node.value {
        Value::Null => None,
        Value::Seq(_) | Value::Map(_) => Some(node.to_json().to_string()),
        _ => node.scalar_text(),
    }
}

/// A change risk: a finding plus the values behind it.
#[derive(Debug, Clone, Serialize)]
pub struct Risk {
    #[serde(flatten)]
    pub finding: Finding,
    pub changes: Vec<ValueChange>,
}

/// Collects one change rule's risks.
pub struct DiffSink {
    sink: Sink,
    values: Vec<Vec<ValueChange>>,
}

impl DiffSink {
    pub fn new(meta: &'static Meta) -> Self {
        DiffSink {
            sink: Sink::new(meta),
            values: Vec::new(),
        }
    }

    /// Reports a risk on `object`, pointing at `at` when given, with the values compared.
    /// Returns the finding so the rule can adjust severity.
    pub fn report(
        &mut self,
        object: &Object,
        container: Option<&str>,
        at: Option<&Node>,
        message: impl Into<String>,
        values: Vec<ValueChange>,
    ) -> &mut Finding {
        self.values.push(values);
        self.sink.report(object, container, at, message)
    }

    pub fn into_risks(self) -> Vec<Risk> {
        self.sink
            .findings
            .into_iter()
            .zip(self.values)
            .map(|(finding, changes)| Risk { finding, changes })
            .collect()
    }
}

/// Runs every change rule; a rule that panics becomes an error message, not a crash.
pub fn run(cx: &DiffContext<'_>) -> (Vec<Risk>, Vec<String>) {
    use rayon::prelude::*;
    let results: Vec<Result<Vec<Risk>, String>> = ALL
        .par_iter()
        .map(|rule| {
            let mut sink = DiffSink::new(&rule.meta);
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (rule.check)(cx, &mut sink)))
                .map(|()| sink.into_risks())
                .map_err(|_| {
                    format!(
                        "internal error: change rule `{}` panicked; its findings are missing (please report this)",
                        rule.meta.id
                    )
                })
        })
        .collect();
    let mut risks = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(found) => risks.extend(found),
            Err(e) => errors.push(e),
        }
    }
    // Most severe first, then by place.
    risks.sort_by(|a, b| {
        (
            std::cmp::Reverse(a.finding.severity),
            &a.finding.location,
            a.finding.rule,
            &a.finding.object,
        )
            .cmp(&(
                std::cmp::Reverse(b.finding.severity),
                &b.finding.location,
                b.finding.rule,
                &b.finding.object,
            ))
    });
    (risks, errors)
}

/// The replica count before and after, as the cluster would run it (HPA `minReplicas` included).
pub fn replicas(cx: &DiffContext<'_>, before: &Workload<'_>, after: &Workload<'_>) -> (i64, i64) {
    (
        cx.before.index.replicas(before).0,
        cx.after.index.replicas(after).0,
    )
}

/// Test support: runs one change rule over a before and an after manifest text.
#[cfg(test)]
pub(crate) fn check(rule: &'static ChangeRule, before: &str, after: &str) -> Vec<Risk> {
    let b = crate::load::load_bytes(std::sync::Arc::from("before.yaml"), before.as_bytes(), None);
    let a = crate::load::load_bytes(std::sync::Arc::from("after.yaml"), after.as_bytes(), None);
    assert!(b.errors.is_empty() && a.errors.is_empty(), "fixture errors");
    let changes = crate::diff::pair(&b.objects, &a.objects).changes;
    let cx = DiffContext::new(Context::new(&b.objects), Context::new(&a.objects), &changes);
    let mut sink = DiffSink::new(&rule.meta);
    (rule.check)(&cx, &mut sink);
    sink.into_risks()
}

/// Test support: splits a change rule's example into (before, after).
#[cfg(test)]
pub(crate) fn example_sides(rule: &ChangeRule) -> (&'static str, &'static str) {
    let text: &'static str = rule.meta.example;
    let at = text
        .find(EXAMPLE_SEPARATOR)
        .unwrap_or_else(|| panic!("{} example lacks the separator", rule.meta.id));
    (&text[..at], &text[at + EXAMPLE_SEPARATOR.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Needs;

    #[test]
    fn ids_sorted_files_match_and_examples_fire() {
        let ids: Vec<&str> = ALL.iter().map(|r| r.meta.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "ALL must be sorted by id with no duplicates");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules/change");
        for rule in ALL {
            let m = &rule.meta;
            let name = m.id.strip_prefix("change.").expect("change.* id");
            assert!(
                root.join(format!("{}.rs", name.replace('-', "_"))).exists(),
                "{} file",
                m.id
            );
            assert_eq!(m.needs, Needs::Diff, "{}", m.id);
            assert!(!m.stories.is_empty() && !m.rationale.is_empty() && !m.remediation.is_empty());
            assert!(
                crate::rules::find(m.id).is_none(),
                "{} clashes with a scan rule",
                m.id
            );
            let (before, after) = example_sides(rule);
            let risks = check(rule, before, after);
            assert!(
                risks.iter().any(|r| r.finding.rule == m.id),
                "the example of {} does not fire it",
                m.id
            );
            // The example's before side alone is no change at all.
            assert!(check(rule, before, before).is_empty(), "{}", m.id);
        }
    }
}
