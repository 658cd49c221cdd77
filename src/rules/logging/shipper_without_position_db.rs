//! `logging.shipper-without-position-db`: tail inputs that forget where they were on restart.
//!
//! Reads fluent-bit (classic and YAML) and Fluentd configuration out of ConfigMap data. Lines
//! inside a data value are mapped back to the file: a block scalar's text starts on the line
//! after its key.

use crate::load::Object;
use crate::model::Workload;
use crate::node::{Node, Value};
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "logging.shipper-without-position-db",
        title: "Log shipper tail input without a position database",
        severity: Severity::High,
        stories: &[Story::PrometheusKube],
        needs: Needs::Manifests,
        rationale: "A node log shipper that tails container log files must remember how far it read each \
            file, or every restart either skips what was written while it was down (fluent-bit's default \
            `read_from_head false` starts at the end of existing files) or sends everything again. \
            fluent-bit keeps offsets only when a `tail` input has a `DB` (SQLite) file; Fluentd's \
            `in_tail` only with `pos_file`. The official fluent-bit Helm chart's default tail input has \
            no `DB`. PrometheusKube ran fluent-bit for three years until one node silently stopped \
            shipping application logs while the process kept running; they moved to Fluentd, whose \
            position file made restarts and buffering recoverable. The database also only survives a \
            pod restart when its path is on a `hostPath` (or persistent volume) mount: when a DaemonSet \
            of the same input mounts the ConfigMap and the path lies on an `emptyDir` or the container's \
            own filesystem, that is reported at medium. fluent-operator `ClusterInput`/`Input` objects with a \
            `tail` section and no `db` are reported too. fluent-bit keys are case-insensitive; every data \
            key of the ConfigMap is read, so files pulled in with `@INCLUDE` are covered.",
        remediation: "fluent-bit: add `DB /var/log/flb_kube.db` (YAML: `db:`) to every `tail` input, on a \
            `hostPath` mount such as `/var/log` or `/var/lib/fluent-bit`; consider `DB.locking true` \
            and `storage.type filesystem`. Fluentd: add `pos_file /var/log/fluentd-containers.log.pos` \
            to every `@type tail` source, again on a hostPath.",
        example: r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: fluent-bit
  namespace: logging
