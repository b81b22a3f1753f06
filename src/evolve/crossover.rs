//! Crossover: a sub-expression of one parent grafted into another, with the definitions it needs.
//! Two shapes: a condition of the donor joined with `&` to a condition of the recipient (an extra
//! filter), or the ranking factor of the recipient (`x` in `x.is_largest(n)`) replaced by a
//! float expression of the donor. The donor's free names come along with their definitions
//! (transitively), renamed when the recipient already uses the name for something else. The
//! checker judges the child; invalid ones are discarded by the caller.

use std::collections::{BTreeMap, BTreeSet};

use super::mutate::{edit, pick};
use crate::dsl::ast::{BinaryOp, Expr, ExprKind, Program, Span, Stmt, StmtKind};
use crate::dsl::visit::{walk_expr, Visitor};
use crate::util::rng::Rng;

/// Names that are never definitions of a strategy.
const GLOBALS: [&str; 5] = ["data", "np", "sim", "abs", "True"];

fn slice(src: &str, span: Span) -> &str {
    &src[span.start as usize..span.end as usize]
}

/// Every sub-expression of the assigned values with the index of its statement, parents first
/// (lists and tuples, which no valid strategy holds, are not entered).
fn nodes<'a>(program: &'a Program, out: &mut Vec<(usize, &'a Expr)>) {
    struct Nodes<'a, 'o> {
        stmt: usize,
        out: &'o mut Vec<(usize, &'a Expr)>,
    }
    impl<'a> Visitor<'a> for Nodes<'a, '_> {
        fn visit_expr(&mut self, e: &'a Expr) {
            self.out.push((self.stmt, e));
            if !matches!(e.kind, ExprKind::List(_) | ExprKind::Tuple(_)) {
                walk_expr(self, e);
            }
        }
    }
    for (stmt, s) in program.stmts.iter().enumerate() {
        if let StmtKind::Assign { value, .. } = &s.kind {
            Nodes {
                stmt,
                out: &mut *out,
            }
            .visit_expr(value);
        }
    }
}

fn is_condition(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Binary { op, .. } if op.is_comparison())
}

fn method_name(e: &Expr) -> Option<(&str, &Expr)> {
    match &e.kind {
        ExprKind::Call { func, .. } => match &func.kind {
            ExprKind::Attr { value, name, .. } => Some((name.as_str(), value)),
            _ => None,
        },
        _ => None,
    }
}

/// The ranking factor of a selection call: `x` in `x.is_largest(n)` or `x[cond].is_largest(n)`.
fn factor(e: &Expr) -> Option<&Expr> {
    let (name, recv) = method_name(e)?;
    if !matches!(name, "is_largest" | "is_smallest") {
        return None;
    }
    Some(match &recv.kind {
        ExprKind::Index { value, .. } => value,
        _ => recv,
    })
}

/// A float-valued donor: a ratio, or a call of a float-returning registry method.
fn is_float_expr(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Binary { op, .. } => matches!(op, BinaryOp::Div | BinaryOp::Sub | BinaryOp::Mul),
        _ => method_name(e).is_some_and(|(n, _)| {
            matches!(
                n,
                "average" | "pct_change" | "diff" | "rank" | "mean" | "std"
            )
        }),
    }
}

/// Free names of `e` (not globals), with the spans of every occurrence.
fn names(e: &Expr, out: &mut Vec<(Span, String)>) {
    struct Names<'o>(&'o mut Vec<(Span, String)>);
    impl Visitor<'_> for Names<'_> {
        fn visit_expr(&mut self, e: &Expr) {
            match &e.kind {
                ExprKind::Name(n) if !GLOBALS.contains(&n.as_str()) => {
                    self.0.push((e.span, n.clone()))
                }
                _ => walk_expr(self, e),
            }
        }
    }
    Names(out).visit_expr(e);
}

/// Names a statement assigns.
fn targets(s: &Stmt) -> Vec<String> {
    let mut out = Vec::new();
    if let StmtKind::Assign { target, .. } = &s.kind {
        let mut spans = Vec::new();
        names(target, &mut spans);
        out = spans.into_iter().map(|(_, n)| n).collect();
    }
    out
}

/// Text of `span` in `src` with the names in `renames` replaced.
fn renamed(src: &str, span: Span, exprs: &[&Expr], renames: &BTreeMap<String, String>) -> String {
    let mut occ = Vec::new();
    for e in exprs {
        names(e, &mut occ);
    }
    occ.retain(|(s, n)| renames.contains_key(n) && s.start >= span.start && s.end <= span.end);
    occ.sort_by_key(|(s, _)| std::cmp::Reverse(s.start));
    let mut text = slice(src, span).to_string();
    for (s, n) in occ {
        let (a, b) = (
            (s.start - span.start) as usize,
            (s.end - span.start) as usize,
        );
        text.replace_range(a..b, &renames[&n]);
    }
    text
}

