//! `hindsight diff` as a user runs it: fixture pairs per change rule, a real git repository
//! with two commits, `REF:path`, standard input, exit codes, and errors that name their side.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const FIX: &str = "tests/fixtures/diff";

fn hindsight(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("hindsight").expect("binary builds");
    cmd.current_dir(dir);
    cmd
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn risk_rules(json: &Value) -> Vec<String> {
    json["risks"]
        .as_array()
        .expect("risks array")
        .iter()
        .map(|r| r["rule"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn every_change_rule_fixture_pair_fires_or_passes() {
    let mut seen = 0;
    let mut rules: Vec<_> = std::fs::read_dir(root().join(FIX))
        .expect("fixtures")
        .filter_map(|e| e.ok())
        .collect();
    rules.sort_by_key(|e| e.file_name());
    for rule in rules {
        let id = rule.file_name().to_string_lossy().into_owned();
        for case in ["fires", "passes"] {
            let dir = rule.path().join(case);
            let out = hindsight(root())
                .args(["diff", "--format", "json"])
                .arg(dir.join("before.yaml"))
                .arg(dir.join("after.yaml"))
                .output()
                .expect("runs");
            let json = json_of(&out);
            assert_eq!(json["errors"], serde_json::json!([]), "{id}/{case}");
            let fired = risk_rules(&json).contains(&id);
            assert_eq!(
                fired,
                case == "fires",
                "{id}/{case}: risks {:?}",
                risk_rules(&json)
            );
            seen += 1;
        }
    }
    assert!(seen >= 8, "fixture pairs found: {seen}");
}

#[test]
fn json_report_has_the_documented_shape() {
    let dir = root()
        .join(FIX)
        .join("change.stateful-scale-with-memory-cut/fires");
    let out = hindsight(root())
        .args(["diff", "--format", "json"])
        .arg(dir.join("before.yaml"))
        .arg(dir.join("after.yaml"))
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a critical change risk fails the diff"
    );
    let json = json_of(&out);
    let risk = &json["risks"][0];
    assert_eq!(risk["rule"], "change.stateful-scale-with-memory-cut");
    assert_eq!(risk["severity"], "critical");
    assert_eq!(risk["container"], "redis");
    assert_eq!(risk["stories"], serde_json::json!(["flant"]));
    assert!(
        risk["location"]["file"]
            .as_str()
            .unwrap()
            .ends_with("fires/after.yaml")
    );
    assert_eq!(
        risk["changes"][0],
        serde_json::json!({"field": "spec.replicas", "before": "1", "after": "2"})
    );
    assert_eq!(
        risk["changes"][1],
        serde_json::json!({"field": "resources.requests.memory", "before": "20Gi", "after": "16000Mi"})
    );
    let changed = &json["changes"]["changed"][0];
    assert_eq!(changed["object"]["name"], "rfr-sessions");
    assert!(
        changed["fields"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("spec.replicas"))
    );
    for key in [
        "before_objects",
        "after_objects",
        "changed",
        "risks",
        "new_findings",
        "resolved_findings",
    ] {
        assert!(json["summary"][key].is_number(), "summary.{key}");
    }
    // With --fail-on above every risk and new finding, the same diff passes.
    let out = hindsight(root())
        .args(["diff", "--fail-on", "critical"])
        .arg(dir.join("before.yaml"))
        .arg(dir.join("before.yaml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "hindsight test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "hindsight test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const REDIS_V1: &str = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: redis}\nspec:\n  replicas: 1\n  template:\n    metadata: {labels: {app: redis}}\n    spec:\n      containers:\n      - name: redis\n        image: redis:7\n        resources: {requests: {memory: 8Gi}, limits: {memory: 8Gi}}\n";
const PDB: &str = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: redis}\nspec:\n  maxUnavailable: 1\n  selector: {matchLabels: {app: redis}}\n";

/// A repository whose first commit has the Redis StatefulSet, a PDB and a README outside
/// `deploy/`; the second scales Redis up, cuts its memory and deletes the PDB.
fn repository() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    git(dir, &["init", "-q", "-b", "main"]);
    write(dir, "deploy/redis.yaml", REDIS_V1);
    write(dir, "deploy/pdb.yaml", PDB);
    write(dir, "deploy/.hidden/ignored.yaml", "not: [valid");
    write(
        dir,
        "notes/other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: elsewhere}\n",
    );
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "redis"]);
    let v2 = REDIS_V1
        .replace("replicas: 1", "replicas: 3")
        .replace("memory: 8Gi}, limits", "memory: 6Gi}, limits");
    write(dir, "deploy/redis.yaml", &v2);
    std::fs::remove_file(dir.join("deploy/pdb.yaml")).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "scale redis"]);
    tmp
}

