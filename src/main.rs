//! The `hindsight` binary: arguments → library → report → exit status.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use hindsight::cli::{Cli, Command, DiffArgs, DiffFormat, ScanArgs};
use hindsight::diff::{self, Source};
use hindsight::load::Input;
use hindsight::report::{self, Format};
use hindsight::{docs, rules};

fn main() -> ExitCode {
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
        Command::Diff(args) => diff(args),
        Command::Rules { format } => {
            let text = match format.as_str() {
                "markdown" => docs::rules_markdown(),
                "json" => docs::rules_json(),
                _ => docs::rules_text(),
            };
            stdout.write_all(text.as_bytes())?;
            Ok(0)
        }
        Command::Explain { rule } => match rules::find_meta(&rule) {
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

/// Splits `hindsight diff` arguments into the two sides.
fn diff_sources(args: &DiffArgs) -> Result<(Source, Source), String> {
    let inputs = |paths: &[String]| Source::Inputs(paths.iter().map(|p| Input::parse(p)).collect());
    match &args.git {
        Some(spec) => match spec.split_once(':') {
            Some((rev, path)) => {
                if rev.is_empty() || path.is_empty() {
                    return Err(format!("`--git {spec}`: expected REF:path"));
                }
                if args.paths.is_empty() {
                    return Err(format!(
                        "`--git {spec}` compares one file at a revision with the paths after it; give the after side"
                    ));
                }
                Ok((
                    Source::Git {
                        rev: rev.to_owned(),
                        paths: vec![path.to_owned()],
                    },
                    inputs(&args.paths),
                ))
            }
            None => {
                let paths = if args.paths.is_empty() {
                    vec![".".to_owned()]
                } else {
                    args.paths.clone()
                };
                if paths.iter().any(|p| p == "-") {
                    return Err("`-` (standard input) has no version at a git revision".into());
                }
                // A path the change deleted from the work tree is not an error: everything
                // under it at the revision counts as removed (`diff::load_side` notes it).
                let present: Vec<String> = paths
                    .iter()
                    .filter(|p| std::path::Path::new(p).exists())
                    .cloned()
                    .collect();
                Ok((
                    Source::Git {
                        rev: spec.clone(),
                        paths: paths.clone(),
                    },
                    Source::WorkTree {
                        missing: paths
                            .iter()
                            .filter(|p| !present.contains(p))
                            .cloned()
                            .collect(),
                        inputs: present.iter().map(|p| Input::parse(p)).collect(),
                    },
                ))
            }
        },
        None => match args.paths.as_slice() {
            [before, after] => {
                if before == "-" && after == "-" {
                    return Err("only one side can be `-` (standard input)".into());
                }
                Ok((
                    inputs(std::slice::from_ref(before)),
                    inputs(std::slice::from_ref(after)),
                ))
            }
            _ => Err(format!(
                "expected BEFORE and AFTER (got {} path{}), or `--git REF [PATHS...]`",
                args.paths.len(),
                if args.paths.len() == 1 { "" } else { "s" }
            )),
        },
    }
}

fn diff(args: DiffArgs) -> anyhow::Result<u8> {
    let (before, after) = match diff_sources(&args) {
        Ok(sides) => sides,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    // The sides load in parallel: one may be a git revision, the other the work tree.
    let (before, after) = rayon::join(|| diff::load_side(&before), || diff::load_side(&after));
    let outcome = diff::diff(before, after);
    let code = outcome.exit_code(args.fail_on) as u8;
    let mut buf: Vec<u8> = Vec::new();
    match args.format {
        DiffFormat::Text => diff::text::write(&outcome, &mut buf, args.verbose)?,
        DiffFormat::Json => diff::json::write(&outcome, &mut buf)?,
        DiffFormat::Markdown => diff::markdown::write(&outcome, &mut buf)?,
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
    // Errors also go to stderr, so a Markdown comment piped to a file does not hide them.
    if args.output.is_some() || args.format != DiffFormat::Text {
        for e in &outcome.errors {
            eprintln!("error: {e}");
        }
    }
    Ok(code)
}
