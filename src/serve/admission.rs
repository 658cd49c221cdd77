//! AdmissionReview (admission.k8s.io/v1) in, decision out.
//!
//! Our own serde types rather than kube's `admission` module: the webhook needs eight request
//! fields and five response fields, and kube-core's types would pull k8s-openapi (a 40 s+ build)
//! and its Kubernetes-version feature into every build of the scanner. The shapes follow the
//! API server's `admission.k8s.io/v1` types field for field; the object stays raw JSON until the
//! loader turns it into an [`Object`], so the webhook sees exactly what `hindsight scan` sees.
//!
//! Invariants: every well-formed review gets a response carrying its `uid`; a decision is
//! computed only from findings on the reviewed object; an internal error never turns into a
//! silent allow (see [`FailureMode`]); this module does no IO and no async.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::load::Object;
use crate::rules::{Finding, Rule, Severity};

use super::state::Snapshot;

/// The only API version this webhook speaks (`admissionReviewVersions: [v1]`).
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// At most this many warnings per response: kubectl prints each on its own line and the API
/// server caps the total size of warnings, so the rest are summarised in one line.
pub const MAX_WARNINGS: usize = 8;
/// Kubernetes asks webhooks to keep each warning under 120 characters.
pub const MAX_WARNING_CHARS: usize = 120;
/// At most this many findings are listed in a denial message.
const MAX_DENIAL_FINDINGS: usize = 10;

/// The warning added when rules that relate objects ran without cluster state.
pub const STATE_NOT_LOADED: &str =
    "cluster state not loaded: rules that relate objects ran on this object alone";

/// What to answer when the webhook itself fails (a rule panics, evaluation times out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailureMode {
    /// Deny with a message naming the internal error (matches `failurePolicy: Fail`).
    Deny,
    /// Allow, with a warning naming the internal error (matches `failurePolicy: Ignore`).
    Allow,
}

impl FailureMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMode::Deny => "deny",
            FailureMode::Allow => "allow",
        }
    }
}

/// Thresholds and failure mode.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub deny_at: Severity,
    pub warn_at: Severity,
    pub failure_mode: FailureMode,
}

/// `{group, version, kind}` as in `request.kind`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

#[derive(Deserialize)]
struct ReviewIn {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    request: Option<RequestIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn {
    uid: String,
    kind: GroupVersionKind,
    #[serde(default)]
    sub_resource: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    operation: String,
    #[serde(default)]
    object: Option<Box<RawValue>>,
    #[serde(default)]
    old_object: Option<Box<RawValue>>,
    #[serde(default)]
    dry_run: Option<bool>,
}

/// One admission request, parsed; the objects are still raw JSON.
#[derive(Debug)]
pub struct Review {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub sub_resource: String,
    pub name: String,
    pub namespace: String,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    pub object: Option<Box<RawValue>>,
    pub old_object: Option<Box<RawValue>>,
    /// Evaluated the same way as a real request: `kubectl apply --dry-run=server` should show
    /// the denial the real apply would get.
    pub dry_run: bool,
}

/// Why a body is not a review we can answer; becomes an HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

/// Parses a request body. Only `AdmissionReview` in `admission.k8s.io/v1` with a `request`
/// carrying a non-empty `uid` is accepted.
pub fn parse(body: &[u8]) -> Result<Review, Invalid> {
    let review: ReviewIn = serde_json::from_slice(body)
        .map_err(|e| Invalid(format!("malformed AdmissionReview: {e}")))?;
    if review.kind != "AdmissionReview" {
        return Err(Invalid(format!(
            "expected kind AdmissionReview, got `{}`",
            review.kind
        )));
    }
    if review.api_version != API_VERSION {
        return Err(Invalid(format!(
            "expected apiVersion {API_VERSION}, got `{}` (set admissionReviewVersions: [v1])",
            review.api_version
        )));
    }
    let request = review
        .request
        .ok_or_else(|| Invalid("AdmissionReview has no `request`".into()))?;
    if request.uid.is_empty() {
        return Err(Invalid("AdmissionReview request has an empty `uid`".into()));
    }
    // A JSON `null` object arrives as `None` already; keep that the only "absent" form.
    Ok(Review {
        uid: request.uid,
        kind: request.kind,
        sub_resource: request.sub_resource,
        name: request.name,
        namespace: request.namespace,
        operation: request.operation,
        object: request.object,
        old_object: request.old_object,
        dry_run: request.dry_run.unwrap_or(false),
    })
}

/// `response` of an AdmissionReview.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Response {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
}

