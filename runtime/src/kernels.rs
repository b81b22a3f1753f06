//! Column and row kernels on plain `f64` slices (NaN = missing), written to follow pandas'
//! algorithms (finlab's DataFrame methods are pandas underneath) so results match to rounding.

// Index loops mirror the reference algorithms (TA-Lib, pandas) line by line.
#![allow(clippy::needless_range_loop)]

/// `f64::max` (a NaN argument loses) as a compare-and-select: in the wasm guest `f64::max` is a
/// call into libm's `fmax`.
#[inline(always)]
pub fn max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b > a {
        b
    } else {
        a
    }
}

/// `f64::min` as a compare-and-select (see [`max`]).
#[inline(always)]
pub fn min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b < a {
        b
    } else {
        a
    }
}

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
    // One copy per result, so the per-cell step has no `mean` branch.
    if mean {
        sum_mean_panel::<true>(x, rows, window, min_periods.max(1), out)
    } else {
        sum_mean_panel::<false>(x, rows, window, min_periods.max(1), out)
    }
}

fn sum_mean_panel<const MEAN: bool>(
    x: &[f64],
    rows: usize,
    window: usize,
    minp: usize,
    out: &mut [f64],
) {
    // (simd128 is part of the wasm the sandbox loads; an engine without it refuses the module
    // when it is compiled, before any code runs.)
    #[cfg(target_arch = "wasm32")]
    let pair = |x: [&[f64]; 2], o: [&mut [f64]; 2]| simd::sum_mean_pair::<MEAN>(x, o, window, minp);
    #[cfg(not(target_arch = "wasm32"))]
    let pair = |_: [&[f64]; 2], _: [&mut [f64]; 2]| ();
    by_columns(x, out, rows, pair, |x, o| {
        sum_mean_column::<MEAN>(x, o, window, minp)
    });
}

/// The number of leading NaN cells of a column (its length when all are NaN).
fn leading_nans(x: &[f64]) -> usize {
    x.iter().position(|v| !v.is_nan()).unwrap_or(x.len())
}

/// `kernel` of a column from its first value on, NaN before it (see [`by_columns`]; for a
/// kernel that writes NaN and keeps its starting state while its window holds no value).
pub fn from_first_value(x: &[f64], kernel: impl FnOnce(&[f64]) -> Vec<f64>) -> Vec<f64> {
    let lead = leading_nans(x);
    let mut out = vec![f64::NAN; lead];
    if lead < x.len() {
        out.extend(kernel(&x[lead..]));
    }
    out
}

/// Walks the columns of a column-major panel (`rows` rows) and of its output, each from its
/// first value on: a kernel whose window holds no value writes NaN and keeps its starting
/// state, so the leading NaN cells (a stock before its listing: a quarter of the market's
/// cells) are filled with NaN and not walked. In the wasm guest the columns go two at a time
/// through `pair` (one per SIMD lane), paired in order of their first value so that a pair
/// starts where the earlier of the two does; an odd one goes through `single`. Natively each
/// goes through `single`.
fn by_columns(
    x: &[f64],
    out: &mut [f64],
    rows: usize,
    #[allow(unused_mut, unused_variables)] mut pair: impl FnMut([&[f64]; 2], [&mut [f64]; 2]),
    mut single: impl FnMut(&[f64], &mut [f64]),
) {
    if rows == 0 {
        return;
    }
    let ins: Vec<&[f64]> = x.chunks_exact(rows).collect();
    let mut outs: Vec<Option<&mut [f64]>> = out.chunks_exact_mut(rows).map(Some).collect();
    let mut order: Vec<(usize, usize)> = ins
        .iter()
        .enumerate()
        .map(|(c, col)| (leading_nans(col), c))
        .collect();
    for &(lead, c) in &order {
        if let Some(o) = outs[c].as_deref_mut() {
            o[..lead].fill(f64::NAN);
        }
    }
    // All-NaN columns are done.
    order.retain(|&(lead, _)| lead < rows);
    #[cfg(target_arch = "wasm32")]
    {
        order.sort_unstable();
        let pairs = order.len() / 2;
        for two in order[..2 * pairs].chunks_exact(2) {
            let ((lead, a), (_, b)) = (two[0], two[1]);
            if let (Some(oa), Some(ob)) = (outs[a].take(), outs[b].take()) {
                pair(
                    [&ins[a][lead..], &ins[b][lead..]],
                    [&mut oa[lead..], &mut ob[lead..]],
                );
            }
        }
        order.drain(..2 * pairs);
    }
    for (lead, c) in order {
        if let Some(o) = outs[c].take() {
            single(&ins[c][lead..], &mut o[lead..]);
        }
    }
}

