//! One self-contained HTML page (askama template compiled into the binary): summary by
//! severity and by incident, each incident in two lines, findings with source snippets,
//! client-side filters (severity, incident, rule, text; state kept in the URL hash so a link
//! can carry a filter, e.g. `report.html#severity=high`), input errors on top.
//!
//! Invariants: no network fetches (inline CSS, JS and SVG only; system fonts); every finding
//! and error of the outcome is in the page whatever the filters show; counts are exposed as
//! `data-count-*` attributes on `#report` for tools and tests. Cluster and metrics pictures
//! come from [`Options::charts`](super::Options) (see [`super::svg`]). Findings accepted by
//! an exemption or the baseline are listed in their own collapsed section (`#accepted`, rows
//! `tr.accepted` with `data-kind`), with reason and expiry; they are not counted as findings
//! (`data-count-exempted`, `data-count-baselined`), and the same filters apply to them.

use askama::Template;
use std::io::{self, Write};

use super::svg::escape;
use super::{Lines, Options, SEVERITIES, Summary, first_sentence, squash_spaces};
use crate::Outcome;
use crate::exempt::Exempted;
use crate::load::Problem;
use crate::rules::{self, Finding};
use crate::stories::Story;

/// Lines of context shown around the offending line.
const CONTEXT: u32 = 3;

struct SeverityCount {
    name: &'static str,
    count: usize,
}

struct StoryView {
    id: &'static str,
    org: &'static str,
    year: u16,
    title: &'static str,
    url: &'static str,
    summary: &'static str,
    count: usize,
}

struct RuleView {
    id: &'static str,
    title: &'static str,
    count: usize,
}

struct SnippetLine {
    number: u32,
    text: String,
    hit: bool,
}

struct FindingView {
    rule: &'static str,
    severity: &'static str,
    stories: String,
    echoes: Vec<&'static str>,
    object: String,
    container: Option<String>,
    place: String,
    /// HTML: escaped text with `code` spans.
    message: String,
    fix: String,
    why: String,
    snippet: Vec<SnippetLine>,
    fingerprint: String,
    /// Lower-case text the search box matches against.
    search: String,
}

/// A finding accepted by an exemption or the baseline: a table row, not a finding card.
struct AcceptedView {
    kind: &'static str,
    rule: &'static str,
    severity: &'static str,
    stories: String,
    object: String,
    container: Option<String>,
    place: String,
    /// HTML: escaped text with `code` spans.
    message: String,
    /// Why it is accepted (the exemption's reason, or the baseline file).
    reason: String,
    until: String,
    /// Where the exemption is written (`file:line` of the annotation); empty for baselined.
    source: String,
    fingerprint: String,
    search: String,
}

struct ProblemView {
    place: String,
    message: String,
    snippet: Vec<SnippetLine>,
}

struct ChartView {
    title: String,
    caption: String,
    svg: String,
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page {
    version: &'static str,
    headline: String,
    summary: Summary,
    severities: Vec<SeverityCount>,
    stories: Vec<StoryView>,
    rules: Vec<RuleView>,
    findings: Vec<FindingView>,
    exempted: Vec<AcceptedView>,
    baselined: Vec<AcceptedView>,
    errors: Vec<ProblemView>,
    notices: Vec<ProblemView>,
    not_run: Vec<&'static str>,
    charts: Vec<ChartView>,
}

fn snippet(lines: &mut Lines<'_>, file: &str, line: Option<u32>) -> Vec<SnippetLine> {
    let Some(line) = line else {
        return Vec::new();
    };
    lines
        .context(file, line, CONTEXT)
        .into_iter()
        .map(|(number, text)| SnippetLine {
            number,
            text: text.replace('\t', "    "),
            hit: number == line,
        })
        .collect()
}

/// Escapes `text` and turns its backtick spans into `<code>` (rule texts quote names so).
fn with_code_spans(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return escape(text); // unbalanced backticks: show them as they are
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&escape(part));
            out.push_str("</code>");
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

fn place(file: &str, line: Option<u32>) -> String {
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_owned(),
    }
}

fn finding_view(f: &Finding, lines: &mut Lines<'_>) -> FindingView {
    let rule = rules::find(f.rule);
    let fix = rule
        .map(|r| squash_spaces(r.meta.remediation))
        .unwrap_or_default();
    let why = rule
        .map(|r| squash_spaces(first_sentence(r.meta.rationale)))
        .unwrap_or_default();
    let place = place(&f.location.file, Some(f.location.line));
    let object = f.object.to_string();
    let search = search_text(f, &object, &place, rule.map_or("", |r| r.meta.title));
    FindingView {
        rule: f.rule,
        severity: f.severity.as_str(),
        stories: story_ids(f),
        echoes: f.stories.iter().map(|s| s.info().echo).collect(),
        object,
        container: f.container.clone(),
        snippet: snippet(lines, &f.location.file, Some(f.location.line)),
        place,
        message: with_code_spans(&f.message),
        fix: with_code_spans(&fix),
        why: with_code_spans(&why),
        fingerprint: f.fingerprint(),
        search,
    }
}

