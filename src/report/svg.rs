//! Inline SVG charts for the HTML report: no scripts, no fonts, no network, so the page stays
//! one self-contained file.
//!
//! A source builds [`Chart`]s and passes them in `Options::charts`; the HTML report renders them
//! in its "Cluster and metrics" section. [`crate::pictures`] builds them: replicas per node and
//! nodes per kernel as [`BarChart`]s, throttling against CPU use over the window as a
//! [`LineChart`].
//!
//! Invariants: output is well-formed SVG for any input (text escaped; NaN, infinite and
//! negative-only values handled; empty data gives a "no data" picture); sizes are fixed by a
//! `viewBox` so the page scales them.

use std::fmt::Write;

/// One picture in the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    Bar(BarChart),
    Line(LineChart),
}

impl Chart {
    pub fn title(&self) -> &str {
        match self {
            Chart::Bar(c) => &c.title,
            Chart::Line(c) => &c.title,
        }
    }

    pub fn caption(&self) -> &str {
        match self {
            Chart::Bar(c) => &c.caption,
            Chart::Line(c) => &c.caption,
        }
    }

    /// The picture as an `<svg>` element.
    pub fn svg(&self) -> String {
        match self {
            Chart::Bar(c) => bar_chart(c),
            Chart::Line(c) => line_chart(c),
        }
    }
}

/// Horizontal bars, one per label (e.g. replicas of a workload per node).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarChart {
    pub title: String,
    /// One line under the picture: what to look at.
    pub caption: String,
    /// Unit shown after each value (`replicas`).
    pub unit: String,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Drawn in the warning colour (e.g. the node holding most replicas).
    pub highlight: bool,
}

/// Lines over time (e.g. CPU throttling against usage, node CPU over the window).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineChart {
    pub title: String,
    pub caption: String,
    /// Unit of the y axis (`cores`, `%`).
    pub unit: String,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub name: String,
    /// `(unix seconds, value)`, in time order; non-finite values break the line.
    pub points: Vec<(f64, f64)>,
}

/// Colours for series, distinguishable for the common colour-vision deficiencies (Okabe–Ito).
const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
];
const BAR: &str = "#4C78A8";
const BAR_HIGHLIGHT: &str = "#D55E00";

/// Escapes text for SVG/XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\n' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

/// A short number: `3`, `0.25`, `1.5k`, `2.3M`.
pub fn short_number(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if x.fract() == 0.0 || x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{suffix}")
}

/// A round upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten.
fn nice_max(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&m| m >= max)
        .unwrap_or(10.0 * magnitude)
}

fn truncate(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

fn open(out: &mut String, width: u32, height: u32, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{t}" class="chart" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12"><title>{t}</title>"#,
        t = escape(title)
    );
}

fn no_data(out: &mut String, width: u32, height: u32) {
    let _ = write!(
        out,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#666">no data</text></svg>"##,
        width / 2,
        height / 2
    );
}

/// Horizontal bar chart; bars sorted as given.
pub fn bar_chart(chart: &BarChart) -> String {
    const WIDTH: u32 = 640;
    // Room for `LABEL_CHARS` characters at font size 12 (~7 units each): node names and kernel
    // versions are long, and a clipped start hides what tells them apart.
    const LABEL_W: f64 = 240.0;
    const LABEL_CHARS: usize = 30;
    const ROW: f64 = 28.0;
    const TOP: f64 = 8.0;
    let rows = chart.bars.len().max(1) as f64;
    let height = (TOP * 2.0 + rows * ROW).ceil() as u32;
    let mut out = String::new();
    open(&mut out, WIDTH, height, &chart.title);
    if chart.bars.is_empty() {
        no_data(&mut out, WIDTH, height);
        return out;
    }
    let max = chart
        .bars
        .iter()
        .map(|b| b.value)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let max = nice_max(max);
    let plot_w = f64::from(WIDTH) - LABEL_W - 90.0;
    for (i, bar) in chart.bars.iter().enumerate() {
        let y = TOP + i as f64 * ROW;
        let value = if bar.value.is_finite() {
            bar.value.max(0.0)
        } else {
            0.0
        };
        let w = (value / max * plot_w).max(if value > 0.0 { 1.0 } else { 0.0 });
        let fill = if bar.highlight { BAR_HIGHLIGHT } else { BAR };
        let _ = write!(
            out,
            r##"<g><title>{full}: {v} {unit}</title><text x="{lx}" y="{ty:.1}" text-anchor="end" fill="#333">{label}</text><rect x="{LABEL_W}" y="{ry:.1}" width="{w:.1}" height="{h:.1}" rx="2" fill="{fill}"/><text x="{vx:.1}" y="{ty:.1}" fill="#333">{v}</text></g>"##,
            full = escape(&bar.label),
            label = escape(&truncate(&bar.label, LABEL_CHARS)),
            v = short_number(bar.value),
            unit = escape(&chart.unit),
            lx = LABEL_W - 8.0,
            ty = y + ROW * 0.65,
            ry = y + 4.0,
            h = ROW - 8.0,
            vx = LABEL_W + w + 6.0,
        );
    }
    out.push_str("</svg>");
    out
}

