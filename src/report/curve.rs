//! Figures derived from an equity curve for the reports: the benchmark on the curve's dates,
//! drawdowns and their worst episodes, period returns, and a rolling Sharpe ratio. Curves are
//! (date, value) pairs with dates in days since 1970-01-01.

use std::collections::BTreeMap;

use crate::calendar;

/// The benchmark level on each curve date (the last level on or before it), rescaled to start
/// where the curve starts; NaN before the benchmark's first date.
pub fn align_benchmark(curve: &[(i32, f64)], bench: &[(i32, f64)]) -> Vec<(i32, f64)> {
    let mut j = 0;
    let mut last = f64::NAN;
    let mut raw = Vec::with_capacity(curve.len());
    for &(d, _) in curve {
        while let Some(&(bd, bv)) = bench.get(j) {
            if bd > d {
                break;
            }
            if bv.is_finite() && bv > 0.0 {
                last = bv;
            }
            j += 1;
        }
        raw.push((d, last));
    }
    let base = raw.iter().map(|p| p.1).find(|v| v.is_finite());
    let start = curve.first().map_or(1.0, |p| p.1);
    raw.into_iter()
        .map(|(d, v)| (d, base.map_or(f64::NAN, |b| v / b * start)))
        .collect()
}

/// Drawdown from the running peak at each date (≤ 0).
pub fn drawdowns(curve: &[(i32, f64)]) -> Vec<(i32, f64)> {
    let mut peak = f64::NEG_INFINITY;
    curve
        .iter()
        .map(|&(d, v)| {
            peak = peak.max(v);
            (d, if peak > 0.0 { v / peak - 1.0 } else { f64::NAN })
        })
        .collect()
}

/// One drawdown episode: from a peak to the first date back at that peak.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    /// The peak's date.
    pub start: i32,
    pub trough: i32,
    /// The first date at or above the peak again; `None` while still below it.
    pub recovery: Option<i32>,
    /// Trough / peak − 1 (< 0).
    pub depth: f64,
    /// Sessions from the peak to the recovery (or to the curve's end).
    pub sessions: usize,
}

/// The `n` deepest drawdown episodes, deepest first.
pub fn worst_drawdowns(curve: &[(i32, f64)], n: usize) -> Vec<Episode> {
    let mut out: Vec<Episode> = Vec::new();
    let Some(&(d0, v0)) = curve.first() else {
        return out;
    };
    let (mut peak, mut peak_i, mut peak_d) = (v0, 0usize, d0);
    let mut trough: Option<(f64, i32)> = None;
    for (i, &(d, v)) in curve.iter().enumerate().skip(1) {
        if !v.is_finite() {
            continue;
        }
        if v >= peak {
            if let Some((low, low_d)) = trough.take() {
                out.push(Episode {
                    start: peak_d,
                    trough: low_d,
                    recovery: Some(d),
                    depth: low / peak - 1.0,
                    sessions: i - peak_i,
                });
            }
            (peak, peak_i, peak_d) = (v, i, d);
        } else if trough.is_none_or(|(low, _)| v < low) {
            trough = Some((v, d));
        }
    }
    if let Some((low, low_d)) = trough {
        out.push(Episode {
            start: peak_d,
            trough: low_d,
            recovery: None,
            depth: low / peak - 1.0,
            sessions: curve.len() - 1 - peak_i,
        });
    }
    out.sort_by(|a, b| a.depth.total_cmp(&b.depth));
    out.truncate(n);
    out
}

/// Returns per period: the last value of each period over the last value of the previous
/// one (the first period from the curve's first value). `key` maps a date to its period.
pub fn period_returns<K: Ord + Copy>(
    curve: &[(i32, f64)],
    key: impl Fn(i32) -> K,
) -> BTreeMap<K, f64> {
    let mut last: BTreeMap<K, f64> = BTreeMap::new();
    for &(d, v) in curve {
        if v.is_finite() {
            last.insert(key(d), v);
        }
    }
    let mut prev = curve.iter().map(|p| p.1).find(|v| v.is_finite());
    last.into_iter()
        .map(|(k, v)| {
            let r = prev.map_or(f64::NAN, |p| v / p - 1.0);
            prev = Some(v);
            (k, r)
        })
        .collect()
}

/// Sessions in the rolling window of [`rolling_sharpe`]: one year.
pub const ROLLING_SESSIONS: usize = 252;

