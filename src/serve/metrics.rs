//! The webhook's Prometheus metrics (OpenMetrics text via prometheus-client).
//!
//! Names, as a scraper stores them (counters get `_total`):
//! - `hindsight_admission_requests_total{operation,result}`: result is `allowed`, `denied`,
//!   `error` (an internal error decided the answer) or `invalid` (HTTP 4xx: malformed review,
//!   body too large).
//! - `hindsight_admission_denials_total{rule}`: one per denying finding.
//! - `hindsight_admission_duration_seconds`: histogram of the time to answer a review.
//! - `hindsight_internal_errors_total{kind}`: `rule_panic`, `evaluation_panic`,
//!   `evaluation_timeout`, `request_timeout`, `tls_reload`, `state_read`, `config_reload`.
//! - `hindsight_audit_findings{rule,severity,namespace}`: findings of the last audit (gauge; a
//!   series disappears when its findings are fixed).
//! - `hindsight_audit_runs_total{result}`, `hindsight_audit_last_success_timestamp_seconds`,
//!   `hindsight_state_objects`, `hindsight_tls_reloads_total{result}`.
//! - `hindsight_config_info{file,hash}`: 1 for the `--config` in force (`hash` is the FNV-1a of
//!   its bytes, as `/readyz` shows it); `hindsight_config_reloads_total{result}`.
//!
//! Label values are bounded: operations and results are fixed sets, rules come from the registry,
//! namespaces from the cluster.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::rules::Finding;

