//! `stateful.replica-ready-but-unsynced`: a Redis replica pod reported Ready while its link to
//! the master was down or a full sync was in progress (Flant).

use crate::rules::metrics::{Joiner, by_pod, span};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::runtime::{self, longest, minutes, runs};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "stateful.replica-ready-but-unsynced",
        title: "Redis replica Ready while not in sync with its master",
        severity: Severity::High,
        stories: &[Story::Flant],
        needs: Needs::Metrics,
        rationale: "In the Flant incident (spotahome/redis-operator#205) a new Redis replica passed a \
            ping-only readiness probe before its full sync had transferred any data; the rolling update \
            then stopped the master, Sentinel promoted the empty replica, and the old master \
            replicated the empty dataset: total loss. Ready is what rolling updates, PodDisruptionBudgets \
            and Services trust, so a replica that is Ready while `master_link_status` is down or \
            `master_sync_in_progress` is 1 is exactly the window in which that happens. Default: two \
            consecutive evaluations (one minute apart at the default 60 s step, about two scrapes) where redis_exporter's \
            `redis_master_link_up` is 0 or `redis_master_sync_in_progress` is 1 while \
            kube-state-metrics' `kube_pod_status_ready{condition=\"true\"}` is 1; even a short overlap \
            is the hazard.",
        remediation: "Use a readiness probe that checks replication: fail unless `INFO replication` \
            shows `master_link_status:up` and `master_sync_in_progress:0` (and `loading:0`), as the \
            spotahome operator's `ready.sh` does for sync state; add a PodDisruptionBudget and avoid \
            rolling a replicated database's StatefulSet while a replica syncs.",
        example: r#"# 45 minutes, a sample a minute: `rate R` is a counter growing R per second, `gauge V` a constant
redis_master_link_up{namespace="db",pod="rfr-redis-1",master_host="10.0.1.5",master_port="6379"} gauge 0
redis_master_sync_in_progress{namespace="db",pod="rfr-redis-1",master_host="10.0.1.5",master_port="6379"} gauge 1
kube_pod_status_ready{namespace="db",pod="rfr-redis-1",condition="true"} gauge 1
"#,
    },
    check,
};

/// Thresholds.
#[derive(Debug, Clone)]
pub struct Params {
    /// How long the overlap must last, in seconds (60 s = two consecutive evaluations at the
    /// default step).
    pub min_duration: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { min_duration: 60.0 }
    }
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    check_with(cx, out, &Params::default());
}

pub fn check_with(cx: &Context<'_>, out: &mut Sink, p: &Params) {
    let Some(rt) = cx.metrics else { return };
    let (link_down, ready) = match (
        rt.get(&runtime::REDIS_LINK_DOWN),
        rt.get(&runtime::POD_READY),
    ) {
        (Ok(l), Ok(r)) => (l, r),
        (Err(why), _) | (_, Err(why)) => return out.not_run(why),
    };
    let syncing = by_pod(rt.optional(&runtime::REDIS_SYNCING));
    let ready = by_pod(ready);
    let join = Joiner::new(cx, rt);
    for l in link_down {
        let (ns, pod) = (l.label("namespace"), l.label("pod"));
        let Some(r) = ready.get(&(ns, pod)) else {
            continue;
        };
        let s = syncing.get(&(ns, pod));
        let bad = |t: f64| {
            l.at(t).is_some_and(|v| v >= 1.0) || s.and_then(|s| s.at(t)).is_some_and(|v| v >= 1.0)
        };
        let grid: Vec<(f64, f64)> = rt.steps().map(|t| (t, 0.0)).collect();
        let overlap = runs(&grid, rt.step, |t, _| {
            bad(t) && r.at(t).is_some_and(|v| v >= 1.0)
        });
        let Some((from, to, d)) = longest(&overlap, p.min_duration) else {
            continue;
        };
        let why = if s.and_then(|s| s.at(from)).is_some_and(|v| v >= 1.0) {
            "a full sync was in progress"
        } else {
            "its link to the master was down"
        };
        let subject = join.workload_of(ns, pod);
        join.report(
            out,
            &subject,
            None,
            format!(
                "Redis replica `{pod}` was Ready while {why} for {} ({}): a failover or rollout in that window can promote a replica without the data",
                minutes(d),
                span(from, to)
            ),
        );
    }
}
