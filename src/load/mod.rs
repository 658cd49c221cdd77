//! Loading: paths and stdin in, Kubernetes objects and input problems out.
//!
//! Invariants: nothing is lost silently. Every file yields objects, errors (with file and line)
//! or notices; a broken document costs only itself; binary and non-UTF-8 files are errors.
//! No network, no async. Files are read and parsed in parallel; output order is stable
//! (sorted by file, then line).

pub mod json;
pub mod snapshot;
pub mod stream;
pub mod yaml;

use rayon::prelude::*;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::node::{Node, Value};

/// Where manifests come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Path(PathBuf),
    Stdin,
}

impl Input {
    /// `-` means standard input, anything else a file or directory.
    pub fn parse(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }
}

/// A Kubernetes object as read from a file, with where it starts.
#[derive(Debug, Clone)]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub file: Arc<str>,
    pub line: u32,
    pub root: Node,
}

impl Object {
    /// Builds an object from a document root, when it has `apiVersion` and `kind`.
    pub fn from_node(root: Node, file: Arc<str>) -> Option<Object> {
        let api_version = root.str_at(&["apiVersion"])?.to_owned();
        let kind = root.str_at(&["kind"])?.to_owned();
        let name = root
            .str_at(&["metadata", "name"])
            .or_else(|| root.str_at(&["metadata", "generateName"]))
            .unwrap_or("")
            .to_owned();
        let namespace = root.str_at(&["metadata", "namespace"]).map(str::to_owned);
        Some(Object {
            api_version,
            kind,
            name,
            namespace,
            file,
            line: root.line,
            root,
        })
    }

    /// The namespace as the API server would see it when applied without `-n`: an object
    /// without one and an object in `default` land together.
    pub fn namespace_or_default(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }

    /// The API group (`apps` for `apps/v1`, empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    pub fn labels(&self) -> &Node {
        self.root
            .path(&["metadata", "labels"])
            .unwrap_or(Node::null())
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.root
            .path(&["metadata", "annotations"])
            .and_then(|a| a.get(key))
            .and_then(Node::as_str)
    }

    pub fn spec(&self) -> &Node {
        self.root.get("spec").unwrap_or(Node::null())
    }
}

/// An input problem: an error makes the run exit 2; a notice is informational.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub file: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub message: String,
}

/// Everything loaded from the inputs.
#[derive(Debug, Default)]
pub struct Loaded {
    pub objects: Vec<Object>,
    pub errors: Vec<Problem>,
    pub notices: Vec<Problem>,
    /// File texts, kept for snippets in reports (large files are left out).
    pub sources: HashMap<Arc<str>, Arc<str>>,
}

impl Loaded {
    /// Adds another load's results (e.g. a live cluster's objects beside files).
    pub fn absorb(&mut self, other: Loaded) {
        self.objects.extend(other.objects);
        self.errors.extend(other.errors);
        self.notices.extend(other.notices);
        self.sources.extend(other.sources);
    }
}

/// Files larger than this are analysed but not kept for snippets.
const MAX_SNIPPET_SOURCE: usize = 16 << 20;

/// JSON files larger than this are streamed ([`stream`]) instead of read whole.
pub const STREAM_MIN: u64 = MAX_SNIPPET_SOURCE as u64;

/// Loads every input. Directories are walked for `.yaml`, `.yml` and `.json` files (hidden
/// directories skipped); files named explicitly are read whatever their extension.
pub fn load(inputs: &[Input]) -> Loaded {
    let mut loaded = Loaded::default();
    let mut files: Vec<PathBuf> = Vec::new();
    for input in inputs {
        match input {
            Input::Stdin => {
                let mut bytes = Vec::new();
                let name: Arc<str> = Arc::from("<stdin>");
                match std::io::stdin().read_to_end(&mut bytes) {
                    Ok(_) => loaded.absorb(load_bytes(name, &bytes, None)),
                    Err(e) => loaded.errors.push(Problem {
                        file: name,
                        line: None,
                        message: format!("cannot read standard input: {e}"),
                    }),
                }
            }
            Input::Path(path) => match std::fs::metadata(path) {
                Ok(meta) if meta.is_dir() => walk(path, &mut files, &mut loaded.errors),
                Ok(_) => files.push(path.clone()),
                Err(e) => loaded.errors.push(Problem {
                    file: display_path(path),
                    line: None,
                    message: format!("cannot read: {e}"),
                }),
            },
        }
    }
    let per_file: Vec<Loaded> = files
        .par_iter()
        .map(|path| {
            let name = display_path(path);
            if let Some(loaded) = stream_if_large(&name, path) {
                return loaded;
            }
            match std::fs::read(path) {
                Ok(bytes) => load_bytes(name, &bytes, Some(path)),
                Err(e) => Loaded {
                    errors: vec![Problem {
                        file: name,
                        line: None,
                        message: format!("cannot read: {e}"),
                    }],
                    ..Loaded::default()
                },
            }
        })
        .collect();
    for part in per_file {
        loaded.absorb(part);
    }
    loaded
}

