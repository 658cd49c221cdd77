//! Runtime signals: what hindsight reads from Prometheus, as plain data.
//!
//! Invariants: no network and no async here. [`SIGNALS`] is the catalogue of every PromQL query
//! hindsight runs (rules refer to the statics below, never to query strings); a source
//! ([`crate::sources::prometheus`]) evaluates them over a window and fills a [`Runtime`]. A
//! signal whose metric families are absent from the window is [`SignalData::Absent`] with the
//! reason a user can act on: absence is never read as health.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Where a family of metrics comes from, for "is it scraped?" notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exporter {
    Cadvisor,
    KubeStateMetrics,
    NodeExporter,
    FluentBit,
    RedisExporter,
}

impl Exporter {
    pub fn name(self) -> &'static str {
        match self {
            Exporter::Cadvisor => "cAdvisor",
            Exporter::KubeStateMetrics => "kube-state-metrics",
            Exporter::NodeExporter => "node_exporter",
            Exporter::FluentBit => "fluent-bit",
            Exporter::RedisExporter => "redis_exporter",
        }
    }

    /// The notice given when none of this exporter's families needed by a signal exist.
    pub fn absent_hint(self) -> &'static str {
        match self {
            Exporter::Cadvisor => {
                "no cAdvisor metrics: is the kubelet's /metrics/cadvisor endpoint scraped?"
            }
            Exporter::KubeStateMetrics => {
                "no kube-state-metrics metrics: is kube-state-metrics installed and scraped?"
            }
            Exporter::NodeExporter => {
                "no node_exporter metrics: is node_exporter running on the nodes and scraped?"
            }
            Exporter::FluentBit => {
                "no fluent-bit metrics: is fluent-bit's HTTP server (port 2020, /api/v1/metrics/prometheus) scraped?"
            }
            Exporter::RedisExporter => {
                "no redis_exporter metrics: is the Redis exporter sidecar enabled and scraped?"
            }
        }
    }
}

/// How a signal is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `query_range` from start to end at the scan's step: a time series per label set.
    Range,
    /// `query` at the window's end; `$window` in the query is replaced by the window (`6h`).
    Instant,
}

/// One PromQL query and the metric families it cannot do without.
#[derive(Debug)]
pub struct Signal {
    /// Stable id, used as the key in [`Runtime`] and in the docs.
    pub id: &'static str,
    pub query: &'static str,
    pub shape: Shape,
    /// Families that must exist in the window for the result to mean anything, with their
    /// exporter. If any is absent the signal is absent (an empty result would look healthy).
    pub requires: &'static [(&'static str, Exporter)],
}

/// cAdvisor container filter: real containers, not the pause container or cgroup roll-ups.
macro_rules! ctr {
    () => {
        r#"container!="",container!="POD""#
    };
}

/// Fraction of CFS periods in which the container was throttled (Buffer).
pub static CPU_THROTTLED_RATIO: Signal = Signal {
    id: "cpu_throttled_ratio",
    query: concat!(
        "sum by (namespace,pod,container)(increase(container_cpu_cfs_throttled_periods_total{",
        ctr!(),
        "}[5m])) / sum by (namespace,pod,container)(increase(container_cpu_cfs_periods_total{",
        ctr!(),
        "}[5m]))"
    ),
    shape: Shape::Range,
    requires: &[
        (
            "container_cpu_cfs_throttled_periods_total",
            Exporter::Cadvisor,
        ),
        ("container_cpu_cfs_periods_total", Exporter::Cadvisor),
    ],
};

/// CPU used as a fraction of the CPU limit: kube-state-metrics' limit, else cAdvisor's quota.
pub static CPU_LIMIT_UTILISATION: Signal = Signal {
    id: "cpu_limit_utilisation",
    query: concat!(
        "sum by (namespace,pod,container)(rate(container_cpu_usage_seconds_total{",
        ctr!(),
        "}[5m])) / on(namespace,pod,container) (",
        "sum by (namespace,pod,container)(kube_pod_container_resource_limits{resource=\"cpu\"}) or ",
        "sum by (namespace,pod,container)(container_spec_cpu_quota{",
        ctr!(),
        "} / container_spec_cpu_period{",
        ctr!(),
        "}))"
    ),
    shape: Shape::Range,
    requires: &[("container_cpu_usage_seconds_total", Exporter::Cadvisor)],
};

