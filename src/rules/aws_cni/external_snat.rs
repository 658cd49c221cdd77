//! `aws-cni.external-snat`: how the AWS VPC CNI will really read its SNAT switches.

use crate::model::{Container, ContainerKind, Workload};
use crate::node::{Node, Value};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "aws-cni.external-snat",
        title: "AWS VPC CNI external SNAT is off, or set to a value the CNI reads as off",
        severity: Severity::High,
        stories: &[Story::MindTickle],
        needs: Needs::Manifests,
        rationale: "With `AWS_VPC_K8S_CNI_EXTERNALSNAT` false (the default), the CNI translates traffic \
            from pods to any address outside the VPC to the node's primary IP. That is right for nodes in \
            public subnets, but pods in private subnets behind a NAT gateway, or talking to networks \
            reached over VPC peering, Transit Gateway, Direct Connect or VPN, then go through two NATs or \
            reach peers with the wrong source address. MindTickle hit exactly this after moving to EKS: \
            calls from pods to hosts outside the cluster failed or crawled with retransmissions until \
            AWS support had them set the variable to true. The CNI parses it with Go's \
            `strconv.ParseBool`: only `1 t T TRUE true True` and `0 f F FALSE false False` are valid and \
            an empty value means the default. Anything else (`yes`, `on`, `enabled`, `\"true \"` with a \
            space) is logged once by ipamd and silently treated as false, which is reported at high. An \
            unquoted YAML `value: true` is a YAML boolean that the API server rejects; hindsight reports \
            that as an input error, and this rule does not read it as true. A value from `valueFrom` or \
            `envFrom` cannot be known from the manifest (info). Absent or false is a review item (low): \
            correct only when nodes have public IPs or nothing outside the VPC needs to see pod \
            addresses. `AWS_VPC_K8S_CNI_RANDOMIZESNAT` accepts `prng`, `hashrandom` or `none`; anything \
            else is logged and replaced by `prng` (low).",
        remediation: "If pods run in private subnets whose route to the internet is a NAT gateway, or \
            must be reached from or reach networks over peering, Transit Gateway, Direct Connect or VPN, \
            set `AWS_VPC_K8S_CNI_EXTERNALSNAT` to the quoted string \"true\" on the `aws-node` DaemonSet \
            (Helm: `env.AWS_VPC_K8S_CNI_EXTERNALSNAT`). Write booleans exactly as `\"true\"` or \
            `\"false\"`, quoted. Then check ipamd's log for `Failed to parse`.",
        example: r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: aws-node
  namespace: kube-system
spec:
  selector:
    matchLabels: {k8s-app: aws-node}
  template:
    metadata:
      labels: {k8s-app: aws-node}
    spec:
      hostNetwork: true
      containers:
      - name: aws-node
        image: 602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.1
        env:
        - name: AWS_VPC_K8S_CNI_EXTERNALSNAT
          value: "yes"
"#,
    },
    check,
};

pub(crate) const EXTERNAL_SNAT: &str = "AWS_VPC_K8S_CNI_EXTERNALSNAT";
const RANDOMIZE_SNAT: &str = "AWS_VPC_K8S_CNI_RANDOMIZESNAT";

/// Go's `strconv.ParseBool`, exactly: no trimming, no other spellings.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Whether an image is the CNI's main image (not `amazon-k8s-cni-init`).
fn is_cni_image(image: &str) -> bool {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split(':').next() == Some("amazon-k8s-cni")
}

/// The CNI container of a DaemonSet, if this DaemonSet runs the AWS VPC CNI.
pub(crate) fn cni_container<'a>(w: &Workload<'a>) -> Option<Container<'a>> {
    let regular = || w.containers().filter(|c| c.kind == ContainerKind::Regular);
    if let Some(c) = regular().find(|c| is_cni_image(c.image())) {
        return Some(c);
    }
    let o = w.object;
    if o.name == "aws-node" && o.namespace_or_default() == "kube-system" {
        return regular()
            .find(|c| c.name == "aws-node")
            .or_else(|| regular().next());
    }
    None
}