fn display_path(path: &Path) -> Arc<str> {
    let s = path.to_string_lossy();
    Arc::from(s.strip_prefix("./").unwrap_or(&s))
}

/// Lexically resolves `.` and `..` (no filesystem access: the file may be gone, or be stdin).
/// `..` at the root stays at the root, as the OS resolves it; a relative path keeps the `..`
/// it cannot resolve. Config globs and SARIF URIs both go through this one function.
pub fn normalise_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<Problem>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(Problem {
                file: display_path(dir),
                line: None,
                message: format!("cannot read directory: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if path.is_dir() {
            if !hidden {
                walk(&path, files, errors);
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(path);
        }
    }
}

/// Loads one file's bytes (also used for stdin and by tests).
pub fn load_bytes(name: Arc<str>, bytes: &[u8], path: Option<&Path>) -> Loaded {
    let mut loaded = Loaded::default();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Some(at) = memchr::memchr(0, bytes) {
        loaded.errors.push(Problem {
            file: name,
            line: Some(line_of(bytes, at)),
            message: "binary file (contains a NUL byte): not a manifest".into(),
        });
        return loaded;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            loaded.errors.push(Problem {
                file: name,
                line: Some(line_of(bytes, e.valid_up_to())),
                message: format!(
                    "not UTF-8 text (invalid byte at offset {}): Kubernetes manifests must be UTF-8",
                    e.valid_up_to()
                ),
            });
            return loaded;
        }
    };
    let is_json = match path.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
        Some("json") => true,
        Some("yaml" | "yml") => false,
        _ => matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'[')),
    };
    let mut documents: Vec<Node> = Vec::new();
    if is_json {
        take_json(&name, json::parse_stream(text), &mut documents, &mut loaded);
    } else {
        let chunks = yaml::split_documents(text);
        let parsed: Vec<Vec<yaml::Parsed>> = if chunks.len() > 8 {
            chunks.into_par_iter().map(yaml::parse_chunk).collect()
        } else {
            chunks.into_iter().map(yaml::parse_chunk).collect()
        };
        for parsed in parsed.into_iter().flatten() {
            match parsed {
                yaml::Parsed::Document(node) => flatten_into(node, &mut documents),
                yaml::Parsed::Error { line, message } => loaded.errors.push(Problem {
                    file: name.clone(),
                    line: Some(line),
                    message,
                }),
                yaml::Parsed::Warning { line, message } => loaded.notices.push(Problem {
                    file: name.clone(),
                    line: Some(line),
                    message,
                }),
            }
        }
    }
    add_objects(&name, documents, &mut loaded);
    if text.len() <= MAX_SNIPPET_SOURCE {
        loaded.sources.insert(name, Arc::from(text));
    }
    loaded
}

