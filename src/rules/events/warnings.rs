//! `events.warnings`: warning events that tell an incident's story, summarised per object.

use std::collections::{BTreeMap, HashMap};

use crate::load::Object;
use crate::node::Node;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "events.warnings",
        title: "Warning events: evictions, OOM, scheduling failures, back-off",
        severity: Severity::Low,
        stories: &[Story::Moonlight, Story::Buffer],
        needs: Needs::Cluster,
        rationale: "Events are the cluster's own account of what went wrong, and they expire after an \
            hour by default: `Evicted` and `SystemOOM`/`OOMKilling` (nodes out of memory, as when \
            Buffer's pods had no limits), `NodeNotReady` (Moonlight's node crash), `FailedScheduling` \
            (no room for replicas) and `BackOff` (crash loops). They are summarised per object so a \
            thousand repeats read as one line.",
        remediation: "Read the events of the object (`kubectl events --for <kind>/<name>`) and fix \
            the cause: memory limits and requests for OOM and evictions, capacity or constraints for \
            scheduling failures, the container's logs for back-off.",
        example: r#"{"apiVersion": "v1", "kind": "Event", "metadata": {"name": "api-0.17a9c3e2", "namespace": "web"},
 "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "api-0", "namespace": "web"},
 "reason": "BackOff", "type": "Warning", "count": 37, "message": "Back-off restarting failed container api"}
"#,
    },
    check,
};

/// Reasons worth a finding; the first group raises severity to medium.
const SERIOUS: [&str; 4] = ["Evicted", "SystemOOM", "OOMKilling", "NodeNotReady"];
const NOTABLE: [&str; 2] = ["FailedScheduling", "BackOff"];

#[derive(Default)]
struct Summary<'a> {
    first_event: Option<&'a Object>,
    /// reason → (count, last message)
    reasons: BTreeMap<String, (i64, String)>,
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    let by_name: HashMap<(&str, &str, &str), &Object> = cx
        .index
        .objects
        .iter()
        .filter(|o| o.kind != "Event")
        .map(|o| {
            (
                (
                    o.kind.as_str(),
                    o.namespace.as_deref().unwrap_or(""),
                    o.name.as_str(),
                ),
                o,
            )
        })
        .collect();
    let mut per_object: BTreeMap<(String, String, String), Summary<'_>> = BTreeMap::new();
    for event in cx.index.of_kind("Event") {
        let root = &event.root;
        let reason = root.str_at(&["reason"]).unwrap_or("");
        if !SERIOUS.contains(&reason) && !NOTABLE.contains(&reason) {
            continue;
        }
        // core/v1 uses involvedObject/message/count; events.k8s.io/v1 regarding/note/series.
        let Some(about) = root.get("involvedObject").or_else(|| root.get("regarding")) else {
            continue;
        };
        let count = root
            .get("count")
            .or_else(|| root.path(&["series", "count"]))
            .or_else(|| root.get("deprecatedCount"))
            .and_then(Node::as_i64)
            .unwrap_or(1)
            .max(1);
        let message = root
            .str_at(&["message"])
            .or_else(|| root.str_at(&["note"]))
            .unwrap_or("")
            .to_owned();
        let key = (
            about.str_at(&["kind"]).unwrap_or("").to_owned(),
            about.str_at(&["namespace"]).unwrap_or("").to_owned(),
            about.str_at(&["name"]).unwrap_or("").to_owned(),
        );
        let summary = per_object.entry(key).or_default();
        summary.first_event.get_or_insert(event);
        let entry = summary.reasons.entry(reason.to_owned()).or_default();
        entry.0 += count;
        entry.1 = message;
    }
    for ((kind, ns, name), summary) in &per_object {
        let Some(event) = summary.first_event else {
            continue;
        };
        let object = by_name
            .get(&(kind.as_str(), ns.as_str(), name.as_str()))
            .copied()
            .unwrap_or(event);
        let parts: Vec<String> = summary
            .reasons
            .iter()
            .map(|(reason, (count, message))| {
                let message: String = message.chars().take(160).collect();
                format!("{reason} ×{count} (last: {message})")
            })
            .collect();
        let what = if ns.is_empty() {
            format!("{kind} `{name}`")
        } else {
            format!("{kind} `{ns}/{name}`")
        };
        let finding = out.report(
            object,
            None,
            None,
            format!("warning events for {what}: {}", parts.join("; ")),
        );
        if summary
            .reasons
            .keys()
            .any(|r| SERIOUS.contains(&r.as_str()))
        {
            finding.severity = Severity::Medium;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::live_fixtures::{C, event, pod, run};

    #[test]
    fn summarises_per_object() {
        let f = run(
            &RULE,
            vec![
                pod("web", "api-0", "n1", None, &[C("api", "x", None)], false),
                event(
                    "web",
                    "Pod",
                    "api-0",
                    "BackOff",
                    37,
                    "Back-off restarting failed container api in pod api-0_web",
                ),
                event(
                    "web",
                    "Pod",
                    "api-0",
                    "BackOff",
                    3,
                    "Back-off restarting failed container api",
                ),
                event(
                    "web",
                    "Pod",
                    "api-0",
                    "Evicted",
                    1,
                    "The node was low on resource: memory.",
                ),
                event(
                    "web",
                    "Pod",
                    "gone-1",
                    "FailedScheduling",
                    2,
                    "0/3 nodes are available: 3 Insufficient cpu.",
                ),
                event(
                    "web",
                    "Pod",
                    "api-0",
                    "Pulled",
                    1,
                    "Successfully pulled image",
                ),
            ],
        );
        assert_eq!(f.len(), 2, "{f:?}");
        let api = f
            .iter()
            .find(|f| f.object.kind == "Pod")
            .expect("on the pod itself");
        assert_eq!(api.severity, Severity::Medium);
        assert!(api.message.starts_with("warning events for Pod `web/api-0`: BackOff ×40 (last: Back-off restarting failed container api); Evicted ×1"), "{}", api.message);
        let gone = f
            .iter()
            .find(|f| f.object.kind == "Event")
            .expect("on the event when the pod is gone");
        assert_eq!(gone.severity, Severity::Low);
        assert!(gone.message.contains("FailedScheduling ×2"));
    }

    #[test]
    fn passes_on_normal_events() {
        assert!(run(&RULE, vec![event("web", "Pod", "a", "Scheduled", 1, "ok")]).is_empty());
    }
}
