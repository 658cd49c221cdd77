//! `change.stateful-scale-with-memory-cut`: more replicas and less memory in one change.

use crate::load::Object;
use crate::model::Container;
use crate::model::quantity::Quantity;
use crate::node::Node;
use crate::rules::change::{ChangeRule, DiffContext, DiffSink, ValueChange, replicas};
use crate::rules::{Meta, Needs, Severity};
use crate::stories::Story;

pub static RULE: ChangeRule = ChangeRule {
    meta: Meta {
        id: "change.stateful-scale-with-memory-cut",
        title: "Replicas raised and memory lowered in the same change to a stateful workload",
        severity: Severity::Critical,
        stories: &[Story::Flant],
        needs: Needs::Diff,
        rationale: "Adding a replica to a database starts a full sync: the new replica copies the \
            whole dataset while the primary forks and buffers writes, the moment memory is needed \
            most. Lowering memory requests or limits in the same change rolls every pod, primary \
            included, into that sync with less room. At Flant a Redis failover was edited once to \
            go from 1 to 2 replicas with a lower memory request; the new replica was marked ready \
            before it had synced, the rolling update replaced the primary, the empty replica was \
            promoted and the dataset was lost. The lesson in the postmortem: avoid changing \
            container limits while increasing Redis instances. StatefulSets are critical; other \
            workloads running a Redis, etcd or database image are high.",
        remediation: "Split the change: first scale out with the current resources and wait until \
            every new replica reports in sync (`master_link_status:up`, `master_sync_in_progress:0` \
            for Redis), then change memory in a separate rollout. Check the new limit against the \
            dataset size plus replication buffers and fork copy-on-write headroom.",
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {name: redis}
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: redis
        image: redis:7
        resources: {requests: {memory: 16Gi}, limits: {memory: 16Gi}}
# ---- after ----
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: redis}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: redis
        image: redis:7
        resources: {requests: {memory: 8Gi}, limits: {memory: 16Gi}}
"#,
    },
    check,
};

/// Image names (last path segment, without tag) of datastores that sync state to new replicas.
const DATABASE_IMAGES: [&str; 20] = [
    "redis",
    "valkey",
    "keydb",
    "etcd",
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "percona",
    "mongo",
    "mongodb",
    "cassandra",
    "elasticsearch",
    "opensearch",
    "zookeeper",
    "kafka",
    "rabbitmq",
    "clickhouse",
    "cockroach",
    "memcached",
];

/// Whether an image looks like a datastore (by its repository's last segment).
pub fn is_database_image(image: &str) -> bool {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    let name = last.split(':').next().unwrap_or(last).to_ascii_lowercase();
    DATABASE_IMAGES.iter().any(|db| name.contains(db))
}

/// Memory quantities that went down between two resource blocks: (field, before, after).
fn memory_cuts(before: &Node, after: &Node) -> Vec<(String, &'static str)> {
    let mut cuts = Vec::new();
    for section in ["requests", "limits"] {
        let b = before.path(&[section, "memory"]).and_then(Quantity::of);
        let a = after.path(&[section, "memory"]).and_then(Quantity::of);
        // A removed value is not a cut (a removed limit is unbounded); only lower numbers count.
        if let (Some(b), Some(a)) = (b, a)
            && a < b
        {
            cuts.push((format!("resources.{section}.memory"), section));
        }
    }
    cuts
}

