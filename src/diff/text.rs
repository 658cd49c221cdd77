//! The terminal diff report: what changed, the change risks with before → after values, new
//! and resolved findings, errors naming their side, and a summary line.

use std::io::{self, Write};

use super::{DiffOutcome, DiffSummary};
use crate::rules::Finding;

fn value(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(none)")
}

fn finding_line(out: &mut dyn Write, f: &Finding) -> io::Result<()> {
    let container = f
        .container
        .as_ref()
        .map(|c| format!(" (container `{c}`)"))
        .unwrap_or_default();
    writeln!(
        out,
        "  {:<8} {}  {}{container}\n           {}:{}: {}",
        f.severity.as_str(),
        f.rule,
        f.object,
        f.location.file,
        f.location.line,
        f.message
    )
}

/// Writes the report.
pub fn write(d: &DiffOutcome, out: &mut dyn Write, verbose: bool) -> io::Result<()> {
    let c = &d.changes;
    writeln!(
        out,
        "Changes: {} added, {} removed, {} changed, {} unchanged",
        c.added.len(),
        c.removed.len(),
        c.changed.len(),
        d.unchanged
    )?;
    for p in &c.added {
        writeln!(
            out,
            "  + {}  ({}:{})",
            p.object, p.location.file, p.location.line
        )?;
    }
    for p in &c.removed {
        writeln!(
            out,
            "  - {}  ({}:{})",
            p.object, p.location.file, p.location.line
        )?;
    }
    for ch in &c.changed {
        writeln!(
            out,
            "  ~ {}  ({}:{})",
            ch.object, ch.after.file, ch.after.line
        )?;
        if verbose || ch.fields.len() <= 5 {
            writeln!(out, "      {}", ch.fields.join(", "))?;
        } else {
            writeln!(
                out,
                "      {} and {} more",
                ch.fields[..5].join(", "),
                ch.fields.len() - 5
            )?;
        }
    }
    writeln!(out, "\nChange risks: {}", d.risks.len())?;
    for r in &d.risks {
        finding_line(out, &r.finding)?;
        for v in &r.changes {
            writeln!(
                out,
                "           {}: {} → {}",
                v.field,
                value(&v.before),
                value(&v.after)
            )?;
        }
    }
    writeln!(out, "\nNew findings: {}", d.new_findings.len())?;
    for f in &d.new_findings {
        finding_line(out, f)?;
    }
    writeln!(out, "\nResolved findings: {}", d.resolved_findings.len())?;
    for f in &d.resolved_findings {
        finding_line(out, f)?;
    }
    if !d.errors.is_empty() {
        writeln!(out, "\nErrors: {}", d.errors.len())?;
        for e in &d.errors {
            writeln!(out, "  error: {e}")?;
        }
    }
    if verbose && !d.notices.is_empty() {
        writeln!(out, "\nNotices: {}", d.notices.len())?;
        for n in &d.notices {
            writeln!(out, "  note: {n}")?;
        }
    }
    let s = DiffSummary::of(d);
    let by_sev = crate::report::severity_counts(&s.by_severity);
    write!(
        out,
        "\n{} change risk(s), {} new finding(s){}, {} resolved; {} → {} objects",
        s.risks,
        s.new_findings,
        if by_sev.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_sev.join(", "))
        },
        s.resolved_findings,
        s.before_objects,
        s.after_objects
    )?;
    if s.errors > 0 {
        write!(out, "; {} input error(s)", s.errors)?;
    }
    if s.notices > 0 && !verbose {
        write!(out, "; {} notice(s) (--verbose shows them)", s.notices)?;
    }
    writeln!(out)
}
