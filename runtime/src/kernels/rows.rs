//! Reductions of each row across the columns (pandas' `df.mean(axis=1)` and friends, missing
//! values skipped): one value per date. The sums walk the column-major cells column by column,
//! adding each column to per-row accumulators in column order, as numpy reduces a frame's rows.

use crate::cells::BLOCK;

/// Which statistic of each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStat {
    Mean,
    /// NaN-skipping sum; 0 for a row with no valid value (pandas' `min_count=0`).
    Sum,
    Max,
    Min,
    /// Sample standard deviation (ddof=1): NaN with fewer than two valid values.
    Std,
    Median,
    /// The number of valid values.
    Count,
}

/// The statistic of every row of a column-major panel of `rows` rows (for the median, see
/// [`row_median`]).
pub fn row_reduce(x: &[f64], rows: usize, stat: RowStat) -> Vec<f64> {
    match stat {
        RowStat::Median => {
            let cols = x.len().checked_div(rows).unwrap_or(0);
            row_median(&crate::panel::transpose(x, rows, cols), cols)
        }
        RowStat::Count => accumulate(x, rows, |a, _| a).1,
        RowStat::Sum => accumulate(x, rows, |a, v| a + v).0,
        RowStat::Max => extreme(x, rows, super::max),
        RowStat::Min => extreme(x, rows, super::min),
        RowStat::Mean => {
            let (sum, count) = accumulate(x, rows, |a, v| a + v);
            mean(&sum, &count)
        }
        RowStat::Std => {
            let (sum, count) = accumulate(x, rows, |a, v| a + v);
            row_std(x, rows, &mean(&sum, &count), &count)
        }
    }
}

/// Per row, `f` folded over the valid values from 0 in column order, and their count.
fn accumulate(x: &[f64], rows: usize, f: impl Fn(f64, f64) -> f64) -> (Vec<f64>, Vec<f64>) {
    let mut count = vec![0.0; rows];
    let mut acc = vec![0.0; rows];
    for col in x.chunks_exact(rows.max(1)) {
        by_blocks(&mut acc, &mut count, col, &f);
    }
    (acc, count)
}

/// `acc[r] = f(acc[r], col[r])` and `count[r] += 1` where `col[r]` is valid, in unrolled
/// blocks: the guest checks fuel once per loop iteration, so once per block, not per cell.
fn by_blocks(acc: &mut [f64], count: &mut [f64], col: &[f64], f: &impl Fn(f64, f64) -> f64) {
    let step = |a: &mut f64, n: &mut f64, v: f64| {
        let valid = !v.is_nan();
        *n += f64::from(u8::from(valid));
        *a = if valid { f(*a, v) } else { *a };
    };
    let (ab, ar) = acc.as_chunks_mut::<BLOCK>();
    let (nb, nr) = count.as_chunks_mut::<BLOCK>();
    let (cb, cr) = col.as_chunks::<BLOCK>();
    for ((a, n), c) in ab.iter_mut().zip(nb.iter_mut()).zip(cb) {
        for i in 0..BLOCK {
            step(&mut a[i], &mut n[i], c[i]);
        }
    }
    for ((a, n), c) in ar.iter_mut().zip(nr.iter_mut()).zip(cr) {
        step(a, n, *c);
    }
}

/// Per row, the largest (or smallest, by `pick`) valid value; NaN when there is none.
fn extreme(x: &[f64], rows: usize, pick: fn(f64, f64) -> f64) -> Vec<f64> {
    // `pick` (compare-and-select) skips a NaN on either side, so every value goes in.
    let mut acc = vec![f64::NAN; rows];
    let mut ignored = vec![0.0; rows];
    for col in x.chunks_exact(rows.max(1)) {
        by_blocks(&mut acc, &mut ignored, col, &pick);
    }
    acc
}

/// Sum over count, NaN where nothing was counted.
fn mean(sum: &[f64], count: &[f64]) -> Vec<f64> {
    sum.iter()
        .zip(count)
        .map(|(s, n)| if *n > 0.0 { s / n } else { f64::NAN })
        .collect()
}

