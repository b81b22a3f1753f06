//! The loop: one trial per iteration, each appended to the ledger before the next starts.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod prepare;

use super::evaluate::{Computed, Evaluator, Failure, Figures, Local, Task};
use super::gates::Gates;
use super::ledger::{Ledger, Scores, Status, Trial};
use super::objective::{best, Objective};
use super::proposer::{CallStats, ProposeContext, Proposer};
use super::returns::Returns;
use super::split::Split;
use super::stop::Stop;
use super::{clock, IterateError};
use crate::data::{DataDir, DataError};
use crate::dsl::CheckContext;
use crate::pipeline::{self, PipelineError};
use crate::sandbox::Sandbox;
use prepare::Prepared;

/// Consecutive model failures after which the run stops.
const MAX_LLM_FAILURES: u32 = 3;

/// What the loop reports as it goes (the CLI draws a progress bar; tests use a no-op).
pub trait Reporter {
    /// Trial `iteration` of `total` starts.
    fn started(&mut self, _iteration: u32, _total: u32) {}
    /// A trial finished and was written to the ledger.
    fn finished(&mut self, _trial: &Trial, _best: Option<&Trial>) {}
    /// A line of log (also written to `run.log`).
    fn log(&mut self, _line: &str) {}
    /// How the evaluation of a round stands, while it waits (e.g. workers and queue depth).
    fn status(&mut self, _line: &str) {}
}

/// A reporter that reports nothing.
pub struct Silent;
impl Reporter for Silent {}

/// How the loop runs.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// Total trials of the run (a resumed run continues up to this number).
    pub iterations: u32,
    pub objective: Objective,
    /// Repair rounds before the fallback.
    pub max_repairs: u32,
    /// Novelty and quality gates.
    pub gates: Gates,
    /// Trials evaluated in parallel (sandbox and backtest); the ledger does not depend on it.
    pub jobs: usize,
}

/// Why the loop ended early.
#[derive(Clone, Debug, PartialEq)]
pub enum Ended {
    /// All iterations ran.
    Done,
    Interrupted,
    /// The endpoint refused the key or request, or failed too often, or the search ran dry.
    Failed(String),
}

/// A run in a directory: data, sandbox, split, ledger and log.
pub struct Runner<'a> {
    pub data: &'a DataDir,
    pub sandbox: &'a Sandbox,
    pub ctx: CheckContext,
    pub split: Split,
    pub settings: RunSettings,
    pub ledger: Ledger,
    /// The daily-returns sidecar (visible windows only).
    pub returns: Returns,
    /// The benchmark's daily returns by date, for active-return correlations.
    benchmark: Option<BTreeMap<i32, f64>>,
    pub stop: Stop,
    /// Who evaluates the rounds (this process by default; see [`Runner::set_evaluator`]).
    evaluator: Box<dyn Evaluator + 'a>,
    log: File,
    dir: PathBuf,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

