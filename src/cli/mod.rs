//! The command line. Results go to stdout; progress, logs and diagnostics to stderr.
//!
//! Exit status: 0 success; 1 the strategy is invalid; 2 the tool failed (I/O, data, sandbox,
//! bad flags).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::data::DataDir;
use crate::dsl;
use crate::sandbox::{default_cache_dir, CacheOutcome, Limits, Sandbox};

#[macro_use]
pub mod out;

mod backtest;
mod bench;
mod check;
mod data;
mod doctor;
mod export;
mod flags;
mod fmt;
mod iterate;
mod output;
mod positions;
mod report;
mod sim;
mod worker;

/// Research Taiwan-stock strategies written in a safe finlab-style DSL.
///
/// Exit status: 0 ok, 1 invalid strategy, 2 tool failure.
#[derive(Debug, Parser)]
#[command(
    name = "dsl-engine",
    version,
    about,
    long_about = None,
    after_help = "Exit status: 0 ok, 1 invalid strategy, 2 tool failure (I/O, data, sandbox, flags)."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a strategy: exit 0 when it is valid, else print diagnostics and exit 1.
    Check(check::CheckArgs),
    /// Print the canonical text of a strategy (`--check`: exit 1 if the file is not canonical).
    Fmt(fmt::FmtArgs),
    /// Backtest a strategy on the data set and print its metrics.
    Backtest(backtest::BacktestArgs),
    /// Write finlab Python for a strategy (provenance header; `--backtest` adds its metrics).
    Export(export::ExportArgs),
    /// Evaluate a strategy and write its position panel as a wide Arrow file (finlab layout).
    Positions(positions::PositionsArgs),
    /// Backtest a position panel from an Arrow file (wide, finlab layout) with any `sim()` options.
    Sim(sim::SimArgs),
    /// Time complete evaluations of a fixed strategy set on the full data set: per-stage
    /// medians, evaluations per hour, peak memory (and finlab's pandas time when available).
    Bench(bench::BenchArgs),
    /// Print the DSL reference (operators and `sim` options), generated from the registry.
    Ops,
    /// Generate, list, inspect, import and benchmark market data.
    Data(data::DataArgs),
    /// The autonomous research loop: propose (LLM or offline evolutionary search), check,
    /// evaluate, backtest, give feedback, repeat; ledger, best strategy and summary in RUN_DIR.
    Iterate(Box<iterate::IterateArgs>),
    /// Check the data cache, the sandbox guest and the model endpoint; say what to fix.
    Doctor(doctor::DoctorArgs),
    /// Write the self-contained HTML report of an iterate run (RUN_DIR/report.html) and list
    /// its best trials.
    Report(report::ReportArgs),
    /// Evaluate jobs of `iterate --nats` and `bench --nats` runs from a NATS JetStream queue,
    /// on this machine.
    Worker(worker::WorkerArgs),
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
        Command::Check(a) => check::run(a),
        Command::Fmt(a) => fmt::run(a),
        Command::Backtest(a) => backtest::run(a),
        Command::Export(a) => export::run(a),
        Command::Positions(a) => positions::run(a),
        Command::Sim(a) => sim::run(a),
        Command::Data(a) => data::run(a),
        Command::Iterate(a) => iterate::run(*a),
        Command::Doctor(a) => doctor::run(a),
        Command::Report(a) => report::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Worker(a) => worker::run(a),
        Command::Ops => {
            out!("{}", dsl::reference::markdown());
            Ok(ExitStatus::Success)
        }
    }
}

pub(crate) fn read_source(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// A sandbox with `limits`, its compiled guest from the module cache (compiled and cached on a
/// miss, which is logged).
pub(crate) fn sandbox(limits: Limits) -> anyhow::Result<Sandbox> {
    let cache_dir = default_cache_dir();
    let start = std::time::Instant::now();
    let sandbox = Sandbox::new(limits, Some(&cache_dir)).context("starting the sandbox")?;
    if sandbox.cache == CacheOutcome::Compiled {
        log(&format!(
            "compiled the sandbox guest in {:.1}s (cached in {} for later runs)",
            start.elapsed().as_secs_f64(),
            cache_dir.display()
        ));
    }
    Ok(sandbox)
}

pub(crate) fn log(msg: &str) {
    errln!("{msg}");
}

/// The data directory: `--data-dir` as given, or the default synthetic market (generated on
/// first use).
pub(crate) fn open_data(dir: Option<&Path>) -> anyhow::Result<DataDir> {
    match dir {
        Some(d) => {
            DataDir::open(d).with_context(|| format!("cannot open data directory {}", d.display()))
        }
        None => {
            let d = crate::data::default_data_dir();
            let cfg = crate::data::synth::SynthConfig::default();
            crate::data::ensure(&d, &cfg, &mut data::reporter())
                .context("preparing the default synthetic data")
        }
    }
}
