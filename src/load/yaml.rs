//! YAML documents into [`Node`] trees, read the way kubectl reads them.
//!
//! kubectl, Helm and client-go turn YAML into JSON with `sigs.k8s.io/yaml`, which resolves plain
//! scalars with go-yaml v2's YAML 1.1 rules (`yes`/`on` are booleans, `0644` is octal), expands
//! `<<` merge keys and lets a duplicated key silently win. We follow those rules so that rules
//! see what the API server will see.
//!
//! Invariants: a syntax error costs only the document it is in (the stream is split at document
//! markers first, because the parser gives up on the whole stream); alias expansion is bounded
//! per document, so a "billion laughs" file fails fast instead of eating memory.

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use crate::node::{Node, Str, Value};

/// How many nodes alias expansion may produce in one document. Helm output has no anchors and
/// hand-written manifests few, so this is far above real use and far below harm.
pub const ALIAS_NODE_BUDGET: usize = 100_000;

/// Something a document produced: its root, or a problem at a line.
#[derive(Debug)]
pub enum Parsed {
    Document(Node),
    Error { line: u32, message: String },
    Warning { line: u32, message: String },
}

/// A piece of a stream that starts at a document marker (or at the top of the file).
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub text: &'a str,
    /// Lines before this chunk in the file (0 for the first).
    pub line_offset: u32,
}

/// Splits a YAML stream at lines that start with `---` followed by a space or the end of the line.
/// A document marker cannot occur inside a scalar in YAML 1.2, so each chunk parses on its own.
pub fn split_documents(src: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 0u32;
    let mut line = 0u32;
    let mut pos = 0usize;
    let bytes = src.as_bytes();
    while pos < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i + 1);
        let l = &bytes[pos..end];
        let is_marker =
            l.starts_with(b"---") && matches!(l.get(3), None | Some(b' ' | b'\t' | b'\n' | b'\r'));
        if is_marker && pos > start {
            chunks.push(Chunk {
                text: &src[start..pos],
                line_offset: start_line,
            });
            start = pos;
            start_line = line;
        }
        line += 1;
        pos = end;
    }
    if start < src.len() || chunks.is_empty() {
        chunks.push(Chunk {
            text: &src[start..],
            line_offset: start_line,
        });
    }
    chunks
}

/// Parses one chunk (which may hold several documents) into documents and problems.
pub fn parse_chunk(chunk: Chunk<'_>) -> Vec<Parsed> {
    let mut builder = Builder::new(chunk.line_offset);
    let mut parser = Parser::new_from_str(chunk.text);
    for item in &mut parser {
        match item {
            Ok((event, span)) => {
                if let Err(message) = builder.on_event(event, span) {
                    let line = builder.doc_line.unwrap_or(chunk.line_offset + 1);
                    builder.out.push(Parsed::Error { line, message });
                    break;
                }
            }
            Err(e) => {
                let line = chunk.line_offset + e.marker().line() as u32;
                builder.out.push(Parsed::Error {
                    line,
                    message: format!("invalid YAML: {}", e.info()),
                });
                break;
            }
        }
    }
    builder.out
}

enum Frame {
    Seq {
        line: u32,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        line: u32,
        anchor: usize,
        entries: Vec<(Str, Node)>,
        key_lines: Vec<u32>,
        /// A key waiting for its value: (text, line, is a plain `<<`).
        key: Option<(String, u32, bool)>,
        merges: Vec<Node>,
    },
}

struct Builder {
    line_offset: u32,
    stack: Vec<Frame>,
    anchors: BTreeMap<usize, (Node, usize)>,
    alias_nodes: usize,
    doc_line: Option<u32>,
    out: Vec<Parsed>,
}

impl Builder {
    fn new(line_offset: u32) -> Self {
        Builder {
            line_offset,
            stack: Vec::new(),
            anchors: BTreeMap::new(),
            alias_nodes: 0,
            doc_line: None,
            out: Vec::new(),
        }
    }

