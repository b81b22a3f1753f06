//! One evaluation end to end: strategy text → diagnostics → plan → sandbox → backtest →
//! metrics: what `backtest`, `positions`, `export --backtest`, `bench` and every iterate trial run.

mod window;

pub use window::{Window, WindowError};

use std::sync::Arc;
use std::time::{Duration, Instant};

use dsl_runtime::wire::{PanelData, Position};

use crate::backtest::{price_keys, simulate, BacktestError, Market, SimOptions, SimResult};
use crate::data::{DataDir, DataError};
use crate::dsl::{check, parse, CheckContext, Diagnostic, PanelKind};
use crate::metrics::{score, Metrics};
use crate::plan::{lower, Lowered, Plan};
use crate::sandbox::{Evaluation, Sandbox, SandboxError};
use crate::simspec::{Resample, Rule};

/// The benchmark index for alpha and beta (finlab's key; a one-column panel).
pub const BENCHMARK: &str = "benchmark_return:發行量加權股價報酬指數";

/// Why a strategy could not be backtested.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The strategy does not parse or check; carries the diagnostics (warnings included).
    #[error("the strategy is invalid ({} error(s))", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
    /// The data directory could not supply a dataset the strategy needs.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The wasm guest failed: a limit (fuel, memory, result size) or an evaluation error.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The position could not be backtested (empty, non-finite, no common stocks, …).
    #[error(transparent)]
    Backtest(#[from] BacktestError),
    /// The `--start`/`--end` window leaves nothing to backtest.
    #[error(transparent)]
    Window(#[from] WindowError),
}

/// Everything one backtest produced.
#[derive(Debug)]
pub struct Backtest {
    /// The plan and `sim(...)` options the strategy lowered to.
    pub lowered: Lowered,
    /// The sandbox's position panel and its fuel, memory and time.
    pub evaluation: Evaluation,
    /// The backtest: equity curve, trades, exposure.
    pub result: SimResult,
    /// The report metrics of `result` (alpha and beta against [`BENCHMARK`] when the data has it).
    pub metrics: Metrics,
    /// Warnings from the checker (the strategy ran).
    pub warnings: Vec<Diagnostic>,
    /// Wall time of each stage.
    pub timings: Timings,
}

/// The checker context without a data directory: the catalog's keys (and the reference data).
pub fn catalog_context() -> CheckContext {
    let mut keys = crate::data::catalog::keys();
    keys.push(crate::data::INDUSTRY_THEMES.to_string());
    CheckContext {
        datasets: Some(keys),
    }
}

/// The checker context for a data directory: the keys it allows (never "anything", even when
/// the directory is empty).
pub fn check_context(data: &DataDir) -> CheckContext {
    CheckContext {
        datasets: Some(data.allowed_keys()),
    }
}

/// Where the time of one evaluation went (zero for steps that did not run).
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// Parsing the strategy.
    pub parse: Duration,
    /// Checking it.
    pub check: Duration,
    /// Lowering it to a plan.
    pub plan: Duration,
    /// Getting the input panels and the prices (from the per-process cache after the first).
    pub load: Duration,
    /// The sandbox, step by step.
    pub sandbox: crate::sandbox::Stages,
    /// The whole sandbox call (the steps above plus store set-up).
    pub sandbox_total: Duration,
    /// `sim()`.
    pub backtest: Duration,
    /// The metrics of the result.
    pub metrics: Duration,
}

impl Timings {
    /// Building the position: everything before `sim()` (parse to the sandbox's result).
    pub fn evaluation(&self) -> Duration {
        self.parse + self.check + self.plan + self.load + self.sandbox_total
    }
}

/// Backtests a position panel on `data`: loads the adjusted prices `opts` needs and the
/// benchmark (when the data has one), simulates and scores.
pub fn simulate_on(
    position: &Position,
    data: &DataDir,
    opts: &SimOptions,
) -> Result<(SimResult, Metrics), PipelineError> {
    simulate_timed(position, data, opts, &mut Timings::default())
}

