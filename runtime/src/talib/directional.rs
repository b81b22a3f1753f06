//! TA-Lib's range and directional-movement indicators: TRANGE, NATR, +DI, −DI, ADX, SAR.

use super::average::is_zero;
use super::fma;
use super::fused::greater;
use super::{atr, with_start, Outputs};

/// The true range of day `i`: the greatest of high − low and the previous close's distances
/// to the high and the low (each taken only when greater, as TA-Lib compares). Its callers
/// carry SIMD too, so the guest inlines [`greater`] and this (a wasm call per row otherwise).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
pub(super) fn true_range(h: &[f64], l: &[f64], c: &[f64], i: usize) -> f64 {
    let greatest = greater(h[i] - l[i], (c[i - 1] - h[i]).abs());
    greater(greatest, (c[i - 1] - l[i]).abs())
}

#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
pub fn trange(high: &[f64], low: &[f64], close: &[f64]) -> Outputs {
    with_start(&[high, low, close], 1, |x| {
        let out = (1..x[0].len())
            .map(|i| true_range(x[0], x[1], x[2], i))
            .collect();
        vec![out]
    })
}

/// ATR as a percentage of the close (a period of 1 is TRANGE, as in TA-Lib).
pub fn natr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Outputs {
    if period <= 1 {
        return trange(high, low, close);
    }
    let mut out = atr(high, low, close, period);
    for (v, c) in out[0].iter_mut().zip(close) {
        if !v.is_nan() {
            *v = if is_zero(*c) { 0.0 } else { (*v / c) * 100.0 };
        }
    }
    out
}

/// The day's directional movements: (+DM, −DM) candidates `(high − prev high, prev low − low)`.
fn moves(h: &[f64], l: &[f64], i: usize) -> (f64, f64) {
    (h[i] - h[i - 1], l[i - 1] - l[i])
}

/// Which directional indicator.
#[derive(Clone, Copy, PartialEq)]
pub enum Di {
    Plus,
    Minus,
}

/// +DI or −DI with Wilder smoothing (a period of 1: the day's movement over its true range).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
pub fn di(high: &[f64], low: &[f64], close: &[f64], period: usize, which: Di) -> Outputs {
    let counts = |dp: f64, dm: f64| match which {
        Di::Plus => dp > 0.0 && dp > dm,
        Di::Minus => dm > 0.0 && dp < dm,
    };
    let pick = |dp: f64, dm: f64| if which == Di::Plus { dp } else { dm };
    if period <= 1 {
        return with_start(&[high, low, close], 1, |x| {
            let (h, l, c) = (x[0], x[1], x[2]);
            let out = (1..h.len())
                .map(|i| {
                    let (dp, dm) = moves(h, l, i);
                    if !counts(dp, dm) {
                        return 0.0;
                    }
                    let tr = true_range(h, l, c, i);
                    if is_zero(tr) {
                        0.0
                    } else {
                        pick(dp, dm) / tr
                    }
                })
                .collect();
            vec![out]
        });
    }
    let p = period as f64;
    with_start(&[high, low, close], period, |x| {
        let (h, l, c) = (x[0], x[1], x[2]);
        let (mut dm_sum, mut tr_sum) = (0.0f64, 0.0f64);
        for i in 1..period {
            let (dp, dm) = moves(h, l, i);
            if counts(dp, dm) {
                dm_sum += pick(dp, dm);
            }
            tr_sum += true_range(h, l, c, i);
        }
        let mut out = Vec::new();
        for i in period..h.len() {
            let (dp, dm) = moves(h, l, i);
            dm_sum -= dm_sum / p;
            if counts(dp, dm) {
                dm_sum += pick(dp, dm);
            }
            tr_sum = tr_sum - (tr_sum / p) + true_range(h, l, c, i);
            out.push(if is_zero(tr_sum) {
                0.0
            } else {
                100.0 * (dm_sum / tr_sum)
            });
        }
        vec![out]
    })
}