/// Fraction of each node's CPU time not idle (node_exporter), labelled with its hostname.
pub static NODE_CPU_BUSY: Signal = Signal {
    id: "node_cpu_busy",
    query: "(1 - avg by (instance)(rate(node_cpu_seconds_total{mode=\"idle\"}[5m]))) \
            * on(instance) group_left(nodename) max by (instance,nodename)(node_uname_info)",
    shape: Shape::Range,
    requires: &[
        ("node_cpu_seconds_total", Exporter::NodeExporter),
        ("node_uname_info", Exporter::NodeExporter),
    ],
};

/// Busy cores per node (node_exporter), labelled with its hostname.
pub static NODE_CPU_BUSY_CORES: Signal = Signal {
    id: "node_cpu_busy_cores",
    query: "sum by (instance)(rate(node_cpu_seconds_total{mode!~\"idle|iowait|steal\"}[5m])) \
            * on(instance) group_left(nodename) max by (instance,nodename)(node_uname_info)",
    shape: Shape::Range,
    requires: &[
        ("node_cpu_seconds_total", Exporter::NodeExporter),
        ("node_uname_info", Exporter::NodeExporter),
    ],
};

/// Cores per node, as node_exporter counts them.
pub static NODE_CPU_CORES: Signal = Signal {
    id: "node_cpu_cores",
    query: "count by (instance)(node_cpu_seconds_total{mode=\"idle\"}) \
            * on(instance) group_left(nodename) max by (instance,nodename)(node_uname_info)",
    shape: Shape::Range,
    requires: &[
        ("node_cpu_seconds_total", Exporter::NodeExporter),
        ("node_uname_info", Exporter::NodeExporter),
    ],
};

/// CPU used by pods' containers per node (cAdvisor joined to kube-state-metrics' pod node).
pub static NODE_POD_CPU: Signal = Signal {
    id: "node_pod_cpu",
    query: concat!(
        "sum by (node)(sum by (namespace,pod)(rate(container_cpu_usage_seconds_total{",
        ctr!(),
        ",pod!=\"\"}[5m])) * on(namespace,pod) group_left(node) max by (namespace,pod,node)(kube_pod_info))"
    ),
    shape: Shape::Range,
    requires: &[
        ("container_cpu_usage_seconds_total", Exporter::Cadvisor),
        ("kube_pod_info", Exporter::KubeStateMetrics),
    ],
};

/// CPU burned in container cgroups the kubelet did not create: a container runtime scope with
/// no pod (what a miner started through a Docker socket looks like).
pub static UNMANAGED_CONTAINER_CPU: Signal = Signal {
    id: "unmanaged_container_cpu",
    query: "sum by (instance,node,id,name,image)(rate(container_cpu_usage_seconds_total{pod=\"\",\
            id=~\"/docker/.+|/system.slice/(docker|containerd|crio)-.+\\\\.scope\",id!~\".*kubepods.*\"}[5m]))",
    shape: Shape::Range,
    requires: &[("container_cpu_usage_seconds_total", Exporter::Cadvisor)],
};

/// CPU per pod (cores).
pub static POD_CPU: Signal = Signal {
    id: "pod_cpu",
    query: concat!(
        "sum by (namespace,pod)(rate(container_cpu_usage_seconds_total{",
        ctr!(),
        "}[5m]))"
    ),
    shape: Shape::Range,
    requires: &[("container_cpu_usage_seconds_total", Exporter::Cadvisor)],
};

/// Each pod's own baseline: the 95th percentile of its CPU over the 7 days before the window.
pub static POD_CPU_BASELINE: Signal = Signal {
    id: "pod_cpu_baseline",
    query: concat!(
        "quantile_over_time(0.95, sum by (namespace,pod)(rate(container_cpu_usage_seconds_total{",
        ctr!(),
        "}[5m]))[7d:5m] offset $window)"
    ),
    shape: Shape::Instant,
    requires: &[("container_cpu_usage_seconds_total", Exporter::Cadvisor)],
};

/// Which pods existed where, from kube-state-metrics (also the join of pods to nodes/owners).
pub static POD_INFO: Signal = Signal {
    id: "pod_info",
    query: "max by (namespace,pod,node,created_by_kind,created_by_name)(kube_pod_info)",
    shape: Shape::Range,
    requires: &[("kube_pod_info", Exporter::KubeStateMetrics)],
};