/// The Sharpe ratio of the last `window` daily returns at each date (as the metrics compute it:
/// excess over the daily equivalent of `risk_free`, sample deviation, × √252); dates before a
/// full window are left out.
pub fn rolling_sharpe(curve: &[(i32, f64)], window: usize, risk_free: f64) -> Vec<(i32, f64)> {
    let daily_rf = (1.0 + risk_free).powf(1.0 / 252.0) - 1.0;
    let excess: Vec<f64> = curve
        .windows(2)
        .map(|w| w[1].1 / w[0].1 - 1.0 - daily_rf)
        .collect();
    if window < 2 || excess.len() < window {
        return Vec::new();
    }
    excess
        .windows(window)
        .enumerate()
        .map(|(i, xs)| {
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            // The date of the window's last return.
            let date = curve[i + window].0;
            (date, mean / var.sqrt().max(1e-6) * 252f64.sqrt())
        })
        .collect()
}

/// The calendar year of a date.
pub fn year_of(d: i32) -> i32 {
    calendar::civil_from_days(d).0
}

/// The (year, month) of a date.
pub fn month_of(d: i32) -> (i32, u32) {
    let (y, m, _) = calendar::civil_from_days(d);
    (y, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> i32 {
        calendar::days_from_civil(y, m, dd)
    }

    #[test]
    fn period_returns_chain_from_the_first_value() {
        let curve = [
            (d(2020, 1, 2), 1.0),
            (d(2020, 1, 31), 1.1),
            (d(2020, 2, 28), 0.99),
            (d(2021, 1, 4), 1.98),
        ];
        let m = period_returns(&curve, month_of);
        assert!((m[&(2020, 1)] - 0.1).abs() < 1e-12);
        assert!((m[&(2020, 2)] + 0.1).abs() < 1e-12);
        assert!((m[&(2021, 1)] - 1.0).abs() < 1e-12);
        let y = period_returns(&curve, year_of);
        assert!((y[&2020] + 0.01).abs() < 1e-12);
    }

    #[test]
    fn benchmark_is_rebased_and_forward_filled() {
        let curve = [(1, 1.0), (2, 1.2), (4, 1.3)];
        let bench = [(0, 50.0), (2, 100.0), (3, 75.0)];
        let b = align_benchmark(&curve, &bench);
        assert_eq!(b, vec![(1, 1.0), (2, 2.0), (4, 1.5)]);
        let dd = drawdowns(&b);
        assert_eq!(dd[2].1, -0.25);
    }

    #[test]
    fn worst_drawdowns_are_episodes_deepest_first() {
        let curve: Vec<(i32, f64)> = [1.0, 1.2, 0.9, 1.0, 1.3, 1.25, 1.4, 0.7, 0.8]
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as i32, v))
            .collect();
        let e = worst_drawdowns(&curve, 5);
        assert_eq!(e.len(), 3);
        // Still open: peak 1.4 on day 6, trough 0.7 on day 7.
        assert_eq!((e[0].start, e[0].trough, e[0].recovery), (6, 7, None));
        assert!((e[0].depth + 0.5).abs() < 1e-12);
        assert_eq!(e[0].sessions, 2);
        // Peak 1.2 on day 1, trough 0.9 on day 2, back above on day 4.
        assert_eq!((e[1].start, e[1].trough, e[1].recovery), (1, 2, Some(4)));
        assert!((e[1].depth + 0.25).abs() < 1e-12);
        assert_eq!(e[1].sessions, 3);
        assert_eq!(worst_drawdowns(&curve, 1).len(), 1);
        assert!(worst_drawdowns(&[], 5).is_empty());
    }

    #[test]
    fn rolling_sharpe_matches_the_full_sample_on_one_window() {
        let curve: Vec<(i32, f64)> = (0..11)
            .map(|i| (i, 1.0 + 0.01 * f64::from(i) + 0.003 * f64::from(i % 3)))
            .collect();
        let r = rolling_sharpe(&curve, 10, 0.02);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, 10);
        let rets: Vec<f64> = curve.windows(2).map(|w| w[1].1 / w[0].1 - 1.0).collect();
        let m = crate::metrics::score_with(
            &crate::backtest::SimResult {
                creturn: curve.clone(),
                trades: Vec::new(),
                rebalances: 0,
                exposure: Default::default(),
                warnings: Vec::new(),
            },
            None,
            0.02,
        );
        assert_eq!(rets.len(), 10);
        assert!(
            (r[0].1 - m.sharpe).abs() < 1e-9,
            "{} vs {}",
            r[0].1,
            m.sharpe
        );
        assert!(rolling_sharpe(&curve, 20, 0.02).is_empty());
    }
}
