//! The plan evaluator: runs a [`Plan`] over input panels with polars' eager API and returns the
//! position panel. Semantics follow `spec/finlab-semantics.md` §5 (alignment §5.1, methods §5.3).
//! Missing values are polars nulls inside (NaN on the wire); NaN produced by arithmetic
//! (0/0, inf−inf) is turned into null so it behaves as pandas' NaN does.

use std::collections::HashMap;
use std::rc::Rc;

use polars::prelude::*;

use crate::hold::{self, Frame, HoldOptions};
use crate::kernels;
use crate::ops::{OpId, OpSpec};
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
    #[error("node {node}: polars failed: {message}")]
    Polars { node: usize, message: String },
    #[error("the plan's output is a number, not a position panel")]
    ScalarOutput,
}

#[derive(Clone)]
enum Cols {
    Float(Vec<Float64Chunked>),
    Bool(Vec<BooleanChunked>),
}

#[derive(Clone)]
struct Panel {
    dates: Rc<Vec<i32>>,
    columns: Rc<Vec<String>>,
    cols: Cols,
}

#[derive(Clone)]
enum Value {
    Scalar(f64),
    Panel(Panel),
    /// A float Series indexed by date (one value per row).
    Series(Rc<Vec<i32>>, Float64Chunked),
}

/// Evaluates `plan` on `inputs` (one panel per [`Plan::inputs`] entry, same order).
pub fn evaluate(plan: &Plan, inputs: Vec<PanelData>) -> Result<PanelData, EvalError> {
    plan.validate()?;
    if inputs.len() != plan.inputs.len() {
        return Err(EvalError::Inputs {
            expected: plan.inputs.len(),
            got: inputs.len(),
        });
    }
    let mut inputs: Vec<Option<PanelData>> = inputs.into_iter().map(Some).collect();
    // Free every value after its last reader so peak memory follows the live set, not the plan.
    let mut last_use = vec![0usize; plan.nodes.len()];
    for (i, node) in plan.nodes.iter().enumerate() {
        for op in node.operands() {
            last_use[op] = i;
        }
    }
    let mut values: Vec<Option<Value>> = vec![None; plan.nodes.len()];
    for (i, node) in plan.nodes.iter().enumerate() {
        let v = eval_node(i, node, &values, &mut inputs)?;
        values[i] = Some(v);
        for op in node.operands() {
            if last_use[op] == i && op != plan.output {
                values[op] = None;
            }
        }
    }
    match values[plan.output].take() {
        Some(Value::Panel(p)) => Ok(to_panel_data(p)),
        _ => Err(EvalError::ScalarOutput),
    }
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

fn polars_err(node: usize) -> impl Fn(PolarsError) -> EvalError {
    move |e| EvalError::Polars {
        node,
        message: e.to_string(),
    }
}

fn eval_node(
    i: usize,
    node: &Node,
    values: &[Option<Value>],
    inputs: &mut [Option<PanelData>],
) -> Result<Value, EvalError> {
    Ok(match node {
        Node::Load { input } => {
            let data = inputs
                .get_mut(*input)
                .and_then(Option::take)
                .ok_or_else(|| type_err(i, format!("input {input} was already consumed")))?;
            Value::Panel(from_panel_data(data))
        }
        Node::Scalar { value } => Value::Scalar(*value),
        Node::Neg { arg } => match get(values, i, *arg)? {
            Value::Scalar(v) => Value::Scalar(-v),
            Value::Panel(p) => Value::Panel(map_float(p, |c| c.apply_values(|v| -v))),
            Value::Series(d, c) => Value::Series(d.clone(), c.apply_values(|v| -v)),
        },
        Node::Not { arg } => match get(values, i, *arg)? {
            Value::Panel(Panel {
                dates,
                columns,
                cols: Cols::Bool(cols),
            }) => Value::Panel(Panel {
                dates: dates.clone(),
                columns: columns.clone(),
                cols: Cols::Bool(cols.iter().map(|c| !c).collect()),
            }),
            _ => return Err(type_err(i, "`~` needs a bool panel")),
        },
        Node::Binary { op, lhs, rhs } => {
            binary(i, *op, get(values, i, *lhs)?, get(values, i, *rhs)?)?
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
            };
            call.check_arity()?;
            dispatch(&call, recv, &prices, *out)?
        }
        Node::Mask { value, cond } => {
            let (Value::Panel(v), Value::Panel(c)) =
                (get(values, i, *value)?, get(values, i, *cond)?)
            else {
                return Err(type_err(i, "`x[cond]` needs two panels"));
            };
            let (v, c) = align(v, c);
            let Cols::Bool(mask) = &c.cols else {
                return Err(type_err(i, "the mask in `x[cond]` must be a bool panel"));
            };
            let cols = match &v.cols {
                Cols::Float(vals) => Cols::Float(
                    vals.iter()
                        .zip(mask)
                        .map(|(x, m)| {
                            x.zip_with(m, &Float64Chunked::full_null(PlSmallStr::EMPTY, x.len()))
                        })
                        .collect::<PolarsResult<_>>()
                        .map_err(polars_err(i))?,
                ),
                Cols::Bool(vals) => Cols::Bool(vals.iter().zip(mask).map(|(x, m)| x & m).collect()),
            };
            Value::Panel(Panel { cols, ..v })
        }
    })
}