/// [`sum_mean_column`] for two columns at once with wasm SIMD: the same IEEE operations on
/// each lane, in the same order, with selects where the scalar code branches — so each lane's
/// results are the scalar results, bit for bit.
#[cfg(target_arch = "wasm32")]
mod simd {
    use core::arch::wasm32::*;

    /// [`super::extreme_column`] for two columns at once (each lane: the scalar steps, with a
    /// select where the scalar code branches). `scratch` holds the suffix extremes.
    #[target_feature(enable = "simd128")]
    pub(super) fn extreme_pair<const MAX: bool>(
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
        let load = |i: usize| f64x2(a[i], b[i]);
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
                acc = better(acc, val(load(i)));
                cur[i - start] = acc;
            }
            let mut acc = empty;
            for i in start..end {
                let v = load(i);
                acc = better(acc, val(v));
                nobs = f64x2_add(nobs, valid(v));
                if i >= w {
                    nobs = f64x2_sub(nobs, valid(load(i - w)));
                }
                let t = i - start;
                let m = if i + 1 < w {
                    acc
                } else if t + 1 < w {
                    better(prev[t + 1], acc)
                } else {
                    better(cur[0], acc)
                };
                let r = v128_bitselect(m, nan, f64x2_ge(nobs, minp));
                oa[i] = f64x2_extract_lane::<0>(r);
                ob[i] = f64x2_extract_lane::<1>(r);
            }
            std::mem::swap(&mut prev, &mut cur);
            start = end;
        }
    }

    #[target_feature(enable = "simd128")]
    pub(super) fn sum_mean_pair<const MEAN: bool>(
        x: [&[f64]; 2],
        out: [&mut [f64]; 2],
        window: usize,
        minp: usize,
    ) {
        let [a, b] = x;
        let [oa, ob] = out;
        let rows = a.len().min(b.len()).min(oa.len()).min(ob.len());
        let one = f64x2_splat(1.0);
        let nan = f64x2_splat(f64::NAN);
        let minp = f64x2_splat(minp as f64);
        let zero = f64x2_splat(0.0);
        let (mut sum, mut comp_add, mut comp_rem, mut nobs, mut same) =
            (zero, zero, zero, zero, zero);
        let mut prev = match (a.first(), b.first()) {
            (Some(p), Some(q)) => f64x2(*p, *q),
            _ => nan,
        };
        let mut step = |old: v128, v: v128| -> v128 {
            // Removal: kahan(sum, comp_rem, -old) where old is a value.
            let has_old = f64x2_eq(old, old);
            let y = f64x2_sub(f64x2_neg(old), comp_rem);
            let t = f64x2_add(sum, y);
            let c = f64x2_sub(f64x2_sub(t, sum), y);
            sum = v128_bitselect(t, sum, has_old);
            comp_rem = v128_bitselect(c, comp_rem, has_old);
            nobs = f64x2_sub(nobs, v128_and(one, has_old));
            // Addition: kahan(sum, comp_add, v) where v is a value.
            let has_v = f64x2_eq(v, v);
            let y = f64x2_sub(v, comp_add);
            let t = f64x2_add(sum, y);
            let c = f64x2_sub(f64x2_sub(t, sum), y);
            sum = v128_bitselect(t, sum, has_v);
            comp_add = v128_bitselect(c, comp_add, has_v);
            nobs = f64x2_add(nobs, v128_and(one, has_v));
            let run = v128_bitselect(f64x2_add(same, one), one, f64x2_eq(v, prev));
            same = v128_bitselect(run, same, has_v);
            prev = v128_bitselect(v, prev, has_v);
            let all_same = f64x2_ge(same, nobs);
            let value = if MEAN {
                v128_bitselect(prev, f64x2_div(sum, nobs), all_same)
            } else {
                v128_bitselect(f64x2_mul(prev, nobs), sum, all_same)
            };
            v128_bitselect(value, nan, f64x2_ge(nobs, minp))
        };
        let head = window.min(rows);
        for i in 0..head {
            let r = step(nan, f64x2(a[i], b[i]));
            oa[i] = f64x2_extract_lane::<0>(r);
            ob[i] = f64x2_extract_lane::<1>(r);
        }
        for i in head..rows {
            let old = f64x2(a[i - window], b[i - window]);
            let r = step(old, f64x2(a[i], b[i]));
            oa[i] = f64x2_extract_lane::<0>(r);
            ob[i] = f64x2_extract_lane::<1>(r);
        }
    }
}

