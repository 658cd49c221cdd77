//! `change.made-public`: a Service becomes reachable from outside the cluster.
//!
//! The verdict on each side is `exposure::reach::reach`, the decision the exposure scan rules
//! use (controllers' exact annotation comparisons, source ranges, live status), so a diff and a
//! scan never disagree about what "public" means.

use crate::load::Object;
use crate::rules::change::{ChangeRule, DiffContext, DiffSink, ValueChange};
use crate::rules::exposure::admin_ui;
use crate::rules::exposure::reach::{Reach, parse_cidr, reach, within};
use crate::rules::{Meta, Needs, Severity};
use crate::stories::Story;

pub static RULE: ChangeRule = ChangeRule {
    meta: Meta {
        id: "change.made-public",
        title: "Service made reachable from outside the cluster",
        severity: Severity::High,
        stories: &[Story::JwPlayer],
        needs: Needs::Diff,
        rationale: "Exposure usually arrives as a one-line change: `type: ClusterIP` becomes \
            `LoadBalancer` to debug something, an internal load-balancer annotation is dropped in a \
            refactor, `loadBalancerSourceRanges` is widened to `0.0.0.0/0`. At JW Player the Weave \
            Scope UI, which has no authentication and offers shells into every container, sat on a \
            public AWS load balancer; a crypto miner was started through it on every node. On AWS \
            the in-tree controller makes a load balancer internet-facing unless the internal \
            annotation is set, so removing that annotation is enough. Critical when the Service \
            selects an admin UI (Weave Scope, dashboards, Jupyter, Argo, Grafana, ...); medium for \
            a NodePort, which is public only when nodes have public addresses.",
        remediation: "Keep the Service internal: `type: ClusterIP` behind an authenticated \
            Ingress, or an internal load balancer (`service.beta.kubernetes.io/aws-load-balancer-scheme: \
            internal`, `networking.gke.io/load-balancer-type: Internal`, \
            `service.beta.kubernetes.io/azure-load-balancer-internal: \"true\"`), and restrict \
            `loadBalancerSourceRanges` to the networks that need it. Admin UIs belong behind \
            `kubectl port-forward` or an authenticating proxy.",
        example: r#"apiVersion: v1
kind: Service
metadata: {name: weave-scope-app, namespace: weave}
spec:
  selector: {app: weave-scope}
  ports: [{port: 80, targetPort: 4040}]
# ---- after ----
apiVersion: v1
kind: Service
metadata: {name: weave-scope-app, namespace: weave}
spec:
  type: LoadBalancer
  selector: {app: weave-scope}
  ports: [{port: 80, targetPort: 4040}]
"#,
    },
    check,
};

fn level(r: &Reach) -> u8 {
    match r {
        Reach::ClusterOnly => 0,
        Reach::Internal(_) => 1,
        Reach::NodePort => 2,
        Reach::Public(_) => 3,
    }
}

/// Annotations that decide whether a load balancer is internal, on any cloud.
fn decides_scheme(key: &str) -> bool {
    key.starts_with("service.beta.kubernetes.io/")
        || key.starts_with("service.kubernetes.io/")
        || key.starts_with("networking.gke.io/")
        || key.starts_with("cloud.google.com/")
        || key.starts_with("load-balancer.hetzner.cloud/")
        || key.starts_with("oci-network-load-balancer.oraclecloud.com/")
}

/// The before → after values that explain a change of reach.
fn values(b: &Object, a: &Object) -> Vec<ValueChange> {
    let mut out = vec![ValueChange::new(
        "spec.type",
        b.spec().get("type"),
        a.spec().get("type"),
    )];
    let annotations = |o: &Object| {
        o.root
            .path(&["metadata", "annotations"])
            .map(|n| n.as_map().to_vec())
            .unwrap_or_default()
    };
    let (ab, aa) = (annotations(b), annotations(a));
    let mut keys: Vec<&crate::node::Str> = ab.iter().chain(&aa).map(|(k, _)| k).collect();
    keys.sort();
    keys.dedup();
    for key in keys.into_iter().filter(|k| decides_scheme(k)) {
        out.push(ValueChange::new(
            format!("metadata.annotations.{key}"),
            b.root.path(&["metadata", "annotations", key]),
            a.root.path(&["metadata", "annotations", key]),
        ));
    }
    out.push(ValueChange::new(
        "spec.loadBalancerSourceRanges",
        b.spec().get("loadBalancerSourceRanges"),
        a.spec().get("loadBalancerSourceRanges"),
    ));
    out.into_iter().filter(|v| v.before != v.after).collect()
}

/// Source ranges of `after` that no range of `before` contains.
fn widened(before: &[String], after: &[String]) -> Vec<String> {
    after
        .iter()
        .filter(|r| {
            let Some((addr, len)) = parse_cidr(r) else {
                return false;
            };
            !before.iter().any(|old| {
                parse_cidr(old)
                    .is_some_and(|(range, range_len)| within(addr, len, range, range_len))
            })
        })
        .cloned()
        .collect()
}

