//! `change.external-snat-flipped`: the AWS VPC CNI's external SNAT changes meaning.
//!
//! Values are read as the CNI reads them (`aws_cni::external_snat::parse_bool`, Go's
//! `strconv.ParseBool`; unset, empty or unparsable mean false), so `"true"` → `"yes"` is a flip.

use crate::node::{Node, Value};
use crate::rules::aws_cni::external_snat::{EXTERNAL_SNAT, cni_container, env, parse_bool};
use crate::rules::change::{ChangeRule, DiffContext, DiffSink, ValueChange};
use crate::rules::{Meta, Needs, Severity};
use crate::stories::Story;

pub static RULE: ChangeRule = ChangeRule {
    meta: Meta {
        id: "change.external-snat-flipped",
        title: "AWS VPC CNI external SNAT changes meaning",
        severity: Severity::High,
        stories: &[Story::MindTickle],
        needs: Needs::Diff,
        rationale: "`AWS_VPC_K8S_CNI_EXTERNALSNAT` decides whether the CNI translates pod traffic \
            leaving the VPC to the node's address. MindTickle's pods in private subnets could not \
            reliably reach anything outside the cluster after moving to EKS until AWS had them set it \
            to `true`; turning it back off brings the retransmissions and failed connections back. \
            Turning it on is no safer: pods in public subnets without a NAT gateway then lose \
            internet access. The CNI parses the value with Go's `strconv.ParseBool`, so `yes`, `on` \
            or `\"true \"` silently mean false; a change to such a spelling is a flip too.",
        remediation: "Change external SNAT only together with the network path it depends on \
            (NAT gateway routes, peering, VPN, Direct Connect), roll `aws-node` node by node and \
            watch TCP retransmissions (`node_netstat_Tcp_RetransSegs`). Write the value as \
            `\"true\"` or `\"false\"`.",
        example: r#"apiVersion: apps/v1
kind: DaemonSet
metadata: {name: aws-node, namespace: kube-system}
spec:
  template:
    spec:
      containers:
      - name: aws-node
        image: 602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.0
        env:
        - {name: AWS_VPC_K8S_CNI_EXTERNALSNAT, value: "true"}
# ---- after ----
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: aws-node, namespace: kube-system}
spec:
  template:
    spec:
      containers:
      - name: aws-node
        image: 602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.19.0
        env:
        - {name: AWS_VPC_K8S_CNI_EXTERNALSNAT, value: "yes"}
"#,
    },
    check,
};

/// What the CNI makes of the entry; `None` when it cannot be known statically (`valueFrom`).
fn meaning(entry: Option<&Node>) -> Option<bool> {
    let Some(e) = entry else {
        return Some(false);
    };
    if e.get("valueFrom").is_some_and(|v| !v.is_null()) {
        return None;
    }
    match e.get("value").map(|v| &v.value) {
        None | Some(Value::Null) => Some(false),
        Some(Value::Str(s)) => Some(parse_bool(s).unwrap_or(false)),
        // A bare boolean is rejected by the API server (an input error on that side).
        Some(_) => None,
    }
}

fn value(e: Option<&Node>) -> Option<&Node> {
    e.and_then(|e| e.get("value"))
}

fn check(cx: &DiffContext<'_>, out: &mut DiffSink) {
    for (wb, wa) in cx.changed_workloads() {
        if wa.object.kind != "DaemonSet" {
            continue;
        }
        let (Some(cb), Some(ca)) = (cni_container(wb), cni_container(wa)) else {
            continue;
        };
        let (eb, ea) = (env(&cb, EXTERNAL_SNAT), env(&ca, EXTERNAL_SNAT));
        let (Some(before), Some(after)) = (meaning(eb), meaning(ea)) else {
            continue;
        };
        if before == after {
            continue;
        }
        let raw = ea.and_then(|e| e.str_at(&["value"]));
        let silently = match raw {
            Some(s) if !s.is_empty() && parse_bool(s).is_none() => format!(
                " (`{s}` is not a value Go's ParseBool accepts: the CNI logs an error and uses false)"
            ),
            _ => String::new(),
        };
        let message = if after {
            format!(
                "external SNAT turns on in `{}`: the CNI stops translating pod traffic leaving the \
                 VPC, so pods in public subnets lose internet access unless a NAT gateway routes it",
                wa.object.name
            )
        } else {
            format!(
                "external SNAT turns off in `{}`{silently}: pod traffic leaving the VPC is translated \
                 to the node's address again, which breaks peering, VPN and NAT-gateway paths as at MindTickle",
                wa.object.name
            )
        };
        out.report(
            wa.object,
            Some(ca.name),
            ea.or(Some(ca.node)),
            message,
            vec![
                ValueChange::new(format!("env {EXTERNAL_SNAT}"), value(eb), value(ea)),
                ValueChange::text(
                    "as the CNI reads it",
                    Some(before.to_string()),
                    Some(after.to_string()),
                ),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::change::check as run;

    fn ds(env: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: aws-node, namespace: kube-system}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: aws-node\n        image: amazon/amazon-k8s-cni:v1.18.0\n        env:\n        - {{name: OTHER, value: x}}\n{env}"
        )
    }

    fn snat(v: &str) -> String {
        format!("        - {{name: AWS_VPC_K8S_CNI_EXTERNALSNAT, value: {v}}}\n")
    }

    #[test]
    fn fires_when_the_meaning_flips() {
        assert_eq!(run(&RULE, &ds(&snat("'true'")), &ds("")).len(), 1);
        assert_eq!(
            run(&RULE, &ds(&snat("'true'")), &ds(&snat("'false'"))).len(),
            1
        );
        assert_eq!(run(&RULE, &ds(""), &ds(&snat("'True'"))).len(), 1);
        let r = run(&RULE, &ds(&snat("'1'")), &ds(&snat("'on'")));
        assert_eq!(r.len(), 1);
        assert!(
            r[0].finding.message.contains("`on` is not a value"),
            "{}",
            r[0].finding.message
        );
        assert_eq!(
            r[0].changes[1],
            ValueChange::text(
                "as the CNI reads it",
                Some("true".into()),
                Some("false".into())
            )
        );
    }

    #[test]
    fn near_misses_pass() {
        // Same meaning, different spelling.
        assert!(run(&RULE, &ds(&snat("'true'")), &ds(&snat("'T'"))).is_empty());
        assert!(run(&RULE, &ds(&snat("'false'")), &ds(&snat("'yes'"))).is_empty());
        assert!(run(&RULE, &ds(""), &ds(&snat("''"))).is_empty());
        // Read from a ConfigMap: unknown statically.
        assert!(
            run(
                &RULE,
                &ds(&snat("'true'")),
                &ds("        - {name: AWS_VPC_K8S_CNI_EXTERNALSNAT, valueFrom: {configMapKeyRef: {name: c, key: k}}}\n")
            )
            .is_empty()
        );
    }
}
