//! The plan evaluator: runs a [`Plan`] over input panels with polars' eager API and returns the
//! position panel. Semantics follow `spec/finlab-semantics.md` §5 (alignment §5.1, methods §5.3).
//! Missing values are polars nulls inside (NaN on the wire); NaN produced by arithmetic
//! (0/0, inf−inf) is turned into null so it behaves as pandas' NaN does.

use std::collections::HashMap;
use std::rc::Rc;

use polars::prelude::*;
use polars_time::prelude::SeriesOpsTime;

use crate::ops::OpId;
use crate::plan::{BinOp, Node, Plan, PlanError};
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
        Node::Call { op, recv, args } => {
            let Value::Panel(p) = get(values, i, *recv)? else {
                return Err(type_err(i, "methods apply to panels, not numbers"));
            };
            Value::Panel(call(i, *op, p, args)?)
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

fn call(i: usize, op: OpId, p: &Panel, args: &[i64]) -> Result<Panel, EvalError> {
    let spec = op.spec();
    let mut ints = Vec::with_capacity(spec.params.len());
    for (k, param) in spec.params.iter().enumerate() {
        let v = args
            .get(k)
            .copied()
            .or(param.default)
            .ok_or_else(|| type_err(i, format!("{} needs `{}`", spec.name, param.name)))?;
        let (lo, hi) = param.kind.range();
        if v < lo || v > hi {
            return Err(type_err(
                i,
                format!(
                    "{}: `{}` = {v} is outside {lo}..={hi}",
                    spec.name, param.name
                ),
            ));
        }
        ints.push(v);
    }
    let n = ints.first().copied().unwrap_or(1);
    match op {
        OpId::Average => {
            let window = n as usize;
            let opts = RollingOptionsFixedWindow {
                window_size: window,
                // finlab: average(n) = rolling(n, min_periods=floor(n/2)).mean() (§5.3).
                min_periods: (window / 2).max(1),
                ..Default::default()
            };
            let mut cols = Vec::with_capacity(p.columns.len());
            for c in floats(p) {
                let s = c
                    .into_series()
                    .rolling_mean(opts.clone())
                    .map_err(polars_err(i))?;
                cols.push(nan_to_null(s.f64().map_err(polars_err(i))?.clone()));
            }
            Ok(Panel {
                dates: p.dates.clone(),
                columns: p.columns.clone(),
                cols: Cols::Float(cols),
            })
        }
        OpId::Shift => Ok(Panel {
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
        }),
        OpId::Rise | OpId::Fall => {
            let cmp = if op == OpId::Rise {
                BinOp::Gt
            } else {
                BinOp::Lt
            };
            let cols = floats(p)
                .iter()
                .map(|c| compare(cmp, c, &c.shift(n)))
                .collect();
            Ok(with_bool(p, cols))
        }
        OpId::IsLargest | OpId::IsSmallest => Ok(with_bool(
            p,
            select_per_row(p, n as usize, op == OpId::IsLargest),
        )),
    }
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
                    b.total_cmp(&a)
                } else {
                    a.total_cmp(&b)
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
                    recv: 0,
                    args: vec![4],
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
                    recv: 0,
                    args: vec![1],
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
                    recv: 0,
                    args: vec![5],
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
