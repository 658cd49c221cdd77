//! Pictures of cluster state for the HTML report: what the findings on live state looked like.
//!
//! Built during analysis, while the objects are at hand, and only when live state is present:
//! - for each workload `workload.replicas-colocated` flagged, its ready replicas per node (the
//!   busiest node highlighted): Moonlight's pile-up, as the scheduler left it;
//! - the nodes per kernel version, with versions that carry the CFS quota bug highlighted
//!   (Buffer), when any node runs one;
//! - with Prometheus data, for each container `cpu.throttled-despite-low-usage` reported, its
//!   throttled share of CFS periods against its CPU use as a share of its limit over the window
//!   (Buffer's signature: the first high while the second stays low), for its most throttled pod.
//!
//! Invariants: pictures only show what the rules already judged (same ownership, readiness,
//! kernel table and pod → workload join), never a verdict of their own; at most
//! [`MAX_WORKLOADS`] charts of each kind.

use std::collections::BTreeMap;

use crate::model::cluster::{self, Owners};
use crate::model::{Index, kernel};
use crate::report::svg::{Bar, BarChart, Chart, LineChart, Series};
use crate::rules::metrics::{Joiner, by_container};
use crate::rules::{Context, Finding};
use crate::runtime;

/// A report with hundreds of colocated workloads shows the first few; the findings list all.
pub const MAX_WORKLOADS: usize = 6;

/// Charts for the findings on this index's live state (empty without live state).
pub fn cluster(index: &Index<'_>, findings: &[Finding]) -> Vec<Chart> {
    if !cluster::has_live_state(index.objects) {
        return Vec::new();
    }
    let mut charts = colocated(index, findings);
    charts.extend(kernels(index));
    charts
}

/// Throttling against CPU use for the containers `cpu.throttled-despite-low-usage` reported.
pub fn metrics(cx: &Context<'_>, findings: &[Finding]) -> Vec<Chart> {
    let Some(rt) = cx.metrics else {
        return Vec::new();
    };
    let (Ok(throttle), Ok(util)) = (
        rt.get(&runtime::CPU_THROTTLED_RATIO),
        rt.get(&runtime::CPU_LIMIT_UTILISATION),
    ) else {
        return Vec::new();
    };
    let util = by_container(util);
    let join = Joiner::new(cx, rt);
    let percent = |points: &[(f64, f64)]| -> Vec<(f64, f64)> {
        points.iter().map(|&(t, v)| (t, v * 100.0)).collect()
    };
    findings
        .iter()
        .filter(|f| f.rule == "cpu.throttled-despite-low-usage")
        .take(MAX_WORKLOADS)
        .filter_map(|f| {
            let container = f.container.as_deref()?;
            // The finding's pods: the throttling series of this container whose pod the same
            // join maps to the finding's workload; the most throttled one is pictured.
            let series = throttle
                .iter()
                .filter(|s| s.label("container") == container)
                .filter(|s| {
                    let w = join.workload_of(s.label("namespace"), s.label("pod"));
                    w.kind == f.object.kind
                        && w.name == f.object.name
                        && w.namespace.as_deref().unwrap_or("default")
                            == f.object.namespace.as_deref().unwrap_or("default")
                })
                .max_by(|a, b| peak(a).total_cmp(&peak(b)))?;
            let (ns, pod) = (series.label("namespace"), series.label("pod"));
            let used = util.get(&(ns, pod, container))?;
            Some(Chart::Line(LineChart {
                title: format!("{ns}/{pod} `{container}`: throttled while using little CPU"),
                caption:
                    "share of CFS periods throttled against CPU used as a share of the limit: \
                    throttling while use stays low is the kernel's CFS quota bug at work (Buffer)"
                        .into(),
                unit: "%".into(),
                series: vec![
                    Series {
                        name: "throttled periods".into(),
                        points: percent(&series.points),
                    },
                    Series {
                        name: "CPU used / limit".into(),
                        points: percent(&used.points),
                    },
                ],
            }))
        })
        .collect()
}

fn peak(s: &runtime::Series) -> f64 {
    s.points.iter().map(|p| p.1).fold(0.0, f64::max)
}