/// Pod readiness from kube-state-metrics.
pub static POD_READY: Signal = Signal {
    id: "pod_ready",
    query: "max by (namespace,pod)(kube_pod_status_ready{condition=\"true\"})",
    shape: Shape::Range,
    requires: &[("kube_pod_status_ready", Exporter::KubeStateMetrics)],
};

/// ReplicaSet → Deployment ownership, from kube-state-metrics.
pub static REPLICASET_OWNER: Signal = Signal {
    id: "replicaset_owner",
    query: "max by (namespace,replicaset,owner_kind,owner_name)(max_over_time(kube_replicaset_owner[$window]))",
    shape: Shape::Instant,
    requires: &[("kube_replicaset_owner", Exporter::KubeStateMetrics)],
};

/// Kernel and OS image per node, from kube-state-metrics (the CFS bug verdict).
pub static NODE_INFO: Signal = Signal {
    id: "node_info",
    query: "max by (node,kernel_version,os_image)(max_over_time(kube_node_info[$window]))",
    shape: Shape::Instant,
    requires: &[("kube_node_info", Exporter::KubeStateMetrics)],
};

/// Log shipper records read, per shipper pod or target.
pub static SHIPPER_IN: Signal = Signal {
    id: "shipper_in",
    query: "sum by (namespace,pod,instance)(rate(fluentbit_input_records_total[10m]))",
    shape: Shape::Range,
    requires: &[
        ("fluentbit_input_records_total", Exporter::FluentBit),
        ("fluentbit_output_proc_records_total", Exporter::FluentBit),
    ],
};

/// Log shipper records delivered.
pub static SHIPPER_OUT: Signal = Signal {
    id: "shipper_out",
    query: "sum by (namespace,pod,instance)(rate(fluentbit_output_proc_records_total[10m]))",
    shape: Shape::Range,
    requires: &[
        ("fluentbit_input_records_total", Exporter::FluentBit),
        ("fluentbit_output_proc_records_total", Exporter::FluentBit),
    ],
};

/// Records a shipper gave up on (retries exhausted or dropped) over the window.
pub static SHIPPER_LOST: Signal = Signal {
    id: "shipper_lost",
    query: "sum by (namespace,pod,instance)(increase({__name__=~\"fluentbit_output_retries_failed_total|fluentbit_output_dropped_records_total\"}[$window]))",
    shape: Shape::Instant,
    requires: &[("fluentbit_output_proc_records_total", Exporter::FluentBit)],
};

/// TCP segments retransmitted per segment sent, per node.
pub static TCP_RETRANSMIT_RATIO: Signal = Signal {
    id: "tcp_retransmit_ratio",
    query: "(rate(node_netstat_Tcp_RetransSegs[5m]) / clamp_min(rate(node_netstat_Tcp_OutSegs[5m]), 1)) \
            * on(instance) group_left(nodename) max by (instance,nodename)(node_uname_info)",
    shape: Shape::Range,
    requires: &[
        ("node_netstat_Tcp_RetransSegs", Exporter::NodeExporter),
        ("node_netstat_Tcp_OutSegs", Exporter::NodeExporter),
        ("node_uname_info", Exporter::NodeExporter),
    ],
};

/// Conntrack insert failures per second, per node (the SNAT/DNAT race signature).
pub static CONNTRACK_INSERT_FAILED: Signal = Signal {
    id: "conntrack_insert_failed",
    query: "sum by (instance)(rate(node_nf_conntrack_stat_insert_failed[5m])) \
            * on(instance) group_left(nodename) max by (instance,nodename)(node_uname_info)",
    shape: Shape::Range,
    requires: &[
        (
            "node_nf_conntrack_stat_insert_failed",
            Exporter::NodeExporter,
        ),
        ("node_uname_info", Exporter::NodeExporter),
    ],
};

/// Conntrack table fill (entries / limit), per node.
pub static CONNTRACK_FILL: Signal = Signal {
    id: "conntrack_fill",
    query: "(node_nf_conntrack_entries / node_nf_conntrack_entries_limit) \
            * on(instance) group_left(nodename) max by (instance,nodename)(node_uname_info)",
    shape: Shape::Range,
    requires: &[
        ("node_nf_conntrack_entries", Exporter::NodeExporter),
        ("node_nf_conntrack_entries_limit", Exporter::NodeExporter),
        ("node_uname_info", Exporter::NodeExporter),
    ],
};

