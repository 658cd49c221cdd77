//! Shared plumbing for rules that read runtime signals: which workload and node a pod seen in
//! Prometheus belongs to, and where to report it.
//!
//! Invariants: a finding lands on the real loaded object (its file and line) whenever one
//! matches; otherwise on a reference to the pod, workload or node as Prometheus names it, located
//! at the Prometheus URL with line 0. Ownership comes from loaded Pods' `ownerReferences`, then
//! kube-state-metrics (`kube_pod_info`, `kube_replicaset_owner`), then, only when the result
//! names a loaded workload, the pod name patterns of controllers (`<deploy>-<hash>-<id>`,
//! `<ds>-<id>`, `<sts>-<ordinal>`).

use std::collections::HashMap;

use crate::load::Object;
use crate::node::Node;
use crate::rules::{Context, Finding, Location, ObjectRef, Sink};
use crate::runtime::{self, Runtime, Series};

/// What a runtime finding is about, before it is matched to a loaded object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Subject {
    pub fn node(name: &str) -> Subject {
        Subject {
            kind: "Node".into(),
            namespace: None,
            name: name.into(),
        }
    }

    pub fn pod(namespace: &str, name: &str) -> Subject {
        Subject {
            kind: "Pod".into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// `Deployment prod/api`, as reports print objects.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

fn api_version_of(kind: &str) -> &'static str {
    match kind {
        "Pod" | "Node" => "v1",
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        _ => "",
    }
}

/// Pod → owner and node, from every source at hand.
pub struct Joiner<'a> {
    cx: &'a Context<'a>,
    rt: &'a Runtime,
    /// (namespace, pod) → (owner kind, owner name), the direct controller.
    pod_owner: HashMap<(String, String), (String, String)>,
    pod_node: HashMap<(String, String), String>,
    /// (namespace, replicaset) → (owner kind, owner name).
    rs_owner: HashMap<(String, String), (String, String)>,
}

fn controller_of(object: &Object) -> Option<(String, String)> {
    let refs = object.root.path(&["metadata", "ownerReferences"])?.as_seq();
    let pick = refs
        .iter()
        .find(|r| r.get("controller").and_then(Node::as_bool) == Some(true))
        .or(refs.first())?;
    Some((
        pick.str_at(&["kind"])?.to_owned(),
        pick.str_at(&["name"])?.to_owned(),
    ))
}

impl<'a> Joiner<'a> {
    pub fn new(cx: &'a Context<'a>, rt: &'a Runtime) -> Joiner<'a> {
        let mut j = Joiner {
            cx,
            rt,
            pod_owner: HashMap::new(),
            pod_node: HashMap::new(),
            rs_owner: HashMap::new(),
        };
        // kube-state-metrics first, so loaded objects (the user's own view) win on conflict.
        for s in rt.optional(&runtime::POD_INFO) {
            let key = (s.label("namespace").to_owned(), s.label("pod").to_owned());
            if !s.label("node").is_empty() {
                j.pod_node.insert(key.clone(), s.label("node").to_owned());
            }
            let (kind, name) = (s.label("created_by_kind"), s.label("created_by_name"));
            if !kind.is_empty() && kind != "<none>" && !name.is_empty() {
                j.pod_owner.insert(key, (kind.to_owned(), name.to_owned()));
            }
        }
        for s in rt.optional(&runtime::REPLICASET_OWNER) {
            let (kind, name) = (s.label("owner_kind"), s.label("owner_name"));
            if !kind.is_empty() && kind != "<none>" {
                j.rs_owner.insert(
                    (
                        s.label("namespace").to_owned(),
                        s.label("replicaset").to_owned(),
                    ),
                    (kind.to_owned(), name.to_owned()),
                );
            }
        }
        for o in cx.index.objects {
            let key = (o.namespace_or_default().to_owned(), o.name.clone());
            match o.kind.as_str() {
                "Pod" => {
                    if let Some(owner) = controller_of(o) {
                        j.pod_owner.insert(key.clone(), owner);
                    }
                    if let Some(node) = o.root.str_at(&["spec", "nodeName"]) {
                        j.pod_node.insert(key, node.to_owned());
                    }
                }
                "ReplicaSet" => {
                    if let Some(owner) = controller_of(o) {
                        j.rs_owner.insert(key, owner);
                    }
                }
                _ => {}
            }
        }
        j
    }

    /// The node a pod ran on, when known.
    pub fn node_of(&self, namespace: &str, pod: &str) -> Option<&str> {
        self.pod_node
            .get(&(namespace.to_owned(), pod.to_owned()))
            .map(String::as_str)
    }

    fn loaded(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&'a Object> {
        self.cx
            .index
            .of_kind(kind)
            .find(|o| o.name == name && namespace.is_none_or(|ns| o.namespace_or_default() == ns))
    }

    /// The workload that owns a pod (Deployment over ReplicaSet), else the pod itself.
    pub fn workload_of(&self, namespace: &str, pod: &str) -> Subject {
        let owned = |kind: &str, name: &str| Subject {
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        };
        if let Some((kind, name)) = self.pod_owner.get(&(namespace.to_owned(), pod.to_owned())) {
            if kind == "ReplicaSet" {
                if let Some((k, n)) = self.rs_owner.get(&(namespace.to_owned(), name.clone())) {
                    return owned(k, n);
                }
                if let Some(deploy) = strip_suffix(name, 1)
                    .filter(|d| self.loaded("Deployment", Some(namespace), d).is_some())
                {
                    return owned("Deployment", deploy);
                }
            }
            return owned(kind, name);
        }
        // No ownership data: accept a controller's pod-name pattern only when it names a
        // loaded workload, so a guess never invents an object.
        let candidates = [
            ("Deployment", strip_suffix(pod, 2)),
            ("DaemonSet", strip_suffix(pod, 1)),
            ("StatefulSet", strip_suffix(pod, 1)),
        ];
        for (kind, name) in candidates {
            if let Some(name) = name
                && self.loaded(kind, Some(namespace), name).is_some()
            {
                return owned(kind, name);
            }
        }
        Subject::pod(namespace, pod)
    }

    /// Reports on the loaded object matching `subject`, else on a reference located at the
    /// Prometheus URL (line 0).
    pub fn report<'s>(
        &self,
        out: &'s mut Sink,
        subject: &Subject,
        container: Option<&str>,
        message: String,
    ) -> &'s mut Finding {
        match self.loaded(&subject.kind, subject.namespace.as_deref(), &subject.name) {
            Some(object) => out.report(object, container, None, message),
            None => out.report_ref(
                ObjectRef {
                    api_version: api_version_of(&subject.kind).to_owned(),
                    kind: subject.kind.clone(),
                    namespace: subject.namespace.clone(),
                    name: subject.name.clone(),
                },
                container,
                Location {
                    file: self.rt.source.clone(),
                    line: 0,
                },
                message,
            ),
        }
    }
}

