//! The `hindsight` binary: arguments → library → report → exit status.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use hindsight::baseline::{self, Baseline};
use hindsight::cli::{Cli, ClusterArgs, Command, DiffArgs, DiffFormat, ScanArgs, SnapshotArgs};
use hindsight::config;
use hindsight::diff::{self, Source};
use hindsight::load::Input;
use hindsight::report;
use hindsight::sources::cluster;
use hindsight::{docs, rules};

/// mimalloc: the loader makes tens of millions of small allocations on a large snapshot; glibc's
/// malloc rounds each up and keeps per-thread arenas: about 9% more peak memory on the scale
/// benchmark (`bench/cluster_scale.py`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// kubectl runs `kubectl hindsight …` as `kubectl-hindsight …` (a plugin is any executable of
/// that name on PATH); help and usage then show how the user invoked it.
const PLUGIN_NAME: &str = "kubectl-hindsight";

fn main() -> ExitCode {
    // reqwest (`rustls-no-provider`) and kube's rustls must use ring: with no provider, or more
    // than one compiled in, rustls cannot pick one and panics on the first TLS connection.
    let _ = rustls::crypto::ring::default_provider().install_default();
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
        Command::Serve(args) => hindsight::serve::main(args),
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
    let targets = match report::plan(&args.format, args.output.as_deref()) {
        Ok(targets) => targets,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let inputs: Vec<Input> = args.paths.iter().map(|p| Input::parse(p)).collect();
    if !args.cluster
        && (args.cluster_args.context.is_some() || args.cluster_args.namespace.is_some())
    {
        anyhow::bail!("--context and --namespace choose what `--cluster` reads: add --cluster");
    }
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
    let mut loaded = hindsight::load::load(&inputs);
    if args.cluster {
        let picture = cluster::fetch_blocking(&cluster_options(&args.cluster_args))?;
        loaded.absorb(picture.load());
    }
    let runtime = match &args.prometheus.prometheus {
        Some(url) => prometheus(url, &args.prometheus, &mut loaded)?,
        None => None,
    };
    let mut outcome = hindsight::analyse_with(loaded, rules::ALL, &config, runtime.as_ref());
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
        baseline: args.baseline.clone(),
        sarif_suppressed: args.sarif_suppressed,
        charts: outcome.charts.clone(),
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

/// Fetches runtime signals. Setup mistakes (bad flags) end the run; an unreachable Prometheus
/// is an input error in the report, so static findings are still shown.
fn prometheus(
    url: &str,
    args: &hindsight::cli::PrometheusArgs,
    loaded: &mut hindsight::load::Loaded,
) -> anyhow::Result<Option<hindsight::runtime::Runtime>> {
    use hindsight::load::Problem;
    use hindsight::sources::prometheus as prom;
    let duration =
        |flag: &str, v: &str| prom::parse_duration(v).map_err(|e| anyhow::anyhow!("--{flag}: {e}"));
    let window = duration("window", &args.window)?.as_secs_f64();
    let step = duration("step", &args.step)?.as_secs_f64();
    let end = match &args.end {
        Some(t) => prom::parse_time(t).map_err(|e| anyhow::anyhow!("--end: {e}"))?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as f64,
    };
    if window / step > 11_000.0 {
        anyhow::bail!(
            "--window {} at --step {} is more than the 11,000 points per series Prometheus returns: raise --step",
            args.window,
            args.step
        );
    }
    let mut opts = prom::Options::new(url);
    opts.timeout = duration("prometheus-timeout", &args.prometheus_timeout)?;
    opts.ca_file = args.prometheus_ca.clone();
    opts.insecure_skip_verify = args.prometheus_insecure;
    opts.bearer_token = match &args.prometheus_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => std::env::var("HINDSIGHT_PROMETHEUS_TOKEN").ok(),
    };
    if let Some(user) = &args.prometheus_user {
        opts.basic_auth = Some((
            user.clone(),
            std::env::var("HINDSIGHT_PROMETHEUS_PASSWORD").ok(),
        ));
    }
    let client = prom::Client::new(&opts)?;
    let origin: std::sync::Arc<str> = std::sync::Arc::from(client.url());
    let problem = |message: String| Problem {
        file: origin.clone(),
        line: None,
        message,
    };
    let window = prom::Window {
        end,
        length: window,
        step,
    };
    match prom::fetch(&client, window, hindsight::runtime::SIGNALS) {
        Ok(fetched) => {
            loaded
                .notices
                .extend(fetched.notices.into_iter().map(&problem));
            loaded
                .errors
                .extend(fetched.errors.into_iter().map(&problem));
            loaded.notices.push(problem(format!(
                "read {} signals with {} requests in {} ms ({} to {}, step {}s)",
                fetched.runtime.signals.len(),
                fetched.requests,
                fetched.elapsed.as_millis(),
                hindsight::runtime::rfc3339(fetched.runtime.start),
                hindsight::runtime::rfc3339(fetched.runtime.end),
                step
            )));
            Ok(Some(fetched.runtime))
        }
        Err(e) => {
            loaded.errors.push(problem(e.to_string()));
            Ok(None)
        }
    }
}
