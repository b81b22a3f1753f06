//! A fused chain on the read rows only (see [`crate::eval::restrict`]): each column's cells
//! gathered there, for the steps to run on as a short column.

use super::{Block, Chain, Column, Leaf, Op, Src};

/// A column's cells on the read rows only — each leaf, each shifted leaf (as a leaf of its own)
/// and each rolling statistic gathered there — for the steps to run on as a short column.
/// Every cell goes through the same operations, so the read rows get the same bits.
pub(super) struct Compact {
    /// The chain's leaves, then one per shift step.
    leaves: Vec<Gathered>,
    pub(super) rolled: Vec<Vec<f64>>,
    /// Per step: a shift's own leaf, read in place (shifted already).
    views: Vec<Option<(usize, usize)>>,
    /// Per leaf of the chain: whether a step reads it (a leaf read only through its rolling
    /// statistics or its shifts is not gathered).
    read: Vec<bool>,
}

/// Where one leaf's cells of a column are: rows `rows` of the column starting at `base`.
#[derive(Clone, Copy)]
pub(super) struct LeafAt<'r> {
    pub(super) base: usize,
    pub(super) rows: &'r [usize],
    /// `rows[0]` when `rows` are consecutive (`rows[i] == rows[0] + i`): one copy of a slice.
    pub(super) run: Option<usize>,
}

/// `rows[0]` when `rows` are consecutive (see [`LeafAt::run`]).
pub(super) fn run_start(rows: &[usize]) -> Option<usize> {
    let first = *rows.first()?;
    (rows.iter().enumerate())
        .all(|(i, &r)| r == first + i)
        .then_some(first)
}

/// The cells of `x` at `at` (a slice copy when its rows are consecutive).
fn refill_at<T: Copy>(v: &mut Vec<T>, x: &[T], at: &LeafAt) {
    match at.run {
        Some(first) => {
            v.clear();
            let start = at.base + first;
            v.extend_from_slice(&x[start..start + at.rows.len()]);
        }
        None => refill(v, at.rows.iter().map(|&r| x[at.base + r])),
    }
}

enum Gathered {
    Scalar(f64),
    Float(Vec<f64>),
    Bool(Vec<bool>),
}

impl Compact {
    pub(super) fn new(chain: &Chain, cells: &[Leaf]) -> Compact {
        let empty = |l: &Leaf| match l {
            Leaf::Scalar(x) => Gathered::Scalar(*x),
            Leaf::Float(_) => Gathered::Float(Vec::new()),
            Leaf::Bool(_) => Gathered::Bool(Vec::new()),
        };
        let mut leaves: Vec<Gathered> = cells.iter().map(empty).collect();
        let mut views = Vec::with_capacity(chain.ops.len());
        for op in &chain.ops {
            views.push(match op {
                Op::Shift(l, _) => {
                    leaves.push(empty(&cells[*l]));
                    Some((leaves.len() - 1, 0))
                }
                _ => None,
            });
        }
        let mut read = vec![false; cells.len()];
        for op in &chain.ops {
            let (a, b) = match *op {
                Op::Binary(_, a, b) | Op::Mask(a, b) => (a, Some(b)),
                Op::Neg(a) | Op::Not(a) => (a, None),
                Op::Shift(..) => continue,
            };
            for src in [Some(a), b].into_iter().flatten() {
                if let Src::Leaf(l) = src {
                    read[l] = true;
                }
            }
        }
        Compact {
            leaves,
            rolled: vec![Vec::new(); chain.rolled.len()],
            views,
            read,
        }
    }

    /// Gathers `col`'s cells at rows `read` (not the rolling statistics `found` elsewhere).
    pub(super) fn gather(
        &mut self,
        chain: &Chain,
        col: &Column,
        read: &[usize],
        found: impl Fn(usize) -> bool,
    ) {
        let at: Vec<LeafAt> = (0..col.cells.len())
            .map(|_| LeafAt {
                base: col.base,
                rows: read,
                run: None,
            })
            .collect();
        let rolled: Vec<Option<&[f64]>> = (col.rolled.iter().enumerate())
            .map(|(k, buf)| (!found(k)).then(|| &buf[col.local..col.local + col.len]))
            .collect();
        self.gather_at(chain, col.cells, &at, &rolled);
    }

