//! The `hindsight` binary: arguments → library → report → exit status.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use hindsight::cli::{Cli, ClusterArgs, Command, ScanArgs, SnapshotArgs};
use hindsight::load::Input;
use hindsight::report::{self, Format};
use hindsight::sources::cluster;
use hindsight::{docs, rules};

fn main() -> ExitCode {
    // kube's rustls must use ring: with more than one provider compiled in (another dependency
    // enabling aws-lc-rs), rustls cannot pick one and panics on the first TLS connection.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`hindsight scan . | head`) is not an error worth a message.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::from(0);
            }
            eprintln!("error: {e:#}");
            2
        }
    };
    ExitCode::from(code)
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let mut stdout = anstream::stdout().lock();
    match cli.command {
        Command::Scan(args) => scan(args),
        Command::Rules { format } => {
            let text = match format.as_str() {
                "markdown" => docs::rules_markdown(),
                "json" => docs::rules_json(),
                _ => docs::rules_text(),
            };
            stdout.write_all(text.as_bytes())?;
            Ok(0)
        }
        Command::Explain { rule } => match rules::find(&rule) {
            Some(rule) => {
                stdout.write_all(docs::explain(rule).as_bytes())?;
                Ok(0)
            }
            None => {
                eprintln!(
                    "error: no rule `{rule}`; `hindsight rules` lists them{}",
                    docs::did_you_mean(&rule)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default()
                );
                Ok(2)
            }
        },
        Command::Stories => {
            stdout.write_all(docs::stories_text().as_bytes())?;
            Ok(0)
        }
        Command::Snapshot(args) => snapshot(args),
    }
}

fn cluster_options(args: &ClusterArgs) -> cluster::Options {
    cluster::Options {
        context: args.context.clone(),
        namespace: args.namespace.clone(),
        progress: true,
    }
}

/// Writes the picture; kinds that could not be read are listed and make the status 2, the
/// snapshot is still written (and says it is partial).
fn snapshot(args: SnapshotArgs) -> anyhow::Result<u8> {
    let picture = cluster::fetch_blocking(&cluster_options(&args.cluster))?;
    if args.output.as_os_str() == "-" {
        picture.write(std::io::stdout().lock())?;
    } else {
        let file = std::fs::File::create(&args.output)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.output.display()))?;
        picture.write(file)?;
    }
    let objects: usize = picture.header.kinds.iter().map(|k| k.count).sum();
    eprintln!(
        "{} objects from context `{}` in {:.1} s",
        objects,
        picture.header.context.as_deref().unwrap_or("?"),
        picture.header.duration_seconds
    );
    let mut partial = false;
    for u in &picture.header.unreadable {
        partial |= !u.not_served();
        eprintln!(
            "error: {} (`{}`) could not be read: {}",
            u.kind, u.resource, u.reason
        );
    }
    Ok(if partial { 2 } else { 0 })
}

fn scan(args: ScanArgs) -> anyhow::Result<u8> {
    let inputs: Vec<Input> = args.paths.iter().map(|p| Input::parse(p)).collect();
    if !args.cluster
        && (args.cluster_args.context.is_some() || args.cluster_args.namespace.is_some())
    {
        anyhow::bail!("--context and --namespace choose what `--cluster` reads: add --cluster");
    }
    let mut loaded = hindsight::load::load(&inputs);
    if args.cluster {
        let picture = cluster::fetch_blocking(&cluster_options(&args.cluster_args))?;
        loaded.absorb(picture.load());
    }
    let outcome = hindsight::analyse(loaded, rules::ALL);
    let code = outcome.exit_code(args.fail_on) as u8;
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let mut buf: Vec<u8> = Vec::new();
    match args.format {
        Format::Text => {
            let opts = report::text::Options {
                color: to_terminal,
                verbose: args.verbose,
            };
            report::text::write(&outcome, &mut buf, opts)?;
        }
        Format::Json => report::json::write(&outcome, &mut buf)?,
    }
    match &args.output {
        Some(path) => std::fs::write(path, &buf)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
        None => {
            let mut out = anstream::stdout().lock();
            out.write_all(&buf)?;
            out.flush()?;
        }
    }
    Ok(code)
}
