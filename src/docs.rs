//! Documentation generated from rule metadata: `hindsight rules`, `hindsight explain`,
//! `hindsight stories` and the README's rule table (kept in sync by `tests/docs_sync.rs`).

use std::fmt::Write;

use crate::rules::{ALL, Rule};
use crate::stories::Story;

fn stories_of(rule: &Rule) -> String {
    rule.meta
        .stories
        .iter()
        .map(|s| s.id())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A plain table, one rule per line.
pub fn rules_text() -> String {
    let width = ALL.iter().map(|r| r.meta.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for rule in ALL {
        let _ = writeln!(
            out,
            "{:<width$}  {:<8}  {:<24}  {}",
            rule.meta.id,
            rule.meta.severity.as_str(),
            stories_of(rule),
            rule.meta.title,
        );
    }
    out
}

/// The README's rule table.
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "| rule | severity | needs | stories | what it finds |\n|---|---|---|---|---|\n",
    );
    for rule in ALL {
        let needs = match rule.meta.needs {
            crate::rules::Needs::Manifests => "manifests",
            crate::rules::Needs::Cluster => "cluster",
            crate::rules::Needs::Metrics => "metrics",
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            rule.meta.id,
            rule.meta.severity.as_str(),
            needs,
            stories_of(rule),
            rule.meta.title.replace('|', "\\|"),
        );
    }
    out
}

/// All rule metadata as JSON (for tooling).
pub fn rules_json() -> String {
    let rules: Vec<serde_json::Value> = ALL
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.meta.id,
                "title": r.meta.title,
                "severity": r.meta.severity,
                "needs": r.meta.needs,
                "stories": r.meta.stories,
                "rationale": r.meta.rationale,
                "remediation": r.meta.remediation,
                "example": r.meta.example,
            })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&rules).unwrap_or_default();
    s.push('\n');
    s
}

/// Collapses the whitespace that line continuations leave in metadata strings.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Wraps text at 90 columns, indented.
fn wrap(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in squash(text).split(' ') {
        if line.len() + word.len() + 1 > 90 && !line.trim().is_empty() {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from(indent);
        }
        line.push_str(word);
        line.push(' ');
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// `hindsight explain <id>`.
pub fn explain(rule: &Rule) -> String {
    let m = &rule.meta;
    let mut out = String::new();
    let _ = writeln!(out, "{}  [{}]\n{}\n", m.id, m.severity, m.title);
    out.push_str("Why it matters\n");
    out.push_str(&wrap(m.rationale, "  "));
    out.push_str("\nThe incident\n");
    for story in m.stories {
        let info = story.info();
        let _ = writeln!(out, "  {} ({}): {}", info.org, info.year, info.title);
        out.push_str(&wrap(info.summary, "    "));
        let _ = writeln!(out, "    {}", info.url);
    }
    out.push_str("\nHow to fix it\n");
    out.push_str(&wrap(m.remediation, "  "));
    out.push_str("\nExample that fires this rule\n");
    for line in m.example.lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// `hindsight stories`.
pub fn stories_text() -> String {
    let mut out = String::new();
    for story in Story::ALL {
        let info = story.info();
        let rules: Vec<&str> = ALL
            .iter()
            .filter(|r| r.meta.stories.contains(&story))
            .map(|r| r.meta.id)
            .collect();
        let _ = writeln!(
            out,
            "{} — {} ({}): {}",
            info.id, info.org, info.year, info.title
        );
        out.push_str(&wrap(info.summary, "  "));
        let _ = writeln!(out, "  {}", info.url);
        let _ = writeln!(out, "  rules: {}\n", rules.join(", "));
    }
    out
}

/// The closest rule id to a misspelt one, by shared prefix and edit distance.
pub fn did_you_mean(input: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let cost = usize::from(ca != *cb);
                cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    ALL.iter()
        .map(|r| (distance(input, r.meta.id), r.meta.id))
        .filter(|(d, id)| *d <= id.len() / 3 || id.ends_with(input) && input.len() > 4)
        .min()
        .map(|(_, id)| id)
}
