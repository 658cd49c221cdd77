//! Runs the `hindsight` binary over the failure-story examples for the resources, stateful,
//! logging and aws-cni rules and checks which of those rules fire, where, and the exit code.
//!
//! Only these rules are asserted (other rules may fire on the same examples too), and each
//! story's "done right" object must draw no finding from them.

use assert_cmd::Command;
use serde_json::Value;

const OWN_RULES: [&str; 6] = [
    "aws-cni.external-snat",
    "logging.shipper-without-position-db",
    "resources.missing-memory-limit",
    "resources.missing-requests",
    "stateful.no-disruption-budget",
    "stateful.weak-readiness-probe",
];

/// One finding as asserted: (rule, severity, object name, file relative to the story, line).
type Seen = (String, String, String, String, u64);

/// Scans one story folder; returns the exit code and this helper's findings as
/// (rule, severity, object name, file name relative to the story, line).
fn scan(story: &str) -> (i32, Vec<Seen>) {
    let dir = format!("examples/failure-stories/{story}");
    let output = Command::cargo_bin("hindsight")
        .expect("binary built")
        .args(["scan", &dir, "--format", "json"])
        .output()
        .expect("runs");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{story}: not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert_eq!(
        report["errors"],
        Value::Array(vec![]),
        "{story}: input errors"
    );
    let findings = report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| OWN_RULES.contains(&f["rule"].as_str().unwrap_or("")))
        .map(|f| {
            let file = f["location"]["file"].as_str().expect("file");
            let rel = file
                .split_once(&format!("{story}/"))
                .map_or(file, |(_, r)| r)
                .to_owned();
            (
                f["rule"].as_str().expect("rule").to_owned(),
                f["severity"].as_str().expect("severity").to_owned(),
                f["object"]["name"].as_str().expect("name").to_owned(),
                rel,
                f["location"]["line"].as_u64().expect("line"),
            )
        })
        .collect();
    (output.status.code().expect("exit code"), findings)
}

fn sorted(mut v: Vec<Seen>) -> Vec<Seen> {
    v.sort();
    v
}

fn expect(items: &[(&str, &str, &str, &str, u64)]) -> Vec<Seen> {
    sorted(
        items
            .iter()
            .map(|(a, b, c, d, e)| {
                (
                    a.to_string(),
                    b.to_string(),
                    c.to_string(),
                    d.to_string(),
                    *e,
                )
            })
            .collect(),
    )
}

#[test]
fn buffer() {
    let (code, found) = scan("buffer");
    assert_eq!(code, 1);
    assert_eq!(
        sorted(found),
        expect(&[
            (
                "resources.missing-memory-limit",
                "high",
                "queue-worker",
                "queue-worker.yaml",
                23
            ),
            (
                "resources.missing-requests",
                "medium",
                "image-resizer",
                "image-resizer.yaml",
                26
            ),
            (
                "resources.missing-requests",
                "medium",
                "queue-worker",
                "queue-worker.yaml",
                23
            ),
        ])
    );
}

#[test]
fn flant() {
    let (code, found) = scan("flant");
    assert_eq!(code, 1);
    assert_eq!(
        sorted(found),
        expect(&[
            (
                "stateful.no-disruption-budget",
                "medium",
                "sessions-redis",
                "sessions-redis.yaml",
                9
            ),
            (
                "stateful.weak-readiness-probe",
                "high",
                "cache",
                "redisfailover.yaml",
                16
            ),
            (
                "stateful.weak-readiness-probe",
                "high",
                "sessions-redis",
                "sessions-redis.yaml",
                31
            ),
        ])
    );
}

#[test]
fn prometheuskube() {
    let (code, found) = scan("prometheuskube");
    assert_eq!(code, 1);
    assert_eq!(
        sorted(found),
        expect(&[
            (
                "logging.shipper-without-position-db",
                "high",
                "fluent-bit",
                "fluent-bit.yaml",
                22
            ),
            (
                "logging.shipper-without-position-db",
                "medium",
                "fluent-bit-audit",
                "fluent-bit-audit.yaml",
                16
            ),
        ])
    );
}

#[test]
fn mindtickle() {
    let (code, found) = scan("mindtickle");
    assert_eq!(code, 1);
    assert_eq!(
        sorted(found),
        expect(&[(
            "aws-cni.external-snat",
            "high",
            "aws-node",
            "prod-eks/aws-node.yaml",
            33
        )])
    );
}
