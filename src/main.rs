//! The `hindsight` binary: arguments → library → report → exit status.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use hindsight::baseline::{self, Baseline};
use hindsight::cli::{Cli, Command, ScanArgs};
use hindsight::config;
use hindsight::load::Input;
use hindsight::report;
use hindsight::{docs, rules};

/// kubectl runs `kubectl hindsight …` as `kubectl-hindsight …` (a plugin is any executable of
/// that name on PATH); help and usage then show how the user invoked it.
const PLUGIN_NAME: &str = "kubectl-hindsight";

fn main() -> ExitCode {
    let invoked = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
    let mut command = Cli::command();
    if invoked.as_deref() == Some(PLUGIN_NAME) {
        command = command.bin_name("kubectl hindsight");
    }
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hindsight", &mut buf);
            stdout.write_all(&buf)?;
            Ok(0)
        }
        Command::Man { out_dir: Some(dir) } => {
            std::fs::create_dir_all(&dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), &dir))
                .map_err(|e| anyhow::anyhow!("cannot write man pages to {}: {e}", dir.display()))?;
            Ok(0)
        }
        Command::Man { out_dir: None } => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
            stdout.write_all(&buf)?;
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
    let config = if args.no_config {
        config::Config::default()
    } else {
        let first = inputs.iter().find_map(|i| match i {
            Input::Path(p) => Some(p.as_path()),
            Input::Stdin => None,
        });
        match config::discover(args.config.as_deref(), first) {
            Ok(config) => config,
            Err(e) => {
                let mut err = anstream::stderr().lock();
                write!(err, "{}", e.render(std::io::stderr().is_terminal()))?;
                writeln!(err)?;
                return Ok(2);
            }
        }
    };
    let mut outcome = hindsight::scan(&inputs, &config);
    if let Some(path) = &args.baseline {
        match Baseline::read(path) {
            Ok(base) => outcome.apply_baseline(&base),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(2);
            }
        }
    }
    let mut code = outcome.exit_code(args.fail_on) as u8;
    if let Some(path) = &args.write_baseline {
        // Everything currently reported is accepted, including what an older baseline matched.
        let mut accepted = outcome.findings.clone();
        accepted.extend(outcome.baselined.iter().cloned());
        baseline::write(&accepted, path)?;
        eprintln!(
            "wrote {} finding{} to baseline {}",
            accepted.len(),
            if accepted.len() == 1 { "" } else { "s" },
            path.display()
        );
        if code == 1 {
            code = 0;
        }
    }
    let opts = report::Options {
        color: std::io::stdout().is_terminal(),
        verbose: args.verbose,
        link_base: report::markdown::github_link_base(),
        show_exempted: args.show_exempted,
        show_baselined: args.show_baselined,
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