/// A child of `a` (recipient) and `b` (donor), or `None` when no graft point was found.
/// Returns the child's source and a description.
pub fn crossover(
    a: &Program,
    a_src: &str,
    b: &Program,
    b_src: &str,
    rng: &mut Rng,
) -> Option<(String, String)> {
    let (mut a_nodes, mut b_nodes) = (Vec::new(), Vec::new());
    nodes(a, &mut a_nodes);
    nodes(b, &mut b_nodes);
    let conjoin = rng.uniform() < 0.6;
    let (site_stmt, site, donor) = if conjoin {
        let sites: Vec<&(usize, &Expr)> = a_nodes.iter().filter(|(_, e)| is_condition(e)).collect();
        let donors: Vec<&(usize, &Expr)> =
            b_nodes.iter().filter(|(_, e)| is_condition(e)).collect();
        let (i, s) = **pick(rng, &sites)?;
        (i, s, pick(rng, &donors)?.1)
    } else {
        let sites: Vec<(usize, &Expr)> = a_nodes
            .iter()
            .filter_map(|(i, e)| factor(e).map(|f| (*i, f)))
            .collect();
        let donors: Vec<&(usize, &Expr)> =
            b_nodes.iter().filter(|(_, e)| is_float_expr(e)).collect();
        let (i, s) = *pick(rng, &sites)?;
        (i, s, pick(rng, &donors)?.1)
    };
    if slice(a_src, site.span) == slice(b_src, donor.span) {
        return None;
    }

    // The donor's definitions, transitively, in the donor's order.
    let def_of: BTreeMap<String, usize> = b
        .stmts
        .iter()
        .enumerate()
        .flat_map(|(i, s)| targets(s).into_iter().map(move |n| (n, i)))
        .collect();
    let mut needed: BTreeSet<usize> = BTreeSet::new();
    let mut todo: Vec<String> = {
        let mut v = Vec::new();
        names(donor, &mut v);
        v.into_iter().map(|x| x.1).collect()
    };
    while let Some(n) = todo.pop() {
        if let Some(&i) = def_of.get(&n) {
            if needed.insert(i) {
                if let StmtKind::Assign { value, .. } = &b.stmts[i].kind {
                    let mut v = Vec::new();
                    names(value, &mut v);
                    todo.extend(v.into_iter().map(|x| x.1));
                }
            }
        }
    }

    // Rename donor names the recipient uses differently; reuse identical definitions.
    let a_defs: BTreeMap<String, String> = a
        .stmts
        .iter()
        .flat_map(|s| {
            let text = match &s.kind {
                StmtKind::Assign { value, .. } => slice(a_src, value.span).to_string(),
                _ => String::new(),
            };
            targets(s).into_iter().map(move |n| (n, text.clone()))
        })
        .collect();
    let mut renames = BTreeMap::new();
    let mut reused = BTreeSet::new();
    for &i in &needed {
        for n in targets(&b.stmts[i]) {
            let b_text = match &b.stmts[i].kind {
                StmtKind::Assign { value, .. } => slice(b_src, value.span),
                _ => "",
            };
            match a_defs.get(&n) {
                Some(t) if t == b_text => {
                    reused.insert(i);
                }
                Some(_) => {
                    renames.insert(n.clone(), format!("{n}_x"));
                }
                None => {}
            }
        }
    }
    // A donor statement that defines a reused name and nothing renamed is already in `a`.
    let lines: Vec<String> = needed
        .iter()
        .filter(|i| !reused.contains(i))
        .map(|&i| {
            let s = &b.stmts[i];
            let exprs: Vec<&Expr> = match &s.kind {
                StmtKind::Assign { target, value } => vec![target, value],
                _ => vec![],
            };
            renamed(b_src, s.span, &exprs, &renames)
        })
        .collect();
    let donor_text = renamed(b_src, donor.span, &[donor], &renames);
    let site_text = slice(a_src, site.span);
    let (graft, what) = if conjoin {
        (
            format!("(({site_text}) & ({donor_text}))"),
            format!("filter `{}` added", donor_text.trim()),
        )
    } else {
        (
            format!("({donor_text})"),
            format!("factor `{site_text}` → `{}`", donor_text.trim()),
        )
    };
    let child = edit(a_src, site.span, &graft);
    let at = a.stmts[site_stmt].span.start;
    let defs: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let child = edit(&child, Span { start: at, end: at }, &defs);
    Some((child, what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{compile, parse, CheckContext};

    #[test]
    fn grafts_bring_their_definitions_and_rename_clashes() {
        let a_src = "from finlab import data\nfrom finlab.backtest import sim\n\
                     close = data.get(\"etl:adj_close\")\n\
                     position = (close / close.shift(60))[close > close.average(20)].is_largest(10)\n\
                     sim(position, resample=\"M\")\n";
        let b_src = "from finlab import data\nfrom finlab.backtest import sim\n\
                     close = data.get(\"price:收盤價\")\nrev = data.get(\"monthly_revenue:當月營收\")\n\
                     growth = rev.average(3) / rev.average(12)\n\
                     position = growth[growth > 1.1].is_largest(10)\nsim(position)\n";
        let (a, b) = (parse(a_src).unwrap(), parse(b_src).unwrap());
        let mut valid = 0;
        let mut both = BTreeSet::new();
        for seed in 0..40 {
            let mut rng = Rng::new(seed, "t");
            let Some((child, what)) = crossover(&a, a_src, &b, b_src, &mut rng) else {
                continue;
            };
            let checked = compile(&child, &CheckContext::default());
            if checked.program.is_some() {
                valid += 1;
                both.insert(what.split(' ').next().unwrap_or("").to_string());
                assert!(child.contains("rev = data.get"), "{child}");
            }
        }
        assert!(valid >= 10, "only {valid} valid children");
        assert_eq!(both.len(), 2, "both graft shapes: {both:?}");
    }
}