/// `name` without its last `n` dash-separated segments (`api-7d9f-x2x` → `api` for 2).
fn strip_suffix(name: &str, n: usize) -> Option<&str> {
    let mut end = name.len();
    for _ in 0..n {
        end = name[..end].rfind('-')?;
    }
    (end > 0).then(|| &name[..end])
}

/// The node name of a node_exporter series: its `nodename` (from `node_uname_info`), else
/// `node`, else the scrape target without its port.
pub fn node_name(s: &Series) -> String {
    for key in ["nodename", "node"] {
        if !s.label(key).is_empty() {
            return s.label(key).to_owned();
        }
    }
    let inst = s.label("instance");
    let host = inst.rsplit_once(':').map_or(inst, |(host, _)| host);
    if host.is_empty() {
        "(unknown node)".to_owned()
    } else {
        host.to_owned()
    }
}

/// Series keyed by `(namespace, pod, container)`.
pub fn by_container(series: &[Series]) -> HashMap<(&str, &str, &str), &Series> {
    series
        .iter()
        .map(|s| {
            (
                (s.label("namespace"), s.label("pod"), s.label("container")),
                s,
            )
        })
        .collect()
}

/// Series keyed by `(namespace, pod)`.
pub fn by_pod(series: &[Series]) -> HashMap<(&str, &str), &Series> {
    series
        .iter()
        .map(|s| ((s.label("namespace"), s.label("pod")), s))
        .collect()
}

/// "from 14:05 to 14:50 UTC on 2026-05-28".
pub fn span(from: f64, to: f64) -> String {
    let a = runtime::rfc3339(from);
    let b = runtime::rfc3339(to);
    format!("{} to {}", &a[..16], &b[11..16]).replace('T', " ") + " UTC"
}

/// Percent with one decimal when small.
pub fn pct(v: f64) -> String {
    let p = v * 100.0;
    if p < 10.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_strip() {
        assert_eq!(strip_suffix("api-7d9f-x2x", 2), Some("api"));
        assert_eq!(strip_suffix("fluent-bit-x2x", 1), Some("fluent-bit"));
        assert_eq!(strip_suffix("redis", 1), None);
        assert_eq!(strip_suffix("-x", 1), None);
    }

    fn runtime() -> Runtime {
        Runtime {
            source: std::sync::Arc::from("http://prom:9090"),
            start: 0.0,
            end: 600.0,
            step: 60.0,
            signals: Default::default(),
        }
    }

    #[test]
    fn loaded_pods_join_through_replicasets_to_deployments() {
        let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\nspec: {template: {spec: {containers: [{name: a}]}}}\n---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: api-7d9f8\n  namespace: shop\n  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, controller: true}]\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: api-7d9f8-x2x4z\n  namespace: shop\n  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-7d9f8, controller: true}]\nspec: {nodeName: node-a, containers: [{name: a}]}\n";
        let loaded = crate::load::load_bytes(std::sync::Arc::from("s.yaml"), yaml.as_bytes(), None);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let rt = runtime();
        let cx = Context::new(&loaded.objects).with_metrics(Some(&rt));
        let join = Joiner::new(&cx, &rt);
        let owner = join.workload_of("shop", "api-7d9f8-x2x4z");
        assert_eq!(owner.describe(), "Deployment shop/api");
        assert_eq!(join.node_of("shop", "api-7d9f8-x2x4z"), Some("node-a"));
        static META: crate::rules::Meta = crate::rules::Meta {
            id: "test.rule",
            title: "",
            severity: crate::rules::Severity::Low,
            stories: &[],
            needs: crate::rules::Needs::Metrics,
            rationale: "",
            remediation: "",
            example: "",
        };
        let mut out = Sink::new(&META);
        join.report(&mut out, &owner, None, "m".into());
        join.report(&mut out, &Subject::node("node-b"), None, "m".into());
        assert_eq!(&*out.findings[0].location.file, "s.yaml");
        assert_eq!(out.findings[0].location.line, 1);
        assert_eq!(out.findings[1].object.to_string(), "Node node-b");
        assert_eq!(out.findings[1].object.api_version, "v1");
        assert_eq!(&*out.findings[1].location.file, "http://prom:9090");
        assert_eq!(out.findings[1].location.line, 0);
        // A pod of another namespace with the same name pattern is not guessed into `api`.
        assert_eq!(join.workload_of("other", "api-7d9f8-zzzzz").kind, "Pod");
    }

    #[test]
    fn spans_read_well() {
        assert_eq!(
            span(1_780_000_000.0, 1_780_002_700.0),
            "2026-05-28 20:26 to 21:11 UTC"
        );
    }
}
