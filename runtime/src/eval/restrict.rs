//! The read-row restriction (see [`Plan::read_at`]): under a calendar `resample`, `sim()` reads
//! the position on a few rows only, so a costly cross-sectional node (`rank`, `is_largest`,
//! `is_smallest`) whose every path to the output is row-wise is computed on those rows alone,
//! and so is a fused chain that only such nodes read.

use std::rc::Rc;

use super::args::ReadAt;
use super::Value;
use crate::ops::OpId;
use crate::panel::{Cells, Panel};
use crate::plan::{Node, Plan};

/// Which cross-sectional nodes are computed on the read rows only (see [`Plan::read_at`]).
pub(super) struct Restriction<'p> {
    read_at: &'p [i32],
    /// Node `i` is computed on the read rows only.
    pub(super) restricted: Vec<bool>,
    /// Node `i` is restricted or reads one on its way to the output.
    on_path: Vec<bool>,
    /// The dates of each on-path value evaluated so far.
    dates: Vec<Option<Rc<Vec<i32>>>>,
    /// An on-path value missed a date of a value it reads (see [`Restriction::note`]):
    /// evaluate every row instead.
    pub(super) broken: bool,
    /// For a fused chain computed on the read rows alone: the grid it has those rows of.
    compact_of: Vec<Option<Rc<Vec<i32>>>>,
}

/// Operators that compute each row from that row alone.
fn row_wise(node: &Node) -> bool {
    elementwise(node) || cross_sectional(node)
}

/// `-x`, `~x`, `x[cond]` and the binary operators.
fn elementwise(node: &Node) -> bool {
    matches!(
        node,
        Node::Binary { .. } | Node::Neg { .. } | Node::Not { .. } | Node::Mask { .. }
    )
}

/// Whether `node` reads `i` once, as its receiver.
fn receiver_only(node: &Node, i: usize) -> bool {
    matches!(node, Node::Call { recv: Some(r), .. } if *r == i)
        && node.operands().iter().filter(|&&o| o == i).count() == 1
}

/// `rank`, `is_largest` and `is_smallest` of a receiver: a row's result depends on every cell
/// of the row, which is what makes them costly.
fn cross_sectional(node: &Node) -> bool {
    matches!(node, Node::Call { op, recv: Some(_), prices, .. }
        if prices.is_empty() && matches!(op, OpId::Rank | OpId::IsLargest | OpId::IsSmallest))
}

impl<'p> Restriction<'p> {
    /// The restriction of `plan` to `read_at`, or `None` when no node can be restricted: a
    /// cross-sectional node whose every path to the output is row-wise.
    pub(super) fn new(plan: &Plan, read_at: &'p [i32]) -> Option<Restriction<'p>> {
        let n = plan.nodes.len();
        let readers = plan.readers();
        // Every path from the node to the output goes through row-wise operators only.
        let mut to_out = vec![false; n];
        for i in (0..n).rev() {
            to_out[i] = i == plan.output
                || (!readers[i].is_empty()
                    && readers[i]
                        .iter()
                        .all(|&r| row_wise(&plan.nodes[r]) && to_out[r]));
        }
        let mut restricted: Vec<bool> = (0..n)
            .map(|i| to_out[i] && cross_sectional(&plan.nodes[i]))
            .collect();
        if !restricted.contains(&true) {
            return None;
        }
        // An element-wise value read only as the receiver of restricted nodes is read on the
        // read rows only, so a fused chain computes it there alone (node by node it is still
        // computed whole; either way those rows hold the same cells).
        for i in 0..n {
            restricted[i] |= i != plan.output
                && elementwise(&plan.nodes[i])
                && !readers[i].is_empty()
                && readers[i]
                    .iter()
                    .all(|&r| restricted[r] && receiver_only(&plan.nodes[r], i));
        }
        let mut on_path = restricted.clone();
        for (i, node) in plan.nodes.iter().enumerate() {
            on_path[i] |= to_out[i] && node.operands().iter().any(|&o| on_path[o]);
        }
        Some(Restriction {
            read_at,
            restricted,
            on_path,
            dates: vec![None; n],
            broken: false,
            compact_of: vec![None; n],
        })
    }

    /// Which nodes are computed on which dates only (part of their reuse keys).
    pub(super) fn marks(&self) -> (&[bool], &'p [i32]) {
        (&self.restricted, self.read_at)
    }

    /// The dates to restrict node `i` to, if it is restricted.
    pub(super) fn read_at_for(&self, i: usize) -> Option<&'p [i32]> {
        self.restricted[i].then_some(self.read_at)
    }

