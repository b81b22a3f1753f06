//! Probability of Backtest Overfitting by combinatorially symmetric cross-validation (CSCV;
//! Bailey, Borwein, López de Prado & Zhu 2017). The T × N matrix of per-period returns of all
//! trials is cut into S equal blocks of rows; for each of the C(S, S/2) ways to pick half the
//! blocks as "train", the trial with the best train Sharpe is ranked on the other half; the PBO
//! is the share of splits where that winner lands at or below the median (logit ≤ 0). A search
//! with no skill gives about 0.5; a real, stable edge gives about 0.

/// Why a PBO could not be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PboError {
    /// Fewer than two trials: there is nothing to choose between (carries the count).
    #[error("PBO needs at least 2 trials with returns, got {0}")]
    TooFewTrials(usize),
    /// Fewer than two periods per block.
    #[error("PBO with {blocks} blocks needs at least {} periods (two per block), got {periods}", blocks * 2)]
    TooFewPeriods {
        /// `S`, the number of blocks asked for.
        blocks: usize,
        /// Periods (rows) per trial.
        periods: usize,
    },
    /// `S` is odd, below 2 or above 24 (C(24, 12) ≈ 2.7 million splits is the ceiling).
    #[error("the number of blocks must be even and between 2 and 24, got {0}")]
    Blocks(usize),
    /// Trials differ in length: (trial index, its length, the first trial's length).
    #[error("trial {0} has {1} returns, the first has {2}: the matrix must be rectangular")]
    Ragged(usize, usize, usize),
}

/// The result of CSCV.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Pbo {
    /// Share of splits whose in-sample winner ranks at or below the out-of-sample median.
    pub pbo: f64,
    /// Train/test splits evaluated: C(S, S/2).
    pub splits: usize,
    /// `S`, the number of row blocks.
    pub blocks: usize,
    /// `N`, the number of trials compared.
    pub trials: usize,
    /// Mean logit of the winner's out-of-sample relative rank (negative: overfit).
    pub mean_logit: f64,
}

/// Per-block sums of one trial: count, Σr, Σr².
#[derive(Clone, Copy, Default)]
struct Sums(f64, f64, f64);

impl Sums {
    fn add(&mut self, o: Sums) {
        self.0 += o.0;
        self.1 += o.1;
        self.2 += o.2;
    }

    /// Mean / sd (population sd: every trial shares the count, so the ranking is unchanged).
    fn sharpe(self) -> f64 {
        if self.0 < 2.0 {
            return f64::NEG_INFINITY;
        }
        let m = self.1 / self.0;
        let var = self.2 / self.0 - m * m;
        if var <= 1e-20 {
            // A flat series: no risk, no return; it ranks in the middle of nothing.
            return if m > 0.0 {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            };
        }
        m / var.sqrt()
    }
}

