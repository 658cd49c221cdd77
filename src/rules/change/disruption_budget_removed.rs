//! `change.disruption-budget-removed`: a replicated workload loses its disruption budget, or
//! is scaled so its budget blocks every drain.

use crate::load::Object;
use crate::node::Value;
use crate::rules::change::{ChangeRule, DiffContext, DiffSink, ValueChange};
use crate::rules::{Meta, Needs, Severity};
use crate::stories::Story;

pub static RULE: ChangeRule = ChangeRule {
    meta: Meta {
        id: "change.disruption-budget-removed",
        title: "PodDisruptionBudget of a replicated workload deleted, or replicas cut to its minAvailable",
        severity: Severity::High,
        stories: &[Story::Flant],
        needs: Needs::Diff,
        rationale: "A PodDisruptionBudget is what stops a node drain or cluster upgrade from \
            evicting several replicas of a database at once. In Flant's Redis failover the primary \
            and the only synced replica were replaced within seconds of each other and the dataset \
            was lost; a budget limits how many replicas voluntary disruptions take down together. \
            Deleting the budget of a workload that keeps several replicas removes that guard \
            silently. Cutting replicas to or below `minAvailable` is the opposite failure: the \
            budget then allows no eviction at all, so every drain blocks until someone deletes the \
            budget by hand, usually in a hurry.",
        remediation: "Keep a PodDisruptionBudget selecting the pods (`maxUnavailable: 1` suits most \
            replicated stores). When scaling down, lower `minAvailable` with the replicas, or use \
            `maxUnavailable`, so at least one pod can always be evicted.",
        example: r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {name: redis}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: redis}}
    spec:
      containers: [{name: redis, image: redis:7}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: redis}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: redis}}
# ---- after ----
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: redis}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: redis}}
    spec:
      containers: [{name: redis, image: redis:7}]
"#,
    },
    check,
};

/// Whether `minAvailable` lets no pod of `replicas` be evicted.
fn blocks_all(pdb: &Object, replicas: i64) -> bool {
    let Some(min) = pdb.spec().get("minAvailable") else {
        return false;
    };
    match &min.value {
        Value::Int(n) => replicas <= *n,
        Value::Str(s) => match s
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<i64>().ok())
        {
            // The API rounds a percentage of minAvailable up.
            Some(p) => (replicas * p + 99) / 100 >= replicas,
            None => s.parse::<i64>().is_ok_and(|n| replicas <= n),
        },
        _ => false,
    }
}

fn check(cx: &DiffContext<'_>, out: &mut DiffSink) {
    // Budgets deleted while the replicated workload they selected stays.
    for pdb in cx.removed().filter(|o| o.kind == "PodDisruptionBudget") {
        for wb in cx
            .before
            .index
            .workloads
            .iter()
            .filter(|w| w.is_replicated_kind())
        {
            if !cx
                .before
                .index
                .pdbs_for(wb)
                .iter()
                .any(|p| std::ptr::eq(*p, pdb))
            {
                continue;
            }
            let Some(wa) = cx.after_workload_of(wb.object) else {
                continue;
            };
            let replicas = cx.after.index.replicas(wa).0;
            if replicas < 2 || !cx.after.index.pdbs_for(wa).is_empty() {
                continue;
            }
            out.report(
                wa.object,
                None,
                None,
                format!(
                    "PodDisruptionBudget `{}` is deleted while {} `{}` keeps {replicas} replicas and \
                     no other budget selects them: a drain may now evict several at once",
                    pdb.name, wa.object.kind, wa.object.name
                ),
                vec![ValueChange::text(
                    "PodDisruptionBudget",
                    Some(pdb.name.clone()),
                    None,
                )],
            );
        }
    }
    // Replicas cut to or below a budget's minAvailable.
    for (wb, wa) in cx.changed_workloads() {
        let (rb, ra) = (
            cx.before.index.replicas(wb).0,
            cx.after.index.replicas(wa).0,
        );
        if ra >= rb || ra < 1 {
            continue;
        }
        for pdb in cx.after.index.pdbs_for(wa) {
            if !blocks_all(pdb, ra) || blocks_all(pdb, rb) {
                continue;
            }
            let min = pdb.spec().get("minAvailable");
            out.report(
                wa.object,
                None,
                wa.object.spec().get("replicas"),
                format!(
                    "replicas of `{}` go from {rb} to {ra}, at or below `minAvailable` of \
                     PodDisruptionBudget `{}`: no pod can be evicted, so node drains block",
                    wa.object.name, pdb.name
                ),
                vec![
                    ValueChange::text("spec.replicas", Some(rb.to_string()), Some(ra.to_string())),
                    ValueChange::new(
                        format!("PodDisruptionBudget {} minAvailable", pdb.name),
                        min,
                        min,
                    ),
                ],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::change::check as run;

    fn sts(replicas: i64) -> String {
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: db}}\nspec:\n  replicas: {replicas}\n  template:\n    metadata: {{labels: {{app: db}}}}\n    spec: {{containers: [{{name: db, image: postgres:16}}]}}\n"
        )
    }

    fn pdb(name: &str, min: &str) -> String {
        format!(
            "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: {name}}}\nspec:\n  minAvailable: {min}\n  selector: {{matchLabels: {{app: db}}}}\n"
        )
    }

    #[test]
    fn fires_when_the_budget_of_a_replicated_workload_is_deleted() {
        let risks = run(&RULE, &(sts(3) + &pdb("db", "2")), &sts(3));
        assert_eq!(risks.len(), 1);
        assert_eq!(risks[0].finding.object.name, "db");
        assert_eq!(risks[0].finding.object.kind, "StatefulSet");
        assert!(
            risks[0]
                .finding
                .message
                .contains("PodDisruptionBudget `db`")
        );
    }

    #[test]
    fn fires_when_replicas_drop_to_min_available() {
        let risks = run(
            &RULE,
            &(sts(3) + &pdb("db", "2")),
            &(sts(2) + &pdb("db", "2")),
        );
        assert_eq!(risks.len(), 1);
        assert_eq!(
            risks[0].changes[0],
            ValueChange::text("spec.replicas", Some("3".into()), Some("2".into()))
        );
        // A percentage that rounds up to every pod.
        assert_eq!(
            run(
                &RULE,
                &(sts(4) + &pdb("db", "'60%'")),
                &(sts(2) + &pdb("db", "'60%'"))
            )
            .len(),
            1
        );
    }

    #[test]
    fn passes_on_near_misses() {
        // The budget is renamed: another one still selects the pods.
        assert!(
            run(
                &RULE,
                &(sts(3) + &pdb("old", "2")),
                &(sts(3) + &pdb("new", "2"))
            )
            .is_empty()
        );
        // The workload goes too.
        assert!(run(&RULE, &(sts(3) + &pdb("db", "2")), "").is_empty());
        // The workload is scaled to one replica while the budget goes: nothing to protect.
        assert!(run(&RULE, &(sts(3) + &pdb("db", "2")), &sts(1)).is_empty());
        // Scaled down but still above minAvailable.
        assert!(
            run(
                &RULE,
                &(sts(5) + &pdb("db", "2")),
                &(sts(3) + &pdb("db", "2"))
            )
            .is_empty()
        );
    }
}