/// "the memory request goes", "the memory limit goes" or "the memory request and limit go".
fn cut_words(cuts: &[(String, &'static str)]) -> &'static str {
    match cuts {
        [(_, "requests")] => "the memory request goes",
        [(_, "limits")] => "the memory limit goes",
        _ => "the memory request and limit go",
    }
}

fn resources<'a>(c: &Container<'a>) -> &'a Node {
    c.node.get("resources").unwrap_or(Node::null())
}

fn check(cx: &DiffContext<'_>, out: &mut DiffSink) {
    for (b, a) in cx.changed_workloads() {
        if !a.is_replicated_kind() {
            continue;
        }
        let (rb, ra) = replicas(cx, b, a);
        if ra <= rb {
            continue;
        }
        let stateful = a.object.kind == "StatefulSet";
        for ca in a.containers() {
            let Some(cb) = b
                .containers()
                .find(|c| c.name == ca.name && c.kind == ca.kind)
            else {
                continue;
            };
            let database = is_database_image(ca.image());
            if !stateful && !database {
                continue;
            }
            let cuts = memory_cuts(resources(&cb), resources(&ca));
            if cuts.is_empty() {
                continue;
            }
            let mut values = vec![ValueChange::text(
                "spec.replicas",
                Some(rb.to_string()),
                Some(ra.to_string()),
            )];
            for (field, section) in &cuts {
                values.push(ValueChange::new(
                    field.clone(),
                    cb.node.path(&["resources", section, "memory"]),
                    ca.node.path(&["resources", section, "memory"]),
                ));
            }
            let what = if stateful {
                format!("StatefulSet `{}`", a.object.name)
            } else {
                format!(
                    "{} `{}` (image `{}`)",
                    a.object.kind,
                    a.object.name,
                    ca.image()
                )
            };
            let at = ca.node.path(&["resources", cuts[0].1, "memory"]);
            out.report(
                a.object,
                Some(ca.name),
                at,
                format!(
                    "{what} goes from {rb} to {ra} replicas while {} down for `{}`: \
                     new replicas sync the whole dataset while every pod restarts with less memory",
                    cut_words(&cuts),
                    ca.name
                ),
                values,
            )
            .severity = if stateful {
                Severity::Critical
            } else {
                Severity::High
            };
        }
    }
    redis_failovers(cx, out);
}

/// The spotahome `RedisFailover` (Flant's own case): `spec.redis.replicas` and
/// `spec.redis.resources`; the operator turns it into a StatefulSet.
fn redis_failovers(cx: &DiffContext<'_>, out: &mut DiffSink) {
    let redis = |o: &Object| o.kind == "RedisFailover" && o.group() == "databases.spotahome.com";
    for (b, a) in cx.changed().filter(|(b, a)| redis(b) && redis(a)) {
        let count = |o: &Object| {
            o.root
                .path(&["spec", "redis", "replicas"])
                .and_then(Node::as_i64)
                .unwrap_or(3)
        };
        let (rb, ra) = (count(b), count(a));
        fn res(o: &Object) -> &Node {
            o.root
                .path(&["spec", "redis", "resources"])
                .unwrap_or(Node::null())
        }
        let cuts = memory_cuts(res(b), res(a));
        if ra <= rb || cuts.is_empty() {
            continue;
        }
        let mut values = vec![ValueChange::text(
            "spec.redis.replicas",
            Some(rb.to_string()),
            Some(ra.to_string()),
        )];
        for (field, section) in &cuts {
            values.push(ValueChange::new(
                format!("spec.redis.{field}"),
                res(b).path(&[section, "memory"]),
                res(a).path(&[section, "memory"]),
            ));
        }
        out.report(
            a,
            None,
            res(a).path(&[cuts[0].1, "memory"]),
            format!(
                "RedisFailover `{}` goes from {rb} to {ra} Redis replicas while {} down: \
                 the change that lost Flant's dataset",
                a.name,
                cut_words(&cuts)
            ),
            values,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::change::check as run;

    fn workload(kind: &str, replicas: i64, image: &str, request: &str, limit: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: w}}\nspec:\n  replicas: {replicas}\n  template:\n    spec:\n      containers:\n      - name: c\n        image: {image}\n        resources: {{requests: {{memory: {request}}}, limits: {{memory: {limit}}}}}\n"
        )
    }

    fn severities(before: &str, after: &str) -> Vec<Severity> {
        run(&RULE, before, after)
            .into_iter()
            .map(|r| r.finding.severity)
            .collect()
    }

    #[test]
    fn fires_on_a_statefulset_scaled_up_with_less_memory() {
        let b = workload("StatefulSet", 1, "example/app:1", "1Gi", "2Gi");
        let a = workload("StatefulSet", 3, "example/app:1", "1Gi", "1500M");
        let risks = run(&RULE, &b, &a);
        assert_eq!(risks.len(), 1);
        assert_eq!(risks[0].finding.severity, Severity::Critical);
        assert_eq!(risks[0].finding.container.as_deref(), Some("c"));
        assert_eq!(
            risks[0].changes,
            vec![
                ValueChange::text("spec.replicas", Some("1".into()), Some("3".into())),
                ValueChange::text(
                    "resources.limits.memory",
                    Some("2Gi".into()),
                    Some("1500M".into())
                ),
            ]
        );
    }

    #[test]
    fn database_image_on_a_deployment_is_high() {
        let b = workload("Deployment", 2, "bitnami/etcd:3.5", "512Mi", "1Gi");
        let a = workload("Deployment", 3, "bitnami/etcd:3.5", "0.25Gi", "1Gi");
        assert_eq!(severities(&b, &a), [Severity::High]);
    }

    #[test]
    fn near_misses_pass() {
        // Replicas up, memory unchanged (even if written differently: 1Gi == 1024Mi).
        let b = workload("StatefulSet", 1, "redis:7", "1Gi", "2Gi");
        let a = workload("StatefulSet", 2, "redis:7", "1024Mi", "2Gi");
        assert!(severities(&b, &a).is_empty());
        // Memory cut on a one-replica Deployment, replicas unchanged.
        let b = workload("Deployment", 1, "redis:7", "1Gi", "2Gi");
        let a = workload("Deployment", 1, "redis:7", "512Mi", "1Gi");
        assert!(severities(&b, &a).is_empty());
        // Memory cut while scaling down.
        let b = workload("StatefulSet", 3, "redis:7", "1Gi", "2Gi");
        let a = workload("StatefulSet", 2, "redis:7", "512Mi", "2Gi");
        assert!(severities(&b, &a).is_empty());
        // Scale up with less memory on a stateless web Deployment.
        let b = workload("Deployment", 2, "nginx:1.27", "1Gi", "2Gi");
        let a = workload("Deployment", 4, "nginx:1.27", "512Mi", "1Gi");
        assert!(severities(&b, &a).is_empty());
        // Memory raised.
        let b = workload("StatefulSet", 1, "redis:7", "1Gi", "2Gi");
        let a = workload("StatefulSet", 2, "redis:7", "2Gi", "4Gi");
        assert!(severities(&b, &a).is_empty());
    }

    #[test]
    fn fires_on_a_redisfailover() {
        let rf = |replicas: i64, mem: &str| {
            format!(
                "apiVersion: databases.spotahome.com/v1\nkind: RedisFailover\nmetadata: {{name: cache}}\nspec:\n  redis:\n    replicas: {replicas}\n    resources: {{requests: {{memory: {mem}}}}}\n"
            )
        };
        let risks = run(&RULE, &rf(1, "16Gi"), &rf(2, "12Gi"));
        assert_eq!(risks.len(), 1);
        assert_eq!(risks[0].finding.severity, Severity::Critical);
        assert!(run(&RULE, &rf(1, "16Gi"), &rf(2, "16Gi")).is_empty());
    }

    #[test]
    fn hpa_min_replicas_counts_as_the_replica_count() {
        let hpa = |min: i64| {
            format!(
                "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: h}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: StatefulSet, name: w}}\n  minReplicas: {min}\n  maxReplicas: 9\n"
            )
        };
        let b =
            workload("StatefulSet", 1, "x", "1Gi", "2Gi").replace("  replicas: 1\n", "") + &hpa(2);
        let a =
            workload("StatefulSet", 1, "x", "1Gi", "1Gi").replace("  replicas: 1\n", "") + &hpa(4);
        assert_eq!(severities(&b, &a), [Severity::Critical]);
    }
}
