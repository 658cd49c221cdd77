//! `exposure.dashboard-ingress-without-auth`: an Ingress routes to an admin UI with no
//! authentication in front of it.
//!
//! Invariants: every backend (default backend and every rule path, `networking.k8s.io/v1` and
//! the older `serviceName`/`servicePort` shape) is followed to the Service of that name in the
//! Ingress's namespace and from there to the admin UI with the same recognition as
//! `exposure.public-dashboard` (`admin_ui::behind`, honouring `params.exposure`). One finding per
//! Ingress and Service. An Ingress the controller makes internal (ALB without
//! `scheme: internet-facing`, GKE `gce-internal`) or whose live status shows only private
//! addresses is silent; a public live address (for an ALB, a non-`internal-` hostname) is proof
//! (critical), anything else is an assumption the message states (high).

use std::net::IpAddr;

use super::admin_ui::{self, Evidence};
use super::reach::is_private_with;
use crate::config::ExposureParams;
use crate::load::Object;
use crate::model::Index;
use crate::node::Node;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "exposure.dashboard-ingress-without-auth",
        title: "Admin UI behind an Ingress without authentication",
        severity: Severity::High,
        stories: &[Story::JwPlayer],
        needs: Needs::Manifests,
        rationale: "Putting an admin UI behind an Ingress instead of a LoadBalancer Service does not \
            make it private: the ingress controller's load balancer is usually on the internet, and \
            UIs such as Weave Scope, the Kubernetes Dashboard, Kubeflow or Jupyter have no login of \
            their own. At JW Player a public Weave Scope let someone start a crypto miner on every \
            node. Each backend of the Ingress is followed to its Service and from there to the pods \
            (recognised by image first, by name second, plus `params.exposure.admin-ui-images`). \
            Authentication counts when the Ingress carries nginx `auth-url`, `auth-type` or \
            `auth-signin`, or ALB `auth-type: cognito|oidc`; a GKE `cloud.google.com/backend-config` \
            is assumed to enable IAP unless the BackendConfig is in the input without \
            `iap.enabled: true`. A Traefik `router.middlewares` annotation may or may not be \
            authentication, so it lowers the severity instead of silencing the rule. An ALB Ingress \
            is internal unless `alb.ingress.kubernetes.io/scheme: internet-facing` (the AWS Load \
            Balancer Controller defaults to internal), GKE `gce-internal` is internal, and other \
            controllers are assumed to sit on a public load balancer unless the Ingress status \
            shows only private addresses; a public status address (or, for an ALB, a hostname \
            that is not `internal-…`) is proof.",
        remediation: "Put authentication in front: oauth2-proxy or your SSO through \
            `nginx.ingress.kubernetes.io/auth-url` and `auth-signin`, \
            `alb.ingress.kubernetes.io/auth-type: oidc` (or `cognito`), a Traefik ForwardAuth \
            middleware, or IAP through a GKE BackendConfig. Or drop the Ingress and reach the UI \
            with `kubectl port-forward`, or use an internal ingress class (an internal ALB, \
            `gce-internal`, an ingress controller on an internal load balancer). For Weave Scope \
            also run the probe with `--probe.no-controls`.",
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
  selector: {app: weave-scope}
  ports:
  - port: 80
    targetPort: 4040
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: scope
  namespace: weave
spec:
  ingressClassName: nginx
  rules:
  - host: scope.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: weave-scope-app
            port: {number: 80}
"#,
    },
    check,
};

const NGINX_AUTH: [&str; 3] = [
    "nginx.ingress.kubernetes.io/auth-url",
    "nginx.ingress.kubernetes.io/auth-type",
    "nginx.ingress.kubernetes.io/auth-signin",
];
const ALB_AUTH: &str = "alb.ingress.kubernetes.io/auth-type";
const ALB_SCHEME: &str = "alb.ingress.kubernetes.io/scheme";
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
const TRAEFIK_MIDDLEWARES: &str = "traefik.ingress.kubernetes.io/router.middlewares";
const BACKEND_CONFIG: [&str; 2] = [
    "cloud.google.com/backend-config",
    "beta.cloud.google.com/backend-config",
];

