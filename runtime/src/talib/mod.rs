//! TA-Lib's indicators with its default settings (SMA seeds, Wilder smoothing, no unstable
//! period), per stock. As the `talib` Python wrapper does, computation starts at the first row
//! where every input is present; earlier rows and the indicator's lookback are NaN.
//!
//! Each function follows the TA-Lib C library's order of floating-point operations as the
//! pinned wheel (TA-Lib 0.8.2, C library 0.8.1) computes them on an x86-64 CPU with FMA (its
//! `.fma` variants, chosen at run time on every x86-64 CPU since about 2013): divisions by the
//! period that the library turns into a multiplication by `1 / period`, and the multiply-adds it
//! fuses (one rounding, [`fused::fma`]). So the values agree with TA-Lib bit for bit
//! (`docs/semantics.md` §5.5, D28), and cells where a price equals an indicator compare the same
//! way.

// Index loops mirror the reference algorithms (TA-Lib, pandas) line by line.
#![allow(clippy::needless_range_loop)]

use fused::fma;

mod average;
mod directional;
mod fused;
mod momentum;
mod volume;

pub use average::{dema, ema, kama, price_oscillator, sma, stddev, tema, wma};
pub use directional::{adx, di, natr, sar, trange, Di};
pub use momentum::{aroon, bop, cci, cmo, mom, roc, ultosc};
pub use volume::{ad, adosc, mfi, obv};

/// The outputs of one indicator for one stock (one vector per output).
pub type Outputs = Vec<Vec<f64>>;

fn nan(n: usize) -> Vec<f64> {
    vec![f64::NAN; n]
}

/// An indicator with `outputs` outputs and `lookback` rows of lookback, run by `kernel` on the
/// inputs from their first common present row: the kernel returns each output from row
/// `lookback` of those inputs on; rows before are NaN (all of them when the inputs are too
/// short).
fn with_start_n(
    inputs: &[&[f64]],
    lookback: usize,
    outputs: usize,
    kernel: impl FnOnce(&[&[f64]]) -> Outputs,
) -> Outputs {
    let n = inputs.first().map_or(0, |x| x.len());
    let mut out = vec![nan(n); outputs];
    let Some(b) = begin(inputs) else {
        return out;
    };
    if n - b <= lookback {
        return out;
    }
    let from: Vec<&[f64]> = inputs.iter().map(|x| &x[b..]).collect();
    for (o, values) in out.iter_mut().zip(kernel(&from)) {
        let at = b + lookback;
        let len = values.len().min(n - at);
        o[at..at + len].copy_from_slice(&values[..len]);
    }
    out
}

/// [`with_start_n`] for a one-output indicator.
fn with_start(
    inputs: &[&[f64]],
    lookback: usize,
    kernel: impl FnOnce(&[&[f64]]) -> Outputs,
) -> Outputs {
    with_start_n(inputs, lookback, 1, kernel)
}

/// First row where all inputs are present.
fn begin(inputs: &[&[f64]]) -> Option<usize> {
    let n = inputs.first().map_or(0, |x| x.len());
    (0..n).find(|&i| inputs.iter().all(|x| !x[i].is_nan()))
}

/// The sum of `x` in order, from 0.0 (as the C loops accumulate).
fn sum(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |total, &v| total + v)
}

/// RSI over `period` rows of `close` (Wilder's averages; the library divides by the period as a
/// multiplication by its reciprocal and tests the total of gains and losses exactly, not
/// against a fixed band).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
pub fn rsi(close: &[f64], period: usize) -> Outputs {
    let n = close.len();
    let mut out = nan(n);
    let Some(b) = begin(&[close]) else {
        return vec![out];
    };
    if period < 2 || b + period >= n {
        return vec![out];
    }
    let inv = 1.0 / period as f64;
    let keep = (period - 1) as f64;
    let (mut gain, mut loss) = (0.0f64, 0.0f64);
    let mut prev = close[b];
    // Gains and losses never hold -0.0, so the side a change does not move takes an exact
    // `± 0.0` ([`fused::rise_fall`]), as if the change had been tested.
    for &v in &close[b + 1..=b + period] {
        let (rise, fall) = fused::rise_fall(v - prev);
        prev = v;
        loss -= fall;
        gain += rise;
    }
    gain *= inv;
    loss *= inv;
    // No gain and no loss (every change exactly 0, or both decayed to 0) reads 0.
    let value = |g: f64, l: f64| {
        let t = g + l;
        if t > 0.0 {
            100.0 * (g / t)
        } else {
            0.0
        }
    };
    out[b + period] = value(gain, loss);
    for i in b + period + 1..n {
        let (rise, fall) = fused::rise_fall(close[i] - prev);
        prev = close[i];
        loss = (loss * keep - fall) * inv;
        gain = (gain * keep + rise) * inv;
        out[i] = value(gain, loss);
    }
    vec![out]
}