/// One column. (Interleaving several columns, as natively, measured no faster in the guest,
/// where the loop is bound by instruction count, not by the Kahan chains' latency.)
#[inline(always)]
fn sum_mean_column<const MEAN: bool>(x: &[f64], out: &mut [f64], window: usize, minp: usize) {
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
    for (col, dst) in b.chunks_exact(rows).zip(out.chunks_exact_mut(rows)) {
        let mut count = 0usize;
        for i in 0..rows {
            count += usize::from(col[i]);
            if i >= w {
                count -= usize::from(col[i - w]);
            }
            dst[i] = i + 1 >= w && count >= need;
        }
    }
    out
}

/// State of pandas' online variance (Welford with Kahan compensation).
#[derive(Default)]
struct Welford {
    nobs: f64,
    mean: f64,
    ssq: f64,
    unstable: bool,
}

/// An update is "ill-conditioned" when it leaves fewer than ~3 significant digits.
const INV_COND_TOL: f64 = f64::EPSILON * 1e3;

impl Welford {
    fn add(&mut self, v: f64, comp: &mut f64) {
        if v.is_nan() {
            return;
        }
        let prev_m2 = self.ssq;
        self.nobs += 1.0;
        let prev_mean = self.mean - *comp;
        let y = v - *comp;
        let t = y - self.mean;
        *comp = t + self.mean - y;
        self.mean += t / self.nobs;
        self.ssq += (v - prev_mean) * (v - self.mean);
        if prev_m2 * INV_COND_TOL > self.ssq {
            self.unstable = true;
        }
    }

    fn remove(&mut self, v: f64, comp: &mut f64) {
        if v.is_nan() {
            return;
        }
        let prev_m2 = self.ssq;
        self.nobs -= 1.0;
        if self.nobs != 0.0 {
            let prev_mean = self.mean - *comp;
            let y = v - *comp;
            let t = y - self.mean;
            *comp = t + self.mean - y;
            self.mean -= t / self.nobs;
            self.ssq -= (v - prev_mean) * (v - self.mean);
            if prev_m2 * INV_COND_TOL > self.ssq {
                self.unstable = true;
            }
        } else {
            self.mean = 0.0;
            self.ssq = 0.0;
            self.unstable = false;
        }
    }
}

/// pandas `rolling(window, min_periods).std()` (ddof = 1): `roll_var`'s Welford updates with
/// separate Kahan compensations for added and removed values, removals first, the window
/// recomputed from scratch after an ill-conditioned update; negative variance reads as 0.
pub fn rolling_std(x: &[f64], window: usize, min_periods: usize) -> Vec<f64> {
    let minp = min_periods.max(1) as f64;
    let mut out = vec![f64::NAN; x.len()];
    let mut w = Welford::default();
    let (mut comp_add, mut comp_rem) = (0.0f64, 0.0f64);
    for i in 0..x.len() {
        let start = (i + 1).saturating_sub(window);
        let recompute = i == 0 || start >= i;
        if !recompute {
            if start > 0 {
                w.remove(x[start - 1], &mut comp_rem);
            }
            w.add(x[i], &mut comp_add);
        }
        if recompute || w.unstable {
            w = Welford::default();
            comp_add = 0.0;
            comp_rem = 0.0;
            for &v in &x[start..=i] {
                w.add(v, &mut comp_add);
            }
            w.unstable = false;
        }
        if w.nobs >= minp && w.nobs > 1.0 {
            let var = w.ssq / (w.nobs - 1.0);
            out[i] = if var < 0.0 { 0.0 } else { var.sqrt() };
        }
    }
    out
}

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
    // One copy per direction, so the comparison is inlined (not a call per cell).
    if max {
        extreme_panel::<true>(x, rows, w, minp, out)
    } else {
        extreme_panel::<false>(x, rows, w, minp, out)
    }
}

