//! The formatter: a parsed strategy → canonical text. One statement per line, Python spacing
//! (`a + b`, `f(a, b=1)`), double-quoted strings, numbers as written, the fewest parentheses
//! Python's precedence needs, comments kept (full-line ones in place, trailing ones on their
//! statement's line), runs of blank lines collapsed to one, and calls longer than [`WIDTH`]
//! columns wrapped one argument per line. [`canonical_hash`] hashes the text without comments,
//! so two strategies that differ only in layout share a hash.
//!
//! The text only needs to parse, not to check: refused shapes (`lambda`, comprehensions, `def`
//! lines) are printed from their source with comments removed. Checking the output gives the
//! same diagnostics as checking the input (the printer keeps the parentheses of a comparison
//! nested in another, which is what the `chained-comparison` check looks at).

use std::fmt::Write as _;
use std::ops::Range;

use super::ast::*;
use super::diagnostic::Diagnostic;
use super::parse::parse;
use text::scan_comments;

/// Column after which a statement that is a call is wrapped, one argument per line.
pub const WIDTH: usize = 100;

/// Renames a method called on a value (`x.name(...)`); `None` keeps the name as written.
pub type MethodNames<'a> = &'a dyn Fn(&str) -> Option<&'static str>;

/// How to print.
#[derive(Clone, Copy)]
pub struct FormatOptions<'a> {
    /// Keep comments and (collapsed) blank lines.
    pub comments: bool,
    /// Wrap calls longer than [`WIDTH`].
    pub wrap: bool,
    /// Spelling of called methods (the exporter maps DSL names to finlab's).
    pub method_names: Option<MethodNames<'a>>,
    /// Print `np.where(c, x, y)` as pandas calls that keep `c`'s dates and stocks (numpy's own
    /// returns a bare array, which finlab cannot use as a position): the exporter's spelling.
    pub pandas_where: bool,
    /// `x.average(n)` calls to print as finlab defines `average`,
    /// `x.rolling(n, min_periods=n // 2).mean()`, by the span of `average` (the exporter's
    /// spelling for a Series receiver: pandas' Series has no `average`).
    pub series_averages: &'a [(Span, i64)],
}

impl Default for FormatOptions<'_> {
    fn default() -> Self {
        FormatOptions {
            comments: true,
            wrap: true,
            method_names: None,
            pandas_where: false,
            series_averages: &[],
        }
    }
}

/// Parses and formats `source`; a syntax error is returned as its diagnostic.
pub fn format_source(source: &str) -> Result<String, Diagnostic> {
    let program = parse(source)?;
    Ok(format_program(&program, source, &FormatOptions::default()))
}

/// Formats a program parsed from `source` (the printer reads numbers, strings and refused
/// shapes from their spans, and comments from the text between statements).
pub fn format_program(program: &Program, source: &str, opts: &FormatOptions) -> String {
    let comments = scan_comments(source);
    let p = Printer {
        src: source,
        comments: &comments,
        opts,
    };
    p.program(&program.stmts)
}

/// The canonical text without comments or blank lines, unwrapped: what [`canonical_hash`] hashes.
pub fn canonical_text(program: &Program, source: &str) -> String {
    let opts = FormatOptions {
        comments: false,
        wrap: false,
        method_names: None,
        pandas_where: false,
        series_averages: &[],
    };
    format_program(program, source, &opts)
}

/// A stable 16-hex-digit hash (64-bit FNV-1a) of [`canonical_text`], for de-duplicating
/// strategies that differ only in layout, comments or redundant parentheses.
pub fn canonical_hash(program: &Program, source: &str) -> String {
    let h = dsl_runtime::fnv::fnv1a(canonical_text(program, source).as_bytes());
    format!("{h:016x}")
}

/// Binding power of an expression's top node, as Python (and the parser's Pratt table) sees it.
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Lambda => 0,
        ExprKind::Binary { op, .. } => binary_prec(*op),
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => 3,
        ExprKind::Unary { .. } => 11,
        ExprKind::Call { .. } | ExprKind::Attr { .. } | ExprKind::Index { .. } => 13,
        _ => 14,
    }
}

fn binary_prec(op: BinaryOp) -> u8 {
    use BinaryOp::*;
    match op {
        Or => 1,
        And => 2,
        Lt | Le | Gt | Ge | Eq | Ne | In | NotIn | Is | IsNot => 4,
        BitOr => 5,
        BitXor => 6,
        BitAnd => 7,
        LShift | RShift => 8,
        Add | Sub => 9,
        Mul | Div | FloorDiv | Mod | MatMul => 10,
        Pow => 12,
    }
}

fn is_comparison(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Binary { op, .. } if binary_prec(*op) == 4)
}

