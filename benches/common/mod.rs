//! What the benchmarks share: finding the real-world corpus beside the checkout, listing its
//! manifest files in a stable order, and this process's CPU time.

use std::path::{Path, PathBuf};

/// `../shared/corpus/real` beside the checkout (or two levels up, for a git worktree).
pub fn shared_corpus() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        root.join("../shared/corpus/real"),
        root.join("../../shared/corpus/real"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

/// Files under `dir` whose extension is one of `extensions`, sorted, recursively.
pub fn files(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files(&p, extensions, out);
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            out.push(p);
        }
    }
}

/// utime + stime of this process, from /proc/self/stat (fields 14 and 15, in clock ticks).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
