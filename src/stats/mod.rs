//! Statistics that keep a search honest (`docs/architecture.md` §7.4): the Probabilistic and
//! Deflated Sharpe ratios (Bailey & López de Prado 2012, 2014), the expected maximum Sharpe of
//! zero-skill trials, the minimum backtest length (Bailey, Borwein, López de Prado & Zhu 2014),
//! a Bonferroni haircut of the Sharpe ratio (Harvey & Liu 2015) and, in [`pbo`](mod@pbo), the
//! Probability of Backtest Overfitting by combinatorially symmetric cross-validation.
//!
//! Sharpe ratios here are per period (daily, not annualised) unless a name says otherwise.

pub mod cluster;
pub mod cpcv;
pub mod pbo;

pub use cpcv::{Cpcv, CpcvError};
pub use pbo::{pbo, Pbo, PboError};

/// Euler–Mascheroni constant.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Standard normal CDF Φ (via `erfc`, accurate to about 1e-15).
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Inverse standard normal CDF Φ⁻¹ (Acklam's rational approximation refined by one Halley
/// step; about 1e-15). `p` outside (0, 1) gives ±∞ or NaN.
pub fn norm_inv(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step against the exact CDF.
    let e = norm_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// Sample moments of a return series: per-period Sharpe (mean / sd, sd with n − 1), skewness
/// and (non-excess) kurtosis, as the PSR needs them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    /// Number of returns.
    pub n: usize,
    /// Mean / sample standard deviation, per period (not annualised).
    pub sharpe: f64,
    /// Third standardised moment (0 for a normal distribution).
    pub skew: f64,
    /// Fourth standardised moment, not excess (3 for a normal distribution).
    pub kurtosis: f64,
}

impl Moments {
    /// Moments of `r`; `None` with fewer than 3 values or no variance.
    pub fn of(r: &[f64]) -> Option<Moments> {
        let n = r.len();
        if n < 3 {
            return None;
        }
        let nf = n as f64;
        let mean = r.iter().sum::<f64>() / nf;
        let m2 = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / nf;
        if m2 <= 0.0 || !m2.is_finite() {
            return None;
        }
        let m3 = r.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / nf;
        let m4 = r.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / nf;
        let sd = (m2 * nf / (nf - 1.0)).sqrt();
        Some(Moments {
            n,
            sharpe: mean / sd,
            skew: m3 / m2.powf(1.5),
            kurtosis: m4 / (m2 * m2),
        })
    }
}

/// Probabilistic Sharpe Ratio: the probability that the true Sharpe exceeds `benchmark`, given
/// an estimate `sharpe` from `n` returns with the given skewness and kurtosis (normal: 0, 3).
pub fn psr(sharpe: f64, benchmark: f64, n: usize, skew: f64, kurtosis: f64) -> f64 {
    let var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe;
    if n < 2 || var <= 0.0 || !var.is_finite() {
        return f64::NAN;
    }
    norm_cdf((sharpe - benchmark) * ((n - 1) as f64).sqrt() / var.sqrt())
}

/// The expected maximum of `n_trials` standard normal draws (the False Strategy theorem's
/// `(1−γ)Φ⁻¹(1−1/N) + γΦ⁻¹(1−1/(N·e))`); 0 for a single trial.
pub fn expected_max_z(n_trials: f64) -> f64 {
    if n_trials.is_nan() || n_trials <= 1.0 {
        return 0.0;
    }
    (1.0 - EULER_GAMMA) * norm_inv(1.0 - 1.0 / n_trials)
        + EULER_GAMMA * norm_inv(1.0 - 1.0 / (n_trials * std::f64::consts::E))
}

/// The Sharpe a best-of-`n_trials` zero-skill search is expected to reach, given the
/// cross-trial variance of the Sharpe estimates (same units as the Sharpes).
pub fn expected_max_sharpe(n_trials: f64, sharpe_variance: f64) -> f64 {
    sharpe_variance.max(0.0).sqrt() * expected_max_z(n_trials)
}

/// A Deflated Sharpe Ratio and its parts.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Deflated {
    /// P(true Sharpe > `sr0`): ≥ 0.95 is the usual bar.
    pub dsr: f64,
    /// P(true Sharpe > 0), ignoring the search.
    pub psr: f64,
    /// The expected maximum per-period Sharpe of the zero-skill trials.
    pub sr0: f64,
}

