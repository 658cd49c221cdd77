//! Agreement with peer linters on their own fixtures.
//!
//! Runs hindsight over the kube-score and Polaris fixtures in `../shared/corpus/peers` (see its
//! README for the TSV format and the mapping of their checks to our rule ids), prints the
//! agreement per check, and asserts the exact set of disagreements below, each explained, so a
//! regression (or a silent fix) fails. Only checks that mean the same thing as one of ours
//! ("same") or overlap in a stated direction ("partly") are counted; checks marked "differs" in
//! the README are run only to prove the fixtures load without errors.
//!
//! A rule that is not registered (e.g. on a branch without it) is reported as skipped and its
//! expected disagreements are not asserted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hindsight::load::{Input, load};

/// The shared directory: `$HINDSIGHT_SHARED`, else `../shared` beside the checkout, else
/// `../../shared` (a worktree under `wt/`).
fn shared() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("HINDSIGHT_SHARED") {
        return Some(PathBuf::from(dir)).filter(|d| d.is_dir());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [root.join("../shared"), root.join("../../shared")]
        .into_iter()
        .find(|d| d.join("corpus/peers/README.md").is_file())
}

/// One expectation row: a fixture, the peer's check and its verdict.
struct Row {
    fixture: String,
    check: String,
    expected: String,
    config: String,
}

fn rows(peers: &Path, peer: &str) -> Vec<Row> {
    let text = std::fs::read_to_string(peers.join(peer).join("expected.tsv")).expect("TSV");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Row {
                fixture: cols[0].to_owned(),
                check: cols[1].to_owned(),
                expected: cols[2].to_owned(),
                // kube-score's 5th column; Polaris has none that matters.
                config: if peer == "kube-score" {
                    cols.get(4).copied().unwrap_or("").to_owned()
                } else {
                    String::new()
                },
            }
        })
        .collect()
}

/// How one of their checks maps to one of our rules.
struct Comparison {
    peer: &'static str,
    check: &'static str,
    rule: &'static str,
    /// Whether our rule must fire on this row (`Some(true)`), stay silent (`Some(false)`), or
    /// the row says nothing about our rule (`None`).
    expect: fn(&Row) -> Option<bool>,
    /// Only findings whose message contains this count (one rule, several peer checks).
    message: Option<&'static str>,
}

/// kube-score rows that describe its verdict on the manifest (not its ignore annotation).
fn manifest_row(row: &Row) -> bool {
    !row.config.contains("UseIgnoreChecksAnnotation=true")
}

/// The usual "same" mapping: a warning or failure means fire; OK, pass or skipped mean silence.
fn same(row: &Row) -> Option<bool> {
    if !manifest_row(row) {
        return None;
    }
    match row.expected.as_str() {
        "WARNING" | "CRITICAL" | "fail" => Some(true),
        "OK" | "SKIPPED" | "pass" => Some(false),
        _ => None,
    }
}

const COMPARISONS: &[Comparison] = &[
    Comparison {
        peer: "kube-score",
        check: "Container Security Context Privileged",
        rule: "security.privileged-container",
        expect: same,
        message: None,
    },
    Comparison {
        peer: "polaris",
        check: "runAsPrivileged",
        rule: "security.privileged-container",
        expect: same,
        message: None,
    },
    Comparison {
        peer: "polaris",
        check: "hostIPCSet",
        rule: "security.host-namespaces",
        expect: same,
        message: Some("`hostIPC: true`"),
    },
    Comparison {
        peer: "polaris",
        check: "hostPIDSet",
        rule: "security.host-namespaces",
        expect: same,
        message: Some("`hostPID: true`"),
    },
    Comparison {
        peer: "polaris",
        check: "hostNetworkSet",
        rule: "security.host-namespaces",
        expect: same,
        message: Some("`hostNetwork: true`"),
    },
    Comparison {
        peer: "polaris",
        check: "hostPathSet",
        rule: "security.sensitive-host-mount",
        expect: same,
        message: None,
    },
    Comparison {
        peer: "polaris",
        check: "runAsRootAllowed",
        rule: "security.runs-as-root",
        expect: same,
        message: None,
    },
    // Partly: kube-score's CRITICAL covers low UIDs, low GIDs and no context at all; OK means
    // UID and GID above 10000, where we must be silent.
    Comparison {
        peer: "kube-score",
        check: "Container Security Context User Group ID",
        rule: "security.runs-as-root",
        expect: same,
        message: None,
    },
    Comparison {
        peer: "kube-score",
        check: "Deployment has host PodAntiAffinity",
        rule: "workload.replicas-without-spread",
        expect: same,
        message: None,
    },
    Comparison {
        peer: "kube-score",
        check: "StatefulSet has host PodAntiAffinity",
        rule: "workload.replicas-without-spread",
        expect: same,
        message: None,
    },
    Comparison {
        peer: "kube-score",
        check: "StatefulSet has PodDisruptionBudget",
        rule: "stateful.no-disruption-budget",
        expect: same,
        message: None,
    },
    Comparison {
        peer: "polaris",
        check: "cpuRequestsMissing",
        rule: "resources.missing-requests",
        expect: same,
        // One rule covers both resources; the message names the missing one.
        message: Some("no CPU request"),
    },
    Comparison {
        peer: "polaris",
        check: "memoryRequestsMissing",
        rule: "resources.missing-requests",
        expect: same,
        message: Some("no memory request"),
    },
    Comparison {
        peer: "polaris",
        check: "memoryLimitsMissing",
        rule: "resources.missing-memory-limit",
        expect: same,
        message: None,
    },
    // Partly: WARNING = every limit set but a request missing ⇒ fire; OK ⇒ silent; CRITICAL =
    // some limit missing ⇒ says nothing about requests.
    Comparison {
        peer: "kube-score",
        check: "Container Resources",
        rule: "resources.missing-requests",
        expect: |row| match row.expected.as_str() {
            "CRITICAL" => None,
            _ => same(row),
        },
        message: None,
    },
    // Partly: the memory limit is present when kube-score is happy with limits (OK without
    // ignoring the memory limit) or only complains about requests (WARNING).
    Comparison {
        peer: "kube-score",
        check: "Container Resources",
        rule: "resources.missing-memory-limit",
        expect: |row| {
            if !manifest_row(row)
                || row
                    .config
                    .contains("IgnoreContainerMemoryLimitRequirement=true")
            {
                return None;
            }
            match row.expected.as_str() {
                "OK" | "WARNING" => Some(false),
                _ => None,
            }
        },
        message: None,
    },
];

