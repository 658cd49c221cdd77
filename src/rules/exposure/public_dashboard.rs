//! `exposure.public-dashboard`: an admin UI on a load balancer or NodePort the internet can reach.

use super::admin_ui::{self, Evidence};
use super::reach::{Reach, reach};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "exposure.public-dashboard",
        title: "Admin UI exposed on a public load balancer or NodePort",
        severity: Severity::Critical,
        stories: &[Story::JwPlayer],
        needs: Needs::Manifests,
        rationale: "Admin UIs (Weave Scope, the Kubernetes Dashboard, Kubeflow, Argo, Jupyter, Grafana, \
            Kibana, Prometheus, ...) often have no authentication of their own and many can run code: \
            Weave Scope opens shells into every container and onto the hosts. At JW Player, Weave Scope \
            sat on a public AWS load balancer; someone found it and started a cryptocurrency miner named \
            `gcc` on every node through it. The same path was used in 2020 against exposed Scope and \
            Kubeflow installs. A Service is public when it is a LoadBalancer without the cloud's internal \
            annotation (compared exactly as the controller does) and without source ranges limited to \
            private networks, or a NodePort on nodes with external addresses. On AWS an un-annotated \
            LoadBalancer is internet-facing under the in-tree controller but internal under the AWS Load \
            Balancer Controller, so the message says which one was assumed; a live \
            `status.loadBalancer.ingress` address settles it. UIs are recognised by container image \
            first and by well-known names second (then one step less severe); a port alone never \
            decides (4040 is both Weave Scope and Spark). A team's own consoles are added with \
            `params.exposure.admin-ui-images` in `.hindsight.yaml`, and ranges the internet cannot \
            route to (a VPN, a corporate network) with `params.exposure.private-cidrs`.",
        remediation: "Make the Service `ClusterIP` and reach the UI through `kubectl port-forward`, or put \
            it behind an Ingress with authentication (OAuth2 proxy, SSO). If it must be a load \
            balancer, make it internal (`service.beta.kubernetes.io/aws-load-balancer-scheme: internal` \
            with the AWS Load Balancer Controller, `networking.gke.io/load-balancer-type: Internal`, \
            `service.beta.kubernetes.io/azure-load-balancer-internal: \"true\"`) and set \
            `loadBalancerSourceRanges` to the networks that need it. For Weave Scope also run the \
            probe with `--probe.no-controls`.",
        example: r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: weave-scope-app
  namespace: weave
spec:
  selector:
    matchLabels: {app: weave-scope}
  template:
    metadata:
      labels: {app: weave-scope}
    spec:
      containers:
      - name: app
        image: weaveworks/scope:1.13.2
        args: [--no-probe]
---
apiVersion: v1
kind: Service
metadata:
  name: weave-scope-app
  namespace: weave
spec:
  type: LoadBalancer
  selector: {app: weave-scope}
  ports:
  - port: 80
    targetPort: 4040
"#,
    },
    check,
};

fn check(cx: &Context<'_>, out: &mut Sink) {
    let params = &cx.params.exposure;
    for service in cx.index.of_kind("Service") {
        let reach = reach(service, params);
        if matches!(reach, Reach::ClusterOnly | Reach::Internal(_)) {
            continue;
        }
        let Some(ui) = admin_ui::behind(&cx.index, service, params) else {
            continue;
        };
        let what = match &ui.evidence {
            Evidence::Configured {
                container,
                image,
                pattern,
            } => format!(
                "an admin UI (image `{image}` in container `{container}` of {} `{}` matches `{pattern}` in `params.exposure.admin-ui-images`)",
                ui.workload.map_or("workload", |w| w.object.kind.as_str()),
                ui.workload.map_or("", |w| w.object.name.as_str()),
            ),
            Evidence::Image { container, image } => format!(
                "{} (image `{image}` in container `{container}` of {} `{}`)",
                ui.product,
                ui.workload.map_or("workload", |w| w.object.kind.as_str()),
                ui.workload.map_or("", |w| w.object.name.as_str()),
            ),
            Evidence::Name(name) => {
                format!(
                    "{} (recognised by the name `{name}`, not by image)",
                    ui.product
                )
            }
        };
        let shells = ui.product == "Weave Scope"
            && !admin_ui::scope_controls_disabled(&cx.index, service.namespace_or_default());
        let shells = if shells {
            "; Scope runs without `--probe.no-controls`, so anyone who opens it gets a shell in every container and on the hosts"
        } else {
            ""
        };
        let at = service.spec().get("type");
        let (message, severity) = match reach {
            Reach::ClusterOnly | Reach::Internal(_) => continue,
            Reach::NodePort => (
                format!(
                    "NodePort Service `{}` exposes {what} on every node: public if a node has an ExternalIP and the firewall allows the port{shells}",
                    service.name
                ),
                Severity::High,
            ),
            Reach::Public(p) if !p.source_ranges.is_empty() => (
                format!(
                    "load balancer `{}` exposes {what} to the source ranges {} ({}){shells}",
                    service.name,
                    p.source_ranges.join(", "),
                    p.basis
                ),
                Severity::High,
            ),
            Reach::Public(p) => (
                if p.proven {
                    format!(
                        "load balancer `{}` exposes {what} to the internet (proven: {}){shells}",
                        service.name, p.basis
                    )
                } else {
                    format!(
                        "load balancer `{}` exposes {what}: {}{shells}",
                        service.name, p.basis
                    )
                },
                Severity::Critical,
            ),
        };
        let severity = match ui.evidence {
            Evidence::Name(_) => lower(severity),
            Evidence::Image { .. } | Evidence::Configured { .. } => severity,
        };
        out.report(service, None, at, message).severity = severity;
    }
}

