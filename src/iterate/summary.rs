//! The end of a run: the split, the promoted trial (best on the worse of in-sample and
//! validation) with its in-sample,
//! validation and sealed-holdout figures, the Deflated Sharpe, PBO and verdict ([`Rigor`]),
//! counts, tokens and cost (`summary.json`), and the exports `best_strategy.strat` and
//! `best_strategy.py` (finlab Python) of the promoted strategy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ledger::{Scores, Status, Trial};
use super::objective::Objective;
use super::rigor::Rigor;
use super::session::HoldoutState;
use super::split::SplitDates;
use super::IterateError;
use crate::dsl::parse;
use crate::export::{export, Provenance};

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
    /// What a reader must know before trusting the verdict (a model that may have seen the
    /// holdout, a holdout that is not independent).
    pub warnings: Vec<String>,
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
            warnings: Vec::new(),
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
            let mut header = format!(
                "# Promoted from {} trials in {} (trial #{}, by {} {}).\n\
                 # In-sample {}: {}\n# Validation {}: {}\n# Sealed holdout {}: {}\n",
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
            );
            for line in r.explain() {
                header.push_str(&format!("# {line}\n"));
            }
            header.push_str(&format!("# Verdict: {}\n", r.verdict.text));
            for w in &self.warnings {
                header.push_str(&format!("# Warning: {w}\n"));
            }
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
                        notes: std::iter::once(format!(
                            "promoted trial #{} of {}",
                            t.iteration,
                            self.run_dir.display()
                        ))
                        .chain(r.explain())
                        .chain([format!("verdict: {}", r.verdict.text)])
                        .chain(self.warnings.iter().map(|w| format!("warning: {w}")))
                        .collect(),
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
