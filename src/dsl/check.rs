//! The checker: walks the AST once, collects *every* diagnostic (it does not stop at the first),
//! and, when there are no errors, yields a [`TypedProgram`]: the position expression as a typed
//! tree plus the `sim(...)` options. Everything outside the DSL — imports beyond the finlab
//! preamble, `def`/loops, `eval`, dunders, look-ahead shifts, unknown names — is refused here
//! with a code, a span and a hint.

use std::collections::BTreeMap;
use std::rc::Rc;

use dsl_runtime::ops::{Form, OpId, OpSpec, Output, ParamDefault, ParamKind, Receiver};
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
    /// A float Series indexed by date (e.g. `quantile_row`), broadcast over stocks.
    Series,
}

/// A checked operator argument (one per registry parameter, defaults filled in).
#[derive(Clone, Debug, PartialEq)]
pub enum TArg {
    None,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Panel(Rc<TExpr>),
}

/// A checked expression producing a panel (or a number inside one).
#[derive(Clone, Debug, PartialEq)]
pub enum TExpr {
    Load(String),
    Scalar(f64),
    Neg(Rc<TExpr>),
    Not(Rc<TExpr>),
    Binary(BinOp, Rc<TExpr>, Rc<TExpr>),
    /// A registry operator: receiver (none for indicators), arguments, implicit price panels,
    /// and which output of a multi-output indicator.
    Call {
        op: OpId,
        recv: Option<Rc<TExpr>>,
        args: Vec<TArg>,
        prices: Vec<Rc<TExpr>>,
        out: usize,
    },
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
    /// `x.rolling`, waiting for its window.
    RollingFn(Rc<TExpr>, PanelKind),
    /// `x.rolling(...)`, waiting for its aggregate (`.mean()`, ...).
    Rolling(Rc<TExpr>, PanelKind, Vec<Arg>),
    /// `x.rolling(...).mean`, waiting for `()`.
    RollingAgg(Rc<TExpr>, PanelKind, Vec<Arg>, OpId),
    /// `np.maximum` and friends.
    NumpyFn(OpId),
    /// `abs`.
    AbsFn,
    /// `data.indicator`.
    DataIndicator,
    /// The outputs of a multi-output indicator, to be unpacked with `a, b = ...`.
    Multi(OpId, Vec<Rc<TExpr>>),
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
            Val::Panel(PanelKind::Series, _) => "a date-indexed Series",
            Val::Rolling(..) => "a rolling window (call `.mean()`, `.sum()`, ...)",
            Val::Multi(..) => "several indicator outputs",
            Val::Number(_) => "a number",
            Val::Str(_) => "a string",
            Val::Bool(_) => "a bool",
            Val::Nothing => "None",
            Val::DataModule => "the `data` module",
            Val::DataGet
            | Val::SimFn
            | Val::Method(..)
            | Val::RollingAgg(..)
            | Val::RollingFn(..)
            | Val::NumpyFn(_)
            | Val::AbsFn
            | Val::DataIndicator => "a function",
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
        assigned: Vec::new(),
        used: std::collections::BTreeSet::new(),
    };
    c.env.insert("data".into(), Val::DataModule);
    c.env.insert("sim".into(), Val::SimFn);
    c.env.insert("abs".into(), Val::AbsFn);
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
    let unused: Vec<(String, Span)> = c
        .assigned
        .iter()
        .filter(|(n, _)| !n.starts_with('_') && !c.used.contains(n))
        .cloned()
        .collect();
    for (n, span) in unused {
        c.diags.push(
            Diagnostic::warning(
                "unused-variable",
                span,
                format!("`{n}` is assigned but never used"),
            )
            .hint("remove it (an unused dataset is not loaded), or use it in the position"),
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
    /// Names bound by plain assignments, with their spans (for unused-variable warnings).
    assigned: Vec<(String, Span)>,
    used: std::collections::BTreeSet<String>,
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
                        if let Val::Multi(op, _) = &val {
                            let spec = op.spec();
                            self.diags.push(
                                Diagnostic::error(
                                    "unpack-outputs",
                                    target.span,
                                    format!(
                                        "`{}` returns {} panels ({})",
                                        spec.name,
                                        spec.outputs.len(),
                                        spec.outputs.join(", ")
                                    ),
                                )
                                .hint(format!("unpack them: `{} = ...`", spec.outputs.join(", "))),
                            );
                            self.env.insert(n.clone(), Val::Poison);
                        } else {
                            if matches!(val, Val::Panel(..) | Val::Number(_)) {
                                self.assigned.push((n.clone(), target.span));
                            }
                            self.env.insert(n.clone(), val);
                        }
                    }
                    ExprKind::Tuple(items)
                        if items.iter().all(|i| matches!(i.kind, ExprKind::Name(_))) =>
                    {
                        // Bind every name first so a refused unpacking does not cascade.
                        for item in items {
                            if let ExprKind::Name(n) = &item.kind {
                                self.env.insert(n.clone(), Val::Poison);
                            }
                        }
                        match val {
                            Val::Poison => {}
                            Val::Multi(op, outs) if outs.len() == items.len() => {
                                for (item, e) in items.iter().zip(outs) {
                                    if let ExprKind::Name(n) = &item.kind {
                                        self.env.insert(n.clone(), Val::Panel(PanelKind::Float, e));
                                    }
                                }
                                let _ = op;
                            }
                            Val::Multi(op, outs) => {
                                let spec = op.spec();
                                self.diags.push(
                                    Diagnostic::error(
                                        "unpack-outputs",
                                        target.span,
                                        format!(
                                            "`{}` returns {} panels, not {}",
                                            spec.name,
                                            outs.len(),
                                            items.len()
                                        ),
                                    )
                                    .hint(format!("write `{} = ...`", spec.outputs.join(", "))),
                                );
                            }
                            other => {
                                self.diags.push(
                                    Diagnostic::error(
                                        "invalid-assignment",
                                        target.span,
                                        format!(
                                            "only multi-output indicators can be unpacked, not {}",
                                            other.describe()
                                        ),
                                    )
                                    .hint("assign one value per line"),
                                );
                            }
                        }
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
            Some(Val::Panel(kind, e)) if kind != PanelKind::Series => (e, kind),
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
        super::deep(|| self.expr_inner(e))
    }

    fn expr_inner(&mut self, e: &Expr) -> Val {
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
            self.used.insert(n.to_string());
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
        let series_err = |this: &mut Self, msg: &str| {
            this.err(
                Diagnostic::error("series-operand", op_span, msg.to_string())
                    .hint("put the panel on the left: `pb < pb.quantile_row(0.2)`"),
            )
        };
        match (&l, &r) {
            (Val::Panel(PanelKind::Series, _), Val::Panel(..)) => {
                return series_err(self, "a Series must be the right operand of a panel");
            }
            (Val::Panel(PanelKind::Series, a), s) | (s, Val::Panel(PanelKind::Series, a))
                if as_number(s).is_some() =>
            {
                if !matches!(plan_op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div) {
                    return series_err(self, "a Series can only be compared with a panel");
                }
                let scalar = Rc::new(TExpr::Scalar(as_number(s).unwrap_or(0.0)));
                let (x, y) = if matches!(l, Val::Panel(..)) {
                    (a.clone(), scalar)
                } else {
                    (scalar, a.clone())
                };
                return Val::Panel(PanelKind::Series, Rc::new(TExpr::Binary(plan_op, x, y)));
            }
            _ => {}
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
            Val::DataModule if name == "indicator" => Val::DataIndicator,
            Val::DataModule => self.err(
                Diagnostic::error(
                    "unsupported-function",
                    name_span,
                    format!("`data.{name}` is not available in strategies"),
                )
                .hint("use `data.get(\"table:column\")` or `data.indicator(\"RSI\")`"),
            ),
            Val::Panel(PanelKind::Series, _) => self.err(
                Diagnostic::error(
                    "unknown-method",
                    name_span,
                    format!("a date-indexed Series has no method `{name}` in the DSL"),
                )
                .hint("compare it with a panel instead, e.g. `pb < pb.quantile_row(0.2)`"),
            ),
            Val::Panel(kind, e) if name == "rolling" => Val::RollingFn(e, kind),
            Val::Panel(kind, e) => match OpId::find(Form::Method, name) {
                Some(op) => Val::Method(e, kind, op),
                None => {
                    let mut d = Diagnostic::error(
                        "unknown-method",
                        name_span,
                        format!("panels have no method `{name}`"),
                    )
                    .label("unknown method");
                    let mut names = OpId::names(Form::Method);
                    names.push("rolling");
                    if let Some(op) = OpId::find(Form::Rolling, name) {
                        d = d.hint(format!(
                            "rolling aggregates go through `.rolling(n)`: `x.rolling(20).{}()`",
                            op.spec().name
                        ));
                    } else if let Some(op) = OpId::find(Form::Numpy, name) {
                        d = d.hint(format!("write `np.{}(x, ...)`", op.spec().name));
                    } else if let Some(s) = did_you_mean(name, names.iter().copied()) {
                        d = d.hint(format!("did you mean `{s}`?"));
                    } else {
                        d = d.hint(format!("available methods: {}", names.join(", ")));
                    }
                    self.err(d)
                }
            },
            Val::Rolling(e, kind, args) => match OpId::find(Form::Rolling, name) {
                Some(op) => Val::RollingAgg(e, kind, args, op),
                None => {
                    let names = OpId::names(Form::Rolling);
                    let mut d = Diagnostic::error(
                        "unknown-method",
                        name_span,
                        format!("a rolling window has no aggregate `{name}`"),
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
                _ => {
                    let mut names = OpId::names(Form::Numpy);
                    names.push("abs");
                    let mut d = Diagnostic::error(
                        "unsupported-function",
                        name_span,
                        format!("`np.{name}` is not available in strategies"),
                    );
                    d = match did_you_mean(name, names.iter().copied()) {
                        Some(s) => d.hint(format!("did you mean `np.{s}`?")),
                        None => d.hint(format!(
                            "numpy functions available: {}; otherwise use panel methods and operators",
                            names.iter().map(|n| format!("np.{n}")).collect::<Vec<_>>().join(", ")
                        )),
                    };
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
            Val::Method(recv, kind, op) => self.call_op(op, Some((recv, kind)), args, span),
            Val::RollingFn(recv, kind) => Val::Rolling(recv, kind, args.to_vec()),
            Val::RollingAgg(recv, kind, window_args, op) => {
                if let Some(a) = args.first() {
                    return self.err(
                        Diagnostic::error(
                            "too-many-arguments",
                            a.span,
                            format!("`.{}()` takes no arguments here", op.spec().name),
                        )
                        .hint("window options go to `rolling`: `x.rolling(20, min_periods=10).mean()`"),
                    );
                }
                self.call_op(op, Some((recv, kind)), &window_args, span)
            }
            Val::NumpyFn(op) => self.function(op, args, span),
            Val::AbsFn => self.function(OpId::Abs, args, span),
            Val::DataIndicator => self.indicator(args, span),
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
            Val::Rolling(..) => self.err(
                Diagnostic::error(
                    "not-callable",
                    func.span,
                    "a rolling window cannot be called",
                )
                .hint("pick an aggregate: `x.rolling(20).mean()`"),
            ),
            other => {
                let mut d = Diagnostic::error(
                    "not-callable",
                    func.span,
                    format!("{} cannot be called", other.describe()),
                );
                if let ExprKind::Name(n) = &func.kind {
                    if n == "max" || n == "min" {
                        d = d.hint(format!(
                            "for an element-wise {n} of two panels write `np.{n}imum(a, b)`"
                        ));
                    }
                }
                self.err(d)
            }
        }
    }

    /// `np.f(x, ...)` / `abs(x)`: the first argument is the receiver.
    fn function(&mut self, op: OpId, args: &[Arg], span: Span) -> Val {
        let spec = op.spec();
        let Some(first) = args.first().filter(|a| a.name.is_none() && !a.star) else {
            return self.err(
                Diagnostic::error(
                    "missing-argument",
                    span,
                    format!("`{}` needs a panel as its first argument", spec.name),
                )
                .hint(format!("e.g. `{}`", spec.example)),
            );
        };
        match self.expr(&first.value) {
            Val::Poison => Val::Poison,
            Val::Number(x) if op == OpId::Abs && args.len() == 1 => Val::Number(x.abs()),
            Val::Panel(kind, e) => self.call_op(op, Some((e, kind)), &args[1..], span),
            other => self.err(
                Diagnostic::error(
                    "invalid-argument",
                    first.value.span,
                    format!("`{}` needs a panel, not {}", spec.name, other.describe()),
                )
                .hint(format!("e.g. `{}`", spec.example)),
            ),
        }
    }

    /// `data.indicator("NAME", ...)`.
    fn indicator(&mut self, args: &[Arg], span: Span) -> Val {
        let names = OpId::names(Form::Indicator);
        let name = match args.first() {
            Some(Arg {
                name: None,
                star: false,
                value:
                    Expr {
                        kind: ExprKind::Str { value, .. },
                        ..
                    },
                ..
            }) => value.clone(),
            _ => {
                return self.err(
                    Diagnostic::error(
                        "invalid-indicator",
                        span,
                        "`data.indicator` takes the indicator's name first, as a string",
                    )
                    .hint(format!(
                        "e.g. `data.indicator(\"RSI\")`; available: {}",
                        names.join(", ")
                    )),
                )
            }
        };
        let upper = name.to_uppercase();
        let lookup = if upper == "KD" {
            "STOCH"
        } else {
            upper.as_str()
        };
        let Some(op) = OpId::find(Form::Indicator, lookup) else {
            let mut d = Diagnostic::error(
                "invalid-indicator",
                args[0].value.span,
                format!("there is no indicator `{name}`"),
            )
            .label("unknown indicator");
            d = match did_you_mean(&upper, names.iter().copied()) {
                Some(s) => d.hint(format!("did you mean \"{s}\"?")),
                None => d.hint(format!("available: {}", names.join(", "))),
            };
            return self.err(d);
        };
        if upper != op.spec().name {
            self.diags.push(
                Diagnostic::warning(
                    "indicator-name",
                    args[0].value.span,
                    format!("read as \"{}\"", op.spec().name),
                )
                .hint(format!("write `data.indicator(\"{}\")`", op.spec().name)),
            );
        }
        self.call_op(op, None, &args[1..], span)
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

    /// Binds and checks the arguments of a registry operator, then builds its typed call.
    fn call_op(
        &mut self,
        op: OpId,
        recv: Option<(Rc<TExpr>, PanelKind)>,
        args: &[Arg],
        span: Span,
    ) -> Val {
        let spec = op.spec();
        if let Some((_, kind)) = &recv {
            let ok = match (spec.receiver, kind) {
                (_, PanelKind::Series) => false,
                (Receiver::Bool, k) => *k == PanelKind::Bool,
                _ => true,
            };
            if !ok {
                return self.err(
                    Diagnostic::error(
                        "invalid-receiver",
                        span,
                        format!(
                            "`{}` works on {}, not on a {} panel",
                            spec.name,
                            if spec.receiver == Receiver::Bool {
                                "bool panels (conditions)"
                            } else {
                                "panels"
                            },
                            match kind {
                                PanelKind::Float => "float",
                                PanelKind::Bool => "bool",
                                PanelKind::Series => "Series",
                            }
                        ),
                    )
                    .hint(format!("e.g. `{}`", spec.example)),
                );
            }
        }
        // Bind positional and keyword arguments to parameter slots.
        let mut slots: Vec<Option<&Arg>> = vec![None; spec.params.len()];
        let mut positional = 0;
        for arg in args {
            if arg.star {
                return self.err(Diagnostic::error(
                    "unsupported-syntax",
                    arg.span,
                    "`*args`/`**kwargs` are not supported",
                ));
            }
            let slot = match &arg.name {
                None => {
                    positional += 1;
                    positional - 1
                }
                Some((n, nspan)) => match spec.param(n) {
                    Some(i) => i,
                    None => {
                        let names: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
                        let mut d = Diagnostic::error(
                            "unknown-argument",
                            *nspan,
                            format!("`{}` has no argument `{n}`", spec.name),
                        );
                        d = match did_you_mean(n, names.iter().copied()) {
                            Some(s) => d.hint(format!("did you mean `{s}`?")),
                            None if names.is_empty() => {
                                d.hint(format!("`{}` takes no arguments", spec.signature()))
                            }
                            None => d.hint(format!("the signature is `{}`", spec.signature())),
                        };
                        return self.err(d);
                    }
                },
            };
            if slot >= spec.params.len() {
                return self.err(
                    Diagnostic::error(
                        "too-many-arguments",
                        arg.span,
                        format!("`{}` takes {} argument(s)", spec.name, spec.params.len()),
                    )
                    .hint(format!("the signature is `{}`", spec.signature())),
                );
            }
            if slots[slot].is_some() {
                return self.err(Diagnostic::error(
                    "duplicate-argument",
                    arg.span,
                    format!("`{}` is given twice", spec.params[slot].name),
                ));
            }
            slots[slot] = Some(arg);
        }
        let mut targs = Vec::with_capacity(spec.params.len());
        let mut ints: Vec<Option<i64>> = Vec::with_capacity(spec.params.len());
        for (param, slot) in spec.params.iter().zip(&slots) {
            let Some(arg) = slot else {
                let t = match param.default {
                    ParamDefault::Required => {
                        let mut d = Diagnostic::error(
                            "missing-argument",
                            span,
                            format!("`{}` needs its `{}` argument", spec.name, param.name),
                        );
                        d = if param.kind == ParamKind::Axis {
                            d.hint("write `axis=1` to rank across stocks per date (axis=0 would rank each stock against its own future)")
                        } else {
                            d.hint(format!("e.g. `{}`", spec.example))
                        };
                        return self.err(d);
                    }
                    ParamDefault::Nothing => TArg::None,
                    ParamDefault::Int(v) => TArg::Int(v),
                    ParamDefault::Float(v) => TArg::Float(v),
                    ParamDefault::Bool(v) => TArg::Bool(v),
                    ParamDefault::Str(v) => TArg::Str(v.to_string()),
                };
                ints.push(match t {
                    TArg::Int(v) => Some(v),
                    _ => None,
                });
                targs.push(t);
                continue;
            };
            let vspan = arg.value.span;
            let val = self.expr(&arg.value);
            let t = match self.param_value(spec, param.name, param.kind, param.default, val, vspan)
            {
                Some(t) => t,
                None => return Val::Poison,
            };
            ints.push(match t {
                TArg::Int(v) => Some(v),
                _ => None,
            });
            targs.push(t);
        }
        // Relations between arguments.
        let int_at = |i: usize| ints.get(i).copied().flatten();
        match op {
            OpId::RollingMean
            | OpId::RollingStd
            | OpId::RollingSum
            | OpId::RollingMax
            | OpId::RollingMin
            | OpId::RollingMedian
            | OpId::Sustain => {
                if let (Some(w), Some(m)) = (int_at(0), int_at(1)) {
                    if m > w {
                        let what = if op == OpId::Sustain {
                            "nsatisfy"
                        } else {
                            "min_periods"
                        };
                        let d = Diagnostic::error(
                            "argument-out-of-range",
                            span,
                            format!("`{what}` ({m}) is larger than the window ({w})"),
                        )
                        .hint(format!("use at most {w}"));
                        return self.err(d);
                    }
                }
            }
            OpId::Clip => {
                if let (TArg::Float(lo), TArg::Float(hi)) = (&targs[0], &targs[1]) {
                    if lo > hi {
                        return self.err(Diagnostic::error(
                            "argument-out-of-range",
                            span,
                            format!("`clip` lower bound {lo} is above the upper bound {hi}"),
                        ));
                    }
                }
            }
            _ => {}
        }
        // Implicit price panels: an indicator's inputs; the adjusted close for hold_until's stops.
        let mut prices = Vec::new();
        if spec.form == Form::Indicator {
            let adjusted = spec
                .param("adjust_price")
                .and_then(|i| targs.get(i))
                .is_some_and(|t| *t == TArg::Bool(true));
            for field in spec.prices {
                match self.load_key(field.key(adjusted), span) {
                    Some(e) => prices.push(e),
                    None => return Val::Poison,
                }
            }
        } else if op == OpId::IndustryRank {
            match self.load_key(dsl_runtime::ops::INDUSTRY_THEMES, span) {
                Some(e) => prices.push(e),
                None => return Val::Poison,
            }
        } else if op == OpId::HoldUntil {
            let stops = ["stop_loss", "take_profit", "trail_stop"];
            let any_stop = stops
                .iter()
                .filter_map(|n| spec.param(n))
                .any(|i| targs.get(i).is_some_and(|t| *t != TArg::None));
            if any_stop {
                match self.load_key("etl:adj_close", span) {
                    Some(e) => prices.push(e),
                    None => return Val::Poison,
                }
            }
        }
        let recv_kind = recv.as_ref().map(|(_, k)| *k);
        let recv = recv.map(|(e, _)| e);
        let make = |out: usize| {
            Rc::new(TExpr::Call {
                op,
                recv: recv.clone(),
                args: targs.clone(),
                prices: prices.clone(),
                out,
            })
        };
        if spec.outputs.len() > 1 {
            return Val::Multi(op, (0..spec.outputs.len()).map(make).collect());
        }
        let kind = match spec.output {
            Output::Float => PanelKind::Float,
            Output::Bool => PanelKind::Bool,
            Output::Series => PanelKind::Series,
            Output::Same => recv_kind.unwrap_or(PanelKind::Float),
        };
        Val::Panel(kind, make(0))
    }

    /// Checks one argument value against its parameter kind.
    fn param_value(
        &mut self,
        spec: &OpSpec,
        name: &str,
        kind: ParamKind,
        default: ParamDefault,
        val: Val,
        vspan: Span,
    ) -> Option<TArg> {
        let bad = |this: &mut Self, expected: &str, got: &Val| {
            this.err(
                Diagnostic::error(
                    "invalid-argument",
                    vspan,
                    format!(
                        "`{name}` of `{}` must be {expected}, not {}",
                        spec.name,
                        match got {
                            Val::Number(x) => x.to_string(),
                            o => o.describe().to_string(),
                        }
                    ),
                )
                .hint(format!("the signature is `{}`", spec.signature())),
            );
            None
        };
        match (&val, kind) {
            (Val::Poison, _) => None,
            (Val::Nothing, _) if default == ParamDefault::Nothing => Some(TArg::None),
            (_, ParamKind::Window | ParamKind::Lag | ParamKind::Count | ParamKind::Axis) => {
                let v = match val {
                    Val::Number(x) if x.fract() == 0.0 && x.abs() < 1e12 => x as i64,
                    other => return bad(self, "a whole number", &other),
                };
                let (lo, hi) = kind.range().unwrap_or((i64::MIN, i64::MAX));
                if kind == ParamKind::Lag && v < lo {
                    self.err(
                        Diagnostic::error(
                            "lookahead-shift",
                            vspan,
                            format!("`{}({v})` would read future rows (look-ahead)", spec.name),
                        )
                        .label("must be 1 or more")
                        .hint(format!(
                            "negative shift reads the future: `.{}(1)` compares with yesterday; a strategy can only use the past",
                            spec.name
                        )),
                    );
                    return None;
                }
                if kind == ParamKind::Axis && v != 1 {
                    self.err(
                        Diagnostic::error(
                            "lookahead-rank",
                            vspan,
                            format!("`{}(axis={v})` ranks each stock over all dates, including future ones", spec.name),
                        )
                        .label("must be 1")
                        .hint("write `axis=1` to rank across stocks on each date"),
                    );
                    return None;
                }
                if v < lo || v > hi {
                    self.err(
                        Diagnostic::error(
                            "argument-out-of-range",
                            vspan,
                            format!(
                                "`{name}` of `{}` is {v}; it must be in {lo}..={hi}",
                                spec.name
                            ),
                        )
                        .hint(match kind {
                            ParamKind::Count => "the number of stocks (or rows) to count",
                            _ => "windows count rows: for daily data 20 ≈ a month, 250 ≈ a year",
                        }),
                    );
                    return None;
                }
                Some(TArg::Int(v))
            }
            (Val::Number(x), ParamKind::Number) => Some(TArg::Float(*x)),
            (Val::Number(x), ParamKind::Fraction) if (0.0..=1.0).contains(x) => {
                Some(TArg::Float(*x))
            }
            (_, ParamKind::Number) => bad(self, "a number", &val),
            (_, ParamKind::Fraction) => bad(self, "a number between 0 and 1", &val),
            (Val::Bool(b), ParamKind::Flag) => Some(TArg::Bool(*b)),
            (_, ParamKind::Flag) => bad(self, "True or False", &val),
            (Val::Str(s), ParamKind::Choice(options)) if options.contains(&s.as_str()) => {
                Some(TArg::Str(s.clone()))
            }
            (_, ParamKind::Choice(options)) => bad(
                self,
                &format!(
                    "one of {}",
                    options
                        .iter()
                        .map(|o| format!("\"{o}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &val,
            ),
            (
                Val::Panel(PanelKind::Float | PanelKind::Bool, e),
                ParamKind::FloatPanel | ParamKind::PanelOrNumber,
            ) => Some(TArg::Panel(e.clone())),
            (Val::Number(x), ParamKind::PanelOrNumber) => Some(TArg::Float(*x)),
            (_, ParamKind::FloatPanel) => bad(self, "a panel", &val),
            (_, ParamKind::PanelOrNumber) => bad(self, "a panel or a number", &val),
            (Val::Panel(PanelKind::Bool, e), ParamKind::BoolPanel) => Some(TArg::Panel(e.clone())),
            (_, ParamKind::BoolPanel) => bad(self, "a bool panel (a condition)", &val),
        }
    }

    /// A dataset load the operator needs implicitly (checked against the data set).
    fn load_key(&mut self, key: &str, span: Span) -> Option<Rc<TExpr>> {
        if let Some(known) = &self.ctx.datasets {
            if !known.iter().any(|k| k == key) {
                self.err(
                    Diagnostic::error(
                        "unknown-dataset",
                        span,
                        format!("this needs the dataset `{key}`, which the data set lacks"),
                    )
                    .hint("import it (`dsl-engine data import`) or use the default data"),
                );
                return None;
            }
        }
        Some(Rc::new(TExpr::Load(key.to_string())))
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
            (Val::Panel(PanelKind::Series, _), _) | (_, Val::Panel(PanelKind::Series, _)) => self
                .err(
                    Diagnostic::error(
                        "unsupported-index",
                        span,
                        "a date-indexed Series cannot be masked or used as a mask",
                    )
                    .hint("compare the Series with a panel first: `x[x > x.quantile_row(0.8)]`"),
                ),
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

    fn all_codes(src: &str) -> Vec<&'static str> {
        let keys = [
            "price:收盤價",
            "price:最高價",
            "price:最低價",
            "etl:adj_close",
        ];
        let ctx = CheckContext {
            datasets: Some(keys.iter().map(|k| k.to_string()).collect()),
        };
        let checked = check(&parse(src).unwrap(), &ctx);
        checked.diagnostics.iter().map(|d| d.code).collect()
    }

    /// Diagnostic codes, without unused-variable warnings (the shared header defines `close`).
    fn codes(src: &str) -> Vec<&'static str> {
        all_codes(src)
            .into_iter()
            .filter(|c| *c != "unused-variable")
            .collect()
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
    fn registry_operators_check_their_arguments() {
        let ok = |body: &str| {
            let v = codes(&format!("{HEAD}{body}\nsim(x)\n"));
            assert!(v.is_empty(), "{body}: {v:?}");
        };
        ok("x = close.rolling(20, min_periods=5).std() > 1");
        ok("x = close.rank(axis=1, pct=True) > 0.5");
        ok("x = close > close.quantile_row(0.8)");
        ok("x = (close > 10).hold_until(close < 5, nstocks_limit=3, stop_loss=0.1, rank=-close)");
        ok("k, d = data.indicator(\"STOCH\")\nx = k > d");
        ok("import numpy as np\nx = np.maximum(close, close.shift(1)) > 10");
        ok("x = abs(close.pct_change()) < 0.05");
        ok("x = close.where(close > 5, 0).fillna(0) > 1");
        let c = |body: &str| codes(&format!("{HEAD}{body}\nsim(x)\n"));
        assert_eq!(
            c("x = close.rank(pct=True) > 0.5"),
            vec!["missing-argument"]
        );
        assert_eq!(c("x = close.rank(axis=0) > 0.5"), vec!["lookahead-rank"]);
        assert_eq!(c("x = close.pct_change(-5) > 0"), vec!["lookahead-shift"]);
        assert_eq!(
            c("x = close.rolling(5, min_periods=9).mean() > 0"),
            vec!["argument-out-of-range"]
        );
        assert_eq!(c("x = close.rolling(5).mean"), vec!["sim-arguments"]);
        assert_eq!(c("x = close.rolling(5).avg() > 0"), vec!["unknown-method"]);
        assert_eq!(c("x = close.sum() > 0"), vec!["unknown-method"]);
        assert_eq!(
            c("x = data.indicator(\"RSX\") > 50"),
            vec!["invalid-indicator"]
        );
        assert_eq!(
            c("x = data.indicator(\"MACD\") > 0"),
            vec!["invalid-operand"]
        );
        assert_eq!(
            c("a, b = data.indicator(\"MACD\")\nx = a > b"),
            vec!["unpack-outputs"]
        );
        assert_eq!(
            c("x = close.quantile_row(0.5) < close"),
            vec!["series-operand"]
        );
        assert_eq!(c("x = close.is_entry()"), vec!["invalid-receiver"]);
        assert_eq!(
            c("x = (close > 1).hold_until(close)"),
            vec!["invalid-argument"]
        );
        assert_eq!(
            c("x = close.clip(lower=5, upper=1) > 0"),
            vec!["argument-out-of-range"]
        );
        assert_eq!(
            c("x = close.shift(periods=1, periods=2) > 0"),
            vec!["duplicate-argument"]
        );
        assert_eq!(c("x = max(close, 1) > 0"), vec!["undefined-name"]);
        assert_eq!(
            c("import numpy as np\nx = np.sqrt(close) > 0"),
            vec!["unsupported-function"]
        );
        assert_eq!(
            all_codes(&format!(
                "{HEAD}y = close\n_z = close\nx = close > 1\nsim(x)\n"
            )),
            vec!["unused-variable"]
        );
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