    /// The rows restricted call `i` computes, and whether its receiver has those rows only.
    pub(super) fn call_rows(&self, plan: &Plan, i: usize) -> Option<ReadAt<'_>> {
        let dates = self.read_at_for(i)?;
        let recv = match &plan.nodes[i] {
            Node::Call { recv: Some(r), .. } => Some(*r),
            _ => None,
        };
        Some(ReadAt {
            dates,
            compact_of: recv.and_then(|r| self.compact_of[r].as_ref()),
        })
    }

    /// Records that node `i`'s value has only the read rows of the grid `full`.
    pub(super) fn compacted(&mut self, i: usize, full: Rc<Vec<i32>>) {
        self.compact_of[i] = Some(full);
    }

    /// Whether node `i`'s value has only the read rows (so it is not kept for reuse: a value
    /// read from the store carries no grid to go back on).
    pub(super) fn is_compact(&self, i: usize) -> bool {
        self.compact_of[i].is_some()
    }

    /// Checks node `i`'s value. The output's row read at date `d` reads a restricted node at
    /// its latest row on or before `d` — the row it computed — when every on-path value has
    /// every date (from its own first date on) of the on-path values it reads: row-wise
    /// operators align by the union of dates with a forward fill (or keep the grid), so they
    /// do; anything else falls back to every row.
    pub(super) fn note(&mut self, plan: &Plan, i: usize, v: &Value) {
        if !self.on_path[i] {
            return;
        }
        let Value::Panel(p) = v else {
            self.broken = true;
            return;
        };
        // A fused chain computed on the read rows alone stands for its whole grid there.
        let dates = self.compact_of[i]
            .clone()
            .unwrap_or_else(|| p.dates.clone());
        let mut read = Vec::new();
        self.read_dates(plan, i, &mut read);
        self.broken |= read.iter().any(|d| !covers(&dates, d));
        self.dates[i] = Some(dates);
    }

    /// The dates of the on-path values node `i` reads (through nodes inlined into a fused
    /// chain, which has one grid).
    fn read_dates(&self, plan: &Plan, i: usize, out: &mut Vec<Rc<Vec<i32>>>) {
        for o in plan.nodes[i].operands() {
            if o >= i || !self.on_path[o] {
                continue;
            }
            match &self.dates[o] {
                Some(d) => out.push(d.clone()),
                None => self.read_dates(plan, o, out),
            }
        }
    }

    /// `p` with the rows that are not read cleared (NaN, or False).
    pub(super) fn clear_unread(&self, mut p: Panel) -> Panel {
        let rows = p.rows();
        let mut keep = vec![false; rows];
        for r in read_rows(&p.dates, self.read_at) {
            keep[r] = true;
        }
        match &mut p.cells {
            Cells::Float(v) => clear_rows(Rc::make_mut(v).as_mut_slice(), &keep, f64::NAN),
            Cells::Bool(v) => clear_rows(Rc::make_mut(v).as_mut_slice(), &keep, false),
        }
        p
    }
}

/// Whether `dates` holds every date of `of` from its own first date on (both sorted).
fn covers(dates: &Rc<Vec<i32>>, of: &Rc<Vec<i32>>) -> bool {
    if Rc::ptr_eq(dates, of) || dates == of {
        return true;
    }
    let Some(&first) = dates.first() else {
        return true;
    };
    let from = of.partition_point(|&d| d < first);
    let mut at = 0;
    of[from..].iter().all(|d| {
        at += dates[at..].partition_point(|x| x < d);
        dates.get(at) == Some(d)
    })
}

/// Sets the cells of every row not kept, column by column.
fn clear_rows<T: Copy>(v: &mut [T], keep: &[bool], empty: T) {
    if keep.is_empty() {
        return;
    }
    for col in v.chunks_exact_mut(keep.len()) {
        for (x, k) in col.iter_mut().zip(keep) {
            if !k {
                *x = empty;
            }
        }
    }
}

/// The rows of a panel dated `dates` that are read at `read_at` (sorted): for each, the latest
/// row on or before it; sorted and distinct.
pub fn read_rows(dates: &[i32], read_at: &[i32]) -> Vec<usize> {
    let mut rows: Vec<usize> = read_at
        .iter()
        .filter_map(|d| dates.partition_point(|x| x <= d).checked_sub(1))
        .collect();
    rows.dedup();
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::tests::plan;
    use crate::plan::{Arg, BinOp};

    #[test]
    fn a_restriction_breaks_when_a_value_misses_a_date_it_reads() {
        // is_largest(Load 0) & Load 1: both on the path to the output, only is_largest
        // restricted.
        let p = plan(
            2,
            vec![
                Node::Load { input: 0 },
                Node::Call {
                    op: OpId::IsLargest,
                    recv: Some(0),
                    args: vec![Arg::Int(1)],
                    prices: vec![],
                    out: 0,
                },
                Node::Load { input: 1 },
                Node::Binary {
                    op: BinOp::And,
                    lhs: 1,
                    rhs: 2,
                },
            ],
        );
        let read_at = [2, 4];
        let on = |dates: Vec<i32>| {
            Value::Panel(Panel::float(
                Rc::new(dates),
                Rc::new(vec!["a".to_string()]),
                vec![0.0],
            ))
        };
        let check = |output_dates: Vec<i32>| {
            let mut r = Restriction::new(&p, &read_at).unwrap();
            assert_eq!(r.restricted, vec![false, true, false, false]);
            r.note(&p, 0, &on(vec![1, 2, 3, 4]));
            r.note(&p, 1, &on(vec![1, 2, 3, 4]));
            r.note(&p, 3, &on(output_dates));
            r.broken
        };
        // The union of dates, or the same dates from a later first date: the forward fill reads
        // the rows the restricted node computed.
        assert!(!check(vec![1, 2, 3, 4]));
        assert!(!check(vec![0, 1, 2, 2, 3, 4, 5]));
        assert!(!check(vec![3, 4]));
        // A date of the restricted node missing from its reader: evaluate every row.
        assert!(check(vec![1, 2, 4]));
        assert!(covers(&Rc::new(vec![2, 3, 5, 8]), &Rc::new(vec![1, 3, 8])));
        assert!(!covers(&Rc::new(vec![2, 3, 5, 8]), &Rc::new(vec![1, 4, 8])));
        assert_eq!(
            read_rows(&[1, 3, 5, 9], &[0, 3, 4, 6, 8, 20]),
            vec![1, 2, 3]
        );
    }
}
