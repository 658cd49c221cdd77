//! Recognising admin UIs behind a Service: by container image first, by well-known names second.
//!
//! Invariants: ports never identify a product on their own (4040 is both Weave Scope and the
//! Spark driver UI); a port only narrows a product whose image also serves non-UI traffic
//! (Traefik's dashboard entry point). The table follows `shared/research/stories.md` (jwplayer).
//! The config's `params.exposure.admin-ui-images` adds image globs to it: an image a team knows
//! to be an admin UI counts as strongly as a built-in one, on any port.

use crate::config::ExposureParams;
use crate::load::Object;
use crate::model::{Container, Index, Selector, Workload};
use crate::node::Node;

/// One admin UI product.
struct Product {
    name: &'static str,
    /// Whether a container's image (repository, lower case, no tag or digest) and arguments
    /// show this product.
    image: fn(&Image<'_>) -> bool,
    /// Workload names and pod label values that name the product when the image does not.
    names: &'static [&'static str],
    /// When non-empty, the Service must reach one of these ports (or a port with one of
    /// `PORT_NAMES`) for the UI to be exposed.
    ui_ports: &'static [i64],
}

/// An image reference split for matching, with the container's command line.
pub struct Image<'a> {
    /// Lower-case repository without tag or digest: `docker.io/weaveworks/scope`.
    repo: String,
    container: &'a Container<'a>,
}

impl Image<'_> {
    fn last(&self) -> &str {
        self.repo.rsplit('/').next().unwrap_or("")
    }

    /// The repository is `path` or ends with `/path` (any registry in front).
    fn is(&self, path: &str) -> bool {
        self.repo == path
            || self
                .repo
                .strip_suffix(path)
                .is_some_and(|rest| rest.ends_with('/'))
    }

    /// Command and arguments, as written.
    fn words(&self) -> impl Iterator<Item = &str> {
        let node = self.container.node;
        node.seq_at("command")
            .iter()
            .chain(node.seq_at("args"))
            .filter_map(Node::as_str)
    }
}

/// The repository of an image reference: lower case, without `@digest` and `:tag`.
pub fn repository(image: &str) -> String {
    let image = image.trim().to_ascii_lowercase();
    let image = image.split('@').next().unwrap_or("");
    // A colon after the last slash starts the tag; one before it belongs to a registry port.
    match image.rfind(':') {
        Some(colon) if image[colon..].find('/').is_none() => image[..colon].to_owned(),
        _ => image.to_owned(),
    }
}

