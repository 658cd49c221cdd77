//! `security.unexplained-cpu-burn`: CPU burned on many nodes that no pod accounts for, or in
//! containers the kubelet never started (JW Player).

use std::collections::{BTreeMap, BTreeSet};

use crate::config;
use crate::rules::metrics::{Joiner, Subject, node_name, pct, span};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::runtime::{self, Series, longest, minutes, runs};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "security.unexplained-cpu-burn",
        title: "CPU burned on many nodes outside any pod",
        severity: Severity::High,
        stories: &[Story::JwPlayer],
        needs: Needs::Metrics,
        rationale: "At JW Player, monitoring alerted on high load for days before someone found a \
            process named `gcc` at 100% CPU on every machine: a crypto miner started through Weave \
            Scope, whose privileged agent and Docker socket give a shell on every node. Such a process \
            runs outside the pods Kubernetes knows about, so its CPU shows up in the node's busy time \
            but in no pod's usage, and when started through a Docker socket it appears in cAdvisor as a \
            container cgroup with no pod. Defaults: node busy cores (node_exporter, all modes but idle, \
            iowait, steal) minus the CPU of the node's pods (cAdvisor joined to `kube_pod_info`) above \
            30% of the node's cores on at least half of the nodes at once, sustained 30 minutes; or a \
            container runtime cgroup outside `kubepods` with no `pod` label using more than 0.1 core for \
            30 minutes; or the pods of one workload using more than 4× their own 7-day p95 (and 0.1 \
            core more) on at least half its pods at once for 30 minutes. A busy node whose pods \
            account for its CPU, or a workload busy as usual, never fires.",
        remediation: "Find the process (`top` on the node, `crictl ps`, `docker ps` for containers not \
            in kubepods), take the node out of service, and look for how it got there: admin UIs on \
            public load balancers, privileged DaemonSets with the container runtime socket or host \
            PID, leaked credentials.",
        example: r#"# 45 minutes, a sample a minute: `rate R` is a counter growing R per second, `gauge V` a constant
node_cpu_seconds_total{instance="10.0.0.7:9100",cpu="0",mode="idle"} rate 0.05
node_cpu_seconds_total{instance="10.0.0.7:9100",cpu="0",mode="user"} rate 0.95
node_uname_info{instance="10.0.0.7:9100",nodename="node-a"} gauge 1
container_cpu_usage_seconds_total{namespace="web",pod="api-0",container="app"} rate 0.1
kube_pod_info{namespace="web",pod="api-0",node="node-a",created_by_kind="StatefulSet",created_by_name="api"} gauge 1
"#,
    },
    check,
};

/// Thresholds.
#[derive(Debug, Clone)]
pub struct Params {
    /// Busy cores not accounted for by pods, as a fraction of the node's cores.
    pub unaccounted: f64,
    /// Fraction of nodes that must show it at once.
    pub nodes_fraction: f64,
    /// Cores used by a container cgroup without a pod.
    pub unmanaged_cores: f64,
    /// A pod "jumps" when its CPU exceeds this many times its own 7-day p95...
    pub jump_factor: f64,
    /// ...and at least this many cores above it (tiny baselines jump easily).
    pub jump_min_cores: f64,
    /// How long, in seconds.
    pub min_duration: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            unaccounted: 0.3,
            nodes_fraction: 0.5,
            unmanaged_cores: 0.1,
            jump_factor: 4.0,
            jump_min_cores: 0.1,
            min_duration: 30.0 * 60.0,
        }
    }
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    // Thresholds from `.hindsight.yaml` (`thresholds:`), defaults otherwise.
    let t = &cx.params.thresholds;
    let params = Params {
        jump_factor: t.get(&config::SECURITY_BURN_FACTOR),
        nodes_fraction: t.get(&config::SECURITY_BURN_NODE_FRACTION),
        min_duration: t.get(&config::SECURITY_BURN_MINUTES) * 60.0,
        ..Params::default()
    };
    check_with(cx, out, &params);
}

pub fn check_with(cx: &Context<'_>, out: &mut Sink, p: &Params) {
    let Some(rt) = cx.metrics else { return };
    let join = Joiner::new(cx, rt);
    let busy = rt.get(&runtime::NODE_CPU_BUSY_CORES);
    let cores = rt.get(&runtime::NODE_CPU_CORES);
    let pod_cpu = rt.get(&runtime::NODE_POD_CPU);
    let unmanaged = rt.get(&runtime::UNMANAGED_CONTAINER_CPU);
    let mut ran = false;

    if let (Ok(busy), Ok(cores), Ok(pod_cpu)) = (&busy, &cores, &pod_cpu) {
        ran = true;
        unaccounted(rt, &join, out, p, busy, cores, pod_cpu);
    }
    if let (Ok(now), Ok(baseline)) = (
        rt.get(&runtime::POD_CPU),
        rt.get(&runtime::POD_CPU_BASELINE),
    ) {
        ran = true;
        jumps(rt, &join, out, p, now, baseline);
    }
    if let Ok(unmanaged) = &unmanaged {
        ran = true;
        for s in *unmanaged {
            let r = runs(&s.points, rt.step, |_, v| v > p.unmanaged_cores);
            let Some((from, to, d)) = longest(&r, p.min_duration) else {
                continue;
            };
            let node = node_name(s);
            let image = match s.label("image") {
                "" => String::new(),
                i => format!(" (image `{i}`)"),
            };
            join.report(
                out,
                &Subject::node(&node),
                None,
                format!(
                    "container cgroup `{}`{image} that the kubelet did not create used over {} cores for {} ({}): something runs containers behind Kubernetes' back",
                    s.label("id"),
                    p.unmanaged_cores,
                    minutes(d),
                    span(from, to)
                ),
            );
        }
    }
    if !ran {
        let why = [busy.err(), cores.err(), pod_cpu.err(), unmanaged.err()]
            .into_iter()
            .flatten()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join("; ");
        out.not_run(why);
    }
}

