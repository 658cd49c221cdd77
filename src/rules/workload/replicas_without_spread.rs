//! `workload.replicas-without-spread`: replicas that nothing keeps apart.

use crate::model::{Selector, Workload};
use crate::node::Node;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "workload.replicas-without-spread",
        title: "Replicas with no pod anti-affinity or topology spread",
        severity: Severity::High,
        stories: &[Story::Moonlight],
        needs: Needs::Manifests,
        rationale: "The scheduler places pods by requests and score, not by what keeps a service alive: \
            nothing stops it from putting every replica of a workload on the same node. The built-in \
            default spreading is soft (it only adds score, tolerates a skew of 3 per node) and loses to \
            resource scoring. At Moonlight, GKE kept piling busy replicas onto nodes at 100% CPU until a \
            node kernel-panicked and took several replicas down at once; pod anti-affinity fixed it. \
            A term only spreads the workload if its label selector matches the workload's own pod labels \
            and its topology key is a node or zone label. Only `preferred` anti-affinity or \
            `whenUnsatisfiable: ScheduleAnyway` is reported at lower severity: it is a wish, not a guarantee.",
        remediation: "Add a `topologySpreadConstraints` entry on `kubernetes.io/hostname` (and \
            `topology.kubernetes.io/zone` for zone failures) whose `labelSelector` matches the pod \
            labels, with `whenUnsatisfiable: DoNotSchedule`, or a required pod anti-affinity term on \
            `kubernetes.io/hostname`. Prefer spread constraints: required anti-affinity leaves pods \
            Pending when there are fewer nodes than replicas.",
        example: r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 3
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: example/api:1.0
"#,
    },
    check,
};

/// Topology keys that separate failure domains: a node, a zone, a region.
const SPREAD_KEYS: [&str; 5] = [
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
];

/// How well a pod template keeps its replicas apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Spread {
    None,
    /// Only preferred anti-affinity or `ScheduleAnyway` constraints.
    Soft,
    /// Required anti-affinity or a `DoNotSchedule` constraint.
    Hard,
}

/// The strongest spreading that applies to the workload's own pods.
pub fn spread_of(workload: &Workload<'_>) -> Spread {
    let spec = workload.pod_spec;
    let labels = workload.pod_labels();
    let selects_own = |term: &Node| {
        term.get("labelSelector")
            .and_then(Selector::from_label_selector)
            .is_some_and(|s| !s.is_empty() && s.matches(labels))
    };
    let spreading_key = |term: &Node| {
        term.str_at(&["topologyKey"])
            .is_some_and(|k| SPREAD_KEYS.contains(&k))
    };
    let mut best = Spread::None;
    for c in spec.seq_at("topologySpreadConstraints") {
        let positive_skew = c
            .get("maxSkew")
            .and_then(Node::as_i64)
            .is_some_and(|s| s > 0);
        if spreading_key(c) && selects_own(c) && positive_skew {
            let hard =
                c.str_at(&["whenUnsatisfiable"]).unwrap_or("DoNotSchedule") == "DoNotSchedule";
            best = best.max(if hard { Spread::Hard } else { Spread::Soft });
        }
    }
    let anti = spec.path(&["affinity", "podAntiAffinity"]);
    let anti = anti.unwrap_or(Node::null());
    for term in anti.seq_at("requiredDuringSchedulingIgnoredDuringExecution") {
        if spreading_key(term) && selects_own(term) {
            best = best.max(Spread::Hard);
        }
    }
    for weighted in anti.seq_at("preferredDuringSchedulingIgnoredDuringExecution") {
        if let Some(term) = weighted.get("podAffinityTerm")
            && spreading_key(term)
            && selects_own(term)
        {
            best = best.max(Spread::Soft);
        }
    }
    best
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    for w in &cx.index.workloads {
        // On live state a ReplicaSet owned by a Deployment is judged through its Deployment.
        if !w.is_replicated_kind() || crate::model::cluster::is_controlled(w.object) {
            continue;
        }
        let (replicas, source) = cx.index.replicas(w);
        if replicas < 2 {
            continue;
        }
        let from = source.note();
        let at = w.object.spec().get("replicas").or(Some(w.pod_spec));
        match spread_of(w) {
            Spread::Hard => {}
            Spread::Soft => {
                out.report(
                    w.object,
                    None,
                    at,
                    format!(
                        "{replicas} replicas{from} of `{}` are kept apart only by preferences \
                         (preferred anti-affinity or `ScheduleAnyway`): the scheduler may still put them on one node",
                        w.object.name
                    ),
                )
                .severity = Severity::Low;
            }
            Spread::None => {
                out.report(
                    w.object,
                    None,
                    at,
                    format!(
                        "{replicas} replicas{from} of `{}` can all land on one node: no pod anti-affinity or \
                         topology spread on hostname or zone that selects its pods",
                        w.object.name
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check as run;

    const HEAD: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n";

    fn fires(spec: &str) -> Vec<Severity> {
        run(&RULE, &format!("{HEAD}{spec}"))
            .into_iter()
            .map(|f| f.severity)
            .collect()
    }

    #[test]
    fn fires_without_spread() {
        assert_eq!(
            fires(&RULE.meta.example[RULE.meta.example.find("  replicas").unwrap()..]),
            [Severity::High]
        );
    }

    #[test]
    fn fires_when_the_selector_does_not_match_own_pods() {
        let spec = "  replicas: 2\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - topologyKey: kubernetes.io/hostname\n            labelSelector: {matchLabels: {app: other}}\n      containers: [{name: a}]\n";
        assert_eq!(fires(spec), [Severity::High]);
    }

    #[test]
    fn soft_spread_is_low() {
        let spec = "  replicas: 2\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      affinity:\n        podAntiAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution:\n          - weight: 100\n            podAffinityTerm:\n              topologyKey: kubernetes.io/hostname\n              labelSelector: {matchLabels: {app: api}}\n      containers: [{name: a}]\n";
        assert_eq!(fires(spec), [Severity::Low]);
    }

    #[test]
    fn passes_with_required_anti_affinity_or_spread() {
        let anti = "  replicas: 3\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - topologyKey: kubernetes.io/hostname\n            labelSelector: {matchExpressions: [{key: app, operator: In, values: [api]}]}\n      containers: [{name: a}]\n";
        assert!(fires(anti).is_empty());
        let tsc = "  replicas: 3\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      topologySpreadConstraints:\n      - maxSkew: 1\n        topologyKey: topology.kubernetes.io/zone\n        whenUnsatisfiable: DoNotSchedule\n        labelSelector: {matchLabels: {app: api}}\n      containers: [{name: a}]\n";
        assert!(fires(tsc).is_empty());
    }

    #[test]
    fn passes_with_one_replica_or_unset() {
        assert!(fires("  replicas: 1\n  template: {spec: {containers: [{name: a}]}}\n").is_empty());
        assert!(fires("  template: {spec: {containers: [{name: a}]}}\n").is_empty());
    }

    #[test]
    fn hpa_min_replicas_counts() {
        let y = format!(
            "{HEAD}  template: {{spec: {{containers: [{{name: a}}]}}}}\n---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: api}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: api}}\n  minReplicas: 2\n  maxReplicas: 5\n"
        );
        let f = run(&RULE, &y);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("HPA"));
    }
}