/// [`simulate_on`], adding its load, backtest and metrics times to `timings`.
pub fn simulate_timed(
    position: &Position,
    data: &DataDir,
    opts: &SimOptions,
    timings: &mut Timings,
) -> Result<(SimResult, Metrics), PipelineError> {
    let started = Instant::now();
    let keys = price_keys(opts);
    let load = |key: Option<&str>| key.map(|k| data.shared(k)).transpose();
    let close = data.shared(keys.close)?;
    let (open, high, low) = (load(keys.open)?, load(keys.high)?, load(keys.low)?);
    // No benchmark in the data is fine (alpha/beta stay undefined); a broken one is an error.
    let benchmark: Option<Vec<(i32, f64)>> = match data.shared(BENCHMARK) {
        Ok(b) if !b.columns.is_empty() => Some(
            b.dates
                .iter()
                .copied()
                .zip(b.column(0).iter().copied())
                .collect(),
        ),
        Ok(_) | Err(DataError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let market = Market {
        close: &close,
        open: open.as_deref(),
        high: high.as_deref(),
        low: low.as_deref(),
    };
    timings.load += started.elapsed();
    let started = Instant::now();
    let result = match position {
        Position::Weights(p) => simulate(p, &market, opts),
        Position::Flags(p) => simulate(p, &market, opts),
    }?;
    timings.backtest += started.elapsed();
    let started = Instant::now();
    let metrics = score(&result, benchmark.as_deref());
    timings.metrics += started.elapsed();
    Ok((result, metrics))
}

/// A strategy evaluated in the sandbox: its plan, the position panel and the checker's warnings.
#[derive(Debug)]
pub struct Evaluated {
    /// The plan and `sim(...)` options the strategy lowered to.
    pub lowered: Lowered,
    /// Whether the position is a bool panel (its values are then 0/1).
    pub position_kind: PanelKind,
    /// The sandbox's position panel and its fuel, memory and time.
    pub evaluation: Evaluation,
    /// Warnings from the checker (the strategy ran).
    pub warnings: Vec<Diagnostic>,
    /// Check, plan, load and sandbox times.
    pub timings: Timings,
}

/// The input panels of `plan` in the plan's order, read once per process (see
/// [`DataDir::shared`]).
pub fn load_inputs(plan: &Plan, data: &DataDir) -> Result<Vec<Arc<PanelData>>, DataError> {
    plan.inputs.iter().map(|k| data.shared(k)).collect()
}

/// [`load_inputs`] as owned copies (the native evaluator in tests and benches takes them).
pub fn load_inputs_owned(plan: &Plan, data: &DataDir) -> Result<Vec<PanelData>, DataError> {
    Ok(load_inputs(plan, data)?
        .into_iter()
        .map(Arc::unwrap_or_clone)
        .collect())
}

/// Checks `source` against `data`'s datasets, lowers it and evaluates the plan in the sandbox.
pub fn evaluate(
    source: &str,
    data: &DataDir,
    sandbox: &Sandbox,
) -> Result<Evaluated, PipelineError> {
    evaluate_in(source, data, sandbox, &check_context(data))
}

/// [`evaluate`] with a checker context already built (the iterate loop and the bench reuse
/// one instead of listing the data directory for every strategy).
pub fn evaluate_in(
    source: &str,
    data: &DataDir,
    sandbox: &Sandbox,
    ctx: &CheckContext,
) -> Result<Evaluated, PipelineError> {
    evaluate_rows(source, data, sandbox, ctx, false)
}

/// The dates `sim()` reads a position at under a calendar `resample` (weekly, monthly,
/// quarterly, yearly): every rebalance candidate from the inputs' first date on, shifted by
/// `resample_offset` — a superset of the ones `sim()` uses. `None` for `resample=None` and for
/// every-n-days schedules (those count from the position's first date).
pub fn sim_read_dates(opts: &SimOptions, inputs: &[Arc<PanelData>]) -> Option<Vec<i32>> {
    let Resample::Every(freq) = opts.resample else {
        return None;
    };
    if matches!(freq.rule, Rule::Days(_)) {
        return None;
    }
    let first = inputs.iter().filter_map(|p| p.dates.first()).min()?;
    let last = inputs.iter().filter_map(|p| p.dates.last()).max()?;
    let mut dates: Vec<i32> = freq
        .candidates(*first, *last + 366)
        .into_iter()
        .map(|d| d + opts.resample_offset)
        .collect();
    dates.sort_unstable();
    dates.dedup();
    Some(dates)
}

/// [`evaluate_in`]; with `for_sim`, only the rows `sim()` reads are computed where that saves
/// work (see `Plan::read_at`): the position is the same on those rows, cleared elsewhere.
fn evaluate_rows(
    source: &str,
    data: &DataDir,
    sandbox: &Sandbox,
    ctx: &CheckContext,
    for_sim: bool,
) -> Result<Evaluated, PipelineError> {
    let mut timings = Timings::default();
    let mut lap = Instant::now();
    let mut next = |d: &mut Duration| {
        *d = lap.elapsed();
        lap = Instant::now();
    };
    let parsed = parse(source);
    next(&mut timings.parse);
    let checked = match parsed {
        Ok(program) => check(&program, ctx),
        Err(d) => return Err(PipelineError::Invalid(vec![d])),
    };
    next(&mut timings.check);
    let Some(program) = checked.program else {
        return Err(PipelineError::Invalid(checked.diagnostics));
    };
    let lowered = lower(&program);
    next(&mut timings.plan);
    let for_sim = for_sim.then_some(&lowered.sim.options);
    let evaluation = evaluate_plan(&lowered.plan, for_sim, data, sandbox, &mut timings)?;
    Ok(Evaluated {
        lowered,
        position_kind: program.position_kind,
        evaluation,
        warnings: checked.diagnostics,
        timings,
    })
}

/// Evaluates a lowered plan in the sandbox on `data`, adding the load and sandbox times to
/// `timings`. With `for_sim` (the strategy's `sim()` options), only the rows `sim()` reads are
/// computed where that saves work (see `Plan::read_at`). Scale-out workers, which receive plans
/// rather than source, evaluate through here as the local loop does.
pub fn evaluate_plan(
    plan: &Plan,
    for_sim: Option<&SimOptions>,
    data: &DataDir,
    sandbox: &Sandbox,
    timings: &mut Timings,
) -> Result<Evaluation, PipelineError> {
    let started = Instant::now();
    let inputs = load_inputs(plan, data)?;
    timings.load = started.elapsed();
    let started = Instant::now();
    let read_at = for_sim.and_then(|opts| sim_read_dates(opts, &inputs));
    let evaluation = match read_at {
        Some(dates) => {
            let mut plan = plan.clone();
            plan.read_at = Some(dates);
            sandbox.evaluate_shared(&plan, &inputs)?
        }
        None => sandbox.evaluate_shared(plan, &inputs)?,
    };
    timings.sandbox_total = started.elapsed();
    timings.sandbox = evaluation.stages;
    Ok(evaluation)
}

/// How to order strategies on threads ([`crate::parallel::map_grouped`]): each one's estimated
/// cost (see [`crate::plan::estimated_cost`]), so the longest start first, and, when `sandbox`
/// keeps reused results, its affinity keys (see [`crate::plan::affinity_keys`]), so related ones
/// run in the same warm session. A strategy that does not check gets no keys and no cost.
/// Reads no data: a dataset's rows come from its catalog frequency, the rows `sim()` reads from
/// its `resample` rule (loading panels here would load them one after another, before the
/// threads that need them start).
pub fn schedule(
    sources: &[&str],
    sandbox: &Sandbox,
    ctx: &CheckContext,
) -> Vec<crate::parallel::Hint> {
    let reuse = sandbox.limits().reuse_budget() > 0;
    let catalog = crate::data::catalog::entries().unwrap_or_default();
    let rows = |key: &str| {
        let frequency = catalog
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.frequency.as_str());
        match frequency {
            Some("monthly") => 1.0 / 21.0,
            Some("quarterly") => 1.0 / 63.0,
            _ => 1.0,
        }
    };
    sources
        .iter()
        .map(|s| {
            let Some(program) = crate::dsl::compile(s, ctx).program else {
                return crate::parallel::Hint::default();
            };
            let lowered = lower(&program);
            crate::parallel::Hint {
                keys: if reuse {
                    crate::plan::affinity_keys(&lowered.plan)
                } else {
                    Vec::new()
                },
                cost: crate::plan::estimated_cost(
                    &lowered.plan,
                    rows,
                    read_share(&lowered.sim.options),
                ),
            }
        })
        .collect()
}

/// About the share of trading days `sim()` reads under `opts`' `resample` (1: every row): its
/// rebalance dates in ten calendar years over the ~2,500 trading days there.
fn read_share(opts: &SimOptions) -> f64 {
    match opts.resample {
        Resample::Every(freq) if !matches!(freq.rule, Rule::Days(_)) => {
            (freq.candidates(0, 3652).len() as f64 / 2500.0).min(1.0)
        }
        _ => 1.0,
    }
}

/// Checks, evaluates and backtests `source` on `data`.
pub fn backtest(
    source: &str,
    data: &DataDir,
    sandbox: &Sandbox,
) -> Result<Backtest, PipelineError> {
    backtest_in(source, data, sandbox, &check_context(data))
}

/// [`backtest`] with a checker context already built (the iterate loop and the bench).
pub fn backtest_in(
    source: &str,
    data: &DataDir,
    sandbox: &Sandbox,
    ctx: &CheckContext,
) -> Result<Backtest, PipelineError> {
    backtest_window(source, data, sandbox, ctx, Window::default())
}

/// [`backtest_in`] on the dates of `window` (`backtest --start/--end`): the position is
/// evaluated on the whole history, as finlab builds it before `position.loc[start:]`, then cut.
pub fn backtest_window(
    source: &str,
    data: &DataDir,
    sandbox: &Sandbox,
    ctx: &CheckContext,
    window: Window,
) -> Result<Backtest, PipelineError> {
    let mut ev = evaluate_rows(source, data, sandbox, ctx, true)?;
    window.apply(&mut ev.evaluation.position, &mut ev.lowered.sim.options)?;
    let (result, metrics) = simulate_timed(
        &ev.evaluation.position,
        data,
        &ev.lowered.sim.options,
        &mut ev.timings,
    )?;
    Ok(Backtest {
        lowered: ev.lowered,
        evaluation: ev.evaluation,
        result,
        metrics,
        warnings: ev.warnings,
        timings: ev.timings,
    })
}
