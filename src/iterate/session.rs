//! A run from start to end, as a library call: [`Session::open`] takes a locked run directory,
//! checks what it holds against the ledger and records the settings; [`Session::run`] runs the
//! trials; [`Session::finish`] promotes a strategy, unseals the holdout once, assesses the run
//! and writes the summary and the exports. The CLI only parses flags and prints.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::config::RunConfig;
use super::ledger::{Trial, Unsealed, LEDGER_FILE};
use super::lock::RunLock;
use super::proposer::Proposer;
use super::returns::RETURNS_FILE;
use super::rigor::{assess, promote, Inputs, Verdict};
use super::run::{Ended, Reporter, RunSettings, Runner};
use super::split::Split;
use super::stop::Stop;
use super::summary::Summary;
use super::{clock, IterateError};
use crate::data::DataDir;
use crate::sandbox::Sandbox;

/// What happened to the sealed holdout.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum HoldoutState {
    /// The run has no holdout (`--holdout 0`).
    Off,
    /// Not looked at: the run has not finished its trials.
    Sealed { why: String },
    /// Scored once, for the promoted trial.
    Unsealed {
        trial: u32,
        at: String,
        /// False when a parent run had already unsealed it (a fork).
        independent: bool,
    },
}

/// An open run.
pub struct Session<'a> {
    pub runner: Runner<'a>,
    pub config: RunConfig,
    sessions: Vec<i32>,
    _lock: RunLock,
}

impl<'a> Session<'a> {
    /// Opens the run in `dir` (whose lock is `lock`): reads the ledger and the returns
    /// sidecar and checks them against each other, refuses to extend a run whose holdout was
    /// already unsealed, and writes `config` as `run.json`.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        dir: &Path,
        lock: RunLock,
        config: RunConfig,
        data: &'a DataDir,
        sandbox: &'a Sandbox,
        sessions: Vec<i32>,
        settings: RunSettings,
        stop: Stop,
    ) -> Result<Session<'a>, IterateError> {
        let split = Split::new(&sessions, config.validation_years, config.holdout_years);
        let mut runner = Runner::new(dir, data, sandbox, split, settings, stop)?;
        let cut = runner.returns.reconcile(&runner.ledger.trials)?;
        if cut > 0 {
            runner.log(
                &mut super::run::Silent,
                &format!(
                    "dropped {cut} daily-returns record(s) of a trial the ledger never recorded"
                ),
            );
        }
        let done = runner.ledger.trials.len() as u32;
        if let Some(u) = &runner.ledger.unsealed {
            if config.iterations > done {
                return Err(IterateError::Refused(format!(
                    "the holdout of the run in {} was unsealed at {} (trial #{}), after its {done} \
                     trial(s): searching further would choose with the holdout known. The run is \
                     complete (`dsl-engine report {}` shows it); to search on, start a new run \
                     or fork this one with `--fork NEW_DIR` (its holdout is then not independent)",
                    dir.display(),
                    u.at,
                    u.trial,
                    dir.display()
                )));
            }
        }
        config.save(dir)?;
        Ok(Session {
            runner,
            config,
            sessions,
            _lock: lock,
        })
    }

    /// The trials recorded so far.
    pub fn trials(&self) -> &[Trial] {
        &self.runner.ledger.trials
    }

    /// Runs trials until the run's total, a stop or a fatal proposer failure.
    pub fn run(
        &mut self,
        proposer: &mut dyn Proposer,
        reporter: &mut dyn Reporter,
    ) -> Result<Ended, IterateError> {
        self.runner.run(proposer, reporter)
    }

    /// Ends the run: promotes a trial, scores the sealed holdout for it once (only when every
    /// trial ran; the unsealing is recorded in the ledger and never repeated), assesses the
    /// run and writes `summary.json` and the exports.
    pub fn finish(
        &mut self,
        ended: &Ended,
        proposer: &dyn Proposer,
        banner: &str,
        elapsed_s: f64,
        reporter: &mut dyn Reporter,
    ) -> Result<Summary, IterateError> {
        let objective = self.runner.settings.objective;
        let split = self.runner.split;
        let (holdout_scores, state) = self.holdout(ended, reporter)?;
        let trials = self.runner.ledger.trials.clone();
        let mut rigor = assess(&Inputs {
            trials: &trials,
            series: &self.runner.returns.series,
            benchmark: self.runner.benchmark(),
            split: &split,
            sessions: &self.sessions,
            objective,
            holdout: holdout_scores,
        });
        if let HoldoutState::Sealed { why } = &state {
            if rigor.promoted.is_some() {
                rigor.verdict = Verdict {
                    passes: false,
                    text: format!("undecided: the holdout is still sealed ({why})"),
                };
            }
        }
        let stopped = match ended {
            Ended::Done => None,
            Ended::Interrupted => Some("interrupted (Ctrl-C or SIGTERM)".to_string()),
            Ended::Failed(m) => Some(m.clone()),
        };
        let mut summary = Summary::new(
            self.runner.dir(),
            proposer.name(),
            proposer.model(),
            objective,
            banner.to_string(),
            self.config.split.clone(),
            rigor,
            &trials,
            elapsed_s,
            stopped,
        );
        summary.holdout_state = state;
        summary.parent = self.config.parent.clone();
        let synthetic = self
            .runner
            .data
            .manifest
            .as_ref()
            .is_some_and(|m| m.synthetic);
        summary
            .warnings
            .extend(self.config.memory_warning(synthetic));
        if self.config.parent_holdout_unsealed {
            summary.warnings.push(
                "forked from a run whose holdout was already unsealed: the holdout is not an \
                 independent test"
                    .into(),
            );
        }
        summary.write(&trials, banner)?;
        Ok(summary)
    }

    /// The holdout's figures for the summary: recorded ones when it was unsealed before;
    /// scored now (and recorded) when the run has just completed; none while it is sealed.
    fn holdout(
        &mut self,
        ended: &Ended,
        reporter: &mut dyn Reporter,
    ) -> Result<(Option<super::ledger::Scores>, HoldoutState), IterateError> {
        let independent = !self.config.parent_holdout_unsealed;
        if let Some(u) = &self.runner.ledger.unsealed {
            let state = HoldoutState::Unsealed {
                trial: u.trial,
                at: u.at.clone(),
                independent,
            };
            return Ok((u.scores.clone(), state));
        }
        let split = &self.runner.split;
        if !split.has_holdout() {
            return Ok((None, HoldoutState::Off));
        }
        if *ended != Ended::Done {
            let why = "the run stopped before its last trial; resume it to finish".to_string();
            return Ok((None, HoldoutState::Sealed { why }));
        }
        let objective = self.runner.settings.objective;
        let trials = &self.runner.ledger.trials;
        let Some(t) = promote(trials, objective, split.has_validation()).cloned() else {
            let why = "no trial was promoted".to_string();
            return Ok((None, HoldoutState::Sealed { why }));
        };
        let line = format!("unsealing the holdout for promoted trial #{}", t.iteration);
        self.runner.log(reporter, &line);
        let (scores, error) = match self.runner.seal(&t) {
            Ok(s) => (s, None),
            Err(e) => {
                let line = format!("the holdout evaluation failed: {e}");
                self.runner.log(reporter, &line);
                (None, Some(e.to_string()))
            }
        };
        let event = Unsealed {
            event: Unsealed::EVENT.into(),
            trial: t.iteration,
            code_hash: t.code_hash.clone(),
            at: clock::now(),
            scores: scores.clone(),
            error,
        };
        self.runner.ledger.append_unsealed(&event)?;
        let state = HoldoutState::Unsealed {
            trial: t.iteration,
            at: event.at,
            independent,
        };
        Ok((scores, state))
    }
}

