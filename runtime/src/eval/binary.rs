//! The element-wise nodes — `-x`, `~x`, `x[cond]` and the binary operators — with finlab's
//! alignment of two panels (`docs/semantics.md` §5.1). Every cell loop goes through
//! [`cells`], writing into an operand's buffer when this node holds its only reference.

use std::rc::Rc;

use super::macros::arith;
use super::{type_err, EvalError, Value};
use crate::cells::{self, one};
use crate::panel::{align, Cells, Panel};
use crate::plan::BinOp;

/// `-x`.
pub(super) fn neg(x: Value) -> Value {
    match x {
        Value::Scalar(v) => Value::Scalar(-v),
        Value::Panel(p) => Value::Panel(map_floats(p, |v| -v)),
        Value::Series(d, v) => Value::Series(d, Rc::new(cells::map(&v, |x| -x))),
    }
}

/// `~x` of a bool panel.
pub(super) fn not(i: usize, x: Value) -> Result<Value, EvalError> {
    let Value::Panel(Panel {
        dates,
        columns,
        cells: Cells::Bool(b),
    }) = x
    else {
        return Err(type_err(i, "`~` needs a bool panel"));
    };
    let mut b = Rc::unwrap_or_clone(b);
    cells::update(&mut b, |x| !x);
    Ok(Value::Panel(Panel::boolean(dates, columns, b)))
}

/// `value[cond]`: the cells of `value` where `cond` is True, NaN (or False) elsewhere.
pub(super) fn mask(i: usize, value: Value, cond: Value) -> Result<Value, EvalError> {
    let (Value::Panel(v), Value::Panel(c)) = (value, cond) else {
        return Err(type_err(i, "`x[cond]` needs two panels"));
    };
    let (v, c) = align_owned(v, c);
    let Cells::Bool(mask) = &c.cells else {
        return Err(type_err(i, "the mask in `x[cond]` must be a bool panel"));
    };
    Ok(Value::Panel(match &v.cells {
        Cells::Float(_) => {
            let mask = mask.clone();
            zip_float_cells(v, &mask, |x, m| if m { x } else { f64::NAN })
        }
        Cells::Bool(x) => v.with_bools(cells::zip(x, mask, |x, m| x && m)),
    }))
}

/// `lhs op rhs` for any pair of numbers, Series and panels.
pub(super) fn binary(i: usize, op: BinOp, lhs: Value, rhs: Value) -> Result<Value, EvalError> {
    match (lhs, rhs) {
        (Value::Scalar(a), Value::Scalar(b)) => {
            if op.is_comparison() || op.is_logical() {
                return Err(type_err(i, "comparing two numbers gives no panel"));
            }
            Ok(Value::Scalar(arith(op, a, b)))
        }
        (Value::Series(d, v), Value::Scalar(s)) if op == BinOp::Pow => {
            with_scalar_pow!(s, f => series_scalar(i, op, d, &v, f))
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
        (Value::Panel(a), Value::Panel(b)) => panels(i, op, a, b),
    }
}

/// `a op b` for two panels, aligned first.
fn panels(i: usize, op: BinOp, a: Panel, b: Panel) -> Result<Value, EvalError> {
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
    if !matches!(
        op,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Pow
    ) {
        return Err(type_err(
            i,
            "a Series combines with numbers by arithmetic only",
        ));
    }
    Ok(Value::Series(dates, Rc::new(cells::map(v, f))))
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
    } else if op == BinOp::Pow {
        with_scalar_pow!(s, f => map_floats(p, f))
    } else {
        with_arith!(op, f => map_floats(p, |v| f(v, s)))
    }))
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