fn from_panel_data(data: PanelData) -> Panel {
    let n = data.dates.len();
    let cols = (0..data.columns.len())
        .map(|c| {
            Float64Chunked::from_iter_options(
                PlSmallStr::EMPTY,
                data.values[c * n..(c + 1) * n]
                    .iter()
                    .map(|v| (!v.is_nan()).then_some(*v)),
            )
        })
        .collect();
    Panel {
        dates: Rc::new(data.dates),
        columns: Rc::new(data.columns),
        cols: Cols::Float(cols),
    }
}

fn to_panel_data(p: Panel) -> PanelData {
    let mut values = Vec::with_capacity(p.dates.len() * p.columns.len());
    match &p.cols {
        Cols::Float(cols) => {
            for c in cols {
                values.extend(c.into_iter().map(|v| v.unwrap_or(f64::NAN)));
            }
        }
        Cols::Bool(cols) => {
            for c in cols {
                values.extend(
                    c.into_iter()
                        .map(|v| if v == Some(true) { 1.0 } else { 0.0 }),
                );
            }
        }
    }
    PanelData {
        name: "position".to_string(),
        dates: Rc::unwrap_or_clone(p.dates),
        columns: Rc::unwrap_or_clone(p.columns),
        values,
    }
}

/// Float columns of a panel; bool columns read as 0/1 (pandas arithmetic on bool frames).
fn floats(p: &Panel) -> Vec<Float64Chunked> {
    match &p.cols {
        Cols::Float(c) => c.clone(),
        Cols::Bool(c) => c
            .iter()
            .map(|b| {
                Float64Chunked::from_iter_options(
                    PlSmallStr::EMPTY,
                    b.into_iter().map(|v| v.map(|x| if x { 1.0 } else { 0.0 })),
                )
            })
            .collect(),
    }
}

fn nan_to_null(c: Float64Chunked) -> Float64Chunked {
    c.apply(|v| v.filter(|x| !x.is_nan()))
}

fn map_float(p: &Panel, f: impl Fn(&Float64Chunked) -> Float64Chunked) -> Panel {
    Panel {
        dates: p.dates.clone(),
        columns: p.columns.clone(),
        cols: Cols::Float(floats(p).iter().map(|c| nan_to_null(f(c))).collect()),
    }
}

fn with_bool(p: &Panel, cols: Vec<BooleanChunked>) -> Panel {
    Panel {
        dates: p.dates.clone(),
        columns: p.columns.clone(),
        cols: Cols::Bool(cols),
    }
}

