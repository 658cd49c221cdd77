//! Rules: one file each, holding its metadata next to its check and its tests.
//!
//! Invariants: rules do no IO and never format output; they push findings through [`Sink`],
//! which derives file and line from the node they point at. `ALL` is the registry, sorted by id;
//! `hindsight rules`, `hindsight explain`, the README table and report rule help all read
//! [`Meta`]. A rule whose input is absent (cluster state, metrics) is reported as not run.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::config::Params;
use crate::load::Object;
use crate::model::Index;
use crate::node::Node;
use crate::runtime::Runtime;
use crate::stories::Story;

pub mod aws_cni;
pub mod change;
pub mod cpu;
pub mod events;
pub mod exposure;
#[cfg(test)]
pub(crate) mod live_fixtures;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod network;
pub mod node;
pub mod resources;
pub mod security;
pub mod stateful;
pub mod webhook;
pub mod workload;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// One step up, saturating.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Info => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule needs to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Needs {
    /// Manifests are enough (also runs on snapshots and live clusters).
    Manifests,
    /// Live state: status, Nodes, Pods, Events.
    Cluster,
    /// Prometheus metrics.
    Metrics,
    /// Two versions of the manifests: a change rule, run by `hindsight diff` only.
    Diff,
}

/// A rule's documentation, the single source for `rules`, `explain`, the README and reports.
#[derive(Debug)]
pub struct Meta {
    /// `area.condition`, kebab case; the file is `rules/<area>/<condition>.rs`.
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub stories: &'static [Story],
    pub needs: Needs,
    /// Why this matters, with the incident it echoes.
    pub rationale: &'static str,
    /// What to change.
    pub remediation: &'static str,
    /// A manifest that makes this rule fire (tested: docs cannot lie).
    pub example: &'static str,
}

/// A rule: metadata plus a check.
pub struct Rule {
    pub meta: Meta,
    pub check: fn(&Context<'_>, &mut Sink),
}

/// The registry, sorted by id.
pub static ALL: &[&Rule] = &[
    &aws_cni::external_snat::RULE,
    &cpu::limits_on_affected_kernel::RULE,
    &cpu::throttled_despite_low_usage::RULE,
    &events::warnings::RULE,
    &exposure::dashboard_ingress_without_auth::RULE,
    &exposure::public_dashboard::RULE,
    &exposure::public_load_balancer::RULE,
    &logging::shipper_missing_on_nodes::RULE,
    &logging::shipper_stalled::RULE,
    &logging::shipper_without_position_db::RULE,
    &memory::oom_killed::RULE,
    &memory::oom_kills::RULE,
    &network::tcp_retransmits::RULE,
    &node::cpu_saturated_colocated::RULE,
    &node::kernel_cfs_quota_bug::RULE,
    &node::not_ready::RULE,
    &resources::missing_memory_limit::RULE,
    &resources::missing_requests::RULE,
    &security::host_namespaces::RULE,
    &security::privileged_container::RULE,
    &security::runs_as_root::RULE,
    &security::sensitive_host_mount::RULE,
    &security::unexplained_cpu_burn::RULE,
    &stateful::no_disruption_budget::RULE,
    &stateful::replica_ready_but_unsynced::RULE,
    &stateful::weak_readiness_probe::RULE,
    &webhook::unscoped_or_unavailable::RULE,
    &workload::replicas_colocated::RULE,
    &workload::replicas_without_spread::RULE,
    &workload::unavailable::RULE,
];

/// Looks a rule up by id.
pub fn find(id: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.meta.id == id)
}

/// Metadata of every rule, scan and change rules alike, sorted by id: what `rules`, `explain`
/// and the README table list.
pub fn metas() -> Vec<&'static Meta> {
    let mut all: Vec<&'static Meta> = ALL
        .iter()
        .map(|r| &r.meta)
        .chain(change::ALL.iter().map(|r| &r.meta))
        .collect();
    all.sort_by_key(|m| m.id);
    all
}

/// Looks any rule's metadata up by id (scan or change rule).
pub fn find_meta(id: &str) -> Option<&'static Meta> {
    find(id)
        .map(|r| &r.meta)
        .or_else(|| change::find(id).map(|r| &r.meta))
}