/// The last `env` entry with this name (the last one wins when a name repeats).
pub(crate) fn env<'a>(c: &Container<'a>, name: &str) -> Option<&'a Node> {
    c.node
        .seq_at("env")
        .iter()
        .rev()
        .find(|e| e.str_at(&["name"]) == Some(name))
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    // Live state: nodes without an ExternalIP sit in private subnets, whose route out is a NAT
    // gateway — exactly where external SNAT matters (MindTickle's nodes). Empty on manifests.
    let nodes = crate::model::cluster::nodes_by_name(&cx.index);
    let mut private: Vec<&str> = nodes
        .iter()
        .filter(|(_, n)| crate::model::cluster::has_external_ip(n) == Some(false))
        .map(|(name, _)| *name)
        .collect();
    private.sort_unstable();
    for w in cx
        .index
        .workloads
        .iter()
        .filter(|w| w.object.kind == "DaemonSet")
    {
        let Some(c) = cni_container(w) else {
            continue;
        };
        let has_env_from = !c.node.seq_at("envFrom").is_empty();
        let name = c.name;
        let before = out.findings.len();
        let mut snat_off = false;
        match env(&c, EXTERNAL_SNAT) {
            Some(e) if e.get("valueFrom").is_some_and(|v| !v.is_null()) => {
                out.report(
                    w.object,
                    Some(name),
                    e.get("valueFrom"),
                    format!(
                        "`{EXTERNAL_SNAT}` comes from `valueFrom`: its value cannot be known from the \
                         manifest; check that it is exactly \"true\" or \"false\""
                    ),
                )
                .severity = Severity::Info;
            }
            Some(e) => match e.get("value").map(|v| &v.value) {
                Some(Value::Str(s)) if !s.is_empty() => match parse_bool(s) {
                    Some(true) => {}
                    Some(false) => {
                        snat_off = true;
                        review(out, w, name, e, &format!("is \"{s}\""))
                    }
                    None => {
                        out.report(
                            w.object,
                            Some(name),
                            e.get("value"),
                            format!(
                                "`{EXTERNAL_SNAT}` is \"{s}\", which Go's strconv.ParseBool rejects: the \
                                 CNI logs an error and silently uses false, so pod traffic leaving the \
                                 VPC is still translated to the node's IP"
                            ),
                        );
                    }
                },
                // Empty or absent value: the CNI uses its default, false.
                None | Some(Value::Str(_) | Value::Null) => {
                    snat_off = true;
                    review(out, w, name, e, "is empty, so the default (false) applies");
                }
                // A YAML boolean or number: the API server rejects the object and the loader has
                // already reported it. Do not guess what the user meant.
                Some(_) => {}
            },
            None if has_env_from => {
                out.report(
                    w.object,
                    Some(name),
                    c.node.get("envFrom"),
                    format!(
                        "`{EXTERNAL_SNAT}` is not in `env` and the container reads `envFrom`: its \
                         value cannot be known from the manifest"
                    ),
                )
                .severity = Severity::Info;
            }
            None => {
                snat_off = true;
                out.report(
                    w.object,
                    Some(name),
                    c.node.get("env").or(Some(c.node)),
                    format!(
                        "`{EXTERNAL_SNAT}` is not set, so external SNAT is off: review whether pods in \
                         private subnets behind a NAT gateway, or peers over VPC peering, Transit \
                         Gateway, Direct Connect or VPN, need to see pod IPs"
                    ),
                )
                .severity = Severity::Low;
            }
        }
        if snat_off
            && !private.is_empty()
            && let Some(f) = out.findings.get_mut(before)
        {
            let shown: Vec<&str> = private.iter().take(5).copied().collect();
            f.severity = f.severity.max(Severity::Medium);
            f.message.push_str(&format!(
                "; {} of {} nodes have no ExternalIP ({}{}): they sit in private subnets behind NAT, \
                 where external SNAT off means pod traffic leaving the VPC is translated twice",
                private.len(),
                nodes.len(),
                shown.join(", "),
                if private.len() > shown.len() { ", …" } else { "" }
            ));
        }
        if let Some(e) = env(&c, RANDOMIZE_SNAT)
            && let Some(s) = e.str_at(&["value"])
            && !matches!(s, "" | "prng" | "hashrandom" | "none")
        {
            out.report(
                w.object,
                Some(name),
                e.get("value"),
                format!(
                    "`{RANDOMIZE_SNAT}` is \"{s}\", which the CNI does not know: it logs an error and \
                     uses `prng` (only `prng`, `hashrandom` and `none` are valid)"
                ),
            )
            .severity = Severity::Low;
        }
    }
}

