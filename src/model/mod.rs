//! Understanding objects: pod templates, containers, selectors, the effective security context,
//! and an index that ties objects together (Service → pods, PDB → workload, HPA → target).
//!
//! Invariants: no IO, no network, cannot fail. Broken or unusual objects simply yield less.

pub mod cluster;
pub mod kernel;
pub mod quantity;
pub mod security;
pub mod selector;

use std::collections::HashMap;

use crate::load::Object;
use crate::node::Node;
pub use selector::Selector;

/// Kinds whose objects carry a pod template (or are pods).
pub const WORKLOAD_KINDS: [&str; 8] = [
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
];

/// The pod template's metadata and pod spec of a workload, or a Pod's own.
/// Unknown kinds (CRDs) have none: they pass through untouched.
pub fn pod_template(object: &Object) -> Option<(&Node, &Node)> {
    let root = &object.root;
    let template = match object.kind.as_str() {
        "Pod" => return Some((root.get("metadata")?, root.get("spec")?)),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => root.path(&["spec", "template"])?,
        "CronJob" => root.path(&["spec", "jobTemplate", "spec", "template"])?,
        "PodTemplate" => root.get("template")?,
        _ => return None,
    };
    Some((
        template.get("metadata").unwrap_or(Node::null()),
        template.get("spec")?,
    ))
}

/// Which list of the pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    Init,
    Regular,
    Ephemeral,
}

/// A container of a pod spec.
#[derive(Debug, Clone, Copy)]
pub struct Container<'a> {
    pub name: &'a str,
    pub kind: ContainerKind,
    pub node: &'a Node,
}

impl<'a> Container<'a> {
    pub fn image(&self) -> &'a str {
        self.node.str_at(&["image"]).unwrap_or("")
    }

    /// A resource quantity under `resources.<section>.<resource>` (`requests`/`limits`, `cpu`/`memory`).
    pub fn resource(&self, section: &str, resource: &str) -> Option<&'a Node> {
        self.node
            .path(&["resources", section, resource])
            .filter(|n| !n.is_null())
    }

    /// Sidecar init containers (`restartPolicy: Always`) run for the pod's whole life.
    pub fn is_long_running(&self) -> bool {
        match self.kind {
            ContainerKind::Regular => true,
            ContainerKind::Init => self.node.str_at(&["restartPolicy"]) == Some("Always"),
            ContainerKind::Ephemeral => false,
        }
    }

    /// Container ports as numbers, with their names.
    pub fn ports(&self) -> impl Iterator<Item = (i64, Option<&'a str>)> + 'a {
        self.node.seq_at("ports").iter().filter_map(|p| {
            Some((
                p.get("containerPort")?.as_i64()?,
                p.get("name").and_then(Node::as_str),
            ))
        })
    }
}

/// All containers of a pod spec: init, regular, then ephemeral.
pub fn containers(spec: &Node) -> impl Iterator<Item = Container<'_>> {
    [
        ("initContainers", ContainerKind::Init),
        ("containers", ContainerKind::Regular),
        ("ephemeralContainers", ContainerKind::Ephemeral),
    ]
    .into_iter()
    .flat_map(move |(key, kind)| {
        spec.seq_at(key).iter().map(move |node| Container {
            name: node.str_at(&["name"]).unwrap_or(""),
            kind,
            node,
        })
    })
}

/// A workload seen through its pod template.
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    pub object: &'a Object,
    pub index: usize,
    pub template_metadata: &'a Node,
    pub pod_spec: &'a Node,
}

impl<'a> Workload<'a> {
    pub fn pod_labels(&self) -> &'a Node {
        self.template_metadata.get("labels").unwrap_or(Node::null())
    }

    pub fn containers(&self) -> impl Iterator<Item = Container<'a>> + 'a {
        containers(self.pod_spec)
    }

    /// `spec.replicas` as written (Pods are 1; DaemonSets, Jobs and CronJobs have none).
    pub fn declared_replicas(&self) -> Option<i64> {
        match self.object.kind.as_str() {
            "Pod" => Some(1),
            "Deployment" | "StatefulSet" | "ReplicaSet" | "ReplicationController" => {
                self.object.spec().get("replicas").and_then(Node::as_i64)
            }
            _ => None,
        }
    }

    /// Whether this kind keeps a set of identical long-running replicas.
    pub fn is_replicated_kind(&self) -> bool {
        matches!(
            self.object.kind.as_str(),
            "Deployment" | "StatefulSet" | "ReplicaSet" | "ReplicationController"
        )
    }
}

