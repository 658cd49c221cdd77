//! JSON documents into [`Node`] trees: single objects, `kubectl get -o json` Lists and JSON
//! streams (objects back to back, as `kubectl apply -f` accepts).
//!
//! List items are split out as raw slices and converted in parallel, so a large dump costs one
//! scan plus parallel conversion. Three things keep a 150,000-pod dump small in memory:
//! - fields no rule reads and that dominate real dumps (`managedFields`, the last-applied
//!   annotation, container IDs, image digests, probe timestamps) are skipped while converting,
//!   by path from the object's root ([`PRUNE`]; a test checks no rule reads them);
//! - identical subtrees are stored once ([`Interner`]): the replicas of a Deployment share their
//!   container specs, probes, resources, labels and owner references;
//! - only an object's root node carries its line (inner nodes have line 0 and report at the
//!   object's line, as they always did for JSON), so shared subtrees need no line of their own.

use rayon::prelude::*;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::node::{Node, Str, Value};

/// Fields skipped while converting, by path from an object's root (lists are transparent: the
/// path of a container status is `status.containerStatuses.imageID`).
pub(crate) struct Prune {
    /// Keys dropped at this level.
    pub(crate) drop: &'static [&'static str],
    /// Deeper levels with something to drop.
    pub(crate) children: &'static [(&'static str, &'static Prune)],
}

const NOTHING: Prune = Prune {
    drop: &[],
    children: &[],
};

/// What is pruned. Kept to fields that are large or unique per object (so they would defeat
/// sharing) and that no rule reads: `tests::pruned_fields_are_never_read` enforces the latter.
pub(crate) const PRUNE: Prune = Prune {
    drop: &[],
    children: &[
        (
            "metadata",
            &Prune {
                drop: &["managedFields", "uid", "resourceVersion", "selfLink"],
                children: &[
                    (
                        "annotations",
                        &Prune {
                            drop: &["kubectl.kubernetes.io/last-applied-configuration"],
                            children: &[],
                        },
                    ),
                    (
                        "ownerReferences",
                        &Prune {
                            drop: &["uid", "blockOwnerDeletion"],
                            children: &[],
                        },
                    ),
                ],
            },
        ),
        (
            "spec",
            &Prune {
                drop: &["schedulerName", "enableServiceLinks", "preemptionPolicy"],
                children: &[("containers", &CONTAINER), ("initContainers", &CONTAINER)],
            },
        ),
        (
            "status",
            &Prune {
                drop: &[
                    "images",
                    "podIPs",
                    "hostIPs",
                    "daemonEndpoints",
                    "startTime",
                ],
                children: &[
                    (
                        "conditions",
                        &Prune {
                            drop: &["lastProbeTime", "lastHeartbeatTime", "lastTransitionTime"],
                            children: &[],
                        },
                    ),
                    ("containerStatuses", &CONTAINER_STATUS),
                    ("initContainerStatuses", &CONTAINER_STATUS),
                    ("ephemeralContainerStatuses", &CONTAINER_STATUS),
                    (
                        "nodeInfo",
                        &Prune {
                            drop: &["bootID", "machineID", "systemUUID"],
                            children: &[],
                        },
                    ),
                ],
            },
        ),
    ],
};

const CONTAINER: Prune = Prune {
    drop: &["terminationMessagePath", "terminationMessagePolicy"],
    children: &[],
};

const CONTAINER_STATUS: Prune = Prune {
    drop: &["containerID", "imageID", "image", "started"],
    children: &[(
        "state",
        &Prune {
            drop: &[],
            children: &[(
                "running",
                &Prune {
                    drop: &["startedAt"],
                    children: &[],
                },
            )],
        },
    )],
};

impl Prune {
    fn child(&self, key: &str) -> &'static Prune {
        self.children
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(&NOTHING, |(_, p)| p)
    }
}

