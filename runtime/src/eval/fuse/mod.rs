//! Fused element-wise chains. A strategy is mostly chains like
//! `(close / close.shift(20))[(close.shift(1) < close) & (avg < close)]`: evaluated node by
//! node, every step writes a full panel (74 MB of floats for the default market) that the next
//! step reads back once. Here a chain of element-wise nodes whose intermediate results have no
//! other reader is evaluated block by block (a few hundred cells of one column at a time, in
//! cache) from its leaves straight into the chain's result; shifted leaves are read at an
//! offset instead of being copied.
//!
//! A rolling statistic (`average`, `rolling().mean/sum/max/min`) of a leaf whose only reader is
//! in the chain is computed inside it too, a pair of columns at a time (the SIMD kernels' unit)
//! into a column-sized buffer the blocks then read: its panel is never written out and read
//! back.
//!
//! Each cell goes through the same operations as in the node-by-node evaluation, so the results
//! are the same bits. Anything the fused path does not cover — leaves on different grids (which
//! need finlab's alignment), a Series, a type error to report — makes the chain fall back to the
//! node-by-node evaluation.

mod aligned;
mod compact;
mod kept;
mod kinds;

use std::rc::Rc;

use super::args::Rolling;
use super::reuse::Rolls;
use super::Value;
use crate::cells::{self, one};
use crate::ops::OpId;
use crate::panel::{Cells, Panel};
use crate::plan::{Arg, BinOp, Node, Plan};
use compact::Compact;
use kept::Kept;
use kinds::{leaf_kinds, step_kinds};

/// Rows of one column evaluated at a time.
const BLOCK: usize = 512;

/// How the plan's element-wise nodes group into chains.
pub(super) struct Groups {
    /// Node `i` is evaluated inside the chain of the node that reads it.
    pub inlined: Vec<bool>,
    /// For a chain's last node: the nodes inlined into it, in plan order.
    pub members: Vec<Vec<usize>>,
    /// The node a node's value is evaluated at (its chain's last node, or itself).
    pub at: Vec<usize>,
    /// For an inlined node: the one node that reads it.
    pub reader: Vec<usize>,
}

impl Groups {
    /// Whether inlined node `m` is evaluated inside `node`'s value (`node` reads it, directly or
    /// through other inlined nodes).
    pub fn feeds(&self, m: usize, node: usize) -> bool {
        let mut at = m;
        while self.inlined[at] {
            at = self.reader[at];
            if at == node {
                return true;
            }
        }
        false
    }
}

fn elementwise(node: &Node) -> bool {
    matches!(
        node,
        Node::Binary { .. } | Node::Neg { .. } | Node::Not { .. } | Node::Mask { .. }
    ) || shift_of(node).is_some()
}

/// `(receiver, periods)` of a `shift` by a non-negative constant.
fn shift_of(node: &Node) -> Option<(usize, usize)> {
    match node {
        Node::Call {
            op: OpId::Shift,
            recv: Some(recv),
            args,
            prices,
            ..
        } if prices.is_empty() => match args.as_slice() {
            [Arg::Int(n)] => usize::try_from(*n).ok().map(|n| (*recv, n)),
            _ => None,
        },
        _ => None,
    }
}

/// A rolling statistic of a receiver (see [`Rolling`]).
fn rolling(node: &Node) -> bool {
    matches!(node, Node::Call { op, recv: Some(_), prices, .. }
        if prices.is_empty() && Rolling::is_rolling(*op))
}

