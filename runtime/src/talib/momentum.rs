//! TA-Lib's momentum and range indicators: MOM, ROC, CMO, AROON, BOP, CCI, ULTOSC.

use super::average::is_zero;
use super::fma;
use super::{with_start, with_start_n, Outputs};

/// `x[t] − x[t − period]`.
pub fn mom(close: &[f64], period: usize) -> Outputs {
    with_start(&[close], period, |x| {
        let x = x[0];
        vec![(period..x.len()).map(|i| x[i] - x[i - period]).collect()]
    })
}

/// `(x[t] / x[t − period] − 1) · 100` (0 where the earlier value is 0).
pub fn roc(close: &[f64], period: usize) -> Outputs {
    with_start(&[close], period, |x| {
        let x = x[0];
        let out = (period..x.len())
            .map(|i| {
                let old = x[i - period];
                if old != 0.0 {
                    ((x[i] / old) - 1.0) * 100.0
                } else {
                    0.0
                }
            })
            .collect();
        vec![out]
    })
}

/// Chande momentum oscillator: Wilder averages of gains and losses (divided by the period,
/// unlike RSI's multiplication by its reciprocal), `100 · (gain − loss) / (gain + loss)`.
pub fn cmo(close: &[f64], period: usize) -> Outputs {
    with_start(&[close], period, |x| {
        let x = x[0];
        let p = period as f64;
        let keep = (period - 1) as f64;
        let (mut gain, mut loss) = (0.0f64, 0.0f64);
        for i in 1..=period {
            let d = x[i] - x[i - 1];
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
                100.0 * ((g - l) / t)
            }
        };
        let mut out = vec![value(gain, loss)];
        for i in period + 1..x.len() {
            let d = x[i] - x[i - 1];
            loss *= keep;
            gain *= keep;
            if d < 0.0 {
                loss -= d;
            } else {
                gain += d;
            }
            loss /= p;
            gain /= p;
            out.push(value(gain, loss));
        }
        vec![out]
    })
}

/// Aroon down and up: how recent the window's lowest low and highest high are, over
/// `period + 1` rows (a tie goes to the latest row).
pub fn aroon(high: &[f64], low: &[f64], period: usize) -> Outputs {
    with_start_n(&[high, low], period, 2, |x| {
        let (h, l) = (x[0], x[1]);
        let factor = 100.0 / period as f64;
        let (mut down, mut up) = (Vec::new(), Vec::new());
        let (mut lo_i, mut hi_i) = (None::<usize>, None::<usize>);
        let (mut lo, mut hi) = (0.0, 0.0);
        for today in period..h.len() {
            let trailing = today - period;
            if lo_i.is_none_or(|i| i < trailing) {
                lo_i = Some(trailing);
                lo = l[trailing];
                for i in trailing + 1..=today {
                    if l[i] <= lo {
                        lo_i = Some(i);
                        lo = l[i];
                    }
                }
            } else if l[today] <= lo {
                lo_i = Some(today);
                lo = l[today];
            }
            if hi_i.is_none_or(|i| i < trailing) {
                hi_i = Some(trailing);
                hi = h[trailing];
                for i in trailing + 1..=today {
                    if h[i] >= hi {
                        hi_i = Some(i);
                        hi = h[i];
                    }
                }
            } else if h[today] >= hi {
                hi_i = Some(today);
                hi = h[today];
            }
            let age = |i: Option<usize>| (period - (today - i.unwrap_or(today))) as f64;
            up.push(factor * age(hi_i));
            down.push(factor * age(lo_i));
        }
        vec![down, up]
    })
}

/// Balance of power: `(close − open) / (high − low)`, 0 for a range below 1e-8.
pub fn bop(open: &[f64], high: &[f64], low: &[f64], close: &[f64]) -> Outputs {
    with_start(&[open, high, low, close], 0, |x| {
        let out = (0..x[0].len())
            .map(|i| {
                let range = x[1][i] - x[2][i];
                if range < 0.000_000_01 {
                    0.0
                } else {
                    (x[3][i] - x[0][i]) / range
                }
            })
            .collect();
        vec![out]
    })
}

/// Commodity channel index of the typical price `(high + low + close) / 3`; the window's mean
/// and mean deviation summed in TA-Lib's circular-buffer order.
pub fn cci(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Outputs {
    with_start(&[high, low, close], period - 1, |x| {
        let typical = |i: usize| (x[0][i] + x[1][i] + x[2][i]) / 3.0;
        let p = period as f64;
        let mut ring = vec![0.0f64; period];
        let mut at = 0;
        for i in 0..period - 1 {
            ring[at] = typical(i);
            at = (at + 1) % period;
        }
        let mut out = Vec::with_capacity(x[0].len() + 1 - period);
        for i in period - 1..x[0].len() {
            let last = typical(i);
            ring[at] = last;
            let mean = ring.iter().fold(0.0, |t, v| t + v) / p;
            let dev = ring.iter().fold(0.0, |t, v| t + (v - mean).abs());
            let d = last - mean;
            out.push(if !is_zero(d) && !is_zero(dev) {
                d / (0.015 * (dev / p))
            } else {
                0.0
            });
            at = (at + 1) % period;
        }
        vec![out]
    })
}

/// Ultimate oscillator over three periods (sorted, shortest weighted 4, middle 2, longest 1).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "relaxed-simd"))]
pub fn ultosc(high: &[f64], low: &[f64], close: &[f64], periods: [usize; 3]) -> Outputs {
    let mut p = periods;
    p.sort_unstable();
    with_start(&[high, low, close], p[2], |x| {
        let (h, l, c) = (x[0], x[1], x[2]);
        // Close minus the true low, and the true range, of day `d`.
        let terms = |d: usize| {
            let prev = c[d - 1];
            let true_low = if l[d] < prev { l[d] } else { prev };
            let mut range = h[d] - l[d];
            let t = (prev - h[d]).abs();
            if t > range {
                range = t;
            }
            let t = (prev - l[d]).abs();
            if t > range {
                range = t;
            }
            (c[d] - true_low, range)
        };
        let start = p[2];
        let mut a = [0.0f64; 3];
        let mut b = [0.0f64; 3];
        for k in 0..3 {
            for d in start + 1 - p[k]..start {
                let (cl, tr) = terms(d);
                a[k] += cl;
                b[k] += tr;
            }
        }
        let mut out = Vec::new();
        for today in start..c.len() {
            let (cl, tr) = terms(today);
            for k in 0..3 {
                a[k] += cl;
                b[k] += tr;
            }
            let mut total = 0.0f64;
            if !is_zero(b[0]) {
                total = fma(4.0, a[0] / b[0], total);
            }
            if !is_zero(b[1]) {
                total = fma(2.0, a[1] / b[1], total);
            }
            if !is_zero(b[2]) {
                total += a[2] / b[2];
            }
            for k in 0..3 {
                let (cl, tr) = terms(today + 1 - p[k]);
                a[k] -= cl;
                b[k] -= tr;
            }
            out.push(100.0 * (total / 7.0));
        }
        vec![out]
    })
}
