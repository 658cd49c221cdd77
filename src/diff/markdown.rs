//! The Markdown diff report: what a pull-request comment should look like. Change risks come
//! first, each with a before → after table of the values behind it; new findings next;
//! resolved findings and the list of changed objects folded away in `<details>`.
//!
//! Invariants: renders only; the first line is a stable HTML comment (`<!-- hindsight-diff -->`)
//! so "sticky comment" actions can find and update their previous comment. Every value from
//! a manifest is escaped (HTML and table pipes), so a manifest cannot inject markup.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{DiffOutcome, DiffSummary};
use crate::rules::{Finding, Severity};

/// Marks the comment for sticky-comment actions.
pub const MARKER: &str = "<!-- hindsight-diff -->";

fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '|' => s.push_str("&#124;"),
            '`' => s.push_str("&#96;"),
            '\n' => s.push(' '),
            _ => s.push(ch),
        }
    }
    s
}

/// Text with Markdown-style `code` spans (as rule messages use) rendered as `<code>`, the
/// rest escaped. Unbalanced backticks are escaped as they are.
fn inline(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return escape(text);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 2 == 1 { code(p) } else { escape(p) })
        .collect()
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", escape(text))
}

fn icon(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical => "🔴",
        Severity::High => "🟠",
        Severity::Medium => "🟡",
        Severity::Low => "🔵",
        Severity::Info => "⚪",
    }
}

fn heading(f: &Finding) -> String {
    let container = f
        .container
        .as_ref()
        .map(|c| format!(" (container {})", code(c)))
        .unwrap_or_default();
    format!(
        "{} **{}** {} · {}{container}",
        icon(f.severity),
        f.severity,
        code(f.rule),
        escape(&f.object.to_string())
    )
}

fn findings_table(s: &mut String, findings: &[Finding]) {
    s.push_str("| severity | rule | object | where | message |\n|---|---|---|---|---|\n");
    for f in findings {
        let _ = writeln!(
            s,
            "| {} {} | {} | {}{} | {} | {} |",
            icon(f.severity),
            f.severity,
            code(f.rule),
            escape(&f.object.to_string()),
            f.container
                .as_ref()
                .map(|c| format!(" ({})", code(c)))
                .unwrap_or_default(),
            code(&format!("{}:{}", f.location.file, f.location.line)),
            inline(&f.message)
        );
    }
}

/// Renders the report as a string.
pub fn render(d: &DiffOutcome) -> String {
    let sum = DiffSummary::of(d);
    let mut s = String::new();
    let _ = writeln!(s, "{MARKER}");
    let verdict = if sum.errors > 0 {
        "❌ input errors"
    } else if sum.risks + sum.new_findings == 0 {
        "✅ no new risk"
    } else {
        "⚠️"
    };
    let _ = writeln!(
        s,
        "## hindsight diff {verdict}: {} change risk{}, {} new finding{}, {} resolved\n",
        sum.risks,
        if sum.risks == 1 { "" } else { "s" },
        sum.new_findings,
        if sum.new_findings == 1 { "" } else { "s" },
        sum.resolved_findings
    );
    let _ = writeln!(
        s,
        "{} added · {} removed · {} changed · {} unchanged ({} → {} objects)\n",
        sum.added, sum.removed, sum.changed, sum.unchanged, sum.before_objects, sum.after_objects
    );
    if !d.errors.is_empty() {
        s.push_str("### ❌ Input errors\n\n");
        for e in &d.errors {
            let _ = writeln!(s, "- {}", code(&e.to_string()));
        }
        s.push('\n');
    }
    if !d.risks.is_empty() {
        s.push_str("### Change risks\n\n");
        for r in &d.risks {
            let f = &r.finding;
            let _ = writeln!(s, "#### {}\n", heading(f));
            let _ = writeln!(s, "{}\n", inline(&f.message));
            if !r.changes.is_empty() {
                s.push_str("| field | before | → after |\n|---|---|---|\n");
                for v in &r.changes {
                    let show =
                        |x: &Option<String>| x.as_deref().map_or("*(none)*".to_owned(), code);
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} |",
                        code(&v.field),
                        show(&v.before),
                        show(&v.after)
                    );
                }
                s.push('\n');
            }
            let stories: Vec<String> = f.stories.iter().map(|st| escape(st.info().echo)).collect();
            let _ = writeln!(
                s,
                "{} · `hindsight explain {}`{}\n",
                code(&format!("{}:{}", f.location.file, f.location.line)),
                f.rule,
                if stories.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", stories.join(" "))
                }
            );
        }
    }
    if !d.new_findings.is_empty() {
        s.push_str("### New findings\n\n");
        findings_table(&mut s, &d.new_findings);
        s.push('\n');
    }
    if !d.resolved_findings.is_empty() {
        let _ = writeln!(
            s,
            "<details><summary>Resolved findings ({})</summary>\n",
            d.resolved_findings.len()
        );
        findings_table(&mut s, &d.resolved_findings);
        s.push_str("\n</details>\n\n");
    }
    let c = &d.changes;
    if !(c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty()) {
        s.push_str("<details><summary>Changed objects</summary>\n\n");
        for p in &c.added {
            let _ = writeln!(s, "- ➕ {}", escape(&p.object.to_string()));
        }
        for p in &c.removed {
            let _ = writeln!(s, "- ➖ {}", escape(&p.object.to_string()));
        }
        for ch in &c.changed {
            let fields: Vec<String> = ch.fields.iter().map(|f| code(f)).collect();
            let _ = writeln!(
                s,
                "- ✏️ {}: {}",
                escape(&ch.object.to_string()),
                fields.join(", ")
            );
        }
        s.push_str("\n</details>\n");
    }
    s
}

/// Writes the report.
pub fn write(d: &DiffOutcome, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(render(d).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_text_cannot_inject_markup() {
        assert_eq!(
            inline("`a|b` <img src=x> `c`"),
            "<code>a&#124;b</code> &lt;img src=x&gt; <code>c</code>"
        );
        assert_eq!(inline("odd ` tick"), "odd &#96; tick");
        assert_eq!(code("</code><b>"), "<code>&lt;/code&gt;&lt;b&gt;</code>");
    }
}
