//! `cpu.throttled-despite-low-usage`: containers throttled in many CFS periods while using a
//! small part of their CPU limit (Buffer).

use std::collections::BTreeMap;

use crate::config;
use crate::rules::metrics::{Joiner, Subject, by_container, pct, span};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::runtime::{self, longest, minutes, runs};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "cpu.throttled-despite-low-usage",
        title: "Container throttled while far below its CPU limit",
        severity: Severity::Medium,
        stories: &[Story::Buffer],
        needs: Needs::Metrics,
        rationale: "A CPU limit becomes a CFS quota: the container may run `limit × 100ms` per 100 ms \
            period, and is throttled for the rest of a period once it has used it. A container honestly \
            at its limit is throttled by design; one throttled in many periods while its average use is \
            a fraction of the limit is what Buffer saw: Linux kernels from 4.18 until the fix \
            (CVE-2019-19922; fixed in 5.4, 5.3.9, 4.19.84, 4.14.154) expired per-CPU quota slices \
            early, so multi-threaded services were throttled at low usage and their latency exploded. \
            Defaults: throttled in more than 25% of periods (kubernetes-mixin's CPUThrottlingHigh \
            threshold) while using under 50% of the limit, both sustained for 15 minutes (the alert's \
            `for: 15m`); the low-usage condition is what separates this from a container at its limit. \
            Severity rises one step when kube-state-metrics shows the pod's node runs an affected kernel. \
            Signals: cAdvisor `container_cpu_cfs_throttled_periods_total`, `container_cpu_cfs_periods_total`, \
            `container_cpu_usage_seconds_total`; the limit from kube-state-metrics \
            `kube_pod_container_resource_limits{resource=\"cpu\"}` or cAdvisor's quota.",
        remediation: "Upgrade node kernels past the CFS fix (5.4+, 4.19.84+, 4.14.154+). For \
            latency-critical services consider removing the CPU limit while keeping an accurate CPU \
            request (and a memory limit), or raise the limit; check `container_cpu_cfs_throttled_periods_total` \
            afterwards.",
        example: r#"# 45 minutes, a sample a minute: `rate R` is a counter growing R per second, `gauge V` a constant
container_cpu_cfs_periods_total{namespace="shop",pod="api-7d9f8-x2x4z",container="app"} rate 10
container_cpu_cfs_throttled_periods_total{namespace="shop",pod="api-7d9f8-x2x4z",container="app"} rate 6
container_cpu_usage_seconds_total{namespace="shop",pod="api-7d9f8-x2x4z",container="app"} rate 0.3
kube_pod_container_resource_limits{namespace="shop",pod="api-7d9f8-x2x4z",container="app",resource="cpu",unit="core"} gauge 2
"#,
    },
    check,
};

/// Thresholds (documented in the rationale and `docs/prometheus.md`).
#[derive(Debug, Clone)]
pub struct Params {
    /// Throttled periods / periods above this counts as throttled.
    pub throttled_ratio: f64,
    /// CPU use / CPU limit below this counts as low usage.
    pub max_utilisation: f64,
    /// Both must hold this long, in seconds.
    pub min_duration: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            throttled_ratio: 0.25,
            max_utilisation: 0.5,
            min_duration: 15.0 * 60.0,
        }
    }
}

/// The CFS bug verdict for a node kernel (from `kube_node_info`): `Some(true)` affected,
/// `Some(false)` fixed or not Linux, `None` unknown. The one kernel table lives in
/// [`crate::model::kernel`], shared with `node.kernel-cfs-quota-bug`.
pub fn cfs_bug(kernel: &str, os_image: &str) -> Option<bool> {
    use crate::model::kernel::{Status, judge};
    match judge(kernel, os_image).status {
        Status::Affected => Some(true),
        Status::Fixed | Status::NotApplicable => Some(false),
        Status::Unknown => None,
    }
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    // Thresholds from `.hindsight.yaml` (`thresholds:`), defaults otherwise.
    let t = &cx.params.thresholds;
    let params = Params {
        throttled_ratio: t.get(&config::CPU_THROTTLE_RATIO),
        max_utilisation: t.get(&config::CPU_THROTTLE_USAGE_RATIO),
        min_duration: t.get(&config::CPU_THROTTLE_MINUTES) * 60.0,
    };
    check_with(cx, out, &params);
}

