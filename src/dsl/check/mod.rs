//! The checker: walks the AST once, collects *every* diagnostic (it does not stop at the first),
//! and, when there are no errors, yields a [`TypedProgram`]: the position expression as a typed
//! tree plus the `sim(...)` options. Everything outside the DSL — imports beyond the finlab
//! preamble, `def`/loops, `eval`, dunders, look-ahead shifts, unknown names — is refused here
//! with a code, a span and a hint.
//!
//! By what is checked: `stmt.rs` (imports, keyword statements, assignments, the `sim(...)`
//! statement), `expr.rs` (names, operators, indexing, attributes), `call.rs` (calls of registry
//! operators, `data.get`, `data.indicator`), `args.rs` (argument binding, values and relations,
//! as pure functions) and `value.rs` (what an expression is while it is checked).
//!
//! The checker evaluates as it goes (each expression yields a typed value, in an order that
//! decides which diagnostics a broken expression produces), so it keeps its own recursion rather
//! than a [`Visitor`]; the node budget is a visitor.

mod args;
mod call;
mod expr;
mod hints;
mod loc;
mod stmt;
#[cfg(test)]
mod tests;
mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use dsl_runtime::ops::OpId;
use dsl_runtime::plan::BinOp;

use super::ast::*;
use super::codes::Code;
use super::diagnostic::Diagnostic;
use super::sim_args::SimCall;
use super::visit::{self, Visitor};
use value::Val;

/// Largest number of expression nodes in one strategy.
pub const MAX_NODES: usize = 2000;

/// Kind of a panel value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanelKind {
    Float,
    Bool,
    /// A float Series indexed by date (`quantile_row`, `mean(axis=1)`), broadcast over the
    /// stocks of a panel it is combined with.
    Series,
    /// A bool Series indexed by date (a comparison of a Series): a per-date filter.
    BoolSeries,
}

impl PanelKind {
    /// One value per date rather than a dates × stocks panel.
    pub fn is_series(self) -> bool {
        matches!(self, PanelKind::Series | PanelKind::BoolSeries)
    }

    /// True/False values (a condition or a filter).
    pub fn is_bool(self) -> bool {
        matches!(self, PanelKind::Bool | PanelKind::BoolSeries)
    }

    /// The kind of the same shape (panel or Series) holding bools (`true`) or floats.
    pub fn with_bool(self, boolean: bool) -> PanelKind {
        match (self.is_series(), boolean) {
            (false, false) => PanelKind::Float,
            (false, true) => PanelKind::Bool,
            (true, false) => PanelKind::Series,
            (true, true) => PanelKind::BoolSeries,
        }
    }
}

/// A checked operator argument (one per registry parameter, defaults filled in).
#[derive(Clone, Debug, PartialEq)]
pub enum TArg {
    /// Python's `None` (an optional parameter left unset).
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
    /// Each `average(n)` of a Series: the span of `average` and `n`. pandas' Series has no
    /// `average`, so the exporter writes finlab's definition there
    /// (`rolling(n, min_periods=n // 2).mean()`).
    pub series_averages: Vec<(Span, i64)>,
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

/// Checks a parsed program.
pub fn check(program: &Program, ctx: &CheckContext) -> Checked {
    let mut c = Checker {
        ctx,
        env: BTreeMap::new(),
        diags: Vec::new(),
        sim: None,
        sim_span: None,
        assigned: Vec::new(),
        used: BTreeSet::new(),
        series_averages: Vec::new(),
    };
    c.env.insert("data".into(), Val::DataModule);
    c.env.insert("sim".into(), Val::SimFn);
    c.env.insert("abs".into(), Val::AbsFn);
    let nodes = node_count(program);
    if nodes > MAX_NODES {
        c.diags.push(
            Diagnostic::error(
                Code::ProgramTooLarge,
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
            Diagnostic::error(Code::MissingSim, end, "the strategy never calls `sim(...)`")
                .label("expected a `sim(position, ...)` call")
                .hint("end with e.g. `sim(position, resample=\"M\")`"),
        );
    }
    // Unused names are noise next to an error — a failing statement stops reading its names
    // early, and the repair prompt would be told to "remove" them: they are reported only for
    // otherwise valid strategies.
    if !c.diags.iter().any(Diagnostic::is_error) {
        c.unused_variables();
    }
    c.diags.sort_by_key(|d| (d.span.start, d.span.end));
    let has_error = c.diags.iter().any(Diagnostic::is_error);
    if let Some(program) = c.sim.as_mut() {
        program.series_averages = std::mem::take(&mut c.series_averages);
    }
    Checked {
        program: if has_error { None } else { c.sim },
        diagnostics: c.diags,
    }
}

/// Expression nodes of a program (a statement without expressions counts one), for the budget.
fn node_count(program: &Program) -> usize {
    struct Count(usize);
    impl Visitor<'_> for Count {
        fn visit_stmt(&mut self, stmt: &Stmt) {
            if matches!(
                stmt.kind,
                StmtKind::Import(_) | StmtKind::FromImport { .. } | StmtKind::Keyword { .. }
            ) {
                self.0 += 1;
            }
            visit::walk_stmt(self, stmt);
        }
        fn visit_expr(&mut self, expr: &Expr) {
            self.0 += 1;
            visit::walk_expr(self, expr);
        }
    }
    let mut count = Count(0);
    visit::walk_program(&mut count, program);
    count.0
}

struct Checker<'a> {
    ctx: &'a CheckContext,
    env: BTreeMap<String, Val>,
    diags: Vec<Diagnostic>,
    sim: Option<TypedProgram>,
    sim_span: Option<Span>,
    /// Names bound by plain assignments, with their spans (for unused-variable warnings).
    assigned: Vec<(String, Span)>,
    /// Names read by an expression.
    used: BTreeSet<String>,
    /// See [`TypedProgram::series_averages`].
    series_averages: Vec<(Span, i64)>,
}

impl Checker<'_> {
    /// Records an error and yields the value that keeps it from cascading.
    fn err(&mut self, d: Diagnostic) -> Val {
        self.diags.push(d);
        Val::Poison
    }

    /// Records `average(n)` of a Series at `name_span` (see [`TypedProgram::series_averages`]).
    fn note_series_average(&mut self, v: &Val, name_span: Span) {
        if let Val::Panel(_, e) = v {
            if let TExpr::Call {
                op: OpId::Average,
                args,
                ..
            } = &**e
            {
                if let Some(TArg::Int(n)) = args.first() {
                    self.series_averages.push((name_span, *n));
                }
            }
        }
    }

    /// A warning for each assigned panel or number that no expression reads (names starting
    /// with `_` are exempt).
    fn unused_variables(&mut self) {
        let unused: Vec<(String, Span)> = self
            .assigned
            .iter()
            .filter(|(n, _)| !n.starts_with('_') && !self.used.contains(n))
            .cloned()
            .collect();
        for (n, span) in unused {
            self.diags.push(
                Diagnostic::warning(
                    Code::UnusedVariable,
                    span,
                    format!("`{n}` is assigned but never used"),
                )
                .hint("remove it (an unused dataset is not loaded), or use it in the position"),
            );
        }
    }
}
