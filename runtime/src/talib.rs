//! TA-Lib's indicators with its default settings (SMA seeds, Wilder smoothing, no unstable
//! period), per stock. As the `talib` Python wrapper does, computation starts at the first row
//! where every input is present; earlier rows and the indicator's lookback are NaN.
//! Checked against the TA-Lib 0.8 wheel (C library 0.6) on the test market: STOCH and WILLR
//! are bit-identical; RSI, ATR, MACD and BBANDS agree to ≤ 1e-11 relative (the C library's
//! exact floating-point operation order is not reproduced).

// Index loops mirror the reference algorithms (TA-Lib, pandas) line by line.
#![allow(clippy::needless_range_loop)]

use crate::kernels;

/// The outputs of one indicator for one stock (one vector per output).
pub type Outputs = Vec<Vec<f64>>;

fn nan(n: usize) -> Vec<f64> {
    vec![f64::NAN; n]
}

/// First row where all inputs are present.
fn begin(inputs: &[&[f64]]) -> Option<usize> {
    let n = inputs.first().map_or(0, |x| x.len());
    (0..n).find(|&i| inputs.iter().all(|x| !x[i].is_nan()))
}

fn is_zero(v: f64) -> bool {
    -0.000_000_01 < v && v < 0.000_000_01
}

/// RSI over `period` rows of `close`.
pub fn rsi(close: &[f64], period: usize) -> Outputs {
    let n = close.len();
    let mut out = nan(n);
    let Some(b) = begin(&[close]) else {
        return vec![out];
    };
    if period < 2 || b + period >= n {
        return vec![out];
    }
    let p = period as f64;
    let (mut gain, mut loss) = (0.0f64, 0.0f64);
    let mut prev = close[b];
    for &v in &close[b + 1..=b + period] {
        let d = v - prev;
        prev = v;
        if d < 0.0 {
            loss -= d;
        } else {
            gain += d;
        }
    }
    gain /= p;
    loss /= p;
    let value = |g: f64, l: f64| {
        let t = g + l;
        if is_zero(t) {
            0.0
        } else {
            100.0 * (g / t)
        }
    };
    out[b + period] = value(gain, loss);
    for i in b + period + 1..n {
        let d = close[i] - prev;
        prev = close[i];
        loss *= p - 1.0;
        gain *= p - 1.0;
        if d < 0.0 {
            loss -= d;
        } else {
            gain += d;
        }
        loss /= p;
        gain /= p;
        out[i] = value(gain, loss);
    }
    vec![out]
}

/// TA-Lib's EMA of `x[start..]` as seen from `first_out`: seeded with the simple mean of the
/// `period` values ending at `first_out`, then `k = 2/(period+1)`. Returns values for
/// `first_out..x.len()`.
fn ema_from(x: &[f64], period: usize, first_out: usize) -> Vec<f64> {
    let k = 2.0 / (period as f64 + 1.0);
    let seed_start = first_out + 1 - period;
    let mut prev = x[seed_start..=first_out].iter().sum::<f64>() / period as f64;
    let mut out = Vec::with_capacity(x.len() - first_out);
    out.push(prev);
    for &v in &x[first_out + 1..] {
        prev = (v - prev) * k + prev;
        out.push(prev);
    }
    out
}

/// MACD line, signal and histogram.
pub fn macd(close: &[f64], fast: usize, slow: usize, signal: usize) -> Outputs {
    let n = close.len();
    let (mut a, mut b, mut c) = (nan(n), nan(n), nan(n));
    let (fast, slow) = if slow < fast {
        (slow, fast)
    } else {
        (fast, slow)
    };
    let Some(start) = begin(&[close]) else {
        return vec![a, b, c];
    };
    let x = &close[start..];
    let lookback = (slow - 1) + (signal - 1);
    if fast < 2 || signal < 1 || x.len() <= lookback {
        return vec![a, b, c];
    }
    // Both EMAs produce their first value at the same row, `slow - 1`.
    let first = slow - 1;
    let fast_ema = ema_from(x, fast, first);
    let slow_ema = ema_from(x, slow, first);
    let line: Vec<f64> = fast_ema.iter().zip(&slow_ema).map(|(f, s)| f - s).collect();
    let sig = ema_from(&line, signal, signal - 1);
    for (j, s) in sig.iter().enumerate() {
        let i = start + first + signal - 1 + j;
        let m = line[signal - 1 + j];
        a[i] = m;
        b[i] = *s;
        c[i] = m - s;
    }
    vec![a, b, c]
}

/// Simple moving average over `period` values of `x`, with TA-Lib's running-sum order (the
/// oldest value leaves after the output is taken); NaN where not full.
fn sma(x: &[f64], period: usize) -> Vec<f64> {
    let mut out = nan(x.len());
    let mut sum = 0.0;
    for i in 0..x.len() {
        sum += x[i];
        if i + 1 >= period {
            out[i] = sum / period as f64;
            sum -= x[i + 1 - period];
        }
    }
    out
}

fn highest_lowest(high: &[f64], low: &[f64], i: usize, period: usize) -> (f64, f64) {
    let from = i + 1 - period;
    let hh = high[from..=i].iter().copied().fold(f64::MIN, kernels::max);
    let ll = low[from..=i].iter().copied().fold(f64::MAX, kernels::min);
    (hh, ll)
}

