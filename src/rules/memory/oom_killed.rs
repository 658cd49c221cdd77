//! `memory.oom-killed`: containers whose last termination was an OOM kill.

use crate::model::cluster::Owners;
use crate::node::Node;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "memory.oom-killed",
        title: "Container was OOM-killed",
        severity: Severity::Medium,
        stories: &[Story::Buffer, Story::Moonlight],
        needs: Needs::Cluster,
        rationale: "`lastState.terminated.reason: OOMKilled` means the kernel killed the container \
            for exceeding its memory limit (or the node ran out of memory). Every kill drops \
            in-flight work and, repeated, becomes a crash loop. Buffer's nodes went NotReady when \
            pods without limits exhausted memory; Moonlight's saturated node crashed. The restart \
            count says how often it has happened.",
        remediation: "Compare the container's memory use with its limit \
            (`container_memory_working_set_bytes`); raise the limit and request to what it really \
            needs, or fix the leak. Set requests equal to limits for memory so the scheduler \
            reserves what the container may use.",
        example: r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-0", "namespace": "web"},
 "spec": {"nodeName": "node-1", "containers": [{"name": "api", "image": "example/api:1.0"}]},
 "status": {"containerStatuses": [{"name": "api", "restartCount": 7,
  "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-11-27T09:58:00Z"}}}]}}
"#,
    },
    check,
};

/// Restarts at which an OOM kill is a loop, not an incident.
const MANY_RESTARTS: i64 = 5;

fn check(cx: &Context<'_>, out: &mut Sink) {
    let owners = Owners::new(&cx.index);
    for pod in cx.index.of_kind("Pod").filter(|p| p.group().is_empty()) {
        let status = pod.root.get("status").unwrap_or(Node::null());
        for key in ["initContainerStatuses", "containerStatuses"] {
            for cs in status.seq_at(key) {
                let oom =
                    |state: &str| cs.str_at(&[state, "terminated", "reason"]) == Some("OOMKilled");
                let (last, now) = (oom("lastState"), oom("state"));
                if !last && !now {
                    continue;
                }
                let name = cs.str_at(&["name"]).unwrap_or("");
                let restarts = cs.get("restartCount").and_then(Node::as_i64).unwrap_or(0);
                let limit = crate::model::containers(pod.spec())
                    .find(|c| c.name == name)
                    .and_then(|c| c.resource("limits", "memory"))
                    .and_then(|n| n.scalar_text())
                    .map_or_else(
                        || "no memory limit".to_owned(),
                        |l| format!("memory limit {l}"),
                    );
                let when = cs
                    .str_at(&[
                        if now { "state" } else { "lastState" },
                        "terminated",
                        "finishedAt",
                    ])
                    .map(|t| format!(" at {t}"))
                    .unwrap_or_default();
                let owner = owners
                    .top_owner(pod)
                    .map(|(kind, name, _)| format!(" ({kind} `{name}`)"))
                    .unwrap_or_default();
                let finding = out.report(
                    pod,
                    Some(name),
                    Some(cs),
                    format!(
                        "container `{name}` of pod `{}`{owner} was OOM-killed{when} ({limit}); {restarts} restart{} so far",
                        pod.name,
                        if restarts == 1 { "" } else { "s" }
                    ),
                );
                if restarts >= MANY_RESTARTS {
                    finding.severity = Severity::High;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::live_fixtures::{C, oom_killed, pod, run};

    #[test]
    fn fires_with_restart_counts() {
        let p = pod(
            "web",
            "api-0",
            "n1",
            Some(("ReplicaSet", "api-5d8f7c9b6")),
            &[C("api", "example/api:1.0", None), C("side", "envoy", None)],
            true,
        );
        let f = run(
            &RULE,
            vec![
                oom_killed(p, "api", 7),
                oom_killed(
                    pod("web", "b", "n1", None, &[C("b", "x", None)], true),
                    "b",
                    1,
                ),
            ],
        );
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[0].container.as_deref(), Some("api"));
        assert_eq!(f[0].severity, Severity::High);
        assert!(
            f[0].message.contains("(ReplicaSet `api-5d8f7c9b6`) was OOM-killed at 2026-11-27T09:58:00Z (memory limit 512Mi); 7 restarts"),
            "{}",
            f[0].message
        );
        assert_eq!(f[1].severity, Severity::Medium);
        assert!(f[1].message.ends_with("1 restart so far"));
    }

    #[test]
    fn passes_on_other_terminations() {
        let mut p = pod("web", "a", "n1", None, &[C("a", "x", None)], true);
        p["status"]["containerStatuses"][0]["lastState"] =
            serde_json::json!({"terminated": {"reason": "Error", "exitCode": 1}});
        p["status"]["containerStatuses"][0]["restartCount"] = serde_json::json!(3);
        assert!(run(&RULE, vec![p]).is_empty());
    }
}