/// finlab's alignment of two date-indexed frames (§5.1 step 3): identical shapes operate
/// directly; otherwise the sorted union of dates from the later first date, the intersection of
/// columns in the left operand's order, and each side forward-filled by row onto that grid.
fn align(a: &Panel, b: &Panel) -> (Panel, Panel) {
    if a.dates == b.dates && a.columns == b.columns {
        return (a.clone(), b.clone());
    }
    let start = match (a.dates.first(), b.dates.first()) {
        (Some(x), Some(y)) => *x.max(y),
        _ => i32::MAX,
    };
    let mut dates: Vec<i32> = a
        .dates
        .iter()
        .chain(b.dates.iter())
        .copied()
        .filter(|d| *d >= start)
        .collect();
    dates.sort_unstable();
    dates.dedup();
    let b_index: HashMap<&str, usize> = b
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut a_cols = Vec::new();
    let mut b_cols = Vec::new();
    let mut columns = Vec::new();
    for (i, c) in a.columns.iter().enumerate() {
        if let Some(j) = b_index.get(c.as_str()) {
            a_cols.push(i);
            b_cols.push(*j);
            columns.push(c.clone());
        }
    }
    let dates = Rc::new(dates);
    let columns = Rc::new(columns);
    (
        reindex(a, &dates, &columns, &a_cols),
        reindex(b, &dates, &columns, &b_cols),
    )
}

/// For each target date, the last source row dated on or before it.
fn ffill_rows(src: &[i32], target: &[i32]) -> Vec<Option<usize>> {
    let mut j = 0usize;
    target
        .iter()
        .map(|d| {
            while j < src.len() && src[j] <= *d {
                j += 1;
            }
            j.checked_sub(1)
        })
        .collect()
}

fn reindex(p: &Panel, dates: &Rc<Vec<i32>>, columns: &Rc<Vec<String>>, pick: &[usize]) -> Panel {
    let same_rows = *p.dates == **dates;
    let rows = ffill_rows(&p.dates, dates);
    let cols = match &p.cols {
        Cols::Float(cs) => Cols::Float(
            pick.iter()
                .map(|&c| {
                    if same_rows {
                        cs[c].clone()
                    } else {
                        let src = cs[c].rechunk();
                        Float64Chunked::from_iter_options(
                            PlSmallStr::EMPTY,
                            rows.iter().map(|r| r.and_then(|r| src.get(r))),
                        )
                    }
                })
                .collect(),
        ),
        Cols::Bool(cs) => Cols::Bool(
            pick.iter()
                .map(|&c| {
                    if same_rows {
                        cs[c].clone()
                    } else {
                        let src = cs[c].rechunk();
                        BooleanChunked::from_iter_values(
                            PlSmallStr::EMPTY,
                            rows.iter()
                                .map(|r| r.and_then(|r| src.get(r)).unwrap_or(false)),
                        )
                    }
                })
                .collect(),
        ),
    };
    Panel {
        dates: dates.clone(),
        columns: columns.clone(),
        cols,
    }
}

fn compare(op: BinOp, a: &Float64Chunked, b: &Float64Chunked) -> BooleanChunked {
    let out = match op {
        BinOp::Gt => a.gt(b),
        BinOp::Ge => a.gt_eq(b),
        BinOp::Lt => a.lt(b),
        BinOp::Le => a.lt_eq(b),
        BinOp::Eq => a.equal(b),
        _ => a.not_equal(b),
    };
    // finlab: NaN compares False, except `!=`, which pandas answers True.
    fill_bool(out, op == BinOp::Ne)
}

fn compare_scalar(op: BinOp, a: &Float64Chunked, s: f64) -> BooleanChunked {
    let out = match op {
        BinOp::Gt => a.gt(s),
        BinOp::Ge => a.gt_eq(s),
        BinOp::Lt => a.lt(s),
        BinOp::Le => a.lt_eq(s),
        BinOp::Eq => a.equal(s),
        _ => a.not_equal(s),
    };
    fill_bool(out, op == BinOp::Ne)
}

fn fill_bool(c: BooleanChunked, missing: bool) -> BooleanChunked {
    if c.null_count() == 0 {
        return c;
    }
    c.apply(|v| Some(v.unwrap_or(missing)))
}

/// The comparison that gives the same answer with its operands swapped (`s > x` ⇔ `x < s`).
fn flipped(op: BinOp) -> BinOp {
    match op {
        BinOp::Gt => BinOp::Lt,
        BinOp::Ge => BinOp::Le,
        BinOp::Lt => BinOp::Gt,
        BinOp::Le => BinOp::Ge,
        other => other,
    }
}

fn arith(op: BinOp, a: &Float64Chunked, b: &Float64Chunked) -> Float64Chunked {
    nan_to_null(match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        _ => a / b,
    })
}