fn review(out: &mut Sink, w: &Workload<'_>, container: &str, e: &Node, what: &str) {
    out.report(
        w.object,
        Some(container),
        e.get("value").or(Some(e)),
        format!(
            "`{EXTERNAL_SNAT}` {what}: external SNAT is off; correct only if nodes sit in public \
             subnets or nothing outside the VPC (NAT gateway, peering, Transit Gateway, Direct Connect, \
             VPN) needs pod IPs"
        ),
    )
    .severity = Severity::Low;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check as run;

    fn aws_node(env: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: aws-node, namespace: kube-system}}\nspec:\n  template:\n    spec:\n      initContainers:\n      - name: aws-vpc-cni-init\n        image: 602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni-init:v1.18.1\n      containers:\n      - name: aws-node\n        image: 602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.1\n{env}"
        )
    }

    fn snat(value: &str) -> String {
        aws_node(&format!(
            "        env:\n        - name: AWS_VPC_K8S_CNI_EXTERNALSNAT\n          value: {value}\n"
        ))
    }

    fn severities(yaml: &str) -> Vec<Severity> {
        run(&RULE, yaml).into_iter().map(|f| f.severity).collect()
    }

    #[test]
    fn invalid_spellings_are_silently_false_and_high() {
        for v in [
            "\"yes\"",
            "\"on\"",
            "\"enabled\"",
            "\"true \"",
            "\"Yes\"",
            "\"tRuE\"",
        ] {
            let f = run(&RULE, &snat(v));
            assert_eq!(f.len(), 1, "{v}");
            assert_eq!(f[0].severity, Severity::High, "{v}");
            assert!(
                f[0].message.contains("silently uses false"),
                "{}",
                f[0].message
            );
            assert_eq!(f[0].location.line, 15);
            assert_eq!(f[0].container.as_deref(), Some("aws-node"));
        }
    }

    #[test]
    fn valid_true_passes() {
        for v in [
            "\"true\"", "\"1\"", "\"T\"", "\"TRUE\"", "\"True\"", "\"t\"",
        ] {
            assert!(run(&RULE, &snat(v)).is_empty(), "{v}");
        }
    }

    #[test]
    fn false_empty_and_absent_are_low_review_items() {
        for v in ["\"false\"", "\"0\"", "\"F\"", "\"\""] {
            assert_eq!(severities(&snat(v)), [Severity::Low], "{v}");
        }
        let f = run(&RULE, &aws_node(""));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Low);
        assert!(f[0].message.contains("not set"));
    }

    #[test]
    fn private_nodes_in_live_state_raise_the_review_item() {
        let node = |name: &str, addresses: &str| {
            format!(
                "---\napiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\nstatus:\n  addresses: [{addresses}]\n"
            )
        };
        let private = format!(
            "{}{}{}",
            snat("\"false\""),
            node("ip-10-0-1-5", "{type: InternalIP, address: 10.0.1.5}"),
            node(
                "ip-10-0-2-7",
                "{type: InternalIP, address: 10.0.2.7}, {type: Hostname, address: ip-10-0-2-7}"
            ),
        );
        let f = run(&RULE, &private);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(
            f[0].message
                .contains("2 of 2 nodes have no ExternalIP (ip-10-0-1-5, ip-10-0-2-7)"),
            "{}",
            f[0].message
        );
        // Nodes with public addresses: external SNAT off is fine there, the item stays low.
        let public = format!(
            "{}{}",
            snat("\"false\""),
            node(
                "ip-10-0-1-5",
                "{type: InternalIP, address: 10.0.1.5}, {type: ExternalIP, address: 54.1.2.3}"
            ),
        );
        assert_eq!(severities(&public), [Severity::Low]);
    }

    #[test]
    fn value_from_and_env_from_are_unknown() {
        let vf = aws_node(
            "        env:\n        - name: AWS_VPC_K8S_CNI_EXTERNALSNAT\n          valueFrom: {configMapKeyRef: {name: cni, key: snat}}\n",
        );
        assert_eq!(severities(&vf), [Severity::Info]);
        let ef = aws_node("        envFrom:\n        - configMapRef: {name: cni}\n");
        assert_eq!(severities(&ef), [Severity::Info]);
    }

    #[test]
    fn the_last_duplicate_wins() {
        let y = aws_node(
            "        env:\n        - {name: AWS_VPC_K8S_CNI_EXTERNALSNAT, value: \"yes\"}\n        - {name: AWS_VPC_K8S_CNI_EXTERNALSNAT, value: \"true\"}\n",
        );
        assert!(run(&RULE, &y).is_empty());
    }

    #[test]
    fn unknown_randomize_snat_is_low() {
        let y = aws_node(
            "        env:\n        - {name: AWS_VPC_K8S_CNI_EXTERNALSNAT, value: \"true\"}\n        - {name: AWS_VPC_K8S_CNI_RANDOMIZESNAT, value: \"random\"}\n",
        );
        let f = run(&RULE, &y);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Low);
        assert!(f[0].message.contains("prng"));
        let ok = y.replace("\"random\"", "hashrandom");
        assert!(run(&RULE, &ok).is_empty());
    }

    #[test]
    fn an_unquoted_yaml_boolean_is_a_load_error_and_never_read_as_true() {
        let y = snat("true");
        let loaded = crate::load::load_bytes(std::sync::Arc::from("t.yaml"), y.as_bytes(), None);
        assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
        assert!(loaded.errors[0].message.contains("YAML boolean"));
        let cx = Context::new(&loaded.objects);
        let mut sink = Sink::new(&RULE.meta);
        (RULE.check)(&cx, &mut sink);
        assert!(
            sink.findings
                .iter()
                .all(|f| !f.message.contains("is \"true\"") && f.severity != Severity::High),
            "{:?}",
            sink.findings
        );
    }

    #[test]
    fn other_daemonsets_are_ignored_and_renamed_cni_daemonsets_are_found() {
        let other = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: node-exporter, namespace: kube-system}\nspec:\n  template:\n    spec:\n      containers: [{name: x, image: prom/node-exporter}]\n";
        assert!(run(&RULE, other).is_empty());
        let renamed = snat("\"on\"").replace(
            "name: aws-node, namespace: kube-system",
            "name: cni, namespace: net",
        );
        assert_eq!(severities(&renamed), [Severity::High]);
    }

    #[test]
    fn real_cni_manifests_are_review_items_only() {
        let Some(dir) = crate::rules::shared_corpus("real/amazon-vpc-cni-k8s/config") else {
            eprintln!("notice: ../shared/corpus absent; skipping the real AWS VPC CNI check");
            return;
        };
        let loaded =
            crate::load::load(&[crate::load::Input::parse(dir.to_str().expect("utf-8 path"))]);
        let cx = Context::new(&loaded.objects);
        let mut sink = Sink::new(&RULE.meta);
        (RULE.check)(&cx, &mut sink);
        // Every shipped aws-node DaemonSet leaves external SNAT off: "false" from v1.7 on, unset
        // before. None is invalid, so nothing is high.
        assert!(sink.findings.len() >= 10, "{}", sink.findings.len());
        assert!(sink.findings.iter().all(|f| f.severity == Severity::Low));
        let master = sink
            .findings
            .iter()
            .find(|f| f.location.file.ends_with("config/master/aws-k8s-cni.yaml"))
            .expect("a finding on the current manifest");
        assert!(
            master.message.contains("is \"false\""),
            "{}",
            master.message
        );
        let v1_0 = sink
            .findings
            .iter()
            .find(|f| f.location.file.ends_with("config/v1.0/aws-k8s-cni.yaml"))
            .expect("a finding on v1.0");
        assert!(v1_0.message.contains("not set"), "{}", v1_0.message);
    }
}