impl<'a> Runner<'a> {
    /// Opens (or creates) `dir` with its ledger and log.
    pub fn new(
        dir: &Path,
        data: &'a DataDir,
        sandbox: &'a Sandbox,
        split: Split,
        settings: RunSettings,
        stop: Stop,
    ) -> Result<Runner<'a>, IterateError> {
        std::fs::create_dir_all(dir).map_err(|source| IterateError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let ledger = Ledger::open(dir)?;
        let returns = Returns::open(dir)?;
        let benchmark = match data.shared(pipeline::BENCHMARK) {
            Ok(b) if !b.columns.is_empty() => {
                let col = b.column(0);
                Some(
                    b.dates
                        .windows(2)
                        .zip(col.windows(2))
                        .filter(|(_, v)| v[0] != 0.0 && v[0].is_finite() && v[1].is_finite())
                        .map(|(d, v)| (d[1], v[1] / v[0] - 1.0))
                        .collect(),
                )
            }
            Ok(_) | Err(DataError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let log_path = dir.join("run.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| IterateError::Io {
                path: log_path,
                source,
            })?;
        let ctx = pipeline::check_context(data);
        let evaluator = Box::new(Local {
            data,
            sandbox,
            ctx: ctx.clone(),
            jobs: settings.jobs.max(1),
        });
        Ok(Runner {
            data,
            sandbox,
            ctx,
            split,
            settings,
            ledger,
            returns,
            benchmark,
            stop,
            evaluator,
            log,
            dir: dir.to_path_buf(),
        })
    }

    /// Evaluates the rounds with `evaluator` instead of on this process's threads (gates,
    /// ledger and summary stay here).
    pub fn set_evaluator(&mut self, evaluator: Box<dyn Evaluator + 'a>) {
        self.evaluator = evaluator;
    }

    /// The benchmark's daily returns by date, when the data has a benchmark.
    pub fn benchmark(&self) -> Option<&BTreeMap<i32, f64>> {
        self.benchmark.as_ref()
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a line to `run.log` (timestamped) and to the reporter.
    pub fn log(&mut self, reporter: &mut dyn Reporter, line: &str) {
        // A failing log write must not end the run; the ledger is the record.
        let _ = writeln!(self.log, "{} {line}", clock::now());
        reporter.log(line);
    }

    /// Runs trials until the ledger holds `settings.iterations`, a stop is requested or the
    /// proposer fails for good. Earlier ledger trials are shown to the proposer first.
    ///
    /// Trials go in rounds of [`Proposer::batch`]: every proposal of a round sees the same
    /// history (the trials of earlier rounds); the round's strategies are then evaluated on
    /// `settings.jobs` threads, and gated, logged and appended in iteration order. Round
    /// boundaries are fixed iteration numbers, so a run's ledger is the same whatever `jobs`
    /// is, and a resumed run replays the proposals of a cut round before continuing it.
    pub fn run(
        &mut self,
        proposer: &mut dyn Proposer,
        reporter: &mut dyn Reporter,
    ) -> Result<Ended, IterateError> {
        let objective = self.settings.objective;
        let jobs = self.settings.jobs.max(1);
        let size = proposer.batch(jobs as u32).max(1);
        let round_start = |i: u32| (i - 1) / size * size + 1;
        let first = self.next_iteration();
        // Trials of a cut round are observed when the round completes, as they would have been.
        for t in &self.ledger.trials {
            if t.iteration < round_start(first) {
                proposer.observe(t, objective);
            }
        }
        let mut llm_failures = 0;
        loop {
            let next = self.next_iteration();
            if next > self.settings.iterations {
                return Ok(Ended::Done);
            }
            if self.stop.is_requested() {
                return Ok(Ended::Interrupted);
            }
            let start = round_start(next);
            let end = (start + size - 1).min(self.settings.iterations);
            let history: Vec<Trial> = self
                .ledger
                .trials
                .iter()
                .filter(|t| t.iteration < start)
                .cloned()
                .collect();
            if proposer.replays() {
                for it in start..next {
                    let _ = proposer.propose(&self.context(it, &history));
                }
            }

            let (round, mut ended) = self.propose_round(next..=end, proposer, reporter, &history);
            let computed = self.evaluate_round(&round, reporter)?;

            // Gate, record and report (sequential, in iteration order).
            let mut finished = Vec::with_capacity(round.len());
            for (p, c) in round.into_iter().zip(computed) {
                let (trial, fatal) = self.finish(p, c)?;
                self.ledger.append(&trial)?;
                let line = trial_line(&trial);
                self.log(reporter, &line);
                reporter.finished(&trial, best(&self.ledger.trials, objective));
                if trial.status == Some(Status::LlmError) {
                    llm_failures += 1;
                    if fatal {
                        ended = Some(Ended::Failed(trial.error.clone().unwrap_or_default()));
                    } else if llm_failures >= MAX_LLM_FAILURES {
                        ended = Some(Ended::Failed(format!(
                            "{llm_failures} model calls in a row failed; last: {}",
                            trial.error.as_deref().unwrap_or("?")
                        )));
                    }
                } else {
                    llm_failures = 0;
                }
                finished.push(trial);
            }
            // One fsync a file for the round: the returns before the ledger lines that need them.
            self.returns.sync()?;
            self.ledger.commit()?;
            // The round is complete (or the run ends): the proposer learns from all of it.
            let upto = finished.last().map_or(next, |t| t.iteration);
            if upto >= end || ended.is_some() {
                for t in self
                    .ledger
                    .trials
                    .iter()
                    .filter(|t| t.iteration >= start && t.iteration <= upto)
                {
                    proposer.observe(t, objective);
                }
            }
            if let Some(e) = ended {
                return Ok(e);
            }
        }
    }

    /// Proposes the trials `its` of one round in order (a proposer has state). Stops early on
    /// a stop request, a model failure (recorded as a trial) or an exhausted search.
    fn propose_round(
        &mut self,
        its: std::ops::RangeInclusive<u32>,
        proposer: &mut dyn Proposer,
        reporter: &mut dyn Reporter,
        history: &[Trial],
    ) -> (Vec<Prepared>, Option<Ended>) {
        let mut round: Vec<Prepared> = Vec::new();
        for it in its {
            if self.stop.is_requested() {
                return (round, Some(Ended::Interrupted));
            }
            reporter.started(it, self.settings.iterations);
            match self.prepare(it, proposer, reporter, history, &round) {
                Ok(p) => {
                    let llm_error = p.trial.status == Some(Status::LlmError);
                    if llm_error && self.stop.is_requested() {
                        // The request was abandoned for Ctrl-C: not a trial.
                        return (round, Some(Ended::Interrupted));
                    }
                    round.push(p);
                    if llm_error {
                        // Let the failure count decide after it is recorded.
                        break;
                    }
                }
                Err(e) => return (round, Some(Ended::Failed(e.to_string()))),
            }
        }
        (round, None)
    }

    /// Evaluates the round's runnable trials (pure functions of the code and the data: on
    /// threads or on workers); `None` for trials that do not run.
    fn evaluate_round(
        &mut self,
        round: &[Prepared],
        reporter: &mut dyn Reporter,
    ) -> Result<Vec<Option<Computed>>, IterateError> {
        let tasks: Vec<Task> = round
            .iter()
            .filter_map(|p| {
                let code = p.run.clone()?;
                Some(Task {
                    iteration: p.trial.iteration,
                    code,
                })
            })
            .collect();
        let mut results = self
            .evaluator
            .evaluate(tasks, &self.split, reporter)?
            .into_iter();
        Ok(round
            .iter()
            .map(|p| p.run.as_ref().and_then(|_| results.next()))
            .collect())
    }

    /// The iteration after the last one in the ledger.
    fn next_iteration(&self) -> u32 {
        self.ledger
            .trials
            .iter()
            .map(|t| t.iteration)
            .max()
            .unwrap_or(0)
            + 1
    }

    fn context<'h>(&self, iteration: u32, history: &'h [Trial]) -> ProposeContext<'h> {
        ProposeContext {
            iteration,
            iterations: self.settings.iterations,
            history,
            best: best(history, self.settings.objective),
            objective: self.settings.objective,
        }
    }

