//! The configuration file, `.hindsight.yaml`: which rules run, their severities, rule
//! parameters, and what is excluded. The reference is `docs/configuration.md`.
//!
//! Invariants: a config is validated completely when it is read (unknown keys, rule ids,
//! severities, globs, CIDRs, thresholds), so the rest of the pipeline never sees a bad value;
//! every error names the file, line and column and the valid choices. Severity overrides are
//! applied here, after rules run and before any report: rules keep their own severities and
//! reports never change them. No network; the only IO is reading the file.

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use crate::load::Loaded;
use crate::rules::{ALL, Finding, Severity};

/// File names looked for, in order, in each directory from the scanned path upward.
pub const FILE_NAMES: [&str; 2] = [".hindsight.yaml", ".hindsight.yml"];

/// A validated configuration. `Config::default()` is "no file": every rule, default
/// severities, default parameters, nothing excluded.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file this came from, when there was one.
    pub file: Option<PathBuf>,
    /// Rule ids or areas that do not run.
    pub disable: Vec<String>,
    /// When set, only these rule ids or areas run (before `disable` is applied).
    pub enable_only: Option<Vec<String>>,
    /// Severity per rule id or area; an id wins over its area.
    pub severity: BTreeMap<String, Severity>,
    /// Rule parameters, read by rules through [`crate::rules::Context::params`].
    pub params: Params,
    pub exclude: Exclude,
}

/// What is left out of the results.
#[derive(Debug, Clone, Default)]
pub struct Exclude {
    /// Findings about objects in these namespaces are dropped (globs; `default` also matches
    /// objects without a namespace).
    pub namespaces: Vec<Glob>,
    /// Files matching these globs are not analysed at all, relative to `base`.
    pub paths: Vec<Glob>,
    /// Findings about objects of these kinds are dropped (case-insensitive).
    pub kinds: Vec<String>,
    /// The directory path globs are relative to: the config file's directory.
    pub base: PathBuf,
}

/// Rule parameters. Each area has a small typed struct; runtime thresholds are an open map
/// validated against [`THRESHOLDS`].
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub exposure: ExposureParams,
    pub thresholds: Thresholds,
}

impl Params {
    /// The parameters used when there is no config (for `Context::new`).
    pub fn defaults() -> &'static Params {
        static DEFAULT: LazyLock<Params> = LazyLock::new(Params::default);
        &DEFAULT
    }
}

/// Parameters of the `exposure.*` rules: additions to their built-in lists.
#[derive(Debug, Clone, Default)]
pub struct ExposureParams {
    /// Extra image patterns recognised as admin UIs (globs where `*` also crosses `/`),
    /// e.g. `registry.corp/*/ops-console*`.
    pub admin_ui_images: Vec<Glob>,
    /// Extra address ranges treated as private (e.g. `100.64.0.0/10` for carrier-grade NAT).
    pub private_cidrs: Vec<Cidr>,
}

impl ExposureParams {
    /// Whether an image matches one of the configured admin UI patterns.
    pub fn is_admin_ui_image(&self, image: &str) -> bool {
        self.admin_ui_images.iter().any(|g| g.matches(image))
    }

    /// Whether an address lies in one of the configured private ranges.
    pub fn is_private(&self, ip: IpAddr) -> bool {
        self.private_cidrs.iter().any(|c| c.contains(ip))
    }
}

/// A threshold a rule reads: its default, its valid range and what it means.
#[derive(Debug)]
pub struct Threshold {
    pub rule: &'static str,
    pub key: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub help: &'static str,
}

/// Every threshold that can be set under `params.thresholds`. Rules read them with
/// [`Thresholds::get`]; the defaults come from `../shared/research/stories.md`.
pub static THRESHOLDS: &[&Threshold] = &[
    &CPU_THROTTLE_RATIO,
    &CPU_THROTTLE_USAGE_RATIO,
    &CPU_THROTTLE_MINUTES,
    &LOGGING_STALL_MINUTES,
    &NETWORK_RETRANSMIT_RATIO,
    &NETWORK_RETRANSMIT_HIGH_RATIO,
    &NETWORK_RETRANSMIT_MINUTES,
    &NETWORK_CONNTRACK_FILL_RATIO,
    &NODE_BUSY_RATIO,
    &NODE_BUSY_MINUTES,
    &NODE_MIN_REPLICAS,
    &SECURITY_BURN_FACTOR,
    &SECURITY_BURN_NODE_FRACTION,
    &SECURITY_BURN_MINUTES,
    &STATEFUL_UNSYNCED_SCRAPES,
];

