//! `security.privileged-container`: a container with `privileged: true`.

use crate::model::ContainerKind;
use crate::model::security::Effective;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "security.privileged-container",
        title: "Privileged container",
        severity: Severity::High,
        stories: &[Story::JwPlayer],
        needs: Needs::Manifests,
        rationale: "A privileged container has every capability, sees all host devices and is not \
            confined by seccomp or AppArmor: root in it is root on the node, one `mount` or `nsenter` \
            away. At JW Player the Weave Scope agent DaemonSet ran privileged with the host's PID \
            namespace and Docker socket, so the shell an attacker opened through the public Scope UI \
            reached every node, where a miner ran as `gcc`. Only the container-level field exists: \
            a `privileged` key in the pod's `securityContext` is not part of the API and is ignored \
            here, as the API server ignores it. Init and ephemeral containers count too.",
        remediation: "Remove `privileged: true`. Grant the specific capabilities the process needs \
            (`securityContext.capabilities.add`, e.g. `NET_ADMIN`) and keep \
            `allowPrivilegeEscalation: false`. If a node agent truly needs it, keep it off any \
            network path an outsider can reach and enforce the `baseline` Pod Security Standard in \
            every other namespace.",
        example: r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: weave-scope-agent
spec:
  selector:
    matchLabels: {app: weave-scope-agent}
  template:
    metadata:
      labels: {app: weave-scope-agent}
    spec:
      containers:
      - name: scope-agent
        image: weaveworks/scope:1.13.2
        securityContext:
          privileged: true
"#,
    },
    check,
};

/// How a container is named in messages: `init container `x``, `container `x``.
pub fn describe(kind: ContainerKind, name: &str) -> String {
    let name = if name.is_empty() { "(unnamed)" } else { name };
    match kind {
        ContainerKind::Init => format!("init container `{name}`"),
        ContainerKind::Regular => format!("container `{name}`"),
        ContainerKind::Ephemeral => format!("ephemeral container `{name}`"),
    }
}

/// The container name for a finding (absent when the manifest gives none).
pub fn finding_container(name: &str) -> Option<&str> {
    (!name.is_empty()).then_some(name)
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    for w in &cx.index.workloads {
        for c in w.containers() {
            let effective = Effective::of(w.pod_spec, &c);
            let Some(setting) = effective.privileged.filter(|p| p.value) else {
                continue;
            };
            out.report(
                w.object,
                finding_container(c.name),
                Some(setting.node),
                format!(
                    "{} of {} `{}` runs privileged: root in it is root on the node",
                    describe(c.kind, c.name),
                    w.object.kind,
                    w.object.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check as run;

    fn lines(yaml: &str) -> Vec<(Option<String>, u32)> {
        run(&RULE, yaml)
            .into_iter()
            .map(|f| (f.container, f.location.line))
            .collect()
    }

    #[test]
    fn fires_and_points_at_the_field() {
        assert_eq!(
            lines(RULE.meta.example),
            [(Some("scope-agent".to_owned()), 16)]
        );
    }

    #[test]
    fn init_and_ephemeral_containers_count_and_yaml_1_1_true_is_true() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers:\n  - name: i\n    securityContext: {privileged: True}\n  containers:\n  - name: c\n  ephemeralContainers:\n  - name: e\n    securityContext:\n      privileged: yes\n";
        let f = run(&RULE, y);
        assert_eq!(f.len(), 2);
        assert!(f[0].message.starts_with("init container `i`"));
        assert!(f[1].message.starts_with("ephemeral container `e`"));
    }

    #[test]
    fn pod_level_privileged_is_not_a_field() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  securityContext: {privileged: true}\n  containers:\n  - name: c\n    securityContext: {privileged: false}\n  - name: d\n";
        assert!(run(&RULE, y).is_empty());
    }

    #[test]
    fn passes_when_false_absent_or_a_string() {
        // A quoted "true" is a string: the API server rejects the object, it never runs privileged.
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    securityContext: {privileged: \"true\"}\n  - name: d\n    securityContext: {privileged: false}\n  - name: e\n";
        assert!(run(&RULE, y).is_empty());
    }
}
