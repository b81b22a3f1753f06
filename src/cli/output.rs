//! How backtest results are shown, shared by `backtest`, `sim` and `positions --latest`: for
//! people, the data banner, the options in effect, a metrics block beside the benchmark's, the
//! holdings and the next rebalance with names; for programs, one JSON object with the same
//! content; and the HTML report.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use dsl_runtime::wire::Position;
use serde_json::{json, Value};

use crate::backtest::{price_keys, SimResult};
use crate::calendar;
use crate::data::{DataDir, DataError};
use crate::metrics::{self, Metrics, RISK_FREE};
use crate::pipeline;
use crate::report::backtest::{self as html, benchmark_metrics, BacktestInput};
use crate::report::book::{self, Book, When};
use crate::report::curve::align_benchmark;
use crate::report::data_info::DataInfo;
use crate::report::names::Names;
use crate::report::options;
use crate::report::term::{signed, Align, Cell, Paint, Style, Table};
use crate::report::{num, pct};
use crate::simspec::SimOptions;

/// Rows of a terminal table beyond which `keep` lines and small holdings are summarised.
const TERMINAL_ROWS: usize = 40;

/// Checks a `--rf` value.
pub fn risk_free(rf: f64) -> anyhow::Result<f64> {
    if rf.is_finite() && (-0.5..=1.0).contains(&rf) {
        Ok(rf)
    } else {
        anyhow::bail!("--rf must be an annual rate between -0.5 and 1 (e.g. 0.02 for 2%)")
    }
}

/// Everything shown about one backtest.
pub struct Report<'a> {
    pub data: DataInfo,
    /// The strategy or position file.
    pub strategy: String,
    pub name: Option<&'a str>,
    pub source: Option<&'a str>,
    pub result: &'a SimResult,
    pub metrics: Metrics,
    pub benchmark: Option<Vec<(i32, f64)>>,
    pub options: &'a SimOptions,
    pub resample_text: Option<&'a str>,
    pub risk_free: f64,
    pub book: Book,
    pub names: Names,
    /// Extra figures (e.g. the sandbox's).
    pub extra: Option<Extra>,
}

/// Extra figures of a run: a JSON field, and (label, value) lines for the terminal and the HTML
/// report's folded details.
pub struct Extra {
    pub key: &'static str,
    pub json: Value,
    pub lines: Vec<(String, String)>,
}

/// The parts of a backtest's report that need the data again: the benchmark, the metrics at
/// `rf`, the book and the next rebalance.
#[allow(clippy::too_many_arguments)]
pub fn analyse<'a>(
    data: &DataDir,
    position: &Position,
    result: &'a SimResult,
    metrics: Metrics,
    options: &'a SimOptions,
    rf: f64,
    strategy: String,
) -> anyhow::Result<Report<'a>> {
    let benchmark = load_benchmark(data)?;
    let metrics = if rf == RISK_FREE {
        metrics
    } else {
        metrics::score_with(result, benchmark.as_deref(), rf)
    };
    let close = data
        .shared(price_keys(options).close)
        .context("loading the prices for the holdings")?;
    Ok(Report {
        data: DataInfo::of(data),
        strategy,
        name: None,
        source: None,
        result,
        metrics,
        benchmark,
        options,
        resample_text: None,
        risk_free: rf,
        book: book::book(position, options, result, &close),
        names: Names::load(),
        extra: None,
    })
}

/// The benchmark index as (date, level), or `None` when the data has none.
fn load_benchmark(data: &DataDir) -> anyhow::Result<Option<Vec<(i32, f64)>>> {
    match data.load(pipeline::BENCHMARK) {
        Ok(b) if !b.columns.is_empty() => Ok(Some(
            b.dates
                .iter()
                .copied()
                .zip(b.column(0).iter().copied())
                .collect(),
        )),
        Ok(_) | Err(DataError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e).context("loading the benchmark"),
    }
}

