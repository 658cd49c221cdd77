//! Command-line definitions (clap) only; `main.rs` wires them to the library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use crate::report::Target;
use crate::rules::Severity;

/// Reads Kubernetes manifests and reports the conditions behind known outages, each finding
/// tied to the public postmortem it echoes.
#[derive(Debug, Parser)]
#[command(name = "hindsight", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan manifests (files, directories, `-` for stdin) and report findings.
    Scan(ScanArgs),
    /// Compare two versions of manifests: change risks, new findings, resolved findings.
    ///
    /// `hindsight diff BEFORE AFTER` (each side a file, a directory, or `-` for standard input;
    /// several paths per side with `--before`/`--after`), or `hindsight diff --git REF [PATHS...]`
    /// (PATHS at REF against the work tree; `--git REF:path NEW` compares a file at REF with NEW).
    Diff(DiffArgs),
    /// List every rule: id, severity, stories, title.
    Rules {
        /// `text` (a table) or `markdown` (the README's rule table) or `json`.
        #[arg(long, default_value = "text", value_parser = ["text", "markdown", "json"])]
        format: String,
    },
    /// Explain a rule: rationale, the incident, how to fix it, an example.
    Explain {
        /// A rule id, e.g. `workload.replicas-without-spread`.
        rule: String,
    },
    /// The incidents hindsight's rules come from, with links to the postmortems.
    Stories,
    /// Print a shell completion script (e.g. `hindsight completions bash > /etc/bash_completion.d/hindsight`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from these command-line definitions.
    Man {
        /// Instead, write `hindsight.1` and one page per subcommand (`hindsight-scan.1`, …) here.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Save a read-only picture of a live cluster as a `v1 List` for later or offline review
    /// (`hindsight scan cluster.json`). Secrets are never read.
    Snapshot(SnapshotArgs),
    /// Run the rules as a Kubernetes validating admission webhook (HTTPS), with a periodic
    /// audit of the cluster state exported as Prometheus metrics. See docs/webhook.md.
    Serve(ServeArgs),
}

/// Where a live cluster is read from (`scan --cluster`, `snapshot`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// Kubeconfig context to use (default: the current context, else in-cluster config).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Read namespaced kinds from this namespace only (Nodes are still read).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// Write the snapshot here (`-` for standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files and directories (walked for .yaml, .yml, .json); `-` reads standard input.
    /// Snapshots and `kubectl get -o json` dumps are files like any other.
    /// Optional with `--prometheus` or `--cluster`.
    #[arg(value_name = "PATH", required_unless_present_any = ["prometheus", "cluster"])]
    pub paths: Vec<String>,
    /// Also read the live cluster (kubeconfig or in-cluster; read-only).
    #[arg(long)]
    pub cluster: bool,
    #[command(flatten)]
    pub cluster_args: ClusterArgs,
    /// Output format, repeatable: `FMT` writes to standard output (one format at most),
    /// `FMT=PATH` to a file. FMT: text (default), json, sarif, junit, markdown, html.
    /// Example: `--format text --format sarif=hindsight.sarif`.
    #[arg(long, short = 'f', value_name = "FMT[=PATH]")]
    pub format: Vec<Target>,
    /// Write the one format without `=PATH` to this file instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Exit with status 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = Severity::High)]
    pub fail_on: Severity,
    /// Also print notices (skipped documents, duplicate keys).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Config file; by default `.hindsight.yaml` is looked for from the first path upward, then
    /// from the working directory upward.
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Ignore any `.hindsight.yaml`.
    #[arg(long)]
    pub no_config: bool,
    /// List findings accepted by `hindsight.dev/exempt.<rule>` annotations, with their reasons.
    #[arg(long)]
    pub show_exempted: bool,
    /// Report and fail only on findings that are not in this baseline file.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the fingerprints of the reported findings to this file (accepting them all).
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// List findings matched by `--baseline`.
    #[arg(long, requires = "baseline")]
    pub show_baselined: bool,
    /// Add exempted and baselined findings to the SARIF report as suppressed results (viewers
    /// such as VS Code hide them; GitHub code scanning ignores `suppressions` and would open
    /// alerts for them, so it is off by default).
    #[arg(long)]
    pub sarif_suppressed: bool,
    #[command(flatten)]
    pub prometheus: Box<PrometheusArgs>,
}

