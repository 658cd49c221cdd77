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
    let counts = assert_junit_matches_json(&json, &xml);
    assert!(counts.errors > 0, "the fixture has an input error");
    assert_eq!(counts.accepted, 0, "nothing is exempted or baselined");
}

/// What [`assert_junit_matches_json`] counted.
struct JunitCounts {
    errors: usize,
    /// Skipped cases whose findings were all accepted (exempted or baselined).
    accepted: usize,
}

/// `Kind namespace/name`, as JUnit case names and text reports write an object.
fn object_name(o: &Value) -> String {
    match o["namespace"].as_str() {
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
    }
}

/// (rule, object, file): one JUnit case.
fn case_key(f: &Value) -> (String, String, String) {
    (
        f["rule"].as_str().unwrap().to_owned(),
        object_name(&f["object"]),
        f["location"]["file"].as_str().unwrap().to_owned(),
    )
}

/// Parses the JUnit XML back and checks it against the JSON of the same run: one suite per
/// rule, one case per object, failures carrying every finding, skipped cases for rules not
/// run and for object × rule cases whose findings were all accepted (with the exemption's
/// reason or the baseline in the message), and the totals.
fn assert_junit_matches_json(json: &Value, xml: &str) -> JunitCounts {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
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
    for f in findings(json) {
        *expected_failures.entry(case_key(f)).or_default() += 1;
    }
    // Accepted findings: (case → the skipped message's parts), for cases with nothing else.
    let mut accepted_in: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    let mut accepted_count: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let accepted_all = json["exempted"]
        .as_array()
        .unwrap()
        .iter()
        .chain(json["baselined"].as_array().unwrap());
    for f in accepted_all {
        *accepted_count.entry(case_key(f)).or_default() += 1;
    }
    for e in json["exempted"].as_array().unwrap() {
        let reason = e["exemption"]["reason"].as_str().unwrap();
        accepted_in
            .entry(case_key(e))
            .or_default()
            .insert(format!("exempted: {reason}"));
    }
    for b in json["baselined"].as_array().unwrap() {
        accepted_in
            .entry(case_key(b))
            .or_default()
            .insert("baselined".to_owned());
    }
    let expected_skipped: BTreeMap<_, _> = accepted_in
        .iter()
        .filter(|(k, _)| !expected_failures.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut failures = BTreeMap::new();
    let mut skipped_accepted = BTreeMap::new();
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
            let key = (
                name.to_owned(),
                case.attribute("name").unwrap().to_owned(),
                case.attribute("file").unwrap().to_owned(),
            );
            if let Some(skip) = case.children().find(|n| n.has_tag_name("skipped")) {
                let message = skip.attribute("message").unwrap();
                // `baselined: accepted by <file>` is compared by its kind only.
                let parts: BTreeSet<String> = message
                    .split("; ")
                    .map(|p| {
                        if p.starts_with("baselined: ") {
                            "baselined".to_owned()
                        } else {
                            p.to_owned()
                        }
                    })
                    .collect();
                let text = skip.text().unwrap_or("");
                assert_eq!(
                    text.lines().filter(|l| l.starts_with("accepted (")).count(),
                    accepted_count[&key],
                    "every accepted finding is in the text: {text}"
                );
                skipped_accepted.insert(key.clone(), parts);
            }
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
                assert_eq!(
                    text.lines().filter(|l| l.starts_with("accepted (")).count(),
                    accepted_count.get(&key).copied().unwrap_or(0),
                    "accepted findings are listed after the failing ones: {text}"
                );
                failures.insert(key, n);
            }
        }
    }
    assert_eq!(failures, expected_failures);
    assert_eq!(skipped_accepted, expected_skipped);
    assert_eq!(errors, summary["errors"].as_u64().unwrap() as usize);
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
    assert_eq!(
        root.attribute("skipped").unwrap().parse::<usize>().unwrap(),
        not_run.len() + expected_skipped.len(),
        "skipped counts rules not run and accepted cases"
    );
    JunitCounts {
        errors,
        accepted: expected_skipped.len(),
    }
}

const ACCEPTED: &str = "tests/fixtures/accepted";

/// Writes a baseline from `legacy.yaml` alone, then scans the whole accepted fixture with it
/// (and `extra` arguments), JSON plus `formats` into `dir`. Returns the JSON and the baseline.
fn scan_accepted(dir: &Path, formats: &[&str], extra: &[&str]) -> (Value, PathBuf) {
    let base = dir.join("base.json");
    let out = bin()
        .env("HINDSIGHT_TODAY", "2026-11-27")
        .args([
            "scan",
            &format!("{ACCEPTED}/legacy.yaml"),
            "--write-baseline",
        ])
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = dir.join("report.json");
    let mut cmd = bin();
    cmd.env("HINDSIGHT_TODAY", "2026-11-27")
        .args(["scan", ACCEPTED, "--baseline"])
        .arg(&base)
        .arg("--format")
        .arg(format!("json={}", json.display()))
        .args(extra);
    for f in formats {
        cmd.arg("--format")
            .arg(format!("{f}={}", dir.join(format!("report.{f}")).display()));
    }
    let out = cmd.output().unwrap();
    assert!(out.stdout.is_empty(), "every format went to a file");
    let json: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(
        json["errors"].as_array().unwrap().is_empty(),
        "{}",
        json["errors"]
    );
    // The fixture really has all three kinds, including a container-scoped exemption next to
    // a reported finding on the same object and rule.
    assert_eq!(json["summary"]["exempted"], 2, "{json}");
    assert_eq!(json["summary"]["baselined"], 1, "{json}");
    assert!(json["summary"]["findings"].as_u64().unwrap() >= 2);
    (json, base)
}

