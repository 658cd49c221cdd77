//! `stateful.weak-readiness-probe`: replicated databases that report Ready before they hold the data.

use crate::model::{Container, ContainerKind, Workload};
use crate::node::Node;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "stateful.weak-readiness-probe",
        title: "Replicated StatefulSet whose readiness cannot reflect replication state",
        severity: Severity::High,
        stories: &[Story::Flant],
        needs: Needs::Manifests,
        rationale: "A StatefulSet rolling update and a node drain both wait for the replaced pod to be \
            Ready before they take the next one. If Ready only means \"the process answers\", a Redis \
            replica that is still copying the dataset from its master counts as Ready, and the next step \
            can remove the only member that holds the data. That is the Flant incident \
            (spotahome/redis-operator#205): a RedisFailover went from 1 to 2 Redis pods, the new replica \
            passed its `redis-cli ping` readiness probe before the full sync finished, the old master was \
            restarted, Sentinel promoted the empty replica and the 15 GB dataset was gone. Probes that \
            cannot see replication: `redis-cli ... ping` (with or without `grep PONG`), a `tcpSocket` on \
            the database port, an `httpGet` (Redis has no HTTP, so it reaches an exporter or proxy), \
            Bitnami's `ping_readiness_local*.sh`. Probes that can: a script that reads `INFO replication` \
            and requires `master_link_status:up` and `master_sync_in_progress:0` (spotahome's \
            `/redis-readiness/ready.sh` checks the sync flag). A probe script this rule can read (in a \
            ConfigMap of the same input mounted into the container) is judged by its text; a script it \
            cannot read is unknown, not weak, and is not reported. Redis, Valkey and KeyDB are recognised \
            by image (`redis`, `bitnami/redis`, `valkey`, `keydb`, `*redis-server*`) or by port 6379 or a \
            port named `redis`; Sentinel containers are skipped. A spotahome `RedisFailover` whose \
            `customReadinessProbe` is ping-only is reported too. For other replicated StatefulSets, a \
            pod with no readiness probe at all is reported at medium: Ready then means only \"started\".",
        remediation: "Give the database container a readiness probe that fails while the replica is not \
            in sync, for example an exec probe running `redis-cli info replication` and requiring \
            `role:master`, or `master_link_status:up` with `master_sync_in_progress:0` and `loading:0`. \
            With the spotahome operator, drop `customReadinessProbe` to get its sync-aware default. Keep \
            the liveness probe simple (`ping`): only readiness should depend on replication.",
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: redis
  namespace: cache
spec:
  replicas: 2
  serviceName: redis
  selector:
    matchLabels: {app: redis}
  template:
    metadata:
      labels: {app: redis}
    spec:
      containers:
      - name: redis
        image: redis:7.2
        ports:
        - {name: redis, containerPort: 6379}
        readinessProbe:
          exec:
            command: [redis-cli, ping]
"#,
    },
    check,
};

/// What a readiness probe can tell about a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Fails while the replica is not in sync.
    SyncAware,
    /// Cannot see replication; the reason, in words.
    Weak(String),
    /// A script or command this rule cannot judge.
    Unknown,
}

/// The image's repository without registry port, tag or digest, lowercased.
fn repository(image: &str) -> String {
    let image = image.split('@').next().unwrap_or(image);
    let (head, last) = image.rsplit_once('/').unwrap_or(("", image));
    let last = last.split(':').next().unwrap_or(last);
    if head.is_empty() {
        last.to_ascii_lowercase()
    } else {
        format!("{head}/{last}").to_ascii_lowercase()
    }
}

