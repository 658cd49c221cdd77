//! `stateful.no-disruption-budget`: replicated StatefulSets that drains may empty at once.

use crate::load::Object;
use crate::node::{Node, Value};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "stateful.no-disruption-budget",
        title: "Replicated StatefulSet without a PodDisruptionBudget",
        severity: Severity::Medium,
        stories: &[Story::Flant],
        needs: Needs::Manifests,
        rationale: "Node drains, cluster upgrades and autoscaler scale-downs evict pods through the \
            eviction API, which only holds back when a PodDisruptionBudget selects the pods. Without one, \
            a drain may evict the master and the only synced replica of a database together, or evict a \
            replica that is still copying data. In the Flant / spotahome redis-operator incident \
            (spotahome/redis-operator#205) pods of a replicated Redis were replaced while the new replica \
            had not finished its sync, Sentinel promoted the empty one and the whole dataset was lost. \
            A budget selects pods by label in its own namespace; one with neither `minAvailable` nor \
            `maxUnavailable`, with `minAvailable: 0`, or with `maxUnavailable` of 100% or at least the \
            replica count, allows every pod to go and protects nothing. A budget does not stop a \
            StatefulSet rolling update; it covers evictions only.",
        remediation: "Add a `policy/v1` PodDisruptionBudget in the StatefulSet's namespace whose selector \
            matches its pod labels, with `maxUnavailable: 1` (or a `minAvailable` that keeps a quorum), so \
            that drains take one member at a time and wait for it to be Ready again.",
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: redis
  namespace: cache
spec:
  replicas: 3
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
"#,
    },
    check,
};

/// Why a selecting budget does not protect, if it does not.
fn weakness(pdb: &Object, replicas: i64) -> Option<String> {
    let spec = pdb.spec();
    let min = spec.get("minAvailable").filter(|n| !n.is_null());
    let max = spec.get("maxUnavailable").filter(|n| !n.is_null());
    let name = &pdb.name;
    match (min, max) {
        (None, None) => Some(format!(
            "PodDisruptionBudget `{name}` selects its pods but sets neither `minAvailable` nor \
             `maxUnavailable`, so it allows every pod to be evicted"
        )),
        (Some(m), _) if is_zero(m) => Some(format!(
            "PodDisruptionBudget `{name}` has `minAvailable: 0`, so it allows every pod to be evicted"
        )),
        (None, Some(m)) if allows_all(m, replicas) => Some(format!(
            "PodDisruptionBudget `{name}` has `maxUnavailable: {}`, so it allows every pod to be \
             evicted at once",
            m.scalar_text().unwrap_or_default()
        )),
        _ => None,
    }
}

fn is_zero(n: &Node) -> bool {
    match &n.value {
        Value::Int(0) => true,
        Value::Str(s) => s.trim() == "0%" || s.trim() == "0",
        _ => false,
    }
}

fn allows_all(n: &Node, replicas: i64) -> bool {
    match &n.value {
        Value::Int(i) => *i >= replicas,
        Value::Str(s) => s
            .trim()
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<i64>().ok())
            .is_some_and(|p| p >= 100),
        _ => false,
    }
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    for w in cx
        .index
        .workloads
        .iter()
        .filter(|w| w.object.kind == "StatefulSet")
    {
        let (replicas, source) = cx.index.replicas(w);
        if replicas < 2 {
            continue;
        }
        let from = source.note();
        let at = w.object.spec().get("replicas");
        let pdbs = cx.index.pdbs_for(w);
        if pdbs.is_empty() {
            out.report(
                w.object,
                None,
                at,
                format!(
                    "StatefulSet `{}` runs {replicas} replicas{from} and no PodDisruptionBudget in \
                     namespace `{}` selects its pods: a drain can evict several members at once",
                    w.object.name,
                    w.object.namespace_or_default()
                ),
            );
            continue;
        }
        let weak: Vec<String> = pdbs.iter().filter_map(|p| weakness(p, replicas)).collect();
        if weak.len() == pdbs.len() {
            out.report(
                w.object,
                None,
                at,
                format!(
                    "StatefulSet `{}` runs {replicas} replicas{from} but no selecting budget protects \
                     them: {}",
                    w.object.name,
                    weak.join("; ")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check as run;

    const STS: &str = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: data}\nspec:\n  replicas: 3\n  template:\n    metadata: {labels: {app: db}}\n    spec:\n      containers: [{name: db, image: postgres:16}]\n";

    fn pdb(ns: &str, spec: &str) -> String {
        format!(
            "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: db, namespace: {ns}}}\nspec:\n  selector: {{matchLabels: {{app: db}}}}\n{spec}"
        )
    }

    #[test]
    fn fires_without_a_budget_pointing_at_replicas() {
        let f = run(&RULE, STS);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location.line, 5);
        assert!(f[0].message.contains("3 replicas"));
    }

    #[test]
    fn fires_when_the_budget_is_elsewhere_or_selects_other_pods() {
        assert_eq!(
            run(
                &RULE,
                &format!("{STS}{}", pdb("other", "  maxUnavailable: 1\n"))
            )
            .len(),
            1
        );
        let other = pdb("data", "  maxUnavailable: 1\n").replace("app: db}", "app: web}");
        assert_eq!(run(&RULE, &format!("{STS}{other}")).len(), 1);
    }

    #[test]
    fn fires_when_the_only_budget_protects_nothing() {
        for spec in [
            "",
            "  minAvailable: 0\n",
            "  maxUnavailable: 100%\n",
            "  maxUnavailable: 3\n",
        ] {
            let f = run(&RULE, &format!("{STS}{}", pdb("data", spec)));
            assert_eq!(f.len(), 1, "{spec:?}");
            assert!(
                f[0].message.contains("allows every pod"),
                "{}",
                f[0].message
            );
        }
        let f = run(&RULE, &format!("{STS}{}", pdb("data", "")));
        assert!(
            f[0].message
                .contains("neither `minAvailable` nor `maxUnavailable`")
        );
    }

    #[test]
    fn passes_with_a_protecting_budget() {
        for spec in [
            "  maxUnavailable: 1\n",
            "  minAvailable: 2\n",
            "  minAvailable: 50%\n",
        ] {
            assert!(
                run(&RULE, &format!("{STS}{}", pdb("data", spec))).is_empty(),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn passes_for_single_replicas_and_other_kinds() {
        assert!(run(&RULE, &STS.replace("replicas: 3", "replicas: 1")).is_empty());
        assert!(run(&RULE, &STS.replace("kind: StatefulSet", "kind: Deployment")).is_empty());
    }

    #[test]
    fn hpa_min_replicas_counts() {
        let y = format!(
            "{}---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: h, namespace: data}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: StatefulSet, name: db}}\n  minReplicas: 2\n  maxReplicas: 4\n",
            STS.replace("  replicas: 3\n", "")
        );
        let f = run(&RULE, &y);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("HPA"));
    }
}
