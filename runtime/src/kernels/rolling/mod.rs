//! Rolling-window statistics, one file per family (polars-compute's `rolling/` layout).

// Index loops mirror the reference algorithms (pandas) line by line.
#![allow(clippy::needless_range_loop)]

mod extreme;
mod median;
mod std;
mod sum_mean;

pub use self::extreme::{rolling_extreme, rolling_extreme_panel};
pub use self::median::rolling_median;
pub use self::std::{rolling_std, rolling_std_panel};
pub use self::sum_mean::{rolling_sum_mean, rolling_sum_mean_panel, sustain_bools};

#[cfg(test)]
mod tests {
    use super::{
        extreme, rolling_extreme, rolling_extreme_panel, rolling_median, rolling_std,
        rolling_std_panel, rolling_sum_mean, rolling_sum_mean_panel, sum_mean, sustain_bools,
    };
    use crate::kernels::from_first_value;

    #[test]
    fn a_one_row_window_is_the_row_itself() {
        let (nan, payload) = (f64::NAN, f64::from_bits(0x7ff8_0000_0000_0001));
        let x = [
            nan,
            1.5,
            1.5,
            -0.0,
            0.0,
            payload,
            nan,
            1e300,
            1e300,
            -1e-300,
            7.0,
            f64::INFINITY,
        ];
        for (mean, minp) in [(true, 0), (true, 1), (false, 1)] {
            let mut want = vec![0.0; x.len()];
            match mean {
                true => sum_mean::sum_mean_column::<true>(&x, &mut want, 1, 1),
                false => sum_mean::sum_mean_column::<false>(&x, &mut want, 1, 1),
            }
            let got = rolling_sum_mean(&x, 1, minp, mean);
            let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "mean {mean}, min_periods {minp}");
        }
        // A minimum count above the window: nothing is ever reported.
        assert!(rolling_sum_mean(&x, 1, 2, true).iter().all(|v| v.is_nan()));
    }

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
    fn sustain_counts_each_full_window() {
        // Two columns of 7 rows; windows shorter than, equal to and longer than a column.
        let b: Vec<bool> = [1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1]
            .iter()
            .map(|&v| v == 1)
            .collect();
        for (window, need) in [(1, 1), (2, 2), (3, 2), (3, 0), (7, 5), (9, 1)] {
            let got = sustain_bools(&b, 7, window, need);
            for (c, col) in b.chunks(7).enumerate() {
                for i in 0..7usize {
                    let from = (i + 1).saturating_sub(window);
                    let count = col[from..=i].iter().filter(|&&v| v).count();
                    let want = i + 1 >= window && count >= need;
                    assert_eq!(got[c * 7 + i], want, "window {window} need {need} row {i}");
                }
            }
        }
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
                            sum_mean::sum_mean_column::<true>(c, o, w, minp.max(1));
                        } else {
                            sum_mean::sum_mean_column::<false>(c, o, w, minp.max(1));
                        }
                    }
                    same(&got, &want, &format!("sum/mean {mean} w {w} minp {minp}"));
                }
                rolling_extreme_panel(&x, rows, w, minp, true, &mut got);
                let mut want = vec![0.0; x.len()];
                let mut suffix = vec![0.0; rows];
                for (c, o) in x.chunks(rows).zip(want.chunks_mut(rows)) {
                    extreme::extreme_column::<true>(c, o, w, minp.max(1), &mut suffix);
                }
                same(&got, &want, &format!("max w {w} minp {minp}"));
                rolling_std_panel(&x, rows, w, minp, &mut got);
                let want: Vec<f64> = x
                    .chunks(rows)
                    .flat_map(|c| rolling_std(c, w, minp))
                    .collect();
                same(&got, &want, &format!("std panel w {w} minp {minp}"));
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
}
