//! The report of one backtest. [`BacktestView::build`] turns the result into a typed view —
//! key figures beside the benchmark's, the next rebalance and the holdings with names, the
//! curves, drawdown episodes, period returns, metrics, trades newest first, the options in
//! effect — and [`sections`] renders one section of it per function.

mod sections;

use std::collections::BTreeMap;

use serde_json::Value;

use super::book::{Action, Book, When};
use super::curve::{self, Episode};
use super::data_info::DataInfo;
use super::names::Names;
use super::options::{self, OptionRow};
use super::{num, pct};
use crate::backtest::{ExitReason, Exposure, SimResult};
use crate::calendar;
use crate::metrics::{self, Metrics};
use crate::simspec::SimOptions;

/// Trades beyond this many are summarised, not listed (the most recent are kept).
pub const MAX_TRADE_ROWS: usize = 5000;

/// Worst drawdown episodes listed.
pub const WORST_DRAWDOWNS: usize = 5;

/// What a backtest report is made from.
pub struct BacktestInput<'a> {
    /// The strategy file (or position file) as given on the command line.
    pub file: &'a str,
    /// `sim(name=...)`, when set.
    pub name: Option<&'a str>,
    /// The strategy's text (none for `sim --position`).
    pub source: Option<&'a str>,
    pub data: &'a DataInfo,
    pub result: &'a SimResult,
    pub metrics: &'a Metrics,
    /// The benchmark index (date, level), when the data has one.
    pub benchmark: Option<&'a [(i32, f64)]>,
    pub options: &'a SimOptions,
    /// `resample=` as the strategy wrote it.
    pub resample_text: Option<&'a str>,
    /// Annual risk-free rate of Sharpe and Sortino.
    pub risk_free: f64,
    pub book: &'a Book,
    pub names: &'a Names,
    /// Technical details (sandbox figures, timings), shown folded at the end.
    pub details: Vec<(String, String)>,
}

/// A key figure of the strategy beside the benchmark's.
pub struct KeyFigure {
    pub label: &'static str,
    pub value: f64,
    pub text: String,
    /// The benchmark's figure, when it has one.
    pub benchmark: Option<String>,
}

/// A stock as listed: code, name, industry.
pub struct StockLabel {
    pub code: String,
    pub name: String,
    pub industry: String,
}

impl StockLabel {
    fn new(code: &str, names: &Names) -> StockLabel {
        StockLabel {
            code: code.to_string(),
            name: names.name(code).to_string(),
            industry: names.industry(code).to_string(),
        }
    }
}

