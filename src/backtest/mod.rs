//! The backtester: a native re-implementation of finlab's `sim()`. Contract:
//! `docs/semantics.md` §1–3 — position pre-processing §2.1, schedule §2.2, T+1 execution
//! §2.3, weights §2.4, cash and costs §2.5, the daily loop §2.6, delisting §2.7, curve bounds
//! §2.8, stops §2.9, trades §3. In: a position panel and adjusted prices; out: the equity curve,
//! the trades and exposure statistics.

mod engine;
mod layout;
pub mod schedule;
pub mod trades;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use dsl_runtime::wire::PanelData;

pub use crate::simspec::{Frequency, Resample, SimOptions, TradeAt, TW_FEE, TW_TAX};
pub use engine::Exposure;
pub use schedule::Cell;
pub use trades::{ExitReason, Trade};

/// Bars without a price at the end of the data after which a stock counts as delisted (§2.7).
pub const DELISTING_MIN_TRAILING_BARS: usize = 20;

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BacktestError {
    /// The position panel has no rows or no columns.
    #[error("the position panel is empty")]
    EmptyPosition,
    /// Every cell of the position (on stocks with prices) is 0 or NaN: nothing would be bought.
    #[error("the position holds nothing: every value is 0 or missing")]
    NoHoldings,
    /// No position column is a stock of the price data; carries the first five position columns.
    #[error("no position column matches a stock in the price data (first columns: {0})")]
    NoCommonStocks(String),
    /// The close prices have no bar on or before `end_date`.
    #[error("the price data has no dates")]
    NoPrices,
    /// A position cell is ±inf (NaN is read as 0, as finlab does).
    #[error("the position has a non-finite weight for {stock} on {date}")]
    NonFiniteWeight {
        /// Stock id of the offending column.
        stock: String,
        /// Signal date of the offending row, `YYYY-MM-DD`.
        date: String,
    },
    /// A row's finite weights sum to ±inf, so normalising them would divide by infinity.
    #[error(
        "the position's weights on {date} add up to more than the largest number (an overflow, \
         as with an infinite weight); use weights of a sensible size"
    )]
    WeightOverflow {
        /// Signal date of the row, `YYYY-MM-DD`.
        date: String,
    },
    /// The position starts after the prices end, so no rebalance can execute.
    #[error("every position row is dated after the last price bar ({last_bar})")]
    PositionAfterPrices {
        /// Date of the last price bar, `YYYY-MM-DD`.
        last_bar: String,
    },
    /// The options need open/high/low prices (named by the dataset key) that [`Market`] lacks.
    #[error("`{0}` prices are needed for these options but were not provided")]
    MissingPrices(&'static str),
}

/// Adjusted prices: close always; open/high/low when `trade_at_price` or `touched_exit` needs them.
#[derive(Clone, Copy, Debug)]
pub struct Market<'a> {
    /// Adjusted close: valuation, close-based stops and `trade_at_price="close"`.
    pub close: &'a PanelData,
    /// Adjusted open: fills at `open`/`open_close_avg`/`price_avg`, and touched exits.
    pub open: Option<&'a PanelData>,
    /// Adjusted high: fills at `high_low_avg`/`price_avg`, and touched exits.
    pub high: Option<&'a PanelData>,
    /// Adjusted low: fills at `high_low_avg`/`price_avg`, and touched exits.
    pub low: Option<&'a PanelData>,
}

/// Dataset keys of the adjusted prices a backtest needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriceKeys {
    /// Key of [`Market::close`] (always needed).
    pub close: &'static str,
    /// Key of [`Market::open`], when the options use it.
    pub open: Option<&'static str>,
    /// Key of [`Market::high`], when the options use it.
    pub high: Option<&'static str>,
    /// Key of [`Market::low`], when the options use it.
    pub low: Option<&'static str>,
}

/// The adjusted prices a backtest with `opts` needs: the close always; the open, high and low
/// when `trade_at_price` or `touched_exit` uses them.
pub fn price_keys(opts: &SimOptions) -> PriceKeys {
    let touched = opts.touched_exit && opts.has_stops();
    let open = touched || !matches!(opts.trade_at, TradeAt::Close | TradeAt::HighLowAvg);
    let high_low = touched || matches!(opts.trade_at, TradeAt::HighLowAvg | TradeAt::PriceAvg);
    PriceKeys {
        close: "etl:adj_close",
        open: open.then_some("etl:adj_open"),
        high: high_low.then_some("etl:adj_high"),
        low: high_low.then_some("etl:adj_low"),
    }
}

