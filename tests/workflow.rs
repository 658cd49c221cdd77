//! The workflow around a scan, driven through the binary on temporary trees: the config file,
//! inline exemptions, baselines, completions, man pages and the kubectl plugin name.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const RULE: &str = "workload.replicas-without-spread";

/// A Deployment that fires `workload.replicas-without-spread` (high) and nothing else (requests,
/// a memory limit and `runAsNonRoot` keep the other manifest rules quiet), with optional extra
/// metadata lines (indented two spaces).
fn deployment(name: &str, namespace: &str, replicas: u32, metadata: &str) -> String {
    let resources = "resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 64Mi}}";
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\n{metadata}spec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n{NON_ROOT}      containers:\n      - {{name: app, image: example/{name}:1, {resources}}}\n      - {{name: proxy, image: example/proxy:1, {resources}}}\n"
    )
}

const NON_ROOT: &str = "      securityContext: {runAsNonRoot: true}\n";

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write fixture");
}

fn hindsight(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("hindsight").expect("binary built");
    cmd.current_dir(dir).env("HINDSIGHT_TODAY", "2026-11-27");
    cmd
}

/// Runs a JSON scan and returns (exit code, report).
fn scan_json(dir: &Path, args: &[&str]) -> (i32, Value) {
    let out = hindsight(dir)
        .args(["scan", "--format", "json"])
        .args(args)
        .output()
        .expect("runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exited"), report)
}

fn names(report: &Value, list: &str) -> Vec<String> {
    report[list]
        .as_array()
        .expect("array")
        .iter()
        .map(|f| f["object"]["name"].as_str().expect("name").to_owned())
        .collect()
}

/// Two Deployments in two namespaces, in two files.
fn two_apps() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "k8s/api.yaml",
        &deployment("api", "prod", 3, ""),
    );
    write(
        dir.path(),
        "k8s/batch/jobs.yaml",
        &deployment("jobs", "batch", 2, ""),
    );
    dir
}