macro_rules! threshold {
    ($name:ident, $rule:literal, $key:literal, $default:expr, $min:expr, $max:expr, $help:literal) => {
        #[doc = $help]
        pub static $name: Threshold = Threshold {
            rule: $rule,
            key: $key,
            default: $default,
            min: $min,
            max: $max,
            help: $help,
        };
    };
}

threshold!(
    CPU_THROTTLE_RATIO,
    "cpu.throttled-despite-low-usage",
    "throttled-ratio",
    0.25,
    0.0,
    1.0,
    "share of CFS periods throttled above which a container counts as throttled (kubernetes-mixin: 25 %)"
);
threshold!(
    CPU_THROTTLE_USAGE_RATIO,
    "cpu.throttled-despite-low-usage",
    "usage-ratio",
    0.5,
    0.0,
    1.0,
    "CPU usage as a share of the limit below which throttling is unexplained"
);
threshold!(
    CPU_THROTTLE_MINUTES,
    "cpu.throttled-despite-low-usage",
    "for-minutes",
    15.0,
    1.0,
    10080.0,
    "how long both conditions must hold"
);
threshold!(
    LOGGING_STALL_MINUTES,
    "logging.shipper-stalled",
    "for-minutes",
    15.0,
    1.0,
    10080.0,
    "how long a shipper's input must grow while its output stays flat"
);
threshold!(
    NETWORK_RETRANSMIT_RATIO,
    "network.tcp-retransmits",
    "ratio",
    0.01,
    0.0,
    1.0,
    "retransmitted / sent TCP segments above which a node is reported"
);
threshold!(
    NETWORK_RETRANSMIT_HIGH_RATIO,
    "network.tcp-retransmits",
    "high-ratio",
    0.05,
    0.0,
    1.0,
    "retransmit ratio above which the finding is high severity"
);
threshold!(
    NETWORK_RETRANSMIT_MINUTES,
    "network.tcp-retransmits",
    "for-minutes",
    15.0,
    1.0,
    10080.0,
    "how long the ratio must stay above the threshold"
);
threshold!(
    NETWORK_CONNTRACK_FILL_RATIO,
    "network.tcp-retransmits",
    "conntrack-fill-ratio",
    0.9,
    0.0,
    1.0,
    "conntrack entries as a share of the limit above which a node is reported"
);
threshold!(
    NODE_BUSY_RATIO,
    "node.cpu-saturated-colocated",
    "busy-ratio",
    0.95,
    0.0,
    1.0,
    "node CPU busy share counted as saturated"
);
threshold!(
    NODE_BUSY_MINUTES,
    "node.cpu-saturated-colocated",
    "for-minutes",
    15.0,
    1.0,
    10080.0,
    "how long a node must stay saturated"
);
threshold!(
    NODE_MIN_REPLICAS,
    "node.cpu-saturated-colocated",
    "min-replicas",
    2.0,
    2.0,
    1000.0,
    "replicas of one workload on the saturated node needed for a finding"
);
threshold!(
    SECURITY_BURN_FACTOR,
    "security.unexplained-cpu-burn",
    "factor",
    4.0,
    1.0,
    1000.0,
    "CPU use as a multiple of the workload's own baseline counted as a jump"
);
threshold!(
    SECURITY_BURN_NODE_FRACTION,
    "security.unexplained-cpu-burn",
    "node-fraction",
    0.5,
    0.0,
    1.0,
    "share of nodes that must jump at once"
);
threshold!(
    SECURITY_BURN_MINUTES,
    "security.unexplained-cpu-burn",
    "for-minutes",
    30.0,
    1.0,
    10080.0,
    "how long the jump must last"
);
threshold!(
    STATEFUL_UNSYNCED_SCRAPES,
    "stateful.replica-ready-but-unsynced",
    "scrapes",
    2.0,
    1.0,
    1000.0,
    "consecutive scrapes a replica must be Ready but unsynced"
);

/// Configured threshold values; unset ones fall back to their defaults.
#[derive(Debug, Clone, Default)]
pub struct Thresholds {
    values: BTreeMap<(&'static str, &'static str), f64>,
}

impl Thresholds {
    /// The value of a threshold: configured, else its default.
    pub fn get(&self, t: &Threshold) -> f64 {
        self.values
            .get(&(t.rule, t.key))
            .copied()
            .unwrap_or(t.default)
    }
}

/// A glob: `*` (any run of characters within a path segment, or anywhere when the glob is
/// not path-aware), `**` (any run, across `/`) and `?` (one character). Nothing else is special.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    /// Whether `*` and `?` stop at `/` (paths) or not (images, names).
    paths: bool,
}

impl Glob {
    /// A glob over names (namespaces, images): `*` matches anything, `/` included.
    pub fn name(pattern: &str) -> Glob {
        Glob {
            pattern: pattern.to_owned(),
            paths: false,
        }
    }

