//! A fused chain on the read rows only (see [`crate::eval::restrict`]): each column's cells
//! gathered there, for the steps to run on as a short column.

use super::{Block, Chain, Column, Leaf, Op};

/// A column's cells on the read rows only — each leaf, each shifted leaf (as a leaf of its own)
/// and each rolling statistic gathered there — for the steps to run on as a short column.
/// Every cell goes through the same operations, so the read rows get the same bits.
pub(super) struct Compact {
    /// The chain's leaves, then one per shift step.
    leaves: Vec<Gathered>,
    pub(super) rolled: Vec<Vec<f64>>,
    /// Per step: a shift's own leaf, read in place (shifted already).
    views: Vec<Option<(usize, usize)>>,
}

/// Where one leaf's cells of a column are: rows `rows` of the column starting at `base`.
#[derive(Clone, Copy)]
pub(super) struct LeafAt<'r> {
    pub(super) base: usize,
    pub(super) rows: &'r [usize],
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
        Compact {
            leaves,
            rolled: vec![Vec::new(); chain.rolled.len()],
            views,
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
        for ((g, l), at) in self.leaves.iter_mut().zip(cells).zip(at) {
            let base = at.base;
            match (g, l) {
                (Gathered::Float(v), Leaf::Float(x)) => {
                    refill(v, at.rows.iter().map(|&r| x[base + r]))
                }
                (Gathered::Bool(v), Leaf::Bool(x)) => {
                    refill(v, at.rows.iter().map(|&r| x[base + r]))
                }
                _ => {}
            }
        }
        let shifts = chain.ops.iter().filter_map(|op| match op {
            Op::Shift(l, n) => Some((*l, *n)),
            _ => None,
        });
        for (g, (l, n)) in self.leaves[cells.len()..].iter_mut().zip(shifts) {
            let LeafAt { base, rows } = at[l];
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
                refill(g, at[r.1].rows.iter().map(|&r| col[r]));
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
