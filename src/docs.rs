//! Documentation generated from rule metadata: `hindsight rules`, `hindsight explain`,
//! `hindsight stories` and the README's rule table (kept in sync by `tests/docs_sync.rs`).

use std::fmt::Write;

use crate::rules::{Meta, metas};
use crate::stories::Story;

fn stories_of(meta: &Meta) -> String {
    meta.stories
        .iter()
        .map(|s| s.id())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A plain table, one rule per line.
pub fn rules_text() -> String {
    let all = metas();
    let width = all.iter().map(|m| m.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for rule in all {
        let _ = writeln!(
            out,
            "{:<width$}  {:<8}  {:<24}  {}",
            rule.id,
            rule.severity.as_str(),
            stories_of(rule),
            rule.title,
        );
    }
    out
}

/// The README's rule table.
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "| rule | severity | needs | stories | what it finds |\n|---|---|---|---|---|\n",
    );
    for rule in metas() {
        let needs = match rule.needs {
            crate::rules::Needs::Manifests => "manifests",
            crate::rules::Needs::Cluster => "cluster",
            crate::rules::Needs::Metrics => "metrics",
            crate::rules::Needs::Diff => "diff",
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            rule.id,
            rule.severity.as_str(),
            needs,
            stories_of(rule),
            rule.title.replace('|', "\\|"),
        );
    }
    out
}

/// All rule metadata as JSON (for tooling).
pub fn rules_json() -> String {
    let rules: Vec<serde_json::Value> = metas()
        .into_iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id,
                "title": m.title,
                "severity": m.severity,
                "needs": m.needs,
                "stories": m.stories,
                "rationale": m.rationale,
                "remediation": m.remediation,
                "example": m.example,
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

/// The `.hindsight.yaml` parameters a rule reads, one sentence each, for `explain`.
pub fn settings(id: &str) -> Vec<String> {
    let mut out: Vec<String> = crate::config::THRESHOLDS
        .iter()
        .filter(|t| t.rule == id)
        .map(|t| {
            format!(
                "params.thresholds.{id}.{}: {} (default {}, {} to {})",
                t.key, t.help, t.default, t.min, t.max
            )
        })
        .collect();
    if crate::rules::exposure::READS_PARAMS.contains(&id) {
        out.push(
            "params.exposure.admin-ui-images: image globs your own admin UIs run (e.g. \
             'registry.corp/*/ops-console*'), recognised like the built-in products"
                .to_owned(),
        );
        out.push(
            "params.exposure.private-cidrs: ranges the internet cannot reach in your setup; \
             source ranges and load-balancer addresses inside them count as private"
                .to_owned(),
        );
    }
    out
}

/// `hindsight explain <id>`.
pub fn explain(m: &Meta) -> String {
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
    let settings = settings(m.id);
    if !settings.is_empty() {
        out.push_str("\nSettings (.hindsight.yaml, see docs/configuration.md)\n");
        for s in settings {
            out.push_str(&wrap(&s, "  "));
        }
    }
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
        let rules: Vec<&str> = metas()
            .into_iter()
            .filter(|m| m.stories.contains(&story))
            .map(|m| m.id)
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
    metas()
        .into_iter()
        .map(|m| (edit_distance(input, m.id), m.id))
        .filter(|(d, id)| *d <= id.len() / 3 || id.ends_with(input) && input.len() > 4)
        .min()
        .map(|(_, id)| id)
}

/// Levenshtein distance, in characters (for "did you mean" hints here and in config errors).
pub fn edit_distance(a: &str, b: &str) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn explain_of(id: &str) -> String {
        explain(crate::rules::find_meta(id).expect("rule exists"))
    }

    #[test]
    fn explain_names_the_settings_a_rule_reads() {
        let text = explain_of("exposure.public-dashboard");
        assert!(text.contains("Settings (.hindsight.yaml"), "{text}");
        assert!(text.contains("params.exposure.admin-ui-images"), "{text}");
        assert!(text.contains("params.exposure.private-cidrs"), "{text}");
        let text = explain_of("cpu.throttled-despite-low-usage");
        assert!(text.contains("Settings (.hindsight.yaml"), "{text}");
        let s = settings("cpu.throttled-despite-low-usage");
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(
            s[0].starts_with("params.thresholds.cpu.throttled-despite-low-usage.throttled-ratio: ")
                && s[0].ends_with("(default 0.25, 0 to 1)"),
            "{s:?}"
        );
        let text = explain_of("workload.replicas-without-spread");
        assert!(!text.contains("Settings"), "{text}");
    }
}