    /// A glob over `/`-separated paths: `*` stays within a segment, `**` crosses them.
    pub fn path(pattern: &str) -> Glob {
        Glob {
            pattern: pattern.trim_start_matches("./").to_owned(),
            paths: true,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    pub fn matches(&self, text: &str) -> bool {
        let p: Vec<char> = self.pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        glob_match(&p, &t, self.paths)
    }
}

/// Backtracking glob matcher; patterns are short, so the worst case does not matter.
fn glob_match(p: &[char], t: &[char], paths: bool) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => {
            let mut rest = &p[2..];
            // `**/` also matches zero directories.
            if rest.first() == Some(&'/') && glob_match(&rest[1..], t, paths) {
                return true;
            }
            while rest.first() == Some(&'*') {
                rest = &rest[1..];
            }
            (0..=t.len()).any(|i| glob_match(rest, &t[i..], paths))
        }
        Some('*') => {
            for i in 0..=t.len() {
                if glob_match(&p[1..], &t[i..], paths) {
                    return true;
                }
                if paths && t.get(i) == Some(&'/') {
                    return false;
                }
            }
            false
        }
        Some('?') => match t.first() {
            Some('/') if paths => false,
            Some(_) => glob_match(&p[1..], &t[1..], paths),
            None => false,
        },
        Some(c) => t.first() == Some(c) && glob_match(&p[1..], &t[1..], paths),
    }
}

/// An IPv4 or IPv6 network: `10.0.0.0/8`, `fd00::/8`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP network (like `10.0.0.0/8` or `fd00::/8`)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("prefix length in `{s}` must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn mask(bits: u32, prefix: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                (!0u128 << (bits - u32::from(prefix))) & (!0u128 >> (128 - bits))
            }
        }
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let m = mask(32, self.prefix);
                (u128::from(u32::from(net)) & m) == (u128::from(u32::from(ip)) & m)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let m = mask(128, self.prefix);
                (u128::from(net) & m) == (u128::from(ip) & m)
            }
            _ => false,
        }
    }
}

/// A config error: where it is and what would have been valid. `render` shows it like rustc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), at(*line, *column))]
pub struct Error {
    pub file: PathBuf,
    pub line: Option<u32>,
    /// 1-based character column.
    pub column: Option<u32>,
    /// Length of the offending text, in characters.
    pub len: u32,
    pub message: String,
    /// The valid choices or how to fix it.
    pub help: Option<String>,
    /// The file text, for the snippet.
    text: Option<Arc<str>>,
}

fn at(line: Option<u32>, column: Option<u32>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

impl Error {
    pub fn io(file: &Path, e: &std::io::Error) -> Error {
        Error {
            file: file.to_owned(),
            line: None,
            column: None,
            len: 0,
            message: format!("cannot read config file: {e}"),
            help: None,
            text: None,
        }
    }

    /// rustc-style text: `error: …`, ` --> file:line:col`, the line with a caret, `= help: …`.
    pub fn render(&self, color: bool) -> String {
        use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let title = format!("{} (config file)", self.message);
        let mut group = Group::with_title(Level::ERROR.primary_title(title));
        let line_text = self.line.and_then(|l| {
            let src = self.text.as_deref()?;
            src.lines()
                .nth((l as usize).checked_sub(1)?)
                .map(|t| (l, t))
        });
        let path = self.file.display().to_string();
        match line_text {
            Some((line, text)) => {
                let col = self.column.unwrap_or(1).max(1) as usize - 1;
                let start = text.char_indices().nth(col).map_or(text.len(), |(i, _)| i);
                let end = text[start..]
                    .char_indices()
                    .nth(self.len.max(1) as usize)
                    .map_or(text.len(), |(i, _)| start + i);
                let span = if start < end {
                    start..end
                } else {
                    0..text.len()
                };
                let mut snippet = Snippet::source(text).line_start(line as usize).path(path);
                snippet = snippet.annotation(AnnotationKind::Primary.span(span));
                group = group.element(snippet);
            }
            None => {
                let at = format!("{path}{}", at(self.line, self.column));
                group = group.element(Level::NOTE.with_name("at").message(at));
            }
        }
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.clone()));
        }
        renderer.render(&[group]).to_string()
    }
}

