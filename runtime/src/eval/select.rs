//! Cross-sectional selection, row by row: `is_largest` / `is_smallest`, `rank` and
//! `industry_rank`. Under a read-row restriction ([`super::restrict`]) the rows `sim()` reads
//! are selected as a panel of their own and put back.

use std::rc::Rc;

use super::args::{CallArgs, ReadAt};
use super::restrict::read_rows;
use super::{type_err, EvalError};
use crate::kernels;
use crate::panel::{spread_rows, Panel};

/// `is_largest(n)` (or `is_smallest(n)`) of `p`.
pub(super) fn is_extreme(call: &CallArgs, p: &Panel, largest: bool) -> Result<Panel, EvalError> {
    let n = call.size("n")?.unwrap_or(1);
    Ok(match call.read_at {
        // The read rows as a panel of their own (rows are independent), put back.
        Some(at) => {
            let r = on_read_rows(call, p, at)?;
            let sub = select_per_row(&r.sub, n, largest);
            let cells = spread_rows(&sub, &r.read, r.dates.len(), false);
            Panel::boolean(r.dates, p.columns.clone(), cells)
        }
        None => p.with_bools(select_per_row(p, n, largest)),
    })
}

/// A restricted receiver's read rows as a panel of their own, with those rows' indices and the
/// grid to put the result back on.
struct ReadRows {
    sub: Panel,
    read: Vec<usize>,
    dates: Rc<Vec<i32>>,
}

/// [`ReadRows`] of `p`: taken from its own grid, or `p` itself when it holds the read rows only
/// (a fused chain computed there alone).
fn on_read_rows(call: &CallArgs, p: &Panel, at: ReadAt) -> Result<ReadRows, EvalError> {
    match at.compact_of {
        Some(full) => {
            let read = read_rows(full, at.dates);
            if read.len() != p.rows() {
                return Err(type_err(
                    call.node,
                    "a restricted receiver lost its read rows",
                ));
            }
            Ok(ReadRows {
                sub: p.clone(),
                read,
                dates: full.clone(),
            })
        }
        None => {
            let read = read_rows(&p.dates, at.dates);
            Ok(ReadRows {
                sub: p.take_rows(&read),
                read,
                dates: p.dates.clone(),
            })
        }
    }
}

/// `rank(axis=1, method, ascending, pct)` of `p`.
pub(super) fn rank(call: &CallArgs, p: &Panel) -> Result<Panel, EvalError> {
    let pct = call.flag("pct")?;
    let asc = call.flag("ascending")?;
    let method = kernels::RankMethod::parse(call.text("method")?);
    let mut scratch = kernels::RankScratch::default();
    let rank = |row: &[f64], out: &mut [f64]| {
        kernels::rank_row_with(row, method, asc, pct, out, &mut scratch)
    };
    Ok(match call.read_at {
        Some(at) => {
            let r = on_read_rows(call, p, at)?;
            let sub = r.sub.map_rows(rank).floats();
            let cells = spread_rows(&sub, &r.read, r.dates.len(), f64::NAN);
            Panel::float(r.dates, p.columns.clone(), cells)
        }
        None => p.map_rows(rank),
    })
}

/// finlab's `industry_rank`: per date, each stock's `rank(pct=True)` among the stocks of each
/// industry it belongs to (one row of `groups` per industry, 1 = member), averaged over its
/// industries; the output has the stocks with an industry, sorted by symbol (as finlab's
/// grouping returns them).
pub(super) fn industry_rank(p: &Panel, groups: &Panel) -> Panel {
    let rows = p.rows();
    let col_of: std::collections::HashMap<&str, usize> = p
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let g = groups.floats();
    let n_groups = groups.rows();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_groups];
    for (gc, code) in groups.columns.iter().enumerate() {
        if let Some(&c) = col_of.get(code.as_str()) {
            for (j, m) in members.iter_mut().enumerate() {
                if g[gc * n_groups + j] == 1.0 {
                    m.push(c);
                }
            }
        }
    }
    let v = p.floats();
    let (mut sum, mut count) = (vec![0.0f64; v.len()], vec![0u32; v.len()]);
    let mut in_some = vec![false; p.columns.len()];
    let (mut row, mut out) = (Vec::new(), Vec::new());
    for m in members.iter().filter(|m| !m.is_empty()) {
        for &c in m {
            in_some[c] = true;
        }
        row.resize(m.len(), 0.0);
        out.resize(m.len(), 0.0);
        for r in 0..rows {
            for (k, &c) in m.iter().enumerate() {
                row[k] = v[c * rows + r];
            }
            kernels::rank_row(&row, "average", true, true, &mut out);
            for (k, &c) in m.iter().enumerate() {
                if !out[k].is_nan() {
                    sum[c * rows + r] += out[k];
                    count[c * rows + r] += 1;
                }
            }
        }
    }
    let mut keep: Vec<usize> = (0..p.columns.len()).filter(|&c| in_some[c]).collect();
    keep.sort_by(|a, b| p.columns[*a].cmp(&p.columns[*b]));
    let mut cells = Vec::with_capacity(keep.len() * rows);
    for &c in &keep {
        cells.extend((0..rows).map(|r| {
            let n = count[c * rows + r];
            if n == 0 {
                f64::NAN
            } else {
                sum[c * rows + r] / f64::from(n)
            }
        }));
    }
    let columns = keep.iter().map(|&c| p.columns[c].clone()).collect();
    Panel::float(p.dates.clone(), Rc::new(columns), cells)
}

