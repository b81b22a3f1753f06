//! Column and row kernels on plain `f64` slices (NaN = missing), written to follow pandas'
//! algorithms (finlab's DataFrame methods are pandas underneath) so results match to rounding.
//!
//! Laid out by family, as polars-compute's `rolling/`: [`rolling`] has one file per statistic,
//! each with its scalar column kernel and, for the guest, its two-column wasm SIMD kernel side
//! by side (`simd` holds what those share); [`rank`] is the per-row rank; [`rows`] the reductions across each row; [`misc`] the rest
//! (forward fill, shift, quantile, entry/exit edges).

mod ewm;
mod misc;
mod rank;
mod rolling;
mod rows;
#[cfg(target_arch = "wasm32")]
mod simd;

pub use ewm::{cumsum, ewm_mean, ewm_std, Ewm};
pub use misc::{edges, ffill, ffill_into, quantile, shift, vs_shifted};
pub use rank::{rank_row, rank_row_with, RankMethod, RankScratch};
pub use rolling::{
    rolling_extreme, rolling_extreme_panel, rolling_median, rolling_std, rolling_std_panel,
    rolling_sum_mean, rolling_sum_mean_panel, sustain_bools,
};
pub use rows::{row_median, row_reduce, row_reduce_bools, RowStat};

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

/// The number of leading NaN cells of a column (its length when all are NaN).
fn leading_nans(x: &[f64]) -> usize {
    // Eight cells at a time without an early exit (the compiler vectorises the test), then the
    // first value within the eight.
    const STEP: usize = 8;
    let chunks = x.chunks_exact(STEP);
    let whole = x.len() - chunks.remainder().len();
    let nans = chunks
        .take_while(|c| c.iter().fold(true, |all, v| all & v.is_nan()))
        .count()
        * STEP;
    let rest = if nans < whole {
        &x[nans..nans + STEP]
    } else {
        &x[nans..]
    };
    nans + rest.iter().position(|v| !v.is_nan()).unwrap_or(rest.len())
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

/// A rolling kernel that runs column by column with no state across columns.
trait ColumnKernel {
    /// One column, from its first value on, into `out` (as long as `x`).
    fn column(&mut self, x: &[f64], out: &mut [f64]);

    /// Two columns at once, one per SIMD lane: each lane's results are [`Self::column`]'s, bit
    /// for bit.
    #[cfg(target_arch = "wasm32")]
    fn pair(&mut self, x: [&[f64]; 2], out: [&mut [f64]; 2]);
}

/// The columns of a column-major panel (`rows` rows) and of its output that hold a value, as
/// `(first value's row, column, input, output)`; the output's leading NaN cells are filled.
fn started_columns<'a>(
    x: &'a [f64],
    out: &'a mut [f64],
    rows: usize,
) -> Vec<(usize, usize, &'a [f64], &'a mut [f64])> {
    if rows == 0 {
        return Vec::new();
    }
    x.chunks_exact(rows)
        .zip(out.chunks_exact_mut(rows))
        .enumerate()
        .filter_map(|(c, (x, out))| {
            let lead = leading_nans(x);
            out[..lead].fill(f64::NAN);
            // All-NaN columns are done.
            (lead < rows).then_some((lead, c, x, out))
        })
        .collect()
}

/// Runs `kernel` over the columns of a column-major panel (`rows` rows) into `out`, each from
/// its first value on: a kernel whose window holds no value writes NaN and keeps its starting
/// state, so the leading NaN cells (a stock before its listing: a quarter of the market's
/// cells) are filled with NaN and not walked.
#[cfg(not(target_arch = "wasm32"))]
fn by_columns(x: &[f64], out: &mut [f64], rows: usize, kernel: &mut impl ColumnKernel) {
    for (lead, _, x, out) in started_columns(x, out, rows) {
        kernel.column(&x[lead..], &mut out[lead..]);
    }
}

/// [`by_columns`] in the guest: the columns go two at a time through [`ColumnKernel::pair`]
/// (one per SIMD lane), paired in order of their first value so that a pair starts where the
/// earlier of the two does; an odd one goes through [`ColumnKernel::column`].
#[cfg(target_arch = "wasm32")]
fn by_columns(x: &[f64], out: &mut [f64], rows: usize, kernel: &mut impl ColumnKernel) {
    let mut cols = started_columns(x, out, rows);
    cols.sort_unstable_by_key(|&(lead, c, ..)| (lead, c));
    let mut cols = cols.into_iter();
    while let Some((lead, _, xa, oa)) = cols.next() {
        match cols.next() {
            Some((_, _, xb, ob)) => kernel.pair(
                [&xa[lead..], &xb[lead..]],
                [&mut oa[lead..], &mut ob[lead..]],
            ),
            None => kernel.column(&xa[lead..], &mut oa[lead..]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::leading_nans;

    #[test]
    fn leading_nans_counts_up_to_the_first_value() {
        let n = f64::NAN;
        for len in 0..20 {
            for first in 0..=len {
                let mut x = vec![n; len];
                for (i, v) in x.iter_mut().enumerate().skip(first) {
                    // Values after the first include NaN: only the leading run counts.
                    *v = if i % 3 == 1 { n } else { i as f64 };
                }
                let want = x.iter().position(|v| !v.is_nan()).unwrap_or(len);
                assert_eq!(leading_nans(&x), want, "len {len}, first {first}");
            }
        }
        assert_eq!(leading_nans(&[n, n, f64::INFINITY]), 2);
    }
}
