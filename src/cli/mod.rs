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
mod grammar;
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
    /// The subcommand to run.
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
    /// Print the DSL reference (operators and `sim` options), generated from the registry;
    /// `--datasets`: the dataset catalog by category.
    Ops(OpsArgs),
    /// Print the DSL as a grammar for constrained decoding (GBNF or Lark), generated from the
    /// operator registry and the dataset catalog.
    Grammar(grammar::GrammarArgs),
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

/// `dsl-engine ops`.
#[derive(Debug, clap::Args)]
pub struct OpsArgs {
    /// List the dataset catalog grouped by category instead of the operators.
    #[arg(long)]
    pub datasets: bool,
}

/// How the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exit code 0: the command did what was asked.
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
        Command::Grammar(a) => grammar::run(a),
        Command::Worker(a) => worker::run(a),
        Command::Ops(a) => {
            if a.datasets {
                out!("{}", data::datasets_markdown()?);
            } else {
                out!("{}", dsl::reference::markdown());
            }
            Ok(ExitStatus::Success)
        }
    }
}

/// A strategy file's text (a leading byte-order mark dropped), or, when the file is not UTF-8,
/// the `invalid-utf8` diagnostic: an invalid strategy, which the command reports with
/// [`report_undecodable`] (exit 1), not a tool failure.
pub(crate) fn read_strategy(file: &Path) -> anyhow::Result<Result<String, dsl::Undecodable>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(dsl::decode(bytes))
}

/// [`read_strategy`] where one bad file fails the command (`bench` over a strategy set): the
/// error names the file, line, column and byte offset.
pub(crate) fn read_source(file: &Path) -> anyhow::Result<String> {
    read_strategy(file)?.map_err(|bad| {
        let name = file.display().to_string();
        let line = dsl::render_compact(&[bad.diagnostic], &bad.text, &name);
        anyhow::anyhow!("{}", line.trim_end())
    })
}

/// Prints the diagnostic of a strategy file that is not UTF-8, as the other diagnostics are
/// printed; the command ends as for any invalid strategy.
pub(crate) fn report_undecodable(bad: &dsl::Undecodable, name: &str) -> ExitStatus {
    err!(
        "{}",
        dsl::render(std::slice::from_ref(&bad.diagnostic), &bad.text, name)
    );
    ExitStatus::Failure
}

/// A sandbox with `limits`, its compiled guest from the module cache (compiled and cached on a
/// miss, which is logged; a cached module that failed its digest check is a warning).
pub(crate) fn sandbox(limits: Limits) -> anyhow::Result<Sandbox> {
    let cache_dir = default_cache_dir();
    let start = std::time::Instant::now();
    let sandbox = Sandbox::new(limits, Some(&cache_dir)).context("starting the sandbox")?;
    let compiled = format!(
        "compiled the sandbox guest in {:.1}s (cached in {} for later runs)",
        start.elapsed().as_secs_f64(),
        cache_dir.display()
    );
    match &sandbox.cache {
        CacheOutcome::Hit => {}
        CacheOutcome::Compiled => log(&compiled),
        CacheOutcome::Recompiled(why) => log(&format!("warning: {why}; {compiled}")),
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
