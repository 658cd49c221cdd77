//! The `hindsight` binary: arguments → library → report → exit status.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use hindsight::cli::{Cli, Command, ScanArgs};
use hindsight::load::Input;
use hindsight::report;
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
    let targets = match report::plan(&args.format, args.output.as_deref()) {
        Ok(targets) => targets,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let inputs: Vec<Input> = args.paths.iter().map(|p| Input::parse(p)).collect();
    let outcome = hindsight::scan(&inputs);
    let mut code = outcome.exit_code(args.fail_on) as u8;
    let opts = report::Options {
        color: std::io::stdout().is_terminal(),
        verbose: args.verbose,
        link_base: report::markdown::github_link_base(),
        ..report::Options::default()
    };
    let mut out = anstream::stdout().lock();
    // Every format is written even when another fails; a failed one makes the status 2.
    for e in report::emit(&outcome, &targets, &opts, &mut out) {
        eprintln!("error: {e}");
        code = 2;
    }
    Ok(code)
}
