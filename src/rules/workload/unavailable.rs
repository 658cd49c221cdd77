//! `workload.unavailable`: workloads with fewer ready replicas than they want.

use crate::model::cluster;
use crate::node::Node;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "workload.unavailable",
        title: "Workload has unavailable replicas",
        severity: Severity::Medium,
        stories: &[Story::Moonlight, Story::Flant],
        needs: Needs::Cluster,
        rationale: "The controllers' own status says how many replicas are ready: a Deployment's \
            `readyReplicas` against `spec.replicas`, a StatefulSet's `readyReplicas`, a DaemonSet's \
            `numberReady` against `desiredNumberScheduled`. Missing replicas are lost capacity and \
            lost redundancy; none ready is an outage. Moonlight's site went down when the nodes \
            holding its replicas failed; Flant lost Redis data when replicas restarted together.",
        remediation: "Find why pods are not ready: `kubectl describe` the workload and its pods \
            (scheduling failures, crash loops, failing probes, image pulls) and the events. See \
            `events.warnings` and `memory.oom-killed` findings for the same objects.",
        example: r#"{"apiVersion": "apps/v1", "kind": "Deployment",
 "metadata": {"name": "api", "namespace": "web"},
 "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "api"}]}}},
 "status": {"replicas": 3, "readyReplicas": 1, "unavailableReplicas": 2}}
"#,
    },
    check,
};

fn int(node: &Node, path: &[&str]) -> Option<i64> {
    node.path(path).and_then(Node::as_i64)
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    for object in cx.index.objects {
        let root = &object.root;
        let Some(status) = root.get("status").filter(|s| !s.is_null()) else {
            continue;
        };
        let (wanted, ready, at) = match (object.group(), object.kind.as_str()) {
            ("apps", "Deployment" | "StatefulSet") => {
                // `spec.replicas` defaults to 1; a Deployment scaled to 0 wants nothing.
                let wanted = int(root, &["spec", "replicas"]).unwrap_or(1);
                (
                    wanted,
                    int(status, &["readyReplicas"]).unwrap_or(0),
                    root.path(&["spec", "replicas"]),
                )
            }
            ("apps", "DaemonSet") => (
                int(status, &["desiredNumberScheduled"]).unwrap_or(0),
                int(status, &["numberReady"]).unwrap_or(0),
                status.get("numberReady"),
            ),
            _ => continue,
        };
        // A ReplicaSet owned by a Deployment is judged through its Deployment.
        if wanted <= 0 || ready >= wanted || cluster::is_controlled(object) {
            continue;
        }
        let finding = out.report(
            object,
            None,
            at,
            if ready == 0 {
                format!(
                    "{} `{}` has no ready replica of {wanted}: it is down",
                    object.kind, object.name
                )
            } else {
                format!(
                    "{} `{}` has {ready} of {wanted} replicas ready ({} unavailable)",
                    object.kind,
                    object.name,
                    wanted - ready
                )
            },
        );
        if ready == 0 {
            finding.severity = Severity::High;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::live_fixtures::{daemonset, deployment, run};

    #[test]
    fn fires_on_partial_and_total_unavailability() {
        let f = run(
            &RULE,
            vec![
                deployment("web", "partial", 3, 1),
                deployment("web", "down", 2, 0),
                daemonset("logging", "fluent-bit", "fluent/fluent-bit:2.2", 5, 4),
            ],
        );
        assert_eq!(f.len(), 3, "{f:?}");
        let by = |n: &str| f.iter().find(|f| f.object.name == n).expect(n);
        assert_eq!(by("partial").severity, Severity::Medium);
        assert!(
            by("partial")
                .message
                .contains("1 of 3 replicas ready (2 unavailable)")
        );
        assert_eq!(by("down").severity, Severity::High);
        assert!(by("fluent-bit").message.contains("4 of 5"));
    }

    #[test]
    fn passes_when_ready_or_without_status() {
        assert!(
            run(
                &RULE,
                vec![
                    deployment("web", "ok", 3, 3),
                    daemonset("l", "d", "x", 2, 2)
                ]
            )
            .is_empty()
        );
        let manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 3\n  template: {spec: {containers: [{name: a}]}}\n";
        assert!(crate::rules::check(&RULE, manifest).is_empty());
    }
}
