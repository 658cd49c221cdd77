//! Baselines: accept today's findings, fail only on new ones.
//!
//! `hindsight scan --write-baseline base.json` records the fingerprint of every reported
//! finding ([`Finding::fingerprint`]: rule, object identity, container and message without
//! numbers, so it survives line moves, file moves, reordering and changed counts), with the
//! rule, object and message for people reading the diff. `--baseline base.json` then moves
//! matching findings to `Outcome::baselined`.
//!
//! Invariants: matching is by count: a fingerprint recorded twice accepts two findings, a
//! third identical one is new. The file is sorted, so regenerating it gives small diffs.
//! A broken baseline file is an error (exit 2), never an empty baseline.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::rules::Finding;

/// The version of the file format written and accepted.
pub const VERSION: u32 = 1;

/// The file as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    /// The program that wrote it, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generator: Option<String>,
    findings: Vec<Entry>,
}

/// One accepted finding. Only `fingerprint` is matched; the rest is for people.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    rule: String,
    object: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    container: Option<String>,
    message: String,
    fingerprint: String,
}

/// A baseline file problem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read baseline {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("baseline {}:{line}:{column}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("baseline {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write baseline {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Accepted fingerprints with how many findings each accepts.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    counts: HashMap<String, usize>,
}

impl Baseline {
    /// Reads a baseline file written by [`write`].
    pub fn read(path: &Path) -> Result<Baseline, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses baseline text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Baseline, Error> {
        let file: File = serde_json::from_str(text).map_err(|e| Error::Parse {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or("")
                .to_owned(),
        })?;
        if file.version != VERSION {
            return Err(Error::Invalid {
                path: path.to_owned(),
                message: format!(
                    "version {} is not supported (this hindsight reads version {VERSION}); regenerate it with --write-baseline",
                    file.version
                ),
            });
        }
        let mut counts: HashMap<String, usize> = HashMap::new();
        for (i, entry) in file.findings.iter().enumerate() {
            let fp = &entry.fingerprint;
            if fp.len() != 16 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::Invalid {
                    path: path.to_owned(),
                    message: format!(
                        "findings[{i}] ({} on {}): fingerprint `{fp}` is not 16 hex digits",
                        entry.rule, entry.object
                    ),
                });
            }
            *counts.entry(fp.to_ascii_lowercase()).or_default() += 1;
        }
        Ok(Baseline { counts })
    }

    /// How many findings the baseline accepts in all.
    pub fn len(&self) -> usize {
        self.counts.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Splits findings into (new, baselined), keeping their order. Each recorded fingerprint
    /// accepts as many findings as it was recorded for.
    pub fn split(&self, findings: Vec<Finding>) -> (Vec<Finding>, Vec<Finding>) {
        let mut left = self.counts.clone();
        let mut new = Vec::new();
        let mut known = Vec::new();
        for f in findings {
            match left.get_mut(&f.fingerprint()) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    known.push(f);
                }
                _ => new.push(f),
            }
        }
        (new, known)
    }
}

/// The baseline text for these findings (pretty JSON, sorted, newline-terminated).
pub fn render(findings: &[Finding]) -> String {
    let mut entries: Vec<Entry> = findings
        .iter()
        .map(|f| Entry {
            rule: f.rule.to_owned(),
            object: f.object.to_string(),
            container: f.container.clone(),
            message: f.message.clone(),
            fingerprint: f.fingerprint(),
        })
        .collect();
    entries.sort();
    let file = File {
        version: VERSION,
        generator: Some(format!("hindsight {}", env!("CARGO_PKG_VERSION"))),
        findings: entries,
    };
    let mut text = serde_json::to_string_pretty(&file).expect("plain data serializes");
    text.push('\n');
    text
}

