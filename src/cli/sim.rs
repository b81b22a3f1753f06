//! `dsl-engine sim --position POS.arrow`: backtest any externally produced position panel (wide
//! Arrow in finlab's layout) with every `sim()` option as a flag, so positions from anywhere can
//! be backtested and the engine can be cross-checked.

use std::path::PathBuf;

use anyhow::Context;

use super::{open_data, output, ExitStatus};
use crate::calendar;
use crate::data::feather;
use crate::pipeline;
use crate::simspec::{parse_offset, Frequency, Resample, SimOptions, TradeAt, TW_FEE, TW_TAX};

/// `dsl-engine sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// The position: a wide Arrow IPC file (`date` + one column per stock; bool or weights).
    #[arg(long)]
    pub position: PathBuf,
    /// Data directory in finlab's cache layout (default: the synthetic market).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON object (metrics, creturn, trades) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Rebalance frequency (`D`, `20D`, `W`, `W-FRI`, `M`, `MS`, `Q`, `QS`, `Y`, `M+5`, ...);
    /// omit to rebalance whenever the position changes.
    #[arg(long)]
    pub resample: Option<String>,
    /// Calendar days added to every rebalance date, e.g. `1D`.
    #[arg(long)]
    pub resample_offset: Option<String>,
    /// Fill price: close, open, open_close_avg, high_low_avg, price_avg.
    #[arg(long, default_value = "close")]
    pub trade_at_price: String,
    /// Largest weight of one stock.
    #[arg(long, default_value_t = 1.0)]
    pub position_limit: f64,
    /// Fee on every buy and sell.
    #[arg(long, default_value_t = TW_FEE)]
    pub fee_ratio: f64,
    /// Tax on every sell.
    #[arg(long, default_value_t = TW_TAX)]
    pub tax_ratio: f64,
    #[arg(long)]
    pub stop_loss: Option<f64>,
    #[arg(long)]
    pub take_profit: Option<f64>,
    #[arg(long)]
    pub trail_stop: Option<f64>,
    #[arg(long)]
    pub trail_stop_activation: Option<f64>,
    /// Check stops intraday and fill at the threshold.
    #[arg(long)]
    pub touched_exit: bool,
    /// Whether a stopped stock sits out the next rebalance.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub stop_trading_next_period: bool,
    /// Keep the cost basis of held stocks across rebalances.
    #[arg(long)]
    pub retain_cost_when_rebalance: bool,
    /// Last date, YYYY-MM-DD (finlab's `end_date`).
    #[arg(long, conflicts_with = "end")]
    pub end_date: Option<String>,
    /// First date of the backtest, as `position.loc["2015":]` sets it in finlab: position rows
    /// before it are dropped. YYYY, YYYY-MM or YYYY-MM-DD (a year or month starts on its first day).
    #[arg(long, value_name = "DATE", value_parser = super::flags::first_day)]
    pub start: Option<i32>,
    /// Last date of the backtest (finlab's `end_date`, like `--end-date`). YYYY, YYYY-MM or YYYY-MM-DD (a year or month ends on its last day).
    #[arg(long, value_name = "DATE", value_parser = super::flags::last_day)]
    pub end: Option<i32>,

    /// A label for the output and the report (finlab's `name=`).
    #[arg(long)]
    pub name: Option<String>,
    /// Also write a self-contained HTML report (next rebalance, holdings, charts, metrics,
    /// trades, options).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Annual risk-free rate that Sharpe and Sortino subtract (finlab's default: 0.02).
    #[arg(long, default_value_t = crate::metrics::RISK_FREE)]
    pub rf: f64,
}

fn options(a: &SimArgs) -> anyhow::Result<SimOptions> {
    let resample = match &a.resample {
        None => Resample::OnChange,
        Some(s) => Resample::Every(Frequency::parse(s).with_context(|| {
            format!("--resample {s:?} is not a frequency (e.g. M, W-FRI, 20D, M+5)")
        })?),
    };
    let resample_offset = match &a.resample_offset {
        None => 0,
        Some(s) => parse_offset(s)
            .with_context(|| format!("--resample-offset {s:?} is not a day offset like 1D"))?,
    };
    let trade_at = TradeAt::parse(&a.trade_at_price).with_context(|| {
        format!(
            "--trade-at-price {:?}: use one of {}",
            a.trade_at_price,
            TradeAt::NAMES.join(", ")
        )
    })?;
    let end_date = match &a.end_date {
        None => None,
        Some(s) => Some(
            calendar::parse(s).with_context(|| format!("--end-date {s:?} is not YYYY-MM-DD"))?,
        ),
    };
    if !(a.position_limit > 0.0 && a.position_limit <= 1.0) {
        anyhow::bail!("--position-limit must be in (0, 1]");
    }
    for (flag, v) in [("--fee-ratio", a.fee_ratio), ("--tax-ratio", a.tax_ratio)] {
        if !(0.0..=0.1).contains(&v) {
            anyhow::bail!("{flag} must be between 0 and 0.1");
        }
    }
    Ok(SimOptions {
        resample,
        resample_offset,
        trade_at,
        position_limit: a.position_limit,
        fee_ratio: a.fee_ratio,
        tax_ratio: a.tax_ratio,
        stop_loss: a.stop_loss,
        take_profit: a.take_profit,
        trail_stop: a.trail_stop,
        trail_stop_activation: a.trail_stop_activation,
        touched_exit: a.touched_exit,
        stop_trading_next_period: a.stop_trading_next_period,
        retain_cost_when_rebalance: a.retain_cost_when_rebalance,
        end_date,
    })
}

/// Runs `sim`.
pub fn run(a: SimArgs) -> anyhow::Result<ExitStatus> {
    let mut opts = options(&a)?;
    let window = pipeline::Window::new(a.start, a.end)?;
    let rf = output::risk_free(a.rf)?;
    let mut position = feather::read_wide(&a.position)
        .map(dsl_runtime::wire::Position::Weights)
        .with_context(|| format!("reading the position {}", a.position.display()))?;
    window.apply(&mut position, &mut opts)?;
    let data = open_data(a.data_dir.as_deref())?;
    let (result, metrics) = pipeline::simulate_on(&position, &data, &opts)
        .with_context(|| format!("backtesting {}", a.position.display()))?;
    let file = a.position.display().to_string();
    let mut report = output::analyse(&data, &position, &result, metrics, &opts, rf, file)?;
    report.name = a.name.as_deref();
    report.resample_text = a.resample.as_deref();
    if let Some(path) = &a.html {
        report.write_html(path)?;
    }
    output::print(&report, a.json)?;
    Ok(ExitStatus::Success)
}
