//! A small blocking client for the Prometheus HTTP API (`/api/v1/query_range`, `/api/v1/query`,
//! `/api/v1/label/__name__/values`) and [`fetch`], which evaluates every signal of
//! [`crate::runtime::SIGNALS`] over a window into a plain [`Runtime`].
//!
//! Invariants: an absent metric family is success with an empty result in Prometheus; we ask
//! which families exist in the window first and mark signals that need a missing one as absent,
//! so an empty answer is never read as health. Every HTTP or API failure becomes a [`Error`]
//! whose message says what to check. Queries always carry explicit start/end/time (instant
//! queries only look back 5 minutes).

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime::{Exporter, Runtime, Series, Shape, Signal, SignalData};

/// How to reach Prometheus.
#[derive(Debug, Clone)]
pub struct Options {
    /// Base URL, e.g. `http://prometheus:9090` or `https://host/prometheus`.
    pub url: String,
    pub bearer_token: Option<String>,
    /// `(user, password)` for basic auth.
    pub basic_auth: Option<(String, Option<String>)>,
    /// PEM file with CA certificates to trust in addition to the platform's.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (last resort, e.g. a self-signed lab setup).
    pub insecure_skip_verify: bool,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl Options {
    pub fn new(url: impl Into<String>) -> Options {
        Options {
            url: url.into(),
            bearer_token: None,
            basic_auth: None,
            ca_file: None,
            insecure_skip_verify: false,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// What went wrong talking to Prometheus, phrased for the user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid Prometheus URL `{0}`: expected http:// or https://host[:port][/path]")]
    Url(String),
    #[error("cannot read CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("cannot connect to Prometheus at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("Prometheus at {url} did not answer within {seconds}s (raise --prometheus-timeout?)")]
    Timeout { url: String, seconds: u64 },
    #[error(
        "{url} answered 404 for {path}: is this a Prometheus? (the URL should be the server root, as in http://prometheus:9090)"
    )]
    NotFound { url: String, path: String },
    #[error(
        "Prometheus at {url} refused the credentials (HTTP {status}): check the bearer token or basic auth"
    )]
    Auth { url: String, status: u16 },
    #[error("Prometheus rejected the query (400 {error_type}): {error}")]
    BadData { error_type: String, error: String },
    #[error("Prometheus could not execute the query (422 {error_type}): {error}")]
    Execution { error_type: String, error: String },
    #[error(
        "Prometheus is unavailable or timed out evaluating the query (503 {error_type}): {error}"
    )]
    Unavailable { error_type: String, error: String },
    #[error("Prometheus answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },
}

/// The API's envelope: `{"status": "success", "data": ..}` or `{"status": "error", ..}`.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Resp<T> {
    Success {
        data: T,
        #[serde(default)]
        #[allow(dead_code, reason = "kept for debugging; not surfaced yet")]
        warnings: Vec<String>,
    },
    Error {
        #[serde(rename = "errorType", default)]
        error_type: String,
        #[serde(default)]
        error: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Matrix(Vec<MatrixSeries>),
    Vector(Vec<VectorSample>),
    Scalar((f64, String)),
    String((f64, String)),
}

#[derive(Debug, Deserialize)]
struct MatrixSeries {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

#[derive(Debug, Deserialize)]
struct VectorSample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Counts requests made, for the report's figures.
#[derive(Debug)]
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
    timeout: Duration,
    auth: Auth,
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Bearer(String),
    Basic(String, Option<String>),
}

