//! `logging.shipper-stalled`: a node's log shipper that stopped delivering while the others
//! flow (PrometheusKube).

use std::collections::BTreeMap;

use crate::config;
use crate::rules::metrics::{Joiner, Subject, span};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::runtime::{self, Series, longest, minutes, runs};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "logging.shipper-stalled",
        title: "Log shipper stopped delivering on a node while the others flow",
        severity: Severity::High,
        stories: &[Story::PrometheusKube],
        needs: Needs::Metrics,
        rationale: "At PrometheusKube, fluent-bit kept running on one node while shipping nothing from \
            it; its own metrics showed the stall long before anyone missed the logs. Two shapes are \
            known: input keeps growing while output is flat (the output is stuck or retrying forever), \
            and a hung process whose input and output both go flat while its health check passes \
            (fluent/fluent-bit#5799). The second looks exactly like a quiet night, so each shipper is \
            compared with the others: it is stalled when it delivers nothing while the median of the \
            other shippers delivers. When every shipper is flat nothing fires. Defaults: records in > 0 \
            and out = 0, or in and out both 0 while the other shippers' median out > 0, sustained 15 \
            minutes (rates over 10 minutes of `fluentbit_input_records_total` and \
            `fluentbit_output_proc_records_total`); any record given up on over the window \
            (`fluentbit_output_retries_failed_total`, `fluentbit_output_dropped_records_total`) is a \
            medium finding of its own.",
        remediation: "Restart the stalled shipper pod and check its logs for `paused (mem buf overlimit)` \
            and output retries; give the tail input a position DB on a hostPath so a restart resumes \
            where it stopped; alert on `rate(fluentbit_output_proc_records_total[10m]) == 0` per pod \
            compared with the other nodes.",
        example: r#"# 45 minutes, a sample a minute: `rate R` is a counter growing R per second, `gauge V` a constant
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-aaaaa",name="tail.0"} rate 40
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-aaaaa",name="es.0"} rate 40
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-bbbbb",name="tail.0"} rate 35
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-bbbbb",name="es.0"} rate 35
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-ccccc",name="tail.0"} rate 0
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-ccccc",name="es.0"} rate 0
"#,
    },
    check,
};

/// Thresholds.
#[derive(Debug, Clone)]
pub struct Params {
    /// Records per second at or below which a stream counts as flat.
    pub flat: f64,
    /// How long a stall must last, in seconds.
    pub min_duration: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            flat: 0.001,
            min_duration: 15.0 * 60.0,
        }
    }
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    // Thresholds from `.hindsight.yaml` (`thresholds:`), defaults otherwise.
    let t = &cx.params.thresholds;
    let params = Params {
        min_duration: t.get(&config::LOGGING_STALL_MINUTES) * 60.0,
        ..Params::default()
    };
    check_with(cx, out, &params);
}

type Key<'a> = (&'a str, &'a str, &'a str);

fn key(s: &Series) -> Key<'_> {
    (s.label("namespace"), s.label("pod"), s.label("instance"))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

pub fn check_with(cx: &Context<'_>, out: &mut Sink, p: &Params) {
    let Some(rt) = cx.metrics else { return };
    let (ins, outs) = match (rt.get(&runtime::SHIPPER_IN), rt.get(&runtime::SHIPPER_OUT)) {
        (Ok(i), Ok(o)) => (i, o),
        (Err(why), _) | (_, Err(why)) => return out.not_run(why),
    };
    let ins: BTreeMap<Key<'_>, &Series> = ins.iter().map(|s| (key(s), s)).collect();
    let outs: BTreeMap<Key<'_>, &Series> = outs.iter().map(|s| (key(s), s)).collect();
    let join = Joiner::new(cx, rt);
    let subject_of = |(ns, pod, instance): Key<'_>| -> (Subject, String) {
        if pod.is_empty() {
            let s = Subject {
                kind: "ScrapeTarget".into(),
                namespace: None,
                name: instance.into(),
            };
            return (s, format!("target `{instance}`"));
        }
        let on = join
            .node_of(ns, pod)
            .map(|n| format!(" on node `{n}`"))
            .unwrap_or_default();
        (join.workload_of(ns, pod), format!("pod `{pod}`{on}"))
    };

    for (&k, o) in &outs {
        let i = ins.get(&k).copied();
        let others = |t: f64| -> Option<f64> {
            median(
                outs.iter()
                    .filter(|(k2, _)| **k2 != k)
                    .filter_map(|(_, s)| s.at(t))
                    .collect(),
            )
        };
        // Shape 1: reading but not delivering.
        let reading = runs(&o.points, rt.step, |t, v| {
            v <= p.flat && i.and_then(|i| i.at(t)).is_some_and(|r| r > p.flat)
        });
        // Shape 2 (fluent-bit #5799): silent while the others deliver.
        let silent = runs(&o.points, rt.step, |t, v| {
            v <= p.flat
                && i.and_then(|i| i.at(t)).is_none_or(|r| r <= p.flat)
                && others(t).is_some_and(|m| m > p.flat)
        });
        let (subject, who) = subject_of(k);
        if let Some((from, to, d)) = longest(&reading, p.min_duration) {
            let read = i.map_or(0.0, |i| i.mean_in(from, to));
            join.report(
                out,
                &subject,
                None,
                format!(
                    "log shipper {who} read {read:.1} records/s but delivered none for {} ({})",
                    minutes(d),
                    span(from, to)
                ),
            );
        } else if let Some((from, to, d)) = longest(&silent, p.min_duration) {
            let m = others(from).unwrap_or(0.0);
            join.report(
                out,
                &subject,
                None,
                format!(
                    "log shipper {who} neither read nor delivered records for {} ({}) while the other {} shippers delivered a median {m:.1} records/s: a hung shipper looks healthy (fluent-bit #5799)",
                    minutes(d),
                    span(from, to),
                    outs.len() - 1,
                ),
            );
        }
    }

    for s in rt.optional(&runtime::SHIPPER_LOST) {
        let lost = s.last().unwrap_or(0.0).round();
        if lost >= 1.0 {
            let (subject, who) = subject_of(key(s));
            join.report(
                out,
                &subject,
                None,
                format!(
                    "log shipper {who} gave up on {lost} records or chunks in the last {} (retries exhausted or dropped)",
                    minutes(rt.end - rt.start)
                ),
            )
            .severity = Severity::Medium;
        }
    }
}