/// The `metav1.Status` subset the API server reads from a webhook: `code` and `message` go to
/// the client; `reason` is shown by kubectl when there is no message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub code: u16,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub reason: String,
    pub message: String,
}

/// The full review sent back.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReviewOut {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub response: Response,
}

impl Response {
    pub fn into_review(self) -> ReviewOut {
        ReviewOut {
            api_version: API_VERSION.into(),
            kind: "AdmissionReview".into(),
            response: self,
        }
    }

    /// The answer to a body that is not a valid review: empty uid (there is none to copy).
    pub fn invalid(message: &str) -> Response {
        Response {
            uid: String::new(),
            allowed: false,
            status: Some(Status {
                code: 400,
                reason: "BadRequest".into(),
                message: message.into(),
            }),
            warnings: Vec::new(),
        }
    }
}

/// The result of running the rules on a review.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Findings on the reviewed object.
    pub findings: Vec<Finding>,
    /// Fingerprints of findings the old object (UPDATE) already had.
    pub preexisting: Vec<String>,
    /// Rules that panicked, and other failures inside the evaluation.
    pub internal_errors: Vec<String>,
    /// What the loader found wrong with the object (e.g. an env value that is not a string).
    pub input_problems: Vec<String>,
    /// Whether related objects came from cluster state.
    pub state_used: bool,
}

/// Which objects the rules saw besides the reviewed one.
fn related<'s>(snapshot: Option<&'s Snapshot>, namespace: Option<&str>) -> Vec<&'s Object> {
    let Some(snapshot) = snapshot else {
        return Vec::new();
    };
    let in_namespace = snapshot
        .by_namespace
        .get(namespace.unwrap_or("default"))
        .map_or(&[][..], Vec::as_slice);
    snapshot
        .cluster_scoped
        .iter()
        .chain(in_namespace)
        .map(|&i| &snapshot.all[i])
        .collect()
}

fn same_object(a: &Object, b: &Object) -> bool {
    a.kind == b.kind && a.group() == b.group() && a.name == b.name && a.namespace == b.namespace
}

/// Loads a raw object with the scanner's JSON loader, named `admission:<ns>/<kind>/<name>`.
fn load_object(raw: &RawValue, file: &Arc<str>, review: &Review) -> Result<Object, String> {
    let loaded = crate::load::load_bytes(file.clone(), raw.get().as_bytes(), None);
    let mut object = loaded.objects.into_iter().next().ok_or_else(|| {
        loaded
            .errors
            .first()
            .map(|e| e.message.clone())
            .unwrap_or_else(|| "object has no apiVersion or kind".into())
    })?;
    // On CREATE the API server may send an object without `metadata.namespace` (it comes from
    // the request path); relations (PDBs, Services) are matched by namespace, so fill it in.
    if object.namespace.is_none() && !review.namespace.is_empty() {
        object.namespace = Some(review.namespace.clone());
    }
    if object.name.is_empty() && !review.name.is_empty() {
        object.name = review.name.clone();
    }
    Ok(object)
}

