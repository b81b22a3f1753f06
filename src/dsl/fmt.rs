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
use super::lex::{self, Piece};
use super::parse::parse;

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

/// Byte ranges of the `#` comments in `source` (up to, not including, the line break), read as
/// the parser reads them ([`lex`]).
fn scan_comments(source: &str) -> Vec<Range<usize>> {
    lex::pieces(source.as_bytes())
        .filter_map(|p| match p {
            Piece::Comment(range) => Some(range),
            _ => None,
        })
        .collect()
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

    /// `source[range]` on one line: comments removed, whitespace runs outside strings (line
    /// breaks and `\` continuations included) collapsed to one space; with `balance` (a refused
    /// `def`-style line, whose text is opaque) brackets left open are closed and line breaks in
    /// strings become spaces.
    fn raw(&self, range: Range<usize>, balance: bool) -> String {
        let bytes = self.src.as_bytes();
        let end = range.end.min(bytes.len());
        let mut out = String::new();
        let mut i = range.start.min(end);
        let mut space = false;
        let mut open: Vec<char> = Vec::new();
        while i < end {
            let b = bytes[i];
            // Strings are skipped whole below, so a `#` here starts a comment.
            if b == b'#' {
                i = lex::line_end(&bytes[..end], i);
                continue;
            }
            if b == b'\\' && (i + 1 >= end || matches!(bytes.get(i + 1), Some(b'\n' | b'\r'))) {
                space = true;
                i += 1;
                continue;
            }
            let c = self
                .src
                .get(i..)
                .and_then(|t| t.chars().next())
                .unwrap_or(' ');
            if c.is_whitespace() {
                // Unicode whitespace too: statement ends are found with `str::trim_end`.
                space = true;
                i += c.len_utf8();
                continue;
            }
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            if b == b'"' || b == b'\'' {
                let (next, closed) = lex::skip_string(bytes, i, b);
                let closed = closed && next <= end;
                let next = next.min(end);
                let lit = self.src.get(i..next).unwrap_or("");
                // An unterminated string (only refused shapes can hold one) is closed, or
                // joining its line break would let it run on differently in the next pass; a
                // trailing `\` would escape the closing quote.
                if closed && balance {
                    // A refused line is opaque: keep it on one line even where a string in it
                    // spans lines.
                    out.push_str(&lit.replace(['\n', '\r'], " "));
                } else if closed || !balance {
                    // (A `lambda`'s parameters may hold a lone quote: keep it as written.)
                    out.push_str(lit);
                } else {
                    out.push_str(lit.trim_end_matches('\\'));
                    let triple = bytes.get(i + 1) == Some(&b) && bytes.get(i + 2) == Some(&b);
                    let quote = char::from(b).to_string();
                    out.push_str(&quote.repeat(if triple { 3 } else { 1 }));
                }
                i = next;
                continue;
            }
            match b {
                b'(' => open.push(')'),
                b'[' => open.push(']'),
                b'{' => open.push('}'),
                b')' | b']' | b'}' => {
                    open.pop();
                }
                _ => {}
            }
            // Advance by one character (never split a UTF-8 sequence).
            let next = i + c.len_utf8();
            out.push_str(self.src.get(i..next).unwrap_or(""));
            i = next;
        }
        // A `def`-style line can stop (at a lone `\r`) inside brackets; closing them keeps the
        // next line from being joined to it when the output is parsed again.
        // A final `\` would join the next line.
        while out.ends_with('\\') || out.ends_with(' ') {
            out.pop();
        }
        if balance {
            out.extend(open.iter().rev());
        }
        out
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
            ExprKind::Binary { op, lhs, rhs, .. } => {
                let p = binary_prec(*op);
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
                if *slice {
                    out.push_str(
                        &self.raw(self.open_bracket(value, e)..e.span.end as usize, false),
                    );
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

    /// Where the `[` of a subscript starts: the first `[` after the subscripted value that is
    /// not in a comment (only `)`, spaces and comments can sit between them).
    fn open_bracket(&self, value: &Expr, whole: &Expr) -> usize {
        let from = value.span.end as usize;
        let bytes = self.src.as_bytes();
        let bytes = &bytes[..(whole.span.end as usize).min(bytes.len())];
        let mut i = from;
        while i < bytes.len() {
            match bytes[i] {
                b'[' => return i,
                b'#' => i = lex::line_end(bytes, i),
                _ => i += 1,
            }
        }
        from
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

    /// A string literal with double quotes where that keeps its value (short single-quoted
    /// strings that are not f-strings, and raw ones without a `"`); others as written.
    fn string(&self, span: Span, prefix: &str) -> String {
        let text = self.slice(span);
        let quoted = &text[prefix.len().min(text.len())..];
        let written_prefix = &text[..prefix.len().min(text.len())];
        if prefix.contains('f')
            || !quoted.starts_with('\'')
            || quoted.starts_with("'''")
            || quoted.len() < 2
        {
            return text.to_string();
        }
        let body = &quoted[1..quoted.len() - 1];
        if prefix.contains('r') {
            if body.contains('"') {
                return text.to_string();
            }
            return format!("{written_prefix}\"{body}\"");
        }
        let mut out = String::with_capacity(text.len() + 2);
        out.push_str(written_prefix);
        out.push('"');
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('\'') => out.push('\''),
                    Some(n) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => out.push('\\'),
                },
                '"' => out.push_str("\\\""),
                c => out.push(c),
            }
        }
        out.push('"');
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(src: &str) -> String {
        format_source(src).unwrap()
    }

    #[test]
    fn spacing_quotes_and_parentheses() {
        assert_eq!(
            fmt("x=((a>b))&(c>d)\ny = (a+b)*c-(d*e)\nz=f( a,b = 1 )['k']\n"),
            "x = (a > b) & (c > d)\ny = (a + b) * c - d * e\nz = f(a, b=1)[\"k\"]\n"
        );
        assert_eq!(
            fmt("x = -(a ** b) + (-a) ** b + a ** -b\n"),
            "x = -a ** b + (-a) ** b + a ** -b\n"
        );
        assert_eq!(
            fmt("x = a - (b - c) - (d - e)\n"),
            "x = a - (b - c) - (d - e)\n"
        );
        assert_eq!(
            fmt("(a,b) = f()\na , b = f()\n"),
            "a, b = f()\na, b = f()\n"
        );
        let long = "cond = (aaaaaaaaaaaaaaaaaaaa > 1) & (bbbbbbbbbbbbbbbbbbbbbbbbb > 2) & (cccccccccccccccccccccccccc > 3) & dd\n";
        assert_eq!(
            fmt(long),
            "cond = (\n    (aaaaaaaaaaaaaaaaaaaa > 1)\n    & (bbbbbbbbbbbbbbbbbbbbbbbbb > 2)\n    & (cccccccccccccccccccccccccc > 3)\n    & dd\n)\n"
        );
        assert_eq!(
            fmt("x = (a < b) < c\ny = a < b < c\n"),
            "x = (a < b) < c\ny = a < b < c\n"
        );
        assert_eq!(fmt("s = 'a\\'b\"c'\n"), "s = \"a'b\\\"c\"\n");
        assert_eq!(
            fmt("x = 1.425/1000 + 1_000 + 2.\n"),
            "x = 1.425 / 1000 + 1_000 + 2.\n"
        );
        assert_eq!(
            fmt("x = ~(a & b)\ny = not (a and b)\n"),
            "x = ~(a & b)\ny = not (a and b)\n"
        );
    }

    #[test]
    fn comments_and_blank_lines() {
        let src = "# header\n# two\n\n\n\nfrom finlab import data  # the data\nx = (data.get('k')  # inner\n     .average(5))\n\n# tail\n";
        assert_eq!(
            fmt(src),
            "# header\n# two\n\nfrom finlab import data  # the data\n# inner\nx = data.get(\"k\").average(5)\n\n# tail\n"
        );
    }

    #[test]
    fn long_calls_wrap_one_argument_per_line() {
        let src = "sim(position, resample=\"W-FRI\", position_limit=0.1, stop_loss=0.08, take_profit=0.25, trail_stop=0.1, name=\"x\")  # go\n";
        let out = fmt(src);
        assert!(
            out.starts_with("sim(\n    position,\n    resample=\"W-FRI\",\n"),
            "{out}"
        );
        assert!(out.ends_with("    name=\"x\",\n)  # go\n"), "{out}");
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn hash_ignores_layout_and_comments() {
        let a = "x = (close > 1)  # c\nsim(x)\n";
        let b = "\n# header\nx=close>1\n\nsim( x )\n";
        let h = |s: &str| canonical_hash(&parse(s).unwrap(), s);
        assert_eq!(h(a), h(b));
        assert_eq!(h(a).len(), 16);
        assert_ne!(h(a), h("x = close > 2\nsim(x)\n"));
    }

    #[test]
    fn unterminated_strings_in_refused_lines_are_closed() {
        // Found by fuzzing: the joined line break used to let the string run on.
        let out = fmt("def+.average(\"\n\"x\t\0");
        assert_eq!(out, "def+.average(\"\" \"x\t\0\")\n");
        assert_eq!(fmt("def \"x \\\n"), "def \"x \"\n");
        assert_eq!(fmt(&out), out);
        // A trailing `\\` would join the next line.
        assert_eq!(fmt("if[\\"), "if[]\n");
        assert_eq!(fmt("def \\\\\n"), "def\n");
        assert_eq!(fmt("if(\"x\r\ny"), "if(\"x\")\ny\n");
    }

    #[test]
    fn refused_shapes_print_from_source() {
        let src =
            "def f(x):  # no\n    return x\ny = [i for i in  # c\n  z]\nw = (lambda q: q)(1)\n";
        let out = fmt(src);
        assert_eq!(
            out,
            "def f(x):  # no\nreturn x\n# c\ny = [i for i in z]\nw = (lambda q: q)(1)\n"
        );
        assert_eq!(fmt(&out), out);
    }
}
