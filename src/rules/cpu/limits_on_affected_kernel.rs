//! `cpu.limits-on-affected-kernel`: CPU-limited pods running on kernels with the CFS quota bug.

use std::collections::BTreeMap;

use crate::load::Object;
use crate::model::cluster::{self, Owners};
use crate::model::kernel::{self, Status};
use crate::model::{ContainerKind, containers};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "cpu.limits-on-affected-kernel",
        title: "Pods with CPU limits run on a kernel with the CFS quota bug",
        severity: Severity::Medium,
        stories: &[Story::Buffer],
        needs: Needs::Cluster,
        rationale: "A CPU limit becomes a CFS quota. On kernels with CVE-2019-19922 (4.18 up to the \
            5.4 fix and its backports) the quota expires unused per-CPU slices every period, so \
            multi-threaded containers are throttled while far below their limit, and more so on \
            machines with many cores. Buffer's services were throttled at low CPU use; removing the \
            limits made them up to 22 times faster. Severity rises on nodes with 16 cores or more.",
        remediation: "Move these pods to nodes with a fixed kernel (upgrade the node image), or drop \
            the CPU limit of latency-sensitive containers and keep the request. See \
            `node.kernel-cfs-quota-bug` for the node verdicts.",
        example: r#"{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
  "status": {"capacity": {"cpu": "32"},
   "nodeInfo": {"kernelVersion": "4.19.76-coreos", "osImage": "Container Linux by CoreOS"}}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-0", "namespace": "web"},
  "spec": {"nodeName": "node-1", "containers": [{"name": "api", "image": "example/api:1.0",
   "resources": {"limits": {"cpu": "2"}}}]},
  "status": {"phase": "Running"}}]}
"#,
    },
    check,
};

/// Cores at which the bug's cost is high (stories.md: it scales with cores).
const MANY_CORES: f64 = 16.0;

struct Group<'a> {
    object: &'a Object,
    pods: usize,
    containers: Vec<String>,
    nodes: Vec<String>,
    many_cores: bool,
    kernel: String,
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    let nodes = cluster::nodes_by_name(&cx.index);
    let owners = Owners::new(&cx.index);
    // (kind, ns, name) of the top owner (or the pod) → what runs on affected nodes.
    let mut groups: BTreeMap<(String, String, String), Group<'_>> = BTreeMap::new();
    for pod in cx.index.of_kind("Pod").filter(|p| p.group().is_empty()) {
        if matches!(
            pod.root.str_at(&["status", "phase"]),
            Some("Succeeded" | "Failed")
        ) {
            continue;
        }
        let Some(node) = pod
            .root
            .str_at(&["spec", "nodeName"])
            .and_then(|n| nodes.get(n))
        else {
            continue;
        };
        let Some(info) = node.root.path(&["status", "nodeInfo"]) else {
            continue;
        };
        let kernel_version = info.str_at(&["kernelVersion"]).unwrap_or("");
        let verdict = kernel::judge(kernel_version, info.str_at(&["osImage"]).unwrap_or(""));
        if verdict.status != Status::Affected {
            continue;
        }
        let limited: Vec<String> = containers(pod.spec())
            .filter(|c| c.kind != ContainerKind::Ephemeral && c.resource("limits", "cpu").is_some())
            .map(|c| c.name.to_owned())
            .collect();
        if limited.is_empty() {
            continue;
        }
        let (key, object) = match owners.top_owner(pod) {
            Some((kind, name, Some(owner))) => {
                ((kind, pod.namespace_or_default().to_owned(), name), owner)
            }
            _ => (
                (
                    "Pod".to_owned(),
                    pod.namespace_or_default().to_owned(),
                    pod.name.clone(),
                ),
                pod,
            ),
        };
        let many = cluster::cpu_cores(node).is_some_and(|c| c >= MANY_CORES);
        let group = groups.entry(key).or_insert_with(|| Group {
            object,
            pods: 0,
            containers: Vec::new(),
            nodes: Vec::new(),
            many_cores: false,
            kernel: kernel_version.to_owned(),
        });
        group.pods += 1;
        group.many_cores |= many;
        for c in limited {
            if !group.containers.contains(&c) {
                group.containers.push(c);
            }
        }
        if !group.nodes.contains(&node.name) {
            group.nodes.push(node.name.clone());
        }
    }
    for group in groups.values() {
        let pods = if group.pods == 1 {
            "1 pod".to_owned()
        } else {
            format!("{} pods", group.pods)
        };
        let finding = out.report(
            group.object,
            None,
            None,
            format!(
                "{pods} with CPU limits (containers {}) run on nodes whose kernel has the CFS quota bug \
                 (`{}`; nodes {}){}",
                list(&group.containers),
                group.kernel,
                list(&group.nodes),
                if group.many_cores { "; 16+ cores make the throttling worse" } else { "" }
            ),
        );
        if group.many_cores {
            finding.severity = finding.severity.raised();
        }
    }
}

/// `a`, `b`, `c` and 4 more.
fn list(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(5).map(|n| format!("`{n}`")).collect();
    let more = names.len().saturating_sub(5);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::live_fixtures::{C, deployment, node, pod, replicaset, run};

    const OLD: &str = "4.14.146-119.123.amzn2.x86_64";
    const NEW: &str = "5.10.184-175.731.amzn2.x86_64";

    #[test]
    fn fires_per_workload_and_raises_on_many_cores() {
        let f = run(
            &RULE,
            vec![
                node("big", OLD, "Amazon Linux 2", true, "32", "a"),
                node("small", OLD, "Amazon Linux 2", true, "4", "a"),
                deployment("web", "api", 2, 2),
                replicaset("web", "api-5d8f7c9b6", "api", 2),
                pod(
                    "web",
                    "api-5d8f7c9b6-a",
                    "big",
                    Some(("ReplicaSet", "api-5d8f7c9b6")),
                    &[C("api", "example/api:1.0", Some("2"))],
                    true,
                ),
                pod(
                    "web",
                    "api-5d8f7c9b6-b",
                    "small",
                    Some(("ReplicaSet", "api-5d8f7c9b6")),
                    &[C("api", "example/api:1.0", Some("2"))],
                    true,
                ),
                pod(
                    "web",
                    "solo",
                    "small",
                    None,
                    &[
                        C("app", "example/solo:1", Some("500m")),
                        C("side", "busybox", None),
                    ],
                    true,
                ),
            ],
        );
        assert_eq!(f.len(), 2, "{f:?}");
        let api = f
            .iter()
            .find(|f| f.object.kind == "Deployment")
            .expect("deployment finding");
        assert_eq!(api.object.name, "api");
        assert_eq!(api.severity, Severity::High);
        assert!(
            api.message
                .starts_with("2 pods with CPU limits (containers `api`)"),
            "{}",
            api.message
        );
        let solo = f
            .iter()
            .find(|f| f.object.kind == "Pod")
            .expect("pod finding");
        assert_eq!(solo.severity, Severity::Medium);
        assert!(solo.message.contains("`app`") && !solo.message.contains("`side`"));
    }

    #[test]
    fn passes_on_fixed_kernels_and_without_limits() {
        let f = run(
            &RULE,
            vec![
                node("new", NEW, "Amazon Linux 2", true, "32", "a"),
                node("old", OLD, "Amazon Linux 2", true, "32", "a"),
                pod("web", "a", "new", None, &[C("api", "x", Some("2"))], true),
                pod("web", "b", "old", None, &[C("api", "x", None)], true),
            ],
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
