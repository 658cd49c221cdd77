//! hindsight: reads Kubernetes manifests and reports the conditions behind known outages, each
//! finding tied to the public postmortem it echoes.
//!
//! The pipeline is **load → analyse → report**: [`load`] turns inputs into objects and input
//! problems, [`rules`] turn objects into findings, [`report`] renders an [`Outcome`]. See
//! `ARCHITECTURE.md` for each module's invariants.

pub mod baseline;
pub mod cli;
pub mod config;
pub mod diff;
pub mod docs;
pub mod exempt;
pub mod load;
pub mod model;
pub mod node;
pub mod pictures;
pub mod report;
pub mod rules;
pub mod runtime;
pub mod serve;
pub mod sources;
pub mod stories;
pub mod time;

use std::collections::HashMap;
use std::sync::Arc;

use load::{Input, Loaded, Problem};
use rules::{Finding, Severity};

/// Everything a run produced; every report format renders this.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    /// Input errors (and internal errors): any of them makes the exit status 2.
    pub errors: Vec<Problem>,
    /// Informational: skipped documents, duplicate keys, rules that could not run.
    pub notices: Vec<Problem>,
    /// Rules that did not run because their input (cluster state, metrics) was absent.
    pub not_run: Vec<&'static str>,
    pub objects: usize,
    /// Every object analysed, with where it starts (reports that list passes: JUnit).
    pub scanned: Vec<(rules::ObjectRef, rules::Location)>,
    pub files: usize,
    /// File texts for snippets.
    pub sources: HashMap<Arc<str>, Arc<str>>,
    /// Findings accepted by an inline exemption (`hindsight.dev/exempt.<rule>` annotations):
    /// not in `findings`, never lost.
    pub exempted: Vec<exempt::Exempted>,
    /// Findings matched by the `--baseline` file: not in `findings`, never lost.
    pub baselined: Vec<Finding>,
    /// Pictures of the live state behind the findings, for the HTML report ([`pictures`]).
    pub charts: Vec<report::svg::Chart>,
}

impl Outcome {
    /// 2 when any input error occurred (errors are never hidden by findings), else 1 when a
    /// finding is at or above `fail_on`, else 0.
    pub fn exit_code(&self, fail_on: Severity) -> i32 {
        if !self.errors.is_empty() {
            2
        } else if self.findings.iter().any(|f| f.severity >= fail_on) {
            1
        } else {
            0
        }
    }

    /// Moves findings the baseline accepts to `baselined`.
    pub fn apply_baseline(&mut self, baseline: &baseline::Baseline) {
        let (new, known) = baseline.split(std::mem::take(&mut self.findings));
        self.findings = new;
        self.baselined.extend(known);
    }
}

/// Loads the inputs and runs every rule the config enables.
pub fn scan(inputs: &[Input], config: &config::Config) -> Outcome {
    analyse(load::load(inputs), rules::ALL, config)
}

/// Runs rules over loaded objects, then applies the config (excluded paths before the rules;
/// severity overrides and excluded namespaces and kinds after them) and inline exemptions.
pub fn analyse(loaded: Loaded, rules: &[&'static rules::Rule], config: &config::Config) -> Outcome {
    analyse_with(loaded, rules, config, None)
}

/// [`analyse`] plus, when given, runtime signals from Prometheus. Rules that could not judge
/// (a metric family absent) are listed in `not_run` with a notice saying why.
pub fn analyse_with(
    loaded: Loaded,
    rules: &[&'static rules::Rule],
    config: &config::Config,
    metrics: Option<&runtime::Runtime>,
) -> Outcome {
    let loaded = config.filter_loaded(loaded);
    let rules: Vec<&'static rules::Rule> = rules
        .iter()
        .copied()
        .filter(|r| config.rule_enabled(r.meta.id))
        .collect();
    let Loaded {
        objects,
        mut errors,
        mut notices,
        sources,
    } = loaded;
    let mut files: Vec<&Arc<str>> = objects.iter().map(|o| &o.file).collect();
    files.extend(errors.iter().map(|e| &e.file));
    files.sort();
    files.dedup();
    let file_count = files.len();
    let cx = rules::Context::with_params(&objects, &config.params).with_metrics(metrics);
    let mut result = rules::run(&cx, &rules);
    let origin: Arc<str> = metrics.map_or_else(|| Arc::from("<hindsight>"), |m| m.source.clone());
    notices.extend(result.not_run_reasons.into_iter().map(|message| Problem {
        file: origin.clone(),
        line: None,
        message,
    }));
    config.apply_severities(&mut result.findings);
    result.findings.retain(|f| !config.excludes_finding(f));
    // Objects whose findings are excluded need no valid exemptions either.
    let exemptable = objects
        .iter()
        .filter(|o| !config.excludes_object(o.namespace.as_deref(), &o.kind));
    let ran: Vec<&str> = rules
        .iter()
        .map(|r| r.meta.id)
        .filter(|id| !result.not_run.contains(id))
        .collect();
    let applied = exempt::apply(exemptable, result.findings, &ran, exempt::today());
    errors.extend(applied.errors);
    notices.extend(applied.notices);
    errors.extend(result.internal_errors.into_iter().map(|message| Problem {
        file: Arc::from("<hindsight>"),
        line: None,
        message,
    }));
    errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let mut charts = pictures::cluster(&cx.index, &applied.findings);
    charts.extend(pictures::metrics(&cx, &applied.findings));
    Outcome {
        charts,
        findings: applied.findings,
        exempted: applied.exempted,
        baselined: Vec::new(),
        errors,
        notices,
        not_run: result.not_run,
        objects: objects.len(),
        scanned: objects
            .iter()
            .map(|o| {
                let at = rules::Location {
                    file: o.file.clone(),
                    line: o.line,
                };
                (rules::ObjectRef::of(o), at)
            })
            .collect(),
        files: file_count,
        sources,
    }
}
