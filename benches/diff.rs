//! `hindsight diff` over two ~50,000-object YAML trees (the real-world corpus,
//! `../shared/corpus/real`, replicated) that differ in about 1% of objects, against the time
//! of scanning both trees one after the other (what a CI job without `diff` would run).
//!
//! `cargo bench --bench diff` prints wall and CPU time for each. The trees are re-emitted as
//! block YAML from the loaded objects, each copy in its own namespaces (so 50k objects have 50k
//! identities, as in a real repository); changed objects get one extra label.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::sync::Arc;

use hindsight::load::{Input, load_bytes};
use hindsight::node::{Node, Value};

const TARGET_OBJECTS: usize = 50_000;
/// One object in this many is changed on the after side.
const CHANGE_EVERY: usize = 100;

/// A YAML emitter for the bench data: block style, every string double-quoted with JSON
/// escapes (valid YAML), so the after side is real YAML the loader parses like any manifest.
fn emit(node: &Node, indent: usize, out: &mut String) {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match &node.value {
        Value::Map(entries) if !entries.is_empty() => {
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(&" ".repeat(indent));
                }
                out.push_str(&quote(k));
                out.push(':');
                match &v.value {
                    Value::Map(m) if !m.is_empty() => {
                        out.push('\n');
                        out.push_str(&" ".repeat(indent + 2));
                        emit(v, indent + 2, out);
                    }
                    Value::Seq(s) if !s.is_empty() => {
                        out.push('\n');
                        out.push_str(&" ".repeat(indent));
                        emit(v, indent, out);
                    }
                    _ => {
                        out.push(' ');
                        emit(v, indent + 2, out);
                    }
                }
            }
        }
        Value::Seq(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&" ".repeat(indent));
                }
                out.push_str("- ");
                emit(item, indent + 2, out);
            }
        }
        Value::Map(_) => out.push_str("{}\n"),
        Value::Seq(_) => out.push_str("[]\n"),
        Value::Null => out.push_str("null\n"),
        Value::Bool(b) => out.push_str(&format!("{b}\n")),
        Value::Int(i) => out.push_str(&format!("{i}\n")),
        Value::Float(f) => out.push_str(&format!("{f:?}\n")),
        Value::Str(s) => {
            out.push_str(&quote(s));
            out.push('\n');
        }
    }
}

fn set(map: &mut Node, key: &str, value: Node) {
    map.set(key, value);
}

/// Writes `before/` (the corpus's objects replicated, each copy in its own namespaces so every
/// object has its own identity) and `after/` (the same, with one object in `CHANGE_EVERY`
/// carrying an extra label). Returns the number of objects changed.
fn prepare(corpus: &Path, data: &Path) -> std::io::Result<usize> {
    let mut paths = Vec::new();
    common::files(corpus, &["yaml", "yml"], &mut paths);
    let per_file: Vec<(PathBuf, Vec<Node>)> = paths
        .iter()
        .filter_map(|p| {
            let bytes = std::fs::read(p).ok()?;
            let loaded = load_bytes(Arc::from("x"), &bytes, Some(p));
            Some((
                p.clone(),
                loaded.objects.into_iter().map(|o| o.root).collect(),
            ))
        })
        .collect();
    let per_copy: usize = per_file.iter().map(|(_, o)| o.len()).sum();
    let copies = TARGET_OBJECTS.div_ceil(per_copy.max(1));
    let _ = std::fs::remove_dir_all(data);
    let mut seen = 0usize;
    let mut changed = 0usize;
    for c in 0..copies {
        for (p, roots) in &per_file {
            let rel = p.strip_prefix(corpus).unwrap_or(p);
            let (mut before, mut after) = (String::new(), String::new());
            for root in roots {
                let mut root = root.clone();
                if let Some(meta) = root.get_mut("metadata") {
                    let ns = meta.str_at(&["namespace"]).unwrap_or("default").to_owned();
                    set(
                        meta,
                        "namespace",
                        Node::new(0, Value::Str(format!("{ns}-copy{c}").into())),
                    );
                }
                before.push_str("---\n");
                emit(&root, 0, &mut before);
                seen += 1;
                if seen.is_multiple_of(CHANGE_EVERY)
                    && let Some(meta) = root.get_mut("metadata")
                {
                    let mut labels = meta
                        .get("labels")
                        .cloned()
                        .unwrap_or(Node::new(0, Value::Map(Vec::new().into())));
                    set(
                        &mut labels,
                        "bench-changed",
                        Node::new(0, Value::Str("yes".into())),
                    );
                    set(meta, "labels", labels);
                    changed += 1;
                }
                after.push_str("---\n");
                emit(&root, 0, &mut after);
            }
            for (side, body) in [("before", &before), ("after", &after)] {
                let dest = data.join(side).join(format!("copy{c}")).join(rel);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&dest, body)?;
            }
        }
    }
    println!(
        "corpus: {} YAML files, {per_copy} objects per copy, {copies} copies; {changed} objects changed",
        paths.len()
    );
    Ok(changed)
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: a debug-build run of
    // 100k objects would only slow the suite down, so the benchmark runs under `cargo bench` only.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/diff.rs: run `cargo bench --bench diff` for figures");
        return;
    }
    let Some(corpus) = common::shared_corpus() else {
        println!("notice: ../shared/corpus/real not found; benchmark skipped");
        return;
    };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data-diff");
    if let Err(e) = prepare(&corpus, &data) {
        println!("cannot write bench data under {}: {e}", data.display());
        return;
    }
    let before = vec![Input::Path(data.join("before"))];
    let after = vec![Input::Path(data.join("after"))];

    // Warm the page cache so both measurements read from memory.
    let _ = hindsight::load::load(&before);
    let _ = hindsight::load::load(&after);

    let cpu0 = common::cpu_seconds();
    let t0 = Instant::now();
    let a = hindsight::scan(&before, &hindsight::config::Config::default());
    let b = hindsight::scan(&after, &hindsight::config::Config::default());
    let scans_wall = t0.elapsed().as_secs_f64();
    let scans_cpu = common::cpu_seconds() - cpu0;
    println!(
        "two scans: wall {scans_wall:.3} s  cpu {scans_cpu:.2} s  ({} + {} objects, {} + {} findings)",
        a.objects,
        b.objects,
        a.findings.len(),
        b.findings.len()
    );
    drop((a, b));

    let cpu0 = common::cpu_seconds();
    let t0 = Instant::now();
    let (lb, la) = rayon::join(
        || hindsight::load::load(&before),
        || hindsight::load::load(&after),
    );
    let t_load = t0.elapsed().as_secs_f64();
    let d = hindsight::diff::diff(lb, la);
    let diff_wall = t0.elapsed().as_secs_f64();
    let diff_cpu = common::cpu_seconds() - cpu0;
    println!(
        "diff:      wall {diff_wall:.3} s (load {t_load:.3} s)  cpu {diff_cpu:.2} s  ({} changed, {} added, {} removed, {} unchanged, {} risks, {} new, {} resolved, {} errors)",
        d.changes.changed.len(),
        d.changes.added.len(),
        d.changes.removed.len(),
        d.unchanged,
        d.risks.len(),
        d.new_findings.len(),
        d.resolved_findings.len(),
        d.errors.len()
    );
    println!(
        "diff / two scans: wall {:.2}x  cpu {:.2}x",
        diff_wall / scans_wall.max(1e-9),
        diff_cpu / scans_cpu.max(1e-9)
    );
}
