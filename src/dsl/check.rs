//! The checker: walks the AST once, collects *every* diagnostic (it does not stop at the first),
//! and, when there are no errors, yields a [`TypedProgram`]: the position expression as a typed
//! tree plus the `sim(...)` options. Everything outside the DSL — imports beyond the finlab
//! preamble, `def`/loops, `eval`, dunders, look-ahead shifts, unknown names — is refused here
//! with a code, a span and a hint.

use std::collections::BTreeMap;
use std::rc::Rc;

use dsl_runtime::ops::{OpId, Output, ParamKind};
use dsl_runtime::plan::BinOp;

use super::ast::*;
use super::diagnostic::Diagnostic;
use super::sim_args::{self, OptValue, SimCall};
use super::suggest::did_you_mean;

/// Largest number of expression nodes in one strategy.
pub const MAX_NODES: usize = 2000;

/// Kind of a panel value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanelKind {
    Float,
    Bool,
}

/// A checked expression producing a panel (or a number inside one).
#[derive(Clone, Debug, PartialEq)]
pub enum TExpr {
    Load(String),
    Scalar(f64),
    Neg(Rc<TExpr>),
    Not(Rc<TExpr>),
    Binary(BinOp, Rc<TExpr>, Rc<TExpr>),
    Call(OpId, Rc<TExpr>, Vec<i64>),
    Mask(Rc<TExpr>, Rc<TExpr>),
}

/// A strategy that passed the checker.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedProgram {
    pub position: Rc<TExpr>,
    pub position_kind: PanelKind,
    pub sim: SimCall,
}

/// What the checker found: the typed program when there were no errors, and all diagnostics
/// (errors and warnings) in source order.
#[derive(Debug)]
pub struct Checked {
    pub program: Option<TypedProgram>,
    pub diagnostics: Vec<Diagnostic>,
}

/// What the checker needs to know about the world.
#[derive(Clone, Debug, Default)]
pub struct CheckContext {
    /// Dataset keys a strategy may load; `None` skips the check.
    pub datasets: Option<Vec<String>>,
}

#[derive(Clone, Debug)]
enum Val {
    Panel(PanelKind, Rc<TExpr>),
    Number(f64),
    Str(String),
    Bool(bool),
    Nothing,
    DataModule,
    DataGet,
    SimFn,
    Method(Rc<TExpr>, PanelKind, OpId),
    Module(String),
    Report,
    /// The expression had an error already reported; stay quiet about it.
    Poison,
}

impl Val {
    fn describe(&self) -> &'static str {
        match self {
            Val::Panel(PanelKind::Float, _) => "a float panel",
            Val::Panel(PanelKind::Bool, _) => "a bool panel",
            Val::Number(_) => "a number",
            Val::Str(_) => "a string",
            Val::Bool(_) => "a bool",
            Val::Nothing => "None",
            Val::DataModule => "the `data` module",
            Val::DataGet | Val::SimFn | Val::Method(..) => "a function",
            Val::Module(_) => "a module",
            Val::Report => "a backtest report",
            Val::Poison => "an invalid value",
        }
    }
}

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

/// Checks a parsed program.
pub fn check(program: &Program, ctx: &CheckContext) -> Checked {
    let mut c = Checker {
        ctx,
        env: BTreeMap::new(),
        diags: Vec::new(),
        sim: None,
        sim_span: None,
    };
    c.env.insert("data".into(), Val::DataModule);
    c.env.insert("sim".into(), Val::SimFn);
    let nodes: usize = program
        .stmts
        .iter()
        .map(|s| match &s.kind {
            StmtKind::Assign { target, value } | StmtKind::AugAssign { target, value, .. } => {
                target.size() + value.size()
            }
            StmtKind::Expr(e) => e.size(),
            _ => 1,
        })
        .sum();
    if nodes > MAX_NODES {
        c.diags.push(
            Diagnostic::error(
                "program-too-large",
                program.stmts.first().map(|s| s.span).unwrap_or_default(),
                format!("the strategy has {nodes} expression nodes; the limit is {MAX_NODES}"),
            )
            .hint("simplify: strategies that generalise use a handful of conditions"),
        );
        return Checked {
            program: None,
            diagnostics: c.diags,
        };
    }
    for stmt in &program.stmts {
        c.stmt(stmt);
    }
    let end = program
        .stmts
        .last()
        .map(|s| Span::new(s.span.end as usize, s.span.end as usize))
        .unwrap_or_default();
    if c.sim_span.is_none() {
        c.diags.push(
            Diagnostic::error("missing-sim", end, "the strategy never calls `sim(...)`")
                .label("expected a `sim(position, ...)` call")
                .hint("end with e.g. `sim(position, resample=\"M\")`"),
        );
    }
    c.diags.sort_by_key(|d| (d.span.start, d.span.end));
    let has_error = c.diags.iter().any(Diagnostic::is_error);
    Checked {
        program: if has_error { None } else { c.sim },
        diagnostics: c.diags,
    }
}

