//! The DSL front end: source text → [`ast::Program`] (`parse`) → [`check::TypedProgram`]
//! (`check`, which collects every diagnostic). Syntax is `grammar/strategy.pest`; operators come
//! from the one registry in `dsl_runtime::ops`. Semantics: `docs/semantics.md` §5.

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod fmt;
pub mod parse;
pub mod reference;
pub mod sim_args;
pub mod suggest;

pub use check::{check, CheckContext, Checked, PanelKind, TArg, TExpr, TypedProgram};
pub use diagnostic::{locate, render, render_compact, Diagnostic, Located, Severity};
pub use parse::parse;
pub use sim_args::SimCall;

/// Runs a step of a recursive walk over the syntax tree with enough stack, growing it on the
/// heap when a deeply nested strategy needs more than the thread has.
pub(crate) fn deep<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(64 * 1024, 4 * 1024 * 1024, f)
}

/// Parses and checks in one step; all diagnostics (a syntax error alone, or the checker's list).
pub fn compile(source: &str, ctx: &CheckContext) -> Checked {
    match parse(source) {
        Ok(program) => check(&program, ctx),
        Err(d) => Checked {
            program: None,
            diagnostics: vec![d],
        },
    }
}
