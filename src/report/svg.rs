//! Hand-made SVG charts: lines, steps, dots and areas on a date or index axis, linear or log
//! scale. Coordinates are rounded to 0.1 px; non-finite points break a line instead of
//! corrupting the path; every label is escaped.

use std::fmt::Write;

use super::escape;
use crate::calendar;

const W: f64 = 900.0;
const H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 28.0;

/// What the x values are.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum XAxis {
    /// Days since 1970-01-01 (`crate::calendar`).
    Dates,
    /// Plain numbers (iteration numbers).
    Index,
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Line,
    /// Horizontal then vertical segments (a best-so-far curve).
    Step,
    Dots,
    /// A line filled down (or up) to zero.
    Area,
}

/// One series: (x, y) points, and optional hover labels for dots.
pub(crate) struct Series {
    pub name: String,
    pub color: &'static str,
    pub kind: Kind,
    pub points: Vec<(f64, f64)>,
    pub labels: Vec<String>,
}

impl Series {
    pub(crate) fn new(
        name: &str,
        color: &'static str,
        kind: Kind,
        points: Vec<(f64, f64)>,
    ) -> Self {
        Series {
            name: name.into(),
            color,
            kind,
            points,
            labels: Vec::new(),
        }
    }
}

/// A chart.
pub(crate) struct Chart {
    pub class: &'static str,
    pub x: XAxis,
    pub log: bool,
    pub y_fmt: fn(f64) -> String,
    pub series: Vec<Series>,
}

/// Rounds `raw` up to 1, 2 or 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let k = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    k * p
}

fn linear_ticks(lo: f64, hi: f64, n: f64) -> Vec<f64> {
    let step = nice_step((hi - lo) / n);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 50 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// Tick values for a log axis over [lo, hi] (values, not logs).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    for k in a..=b.min(a + 30) {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(k);
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
    }
    if out.len() < 3 {
        out = linear_ticks(lo, hi, 4.0)
            .into_iter()
            .filter(|v| *v > 0.0)
            .collect();
    }
    out
}

/// Date ticks: 1 January of (every k-th) year, or month starts for short spans.
fn date_ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    let (y0, _, _) = calendar::civil_from_days(lo.ceil() as i32);
    let (y1, _, _) = calendar::civil_from_days(hi.floor() as i32);
    let years: Vec<i32> = (y0..=y1)
        .filter(|&y| {
            let d = f64::from(calendar::days_from_civil(y, 1, 1));
            d >= lo && d <= hi
        })
        .collect();
    if years.len() >= 2 {
        let step = years.len().div_ceil(10);
        return years
            .iter()
            .step_by(step)
            .map(|&y| (f64::from(calendar::days_from_civil(y, 1, 1)), y.to_string()))
            .collect();
    }
    let mut months = Vec::new();
    for y in y0..=y1 {
        for m in 1..=12 {
            let d = f64::from(calendar::days_from_civil(y, m, 1));
            if d >= lo && d <= hi {
                months.push((d, format!("{y}-{m:02}")));
            }
        }
    }
    let step = months.len().div_ceil(8).max(1);
    months.into_iter().step_by(step).collect()
}

fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((a, b)) => Some((a.min(v), b.max(v))),
        })
}

/// The maximal runs of consecutive points that `ok` accepts (a rejected point breaks the line).
fn runs(points: &[(f64, f64)], ok: impl Fn(f64, f64) -> bool) -> Vec<&[(f64, f64)]> {
    points
        .split(|&(x, y)| !ok(x, y))
        .filter(|r| !r.is_empty())
        .collect()
}

/// Thins a pixel-space polyline to the lowest and highest point of each 1-px column (in their
/// order): the drawn shape barely changes, the path shrinks several-fold for long series.
fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut i = 0;
    while i < points.len() {
        let col = points[i].0.floor();
        let mut j = i;
        while j < points.len() && points[j].0.floor() == col {
            j += 1;
        }
        let bucket = &points[i..j];
        let lo = bucket
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        let hi = bucket
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        let mut keep = Vec::with_capacity(2);
        keep.extend(lo.map(|p| p.0));
        keep.extend(hi.map(|p| p.0));
        keep.sort_unstable();
        keep.dedup();
        out.extend(keep.into_iter().map(|k| bucket[k]));
        i = j;
    }
    out
}

