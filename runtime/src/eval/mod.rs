//! The plan evaluator: runs a [`Plan`] over input panels and returns the position panel.
//! Semantics follow `docs/semantics.md` §5 (alignment §5.1, methods §5.3) and were
//! checked against finlab 2.2.20 (`tests/parity.rs`). Panels are dense column-major arrays
//! ([`crate::panel`]): a missing value is NaN, as in pandas, so arithmetic and comparisons need
//! no special cases, and every kernel is a plain loop the compiler can vectorize.
//!
//! Here: the run loop (each value freed after its last reader) and the node evaluation.
//! [`binary`] has the element-wise nodes, [`dispatch`] the operator calls (decoded by
//! [`args`]; selection in [`select`], TA-Lib in [`indicator`]), [`fuse`] the fused element-wise
//! chains and [`restrict`] the read-row restriction.

#[macro_use]
mod macros;
mod args;
mod binary;
mod dispatch;
mod elementwise;
mod fuse;
mod indicator;
mod restrict;
pub mod reuse;
mod select;
mod windows;

use std::rc::Rc;

use crate::cells;
use crate::panel::{Cells, Panel};
use crate::plan::{Node, Plan, PlanError};
use crate::wire::PanelData;
use restrict::Restriction;
use reuse::{Planned, Reuse};

pub use restrict::read_rows;

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
    /// A date selection (`x.loc[start:end]`) that keeps none of its panel's rows.
    #[error("`.loc[{range}]` keeps none of the panel's dates ({first} … {last})")]
    NoDates {
        range: String,
        first: String,
        last: String,
    },
}

/// Indicator outputs already computed in this evaluation, by call, and the outputs of each
/// call that nodes computed by this evaluation read (the others are not built).
#[derive(Default)]
struct IndicatorCache {
    computed: std::collections::HashMap<String, Rc<Vec<Option<Panel>>>>,
    wanted: std::collections::HashMap<String, Vec<usize>>,
}

impl IndicatorCache {
    /// A cache for `plan`, whose nodes marked in `computes` are evaluated (not read).
    fn new(plan: &Plan, computes: impl Fn(usize) -> bool) -> IndicatorCache {
        let mut wanted: std::collections::HashMap<String, Vec<usize>> = Default::default();
        for (i, node) in plan.nodes.iter().enumerate() {
            if let Node::Call {
                recv: None, out, ..
            } = node
            {
                if computes(i) {
                    wanted
                        .entry(dispatch::call_key(node))
                        .or_default()
                        .push(*out);
                }
            }
        }
        IndicatorCache {
            computed: Default::default(),
            wanted,
        }
    }
}

#[derive(Clone)]
pub(crate) enum Value {
    Scalar(f64),
    Panel(Panel),
    /// A Series indexed by date (one value per row): a one-column panel (floats or bools), so
    /// the time-series kernels apply to it unchanged.
    Series(Panel),
}

/// The column name of a Series held as a one-column panel.
pub(crate) const SERIES_COLUMN: &str = "";

/// A Series of `values` on `dates`.
pub(crate) fn series(dates: Rc<Vec<i32>>, values: Vec<f64>) -> Value {
    Value::Series(Panel::float(
        dates,
        Rc::new(vec![SERIES_COLUMN.to_string()]),
        values,
    ))
}

/// Evaluates `plan` on `inputs` (one panel per [`Plan::inputs`] entry, same order).
pub fn evaluate(plan: &Plan, inputs: Vec<PanelData>) -> Result<PanelData, EvalError> {
    evaluate_panel(plan, shared(inputs), true, None).map(to_panel_data)
}

/// [`evaluate`] reading and keeping intermediate results in `reuse` (see [`reuse`]): the
/// same bits as [`evaluate`].
pub fn evaluate_reusing(
    plan: &Plan,
    inputs: Vec<SharedPanelData>,
    reuse: &mut Reuse,
) -> Result<PanelData, EvalError> {
    evaluate_panel(plan, inputs, true, Some(reuse)).map(to_panel_data)
}

