//! Natural-language feedback for the proposer. On success: the in-sample metrics, a diagnosis
//! (the first that applies: losing money, too few trades, too concentrated, turnover eating the
//! fees, mostly in cash, a drawdown concentrated in one period, a deep drawdown) and one concrete
//! improvement hint. On failure: the error, the likely cause and a fix. Holdout figures never
//! appear here.

use crate::backtest::{BacktestError, TW_FEE, TW_TAX};
use crate::calendar;
use crate::data::DataError;
use crate::pipeline::PipelineError;
use crate::sandbox::SandboxError;

use super::ledger::Scores;

/// Cost of turning the whole book over once (buy and sell): two fees plus the sell tax.
const ROUND_TRIP: f64 = 2.0 * TW_FEE + TW_TAX;

fn pct(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{:.1}%", v * 100.0))
}

fn num(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{v:.2}"))
}

/// The worst drawdown episode of a curve: (peak date, trough date, recovery or end date, depth).
pub fn worst_drawdown(curve: &[(i32, f64)]) -> Option<(i32, i32, i32, f64)> {
    let mut peak = (curve.first()?.0, curve.first()?.1);
    let mut worst: Option<(i32, i32, f64)> = None;
    for &(d, v) in curve {
        if v >= peak.1 {
            peak = (d, v);
        }
        let dd = v / peak.1 - 1.0;
        if worst.is_none_or(|w| dd < w.2) {
            worst = Some((peak.0, d, dd));
        }
    }
    let (start, trough, depth) = worst?;
    if depth >= 0.0 {
        return None;
    }
    let level = curve
        .iter()
        .find(|x| x.0 == start)
        .map_or(f64::NAN, |x| x.1);
    let end = curve
        .iter()
        .find(|x| x.0 > trough && x.1 >= level)
        .map_or(curve.last()?.0, |x| x.0);
    Some((start, trough, end, depth))
}

/// Feedback on a backtested strategy, from its in-sample scores and in-sample curve.
pub fn success(s: &Scores, curve: &[(i32, f64)]) -> String {
    let mut out = format!(
        "In-sample {} → {}: Sharpe {}, CAGR {}, max drawdown {}, {} trades, win ratio {}, \
         turnover {}x NAV/year, {} stocks held on average, exposure {}.",
        s.start,
        s.end,
        num(s.sharpe),
        pct(s.cagr),
        pct(s.max_drawdown),
        s.trades,
        pct(s.win_ratio),
        num(s.turnover),
        s.avg_n_stock.map_or("n/a".into(), |v| format!("{v:.1}")),
        pct(s.avg_exposure),
    );
    let (diagnosis, hint) = diagnose(s, curve);
    out.push_str(&format!(" Diagnosis: {diagnosis} Hint: {hint}"));
    out
}

fn diagnose(s: &Scores, curve: &[(i32, f64)]) -> (String, String) {
    let sharpe = s.sharpe.unwrap_or(0.0);
    let cost = s.turnover.map(|t| t / 2.0 * ROUND_TRIP);
    let years = match (curve.first(), curve.last()) {
        (Some(a), Some(b)) => f64::from(b.0 - a.0) / 365.25,
        _ => 0.0,
    };
    if s.trades < 30 {
        return (
            format!(
                "only {} trades, too few for the result to mean much.",
                s.trades
            ),
            "loosen the entry conditions or hold more names (e.g. `is_largest(20)` instead of a \
             handful) so the edge is measured on many trades."
                .into(),
        );
    }
    if sharpe < 0.0 {
        return (
            "the strategy loses against the 2% risk-free rate.".into(),
            "reverse the ranking (`is_largest` ↔ `is_smallest`) or replace the factor with one \
             from another dataset family (revenue, valuation, quality)."
                .into(),
        );
    }
    if let (Some(c), Some(cagr)) = (cost, s.cagr) {
        if c > 0.05 && c > 0.5 * (cagr + c).abs() {
            return (
                format!(
                    "turnover of {:.0}x NAV a year costs about {:.1}% a year in fees and tax, \
                     most of the gross return.",
                    s.turnover.unwrap_or(0.0),
                    c * 100.0
                ),
                "rebalance less often (`resample=\"M\"`) or smooth the signal with a longer \
                 average so holdings change less."
                    .into(),
            );
        }
    }
    if s.avg_n_stock.is_some_and(|n| n < 4.0) {
        return (
            "very concentrated: fewer than 4 stocks held on average, so a few names drive the \
             result."
                .into(),
            "select more names (raise the `is_largest`/`is_smallest` count or loosen a filter)."
                .into(),
        );
    }
    if s.avg_exposure.is_some_and(|e| e < 0.5) {
        return (
            format!("mostly in cash (exposure {}).", pct(s.avg_exposure)),
            "relax the entry conditions or use `hold_until` so positions are kept between \
             signals."
                .into(),
        );
    }
    if let Some((start, trough, end, depth)) = worst_drawdown(curve) {
        let length = f64::from(end - start) / 365.25;
        if depth < -0.2 && years > 0.0 && length < 0.2 * years {
            return (
                format!(
                    "the max drawdown ({:.1}%) is concentrated in one period, {} → {} \
                     (trough {}).",
                    depth * 100.0,
                    calendar::format(start),
                    calendar::format(end),
                    calendar::format(trough)
                ),
                "add a market-trend filter (hold only while the benchmark or the average \
                 stock is above its 60-day average) or a `stop_loss=0.1` to cut that episode."
                    .into(),
            );
        }
    }
    if s.max_drawdown.is_some_and(|d| d < -0.4) {
        return (
            format!("deep drawdown ({}).", pct(s.max_drawdown)),
            "add `stop_loss=0.1` to `sim(...)` or require price above its 120-day average.".into(),
        );
    }
    if sharpe < 0.5 {
        return (
            "positive but weak risk-adjusted return.".into(),
            "combine the signal with a second, different factor (e.g. revenue growth with \
             price momentum) as an extra filter."
                .into(),
        );
    }
    (
        "solid in-sample result.".into(),
        "check robustness: vary the main window by ±50% and keep the idea only if the Sharpe \
         holds up; prefer fewer conditions."
            .into(),
    )
}

