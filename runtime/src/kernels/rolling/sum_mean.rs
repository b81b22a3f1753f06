//! pandas' rolling `sum()` and `mean()` (Kahan-compensated running sums), and finlab's
//! `sustain` on flags (an exact count).

#[cfg(target_arch = "wasm32")]
use core::arch::wasm32::*;

#[cfg(target_arch = "wasm32")]
use crate::kernels::simd::{load, store};
use crate::kernels::{by_columns, ColumnKernel};

/// Kahan-compensated `sum += v` (pandas' `add_sum`/`add_mean` step).
fn kahan(sum: &mut f64, comp: &mut f64, v: f64) {
    let y = v - *comp;
    let t = *sum + y;
    *comp = t - *sum - y;
    *sum = t;
}

/// pandas `rolling(window, min_periods).sum()` / `.mean()`: a running sum with separate Kahan
/// compensations for added and removed values, removals first, and a window of identical values
/// reported exactly (pandas' `num_consecutive_same_value`).
pub fn rolling_sum_mean(x: &[f64], window: usize, min_periods: usize, mean: bool) -> Vec<f64> {
    let mut out = vec![f64::NAN; x.len()];
    rolling_sum_mean_panel(x, x.len(), window, min_periods, mean, &mut out);
    out
}

/// [`rolling_sum_mean`] of every column of a column-major panel of `rows` rows, into `out`.
pub fn rolling_sum_mean_panel(
    x: &[f64],
    rows: usize,
    window: usize,
    min_periods: usize,
    mean: bool,
    out: &mut [f64],
) {
    if rows == 0 {
        return;
    }
    let minp = min_periods.max(1);
    if window == 1 && minp == 1 {
        // A one-row window holds one value, which pandas reports exactly (a window of identical
        // values): the sum and the mean are the row itself, NaN where it is missing.
        for (o, v) in out.iter_mut().zip(x) {
            *o = if v.is_nan() { f64::NAN } else { *v };
        }
        return;
    }
    if mean {
        by_columns(x, out, rows, &mut SumMeanKernel::<true> { window, minp })
    } else {
        by_columns(x, out, rows, &mut SumMeanKernel::<false> { window, minp })
    }
}

/// The kernel of one result (`MEAN` or the sum), so the per-cell step has no `mean` branch.
struct SumMeanKernel<const MEAN: bool> {
    window: usize,
    minp: usize,
}

impl<const MEAN: bool> ColumnKernel for SumMeanKernel<MEAN> {
    fn column(&mut self, x: &[f64], out: &mut [f64]) {
        sum_mean_column::<MEAN>(x, out, self.window, self.minp)
    }

    #[cfg(target_arch = "wasm32")]
    fn pair(&mut self, x: [&[f64]; 2], out: [&mut [f64]; 2]) {
        sum_mean_pair::<MEAN>(x, out, self.window, self.minp)
    }
}

/// One column. (Interleaving several columns measured no faster in the guest, where the loop
/// is bound by instruction count, not by the Kahan chains' latency.)
#[inline(always)]
pub(super) fn sum_mean_column<const MEAN: bool>(
    x: &[f64],
    out: &mut [f64],
    window: usize,
    minp: usize,
) {
    let mut st = SumMean {
        prev: x.first().copied().unwrap_or(f64::NAN),
        ..SumMean::default()
    };
    let head = window.min(x.len());
    for (o, v) in out[..head].iter_mut().zip(&x[..head]) {
        *o = st.step::<MEAN>(f64::NAN, *v, minp);
    }
    // Row i (≥ window) drops row i − window: iterators, so no index is bounds-checked.
    let leaving = &x[..x.len() - head];
    for ((o, v), old) in out[head..].iter_mut().zip(&x[head..]).zip(leaving) {
        *o = st.step::<MEAN>(*old, *v, minp);
    }
}

