//! The HTML report in real headless Chromium (Debian's `chromium`, installed by
//! `scripts/test-all`): the page loads without console errors (scripts and the
//! Content-Security-Policy included), the counts in the DOM equal the JSON report of the
//! same scan, URL-hash filters hide the rest, charts render, and a screenshot is written to
//! `target/test-artifacts/report.png`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hindsight::report::svg::{Bar, BarChart, Chart, LineChart, Series};
use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/reports";
const TIMEOUT: Duration = Duration::from_secs(90);

fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "headless Chromium is needed for the HTML report tests and was not found on PATH: \
             run scripts/test-all (it installs it) or `apt-get install chromium`"
        )
    })
}

/// Runs Chromium headless on `url` with a fresh profile, bounded by [`TIMEOUT`] (killed by
/// pid when it overruns). Returns stdout; fails on any console message or uncaught error.
fn run_chromium(url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait().expect("wait for chromium") {
            Some(status) => break status,
            None if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromium (pid {}) did not finish within {TIMEOUT:?}; killed",
                    child.id()
                );
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    assert!(status.success(), "chromium failed: {status}\n{stderr}");
    // The page logs nothing itself: any console line is an error, a CSP violation or a
    // failed fetch.
    let console: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(
        console.is_empty(),
        "console output in {url}:\n{}",
        console.join("\n")
    );
    stdout
}