impl Report<'_> {
    fn benchmark_metrics(&self) -> Option<Metrics> {
        let aligned = align_benchmark(&self.result.creturn, self.benchmark.as_deref()?);
        Some(benchmark_metrics(&aligned, self.risk_free))
    }

    /// Writes the HTML report to `path` and logs its size and time.
    pub fn write_html(&self, path: &Path) -> anyhow::Result<()> {
        let start = std::time::Instant::now();
        let html = html::render(&BacktestInput {
            file: &self.strategy,
            name: self.name,
            source: self.source,
            data: &self.data,
            result: self.result,
            metrics: &self.metrics,
            benchmark: self.benchmark.as_deref(),
            options: self.options,
            resample_text: self.resample_text,
            risk_free: self.risk_free,
            book: &self.book,
            names: &self.names,
            details: self
                .extra
                .as_ref()
                .map(|e| e.lines.clone())
                .unwrap_or_default(),
        });
        std::fs::write(path, &html).with_context(|| format!("cannot write {}", path.display()))?;
        errln!(
            "wrote {} ({} KiB in {} ms)",
            path.display(),
            html.len().div_ceil(1024),
            start.elapsed().as_millis()
        );
        Ok(())
    }
}

/// The compact metrics block: three (label, value) pairs per line, returns coloured by sign.
fn metrics_block(m: &Metrics) -> Table {
    let p = |x: f64, colour: bool| Cell {
        text: pct(x),
        paint: if colour { signed(x) } else { None },
    };
    let pairs: [(&str, Cell); 15] = [
        ("total return", p(m.total_return, true)),
        ("Sharpe", num(m.sharpe).into()),
        ("max drawdown", p(m.max_drawdown, true)),
        ("CAGR", p(m.cagr, true)),
        ("Sortino", num(m.sortino).into()),
        ("volatility", p(m.daily_vol, false)),
        ("alpha", p(m.alpha, true)),
        ("Calmar", num(m.calmar).into()),
        ("beta", num(m.beta).into()),
        ("win ratio", p(m.win_ratio, false)),
        ("profit factor", num(m.profit_factor).into()),
        ("trades", m.trades.to_string().into()),
        ("turnover/yr", num(m.turnover).into()),
        ("avg holdings", num(m.avg_n_stock).into()),
        ("exposure", p(m.avg_exposure, false)),
    ];
    let mut t = Table::new(&[
        ("", Align::Left),
        ("", Align::Right),
        ("", Align::Left),
        ("", Align::Right),
        ("", Align::Left),
        ("", Align::Right),
    ]);
    t.gap = "   ";
    let mut row = Vec::new();
    for (k, v) in pairs {
        row.push(Cell::from(k));
        row.push(v);
        if row.len() == 6 {
            t.rows.push(std::mem::take(&mut row));
        }
    }
    t
}

fn pct_cell(x: f64, colour: bool) -> Cell {
    Cell {
        text: pct(x),
        paint: if colour { signed(x) } else { None },
    }
}

/// The holdings at the last bar, largest first (at most [`TERMINAL_ROWS`]).
fn holdings_table(b: &Book, names: &Names) -> (Table, usize) {
    let mut t = Table::new(&[
        ("code", Align::Left),
        ("name", Align::Left),
        ("industry", Align::Left),
        ("since", Align::Left),
        ("weight", Align::Right),
        ("return", Align::Right),
    ]);
    for h in b.holdings.iter().take(TERMINAL_ROWS) {
        t.rows.push(vec![
            h.stock.as_str().into(),
            names.name(&h.stock).into(),
            names.industry(&h.stock).into(),
            h.entry_date
                .map(calendar::format)
                .unwrap_or_default()
                .into(),
            pct_cell(h.weight, false),
            pct_cell(h.ret, true),
        ]);
    }
    (t, b.holdings.len().saturating_sub(TERMINAL_ROWS))
}

/// The next rebalance's lines: every buy, sell and resize, and `keep` lines up to `limit` rows.
fn next_table(b: &Book, names: &Names, limit: usize) -> (Table, usize) {
    let mut t = Table::new(&[
        ("code", Align::Left),
        ("name", Align::Left),
        ("industry", Align::Left),
        ("action", Align::Left),
        ("now", Align::Right),
        ("target", Align::Right),
    ]);
    let mut hidden = 0;
    for l in b.next.iter().flat_map(|n| &n.lines) {
        if l.action == book::Action::Keep && t.rows.len() >= limit {
            hidden += 1;
            continue;
        }
        let paint = match l.action {
            book::Action::Buy => Some(Paint::Green),
            book::Action::Sell => Some(Paint::Red),
            book::Action::Resize => Some(Paint::Bold),
            book::Action::Keep => Some(Paint::Dim),
        };
        t.rows.push(vec![
            l.stock.as_str().into(),
            names.name(&l.stock).into(),
            names.industry(&l.stock).into(),
            Cell {
                text: l.action.label().into(),
                paint,
            },
            pct_cell(l.current, false),
            pct_cell(l.target, false),
        ]);
    }
    (t, hidden)
}

