//! `memory.oom-kills`: containers killed for running out of memory during the window.

use std::collections::BTreeMap;

use crate::rules::metrics::{Joiner, Subject};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::runtime::{self, minutes};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "memory.oom-kills",
        title: "Containers OOM-killed during the window",
        severity: Severity::Medium,
        stories: &[Story::Buffer],
        needs: Needs::Metrics,
        rationale: "An OOM kill drops every request in flight and restarts the container cold; repeated \
            kills turn into CrashLoopBackOff. Buffer removed CPU limits to escape throttling, but had \
            earlier seen kubelets go NotReady when pods ran without limits: memory is the resource that \
            cannot be throttled, only killed. Counted per container over the scan window from \
            cAdvisor's `container_oom_events_total`, or, when that is absent, from kube-state-metrics \
            restarts (`kube_pod_container_status_restarts_total`) of containers whose last termination \
            reason was `OOMKilled`, then summed per workload. Defaults: any kill is a finding; 5 or \
            more is high severity.",
        remediation: "Compare the container's memory limit with its real peak \
            (`container_memory_working_set_bytes`); raise the limit (and request) or fix the leak. Keep \
            a memory limit on every container so one leak cannot take the node down.",
        example: r#"# 45 minutes, a sample a minute: `rate R` is a counter growing R per second, `gauge V` a constant
container_oom_events_total{namespace="shop",pod="worker-5c6d7-q8r9s",container="worker"} rate 0.002
"#,
    },
    check,
};

/// Thresholds.
#[derive(Debug, Clone)]
pub struct Params {
    /// Kills at or above which the finding is high severity.
    pub high_kills: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { high_kills: 5.0 }
    }
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    check_with(cx, out, &Params::default());
}

pub fn check_with(cx: &Context<'_>, out: &mut Sink, p: &Params) {
    let Some(rt) = cx.metrics else { return };
    let events = rt.get(&runtime::OOM_EVENTS);
    let restarts = rt.get(&runtime::OOM_RESTARTS);
    if let (Err(a), Err(b)) = (&events, &restarts) {
        return out.not_run(format!("{a}; {b}"));
    }
    // Per container, the larger of the two counts (they describe the same kills).
    let mut kills: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for s in events
        .unwrap_or(&[])
        .iter()
        .chain(restarts.unwrap_or(&[]).iter())
    {
        let k = (
            s.label("namespace").to_owned(),
            s.label("pod").to_owned(),
            s.label("container").to_owned(),
        );
        let v = s.last().unwrap_or(0.0).round();
        let e = kills.entry(k).or_insert(0.0);
        *e = e.max(v);
    }
    let join = Joiner::new(cx, rt);
    let mut per: BTreeMap<(Subject, String), (f64, Vec<String>)> = BTreeMap::new();
    for ((ns, pod, container), n) in kills {
        if n < 1.0 {
            continue;
        }
        let e = per
            .entry((join.workload_of(&ns, &pod), container))
            .or_default();
        e.0 += n;
        e.1.push(pod);
    }
    for ((subject, container), (n, pods)) in per {
        let pods = if pods.len() == 1 {
            format!("pod `{}`", pods[0])
        } else {
            format!("{} pods", pods.len())
        };
        let f = join.report(
            out,
            &subject,
            Some(&container),
            format!(
                "OOM-killed {n} time{} in {pods} over the last {}",
                if n == 1.0 { "" } else { "s" },
                minutes(rt.end - rt.start)
            ),
        );
        if n >= p.high_kills {
            f.severity = Severity::High;
        }
    }
}