fn command_text(c: &Container<'_>) -> String {
    ["command", "args"]
        .iter()
        .flat_map(|k| c.node.seq_at(k))
        .filter_map(Node::as_str)
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

fn is_sentinel(c: &Container<'_>) -> bool {
    let repo = repository(c.image());
    let name_or_image = repo.contains("sentinel") || c.name.contains("sentinel");
    let ports: Vec<i64> = c.ports().map(|(p, _)| p).collect();
    name_or_image
        || command_text(c).contains("sentinel")
        || (ports.contains(&26379) && !ports.contains(&6379))
}

/// Whether a container runs a Redis-protocol database (Redis, Valkey, KeyDB).
pub(crate) fn is_redis(c: &Container<'_>) -> bool {
    if is_sentinel(c) {
        return false;
    }
    let repo = repository(c.image());
    let last = repo.rsplit('/').next().unwrap_or(&repo);
    let by_image = matches!(
        last,
        "redis" | "valkey" | "keydb" | "redis-cluster" | "valkey-cluster" | "redis-stack-server"
    ) || last.contains("redis-server");
    by_image || serves_redis_port(c)
}

fn serves_redis_port(c: &Container<'_>) -> bool {
    c.ports()
        .any(|(port, name)| port == 6379 || name == Some("redis"))
}

/// Judges the text of a probe command or script.
fn judge_text(text: &str) -> Option<Verdict> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("master_link_status") || lower.contains("master_sync_in_progress") {
        return Some(Verdict::SyncAware);
    }
    if lower.contains("redis-readiness/ready.sh") {
        return Some(Verdict::SyncAware);
    }
    if lower.contains("ping_readiness_local") {
        return Some(Verdict::Weak(
            "runs Bitnami's `ping_readiness_local*.sh`, which only checks that Redis answers PING"
                .into(),
        ));
    }
    let cli = ["redis-cli", "valkey-cli", "keydb-cli"]
        .iter()
        .any(|c| lower.contains(c));
    if cli
        && lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == "ping")
    {
        return Some(Verdict::Weak(
            "only sends PING, which a replica answers while it is still syncing".into(),
        ));
    }
    None
}

/// The text of a script at `path` inside the container, when a ConfigMap of the same input is
/// mounted there. Returns (ConfigMap name, key, text).
fn script_from_configmap<'a>(
    cx: &Context<'a>,
    w: &Workload<'a>,
    c: &Container<'a>,
    path: &str,
) -> Option<(String, String, &'a str)> {
    for mount in c.node.seq_at("volumeMounts") {
        let Some(mount_path) = mount.str_at(&["mountPath"]) else {
            continue;
        };
        let mount_path = mount_path.trim_end_matches('/');
        let rest = if let Some(sub) = mount.str_at(&["subPath"]) {
            if path != mount_path {
                continue;
            }
            sub.to_owned()
        } else {
            match path
                .strip_prefix(mount_path)
                .and_then(|r| r.strip_prefix('/'))
            {
                Some(r) => r.to_owned(),
                None => continue,
            }
        };
        let volume_name = mount.str_at(&["name"])?;
        let volume = w
            .pod_spec
            .seq_at("volumes")
            .iter()
            .find(|v| v.str_at(&["name"]) == Some(volume_name))?;
        let cm = volume.get("configMap")?;
        let cm_name = cm.str_at(&["name"])?;
        // `items` maps keys to other file names; without it every key is a file of its own name.
        let key = cm
            .seq_at("items")
            .iter()
            .find(|i| i.str_at(&["path"]) == Some(rest.as_str()))
            .and_then(|i| i.str_at(&["key"]))
            .map_or(rest.clone(), str::to_owned);
        let ns = w.object.namespace_or_default();
        let text = cx
            .index
            .of_kind_in("ConfigMap", ns)
            .filter(|o| o.name == cm_name)
            .find_map(|o| o.root.path(&["data", &key]).and_then(Node::as_str))?;
        return Some((cm_name.to_owned(), key, text));
    }
    None
}