/// One Ingress backend: the Service it names, the port, and where it was written.
struct Backend<'a> {
    service: &'a str,
    /// `port.number`, `port.name` or `servicePort` as written (absent when not given).
    port: Option<String>,
    /// `host path`, or `default backend`.
    route: String,
    node: &'a Node,
}

/// The backend under `backend:` in either API shape.
fn backend<'a>(node: &'a Node, route: String) -> Option<Backend<'a>> {
    // networking.k8s.io/v1: `service: {name, port: {number|name}}`.
    if let Some(service) = node.get("service") {
        let name = service.get("name")?;
        let port = service.get("port").and_then(|p| {
            p.get("number")
                .and_then(Node::scalar_text)
                .or_else(|| p.get("name").and_then(Node::scalar_text))
        });
        return Some(Backend {
            service: name.as_str()?,
            port,
            route,
            node: name,
        });
    }
    // extensions/v1beta1 and networking.k8s.io/v1beta1: `serviceName`, `servicePort`.
    let name = node.get("serviceName")?;
    Some(Backend {
        service: name.as_str()?,
        port: node.get("servicePort").and_then(Node::scalar_text),
        route,
        node: name,
    })
}

fn backends(ingress: &Object) -> Vec<Backend<'_>> {
    let spec = ingress.spec();
    let mut out = Vec::new();
    for key in ["defaultBackend", "backend"] {
        if let Some(b) = spec
            .get(key)
            .and_then(|n| backend(n, "the default backend".into()))
        {
            out.push(b);
        }
    }
    for rule in spec.seq_at("rules") {
        let host = rule.str_at(&["host"]).unwrap_or("any host");
        let paths = rule.path(&["http", "paths"]).map_or(&[][..], Node::as_seq);
        for p in paths {
            let path = p.str_at(&["path"]).unwrap_or("/");
            if let Some(b) = p
                .get("backend")
                .and_then(|n| backend(n, format!("`{host}{path}`")))
            {
                out.push(b);
            }
        }
    }
    out
}

/// Whether the Service has the port the backend asks for (by number or name); a Service
/// without ports listed is given the benefit of the doubt.
fn has_port(service: &Object, port: Option<&str>) -> bool {
    let ports = service.spec().seq_at("ports");
    let Some(port) = port else { return true };
    ports.is_empty()
        || ports.iter().any(|p| {
            p.get("port").and_then(Node::scalar_text).as_deref() == Some(port)
                || p.str_at(&["name"]) == Some(port)
        })
}

/// What stands in front of the UI: `None` = nothing; `Some(Err(note))` = something that may
/// not be authentication; `Some(Ok(()))` = authentication.
fn auth(index: &Index<'_>, ingress: &Object, service: &Object) -> Option<Result<(), String>> {
    if NGINX_AUTH.iter().any(|k| ingress.annotation(k).is_some()) {
        return Some(Ok(()));
    }
    if matches!(ingress.annotation(ALB_AUTH), Some("cognito" | "oidc")) {
        return Some(Ok(()));
    }
    // GKE reads the BackendConfig reference from the Service (and older setups from the Ingress).
    let reference = BACKEND_CONFIG
        .iter()
        .find_map(|k| service.annotation(k).or_else(|| ingress.annotation(k)));
    if let Some(reference) = reference
        && iap_assumed(index, service.namespace_or_default(), reference)
    {
        return Some(Ok(()));
    }
    ingress.annotation(TRAEFIK_MIDDLEWARES).map(|m| {
        Err(format!(
            "Traefik middlewares `{m}` are attached; hindsight cannot tell whether one of them is authentication"
        ))
    })
}

