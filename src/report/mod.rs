//! Reports: an [`Outcome`](crate::Outcome) rendered for people and machines.
//!
//! Invariants: reports only consume the outcome; they never change severities or drop
//! findings or errors.

pub mod json;
pub mod text;

use std::collections::BTreeMap;

use crate::Outcome;
use crate::rules::Severity;

/// Output formats of `hindsight scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// rustc-style diagnostics with snippets (colour on a terminal).
    Text,
    /// The documented JSON shape (see README).
    Json,
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
        for sev in [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Info,
        ] {
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
