//! The report of one backtest: key figures, equity against the benchmark (linear and log,
//! switched by a CSS-only toggle), drawdowns, a monthly-returns heat map, yearly returns, every
//! metric, current holdings, the trades and the strategy source.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use super::highlight::highlight;
use super::page::{banner, document, escape, head, heat, num_cell, sign_class, text_cell};
use super::svg::{self, Chart, Kind, Series, XAxis};
use super::{num, pct};
use crate::backtest::{ExitReason, SimResult};
use crate::calendar;
use crate::metrics::Metrics;

/// Trades beyond this many are summarised, not listed (the most recent are kept).
pub const MAX_TRADE_ROWS: usize = 5000;

/// What a backtest report shows.
pub struct BacktestReport<'a> {
    /// The strategy file as given on the command line.
    pub file: &'a str,
    /// `sim(name=...)`, when set.
    pub name: Option<&'a str>,
    pub source: &'a str,
    /// `DataDir::banner()`.
    pub banner: &'a str,
    pub result: &'a SimResult,
    pub metrics: &'a Metrics,
    /// The benchmark index (date, level), when the data has one.
    pub benchmark: Option<&'a [(i32, f64)]>,
    /// Extra (label, value) lines, e.g. the sandbox's figures.
    pub notes: Vec<(String, String)>,
}

/// How a metric is formatted.
#[derive(Clone, Copy)]
enum Fmt {
    Pct,
    Num,
    Int,
    Text,
}

/// Every `Metrics` field in display order: JSON key, label, format.
const METRICS: &[(&str, &str, Fmt)] = &[
    ("start", "start", Fmt::Text),
    ("end", "end", Fmt::Text),
    ("total_return", "total return", Fmt::Pct),
    ("cagr", "CAGR", Fmt::Pct),
    ("daily_mean", "annualised mean", Fmt::Pct),
    ("daily_vol", "volatility", Fmt::Pct),
    ("sharpe", "Sharpe", Fmt::Num),
    ("sortino", "Sortino", Fmt::Num),
    ("calmar", "Calmar", Fmt::Num),
    ("max_drawdown", "max drawdown", Fmt::Pct),
    ("avg_drawdown", "avg drawdown", Fmt::Pct),
    ("avg_drawdown_days", "avg drawdown days", Fmt::Num),
    ("best_day", "best day", Fmt::Pct),
    ("worst_day", "worst day", Fmt::Pct),
    ("win_ratio", "win ratio", Fmt::Pct),
    ("avg_win", "avg win", Fmt::Pct),
    ("avg_loss", "avg loss", Fmt::Pct),
    ("profit_factor", "profit factor", Fmt::Num),
    ("expectancy", "expectancy", Fmt::Pct),
    ("trades", "trades", Fmt::Int),
    ("turnover", "turnover/yr", Fmt::Num),
    ("avg_exposure", "avg exposure", Fmt::Pct),
    ("avg_n_stock", "avg holdings", Fmt::Num),
    ("max_n_stock", "max holdings", Fmt::Int),
    ("alpha", "alpha", Fmt::Pct),
    ("beta", "beta", Fmt::Num),
];

fn fmt_value(v: &Value, f: Fmt) -> String {
    match (f, v) {
        (Fmt::Text, Value::String(s)) => s.clone(),
        (Fmt::Pct, Value::Number(n)) => pct(n.as_f64().unwrap_or(f64::NAN)),
        (Fmt::Num, Value::Number(n)) => num(n.as_f64().unwrap_or(f64::NAN)),
        (Fmt::Int, Value::Number(n)) => n.to_string(),
        _ => "n/a".into(),
    }
}

/// The benchmark level on each curve date (the last level on or before it), rescaled to start
/// where the curve starts; NaN before the benchmark's first date.
pub fn align_benchmark(curve: &[(i32, f64)], bench: &[(i32, f64)]) -> Vec<(i32, f64)> {
    let mut j = 0;
    let mut last = f64::NAN;
    let mut raw = Vec::with_capacity(curve.len());
    for &(d, _) in curve {
        while let Some(&(bd, bv)) = bench.get(j) {
            if bd > d {
                break;
            }
            if bv.is_finite() && bv > 0.0 {
                last = bv;
            }
            j += 1;
        }
        raw.push((d, last));
    }
    let base = raw.iter().map(|p| p.1).find(|v| v.is_finite());
    let start = curve.first().map_or(1.0, |p| p.1);
    raw.into_iter()
        .map(|(d, v)| (d, base.map_or(f64::NAN, |b| v / b * start)))
        .collect()
}

