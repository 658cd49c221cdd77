//! `hindsight serve`: the same rules as `hindsight scan`, run as a Kubernetes validating
//! admission webhook, plus a periodic audit of the cluster state exported as metrics.
//!
//! Layout: [`app`] (routes, limits, isolation), [`admission`] (AdmissionReview in, decision
//! out; no IO), [`metrics`], [`tls`] (certificate reload on rotation), [`rules_config`]
//! (`--config`, reloaded on change), [`state`] (the snapshot provider seam for cluster state). Invariants: every review is answered with its `uid`; an
//! internal error is logged, counted and answered per `--failure-mode`, never silently; the
//! server listens where it is told (tests bind 127.0.0.1:0) and stops gracefully on SIGTERM.
//! See docs/webhook.md.

pub mod admission;
pub mod app;
pub mod metrics;
pub mod rules_config;
pub mod state;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use admission::Policy;
use state::{Snapshot, SnapshotProvider, State};

use crate::rules::Rule;

/// Everything `run` needs.
pub struct Config {
    pub listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub policy: Policy,
    pub audit_every: Duration,
    pub state: Option<Arc<dyn SnapshotProvider>>,
    pub request_timeout: Duration,
    pub rules: &'static [&'static Rule],
    /// The `.hindsight.yaml` in force at start (`Default`: none); when it came from a file,
    /// that file is watched and reloaded.
    pub rules_config: rules_config::Loaded,
}

