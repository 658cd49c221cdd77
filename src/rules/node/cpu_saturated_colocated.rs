//! `node.cpu-saturated-colocated`: a node pinned near 100% CPU that hosts several replicas of
//! one workload (Moonlight).

use std::collections::{BTreeMap, BTreeSet};

use crate::config;
use crate::rules::metrics::{Joiner, Subject, node_name, pct, span};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::runtime::{self, longest, minutes, runs};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "node.cpu-saturated-colocated",
        title: "Saturated node hosting several replicas of one workload",
        severity: Severity::High,
        stories: &[Story::Moonlight],
        needs: Needs::Metrics,
        rationale: "The scheduler places pods by requests, not by live usage, and nothing but \
            anti-affinity or spread constraints keeps replicas apart. At Moonlight, nodes at sustained \
            100% CPU kernel-panicked; because GKE kept putting the busy replicas together, each crash \
            took several replicas of Redis and then of the API down at once. A saturated node that \
            hosts two or more replicas of one workload is that outage waiting to happen: the replicas \
            share one failure and already compete for the same CPU. Defaults: node busy (1 − idle \
            fraction, node_exporter `node_cpu_seconds_total`) above 95% for at least 15 minutes (the \
            postmortem's \"sustained 100%\"; 15 minutes ignores batch spikes), while at least 2 pods of \
            the same owner ran there (kube-state-metrics `kube_pod_info`, `kube_replicaset_owner`).",
        remediation: "Spread the workload: a `topologySpreadConstraints` entry on \
            `kubernetes.io/hostname` with `whenUnsatisfiable: DoNotSchedule`, or required pod \
            anti-affinity; give its containers CPU requests that reflect real usage so the scheduler \
            stops packing them; find what saturates the node.",
        example: r#"# 45 minutes, a sample a minute: `rate R` is a counter growing R per second, `gauge V` a constant
node_cpu_seconds_total{instance="10.0.0.7:9100",cpu="0",mode="idle"} rate 0.01
node_cpu_seconds_total{instance="10.0.0.7:9100",cpu="0",mode="user"} rate 0.99
node_uname_info{instance="10.0.0.7:9100",nodename="node-a"} gauge 1
kube_pod_info{namespace="web",pod="api-7d9f8-aaaaa",node="node-a",created_by_kind="ReplicaSet",created_by_name="api-7d9f8"} gauge 1
kube_pod_info{namespace="web",pod="api-7d9f8-bbbbb",node="node-a",created_by_kind="ReplicaSet",created_by_name="api-7d9f8"} gauge 1
kube_replicaset_owner{namespace="web",replicaset="api-7d9f8",owner_kind="Deployment",owner_name="api"} gauge 1
"#,
    },
    check,
};

/// Thresholds.
#[derive(Debug, Clone)]
pub struct Params {
    /// Busy fraction above which a node counts as saturated.
    pub busy: f64,
    /// How long, in seconds.
    pub min_duration: f64,
    /// Pods of one owner on the node that make it a finding.
    pub min_replicas: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            busy: 0.95,
            min_duration: 15.0 * 60.0,
            min_replicas: 2,
        }
    }
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    // Thresholds from `.hindsight.yaml` (`thresholds:`), defaults otherwise.
    let t = &cx.params.thresholds;
    let params = Params {
        busy: t.get(&config::NODE_BUSY_RATIO),
        min_duration: t.get(&config::NODE_BUSY_MINUTES) * 60.0,
        min_replicas: t.get(&config::NODE_MIN_REPLICAS) as usize,
    };
    check_with(cx, out, &params);
}

pub fn check_with(cx: &Context<'_>, out: &mut Sink, p: &Params) {
    let Some(rt) = cx.metrics else { return };
    let busy = match rt.get(&runtime::NODE_CPU_BUSY) {
        Ok(b) => b,
        Err(why) => return out.not_run(why),
    };
    let pods_live = rt.get(&runtime::POD_INFO);
    let loaded_pods: Vec<_> = cx
        .index
        .of_kind("Pod")
        .filter(|o| o.root.str_at(&["spec", "nodeName"]).is_some())
        .collect();
    if let Err(why) = &pods_live
        && loaded_pods.is_empty()
    {
        return out.not_run(format!(
            "{why}; without it (or Pods from a cluster snapshot) replicas cannot be placed on nodes"
        ));
    }
    let pods_live = pods_live.unwrap_or(&[]);
    let join = Joiner::new(cx, rt);
    for node in busy {
        let name = node_name(node);
        let r = runs(&node.points, rt.step, |_, v| v > p.busy);
        let Some((from, to, duration)) = longest(&r, p.min_duration) else {
            continue;
        };
        // Pods on this node during the saturated run, from metrics and from loaded Pods.
        let mut pods: BTreeSet<(String, String)> = pods_live
            .iter()
            .filter(|s| s.label("node") == name)
            .filter(|s| s.points.iter().any(|(t, _)| *t >= from && *t <= to))
            .map(|s| (s.label("namespace").to_owned(), s.label("pod").to_owned()))
            .collect();
        pods.extend(
            loaded_pods
                .iter()
                .filter(|o| o.root.str_at(&["spec", "nodeName"]) == Some(name.as_str()))
                .map(|o| (o.namespace_or_default().to_owned(), o.name.clone())),
        );
        let mut by_owner: BTreeMap<Subject, Vec<String>> = BTreeMap::new();
        for (ns, pod) in &pods {
            let owner = join.workload_of(ns, pod);
            if owner.kind != "Pod" && owner.kind != "DaemonSet" {
                by_owner.entry(owner).or_default().push(pod.clone());
            }
        }
        let peak = node
            .points
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|p| p.1)
            .fold(0.0, f64::max);
        for (owner, pods) in by_owner {
            if pods.len() < p.min_replicas {
                continue;
            }
            join.report(
                out,
                &owner,
                None,
                format!(
                    "{} replicas ({}) ran on node `{name}` while it was over {} busy for {} (peak {}, {}): one node failure takes them all",
                    pods.len(),
                    pods.iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    pct(p.busy),
                    minutes(duration),
                    pct(peak),
                    span(from, to),
                ),
            );
        }
    }
}