fn binary(i: usize, op: BinOp, lhs: &Value, rhs: &Value) -> Result<Value, EvalError> {
    match (lhs, rhs) {
        (Value::Scalar(a), Value::Scalar(b)) => Ok(Value::Scalar(match op {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            _ => return Err(type_err(i, "comparing two numbers gives no panel")),
        })),
        (Value::Series(d, c), Value::Scalar(s)) | (Value::Scalar(s), Value::Series(d, c)) => {
            let left = matches!(lhs, Value::Series(..));
            let out = match (op, left) {
                (BinOp::Add, _) => c + *s,
                (BinOp::Mul, _) => c * *s,
                (BinOp::Sub, true) => c - *s,
                (BinOp::Sub, false) => c.apply_values(|v| s - v),
                (BinOp::Div, true) => c / *s,
                (BinOp::Div, false) => c.apply_values(|v| s / v),
                _ => {
                    return Err(type_err(
                        i,
                        "a Series combines with numbers by arithmetic only",
                    ))
                }
            };
            Ok(Value::Series(d.clone(), nan_to_null(out)))
        }
        (Value::Panel(p), Value::Series(d, c)) => {
            // finlab §5.1 step 1: a date-indexed Series is broadcast to every column.
            let broadcast = Panel {
                dates: d.clone(),
                columns: p.columns.clone(),
                cols: Cols::Float(vec![c.clone(); p.columns.len()]),
            };
            binary(i, op, lhs, &Value::Panel(broadcast))
        }
        (Value::Series(..), _) => Err(type_err(i, "a Series must be the right operand of a panel")),
        (Value::Panel(p), Value::Scalar(s)) => panel_scalar(i, op, p, *s, false),
        (Value::Scalar(s), Value::Panel(p)) => panel_scalar(i, op, p, *s, true),
        (Value::Panel(a), Value::Panel(b)) => {
            let (a, b) = align(a, b);
            if op.is_logical() {
                let (Cols::Bool(x), Cols::Bool(y)) = (&a.cols, &b.cols) else {
                    return Err(type_err(
                        i,
                        format!("`{}` needs two bool panels", op.symbol()),
                    ));
                };
                let cols = x
                    .iter()
                    .zip(y)
                    .map(|(x, y)| if op == BinOp::And { x & y } else { x | y })
                    .collect();
                return Ok(Value::Panel(with_bool(&a, cols)));
            }
            let (x, y) = (floats(&a), floats(&b));
            if op.is_comparison() {
                let cols = x.iter().zip(&y).map(|(x, y)| compare(op, x, y)).collect();
                Ok(Value::Panel(with_bool(&a, cols)))
            } else {
                let cols = x.iter().zip(&y).map(|(x, y)| arith(op, x, y)).collect();
                Ok(Value::Panel(Panel {
                    cols: Cols::Float(cols),
                    ..a
                }))
            }
        }
    }
}

fn panel_scalar(
    i: usize,
    op: BinOp,
    p: &Panel,
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
        let op = if scalar_left { flipped(op) } else { op };
        let cols = floats(p).iter().map(|c| compare_scalar(op, c, s)).collect();
        return Ok(Value::Panel(with_bool(p, cols)));
    }
    Ok(Value::Panel(map_float(p, |c| match (op, scalar_left) {
        (BinOp::Add, _) => c + s,
        (BinOp::Mul, _) => c * s,
        (BinOp::Sub, false) => c - s,
        (BinOp::Sub, true) => c.apply_values(|v| s - v),
        (BinOp::Div, false) => c / s,
        _ => c.apply_values(|v| s / v),
    })))
}

/// The arguments of one operator call, read by parameter name with their registry kinds.
struct CallArgs<'a> {
    node: usize,
    spec: &'static OpSpec,
    args: &'a [Arg],
    values: &'a [Option<Value>],
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

