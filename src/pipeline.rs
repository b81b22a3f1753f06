//! One evaluation end to end: strategy text → diagnostics → plan → sandbox → backtest →
//! metrics. Used by `dsl-engine backtest` (and later by the iterate loop).

use dsl_runtime::wire::PanelData;

use crate::backtest::{simulate, BacktestError, Resample, SimOptions, SimResult, TW_FEE, TW_TAX};
use crate::data::{DataDir, DataError};
use crate::dsl::{compile, CheckContext, Diagnostic};
use crate::metrics::{score, Metrics};
use crate::plan::{lower, Lowered};
use crate::sandbox::{Evaluation, Sandbox, SandboxError};

/// The dataset `sim()` trades at (adjusted close, finlab's default `trade_at_price`).
pub const TRADE_PRICE: &str = "etl:adj_close";

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

/// The checker context for a data directory: its dataset keys.
pub fn check_context(data: &DataDir) -> CheckContext {
    CheckContext {
        datasets: data.keys().ok().filter(|k| !k.is_empty()),
    }
}

/// The `sim()` options of a lowered strategy.
pub fn sim_options(lowered: &Lowered) -> SimOptions {
    let s = &lowered.sim;
    SimOptions {
        // invariant: the checker only accepts resample values `Resample::parse` knows.
        resample: Resample::parse(s.resample.as_deref()).unwrap_or(Resample::None),
        fee_ratio: s.fee_ratio.unwrap_or(TW_FEE),
        tax_ratio: s.tax_ratio.unwrap_or(TW_TAX),
        position_limit: s.position_limit,
    }
}

/// Checks, evaluates and backtests `source` on `data`.
pub fn backtest(
    source: &str,
    data: &DataDir,
    sandbox: &Sandbox,
) -> Result<Backtest, PipelineError> {
    let checked = compile(source, &check_context(data));
    let Some(program) = checked.program else {
        return Err(PipelineError::Invalid(checked.diagnostics));
    };
    let lowered = lower(&program);
    let inputs: Vec<PanelData> = lowered
        .plan
        .inputs
        .iter()
        .map(|k| data.load(k))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&PanelData> = inputs.iter().collect();
    let evaluation = sandbox.evaluate(&lowered.plan, &refs)?;
    drop(inputs);
    let prices = data.load(TRADE_PRICE)?;
    let result = simulate(&evaluation.position, &prices, &sim_options(&lowered))?;
    let metrics = score(&result);
    Ok(Backtest {
        lowered,
        evaluation,
        result,
        metrics,
        warnings: checked.diagnostics,
    })
}
