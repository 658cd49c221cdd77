//! `resources.missing-requests`: long-running containers the scheduler cannot account for.

use super::limit_range_defaults;
use crate::model::Container;
use crate::node::Node;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "resources.missing-requests",
        title: "Container without a CPU or memory request",
        severity: Severity::Medium,
        stories: &[Story::Moonlight, Story::Buffer],
        needs: Needs::Manifests,
        rationale: "The scheduler places pods by their requests, not by what they really use: a container \
            without a request counts as 0 when the scheduler checks whether a node has room (it only \
            scores it as 100m CPU / 200 MiB), so a node full of busy request-less pods still looks empty \
            and gets more of them. At Moonlight the scheduler kept piling busy pods onto nodes already at \
            100% CPU until they kernel-panicked, taking several replicas down at once. Buffer's \
            unbounded pods likewise made nodes go NotReady. When a container sets a limit but no \
            request, the API server copies the limit into the request, so that resource is not \
            reported; pod-level `spec.resources` (Kubernetes 1.32+) covers every container; a `LimitRange` with a `defaultRequest` (or `default`) in the namespace also fills \
            it in. Regular containers and sidecar init containers (`restartPolicy: Always`) are checked; \
            ordinary init and ephemeral containers are not.",
        remediation: "Set `resources.requests.cpu` and `resources.requests.memory` on every long-running \
            container, from observed usage (for example the p90 over a week). Do not add a CPU limit to \
            get a request: a CPU limit creates a CFS quota, which throttles latency-sensitive services \
            (the Buffer story); a request alone is what the scheduler needs.",
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
        resources:
          limits:
            memory: 512Mi
"#,
    },
    check,
};

/// What happens to one resource's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Set,
    /// Unset, but the API server copies the limit into it.
    FromLimit,
    /// Unset, but a LimitRange in the namespace fills it in.
    FromLimitRange,
    /// Unset on the container, but the pod sets it for all its containers.
    PodLevel,
    Missing,
}

fn request(
    cx: &Context<'_>,
    namespace: &str,
    pod_spec: &Node,
    c: &Container<'_>,
    resource: &str,
) -> Request {
    // Pod-level resources (`spec.resources`, Kubernetes 1.32+): the scheduler uses the pod's
    // request, and a pod-level limit defaults it.
    let pod_level = ["requests", "limits"].iter().any(|section| {
        pod_spec
            .path(&["resources", section, resource])
            .is_some_and(|n| !n.is_null())
    });
    if c.resource("requests", resource).is_some() {
        Request::Set
    } else if pod_level {
        Request::PodLevel
    } else if c.resource("limits", resource).is_some() {
        Request::FromLimit
    } else if limit_range_defaults(cx, namespace, "defaultRequest", resource).is_some() {
        Request::FromLimitRange
    } else {
        Request::Missing
    }
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    for w in &cx.index.workloads {
        let ns = w.object.namespace_or_default();
        for c in w.containers().filter(Container::is_long_running) {
            let cpu = request(cx, ns, w.pod_spec, &c, "cpu");
            let memory = request(cx, ns, w.pod_spec, &c, "memory");
            let missing: Vec<&str> = [("CPU", cpu), ("memory", memory)]
                .into_iter()
                .filter(|(_, r)| *r == Request::Missing)
                .map(|(name, _)| name)
                .collect();
            if missing.is_empty() {
                continue;
            }
            let what = match missing.as_slice() {
                [one] => format!("no {one} request"),
                _ => "no CPU request and no memory request".to_owned(),
            };
            let defaulted: Vec<&str> = [("CPU", cpu), ("memory", memory)]
                .into_iter()
                .filter(|(_, r)| *r == Request::FromLimit)
                .map(|(name, _)| name)
                .collect();
            let note = match defaulted.as_slice() {
                [one] => format!(" (its {one} request defaults to its {one} limit)"),
                _ => String::new(),
            };
            let at = c.node.get("resources").or(Some(c.node));
            out.report(
                w.object,
                Some(c.name),
                at,
                format!(
                    "container `{}` has {what}{note}: the scheduler counts it as 0 when fitting \
                     the pod onto a node, so busy pods can pile up on one node",
                    c.name
                ),
            );
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
    fn fires_without_any_requests_and_points_at_resources() {
        let f = run(&RULE, &pod("    resources: {}\n"));
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message
                .contains("no CPU request and no memory request")
        );
        assert_eq!(f[0].container.as_deref(), Some("app"));
        assert_eq!(f[0].location.line, 8);
        // No resources at all: the finding points at the container.
        let f = run(&RULE, &pod(""));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location.line, 6);
    }

    #[test]
    fn names_the_one_missing_request_and_notes_limit_defaulting() {
        let f = run(&RULE, &pod("    resources:\n      limits: {memory: 1Gi}\n"));
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("no CPU request"), "{}", f[0].message);
        assert!(!f[0].message.contains("memory request and"));
        assert!(
            f[0].message
                .contains("memory request defaults to its memory limit")
        );
        let f = run(&RULE, &pod("    resources:\n      requests: {cpu: 100m}\n"));
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("no memory request"));
    }

    #[test]
    fn passes_with_requests_or_limits_that_default_them() {
        assert!(
            run(
                &RULE,
                &pod("    resources:\n      requests: {cpu: 100m, memory: 128Mi}\n")
            )
            .is_empty()
        );
        assert!(
            run(
                &RULE,
                &pod("    resources:\n      limits: {cpu: 1, memory: 1Gi}\n")
            )
            .is_empty()
        );
        assert!(
            run(
                &RULE,
                &pod("    resources:\n      requests: {memory: 1Gi}\n      limits: {cpu: 500m}\n")
            )
            .is_empty()
        );
    }

    #[test]
    fn a_limit_range_default_request_fills_the_gap() {
        let lr = "---\napiVersion: v1\nkind: LimitRange\nmetadata: {name: d, namespace: prod}\nspec:\n  limits:\n  - type: Container\n    defaultRequest: {cpu: 100m}\n    default: {memory: 256Mi}\n";
        assert!(run(&RULE, &format!("{}{lr}", pod(""))).is_empty());
        // A LimitRange in another namespace does not apply.
        let other = lr.replace("namespace: prod", "namespace: other");
        assert_eq!(run(&RULE, &format!("{}{other}", pod(""))).len(), 1);
    }

    #[test]
    fn pod_level_resources_cover_the_containers() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  resources:\n    requests: {cpu: 1}\n    limits: {memory: 2Gi}\n  containers:\n  - name: a\n    image: x\n";
        assert!(run(&RULE, y).is_empty());
        let cpu_only = y.replace("    limits: {memory: 2Gi}\n", "");
        let f = run(&RULE, &cpu_only);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("no memory request"));
    }

    #[test]
    fn sidecar_init_containers_count_but_plain_init_containers_do_not() {
        let y = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      initContainers:\n      - name: setup\n        image: x\n      - name: proxy\n        image: y\n        restartPolicy: Always\n      containers:\n      - name: app\n        image: z\n        resources: {requests: {cpu: 10m, memory: 10Mi}}\n";
        let f = run(&RULE, y);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].container.as_deref(), Some("proxy"));
    }

    #[test]
    fn never_recommends_a_cpu_limit() {
        let text = format!(
            "{} {}",
            RULE.meta.remediation,
            run(&RULE, &pod(""))[0].message
        );
        assert!(!text.contains("set a CPU limit") && !text.contains("limits.cpu"));
    }
}
