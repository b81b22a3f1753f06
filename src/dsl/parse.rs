//! Source text → [`Program`]. Three steps: a byte-preserving lexer pre-pass (blank comments and
//! the newlines inside brackets, as Python's implicit line joining does), the pest grammar in
//! `grammar/strategy.pest`, and an AST builder with one Pratt table — the only place operator
//! precedence lives (it mirrors Python: `&`/`|` bind tighter than comparisons).

use std::sync::OnceLock;

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;

use super::ast::*;
use super::codes::Code;
use super::diagnostic::Diagnostic;
use super::lex::{self, Piece};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/strategy.pest"]
struct StrategyParser;

/// Largest source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;

/// Parses a strategy; a syntax error becomes one `syntax-error` diagnostic.
pub fn parse(source: &str) -> Result<Program, Diagnostic> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(Diagnostic::error(
            Code::SourceTooLarge,
            Span::new(0, 0),
            format!(
                "the strategy is {} bytes; the limit is {MAX_SOURCE_BYTES}",
                source.len()
            ),
        )
        .hint("a strategy is a few dozen lines: keep only the signal and the `sim(...)` call"));
    }
    let (cleaned, too_deep) = prepass(source);
    if let Some(at) = too_deep {
        return Err(Diagnostic::error(
            Code::NestingTooDeep,
            Span::new(at, at + 1),
            format!("brackets are nested more than {MAX_NESTING} deep here"),
        )
        .label("too deep")
        .hint("name the inner steps (`ma = close.average(20)`) instead of nesting them"));
    }
    // Deeply nested input cannot exhaust the stack: pest gives up after this many calls.
    pest::set_call_limit(std::num::NonZeroUsize::new(5_000_000));
    let mut pairs = StrategyParser::parse(Rule::program, &cleaned).map_err(syntax_error)?;
    let program = pairs.next().map(|p| p.into_inner()).into_iter().flatten();
    let mut stmts = Vec::new();
    for pair in program {
        if pair.as_rule() == Rule::EOI {
            continue;
        }
        stmts.push(build_stmt(pair, source));
    }
    Ok(Program { stmts })
}

/// Deepest bracket nesting accepted (it bounds the parser's recursion).
pub const MAX_NESTING: usize = 100;

/// Blanks comments and newlines inside brackets with spaces, byte for byte, so offsets in the
/// cleaned text are offsets in the original. Strings are skipped (a `#` or bracket inside a
/// string is text; see [`lex`]). Returns the cleaned text and the offset of the first bracket
/// nested deeper than [`MAX_NESTING`], if any.
fn prepass(source: &str) -> (String, Option<usize>) {
    let mut bytes = source.as_bytes().to_vec();
    let mut depth: usize = 0;
    let mut too_deep = None;
    for piece in lex::pieces(source.as_bytes()) {
        let i = match piece {
            Piece::Comment(range) => {
                bytes[range].fill(b' ');
                continue;
            }
            Piece::Str(_) => continue,
            Piece::Code(i) => i,
        };
        match bytes[i] {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING && too_deep.is_none() {
                    too_deep = Some(i);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' | b'\r' if depth > 0 => bytes[i] = b' ',
            _ => {}
        }
    }
    // invariant: only ASCII bytes (and whole comment/line-break byte runs) were replaced by ASCII
    // spaces, so the text is still valid UTF-8.
    let text = String::from_utf8(bytes).unwrap_or_else(|_| source.to_string());
    (text, too_deep)
}

fn rule_words(rule: &Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of file",
        Rule::expr | Rule::expr_stmt => "an expression",
        Rule::ident | Rule::name_token => "a name",
        Rule::number => "a number",
        Rule::string => "a string",
        Rule::call => "`(`",
        Rule::index => "`[`",
        Rule::attr => "`.`",
        Rule::arg | Rule::kwarg => "an argument",
        Rule::aug_op => "an assignment",
        Rule::import_item | Rule::dotted => "a module name",
        Rule::kw_import => "`import`",
        Rule::paren | Rule::tuple => "`(`",
        Rule::list => "`[`",
        r if format!("{r:?}").starts_with("op_") => "an operator",
        _ => "valid syntax",
    }
}

