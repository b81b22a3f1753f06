//! The evaluator's panel: dates × stocks stored densely, column-major, as the wire format is —
//! floats with NaN for a missing value (so pandas' NaN rules fall out of IEEE arithmetic:
//! NaN propagates, compares False, and `!=` is True) and bools without a missing state (finlab
//! reads a missing condition as False). Also finlab's two alignments (`docs/semantics.md` §5.1)
//! and pandas' outer alignment.

use std::collections::HashMap;
use std::rc::Rc;

/// Cell storage, column-major (`cells[c * rows + r]`).
#[derive(Clone, Debug)]
pub enum Cells {
    Float(Rc<Vec<f64>>),
    Bool(Rc<Vec<bool>>),
}

/// A date-indexed panel.
#[derive(Clone, Debug)]
pub struct Panel {
    pub dates: Rc<Vec<i32>>,
    pub columns: Rc<Vec<String>>,
    pub cells: Cells,
}

impl Panel {
    /// A float panel on the given grid.
    pub fn float(dates: Rc<Vec<i32>>, columns: Rc<Vec<String>>, values: Vec<f64>) -> Panel {
        Panel {
            dates,
            columns,
            cells: Cells::Float(Rc::new(values)),
        }
    }

    /// A bool panel on the given grid.
    pub fn boolean(dates: Rc<Vec<i32>>, columns: Rc<Vec<String>>, values: Vec<bool>) -> Panel {
        Panel {
            dates,
            columns,
            cells: Cells::Bool(Rc::new(values)),
        }
    }

    /// A float panel on this panel's grid.
    pub fn with_floats(&self, values: Vec<f64>) -> Panel {
        Panel::float(self.dates.clone(), self.columns.clone(), values)
    }

    /// A bool panel on this panel's grid.
    pub fn with_bools(&self, values: Vec<bool>) -> Panel {
        Panel::boolean(self.dates.clone(), self.columns.clone(), values)
    }

    pub fn rows(&self) -> usize {
        self.dates.len()
    }

    pub fn is_bool(&self) -> bool {
        matches!(self.cells, Cells::Bool(_))
    }

    /// The cells as floats (bools read as 0/1, as pandas does in arithmetic).
    pub fn floats(&self) -> Rc<Vec<f64>> {
        match &self.cells {
            Cells::Float(v) => v.clone(),
            Cells::Bool(b) => Rc::new(crate::cells::map(b, crate::cells::one)),
        }
    }

    /// The cells as bools (a float is True when present and non-zero).
    pub fn bools(&self) -> Rc<Vec<bool>> {
        match &self.cells {
            Cells::Bool(b) => b.clone(),
            Cells::Float(v) => Rc::new(v.iter().map(|x| !x.is_nan() && *x != 0.0).collect()),
        }
    }

    /// Applies `f` to every column (as a float slice), concatenating the outputs.
    pub fn map_columns(&self, f: impl Fn(&[f64]) -> Vec<f64>) -> Panel {
        let v = self.floats();
        let n = self.rows();
        let mut out = Vec::with_capacity(v.len());
        for c in 0..self.columns.len() {
            out.extend(f(&v[c * n..(c + 1) * n]));
        }
        self.with_floats(out)
    }

    /// A float panel of the same shape computed by `f` from the whole column-major value array:
    /// `f(values, rows, out)` writes every cell of `out`.
    pub fn map_panel(&self, f: impl FnOnce(&[f64], usize, &mut [f64])) -> Panel {
        let v = self.floats();
        // Zeros, not NaN: a zeroed allocation is a bulk fill (or fresh memory), and `f` writes
        // every cell anyway.
        let mut out = vec![0.0; v.len()];
        f(&v, self.rows(), &mut out);
        self.with_floats(out)
    }