/// Renders `c` as an `<svg>` element (responsive: fixed view box, full width).
pub(crate) fn render(c: &Chart) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart {}" viewBox="0 0 {W} {H}" role="img" xmlns="http://www.w3.org/2000/svg">"#,
        c.class
    );
    let Some(f) = Frame::fit(c) else {
        s.push_str(
            r#"<text x="450" y="150" text-anchor="middle" class="muted">no data</text></svg>"#,
        );
        return s;
    };
    axes(&mut s, c, &f);
    for series in &c.series {
        match series.kind {
            Kind::Dots => dots(&mut s, series, &f),
            Kind::Line | Kind::Step | Kind::Area => path(&mut s, series, &f),
        }
    }
    legend(&mut s, &c.series);
    s.push_str("</svg>");
    s
}

/// The data ranges a chart shows and their mapping to pixels. On a log chart `y_lo` and `y_hi`
/// are logs.
struct Frame {
    log: bool,
    x_lo: f64,
    x_hi: f64,
    y_lo: f64,
    y_hi: f64,
}

impl Frame {
    /// The ranges of the drawable points, padded by 5 % (not past zero for an area chart, which
    /// always includes zero on a linear scale); `None` when no point is drawable.
    fn fit(c: &Chart) -> Option<Self> {
        let usable = |y: f64| y.is_finite() && (!c.log || y > 0.0);
        let pts = || {
            c.series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|p| p.0.is_finite() && usable(p.1))
        };
        let (x_lo, mut x_hi) = bounds(pts().map(|p| p.0))?;
        let (y_min, y_max) = bounds(pts().map(|p| p.1))?;
        if x_hi <= x_lo {
            x_hi = x_lo + 1.0;
        }
        let area = c.series.iter().any(|s| s.kind == Kind::Area);
        let mut f = Frame {
            log: c.log,
            x_lo,
            x_hi,
            y_lo: 0.0,
            y_hi: 0.0,
        };
        let (mut y_lo, mut y_hi) = (f.ty(y_min), f.ty(y_max));
        if area && !c.log {
            y_lo = y_lo.min(0.0);
            y_hi = y_hi.max(0.0);
        }
        if y_hi - y_lo < 1e-12 {
            let pad = if y_hi.abs() > 1e-12 {
                y_hi.abs() * 0.1
            } else {
                1.0
            };
            y_lo -= pad;
            y_hi += pad;
        } else if !(area && y_hi == 0.0) {
            let pad = (y_hi - y_lo) * 0.05;
            y_hi += pad;
            if !(area && y_lo == 0.0) {
                y_lo -= pad;
            }
        }
        (f.y_lo, f.y_hi) = (y_lo, y_hi);
        Some(f)
    }

    /// Whether a y value can be drawn (finite; positive on a log scale).
    fn usable(&self, y: f64) -> bool {
        y.is_finite() && (!self.log || y > 0.0)
    }

    /// A y value on the axis scale.
    fn ty(&self, v: f64) -> f64 {
        if self.log {
            v.ln()
        } else {
            v
        }
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x_lo) / (self.x_hi - self.x_lo) * (W - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        TOP + (self.y_hi - self.ty(y)) / (self.y_hi - self.y_lo) * (H - TOP - BOTTOM)
    }
}

/// Grid lines with their y and x labels, and the zero line when zero is inside a linear range.
fn axes(s: &mut String, c: &Chart, f: &Frame) {
    let yticks = if c.log {
        log_ticks(f.y_lo.exp(), f.y_hi.exp())
    } else {
        linear_ticks(f.y_lo, f.y_hi, 5.0)
    };
    for v in yticks {
        let y = f.py(v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(&(c.y_fmt)(v))
        );
    }
    let xticks: Vec<(f64, String)> = match c.x {
        XAxis::Dates => date_ticks(f.x_lo, f.x_hi),
        XAxis::Index => linear_ticks(f.x_lo, f.x_hi, 8.0)
            .into_iter()
            .filter(|v| v.fract() == 0.0)
            .map(|v| (v, format!("{v}")))
            .collect(),
    };
    for (v, label) in xticks {
        let x = f.px(v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            H - BOTTOM,
            H - BOTTOM + 16.0,
            escape(&label)
        );
    }
    if !c.log && f.y_lo < 0.0 && f.y_hi > 0.0 {
        let y0 = f.py(0.0);
        let _ = write!(
            s,
            r#"<line class="zero" x1="{LEFT}" x2="{:.1}" y1="{y0:.1}" y2="{y0:.1}"/>"#,
            W - RIGHT
        );
    }
}