/// The next rebalance as shown.
pub struct NextView {
    /// One sentence: when it executes and from which row.
    pub headline: String,
    /// Counts per action, e.g. "3 buy, 2 sell, 5 keep".
    pub summary: String,
    pub rows: Vec<(StockLabel, Action, f64, f64)>,
    /// Selected stocks that sit the rebalance out, with the reason.
    pub sitting_out: Vec<(StockLabel, &'static str)>,
}

/// One holding as shown.
pub struct HoldingRow {
    pub stock: StockLabel,
    pub entry: String,
    pub weight: f64,
    pub ret: f64,
}

/// One trade as shown.
pub struct TradeRow {
    pub stock: StockLabel,
    pub entry: String,
    pub exit: String,
    pub bars: usize,
    pub weight: f64,
    pub ret: f64,
    pub reason: &'static str,
    pub mae: f64,
    pub mfe: f64,
    pub mdd: f64,
}

/// One metric: its JSON key and exact JSON value, label and formatted value.
pub struct MetricRow {
    pub key: &'static str,
    pub raw: String,
    pub label: &'static str,
    pub text: String,
}

/// Everything the report shows, computed once.
pub struct BacktestView {
    pub title: String,
    pub subtitle: String,
    pub data: DataInfo,
    pub warnings: Vec<String>,
    pub key_figures: Vec<KeyFigure>,
    pub next: Option<NextView>,
    /// When no next rebalance can be given, why.
    pub next_missing: &'static str,
    pub as_of: String,
    pub holdings: Vec<HoldingRow>,
    pub exposure: f64,
    pub cash: f64,
    pub curve: Vec<(i32, f64)>,
    /// The benchmark on the curve's dates, rebased to its start.
    pub bench: Option<Vec<(i32, f64)>>,
    pub rolling: Vec<(i32, f64)>,
    pub bench_rolling: Vec<(i32, f64)>,
    pub worst: Vec<Episode>,
    pub monthly: BTreeMap<(i32, u32), f64>,
    pub yearly: BTreeMap<i32, f64>,
    pub bench_yearly: BTreeMap<i32, f64>,
    pub year_mdd: BTreeMap<i32, f64>,
    pub metrics: Vec<MetricRow>,
    pub trade_count: usize,
    /// e.g. "2,000 split, 300 rebalance, 10 open".
    pub trade_reasons: String,
    /// Trades not listed (the oldest).
    pub trades_skipped: usize,
    /// Newest first.
    pub trades: Vec<TradeRow>,
    pub options: Vec<OptionRow>,
    pub risk_free: f64,
    pub source: Option<String>,
    pub details: Vec<(String, String)>,
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

/// The label of an exit reason.
pub fn exit_reason(r: ExitReason) -> &'static str {
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

/// CAGR, Sharpe, max drawdown and total return of a benchmark curve, as the metrics compute
/// them for the strategy.
pub fn benchmark_metrics(bench: &[(i32, f64)], risk_free: f64) -> Metrics {
    let creturn: Vec<(i32, f64)> = bench.iter().copied().filter(|p| p.1.is_finite()).collect();
    let result = SimResult {
        creturn,
        trades: Vec::new(),
        rebalances: 0,
        exposure: Exposure::default(),
        warnings: Vec::new(),
    };
    metrics::score_with(&result, None, risk_free)
}

impl BacktestView {
    /// Builds the view.
    pub fn build(r: &BacktestInput) -> BacktestView {
        let curve = r.result.creturn.clone();
        let bench = r.benchmark.map(|b| curve::align_benchmark(&curve, b));
        let bench_metrics = bench.as_deref().map(|b| benchmark_metrics(b, r.risk_free));
        let year_mdd = year_drawdowns(&curve);
        let (trades_skipped, trades) = trade_rows(r);
        BacktestView {
            title: match r.name {
                Some(n) => format!("{n} — {}", r.file),
                None => r.file.to_string(),
            },
            subtitle: format!(
                "Backtest of {}, {} → {}, {} rebalances.",
                r.file, r.metrics.start, r.metrics.end, r.result.rebalances
            ),
            data: r.data.clone(),
            warnings: r.result.warnings.clone(),
            key_figures: key_figures(r.metrics, bench_metrics.as_ref()),
            next: next_view(r),
            next_missing: if r.options.end_date.is_some() {
                "The backtest stops at its end_date: there is no next rebalance to show."
            } else {
                "The position has no row up to the last price date."
            },
            as_of: calendar::format(r.book.as_of),
            holdings: holding_rows(r),
            exposure: r.book.exposure,
            cash: r.book.cash,
            rolling: curve::rolling_sharpe(&curve, curve::ROLLING_SESSIONS, r.risk_free),
            bench_rolling: bench.as_deref().map_or_else(Vec::new, |b| {
                curve::rolling_sharpe(b, curve::ROLLING_SESSIONS, r.risk_free)
            }),
            worst: curve::worst_drawdowns(&curve, WORST_DRAWDOWNS),
            monthly: curve::period_returns(&curve, curve::month_of),
            yearly: curve::period_returns(&curve, curve::year_of),
            bench_yearly: bench
                .as_deref()
                .map_or_else(BTreeMap::new, |b| curve::period_returns(b, curve::year_of)),
            year_mdd,
            metrics: metric_rows(r.metrics),
            trade_count: r.result.trades.len(),
            trade_reasons: reasons(&r.result.trades),
            trades_skipped,
            trades,
            options: options::rows(r.options, r.resample_text, r.risk_free),
            risk_free: r.risk_free,
            source: r.source.map(str::to_string),
            details: r.details.clone(),
            curve,
            bench,
        }
    }
}

fn key_figures(m: &Metrics, b: Option<&Metrics>) -> Vec<KeyFigure> {
    let with = |label, value: f64, text: String, bench: Option<String>| KeyFigure {
        label,
        value,
        text,
        benchmark: bench,
    };
    vec![
        with("CAGR", m.cagr, pct(m.cagr), b.map(|b| pct(b.cagr))),
        with("Sharpe", m.sharpe, num(m.sharpe), b.map(|b| num(b.sharpe))),
        with(
            "max drawdown",
            m.max_drawdown,
            pct(m.max_drawdown),
            b.map(|b| pct(b.max_drawdown)),
        ),
        with(
            "total return",
            m.total_return,
            pct(m.total_return),
            b.map(|b| pct(b.total_return)),
        ),
        with("win ratio", f64::NAN, pct(m.win_ratio), None),
        with("trades", f64::NAN, m.trades.to_string(), None),
        with("alpha vs benchmark", m.alpha, pct(m.alpha), None),
    ]
}

fn next_view(r: &BacktestInput) -> Option<NextView> {
    let next = r.book.next.as_ref()?;
    let headline = match next.when {
        When::Pending {
            signal,
            executes,
            estimated,
        } => format!(
            "Next rebalance: signal date {}, executes on {}{} at the {} price, with the targets of \
             the position row of {}.",
            calendar::format(signal),
            calendar::format(executes),
            if estimated { " (estimated: past the known trading calendar)" } else { "" },
            r.options.trade_at.name(),
            calendar::format(next.row_date)
        ),
        When::OnChange { earliest } => format!(
            "No change is pending: with resample=None the book trades when the position changes \
             (at the earliest on {}). The targets below are the latest row's ({}).",
            calendar::format(earliest),
            calendar::format(next.row_date)
        ),
    };
    let mut counts: BTreeMap<Action, usize> = BTreeMap::new();
    for l in &next.lines {
        *counts.entry(l.action).or_default() += 1;
    }
    let summary = counts
        .iter()
        .map(|(a, n)| format!("{n} {}", a.label()))
        .collect::<Vec<_>>()
        .join(", ");
    Some(NextView {
        headline,
        summary,
        rows: next
            .lines
            .iter()
            .map(|l| {
                (
                    StockLabel::new(&l.stock, r.names),
                    l.action,
                    l.current,
                    l.target,
                )
            })
            .collect(),
        sitting_out: next
            .sitting_out
            .iter()
            .map(|(s, why)| (StockLabel::new(s, r.names), *why))
            .collect(),
    })
}

fn holding_rows(r: &BacktestInput) -> Vec<HoldingRow> {
    r.book
        .holdings
        .iter()
        .map(|h| HoldingRow {
            stock: StockLabel::new(&h.stock, r.names),
            entry: h.entry_date.map(calendar::format).unwrap_or_default(),
            weight: h.weight,
            ret: h.ret,
        })
        .collect()
}

fn year_drawdowns(curve: &[(i32, f64)]) -> BTreeMap<i32, f64> {
    let mut mdd: BTreeMap<i32, f64> = BTreeMap::new();
    for (d, dd) in curve::drawdowns(curve) {
        let e = mdd.entry(curve::year_of(d)).or_insert(0.0);
        if dd < *e {
            *e = dd;
        }
    }
    mdd
}

fn metric_rows(m: &Metrics) -> Vec<MetricRow> {
    let json = serde_json::to_value(m).unwrap_or(Value::Null);
    METRICS
        .iter()
        .map(|&(key, label, f)| {
            let v = json.get(key).unwrap_or(&Value::Null);
            MetricRow {
                key,
                raw: match v {
                    Value::String(t) => t.clone(),
                    other => other.to_string(),
                },
                label,
                text: fmt_value(v, f),
            }
        })
        .collect()
}

fn reasons(trades: &[crate::backtest::Trade]) -> String {
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for t in trades {
        *reasons.entry(exit_reason(t.exit_reason)).or_default() += 1;
    }
    reasons
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The last [`MAX_TRADE_ROWS`] trades, newest entry first, and how many older ones were left out.
fn trade_rows(r: &BacktestInput) -> (usize, Vec<TradeRow>) {
    let mut order: Vec<&crate::backtest::Trade> = r.result.trades.iter().collect();
    order.sort_by(|a, b| {
        b.entry_date
            .cmp(&a.entry_date)
            .then(
                b.exit_date
                    .unwrap_or(i32::MAX)
                    .cmp(&a.exit_date.unwrap_or(i32::MAX)),
            )
            .then(a.stock.cmp(&b.stock))
    });
    let skipped = order.len().saturating_sub(MAX_TRADE_ROWS);
    let rows = order
        .into_iter()
        .take(MAX_TRADE_ROWS)
        .map(|t| TradeRow {
            stock: StockLabel::new(&t.stock, r.names),
            entry: calendar::format(t.entry_date),
            exit: t.exit_date.map(calendar::format).unwrap_or_default(),
            bars: t.period,
            weight: t.weight,
            ret: t.ret,
            reason: exit_reason(t.exit_reason),
            mae: t.mae,
            mfe: t.gmfe,
            mdd: t.mdd,
        })
        .collect();
    (skipped, rows)
}

/// Renders the report as one HTML document.
pub fn render(r: &BacktestInput) -> String {
    sections::page(&BacktestView::build(r))
}