/// The running state of [`rolling_sum_mean`] for one column.
#[derive(Clone, Copy, Default)]
struct SumMean {
    sum: f64,
    comp_add: f64,
    comp_rem: f64,
    nobs: usize,
    prev: f64,
    same: usize,
}

impl SumMean {
    /// Removes `old` (NaN: nothing leaves the window), adds `v`, and returns the window's value.
    #[inline(always)]
    fn step<const MEAN: bool>(&mut self, old: f64, v: f64, minp: usize) -> f64 {
        if !old.is_nan() {
            self.nobs -= 1;
            kahan(&mut self.sum, &mut self.comp_rem, -old);
        }
        if !v.is_nan() {
            self.nobs += 1;
            kahan(&mut self.sum, &mut self.comp_add, v);
            if v == self.prev {
                self.same += 1;
            } else {
                self.same = 1;
            }
            self.prev = v;
        }
        if self.nobs < minp {
            return f64::NAN;
        }
        match (MEAN, self.same >= self.nobs) {
            (true, true) => self.prev,
            (true, false) => self.sum / self.nobs as f64,
            (false, true) => self.prev * self.nobs as f64,
            (false, false) => self.sum,
        }
    }
}

/// finlab `sustain(window, need)` of a column-major bool panel of `rows` rows: true where at
/// least `need` of the last `window` cells are true and the window is full (pandas'
/// `rolling(window).sum() >= need`, whose first `window - 1` rows are NaN, hence false).
pub fn sustain_bools(b: &[bool], rows: usize, window: usize, need: usize) -> Vec<bool> {
    let mut out = vec![false; b.len()];
    if rows == 0 {
        return out;
    }
    let w = window.max(1);
    let head = w.min(rows);
    for (col, dst) in b.chunks_exact(rows).zip(out.chunks_exact_mut(rows)) {
        let mut count = 0usize;
        for (i, (d, v)) in dst[..head].iter_mut().zip(&col[..head]).enumerate() {
            count += usize::from(*v);
            *d = i + 1 >= w && count >= need;
        }
        // Row i (≥ window) drops row i − window.
        let rest = dst[head..].iter_mut().zip(&col[head..]);
        for ((d, v), old) in rest.zip(&col[..rows - head]) {
            count = count + usize::from(*v) - usize::from(*old);
            *d = count >= need;
        }
    }
    out
}

/// [`sum_mean_column`] for two columns at once (see [`crate::kernels::simd`]). Rows whose
/// added and removed values are all present (most rows) take a shorter step, without the
/// missing-value selects and the count's updates: the same operations on each lane's values,
/// so the same bits.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn sum_mean_pair<const MEAN: bool>(
    x: [&[f64]; 2],
    out: [&mut [f64]; 2],
    window: usize,
    minp: usize,
) {
    let [a, b] = x;
    let [oa, ob] = out;
    let rows = a.len().min(b.len()).min(oa.len()).min(ob.len());
    let (a, b) = (&a[..rows], &b[..rows]);
    let nan = f64x2_splat(f64::NAN);
    let minp = f64x2_splat(minp as f64);
    let zero = f64x2_splat(0.0);
    let mut st = PairState {
        sum: zero,
        comp_add: zero,
        comp_rem: zero,
        nobs: zero,
        same: zero,
        prev: match (a.first(), b.first()) {
            (Some(p), Some(q)) => f64x2(*p, *q),
            _ => nan,
        },
    };
    let head = window.min(rows);
    for i in 0..head {
        store(st.step::<MEAN>(nan, load(a, b, i), minp), oa, ob, i);
    }
    let mut i = head;
    while i < rows {
        // Rows that add and remove values only keep the count: test it once per run.
        let valid = f64x2_ge(st.nobs, minp);
        let all_valid = i64x2_all_true(valid);
        while i < rows {
            let (old, v) = (load(a, b, i - window), load(a, b, i));
            if !i64x2_all_true(v128_and(f64x2_eq(old, old), f64x2_eq(v, v))) {
                break;
            }
            let value = st.full_step::<MEAN>(old, v);
            match all_valid {
                true => store(value, oa, ob, i),
                false => store(v128_bitselect(value, nan, valid), oa, ob, i),
            }
            i += 1;
        }
        if i < rows {
            let value = st.step::<MEAN>(load(a, b, i - window), load(a, b, i), minp);
            store(value, oa, ob, i);
            i += 1;
        }
    }
}