/// A panel's columns as plain vectors (missing → NaN; bools → 0/1).
fn col_vecs(p: &Panel) -> Vec<Vec<f64>> {
    floats(p)
        .iter()
        .map(|c| c.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
        .collect()
}

fn bool_vecs(p: &Panel) -> Vec<Vec<bool>> {
    match &p.cols {
        Cols::Bool(cs) => cs
            .iter()
            .map(|c| c.into_iter().map(|v| v == Some(true)).collect())
            .collect(),
        Cols::Float(cs) => cs
            .iter()
            .map(|c| c.into_iter().map(|v| v.is_some_and(|x| x != 0.0)).collect())
            .collect(),
    }
}

/// A float panel on `like`'s grid from plain vectors (NaN → missing).
fn from_vecs(like: &Panel, cols: Vec<Vec<f64>>) -> Panel {
    Panel {
        dates: like.dates.clone(),
        columns: like.columns.clone(),
        cols: Cols::Float(
            cols.iter()
                .map(|c| {
                    Float64Chunked::from_iter_options(
                        PlSmallStr::EMPTY,
                        c.iter().map(|v| (!v.is_nan()).then_some(*v)),
                    )
                })
                .collect(),
        ),
    }
}

fn from_bools(like: &Panel, cols: Vec<Vec<bool>>) -> Panel {
    with_bool(
        like,
        cols.iter()
            .map(|c| BooleanChunked::from_slice(PlSmallStr::EMPTY, c))
            .collect(),
    )
}

/// Applies `f` to every column as a plain vector.
fn per_column(p: &Panel, f: impl Fn(&[f64]) -> Vec<f64>) -> Panel {
    let cols = col_vecs(p).iter().map(|c| f(c)).collect();
    from_vecs(p, cols)
}

/// Applies `f` to every row; `f` writes the row's output.
fn per_row(p: &Panel, f: impl Fn(&[f64], &mut [f64])) -> Panel {
    let cols = col_vecs(p);
    let (rows, ncol) = (p.dates.len(), cols.len());
    let mut out = vec![vec![f64::NAN; rows]; ncol];
    let mut row = vec![0.0; ncol];
    let mut res = vec![0.0; ncol];
    for r in 0..rows {
        for c in 0..ncol {
            row[c] = cols[c][r];
        }
        f(&row, &mut res);
        for c in 0..ncol {
            out[c][r] = res[c];
        }
    }
    from_vecs(p, out)
}

fn receiver<'a>(call: &CallArgs, recv: Option<&'a Panel>) -> Result<&'a Panel, EvalError> {
    recv.ok_or_else(|| type_err(call.node, format!("{} needs a receiver", call.spec.name)))
}

