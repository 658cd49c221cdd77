//! Cluster state for the webhook: a snapshot of objects that rules relating objects (a PDB for
//! a StatefulSet, a Service's pods) read alongside the reviewed object, and that the periodic
//! audit re-checks as a whole.
//!
//! Where the objects come from is a [`SnapshotProvider`]: a file today (`--state`), the live
//! cluster reader later. Invariants: a failed read keeps the previous snapshot (stale state beats
//! no state for admission); a snapshot is immutable once published, so requests read it without
//! locks beyond an `Arc` clone.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::load::{Input, Object};

/// A boxed future, so providers stay object-safe without an extra crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that can produce the cluster's objects on demand.
pub trait SnapshotProvider: Send + Sync + 'static {
    /// For logs and `/readyz`: `file snapshot.json`, `cluster (context prod)`.
    fn describe(&self) -> String;
    /// Reads every object. An error keeps the previous snapshot in place.
    fn read(&self) -> BoxFuture<'_, Result<Vec<Object>, String>>;
    /// Files whose change should trigger an early re-read (their directories are watched).
    fn watch_paths(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// A snapshot file as `hindsight scan` reads it: a `kubectl get -o json` List, a YAML stream, or
/// a directory of manifests.
pub struct FileProvider {
    pub path: PathBuf,
}

impl SnapshotProvider for FileProvider {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    fn read(&self) -> BoxFuture<'_, Result<Vec<Object>, String>> {
        let path = self.path.clone();
        Box::pin(async move {
            let loaded =
                tokio::task::spawn_blocking(move || crate::load::load(&[Input::Path(path)]))
                    .await
                    .map_err(|e| format!("reading the snapshot failed: {e}"))?;
            if loaded.objects.is_empty() && !loaded.errors.is_empty() {
                let first = &loaded.errors[0];
                return Err(format!(
                    "{}{}: {}",
                    first.file,
                    first.line.map(|l| format!(":{l}")).unwrap_or_default(),
                    first.message
                ));
            }
            Ok(loaded.objects)
        })
    }

    fn watch_paths(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
}

/// The live cluster, read with the same kube-rs reader as `hindsight scan --cluster` (read-only,
/// never Secrets). A partial picture still serves: the kinds that could be read are used.
pub struct ClusterProvider {
    pub options: crate::sources::cluster::Options,
}

impl SnapshotProvider for ClusterProvider {
    fn describe(&self) -> String {
        match &self.options.context {
            Some(context) => format!("cluster (context {context})"),
            None => "cluster (current context or in-cluster)".to_owned(),
        }
    }

    fn read(&self) -> BoxFuture<'_, Result<Vec<Object>, String>> {
        Box::pin(async move {
            let picture = crate::sources::cluster::fetch(&self.options)
                .await
                .map_err(|e| format!("reading the cluster failed: {e:#}"))?;
            Ok(picture.load().objects)
        })
    }
}

/// Objects grouped the way admission reads them: by namespace, plus cluster-scoped ones.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Indices into `all` of each namespace's objects.
    pub by_namespace: HashMap<String, Vec<usize>>,
    /// Indices into `all` of the cluster-scoped kinds rules relate to.
    pub cluster_scoped: Vec<usize>,
    /// Every object, in read order, for the audit (held once; the maps index into it).
    pub all: Vec<Object>,
    pub loaded_at: Option<SystemTime>,
    pub source: String,
}

impl Snapshot {
    /// Kinds that are not namespaced and that rules may relate to (the rest of the cluster-scoped
    /// objects are only audited).
    const CLUSTER_SCOPED: [&str; 4] = [
        "Node",
        "Namespace",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ];

    pub fn new(objects: Vec<Object>, source: String) -> Snapshot {
        let mut by_namespace: HashMap<String, Vec<usize>> = HashMap::new();
        let mut cluster_scoped = Vec::new();
        for (i, object) in objects.iter().enumerate() {
            if Self::CLUSTER_SCOPED.contains(&object.kind.as_str()) {
                cluster_scoped.push(i);
            } else {
                by_namespace
                    .entry(object.namespace_or_default().to_owned())
                    .or_default()
                    .push(i);
            }
        }
        Snapshot {
            by_namespace,
            cluster_scoped,
            all: objects,
            loaded_at: Some(SystemTime::now()),
            source,
        }
    }
}

/// The current snapshot, shared by requests and the audit.
#[derive(Default)]
pub struct State {
    current: RwLock<Option<Arc<Snapshot>>>,
}

impl State {
    pub fn get(&self) -> Option<Arc<Snapshot>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn set(&self, snapshot: Snapshot) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(snapshot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_provider_reads_a_list_and_groups_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("snapshot.json");
        std::fs::write(
            &path,
            r#"{"apiVersion":"v1","kind":"List","items":[
              {"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"db","namespace":"data"},"spec":{"maxUnavailable":1}},
              {"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}]}"#,
        )
        .expect("write");
        let provider = FileProvider { path: path.clone() };
        let snapshot = Snapshot::new(provider.read().await.expect("reads"), provider.describe());
        assert_eq!(snapshot.by_namespace["data"].len(), 1);
        assert_eq!(snapshot.cluster_scoped.len(), 1);
        assert_eq!(snapshot.all.len(), 2);
        std::fs::write(&path, "{ not json").expect("write");
        assert!(
            provider.read().await.is_err(),
            "a broken file is an error, not an empty cluster"
        );
    }
}