fn check(cx: &DiffContext<'_>, out: &mut DiffSink) {
    for (b, a) in cx
        .changed()
        .filter(|(b, a)| b.kind == "Service" && a.kind == "Service")
    {
        let (rb, ra) = (
            reach(b, &cx.before.params.exposure),
            reach(a, &cx.after.params.exposure),
        );
        let what = match (&rb, &ra) {
            (_, Reach::Public(p)) if level(&rb) < 3 => format!(
                "Service `{}` becomes a public load balancer ({}){}",
                a.name,
                p.basis,
                if p.source_ranges.is_empty() {
                    ", open to every address".to_owned()
                } else {
                    format!(", for {}", p.source_ranges.join(", "))
                }
            ),
            (_, Reach::NodePort) if level(&rb) < 2 => format!(
                "Service `{}` becomes a NodePort: reachable from outside wherever nodes have public addresses",
                a.name
            ),
            (Reach::Public(pb), Reach::Public(pa)) => {
                if !pb.source_ranges.is_empty() && pa.source_ranges.is_empty() {
                    format!(
                        "load balancer `{}` loses its source ranges ({}): open to every address",
                        a.name,
                        pb.source_ranges.join(", ")
                    )
                } else {
                    let wider = widened(&pb.source_ranges, &pa.source_ranges);
                    if pb.source_ranges.is_empty() || wider.is_empty() {
                        continue;
                    }
                    format!(
                        "load balancer `{}` admits new source ranges {}",
                        a.name,
                        wider.join(", ")
                    )
                }
            }
            _ => continue,
        };
        let ui = admin_ui::behind(&cx.after.index, a, &cx.after.params.exposure);
        let message = match &ui {
            Some(ui) if ui.product == admin_ui::CONFIGURED => {
                format!("{what}; it exposes {}", ui.product)
            }
            Some(ui) => format!("{what}; it exposes {}, an admin UI", ui.product),
            None => what,
        };
        let at = a
            .spec()
            .get("type")
            .or_else(|| a.spec().get("loadBalancerSourceRanges"));
        let severity = if ui.is_some() {
            Severity::Critical
        } else if matches!(ra, Reach::NodePort) {
            Severity::Medium
        } else {
            Severity::High
        };
        out.report(a, None, at, message, values(b, a)).severity = severity;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::change::check as run;

    fn svc(spec: &str, annotations: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  annotations: {{{annotations}}}\nspec:\n  selector: {{app: api}}\n  ports: [{{port: 443}}]\n{spec}"
        )
    }

    fn severities(b: &str, a: &str) -> Vec<Severity> {
        run(&RULE, b, a)
            .into_iter()
            .map(|r| r.finding.severity)
            .collect()
    }

    const INTERNAL: &str = "service.beta.kubernetes.io/aws-load-balancer-internal: 'true'";

    #[test]
    fn fires_when_a_service_goes_public() {
        assert_eq!(
            severities(&svc("", ""), &svc("  type: LoadBalancer\n", "")),
            [Severity::High]
        );
        assert_eq!(
            severities(&svc("", ""), &svc("  type: NodePort\n", "")),
            [Severity::Medium]
        );
        // The internal annotation removed.
        let r = run(
            &RULE,
            &svc("  type: LoadBalancer\n", INTERNAL),
            &svc("  type: LoadBalancer\n", ""),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].changes,
            vec![ValueChange::text(
                "metadata.annotations.service.beta.kubernetes.io/aws-load-balancer-internal",
                Some("true".into()),
                None
            )]
        );
    }

    #[test]
    fn fires_when_source_ranges_widen_or_go() {
        let lb = |ranges: &str| {
            svc(
                &format!("  type: LoadBalancer\n  loadBalancerSourceRanges: [{ranges}]\n"),
                "",
            )
        };
        assert_eq!(
            severities(&lb("203.0.113.0/24"), &svc("  type: LoadBalancer\n", "")),
            [Severity::High]
        );
        assert_eq!(
            severities(
                &lb("203.0.113.0/24"),
                &lb("203.0.113.0/24, 198.51.100.0/24")
            ),
            [Severity::High]
        );
        // Only private ranges before: the load balancer was internal; now it is not.
        assert_eq!(
            severities(&lb("10.0.0.0/8"), &lb("0.0.0.0/0")),
            [Severity::High]
        );
    }

    #[test]
    fn near_misses_pass() {
        // Narrowed ranges.
        let lb = |ranges: &str| {
            svc(
                &format!("  type: LoadBalancer\n  loadBalancerSourceRanges: [{ranges}]\n"),
                "",
            )
        };
        assert!(severities(&lb("203.0.113.0/24"), &lb("203.0.113.0/25")).is_empty());
        // Made internal, or an internal load balancer edited.
        assert!(
            severities(
                &svc("  type: LoadBalancer\n", ""),
                &svc("  type: LoadBalancer\n", INTERNAL)
            )
            .is_empty()
        );
        assert!(
            severities(
                &svc("  type: LoadBalancer\n", INTERNAL),
                &svc(
                    "  type: LoadBalancer\n  externalTrafficPolicy: Local\n",
                    INTERNAL
                )
            )
            .is_empty()
        );
        // A ClusterIP Service edited.
        assert!(severities(&svc("", ""), &svc("  sessionAffinity: ClientIP\n", "")).is_empty());
    }

    #[test]
    fn critical_when_it_selects_an_admin_ui() {
        let scope = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: weave-scope-app, namespace: weave}\nspec:\n  template:\n    metadata: {labels: {app: weave-scope}}\n    spec: {containers: [{name: app, image: 'weaveworks/scope:1.13.2', ports: [{containerPort: 4040}]}]}\n";
        let (b, a) = crate::rules::change::example_sides(&RULE);
        let risks = run(&RULE, &format!("{b}{scope}"), &format!("{a}{scope}"));
        assert_eq!(risks.len(), 1);
        assert_eq!(risks[0].finding.severity, Severity::Critical);
        assert!(
            risks[0].finding.message.contains("Weave Scope"),
            "{}",
            risks[0].finding.message
        );
    }
}
