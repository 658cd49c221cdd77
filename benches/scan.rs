//! Scan throughput over the real-world corpus (`../shared/corpus/real`) replicated to ~50,000
//! objects, in YAML as found and as one JSON List dump (`kubectl get -o json` shape).
//!
//! `cargo bench --bench scan` prints objects/s, MB/s, CPU time and peak RSS for each format.
//! Loading runs in-process from memory, so the figures exclude disk reads; the CLI numbers in
//! the README come from `hyperfine`/`/usr/bin/time` on the same data written out.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use hindsight::load::load_bytes;

const TARGET_OBJECTS: usize = 50_000;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn run(label: &str, paths: &[PathBuf]) {
    let inputs: Vec<hindsight::load::Input> = paths
        .iter()
        .map(|p| hindsight::load::Input::Path(p.clone()))
        .collect();
    let bytes: u64 = paths.iter().map(|p| dir_size(p)).sum();
    let cpu0 = common::cpu_seconds();
    let t0 = Instant::now();
    let loaded = hindsight::load::load(&inputs);
    let t_load = t0.elapsed().as_secs_f64();
    let objects = loaded.objects.len();
    let outcome = hindsight::analyse(
        loaded,
        hindsight::rules::ALL,
        &hindsight::config::Config::default(),
    );
    let wall = t0.elapsed().as_secs_f64();
    let cpu = common::cpu_seconds() - cpu0;
    println!(
        "{label:<6} {objects:>7} objects {:>7.1} MB  wall {wall:>6.3} s (load {t_load:.3} s)  cpu {cpu:>6.2} s \
         ({:.1} us/object)  {:>8.0} objects/cpu-s  {:>6.1} MB/cpu-s  {} findings  {} errors  peak RSS {:.0} MB",
        bytes as f64 / 1e6,
        cpu * 1e6 / objects.max(1) as f64,
        objects as f64 / cpu.max(1e-9),
        bytes as f64 / 1e6 / cpu.max(1e-9),
        outcome.findings.len(),
        outcome.errors.len(),
        peak_rss_mb(),
    );
}

fn dir_size(p: &Path) -> u64 {
    if p.is_dir() {
        std::fs::read_dir(p)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| dir_size(&e.path())).sum())
            .unwrap_or(0)
    } else {
        std::fs::metadata(p).map_or(0, |m| m.len())
    }
}

/// Writes the replicated corpus (YAML tree) and one JSON List dump under `target/bench-data`.
fn prepare(corpus: &Path, data: &Path) -> std::io::Result<()> {
    let mut paths = Vec::new();
    common::files(corpus, &["yaml", "yml", "json"], &mut paths);
    let per_copy: usize = paths
        .iter()
        .filter_map(|p| {
            Some(
                load_bytes(Arc::from("x"), &std::fs::read(p).ok()?, Some(p))
                    .objects
                    .len(),
            )
        })
        .sum();
    let copies = TARGET_OBJECTS.div_ceil(per_copy.max(1));
    println!(
        "corpus: {} files, {per_copy} objects per copy, {copies} copies",
        paths.len()
    );
    let _ = std::fs::remove_dir_all(data);
    let mut items = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let bytes = std::fs::read(p)?;
        let rel = p.strip_prefix(corpus).unwrap_or(p);
        for c in 0..copies {
            let dest = data.join("yaml").join(format!("copy{c}")).join(rel);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&dest, &bytes)?;
        }
        let name: Arc<str> = Arc::from(format!("f{i}").as_str());
        for o in load_bytes(name, &bytes, Some(p)).objects {
            items.push(o.root.to_json());
        }
    }
    let mut all = Vec::with_capacity(items.len() * copies);
    for _ in 0..copies {
        all.extend(items.iter().cloned());
    }
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": all});
    std::fs::write(data.join("dump.json"), serde_json::to_vec_pretty(&list)?)?;
    Ok(())
}

fn main() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    match std::env::args().nth(1).as_deref() {
        Some("yaml") => return run("yaml", &[data.join("yaml")]),
        Some("json") => return run("json", &[data.join("dump.json")]),
        Some("--bench") => {}
        // `cargo test --all-targets` runs bench binaries without `--bench`: skip the heavy run.
        _ => {
            println!("benches/scan.rs: run `cargo bench --bench scan` for figures");
            return;
        }
    }
    let Some(corpus) = common::shared_corpus() else {
        println!("notice: ../shared/corpus/real not found; benchmark skipped");
        return;
    };
    if let Err(e) = prepare(&corpus, &data) {
        println!("cannot write bench data under {}: {e}", data.display());
        return;
    }
    // Each format in its own process, so peak RSS is that format's alone.
    let me = std::env::current_exe().expect("own path");
    for format in ["yaml", "json"] {
        let _ = std::process::Command::new(&me).arg(format).status();
    }
}
