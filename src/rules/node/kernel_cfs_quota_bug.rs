//! `node.kernel-cfs-quota-bug`: nodes whose kernel has the CFS bandwidth bug (CVE-2019-19922).

use crate::model::kernel::{self, Status};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "node.kernel-cfs-quota-bug",
        title: "Node kernel has the CFS quota throttling bug",
        severity: Severity::Medium,
        stories: &[Story::Buffer],
        needs: Needs::Cluster,
        rationale: "From Linux 4.18 (and the stable kernels that took the same change) until the fix in \
            5.4 (backported to 4.14.154, 4.19.84 and 5.3.9), CPU-limited cgroups are throttled while \
            using a fraction of their quota: each CPU's unused slice expires every 100 ms period. \
            Multi-threaded services with CPU limits see high latency at low CPU use, worse with more \
            cores. Buffer removed CPU limits from latency-critical services and their landing page got \
            22 times faster. Distro kernels are judged by family (Amazon Linux, COS, Flatcar, Ubuntu \
            and Debian ABI numbers, RHEL builds); a version whose fix status cannot be told from the \
            version string is reported as unknown, never guessed.",
        remediation: "Upgrade the node image to a kernel with the fix (any 5.4+, or 4.14.154+, \
            4.19.84+, 5.3.9+; RHEL 7 3.10.0-1062.9.1+ / 1127+, RHEL 8 4.18.0-147.3.1+). Until then, \
            remove CPU limits from latency-sensitive containers (keep requests) or raise them. For \
            an unknown verdict, check the distribution's changelog for CVE-2019-19922.",
        example: r#"{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "ip-10-0-1-17.eu-west-1.compute.internal"},
 "status": {"capacity": {"cpu": "16"},
  "nodeInfo": {"kernelVersion": "4.14.146-119.123.amzn2.x86_64", "osImage": "Amazon Linux 2"}}}
"#,
    },
    check,
};

fn check(cx: &Context<'_>, out: &mut Sink) {
    for node in cx.index.of_kind("Node").filter(|n| n.group().is_empty()) {
        let Some(info) = node.root.path(&["status", "nodeInfo"]) else {
            continue;
        };
        let Some(kernel) = info.str_at(&["kernelVersion"]) else {
            continue;
        };
        let os = info.str_at(&["osImage"]).unwrap_or("");
        let at = info.get("kernelVersion");
        let v = kernel::judge(kernel, os);
        match v.status {
            Status::Affected => {
                out.report(
                    node,
                    None,
                    at,
                    format!(
                        "kernel `{kernel}` ({}) has the CFS quota bug: {}; CPU-limited pods here are throttled below their limits",
                        v.family, v.reason
                    ),
                );
            }
            Status::Unknown => {
                out.report(
                    node,
                    None,
                    at,
                    format!(
                        "kernel `{kernel}` ({}): unknown whether it has the CFS quota fix: {}",
                        v.family, v.reason
                    ),
                )
                .severity = Severity::Info;
            }
            Status::Fixed | Status::NotApplicable => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::live_fixtures::{node, run};

    #[test]
    fn fires_on_affected_and_says_unknown() {
        let f = run(
            &RULE,
            vec![
                node(
                    "a",
                    "4.14.146-119.123.amzn2.x86_64",
                    "Amazon Linux 2",
                    true,
                    "4",
                    "eu-west-1a",
                ),
                node(
                    "b",
                    "4.15.0-1054-aws",
                    "Ubuntu 18.04.3 LTS",
                    true,
                    "4",
                    "eu-west-1a",
                ),
                node(
                    "c",
                    "5.10.184-175.731.amzn2.x86_64",
                    "Amazon Linux 2",
                    true,
                    "4",
                    "eu-west-1a",
                ),
            ],
        );
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[0].object.name, "a");
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].message.contains("before the 4.14.154 fix"));
        assert_eq!(f[1].object.name, "b");
        assert_eq!(f[1].severity, Severity::Info);
        assert!(f[1].message.contains("unknown"));
    }

    #[test]
    fn passes_on_fixed_kernels_and_manifests() {
        let f = run(
            &RULE,
            vec![node(
                "c",
                "5.15.142-flatcar",
                "Flatcar Container Linux",
                true,
                "4",
                "z",
            )],
        );
        assert!(f.is_empty());
        assert!(
            crate::rules::check(&RULE, "apiVersion: v1\nkind: Node\nmetadata: {name: n}\n")
                .is_empty()
        );
    }
}