/// Runs `rules` over the reviewed object, together with the objects of its namespace from
/// `snapshot` (minus the stored version of the object itself), under `config` (rules disabled,
/// severity overrides, excluded namespaces and kinds). Findings on other objects are dropped:
/// the decision is about this object only.
pub fn evaluate(
    review: &Review,
    rules: &[&'static Rule],
    snapshot: Option<&Snapshot>,
    config: &crate::config::Config,
) -> Result<Evaluation, Invalid> {
    let name = if review.name.is_empty() {
        "(generated)"
    } else {
        &review.name
    };
    let file: Arc<str> = Arc::from(format!(
        "admission:{}/{}/{}",
        if review.namespace.is_empty() {
            "-"
        } else {
            &review.namespace
        },
        review.kind.kind,
        name
    ));
    let raw = review
        .object
        .as_deref()
        .ok_or_else(|| Invalid(format!("{} request has no `object`", review.operation)))?;
    let object = load_object(raw, &file, review).map_err(Invalid)?;
    let related = related(snapshot, object.namespace.as_deref());
    let run = |object: Object| {
        let mut objects: Vec<Object> = related
            .iter()
            .filter(|o| !same_object(o, &object))
            .map(|o| (*o).clone())
            .collect();
        objects.push(object);
        // One review is one object: rayon's hand-off would cost more than the rules, and
        // concurrent reviews already occupy the cores.
        let outcome = crate::rules::sequentially(|| {
            crate::analyse(
                crate::load::Loaded {
                    objects,
                    ..Default::default()
                },
                rules,
                config,
            )
        });
        let findings: Vec<Finding> = outcome
            .findings
            .into_iter()
            .filter(|f| f.location.file == file)
            .collect();
        // `analyse` files rule panics under `<hindsight>`; anything else is about the input.
        let (internal, input): (Vec<_>, Vec<_>) = outcome
            .errors
            .into_iter()
            .partition(|e| &*e.file == "<hindsight>");
        (
            findings,
            internal.into_iter().map(|e| e.message).collect::<Vec<_>>(),
            input.into_iter().map(|e| e.message).collect::<Vec<_>>(),
        )
    };
    let (findings, mut internal_errors, input_problems) = run(object);
    let mut preexisting = Vec::new();
    if review.operation == "UPDATE"
        && !findings.is_empty()
        && let Some(old) = review.old_object.as_deref()
        && let Ok(old) = load_object(old, &file, review)
    {
        let (old_findings, old_errors, _) = run(old);
        preexisting = old_findings.iter().map(Finding::fingerprint).collect();
        internal_errors.extend(old_errors);
        internal_errors.dedup();
    }
    Ok(Evaluation {
        findings,
        preexisting,
        internal_errors,
        input_problems,
        state_used: snapshot.is_some(),
    })
}

/// The decision, with what the metrics need.
#[derive(Debug)]
pub struct Decision {
    pub response: Response,
    /// Rules behind a denial (one entry per finding at or above `deny_at`).
    pub denied_by: Vec<&'static str>,
    /// `allowed`, `denied` or `error` (an internal error decided the answer).
    pub result: &'static str,
}

/// Shortens to `max` characters, ending in `…` when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn story_tag(finding: &Finding) -> String {
    finding
        .stories
        .first()
        .map(|s| format!(" [{} {}]", s.info().org, s.info().year))
        .unwrap_or_default()
}