// ---- The file's shape, as written. Every key is kebab case; unknown keys are errors. ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    #[serde(default)]
    rules: RawRules,
    #[serde(default)]
    params: RawParams,
    #[serde(default)]
    exclude: RawExclude,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRules {
    #[serde(default)]
    disable: Vec<Spanned<String>>,
    #[serde(default)]
    enable_only: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    severity: Pairs<Spanned<String>, Severity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawParams {
    #[serde(default)]
    exposure: RawExposure,
    /// rule id → key → value.
    #[serde(default)]
    thresholds: Pairs<Spanned<String>, Pairs<Spanned<String>, Spanned<f64>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawExposure {
    #[serde(default)]
    admin_ui_images: Vec<Spanned<String>>,
    #[serde(default)]
    private_cidrs: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawExclude {
    #[serde(default)]
    namespaces: Vec<Spanned<String>>,
    #[serde(default)]
    paths: Vec<Spanned<String>>,
    #[serde(default)]
    kinds: Vec<Spanned<String>>,
}

/// A YAML mapping kept as ordered pairs, so keys keep their spans (`Spanned` is not `Ord`).
#[derive(Debug)]
struct Pairs<K, V>(Vec<(K, V)>);

impl<K, V> Default for Pairs<K, V> {
    fn default() -> Self {
        Pairs(Vec::new())
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Pairs<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<K, V> {
            type Value = Pairs<K, V>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Pairs(out))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(Pairs(Vec::new()))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// Finds the config for a run: `explicit` when given, else `.hindsight.yaml` (or `.yml`) in
/// the directory of the first scanned path or any parent, else in the working directory or
/// its parents. `Ok(Config::default())` when there is none.
pub fn discover(explicit: Option<&Path>, first_path: Option<&Path>) -> Result<Config, Error> {
    if let Some(file) = explicit {
        return load(file);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut starts = Vec::new();
    if let Some(p) = first_path {
        let abs = crate::load::normalise_path(&cwd.join(p));
        let dir = if abs.is_dir() {
            abs
        } else {
            abs.parent().map_or_else(|| cwd.clone(), Path::to_path_buf)
        };
        starts.push(dir);
    }
    starts.push(cwd.clone());
    for start in starts {
        for dir in start.ancestors() {
            for name in FILE_NAMES {
                let candidate = dir.join(name);
                if candidate.is_file() {
                    // Named relative to the working directory when below it, as paths are in
                    // findings.
                    let shown = candidate
                        .strip_prefix(&cwd)
                        .map_or_else(|_| candidate.clone(), Path::to_path_buf);
                    return load(&shown);
                }
            }
        }
    }
    Ok(Config::default())
}

/// Reads and validates one config file.
pub fn load(file: &Path) -> Result<Config, Error> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, &e))?;
    from_text(&text, file)
}

/// [`load`] for text already read from `file` (the webhook hashes the bytes it validated, so
/// that what it reports as loaded is exactly what it parsed).
pub fn from_text(text: &str, file: &Path) -> Result<Config, Error> {
    let mut config = parse(text, file)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    config.exclude.base = crate::load::normalise_path(&cwd.join(dir));
    config.file = Some(file.to_owned());
    Ok(config)
}

/// Parses and validates config text; `file` names it in errors. Globs in `exclude.paths`
/// are relative to `exclude.base`, which the caller sets (see [`load`]).
pub fn parse(text: &str, file: &Path) -> Result<Config, Error> {
    let source: Arc<str> = Arc::from(text);
    let err = |line: u64, column: u64, len: u64, message: String, help: Option<String>| Error {
        file: file.to_owned(),
        line: u32::try_from(line).ok().filter(|&l| l > 0),
        column: u32::try_from(column).ok().filter(|&c| c > 0),
        len: u32::try_from(len).unwrap_or(1),
        message,
        help,
        text: Some(source.clone()),
    };
    let at = |s: &serde_saphyr::Location, message: String, help: Option<String>| {
        err(s.line(), s.column(), s.span().len(), message, help)
    };
    let raw: RawConfig = match serde_saphyr::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let (message, help) = explain_serde(&e.without_snippet().to_string());
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            let len = token_len(text, line, column);
            return Err(err(line, column, len, message, help));
        }
    };

    let mut config = Config::default();
    let check_rule = |s: &Spanned<String>| -> Result<String, Error> {
        let id = s.value.trim();
        if is_rule_or_area(id) {
            return Ok(id.to_owned());
        }
        let suggestion = crate::docs::did_you_mean(id)
            .or_else(|| closest(id, areas()))
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        Err(at(
            &s.referenced,
            format!("unknown rule or area `{id}`"),
            Some(format!(
                "{suggestion}`hindsight rules` lists the rule ids; areas: {}",
                areas().collect::<Vec<_>>().join(", ")
            )),
        ))
    };
    for s in &raw.rules.disable {
        config.disable.push(check_rule(s)?);
    }
    if let Some(only) = &raw.rules.enable_only {
        if only.is_empty() {
            return Err(err(
                0,
                0,
                1,
                "`rules.enable-only` is empty: no rule would run".into(),
                Some("list rule ids or areas, or remove `enable-only` to run every rule".into()),
            ));
        }
        config.enable_only = Some(only.iter().map(check_rule).collect::<Result<_, _>>()?);
    }
    for (id, severity) in raw.rules.severity.0 {
        config.severity.insert(check_rule(&id)?, severity);
    }

    for s in raw.params.exposure.admin_ui_images {
        if s.value.trim().is_empty() {
            return Err(at(&s.referenced, "empty image pattern".into(), None));
        }
        config
            .params
            .exposure
            .admin_ui_images
            .push(Glob::name(s.value.trim()));
    }
    for s in raw.params.exposure.private_cidrs {
        let cidr = Cidr::parse(&s.value).map_err(|m| at(&s.referenced, m, None))?;
        config.params.exposure.private_cidrs.push(cidr);
    }
    for (rule, keys) in raw.params.thresholds.0 {
        let known_rules: Vec<&str> = {
            let mut v: Vec<&str> = THRESHOLDS.iter().map(|t| t.rule).collect();
            v.dedup();
            v
        };
        let Some(&rule_id) = known_rules.iter().find(|r| **r == rule.value) else {
            let hint = closest(&rule.value, known_rules.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            return Err(at(
                &rule.referenced,
                format!("no thresholds for `{}`", rule.value),
                Some(format!(
                    "{hint}rules with thresholds: {}",
                    known_rules.join(", ")
                )),
            ));
        };
        for (key, value) in keys.0 {
            let defs: Vec<&Threshold> = THRESHOLDS
                .iter()
                .copied()
                .filter(|t| t.rule == rule_id)
                .collect();
            let Some(def) = defs.iter().find(|t| t.key == key.value) else {
                let hint = closest(&key.value, defs.iter().map(|t| t.key))
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                return Err(at(
                    &key.referenced,
                    format!("unknown threshold `{}` for `{rule_id}`", key.value),
                    Some(format!(
                        "{hint}valid keys: {}",
                        defs.iter()
                            .map(|t| format!("{} (default {})", t.key, t.default))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                ));
            };
            let v = value.value;
            if !(def.min..=def.max).contains(&v) {
                return Err(at(
                    &value.referenced,
                    format!(
                        "`{rule_id}` `{}` must be between {} and {}",
                        def.key, def.min, def.max
                    ),
                    Some(format!("{}; default {}", def.help, def.default)),
                ));
            }
            config
                .params
                .thresholds
                .values
                .insert((def.rule, def.key), v);
        }
    }

    for s in raw.exclude.namespaces {
        config.exclude.namespaces.push(Glob::name(s.value.trim()));
    }
    for s in raw.exclude.paths {
        if s.value.trim().is_empty() {
            return Err(at(&s.referenced, "empty path pattern".into(), None));
        }
        config.exclude.paths.push(Glob::path(s.value.trim()));
    }
    for s in raw.exclude.kinds {
        let kind = s.value.trim();
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(at(
                &s.referenced,
                format!("`{kind}` is not a kind"),
                Some("kinds are names like `CronJob` or `Service`".into()),
            ));
        }
        config.exclude.kinds.push(kind.to_owned());
    }
    Ok(config)
}

/// The length in characters of the plain token at a 1-based line and column (at least 1),
/// so the caret underlines the whole offending word.
fn token_len(text: &str, line: u64, column: u64) -> u64 {
    let Some(l) = text.lines().nth(line.saturating_sub(1) as usize) else {
        return 1;
    };
    let n = l
        .chars()
        .skip(column.saturating_sub(1) as usize)
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}' | ':' | '#'))
        .count();
    n.max(1) as u64
}

/// Turns serde's wording into ours: valid choices in backticks, no library hints.
fn explain_serde(raw: &str) -> (String, Option<String>) {
    let message = match raw.rfind(" at line ") {
        Some(i) => &raw[..i],
        None => raw,
    };
    for (marker, what) in [("unknown field", "key"), ("unknown variant", "value")] {
        if let Some(rest) = message.strip_prefix(marker)
            && let Some((name, choices)) = rest.split_once(", expected one of ")
        {
            let choices: Vec<String> = choices
                .split(", ")
                .map(|c| format!("`{}`", c.trim_matches('`')))
                .collect();
            let noun = if what == "key" {
                "valid keys"
            } else {
                "valid values"
            };
            return (
                format!("unknown {what} {}", name.trim()),
                Some(format!("{noun}: {}", choices.join(", "))),
            );
        }
        if let Some(rest) = message.strip_prefix(marker)
            && let Some((name, choice)) = rest.split_once(", expected ")
        {
            return (
                format!("unknown {what} {}", name.trim()),
                Some(format!("expected {}", choice.trim())),
            );
        }
    }
    if let Some(key) = message.strip_prefix("duplicate mapping key: ") {
        let key = key.split(',').next().unwrap_or(key).trim();
        return (format!("duplicate key `{key}`"), None);
    }
    for (theirs, ours) in [
        (
            "expected sequence start",
            "expected a list (`[a, b]` or `- a` lines)",
        ),
        (
            "expected mapping start",
            "expected a mapping (`key: value` lines)",
        ),
        ("invalid floating point", "expected a number"),
    ] {
        if message.starts_with(theirs) {
            return (ours.to_owned(), None);
        }
    }
    if message.starts_with("multiple YAML documents") {
        return (
            "a config file holds one YAML document".into(),
            Some("remove the `---` separator".into()),
        );
    }
    (message.to_owned(), None)
}

/// Rule areas, from the registry (`workload` for `workload.replicas-without-spread`).
fn areas() -> impl Iterator<Item = &'static str> {
    let mut v: Vec<&'static str> = ALL
        .iter()
        .filter_map(|r| r.meta.id.split_once('.').map(|(a, _)| a))
        .collect();
    v.dedup();
    v.into_iter()
}

fn is_rule_or_area(s: &str) -> bool {
    ALL.iter().any(|r| r.meta.id == s) || areas().any(|a| a == s)
}

/// Whether `selector` (a rule id or an area) selects the rule `id`.
fn selects(selector: &str, id: &str) -> bool {
    selector == id
        || id
            .strip_prefix(selector)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The closest candidate by edit distance, when close enough to be a typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (crate::docs::edit_distance(input, c), c))
        .filter(|(d, c)| *d <= c.len().max(3) / 3)
        .min()
        .map(|(_, c)| c)
}

