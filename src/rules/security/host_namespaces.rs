//! `security.host-namespaces`: a pod sharing the node's PID, IPC or network namespace.

use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "security.host-namespaces",
        title: "Pod shares the node's PID, IPC or network namespace",
        severity: Severity::High,
        stories: &[Story::JwPlayer],
        needs: Needs::Manifests,
        rationale: "`hostPID: true` lets the pod see and signal every process on the node (and, with \
            privileges, enter them with `nsenter`); `hostIPC: true` shares the node's shared memory \
            and semaphores; `hostNetwork: true` puts the pod on the node's interfaces, where it can \
            reach node-local services (the kubelet, cloud metadata) and sniff traffic, and bypasses \
            NetworkPolicy. The Weave Scope agent at JW Player ran with `hostPID` and `hostNetwork` \
            next to `privileged: true`: once its public UI gave an attacker a shell, every node was \
            theirs. Each field is reported on its own line.",
        remediation: "Remove `hostPID`, `hostIPC` and `hostNetwork` unless the pod is a node agent \
            that cannot work without them (CNI plugins, node exporters); for those, keep them in a \
            dedicated namespace with the `privileged` Pod Security level and nothing reachable from \
            outside.",
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
      hostPID: true
      hostNetwork: true
      containers:
      - name: scope-agent
        image: weaveworks/scope:1.13.2
"#,
    },
    check,
};

/// Each field with what sharing it gives away.
const FIELDS: [(&str, &str); 3] = [
    (
        "hostPID",
        "the node's process namespace: every process on the node is visible and can be signalled or entered",
    ),
    (
        "hostIPC",
        "the node's IPC namespace: shared memory and semaphores of host processes",
    ),
    (
        "hostNetwork",
        "the node's network namespace: node-local services, all host traffic, and no NetworkPolicy",
    ),
];

fn check(cx: &Context<'_>, out: &mut Sink) {
    for w in &cx.index.workloads {
        for (field, meaning) in FIELDS {
            let Some(node) = w.pod_spec.get(field) else {
                continue;
            };
            if node.as_bool() != Some(true) {
                continue;
            }
            out.report(
                w.object,
                None,
                Some(node),
                format!(
                    "{} `{}` sets `{field}: true` and shares {meaning}",
                    w.object.kind, w.object.name
                ),
            );
        }
    }
}

/// For tests: the fields that fired, in order.
#[cfg(test)]
fn fields(findings: &[crate::rules::Finding]) -> Vec<&'static str> {
    findings
        .iter()
        .filter_map(|f| {
            FIELDS
                .iter()
                .map(|(k, _)| *k)
                .find(|k| f.message.contains(&format!("`{k}: true`")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check as run;

    #[test]
    fn one_finding_per_field_pointing_at_it() {
        let f = run(&RULE, RULE.meta.example);
        assert_eq!(fields(&f), ["hostPID", "hostNetwork"]);
        assert_eq!(
            f.iter().map(|f| f.location.line).collect::<Vec<_>>(),
            [12, 13]
        );
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostIPC: yes\n  containers: [{name: c}]\n";
        assert_eq!(fields(&run(&RULE, y)), ["hostIPC"]);
    }

    #[test]
    fn passes_when_false_or_absent() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostPID: false\n  hostIPC: false\n  hostNetwork: false\n  containers: [{name: c}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: c}]}}}\n";
        assert!(run(&RULE, y).is_empty());
    }
}