fn dispatch(
    call: &CallArgs,
    recv: Option<&Panel>,
    prices: &[&Panel],
    out: usize,
) -> Result<Value, EvalError> {
    let op = call.spec.id;
    let i = call.node;
    if call.spec.receiver == crate::ops::Receiver::None {
        return indicator(call, prices, out).map(Value::Panel);
    }
    let p = receiver(call, recv)?;
    let panel = match op {
        OpId::Average => {
            let n = call.size("n")?.unwrap_or(1);
            // finlab: average(n) = rolling(n, min_periods=floor(n/2)).mean() (§5.3).
            per_column(p, |c| kernels::rolling_sum_mean(c, n, n / 2, true))
        }
        OpId::RollingMean
        | OpId::RollingSum
        | OpId::RollingStd
        | OpId::RollingMax
        | OpId::RollingMin
        | OpId::RollingMedian => {
            let w = call.size("window")?.unwrap_or(1);
            let m = call.size("min_periods")?.unwrap_or(w);
            per_column(p, |c| match op {
                OpId::RollingMean => kernels::rolling_sum_mean(c, w, m, true),
                OpId::RollingSum => kernels::rolling_sum_mean(c, w, m, false),
                OpId::RollingStd => kernels::rolling_std(c, w, m),
                OpId::RollingMax => kernels::rolling_extreme(c, w, m, true),
                OpId::RollingMin => kernels::rolling_extreme(c, w, m, false),
                _ => kernels::rolling_median(c, w, m),
            })
        }
        OpId::Shift => {
            let n = call.int("periods")?.unwrap_or(1);
            Panel {
                dates: p.dates.clone(),
                columns: p.columns.clone(),
                cols: match &p.cols {
                    Cols::Float(cs) => Cols::Float(cs.iter().map(|c| c.shift(n)).collect()),
                    Cols::Bool(cs) => Cols::Bool(
                        cs.iter()
                            .map(|c| c.shift_and_fill(n, Some(false)))
                            .collect(),
                    ),
                },
            }
        }
        OpId::PctChange | OpId::Diff => {
            let n = call.size("periods")?.unwrap_or(1);
            per_column(p, |c| {
                c.iter()
                    .zip(kernels::shifted(c, n))
                    .map(|(x, y)| if op == OpId::Diff { x - y } else { x / y - 1.0 })
                    .collect()
            })
        }
        OpId::Rise | OpId::Fall => {
            let n = call.int("nwindow")?.unwrap_or(1);
            let cmp = if op == OpId::Rise {
                BinOp::Gt
            } else {
                BinOp::Lt
            };
            let cols = floats(p)
                .iter()
                .map(|c| compare(cmp, c, &c.shift(n)))
                .collect();
            with_bool(p, cols)
        }
        OpId::Sustain => {
            let w = call.size("nwindow")?.unwrap_or(1);
            let need = call.size("nsatisfy")?.unwrap_or(w) as f64;
            let cols = col_vecs(p)
                .iter()
                .map(|c| {
                    kernels::rolling_sum_mean(c, w, w, false)
                        .iter()
                        .map(|s| *s >= need)
                        .collect()
                })
                .collect();
            from_bools(p, cols)
        }
        OpId::IsLargest | OpId::IsSmallest => {
            let n = call.size("n")?.unwrap_or(1);
            with_bool(p, select_per_row(p, n, op == OpId::IsLargest))
        }
        OpId::Rank => {
            let pct = call.flag("pct")?;
            let asc = call.flag("ascending")?;
            let method = call.text("method")?.to_string();
            per_row(p, |row, out| kernels::rank_row(row, &method, asc, pct, out))
        }
        OpId::QuantileRow => {
            let q = call.float("c")?.unwrap_or(0.5);
            let cols = col_vecs(p);
            let values = (0..p.dates.len()).map(|r| {
                let row: Vec<f64> = cols.iter().map(|c| c[r]).collect();
                let v = kernels::quantile(&row, q);
                (!v.is_nan()).then_some(v)
            });
            return Ok(Value::Series(
                p.dates.clone(),
                Float64Chunked::from_iter_options(PlSmallStr::EMPTY, values),
            ));
        }
        OpId::IsEntry | OpId::IsExit => {
            let cols = bool_vecs(p)
                .into_iter()
                .map(|c| {
                    (0..c.len())
                        .map(|r| {
                            let prev = r > 0 && c[r - 1];
                            if op == OpId::IsEntry {
                                c[r] && !prev
                            } else {
                                !c[r] && prev
                            }
                        })
                        .collect()
                })
                .collect();
            from_bools(p, cols)
        }
        OpId::HoldUntil => return hold_until(call, p, prices).map(Value::Panel),
        OpId::Fillna => {
            let v = call.float("value")?.unwrap_or(0.0);
            match &p.cols {
                Cols::Bool(_) => p.clone(),
                Cols::Float(_) => per_column(p, |c| {
                    c.iter().map(|x| if x.is_nan() { v } else { *x }).collect()
                }),
            }
        }
        OpId::Ffill => match &p.cols {
            Cols::Bool(_) => p.clone(),
            Cols::Float(_) => per_column(p, |c| {
                let mut last = f64::NAN;
                c.iter()
                    .map(|x| {
                        if !x.is_nan() {
                            last = *x;
                        }
                        last
                    })
                    .collect()
            }),
        },
        OpId::Abs => per_column(p, |c| c.iter().map(|x| x.abs()).collect()),
        OpId::Log => per_column(p, |c| c.iter().map(|x| x.ln()).collect()),
        OpId::Clip => {
            let lo = call.float("lower")?.unwrap_or(f64::NEG_INFINITY);
            let hi = call.float("upper")?.unwrap_or(f64::INFINITY);
            per_column(p, |c| {
                // f64::max/min would replace a missing value by the bound; pandas keeps NaN.
                c.iter()
                    .map(|x| if x.is_nan() { *x } else { x.max(lo).min(hi) })
                    .collect()
            })
        }
        OpId::Where => {
            let cond = call
                .panel("cond")?
                .ok_or_else(|| type_err(i, "where needs `cond`"))?;
            let other = call.float("other")?.unwrap_or(f64::NAN);
            // pandas `where`: the condition is matched to the receiver by exact date and stock;
            // a missing label counts as False.
            let mask = exact_mask(p, cond);
            let cols = col_vecs(p)
                .into_iter()
                .zip(mask)
                .map(|(c, m)| {
                    c.iter()
                        .zip(m)
                        .map(|(x, keep)| if keep { *x } else { other })
                        .collect()
                })
                .collect();
            from_vecs(p, cols)
        }
        OpId::Maximum | OpId::Minimum => {
            let pick = |a: f64, b: f64| {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else if op == OpId::Maximum {
                    a.max(b)
                } else {
                    a.min(b)
                }
            };
            match call.arg("other")? {
                Arg::Float(s) => {
                    let s = *s;
                    per_column(p, |c| c.iter().map(|x| pick(*x, s)).collect())
                }
                _ => {
                    let q = call
                        .panel("other")?
                        .ok_or_else(|| type_err(i, "maximum/minimum need `other`"))?;
                    let (a, b) = outer_align(p, q);
                    let (x, y) = (col_vecs(&a), col_vecs(&b));
                    let cols = x
                        .iter()
                        .zip(&y)
                        .map(|(x, y)| x.iter().zip(y).map(|(a, b)| pick(*a, *b)).collect())
                        .collect();
                    from_vecs(&a, cols)
                }
            }
        }
        OpId::Rsi | OpId::Macd | OpId::Stoch | OpId::Bbands | OpId::Atr | OpId::Willr => {
            return indicator(call, prices, out).map(Value::Panel)
        }
    };
    Ok(Value::Panel(panel))
}

