//! `resources.missing-memory-limit`: long-running containers whose memory nothing bounds.

use super::limit_range_defaults;
use crate::model::Container;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "resources.missing-memory-limit",
        title: "Container without a memory limit",
        severity: Severity::Medium,
        stories: &[Story::Buffer],
        needs: Needs::Manifests,
        rationale: "A container without `limits.memory` can grow until the node runs out of memory; the \
            kernel OOM killer and kubelet eviction then hit whatever is there, and the kubelet itself can \
            stall and the node go NotReady. Buffer saw exactly that when it ran pods without limits, \
            before it learned to keep memory limits and drop only CPU limits. Memory is not compressible: \
            unlike CPU, the only way to take it back is to kill something, so it needs a bound. When the \
            container also has no memory request, the scheduler did not even reserve room for it, so the \
            finding is raised to high. A `LimitRange` with `default` or `max` memory in the namespace \
            fills the limit in and silences this rule, as does a pod-level `spec.resources.limits.memory` \
            (Kubernetes 1.32+). CPU limits are deliberately not asked for: they \
            create the CFS quota that throttled Buffer's services.",
        remediation: "Set `resources.limits.memory` (and `resources.requests.memory`, usually to the same \
            value for predictable eviction) on every long-running container. Leave CPU limits off \
            latency-sensitive services; set CPU requests instead.",
        example: r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: example/web:2.3
"#,
    },
    check,
};

fn check(cx: &Context<'_>, out: &mut Sink) {
    for w in &cx.index.workloads {
        let ns = w.object.namespace_or_default();
        // A pod-level memory limit (`spec.resources`, Kubernetes 1.32+) bounds all containers.
        let pod_limit = w
            .pod_spec
            .path(&["resources", "limits", "memory"])
            .is_some_and(|n| !n.is_null());
        if pod_limit || limit_range_defaults(cx, ns, "default", "memory").is_some() {
            continue;
        }
        for c in w.containers().filter(Container::is_long_running) {
            if c.resource("limits", "memory").is_some() {
                continue;
            }
            let at = c.node.get("resources").or(Some(c.node));
            let pod_request = w
                .pod_spec
                .path(&["resources", "requests", "memory"])
                .is_some_and(|n| !n.is_null());
            if pod_request || c.resource("requests", "memory").is_some() {
                out.report(
                    w.object,
                    Some(c.name),
                    at,
                    format!(
                        "container `{}` has no memory limit: it can grow past its request until the \
                         node runs out of memory",
                        c.name
                    ),
                );
            } else {
                out.report(
                    w.object,
                    Some(c.name),
                    at,
                    format!(
                        "container `{}` has no memory limit and no memory request: nothing bounds its \
                         memory and the scheduler reserved none for it",
                        c.name
                    ),
                )
                .severity = Severity::High;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check as run;

    fn pod(resources: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: prod}}\nspec:\n  containers:\n  - name: app\n    image: x\n{resources}"
        )
    }

    #[test]
    fn fires_high_when_memory_is_wholly_unbounded() {
        let f = run(&RULE, &pod(""));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].container.as_deref(), Some("app"));
    }

    #[test]
    fn fires_medium_with_a_request_but_no_limit() {
        let f = run(
            &RULE,
            &pod(
                "    resources:\n      requests: {memory: 256Mi, cpu: 100m}\n      limits: {cpu: 1}\n",
            ),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].location.line, 9, "inside `resources`");
        assert!(!f[0].message.to_lowercase().contains("cpu"));
    }

    #[test]
    fn passes_with_a_memory_limit_and_no_cpu_limit() {
        assert!(
            run(
                &RULE,
                &pod("    resources:\n      requests: {cpu: 100m, memory: 256Mi}\n      limits: {memory: 256Mi}\n")
            )
            .is_empty()
        );
    }

    #[test]
    fn passes_when_a_limit_range_sets_a_default_or_max() {
        let lr = "---\napiVersion: v1\nkind: LimitRange\nmetadata: {name: d, namespace: prod}\nspec:\n  limits:\n  - type: Container\n    max: {memory: 2Gi}\n";
        assert!(run(&RULE, &format!("{}{lr}", pod(""))).is_empty());
        let pod_type = lr.replace("type: Container", "type: Pod");
        assert_eq!(run(&RULE, &format!("{}{pod_type}", pod(""))).len(), 1);
    }

    #[test]
    fn a_pod_level_memory_limit_bounds_every_container() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  resources:\n    limits: {memory: 2Gi}\n  containers:\n  - name: a\n    image: x\n  - name: b\n    image: y\n";
        assert!(run(&RULE, y).is_empty());
        let requests_only = run(&RULE, &y.replace("limits", "requests"));
        assert_eq!(requests_only.len(), 2);
        assert!(requests_only.iter().all(|f| f.severity == Severity::Medium));
    }

    #[test]
    fn ignores_plain_init_containers() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers:\n  - name: migrate\n    image: x\n  containers:\n  - name: app\n    image: y\n    resources: {limits: {memory: 1Gi}}\n";
        assert!(run(&RULE, y).is_empty());
    }
}
