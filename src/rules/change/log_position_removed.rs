//! `change.log-position-removed`: a log tail input loses its position database.
//!
//! Tail inputs are found with `logging::shipper_without_position_db::tail_inputs`, the scan
//! rule's parser (fluent-bit classic and YAML, Fluentd), in every data key of a changed
//! ConfigMap; inputs are matched by shipper and order within the key. fluent-operator
//! `ClusterInput`/`Input` objects are compared on `spec.tail.db`.

use crate::load::Object;
use crate::node::Node;
use crate::rules::change::{ChangeRule, DiffContext, DiffSink, ValueChange};
use crate::rules::logging::shipper_without_position_db::{Shipper, TailInput, tail_inputs};
use crate::rules::{Meta, Needs, Severity};
use crate::stories::Story;

pub static RULE: ChangeRule = ChangeRule {
    meta: Meta {
        id: "change.log-position-removed",
        title: "Log shipper tail input loses its position database",
        severity: Severity::High,
        stories: &[Story::PrometheusKube],
        needs: Needs::Diff,
        rationale: "A node log shipper remembers how far it read each container log only in its \
            position database: fluent-bit's `DB` on a `tail` input, Fluentd's `pos_file`. Without \
            it every restart either skips what was written while the shipper was down (fluent-bit \
            starts at the end of files by default) or sends everything again. PrometheusKube lost a \
            node's application logs while fluent-bit kept running and moved to Fluentd, whose \
            position file made restarts recoverable. A config refactor that drops the line is easy \
            to miss in review because the shipper keeps working until its next restart.",
        remediation: "Keep `DB /var/log/flb_kube.db` (YAML `db:`) on every fluent-bit tail input \
            and `pos_file` on every Fluentd tail source, on a hostPath mount so it survives pod \
            restarts.",
        example: r#"apiVersion: v1
kind: ConfigMap
metadata: {name: fluent-bit, namespace: logging}
data:
  fluent-bit.conf: |
    [INPUT]
        Name  tail
        Path  /var/log/containers/*.log
        DB    /var/log/flb_kube.db
# ---- after ----
apiVersion: v1
kind: ConfigMap
metadata: {name: fluent-bit, namespace: logging}
data:
  fluent-bit.conf: |
    [INPUT]
        Name  tail
        Path  /var/log/containers/*.log
        Mem_Buf_Limit 5MB
"#,
    },
    check,
};

fn config_maps(cx: &DiffContext<'_>, out: &mut DiffSink) {
    for (b, a) in cx
        .changed()
        .filter(|(b, a)| b.kind == "ConfigMap" && a.kind == "ConfigMap")
    {
        let data = |o: &Object| o.root.get("data").map(Node::as_map).unwrap_or(&[]).to_vec();
        let after_data = data(a);
        for (key, vb) in data(b) {
            let (Some(tb), Some((_, va))) =
                (vb.as_str(), after_data.iter().find(|(k, _)| *k == key))
            else {
                continue;
            };
            let Some(ta) = va.as_str() else {
                continue;
            };
            let (ib, ia) = (tail_inputs(&key, tb), tail_inputs(&key, ta));
            let mut shippers: Vec<Shipper> = ib.iter().map(|i| i.shipper).collect();
            shippers.dedup();
            for shipper in shippers {
                let of = |v: &[TailInput]| {
                    v.iter()
                        .filter(|i| i.shipper == shipper)
                        .cloned()
                        .collect::<Vec<_>>()
                };
                for (n, (x, y)) in of(&ib).iter().zip(of(&ia).iter()).enumerate() {
                    let (Some((path, _)), None) = (&x.db, &y.db) else {
                        continue;
                    };
                    let what = match shipper {
                        Shipper::Fluentd => "`pos_file`",
                        Shipper::FluentBit => "`DB`",
                    };
                    out.report(
                        a,
                        None,
                        Some(va),
                        format!(
                            "tail input {} in `{key}` of ConfigMap `{}` loses its {what} (`{path}`): \
                             after a restart the shipper no longer knows where it stopped reading",
                            n + 1,
                            a.name
                        ),
                        vec![ValueChange::text(
                            format!("data.{key} tail input {} position", n + 1),
                            Some(path.clone()),
                            None,
                        )],
                    );
                }
            }
        }
    }
}

fn fluent_operator(cx: &DiffContext<'_>, out: &mut DiffSink) {
    let input = |o: &Object| {
        matches!(o.kind.as_str(), "ClusterInput" | "Input")
            && o.group().starts_with("fluentbit.fluent.io")
    };
    for (b, a) in cx.changed().filter(|(b, a)| input(b) && input(a)) {
        let db = |o: &Object| {
            o.root
                .path(&["spec", "tail", "db"])
                .filter(|d| !d.is_null())
                .cloned()
        };
        let (Some(old), None) = (db(b), db(a)) else {
            continue;
        };
        if a.root.path(&["spec", "tail"]).is_none() {
            continue;
        }
        out.report(
            a,
            None,
            a.root.path(&["spec", "tail"]),
            format!(
                "{} `{}` tail input loses its `db`: after a restart fluent-bit no longer knows where it stopped reading",
                a.kind, a.name
            ),
            vec![ValueChange::new("spec.tail.db", Some(&old), None)],
        );
    }
}

fn check(cx: &DiffContext<'_>, out: &mut DiffSink) {
    config_maps(cx, out);
    fluent_operator(cx, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::change::check as run;

    fn cm(body: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: shipper}}\ndata:\n  fluent.conf: |\n{body}"
        )
    }

    #[test]
    fn fires_when_fluentd_loses_pos_file() {
        let b = cm(
            "    <source>\n      @type tail\n      path /var/log/containers/*.log\n      pos_file /var/log/fluentd.pos\n    </source>\n",
        );
        let a = cm(
            "    <source>\n      @type tail\n      path /var/log/containers/*.log\n    </source>\n",
        );
        let r = run(&RULE, &b, &a);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].finding.message.contains("pos_file"));
        assert_eq!(
            r[0].changes[0].before.as_deref(),
            Some("/var/log/fluentd.pos")
        );
    }

    #[test]
    fn fires_on_a_fluent_operator_input() {
        let input = |db: &str| {
            format!(
                "apiVersion: fluentbit.fluent.io/v1alpha2\nkind: ClusterInput\nmetadata: {{name: tail}}\nspec:\n  tail:\n    path: /var/log/containers/*.log\n{db}"
            )
        };
        assert_eq!(
            run(
                &RULE,
                &input("    db: /fluent-bit/tail/pos.db\n"),
                &input("")
            )
            .len(),
            1
        );
        assert!(
            run(
                &RULE,
                &input(""),
                &input("    db: /fluent-bit/tail/pos.db\n")
            )
            .is_empty()
        );
    }

    #[test]
    fn near_misses_pass() {
        let (b, _) = crate::rules::change::example_sides(&RULE);
        // The DB path changes but stays.
        assert!(run(&RULE, b, &b.replace("flb_kube.db", "flb.db")).is_empty());
        // An input that never had one (the scan rule's business, not a change).
        let none = b.replace("        DB    /var/log/flb_kube.db\n", "");
        assert!(
            run(
                &RULE,
                &none,
                &none.replace("*.log", "*.log\n        Tag kube.*")
            )
            .is_empty()
        );
    }
}