fn extreme_panel<const MAX: bool>(x: &[f64], rows: usize, w: usize, minp: usize, out: &mut [f64]) {
    let mut suffix = vec![0.0; rows];
    #[cfg(target_arch = "wasm32")]
    let mut scratch = Vec::new();
    #[cfg(target_arch = "wasm32")]
    let pair =
        |x: [&[f64]; 2], o: [&mut [f64]; 2]| simd::extreme_pair::<MAX>(x, o, w, minp, &mut scratch);
    #[cfg(not(target_arch = "wasm32"))]
    let pair = |_: [&[f64]; 2], _: [&mut [f64]; 2]| ();
    by_columns(x, out, rows, pair, |x, o| {
        extreme_column::<MAX>(x, o, w, minp, &mut suffix)
    });
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
fn extreme_column<const MAX: bool>(
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

/// pandas `rolling(window, min_periods).median()`: a sorted window of the valid values.
pub fn rolling_median(x: &[f64], window: usize, min_periods: usize) -> Vec<f64> {
    let minp = min_periods.max(1);
    let mut out = vec![f64::NAN; x.len()];
    let mut sorted: Vec<f64> = Vec::with_capacity(window);
    for i in 0..x.len() {
        let v = x[i];
        if !v.is_nan() {
            let at = sorted.partition_point(|s| *s < v);
            sorted.insert(at, v);
        }
        if i >= window {
            let old = x[i - window];
            if !old.is_nan() {
                let at = sorted.partition_point(|s| *s < old);
                if at < sorted.len() {
                    sorted.remove(at);
                }
            }
        }
        let n = sorted.len();
        if n >= minp && n > 0 {
            out[i] = if n % 2 == 1 {
                sorted[n / 2]
            } else {
                (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
            };
        }
    }
    out
}

/// Missing values replaced by the last present value above (pandas `ffill`).
pub fn ffill(x: &[f64]) -> Vec<f64> {
    let mut last = f64::NAN;
    x.iter()
        .map(|v| {
            if !v.is_nan() {
                last = *v;
            }
            last
        })
        .collect()
}

/// The value `n` rows earlier (NaN for the first `n` rows).
pub fn shifted(x: &[f64], n: usize) -> impl Iterator<Item = f64> + '_ {
    (0..x.len()).map(move |i| if i >= n { x[i - n] } else { f64::NAN })
}

/// pandas' tie methods of `rank`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankMethod {
    Average,
    Min,
    Max,
    First,
    Dense,
}

impl RankMethod {
    /// From pandas' name (`average` for anything unknown; the checker allows only the five).
    pub fn parse(name: &str) -> RankMethod {
        match name {
            "min" => RankMethod::Min,
            "max" => RankMethod::Max,
            "first" => RankMethod::First,
            "dense" => RankMethod::Dense,
            _ => RankMethod::Average,
        }
    }
}

/// Per-row rank of the valid values (pandas `rank(axis=1, method, ascending, pct)`, NaN kept).
pub fn rank_row(row: &[f64], method: &str, ascending: bool, pct: bool, out: &mut [f64]) {
    rank_row_with(
        row,
        RankMethod::parse(method),
        ascending,
        pct,
        out,
        &mut RankScratch::default(),
    );
}

/// The buffer [`rank_row_with`] reuses from row to row.
#[derive(Default)]
pub struct RankScratch {
    keys: Vec<(u64, u32)>,
    spare: Vec<(u64, u32)>,
    counts: Vec<u32>,
}

/// Rows at least this wide are sorted by [`radix_sort`].
const RADIX_FROM: usize = 256;

/// Sorts `keys` (pairs added in column order) by key, equal keys in column order — the order
/// `sort_unstable` gives such pairs — by a stable LSD radix sort on 11-bit digits of the key,
/// skipping digits every key shares (a row's values often share sign and exponent).
fn radix_sort(scratch: &mut RankScratch) {
    const BITS: usize = 11;
    const DIGITS: usize = 64usize.div_ceil(BITS);
    const BUCKETS: usize = 1 << BITS;
    let digit = |k: u64, d: usize| ((k >> (d * BITS)) as usize) & (BUCKETS - 1);
    let RankScratch {
        keys,
        spare,
        counts,
    } = scratch;
    let n = keys.len();
    counts.clear();
    counts.resize(DIGITS * BUCKETS, 0);
    for &(k, _) in keys.iter() {
        for d in 0..DIGITS {
            counts[d * BUCKETS + digit(k, d)] += 1;
        }
    }
    spare.clear();
    spare.resize(n, (0, 0));
    for d in 0..DIGITS {
        let Some(&(k0, _)) = keys.first() else {
            return;
        };
        let c = &mut counts[d * BUCKETS..(d + 1) * BUCKETS];
        if c[digit(k0, d)] as usize == n {
            continue;
        }
        let mut sum = 0u32;
        for x in c.iter_mut() {
            let here = *x;
            *x = sum;
            sum += here;
        }
        for &e in keys.iter() {
            let b = digit(e.0, d);
            spare[c[b] as usize] = e;
            c[b] += 1;
        }
        std::mem::swap(keys, spare);
    }
}

/// `x` as an unsigned integer that orders as `f64::total_cmp` orders floats (so sorting is
/// integer comparisons; equal floats — never NaN here — give equal integers).
#[inline(always)]
fn order_bits(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// [`rank_row`] with a reusable scratch buffer (one per panel, not one per row).
pub fn rank_row_with(
    row: &[f64],
    method: RankMethod,
    ascending: bool,
    pct: bool,
    out: &mut [f64],
    scratch: &mut RankScratch,
) {
    out.fill(f64::NAN);
    // Sort (key, column) pairs: the key is the value (negated when descending) with -0.0 made
    // 0.0 (a tie, as in pandas); the column breaks ties, so equal values keep column order
    // (pandas' 'first' is order of appearance). NaNs are left out.
    scratch.keys.clear();
    scratch.keys.extend(
        row.iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(c, &v)| {
                let k = if ascending { v } else { -v };
                (order_bits(k + 0.0), c as u32)
            }),
    );
    if scratch.keys.len() >= RADIX_FROM {
        radix_sort(scratch);
    } else {
        scratch.keys.sort_unstable();
    }
    let keys = &scratch.keys;
    let n = keys.len();
    let mut dense = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && keys[j + 1].0 == keys[i].0 {
            j += 1;
        }
        dense += 1.0;
        for (k, &(_, c)) in keys[i..=j].iter().enumerate() {
            out[c as usize] = match method {
                RankMethod::Min => (i + 1) as f64,
                RankMethod::Max => (j + 1) as f64,
                RankMethod::First => (i + k + 1) as f64,
                RankMethod::Dense => dense,
                RankMethod::Average => (i + j + 2) as f64 / 2.0,
            };
        }
        i = j + 1;
    }
    if pct && n > 0 {
        let denom = if method == RankMethod::Dense {
            dense
        } else {
            n as f64
        };
        for &(_, c) in keys.iter() {
            out[c as usize] /= denom;
        }
    }
}

