//! A fused chain on the read rows only (see [`crate::eval::restrict`]): each column's cells
//! gathered there, for the steps to run on as a short column.

use super::{Chain, Column, Leaf, Op};

/// A column's cells on the read rows only — each leaf, each shifted leaf (as a leaf of its own)
/// and each rolling statistic gathered there — for the steps to run on as a short column.
/// Every cell goes through the same operations, so the read rows get the same bits.
pub(super) struct Compact {
    /// The chain's leaves, then one per shift step.
    leaves: Vec<Gathered>,
    pub(super) rolled: Vec<Vec<f64>>,
    /// Per step: a shift's own leaf, read in place (shifted already).
    pub(super) views: Vec<Option<(usize, usize)>>,
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

    /// Gathers `col`'s cells at rows `read`.
    pub(super) fn gather(&mut self, chain: &Chain, col: &Column, read: &[usize]) {
        let base = col.base;
        for (g, l) in self.leaves.iter_mut().zip(col.cells) {
            match (g, l) {
                (Gathered::Float(v), Leaf::Float(x)) => {
                    refill(v, read.iter().map(|&r| x[base + r]))
                }
                (Gathered::Bool(v), Leaf::Bool(x)) => refill(v, read.iter().map(|&r| x[base + r])),
                _ => {}
            }
        }
        let shifts = chain.ops.iter().filter_map(|op| match op {
            Op::Shift(l, n) => Some((*l, *n)),
            _ => None,
        });
        for (g, (l, n)) in self.leaves[col.cells.len()..].iter_mut().zip(shifts) {
            let at = |r: usize| r.checked_sub(n).map(|r| base + r);
            match (g, &col.cells[l]) {
                (Gathered::Float(v), Leaf::Float(x)) => {
                    refill(v, read.iter().map(|&r| at(r).map_or(f64::NAN, |i| x[i])))
                }
                (Gathered::Bool(v), Leaf::Bool(x)) => {
                    refill(v, read.iter().map(|&r| at(r).is_some_and(|i| x[i])))
                }
                _ => {}
            }
        }
        for (g, buf) in self.rolled.iter_mut().zip(col.rolled) {
            refill(g, read.iter().map(|&r| buf[col.local + r]));
        }
    }

    /// The gathered leaves, as the steps read them.
    pub(super) fn leaves(&self) -> Vec<Leaf<'_>> {
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