    /// Applies `f` to every row; `f` reads the row's values and writes the row's outputs (NaN
    /// where it writes nothing). The
    /// panel is transposed to rows once (in cache-sized tiles) and back, rather than gathering
    /// each row with a stride of a whole column.
    pub fn map_rows(&self, mut f: impl FnMut(&[f64], &mut [f64])) -> Panel {
        let (n, k) = (self.rows(), self.columns.len());
        let rows = self.row_major();
        // Each row through a buffer `f` writes, appended: no NaN fill of the whole panel first.
        let mut res = Vec::with_capacity(rows.len());
        let mut out = vec![f64::NAN; k];
        if k > 0 {
            for row in rows.chunks_exact(k) {
                out.fill(f64::NAN);
                f(row, &mut out);
                res.extend_from_slice(&out);
            }
        }
        self.with_floats(transpose(&res, k, n))
    }

    /// The panel of the given rows only (sorted, in range), as floats.
    pub fn take_rows(&self, read: &[usize]) -> Panel {
        let n = self.rows();
        let v = self.floats();
        let mut out = Vec::with_capacity(read.len() * self.columns.len());
        for col in v.chunks_exact(n.max(1)) {
            out.extend(read.iter().map(|&r| col[r]));
        }
        let dates = read.iter().map(|&r| self.dates[r]).collect();
        Panel::float(Rc::new(dates), self.columns.clone(), out)
    }

    /// The values row by row (`out[r * columns + c]`).
    pub fn row_major(&self) -> Vec<f64> {
        transpose(&self.floats(), self.rows(), self.columns.len())
    }
}

/// The cells of a panel of `read.len()` rows (see [`Panel::take_rows`]) put back on its rows of
/// a panel of `rows` rows; the other rows hold `empty`.
pub fn spread_rows<T: Copy>(sub: &[T], read: &[usize], rows: usize, empty: T) -> Vec<T> {
    let m = read.len();
    let k = sub.len().checked_div(m).unwrap_or(0);
    let mut out = vec![empty; rows * k];
    if m > 0 {
        for (col, dst) in sub.chunks_exact(m).zip(out.chunks_exact_mut(rows)) {
            for (x, &r) in col.iter().zip(read) {
                dst[r] = *x;
            }
        }
    }
    out
}

/// `v` holds `outer` runs of `inner` values; the result holds `inner` runs of `outer` values
/// (a column-major panel of `n` rows and `k` columns is `transpose(v, n, k)` row-major).
/// In tiles, so both sides stay in cache.
pub fn transpose(v: &[f64], inner: usize, outer: usize) -> Vec<f64> {
    let len = inner * outer;
    if len == 0 || v.len() < len {
        return vec![0.0; v.len()];
    }
    // Written into spare capacity: no zero fill of a panel that is overwritten anyway.
    let mut out: Vec<f64> = Vec::with_capacity(len);
    let spare = &mut out.spare_capacity_mut()[..len];
    // Eight source runs at a time: eight sequential read streams, and each output write is
    // eight adjacent cells (one cache line) — no tiles, few bounds checks.
    let full = outer / 8 * 8;
    for o0 in (0..full).step_by(8) {
        let runs: [&[f64]; 8] = std::array::from_fn(|k| &v[(o0 + k) * inner..(o0 + k + 1) * inner]);
        for (i, dst) in spare.chunks_exact_mut(outer).enumerate() {
            let dst = &mut dst[o0..o0 + 8];
            for k in 0..8 {
                dst[k].write(runs[k][i]);
            }
        }
    }
    for o in full..outer {
        let run = &v[o * inner..(o + 1) * inner];
        for (x, dst) in run.iter().zip(spare.chunks_exact_mut(outer)) {
            dst[o].write(*x);
        }
    }
    // SAFETY: the `inner` chunks of `outer` cells cover all `len` cells, and every cell of a
    // chunk is written above: columns `0..full` eight at a time, `full..outer` one at a time.
    unsafe { out.set_len(len) };
    out
}

/// For each target date, the last source row dated on or before it.
pub fn ffill_rows(src: &[i32], target: &[i32]) -> Vec<Option<usize>> {
    let mut j = 0usize;
    target
        .iter()
        .map(|d| {
            while j < src.len() && src[j] <= *d {
                j += 1;
            }
            j.checked_sub(1)
        })
        .collect()
}

/// A stretch of target rows: consecutive source rows (`Copy`) or one source row repeated, or
/// missing (`Fill`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Run {
    Copy { src: usize, len: usize },
    Fill { src: Option<usize>, len: usize },
}

