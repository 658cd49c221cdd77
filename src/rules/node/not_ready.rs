//! `node.not-ready`: nodes whose Ready condition is not True.

use crate::model::cluster;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "node.not-ready",
        title: "Node is not Ready",
        severity: Severity::High,
        stories: &[Story::Moonlight, Story::Buffer],
        needs: Needs::Cluster,
        rationale: "A NotReady node runs nothing new and, after the eviction timeout (5 minutes by \
            default), loses its pods; replicas piled on it go down together. At Moonlight, a node \
            saturated by co-located replicas kernel-panicked and went NotReady, taking the website \
            down; Buffer saw kubelets go NotReady when pods without limits starved them. Every \
            postmortem starts from which nodes were healthy.",
        remediation: "Look at the condition's reason and message and the node's events \
            (`kubectl describe node`): kubelet stopped posting status (node down, network), memory or \
            disk pressure, runtime failure. Cordon and drain it, or replace it; check that the \
            workloads it ran kept replicas elsewhere.",
        example: r#"{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
 "status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
  "message": "Kubelet stopped posting node status."}]}}
"#,
    },
    check,
};

fn check(cx: &Context<'_>, out: &mut Sink) {
    for node in cx.index.of_kind("Node").filter(|n| n.group().is_empty()) {
        let Some(ready) = cluster::condition(node, "Ready") else {
            continue;
        };
        let status = ready.str_at(&["status"]).unwrap_or("Unknown");
        if status == "True" {
            continue;
        }
        let reason = ready.str_at(&["reason"]).unwrap_or("no reason given");
        let message = ready
            .str_at(&["message"])
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let cordoned = node
            .root
            .path(&["spec", "unschedulable"])
            .and_then(|u| u.as_bool())
            == Some(true);
        out.report(
            node,
            None,
            Some(ready),
            format!(
                "node `{}` is not Ready (Ready={status}, {reason}{message}){}",
                node.name,
                if cordoned { "; it is cordoned" } else { "" }
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::live_fixtures::{node, run};

    #[test]
    fn fires_on_not_ready_only() {
        let f = run(
            &RULE,
            vec![
                node("up", "6.1.0", "Bottlerocket", true, "4", "a"),
                node("down", "6.1.0", "Bottlerocket", false, "4", "a"),
            ],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].object.name, "down");
        assert!(
            f[0].message.contains("Ready=Unknown, NodeStatusUnknown"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn passes_without_conditions() {
        assert!(
            crate::rules::check(&RULE, "apiVersion: v1\nkind: Node\nmetadata: {name: n}\n")
                .is_empty()
        );
    }
}
