//! Live clusters: lists the kinds the rules need, read-only, and turns them into the same
//! objects files give ([`crate::load::Object`] + [`crate::node::Node`]).
//!
//! Invariants:
//! - Only `get`/`list` requests (`/version` and paginated lists). Secrets are never asked for.
//! - One path for everything: the picture is written as a `v1 List` (the snapshot format, what
//!   `kubectl get -o json` prints, plus a [`Header`]) and loaded back through `load::json`, so
//!   `scan --cluster`, `snapshot` and `scan cluster.json` cannot disagree.
//! - A kind that cannot be read never stops the others: it is recorded in the header and the
//!   run says the picture is partial (an input error: exit status 2, findings still reported).
//! - Every list loop is bounded (page count) and every request has kube's timeouts.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::load::snapshot::{Header, KindCount, Unreadable};
use crate::load::{self, Loaded};

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A kubeconfig context; default: the current one, else in-cluster config.
    pub context: Option<String>,
    /// Limit namespaced kinds to one namespace (Nodes and Namespaces are still listed).
    pub namespace: Option<String>,
    /// Show progress on standard error (only when it is a terminal).
    pub progress: bool,
}

/// A kind hindsight lists.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub kind: &'static str,
    /// `v1` for the core group, else `group/version`.
    pub api_version: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
}

impl Kind {
    /// The list path, e.g. `/apis/apps/v1/namespaces/web/deployments`.
    pub fn path(&self, namespace: Option<&str>) -> String {
        let prefix = if self.api_version.contains('/') {
            format!("/apis/{}", self.api_version)
        } else {
            format!("/api/{}", self.api_version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{prefix}/namespaces/{ns}/{}", self.plural),
            _ => format!("{prefix}/{}", self.plural),
        }
    }

    /// `apps/v1/deployments`: how the header and messages name it.
    pub fn resource(&self) -> String {
        format!("{}/{}", self.api_version, self.plural)
    }
}

const fn kind(
    kind: &'static str,
    api_version: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Kind {
    Kind {
        kind,
        api_version,
        plural,
        namespaced,
    }
}

/// Everything the rules read; `deploy/rbac.yaml` grants exactly these (never Secrets).
pub const KINDS: &[Kind] = &[
    kind("Namespace", "v1", "namespaces", false),
    kind("Node", "v1", "nodes", false),
    kind("Pod", "v1", "pods", true),
    kind("Service", "v1", "services", true),
    kind("ConfigMap", "v1", "configmaps", true),
    kind("Event", "v1", "events", true),
    kind(
        "ReplicationController",
        "v1",
        "replicationcontrollers",
        true,
    ),
    kind("Deployment", "apps/v1", "deployments", true),
    kind("ReplicaSet", "apps/v1", "replicasets", true),
    kind("StatefulSet", "apps/v1", "statefulsets", true),
    kind("DaemonSet", "apps/v1", "daemonsets", true),
    kind("Job", "batch/v1", "jobs", true),
    kind("CronJob", "batch/v1", "cronjobs", true),
    kind(
        "PodDisruptionBudget",
        "policy/v1",
        "poddisruptionbudgets",
        true,
    ),
    kind(
        "HorizontalPodAutoscaler",
        "autoscaling/v2",
        "horizontalpodautoscalers",
        true,
    ),
    kind("Ingress", "networking.k8s.io/v1", "ingresses", true),
    kind(
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "networkpolicies",
        true,
    ),
    // For `webhook.unscoped-or-unavailable`: a webhook that fails closed can stop the cluster.
    kind(
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        false,
    ),
    kind(
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        false,
    ),
];

/// Objects per page, as kubectl asks for.
const PAGE: u32 = 500;
/// Bounds every list loop: 100,000 pages of 500 is far beyond Kubernetes' documented limits.
const MAX_PAGES: usize = 100_000;

/// A picture of the cluster: items as the API returned them (with `apiVersion`/`kind` filled
/// in and `managedFields` dropped, as `kubectl get -o json` prints them) and the header.
/// Items are kept as compact JSON text, not `serde_json::Value`s: a parsed value costs several
/// times its text, and a 150,000-pod cluster is gigabytes of text already.
#[derive(Debug, Default)]
pub struct Picture {
    pub header: Header,
    pub items: Vec<Box<RawValue>>,
}

fn write_list<R: std::ops::Deref<Target = RawValue>>(
    header: &Header,
    items: impl Iterator<Item = R>,
    len: usize,
    out: impl Write,
) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct List<'a, I> {
        #[serde(rename = "apiVersion")]
        api_version: &'a str,
        hindsight: &'a Header,
        items: I,
        kind: &'a str,
        metadata: Value,
    }
    let list = List {
        api_version: "v1",
        hindsight: header,
        items: Items(std::cell::RefCell::new(Some(items)), len),
        kind: "List",
        metadata: serde_json::json!({"resourceVersion": ""}),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    list.serialize(&mut ser).map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Writes raw items one by one, re-indented like kubectl (one item parsed at a time). Items
/// come from an iterator so that a consuming write frees each as soon as it is written.
struct Items<I>(std::cell::RefCell<Option<I>>, usize);

impl<I, R> Serialize for Items<I>
where
    I: Iterator<Item = R>,
    R: std::ops::Deref<Target = RawValue>,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = serializer.serialize_seq(Some(self.1))?;
        for item in self.0.borrow_mut().take().into_iter().flatten() {
            let value: Value = serde_json::from_str(item.get()).map_err(S::Error::custom)?;
            seq.serialize_element(&value)?;
        }
        seq.end()
    }
}

