//! TA-Lib's volume indicators: OBV, AD, ADOSC, MFI.

use super::average::is_zero;
use super::fma;
use super::{with_start, Outputs};

/// On-balance volume: the first volume, then plus or minus each day's volume as the close
/// rises or falls.
pub fn obv(close: &[f64], volume: &[f64]) -> Outputs {
    with_start(&[close, volume], 0, |x| {
        let (c, v) = (x[0], x[1]);
        let (mut total, mut prev) = (v[0], c[0]);
        let out = (0..c.len())
            .map(|i| {
                if c[i] > prev {
                    total += v[i];
                } else if c[i] < prev {
                    total -= v[i];
                }
                prev = c[i];
                total
            })
            .collect();
        vec![out]
    })
}

/// Day `i`'s money-flow contribution to the A/D line (0 for a bar without range).
fn ad_step(h: &[f64], l: &[f64], c: &[f64], v: &[f64], i: usize, ad: f64) -> f64 {
    let range = h[i] - l[i];
    if range > 0.0 {
        ad + (((c[i] - l[i]) - (h[i] - c[i])) / range) * v[i]
    } else {
        ad
    }
}

/// Chaikin accumulation/distribution line.
pub fn ad(high: &[f64], low: &[f64], close: &[f64], volume: &[f64]) -> Outputs {
    with_start(&[high, low, close, volume], 0, |x| {
        let mut total = 0.0;
        let out = (0..x[0].len())
            .map(|i| {
                total = ad_step(x[0], x[1], x[2], x[3], i, total);
                total
            })
            .collect();
        vec![out]
    })
}

/// Chaikin oscillator: the fast EMA of the A/D line minus the slow one, both seeded with the
/// first A/D value (bit-identical to the pinned TA-Lib on an x86-64 CPU with FMA).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "relaxed-simd"))]
pub fn adosc(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    fast: usize,
    slow: usize,
) -> Outputs {
    let slowest = fast.max(slow);
    with_start(&[high, low, close, volume], slowest - 1, |x| {
        let k = |p: usize| 2.0 / (p as f64 + 1.0);
        let (fk, sk) = (k(fast), k(slow));
        let (fk1, sk1) = (1.0 - fk, 1.0 - sk);
        let mut total = ad_step(x[0], x[1], x[2], x[3], 0, 0.0);
        let (mut f, mut s) = (total, total);
        let mut out = Vec::new();
        for i in 1..x[0].len() {
            total = ad_step(x[0], x[1], x[2], x[3], i, total);
            // TA-Lib's build fuses the second product: `k·ad + (1 − k)·ema`.
            f = fma(fk1, f, fk * total);
            s = fma(sk1, s, sk * total);
            if i >= slowest - 1 {
                out.push(f - s);
            }
        }
        vec![out]
    })
}

/// Money flow index: positive and negative money flows of the typical price over `period`
/// days, as running sums; 0 when their total is below 1.
pub fn mfi(high: &[f64], low: &[f64], close: &[f64], volume: &[f64], period: usize) -> Outputs {
    with_start(&[high, low, close, volume], period, |x| {
        let (h, l, c, v) = (x[0], x[1], x[2], x[3]);
        let typical = |i: usize| (h[i] + l[i] + c[i]) / 3.0;
        let mut ring = vec![(0.0f64, 0.0f64); period];
        let mut at = 0;
        let (mut pos, mut neg) = (0.0f64, 0.0f64);
        let mut prev = typical(0);
        let mut flow = |i: usize, pos: &mut f64, neg: &mut f64, slot: &mut (f64, f64)| {
            let tp = typical(i);
            let d = tp - prev;
            prev = tp;
            let money = tp * v[i];
            // A change within TA-Lib's zero band (1e-8) is no change.
            *slot = if is_zero(d) {
                (0.0, 0.0)
            } else if d < 0.0 {
                *neg += money;
                (0.0, money)
            } else {
                *pos += money;
                (money, 0.0)
            };
        };
        for i in 1..=period {
            flow(i, &mut pos, &mut neg, &mut ring[at]);
            at = (at + 1) % period;
        }
        // The running sums drift by a few ulps; a window without a positive (negative) flow can
        // leave a tiny negative sum: the value is kept in 0..=100, as TA-Lib's are.
        let value = |pos: f64, neg: f64| {
            let total = pos + neg;
            if total < 1.0 {
                0.0
            } else {
                (100.0 * (pos / total)).clamp(0.0, 100.0)
            }
        };
        let mut out = vec![value(pos, neg)];
        for i in period + 1..c.len() {
            pos -= ring[at].0;
            neg -= ring[at].1;
            flow(i, &mut pos, &mut neg, &mut ring[at]);
            out.push(value(pos, neg));
            at = (at + 1) % period;
        }
        vec![out]
    })
}
