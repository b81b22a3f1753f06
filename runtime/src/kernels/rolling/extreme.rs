//! pandas' rolling `max()` and `min()`, branch-free (van Herk / Gil-Werman).

#[cfg(target_arch = "wasm32")]
use core::arch::wasm32::*;

#[cfg(target_arch = "wasm32")]
use crate::kernels::simd::{load, store};
use crate::kernels::{by_columns, max, min, ColumnKernel};

/// pandas `rolling(window, min_periods).max()` (or `.min()`) over the valid values.
///
/// Branch-free (van Herk / Gil-Werman): cut the column into blocks of `window` values; the
/// extreme of a window is the extreme of the suffix of the block it starts in and the prefix of
/// the block it ends in. NaN counts as −∞ (+∞ for min), which never wins over a valid value; a
/// window with fewer than `min_periods` valid values is NaN.
pub fn rolling_extreme(x: &[f64], window: usize, min_periods: usize, max: bool) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    rolling_extreme_panel(x, x.len(), window, min_periods, max, &mut out);
    out
}

/// [`rolling_extreme`] of every column of a column-major panel of `rows` rows, into `out`.
pub fn rolling_extreme_panel(
    x: &[f64],
    rows: usize,
    window: usize,
    min_periods: usize,
    max: bool,
    out: &mut [f64],
) {
    if rows == 0 {
        return;
    }
    let (w, minp) = (window.max(1), min_periods.max(1));
    if max {
        by_columns(x, out, rows, &mut ExtremeKernel::<true>::new(rows, w, minp))
    } else {
        by_columns(
            x,
            out,
            rows,
            &mut ExtremeKernel::<false>::new(rows, w, minp),
        )
    }
}

/// The kernel of one direction (`MAX` or min), so the comparison is inlined.
struct ExtremeKernel<const MAX: bool> {
    w: usize,
    minp: usize,
    /// Scratch for [`extreme_column`]: the suffix extremes.
    suffix: Vec<f64>,
    /// Scratch for [`extreme_pair`].
    #[cfg(target_arch = "wasm32")]
    scratch: Vec<v128>,
}

impl<const MAX: bool> ExtremeKernel<MAX> {
    fn new(rows: usize, w: usize, minp: usize) -> Self {
        ExtremeKernel {
            w,
            minp,
            suffix: vec![0.0; rows],
            #[cfg(target_arch = "wasm32")]
            scratch: Vec::new(),
        }
    }
}

impl<const MAX: bool> ColumnKernel for ExtremeKernel<MAX> {
    fn column(&mut self, x: &[f64], out: &mut [f64]) {
        extreme_column::<MAX>(x, out, self.w, self.minp, &mut self.suffix)
    }

    #[cfg(target_arch = "wasm32")]
    fn pair(&mut self, x: [&[f64]; 2], out: [&mut [f64]; 2]) {
        extreme_pair::<MAX>(x, out, self.w, self.minp, &mut self.scratch)
    }
}

/// The better of an accumulated extreme `a` and a value `b` (neither NaN here).
#[inline(always)]
fn better<const MAX: bool>(a: f64, b: f64) -> f64 {
    if MAX {
        max(a, b)
    } else {
        min(a, b)
    }
}

/// One column into `out` (`suffix`: scratch as long as the column).
pub(super) fn extreme_column<const MAX: bool>(
    x: &[f64],
    out: &mut [f64],
    w: usize,
    minp: usize,
    suffix: &mut [f64],
) {
    let empty = if MAX {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    let val = |v: f64| if v.is_nan() { empty } else { v };
    let n = x.len();
    let prefix = &mut out[..n];
    let suffix = &mut suffix[..n];
    for ((xs, pre), suf) in x
        .chunks(w)
        .zip(prefix.chunks_mut(w))
        .zip(suffix.chunks_mut(w))
    {
        let mut acc = empty;
        for (v, p) in xs.iter().zip(pre.iter_mut()) {
            acc = better::<MAX>(acc, val(*v));
            *p = acc;
        }
        let mut acc = empty;
        for (v, s) in xs.iter().zip(suf.iter_mut()).rev() {
            acc = better::<MAX>(acc, val(*v));
            *s = acc;
        }
    }
    let mut nobs = 0usize;
    // The first `w - 1` rows: windows still filling, within the first block.
    let head = (w - 1).min(n);
    for (v, o) in x[..head].iter().zip(prefix[..head].iter_mut()) {
        nobs += usize::from(!v.is_nan());
        if nobs < minp {
            *o = f64::NAN;
        }
    }
    // Row `i` ≥ w − 1: the suffix of row `i + 1 − w` and the prefix of row `i`.
    for i in head..n {
        nobs += usize::from(!x[i].is_nan());
        if i >= w {
            nobs -= usize::from(!x[i - w].is_nan());
        }
        let m = better::<MAX>(suffix[i + 1 - w], prefix[i]);
        prefix[i] = if nobs >= minp { m } else { f64::NAN };
    }
}

/// [`extreme_column`] for two columns at once (each lane: the scalar steps, with a
/// select where the scalar code branches). `scratch` holds the suffix extremes.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn extreme_pair<const MAX: bool>(
    x: [&[f64]; 2],
    out: [&mut [f64]; 2],
    w: usize,
    minp: usize,
    scratch: &mut Vec<v128>,
) {
    let [a, b] = x;
    let [oa, ob] = out;
    let n = a.len().min(b.len()).min(oa.len()).min(ob.len());
    let empty = f64x2_splat(if MAX {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    });
    let (one, nan) = (f64x2_splat(1.0), f64x2_splat(f64::NAN));
    let minp = f64x2_splat(minp as f64);
    // `max(acc, v)` with neither NaN: v when v > acc, else acc (min: v < acc).
    let better = |acc: v128, v: v128| {
        let wins = if MAX {
            f64x2_gt(v, acc)
        } else {
            f64x2_lt(v, acc)
        };
        v128_bitselect(v, acc, wins)
    };
    let val = |v: v128| v128_bitselect(v, empty, f64x2_eq(v, v));
    let valid = |v: v128| v128_and(one, f64x2_eq(v, v));
    // Block by block: first the block's suffix extremes, then its prefix extremes forward,
    // each row combined at once with the previous block's suffix (the current block's
    // whole-block extreme for a window that ends on the block's last row) — the scalar
    // combination, so the same bits — and only two blocks of suffixes kept (in cache).
    scratch.clear();
    scratch.resize(2 * w, empty);
    let (mut prev, mut cur) = scratch.split_at_mut(w);
    let mut nobs = f64x2_splat(0.0);
    let mut start = 0;
    while start < n {
        let end = (start + w).min(n);
        let mut acc = empty;
        for i in (start..end).rev() {
            acc = better(acc, val(load(a, b, i)));
            cur[i - start] = acc;
        }
        let mut acc = empty;
        for i in start..end {
            let v = load(a, b, i);
            acc = better(acc, val(v));
            nobs = f64x2_add(nobs, valid(v));
            if i >= w {
                nobs = f64x2_sub(nobs, valid(load(a, b, i - w)));
            }
            let t = i - start;
            let m = if i + 1 < w {
                acc
            } else if t + 1 < w {
                better(prev[t + 1], acc)
            } else {
                better(cur[0], acc)
            };
            store(v128_bitselect(m, nan, f64x2_ge(nobs, minp)), oa, ob, i);
        }
        std::mem::swap(&mut prev, &mut cur);
        start = end;
    }
}
