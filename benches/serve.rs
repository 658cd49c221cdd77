//! Load benchmark for `hindsight serve`: a fixed number of AdmissionReviews over HTTPS on
//! loopback at a fixed concurrency, half denied and half allowed, reporting throughput and
//! latency percentiles. `cargo bench --bench serve` runs 20,000 requests at concurrency 32;
//! under `cargo test` (no `--bench` argument) it runs a 200-request smoke pass.
//! Environment overrides: `HINDSIGHT_BENCH_REQUESTS`, `HINDSIGHT_BENCH_CONCURRENCY`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn review(uid: usize, replicas: i64, spread: bool) -> Value {
    let mut spec = json!({
        "containers": [{"name": "api", "image": "registry.example.com/api:1.4.2",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}],
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler"
    });
    if spread {
        spec["topologySpreadConstraints"] = json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "api"}}}]);
    }
    json!({
        "kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": format!("bench-{uid}"),
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": "api", "namespace": "shop", "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:authenticated"]},
            "object": {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "api", "namespace": "shop", "labels": {"app": "api"}},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "api"}},
                    "template": {"metadata": {"labels": {"app": "api"}}, "spec": spec}}},
            "oldObject": null, "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let total = env(
        "HINDSIGHT_BENCH_REQUESTS",
        if benching { 20_000 } else { 200 },
    );
    let concurrency = env("HINDSIGHT_BENCH_CONCURRENCY", 32).max(1);
    let _ = rustls::crypto::ring::default_provider().install_default();

    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("key");
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf");
    std::fs::write(dir.path().join("tls.crt"), leaf.pem()).expect("write");
    std::fs::write(dir.path().join("tls.key"), leaf_key.serialize_pem()).expect("write");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        use hindsight::serve::{Config, admission::{FailureMode, Policy}};
        use hindsight::rules::Severity;
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            tls_cert: dir.path().join("tls.crt"),
            tls_key: dir.path().join("tls.key"),
            policy: Policy { deny_at: Severity::High, warn_at: Severity::Medium, failure_mode: FailureMode::Allow },
            audit_every: Duration::from_secs(3600),
            state: None,
            request_timeout: Duration::from_secs(4),
            rules: hindsight::rules::ALL,
            rules_config: Default::default(),
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            hindsight::serve::run(config, async { let _ = stop_rx.await; }, move |a| { let _ = addr_tx.send(a); })
                .await
                .expect("server");
        });
        let addr = tokio::time::timeout(Duration::from_secs(10), addr_rx).await.expect("listening").expect("addr");
        let url = format!("https://{addr}/validate");
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("pem")])
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
            (0..64).map(|i| serde_json::to_vec(&review(i, 3, i % 2 == 0)).expect("json")).collect(),
        );
        // Warm up: handshakes and first allocations are not what we measure.
        for b in bodies.iter().take(concurrency) {
            client.post(&url).body(b.clone()).send().await.expect("warm-up").bytes().await.expect("body");
        }
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (client, url, bodies, next) = (client.clone(), url.clone(), bodies.clone(), next.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let (mut denied, mut allowed) = (0usize, 0usize);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            break;
                        }
                        let body = bodies[i % bodies.len()].clone();
                        let t = Instant::now();
                        let r: Value = client.post(&url).header("content-type", "application/json").body(body)
                            .send().await.expect("request").json().await.expect("json");
                        latencies.push(t.elapsed());
                        match r["response"]["allowed"].as_bool() {
                            Some(true) => allowed += 1,
                            Some(false) => denied += 1,
                            None => panic!("no decision: {r}"),
                        }
                    }
                    (latencies, denied, allowed)
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(total);
        let (mut denied, mut allowed) = (0, 0);
        for w in workers {
            let (l, d, a) = w.await.expect("worker");
            latencies.extend(l);
            denied += d;
            allowed += a;
        }
        let wall = started.elapsed();
        latencies.sort();
        assert_eq!(latencies.len(), total);
        assert_eq!(denied, total / 2 + total % 2, "every replicas-without-spread review is denied");
        println!(
            "serve: {total} reviews at concurrency {concurrency} in {:.2} s = {:.0} req/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({denied} denied, {allowed} allowed)",
            wall.as_secs_f64(),
            total as f64 / wall.as_secs_f64(),
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.90).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().expect("some").as_secs_f64() * 1e3,
        );
        let _ = stop_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
    });
}