impl Picture {
    /// Writes the snapshot: a `v1 List` with the header under the top-level `hindsight` key,
    /// keys sorted and four-space indents like kubectl's output.
    pub fn write(&self, out: impl Write) -> std::io::Result<()> {
        let items = self.items.iter().map(|item| &**item);
        write_list(&self.header, items, self.items.len(), out)
    }

    /// The name findings point at: `cluster:<context>`.
    pub fn source_name(&self) -> String {
        format!(
            "cluster:{}",
            self.header.context.as_deref().unwrap_or("default")
        )
    }

    /// Loads the picture through the file path, so a live scan and a scan of the snapshot it
    /// would have written see the same objects, lines and notices: a small picture whole
    /// (`load::load_bytes`, keeping the text for snippets), a large one streamed through a
    /// pipe from a writer thread, as a large snapshot file is. The writer frees each item once
    /// written, so neither the List text nor all items are held next to the loaded objects.
    pub fn load(self) -> Loaded {
        let name: Arc<str> = Arc::from(self.source_name());
        let size: usize = self.items.iter().map(|i| i.get().len()).sum();
        // Past this size a snapshot file keeps no text for snippets either.
        if size >= load::STREAM_MIN as usize
            && let Ok((reader, writer)) = std::io::pipe()
        {
            let Picture { header, items } = self;
            let len = items.len();
            return std::thread::scope(|scope| {
                // A write error means the reader stopped early; what it read is reported.
                scope.spawn(move || write_list(&header, items.into_iter(), len, writer));
                load::load_list_reader(&name, reader)
            })
            .unwrap_or_else(|| not_a_list(name));
        }
        let mut text = Vec::new();
        self.write(&mut text)
            .expect("writing JSON to memory cannot fail");
        load::load_bytes(name, &text, None)
    }
}

/// What we wrote is always a List; if the reader disagrees, say so rather than lose it silently.
fn not_a_list(name: Arc<str>) -> Loaded {
    let mut loaded = Loaded::default();
    loaded.errors.push(load::Problem {
        file: name,
        line: None,
        message: "internal error: the cluster picture did not read back as a List".into(),
    });
    loaded
}

/// Reads the cluster (blocking: runs its own runtime).
pub fn fetch_blocking(options: &Options) -> anyhow::Result<Picture> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(fetch(options))
}

/// Connects (kubeconfig, else in-cluster), then lists every kind concurrently.
pub async fn fetch(options: &Options) -> anyhow::Result<Picture> {
    let started = Instant::now();
    let (config, context) = config(options).await?;
    let client = Client::try_from(config).context("cannot build a Kubernetes client")?;
    let server_version = match client.apiserver_version().await {
        Ok(info) => Some(info.git_version),
        Err(kube::Error::Api(status)) if status.code == 403 => None,
        Err(e) => {
            return Err(anyhow::anyhow!(
                "cannot reach the API server of context `{context}`: {}",
                describe(&e)
            ));
        }
    };
    let progress = Progress::start(options.progress && std::io::stderr().is_terminal());
    let mut tasks = tokio::task::JoinSet::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let client = client.clone();
        let namespace = options.namespace.clone();
        let counter = progress.counter.clone();
        tasks.spawn(async move {
            (
                i,
                list_kind(&client, kind, namespace.as_deref(), &counter).await,
            )
        });
    }
    let mut results: Vec<Option<Result<Vec<Box<RawValue>>, Unreadable>>> =
        (0..KINDS.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, result)) => {
                results[i] = Some(result);
                progress.kinds_done.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => anyhow::bail!("internal error while listing: {e}"),
        }
    }
    progress.finish().await;
    let mut picture = Picture::default();
    for (kind, result) in KINDS.iter().zip(results) {
        match result.expect("every task reports once") {
            Ok(items) => {
                picture.header.kinds.push(KindCount {
                    kind: kind.kind.into(),
                    count: items.len(),
                });
                picture.items.extend(items);
            }
            Err(unreadable) => picture.header.unreadable.push(unreadable),
        }
    }
    picture.header.tool = format!("hindsight {}", env!("CARGO_PKG_VERSION"));
    picture.header.created_at = rfc3339(SystemTime::now());
    picture.header.context = Some(context);
    picture.header.namespace = options.namespace.clone();
    picture.header.server_version = server_version;
    // Milliseconds are enough, and keep the header short.
    picture.header.duration_seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    Ok(picture)
}