    /// Records a prepared trial: its evaluation's split scores, gates and feedback (when it
    /// ran), stats and times. Returns the trial and whether its model error ends the run.
    fn finish(
        &mut self,
        p: Prepared,
        computed: Option<Computed>,
    ) -> Result<(Trial, bool), IterateError> {
        let Prepared {
            trial: mut t,
            mut durations,
            stats,
            start,
            fatal,
            ..
        } = p;
        if t.status == Some(Status::LlmError) {
            return Ok((t, fatal));
        }
        if let Some(c) = computed {
            durations.sandbox_ms = c.sandbox_ms;
            durations.backtest_ms = c.backtest_ms;
            t.fuel_used = c.sandbox.map(|f| f.fuel_used);
            t.fuel_limit = c.sandbox.map(|f| f.fuel_limit);
            t.peak_memory_bytes = c.sandbox.map(|f| f.peak_memory);
            t.worker = c.worker;
            self.record(&mut t, c.result)?;
        }
        durations.total_ms = ms(start);
        t.durations = durations;
        apply_stats(&mut t, &stats);
        t.finished_at = clock::now();
        Ok((t, false))
    }

    /// Gates and feedback of an evaluated trial, from its figures (or its failure).
    fn record(
        &mut self,
        t: &mut Trial,
        result: Result<Figures, Failure>,
    ) -> Result<(), IterateError> {
        let prefix = if t.status == Some(Status::Fallback) {
            format!(
                "Your proposal was still invalid after {} repair round(s) ({}), so the template \
                 RSI strategy ran instead; these figures are the template's. ",
                t.repairs,
                t.diagnostics.first().map_or("no code", String::as_str)
            )
        } else {
            String::new()
        };
        match result {
            Ok(f) => {
                let gate = if t.status == Some(Status::Ok) {
                    self.gate(&f.in_sample, &f.series)
                } else {
                    None
                };
                let verdict = match &gate {
                    Some((status, why)) => {
                        t.status = Some(*status);
                        t.gate = Some(why.clone());
                        format!(
                            "{}: {why}. It does not count as a new accepted strategy. ",
                            if *status == Status::Redundant {
                                "Redundant"
                            } else {
                                "Rejected"
                            }
                        )
                    }
                    None => String::new(),
                };
                t.feedback = format!("{prefix}{verdict}{}", f.feedback);
                t.in_sample = Some(f.in_sample);
                t.validation = f.validation;
                self.returns
                    .append(t.iteration, t.code_hash.as_deref(), &f.series)?;
            }
            Err(e) => {
                if t.status == Some(Status::Fallback) {
                    t.note = Some(format!(
                        "{}the fallback template failed too",
                        t.note
                            .as_deref()
                            .map_or(String::new(), |n| format!("{n}; "))
                    ));
                }
                t.status = Some(Status::EvalError);
                t.error = Some(e.error);
                t.feedback = format!("{prefix}{}", e.feedback);
                if let Some(d) = e.diagnostics {
                    t.diagnostics = d;
                }
            }
        }
        Ok(())
    }