/// One line saying when the next rebalance executes and which row it reads.
pub fn next_headline(b: &Book, opts: &SimOptions) -> String {
    let Some(n) = &b.next else {
        return "Next rebalance: none (the backtest stops at its end_date, or the position has no \
                row up to the last price date)"
            .into();
    };
    match n.when {
        When::Pending {
            signal,
            executes,
            estimated,
        } => format!(
            "Next rebalance: signal {}, executes on {}{} at the {} price; targets from the row of {}",
            calendar::format(signal),
            calendar::format(executes),
            if estimated { " (estimated)" } else { "" },
            opts.trade_at.name(),
            calendar::format(n.row_date)
        ),
        When::OnChange { earliest } => format!(
            "Next rebalance: when the position changes (resample=None; at the earliest {}); \
             nothing is pending, targets from the row of {}",
            calendar::format(earliest),
            calendar::format(n.row_date)
        ),
    }
}

/// Prints the next rebalance alone (`positions --latest`): the headline and every line.
pub fn print_next(
    out: &mut impl Write,
    b: &Book,
    names: &Names,
    opts: &SimOptions,
) -> std::io::Result<()> {
    writeln!(out, "{}", next_headline(b, opts))?;
    let (t, _) = next_table(b, names, usize::MAX);
    write!(out, "{}", t.render(Style::stdout()))?;
    for (s, why) in b.next.iter().flat_map(|n| &n.sitting_out) {
        writeln!(out, "{} sits out: {why}", names.label(s))?;
    }
    Ok(())
}

/// Prints the report as text or as one JSON object.
pub fn print(report: &Report, as_json: bool) -> std::io::Result<()> {
    let out = std::io::stdout();
    let mut out = out.lock();
    for w in &report.result.warnings {
        errln!("warning: {w}");
    }
    if as_json {
        return writeln!(out, "{}", json_doc(report));
    }
    let style = Style::stdout();
    let m = &report.metrics;
    writeln!(out, "{}", report.data.banner)?;
    if let Some(size) = report.data.size() {
        writeln!(out, "market        {size}")?;
    }
    let label = report.name.map(|n| format!("  ({n})")).unwrap_or_default();
    writeln!(out, "strategy      {}{label}", report.strategy)?;
    writeln!(
        out,
        "options       {}",
        options::one_line(report.options, report.resample_text, report.risk_free)
    )?;
    writeln!(out, "period        {} → {}", m.start, m.end)?;
    write!(out, "{}", metrics_block(m).render(style))?;
    if let Some(b) = report.benchmark_metrics() {
        writeln!(
            out,
            "benchmark     CAGR {}, Sharpe {}, max drawdown {}",
            pct(b.cagr),
            num(b.sharpe),
            pct(b.max_drawdown)
        )?;
    }
    if let Some(extra) = &report.extra {
        for (k, v) in &extra.lines {
            writeln!(out, "{k:<13} {v}")?;
        }
    }
    print_book(&mut out, report, style)
}

fn print_book(out: &mut impl Write, report: &Report, style: Style) -> std::io::Result<()> {
    let b = &report.book;
    writeln!(
        out,
        "\nHoldings on {}: {} stocks, {} invested, {} cash",
        calendar::format(b.as_of),
        b.holdings.len(),
        pct(b.exposure),
        pct(b.cash)
    )?;
    let (t, more) = holdings_table(b, &report.names);
    if !t.rows.is_empty() {
        write!(out, "{}", t.render(style))?;
    }
    if more > 0 {
        writeln!(
            out,
            "… and {more} smaller holdings (all of them: --json or --html)"
        )?;
    }
    writeln!(out, "\n{}", next_headline(b, report.options))?;
    let (t, hidden) = next_table(b, &report.names, TERMINAL_ROWS);
    if !t.rows.is_empty() {
        write!(out, "{}", t.render(style))?;
    }
    if hidden > 0 {
        writeln!(
            out,
            "… and {hidden} more `keep` lines (all of them: `dsl-engine positions FILE --latest`)"
        )?;
    }
    for (s, why) in b.next.iter().flat_map(|n| &n.sitting_out) {
        writeln!(out, "{} sits out: {why}", report.names.label(s))?;
    }
    Ok(())
}

fn opt_date(d: Option<i32>) -> Value {
    d.map_or(Value::Null, |d| Value::from(calendar::format(d)))
}