/// Turns an evaluation into the answer: deny when a finding not already present before this
/// update is at or above `deny_at`; warn for the rest at or above `warn_at`.
pub fn decide(review: &Review, eval: &Evaluation, policy: &Policy) -> Decision {
    let mut blocking: Vec<&Finding> = Vec::new();
    let mut warn: Vec<String> = Vec::new();
    for f in &eval.findings {
        let old = eval.preexisting.contains(&f.fingerprint());
        if f.severity >= policy.deny_at && !old {
            blocking.push(f);
        } else if f.severity >= policy.warn_at || (f.severity >= policy.deny_at && old) {
            let prefix = if old { "(already present) " } else { "" };
            warn.push(format!("{prefix}{} {}: {}", f.severity, f.rule, f.message));
        }
    }
    let mut warnings: Vec<String> = Vec::new();
    if !eval.internal_errors.is_empty() {
        let what = eval.internal_errors.join("; ");
        warnings.push(match (policy.failure_mode, blocking.is_empty()) {
            (FailureMode::Allow, true) => {
                format!("hindsight internal error, allowed (failure mode allow): {what}")
            }
            _ => format!("hindsight internal error: {what}"),
        });
    }
    warnings.extend(
        eval.input_problems
            .iter()
            .take(2)
            .map(|p| format!("input: {p}")),
    );
    if !eval.state_used {
        warnings.push(STATE_NOT_LOADED.into());
    }
    let room = MAX_WARNINGS.saturating_sub(warnings.len() + 1);
    let extra = warn.len().saturating_sub(room);
    let shown = if extra > 0 { room } else { warn.len() };
    warnings.extend(warn.into_iter().take(shown));
    if extra > 0 {
        warnings.push(format!(
            "{extra} more findings: run `hindsight scan` on this manifest"
        ));
    }
    let warnings: Vec<String> = warnings
        .iter()
        .map(|w| shorten(w, MAX_WARNING_CHARS))
        .collect();

    let subject = format!(
        "{} {}",
        review.kind.kind,
        if review.name.is_empty() {
            "(generated name)"
        } else {
            &review.name
        }
    );
    if !blocking.is_empty() {
        let mut message = format!(
            "hindsight denied {subject}: {} finding{} at or above {}:",
            blocking.len(),
            if blocking.len() == 1 { "" } else { "s" },
            policy.deny_at
        );
        for f in blocking.iter().take(MAX_DENIAL_FINDINGS) {
            let _ = write!(
                message,
                "\n- {} {}: {}{}",
                f.severity,
                f.rule,
                shorten(&f.message, 300),
                story_tag(f)
            );
        }
        if blocking.len() > MAX_DENIAL_FINDINGS {
            let _ = write!(
                message,
                "\n- and {} more",
                blocking.len() - MAX_DENIAL_FINDINGS
            );
        }
        message.push_str("\n(`hindsight explain <rule>` tells why and how to fix it)");
        return Decision {
            response: Response {
                uid: review.uid.clone(),
                allowed: false,
                status: Some(Status {
                    code: 403,
                    reason: "Forbidden".into(),
                    message,
                }),
                warnings,
            },
            denied_by: blocking.iter().map(|f| f.rule).collect(),
            result: "denied",
        };
    }
    if !eval.internal_errors.is_empty() && policy.failure_mode == FailureMode::Deny {
        return internal_failure(review, &eval.internal_errors.join("; "), policy, warnings);
    }
    Decision {
        response: Response {
            uid: review.uid.clone(),
            allowed: true,
            status: None,
            warnings,
        },
        denied_by: Vec::new(),
        result: if eval.internal_errors.is_empty() {
            "allowed"
        } else {
            "error"
        },
    }
}

/// The explicit answer to an internal error (a panic, a timeout), following the failure mode.
/// Never a bare allow: with `allow`, the warning says the object was not fully checked.
pub fn internal_failure(
    review: &Review,
    what: &str,
    policy: &Policy,
    mut warnings: Vec<String>,
) -> Decision {
    let response = match policy.failure_mode {
        FailureMode::Deny => Response {
            uid: review.uid.clone(),
            allowed: false,
            status: Some(Status {
                code: 500,
                reason: "InternalError".into(),
                message: format!(
                    "hindsight could not check {} {}: {what}; denied because the webhook runs with \
                     --failure-mode deny (retry, or see the webhook's logs)",
                    review.kind.kind, review.name
                ),
            }),
            warnings,
        },
        FailureMode::Allow => {
            if !warnings
                .iter()
                .any(|w| w.starts_with("hindsight internal error"))
            {
                warnings.insert(
                    0,
                    shorten(
                        &format!("hindsight internal error, allowed unchecked (failure mode allow): {what}"),
                        MAX_WARNING_CHARS,
                    ),
                );
            }
            Response {
                uid: review.uid.clone(),
                allowed: true,
                status: None,
                warnings,
            }
        }
    };
    Decision {
        response,
        denied_by: Vec::new(),
        result: "error",
    }
}

