//! The one walk over the syntax tree. A pass implements [`Visitor`] (or [`VisitorMut`]) and
//! overrides the `visit_*` methods for the nodes it cares about; calling the matching `walk_*`
//! function from an override continues into the children. The recursion, and the stack growth
//! that keeps a deeply nested strategy from overflowing it (`dsl::deep`), are written once
//! below, for both the shared and the mutable walk.
//!
//! Children are visited in source order: a statement's target before its value, a call's function
//! before its arguments, an index's value before its subscripts. Imports and refused keyword
//! statements have no expressions.

use super::ast::{Arg, Expr, ExprKind, Program, Stmt, StmtKind};

/// Writes the visitor trait and its `walk_*` functions for shared (`&'a`) or mutable
/// (`&'a mut`) references, from one body.
macro_rules! visitor {
    (
        $(#[$doc:meta])*
        $Visitor:ident, $walk_program:ident, $walk_stmt:ident, $walk_expr:ident, $walk_arg:ident,
        $($mut:tt)?
    ) => {
        $(#[$doc])*
        pub trait $Visitor<'a> {
            /// Visits a statement; the default walks its expressions.
            fn visit_stmt(&mut self, stmt: &'a $($mut)? Stmt) {
                $walk_stmt(self, stmt)
            }

            /// Visits an expression; the default walks its children.
            fn visit_expr(&mut self, expr: &'a $($mut)? Expr) {
                $walk_expr(self, expr)
            }

            /// Visits a call argument; the default visits its value.
            fn visit_arg(&mut self, arg: &'a $($mut)? Arg) {
                $walk_arg(self, arg)
            }
        }

        /// Visits every statement of a program.
        pub fn $walk_program<'a, V: $Visitor<'a> + ?Sized>(v: &mut V, program: &'a $($mut)? Program) {
            for stmt in & $($mut)? program.stmts {
                v.visit_stmt(stmt);
            }
        }

        /// Visits the expressions of a statement (target, then value).
        pub fn $walk_stmt<'a, V: $Visitor<'a> + ?Sized>(v: &mut V, stmt: &'a $($mut)? Stmt) {
            match & $($mut)? stmt.kind {
                StmtKind::Assign { target, value } | StmtKind::AugAssign { target, value, .. } => {
                    v.visit_expr(target);
                    v.visit_expr(value);
                }
                StmtKind::Expr(e) => v.visit_expr(e),
                StmtKind::Import(_) | StmtKind::FromImport { .. } | StmtKind::Keyword { .. } => {}
            }
        }

        /// Visits the children of an expression, with enough stack for any nesting depth.
        pub fn $walk_expr<'a, V: $Visitor<'a> + ?Sized>(v: &mut V, expr: &'a $($mut)? Expr) {
            super::deep(move || {
                // Moved out of the closure's capture, so children borrow for `'a`.
                let expr = expr;
                match & $($mut)? expr.kind {
                    ExprKind::Unary { operand, .. } => v.visit_expr(operand),
                    ExprKind::Binary { lhs, rhs, .. } => {
                        v.visit_expr(lhs);
                        v.visit_expr(rhs);
                    }
                    ExprKind::Call { func, args } => {
                        v.visit_expr(func);
                        for arg in args {
                            v.visit_arg(arg);
                        }
                    }
                    ExprKind::Attr { value, .. } => v.visit_expr(value),
                    ExprKind::Index { value, index, slice } => {
                        v.visit_expr(value);
                        for e in index {
                            v.visit_expr(e);
                        }
                        if let Some(s) = slice {
                            if let Some(e) = &$($mut)? s.lo {
                                v.visit_expr(e);
                            }
                            if let Some(e) = &$($mut)? s.hi {
                                v.visit_expr(e);
                            }
                            if let Some(Some(e)) = &$($mut)? s.step {
                                v.visit_expr(e);
                            }
                        }
                    }
                    ExprKind::List(items) | ExprKind::Tuple(items) => {
                        for e in items {
                            v.visit_expr(e);
                        }
                    }
                    ExprKind::Number(_)
                    | ExprKind::Str { .. }
                    | ExprKind::Bool(_)
                    | ExprKind::None
                    | ExprKind::Name(_)
                    | ExprKind::Dict
                    | ExprKind::Lambda
                    | ExprKind::Comprehension => {}
                }
            })
        }

        /// Visits the value of a call argument.
        pub fn $walk_arg<'a, V: $Visitor<'a> + ?Sized>(v: &mut V, arg: &'a $($mut)? Arg) {
            v.visit_expr(& $($mut)? arg.value);
        }
    };
}

visitor!(
    /// A pass over the syntax tree that reads it.
    Visitor, walk_program, walk_stmt, walk_expr, walk_arg,
);

visitor!(
    /// A pass over the syntax tree that changes it in place.
    VisitorMut, walk_program_mut, walk_stmt_mut, walk_expr_mut, walk_arg_mut, mut
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::ast::Span;
    use crate::dsl::parse;

    /// Names in visiting order.
    struct Names<'a>(Vec<&'a str>);

    impl<'a> Visitor<'a> for Names<'a> {
        fn visit_expr(&mut self, e: &'a Expr) {
            if let ExprKind::Name(n) = &e.kind {
                self.0.push(n);
            }
            walk_expr(self, e);
        }
    }

    #[test]
    fn visits_every_expression_in_source_order() {
        let p = parse("import os\na, b = f(c, k=d[e], *g).h + -i\nj[k, l]\nm[1:n]\n[o, (p,)]\n")
            .unwrap();
        let mut names = Names(Vec::new());
        walk_program(&mut names, &p);
        assert_eq!(
            names.0,
            ["a", "b", "f", "c", "d", "e", "g", "i", "j", "k", "l", "m", "n", "o", "p"]
        );
    }

    #[test]
    fn the_mutable_walk_reaches_every_expression() {
        struct Spans;
        impl VisitorMut<'_> for Spans {
            fn visit_expr(&mut self, e: &mut Expr) {
                e.span = Span::default();
                walk_expr_mut(self, e);
            }
        }
        let src = "x = f(a)[b].c + -(d, e)\n";
        let mut p = parse(src).unwrap();
        walk_program_mut(&mut Spans, &mut p);
        struct Check(usize);
        impl Visitor<'_> for Check {
            fn visit_expr(&mut self, e: &Expr) {
                assert_eq!(e.span, Span::default());
                self.0 += 1;
                walk_expr(self, e);
            }
        }
        let mut count = Check(0);
        walk_program(&mut count, &p);
        assert_eq!(count.0, 12);
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let e = (0..10_000).fold(
            Expr {
                kind: ExprKind::Name("x".into()),
                span: Span::default(),
                parens: false,
            },
            |e, _| Expr {
                kind: ExprKind::Unary {
                    op: crate::dsl::ast::UnaryOp::Neg,
                    operand: Box::new(e),
                },
                span: Span::default(),
                parens: false,
            },
        );
        assert_eq!(e.size(), 10_001);
    }
}