/// Ready replicas per node of the workloads `workload.replicas-colocated` reported.
fn colocated(index: &Index<'_>, findings: &[Finding]) -> Vec<Chart> {
    let wanted: Vec<(&str, &str, &str)> = findings
        .iter()
        .filter(|f| f.rule == "workload.replicas-colocated")
        .map(|f| {
            (
                f.object.kind.as_str(),
                f.object.namespace.as_deref().unwrap_or("default"),
                f.object.name.as_str(),
            )
        })
        .take(MAX_WORKLOADS)
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let owners = Owners::new(index);
    let mut per_node: BTreeMap<(String, String, String), BTreeMap<String, usize>> = BTreeMap::new();
    for placed in cluster::ready_placements(index, &owners) {
        let (node, (kind, name, _)) = (placed.node, placed.owner);
        let ns = placed.pod.namespace_or_default();
        if wanted.contains(&(kind.as_str(), ns, name.as_str())) {
            *per_node
                .entry((kind, ns.to_owned(), name))
                .or_default()
                .entry(node.to_owned())
                .or_default() += 1;
        }
    }
    wanted
        .iter()
        .filter_map(|&(kind, ns, name)| {
            let counts = per_node.get(&(kind.to_owned(), ns.to_owned(), name.to_owned()))?;
            let most = counts.values().copied().max().unwrap_or(0);
            let total: usize = counts.values().sum();
            let bars = by_value(
                counts
                    .iter()
                    .map(|(node, &n)| Bar {
                        label: node.clone(),
                        value: n as f64,
                        highlight: n == most,
                    })
                    .collect(),
            );
            Some(Chart::Bar(BarChart {
                title: format!("{kind} {ns}/{name}: ready replicas per node"),
                caption: format!(
                    "{most} of {total} ready replicas on one node: that node's failure is this workload's outage (Moonlight)"
                ),
                unit: "replicas".into(),
                bars,
            }))
        })
        .collect()
}

/// Nodes per kernel version, when some node's kernel has the CFS quota bug.
fn kernels(index: &Index<'_>) -> Option<Chart> {
    let mut counts: BTreeMap<&str, (usize, kernel::Status)> = BTreeMap::new();
    for node in index.of_kind("Node") {
        let Some(version) = node.root.str_at(&["status", "nodeInfo", "kernelVersion"]) else {
            continue;
        };
        let os = node
            .root
            .str_at(&["status", "nodeInfo", "osImage"])
            .unwrap_or("");
        let entry = counts
            .entry(version)
            .or_insert((0, kernel::judge(version, os).status));
        entry.0 += 1;
    }
    let bars = by_value(
        counts
            .iter()
            .map(|(version, &(n, status))| Bar {
                label: (*version).to_owned(),
                value: n as f64,
                highlight: status == kernel::Status::Affected,
            })
            .collect(),
    );
    let on_affected: f64 = bars.iter().filter(|b| b.highlight).map(|b| b.value).sum();
    if on_affected == 0.0 {
        return None;
    }
    let total: f64 = bars.iter().map(|b| b.value).sum();
    Some(Chart::Bar(BarChart {
        title: "Nodes per kernel version".into(),
        caption: format!(
            "{on_affected} of {total} nodes run a kernel with the CFS quota bug (highlighted): CPU-limited pods there are throttled below their limits (Buffer)"
        ),
        unit: "nodes".into(),
        bars,
    }))
}