/// The check with explicit thresholds.
pub fn check_with(cx: &Context<'_>, out: &mut Sink, p: &Params) {
    let Some(rt) = cx.metrics else { return };
    let (throttle, util) = match (
        rt.get(&runtime::CPU_THROTTLED_RATIO),
        rt.get(&runtime::CPU_LIMIT_UTILISATION),
    ) {
        (Ok(t), Ok(u)) => (t, u),
        (Err(why), _) | (_, Err(why)) => return out.not_run(why),
    };
    let util = by_container(util);
    let join = Joiner::new(cx, rt);
    let kernels: BTreeMap<&str, (&str, &str)> = rt
        .optional(&runtime::NODE_INFO)
        .iter()
        .map(|s| {
            (
                s.label("node"),
                (s.label("kernel_version"), s.label("os_image")),
            )
        })
        .collect();

    // Worst case per (workload, container): pods, duration, throttle and usage.
    struct Worst {
        pods: Vec<String>,
        duration: f64,
        from: f64,
        to: f64,
        throttle: f64,
        util: f64,
        kernel: Option<(String, String)>,
    }
    let mut worst: BTreeMap<(Subject, String), Worst> = BTreeMap::new();
    for t in throttle {
        let (ns, pod, container) = (t.label("namespace"), t.label("pod"), t.label("container"));
        let Some(u) = util.get(&(ns, pod, container)) else {
            continue;
        };
        let r = runs(&t.points, rt.step, |ts, ratio| {
            ratio > p.throttled_ratio && u.at(ts).is_some_and(|v| v < p.max_utilisation)
        });
        let Some((from, to, duration)) = longest(&r, p.min_duration) else {
            continue;
        };
        let (th, ut) = (t.mean_in(from, to), u.mean_in(from, to));
        let kernel = join.node_of(ns, pod).and_then(|node| {
            let (k, os) = kernels.get(node)?;
            (cfs_bug(k, os) == Some(true)).then(|| (node.to_owned(), (*k).to_owned()))
        });
        let key = (join.workload_of(ns, pod), container.to_owned());
        let w = worst.entry(key).or_insert(Worst {
            pods: Vec::new(),
            duration: 0.0,
            from,
            to,
            throttle: 0.0,
            util: 1.0,
            kernel: None,
        });
        w.pods.push(pod.to_owned());
        if duration > w.duration {
            (w.duration, w.from, w.to, w.throttle, w.util) = (duration, from, to, th, ut);
        }
        w.kernel = w.kernel.take().or(kernel);
    }
    for ((subject, container), w) in worst {
        let pods = if subject.kind == "Pod" {
            String::new()
        } else if w.pods.len() == 1 {
            format!(", in pod `{}`", w.pods[0])
        } else {
            format!(", in {} pods (e.g. `{}`)", w.pods.len(), w.pods[0])
        };
        let mut msg = format!(
            "throttled in {} of CFS periods while using {} of its CPU limit for {} ({}){pods}",
            pct(w.throttle),
            pct(w.util),
            minutes(w.duration),
            span(w.from, w.to),
        );
        if let Some((node, kernel)) = &w.kernel {
            msg.push_str(&format!(
                "; node `{node}` runs kernel {kernel}, which has the CFS quota bug (CVE-2019-19922)"
            ));
        }
        let f = join.report(out, &subject, Some(&container), msg);
        if w.kernel.is_some() {
            f.severity = f.severity.raised();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_verdicts() {
        // An unrecognised family below 5.4 is unknown, never guessed (stories.md, buffer).
        assert_eq!(cfs_bug("4.19.0", ""), None);
        assert_eq!(
            cfs_bug("4.19.80+", "Container-Optimized OS from Google"),
            Some(true)
        );
        assert_eq!(
            cfs_bug("4.19.84+", "Container-Optimized OS from Google"),
            Some(false)
        );
        assert_eq!(
            cfs_bug("4.14.209-160.339.amzn2.x86_64", "Amazon Linux 2"),
            Some(false)
        );
        assert_eq!(
            cfs_bug("4.14.146-119.123.amzn2.x86_64", "Amazon Linux 2"),
            Some(true)
        );
        assert_eq!(cfs_bug("4.19.112+", "Container-Optimized OS"), Some(false));
        assert_eq!(cfs_bug("4.15.0-1054-aws", "Ubuntu 18.04.3 LTS"), None);
        assert_eq!(cfs_bug("5.4.0-1036-aws", "Ubuntu 20.04 LTS"), Some(false));
        assert_eq!(cfs_bug("4.19.81-coreos", "Container Linux by CoreOS"), None);
        // RHEL 7 builds from 1127 (7.8) carry the fix.
        assert_eq!(
            cfs_bug("3.10.0-1160.el7.x86_64", "CentOS Linux 7"),
            Some(false)
        );
        assert_eq!(cfs_bug("10.0.17763.1817", "Windows"), Some(false));
    }
}