/// Validates a SARIF log against the official schema, when `../shared` is there.
fn assert_valid_sarif(sarif: &Value) {
    match sarif_schema() {
        Some(schema) => {
            let validator = jsonschema::validator_for(&schema).expect("schema compiles");
            let errors: Vec<String> = validator
                .iter_errors(sarif)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{}", errors.join("\n"));
            // A suppression kind the schema does not know is caught (this test can fail).
            let mut broken = sarif.clone();
            let last = broken["runs"][0]["results"].as_array().unwrap().len() - 1;
            broken["runs"][0]["results"][last]["suppressions"] =
                serde_json::json!([{"kind": "ignored"}]);
            assert!(!validator.is_valid(&broken));
        }
        None => eprintln!(
            "notice: ../shared/schemas/sarif-2.1.0.json not found; schema validation skipped"
        ),
    }
}

/// The accepted findings' counts in the run's properties and in a note.
fn assert_accepted_counted(sarif: &Value, json: &Value, listed: bool) {
    let run = &sarif["runs"][0];
    for k in ["exempted", "baselined"] {
        assert_eq!(
            run["properties"][k].as_u64().unwrap() as usize,
            json[k].as_array().unwrap().len()
        );
    }
    let notes = run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    let note = notes
        .iter()
        .filter_map(|n| n["message"]["text"].as_str())
        .find(|t| t.starts_with("2 exempted and 1 baselined finding(s) are accepted"))
        .expect("a note counts the accepted findings");
    assert_eq!(
        note.contains("`--sarif-suppressed` adds"),
        !listed,
        "{note}"
    );
}

#[test]
fn sarif_counts_accepted_findings_but_leaves_them_out_by_default() {
    // GitHub code scanning ignores `suppressions`: listing them would open alerts.
    let dir = tempfile::tempdir().unwrap();
    let (json, _) = scan_accepted(dir.path(), &["sarif"], &[]);
    let sarif: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.sarif")).unwrap()).unwrap();
    assert_valid_sarif(&sarif);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), findings(&json).len());
    assert!(results.iter().all(|r| r.get("suppressions").is_none()));
    assert_accepted_counted(&sarif, &json, false);
}

#[test]
fn sarif_marks_exempted_and_baselined_results_as_suppressed() {
    let dir = tempfile::tempdir().unwrap();
    let (json, base) = scan_accepted(dir.path(), &["sarif"], &["--sarif-suppressed"]);
    let sarif: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.sarif")).unwrap()).unwrap();
    assert_valid_sarif(&sarif);
    assert_accepted_counted(&sarif, &json, true);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let list = |k: &str| json[k].as_array().unwrap().clone();
    let (reported, exempted, baselined) = (list("findings"), list("exempted"), list("baselined"));
    assert_eq!(
        results.len(),
        reported.len() + exempted.len() + baselined.len()
    );
    // Reported first, unsuppressed; then exempted and baselined, each suppressed.
    let expected = reported
        .iter()
        .map(|f| (f, None))
        .chain(exempted.iter().map(|e| (e, Some("inSource"))))
        .chain(baselined.iter().map(|b| (b, Some("external"))));
    for (r, (f, kind)) in results.iter().zip(expected) {
        assert_eq!(r["ruleId"], f["rule"]);
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], f["location"]["file"]);
        assert_eq!(loc["region"]["startLine"], f["location"]["line"]);
        assert_eq!(
            r["partialFingerprints"]["hindsight/v1"]
                .as_str()
                .unwrap()
                .len(),
            16
        );
        let Some(kind) = kind else {
            // SARIF §3.27.23: once one result has `suppressions`, every result has it.
            assert_eq!(r["suppressions"], serde_json::json!([]), "{r}");
            continue;
        };
        let s = &r["suppressions"].as_array().unwrap()[..];
        assert_eq!(s.len(), 1, "{r}");
        assert_eq!(s[0]["kind"], kind);
        assert_eq!(s[0]["status"], "accepted");
        if kind == "inSource" {
            let e = &f["exemption"];
            assert_eq!(s[0]["justification"], e["reason"]);
            let at = &s[0]["location"]["physicalLocation"];
            assert_eq!(at["artifactLocation"]["uri"], e["file"]);
            assert_eq!(at["region"]["startLine"], e["line"]);
            let annotation = at["region"]["snippet"]["text"].as_str().unwrap();
            assert!(
                annotation.contains(e["annotation"].as_str().unwrap()),
                "the suppression points at the annotation: {annotation}"
            );
            assert_eq!(s[0]["properties"]["until"], e["until"]);
        } else {
            let why = s[0]["justification"].as_str().unwrap();
            assert!(why.contains(&base.display().to_string()), "{why}");
        }
    }
    // The exemption with an expiry and the container-scoped one are both there.
    let props: Vec<&Value> = results
        .iter()
        .filter_map(|r| r["suppressions"][0]["properties"].as_object().map(|_| r))
        .collect();
    assert!(
        props
            .iter()
            .any(|r| r["suppressions"][0]["properties"]["until"] == "2099-12-31")
    );
    assert!(
        props
            .iter()
            .any(|r| r["suppressions"][0]["properties"]["container"] == "proxy")
    );
}