/// Deflated Sharpe Ratio of a selected strategy with moments `m`, after `n_trials` trials
/// whose per-period Sharpe estimates have variance `sharpe_variance`.
pub fn deflated_sharpe(m: &Moments, n_trials: f64, sharpe_variance: f64) -> Deflated {
    let sr0 = expected_max_sharpe(n_trials, sharpe_variance);
    Deflated {
        dsr: psr(m.sharpe, sr0, m.n, m.skew, m.kurtosis),
        psr: psr(m.sharpe, 0.0, m.n, m.skew, m.kurtosis),
        sr0,
    }
}

/// Minimum backtest length in years so that the best of `n_trials` zero-skill strategies is
/// not expected to show an annual Sharpe above `annual_sharpe` (the trials' annual Sharpes
/// taken as unit-variance over one year).
pub fn min_backtest_years(n_trials: f64, annual_sharpe: f64) -> f64 {
    (expected_max_z(n_trials) / annual_sharpe).powi(2)
}

/// The Sharpe left after a Bonferroni correction for `n_tests` tests (Harvey & Liu's haircut):
/// annual Sharpe → t = SR·√years → two-sided p → min(1, p·M) → t → Sharpe. Negative Sharpes
/// are returned as they are.
pub fn haircut_sharpe(annual_sharpe: f64, years: f64, n_tests: f64) -> f64 {
    if annual_sharpe.is_nan() || annual_sharpe <= 0.0 || years <= 0.0 {
        return annual_sharpe;
    }
    let t = annual_sharpe * years.sqrt();
    let p = 2.0 * (1.0 - norm_cdf(t));
    let adjusted = (p * n_tests.max(1.0)).min(1.0);
    let t_adj = norm_inv(1.0 - adjusted / 2.0).max(0.0);
    t_adj / years.sqrt()
}

/// Variance (n − 1) of the finite values of `x`; `None` with fewer than 2.
pub fn variance(x: &[f64]) -> Option<f64> {
    let v: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    Some(v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0))
}

/// A variance robust to a few wild values: the median absolute deviation scaled to a standard
/// deviation (× 1.4826, exact for a normal distribution), squared. `None` with fewer than 2
/// finite values. Up to half the values can be arbitrarily far off without moving it much.
pub fn robust_variance(x: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
    if v.len() < 2 {
        return None;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        }
    };
    let m = median(&mut v);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    let mad = median(&mut dev);
    Some((1.4826 * mad).powi(2))
}

