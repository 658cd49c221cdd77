//! Label selectors with the API server's semantics: `matchLabels` and `matchExpressions`
//! (`In`, `NotIn`, `Exists`, `DoesNotExist`) are ANDed; `NotIn` and `DoesNotExist` match an
//! absent key.

use crate::load::Object;
use crate::node::Node;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A set of requirements that must all hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Selector {
    /// A `metav1.LabelSelector`. Returns `None` when it has an operator the API would reject, so
    /// a broken selector never matches by accident.
    pub fn from_label_selector(node: &Node) -> Option<Selector> {
        let mut requirements = Vec::new();
        for (k, v) in node.get("matchLabels").map_or(&[][..], Node::as_map) {
            requirements.push(Requirement::Equals(k.to_string(), v.scalar_text()?));
        }
        for expr in node.seq_at("matchExpressions") {
            let key = expr.str_at(&["key"])?.to_owned();
            let values: Vec<String> = expr
                .seq_at("values")
                .iter()
                .filter_map(Node::scalar_text)
                .collect();
            requirements.push(match expr.str_at(&["operator"])? {
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                _ => return None,
            });
        }
        Some(Selector { requirements })
    }

    /// A plain label map (Service, ReplicationController): equality only.
    pub fn from_map(node: &Node) -> Selector {
        Selector {
            requirements: node
                .as_map()
                .iter()
                .filter_map(|(k, v)| Some(Requirement::Equals(k.to_string(), v.scalar_text()?)))
                .collect(),
        }
    }

    /// A Service's selector. A Service without one selects no pods (its endpoints are managed
    /// by hand), so this is `None` then.
    pub fn from_service(service: &Object) -> Option<Selector> {
        let s = Selector::from_map(service.root.path(&["spec", "selector"])?);
        (!s.is_empty()).then_some(s)
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether a label map satisfies every requirement. An empty selector matches everything;
    /// callers decide what an empty selector means for their kind.
    pub fn matches(&self, labels: &Node) -> bool {
        let get = |key: &str| labels.get(key).and_then(Node::scalar_text);
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k).as_deref() == Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Requirement::Exists(k) => labels.get(k).is_some(),
            Requirement::DoesNotExist(k) => labels.get(k).is_none(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(v: serde_json::Value) -> Node {
        Node::from_json(&v, 1)
    }

    #[test]
    fn table() {
        let sel = Selector::from_label_selector(&labels(serde_json::json!({
            "matchLabels": {"app": "a"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web", "api"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["dev"]}
            ]
        })))
        .unwrap();
        let cases = [
            (serde_json::json!({"app": "a", "tier": "web"}), true),
            (
                serde_json::json!({"app": "a", "tier": "api", "env": "prod"}),
                true,
            ),
            (
                serde_json::json!({"app": "a", "tier": "web", "env": "dev"}),
                false,
            ),
            (
                serde_json::json!({"app": "a", "tier": "web", "canary": "1"}),
                false,
            ),
            (serde_json::json!({"app": "b", "tier": "web"}), false),
            (serde_json::json!({"app": "a"}), false),
        ];
        for (l, want) in cases {
            assert_eq!(sel.matches(&labels(l.clone())), want, "{l}");
        }
    }

    #[test]
    fn bad_operator_matches_nothing() {
        let node =
            labels(serde_json::json!({"matchExpressions": [{"key": "a", "operator": "Like"}]}));
        assert!(Selector::from_label_selector(&node).is_none());
    }
}