/// Every disagreement we expect, as (peer, fixture, rule), with the reason.
const EXPECTED_DISAGREEMENTS: &[(&str, &str, &str)] = &[
    // Different intent: kube-score wants UID *and* GID ≥ 10000. UID 15000 with GID 0 does not run
    // as root; group 0 alone is not what `security.runs-as-root` is about.
    (
        "kube-score",
        "pod-security-context-low-group-id.yaml",
        "security.runs-as-root",
    ),
    // Different intent: Polaris flags every hostPath; its failure fixture mounts `/var/log`, which
    // log shippers need and which gives no control of the node (documented in
    // `security.sensitive-host-mount`).
    (
        "polaris",
        "hostPathSet/failure.yaml",
        "security.sensitive-host-mount",
    ),
    // Different intent: kube-score treats unset `replicas` as "may be scaled up"; the API
    // defaults it to 1 and no HPA targets it, so one pod has nothing to spread.
    (
        "kube-score",
        "statefulset-host-antiaffinity-undefined-replicas.yaml",
        "workload.replicas-without-spread",
    ),
    // Different intent: preferred anti-affinity is a scheduling wish that resource scoring can
    // outweigh (the Moonlight failure mode), so we still report it, at low severity; kube-score
    // accepts it as OK.
    (
        "kube-score",
        "deployment-host-antiaffinity-preffered.yaml",
        "workload.replicas-without-spread",
    ),
    (
        "kube-score",
        "deployment-host-antiaffinity-preffered-selector-expression.yaml",
        "workload.replicas-without-spread",
    ),
    (
        "kube-score",
        "statefulset-host-antiaffinity-preffered.yaml",
        "workload.replicas-without-spread",
    ),
    // Both no-match fixtures leave `replicas` unset, which
    // the API defaults to 1, so our rule has no replicated StatefulSet to protect; kube-score
    // counts unset as replicated. Different intent, as for anti-affinity above.
    (
        "kube-score",
        "statefulset-poddisruptionbudget-v1beta1-no-match.yaml",
        "stateful.no-disruption-budget",
    ),
    (
        "kube-score",
        "statefulset-poddisruptionbudget-v1beta1-expression-no-match.yaml",
        "stateful.no-disruption-budget",
    ),
    // Theirs wrong: these containers set limits only; the API server
    // defaults missing requests to the limits, so the scheduler does see requests. kube-score
    // is wrong to warn.
    (
        "kube-score",
        "deployment-test-resources.yaml",
        "resources.missing-requests",
    ),
    (
        "kube-score",
        "pod-test-resources-only-limits.yaml",
        "resources.missing-requests",
    ),
    (
        "kube-score",
        "statefulset-test-resources.yaml",
        "resources.missing-requests",
    ),
];