/// Feedback on a strategy that could not run, as (error, likely cause, fix).
pub fn failure(e: &PipelineError) -> String {
    let (cause, fix) = match e {
        PipelineError::Invalid(_) => (
            "the strategy did not pass the checker.",
            "fix the reported line; use only the operators and datasets of the reference.",
        ),
        PipelineError::Sandbox(SandboxError::OutOfFuel { .. })
        | PipelineError::Sandbox(SandboxError::Timeout { .. }) => (
            "the strategy is too costly to evaluate: many datasets or long windows.",
            "use fewer datasets and windows under 250 days.",
        ),
        PipelineError::Sandbox(SandboxError::MemoryCap { .. }) => (
            "the strategy holds too many full panels at once.",
            "use fewer intermediate panels and datasets.",
        ),
        PipelineError::Sandbox(_) => (
            "an operation failed on the data (e.g. an indicator on too little history).",
            "simplify the expression or use a different operator.",
        ),
        PipelineError::Backtest(BacktestError::NoHoldings) => (
            "the position selects no stock on any date: the conditions are contradictory or \
             a threshold is outside the data's range (percent vs fraction).",
            "loosen or remove a condition and check the units of each threshold.",
        ),
        PipelineError::Backtest(_) | PipelineError::Window(_) => (
            "the position panel could not be backtested.",
            "make sure `position` is a bool or float panel of stocks.",
        ),
        PipelineError::Data(DataError::NotFound { .. }) => (
            "the strategy loads a dataset that is not in the data set.",
            "use a key from the dataset list.",
        ),
        PipelineError::Data(_) => (
            "the data set could not be read.",
            "this is not the strategy's fault; rerun or check the data directory.",
        ),
    };
    format!("Error: {e}. Likely cause: {cause} Fix: {fix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores() -> Scores {
        Scores {
            start: "2020-01-02".into(),
            end: "2023-12-29".into(),
            sharpe: Some(1.2),
            cagr: Some(0.15),
            max_drawdown: Some(-0.18),
            trades: 400,
            turnover: Some(4.0),
            avg_n_stock: Some(10.0),
            avg_exposure: Some(0.95),
            win_ratio: Some(0.55),
            ..Scores::default()
        }
    }

    fn rising(days: i32) -> Vec<(i32, f64)> {
        (0..days).map(|d| (d, 1.0 + f64::from(d) * 0.001)).collect()
    }

    #[test]
    fn each_diagnosis_fires_on_its_case() {
        let curve = rising(1460);
        let f = success(&scores(), &curve);
        assert!(f.contains("Sharpe 1.20") && f.contains("solid"), "{f}");
        let few = Scores {
            trades: 5,
            ..scores()
        };
        assert!(success(&few, &curve).contains("only 5 trades"));
        let losing = Scores {
            sharpe: Some(-0.3),
            ..scores()
        };
        assert!(success(&losing, &curve).contains("loses"));
        let churn = Scores {
            turnover: Some(60.0),
            cagr: Some(0.02),
            ..scores()
        };
        assert!(
            success(&churn, &curve).contains("fees and tax"),
            "{}",
            success(&churn, &curve)
        );
        let cash = Scores {
            avg_exposure: Some(0.3),
            ..scores()
        };
        assert!(success(&cash, &curve).contains("mostly in cash"));
    }

    #[test]
    fn a_drawdown_in_one_short_episode_is_called_concentrated() {
        let mut curve = rising(1460);
        for p in curve.iter_mut().filter(|p| (700..760).contains(&p.0)) {
            p.1 *= 0.7;
        }
        let (start, trough, end, depth) = worst_drawdown(&curve).unwrap();
        assert_eq!((start, trough, end), (699, 700, 760));
        assert!((depth + 0.3).abs() < 0.01);
        let f = success(
            &Scores {
                max_drawdown: Some(depth),
                ..scores()
            },
            &curve,
        );
        assert!(f.contains("concentrated in one period"), "{f}");
    }

    #[test]
    fn failures_name_a_cause_and_a_fix() {
        let f = failure(&PipelineError::Backtest(BacktestError::NoHoldings));
        assert!(f.contains("Likely cause") && f.contains("loosen"), "{f}");
    }
}