    fn line(&self, span: &Span) -> u32 {
        self.line_offset + span.start.line() as u32
    }

    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), String> {
        let line = self.line(&span);
        match event {
            Event::DocumentStart(_) => {
                self.stack.clear();
                self.anchors.clear();
                self.alias_nodes = 0;
                self.doc_line = Some(line);
            }
            Event::DocumentEnd | Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::Scalar(text, style, anchor, tag) => {
                // A plain `<<` in key position is a merge key, not a string.
                let is_merge_key = style == ScalarStyle::Plain && text == "<<" && tag.is_none();
                if let Some(Frame::Map {
                    key: key @ None, ..
                }) = self.stack.last_mut()
                {
                    if anchor == 0 && tag.is_none() && !may_resolve_to_non_string(&text, style) {
                        // Nearly every key (`metadata`, `name`, ...) is a plain word: skip the resolver.
                        *key = Some((text.into_owned(), line, is_merge_key));
                        return Ok(());
                    }
                    let node = resolve_scalar(&text, style, tag.as_deref(), line);
                    let key_text = key_string(&node);
                    *key = Some((key_text, line, is_merge_key));
                    if anchor > 0 {
                        self.anchors.insert(anchor, (node, 1));
                    }
                    return Ok(());
                }
                let node = resolve_scalar(&text, style, tag.as_deref(), line);
                self.finish(node, anchor)?;
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                line,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                line,
                anchor,
                entries: Vec::new(),
                key_lines: Vec::new(),
                key: None,
                merges: Vec::new(),
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    line,
                    anchor,
                    items,
                }) = self.stack.pop()
                {
                    self.finish(Node::new(line, Value::Seq(items.into())), anchor)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    line,
                    anchor,
                    entries,
                    key_lines,
                    merges,
                    ..
                }) = self.stack.pop()
                {
                    let entries = self.close_mapping(entries, key_lines, merges);
                    self.finish(Node::new(line, Value::Map(entries.into())), anchor)?;
                }
            }
            Event::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id) else {
                    return Err(format!("alias refers to an unknown anchor (line {line})"));
                };
                self.alias_nodes += size;
                if self.alias_nodes > ALIAS_NODE_BUDGET {
                    return Err(format!(
                        "alias expansion exceeds {ALIAS_NODE_BUDGET} nodes in one document \
                         (a \"billion laughs\" file?); refusing to expand it"
                    ));
                }
                let node = node.clone();
                if let Some(Frame::Map {
                    key: key @ None, ..
                }) = self.stack.last_mut()
                {
                    *key = Some((key_string(&node), line, false));
                    return Ok(());
                }
                self.finish(node, 0)?;
            }
        }
        Ok(())
    }

    /// Places a completed node into its parent, or ends the document.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), String> {
        if anchor > 0 {
            let size = count_nodes(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                self.out.push(Parsed::Document(node));
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                key_lines,
                key,
                merges,
                ..
            }) => match key.take() {
                Some((_, _, true)) => merges.push(node),
                Some((k, kline, false)) => {
                    entries.push((k.into(), node));
                    key_lines.push(kline);
                }
                // A collection in key position: go-yaml accepts it; JSON cannot hold it.
                None => *key = Some((key_string(&node), node.line, false)),
            },
        }
        Ok(())
    }

    /// Resolves duplicate keys (the last wins, as with kubectl, with a warning) and `<<` merges
    /// (explicit keys win over merged ones; earlier merged maps win over later ones).
    fn close_mapping(
        &mut self,
        entries: Vec<(Str, Node)>,
        key_lines: Vec<u32>,
        merges: Vec<Node>,
    ) -> Vec<(Str, Node)> {
        let mut out: Vec<(Str, Node)> = Vec::with_capacity(entries.len());
        let mut seen: HashMap<Str, (usize, u32)> = HashMap::new();
        let small = entries.len() <= 16 && merges.is_empty();
        for ((k, v), kline) in entries.into_iter().zip(key_lines) {
            let found = if small {
                out.iter()
                    .position(|(existing, _)| *existing == k)
                    .map(|i| (i, 0))
            } else {
                seen.get(&k).copied()
            };
            if let Some((i, first_line)) = found {
                let first_line = if small { out[i].1.line } else { first_line };
                self.out.push(Parsed::Warning {
                    line: kline,
                    message: format!(
                        "duplicate key `{k}` (first at line {first_line}): the later value wins, as with kubectl"
                    ),
                });
                out[i].1 = v;
            } else {
                if !small {
                    seen.insert(k.clone(), (out.len(), kline));
                }
                out.push((k, v));
            }
        }
        for merge in merges {
            let sources: Vec<Node> = match merge.value {
                Value::Map(_) => vec![merge],
                Value::Seq(items) => items.to_vec(),
                _ => Vec::new(),
            };
            for source in sources {
                if let Value::Map(extra) = source.value {
                    for (k, v) in extra.iter().cloned() {
                        if !out.iter().any(|(existing, _)| *existing == k) {
                            out.push((k, v));
                        }
                    }
                }
            }
        }
        out
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| count_nodes(v)).sum(),
        _ => 0,
    }
}

