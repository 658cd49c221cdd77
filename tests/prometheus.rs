//! The metrics rules against a real Prometheus: synthetic history per scenario is written as
//! OpenMetrics, turned into TSDB blocks by `promtool tsdb create-blocks-from openmetrics`, served
//! by `prometheus` on a free loopback port, and scanned by the `hindsight` binary with a fixed
//! `--end`. Every scenario lives in its own day, so one server holds them all without the
//! node-level rules (which compare nodes) seeing each other's data.
//!
//! Scenario text is a tiny format (also used by each metrics rule's `example`): one series per
//! line, `<series> rate R` for a counter growing R per second or `<series> gauge V` for a
//! constant, sampled every minute; `#` lines are comments.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hindsight::rules::{self, Needs};

/// 2026-05-28T12:00:00Z; scenario `i` ends `i` days later.
const BASE_END: i64 = 1_779_969_600;
const DAY: i64 = 86_400;
/// Every scenario scans 45 minutes; data starts 10 minutes earlier so 5m rates exist at once.
const WINDOW_MIN: i64 = 45;

/// Turns scenario text into OpenMetrics samples ending at `end`. Families stay contiguous and
/// each series' samples rise in time, as promtool requires.
fn openmetrics(spec: &str, end: i64, minutes: i64) -> Vec<(String, String)> {
    let start = end - minutes * 60;
    let mut out = Vec::new();
    for line in spec.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.rsplitn(3, ' ');
        // `A->B`: A before the scanned window, B inside it (a jump from a baseline).
        let (before, after): (f64, f64) = parts
            .next()
            .and_then(|v| match v.split_once("->") {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => v.parse().ok().map(|x| (x, x)),
            })
            .unwrap_or_else(|| panic!("bad value in scenario line `{line}`"));
        let switch = end - WINDOW_MIN * 60;
        let kind = parts.next().expect("kind");
        let series = parts.next().expect("series");
        let name = series.split('{').next().unwrap_or(series).to_owned();
        let mut text = String::new();
        let mut counter = 0.0;
        for i in 0..=minutes {
            let t = start + i * 60;
            let value = if t <= switch { before } else { after };
            if i > 0 {
                counter += value * 60.0;
            }
            let v = match kind {
                "rate" => counter,
                "gauge" => value,
                other => panic!("unknown kind `{other}` in `{line}`"),
            };
            text.push_str(&format!("{series} {v} {t}\n"));
        }
        out.push((name, text));
    }
    out
}

/// One OpenMetrics document from many (name, samples) blocks, families grouped.
fn document(blocks: Vec<(String, String)>) -> String {
    let mut by_family: BTreeMap<String, String> = BTreeMap::new();
    for (name, text) in blocks {
        by_family.entry(name).or_default().push_str(&text);
    }
    let mut doc: String = by_family.into_values().collect();
    doc.push_str("# EOF\n");
    doc
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(bin))
            .find(|p| p.is_file())
    })
}

/// A child process killed by pid when dropped (also when a test panics).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Prometheus we started over its own copy of the blocks. Fields drop in order: the process
/// first, then its data directory.
struct Server {
    _process: Guard,
    url: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local addr").port()
}

