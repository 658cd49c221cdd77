//! The header hindsight adds to a cluster snapshot, and what it means for a run.
//!
//! A snapshot is a plain `v1 List` (what `kubectl get -o json` prints) with one extra top-level
//! key, `hindsight`, that kubectl and the API server ignore. It records when and from where the
//! picture was taken and, above all, which kinds could not be read: reading the file back must
//! say the picture is partial exactly as the live scan did.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::Problem;

/// The top-level key that holds the header.
pub const KEY: &str = "hindsight";

/// What `hindsight snapshot` (and `scan --cluster`) records beside the items.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// `hindsight <version>`.
    #[serde(default)]
    pub tool: String,
    /// RFC 3339, UTC.
    #[serde(default)]
    pub created_at: String,
    /// The kubeconfig context, or `in-cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// `--namespace`, when the picture is limited to one namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The API server's `gitVersion` (from `/version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// Wall time spent listing, in seconds.
    #[serde(default)]
    pub duration_seconds: f64,
    /// Objects read per kind.
    #[serde(default)]
    pub kinds: Vec<KindCount>,
    /// Kinds that could not be read, with the API server's answer.
    #[serde(default)]
    pub unreadable: Vec<Unreadable>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCount {
    pub kind: String,
    pub count: usize,
}

/// A kind the API server would not list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    pub kind: String,
    /// `apps/v1/deployments`: what was asked for.
    pub resource: String,
    /// HTTP status, when the server answered (403, 404, ...); absent for transport errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    pub reason: String,
}

impl Unreadable {
    /// 404: the server does not serve this API at all (an old or trimmed cluster). Nothing of
    /// that kind can exist, so the picture is not partial because of it.
    pub fn not_served(&self) -> bool {
        self.code == Some(404)
    }
}

/// Turns a header into the run's input problems: one error per kind that could not be read
/// (the picture is partial: exit status 2, findings still reported) and a notice saying where
/// the picture comes from.
pub fn problems(file: &Arc<str>, line: u32, header: &Header) -> (Vec<Problem>, Vec<Problem>) {
    let at = |message: String| Problem {
        file: file.clone(),
        line: Some(line),
        message,
    };
    let mut errors = Vec::new();
    let mut notices = Vec::new();
    for u in &header.unreadable {
        let code = u.code.map(|c| format!("{c}: ")).unwrap_or_default();
        if u.not_served() {
            notices.push(at(format!(
                "{} (`{}`) is not served by this API server ({code}{}); none were read",
                u.kind, u.resource, u.reason
            )));
        } else {
            errors.push(at(format!(
                "partial picture: {} (`{}`) could not be read ({code}{}); rules that need them saw none. \
                 Grant get/list on it (deploy/rbac.yaml) and scan again",
                u.kind, u.resource, u.reason
            )));
        }
    }
    let mut origin = format!("cluster picture taken {}", header.created_at);
    if let Some(context) = &header.context {
        origin.push_str(&format!(" from context `{context}`"));
    }
    if let Some(version) = &header.server_version {
        origin.push_str(&format!(" (server {version})"));
    }
    if let Some(ns) = &header.namespace {
        origin.push_str(&format!(", namespace `{ns}` only"));
    }
    let objects: usize = header.kinds.iter().map(|k| k.count).sum();
    origin.push_str(&format!(
        ": {objects} objects in {:.1} s",
        header.duration_seconds
    ));
    notices.push(at(origin));
    (errors, notices)
}

/// Parses a header's JSON; a header that does not parse is a notice, never fatal.
pub fn parse(file: &Arc<str>, line: u32, json: &str) -> (Vec<Problem>, Vec<Problem>) {
    match serde_json::from_str::<Header>(json) {
        Ok(header) => problems(file, line, &header),
        Err(e) => (
            Vec::new(),
            vec![Problem {
                file: file.clone(),
                line: Some(line),
                message: format!("ignored an unreadable `{KEY}` snapshot header: {e}"),
            }],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_kinds_are_errors_and_missing_apis_notices() {
        let header = Header {
            context: Some("prod".into()),
            unreadable: vec![
                Unreadable {
                    kind: "CronJob".into(),
                    resource: "batch/v1/cronjobs".into(),
                    code: Some(403),
                    reason: "Forbidden".into(),
                },
                Unreadable {
                    kind: "PodDisruptionBudget".into(),
                    resource: "policy/v1/poddisruptionbudgets".into(),
                    code: Some(404),
                    reason: "NotFound".into(),
                },
            ],
            ..Header::default()
        };
        let (errors, notices) = problems(&Arc::from("c.json"), 3, &header);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.starts_with("partial picture: CronJob"));
        assert_eq!(errors[0].line, Some(3));
        assert_eq!(notices.len(), 2);
        assert!(notices[1].message.contains("context `prod`"));
    }

    #[test]
    fn a_broken_header_is_only_a_notice() {
        let (errors, notices) = parse(&Arc::from("c.json"), 1, "{\"kinds\": 3}");
        assert!(errors.is_empty());
        assert!(notices[0].message.contains("unreadable"));
    }
}
