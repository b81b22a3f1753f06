//! One evaluation end to end: strategy text → diagnostics → plan → sandbox → backtest →
//! metrics. Used by `dsl-engine backtest` (and later by the iterate loop).

use dsl_runtime::wire::PanelData;

use crate::backtest::{price_keys, simulate, BacktestError, Market, SimOptions, SimResult};
use crate::data::{DataDir, DataError};
use crate::dsl::{compile, CheckContext, Diagnostic, PanelKind};
use crate::metrics::{score, Metrics};
use crate::plan::{lower, Lowered, Plan};
use crate::sandbox::{Evaluation, Sandbox, SandboxError};

/// The benchmark index for alpha and beta (finlab's key; a one-column panel).
pub const BENCHMARK: &str = "benchmark_return:發行量加權股價報酬指數";

/// Why a strategy could not be backtested.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("the strategy is invalid ({} error(s))", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Backtest(#[from] BacktestError),
}

/// Everything one backtest produced.
#[derive(Debug)]
pub struct Backtest {
    pub lowered: Lowered,
    pub evaluation: Evaluation,
    pub result: SimResult,
    pub metrics: Metrics,
    /// Warnings from the checker (the strategy ran).
    pub warnings: Vec<Diagnostic>,
}

/// The checker context without a data directory: the catalog's keys (and the reference data).
pub fn catalog_context() -> CheckContext {
    let mut keys = crate::data::catalog::keys();
    keys.push(crate::data::INDUSTRY_THEMES.to_string());
    CheckContext {
        datasets: Some(keys),
    }
}

/// The checker context for a data directory: its dataset keys.
pub fn check_context(data: &DataDir) -> CheckContext {
    let keys = data.keys().ok().filter(|k| !k.is_empty()).map(|mut k| {
        // Industry membership comes from the reference data, whatever the directory holds.
        k.push(crate::data::INDUSTRY_THEMES.to_string());
        k
    });
    CheckContext { datasets: keys }
}

/// Backtests a position panel on `data`: loads the adjusted prices `opts` needs and the
/// benchmark (when the data has one), simulates and scores.
pub fn simulate_on(
    position: &PanelData,
    data: &DataDir,
    opts: &SimOptions,
) -> Result<(SimResult, Metrics), PipelineError> {
    let keys = price_keys(opts);
    let load = |key: Option<&str>| key.map(|k| data.load(k)).transpose();
    let close = data.load(keys.close)?;
    let (open, high, low) = (load(keys.open)?, load(keys.high)?, load(keys.low)?);
    let market = Market {
        close: &close,
        open: open.as_ref(),
        high: high.as_ref(),
        low: low.as_ref(),
    };
    let result = simulate(position, &market, opts)?;
    // No benchmark in the data is fine (alpha/beta stay undefined); a broken one is an error.
    let benchmark: Option<Vec<(i32, f64)>> = match data.load(BENCHMARK) {
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
    let metrics = score(&result, benchmark.as_deref());
    Ok((result, metrics))
}

/// A strategy evaluated in the sandbox: its plan, the position panel and the checker's warnings.
#[derive(Debug)]
pub struct Evaluated {
    pub lowered: Lowered,
    /// Whether the position is a bool panel (its values are then 0/1).
    pub position_kind: PanelKind,
    pub evaluation: Evaluation,
    pub warnings: Vec<Diagnostic>,
}

/// The input panels of `plan`, loaded from `data` in the plan's order.
pub fn load_inputs(plan: &Plan, data: &DataDir) -> Result<Vec<PanelData>, DataError> {
    plan.inputs.iter().map(|k| data.load(k)).collect()
}

/// Checks `source` against `data`'s datasets, lowers it and evaluates the plan in the sandbox.
pub fn evaluate(
    source: &str,
    data: &DataDir,
    sandbox: &Sandbox,
) -> Result<Evaluated, PipelineError> {
    let checked = compile(source, &check_context(data));
    let Some(program) = checked.program else {
        return Err(PipelineError::Invalid(checked.diagnostics));
    };
    let lowered = lower(&program);
    let inputs = load_inputs(&lowered.plan, data)?;
    let refs: Vec<&PanelData> = inputs.iter().collect();
    let evaluation = sandbox.evaluate(&lowered.plan, &refs)?;
    Ok(Evaluated {
        lowered,
        position_kind: program.position_kind,
        evaluation,
        warnings: checked.diagnostics,
    })
}

/// Checks, evaluates and backtests `source` on `data`.
pub fn backtest(
    source: &str,
    data: &DataDir,
    sandbox: &Sandbox,
) -> Result<Backtest, PipelineError> {
    let ev = evaluate(source, data, sandbox)?;
    let (result, metrics) = simulate_on(&ev.evaluation.position, data, &ev.lowered.sim.options)?;
    Ok(Backtest {
        lowered: ev.lowered,
        evaluation: ev.evaluation,
        result,
        metrics,
        warnings: ev.warnings,
    })
}