/// [`evaluate`] node by node, without fusing element-wise chains (the reference the fused
/// evaluation is tested against).
pub fn evaluate_unfused(plan: &Plan, inputs: Vec<PanelData>) -> Result<PanelData, EvalError> {
    evaluate_panel(plan, shared(inputs), false, None).map(to_panel_data)
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
/// cell), as the guest returns it; with `reuse`, reading and keeping intermediate results.
pub fn evaluate_encoded(
    plan: &Plan,
    inputs: Vec<SharedPanelData>,
    reuse: Option<&mut Reuse>,
) -> Result<Vec<u8>, EvalError> {
    let p = evaluate_panel(plan, inputs, true, reuse)?;
    Ok(match &p.cells {
        Cells::Bool(b) => crate::wire::encode_flags("position", &p.dates, &p.columns, b),
        Cells::Float(_) => crate::wire::encode(&[&to_panel_data(p)]),
    })
}

fn evaluate_panel(
    plan: &Plan,
    inputs: Vec<SharedPanelData>,
    fuse: bool,
    mut reuse: Option<&mut Reuse>,
) -> Result<Panel, EvalError> {
    plan.validate()?;
    if let Some(restriction) = plan
        .read_at
        .as_deref()
        .and_then(|dates| Restriction::new(plan, dates))
    {
        let again = reuse.as_deref_mut();
        if let (p, true) = run(plan, inputs.clone(), fuse, Some(restriction), again)? {
            return Ok(p);
        }
    }
    run(plan, inputs, fuse, None, reuse).map(|(p, _)| p)
}

/// Evaluates the plan, cross-sectional nodes on the read rows only when `restriction` is
/// given; `false` when the restriction turned out not to hold (a value on the way from a
/// restricted node to the output was on other dates), and the result is then not to be used.
/// With `reuse`, nodes whose value is stored are read instead of computed (with the nodes
/// only they need), and costly computed values are stored.
fn run<'p>(
    plan: &'p Plan,
    inputs: Vec<SharedPanelData>,
    fuse: bool,
    mut restriction: Option<Restriction<'p>>,
    mut reuse: Option<&mut Reuse>,
) -> Result<(Panel, bool), EvalError> {
    if inputs.len() != plan.inputs.len() {
        return Err(EvalError::Inputs {
            expected: plan.inputs.len(),
            got: inputs.len(),
        });
    }
    let mut inputs: Vec<Option<SharedPanelData>> = inputs.into_iter().map(Some).collect();
    let marks = restriction.as_ref().map(|r| r.marks());
    let Found {
        planned,
        mut stored,
        needed,
        leaves,
    } = look_up(plan, reuse.as_deref_mut(), marks);
    let groups = fuse::groups(plan, fuse, &leaves);
    let last_use = last_uses(plan, &groups, &needed, &leaves);
    let mut values: Vec<Option<Value>> = vec![None; plan.nodes.len()];
    let mut indicators = IndicatorCache::new(plan, |i| needed[i] && stored[i].is_none());
    let trace = Trace::new();
    for i in 0..plan.nodes.len() {
        if groups.inlined[i] || !needed[i] {
            continue;
        }
        if let Some(v) = stored[i].take() {
            if let Some(r) = restriction.as_mut() {
                r.note(plan, i, &v);
            }
            values[i] = Some(v);
            continue;
        }
        let started = trace.start();
        let members = &groups.members[i];
        let rolls = match (&planned, reuse.as_deref_mut()) {
            (Some(planned), Some(r)) => Some(reuse::Rolls {
                planned,
                store: &mut *r.store,
            }),
            _ => None,
        };
        let mut state = State {
            plan,
            last_use: &last_use,
            values: &mut values,
            inputs: &mut inputs,
            indicators: &mut indicators,
            restriction: &mut restriction,
            rolls,
        };
        let v = state.eval_chain(i, members, &groups)?;
        if let Some(r) = restriction.as_mut() {
            r.note(plan, i, &v);
        }
        trace.node(plan, i, members, started);
        // A value computed after the restriction broke may rest on a value that missed dates;
        // one found in the store is never checked inside again, so it is not kept. Nor is a
        // value with the read rows only (see `Restriction::is_compact`).
        let sound = restriction
            .as_ref()
            .is_none_or(|r| !r.broken && !r.is_compact(i));
        if let (Some(p), Some(r), true) = (&planned, reuse.as_deref_mut(), sound) {
            p.computed(r.store, plan, i, members.len(), &v);
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

/// What the reuse store gives one run.
struct Found {
    /// The nodes' keys (`None` without reuse).
    planned: Option<Planned>,
    /// The value of each node read from the store instead of computed.
    stored: Vec<Option<Value>>,
    /// The nodes computed or read.
    needed: Vec<bool>,
    /// The nodes read from the store.
    leaves: Vec<bool>,
}

/// Looks up the plan's nodes in the store: the nodes found and needed are read, and the nodes
/// only they needed are not evaluated.
fn look_up(plan: &Plan, reuse: Option<&mut Reuse>, marks: Option<(&[bool], &[i32])>) -> Found {
    let n = plan.nodes.len();
    let Some(reuse) = reuse else {
        return Found {
            planned: None,
            stored: vec![None; n],
            needed: needed(plan, &vec![false; n]),
            leaves: vec![false; n],
        };
    };
    let mut planned = Planned::new(plan, reuse, marks);
    let mut stored = std::mem::take(&mut planned.found);
    let hit: Vec<bool> = stored.iter().map(Option::is_some).collect();
    let needed = needed(plan, &hit);
    let leaves: Vec<bool> = (0..n).map(|i| hit[i] && needed[i]).collect();
    for (v, _) in stored.iter_mut().zip(&leaves).filter(|(_, l)| !**l) {
        *v = None;
    }
    reuse.store.stats.hits += leaves.iter().filter(|&&l| l).count() as u32;
    Found {
        planned: Some(planned),
        stored,
        needed,
        leaves,
    }
}

/// The nodes the output needs computed or read: the output, and the operands of every needed
/// node that is not read from the store (`hit`).
fn needed(plan: &Plan, hit: &[bool]) -> Vec<bool> {
    let mut needed = vec![false; plan.nodes.len()];
    if let Some(n) = needed.get_mut(plan.output) {
        *n = true;
    }
    for i in (0..plan.nodes.len()).rev() {
        if needed[i] && !hit[i] {
            for op in plan.nodes[i].operands() {
                needed[op] = true;
            }
        }
    }
    needed
}

/// For each node, the node its value is last read at: every value is freed after its last
/// reader, so peak memory follows the live set, not the plan (a node inlined into a fused chain
/// reads its operands when the chain is evaluated). Only nodes that are computed (`needed`
/// and not `read` from the store) read their operands.
fn last_uses(plan: &Plan, groups: &fuse::Groups, needed: &[bool], read: &[bool]) -> Vec<usize> {
    let mut last_use = vec![0usize; plan.nodes.len()];
    for (i, node) in plan.nodes.iter().enumerate() {
        if !needed[i] || read[i] {
            continue;
        }
        for op in node.operands() {
            last_use[op] = last_use[op].max(groups.at[i]);
        }
    }
    last_use
}

/// `DSL_EVAL_TRACE` (native only): each node's time, on stderr.
#[cfg(not(target_arch = "wasm32"))]
struct Trace(bool);

#[cfg(not(target_arch = "wasm32"))]
impl Trace {
    fn new() -> Trace {
        Trace(std::env::var_os("DSL_EVAL_TRACE").is_some())
    }

    fn start(&self) -> Option<std::time::Instant> {
        self.0.then(std::time::Instant::now)
    }

    // The native trace (`DSL_EVAL_TRACE`) is a developer's profile on stderr, not CLI output.
    #[allow(clippy::print_stderr)]
    fn node(&self, plan: &Plan, i: usize, members: &[usize], started: Option<std::time::Instant>) {
        let Some(started) = started else { return };
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
}

/// The guest has no clock and no stderr to trace to.
#[cfg(target_arch = "wasm32")]
struct Trace;

#[cfg(target_arch = "wasm32")]
impl Trace {
    fn new() -> Trace {
        Trace
    }

    fn start(&self) -> Option<()> {
        None
    }

    fn node(&self, _: &Plan, _: usize, _: &[usize], _: Option<()>) {}
}

/// What evaluating a node reads and updates.
struct State<'p, 's> {
    plan: &'p Plan,
    last_use: &'s [usize],
    values: &'s mut [Option<Value>],
    inputs: &'s mut [Option<SharedPanelData>],
    indicators: &'s mut IndicatorCache,
    restriction: &'s mut Option<Restriction<'p>>,
    /// The reuse store, for the rolling statistics of chains on the read rows.
    rolls: Option<reuse::Rolls<'s>>,
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
            let read_at = self.restriction.as_ref().and_then(|r| r.read_at_for(root));
            if let Some((v, full)) = fuse::evaluate(
                self.plan,
                root,
                members,
                self.values,
                read_at,
                self.rolls.as_mut(),
            ) {
                if let (Some(r), Some(full)) = (self.restriction.as_mut(), full) {
                    r.compacted(root, full);
                }
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
        self.eval_node(root)
    }

    /// Evaluates node `i` on the values so far (a restricted call on the read rows only).
    fn eval_node(&mut self, i: usize) -> Result<Value, EvalError> {
        let node = &self.plan.nodes[i];
        let mut scope = self.last_reads(i);
        let read_at = self
            .restriction
            .as_ref()
            .and_then(|r| r.call_rows(self.plan, i));
        let values = &*self.values;
        let mut operand = |id: usize| take(values, &mut scope, i, id);
        Ok(match node {
            Node::Load { input } => load(i, *input, self.inputs)?,
            Node::Scalar { value } => Value::Scalar(*value),
            Node::Neg { arg } => binary::neg(operand(*arg)?),
            Node::Not { arg } => binary::not(i, operand(*arg)?)?,
            Node::Binary { op, lhs, rhs } => {
                let (l, r) = (operand(*lhs)?, operand(*rhs)?);
                binary::binary(i, *op, l, r)?
            }
            Node::Mask { value, cond } => {
                let (v, c) = (operand(*value)?, operand(*cond)?);
                binary::mask(i, v, c)?
            }
            Node::Call { .. } => dispatch::call(i, node, values, self.indicators, read_at)?,
        })
    }

    /// The operands of element-wise node `i` read for the last time there, moved out of the
    /// values, so their buffers can be reused.
    fn last_reads(&mut self, i: usize) -> Vec<(usize, Value)> {
        let node = &self.plan.nodes[i];
        let mut scope = Vec::new();
        let ops = match node {
            Node::Binary { .. } | Node::Neg { .. } | Node::Not { .. } | Node::Mask { .. } => {
                node.operands()
            }
            _ => return scope,
        };
        for &op in &ops {
            let once = ops.iter().filter(|o| **o == op).count() == 1;
            if self.last_use[op] == i && op != self.plan.output && once {
                if let Some(v) = self.values[op].take() {
                    scope.push((op, v));
                }
            }
        }
        scope
    }
}

/// Input `input`, moved into a panel (each input is loaded once).
fn load(
    i: usize,
    input: usize,
    inputs: &mut [Option<SharedPanelData>],
) -> Result<Value, EvalError> {
    let data = inputs
        .get_mut(input)
        .and_then(Option::take)
        .ok_or_else(|| type_err(i, format!("input {input} was already consumed")))?;
    if data.values.len() != data.dates.len() * data.columns.len() {
        return Err(type_err(i, format!("input {input} has a malformed shape")));
    }
    Ok(Value::Panel(Panel {
        dates: Rc::new(data.dates),
        columns: Rc::new(data.columns),
        cells: Cells::Float(data.values),
    }))
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

fn to_panel_data(p: Panel) -> PanelData {
    let values = match p.cells {
        Cells::Float(v) => Rc::unwrap_or_clone(v),
        Cells::Bool(b) => cells::map(&b, cells::one),
    };
    PanelData {
        name: "position".to_string(),
        dates: Rc::unwrap_or_clone(p.dates),
        columns: Rc::unwrap_or_clone(p.columns),
        values,
    }
}

#[cfg(test)]
mod tests;