/// Drawdown from the running peak at each date (≤ 0).
pub fn drawdowns(curve: &[(i32, f64)]) -> Vec<(i32, f64)> {
    let mut peak = f64::NEG_INFINITY;
    curve
        .iter()
        .map(|&(d, v)| {
            peak = peak.max(v);
            (d, if peak > 0.0 { v / peak - 1.0 } else { f64::NAN })
        })
        .collect()
}

/// Returns per period: the last value of each period over the last value of the previous
/// one (the first period from the curve's first value). `key` maps a date to its period.
pub fn period_returns<K: Ord + Copy>(
    curve: &[(i32, f64)],
    key: impl Fn(i32) -> K,
) -> BTreeMap<K, f64> {
    let mut last: BTreeMap<K, f64> = BTreeMap::new();
    for &(d, v) in curve {
        if v.is_finite() {
            last.insert(key(d), v);
        }
    }
    let mut prev = curve.iter().map(|p| p.1).find(|v| v.is_finite());
    last.into_iter()
        .map(|(k, v)| {
            let r = prev.map_or(f64::NAN, |p| v / p - 1.0);
            prev = Some(v);
            (k, r)
        })
        .collect()
}

fn year_of(d: i32) -> i32 {
    calendar::civil_from_days(d).0
}

fn month_of(d: i32) -> (i32, u32) {
    let (y, m, _) = calendar::civil_from_days(d);
    (y, m)
}

fn days(points: &[(i32, f64)]) -> Vec<(f64, f64)> {
    points.iter().map(|&(d, v)| (f64::from(d), v)).collect()
}

fn fmt_ratio(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}×")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}×")
    } else {
        format!("{v:.2}×")
    }
}