/// kube's configuration and the context name for the header: the kubeconfig (`$KUBECONFIG` or
/// `~/.kube/config`, exec credential plugins included), else the in-cluster service account.
async fn config(options: &Options) -> anyhow::Result<(Config, String)> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        ..KubeConfigOptions::default()
    };
    match Config::from_kubeconfig(&kube_options).await {
        Ok(config) => {
            let name = match &options.context {
                Some(c) => c.clone(),
                None => Kubeconfig::read()
                    .ok()
                    .and_then(|k| k.current_context)
                    .unwrap_or_else(|| "default".into()),
            };
            Ok((config, name))
        }
        Err(e) if options.context.is_some() => Err(anyhow::anyhow!(
            "cannot use kubeconfig context `{}`: {e}",
            options.context.as_deref().unwrap_or_default()
        )),
        Err(kubeconfig_error) => match Config::incluster() {
            Ok(config) => Ok((config, "in-cluster".into())),
            Err(incluster_error) => Err(anyhow::anyhow!(
                "no cluster to read: kubeconfig: {kubeconfig_error}; in-cluster: {incluster_error}"
            )),
        },
    }
}

/// One page as the API server returns it.
#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    metadata: PageMeta,
    #[serde(default)]
    items: Vec<Value>,
}

#[derive(Deserialize, Default)]
struct PageMeta {
    #[serde(rename = "continue", default)]
    next: Option<String>,
}

/// Lists one kind, page by page (`limit` + `continue`).
async fn list_kind(
    client: &Client,
    kind: &Kind,
    namespace: Option<&str>,
    counter: &AtomicUsize,
) -> Result<Vec<Box<RawValue>>, Unreadable> {
    let unreadable = |code: Option<u16>, reason: String| Unreadable {
        kind: kind.kind.into(),
        resource: kind.resource(),
        code,
        reason,
    };
    let path = kind.path(namespace);
    let mut params = ListParams::default().limit(PAGE);
    let mut items = Vec::new();
    for _ in 0..MAX_PAGES {
        let request = kube::core::Request::new(&path)
            .list(&params)
            .map_err(|e| unreadable(None, e.to_string()))?;
        let text = client.request_text(request).await.map_err(|e| match &e {
            kube::Error::Api(status) => unreadable(
                Some(status.code),
                format!("{}: {}", status.reason, status.message),
            ),
            _ => unreadable(None, describe(&e)),
        })?;
        let page: Page = serde_json::from_str(&text)
            .map_err(|e| unreadable(None, format!("the server's answer is not a List: {e}")))?;
        counter.fetch_add(page.items.len(), Ordering::Relaxed);
        for item in page.items {
            let text = serde_json::to_string(&normalise(item, kind))
                .map_err(|e| unreadable(None, format!("cannot re-encode an item: {e}")))?;
            items.push(
                RawValue::from_string(text)
                    .map_err(|e| unreadable(None, format!("cannot re-encode an item: {e}")))?,
            );
        }
        match page.metadata.next {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(items),
        }
    }
    Err(unreadable(
        None,
        format!("more than {MAX_PAGES} pages; stopped"),
    ))
}

/// List items come without `apiVersion`/`kind`; kubectl adds them and hides `managedFields`.
fn normalise(mut item: Value, kind: &Kind) -> Value {
    if let Value::Object(map) = &mut item {
        map.entry("apiVersion")
            .or_insert_with(|| Value::from(kind.api_version));
        map.entry("kind").or_insert_with(|| Value::from(kind.kind));
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            meta.remove("managedFields");
        }
    }
    item
}