/// The attributes of every start tag named `tag` in serialised HTML (Chromium's DOM dump is
/// regular: double-quoted attribute values, `&quot;` inside them).
fn tags(html: &str, tag: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("<{tag} ");
    html.match_indices(&open)
        .map(|(i, _)| {
            let rest = &html[i + open.len()..];
            let end = rest.find('>').expect("tag ends");
            let mut attrs = BTreeMap::new();
            let mut s = &rest[..end];
            while let Some(eq) = s.find(['=', ' ']) {
                let name = s[..eq].trim().to_owned();
                if s[eq..].starts_with("=\"") {
                    let value_end = s[eq + 2..].find('"').expect("quoted value") + eq + 2;
                    attrs.insert(name, s[eq + 2..value_end].to_owned());
                    s = &s[value_end + 1..];
                } else {
                    if !name.is_empty() {
                        attrs.insert(name, String::new());
                    }
                    s = &s[eq + 1..];
                }
                s = s.trim_start();
            }
            if !s.trim().is_empty() {
                attrs.insert(s.trim().to_owned(), String::new());
            }
            attrs
        })
        .collect()
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// One scan through the binary: the HTML and the JSON of the same run.
fn scan_html_and_json(dir: &Path) -> (PathBuf, Value) {
    let html = dir.join("report.html");
    let json = dir.join("report.json");
    let status = Command::new(env!("CARGO_BIN_EXE_hindsight"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["scan", FIXTURES, "--format"])
        .arg(format!("html={}", html.display()))
        .arg("--format")
        .arg(format!("json={}", json.display()))
        .status()
        .expect("run hindsight");
    assert_eq!(status.code(), Some(2), "the fixtures hold an input error");
    let json = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    (html, json)
}

#[test]
fn dom_counts_equal_the_json_and_filters_hide_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (html, json) = scan_html_and_json(dir.path());
    let by_sev = &json["summary"]["by_severity"];
    let total = json["summary"]["findings"].as_u64().unwrap() as usize;

    // Unfiltered: every finding visible, every count as in the JSON.
    let dom = run_chromium(&file_url(&html), &["--dump-dom"]);
    let report = &tags(&dom, "main")[0];
    for (sev, n) in by_sev.as_object().unwrap() {
        assert_eq!(report[&format!("data-count-{sev}")], n.to_string(), "{sev}");
    }
    assert_eq!(report["data-count-findings"], total.to_string());
    assert_eq!(
        report["data-count-errors"],
        json["summary"]["errors"].to_string()
    );
    assert_eq!(report["data-visible"], total.to_string());
    let findings: Vec<_> = tags(&dom, "article")
        .into_iter()
        .filter(|a| a.contains_key("data-severity"))
        .collect();
    assert_eq!(findings.len(), total);
    assert!(findings.iter().all(|a| !a.contains_key("hidden")));
    let errors = tags(&dom, "section")
        .into_iter()
        .find(|a| a.get("id").is_some_and(|id| id == "errors"));
    assert_eq!(
        errors.expect("errors shown")["data-count"],
        json["summary"]["errors"].to_string()
    );

    // `#severity=high`: only high findings stay visible.
    let high = by_sev["high"].as_u64().unwrap() as usize;
    assert!(
        high > 0 && high < total,
        "the fixtures have high and other findings"
    );
    let dom = run_chromium(
        &format!("{}#severity=high", file_url(&html)),
        &["--dump-dom"],
    );
    let findings: Vec<_> = tags(&dom, "article")
        .into_iter()
        .filter(|a| a.contains_key("data-severity"))
        .collect();
    assert_eq!(findings.len(), total, "filters hide, never remove");
    for f in &findings {
        assert_eq!(
            f.contains_key("hidden"),
            f["data-severity"] != "high",
            "{f:?}"
        );
    }
    assert_eq!(tags(&dom, "main")[0]["data-visible"], high.to_string());
    assert!(dom.contains(&format!("{high} of {total} shown")));
    let pressed: Vec<_> = tags(&dom, "button")
        .into_iter()
        .filter(|b| b.get("aria-pressed").is_some_and(|p| p == "true"))
        .collect();
    assert_eq!(pressed.len(), 1);
    assert_eq!(pressed[0]["data-filter-severity"], "high");

    // A text search from the query string: the page matches rule, object, container, place
    // and message, as computed here from the JSON.
    let query = "frontend";
    let dom = run_chromium(&format!("{}?q={query}", file_url(&html)), &["--dump-dom"]);
    let visible: Vec<_> = tags(&dom, "article")
        .into_iter()
        .filter(|a| a.contains_key("data-severity") && !a.contains_key("hidden"))
        .collect();
    let expected = json["findings"].as_array().unwrap().iter().filter(|f| {
        let o = &f["object"];
        let fields = [
            &f["rule"],
            &o["kind"],
            &o["namespace"],
            &o["name"],
            &f["container"],
            &f["location"]["file"],
            &f["message"],
        ];
        fields
            .iter()
            .any(|v| v.as_str().is_some_and(|s| s.to_lowercase().contains(query)))
    });
    assert_eq!(visible.len(), expected.count());
    assert!(!visible.is_empty());
}

/// The accepted fixture scanned with a baseline written from its `legacy.yaml`: HTML + JSON.
fn scan_accepted(dir: &Path) -> (PathBuf, Value) {
    let base = dir.join("base.json");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hindsight"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("HINDSIGHT_TODAY", "2026-11-27")
            .args(args)
            .output()
            .expect("run hindsight")
            .status
    };
    let base_arg = base.display().to_string();
    let status = run(&[
        "scan",
        "tests/fixtures/accepted/legacy.yaml",
        "--write-baseline",
        &base_arg,
    ]);
    assert_eq!(status.code(), Some(0));
    let html = dir.join("report.html");
    let json = dir.join("report.json");
    run(&[
        "scan",
        "tests/fixtures/accepted",
        "--baseline",
        &base_arg,
        "--format",
        &format!("html={}", html.display()),
        "--format",
        &format!("json={}", json.display()),
    ]);
    let json: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    (html, json)
}

