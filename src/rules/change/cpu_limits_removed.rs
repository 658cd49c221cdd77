//! `change.cpu-limits-removed`: CPU limits taken off a container.

use crate::rules::change::{ChangeRule, DiffContext, DiffSink, ValueChange};
use crate::rules::{Meta, Needs, Severity};
use crate::stories::Story;

pub static RULE: ChangeRule = ChangeRule {
    meta: Meta {
        id: "change.cpu-limits-removed",
        title: "CPU limits removed from a container without requests and autoscaling to replace them",
        severity: Severity::Medium,
        stories: &[Story::Buffer],
        needs: Needs::Diff,
        rationale: "Removing CPU limits is often right: Buffer removed them from latency-critical \
            services and their landing page got about 22 times faster, because a kernel CFS \
            bandwidth bug throttled containers far below their quota. But a limit is also what kept \
            a busy container from taking a node's CPU from its neighbours; Buffer had earlier seen \
            kubelets go NotReady with unlimited pods. Without a CPU request the scheduler counts the \
            pod as needing nothing and packs nodes until they saturate; without an autoscaler the \
            load that the limit used to cap lands on the same replicas. Info when the container \
            keeps a CPU request and an HPA targets the workload, medium otherwise.",
        remediation: "Keep the limit off, and make what replaces it explicit: set a CPU request \
            close to the container's real usage (so the scheduler reserves it and the kernel shares \
            CPU by weight), let a HorizontalPodAutoscaler add replicas under load, and watch node \
            CPU saturation and per-container usage against requests (alert when usage stays well \
            above the request). Run kernels with the CFS fix (5.4+, 4.19.84+, 4.14.154+) where \
            limits remain.",
        example: r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: landing}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: web
        image: example/landing:2
        resources: {limits: {cpu: 500m, memory: 256Mi}}
# ---- after ----
apiVersion: apps/v1
kind: Deployment
metadata: {name: landing}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: web
        image: example/landing:2
        resources: {limits: {memory: 256Mi}}
"#,
    },
    check,
};

fn check(cx: &DiffContext<'_>, out: &mut DiffSink) {
    for (b, a) in cx.changed_workloads() {
        let hpa = cx.after.index.hpa_for(a);
        for ca in a.containers().filter(|c| c.is_long_running()) {
            let Some(cb) = b
                .containers()
                .find(|c| c.name == ca.name && c.kind == ca.kind)
            else {
                continue;
            };
            let Some(old_limit) = cb.resource("limits", "cpu") else {
                continue;
            };
            if ca.resource("limits", "cpu").is_some() {
                continue;
            }
            let request = ca.resource("requests", "cpu");
            let mut missing = Vec::new();
            if request.is_none() {
                missing.push("a CPU request (the scheduler now reserves nothing for it)");
            }
            if hpa.is_none() {
                missing
                    .push("an autoscaler (load the limit capped now lands on the same replicas)");
            }
            let message = if missing.is_empty() {
                format!(
                    "CPU limit removed from `{}`; it keeps a CPU request and an HPA scales `{}`: \
                     watch node CPU saturation and usage against the request",
                    ca.name, a.object.name
                )
            } else {
                format!(
                    "CPU limit removed from `{}` without {}: set a CPU request near real usage, \
                     autoscale, and monitor node CPU saturation",
                    ca.name,
                    missing.join(" or ")
                )
            };
            let values = vec![
                ValueChange::new("resources.limits.cpu", Some(old_limit), None),
                ValueChange::new(
                    "resources.requests.cpu",
                    cb.resource("requests", "cpu"),
                    request,
                ),
            ];
            let at = ca.node.get("resources").or(Some(ca.node));
            out.report(a.object, Some(ca.name), at, message, values)
                .severity = if missing.is_empty() {
                Severity::Info
            } else {
                Severity::Medium
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::change::check as run;

    fn deploy(resources: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api}}\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: api\n        image: x\n        resources: {resources}\n"
        )
    }

    const HPA: &str = "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: api}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 2\n  maxReplicas: 10\n";

    #[test]
    fn medium_without_requests_or_autoscaling() {
        let risks = run(&RULE, &deploy("{limits: {cpu: '1'}}"), &deploy("{}"));
        assert_eq!(risks.len(), 1);
        let f = &risks[0].finding;
        assert_eq!(f.severity, Severity::Medium);
        assert!(f.message.contains("CPU request") && f.message.contains("autoscale"));
        assert!(
            !f.message.to_lowercase().contains("add the limit"),
            "{}",
            f.message
        );
        assert_eq!(risks[0].changes[0].before.as_deref(), Some("1"));
        assert_eq!(risks[0].changes[0].after, None);
        // A request but no HPA is still medium.
        let risks = run(
            &RULE,
            &deploy("{requests: {cpu: 250m}, limits: {cpu: '1'}}"),
            &deploy("{requests: {cpu: 250m}}"),
        );
        assert_eq!(risks[0].finding.severity, Severity::Medium);
    }

    #[test]
    fn info_with_requests_and_an_hpa() {
        let b = deploy("{requests: {cpu: 250m}, limits: {cpu: '1'}}") + HPA;
        let a = deploy("{requests: {cpu: 250m}}") + HPA;
        let risks = run(&RULE, &b, &a);
        assert_eq!(risks.len(), 1);
        assert_eq!(risks[0].finding.severity, Severity::Info);
    }

    #[test]
    fn passes_when_the_limit_stays_or_never_was() {
        assert!(
            run(
                &RULE,
                &deploy("{limits: {cpu: '1'}}"),
                &deploy("{limits: {cpu: '2'}}")
            )
            .is_empty()
        );
        assert!(run(&RULE, &deploy("{requests: {cpu: '1'}}"), &deploy("{}")).is_empty());
        // Only the memory limit removed.
        assert!(
            run(
                &RULE,
                &deploy("{limits: {cpu: '1', memory: 1Gi}}"),
                &deploy("{limits: {cpu: '1'}}")
            )
            .is_empty()
        );
    }
}