/// Workloads whose pods jump far above their own baseline on at least half their nodes at once
/// (a miner injected into every pod of a DaemonSet looks like this).
fn jumps(
    rt: &runtime::Runtime,
    join: &Joiner<'_>,
    out: &mut Sink,
    p: &Params,
    now: &[Series],
    baseline: &[Series],
) {
    let base: BTreeMap<(&str, &str), f64> = baseline
        .iter()
        .filter_map(|s| Some(((s.label("namespace"), s.label("pod")), s.last()?)))
        .collect();
    let mut owners: BTreeMap<Subject, Vec<(&Series, f64)>> = BTreeMap::new();
    for s in now {
        let (ns, pod) = (s.label("namespace"), s.label("pod"));
        let Some(&b) = base.get(&(ns, pod)) else {
            continue;
        };
        let owner = join.workload_of(ns, pod);
        if owner.kind != "Pod" {
            owners.entry(owner).or_default().push((s, b));
        }
    }
    for (owner, pods) in owners {
        if pods.len() < 2 {
            continue;
        }
        let jumped = |s: &Series, b: f64, t: f64| {
            s.at(t)
                .is_some_and(|v| v > b * p.jump_factor && v - b > p.jump_min_cores)
        };
        let share: Vec<(f64, f64)> = rt
            .steps()
            .map(|t| {
                let n = pods.iter().filter(|(s, b)| jumped(s, *b, t)).count();
                (t, n as f64 / pods.len() as f64)
            })
            .collect();
        let r = runs(&share, rt.step, |_, v| v >= p.nodes_fraction);
        let Some((from, to, d)) = longest(&r, p.min_duration) else {
            continue;
        };
        let hit: Vec<&(&Series, f64)> = pods.iter().filter(|(s, b)| jumped(s, *b, to)).collect();
        let mean_now =
            hit.iter().filter_map(|(s, _)| s.at(to)).sum::<f64>() / hit.len().max(1) as f64;
        let mean_base = hit.iter().map(|(_, b)| b).sum::<f64>() / hit.len().max(1) as f64;
        join.report(
            out,
            &owner,
            None,
            format!(
                "{} of its {} pods used {mean_now:.2} cores each against a 7-day p95 of {mean_base:.2} for {} ({}): the same jump on many nodes at once is what a miner looks like",
                hit.len(),
                pods.len(),
                minutes(d),
                span(from, to)
            ),
        );
    }
}

fn unaccounted(
    rt: &runtime::Runtime,
    join: &Joiner<'_>,
    out: &mut Sink,
    p: &Params,
    busy: &[Series],
    cores: &[Series],
    pod_cpu: &[Series],
) {
    let cores: BTreeMap<String, &Series> = cores.iter().map(|s| (node_name(s), s)).collect();
    let pods: BTreeMap<&str, &Series> = pod_cpu.iter().map(|s| (s.label("node"), s)).collect();
    // Per node, the unaccounted fraction at each step.
    let mut frac: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for b in busy {
        let name = node_name(b);
        let Some(c) = cores.get(&name) else { continue };
        let pod = pods.get(name.as_str());
        let points = b
            .points
            .iter()
            .filter_map(|&(t, v)| {
                let n = c.at(t).filter(|n| *n > 0.0)?;
                let used = pod.and_then(|s| s.at(t)).unwrap_or(0.0);
                Some((t, (v - used) / n))
            })
            .collect();
        frac.insert(name, points);
    }
    if frac.is_empty() {
        return;
    }
    // Cluster-wide: at each step, the share of nodes over the threshold.
    let wide: Vec<(f64, f64)> = rt
        .steps()
        .filter_map(|t| {
            let vals: Vec<f64> = frac
                .values()
                .filter_map(|pts| {
                    pts.binary_search_by(|(ts, _)| ts.total_cmp(&t))
                        .ok()
                        .map(|i| pts[i].1)
                })
                .collect();
            (!vals.is_empty()).then(|| {
                let over = vals.iter().filter(|v| **v > p.unaccounted).count();
                (t, over as f64 / vals.len() as f64)
            })
        })
        .collect();
    let r = runs(&wide, rt.step, |_, share| share >= p.nodes_fraction);
    let Some((from, to, d)) = longest(&r, p.min_duration) else {
        return;
    };
    let total = frac.len();
    let mut hit: Vec<(&String, f64)> = Vec::new();
    for (node, pts) in &frac {
        let inside: Vec<f64> = pts
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|p| p.1)
            .collect();
        let over = inside.iter().filter(|v| **v > p.unaccounted).count();
        if !inside.is_empty() && over * 2 >= inside.len() {
            hit.push((node, inside.iter().sum::<f64>() / inside.len() as f64));
        }
    }
    for (node, mean) in &hit {
        join.report(
            out,
            &Subject::node(node),
            None,
            format!(
                "{} of the node's CPU was busy outside any pod for {} ({}), on {} of {} nodes at once: look for processes Kubernetes did not start",
                pct(*mean),
                minutes(d),
                span(from, to),
                hit.len(),
                total
            ),
        );
    }
}