struct Checker<'a> {
    ctx: &'a CheckContext,
    env: BTreeMap<String, Val>,
    diags: Vec<Diagnostic>,
    sim: Option<TypedProgram>,
    sim_span: Option<Span>,
}

fn is_sim_call(e: &Expr) -> Option<&[Arg]> {
    match &e.kind {
        ExprKind::Call { func, args } => match &func.kind {
            ExprKind::Name(n) if n == "sim" => Some(args),
            _ => None,
        },
        _ => None,
    }
}

impl Checker<'_> {
    fn err(&mut self, d: Diagnostic) -> Val {
        self.diags.push(d);
        Val::Poison
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Import(items) => {
                for item in items {
                    let ok = matches!(
                        (item.name.as_str(), item.alias.as_deref()),
                        ("numpy", Some("np")) | ("pandas", Some("pd")) | ("finlab", None)
                    );
                    if ok {
                        let bound = item.alias.clone().unwrap_or_else(|| item.name.clone());
                        self.env.insert(bound, Val::Module(item.name.clone()));
                    } else {
                        self.forbidden_import(&item.name, item.span);
                    }
                }
            }
            StmtKind::FromImport {
                module,
                names,
                star,
            } => {
                if *star {
                    self.forbidden_import(&format!("{module} *"), stmt.span);
                    return;
                }
                for item in names {
                    let val = match (module.as_str(), item.name.as_str()) {
                        ("finlab", "data") => Val::DataModule,
                        ("finlab.backtest", "sim") => Val::SimFn,
                        _ => {
                            self.forbidden_import(&format!("{module}.{}", item.name), item.span);
                            continue;
                        }
                    };
                    let bound = item.alias.clone().unwrap_or_else(|| item.name.clone());
                    self.env.insert(bound, val);
                }
            }
            StmtKind::Keyword {
                keyword,
                keyword_span,
            } => {
                let hint = match keyword.as_str() {
                    "for" | "while" => "panels are vectorized: use panel methods such as `.average(n)` or `.shift(n)` instead of loops",
                    "def" | "class" | "lambda" => "write the signal inline as assignments; helper functions are not part of the DSL",
                    "if" | "elif" | "else" => "use a bool panel as a mask instead of `if`: `x[cond]` or `cond1 & cond2`",
                    _ => "a strategy is a sequence of `name = expression` lines and one `sim(...)` call",
                };
                self.diags.push(
                    Diagnostic::error(
                        "forbidden-statement",
                        *keyword_span,
                        format!("`{keyword}` statements are not allowed in a strategy"),
                    )
                    .label("not part of the DSL")
                    .hint(hint),
                );
            }
            StmtKind::Assign { target, value } => {
                let val = if let Some(args) = is_sim_call(value) {
                    self.sim_call(args, value.span);
                    Val::Report
                } else {
                    self.expr(value)
                };
                match &target.kind {
                    ExprKind::Name(n) if n == "data" || n == "sim" => {
                        self.diags.push(
                            Diagnostic::error(
                                "reassigned-builtin",
                                target.span,
                                format!(
                                    "`{n}` is the finlab {} and cannot be reassigned",
                                    if n == "data" {
                                        "data module"
                                    } else {
                                        "backtest function"
                                    }
                                ),
                            )
                            .hint("pick another name, e.g. `close = data.get(...)`"),
                        );
                    }
                    ExprKind::Name(n) => {
                        self.env.insert(n.clone(), val);
                    }
                    _ => {
                        self.diags.push(
                            Diagnostic::error(
                                "invalid-assignment",
                                target.span,
                                "only plain names can be assigned",
                            )
                            .label("not a name")
                            .hint("panels are immutable: build a new one, e.g. `signal = close[cond]`"),
                        );
                    }
                }
            }
            StmtKind::AugAssign { target, op, value } => {
                let base = op.trim_end_matches('=');
                self.diags.push(
                    Diagnostic::error(
                        "augmented-assignment",
                        stmt.span,
                        format!("`{op}` is not supported"),
                    )
                    .hint(format!(
                        "write it out: `x = x {base} y`{}",
                        match (&target.kind, &value.kind) {
                            (ExprKind::Name(n), _) => format!(" (here `{n} = {n} {base} ...`)"),
                            _ => String::new(),
                        }
                    )),
                );
            }
            StmtKind::Expr(e) => {
                if let Some(args) = is_sim_call(e) {
                    self.sim_call(args, e.span);
                    return;
                }
                if let ExprKind::Str { .. } = e.kind {
                    return; // a docstring
                }
                if let ExprKind::Call { func, .. } = &e.kind {
                    if let ExprKind::Attr { value, name, .. } = &func.kind {
                        if let ExprKind::Name(n) = &value.kind {
                            if matches!(self.env.get(n), Some(Val::Report)) {
                                self.diags.push(
                                    Diagnostic::warning(
                                        "ignored-call",
                                        e.span,
                                        format!("`{n}.{name}(...)` is ignored"),
                                    )
                                    .hint("dsl-engine prints the report itself (`backtest`, `--json`)"),
                                );
                                return;
                            }
                        }
                    }
                }
                let v = self.expr(e);
                if !matches!(v, Val::Poison) {
                    self.diags.push(
                        Diagnostic::warning(
                            "unused-expression",
                            e.span,
                            "this expression's value is not used",
                        )
                        .hint("assign it to a name or remove it"),
                    );
                }
            }
        }
    }

    fn forbidden_import(&mut self, what: &str, span: Span) {
        self.diags.push(
            Diagnostic::error(
                "forbidden-import",
                span,
                format!("importing `{what}` is not allowed"),
            )
            .label("imports are limited to the finlab preamble")
            .hint("allowed: `from finlab import data`, `from finlab.backtest import sim`, `import numpy as np`, `import pandas as pd`"),
        );
    }

    fn sim_call(&mut self, args: &[Arg], span: Span) {
        if self.sim_span.is_some() {
            self.diags.push(
                Diagnostic::error("multiple-sim", span, "a strategy calls `sim(...)` once")
                    .label("second call")
                    .hint("keep only the call you want backtested"),
            );
            return;
        }
        self.sim_span = Some(span);
        let mut position = None;
        let mut call = SimCall::default();
        let mut ok = true;
        for arg in args {
            if arg.star {
                self.err(Diagnostic::error(
                    "sim-arguments",
                    arg.span,
                    "`*args`/`**kwargs` are not supported",
                ));
                ok = false;
                continue;
            }
            let Some((name, name_span)) = &arg.name else {
                if position.is_some() {
                    self.err(
                        Diagnostic::error(
                            "sim-arguments",
                            arg.span,
                            "`sim` takes one positional argument, the position",
                        )
                        .hint("pass options by name, e.g. `resample=\"M\"`"),
                    );
                    ok = false;
                } else {
                    position = Some(self.expr(&arg.value));
                }
                continue;
            };
            let value = match self.expr(&arg.value) {
                Val::Poison => {
                    ok = false;
                    continue;
                }
                Val::Number(x) => OptValue::Number(x),
                Val::Str(s) => OptValue::Str(s),
                Val::Bool(b) => OptValue::Bool(b),
                Val::Nothing => OptValue::Nothing,
                other => OptValue::Other(other.describe()),
            };
            if let Err(d) = sim_args::apply(&mut call, name, *name_span, value, arg.value.span) {
                self.diags.push(d);
                ok = false;
            }
        }
        let (position, kind) = match position {
            Some(Val::Panel(kind, e)) => (e, kind),
            Some(Val::Poison) => return,
            Some(other) => {
                self.err(
                    Diagnostic::error(
                        "sim-arguments",
                        args.first().map(|a| a.span).unwrap_or(span),
                        format!("`sim` needs a position panel, not {}", other.describe()),
                    )
                    .hint("pass a bool panel (hold / don't hold) or a float panel of weights"),
                );
                return;
            }
            None => {
                self.err(
                    Diagnostic::error("sim-arguments", span, "`sim` needs a position argument")
                        .hint("e.g. `sim(position, resample=\"M\")`"),
                );
                return;
            }
        };
        if ok {
            self.sim = Some(TypedProgram {
                position,
                position_kind: kind,
                sim: call,
            });
        }
    }

    fn expr(&mut self, e: &Expr) -> Val {
        match &e.kind {
            ExprKind::Number(x) if x.is_finite() => Val::Number(*x),
            ExprKind::Number(_) => self.err(Diagnostic::error(
                "invalid-number",
                e.span,
                "this number is not a finite real number",
            )),
            ExprKind::Str { value, prefix } => {
                if prefix.contains('f') || prefix.contains('b') {
                    return self.err(
                        Diagnostic::error(
                            "unsupported-syntax",
                            e.span,
                            "f-strings and byte strings are not supported",
                        )
                        .hint("write a plain string literal, e.g. \"price:收盤價\""),
                    );
                }
                Val::Str(value.clone())
            }
            ExprKind::Bool(b) => Val::Bool(*b),
            ExprKind::None => Val::Nothing,
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
            } => self.index(value, index, *slice, e.span),
            ExprKind::Lambda => self.err(
                Diagnostic::error("forbidden-syntax", e.span, "`lambda` is not allowed")
                    .hint("use panel methods; custom functions are not part of the DSL"),
            ),
            ExprKind::Comprehension => self.err(
                Diagnostic::error("forbidden-syntax", e.span, "comprehensions are not allowed")
                    .hint("panels are vectorized: combine whole panels instead of iterating"),
            ),
            ExprKind::List(_) | ExprKind::Tuple(_) | ExprKind::Dict => self.err(
                Diagnostic::error(
                    "unsupported-syntax",
                    e.span,
                    "lists, tuples and dicts are not values in the DSL",
                )
                .hint("values are panels, numbers, strings, True/False and None"),
            ),
        }
    }

    fn name(&mut self, n: &str, span: Span) -> Val {
        if let Some(v) = self.env.get(n) {
            return v.clone();
        }
        if FORBIDDEN_BUILTINS.contains(&n) {
            return self.err(
                Diagnostic::error(
                    "forbidden-builtin",
                    span,
                    format!("`{n}` is not allowed: strategies cannot run code, read files or inspect objects"),
                )
                .label("forbidden")
                .hint("write the signal with `data.get(...)`, panel methods and operators"),
            );
        }
        if n == "print" {
            return self.err(
                Diagnostic::error("forbidden-builtin", span, "`print` is not available")
                    .hint("remove it; `dsl-engine backtest` reports the results"),
            );
        }
        let mut d = Diagnostic::error("undefined-name", span, format!("`{n}` is not defined"))
            .label("unknown name");
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
                    "python-logic-operator",
                    span,
                    "`not` does not work element-wise on panels",
                )
                .hint("use `~cond` (and wrap comparisons in parentheses: `~(close > ma)`)"),
            ),
            (UnaryOp::Pos, v @ (Val::Number(_) | Val::Panel(..))) => v,
            (UnaryOp::Neg, Val::Number(x)) => Val::Number(-x),
            (UnaryOp::Neg, Val::Panel(PanelKind::Float, e)) => {
                Val::Panel(PanelKind::Float, Rc::new(TExpr::Neg(e)))
            }
            (UnaryOp::Invert, Val::Panel(PanelKind::Bool, e)) => {
                Val::Panel(PanelKind::Bool, Rc::new(TExpr::Not(e)))
            }
            (UnaryOp::Invert, v) => self.err(
                Diagnostic::error(
                    "invert-needs-bool",
                    span,
                    format!("`~` negates a bool panel, not {}", v.describe()),
                )
                .hint("build a condition first, e.g. `~(close > close.average(20))`"),
            ),
            (_, v) => self.err(Diagnostic::error(
                "invalid-operand",
                span,
                format!("cannot negate {}", v.describe()),
            )),
        }
    }

    fn binary(&mut self, op: BinaryOp, op_span: Span, lhs: &Expr, rhs: &Expr) -> Val {
        use BinaryOp as B;
        let (l, r) = (self.expr(lhs), self.expr(rhs));
        if matches!(l, Val::Poison) || matches!(r, Val::Poison) {
            return Val::Poison;
        }
        let plan_op = match op {
            B::Add => BinOp::Add,
            B::Sub => BinOp::Sub,
            B::Mul => BinOp::Mul,
            B::Div => BinOp::Div,
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
                        "python-logic-operator",
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
                        "unsupported-operator",
                        op_span,
                        format!("the `{}` operator is not supported", op.symbol()),
                    )
                    .hint("supported: + - * / (arithmetic), < <= > >= == != (comparisons), & | ~ (conditions)"),
                );
            }
        };
        if op.is_comparison() {
            for side in [lhs, rhs] {
                if let ExprKind::Binary { op: inner, .. } = &side.kind {
                    if inner.is_comparison() && !side.parens {
                        return self.err(
                            Diagnostic::error(
                                "chained-comparison",
                                op_span,
                                "chained comparisons are not supported",
                            )
                            .hint("compare once per condition and combine with `&`: `(a < b) & (b < c)`"),
                        );
                    }
                }
            }
        }
        let as_number = |v: &Val| match v {
            Val::Number(x) => Some(*x),
            Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        };
        if plan_op.is_logical() {
            return match (&l, &r) {
                (Val::Panel(PanelKind::Bool, a), Val::Panel(PanelKind::Bool, b)) => Val::Panel(
                    PanelKind::Bool,
                    Rc::new(TExpr::Binary(plan_op, a.clone(), b.clone())),
                ),
                _ => {
                    let bad = if matches!(l, Val::Panel(PanelKind::Bool, _)) {
                        &r
                    } else {
                        &l
                    };
                    self.err(
                        Diagnostic::error(
                            "logical-needs-bool",
                            op_span,
                            format!("`{}` combines two bool panels, but one side is {}", op.symbol(), bad.describe()),
                        )
                        .label("both sides must be conditions")
                        .hint("in Python `&` and `|` bind tighter than comparisons: write `(close > ma) & (volume > 1000)`"),
                    )
                }
            };
        }
        match (&l, &r) {
            (Val::Panel(_, a), Val::Panel(_, b)) => Val::Panel(
                result_kind(plan_op),
                Rc::new(TExpr::Binary(plan_op, a.clone(), b.clone())),
            ),
            (Val::Panel(_, a), s) | (s, Val::Panel(_, a)) if as_number(s).is_some() => {
                let scalar = Rc::new(TExpr::Scalar(as_number(s).unwrap_or(0.0)));
                let (x, y) = if matches!(l, Val::Panel(..)) {
                    (a.clone(), scalar)
                } else {
                    (scalar, a.clone())
                };
                Val::Panel(result_kind(plan_op), Rc::new(TExpr::Binary(plan_op, x, y)))
            }
            _ => match (as_number(&l), as_number(&r)) {
                (Some(a), Some(b)) => match plan_op {
                    BinOp::Add => Val::Number(a + b),
                    BinOp::Sub => Val::Number(a - b),
                    BinOp::Mul => Val::Number(a * b),
                    BinOp::Div if b != 0.0 => Val::Number(a / b),
                    BinOp::Div => self.err(Diagnostic::error(
                        "division-by-zero",
                        op_span,
                        "division by zero in a constant",
                    )),
                    BinOp::Gt => Val::Bool(a > b),
                    BinOp::Ge => Val::Bool(a >= b),
                    BinOp::Lt => Val::Bool(a < b),
                    BinOp::Le => Val::Bool(a <= b),
                    BinOp::Eq => Val::Bool(a == b),
                    _ => Val::Bool(a != b),
                },
                _ => self.err(Diagnostic::error(
                    "invalid-operand",
                    op_span,
                    format!(
                        "`{}` cannot combine {} and {}",
                        op.symbol(),
                        l.describe(),
                        r.describe()
                    ),
                )),
            },
        }
    }

    fn attr(&mut self, value: &Expr, name: &str, name_span: Span) -> Val {
        if name.starts_with("__") {
            return self.err(
                Diagnostic::error(
                    "forbidden-dunder",
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
            Val::Panel(kind, e) => match OpId::from_name(name) {
                Some(op) => Val::Method(e, kind, op),
                None => {
                    let mut d = Diagnostic::error(
                        "unknown-method",
                        name_span,
                        format!("panels have no method `{name}`"),
                    )
                    .label("unknown method");
                    let names: Vec<&str> = OpId::ALL.iter().map(|o| o.spec().name).collect();
                    if name == "rolling" {
                        d = d.hint("`.average(n)` is the rolling mean over n rows");
                    } else if let Some(s) = did_you_mean(name, names.iter().copied()) {
                        d = d.hint(format!("did you mean `{s}`?"));
                    } else {
                        d = d.hint(format!("available methods: {}", names.join(", ")));
                    }
                    self.err(d)
                }
            },
            Val::Module(m) => self.err(
                Diagnostic::error(
                    "unsupported-function",
                    name_span,
                    format!("`{m}.{name}` is not available in strategies"),
                )
                .hint("use panel methods and operators instead of numpy/pandas functions"),
            ),
            other => self.err(Diagnostic::error(
                "unknown-attribute",
                name_span,
                format!("{} has no attribute `{name}`", other.describe()),
            )),
        }
    }

    fn call(&mut self, func: &Expr, args: &[Arg], span: Span) -> Val {
        let f = self.expr(func);
        match f {
            Val::Poison => Val::Poison,
            Val::DataGet => self.data_get(args, span),
            Val::Method(recv, kind, op) => self.method(recv, kind, op, args, span),
            Val::SimFn => self.err(
                Diagnostic::error(
                    "sim-not-top-level",
                    span,
                    "`sim(...)` must be its own statement",
                )
                .hint(
                    "write `sim(position, ...)` or `report = sim(position, ...)` on its own line",
                ),
            ),
            other => self.err(Diagnostic::error(
                "not-callable",
                func.span,
                format!("{} cannot be called", other.describe()),
            )),
        }
    }

    fn data_get(&mut self, args: &[Arg], span: Span) -> Val {
        let key = match args {
            [Arg {
                name: None,
                value:
                    Expr {
                        kind: ExprKind::Str { value, .. },
                        ..
                    },
                star: false,
                ..
            }] => value.clone(),
            _ => {
                return self.err(
                    Diagnostic::error(
                        "invalid-data-get",
                        span,
                        "`data.get` takes one string literal, the dataset key",
                    )
                    .hint("e.g. `data.get(\"price:收盤價\")`"),
                )
            }
        };
        let arg_span = args[0].value.span;
        if !key.contains(':') {
            return self.err(
                Diagnostic::error(
                    "unknown-dataset",
                    arg_span,
                    format!("`{key}` is a table, not a `table:column` dataset"),
                )
                .hint("strategies load wide panels, e.g. \"price:收盤價\""),
            );
        }
        if let Some(known) = &self.ctx.datasets {
            if !known.contains(&key) {
                let mut d = Diagnostic::error(
                    "unknown-dataset",
                    arg_span,
                    format!("there is no dataset `{key}`"),
                )
                .label("unknown dataset");
                if let Some(s) = did_you_mean(&key, known.iter().map(String::as_str)) {
                    d = d.hint(format!("did you mean \"{s}\"?"));
                } else {
                    d = d.hint(format!("available: {}", known.join(", ")));
                }
                return self.err(d);
            }
        }
        Val::Panel(PanelKind::Float, Rc::new(TExpr::Load(key)))
    }

    fn method(
        &mut self,
        recv: Rc<TExpr>,
        kind: PanelKind,
        op: OpId,
        args: &[Arg],
        span: Span,
    ) -> Val {
        let spec = op.spec();
        let mut values: Vec<Option<(i64, Span)>> = vec![None; spec.params.len()];
        let mut positional = 0;
        for arg in args {
            let slot = match &arg.name {
                None if !arg.star => {
                    positional += 1;
                    positional - 1
                }
                Some((n, nspan)) => match spec.params.iter().position(|p| p.name == n.as_str()) {
                    Some(i) => i,
                    None => {
                        return self.err(Diagnostic::error(
                            "unknown-argument",
                            *nspan,
                            format!("`{}` has no argument `{n}`", spec.name),
                        ));
                    }
                },
                None => {
                    return self.err(Diagnostic::error(
                        "unsupported-syntax",
                        arg.span,
                        "`*args`/`**kwargs` are not supported",
                    ))
                }
            };
            if slot >= spec.params.len() {
                return self.err(Diagnostic::error(
                    "too-many-arguments",
                    arg.span,
                    format!("`{}` takes {} argument(s)", spec.name, spec.params.len()),
                ));
            }
            let v = match self.expr(&arg.value) {
                Val::Poison => return Val::Poison,
                Val::Number(x) if x.fract() == 0.0 && x.abs() < 1e12 => x as i64,
                other => {
                    return self.err(Diagnostic::error(
                        "invalid-argument",
                        arg.value.span,
                        format!(
                            "`{}` of `{}` must be a whole number, not {}",
                            spec.params[slot].name,
                            spec.name,
                            match other {
                                Val::Number(x) => x.to_string(),
                                o => o.describe().to_string(),
                            }
                        ),
                    ))
                }
            };
            values[slot] = Some((v, arg.value.span));
        }
        let mut ints = Vec::with_capacity(spec.params.len());
        for (p, v) in spec.params.iter().zip(&values) {
            let (v, vspan) = match (v, p.default) {
                (Some(v), _) => *v,
                (None, Some(d)) => (d, span),
                (None, None) => {
                    return self.err(
                        Diagnostic::error(
                            "missing-argument",
                            span,
                            format!("`{}` needs its `{}` argument", spec.name, p.name),
                        )
                        .hint(format!("e.g. `{}`", spec.example)),
                    )
                }
            };
            let (lo, hi) = p.kind.range();
            if v < lo && p.kind == ParamKind::Lag {
                return self.err(
                    Diagnostic::error(
                        "lookahead-shift",
                        vspan,
                        format!("`{}({v})` would read future rows (look-ahead)", spec.name),
                    )
                    .label("must be 1 or more")
                    .hint(format!(
                        "`.{}(1)` compares with yesterday; a strategy can only use the past",
                        spec.name
                    )),
                );
            }
            if v < lo || v > hi {
                return self.err(
                    Diagnostic::error(
                        "argument-out-of-range",
                        vspan,
                        format!(
                            "`{}` of `{}` is {v}; it must be in {lo}..={hi}",
                            p.name, spec.name
                        ),
                    )
                    .hint(match p.kind {
                        ParamKind::Window | ParamKind::Lag => {
                            "windows count trading days: 20 ≈ a month, 250 ≈ a year"
                        }
                        ParamKind::Count => "the number of stocks to pick per date",
                    }),
                );
            }
            ints.push(v);
        }
        let out = match spec.output {
            Output::Float => PanelKind::Float,
            Output::Bool => PanelKind::Bool,
            Output::Same => kind,
        };
        Val::Panel(out, Rc::new(TExpr::Call(op, recv, ints)))
    }

    fn index(&mut self, value: &Expr, index: &[Expr], slice: bool, span: Span) -> Val {
        let base = self.expr(value);
        if matches!(base, Val::Poison) {
            return Val::Poison;
        }
        if slice || index.len() != 1 {
            return self.err(
                Diagnostic::error(
                    "unsupported-index",
                    span,
                    "slicing and multi-indexing are not supported",
                )
                .hint("select with a bool panel: `x[cond]`"),
            );
        }
        let cond = self.expr(&index[0]);
        match (base, cond) {
            (_, Val::Poison) => Val::Poison,
            (Val::Panel(kind, v), Val::Panel(PanelKind::Bool, c)) => {
                Val::Panel(kind, Rc::new(TExpr::Mask(v, c)))
            }
            (Val::Panel(..), Val::Panel(PanelKind::Float, _)) => self.err(
                Diagnostic::error(
                    "mask-needs-bool",
                    index[0].span,
                    "the mask in `x[cond]` must be a bool panel, not a float panel",
                )
                .hint("compare first, e.g. `x[close > close.average(20)]`"),
            ),
            (Val::Panel(..), other) => self.err(
                Diagnostic::error(
                    "unsupported-index",
                    index[0].span,
                    format!(
                        "panels are indexed by a bool panel, not {}",
                        other.describe()
                    ),
                )
                .hint("selecting single stocks or dates is not part of the DSL; use a condition"),
            ),
            (other, _) => self.err(Diagnostic::error(
                "unsupported-index",
                span,
                format!("{} cannot be indexed", other.describe()),
            )),
        }
    }
}

fn result_kind(op: BinOp) -> PanelKind {
    if op.is_comparison() || op.is_logical() {
        PanelKind::Bool
    } else {
        PanelKind::Float
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    fn codes(src: &str) -> Vec<&'static str> {
        let ctx = CheckContext {
            datasets: Some(vec!["price:收盤價".into(), "etl:adj_close".into()]),
        };
        let checked = check(&parse(src).unwrap(), &ctx);
        checked.diagnostics.iter().map(|d| d.code).collect()
    }

    const HEAD: &str = "from finlab import data\nfrom finlab.backtest import sim\nclose = data.get(\"price:收盤價\")\n";

    #[test]
    fn accepts_a_plain_strategy() {
        let src = format!(
            "{HEAD}cond = (close > close.average(20)) & (close.shift(1) > 10)\nposition = (close / close.shift(60))[cond].is_largest(10)\nreport = sim(position, resample=\"M\", fee_ratio=1.425/1000, tax_ratio=3/1000, position_limit=0.2)\nreport.display()\n"
        );
        assert_eq!(codes(&src), vec!["ignored-call"]);
    }

    #[test]
    fn refusals_have_codes() {
        let c = |body: &str| codes(&format!("{HEAD}{body}\nsim(close > 1)\n"));
        assert_eq!(c("import os"), vec!["forbidden-import"]);
        assert_eq!(c("x = eval(\"1\")"), vec!["forbidden-builtin"]);
        assert_eq!(c("x = close.shift(-1)"), vec!["lookahead-shift"]);
        assert_eq!(c("x = close.shift(0)"), vec!["lookahead-shift"]);
        assert_eq!(c("x = close.average(3000)"), vec!["argument-out-of-range"]);
        assert_eq!(
            c("x = (close > 1) and (close < 5)"),
            vec!["python-logic-operator"]
        );
        assert_eq!(c("x = close > 1 & close < 5"), vec!["logical-needs-bool"]);
        assert_eq!(c("x = close.__class__"), vec!["forbidden-dunder"]);
        assert_eq!(c("x = close.averag(5)"), vec!["unknown-method"]);
        assert_eq!(c("x = data.get(\"price:收盤\")"), vec!["unknown-dataset"]);
        assert_eq!(
            c("for i in range(3):\n    pass"),
            vec!["forbidden-statement", "forbidden-statement"]
        );
        assert_eq!(c("x = lambda y: y"), vec!["forbidden-syntax"]);
        assert_eq!(c("x = clse"), vec!["undefined-name"]);
        assert_eq!(c("x = close[close]"), vec!["mask-needs-bool"]);
        assert_eq!(c("x = 1 < close < 5"), vec!["chained-comparison"]);
    }

    #[test]
    fn sim_rules() {
        assert_eq!(codes(HEAD), vec!["missing-sim"]);
        assert_eq!(
            codes(&format!("{HEAD}sim(close > 1)\nsim(close > 2)\n")),
            vec!["multiple-sim"]
        );
        assert_eq!(
            codes(&format!(
                "{HEAD}sim(close > 1, stop_loss=0.1, touched_exit=True, trade_at_price=\"open\")\n"
            )),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(&format!(
                "{HEAD}sim(close > 1, stop_loss=\"x\", touched_exit=1)\n"
            )),
            vec!["invalid-sim-option", "invalid-sim-option"]
        );
        assert_eq!(
            codes(&format!("{HEAD}sim(close > 1, resampl=\"M\")\n")),
            vec!["unknown-sim-option"]
        );
        assert_eq!(
            codes(&format!("{HEAD}sim(close > 1, resample=\"Q-NOV\")\n")),
            vec!["unsupported-resample"]
        );
    }
}