/// A dot per drawable point, with its hover label.
fn dots(s: &mut String, series: &Series, f: &Frame) {
    let color = series.color;
    for (i, &(x, y)) in series.points.iter().enumerate() {
        if !(x.is_finite() && f.usable(y)) {
            continue;
        }
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}" fill-opacity="0.6">"#,
            f.px(x),
            f.py(y)
        );
        if let Some(l) = series.labels.get(i) {
            let _ = write!(s, "<title>{}</title>", escape(l));
        }
        s.push_str("</circle>");
    }
}

/// A line, step or area series as one path (thinned to the pixel grid, except steps).
fn path(s: &mut String, series: &Series, f: &Frame) {
    let color = series.color;
    let mut d = String::new();
    let mut first_x = None;
    let mut last_x = 0.0;
    for run in runs(&series.points, |x, y| x.is_finite() && f.usable(y)) {
        let run: Vec<(f64, f64)> = run.iter().map(|&(x, y)| (f.px(x), f.py(y))).collect();
        let run = if series.kind == Kind::Step {
            run
        } else {
            thin(&run)
        };
        for (i, &(x, y)) in run.iter().enumerate() {
            if i == 0 {
                let _ = write!(d, "M{x:.1},{y:.1}");
                first_x.get_or_insert(x);
            } else if series.kind == Kind::Step {
                let _ = write!(d, "H{x:.1}V{y:.1}");
            } else {
                let _ = write!(d, "L{x:.1},{y:.1}");
            }
            last_x = x;
        }
    }
    if series.kind == Kind::Area {
        // One path: the fill closes along the zero line, which the stroke then traces.
        if let Some(fx) = first_x {
            let base = if f.log { H - BOTTOM } else { f.py(0.0) };
            let _ = write!(
                s,
                r#"<path d="{d}L{last_x:.1},{base:.1}L{fx:.1},{base:.1}Z" fill="{color}" fill-opacity="0.25" stroke="{color}" stroke-width="1.2"/>"#
            );
        }
    } else {
        let _ = write!(
            s,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.5"/>"#
        );
    }
}

/// A colour swatch and name per named series, left to right.
fn legend(s: &mut String, series: &[Series]) {
    let mut lx = LEFT + 8.0;
    for series in series.iter().filter(|s| !s.name.is_empty()) {
        let _ = write!(
            s,
            r#"<rect x="{lx:.1}" y="8" width="12" height="12" fill="{}"/><text class="legend" x="{:.1}" y="18">{}</text>"#,
            series.color,
            lx + 16.0,
            escape(&series.name)
        );
        lx += 16.0 + 7.5 * series.name.chars().count() as f64 + 20.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pctf(v: f64) -> String {
        format!("{v}")
    }

    #[test]
    fn thinning_keeps_extremes_per_pixel() {
        let pts: Vec<(f64, f64)> = (0..100)
            .map(|i| (10.0 + f64::from(i) / 100.0, f64::from(i % 7)))
            .collect();
        let t = thin(&pts);
        assert!(t.len() <= 2, "{t:?}");
        assert!(t.iter().any(|p| p.1 == 6.0) && t.iter().any(|p| p.1 == 0.0));
        let split = runs(
            &[(0.0, 1.0), (1.0, f64::NAN), (2.0, 1.0), (3.0, 2.0)],
            |_, y| y.is_finite(),
        );
        assert_eq!(split.len(), 2);
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(1.5), 2.0);
    }

    #[test]
    fn empty_and_degenerate_charts_render() {
        let chart = |points: Vec<(f64, f64)>, log| Chart {
            class: "t",
            x: XAxis::Index,
            log,
            y_fmt: pctf,
            series: vec![Series::new("<s>", "#000", Kind::Line, points)],
        };
        assert!(render(&chart(vec![], false)).contains("no data"));
        assert!(render(&chart(vec![(1.0, f64::NAN)], false)).contains("no data"));
        // Log scale drops non-positive values instead of producing NaN coordinates.
        let svg = render(&chart(vec![(1.0, 1.0), (2.0, 0.0), (3.0, 4.0)], true));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let svg = render(&chart(vec![(1.0, 2.0), (2.0, 2.0)], false));
        assert!(!svg.contains("NaN"), "{svg}");
        assert!(svg.contains("&lt;s&gt;") && !svg.contains("<s>"));
    }

    #[test]
    fn date_ticks_are_years_or_months() {
        let d = |y, m, dd| f64::from(calendar::days_from_civil(y, m, dd));
        let t = date_ticks(d(2010, 3, 1), d(2020, 6, 1));
        assert_eq!(t.first().map(|t| t.1.as_str()), Some("2011"));
        let t = date_ticks(d(2024, 1, 2), d(2024, 12, 31));
        assert!(t.iter().all(|t| t.1.starts_with("2024-")), "{t:?}");
    }
}
