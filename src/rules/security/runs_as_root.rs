//! `security.runs-as-root`: containers that run as UID 0, or that nothing stops from doing so.

use super::privileged_container::{describe, finding_container};
use crate::model::security::{Effective, Origin, RootVerdict};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "security.runs-as-root",
        title: "Container runs as root, or nothing forbids it",
        severity: Severity::High,
        stories: &[Story::JwPlayer],
        needs: Needs::Manifests,
        rationale: "Root inside a container is one kernel bug, one hostPath or one added capability away \
            from root on the node; at JW Player the attacker's shell through Weave Scope landed as root, \
            which is what let a miner be installed on every node. Kubernetes applies the pod's \
            `securityContext` (`runAsUser`, `runAsNonRoot`) to every container, init containers \
            included, unless the container sets the field itself; hindsight follows that inheritance. \
            It separates two cases peers lump together: `runAsUser: 0` stated in the manifest (high, \
            pointing at the field, pod or container level) and nothing set at all, where the image's \
            `USER` decides (low: often root, but the manifest cannot tell). `runAsNonRoot: true` with \
            `runAsUser: 0` is also reported: the kubelet refuses to start such a container.",
        remediation: "Set `runAsNonRoot: true` and a non-zero `runAsUser` (and `runAsGroup`) in the pod's \
            `securityContext`, and build images with a numeric non-root `USER`. If one init container \
            must be root (e.g. to chown a volume), set `runAsUser: 0` on that container alone, and \
            prefer `fsGroup` for volume ownership.",
        example: r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      securityContext:
        runAsUser: 0
      containers:
      - name: api
        image: example/api:1.0
"#,
    },
    check,
};

fn check(cx: &Context<'_>, out: &mut Sink) {
    for w in &cx.index.workloads {
        // Windows pods run as `runAsUserName`, not as a UID; UID rules do not apply.
        if w.pod_spec.str_at(&["os", "name"]) == Some("windows") {
            continue;
        }
        for c in w.containers() {
            let effective = Effective::of(w.pod_spec, &c);
            let who = format!(
                "{} of {} `{}`",
                describe(c.kind, c.name),
                w.object.kind,
                w.object.name
            );
            match effective.root_verdict() {
                RootVerdict::NonRoot => {}
                RootVerdict::Root => {
                    let Some(uid) = effective.run_as_user else {
                        continue;
                    };
                    let level = match uid.origin {
                        Origin::Pod => "the pod's `securityContext`",
                        Origin::Container => "its own `securityContext`",
                    };
                    let refused = effective.run_as_non_root.is_some_and(|n| n.value);
                    let message = if refused {
                        format!(
                            "{who} gets `runAsUser: 0` from {level} together with `runAsNonRoot: true`: the kubelet will refuse to start it (CreateContainerConfigError)"
                        )
                    } else {
                        format!("{who} runs as root: `runAsUser: 0` in {level}")
                    };
                    out.report(w.object, finding_container(c.name), Some(uid.node), message);
                }
                RootVerdict::ImageDecides => {
                    // Point at an explicit `runAsNonRoot: false` when there is one.
                    let at = effective.run_as_non_root.map(|n| n.node).unwrap_or(c.node);
                    out.report(
                        w.object,
                        finding_container(c.name),
                        Some(at),
                        format!(
                            "{who} may run as root: nothing sets runAsNonRoot or a non-zero runAsUser, so the image's USER decides"
                        ),
                    )
                    .severity = Severity::Low;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check as run;

    fn pod(spec: &str) -> Vec<(Severity, Option<String>, u32, String)> {
        run(
            &RULE,
            &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n{spec}"),
        )
        .into_iter()
        .map(|f| (f.severity, f.container, f.location.line, f.message))
        .collect()
    }

    #[test]
    fn stated_root_is_high_and_points_at_the_pod_field() {
        let f = run(&RULE, RULE.meta.example);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].location.line, 13);
        assert!(f[0].message.contains("pod's"), "{}", f[0].message);
    }

    #[test]
    fn container_level_root_in_an_init_container() {
        let f = pod(
            "  securityContext: {runAsUser: 1000}\n  initContainers:\n  - name: chown\n    securityContext:\n      runAsUser: 0\n  containers:\n  - name: c\n",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, Severity::High);
        assert_eq!(f[0].1.as_deref(), Some("chown"));
        assert_eq!(f[0].2, 9);
        assert!(f[0].3.starts_with("init container `chown`"), "{}", f[0].3);
        assert!(f[0].3.contains("its own"), "{}", f[0].3);
    }

    #[test]
    fn nothing_set_is_low_image_decides() {
        let f = pod("  containers:\n  - name: c\n");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, Severity::Low);
        assert!(f[0].3.contains("the image's USER decides"), "{}", f[0].3);
        // An explicit runAsNonRoot: false is where it points.
        let f =
            pod("  containers:\n  - name: c\n    securityContext:\n      runAsNonRoot: false\n");
        assert_eq!((f[0].0, f[0].2), (Severity::Low, 8));
    }

    #[test]
    fn non_root_and_uid_zero_is_refused_by_the_kubelet() {
        let f = pod(
            "  securityContext: {runAsNonRoot: true}\n  containers:\n  - name: c\n    securityContext: {runAsUser: 0}\n",
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].3.contains("refuse to start"), "{}", f[0].3);
    }

    #[test]
    fn passes_when_non_root_is_inherited_or_uid_is_set() {
        assert!(pod("  securityContext: {runAsNonRoot: true}\n  initContainers: [{name: i}]\n  containers: [{name: c}]\n").is_empty());
        assert!(pod("  securityContext: {runAsUser: 1000}\n  containers:\n  - name: c\n    securityContext: {runAsNonRoot: false}\n").is_empty());
        assert!(pod("  os: {name: windows}\n  containers: [{name: c}]\n").is_empty());
    }

    #[test]
    fn a_container_override_turning_non_root_off_fires() {
        let f = pod(
            "  securityContext: {runAsNonRoot: true}\n  containers:\n  - name: c\n    securityContext: {runAsNonRoot: false}\n",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, Severity::Low);
    }
}