/// pandas' outer alignment (what numpy ufuncs on two frames do): the sorted union of dates and
/// of stocks, exact labels only, missing cells NaN.
fn outer_align(a: &Panel, b: &Panel) -> (Panel, Panel) {
    if a.dates == b.dates && a.columns == b.columns {
        return (a.clone(), b.clone());
    }
    let mut dates: Vec<i32> = a.dates.iter().chain(b.dates.iter()).copied().collect();
    dates.sort_unstable();
    dates.dedup();
    let mut columns: Vec<String> = a.columns.iter().chain(b.columns.iter()).cloned().collect();
    columns.sort();
    columns.dedup();
    let dates = Rc::new(dates);
    let columns = Rc::new(columns);
    let place = |p: &Panel| {
        let rows: HashMap<i32, usize> = p.dates.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        let cols: HashMap<&str, usize> = p
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let v = col_vecs(p);
        let out: Vec<Vec<f64>> = columns
            .iter()
            .map(|c| match cols.get(c.as_str()) {
                Some(&j) => dates
                    .iter()
                    .map(|d| rows.get(d).map_or(f64::NAN, |&r| v[j][r]))
                    .collect(),
                None => vec![f64::NAN; dates.len()],
            })
            .collect();
        let like = Panel {
            dates: dates.clone(),
            columns: columns.clone(),
            cols: Cols::Float(Vec::new()),
        };
        from_vecs(&like, out)
    };
    (place(a), place(b))
}

/// For each of `p`'s cells, whether `cond` has True at the same date and stock.
fn exact_mask(p: &Panel, cond: &Panel) -> Vec<Vec<bool>> {
    let rows: HashMap<i32, usize> = cond
        .dates
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, i))
        .collect();
    let cols: HashMap<&str, usize> = cond
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let cv = bool_vecs(cond);
    p.columns
        .iter()
        .map(|c| match cols.get(c.as_str()) {
            Some(&j) => p
                .dates
                .iter()
                .map(|d| rows.get(d).is_some_and(|&r| cv[j][r]))
                .collect(),
            None => vec![false; p.dates.len()],
        })
        .collect()
}

