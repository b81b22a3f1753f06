//! The three-way time split of `iterate` (`docs/architecture.md` §7.2): **in-sample** (the
//! proposer sees its metrics), **validation** (used only to promote one strategy at the end)
//! and the **sealed holdout** (never in a prompt, feedback, history, sidecar or selection;
//! scored once, for the promoted strategy, when the run ends).
//!
//! Every trial is backtested once over all the data (the DSL cannot read the future, so
//! positions before a cutoff do not depend on what follows); the equity curve is then scored
//! per window. Defaults: the last 2 years are the holdout and the 2 years before them the
//! validation window, each capped at a quarter of the sessions so short data keeps at least
//! half for the search.

use serde::{Deserialize, Serialize};

use crate::backtest::{Exposure, SimResult, Trade};
use crate::calendar;
use crate::metrics::score;

use super::ledger::Scores;

/// Default sealed holdout, in years.
pub const DEFAULT_HOLDOUT_YEARS: f64 = 2.0;
/// Default validation window before the holdout, in years.
pub const DEFAULT_VALIDATION_YEARS: f64 = 2.0;
/// Neither later window takes more than this share of the sessions.
const MAX_SHARE: f64 = 0.25;

/// Where the data is split (days since the epoch; each window ends on its last session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub first: i32,
    /// Last in-sample session.
    pub in_sample_end: i32,
    /// Last validation session (`== in_sample_end`: no validation window).
    pub validation_end: i32,
    /// Last session of the data (`== validation_end`: no holdout).
    pub last: i32,
}

/// The split as dates, for `run.json`, `summary.json` and the terminal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitDates {
    /// `[first, last]` session of each window; `None` when the window is off.
    pub in_sample: [String; 2],
    pub validation: Option<[String; 2]>,
    pub holdout: Option<[String; 2]>,
}

/// The index after the last `years` of `sessions` (ascending), capped at `cap` sessions.
fn cut(sessions: &[i32], years: f64, cap: usize) -> usize {
    let n = sessions.len();
    let Some(&last) = sessions.last() else {
        return 0;
    };
    if years <= 0.0 {
        return n;
    }
    let from = f64::from(last) - years * 365.25;
    let inside = sessions.iter().filter(|&&d| f64::from(d) > from).count();
    n - inside.min(cap)
}

impl Split {
    /// Holds out the last `holdout_years` of `sessions` (ascending) and validates on the
    /// `validation_years` before them (0 turns a window off).
    pub fn new(sessions: &[i32], validation_years: f64, holdout_years: f64) -> Split {
        let n = sessions.len();
        let cap = (n as f64 * MAX_SHARE) as usize;
        let at = |i: usize| sessions.get(i).copied().unwrap_or(0);
        let h = cut(sessions, holdout_years, cap);
        let v = cut(&sessions[..h], validation_years, cap);
        Split {
            first: at(0),
            in_sample_end: at(v.max(1) - 1),
            validation_end: at(h.max(1) - 1),
            last: at(n.max(1) - 1),
        }
    }

    pub fn has_validation(&self) -> bool {
        self.validation_end > self.in_sample_end
    }

    pub fn has_holdout(&self) -> bool {
        self.last > self.validation_end
    }

    /// The windows as dates. A later window's first date is the session after the previous
    /// window's end, shown as the cutoff's next day when the calendar is not at hand.
    pub fn dates(&self, sessions: &[i32]) -> SplitDates {
        let f = calendar::format;
        let after = |d: i32| {
            let i = sessions.partition_point(|&s| s <= d);
            sessions.get(i).copied().unwrap_or(d + 1)
        };
        SplitDates {
            in_sample: [f(self.first), f(self.in_sample_end)],
            validation: self
                .has_validation()
                .then(|| [f(after(self.in_sample_end)), f(self.validation_end)]),
            holdout: self
                .has_holdout()
                .then(|| [f(after(self.validation_end)), f(self.last)]),
        }
    }

    /// One line: `in-sample 2007-01-02 → 2021-12-30 | validation … | sealed holdout …`.
    pub fn describe(&self, sessions: &[i32]) -> String {
        let d = self.dates(sessions);
        let w = |name: &str, x: &Option<[String; 2]>| match x {
            Some([a, b]) => format!("{name} {a} → {b}"),
            None => format!("no {name}"),
        };
        format!(
            "in-sample {} → {} | {} | {}",
            d.in_sample[0],
            d.in_sample[1],
            w("validation", &d.validation),
            w("sealed holdout", &d.holdout)
        )
    }

    /// In-sample scores (with the whole-run exposure and turnover figures the feedback reads).
    pub fn in_sample(&self, result: &SimResult) -> Scores {
        let is = window(result, None, self.in_sample_end, |t| {
            t.exit_date.is_some_and(|d| d <= self.in_sample_end)
        });
        Scores::from(&score(&is, None))
    }

