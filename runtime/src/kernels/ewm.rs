//! Exponentially weighted windows and cumulative sums, following pandas' column algorithms
//! (`ewm` and `ewmcov` of its window aggregations, `cumsum` with `skipna`) operation for
//! operation, so results match pandas to the last bit.

/// The options of `ewm(...)` once its decay is a centre of mass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ewm {
    /// pandas' `com`: `alpha = 1 / (1 + com)`.
    pub com: f64,
    pub adjust: bool,
    pub ignore_na: bool,
    /// At least 1 (pandas raises a `min_periods` of 0 to 1).
    pub min_periods: usize,
}

impl Ewm {
    fn weights(&self) -> (f64, f64) {
        let alpha = 1.0 / (1.0 + self.com);
        let new_wt = if self.adjust { 1.0 } else { alpha };
        (1.0 - alpha, new_wt)
    }
}

/// pandas' `ewm(...).mean()` of one column.
pub fn ewm_mean(x: &[f64], o: &Ewm) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    let Some(&first) = x.first() else {
        return out;
    };
    let (old_wt_factor, new_wt) = o.weights();
    let mut weighted = first;
    let mut nobs = usize::from(!first.is_nan());
    let mut old_wt = 1.0;
    out.push(if nobs >= o.min_periods {
        weighted
    } else {
        f64::NAN
    });
    for &cur in &x[1..] {
        let is_observation = !cur.is_nan();
        nobs += usize::from(is_observation);
        if !weighted.is_nan() {
            if is_observation || !o.ignore_na {
                old_wt *= old_wt_factor;
                if is_observation {
                    // pandas skips the update on a constant series (no rounding drift).
                    if weighted != cur {
                        weighted = old_wt * weighted + new_wt * cur;
                        weighted /= old_wt + new_wt;
                    }
                    if o.adjust {
                        old_wt += new_wt;
                    } else {
                        old_wt = 1.0;
                    }
                }
            }
        } else if is_observation {
            weighted = cur;
        }
        out.push(if nobs >= o.min_periods {
            weighted
        } else {
            f64::NAN
        });
    }
    out
}

/// pandas' `ewm(...).std()` (`bias=False`) of one column: the square root of `ewmcov(x, x)`,
/// negative variances read 0.
pub fn ewm_std(x: &[f64], o: &Ewm) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    let Some(&first) = x.first() else {
        return out;
    };
    let (old_wt_factor, new_wt) = o.weights();
    let mut mean = first;
    let mut nobs = usize::from(!first.is_nan());
    out.push(f64::NAN);
    let (mut cov, mut sum_wt, mut sum_wt2, mut old_wt) = (0.0, 1.0, 1.0, 1.0);
    for &cur in &x[1..] {
        let is_observation = !cur.is_nan();
        nobs += usize::from(is_observation);
        if !mean.is_nan() {
            if is_observation || !o.ignore_na {
                sum_wt *= old_wt_factor;
                sum_wt2 *= old_wt_factor * old_wt_factor;
                old_wt *= old_wt_factor;
                if is_observation {
                    let old_mean = mean;
                    if mean != cur {
                        mean = (old_wt * old_mean + new_wt * cur) / (old_wt + new_wt);
                    }
                    let d_old = old_mean - mean;
                    let d_cur = cur - mean;
                    cov = (old_wt * (cov + d_old * d_old) + new_wt * (d_cur * d_cur))
                        / (old_wt + new_wt);
                    sum_wt += new_wt;
                    sum_wt2 += new_wt * new_wt;
                    old_wt += new_wt;
                    if !o.adjust {
                        sum_wt /= old_wt;
                        sum_wt2 /= old_wt * old_wt;
                        old_wt = 1.0;
                    }
                }
            }
        } else if is_observation {
            mean = cur;
        }
        let var = if nobs >= o.min_periods {
            let numerator = sum_wt * sum_wt;
            let denominator = numerator - sum_wt2;
            if denominator > 0.0 {
                numerator / denominator * cov
            } else {
                f64::NAN
            }
        } else {
            f64::NAN
        };
        out.push(if var < 0.0 { 0.0 } else { var.sqrt() });
    }
    out
}

/// pandas' `cumsum()` (`skipna=True`) of one column: a running sum of the present values in
/// row order, NaN where the value is missing.
pub fn cumsum(x: &[f64]) -> Vec<f64> {
    let mut sum = 0.0;
    x.iter()
        .map(|&v| {
            if v.is_nan() {
                v
            } else {
                sum += v;
                sum
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values pandas 3.1 prints for `x = [1, NaN, 3, NaN, 5]` and `[NaN, 4, 5, 6, 8]`.
    #[test]
    fn spans_match_pandas() {
        let o = Ewm {
            com: 1.0,
            adjust: true,
            ignore_na: false,
            min_periods: 1,
        };
        let nan = f64::NAN;
        let a = [1.0, nan, 3.0, nan, 5.0];
        let b = [nan, 4.0, 5.0, 6.0, 8.0];
        let same = |x: &[f64], y: &[f64]| {
            x.iter()
                .zip(y)
                .all(|(p, q)| (p.is_nan() && q.is_nan()) || (p - q).abs() < 1e-15 * q.abs())
        };
        assert!(same(
            &ewm_mean(&a, &o),
            &[1.0, 1.0, 2.6, 2.6, 4.428571428571429]
        ));
        assert!(same(
            &ewm_mean(&b, &o),
            &[nan, 4.0, 4.666666666666667, 5.428571428571429, 6.8]
        ));
        assert!(same(
            &ewm_std(&a, &o),
            &[
                nan,
                nan,
                std::f64::consts::SQRT_2,
                std::f64::consts::SQRT_2,
                1.7728105208558367
            ]
        ));
        assert!(same(
            &ewm_std(&b, &o),
            &[
                nan,
                nan,
                std::f64::consts::FRAC_1_SQRT_2,
                0.9636241116594314,
                1.7443787268988185
            ]
        ));
        assert!(same(&cumsum(&a), &[1.0, nan, 4.0, nan, 9.0]));
    }
}
