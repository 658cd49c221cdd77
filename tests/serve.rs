//! `hindsight serve` end to end: the real binary (or the library's `run`) on 127.0.0.1 over real
//! HTTPS with rcgen-made certificates, fed AdmissionReview JSON in the shapes the API server
//! sends; faults (malformed, oversized, slow clients, rule panics); certificate rotation the
//! way the kubelet does it; a real Prometheus scraping `/metrics`. Every server and Prometheus
//! started here is killed here, by pid; every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[allow(
    dead_code,
    reason = "shared with tests/cluster.rs; this file uses only part of it"
)]
mod support {
    pub mod fake_api;
}

// ---------------------------------------------------------------------------------------------
// Certificates and layout

struct Pki {
    ca_pem: String,
    ca_der: Vec<u8>,
    cert_pem: String,
    key_pem: String,
}

fn pki(name: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca = ca_params.self_signed(&ca_key).expect("self-signed CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf signed");
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().to_vec(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

/// Writes the pair the way the kubelet projects a Secret: `..<version>/tls.crt`, a `..data`
/// symlink to the version, and `tls.crt -> ..data/tls.crt`. Later versions swap `..data`
/// atomically (`ln -s ..v2 ..data_tmp && mv -T ..data_tmp ..data`).
fn project_secret(dir: &Path, version: &str, pki: &Pki) {
    let v = dir.join(version);
    std::fs::create_dir_all(&v).expect("version dir");
    std::fs::write(v.join("tls.crt"), &pki.cert_pem).expect("cert");
    std::fs::write(v.join("tls.key"), &pki.key_pem).expect("key");
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(version, &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("atomic swap");
    for file in ["tls.crt", "tls.key"] {
        let link = dir.join(file);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{file}"), &link).expect("file symlink");
        }
    }
}

fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn client(ca_pem: &str) -> reqwest::Client {
    install_provider();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA pem")])
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A client that opens a new TLS connection per request (to see which certificate is served).
fn fresh_client(ca_pem: &str) -> reqwest::Client {
    install_provider();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA pem")])
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

// ---------------------------------------------------------------------------------------------
// The server process

struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
    pki: Pki,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = pki("v1");
        project_secret(dir.path(), "..v1", &pki);
        Self::start_in(dir, pki, args)
    }

    fn start_in(dir: tempfile::TempDir, pki: Pki, args: &[&str]) -> Server {
        Self::start_env(dir, pki, args, &[])
    }

    fn start_env(dir: tempfile::TempDir, pki: Pki, args: &[&str], env: &[(&str, &Path)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hindsight"))
            .envs(env.iter().copied())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .arg("serve")
            .arg("--listen=127.0.0.1:0")
            .arg(format!(
                "--tls-cert={}",
                dir.path().join("tls.crt").display()
            ))
            .arg(format!(
                "--tls-key={}",
                dir.path().join("tls.key").display()
            ))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hindsight serve");
        let stderr = child.stderr.take().expect("piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(at) = line.find("listening on https://") {
                        let _ = tx.send(line[at + "listening on https://".len()..].to_owned());
                    }
                    log.lock().expect("log").push_str(&format!("{line}\n"));
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not start:\n{}", log.lock().expect("log"));
            }
        };
        Server {
            child,
            addr,
            log,
            _dir: dir,
            pki,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// AdmissionReview in the API server's shapes

#[allow(clippy::too_many_arguments)]
fn review(
    uid: &str,
    (group, version, kind, resource): (&str, &str, &str, &str),
    operation: &str,
    namespace: &str,
    name: &str,
    object: Value,
    old_object: Value,
    dry_run: bool,
) -> Value {
    let options_kind = match operation {
        "CREATE" => "CreateOptions",
        "UPDATE" => "UpdateOptions",
        _ => "DeleteOptions",
    };
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": group, "version": version, "resource": resource},
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "userInfo": {
                "username": "kubernetes-admin",
                "groups": ["kubeadm:cluster-admins", "system:authenticated"]
            },
            "object": object,
            "oldObject": old_object,
            "dryRun": dry_run,
            "options": {"kind": options_kind, "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-client-side-apply", "fieldValidation": "Strict"}
        }
    })
}

const DEPLOYMENT: (&str, &str, &str, &str) = ("apps", "v1", "Deployment", "deployments");
const STATEFULSET: (&str, &str, &str, &str) = ("apps", "v1", "StatefulSet", "statefulsets");

/// A Deployment CREATE, the most common review here.
fn create(uid: &str, ns: &str, name: &str, object: Value) -> Value {
    create_of(uid, DEPLOYMENT, ns, name, object)
}

/// A CREATE of any kind: no old object, not a dry run.
fn create_of(
    uid: &str,
    kind: (&str, &str, &str, &str),
    ns: &str,
    name: &str,
    object: Value,
) -> Value {
    review(uid, kind, "CREATE", ns, name, object, Value::Null, false)
}

/// An UPDATE from `old` to `object`, not a dry run.
fn update(
    uid: &str,
    kind: (&str, &str, &str, &str),
    ns: &str,
    name: &str,
    object: Value,
    old: Value,
) -> Value {
    review(uid, kind, "UPDATE", ns, name, object, old, false)
}

fn metadata(name: &str, namespace: &str, labels: Value) -> Value {
    json!({
        "name": name,
        "namespace": namespace,
        "uid": "4b0e3c7a-51f2-4f0e-9a57-2f1f8b7b1c11",
        "generation": 1,
        "creationTimestamp": "2026-11-27T10:00:00Z",
        "labels": labels,
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-27T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
    })
}

/// A pod template as stored after defaulting.
fn template(app: &str, spread: Option<&str>) -> Value {
    let mut spec = json!({
        "containers": [{
            "name": app, "image": format!("registry.example.com/{app}:1.4.2"),
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent"
        }],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "securityContext": {}, "schedulerName": "default-scheduler"
    });
    if let Some(mode) = spread {
        spec["topologySpreadConstraints"] = json!([{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": mode,
            "labelSelector": {"matchLabels": {"app": app}}
        }]);
    }
    json!({"metadata": {"creationTimestamp": null, "labels": {"app": app}}, "spec": spec})
}

fn deployment(name: &str, ns: &str, replicas: Option<i64>, spread: Option<&str>) -> Value {
    let mut spec = json!({
        "selector": {"matchLabels": {"app": name}},
        "template": template(name, spread),
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600
    });
    if let Some(r) = replicas {
        spec["replicas"] = json!(r);
    }
    json!({
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": metadata(name, ns, json!({"app": name})),
        "spec": spec,
        "status": {}
    })
}

fn statefulset(name: &str, ns: &str, replicas: i64, spread: Option<&str>) -> Value {
    json!({
        "kind": "StatefulSet", "apiVersion": "apps/v1",
        "metadata": metadata(name, ns, json!({"app": name})),
        "spec": {
            "replicas": replicas, "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, spread),
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "revisionHistoryLimit": 10,
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}
        },
        "status": {"replicas": 0, "availableReplicas": 0}
    })
}