#[test]
fn exempted_and_baselined_rows_equal_the_json_and_are_not_findings() {
    let dir = tempfile::tempdir().unwrap();
    let (html, json) = scan_accepted(dir.path());
    let count = |k: &str| json[k].as_array().unwrap().len();
    let (findings, exempted, baselined) =
        (count("findings"), count("exempted"), count("baselined"));
    assert!(findings > 0 && exempted > 0 && baselined > 0, "{json}");

    let dom = run_chromium(&file_url(&html), &["--dump-dom"]);
    let report = &tags(&dom, "main")[0];
    assert_eq!(report["data-count-findings"], findings.to_string());
    assert_eq!(report["data-count-exempted"], exempted.to_string());
    assert_eq!(report["data-count-baselined"], baselined.to_string());
    let cards = tags(&dom, "article")
        .into_iter()
        .filter(|a| a.contains_key("data-severity"))
        .count();
    assert_eq!(cards, findings, "accepted findings are not finding cards");
    let rows = tags(&dom, "tr");
    let kind = |k: &str| {
        rows.iter()
            .filter(|r| r.get("data-kind").is_some_and(|v| v == k))
            .collect::<Vec<_>>()
    };
    assert_eq!(kind("exempted").len(), exempted);
    assert_eq!(kind("baselined").len(), baselined);
    // Each exempted row is the JSON's finding, by fingerprint-free identity: rule and reason.
    for e in json["exempted"].as_array().unwrap() {
        let reason = e["exemption"]["reason"].as_str().unwrap();
        assert!(
            kind("exempted")
                .iter()
                .any(|r| r["data-rule"] == e["rule"].as_str().unwrap()
                    && r["data-search"].contains(&reason.to_lowercase())),
            "{reason}"
        );
    }
    assert!(dom.contains(&format!("{0} of {0} shown", exempted + baselined)));

    // The text filter applies to accepted rows too.
    let dom = run_chromium(&format!("{}?q=stateless", file_url(&html)), &["--dump-dom"]);
    let visible: Vec<_> = tags(&dom, "tr")
        .into_iter()
        .filter(|r| r.contains_key("data-kind") && !r.contains_key("hidden"))
        .collect();
    assert_eq!(visible.len(), 1, "only the exemption whose reason says so");
    assert_eq!(visible[0]["data-kind"], "exempted");
    assert!(dom.contains(&format!("1 of {} shown", exempted + baselined)));
}

#[test]
fn charts_render_and_a_screenshot_is_written() {
    let loaded = hindsight::load::load(&[hindsight::load::Input::Path(FIXTURES.into())]);
    let outcome = hindsight::analyse(
        loaded,
        hindsight::rules::ALL,
        &hindsight::config::Config::default(),
    );
    let t0 = 1_795_600_000.0;
    let opts = hindsight::report::Options {
        charts: vec![
            Chart::Bar(BarChart {
                title: "Replicas of shop/api per node".into(),
                caption: "Three of four replicas share ip-10-0-1-17: one node failure takes most of the service.".into(),
                unit: "replicas".into(),
                bars: vec![
                    Bar { label: "ip-10-0-1-17.ec2.internal".into(), value: 3.0, highlight: true },
                    Bar { label: "ip-10-0-2-44.ec2.internal".into(), value: 1.0, highlight: false },
                    Bar { label: "ip-10-0-3-9.ec2.internal".into(), value: 0.0, highlight: false },
                ],
            }),
            Chart::Line(LineChart {
                title: "CPU of container shop/api/api over 6 h".into(),
                caption: "Throttled while usage stays under the limit.".into(),
                unit: "cores".into(),
                series: vec![
                    Series { name: "usage".into(), points: (0..72).map(|i| (t0 + f64::from(i) * 300.0, 0.4 + 0.3 * (f64::from(i) / 7.0).sin().abs())).collect() },
                    Series { name: "throttled".into(), points: (0..72).map(|i| (t0 + f64::from(i) * 300.0, 0.2 * (f64::from(i) / 5.0).cos().abs())).collect() },
                    Series { name: "limit".into(), points: vec![(t0, 1.0), (t0 + 71.0 * 300.0, 1.0)] },
                ],
            }),
        ],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("charts.html");
    let mut bytes = Vec::new();
    hindsight::report::html::write(&outcome, &mut bytes, &opts).unwrap();
    std::fs::write(&page, &bytes).unwrap();

    let dom = run_chromium(&file_url(&page), &["--dump-dom"]);
    let svgs: Vec<_> = tags(&dom, "svg")
        .into_iter()
        .filter(|a| a.get("class").is_some_and(|c| c == "chart"))
        .collect();
    assert_eq!(svgs.len(), 2);
    assert_eq!(dom.matches("<polyline").count(), 3);

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &file_url(&page),
        &[
            "--window-size=1280,2400",
            "--hide-scrollbars",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(png.len() > 20_000, "a real picture, {} bytes", png.len());
}
