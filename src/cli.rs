//! The command line. Results go to stdout; progress, logs and diagnostics to stderr.
//!
//! Exit status: 0 success; 1 the strategy is invalid; 2 the tool failed (I/O, data, sandbox,
//! bad flags).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::calendar;
use crate::data::{self, DataDir};
use crate::dsl::{self, render, CheckContext};
use crate::pipeline::{self, PipelineError};
use crate::sandbox::{default_cache_dir, CacheOutcome, Limits, Sandbox, DEFAULT_MEMORY};

/// Research Taiwan-stock strategies written in a safe finlab-style DSL.
///
/// Exit status: 0 ok, 1 invalid strategy, 2 tool failure.
#[derive(Debug, Parser)]
#[command(name = "dsl-engine", version, about, long_about = None)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a strategy: exit 0 when it is valid, else print diagnostics and exit 1.
    Check(CheckArgs),
    /// Backtest a strategy on the data set and print its metrics.
    Backtest(BacktestArgs),
    /// Print the DSL reference (operators and `sim` options), generated from the registry.
    Ops,
}

/// `dsl-engine check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The strategy file (`.strat`).
    pub file: PathBuf,
    /// Data directory whose datasets the strategy may load (default: the synthetic market).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

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
    /// Memory cap of the sandboxed evaluation, in MiB.
    #[arg(long, default_value_t = DEFAULT_MEMORY >> 20)]
    pub memory: usize,
}

/// How the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// The strategy is invalid.
    Failure,
    /// The tool failed.
    Error,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        match s {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}

/// Runs a parsed command line.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    match args.command {
        Command::Check(a) => check(a),
        Command::Backtest(a) => backtest(a),
        Command::Ops => {
            print!("{}", dsl::reference::markdown());
            Ok(ExitStatus::Success)
        }
    }
}

fn read_source(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

fn log(msg: &str) {
    eprintln!("{msg}");
}

/// The data directory: `--data-dir` as given, or the default synthetic market (generated on
/// first use).
fn open_data(dir: Option<&Path>) -> anyhow::Result<DataDir> {
    match dir {
        Some(d) => {
            DataDir::open(d).with_context(|| format!("cannot open data directory {}", d.display()))
        }
        None => {
            let d = data::default_data_dir();
            data::ensure_default(&d, &mut |m| log(m))
                .context("preparing the default synthetic data")
        }
    }
}

fn check(a: CheckArgs) -> anyhow::Result<ExitStatus> {
    let source = read_source(&a.file)?;
    let ctx = match &a.data_dir {
        Some(d) => pipeline::check_context(&DataDir::open(d)?),
        None => {
            let d = data::default_data_dir();
            match DataDir::open(&d) {
                Ok(dir) if d.join(data::MANIFEST).exists() => pipeline::check_context(&dir),
                _ => CheckContext {
                    datasets: Some(data::synth::KEYS.iter().map(|k| k.to_string()).collect()),
                },
            }
        }
    };
    let checked = dsl::compile(&source, &ctx);
    let name = a.file.display().to_string();
    if !checked.diagnostics.is_empty() {
        eprint!("{}", render(&checked.diagnostics, &source, &name));
    }
    if checked.program.is_some() {
        println!("{name}: ok");
        Ok(ExitStatus::Success)
    } else {
        let n = checked.diagnostics.iter().filter(|d| d.is_error()).count();
        eprintln!("{name}: {n} error(s)");
        Ok(ExitStatus::Failure)
    }
}

fn backtest(a: BacktestArgs) -> anyhow::Result<ExitStatus> {
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
        eprint!("{}", render(&quick.diagnostics, &source, &name));
        return Ok(ExitStatus::Failure);
    }
    let data = open_data(a.data_dir.as_deref())?;
    let cache_dir = default_cache_dir();
    let sandbox_start = std::time::Instant::now();
    let sandbox = Sandbox::new(limits, Some(&cache_dir)).context("starting the sandbox")?;
    if sandbox.cache == CacheOutcome::Compiled {
        log(&format!(
            "compiled the sandbox guest in {:.1}s (cached in {} for later runs)",
            sandbox_start.elapsed().as_secs_f64(),
            cache_dir.display()
        ));
    }
    let bt = match pipeline::backtest(&source, &data, &sandbox) {
        Ok(bt) => bt,
        Err(PipelineError::Invalid(diags)) => {
            eprint!("{}", render(&diags, &source, &name));
            return Ok(ExitStatus::Failure);
        }
        Err(e) => return Err(e).with_context(|| format!("backtesting {name}")),
    };
    if !bt.warnings.is_empty() {
        eprint!("{}", render(&bt.warnings, &source, &name));
    }
    let out = std::io::stdout();
    let mut out = out.lock();
    let m = &bt.metrics;
    let ev = &bt.evaluation;
    let cache = match sandbox.cache {
        CacheOutcome::Hit => "hit",
        CacheOutcome::Compiled => "compiled",
    };
    if a.json {
        let doc = json!({
            "data": data.banner(),
            "strategy": name,
            "name": bt.lowered.sim.name,
            "metrics": m,
            "creturn": bt.result.creturn.iter().map(|(d, v)| json!([calendar::format(*d), v])).collect::<Vec<_>>(),
            "trades": bt.result.trades.iter().map(|t| json!({
                "stock": t.stock,
                "entry_sig_date": calendar::format(t.entry_sig_date),
                "entry_date": calendar::format(t.entry_date),
                "exit_date": t.exit_date.map(calendar::format),
                "weight": t.weight,
                "return": t.ret,
                "period": t.period,
            })).collect::<Vec<_>>(),
            "sandbox": {
                "fuel_used": ev.fuel_used,
                "fuel_limit": ev.fuel_limit,
                "peak_memory_bytes": ev.peak_memory,
                "elapsed_ms": ev.elapsed.as_secs_f64() * 1000.0,
                "module_cache": cache,
            },
        });
        writeln!(out, "{doc}")?;
    } else {
        let pct = |x: f64| format!("{:>9.2}%", x * 100.0);
        writeln!(out, "{}", data.banner())?;
        writeln!(
            out,
            "strategy      {name}{}",
            bt.lowered
                .sim
                .name
                .as_ref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default()
        )?;
        writeln!(out, "period        {} → {}", m.start, m.end)?;
        writeln!(out, "total return  {}", pct(m.total_return))?;
        writeln!(out, "CAGR          {}", pct(m.cagr))?;
        writeln!(out, "Sharpe        {:>10.3}", m.sharpe)?;
        writeln!(out, "max drawdown  {}", pct(m.max_drawdown))?;
        writeln!(out, "win ratio     {}", pct(m.win_ratio))?;
        writeln!(out, "trades        {:>10}", m.trades)?;
        writeln!(
            out,
            "sandbox       fuel {} of {}, peak memory {} MiB, {:.0} ms (module cache {cache})",
            ev.fuel_used,
            ev.fuel_limit,
            ev.peak_memory >> 20,
            ev.elapsed.as_secs_f64() * 1000.0
        )?;
    }
    Ok(ExitStatus::Success)
}