/// Reading runtime signals from Prometheus (see docs/prometheus.md).
#[derive(Debug, Clone, clap::Args)]
pub struct PrometheusArgs {
    /// Prometheus base URL (e.g. http://prometheus:9090): runs the metrics rules over a window.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// How far back to look from `--end`: 90s, 15m, 6h, 7d.
    #[arg(
        long,
        default_value = "6h",
        value_name = "DURATION",
        requires = "prometheus"
    )]
    pub window: String,
    /// End of the window: unix seconds or RFC 3339 (default: now).
    #[arg(long, value_name = "TIME", requires = "prometheus")]
    pub end: Option<String>,
    /// Resolution of range queries.
    #[arg(
        long,
        default_value = "60s",
        value_name = "DURATION",
        requires = "prometheus"
    )]
    pub step: String,
    /// Bearer token file (the token itself can be given in HINDSIGHT_PROMETHEUS_TOKEN).
    #[arg(long, value_name = "FILE", requires = "prometheus")]
    pub prometheus_token_file: Option<PathBuf>,
    /// Basic auth user (password in HINDSIGHT_PROMETHEUS_PASSWORD).
    #[arg(long, value_name = "USER", requires = "prometheus")]
    pub prometheus_user: Option<String>,
    /// PEM file of CA certificates to trust for an https:// Prometheus.
    #[arg(long, value_name = "FILE", requires = "prometheus")]
    pub prometheus_ca: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (last resort).
    #[arg(long, requires = "prometheus")]
    pub prometheus_insecure: bool,
    /// Timeout of each request.
    #[arg(
        long,
        default_value = "30s",
        value_name = "DURATION",
        requires = "prometheus"
    )]
    pub prometheus_timeout: String,
}

/// Output formats of `hindsight diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Changes, change risks with before → after values, new and resolved findings.
    Text,
    /// The documented JSON shape (see docs/diff.md).
    Json,
    /// A pull-request comment.
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// Read the before side from this git revision (`REF`, or `REF:path` for one file).
    #[arg(long, value_name = "REF")]
    pub git: Option<String>,
    /// Without `--git`: BEFORE then AFTER. With `--git REF`: the paths to compare (default `.`).
    /// With `--git REF:path`: the after side.
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Write the report to this file instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Exit with status 1 when a change risk or a new finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = Severity::High)]
    pub fail_on: Severity,
    /// Also print notices and every changed field.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// PEM certificate chain served to the API server (reloaded when its directory changes).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: PathBuf,
    /// PEM private key for `--tls-cert`.
    #[arg(long, value_name = "FILE")]
    pub tls_key: PathBuf,
    /// Address to listen on (in a pod: `0.0.0.0:8443`).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: std::net::SocketAddr,
    /// Deny objects with a finding at or above this severity.
    #[arg(long, value_enum, default_value_t = Severity::High)]
    pub deny_at: Severity,
    /// Return findings at or above this severity (and below `--deny-at`) as warnings.
    #[arg(long, value_enum, default_value_t = Severity::Medium)]
    pub warn_at: Severity,
    /// How often to re-read the cluster state and audit it (`30s`, `10m`, `1h`).
    #[arg(long, default_value = "10m", value_parser = crate::serve::parse_duration)]
    pub audit_every: std::time::Duration,
    /// Cluster state snapshot (`kubectl get ... -o json` List, YAML, or a directory), re-read
    /// when it changes; rules that relate objects read it.
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Read the cluster state from the live API instead (in-cluster service account or
    /// kubeconfig; `deploy/rbac.yaml` grants what it needs), every `--audit-every`.
    #[arg(long, conflicts_with = "state")]
    pub cluster_state: bool,
    /// Kubeconfig context for `--cluster-state` (default: current context, else in-cluster).
    #[arg(long, value_name = "NAME", requires = "cluster_state")]
    pub context: Option<String>,
    /// What to answer when hindsight itself fails on a review (a rule panics, evaluation times
    /// out): keep it consistent with the webhook's `failurePolicy` (allow = Ignore, deny = Fail).
    #[arg(long, value_enum, default_value_t = crate::serve::admission::FailureMode::Allow)]
    pub failure_mode: crate::serve::admission::FailureMode,
    /// Longest time for one request, body included; keep it below the webhook's
    /// `timeoutSeconds`.
    #[arg(long, default_value = "4s", value_parser = crate::serve::parse_duration)]
    pub request_timeout: std::time::Duration,
    /// Config file (`.hindsight.yaml`, as for `scan --config`): rules disabled, severities,
    /// parameters, excluded namespaces and kinds. Validated at start; reloaded when it changes
    /// (a file that does not validate is logged and the previous one kept).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}