impl Client {
    pub fn new(opts: &Options) -> Result<Client, Error> {
        // Idempotent: `main` installs ring already; library users and tests may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = opts.url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|_| Error::Url(opts.url.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(Error::Url(opts.url.clone()));
        }
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .user_agent(concat!("hindsight/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &opts.ca_file {
            let ca_error = |message: String| Error::CaFile {
                path: path.display().to_string(),
                message,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_error("no PEM certificate in it".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        if opts.insecure_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| Error::Connect {
            url: base.clone(),
            message: chain(&e),
        })?;
        let auth = match (&opts.bearer_token, &opts.basic_auth) {
            (Some(t), _) => Auth::Bearer(t.clone()),
            (None, Some((u, p))) => Auth::Basic(u.clone(), p.clone()),
            (None, None) => Auth::None,
        };
        Ok(Client {
            base,
            http,
            timeout: opts.timeout,
            auth,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Calls an API path. Queries are POSTed as forms (long PromQL stays out of URL length
    /// limits); the label values endpoint only answers GET.
    fn call<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        form: &[(&str, String)],
    ) -> Result<T, Error> {
        let url = format!("{}{path}", self.base);
        let mut req = if path.contains("/label/") {
            self.http.get(&url).query(form)
        } else {
            self.http.post(&url).form(form)
        };
        req = match &self.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic(u, p) => req.basic_auth(u, p.as_ref()),
        };
        let resp = req.send().map_err(|e| self.transport(e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().map_err(|e| self.transport(e))?;
        match status {
            401 | 403 => {
                return Err(Error::Auth {
                    url: self.base.clone(),
                    status,
                });
            }
            404 => {
                return Err(Error::NotFound {
                    url: self.base.clone(),
                    path: path.to_owned(),
                });
            }
            _ => {}
        }
        match serde_json::from_slice::<Resp<T>>(&body) {
            Ok(Resp::Success { data, .. }) => Ok(data),
            Ok(Resp::Error { error_type, error }) => Err(match status {
                400 => Error::BadData { error_type, error },
                422 => Error::Execution { error_type, error },
                503 => Error::Unavailable { error_type, error },
                _ => Error::Http {
                    status,
                    message: format!("{error_type}: {error}"),
                },
            }),
            Err(e) if (200..300).contains(&status) => Err(Error::Decode {
                url: url.clone(),
                message: format!("not a Prometheus API response ({e}): is this a Prometheus?"),
            }),
            Err(_) => Err(Error::Http {
                status,
                message: String::from_utf8_lossy(&body[..body.len().min(200)])
                    .trim()
                    .to_owned(),
            }),
        }
    }

    fn transport(&self, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                url: self.base.clone(),
                seconds: self.timeout.as_secs().max(1),
            }
        } else {
            let mut message = chain(&e);
            if message.contains("certificate") || message.contains("UnknownIssuer") {
                message.push_str(
                    " (a private CA? pass --prometheus-ca FILE, or --prometheus-insecure as a last resort)",
                );
            }
            Error::Connect {
                url: self.base.clone(),
                message,
            }
        }
    }

    /// `query_range` from `start` to `end` every `step` seconds.
    pub fn query_range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<Vec<Series>, Error> {
        let data: Data = self.call(
            "/api/v1/query_range",
            &[
                ("query", query.to_owned()),
                ("start", fmt_ts(start)),
                ("end", fmt_ts(end)),
                ("step", fmt_ts(step)),
            ],
        )?;
        Ok(to_series(data))
    }

    /// An instant `query` at `time`.
    pub fn query(&self, query: &str, time: f64) -> Result<Vec<Series>, Error> {
        let data: Data = self.call(
            "/api/v1/query",
            &[("query", query.to_owned()), ("time", fmt_ts(time))],
        )?;
        Ok(to_series(data))
    }

    /// Label sets of the series matching `selector` between `start` and `end`.
    pub fn series(
        &self,
        selector: &str,
        start: f64,
        end: f64,
    ) -> Result<Vec<BTreeMap<String, String>>, Error> {
        self.call(
            "/api/v1/series",
            &[
                ("match[]", selector.to_owned()),
                ("start", fmt_ts(start)),
                ("end", fmt_ts(end)),
            ],
        )
    }

    /// Metric names among `names` that have samples between `start` and `end`: one cheap
    /// request instead of a series listing per family.
    pub fn present_names(
        &self,
        names: &BTreeSet<&str>,
        start: f64,
        end: f64,
    ) -> Result<BTreeSet<String>, Error> {
        let regex: Vec<&str> = names.iter().copied().collect();
        let names: Vec<String> = self.call(
            "/api/v1/label/__name__/values",
            &[
                ("match[]", format!("{{__name__=~\"{}\"}}", regex.join("|"))),
                ("start", fmt_ts(start)),
                ("end", fmt_ts(end)),
            ],
        )?;
        Ok(names.into_iter().collect())
    }
}

fn fmt_ts(t: f64) -> String {
    if t.fract() == 0.0 {
        format!("{}", t as i64)
    } else {
        format!("{t:.3}")
    }
}

/// The error and its causes on one line (reqwest hides "connection refused" in a source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = s.source();
    }
    out
}

fn value(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn to_series(data: Data) -> Vec<Series> {
    match data {
        Data::Matrix(m) => m
            .into_iter()
            .map(|s| Series {
                labels: s.metric,
                points: s
                    .values
                    .into_iter()
                    .filter_map(|(t, v)| value(&v).map(|v| (t, v)))
                    .collect(),
            })
            .collect(),
        Data::Vector(v) => v
            .into_iter()
            .filter_map(|s| {
                value(&s.value.1).map(|v| Series {
                    labels: s.metric,
                    points: vec![(s.value.0, v)],
                })
            })
            .collect(),
        Data::Scalar((t, v)) | Data::String((t, v)) => value(&v)
            .map(|v| Series {
                labels: BTreeMap::new(),
                points: vec![(t, v)],
            })
            .into_iter()
            .collect(),
    }
}

/// The window to scan.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub end: f64,
    pub length: f64,
    pub step: f64,
}

/// What [`fetch`] produced: the data, notices about absent exporters, errors, and figures.
#[derive(Debug)]
pub struct Fetched {
    pub runtime: Runtime,
    /// One per absent exporter: "no cAdvisor metrics: ..." with the families missing.
    pub notices: Vec<String>,
    pub errors: Vec<String>,
    pub requests: usize,
    pub elapsed: Duration,
}

/// Evaluates every signal over the window. Fails only when Prometheus cannot be used at all
/// (unreachable, not a Prometheus, credentials refused); a failing query only marks its signal.
pub fn fetch(
    client: &Client,
    window: Window,
    signals: &[&'static Signal],
) -> Result<Fetched, Error> {
    let started = Instant::now();
    let start = window.end - window.length;
    let families: BTreeSet<&str> = signals
        .iter()
        .flat_map(|s| s.requires.iter().map(|(f, _)| *f))
        .collect();
    let present = client.present_names(&families, start, window.end)?;
    let mut requests = 1;

    // Absent families, grouped by exporter for one notice each.
    let mut missing: BTreeMap<Exporter, BTreeSet<&str>> = BTreeMap::new();
    for s in signals {
        for (family, exporter) in s.requires {
            if !present.contains(*family) {
                missing.entry(*exporter).or_default().insert(family);
            }
        }
    }
    // An exporter with some families present is scraped: the missing family is a version or
    // collector question, not a scrape question.
    let scraped: BTreeSet<Exporter> = signals
        .iter()
        .flat_map(|s| s.requires.iter())
        .filter(|(f, _)| present.contains(*f))
        .map(|(_, e)| *e)
        .collect();
    let hint = |e: Exporter| -> String {
        if scraped.contains(&e) {
            format!(
                "{} metrics are present but some families are missing (older version or a disabled collector?)",
                e.name()
            )
        } else {
            e.absent_hint().to_owned()
        }
    };
    let window_promql = format!("{}s", window.length.round() as i64);
    let to_run: Vec<&Signal> = signals
        .iter()
        .copied()
        .filter(|s| s.requires.iter().all(|(f, _)| present.contains(*f)))
        .collect();
    requests += to_run.len();
    // A few queries at a time: Prometheus evaluates each on its own goroutines, and a scan
    // should not flood a production server.
    let results: Vec<(&'static str, Result<Vec<Series>, Error>)> = std::thread::scope(|scope| {
        let chunks: Vec<Vec<&Signal>> = to_run.chunks(4).map(<[_]>::to_vec).collect();
        let mut out = Vec::new();
        for chunk in chunks {
            let handles: Vec<_> = chunk
                .into_iter()
                .map(|s| {
                    let q = s.query.replace("$window", &window_promql);
                    scope.spawn(move || {
                        let r = match s.shape {
                            Shape::Range => client.query_range(&q, start, window.end, window.step),
                            Shape::Instant => client.query(&q, window.end),
                        };
                        (s.id, r)
                    })
                })
                .collect();
            for h in handles {
                out.push(h.join().expect("query threads do not panic"));
            }
        }
        out
    });

    let mut data: BTreeMap<&'static str, SignalData> = BTreeMap::new();
    let mut errors = Vec::new();
    for (id, r) in results {
        match r {
            Ok(series) => {
                data.insert(id, SignalData::Present(series));
            }
            Err(e @ (Error::Connect { .. } | Error::NotFound { .. } | Error::Auth { .. })) => {
                return Err(e);
            }
            Err(e) => {
                errors.push(format!("query `{id}` failed: {e}"));
                data.insert(id, SignalData::Failed(e.to_string()));
            }
        }
    }
    for s in signals {
        if data.contains_key(s.id) {
            continue;
        }
        let (family, exporter) = s
            .requires
            .iter()
            .find(|(f, _)| !present.contains(*f))
            .expect("signals not run miss a family");
        data.insert(
            s.id,
            SignalData::Absent(format!(
                "{} (`{family}` has no samples in the window)",
                hint(*exporter)
            )),
        );
    }
    let notices = missing
        .into_iter()
        .map(|(exporter, families)| {
            let list: Vec<&str> = families.into_iter().collect();
            format!(
                "{} (no samples between {} and {} for {})",
                hint(exporter),
                crate::runtime::rfc3339(start),
                crate::runtime::rfc3339(window.end),
                list.join(", ")
            )
        })
        .collect();
    Ok(Fetched {
        runtime: Runtime {
            source: Arc::from(client.url()),
            start,
            end: window.end,
            step: window.step,
            signals: data,
        },
        notices,
        errors,
        requests,
        elapsed: started.elapsed(),
    })
}

/// Parses `--end`: unix seconds (fractions allowed) or RFC 3339 (`2026-05-28T12:00:00Z`,
/// `...+02:00`).
pub fn parse_time(s: &str) -> Result<f64, String> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(format!("`{s}` is not a valid unix time"))
        };
    }
    let bad = || format!("`{s}` is neither unix seconds nor RFC 3339 (2026-05-28T12:00:00Z)");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        s.get(r)
            .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or_else(bad)
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    if h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    let mut frac = 0.0;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        frac = format!("0.{}", &r[..digits]).parse().map_err(|_| bad())?;
        rest = &r[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && matches!(&tz[..1], "+" | "-") && &tz[3..4] == ":" => {
            let oh: i64 = tz[1..3].parse().map_err(|_| bad())?;
            let om: i64 = tz[4..6].parse().map_err(|_| bad())?;
            let sign = if &tz[..1] == "-" { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return Err(bad()),
    };
    let days = crate::runtime::days_from_civil(y, mo as u32, d as u32);
    Ok((days * 86_400 + h * 3600 + mi * 60 + se - offset) as f64 + frac)
}

/// Parses a duration: `90s`, `15m`, `6h`, `7d`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (use 90s, 15m, 6h, 7d, 1h30m)");
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut any = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        total = total.saturating_add(n.saturating_mul(unit));
        num.clear();
        any = true;
    }
    if !num.is_empty() || !any || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1780000000"), Ok(1_780_000_000.0));
        assert_eq!(parse_time("2026-05-28T20:26:40Z"), Ok(1_780_000_000.0));
        assert_eq!(parse_time("2026-05-28T22:26:40+02:00"), Ok(1_780_000_000.0));
        assert_eq!(parse_time("2026-05-28T20:26:40.5Z"), Ok(1_780_000_000.5));
        assert!(parse_time("2026-05-28").is_err());
        assert!(parse_time("2026-13-28T20:26:40Z").is_err());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(21_600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert!(parse_duration("6").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("6x").is_err());
    }

    #[test]
    fn api_shapes_decode() {
        let m: Resp<Data> = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"a"},"values":[[1795617450,"0.5"],[1795617510,"NaN"]]}]}}"#,
        )
        .unwrap();
        let Resp::Success { data, .. } = m else {
            panic!()
        };
        let s = to_series(data);
        assert_eq!(s[0].points, vec![(1_795_617_450.0, 0.5)]);
        let e: Resp<Data> = serde_json::from_str(
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
        )
        .unwrap();
        assert!(matches!(e, Resp::Error { error_type, .. } if error_type == "bad_data"));
    }

    #[test]
    fn urls_are_checked() {
        assert!(matches!(
            Client::new(&Options::new("prometheus:9090")),
            Err(Error::Url(_))
        ));
        assert!(Client::new(&Options::new("http://127.0.0.1:9090/")).is_ok());
    }
}
