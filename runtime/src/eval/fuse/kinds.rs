//! What a fused chain's leaves and steps are, cell-wise, as the node-by-node evaluation types
//! them.

use super::{Kind, Op, Src};
use crate::eval::Value;
use crate::panel::{Cells, Panel};

/// The leaves' panels (`None` for a number) and kinds; `None` when a leaf is a Series.
pub(super) fn leaf_values<'v>(
    leaves: &[usize],
    values: &'v [Option<Value>],
) -> Option<(Vec<Option<&'v Panel>>, Vec<Kind>)> {
    leaves
        .iter()
        .map(|&l| match values.get(l)?.as_ref()? {
            Value::Scalar(s) => Some((None, Kind::Scalar(*s))),
            Value::Panel(p) => Some((
                Some(p),
                match p.cells {
                    Cells::Float(_) => Kind::Float,
                    Cells::Bool(_) => Kind::Bool,
                },
            )),
            Value::Series(..) => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(|v| v.into_iter().unzip())
}

/// The leaves' kinds, and the grid they share; `None` when a leaf is a Series or panels
/// differ in grid (which needs finlab's alignment).
pub(super) fn leaf_kinds<'v>(
    leaves: &[usize],
    values: &'v [Option<Value>],
) -> Option<(&'v Panel, Vec<Kind>)> {
    let (panels, kinds) = leaf_values(leaves, values)?;
    let mut grids = panels.into_iter().flatten();
    let grid = grids.next()?;
    grids
        .all(|p| p.dates == grid.dates && p.columns == grid.columns)
        .then_some((grid, kinds))
}

/// Each step's kind, as the node-by-node evaluation types it; `None`: not fused (a type error
/// the node-by-node evaluation reports, or a result that is a number).
pub(super) fn step_kinds(ops: &[Op], leaf_kinds: &[Kind]) -> Option<Vec<Kind>> {
    let mut kinds: Vec<Kind> = Vec::with_capacity(ops.len());
    for op in ops {
        let kind_of = |s: Src| match s {
            Src::Leaf(l) => leaf_kinds[l],
            Src::Step(k) => kinds[k],
            Src::Rolled(_) => Kind::Float,
        };
        let panel = |k: Kind| !matches!(k, Kind::Scalar(_));
        let kind = match *op {
            Op::Binary(op, a, b) => {
                let (a, b) = (kind_of(a), kind_of(b));
                if !panel(a) && !panel(b) {
                    return None;
                }
                if op.is_logical() {
                    if a != Kind::Bool || b != Kind::Bool {
                        return None;
                    }
                    Kind::Bool
                } else if op.is_comparison() {
                    Kind::Bool
                } else {
                    Kind::Float
                }
            }
            Op::Neg(a) => match kind_of(a) {
                Kind::Scalar(s) => Kind::Scalar(-s),
                _ => Kind::Float,
            },
            Op::Not(a) => {
                if kind_of(a) != Kind::Bool {
                    return None;
                }
                Kind::Bool
            }
            Op::Mask(v, c) => {
                if kind_of(c) != Kind::Bool || !panel(kind_of(v)) {
                    return None;
                }
                kind_of(v)
            }
            Op::Shift(l, _) => match leaf_kinds[l] {
                Kind::Scalar(_) => return None,
                k => k,
            },
        };
        kinds.push(kind);
    }
    Some(kinds)
}
