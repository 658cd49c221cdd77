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