const PRODUCTS: &[Product] = &[
    Product {
        name: "Weave Scope",
        image: |i| i.is("weaveworks/scope"),
        names: &["weave-scope-app", "weave-scope"],
        ui_ports: &[],
    },
    Product {
        name: "Kubernetes Dashboard",
        image: |i| {
            !i.last().contains("metrics-scraper")
                && ((i.repo.contains("kubernetesui/") && i.last().starts_with("dashboard"))
                    || i.repo.contains("kubernetes-dashboard"))
        },
        names: &["kubernetes-dashboard"],
        ui_ports: &[],
    },
    Product {
        name: "Kubeflow central dashboard",
        image: |i| i.repo.contains("centraldashboard"),
        names: &["centraldashboard", "kubeflow-dashboard"],
        ui_ports: &[],
    },
    Product {
        name: "Argo Workflows server",
        image: |i| i.is("argoproj/argocli") && i.words().any(|w| w == "server"),
        names: &["argo-server", "argo-workflows-server"],
        ui_ports: &[],
    },
    Product {
        name: "Argo CD server",
        image: |i| {
            i.is("argoproj/argocd")
                && i.words()
                    .any(|w| w.rsplit('/').next() == Some("argocd-server"))
        },
        names: &["argocd-server"],
        ui_ports: &[],
    },
    Product {
        name: "Jupyter",
        image: |i| {
            let last = i.last();
            i.repo.starts_with("jupyter/")
                || i.repo.contains("/jupyter/")
                || i.repo.starts_with("jupyterhub/")
                || i.repo.contains("/jupyterhub/")
                || last.starts_with("jupyter")
                || (last.contains("notebook") && !last.contains("controller"))
        },
        names: &["jupyter", "jupyterhub", "jupyterlab", "jupyter-notebook"],
        ui_ports: &[],
    },
    Product {
        name: "Grafana",
        image: |i| i.last() == "grafana",
        names: &["grafana"],
        ui_ports: &[],
    },
    Product {
        name: "Kibana",
        image: |i| i.last().contains("kibana"),
        names: &["kibana"],
        ui_ports: &[],
    },
    Product {
        name: "Prometheus",
        image: |i| i.last() == "prometheus",
        names: &["prometheus", "prometheus-server", "prometheus-k8s"],
        ui_ports: &[],
    },
    Product {
        name: "Alertmanager",
        image: |i| i.last() == "alertmanager",
        names: &["alertmanager", "alertmanager-main"],
        ui_ports: &[],
    },
    Product {
        name: "Rancher",
        image: |i| i.is("rancher/rancher"),
        names: &["rancher"],
        ui_ports: &[],
    },
    Product {
        name: "Portainer",
        image: |i| i.last().starts_with("portainer") && !i.last().contains("agent"),
        names: &["portainer"],
        ui_ports: &[],
    },
    Product {
        name: "Consul",
        image: |i| i.last() == "consul",
        names: &["consul-ui"],
        ui_ports: &[],
    },
    Product {
        name: "Traefik dashboard",
        image: |i| i.last() == "traefik",
        names: &[],
        // The dashboard/API entry point (`api.insecure`), 9000 in older Helm charts; the
        // Service of a Traefik ingress controller exposes 80/443 on purpose.
        ui_ports: &[8080, 9000],
    },
    Product {
        name: "Spark UI",
        image: |i| {
            i.last() == "spark"
                || (i.last().starts_with("spark-") && !i.last().contains("operator"))
        },
        names: &["spark-master", "spark-ui", "spark-history-server"],
        ui_ports: &[],
    },
    Product {
        name: "Flink web UI",
        image: |i| i.last() == "flink",
        names: &["flink-jobmanager"],
        ui_ports: &[],
    },
    Product {
        name: "Airflow web server",
        image: |i| i.last() == "airflow",
        names: &["airflow-webserver", "airflow-web"],
        ui_ports: &[],
    },
    Product {
        name: "MLflow",
        image: |i| i.last().contains("mlflow"),
        names: &["mlflow"],
        ui_ports: &[],
    },
    Product {
        name: "Redis Commander",
        image: |i| i.last() == "redis-commander",
        names: &["redis-commander"],
        ui_ports: &[],
    },
    Product {
        name: "phpMyAdmin",
        image: |i| i.last() == "phpmyadmin",
        names: &["phpmyadmin"],
        ui_ports: &[],
    },
    Product {
        name: "pgAdmin",
        image: |i| i.last().starts_with("pgadmin"),
        names: &["pgadmin"],
        ui_ports: &[],
    },
    Product {
        name: "Ray dashboard",
        image: |i| i.is("rayproject/ray") || i.is("rayproject/ray-ml"),
        names: &["ray-head"],
        ui_ports: &[],
    },
    Product {
        name: "Jenkins",
        image: |i| i.last() == "jenkins",
        names: &["jenkins"],
        ui_ports: &[],
    },
    Product {
        name: "Kafka UI",
        image: |i| i.last() == "kafka-ui",
        names: &["kafka-ui"],
        ui_ports: &[],
    },
    Product {
        name: "Jaeger UI",
        image: |i| {
            i.repo.contains("jaegertracing/")
                && (i.last().contains("query") || i.last() == "all-in-one" || i.last() == "jaeger")
        },
        names: &["jaeger-query"],
        ui_ports: &[],
    },
    Product {
        name: "Kiali",
        image: |i| i.last() == "kiali",
        names: &["kiali"],
        ui_ports: &[],
    },
    Product {
        name: "Headlamp",
        image: |i| i.last() == "headlamp",
        names: &["headlamp"],
        ui_ports: &[],
    },
    Product {
        name: "Longhorn UI",
        image: |i| i.last() == "longhorn-ui",
        names: &["longhorn-frontend", "longhorn-ui"],
        ui_ports: &[],
    },
];

