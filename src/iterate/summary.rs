//! The end of a run: the split, the promoted trial (best on the worse of in-sample and
//! validation) with its in-sample,
//! validation and sealed-holdout figures, the Deflated Sharpe, PBO and verdict ([`Rigor`]),
//! counts, tokens and cost (`summary.json`), and the exports `best_strategy.strat` and
//! `best_strategy.py` (finlab Python) of the promoted strategy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ledger::{Scores, Status, Trial};
use super::rigor::Rigor;
use super::session::HoldoutState;
use super::split::SplitDates;
use super::IterateError;
use crate::dsl::parse;
use crate::export::{export, Provenance};

/// What "best" means.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    #[default]
    Sharpe,
    Cagr,
    Calmar,
    Sortino,
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Objective::Sharpe => "sharpe",
            Objective::Cagr => "cagr",
            Objective::Calmar => "calmar",
            Objective::Sortino => "sortino",
        })
    }
}

impl Objective {
    /// The objective in words.
    pub fn label(self) -> &'static str {
        match self {
            Objective::Sharpe => "Sharpe ratio",
            Objective::Cagr => "CAGR",
            Objective::Calmar => "Calmar ratio",
            Objective::Sortino => "Sortino ratio",
        }
    }

    /// The objective's value in `s` (`None` when undefined).
    pub fn value(self, s: &Scores) -> Option<f64> {
        match self {
            Objective::Sharpe => s.sharpe,
            Objective::Cagr => s.cagr,
            Objective::Calmar => s.calmar,
            Objective::Sortino => s.sortino,
        }
    }
}

/// The best accepted trial by the in-sample objective (the earliest on ties): what the proposer
/// is told; the run *promotes* on the worse of in-sample and validation
/// ([`super::rigor::promote`]).
pub fn best(trials: &[Trial], objective: Objective) -> Option<&Trial> {
    let mut best: Option<(&Trial, f64)> = None;
    for t in trials.iter().filter(|t| t.is_ok()) {
        let Some(v) = t.in_sample.as_ref().and_then(|s| objective.value(s)) else {
            continue;
        };
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((t, v));
        }
    }
    best.map(|(t, _)| t)
}

/// `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub run_dir: PathBuf,
    pub proposer: String,
    pub model: Option<String>,
    pub objective: Objective,
    pub data: String,
    /// The in-sample / validation / sealed-holdout windows.
    pub split: SplitDates,
    pub trials: usize,
    /// Trials per status.
    pub status: BTreeMap<String, usize>,
    /// The promoted trial's code hash and note.
    pub promoted_code_hash: Option<String>,
    pub promoted_note: Option<String>,
    /// The promoted trial's three windows, Deflated Sharpe, PBO and the verdict.
    pub rigor: Rigor,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: Option<f64>,
    pub elapsed_s: f64,
    /// The run ended before its iterations (Ctrl-C, a fatal endpoint error, ...).
    pub stopped: Option<String>,
    /// Whether the sealed holdout was scored (once, for the promoted trial) or is still sealed.
    pub holdout_state: HoldoutState,
    /// The run this one was forked from.
    pub parent: Option<PathBuf>,
    pub files: Vec<PathBuf>,
}

