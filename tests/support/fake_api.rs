//! A local stand-in for the Kubernetes API server, for kube-rs to talk to in tests.
//!
//! It answers like the real one on the paths hindsight uses: `/version`, `/api/v1/<plural>`,
//! `/apis/<group>/<version>/<plural>` and their `/namespaces/<ns>/` forms, with typed List JSON
//! (`PodList`, `metadata.resourceVersion`, `metadata.continue`, `remainingItemCount`), items
//! without `apiVersion`/`kind` (as the server sends them), pagination that honours `limit` (and
//! never sends more than `page_max`, as the server may), a 403 Status for forbidden resources,
//! and a 404 Status for unknown paths. HTTP/1.1 with keep-alive, on 127.0.0.1, port 0.
//! Fixtures are `kubectl get -o json` Lists in `tests/fixtures/cluster/<plural>.json`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// (plural, group/version, kind, namespaced): the resources the fake serves.
const RESOURCES: &[(&str, &str, &str, bool)] = &[
    ("namespaces", "v1", "Namespace", false),
    ("nodes", "v1", "Node", false),
    ("pods", "v1", "Pod", true),
    ("services", "v1", "Service", true),
    ("configmaps", "v1", "ConfigMap", true),
    ("secrets", "v1", "Secret", true),
    ("events", "v1", "Event", true),
    (
        "replicationcontrollers",
        "v1",
        "ReplicationController",
        true,
    ),
    ("deployments", "apps/v1", "Deployment", true),
    ("replicasets", "apps/v1", "ReplicaSet", true),
    ("statefulsets", "apps/v1", "StatefulSet", true),
    ("daemonsets", "apps/v1", "DaemonSet", true),
    ("jobs", "batch/v1", "Job", true),
    ("cronjobs", "batch/v1", "CronJob", true),
    (
        "poddisruptionbudgets",
        "policy/v1",
        "PodDisruptionBudget",
        true,
    ),
    (
        "horizontalpodautoscalers",
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        true,
    ),
    ("ingresses", "networking.k8s.io/v1", "Ingress", true),
    (
        "networkpolicies",
        "networking.k8s.io/v1",
        "NetworkPolicy",
        true,
    ),
];

/// Request targets (path and query) in arrival order, with the Authorization header.
pub type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

pub struct FakeApi {
    pub port: u16,
    pub requests: RequestLog,
}

pub struct Config {
    /// Plurals answered with 403 Forbidden.
    pub forbidden: Vec<&'static str>,
    /// Most items per page whatever `limit` says (the server may return fewer).
    pub page_max: usize,
}

/// Starts the server on a free port; it lives until the test process ends. Each connection
/// thread ends when the client closes or after 10 s idle; at most 1,000 connections.
pub fn start(config: Config) -> FakeApi {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster");
    let mut items: HashMap<&'static str, Vec<Value>> = HashMap::new();
    for (plural, ..) in RESOURCES {
        let path = dir.join(format!("{plural}.json"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            let list: Value = serde_json::from_str(&text).expect("fixture is JSON");
            let list_items = list["items"].as_array().cloned().unwrap_or_default();
            items.insert(plural, list_items);
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let state = Arc::new((items, config));
    let log = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1000) {
            let Ok(stream) = stream else { continue };
            let (state, log) = (state.clone(), log.clone());
            std::thread::spawn(move || serve(stream, &state, &log));
        }
    });
    FakeApi { port, requests }
}

type State = (HashMap<&'static str, Vec<Value>>, Config);

fn serve(stream: TcpStream, state: &State, log: &RequestLog) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    for _ in 0..10_000 {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut auth = None;
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "authorization" => auth = Some(value.trim().to_owned()),
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let target = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        log.lock().expect("log").push((target.clone(), auth));
        let (code, body) = respond(&target, state);
        let reason = match code {
            200 => "OK",
            403 => "Forbidden",
            _ => "Not Found",
        };
        let head = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body.as_bytes()).is_err()
        {
            return;
        }
    }
}

fn status(code: u16, reason: &str, message: String, details: Value) -> (u16, String) {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code
    });
    (code, body.to_string())
}

fn respond(target: &str, (items, config): &State) -> (u16, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: HashMap<&str, String> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k, v.replace("%3D", "=")))
        .collect();
    if path == "/version" {
        return (
            200,
            json!({"major": "1", "minor": "31", "gitVersion": "v1.31.4", "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
                   "gitTreeState": "clean", "buildDate": "2024-12-10T11:36:58Z", "goVersion": "go1.22.9",
                   "compiler": "gc", "platform": "linux/amd64"})
            .to_string(),
        );
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group_version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => (version.to_string(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource".into(),
                json!({}),
            );
        }
    };
    let (namespace, plural) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural),
        [plural] => (None, *plural),
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource".into(),
                json!({}),
            );
        }
    };
    let Some(&(plural, gv, kind, namespaced)) = RESOURCES
        .iter()
        .find(|(p, gv, ..)| *p == plural && *gv == group_version)
    else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({}),
        );
    };
    let group = gv.rsplit_once('/').map_or("", |(g, _)| g);
    if config.forbidden.contains(&plural) {
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".into(),
        };
        return status(
            403,
            "Forbidden",
            format!(
                "{plural}{} is forbidden: User \"system:serviceaccount:hindsight:hindsight\" cannot list resource \"{plural}\" in API group \"{group}\" {scope}",
                if group.is_empty() {
                    String::new()
                } else {
                    format!(".{group}")
                }
            ),
            json!({"group": group, "kind": plural}),
        );
    }
    let all: Vec<&Value> = items
        .get(plural)
        .into_iter()
        .flatten()
        .filter(|i| !namespaced || namespace.is_none_or(|ns| i["metadata"]["namespace"] == ns))
        .collect();
    let offset: usize = params
        .get("continue")
        .and_then(|c| c.strip_prefix("eyJvZmZzZXQiOi"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX)
        .min(config.page_max);
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|item| {
            // The API server leaves the type out of list items; kubectl adds it back.
            let mut item = (*item).clone();
            if let Some(map) = item.as_object_mut() {
                map.remove("apiVersion");
                map.remove("kind");
            }
            item
        })
        .collect();
    let next = offset + page.len();
    let mut metadata = json!({"resourceVersion": "48311"});
    if next < all.len() {
        metadata["continue"] = json!(format!("eyJvZmZzZXQiOi{next}"));
        metadata["remainingItemCount"] = json!(all.len() - next);
    }
    (
        200,
        json!({"kind": format!("{kind}List"), "apiVersion": gv, "metadata": metadata, "items": page}).to_string(),
    )
}