/// Writes a baseline file for these findings.
pub fn write(findings: &[Finding], path: &Path) -> Result<(), Error> {
    std::fs::write(path, render(findings)).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{self, Context};
    use std::sync::Arc;

    fn findings(files: &[(&str, &str)]) -> Vec<Finding> {
        let mut objects = Vec::new();
        for (name, text) in files {
            let loaded = crate::load::load_bytes(Arc::from(*name), text.as_bytes(), None);
            assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
            objects.extend(loaded.objects);
        }
        // One rule keeps the fixtures small; fingerprints do not depend on which rule it is.
        let rule = rules::find("workload.replicas-without-spread").expect("rule exists");
        rules::run(&Context::new(&objects), &[rule]).findings
    }

    fn deployment(name: &str, replicas: u32) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  template: {{spec: {{containers: [{{name: a}}]}}}}\n"
        )
    }

    fn baseline_of(f: &[Finding]) -> Baseline {
        Baseline::parse(&render(f), Path::new("b.json")).expect("own output parses")
    }

    #[test]
    fn survives_moves_reordering_and_counts() {
        let before = findings(&[(
            "a.yaml",
            &format!("{}---\n{}", deployment("api", 3), deployment("web", 2)),
        )]);
        assert_eq!(before.len(), 2);
        let base = baseline_of(&before);
        // Reordered, moved to other files, shifted down, replica counts changed.
        let after = findings(&[
            (
                "x/web.yaml",
                &format!("# moved\n\n{}", deployment("web", 5)),
            ),
            ("y/api.yaml", &format!("\n\n\n{}", deployment("api", 4))),
        ]);
        let (new, known) = base.split(after);
        assert!(new.is_empty(), "{new:?}");
        assert_eq!(known.len(), 2);
    }

    #[test]
    fn new_findings_are_new() {
        let base = baseline_of(&findings(&[("a.yaml", &deployment("api", 3))]));
        let (new, known) = base.split(findings(&[(
            "a.yaml",
            &format!("{}---\n{}", deployment("api", 3), deployment("worker", 2)),
        )]));
        assert_eq!(known.len(), 1);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].object.name, "worker");
    }

    #[test]
    fn duplicates_match_by_count() {
        let one = findings(&[("a.yaml", &deployment("api", 3))]);
        let base = baseline_of(&one);
        // The same object twice (two files applying the same name) gives two identical
        // fingerprints; the baseline accepts only one of them.
        let two = findings(&[
            ("a.yaml", &deployment("api", 3)),
            ("b.yaml", &deployment("api", 3)),
        ]);
        assert_eq!(two[0].fingerprint(), two[1].fingerprint());
        let (new, known) = base.split(two.clone());
        assert_eq!((new.len(), known.len()), (1, 1));
        let (new, known) = baseline_of(&two).split(two);
        assert_eq!((new.len(), known.len()), (0, 2));
    }

    #[test]
    fn output_is_sorted_and_readable() {
        let text = render(&findings(&[(
            "a.yaml",
            &format!("{}---\n{}", deployment("web", 3), deployment("api", 2)),
        )]));
        let api = text
            .find("Deployment api")
            .expect("object names are written");
        let web = text
            .find("Deployment web")
            .expect("object names are written");
        assert!(api < web, "{text}");
        assert!(text.contains("\"version\": 1"));
    }

    #[test]
    fn broken_files_are_errors() {
        let p = Path::new("b.json");
        let e = Baseline::parse("{\"version\": 1,\n \"findings\": [}", p).unwrap_err();
        assert!(matches!(e, Error::Parse { line: 2, .. }), "{e}");
        let e = Baseline::parse("{\"version\": 7, \"findings\": []}", p).unwrap_err();
        assert!(e.to_string().contains("version 7 is not supported"), "{e}");
        let e = Baseline::parse(
            "{\"version\": 1, \"findings\": [{\"rule\": \"r\", \"object\": \"o\", \"message\": \"m\", \"fingerprint\": \"xyz\"}]}",
            p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("findings[0] (r on o)"), "{e}");
        let e = Baseline::parse("{\"version\": 1, \"findigns\": []}", p).unwrap_err();
        assert!(e.to_string().contains("unknown field `findigns`"), "{e}");
    }
}
