//! The plan evaluator: runs a [`Plan`] over input panels and returns the position panel.
//! Semantics follow `docs/semantics.md` §5 (alignment §5.1, methods §5.3) and were
//! checked against finlab 2.2.20 (`tests/parity.rs`). Panels are dense column-major arrays
//! ([`crate::panel`]): a missing value is NaN, as in pandas, so arithmetic and comparisons need
//! no special cases, and every kernel is a plain loop the compiler can vectorize.

use std::rc::Rc;

use crate::cells;
use crate::hold::{self, Frame, HoldOptions};
use crate::kernels;
use crate::ops::{OpId, OpSpec, Receiver};
use crate::panel::{align, exact_mask, outer_align, spread_rows, Cells, Panel};
use crate::plan::{Arg, BinOp, Node, Plan, PlanError};
use crate::talib;
use crate::wire::PanelData;

/// Why an evaluation failed inside the guest.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("the plan needs {expected} input panels but {got} were sent")]
    Inputs { expected: usize, got: usize },
    #[error("node {node}: {message}")]
    Type { node: usize, message: String },
    #[error("the plan's output is not a position panel")]
    ScalarOutput,
}

/// Indicator outputs already computed in this evaluation, by call.
type IndicatorCache = std::collections::HashMap<String, Rc<Vec<Panel>>>;

#[derive(Clone)]
pub(crate) enum Value {
    Scalar(f64),
    Panel(Panel),
    /// A float Series indexed by date (one value per row).
    Series(Rc<Vec<i32>>, Rc<Vec<f64>>),
}

/// Evaluates `plan` on `inputs` (one panel per [`Plan::inputs`] entry, same order).
pub fn evaluate(plan: &Plan, inputs: Vec<PanelData>) -> Result<PanelData, EvalError> {
    evaluate_panel(plan, shared(inputs), true).map(to_panel_data)
}

/// [`evaluate`] node by node, without fusing element-wise chains (the reference the fused
/// evaluation is tested against).
pub fn evaluate_unfused(plan: &Plan, inputs: Vec<PanelData>) -> Result<PanelData, EvalError> {
    evaluate_panel(plan, shared(inputs), false).map(to_panel_data)
}

/// Input panels whose values may be shared with the caller (the guest's kept inputs).
pub type SharedPanelData = PanelData<Rc<Vec<f64>>>;

fn shared(inputs: Vec<PanelData>) -> Vec<SharedPanelData> {
    inputs
        .into_iter()
        .map(|p| PanelData {
            name: p.name,
            dates: p.dates,
            columns: p.columns,
            values: Rc::new(p.values),
        })
        .collect()
}

/// Like [`evaluate`], with the result already wire-encoded (a bool position as one byte per
/// cell), as the guest returns it.
pub fn evaluate_encoded(plan: &Plan, inputs: Vec<SharedPanelData>) -> Result<Vec<u8>, EvalError> {
    let p = evaluate_panel(plan, inputs, true)?;
    Ok(match &p.cells {
        Cells::Bool(b) => crate::wire::encode_flags("position", &p.dates, &p.columns, b),
        Cells::Float(_) => crate::wire::encode(&[&to_panel_data(p)]),
    })
}

fn evaluate_panel(
    plan: &Plan,
    inputs: Vec<SharedPanelData>,
    fuse: bool,
) -> Result<Panel, EvalError> {
    plan.validate()?;
    if let Some(restriction) = plan
        .read_at
        .as_deref()
        .and_then(|dates| Restriction::new(plan, dates))
    {
        if let (p, true) = run(plan, inputs.clone(), fuse, Some(restriction))? {
            return Ok(p);
        }
    }
    run(plan, inputs, fuse, None).map(|(p, _)| p)
}

/// Evaluates the plan, cross-sectional nodes on the read rows only when `restriction` is
/// given; `false` when the restriction turned out not to hold (a value on the way from a
/// restricted node to the output was on other dates), and the result is then not to be used.
fn run<'p>(
    plan: &'p Plan,
    inputs: Vec<SharedPanelData>,
    fuse: bool,
    mut restriction: Option<Restriction<'p>>,
) -> Result<(Panel, bool), EvalError> {
    if inputs.len() != plan.inputs.len() {
        return Err(EvalError::Inputs {
            expected: plan.inputs.len(),
            got: inputs.len(),
        });
    }
    let mut inputs: Vec<Option<SharedPanelData>> = inputs.into_iter().map(Some).collect();
    let groups = fuse::groups(plan, fuse);
    // Free every value after its last reader so peak memory follows the live set, not the plan
    // (a node inlined into a fused chain reads its operands when the chain is evaluated).
    let mut last_use = vec![0usize; plan.nodes.len()];
    for (i, node) in plan.nodes.iter().enumerate() {
        for op in node.operands() {
            last_use[op] = last_use[op].max(groups.at[i]);
        }
    }
    let mut values: Vec<Option<Value>> = vec![None; plan.nodes.len()];
    let mut indicators = IndicatorCache::new();
    #[cfg(not(target_arch = "wasm32"))]
    let trace = std::env::var_os("DSL_EVAL_TRACE").is_some();
    for i in 0..plan.nodes.len() {
        if groups.inlined[i] {
            continue;
        }
        #[cfg(not(target_arch = "wasm32"))]
        let started = std::time::Instant::now();
        let members = &groups.members[i];
        let mut state = State {
            plan,
            last_use: &last_use,
            values: &mut values,
            inputs: &mut inputs,
            indicators: &mut indicators,
            restriction: &mut restriction,
        };
        let v = state.eval_chain(i, members, &groups)?;
        if let Some(r) = restriction.as_mut() {
            r.note(plan, i, &v);
        }
        #[cfg(not(target_arch = "wasm32"))]
        if trace {
            let chain = if members.is_empty() {
                String::new()
            } else {
                format!(" (with {members:?})")
            };
            eprintln!(
                "node {i:>3} {:>8.1} ms  {:?}{chain}",
                started.elapsed().as_secs_f64() * 1e3,
                plan.nodes[i]
            );
        }
        values[i] = Some(v);
        for m in members.iter().chain([&i]) {
            for op in plan.nodes[*m].operands() {
                if last_use[op] == i && op != plan.output {
                    values[op] = None;
                }
            }
        }
    }
    let out = match values[plan.output].take() {
        Some(Value::Panel(p)) => p,
        _ => return Err(EvalError::ScalarOutput),
    };
    match restriction {
        None => Ok((out, true)),
        Some(r) if r.broken => Ok((out, false)),
        // Rows nobody reads are cleared, so what is left is what full evaluation gives there
        // (a restricted output already has only those rows).
        Some(r) if r.restricted[plan.output] => Ok((out, true)),
        Some(r) => Ok((r.clear_unread(out), true)),
    }
}

