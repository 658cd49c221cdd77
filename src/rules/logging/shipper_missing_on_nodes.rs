//! `logging.shipper-missing-on-nodes`: a log-shipper DaemonSet not ready on every node it
//! should run on.

use std::collections::BTreeSet;

use crate::load::Object;
use crate::model::{Selector, cluster, containers};
use crate::node::Node;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "logging.shipper-missing-on-nodes",
        title: "Log shipper is not running on every node",
        severity: Severity::High,
        stories: &[Story::PrometheusKube],
        needs: Needs::Cluster,
        rationale: "A log shipper runs as a DaemonSet because every node's logs need one. A node \
            without a ready shipper pod produces logs nobody collects, and nothing alerts: the \
            dashboards simply show less. In PrometheusKube's outage fluent-bit stopped shipping and \
            the logs needed to debug the incident were gone. The nodes are found from the shipper's \
            own pods (ready, per `spec.nodeName`) against the nodes its nodeSelector and tolerations \
            admit; when pods could not be read, the DaemonSet's desired and ready counts are used.",
        remediation: "Look at the named nodes: `kubectl get pods -o wide` for the DaemonSet, then \
            describe the missing or unready pod (resources, taints not tolerated, image pulls, crash \
            loops). Alert on `kube_daemonset_status_number_ready < \
            kube_daemonset_status_desired_number_scheduled`.",
        example: r#"{"apiVersion": "apps/v1", "kind": "DaemonSet",
 "metadata": {"name": "fluent-bit", "namespace": "logging"},
 "spec": {"template": {"spec": {"containers": [{"name": "fluent-bit", "image": "fluent/fluent-bit:2.2.0"}]}}},
 "status": {"desiredNumberScheduled": 3, "numberReady": 2, "currentNumberScheduled": 3}}
"#,
    },
    check,
};

/// Image name fragments of log shippers (stories.md, prometheuskube (b)).
const SHIPPERS: [&str; 20] = [
    "fluent-bit",
    "fluentbit",
    "fluentd",
    "timberio/vector",
    "grafana/promtail",
    "grafana/alloy",
    "grafana/agent",
    "beats/filebeat",
    "beats/elastic-agent",
    "datadoghq/agent",
    "datadog/agent",
    "opentelemetry-collector",
    "splunk-otel-collector",
    "syslog-ng",
    "rsyslog",
    "containerinsights/ciprod",
    "aws-for-fluent-bit",
    "kube-logging/fluentd",
    "fluentd-elasticsearch",
    "fluentd-kubernetes-daemonset",
];

/// The shipper image of a DaemonSet, if any of its containers is one.
pub fn shipper_image(ds: &Object) -> Option<&str> {
    let (_, spec) = crate::model::pod_template(ds)?;
    containers(spec)
        .map(|c| c.image())
        .find(|image| SHIPPERS.iter().any(|s| image.contains(s)))
}

/// Whether a pod spec tolerates a taint (roughly as the scheduler does).
fn tolerates(spec: &Node, taint: &Node) -> bool {
    let key = taint.str_at(&["key"]).unwrap_or("");
    let value = taint.str_at(&["value"]).unwrap_or("");
    let effect = taint.str_at(&["effect"]).unwrap_or("");
    spec.seq_at("tolerations").iter().any(|t| {
        let t_key = t.str_at(&["key"]).unwrap_or("");
        let exists = t.str_at(&["operator"]) == Some("Exists");
        let key_ok = (t_key.is_empty() && exists) || t_key == key;
        let value_ok = exists || t.str_at(&["value"]).unwrap_or("") == value;
        let t_effect = t.str_at(&["effect"]).unwrap_or("");
        key_ok && value_ok && (t_effect.is_empty() || t_effect == effect)
    })
}