/// Keys become strings, as sigs.k8s.io/yaml does when it converts to JSON.
fn key_string(node: &Node) -> String {
    node.scalar_text()
        .unwrap_or_else(|| node.to_json().to_string())
}

/// Resolves a scalar with go-yaml v2's rules (what kubectl uses).
pub fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>, line: u32) -> Node {
    let value = match tag {
        Some(tag) if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" => {
            match tag.suffix.as_str() {
                "str" | "binary" | "timestamp" => Value::Str(text.into()),
                "null" => Value::Null,
                "bool" | "int" | "float" => resolve_plain(text),
                _ => Value::Str(text.into()),
            }
        }
        _ if may_resolve_to_non_string(text, style) => resolve_plain(text),
        _ => Value::Str(text.into()),
    };
    Node::new(line, value)
}

/// Whether a scalar could resolve to something other than its own text (a cheap pre-check:
/// only plain scalars starting with a digit, sign, dot, `~` or a boolean/null initial can).
fn may_resolve_to_non_string(text: &str, style: ScalarStyle) -> bool {
    style == ScalarStyle::Plain
        && text.as_bytes().first().is_none_or(|b| {
            b.is_ascii_digit()
                || matches!(
                    b,
                    b'+' | b'-'
                        | b'.'
                        | b'~'
                        | b'n'
                        | b'N'
                        | b'y'
                        | b'Y'
                        | b't'
                        | b'T'
                        | b'f'
                        | b'F'
                        | b'o'
                        | b'O'
                )
        })
}

/// YAML 1.1 resolution of a plain scalar, following go-yaml v2's `resolve.go`.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return Value::Str(text.into());
    }
    let plain: Cow<'_, str> = if text.contains('_') {
        Cow::Owned(text.replace('_', ""))
    } else {
        Cow::Borrowed(text)
    };
    if let Some(i) = go_parse_int(&plain) {
        return Value::Int(i);
    }
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(text.into())
}