/// What rules see: the objects, indexed, and the configured rule parameters.
pub struct Context<'a> {
    pub index: Index<'a>,
    /// Rule parameters from the config file (defaults when there is none).
    pub params: &'a Params,
    /// Series fetched from Prometheus (`--prometheus`); `None` when not asked for.
    pub metrics: Option<&'a Runtime>,
    /// Live state is present (a Node, or a Pod with status): `Needs::Cluster` rules run.
    pub live: bool,
}

impl<'a> Context<'a> {
    /// A context with default parameters.
    pub fn new(objects: &'a [Object]) -> Self {
        Self::with_params(objects, Params::defaults())
    }

    /// A context with the parameters of a config file.
    pub fn with_params(objects: &'a [Object], params: &'a Params) -> Self {
        Context {
            index: Index::new(objects),
            params,
            metrics: None,
            live: crate::model::cluster::has_live_state(objects),
        }
    }

    /// Adds runtime signals: rules that need metrics run.
    pub fn with_metrics(mut self, metrics: Option<&'a Runtime>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Whether live cluster state is available for rules that need it.
    pub fn has(&self, needs: Needs) -> bool {
        match needs {
            Needs::Manifests => true,
            Needs::Metrics => self.metrics.is_some(),
            Needs::Cluster => self.live,
            // Change rules run only in `hindsight diff`, over a `DiffContext`.
            Needs::Diff => false,
        }
    }
}

/// The object a finding is about, as in the JSON report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn of(object: &Object) -> ObjectRef {
        ObjectRef {
            api_version: object.api_version.clone(),
            kind: object.kind.clone(),
            namespace: object.namespace.clone(),
            name: object.name.clone(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Where a finding points.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
}

/// One condition found, tied to the incidents it echoes.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub object: ObjectRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub location: Location,
    pub message: String,
    pub stories: Vec<Story>,
    /// Line where the object starts (the location may point deeper).
    #[serde(skip)]
    pub object_line: u32,
}

impl Finding {
    /// A fingerprint that survives line moves, file moves and reordering: the rule, the
    /// object's group/kind/namespace/name, the container, and the message with its numbers
    /// removed (so "3 replicas" becoming "4 replicas" is still the same finding).
    /// Used by baselines, SARIF `partialFingerprints` and `hindsight diff`.
    pub fn fingerprint(&self) -> String {
        let group = self
            .object
            .api_version
            .rsplit_once('/')
            .map_or("", |(g, _)| g);
        let message: String = self
            .message
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        let parts = [
            self.rule,
            group,
            &self.object.kind,
            self.object.namespace.as_deref().unwrap_or("default"),
            &self.object.name,
            self.container.as_deref().unwrap_or(""),
            &message,
        ];
        // FNV-1a, 64 bit: stable across Rust versions and platforms, unlike `DefaultHasher`.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in parts {
            for byte in part.bytes().chain(std::iter::once(0xff)) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{hash:016x}")
    }
}

/// Collects one rule's findings.
pub struct Sink {
    meta: &'static Meta,
    pub findings: Vec<Finding>,
    /// Set when the rule could not judge its input (e.g. a metric family is absent): the rule
    /// counts as not run, with this reason, never as passing.
    pub not_run: Option<String>,
}

impl Sink {
    pub fn new(meta: &'static Meta) -> Self {
        Sink {
            meta,
            findings: Vec::new(),
            not_run: None,
        }
    }

    /// Marks the rule as not run for `reason` (its findings, if any, are kept).
    pub fn not_run(&mut self, reason: impl Into<String>) {
        self.not_run.get_or_insert_with(|| reason.into());
    }

    /// Reports a finding on an object that may not be in the loaded manifests (a pod or node
    /// seen only in metrics): the caller gives the reference and location.
    pub fn report_ref(
        &mut self,
        object: ObjectRef,
        container: Option<&str>,
        location: Location,
        message: impl Into<String>,
    ) -> &mut Finding {
        let object_line = location.line;
        self.findings.push(Finding {
            rule: self.meta.id,
            severity: self.meta.severity,
            object,
            container: container.map(str::to_owned),
            location,
            message: message.into(),
            stories: self.meta.stories.to_vec(),
            object_line,
        });
        self.findings.last_mut().expect("just pushed")
    }