fn syntax_error(err: pest::error::Error<Rule>) -> Diagnostic {
    let (start, end) = match err.location {
        pest::error::InputLocation::Pos(p) => (p, p + 1),
        pest::error::InputLocation::Span((s, e)) => (s, e.max(s + 1)),
    };
    let expected = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut words: Vec<&str> = positives.iter().map(rule_words).collect();
            words.sort_unstable();
            words.dedup();
            words.join(", ")
        }
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    let message = if expected.is_empty() {
        "syntax error".to_string()
    } else {
        format!("syntax error: expected {expected}")
    };
    Diagnostic::error(Code::SyntaxError, Span::new(start, end), message)
        .label("not understood here")
        .hint("a strategy is Python-style: `name = expression` lines and one `sim(position, ...)` call")
}

fn span_of(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

fn build_stmt(pair: Pair<Rule>, source: &str) -> Stmt {
    let span = span_of(&pair);
    let kind = match pair.as_rule() {
        Rule::import_stmt => StmtKind::Import(
            pair.into_inner()
                .filter(|p| p.as_rule() == Rule::import_item)
                .map(build_import_item)
                .collect(),
        ),
        Rule::from_stmt => {
            let mut module = String::new();
            let mut names = Vec::new();
            let mut star = false;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::dotted => module = p.as_str().to_string(),
                    Rule::import_item => names.push(build_import_item(p)),
                    Rule::import_star => star = true,
                    _ => {}
                }
            }
            StmtKind::FromImport {
                module,
                names,
                star,
            }
        }
        Rule::keyword_stmt => {
            let kw = pair.into_inner().next();
            debug_assert!(
                kw.is_some(),
                "grammar drift: keyword_stmt without its keyword"
            );
            let (keyword, keyword_span) = kw
                .map(|k| (k.as_str().to_string(), span_of(&k)))
                .unwrap_or_default();
            StmtKind::Keyword {
                keyword,
                keyword_span,
            }
        }
        Rule::assign_stmt => {
            let mut exprs: Vec<Expr> = pair
                .into_inner()
                .filter(|p| p.as_rule() == Rule::expr)
                .map(|p| build_expr(p, source))
                .collect();
            debug_assert!(
                exprs.len() >= 2,
                "grammar drift: assign_stmt without target and value"
            );
            let value = exprs.pop().unwrap_or_else(|| missing(span));
            let target = match exprs.len() {
                1 => exprs.remove(0),
                _ => {
                    let first = exprs.first().map(|e| e.span).unwrap_or(span);
                    let last = exprs.last().map(|e| e.span).unwrap_or(span);
                    Expr {
                        kind: ExprKind::Tuple(exprs),
                        span: first.to(last),
                        parens: false,
                    }
                }
            };
            StmtKind::Assign { target, value }
        }
        Rule::aug_assign_stmt => {
            let mut it = pair.into_inner();
            let target = next_expr(&mut it, span, source);
            let op = it.next().map(|p| p.as_str().to_string());
            debug_assert!(
                op.is_some(),
                "grammar drift: aug_assign_stmt without its operator"
            );
            let op = op.unwrap_or_default();
            let value = next_expr(&mut it, span, source);
            StmtKind::AugAssign { target, op, value }
        }
        rule => {
            debug_assert_eq!(
                rule,
                Rule::expr_stmt,
                "grammar drift: unknown statement rule"
            );
            let mut it = pair.into_inner();
            StmtKind::Expr(next_expr(&mut it, span, source))
        }
    };
    Stmt { kind, span }
}

fn build_import_item(pair: Pair<Rule>) -> ImportItem {
    let span = span_of(&pair);
    let mut it = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_as);
    let name = it.next().map(|p| p.as_str().to_string());
    debug_assert!(name.is_some(), "grammar drift: import_item without a name");
    let name = name.unwrap_or_default();
    let alias = it.next().map(|p| p.as_str().to_string());
    ImportItem { name, alias, span }
}

/// The next `expr` pair as an [`Expr`]; the grammar guarantees one is there (see [`missing`]).
fn next_expr(it: &mut Pairs<Rule>, span: Span, source: &str) -> Expr {
    match it.find(|p| p.as_rule() == Rule::expr) {
        Some(p) => build_expr(p, source),
        None => missing(span),
    }
}