/// Streams a large JSON file (see [`stream`]); `None` when it is small, not JSON, or not a
/// List (the caller then reads it whole).
fn stream_if_large(name: &Arc<str>, path: &Path) -> Option<Loaded> {
    let ext = path.extension().and_then(|e| e.to_str());
    if matches!(ext, Some("yaml" | "yml")) || std::fs::metadata(path).ok()?.len() < STREAM_MIN {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    if ext != Some("json") {
        let mut head = [0u8; 4096];
        let n = (&file).read(&mut head).ok()?;
        let first = head[..n]
            .iter()
            .find(|b| !b.is_ascii_whitespace() && !matches!(b, 0xEF | 0xBB | 0xBF));
        if first != Some(&b'{') {
            return None;
        }
    }
    let file = std::fs::File::open(path).ok()?;
    load_list_reader(name, file)
}

/// Loads a JSON List from a reader without holding its text (see [`stream`]); `None` when it
/// is not a List. No source text is kept, so reports show no snippets for it.
pub fn load_list_reader(name: &Arc<str>, reader: impl Read) -> Option<Loaded> {
    match stream::parse_reader(reader) {
        stream::Streamed::NotAList => None,
        stream::Streamed::Done(parsed) => {
            let mut loaded = Loaded::default();
            let mut documents = Vec::new();
            take_json(name, parsed, &mut documents, &mut loaded);
            add_objects(name, documents, &mut loaded);
            Some(loaded)
        }
    }
}

/// Sorts parsed JSON into documents, errors and the snapshot header's problems.
fn take_json(
    name: &Arc<str>,
    parsed: Vec<json::Parsed>,
    documents: &mut Vec<Node>,
    loaded: &mut Loaded,
) {
    for parsed in parsed {
        match parsed {
            json::Parsed::Document(node) => documents.push(node),
            json::Parsed::Error { line, message } => loaded.errors.push(Problem {
                file: name.clone(),
                line: Some(line),
                message,
            }),
            json::Parsed::Header { line, json } => {
                let (errors, notices) = snapshot::parse(name, line, &json);
                loaded.errors.extend(errors);
                loaded.notices.extend(notices);
            }
        }
    }
}

/// Documents into objects: validated, Secrets redacted, non-objects noticed.
fn add_objects(name: &Arc<str>, documents: Vec<Node>, loaded: &mut Loaded) {
    loaded.objects.reserve(documents.len());
    for node in documents {
        if node.is_null() {
            continue;
        }
        let line = node.line;
        match Object::from_node(node, name.clone()) {
            Some(mut object) => {
                for message in validate(&object) {
                    loaded.errors.push(Problem {
                        file: name.clone(),
                        line: Some(message.0),
                        message: message.1,
                    });
                }
                redact(&mut object);
                loaded.objects.push(object);
            }
            None => loaded.notices.push(Problem {
                file: name.clone(),
                line: Some(line),
                message: "skipped a document that is not a Kubernetes object (no apiVersion/kind)"
                    .into(),
            }),
        }
    }
}

fn line_of(bytes: &[u8], offset: usize) -> u32 {
    1 + memchr::memchr_iter(b'\n', &bytes[..offset.min(bytes.len())]).count() as u32
}

/// `kind: List` and typed lists (`ConfigMapList`, ...) are flattened into their items.
fn flatten_into(node: Node, out: &mut Vec<Node>) {
    let list_kind = node
        .str_at(&["kind"])
        .filter(|k| k.ends_with("List"))
        .map(str::to_owned);
    let (Some(kind), true) = (list_kind, node.get("items").is_some()) else {
        out.push(node);
        return;
    };
    let api_version = node.str_at(&["apiVersion"]).map(str::to_owned);
    let mut node = node;
    if let Some(Node {
        value: Value::Seq(items),
        ..
    }) = node.remove("items")
    {
        for mut item in items.iter().cloned() {
            fill_list_item(&mut item, api_version.as_deref(), &kind);
            out.push(item);
        }
    }
}

/// Items of typed lists may leave out `apiVersion` and `kind`: take them from the list.
pub(crate) fn fill_list_item(item: &mut Node, api_version: Option<&str>, list_kind: &str) {
    let line = item.line;
    let item_kind = list_kind.strip_suffix("List").unwrap_or(list_kind);
    if item.get("kind").is_none() && !item_kind.is_empty() {
        item.set("kind", Node::new(line, Value::Str(item_kind.into())));
    }
    if let Some(api_version) = api_version
        && list_kind != "List"
        && item.get("apiVersion").is_none()
    {
        item.set(
            "apiVersion",
            Node::new(line, Value::Str(api_version.into())),
        );
    }
}

/// Secret contents are never kept: no rule needs them and reports must not leak them.
fn redact(object: &mut Object) {
    if object.kind == "Secret" && object.group().is_empty() {
        object.root.remove("data");
        object.root.remove("stringData");
    }
}

/// Type errors the API server would reject the object for. kubectl sends YAML booleans and
/// numbers as JSON booleans and numbers, and the server refuses them where a string is due.
fn validate(object: &Object) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let what = format!("{} `{}`", object.kind, object.name);
    for key in ["labels", "annotations"] {
        for (k, v) in object
            .root
            .path(&["metadata", key])
            .map_or(&[][..], Node::as_map)
        {
            if !matches!(v.value, Value::Str(_)) {
                out.push((
                    v.line_in(object.line),
                    string_expected(&what, &format!("metadata.{key}.{k}"), v),
                ));
            }
        }
    }
    if object.kind == "ConfigMap" {
        for (k, v) in object.root.get("data").map_or(&[][..], Node::as_map) {
            if !matches!(v.value, Value::Str(_) | Value::Null) {
                out.push((
                    v.line_in(object.line),
                    string_expected(&what, &format!("data.{k}"), v),
                ));
            }
        }
    }
    if let Some((_, spec)) = crate::model::pod_template(object) {
        for container in crate::model::containers(spec) {
            for (i, env) in container.node.seq_at("env").iter().enumerate() {
                if let Some(v) = env.get("value")
                    && !matches!(v.value, Value::Str(_) | Value::Null)
                {
                    let field = format!(
                        "container `{}` env[{i}] ({}) value",
                        container.name,
                        env.str_at(&["name"]).unwrap_or("?")
                    );
                    out.push((v.line_in(object.line), string_expected(&what, &field, v)));
                }
            }
        }
    }
    out
}