/// [`SumMean`] of two columns, one per lane.
#[cfg(target_arch = "wasm32")]
struct PairState {
    sum: v128,
    comp_add: v128,
    comp_rem: v128,
    nobs: v128,
    same: v128,
    prev: v128,
}

#[cfg(target_arch = "wasm32")]
impl PairState {
    /// [`SumMean::step`], with a `v128_bitselect` where it branches.
    #[inline]
    #[target_feature(enable = "simd128")]
    fn step<const MEAN: bool>(&mut self, old: v128, v: v128, minp: v128) -> v128 {
        let one = f64x2_splat(1.0);
        // Removal: kahan(sum, comp_rem, -old) where old is a value.
        let has_old = f64x2_eq(old, old);
        let y = f64x2_sub(f64x2_neg(old), self.comp_rem);
        let t = f64x2_add(self.sum, y);
        let c = f64x2_sub(f64x2_sub(t, self.sum), y);
        self.sum = v128_bitselect(t, self.sum, has_old);
        self.comp_rem = v128_bitselect(c, self.comp_rem, has_old);
        self.nobs = f64x2_sub(self.nobs, v128_and(one, has_old));
        // Addition: kahan(sum, comp_add, v) where v is a value.
        let has_v = f64x2_eq(v, v);
        let y = f64x2_sub(v, self.comp_add);
        let t = f64x2_add(self.sum, y);
        let c = f64x2_sub(f64x2_sub(t, self.sum), y);
        self.sum = v128_bitselect(t, self.sum, has_v);
        self.comp_add = v128_bitselect(c, self.comp_add, has_v);
        self.nobs = f64x2_add(self.nobs, v128_and(one, has_v));
        let run = v128_bitselect(f64x2_add(self.same, one), one, f64x2_eq(v, self.prev));
        self.same = v128_bitselect(run, self.same, has_v);
        self.prev = v128_bitselect(v, self.prev, has_v);
        v128_bitselect(
            self.value::<MEAN>(),
            f64x2_splat(f64::NAN),
            f64x2_ge(self.nobs, minp),
        )
    }

    /// [`Self::step`] where `old` and `v` are values in both lanes (the count does not change),
    /// before the minimum-count test.
    #[inline]
    #[target_feature(enable = "simd128")]
    fn full_step<const MEAN: bool>(&mut self, old: v128, v: v128) -> v128 {
        let one = f64x2_splat(1.0);
        let y = f64x2_sub(f64x2_neg(old), self.comp_rem);
        let t = f64x2_add(self.sum, y);
        self.comp_rem = f64x2_sub(f64x2_sub(t, self.sum), y);
        self.sum = t;
        let y = f64x2_sub(v, self.comp_add);
        let t = f64x2_add(self.sum, y);
        self.comp_add = f64x2_sub(f64x2_sub(t, self.sum), y);
        self.sum = t;
        self.same = v128_bitselect(f64x2_add(self.same, one), one, f64x2_eq(v, self.prev));
        self.prev = v;
        self.value::<MEAN>()
    }

    /// The window's value: its one repeated value when every value in it is the same.
    #[inline]
    #[target_feature(enable = "simd128")]
    fn value<const MEAN: bool>(&self) -> v128 {
        let all_same = f64x2_ge(self.same, self.nobs);
        if MEAN {
            v128_bitselect(self.prev, f64x2_div(self.sum, self.nobs), all_same)
        } else {
            v128_bitselect(f64x2_mul(self.prev, self.nobs), self.sum, all_same)
        }
    }
}
