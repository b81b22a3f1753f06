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
    ///
    /// The days two trials share are found by merging their date-ordered series (one pass per
    /// accepted trial; the loop runs this for every trial against all accepted ones).
    pub fn redundant_with<'a>(
        &self,
        series: &[(i32, f64)],
        accepted: impl Iterator<Item = (u32, &'a [(i32, f64)])>,
        benchmark: Option<&BTreeMap<i32, f64>>,
    ) -> Option<(u32, f64)> {
        // (date, active return, the benchmark's return that day) in date order.
        let mine: Vec<(i32, f64, f64)> = by_date(series)
            .iter()
            .map(|&(d, r)| {
                let m = benchmark.and_then(|b| b.get(&d)).copied().unwrap_or(0.0);
                (d, r - m, m)
            })
            .collect();
        let mut worst: Option<(u32, f64)> = None;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (it, other) in accepted {
            a.clear();
            b.clear();
            let theirs = by_date(other);
            let mut j = 0;
            for &(d, x, m) in &mine {
                while j < theirs.len() && theirs[j].0 < d {
                    j += 1;
                }
                if let Some(&(e, y)) = theirs.get(j) {
                    if e == d {
                        a.push(x);
                        b.push(y - m);
                    }
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

/// `series` in date order, one value a date (the last one given, as a map would keep):
/// borrowed as it is when already so (a trial's daily returns are).
fn by_date(series: &[(i32, f64)]) -> std::borrow::Cow<'_, [(i32, f64)]> {
    if series.windows(2).all(|w| w[0].0 < w[1].0) {
        return std::borrow::Cow::Borrowed(series);
    }
    let map: BTreeMap<i32, f64> = series.iter().copied().collect();
    std::borrow::Cow::Owned(map.into_iter().collect())
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

    /// The merge over date-ordered series finds the days and values a map of each would.
    #[test]
    fn shared_days_are_those_a_map_finds() {
        let mut rng = crate::stats::Normal::new(7);
        let mut series = |from: i32, step: i32| -> Vec<(i32, f64)> {
            (0..300)
                .map(|i| (from + i * step, 0.01 * rng.sample()))
                .collect()
        };
        let mine = series(0, 1);
        let sparse = series(5, 3);
        // Out of order, with a date twice (the later value counts).
        let mut shuffled = series(40, 2);
        shuffled.reverse();
        shuffled.push((40, 0.5));
        let bench: BTreeMap<i32, f64> = (0..1000).map(|d| (d, 0.001 * f64::from(d % 7))).collect();
        let by_map = |other: &[(i32, f64)]| -> f64 {
            let active = |s: &[(i32, f64)]| -> BTreeMap<i32, f64> {
                s.iter()
                    .map(|&(d, r)| (d, r - bench.get(&d).copied().unwrap_or(0.0)))
                    .collect()
            };
            let (m, t) = (active(&mine), active(other));
            let (a, b): (Vec<f64>, Vec<f64>) =
                m.iter().filter_map(|(d, x)| Some((*x, *t.get(d)?))).unzip();
            correlation(&a, &b).unwrap()
        };
        let g = Gates {
            max_correlation: -1.0,
            ..Gates::default()
        };
        for other in [&sparse, &shuffled] {
            let got = g.redundant_with(&mine, [(9, other.as_slice())].into_iter(), Some(&bench));
            assert_eq!(got.map(|(_, c)| c.to_bits()), Some(by_map(other).to_bits()));
        }
    }
}