/// Grace period for in-flight requests after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Writes one log line to stderr: `2026-11-27T11:00:00Z level message`.
///
/// The line is formatted first and written with one call: stderr is unbuffered, and `eprintln!`
/// with arguments issues one `write` per piece while holding the stderr lock, which serialised
/// the workers behind it under load.
pub(crate) fn log(level: &str, message: &str) {
    use std::io::Write as _;
    let line = format!("{} {level} {message}\n", utc_now());
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Current UTC time as RFC 3339 (seconds), without a date crate.
fn utc_now() -> String {
    crate::time::rfc3339(crate::time::now_secs())
}

/// Parses `10m`, `30s`, `1h30m`, `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}`: expected a number followed by ms, s, m or h"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number * 60),
            "h" => Duration::from_secs(number * 3600),
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}` (use ms, s, m or h)"
                ));
            }
        };
        total += unit;
        rest = &rest[unit_len..];
    }
    if total.is_zero() {
        return Err(format!("`{text}`: must be more than zero"));
    }
    Ok(total)
}

/// Waits for SIGTERM (what the kubelet sends) or Ctrl-C. The handlers are installed when this
/// is called, not when the future is first polled: a SIGTERM that arrives as soon as the server
/// says it is listening must find a handler, or it kills the process. Call it inside a Tokio
/// runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs the webhook until `shutdown` completes, then drains in-flight requests.
/// `on_listen` receives the bound address (useful with port 0).
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listen: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let metrics = Arc::new(metrics::Metrics::new());
    let tls = tls::load(&config.tls_cert, &config.tls_key).await?;
    let _tls_watcher = tls::reload_on_change(
        tls.clone(),
        config.tls_cert.clone(),
        config.tls_key.clone(),
        metrics.clone(),
    )?;
    let state = Arc::new(State::default());
    rules_config::announce(&config.rules_config, &metrics);
    log("info", &config.rules_config.describe());
    let config_file = config.rules_config.file.clone();
    let live_config = Arc::new(rules_config::Live::new(config.rules_config));
    let _config_watcher = match config_file {
        Some(file) => Some(rules_config::reload_on_change(
            live_config.clone(),
            file,
            metrics.clone(),
        )?),
        None => None,
    };
    let app = Arc::new(app::App {
        policy: config.policy,
        rules: config.rules,
        config: live_config,
        metrics: metrics.clone(),
        state: state.clone(),
        state_source: config.state.as_ref().map(|p| p.describe()),
        tls_loaded: AtomicBool::new(true),
        shutting_down: AtomicBool::new(false),
        request_timeout: config.request_timeout,
        eval_timeout: config.request_timeout.mul_f64(0.75),
        evaluations: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
    });

    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    let mut server = axum_server::from_tcp_rustls(listener, tls)?
        .handle(handle.clone())
        // A client that trickles its headers is cut off like one that trickles its body.
        .first_request_timeout(config.request_timeout);
    server
        .http_builder()
        .http1()
        .header_read_timeout(config.request_timeout);

    let mut _state_watcher = None;
    if let Some(provider) = config.state.clone() {
        let changes = match tls::watch_dirs(&provider.watch_paths()) {
            Ok((watcher, rx)) => {
                _state_watcher = Some(watcher);
                Some(rx)
            }
            Err(e) => {
                log(
                    "warn",
                    &format!(
                        "state: cannot watch for changes ({e}); re-reading every {:?}",
                        config.audit_every
                    ),
                );
                None
            }
        };
        tokio::spawn(audit_loop(
            app.clone(),
            provider,
            config.audit_every,
            changes,
        ));
    } else {
        log(
            "info",
            "no --state given: rules that relate objects run on the reviewed object alone; no audit",
        );
    }

    {
        let app = app.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            app.shutting_down.store(true, Ordering::Relaxed);
            log("info", "shutting down: draining in-flight requests");
            handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
        });
    }

    on_listen(addr);
    server
        .serve(app::router(app).into_make_service())
        .await
        .map_err(|e| anyhow::anyhow!("server failed: {e}"))?;
    log("info", "stopped");
    Ok(())
}

/// Re-reads the cluster state every `every` (or when the provider's files change) and audits
/// it: all rules over all objects, findings exported as `hindsight_audit_findings`.
async fn audit_loop(
    app: Arc<app::App>,
    provider: Arc<dyn SnapshotProvider>,
    every: Duration,
    mut changes: Option<tokio::sync::mpsc::Receiver<()>>,
) {
    loop {
        match provider.read().await {
            Ok(objects) => {
                let n = objects.len();
                let source = provider.describe();
                match tokio::task::spawn_blocking(move || Snapshot::new(objects, source)).await {
                    Ok(snapshot) => {
                        app.state.set(snapshot);
                        app.metrics.state_objects(n);
                        log(
                            "info",
                            &format!("state: {n} objects from {}", provider.describe()),
                        );
                    }
                    Err(e) => {
                        app.metrics.internal_error("state_read");
                        log("error", &format!("state: indexing failed: {e}"));
                    }
                }
            }
            Err(e) => {
                app.metrics.internal_error("state_read");
                log(
                    "error",
                    &format!(
                        "state: cannot read {}: {e} (keeping the previous snapshot)",
                        provider.describe()
                    ),
                );
            }
        }
        if let Some(snapshot) = app.state.get() {
            let rules = app.rules;
            let config = app.config.get();
            let audit = tokio::task::spawn_blocking(move || {
                crate::analyse(
                    crate::load::Loaded {
                        objects: snapshot.all.clone(),
                        ..Default::default()
                    },
                    rules,
                    &config.config,
                )
            })
            .await;
            match audit {
                Ok(outcome) => {
                    app.metrics.audit(&outcome.findings);
                    log(
                        "info",
                        &format!("audit: {} findings", outcome.findings.len()),
                    );
                }
                Err(e) => {
                    app.metrics.audit_failed();
                    app.metrics.internal_error("evaluation_panic");
                    log("error", &format!("audit failed: {e}"));
                }
            }
        }
        let change = async {
            match changes.as_mut() {
                Some(rx) => {
                    if rx.recv().await.is_none() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep(every) => {},
            () = change => {},
        }
    }
}

/// `hindsight serve` from the command line: builds the runtime and runs until SIGTERM.
pub fn main(args: crate::cli::ServeArgs) -> anyhow::Result<u8> {
    if args.warn_at > args.deny_at {
        log(
            "warn",
            &format!(
                "--warn-at {} is above --deny-at {}: no warnings will be sent",
                args.warn_at, args.deny_at
            ),
        );
    }
    let rules_config = match &args.config {
        Some(file) => match rules_config::load(file) {
            Ok(loaded) => loaded,
            Err(e) => {
                // Same message as `hindsight scan --config`; a bad config never starts.
                use std::io::{IsTerminal, Write as _};
                let mut err = anstream::stderr().lock();
                let _ = writeln!(err, "{}", e.render(std::io::stderr().is_terminal()));
                return Ok(2);
            }
        },
        None => rules_config::Loaded::default(),
    };
    let config = Config {
        listen: args.listen,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        policy: Policy {
            deny_at: args.deny_at,
            warn_at: args.warn_at,
            failure_mode: args.failure_mode,
        },
        audit_every: args.audit_every,
        state: match (args.state, args.cluster_state) {
            (Some(path), _) => {
                Some(Arc::new(state::FileProvider { path }) as Arc<dyn SnapshotProvider>)
            }
            (None, true) => Some(Arc::new(state::ClusterProvider {
                options: crate::sources::cluster::Options {
                    context: args.context,
                    namespace: None,
                    progress: false,
                },
            }) as Arc<dyn SnapshotProvider>),
            (None, false) => None,
        },
        request_timeout: args.request_timeout,
        rules: crate::rules::ALL,
        rules_config,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let shutdown = {
        let _context = runtime.enter();
        shutdown_signal()
    };
    runtime.block_on(run(config, shutdown, |addr| {
        log("info", &format!("listening on https://{addr}"));
    }))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn utc_timestamps_look_right() {
        let t = utc_now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
