//! The comparison and arithmetic operators, defined once. Each macro binds `$f` to `op`'s
//! operation as a closure and evaluates `$body` in one arm per operator, so a cell loop in
//! `$body` is compiled for its operator (no `match` per cell); [`compare`] and [`arith`] are the
//! same arms applied to one pair of numbers.
//!
//! The module is declared first in `eval/mod.rs` with `#[macro_use]`: `macro_rules!` macros are
//! visible only to the code after them.

use crate::plan::BinOp;

/// Evaluates `$body` with `$f` bound to `op`'s comparison, as pandas answers it: NaN compares
/// False, except `!=` (True) — which IEEE comparisons give as they are.
macro_rules! with_compare {
    ($op:expr, $f:ident => $body:expr) => {
        match $op {
            $crate::plan::BinOp::Gt => {
                let $f = |a: f64, b: f64| a > b;
                $body
            }
            $crate::plan::BinOp::Ge => {
                let $f = |a: f64, b: f64| a >= b;
                $body
            }
            $crate::plan::BinOp::Lt => {
                let $f = |a: f64, b: f64| a < b;
                $body
            }
            $crate::plan::BinOp::Le => {
                let $f = |a: f64, b: f64| a <= b;
                $body
            }
            $crate::plan::BinOp::Eq => {
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
            $crate::plan::BinOp::Add => {
                let $f = |a: f64, b: f64| a + b;
                $body
            }
            $crate::plan::BinOp::Sub => {
                let $f = |a: f64, b: f64| a - b;
                $body
            }
            $crate::plan::BinOp::Mul => {
                let $f = |a: f64, b: f64| a * b;
                $body
            }
            $crate::plan::BinOp::Pow => {
                let $f = |a: f64, b: f64| libm::pow(a, b);
                $body
            }
            _ => {
                let $f = |a: f64, b: f64| a / b;
                $body
            }
        }
    };
}

/// Runs `$body` with `$f` bound to numpy's `array ** s` for a number `s`: numpy computes the
/// exponents 2, 0.5, 1, 0 and −1 without `pow` (square, `sqrt`, a copy, ones, reciprocal), which
/// differs from `pow` in the sign of `(-0.0) ** 0.5` and in `(-inf) ** 0.5` (NaN). Other
/// exponents use `pow`.
macro_rules! with_scalar_pow {
    ($s:expr, $f:ident => $body:expr) => {{
        let s: f64 = $s;
        if s == 2.0 {
            let $f = |a: f64| a * a;
            $body
        } else if s == 0.5 {
            let $f = |a: f64| a.sqrt();
            $body
        } else if s == 1.0 {
            let $f = |a: f64| a;
            $body
        } else if s == 0.0 {
            let $f = |_: f64| 1.0;
            $body
        } else if s == -1.0 {
            let $f = |a: f64| 1.0 / a;
            $body
        } else {
            let $f = move |a: f64| libm::pow(a, s);
            $body
        }
    }};
}

/// `a op b` for a comparison (see [`with_compare`]).
pub(super) fn compare(op: BinOp, a: f64, b: f64) -> bool {
    with_compare!(op, f => f(a, b))
}

/// `a op b` for arithmetic (see [`with_arith`]).
pub(super) fn arith(op: BinOp, a: f64, b: f64) -> f64 {
    with_arith!(op, f => f(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_follow_pandas_on_missing_values() {
        let nan = f64::NAN;
        for op in [BinOp::Gt, BinOp::Ge, BinOp::Lt, BinOp::Le, BinOp::Eq] {
            assert!(!compare(op, nan, 1.0) && !compare(op, 1.0, nan) && !compare(op, nan, nan));
        }
        assert!(compare(BinOp::Ne, nan, nan) && compare(BinOp::Ne, nan, 1.0));
        assert!(compare(BinOp::Ge, 2.0, 2.0) && !compare(BinOp::Gt, 2.0, 2.0));
        assert!(compare(BinOp::Eq, 0.0, -0.0));
        assert_eq!(arith(BinOp::Sub, 5.0, 3.0), 2.0);
        assert_eq!(arith(BinOp::Div, 1.0, 0.0), f64::INFINITY);
        // numpy's power: C `pow` (NaN ** 0 is 1, a negative base to a fraction is NaN).
        assert_eq!(arith(BinOp::Pow, 3.0, 2.0), 9.0);
        assert_eq!(arith(BinOp::Pow, f64::NAN, 0.0), 1.0);
        assert!(arith(BinOp::Pow, -8.0, 1.0 / 3.0).is_nan());
    }
}