/// Redis replicas whose link to the master is down (1) or up (0).
pub static REDIS_LINK_DOWN: Signal = Signal {
    id: "redis_link_down",
    query: "max by (namespace,pod)(redis_master_link_up == bool 0)",
    shape: Shape::Range,
    requires: &[("redis_master_link_up", Exporter::RedisExporter)],
};

/// Redis replicas in the middle of a full sync.
pub static REDIS_SYNCING: Signal = Signal {
    id: "redis_syncing",
    query: "max by (namespace,pod)(redis_master_sync_in_progress)",
    shape: Shape::Range,
    requires: &[("redis_master_sync_in_progress", Exporter::RedisExporter)],
};

/// OOM kills per container over the window, from cAdvisor's counter.
pub static OOM_EVENTS: Signal = Signal {
    id: "oom_events",
    query: concat!(
        "sum by (namespace,pod,container)(increase(container_oom_events_total{",
        ctr!(),
        "}[$window])) > 0"
    ),
    shape: Shape::Instant,
    requires: &[("container_oom_events_total", Exporter::Cadvisor)],
};

/// Restarts over the window of containers whose last termination was an OOM kill
/// (kube-state-metrics; the kubernetes-mixin's approach).
pub static OOM_RESTARTS: Signal = Signal {
    id: "oom_restarts",
    query: "sum by (namespace,pod,container)(round(increase(kube_pod_container_status_restarts_total[$window]))) \
            and on(namespace,pod,container) (max by (namespace,pod,container)\
            (max_over_time(kube_pod_container_status_last_terminated_reason{reason=\"OOMKilled\"}[$window])) == 1)",
    shape: Shape::Instant,
    requires: &[
        (
            "kube_pod_container_status_restarts_total",
            Exporter::KubeStateMetrics,
        ),
        (
            "kube_pod_container_status_last_terminated_reason",
            Exporter::KubeStateMetrics,
        ),
    ],
};

/// Every signal, in the order they are fetched and documented.
pub static SIGNALS: &[&Signal] = &[
    &CPU_THROTTLED_RATIO,
    &CPU_LIMIT_UTILISATION,
    &NODE_CPU_BUSY,
    &NODE_CPU_BUSY_CORES,
    &NODE_CPU_CORES,
    &NODE_POD_CPU,
    &UNMANAGED_CONTAINER_CPU,
    &POD_CPU,
    &POD_CPU_BASELINE,
    &POD_INFO,
    &POD_READY,
    &REPLICASET_OWNER,
    &NODE_INFO,
    &SHIPPER_IN,
    &SHIPPER_OUT,
    &SHIPPER_LOST,
    &TCP_RETRANSMIT_RATIO,
    &CONNTRACK_INSERT_FAILED,
    &CONNTRACK_FILL,
    &REDIS_LINK_DOWN,
    &REDIS_SYNCING,
    &OOM_EVENTS,
    &OOM_RESTARTS,
];

/// One time series: its labels and `(unix seconds, value)` points in increasing time. NaN and
/// infinite values (a division by zero in PromQL) are dropped by the source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }

    /// The value at exactly `t` (range results share the step grid).
    pub fn at(&self, t: f64) -> Option<f64> {
        self.points
            .binary_search_by(|(ts, _)| ts.total_cmp(&t))
            .ok()
            .map(|i| self.points[i].1)
    }

    /// The mean of the values at times within `[from, to]` (0 when there are none).
    pub fn mean_in(&self, from: f64, to: f64) -> f64 {
        let (sum, n) = self
            .points
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .fold((0.0, 0usize), |(sum, n), p| (sum + p.1, n + 1));
        sum / n.max(1) as f64
    }

    /// The last value (instant results have exactly one).
    pub fn last(&self) -> Option<f64> {
        self.points.last().map(|p| p.1)
    }
}

/// What a signal yielded.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalData {
    /// The families exist; the result may still be empty (nothing matched the condition).
    Present(Vec<Series>),
    /// A required family is absent from the window: the reason says which and what to check.
    Absent(String),
    /// The query failed (reported as an error too).
    Failed(String),
}

/// Everything fetched for one scan.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Where the data came from (the Prometheus URL): the location of findings that match no
    /// loaded object.
    pub source: Arc<str>,
    pub start: f64,
    pub end: f64,
    pub step: f64,
    pub signals: BTreeMap<&'static str, SignalData>,
}