#[test]
fn without_config_both_findings_are_reported() {
    let dir = two_apps();
    let (code, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(code, 1);
    assert_eq!(names(&r, "findings"), ["api", "jobs"]);
    assert_eq!(r["summary"]["exempted"], 0);
    assert_eq!(r["summary"]["baselined"], 0);
}

#[test]
fn config_disables_a_rule() {
    let dir = two_apps();
    write(
        dir.path(),
        ".hindsight.yaml",
        &format!("rules:\n  disable: [{RULE}]\n"),
    );
    let (code, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(code, 0);
    assert!(names(&r, "findings").is_empty());
    // The same through enable-only of another area, and by area.
    write(
        dir.path(),
        ".hindsight.yaml",
        "rules:\n  disable: [workload]\n",
    );
    assert_eq!(scan_json(dir.path(), &["k8s"]).0, 0);
    // --no-config ignores it.
    assert_eq!(scan_json(dir.path(), &["k8s", "--no-config"]).0, 1);
}

#[test]
fn config_overrides_a_severity() {
    let dir = two_apps();
    write(
        dir.path(),
        ".hindsight.yaml",
        &format!("rules:\n  severity:\n    {RULE}: low\n"),
    );
    let (code, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(code, 0, "low is below the default --fail-on high");
    let sevs: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    assert_eq!(sevs, ["low", "low"]);
    assert_eq!(r["summary"]["by_severity"]["low"], 2);
    let (code, _) = scan_json(dir.path(), &["k8s", "--fail-on", "low"]);
    assert_eq!(code, 1);
}

#[test]
fn config_excludes_namespaces_paths_and_kinds() {
    let dir = two_apps();
    write(
        dir.path(),
        ".hindsight.yaml",
        "exclude:\n  namespaces: ['bat*']\n",
    );
    assert_eq!(
        names(&scan_json(dir.path(), &["k8s"]).1, "findings"),
        ["api"]
    );
    write(
        dir.path(),
        ".hindsight.yaml",
        "exclude:\n  paths: [k8s/batch]\n",
    );
    let (_, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(names(&r, "findings"), ["api"]);
    assert_eq!(
        r["summary"]["objects"], 1,
        "excluded files are not analysed"
    );
    write(
        dir.path(),
        ".hindsight.yaml",
        "exclude:\n  kinds: [Deployment]\n",
    );
    assert!(names(&scan_json(dir.path(), &["k8s"]).1, "findings").is_empty());
    // An invalid exemption on an excluded object does not matter either.
    write(
        dir.path(),
        "k8s/batch/jobs.yaml",
        &deployment("jobs", "batch", 2, &exempt("until=2027-01-01")),
    );
    write(
        dir.path(),
        ".hindsight.yaml",
        "exclude:\n  namespaces: [batch]\n",
    );
    assert_eq!(scan_json(dir.path(), &["k8s"]).0, 1, "api is still high");
    std::fs::remove_file(dir.path().join(".hindsight.yaml")).unwrap();
    assert_eq!(scan_json(dir.path(), &["k8s"]).0, 2);
}

#[test]
fn config_is_found_upward_from_the_scanned_path_or_given_explicitly() {
    let dir = two_apps();
    // The config sits in k8s/, the scan runs from elsewhere and names k8s/batch.
    write(
        dir.path(),
        "k8s/.hindsight.yaml",
        "exclude:\n  namespaces: [batch]\n",
    );
    std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
    let (code, r) = scan_json(&dir.path().join("elsewhere"), &["../k8s/batch"]);
    assert_eq!((code, names(&r, "findings").len()), (0, 0));
    // Path globs are relative to the config file's directory.
    write(
        dir.path(),
        "k8s/.hindsight.yaml",
        "exclude:\n  paths: ['batch/*.yaml']\n",
    );
    let (_, r) = scan_json(&dir.path().join("elsewhere"), &["../k8s"]);
    assert_eq!(names(&r, "findings"), ["api"]);
    // --config wins over discovery; a missing file is an error.
    write(
        dir.path(),
        "strict.yaml",
        &format!("rules:\n  disable: [{RULE}]\n"),
    );
    assert_eq!(
        scan_json(dir.path(), &["k8s", "--config", "strict.yaml"]).0,
        0
    );
    hindsight(dir.path())
        .args(["scan", "k8s", "--config", "nope.yaml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("nope.yaml"));
}

#[test]
fn config_errors_name_file_line_and_valid_choices() {
    let dir = two_apps();
    let cases = [
        (
            "rules:\n  severity:\n    workload: hgh\n",
            ".hindsight.yaml:3:15",
            "valid values: `info`, `low`, `medium`, `high`, `critical`",
        ),
        (
            "rules:\n  disable:\n  - workload.replicas-without-sprad\n",
            ".hindsight.yaml:3:5",
            "did you mean `workload.replicas-without-spread`?",
        ),
        (
            "exclude:\n  namespace: [x]\n",
            ".hindsight.yaml:2:3",
            "valid keys: `namespaces`, `paths`, `kinds`",
        ),
        (
            "params:\n  exposure:\n    private-cidrs: [10.0.0.0/8, 300.1.1.1/8]\n",
            ".hindsight.yaml:3:33",
            "is not an IP network",
        ),
    ];
    for (config, at, help) in cases {
        write(dir.path(), ".hindsight.yaml", config);
        let out = hindsight(dir.path())
            .args(["scan", "k8s"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(&format!("--> {at}")), "{at}: {stderr}");
        assert!(stderr.contains(help), "{help}: {stderr}");
        assert!(out.stdout.is_empty(), "no report on a config error");
    }
}

fn exempt(value: &str) -> String {
    format!("  annotations:\n    hindsight.dev/exempt.{RULE}: \"{value}\"\n")
}

#[test]
fn valid_exemption_is_counted_and_listed() {
    let dir = two_apps();
    write(
        dir.path(),
        "k8s/api.yaml",
        &deployment(
            "api",
            "prod",
            3,
            &exempt("reason=stateless, any node will do; until=2027-01-31"),
        ),
    );
    let (code, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(code, 1, "jobs is still reported");
    assert_eq!(names(&r, "findings"), ["jobs"]);
    assert_eq!(names(&r, "exempted"), ["api"]);
    assert_eq!(r["summary"]["exempted"], 1);
    let e = &r["exempted"][0]["exemption"];
    assert_eq!(e["reason"], "stateless, any node will do");
    assert_eq!(e["until"], "2027-01-31");
    assert_eq!(e["line"], 7);
    // Text: counted on the summary line, listed with the reason on request.
    hindsight(dir.path())
        .args(["scan", "k8s"])
        .assert()
        .stdout(predicates::str::contains(
            "; 1 exempted (--show-exempted lists them)",
        ));
    hindsight(dir.path())
        .args(["scan", "k8s", "--show-exempted"])
        .assert()
        .stdout(predicates::str::contains(
            "reason: stateless, any node will do (until 2027-01-31, k8s/api.yaml:7)",
        ));
}

#[test]
fn exemption_without_reason_is_an_error_and_keeps_the_finding() {
    let dir = two_apps();
    write(
        dir.path(),
        "k8s/api.yaml",
        &deployment("api", "prod", 3, &exempt("until=2027-01-31")),
    );
    let (code, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(code, 2);
    assert_eq!(names(&r, "findings"), ["api", "jobs"]);
    let err = &r["errors"][0];
    assert_eq!(err["file"], "k8s/api.yaml");
    assert_eq!(err["line"], 7);
    assert!(
        err["message"].as_str().unwrap().contains("no reason given"),
        "{err}"
    );
}

#[test]
fn expired_exemption_turns_back_into_a_finding() {
    let dir = two_apps();
    write(
        dir.path(),
        "k8s/api.yaml",
        &deployment(
            "api",
            "prod",
            3,
            &exempt("reason=until the migration; until=2026-10-31"),
        ),
    );
    let (code, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(code, 1);
    assert_eq!(r["summary"]["exempted"], 0);
    let msg = r["findings"][0]["message"].as_str().unwrap();
    assert!(
        msg.ends_with("(exemption expired on 2026-10-31: until the migration)"),
        "{msg}"
    );
    // The day before expiry it still holds.
    let out = hindsight(dir.path())
        .env("HINDSIGHT_TODAY", "2026-10-31")
        .args(["scan", "k8s", "--format", "json"])
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["summary"]["exempted"], 1);
}

#[test]
fn container_scoped_exemption_leaves_other_containers_reported() {
    // Without `runAsNonRoot`, `security.runs-as-root` fires once per container.
    let dir = tempfile::tempdir().unwrap();
    let annotation = "  annotations:\n    hindsight.dev/exempt.security.runs-as-root: \"reason=proxy image drops privileges itself; container=proxy\"\n";
    write(
        dir.path(),
        "k8s/api.yaml",
        &deployment("api", "prod", 1, annotation).replace(NON_ROOT, ""),
    );
    // "Nothing forbids root" is below high: fail on anything to see that `app` still counts.
    let (code, r) = scan_json(dir.path(), &["k8s", "--fail-on", "info"]);
    assert!(
        r["errors"].as_array().unwrap().is_empty(),
        "{}",
        r["errors"]
    );
    let containers = |list: &str| -> Vec<(String, String)> {
        r[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["rule"].as_str().unwrap().to_owned(),
                    f["container"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let root = "security.runs-as-root".to_owned();
    assert_eq!(containers("findings"), [(root.clone(), "app".to_owned())]);
    assert_eq!(containers("exempted"), [(root, "proxy".to_owned())]);
    assert_eq!(code, 1);

    // A container-scoped exemption does not cover a finding about the whole object.
    write(
        dir.path(),
        "k8s/api.yaml",
        &deployment("api", "prod", 3, &exempt("reason=r; container=proxy")),
    );
    let (code, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(code, 1);
    assert_eq!(names(&r, "findings"), ["api"]);
    assert!(r["errors"].as_array().unwrap().is_empty());
    // A container that does not exist is an error listing the real ones.
    write(
        dir.path(),
        "k8s/api.yaml",
        &deployment("api", "prod", 3, &exempt("reason=r; container=db")),
    );
    let (code, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(code, 2);
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("containers: app, proxy"),
        "{}",
        r["errors"]
    );
}

#[test]
fn baseline_round_trip() {
    let dir = two_apps();
    hindsight(dir.path())
        .args(["scan", "k8s", "--write-baseline", "base.json"])
        .assert()
        .code(0)
        .stderr(predicates::str::contains(
            "wrote 2 findings to baseline base.json",
        ));
    let (code, r) = scan_json(dir.path(), &["k8s", "--baseline", "base.json"]);
    assert_eq!((code, r["summary"]["baselined"].as_u64()), (0, Some(2)));

    // Move both objects into one new file, reorder them, shift lines, change replica counts.
    std::fs::remove_dir_all(dir.path().join("k8s")).unwrap();
    write(
        dir.path(),
        "deploy/all.yaml",
        &format!(
            "# moved here\n\n---\n{}---\n{}",
            deployment("jobs", "batch", 5, ""),
            deployment("api", "prod", 4, "  labels: {team: a}\n")
        ),
    );
    let (code, r) = scan_json(dir.path(), &["deploy", "--baseline", "base.json"]);
    assert_eq!(code, 0, "{r}");
    assert!(names(&r, "findings").is_empty());
    assert_eq!(names(&r, "baselined"), ["jobs", "api"]);

    // A genuinely new finding is reported and fails the run; the old ones stay baselined.
    write(
        dir.path(),
        "deploy/new.yaml",
        &deployment("worker", "prod", 2, ""),
    );
    let (code, r) = scan_json(dir.path(), &["deploy", "--baseline", "base.json"]);
    assert_eq!(code, 1);
    assert_eq!(names(&r, "findings"), ["worker"]);
    assert_eq!(r["summary"]["baselined"], 2);
    hindsight(dir.path())
        .args([
            "scan",
            "deploy",
            "--baseline",
            "base.json",
            "--show-baselined",
        ])
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "baselined:\n  workload.replicas-without-spread deploy/all.yaml:",
        ));
}

#[test]
fn baseline_matches_duplicates_by_count() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", &deployment("api", "prod", 3, ""));
    hindsight(dir.path())
        .args(["scan", "a.yaml", "--write-baseline", "base.json"])
        .assert()
        .code(0);
    // The same object applied from a second file: two identical fingerprints, one accepted.
    write(dir.path(), "b.yaml", &deployment("api", "prod", 3, ""));
    let (code, r) = scan_json(dir.path(), &["a.yaml", "b.yaml", "--baseline", "base.json"]);
    assert_eq!(code, 1);
    assert_eq!(
        (
            r["summary"]["findings"].as_u64(),
            r["summary"]["baselined"].as_u64()
        ),
        (Some(1), Some(1))
    );
}

#[test]
fn broken_baseline_is_exit_2_with_a_clear_message() {
    let dir = two_apps();
    write(
        dir.path(),
        "base.json",
        "{\"version\": 1, \"findings\": [\n  {\"rule\": 3}\n",
    );
    hindsight(dir.path())
        .args(["scan", "k8s", "--baseline", "base.json"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("error: baseline base.json:2:"));
    hindsight(dir.path())
        .args(["scan", "k8s", "--baseline", "missing.json"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "cannot read baseline missing.json",
        ));
}

#[test]
fn completions_and_man_pages_come_from_the_cli_definition() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = hindsight(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("write-baseline") && text.contains("show-exempted"),
            "{shell}"
        );
    }
    let out = hindsight(dir.path()).arg("man").output().unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") && page.contains(".TH hindsight 1"),
        "{page}"
    );
    assert!(
        page.contains("hindsight\\-scan(1)") || page.contains("scan"),
        "{page}"
    );
    hindsight(dir.path())
        .args(["man", "--out-dir", "man"])
        .assert()
        .success();
    let scan = std::fs::read_to_string(dir.path().join("man/hindsight-scan.1")).unwrap();
    for flag in [
        "\\-\\-baseline",
        "\\-\\-write\\-baseline",
        "\\-\\-config",
        "\\-\\-show\\-exempted",
    ] {
        assert!(scan.contains(flag), "{flag} missing from hindsight-scan.1");
    }
}

#[cfg(unix)]
#[test]
fn runs_as_a_kubectl_plugin() {
    let dir = two_apps();
    let plugin = dir.path().join("kubectl-hindsight");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("hindsight"), &plugin).unwrap();
    let help = std::process::Command::new(&plugin)
        .args(["scan", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: kubectl hindsight scan"), "{help}");
    let as_plugin = std::process::Command::new(&plugin)
        .current_dir(dir.path())
        .env("HINDSIGHT_TODAY", "2026-11-27")
        .args(["scan", "k8s", "--format", "json"])
        .output()
        .unwrap();
    let direct = hindsight(dir.path())
        .args(["scan", "k8s", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(as_plugin.status.code(), Some(1));
    assert_eq!(as_plugin.stdout, direct.stdout);

    // Through kubectl's own plugin discovery, when kubectl is installed.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let has_kubectl = std::env::split_paths(&path).any(|d| d.join("kubectl").is_file());
    if !has_kubectl {
        eprintln!("notice: kubectl not on PATH; skipped `kubectl hindsight` through kubectl");
        return;
    }
    let mut dirs = vec![dir.path().to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    let via_kubectl = std::process::Command::new("kubectl")
        .current_dir(dir.path())
        .env("PATH", std::env::join_paths(dirs).unwrap())
        .env("HINDSIGHT_TODAY", "2026-11-27")
        .args(["hindsight", "scan", "k8s", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        via_kubectl.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&via_kubectl.stderr)
    );
    assert_eq!(via_kubectl.stdout, direct.stdout);
}

#[test]
fn pre_commit_hook_definition_runs_hindsight_scan_on_manifests() {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    struct Hook {
        id: String,
        entry: String,
        language: String,
        files: String,
        #[serde(default)]
        require_serial: bool,
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(".pre-commit-hooks.yaml")).unwrap();
    let hooks: Vec<Hook> = serde_saphyr::from_str(&text).unwrap();
    assert!(!hooks.is_empty());
    for h in &hooks {
        assert!(h.entry.starts_with("hindsight scan"), "{}", h.id);
        assert!(
            ["rust", "system"].contains(&h.language.as_str()),
            "{}",
            h.id
        );
        assert!(h.require_serial, "{}: one process sees every file", h.id);
        assert_eq!(h.files, r"\.(ya?ml|json)$");
    }
}

/// A team's own admin console behind three load balancers: open, limited to a VPN range, and
/// one whose live address lies in the company's own (publicly numbered) network.
fn ops_console() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let console = deployment("console", "ops", 1, "").replace(
        "example/console:1",
        "registry.corp/platform/ops-console:4.2",
    );
    let service = |name: &str, selector: &str, extra: &str| {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: ops}}\nspec:\n  type: LoadBalancer\n  selector: {{app: {selector}}}\n  ports: [{{port: 443, targetPort: 8443}}]\n{extra}"
        )
    };
    let text = [
        console,
        service("console", "console", ""),
        service(
            "console-vpn",
            "console",
            "  loadBalancerSourceRanges: [198.51.100.0/24]\n",
        ),
        service(
            "edge",
            "edge",
            "status: {loadBalancer: {ingress: [{ip: 192.0.2.10}]}}\n",
        ),
    ]
    .concat();
    write(dir.path(), "k8s/ops.yaml", &text);
    dir
}

/// (rule, object name, severity) of the `exposure.*` findings.
fn exposure(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            f["rule"]
                .as_str()
                .is_some_and(|r| r.starts_with("exposure."))
        })
        .map(|f| {
            let s = |v: &Value| v.as_str().expect("string").to_owned();
            (s(&f["rule"]), s(&f["object"]["name"]), s(&f["severity"]))
        })
        .collect()
}

#[test]
fn exposure_params_add_admin_ui_images_and_private_ranges() {
    let dir = ops_console();
    let t = |rule: &str, name: &str, sev: &str| (rule.to_owned(), name.to_owned(), sev.to_owned());
    // Without a config the console is just another open load balancer.
    let (code, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        exposure(&r),
        [
            t("exposure.public-load-balancer", "console", "medium"),
            t("exposure.public-load-balancer", "edge", "medium"),
        ]
    );

    // The team names its console: it is an admin UI on a public load balancer.
    write(
        dir.path(),
        ".hindsight.yaml",
        "params:\n  exposure:\n    admin-ui-images: ['registry.corp/*/ops-console*']\n",
    );
    let (code, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(code, 1, "critical fails the run");
    assert_eq!(
        exposure(&r),
        [
            t("exposure.public-dashboard", "console", "critical"),
            t("exposure.public-dashboard", "console-vpn", "high"),
            t("exposure.public-load-balancer", "edge", "medium"),
        ]
    );
    let message = r["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("image `registry.corp/platform/ops-console:4.2`")
            && message.contains("params.exposure.admin-ui-images"),
        "{message}"
    );

    // Its VPN range and its own address space are private too.
    write(
        dir.path(),
        ".hindsight.yaml",
        "params:\n  exposure:\n    admin-ui-images: ['registry.corp/*/ops-console*']\n    private-cidrs: [198.51.100.0/24, 192.0.2.0/24]\n",
    );
    let (code, r) = scan_json(dir.path(), &["k8s"]);
    assert_eq!(code, 1);
    assert_eq!(
        exposure(&r),
        [t("exposure.public-dashboard", "console", "critical")]
    );
    // `--no-config` goes back to the built-in lists.
    let (_, r) = scan_json(dir.path(), &["k8s", "--no-config"]);
    assert_eq!(exposure(&r).len(), 2);
}