    /// Reports a finding on `object` (and `container`, when it is about one), pointing at the
    /// line of `at` when given, else at the object. Returns it so the rule can adjust severity.
    pub fn report(
        &mut self,
        object: &Object,
        container: Option<&str>,
        at: Option<&Node>,
        message: impl Into<String>,
    ) -> &mut Finding {
        let line = at.map(|n| n.line).filter(|&l| l > 0).unwrap_or(object.line);
        self.findings.push(Finding {
            rule: self.meta.id,
            severity: self.meta.severity,
            object: ObjectRef::of(object),
            container: container.map(str::to_owned),
            location: Location {
                file: object.file.clone(),
                line,
            },
            message: message.into(),
            stories: self.meta.stories.to_vec(),
            object_line: object.line,
        });
        self.findings.last_mut().expect("just pushed")
    }
}

/// Runs every rule that can run on this context. A rule that panics does not take the others
/// down: its panic becomes an error message. Returns findings sorted by file, line and rule.
pub fn run(cx: &Context<'_>, rules: &[&'static Rule]) -> RunResult {
    use rayon::prelude::*;
    type One = (
        Vec<Finding>,
        Option<String>,
        Option<&'static str>,
        Option<String>,
    );
    let one = |rule: &&'static Rule| -> One {
        if !cx.has(rule.meta.needs) {
            return (Vec::new(), None, Some(rule.meta.id), None);
        }
        let mut sink = Sink::new(&rule.meta);
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (rule.check)(cx, &mut sink)));
        match outcome {
            Ok(()) => {
                let not_run = sink.not_run.as_ref().map(|_| rule.meta.id);
                let reason = sink
                    .not_run
                    .map(|why| format!("rule `{}` not run: {why}", rule.meta.id));
                (sink.findings, None, not_run, reason)
            }
            Err(_) => (
                Vec::new(),
                Some(format!(
                    "internal error: rule `{}` panicked; its findings are missing (please report this)",
                    rule.meta.id
                )),
                None,
                None,
            ),
        }
    };
    let results: Vec<One> = if SEQUENTIAL.get() {
        rules.iter().map(one).collect()
    } else {
        rules.par_iter().map(one).collect()
    };
    let mut out = RunResult::default();
    for (findings, error, not_run, reason) in results {
        out.findings.extend(findings);
        out.internal_errors.extend(error);
        out.not_run.extend(not_run);
        out.not_run_reasons.extend(reason);
    }
    out.findings.sort_by(|a, b| {
        (&a.location, a.rule, &a.object, &a.container).cmp(&(
            &b.location,
            b.rule,
            &b.object,
            &b.container,
        ))
    });
    out
}

thread_local! {
    static SEQUENTIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with [`run`] evaluating rules one after another on the calling thread instead of on
/// rayon's pool. For one object (an admission review) the rules take microseconds, and handing
/// them to the pool (inject, wake its threads, block on a latch) costs more than running them,
/// while concurrent requests already keep every core busy.
pub fn sequentially<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SEQUENTIAL.set(self.0);
        }
    }
    let _restore = Restore(SEQUENTIAL.replace(true));
    f()
}

/// What running the rules produced.
#[derive(Debug, Default)]
pub struct RunResult {
    pub findings: Vec<Finding>,
    pub internal_errors: Vec<String>,
    pub not_run: Vec<&'static str>,
    /// Why rules that could run anyway did not judge (absent metric families), one line each.
    pub not_run_reasons: Vec<String>,
}

/// Test support: a path under the shared corpus (`../shared/corpus/<rel>` beside the checkout,
/// or two levels up for a worktree), when it exists. Tests skip with a notice otherwise.
#[cfg(test)]
pub(crate) fn shared_corpus(rel: &str) -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    ["../shared/corpus", "../../shared/corpus"]
        .iter()
        .map(|base| root.join(base).join(rel))
        .find(|p| p.exists())
}

