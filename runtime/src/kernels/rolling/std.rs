//! pandas' rolling `std()`: Welford's online variance with Kahan compensation.

use crate::kernels::{by_columns, ColumnKernel};

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
    let mut out = vec![f64::NAN; x.len()];
    std_column(x, &mut out, window, min_periods.max(1) as f64);
    out
}

/// [`rolling_std`] of every column of a column-major panel of `rows` rows, into `out`.
pub fn rolling_std_panel(
    x: &[f64],
    rows: usize,
    window: usize,
    min_periods: usize,
    out: &mut [f64],
) {
    let minp = min_periods.max(1) as f64;
    by_columns(x, out, rows, &mut StdKernel { window, minp });
}

/// The rolling deviation as a [`ColumnKernel`].
struct StdKernel {
    window: usize,
    minp: f64,
}

impl ColumnKernel for StdKernel {
    fn column(&mut self, x: &[f64], out: &mut [f64]) {
        std_column(x, out, self.window, self.minp)
    }

    /// Two columns' steps interleaved: each is a chain of dependent divisions, so the two
    /// chains overlap (scalar code, the column's operations in its order: the same bits).
    #[cfg(target_arch = "wasm32")]
    fn pair(&mut self, x: [&[f64]; 2], out: [&mut [f64]; 2]) {
        let [a, b] = x;
        let [oa, ob] = out;
        let (mut sa, mut sb) = (StdState::default(), StdState::default());
        let rows = a.len().min(b.len()).min(oa.len()).min(ob.len());
        for i in 0..rows {
            oa[i] = sa.step(a, i, self.window, self.minp);
            ob[i] = sb.step(b, i, self.window, self.minp);
        }
    }
}

/// [`rolling_std`] of one column into `out`, with `minp` at least 1.
fn std_column(x: &[f64], out: &mut [f64], window: usize, minp: f64) {
    let mut st = StdState::default();
    for (i, o) in out.iter_mut().enumerate().take(x.len()) {
        *o = st.step(x, i, window, minp);
    }
}

/// The running state of [`rolling_std`] for one column.
#[derive(Default)]
struct StdState {
    w: Welford,
    comp_add: f64,
    comp_rem: f64,
}

impl StdState {
    /// Moves the window to end at row `i` of `x` and returns its deviation.
    #[inline(always)]
    fn step(&mut self, x: &[f64], i: usize, window: usize, minp: f64) -> f64 {
        let start = (i + 1).saturating_sub(window);
        let recompute = i == 0 || start >= i;
        if !recompute {
            if start > 0 {
                self.w.remove(x[start - 1], &mut self.comp_rem);
            }
            self.w.add(x[i], &mut self.comp_add);
        }
        if recompute || self.w.unstable {
            *self = StdState::default();
            for &v in &x[start..=i] {
                self.w.add(v, &mut self.comp_add);
            }
            self.w.unstable = false;
        }
        if self.w.nobs >= minp && self.w.nobs > 1.0 {
            let var = self.w.ssq / (self.w.nobs - 1.0);
            if var < 0.0 {
                0.0
            } else {
                var.sqrt()
            }
        } else {
            f64::NAN
        }
    }
}
