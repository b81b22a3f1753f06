//! The overfitting guard: the last fraction of the sessions is a holdout. Every trial is
//! backtested once over all the data (the DSL cannot read the future, so positions before the
//! cutoff do not depend on what follows); the equity curve is then scored on the in-sample
//! window, which the proposer sees and selection uses, and on the holdout, which only the final
//! report shows. Exposure, holdings count and turnover come from the backtester as whole-run
//! figures; the in-sample scores carry them (the feedback's diagnosis reads them), the holdout
//! scores leave them out.

use crate::backtest::{Exposure, SimResult};
use crate::calendar;
use crate::metrics::score;

use super::ledger::Scores;

/// Where the data is split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Split {
    /// Last in-sample session (days since the epoch); `None`: no holdout.
    pub cutoff: Option<i32>,
    /// First and last session of the data.
    pub first: i32,
    pub last: i32,
}

impl Split {
    /// Holds out the last `fraction` (0 ≤ fraction < 1) of `sessions` (ascending).
    pub fn new(sessions: &[i32], fraction: f64) -> Split {
        let (first, last) = (
            sessions.first().copied().unwrap_or(0),
            sessions.last().copied().unwrap_or(0),
        );
        let n = sessions.len();
        let held = (n as f64 * fraction.clamp(0.0, 0.95)).round() as usize;
        let cutoff = (held > 0 && held < n).then(|| sessions[n - held - 1]);
        Split {
            cutoff,
            first,
            last,
        }
    }

    /// `2019-01-02 → 2022-12-30 | holdout 2023-01-03 → 2023-12-29`.
    pub fn describe(&self) -> String {
        match self.cutoff {
            Some(c) => format!(
                "in-sample {} → {}, holdout after {} → {}",
                calendar::format(self.first),
                calendar::format(c),
                calendar::format(c),
                calendar::format(self.last)
            ),
            None => format!(
                "all data {} → {} (no holdout)",
                calendar::format(self.first),
                calendar::format(self.last)
            ),
        }
    }

    /// In-sample and holdout scores of a backtest over all the data.
    pub fn score(&self, result: &SimResult) -> (Scores, Option<Scores>) {
        let Some(cutoff) = self.cutoff else {
            return (Scores::from(&score(result, None)), None);
        };
        let curve = &result.creturn;
        let i = curve.partition_point(|&(d, _)| d <= cutoff);
        // The holdout curve starts at the last in-sample point, so its first return is counted.
        let (is_curve, oos_curve) = (&curve[..i], &curve[i.saturating_sub(1)..]);
        let span = |c: &[(i32, f64)]| match (c.first(), c.last()) {
            (Some(a), Some(b)) => f64::from(b.0 - a.0),
            _ => 0.0,
        };
        let total = span(curve).max(1.0);
        let part = |c: &[(i32, f64)], keep: &dyn Fn(&crate::backtest::Trade) -> bool| SimResult {
            creturn: c.to_vec(),
            trades: result.trades.iter().filter(|t| keep(t)).cloned().collect(),
            rebalances: result.rebalances,
            // Exposure statistics are whole-run figures; the traded value is shared out by time.
            exposure: Exposure {
                traded: result.exposure.traded * span(c) / total,
                ..result.exposure.clone()
            },
            warnings: Vec::new(),
        };
        // In-sample trades: closed by the cutoff; holdout trades: entered after it.
        let is = part(is_curve, &|t| t.exit_date.is_some_and(|d| d <= cutoff));
        let oos = part(oos_curve, &|t| t.entry_date > cutoff);
        // Exposure and turnover are whole-run figures: the holdout does not repeat them.
        let oos_scores = (oos_curve.len() >= 3).then(|| Scores {
            turnover: None,
            avg_exposure: None,
            avg_n_stock: None,
            ..Scores::from(&score(&oos, None))
        });
        (Scores::from(&score(&is, None)), oos_scores)
    }
}

/// Whether the holdout Sharpe collapsed: in-sample Sharpe above 0.5 with a holdout Sharpe at or
/// below zero, or a drop of more than 1.0 (about one standard error of a Sharpe estimated on a
/// year of daily data).
pub fn collapsed(in_sample: Option<f64>, holdout: Option<f64>) -> bool {
    match (in_sample, holdout) {
        (Some(is), Some(oos)) => (is > 0.5 && oos <= 0.0) || is - oos > 1.0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_holds_out_the_last_sessions() {
        let days: Vec<i32> = (0..100).collect();
        let s = Split::new(&days, 0.2);
        assert_eq!(s.cutoff, Some(79));
        assert_eq!(Split::new(&days, 0.0).cutoff, None);
    }

    #[test]
    fn scores_each_window_separately() {
        // Rising for 80 days, then falling: in-sample gains, holdout loses.
        let mut curve = Vec::new();
        let mut v = 1.0;
        for d in 0..100 {
            v *= if d < 80 {
                1.001 + 0.0005 * f64::from(d % 2)
            } else {
                0.998 - 0.0005 * f64::from(d % 2)
            };
            curve.push((d, v));
        }
        let r = SimResult {
            creturn: curve,
            trades: vec![],
            rebalances: 1,
            exposure: Exposure::default(),
            warnings: vec![],
        };
        let s = Split::new(&(0..100).collect::<Vec<_>>(), 0.2);
        let (is, oos) = s.score(&r);
        let oos = oos.unwrap();
        assert!(is.sharpe.unwrap() > 0.0 && oos.sharpe.unwrap() < 0.0);
        assert_eq!(is.end, calendar::format(79));
        assert_eq!(oos.start, calendar::format(79));
        assert!(collapsed(is.sharpe, oos.sharpe));
        assert!(!collapsed(Some(1.0), Some(0.6)));
        assert!(!collapsed(None, Some(-1.0)));
    }
}
