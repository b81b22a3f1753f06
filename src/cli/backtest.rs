//! `dsl-engine backtest FILE`: check, evaluate in the sandbox, backtest; print the metrics, the
//! holdings and the next rebalance (or JSON), and optionally write the HTML report.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use super::{open_data, output, read_strategy, report_undecodable, sandbox, ExitStatus};
use crate::data::DataDir;
use crate::dsl::{self, render, CheckContext};
use crate::pipeline::{self, PipelineError};
use crate::sandbox::{Limits, DEFAULT_MEMORY};

/// `dsl-engine backtest`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// The strategy file (`.strat`).
    pub file: PathBuf,
    /// Data directory in finlab's cache layout (default: the synthetic market, generated on
    /// first use in the user cache directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON object (metrics, creturn, trades) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Fuel budget for the sandboxed evaluation (default: sized from the plan and the data).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Wall-clock limit of the sandboxed evaluation, in seconds.
    #[arg(long, default_value_t = 120.0, value_parser = super::flags::seconds)]
    pub timeout: f64,
    /// Memory cap of the sandboxed evaluation, in MiB (at most 4096, the guest's address space).
    #[arg(long, default_value_t = DEFAULT_MEMORY >> 20, value_parser = crate::sandbox::parse_memory_mib)]
    pub memory: usize,
    /// Also write a self-contained HTML report (next rebalance, holdings, charts, metrics,
    /// trades, options, source).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Annual risk-free rate that Sharpe and Sortino subtract (finlab's default: 0.02).
    #[arg(long, default_value_t = crate::metrics::RISK_FREE)]
    pub rf: f64,
    /// First date of the backtest, as `position.loc["2015":]` sets it in finlab: position rows
    /// before it are dropped. YYYY, YYYY-MM or YYYY-MM-DD (a year or month starts on its first day).
    #[arg(long, value_name = "DATE", value_parser = super::flags::first_day)]
    pub start: Option<i32>,
    /// Last date of the backtest (finlab's `end_date`; the earlier one wins when the strategy's
    /// `sim(...)` sets one too). YYYY, YYYY-MM or YYYY-MM-DD (a year or month ends on its last day).
    #[arg(long, value_name = "DATE", value_parser = super::flags::last_day)]
    pub end: Option<i32>,
}

/// Runs `backtest`.
pub fn run(a: BacktestArgs) -> anyhow::Result<ExitStatus> {
    let name = a.file.display().to_string();
    let source = match read_strategy(&a.file)? {
        Ok(source) => source,
        Err(bad) => return Ok(report_undecodable(&bad, &name)),
    };
    if !(a.timeout > 0.0 && a.timeout.is_finite()) {
        anyhow::bail!("--timeout must be a positive number of seconds");
    }
    let rf = output::risk_free(a.rf)?;
    let limits = Limits {
        fuel: a.fuel,
        wall: Duration::from_secs_f64(a.timeout),
        memory_bytes: a.memory.saturating_mul(1 << 20),
        ..Limits::default()
    };
    // Check before preparing data or the sandbox, so an invalid strategy fails fast.
    let quick = dsl::compile(&source, &CheckContext::default());
    if quick.program.is_none() {
        err!("{}", render(&quick.diagnostics, &source, &name));
        return Ok(ExitStatus::Failure);
    }
    let window = pipeline::Window::new(a.start, a.end)?;
    let data = open_data(a.data_dir.as_deref())?;
    let sandbox = sandbox(limits)?;
    let ctx = pipeline::check_context(&data);
    let bt = match pipeline::backtest_window(&source, &data, &sandbox, &ctx, window) {
        Ok(bt) => bt,
        Err(PipelineError::Invalid(diags)) => {
            err!("{}", render(&diags, &source, &name));
            return Ok(ExitStatus::Failure);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("backtesting {name}{}", short_data_note(&data)))
        }
    };
    if !bt.warnings.is_empty() {
        err!("{}", render(&bt.warnings, &source, &name));
    }
    let ev = &bt.evaluation;
    let cache = sandbox.cache.label();
    let sandbox_json = json!({
        "fuel_used": ev.fuel_used,
        "fuel_limit": ev.fuel_limit,
        "peak_memory_bytes": ev.peak_memory,
        "elapsed_ms": ev.elapsed.as_secs_f64() * 1000.0,
        "module_cache": cache,
    });
    let sandbox_line = format!(
        "fuel {} of {}, peak memory {} MiB, {:.0} ms (module cache {cache})",
        ev.fuel_used,
        ev.fuel_limit,
        ev.peak_memory >> 20,
        ev.elapsed.as_secs_f64() * 1000.0
    );
    let sim = &bt.lowered.sim;
    let mut report = output::analyse(
        &data,
        &ev.position,
        &bt.result,
        bt.metrics.clone(),
        &sim.options,
        rf,
        name,
    )?;
    report.name = sim.name.as_deref();
    report.source = Some(&source);
    report.resample_text = sim.resample_text.as_deref();
    report.extra = Some(output::Extra {
        key: "sandbox",
        json: sandbox_json,
        lines: vec![("sandbox".into(), sandbox_line)],
    });
    if let Some(path) = &a.html {
        report.write_html(path)?;
    }
    output::print(&report, a.json)?;
    Ok(ExitStatus::Success)
}

/// A note for failed backtests on short data (e.g. a fresh `data fetch` of a few days): windows
/// such as a 60-day average or monthly rebalancing then leave the position empty.
fn short_data_note(data: &DataDir) -> String {
    let path = data
        .path
        .join(crate::data::feather::file_name(crate::data::CALENDAR_KEY));
    match crate::data::feather::read_dates_only(&path) {
        Ok(d) if d.len() < 250 => format!(
            " (the data has only {} session(s){}: too short for long windows; fetch more \
             history)",
            d.len(),
            match (d.first(), d.last()) {
                (Some(&a), Some(&b)) => format!(
                    ", {} → {}",
                    crate::calendar::format(a),
                    crate::calendar::format(b)
                ),
                _ => String::new(),
            }
        ),
        _ => String::new(),
    }
}