async fn post(client: &reqwest::Client, server: &Server, body: &Value) -> (u16, Value) {
    let response = client
        .post(server.url("/validate"))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let json: Value = response.json().await.expect("JSON response");
    (status, json)
}

fn warnings(r: &Value) -> Vec<String> {
    r["response"]["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The two fields every answer is checked for: the echoed uid and the verdict.
fn answer(r: &Value) -> (Option<&str>, Option<bool>) {
    (
        r["response"]["uid"].as_str(),
        r["response"]["allowed"].as_bool(),
    )
}

/// Asserts some warning starts with `prefix`.
#[track_caller]
fn assert_warns(r: &Value, prefix: &str) {
    assert!(
        warnings(r).iter().any(|w| w.starts_with(prefix)),
        "no warning starting {prefix:?}: {r}"
    );
}

/// Asserts the review was allowed and some warning starts with `prefix`.
#[track_caller]
fn assert_allowed_with_warning(r: &Value, prefix: &str) {
    assert_eq!(r["response"]["allowed"], true, "{r}");
    assert_warns(r, prefix);
}

/// Asserts the review was denied; returns the denial message.
#[track_caller]
fn denial_message(r: &Value) -> &str {
    assert_eq!(r["response"]["allowed"], false, "{r}");
    r["response"]["status"]["message"]
        .as_str()
        .expect("a denial carries a message")
}

async fn metrics_text(client: &reqwest::Client, server: &Server) -> String {
    client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_reviews_in_the_api_servers_shapes() {
    let server = Server::start(&["--warn-at=low"]);
    let c = client(&server.pki.ca_pem);

    // Deployment CREATE: 3 replicas that may share a node → denied (high), uid echoed.
    let uid = "e911857d-c318-11e8-bbad-025000000001";
    let (status, r) = post(
        &c,
        &server,
        &create(uid, "shop", "api", deployment("api", "shop", Some(3), None)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(r["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(r["kind"], "AdmissionReview");
    assert_eq!(r["response"]["uid"], uid);
    assert_eq!(r["response"]["allowed"], false);
    assert_eq!(r["response"]["status"]["code"], 403);
    let message = r["response"]["status"]["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("hindsight denied Deployment api"),
        "{message}"
    );
    assert!(
        message.contains("high workload.replicas-without-spread: 3 replicas of `api`"),
        "{message}"
    );
    assert_warns(&r, "cluster state not loaded");

    // The same request as a server-side dry run gets the same answer.
    let (_, r) = post(
        &c,
        &server,
        &review(
            "dry-1",
            DEPLOYMENT,
            "CREATE",
            "shop",
            "api",
            deployment("api", "shop", Some(3), None),
            Value::Null,
            true,
        ),
    )
    .await;
    assert_eq!(answer(&r), (Some("dry-1"), Some(false)), "{r}");

    // Spread hard → allowed; spread soft → allowed with a low warning (--warn-at low).
    let (_, r) = post(
        &c,
        &server,
        &create(
            "ok-1",
            "shop",
            "api",
            deployment("api", "shop", Some(3), Some("DoNotSchedule")),
        ),
    )
    .await;
    assert_eq!(r["response"]["allowed"], true, "{r}");
    assert!(r["response"].get("status").is_none());
    let (_, r) = post(
        &c,
        &server,
        &create(
            "soft-1",
            "shop",
            "api",
            deployment("api", "shop", Some(3), Some("ScheduleAnyway")),
        ),
    )
    .await;
    assert_eq!(r["response"]["allowed"], true);
    let w = warnings(&r);
    assert!(
        w.iter()
            .any(|w| w.starts_with("low workload.replicas-without-spread: 3 replicas")),
        "{w:?}"
    );
    assert!(w.iter().all(|w| w.chars().count() <= 120), "{w:?}");

    // StatefulSet CREATE without spread → denied; UPDATE that keeps the old condition → allowed,
    // the finding returned as a warning; UPDATE that removes the spread → denied.
    let (_, r) = post(
        &c,
        &server,
        &create_of(
            "sts-1",
            STATEFULSET,
            "data",
            "redis",
            statefulset("redis", "data", 3, None),
        ),
    )
    .await;
    assert_eq!(answer(&r), (Some("sts-1"), Some(false)), "{r}");
    let (_, r) = post(
        &c,
        &server,
        &update(
            "sts-2",
            STATEFULSET,
            "data",
            "redis",
            statefulset("redis", "data", 4, None),
            statefulset("redis", "data", 3, None),
        ),
    )
    .await;
    assert_allowed_with_warning(
        &r,
        "(already present) high workload.replicas-without-spread",
    );
    let (_, r) = post(
        &c,
        &server,
        &update(
            "sts-3",
            STATEFULSET,
            "data",
            "redis",
            statefulset("redis", "data", 3, None),
            statefulset("redis", "data", 3, Some("DoNotSchedule")),
        ),
    )
    .await;
    assert_eq!(r["response"]["allowed"], false, "{r}");

    // Service CREATE and a Pod CREATE with only generateName → allowed.
    let service = json!({"kind": "Service", "apiVersion": "v1",
        "metadata": metadata("api", "shop", json!({"app": "api"})),
        "spec": {"type": "ClusterIP", "selector": {"app": "api"}, "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                 "clusterIP": "10.96.12.7", "clusterIPs": ["10.96.12.7"], "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"},
        "status": {"loadBalancer": {}}});
    let (_, r) = post(
        &c,
        &server,
        &create_of(
            "svc-1",
            ("", "v1", "Service", "services"),
            "shop",
            "api",
            service,
        ),
    )
    .await;
    assert_eq!(answer(&r), (Some("svc-1"), Some(true)), "{r}");
    let mut pod = json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"generateName": "api-7d9f8c-", "namespace": "shop", "labels": {"app": "api"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7d9f8c", "uid": "0c1", "controller": true, "blockOwnerDeletion": true}]},
        "spec": template("api", None)["spec"].clone(), "status": {"phase": "Pending", "qosClass": "Burstable"}});
    pod["spec"]["nodeName"] = Value::Null;
    let (_, r) = post(
        &c,
        &server,
        &create_of("pod-1", ("", "v1", "Pod", "pods"), "shop", "", pod),
    )
    .await;
    assert_eq!(answer(&r), (Some("pod-1"), Some(true)), "{r}");

    // DELETE: object null, oldObject set → allowed without warnings.
    let (_, r) = post(
        &c,
        &server,
        &review(
            "del-1",
            DEPLOYMENT,
            "DELETE",
            "shop",
            "api",
            Value::Null,
            deployment("api", "shop", Some(3), None),
            false,
        ),
    )
    .await;
    assert_eq!(answer(&r), (Some("del-1"), Some(true)), "{r}");
    assert!(warnings(&r).is_empty());

    // The new webhook rule at admission: a webhook configuration that would fail closed on
    // kube-system is denied.
    let hook = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "policy"},
        "webhooks": [{"name": "policy.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Fail", "timeoutSeconds": 10, "matchPolicy": "Equivalent",
            "namespaceSelector": {}, "objectSelector": {},
            "clientConfig": {"service": {"name": "policy", "namespace": "policy", "path": "/validate", "port": 443}},
            "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["*"], "scope": "*"}]}]});
    let (_, r) = post(
        &c,
        &server,
        &review(
            "vwc-1",
            (
                "admissionregistration.k8s.io",
                "v1",
                "ValidatingWebhookConfiguration",
                "validatingwebhookconfigurations",
            ),
            "CREATE",
            "",
            "policy",
            hook,
            Value::Null,
            false,
        ),
    )
    .await;
    assert!(
        denial_message(&r).contains("webhook.unscoped-or-unavailable"),
        "{r}"
    );

    let text = metrics_text(&c, &server).await;
    assert!(
        text.contains(
            "hindsight_admission_requests_total{operation=\"CREATE\",result=\"denied\"} 4"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "hindsight_admission_requests_total{operation=\"DELETE\",result=\"allowed\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "hindsight_admission_denials_total{rule=\"workload.replicas-without-spread\"} 4"
        ),
        "{text}"
    );
    assert!(
        text.contains("hindsight_admission_duration_seconds_count 11"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_wrong_kind_and_oversized_bodies_are_rejected_clearly() {
    let server = Server::start(&[]);
    let c = client(&server.pki.ca_pem);
    let send = |body: Vec<u8>| {
        c.post(server.url("/validate"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = send(b"{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": ".to_vec())
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["response"]["uid"], "");
    assert_eq!(body["response"]["allowed"], false);
    assert_eq!(body["response"]["status"]["code"], 400);
    assert!(
        body["response"]["status"]["message"]
            .as_str()
            .expect("msg")
            .starts_with("malformed AdmissionReview")
    );

    let pod =
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}))
            .expect("json");
    let r = send(pod).await.expect("send");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["response"]["status"]["message"]
            .as_str()
            .expect("msg")
            .contains("expected kind AdmissionReview, got `Pod`")
    );

    // CREATE without an object: the uid is known, so it is echoed.
    let no_object = review(
        "u-2",
        DEPLOYMENT,
        "CREATE",
        "shop",
        "api",
        Value::Null,
        Value::Null,
        false,
    );
    let r = send(serde_json::to_vec(&no_object).expect("json"))
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["response"]["uid"], "u-2");

    // 9 MB (over the 8 MiB limit) → 413; 7 MB inside a real review is accepted.
    let r = send(vec![b' '; 9_000_000]).await.expect("send");
    assert_eq!(r.status().as_u16(), 413);
    let mut big = deployment("big", "shop", Some(1), None);
    big["metadata"]["annotations"]["blob"] = json!("x".repeat(7_000_000));
    let r = send(serde_json::to_vec(&create("u-big", "shop", "big", big)).expect("json"))
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        (
            body["response"]["uid"].as_str(),
            body["response"]["allowed"].as_bool()
        ),
        (Some("u-big"), Some(true))
    );

    let text = metrics_text(&c, &server).await;
    assert!(
        text.contains(
            "hindsight_admission_requests_total{operation=\"unknown\",result=\"invalid\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "hindsight_admission_requests_total{operation=\"CREATE\",result=\"invalid\"} 1"
        ),
        "{text}"
    );
    // The server is still healthy after all that.
    let health = c.get(server.url("/healthz")).send().await.expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
}

/// A raw TLS connection, to send a request slower than any HTTP client would.
fn raw_tls(server: &Server) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    install_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            server.pki.ca_der.clone(),
        ))
        .expect("root");
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().expect("name"))
            .expect("client connection");
    let sock = std::net::TcpStream::connect(&server.addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    rustls::StreamOwned::new(conn, sock)
}

#[test]
fn slow_clients_are_cut_off() {
    let server = Server::start(&["--request-timeout=1s"]);
    // Headers complete, body trickling: answered 408 after the request timeout.
    let mut tls = raw_tls(&server);
    let started = Instant::now();
    tls.write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"kind\":")
        .expect("write");
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // Headers trickling: the connection is closed without a request ever reaching a handler.
    let mut tls = raw_tls(&server);
    let started = Instant::now();
    tls.write_all(b"POST /validate HTTP/1.1\r\nHost: loc")
        .expect("write");
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "connection held for {waited:?}"
    );
    assert!(!String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 200"));
    assert!(
        server.log().contains("request not completed within 1s"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_is_served_while_requests_flow() {
    let server = Server::start(&[]);
    let old_ca = server.pki.ca_pem.clone();
    let flowing = fresh_client(&old_ca);
    let body = create(
        "rot",
        "shop",
        "api",
        deployment("api", "shop", Some(1), None),
    );

    // Requests flow on the old certificate, on keep-alive connections and on fresh ones.
    let keepalive = client(&old_ca);
    let (_, r) = post(&keepalive, &server, &body).await;
    assert_eq!(r["response"]["allowed"], true);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let traffic = {
        let stop = stop.clone();
        let accepted = accepted.clone();
        let url = server.url("/validate");
        let body = body.clone();
        tokio::spawn(async move {
            // (when, accepted) for every request.
            let mut seen: Vec<(Instant, bool)> = Vec::new();
            for _ in 0..2000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let ok = match flowing.post(&url).json(&body).send().await {
                    Ok(r) => {
                        let v: Value = r.json().await.expect("json");
                        assert_eq!(
                            v["response"]["uid"], "rot",
                            "a wrong answer during rotation"
                        );
                        accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        true
                    }
                    // After the swap, new handshakes present a certificate the old CA refuses.
                    Err(_) => false,
                };
                seen.push((Instant::now(), ok));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        })
    };
    let waiting = Instant::now();
    while accepted.load(std::sync::atomic::Ordering::Relaxed) < 5 {
        assert!(
            waiting.elapsed() < Duration::from_secs(20),
            "no traffic before the rotation:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Another file changing in the same directory is not a rotation.
    std::fs::write(server.dir().join("unrelated.log"), "x").expect("write");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = metrics_text(&keepalive, &server).await;
    assert!(!text.contains("hindsight_tls_reloads_total{"), "{text}");

    let new = pki("v2");
    let rotated = Instant::now();
    project_secret(server.dir(), "..v2", &new);
    let new_client = fresh_client(&new.ca_pem);
    let mut served_new = None;
    while rotated.elapsed() < Duration::from_secs(10) {
        if let Ok(r) = new_client
            .post(server.url("/validate"))
            .json(&body)
            .send()
            .await
        {
            let v: Value = r.json().await.expect("json");
            assert_eq!(v["response"]["uid"], "rot");
            served_new = Some(rotated.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = served_new
        .unwrap_or_else(|| panic!("new certificate not served within 10 s:\n{}", server.log()));
    assert!(took < Duration::from_secs(3), "rotation took {took:?}");
    // Let the old-CA traffic run on past the swap, then check what it saw: every request before
    // the swap accepted, and refusals once the new certificate is served.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = traffic.await.expect("traffic task");
    let before = seen.iter().filter(|(t, _)| *t < rotated).count();
    assert!(before >= 5, "requests flowed before the rotation: {before}");
    assert!(
        seen.iter().filter(|(t, _)| *t < rotated).all(|(_, ok)| *ok),
        "a request failed before the rotation"
    );
    assert!(
        seen.iter().any(|(t, ok)| !ok && *t >= rotated),
        "old CA still accepted after rotation"
    );
    // A fresh handshake with the old CA now fails: the old certificate is gone.
    assert!(
        fresh_client(&old_ca)
            .get(server.url("/healthz"))
            .send()
            .await
            .is_err()
    );
    let text = metrics_text(&new_client, &server).await;
    assert!(
        text.contains("hindsight_tls_reloads_total{result=\"success\"}"),
        "{text}"
    );
    assert!(server.log().contains("tls: reloaded certificate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_state_relates_objects_and_is_reloaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("snapshot.json");
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 3, "maxReplicas": 10}});
    let legacy = deployment("legacy", "shop", Some(4), None);
    std::fs::write(
        &state,
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": [hpa, legacy]}))
            .expect("json"),
    )
    .expect("write");
    let server = Server::start(&[&format!("--state={}", state.display()), "--audit-every=1h"]);
    let c = client(&server.pki.ca_pem);

    let started = Instant::now();
    loop {
        let body = c
            .get(server.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .text()
            .await
            .expect("text");
        if body.contains("cluster state: loaded, 2 objects") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "state never loaded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // `web` declares no replicas; the HPA in the cluster state makes it 3 → denied.
    let web = create(
        "web-1",
        "shop",
        "web",
        deployment("web", "shop", None, None),
    );
    let (_, r) = post(&c, &server, &web).await;
    assert!(
        denial_message(&r).contains("3 replicas (HPA minReplicas)"),
        "{r}"
    );
    assert!(
        !warnings(&r)
            .iter()
            .any(|w| w.starts_with("cluster state not loaded"))
    );
    // The same Deployment in another namespace is unrelated to that HPA.
    let other = create(
        "web-2",
        "blog",
        "web",
        deployment("web", "blog", None, None),
    );
    assert_eq!(
        post(&c, &server, &other).await.1["response"]["allowed"],
        true
    );

    // The periodic audit exported the legacy Deployment's finding.
    let text = metrics_text(&c, &server).await;
    assert!(text.contains("hindsight_audit_findings{rule=\"workload.replicas-without-spread\",severity=\"high\",namespace=\"shop\"} 1"), "{text}");
    assert!(text.contains("hindsight_state_objects 2"), "{text}");

    // The HPA goes away: the file changes, the state is re-read, `web` is allowed again.
    std::fs::write(
        &state,
        br#"{"apiVersion": "v1", "kind": "List", "items": []}"#,
    )
    .expect("write");
    let started = Instant::now();
    loop {
        let (_, r) = post(&c, &server, &web).await;
        if r["response"]["allowed"] == true {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "state change not picked up:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = metrics_text(&c, &server).await;
    assert!(
        !text.contains("hindsight_audit_findings{"),
        "fixed findings leave the gauge: {text}"
    );
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let mut server = Server::start(&[]);
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("try_wait") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    std::thread::sleep(Duration::from_millis(100));
    let log = server.log();
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
}

// ---------------------------------------------------------------------------------------------
// Rule panics, in process: the library's `run` with a rule that panics.

fn panics(_: &hindsight::rules::Context<'_>, _: &mut hindsight::rules::Sink) {
    panic!("planted panic for the failure-mode test");
}

static PANICS: hindsight::rules::Rule = hindsight::rules::Rule {
    meta: hindsight::rules::Meta {
        id: "test.panics",
        title: "panics",
        severity: hindsight::rules::Severity::High,
        stories: &[hindsight::stories::Story::Jetstack],
        needs: hindsight::rules::Needs::Manifests,
        rationale: "test",
        remediation: "test",
        example: "",
    },
    check: panics,
};

static WITH_PANIC: &[&hindsight::rules::Rule] = &[
    &PANICS,
    &hindsight::rules::workload::replicas_without_spread::RULE,
];

fn sleeps(_: &hindsight::rules::Context<'_>, _: &mut hindsight::rules::Sink) {
    std::thread::sleep(Duration::from_millis(1500));
}

static SLEEPS: hindsight::rules::Rule = hindsight::rules::Rule {
    meta: hindsight::rules::Meta {
        id: "test.sleeps",
        title: "sleeps",
        severity: hindsight::rules::Severity::High,
        stories: &[hindsight::stories::Story::Jetstack],
        needs: hindsight::rules::Needs::Manifests,
        rationale: "test",
        remediation: "test",
        example: "",
    },
    check: sleeps,
};

async fn in_process(
    mode: hindsight::serve::admission::FailureMode,
    rules: &'static [&'static hindsight::rules::Rule],
    request_timeout: Duration,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    Pki,
    tempfile::TempDir,
) {
    use hindsight::serve::{Config, admission::Policy};
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki("in-process");
    project_secret(dir.path(), "..v1", &pki);
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        tls_cert: dir.path().join("tls.crt"),
        tls_key: dir.path().join("tls.key"),
        policy: Policy {
            deny_at: hindsight::rules::Severity::High,
            warn_at: hindsight::rules::Severity::Medium,
            failure_mode: mode,
        },
        audit_every: Duration::from_secs(3600),
        state: None,
        request_timeout,
        rules,
        rules_config: Default::default(),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        hindsight::serve::run(
            config,
            async {
                let _ = stop_rx.await;
            },
            move |addr| {
                let _ = addr_tx.send(addr);
            },
        )
        .await
        .expect("server runs");
    });
    let addr = tokio::time::timeout(Duration::from_secs(10), addr_rx)
        .await
        .expect("listening in time")
        .expect("address");
    (format!("https://{addr}"), stop_tx, task, pki, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_rule_is_answered_per_failure_mode_and_the_server_survives() {
    use hindsight::serve::admission::FailureMode;
    for mode in [FailureMode::Allow, FailureMode::Deny] {
        let (base, stop, task, pki, _dir) =
            in_process(mode, WITH_PANIC, Duration::from_secs(4)).await;
        let c = client(&pki.ca_pem);
        let body = create(
            "p-1",
            "shop",
            "api",
            deployment("api", "shop", Some(1), None),
        );
        for _ in 0..3 {
            let r: Value = c
                .post(format!("{base}/validate"))
                .json(&body)
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            assert_eq!(r["response"]["uid"], "p-1");
            match mode {
                FailureMode::Allow => {
                    assert_eq!(r["response"]["allowed"], true, "{r}");
                    assert!(
                        warnings(&r)[0].contains("rule `test.panics` panicked"),
                        "{r}"
                    );
                }
                FailureMode::Deny => {
                    assert_eq!(r["response"]["allowed"], false, "{r}");
                    assert_eq!(r["response"]["status"]["code"], 500);
                    assert!(
                        r["response"]["status"]["message"]
                            .as_str()
                            .expect("msg")
                            .contains("--failure-mode deny")
                    );
                }
            }
        }
        // A real finding still denies, whatever the failure mode: the rules that ran decide.
        let bad = create(
            "p-2",
            "shop",
            "api",
            deployment("api", "shop", Some(3), None),
        );
        let r: Value = c
            .post(format!("{base}/validate"))
            .json(&bad)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(
            (
                r["response"]["allowed"].as_bool(),
                r["response"]["status"]["code"].as_u64()
            ),
            (Some(false), Some(403))
        );
        let text = c
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            text.contains("hindsight_internal_errors_total{kind=\"rule_panic\"} 4"),
            "{text}"
        );
        assert!(
            text.contains(
                "hindsight_admission_requests_total{operation=\"CREATE\",result=\"error\"} 3"
            ),
            "{text}"
        );
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("stops in time")
            .expect("no panic");
    }
}

// ---------------------------------------------------------------------------------------------
// A real Prometheus scrapes /metrics over HTTPS.

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_metrics_endpoint() {
    let Some(prometheus) = which("prometheus") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "prometheus missing in CI: scripts/test-all installs it"
        );
        eprintln!("notice: `prometheus` not installed (scripts/test-all installs it); skipping");
        return;
    };
    let server = Server::start(&[]);
    let c = client(&server.pki.ca_pem);
    let deny = create(
        "prom-1",
        "shop",
        "api",
        deployment("api", "shop", Some(3), None),
    );
    assert_eq!(
        post(&c, &server, &deny).await.1["response"]["allowed"],
        false
    );

    let work = tempfile::tempdir().expect("tempdir");
    let ca = work.path().join("ca.pem");
    std::fs::write(&ca, &server.pki.ca_pem).expect("ca");
    let config = work.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n- job_name: hindsight\n  scheme: https\n  tls_config:\n    ca_file: {}\n  static_configs:\n  - targets: ['{}']\n",
            ca.display(),
            server.addr
        ),
    )
    .expect("config");
    let port = free_port();
    let _prom = Killed(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let query = |q: &'static str| {
        plain
            .get(format!("http://127.0.0.1:{port}/api/v1/query"))
            .query(&[("query", q)])
            .send()
    };
    let started = Instant::now();
    let mut last = Value::Null;
    while started.elapsed() < Duration::from_secs(45) {
        if let Ok(r) = query("hindsight_admission_requests_total{result=\"denied\"}").await
            && let Ok(v) = r.json::<Value>().await
        {
            if v["data"]["result"][0]["value"][1] == "1" {
                let up: Value = query("up{job=\"hindsight\"}")
                    .await
                    .expect("up")
                    .json()
                    .await
                    .expect("json");
                assert_eq!(up["data"]["result"][0]["value"][1], "1");
                assert_eq!(v["data"]["result"][0]["metric"]["operation"], "CREATE");
                return;
            }
            last = v;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("Prometheus never stored hindsight_admission_requests_total: {last}");
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_evaluation_is_answered_per_failure_mode_in_time() {
    use hindsight::serve::admission::FailureMode;
    static WITH_SLOW: &[&hindsight::rules::Rule] = &[&SLEEPS];
    let (base, stop, task, pki, _dir) =
        in_process(FailureMode::Deny, WITH_SLOW, Duration::from_secs(1)).await;
    let c = client(&pki.ca_pem);
    let body = create(
        "s-1",
        "shop",
        "api",
        deployment("api", "shop", Some(1), None),
    );
    let started = Instant::now();
    let r: Value = c
        .post(format!("{base}/validate"))
        .json(&body)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1400),
        "answered after {took:?}, not at the evaluation timeout"
    );
    assert_eq!(r["response"]["uid"], "s-1");
    assert_eq!(r["response"]["allowed"], false, "{r}");
    assert!(
        r["response"]["status"]["message"]
            .as_str()
            .expect("msg")
            .contains("took longer than 750ms"),
        "{r}"
    );
    let text = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("hindsight_internal_errors_total{kind=\"evaluation_timeout\"} 1"),
        "{text}"
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("stops in time")
        .expect("no panic");
}

#[test]
fn a_missing_certificate_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_hindsight"))
        .args(["serve", "--listen=127.0.0.1:0"])
        .arg(format!(
            "--tls-cert={}",
            dir.path().join("tls.crt").display()
        ))
        .arg(format!(
            "--tls-key={}",
            dir.path().join("tls.key").display()
        ))
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot load TLS certificate") && stderr.contains("tls.crt"),
        "{stderr}"
    );
}

/// `--cluster-state` reads the live API with the same reader as `scan --cluster`: here a local
/// fake API server (tests/support/fake_api.rs) speaking the real paths and List JSON.
#[tokio::test]
async fn cluster_state_is_read_from_the_live_api() {
    let api = support::fake_api::start(support::fake_api::Config {
        forbidden: vec![],
        page_max: 2,
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{}\n\
             contexts:\n- name: fake-ctx\n  context: {{cluster: fake, user: tester}}\n\
             current-context: fake-ctx\nusers:\n- name: tester\n  user: {{token: test-token}}\n",
            api.port
        ),
    )
    .expect("write kubeconfig");
    let secret = tempfile::tempdir().expect("tempdir");
    let pki = pki("v1");
    project_secret(secret.path(), "..v1", &pki);
    let server = Server::start_env(
        secret,
        pki,
        &["--cluster-state", "--audit-every=1h"],
        &[("KUBECONFIG", kubeconfig.as_path())],
    );
    let c = client(&server.pki.ca_pem);
    let started = Instant::now();
    loop {
        let body = c
            .get(server.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .text()
            .await
            .expect("text");
        if body.contains("cluster state: loaded,") && body.contains("from cluster") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "cluster state never loaded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let requests = api.requests.lock().expect("log");
    assert!(
        requests
            .iter()
            .any(|(path, _)| path.starts_with("/api/v1/pods")),
        "{requests:?}"
    );
    assert!(
        !requests.iter().any(|(path, _)| path.contains("secrets")),
        "never reads Secrets"
    );
}

// ---------------------------------------------------------------------------------------------
// `serve --config`

/// Writes `hindsight.yaml` the way the kubelet projects a ConfigMap (as [`project_secret`] does
/// for the certificate): into `..<version>/`, then an atomic `..data` swap.
fn project_config(dir: &Path, version: &str, text: &str) {
    let v = dir.join(version);
    std::fs::create_dir_all(&v).expect("version dir");
    std::fs::write(v.join("hindsight.yaml"), text).expect("config");
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(version, &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("atomic swap");
    let link = dir.join("hindsight.yaml");
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("..data/hindsight.yaml", &link).expect("file symlink");
    }
}

/// A Deployment spread over nodes (so `workload.replicas-without-spread` is quiet) whose
/// container runs privileged, and optionally shares the node's PID namespace.
fn privileged(name: &str, ns: &str, host_pid: bool) -> Value {
    let mut d = deployment(name, ns, Some(3), Some("DoNotSchedule"));
    d["spec"]["template"]["spec"]["containers"][0]["securityContext"] = json!({"privileged": true});
    if host_pid {
        d["spec"]["template"]["spec"]["hostPID"] = json!(true);
    }
    d
}

async fn readyz(client: &reqwest::Client, server: &Server) -> String {
    client
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .text()
        .await
        .expect("text")
}

/// Polls `/readyz` until it names `hash` (bounded: 10 s).
async fn wait_for_config(client: &reqwest::Client, server: &Server, hash: &str) {
    let started = Instant::now();
    loop {
        let body = readyz(client, server).await;
        if body.contains(&format!("(hash {hash})")) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "config {hash} not in force after 10 s: {body}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_decides_what_is_denied() {
    let config_dir = tempfile::tempdir().expect("tempdir");
    let text = "rules:\n  disable: [security.privileged-container]\n  severity:\n    workload.replicas-without-spread: medium\nparams:\n  exposure:\n    admin-ui-images: [\"registry.corp/*/ops-console*\"]\nexclude:\n  namespaces: [legacy-*]\n";
    project_config(config_dir.path(), "..v1", text);
    let file = config_dir.path().join("hindsight.yaml");
    // The cluster state holds the Deployment behind the Service reviewed below.
    let mut console = deployment("console", "ops", Some(1), None);
    console["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("registry.corp/ops/ops-console:2.1");
    let state = config_dir.path().join("state.json");
    std::fs::write(
        &state,
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": [console]}))
            .expect("json"),
    )
    .expect("write");
    let server = Server::start(&[
        &format!("--config={}", file.display()),
        &format!("--state={}", state.display()),
    ]);
    let c = client(&server.pki.ca_pem);
    let hash = hindsight::serve::rules_config::hash(text.as_bytes());
    let started = Instant::now();
    while !readyz(&c, &server)
        .await
        .contains("cluster state: loaded, 1 objects")
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "state never loaded:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        readyz(&c, &server)
            .await
            .contains(&format!("config: {} (hash {hash})", file.display())),
        "{}",
        readyz(&c, &server).await
    );
    let text_metrics = metrics_text(&c, &server).await;
    assert!(
        text_metrics.contains(&format!(
            "hindsight_config_info{{file=\"{}\",hash=\"{hash}\"}} 1",
            file.display()
        )),
        "{text_metrics}"
    );

    // Replicas that may share a node: high by default (denied, see the first test); the
    // severity override makes it medium, so it comes back as a warning.
    let (_, r) = post(
        &c,
        &server,
        &create(
            "c-1",
            "shop",
            "api",
            deployment("api", "shop", Some(3), None),
        ),
    )
    .await;
    assert_allowed_with_warning(&r, "medium workload.replicas-without-spread");

    // A privileged container: the disabled rule neither denies nor warns.
    let (_, r) = post(
        &c,
        &server,
        &create("c-2", "shop", "agent", privileged("agent", "shop", false)),
    )
    .await;
    assert_eq!(r["response"]["allowed"], true, "{r}");
    assert!(
        !r.to_string().contains("privileged-container"),
        "a disabled rule says nothing: {r}"
    );
    // The rules the config leaves alone still deny: hostPID is high.
    let (_, r) = post(
        &c,
        &server,
        &create("c-3", "shop", "agent", privileged("agent", "shop", true)),
    )
    .await;
    let message = denial_message(&r);
    assert!(message.contains("security.host-namespaces"), "{message}");
    assert!(
        !message.contains("security.privileged-container"),
        "{message}"
    );

    // Params: the configured image glob makes the console an admin UI, so a public load
    // balancer in front of it is `exposure.public-dashboard` (critical, denied) rather than the
    // built-in lists' `exposure.public-load-balancer` (medium, a warning).
    let service = json!({"kind": "Service", "apiVersion": "v1",
        "metadata": metadata("console", "ops", json!({"app": "console"})),
        "spec": {"type": "LoadBalancer", "selector": {"app": "console"},
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]}});
    let (_, r) = post(
        &c,
        &server,
        &create_of(
            "c-5",
            ("", "v1", "Service", "services"),
            "ops",
            "console",
            service,
        ),
    )
    .await;
    let message = denial_message(&r);
    assert!(
        message.contains("exposure.public-dashboard") && message.contains("ops-console"),
        "{message}"
    );

    // An excluded namespace: findings dropped, the hostPID one included.
    let (_, r) = post(
        &c,
        &server,
        &create(
            "c-4",
            "legacy-shop",
            "agent",
            privileged("agent", "legacy-shop", true),
        ),
    )
    .await;
    assert_eq!(r["response"]["allowed"], true, "{r}");
    assert!(
        !warnings(&r)
            .iter()
            .any(|w| w.contains("security.") || w.contains("workload.")),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_config_is_picked_up_and_a_broken_one_is_not() {
    let config_dir = tempfile::tempdir().expect("tempdir");
    let v1 = "rules:\n  disable: []\n";
    project_config(config_dir.path(), "..v1", v1);
    let file = config_dir.path().join("hindsight.yaml");
    let server = Server::start(&[&format!("--config={}", file.display())]);
    let c = client(&server.pki.ca_pem);
    wait_for_config(
        &c,
        &server,
        &hindsight::serve::rules_config::hash(v1.as_bytes()),
    )
    .await;
    let api = create(
        "s-1",
        "shop",
        "api",
        deployment("api", "shop", Some(3), None),
    );
    assert_eq!(
        post(&c, &server, &api).await.1["response"]["allowed"],
        false
    );

    // ConfigMap updated: the rule is disabled, the same review is allowed.
    let v2 = "rules:\n  disable: [workload.replicas-without-spread]\n";
    project_config(config_dir.path(), "..v2", v2);
    wait_for_config(
        &c,
        &server,
        &hindsight::serve::rules_config::hash(v2.as_bytes()),
    )
    .await;
    let (_, r) = post(&c, &server, &api).await;
    assert_eq!(r["response"]["allowed"], true, "{r}");
    assert!(
        !r.to_string().contains("replicas-without-spread"),
        "disabled: {r}"
    );

    // A typo in the next version: logged with file:line, counted, v2 stays in force.
    let v3 = "rules:\n  disable: [workload.replicas-without-sprad]\n";
    project_config(config_dir.path(), "..v3", v3);
    let started = Instant::now();
    loop {
        let text = metrics_text(&c, &server).await;
        if text.contains("hindsight_config_reloads_total{result=\"failure\"} 1") {
            assert!(
                text.contains("hindsight_config_reloads_total{result=\"success\"} 1"),
                "{text}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "broken config not noticed: {text}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = readyz(&c, &server).await;
    assert!(
        body.contains(&format!(
            "(hash {})",
            hindsight::serve::rules_config::hash(v2.as_bytes())
        )),
        "{body}"
    );
    assert_eq!(post(&c, &server, &api).await.1["response"]["allowed"], true);
    let log = server.log();
    assert!(log.contains("config reload failed"), "{log}");
    assert!(
        log.contains("hindsight.yaml:2:") && log.contains("workload.replicas-without-spread"),
        "the error names the line and the rule it resembles:\n{log}"
    );
}

#[test]
fn a_bad_config_stops_the_server_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki("bad-config");
    project_secret(dir.path(), "..v1", &pki);
    let config = dir.path().join("hindsight.yaml");
    std::fs::write(
        &config,
        "rules:\n  severity:\n    workload.replicas-without-spread: severe\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_hindsight"))
        .args(["serve", "--listen=127.0.0.1:0"])
        .arg(format!(
            "--tls-cert={}",
            dir.path().join("tls.crt").display()
        ))
        .arg(format!(
            "--tls-key={}",
            dir.path().join("tls.key").display()
        ))
        .arg(format!("--config={}", config.display()))
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("hindsight.yaml:3:") && stderr.contains("severe"),
        "{stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Evaluations at once

static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static MOST_RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Records how many evaluations overlap: each holds its place for 50 ms.
fn counts_overlap(_: &hindsight::rules::Context<'_>, _: &mut hindsight::rules::Sink) {
    use std::sync::atomic::Ordering::SeqCst;
    let now = RUNNING.fetch_add(1, SeqCst) + 1;
    MOST_RUNNING.fetch_max(now, SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    RUNNING.fetch_sub(1, SeqCst);
}

static COUNTS_OVERLAP: hindsight::rules::Rule = hindsight::rules::Rule {
    meta: hindsight::rules::Meta {
        id: "test.counts-overlap",
        title: "counts overlapping evaluations",
        severity: hindsight::rules::Severity::Info,
        stories: &[hindsight::stories::Story::Jetstack],
        needs: hindsight::rules::Needs::Manifests,
        rationale: "test",
        remediation: "test",
        example: "",
    },
    check: counts_overlap,
};

/// 12 reviews sent at once: evaluations run at most one per core, the rest wait their turn
/// (and are all answered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations_run_at_most_one_per_core() {
    use hindsight::serve::admission::FailureMode;
    static OVERLAP: &[&hindsight::rules::Rule] = &[&COUNTS_OVERLAP];
    let (base, stop, task, pki, _dir) =
        in_process(FailureMode::Deny, OVERLAP, Duration::from_secs(4)).await;
    let c = client(&pki.ca_pem);
    let sends = (0..12).map(|i| {
        let c = c.clone();
        let url = format!("{base}/validate");
        let body = create(
            &format!("o-{i}"),
            "shop",
            "api",
            deployment("api", "shop", Some(1), None),
        );
        async move {
            let r: Value = c
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            r
        }
    });
    let answers = join_all(sends).await;
    for r in &answers {
        assert_eq!(r["response"]["allowed"], true, "{r}");
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let most = MOST_RUNNING.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (1..=cores).contains(&most),
        "{most} evaluations overlapped on {cores} cores"
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("stops in time")
        .expect("no panic");
}

/// `join_all` without another dependency: spawn each and await them in order.
async fn join_all<F>(futures: impl Iterator<Item = F>) -> Vec<Value>
where
    F: std::future::Future<Output = Value> + Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("request task"));
    }
    out
}