/// Finds the chains: an element-wise node or a rolling statistic read by exactly one node,
/// itself element-wise and not a shift (a shift reads its receiver at an offset, so only a leaf
/// can be shifted), is inlined into that reader. (A rolling statistic's receiver is a leaf: a
/// rolling statistic is not element-wise, so nothing is inlined into it.) A node in `leaves`
/// (its value read from the reuse store) is never inlined: it is a leaf of its reader's chain.
pub(super) fn groups(plan: &Plan, fuse: bool, leaves: &[bool]) -> Groups {
    let n = plan.nodes.len();
    let readers = plan.readers();
    let mut inlined = vec![false; n];
    let mut reader: Vec<usize> = (0..n).collect();
    for (j, node) in plan.nodes.iter().enumerate() {
        if !fuse || j == plan.output || leaves[j] || !(elementwise(node) || rolling(node)) {
            continue;
        }
        if let [only] = readers[j].as_slice() {
            let r = &plan.nodes[*only];
            inlined[j] = elementwise(r) && shift_of(r).is_none();
            reader[j] = *only;
        }
    }
    // Each inlined node's chain end: follow readers until a node that is not inlined.
    let mut at: Vec<usize> = (0..n).collect();
    for j in (0..n).rev() {
        if inlined[j] {
            at[j] = at[readers[j][0]];
        }
    }
    let mut members = vec![Vec::new(); n];
    for j in 0..n {
        if inlined[j] {
            members[at[j]].push(j);
        }
    }
    Groups {
        inlined,
        members,
        at,
        reader,
    }
}

/// Where a step reads an operand: a leaf value or an earlier step's block.
#[derive(Clone, Copy)]
enum Src {
    Leaf(usize),
    Step(usize),
    /// A rolling statistic's column buffer.
    Rolled(usize),
}

/// What a value is, cell-wise.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Scalar(f64),
    Float,
    Bool,
}

enum Op {
    Binary(BinOp, Src, Src),
    Neg(Src),
    Not(Src),
    Mask(Src, Src),
    Shift(usize, usize),
}

