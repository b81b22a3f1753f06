//! Column and row kernels on plain `f64` slices (NaN = missing), written to follow pandas'
//! algorithms (finlab's DataFrame methods are pandas underneath) so results match to rounding.

// Index loops mirror the reference algorithms (TA-Lib, pandas) line by line.
#![allow(clippy::needless_range_loop)]

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
    let minp = min_periods.max(1);
    let mut out = vec![f64::NAN; x.len()];
    let (mut sum, mut comp_add, mut comp_rem, mut nobs) = (0.0f64, 0.0f64, 0.0f64, 0usize);
    let (mut prev, mut same) = (x.first().copied().unwrap_or(f64::NAN), 0usize);
    for i in 0..x.len() {
        if i >= window {
            let old = x[i - window];
            if !old.is_nan() {
                nobs -= 1;
                kahan(&mut sum, &mut comp_rem, -old);
            }
        }
        let v = x[i];
        if !v.is_nan() {
            nobs += 1;
            kahan(&mut sum, &mut comp_add, v);
            if v == prev {
                same += 1;
            } else {
                same = 1;
            }
            prev = v;
        }
        if nobs >= minp {
            out[i] = match (mean, same >= nobs) {
                (true, true) => prev,
                (true, false) => sum / nobs as f64,
                (false, true) => prev * nobs as f64,
                (false, false) => sum,
            };
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

/// pandas `rolling(window, min_periods).max()` (or `.min()`), a monotonic deque skipping NaN.
pub fn rolling_extreme(x: &[f64], window: usize, min_periods: usize, max: bool) -> Vec<f64> {
    let minp = min_periods.max(1);
    let mut out = vec![f64::NAN; x.len()];
    let mut dq: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut nobs = 0usize;
    for i in 0..x.len() {
        let v = x[i];
        if !v.is_nan() {
            nobs += 1;
            while let Some(&b) = dq.back() {
                let worse = if max { x[b] <= v } else { x[b] >= v };
                if worse {
                    dq.pop_back();
                } else {
                    break;
                }
            }
            dq.push_back(i);
        }
        if i >= window {
            if !x[i - window].is_nan() {
                nobs -= 1;
            }
            while dq.front().is_some_and(|&f| f + window <= i) {
                dq.pop_front();
            }
        }
        if nobs >= minp {
            if let Some(&f) = dq.front() {
                out[i] = x[f];
            }
        }
    }
    out
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

/// Per-row rank of the valid values (pandas `rank(axis=1, method, ascending, pct)`, NaN kept).
pub fn rank_row(row: &[f64], method: &str, ascending: bool, pct: bool, out: &mut [f64]) {
    let mut idx: Vec<usize> = (0..row.len()).filter(|&c| !row[c].is_nan()).collect();
    for o in out.iter_mut() {
        *o = f64::NAN;
    }
    let n = idx.len();
    if n == 0 {
        return;
    }
    // Stable sort: equal values keep column order (pandas' 'first' uses order of appearance).
    idx.sort_by(|&a, &b| {
        // -0.0 and 0.0 are equal (a tie), as in pandas; NaNs were filtered out above.
        let o = row[a]
            .partial_cmp(&row[b])
            .unwrap_or(std::cmp::Ordering::Equal);
        if ascending {
            o
        } else {
            o.reverse()
        }
    });
    let mut dense = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && row[idx[j + 1]] == row[idx[i]] {
            j += 1;
        }
        dense += 1.0;
        for (k, &c) in idx.iter().enumerate().take(j + 1).skip(i) {
            out[c] = match method {
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
        let denom = if method == "dense" { dense } else { n as f64 };
        for &c in &idx {
            out[c] /= denom;
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