/// Bars largest first, ties by label.
fn by_value(mut bars: Vec<Bar>) -> Vec<Bar> {
    bars.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.label.cmp(&b.label)));
    bars
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_bytes;
    use std::sync::Arc;

    fn pictures(json: serde_json::Value) -> Vec<Chart> {
        let loaded = load_bytes(Arc::from("c.json"), json.to_string().as_bytes(), None);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let index = Index::new(&loaded.objects);
        let cx = crate::rules::Context::new(&loaded.objects);
        let findings = crate::rules::run(&cx, crate::rules::ALL).findings;
        cluster(&index, &findings)
    }

    fn node(name: &str, kernel: &str) -> serde_json::Value {
        serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"nodeInfo": {"kernelVersion": kernel, "osImage": "Amazon Linux 2"},
                "conditions": [{"type": "Ready", "status": "True"}]}})
    }

    fn pod(name: &str, node: &str) -> serde_json::Value {
        serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]},
            "spec": {"nodeName": node, "containers": [{"name": "web"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    }

    fn bars(chart: &Chart) -> Vec<(String, f64, bool)> {
        match chart {
            Chart::Bar(b) => b
                .bars
                .iter()
                .map(|b| (b.label.clone(), b.value, b.highlight))
                .collect(),
            Chart::Line(_) => panic!("expected bars"),
        }
    }

    #[test]
    fn colocated_replicas_and_affected_kernels_are_pictured() {
        let charts = pictures(
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
            node("n1", "4.14.146-119.123.amzn2.x86_64"),
            node("n2", "5.10.184-175.731.amzn2.x86_64"),
            node("n3", "5.10.184-175.731.amzn2.x86_64"),
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "shop"},
             "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web"}]}}}},
            pod("web-0", "n2"), pod("web-1", "n2"), pod("web-2", "n3")]}),
        );
        assert_eq!(charts.len(), 2, "{charts:?}");
        assert_eq!(
            charts[0].title(),
            "StatefulSet shop/web: ready replicas per node"
        );
        assert_eq!(
            bars(&charts[0]),
            [("n2".into(), 2.0, true), ("n3".into(), 1.0, false)]
        );
        assert!(charts[0].caption().starts_with("2 of 3 ready replicas"));
        assert_eq!(
            bars(&charts[1]),
            [
                ("5.10.184-175.731.amzn2.x86_64".into(), 2.0, false),
                ("4.14.146-119.123.amzn2.x86_64".into(), 1.0, true)
            ]
        );
        assert!(charts[1].caption().starts_with("1 of 3 nodes"));
    }

    #[test]
    fn throttling_against_use_for_a_throttled_container() {
        use crate::runtime::{Runtime, Series as Ts, SignalData};
        let objects = load_bytes(
            Arc::from("api.yaml"),
            b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        resources: {limits: {cpu: '2'}}\n",
            None,
        )
        .objects;
        let series = |pod: &str, value: f64| Ts {
            labels: [("namespace", "shop"), ("pod", pod), ("container", "app")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            points: (0..=60)
                .map(|i| (1_800_000_000.0 + 60.0 * f64::from(i), value))
                .collect(),
        };
        let rt = Runtime {
            source: Arc::from("http://prometheus:9090"),
            start: 1_800_000_000.0,
            end: 1_800_003_600.0,
            step: 60.0,
            signals: [
                (
                    runtime::CPU_THROTTLED_RATIO.id,
                    SignalData::Present(vec![
                        series("api-5d8f7c9b6-aaaaa", 0.4),
                        series("api-5d8f7c9b6-bbbbb", 0.7),
                    ]),
                ),
                (
                    runtime::CPU_LIMIT_UTILISATION.id,
                    SignalData::Present(vec![
                        series("api-5d8f7c9b6-aaaaa", 0.1),
                        series("api-5d8f7c9b6-bbbbb", 0.05),
                    ]),
                ),
            ]
            .into_iter()
            .collect(),
        };
        let cx = crate::rules::Context::new(&objects).with_metrics(Some(&rt));
        let findings = crate::rules::run(&cx, crate::rules::ALL).findings;
        assert!(
            findings
                .iter()
                .any(|f| f.rule == "cpu.throttled-despite-low-usage"),
            "{findings:?}"
        );
        let charts = metrics(&cx, &findings);
        assert_eq!(charts.len(), 1, "{charts:?}");
        let Chart::Line(line) = &charts[0] else {
            panic!("expected a line chart");
        };
        // The most throttled pod, both series in percent.
        assert_eq!(
            line.title,
            "shop/api-5d8f7c9b6-bbbbb `app`: throttled while using little CPU"
        );
        assert_eq!(line.series[0].points[0].1, 70.0);
        assert_eq!(line.series[1].points[0].1, 5.0);
        assert_eq!(line.series[0].points.len(), 61);
        // Without the finding there is nothing to picture.
        assert!(metrics(&cx, &[]).is_empty());
    }

    #[test]
    fn nothing_to_picture_without_findings_or_live_state() {
        // Spread replicas on fixed kernels: no colocation finding, no affected kernel.
        let charts = pictures(
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
            node("n2", "5.10.184-175.731.amzn2.x86_64"),
            node("n3", "5.10.184-175.731.amzn2.x86_64"),
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "shop"},
             "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web"}]}}}},
            pod("web-0", "n2"), pod("web-1", "n3")]}),
        );
        assert!(charts.is_empty(), "{charts:?}");
        // Manifests only.
        let charts = pictures(
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a"}, "spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}),
        );
        assert!(charts.is_empty());
    }
}