    /// The quality gate, then the redundancy gate against the accepted trials.
    fn gate(&self, is: &Scores, series: &[(i32, f64)]) -> Option<(Status, String)> {
        let g = &self.settings.gates;
        if let Some(why) = g.quality(is) {
            return Some((Status::Rejected, why));
        }
        let accepted = self
            .ledger
            .trials
            .iter()
            .filter(|t| t.is_ok())
            .filter_map(|t| {
                Some((
                    t.iteration,
                    self.returns.series.get(&t.iteration)?.as_slice(),
                ))
            });
        g.redundant_with(series, accepted, self.benchmark.as_ref())
            .map(|(it, c)| {
                (
                    Status::Redundant,
                    format!(
                        "its daily active returns correlate {c:.2} with accepted trial #{it} \
                         (the limit is {:.2}); change the idea, not the parameters",
                        g.max_correlation
                    ),
                )
            })
    }

    /// Scores `trial` once on the sealed holdout: run it again over all the data and keep only
    /// the holdout window. Call it for the promoted strategy, at the end.
    pub fn seal(&self, trial: &Trial) -> Result<Option<Scores>, PipelineError> {
        let Some(code) = trial.code.as_deref() else {
            return Ok(None);
        };
        let ev = pipeline::evaluate(code, self.data, self.sandbox)?;
        let (res, _) =
            pipeline::simulate_on(&ev.evaluation.position, self.data, &ev.lowered.sim.options)?;
        Ok(self.split.holdout(&res))
    }
}

fn apply_stats(t: &mut Trial, s: &CallStats) {
    t.llm_calls = s.calls;
    t.llm_attempts = s.attempts;
    t.llm_retries = s.retries.clone();
    t.llm_call_log = s.log.clone();
    t.tokens = s.tokens;
    t.cost_usd = s.cost;
}

/// The run log's line for a recorded trial.
fn trial_line(trial: &Trial) -> String {
    format!(
        "trial {} {} code {}{}{}",
        trial.iteration,
        trial.status.map_or("?", |s| s.as_str()),
        trial.code_hash.as_deref().unwrap_or("-"),
        trial.in_sample.as_ref().map_or(String::new(), |s| format!(
            " — {}",
            super::prompts::scores_line(s)
        )),
        trial
            .error
            .as_deref()
            .map_or(String::new(), |e| format!(" — error: {e}"))
    )
}