/// `rows` as runs: an aligned daily panel is a few long copies, a forward-filled monthly one a
/// few hundred repeats, so a column is rebuilt with slice copies and fills, not cell by cell.
fn runs(rows: &[Option<usize>]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for &r in rows {
        match (out.last_mut(), r) {
            (Some(Run::Copy { src, len }), Some(x)) if x == *src + *len => *len += 1,
            (Some(Run::Copy { src, len: 1 }), Some(x)) if x == *src => {
                let src = *src;
                *out.last_mut().expect("a last run") = Run::Fill {
                    src: Some(src),
                    len: 2,
                };
            }
            (Some(Run::Fill { src, len }), r) if *src == r => *len += 1,
            (_, Some(x)) => out.push(Run::Copy { src: x, len: 1 }),
            (_, None) => out.push(Run::Fill { src: None, len: 1 }),
        }
    }
    out
}

/// One column rebuilt along `runs` from `col` (`missing` where there is no source row).
fn gather_column<T: Copy>(col: &[T], runs: &[Run], missing: T, out: &mut Vec<T>) {
    for run in runs {
        match *run {
            Run::Copy { src, len } => out.extend_from_slice(&col[src..src + len]),
            Run::Fill { src, len } => {
                out.extend(std::iter::repeat_n(src.map_or(missing, |s| col[s]), len))
            }
        }
    }
}

/// Rebuilds `p` on `dates` × the picked columns: row `r` takes source row `rows[r]` (missing:
/// NaN, or False for bools).
fn gather(
    p: &Panel,
    dates: &Rc<Vec<i32>>,
    columns: &Rc<Vec<String>>,
    rows: &[Option<usize>],
    pick: &[Option<usize>],
) -> Panel {
    let n = p.rows();
    let runs = runs(rows);
    let cells = match &p.cells {
        Cells::Float(v) => {
            let mut out = Vec::with_capacity(rows.len() * pick.len());
            for c in pick {
                match c {
                    Some(c) => gather_column(&v[c * n..(c + 1) * n], &runs, f64::NAN, &mut out),
                    None => out.extend(std::iter::repeat_n(f64::NAN, rows.len())),
                }
            }
            Cells::Float(Rc::new(out))
        }
        Cells::Bool(v) => {
            let mut out = Vec::with_capacity(rows.len() * pick.len());
            for c in pick {
                match c {
                    Some(c) => gather_column(&v[c * n..(c + 1) * n], &runs, false, &mut out),
                    None => out.extend(std::iter::repeat_n(false, rows.len())),
                }
            }
            Cells::Bool(Rc::new(out))
        }
    };
    Panel {
        dates: dates.clone(),
        columns: columns.clone(),
        cells,
    }
}

fn column_index(p: &Panel) -> HashMap<&str, usize> {
    p.columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect()
}

/// finlab's alignment of two date-indexed frames (`docs/semantics.md` §5.1 steps 2–3): identical
/// grids operate directly; otherwise the sorted union of dates from the later first date, the
/// intersection of columns in the left operand's order, and each side forward-filled by row onto
/// that grid.
pub fn align(a: &Panel, b: &Panel) -> (Panel, Panel) {
    if a.dates == b.dates && a.columns == b.columns {
        return (a.clone(), b.clone());
    }
    let start = match (a.dates.first(), b.dates.first()) {
        (Some(x), Some(y)) => *x.max(y),
        _ => i32::MAX,
    };
    let mut dates: Vec<i32> = a
        .dates
        .iter()
        .chain(b.dates.iter())
        .copied()
        .filter(|d| *d >= start)
        .collect();
    dates.sort_unstable();
    dates.dedup();
    let b_index = column_index(b);
    let (mut a_pick, mut b_pick, mut columns) = (Vec::new(), Vec::new(), Vec::new());
    for (i, c) in a.columns.iter().enumerate() {
        if let Some(j) = b_index.get(c.as_str()) {
            a_pick.push(Some(i));
            b_pick.push(Some(*j));
            columns.push(c.clone());
        }
    }
    let dates = Rc::new(dates);
    let columns = Rc::new(columns);
    (
        gather(a, &dates, &columns, &ffill_rows(&a.dates, &dates), &a_pick),
        gather(b, &dates, &columns, &ffill_rows(&b.dates, &dates), &b_pick),
    )
}