impl Runtime {
    /// The series of a signal, or why there are none to look at.
    pub fn get(&self, signal: &Signal) -> Result<&[Series], String> {
        match self.signals.get(signal.id) {
            Some(SignalData::Present(s)) => Ok(s),
            Some(SignalData::Absent(why)) => Err(why.clone()),
            Some(SignalData::Failed(why)) => Err(format!("query `{}` failed: {why}", signal.id)),
            None => Err(format!("signal `{}` was not fetched", signal.id)),
        }
    }

    /// Like [`Runtime::get`], but an absent optional signal is just empty.
    pub fn optional(&self, signal: &Signal) -> &[Series] {
        self.get(signal).unwrap_or(&[])
    }

    /// The step grid of range results, from start to end.
    pub fn steps(&self) -> impl Iterator<Item = f64> + '_ {
        let n = ((self.end - self.start) / self.step).floor().max(0.0) as usize;
        (0..=n).map(move |i| self.start + i as f64 * self.step)
    }

    /// Window length as PromQL writes it (`21600s`).
    pub fn window_promql(&self) -> String {
        format!("{}s", (self.end - self.start).round() as i64)
    }
}

/// Runs of consecutive grid points where `holds` is true, as `(first, last)` timestamps; a run
/// lasts `last - first + step` seconds. Missing points break a run: no data is not a symptom.
pub fn runs(points: &[(f64, f64)], step: f64, holds: impl Fn(f64, f64) -> bool) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut current: Option<(f64, f64)> = None;
    for &(t, v) in points {
        if holds(t, v) {
            current = match current {
                Some((first, last)) if t - last <= step * 1.5 => Some((first, t)),
                Some(run) => {
                    out.push(run);
                    Some((t, t))
                }
                None => Some((t, t)),
            };
        } else if let Some(run) = current.take() {
            out.push(run);
        }
    }
    out.extend(current);
    out
}

/// The longest run as `(first, last, last - first)` in seconds, when it held for at least
/// `min_duration`: a condition seen at 16 consecutive one-minute points has held for 15 minutes.
pub fn longest(runs: &[(f64, f64)], min_duration: f64) -> Option<(f64, f64, f64)> {
    runs.iter()
        .map(|&(a, b)| (a, b, b - a))
        .max_by(|x, y| x.2.total_cmp(&y.2))
        .filter(|l| l.2 >= min_duration)
}

/// Formats a duration in seconds as `25m` or `2h05m`.
pub fn minutes(seconds: f64) -> String {
    let m = (seconds / 60.0).round() as i64;
    if m >= 60 {
        format!("{}h{:02}m", m / 60, m % 60)
    } else {
        format!("{m}m")
    }
}

/// Formats a unix timestamp as RFC 3339 UTC (`2026-05-28T14:20:00Z`).
pub fn rfc3339(t: f64) -> String {
    crate::time::rfc3339(t.floor() as i64)
}

pub use crate::time::days_from_civil;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_within_a_span() {
        let s = Series {
            labels: BTreeMap::new(),
            points: vec![(0.0, 1.0), (60.0, 3.0), (120.0, 5.0), (180.0, 100.0)],
        };
        assert_eq!(s.mean_in(60.0, 120.0), 4.0);
        assert_eq!(s.mean_in(0.0, 180.0), 27.25);
        assert_eq!(s.mean_in(500.0, 600.0), 0.0);
    }

    #[test]
    fn runs_break_on_gaps_and_false_points() {
        let pts = [
            (0.0, 1.0),
            (60.0, 1.0),
            (120.0, 0.0),
            (180.0, 1.0),
            (300.0, 1.0),
        ];
        let r = runs(&pts, 60.0, |_, v| v > 0.5);
        assert_eq!(r, vec![(0.0, 60.0), (180.0, 180.0), (300.0, 300.0)]);
        assert_eq!(longest(&r, 60.0), Some((0.0, 60.0, 60.0)));
        // Shorter than the minimum: no run counts.
        assert_eq!(longest(&r, 61.0), None);
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_780_000_000.0), "2026-05-28T20:26:40Z");
        assert_eq!(days_from_civil(2026, 5, 28), 1_780_000_000 / 86_400);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn signal_ids_are_unique() {
        let mut ids: Vec<&str> = SIGNALS.iter().map(|s| s.id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