/// Where a replica count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaSource {
    Spec,
    Hpa,
    Default,
}

impl ReplicaSource {
    /// What to say after a replica count in a message: where it came from, when not the spec.
    pub fn note(self) -> &'static str {
        match self {
            ReplicaSource::Hpa => " (HPA minReplicas)",
            ReplicaSource::Spec | ReplicaSource::Default => "",
        }
    }
}

/// Objects indexed for rules: workloads by namespace, Services, PDBs and HPAs.
pub struct Index<'a> {
    pub objects: &'a [Object],
    pub workloads: Vec<Workload<'a>>,
    by_kind: HashMap<&'a str, Vec<usize>>,
    /// (kind, namespace) → objects: joins look only inside one namespace, so they cost
    /// O(objects in that namespace), never O(all objects) per workload (Checkov's trap).
    by_kind_ns: HashMap<&'a str, HashMap<&'a str, Vec<usize>>>,
    workloads_by_ns: HashMap<&'a str, Vec<usize>>,
    /// (namespace, label key, label value) → workloads whose pods carry that label: a selector
    /// with a `key = value` requirement is checked only against those (a big namespace would
    /// otherwise cost services × workloads).
    workloads_by_label: HashMap<&'a str, HashMap<&'a str, HashMap<&'a str, Vec<usize>>>>,
    /// PodDisruptionBudgets and Services by namespace, their selectors parsed once.
    pdbs_by_ns: HashMap<&'a str, Vec<(usize, Option<Selector>)>>,
    services_by_ns: HashMap<&'a str, Vec<(usize, Option<Selector>)>>,
    hpa_by_target: HashMap<(&'a str, &'a str, &'a str), usize>,
}

impl<'a> Index<'a> {
    pub fn new(objects: &'a [Object]) -> Self {
        let mut workloads = Vec::new();
        let mut by_kind: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_kind_ns: HashMap<&str, HashMap<&str, Vec<usize>>> = HashMap::new();
        let mut workloads_by_ns: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut workloads_by_label: HashMap<&str, HashMap<&str, HashMap<&str, Vec<usize>>>> =
            HashMap::new();
        let mut pdbs_by_ns: HashMap<&str, Vec<(usize, Option<Selector>)>> = HashMap::new();
        let mut services_by_ns: HashMap<&str, Vec<(usize, Option<Selector>)>> = HashMap::new();
        let mut hpa_by_target = HashMap::new();
        // Live state: a Pod owned by a ReplicaSet owned by a Deployment is one workload, judged
        // through the top controller when that controller is in the picture.
        let present: std::collections::HashSet<(&str, &str, &str)> = objects
            .iter()
            .map(|o| (o.kind.as_str(), o.namespace_or_default(), o.name.as_str()))
            .collect();
        let controlled = |o: &Object| {
            cluster::controller_of(o).is_some_and(|(kind, name)| {
                present.contains(&(kind, o.namespace_or_default(), name))
            })
        };
        for (i, object) in objects.iter().enumerate() {
            by_kind.entry(object.kind.as_str()).or_default().push(i);
            by_kind_ns
                .entry(object.kind.as_str())
                .or_default()
                .entry(object.namespace_or_default())
                .or_default()
                .push(i);
            if let Some((template_metadata, pod_spec)) = pod_template(object)
                && !controlled(object)
            {
                let ns = object.namespace_or_default();
                workloads_by_ns.entry(ns).or_default().push(workloads.len());
                let labels = template_metadata
                    .get("labels")
                    .map_or(&[][..], Node::as_map);
                // Non-string label values are input errors the loader reports (the API server
                // rejects them), so only strings are indexed.
                for (k, v) in labels {
                    if let Some(v) = v.as_str() {
                        workloads_by_label
                            .entry(ns)
                            .or_default()
                            .entry(k.as_str())
                            .or_default()
                            .entry(v)
                            .or_default()
                            .push(workloads.len());
                    }
                }
                workloads.push(Workload {
                    object,
                    index: i,
                    template_metadata,
                    pod_spec,
                });
            }
            match object.kind.as_str() {
                "PodDisruptionBudget" => {
                    let selector = object
                        .root
                        .path(&["spec", "selector"])
                        .and_then(Selector::from_label_selector);
                    let ns = object.namespace_or_default();
                    pdbs_by_ns.entry(ns).or_default().push((i, selector));
                }
                "Service" => {
                    let ns = object.namespace_or_default();
                    let selector = Selector::from_service(object);
                    services_by_ns.entry(ns).or_default().push((i, selector));
                }
                _ => {}
            }
            if object.kind == "HorizontalPodAutoscaler"
                && let (Some(kind), Some(name)) = (
                    object.root.str_at(&["spec", "scaleTargetRef", "kind"]),
                    object.root.str_at(&["spec", "scaleTargetRef", "name"]),
                )
            {
                hpa_by_target.insert((object.namespace_or_default(), kind, name), i);
            }
        }
        Index {
            objects,
            workloads,
            by_kind,
            by_kind_ns,
            workloads_by_ns,
            workloads_by_label,
            pdbs_by_ns,
            services_by_ns,
            hpa_by_target,
        }
    }

