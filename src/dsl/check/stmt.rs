//! Statements: imports, refused keyword statements, assignments and unpacking, expression
//! statements, and the `sim(...)` statement with its options.

use super::value::Val;
use super::{Checker, PanelKind, TypedProgram};
use crate::dsl::ast::*;
use crate::dsl::codes::Code;
use crate::dsl::diagnostic::Diagnostic;
use crate::dsl::sim_args::{self, OptValue, SimCall};

impl Checker<'_> {
    pub(super) fn stmt(&mut self, stmt: &Stmt) {
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
                        Code::ForbiddenStatement,
                        *keyword_span,
                        format!("`{keyword}` statements are not allowed in a strategy"),
                    )
                    .label("not part of the DSL")
                    .hint(hint),
                );
            }
            StmtKind::Assign { target, value } => self.assign(target, value),
            StmtKind::AugAssign { target, op, value } => {
                let base = op.trim_end_matches('=');
                self.diags.push(
                    Diagnostic::error(
                        Code::AugmentedAssignment,
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
            StmtKind::Expr(e) => self.expr_stmt(e),
        }
    }

    fn forbidden_import(&mut self, what: &str, span: Span) {
        self.diags.push(
            Diagnostic::error(
                Code::ForbiddenImport,
                span,
                format!("importing `{what}` is not allowed"),
            )
            .label("imports are limited to the finlab preamble")
            .hint("allowed: `from finlab import data`, `from finlab.backtest import sim`, `import numpy as np`, `import pandas as pd`"),
        );
    }

    /// `target = value`: a name, or names unpacking a multi-output indicator.
    fn assign(&mut self, target: &Expr, value: &Expr) {
        let val = if let Some(args) = value.sim_call_args() {
            self.sim_call(args, value.span);
            Val::Report
        } else {
            self.expr(value)
        };
        match &target.kind {
            ExprKind::Name(n) if n == "data" || n == "sim" => {
                self.diags.push(
                    Diagnostic::error(
                        Code::ReassignedBuiltin,
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
                            Code::UnpackOutputs,
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
            ExprKind::Tuple(items) if items.iter().all(|i| matches!(i.kind, ExprKind::Name(_))) => {
                self.unpack(items, val, target.span)
            }
            _ => {
                self.diags.push(
                    Diagnostic::error(
                        Code::InvalidAssignment,
                        target.span,
                        "only plain names can be assigned",
                    )
                    .label("not a name")
                    .hint("panels are immutable: build a new one, e.g. `signal = close[cond]`"),
                );
            }
        }
    }

    /// `a, b = value`: binds the outputs of a multi-output indicator to the names `items`.
    fn unpack(&mut self, items: &[Expr], val: Val, span: Span) {
        // Bind every name first so a refused unpacking does not cascade.
        for item in items {
            if let ExprKind::Name(n) = &item.kind {
                self.env.insert(n.clone(), Val::Poison);
            }
        }
        match val {
            Val::Poison => {}
            Val::Multi(_, outs) if outs.len() == items.len() => {
                for (item, e) in items.iter().zip(outs) {
                    if let ExprKind::Name(n) = &item.kind {
                        self.env.insert(n.clone(), Val::Panel(PanelKind::Float, e));
                    }
                }
            }
            Val::Multi(op, outs) => {
                let spec = op.spec();
                self.diags.push(
                    Diagnostic::error(
                        Code::UnpackOutputs,
                        span,
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
                        Code::InvalidAssignment,
                        span,
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

    /// A bare expression: the `sim(...)` call, a docstring, an ignored call on the report, or
    /// an unused value.
    fn expr_stmt(&mut self, e: &Expr) {
        if let Some(args) = e.sim_call_args() {
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
                                Code::IgnoredCall,
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
        if !v.is_poison() {
            self.diags.push(
                Diagnostic::warning(
                    Code::UnusedExpression,
                    e.span,
                    "this expression's value is not used",
                )
                .hint("assign it to a name or remove it"),
            );
        }
    }

    /// The `sim(position, **options)` statement: the position panel and the options.
    fn sim_call(&mut self, args: &[Arg], span: Span) {
        if self.sim_span.is_some() {
            self.diags.push(
                Diagnostic::error(Code::MultipleSim, span, "a strategy calls `sim(...)` once")
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
                    Code::SimArguments,
                    arg.span,
                    "`*args`/`**kwargs` are not supported",
                ));
                ok = false;
                continue;
            }
            // finlab's `sim(position=...)` keyword is the positional argument by name.
            let by_name = arg.name.as_ref().is_some_and(|(n, _)| n == "position");
            if arg.name.is_none() || by_name {
                if position.is_some() {
                    self.err(
                        Diagnostic::error(
                            Code::SimArguments,
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
            }
            let Some((name, name_span)) = &arg.name else {
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
                Val::None => OptValue::None,
                other => OptValue::Other(other.describe()),
            };
            if let Err(d) = sim_args::apply(&mut call, name, *name_span, value, arg.value.span) {
                self.diags.push(d);
                ok = false;
            }
        }
        let (position, kind) = match position {
            Some(Val::Panel(kind, e)) if !kind.is_series() => (e, kind),
            Some(Val::Panel(_, _)) => {
                self.err(
                    Diagnostic::error(
                        Code::SimArguments,
                        args.first().map(|a| a.span).unwrap_or(span),
                        "`sim` needs a position panel (dates × stocks), not a date-indexed Series",
                    )
                    .label("one value per date, no stocks")
                    .hint(
                        "a per-date Series filters a condition: `position = cond & market_ok` \
                         (or `weights * market_ok` for float weights)",
                    ),
                );
                return;
            }
            Some(Val::Poison) => return,
            Some(other) => {
                self.err(
                    Diagnostic::error(
                        Code::SimArguments,
                        args.first().map(|a| a.span).unwrap_or(span),
                        format!("`sim` needs a position panel, not {}", other.describe()),
                    )
                    .hint("pass a bool panel (hold / don't hold) or a float panel of weights"),
                );
                return;
            }
            None => {
                self.err(
                    Diagnostic::error(Code::SimArguments, span, "`sim` needs a position argument")
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
                series_averages: Vec::new(),
            });
        }
    }
}