/// Which cross-sectional nodes are computed on the read rows only (see [`Plan::read_at`]).
struct Restriction<'p> {
    read_at: &'p [i32],
    /// Node `i` is computed on the read rows only.
    restricted: Vec<bool>,
    /// Node `i` is restricted or reads one on its way to the output.
    on_path: Vec<bool>,
    /// The dates of each on-path value evaluated so far.
    dates: Vec<Option<Rc<Vec<i32>>>>,
    /// An on-path value missed a date of a value it reads (see [`Restriction::note`]):
    /// evaluate every row instead.
    broken: bool,
}

/// Operators that compute each row from that row alone.
fn row_wise(node: &Node) -> bool {
    match node {
        Node::Binary { .. } | Node::Neg { .. } | Node::Not { .. } | Node::Mask { .. } => true,
        Node::Call { .. } => cross_sectional(node),
        _ => false,
    }
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
    fn new(plan: &Plan, read_at: &'p [i32]) -> Option<Restriction<'p>> {
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
        let restricted: Vec<bool> = (0..n)
            .map(|i| to_out[i] && cross_sectional(&plan.nodes[i]))
            .collect();
        if !restricted.contains(&true) {
            return None;
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
        })
    }

    /// The dates to restrict node `i` to, if it is restricted.
    fn read_at_for(&self, i: usize) -> Option<&'p [i32]> {
        self.restricted[i].then_some(self.read_at)
    }

    /// Checks node `i`'s value. The output's row read at date `d` reads a restricted node at
    /// its latest row on or before `d` — the row it computed — when every on-path value has
    /// every date (from its own first date on) of the on-path values it reads: row-wise
    /// operators align by the union of dates with a forward fill (or keep the grid), so they
    /// do; anything else falls back to every row.
    fn note(&mut self, plan: &Plan, i: usize, v: &Value) {
        if !self.on_path[i] {
            return;
        }
        let Value::Panel(p) = v else {
            self.broken = true;
            return;
        };
        let mut read = Vec::new();
        self.read_dates(plan, i, &mut read);
        self.broken |= read.iter().any(|d| !covers(&p.dates, d));
        self.dates[i] = Some(p.dates.clone());
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
    fn clear_unread(&self, mut p: Panel) -> Panel {
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

/// What evaluating a node reads and updates.
struct State<'p, 's> {
    plan: &'p Plan,
    last_use: &'s [usize],
    values: &'s mut [Option<Value>],
    inputs: &'s mut [Option<SharedPanelData>],
    indicators: &'s mut IndicatorCache,
    restriction: &'s mut Option<Restriction<'p>>,
}

impl State<'_, '_> {
    /// Evaluates `root` with the inlined nodes `members` (its chain, or a part of one): fused
    /// when it can be; otherwise each operand that is a member, with the members that feed
    /// it, the same way — so a part of a chain whose leaves share a grid is still fused when
    /// the whole mixes grids — and then `root` node by node.
    fn eval_chain(
        &mut self,
        root: usize,
        members: &[usize],
        groups: &fuse::Groups,
    ) -> Result<Value, EvalError> {
        if !members.is_empty() {
            if let Some(v) = fuse::evaluate(self.plan, root, members, self.values) {
                return Ok(v);
            }
        }
        for op in self.plan.nodes[root].operands() {
            if members.contains(&op) {
                let feeding: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&m| groups.feeds(m, op))
                    .collect();
                let v = self.eval_chain(op, &feeding, groups)?;
                if let Some(r) = self.restriction.as_mut() {
                    r.note(self.plan, op, &v);
                }
                self.values[op] = Some(v);
            }
        }
        let read_at = self.restriction.as_ref().and_then(|r| r.read_at_for(root));
        eval_at(
            root,
            self.plan,
            self.last_use,
            self.values,
            self.inputs,
            self.indicators,
            read_at,
        )
    }
}

/// Evaluates node `i` on the values so far.
fn eval_at(
    i: usize,
    plan: &Plan,
    last_use: &[usize],
    values: &mut [Option<Value>],
    inputs: &mut [Option<SharedPanelData>],
    indicators: &mut IndicatorCache,
    read_at: Option<&[i32]>,
) -> Result<Value, EvalError> {
    let node = &plan.nodes[i];
    // Operands read for the last time here are moved out, so their buffers can be reused.
    let mut scope: Vec<(usize, Value)> = Vec::new();
    let ops = match node {
        Node::Binary { .. } | Node::Neg { .. } | Node::Not { .. } | Node::Mask { .. } => {
            node.operands()
        }
        _ => Vec::new(),
    };
    for &op in &ops {
        if last_use[op] == i && op != plan.output && ops.iter().filter(|o| **o == op).count() == 1 {
            if let Some(v) = values[op].take() {
                scope.push((op, v));
            }
        }
    }
    eval_node(i, node, values, &mut scope, inputs, indicators, read_at)
}

/// Operand `id`, owned: moved out of `scope` when this node is its last reader (so it is the
/// only reference and its buffer can be reused), else a cheap shared clone.
fn take(
    values: &[Option<Value>],
    scope: &mut Vec<(usize, Value)>,
    node: usize,
    id: usize,
) -> Result<Value, EvalError> {
    if let Some(at) = scope.iter().position(|(k, _)| *k == id) {
        return Ok(scope.swap_remove(at).1);
    }
    get(values, node, id).cloned()
}

fn get(values: &[Option<Value>], node: usize, id: usize) -> Result<&Value, EvalError> {
    values
        .get(id)
        .and_then(|v| v.as_ref())
        .ok_or_else(|| EvalError::Type {
            node,
            message: format!("operand {id} is not available"),
        })
}

fn type_err(node: usize, message: impl Into<String>) -> EvalError {
    EvalError::Type {
        node,
        message: message.into(),
    }
}

fn eval_node(
    i: usize,
    node: &Node,
    values: &[Option<Value>],
    scope: &mut Vec<(usize, Value)>,
    inputs: &mut [Option<SharedPanelData>],
    indicators: &mut IndicatorCache,
    read_at: Option<&[i32]>,
) -> Result<Value, EvalError> {
    Ok(match node {
        Node::Load { input } => {
            let data = inputs
                .get_mut(*input)
                .and_then(Option::take)
                .ok_or_else(|| type_err(i, format!("input {input} was already consumed")))?;
            if data.values.len() != data.dates.len() * data.columns.len() {
                return Err(type_err(i, format!("input {input} has a malformed shape")));
            }
            Value::Panel(Panel {
                dates: Rc::new(data.dates),
                columns: Rc::new(data.columns),
                cells: Cells::Float(data.values),
            })
        }
        Node::Scalar { value } => Value::Scalar(*value),
        Node::Neg { arg } => match take(values, scope, i, *arg)? {
            Value::Scalar(v) => Value::Scalar(-v),
            Value::Panel(p) => Value::Panel(map_floats(p, |v| -v)),
            Value::Series(d, v) => Value::Series(d, Rc::new(v.iter().map(|x| -x).collect())),
        },
        Node::Not { arg } => match take(values, scope, i, *arg)? {
            Value::Panel(
                p @ Panel {
                    cells: Cells::Bool(_),
                    ..
                },
            ) => {
                let Cells::Bool(b) = p.cells else {
                    return Err(type_err(i, "`~` needs a bool panel"));
                };
                let mut b = Rc::unwrap_or_clone(b);
                cells::update(&mut b, |x| !x);
                Value::Panel(Panel::boolean(p.dates, p.columns, b))
            }
            _ => return Err(type_err(i, "`~` needs a bool panel")),
        },
        Node::Binary { op, lhs, rhs } => {
            let (l, r) = (take(values, scope, i, *lhs)?, take(values, scope, i, *rhs)?);
            binary(i, *op, l, r)?
        }
        Node::Call {
            op,
            recv,
            args,
            prices,
            out,
        } => {
            let recv = match recv {
                Some(r) => match get(values, i, *r)? {
                    Value::Panel(p) => Some(p),
                    _ => return Err(type_err(i, "methods apply to panels")),
                },
                None => None,
            };
            let prices = prices
                .iter()
                .map(|p| match get(values, i, *p)? {
                    Value::Panel(p) => Ok(p),
                    _ => Err(type_err(i, "price inputs must be panels")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let call = CallArgs {
                node: i,
                spec: op.spec(),
                args,
                values,
                read_at,
            };
            call.check_arity()?;
            if call.spec.receiver == Receiver::None {
                // A multi-output indicator is computed once for all its output nodes.
                let key = format!("{op:?} {args:?} {:?}", node.operands());
                let outs = match indicators.get(&key) {
                    Some(o) => o.clone(),
                    None => {
                        let o = Rc::new(indicator(&call, &prices)?);
                        indicators.insert(key, o.clone());
                        o
                    }
                };
                let panel = outs.get(*out).cloned().ok_or_else(|| {
                    type_err(i, format!("{} has no output {out}", op.spec().name))
                })?;
                Value::Panel(panel)
            } else {
                dispatch(&call, recv, &prices)?
            }
        }
        Node::Mask { value, cond } => {
            let (Value::Panel(v), Value::Panel(c)) = (
                take(values, scope, i, *value)?,
                take(values, scope, i, *cond)?,
            ) else {
                return Err(type_err(i, "`x[cond]` needs two panels"));
            };
            let (v, c) = align_owned(v, c);
            let Cells::Bool(mask) = &c.cells else {
                return Err(type_err(i, "the mask in `x[cond]` must be a bool panel"));
            };
            match &v.cells {
                Cells::Float(_) => {
                    let mask = mask.clone();
                    Value::Panel(zip_float_cells(
                        v,
                        &mask,
                        |x, m| {
                            if m {
                                x
                            } else {
                                f64::NAN
                            }
                        },
                    ))
                }
                Cells::Bool(x) => Value::Panel(v.with_bools(cells::zip(x, mask, |x, m| x && m))),
            }
        }
    })
}

fn to_panel_data(p: Panel) -> PanelData {
    let values = match p.cells {
        Cells::Float(v) => Rc::unwrap_or_clone(v),
        Cells::Bool(b) => cells::map(&b, one),
    };
    PanelData {
        name: "position".to_string(),
        dates: Rc::unwrap_or_clone(p.dates),
        columns: Rc::unwrap_or_clone(p.columns),
        values,
    }
}

/// Evaluates `$body` with `$f` bound to `op`'s comparison as a closure, in one arm per operator,
/// so each cell loop is compiled for its operator (no `match` per cell).
macro_rules! with_compare {
    ($op:expr, $f:ident => $body:expr) => {
        match $op {
            BinOp::Gt => {
                let $f = |a: f64, b: f64| a > b;
                $body
            }
            BinOp::Ge => {
                let $f = |a: f64, b: f64| a >= b;
                $body
            }
            BinOp::Lt => {
                let $f = |a: f64, b: f64| a < b;
                $body
            }
            BinOp::Le => {
                let $f = |a: f64, b: f64| a <= b;
                $body
            }
            BinOp::Eq => {
                let $f = |a: f64, b: f64| a == b;
                $body
            }
            _ => {
                let $f = |a: f64, b: f64| a != b;
                $body
            }
        }
    };
}

/// Like [`with_compare`], for `op`'s arithmetic.
macro_rules! with_arith {
    ($op:expr, $f:ident => $body:expr) => {
        match $op {
            BinOp::Add => {
                let $f = |a: f64, b: f64| a + b;
                $body
            }
            BinOp::Sub => {
                let $f = |a: f64, b: f64| a - b;
                $body
            }
            BinOp::Mul => {
                let $f = |a: f64, b: f64| a * b;
                $body
            }
            _ => {
                let $f = |a: f64, b: f64| a / b;
                $body
            }
        }
    };
}

mod fuse;

/// `a op b` for a comparison, as pandas answers it: NaN compares False, except `!=` (True).
fn compare(op: BinOp, a: f64, b: f64) -> bool {
    match op {
        BinOp::Gt => a > b,
        BinOp::Ge => a >= b,
        BinOp::Lt => a < b,
        BinOp::Le => a <= b,
        BinOp::Eq => a == b,
        _ => a != b,
    }
}

fn arith(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        _ => a / b,
    }
}

/// A flag as a number.
fn one(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// `f` applied to every cell, reusing the panel's buffer when it is the only reference.
fn map_floats(p: Panel, f: impl Fn(f64) -> f64) -> Panel {
    let (dates, columns) = (p.dates, p.columns);
    let v = match p.cells {
        Cells::Float(v) => match Rc::try_unwrap(v) {
            Ok(mut v) => {
                cells::update(&mut v, f);
                v
            }
            Err(shared) => cells::map(&shared, f),
        },
        Cells::Bool(b) => cells::map(&b, |x| f(one(x))),
    };
    Panel::float(dates, columns, v)
}

/// `f(cell, other)` cell by cell: in place when `p`'s float buffer is not shared, else into a
/// new buffer (one pass either way; a bool `p` reads as 0/1).
fn zip_float_cells<B: Copy>(p: Panel, other: &[B], f: impl Fn(f64, B) -> f64) -> Panel {
    let (dates, columns) = (p.dates, p.columns);
    let v = match p.cells {
        Cells::Float(v) => match Rc::try_unwrap(v) {
            Ok(mut v) => {
                cells::update_zip(&mut v, other, f);
                v
            }
            Err(shared) => cells::zip(&shared, other, f),
        },
        Cells::Bool(b) => cells::zip(&b, other, |x, y| f(one(x), y)),
    };
    Panel::float(dates, columns, v)
}

/// `f(a, b)` cell by cell over two panels on the same grid, writing into whichever buffer is
/// not shared. A bool operand (`score * (close > ma)`) is read as 0/1 where it is, not first
/// widened into a float panel of its own.
fn zip_floats(a: Panel, b: Panel, f: impl Fn(f64, f64) -> f64) -> Panel {
    let unique = |p: &Panel| matches!(&p.cells, Cells::Float(v) if Rc::strong_count(v) == 1);
    if !unique(&a) && unique(&b) {
        return match a.cells {
            Cells::Float(x) => zip_float_cells(b, &x, |y, x| f(x, y)),
            Cells::Bool(x) => zip_float_cells(b, &x, |y, x| f(one(x), y)),
        };
    }
    match b.cells {
        Cells::Float(y) => zip_float_cells(a, &y, f),
        Cells::Bool(y) => zip_float_cells(a, &y, |x, y| f(x, one(y))),
    }
}

fn binary(i: usize, op: BinOp, lhs: Value, rhs: Value) -> Result<Value, EvalError> {
    match (lhs, rhs) {
        (Value::Scalar(a), Value::Scalar(b)) => {
            if op.is_comparison() || op.is_logical() {
                return Err(type_err(i, "comparing two numbers gives no panel"));
            }
            Ok(Value::Scalar(arith(op, a, b)))
        }
        (Value::Series(d, v), Value::Scalar(s)) => series_scalar(i, op, d, &v, |x| arith(op, x, s)),
        (Value::Scalar(s), Value::Series(d, v)) => series_scalar(i, op, d, &v, |x| arith(op, s, x)),
        (Value::Panel(p), Value::Series(d, v)) => {
            // docs/semantics.md §5.1 step 1: a date-indexed Series is broadcast to every column.
            let mut cells = Vec::with_capacity(v.len() * p.columns.len());
            for _ in 0..p.columns.len() {
                cells.extend_from_slice(&v);
            }
            let broadcast = Panel::float(d, p.columns.clone(), cells);
            binary(i, op, Value::Panel(p), Value::Panel(broadcast))
        }
        (Value::Series(..), _) => Err(type_err(i, "a Series must be the right operand of a panel")),
        (Value::Panel(p), Value::Scalar(s)) => panel_scalar(i, op, p, s, false),
        (Value::Scalar(s), Value::Panel(p)) => panel_scalar(i, op, p, s, true),
        (Value::Panel(a), Value::Panel(b)) => {
            let (a, b) = align_owned(a, b);
            if op.is_logical() {
                let (Cells::Bool(x), Cells::Bool(y)) = (&a.cells, &b.cells) else {
                    return Err(type_err(
                        i,
                        format!("`{}` needs two bool panels", op.symbol()),
                    ));
                };
                let out = if op == BinOp::And {
                    cells::zip(x, y, |x, y| x && y)
                } else {
                    cells::zip(x, y, |x, y| x || y)
                };
                return Ok(Value::Panel(a.with_bools(out)));
            }
            if op.is_comparison() {
                let (x, y) = (a.floats(), b.floats());
                let out = with_compare!(op, f => cells::zip(&x, &y, f));
                Ok(Value::Panel(a.with_bools(out)))
            } else {
                Ok(Value::Panel(with_arith!(op, f => zip_floats(a, b, f))))
            }
        }
    }
}

/// Aligns two owned panels, keeping them (and their buffers) as they are on identical grids.
fn align_owned(a: Panel, b: Panel) -> (Panel, Panel) {
    if a.dates == b.dates && a.columns == b.columns {
        (a, b)
    } else {
        align(&a, &b)
    }
}

fn series_scalar(
    i: usize,
    op: BinOp,
    dates: Rc<Vec<i32>>,
    v: &[f64],
    f: impl Fn(f64) -> f64,
) -> Result<Value, EvalError> {
    if !matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div) {
        return Err(type_err(
            i,
            "a Series combines with numbers by arithmetic only",
        ));
    }
    Ok(Value::Series(
        dates,
        Rc::new(v.iter().map(|x| f(*x)).collect()),
    ))
}

fn panel_scalar(
    i: usize,
    op: BinOp,
    p: Panel,
    s: f64,
    scalar_left: bool,
) -> Result<Value, EvalError> {
    if op.is_logical() {
        return Err(type_err(
            i,
            format!("`{}` needs two bool panels", op.symbol()),
        ));
    }
    if op.is_comparison() {
        let x = p.floats();
        let out = if scalar_left {
            with_compare!(op, f => cells::map(&x, |v| f(s, v)))
        } else {
            with_compare!(op, f => cells::map(&x, |v| f(v, s)))
        };
        return Ok(Value::Panel(p.with_bools(out)));
    }
    Ok(Value::Panel(if scalar_left {
        with_arith!(op, f => map_floats(p, |v| f(s, v)))
    } else {
        with_arith!(op, f => map_floats(p, |v| f(v, s)))
    }))
}

/// The arguments of one operator call, read by parameter name with their registry kinds.
struct CallArgs<'a> {
    node: usize,
    spec: &'static OpSpec,
    args: &'a [Arg],
    values: &'a [Option<Value>],
    /// Compute only the rows read at these dates (see [`Plan::read_at`]); others NaN/False.
    read_at: Option<&'a [i32]>,
}

impl CallArgs<'_> {
    fn check_arity(&self) -> Result<(), EvalError> {
        if self.args.len() != self.spec.params.len() {
            return Err(type_err(
                self.node,
                format!(
                    "{} takes {} arguments, the plan gives {}",
                    self.spec.name,
                    self.spec.params.len(),
                    self.args.len()
                ),
            ));
        }
        Ok(())
    }

    fn arg(&self, name: &str) -> Result<&Arg, EvalError> {
        self.spec
            .param(name)
            .and_then(|k| self.args.get(k))
            .ok_or_else(|| type_err(self.node, format!("{} has no `{name}`", self.spec.name)))
    }

    fn int(&self, name: &str) -> Result<Option<i64>, EvalError> {
        let k = self.spec.param(name).unwrap_or(usize::MAX);
        match self.arg(name)? {
            Arg::None => Ok(None),
            Arg::Int(v) => {
                if let Some((lo, hi)) = self.spec.params[k].kind.range() {
                    if *v < lo || *v > hi {
                        return Err(type_err(
                            self.node,
                            format!("{}: `{name}` = {v} is outside {lo}..={hi}", self.spec.name),
                        ));
                    }
                }
                Ok(Some(*v))
            }
            _ => Err(self.wrong(name, "a whole number")),
        }
    }

    fn size(&self, name: &str) -> Result<Option<usize>, EvalError> {
        Ok(self.int(name)?.map(|v| v.max(1) as usize))
    }

    fn float(&self, name: &str) -> Result<Option<f64>, EvalError> {
        match self.arg(name)? {
            Arg::None => Ok(None),
            Arg::Float(v) => Ok(Some(*v)),
            Arg::Int(v) => Ok(Some(*v as f64)),
            _ => Err(self.wrong(name, "a number")),
        }
    }

    fn flag(&self, name: &str) -> Result<bool, EvalError> {
        match self.arg(name)? {
            Arg::Bool(b) => Ok(*b),
            _ => Err(self.wrong(name, "a bool")),
        }
    }

    fn text(&self, name: &str) -> Result<&str, EvalError> {
        match self.arg(name)? {
            Arg::Str(s) => Ok(s),
            _ => Err(self.wrong(name, "a string")),
        }
    }

    fn value(&self, name: &str) -> Result<Option<&Value>, EvalError> {
        match self.arg(name)? {
            Arg::None => Ok(None),
            Arg::Node(n) => get(self.values, self.node, *n).map(Some),
            Arg::Float(_) | Arg::Int(_) => Err(self.wrong(name, "a panel")),
            _ => Err(self.wrong(name, "a panel")),
        }
    }

    fn panel(&self, name: &str) -> Result<Option<&Panel>, EvalError> {
        match self.value(name)? {
            None => Ok(None),
            Some(Value::Panel(p)) => Ok(Some(p)),
            Some(_) => Err(self.wrong(name, "a panel")),
        }
    }

    fn wrong(&self, name: &str, what: &str) -> EvalError {
        type_err(
            self.node,
            format!("{}: `{name}` must be {what}", self.spec.name),
        )
    }
}

/// A rolling-window statistic that runs column by column with no state across columns:
/// `average(n)` (finlab: `rolling(n, min_periods=n // 2).mean()`, §5.3) and
/// `rolling(window, min_periods).mean()/.sum()/.max()/.min()`. A fused chain computes it a
/// pair of columns at a time (see `fuse`).
#[derive(Clone, Copy)]
pub(super) struct Rolling {
    stat: Stat,
    window: usize,
    min_periods: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Stat {
    Mean,
    Sum,
    Max,
    Min,
}

impl Rolling {
    /// The statistic a call computes; an error for any other op.
    fn of(call: &CallArgs) -> Result<Rolling, EvalError> {
        let stat = match call.spec.id {
            OpId::Average => {
                let n = call.size("n")?.unwrap_or(1);
                return Ok(Rolling {
                    stat: Stat::Mean,
                    window: n,
                    min_periods: n / 2,
                });
            }
            OpId::RollingMean => Stat::Mean,
            OpId::RollingSum => Stat::Sum,
            OpId::RollingMax => Stat::Max,
            OpId::RollingMin => Stat::Min,
            _ => {
                return Err(type_err(
                    call.node,
                    format!("{} is not a rolling statistic", call.spec.name),
                ))
            }
        };
        let window = call.size("window")?.unwrap_or(1);
        Ok(Rolling {
            stat,
            window,
            min_periods: call.size("min_periods")?.unwrap_or(window),
        })
    }

    /// Node `i` as `(receiver, statistic)` when it is a well-formed call of a rolling
    /// statistic on a receiver (anything else: `None`, and the node-by-node evaluation reports
    /// what is wrong).
    pub(super) fn of_node(
        plan: &Plan,
        i: usize,
        values: &[Option<Value>],
    ) -> Option<(usize, Rolling)> {
        let Node::Call {
            op,
            recv: Some(recv),
            args,
            prices,
            ..
        } = plan.nodes.get(i)?
        else {
            return None;
        };
        if !prices.is_empty() || !Self::is_rolling(*op) {
            return None;
        }
        let call = CallArgs {
            node: i,
            spec: op.spec(),
            args,
            values,
            read_at: None,
        };
        call.check_arity().ok()?;
        Some((*recv, Rolling::of(&call).ok()?))
    }

    /// Whether `op` is one of the statistics [`Rolling`] computes.
    pub(super) fn is_rolling(op: OpId) -> bool {
        matches!(
            op,
            OpId::Average
                | OpId::RollingMean
                | OpId::RollingSum
                | OpId::RollingMax
                | OpId::RollingMin
        )
    }

    /// The statistic of every column of a column-major panel of `rows` rows, into `out`.
    pub(super) fn panel(&self, x: &[f64], rows: usize, out: &mut [f64]) {
        let (w, m) = (self.window, self.min_periods);
        match self.stat {
            Stat::Mean | Stat::Sum => {
                kernels::rolling_sum_mean_panel(x, rows, w, m, self.stat == Stat::Mean, out)
            }
            Stat::Max | Stat::Min => {
                kernels::rolling_extreme_panel(x, rows, w, m, self.stat == Stat::Max, out)
            }
        }
    }
}

fn receiver<'a>(call: &CallArgs, recv: Option<&'a Panel>) -> Result<&'a Panel, EvalError> {
    recv.ok_or_else(|| type_err(call.node, format!("{} needs a receiver", call.spec.name)))
}

