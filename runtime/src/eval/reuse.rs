//! Reuse of intermediate results across evaluations in one guest instance (a warm session).
//!
//! Every node gets a canonical key: the exact bytes of its sub-plan — each node of it in a
//! canonical post-order with its operator, every argument (numbers by their bits) and its
//! operands renumbered locally — where a `Load` is the identity of the input buffer it reads
//! (unique for the buffer's life, see [`Reuse::ids`]) and a node computed on the read rows only
//! (§5.4) carries those dates. Equal keys mean the same computation on the same data, so a
//! stored value is what the node would compute again; keys are compared in full (no hash
//! collision can give a wrong answer). Values of costly nodes the evaluator materialises stay
//! in a [`Store`] under a byte budget; an input buffer's entries go when the buffer does
//! ([`Store::forget`]).
//!
//! Eviction is GreedyDual-Size: an entry's priority is the store's inflation plus its cost per
//! byte (a weight by operator: a TA-Lib indicator costs tens of comparisons), renewed on
//! every hit; the lowest priority goes first and raises the inflation to its own, so an
//! entry not read for a while ages out whatever its cost.

use std::collections::HashMap;
use std::rc::Rc;

use super::Value;
use crate::ops::{Form, OpId};
use crate::panel::{Cells, Panel};
use crate::plan::{Arg, Node, Plan};

/// What one evaluation read from and wrote into the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Nodes whose value was read from the store.
    pub hits: u32,
    /// Nodes computed that could have been read (same kinds as the hits).
    pub misses: u32,
    /// Values stored.
    pub stored: u32,
}

/// Values of earlier evaluations by canonical key, within `budget` bytes.
#[derive(Default)]
pub struct Store {
    budget: usize,
    used: usize,
    /// The priority of the last entry evicted (GreedyDual-Size's `L`).
    inflation: f64,
    entries: HashMap<Vec<u8>, Entry>,
    /// This evaluation's figures (reset by [`Store::begin`]).
    pub stats: Stats,
}

struct Entry {
    value: Value,
    bytes: usize,
    /// Cost per byte of computing the value again.
    worth: f64,
    priority: f64,
    /// The input buffers the value was computed from.
    inputs: Vec<u64>,
}

impl Store {
    /// An empty store that keeps nothing (budget 0).
    pub fn new() -> Store {
        Store::default()
    }

    /// Sets the budget in bytes, dropping least recently used values until the rest fit.
    pub fn set_budget(&mut self, bytes: usize) {
        self.budget = bytes;
        self.evict(0);
    }

    /// The budget in bytes (0: keep nothing).
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes of the values held.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Starts an evaluation: its figures from zero.
    pub fn begin(&mut self) {
        self.stats = Stats::default();
    }

    /// Drops every value computed from input buffer `id` (the buffer is freed or rewritten).
    pub fn forget(&mut self, id: u64) {
        let mut freed = 0;
        self.entries.retain(|_, e| {
            let keep = !e.inputs.contains(&id);
            if !keep {
                freed += e.bytes;
            }
            keep
        });
        self.used -= freed;
    }

    fn get(&mut self, key: &Key) -> Option<Value> {
        let e = self.entries.get_mut(&key.bytes)?;
        e.priority = self.inflation + e.worth;
        Some(e.value.clone())
    }

    /// Keeps `value` (whose computation cost `weight` units per cell) if it fits.
    fn put(&mut self, key: &Key, value: &Value, weight: f64) {
        let bytes = bytes_of(value);
        let worth = weight * cells_of(value) as f64 / bytes.max(1) as f64;
        self.insert(key, value, bytes, worth);
    }

    /// Keeps `value` of `bytes` bytes, worth `worth` per byte, if it fits.
    fn insert(&mut self, key: &Key, value: &Value, bytes: usize, worth: f64) {
        // One value may not push out more than half of what the store holds.
        if bytes == 0 || bytes > self.budget / 2 || self.entries.contains_key(&key.bytes) {
            return;
        }
        self.evict(bytes);
        self.used += bytes;
        self.stats.stored += 1;
        self.entries.insert(
            key.bytes.clone(),
            Entry {
                value: value.clone(),
                bytes,
                worth,
                priority: self.inflation + worth,
                inputs: key.inputs.clone(),
            },
        );
    }

    /// Drops the values of lowest priority until `needed` more bytes fit the budget.
    fn evict(&mut self, needed: usize) {
        while self.used + needed > self.budget {
            let Some((lowest, priority)) = self
                .entries
                .iter()
                .min_by(|a, b| a.1.priority.total_cmp(&b.1.priority))
                .map(|(k, e)| (k.clone(), e.priority))
            else {
                break;
            };
            self.inflation = self.inflation.max(priority);
            if let Some(e) = self.entries.remove(&lowest) {
                self.used -= e.bytes;
            }
        }
    }
}

/// The cells of a value.
fn cells_of(v: &Value) -> usize {
    match v {
        Value::Scalar(_) => 1,
        Value::Panel(p) | Value::Series(p) => p.rows() * p.columns.len(),
    }
}