/// A leaf's cells.
enum Leaf<'a> {
    Scalar(f64),
    Float(&'a [f64]),
    Bool(&'a [bool]),
}

/// One step's block of cells.
enum Block {
    Scalar(f64),
    Float(Vec<f64>),
    Bool(Vec<bool>),
}

impl Block {
    /// An empty block of a step of `kind`.
    fn new(kind: Kind) -> Block {
        match kind {
            Kind::Scalar(s) => Block::Scalar(s),
            Kind::Float => Block::Float(Vec::with_capacity(BLOCK)),
            Kind::Bool => Block::Bool(Vec::with_capacity(BLOCK)),
        }
    }
}

/// Evaluates the chain ending at `root` fused, or gives `None` when it must fall back to the
/// node-by-node evaluation (see the module docs). With `read_at` (the chain is read on those
/// dates only, see [`super::restrict`]), only the rows read there are computed and the value
/// has those rows only; the second item is then the grid's dates, to put results back on.
pub(super) fn evaluate(
    plan: &Plan,
    root: usize,
    members: &[usize],
    values: &[Option<Value>],
    read_at: Option<&[i32]>,
    rolls: Option<&mut Rolls>,
) -> Option<(Value, Option<Rc<Vec<i32>>>)> {
    let chain = Chain::new(plan, root, members, values)?;
    let Some((grid, leaf_kinds)) = leaf_kinds(&chain.leaves, values) else {
        // Leaves on different grids: on the read rows, aligned as node by node would.
        let (v, full) = aligned::evaluate(&chain, values, read_at?, rolls)?;
        return Some((v, Some(full)));
    };
    // A rolling statistic of a bool panel reads it as 0/1 floats: node by node.
    if chain.rolled.iter().any(|r| leaf_kinds[r.1] != Kind::Float) {
        return None;
    }
    let kinds = step_kinds(&chain.ops, &leaf_kinds)?;
    let cells = leaf_cells(&chain.leaves, values);
    let read = read_at.map(|d| super::restrict::read_rows(&grid.dates, d));
    let out = chain.run(grid, &cells, &kinds, read.as_deref(), rolls)?;
    let (dates, full) = match read {
        Some(read) => (
            Rc::new(read.iter().map(|&r| grid.dates[r]).collect()),
            Some(grid.dates.clone()),
        ),
        None => (grid.dates.clone(), None),
    };
    let panel = Panel {
        dates,
        columns: grid.columns.clone(),
        cells: out,
    };
    Some((Value::Panel(panel), full))
}

/// A chain's steps and what they read.
struct Chain {
    /// The leaves' nodes, in the order they are first read.
    leaves: Vec<usize>,
    /// The rolling statistics inside the chain: (node, leaf it reads, statistic).
    rolled: Vec<(usize, usize, Rolling)>,
    /// The steps in plan order (members, then the root).
    ops: Vec<Op>,
}

impl Chain {
    /// The steps of the chain ending at `root`: rolling statistics (leaf receivers first), then
    /// the element-wise steps in plan order; `None` when a shift reads a step.
    fn new(plan: &Plan, root: usize, members: &[usize], values: &[Option<Value>]) -> Option<Chain> {
        let mut leaves: Vec<usize> = Vec::new();
        let mut leaf_of = |node: usize| {
            leaves.iter().position(|&l| l == node).unwrap_or_else(|| {
                leaves.push(node);
                leaves.len() - 1
            })
        };
        let mut rolled: Vec<(usize, usize, Rolling)> = Vec::new();
        for &m in members {
            if rolling(&plan.nodes[m]) {
                let (recv, stat) = Rolling::of_node(plan, m, values)?;
                rolled.push((m, leaf_of(recv), stat));
            }
        }
        let order: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&m| !rolling(&plan.nodes[m]))
            .chain([root])
            .collect();
        let step_of = |node: usize| order.iter().position(|&m| m == node);
        let mut src = |node: usize| -> Src {
            if let Some(s) = step_of(node) {
                Src::Step(s)
            } else if let Some(k) = rolled.iter().position(|r| r.0 == node) {
                Src::Rolled(k)
            } else {
                Src::Leaf(leaf_of(node))
            }
        };
        let mut ops = Vec::with_capacity(order.len());
        for &node in &order {
            ops.push(match &plan.nodes[node] {
                Node::Binary { op, lhs, rhs } => Op::Binary(*op, src(*lhs), src(*rhs)),
                Node::Neg { arg } => Op::Neg(src(*arg)),
                Node::Not { arg } => Op::Not(src(*arg)),
                Node::Mask { value, cond } => Op::Mask(src(*value), src(*cond)),
                other => {
                    let (recv, n) = shift_of(other)?;
                    match src(recv) {
                        Src::Leaf(l) => Op::Shift(l, n),
                        Src::Step(_) | Src::Rolled(_) => return None,
                    }
                }
            });
        }
        Some(Chain {
            leaves,
            rolled,
            ops,
        })
    }

    /// Runs the steps block by block over the grid's columns, two at a time: first the rolling
    /// statistics of both columns, then their blocks. The output's cells, of the last step's
    /// kind. With `read`, only those rows are computed, from the cells gathered there (see
    /// [`Compact`]), and the result has those rows only.
    fn run(
        &self,
        grid: &Panel,
        cells: &[Leaf],
        kinds: &[Kind],
        read: Option<&[usize]>,
        mut rolls: Option<&mut Rolls>,
    ) -> Option<Cells> {
        let rows = grid.rows();
        let cols = grid.columns.len();
        if read.is_some() && matches!(self.ops.last(), Some(Op::Shift(..))) {
            return None;
        }
        let mut blocks: Vec<Block> = kinds.iter().map(|k| Block::new(*k)).collect();
        let short = read.map_or(rows, <[usize]>::len);
        let mut out = Out::new(*kinds.last()?, short * cols)?;
        let mut widened: [Vec<f64>; 2] = [Vec::with_capacity(BLOCK), Vec::with_capacity(BLOCK)];
        // A shifted leaf read by a later step is read in place, past the rows it shifts in.
        let last = self.ops.len().saturating_sub(1);
        let views: Vec<Option<(usize, usize)>> = (self.ops.iter().enumerate())
            .map(|(s, op)| match op {
                Op::Shift(l, n) if s < last => Some((*l, *n)),
                _ => None,
            })
            .collect();
        let mut compact = read.map(|_| Compact::new(self, cells));
        // On the read rows, rolling statistics gathered there are kept across evaluations.
        let mut kept =
            read.map(|read| Kept::new(self, rolls.as_deref_mut(), |_| (read, None, rows * cols)));
        const PAIR: usize = 2;
        let mut rolled_cols: Vec<Vec<f64>> = vec![vec![0.0; PAIR * rows]; self.rolled.len()];
        for c0 in (0..cols).step_by(PAIR) {
            let c1 = (c0 + PAIR).min(cols);
            for (k, (buf, &(_, leaf, stat))) in rolled_cols.iter_mut().zip(&self.rolled).enumerate()
            {
                if kept.as_ref().is_some_and(|kept| kept.found(k)) {
                    continue;
                }
                if let Leaf::Float(x) = cells[leaf] {
                    let span = c0 * rows..c1 * rows;
                    stat.panel(&x[span.clone()], rows, &mut buf[..span.len()]);
                }
            }
            for c in c0..c1 {
                let col = Column {
                    cells,
                    views: &views,
                    rolled: &rolled_cols,
                    local: (c - c0) * rows,
                    base: c * rows,
                    len: rows,
                };
                match (compact.as_mut(), read) {
                    (Some(k), Some(read)) => {
                        let found = |r| kept.as_ref().is_some_and(|kept| kept.found(r));
                        k.gather(self, &col, read, found);
                        if let Some(kept) = kept.as_mut() {
                            kept.column(c, read.len(), &mut k.rolled);
                        }
                        k.run(self, read.len(), &mut blocks, &mut widened, &mut |b| {
                            out.extend(b)
                        })?;
                    }
                    _ => {
                        self.run_column(&col, &mut blocks, &mut widened, &mut |b| out.extend(b))?
                    }
                }
            }
        }
        if let Some(kept) = kept {
            kept.keep(rolls);
        }
        Some(out.cells())
    }

    /// Runs the steps over one column in blocks, handing each block of the last step to `emit`.
    fn run_column(
        &self,
        col: &Column,
        blocks: &mut [Block],
        widened: &mut [Vec<f64>; 2],
        emit: &mut dyn FnMut(&Block) -> Option<()>,
    ) -> Option<()> {
        let mut r0 = 0;
        while r0 < col.len {
            let r1 = (r0 + BLOCK).min(col.len);
            for (s, op) in self.ops.iter().enumerate() {
                let (done, rest) = blocks.split_at_mut(s);
                let at = Cursor {
                    cells: col.cells,
                    done,
                    views: col.views,
                    rolled: col.rolled,
                    local: col.local,
                    base: col.base,
                    r0,
                    r1,
                };
                if at.view(s).is_none() {
                    run_step(op, &at, &mut rest[0], widened);
                }
            }
            emit(blocks.last()?)?;
            r0 = r1;
        }
        Some(())
    }
}