/// Copies the trials and daily returns of the run in `from` into the new run directory `to`
/// (which must not hold anything yet), for `--fork`. Returns whether the parent had unsealed
/// its holdout. The parent is locked while it is read.
pub fn fork_run(from: &Path, to: &Path) -> Result<bool, IterateError> {
    let _parent = RunLock::acquire(from)?;
    let io = |path: &Path| {
        let path: PathBuf = path.to_path_buf();
        move |source| IterateError::Io { path, source }
    };
    let occupied = std::fs::read_dir(to).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(IterateError::Refused(format!(
            "--fork {}: the directory is not empty; a fork starts a new run directory",
            to.display()
        )));
    }
    std::fs::create_dir_all(to).map_err(io(to))?;
    let ledger = from.join(LEDGER_FILE);
    let text = std::fs::read_to_string(&ledger).map_err(io(&ledger))?;
    let mut unsealed = false;
    let mut trials = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let is_event =
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.get("event").is_some());
        if is_event {
            unsealed = true;
        } else {
            trials.push_str(line);
        }
    }
    let dest = to.join(LEDGER_FILE);
    crate::util::fs::write_atomic(&dest, trials.as_bytes()).map_err(io(&dest))?;
    let returns = from.join(RETURNS_FILE);
    if returns.exists() {
        let dest = to.join(RETURNS_FILE);
        std::fs::copy(&returns, &dest).map_err(io(&dest))?;
    }
    Ok(unsealed)
}