    /// Gathers one column's cells: leaf `l` (and a shift of it, on its own rows) at rows
    /// `at[l].rows` of its column starting at `at[l].base`; rolling statistic `k`, whose
    /// column is `rolled[k]` (`None`: found elsewhere, not gathered), at the rows of the leaf
    /// it rolls.
    pub(super) fn gather_at(
        &mut self,
        chain: &Chain,
        cells: &[Leaf],
        at: &[LeafAt],
        rolled: &[Option<&[f64]>],
    ) {
        let leaves = (self.leaves.iter_mut().zip(cells).zip(at)).zip(&self.read);
        for (((g, l), at), _) in leaves.filter(|(_, read)| **read) {
            match (g, l) {
                (Gathered::Float(v), Leaf::Float(x)) => refill_at(v, x, at),
                (Gathered::Bool(v), Leaf::Bool(x)) => refill_at(v, x, at),
                _ => {}
            }
        }
        let shifts = chain.ops.iter().filter_map(|op| match op {
            Op::Shift(l, n) => Some((*l, *n)),
            _ => None,
        });
        for (g, (l, n)) in self.leaves[cells.len()..].iter_mut().zip(shifts) {
            let LeafAt { base, rows, .. } = at[l];
            let from = |r: usize| r.checked_sub(n).map(|r| base + r);
            match (g, &cells[l]) {
                (Gathered::Float(v), Leaf::Float(x)) => {
                    refill(v, rows.iter().map(|&r| from(r).map_or(f64::NAN, |i| x[i])))
                }
                (Gathered::Bool(v), Leaf::Bool(x)) => {
                    refill(v, rows.iter().map(|&r| from(r).is_some_and(|i| x[i])))
                }
                _ => {}
            }
        }
        for ((g, col), r) in self.rolled.iter_mut().zip(rolled).zip(&chain.rolled) {
            if let Some(col) = col {
                let at = LeafAt { base: 0, ..at[r.1] };
                refill_at(g, col, &at);
            }
        }
    }

    /// Runs the chain's steps on the gathered column (`len` cells), as
    /// [`Chain::run_column`] does on a whole one.
    pub(super) fn run(
        &self,
        chain: &Chain,
        len: usize,
        blocks: &mut [Block],
        widened: &mut [Vec<f64>; 2],
        emit: &mut dyn FnMut(&Block) -> Option<()>,
    ) -> Option<()> {
        let leaves = self.leaves();
        let short = Column {
            cells: &leaves,
            views: &self.views,
            rolled: &self.rolled,
            local: 0,
            base: 0,
            len,
        };
        chain.run_column(&short, blocks, widened, emit)
    }

    /// The gathered leaves, as the steps read them.
    fn leaves(&self) -> Vec<Leaf<'_>> {
        self.leaves
            .iter()
            .map(|g| match g {
                Gathered::Scalar(x) => Leaf::Scalar(*x),
                Gathered::Float(v) => Leaf::Float(v),
                Gathered::Bool(v) => Leaf::Bool(v),
            })
            .collect()
    }
}

fn refill<T>(v: &mut Vec<T>, cells: impl Iterator<Item = T>) {
    v.clear();
    v.extend(cells);
}

#[cfg(test)]
mod tests {
    use super::{refill_at, run_start, LeafAt};

    #[test]
    fn consecutive_rows_are_copied_as_one_slice_and_others_gathered() {
        assert_eq!(run_start(&[3, 4, 5]), Some(3));
        assert_eq!(run_start(&[7]), Some(7));
        // Repeats (a monthly leaf read on daily rows) and gaps are not a run.
        for rows in [&[0, 0, 2][..], &[1, 2, 2], &[2, 4, 5], &[]] {
            assert_eq!(run_start(rows), None, "{rows:?}");
        }
        let x: Vec<f64> = (0..20).map(f64::from).collect();
        let mut v = vec![99.0];
        for rows in [&[2, 3, 4][..], &[2, 2, 5]] {
            let at = LeafAt {
                base: 10,
                rows,
                run: run_start(rows),
            };
            refill_at(&mut v, &x, &at);
            let want: Vec<f64> = rows.iter().map(|&r| x[10 + r]).collect();
            assert_eq!(v, want);
        }
    }
}