/// The value `n` rows earlier, per column (NaN, or False for bools, before the first `n` rows).
fn shift(p: &Panel, n: usize) -> Panel {
    let rows = p.rows();
    let k = p.columns.len();
    let lead = n.min(rows);
    match &p.cells {
        Cells::Float(v) => {
            let mut out = Vec::with_capacity(v.len());
            for c in 0..k {
                out.extend(std::iter::repeat_n(f64::NAN, lead));
                out.extend_from_slice(&v[c * rows..(c + 1) * rows - lead]);
            }
            p.with_floats(out)
        }
        Cells::Bool(v) => {
            let mut out = Vec::with_capacity(v.len());
            for c in 0..k {
                out.extend(std::iter::repeat_n(false, lead));
                out.extend_from_slice(&v[c * rows..(c + 1) * rows - lead]);
            }
            p.with_bools(out)
        }
    }
}

fn dispatch(call: &CallArgs, recv: Option<&Panel>, prices: &[&Panel]) -> Result<Value, EvalError> {
    let op = call.spec.id;
    let i = call.node;
    let p = receiver(call, recv)?;
    let panel = match op {
        OpId::Average
        | OpId::RollingMean
        | OpId::RollingSum
        | OpId::RollingMax
        | OpId::RollingMin => {
            let r = Rolling::of(call)?;
            p.map_panel(|x, rows, out| r.panel(x, rows, out))
        }
        OpId::RollingStd | OpId::RollingMedian => {
            let w = call.size("window")?.unwrap_or(1);
            let m = call.size("min_periods")?.unwrap_or(w);
            p.map_columns(|c| {
                kernels::from_first_value(c, |c| match op {
                    OpId::RollingStd => kernels::rolling_std(c, w, m),
                    _ => kernels::rolling_median(c, w, m),
                })
            })
        }
        OpId::Shift => shift(p, call.size("periods")?.unwrap_or(1)),
        OpId::PctChange | OpId::Diff => {
            let n = call.size("periods")?.unwrap_or(1);
            p.map_columns(|c| {
                c.iter()
                    .zip(kernels::shifted(c, n))
                    .map(|(x, y)| if op == OpId::Diff { x - y } else { x / y - 1.0 })
                    .collect()
            })
        }
        OpId::Rise | OpId::Fall => {
            let n = call.size("nwindow")?.unwrap_or(1);
            let cmp = if op == OpId::Rise {
                BinOp::Gt
            } else {
                BinOp::Lt
            };
            let x = p.floats();
            let before = shift(&p.with_floats(x.to_vec()), n).floats();
            p.with_bools(
                x.iter()
                    .zip(before.iter())
                    .map(|(a, b)| compare(cmp, *a, *b))
                    .collect(),
            )
        }
        OpId::Sustain => {
            let w = call.size("nwindow")?.unwrap_or(1);
            let need = call.size("nsatisfy")?.unwrap_or(w);
            if let Cells::Bool(b) = &p.cells {
                // A count of true cells in the window: exact, no float sums.
                return Ok(Value::Panel(p.with_bools(kernels::sustain_bools(
                    b,
                    p.rows(),
                    w,
                    need,
                ))));
            }
            let sums = p
                .map_columns(|c| kernels::rolling_sum_mean(c, w, w, false))
                .floats();
            p.with_bools(sums.iter().map(|s| *s >= need as f64).collect())
        }
        OpId::IsLargest | OpId::IsSmallest => {
            let n = call.size("n")?.unwrap_or(1);
            let largest = op == OpId::IsLargest;
            p.with_bools(match call.read_at {
                // The read rows as a panel of their own (rows are independent), put back.
                Some(d) => {
                    let read = read_rows(&p.dates, d);
                    let sub = select_per_row(&p.take_rows(&read), n, largest);
                    spread_rows(&sub, &read, p.rows(), false)
                }
                None => select_per_row(p, n, largest),
            })
        }
        OpId::Rank => {
            let pct = call.flag("pct")?;
            let asc = call.flag("ascending")?;
            let method = kernels::RankMethod::parse(call.text("method")?);
            let mut scratch = kernels::RankScratch::default();
            let rank = |row: &[f64], out: &mut [f64]| {
                kernels::rank_row_with(row, method, asc, pct, out, &mut scratch)
            };
            match call.read_at {
                Some(d) => {
                    let read = read_rows(&p.dates, d);
                    let sub = p.take_rows(&read).map_rows(rank).floats();
                    p.with_floats(spread_rows(&sub, &read, p.rows(), f64::NAN))
                }
                None => p.map_rows(rank),
            }
        }
        OpId::QuantileRow => {
            let q = call.float("c")?.unwrap_or(0.5);
            let rows = p.row_major();
            let k = p.columns.len().max(1);
            let values = rows
                .chunks(k)
                .map(|row| kernels::quantile(row, q))
                .collect();
            return Ok(Value::Series(p.dates.clone(), Rc::new(values)));
        }
        OpId::IsEntry | OpId::IsExit => {
            let b = p.bools();
            let rows = p.rows();
            let out = (0..b.len())
                .map(|idx| {
                    let prev = idx % rows.max(1) > 0 && b[idx - 1];
                    if op == OpId::IsEntry {
                        b[idx] && !prev
                    } else {
                        !b[idx] && prev
                    }
                })
                .collect();
            p.with_bools(out)
        }
        OpId::HoldUntil => return hold_until(call, p, prices).map(Value::Panel),
        OpId::Fillna => {
            let v = call.float("value")?.unwrap_or(0.0);
            match &p.cells {
                Cells::Bool(_) => p.clone(),
                Cells::Float(x) => {
                    p.with_floats(x.iter().map(|x| if x.is_nan() { v } else { *x }).collect())
                }
            }
        }
        OpId::Ffill => match &p.cells {
            Cells::Bool(_) => p.clone(),
            Cells::Float(_) => p.map_columns(kernels::ffill),
        },
        OpId::Abs => p.with_floats(cells::map(&p.floats(), f64::abs)),
        OpId::Log => p.with_floats(p.floats().iter().map(|x| x.ln()).collect()),
        OpId::Clip => {
            let lo = call.float("lower")?.unwrap_or(f64::NEG_INFINITY);
            let hi = call.float("upper")?.unwrap_or(f64::INFINITY);
            // f64::max/min would replace a missing value by the bound; pandas keeps NaN.
            p.with_floats(
                p.floats()
                    .iter()
                    .map(|x| {
                        if x.is_nan() {
                            *x
                        } else {
                            kernels::min(kernels::max(*x, lo), hi)
                        }
                    })
                    .collect(),
            )
        }
        OpId::Where => {
            let cond = call
                .panel("cond")?
                .ok_or_else(|| type_err(i, "where needs `cond`"))?;
            let other = call.float("other")?.unwrap_or(f64::NAN);
            // pandas `where`: the condition is matched to the receiver by exact date and stock;
            // a missing label counts as False.
            let mask = exact_mask(p, cond);
            p.with_floats(
                p.floats()
                    .iter()
                    .zip(mask.iter())
                    .map(|(x, keep)| if *keep { *x } else { other })
                    .collect(),
            )
        }
        OpId::IndustryRank => {
            let groups = prices
                .first()
                .ok_or_else(|| type_err(i, "industry_rank needs the industry table"))?;
            industry_rank(p, groups)
        }
        OpId::Maximum | OpId::Minimum => {
            let pick = |a: f64, b: f64| {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else if op == OpId::Maximum {
                    kernels::max(a, b)
                } else {
                    kernels::min(a, b)
                }
            };
            match call.arg("other")? {
                Arg::Float(s) => {
                    let s = *s;
                    p.with_floats(p.floats().iter().map(|x| pick(*x, s)).collect())
                }
                _ => {
                    let q = call
                        .panel("other")?
                        .ok_or_else(|| type_err(i, "maximum/minimum need `other`"))?;
                    let (a, b) = outer_align(p, q);
                    let (x, y) = (a.floats(), b.floats());
                    a.with_floats(x.iter().zip(y.iter()).map(|(x, y)| pick(*x, *y)).collect())
                }
            }
        }
        OpId::Rsi | OpId::Macd | OpId::Stoch | OpId::Bbands | OpId::Atr | OpId::Willr => {
            return Err(type_err(i, "an indicator has no receiver"))
        }
    };
    Ok(Value::Panel(panel))
}

