//! `serve --config`: the `.hindsight.yaml` that `hindsight scan --config` reads (rule
//! enable/disable, severity overrides, parameters, excluded namespaces and kinds), applied to
//! every review and every audit, and reloaded when the file changes.
//!
//! A ConfigMap volume changes the way a Secret volume does (the kubelet swaps a `..data`
//! symlink), so the directory is watched with the same [`super::tls::watch_dirs`].
//! Invariants: a config is published only after it validated completely; a bad new file (a
//! typo, a half-written file, a deleted file) is logged with its file:line message and counted,
//! and the previous config stays in force, so a typo never makes the webhook fail open or
//! closed. What is in force is visible: `/readyz` and `hindsight_config_info` show the file and
//! the hash of the bytes that were validated.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::metrics::Metrics;

/// A validated configuration and what identifies it.
#[derive(Debug, Default)]
pub struct Loaded {
    pub config: crate::config::Config,
    /// The `--config` file; `None` for the defaults.
    pub file: Option<PathBuf>,
    /// [`hash`] of the file's bytes; empty for the defaults.
    pub hash: String,
    /// Things the operator should know about this config in the webhook (logged once per load).
    pub notes: Vec<String>,
}

impl Loaded {
    /// For `/readyz` and logs: `config: /etc/hindsight/hindsight.yaml (hash 0123…)`.
    pub fn describe(&self) -> String {
        match &self.file {
            Some(file) => format!("config: {} (hash {})", file.display(), self.hash),
            None => "config: defaults (no --config)".to_owned(),
        }
    }
}

/// FNV-1a (64 bit) of the config bytes, as 16 hex digits: stable across builds and platforms,
/// cheap, and enough to tell two versions of a file apart (not a security property).
pub fn hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Reads and validates `file` as `hindsight scan --config` does, with the same errors.
pub fn load(file: &Path) -> Result<Loaded, crate::config::Error> {
    let bytes = std::fs::read(file).map_err(|e| crate::config::Error::io(file, &e))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        crate::config::Error::io(
            file,
            &std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
        )
    })?;
    let mut config = crate::config::from_text(&text, file)?;
    let mut notes = Vec::new();
    if !config.exclude.paths.is_empty() {
        // A review has no file (it is named `admission:<ns>/<kind>/<name>`), so a path glob
        // could only match that name by accident and silently let an object through.
        notes.push(format!(
            "{}: `exclude.paths` does not apply to admission reviews or the audit (they have no \
             files); use `exclude.namespaces` or `exclude.kinds`",
            file.display()
        ));
        config.exclude.paths.clear();
    }
    Ok(Loaded {
        config,
        file: Some(file.to_owned()),
        hash: hash(text.as_bytes()),
        notes,
    })
}

/// The config in force, shared by requests (an `Arc` clone per review) and the reloader.
#[derive(Default)]
pub struct Live {
    current: RwLock<Arc<Loaded>>,
}

impl Live {
    pub fn new(loaded: Loaded) -> Live {
        Live {
            current: RwLock::new(Arc::new(loaded)),
        }
    }

    pub fn get(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, loaded: Loaded) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(loaded);
    }
}

/// Publishes `loaded` in the metrics and logs its notes.
pub fn announce(loaded: &Loaded, metrics: &Metrics) {
    let file = loaded
        .file
        .as_ref()
        .map_or_else(String::new, |f| f.display().to_string());
    metrics.config_in_force(&file, &loaded.hash);
    for note in &loaded.notes {
        super::log("warn", note);
    }
}

/// Reloads the config whenever its directory changes. A file that does not validate is logged
/// and counted, and the previous config stays in force. Returns the watcher, which must outlive
/// the server.
pub fn reload_on_change(
    live: Arc<Live>,
    file: PathBuf,
    metrics: Arc<Metrics>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    let (watcher, mut changes) = super::tls::watch_dirs(std::slice::from_ref(&file))
        .map_err(|e| anyhow::anyhow!("cannot watch the config directory: {e}"))?;
    tokio::spawn(async move {
        while changes.recv().await.is_some() {
            let path = file.clone();
            let loaded = tokio::task::spawn_blocking(move || load(&path)).await;
            match loaded {
                Ok(Ok(loaded)) => {
                    if loaded.hash == live.get().hash {
                        // Touched or re-projected with the same bytes: nothing changed.
                        continue;
                    }
                    metrics.config_reload(true);
                    announce(&loaded, &metrics);
                    super::log("info", &format!("reloaded {}", loaded.describe()));
                    live.set(loaded);
                }
                Ok(Err(e)) => {
                    metrics.config_reload(false);
                    super::log(
                        "error",
                        &format!(
                            "config reload failed, keeping {}:\n{}",
                            live.get().describe(),
                            e.render(false).trim_end()
                        ),
                    );
                }
                Err(e) => {
                    metrics.config_reload(false);
                    super::log(
                        "error",
                        &format!(
                            "config reload failed ({e}), keeping {}",
                            live.get().describe()
                        ),
                    );
                }
            }
        }
    });
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_validates_and_drops_path_exclusions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("hindsight.yaml");
        std::fs::write(
            &file,
            "rules:\n  disable: [workload.replicas-without-spread]\nexclude:\n  paths: [vendor]\n",
        )
        .expect("write");
        let loaded = load(&file).expect("valid");
        assert!(
            !loaded
                .config
                .rule_enabled("workload.replicas-without-spread")
        );
        assert!(loaded.config.exclude.paths.is_empty());
        assert_eq!(loaded.notes.len(), 1, "{:?}", loaded.notes);
        assert_eq!(
            loaded.hash,
            hash(&std::fs::read(&file).expect("read")),
            "the hash is of the validated bytes"
        );
        std::fs::write(
            &file,
            "rules:\n  disable: [workload.replicas-without-sprad]\n",
        )
        .expect("write");
        let e = load(&file).expect_err("unknown rule");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains("hindsight.yaml:2:"), "{e}");
    }

    #[test]
    fn hashes_differ_by_content() {
        assert_eq!(hash(b""), "cbf29ce484222325");
        assert_ne!(hash(b"rules: {}\n"), hash(b"rules: {} \n"));
    }
}