/// Hash-consing of collections: every map and list below an object's top level is looked up
/// here and, when an equal one was already built, shared instead of kept twice. Children are
/// interned before their parents, so equality can compare child collections by pointer.
#[derive(Default)]
pub struct Interner {
    shards: [Mutex<hashbrown::HashTable<Shallow>>; 16],
    /// Seeded per process: keys come from the input, so their hashes must not be predictable.
    hasher: foldhash::fast::RandomState,
}

impl Interner {
    fn intern(&self, node: Node) -> Node {
        let key = Shallow(node);
        let hash = self.hasher.hash_one(&key);
        let Ok(mut shard) = self.shards[(hash % 16) as usize].lock() else {
            return key.0;
        };
        if let Some(existing) = shard.find(hash, |e| *e == key) {
            return existing.0.clone();
        }
        shard.insert_unique(hash, Shallow(key.0.clone()), |e| self.hasher.hash_one(e));
        key.0
    }
}

/// A node compared one level deep: scalars by value, child collections by address.
struct Shallow(Node);

fn scalar_or_address<H: Hasher>(node: &Node, h: &mut H) {
    node.line.hash(h);
    match &node.value {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Int(i) => (2u8, i).hash(h),
        Value::Float(f) => (3u8, f.to_bits()).hash(h),
        Value::Str(s) => (4u8, s.as_str()).hash(h),
        Value::Seq(items) => (5u8, Arc::as_ptr(items) as *const () as usize).hash(h),
        Value::Map(entries) => (6u8, Arc::as_ptr(entries) as *const () as usize).hash(h),
    }
}

fn same(a: &Node, b: &Node) -> bool {
    a.line == b.line
        && match (&a.value, &b.value) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
            (Value::Str(x), Value::Str(y)) => x == y,
            (Value::Seq(x), Value::Seq(y)) => Arc::ptr_eq(x, y),
            (Value::Map(x), Value::Map(y)) => Arc::ptr_eq(x, y),
            _ => false,
        }
}

impl Hash for Shallow {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.line.hash(h);
        match &self.0.value {
            Value::Seq(items) => {
                (5u8, items.len()).hash(h);
                items.iter().for_each(|n| scalar_or_address(n, h));
            }
            Value::Map(entries) => {
                (6u8, entries.len()).hash(h);
                for (k, v) in entries.iter() {
                    k.as_str().hash(h);
                    scalar_or_address(v, h);
                }
            }
            _ => scalar_or_address(&self.0, h),
        }
    }
}

impl PartialEq for Shallow {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.0, &other.0);
        a.line == b.line
            && match (&a.value, &b.value) {
                (Value::Seq(x), Value::Seq(y)) => {
                    x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same(p, q))
                }
                (Value::Map(x), Value::Map(y)) => {
                    x.len() == y.len()
                        && x.iter()
                            .zip(y.iter())
                            .all(|((kp, p), (kq, q))| kp == kq && same(p, q))
                }
                _ => same(a, b),
            }
    }
}

impl Eq for Shallow {}

/// A document or a problem found in a JSON file.
#[derive(Debug)]
pub enum Parsed {
    Document(Node),
    Error {
        line: u32,
        message: String,
    },
    /// A hindsight snapshot header (the raw JSON of the List's `hindsight` key).
    Header {
        line: u32,
        json: String,
    },
}

/// Reads a JSON stream. Every node of an object gets the line where that object starts
/// (JSON dumps put one field per line; the object is what a finding points at).
pub fn parse_stream(src: &str) -> Vec<Parsed> {
    let mut out = Vec::new();
    let mut lines = LineCounter::new(src);
    let mut stream = serde_json::Deserializer::from_str(src).into_iter::<&RawValue>();
    loop {
        let raw = match stream.next() {
            None => break,
            Some(Ok(raw)) => raw,
            Some(Err(e)) => {
                out.push(Parsed::Error {
                    line: e.line() as u32,
                    message: format!("invalid JSON: {e}"),
                });
                break;
            }
        };
        let offset = offset_in(src, raw.get());
        let line = lines.line_at(offset);
        out.extend(parse_document(src, raw, line, &mut lines));
    }
    out
}

