//! The `hindsight` binary: arguments → library → report → exit status.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use hindsight::cli::{Cli, Command, ScanArgs};
use hindsight::load::Input;
use hindsight::report::{self, Format};
use hindsight::{docs, rules};

fn main() -> ExitCode {
    // rustls picks its crypto at run time; with ring the only provider compiled in this cannot
    // fail, and installing it explicitly keeps a stray aws-lc-rs feature from making rustls panic
    // (deps.md §5).
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
        Command::Serve(args) => hindsight::serve::main(args),
        Command::Stories => {
            stdout.write_all(docs::stories_text().as_bytes())?;
            Ok(0)
        }
    }
}

fn scan(args: ScanArgs) -> anyhow::Result<u8> {
    let inputs: Vec<Input> = args.paths.iter().map(|p| Input::parse(p)).collect();
    let outcome = hindsight::scan(&inputs);
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
