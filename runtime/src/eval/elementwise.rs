//! Element-wise numpy and pandas functions beyond the arithmetic operators: `pow`, `np.sqrt`,
//! `np.exp`, `np.sign`, `np.where`, `astype`, `isna`/`notna` and `round`. `exp` and `pow` come
//! from the `libm` crate, so the wasm guest and the native build give the same bits.

use super::args::CallArgs;
use super::{type_err, EvalError};
use crate::cells::{self, one};
use crate::panel::{exact_on, outer_align, Cells, Panel};
use crate::plan::Arg;

/// `x.pow(other)`: with a number cell by cell (numpy's fast exponents, see
/// [`with_scalar_pow`]); with a panel on pandas' outer alignment.
pub(super) fn pow(call: &CallArgs, p: &Panel) -> Result<Panel, EvalError> {
    if let Arg::Float(s) = call.arg("other")? {
        return Ok(with_scalar_pow!(*s, f => p.with_floats(cells::map(&p.floats(), f))));
    }
    let q = call
        .panel("other")?
        .ok_or_else(|| type_err(call.node, "pow needs `other`"))?;
    let (a, b) = outer_align(p, q);
    Ok(a.with_floats(cells::zip(&a.floats(), &b.floats(), libm::pow)))
}

pub(super) fn sqrt(p: &Panel) -> Panel {
    p.with_floats(cells::map(&p.floats(), f64::sqrt))
}

pub(super) fn exp(p: &Panel) -> Panel {
    p.with_floats(cells::map(&p.floats(), libm::exp))
}

/// numpy's `sign`: -1, 0 (also for -0.0) or 1; NaN stays NaN.
pub(super) fn sign(p: &Panel) -> Panel {
    let sign = |x: f64| {
        if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else if x == 0.0 {
            0.0
        } else {
            x
        }
    };
    p.with_floats(cells::map(&p.floats(), sign))
}

/// `np.where(cond, x, y)` on `cond`'s dates and stocks: each of `x` and `y` is a number, or a
/// panel placed on that grid by exact labels (missing cells NaN; a bool panel reads as 0/1).
pub(super) fn np_where(call: &CallArgs, cond: &Panel) -> Result<Panel, EvalError> {
    let side = |name: &str| -> Result<Side, EvalError> {
        if let Arg::Float(s) = call.arg(name)? {
            return Ok(Side::Number(*s));
        }
        let q = call
            .panel(name)?
            .ok_or_else(|| type_err(call.node, format!("np.where needs `{name}`")))?;
        let q = q.with_floats(q.floats().to_vec());
        Ok(Side::Cells(exact_on(cond, &q).floats().to_vec()))
    };
    let (x, y) = (side("x")?, side("y")?);
    let keep = cond.bools();
    let out = keep
        .iter()
        .enumerate()
        .map(|(i, k)| if *k { x.at(i) } else { y.at(i) })
        .collect();
    Ok(Panel::float(cond.dates.clone(), cond.columns.clone(), out))
}

enum Side {
    Number(f64),
    Cells(Vec<f64>),
}

impl Side {
    fn at(&self, i: usize) -> f64 {
        match self {
            Side::Number(x) => *x,
            Side::Cells(v) => v[i],
        }
    }
}

/// `astype("int" | "float" | "bool")`. int truncates toward zero and refuses a missing or
/// infinite value, as pandas does; bool is True for non-zero values and for NaN (numpy's cast).
pub(super) fn astype(call: &CallArgs, p: &Panel) -> Result<Panel, EvalError> {
    let dtype = call.text("dtype")?;
    Ok(match (dtype, &p.cells) {
        ("bool", Cells::Bool(_)) => p.clone(),
        ("bool", Cells::Float(v)) => p.with_bools(cells::map(v, |x| x != 0.0)),
        (_, Cells::Bool(b)) => p.with_floats(cells::map(b, one)),
        ("float", Cells::Float(_)) => p.clone(),
        (_, Cells::Float(v)) => {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                let rows = p.rows().max(1);
                return Err(type_err(
                    call.node,
                    format!(
                        "astype(int): stock {} on day {} has a missing or infinite value, which \
                         pandas cannot convert to an integer; fill it first, e.g. \
                         `x.fillna(0).astype(int)`",
                        p.columns.get(i / rows).map_or("?", String::as_str),
                        p.dates.get(i % rows).copied().unwrap_or_default()
                    ),
                ));
            }
            p.with_floats(cells::map(v, f64::trunc))
        }
    })
}

/// `isna()` (`missing`) or `notna()`: a bool panel has no missing cells.
pub(super) fn missing(p: &Panel, missing: bool) -> Panel {
    match &p.cells {
        Cells::Bool(b) => p.with_bools(vec![!missing; b.len()]),
        Cells::Float(v) => p.with_bools(cells::map(v, |x| x.is_nan() == missing)),
    }
}

/// numpy's `round(decimals)`: `rint(x * 10**d) / 10**d`, or `rint(x / 10**-d) * 10**-d` for a
/// negative `d` (halves to even; a bool panel is unchanged).
pub(super) fn round(call: &CallArgs, p: &Panel) -> Result<Panel, EvalError> {
    let d = call.int("decimals")?.unwrap_or(0);
    let Cells::Float(v) = &p.cells else {
        return Ok(p.clone());
    };
    // numpy builds the factor by repeated multiplication: exact up to 10**22.
    let factor = (0..d.unsigned_abs()).fold(1.0f64, |f, _| f * 10.0);
    Ok(p.with_floats(if d >= 0 {
        cells::map(v, |x| (x * factor).round_ties_even() / factor)
    } else {
        cells::map(v, |x| (x / factor).round_ties_even() * factor)
    }))
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;

    fn column(v: Vec<f64>) -> Panel {
        let dates = Rc::new((0..v.len() as i32).collect());
        Panel::float(dates, Rc::new(vec!["1101".into()]), v)
    }

    #[test]
    fn sign_and_missing_follow_numpy() {
        let p = column(vec![-0.0, 0.0, f64::NAN, -3.0, 2.0, f64::INFINITY]);
        let s = sign(&p).floats();
        assert_eq!(s[..2], [0.0, 0.0]);
        assert!(s[0].is_sign_positive() && s[2].is_nan());
        assert_eq!(s[3..], [-1.0, 1.0, 1.0]);
        assert_eq!(
            *missing(&p, true).bools(),
            vec![false, false, true, false, false, false]
        );
    }
}
