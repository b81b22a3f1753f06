//! Expressions: literals, names, unary and binary operators (with the chained-comparison and
//! `and`/`or` hints), indexing with a mask, and attributes (methods, `data.*`, `np.*`).

use std::rc::Rc;

use dsl_runtime::ops::{Form, OpId};
use dsl_runtime::plan::BinOp;

use super::args::ArgError;
use super::value::Val;
use super::{Checker, PanelKind, TExpr};
use crate::dsl::ast::*;
use crate::dsl::codes::Code;
use crate::dsl::diagnostic::Diagnostic;
use crate::dsl::suggest::did_you_mean;

use super::hints::{unknown_method, unknown_numpy};

const FORBIDDEN_BUILTINS: &[&str] = &[
    "eval",
    "exec",
    "open",
    "compile",
    "__import__",
    "globals",
    "locals",
    "vars",
    "getattr",
    "setattr",
    "delattr",
    "input",
    "breakpoint",
    "exit",
    "quit",
    "memoryview",
    "help",
];

/// The comparison that reads the same with its operands swapped (`a < b` is `b > a`).
fn flipped(op: BinaryOp) -> Option<&'static str> {
    Some(match op {
        BinaryOp::Lt => ">",
        BinaryOp::Le => ">=",
        BinaryOp::Gt => "<",
        BinaryOp::Ge => "<=",
        BinaryOp::Eq => "==",
        BinaryOp::Ne => "!=",
        _ => return None,
    })
}