/// CSCV over `returns[trial][period]` (every trial the same length; missing days as 0) with
/// `blocks` blocks (S = 16 is the usual choice: 12,870 splits). Periods beyond a multiple of
/// S are dropped from the start, so the latest data is kept.
pub fn pbo(returns: &[Vec<f64>], blocks: usize) -> Result<Pbo, PboError> {
    let n = returns.len();
    if n < 2 {
        return Err(PboError::TooFewTrials(n));
    }
    if blocks < 2 || !blocks.is_multiple_of(2) || blocks > 24 {
        return Err(PboError::Blocks(blocks));
    }
    let t = returns[0].len();
    if let Some((i, r)) = returns.iter().enumerate().find(|(_, r)| r.len() != t) {
        return Err(PboError::Ragged(i, r.len(), t));
    }
    if t < blocks * 2 {
        return Err(PboError::TooFewPeriods { blocks, periods: t });
    }
    let size = t / blocks;
    let skip = t - size * blocks;
    // sums[b][i]: block b of trial i.
    let sums: Vec<Vec<Sums>> = (0..blocks)
        .map(|b| {
            returns
                .iter()
                .map(|r| {
                    let mut s = Sums::default();
                    for &x in &r[skip + b * size..skip + (b + 1) * size] {
                        let x = if x.is_finite() { x } else { 0.0 };
                        s.add(Sums(1.0, x, x * x));
                    }
                    s
                })
                .collect()
        })
        .collect();
    let half = blocks / 2;
    let (mut splits, mut overfit, mut logit_sum) = (0usize, 0usize, 0.0);
    let mut train = vec![Sums::default(); n];
    let mut test = vec![Sums::default(); n];
    for mask in 0u32..(1 << blocks) {
        if mask.count_ones() as usize != half {
            continue;
        }
        train.iter_mut().for_each(|s| *s = Sums::default());
        test.iter_mut().for_each(|s| *s = Sums::default());
        for (b, row) in sums.iter().enumerate() {
            let side = if mask & (1 << b) != 0 {
                &mut train
            } else {
                &mut test
            };
            for (acc, s) in side.iter_mut().zip(row) {
                acc.add(*s);
            }
        }
        // The in-sample winner (the first on ties, as a search would keep it).
        let mut best = 0;
        let mut best_sr = f64::NEG_INFINITY;
        for (i, s) in train.iter().enumerate() {
            let sr = s.sharpe();
            if sr > best_sr {
                best = i;
                best_sr = sr;
            }
        }
        let oos: Vec<f64> = test.iter().map(|s| s.sharpe()).collect();
        let w = oos[best];
        // Rank 1..=n of the winner out of sample (ties share the average rank).
        let below = oos.iter().filter(|&&x| x < w).count() as f64;
        let equal = oos.iter().filter(|&&x| x == w).count() as f64;
        let rank = below + (equal + 1.0) / 2.0;
        let omega = rank / (n as f64 + 1.0);
        let logit = (omega / (1.0 - omega)).ln();
        splits += 1;
        logit_sum += logit;
        if logit <= 0.0 {
            overfit += 1;
        }
    }
    Ok(Pbo {
        pbo: overfit as f64 / splits as f64,
        splits,
        blocks,
        trials: n,
        mean_logit: logit_sum / splits as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Normal;

    fn noise(rng: &mut Normal, n: usize, t: usize, edge: &[f64]) -> Vec<Vec<f64>> {
        (0..n)
            .map(|i| {
                (0..t)
                    .map(|_| edge.get(i).copied().unwrap_or(0.0) + 0.01 * rng.sample())
                    .collect()
            })
            .collect()
    }

    /// The null reference (`docs/architecture.md` §7.4): zero-edge strategies give a PBO near
    /// 0.5 (a published controlled study: 200 strategies → 0.476).
    #[test]
    fn zero_edge_strategies_give_about_one_half() {
        // One data set's PBO varies a lot (the splits share data); average a few.
        let mut rng = Normal::new(11);
        let runs: Vec<Pbo> = (0..6)
            .map(|_| pbo(&noise(&mut rng, 40, 640, &[]), 16).unwrap())
            .collect();
        assert_eq!(runs[0].splits, 12_870);
        let mean = runs.iter().map(|p| p.pbo).sum::<f64>() / runs.len() as f64;
        assert!((0.35..=0.65).contains(&mean), "{mean} {runs:?}");
    }

    /// One strategy with a real edge among noise: the in-sample winner is it, out of sample
    /// too (a published planted-edge study: 0.001; `docs/architecture.md` §7.4).
    #[test]
    fn a_planted_edge_gives_about_zero() {
        let mut rng = Normal::new(5);
        let mut edge = vec![0.0; 30];
        edge[3] = 0.004;
        let p = pbo(&noise(&mut rng, 30, 800, &edge), 16).unwrap();
        assert!(p.pbo < 0.05, "{p:?}");
        assert!(p.mean_logit > 1.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert_eq!(pbo(&[vec![0.0; 40]], 16), Err(PboError::TooFewTrials(1)));
        assert_eq!(
            pbo(&[vec![0.0; 40], vec![0.0; 40]], 5),
            Err(PboError::Blocks(5))
        );
        assert!(matches!(
            pbo(&[vec![0.0; 40], vec![0.0; 39]], 4),
            Err(PboError::Ragged(1, 39, 40))
        ));
        assert!(matches!(
            pbo(&[vec![0.0; 10], vec![0.0; 10]], 16),
            Err(PboError::TooFewPeriods { .. })
        ));
    }
}
