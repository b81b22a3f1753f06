//! The element-wise nodes — `-x`, `~x`, `x[cond]` and the binary operators — with finlab's
//! alignment of two panels (`docs/semantics.md` §5.1). Every cell loop goes through
//! [`cells`], writing into an operand's buffer when this node holds its only reference.

use std::rc::Rc;

use super::macros::arith;
use super::{type_err, EvalError, Value};
use crate::cells::{self, one};
use crate::panel::{align, outer_align, Cells, Panel};
use crate::plan::BinOp;

/// `-x`.
pub(super) fn neg(x: Value) -> Value {
    match x {
        Value::Scalar(v) => Value::Scalar(-v),
        Value::Panel(p) => Value::Panel(map_floats(p, |v| -v)),
        Value::Series(p) => Value::Series(map_floats(p, |v| -v)),
    }
}

/// `~x` of a bool panel or bool Series.
pub(super) fn not(i: usize, x: Value) -> Result<Value, EvalError> {
    if let Value::Series(p) = x {
        return match not(i, Value::Panel(p))? {
            Value::Panel(p) => Ok(Value::Series(p)),
            v => Ok(v),
        };
    }
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
        (Value::Series(a), Value::Scalar(s)) => series_of(panel_scalar(i, op, a, s, false)),
        (Value::Scalar(s), Value::Series(a)) => series_of(panel_scalar(i, op, a, s, true)),
        (Value::Series(a), Value::Series(b)) => series_of(two_series(i, op, a, b)),
        (Value::Panel(p), Value::Series(s)) if p.dates == s.dates => panel_series(i, op, p, &s),
        (Value::Panel(p), Value::Series(s)) => {
            // docs/semantics.md §5.1: a date-indexed Series is repeated in every column of the
            // panel, then the two are aligned as two panels (finlab's `reshape`).
            let broadcast = broadcast(&s, &p.columns);
            panels(i, op, p, broadcast)
        }
        (Value::Series(..), Value::Panel(..)) => {
            Err(type_err(i, "a Series must be the right operand of a panel"))
        }
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

/// A panel result of Series operands, as the Series it is.
fn series_of(v: Result<Value, EvalError>) -> Result<Value, EvalError> {
    Ok(match v? {
        Value::Panel(p) => Value::Series(p),
        v => v,
    })
}

/// `a op b` for two Series (one-column panels), as pandas aligns them: on the same dates
/// directly; otherwise on the union of dates — arithmetic with a missing value NaN, `&`/`|`
/// with a missing right value False and False wherever the left one is missing (pandas fills
/// only the right operand) — and comparisons refused (pandas raises "Can only compare
/// identically-labeled Series objects").
fn two_series(i: usize, op: BinOp, a: Panel, b: Panel) -> Result<Value, EvalError> {
    if a.dates == b.dates {
        return panels(i, op, a, b);
    }
    if op.is_comparison() {
        return Err(type_err(
            i,
            format!(
                "`{}` compares two Series on different dates (pandas refuses to; compare each \
                 with the panel instead)",
                op.symbol()
            ),
        ));
    }
    if op.is_logical() {
        let left = a.dates.clone();
        let (a, b) = outer_align(&a, &b);
        let present: Vec<bool> = a
            .dates
            .iter()
            .map(|d| left.binary_search(d).is_ok())
            .collect();
        return match panels(i, op, a, b)? {
            Value::Panel(p) => {
                let kept = cells::zip(&p.bools(), &present, |x, here| x && here);
                Ok(Value::Panel(p.with_bools(kept)))
            }
            v => Ok(v),
        };
    }
    // Arithmetic reads a missing bool as NaN, not as a False (0).
    let widen = |p: Panel| p.with_floats(Rc::unwrap_or_clone(p.floats()));
    let (a, b) = outer_align(&widen(a), &widen(b));
    panels(i, op, a, b)
}

/// `p op s` for a Series on the panel's dates: each column with the Series, cell by cell —
/// what the Series repeated in every column gives, without building that panel.
fn panel_series(i: usize, op: BinOp, p: Panel, s: &Panel) -> Result<Value, EvalError> {
    let rows = p.rows();
    let columns: Vec<std::ops::Range<usize>> = (0..p.columns.len())
        .map(|c| c * rows..(c + 1) * rows)
        .collect();
    if op.is_logical() {
        let (Cells::Bool(x), Cells::Bool(y)) = (&p.cells, &s.cells) else {
            return Err(type_err(
                i,
                format!("`{}` needs two bool panels", op.symbol()),
            ));
        };
        let mut out = vec![false; x.len()];
        for r in columns.iter().cloned() {
            if op == BinOp::And {
                cells::zip_into(&mut out[r.clone()], &x[r], y, |a, b| a && b);
            } else {
                cells::zip_into(&mut out[r.clone()], &x[r], y, |a, b| a || b);
            }
        }
        return Ok(Value::Panel(p.with_bools(out)));
    }
    let (x, y) = (p.floats(), s.floats());
    if op.is_comparison() {
        let mut out = vec![false; x.len()];
        with_compare!(op, f => for r in columns.iter().cloned() {
            cells::zip_into(&mut out[r.clone()], &x[r], &y, f);
        });
        return Ok(Value::Panel(p.with_bools(out)));
    }
    let mut out = vec![0.0; x.len()];
    with_arith!(op, f => for r in columns.iter().cloned() {
        cells::zip_into(&mut out[r.clone()], &x[r], &y, f);
    });
    Ok(Value::Panel(p.with_floats(out)))
}

/// The one column of Series `s` repeated under each of `columns` (its dates, its kind).
fn broadcast(s: &Panel, columns: &Rc<Vec<String>>) -> Panel {
    let k = columns.len();
    let cells = match &s.cells {
        Cells::Float(v) => Cells::Float(Rc::new(v.repeat(k))),
        Cells::Bool(v) => Cells::Bool(Rc::new(v.repeat(k))),
    };
    Panel {
        dates: s.dates.clone(),
        columns: columns.clone(),
        cells,
    }
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