/// The bytes a value holds (what the budget counts).
fn bytes_of(v: &Value) -> usize {
    match v {
        Value::Scalar(_) => 0,
        Value::Panel(p) | Value::Series(p) => match &p.cells {
            Cells::Float(c) => c.len() * 8,
            Cells::Bool(c) => c.len(),
        },
    }
}

/// A store and the identities of one evaluation's inputs: `ids[k]` identifies the buffer of
/// plan input `k` for as long as it holds the same values, dates and columns (`None`: unknown,
/// and nothing computed from it is reused).
pub struct Reuse<'a> {
    pub store: &'a mut Store,
    pub ids: &'a [Option<u64>],
}

/// The store and a plan's keys, for the rolling statistics a fused chain on the read rows
/// gathers there (see `fuse::kept`): such a column set is small (the read rows only) and costly
/// (the statistic runs over every row), so it is kept though the statistic's node is not.
pub(super) struct Rolls<'a> {
    pub planned: &'a Planned,
    pub store: &'a mut Store,
}

impl Rolls<'_> {
    /// The key of rolling statistic `i` gathered at rows `rows` of its leaf's columns `cols`
    /// (`None`: every column in order); `None` without a key for `i`.
    pub(super) fn key(&self, i: usize, rows: &[usize], cols: Option<&[usize]>) -> Option<Key> {
        let base = self.planned.keys.get(i)?.as_ref()?;
        let mut bytes = Vec::with_capacity(base.bytes.len() + 4 * rows.len() + 8);
        bytes.extend_from_slice(&base.bytes);
        let mut list = |tag: u8, v: &[usize]| {
            bytes.push(tag);
            bytes.extend_from_slice(&(v.len() as u32).to_le_bytes());
            v.iter()
                .for_each(|&x| bytes.extend_from_slice(&(x as u32).to_le_bytes()));
        };
        list(b'G', rows);
        match cols {
            Some(cols) => list(b'C', cols),
            None => bytes.push(b'A'),
        }
        Some(Key {
            bytes,
            inputs: base.inputs.clone(),
        })
    }

    /// The gathered cells kept under `key`.
    pub(super) fn get(&mut self, key: &Key) -> Option<Rc<Vec<f64>>> {
        match self.store.get(key) {
            Some(Value::Panel(Panel {
                cells: Cells::Float(v),
                ..
            })) => {
                self.store.stats.hits += 1;
                Some(v)
            }
            _ => {
                self.store.stats.misses += 1;
                None
            }
        }
    }

    /// Keeps gathered `cells` of a statistic computed over `full` cells.
    pub(super) fn put(&mut self, key: &Key, cells: Vec<f64>, full: usize) {
        let bytes = cells.len() * 8;
        let worth = call_weight(OpId::RollingMean) * full as f64 / bytes as f64;
        let value = Value::Panel(Panel {
            dates: Rc::default(),
            columns: Rc::default(),
            cells: Cells::Float(Rc::new(cells)),
        });
        self.store.insert(key, &value, bytes, worth);
    }
}

/// A node's canonical key.
pub(super) struct Key {
    bytes: Vec<u8>,
    inputs: Vec<u64>,
}

/// The keys of `plan`'s nodes and the values found for them, for one run of the evaluator.
pub(super) struct Planned {
    keys: Vec<Option<Key>>,
    /// The stored value of each node found in the store.
    pub found: Vec<Option<Value>>,
}

impl Planned {
    /// Keys every node that computes something (not a `Load` or a number) and whose inputs
    /// all have identities, and reads the values already stored. `restricted` marks the nodes
    /// computed on `read_at` only.
    pub fn new(plan: &Plan, reuse: &mut Reuse, restricted: Option<(&[bool], &[i32])>) -> Planned {
        let keys: Vec<Option<Key>> = (0..plan.nodes.len())
            .map(|i| match plan.nodes[i] {
                Node::Load { .. } | Node::Scalar { .. } => None,
                _ => key(plan, i, reuse.ids, restricted),
            })
            .collect();
        let found = keys
            .iter()
            .map(|k| k.as_ref().and_then(|k| reuse.store.get(k)))
            .collect();
        Planned { keys, found }
    }

    /// Records that node `i` was computed: stores its value when it is worth keeping (an
    /// operator call other than `shift`, a fused chain of two or more steps, or the output).
    pub fn computed(&self, store: &mut Store, plan: &Plan, i: usize, chain: usize, v: &Value) {
        let Some(key) = &self.keys[i] else { return };
        store.stats.misses += 1;
        let weight = match &plan.nodes[i] {
            Node::Call { op, .. } => call_weight(*op),
            _ => chain as f64,
        };
        if weight > 0.0 || i == plan.output {
            store.put(key, v, weight.max(1.0));
        }
    }
}