/// Whether a `backend-config` reference (`{"default": "bc"}` or `{"ports": {"80": "bc"}}`)
/// enables IAP: assumed when a named BackendConfig is not in the input, settled by
/// `spec.iap.enabled` when it is.
fn iap_assumed(index: &Index<'_>, namespace: &str, reference: &str) -> bool {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(reference) else {
        // Unparseable: GKE would reject it; nothing to assume.
        return false;
    };
    let mut names = Vec::new();
    if let Some(d) = value.get("default").and_then(serde_json::Value::as_str) {
        names.push(d.to_owned());
    }
    if let Some(ports) = value.get("ports").and_then(serde_json::Value::as_object) {
        names.extend(ports.values().filter_map(|v| v.as_str().map(str::to_owned)));
    }
    names.iter().any(|name| {
        match index
            .of_kind_in("BackendConfig", namespace)
            .find(|b| b.name == *name)
        {
            None => true,
            Some(b) => {
                b.root
                    .path(&["spec", "iap", "enabled"])
                    .and_then(Node::as_bool)
                    == Some(true)
            }
        }
    })
}

/// How far the Ingress reaches: `Err(reason)` internal, `Ok((proven, basis))` public.
fn exposure(ingress: &Object, params: &ExposureParams) -> Result<(bool, String), String> {
    let class = ingress
        .spec()
        .str_at(&["ingressClassName"])
        .or_else(|| ingress.annotation(CLASS_ANNOTATION));
    let mut private = None;
    let mut alb_public = None;
    let addresses = ingress
        .root
        .path(&["status", "loadBalancer", "ingress"])
        .map_or(&[][..], Node::as_seq);
    for entry in addresses {
        if let Some(ip) = entry.str_at(&["ip"])
            && let Ok(addr) = ip.trim().parse::<IpAddr>()
        {
            let len = if addr.is_ipv4() { 32 } else { 128 };
            if !is_private_with(addr, len, params) {
                return Ok((true, format!("its status shows the public address `{ip}`")));
            }
            private = Some(ip.to_owned());
        }
        if let Some(host) = entry.str_at(&["hostname"]) {
            if host.starts_with("internal-") {
                private = Some(host.to_owned());
            } else if class == Some("alb") {
                // The controller of an ALB Ingress makes an Application Load Balancer, and AWS
                // names internal ones `internal-…`: any other name is internet-facing. (Other
                // classes sit behind the controller's own Service, possibly an NLB, whose
                // names carry no such marker.)
                alb_public = Some(host.to_owned());
            }
        }
    }
    if let Some(addr) = private {
        return Err(format!("its status shows the private address `{addr}`"));
    }
    if let Some(host) = alb_public {
        return Ok((
            true,
            format!("its status shows the ALB `{host}`, not an `internal-` name"),
        ));
    }
    match class {
        Some("alb") => match ingress.annotation(ALB_SCHEME) {
            Some("internet-facing") => Ok((
                false,
                format!("the ALB is public by `{ALB_SCHEME}: internet-facing`"),
            )),
            _ => Err("an ALB Ingress is internal unless its scheme is internet-facing".into()),
        },
        Some("gce-internal") => Err("`gce-internal` makes an internal load balancer".into()),
        Some(class) => Ok((
            false,
            format!("assumed public: the `{class}` ingress controller is taken to sit on an internet-facing load balancer"),
        )),
        None => Ok((
            false,
            "assumed public: the default ingress controller is taken to sit on an internet-facing load balancer".into(),
        )),
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

fn check(cx: &Context<'_>, out: &mut Sink) {
    let params = &cx.params.exposure;
    for ingress in cx.index.of_kind("Ingress") {
        let Ok((proven, basis)) = exposure(ingress, params) else {
            continue;
        };
        let namespace = ingress.namespace_or_default();
        let all = backends(ingress);
        // One finding per Service, naming every route to it, in order of first appearance.
        let mut seen: Vec<&str> = Vec::new();
        for first in &all {
            if seen.contains(&first.service) {
                continue;
            }
            seen.push(first.service);
            let routes: Vec<&Backend<'_>> =
                all.iter().filter(|b| b.service == first.service).collect();
            let Some(service) = cx
                .index
                .of_kind_in("Service", namespace)
                .find(|s| s.name == first.service)
            else {
                continue;
            };
            if !routes.iter().any(|b| has_port(service, b.port.as_deref())) {
                continue;
            }
            let Some(ui) = admin_ui::behind(&cx.index, service, params) else {
                continue;
            };
            let guard = auth(&cx.index, ingress, service);
            if matches!(guard, Some(Ok(()))) {
                continue;
            }
            let workload = || {
                format!(
                    "{} `{}`",
                    ui.workload.map_or("workload", |w| w.object.kind.as_str()),
                    ui.workload.map_or("", |w| w.object.name.as_str())
                )
            };
            let what = match &ui.evidence {
                Evidence::Configured {
                    container,
                    image,
                    pattern,
                } => format!(
                    "an admin UI (image `{image}` in container `{container}` of {} matches `{pattern}` in `params.exposure.admin-ui-images`)",
                    workload()
                ),
                Evidence::Image { container, image } => format!(
                    "{} (image `{image}` in container `{container}` of {})",
                    ui.product,
                    workload()
                ),
                Evidence::Name(name) => format!(
                    "{} (recognised by the name `{name}`, not by image)",
                    ui.product
                ),
            };
            let via: Vec<String> = routes
                .iter()
                .map(|b| match &b.port {
                    Some(p) => format!("{} (port `{p}`)", b.route),
                    None => b.route.clone(),
                })
                .collect();
            let shells = if ui.product == "Weave Scope"
                && !admin_ui::scope_controls_disabled(&cx.index, namespace)
            {
                "; Scope runs without `--probe.no-controls`, so anyone who opens it gets a shell in every container and on the hosts"
            } else {
                ""
            };
            let (guard_note, mut severity) = match &guard {
                Some(Err(note)) => (format!("; {note}"), lower(Severity::High)),
                _ => (
                    "; no authentication annotation (nginx auth-url/auth-type/auth-signin, ALB auth-type, GKE backend-config)".to_owned(),
                    Severity::High,
                ),
            };
            if proven {
                severity = match guard {
                    Some(Err(_)) => Severity::High,
                    _ => Severity::Critical,
                };
            }
            if matches!(ui.evidence, Evidence::Name(_)) {
                severity = lower(severity);
            }
            let message = format!(
                "Ingress `{}` routes {} to Service `{}`, which reaches {what}{guard_note}; {basis}{shells}",
                ingress.name,
                via.join(", "),
                service.name,
            );
            out.report(ingress, None, Some(first.node), message)
                .severity = severity;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ExposureParams, Glob, Params};
    use crate::rules::{check as run, check_with};

    const APP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: scope, namespace: ops}\nspec:\n  selector: {matchLabels: {app: ui}}\n  template:\n    metadata: {labels: {app: ui}}\n    spec:\n      containers:\n      - name: c\n        image: IMAGE\n---\napiVersion: v1\nkind: Service\nmetadata: {name: ui, namespace: ops}\nspec:\n  selector: {app: ui}\n  ports: [{name: http, port: 80, targetPort: 4040}]\n";

    fn ingress(annotations: &str, spec: &str) -> String {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: ui\n  namespace: ops\n  annotations: {{{annotations}}}\n{spec}"
        )
    }

    const NGINX: &str = "spec:\n  ingressClassName: nginx\n  rules:\n  - host: ops.example.com\n    http:\n      paths:\n      - path: /scope\n        pathType: Prefix\n        backend: {service: {name: ui, port: {number: 80}}}\n";
    const ALB: &str = "spec:\n  ingressClassName: alb\n  defaultBackend: {service: {name: ui, port: {number: 80}}}\n";

    fn fire_with(
        image: &str,
        annotations: &str,
        spec: &str,
        p: &Params,
    ) -> Vec<(Severity, String)> {
        let y = APP.replace("IMAGE", image) + &ingress(annotations, spec);
        check_with(&RULE, &y, p)
            .into_iter()
            .map(|f| (f.severity, f.message))
            .collect()
    }

    fn fire(annotations: &str, spec: &str) -> Vec<(Severity, String)> {
        fire_with(
            "weaveworks/scope:1.13.2",
            annotations,
            spec,
            Params::defaults(),
        )
    }

    #[test]
    fn example_fires_and_names_route_service_workload_and_assumption() {
        let f = run(&RULE, RULE.meta.example);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        let m = &f[0].message;
        for part in [
            "`scope.example.com/`",
            "Service `weave-scope-app`",
            "Weave Scope (image `weaveworks/scope:1.13.2` in container `app` of Deployment `weave-scope-app`)",
            "assumed public",
            "shell",
        ] {
            assert!(m.contains(part), "{part}: {m}");
        }
    }

    #[test]
    fn nginx_ingress_to_scope_fires() {
        let f = fire("", NGINX);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, Severity::High);
        assert!(
            f[0].1.contains("`ops.example.com/scope` (port `80`)"),
            "{}",
            f[0].1
        );
        assert!(f[0].1.contains("`nginx` ingress controller"), "{}", f[0].1);
        // Not an admin UI: silent.
        assert!(fire_with("nginx:1.25", "", NGINX, Params::defaults()).is_empty());
    }

    #[test]
    fn authentication_annotations_silence_it() {
        for ann in [
            "nginx.ingress.kubernetes.io/auth-url: \"https://oauth2.example.com/oauth2/auth\"",
            "nginx.ingress.kubernetes.io/auth-type: basic",
            "nginx.ingress.kubernetes.io/auth-signin: \"https://oauth2.example.com/start\"",
        ] {
            assert!(fire(ann, NGINX).is_empty(), "{ann}");
        }
        let alb = "alb.ingress.kubernetes.io/scheme: internet-facing, alb.ingress.kubernetes.io/auth-type: oidc";
        assert!(fire(alb, ALB).is_empty());
        let none = "alb.ingress.kubernetes.io/scheme: internet-facing, alb.ingress.kubernetes.io/auth-type: none";
        assert_eq!(fire(none, ALB).len(), 1);
    }

    #[test]
    fn alb_is_internal_unless_internet_facing() {
        assert!(fire("", ALB).is_empty());
        assert!(fire("alb.ingress.kubernetes.io/scheme: internal", ALB).is_empty());
        let legacy = NGINX.replace("ingressClassName: nginx", "ingressClassName: null");
        assert!(fire("kubernetes.io/ingress.class: alb", &legacy).is_empty());
        assert!(fire("kubernetes.io/ingress.class: gce-internal", &legacy).is_empty());
        let f = fire("alb.ingress.kubernetes.io/scheme: internet-facing", ALB);
        assert_eq!(f.len(), 1);
        assert!(f[0].1.contains("the default backend"), "{}", f[0].1);
        assert!(f[0].1.contains("internet-facing"), "{}", f[0].1);
    }

    #[test]
    fn v1beta1_shape_is_followed() {
        let spec = "spec:\n  rules:\n  - host: scope.corp.example\n    http:\n      paths:\n      - path: /\n        backend: {serviceName: ui, servicePort: 80}\n";
        let y = APP.replace("IMAGE", "weaveworks/scope:1.13.2")
            + &ingress("", spec).replace("networking.k8s.io/v1", "extensions/v1beta1");
        let f = run(&RULE, &y);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("`scope.corp.example/`"),
            "{}",
            f[0].message
        );
        let old_default = "spec:\n  backend: {serviceName: ui, servicePort: http}\n";
        assert_eq!(fire("", old_default).len(), 1);
    }

    #[test]
    fn named_service_port_must_exist_on_the_service() {
        let named = NGINX.replace("{number: 80}", "{name: http}");
        let f = fire("", &named);
        assert_eq!(f.len(), 1);
        assert!(f[0].1.contains("(port `http`)"), "{}", f[0].1);
        // A port the Service does not have routes nowhere.
        assert!(fire("", &NGINX.replace("{number: 80}", "{name: metrics}")).is_empty());
        assert!(fire("", &NGINX.replace("{number: 80}", "{number: 9090}")).is_empty());
        // A Service in another namespace is not the backend.
        let other = APP.replace("IMAGE", "weaveworks/scope").replace(
            "namespace: ops}\nspec:\n  selector",
            "namespace: other}\nspec:\n  selector",
        ) + &ingress("", NGINX);
        assert!(run(&RULE, &other).is_empty());
    }

    #[test]
    fn configured_admin_ui_images_count() {
        let image = "registry.corp/platform/ops-console:4.2";
        assert!(fire_with(image, "", NGINX, Params::defaults()).is_empty());
        let p = Params {
            exposure: ExposureParams {
                admin_ui_images: vec![Glob::name("registry.corp/*/ops-console*")],
                ..ExposureParams::default()
            },
            ..Params::default()
        };
        let f = fire_with(image, "", NGINX, &p);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].1.contains(
                "matches `registry.corp/*/ops-console*` in `params.exposure.admin-ui-images`"
            ),
            "{}",
            f[0].1
        );
    }

    #[test]
    fn live_status_decides() {
        let public = format!("{NGINX}status:\n  loadBalancer:\n    ingress: [{{ip: 34.1.2.3}}]\n");
        let f = fire("", &public);
        assert_eq!(f[0].0, Severity::Critical);
        assert!(f[0].1.contains("public address `34.1.2.3`"), "{}", f[0].1);
        // A public address outranks the ALB default scheme.
        let alb = format!("{ALB}status:\n  loadBalancer:\n    ingress: [{{ip: 34.1.2.3}}]\n");
        assert_eq!(fire("", &alb)[0].0, Severity::Critical);
        let private = format!("{NGINX}status:\n  loadBalancer:\n    ingress: [{{ip: 10.0.3.4}}]\n");
        assert!(fire("", &private).is_empty());
        let internal = format!(
            "{NGINX}status:\n  loadBalancer:\n    ingress: [{{hostname: internal-k8s-ops-1.us-east-1.elb.amazonaws.com}}]\n"
        );
        assert!(fire("", &internal).is_empty());
        // An ALB's own name tells: `internal-…` or internet-facing; an nginx controller's
        // hostname (maybe an NLB) does not, so the assumption stays.
        let alb_host = format!(
            "{ALB}status:\n  loadBalancer:\n    ingress: [{{hostname: k8s-ops-ui-1a2b.us-east-1.elb.amazonaws.com}}]\n"
        );
        let f = fire("", &alb_host);
        assert_eq!(f[0].0, Severity::Critical);
        assert!(f[0].1.contains("not an `internal-` name"), "{}", f[0].1);
        let nginx_host = format!(
            "{NGINX}status:\n  loadBalancer:\n    ingress: [{{hostname: a1b2.elb.us-east-1.amazonaws.com}}]\n"
        );
        assert_eq!(fire("", &nginx_host)[0].0, Severity::High);
    }

    #[test]
    fn traefik_middlewares_lower_it_and_say_so() {
        let ann = "traefik.ingress.kubernetes.io/router.middlewares: ops-sso@kubernetescrd";
        let f = fire(ann, NGINX);
        assert_eq!(f[0].0, Severity::Medium);
        assert!(f[0].1.contains("cannot tell"), "{}", f[0].1);
    }

    #[test]
    fn gke_backend_config_is_assumed_iap_unless_shown_otherwise() {
        let ann = "cloud.google.com/backend-config: '{\"default\": \"iap\"}'";
        assert!(fire(ann, NGINX).is_empty());
        let without_iap = "---\napiVersion: cloud.google.com/v1\nkind: BackendConfig\nmetadata: {name: iap, namespace: ops}\nspec:\n  timeoutSec: 40\n";
        let y = APP.replace("IMAGE", "weaveworks/scope") + &ingress(ann, NGINX) + without_iap;
        assert_eq!(run(&RULE, &y).len(), 1);
        let with_iap = without_iap.replace("timeoutSec: 40", "iap: {enabled: true}");
        let y = APP.replace("IMAGE", "weaveworks/scope") + &ingress(ann, NGINX) + &with_iap;
        assert!(run(&RULE, &y).is_empty());
    }
}
