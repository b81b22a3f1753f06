//! Novelty and quality gates (`docs/architecture.md` §7.3, after WorldQuant BRAIN): a trial whose
//! daily returns correlate too closely with an accepted trial's is `redundant`; too few
//! in-sample trades or a turnover outside the band is `rejected`. (Canonical duplicates are
//! caught before running, in the loop.) Correlations are of *active* daily returns — the
//! benchmark's return subtracted when the data has one — because long-only strategies all
//! share the market factor and would otherwise all look alike.

use std::collections::BTreeMap;

use super::ledger::Scores;
use crate::stats::correlation;

/// Gate thresholds.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Gates {
    /// Minimum trades closed in-sample.
    pub min_trades: usize,
    /// Allowed in-sample turnover (traded value per year as a multiple of NAV).
    pub turnover: (f64, f64),
    /// Active-return correlation at or above which a trial is redundant.
    pub max_correlation: f64,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            min_trades: 20,
            turnover: (0.1, 60.0),
            max_correlation: 0.7,
        }
    }
}

/// Days in common needed before a correlation counts.
const MIN_OVERLAP: usize = 20;

impl Gates {
    /// Why `s` fails a quality gate, in words the feedback can use; `None` if it passes.
    pub fn quality(&self, s: &Scores) -> Option<String> {
        if s.trades < self.min_trades {
            return Some(format!(
                "only {} in-sample trades (the minimum is {})",
                s.trades, self.min_trades
            ));
        }
        let (lo, hi) = self.turnover;
        match s.turnover {
            Some(t) if t < lo => Some(format!(
                "turnover {t:.2}x NAV a year is below the band's {lo}x (the strategy barely trades)"
            )),
            Some(t) if t > hi => Some(format!(
                "turnover {t:.1}x NAV a year is above the band's {hi}x (fees and tax dominate)"
            )),
            _ => None,
        }
    }

    /// The accepted trial (iteration, correlation) that `series` duplicates in substance, the
    /// most correlated one at or above the threshold.
    pub fn redundant_with<'a>(
        &self,
        series: &[(i32, f64)],
        accepted: impl Iterator<Item = (u32, &'a [(i32, f64)])>,
        benchmark: Option<&BTreeMap<i32, f64>>,
    ) -> Option<(u32, f64)> {
        let mine = active(series, benchmark);
        let mut worst: Option<(u32, f64)> = None;
        for (it, other) in accepted {
            let theirs = active(other, benchmark);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for (d, x) in &mine {
                if let Some(y) = theirs.get(d) {
                    a.push(*x);
                    b.push(*y);
                }
            }
            if a.len() < MIN_OVERLAP {
                continue;
            }
            if let Some(c) = correlation(&a, &b) {
                if c >= self.max_correlation && worst.is_none_or(|w| c > w.1) {
                    worst = Some((it, c));
                }
            }
        }
        worst
    }
}

/// Returns minus the benchmark's return of the same day (unchanged where it has none).
fn active(series: &[(i32, f64)], benchmark: Option<&BTreeMap<i32, f64>>) -> BTreeMap<i32, f64> {
    series
        .iter()
        .map(|&(d, r)| {
            (
                d,
                r - benchmark.and_then(|b| b.get(&d)).copied().unwrap_or(0.0),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_gates_name_the_reason() {
        let g = Gates::default();
        let s = Scores {
            trades: 100,
            turnover: Some(5.0),
            ..Scores::default()
        };
        assert_eq!(g.quality(&s), None);
        let few = Scores {
            trades: 3,
            ..s.clone()
        };
        assert!(g.quality(&few).unwrap().contains("only 3"));
        let churn = Scores {
            turnover: Some(200.0),
            ..s.clone()
        };
        assert!(g.quality(&churn).unwrap().contains("above"));
        let idle = Scores {
            turnover: Some(0.01),
            ..s
        };
        assert!(g.quality(&idle).unwrap().contains("below"));
    }

    #[test]
    fn redundancy_is_measured_on_active_returns() {
        let mut rng = crate::stats::Normal::new(3);
        let market: Vec<f64> = (0..200).map(|_| 0.01 * rng.sample()).collect();
        let own = |rng: &mut crate::stats::Normal| -> Vec<(i32, f64)> {
            market
                .iter()
                .enumerate()
                .map(|(i, m)| (i as i32, m + 0.003 * rng.sample()))
                .collect()
        };
        let (a, b) = (own(&mut rng), own(&mut rng));
        let bench: BTreeMap<i32, f64> = market
            .iter()
            .enumerate()
            .map(|(i, m)| (i as i32, *m))
            .collect();
        let g = Gates::default();
        // Raw returns share the market and look redundant; active returns do not.
        assert!(g
            .redundant_with(&a, [(1, b.as_slice())].into_iter(), None)
            .is_some());
        assert!(g
            .redundant_with(&a, [(1, b.as_slice())].into_iter(), Some(&bench))
            .is_none());
        // A near-copy is redundant either way.
        let copy: Vec<(i32, f64)> = a.iter().map(|&(d, r)| (d, r * 1.1 + 1e-5)).collect();
        let r = g.redundant_with(
            &copy,
            [(1, b.as_slice()), (2, a.as_slice())].into_iter(),
            Some(&bench),
        );
        assert_eq!(r.map(|x| x.0), Some(2));
    }
}