/// Average directional index: Wilder's average of DX, seeded with the mean of the first
/// `period` DX values.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
pub fn adx(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Outputs {
    let p = period as f64;
    with_start(&[high, low, close], 2 * period - 1, |x| {
        let (h, l, c) = (x[0], x[1], x[2]);
        let (mut plus, mut minus, mut tr) = (0.0f64, 0.0f64, 0.0f64);
        let add = |plus: &mut f64, minus: &mut f64, i: usize| {
            let (dp, dm) = moves(h, l, i);
            if dm > 0.0 && dp < dm {
                *minus += dm;
            } else if dp > 0.0 && dp > dm {
                *plus += dp;
            }
        };
        for i in 1..period {
            add(&mut plus, &mut minus, i);
            tr += true_range(h, l, c, i);
        }
        // DX of day `i` after smoothing, `None` where the ranges are zero.
        let mut step = |i: usize| {
            minus -= minus / p;
            plus -= plus / p;
            add(&mut plus, &mut minus, i);
            tr = tr - (tr / p) + true_range(h, l, c, i);
            if is_zero(tr) {
                return None;
            }
            let mdi = 100.0 * (minus / tr);
            let pdi = 100.0 * (plus / tr);
            let total = mdi + pdi;
            (!is_zero(total)).then(|| 100.0 * ((mdi - pdi).abs() / total))
        };
        let mut sum_dx = 0.0;
        for i in period..2 * period {
            if let Some(dx) = step(i) {
                sum_dx += dx;
            }
        }
        let mut adx = sum_dx / p;
        let mut out = vec![adx];
        for i in 2 * period..h.len() {
            if let Some(dx) = step(i) {
                adx = (adx * (p - 1.0) + dx) / p;
            }
            out.push(adx);
        }
        vec![out]
    })
}

/// Parabolic SAR (Wilder): the first direction from the first day's −DM, the stop moving by
/// `af · (ep − sar)` (one fused multiply-add) and kept outside the last two days' range.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "relaxed-simd"))]
pub fn sar(high: &[f64], low: &[f64], acceleration: f64, maximum: f64) -> Outputs {
    let accel = if acceleration > maximum {
        maximum
    } else {
        acceleration
    };
    with_start(&[high, low], 1, |x| {
        let (h, l) = (x[0], x[1]);
        let (dp, dm) = moves(h, l, 1);
        let mut long = !(dm > 0.0 && dp < dm);
        let mut af = accel;
        let (mut ep, mut sar) = if long { (h[1], l[0]) } else { (l[1], h[0]) };
        let (mut new_low, mut new_high) = (l[1], h[1]);
        let mut out = Vec::new();
        for t in 1..h.len() {
            let (prev_low, prev_high) = (new_low, new_high);
            new_low = l[t];
            new_high = h[t];
            let step = |sar: f64, af: f64, ep: f64| fma(af, ep - sar, sar);
            if long {
                if new_low <= sar {
                    long = false;
                    sar = ep.max(prev_high).max(new_high);
                    out.push(sar);
                    af = accel;
                    ep = new_low;
                    sar = step(sar, af, ep).max(prev_high).max(new_high);
                } else {
                    out.push(sar);
                    if new_high > ep {
                        ep = new_high;
                        af = (af + accel).min(maximum);
                    }
                    sar = step(sar, af, ep).min(prev_low).min(new_low);
                }
            } else if new_high >= sar {
                long = true;
                sar = ep.min(prev_low).min(new_low);
                out.push(sar);
                af = accel;
                ep = new_high;
                sar = step(sar, af, ep).min(prev_low).min(new_low);
            } else {
                out.push(sar);
                if new_low < ep {
                    ep = new_low;
                    af = (af + accel).min(maximum);
                }
                sar = step(sar, af, ep).max(prev_high).max(new_high);
            }
        }
        vec![out]
    })
}
