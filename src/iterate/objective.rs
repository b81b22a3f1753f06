//! What "best" means: the objective a run optimises, and the best accepted trial by it.

use serde::Serialize;

use super::ledger::{Scores, Trial};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iterate::Status;

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