/// Checks the README marks "differs": run only to prove the fixtures load cleanly.
const DIFFERS: &[(&str, &str)] = &[
    ("kube-score", "Pod Probes"),
    ("kube-score", "Pod Probes Identical"),
    ("kube-score", "Pod Topology Spread Constraints"),
    ("kube-score", "Deployment has PodDisruptionBudget"),
    ("kube-score", "PodDisruptionBudget has policy"),
    ("kube-score", "Service Type"),
    ("kube-score", "Service Targets Pod"),
    // Guaranteed-QoS policy (requests equal to limits): no equivalent rule.
    ("kube-score", "Container Resource Requests Equal Limits"),
    ("kube-score", "Container CPU Requests Equal Limits"),
    ("kube-score", "Container Memory Requests Equal Limits"),
    ("polaris", "readinessProbeMissing"),
    ("polaris", "livenessProbeMissing"),
    ("polaris", "topologySpreadConstraint"),
    ("polaris", "missingPodDisruptionBudget"),
    ("polaris", "pdbDisruptionsIsZero"),
    ("polaris", "pdbMinAvailableGreaterThanHPAMinReplicas"),
    // Deliberate: hindsight never asks for CPU limits (the Buffer story).
    ("polaris", "cpuLimitsMissing"),
];

fn fixture_path(peers: &Path, peer: &str, fixture: &str) -> PathBuf {
    match peer {
        "kube-score" => peers.join("kube-score/testdata").join(fixture),
        _ => peers.join("polaris/checks").join(fixture),
    }
}

/// Our rule's findings on one fixture (filtered by message); panics on input errors, since a
/// peer fixture that the API would accept must load.
fn fires(path: &Path, rule: &'static hindsight::rules::Rule, message: Option<&str>) -> bool {
    let loaded = load(&[Input::Path(path.to_owned())]);
    let outcome = hindsight::analyse(loaded, &[rule]);
    assert!(
        outcome.errors.is_empty(),
        "{}: {:?}",
        path.display(),
        outcome.errors
    );
    outcome
        .findings
        .iter()
        .any(|f| f.rule == rule.meta.id && message.is_none_or(|m| f.message.contains(m)))
}

#[test]
fn agreement_with_kube_score_and_polaris() {
    let Some(shared) = shared() else {
        println!("notice: ../shared/corpus/peers not found; peer agreement not checked");
        return;
    };
    let peers = shared.join("corpus/peers");
    let mut disagreements: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut counted = 0;
    for cmp in COMPARISONS {
        let Some(rule) = hindsight::rules::find(cmp.rule) else {
            println!(
                "{} {} vs {}: not yet registered, skipped",
                cmp.peer, cmp.check, cmp.rule
            );
            continue;
        };
        let (mut agree, mut total) = (0, 0);
        for row in rows(&peers, cmp.peer)
            .iter()
            .filter(|r| r.check == cmp.check)
        {
            let Some(want) = (cmp.expect)(row) else {
                continue;
            };
            total += 1;
            let got = fires(
                &fixture_path(&peers, cmp.peer, &row.fixture),
                rule,
                cmp.message,
            );
            if got == want {
                agree += 1;
            } else {
                println!(
                    "  disagree: {} {} ({}): they say {}, we {}",
                    cmp.peer,
                    row.fixture,
                    row.check,
                    row.expected,
                    if got { "fire" } else { "stay silent" }
                );
                disagreements.insert((cmp.peer.into(), row.fixture.clone(), cmp.rule.into()));
            }
        }
        assert!(total > 0, "{} {}: no rows compared", cmp.peer, cmp.check);
        counted += total;
        println!(
            "{} {} vs {}: {agree}/{total} agree",
            cmp.peer, cmp.check, cmp.rule
        );
    }
    assert!(counted > 0);
    let expected: BTreeSet<(String, String, String)> = EXPECTED_DISAGREEMENTS
        .iter()
        .filter(|(_, _, rule)| hindsight::rules::find(rule).is_some())
        .map(|(p, f, r)| ((*p).into(), (*f).into(), (*r).into()))
        .collect();
    assert_eq!(
        disagreements, expected,
        "disagreements with peers changed: explain new ones in EXPECTED_DISAGREEMENTS, remove fixed ones"
    );
}

#[test]
fn every_peer_fixture_loads_without_errors() {
    let Some(shared) = shared() else {
        println!("notice: ../shared/corpus/peers not found; skipped");
        return;
    };
    let peers = shared.join("corpus/peers");
    let mut loaded_files = 0;
    for peer in ["kube-score", "polaris"] {
        for row in rows(&peers, peer) {
            let compared = COMPARISONS
                .iter()
                .any(|c| c.peer == peer && c.check == row.check);
            let differs = DIFFERS.iter().any(|(p, c)| *p == peer && *c == row.check);
            assert!(
                compared || differs,
                "{peer} check `{}` is neither compared nor listed as differing",
                row.check
            );
            let path = fixture_path(&peers, peer, &row.fixture);
            let outcome = hindsight::scan(&[Input::Path(path.clone())]);
            assert!(
                outcome.errors.is_empty(),
                "{}: {:?}",
                path.display(),
                outcome.errors
            );
            assert!(outcome.objects > 0, "{}: no objects", path.display());
            loaded_files += 1;
        }
    }
    println!("{loaded_files} peer fixture rows scanned with every registered rule, no errors");
}