/// Pearson correlation of two equally long series; `None` if either is constant or short.
pub fn correlation(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 3 {
        return None;
    }
    let (a, b) = (&a[..n], &b[..n]);
    let ma = a.iter().sum::<f64>() / n as f64;
    let mb = b.iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

/// A small deterministic generator for tests and simulations (SplitMix64 + Box–Muller).
#[derive(Clone, Debug)]
pub struct Normal(u64);

impl Normal {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Normal {
        Normal(seed)
    }

    fn next_u64(&mut self) -> u64 {
        crate::util::rng::splitmix(&mut self.0)
    }

    /// A uniform draw in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal draw.
    pub fn sample(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn normal_cdf_and_its_inverse() {
        assert!(close(norm_cdf(1.959_963_984_540_054), 0.975, 1e-12));
        assert!(close(norm_inv(0.99), 2.326_347_874_040_841, 1e-9));
        assert!(close(norm_inv(1e-10), -6.361_340_902_404_056, 1e-8));
        for p in [1e-6, 0.01, 0.3, 0.5, 0.77, 0.999] {
            assert!(close(norm_cdf(norm_inv(p)), p, 1e-12), "{p}");
        }
    }

    /// Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", §4 numerical example:
    /// N = 100 trials, V[SR] = 1/2 (annual), T = 1,250 daily returns (250 a year), selected
    /// annual Sharpe 2.5, skewness −3, kurtosis 10 → E[max SR] ≈ 1.79 (annual), DSR ≈ 0.9004.
    #[test]
    fn deflated_sharpe_matches_the_papers_example() {
        let per_year = 250f64;
        let m = Moments {
            n: 1250,
            sharpe: 2.5 / per_year.sqrt(),
            skew: -3.0,
            kurtosis: 10.0,
        };
        let d = deflated_sharpe(&m, 100.0, 0.5 / per_year);
        assert!(close(d.sr0 * per_year.sqrt(), 1.7894, 1e-3), "{}", d.sr0);
        assert!(close(d.dsr, 0.9004, 5e-4), "{}", d.dsr);
        // Ignoring the 100 trials the same estimate looks near-certain.
        assert!(d.psr > 0.99);
    }

    /// Bailey, Borwein, López de Prado & Zhu (2014), "Pseudo-Mathematics and Financial
    /// Charlatanism": with 5 years of data, no more than 45 independent configurations should
    /// be tried, or the best is expected to show an annual Sharpe of 1 by luck alone.
    #[test]
    fn min_backtest_length_matches_the_papers_example() {
        assert!(close(min_backtest_years(45.0, 1.0), 5.0, 0.05));
        assert!(min_backtest_years(45.0, 1.0) <= 2.0 * 45f64.ln());
        assert_eq!(expected_max_z(1.0), 0.0);
    }

    /// Probabilistic Sharpe with normal returns reduces to Φ(SR·√(T−1)/√(1 + SR²/2)); a
    /// negative skew and fat tails lower it.
    #[test]
    fn psr_reduces_to_the_normal_case() {
        let (sr, n) = (0.1f64, 101);
        let expect = norm_cdf(sr * 10.0 / (1.0 + sr * sr / 2.0).sqrt());
        assert!(close(psr(sr, 0.0, n, 0.0, 3.0), expect, 1e-12));
        assert!(psr(sr, 0.0, n, -2.0, 9.0) < expect);
        assert!(psr(sr, 0.0, 1, 0.0, 3.0).is_nan());
    }

    /// Harvey & Liu: an annual Sharpe of 1 over 10 years (t ≈ 3.16) tested once keeps its
    /// value; after 100 tests the Bonferroni p of 0.157 leaves a Sharpe of about 0.45.
    #[test]
    fn haircut_shrinks_with_the_number_of_tests() {
        assert!(close(haircut_sharpe(1.0, 10.0, 1.0), 1.0, 1e-9));
        let h = haircut_sharpe(1.0, 10.0, 100.0);
        assert!(close(h, 0.448, 0.005), "{h}");
        assert_eq!(haircut_sharpe(0.5, 1.0, 1000.0), 0.0);
        assert_eq!(haircut_sharpe(-0.5, 1.0, 10.0), -0.5);
    }

    #[test]
    fn robust_variance_ignores_a_few_wild_values() {
        let body = [-0.9, -0.7, -0.66, -0.6, -0.5, -0.4, -0.3, -0.1, 0.1, 0.4];
        let clean = robust_variance(&body).unwrap();
        let mut junk = body.to_vec();
        junk.extend([-4.2, -3.8, -3.6]);
        let with_junk = robust_variance(&junk).unwrap();
        assert!(with_junk < 2.0 * clean, "{clean} {with_junk}");
        assert!(variance(&junk).unwrap() > 10.0 * clean);
        // A normal sample: close to its variance.
        let mut g = Normal::new(1);
        let x: Vec<f64> = (0..20_000).map(|_| 2.0 * g.sample()).collect();
        assert!((robust_variance(&x).unwrap() - 4.0).abs() < 0.15);
        assert_eq!(robust_variance(&[1.0]), None);
    }

    #[test]
    fn moments_of_a_known_series() {
        let m = Moments::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!(close(m.sharpe, 2.5 / (5.0f64 / 3.0).sqrt(), 1e-12));
        assert!(close(m.skew, 0.0, 1e-12));
        assert!(close(m.kurtosis, 1.64, 1e-12));
        assert!(Moments::of(&[1.0, 1.0, 1.0]).is_none());
        assert!(close(
            correlation(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]).unwrap(),
            0.9986,
            1e-3
        ));
    }

    /// 200 zero-edge strategies on 2 years of daily returns: the best one's DSR stays low,
    /// although its plain PSR often looks convincing.
    #[test]
    fn zero_edge_search_is_deflated() {
        let mut rng = Normal::new(7);
        let (n, t) = (200, 500);
        let series: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..t).map(|_| 0.01 * rng.sample()).collect())
            .collect();
        let moments: Vec<Moments> = series.iter().filter_map(|s| Moments::of(s)).collect();
        let sharpes: Vec<f64> = moments.iter().map(|m| m.sharpe).collect();
        let best = moments
            .iter()
            .max_by(|a, b| a.sharpe.total_cmp(&b.sharpe))
            .unwrap();
        let d = deflated_sharpe(best, n as f64, variance(&sharpes).unwrap());
        assert!(
            d.psr > 0.99,
            "the winner looks significant alone: {}",
            d.psr
        );
        assert!(d.dsr < 0.95, "{d:?}");
    }
}