/// One column for [`Chain::run_column`]: the leaves, the shifts read in place and the rolling
/// statistics' buffers, and where the column starts in each.
struct Column<'a, 'b> {
    cells: &'b [Leaf<'a>],
    views: &'b [Option<(usize, usize)>],
    rolled: &'b [Vec<f64>],
    local: usize,
    base: usize,
    len: usize,
}

/// The chain's result cells, appended block by block.
enum Out {
    F(Vec<f64>),
    B(Vec<bool>),
}

impl Out {
    fn new(kind: Kind, cells: usize) -> Option<Out> {
        Some(match kind {
            Kind::Float => Out::F(Vec::with_capacity(cells)),
            Kind::Bool => Out::B(Vec::with_capacity(cells)),
            Kind::Scalar(_) => return None,
        })
    }

    fn extend(&mut self, b: &Block) -> Option<()> {
        match (self, b) {
            (Out::F(o), Block::Float(v)) => o.extend_from_slice(v),
            (Out::B(o), Block::Bool(v)) => o.extend_from_slice(v),
            _ => return None,
        }
        Some(())
    }

    fn cells(self) -> Cells {
        match self {
            Out::F(v) => Cells::Float(Rc::new(v)),
            Out::B(v) => Cells::Bool(Rc::new(v)),
        }
    }
}

