//! The DSL front end: file bytes → text ([`decode`]) → [`ast::Program`] (`parse`) →
//! [`check::TypedProgram`] (`check`, which collects every diagnostic). Syntax is
//! `grammar/strategy.pest`; operators come from the one registry in `dsl_runtime::ops`; passes
//! over the syntax tree go through [`visit`]. Semantics: `docs/semantics.md` §5.

pub mod ast;
pub mod check;
pub mod codes;
pub mod diagnostic;
pub mod fmt;
pub mod grammar;
pub mod lex;
pub mod parse;
pub mod reference;
pub mod sim_args;
pub mod source;
pub mod suggest;
pub mod visit;

pub use check::{check, CheckContext, Checked, PanelKind, TArg, TExpr, TypedProgram};
pub use codes::Code;
pub use diagnostic::{locate, render, render_compact, Diagnostic, Located, Severity};
pub use parse::parse;
pub use sim_args::SimCall;
pub use source::{decode, Undecodable};

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