/// `HH:MM` (UTC) when the window is within two days, else `MM-DD HH:MM`.
fn time_label(t: f64, span: f64) -> String {
    let secs = t.floor() as i64;
    let day = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m) = (rem / 3600, rem % 3600 / 60);
    if span <= 2.0 * 86_400.0 {
        format!("{h:02}:{m:02}")
    } else {
        let (_, mo, d) = crate::time::civil_from_days(day);
        format!("{mo:02}-{d:02} {h:02}:{m:02}")
    }
}

/// Line chart of series over time, y from zero, with a legend.
pub fn line_chart(chart: &LineChart) -> String {
    const WIDTH: u32 = 640;
    const HEIGHT: u32 = 260;
    let (left, right, top, bottom) = (56.0, 16.0, 12.0, 56.0);
    let mut out = String::new();
    open(&mut out, WIDTH, HEIGHT, &chart.title);
    let finite = || {
        chart
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(t, v)| t.is_finite() && v.is_finite())
    };
    let Some(t0) = finite().map(|p| p.0).reduce(f64::min) else {
        no_data(&mut out, WIDTH, HEIGHT);
        return out;
    };
    let t1 = finite().map(|p| p.0).fold(t0, f64::max);
    let vmax = nice_max(finite().map(|p| p.1).fold(0.0, f64::max));
    let vmin = finite().map(|p| p.1).fold(0.0, f64::min);
    let span = (t1 - t0).max(1.0);
    let plot_w = f64::from(WIDTH) - left - right;
    let plot_h = f64::from(HEIGHT) - top - bottom;
    let x = |t: f64| left + (t - t0) / span * plot_w;
    let y = |v: f64| top + plot_h - (v - vmin) / (vmax - vmin) * plot_h;
    // Grid and y labels.
    for i in 0..=4 {
        let v = vmin + (vmax - vmin) * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{left}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e3e3"/><text x="{lx}" y="{ty:.1}" text-anchor="end" fill="#555">{v}</text>"##,
            x2 = left + plot_w,
            yy = y(v),
            lx = left - 6.0,
            ty = y(v) + 4.0,
            v = short_number(v),
        );
    }
    let _ = write!(
        out,
        r##"<text x="12" y="{cy:.1}" transform="rotate(-90 12 {cy:.1})" text-anchor="middle" fill="#555">{unit}</text>"##,
        cy = top + plot_h / 2.0,
        unit = escape(&chart.unit)
    );
    // Time labels.
    for i in 0..=4 {
        let t = t0 + span * f64::from(i) / 4.0;
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            r##"<text x="{tx:.1}" y="{ty:.1}" text-anchor="{anchor}" fill="#555">{label}</text>"##,
            tx = x(t),
            ty = top + plot_h + 16.0,
            label = time_label(t, span),
        );
    }
    let _ = write!(
        out,
        r##"<line x1="{left}" x2="{left}" y1="{top}" y2="{yb:.1}" stroke="#999"/><line x1="{left}" x2="{xr:.1}" y1="{yb:.1}" y2="{yb:.1}" stroke="#999"/>"##,
        yb = top + plot_h,
        xr = left + plot_w,
    );
    // Series: a polyline per run of finite points.
    for (i, s) in chart.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let _ = write!(
            out,
            r#"<g class="series"><title>{}</title>"#,
            escape(&s.name)
        );
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, out: &mut String| {
            if run.len() == 1 {
                let (cx, cy) = run[0].split_once(',').expect("we wrote x,y");
                let _ = write!(
                    out,
                    r#"<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>"#
                );
            } else if run.len() > 1 {
                let _ = write!(
                    out,
                    r#"<polyline fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round" points="{}"/>"#,
                    run.join(" ")
                );
            }
            run.clear();
        };
        for &(t, v) in &s.points {
            if t.is_finite() && v.is_finite() {
                run.push(format!("{:.1},{:.1}", x(t), y(v)));
            } else {
                flush(&mut run, &mut out);
            }
        }
        flush(&mut run, &mut out);
        out.push_str("</g>");
    }
    // Legend under the time axis.
    let mut lx = left;
    let ly = f64::from(HEIGHT) - 14.0;
    for (i, s) in chart.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let name = truncate(&s.name, 40);
        let _ = write!(
            out,
            r##"<rect x="{lx:.1}" y="{ry:.1}" width="12" height="4" fill="{colour}"/><text x="{tx:.1}" y="{ly:.1}" fill="#333">{n}</text>"##,
            ry = ly - 5.0,
            tx = lx + 16.0,
            n = escape(&name),
        );
        lx += 16.0 + 7.0 * name.chars().count() as f64 + 18.0;
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        let doc =
            roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("invalid SVG: {e}\n{svg}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        assert!(root.attribute("viewBox").is_some());
        doc
    }

    fn count(doc: &roxmltree::Document<'_>, tag: &str) -> usize {
        doc.descendants().filter(|n| n.has_tag_name(tag)).count()
    }

    #[test]
    fn bar_chart_is_valid_svg_with_one_bar_per_label() {
        let chart = BarChart {
            title: "Replicas of <api> per node".into(),
            caption: String::new(),
            unit: "replicas".into(),
            bars: vec![
                Bar {
                    label: "node-a & \"b\"".into(),
                    value: 5.0,
                    highlight: true,
                },
                Bar {
                    label: "node-b".into(),
                    value: 1.0,
                    highlight: false,
                },
                Bar {
                    label: "a-very-long-node-name-that-does-not-fit.internal".into(),
                    value: f64::NAN,
                    highlight: false,
                },
            ],
        };
        let svg = bar_chart(&chart);
        let doc = parse(&svg);
        assert_eq!(count(&doc, "rect"), 3);
        let widths: Vec<f64> = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect"))
            .map(|n| n.attribute("width").unwrap().parse().unwrap())
            .collect();
        assert!(
            widths[0] > widths[1] && widths[1] > 0.0 && widths[2] == 0.0,
            "{widths:?}"
        );
        assert!(
            doc.descendants()
                .any(|n| n.text() == Some("node-a & \"b\""))
        );
        assert_eq!(
            doc.root_element().first_element_child().unwrap().text(),
            Some("Replicas of <api> per node")
        );
    }

    #[test]
    fn line_chart_is_valid_svg_and_breaks_at_gaps() {
        let chart = LineChart {
            title: "CPU".into(),
            caption: String::new(),
            unit: "cores".into(),
            series: vec![
                Series {
                    name: "usage".into(),
                    points: vec![
                        (1_700_000_000.0, 0.5),
                        (1_700_000_060.0, 0.7),
                        (1_700_000_120.0, f64::NAN),
                        (1_700_000_180.0, 0.9),
                        (1_700_000_240.0, 1.1),
                    ],
                },
                Series {
                    name: "throttled <share>".into(),
                    points: vec![(1_700_000_000.0, 0.1)],
                },
            ],
        };
        let svg = line_chart(&chart);
        let doc = parse(&svg);
        assert_eq!(count(&doc, "polyline"), 2, "a NaN splits the first series");
        assert_eq!(count(&doc, "circle"), 1, "a single point is a dot");
        let points = doc
            .descendants()
            .find(|n| n.has_tag_name("polyline"))
            .unwrap()
            .attribute("points")
            .unwrap();
        for p in points.split(' ') {
            let (x, y) = p.split_once(',').unwrap();
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            assert!(
                (0.0..=640.0).contains(&x) && (0.0..=260.0).contains(&y),
                "{p}"
            );
        }
        assert!(
            doc.descendants().any(|n| n.text() == Some("22:13")),
            "UTC time labels"
        );
    }

    #[test]
    fn empty_charts_say_no_data() {
        for svg in [
            bar_chart(&BarChart::default()),
            line_chart(&LineChart::default()),
        ] {
            let doc = parse(&svg);
            assert!(doc.descendants().any(|n| n.text() == Some("no data")));
        }
    }

    #[test]
    fn numbers_and_axes() {
        assert_eq!(short_number(3.0), "3");
        assert_eq!(short_number(0.25), "0.25");
        assert_eq!(short_number(15_000.0), "15k");
        assert_eq!(short_number(2_345_678.0), "2.35M");
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(2.2), 2.5);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(time_label(1_700_000_000.0, 10.0 * 86_400.0), "11-14 22:13");
    }
}
