//! TLS certificate loading and reloading, and the directory watcher it uses.
//!
//! Kubernetes Secret volumes never rewrite `tls.crt` in place: the kubelet writes a new
//! `..<timestamp>` directory, then atomically renames a `..data_tmp` symlink over `..data`, and
//! `tls.crt` is a symlink into `..data`. A watch on the file itself would follow the old inode
//! and never fire, so the *directory* is watched (non-recursively), events are debounced
//! (cert-manager writes the certificate and the key separately) and the pair is re-read through
//! the symlinks. Invariant: a failed reload (half-written pair, bad PEM) keeps serving the old
//! certificate and is logged and counted; the next change retries.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::metrics::Metrics;

/// How long to wait for a burst of file events to settle before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Watches the directories holding `paths` (non-recursively) and sends one `()` per settled
/// burst of changes to those files. The returned watcher must be kept alive for events to flow.
///
/// Only events naming one of the files, or the kubelet's `..data` symlink (whose atomic swap
/// changes every file in a Secret volume at once), count: other files in the same directory
/// (a log file written next to the certificate, say) must not trigger reloads.
pub fn watch_dirs(
    paths: &[PathBuf],
) -> notify::Result<(notify::RecommendedWatcher, mpsc::Receiver<()>)> {
    let mut names: Vec<OsString> = paths
        .iter()
        .filter_map(|p| p.file_name().map(OsString::from))
        .collect();
    names.push(OsString::from("..data"));
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reading the files (our own reload) produces access events: ignore them, or every
        // reload would trigger the next one.
        if let Ok(event) = event
            && !matches!(event.kind, EventKind::Access(_))
            && event
                .paths
                .iter()
                .any(|p| p.file_name().is_some_and(|n| names.iter().any(|m| m == n)))
        {
            let _ = raw_tx.send(());
        }
    })?;
    let mut dirs: Vec<PathBuf> = paths
        .iter()
        .map(|p| match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in &dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while raw_rx.recv().await.is_some() {
            // Debounce: wait until no event arrived for DEBOUNCE.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, raw_rx.recv()).await {}
            // A full channel already holds a pending change: nothing is lost by dropping this one.
            if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(()) {
                break;
            }
        }
    });
    Ok((watcher, rx))
}

/// Loads the certificate chain and key, with a message naming the files on failure.
pub async fn load(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    RustlsConfig::from_pem_file(cert, key).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot load TLS certificate {} and key {}: {e}",
            cert.display(),
            key.display()
        )
    })
}

/// Reloads `config` whenever the certificate or key directory changes. Returns the watcher,
/// which must outlive the server.
pub fn reload_on_change(
    config: RustlsConfig,
    cert: PathBuf,
    key: PathBuf,
    metrics: Arc<Metrics>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    let (watcher, mut changes) = watch_dirs(&[cert.clone(), key.clone()])
        .map_err(|e| anyhow::anyhow!("cannot watch the certificate directory: {e}"))?;
    tokio::spawn(async move {
        while changes.recv().await.is_some() {
            match config.reload_from_pem_file(&cert, &key).await {
                Ok(()) => {
                    metrics.tls_reload(true);
                    super::log(
                        "info",
                        &format!("tls: reloaded certificate {}", cert.display()),
                    );
                }
                Err(e) => {
                    metrics.tls_reload(false);
                    super::log(
                        "error",
                        &format!(
                            "tls: reload of {} failed, still serving the previous certificate: {e}",
                            cert.display()
                        ),
                    );
                }
            }
        }
    });
    Ok(watcher)
}
