//! Evaluating a round's trials: what the loop needs from one evaluation ([`Computed`]: the
//! figures per window, the feedback on them and the daily returns, or the failure in words),
//! and who computes it ([`Evaluator`]): this process on `--jobs` threads ([`Local`]), or
//! workers elsewhere (`crate::scale`). Either way the loop gates, records and reports the
//! results itself, in iteration order, so the ledger does not depend on who evaluated.

use serde::{Deserialize, Serialize};

use super::feedback;
use super::ledger::Scores;
use super::split::Split;
use super::IterateError;
use crate::backtest::SimResult;
use crate::data::DataDir;
use crate::dsl::{render_compact, CheckContext};
use crate::pipeline::{self, PipelineError};
use crate::sandbox::Sandbox;

/// One trial to evaluate: its iteration and its (checked) code.
#[derive(Clone, Debug)]
pub struct Task {
    pub iteration: u32,
    pub code: String,
}

/// What evaluating a trial's code gave.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Computed {
    pub result: Result<Figures, Failure>,
    pub sandbox_ms: f64,
    pub backtest_ms: f64,
    /// What the sandbox used, when it ran.
    pub sandbox: Option<SandboxFigures>,
    /// Who evaluated it, when not this process (a worker's name).
    pub worker: Option<String>,
}

/// What the loop reads from a backtest: the in-sample and validation scores, the feedback on
/// the in-sample window and the daily returns it may store (never the holdout's).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figures {
    pub in_sample: Scores,
    pub validation: Option<Scores>,
    /// [`feedback::success`] on the in-sample scores and curve.
    pub feedback: String,
    /// [`Split::visible_returns`].
    pub series: Vec<(i32, f64)>,
}

impl Figures {
    /// The figures of a backtest under `split`.
    pub fn of(res: &SimResult, split: &Split) -> Figures {
        let in_sample = split.in_sample(res);
        let cut = split.in_sample_end;
        let curve: Vec<(i32, f64)> = res.creturn.iter().copied().filter(|p| p.0 <= cut).collect();
        Figures {
            feedback: feedback::success(&in_sample, &curve),
            validation: split.validation(res),
            series: split.visible_returns(res),
            in_sample,
        }
    }
}

/// A failed evaluation in words, as the ledger and the proposer get it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The error's message.
    pub error: String,
    /// [`feedback::failure`]: the error, the likely cause and a fix.
    pub feedback: String,
    /// The checker's diagnostics, one compact line each, when the checker refused the code.
    pub diagnostics: Option<Vec<String>>,
}

impl Failure {
    /// The failure of `code`'s evaluation.
    pub fn of(e: &PipelineError, code: &str) -> Failure {
        let diagnostics = match e {
            PipelineError::Invalid(d) => Some(
                render_compact(d, code, "strategy.py")
                    .lines()
                    .map(str::to_string)
                    .collect(),
            ),
            _ => None,
        };
        Failure {
            error: e.to_string(),
            feedback: feedback::failure(e),
            diagnostics,
        }
    }
}

/// What one sandboxed evaluation used.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct SandboxFigures {
    pub fuel_used: u64,
    pub fuel_limit: u64,
    /// Peak guest memory, in bytes.
    pub peak_memory: u64,
}

/// Evaluates the trials of a round.
pub trait Evaluator {
    /// One result per task, in the order of `tasks`. An error stops the run (the evaluator
    /// itself failed, not a strategy: a strategy's failure is a [`Failure`]).
    fn evaluate(
        &mut self,
        tasks: Vec<Task>,
        split: &Split,
        reporter: &mut dyn super::Reporter,
    ) -> Result<Vec<Computed>, IterateError>;
}

/// Evaluation in this process, the round's trials on up to `jobs` threads.
pub struct Local<'a> {
    pub data: &'a DataDir,
    pub sandbox: &'a Sandbox,
    pub ctx: CheckContext,
    pub jobs: usize,
}

impl Evaluator for Local<'_> {
    fn evaluate(
        &mut self,
        tasks: Vec<Task>,
        split: &Split,
        _reporter: &mut dyn super::Reporter,
    ) -> Result<Vec<Computed>, IterateError> {
        let (data, sandbox, ctx) = (self.data, self.sandbox, &self.ctx);
        let codes: Vec<&str> = tasks.iter().map(|t| t.code.as_str()).collect();
        let hints = pipeline::schedule(&codes, sandbox, ctx);
        Ok(crate::parallel::map_grouped(
            tasks,
            &hints,
            self.jobs,
            |t| compute(&t.code, data, sandbox, ctx, split),
        ))
    }
}

/// Sandbox and backtest of `code` (already checked): a pure function of the code and the data,
/// so trials of a round can run on several threads.
pub fn compute(
    code: &str,
    data: &DataDir,
    sandbox: &Sandbox,
    ctx: &CheckContext,
    split: &Split,
) -> Computed {
    match pipeline::backtest_in(code, data, sandbox, ctx) {
        Ok(bt) => Computed {
            sandbox_ms: bt.timings.evaluation().as_secs_f64() * 1000.0,
            backtest_ms: (bt.timings.backtest + bt.timings.metrics).as_secs_f64() * 1000.0,
            sandbox: Some(SandboxFigures {
                fuel_used: bt.evaluation.fuel_used,
                fuel_limit: bt.evaluation.fuel_limit,
                peak_memory: bt.evaluation.peak_memory as u64,
            }),
            result: Ok(Figures::of(&bt.result, split)),
            worker: None,
        },
        Err(e) => Computed {
            result: Err(Failure::of(&e, code)),
            sandbox_ms: 0.0,
            backtest_ms: 0.0,
            sandbox: None,
            worker: None,
        },
    }
}