pub(crate) fn judge_probe<'a>(
    cx: &Context<'a>,
    w: Option<(&Workload<'a>, &Container<'a>)>,
    probe: Option<&Node>,
) -> Verdict {
    let Some(probe) = probe.filter(|p| !p.is_null()) else {
        return Verdict::Weak("is missing: Ready means only that the container started".into());
    };
    if probe.get("tcpSocket").is_some() {
        return Verdict::Weak(
            "is a `tcpSocket` check, which passes as soon as the port listens, long before a \
             replica has synced"
                .into(),
        );
    }
    if probe.get("httpGet").is_some() {
        return Verdict::Weak(
            "is an `httpGet` check: Redis speaks no HTTP, so it reaches an exporter or proxy, not the \
             replication state"
                .into(),
        );
    }
    if probe.get("grpc").is_some() {
        return Verdict::Weak("is a `grpc` check, which cannot see Redis replication".into());
    }
    let args: Vec<&str> = probe
        .path(&["exec", "command"])
        .map_or(&[][..], Node::as_seq)
        .iter()
        .filter_map(Node::as_str)
        .collect();
    if args.is_empty() {
        return Verdict::Unknown;
    }
    if let Some(v) = judge_text(&args.join(" ")) {
        return v;
    }
    // A script: judge it only when its text is in the input.
    let Some((w, c)) = w else {
        return Verdict::Unknown;
    };
    for word in args.iter().flat_map(|a| a.split_whitespace()) {
        if !word.starts_with('/') {
            continue;
        }
        if let Some((cm, key, text)) = script_from_configmap(cx, w, c, word) {
            return match judge_text(text) {
                Some(Verdict::Weak(why)) => Verdict::Weak(format!(
                    "runs `{word}` (ConfigMap `{cm}`, key `{key}`), whose check {why}"
                )),
                Some(v) => v,
                None => Verdict::Unknown,
            };
        }
    }
    Verdict::Unknown
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    for w in cx
        .index
        .workloads
        .iter()
        .filter(|w| w.object.kind == "StatefulSet")
    {
        let (replicas, _) = cx.index.replicas(w);
        if replicas < 2 {
            continue;
        }
        let regular: Vec<Container<'_>> = w
            .containers()
            .filter(|c| c.kind == ContainerKind::Regular)
            .collect();
        let mut redis: Vec<&Container<'_>> = regular.iter().filter(|c| is_redis(c)).collect();
        // Helpers often reuse the Redis image (redis-ha's `split-brain-fix` runs a script in
        // `redis:7`); when some container serves the Redis port, only those are the database.
        if redis.iter().any(|c| serves_redis_port(c)) {
            redis.retain(|c| serves_redis_port(c));
        }
        if redis.is_empty() {
            let any_probe = regular
                .iter()
                .any(|c| c.node.get("readinessProbe").is_some_and(|p| !p.is_null()));
            if !any_probe && !regular.is_empty() {
                out.report(
                    w.object,
                    None,
                    Some(w.pod_spec),
                    format!(
                        "{replicas} replicas of StatefulSet `{}` and no container has a readiness \
                         probe: a rolling update moves on as soon as a pod starts, before it holds data",
                        w.object.name
                    ),
                )
                .severity = Severity::Medium;
            }
            continue;
        }
        for c in redis {
            let probe = c.node.get("readinessProbe");
            if let Verdict::Weak(why) = judge_probe(cx, Some((w, c)), probe) {
                out.report(
                    w.object,
                    Some(c.name),
                    probe.or(Some(c.node)),
                    format!(
                        "{replicas} replicas of StatefulSet `{}`: the readiness probe of Redis container \
                         `{}` {why}; a replica still copying the dataset counts as Ready, so a rolling \
                         update or drain can remove the only member holding the data",
                        w.object.name, c.name
                    ),
                );
            }
        }
    }
    for rf in cx.index.of_kind("RedisFailover") {
        if rf.group() != "databases.spotahome.com" {
            continue;
        }
        let Some(replicas) = rf
            .root
            .path(&["spec", "redis", "replicas"])
            .and_then(Node::as_i64)
        else {
            continue;
        };
        let probe = rf.root.path(&["spec", "redis", "customReadinessProbe"]);
        if replicas < 2 || probe.is_none_or(Node::is_null) {
            continue;
        }
        if let Verdict::Weak(why) = judge_probe(cx, None, probe) {
            out.report(
                rf,
                None,
                probe,
                format!(
                    "RedisFailover `{}` runs {replicas} Redis pods and its `customReadinessProbe` {why}; \
                     it replaces the operator's sync-aware probe, so a syncing replica counts as Ready",
                    rf.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check as run;

    fn sts(replicas: u32, container: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: r, namespace: c}}\nspec:\n  replicas: {replicas}\n  template:\n    metadata: {{labels: {{app: r}}}}\n    spec:\n      containers:\n{container}"
        )
    }

    fn redis(probe: &str) -> String {
        sts(
            3,
            &format!("      - name: redis\n        image: bitnami/redis:7.2.4\n{probe}"),
        )
    }

    #[test]
    fn fires_on_ping_tcp_http_bitnami_and_missing_probes() {
        let cases = [
            (
                "        readinessProbe:\n          exec: {command: [redis-cli, -h, localhost, ping]}\n",
                "PING",
            ),
            (
                "        readinessProbe:\n          exec: {command: [sh, -c, 'redis-cli ping | grep PONG']}\n",
                "PING",
            ),
            (
                "        readinessProbe:\n          tcpSocket: {port: 6379}\n",
                "tcpSocket",
            ),
            (
                "        readinessProbe:\n          httpGet: {path: /metrics, port: 9121}\n",
                "httpGet",
            ),
            (
                "        readinessProbe:\n          exec: {command: [sh, -c, /health/ping_readiness_local.sh 1]}\n",
                "Bitnami",
            ),
            ("", "is missing"),
        ];
        for (probe, expect) in cases {
            let f = run(&RULE, &redis(probe));
            assert_eq!(f.len(), 1, "{probe}");
            assert_eq!(f[0].severity, Severity::High);
            assert!(f[0].message.contains(expect), "{}", f[0].message);
            assert_eq!(f[0].container.as_deref(), Some("redis"));
        }
    }

    #[test]
    fn points_at_the_probe() {
        let f = run(
            &RULE,
            &redis("        readinessProbe:\n          tcpSocket: {port: 6379}\n"),
        );
        assert_eq!(f[0].location.line, 13, "inside `readinessProbe`");
    }

    #[test]
    fn passes_with_sync_aware_probes() {
        let good = [
            "        readinessProbe:\n          exec:\n            command: [sh, -c, 'redis-cli info replication | grep -q master_link_status:up && redis-cli info replication | grep -q master_sync_in_progress:0']\n",
            "        readinessProbe:\n          exec: {command: [/bin/sh, /redis-readiness/ready.sh]}\n",
        ];
        for probe in good {
            assert!(run(&RULE, &redis(probe)).is_empty(), "{probe}");
        }
    }

    #[test]
    fn an_unreadable_script_is_unknown_not_weak() {
        let probe = "        readinessProbe:\n          exec: {command: [sh, /probes/readiness.sh, '6379']}\n";
        assert!(run(&RULE, &redis(probe)).is_empty());
    }

    #[test]
    fn reads_a_script_from_a_mounted_configmap() {
        let container = "      - name: redis\n        image: redis:7\n        readinessProbe:\n          exec: {command: [sh, -c, /health/redis_readiness.sh]}\n        volumeMounts:\n        - {name: health, mountPath: /health}\n      volumes:\n      - name: health\n        configMap: {name: probes}\n";
        let cm = |script: &str| {
            format!(
                "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: probes, namespace: c}}\ndata:\n  redis_readiness.sh: |\n{script}",
                sts(3, container)
            )
        };
        let weak = cm(
            "    response=$(redis-cli -h localhost -p 6379 ping)\n    [ \"$response\" = PONG ]\n",
        );
        let f = run(&RULE, &weak);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("ConfigMap `probes`"),
            "{}",
            f[0].message
        );
        let good = cm("    redis-cli info replication | grep -q master_link_status:up\n");
        assert!(run(&RULE, &good).is_empty());
    }

    #[test]
    fn valkey_keydb_and_port_6379_are_redis_but_sentinel_and_exporter_are_not() {
        for image in [
            "valkey/valkey:8",
            "eqalpha/keydb:latest",
            "myorg/redis-server-custom:1",
        ] {
            let c = format!("      - name: db\n        image: {image}\n");
            assert_eq!(run(&RULE, &sts(2, &c)).len(), 1, "{image}");
        }
        let by_port = "      - name: db\n        image: example/cache:1\n        ports: [{containerPort: 6379}]\n";
        assert_eq!(run(&RULE, &sts(2, by_port)).len(), 1);
        let sentinel_and_exporter = "      - name: sentinel\n        image: redis:7\n        ports: [{containerPort: 26379}]\n        readinessProbe: {exec: {command: [redis-cli, -p, '26379', ping]}}\n      - name: metrics\n        image: oliver006/redis_exporter:v1\n        readinessProbe: {httpGet: {port: 9121}}\n";
        assert!(run(&RULE, &sts(3, sentinel_and_exporter)).is_empty());
    }

    #[test]
    fn helpers_on_the_redis_image_are_not_the_database() {
        let c = "      - name: redis\n        image: redis:7\n        ports: [{name: redis, containerPort: 6379}]\n        readinessProbe: {exec: {command: [sh, -c, 'redis-cli info replication | grep master_link_status:up']}}\n      - name: split-brain-fix\n        image: redis:7\n        command: [sh]\n        args: [/readonly-config/fix-split-brain.sh]\n";
        assert!(run(&RULE, &sts(3, c)).is_empty());
    }

    #[test]
    fn single_replica_is_not_replicated() {
        let c = "      - name: redis\n        image: redis:7\n";
        assert!(run(&RULE, &sts(1, c)).is_empty());
    }

    #[test]
    fn other_statefulsets_fire_at_medium_only_without_any_probe() {
        let none = "      - name: pg\n        image: postgres:16\n";
        let f = run(&RULE, &sts(3, none));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        let some = "      - name: pg\n        image: postgres:16\n        readinessProbe: {tcpSocket: {port: 5432}}\n";
        assert!(run(&RULE, &sts(3, some)).is_empty());
    }

    #[test]
    fn redis_failover_custom_ping_probe() {
        let rf = |probe: &str| {
            format!(
                "apiVersion: databases.spotahome.com/v1\nkind: RedisFailover\nmetadata: {{name: cache}}\nspec:\n  sentinel: {{replicas: 3}}\n  redis:\n    replicas: 2\n{probe}"
            )
        };
        let f = run(
            &RULE,
            &rf(
                "    customReadinessProbe:\n      exec: {command: [sh, -c, 'redis-cli -h $(hostname) ping']}\n",
            ),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location.line, 9);
        assert!(run(&RULE, &rf("")).is_empty());
        let good = "    customReadinessProbe:\n      exec: {command: [sh, -c, 'redis-cli info replication | grep master_link_status:up']}\n";
        assert!(run(&RULE, &rf(good)).is_empty());
    }

    #[test]
    fn real_redis_ha_chart_pings_through_its_configmap_script() {
        let Some(file) = crate::rules::shared_corpus(
            "real/redis-ha-rendered/argo-cd-v2.8.0/manifests/ha/base/redis-ha/chart/upstream.yaml",
        ) else {
            eprintln!("notice: ../shared/corpus absent; skipping the real redis-ha check");
            return;
        };
        let loaded = crate::load::load(&[crate::load::Input::parse(
            file.to_str().expect("utf-8 path"),
        )]);
        let cx = Context::new(&loaded.objects);
        let mut sink = Sink::new(&RULE.meta);
        (RULE.check)(&cx, &mut sink);
        // One finding: the `redis` container, judged by the text of `redis_readiness.sh`; the
        // sentinel, the split-brain-fix helper and the exporter are not the database.
        assert_eq!(sink.findings.len(), 1, "{:?}", sink.findings);
        let f = &sink.findings[0];
        assert_eq!(f.container.as_deref(), Some("redis"));
        assert_eq!(f.severity, Severity::High);
        assert!(f.message.contains("redis_readiness.sh"), "{}", f.message);
        assert!(f.message.contains("PING"), "{}", f.message);
    }
}