/// The result of a backtest.
#[derive(Clone, Debug, PartialEq)]
pub struct SimResult {
    /// (date, equity) after finlab's start/end trimming (§2.8).
    pub creturn: Vec<(i32, f64)>,
    /// Every trade (closed and open), in the order finlab's report lists them (§3).
    pub trades: Vec<Trade>,
    /// Number of executed rebalances.
    pub rebalances: usize,
    /// Exposure, holdings count and turnover inputs for [`crate::metrics`].
    pub exposure: Exposure,
    /// Things the user should know (e.g. weight on stocks without prices was dropped).
    pub warnings: Vec<String>,
}

/// Runs `sim()`.
pub fn simulate<T: Cell>(
    position: &PanelData<Vec<T>>,
    market: &Market,
    opts: &SimOptions,
) -> Result<SimResult, BacktestError> {
    if position.dates.is_empty() || position.columns.is_empty() {
        return Err(BacktestError::EmptyPosition);
    }
    let close = market.close;
    let end = opts.end_date.unwrap_or(i32::MAX);
    let n_bars = close.dates.partition_point(|&d| d <= end);
    let bars = &close.dates[..n_bars];
    let Some(&last_bar) = bars.last() else {
        return Err(BacktestError::NoPrices);
    };
    let mut warnings = Vec::new();

    // Columns: position ∩ prices, in the price frame's order (finlab drops the rest, §2.1.10).
    let price_col: HashMap<&str, usize> = close
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut cols: Vec<(usize, usize)> = Vec::new();
    let mut dropped: Vec<usize> = Vec::new();
    for (pc, name) in position.columns.iter().enumerate() {
        match price_col.get(name.as_str()) {
            Some(&c) => cols.push((c, pc)),
            None => dropped.push(pc),
        }
    }
    cols.sort_unstable();
    if cols.is_empty() {
        let head: Vec<&str> = position
            .columns
            .iter()
            .take(5)
            .map(String::as_str)
            .collect();
        return Err(BacktestError::NoCommonStocks(head.join(", ")));
    }
    // Rows up to the present data date, NaN → 0 (§2.1 steps 7, 9); weights must be finite.
    let n_rows = position.dates.partition_point(|&d| d <= last_bar.min(end));
    if n_rows == 0 {
        return Err(BacktestError::PositionAfterPrices {
            last_bar: crate::calendar::format(last_bar),
        });
    }
    let dates = &position.dates[..n_rows];
    // The weights stay in the panel's column-major memory. One pass validates them, totals
    // them and (for resample=None) marks the rows that differ from the previous one.
    let slices = cols
        .iter()
        .map(|&(_, pc)| &position.column(pc)[..n_rows])
        .collect();
    let (weights, scan) =
        schedule::Weights::scan(slices, n_rows, opts.resample == Resample::OnChange).map_err(
            |(k, r)| BacktestError::NonFiniteWeight {
                stock: position.columns[cols[k].1].clone(),
                date: crate::calendar::format(dates[r]),
            },
        )?;
    let (kept_w, held_cells) = (scan.total, scan.held_cells);
    if kept_w == 0.0 {
        return Err(BacktestError::NoHoldings);
    }
    // finlab warns when dropped stocks carried more than 10% of the total |weight| (§2.1.10).
    let dropped_w: f64 = dropped
        .iter()
        .flat_map(|&pc| position.column(pc)[..n_rows].iter())
        .map(|v| v.weight())
        .filter(|v| v.is_finite())
        .map(|v| v.abs())
        .sum();
    if dropped_w > 0.0 && dropped_w / (dropped_w + kept_w) > 0.1 {
        warnings.push(format!(
            "{:.1}% of the position's total weight is on stocks without prices; they were dropped",
            100.0 * dropped_w / (dropped_w + kept_w)
        ));
    }

    let columns = build_columns(market, opts, bars, &cols)?;
    let plan = schedule::schedule(
        opts.resample,
        opts.resample_offset,
        dates,
        &weights,
        bars,
        &columns.delist,
    );
    // A busy book (≥ 5% of the stocks held on average) reads prices row by row.
    let mut columns = columns;
    columns.busy = held_cells as f64 > 0.05 * (n_rows * cols.len()) as f64;
    let (curve, trades, exposure) = engine::run(&columns, &weights.changes, &plan, opts).map_err(
        |engine::Overflow { row }| BacktestError::WeightOverflow {
            date: crate::calendar::format(dates[row]),
        },
    )?;
    let creturn = bars.iter().copied().zip(curve).collect();
    Ok(SimResult {
        creturn: trim_curve(creturn, dates, last_bar, opts.end_date.is_some()),
        trades,
        rebalances: plan.len(),
        exposure,
        warnings,
    })
}