/// The finding's story ids, space-separated (the `data-stories` filter attribute).
fn story_ids(f: &Finding) -> String {
    f.stories
        .iter()
        .map(|s| s.id())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the page's search box matches a finding (or accepted finding) against, lowercased.
fn search_text(f: &Finding, object: &str, place: &str, extra: &str) -> String {
    format!(
        "{} {} {} {} {} {}",
        f.rule,
        object,
        f.container.as_deref().unwrap_or(""),
        place,
        f.message,
        extra
    )
    .to_lowercase()
}

fn accepted_view(f: &Finding, kind: &'static str, reason: String) -> AcceptedView {
    let place = place(&f.location.file, Some(f.location.line));
    let object = f.object.to_string();
    let search = search_text(f, &object, &place, &reason);
    AcceptedView {
        kind,
        rule: f.rule,
        severity: f.severity.as_str(),
        stories: story_ids(f),
        object,
        container: f.container.clone(),
        place,
        message: with_code_spans(&f.message),
        reason,
        until: String::new(),
        source: String::new(),
        fingerprint: f.fingerprint(),
        search,
    }
}

fn exempted_view(e: &Exempted) -> AcceptedView {
    let x = &e.exemption;
    AcceptedView {
        until: x.until.map(|u| u.to_string()).unwrap_or_default(),
        source: place(&x.file, Some(x.line)),
        ..accepted_view(&e.finding, "exempted", x.reason.clone())
    }
}

fn problem_view(p: &Problem, lines: &mut Lines<'_>) -> ProblemView {
    ProblemView {
        place: place(&p.file, p.line),
        message: p.message.clone(),
        snippet: snippet(lines, &p.file, p.line),
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn page(outcome: &Outcome, opts: &Options) -> Page {
    let summary = Summary::of(outcome);
    let mut lines = Lines::new(&outcome.sources);
    let severities = SEVERITIES
        .iter()
        .map(|s| SeverityCount {
            name: s.as_str(),
            count: summary.by_severity.get(s.as_str()).copied().unwrap_or(0),
        })
        .collect();
    let mut stories: Vec<StoryView> = Story::ALL
        .iter()
        .map(|&s| {
            let i = s.info();
            StoryView {
                id: i.id,
                org: i.org,
                year: i.year,
                title: i.title,
                url: i.url,
                summary: i.summary,
                count: summary.by_story.get(i.id).copied().unwrap_or(0),
            }
        })
        .collect();
    // Incidents with findings first (stable: otherwise in the usual order).
    stories.sort_by_key(|s| s.count == 0);
    let rules = summary
        .by_rule
        .iter()
        .map(|(&id, &count)| RuleView {
            id,
            title: rules::find(id).map_or("", |r| r.meta.title),
            count,
        })
        .collect();
    // Worst first; within a severity, by file and line (the order findings arrive in).
    let mut ordered: Vec<&Finding> = outcome.findings.iter().collect();
    ordered.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let findings = ordered
        .into_iter()
        .map(|f| finding_view(f, &mut lines))
        .collect();
    let headline = format!(
        "{} in {} from {}",
        plural(summary.findings, "finding"),
        plural(summary.objects, "object"),
        plural(summary.files, "file"),
    );
    let baseline_reason = match &opts.baseline {
        Some(p) => format!("accepted by the baseline {}", p.display()),
        None => "accepted by the baseline".to_owned(),
    };
    Page {
        version: env!("CARGO_PKG_VERSION"),
        headline,
        severities,
        stories,
        rules,
        findings,
        exempted: outcome.exempted.iter().map(exempted_view).collect(),
        baselined: outcome
            .baselined
            .iter()
            .map(|f| accepted_view(f, "baselined", baseline_reason.clone()))
            .collect(),
        errors: outcome
            .errors
            .iter()
            .map(|e| problem_view(e, &mut lines))
            .collect(),
        notices: outcome
            .notices
            .iter()
            .map(|n| problem_view(n, &mut lines))
            .collect(),
        not_run: outcome.not_run.clone(),
        charts: opts
            .charts
            .iter()
            .map(|c| ChartView {
                title: c.title().to_owned(),
                caption: c.caption().to_owned(),
                svg: c.svg(),
            })
            .collect(),
        summary,
    }
}

/// Writes the page.
pub fn write(outcome: &Outcome, out: &mut dyn Write, opts: &Options) -> io::Result<()> {
    let html = page(outcome, opts)
        .render()
        .map_err(|e| io::Error::other(format!("HTML template: {e}")))?;
    out.write_all(html.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_are_escaped_html() {
        assert_eq!(
            with_code_spans("3 replicas of `<api>` & more"),
            "3 replicas of <code>&lt;api&gt;</code> &amp; more"
        );
        assert_eq!(with_code_spans("odd ` tick <b>"), "odd ` tick &lt;b&gt;");
    }

    #[test]
    fn names_from_manifests_cannot_inject_markup() {
        let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: \"x<script>alert(1)</script>\"}\nspec:\n  replicas: 2\n  template: {spec: {containers: [{name: a}]}}\n";
        let loaded = crate::load::load_bytes(
            std::sync::Arc::from("<b>evil</b>.yaml"),
            yaml.as_bytes(),
            None,
        );
        let outcome = crate::analyse(
            loaded,
            &[&crate::rules::workload::replicas_without_spread::RULE],
            &crate::config::Config::default(),
        );
        assert_eq!(outcome.findings.len(), 1);
        let mut out = Vec::new();
        write(&outcome, &mut out, &Options::default()).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(!html.contains("<script>alert"), "unescaped name");
        assert!(!html.contains("<b>evil"), "unescaped file name");
        assert!(
            html.contains("x&#60;script&#62;alert(1)") || html.contains("x&lt;script&gt;alert(1)")
        );
        assert_eq!(html.matches("<script>").count(), 1, "only our own script");
    }
}
