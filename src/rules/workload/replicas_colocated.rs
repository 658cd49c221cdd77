//! `workload.replicas-colocated`: ready replicas that actually sit together on one node or zone.

use std::collections::{BTreeMap, BTreeSet};

use crate::load::Object;
use crate::model::cluster::{self, Owners};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "workload.replicas-colocated",
        title: "Ready replicas sit together on one node or one zone",
        severity: Severity::High,
        stories: &[Story::Moonlight],
        needs: Needs::Cluster,
        rationale: "What the scheduler did, not what was asked: replicas follow Pod → ReplicaSet → \
            Deployment ownership and are counted per `spec.nodeName` and per node zone label. When \
            all or most ready replicas of a workload share a node, that node's failure is the \
            workload's outage. At Moonlight, GKE piled busy replicas onto the same nodes despite soft \
            preferences; one node at 100% CPU kernel-panicked and took them down together. Zones are \
            only judged when the cluster's nodes span more than one zone.",
        remediation: "Add a `topologySpreadConstraints` entry on `kubernetes.io/hostname` (and on \
            `topology.kubernetes.io/zone`) with `whenUnsatisfiable: DoNotSchedule` and a selector \
            matching the pods, then restart the rollout (`kubectl rollout restart`) so the pods are \
            placed again; the descheduler can rebalance later drift.",
        example: r#"{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}},
 {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "shop"},
  "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web"}]}}}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "namespace": "shop",
   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]},
  "spec": {"nodeName": "node-1", "containers": [{"name": "web"}]},
  "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop",
   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]},
  "spec": {"nodeName": "node-1", "containers": [{"name": "web"}]},
  "status": {"conditions": [{"type": "Ready", "status": "True"}]}}]}
"#,
    },
    check,
};

/// Owners whose replicas are meant to be interchangeable copies.
const REPLICATED: [&str; 4] = [
    "Deployment",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
];

#[derive(Default)]
struct Placement<'a> {
    object: Option<&'a Object>,
    per_node: BTreeMap<String, usize>,
    per_zone: BTreeMap<String, usize>,
    ready: usize,
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    let nodes = cluster::nodes_by_name(&cx.index);
    let zones: BTreeSet<&str> = nodes.values().filter_map(|n| cluster::zone_of(n)).collect();
    let owners = Owners::new(&cx.index);
    let mut workloads: BTreeMap<(String, String, String), Placement<'_>> = BTreeMap::new();
    for placed in cluster::ready_placements(&cx.index, &owners) {
        let (pod, node, (kind, name, object)) = (placed.pod, placed.node, placed.owner);
        if !REPLICATED.contains(&kind.as_str()) {
            continue;
        }
        let p = workloads
            .entry((kind, pod.namespace_or_default().to_owned(), name))
            .or_default();
        p.object = p.object.or(object).or(Some(pod));
        p.ready += 1;
        *p.per_node.entry(node.to_owned()).or_default() += 1;
        if let Some(zone) = nodes.get(node).and_then(|n| cluster::zone_of(n)) {
            *p.per_zone.entry(zone.to_owned()).or_default() += 1;
        }
    }
    for ((kind, _, name), p) in &workloads {
        let Some(object) = p.object else { continue };
        if p.ready < 2 {
            continue;
        }
        let (node, on_node) = busiest(&p.per_node);
        let what = format!("{kind} `{name}`");
        if on_node == p.ready {
            out.report(
                object,
                None,
                None,
                format!(
                    "all {} ready replicas of {what} run on node `{node}`: one node failure takes them all down",
                    p.ready
                ),
            );
        } else if on_node * 2 > p.ready {
            out.report(
                object,
                None,
                None,
                format!(
                    "{on_node} of {} ready replicas of {what} run on node `{node}`: its failure takes most of them down",
                    p.ready
                ),
            )
            .severity = Severity::Medium;
        } else if zones.len() > 1 {
            let (zone, in_zone) = busiest(&p.per_zone);
            let counted: usize = p.per_zone.values().sum();
            if counted == p.ready && in_zone * 2 > p.ready {
                let share = if in_zone == p.ready {
                    "all".to_owned()
                } else {
                    format!("{in_zone} of")
                };
                out.report(
                    object,
                    None,
                    None,
                    format!(
                        "{share} {} ready replicas of {what} run in zone `{zone}` while the cluster spans {} zones",
                        p.ready,
                        zones.len()
                    ),
                )
                .severity = Severity::Medium;
            }
        }
    }
}

/// The key with the highest count (first by name on ties).
fn busiest(counts: &BTreeMap<String, usize>) -> (&str, usize) {
    counts.iter().fold(
        ("", 0),
        |best, (k, &v)| if v > best.1 { (k.as_str(), v) } else { best },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::live_fixtures::{C, deployment, node, pod, replicaset, run};

    const K: &str = "6.1.0";

    fn api_pod(name: &str, node: &str, ready: bool) -> serde_json::Value {
        pod(
            "web",
            name,
            node,
            Some(("ReplicaSet", "api-5d8f7c9b6")),
            &[C("api", "example/api:1.0", None)],
            ready,
        )
    }

    fn base() -> Vec<serde_json::Value> {
        vec![
            node("n1", K, "Bottlerocket", true, "4", "eu-west-1a"),
            node("n2", K, "Bottlerocket", true, "4", "eu-west-1a"),
            node("n3", K, "Bottlerocket", true, "4", "eu-west-1b"),
            deployment("web", "api", 3, 3),
            replicaset("web", "api-5d8f7c9b6", "api", 3),
        ]
    }

    #[test]
    fn all_on_one_node_is_high_and_names_the_deployment() {
        let mut items = base();
        items.extend([
            api_pod("a", "n1", true),
            api_pod("b", "n1", true),
            api_pod("c", "n1", true),
        ]);
        let f = run(&RULE, items);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].object.kind.as_str(), f[0].object.name.as_str()),
            ("Deployment", "api")
        );
        assert_eq!(f[0].severity, Severity::High);
        assert!(
            f[0].message
                .contains("all 3 ready replicas of Deployment `api` run on node `n1`"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn majority_on_one_node_or_zone_is_medium() {
        let mut items = base();
        items.extend([
            api_pod("a", "n1", true),
            api_pod("b", "n1", true),
            api_pod("c", "n3", true),
        ]);
        let f = run(&RULE, items);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].message.starts_with("2 of 3 ready replicas"));
        let mut items = base();
        items.extend([api_pod("a", "n1", true), api_pod("b", "n2", true)]);
        let f = run(&RULE, items);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message
                .contains("all 2 ready replicas of Deployment `api` run in zone `eu-west-1a`"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn passes_when_spread_or_not_ready() {
        let mut items = base();
        items.extend([api_pod("a", "n1", true), api_pod("b", "n3", true)]);
        assert!(run(&RULE, items).is_empty());
        // Only one ready replica: nothing to co-locate.
        let mut items = base();
        items.extend([api_pod("a", "n1", true), api_pod("b", "n1", false)]);
        assert!(run(&RULE, items).is_empty());
    }
}