    /// Objects of one kind, in input order.
    pub fn of_kind(&self, kind: &str) -> impl Iterator<Item = &'a Object> + '_ {
        self.by_kind
            .get(kind)
            .into_iter()
            .flatten()
            .map(|&i| &self.objects[i])
    }

    /// Objects of one kind in one namespace (`default` also holds objects that name none).
    pub fn of_kind_in(&self, kind: &str, namespace: &str) -> impl Iterator<Item = &'a Object> + '_ {
        self.by_kind_ns
            .get(kind)
            .and_then(|by_ns| by_ns.get(namespace))
            .into_iter()
            .flatten()
            .map(|&i| &self.objects[i])
    }

    /// Workloads in a namespace whose pod labels the selector matches, in input order.
    pub fn workloads_selected<'s, 'q>(
        &'s self,
        namespace: &str,
        selector: &'q Selector,
    ) -> impl Iterator<Item = &'s Workload<'a>> + use<'a, 's, 'q> {
        let candidates: Option<&'s Vec<usize>> = match selector.first_equals() {
            Some((k, v)) => self
                .workloads_by_label
                .get(namespace)
                .and_then(|by_key| by_key.get(k))
                .and_then(|by_value| by_value.get(v)),
            None => self.workloads_by_ns.get(namespace),
        };
        candidates
            .into_iter()
            .flatten()
            .map(|&i| &self.workloads[i])
            .filter(move |w| selector.matches(w.pod_labels()))
    }

    /// The HPA that scales a workload, if any.
    pub fn hpa_for(&self, workload: &Workload<'_>) -> Option<&'a Object> {
        let o = workload.object;
        self.hpa_by_target
            .get(&(o.namespace_or_default(), o.kind.as_str(), o.name.as_str()))
            .map(|&i| &self.objects[i])
    }

    /// The replica count a workload runs with: an HPA's `minReplicas` when it leaves `replicas`
    /// unset (or sets fewer), else `spec.replicas`, else the API default of 1.
    pub fn replicas(&self, workload: &Workload<'_>) -> (i64, ReplicaSource) {
        let declared = workload.declared_replicas();
        if workload.is_replicated_kind()
            && let Some(hpa) = self.hpa_for(workload)
        {
            let min = hpa
                .root
                .path(&["spec", "minReplicas"])
                .and_then(Node::as_i64)
                .unwrap_or(1);
            if declared.is_none_or(|d| d < min) {
                return (min, ReplicaSource::Hpa);
            }
        }
        match declared {
            Some(n) => (n, ReplicaSource::Spec),
            None => (1, ReplicaSource::Default),
        }
    }

    /// PodDisruptionBudgets in the workload's namespace that select its pods.
    pub fn pdbs_for(&self, workload: &Workload<'_>) -> Vec<&'a Object> {
        let ns = workload.object.namespace_or_default();
        let labels = workload.pod_labels();
        self.pdbs_by_ns
            .get(ns)
            .into_iter()
            .flatten()
            .filter(|(i, selector)| {
                // policy/v1: an empty selector selects every pod in the namespace; v1beta1: none.
                let empty_matches_all = self.objects[*i].api_version == "policy/v1";
                selector.as_ref().is_some_and(|s| {
                    if s.is_empty() {
                        empty_matches_all
                    } else {
                        s.matches(labels)
                    }
                })
            })
            .map(|(i, _)| &self.objects[*i])
            .collect()
    }

    /// Services in the workload's namespace whose selector picks its pods.
    pub fn services_for(&self, workload: &Workload<'_>) -> Vec<&'a Object> {
        let ns = workload.object.namespace_or_default();
        let labels = workload.pod_labels();
        self.services_by_ns
            .get(ns)
            .into_iter()
            .flatten()
            .filter(|(_, selector)| selector.as_ref().is_some_and(|s| s.matches(labels)))
            .map(|(i, _)| &self.objects[*i])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_bytes;
    use std::sync::Arc;

    fn objects(src: &str) -> Vec<Object> {
        let l = load_bytes(Arc::from("t.yaml"), src.as_bytes(), None);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        l.objects
    }

    #[test]
    fn templates_of_all_kinds() {
        let objs = objects(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: a, image: x}]\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {template: {spec: {containers: [{name: b}]}}}\n",
        );
        assert!(pod_template(&objs[0]).is_some());
        assert!(pod_template(&objs[1]).is_none());
        let idx = Index::new(&objs);
        assert_eq!(idx.workloads.len(), 1);
        assert_eq!(idx.workloads[0].containers().next().unwrap().image(), "x");
    }

    #[test]
    fn hpa_min_replicas_counts_when_replicas_unset() {
        let objs = objects(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec: {template: {spec: {containers: [{name: a}]}}}\n---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 3\n  maxReplicas: 9\n",
        );
        let idx = Index::new(&objs);
        assert_eq!(idx.replicas(&idx.workloads[0]), (3, ReplicaSource::Hpa));
    }

    #[test]
    fn selected_workloads_through_the_label_index() {
        let deploy = |name: &str, ns: &str, labels: &str| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{template: {{metadata: {{labels: {labels}}}, spec: {{containers: [{{name: a}}]}}}}}}\n---\n"
            )
        };
        let src = [
            deploy("web-1", "a", "{app: web, tier: front}"),
            deploy("api", "a", "{app: api, tier: back}"),
            deploy("web-other-ns", "b", "{app: web, tier: front}"),
            deploy("web-2", "a", "{app: web, tier: canary}"),
        ]
        .concat();
        let objs = objects(&src);
        let idx = Index::new(&objs);
        let names = |sel: serde_json::Value| {
            let sel = Selector::from_label_selector(&Node::from_json(&sel, 1)).expect("valid");
            idx.workloads_selected("a", &sel)
                .map(|w| w.object.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(serde_json::json!({"matchLabels": {"app": "web"}})),
            ["web-1", "web-2"]
        );
        assert_eq!(
            names(serde_json::json!({"matchLabels": {"app": "web", "tier": "front"}})),
            ["web-1"]
        );
        // No `key = value` requirement: every workload of the namespace is a candidate.
        let any_front_or_back = serde_json::json!({"matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]}]});
        assert_eq!(names(any_front_or_back), ["web-1", "api"]);
        assert!(names(serde_json::json!({"matchLabels": {"app": "none"}})).is_empty());
    }

    #[test]
    fn pdb_and_service_join_by_namespace_and_labels() {
        let objs = objects(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: a}\nspec: {template: {metadata: {labels: {app: db}}, spec: {containers: [{name: a}]}}}\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p, namespace: b}\nspec: {selector: {matchLabels: {app: db}}}\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: q, namespace: a}\nspec: {selector: {matchExpressions: [{key: app, operator: In, values: [db]}]}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: a}\nspec: {selector: {app: db}}\n",
        );
        let idx = Index::new(&objs);
        let w = &idx.workloads[0];
        let pdbs = idx.pdbs_for(w);
        assert_eq!(pdbs.len(), 1);
        assert_eq!(pdbs[0].name, "q");
        assert_eq!(idx.services_for(w).len(), 1);
    }
}
