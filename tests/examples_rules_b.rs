//! The bundled failure stories (`examples/failure-stories/{jwplayer,moonlight}`) through the real
//! binary: every expected finding, nothing else, and exit status 1.
//!
//! Rules developed on other branches (`resources.*`, `stateful.*`) are checked only once they are
//! registered, so this test holds on every branch and tightens after the merge.

use assert_cmd::Command;
use serde_json::Value;

/// One expected finding: rule, object name, container, severity (`None` = not pinned yet).
type Expected = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

fn scan(story: &str) -> (i32, Vec<Value>) {
    let dir = format!(
        "{}/examples/failure-stories/{story}",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = Command::cargo_bin("hindsight")
        .expect("binary builds")
        .args(["scan", &dir, "--format", "json"])
        .output()
        .expect("runs");
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(json["errors"], Value::Array(vec![]), "no input errors");
    let findings = json["findings"].as_array().expect("findings array").clone();
    (output.status.code().expect("exit code"), findings)
}

fn key(f: &Value) -> (String, String, Option<String>) {
    (
        f["rule"].as_str().unwrap_or("").to_owned(),
        f["object"]["name"].as_str().unwrap_or("").to_owned(),
        f["container"].as_str().map(str::to_owned),
    )
}

fn assert_story(story: &str, expected: &[Expected], done_right: &[&str]) {
    let (code, findings) = scan(story);
    assert_eq!(code, 1, "{story}: high or critical findings exit 1");
    let mut actual: Vec<(String, String, Option<String>, String)> = findings
        .iter()
        .map(|f| {
            let (r, n, c) = key(f);
            (r, n, c, f["severity"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    for (rule, name, container, severity) in expected {
        if hindsight::rules::find(rule).is_none() {
            println!("{story}: {rule} not yet registered, skipped");
            continue;
        }
        let at = actual.iter().position(|(r, n, c, s)| {
            r == rule
                && n == name
                && c.as_deref() == *container
                && severity.is_none_or(|want| want == s)
        });
        match at {
            Some(i) => {
                actual.remove(i);
            }
            None => panic!(
                "{story}: expected {rule} on {name} {container:?} {severity:?}; left: {actual:#?}"
            ),
        }
    }
    assert!(
        actual.is_empty(),
        "{story}: unexpected findings {actual:#?}"
    );
    for name in done_right {
        assert!(
            findings.iter().all(|f| f["object"]["name"] != *name),
            "{story}: `{name}` is the done-right object"
        );
    }
}

#[test]
fn jwplayer() {
    assert_story(
        "jwplayer",
        &[
            (
                "exposure.public-dashboard",
                "weave-scope-app",
                None,
                Some("critical"),
            ),
            (
                "security.host-namespaces",
                "weave-scope-agent",
                None,
                Some("high"),
            ),
            (
                "security.host-namespaces",
                "weave-scope-agent",
                None,
                Some("high"),
            ),
            (
                "security.privileged-container",
                "weave-scope-agent",
                Some("scope-agent"),
                Some("high"),
            ),
            (
                "security.sensitive-host-mount",
                "weave-scope-agent",
                Some("scope-agent"),
                Some("critical"),
            ),
            (
                "security.sensitive-host-mount",
                "weave-scope-agent",
                Some("scope-agent"),
                Some("high"),
            ),
            (
                "security.runs-as-root",
                "weave-scope-app",
                Some("app"),
                Some("low"),
            ),
            (
                "security.runs-as-root",
                "weave-scope-agent",
                Some("scope-agent"),
                Some("low"),
            ),
        ],
        &["grafana"],
    );
}

#[test]
fn jwplayer_dashboard_message_names_the_assumption_and_the_shell() {
    let (_, findings) = scan("jwplayer");
    let f = findings
        .iter()
        .find(|f| f["rule"] == "exposure.public-dashboard")
        .expect("dashboard finding");
    let message = f["message"].as_str().unwrap_or("");
    assert!(message.contains("Weave Scope"), "{message}");
    assert!(
        message.contains("AWS Load Balancer Controller"),
        "{message}"
    );
    assert!(message.contains("--probe.no-controls"), "{message}");
    assert_eq!(f["stories"], serde_json::json!(["jwplayer"]));
}

#[test]
fn moonlight() {
    assert_story(
        "moonlight",
        &[
            (
                "workload.replicas-without-spread",
                "api",
                None,
                Some("high"),
            ),
            (
                "workload.replicas-without-spread",
                "redis",
                None,
                Some("high"),
            ),
            ("resources.missing-requests", "api", Some("api"), None),
            ("resources.missing-requests", "redis", Some("redis"), None),
            ("resources.missing-memory-limit", "api", Some("api"), None),
            (
                "resources.missing-memory-limit",
                "redis",
                Some("redis"),
                None,
            ),
            ("stateful.no-disruption-budget", "redis", None, None),
            (
                "stateful.weak-readiness-probe",
                "redis",
                Some("redis"),
                None,
            ),
        ],
        &["worker"],
    );
}
