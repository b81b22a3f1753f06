//! `dsl-engine backtest FILE`: check, evaluate in the sandbox, backtest, print metrics.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use super::{log, open_data, output, read_source, ExitStatus};
use crate::data::{DataDir, DataError};
use crate::dsl::{self, render, CheckContext};
use crate::pipeline::{self, PipelineError};
use crate::report;
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
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Memory cap of the sandboxed evaluation, in MiB (at most 4096, the guest's address space).
    #[arg(long, default_value_t = DEFAULT_MEMORY >> 20, value_parser = crate::sandbox::parse_memory_mib)]
    pub memory: usize,
    /// Also write a self-contained HTML report (charts, metrics, trades, holdings, source).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Runs `backtest`.
pub fn run(a: BacktestArgs) -> anyhow::Result<ExitStatus> {
    let source = read_source(&a.file)?;
    let name = a.file.display().to_string();
    if !(a.timeout > 0.0 && a.timeout.is_finite()) {
        anyhow::bail!("--timeout must be a positive number of seconds");
    }
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
    let data = open_data(a.data_dir.as_deref())?;
    let sandbox = super::sandbox(limits)?;
    let bt = match pipeline::backtest(&source, &data, &sandbox) {
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
        "sandbox       fuel {} of {}, peak memory {} MiB, {:.0} ms (module cache {cache})",
        ev.fuel_used,
        ev.fuel_limit,
        ev.peak_memory >> 20,
        ev.elapsed.as_secs_f64() * 1000.0
    );
    if let Some(path) = &a.html {
        let start = std::time::Instant::now();
        let benchmark = load_benchmark(&data)?;
        let html = report::backtest::render(&report::backtest::BacktestReport {
            file: &name,
            name: bt.lowered.sim.name.as_deref(),
            source: &source,
            banner: &data.banner(),
            result: &bt.result,
            metrics: &bt.metrics,
            benchmark: benchmark.as_deref(),
            notes: vec![(
                "sandbox".into(),
                sandbox_line.trim_start_matches("sandbox").trim().into(),
            )],
        });
        std::fs::write(path, &html).with_context(|| format!("cannot write {}", path.display()))?;
        log(&format!(
            "wrote {} ({} KiB in {} ms)",
            path.display(),
            html.len().div_ceil(1024),
            start.elapsed().as_millis()
        ));
    }
    output::print(
        &output::Report {
            banner: data.banner(),
            strategy: name,
            name: bt.lowered.sim.name.as_deref(),
            result: &bt.result,
            metrics: &bt.metrics,
            extra: Some(("sandbox", sandbox_json, sandbox_line)),
        },
        a.json,
    )?;
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
