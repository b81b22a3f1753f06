//! TA-Lib's moving averages and what is built from them: SMA, EMA, WMA, DEMA, TEMA, KAMA, APO,
//! PPO (with TA-Lib's default EMA), STDDEV. Each follows the C library's loops (running sums
//! seeded where the library seeds them, the multiply-adds it fuses).

use super::fma;
use super::{ema_from, sum, window_variances, with_start, Outputs};

/// TA-Lib's SMA of `x` as seen from `first_out`: the running sum seeded with the `period`
/// values ending there, the oldest value leaving after each output. Values for
/// `first_out..x.len()`.
pub(super) fn sma_from(x: &[f64], period: usize, first_out: usize) -> Vec<f64> {
    let p = period as f64;
    let mut total = sum(&x[first_out + 1 - period..first_out]);
    let mut out = Vec::with_capacity(x.len() - first_out);
    for i in first_out..x.len() {
        total += x[i];
        out.push(total / p);
        total -= x[i + 1 - period];
    }
    out
}

pub fn sma(close: &[f64], period: usize) -> Outputs {
    with_start(&[close], period - 1, |x| {
        vec![sma_from(x[0], period, period - 1)]
    })
}

pub fn ema(close: &[f64], period: usize) -> Outputs {
    with_start(&[close], period - 1, |x| {
        vec![ema_from(x[0], period, period - 1)]
    })
}

/// Weighted moving average (weights 1..period, the newest heaviest).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "relaxed-simd"))]
pub fn wma(close: &[f64], period: usize) -> Outputs {
    with_start(&[close], period - 1, |x| {
        let x = x[0];
        if period == 1 {
            return vec![x.to_vec()];
        }
        let divider = (period * (period + 1) / 2) as f64;
        let p = period as f64;
        let (mut sub, mut total) = (0.0f64, 0.0f64);
        for (i, &v) in x[..period - 1].iter().enumerate() {
            sub += v;
            total = fma(v, (i + 1) as f64, total);
        }
        let mut trailing = 0.0;
        let mut out = Vec::with_capacity(x.len() + 1 - period);
        for i in period - 1..x.len() {
            let v = x[i];
            sub += v;
            sub -= trailing;
            total = fma(v, p, total);
            trailing = x[i + 1 - period];
            out.push(total / divider);
            total -= sub;
        }
        vec![out]
    })
}

/// `2·EMA − EMA(EMA)`.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "relaxed-simd"))]
pub fn dema(close: &[f64], period: usize) -> Outputs {
    let lookback = 2 * (period - 1);
    with_start(&[close], lookback, |x| {
        let e1 = ema_from(x[0], period, period - 1);
        let e2 = ema_from(&e1, period, period - 1);
        let out = e2
            .iter()
            .zip(&e1[period - 1..])
            .map(|(b, a)| fma(2.0, *a, -b))
            .collect();
        vec![out]
    })
}

/// `3·EMA − 3·EMA(EMA) + EMA(EMA(EMA))`.
pub fn tema(close: &[f64], period: usize) -> Outputs {
    let lookback = 3 * (period - 1);
    with_start(&[close], lookback, |x| {
        let e1 = ema_from(x[0], period, period - 1);
        let e2 = ema_from(&e1, period, period - 1);
        let e3 = ema_from(&e2, period, period - 1);
        let k = period - 1;
        let out = e3
            .iter()
            .enumerate()
            .map(|(j, c)| c + (3.0 * e1[2 * k + j] - 3.0 * e2[k + j]))
            .collect();
        vec![out]
    })
}

/// Kaufman's adaptive moving average (fast 2, slow 30 as TA-Lib fixes them).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "relaxed-simd"))]
pub fn kama(close: &[f64], period: usize) -> Outputs {
    with_start(&[close], period, |x| {
        let x = x[0];
        let const_max = 2.0 / (30.0 + 1.0);
        let const_diff = 2.0 / (2.0 + 1.0) - const_max;
        let mut sum_roc1 = 0.0f64;
        for t in 0..period {
            sum_roc1 += (x[t] - x[t + 1]).abs();
        }
        let smoothing = |sum_roc1: f64, period_roc: f64| {
            let er = if sum_roc1 <= period_roc || is_zero(sum_roc1) {
                1.0
            } else {
                (period_roc / sum_roc1).abs()
            };
            let c = fma(er, const_diff, const_max);
            c * c
        };
        let mut today = period;
        let mut trailing_idx = 0;
        let mut prev = x[today - 1];
        let mut trailing_value = x[trailing_idx];
        trailing_idx += 1;
        let c = smoothing(sum_roc1, x[today] - trailing_value);
        prev = fma(x[today] - prev, c, prev);
        today += 1;
        let mut out = vec![prev];
        while today < x.len() {
            let v = x[today];
            let t2 = x[trailing_idx];
            trailing_idx += 1;
            sum_roc1 -= (trailing_value - t2).abs();
            sum_roc1 += (v - x[today - 1]).abs();
            trailing_value = t2;
            let c = smoothing(sum_roc1, v - t2);
            prev = fma(v - prev, c, prev);
            today += 1;
            out.push(prev);
        }
        vec![out]
    })
}

/// TA-Lib's `TA_IS_ZERO`: within 1e-8 of zero.
pub(super) fn is_zero(v: f64) -> bool {
    -0.000_000_01 < v && v < 0.000_000_01
}

/// APO (`percent = false`) or PPO: fast EMA minus slow EMA, both from the slow one's first
/// row (TA-Lib's default MA type for these is the EMA); PPO divides by the slow EMA.
pub fn price_oscillator(close: &[f64], fast: usize, slow: usize, percent: bool) -> Outputs {
    let (fast, slow) = if slow < fast {
        (slow, fast)
    } else {
        (fast, slow)
    };
    with_start(&[close], slow - 1, |x| {
        // TA-Lib runs each EMA from its own first row (the fast one is not re-seeded at the
        // slow one's start, unlike MACD's).
        let f = &ema_from(x[0], fast, fast - 1)[slow - fast..];
        let s = ema_from(x[0], slow, slow - 1);
        let out = f
            .iter()
            .zip(&s)
            .map(|(f, s)| match (percent, is_zero(*s)) {
                (false, _) => f - s,
                (true, false) => ((f - s) / s) * 100.0,
                (true, true) => 0.0,
            })
            .collect();
        vec![out]
    })
}

/// Rolling population standard deviation times `nbdev`, from TA-Lib's shifted-data variance
/// (the one BBANDS uses).
pub fn stddev(close: &[f64], period: usize, nbdev: f64) -> Outputs {
    with_start(&[close], period - 1, |x| {
        let out = window_variances(x[0], period)
            .into_iter()
            .map(|var| if var != 0.0 { var.sqrt() * nbdev } else { 0.0 })
            .collect();
        vec![out]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_of_a_line() {
        let x: Vec<f64> = (0..40).map(|i| i as f64).collect();
        assert_eq!(sma(&x, 5)[0][10], 8.0);
        assert!(sma(&x, 5)[0][3].is_nan());
        assert_eq!(wma(&x, 3)[0][10], (8.0 + 2.0 * 9.0 + 3.0 * 10.0) / 6.0);
        assert!((ema(&x, 5)[0][4] - 2.0).abs() < 1e-12);
    }
}
