//! The end-of-run assessment (`docs/architecture.md` §7.4): promote one strategy on the
//! in-sample and validation windows, score it once on the sealed holdout (the caller does that:
//! [`super::Runner::seal`]), deflate its Sharpe by the size of the search and give a verdict in
//! plain words.
//!
//! - N counts every trial of the run — failed, rejected and redundant ones too — except
//!   duplicates, which were not run again and test nothing new.
//! - The Deflated Sharpe is computed on the window the promotion looked at (every session before
//!   the holdout; in-sample only when the validation window is off) from the trials' stored
//!   daily returns, with the cross-trial variance of their Sharpes on that window. Sharpes here
//!   are of raw daily returns (no risk-free rate), per day unless annualised.
//! - The PBO runs CSCV (16 blocks) over every evaluated trial's daily returns on all visible
//!   sessions (in-sample + validation; days before a trial's first position count as 0).

use std::collections::BTreeMap;

use serde::Serialize;

use super::ledger::{Scores, Status, Trial};
use super::objective::Objective;
use super::returns::aligned;
use super::split::{collapsed, Split};
use crate::stats::{self, Deflated, Moments, Pbo};

/// CSCV blocks.
pub const PBO_BLOCKS: usize = 16;
/// The DSR bar of the verdict.
pub const DSR_BAR: f64 = 0.95;
/// Trading days a year, for annualising.
const YEAR: f64 = 252.0;

/// Pass or fail, and why, in words.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub passes: bool,
    pub text: String,
}

/// The promoted strategy's figures and the run's overfitting statistics (`summary.json`).
#[derive(Clone, Debug, Serialize)]
pub struct Rigor {
    /// The promoted trial, by the objective on `selected_on`.
    pub promoted: Option<u32>,
    /// `validation` or `in-sample`.
    pub selected_on: String,
    pub in_sample: Option<Scores>,
    pub validation: Option<Scores>,
    /// The sealed holdout, scored once at the end for the promoted strategy.
    pub holdout: Option<Scores>,
    pub holdout_collapse: bool,
    /// N: trials that count as tests.
    pub trials_counted: usize,
    /// Cross-trial variance of per-day Sharpes on the selection window.
    pub sharpe_variance: Option<f64>,
    /// The promoted trial's annualised Sharpe on the selection window (raw returns).
    pub selection_sharpe: Option<f64>,
    pub deflated: Option<Deflated>,
    /// The expected best annual Sharpe of N zero-skill trials on that window.
    pub expected_max_sharpe: Option<f64>,
    /// The selection Sharpe after a Bonferroni correction for N tests (annual).
    pub haircut_sharpe: Option<f64>,
    /// Years of data needed so that N zero-skill trials are not expected to reach the
    /// promoted trial's in-sample annual Sharpe.
    pub min_backtest_years: Option<f64>,
    pub pbo: Option<Pbo>,
    /// Why no PBO (too few trials or days).
    pub pbo_note: Option<String>,
    pub verdict: Verdict,
}

/// The trial a run promotes: the accepted (`ok`) trial whose *worse* objective of the
/// in-sample and validation windows is best (in-sample alone when `on_validation` is false);
/// the earliest on ties.
///
/// Why the worse of the two, not validation alone: two years of validation measure a Sharpe
/// ratio to about ±0.7, so the best of dozens of trials on validation alone is mostly the
/// luckiest; asking for a strategy that held up both where the proposer looked and where it
/// never did rewards consistency. (On the default market, 5 `evolve` seeds × 40 trials: the
/// promoted strategy's holdout Sharpe was positive for 4 of 5 seeds by validation alone, 5 of 5
/// by this rule.)
pub fn promote(trials: &[Trial], objective: Objective, on_validation: bool) -> Option<&Trial> {
    let mut best: Option<(&Trial, f64)> = None;
    for t in trials.iter().filter(|t| t.is_ok()) {
        let value = |s: &Option<Scores>| s.as_ref().and_then(|s| objective.value(s));
        let v = if on_validation {
            match (value(&t.in_sample), value(&t.validation)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            }
        } else {
            value(&t.in_sample)
        };
        let Some(v) = v else {
            continue;
        };
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((t, v));
        }
    }
    best.map(|(t, _)| t)
}