fn hold_until(call: &CallArgs, entry: &Panel, prices: &[&Panel]) -> Result<Panel, EvalError> {
    let i = call.node;
    let exit = call
        .panel("exit")?
        .ok_or_else(|| type_err(i, "hold_until needs `exit`"))?;
    let rank = call.panel("rank")?;
    let opts = HoldOptions {
        nstocks_limit: call.size("nstocks_limit")?,
        stop_loss: call.float("stop_loss")?,
        take_profit: call.float("take_profit")?,
        trail_stop: call.float("trail_stop")?,
        trail_stop_activation: call.float("trail_stop_activation")?,
    };
    let stops = opts.stop_loss.is_some() || opts.take_profit.is_some() || opts.trail_stop.is_some();
    let price = match (stops, prices.first()) {
        (true, Some(p)) => Some(*p),
        (true, None) => return Err(type_err(i, "hold_until stops need the adjusted close")),
        _ => None,
    };
    let frames: Vec<Frame> = [Some(entry), Some(exit), rank, price]
        .into_iter()
        .flatten()
        .map(|p| Frame {
            dates: &p.dates,
            columns: &p.columns,
            values: match &p.cells {
                Cells::Float(v) => hold::Cells::Float(v),
                Cells::Bool(b) => hold::Cells::Bool(b),
            },
        })
        .collect();
    let rank_frame = rank.map(|_| &frames[2]);
    let price_frame = price.map(|_| &frames[frames.len() - 1]);
    let held = hold::hold_until(&frames[0], &frames[1], rank_frame, price_frame, opts);
    Ok(Panel::boolean(
        Rc::new(held.dates),
        Rc::new(held.columns),
        held.values,
    ))
}

