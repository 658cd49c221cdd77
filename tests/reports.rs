//! Every report format against the JSON report of the same run: SARIF validated against the
//! official 2.1.0 schema with its lines checked against the files, JUnit parsed back and
//! counted, Markdown snapshotted and size-bounded, and `--format FMT[=PATH]` semantics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/reports";

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hindsight"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Scans `path` once, writing JSON plus the given formats into `dir`; returns the JSON and
/// the exit status.
fn scan(path: &str, dir: &Path, formats: &[&str]) -> (Value, i32) {
    let json = dir.join("report.json");
    let mut cmd = bin();
    cmd.args(["scan", path, "--format"])
        .arg(format!("json={}", json.display()));
    for f in formats {
        cmd.arg("--format")
            .arg(format!("{f}={}", dir.join(format!("report.{f}")).display()));
    }
    let out = cmd.output().expect("run hindsight");
    assert!(out.stdout.is_empty(), "every format went to a file");
    let value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("valid JSON");
    (value, out.status.code().expect("exit code"))
}

fn findings(json: &Value) -> &Vec<Value> {
    json["findings"].as_array().expect("findings")
}

/// The official schema from `../shared` (or `../../shared` from a worktree); never vendored.
fn sarif_schema() -> Option<Value> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = [manifest.join("../shared"), manifest.join("../../shared")]
        .into_iter()
        .map(|p| p.join("schemas/sarif-2.1.0.json"))
        .find(|p| p.exists())?;
    Some(serde_json::from_slice(&std::fs::read(path).ok()?).expect("schema is JSON"))
}

fn line_of(file: &Path, line: u64) -> String {
    let text = std::fs::read_to_string(file).expect("source file");
    text.lines()
        .nth(line as usize - 1)
        .expect("line exists")
        .to_owned()
}