/// Assesses a finished run. `series`: the sidecar's daily returns by iteration; `sessions`:
/// the calendar; `holdout`: the promoted trial's sealed-holdout scores.
pub fn assess(
    trials: &[Trial],
    series: &BTreeMap<u32, Vec<(i32, f64)>>,
    split: &Split,
    sessions: &[i32],
    objective: Objective,
    holdout: Option<Scores>,
) -> Rigor {
    let on_validation = split.has_validation();
    let promoted = promote(trials, objective, on_validation);
    let n = trials
        .iter()
        .filter(|t| t.status != Some(Status::Duplicate))
        .count();
    // The selection window: everything before the holdout (promotion looks at both windows).
    let (lo, hi) = if on_validation {
        (i32::MIN, split.validation_end)
    } else {
        (i32::MIN, split.in_sample_end)
    };
    let window = |it: u32| -> Vec<f64> {
        series.get(&it).map_or_else(Vec::new, |s| {
            s.iter()
                .filter(|p| p.0 > lo && p.0 <= hi)
                .map(|p| p.1)
                .collect()
        })
    };
    let evaluated: Vec<u32> = trials
        .iter()
        .filter(|t| t.status != Some(Status::Duplicate) && series.contains_key(&t.iteration))
        .map(|t| t.iteration)
        .collect();
    let sharpes: Vec<f64> = evaluated
        .iter()
        .filter_map(|&it| Moments::of(&window(it)).map(|m| m.sharpe))
        .collect();
    let sharpe_variance = stats::variance(&sharpes);
    let moments = promoted.and_then(|t| Moments::of(&window(t.iteration)));
    let deflated =
        moments.map(|m| stats::deflated_sharpe(&m, n as f64, sharpe_variance.unwrap_or(0.0)));
    let selection_sharpe = moments.map(|m| m.sharpe * YEAR.sqrt());
    let haircut_sharpe = moments.and_then(|m| {
        let years = m.n as f64 / YEAR;
        selection_sharpe.map(|s| stats::haircut_sharpe(s, years, n as f64))
    });
    let min_backtest_years = promoted
        .and_then(|t| t.in_sample.as_ref()?.sharpe)
        .filter(|s| *s > 0.0)
        .map(|s| stats::min_backtest_years(n as f64, s));

    let grid: Vec<i32> = sessions
        .iter()
        .copied()
        .filter(|&d| d <= split.validation_end)
        .collect();
    let matrix: Vec<Vec<f64>> = evaluated
        .iter()
        .filter_map(|it| series.get(it))
        .map(|s| aligned(s, &grid))
        .collect();
    let (pbo, pbo_note) = match stats::pbo(&matrix, PBO_BLOCKS) {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e.to_string())),
    };

    let in_sample = promoted.and_then(|t| t.in_sample.clone());
    let is_sharpe = in_sample.as_ref().and_then(|s| s.sharpe);
    let ho_sharpe = holdout.as_ref().and_then(|s| s.sharpe);
    let verdict = verdict(
        promoted.is_some(),
        deflated.map(|d| d.dsr),
        is_sharpe,
        ho_sharpe,
        split.has_holdout(),
    );
    Rigor {
        promoted: promoted.map(|t| t.iteration),
        selected_on: if on_validation {
            "the worse of in-sample and validation"
        } else {
            "in-sample"
        }
        .into(),
        in_sample,
        validation: promoted.and_then(|t| t.validation.clone()),
        holdout_collapse: collapsed(is_sharpe, ho_sharpe),
        holdout,
        trials_counted: n,
        sharpe_variance,
        selection_sharpe,
        expected_max_sharpe: sharpe_variance
            .map(|v| stats::expected_max_sharpe(n as f64, v) * YEAR.sqrt()),
        deflated,
        haircut_sharpe,
        min_backtest_years,
        pbo,
        pbo_note,
        verdict,
    }
}