fn fmt_pct0(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// The equity, drawdown and period-return sections.
fn curve_sections(s: &mut String, curve: &[(i32, f64)], bench: Option<&[(i32, f64)]>) {
    let bench = bench.map(|b| align_benchmark(curve, b));
    let chart = |log| {
        let mut series = vec![Series::new("strategy", "#1f6feb", Kind::Line, days(curve))];
        if let Some(b) = &bench {
            series.push(Series::new("benchmark", "#98a2b3", Kind::Line, days(b)));
        }
        svg::render(&Chart {
            class: if log { "equity log" } else { "equity lin" },
            x: XAxis::Dates,
            log,
            y_fmt: fmt_ratio,
            series,
        })
    };
    s.push_str(r#"<h2 id="equity">Equity curve</h2><div class="scale-toggle"><span class="muted">Growth of 1 (net of fees and tax).</span>"#);
    s.push_str(r#"<input type="radio" name="scale" id="scale-lin" checked><label for="scale-lin">linear</label>"#);
    s.push_str(r#"<input type="radio" name="scale" id="scale-log"><label for="scale-log">log scale</label>"#);
    let _ = write!(
        s,
        r#"<div class="charts">{}{}</div></div>"#,
        chart(false),
        chart(true)
    );

    s.push_str(r#"<h2 id="drawdown">Drawdown</h2>"#);
    let mut series = vec![Series::new(
        "strategy",
        "#b42318",
        Kind::Area,
        days(&drawdowns(curve)),
    )];
    if let Some(b) = &bench {
        series.push(Series::new(
            "benchmark",
            "#98a2b3",
            Kind::Line,
            days(&drawdowns(b)),
        ));
    }
    s.push_str(&svg::render(&Chart {
        class: "drawdown",
        x: XAxis::Dates,
        log: false,
        y_fmt: fmt_pct0,
        series,
    }));

    // Monthly heat map: one row per year, with the year's return at the end.
    let monthly = period_returns(curve, month_of);
    let yearly = period_returns(curve, year_of);
    s.push_str(r#"<h2 id="monthly">Monthly returns</h2><div class="scroll"><table class="heat"><thead><tr><th>year</th>"#);
    for m in 1..=12 {
        let _ = write!(s, "<th>{m}</th>");
    }
    s.push_str("<th>year</th></tr></thead><tbody>");
    for (&y, &yr) in &yearly {
        let _ = write!(s, "<tr><th>{y}</th>");
        for m in 1..=12 {
            match monthly.get(&(y, m)) {
                Some(&r) => {
                    let _ = write!(s, r#"<td style="{}">{:.1}</td>"#, heat(r, 0.10), r * 100.0);
                }
                None => s.push_str("<td></td>"),
            }
        }
        let _ = write!(
            s,
            r#"<td style="{}"><b>{:.1}</b></td></tr>"#,
            heat(yr, 0.40),
            yr * 100.0
        );
    }
    s.push_str("</tbody></table></div><p class=\"muted\">Percent; green up, red down.</p>");

    // Yearly table with the benchmark and the year's worst drawdown.
    let bench_yearly = bench.as_ref().map(|b| period_returns(b, year_of));
    let mut mdd: BTreeMap<i32, f64> = BTreeMap::new();
    for (d, dd) in drawdowns(curve) {
        let e = mdd.entry(year_of(d)).or_insert(0.0);
        if dd < *e {
            *e = dd;
        }
    }
    s.push_str(r#"<h2 id="yearly">Yearly returns</h2><table class="sortable" id="yearly-table">"#);
    s.push_str(&head(&[
        "year",
        "return",
        "benchmark",
        "excess",
        "max drawdown",
    ]));
    s.push_str("<tbody>");
    for (&y, &r) in &yearly {
        let b = bench_yearly
            .as_ref()
            .and_then(|b| b.get(&y).copied())
            .unwrap_or(f64::NAN);
        let dd = mdd.get(&y).copied().unwrap_or(f64::NAN);
        let _ = write!(
            s,
            "<tr><td>{y}</td>{}{}{}{}</tr>",
            num_cell(r, &pct(r), true),
            num_cell(b, &pct(b), true),
            num_cell(r - b, &pct(r - b), true),
            num_cell(dd, &pct(dd), true)
        );
    }
    s.push_str("</tbody></table>");
}

fn exit_reason(r: ExitReason) -> &'static str {
    match r {
        ExitReason::Rebalance => "rebalance",
        ExitReason::Split => "split",
        ExitReason::StopLoss => "stop loss",
        ExitReason::TakeProfit => "take profit",
        ExitReason::TrailStop => "trail stop",
        ExitReason::Delisted => "delisted",
        ExitReason::Open => "open",
    }
}

/// Renders the report as one HTML document.
pub fn render(r: &BacktestReport) -> String {
    let m = r.metrics;
    let res = r.result;
    let title = r
        .name
        .map_or_else(|| r.file.to_string(), |n| format!("{n} — {}", r.file));
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<h1>{}</h1><div class="muted">Backtest of <code>{}</code>, {} → {}, {} rebalances.</div>"#,
        escape(&title),
        escape(r.file),
        escape(&m.start),
        escape(&m.end),
        res.rebalances
    );
    s.push_str(&banner(r.banner));
    for w in &res.warnings {
        let _ = write!(s, r#"<div class="banner">warning: {}</div>"#, escape(w));
    }

    // Key figures.
    s.push_str(r#"<div class="cards">"#);
    let cards: [(&str, f64, String); 7] = [
        ("total return", m.total_return, pct(m.total_return)),
        ("CAGR", m.cagr, pct(m.cagr)),
        ("Sharpe", m.sharpe, num(m.sharpe)),
        ("max drawdown", m.max_drawdown, pct(m.max_drawdown)),
        ("win ratio", f64::NAN, pct(m.win_ratio)),
        ("trades", f64::NAN, m.trades.to_string()),
        ("alpha vs benchmark", m.alpha, pct(m.alpha)),
    ];
    for (k, v, text) in cards {
        let _ = write!(
            s,
            r#"<div class="card"><div class="v {}">{}</div><div class="k">{}</div></div>"#,
            sign_class(v),
            escape(&text),
            escape(k)
        );
    }
    s.push_str("</div>");

    curve_sections(&mut s, &res.creturn, r.benchmark);

    // All metrics; `data-value` holds the exact JSON value (`backtest --json`'s `metrics`).
    let json = serde_json::to_value(m).unwrap_or(Value::Null);
    s.push_str(
        r#"<h2 id="metrics">Metrics</h2><div class="grid2"><table id="metrics-table"><tbody>"#,
    );
    for (i, &(key, label, f)) in METRICS.iter().enumerate() {
        if i == METRICS.len().div_ceil(2) {
            s.push_str(r#"</tbody></table><table><tbody>"#);
        }
        let v = json.get(key).unwrap_or(&Value::Null);
        let raw = match v {
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        let _ = write!(
            s,
            r#"<tr><td class="l">{}</td><td data-metric="{key}" data-value="{}">{}</td></tr>"#,
            escape(label),
            escape(&raw),
            escape(&fmt_value(v, f))
        );
    }
    s.push_str("</tbody></table></div>");
    if !r.notes.is_empty() {
        s.push_str("<table><tbody>");
        for (k, v) in &r.notes {
            let _ = write!(s, "<tr>{}{}</tr>", text_cell(k), text_cell(v));
        }
        s.push_str("</tbody></table>");
    }

    // Current holdings: the open trades, largest weight first.
    let mut open: Vec<_> = res
        .trades
        .iter()
        .filter(|t| t.exit_reason == ExitReason::Open)
        .collect();
    open.sort_by(|a, b| {
        b.weight
            .abs()
            .total_cmp(&a.weight.abs())
            .then(a.stock.cmp(&b.stock))
    });
    let _ = write!(
        s,
        r#"<h2 id="holdings">Current holdings ({}, as of {})</h2>"#,
        open.len(),
        escape(&m.end)
    );
    if open.is_empty() {
        s.push_str(r#"<p class="muted">No open positions at the end of the backtest.</p>"#);
    } else {
        s.push_str(r#"<table class="sortable" id="holdings-table">"#);
        s.push_str(&head(&[
            "<stock",
            "<entry",
            "weight",
            "return",
            "bars held",
        ]));
        s.push_str("<tbody>");
        for t in open {
            let _ = write!(
                s,
                "<tr>{}{}{}{}{}</tr>",
                text_cell(&t.stock),
                text_cell(&calendar::format(t.entry_date)),
                num_cell(t.weight, &pct(t.weight), false),
                num_cell(t.ret, &pct(t.ret), true),
                num_cell(t.period as f64, &t.period.to_string(), false)
            );
        }
        s.push_str("</tbody></table>");
    }

    // Trades.
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &res.trades {
        *reasons.entry(exit_reason(t.exit_reason)).or_default() += 1;
    }
    let _ = write!(
        s,
        r#"<h2 id="trades">Trades ({})</h2><p class="muted">"#,
        res.trades.len()
    );
    let parts: Vec<String> = reasons.iter().map(|(k, n)| format!("{n} {k}")).collect();
    s.push_str(&escape(&parts.join(", ")));
    let skip = res.trades.len().saturating_sub(MAX_TRADE_ROWS);
    if skip > 0 {
        let _ = write!(
            s,
            "; the first {skip} are not listed (the last {MAX_TRADE_ROWS} are)"
        );
    }
    s.push_str(r#". Click a header to sort (needs JavaScript).</p><div class="scroll"><table class="sortable" id="trades-table">"#);
    s.push_str(&head(&[
        "<stock",
        "<entry",
        "<exit",
        "bars",
        "weight",
        "return",
        "<exit reason",
        "MAE",
        "MFE",
        "MDD",
    ]));
    s.push_str("<tbody>");
    for t in res.trades.iter().skip(skip) {
        let _ = write!(
            s,
            "<tr>{}{}{}{}{}{}{}{}{}{}</tr>",
            text_cell(&t.stock),
            text_cell(&calendar::format(t.entry_date)),
            text_cell(&t.exit_date.map(calendar::format).unwrap_or_default()),
            num_cell(t.period as f64, &t.period.to_string(), false),
            num_cell(t.weight, &pct(t.weight), false),
            num_cell(t.ret, &pct(t.ret), true),
            text_cell(exit_reason(t.exit_reason)),
            num_cell(t.mae, &pct(t.mae), false),
            num_cell(t.gmfe, &pct(t.gmfe), false),
            num_cell(t.mdd, &pct(t.mdd), false)
        );
    }
    s.push_str("</tbody></table></div>");

    let _ = write!(
        s,
        r#"<h2 id="source">Strategy</h2><pre class="src">{}</pre>"#,
        highlight(r.source)
    );
    document(&title, &s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> i32 {
        calendar::days_from_civil(y, m, dd)
    }

    #[test]
    fn period_returns_chain_from_the_first_value() {
        let curve = [
            (d(2020, 1, 2), 1.0),
            (d(2020, 1, 31), 1.1),
            (d(2020, 2, 28), 0.99),
            (d(2021, 1, 4), 1.98),
        ];
        let m = period_returns(&curve, month_of);
        assert!((m[&(2020, 1)] - 0.1).abs() < 1e-12);
        assert!((m[&(2020, 2)] + 0.1).abs() < 1e-12);
        assert!((m[&(2021, 1)] - 1.0).abs() < 1e-12);
        let y = period_returns(&curve, year_of);
        assert!((y[&2020] + 0.01).abs() < 1e-12);
    }

    #[test]
    fn benchmark_is_rebased_and_forward_filled() {
        let curve = [(1, 1.0), (2, 1.2), (4, 1.3)];
        let bench = [(0, 50.0), (2, 100.0), (3, 75.0)];
        let b = align_benchmark(&curve, &bench);
        assert_eq!(b, vec![(1, 1.0), (2, 2.0), (4, 1.5)]);
        let dd = drawdowns(&b);
        assert_eq!(dd[2].1, -0.25);
    }
}