/// What computing an operator's value costs per cell, in element-wise steps (rough, from the
/// fuel measured per input cell: a comparison ~15 units, a row-wise `rank` ~1,200, a TA-Lib
/// indicator several passes over forward-filled prices); 0: not worth keeping. The common
/// indicators by their guest time per cell on the full market, where a 20-row `average` takes
/// ~4 ns (its weight): STOCH ~46 ns (three price panels, two outputs from one call), MACD ~25,
/// ATR ~17, RSI ~16.
fn call_weight(op: OpId) -> f64 {
    match op {
        OpId::Shift | OpId::Loc => 0.0,
        OpId::Rank | OpId::IsLargest | OpId::IsSmallest | OpId::IndustryRank => 10.0,
        OpId::HoldUntil => 6.0,
        OpId::Stoch => 46.0,
        OpId::Macd => 25.0,
        OpId::Atr => 17.0,
        OpId::Rsi => 16.0,
        _ => match op.spec().form {
            Form::Indicator => 20.0,
            Form::Rolling | Form::Ewm | Form::Expanding => 4.0,
            _ => 2.0,
        },
    }
}

/// The canonical key of node `root`'s sub-plan, or `None` when it reads an input without an
/// identity.
fn key(
    plan: &Plan,
    root: usize,
    ids: &[Option<u64>],
    restricted: Option<(&[bool], &[i32])>,
) -> Option<Key> {
    // Post-order from `root`, operands in order; `local[n]` is node n's number in the key.
    let mut local: HashMap<usize, u32> = HashMap::new();
    let mut order: Vec<usize> = Vec::new();
    let mut stack: Vec<(usize, bool)> = vec![(root, false)];
    while let Some((n, expanded)) = stack.pop() {
        if local.contains_key(&n) {
            continue;
        }
        if expanded {
            local.insert(n, order.len() as u32);
            order.push(n);
            continue;
        }
        stack.push((n, true));
        for op in plan.nodes[n].operands().into_iter().rev() {
            if !local.contains_key(&op) {
                stack.push((op, false));
            }
        }
    }
    let mut out = Vec::with_capacity(order.len() * 24);
    let mut inputs = Vec::new();
    for &n in &order {
        let at = |id: usize| local.get(&id).copied().unwrap_or(u32::MAX);
        encode(&plan.nodes[n], &at, &mut out);
        if let Node::Load { input } = plan.nodes[n] {
            let id = (*ids.get(input)?)?;
            out.extend_from_slice(&id.to_le_bytes());
            inputs.push(id);
        }
        if let Some((marks, read_at)) = restricted {
            if marks.get(n).copied().unwrap_or(false) {
                out.push(b'R');
                out.extend_from_slice(&(read_at.len() as u32).to_le_bytes());
                read_at
                    .iter()
                    .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
            }
        }
    }
    Some(Key { bytes: out, inputs })
}

/// One node's bytes: a tag, what it computes and its operands' local numbers.
fn encode(node: &Node, at: &dyn Fn(usize) -> u32, out: &mut Vec<u8>) {
    let id = |n: usize, out: &mut Vec<u8>| out.extend_from_slice(&at(n).to_le_bytes());
    let text = |s: &str, out: &mut Vec<u8>| {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    match node {
        Node::Load { .. } => out.push(b'L'),
        Node::Scalar { value } => {
            out.push(b'S');
            out.extend_from_slice(&value.to_bits().to_le_bytes());
        }
        Node::Neg { arg } => {
            out.push(b'-');
            id(*arg, out);
        }
        Node::Not { arg } => {
            out.push(b'~');
            id(*arg, out);
        }
        Node::Binary { op, lhs, rhs } => {
            out.push(b'B');
            text(op.symbol(), out);
            id(*lhs, out);
            id(*rhs, out);
        }
        Node::Mask { value, cond } => {
            out.push(b'M');
            id(*value, out);
            id(*cond, out);
        }
        Node::Call {
            op,
            recv,
            args,
            prices,
            out: which,
        } => {
            out.push(b'C');
            text(&format!("{op:?}"), out);
            match recv {
                Some(r) => {
                    out.push(1);
                    id(*r, out);
                }
                None => out.push(0),
            }
            out.extend_from_slice(&(args.len() as u32).to_le_bytes());
            for a in args {
                match a {
                    Arg::None => out.push(b'n'),
                    Arg::Int(v) => {
                        out.push(b'i');
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                    Arg::Float(v) => {
                        out.push(b'f');
                        out.extend_from_slice(&v.to_bits().to_le_bytes());
                    }
                    Arg::Bool(v) => out.extend_from_slice(&[b'b', u8::from(*v)]),
                    Arg::Str(s) => {
                        out.push(b's');
                        text(s, out);
                    }
                    Arg::Node(n) => {
                        out.push(b'p');
                        id(*n, out);
                    }
                }
            }
            out.extend_from_slice(&(prices.len() as u32).to_le_bytes());
            prices.iter().for_each(|p| id(*p, out));
            out.extend_from_slice(&(*which as u32).to_le_bytes());
        }
    }
}