impl Config {
    /// Whether the rule `id` runs under this config.
    pub fn rule_enabled(&self, id: &str) -> bool {
        let allowed = self
            .enable_only
            .as_ref()
            .is_none_or(|only| only.iter().any(|s| selects(s, id)));
        allowed && !self.disable.iter().any(|s| selects(s, id))
    }

    /// The configured severity for the rule `id`: its own entry, else its area's.
    pub fn severity_for(&self, id: &str) -> Option<Severity> {
        self.severity.get(id).copied().or_else(|| {
            let (area, _) = id.split_once('.')?;
            self.severity.get(area).copied()
        })
    }

    /// Applies severity overrides. A rule may already have adjusted a finding's severity (a
    /// soft variant reported lower); an override replaces the rule's severity outright.
    pub fn apply_severities(&self, findings: &mut [Finding]) {
        if self.severity.is_empty() {
            return;
        }
        for f in findings {
            if let Some(sev) = self.severity_for(f.rule) {
                f.severity = sev;
            }
        }
    }

    /// Whether a finding is about an object in an excluded namespace or of an excluded kind.
    pub fn excludes_finding(&self, f: &Finding) -> bool {
        self.excludes_object(f.object.namespace.as_deref(), &f.object.kind)
    }

    /// Whether objects in this namespace (`None`: none set, i.e. `default`) or of this kind are
    /// excluded.
    pub fn excludes_object(&self, namespace: Option<&str>, kind: &str) -> bool {
        let ns = namespace.unwrap_or("default");
        self.exclude.namespaces.iter().any(|g| g.matches(ns))
            || self
                .exclude
                .kinds
                .iter()
                .any(|k| k.eq_ignore_ascii_case(kind))
    }