/// Stands in for an expression the grammar guarantees but the parse lacks: a grammar change
/// that breaks the builder fails in debug builds (tests) and degrades to `None` at `span` in
/// release builds instead of panicking on a user's input.
fn missing(span: Span) -> Expr {
    debug_assert!(false, "grammar drift: an expression is missing at {span:?}");
    Expr {
        kind: ExprKind::None,
        span,
        parens: false,
    }
}

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        // Lowest to highest, as in Python's grammar.
        PrattParser::new()
            .op(Op::infix(Rule::op_or, Assoc::Left))
            .op(Op::infix(Rule::op_and, Assoc::Left))
            .op(Op::prefix(Rule::op_not))
            .op(Op::infix(Rule::op_lt, Assoc::Left)
                | Op::infix(Rule::op_le, Assoc::Left)
                | Op::infix(Rule::op_gt, Assoc::Left)
                | Op::infix(Rule::op_ge, Assoc::Left)
                | Op::infix(Rule::op_eq, Assoc::Left)
                | Op::infix(Rule::op_ne, Assoc::Left)
                | Op::infix(Rule::op_in, Assoc::Left)
                | Op::infix(Rule::op_not_in, Assoc::Left)
                | Op::infix(Rule::op_is, Assoc::Left)
                | Op::infix(Rule::op_is_not, Assoc::Left))
            .op(Op::infix(Rule::op_bitor, Assoc::Left))
            .op(Op::infix(Rule::op_bitxor, Assoc::Left))
            .op(Op::infix(Rule::op_bitand, Assoc::Left))
            .op(Op::infix(Rule::op_lshift, Assoc::Left) | Op::infix(Rule::op_rshift, Assoc::Left))
            .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
            .op(Op::infix(Rule::op_mul, Assoc::Left)
                | Op::infix(Rule::op_div, Assoc::Left)
                | Op::infix(Rule::op_floordiv, Assoc::Left)
                | Op::infix(Rule::op_mod, Assoc::Left)
                | Op::infix(Rule::op_matmul, Assoc::Left))
            .op(Op::prefix(Rule::op_neg) | Op::prefix(Rule::op_pos) | Op::prefix(Rule::op_invert))
            .op(Op::infix(Rule::op_pow, Assoc::Right))
            .op(Op::postfix(Rule::call) | Op::postfix(Rule::index) | Op::postfix(Rule::attr))
    })
}

fn binary_op(rule: Rule) -> BinaryOp {
    use BinaryOp::*;
    match rule {
        Rule::op_add => Add,
        Rule::op_sub => Sub,
        Rule::op_mul => Mul,
        Rule::op_div => Div,
        Rule::op_floordiv => FloorDiv,
        Rule::op_mod => Mod,
        Rule::op_pow => Pow,
        Rule::op_matmul => MatMul,
        Rule::op_lshift => LShift,
        Rule::op_rshift => RShift,
        Rule::op_bitand => BitAnd,
        Rule::op_bitor => BitOr,
        Rule::op_bitxor => BitXor,
        Rule::op_lt => Lt,
        Rule::op_le => Le,
        Rule::op_gt => Gt,
        Rule::op_ge => Ge,
        Rule::op_eq => Eq,
        Rule::op_ne => Ne,
        Rule::op_in => In,
        Rule::op_not_in => NotIn,
        Rule::op_is => Is,
        Rule::op_is_not => IsNot,
        Rule::op_and => And,
        rule => {
            debug_assert_eq!(rule, Rule::op_or, "grammar drift: unknown binary operator");
            Or
        }
    }
}

fn build_expr(pair: Pair<Rule>, source: &str) -> Expr {
    super::deep(|| build_expr_inner(pair, source))
}