/// finlab's `industry_rank`: per date, each stock's `rank(pct=True)` among the stocks of each
/// industry it belongs to (one row of `groups` per industry, 1 = member), averaged over its
/// industries; the output has the stocks with an industry, sorted by symbol (as finlab's
/// grouping returns them).
fn industry_rank(p: &Panel, groups: &Panel) -> Panel {
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

/// Bars without a price after which finlab treats a stock as gone (its delisting rule).
const UNPRICED_BARS: usize = 20;

/// A TA-Lib indicator computed per stock on forward-filled prices: every output.
fn indicator(call: &CallArgs, prices: &[&Panel]) -> Result<Vec<Panel>, EvalError> {
    let i = call.node;
    let op = call.spec.id;
    if prices.len() != call.spec.prices.len() || prices.is_empty() {
        return Err(type_err(
            i,
            format!(
                "{} needs {} price panels",
                call.spec.name,
                call.spec.prices.len()
            ),
        ));
    }
    // All price panels onto one grid (they normally share it already).
    let mut aligned: Vec<Panel> = vec![prices[0].clone()];
    for p in &prices[1..] {
        let (a, b) = align(&aligned[0], p);
        aligned = aligned.iter().map(|x| align(x, &a).0).collect();
        aligned.push(b);
    }
    let like = aligned[0].clone();
    let rows = like.rows();
    let raw: Vec<Rc<Vec<f64>>> = aligned.iter().map(Panel::floats).collect();
    let n = |name: &str| -> Result<usize, EvalError> { Ok(call.size(name)?.unwrap_or(1)) };
    // The close is the last price input; stocks never priced are left out (as finlab does), and
    // cells after 20 or more bars without a close are NaN (finlab's unpriced mask).
    let close = &raw[raw.len() - 1];
    let outputs = call.spec.outputs.len().max(1);
    let mut cells: Vec<Vec<f64>> = vec![Vec::with_capacity(rows * like.columns.len()); outputs];
    let mut kept = Vec::with_capacity(like.columns.len());
    for c in 0..like.columns.len() {
        let range = c * rows..(c + 1) * rows;
        let close_raw = &close[range.clone()];
        if close_raw.iter().all(|v| v.is_nan()) {
            continue;
        }
        kept.push(like.columns[c].clone());
        let ffilled: Vec<Vec<f64>> = raw
            .iter()
            .map(|v| kernels::ffill(&v[range.clone()]))
            .collect();
        let x = |k: usize| ffilled[k].as_slice();
        let mut outs = match op {
            OpId::Rsi => talib::rsi(x(0), n("timeperiod")?),
            OpId::Macd => talib::macd(x(0), n("fastperiod")?, n("slowperiod")?, n("signalperiod")?),
            OpId::Stoch => talib::stoch(
                x(0),
                x(1),
                x(2),
                n("fastk_period")?,
                n("slowk_period")?,
                n("slowd_period")?,
            ),
            OpId::Bbands => talib::bbands(
                x(0),
                n("timeperiod")?,
                call.float("nbdevup")?.unwrap_or(2.0),
                call.float("nbdevdn")?.unwrap_or(2.0),
            ),
            OpId::Atr => talib::atr(x(0), x(1), x(2), n("timeperiod")?),
            OpId::Willr => talib::willr(x(0), x(1), x(2), n("timeperiod")?),
            _ => {
                return Err(type_err(
                    i,
                    format!("{} is not an indicator", call.spec.name),
                ))
            }
        };
        if outs.len() != outputs {
            return Err(type_err(
                i,
                format!("{} gave {} outputs", call.spec.name, outs.len()),
            ));
        }
        for (values, cells) in outs.iter_mut().zip(cells.iter_mut()) {
            let mut gap = 0usize;
            for (v, raw) in values.iter_mut().zip(close_raw) {
                gap = if raw.is_nan() { gap + 1 } else { 0 };
                if gap >= UNPRICED_BARS {
                    *v = f64::NAN;
                }
            }
            cells.extend_from_slice(values);
        }
    }
    let columns = Rc::new(kept);
    Ok(cells
        .into_iter()
        .map(|c| Panel::float(like.dates.clone(), columns.clone(), c))
        .collect())
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

    fn panel(dates: Vec<i32>, cols: &[&str], values: Vec<f64>) -> PanelData {
        PanelData {
            name: "t".into(),
            dates,
            columns: cols.iter().map(|s| s.to_string()).collect(),
            values,
        }
    }

    fn plan(inputs: usize, nodes: Vec<Node>) -> Plan {
        let mut p = Plan::new();
        p.inputs = (0..inputs).map(|i| format!("k{i}")).collect();
        p.output = nodes.len() - 1;
        p.nodes = nodes;
        p
    }

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

    #[test]
    fn average_needs_half_the_window() {
        let nan = f64::NAN;
        let data = panel(vec![0, 1, 2, 3], &["a"], vec![1.0, nan, 3.0, 5.0]);
        let p = plan(
            1,
            vec![
                Node::Load { input: 0 },
                Node::Call {
                    op: OpId::Average,
                    recv: Some(0),
                    args: vec![Arg::Int(4)],
                    prices: vec![],
                    out: 0,
                },
            ],
        );
        let out = evaluate(&p, vec![data]).unwrap();
        // min_periods = 2: row0 has 1 valid, row1 1 valid, row2 2 valid → mean(1,3)=2, row3 → 3.
        assert!(out.values[0].is_nan() && out.values[1].is_nan());
        assert_eq!(&out.values[2..], &[2.0, 3.0]);
    }

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

    #[test]
    fn is_largest_breaks_ties_by_column_order() {
        let nan = f64::NAN;
        // one row, columns a..d with values 1, 3, 3, NaN
        let data = panel(vec![0], &["a", "b", "c", "d"], vec![1.0, 3.0, 3.0, nan]);
        let p = plan(
            1,
            vec![
                Node::Load { input: 0 },
                Node::Call {
                    op: OpId::IsLargest,
                    recv: Some(0),
                    args: vec![Arg::Int(1)],
                    prices: vec![],
                    out: 0,
                },
            ],
        );
        let out = evaluate(&p, vec![data.clone()]).unwrap();
        assert_eq!(out.values, vec![0.0, 1.0, 0.0, 0.0]);
        let p5 = plan(
            1,
            vec![
                Node::Load { input: 0 },
                Node::Call {
                    op: OpId::IsLargest,
                    recv: Some(0),
                    args: vec![Arg::Int(5)],
                    prices: vec![],
                    out: 0,
                },
            ],
        );
        let out = evaluate(&p5, vec![data]).unwrap();
        assert_eq!(out.values, vec![1.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn alignment_unions_dates_from_later_start_and_intersects_columns() {
        // daily a on days 0..4, "monthly" b on days 1 and 3 with columns y, x
        let a = panel(
            vec![0, 1, 2, 3],
            &["x", "y", "z"],
            vec![1., 2., 3., 4., 10., 20., 30., 40., 0., 0., 0., 0.],
        );
        let b = panel(vec![1, 3], &["y", "x"], vec![15., 35., 2., 3.]);
        let p = plan(
            2,
            vec![
                Node::Load { input: 0 },
                Node::Load { input: 1 },
                Node::Binary {
                    op: BinOp::Gt,
                    lhs: 0,
                    rhs: 1,
                },
            ],
        );
        let out = evaluate(&p, vec![a, b]).unwrap();
        assert_eq!(out.dates, vec![1, 2, 3]);
        assert_eq!(out.columns, vec!["x".to_string(), "y".to_string()]);
        // x: [2,3,4] > [2,2,3] ; y: [20,30,40] > [15,15,35]
        assert_eq!(out.values, vec![0., 1., 1., 1., 1., 1.]);
    }

    #[test]
    fn nan_comparisons_and_mask() {
        let nan = f64::NAN;
        let a = panel(vec![0, 1, 2], &["x"], vec![nan, 0.0, 2.0]);
        let p = plan(
            1,
            vec![
                Node::Load { input: 0 },
                Node::Scalar { value: 0.0 },
                Node::Binary {
                    op: BinOp::Ne,
                    lhs: 0,
                    rhs: 1,
                },
                Node::Binary {
                    op: BinOp::Div,
                    lhs: 1,
                    rhs: 0,
                },
                Node::Mask { value: 3, cond: 2 },
            ],
        );
        let out = evaluate(&p, vec![a]).unwrap();
        // NaN != 0 is True (pandas), 0/NaN is NaN; 0/0 → NaN; 0/2 = 0 and 2 != 0.
        assert!(out.values[0].is_nan() && out.values[1].is_nan());
        assert_eq!(out.values[2], 0.0);
    }
}
