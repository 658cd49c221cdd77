//! JSON documents into [`Node`] trees: single objects, `kubectl get -o json` Lists and JSON
//! streams (objects back to back, as `kubectl apply -f` accepts).
//!
//! List items are split out as raw slices and converted in parallel, so a large dump costs one
//! scan plus parallel conversion. Fields no rule reads and that dominate real dumps
//! (`managedFields`, the last-applied annotation) are skipped while converting.

use rayon::prelude::*;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

use crate::node::{Node, Value};

/// Keys dropped while converting: they are large and no rule reads them.
const SKIPPED_KEYS: [&str; 2] = [
    "managedFields",
    "kubectl.kubernetes.io/last-applied-configuration",
];

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
        let out: Vec<Parsed> = items
            .par_iter()
            .zip(item_lines.par_iter())
            .map(|(item, &line)| match to_node(item.get(), line) {
                Ok(mut node) => {
                    super::fill_list_item(&mut node, api_version.as_deref(), &kind);
                    Parsed::Document(node)
                }
                Err(e) => error_at(e, line),
            })
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

/// Converts one JSON text into a node tree, every node on `line`.
pub fn to_node(text: &str, line: u32) -> Result<Node, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let node = NodeSeed { line }.deserialize(&mut de)?;
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
struct NodeSeed {
    line: u32,
}

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed {
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
        Ok(Node::new(self.line, Value::Str(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::new(self.line, Value::Str(v)))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::new(self.line, Value::Null))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::new(self.line, Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        items.shrink_to_fit();
        Ok(Node::new(self.line, Value::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            if SKIPPED_KEYS.contains(&key.0.as_str()) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = map.next_value_seed(self)?;
            entries.push((key.0, value));
        }
        // Huge dumps keep millions of maps: trimming spare capacity saves a fifth of the tree.
        entries.shrink_to_fit();
        Ok(Node::new(self.line, Value::Map(entries)))
    }
}

/// A map key, borrowed when the input allows it.
struct Key(String);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        Ok(Key(s.into_owned()))
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
    fn stream_and_errors() {
        let out = parse_stream("{\"kind\":\"A\"}\n{\"kind\":\"B\"}\n{\"kind\": \n");
        assert_eq!(documents(&out).len(), 2);
        assert!(matches!(
            out.last(),
            Some(Parsed::Error { line: 4, .. }) | Some(Parsed::Error { line: 3, .. })
        ));
    }
}