fn frame(p: &Panel) -> Frame<'_> {
    Frame {
        dates: &p.dates,
        columns: &p.columns,
        cols: col_vecs(p),
    }
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
        (true, Some(p)) => Some(frame(p)),
        (true, None) => return Err(type_err(i, "hold_until stops need the adjusted close")),
        _ => None,
    };
    let rank = rank.map(frame);
    let held = hold::hold_until(
        &frame(entry),
        &frame(exit),
        rank.as_ref(),
        price.as_ref(),
        opts,
    );
    Ok(Panel {
        dates: Rc::new(held.dates),
        columns: Rc::new(held.columns),
        cols: Cols::Bool(
            held.cols
                .iter()
                .map(|c| BooleanChunked::from_slice(PlSmallStr::EMPTY, c))
                .collect(),
        ),
    })
}

/// Bars without a price after which finlab treats a stock as gone (its delisting rule).
const UNPRICED_BARS: usize = 20;

/// A TA-Lib indicator computed per stock on forward-filled prices.
fn indicator(call: &CallArgs, prices: &[&Panel], out: usize) -> Result<Panel, EvalError> {
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
    // All price panels onto the first one's grid (they normally share it already).
    let base = prices[0];
    let mut aligned: Vec<Panel> = vec![base.clone()];
    for p in &prices[1..] {
        let (a, b) = align(&aligned[0], p);
        aligned = aligned.iter().map(|x| align(x, &a).0).collect();
        aligned.push(b);
    }
    let ffilled: Vec<Vec<Vec<f64>>> = aligned
        .iter()
        .map(|p| {
            col_vecs(p)
                .into_iter()
                .map(|mut c| {
                    let mut last = f64::NAN;
                    for v in c.iter_mut() {
                        if v.is_nan() {
                            *v = last;
                        } else {
                            last = *v;
                        }
                    }
                    c
                })
                .collect()
        })
        .collect();
    let like = &aligned[0];
    let n = |name: &str| -> Result<usize, EvalError> { Ok(call.size(name)?.unwrap_or(1)) };
    // The close is the last price input; stocks never priced are left out (as finlab does), and
    // cells after 20 or more bars without a close are NaN (finlab's unpriced mask).
    let close_raw = col_vecs(&aligned[aligned.len() - 1]);
    let mut cols = Vec::with_capacity(like.columns.len());
    let mut kept = Vec::with_capacity(like.columns.len());
    for c in 0..like.columns.len() {
        if close_raw[c].iter().all(|v| v.is_nan()) {
            continue;
        }
        kept.push(like.columns[c].clone());
        let x = |k: usize| ffilled[k][c].as_slice();
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
        if out >= outs.len() {
            return Err(type_err(
                i,
                format!("{} has no output {out}", call.spec.name),
            ));
        }
        let mut values = outs.swap_remove(out);
        let mut gap = 0usize;
        for (v, raw) in values.iter_mut().zip(&close_raw[c]) {
            gap = if raw.is_nan() { gap + 1 } else { 0 };
            if gap >= UNPRICED_BARS {
                *v = f64::NAN;
            }
        }
        cols.push(values);
    }
    let like = Panel {
        dates: like.dates.clone(),
        columns: Rc::new(kept),
        cols: Cols::Float(Vec::new()),
    };
    Ok(from_vecs(&like, cols))
}

/// Per row, marks the `n` largest (or smallest) valid values; ties go to the earlier column
/// (finlab `is_largest`, a stable sort, §5.3). Rows with ≤ n valid values mark all of them.
fn select_per_row(p: &Panel, n: usize, largest: bool) -> Vec<BooleanChunked> {
    let rows = p.dates.len();
    let cols: Vec<Vec<f64>> = floats(p)
        .iter()
        .map(|c| c.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
        .collect();
    let mut out = vec![vec![false; rows]; cols.len()];
    let mut valid: Vec<usize> = Vec::with_capacity(cols.len());
    for r in 0..rows {
        valid.clear();
        valid.extend((0..cols.len()).filter(|&c| !cols[c][r].is_nan()));
        if valid.len() > n {
            let order = |x: &usize, y: &usize| {
                let (a, b) = (cols[*x][r], cols[*y][r]);
                let by_value = if largest {
                    b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal)
                } else {
                    a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
                };
                by_value.then(x.cmp(y))
            };
            valid.select_nth_unstable_by(n - 1, order);
            valid.truncate(n);
        }
        for &c in &valid {
            out[c][r] = true;
        }
    }
    out.into_iter()
        .map(|v| BooleanChunked::from_slice(PlSmallStr::EMPTY, &v))
        .collect()
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