/// pandas' outer alignment (numpy ufuncs on two frames): the sorted union of dates and of
/// stocks, exact labels only, missing cells NaN.
pub fn outer_align(a: &Panel, b: &Panel) -> (Panel, Panel) {
    if a.dates == b.dates && a.columns == b.columns {
        return (a.clone(), b.clone());
    }
    let mut dates: Vec<i32> = a.dates.iter().chain(b.dates.iter()).copied().collect();
    dates.sort_unstable();
    dates.dedup();
    let mut columns: Vec<String> = a.columns.iter().chain(b.columns.iter()).cloned().collect();
    columns.sort();
    columns.dedup();
    let dates = Rc::new(dates);
    let columns = Rc::new(columns);
    let place = |p: &Panel| {
        let at: HashMap<i32, usize> = p.dates.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        let rows: Vec<Option<usize>> = dates.iter().map(|d| at.get(d).copied()).collect();
        let index = column_index(p);
        let pick: Vec<Option<usize>> = columns
            .iter()
            .map(|c| index.get(c.as_str()).copied())
            .collect();
        gather(p, &dates, &columns, &rows, &pick)
    };
    (place(a), place(b))
}

/// `src` placed on `p`'s grid by exact date and stock (pandas `reindex_like`): missing cells are
/// NaN, or False for a bool `src`.
pub fn exact_on(p: &Panel, src: &Panel) -> Panel {
    let at: HashMap<i32, usize> = src.dates.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let rows: Vec<Option<usize>> = p.dates.iter().map(|d| at.get(d).copied()).collect();
    let index = column_index(src);
    let pick: Vec<Option<usize>> = p
        .columns
        .iter()
        .map(|c| index.get(c.as_str()).copied())
        .collect();
    gather(src, &p.dates, &p.columns, &rows, &pick)
}

/// `cond` placed on `p`'s grid by exact date and stock (pandas `where`); missing is False.
pub fn exact_mask(p: &Panel, cond: &Panel) -> Rc<Vec<bool>> {
    let cond = Panel {
        cells: Cells::Bool(cond.bools()),
        ..cond.clone()
    };
    exact_on(p, &cond).bools()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_every_cell() {
        for (inner, outer) in [(1, 1), (3, 7), (8, 8), (13, 17), (5, 40), (0, 3)] {
            let v: Vec<f64> = (0..inner * outer).map(|i| i as f64).collect();
            let t = transpose(&v, inner, outer);
            for o in 0..outer {
                for i in 0..inner {
                    assert_eq!(t[i * outer + o], v[o * inner + i]);
                }
            }
            assert_eq!(transpose(&t, outer, inner), v);
        }
    }

    #[test]
    fn runs_rebuild_a_column_as_the_cell_by_cell_gather_does() {
        let col: Vec<f64> = (0..50).map(|i| i as f64 * 1.5).collect();
        let mut seed = 7u64;
        let mut next = |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % m
        };
        for _ in 0..500 {
            let len = next(40);
            let rows: Vec<Option<usize>> = (0..len)
                .map(|_| match next(4) {
                    0 => None,
                    _ => Some(next(50)),
                })
                .collect();
            // Sorted maps (what alignment makes) and arbitrary ones.
            let mut sorted = rows.clone();
            sorted.sort();
            for rows in [rows, sorted] {
                let mut out = Vec::new();
                gather_column(&col, &runs(&rows), f64::NAN, &mut out);
                let want: Vec<f64> = rows
                    .iter()
                    .map(|r| r.map_or(f64::NAN, |r| col[r]))
                    .collect();
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&out), bits(&want), "rows {rows:?}");
            }
        }
        let ffill = ffill_rows(&[1, 5, 9], &[0, 1, 2, 5, 6, 7, 9, 10]);
        assert_eq!(
            runs(&ffill),
            [
                Run::Fill { src: None, len: 1 },
                Run::Fill {
                    src: Some(0),
                    len: 2
                },
                Run::Fill {
                    src: Some(1),
                    len: 3
                },
                Run::Fill {
                    src: Some(2),
                    len: 2
                },
            ]
        );
    }
}
