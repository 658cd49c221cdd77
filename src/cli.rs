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
    /// Run the rules as a Kubernetes validating admission webhook (HTTPS), with a periodic
    /// audit of the cluster state exported as Prometheus metrics. See docs/webhook.md.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files and directories (walked for .yaml, .yml, .json); `-` reads standard input.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<String>,
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
    /// What to answer when hindsight itself fails on a review (a rule panics, evaluation times
    /// out): keep it consistent with the webhook's `failurePolicy` (allow = Ignore, deny = Fail).
    #[arg(long, value_enum, default_value_t = crate::serve::admission::FailureMode::Allow)]
    pub failure_mode: crate::serve::admission::FailureMode,
    /// Longest time for one request, body included; keep it below the webhook's
    /// `timeoutSeconds`.
    #[arg(long, default_value = "4s", value_parser = crate::serve::parse_duration)]
    pub request_timeout: std::time::Duration,
}
