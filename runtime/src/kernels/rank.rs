//! pandas' `rank(axis=1, method, ascending, pct)` of a row: the valid values sorted with their
//! column (a radix sort on wide rows), ties resolved by the method.

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::quantile;

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
