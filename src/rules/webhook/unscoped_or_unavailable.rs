//! `webhook.unscoped-or-unavailable`: an admission webhook that can stop the cluster when it is
//! down or slow.

use crate::node::Node;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "webhook.unscoped-or-unavailable",
        title: "Admission webhook that fails closed on kube-system, waits long, or matches everything",
        severity: Severity::High,
        stories: &[Story::Jetstack],
        needs: Needs::Manifests,
        rationale: "The API server calls admission webhooks synchronously on every matching write. With \
            `failurePolicy: Fail` (the default in admissionregistration.k8s.io/v1), a webhook that is \
            unreachable rejects every matching request, including those that would bring it back: its own \
            pods, kube-system's DNS and CNI pods, node objects. Each call may hold the request for \
            `timeoutSeconds` (default 10). At Jetstack, an OPA webhook matching everything, kube-system \
            included, could not be reached during a GKE master upgrade: API calls hung on it, the API \
            server was reported unhealthy and nodes were recreated in a loop. A failing-closed webhook is \
            only safe when kube-system is excluded by `namespaceSelector`, it answers within a few seconds, \
            and it matches the resources it needs rather than `*`.",
        remediation: "Exclude kube-system (and the webhook's own namespace) with a `namespaceSelector` on \
            `kubernetes.io/metadata.name` `NotIn [kube-system, <own namespace>]`; set `timeoutSeconds` to 5 \
            or less; list the resources the webhook needs instead of `*`; or use `failurePolicy: Ignore` \
            when letting a request through unchecked is better than blocking the cluster.",
        example: r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: policy
webhooks:
- name: policy.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig:
    service: {name: policy, namespace: policy, path: /validate}
  rules:
  - apiGroups: ["*"]
    apiVersions: ["*"]
    operations: [CREATE, UPDATE]
    resources: ["*"]
"#,
    },
    check,
};

/// The API server's default when `timeoutSeconds` is unset (admissionregistration/v1).
const DEFAULT_TIMEOUT: i64 = 10;
/// Longer than this, one call can hold a write long enough to pile requests up.
const MAX_TIMEOUT: i64 = 10;

