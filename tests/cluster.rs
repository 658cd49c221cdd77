//! `scan --cluster`, `snapshot` and `scan <snapshot>` end to end: the real binary, kube-rs and
//! a local fake API server (tests/support/fake_api.rs) serving kubectl-shaped fixtures.

mod support {
    pub mod fake_api;
}

use assert_cmd::Command;
use serde_json::Value;
use support::fake_api::{self, Config, FakeApi};

fn kubeconfig(dir: &tempfile::TempDir, port: u16) -> std::path::PathBuf {
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             contexts:\n- name: fake-ctx\n  context: {{cluster: fake, user: tester, namespace: default}}\n\
             current-context: fake-ctx\nusers:\n- name: tester\n  user: {{token: test-token}}\n"
        ),
    )
    .expect("write kubeconfig");
    path
}

struct Run {
    code: i32,
    report: Value,
    stderr: String,
}

fn hindsight(kubeconfig: &std::path::Path, args: &[&str]) -> Run {
    let out = Command::cargo_bin("hindsight")
        .expect("binary")
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run hindsight");
    Run {
        code: out.status.code().unwrap_or(-1),
        report: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Findings without their location (the file differs between live and snapshot).
fn findings(report: &Value) -> Vec<(String, String, String, String, String)> {
    let mut out: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or("").to_owned(),
                f["severity"].as_str().unwrap_or("").to_owned(),
                format!(
                    "{} {}/{}",
                    f["object"]["kind"].as_str().unwrap_or(""),
                    f["object"]["namespace"].as_str().unwrap_or(""),
                    f["object"]["name"].as_str().unwrap_or("")
                ),
                f["container"].as_str().unwrap_or("").to_owned(),
                f["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn messages(report: &Value, key: &str) -> Vec<String> {
    report[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["message"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn server() -> FakeApi {
    fake_api::start(Config {
        forbidden: vec!["cronjobs"],
        page_max: 2,
    })
}

#[test]
fn live_scan_reads_every_kind_paginated_and_names_the_partial_picture() {
    let api = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kubeconfig(&dir, api.port);
    let run = hindsight(&config, &["scan", "--cluster", "-f", "json"]);
    assert_eq!(
        run.code, 2,
        "a forbidden kind is an input error: {}",
        run.stderr
    );
    let errors = messages(&run.report, "errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("partial picture: CronJob (`batch/v1/cronjobs`) could not be read (403: Forbidden: cronjobs.batch is forbidden"),
        "{}",
        errors[0]
    );
    assert!(
        messages(&run.report, "notices")
            .iter()
            .any(|n| n.contains("from context `fake-ctx` (server v1.31.4)")),
        "{:?}",
        run.report["notices"]
    );
    let got = findings(&run.report);
    let rules: std::collections::BTreeSet<&str> = got.iter().map(|f| f.0.as_str()).collect();
    for rule in [
        "cpu.limits-on-affected-kernel",
        "events.warnings",
        "logging.shipper-missing-on-nodes",
        "memory.oom-killed",
        "node.kernel-cfs-quota-bug",
        "node.not-ready",
        "workload.replicas-colocated",
        "workload.unavailable",
    ] {
        assert!(rules.contains(rule), "{rule} did not fire: {got:#?}");
    }
    let colocated = got
        .iter()
        .find(|f| f.0 == "workload.replicas-colocated")
        .expect("colocated");
    assert_eq!(colocated.2, "Deployment web/api");
    assert!(colocated.4.contains("all 3 ready replicas"));
    let shipper = got
        .iter()
        .find(|f| f.0 == "logging.shipper-missing-on-nodes")
        .expect("shipper");
    assert!(
        shipper.4.contains("`ip-10-0-2-33.eu-west-1.compute.internal`, `ip-10-0-3-41.eu-west-1.compute.internal` (node not Ready)"),
        "{}",
        shipper.4
    );
    // Manifest rules see live objects too, without reporting a Deployment again through its
    // ReplicaSets.
    assert!(
        got.iter()
            .filter(|f| f.0 == "workload.replicas-without-spread")
            .all(|f| f.2.starts_with("Deployment")),
        "{got:#?}"
    );

    let requests = api.requests.lock().expect("log").clone();
    assert!(
        requests
            .iter()
            .all(|(_, auth)| auth.as_deref() == Some("Bearer test-token"))
    );
    let targets: Vec<&str> = requests.iter().map(|(t, _)| t.as_str()).collect();
    assert!(targets.contains(&"/version"));
    assert!(
        targets.contains(&"/api/v1/pods?&limit=500")
            || targets
                .iter()
                .any(|t| t.starts_with("/api/v1/pods?") && t.contains("limit=500"))
    );
    // 6 pods at 2 per page: the first page, then two `continue` pages.
    let pod_pages = targets
        .iter()
        .filter(|t| t.starts_with("/api/v1/pods?"))
        .count();
    assert_eq!(pod_pages, 3, "{targets:#?}");
    assert!(
        targets
            .iter()
            .any(|t| t.starts_with("/api/v1/pods?") && t.contains("continue=eyJvZmZzZXQiOi4"))
    );
    assert!(
        targets.iter().all(|t| !t.contains("secrets")),
        "Secrets must never be read"
    );
}

#[test]
fn snapshot_round_trip_gives_the_same_findings() {
    let api = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kubeconfig(&dir, api.port);
    let live = hindsight(&config, &["scan", "--cluster", "-f", "json"]);
    let file = dir.path().join("cluster.json");
    let file_arg = file.to_str().expect("utf-8 path");
    let snap = hindsight(
        &config,
        &["snapshot", "-o", file_arg, "--context", "fake-ctx"],
    );
    assert_eq!(snap.code, 2, "partial snapshot: {}", snap.stderr);
    assert!(
        snap.stderr
            .contains("CronJob (`batch/v1/cronjobs`) could not be read"),
        "{}",
        snap.stderr
    );

    let text = std::fs::read_to_string(&file).expect("snapshot written");
    let list: Value = serde_json::from_str(&text).expect("snapshot is JSON");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["hindsight"]["context"], "fake-ctx");
    assert_eq!(list["hindsight"]["serverVersion"], "v1.31.4");
    assert_eq!(list["hindsight"]["unreadable"][0]["code"], 403);
    let items = list["items"].as_array().expect("items");
    assert!(
        items
            .iter()
            .all(|i| i["apiVersion"].is_string() && i["kind"].is_string())
    );
    assert!(
        items
            .iter()
            .all(|i| i["metadata"].get("managedFields").is_none())
    );
    assert_eq!(items.iter().filter(|i| i["kind"] == "Pod").count(), 6);
    assert!(
        text.starts_with("{\n    \"apiVersion\": \"v1\",\n    \"hindsight\": {"),
        "kubectl-style layout"
    );

    let offline = hindsight(&config, &["scan", file_arg, "-f", "json"]);
    assert_eq!(offline.code, live.code);
    assert_eq!(findings(&offline.report), findings(&live.report));
    assert_eq!(
        messages(&offline.report, "errors"),
        messages(&live.report, "errors")
    );
    // The findings point into the snapshot at the object's line.
    let first = &offline.report["findings"][0]["location"];
    assert_eq!(first["file"], file_arg);
    assert!(first["line"].as_u64().unwrap_or(0) > 1);

    // The HTML report pictures the live state behind the findings: one chart per colocated
    // workload and one of kernels when a node has the CFS bug.
    let html = dir.path().join("report.html");
    let format = format!("html={}", html.display());
    let run = hindsight(&config, &["scan", file_arg, "-f", "json", "-f", &format]);
    assert_eq!(run.code, offline.code, "{}", run.stderr);
    let page = std::fs::read_to_string(&html).expect("html written");
    let count = |rule: &str| {
        offline.report["findings"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|f| f["rule"] == rule).count())
    };
    let colocated = count("workload.replicas-colocated");
    assert!(colocated > 0, "the fixture has colocated replicas");
    let titles: Vec<&str> = page
        .match_indices("<figcaption><strong>")
        .filter_map(|(at, _)| page[at..].split("</strong>").next())
        .collect();
    assert_eq!(
        titles
            .iter()
            .filter(|t| t.ends_with(": ready replicas per node"))
            .count(),
        colocated.min(hindsight::pictures::MAX_WORKLOADS),
        "{titles:?}"
    );
    assert!(page.contains("<section id=\"charts\""));
    assert_eq!(
        page.contains("Nodes per kernel version"),
        count("node.kernel-cfs-quota-bug") > 0
    );
}

#[test]
fn namespace_limits_namespaced_lists_and_a_full_picture_exits_on_findings() {
    let api = fake_api::start(Config {
        forbidden: vec![],
        page_max: 500,
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kubeconfig(&dir, api.port);
    let run = hindsight(
        &config,
        &["scan", "--cluster", "--namespace", "logging", "-f", "json"],
    );
    assert!(
        messages(&run.report, "errors").is_empty(),
        "{:?}",
        run.report["errors"]
    );
    // High findings (the NotReady node, the shipper) make it 1, not 2.
    assert_eq!(run.code, 1, "{}", run.stderr);
    let targets: Vec<String> = api
        .requests
        .lock()
        .expect("log")
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    assert!(
        targets
            .iter()
            .any(|t| t.starts_with("/api/v1/namespaces/logging/pods?"))
    );
    assert!(targets.iter().any(|t| t.starts_with("/api/v1/nodes?")));
    assert!(!targets.iter().any(|t| t.starts_with("/api/v1/pods?")));
    let got = findings(&run.report);
    assert!(
        got.iter().all(|f| !f.2.contains(" web/")),
        "only the logging namespace: {got:#?}"
    );
}

#[test]
fn bad_context_and_unreachable_server_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = server();
    let config = kubeconfig(&dir, api.port);
    let run = hindsight(&config, &["scan", "--cluster", "--context", "nope"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot use kubeconfig context `nope`"),
        "{}",
        run.stderr
    );

    // A port nobody listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let config = kubeconfig(&dir, port);
    let run = hindsight(&config, &["scan", "--cluster"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("cannot reach the API server of context `fake-ctx`"),
        "{}",
        run.stderr
    );

    let run = hindsight(&config, &["scan", ".", "--context", "x"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("add --cluster"), "{}", run.stderr);
}

/// EKS, GKE and AKS authenticate through exec credential plugins: kube-rs runs the command from
/// the kubeconfig and sends the token it prints.
#[test]
fn exec_credential_plugins_supply_the_token() {
    use std::os::unix::fs::PermissionsExt;
    let api = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let plugin = dir.path().join("credential-plugin");
    std::fs::write(
        &plugin,
        "#!/bin/sh\necho '{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": {\"token\": \"exec-token\"}}'\n",
    )
    .expect("write plugin");
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let config = dir.path().join("kubeconfig");
    std::fs::write(
        &config,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{}\n\
             contexts:\n- name: eks\n  context: {{cluster: fake, user: aws}}\ncurrent-context: eks\n\
             users:\n- name: aws\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      \
             command: {}\n      interactiveMode: Never\n",
            api.port,
            plugin.display()
        ),
    )
    .expect("write kubeconfig");
    let run = hindsight(&config, &["scan", "--cluster", "-f", "json"]);
    assert_eq!(
        run.code, 2,
        "partial picture (cronjobs are forbidden): {}",
        run.stderr
    );
    assert!(
        run.report["summary"]["objects"].as_u64().unwrap_or(0) > 0,
        "{}",
        run.stderr
    );
    let requests = api.requests.lock().expect("log").clone();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|(_, auth)| auth.as_deref() == Some("Bearer exec-token")),
        "{requests:?}"
    );
}
