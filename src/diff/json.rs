//! The JSON diff report. Its shape is a contract (documented in `docs/diff.md`):
//!
//! ```text
//! {"changes": {"added":   [{"object": {"apiVersion", "kind", "namespace"?, "name"}, "location": {"file", "line"}}],
//!              "removed": [same, locations on the before side],
//!              "changed": [{"object", "before": {"file", "line"}, "after": {"file", "line"}, "fields": [path]}]},
//!  "risks":             [finding + "changes": [{"field", "before": string|null, "after": string|null}]],
//!  "new_findings":      [finding],   // the scan JSON's finding shape, located on the after side
//!  "resolved_findings": [finding],   // located on the before side
//!  "errors":  [{"side": "before"|"after", "file", "line"?, "message"}],
//!  "notices": [same],
//!  "summary": {"before_objects", "after_objects", "added", "removed", "changed", "unchanged",
//!              "risks", "new_findings", "resolved_findings", "persisting_findings", "errors",
//!              "notices", "by_severity"}}
//! ```

use std::io::{self, Write};

use super::{DiffOutcome, DiffSummary};

/// Writes the report followed by a newline.
pub fn write(d: &DiffOutcome, out: &mut dyn Write) -> io::Result<()> {
    let doc = serde_json::json!({
        "changes": d.changes,
        "risks": d.risks,
        "new_findings": d.new_findings,
        "resolved_findings": d.resolved_findings,
        "errors": d.errors,
        "notices": d.notices,
        "summary": DiffSummary::of(d),
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
