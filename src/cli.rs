//! Command-line definitions (clap) only; `main.rs` wires them to the library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use crate::report::Format;
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
    /// Save a read-only picture of a live cluster as a `v1 List` for later or offline review
    /// (`hindsight scan cluster.json`). Secrets are never read.
    Snapshot(SnapshotArgs),
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
    #[arg(value_name = "PATH", required_unless_present = "cluster")]
    pub paths: Vec<String>,
    /// Also read the live cluster (kubeconfig or in-cluster; read-only).
    #[arg(long)]
    pub cluster: bool,
    #[command(flatten)]
    pub cluster_args: ClusterArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Exit with status 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = Severity::High)]
    pub fail_on: Severity,
    /// Also print notices (skipped documents, duplicate keys).
    #[arg(long, short = 'v')]
    pub verbose: bool,
}