fn string_expected(what: &str, field: &str, v: &Node) -> String {
    let text = v.scalar_text().unwrap_or_default();
    format!(
        "{what}: {field} is a YAML {} (`{text}`) where Kubernetes expects a string; the API server \
         rejects this object. Quote it: \"{text}\"",
        v.type_name()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_normalise_lexically() {
        use std::path::Path;
        let n = |p: &str| super::normalise_path(Path::new(p));
        assert_eq!(n("/a/./b/../c"), Path::new("/a/c"));
        assert_eq!(n("/a/../../b"), Path::new("/b"));
        assert_eq!(n("a/../../b"), Path::new("../b"));
        assert_eq!(n("../../x"), Path::new("../../x"));
    }

    use super::*;

    fn load_str(src: &str) -> Loaded {
        load_bytes(
            Arc::from("t.yaml"),
            src.as_bytes(),
            Some(Path::new("t.yaml")),
        )
    }

    #[test]
    fn list_is_flattened_and_non_objects_noticed() {
        let l = load_str(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n---\nfoo: bar\n",
        );
        assert_eq!(l.objects.len(), 1);
        assert_eq!(l.objects[0].kind, "Service");
        assert_eq!(l.objects[0].line, 4);
        assert_eq!(l.notices.len(), 1);
        assert!(l.errors.is_empty());
    }

    #[test]
    fn typed_list_items_get_kind() {
        let l = load_str("apiVersion: v1\nkind: ConfigMapList\nitems:\n- metadata: {name: a}\n");
        assert_eq!(l.objects[0].kind, "ConfigMap");
        assert_eq!(l.objects[0].api_version, "v1");
    }

    #[test]
    fn binary_and_non_utf8_are_errors() {
        let l = load_bytes(Arc::from("b"), b"kind: \x00", None);
        assert_eq!(l.errors.len(), 1);
        let l = load_bytes(Arc::from("b"), b"a: 1\nkind: \xff\n", None);
        assert_eq!(l.errors[0].line, Some(2));
    }

    #[test]
    fn unquoted_env_boolean_is_an_input_error() {
        let l = load_str(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    env:\n    - name: X\n      value: yes\n",
        );
        assert_eq!(l.objects.len(), 1);
        assert_eq!(l.errors.len(), 1, "{:?}", l.errors);
        assert_eq!(l.errors[0].line, Some(9));
        assert!(l.errors[0].message.contains("boolean"));
    }

    #[test]
    fn secret_data_is_dropped() {
        let l =
            load_str("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: c2VjcmV0}\n");
        assert!(l.objects[0].root.get("data").is_none());
    }
}