type Labels = Vec<(&'static str, String)>;

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    denials: Family<Labels, Counter>,
    duration: Histogram,
    internal_errors: Family<Labels, Counter>,
    audit_findings: Family<Labels, Gauge>,
    audit_runs: Family<Labels, Counter>,
    audit_last_success: Gauge<f64, std::sync::atomic::AtomicU64>,
    state_objects: Gauge,
    tls_reloads: Family<Labels, Counter>,
    config_info: Family<Labels, Gauge>,
    config_reloads: Family<Labels, Counter>,
}

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hindsight");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission reviews answered, by operation and result",
            requests.clone(),
        );
        let denials = Family::<Labels, Counter>::default();
        registry.register(
            "admission_denials",
            "Findings that denied an admission request, by rule",
            denials.clone(),
        );
        // 0.25 ms .. 8 s: a review is ~1 ms; the API server gives up at timeoutSeconds (≤ 30 s).
        let duration = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            0.00025, 2.0, 16,
        ));
        registry.register(
            "admission_duration_seconds",
            "Time to answer an admission review",
            duration.clone(),
        );
        let internal_errors = Family::<Labels, Counter>::default();
        registry.register(
            "internal_errors",
            "Internal errors (rule panics, timeouts, reload failures), by kind",
            internal_errors.clone(),
        );
        let audit_findings = Family::<Labels, Gauge>::default();
        registry.register(
            "audit_findings",
            "Findings of the last periodic audit of the cluster state, by rule, severity and namespace",
            audit_findings.clone(),
        );
        let audit_runs = Family::<Labels, Counter>::default();
        registry.register(
            "audit_runs",
            "Periodic audits run, by result",
            audit_runs.clone(),
        );
        let audit_last_success = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "audit_last_success_timestamp_seconds",
            "Unix time of the last successful audit",
            audit_last_success.clone(),
        );
        let state_objects = Gauge::default();
        registry.register(
            "state_objects",
            "Objects in the cluster state snapshot",
            state_objects.clone(),
        );
        let tls_reloads = Family::<Labels, Counter>::default();
        registry.register(
            "tls_reloads",
            "Certificate reloads after the files changed, by result",
            tls_reloads.clone(),
        );
        let config_info = Family::<Labels, Gauge>::default();
        registry.register(
            "config_info",
            "The configuration in force: its file and the FNV-1a hash of its bytes",
            config_info.clone(),
        );
        let config_reloads = Family::<Labels, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads after the file changed, by result",
            config_reloads.clone(),
        );
        Metrics {
            registry,
            requests,
            denials,
            duration,
            internal_errors,
            audit_findings,
            audit_runs,
            audit_last_success,
            state_objects,
            tls_reloads,
            config_info,
            config_reloads,
        }
    }

    /// Records one answered review.
    pub fn request(&self, operation: &str, result: &'static str, seconds: f64) {
        // The API server only sends these four; anything else is a hand-made request.
        let operation = match operation {
            "CREATE" | "UPDATE" | "DELETE" | "CONNECT" => operation,
            _ => "unknown",
        };
        self.requests
            .get_or_create(&vec![
                ("operation", operation.to_owned()),
                ("result", result.to_owned()),
            ])
            .inc();
        self.duration.observe(seconds);
    }

    pub fn denial(&self, rule: &str) {
        self.denials
            .get_or_create(&vec![("rule", rule.to_owned())])
            .inc();
    }

    pub fn internal_error(&self, kind: &'static str) {
        self.internal_errors
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }

    pub fn tls_reload(&self, ok: bool) {
        self.tls_reloads
            .get_or_create(&vec![(
                "result",
                if ok { "success" } else { "failure" }.to_owned(),
            )])
            .inc();
        if !ok {
            self.internal_error("tls_reload");
        }
    }

    /// Publishes the configuration now in force (one series: the previous one is removed).
    pub fn config_in_force(&self, file: &str, hash: &str) {
        self.config_info.clear();
        self.config_info
            .get_or_create(&vec![("file", file.to_owned()), ("hash", hash.to_owned())])
            .set(1);
    }

    pub fn config_reload(&self, ok: bool) {
        self.config_reloads
            .get_or_create(&vec![(
                "result",
                if ok { "success" } else { "failure" }.to_owned(),
            )])
            .inc();
        if !ok {
            self.internal_error("config_reload");
        }
    }

    pub fn state_objects(&self, n: usize) {
        self.state_objects.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Replaces the audit gauges with the counts of this run's findings.
    pub fn audit(&self, findings: &[Finding]) {
        let mut counts: std::collections::BTreeMap<(&str, &str, String), i64> =
            std::collections::BTreeMap::new();
        for f in findings {
            let ns = f.object.namespace.clone().unwrap_or_else(|| {
                if cluster_scoped(&f.object.kind) {
                    ""
                } else {
                    "default"
                }
                .to_owned()
            });
            *counts.entry((f.rule, f.severity.as_str(), ns)).or_default() += 1;
        }
        self.audit_findings.clear();
        for ((rule, severity, namespace), n) in counts {
            self.audit_findings
                .get_or_create(&vec![
                    ("rule", rule.to_owned()),
                    ("severity", severity.to_owned()),
                    ("namespace", namespace),
                ])
                .set(n);
        }
        self.audit_runs
            .get_or_create(&vec![("result", "success".to_owned())])
            .inc();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.audit_last_success.set(now);
    }

    pub fn audit_failed(&self) {
        self.audit_runs
            .get_or_create(&vec![("result", "failure".to_owned())])
            .inc();
    }

    /// The exposition text, ending in `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Node"
            | "Namespace"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "ValidatingWebhookConfiguration"
            | "MutatingWebhookConfiguration"
            | "CustomResourceDefinition"
            | "PersistentVolume"
            | "StorageClass"
            | "PriorityClass"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_and_labels() {
        let m = Metrics::new();
        m.request("CREATE", "denied", 0.002);
        m.request("PATCH?", "invalid", 0.001);
        m.denial("workload.replicas-without-spread");
        let text = m.encode();
        assert!(
            text.contains(
                "hindsight_admission_requests_total{operation=\"CREATE\",result=\"denied\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("operation=\"unknown\""));
        assert!(text.contains("hindsight_admission_duration_seconds_count 2"));
        assert!(text.ends_with("# EOF\n"));
    }
}
