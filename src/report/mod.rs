//! Reports: an [`Outcome`](crate::Outcome) rendered for people and machines.
//!
//! Invariants: reports only consume the outcome; they never change severities or drop
//! findings or errors (the Markdown report, bound by GitHub's comment size, says what it
//! left out). Reports do no IO beyond the writer they are given; [`emit`] writes several
//! formats in one run, and a format that fails does not stop the others.

pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod sarif;
pub mod svg;
pub mod text;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::Outcome;
use crate::rules::Severity;

/// Output formats of `hindsight scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// rustc-style diagnostics with snippets (colour on a terminal).
    Text,
    /// The documented JSON shape (see README).
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// JUnit XML, one test case per object × rule, for CI dashboards.
    Junit,
    /// Markdown for pull request comments.
    Markdown,
    /// One self-contained HTML page with filters.
    Html,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Text,
        Format::Json,
        Format::Sarif,
        Format::Junit,
        Format::Markdown,
        Format::Html,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Junit => "junit",
            Format::Markdown => "markdown",
            Format::Html => "html",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `--format FMT[=PATH]`: a format and where it goes (standard output without a path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub format: Format,
    pub path: Option<PathBuf>,
}

impl std::str::FromStr for Target {
    type Err = String;

    /// Parses `FMT` or `FMT=PATH` (clap's value parser for `--format`).
    fn from_str(arg: &str) -> Result<Target, String> {
        let (name, path) = match arg.split_once('=') {
            Some((name, "")) => {
                return Err(format!("`{name}=` needs a file path after `=`"));
            }
            Some((name, path)) => (name, Some(PathBuf::from(path))),
            None => (arg, None),
        };
        let format = Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
                format!(
                    "unknown format `{name}`; choose one of {} (optionally `=PATH`)",
                    names.join(", ")
                )
            })?;
        Ok(Target { format, path })
    }
}

/// Decides where every requested format goes: `--format` targets plus `--output FILE`.
///
/// Without `--format`, text goes to standard output. At most one format may go to standard
/// output; `--output` redirects that one to a file. Two formats may not share a file.
pub fn plan(targets: &[Target], output: Option<&std::path::Path>) -> Result<Vec<Target>, String> {
    let mut plan: Vec<Target> = if targets.is_empty() {
        vec![Target {
            format: Format::Text,
            path: None,
        }]
    } else {
        targets.to_vec()
    };
    let to_stdout: Vec<Format> = plan
        .iter()
        .filter(|t| t.path.is_none())
        .map(|t| t.format)
        .collect();
    if to_stdout.len() > 1 {
        let names: Vec<&str> = to_stdout.iter().map(|f| f.as_str()).collect();
        return Err(format!(
            "{} formats would share standard output ({}); give all but one a file with `--format FMT=PATH`",
            to_stdout.len(),
            names.join(", ")
        ));
    }
    if let Some(output) = output {
        match plan.iter_mut().find(|t| t.path.is_none()) {
            Some(target) => target.path = Some(output.to_path_buf()),
            None => {
                return Err(format!(
                    "`--output {}` names no format: every `--format` already has `=PATH`",
                    output.display()
                ));
            }
        }
    }
    let mut seen: HashMap<&PathBuf, Format> = HashMap::new();
    for t in &plan {
        if let Some(path) = &t.path
            && let Some(other) = seen.insert(path, t.format)
        {
            return Err(format!(
                "formats {other} and {} would both write {}",
                t.format,
                path.display()
            ));
        }
    }
    Ok(plan)
}

/// Rendering options shared by the formats.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Use ANSI styles in text output.
    pub color: bool,
    /// Also render notices where a format shows them only on request (text).
    pub verbose: bool,
    /// Where relative paths start (SARIF `%SRCROOT%`); the current directory by default.
    pub root: Option<PathBuf>,
    /// Markdown links to files: `<base>/<path>#L<line>` (see [`markdown::github_link_base`]).
    pub link_base: Option<String>,
    /// Pictures for the HTML report (cluster state, metrics); empty for manifest scans.
    pub charts: Vec<svg::Chart>,
    /// List findings accepted by exemptions, with their reasons (text).
    pub show_exempted: bool,
    /// List findings matched by the baseline (text).
    pub show_baselined: bool,
    /// The `--baseline` file, named where reports explain why a finding was accepted.
    pub baseline: Option<PathBuf>,
    /// SARIF: add exempted and baselined findings as suppressed results (`--sarif-suppressed`).
    pub sarif_suppressed: bool,
}

