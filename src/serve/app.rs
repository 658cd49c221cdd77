//! The HTTP side: routes, body limit, request timeout, and the isolation that keeps a panicking
//! or slow evaluation from taking the server down or answering by accident.
//!
//! Routes: `POST /validate` (AdmissionReview v1), `GET /healthz` (the process answers),
//! `GET /readyz` (TLS loaded and not shutting down; says whether cluster state is loaded),
//! `GET /metrics` (OpenMetrics text).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State as Extract};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};

use super::admission::{self, Decision, Invalid, Policy, Response};
use super::metrics::{self, Metrics};
use super::state::State;
use crate::rules::Rule;

/// Largest review accepted. A review carries `object` and `oldObject`, each up to etcd's
/// 1.5 MiB object limit, plus JSON overhead; axum's 2 MB default would refuse real updates.
pub const MAX_BODY: usize = 8 << 20;

/// What every handler shares.
pub struct App {
    pub policy: Policy,
    pub rules: &'static [&'static Rule],
    /// `--config`, reloaded when its file changes; each review reads the one in force.
    pub config: Arc<super::rules_config::Live>,
    pub metrics: Arc<Metrics>,
    pub state: Arc<State>,
    /// Where cluster state comes from, for `/readyz`; `None` when no provider is configured.
    pub state_source: Option<String>,
    pub tls_loaded: AtomicBool,
    pub shutting_down: AtomicBool,
    /// Whole request, body included: a slow client cannot hold a worker longer.
    pub request_timeout: Duration,
    /// Rule evaluation alone; shorter than `request_timeout` so that a slow evaluation still
    /// gets an explicit answer in the failure mode rather than a bare 408.
    pub eval_timeout: Duration,
    /// Evaluations running at once, one per core. Rules are CPU work: more blocking threads
    /// than cores only add context switches, so excess reviews wait here, inside the evaluation
    /// timeout (docs/webhook.md has the before/after figures).
    pub evaluations: Arc<tokio::sync::Semaphore>,
}

/// The router, with state; tests can drive it without a socket.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(app.clone(), request_timeout))
        .with_state(app)
}

async fn request_timeout(
    Extract(app): Extract<Arc<App>>,
    req: Request,
    next: Next,
) -> HttpResponse {
    match tokio::time::timeout(app.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            app.metrics.internal_error("request_timeout");
            super::log(
                "warn",
                &format!(
                    "request not completed within {:?} (slow client?)",
                    app.request_timeout
                ),
            );
            (
                StatusCode::REQUEST_TIMEOUT,
                format!("request not completed within {:?}\n", app.request_timeout),
            )
                .into_response()
        }
    }
}

fn review_reply(status: StatusCode, response: Response) -> HttpResponse {
    (status, axum::Json(response.into_review())).into_response()
}

async fn validate(
    Extract(app): Extract<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> HttpResponse {
    let started = Instant::now();
    let elapsed = |started: Instant| started.elapsed().as_secs_f64();
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("request body larger than {MAX_BODY} bytes")
            } else {
                rejection.body_text()
            };
            app.metrics.request("unknown", "invalid", elapsed(started));
            let mut response = Response::invalid(&message);
            if let Some(s) = response.status.as_mut() {
                s.code = status.as_u16();
            }
            return review_reply(status, response);
        }
    };
    let review = match admission::parse(&body) {
        Ok(review) => review,
        Err(Invalid(message)) => {
            app.metrics.request("unknown", "invalid", elapsed(started));
            super::log("warn", &format!("rejected a malformed review: {message}"));
            return review_reply(StatusCode::BAD_REQUEST, Response::invalid(&message));
        }
    };
    let operation = review.operation.clone();
    let decision = if matches!(operation.as_str(), "DELETE" | "CONNECT") {
        // Nothing new is created: no rule has anything to say about a deletion.
        admission::allow_without_object(&review)
    } else {
        match evaluate(&app, review).await {
            Ok(decision) => decision,
            Err((uid, Invalid(message))) => {
                app.metrics.request(&operation, "invalid", elapsed(started));
                let mut response = Response::invalid(&message);
                response.uid = uid;
                return review_reply(StatusCode::BAD_REQUEST, response);
            }
        }
    };
    for rule in &decision.denied_by {
        app.metrics.denial(rule);
    }
    app.metrics
        .request(&operation, decision.result, elapsed(started));
    review_reply(StatusCode::OK, decision.response)
}