/// Port names that mean a dashboard entry point.
const PORT_NAMES: [&str; 2] = ["traefik", "dashboard"];

/// Pod labels whose values name an application.
const NAME_LABELS: [&str; 6] = [
    "app",
    "app.kubernetes.io/name",
    "app.kubernetes.io/component",
    "k8s-app",
    "name",
    "component",
];

/// How an admin UI was recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// A container image (the strong signal).
    Image { container: String, image: String },
    /// A container image matching a `params.exposure.admin-ui-images` glob: as strong as a
    /// built-in image, since the team said so.
    Configured {
        container: String,
        image: String,
        pattern: String,
    },
    /// Only a workload name, a pod label or the Service's own name or selector.
    Name(String),
}

/// What findings call a UI recognised only by a configured image glob.
pub const CONFIGURED: &str = "an admin UI listed in `params.exposure.admin-ui-images`";

/// An admin UI a Service exposes.
#[derive(Debug, Clone)]
pub struct AdminUi<'a> {
    /// The product name, or [`CONFIGURED`].
    pub product: &'static str,
    /// The workload running it (absent when only the Service's own name or selector told).
    pub workload: Option<&'a Workload<'a>>,
    pub evidence: Evidence,
}

/// Whether the Service reaches one of `ports` (by port, numeric target port or port name).
fn reaches_port(service: &Object, ports: &[i64]) -> bool {
    service.spec().seq_at("ports").iter().any(|p| {
        let number = |key: &str| p.get(key).and_then(Node::as_i64);
        let target_name = p.str_at(&["targetPort"]);
        let name = p.str_at(&["name"]);
        number("port").is_some_and(|n| ports.contains(&n))
            || number("targetPort").is_some_and(|n| ports.contains(&n))
            || [target_name, name]
                .into_iter()
                .flatten()
                .any(|n| PORT_NAMES.contains(&n))
    })
}

/// The configured glob an image matches: against the reference as written and against its
/// repository (lower case, no tag or digest), so `registry.corp/*/ops-console` also matches
/// `registry.corp/ops/ops-console:2.1`.
fn configured_pattern<'p>(params: &'p ExposureParams, image: &str) -> Option<&'p str> {
    let repo = repository(image);
    params
        .admin_ui_images
        .iter()
        .find(|g| g.matches(image) || g.matches(&repo))
        .map(|g| g.as_str())
}

fn named(names: &[&str], value: &str) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(value))
}