/// The options as JSON, in finlab's keywords.
fn options_json(o: &SimOptions, written: Option<&str>) -> Value {
    let resample = match (&o.resample, written) {
        (crate::simspec::Resample::OnChange, _) => Value::Null,
        (_, Some(w)) => Value::from(w),
        (crate::simspec::Resample::Every(f), None) => Value::from(options::resample_text(f)),
    };
    json!({
        "resample": resample,
        "resample_offset_days": o.resample_offset,
        "trade_at_price": o.trade_at.name(),
        "position_limit": o.position_limit,
        "fee_ratio": o.fee_ratio,
        "tax_ratio": o.tax_ratio,
        "stop_loss": o.stop_loss,
        "take_profit": o.take_profit,
        "trail_stop": o.trail_stop,
        "trail_stop_activation": o.trail_stop_activation,
        "touched_exit": o.touched_exit,
        "stop_trading_next_period": o.stop_trading_next_period,
        "retain_cost_when_rebalance": o.retain_cost_when_rebalance,
        "end_date": opt_date(o.end_date),
    })
}

/// The holdings as JSON.
pub fn holdings_json(b: &Book, names: &Names) -> Value {
    json!({
        "as_of": calendar::format(b.as_of),
        "invested": b.exposure,
        "cash": b.cash,
        "stocks": b.holdings.iter().map(|h| json!({
            "stock": h.stock,
            "name": names.name(&h.stock),
            "industry": names.industry(&h.stock),
            "entry_date": opt_date(h.entry_date),
            "weight": h.weight,
            "return": h.ret,
        })).collect::<Vec<_>>(),
    })
}

/// The next rebalance as JSON (`null` when there is none).
pub fn next_json(b: &Book, names: &Names) -> Value {
    let Some(n) = &b.next else {
        return Value::Null;
    };
    let (pending, signal, executes, estimated) = match n.when {
        When::Pending {
            signal,
            executes,
            estimated,
        } => (true, Some(signal), executes, estimated),
        When::OnChange { earliest } => (false, None, earliest, false),
    };
    json!({
        "pending": pending,
        "signal_date": opt_date(signal),
        "executes_on": calendar::format(executes),
        "executes_on_estimated": estimated,
        "row_date": calendar::format(n.row_date),
        "trades": n.lines.iter().map(|l| json!({
            "stock": l.stock,
            "name": names.name(&l.stock),
            "industry": names.industry(&l.stock),
            "action": l.action,
            "current_weight": l.current,
            "target_weight": l.target,
        })).collect::<Vec<_>>(),
        "sitting_out": n.sitting_out.iter().map(|(s, why)| json!({
            "stock": s,
            "name": names.name(s),
            "reason": why,
        })).collect::<Vec<_>>(),
    })
}

fn json_doc(report: &Report) -> Value {
    let r = report.result;
    let bench = report.benchmark_metrics().map(|b| {
        json!({"cagr": b.cagr, "sharpe": b.sharpe, "max_drawdown": b.max_drawdown,
               "total_return": b.total_return})
    });
    let d = &report.data;
    let mut doc = json!({
        "data": d.banner,
        "market": {"stocks": d.stocks, "sessions": d.sessions, "first": opt_date(d.first),
                   "last": opt_date(d.last)},
        "strategy": report.strategy,
        "name": report.name,
        "options": options_json(report.options, report.resample_text),
        "risk_free_rate": report.risk_free,
        "metrics": report.metrics,
        "benchmark": bench,
        "rebalances": r.rebalances,
        "warnings": r.warnings,
        "holdings": holdings_json(&report.book, &report.names),
        "next_rebalance": next_json(&report.book, &report.names),
        "creturn": r.creturn.iter().map(|(d, v)| json!([calendar::format(*d), v])).collect::<Vec<_>>(),
        "trades": r.trades.iter().map(|t| json!({
            "stock": &*t.stock,
            "entry_sig_date": calendar::format(t.entry_sig_date),
            "entry_date": calendar::format(t.entry_date),
            "exit_sig_date": t.exit_sig_date.map(calendar::format),
            "exit_date": t.exit_date.map(calendar::format),
            "weight": t.weight,
            "return": t.ret,
            "period": t.period,
            "exit_reason": t.exit_reason,
            "mae": t.mae,
            "gmfe": t.gmfe,
            "bmfe": t.bmfe,
            "mdd": t.mdd,
            "pdays": t.pdays,
        })).collect::<Vec<_>>(),
    });
    if let (Some(extra), Some(obj)) = (&report.extra, doc.as_object_mut()) {
        obj.insert(extra.key.to_string(), extra.json.clone());
    }
    doc
}
