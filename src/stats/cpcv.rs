//! Combinatorial purged cross-validation (López de Prado, *Advances in Financial Machine
//! Learning*, ch. 12) of a search's selection: out-of-sample evidence for what the search
//! promotes, not a selection step.
//!
//! The days are cut into `N` consecutive groups; each of the C(N, k) ways to hold out `k`
//! groups as the test set is one split. In a split the rule picks the trial with the best
//! Sharpe on the training days — every other day, less `embargo` days on each side of each
//! test group (returns are serially correlated, so neighbouring days would leak) — and that
//! trial's returns on the test groups are out of sample. Every group is tested in
//! C(N−1, k−1) splits; taking them in order builds that many *paths*, each a full-length
//! out-of-sample history, and the distribution of the paths' Sharpe ratios is the result.

/// Why CPCV could not run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CpcvError {
    /// `returns` holds no trial.
    #[error("CPCV needs at least one trial with returns")]
    NoTrials,
    /// The number of test groups `k` is 0 or not below the number of groups `N`.
    #[error("CPCV needs 1 ≤ k < N test groups, got N = {groups}, k = {test_groups}")]
    Groups {
        /// `N`, the number of groups the days are cut into.
        groups: usize,
        /// `k`, the number of groups held out per split.
        test_groups: usize,
    },
    /// The shortest trial has fewer than `N × (2 × embargo + 20)` days.
    #[error("CPCV with {groups} groups needs at least {need} days, got {days}")]
    TooFewDays {
        /// `N`, the number of groups.
        groups: usize,
        /// Days needed: 20 per group plus the embargo on both sides.
        need: usize,
        /// Days of the shortest trial.
        days: usize,
    },
}

/// The distribution of out-of-sample path Sharpe ratios.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Cpcv {
    /// `N`, the number of consecutive day groups.
    pub groups: usize,
    /// `k`, the groups held out as the test set in each split.
    pub test_groups: usize,
    /// Splits evaluated: C(N, k).
    pub splits: usize,
    /// Days dropped from training on each side of each test group.
    pub embargo_days: usize,
    /// Annualised Sharpe of each path.
    pub path_sharpes: Vec<f64>,
    /// Median of `path_sharpes`.
    pub median: f64,
    /// 10th percentile (linear interpolation).
    pub p10: f64,
    /// Share of paths with a Sharpe below 0.
    pub share_below_zero: f64,
    /// Share of splits that picked the trial the run promoted (when given).
    pub promoted_share: Option<f64>,
}

/// The combinations of `k` out of `n`, in lexicographic order.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut c: Vec<usize> = (0..k).collect();
    loop {
        out.push(c.clone());
        let Some(i) = (0..k).rev().find(|&i| c[i] < n - k + i) else {
            return out;
        };
        c[i] += 1;
        for j in i + 1..k {
            c[j] = c[j - 1] + 1;
        }
    }
}

/// Per-period Sharpe of `r` over the days `keep` selects (−∞ when undefined).
fn sharpe_on(r: &[f64], keep: &[bool]) -> f64 {
    let (mut n, mut s, mut s2) = (0.0, 0.0, 0.0);
    for (x, _) in r.iter().zip(keep).filter(|(_, k)| **k) {
        n += 1.0;
        s += x;
        s2 += x * x;
    }
    if n < 2.0 {
        return f64::NEG_INFINITY;
    }
    let m = s / n;
    let var = (s2 / n - m * m) * n / (n - 1.0);
    if var <= 1e-24 {
        return f64::NEG_INFINITY;
    }
    m / var.sqrt()
}

/// Annualised Sharpe of a path.
fn annual_sharpe(r: &[f64]) -> f64 {
    let s = sharpe_on(r, &vec![true; r.len()]);
    if s.is_finite() {
        s * 252f64.sqrt()
    } else {
        0.0
    }
}