/// The admin UI behind a Service, if any: images of the selected workloads first (built-in
/// products, then `params.exposure.admin-ui-images`), then the names of those workloads and
/// their pod labels, then the Service's own name and selector.
pub fn behind<'a>(
    index: &'a Index<'a>,
    service: &'a Object,
    params: &ExposureParams,
) -> Option<AdminUi<'a>> {
    let exposed = |p: &Product| p.ui_ports.is_empty() || reaches_port(service, p.ui_ports);
    let by_name = |value: &str| {
        PRODUCTS
            .iter()
            .find(|p| named(p.names, value) && exposed(p))
    };
    // A Service without a selector selects no pods, but a kustomize base often leaves the
    // selector to `commonLabels`: its own name is then all there is to go on.
    let Some(selector) = Selector::from_service(service) else {
        return by_name(&service.name).map(|p| AdminUi {
            product: p.name,
            workload: None,
            evidence: Evidence::Name(service.name.clone()),
        });
    };
    let selected: Vec<&Workload<'a>> = index
        .workloads_selected(service.namespace_or_default(), &selector)
        .collect();
    for w in &selected {
        for c in w.containers() {
            let image = Image {
                repo: repository(c.image()),
                container: &c,
            };
            if let Some(p) = PRODUCTS.iter().find(|p| (p.image)(&image) && exposed(p)) {
                return Some(AdminUi {
                    product: p.name,
                    workload: Some(w),
                    evidence: Evidence::Image {
                        container: c.name.to_owned(),
                        image: c.image().to_owned(),
                    },
                });
            }
            if let Some(pattern) = configured_pattern(params, c.image()) {
                return Some(AdminUi {
                    product: CONFIGURED,
                    workload: Some(w),
                    evidence: Evidence::Configured {
                        container: c.name.to_owned(),
                        image: c.image().to_owned(),
                        pattern: pattern.to_owned(),
                    },
                });
            }
        }
    }
    for w in &selected {
        let labels = w.pod_labels();
        let candidates = std::iter::once(w.object.name.as_str()).chain(
            NAME_LABELS
                .iter()
                .filter_map(|k| labels.get(k).and_then(Node::as_str)),
        );
        for value in candidates {
            if let Some(p) = by_name(value) {
                return Some(AdminUi {
                    product: p.name,
                    workload: Some(w),
                    evidence: Evidence::Name(value.to_owned()),
                });
            }
        }
    }
    // Pods created by operators (Prometheus, Alertmanager) have no workload in the manifests.
    if selected.is_empty() {
        let sel = service
            .root
            .path(&["spec", "selector"])
            .unwrap_or(Node::null());
        // prometheus-operator labels the pods it creates `prometheus: <name>` and
        // `alertmanager: <name>`.
        for (key, product) in [
            ("prometheus", "Prometheus"),
            ("alertmanager", "Alertmanager"),
        ] {
            if let Some(value) = sel.get(key).and_then(Node::scalar_text) {
                return Some(AdminUi {
                    product,
                    workload: None,
                    evidence: Evidence::Name(format!("{key}: {value}")),
                });
            }
        }
        let candidates = std::iter::once(service.name.as_str()).chain(
            NAME_LABELS
                .iter()
                .filter_map(|k| sel.get(k).and_then(Node::as_str)),
        );
        for value in candidates {
            if let Some(p) = by_name(value) {
                return Some(AdminUi {
                    product: p.name,
                    workload: None,
                    evidence: Evidence::Name(value.to_owned()),
                });
            }
        }
    }
    None
}

/// Whether Weave Scope's controls (shells into containers and hosts) are disabled: some Scope
/// container in the namespace runs with `--probe.no-controls` (the flag is read by the probe).
pub fn scope_controls_disabled(index: &Index<'_>, namespace: &str) -> bool {
    index
        .workloads
        .iter()
        .filter(|w| w.object.namespace_or_default() == namespace)
        .flat_map(|w| w.containers())
        .filter(|c| repository(c.image()).ends_with("weaveworks/scope"))
        .any(|c| {
            c.node
                .seq_at("command")
                .iter()
                .chain(c.node.seq_at("args"))
                .filter_map(Node::as_str)
                .any(|w| {
                    w == "--probe.no-controls"
                        || w == "-probe.no-controls"
                        || w == "--probe.no-controls=true"
                        || w == "-probe.no-controls=true"
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_drops_tag_digest_and_keeps_registry_port() {
        assert_eq!(repository("weaveworks/scope:1.13.2"), "weaveworks/scope");
        assert_eq!(
            repository("registry:5000/Grafana/Grafana@sha256:abc"),
            "registry:5000/grafana/grafana"
        );
        assert_eq!(
            repository("registry:5000/x/kibana"),
            "registry:5000/x/kibana"
        );
    }

    #[test]
    fn configured_globs_match_the_reference_or_its_repository() {
        let params = ExposureParams {
            admin_ui_images: vec![
                crate::config::Glob::name("registry.corp/*/ops-console"),
                crate::config::Glob::name("*:debug"),
            ],
            ..ExposureParams::default()
        };
        assert_eq!(
            configured_pattern(&params, "registry.corp/ops/ops-console:2.1"),
            Some("registry.corp/*/ops-console")
        );
        assert_eq!(
            configured_pattern(&params, "Registry.Corp/ops/ops-console@sha256:abc"),
            Some("registry.corp/*/ops-console")
        );
        assert_eq!(
            configured_pattern(&params, "example/api:debug"),
            Some("*:debug")
        );
        assert_eq!(
            configured_pattern(&params, "registry.corp/ops/ops-console-worker:2"),
            None
        );
        assert_eq!(
            configured_pattern(&ExposureParams::default(), "anything"),
            None
        );
    }
}