/// A number, or a bool as 0/1 (Python's arithmetic on bools).
fn as_number(v: &Val) -> Option<f64> {
    match v {
        Val::Number(x) => Some(*x),
        Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// One side of a binary operator: a panel, a Series, or a number (as a scalar node).
struct Operand {
    /// `None` for a number.
    kind: Option<PanelKind>,
    expr: Rc<TExpr>,
}

impl Operand {
    fn of(v: &Val) -> Option<Operand> {
        match v {
            Val::Panel(kind, e) => Some(Operand {
                kind: Some(*kind),
                expr: e.clone(),
            }),
            v => as_number(v).map(|x| Operand {
                kind: None,
                expr: Rc::new(TExpr::Scalar(x)),
            }),
        }
    }

    fn is_bool(&self) -> bool {
        self.kind.is_some_and(PanelKind::is_bool)
    }

    fn is_series(&self) -> bool {
        self.kind.is_some_and(PanelKind::is_series)
    }

    fn is_panel(&self) -> bool {
        self.kind.is_some_and(|k| !k.is_series())
    }
}

/// `+` or `-` of two conditions (a bool panel or Series with another, or with a Python bool):
/// pandas' answer is not arithmetic.
fn bool_arithmetic(op: BinaryOp, plan_op: BinOp, l: &Val, r: &Val) -> Option<ArgError> {
    let is_bool = |v: &Val| matches!(v, Val::Bool(_)) || bool_value(v);
    let both_conditions = is_bool(l) && is_bool(r) && (bool_value(l) || bool_value(r));
    if !(matches!(plan_op, BinOp::Add | BinOp::Sub) && both_conditions) {
        return None;
    }
    let (what, pandas) = if plan_op == BinOp::Add {
        (
            "adds",
            "pandas gives `True + True = True` (a logical or), so the exported strategy would differ",
        )
    } else {
        ("subtracts", "pandas refuses `-` between bool frames")
    };
    Some(
        ArgError::new(
            Code::BoolArithmetic,
            format!("`{}` {what} two conditions: {pandas}", op.symbol()),
        )
        .label("both sides are conditions")
        .hint("`c1 | c2` combines conditions; `c1 * 1 + c2 * 1` counts how many hold"),
    )
}

/// A bool panel or bool Series.
fn bool_value(v: &Val) -> bool {
    matches!(v, Val::Panel(k, _) if k.is_bool())
}

impl Checker<'_> {
    pub(super) fn expr(&mut self, e: &Expr) -> Val {
        crate::dsl::deep(|| self.expr_inner(e))
    }

    fn expr_inner(&mut self, e: &Expr) -> Val {
        match &e.kind {
            ExprKind::Number(x) if x.is_finite() => Val::Number(*x),
            ExprKind::Number(_) => self.err(Diagnostic::error(
                Code::InvalidNumber,
                e.span,
                "this number is not a finite real number",
            )),
            ExprKind::Str { value, prefix } => {
                if prefix.contains('f') || prefix.contains('b') {
                    return self.err(
                        Diagnostic::error(
                            Code::UnsupportedSyntax,
                            e.span,
                            "f-strings and byte strings are not supported",
                        )
                        .hint("write a plain string literal, e.g. \"price:收盤價\""),
                    );
                }
                Val::Str(value.clone())
            }
            ExprKind::Bool(b) => Val::Bool(*b),
            ExprKind::None => Val::None,
            ExprKind::Name(n) => self.name(n, e.span),
            ExprKind::Unary { op, operand } => self.unary(*op, operand, e.span),
            ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => self.binary(*op, *op_span, lhs, rhs),
            ExprKind::Call { func, args } => self.call(func, args, e.span),
            ExprKind::Attr {
                value,
                name,
                name_span,
            } => self.attr(value, name, *name_span),
            ExprKind::Index {
                value,
                index,
                slice,
            } => self.index(value, index, slice.as_ref(), e.span),
            ExprKind::Lambda => self.err(
                Diagnostic::error(Code::ForbiddenSyntax, e.span, "`lambda` is not allowed")
                    .hint("use panel methods; custom functions are not part of the DSL"),
            ),
            ExprKind::Comprehension => self.err(
                Diagnostic::error(
                    Code::ForbiddenSyntax,
                    e.span,
                    "comprehensions are not allowed",
                )
                .hint("panels are vectorized: combine whole panels instead of iterating"),
            ),
            ExprKind::List(_) | ExprKind::Tuple(_) | ExprKind::Dict => self.err(
                Diagnostic::error(
                    Code::UnsupportedSyntax,
                    e.span,
                    "lists, tuples and dicts are not values in the DSL",
                )
                .hint("values are panels, numbers, strings, True/False and None"),
            ),
        }
    }

    fn name(&mut self, n: &str, span: Span) -> Val {
        if let Some(v) = self.env.get(n) {
            self.used.insert(n.to_string());
            return v.clone();
        }
        if FORBIDDEN_BUILTINS.contains(&n) {
            return self.err(
                Diagnostic::error(
                    Code::ForbiddenBuiltin,
                    span,
                    format!("`{n}` is not allowed: strategies cannot run code, read files or inspect objects"),
                )
                .label("forbidden")
                .hint("write the signal with `data.get(...)`, panel methods and operators"),
            );
        }
        if n == "print" {
            return self.err(
                Diagnostic::error(Code::ForbiddenBuiltin, span, "`print` is not available")
                    .hint("remove it; `dsl-engine backtest` reports the results"),
            );
        }
        let mut d = Diagnostic::error(Code::UndefinedName, span, format!("`{n}` is not defined"))
            .label("unknown name");
        if n == "max" || n == "min" {
            return self.err(d.hint(format!(
                "for an element-wise {n} write `np.{n}imum(a, b)` (with `import numpy as np`)"
            )));
        }
        let names: Vec<&str> = self.env.keys().map(String::as_str).collect();
        if let Some(s) = did_you_mean(n, names) {
            d = d.hint(format!("did you mean `{s}`?"));
        } else {
            d = d.hint("define it first, e.g. `close = data.get(\"price:收盤價\")`");
        }
        self.err(d)
    }

    fn unary(&mut self, op: UnaryOp, operand: &Expr, span: Span) -> Val {
        let v = self.expr(operand);
        match (op, v) {
            (_, Val::Poison) => Val::Poison,
            (UnaryOp::Not, _) => self.err(
                Diagnostic::error(
                    Code::PythonLogicOperator,
                    span,
                    "`not` does not work element-wise on panels",
                )
                .hint("use `~cond` (and wrap comparisons in parentheses: `~(close > ma)`)"),
            ),
            (UnaryOp::Pos, v @ (Val::Number(_) | Val::Panel(..))) => v,
            (UnaryOp::Neg, Val::Number(x)) => Val::Number(-x),
            (UnaryOp::Neg, Val::Panel(k @ (PanelKind::Float | PanelKind::Series), e)) => {
                Val::Panel(k, Rc::new(TExpr::Neg(e)))
            }
            (UnaryOp::Invert, Val::Panel(k @ (PanelKind::Bool | PanelKind::BoolSeries), e)) => {
                Val::Panel(k, Rc::new(TExpr::Not(e)))
            }
            (UnaryOp::Invert, v) => self.err(
                Diagnostic::error(
                    Code::InvertNeedsBool,
                    span,
                    format!("`~` negates a bool panel, not {}", v.describe()),
                )
                .hint("build a condition first, e.g. `~(close > close.average(20))`"),
            ),
            (_, v) => self.err(Diagnostic::error(
                Code::InvalidOperand,
                span,
                format!("cannot negate {}", v.describe()),
            )),
        }
    }

    /// `lhs op rhs`: the operator is supported and not chained, then [`Checker::combine`] types it.
    fn binary(&mut self, op: BinaryOp, op_span: Span, lhs: &Expr, rhs: &Expr) -> Val {
        use BinaryOp as B;
        let (l, r) = (self.expr(lhs), self.expr(rhs));
        if l.is_poison() || r.is_poison() {
            return Val::Poison;
        }
        let plan_op = match op {
            B::Add => BinOp::Add,
            B::Sub => BinOp::Sub,
            B::Mul => BinOp::Mul,
            B::Div => BinOp::Div,
            B::Pow => BinOp::Pow,
            B::Gt => BinOp::Gt,
            B::Ge => BinOp::Ge,
            B::Lt => BinOp::Lt,
            B::Le => BinOp::Le,
            B::Eq => BinOp::Eq,
            B::Ne => BinOp::Ne,
            B::BitAnd => BinOp::And,
            B::BitOr => BinOp::Or,
            B::And | B::Or => {
                let sym = if op == B::And { "&" } else { "|" };
                return self.err(
                    Diagnostic::error(
                        Code::PythonLogicOperator,
                        op_span,
                        format!("`{}` does not work element-wise on panels", op.symbol()),
                    )
                    .label(format!("use `{sym}`"))
                    .hint(format!(
                        "write `(a > b) {sym} (c < d)`: `{sym}` combines bool panels, and each comparison needs parentheses"
                    )),
                );
            }
            _ => {
                return self.err(
                    Diagnostic::error(
                        Code::UnsupportedOperator,
                        op_span,
                        format!("the `{}` operator is not supported", op.symbol()),
                    )
                    .hint("supported: + - * / ** (arithmetic), < <= > >= == != (comparisons), & | ~ (conditions)"),
                );
            }
        };
        if op.is_comparison() {
            for side in [lhs, rhs] {
                if let ExprKind::Binary { op: inner, .. } = &side.kind {
                    if inner.is_comparison() && !side.parens {
                        return self.err(
                            Diagnostic::error(
                                Code::ChainedComparison,
                                op_span,
                                "chained comparisons are not supported",
                            )
                            .hint("compare once per condition and combine with `&`: `(a < b) & (b < c)`"),
                        );
                    }
                }
            }
        }
        self.combine(op, plan_op, op_span, l, r)
    }

    /// The value of `l op r` for a supported operator: a typed panel or Series expression, a
    /// folded constant, or the diagnostic for operands that do not go together.
    fn combine(&mut self, op: BinaryOp, plan_op: BinOp, op_span: Span, l: Val, r: Val) -> Val {
        if let (Some(a), Some(b)) = (as_number(&l), as_number(&r)) {
            return self.fold(op, plan_op, op_span, a, b);
        }
        if let Some(d) = bool_arithmetic(op, plan_op, &l, &r) {
            return self.err(d.at(op_span));
        }
        let (Some(a), Some(b)) = (Operand::of(&l), Operand::of(&r)) else {
            return self.err(Diagnostic::error(
                Code::InvalidOperand,
                op_span,
                format!(
                    "`{}` cannot combine {} and {}",
                    op.symbol(),
                    l.describe(),
                    r.describe()
                ),
            ));
        };
        if plan_op.is_logical() && !(a.is_bool() && b.is_bool()) {
            let bad = if a.is_bool() { &r } else { &l };
            return self.err(
                Diagnostic::error(
                    Code::LogicalNeedsBool,
                    op_span,
                    format!(
                        "`{}` combines two bool panels, but one side is {}",
                        op.symbol(),
                        bad.describe()
                    ),
                )
                .label("both sides must be conditions")
                .hint("in Python `&` and `|` bind tighter than comparisons: write `(close > ma) & (volume > 1000)`"),
            );
        }
        if a.is_series() && b.is_panel() {
            let hint = match flipped(op) {
                Some(f) => format!(
                    "write the panel first, `panel {f} series` (pandas would align a left-hand \
                     Series with the stock columns, not the dates): `pb {f} pb.quantile_row(0.2)`"
                ),
                None if plan_op.is_logical() => format!(
                    "write the panel first: `cond {} market_ok` (pandas would align a left-hand \
                     Series with the stock columns, not the dates)",
                    op.symbol()
                ),
                None => "put the panel on the left: `pb / pb.quantile_row(0.5)`".into(),
            };
            return self.err(
                Diagnostic::error(
                    Code::SeriesOperand,
                    op_span,
                    "a Series must be the right operand of a panel",
                )
                .hint(hint),
            );
        }
        // A panel with anything is a panel; Series with Series or numbers stay a Series.
        let shape = if a.is_panel() || b.is_panel() {
            PanelKind::Float
        } else {
            PanelKind::Series
        };
        let kind = shape.with_bool(plan_op.is_comparison() || plan_op.is_logical());
        Val::Panel(kind, Rc::new(TExpr::Binary(plan_op, a.expr, b.expr)))
    }

    /// `a op b` of two constants.
    fn fold(&mut self, op: BinaryOp, plan_op: BinOp, op_span: Span, a: f64, b: f64) -> Val {
        match plan_op {
            BinOp::Add => Val::Number(a + b),
            BinOp::Sub => Val::Number(a - b),
            BinOp::Mul => Val::Number(a * b),
            BinOp::Div if b != 0.0 => Val::Number(a / b),
            BinOp::Div => self.err(Diagnostic::error(
                Code::DivisionByZero,
                op_span,
                "division by zero in a constant",
            )),
            BinOp::Pow => match a.powf(b) {
                v if v.is_finite() => Val::Number(v),
                _ => self.err(
                    Diagnostic::error(
                        Code::InvalidNumber,
                        op_span,
                        format!("`{a} ** {b}` is not a finite real number"),
                    )
                    .hint("Python raises or gives a complex number here"),
                ),
            },
            BinOp::Gt => Val::Bool(a > b),
            BinOp::Ge => Val::Bool(a >= b),
            BinOp::Lt => Val::Bool(a < b),
            BinOp::Le => Val::Bool(a <= b),
            BinOp::Eq => Val::Bool(a == b),
            BinOp::Ne => Val::Bool(a != b),
            BinOp::And | BinOp::Or => self.err(
                Diagnostic::error(
                    Code::LogicalNeedsBool,
                    op_span,
                    format!(
                        "`{}` combines two bool panels, not two numbers",
                        op.symbol()
                    ),
                )
                .hint("write `(close > ma) & (volume > 1000)`"),
            ),
        }
    }

    fn index(&mut self, value: &Expr, index: &[Expr], slice: Option<&Slice>, span: Span) -> Val {
        let base = self.expr(value);
        if let Val::Loc(e, kind) = base {
            return self.loc(e, kind, index, slice, span);
        }
        if base.is_poison() {
            return Val::Poison;
        }
        if slice.is_some() || index.len() != 1 {
            return self.err(
                Diagnostic::error(
                    Code::UnsupportedIndex,
                    span,
                    "slicing and multi-indexing are not supported",
                )
                .hint("select with a bool panel, `x[cond]`, or dates with `x.loc[\"2015\":]`"),
            );
        }
        let cond = self.expr(&index[0]);
        match (base, cond) {
            (_, Val::Poison) => Val::Poison,
            (Val::Panel(k, _), _) | (_, Val::Panel(k, _)) if k.is_series() => self.err(
                Diagnostic::error(
                    Code::UnsupportedIndex,
                    span,
                    "a date-indexed Series cannot be masked or used as a mask",
                )
                .hint(
                    "combine a per-date filter with a condition, `cond & market_ok`, or compare \
                     a Series with the panel first: `x[x > x.quantile_row(0.8)]`",
                ),
            ),
            (Val::Panel(kind, v), Val::Panel(PanelKind::Bool, c)) => {
                Val::Panel(kind, Rc::new(TExpr::Mask(v, c)))
            }
            (Val::Panel(..), Val::Panel(PanelKind::Float, _)) => self.err(
                Diagnostic::error(
                    Code::MaskNeedsBool,
                    index[0].span,
                    "the mask in `x[cond]` must be a bool panel, not a float panel",
                )
                .hint("compare first, e.g. `x[close > close.average(20)]`"),
            ),
            (Val::Panel(..), other) => self.err(
                Diagnostic::error(
                    Code::UnsupportedIndex,
                    index[0].span,
                    format!(
                        "panels are indexed by a bool panel, not {}",
                        other.describe()
                    ),
                )
                .hint("selecting single stocks or dates is not part of the DSL; use a condition"),
            ),
            (Val::Multi(op, _), _) => {
                let spec = op.spec();
                self.err(
                    Diagnostic::error(
                        Code::UnsupportedIndex,
                        span,
                        format!(
                            "`{}` returns {} panels ({}), which cannot be indexed",
                            spec.name,
                            spec.outputs.len(),
                            spec.outputs.join(", ")
                        ),
                    )
                    .hint(format!(
                        "unpack them: `{} = data.indicator(\"{}\")`",
                        spec.outputs.join(", "),
                        spec.name
                    )),
                )
            }
            (other, _) => self.err(Diagnostic::error(
                Code::UnsupportedIndex,
                span,
                format!("{} cannot be indexed", other.describe()),
            )),
        }
    }

    fn attr(&mut self, value: &Expr, name: &str, name_span: Span) -> Val {
        if name.starts_with("__") {
            return self.err(
                Diagnostic::error(
                    Code::ForbiddenDunder,
                    name_span,
                    format!("`{name}` is not accessible: dunder attributes are refused"),
                )
                .label("forbidden")
                .hint("use the documented panel methods (`dsl-engine ops` lists them)"),
            );
        }
        let base = self.expr(value);
        match base {
            Val::Poison => Val::Poison,
            Val::DataModule if name == "get" => Val::DataGet,
            Val::DataModule if name == "indicator" => Val::DataIndicator,
            Val::DataModule => self.err(
                Diagnostic::error(
                    Code::UnsupportedFunction,
                    name_span,
                    format!("`data.{name}` is not available in strategies"),
                )
                .hint("use `data.get(\"table:column\")` or `data.indicator(\"RSI\")`"),
            ),
            Val::Panel(kind, e) if name == "loc" => Val::Loc(e, kind),
            Val::Panel(kind, e) if window_form(name).is_some() => {
                Val::RollingFn(e, kind, window_form(name).unwrap_or(Form::Rolling))
            }
            Val::Panel(kind, e) => match OpId::find(Form::Method, name) {
                Some(op) => Val::Method(e, kind, op),
                None => self.err(unknown_method(name, name_span)),
            },
            Val::Rolling(e, kind, args, form) => match OpId::find(form, name) {
                Some(op) => Val::RollingAgg(e, kind, args, op),
                None => {
                    let names = OpId::names(form);
                    let mut d = Diagnostic::error(
                        Code::UnknownMethod,
                        name_span,
                        format!("this window has no aggregate `{name}`"),
                    );
                    d = match did_you_mean(name, names.iter().copied()) {
                        Some(s) => d.hint(format!("did you mean `{s}`?")),
                        None => d.hint(format!("available: {}", names.join(", "))),
                    };
                    self.err(d)
                }
            },
            Val::Module(m) if m == "numpy" => match (OpId::find(Form::Numpy, name), name) {
                (Some(op), _) => Val::NumpyFn(op),
                (None, "abs") => Val::AbsFn,
                _ => self.err(unknown_numpy(name, name_span)),
            },
            Val::Module(m) => self.err(
                Diagnostic::error(
                    Code::UnsupportedFunction,
                    name_span,
                    format!("`{m}.{name}` is not available in strategies"),
                )
                .hint("use panel methods and operators instead of numpy/pandas functions"),
            ),
            other => self.err(Diagnostic::error(
                Code::UnknownAttribute,
                name_span,
                format!("{} has no attribute `{name}`", other.describe()),
            )),
        }
    }
}

/// The window a method opens: `rolling`, `ewm` or `expanding`.
fn window_form(name: &str) -> Option<Form> {
    match name {
        "rolling" => Some(Form::Rolling),
        "ewm" => Some(Form::Ewm),
        "expanding" => Some(Form::Expanding),
        _ => None,
    }
}
