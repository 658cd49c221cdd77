//! `change.readiness-weakened`: a replicated StatefulSet's readiness probe removed or made
//! unable to see replication.
//!
//! Probes are judged by `stateful::weak_readiness_probe::judge_probe`, the scan rule's own
//! classification, on each side with that side's ConfigMaps (scripts are read from them).

use crate::node::Node;
use crate::rules::change::{ChangeRule, DiffContext, DiffSink, ValueChange};
use crate::rules::stateful::weak_readiness_probe::{Verdict, is_redis, judge_probe};
use crate::rules::{Meta, Needs, Severity};
use crate::stories::Story;

pub static RULE: ChangeRule = ChangeRule {
    meta: Meta {
        id: "change.readiness-weakened",
        title: "Readiness probe of a replicated StatefulSet removed or made unable to see replication",
        severity: Severity::High,
        stories: &[Story::Flant],
        needs: Needs::Diff,
        rationale: "A StatefulSet's rolling update moves to the next pod as soon as the replaced one \
            is Ready. For a replicated database, Ready must mean \"holds the data\": at Flant a new \
            Redis replica passed a `redis-cli ping` readiness probe before its full sync had \
            transferred anything, the update replaced the primary, Sentinel promoted the empty \
            replica and the dataset was lost. A change that deletes the readiness probe, or swaps a \
            probe that checks replication (`master_link_status:up`, `master_sync_in_progress:0`) for \
            a ping, a TCP check or an HTTP check, reopens that window.",
        remediation: "Keep a readiness probe that fails while a replica is syncing: for Redis, an \
            exec probe that reads `INFO replication` and requires `master_link_status:up` and \
            `master_sync_in_progress:0` on replicas (or the operator's sync-aware script). If the \
            probe was too slow, raise `timeoutSeconds` rather than weakening what it checks.",
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {name: redis}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: redis
        image: redis:7
        readinessProbe:
          exec:
            command: [sh, -c, "redis-cli info replication | grep -q master_link_status:up"]
# ---- after ----
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: redis}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: redis
        image: redis:7
        readinessProbe:
          exec:
            command: [redis-cli, ping]
"#,
    },
    check,
};

fn probe(container: &Node) -> Option<&Node> {
    container.get("readinessProbe").filter(|p| !p.is_null())
}

fn check(cx: &DiffContext<'_>, out: &mut DiffSink) {
    for (wb, wa) in cx.changed_workloads() {
        if wa.object.kind != "StatefulSet" {
            continue;
        }
        let replicas = cx.after.index.replicas(wa).0;
        if replicas < 2 {
            continue;
        }
        for ca in wa
            .containers()
            .filter(|c| c.kind == crate::model::ContainerKind::Regular)
        {
            let Some(cb) = wb
                .containers()
                .find(|c| c.name == ca.name && c.kind == ca.kind)
            else {
                continue;
            };
            let (pb, pa) = (probe(cb.node), probe(ca.node));
            let values = || vec![ValueChange::new("readinessProbe", pb, pa)];
            let Some(pb) = pb else {
                continue;
            };
            if pa.is_none() {
                out.report(
                    wa.object,
                    Some(ca.name),
                    Some(ca.node),
                    format!(
                        "readiness probe of `{}` removed from StatefulSet `{}` ({replicas} replicas): \
                         a rolling update now moves on as soon as each pod starts",
                        ca.name, wa.object.name
                    ),
                    values(),
                );
                continue;
            }
            if !is_redis(&ca) {
                continue;
            }
            let before = judge_probe(&cx.before, Some((wb, &cb)), Some(pb));
            let after = judge_probe(&cx.after, Some((wa, &ca)), pa);
            if let (false, Verdict::Weak(why)) = (matches!(before, Verdict::Weak(_)), after) {
                out.report(
                    wa.object,
                    Some(ca.name),
                    pa,
                    format!(
                        "readiness probe of `{}` in StatefulSet `{}` ({replicas} replicas) is replaced \
                         by one that cannot see replication: it {why}",
                        ca.name, wa.object.name
                    ),
                    values(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::change::check as run;

    fn sts(replicas: i64, image: &str, probe: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: r}}\nspec:\n  replicas: {replicas}\n  template:\n    spec:\n      containers:\n      - name: c\n        image: {image}\n{probe}"
        )
    }

    const SYNC: &str = "        readinessProbe:\n          exec: {command: [sh, -c, 'redis-cli info replication | grep master_link_status:up']}\n";
    const PING: &str = "        readinessProbe:\n          exec: {command: [redis-cli, ping]}\n";
    const TCP: &str = "        readinessProbe: {tcpSocket: {port: 6379}}\n";

    #[test]
    fn fires_when_removed_or_weakened() {
        assert_eq!(
            run(&RULE, &sts(3, "redis:7", SYNC), &sts(3, "redis:7", "")).len(),
            1
        );
        // Removal fires on any replicated StatefulSet, not only Redis.
        assert_eq!(
            run(
                &RULE,
                &sts(2, "postgres:16", TCP),
                &sts(2, "postgres:16", "")
            )
            .len(),
            1
        );
        let r = run(&RULE, &sts(3, "redis:7", SYNC), &sts(3, "redis:7", TCP));
        assert_eq!(r.len(), 1);
        assert!(
            r[0].finding.message.contains("tcpSocket"),
            "{}",
            r[0].finding.message
        );
        assert_eq!(r[0].changes[0].field, "readinessProbe");
    }

    #[test]
    fn near_misses_pass() {
        // A probe made stronger.
        assert!(run(&RULE, &sts(3, "redis:7", PING), &sts(3, "redis:7", SYNC)).is_empty());
        // Weak before and after.
        assert!(run(&RULE, &sts(3, "redis:7", PING), &sts(3, "redis:7", TCP)).is_empty());
        // One replica.
        assert!(run(&RULE, &sts(1, "redis:7", SYNC), &sts(1, "redis:7", "")).is_empty());
        // A TCP probe on a database this rule cannot judge.
        assert!(
            run(
                &RULE,
                &sts(3, "postgres:16", SYNC),
                &sts(3, "postgres:16", TCP)
            )
            .is_empty()
        );
    }
}
