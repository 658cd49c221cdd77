//! rustc-style terminal output: a header per finding, the offending line, the story it echoes
//! and what to change. Colour is decided by the writer (anstream strips it when not a terminal).

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use std::io::{self, Write};

use super::{Lines, Summary, first_sentence};
use crate::Outcome;
use crate::load::Problem;
use crate::rules::{self, Finding, Severity};

/// Rendering options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Use ANSI styles (the caller's writer strips them when not on a terminal).
    pub color: bool,
    /// Print notices too.
    pub verbose: bool,
    /// List findings accepted by exemptions, with their reasons.
    pub show_exempted: bool,
    /// List findings matched by the baseline.
    pub show_baselined: bool,
}

fn level(sev: Severity) -> Level<'static> {
    let base = match sev {
        Severity::Critical | Severity::High => Level::ERROR,
        Severity::Medium => Level::WARNING,
        Severity::Low => Level::NOTE,
        Severity::Info => Level::INFO,
    };
    base.with_name(sev.as_str())
}

/// Writes findings, errors and a summary line.
pub fn write(outcome: &Outcome, out: &mut dyn Write, opts: Options) -> io::Result<()> {
    let renderer = if opts.color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut lines = Lines::new(&outcome.sources);
    for f in &outcome.findings {
        let rendered = render_finding(&renderer, &mut lines, f);
        writeln!(out, "{rendered}\n")?;
    }
    for e in &outcome.errors {
        writeln!(
            out,
            "{}\n",
            render_problem(&renderer, &mut lines, e, Level::ERROR)
        )?;
    }
    if opts.verbose {
        for n in &outcome.notices {
            writeln!(
                out,
                "{}\n",
                render_problem(&renderer, &mut lines, n, Level::NOTE)
            )?;
        }
    }
    if opts.show_exempted && !outcome.exempted.is_empty() {
        writeln!(out, "exempted:")?;
        for e in &outcome.exempted {
            let x = &e.exemption;
            writeln!(
                out,
                "  {} {}:{}: {}{}: {}\n    reason: {} ({}{}:{})",
                e.finding.rule,
                e.finding.location.file,
                e.finding.location.line,
                e.finding.object,
                e.finding
                    .container
                    .as_deref()
                    .map(|c| format!(" (container `{c}`)"))
                    .unwrap_or_default(),
                e.finding.message,
                x.reason,
                x.until.map(|u| format!("until {u}, ")).unwrap_or_default(),
                x.file,
                x.line,
            )?;
        }
        writeln!(out)?;
    }
    if opts.show_baselined && !outcome.baselined.is_empty() {
        writeln!(out, "baselined:")?;
        for f in &outcome.baselined {
            writeln!(
                out,
                "  {} {}:{}: {}: {}",
                f.rule, f.location.file, f.location.line, f.object, f.message
            )?;
        }
        writeln!(out)?;
    }
    let s = Summary::of(outcome);
    let by_sev = crate::report::severity_counts(&s.by_severity);
    write!(
        out,
        "{} finding{}{} in {} object{} from {} file{}",
        s.findings,
        plural(s.findings),
        if by_sev.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_sev.join(", "))
        },
        s.objects,
        plural(s.objects),
        s.files,
        plural(s.files),
    )?;
    if s.errors > 0 {
        write!(out, "; {} input error{}", s.errors, plural(s.errors))?;
    }
    if s.exempted > 0 {
        write!(out, "; {} exempted", s.exempted)?;
        if !opts.show_exempted {
            write!(out, " (--show-exempted lists them)")?;
        }
    }
    if s.baselined > 0 {
        write!(out, "; {} baselined", s.baselined)?;
        if !opts.show_baselined {
            write!(out, " (--show-baselined lists them)")?;
        }
    }
    if s.notices > 0 && !opts.verbose {
        write!(
            out,
            "; {} notice{} (--verbose shows them)",
            s.notices,
            plural(s.notices)
        )?;
    }
    if !s.rules_not_run.is_empty() {
        write!(
            out,
            "; {} rule{} not run (no cluster state or metrics)",
            s.rules_not_run.len(),
            plural(s.rules_not_run.len())
        )?;
    }
    writeln!(out)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn render_finding(renderer: &Renderer, lines: &mut Lines<'_>, f: &Finding) -> String {
    let title = match &f.container {
        // Most messages already name their container; say it once.
        Some(c) if !f.message.contains(&format!("`{c}`")) => {
            format!("{} (container `{c}`): {}", f.object, f.message)
        }
        Some(_) => format!("{}: {}", f.object, f.message),
        None => format!("{}: {}", f.object, f.message),
    };
    // Line 0: not from a manifest (e.g. a pod seen only in Prometheus); the file is the source.
    let path = match f.location.line {
        0 => f.location.file.to_string(),
        line => format!("{}:{line}", f.location.file),
    };
    let mut head = Group::with_title(level(f.severity).primary_title(title).id(f.rule));
    match lines.get(&f.location.file, f.location.line) {
        Some(text) => {
            let indent = text.len() - text.trim_start().len();
            let span = indent..text.len().max(indent);
            head = head.element(
                Snippet::source(text)
                    .line_start(f.location.line as usize)
                    .path(f.location.file.to_string())
                    .annotation(AnnotationKind::Primary.span(span)),
            );
        }
        None => {
            head = head.element(Level::NOTE.with_name("at").message(path));
        }
    }
    for story in &f.stories {
        head = head.element(Level::NOTE.with_name("story").message(story.info().echo));
    }
    if let Some(rule) = rules::find(f.rule) {
        head = head.element(Level::HELP.message(format!(
            "{} (`hindsight explain {}`)",
            first_sentence(rule.meta.remediation),
            f.rule
        )));
    }
    let report: Vec<Group<'_>> = vec![head];
    renderer.render(&report)
}

fn render_problem(
    renderer: &Renderer,
    lines: &mut Lines<'_>,
    p: &Problem,
    level: Level<'static>,
) -> String {
    let mut head = Group::with_title(level.primary_title(p.message.clone()));
    match p.line.and_then(|l| lines.get(&p.file, l).map(|t| (l, t))) {
        Some((line, text)) => {
            head = head.element(
                Snippet::source(text)
                    .line_start(line as usize)
                    .path(p.file.to_string())
                    .annotation(AnnotationKind::Primary.span(0..text.len())),
            );
        }
        None => {
            let at = match p.line {
                Some(l) => format!("{}:{l}", p.file),
                None => p.file.to_string(),
            };
            head = head.element(Level::NOTE.with_name("at").message(at));
        }
    }
    renderer.render(&[head])
}