/// Test support: load YAML, run one rule, return its findings.
#[cfg(test)]
pub(crate) fn check(rule: &'static Rule, yaml: &str) -> Vec<Finding> {
    check_with(rule, yaml, Params::defaults())
}

/// Test support: [`check`] with the parameters of a config file.
#[cfg(test)]
pub(crate) fn check_with(rule: &'static Rule, yaml: &str, params: &Params) -> Vec<Finding> {
    let loaded = crate::load::load_bytes(Arc::from("test.yaml"), yaml.as_bytes(), None);
    assert!(
        loaded.errors.is_empty(),
        "fixture has errors: {:?}",
        loaded.errors
    );
    let cx = Context::with_params(&loaded.objects, params);
    let mut sink = Sink::new(&rule.meta);
    (rule.check)(&cx, &mut sink);
    sink.findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sorted_and_well_formed() {
        let ids: Vec<&str> = ALL.iter().map(|r| r.meta.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "ALL must be sorted by id with no duplicates");
        for rule in ALL {
            let (area, name) = rule.meta.id.split_once('.').expect("area.condition");
            assert!(
                [area, name].iter().all(|p| !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')),
                "{}",
                rule.meta.id
            );
            assert!(
                !rule.meta.stories.is_empty(),
                "{} names no story",
                rule.meta.id
            );
            assert!(!rule.meta.rationale.is_empty() && !rule.meta.remediation.is_empty());
        }
    }

    #[test]
    fn rule_files_match_ids() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules");
        for rule in ALL {
            let (area, name) = rule.meta.id.split_once('.').expect("area.condition");
            let file = root
                .join(area.replace('-', "_"))
                .join(format!("{}.rs", name.replace('-', "_")));
            assert!(
                file.exists(),
                "{} should live in {}",
                rule.meta.id,
                file.display()
            );
        }
    }

    #[test]
    fn every_cluster_example_fires_its_own_rule_with_live_state() {
        for rule in ALL.iter().filter(|r| r.meta.needs == Needs::Cluster) {
            let loaded = crate::load::load_bytes(
                Arc::from("example.json"),
                rule.meta.example.as_bytes(),
                None,
            );
            assert!(
                loaded.errors.is_empty(),
                "{}: {:?}",
                rule.meta.id,
                loaded.errors
            );
            let findings = check(rule, rule.meta.example);
            assert!(
                findings.iter().any(|f| f.rule == rule.meta.id),
                "the example of {} does not fire it",
                rule.meta.id
            );
        }
    }

    #[test]
    fn every_example_fires_its_own_rule() {
        for rule in ALL.iter().filter(|r| r.meta.needs == Needs::Manifests) {
            let findings = check(rule, rule.meta.example);
            assert!(
                findings.iter().any(|f| f.rule == rule.meta.id),
                "the example of {} does not fire it",
                rule.meta.id
            );
        }
    }

    static THREADS: std::sync::Mutex<Vec<std::thread::ThreadId>> =
        std::sync::Mutex::new(Vec::new());

    fn records_thread(_: &Context<'_>, _: &mut Sink) {
        THREADS
            .lock()
            .expect("not poisoned")
            .push(std::thread::current().id());
    }

    #[test]
    fn sequentially_runs_every_rule_on_the_calling_thread_and_restores() {
        const META: Meta = Meta {
            id: "test.records-thread",
            title: "records its thread",
            severity: Severity::Info,
            stories: &[],
            needs: Needs::Manifests,
            rationale: "test",
            remediation: "test",
            example: "",
        };
        static RULE: Rule = Rule {
            meta: META,
            check: records_thread,
        };
        let rules: Vec<&'static Rule> = vec![&RULE; 64];
        let cx = Context::new(&[]);
        let result = sequentially(|| run(&cx, &rules));
        assert!(result.internal_errors.is_empty());
        let me = std::thread::current().id();
        let seen = std::mem::take(&mut *THREADS.lock().expect("not poisoned"));
        assert_eq!(seen.len(), 64);
        assert!(
            seen.iter().all(|t| *t == me),
            "a rule ran on another thread"
        );
        assert!(
            !SEQUENTIAL.get(),
            "the flag is restored after `sequentially`"
        );
    }
}