/// Whether the DaemonSet should have a pod on this node: nodeSelector and NoSchedule /
/// NoExecute taints. (Node affinity is not evaluated: such DaemonSets are judged on all nodes
/// their selector admits, which errs towards naming a node.)
fn should_run(spec: &Node, node: &Object) -> bool {
    let selected = spec
        .get("nodeSelector")
        .map_or(&[][..], Node::as_map)
        .iter()
        .all(|(k, v)| node.labels().get(k).and_then(Node::as_str) == v.as_str());
    let tolerated = node
        .root
        .path(&["spec", "taints"])
        .map_or(&[][..], Node::as_seq)
        .iter()
        .filter(|t| matches!(t.str_at(&["effect"]), Some("NoSchedule" | "NoExecute")))
        .all(|t| tolerates(spec, t));
    selected && tolerated
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    let nodes: Vec<&Object> = cx
        .index
        .of_kind("Node")
        .filter(|n| n.group().is_empty())
        .collect();
    let pods_listed = cx.index.of_kind("Pod").next().is_some();
    for ds in cx
        .index
        .of_kind("DaemonSet")
        .filter(|d| d.group() == "apps")
    {
        let Some(image) = shipper_image(ds) else {
            continue;
        };
        let Some((_, spec)) = crate::model::pod_template(ds) else {
            continue;
        };
        let status = ds.root.get("status").unwrap_or(Node::null());
        let int = |k: &str| status.get(k).and_then(Node::as_i64);
        if !nodes.is_empty() && pods_listed {
            let ns = ds.namespace_or_default();
            let selector = ds
                .root
                .path(&["spec", "selector"])
                .and_then(Selector::from_label_selector);
            let ready_on: BTreeSet<&str> = cx
                .index
                .of_kind("Pod")
                .filter(|p| p.namespace_or_default() == ns)
                .filter(|p| match cluster::controller_of(p) {
                    Some((kind, name)) => kind == "DaemonSet" && name == ds.name,
                    None => selector
                        .as_ref()
                        .is_some_and(|s| !s.is_empty() && s.matches(p.labels())),
                })
                .filter(|p| cluster::pod_ready(p))
                .filter_map(|p| p.root.str_at(&["spec", "nodeName"]))
                .collect();
            let mut missing: Vec<String> = nodes
                .iter()
                .filter(|n| should_run(spec, n) && !ready_on.contains(n.name.as_str()))
                .map(|n| {
                    let ready = cluster::condition(n, "Ready").and_then(|c| c.str_at(&["status"]));
                    if ready == Some("True") {
                        format!("`{}`", n.name)
                    } else {
                        format!("`{}` (node not Ready)", n.name)
                    }
                })
                .collect();
            missing.sort();
            if missing.is_empty() {
                continue;
            }
            let shown = missing
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            let more = missing.len().saturating_sub(10);
            out.report(
                ds,
                None,
                None,
                format!(
                    "log shipper `{image}` has no ready pod on {} node{}: {shown}{}; their logs are not collected",
                    missing.len(),
                    if missing.len() == 1 { "" } else { "s" },
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                ),
            );
        } else if let (Some(desired), Some(ready)) =
            (int("desiredNumberScheduled"), int("numberReady"))
            && ready < desired
        {
            out.report(
                ds,
                None,
                status.get("numberReady"),
                format!(
                    "log shipper `{image}` is ready on {ready} of {desired} nodes (pods or nodes not read, so the nodes cannot be named); the other nodes' logs are not collected"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::live_fixtures::{C, daemonset, node, pod, run};
    use serde_json::json;

    const K: &str = "6.1.0";

    fn shipper_pod(name: &str, node: &str, ready: bool) -> serde_json::Value {
        pod(
            "logging",
            name,
            node,
            Some(("DaemonSet", "fluent-bit")),
            &[C(
                "fluent-bit",
                "cr.fluentbit.io/fluent/fluent-bit:3.0.4",
                None,
            )],
            ready,
        )
    }

    #[test]
    fn names_nodes_without_a_ready_shipper() {
        let mut tainted = node("gpu", K, "Bottlerocket", true, "8", "a");
        tainted["spec"]["taints"] =
            json!([{"effect": "NoSchedule", "key": "nvidia.com/gpu", "value": "present"}]);
        let mut ds = daemonset(
            "logging",
            "fluent-bit",
            "cr.fluentbit.io/fluent/fluent-bit:3.0.4",
            4,
            2,
        );
        // Tolerates only the GPU taint by key: the `dedicated` node below stays out of scope.
        ds["spec"]["template"]["spec"]["tolerations"] =
            json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]);
        let mut dedicated = node("db", K, "Bottlerocket", true, "8", "a");
        dedicated["spec"]["taints"] =
            json!([{"effect": "NoSchedule", "key": "dedicated", "value": "db"}]);
        let f = run(
            &RULE,
            vec![
                node("n1", K, "Bottlerocket", true, "4", "a"),
                node("n2", K, "Bottlerocket", true, "4", "a"),
                node("n3", K, "Bottlerocket", false, "4", "a"),
                tainted,
                dedicated,
                ds,
                shipper_pod("fluent-bit-a", "n1", true),
                shipper_pod("fluent-bit-b", "n2", false),
            ],
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].message
                .contains("on 3 nodes: `gpu`, `n2`, `n3` (node not Ready)"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn falls_back_to_status_counts() {
        let f = run(
            &RULE,
            vec![daemonset(
                "logging",
                "vector",
                "timberio/vector:0.34.0-debian",
                5,
                3,
            )],
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("ready on 3 of 5 nodes"));
    }

    #[test]
    fn passes_when_everywhere_or_not_a_shipper() {
        let f = run(
            &RULE,
            vec![
                node("n1", K, "Bottlerocket", true, "4", "a"),
                daemonset("logging", "fluent-bit", "fluent/fluent-bit:2.2", 1, 1),
                shipper_pod("fluent-bit-a", "n1", true),
                daemonset(
                    "kube-system",
                    "kube-proxy",
                    "registry.k8s.io/kube-proxy:v1.29.0",
                    3,
                    1,
                ),
            ],
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