#[test]
fn git_ref_against_the_work_tree() {
    let repo = repository();
    let out = hindsight(repo.path())
        .args(["diff", "--git", "HEAD~1", "deploy/", "--format", "json"])
        .output()
        .expect("runs");
    let json = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{json:#}");
    assert_eq!(json["errors"], serde_json::json!([]));
    let rules = risk_rules(&json);
    assert!(
        rules.contains(&"change.stateful-scale-with-memory-cut".to_owned()),
        "{rules:?}"
    );
    let removed = &json["changes"]["removed"];
    assert_eq!(removed.as_array().unwrap().len(), 1, "{removed}");
    assert_eq!(removed[0]["object"]["kind"], "PodDisruptionBudget");
    assert_eq!(removed[0]["location"]["file"], "HEAD~1:deploy/pdb.yaml");
    assert_eq!(
        json["changes"]["changed"][0]["before"]["file"],
        "HEAD~1:deploy/redis.yaml"
    );
    assert_eq!(
        json["changes"]["changed"][0]["after"]["file"],
        "deploy/redis.yaml"
    );
    // `notes/` is outside the paths compared; `.hidden/` is skipped like the loader does.
    assert_eq!(json["summary"]["before_objects"], 2);

    // The Markdown comment shows before → after values.
    let out = hindsight(repo.path())
        .args(["diff", "--git", "HEAD~1", "deploy", "--format", "markdown"])
        .output()
        .expect("runs");
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.starts_with("<!-- hindsight-diff -->\n"), "{md}");
    assert!(
        md.contains("| <code>spec.replicas</code> | <code>1</code> | <code>3</code> |"),
        "{md}"
    );
    assert!(md.contains("<code>change.stateful-scale-with-memory-cut</code>"));
}

#[test]
fn a_file_deleted_by_the_change_counts_as_removed() {
    let repo = repository();
    let out = hindsight(repo.path())
        .args([
            "diff",
            "--git",
            "HEAD~1",
            "deploy/pdb.yaml",
            "deploy/redis.yaml",
            "--format",
            "json",
        ])
        .output()
        .expect("runs");
    let json = json_of(&out);
    assert_eq!(json["errors"], serde_json::json!([]), "{json:#}");
    assert_eq!(
        json["changes"]["removed"][0]["object"]["kind"],
        "PodDisruptionBudget"
    );
    assert_eq!(json["notices"][0]["side"], "after");
    assert_eq!(json["notices"][0]["file"], "deploy/pdb.yaml");
}

#[test]
fn git_ref_colon_path_against_another_file() {
    let repo = repository();
    // Rendered output compared with the committed copy of one file.
    write(repo.path(), "new.yaml", REDIS_V1);
    let out = hindsight(repo.path())
        .args([
            "diff",
            "--git",
            "HEAD:deploy/redis.yaml",
            "new.yaml",
            "--format",
            "json",
        ])
        .output()
        .expect("runs");
    let json = json_of(&out);
    assert_eq!(json["errors"], serde_json::json!([]), "{json:#}");
    assert_eq!(json["summary"]["changed"], 1);
    assert!(risk_rules(&json).is_empty(), "scaling down raises no risk");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_bad_revision_is_an_input_error_on_the_before_side() {
    let repo = repository();
    let out = hindsight(repo.path())
        .args(["diff", "--git", "no-such-ref", "deploy/"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("error: before: no-such-ref: `no-such-ref` is not a revision"),
        "{text}"
    );
}

#[test]
fn an_error_on_one_side_names_it_and_hides_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "before/app.yaml", REDIS_V1);
    write(
        dir,
        "after/app.yaml",
        &REDIS_V1
            .replace("replicas: 1", "replicas: 3")
            .replace("memory: 8Gi}, limits", "memory: 4Gi}, limits"),
    );
    write(
        dir,
        "after/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n",
    );
    let out = hindsight(dir)
        .args(["diff", "before", "after", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let json = json_of(&out);
    assert_eq!(json["errors"][0]["side"], "after");
    assert_eq!(json["errors"][0]["file"], "after/broken.yaml");
    assert!(json["errors"][0]["line"].is_number());
    assert_eq!(
        risk_rules(&json),
        ["change.stateful-scale-with-memory-cut"],
        "the risk is still reported"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: after: after/broken.yaml:"),
        "{stderr}"
    );
}

#[test]
fn standard_input_is_one_side() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "before.yaml", &format!("{REDIS_V1}---\n{PDB}"));
    let out = hindsight(tmp.path())
        .args(["diff", "before.yaml", "-", "--format", "json"])
        .write_stdin(REDIS_V1.replace("replicas: 1", "replicas: 2"))
        .output()
        .expect("runs");
    let json = json_of(&out);
    assert_eq!(
        json["changes"]["removed"][0]["object"]["kind"],
        "PodDisruptionBudget"
    );
    assert_eq!(json["changes"]["changed"][0]["after"]["file"], "<stdin>");
    let out = hindsight(tmp.path())
        .args(["diff", "-", "-"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let out = hindsight(tmp.path())
        .args(["diff", "before.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn change_rules_are_listed_and_explained() {
    let out = hindsight(root()).args(["rules"]).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for id in [
        "change.cpu-limits-removed",
        "change.disruption-budget-removed",
        "change.spread-removed",
        "change.stateful-scale-with-memory-cut",
    ] {
        assert!(text.contains(id), "{id} missing from `rules`");
    }
    let out = hindsight(root())
        .args(["explain", "change.cpu-limits-removed"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("# ---- after ----") && text.contains("Buffer"),
        "{text}"
    );
}