/// A kube error in one line: the API server's own message when it sent a Status.
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                "error"
            } else {
                &status.reason
            };
            format!("{} {reason}: {}", status.code, status.message)
        }
        other => {
            // Walk the source chain: TLS errors hide the useful part (e.g. UnknownIssuer) there.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

/// A one-line progress display on standard error, redrawn every 100 ms.
struct Progress {
    counter: Arc<AtomicUsize>,
    kinds_done: Arc<AtomicUsize>,
    task: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Progress {
    fn start(show: bool) -> Progress {
        let counter = Arc::new(AtomicUsize::new(0));
        let kinds_done = Arc::new(AtomicUsize::new(0));
        let task = show.then(|| {
            let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
            let (objects, done) = (counter.clone(), kinds_done.clone());
            let handle = tokio::spawn(async move {
                loop {
                    eprint!(
                        "\r\x1b[2Klisting: {}/{} kinds, {} objects",
                        done.load(Ordering::Relaxed),
                        KINDS.len(),
                        objects.load(Ordering::Relaxed)
                    );
                    tokio::select! {
                        _ = &mut stopped => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
                eprint!("\r\x1b[2K");
            });
            (stop, handle)
        });
        Progress {
            counter,
            kinds_done,
            task,
        }
    }

    async fn finish(self) {
        if let Some((stop, handle)) = self.task {
            let _ = stop.send(());
            let _ = handle.await;
        }
    }
}

/// RFC 3339 in UTC, seconds precision (no date crate needed for one timestamp).
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    crate::time::rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_api_layout() {
        let pods = KINDS.iter().find(|k| k.kind == "Pod").expect("listed");
        assert_eq!(pods.path(None), "/api/v1/pods");
        assert_eq!(pods.path(Some("web")), "/api/v1/namespaces/web/pods");
        let nodes = KINDS.iter().find(|k| k.kind == "Node").expect("listed");
        assert_eq!(nodes.path(Some("web")), "/api/v1/nodes");
        let deployments = KINDS
            .iter()
            .find(|k| k.kind == "Deployment")
            .expect("listed");
        assert_eq!(deployments.path(None), "/apis/apps/v1/deployments");
    }

    #[test]
    fn secrets_are_never_listed() {
        assert!(
            KINDS
                .iter()
                .all(|k| k.kind != "Secret" && k.plural != "secrets")
        );
    }

    #[test]
    fn rbac_manifest_grants_exactly_the_listed_kinds() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac.yaml");
        let loaded = load::load(&[load::Input::Path(path)]);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let role = loaded
            .objects
            .iter()
            .find(|o| o.kind == "ClusterRole")
            .expect("a ClusterRole");
        let mut granted = Vec::new();
        for rule in role.root.seq_at("rules") {
            let verbs: Vec<&str> = rule
                .seq_at("verbs")
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            assert_eq!(verbs, ["get", "list"], "read-only");
            for group in rule.seq_at("apiGroups") {
                for resource in rule.seq_at("resources") {
                    granted.push(format!(
                        "{}/{}",
                        group.as_str().unwrap_or("?"),
                        resource.as_str().unwrap_or("?")
                    ));
                }
            }
        }
        granted.sort();
        let mut needed: Vec<String> = KINDS
            .iter()
            .map(|k| {
                let group = k.api_version.rsplit_once('/').map_or("", |(g, _)| g);
                format!("{group}/{}", k.plural)
            })
            .collect();
        needed.sort();
        assert_eq!(granted, needed);
    }

    #[test]
    fn a_large_picture_streams_and_loads_like_its_snapshot() {
        let pad = "x".repeat(3200);
        let items: Vec<Box<RawValue>> = (0..5500)
            .map(|i| {
                let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("p-{i}"), "namespace": "shop", "annotations": {"pad": pad}},
                    "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "app:1"}]}});
                RawValue::from_string(pod.to_string()).expect("valid JSON")
            })
            .collect();
        let picture = Picture {
            header: Header::default(),
            items,
        };
        let size: usize = picture.items.iter().map(|i| i.get().len()).sum();
        assert!(
            size >= load::STREAM_MIN as usize,
            "exercises the streamed path"
        );
        let mut text = Vec::new();
        picture.write(&mut text).expect("in memory");
        let whole = load::load_bytes(Arc::from(picture.source_name()), &text, None);
        let streamed = picture.load();
        assert!(streamed.errors.is_empty(), "{:?}", streamed.errors);
        assert_eq!(streamed.objects.len(), 5500);
        // Streamed: the text was never held (no snippet source), unlike a whole read.
        assert!(streamed.sources.is_empty());
        let key = |l: &Loaded| -> Vec<(String, u32, String)> {
            l.objects
                .iter()
                .map(|o| (o.name.clone(), o.line, o.file.to_string()))
                .collect()
        };
        assert_eq!(key(&streamed), key(&whole));
        assert_eq!(streamed.objects[5499].root, whole.objects[5499].root);
    }

    #[test]
    fn normalise_adds_type_and_drops_managed_fields() {
        let pods = KINDS.iter().find(|k| k.kind == "Pod").expect("listed");
        let item = normalise(
            serde_json::json!({"metadata": {"name": "p", "managedFields": [{"manager": "kubectl"}]}}),
            pods,
        );
        assert_eq!(
            item,
            serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
        );
    }

    #[test]
    fn rfc3339_dates() {
        let at = |s: u64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_000_000), "2026-11-30T00:53:20Z");
    }
}