    /// Whether a file (as the loader names it) is excluded by `exclude.paths`: the glob
    /// matches the path relative to the config's directory, or one of its parent directories;
    /// a glob without `/` matches at any depth, as in `.gitignore`.
    pub fn excludes_path(&self, file: &str) -> bool {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        self.excludes_path_from(file, &cwd)
    }

    fn excludes_path_from(&self, file: &str, cwd: &Path) -> bool {
        if self.exclude.paths.is_empty() || file == "<stdin>" {
            return false;
        }
        let abs = crate::load::normalise_path(&cwd.join(file));
        let rel = match abs.strip_prefix(&self.exclude.base) {
            Ok(rel) => rel.to_path_buf(),
            Err(_) => PathBuf::from(file.trim_start_matches("./")),
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        let segments: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
        self.exclude.paths.iter().any(|g| {
            let anchored = g.as_str().contains('/');
            (1..=segments.len()).any(|n| {
                if anchored {
                    g.matches(&segments[..n].join("/"))
                } else {
                    // Unanchored: the glob is one segment, matched against any segment.
                    g.matches(segments[n - 1])
                }
            })
        })
    }

    /// Drops objects, errors, notices and sources of excluded files, as if they were not
    /// given.
    pub fn filter_loaded(&self, mut loaded: Loaded) -> Loaded {
        if self.exclude.paths.is_empty() {
            return loaded;
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        // Decided once per file: a stream can hold thousands of objects.
        let mut cache: std::collections::HashMap<Arc<str>, bool> = Default::default();
        let mut excluded = |file: &Arc<str>| {
            *cache
                .entry(file.clone())
                .or_insert_with(|| self.excludes_path_from(file, &cwd))
        };
        loaded.objects.retain(|o| !excluded(&o.file));
        loaded.errors.retain(|e| !excluded(&e.file));
        loaded.notices.retain(|e| !excluded(&e.file));
        loaded.sources.retain(|f, _| !excluded(f));
        loaded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Config {
        parse(text, Path::new("cfg.yaml")).expect("valid config")
    }

    fn parse_err(text: &str) -> Error {
        parse(text, Path::new("cfg.yaml")).expect_err("invalid config")
    }

    const RULE: &str = "workload.replicas-without-spread";

    #[test]
    fn empty_and_comment_only_files_are_the_default() {
        for text in ["", "# nothing\n", "{}\n"] {
            let c = parse_ok(text);
            assert!(c.rule_enabled(RULE));
            assert!(c.severity.is_empty());
        }
    }

    #[test]
    fn disable_by_id_or_area_and_enable_only() {
        assert!(!parse_ok(&format!("rules:\n  disable: [{RULE}]\n")).rule_enabled(RULE));
        assert!(!parse_ok("rules:\n  disable: [workload]\n").rule_enabled(RULE));
        let only = parse_ok(&format!("rules:\n  enable-only: [{RULE}]\n"));
        assert!(only.rule_enabled(RULE));
        assert!(!only.rule_enabled("security.privileged-container"));
        // An area is a prefix up to the dot, not any prefix.
        assert!(!selects("work", RULE));
    }

    #[test]
    fn severity_overrides_by_id_beat_area() {
        let c = parse_ok(&format!(
            "rules:\n  severity:\n    workload: critical\n    {RULE}: low\n"
        ));
        assert_eq!(c.severity_for(RULE), Some(Severity::Low));
        assert_eq!(c.severity_for("workload.other"), Some(Severity::Critical));
        assert_eq!(c.severity_for("security.x"), None);
    }

    #[test]
    fn unknown_rule_suggests_the_right_one() {
        let e = parse_err("rules:\n  disable:\n    - workload.replicas-without-sprad\n");
        assert_eq!((e.line, e.column), (Some(3), Some(7)));
        assert!(
            e.message
                .contains("unknown rule or area `workload.replicas-without-sprad`")
        );
        assert!(
            e.help
                .as_deref()
                .unwrap()
                .contains(&format!("did you mean `{RULE}`"))
        );
    }

    #[test]
    fn unknown_key_lists_valid_keys() {
        let e = parse_err("rules:\n  disabel: [x]\n");
        assert_eq!(e.line, Some(2));
        assert_eq!(e.message, "unknown key `disabel`");
        assert_eq!(
            e.help.as_deref(),
            Some("valid keys: `disable`, `enable-only`, `severity`")
        );
        let e = parse_err("exlude: {}\n");
        assert!(e.help.unwrap().contains("`exclude`"));
    }

    #[test]
    fn bad_severity_lists_severities() {
        let e = parse_err(&format!("rules:\n  severity:\n    {RULE}: hgh\n"));
        assert_eq!(e.line, Some(3));
        assert_eq!(e.message, "unknown value `hgh`");
        assert_eq!(
            e.help.as_deref(),
            Some("valid values: `info`, `low`, `medium`, `high`, `critical`")
        );
    }

    #[test]
    fn render_is_rustc_style() {
        let e = parse_err("rules:\n  severity:\n    workload: hgh\n");
        let text = e.render(false);
        assert!(text.starts_with("error: unknown value `hgh`"), "{text}");
        assert!(text.contains("--> cfg.yaml:3:15"), "{text}");
        assert!(text.contains("3 |     workload: hgh"), "{text}");
        assert!(text.contains("help: valid values: `info`"), "{text}");
    }

    #[test]
    fn thresholds_are_checked_against_known_keys_and_ranges() {
        let c = parse_ok(
            "params:\n  thresholds:\n    cpu.throttled-despite-low-usage:\n      throttled-ratio: 0.4\n",
        );
        assert_eq!(c.params.thresholds.get(&CPU_THROTTLE_RATIO), 0.4);
        assert_eq!(c.params.thresholds.get(&CPU_THROTTLE_MINUTES), 15.0);
        let e = parse_err(
            "params:\n  thresholds:\n    cpu.throttled-despite-low-usage:\n      throttled-ratoi: 0.4\n",
        );
        assert_eq!(e.line, Some(4));
        assert!(
            e.help
                .unwrap()
                .starts_with("did you mean `throttled-ratio`?")
        );
        let e = parse_err(
            "params:\n  thresholds:\n    cpu.throttled-despite-low-usage:\n      throttled-ratio: 25\n",
        );
        assert!(e.message.contains("between 0 and 1"), "{}", e.message);
        let e = parse_err("params:\n  thresholds:\n    cpu.throttled:\n      x: 1\n");
        assert!(e.help.unwrap().contains("rules with thresholds"));
    }

    #[test]
    fn threshold_registry_is_well_formed() {
        for t in THRESHOLDS {
            assert!((t.min..=t.max).contains(&t.default), "{}.{}", t.rule, t.key);
            assert!(t.rule.contains('.') && !t.help.is_empty());
        }
        let mut keys: Vec<_> = THRESHOLDS.iter().map(|t| (t.rule, t.key)).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "duplicate threshold");
    }

    #[test]
    fn thresholds_table_in_docs_is_current() {
        let docs = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
        )
        .expect("docs/configuration.md");
        for t in THRESHOLDS {
            let row = format!(
                "| `{}` | `{}` | {} | {}–{} | {} |",
                t.rule, t.key, t.default, t.min, t.max, t.help
            );
            assert!(docs.contains(&row), "docs/configuration.md lacks:\n{row}");
        }
    }

    #[test]
    fn exposure_params() {
        let c = parse_ok(
            "params:\n  exposure:\n    admin-ui-images: ['registry.corp/*/ops-console*']\n    private-cidrs: [100.64.0.0/10, 'fd00::/8']\n",
        );
        let e = &c.params.exposure;
        assert!(e.is_admin_ui_image("registry.corp/team/ops-console:1.2"));
        assert!(!e.is_admin_ui_image("docker.io/library/nginx:1"));
        assert!(e.is_private("100.100.1.1".parse().unwrap()));
        assert!(!e.is_private("100.128.0.1".parse().unwrap()));
        assert!(e.is_private("fd12::1".parse().unwrap()));
        let err = parse_err("params:\n  exposure:\n    private-cidrs: [10.0.0.0/33]\n");
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("0 to 32"));
    }