/// TA-Lib's EMA of `x` as seen from `first_out`: seeded with the simple mean of the `period`
/// values ending at `first_out`, then `prev + (v − prev)·k` with `k = 2/(period+1)` as one fused
/// multiply-add. Returns values for `first_out..x.len()`.
// Relaxed SIMD here too, so the guest inlines its multiply-add ([`fused`]).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "relaxed-simd"))]
fn ema_from(x: &[f64], period: usize, first_out: usize) -> Vec<f64> {
    let k = ema_k(period);
    let seed_start = first_out + 1 - period;
    let mut prev = sum(&x[seed_start..=first_out]) / period as f64;
    let mut out = Vec::with_capacity(x.len() - first_out);
    out.push(prev);
    for &v in &x[first_out + 1..] {
        prev = fma(v - prev, k, prev);
        out.push(prev);
    }
    out
}

/// MACD line, signal and histogram. The fast and slow EMAs and the signal's advance in one
/// loop: three recurrences that do not wait for each other, instead of three passes each
/// bound by its own multiply-add's latency. Each keeps its own operations in its own order,
/// so the bits are those of the three passes ([`ema_from`] on the price, then on the line).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "relaxed-simd"))]
pub fn macd(close: &[f64], fast: usize, slow: usize, signal: usize) -> Outputs {
    let n = close.len();
    let (mut a, mut b, mut c) = (nan(n), nan(n), nan(n));
    let Some((start, fast, slow)) = macd_start(close, fast, slow, signal) else {
        return vec![a, b, c];
    };
    let x = &close[start..];
    // Both EMAs produce their first value at the same row, `slow - 1`: line `j` is row
    // `first + j`, and the signal's first value is line `signal - 1`, the mean of the first
    // `signal` lines (a signal period of 1 is no smoothing: the line itself).
    let first = slow - 1;
    let (kf, ks, kg) = (ema_k(fast), ema_k(slow), ema_k(signal));
    let mut f = sum(&x[first + 1 - fast..=first]) / fast as f64;
    let mut s = sum(&x[..=first]) / slow as f64;
    // The mean sums from 0.0, as `sum` does (a first line of -0.0 counts as +0.0).
    let mut seed = 0.0 + (f - s);
    for &v in &x[first + 1..first + signal] {
        f = fma(v - f, kf, f);
        s = fma(v - s, ks, s);
        seed += f - s;
    }
    let m = f - s;
    let mut g = if signal == 1 { m } else { seed / signal as f64 };
    let out = start + first + signal - 1;
    (a[out], b[out], c[out]) = (m, g, m - g);
    for (i, &v) in (out + 1..).zip(&x[first + signal..]) {
        f = fma(v - f, kf, f);
        s = fma(v - s, ks, s);
        let m = f - s;
        g = if signal == 1 { m } else { fma(m - g, kg, g) };
        (a[i], b[i], c[i]) = (m, g, m - g);
    }
    vec![a, b, c]
}

/// Where MACD starts on `close` and its periods, the shorter first: `None` when it has no value
/// (periods TA-Lib refuses, or too few prices after the first).
fn macd_start(
    close: &[f64],
    fast: usize,
    slow: usize,
    signal: usize,
) -> Option<(usize, usize, usize)> {
    let (fast, slow) = if slow < fast {
        (slow, fast)
    } else {
        (fast, slow)
    };
    if fast < 2 || signal < 1 {
        return None;
    }
    let start = begin(&[close])?;
    (close.len() - start > (slow - 1) + (signal - 1)).then_some((start, fast, slow))
}

/// An EMA's smoothing factor, as TA-Lib computes it.
fn ema_k(period: usize) -> f64 {
    2.0 / (period as f64 + 1.0)
}