/// numpy's linear-interpolation quantile of the valid values of a row (NaN when none).
pub fn quantile(row: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = row.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let t = pos - lo as f64;
    let (a, b) = (v[lo], v[hi]);
    let d = b - a;
    // numpy `_lerp`: interpolate from the nearer end.
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_kernels_skip_missing_values() {
        let nan = f64::NAN;
        let x = [1.0, nan, 3.0, 5.0, 4.0];
        let s = rolling_sum_mean(&x, 3, 2, false);
        assert!(s[0].is_nan() && s[1].is_nan());
        assert_eq!(&s[2..], &[4.0, 8.0, 12.0]);
        let m = rolling_extreme(&x, 3, 1, true);
        assert_eq!(m, vec![1.0, 1.0, 3.0, 5.0, 5.0]);
        let md = rolling_median(&x, 3, 1);
        assert_eq!(md, vec![1.0, 1.0, 2.0, 4.0, 4.0]);
        let sd = rolling_std(&[2.0, 2.0, 2.0, 4.0], 3, 3);
        assert!(sd[1].is_nan());
        assert_eq!(sd[2], 0.0);
        assert!((sd[3] - (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn skipping_leading_nans_gives_the_whole_column_bits() {
        // Columns with no, some, window-long and all-NaN leads, NaN runs inside, ties: the panel
        // kernels (which start each column at its first value) equal the column kernels run
        // over the whole column, bit for bit.
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        let rows = 90;
        let mut x = Vec::new();
        for lead in [0usize, 1, 7, 20, 33, 89, 90, 3] {
            x.extend(std::iter::repeat_n(f64::NAN, lead));
            x.extend((lead..rows).map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match state % 9 {
                    0 => f64::NAN,
                    1 => 2.5,
                    k => (k as f64 - 4.0) * 1.25 + (state % 1000) as f64 * 1e-3,
                }
            }));
        }
        let same = |got: &[f64], want: &[f64], what: &str| {
            let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(got), bits(want), "{what}");
        };
        for w in [1usize, 2, 5, 20, 60] {
            for minp in [1, w / 2, w] {
                let mut got = vec![0.0; x.len()];
                for mean in [true, false] {
                    rolling_sum_mean_panel(&x, rows, w, minp, mean, &mut got);
                    let mut want = vec![0.0; x.len()];
                    for (c, o) in x.chunks(rows).zip(want.chunks_mut(rows)) {
                        if mean {
                            sum_mean_column::<true>(c, o, w, minp.max(1));
                        } else {
                            sum_mean_column::<false>(c, o, w, minp.max(1));
                        }
                    }
                    same(&got, &want, &format!("sum/mean {mean} w {w} minp {minp}"));
                }
                rolling_extreme_panel(&x, rows, w, minp, true, &mut got);
                let mut want = vec![0.0; x.len()];
                let mut suffix = vec![0.0; rows];
                for (c, o) in x.chunks(rows).zip(want.chunks_mut(rows)) {
                    extreme_column::<true>(c, o, w, minp.max(1), &mut suffix);
                }
                same(&got, &want, &format!("max w {w} minp {minp}"));
                for c in x.chunks(rows) {
                    let std = from_first_value(c, |c| rolling_std(c, w, minp));
                    same(&std, &rolling_std(c, w, minp), &format!("std w {w}"));
                    let med = from_first_value(c, |c| rolling_median(c, w, minp));
                    same(&med, &rolling_median(c, w, minp), &format!("median w {w}"));
                }
            }
        }
    }

    #[test]
    fn rolling_extreme_matches_a_window_scan() {
        // A fixed pseudo-random column with NaN runs, ties and signed zeros.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let x: Vec<f64> = (0..300)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match state % 11 {
                    0 | 1 => f64::NAN,
                    2 => 0.0,
                    3 => -0.0,
                    k => (k as f64 - 6.0) * 1.5,
                }
            })
            .collect();
        for w in 1..12 {
            for minp in 1..=w {
                for max in [true, false] {
                    let got = rolling_extreme(&x, w, minp, max);
                    for i in 0..x.len() {
                        let win: Vec<f64> = x[(i + 1).saturating_sub(w)..=i]
                            .iter()
                            .copied()
                            .filter(|v| !v.is_nan())
                            .collect();
                        let want = if win.len() < minp {
                            f64::NAN
                        } else if max {
                            win.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                        } else {
                            win.iter().copied().fold(f64::INFINITY, f64::min)
                        };
                        assert!(
                            got[i] == want || (got[i].is_nan() && want.is_nan()),
                            "w {w} minp {minp} max {max} i {i}: {} vs {want}",
                            got[i]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn ranks_equal_a_reference_ranking() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for len in [5usize, 63, 64, 300, 2000] {
            let row: Vec<f64> = (0..len)
                .map(|_| match next() % 13 {
                    0 => f64::NAN,
                    1 => 0.0,
                    2 => -0.0,
                    3 => f64::INFINITY,
                    4 => f64::NEG_INFINITY,
                    5 => 1e-300,
                    // Values apart only in the lowest bits.
                    k @ (6 | 7) => {
                        f64::from_bits(1.5f64.to_bits() + next() % 8192) * (k as f64 - 6.5)
                    }
                    k => (next() % 50) as f64 * if k % 2 == 0 { 1.0 } else { -0.37 },
                })
                .collect();
            for method in ["average", "min", "max", "first", "dense"] {
                for asc in [true, false] {
                    for pct in [true, false] {
                        let mut got = vec![0.0; len];
                        rank_row(&row, method, asc, pct, &mut got);
                        // Reference: a stable comparison sort of the valid columns.
                        let mut idx: Vec<usize> = (0..len).filter(|&c| !row[c].is_nan()).collect();
                        let key = |c: usize| if asc { row[c] + 0.0 } else { -row[c] + 0.0 };
                        idx.sort_by(|&a, &b| key(a).total_cmp(&key(b)));
                        let mut want = vec![f64::NAN; len];
                        let (n, mut i, mut dense) = (idx.len(), 0, 0.0);
                        while i < n {
                            let mut j = i;
                            while j + 1 < n && key(idx[j + 1]) == key(idx[i]) {
                                j += 1;
                            }
                            dense += 1.0;
                            for k in i..=j {
                                want[idx[k]] = match method {
                                    "min" => (i + 1) as f64,
                                    "max" => (j + 1) as f64,
                                    "first" => (k + 1) as f64,
                                    "dense" => dense,
                                    _ => (i + j + 2) as f64 / 2.0,
                                };
                            }
                            i = j + 1;
                        }
                        if pct {
                            let d = if method == "dense" { dense } else { n as f64 };
                            want.iter_mut().for_each(|w| *w /= d);
                        }
                        for c in 0..len {
                            assert!(
                                got[c] == want[c] || (got[c].is_nan() && want[c].is_nan()),
                                "len {len} {method} asc {asc} pct {pct} col {c}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ranking_row_after_row_with_one_scratch_equals_ranking_each_alone() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let len = 300;
        let mut row: Vec<f64> = (0..len).map(|i| (i % 37) as f64).collect();
        for method in ["average", "first", "dense"] {
            let mut scratch = RankScratch::default();
            for _ in 0..40 {
                // A drifting row: small moves, ties, and NaNs that come and go.
                for v in row.iter_mut() {
                    *v = match next() % 20 {
                        0 => f64::NAN,
                        1 if v.is_nan() => (next() % 37) as f64,
                        2 => *v + 1.0,
                        3 => *v - 0.5,
                        _ => *v,
                    };
                }
                let (mut got, mut want) = (vec![0.0; len], vec![0.0; len]);
                rank_row_with(
                    &row,
                    RankMethod::parse(method),
                    false,
                    true,
                    &mut got,
                    &mut scratch,
                );
                rank_row(&row, method, false, true, &mut want);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{method}");
            }
        }
    }

    #[test]
    fn rank_methods_and_quantile() {
        let nan = f64::NAN;
        let row = [3.0, 1.0, nan, 3.0];
        let mut out = [0.0; 4];
        rank_row(&row, "average", true, false, &mut out);
        assert_eq!(out[0], 2.5);
        assert_eq!(out[1], 1.0);
        assert!(out[2].is_nan());
        rank_row(&row, "average", true, true, &mut out);
        assert!((out[0] - 2.5 / 3.0).abs() < 1e-15);
        assert_eq!(quantile(&row, 0.5), 3.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.25), 1.75);
    }
}