fn build_expr_inner(pair: Pair<Rule>, source: &str) -> Expr {
    pratt()
        .map_primary(|p| build_primary(p, source))
        .map_prefix(|op, rhs| {
            let op_kind = match op.as_rule() {
                Rule::op_neg => UnaryOp::Neg,
                Rule::op_pos => UnaryOp::Pos,
                Rule::op_invert => UnaryOp::Invert,
                rule => {
                    debug_assert_eq!(rule, Rule::op_not, "grammar drift: unknown unary operator");
                    UnaryOp::Not
                }
            };
            Expr {
                span: span_of(&op).to(rhs.span),
                kind: ExprKind::Unary {
                    op: op_kind,
                    operand: Box::new(rhs),
                },
                parens: false,
            }
        })
        .map_infix(|lhs, op, rhs| Expr {
            span: lhs.span.to(rhs.span),
            kind: ExprKind::Binary {
                op: binary_op(op.as_rule()),
                op_span: span_of(&op),
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
            parens: false,
        })
        .map_postfix(|lhs, op| build_postfix(lhs, op, source))
        .parse(pair.into_inner())
}

/// `lo:hi` or `lo:hi:step`, each part possibly empty.
fn build_slice(pair: Pair<Rule>, source: &str) -> Slice {
    let mut parts = pair.into_inner().map(|part| {
        part.into_inner()
            .next()
            .map(|e| Box::new(build_expr(e, source)))
    });
    Slice {
        lo: parts.next().flatten(),
        hi: parts.next().flatten(),
        step: parts.next(),
    }
}

fn build_postfix(lhs: Expr, op: Pair<Rule>, source: &str) -> Expr {
    let span = lhs.span.to(span_of(&op));
    let kind = match op.as_rule() {
        Rule::call => ExprKind::Call {
            func: Box::new(lhs),
            args: op.into_inner().map(|a| build_arg(a, source)).collect(),
        },
        Rule::attr => {
            let name = op.into_inner().next();
            debug_assert!(name.is_some(), "grammar drift: attr without a name");
            let (name, name_span) = name
                .map(|n| (n.as_str().to_string(), span_of(&n)))
                .unwrap_or_default();
            ExprKind::Attr {
                value: Box::new(lhs),
                name,
                name_span,
            }
        }
        rule => {
            debug_assert_eq!(rule, Rule::index, "grammar drift: unknown postfix operator");
            let mut slice = None;
            let mut index = Vec::new();
            for p in op.into_inner() {
                match p.as_rule() {
                    Rule::slice => slice = Some(build_slice(p, source)),
                    Rule::expr => index.push(build_expr(p, source)),
                    _ => {}
                }
            }
            ExprKind::Index {
                value: Box::new(lhs),
                index,
                slice,
            }
        }
    };
    Expr {
        kind,
        span,
        parens: false,
    }
}

fn build_arg(pair: Pair<Rule>, source: &str) -> Arg {
    let span = span_of(&pair);
    let inner = pair.into_inner().next();
    match inner {
        Some(p) if p.as_rule() == Rule::kwarg => {
            let mut it = p.into_inner();
            let name = it.next().map(|n| (n.as_str().to_string(), span_of(&n)));
            let value = it
                .next()
                .map(|e| build_expr(e, source))
                .unwrap_or_else(|| missing(span));
            Arg {
                name,
                value,
                star: false,
                span,
            }
        }
        Some(p) if p.as_rule() == Rule::star_arg => {
            let value = p
                .into_inner()
                .next()
                .map(|e| build_expr(e, source))
                .unwrap_or_else(|| missing(span));
            Arg {
                name: None,
                value,
                star: true,
                span,
            }
        }
        Some(p) => Arg {
            name: None,
            value: build_expr(p, source),
            star: false,
            span,
        },
        None => Arg {
            name: None,
            value: missing(span),
            star: false,
            span,
        },
    }
}

fn build_primary(pair: Pair<Rule>, source: &str) -> Expr {
    let span = span_of(&pair);
    let mk = |kind| Expr {
        kind,
        span,
        parens: false,
    };
    match pair.as_rule() {
        Rule::number => {
            let text: String = pair.as_str().chars().filter(|c| *c != '_').collect();
            // A literal the grammar accepted but f64 cannot read (e.g. `1j`) is refused by the
            // checker as a complex/invalid literal via NaN.
            mk(ExprKind::Number(text.parse().unwrap_or(f64::NAN)))
        }
        Rule::string => {
            let mut prefix = String::new();
            let mut value = String::new();
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::string_prefix => prefix = p.as_str().to_lowercase(),
                    _ => value = unquote(&source[p.as_span().start()..p.as_span().end()]),
                }
            }
            mk(ExprKind::Str { value, prefix })
        }
        Rule::constant => match pair.as_str() {
            "True" => mk(ExprKind::Bool(true)),
            "False" => mk(ExprKind::Bool(false)),
            _ => mk(ExprKind::None),
        },
        Rule::ident => mk(ExprKind::Name(pair.as_str().to_string())),
        Rule::paren => {
            let inner = pair.into_inner().next();
            match inner {
                Some(e) => {
                    let mut e = build_expr(e, source);
                    e.parens = true;
                    e
                }
                None => missing(span),
            }
        }
        Rule::tuple | Rule::list => {
            let is_list = pair.as_rule() == Rule::list;
            let mut items = Vec::new();
            let mut comprehension = false;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::comp_for => comprehension = true,
                    Rule::expr => items.push(build_expr(p, source)),
                    _ => {}
                }
            }
            if comprehension {
                mk(ExprKind::Comprehension)
            } else if is_list {
                mk(ExprKind::List(items))
            } else {
                mk(ExprKind::Tuple(items))
            }
        }
        Rule::dict => {
            if pair.into_inner().any(|p| p.as_rule() == Rule::comp_for) {
                mk(ExprKind::Comprehension)
            } else {
                mk(ExprKind::Dict)
            }
        }
        Rule::lambda => mk(ExprKind::Lambda),
        rule => {
            debug_assert!(false, "grammar drift: unknown primary {rule:?}");
            mk(ExprKind::None)
        }
    }
}