    #[test]
    fn cidr_edges() {
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let one = Cidr::parse("10.1.2.3").unwrap();
        assert!(one.contains("10.1.2.3".parse().unwrap()));
        assert!(!one.contains("10.1.2.4".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/x").is_err());
        assert!(Cidr::parse("not-an-ip").is_err());
    }

    #[test]
    fn globs() {
        let p = Glob::path("charts/*/tests/**");
        assert!(p.matches("charts/redis/tests/a.yaml"));
        assert!(p.matches("charts/redis/tests/deep/b.yaml"));
        assert!(!p.matches("charts/a/b/tests/c.yaml"));
        assert!(Glob::path("**/x.yaml").matches("x.yaml"));
        assert!(Glob::path("**/x.yaml").matches("a/b/x.yaml"));
        assert!(Glob::path("?.yaml").matches("a.yaml"));
        assert!(!Glob::path("?.yaml").matches("/.yaml"));
        assert!(Glob::name("kube-*").matches("kube-system"));
        assert!(!Glob::name("kube-*").matches("default"));
        assert!(Glob::name("*dashboard*").matches("docker.io/kubernetesui/dashboard:v2"));
    }

    #[test]
    fn path_excludes_are_relative_to_the_config_directory() {
        let mut c =
            parse_ok("exclude:\n  paths: ['vendor', 'charts/*/tests/**', '*.generated.yaml']\n");
        c.exclude.base = PathBuf::from("/repo");
        // Files named as the loader names them, absolute here so the test needs no cwd.
        assert!(c.excludes_path("/repo/vendor/x/deploy.yaml"));
        assert!(c.excludes_path("/repo/a/vendor/deploy.yaml"));
        assert!(c.excludes_path("/repo/charts/redis/tests/t.yaml"));
        assert!(c.excludes_path("/repo/k8s/api.generated.yaml"));
        assert!(!c.excludes_path("/repo/k8s/api.yaml"));
        assert!(!c.excludes_path("/repo/vendored.yaml"));
        assert!(!c.excludes_path("<stdin>"));
    }

    #[test]
    fn bad_kind_and_type_errors_name_the_line() {
        let e = parse_err("exclude:\n  kinds: ['Cron Job']\n");
        assert_eq!(e.line, Some(2));
        let e = parse_err("rules: 3\n");
        assert_eq!(e.line, Some(1));
        let e = parse_err("rules:\n  enable-only: []\n");
        assert!(e.message.contains("no rule would run"));
        let e = parse_err("rules:\n  disable: [a]\n---\nrules: {}\n");
        assert_eq!(e.message, "a config file holds one YAML document");
    }
}