/// Whether a namespace selector keeps the webhook away from kube-system. The API server labels
/// every namespace with `kubernetes.io/metadata.name` (since 1.21), so that label is the reliable
/// way to name a namespace; a `matchLabels` that kube-system lacks excludes it as well, unless it
/// names kube-system itself.
fn excludes_kube_system(selector: Option<&Node>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return false;
    };
    const NAME: &str = "kubernetes.io/metadata.name";
    for expr in selector.seq_at("matchExpressions") {
        let key = expr.str_at(&["key"]).unwrap_or("");
        let op = expr.str_at(&["operator"]).unwrap_or("");
        let values: Vec<&str> = expr
            .seq_at("values")
            .iter()
            .filter_map(Node::as_str)
            .collect();
        match (key, op) {
            (NAME, "NotIn") if values.contains(&"kube-system") => return true,
            (NAME, "In") if !values.contains(&"kube-system") => return true,
            // Opt-in labels (`webhook: enabled` with `Exists`/`In`) that kube-system does not carry
            // by default also keep it out; opt-out labels (`DoesNotExist`, `NotIn`) do not.
            (k, "Exists" | "In") if k != NAME && !k.is_empty() => return true,
            _ => {}
        }
    }
    selector.get("matchLabels").is_some_and(|labels| {
        labels
            .as_map()
            .iter()
            .any(|(k, v)| k != NAME || v.as_str() != Some("kube-system"))
    })
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        for object in cx.index.of_kind(kind) {
            if object.group() != "admissionregistration.k8s.io" {
                continue;
            }
            for hook in object.root.seq_at("webhooks") {
                let name = hook.str_at(&["name"]).unwrap_or("?");
                let policy = hook.get("failurePolicy");
                if policy.and_then(Node::as_str).unwrap_or("Fail") != "Fail" {
                    continue;
                }
                let mut problems: Vec<String> = Vec::new();
                let mut at = policy.unwrap_or(hook);
                if !excludes_kube_system(hook.get("namespaceSelector")) {
                    problems.push("kube-system is not excluded by `namespaceSelector`".into());
                    at = hook.get("namespaceSelector").unwrap_or(at);
                }
                let timeout = hook.get("timeoutSeconds");
                match timeout.and_then(Node::as_i64) {
                    Some(t) if t > MAX_TIMEOUT => {
                        problems.push(format!("`timeoutSeconds: {t}` holds each write up to {t} s"));
                        at = timeout.unwrap_or(at);
                    }
                    None => problems.push(format!(
                        "`timeoutSeconds` is unset: each write may wait the default {DEFAULT_TIMEOUT} s"
                    )),
                    Some(_) => {}
                }
                if let Some(rule) = hook.seq_at("rules").iter().find(|r| {
                    r.seq_at("resources")
                        .iter()
                        .any(|res| res.as_str().is_some_and(|s| s == "*" || s == "*/*"))
                }) {
                    problems.push("a rule matches every resource (`*`)".into());
                    at = rule.get("resources").unwrap_or(at);
                }
                if problems.is_empty() {
                    continue;
                }
                let policy_text = if policy.is_some() {
                    "`failurePolicy: Fail`"
                } else {
                    "`failurePolicy` unset (Fail)"
                };
                out.report(
                    object,
                    None,
                    Some(at),
                    format!(
                        "webhook `{name}` with {policy_text} can block the cluster while it is down: {}",
                        problems.join("; ")
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check as run;

    fn hook(body: &str) -> String {
        format!(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {{name: p}}\nwebhooks:\n- name: p.example.com\n  admissionReviewVersions: [v1]\n  sideEffects: None\n  clientConfig: {{service: {{name: p, namespace: p}}}}\n  rules:\n  - {{apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}}\n{body}"
        )
    }

    const SCOPED: &str = "  namespaceSelector:\n    matchExpressions:\n    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, p]}\n";

    #[test]
    fn fires_on_the_default_failure_policy_without_exclusion() {
        let f = run(&RULE, &hook("  timeoutSeconds: 5\n"));
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("`failurePolicy` unset (Fail)"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("kube-system is not excluded"));
        assert_eq!(f[0].severity, Severity::High);
    }

    #[test]
    fn fires_on_long_or_default_timeout_even_when_scoped() {
        let long = run(
            &RULE,
            &hook(&format!(
                "  failurePolicy: Fail\n  timeoutSeconds: 30\n{SCOPED}"
            )),
        );
        assert_eq!(long.len(), 1);
        assert!(
            long[0].message.contains("`timeoutSeconds: 30`"),
            "{}",
            long[0].message
        );
        assert_eq!(long[0].location.line, 12, "points at timeoutSeconds");
        let unset = run(&RULE, &hook(SCOPED));
        assert_eq!(unset.len(), 1);
        assert!(unset[0].message.contains("default 10 s"));
    }

    #[test]
    fn fires_on_wildcard_resources() {
        let f = run(&RULE, RULE.meta.example);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("every resource"));
        let mutating = hook(&format!("  timeoutSeconds: 3\n{SCOPED}"))
            .replace(
                "ValidatingWebhookConfiguration",
                "MutatingWebhookConfiguration",
            )
            .replace("resources: [deployments]", "resources: ['*']");
        assert_eq!(run(&RULE, &mutating).len(), 1);
    }

    #[test]
    fn selector_that_names_kube_system_does_not_exclude_it() {
        let opt_out = "  timeoutSeconds: 5\n  namespaceSelector:\n    matchExpressions:\n    - {key: kubernetes.io/metadata.name, operator: In, values: [kube-system, prod]}\n";
        assert_eq!(run(&RULE, &hook(opt_out)).len(), 1);
        let does_not_exist = "  timeoutSeconds: 5\n  namespaceSelector:\n    matchExpressions:\n    - {key: skip-webhook, operator: DoesNotExist}\n";
        assert_eq!(run(&RULE, &hook(does_not_exist)).len(), 1);
    }

    #[test]
    fn passes_when_scoped_and_short() {
        assert!(
            run(
                &RULE,
                &hook(&format!(
                    "  failurePolicy: Fail\n  timeoutSeconds: 5\n{SCOPED}"
                ))
            )
            .is_empty()
        );
        let opt_in =
            "  timeoutSeconds: 5\n  namespaceSelector:\n    matchLabels: {hindsight: enabled}\n";
        assert!(run(&RULE, &hook(opt_in)).is_empty());
    }

    #[test]
    fn passes_when_failing_open() {
        assert!(
            run(
                &RULE,
                &hook("  failurePolicy: Ignore\n  timeoutSeconds: 30\n")
            )
            .is_empty()
        );
        let wildcard_ignore = RULE.meta.example.replace(
            "  sideEffects: None\n",
            "  sideEffects: None\n  failurePolicy: Ignore\n",
        );
        assert!(run(&RULE, &wildcard_ignore).is_empty());
    }
}
