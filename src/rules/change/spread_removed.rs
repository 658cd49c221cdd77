//! `change.spread-removed`: anti-affinity or topology spread weakened on a replicated workload.

use crate::rules::change::{ChangeRule, DiffContext, DiffSink, ValueChange};
use crate::rules::workload::replicas_without_spread::{Spread, spread_of};
use crate::rules::{Meta, Needs, Severity};
use crate::stories::Story;

pub static RULE: ChangeRule = ChangeRule {
    meta: Meta {
        id: "change.spread-removed",
        title: "Pod anti-affinity or topology spread removed or weakened on a replicated workload",
        severity: Severity::High,
        stories: &[Story::Moonlight],
        needs: Needs::Diff,
        rationale: "Anti-affinity and topology spread are what keep replicas on different nodes; \
            the scheduler's built-in spreading is only a score that loses to resource fit. At \
            Moonlight the scheduler kept piling busy replicas onto the same saturated nodes until \
            a node kernel-panicked and took several replicas down at once; adding pod anti-affinity \
            fixed it. A change that drops the guard, or turns `required` into `preferred` (or \
            `DoNotSchedule` into `ScheduleAnyway`), brings that failure back quietly: nothing moves \
            until the next rollout or node drain, and then replicas can land together. High when \
            all spreading goes; medium when hard spreading becomes a preference or a preference goes.",
        remediation: "Keep a `topologySpreadConstraints` entry on `kubernetes.io/hostname` with \
            `whenUnsatisfiable: DoNotSchedule` and a `labelSelector` matching the pod labels (or a \
            required anti-affinity term). If pods went Pending because there were fewer nodes than \
            replicas, prefer `minDomains` or more nodes over dropping the constraint.",
        example: r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: api}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: api}}}
      containers: [{name: api, image: example/api:1}]
# ---- after ----
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: example/api:1}]
"#,
    },
    check,
};

fn describe(s: Spread) -> &'static str {
    match s {
        Spread::Hard => "required (anti-affinity or DoNotSchedule)",
        Spread::Soft => "preferred only (or ScheduleAnyway)",
        Spread::None => "none",
    }
}

fn check(cx: &DiffContext<'_>, out: &mut DiffSink) {
    for (b, a) in cx.changed_workloads() {
        if !a.is_replicated_kind() {
            continue;
        }
        let replicas = cx.after.index.replicas(a).0;
        if replicas < 2 {
            continue;
        }
        let (sb, sa) = (spread_of(b), spread_of(a));
        if sa >= sb {
            continue;
        }
        let severity = if sa == Spread::None && sb == Spread::Hard {
            Severity::High
        } else {
            Severity::Medium
        };
        let values = vec![
            ValueChange::text(
                "spreading",
                Some(describe(sb).to_owned()),
                Some(describe(sa).to_owned()),
            ),
            ValueChange::new(
                "spec.template.spec.affinity.podAntiAffinity",
                b.pod_spec.path(&["affinity", "podAntiAffinity"]),
                a.pod_spec.path(&["affinity", "podAntiAffinity"]),
            ),
            ValueChange::new(
                "spec.template.spec.topologySpreadConstraints",
                b.pod_spec.get("topologySpreadConstraints"),
                a.pod_spec.get("topologySpreadConstraints"),
            ),
        ]
        .into_iter()
        .filter(|v| v.before != v.after)
        .collect();
        out.report(
            a.object,
            None,
            Some(a.pod_spec),
            format!(
                "spreading of the {replicas} replicas of `{}` goes from {} to {}: replicas can \
                 share one node again",
                a.object.name,
                describe(sb),
                describe(sa)
            ),
            values,
        )
        .severity = severity;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::change::check as run;

    fn deploy(replicas: i64, spread: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api}}\nspec:\n  replicas: {replicas}\n  template:\n    metadata: {{labels: {{app: api}}}}\n    spec:\n{spread}      containers: [{{name: a, image: x}}]\n"
        )
    }

    const REQUIRED: &str = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - topologyKey: kubernetes.io/hostname\n            labelSelector: {matchLabels: {app: api}}\n";
    const PREFERRED: &str = "      affinity:\n        podAntiAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution:\n          - weight: 100\n            podAffinityTerm:\n              topologyKey: kubernetes.io/hostname\n              labelSelector: {matchLabels: {app: api}}\n";

    fn severities(b: &str, a: &str) -> Vec<Severity> {
        run(&RULE, b, a)
            .into_iter()
            .map(|r| r.finding.severity)
            .collect()
    }

    #[test]
    fn fires_when_spreading_goes_or_softens() {
        assert_eq!(
            severities(&deploy(3, REQUIRED), &deploy(3, "")),
            [Severity::High]
        );
        assert_eq!(
            severities(&deploy(3, REQUIRED), &deploy(3, PREFERRED)),
            [Severity::Medium]
        );
        assert_eq!(
            severities(&deploy(2, PREFERRED), &deploy(2, "")),
            [Severity::Medium]
        );
        let r = run(&RULE, &deploy(3, REQUIRED), &deploy(3, PREFERRED));
        assert!(
            r[0].changes
                .iter()
                .any(|v| v.field.ends_with("podAntiAffinity"))
        );
    }

    #[test]
    fn passes_on_near_misses() {
        // Scaled to one replica while dropping the guard: nothing left to spread.
        assert!(severities(&deploy(3, REQUIRED), &deploy(1, "")).is_empty());
        // Made stronger.
        assert!(severities(&deploy(3, PREFERRED), &deploy(3, REQUIRED)).is_empty());
        // Other edits with the guard kept.
        assert!(severities(&deploy(3, REQUIRED), &deploy(5, REQUIRED)).is_empty());
    }
}