/// Renders one format into memory.
pub fn render(outcome: &Outcome, format: Format, opts: &Options) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match format {
        Format::Text => text::write(
            outcome,
            &mut buf,
            text::Options {
                color: opts.color,
                verbose: opts.verbose,
                show_exempted: opts.show_exempted,
                show_baselined: opts.show_baselined,
            },
        )?,
        Format::Json => json::write(outcome, &mut buf)?,
        Format::Sarif => sarif::write(outcome, &mut buf, opts)?,
        Format::Junit => junit::write(outcome, &mut buf, opts)?,
        Format::Markdown => markdown::write(outcome, &mut buf, opts)?,
        Format::Html => html::write(outcome, &mut buf, opts)?,
    }
    Ok(buf)
}

/// A format that could not be rendered or written.
#[derive(Debug)]
pub struct EmitError {
    pub format: Format,
    pub path: Option<PathBuf>,
    pub error: io::Error,
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(p) => write!(
                f,
                "{} report: cannot write {}: {}",
                self.format,
                p.display(),
                self.error
            ),
            None => write!(
                f,
                "{} report: cannot write to standard output: {}",
                self.format, self.error
            ),
        }
    }
}

/// Renders and writes every target; files first, standard output last. Each target is
/// independent: one that fails is returned and the others are still written. A closed
/// standard output (`| head`) is not an error.
pub fn emit(
    outcome: &Outcome,
    targets: &[Target],
    opts: &Options,
    stdout: &mut dyn Write,
) -> Vec<EmitError> {
    let mut errors = Vec::new();
    let (files, console): (Vec<&Target>, Vec<&Target>) =
        targets.iter().partition(|t| t.path.is_some());
    for t in files.into_iter().chain(console) {
        let mut opts = opts.clone();
        // Colour only where a person reads it: the terminal, never a file.
        opts.color &= t.path.is_none() && t.format == Format::Text;
        let result = render(outcome, t.format, &opts).and_then(|bytes| match &t.path {
            Some(path) => std::fs::write(path, &bytes),
            None => stdout.write_all(&bytes).and_then(|()| stdout.flush()),
        });
        match result {
            Err(e) if t.path.is_none() && e.kind() == io::ErrorKind::BrokenPipe => {}
            Err(error) => errors.push(EmitError {
                format: t.format,
                path: t.path.clone(),
                error,
            }),
            Ok(()) => {}
        }
    }
    errors
}

/// Counts used by several formats.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub objects: usize,
    pub files: usize,
    pub findings: usize,
    pub errors: usize,
    pub notices: usize,
    pub by_severity: BTreeMap<&'static str, usize>,
    pub by_rule: BTreeMap<&'static str, usize>,
    pub by_story: BTreeMap<&'static str, usize>,
    pub rules_not_run: Vec<&'static str>,
    /// Findings accepted by inline exemptions (not counted in `findings`).
    pub exempted: usize,
    /// Findings matched by the baseline (not counted in `findings`).
    pub baselined: usize,
}

impl Summary {
    pub fn of(outcome: &Outcome) -> Summary {
        let mut s = Summary {
            objects: outcome.objects,
            files: outcome.files,
            findings: outcome.findings.len(),
            errors: outcome.errors.len(),
            notices: outcome.notices.len(),
            rules_not_run: outcome.not_run.clone(),
            exempted: outcome.exempted.len(),
            baselined: outcome.baselined.len(),
            ..Summary::default()
        };
        for sev in SEVERITIES {
            s.by_severity.insert(sev.as_str(), 0);
        }
        for f in &outcome.findings {
            *s.by_severity.entry(f.severity.as_str()).or_default() += 1;
            *s.by_rule.entry(f.rule).or_default() += 1;
            for story in &f.stories {
                *s.by_story.entry(story.id()).or_default() += 1;
            }
        }
        s
    }
}