#[test]
fn sarif_is_valid_and_points_at_the_offending_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (json, code) = scan(FIXTURES, dir.path(), &["sarif"]);
    assert_eq!(code, 2, "the fixture holds a broken document");
    let sarif: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.sarif")).unwrap()).unwrap();

    match sarif_schema() {
        Some(schema) => {
            let validator = jsonschema::validator_for(&schema).expect("schema compiles");
            let errors: Vec<String> = validator
                .iter_errors(&sarif)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "SARIF does not match the 2.1.0 schema:\n{}",
                errors.join("\n")
            );
            // The validator does catch what the schema forbids (this test can fail).
            let mut broken = sarif.clone();
            broken["runs"][0]["results"][0]["level"] = "fatal".into();
            assert!(!validator.is_valid(&broken));
        }
        None => eprintln!(
            "notice: ../shared/schemas/sarif-2.1.0.json not found; schema validation skipped"
        ),
    }

    let run = &sarif["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "hindsight");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().unwrap();
    for rule in rules {
        let help = rule["help"]["markdown"].as_str().unwrap();
        assert!(help.contains("](https://"), "story links in help: {help}");
        let tags = rule["properties"]["tags"].as_array().unwrap();
        assert!(
            tags.iter()
                .any(|t| t.as_str().unwrap().starts_with("story:"))
        );
        let score: f64 = rule["properties"]["security-severity"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((0.0..=10.0).contains(&score));
    }

    // One result per JSON finding, in the same order, at the same place.
    let results = run["results"].as_array().unwrap();
    let json_findings = findings(&json);
    assert_eq!(results.len(), json_findings.len());
    assert!(!results.is_empty());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut fingerprints = BTreeSet::new();
    for (r, f) in results.iter().zip(json_findings) {
        assert_eq!(r["ruleId"], f["rule"]);
        assert_eq!(
            rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"],
            f["rule"]
        );
        let expected_level = match f["severity"].as_str().unwrap() {
            "critical" | "high" => "error",
            "medium" => "warning",
            _ => "note",
        };
        assert_eq!(r["level"], expected_level);
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert_eq!(
            uri,
            f["location"]["file"].as_str().unwrap(),
            "relative to the working directory"
        );
        let start = loc["region"]["startLine"].as_u64().unwrap();
        assert_eq!(start, f["location"]["line"].as_u64().unwrap());
        let actual = line_of(&root.join(uri), start);
        assert_eq!(loc["region"]["snippet"]["text"].as_str().unwrap(), actual);
        assert!(
            !actual.trim().is_empty() && !actual.trim_start().starts_with('#'),
            "{uri}:{start} is `{actual}`"
        );
        if r["ruleId"] == "workload.replicas-without-spread" {
            // Every workload in the fixtures sets `spec.replicas`: the finding is about it.
            let replicas = f["message"].as_str().unwrap().split(' ').next().unwrap();
            assert_eq!(
                actual.trim(),
                format!("replicas: {replicas}"),
                "{uri}:{start}"
            );
        }
        let logical = &r["locations"][0]["logicalLocations"][0];
        let object = &f["object"];
        assert_eq!(
            logical["fullyQualifiedName"].as_str().unwrap(),
            format!(
                "{}/{}/{}",
                object["kind"].as_str().unwrap(),
                object["namespace"].as_str().unwrap_or("default"),
                object["name"].as_str().unwrap()
            )
        );
        let fp = r["partialFingerprints"]["hindsight/v1"].as_str().unwrap();
        assert_eq!(fp.len(), 16);
        assert!(
            fingerprints.insert(fp.to_owned()),
            "fingerprints are distinct"
        );
    }

    // Input errors are never dropped: each is an error notification; the run did not succeed.
    let invocation = &run["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
    let errors: Vec<&Value> = notes.iter().filter(|n| n["level"] == "error").collect();
    assert_eq!(errors.len(), json["errors"].as_array().unwrap().len());
    for (n, e) in errors.iter().zip(json["errors"].as_array().unwrap()) {
        assert_eq!(n["message"]["text"], e["message"]);
        let region = &n["locations"][0]["physicalLocation"]["region"];
        assert_eq!(region["startLine"], e["line"]);
    }
}

#[test]
fn sarif_fingerprints_survive_moved_lines() {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURES)
        .join("deploy/api.yaml");
    let moved = dir.path().join("api.yaml");
    let original = std::fs::read_to_string(&src).unwrap();
    let sarif_of = |text: &str| -> Value {
        std::fs::write(&moved, text).unwrap();
        let out = bin()
            .args(["scan", moved.to_str().unwrap(), "--format", "sarif"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let before = sarif_of(&original);
    let after = sarif_of(&format!("# a comment\n# and another\n{original}"));
    let fp = |s: &Value| s["runs"][0]["results"][0]["partialFingerprints"].clone();
    let line = |s: &Value| {
        s["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(fp(&before), fp(&after));
    assert_eq!(line(&after), line(&before) + 2);
    // Outside the working directory: an absolute file URI, no base id.
    let uri =
        &before["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert!(
        uri["uri"].as_str().unwrap().starts_with("file:///"),
        "{uri}"
    );
    assert!(uri.get("uriBaseId").is_none());
}

#[test]
fn junit_counts_equal_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let (json, _) = scan(FIXTURES, dir.path(), &["junit"]);
    let xml = std::fs::read_to_string(dir.path().join("report.junit")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let summary = &json["summary"];
    let objects = summary["objects"].as_u64().unwrap() as usize;
    let not_run: Vec<&str> = summary["rules_not_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();

    // Failures: one per (rule, object) with findings; their texts carry every finding.
    let mut expected_failures: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for f in findings(&json) {
        let o = &f["object"];
        let name = match o["namespace"].as_str() {
            Some(ns) => format!(
                "{} {ns}/{}",
                o["kind"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            ),
            None => format!(
                "{} {}",
                o["kind"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            ),
        };
        let key = (
            f["rule"].as_str().unwrap().to_owned(),
            name,
            f["location"]["file"].as_str().unwrap().to_owned(),
        );
        *expected_failures.entry(key).or_default() += 1;
    }
    let mut failures = BTreeMap::new();
    let mut errors = 0;
    let mut skipped = 0;
    let mut suites = 0;
    for suite in root.children().filter(|n| n.has_tag_name("testsuite")) {
        let name = suite.attribute("name").unwrap();
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(
            suite.attribute("tests").unwrap().parse::<usize>().unwrap(),
            cases.len()
        );
        if name == "input errors" {
            errors += cases
                .iter()
                .filter(|c| c.children().any(|n| n.has_tag_name("error")))
                .count();
            continue;
        }
        suites += 1;
        if not_run.contains(&name) {
            assert_eq!(cases.len(), 1);
            skipped += 1;
            continue;
        }
        assert_eq!(cases.len(), objects, "one case per object in suite {name}");
        for case in cases {
            assert_eq!(case.attribute("classname"), Some(name));
            if let Some(failure) = case.children().find(|n| n.has_tag_name("failure")) {
                let text = failure.text().unwrap_or("");
                let n = text
                    .lines()
                    .filter(|l| {
                        ["critical: ", "high: ", "medium: ", "low: ", "info: "]
                            .iter()
                            .any(|p| l.starts_with(p))
                    })
                    .count();
                let key = (
                    name.to_owned(),
                    case.attribute("name").unwrap().to_owned(),
                    case.attribute("file").unwrap().to_owned(),
                );
                failures.insert(key, n);
            }
        }
    }
    assert_eq!(failures, expected_failures);
    assert_eq!(errors, summary["errors"].as_u64().unwrap() as usize);
    assert!(errors > 0, "the fixture has an input error");
    assert_eq!(skipped, not_run.len());
    let rules_in_binary = bin().args(["rules", "--format", "json"]).output().unwrap();
    let rules: Value = serde_json::from_slice(&rules_in_binary.stdout).unwrap();
    assert_eq!(
        suites,
        // Change rules (`needs: diff`) run only in `hindsight diff`: no scan suite.
        rules
            .as_array()
            .map_or(0, |r| r.iter().filter(|r| r["needs"] != "diff").count()),
        "a suite per rule"
    );
    assert_eq!(
        root.attribute("failures")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        expected_failures.len()
    );
    assert_eq!(
        root.attribute("errors").unwrap().parse::<usize>().unwrap(),
        errors
    );
}

#[test]
fn every_format_writes_and_html_json_agree_on_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (json, code) = scan(
        FIXTURES,
        dir.path(),
        &["text", "sarif", "junit", "markdown", "html"],
    );
    assert_eq!(code, 2);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for sev in ["critical", "high", "medium", "low", "info"] {
        let n = json["summary"]["by_severity"][sev].as_u64().unwrap();
        assert!(html.contains(&format!("data-count-{sev}=\"{n}\"")), "{sev}");
        assert_eq!(
            html.matches(&format!("data-severity=\"{sev}\"")).count() as u64,
            n
        );
    }
    // Self-contained: nothing that loads a resource (links to postmortems are fine).
    for fetch in [
        " src=",
        "<link",
        "url(",
        "@import",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!html.contains(fetch), "`{fetch}` in the page");
    }
    assert!(html.contains("default-src 'none'"), "CSP forbids fetches");
    let text = std::fs::read_to_string(dir.path().join("report.text")).unwrap();
    assert!(text.contains("input error"));
    assert!(!text.contains('\u{1b}'), "no colour in files");
}

#[test]
fn one_failing_format_does_not_hide_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("ok.sarif");
    let out = bin()
        .args([
            "scan",
            "tests/fixtures/reports/deploy",
            "--format",
            "text",
            "--format",
        ])
        .arg(format!("sarif={}", sarif.display()))
        .arg("--format")
        .arg("html=/nonexistent-dir/r.html")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("html report: cannot write /nonexistent-dir/r.html"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("findings"),
        "text still on stdout"
    );
    assert!(sarif.exists(), "sarif still written");
}

#[test]
fn format_arguments_are_checked_before_scanning() {
    let out = bin()
        .args(["scan", FIXTURES, "--format", "text", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("share standard output"));
    let out = bin()
        .args(["scan", FIXTURES, "--format", "pdf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown format `pdf`"));
    // `--output` still works for a single format.
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("r.json");
    let out = bin()
        .args([
            "scan",
            "tests/fixtures/reports/deploy",
            "--format",
            "json",
            "--output",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "high findings, no errors");
    assert!(out.stdout.is_empty());
    let v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(v["summary"]["findings"].as_u64().unwrap() > 0);
}

/// The fixtures analysed by the one rule this suite's fixtures are written for, so the
/// snapshot does not change when rules are added.
fn fixture_outcome() -> hindsight::Outcome {
    let loaded = hindsight::load::load(&[hindsight::load::Input::Path(FIXTURES.into())]);
    hindsight::analyse(
        loaded,
        &[&hindsight::rules::workload::replicas_without_spread::RULE],
        &hindsight::config::Config::default(),
    )
}

#[test]
fn markdown_comment_snapshot() {
    let opts = hindsight::report::Options {
        link_base: Some("https://github.com/example/shop/blob/0123abc".into()),
        ..Default::default()
    };
    let md = hindsight::report::markdown::render(&fixture_outcome(), &opts);
    insta::assert_snapshot!(md);
}

#[test]
fn markdown_fits_a_github_comment_and_says_what_it_left_out() {
    let mut outcome = fixture_outcome();
    let template = outcome.findings[0].clone();
    outcome.findings = (0..3000)
        .map(|i| {
            let mut f = template.clone();
            f.object.name = format!("service-{i:04}");
            f.message = format!("2 replicas of `service-{i:04}` can all land on one node");
            if i == 2999 {
                // The worst finding, under an incident listed after the others.
                f.severity = hindsight::rules::Severity::Critical;
                f.stories = vec![hindsight::stories::Story::JwPlayer];
            }
            f
        })
        .collect();
    let md = hindsight::report::markdown::render(&outcome, &Default::default());
    assert!(
        md.chars().count() <= hindsight::report::markdown::COMMENT_LIMIT,
        "{} chars",
        md.chars().count()
    );
    // Errors come first and are all there; the tables count everything.
    let errors_at = md.find("### Input errors").expect("errors listed");
    assert!(errors_at < md.find("<details>").unwrap());
    for e in &outcome.errors {
        assert!(md.contains(&e.message.replace(']', "\\]")), "{}", e.message);
    }
    assert!(md.contains("| high | 2999 |") && md.contains("| critical | 1 |"));
    assert!(
        md.contains("`service-2999`"),
        "the critical finding is kept when truncating"
    );
    let shown = md.matches("<details>").count();
    assert!(shown > 50 && shown < 3000, "{shown}");
    assert!(
        md.contains(&format!("{} of 3000 findings not shown", 3000 - shown)),
        "the note names what was left out:\n{}",
        &md[md.len() - 600..]
    );
}