/// Runs the rules on a blocking thread (they are CPU work) under a timeout. A panic anywhere in
/// the evaluation surfaces as a `JoinError` here and becomes an explicit failure-mode answer.
async fn evaluate(
    app: &Arc<App>,
    review: admission::Review,
) -> Result<Decision, (String, Invalid)> {
    let review = Arc::new(review);
    let snapshot = app.state.get();
    let config = app.config.get();
    let task = {
        let review = review.clone();
        let rules = app.rules;
        let evaluations = app.evaluations.clone();
        // Waiting for a permit counts against the evaluation timeout; the permit is released
        // when the evaluation ends, even one that outlived its timeout, so CPU work never
        // exceeds the cores.
        async move {
            let permit = evaluations
                .acquire_owned()
                .await
                .expect("the evaluation semaphore is never closed");
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                admission::evaluate(&review, rules, snapshot.as_deref(), &config.config)
            })
            .await
        }
    };
    let what = |detail: &str| {
        format!(
            "{} {}/{} uid {}: {detail}",
            review.kind.kind, review.namespace, review.name, review.uid
        )
    };
    match tokio::time::timeout(app.eval_timeout, task).await {
        Ok(Ok(Ok(eval))) => {
            for error in &eval.internal_errors {
                app.metrics.internal_error("rule_panic");
                super::log("error", &what(error));
            }
            let decision = admission::decide(&review, &eval, &app.policy);
            if !decision.response.allowed {
                super::log(
                    "info",
                    &what(&format!(
                        "denied{} by {}",
                        if review.dry_run { " (dry run)" } else { "" },
                        decision.denied_by.join(", ")
                    )),
                );
            }
            Ok(decision)
        }
        Ok(Ok(Err(invalid))) => Err((review.uid.clone(), invalid)),
        Ok(Err(join_error)) => {
            app.metrics.internal_error("evaluation_panic");
            super::log(
                "error",
                &what(&format!("evaluation panicked: {join_error}")),
            );
            Ok(admission::internal_failure(
                &review,
                "the evaluation panicked",
                &app.policy,
                Vec::new(),
            ))
        }
        Err(_) => {
            app.metrics.internal_error("evaluation_timeout");
            super::log(
                "error",
                &what(&format!(
                    "evaluation took longer than {:?}",
                    app.eval_timeout
                )),
            );
            Ok(admission::internal_failure(
                &review,
                &format!("the evaluation took longer than {:?}", app.eval_timeout),
                &app.policy,
                Vec::new(),
            ))
        }
    }
}

async fn readyz(Extract(app): Extract<Arc<App>>) -> HttpResponse {
    if app.shutting_down.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    if !app.tls_loaded.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "TLS certificate not loaded\n",
        )
            .into_response();
    }
    let state = match (&app.state_source, app.state.get()) {
        (None, _) => "cluster state: none configured (rules that relate objects see the reviewed object alone)".to_owned(),
        (Some(source), None) => format!("cluster state: not loaded yet from {source}"),
        (Some(_), Some(s)) => format!("cluster state: loaded, {} objects from {}", s.all.len(), s.source),
    };
    let config = app.config.get().describe();
    (StatusCode::OK, format!("ready\n{state}\n{config}\n")).into_response()
}

async fn metrics_text(Extract(app): Extract<Arc<App>>) -> HttpResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        app.metrics.encode(),
    )
        .into_response()
}