struct Printer<'a> {
    src: &'a str,
    comments: &'a [Range<usize>],
    opts: &'a FormatOptions<'a>,
}

impl Printer<'_> {
    fn slice(&self, span: Span) -> &str {
        self.src
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// Where a statement's text ends: its span can run over trailing blanks and comments.
    fn stmt_end(&self, stmt: &Stmt) -> usize {
        let start = stmt.span.start as usize;
        let mut end = stmt.span.end as usize;
        loop {
            let text = self.src.get(start..end).unwrap_or("");
            end = start + text.trim_end().len();
            match self.comments.iter().find(|c| c.start < end && end <= c.end) {
                Some(c) if c.start >= start => end = c.start,
                _ => return end,
            }
        }
    }

    fn program(&self, stmts: &[Stmt]) -> String {
        let emit = self.opts.comments;
        let comments = self.comments;
        let mut out: Vec<String> = Vec::new();
        let mut ci = 0;
        let mut prev_end: Option<usize> = None;
        let comment = |c: &Range<usize>| self.src[c.clone()].trim_end().to_string();
        let blank_before = |out: &mut Vec<String>, prev: Option<usize>, at: usize| {
            if let (Some(p), true) = (prev, emit) {
                // A blank line is a whitespace-only line strictly inside the gap (the gap can
                // hold statements the caller left out, e.g. the exporter's dropped imports).
                let gap = self.src.get(p..at).unwrap_or("");
                let lines: Vec<&str> = gap.split('\n').collect();
                let inner = lines.get(1..lines.len().saturating_sub(1)).unwrap_or(&[]);
                if inner.iter().any(|l| l.trim().is_empty()) && !out.is_empty() {
                    out.push(String::new());
                }
            }
        };
        for (i, stmt) in stmts.iter().enumerate() {
            let start = stmt.span.start as usize;
            let end = self.stmt_end(stmt);
            // Comments before the statement, then those inside a multi-line statement, each
            // on its own line.
            while ci < comments.len() && comments[ci].start < end {
                let c = &comments[ci];
                if c.start < start {
                    blank_before(&mut out, prev_end, c.start);
                    prev_end = Some(c.end);
                } else if prev_end.is_none_or(|p| p < start) {
                    blank_before(&mut out, prev_end, start);
                    prev_end = Some(start);
                }
                if emit {
                    out.push(comment(c));
                }
                ci += 1;
            }
            if prev_end.is_none_or(|p| p < start) {
                blank_before(&mut out, prev_end, start);
            }
            let mut text = self.stmt(stmt, end);
            let mut last = end;
            let next_start = stmts
                .get(i + 1)
                .map_or(usize::MAX, |s| s.span.start as usize);
            if let Some(c) = comments.get(ci) {
                let same_line = !self.src.get(end..c.start).unwrap_or("\n").contains('\n');
                if same_line && c.start < next_start {
                    if emit {
                        text.push_str("  ");
                        text.push_str(&comment(c));
                    }
                    last = c.end;
                    ci += 1;
                }
            }
            out.push(text);
            prev_end = Some(last);
        }
        for c in &comments[ci..] {
            blank_before(&mut out, prev_end, c.start);
            if emit {
                out.push(comment(c));
            }
            prev_end = Some(c.end);
        }
        let mut text = out.join("\n");
        text.push('\n');
        text
    }

    /// One statement; `end` is where its text ends (see [`Printer::stmt_end`]).
    fn stmt(&self, stmt: &Stmt, end: usize) -> String {
        match &stmt.kind {
            StmtKind::Import(items) => {
                let names: Vec<String> = items.iter().map(import_item).collect();
                format!("import {}", names.join(", "))
            }
            StmtKind::FromImport {
                module,
                names,
                star,
            } => {
                if *star {
                    format!("from {module} import *")
                } else {
                    let names: Vec<String> = names.iter().map(import_item).collect();
                    format!("from {module} import {}", names.join(", "))
                }
            }
            StmtKind::Keyword { .. } => self.raw(stmt.span.start as usize..end, true),
            StmtKind::Assign { target, value } => {
                let target = match &target.kind {
                    // `a, b = ...` (unpacking an indicator's outputs) stays unparenthesized.
                    ExprKind::Tuple(items) if !target.parens && items.len() > 1 => items
                        .iter()
                        .map(|i| self.expr_str(i, 0))
                        .collect::<Vec<_>>()
                        .join(", "),
                    _ => self.expr_str(target, 0),
                };
                self.with_value(format!("{target} = "), value)
            }
            StmtKind::AugAssign { target, op, value } => {
                let head = format!("{} {op} ", self.expr_str(target, 0));
                self.with_value(head, value)
            }
            StmtKind::Expr(e) => self.with_value(String::new(), e),
        }
    }

    /// `head` followed by `value`, wrapped one argument per line when it is a long call.
    fn with_value(&self, head: String, value: &Expr) -> String {
        let line = format!("{head}{}", self.expr_str(value, 0));
        if !self.opts.wrap || line.chars().count() <= WIDTH {
            return line;
        }
        match &value.kind {
            ExprKind::Call { func, args } if !args.is_empty() && !self.pandas_where(value) => {
                let mut s = head;
                self.callee(func, &mut s);
                s.push_str("(\n");
                for a in args {
                    s.push_str("    ");
                    s.push_str(&self.arg(a));
                    s.push_str(",\n");
                }
                s.push(')');
                s
            }
            ExprKind::Binary { op, .. }
                if matches!(
                    op,
                    BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::Add | BinaryOp::Mul
                ) =>
            {
                // A long chain of one operator: one operand per line inside parentheses.
                let mut operands = Vec::new();
                flatten(value, *op, &mut operands);
                let p = binary_prec(*op);
                let mut s = head;
                s.push_str("(\n");
                for (i, e) in operands.iter().enumerate() {
                    s.push_str("    ");
                    if i > 0 {
                        s.push_str(op.symbol());
                        s.push(' ');
                    }
                    self.child(e, if i == 0 { p } else { p + 1 }, &mut s);
                    s.push('\n');
                }
                s.push(')');
                s
            }
            _ => line,
        }
    }

    fn expr_str(&self, e: &Expr, min: u8) -> String {
        let mut s = String::new();
        self.child(e, min, &mut s);
        s
    }

    /// Prints `e`, in parentheses when its binding power is below `min`.
    fn child(&self, e: &Expr, min: u8, out: &mut String) {
        if prec(e) < min {
            out.push('(');
            self.expr(e, out);
            out.push(')');
        } else {
            self.expr(e, out);
        }
    }

    fn expr(&self, e: &Expr, out: &mut String) {
        super::deep(|| self.expr_inner(e, out))
    }

    fn expr_inner(&self, e: &Expr, out: &mut String) {
        if let (true, Some([c, x, y])) = (self.opts.pandas_where, np_where_args(e)) {
            // c.astype(float).where(~c, x).where(c, y): x where c, y elsewhere, on c's grid;
            // pandas matches panel arguments to it by label.
            let c_text = self.expr_str(c, 13);
            let _ = write!(
                out,
                "{c_text}.astype(float).where(~{c_text}, {}).where({}, {})",
                self.expr_str(x, 0),
                self.expr_str(c, 0),
                self.expr_str(y, 0)
            );
            return;
        }
        match &e.kind {
            ExprKind::Number(_) => out.push_str(self.slice(e.span)),
            ExprKind::Str { prefix, .. } => out.push_str(&self.string(e.span, prefix)),
            ExprKind::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
            ExprKind::None => out.push_str("None"),
            ExprKind::Name(n) => out.push_str(n),
            ExprKind::Unary { op, operand } => {
                let (sym, min) = match op {
                    UnaryOp::Neg => ("-", 11),
                    UnaryOp::Pos => ("+", 11),
                    UnaryOp::Invert => ("~", 11),
                    UnaryOp::Not => ("not ", 3),
                };
                out.push_str(sym);
                self.child(operand, min, out);
            }
            ExprKind::Binary { op, lhs, rhs, .. } => self.binary(*op, lhs, rhs, out),
            ExprKind::Call { func, .. } if self.series_average(func).is_some() => {
                if let (ExprKind::Attr { value, .. }, Some(n)) =
                    (&func.kind, self.series_average(func))
                {
                    self.receiver(value, out);
                    let _ = write!(out, ".rolling({n}, min_periods={}).mean()", n / 2);
                }
            }
            ExprKind::Call { func, args } => {
                self.callee(func, out);
                out.push('(');
                let args: Vec<String> = args.iter().map(|a| self.arg(a)).collect();
                out.push_str(&args.join(", "));
                out.push(')');
            }
            ExprKind::Attr { value, name, .. } => {
                self.receiver(value, out);
                out.push('.');
                out.push_str(name);
            }
            ExprKind::Index {
                value,
                index,
                slice,
            } => {
                self.receiver(value, out);
                if let Some(s) = slice {
                    out.push('[');
                    let bound = |b: Option<&Expr>, out: &mut String| {
                        if let Some(b) = b {
                            self.expr(b, out);
                        }
                    };
                    bound(s.lo.as_deref(), out);
                    out.push(':');
                    bound(s.hi.as_deref(), out);
                    if let Some(step) = &s.step {
                        out.push(':');
                        bound(step.as_deref(), out);
                    }
                    out.push(']');
                } else {
                    out.push('[');
                    self.items(index, out);
                    out.push(']');
                }
            }
            ExprKind::List(items) => {
                out.push('[');
                self.items(items, out);
                out.push(']');
            }
            ExprKind::Tuple(items) => {
                out.push('(');
                self.items(items, out);
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            ExprKind::Dict | ExprKind::Lambda | ExprKind::Comprehension => {
                out.push_str(&self.raw(e.span.start as usize..e.span.end as usize, false));
            }
        }
    }

    /// `lhs op rhs` with the fewest parentheses Python's precedence needs.
    fn binary(&self, op: BinaryOp, lhs: &Expr, rhs: &Expr, out: &mut String) {
        let p = binary_prec(op);
        let (lmin, rmin) = match op {
            // `-a ** b` is `-(a ** b)`; `a ** -b` needs no parentheses.
            BinaryOp::Pow => {
                let unary_rhs = matches!(
                    rhs.kind,
                    ExprKind::Unary { op, .. } if op != UnaryOp::Not
                );
                (13, if unary_rhs { 11 } else { 12 })
            }
            _ => (p, p + 1),
        };
        // Keep a nested comparison's parentheses exactly as written: the checker
        // refuses `a < b < c` but accepts `(a < b) < c`.
        if p == 4 && is_comparison(lhs) {
            if lhs.parens {
                out.push('(');
                self.expr(lhs, out);
                out.push(')');
            } else {
                self.expr(lhs, out);
            }
        } else {
            self.child(lhs, lmin, out);
        }
        out.push(' ');
        out.push_str(op.symbol());
        out.push(' ');
        self.child(rhs, rmin, out);
    }

    /// The window of `x.average(n)` when `func` is such a call to print as a rolling mean (see
    /// [`FormatOptions::series_averages`]).
    fn series_average(&self, func: &Expr) -> Option<i64> {
        let ExprKind::Attr { name_span, .. } = &func.kind else {
            return None;
        };
        self.opts
            .series_averages
            .iter()
            .find(|(span, _)| span == name_span)
            .map(|(_, n)| *n)
    }

    fn pandas_where(&self, e: &Expr) -> bool {
        self.opts.pandas_where && np_where_args(e).is_some()
    }

    /// The receiver of `.name` or `[...]`: a number needs parentheses (`(1).real`, not `1.real`).
    fn receiver(&self, value: &Expr, out: &mut String) {
        if matches!(value.kind, ExprKind::Number(_)) {
            out.push('(');
            self.expr(value, out);
            out.push(')');
        } else {
            self.child(value, 13, out);
        }
    }

    /// The function of a call; a method's name goes through [`FormatOptions::method_names`].
    fn callee(&self, func: &Expr, out: &mut String) {
        match (&func.kind, self.opts.method_names) {
            (ExprKind::Attr { value, name, .. }, Some(rename)) => {
                self.receiver(value, out);
                out.push('.');
                out.push_str(rename(name).unwrap_or(name));
            }
            _ => self.child(func, 13, out),
        }
    }

    fn items(&self, items: &[Expr], out: &mut String) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            self.child(item, 0, out);
        }
    }

    fn arg(&self, a: &Arg) -> String {
        let mut s = String::new();
        if let Some((name, _)) = &a.name {
            s.push_str(name);
            s.push('=');
        } else if a.star {
            let text = self.slice(a.span);
            s.push_str(if text.starts_with("**") { "**" } else { "*" });
        }
        self.child(&a.value, 0, &mut s);
        s
    }
}

