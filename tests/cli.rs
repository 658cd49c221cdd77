//! The binary as a user runs it: exit codes, stdin, JSON shape, errors that never hide other
//! results, and the documentation commands.

use assert_cmd::Command;
use serde_json::Value;

const FIX: &str = "tests/fixtures/cli";

fn hindsight() -> Command {
    let mut cmd = Command::cargo_bin("hindsight").expect("binary builds");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn scan_json(args: &[&str]) -> (i32, Value) {
    let out = hindsight()
        .arg("scan")
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn rules_of(json: &Value) -> Vec<(String, String)> {
    json["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_owned(),
                f["object"]["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn json_shape_is_the_documented_contract() {
    let (code, json) = scan_json(&[&format!("{FIX}/spread-bad.yaml")]);
    assert_eq!(
        code, 1,
        "a high finding fails with the default --fail-on high"
    );
    let findings = json["findings"].as_array().expect("array");
    let f = findings
        .iter()
        .find(|f| f["rule"] == "workload.replicas-without-spread")
        .expect("the api Deployment fires");
    assert_eq!(f["severity"], "high");
    assert_eq!(
        f["object"],
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "prod", "name": "api"})
    );
    assert!(f.get("container").is_none(), "not about one container");
    assert_eq!(f["location"]["file"], format!("{FIX}/spread-bad.yaml"));
    assert_eq!(f["location"]["line"], 8, "points at `replicas: 3`");
    assert_eq!(f["stories"], serde_json::json!(["moonlight"]));
    assert!(
        f["message"]
            .as_str()
            .unwrap_or_default()
            .contains("3 replicas")
    );
    assert!(json["errors"].as_array().is_some_and(|e| e.is_empty()));
    assert_eq!(json["summary"]["objects"], 2);
    // The spread Deployment `web` draws no spread finding (other rules may judge it).
    assert!(
        !rules_of(&json)
            .iter()
            .any(|(rule, name)| rule == "workload.replicas-without-spread" && name == "web")
    );
}

#[test]
fn fail_on_threshold_decides_exit_status() {
    let (code, _) = scan_json(&[&format!("{FIX}/spread-bad.yaml"), "--fail-on", "critical"]);
    assert_eq!(code, 0, "no critical finding");
}

#[test]
fn a_broken_document_costs_only_itself() {
    let (code, json) = scan_json(&[
        &format!("{FIX}/broken-middle.yaml"),
        &format!("{FIX}/spread-bad.yaml"),
    ]);
    assert_eq!(code, 2, "input errors are never hidden by findings");
    let errors = json["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["file"], format!("{FIX}/broken-middle.yaml"));
    let line = errors[0]["line"].as_u64().unwrap_or(0);
    assert!(
        (11..=13).contains(&line),
        "error near the broken flow sequence, got line {line}"
    );
    let found = rules_of(&json);
    // The document after the broken one and the other file are still analysed.
    assert!(found.iter().any(|(_, n)| n == "after"), "{found:?}");
    assert!(found.iter().any(|(_, n)| n == "api"), "{found:?}");
    // The values document is skipped with a notice, not an error.
    let notices = json["notices"].as_array().expect("notices");
    assert!(notices.iter().any(|n| {
        n["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not a Kubernetes object")
    }));
    assert_eq!(json["summary"]["objects"], 4);
}

#[test]
fn billion_laughs_fails_fast_with_a_clear_error() {
    let start = std::time::Instant::now();
    let (code, json) = scan_json(&[&format!("{FIX}/laughs.yaml")]);
    assert_eq!(code, 2);
    let msg = json["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(msg.contains("alias expansion"), "{msg}");
    // Not a timing test: a generous bound that only an unbounded expansion would break.
    assert!(start.elapsed().as_secs() < 20);
}

#[test]
fn non_utf8_file_is_an_error_with_its_line() {
    let (code, json) = scan_json(&[&format!("{FIX}/not-utf8.yaml")]);
    assert_eq!(code, 2);
    assert_eq!(json["errors"][0]["line"], 6);
    assert!(
        json["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("UTF-8")
    );
}

#[test]
fn stdin_and_json_lists() {
    let src =
        std::fs::read(format!("{}/{FIX}/list.json", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
    let out = hindsight()
        .args(["scan", "-", "--format", "json"])
        .write_stdin(src)
        .output()
        .expect("runs");
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(1));
    let f = &json["findings"][0];
    assert_eq!(f["object"]["name"], "from-json");
    assert_eq!(f["location"]["file"], "<stdin>");
    assert_eq!(f["location"]["line"], 5, "the item's own line in the List");
}

#[test]
fn directories_are_walked() {
    let (_, json) = scan_json(&[FIX]);
    let files: std::collections::BTreeSet<&str> = json["findings"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["location"]["file"].as_str())
        .collect();
    assert!(files.len() >= 3, "{files:?}");
}

#[test]
fn text_output_is_rustc_style_without_colour_when_piped() {
    let out = hindsight()
        .args(["scan", &format!("{FIX}/spread-bad.yaml")])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("high[workload.replicas-without-spread]"),
        "{text}"
    );
    assert!(
        text.contains(&format!("--> {FIX}/spread-bad.yaml:8")),
        "{text}"
    );
    assert!(text.contains("8 |   replicas: 3"), "{text}");
    assert!(text.contains("= story: Moonlight (2019)"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no ANSI escapes when not a terminal"
    );
}

#[test]
fn missing_path_is_an_error_not_a_clean_run() {
    let (code, json) = scan_json(&["does/not/exist.yaml"]);
    assert_eq!(code, 2);
    assert!(
        json["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot read")
    );
}

#[test]
fn rules_explain_and_stories_come_from_metadata() {
    let rules = hindsight().arg("rules").output().expect("runs");
    let text = String::from_utf8_lossy(&rules.stdout);
    for rule in hindsight::rules::ALL {
        assert!(
            text.contains(rule.meta.id),
            "{} missing from `rules`",
            rule.meta.id
        );
    }
    let explain = hindsight()
        .args(["explain", "workload.replicas-without-spread"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(
        text.contains("Why it matters")
            && text.contains("How to fix it")
            && text.contains("moonlightwork.com")
    );
    let unknown = hindsight()
        .args(["explain", "workload.replicas-without-sprad"])
        .output()
        .expect("runs");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("did you mean `workload.replicas-without-spread`")
    );
    let stories = hindsight().arg("stories").output().expect("runs");
    let text = String::from_utf8_lossy(&stories.stdout);
    for story in hindsight::stories::Story::ALL {
        assert!(text.contains(story.info().url));
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = hindsight()
        .args(["scan", "--format", "nope", "x"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}