/// The value of a Python string literal body with its quotes (common escapes decoded).
fn unquote(lit: &str) -> String {
    let body = if lit.starts_with("\"\"\"") || lit.starts_with("'''") {
        lit.get(3..lit.len().saturating_sub(3)).unwrap_or("")
    } else {
        lit.get(1..lit.len().saturating_sub(1)).unwrap_or("")
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('\n') | None => {}
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr_of(src: &str) -> Expr {
        let p = parse(src).unwrap();
        match &p.stmts[0].kind {
            StmtKind::Expr(e) => e.clone(),
            StmtKind::Assign { value, .. } => value.clone(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bitand_binds_tighter_than_comparison() {
        // Python: a > b & c  ==  a > (b & c)
        let e = expr_of("a > b & c");
        match e.kind {
            ExprKind::Binary { op, rhs, .. } => {
                assert_eq!(op, BinaryOp::Gt);
                assert!(matches!(
                    rhs.kind,
                    ExprKind::Binary {
                        op: BinaryOp::BitAnd,
                        ..
                    }
                ));
            }
            _ => panic!(),
        }
    }

    #[test]
    fn brackets_join_lines_and_comments_vanish() {
        let src = "from finlab import data  # 資料\nx = (data.get(\"price:收盤價\")  # close\n     .average(20))\nsim(x,\n    resample=\"M\")\n";
        let p = parse(src).unwrap();
        assert_eq!(p.stmts.len(), 3);
        let StmtKind::Assign { value, .. } = &p.stmts[1].kind else {
            panic!()
        };
        assert!(value.parens);
        assert!(matches!(value.kind, ExprKind::Call { .. }));
    }

    #[test]
    fn numbers_strings_and_keywords() {
        let e = expr_of("1.425/1000");
        let ExprKind::Binary { lhs, .. } = e.kind else {
            panic!()
        };
        assert_eq!(lhs.kind, ExprKind::Number(1.425));
        let e = expr_of("f'x{y}'");
        assert!(matches!(e.kind, ExprKind::Str { ref prefix, .. } if prefix == "f"));
        let p = parse("def f(x):\n    return x\nimport os\n").unwrap();
        assert!(
            matches!(p.stmts[0].kind, StmtKind::Keyword { ref keyword, .. } if keyword == "def")
        );
        assert!(matches!(p.stmts[2].kind, StmtKind::Import(_)));
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("x = (1 +\n").unwrap_err();
        assert_eq!(err.code, "syntax-error");
        let err = parse("x = close.average(20))\n").unwrap_err();
        assert_eq!(err.span.start, 21);
    }
}