/// The leaves' cells, borrowed from the values.
fn leaf_cells<'v>(leaves: &[usize], values: &'v [Option<Value>]) -> Vec<Leaf<'v>> {
    leaves
        .iter()
        .map(|&l| match values[l].as_ref() {
            Some(Value::Panel(p)) => match &p.cells {
                Cells::Float(v) => Leaf::Float(v.as_slice()),
                Cells::Bool(v) => Leaf::Bool(v.as_slice()),
            },
            Some(Value::Scalar(s)) => Leaf::Scalar(*s),
            _ => Leaf::Scalar(f64::NAN),
        })
        .collect()
}

/// The cells of rows `r0..r1` of one column (starting at `base` in the column-major leaves).
struct Cursor<'a, 'b> {
    cells: &'b [Leaf<'a>],
    done: &'b [Block],
    /// Per step: the (leaf, rows) of a shift read in place (see [`Cursor::view`]).
    views: &'b [Option<(usize, usize)>],
    /// The rolling statistics' buffers (the current columns, one after the other).
    rolled: &'b [Vec<f64>],
    /// Where the column starts in `rolled`.
    local: usize,
    base: usize,
    r0: usize,
    r1: usize,
}

/// An operand's block: floats, flags or a number.
enum In<'b> {
    F(&'b [f64]),
    B(&'b [bool]),
    S(f64),
}

impl<'a, 'b> Cursor<'a, 'b> {
    fn read(&self, s: Src) -> In<'b>
    where
        'a: 'b,
    {
        let (from, to) = (self.base + self.r0, self.base + self.r1);
        match s {
            Src::Leaf(l) => match &self.cells[l] {
                Leaf::Scalar(x) => In::S(*x),
                Leaf::Float(v) => In::F(&v[from..to]),
                Leaf::Bool(v) => In::B(&v[from..to]),
            },
            Src::Step(k) => self.view(k).unwrap_or_else(|| match &self.done[k] {
                Block::Scalar(x) => In::S(*x),
                Block::Float(v) => In::F(v),
                Block::Bool(v) => In::B(v),
            }),
            Src::Rolled(k) => In::F(&self.rolled[k][self.local + self.r0..self.local + self.r1]),
        }
    }

    /// Step `k`'s block read in place: a shift by `n` of a leaf, for a block wholly past the
    /// `n` rows it shifts in (the same cells [`shifted`] would copy).
    fn view(&self, k: usize) -> Option<In<'b>>
    where
        'a: 'b,
    {
        let (l, n) = (*self.views.get(k)?)?;
        if self.r0 < n {
            return None;
        }
        let (from, to) = (self.base + self.r0 - n, self.base + self.r1 - n);
        match &self.cells[l] {
            Leaf::Float(v) => Some(In::F(&v[from..to])),
            Leaf::Bool(v) => Some(In::B(&v[from..to])),
            Leaf::Scalar(_) => None,
        }
    }
}

/// `x` as floats: itself, or flags widened into `buf`.
fn floats<'b>(x: In<'b>, buf: &'b mut Vec<f64>) -> In<'b> {
    match x {
        In::B(b) => {
            buf.resize(b.len(), 0.0);
            cells::map_into(buf, b, one);
            In::F(buf)
        }
        other => other,
    }
}

/// The step's block: floats or flags, `len` cells (resized only when the length changes, at a
/// column's last block).
fn sized<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    v.resize(len, T::default());
    v
}