fn lower(s: Severity) -> Severity {
    match s {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium => Severity::Low,
        Severity::Low | Severity::Info => Severity::Info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::exposure::test_params as params;
    use crate::rules::{check as run, check_with};

    const APP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ui, namespace: ops}\nspec:\n  selector: {matchLabels: {app: ui}}\n  template:\n    metadata: {labels: {app: ui}}\n    spec:\n      containers:\n      - name: c\n        image: IMAGE\n        args: [ARGS]\n";

    fn service(annotations: &str, spec: &str) -> String {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: ui\n  namespace: ops\n  annotations: {{{annotations}}}\nspec:\n  selector: {{app: ui}}\n  ports: [{{port: 80, targetPort: 8080}}]\n{spec}"
        )
    }

    fn fire(image: &str, args: &str, annotations: &str, spec: &str) -> Vec<(Severity, String)> {
        let y = APP.replace("IMAGE", image).replace("ARGS", args) + &service(annotations, spec);
        run(&RULE, &y)
            .into_iter()
            .map(|f| (f.severity, f.message))
            .collect()
    }

    const LB: &str = "  type: LoadBalancer\n";

    #[test]
    fn example_is_critical_with_the_shell_warning_and_the_assumption() {
        let f = run(&RULE, RULE.meta.example);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("Weave Scope"), "{}", f[0].message);
        assert!(f[0].message.contains("shell"), "{}", f[0].message);
        assert!(
            f[0].message.contains("AWS Load Balancer Controller"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn scope_with_controls_disabled_drops_the_shell_warning() {
        let f = fire("weaveworks/scope:1.13.2", "--probe.no-controls", "", LB);
        assert_eq!(f.len(), 1);
        assert!(!f[0].1.contains("shell"), "{}", f[0].1);
    }

    #[test]
    fn recognises_products_by_image() {
        for (image, args) in [
            (
                "kubernetesui/dashboard:v2.7.0",
                "--auto-generate-certificates",
            ),
            ("docker.io/grafana/grafana:10.0.0", "x"),
            ("quay.io/argoproj/argocli:v3.5.0", "server"),
            (
                "quay.io/argoproj/argocd:v2.9.0",
                "/usr/local/bin/argocd-server",
            ),
            ("jupyter/scipy-notebook:latest", "x"),
            ("quay.io/prometheus/prometheus:v2.45.0", "x"),
            ("docker.elastic.co/kibana/kibana:8.11.0", "x"),
            ("apache/spark:3.5.0", "x"),
            ("traefik:v2.10", "--api.insecure"),
        ] {
            let f = fire(image, args, "", LB);
            assert_eq!(f.len(), 1, "{image}");
            assert_eq!(f[0].0, Severity::Critical, "{image}");
        }
    }

    #[test]
    fn other_images_and_other_argo_components_are_not_uis() {
        for (image, args) in [
            ("nginx:1.25", "x"),
            ("quay.io/argoproj/argocd:v2.9.0", "argocd-repo-server"),
            ("quay.io/argoproj/argocli:v3.5.0", "version"),
            ("kubernetesui/metrics-scraper:v1.0.8", "x"),
            ("kubeflownotebookswg/notebook-controller:v1.8.0", "x"),
            ("quay.io/prometheus/node-exporter:v1.7.0", "x"),
            ("grafana/grafana-image-renderer:3", "x"),
            ("ghcr.io/kubeflow/spark-operator:2.0.0", "x"),
            ("hashicorp/consul-k8s-control-plane:1.4", "x"),
        ] {
            assert!(fire(image, args, "", LB).is_empty(), "{image}");
        }
    }

    #[test]
    fn traefik_only_counts_when_its_dashboard_port_is_exposed() {
        let y = APP.replace("IMAGE", "traefik:v2.10").replace("ARGS", "x")
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: ui, namespace: ops}\nspec:\n  type: LoadBalancer\n  selector: {app: ui}\n  ports: [{port: 443, targetPort: websecure}]\n";
        assert!(run(&RULE, &y).is_empty());
    }

    #[test]
    fn internal_annotations_silence_it() {
        for ann in [
            "service.beta.kubernetes.io/aws-load-balancer-internal: \"true\"",
            "service.beta.kubernetes.io/aws-load-balancer-internal: \"0.0.0.0/0\"",
            "service.beta.kubernetes.io/aws-load-balancer-internal: \"False\"",
            "service.beta.kubernetes.io/aws-load-balancer-scheme: internal",
            "service.beta.kubernetes.io/aws-load-balancer-type: nlb-ip",
            "networking.gke.io/load-balancer-type: Internal",
            "cloud.google.com/load-balancer-type: internal",
            "service.beta.kubernetes.io/azure-load-balancer-internal: \"true\"",
            "service.beta.kubernetes.io/oci-load-balancer-internal: \"true\"",
            "service.kubernetes.io/ibm-load-balancer-cloud-provider-ip-type: private",
            "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type: intranet",
            "service.beta.kubernetes.io/openstack-internal-load-balancer: \"true\"",
            "service.beta.kubernetes.io/do-loadbalancer-network: INTERNAL",
            "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid: subnet-123",
            "load-balancer.hetzner.cloud/disable-public-network: \"true\"",
        ] {
            assert!(fire("grafana/grafana", "x", ann, LB).is_empty(), "{ann}");
        }
        let lbc = "  type: LoadBalancer\n  loadBalancerClass: service.k8s.aws/nlb\n";
        assert!(fire("grafana/grafana", "x", "", lbc).is_empty());
    }

    #[test]
    fn values_the_controllers_do_not_accept_stay_public() {
        for ann in [
            "service.beta.kubernetes.io/aws-load-balancer-internal: \"false\"",
            "service.beta.kubernetes.io/azure-load-balancer-internal: \"True\"",
            "service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing",
            "service.beta.kubernetes.io/aws-load-balancer-type: nlb",
            // The new GKE key wins over the deprecated one.
            "networking.gke.io/load-balancer-type: External, cloud.google.com/load-balancer-type: Internal",
        ] {
            assert_eq!(fire("grafana/grafana", "x", ann, LB).len(), 1, "{ann}");
        }
        let f = fire(
            "grafana/grafana",
            "x",
            "service.beta.kubernetes.io/aws-load-balancer-type: nlb",
            LB,
        );
        assert!(f[0].1.contains("in-tree"), "{}", f[0].1);
    }

    #[test]
    fn private_source_ranges_silence_it_public_ones_lower_it() {
        let private = "  type: LoadBalancer\n  loadBalancerSourceRanges: [10.1.0.0/16, 192.168.0.0/24, \"fd00::/8\"]\n";
        assert!(fire("grafana/grafana", "x", "", private).is_empty());
        let office = "  type: LoadBalancer\n  loadBalancerSourceRanges: [203.0.113.0/24]\n";
        assert_eq!(
            fire("grafana/grafana", "x", "", office)[0].0,
            Severity::High
        );
        let open = "  type: LoadBalancer\n  loadBalancerSourceRanges: [10.0.0.0/8, 0.0.0.0/0]\n";
        assert_eq!(
            fire("grafana/grafana", "x", "", open)[0].0,
            Severity::Critical
        );
        // 172.32/16 is outside 172.16/12.
        let almost = "  type: LoadBalancer\n  loadBalancerSourceRanges: [172.32.0.0/16]\n";
        assert_eq!(fire("grafana/grafana", "x", "", almost).len(), 1);
    }

    #[test]
    fn live_status_is_proof() {
        let public_host = "  type: LoadBalancer\nstatus:\n  loadBalancer:\n    ingress: [{hostname: a1b2-123.us-east-1.elb.amazonaws.com}]\n";
        let f = fire("grafana/grafana", "x", "", public_host);
        assert_eq!(f[0].0, Severity::Critical);
        assert!(f[0].1.contains("proven"), "{}", f[0].1);
        let public_ip =
            "  type: LoadBalancer\nstatus:\n  loadBalancer:\n    ingress: [{ip: 34.1.2.3}]\n";
        // Proof outranks an annotation that claims internal.
        let ann = "service.beta.kubernetes.io/aws-load-balancer-scheme: internal";
        assert!(
            fire("grafana/grafana", "x", ann, public_ip)[0]
                .1
                .contains("34.1.2.3")
        );
        let private_ip =
            "  type: LoadBalancer\nstatus:\n  loadBalancer:\n    ingress: [{ip: 10.0.3.4}]\n";
        assert!(fire("grafana/grafana", "x", "", private_ip).is_empty());
        let internal_host = "  type: LoadBalancer\nstatus:\n  loadBalancer:\n    ingress: [{hostname: internal-a1b2.us-east-1.elb.amazonaws.com}]\n";
        assert!(fire("grafana/grafana", "x", "", internal_host).is_empty());
    }

    #[test]
    fn nodeport_is_high_and_says_it_depends_on_nodes() {
        let f = fire("grafana/grafana", "x", "", "  type: NodePort\n");
        assert_eq!(f[0].0, Severity::High);
        assert!(f[0].1.contains("ExternalIP"), "{}", f[0].1);
    }

    #[test]
    fn cluster_ip_and_other_namespaces_pass() {
        assert!(fire("grafana/grafana", "x", "", "  type: ClusterIP\n").is_empty());
        assert!(fire("grafana/grafana", "x", "", "").is_empty());
        let y = APP.replace("IMAGE", "grafana/grafana").replace("ARGS", "x")
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: ui, namespace: other}\nspec:\n  type: LoadBalancer\n  selector: {app: ui}\n";
        assert!(run(&RULE, &y).is_empty());
    }

    #[test]
    fn names_are_a_weaker_second_signal() {
        let y = "apiVersion: v1\nkind: Service\nmetadata: {name: prometheus-k8s, namespace: monitoring}\nspec:\n  type: LoadBalancer\n  selector: {app.kubernetes.io/name: prometheus}\n";
        let f = run(&RULE, y);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].message.contains("by the name"), "{}", f[0].message);
        // prometheus-operator's pod label, and a kustomize base without a selector.
        let op = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: NodePort\n  selector: {prometheus: frontend}\n";
        assert_eq!(run(&RULE, op)[0].severity, Severity::Medium);
        let base = "apiVersion: v1\nkind: Service\nmetadata: {name: grafana}\nspec:\n  type: NodePort\n  ports: [{port: 3000}]\n";
        assert_eq!(run(&RULE, base).len(), 1);
        let other =
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: NodePort\n";
        assert!(run(&RULE, other).is_empty());
    }

    #[test]
    fn configured_admin_ui_images_fire_at_full_severity() {
        let y = APP
            .replace("IMAGE", "registry.corp/platform/ops-console:4.2")
            .replace("ARGS", "x")
            + &service("", LB);
        assert!(run(&RULE, &y).is_empty(), "not a built-in product");
        let f = check_with(&RULE, &y, &params(&["registry.corp/*/ops-console*"], &[]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(
            f[0].message.contains(
                "matches `registry.corp/*/ops-console*` in `params.exposure.admin-ui-images`"
            ),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("Deployment `ui`"), "{}", f[0].message);
        // A glob for something else leaves it alone.
        assert!(check_with(&RULE, &y, &params(&["registry.corp/*/billing*"], &[])).is_empty());
        // Built-in products keep their own name when a glob matches them too.
        let g = APP.replace("IMAGE", "grafana/grafana").replace("ARGS", "x") + &service("", LB);
        let f = check_with(&RULE, &g, &params(&["*grafana*"], &[]));
        assert!(f[0].message.contains("Grafana (image"), "{}", f[0].message);
    }

    #[test]
    fn configured_private_cidrs_silence_it() {
        let vpn = "  type: LoadBalancer\n  loadBalancerSourceRanges: [198.51.100.0/24]\n";
        let y = APP.replace("IMAGE", "grafana/grafana").replace("ARGS", "x") + &service("", vpn);
        assert_eq!(run(&RULE, &y)[0].severity, Severity::High);
        assert!(check_with(&RULE, &y, &params(&[], &["198.51.100.0/23"])).is_empty());
        let live =
            "  type: LoadBalancer\nstatus: {loadBalancer: {ingress: [{ip: 198.51.100.9}]}}\n";
        let y = APP.replace("IMAGE", "grafana/grafana").replace("ARGS", "x") + &service("", live);
        assert_eq!(run(&RULE, &y).len(), 1);
        assert!(check_with(&RULE, &y, &params(&[], &["198.51.100.0/24"])).is_empty());
    }
}