/// pandas' `nanvar` (ddof=1) square-rooted: the squared deviations from the row's mean, summed
/// in column order, over `count - 1`.
fn row_std(x: &[f64], rows: usize, mean: &[f64], count: &[f64]) -> Vec<f64> {
    let mut sq = vec![0.0; rows];
    let mut term = vec![0.0; rows];
    for col in x.chunks_exact(rows.max(1)) {
        // A missing value adds 0 (sums of squares are never -0, so the bits do not change).
        crate::cells::zip_into(&mut term, mean, col, |m, v| {
            let d = m - v;
            if v.is_nan() {
                0.0
            } else {
                d * d
            }
        });
        crate::cells::update_zip(&mut sq, &term, |s, t| s + t);
    }
    sq.iter()
        .zip(count)
        .map(|(s, n)| {
            if *n > 1.0 {
                libm::sqrt(s / (n - 1.0))
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// The sum, count or mean of every row of a column-major bool panel (True is 1): the same
/// values the float path gives, without widening the panel to floats.
pub fn row_reduce_bools(x: &[bool], rows: usize, stat: RowStat) -> Option<Vec<f64>> {
    let cols = x.len().checked_div(rows).unwrap_or(0);
    let mut trues = vec![0.0; rows];
    for col in x.chunks_exact(rows.max(1)) {
        crate::cells::update_zip(&mut trues, col, |t, v| t + f64::from(u8::from(v)));
    }
    let n = cols as f64;
    match stat {
        RowStat::Sum => Some(trues),
        RowStat::Count => Some(vec![n; rows]),
        RowStat::Mean => Some(mean(&trues, &vec![n; rows])),
        _ => None,
    }
}

/// numpy's `nanmedian` of each row of a row-major panel of `cols` columns: the middle valid
/// value, or the mean of the two middle ones (found by selection, not a full sort).
pub fn row_median(x: &[f64], cols: usize) -> Vec<f64> {
    let mut valid = Vec::with_capacity(cols);
    x.chunks_exact(cols.max(1))
        .map(|row| {
            valid.clear();
            valid.extend(row.iter().copied().filter(|v| !v.is_nan()));
            let n = valid.len();
            if n == 0 {
                return f64::NAN;
            }
            let (lower, mid, _) = valid.select_nth_unstable_by(n / 2, f64::total_cmp);
            let mid = *mid;
            if n % 2 == 1 {
                mid
            } else {
                let below = lower.iter().copied().fold(f64::NEG_INFINITY, super::max);
                (below + mid) / 2.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_skip_missing_values_as_pandas_does() {
        let nan = f64::NAN;
        // Two columns of four rows: [1, nan, 3, nan] and [2, nan, nan, 5].
        let x = [1.0, nan, 3.0, nan, 2.0, nan, nan, 5.0];
        let r = |s| row_reduce(&x, 4, s);
        let same = |a: Vec<f64>, b: [f64; 4]| {
            assert!(a
                .iter()
                .zip(b)
                .all(|(x, y)| x == &y || (x.is_nan() && y.is_nan())));
        };
        same(r(RowStat::Mean), [1.5, nan, 3.0, 5.0]);
        same(r(RowStat::Sum), [3.0, 0.0, 3.0, 5.0]);
        same(r(RowStat::Max), [2.0, nan, 3.0, 5.0]);
        same(r(RowStat::Min), [1.0, nan, 3.0, 5.0]);
        same(
            r(RowStat::Std),
            [std::f64::consts::FRAC_1_SQRT_2, nan, nan, nan],
        );
        same(r(RowStat::Median), [1.5, nan, 3.0, 5.0]);
        same(r(RowStat::Count), [2.0, 0.0, 1.0, 1.0]);
        assert!(row_reduce(&[], 0, RowStat::Mean).is_empty());
        // Bools count as 0/1, as the float path reads them.
        let b = [true, false, true, true, true, false];
        let f: Vec<f64> = b.iter().map(|v| f64::from(u8::from(*v))).collect();
        for stat in [RowStat::Sum, RowStat::Count, RowStat::Mean] {
            assert_eq!(row_reduce_bools(&b, 3, stat), Some(row_reduce(&f, 3, stat)));
        }
        assert_eq!(row_reduce_bools(&b, 3, RowStat::Std), None);
        // An even count of valid values averages the two middle ones.
        assert_eq!(
            row_median(&[4.0, nan, 1.0, 3.0, 2.0, 9.0], 3),
            vec![2.5, 3.0]
        );
    }
}