/// One stock's series of `panel` on the close's bars (dates matched exactly; missing → NaN).
fn conform(panel: &PanelData, bars: &[i32], stock: &str) -> Vec<f64> {
    let Some(c) = panel.columns.iter().position(|s| s == stock) else {
        return vec![f64::NAN; bars.len()];
    };
    let col = panel.column(c);
    if panel.dates.len() >= bars.len() && panel.dates[..bars.len()] == *bars {
        return col[..bars.len()].to_vec();
    }
    bars.iter()
        .map(|d| match panel.dates.binary_search(d) {
            Ok(i) => col[i],
            Err(_) => f64::NAN,
        })
        .collect()
}

fn build_columns<'a>(
    market: &Market<'a>,
    opts: &SimOptions,
    bars: &'a [i32],
    cols: &[(usize, usize)],
) -> Result<engine::Columns<'a>, BacktestError> {
    let keys = price_keys(opts);
    let need = |key: Option<&'static str>, p: Option<&PanelData>| match (key, p) {
        (Some(k), None) => Err(BacktestError::MissingPrices(k)),
        _ => Ok(()),
    };
    need(keys.open, market.open)?;
    need(keys.high, market.high)?;
    need(keys.low, market.low)?;
    let n = bars.len();
    let close_panel: &'a PanelData = market.close;
    let stocks: Vec<Arc<str>> = cols
        .iter()
        .map(|&(c, _)| Arc::from(close_panel.columns[c].as_str()))
        .collect();
    // The close is borrowed, not copied: the monthly case must not pay for the whole panel.
    let close: Vec<Cow<'a, [f64]>> = cols
        .iter()
        .map(|&(c, _)| Cow::Borrowed(&close_panel.column(c)[..n]))
        .collect();
    let series = |p: Option<&PanelData>| -> Vec<Cow<'a, [f64]>> {
        match p {
            Some(p) => stocks
                .iter()
                .map(|s| Cow::Owned(conform(p, bars, s)))
                .collect(),
            None => Vec::new(),
        }
    };
    let (open, high, low) = (series(market.open), series(market.high), series(market.low));
    let avg = |parts: &[&Vec<Cow<'a, [f64]>>]| -> Vec<Cow<'a, [f64]>> {
        (0..stocks.len())
            .map(|k| {
                Cow::Owned(
                    (0..n)
                        .map(|i| parts.iter().map(|p| p[k][i]).sum::<f64>() / parts.len() as f64)
                        .collect(),
                )
            })
            .collect()
    };
    let trade = match opts.trade_at {
        TradeAt::Close => close.clone(),
        TradeAt::Open => open.clone(),
        TradeAt::OpenCloseAvg => avg(&[&open, &close]),
        TradeAt::HighLowAvg => avg(&[&high, &low]),
        TradeAt::PriceAvg => avg(&[&open, &high, &low, &close]),
    };
    // §2.7 without exchange notices: prices ending 20+ bars before the data end = delisted,
    // sold on the last priced bar.
    let delist = trade
        .iter()
        .map(|col| {
            let last = col.iter().rposition(|v| !v.is_nan())?;
            (n - 1 - last >= DELISTING_MIN_TRAILING_BARS).then_some(last)
        })
        .collect();
    let touched = opts.touched_exit && opts.has_stops();
    Ok(engine::Columns {
        bars,
        stocks,
        trade,
        close,
        ohl: touched.then_some([open, high, low]),
        delist,
        busy: false,
    })
}

/// finlab's curve bounds (§2.8): drop the leading run of exact 1.0 except its
/// last element; end at the last position row when the signals stopped early (with ≥ 3 rows,
/// `last + (last − third-last)` not after the last bar, and no `end_date`), else at the last bar.
fn trim_curve(
    mut curve: Vec<(i32, f64)>,
    signal_dates: &[i32],
    last_bar: i32,
    has_end_date: bool,
) -> Vec<(i32, f64)> {
    let n = signal_dates.len();
    if n >= 3 && !has_end_date {
        let (last, third) = (signal_dates[n - 1], signal_dates[n - 3]);
        if last + (last - third) <= last_bar {
            curve.retain(|(d, _)| *d <= last);
        }
    }
    let lead = curve.iter().take_while(|(_, v)| *v == 1.0).count();
    if lead > 1 {
        let keep_last = curve.len() - 1;
        curve.drain(..(lead - 1).min(keep_last));
    }
    curve
}

#[cfg(test)]
mod tests;
