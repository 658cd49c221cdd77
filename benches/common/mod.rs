//! What the benchmarks share: finding the real-world corpus beside the checkout and listing
//! its manifest files in a stable order.

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