/// Go's `strconv.ParseInt(s, 0, 64)`: sign, then `0x`/`0o`/`0b` prefixes or a leading `0` for octal.
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let lower = digits.get(..2).map(str::to_ascii_lowercase);
    let (radix, body) = match lower.as_deref() {
        Some("0x") => (16, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        _ if digits.len() > 1 && digits.starts_with('0') => (8, &digits[1..]),
        _ => (10, digits),
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    let value = if neg { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// go-yaml v2's float pattern: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Parses a whole YAML stream (all chunks, in order).
pub fn parse_stream(src: &str) -> Vec<Parsed> {
    split_documents(src)
        .into_iter()
        .flat_map(parse_chunk)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(src: &str) -> Vec<Parsed> {
        parse_stream(src)
    }

    fn only_doc(src: &str) -> Node {
        let mut out = docs(src);
        assert_eq!(out.len(), 1, "{out:?}");
        match out.remove(0) {
            Parsed::Document(n) => n,
            other => panic!("expected a document, got {other:?}"),
        }
    }

    #[test]
    fn kubectl_scalars() {
        let d = only_doc(
            "a: yes\nb: 'yes'\nc: on\nd: 0644\ne: 0o644\nf: 08\ng: 1_000\nh: 12:30\ni: 0x1F\nj: ~\nk: y\nl: \"0644\"\nm: 1e3\nnn: -0b101\no: .5\n",
        );
        let v = |k: &str| d.get(k).unwrap().value.clone();
        assert_eq!(v("a"), Value::Bool(true));
        assert_eq!(v("b"), Value::Str("yes".into()));
        assert_eq!(v("c"), Value::Bool(true));
        assert_eq!(v("d"), Value::Int(420));
        assert_eq!(v("e"), Value::Int(420));
        assert_eq!(v("f"), Value::Float(8.0));
        assert_eq!(v("g"), Value::Int(1000));
        assert_eq!(v("h"), Value::Str("12:30".into()));
        assert_eq!(v("i"), Value::Int(31));
        assert_eq!(v("j"), Value::Null);
        assert_eq!(v("k"), Value::Bool(true));
        assert_eq!(v("l"), Value::Str("0644".into()));
        assert_eq!(v("m"), Value::Float(1000.0));
        assert_eq!(v("nn"), Value::Int(-5));
        // YAML 1.1: a plain `y`/`n` key is a boolean, so kubectl sends the key "true".
        assert!(only_doc("y: 1\n").get("true").is_some());
        assert_eq!(v("o"), Value::Float(0.5));
    }

    #[test]
    fn lines_are_kept() {
        let d = only_doc("# c\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: x\n");
        assert_eq!(d.line, 2);
        let c = &d.path(&["spec", "containers"]).unwrap().as_seq()[0];
        assert_eq!(c.line, 5);
        assert_eq!(c.get("image").unwrap().line, 6);
    }

    #[test]
    fn broken_document_does_not_hide_others() {
        let out = docs("a: 1\n---\nb: [\n---\nc: 3\n");
        assert!(matches!(&out[0], Parsed::Document(n) if n.get("a").is_some()));
        assert!(matches!(&out[1], Parsed::Error { line, .. } if *line >= 3 && *line <= 4));
        assert!(matches!(&out[2], Parsed::Document(n) if n.get("c").is_some()));
    }

    #[test]
    fn merge_keys_and_duplicates() {
        let out = docs("base: &b {x: 1, z: 2}\nm:\n  <<: *b\n  z: 3\nd: 1\nd: 2\n");
        let doc = out
            .iter()
            .find_map(|p| match p {
                Parsed::Document(n) => Some(n),
                _ => None,
            })
            .unwrap();
        assert_eq!(doc.path(&["m", "x"]).unwrap().as_i64(), Some(1));
        assert_eq!(doc.path(&["m", "z"]).unwrap().as_i64(), Some(3));
        assert_eq!(doc.get("d").unwrap().as_i64(), Some(2));
        assert!(out.iter().any(
            |p| matches!(p, Parsed::Warning { line: 6, message } if message.contains("line 5"))
        ));
    }

    #[test]
    fn billion_laughs_fails_fast() {
        let mut src = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g", "h", "i", "j"])
        {
            let refs = vec![format!("*{prev}"); 9].join(",");
            src.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let start = std::time::Instant::now();
        let out = docs(&src);
        assert!(out.iter().any(
            |p| matches!(p, Parsed::Error { message, .. } if message.contains("billion laughs"))
        ));
        assert!(start.elapsed().as_secs() < 5);
    }

    #[test]
    fn split_keeps_line_offsets() {
        let chunks = split_documents("a: 1\n---\nb: 2\n--- # x\nc: 3\n");
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].line_offset, 1);
        assert_eq!(chunks[2].line_offset, 3);
        assert!(split_documents("").len() == 1);
    }
}
