//! The JSON report. Its shape is a contract, documented in the README:
//!
//! ```text
//! {"findings": [{"rule", "severity", "object": {"apiVersion", "kind", "namespace"?, "name"},
//!                "container"?, "location": {"file", "line"}, "message", "stories": [..]}],
//!  "errors":   [{"file", "line"?, "message"}],
//!  "notices":  [{"file", "line"?, "message"}],
//!  "exempted": [{..finding, "exemption": {"scope", "container"?, "reason", "until"?,
//!                "annotation", "file", "line"}}],
//!  "baselined": [..findings],
//!  "summary":  {"objects", "files", "findings", "errors", "notices", "by_severity",
//!               "by_rule", "by_story", "rules_not_run", "exempted", "baselined"}}
//! ```

use std::io::{self, Write};

use super::Summary;
use crate::Outcome;

/// Writes the report followed by a newline.
pub fn write(outcome: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    let doc = serde_json::json!({
        "findings": outcome.findings,
        "errors": outcome.errors,
        "notices": outcome.notices,
        "exempted": outcome.exempted,
        "baselined": outcome.baselined,
        "summary": Summary::of(outcome),
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