/// Only the fields that tell a List from an object, borrowed from the input.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    hindsight: Option<&'a RawValue>,
}

fn parse_document(src: &str, raw: &RawValue, line: u32, lines: &mut LineCounter) -> Vec<Parsed> {
    let head: Option<Head<'_>> = serde_json::from_str(raw.get()).ok();
    if let Some(Head {
        kind: Some(kind),
        items: Some(items),
        api_version,
        hindsight,
    }) = head
        && kind.ends_with("List")
    {
        let header = hindsight.map(|h| Parsed::Header {
            line: lines.line_at(offset_in(src, h.get())),
            json: h.get().to_owned(),
        });
        let item_lines: Vec<u32> = items
            .iter()
            .map(|item| lines.line_at(offset_in(src, item.get())))
            .collect();
        let interner = Interner::default();
        let out: Vec<Parsed> = items
            .par_iter()
            .zip(item_lines.par_iter())
            .map(
                |(item, &line)| match to_node_shared(item.get(), line, &interner) {
                    Ok(mut node) => {
                        super::fill_list_item(&mut node, api_version.as_deref(), &kind);
                        Parsed::Document(node)
                    }
                    Err(e) => error_at(e, line),
                },
            )
            .collect();
        return header.into_iter().chain(out).collect();
    }
    match to_node(raw.get(), line) {
        Ok(node) => vec![Parsed::Document(node)],
        Err(e) => vec![error_at(e, line)],
    }
}

pub(crate) fn error_at(e: serde_json::Error, line: u32) -> Parsed {
    Parsed::Error {
        line: line + e.line().saturating_sub(1) as u32,
        message: format!("invalid JSON: {e}"),
    }
}

/// Converts one JSON object into a node tree whose root is on `line` (inner nodes: line 0).
pub fn to_node(text: &str, line: u32) -> Result<Node, serde_json::Error> {
    convert(text, line, None)
}

/// [`to_node`], sharing identical subtrees with other objects converted through `interner`.
pub fn to_node_shared(
    text: &str,
    line: u32,
    interner: &Interner,
) -> Result<Node, serde_json::Error> {
    convert(text, line, Some(interner))
}

fn convert(text: &str, line: u32, interner: Option<&Interner>) -> Result<Node, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = NodeSeed {
        line,
        depth: 0,
        prune: &PRUNE,
        interner,
    };
    let node = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(node)
}

fn offset_in(src: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(src.as_ptr() as usize)
}

/// Turns byte offsets that only move forward into 1-based line numbers.
struct LineCounter<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
}

impl<'a> LineCounter<'a> {
    fn new(src: &'a str) -> Self {
        LineCounter {
            src: src.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, offset: usize) -> u32 {
        let offset = offset.min(self.src.len());
        if offset < self.pos {
            self.pos = 0;
            self.line = 1;
        }
        self.line += memchr::memchr_iter(b'\n', &self.src[self.pos..offset]).count() as u32;
        self.pos = offset;
        self.line
    }
}

#[derive(Clone, Copy)]
struct NodeSeed<'i> {
    line: u32,
    depth: u8,
    prune: &'static Prune,
    interner: Option<&'i Interner>,
}