/// The `q` quantile of sorted values (linear interpolation).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// CPCV of "pick the best in-sample Sharpe" over `returns[trial][day]` (equal lengths).
/// `promoted`: the trial the run promoted, to report how often the rule picks it.
pub fn cpcv(
    returns: &[Vec<f64>],
    groups: usize,
    test_groups: usize,
    embargo: usize,
    promoted: Option<usize>,
) -> Result<Cpcv, CpcvError> {
    let t = returns
        .iter()
        .map(Vec::len)
        .min()
        .ok_or(CpcvError::NoTrials)?;
    if test_groups < 1 || test_groups >= groups {
        return Err(CpcvError::Groups {
            groups,
            test_groups,
        });
    }
    let need = groups * (2 * embargo + 20);
    if t < need {
        return Err(CpcvError::TooFewDays {
            groups,
            need,
            days: t,
        });
    }
    let bounds: Vec<(usize, usize)> = (0..groups)
        .map(|g| (g * t / groups, (g + 1) * t / groups))
        .collect();
    let splits = combinations(groups, test_groups);
    // oos[g] = the out-of-sample returns of group g, one per split testing it, in split order.
    let mut oos: Vec<Vec<Vec<f64>>> = vec![Vec::new(); groups];
    let mut picked_promoted = 0;
    for test in &splits {
        let mut train = vec![true; t];
        for &g in test {
            let (lo, hi) = bounds[g];
            let end = (hi + embargo).min(t);
            train[lo.saturating_sub(embargo)..end].fill(false);
        }
        let pick = (0..returns.len())
            .map(|i| (i, sharpe_on(&returns[i][..t], &train)))
            .fold((0, f64::NEG_INFINITY), |best, (i, s)| {
                if s > best.1 {
                    (i, s)
                } else {
                    best
                }
            })
            .0;
        if Some(pick) == promoted {
            picked_promoted += 1;
        }
        for &g in test {
            let (lo, hi) = bounds[g];
            oos[g].push(returns[pick][lo..hi].to_vec());
        }
    }
    let paths = oos.first().map_or(0, Vec::len);
    let mut path_sharpes: Vec<f64> = (0..paths)
        .map(|p| {
            let path: Vec<f64> = oos.iter().flat_map(|g| g[p].iter().copied()).collect();
            annual_sharpe(&path)
        })
        .collect();
    let mut sorted = path_sharpes.clone();
    sorted.sort_by(f64::total_cmp);
    let below = sorted.iter().filter(|s| **s < 0.0).count();
    path_sharpes.shrink_to_fit();
    Ok(Cpcv {
        groups,
        test_groups,
        splits: splits.len(),
        embargo_days: embargo,
        median: quantile(&sorted, 0.5),
        p10: quantile(&sorted, 0.1),
        share_below_zero: below as f64 / paths.max(1) as f64,
        path_sharpes,
        promoted_share: promoted.map(|_| picked_promoted as f64 / splits.len() as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Normal;

    #[test]
    fn paths_cover_every_group_once() {
        assert_eq!(combinations(6, 2).len(), 15);
        assert_eq!(combinations(4, 1), vec![vec![0], vec![1], vec![2], vec![3]]);
        let mut g = Normal::new(3);
        let r: Vec<Vec<f64>> = (0..5)
            .map(|_| (0..1000).map(|_| g.sample() * 0.01).collect())
            .collect();
        let c = cpcv(&r, 6, 2, 5, Some(0)).unwrap();
        // C(5, 1) = 5 paths from C(6, 2) = 15 splits.
        assert_eq!((c.splits, c.path_sharpes.len()), (15, 5));
        assert!(c.p10 <= c.median);
    }

    #[test]
    fn a_real_edge_stays_positive_and_noise_does_not() {
        let mut g = Normal::new(11);
        let mut r: Vec<Vec<f64>> = (0..20)
            .map(|_| (0..2520).map(|_| g.sample() * 0.01).collect())
            .collect();
        let noise = cpcv(&r, 10, 2, 5, None).unwrap();
        // One trial with a strong edge (annual Sharpe about 2).
        r.push((0..2520).map(|_| 0.00126 + g.sample() * 0.01).collect());
        let edge = cpcv(&r, 10, 2, 5, Some(20)).unwrap();
        assert!(
            edge.median > 1.0 && edge.share_below_zero == 0.0,
            "{edge:?}"
        );
        assert!(edge.promoted_share.unwrap() > 0.9);
        assert!(noise.median.abs() < 0.8, "{noise:?}");
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        assert_eq!(cpcv(&[], 10, 2, 5, None), Err(CpcvError::NoTrials));
        assert!(matches!(
            cpcv(&[vec![0.0; 100]], 10, 2, 5, None),
            Err(CpcvError::TooFewDays { .. })
        ));
        assert!(matches!(
            cpcv(&[vec![0.0; 1000]], 4, 4, 5, None),
            Err(CpcvError::Groups { .. })
        ));
    }
}