/// The answer to operations that carry no new object (DELETE, CONNECT): allowed, nothing to check.
pub fn allow_without_object(review: &Review) -> Decision {
    Decision {
        response: Response {
            uid: review.uid.clone(),
            allowed: true,
            status: None,
            warnings: Vec::new(),
        },
        denied_by: Vec::new(),
        result: "allowed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(object: serde_json::Value, operation: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "0df28fbd-5f5f-11e8-b6a3-42010a800002",
                "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                "name": "api", "namespace": "shop", "operation": operation,
                "userInfo": {"username": "admin"},
                "object": object, "oldObject": null, "dryRun": false
            }
        }))
        .expect("serialisable")
    }

    fn deployment(replicas: i64) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "api"}},
                "template": {"metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "example/api:1",
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"memory": "256Mi"}}}]}}}
        })
    }

    const POLICY: Policy = Policy {
        deny_at: Severity::High,
        warn_at: Severity::Medium,
        failure_mode: FailureMode::Allow,
    };

    #[test]
    fn rejects_what_is_not_a_v1_review() {
        assert!(
            parse(b"{")
                .unwrap_err()
                .0
                .starts_with("malformed AdmissionReview")
        );
        assert!(
            parse(br#"{"apiVersion":"v1","kind":"Pod"}"#)
                .unwrap_err()
                .0
                .contains("kind AdmissionReview")
        );
        let beta = br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","kind":{},"operation":"CREATE"}}"#;
        assert!(
            parse(beta)
                .unwrap_err()
                .0
                .contains("admissionReviewVersions")
        );
        let no_uid = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"","kind":{},"operation":"CREATE"}}"#;
        assert!(parse(no_uid).unwrap_err().0.contains("empty `uid`"));
    }

    #[test]
    fn denies_with_the_finding_and_fills_the_namespace() {
        let r = parse(&review(deployment(3), "CREATE")).expect("valid");
        let eval = evaluate(&r, crate::rules::ALL, None, &Default::default()).expect("evaluates");
        assert_eq!(eval.findings[0].object.namespace.as_deref(), Some("shop"));
        let d = decide(&r, &eval, &POLICY);
        assert!(!d.response.allowed);
        assert_eq!(d.response.uid, "0df28fbd-5f5f-11e8-b6a3-42010a800002");
        let status = d.response.status.expect("status");
        assert_eq!(status.code, 403);
        assert!(
            status.message.contains("workload.replicas-without-spread"),
            "{}",
            status.message
        );
        assert!(status.message.contains("[Moonlight 2019]"));
        assert_eq!(d.denied_by, ["workload.replicas-without-spread"]);
        assert!(d.response.warnings.contains(&STATE_NOT_LOADED.to_string()));
    }

    #[test]
    fn an_update_keeps_preexisting_findings_as_warnings() {
        let mut body: serde_json::Value =
            serde_json::from_slice(&review(deployment(3), "UPDATE")).expect("json");
        body["request"]["oldObject"] = deployment(2);
        let r = parse(&serde_json::to_vec(&body).expect("json")).expect("valid");
        let eval = evaluate(&r, crate::rules::ALL, None, &Default::default()).expect("evaluates");
        let d = decide(&r, &eval, &POLICY);
        assert!(d.response.allowed, "{:?}", d.response);
        assert!(
            d.response
                .warnings
                .iter()
                .any(|w| w.starts_with("(already present) high workload.replicas-without-spread")),
            "{:?}",
            d.response.warnings
        );
    }

    #[test]
    fn warnings_are_short_and_bounded() {
        let eval = Evaluation {
            findings: (0..30)
                .map(|i| {
                    let mut f = evaluate(
                        &parse(&review(deployment(3), "CREATE")).expect("valid"),
                        crate::rules::ALL,
                        None,
                        &Default::default(),
                    )
                    .expect("evaluates")
                    .findings
                    .remove(0);
                    f.severity = Severity::Medium;
                    f.message = format!("{i} {}", "x".repeat(300));
                    f
                })
                .collect(),
            ..Default::default()
        };
        let r = parse(&review(deployment(3), "CREATE")).expect("valid");
        let d = decide(&r, &eval, &POLICY);
        assert!(d.response.allowed);
        assert_eq!(d.response.warnings.len(), MAX_WARNINGS);
        assert!(
            d.response
                .warnings
                .iter()
                .all(|w| w.chars().count() <= MAX_WARNING_CHARS)
        );
        assert!(
            d.response
                .warnings
                .last()
                .expect("some")
                .starts_with("24 more findings")
        );
    }

    #[test]
    fn internal_errors_follow_the_failure_mode() {
        let r = parse(&review(deployment(1), "CREATE")).expect("valid");
        let eval = Evaluation {
            internal_errors: vec!["rule `x` panicked".into()],
            state_used: true,
            ..Default::default()
        };
        let allow = decide(&r, &eval, &POLICY);
        assert!(allow.response.allowed);
        assert_eq!(allow.result, "error");
        assert!(allow.response.warnings[0].contains("rule `x` panicked"));
        let deny = decide(
            &r,
            &eval,
            &Policy {
                failure_mode: FailureMode::Deny,
                ..POLICY
            },
        );
        assert!(!deny.response.allowed);
        assert_eq!(deny.response.status.expect("status").code, 500);
    }
}
