//! Column kernels without a window — forward fill, shift, a value against an earlier one,
//! entry/exit edges — and numpy's quantile of a row.

/// [`ffill`] into `out` (cleared first), reusing its buffer.
pub fn ffill_into(x: &[f64], out: &mut Vec<f64>) {
    out.clear();
    let mut last = f64::NAN;
    out.extend(x.iter().map(|v| {
        if !v.is_nan() {
            last = *v;
        }
        last
    }));
}

/// Missing values replaced by the last present value above (pandas `ffill`).
pub fn ffill(x: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    ffill_into(x, &mut out);
    out
}

/// Every column of a column-major panel (`rows` rows) shifted down by `n` rows, `missing` in
/// the first `n` (pandas `shift(n)`).
pub fn shift<T: Copy>(x: &[T], rows: usize, n: usize, missing: T) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    if rows == 0 {
        return out;
    }
    let lead = n.min(rows);
    for col in x.chunks_exact(rows) {
        out.extend(std::iter::repeat_n(missing, lead));
        out.extend_from_slice(&col[..rows - lead]);
    }
    out
}

/// `f(x[i], x[i - n])` down a column, appended to `out`; the first `n` rows read NaN for the
/// earlier value (pandas `diff`, `pct_change` and finlab's `rise`/`fall`).
pub fn vs_shifted<U>(x: &[f64], n: usize, f: impl Fn(f64, f64) -> U, out: &mut Vec<U>) {
    let lead = n.min(x.len());
    out.extend(x[..lead].iter().map(|v| f(*v, f64::NAN)));
    out.extend(x[lead..].iter().zip(x).map(|(v, earlier)| f(*v, *earlier)));
}

/// finlab's `is_entry` (`entry`) or `is_exit` of a column-major bool panel of `rows` rows:
/// True where a column turns True (or False) from the row above; a first row turns from False.
pub fn edges(b: &[bool], rows: usize, entry: bool) -> Vec<bool> {
    (0..b.len())
        .map(|idx| {
            let prev = idx % rows.max(1) > 0 && b[idx - 1];
            if entry {
                b[idx] && !prev
            } else {
                !b[idx] && prev
            }
        })
        .collect()
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
    fn shifts_and_edges_per_column() {
        let nan = f64::NAN;
        // Two columns of three rows.
        let x = [1.0, 2.0, 4.0, 10.0, nan, 30.0];
        let s = shift(&x, 3, 1, nan);
        assert!(s[0].is_nan() && s[3].is_nan());
        assert_eq!((s[1], s[2], s[4]), (1.0, 2.0, 10.0));
        assert!(shift(&x, 3, 5, nan).iter().all(|v| v.is_nan()));
        assert!(shift::<f64>(&[], 0, 1, nan).is_empty());
        let mut d = Vec::new();
        for col in x.chunks(3) {
            vs_shifted(col, 1, |a, b| a - b, &mut d);
        }
        assert!(d[0].is_nan() && d[3].is_nan() && d[4].is_nan() && d[5].is_nan());
        assert_eq!((d[1], d[2]), (1.0, 2.0));
        let b = [true, true, false, false, true, true];
        assert_eq!(edges(&b, 3, true), [true, false, false, false, true, false]);
        assert_eq!(
            edges(&b, 3, false),
            [false, false, true, false, false, false]
        );
    }
}