impl NodeSeed<'_> {
    fn child(self, prune: &'static Prune) -> Self {
        NodeSeed {
            line: 0,
            depth: self.depth.saturating_add(1),
            prune,
            interner: self.interner,
        }
    }

    /// A finished collection: shared when an equal one exists. The top two levels (the object
    /// and its `metadata`/`spec`/`status`) are nearly always unique, so they skip the lookup.
    fn finish(self, node: Node) -> Node {
        match self.interner {
            Some(interner) if self.depth >= 2 => interner.intern(node),
            _ => node,
        }
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::new(self.line, Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::new(self.line, Value::Int(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::new(
            self.line,
            i64::try_from(v).map_or(Value::Float(v as f64), Value::Int),
        ))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::new(self.line, Value::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::new(self.line, Value::Str(v.into())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::new(self.line, Value::Str(v.into())))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::new(self.line, Value::Null))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::new(self.line, Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        // Lists are transparent to pruning: their items are pruned like the list itself.
        let child = self.child(self.prune);
        while let Some(item) = seq.next_element_seed(child)? {
            items.push(item);
        }
        Ok(self.finish(Node::new(self.line, Value::Seq(items.into()))))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(Str, Node)> = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            if self.prune.drop.contains(&key.0.as_str()) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = map.next_value_seed(self.child(self.prune.child(&key.0)))?;
            entries.push((key.0, value));
        }
        // Converting to a shared slice trims spare capacity: huge dumps keep millions of maps.
        Ok(self.finish(Node::new(self.line, Value::Map(entries.into()))))
    }
}

/// A map key, borrowed when the input allows it.
struct Key(crate::node::Str);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        Ok(Key(s.as_ref().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents(out: &[Parsed]) -> Vec<&Node> {
        out.iter()
            .filter_map(|p| match p {
                Parsed::Document(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn list_items_get_their_lines() {
        let src = "{\n \"kind\": \"List\",\n \"items\": [\n  {\"kind\": \"Pod\",\n   \"metadata\": {\"managedFields\": [1]}},\n  {\"kind\": \"Service\"}\n ]\n}\n";
        let out = parse_stream(src);
        let docs = documents(&out);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].str_at(&["kind"]), Some("Pod"));
        assert_eq!(docs[0].line, 4);
        assert!(docs[0].path(&["metadata", "managedFields"]).is_none());
        assert_eq!(docs[1].line, 6);
    }

    #[test]
    fn unread_fields_are_pruned_by_path() {
        let pod = r#"{"kind": "Pod", "metadata": {"name": "p", "uid": "u-1", "labels": {"uid": "kept"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "uid": "u-2"}]},
            "spec": {"containers": [{"name": "app", "image": "app:1", "terminationMessagePath": "/dev/x"}]},
            "status": {"containerStatuses": [{"name": "app", "image": "app:1", "imageID": "sha", "restartCount": 2,
                "state": {"running": {"startedAt": "t"}}, "lastState": {"terminated": {"reason": "OOMKilled", "startedAt": "t"}}}]}}"#;
        let node = to_node(pod, 7).expect("valid JSON");
        assert_eq!(node.line, 7);
        assert!(node.path(&["metadata", "uid"]).is_none());
        // Same key, other path: kept.
        assert_eq!(node.str_at(&["metadata", "labels", "uid"]), Some("kept"));
        let owner = &node
            .path(&["metadata", "ownerReferences"])
            .expect("kept")
            .as_seq()[0];
        assert_eq!(owner.str_at(&["name"]), Some("rs"));
        assert!(owner.get("uid").is_none());
        let container = &node.path(&["spec", "containers"]).expect("kept").as_seq()[0];
        assert_eq!(container.str_at(&["image"]), Some("app:1"));
        assert!(container.get("terminationMessagePath").is_none());
        let status = &node
            .path(&["status", "containerStatuses"])
            .expect("kept")
            .as_seq()[0];
        assert!(status.get("image").is_none() && status.get("imageID").is_none());
        assert_eq!(
            status.path(&["restartCount"]).and_then(Node::as_i64),
            Some(2)
        );
        assert!(status.path(&["state", "running"]).is_some());
        assert!(status.path(&["state", "running", "startedAt"]).is_none());
        let reason = status.str_at(&["lastState", "terminated", "reason"]);
        assert_eq!(reason, Some("OOMKilled"));
        assert!(
            status
                .path(&["lastState", "terminated", "startedAt"])
                .is_some()
        );
        // Inner nodes carry no line of their own; findings fall back to the object's.
        assert_eq!(container.line, 0);
        assert_eq!(container.line_in(node.line), 7);
    }

    #[test]
    fn equal_subtrees_are_shared_and_read_the_same() {
        let item = |name: &str, node: &str| {
            format!(
                r#"{{"kind": "Pod", "metadata": {{"name": "{name}", "labels": {{"app": "a"}}}},
                "spec": {{"nodeName": "{node}", "containers": [{{"name": "app", "resources": {{"limits": {{"cpu": "2"}}}}}}]}}}}"#
            )
        };
        let list = format!(
            r#"{{"kind": "List", "items": [{}, {}]}}"#,
            item("a", "n1"),
            item("b", "n2")
        );
        let out = parse_stream(&list);
        let docs = documents(&out);
        assert_eq!(docs.len(), 2);
        let containers = |n: &Node| match &n.path(&["spec", "containers"]).expect("kept").value {
            Value::Seq(items) => items.clone(),
            other => panic!("not a list: {other:?}"),
        };
        assert!(Arc::ptr_eq(&containers(docs[0]), &containers(docs[1])));
        let labels = |n: &Node| match &n.path(&["metadata", "labels"]).expect("kept").value {
            Value::Map(entries) => entries.clone(),
            other => panic!("not a map: {other:?}"),
        };
        assert!(Arc::ptr_eq(&labels(docs[0]), &labels(docs[1])));
        // What differs stays apart, and every tree equals its unshared conversion.
        assert_eq!(docs[0].str_at(&["spec", "nodeName"]), Some("n1"));
        assert_eq!(docs[1].str_at(&["spec", "nodeName"]), Some("n2"));
        for (doc, text) in docs.iter().zip([item("a", "n1"), item("b", "n2")]) {
            let alone = to_node(&text, doc.line).expect("valid JSON");
            assert_eq!(**doc, alone);
        }
        // Copy-on-write: changing one object leaves the other alone.
        let mut first = docs[0].clone();
        first
            .get_mut("metadata")
            .and_then(|m| m.get_mut("labels"))
            .expect("labels")
            .set("app", Node::new(0, Value::Str("changed".into())));
        assert_eq!(
            first.str_at(&["metadata", "labels", "app"]),
            Some("changed")
        );
        assert_eq!(docs[1].str_at(&["metadata", "labels", "app"]), Some("a"));
    }

    /// Every pruned key, with its path, so a rule that starts reading one fails here instead
    /// of silently seeing nothing in cluster dumps.
    fn pruned(prune: &Prune, path: &str, out: &mut Vec<(String, &'static str)>) {
        for key in prune.drop {
            out.push((path.to_owned(), key));
        }
        for (key, child) in prune.children {
            pruned(child, &format!("{path}{key}."), out);
        }
    }

    #[test]
    fn pruned_fields_are_never_read() {
        let mut keys = Vec::new();
        pruned(&PRUNE, "", &mut keys);
        assert!(keys.len() > 20, "{keys:?}");
        // Read elsewhere under the same name, at a path that is not pruned: `image` of a
        // container (pruned only in container statuses).
        let read_elsewhere = ["image"];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut sources = Vec::new();
        for dir in ["rules", "model"] {
            collect_rs(&root.join(dir), &mut sources);
        }
        sources.push(root.join("exempt.rs"));
        sources.push(root.join("pictures.rs"));
        sources.push(root.join("lib.rs"));
        assert!(sources.len() > 30);
        for file in sources {
            if file.ends_with("live_fixtures.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("source readable");
            // Test modules hold fixtures in the API's shape, pruned fields included.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (path, key) in &keys {
                if read_elsewhere.contains(key) {
                    continue;
                }
                assert!(
                    !code.contains(&format!("\"{key}\"")),
                    "{} reads `{path}{key}`, which the JSON loader prunes (load::json::PRUNE)",
                    file.display()
                );
            }
        }
    }

    fn collect_rs(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("source dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect_rs(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn stream_and_errors() {
        let out = parse_stream("{\"kind\":\"A\"}\n{\"kind\":\"B\"}\n{\"kind\": \n");
        assert_eq!(documents(&out).len(), 2);
        assert!(matches!(
            out.last(),
            Some(Parsed::Error { line: 4, .. }) | Some(Parsed::Error { line: 3, .. })
        ));
    }
}