#[inline(never)]
fn run_step(op: &Op, at: &Cursor, block: &mut Block, widened: &mut [Vec<f64>; 2]) {
    let [wa, wb] = widened;
    let len = at.r1 - at.r0;
    match (op, block) {
        (Op::Binary(op, a, b), Block::Bool(out)) if op.is_logical() => {
            let out = sized(out, len);
            if let (In::B(x), In::B(y)) = (at.read(*a), at.read(*b)) {
                if *op == BinOp::And {
                    cells::zip_into(out, x, y, |x, y| x && y);
                } else {
                    cells::zip_into(out, x, y, |x, y| x || y);
                }
            }
        }
        (Op::Binary(op, a, b), Block::Bool(out)) => {
            let out = sized(out, len);
            let (x, y) = (floats(at.read(*a), wa), floats(at.read(*b), wb));
            with_compare!(*op, f => match (x, y) {
                (In::F(x), In::F(y)) => cells::zip_into(out, x, y, f),
                (In::F(x), In::S(s)) => cells::map_into(out, x, |x| f(x, s)),
                (In::S(s), In::F(y)) => cells::map_into(out, y, |y| f(s, y)),
                _ => {}
            });
        }
        (Op::Binary(op, a, b), Block::Float(out)) => {
            let out = sized(out, len);
            let (x, y) = (floats(at.read(*a), wa), floats(at.read(*b), wb));
            if let (BinOp::Pow, In::F(x), In::S(s)) = (op, &x, &y) {
                with_scalar_pow!(*s, f => cells::map_into(out, x, f));
                return;
            }
            with_arith!(*op, f => match (x, y) {
                (In::F(x), In::F(y)) => cells::zip_into(out, x, y, f),
                (In::F(x), In::S(s)) => cells::map_into(out, x, |x| f(x, s)),
                (In::S(s), In::F(y)) => cells::map_into(out, y, |y| f(s, y)),
                _ => {}
            });
        }
        (Op::Neg(a), Block::Float(out)) => {
            let out = sized(out, len);
            if let In::F(x) = floats(at.read(*a), wa) {
                cells::map_into(out, x, |x| -x);
            }
        }
        (Op::Not(a), Block::Bool(out)) => {
            let out = sized(out, len);
            if let In::B(x) = at.read(*a) {
                cells::map_into(out, x, |x| !x);
            }
        }
        (Op::Mask(v, c), Block::Float(out)) => {
            let out = sized(out, len);
            if let (In::F(x), In::B(m)) = (at.read(*v), at.read(*c)) {
                cells::zip_into(out, x, m, |x, m| if m { x } else { f64::NAN });
            }
        }
        (Op::Mask(v, c), Block::Bool(out)) => {
            let out = sized(out, len);
            if let (In::B(x), In::B(m)) = (at.read(*v), at.read(*c)) {
                cells::zip_into(out, x, m, |x, m| x && m);
            }
        }
        (Op::Shift(l, n), Block::Float(out)) => {
            out.clear();
            if let Leaf::Float(v) = &at.cells[*l] {
                shifted(v, at, *n, f64::NAN, out);
            }
        }
        (Op::Shift(l, n), Block::Bool(out)) => {
            out.clear();
            if let Leaf::Bool(v) = &at.cells[*l] {
                shifted(v, at, *n, false, out);
            }
        }
        _ => {}
    }
}

/// Rows `r0..r1` of a leaf column shifted down by `n` (`missing` above its first row).
fn shifted<T: Copy>(v: &[T], at: &Cursor, n: usize, missing: T, out: &mut Vec<T>) {
    let lead = n.saturating_sub(at.r0).min(at.r1 - at.r0);
    out.extend(std::iter::repeat_n(missing, lead));
    let from = at.r0 + lead;
    if from < at.r1 {
        out.extend_from_slice(&v[at.base + from - n..at.base + at.r1 - n]);
    }
}