/// [`select_per_row`] for small `n`, reading the panel column by column (no transpose): each row
/// keeps its best `n` so far, sorted best first; a later column enters only when strictly
/// better, which gives ties to the earlier column.
fn select_per_row_small(p: &Panel, n: usize, largest: bool) -> Vec<bool> {
    if largest {
        select_small::<true>(p, n)
    } else {
        select_small::<false>(p, n)
    }
}

fn select_small<const LARGEST: bool>(p: &Panel, n: usize) -> Vec<bool> {
    let rows = p.rows();
    let k = p.columns.len();
    let v = p.floats();
    // Compare as "larger is better" by negating for is_smallest (-0.0 and 0.0 still tie).
    let key = |x: f64| if LARGEST { x } else { -x };
    let mut best: Vec<Vec<(f64, usize)>> = vec![Vec::with_capacity(n + 1); rows];
    // Row r's entry bar: the key of its n-th best once it has n (NaN before, which lets every
    // value in), kept in one flat array so most cells are rejected by one compare.
    let mut bar = vec![f64::NAN; rows];
    // Per column, first a lean branch-free pass that lists the rows where the cell can enter
    // (a valid value above the row's bar; after the first columns, few), then the entries.
    // Rows are independent, so this is the cell-by-cell order's result.
    let mut pending = vec![0u32; rows];
    for c in 0..k {
        let col = &v[c * rows..(c + 1) * rows];
        let mut np = 0usize;
        for (r, (x, bar)) in col.iter().zip(bar.iter()).enumerate() {
            let stays_out = x.is_nan() | (*bar >= key(*x));
            // Before row r at most r rows were listed, so `np` ≤ r < rows here.
            pending[np] = r as u32;
            np += usize::from(!stays_out);
        }
        for &r in &pending[..np] {
            let r = r as usize;
            let kx = key(col[r]);
            let b = &mut best[r];
            let at = b.partition_point(|(kb, _)| *kb >= kx);
            b.insert(at, (kx, c));
            b.truncate(n);
            if b.len() == n {
                bar[r] = b[n - 1].0;
            }
        }
    }
    let mut out = vec![false; rows * k];
    for (r, b) in best.iter().enumerate() {
        for (_, c) in b {
            out[c * rows + r] = true;
        }
    }
    out
}

/// Per row, marks the `n` largest (or smallest) valid values; ties go to the earlier column
/// (finlab `is_largest`, a stable sort, §5.3). Rows with ≤ n valid values mark all of them.
fn select_per_row(p: &Panel, n: usize, largest: bool) -> Vec<bool> {
    if n <= 64 {
        return select_per_row_small(p, n, largest);
    }
    let rows = p.rows();
    let k = p.columns.len();
    let by_row = p.row_major();
    let mut out = vec![false; rows * k];
    let mut valid: Vec<usize> = Vec::with_capacity(k);
    for r in 0..rows {
        select_row(&by_row[r * k..(r + 1) * k], n, largest, &mut valid);
        for &c in &valid {
            out[c * rows + r] = true;
        }
    }
    out
}

/// The columns of the `n` largest (or smallest) valid values of `row` into `valid`; ties go to
/// the earlier column; all valid ones when there are at most `n`.
fn select_row(row: &[f64], n: usize, largest: bool, valid: &mut Vec<usize>) {
    valid.clear();
    if n == 0 {
        return;
    }
    valid.extend((0..row.len()).filter(|&c| !row[c].is_nan()));
    if valid.len() > n {
        let order = |x: &usize, y: &usize| {
            let (a, b) = (row[*x], row[*y]);
            // -0.0 and 0.0 tie, as in pandas.
            let by_value = if largest {
                b.partial_cmp(&a)
            } else {
                a.partial_cmp(&b)
            };
            by_value.unwrap_or(std::cmp::Ordering::Equal).then(x.cmp(y))
        };
        valid.select_nth_unstable_by(n - 1, order);
        valid.truncate(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_selection_matches_a_stable_sort_of_each_row() {
        let (rows, k) = (43, 30);
        let mut seed = 11u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        // Few distinct values (many ties), NaN, ±0 and ±∞.
        let pool = [
            f64::NAN,
            -0.0,
            0.0,
            1.0,
            2.0,
            2.0,
            -1.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let values: Vec<f64> = (0..rows * k)
            .map(|_| pool[next(pool.len() as u64) as usize])
            .collect();
        let grid = Panel::float(
            Rc::new((0..rows as i32).collect()),
            Rc::new((0..k).map(|c| c.to_string()).collect()),
            values.clone(),
        );
        for n in [1, 2, 5, 29, 30, 31] {
            for largest in [true, false] {
                let got = select_per_row_small(&grid, n, largest);
                for r in 0..rows {
                    let mut valid: Vec<usize> =
                        (0..k).filter(|c| !values[c * rows + r].is_nan()).collect();
                    let key = |c: &usize| {
                        let x = values[c * rows + r];
                        if largest {
                            -x
                        } else {
                            x
                        }
                    };
                    valid.sort_by(|a, b| key(a).partial_cmp(&key(b)).unwrap());
                    valid.truncate(n);
                    for c in 0..k {
                        assert_eq!(
                            got[c * rows + r],
                            valid.contains(&c),
                            "n {n} row {r} col {c}"
                        );
                    }
                }
            }
        }
    }
}
