//! `exposure.public-load-balancer`: an internet-facing load balancer open to every address.

use super::admin_ui;
use super::reach::{Reach, reach};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "exposure.public-load-balancer",
        title: "Public load balancer without source ranges",
        severity: Severity::Medium,
        stories: &[Story::JwPlayer],
        needs: Needs::Manifests,
        rationale: "A `type: LoadBalancer` Service without an internal annotation gets an internet-facing \
            address on most clouds, and without `loadBalancerSourceRanges` the cloud firewall admits \
            every address. At JW Player, nobody had decided that Weave Scope should be public: it simply \
            was, because its Service was a load balancer, and a miner found it before the team did. \
            Ingress controllers are meant to be public; most other Services are not, and what sits behind \
            them changes over time. Services that expose a recognised admin UI are reported by \
            `exposure.public-dashboard` instead. On AWS an un-annotated Service is public under the \
            in-tree controller but internal under the AWS Load Balancer Controller: the message names the \
            assumption, and a live `status.loadBalancer.ingress` address settles it. A source range of \
            `0.0.0.0/0` or `::/0` counts as none. Addresses in `params.exposure.private-cidrs` \
            (`.hindsight.yaml`) count as private, and images in `params.exposure.admin-ui-images` \
            as admin UIs.",
        remediation: "If only the cluster's network needs it, make it internal \
            (`service.beta.kubernetes.io/aws-load-balancer-scheme: internal`, \
            `networking.gke.io/load-balancer-type: Internal`, \
            `service.beta.kubernetes.io/azure-load-balancer-internal: \"true\"`) or a `ClusterIP` behind \
            an Ingress. If it must be public, list the networks that need it in \
            `spec.loadBalancerSourceRanges`; for a deliberate public entry point (an ingress controller) \
            record that decision by setting the scheme explicitly \
            (`aws-load-balancer-scheme: internet-facing`).",
        example: r#"apiVersion: v1
kind: Service
metadata:
  name: search
spec:
  type: LoadBalancer
  selector: {app: search}
  ports:
  - port: 80
"#,
    },
    check,
};

fn check(cx: &Context<'_>, out: &mut Sink) {
    let params = &cx.params.exposure;
    for service in cx.index.of_kind("Service") {
        let Reach::Public(public) = reach(service, params) else {
            continue;
        };
        if !public.source_ranges.is_empty()
            || admin_ui::behind(&cx.index, service, params).is_some()
        {
            continue;
        }
        let at = service.spec().get("type");
        let message = if public.proven {
            format!(
                "load balancer `{}` is public and admits every address: {}; no `loadBalancerSourceRanges`",
                service.name, public.basis
            )
        } else {
            format!(
                "load balancer `{}` admits every address (no `loadBalancerSourceRanges`); {}",
                service.name, public.basis
            )
        };
        out.report(service, None, at, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::exposure::test_params as params;
    use crate::rules::{check as run, check_with};

    fn fire(extra_meta: &str, spec: &str) -> Vec<String> {
        let y = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n{extra_meta}spec:\n  selector: {{app: s}}\n{spec}"
        );
        run(&RULE, &y).into_iter().map(|f| f.message).collect()
    }

    #[test]
    fn fires_on_an_open_load_balancer_and_names_the_assumption() {
        let f = fire("", "  type: LoadBalancer\n");
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("AWS Load Balancer Controller"), "{}", f[0]);
        let f = fire(
            "  annotations: {service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing}\n",
            "  type: LoadBalancer\n",
        );
        assert!(f[0].contains("internet-facing"), "{}", f[0]);
    }

    #[test]
    fn a_slash_zero_range_counts_as_none() {
        assert_eq!(
            fire(
                "",
                "  type: LoadBalancer\n  loadBalancerSourceRanges: [\"::/0\"]\n"
            )
            .len(),
            1
        );
        assert_eq!(
            fire(
                "  annotations: {service.beta.kubernetes.io/load-balancer-source-ranges: \"0.0.0.0/0\"}\n",
                "  type: LoadBalancer\n"
            )
            .len(),
            1
        );
    }

    #[test]
    fn passes_with_source_ranges_internal_or_not_a_load_balancer() {
        assert!(
            fire(
                "",
                "  type: LoadBalancer\n  loadBalancerSourceRanges: [203.0.113.7/32]\n"
            )
            .is_empty()
        );
        assert!(fire(
            "  annotations: {service.beta.kubernetes.io/load-balancer-source-ranges: \"203.0.113.0/24, 198.51.100.0/24\"}\n",
            "  type: LoadBalancer\n"
        )
        .is_empty());
        assert!(
            fire(
                "  annotations: {networking.gke.io/load-balancer-type: Internal}\n",
                "  type: LoadBalancer\n"
            )
            .is_empty()
        );
        assert!(fire("", "  type: NodePort\n").is_empty());
        assert!(fire("", "  type: ClusterIP\n").is_empty());
    }

    #[test]
    fn proof_from_status_is_named() {
        let f = fire(
            "",
            "  type: LoadBalancer\nstatus: {loadBalancer: {ingress: [{ip: 35.200.1.2}]}}\n",
        );
        assert!(f[0].contains("35.200.1.2"), "{}", f[0]);
        assert!(
            fire(
                "",
                "  type: LoadBalancer\nstatus: {loadBalancer: {ingress: [{ip: 100.64.3.4}]}}\n"
            )
            .is_empty()
        );
    }

    #[test]
    fn admin_uis_are_left_to_public_dashboard() {
        let y = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: g}\nspec:\n  template:\n    metadata: {labels: {app: s}}\n    spec: {containers: [{name: g, image: grafana/grafana}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer, selector: {app: s}}\n";
        assert!(run(&RULE, y).is_empty());
    }

    #[test]
    fn configured_private_addresses_and_admin_uis_are_honoured() {
        // A live address in the company's own range, unreachable from the internet.
        let y = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer, selector: {app: s}}\nstatus: {loadBalancer: {ingress: [{ip: 192.0.2.10}]}}\n";
        assert_eq!(run(&RULE, y).len(), 1);
        assert!(check_with(&RULE, y, &params(&[], &["192.0.2.0/24"])).is_empty());
        // A configured admin UI is left to public-dashboard, like a built-in one.
        let ui = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: c}\nspec:\n  template:\n    metadata: {labels: {app: s}}\n    spec: {containers: [{name: c, image: registry.corp/ops/ops-console:1}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer, selector: {app: s}}\n";
        assert_eq!(run(&RULE, ui).len(), 1);
        assert!(check_with(&RULE, ui, &params(&["registry.corp/*/ops-console*"], &[])).is_empty());
    }
}