/// Slow %K and slow %D (simple moving averages).
pub fn stoch(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    fastk: usize,
    slowk: usize,
    slowd: usize,
) -> Outputs {
    let n = close.len();
    let (mut k_out, mut d_out) = (nan(n), nan(n));
    let Some(b) = begin(&[high, low, close]) else {
        return vec![k_out, d_out];
    };
    let (h, l, c) = (&high[b..], &low[b..], &close[b..]);
    let m = c.len();
    if m < fastk + slowk + slowd - 2 {
        return vec![k_out, d_out];
    }
    let mut fast = Vec::with_capacity(m + 1 - fastk);
    for i in fastk - 1..m {
        let (hh, ll) = highest_lowest(h, l, i, fastk);
        let range = hh - ll;
        fast.push(if range != 0.0 {
            (c[i] - ll) / range * 100.0
        } else {
            0.0
        });
    }
    let k = sma(&fast, slowk);
    let k_valid: Vec<f64> = k[slowk - 1..].to_vec();
    let d = sma(&k_valid, slowd);
    for j in slowd - 1..k_valid.len() {
        let i = b + fastk - 1 + slowk - 1 + j;
        k_out[i] = k_valid[j];
        d_out[i] = d[j];
    }
    vec![k_out, d_out]
}

/// Bollinger bands: upper, middle (SMA), lower; population standard deviation.
pub fn bbands(close: &[f64], period: usize, up: f64, down: f64) -> Outputs {
    let n = close.len();
    let (mut u, mut m, mut l) = (nan(n), nan(n), nan(n));
    let Some(b) = begin(&[close]) else {
        return vec![u, m, l];
    };
    let x = &close[b..];
    if x.len() < period {
        return vec![u, m, l];
    }
    let mid = sma(x, period);
    let p = period as f64;
    let mut s2 = 0.0f64;
    for i in 0..x.len() {
        s2 += x[i] * x[i];
        if i + 1 >= period {
            let var = s2 / p - mid[i] * mid[i];
            s2 -= x[i + 1 - period] * x[i + 1 - period];
            // TA-Lib treats a variance below 1e-8 as zero.
            let sd = if var < 0.000_000_01 { 0.0 } else { var.sqrt() };
            m[b + i] = mid[i];
            u[b + i] = mid[i] + up * sd;
            l[b + i] = mid[i] - down * sd;
        }
    }
    vec![u, m, l]
}

/// Average true range with Wilder smoothing, seeded by the mean of the first `period` ranges.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Outputs {
    let n = close.len();
    let mut out = nan(n);
    let Some(b) = begin(&[high, low, close]) else {
        return vec![out];
    };
    let (h, l, c) = (&high[b..], &low[b..], &close[b..]);
    let m = c.len();
    if m <= period {
        return vec![out];
    }
    let tr = |i: usize| {
        let prev = c[i - 1];
        kernels::max(
            kernels::max(h[i] - l[i], (h[i] - prev).abs()),
            (l[i] - prev).abs(),
        )
    };
    if period == 1 {
        for i in 1..m {
            out[b + i] = tr(i);
        }
        return vec![out];
    }
    let p = period as f64;
    let mut prev = (1..=period).map(tr).sum::<f64>() / p;
    out[b + period] = prev;
    for i in period + 1..m {
        prev *= p - 1.0;
        prev += tr(i);
        prev /= p;
        out[b + i] = prev;
    }
    vec![out]
}

/// Williams %R over `period` rows.
pub fn willr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Outputs {
    let n = close.len();
    let mut out = nan(n);
    let Some(b) = begin(&[high, low, close]) else {
        return vec![out];
    };
    let (h, l, c) = (&high[b..], &low[b..], &close[b..]);
    for i in period.saturating_sub(1)..c.len() {
        let (hh, ll) = highest_lowest(h, l, i, period);
        let range = hh - ll;
        out[b + i] = if range != 0.0 {
            (hh - c[i]) / range * -100.0
        } else {
            0.0
        };
    }
    vec![out]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsi_of_a_steady_rise_is_100_and_starts_after_the_period() {
        let x: Vec<f64> = (0..30).map(|i| 10.0 + i as f64).collect();
        let r = &rsi(&x, 14)[0];
        assert!(r[13].is_nan());
        assert_eq!(r[14], 100.0);
        assert_eq!(r[29], 100.0);
    }

    #[test]
    fn macd_starts_at_its_lookback() {
        let x: Vec<f64> = (0..60).map(|i| ((i as f64) * 0.3).sin() + 10.0).collect();
        let out = macd(&x, 12, 26, 9);
        assert!(out[0][32].is_nan());
        assert!(!out[0][33].is_nan());
        assert!((out[2][40] - (out[0][40] - out[1][40])).abs() < 1e-15);
    }

    #[test]
    fn leading_missing_rows_shift_the_start() {
        let mut x = vec![f64::NAN; 3];
        x.extend((0..20).map(|i| i as f64));
        let out = bbands(&x, 5, 2.0, 2.0);
        assert!(out[1][6].is_nan());
        assert_eq!(out[1][7], 2.0);
    }
}