data:
  fluent-bit.conf: |
    [INPUT]
        Name              tail
        Path              /var/log/containers/*.log
        multiline.parser  docker, cri
        Mem_Buf_Limit     5MB
"#,
    },
    check,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shipper {
    FluentBit,
    Fluentd,
}

/// One tail input found in a config text. Lines are 0-based offsets into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TailInput {
    pub(crate) shipper: Shipper,
    pub(crate) line: usize,
    /// The position file's path and its line, when set.
    pub(crate) db: Option<(String, usize)>,
}

/// fluent-bit classic format: `[INPUT]` sections of `Key Value` lines, keys case-insensitive.
fn fluent_bit_classic(text: &str) -> Vec<TailInput> {
    struct Section {
        line: usize,
        is_input: bool,
        is_tail: bool,
        db: Option<(String, usize)>,
    }
    let mut found = Vec::new();
    let mut current: Option<Section> = None;
    let finish = |s: Option<Section>, found: &mut Vec<TailInput>| {
        if let Some(s) = s
            && s.is_input
            && s.is_tail
        {
            found.push(TailInput {
                shipper: Shipper::FluentBit,
                line: s.line,
                db: s.db,
            });
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            finish(current.take(), &mut found);
            let name = line[1..line.len() - 1].trim();
            current = Some(Section {
                line: i,
                is_input: name.eq_ignore_ascii_case("INPUT"),
                is_tail: false,
                db: None,
            });
            continue;
        }
        let Some(s) = current.as_mut() else {
            continue;
        };
        let mut words = line.split_whitespace();
        let key = words.next().unwrap_or("");
        let value = words.collect::<Vec<_>>().join(" ");
        if key.eq_ignore_ascii_case("Name") {
            s.is_tail = value.eq_ignore_ascii_case("tail");
        } else if key.eq_ignore_ascii_case("DB") && !value.is_empty() {
            s.db = Some((value, i));
        }
    }
    finish(current.take(), &mut found);
    found
}

/// fluent-bit YAML format: `pipeline: inputs: - name: tail`, with `db:`.
fn fluent_bit_yaml(text: &str) -> Vec<TailInput> {
    let mut found = Vec::new();
    for parsed in crate::load::yaml::parse_stream(text) {
        let crate::load::yaml::Parsed::Document(doc) = parsed else {
            continue;
        };
        let get = |n: &'_ Node, key: &str| -> Option<Node> {
            n.as_map()
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        let Some(pipeline) = get(&doc, "pipeline") else {
            continue;
        };
        let Some(inputs) = get(&pipeline, "inputs") else {
            continue;
        };
        for input in inputs.as_seq() {
            let is_tail = get(input, "name")
                .and_then(|n| n.as_str().map(str::to_owned))
                .is_some_and(|n| n.eq_ignore_ascii_case("tail"));
            if !is_tail {
                continue;
            }
            let db = get(input, "db").and_then(|n| {
                let text = n.scalar_text().filter(|t| !t.is_empty() && !n.is_null())?;
                Some((text, (n.line as usize).saturating_sub(1)))
            });
            found.push(TailInput {
                shipper: Shipper::FluentBit,
                line: (input.line as usize).saturating_sub(1),
                db,
            });
        }
    }
    found
}

/// Fluentd: `<source>` blocks with `@type tail` (or the old `type tail`) and `pos_file`.
fn fluentd(text: &str) -> Vec<TailInput> {
    /// An open `<source>` block.
    struct Source {
        start: usize,
        /// Nesting inside the source (`<parse>` and the like).
        depth: usize,
        is_tail: bool,
        pos_file: Option<(String, usize)>,
    }
    let mut found = Vec::new();
    let mut source: Option<Source> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        let Some(s) = source.as_mut() else {
            if lower.starts_with("<source>") || lower.starts_with("<source ") {
                source = Some(Source {
                    start: i,
                    depth: 0,
                    is_tail: false,
                    pos_file: None,
                });
            }
            continue;
        };
        if lower.starts_with("</") {
            if s.depth == 0 {
                if s.is_tail {
                    found.push(TailInput {
                        shipper: Shipper::Fluentd,
                        line: s.start,
                        db: s.pos_file.take(),
                    });
                }
                source = None;
            } else {
                s.depth -= 1;
            }
        } else if lower.starts_with('<') {
            s.depth += 1;
        } else if s.depth == 0 {
            let mut words = line.split_whitespace();
            let key = words.next().unwrap_or("");
            let value = words.collect::<Vec<_>>().join(" ");
            match key {
                "@type" | "type" => s.is_tail = value == "tail",
                "pos_file" if !value.is_empty() => s.pos_file = Some((value, i)),
                _ => {}
            }
        }
    }
    found
}

/// All tail inputs of one ConfigMap data value.
pub(crate) fn tail_inputs(key: &str, text: &str) -> Vec<TailInput> {
    let is_yaml = key.ends_with(".yaml") || key.ends_with(".yml");
    let mut found = if is_yaml && text.contains("pipeline") {
        fluent_bit_yaml(text)
    } else {
        fluent_bit_classic(text)
    };
    if text.contains("<source") {
        found.extend(fluentd(text));
    }
    found
}

/// The file line of a 0-based line inside a data value. A YAML block scalar (`|`) starts on
/// the line after its key, and the parser marks it at its first non-empty line, so leading
/// empty lines are not counted. JSON input (one line per object) and single-line values have
/// no offsets.
fn line_in_file(object: &Object, value: &Node, text: &str, offset: usize) -> u32 {
    if value.line <= object.line || !text.contains('\n') {
        return value.line;
    }
    let leading = text.bytes().take_while(|&b| b == b'\n').count();
    value.line + u32::try_from(offset.saturating_sub(leading)).unwrap_or(0)
}

/// DaemonSets in the ConfigMap's namespace that mount it, with the volume's name.
fn mounting_daemonsets<'a>(cx: &'a Context<'a>, cm: &Object) -> Vec<(&'a Workload<'a>, String)> {
    let ns = cm.namespace_or_default();
    let mut out = Vec::new();
    for w in cx
        .index
        .workloads
        .iter()
        .filter(|w| w.object.kind == "DaemonSet" && w.object.namespace_or_default() == ns)
    {
        for v in w.pod_spec.seq_at("volumes") {
            let direct = v.str_at(&["configMap", "name"]) == Some(cm.name.as_str());
            let projected = v
                .path(&["projected", "sources"])
                .map_or(&[][..], Node::as_seq)
                .iter()
                .any(|s| s.str_at(&["configMap", "name"]) == Some(cm.name.as_str()));
            if (direct || projected)
                && let Some(name) = v.str_at(&["name"])
            {
                out.push((w, name.to_owned()));
            }
        }
    }
    out
}

/// Where `path` lives in the containers that mount `config_volume`: `None` when it is on a
/// hostPath or persistent volume, else a description of the ephemeral place.
fn ephemeral_place(w: &Workload<'_>, config_volume: &str, path: &str) -> Option<String> {
    let mut worst = None;
    for c in w.containers().filter(|c| {
        c.node
            .seq_at("volumeMounts")
            .iter()
            .any(|m| m.str_at(&["name"]) == Some(config_volume))
    }) {
        let best = c
            .node
            .seq_at("volumeMounts")
            .iter()
            .filter_map(|m| {
                let mp = m.str_at(&["mountPath"])?.trim_end_matches('/');
                let under = path == mp || path.starts_with(&format!("{mp}/")) || mp.is_empty();
                under.then_some((mp.len(), m.str_at(&["name"])?))
            })
            .max_by_key(|(len, _)| *len);
        let place = match best {
            None => Some(format!("the container filesystem of `{}`", c.name)),
            Some((_, volume)) => {
                let v = w
                    .pod_spec
                    .seq_at("volumes")
                    .iter()
                    .find(|v| v.str_at(&["name"]) == Some(volume));
                let durable = v.is_some_and(|v| {
                    v.get("hostPath").is_some() || v.get("persistentVolumeClaim").is_some()
                });
                (!durable).then(|| {
                    let kind = v
                        .and_then(|v| v.as_map().iter().find(|(k, _)| k != "name"))
                        .map_or("unknown", |(k, _)| k.as_str());
                    format!("volume `{volume}` ({kind}) of container `{}`", c.name)
                })
            }
        };
        worst = worst.or(place);
    }
    worst
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    // fluent-operator renders `ClusterInput`/`Input` objects into fluent-bit `[INPUT]` sections.
    for kind in ["ClusterInput", "Input"] {
        for input in cx.index.of_kind(kind) {
            if input.group() != "fluentbit.fluent.io" {
                continue;
            }
            let Some(tail) = input.spec().get("tail").filter(|t| !t.as_map().is_empty()) else {
                continue;
            };
            if tail.get("db").is_none_or(Node::is_null) {
                out.report(
                    input,
                    None,
                    Some(tail),
                    format!(
                        "fluent-operator {kind} `{}` tails `{}` with no `db`: after a restart \
                         fluent-bit cannot tell how far it read each file, so logs written meanwhile \
                         are skipped or sent twice",
                        input.name,
                        tail.str_at(&["path"]).unwrap_or("files")
                    ),
                );
            }
        }
    }
    for cm in cx.index.of_kind("ConfigMap") {
        let data = cm.root.get("data").map_or(&[][..], Node::as_map);
        let mut daemonsets = None;
        for (key, value) in data {
            let Value::Str(text) = &value.value else {
                continue;
            };
            for input in tail_inputs(key, text) {
                let line = line_in_file(cm, value, text, input.line);
                let at = Node::new(line, Value::Null);
                let (what, missing, fix) = match input.shipper {
                    Shipper::FluentBit => ("fluent-bit `tail` input", "no `DB`", "DB"),
                    Shipper::Fluentd => {
                        ("Fluentd `@type tail` source", "no `pos_file`", "pos_file")
                    }
                };
                match &input.db {
                    None => {
                        out.report(
                            cm,
                            None,
                            Some(&at),
                            format!(
                                "{what} in `{key}` has {missing}: after a restart it cannot tell how far \
                                 it read each file, so logs written meanwhile are skipped or sent twice; \
                                 add `{fix}` on a hostPath"
                            ),
                        );
                    }
                    Some((path, db_line)) if path.starts_with('/') && !path.contains('$') => {
                        let ds = daemonsets.get_or_insert_with(|| mounting_daemonsets(cx, cm));
                        for (w, volume) in ds.iter() {
                            if let Some(place) = ephemeral_place(w, volume, path) {
                                let at =
                                    Node::new(line_in_file(cm, value, text, *db_line), Value::Null);
                                out.report(
                                    cm,
                                    None,
                                    Some(&at),
                                    format!(
                                        "{what} in `{key}` keeps its positions in `{path}`, which DaemonSet \
                                         `{}` puts on {place}: it does not survive a pod restart; put it on \
                                         a hostPath",
                                        w.object.name
                                    ),
                                )
                                .severity = Severity::Medium;
                            }
                        }
                    }
                    Some(_) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check as run;

    fn cm(data: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: fb, namespace: logging}}\ndata:\n{data}"
        )
    }

    #[test]
    fn fires_on_classic_tail_without_db_at_the_input_line() {
        let f = run(
            &RULE,
            &cm(
                "  fluent-bit.conf: |\n    [SERVICE]\n        Flush 1\n\n    [INPUT]\n        Name              tail\n        Path              /var/log/containers/*.log\n",
            ),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location.line, 9, "the `[INPUT]` line");
        assert!(f[0].message.contains("no `DB`"));
        assert_eq!(f[0].severity, Severity::High);
    }

    #[test]
    fn keys_are_case_insensitive_and_other_inputs_are_ignored() {
        let with_db = cm(
            "  in.conf: |\n    [input]\n        name tail\n        db   /var/log/flb.db\n    [INPUT]\n        Name systemd\n",
        );
        assert!(run(&RULE, &with_db).is_empty());
        let upper = cm("  in.conf: |\n    [INPUT]\n        NAME TAIL\n        Db /var/log/x.db\n");
        assert!(run(&RULE, &upper).is_empty());
    }

    #[test]
    fn included_files_are_read_as_other_keys() {
        let y = cm(
            "  fluent-bit.conf: |\n    @INCLUDE input.conf\n  input.conf: |\n    [INPUT]\n        Name tail\n        Path /var/log/containers/*.log\n    [INPUT]\n        Name tail\n        DB /var/log/other.db\n",
        );
        let f = run(&RULE, &y);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("`input.conf`"));
        assert_eq!(f[0].location.line, 8);
    }

    #[test]
    fn yaml_format() {
        let y = cm(
            "  fluent-bit.yaml: |\n    service:\n      flush: 1\n    pipeline:\n      inputs:\n        - name: tail\n          path: /var/log/containers/*.log\n        - name: tail\n          db: /var/log/flb.db\n",
        );
        let f = run(&RULE, &y);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location.line, 10, "the `- name: tail` line");
    }

    #[test]
    fn fluentd_sources() {
        let y = cm(
            "  containers.conf: |\n    <source>\n      @type tail\n      path /var/log/containers/*.log\n      tag kubernetes.*\n      <parse>\n        @type json\n      </parse>\n    </source>\n    <source>\n      type tail\n      path /var/log/syslog\n      pos_file /var/log/syslog.pos\n    </source>\n    <source>\n      @type forward\n    </source>\n",
        );
        let f = run(&RULE, &y);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("pos_file"));
        assert_eq!(f[0].location.line, 6);
    }

    #[test]
    fn db_on_an_emptydir_of_a_mounting_daemonset_is_medium() {
        let ds = |db_volume: &str| {
            format!(
                "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: fluent-bit, namespace: logging}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: fluent-bit\n        image: fluent/fluent-bit:3.0\n        volumeMounts:\n        - {{name: config, mountPath: /fluent-bit/etc/}}\n        - {{name: state, mountPath: /var/fluent-bit}}\n      volumes:\n      - name: config\n        configMap: {{name: fb}}\n      - name: state\n{db_volume}"
            )
        };
        let config =
            cm("  in.conf: |\n    [INPUT]\n        Name tail\n        DB /var/fluent-bit/flb.db\n");
        let f = run(&RULE, &format!("{config}{}", ds("        emptyDir: {}\n")));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].message.contains("emptyDir"), "{}", f[0].message);
        assert_eq!(f[0].location.line, 8, "the DB line");
        let host = ds("        hostPath: {path: /var/fluent-bit}\n");
        assert!(run(&RULE, &format!("{config}{host}")).is_empty());
        // Not under any mount: the container filesystem.
        let elsewhere = config.replace("/var/fluent-bit/flb.db", "/tmp/flb.db");
        let f = run(&RULE, &format!("{elsewhere}{host}"));
        assert!(
            f[0].message.contains("container filesystem"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn fluent_operator_inputs() {
        let input = |tail: &str| {
            format!(
                "apiVersion: fluentbit.fluent.io/v1alpha2\nkind: ClusterInput\nmetadata: {{name: tail}}\nspec:\n  tail:\n    path: /var/log/containers/*.log\n{tail}"
            )
        };
        let f = run(&RULE, &input("    memBufLimit: 5MB\n"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location.line, 6);
        assert!(f[0].message.contains("/var/log/containers/*.log"));
        assert!(run(&RULE, &input("    db: /fluent-bit/tail/pos.db\n")).is_empty());
        let systemd = "apiVersion: fluentbit.fluent.io/v1alpha2\nkind: ClusterInput\nmetadata: {name: s}\nspec:\n  systemd: {tag: service.*}\n";
        assert!(run(&RULE, systemd).is_empty());
    }

    #[test]
    fn unrelated_configmaps_pass() {
        assert!(
            run(
                &RULE,
                &cm("  app.properties: |\n    [server]\n    name tail\n")
            )
            .is_empty()
        );
        assert!(run(&RULE, &cm("  x: plain\n")).is_empty());
    }

    #[test]
    fn real_corpus_with_db_on_host_path_does_not_fire() {
        let Some(dir) =
            crate::rules::shared_corpus("real/fluent-bit-kubernetes-logging/output/elasticsearch")
        else {
            eprintln!("notice: ../shared/corpus absent; skipping the real fluent-bit corpus check");
            return;
        };
        let loaded =
            crate::load::load(&[crate::load::Input::parse(dir.to_str().expect("utf-8 path"))]);
        let cx = Context::new(&loaded.objects);
        assert!(cx.index.of_kind("ConfigMap").count() >= 1);
        assert!(cx.index.of_kind("DaemonSet").count() >= 1);
        let mut sink = Sink::new(&RULE.meta);
        (RULE.check)(&cx, &mut sink);
        assert!(sink.findings.is_empty(), "{:?}", sink.findings);
        // Same config without its DB line fires at the `[INPUT]` line of the real file.
        let cm_path = dir.join("fluent-bit-configmap.yaml");
        let text = std::fs::read_to_string(&cm_path).expect("readable corpus file");
        let input_line = text
            .lines()
            .position(|l| l.trim() == "[INPUT]")
            .expect("an [INPUT] section") as u32
            + 1;
        let without_db: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("DB "))
            .map(|l| format!("{l}\n"))
            .collect();
        let f = run(&RULE, &without_db);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location.line, input_line);
    }
}
