//! pandas' rolling `std()`: Welford's online variance with Kahan compensation.

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
