//! The run's statistics (summary.json's `rigor`) as labelled figures, each with a one-line
//! meaning; fields this version does not know are listed under their names.

use serde_json::Value;

use super::super::data_info::thousands;
use super::super::{fixed, pct};
use super::model::{flatten, fmt0, fmt2, label, scalar, Figure};

/// A statistic of `rigor`: JSON pointer, label, format, meaning.
type StatSpec = (&'static str, &'static str, fn(f64) -> String, &'static str);

/// The run's statistics (summary.json's `rigor`), each with what it means; fields this version
/// does not know are listed with their names.
pub(super) fn statistics(summary: &Value) -> Vec<Figure> {
    let Some(rigor) = summary.get("rigor").filter(|r| r.is_object()) else {
        return Vec::new();
    };
    let known: [StatSpec; 19] = [
        ("/effective/deflated/dsr", "Deflated Sharpe ratio", fmt2, "Probability that the promoted strategy's true Sharpe beats the best that luck gives for this many independent trials (clusters); 0.95 or more passes."),
        ("/effective/deflated/psr", "Probabilistic Sharpe ratio", fmt2, "Probability that its true Sharpe is above zero, ignoring how many trials were run."),
        ("/raw/deflated/dsr", "Deflated Sharpe, every trial counted", fmt2, "The same test counting every trial as independent (raw N); shown beside the verdict's, not used by it."),
        ("/trials_counted", "trials run (raw N)", fmt0, "Every trial that tested something (duplicates excluded), failed ones included."),
        ("/trials_with_returns", "trials with returns", fmt0, "Trials that reached a backtest and have daily returns to compare."),
        ("/clusters", "clusters (effective N)", fmt0, "Groups of trials whose returns move together: each group tests one idea and counts once."),
        ("/silhouette", "cluster silhouette", fmt2, "How well separated the clusters are (−1 to 1; under 0.25 means no real grouping)."),
        ("/selection_sharpe", "promoted Sharpe on the window", fmt2, "The promoted strategy's annual Sharpe (active returns: minus the benchmark) on the window it was chosen on: the Sharpe the deflation tests."),
        ("/effective/expected_max_sharpe", "Sharpe luck alone reaches", fmt2, "The annual Sharpe the best of that many zero-skill clusters would reach on that window."),
        ("/raw/expected_max_sharpe", "Sharpe luck reaches, every trial counted", fmt2, "The same with every trial counted as independent."),
        ("/haircut_sharpe", "haircut Sharpe", fmt2, "The promoted Sharpe above after a Bonferroni correction for the effective number of tests."),
        ("/min_backtest_years", "minimum backtest length", fmt_years, "Years of data needed before that many zero-skill trials stop reaching the in-sample Sharpe."),
        ("/pbo/pbo", "probability of backtest overfitting", pct, "Share of train/test splits where the in-sample winner ranks in the bottom half out of sample (CSCV)."),
        ("/pbo/mean_logit", "PBO mean logit", fmt2, "Mean logit of the winner's out-of-sample rank; negative means overfit."),
        ("/cpcv/median", "out-of-sample Sharpe, median (CPCV)", fmt2, "The selection re-run on each training set and scored on held-out groups: the median annual Sharpe of the out-of-sample paths."),
        ("/cpcv/p10", "out-of-sample Sharpe, 10th percentile", fmt2, "One path in ten did worse than this."),
        ("/cpcv/share_below_zero", "out-of-sample paths below 0", pct, "Share of the CPCV paths with a negative Sharpe."),
        ("/effective/sharpe_variance", "Sharpe variance across clusters", fmt_small, "Variance of the clusters' per-day Sharpes, used by the deflation."),
        ("/raw/sharpe_variance", "Sharpe variance across trials", fmt_small, "Variance of the trials' per-day Sharpes (raw N figures)."),
    ];
    let mut out: Vec<Figure> = known
        .iter()
        .filter_map(|(path, label, fmt, meaning)| {
            let v = rigor.pointer(path).and_then(Value::as_f64)?;
            Some(Figure {
                label: label.to_string(),
                value: fmt(v),
                meaning: meaning.to_string(),
            })
        })
        .collect();
    if let Some(pbo) = rigor.get("pbo").filter(|p| p.is_object()) {
        if let (Some(s), Some(b)) = (pbo.get("splits"), pbo.get("blocks")) {
            out.push(Figure {
                label: "PBO splits".into(),
                value: format!(
                    "{} ({} blocks)",
                    s.as_u64()
                        .map_or_else(String::new, |n| thousands(n as usize)),
                    scalar(b).unwrap_or_default()
                ),
                meaning: "Train/test combinations of the CSCV blocks the PBO was computed over."
                    .into(),
            });
        }
    }
    if let Some(note) = rigor.get("cpcv_note").and_then(Value::as_str) {
        out.push(Figure {
            label: "CPCV".into(),
            value: "not computed".into(),
            meaning: note.to_string(),
        });
    }
    if let Some(note) = rigor.get("pbo_note").and_then(Value::as_str) {
        out.push(Figure {
            label: "PBO".into(),
            value: "not computed".into(),
            meaning: note.to_string(),
        });
    }
    if let Some(c) = rigor.get("holdout_collapse").and_then(Value::as_bool) {
        out.push(Figure {
            label: "holdout collapse".into(),
            value: if c { "yes" } else { "no" }.into(),
            meaning: "Whether the holdout Sharpe collapsed: at or below 0 after an in-sample Sharpe above 0.5, or more than 1.0 below the in-sample one.".into(),
        });
    }
    out.extend(unknown_rigor(rigor));
    out
}

/// Rigor fields this version does not label, flattened.
fn unknown_rigor(rigor: &Value) -> Vec<Figure> {
    const KNOWN: &[&str] = &[
        "promoted",
        "selected_on",
        "in_sample",
        "validation",
        "holdout",
        "holdout_collapse",
        "trials_counted",
        "trials_with_returns",
        "clusters",
        "silhouette",
        "effective",
        "raw",
        "basis",
        "window",
        "cpcv",
        "cpcv_note",
        "selection_sharpe",
        "haircut_sharpe",
        "min_backtest_years",
        "pbo",
        "pbo_note",
        "verdict",
    ];
    let mut flat = Vec::new();
    if let Some(m) = rigor.as_object() {
        for (k, v) in m.iter().filter(|(k, _)| !KNOWN.contains(&k.as_str())) {
            flatten(&label(k), v, &mut flat);
        }
    }
    flat.into_iter()
        .map(|(label, value)| Figure {
            label,
            value,
            meaning: String::new(),
        })
        .collect()
}

fn fmt_years(v: f64) -> String {
    format!("{} years", fixed(v, 1))
}

fn fmt_small(v: f64) -> String {
    format!("{v:.2e}")
}
