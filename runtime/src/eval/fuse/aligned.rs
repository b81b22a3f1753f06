//! A fused chain whose leaves lie on different grids, computed on the read rows only.
//!
//! Node by node, each element-wise step aligns its two operands (`docs/semantics.md` §5.1): the
//! union of their dates from the later first date, the stocks both have in the left operand's
//! order, and each side at its latest row on or before every date. Along a chain this composes
//! into one alignment of all the leaves: the union of every leaf's dates from the latest first
//! date, the stocks every leaf has (in the order the left operands give), and each leaf at its
//! own latest row on or before each date — which row that is does not depend on the grids in
//! between. So on the read rows each leaf (a shift taken on the leaf's own rows, a rolling
//! statistic computed over them) is gathered at that row and the steps run on the short
//! columns, as [`Compact`] does for a chain on one grid: the same cells go through the same
//! operations, so the read rows get the same bits as the node-by-node evaluation.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::compact::{run_start, Compact, LeafAt};
use super::kept::Kept;
use super::kinds::{leaf_values, step_kinds};
use super::{leaf_cells, Block, Chain, Kind, Op, Out, Src, BLOCK};
use crate::eval::restrict::read_rows;
use crate::eval::reuse::Rolls;
use crate::eval::Value;
use crate::panel::Panel;

/// The chain's value on the rows of its aligned grid read at `read_at`, and that grid's dates;
/// `None` when a leaf is a Series, a step does not type, or nothing is read (the node-by-node
/// evaluation then runs, and reports any error).
pub(super) fn evaluate(
    chain: &Chain,
    values: &[Option<Value>],
    read_at: &[i32],
    mut rolls: Option<&mut Rolls>,
) -> Option<(Value, Rc<Vec<i32>>)> {
    let (panels, kinds) = leaf_values(&chain.leaves, values)?;
    // A rolling statistic of flags reads them as 0/1 floats: node by node. A chain ending in a
    // shift reads other rows than the ones it keeps.
    if chain.rolled.iter().any(|r| kinds[r.1] != Kind::Float)
        || matches!(chain.ops.last(), Some(Op::Shift(..)))
    {
        return None;
    }
    let steps = step_kinds(&chain.ops, &kinds)?;
    let columns = columns(chain, &panels)?;
    let dates = Rc::new(union(&panels)?);
    let read = read_rows(&dates, read_at);
    if read.is_empty() || columns.is_empty() {
        return None;
    }
    let grids: Vec<Option<Grid>> = panels
        .iter()
        .map(|p| match p {
            Some(p) => Grid::new(p, &dates, &read, &columns).map(Some),
            None => Some(None),
        })
        .collect::<Option<_>>()?;
    let cells = leaf_cells(&chain.leaves, values);
    let mut out = Out::new(*steps.last()?, read.len() * columns.len())?;
    let mut blocks: Vec<Block> = steps.iter().map(|k| Block::new(*k)).collect();
    let mut widened: [Vec<f64>; 2] = [Vec::with_capacity(BLOCK), Vec::with_capacity(BLOCK)];
    let mut compact = Compact::new(chain, &cells);
    let mut kept = Kept::new(chain, rolls.as_deref_mut(), |k| {
        let g = grids[chain.rolled[k].1].as_ref();
        g.map_or((&[][..], None, 0), |g| {
            (&g.at[..], Some(&g.cols[..]), g.rows * g.cols.len())
        })
    });
    let mut rolled = Rolled::new(chain, &grids);
    for c in 0..columns.len() {
        rolled.compute(chain, &cells, &grids, c, &kept);
        let at: Vec<LeafAt> = grids
            .iter()
            .map(|g| match g {
                Some(g) => LeafAt {
                    base: g.cols[c] * g.rows,
                    rows: &g.at,
                    run: g.run,
                },
                None => LeafAt {
                    base: 0,
                    rows: &[],
                    run: None,
                },
            })
            .collect();
        let stats = rolled.column(chain, &grids, c, &kept);
        compact.gather_at(chain, &cells, &at, &stats);
        kept.column(c, read.len(), &mut compact.rolled);
        compact.run(chain, read.len(), &mut blocks, &mut widened, &mut |b| {
            out.extend(b)
        })?;
    }
    kept.keep(rolls);
    let panel = Panel {
        dates: Rc::new(read.iter().map(|&r| dates[r]).collect()),
        columns: Rc::new(columns.iter().map(|c| c.to_string()).collect()),
        cells: out.cells(),
    };
    Some((Value::Panel(panel), dates))
}

/// Where one leaf's cells of the aligned grid are.
struct Grid {
    /// Rows of each column.
    rows: usize,
    /// For each read row: the leaf's latest row on or before its date.
    at: Vec<usize>,
    /// For each of the chain's stocks: the leaf's column.
    cols: Vec<usize>,
    /// `at[0]` when `at` is consecutive rows (see [`LeafAt::run`]).
    run: Option<usize>,
}

