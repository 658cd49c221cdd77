//! `network.tcp-retransmits`: nodes retransmitting a sustained share of their TCP segments, or
//! losing conntrack inserts (MindTickle).

use crate::config;
use crate::rules::metrics::{Joiner, Subject, node_name, pct, span};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::runtime::{self, longest, minutes, runs};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "network.tcp-retransmits",
        title: "Sustained TCP retransmissions or conntrack failures on a node",
        severity: Severity::Medium,
        stories: &[Story::MindTickle],
        needs: Needs::Metrics,
        rationale: "After MindTickle moved to EKS, calls from pods to hosts outside the cluster failed \
            or crawled; packet captures showed retransmissions between nodes and EC2 hosts, caused by \
            the AWS VPC CNI translating pod traffic (external SNAT off) where a NAT gateway already \
            did. The node's own counters show it: a healthy intra-AZ network retransmits well under \
            0.1% of segments, and from about 1% tail latency suffers (Linux's minimum RTO is 200 ms). \
            Conntrack insert failures are the signature of the SNAT/DNAT race behind similar \
            incidents (Prezi), and a nearly full conntrack table drops new connections. Defaults: \
            `rate(node_netstat_Tcp_RetransSegs[5m]) / rate(node_netstat_Tcp_OutSegs[5m])` above 1% \
            for 15 minutes (high severity above 5%); `node_nf_conntrack_stat_insert_failed` rising, \
            or `node_nf_conntrack_entries` above 90% of `node_nf_conntrack_entries_limit`, for 15 minutes.",
        remediation: "Find which destinations retransmit (`ss -ti`, VPC flow logs). On EKS with pods in \
            private subnets behind a NAT gateway, set `AWS_VPC_K8S_CNI_EXTERNALSNAT=true` on the \
            `aws-node` DaemonSet; for conntrack races use `--random-fully` SNAT (the CNI's `prng` \
            default) and raise `nf_conntrack_max` when the table fills.",
        example: r#"# 45 minutes, a sample a minute: `rate R` is a counter growing R per second, `gauge V` a constant
node_netstat_Tcp_OutSegs{instance="10.0.0.7:9100"} rate 2000
node_netstat_Tcp_RetransSegs{instance="10.0.0.7:9100"} rate 60
node_uname_info{instance="10.0.0.7:9100",nodename="ip-10-0-0-7.ec2.internal"} gauge 1
"#,
    },
    check,
};

/// Thresholds.
#[derive(Debug, Clone)]
pub struct Params {
    /// Retransmitted / sent segments above this is a finding.
    pub ratio: f64,
    /// Above this it is high severity.
    pub high_ratio: f64,
    /// Conntrack entries / limit above this is a finding.
    pub conntrack_fill: f64,
    /// How long, in seconds.
    pub min_duration: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            ratio: 0.01,
            high_ratio: 0.05,
            conntrack_fill: 0.9,
            min_duration: 15.0 * 60.0,
        }
    }
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    // Thresholds from `.hindsight.yaml` (`thresholds:`), defaults otherwise.
    let t = &cx.params.thresholds;
    let params = Params {
        ratio: t.get(&config::NETWORK_RETRANSMIT_RATIO),
        high_ratio: t.get(&config::NETWORK_RETRANSMIT_HIGH_RATIO),
        conntrack_fill: t.get(&config::NETWORK_CONNTRACK_FILL_RATIO),
        min_duration: t.get(&config::NETWORK_RETRANSMIT_MINUTES) * 60.0,
    };
    check_with(cx, out, &params);
}

pub fn check_with(cx: &Context<'_>, out: &mut Sink, p: &Params) {
    let Some(rt) = cx.metrics else { return };
    let ratio = match rt.get(&runtime::TCP_RETRANSMIT_RATIO) {
        Ok(r) => r,
        Err(why) => return out.not_run(why),
    };
    let join = Joiner::new(cx, rt);
    for s in ratio {
        let node = node_name(s);
        let over = runs(&s.points, rt.step, |_, v| v > p.ratio);
        let Some((from, to, d)) = longest(&over, p.min_duration) else {
            continue;
        };
        let high = runs(&s.points, rt.step, |_, v| v > p.high_ratio);
        let is_high = longest(&high, p.min_duration).is_some();
        let f = join.report(
            out,
            &Subject::node(&node),
            None,
            format!(
                "retransmitted {} of its TCP segments for {} ({}); a healthy network stays under 0.1%",
                pct(s.mean_in(from, to)),
                minutes(d),
                span(from, to)
            ),
        );
        if is_high {
            f.severity = Severity::High;
        }
    }
    for s in rt.optional(&runtime::CONNTRACK_INSERT_FAILED) {
        let r = runs(&s.points, rt.step, |_, v| v > 0.0);
        if let Some((from, to, d)) = longest(&r, p.min_duration) {
            join.report(
                out,
                &Subject::node(&node_name(s)),
                None,
                format!(
                    "conntrack insert failures ({:.2}/s) for {} ({}): connections are being dropped by the SNAT/DNAT race",
                    s.mean_in(from, to),
                    minutes(d),
                    span(from, to)
                ),
            );
        }
    }
    for s in rt.optional(&runtime::CONNTRACK_FILL) {
        let r = runs(&s.points, rt.step, |_, v| v > p.conntrack_fill);
        if let Some((from, to, d)) = longest(&r, p.min_duration) {
            join.report(
                out,
                &Subject::node(&node_name(s)),
                None,
                format!(
                    "conntrack table {} full for {} ({}): new connections are dropped when it fills",
                    pct(s.mean_in(from, to)),
                    minutes(d),
                    span(from, to)
                ),
            );
        }
    }
}
