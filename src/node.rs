//! A parsed document: a small JSON-like tree where every node remembers the line it starts on.
//!
//! YAML and JSON both load into this one shape, with scalars already resolved the way kubectl
//! would resolve them (YAML 1.1 booleans, octal integers, ...). Rules read it through the
//! accessors below and never see the original text, so every format behaves the same.

use std::sync::Arc;

/// One value of a document, with the 1-based line where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: u32,
    pub value: Value,
}

/// A string in a tree: map keys and string values. Strings of up to 24 bytes (nearly every
/// Kubernetes key, name, quantity and timestamp) are stored inline with no allocation.
pub type Str = compact_str::CompactString;

/// The value of a [`Node`]. Maps keep document order; keys are strings as in JSON (kubectl
/// converts YAML keys to strings too).
///
/// Kept at 24 bytes (a [`Node`] at 32) because a 150,000-pod snapshot holds tens of millions of
/// them: collections are shared slices, not `Vec`s, and the tag lives in [`Str`]'s spare byte.
/// Collections are `Arc`s so that identical subtrees (the same container spec in every replica
/// of a Deployment) can be stored once: see `load::json`'s interner. Mutation is copy-on-write.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Str),
    Seq(Arc<[Node]>),
    Map(Arc<[(Str, Node)]>),
}

// The size is what makes huge snapshots fit: fail the build if a change grows it.
const _: () = assert!(std::mem::size_of::<Value>() == 24);
const _: () = assert!(std::mem::size_of::<Node>() == 32);

static NULL: Node = Node {
    line: 0,
    value: Value::Null,
};

impl Node {
    pub fn new(line: u32, value: Value) -> Self {
        Node { line, value }
    }

    /// The value under `key`, when this is a map that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Mutable access to the value under `key` (copies the map first when it is shared).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(entries) => Arc::make_mut(entries)
                .iter_mut()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The line to report for this node inside an object that starts on `object_line`: JSON
    /// gives inner nodes no line of their own (0), so they take the object's.
    pub fn line_in(&self, object_line: u32) -> u32 {
        if self.line > 0 {
            self.line
        } else {
            object_line
        }
    }

    /// Follows a path of map keys: `node.path(&["spec", "template", "spec"])`.
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |node, key| node.get(key))
    }

    /// The string at a path, when it is a string.
    pub fn str_at(&self, keys: &[&str]) -> Option<&str> {
        self.path(keys).and_then(Node::as_str)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// An integer, also from a float with no fraction (JSON has no integer type of its own).
    pub fn as_i64(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    pub fn as_map(&self) -> &[(Str, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Items of the sequence under `key` (empty when absent or not a sequence).
    pub fn seq_at(&self, key: &str) -> &[Node] {
        self.get(key).map_or(&[], Node::as_seq)
    }

    /// A static null, handy as a default.
    pub fn null() -> &'static Node {
        &NULL
    }

    /// A short human description of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) | Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "map",
        }
    }

    /// The value rendered as a short scalar string (for messages), or `None` for collections.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Null => Some("null".into()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.to_string()),
            _ => None,
        }
    }

    /// Sets `key` to `value` in a map: replaces an existing entry or appends one (rare, so
    /// re-boxing the entries is fine). Does nothing on a non-map.
    pub fn set(&mut self, key: &str, value: Node) {
        if let Some(slot) = self.get_mut(key) {
            *slot = value;
        } else if let Value::Map(boxed) = &mut self.value {
            let mut entries = boxed.to_vec();
            entries.push((key.into(), value));
            *boxed = entries.into();
        }
    }

    /// Removes the entry under `key`, when this is a map that has it.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let Value::Map(entries) = &mut self.value else {
            return None;
        };
        let at = entries.iter().position(|(k, _)| k == key)?;
        let mut rest = entries.to_vec();
        let removed = rest.remove(at).1;
        *entries = rest.into();
        Some(removed)
    }

    /// Converts to `serde_json::Value` (used by the snapshot writer and tests).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.to_string()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Builds a node tree from JSON, every node on `line`.
    pub fn from_json(value: &serde_json::Value, line: u32) -> Node {
        use serde_json::Value as J;
        let value = match value {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Str(s.as_str().into()),
            J::Array(items) => Value::Seq(items.iter().map(|v| Node::from_json(v, line)).collect()),
            J::Object(map) => Value::Map(
                map.iter()
                    .map(|(k, v)| (k.as_str().into(), Node::from_json(v, line)))
                    .collect(),
            ),
        };
        Node { line, value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_accessors() {
        let doc = Node::from_json(
            &serde_json::json!({"spec": {"replicas": 3, "name": "a", "f": 2.0}}),
            1,
        );
        assert_eq!(
            doc.path(&["spec", "replicas"]).and_then(Node::as_i64),
            Some(3)
        );
        assert_eq!(doc.str_at(&["spec", "name"]), Some("a"));
        assert_eq!(doc.path(&["spec", "f"]).and_then(Node::as_i64), Some(2));
        assert!(doc.path(&["spec", "missing", "x"]).is_none());
        assert!(doc.seq_at("nothing").is_empty());
    }
}