/// Simple moving average over `period` values of `x`, with TA-Lib's running-sum order (the
/// oldest value leaves after the output is taken); NaN where not full.
fn sma_full(x: &[f64], period: usize) -> Vec<f64> {
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

/// The extreme of each `period` rows of `x`: element `j` is the fold of `x[j..j + period]` from
/// `start`, oldest first, keeping the running value unless `better(value, running)` — so NaN
/// is skipped and of equal values (0.0 and -0.0) the oldest is kept. Prefix and suffix extremes
/// in blocks of `period` rows (van Herk / Gil-Werman, as `kernels::rolling` computes pandas'
/// rolling extremes) give it in three comparisons a row whatever the period; empty when `x` is
/// shorter than `period` or `period` is 0.
fn window_extremes(
    x: &[f64],
    period: usize,
    start: f64,
    better: impl Fn(f64, f64) -> bool,
) -> Vec<f64> {
    let n = x.len();
    if period == 0 || n < period {
        return Vec::new();
    }
    let pick = |older: f64, newer: f64| if better(newer, older) { newer } else { older };
    let (mut prefix, mut suffix) = (vec![start; n], vec![start; n]);
    for block in (0..n).step_by(period) {
        let end = (block + period).min(n);
        let mut acc = start;
        for j in block..end {
            acc = pick(acc, x[j]);
            prefix[j] = acc;
        }
        let mut acc = start;
        for j in (block..end).rev() {
            acc = pick(pick(start, x[j]), acc);
            suffix[j] = acc;
        }
    }
    (0..=n - period)
        .map(|j| pick(suffix[j], prefix[j + period - 1]))
        .collect()
}

/// The highest `high` and lowest `low` of each `period` rows (see [`window_extremes`]).
fn highest_lowest(high: &[f64], low: &[f64], period: usize) -> (Vec<f64>, Vec<f64>) {
    (
        window_extremes(high, period, f64::MIN, |v, running| v > running),
        window_extremes(low, period, f64::MAX, |v, running| v < running),
    )
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
    let (highest, lowest) = highest_lowest(h, l, fastk);
    let mut fast = Vec::with_capacity(m + 1 - fastk);
    for i in fastk - 1..m {
        let (hh, ll) = (highest[i + 1 - fastk], lowest[i + 1 - fastk]);
        let range = hh - ll;
        fast.push(if range != 0.0 {
            (c[i] - ll) / range * 100.0
        } else {
            0.0
        });
    }
    let k = sma_full(&fast, slowk);
    let k_valid: Vec<f64> = k[slowk - 1..].to_vec();
    let d = sma_full(&k_valid, slowd);
    for j in slowd - 1..k_valid.len() {
        let i = b + fastk - 1 + slowk - 1 + j;
        k_out[i] = k_valid[j];
        d_out[i] = d[j];
    }
    vec![k_out, d_out]
}

/// Bollinger bands: upper, middle (SMA), lower; population standard deviation
/// ([`window_variances`]); the upper band is one fused multiply-add, the lower one is not.
// Relaxed SIMD here too, so the guest inlines its multiply-add ([`fused`]).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "relaxed-simd"))]
pub fn bbands(close: &[f64], period: usize, up: f64, down: f64) -> Outputs {
    let n = close.len();
    let (mut u, mut m, mut l) = (nan(n), nan(n), nan(n));
    let Some(b) = begin(&[close]) else {
        return vec![u, m, l];
    };
    let x = &close[b..];
    if period == 0 || x.len() < period {
        return vec![u, m, l];
    }
    let p = period as f64;
    let lookback = period - 1;
    let mut total = sum(&x[..lookback]);
    for (j, var) in window_variances(x, period).into_iter().enumerate() {
        let i = lookback + j;
        total += x[i];
        let mid = total / p;
        total -= x[i - lookback];
        let sd = if var != 0.0 { var.sqrt() } else { 0.0 };
        m[b + i] = mid;
        u[b + i] = fma(sd, up, mid);
        l[b + i] = mid - sd * down;
    }
    vec![u, m, l]
}

/// The middle band of [`bbands`] alone (its running sum, the same bits), without the
/// deviation the other two bands need.
pub fn bbands_middle(close: &[f64], period: usize) -> Vec<f64> {
    let mut m = nan(close.len());
    let Some(b) = begin(&[close]) else {
        return m;
    };
    let x = &close[b..];
    if period == 0 || x.len() < period {
        return m;
    }
    let lookback = period - 1;
    let middle = average::sma_from(x, period, lookback);
    m[b + lookback..].copy_from_slice(&middle);
    m
}

/// The population variance of every full window of `x` (from row `period − 1`), as TA-Lib
/// computes it for BBANDS and STDDEV: from data shifted by a reference value (the first value,
/// and the window's mean whenever the variance loses precision or every `32·period` rows), which
/// keeps it free of cancellation.
pub(crate) fn window_variances(x: &[f64], period: usize) -> Vec<f64> {
    let p = period as f64;
    let inv = 1.0 / p;
    let lookback = period - 1;
    let reseed_every = 32 * period;
    let mut shift = x[0];
    let (mut dev, mut dev2) = (0.0f64, 0.0f64);
    for &v in &x[..lookback] {
        let d = v - shift;
        dev += d;
        dev2 += d * d;
    }
    let mut until_reseed = reseed_every;
    let mut out = Vec::with_capacity(x.len() - lookback);
    for i in lookback..x.len() {
        let d = x[i] - shift;
        dev += d;
        dev2 += d * d;
        let mean = dev * inv;
        let mut var = dev2 * inv - mean * mean;
        // The window's oldest value leaves.
        let oldest = x[i - lookback];
        let d = oldest - shift;
        dev -= d;
        let gone = d * d;
        dev2 -= gone;
        until_reseed -= 1;
        if var < 0.000_001 * (dev2 * inv) || gone > 1_000_000.0 * dev2 || until_reseed == 0 {
            until_reseed = reseed_every;
            let window = &x[i - lookback..=i];
            shift = sum(window) * inv;
            (dev, dev2) = (0.0, 0.0);
            for &v in window {
                let d = v - shift;
                dev += d;
                dev2 += d * d;
            }
            let mean = dev * inv;
            var = dev2 * inv - mean * mean;
            if var < 0.000_000_000_001 * (dev2 * inv) {
                var = 0.0;
            }
            let d = window[0] - shift;
            dev -= d;
            dev2 -= d * d;
        }
        out.push(var);
    }
    out
}

/// Average true range with Wilder smoothing, seeded by the mean of the first `period` ranges; the
/// smoothing step is `β·prev + α·range` with `β = (period−1)/period`, `α = 1 − β`, as one fused
/// multiply-add.
// Relaxed SIMD here too, so the guest inlines its multiply-add ([`fused`]).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "relaxed-simd"))]
pub fn atr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Outputs {
    let n = close.len();
    let mut out = nan(n);
    let Some(b) = begin(&[high, low, close]) else {
        return vec![out];
    };
    let (h, l, c) = (&high[b..], &low[b..], &close[b..]);
    let m = c.len();
    if period == 0 || m <= period {
        return vec![out];
    }
    let range = |i: usize| directional::true_range(h, l, c, i);
    let beta = (period - 1) as f64 / period as f64;
    let alpha = 1.0 - beta;
    let mut prev = (1..=period).fold(0.0, |total, i| total + range(i)) / period as f64;
    out[b + period] = prev;
    for i in period + 1..m {
        prev = fma(beta, prev, alpha * range(i));
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
    let (highest, lowest) = highest_lowest(h, l, period);
    for (j, (&hh, &ll)) in highest.iter().zip(&lowest).enumerate() {
        let i = j + period - 1;
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
    use crate::kernels;

    #[test]
    fn rsi_of_a_steady_rise_is_100_and_starts_after_the_period() {
        let x: Vec<f64> = (0..30).map(|i| 10.0 + i as f64).collect();
        let r = &rsi(&x, 14)[0];
        assert!(r[13].is_nan());
        assert_eq!(r[14], 100.0);
        assert_eq!(r[29], 100.0);
    }

    #[test]
    fn the_middle_band_alone_has_the_bits_of_bbands_middle() {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // A missing start, uneven values (running sums that round), and a series shorter
        // than the period.
        let mut x: Vec<f64> = (0..300)
            .map(|i| 100.0 + ((i * 7919) % 1013) as f64 / 7.0 - (i % 13) as f64 * 0.1)
            .collect();
        x[..5].iter_mut().for_each(|v| *v = f64::NAN);
        for period in [0, 1, 2, 5, 20, 60, 296, 400] {
            let want = &bbands(&x, period, 2.0, 2.0)[1];
            assert_eq!(bits(&bbands_middle(&x, period)), bits(want), "{period}");
        }
        assert!(bbands_middle(&[f64::NAN; 4], 2).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn window_extremes_are_the_scan_from_the_oldest_row() {
        // Ties of 0.0 and -0.0 (the oldest must win), NaN, infinities and the extremes' own
        // start values, for periods shorter than, equal to and longer than the blocks.
        let pool = [
            0.0,
            -0.0,
            1.5,
            -2.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN,
            3.0,
        ];
        let mut state = 7u64;
        let x: Vec<f64> = (0..97)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                pool[(state >> 33) as usize % pool.len()]
            })
            .collect();
        for period in 1..=12 {
            let (hi, lo) = highest_lowest(&x, &x, period);
            assert_eq!(hi.len(), x.len() + 1 - period);
            for (j, (h, l)) in hi.iter().zip(&lo).enumerate() {
                let w = &x[j..j + period];
                let h0 = w.iter().copied().fold(f64::MIN, kernels::max);
                let l0 = w.iter().copied().fold(f64::MAX, kernels::min);
                assert_eq!(
                    (h.to_bits(), l.to_bits()),
                    (h0.to_bits(), l0.to_bits()),
                    "{period} {j}"
                );
            }
        }
        assert!(highest_lowest(&x[..3], &x[..3], 4).0.is_empty());
    }

    /// MACD as three passes (the fast and slow EMAs, their difference, its EMA), the form
    /// the fused loop must match bit for bit.
    fn macd_in_passes(close: &[f64], fast: usize, slow: usize, signal: usize) -> Outputs {
        let n = close.len();
        let (mut a, mut b, mut c) = (nan(n), nan(n), nan(n));
        let Some((start, fast, slow)) = macd_start(close, fast, slow, signal) else {
            return vec![a, b, c];
        };
        let x = &close[start..];
        let first = slow - 1;
        let fast_ema = ema_from(x, fast, first);
        let slow_ema = ema_from(x, slow, first);
        let line: Vec<f64> = fast_ema.iter().zip(&slow_ema).map(|(f, s)| f - s).collect();
        let sig = if signal == 1 {
            line.clone()
        } else {
            ema_from(&line, signal, signal - 1)
        };
        for (j, s) in sig.iter().enumerate() {
            let i = start + first + signal - 1 + j;
            let m = line[signal - 1 + j];
            (a[i], b[i], c[i]) = (m, *s, m - s);
        }
        vec![a, b, c]
    }

    #[test]
    fn macd_in_one_loop_is_macd_in_passes() {
        let mut rng = 0x9e3779b97f4a7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 11) as f64 / (1u64 << 53) as f64
        };
        for len in [0, 5, 30, 34, 35, 200] {
            let mut x: Vec<f64> = (0..len).map(|_| 50.0 + 10.0 * next()).collect();
            for v in x.iter_mut().take(len / 10) {
                *v = f64::NAN;
            }
            if len > 100 {
                x[150] = f64::NAN;
                x[30..40].fill(50.0);
            }
            for (fast, slow, signal) in [(12, 26, 9), (5, 35, 5), (26, 12, 1), (2, 3, 2), (3, 3, 1)]
            {
                let (one, passes) = (
                    macd(&x, fast, slow, signal),
                    macd_in_passes(&x, fast, slow, signal),
                );
                for (o, p) in one.iter().zip(&passes) {
                    let bits = |v: &Vec<f64>| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(o), bits(p), "{len} {fast} {slow} {signal}");
                }
            }
        }
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

    #[test]
    fn rsi_without_gains_or_losses_is_zero() {
        let x = vec![10.0; 30];
        assert_eq!(rsi(&x, 14)[0][20], 0.0);
    }

    #[test]
    fn bbands_of_a_constant_series_have_no_width() {
        let x = vec![7.25; 40];
        let out = bbands(&x, 5, 2.0, 2.0);
        assert_eq!((out[0][30], out[1][30], out[2][30]), (7.25, 7.25, 7.25));
    }
}
