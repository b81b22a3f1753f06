//! pandas' rolling `median()`: a sorted window of the valid values.

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