    /// Validation scores (selection only; never shown to the proposer).
    pub fn validation(&self, result: &SimResult) -> Option<Scores> {
        if !self.has_validation() {
            return None;
        }
        let (a, b) = (self.in_sample_end, self.validation_end);
        let w = window(result, Some(a), b, |t| {
            t.entry_date > a && t.exit_date.is_some_and(|d| d <= b)
        });
        later_scores(&w)
    }

    /// Sealed-holdout scores: call once, for the promoted strategy, when the run ends.
    pub fn holdout(&self, result: &SimResult) -> Option<Scores> {
        if !self.has_holdout() {
            return None;
        }
        let a = self.validation_end;
        let w = window(result, Some(a), self.last, |t| t.entry_date > a);
        later_scores(&w)
    }

    /// Daily returns (date, return) up to the validation end: what the run may store and
    /// compare. Holdout days are never included.
    pub fn visible_returns(&self, result: &SimResult) -> Vec<(i32, f64)> {
        result
            .creturn
            .windows(2)
            .filter(|w| w[1].0 <= self.validation_end && w[0].1 != 0.0)
            .map(|w| (w[1].0, w[1].1 / w[0].1 - 1.0))
            .collect()
    }
}

/// Exposure and turnover are whole-run figures: a later window does not repeat them.
fn later_scores(w: &SimResult) -> Option<Scores> {
    (w.creturn.len() >= 3).then(|| Scores {
        turnover: None,
        avg_exposure: None,
        avg_n_stock: None,
        ..Scores::from(&score(w, None))
    })
}

/// The part of `result` after `from` (exclusive; the curve starts at its last point so the
/// first return counts) up to `to`, with the trades `keep` accepts.
fn window(
    result: &SimResult,
    from: Option<i32>,
    to: i32,
    keep: impl Fn(&Trade) -> bool,
) -> SimResult {
    let curve = &result.creturn;
    let start = from.map_or(0, |f| {
        curve.partition_point(|&(d, _)| d <= f).saturating_sub(1)
    });
    let end = curve.partition_point(|&(d, _)| d <= to);
    let part = curve.get(start..end.max(start)).unwrap_or_default();
    let span = |c: &[(i32, f64)]| match (c.first(), c.last()) {
        (Some(a), Some(b)) => f64::from(b.0 - a.0),
        _ => 0.0,
    };
    let total = span(curve).max(1.0);
    SimResult {
        creturn: part.to_vec(),
        trades: result.trades.iter().filter(|t| keep(t)).cloned().collect(),
        rebalances: result.rebalances,
        // The traded value is shared out by time.
        exposure: Exposure {
            traded: result.exposure.traded * span(part) / total,
            ..result.exposure.clone()
        },
        warnings: Vec::new(),
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

    /// Sessions every day from 2015-01-01 for `years`.
    fn days(years: i32) -> Vec<i32> {
        let a = calendar::days_from_civil(2015, 1, 1);
        (a..a + years * 365).collect()
    }

    #[test]
    fn split_takes_two_years_each_from_the_end() {
        let d = days(10);
        let s = Split::new(&d, 2.0, 2.0);
        assert!(s.has_validation() && s.has_holdout());
        let n_hold = d.iter().filter(|&&x| x > s.validation_end).count();
        let n_val = d
            .iter()
            .filter(|&&x| x > s.in_sample_end && x <= s.validation_end)
            .count();
        assert!((729..=731).contains(&n_hold), "{n_hold}");
        assert!((729..=731).contains(&n_val), "{n_val}");
        let off = Split::new(&d, 0.0, 0.0);
        assert!(!off.has_validation() && !off.has_holdout());
        assert_eq!(off.in_sample_end, off.last);
        // Short data: each later window is capped at a quarter.
        let short = Split::new(&days(4), 2.0, 2.0);
        let n = days(4).len();
        assert_eq!(
            days(4)
                .iter()
                .filter(|&&x| x > short.validation_end)
                .count(),
            n / 4
        );
        assert!(short.describe(&days(4)).contains("sealed holdout"));
    }

    #[test]
    fn scores_each_window_separately_and_never_stores_the_holdout() {
        // Rising for 80 days, flat-ish for 10, then falling.
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
        let s = Split {
            first: 0,
            in_sample_end: 69,
            validation_end: 79,
            last: 99,
        };
        let is = s.in_sample(&r);
        let val = s.validation(&r).unwrap();
        let ho = s.holdout(&r).unwrap();
        assert!(is.sharpe.unwrap() > 0.0 && val.sharpe.unwrap() > 0.0);
        assert!(ho.sharpe.unwrap() < 0.0);
        assert_eq!(is.end, calendar::format(69));
        assert_eq!(
            (val.start.clone(), val.end),
            (calendar::format(69), calendar::format(79))
        );
        assert_eq!(ho.start, calendar::format(79));
        let seen = s.visible_returns(&r);
        assert_eq!(seen.len(), 79);
        assert!(seen.iter().all(|p| p.0 <= 79));
        assert!(collapsed(is.sharpe, ho.sharpe));
        assert!(!collapsed(Some(1.0), Some(0.6)));
        assert!(!collapsed(None, Some(-1.0)));
    }
}
