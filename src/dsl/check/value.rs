//! What an expression is while it is being checked: a typed panel, a constant, or a step of a
//! chain that is not a value yet (`data.get`, `x.rolling(20)`, `np.maximum`, ...).

use std::rc::Rc;

use dsl_runtime::ops::{Form, OpId};

use super::{PanelKind, TExpr};
use crate::dsl::ast::Arg;

/// A checked expression's value.
#[derive(Clone, Debug)]
pub(super) enum Val {
    Panel(PanelKind, Rc<TExpr>),
    Number(f64),
    Str(String),
    Bool(bool),
    /// Python's `None`.
    None,
    DataModule,
    DataGet,
    SimFn,
    Method(Rc<TExpr>, PanelKind, OpId),
    /// `x.rolling` (or `x.ewm`, `x.expanding`: the form), waiting for its window.
    RollingFn(Rc<TExpr>, PanelKind, Form),
    /// `x.rolling(...)` (or `ewm(...)`, `expanding(...)`), waiting for its aggregate
    /// (`.mean()`, ...).
    Rolling(Rc<TExpr>, PanelKind, Vec<Arg>, Form),
    /// `x.rolling(...).mean`, waiting for `()`.
    RollingAgg(Rc<TExpr>, PanelKind, Vec<Arg>, OpId),
    /// `x.loc`, waiting for its `[start:end]`.
    Loc(Rc<TExpr>, PanelKind),
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
    /// What the value is, for messages ("a bool panel", "a function", ...).
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Val::Panel(PanelKind::Float, _) => "a float panel",
            Val::Panel(PanelKind::Bool, _) => "a bool panel",
            Val::Panel(PanelKind::Series, _) => "a date-indexed Series",
            Val::Panel(PanelKind::BoolSeries, _) => "a date-indexed bool Series",
            Val::Rolling(..) => "a window (call `.mean()`, `.sum()`, ...)",
            Val::Multi(..) => "several indicator outputs",
            Val::Number(_) => "a number",
            Val::Str(_) => "a string",
            Val::Bool(_) => "a bool",
            Val::None => "None",
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
            Val::Loc(..) => "a date selector (write `x.loc[\"2015\":]`)",
            Val::Poison => "an invalid value",
        }
    }

    /// True for a value whose error was already reported.
    pub(super) fn is_poison(&self) -> bool {
        matches!(self, Val::Poison)
    }
}