fn ready(url: &str) -> bool {
    let addr = url.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let req = format!("GET /-/ready HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    use std::io::Read;
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

/// Backfills `om` and serves it over plain HTTP. Fails loudly when the binaries are missing.
fn serve(om: &str) -> Server {
    serve_with(om, None)
}

/// TLS and basic auth for [`serve_with`]: Prometheus's `--web.config.file`.
struct Web {
    /// The web config (paths relative to the fixtures directory are made absolute).
    config: String,
    /// Readiness probe for a server that `ready` (plain HTTP) cannot talk to.
    ready: fn(&str) -> bool,
}

fn serve_with(om: &str, web: Option<&Web>) -> Server {
    let (Some(promtool), Some(prometheus)) = (which("promtool"), which("prometheus")) else {
        panic!(
            "`promtool` and `prometheus` must be on PATH for these tests: run scripts/test-all, \
             or `apt-get install --no-install-recommends prometheus` (Debian ships both)"
        );
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let om_path = dir.path().join("scenarios.om");
    std::fs::write(&om_path, om).expect("write openmetrics");
    let data = dir.path().join("data");
    let status = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om_path)
        .arg(&data)
        .stdout(Stdio::null())
        .output()
        .expect("run promtool");
    assert!(
        status.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").expect("write config");
    let web_config = dir.path().join("web.yml");
    if let Some(web) = web {
        std::fs::write(&web_config, &web.config).expect("write web config");
    }
    let scheme = if web.is_some() { "https" } else { "http" };
    // The port may be taken between choosing and binding: try a few.
    for _attempt in 0..3 {
        let port = free_port();
        let url = format!("{scheme}://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let mut command = Command::new(&prometheus);
        if web.is_some() {
            command.arg(format!("--web.config.file={}", web_config.display()));
        }
        let mut process = Guard(
            command
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg("--storage.tsdb.retention.time=3650d")
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start prometheus"),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if web.map_or(ready(&url), |w| (w.ready)(&url)) {
                return Server {
                    _process: process,
                    url,
                    _dir: dir,
                };
            }
            if let Ok(Some(_)) = process.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    panic!(
        "prometheus did not become ready: {}",
        &log[log.len().saturating_sub(2000)..]
    );
}

/// Runs the hindsight binary; returns its JSON report and exit code.
fn hindsight(args: &[&str]) -> (serde_json::Value, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_hindsight"))
        .args(args)
        .output()
        .expect("run hindsight");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hindsight did not print JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (json, out.status.code().unwrap_or(-1))
}

fn scan(url: &str, end: i64, paths: &[&str]) -> (serde_json::Value, i32) {
    let end = end.to_string();
    let window = format!("{WINDOW_MIN}m");
    let mut args = vec![
        "scan",
        "--prometheus",
        url,
        "--window",
        &window,
        "--end",
        &end,
        "--format",
        "json",
        "--verbose",
    ];
    args.extend_from_slice(paths);
    hindsight(&args)
}

fn findings_of<'a>(report: &'a serde_json::Value, rule: &str) -> Vec<&'a serde_json::Value> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

/// A scenario: the rule, whether it must fire, and its series.
struct Case {
    name: &'static str,
    rule: &'static str,
    fires: bool,
    /// For firing cases, the object the finding must be on (`Kind name`).
    on: &'static str,
    spec: &'static str,
}

/// A scenario in which `rule` must stay quiet.
const fn quiet(name: &'static str, rule: &'static str, spec: &'static str) -> Case {
    Case {
        name,
        rule,
        fires: false,
        on: "",
        spec,
    }
}

/// A scenario in which `rule` must fire on `on` (`Kind name`).
const fn fires_on(
    name: &'static str,
    rule: &'static str,
    on: &'static str,
    spec: &'static str,
) -> Case {
    Case {
        name,
        rule,
        fires: true,
        on,
        spec,
    }
}

/// Scenarios where a rule must stay quiet (each rule's `example` is its firing scenario), and
/// a few more firing shapes.
const CASES: &[Case] = &[
    quiet(
        "container honestly at its limit is throttled but not reported",
        "cpu.throttled-despite-low-usage",
        r#"
container_cpu_cfs_periods_total{namespace="shop",pod="batch-0",container="app"} rate 10
container_cpu_cfs_throttled_periods_total{namespace="shop",pod="batch-0",container="app"} rate 6
container_cpu_usage_seconds_total{namespace="shop",pod="batch-0",container="app"} rate 1.9
kube_pod_container_resource_limits{namespace="shop",pod="batch-0",container="app",resource="cpu",unit="core"} gauge 2
"#,
    ),
    fires_on(
        "throttling judged from cAdvisor's quota when kube-state-metrics is absent",
        "cpu.throttled-despite-low-usage",
        "Pod api-0",
        r#"
container_cpu_cfs_periods_total{namespace="shop",pod="api-0",container="app"} rate 10
container_cpu_cfs_throttled_periods_total{namespace="shop",pod="api-0",container="app"} rate 4
container_cpu_usage_seconds_total{namespace="shop",pod="api-0",container="app"} rate 0.2
container_spec_cpu_quota{namespace="shop",pod="api-0",container="app"} gauge 100000
container_spec_cpu_period{namespace="shop",pod="api-0",container="app"} gauge 100000
"#,
    ),
    quiet(
        "busy but healthy: saturated node with one replica of each workload",
        "node.cpu-saturated-colocated",
        r#"
node_cpu_seconds_total{instance="10.0.0.7:9100",cpu="0",mode="idle"} rate 0.01
node_cpu_seconds_total{instance="10.0.0.7:9100",cpu="0",mode="user"} rate 0.99
node_uname_info{instance="10.0.0.7:9100",nodename="node-a"} gauge 1
kube_pod_info{namespace="web",pod="api-7d9f8-aaaaa",node="node-a",created_by_kind="ReplicaSet",created_by_name="api-7d9f8"} gauge 1
kube_pod_info{namespace="web",pod="api-7d9f8-bbbbb",node="node-b",created_by_kind="ReplicaSet",created_by_name="api-7d9f8"} gauge 1
kube_pod_info{namespace="web",pod="worker-6c5d4-ccccc",node="node-a",created_by_kind="ReplicaSet",created_by_name="worker-6c5d4"} gauge 1
"#,
    ),
    quiet(
        "two replicas on one node that is busy but not saturated",
        "node.cpu-saturated-colocated",
        r#"
node_cpu_seconds_total{instance="10.0.0.7:9100",cpu="0",mode="idle"} rate 0.2
node_cpu_seconds_total{instance="10.0.0.7:9100",cpu="0",mode="user"} rate 0.8
node_uname_info{instance="10.0.0.7:9100",nodename="node-a"} gauge 1
kube_pod_info{namespace="web",pod="api-7d9f8-aaaaa",node="node-a",created_by_kind="ReplicaSet",created_by_name="api-7d9f8"} gauge 1
kube_pod_info{namespace="web",pod="api-7d9f8-bbbbb",node="node-a",created_by_kind="ReplicaSet",created_by_name="api-7d9f8"} gauge 1
"#,
    ),
    quiet(
        "quiet night: every shipper's input and output flat",
        "logging.shipper-stalled",
        r#"
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-aaaaa",name="tail.0"} rate 0
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-aaaaa",name="es.0"} rate 0
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-bbbbb",name="tail.0"} rate 0
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-bbbbb",name="es.0"} rate 0
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-ccccc",name="tail.0"} rate 0
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-ccccc",name="es.0"} rate 0
"#,
    ),
    quiet(
        "every shipper flowing",
        "logging.shipper-stalled",
        r#"
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-aaaaa",name="tail.0"} rate 40
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-aaaaa",name="es.0"} rate 40
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-bbbbb",name="tail.0"} rate 3
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-bbbbb",name="es.0"} rate 3
"#,
    ),
    fires_on(
        "shipper reading but not delivering",
        "logging.shipper-stalled",
        "Pod fluent-bit-aaaaa",
        r#"
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-aaaaa",name="tail.0"} rate 40
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-aaaaa",name="es.0"} rate 0
"#,
    ),
    quiet(
        "busy nodes whose pods account for the CPU",
        "security.unexplained-cpu-burn",
        r#"
node_cpu_seconds_total{instance="10.0.0.7:9100",cpu="0",mode="idle"} rate 0.05
node_cpu_seconds_total{instance="10.0.0.7:9100",cpu="0",mode="user"} rate 0.95
node_uname_info{instance="10.0.0.7:9100",nodename="node-a"} gauge 1
node_cpu_seconds_total{instance="10.0.0.8:9100",cpu="0",mode="idle"} rate 0.1
node_cpu_seconds_total{instance="10.0.0.8:9100",cpu="0",mode="user"} rate 0.9
node_uname_info{instance="10.0.0.8:9100",nodename="node-b"} gauge 1
container_cpu_usage_seconds_total{namespace="web",pod="api-0",container="app"} rate 0.9
kube_pod_info{namespace="web",pod="api-0",node="node-a",created_by_kind="StatefulSet",created_by_name="api"} gauge 1
container_cpu_usage_seconds_total{namespace="web",pod="api-1",container="app"} rate 0.85
kube_pod_info{namespace="web",pod="api-1",node="node-b",created_by_kind="StatefulSet",created_by_name="api"} gauge 1
container_cpu_usage_seconds_total{id="/kubepods/burstable/pod1/abc",namespace="",pod=""} rate 0.9
"#,
    ),
    fires_on(
        "a container started behind the kubelet's back",
        "security.unexplained-cpu-burn",
        "Node node-a",
        r#"
container_cpu_usage_seconds_total{id="/docker/4f1e2d3c",image="xmrig/xmrig:latest",name="gcc",namespace="",pod="",node="node-a"} rate 3.5
"#,
    ),
    fires_on(
        "a DaemonSet's pods jump far above their own baseline on every node",
        "security.unexplained-cpu-burn",
        "DaemonSet log-agent",
        r#"
container_cpu_usage_seconds_total{namespace="burn",pod="log-agent-aaaaa",container="agent"} rate 0.05->0.95
container_cpu_usage_seconds_total{namespace="burn",pod="log-agent-bbbbb",container="agent"} rate 0.04->0.97
kube_pod_info{namespace="burn",pod="log-agent-aaaaa",node="node-a",created_by_kind="DaemonSet",created_by_name="log-agent"} gauge 1
kube_pod_info{namespace="burn",pod="log-agent-bbbbb",node="node-b",created_by_kind="DaemonSet",created_by_name="log-agent"} gauge 1
"#,
    ),
    quiet(
        "a DaemonSet busy as usual",
        "security.unexplained-cpu-burn",
        r#"
container_cpu_usage_seconds_total{namespace="calm",pod="log-agent-aaaaa",container="agent"} rate 0.9
container_cpu_usage_seconds_total{namespace="calm",pod="log-agent-bbbbb",container="agent"} rate 0.95
kube_pod_info{namespace="calm",pod="log-agent-aaaaa",node="node-a",created_by_kind="DaemonSet",created_by_name="log-agent"} gauge 1
kube_pod_info{namespace="calm",pod="log-agent-bbbbb",node="node-b",created_by_kind="DaemonSet",created_by_name="log-agent"} gauge 1
"#,
    ),
    quiet(
        "healthy network",
        "network.tcp-retransmits",
        r#"
node_netstat_Tcp_OutSegs{instance="10.0.0.7:9100"} rate 2000
node_netstat_Tcp_RetransSegs{instance="10.0.0.7:9100"} rate 1
node_uname_info{instance="10.0.0.7:9100",nodename="node-a"} gauge 1
node_nf_conntrack_stat_insert_failed{instance="10.0.0.7:9100"} rate 0
"#,
    ),
    fires_on(
        "conntrack insert failures",
        "network.tcp-retransmits",
        "Node node-a",
        r#"
node_netstat_Tcp_OutSegs{instance="10.0.0.7:9100"} rate 2000
node_netstat_Tcp_RetransSegs{instance="10.0.0.7:9100"} rate 1
node_uname_info{instance="10.0.0.7:9100",nodename="node-a"} gauge 1
node_nf_conntrack_stat_insert_failed{instance="10.0.0.7:9100"} rate 2
"#,
    ),
    quiet(
        "replica in sync and ready",
        "stateful.replica-ready-but-unsynced",
        r#"
redis_master_link_up{namespace="db",pod="rfr-redis-1",master_host="10.0.1.5",master_port="6379"} gauge 1
redis_master_sync_in_progress{namespace="db",pod="rfr-redis-1",master_host="10.0.1.5",master_port="6379"} gauge 0
kube_pod_status_ready{namespace="db",pod="rfr-redis-1",condition="true"} gauge 1
"#,
    ),
    quiet(
        "syncing replica correctly kept not ready",
        "stateful.replica-ready-but-unsynced",
        r#"
redis_master_link_up{namespace="db",pod="rfr-redis-1",master_host="10.0.1.5",master_port="6379"} gauge 0
redis_master_sync_in_progress{namespace="db",pod="rfr-redis-1",master_host="10.0.1.5",master_port="6379"} gauge 1
kube_pod_status_ready{namespace="db",pod="rfr-redis-1",condition="true"} gauge 0
"#,
    ),
    quiet(
        "no OOM kills",
        "memory.oom-kills",
        r#"
container_oom_events_total{namespace="shop",pod="worker-5c6d7-q8r9s",container="worker"} rate 0
"#,
    ),
    fires_on(
        "OOM kills seen by kube-state-metrics only",
        "memory.oom-kills",
        "Pod worker-5c6d7-q8r9s",
        r#"
kube_pod_container_status_restarts_total{namespace="shop",pod="worker-5c6d7-q8r9s",container="worker"} rate 0.003
kube_pod_container_status_last_terminated_reason{namespace="shop",pod="worker-5c6d7-q8r9s",container="worker",reason="OOMKilled"} gauge 1
"#,
    ),
];

/// The demo's runtime side of each story: `examples/failure-stories/<story>/metrics.om`.
const STORY_CASES: &[(&str, &str, &str)] = &[
    (
        "buffer",
        "cpu.throttled-despite-low-usage",
        r#"
# Buffer: the landing page, multi-threaded, throttled in most CFS periods at a fraction of its
# CPU limit, on Amazon Linux 2 nodes running 4.14.138 (the CFS quota bug, fixed in 4.14.154).
container_cpu_cfs_periods_total{namespace="publish",pod="landing-7d9f8-x2x4z",container="landing",node="ip-10-0-1-11"} rate 10
container_cpu_cfs_throttled_periods_total{namespace="publish",pod="landing-7d9f8-x2x4z",container="landing",node="ip-10-0-1-11"} rate 7
container_cpu_usage_seconds_total{namespace="publish",pod="landing-7d9f8-x2x4z",container="landing",node="ip-10-0-1-11"} rate 0.35
kube_pod_container_resource_limits{namespace="publish",pod="landing-7d9f8-x2x4z",container="landing",resource="cpu",unit="core"} gauge 2
container_cpu_cfs_periods_total{namespace="publish",pod="landing-7d9f8-k5l6m",container="landing",node="ip-10-0-1-12"} rate 10
container_cpu_cfs_throttled_periods_total{namespace="publish",pod="landing-7d9f8-k5l6m",container="landing",node="ip-10-0-1-12"} rate 6
container_cpu_usage_seconds_total{namespace="publish",pod="landing-7d9f8-k5l6m",container="landing",node="ip-10-0-1-12"} rate 0.3
kube_pod_container_resource_limits{namespace="publish",pod="landing-7d9f8-k5l6m",container="landing",resource="cpu",unit="core"} gauge 2
kube_pod_info{namespace="publish",pod="landing-7d9f8-x2x4z",node="ip-10-0-1-11",created_by_kind="ReplicaSet",created_by_name="landing-7d9f8"} gauge 1
kube_pod_info{namespace="publish",pod="landing-7d9f8-k5l6m",node="ip-10-0-1-12",created_by_kind="ReplicaSet",created_by_name="landing-7d9f8"} gauge 1
kube_replicaset_owner{namespace="publish",replicaset="landing-7d9f8",owner_kind="Deployment",owner_name="landing"} gauge 1
kube_node_info{node="ip-10-0-1-11",kernel_version="4.14.138-114.102.amzn2.x86_64",os_image="Amazon Linux 2"} gauge 1
kube_node_info{node="ip-10-0-1-12",kernel_version="4.14.138-114.102.amzn2.x86_64",os_image="Amazon Linux 2"} gauge 1
"#,
    ),
    (
        "moonlight",
        "node.cpu-saturated-colocated",
        r#"
# Moonlight: three API replicas and two Redis replicas piled on one node pinned at 100% CPU.
node_cpu_seconds_total{instance="10.128.0.5:9100",cpu="0",mode="idle"} rate 0.002
node_cpu_seconds_total{instance="10.128.0.5:9100",cpu="0",mode="user"} rate 0.998
node_cpu_seconds_total{instance="10.128.0.5:9100",cpu="1",mode="idle"} rate 0.004
node_cpu_seconds_total{instance="10.128.0.5:9100",cpu="1",mode="user"} rate 0.996
node_uname_info{instance="10.128.0.5:9100",nodename="gke-prod-pool-1-a1b2"} gauge 1
node_cpu_seconds_total{instance="10.128.0.6:9100",cpu="0",mode="idle"} rate 0.7
node_cpu_seconds_total{instance="10.128.0.6:9100",cpu="0",mode="user"} rate 0.3
node_uname_info{instance="10.128.0.6:9100",nodename="gke-prod-pool-1-c3d4"} gauge 1
kube_pod_info{namespace="moonlight",pod="api-6b7c8-aaaaa",node="gke-prod-pool-1-a1b2",created_by_kind="ReplicaSet",created_by_name="api-6b7c8"} gauge 1
kube_pod_info{namespace="moonlight",pod="api-6b7c8-bbbbb",node="gke-prod-pool-1-a1b2",created_by_kind="ReplicaSet",created_by_name="api-6b7c8"} gauge 1
kube_pod_info{namespace="moonlight",pod="api-6b7c8-ccccc",node="gke-prod-pool-1-a1b2",created_by_kind="ReplicaSet",created_by_name="api-6b7c8"} gauge 1
kube_pod_info{namespace="moonlight",pod="redis-0",node="gke-prod-pool-1-a1b2",created_by_kind="StatefulSet",created_by_name="redis"} gauge 1
kube_pod_info{namespace="moonlight",pod="redis-1",node="gke-prod-pool-1-a1b2",created_by_kind="StatefulSet",created_by_name="redis"} gauge 1
kube_replicaset_owner{namespace="moonlight",replicaset="api-6b7c8",owner_kind="Deployment",owner_name="api"} gauge 1
"#,
    ),
    (
        "prometheuskube",
        "logging.shipper-stalled",
        r#"
# PrometheusKube: fluent-bit on one node stopped reading and sending while the others flowed.
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-7xk2p",name="tail.0"} rate 120
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-7xk2p",name="es.0"} rate 120
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-9qw3r",name="tail.0"} rate 95
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-9qw3r",name="es.0"} rate 95
fluentbit_input_records_total{namespace="logging",pod="fluent-bit-m4n5b",name="tail.0"} rate 0
fluentbit_output_proc_records_total{namespace="logging",pod="fluent-bit-m4n5b",name="es.0"} rate 0
fluentbit_output_retries_failed_total{namespace="logging",pod="fluent-bit-m4n5b",name="es.0"} rate 0.01
kube_pod_info{namespace="logging",pod="fluent-bit-7xk2p",node="node-1",created_by_kind="DaemonSet",created_by_name="fluent-bit"} gauge 1
kube_pod_info{namespace="logging",pod="fluent-bit-9qw3r",node="node-2",created_by_kind="DaemonSet",created_by_name="fluent-bit"} gauge 1
kube_pod_info{namespace="logging",pod="fluent-bit-m4n5b",node="node-3",created_by_kind="DaemonSet",created_by_name="fluent-bit"} gauge 1
"#,
    ),
    (
        "flant",
        "stateful.replica-ready-but-unsynced",
        r#"
# Flant: the new replica sessions-redis-1 passed its ping readiness probe during a full sync.
redis_master_link_up{namespace="web",pod="sessions-redis-1",master_host="10.2.0.14",master_port="6379"} gauge 0
redis_master_sync_in_progress{namespace="web",pod="sessions-redis-1",master_host="10.2.0.14",master_port="6379"} gauge 1
kube_pod_status_ready{namespace="web",pod="sessions-redis-1",condition="true"} gauge 1
kube_pod_status_ready{namespace="web",pod="sessions-redis-0",condition="true"} gauge 1
kube_pod_info{namespace="web",pod="sessions-redis-1",node="node-2",created_by_kind="StatefulSet",created_by_name="sessions-redis"} gauge 1
kube_pod_info{namespace="web",pod="sessions-redis-0",node="node-1",created_by_kind="StatefulSet",created_by_name="sessions-redis"} gauge 1
"#,
    ),
    (
        "jwplayer",
        "security.unexplained-cpu-burn",
        r#"
# JW Player: a miner named gcc at 100% CPU on every node, started outside Kubernetes.
node_cpu_seconds_total{instance="10.1.0.21:9100",cpu="0",mode="idle"} rate 0.02
node_cpu_seconds_total{instance="10.1.0.21:9100",cpu="0",mode="user"} rate 0.98
node_uname_info{instance="10.1.0.21:9100",nodename="ip-10-1-0-21"} gauge 1
node_cpu_seconds_total{instance="10.1.0.22:9100",cpu="0",mode="idle"} rate 0.03
node_cpu_seconds_total{instance="10.1.0.22:9100",cpu="0",mode="user"} rate 0.97
node_uname_info{instance="10.1.0.22:9100",nodename="ip-10-1-0-22"} gauge 1
container_cpu_usage_seconds_total{namespace="weave",pod="weave-scope-agent-abcde",container="scope-agent"} rate 0.05
container_cpu_usage_seconds_total{namespace="weave",pod="weave-scope-agent-fghij",container="scope-agent"} rate 0.05
kube_pod_info{namespace="weave",pod="weave-scope-agent-abcde",node="ip-10-1-0-21",created_by_kind="DaemonSet",created_by_name="weave-scope-agent"} gauge 1
kube_pod_info{namespace="weave",pod="weave-scope-agent-fghij",node="ip-10-1-0-22",created_by_kind="DaemonSet",created_by_name="weave-scope-agent"} gauge 1
container_cpu_usage_seconds_total{id="/docker/9a8b7c6d5e4f",image="ddsfdfsaadfs/dfsdf:99",name="gcc",namespace="",pod="",node="ip-10-1-0-21"} rate 0.9
"#,
    ),
    (
        "mindtickle",
        "network.tcp-retransmits",
        r#"
# MindTickle: pods' calls out of the VPC retransmitting after the move to EKS (external SNAT off).
node_netstat_Tcp_OutSegs{instance="10.0.12.7:9100"} rate 3000
node_netstat_Tcp_RetransSegs{instance="10.0.12.7:9100"} rate 210
node_uname_info{instance="10.0.12.7:9100",nodename="ip-10-0-12-7.ec2.internal"} gauge 1
node_netstat_Tcp_OutSegs{instance="10.0.13.9:9100"} rate 2500
node_netstat_Tcp_RetransSegs{instance="10.0.13.9:9100"} rate 45
node_uname_info{instance="10.0.13.9:9100",nodename="ip-10-0-13-9.ec2.internal"} gauge 1
node_nf_conntrack_stat_insert_failed{instance="10.0.12.7:9100"} rate 0.5
node_nf_conntrack_stat_insert_failed{instance="10.0.13.9:9100"} rate 0
"#,
    ),
];

/// Slot of the story demos: a week after the test scenarios, one day each (see
/// scripts/demo-prometheus, which passes the same `--end`).
pub fn story_end(i: usize) -> i64 {
    BASE_END + (100 + i as i64) * DAY
}

fn metrics_rules() -> Vec<&'static rules::Rule> {
    rules::ALL
        .iter()
        .copied()
        .filter(|r| r.meta.needs == Needs::Metrics)
        .collect()
}

/// Everything one server holds: each rule's example, then CASES, then an empty day, then the
/// stories. Returns the OpenMetrics text and the `--end` of each part.
struct Layout {
    om: String,
    examples: Vec<(&'static str, i64)>,
    cases: Vec<i64>,
    empty: i64,
}

fn layout() -> Layout {
    let mut blocks = Vec::new();
    let mut slot = 0i64;
    let mut next = || {
        slot += 1;
        BASE_END + slot * DAY
    };
    let minutes = WINDOW_MIN + 10;
    let mut examples = Vec::new();
    for rule in metrics_rules() {
        let end = next();
        blocks.extend(openmetrics(rule.meta.example, end, minutes));
        examples.push((rule.meta.id, end));
    }
    let mut cases = Vec::new();
    for case in CASES {
        let end = next();
        blocks.extend(openmetrics(case.spec, end, minutes));
        cases.push(end);
    }
    let empty = next();
    for (i, (_, _, spec)) in STORY_CASES.iter().enumerate() {
        blocks.extend(openmetrics(spec, story_end(i), minutes));
    }
    Layout {
        om: document(blocks),
        examples,
        cases,
        empty,
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn metrics_rules_against_a_real_prometheus() {
    let layout = layout();
    let server = serve(&layout.om);
    let url = server.url.as_str();

    // Thresholds come from `.hindsight.yaml`: raising the throttling ratio to 1.0 silences the
    // example that fires at the default 0.25.
    let throttle = "cpu.throttled-despite-low-usage";
    let (_, end) = *layout
        .examples
        .iter()
        .find(|(r, _)| *r == throttle)
        .expect("the throttling rule has an example");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("hindsight.yaml");
    std::fs::write(
        &cfg,
        format!("params:\n  thresholds:\n    {throttle}:\n      throttled-ratio: 1.0\n"),
    )
    .expect("write config");
    let cfg = cfg.to_str().expect("utf-8 path");
    let (fires, _) = scan(url, end, &[]);
    let (quiet, _) = scan(url, end, &["--config", cfg]);
    assert!(!findings_of(&fires, throttle).is_empty(), "{fires}");
    assert!(findings_of(&quiet, throttle).is_empty(), "{quiet}");

    let mut failures: Vec<String> = Vec::new();
    let mut figures: Vec<String> = Vec::new();
    let mut record = |name: &str, report: &serde_json::Value| {
        if let Some(n) = report["notices"].as_array().and_then(|ns| {
            ns.iter()
                .filter_map(|n| n["message"].as_str())
                .find(|m| m.starts_with("read "))
        }) {
            figures.push(format!("{name}: {n}"));
        }
    };

    // Each metrics rule's documented example fires it (docs cannot lie).
    for (rule, end) in &layout.examples {
        let (report, _) = scan(url, *end, &[]);
        record(rule, &report);
        if findings_of(&report, rule).is_empty() {
            failures.push(format!(
                "example of {rule} does not fire it: {:#}",
                report["findings"]
            ));
        }
    }
    for (case, end) in CASES.iter().zip(&layout.cases) {
        let (report, _) = scan(url, *end, &[]);
        record(case.name, &report);
        let found = findings_of(&report, case.rule);
        let on = |f: &&serde_json::Value| {
            format!(
                "{} {}",
                f["object"]["kind"].as_str().unwrap_or_default(),
                f["object"]["name"].as_str().unwrap_or_default()
            ) == case.on
        };
        if case.fires && !found.iter().any(on) {
            failures.push(format!(
                "{}: expected a finding on {}, got {:#}",
                case.name, case.on, report["findings"]
            ));
        }
        if case.fires == found.is_empty() {
            failures.push(format!(
                "{} ({}): expected {}, got {:#}",
                case.name,
                case.rule,
                if case.fires { "a finding" } else { "none" },
                report["findings"]
            ));
        }
    }
    for line in &figures {
        eprintln!("{line}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn absence_is_reported_never_read_as_health() {
    let layout = layout();
    let server = serve(&layout.om);
    let (report, code) = scan(&server.url, layout.empty, &[]);
    assert_eq!(code, 0, "absence is not an error: {report:#}");
    let not_run: Vec<&str> = report["summary"]["rules_not_run"]
        .as_array()
        .expect("rules_not_run")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for rule in metrics_rules() {
        assert!(
            not_run.contains(&rule.meta.id),
            "{} should be not run on an empty window: {not_run:?}",
            rule.meta.id
        );
    }
    let notices: Vec<&str> = report["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .filter_map(|n| n["message"].as_str())
        .collect();
    for hint in [
        "no cAdvisor metrics: is the kubelet",
        "no kube-state-metrics metrics",
        "no node_exporter metrics",
        "no fluent-bit metrics",
        "no redis_exporter metrics",
    ] {
        assert!(
            notices.iter().any(|n| n.contains(hint)),
            "missing notice `{hint}` in {notices:#?}"
        );
    }
    assert!(
        notices
            .iter()
            .any(|n| n.starts_with("rule `memory.oom-kills` not run: no cAdvisor metrics")),
        "{notices:#?}"
    );
    assert!(report["findings"].as_array().expect("findings").is_empty());
}

#[test]
fn findings_join_to_loaded_manifests_and_stories_fire() {
    let layout = layout();
    let server = serve(&layout.om);
    // The cpu example's pod `api-7d9f8-x2x4z` in namespace `shop` belongs to Deployment `api`
    // (pod-name pattern, confirmed by the loaded Deployment).
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("api.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unrelated, namespace: shop}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers: [{name: app, image: example/api:1}]\n",
    )
    .expect("write manifest");
    let (_, end) = layout
        .examples
        .iter()
        .find(|(r, _)| *r == "cpu.throttled-despite-low-usage")
        .expect("cpu example");
    let html = dir.path().join("report.html");
    let html_arg = format!("html={}", html.display());
    let (report, _) = scan(
        &server.url,
        *end,
        &[
            manifest.to_str().expect("utf-8 path"),
            "--format",
            &html_arg,
        ],
    );
    let f = findings_of(&report, "cpu.throttled-despite-low-usage");
    assert_eq!(f.len(), 1, "{report:#}");
    // The HTML report pictures the throttled pod's series, read back from the real server.
    let page = std::fs::read_to_string(&html).expect("html written");
    assert!(
        page.contains("shop/api-7d9f8-x2x4z `app`: throttled while using little CPU"),
        "no throttling chart"
    );
    assert!(page.contains("throttled periods") && page.contains("CPU used / limit"));
    assert_eq!(f[0]["object"]["kind"], "Deployment");
    assert_eq!(f[0]["object"]["name"], "api");
    assert_eq!(f[0]["container"], "app");
    assert_eq!(f[0]["location"]["line"], 5);
    assert!(
        f[0]["location"]["file"]
            .as_str()
            .is_some_and(|p| p.ends_with("api.yaml"))
    );

    // Without manifests: a synthetic reference located at the Prometheus URL, line 0.
    let (report, _) = scan(&server.url, *end, &[]);
    let f = findings_of(&report, "cpu.throttled-despite-low-usage");
    assert_eq!(f[0]["object"]["kind"], "Pod", "{report:#}");
    assert_eq!(f[0]["object"]["name"], "api-7d9f8-x2x4z");
    assert_eq!(f[0]["location"]["file"], server.url.as_str());
    assert_eq!(f[0]["location"]["line"], 0);

    // Each story's runtime side fires its rule, and the committed metrics.om is current.
    let mut stale = Vec::new();
    for (i, (story, rule, spec)) in STORY_CASES.iter().enumerate() {
        let (report, _) = scan(&server.url, story_end(i), &[]);
        let f = findings_of(&report, rule);
        assert!(
            !f.is_empty(),
            "story {story}: {rule} did not fire: {report:#}"
        );
        if *story == "buffer" {
            assert_eq!(f[0]["object"]["kind"], "Deployment");
            assert_eq!(
                f[0]["severity"], "high",
                "4.14.138 nodes raise the severity: {report:#}"
            );
        }
        // With the story's manifests (written by the static-rules work), the runtime finding
        // lands on the manifest that declares the workload.
        let on_manifest: &[(&str, &str, &str)] = &[
            ("buffer", "Deployment", "landing"),
            ("flant", "StatefulSet", "sessions-redis"),
            ("prometheuskube", "DaemonSet", "fluent-bit"),
        ];
        if let Some((_, kind, name)) = on_manifest.iter().find(|(s, _, _)| s == story) {
            let dir = repo().join("examples/failure-stories").join(story);
            let (report, _) = scan(&server.url, story_end(i), &[dir.to_str().expect("utf-8")]);
            let f = findings_of(&report, rule);
            assert!(
                f.iter().any(|f| f["object"]["kind"] == *kind
                    && f["object"]["name"] == *name
                    && f["location"]["file"]
                        .as_str()
                        .is_some_and(|p| p.ends_with(".yaml"))),
                "story {story}: {rule} should land on {kind} {name} in its manifest: {report:#}"
            );
        }
        let path = repo()
            .join("examples/failure-stories")
            .join(story)
            .join("metrics.om");
        let want = document(openmetrics(spec, story_end(i), WINDOW_MIN + 10));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &want).expect("write metrics.om");
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "regenerated (commit them): {}",
        stale.join(", ")
    );
}

#[test]
fn prometheus_errors_are_clear() {
    let layout = layout();
    let server = serve(&layout.om);
    // Not the server root: Prometheus answers 404 under an unknown prefix.
    let wrong = format!("{}/not-prometheus", server.url);
    let (report, code) = scan(&wrong, layout.empty, &[]);
    assert_eq!(code, 2);
    let msg = report["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("is this a Prometheus?"), "{msg}");

    // Bad PromQL: 400 bad_data, named as such.
    use hindsight::sources::prometheus::{Client, Error, Options};
    let client = Client::new(&Options::new(server.url.clone())).expect("client");
    match client.query("rate(x[5m]", layout.empty as f64) {
        Err(e @ Error::BadData { .. }) => {
            assert!(e.to_string().contains("400 bad_data"), "{e}")
        }
        other => panic!("expected bad_data, got {other:?}"),
    }
    // A real query over stored history works with an explicit time.
    let (_, end) = layout.examples[0];
    let v = client
        .query("count(container_cpu_usage_seconds_total)", end as f64)
        .expect("query");
    assert_eq!(v.len(), 1);
    let series = client
        .series(
            "kube_pod_container_resource_limits",
            (end - 600) as f64,
            end as f64,
        )
        .expect("series");
    assert_eq!(series.len(), 1, "{series:?}");

    // Nothing listening: connection refused, and static results still come out.
    drop(server);
    let port = free_port();
    let dead = format!("http://127.0.0.1:{port}");
    let (report, code) = scan(&dead, layout.empty, &[]);
    assert_eq!(code, 2);
    let msg = report["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("cannot connect to Prometheus"), "{msg}");
    let not_run: Vec<&str> = report["summary"]["rules_not_run"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for rule in metrics_rules() {
        let id = rule.meta.id;
        assert!(
            not_run.contains(&id),
            "{id} should be listed as not run: {not_run:?}"
        );
    }
}

/// docs/prometheus.md lists every signal's PromQL between markers; regenerated here when stale
/// (outside CI), like the README's rule table.
#[test]
fn docs_list_every_signal() {
    const BEGIN: &str =
        "<!-- signals:begin (generated from src/runtime.rs by tests/prometheus.rs) -->\n";
    const END: &str = "<!-- signals:end -->";
    let mut table = String::new();
    for s in hindsight::runtime::SIGNALS {
        let shape = match s.shape {
            hindsight::runtime::Shape::Range => "range query over the window at `--step`",
            hindsight::runtime::Shape::Instant => "instant query at `--end`",
        };
        let families: Vec<String> = s
            .requires
            .iter()
            .map(|(f, e)| format!("`{f}` ({})", e.name()))
            .collect();
        table.push_str(&format!(
            "**`{}`** — {shape}; needs {}\n\n```promql\n{}\n```\n\n",
            s.id,
            families.join(", "),
            s.query
        ));
    }
    let path = repo().join("docs/prometheus.md");
    let doc = std::fs::read_to_string(&path).expect("docs/prometheus.md exists");
    let (Some(start), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/prometheus.md lacks the signals:begin/signals:end markers");
    };
    if doc[start + BEGIN.len()..end] != table {
        if std::env::var_os("CI").is_none() {
            let fixed = format!("{}{BEGIN}{table}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, fixed).expect("rewrite docs/prometheus.md");
        }
        panic!(
            "docs/prometheus.md's signal list was stale; it has been regenerated (outside CI): commit it"
        );
    }
}

/// The bcrypt hash of `TEST_PASSWORD` (cost 4, so the test stays fast).
const TEST_PASSWORD: &str = "s3cret-for-tests";
const TEST_PASSWORD_HASH: &str = "$2b$04$3S2g1EG8GZLVdkM/Ty.CROeSS2TOYdjDSi1vaPfyn8IiZbyzovrcq";

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/prometheus")
}

/// HTTPS with a private CA and basic auth, as real deployments run it: the CA file, the
/// insecure escape hatch and credentials all go through the real server.
#[test]
fn https_and_basic_auth_against_a_real_prometheus() {
    let layout = layout();
    let f = fixtures();
    let web = Web {
        config: format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  hindsight: {TEST_PASSWORD_HASH}\n",
            f.join("server.pem").display(),
            f.join("server.key").display()
        ),
        ready: |url| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let Ok(pem) = std::fs::read(fixtures().join("ca.pem")) else {
                return false;
            };
            let Ok(certs) = reqwest::Certificate::from_pem_bundle(&pem) else {
                return false;
            };
            reqwest::blocking::Client::builder()
                .tls_certs_only(certs)
                .timeout(Duration::from_secs(2))
                .build()
                .ok()
                .and_then(|c| {
                    c.get(format!("{url}/-/ready"))
                        .basic_auth("hindsight", Some(TEST_PASSWORD))
                        .send()
                        .ok()
                })
                .is_some_and(|r| r.status().is_success())
        },
    };
    let server = serve_with(&layout.om, Some(&web));
    let (rule, end) = layout.examples[0];
    let ca = f.join("ca.pem");
    let ca = ca.to_str().expect("utf-8 path");
    let run = |extra: &[&str], password: &str| -> (serde_json::Value, i32) {
        let end = end.to_string();
        let out = Command::new(env!("CARGO_BIN_EXE_hindsight"))
            .args([
                "scan",
                "--prometheus",
                &server.url,
                "--window",
                "45m",
                "--end",
                &end,
            ])
            .args(["--format", "json"])
            .args(extra)
            .env("HINDSIGHT_PROMETHEUS_PASSWORD", password)
            .output()
            .expect("run hindsight");
        let json = serde_json::from_slice(&out.stdout).expect("JSON report");
        (json, out.status.code().unwrap_or(-1))
    };
    let error = |r: &serde_json::Value| r["errors"][0]["message"].as_str().unwrap_or("").to_owned();

    let (report, _) = run(
        &["--prometheus-ca", ca, "--prometheus-user", "hindsight"],
        TEST_PASSWORD,
    );
    assert!(
        report["errors"].as_array().is_some_and(Vec::is_empty),
        "{report:#}"
    );
    assert!(!findings_of(&report, rule).is_empty(), "{report:#}");

    let (report, code) = run(
        &["--prometheus-ca", ca, "--prometheus-user", "hindsight"],
        "wrong",
    );
    assert_eq!(code, 2);
    assert!(
        error(&report).contains("refused the credentials (HTTP 401)"),
        "{report:#}"
    );

    let (report, code) = run(&["--prometheus-user", "hindsight"], TEST_PASSWORD);
    assert_eq!(code, 2);
    assert!(
        error(&report).contains("cannot connect to Prometheus")
            && error(&report).contains("--prometheus-ca"),
        "{report:#}"
    );

    let (report, _) = run(
        &["--prometheus-insecure", "--prometheus-user", "hindsight"],
        TEST_PASSWORD,
    );
    assert!(!findings_of(&report, rule).is_empty(), "{report:#}");
}