impl Summary {
    /// Summarizes `trials`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        run_dir: &Path,
        proposer: &str,
        model: Option<String>,
        objective: Objective,
        data: String,
        split: SplitDates,
        rigor: Rigor,
        trials: &[Trial],
        elapsed_s: f64,
        stopped: Option<String>,
    ) -> Summary {
        let mut status = BTreeMap::new();
        for s in [
            Status::Ok,
            Status::Fallback,
            Status::EvalError,
            Status::LlmError,
            Status::Duplicate,
            Status::Redundant,
            Status::Rejected,
        ] {
            status.insert(s.as_str().to_string(), 0);
        }
        for t in trials {
            if let Some(s) = t.status {
                *status.entry(s.as_str().to_string()).or_insert(0) += 1;
            }
        }
        let cost = trials
            .iter()
            .filter_map(|t| t.cost_usd)
            .fold(None, |a: Option<f64>, c| Some(a.unwrap_or(0.0) + c));
        Summary {
            run_dir: run_dir.to_path_buf(),
            proposer: proposer.into(),
            model,
            objective,
            data,
            split,
            trials: trials.len(),
            status,
            promoted_code_hash: promoted(trials, &rigor).and_then(|t| t.code_hash.clone()),
            promoted_note: promoted(trials, &rigor).and_then(|t| t.note.clone()),
            rigor,
            prompt_tokens: trials.iter().map(|t| t.tokens.prompt_tokens).sum(),
            completion_tokens: trials.iter().map(|t| t.tokens.completion_tokens).sum(),
            cost_usd: cost,
            elapsed_s,
            stopped,
            holdout_state: HoldoutState::Off,
            parent: None,
            files: Vec::new(),
        }
    }

    /// Writes `best_strategy.strat`, `best_strategy.py` (when a trial was promoted) and
    /// `summary.json` into the run directory; records them in `files`.
    pub fn write(&mut self, trials: &[Trial], banner: &str) -> Result<(), IterateError> {
        let write = |name: &str, text: &str| -> Result<PathBuf, IterateError> {
            let path = self.run_dir.join(name);
            crate::util::fs::write_atomic(&path, text.as_bytes()).map_err(|source| {
                IterateError::Io {
                    path: path.clone(),
                    source,
                }
            })?;
            Ok(path)
        };
        let mut files = Vec::new();
        if let Some(t) = promoted(trials, &self.rigor) {
            let code = t.code.as_deref().unwrap_or_default();
            let body: String = code
                .lines()
                .filter(|l| !l.starts_with("# evolve #"))
                .map(|l| format!("{l}\n"))
                .collect();
            let fig = |s: &Option<Scores>| {
                s.as_ref()
                    .map_or("n/a".to_string(), super::prompts::scores_line)
            };
            let span = |s: &Option<Scores>| {
                s.as_ref()
                    .map_or(String::new(), |s| format!("{} → {}", s.start, s.end))
            };
            let r = &self.rigor;
            let header = format!(
                "# Promoted from {} trials in {} (trial #{}, by {} {}).\n\
                 # In-sample {}: {}\n# Validation {}: {}\n# Sealed holdout {}: {}\n\
                 # Deflated Sharpe {} over N = {}; PBO {}.\n# Verdict: {}\n",
                trials.len(),
                self.run_dir.display(),
                t.iteration,
                r.selected_on,
                self.objective.label(),
                span(&r.in_sample),
                fig(&r.in_sample),
                span(&r.validation),
                fig(&r.validation),
                span(&r.holdout),
                fig(&r.holdout),
                r.deflated.map_or("n/a".into(), |d| format!("{:.3}", d.dsr)),
                r.trials_counted,
                r.pbo
                    .as_ref()
                    .map_or("n/a".into(), |p| format!("{:.2}", p.pbo)),
                r.verdict.text,
            );
            let strat = format!("{header}{body}");
            files.push(write("best_strategy.strat", &strat)?);
            // invariant-free: a best trial ran, so its code parses; still, never panic on it.
            if let Ok(program) = parse(&strat) {
                let py = export(
                    &program,
                    &strat,
                    &Provenance {
                        source_name: "best_strategy.strat".into(),
                        data: Some(banner.to_string()),
                        metrics: None,
                    },
                );
                files.push(write("best_strategy.py", &py)?);
            }
        }
        files.push(self.run_dir.join("summary.json"));
        self.files = files;
        let json = serde_json::to_string_pretty(&self).map_err(|e| IterateError::Io {
            path: self.run_dir.join("summary.json"),
            source: std::io::Error::other(e),
        })?;
        write("summary.json", &format!("{json}\n"))?;
        Ok(())
    }
}

/// The promoted trial of `trials`.
fn promoted<'a>(trials: &'a [Trial], rigor: &Rigor) -> Option<&'a Trial> {
    let it = rigor.promoted?;
    trials.iter().find(|t| t.iteration == it)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(i: u32, status: Status, sharpe: Option<f64>, cagr: Option<f64>) -> Trial {
        Trial {
            iteration: i,
            status: Some(status),
            in_sample: Some(Scores {
                sharpe,
                cagr,
                ..Scores::default()
            }),
            ..Trial::default()
        }
    }

    #[test]
    fn best_uses_the_objective_and_skips_fallbacks() {
        let trials = vec![
            t(1, Status::Ok, Some(0.5), Some(0.30)),
            t(2, Status::Fallback, Some(3.0), Some(0.9)),
            t(3, Status::Ok, Some(1.5), Some(0.10)),
            t(4, Status::Ok, None, Some(0.2)),
            t(5, Status::Ok, Some(1.5), Some(0.05)),
        ];
        assert_eq!(best(&trials, Objective::Sharpe).unwrap().iteration, 3);
        assert_eq!(best(&trials, Objective::Cagr).unwrap().iteration, 1);
        assert!(best(&trials[1..2], Objective::Sharpe).is_none());
    }
}