/// The operands of a left-associated chain of `op` (`a & b & c` → a, b, c).
fn flatten<'a>(e: &'a Expr, op: BinaryOp, out: &mut Vec<&'a Expr>) {
    match &e.kind {
        ExprKind::Binary {
            op: inner,
            lhs,
            rhs,
            ..
        } if *inner == op && (!e.parens || out.is_empty()) => {
            flatten(lhs, op, out);
            out.push(rhs);
        }
        _ => out.push(e),
    }
}

/// The arguments of `np.where(c, x, y)` written positionally.
fn np_where_args(e: &Expr) -> Option<[&Expr; 3]> {
    let ExprKind::Call { func, args } = &e.kind else {
        return None;
    };
    let ExprKind::Attr { value, name, .. } = &func.kind else {
        return None;
    };
    let positional = args.iter().all(|a| a.name.is_none() && !a.star);
    match (&value.kind, name.as_str(), args.as_slice()) {
        (ExprKind::Name(np), "where", [c, x, y]) if np == "np" && positional => {
            Some([&c.value, &x.value, &y.value])
        }
        _ => None,
    }
}

fn import_item(item: &ImportItem) -> String {
    match &item.alias {
        Some(a) => format!("{} as {a}", item.name),
        None => item.name.clone(),
    }
}

mod text;

#[cfg(test)]
mod tests;