#[test]
fn junit_skips_exempted_and_baselined_cases() {
    let dir = tempfile::tempdir().unwrap();
    let (json, base) = scan_accepted(dir.path(), &["junit"], &[]);
    let xml = std::fs::read_to_string(dir.path().join("report.junit")).unwrap();
    let counts = assert_junit_matches_json(&json, &xml);
    // api (exempted) and legacy (baselined) are skipped cases; web's container-scoped
    // exemption sits in the failure of its app container.
    assert_eq!(counts.accepted, 2, "{xml}");
    assert!(
        xml.contains("<skipped message=\"exempted: stateless, any node will do\""),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<skipped message=\"baselined: accepted by {}\"",
            base.display()
        )),
        "{xml}"
    );
}

#[test]
fn markdown_lists_exempted_and_baselined_in_a_collapsed_section() {
    let dir = tempfile::tempdir().unwrap();
    let (json, _) = scan_accepted(dir.path(), &["markdown"], &[]);
    let md = std::fs::read_to_string(dir.path().join("report.markdown")).unwrap();
    assert!(
        md.lines()
            .next()
            .unwrap()
            .ends_with("· 2 exempted, 1 baselined (not counted)"),
        "{md}"
    );
    let section = md
        .find("<details><summary>Accepted, not counted above: 2 exempted, 1 baselined</summary>")
        .expect("accepted section");
    let rest = &md[section..];
    for e in json["exempted"].as_array().unwrap() {
        let x = &e["exemption"];
        let reason = x["reason"].as_str().unwrap();
        let until = x["until"].as_str().unwrap_or("—");
        let name = e["object"]["name"].as_str().unwrap();
        let row = rest
            .lines()
            .find(|l| l.contains(&format!("/{name}")) && l.contains(reason))
            .unwrap_or_else(|| panic!("no row for {name}: {rest}"));
        assert!(row.ends_with(&format!("| {until} |")), "{row}");
    }
    for b in json["baselined"].as_array().unwrap() {
        let name = b["object"]["name"].as_str().unwrap();
        assert!(rest.contains(&format!("Deployment shop/{name}")), "{rest}");
    }
    assert!(rest.contains("</details>"));
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

#[test]
fn markdown_with_many_accepted_findings_still_fits() {
    let mut outcome = fixture_outcome();
    let template = outcome.findings[0].clone();
    let exemption = hindsight::exempt::Exemption {
        scope: template.rule.to_owned(),
        container: None,
        reason: "batch workers, losing them is fine".into(),
        until: hindsight::exempt::Date::parse("2027-01-31"),
        annotation: format!("hindsight.dev/exempt.{}", template.rule),
        file: template.location.file.clone(),
        line: 3,
    };
    let named = |prefix: &str, i: usize| {
        let mut f = template.clone();
        f.object.name = format!("{prefix}-{i:04}");
        f
    };
    outcome.findings = (0..10).map(|i| named("reported", i)).collect();
    outcome.exempted = (0..2000)
        .map(|i| hindsight::exempt::Exempted {
            finding: named("exempt", i),
            exemption: exemption.clone(),
        })
        .collect();
    outcome.baselined = (0..2000).map(|i| named("old", i)).collect();
    let md = hindsight::report::markdown::render(&outcome, &Default::default());
    assert!(
        md.chars().count() <= hindsight::report::markdown::COMMENT_LIMIT,
        "{} chars",
        md.chars().count()
    );
    // Every reported finding is still shown: accepted ones give way first.
    for i in 0..10 {
        assert!(md.contains(&format!("reported-{i:04}")), "reported-{i:04}");
    }
    assert!(md.contains("2000 exempted, 2000 baselined"));
    let rows = md
        .matches("| batch workers, losing them is fine | 2027-01-31 |")
        .count();
    let old_rows = md.lines().filter(|l| l.contains("/old-")).count();
    assert!(
        rows > 10 && old_rows > 0,
        "both tables get rows: {rows}, {old_rows}"
    );
    assert!(rows + old_rows < 4000);
    assert!(
        md.contains(&format!(
            "{} of 4000 accepted (exempted or baselined) findings not shown",
            4000 - rows - old_rows
        )),
        "{}",
        &md[md.len() - 700..]
    );
    assert!(
        md.trim_end().ends_with("(`--format html=report.html`)."),
        "{}",
        &md[md.len() - 300..]
    );
}