impl Grid {
    /// `None` when the panel has no row on or before a read date (it cannot: every read date
    /// is on or after the latest first date) or lacks a stock.
    fn new(p: &Panel, dates: &[i32], read: &[usize], columns: &[&str]) -> Option<Grid> {
        let at: Vec<usize> = read
            .iter()
            .map(|&r| p.dates.partition_point(|&d| d <= dates[r]).checked_sub(1))
            .collect::<Option<_>>()?;
        let index: HashMap<&str, usize> = (p.columns.iter().enumerate())
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let cols = (columns.iter())
            .map(|c| index.get(c).copied())
            .collect::<Option<_>>()?;
        Some(Grid {
            rows: p.rows(),
            run: run_start(&at),
            at,
            cols,
        })
    }
}

/// The stocks of the chain's result, in its order: at each step the left operand's stocks that
/// the right operand has too (a number has no stocks and keeps the other side's).
fn columns<'p>(chain: &Chain, panels: &[Option<&'p Panel>]) -> Option<Vec<&'p str>> {
    let leaf = |l: usize| panels[l].map(|p| p.columns.iter().map(String::as_str).collect());
    let mut of_step: Vec<Option<Vec<&str>>> = Vec::with_capacity(chain.ops.len());
    for op in &chain.ops {
        let src = |s: Src, done: &[Option<Vec<&'p str>>]| match s {
            Src::Leaf(l) => leaf(l),
            Src::Step(k) => done[k].clone(),
            Src::Rolled(k) => leaf(chain.rolled[k].1),
        };
        let cols = match *op {
            Op::Binary(_, a, b) | Op::Mask(a, b) => match (src(a, &of_step), src(b, &of_step)) {
                (Some(a), Some(b)) if a == b => Some(a),
                (Some(a), Some(b)) => {
                    let has: HashSet<&str> = b.into_iter().collect();
                    Some(a.into_iter().filter(|c| has.contains(c)).collect())
                }
                (a, b) => a.or(b),
            },
            Op::Neg(a) | Op::Not(a) => src(a, &of_step),
            Op::Shift(l, _) => leaf(l),
        };
        of_step.push(cols);
    }
    of_step.pop()?
}

/// The sorted union of the panels' dates from the latest first date on.
fn union(panels: &[Option<&Panel>]) -> Option<Vec<i32>> {
    let mut grids: Vec<&Rc<Vec<i32>>> = Vec::new();
    for p in panels.iter().flatten() {
        if !grids
            .iter()
            .any(|g| Rc::ptr_eq(g, &p.dates) || **g == p.dates)
        {
            grids.push(&p.dates);
        }
    }
    let first = grids
        .iter()
        .map(|g| g.first().copied())
        .collect::<Option<Vec<i32>>>()?
        .into_iter()
        .max()?;
    let mut dates: Vec<i32> = grids
        .iter()
        .flat_map(|g| g[g.partition_point(|&d| d < first)..].iter().copied())
        .collect();
    dates.sort_unstable();
    dates.dedup();
    Some(dates)
}

/// The rolling statistics of the current pair of the chain's stocks, each over its leaf's
/// own rows (two adjacent leaf columns at once, the SIMD kernels' unit, when they are).
struct Rolled {
    /// Per statistic: the pair's two columns, one after the other.
    bufs: Vec<Vec<f64>>,
    /// The first stock of the pair in `bufs`.
    pair: Option<usize>,
}

impl Rolled {
    fn new(chain: &Chain, grids: &[Option<Grid>]) -> Rolled {
        let bufs = (chain.rolled.iter())
            .map(|r| vec![0.0; 2 * grids[r.1].as_ref().map_or(0, |g| g.rows)])
            .collect();
        Rolled { bufs, pair: None }
    }

    /// Computes the statistics of the pair holding stock `c`, unless already done.
    fn compute(
        &mut self,
        chain: &Chain,
        cells: &[super::Leaf],
        grids: &[Option<Grid>],
        c: usize,
        kept: &Kept,
    ) {
        let c0 = c - c % 2;
        if self.pair == Some(c0) {
            return;
        }
        self.pair = Some(c0);
        for (k, (buf, &(_, l, stat))) in self.bufs.iter_mut().zip(&chain.rolled).enumerate() {
            let (Some(g), super::Leaf::Float(x), false) = (&grids[l], &cells[l], kept.found(k))
            else {
                continue;
            };
            let n = g.rows;
            let stocks = &g.cols[c0..(c0 + 2).min(g.cols.len())];
            match stocks {
                [a, b] if *b == a + 1 => stat.panel(&x[a * n..(a + 2) * n], n, &mut buf[..2 * n]),
                _ => {
                    for (k, s) in stocks.iter().enumerate() {
                        stat.panel(&x[s * n..(s + 1) * n], n, &mut buf[k * n..(k + 1) * n]);
                    }
                }
            }
        }
    }

    /// Stock `c`'s column of each statistic not `kept` (not computed otherwise).
    fn column<'a>(
        &'a self,
        chain: &Chain,
        grids: &[Option<Grid>],
        c: usize,
        kept: &Kept,
    ) -> Vec<Option<&'a [f64]>> {
        (self.bufs.iter().zip(&chain.rolled).enumerate())
            .map(|(s, (buf, r))| {
                let n = grids[r.1].as_ref().map_or(0, |g| g.rows);
                let k = c % 2;
                (!kept.found(s)).then(|| &buf[k * n..(k + 1) * n])
            })
            .collect()
    }
}