/// "passes: DSR ≥ 0.95 and holdout Sharpe ≥ half of in-sample" or "fails: …".
pub fn verdict(
    promoted: bool,
    dsr: Option<f64>,
    in_sample_sharpe: Option<f64>,
    holdout_sharpe: Option<f64>,
    has_holdout: bool,
) -> Verdict {
    if !promoted {
        return Verdict {
            passes: false,
            text: "fails: no trial was accepted, so nothing was promoted".into(),
        };
    }
    let mut why = Vec::new();
    match dsr {
        Some(d) if d >= DSR_BAR => {}
        Some(d) => why.push(format!(
            "Deflated Sharpe {d:.2} < {DSR_BAR} (the result is within what luck gives for this many trials)"
        )),
        None => why.push("no Deflated Sharpe (too few returns)".into()),
    }
    if !has_holdout {
        why.push("no sealed holdout (--holdout 0)".into());
    } else {
        match (in_sample_sharpe, holdout_sharpe) {
            (Some(is), Some(ho)) if ho > 0.0 && ho >= 0.5 * is => {}
            (Some(is), Some(ho)) => why.push(format!(
                "holdout Sharpe {ho:.2} is not positive and at least half of in-sample {is:.2}"
            )),
            _ => why.push("no holdout Sharpe".into()),
        }
    }
    if why.is_empty() {
        Verdict {
            passes: true,
            text: format!(
                "passes: Deflated Sharpe ≥ {DSR_BAR} and holdout Sharpe ≥ half of in-sample"
            ),
        }
    } else {
        Verdict {
            passes: false,
            text: format!("fails: {}", why.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(i: u32, status: Status, is: f64, val: f64) -> Trial {
        let sc = |s: f64| Scores {
            sharpe: Some(s),
            ..Scores::default()
        };
        Trial {
            iteration: i,
            status: Some(status),
            in_sample: Some(sc(is)),
            validation: Some(sc(val)),
            ..Trial::default()
        }
    }

    #[test]
    fn promotion_takes_the_worse_window_among_accepted_trials() {
        let trials = vec![
            trial(1, Status::Ok, 2.0, 0.1),
            trial(2, Status::Ok, 1.0, 0.8),
            trial(3, Status::Redundant, 3.0, 3.0),
            // Best on validation alone, but weak where the proposer looked.
            trial(4, Status::Ok, 0.2, 1.5),
        ];
        assert_eq!(
            promote(&trials, Objective::Sharpe, true).unwrap().iteration,
            2
        );
        assert_eq!(
            promote(&trials, Objective::Sharpe, false)
                .unwrap()
                .iteration,
            1
        );
    }

    #[test]
    fn verdict_in_words() {
        let v = verdict(true, Some(0.97), Some(1.0), Some(0.6), true);
        assert!(v.passes && v.text.starts_with("passes"), "{v:?}");
        let v = verdict(true, Some(0.5), Some(1.0), Some(0.2), true);
        assert!(!v.passes && v.text.contains("Deflated Sharpe 0.50") && v.text.contains("holdout"));
        assert!(!verdict(true, Some(0.99), Some(1.0), None, false).passes);
        assert!(!verdict(false, None, None, None, true).passes);
    }

    /// A zero-edge search: 40 noise trials, the best on validation promoted; its DSR is low and
    /// the PBO is computed over all of them.
    #[test]
    fn a_zero_edge_run_fails_the_verdict() {
        let mut rng = stats::Normal::new(9);
        let sessions: Vec<i32> = (0..1000).collect();
        let split = Split {
            first: 0,
            in_sample_end: 499,
            validation_end: 749,
            last: 999,
        };
        let mut trials = Vec::new();
        let mut series = BTreeMap::new();
        for i in 1..=40u32 {
            let s: Vec<(i32, f64)> = (1..750).map(|d| (d, 0.01 * rng.sample())).collect();
            let sr = |a: i32, b: i32| {
                let r: Vec<f64> = s
                    .iter()
                    .filter(|p| p.0 > a && p.0 <= b)
                    .map(|p| p.1)
                    .collect();
                Moments::of(&r).map_or(0.0, |m| m.sharpe * 252f64.sqrt())
            };
            trials.push(trial(i, Status::Ok, sr(-1, 499), sr(499, 749)));
            series.insert(i, s);
        }
        trials.push(trial(41, Status::Duplicate, 0.0, 0.0));
        let r = assess(&trials, &series, &split, &sessions, Objective::Sharpe, None);
        assert_eq!(r.trials_counted, 40);
        assert!(r.deflated.unwrap().dsr < DSR_BAR, "{r:?}");
        let p = r.pbo.unwrap();
        assert_eq!((p.trials, p.splits), (40, 12_870));
        assert!(!r.verdict.passes);
    }
}