/// Severities from the worst down, the order every report lists them in.
pub const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// The lines of each source file, split once per file, for snippets.
pub(crate) struct Lines<'a> {
    sources: &'a HashMap<Arc<str>, Arc<str>>,
    starts: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(sources: &'a HashMap<Arc<str>, Arc<str>>) -> Self {
        Lines {
            sources,
            starts: HashMap::new(),
        }
    }

    /// The text of 1-based `line` in `file`, without its line break.
    pub(crate) fn get(&mut self, file: &str, line: u32) -> Option<&'a str> {
        let (key, src) = self.sources.get_key_value(file)?;
        let src: &'a str = src;
        let starts = self.starts.entry(key).or_insert_with(|| {
            std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', src.as_bytes()).map(|i| i + 1))
                .collect()
        });
        let i = (line as usize).checked_sub(1)?;
        let start = *starts.get(i)?;
        if start >= src.len() && i > 0 {
            return None; // past the final line break
        }
        let end = starts.get(i + 1).map_or(src.len(), |&e| e);
        Some(src[start..end].trim_end_matches(['\n', '\r']))
    }

    /// `line` with up to `around` lines before and after it, numbered.
    pub(crate) fn context(&mut self, file: &str, line: u32, around: u32) -> Vec<(u32, &'a str)> {
        let first = line.saturating_sub(around).max(1);
        (first..=line.saturating_add(around))
            .map_while(|n| self.get(file, n).map(|t| (n, t)))
            .collect()
    }
}

/// The first sentence of a text (rationale and remediation are long).
pub(crate) fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    match text.find(". ") {
        Some(i) => &text[..=i],
        None => text,
    }
}

/// Collapses the runs of spaces that Rust's `\` line continuations leave in metadata.
pub(crate) fn squash_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// "2 critical", "1 high", ... for the non-zero counts, most severe first.
pub fn severity_counts(by_severity: &BTreeMap<&'static str, usize>) -> Vec<String> {
    ["critical", "high", "medium", "low", "info"]
        .iter()
        .filter_map(|k| {
            by_severity
                .get(k)
                .filter(|&&n| n > 0)
                .map(|n| format!("{n} {k}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Target {
        s.parse().unwrap()
    }

    #[test]
    fn targets_parse_with_and_without_paths() {
        assert_eq!(
            t("sarif=out/x.sarif"),
            Target {
                format: Format::Sarif,
                path: Some("out/x.sarif".into())
            }
        );
        assert_eq!(t("HTML").format, Format::Html);
        assert!(
            "sarif="
                .parse::<Target>()
                .unwrap_err()
                .contains("file path")
        );
        let err = "xml".parse::<Target>().unwrap_err();
        assert!(
            err.contains("unknown format `xml`") && err.contains("junit"),
            "{err}"
        );
    }

    #[test]
    fn plan_allows_one_stdout_and_redirects_it_with_output() {
        assert_eq!(plan(&[], None).unwrap(), vec![t("text")]);
        let err = plan(&[t("text"), t("json")], None).unwrap_err();
        assert!(err.contains("standard output (text, json)"), "{err}");
        let p = plan(&[t("json"), t("sarif=a.sarif")], Some("r.json".as_ref())).unwrap();
        assert_eq!(p, vec![t("json=r.json"), t("sarif=a.sarif")]);
        assert!(plan(&[t("sarif=a")], Some("b".as_ref())).is_err());
        let err = plan(&[t("sarif=a"), t("json=a")], None).unwrap_err();
        assert!(err.contains("both write a"), "{err}");
        // `--output` alone keeps working for the default format.
        assert_eq!(
            plan(&[], Some("r.txt".as_ref())).unwrap(),
            vec![t("text=r.txt")]
        );
    }

    /// A standard output that fails like a full disk, or closes like `| head`.
    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_target_does_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.json");
        let targets = vec![
            t("text"),
            Target {
                format: Format::Json,
                path: Some(file.clone()),
            },
            Target {
                format: Format::Html,
                path: Some(dir.path().join("missing/r.html")),
            },
        ];
        let outcome = Outcome::default();
        let errors = emit(
            &outcome,
            &targets,
            &Options::default(),
            &mut Failing(io::ErrorKind::StorageFull),
        );
        let failed: Vec<(Format, bool)> = errors
            .iter()
            .map(|e| (e.format, e.path.is_some()))
            .collect();
        assert_eq!(failed, [(Format::Html, true), (Format::Text, false)]);
        assert!(file.exists(), "json written despite the other failures");
        // A closed pipe is how `| head` ends, not an error.
        let errors = emit(
            &outcome,
            &[t("text")],
            &Options::default(),
            &mut Failing(io::ErrorKind::BrokenPipe),
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn lines_and_context() {
        let mut sources = HashMap::new();
        sources.insert(Arc::from("f"), Arc::from("a\nb\r\nc\n"));
        let mut lines = Lines::new(&sources);
        assert_eq!(lines.get("f", 2), Some("b"));
        assert_eq!(lines.get("f", 4), None);
        assert_eq!(lines.get("f", 0), None);
        assert_eq!(lines.context("f", 1, 5), vec![(1, "a"), (2, "b"), (3, "c")]);
    }
}
