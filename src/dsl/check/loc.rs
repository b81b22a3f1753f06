//! `x.loc[start:end]`: the rows of a panel, a Series or the position dated from `start` through
//! `end`, each a partial date string pandas reads as a whole year, month or day (`"2015"` starts
//! on 2015-01-01; `"2020-12"` ends on 2020-12-31). Either end may be left out.

use std::rc::Rc;

use dsl_runtime::ops::OpId;

use super::value::Val;
use super::{Checker, PanelKind, TArg, TExpr};
use crate::calendar;
use crate::dsl::ast::{Expr, Slice, Span};
use crate::dsl::codes::Code;
use crate::dsl::diagnostic::Diagnostic;

const HINT: &str =
    "write `x.loc[\"2015\":]`, `x.loc[\"2015-01\":\"2020-12\"]` or `x.loc[:\"2020\"]`";

impl Checker<'_> {
    /// `x.loc[...]` where `x` is the panel `e` of `kind`.
    pub(super) fn loc(
        &mut self,
        e: Rc<TExpr>,
        kind: PanelKind,
        index: &[Expr],
        slice: Option<&Slice>,
        span: Span,
    ) -> Val {
        let Some(s) = slice else {
            for i in index {
                self.expr(i);
            }
            return self.err(
                Diagnostic::error(
                    Code::UnsupportedIndex,
                    span,
                    "`.loc[...]` selects a range of dates: one date or a stock would give a row \
                     or a column, not a panel",
                )
                .hint(HINT),
            );
        };
        if let Some(step) = &s.step {
            let at = step.as_deref().map_or(span, |e| e.span);
            return self.err(
                Diagnostic::error(
                    Code::UnsupportedIndex,
                    at,
                    "a step in `.loc[start:end:step]` is not supported",
                )
                .hint(HINT),
            );
        }
        let lo = s.lo.as_deref().map(|b| self.bound(b, calendar::first_day));
        let hi = s.hi.as_deref().map(|b| self.bound(b, calendar::last_day));
        let (lo, hi) = match (lo, hi) {
            (Some(None), _) | (_, Some(None)) => return Val::Poison,
            (lo, hi) => (lo.flatten(), hi.flatten()),
        };
        if let (Some(a), Some(b)) = (lo, hi) {
            if a > b {
                return self.err(
                    Diagnostic::error(
                        Code::ArgumentOutOfRange,
                        span,
                        format!(
                            "the range ends ({}) before it starts ({}): no date is kept",
                            calendar::format(b),
                            calendar::format(a)
                        ),
                    )
                    .hint("put the earlier date first: `x.loc[\"2015\":\"2020\"]`"),
                );
            }
        }
        if lo.is_none() && hi.is_none() {
            return Val::Panel(kind, e);
        }
        let day = |d: Option<i32>| d.map_or(TArg::None, |d| TArg::Int(i64::from(d)));
        Val::Panel(
            kind,
            Rc::new(TExpr::Call {
                op: OpId::Loc,
                recv: Some(e),
                args: vec![day(lo), day(hi)],
                prices: Vec::new(),
                out: 0,
            }),
        )
    }

    /// One end of the range as a day number (`None` after reporting why it is not a date).
    fn bound(&mut self, b: &Expr, day: fn(&str) -> Result<i32, String>) -> Option<i32> {
        let message = match self.expr(b) {
            Val::Poison => return None,
            Val::Str(text) => match day(&text) {
                Ok(d) => return Some(d),
                Err(e) => e,
            },
            other => format!("a `.loc` date is a string, not {}", other.describe()),
        };
        self.err(Diagnostic::error(Code::InvalidArgument, b.span, message).hint(HINT));
        None
    }
}
