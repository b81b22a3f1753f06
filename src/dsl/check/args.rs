//! Arguments of registry operators, as pure functions of the operator's spec and the values:
//! which parameter each argument binds to, whether a value suits its parameter, the defaults, and
//! the relations between arguments. Errors carry no position: the caller knows which argument
//! (or call) an error is about and attaches its span with [`ArgError::at`].

use dsl_runtime::ops::{Form, OpId, OpSpec, ParamDefault, ParamKind, ParamSpec, Receiver};

use super::value::Val;
use super::{PanelKind, TArg};
use crate::dsl::ast::{Arg, Span};
use crate::dsl::codes::Code;
use crate::dsl::diagnostic::Diagnostic;
use crate::dsl::suggest::did_you_mean;

/// A refused argument, without a position yet.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ArgError {
    pub code: Code,
    pub message: String,
    pub label: Option<&'static str>,
    pub hint: Option<String>,
}

impl ArgError {
    pub(super) fn new(code: Code, message: impl Into<String>) -> ArgError {
        ArgError {
            code,
            message: message.into(),
            label: None,
            hint: None,
        }
    }

    pub(super) fn label(mut self, label: &'static str) -> ArgError {
        self.label = Some(label);
        self
    }

    pub(super) fn hint(mut self, hint: impl Into<String>) -> ArgError {
        self.hint = Some(hint.into());
        self
    }

    /// The diagnostic, placed at `span`.
    pub(super) fn at(self, span: Span) -> Diagnostic {
        let mut d = Diagnostic::error(self.code, span, self.message);
        if let Some(label) = self.label {
            d = d.label(label);
        }
        if let Some(hint) = self.hint {
            d = d.hint(hint);
        }
        d
    }
}

/// What a binding error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum At {
    /// The argument at this index.
    Arg(usize),
    /// The keyword of the argument at this index.
    Name(usize),
}

/// Whether the operator can be called on a value of this kind.
pub(super) fn receiver(spec: &OpSpec, kind: PanelKind) -> Result<(), ArgError> {
    if kind.is_series() {
        return series_receiver(spec);
    }
    if spec.receiver != Receiver::Bool || kind == PanelKind::Bool {
        return Ok(());
    }
    Err(ArgError::new(
        Code::InvalidReceiver,
        format!(
            "`{}` works on bool panels (conditions), not on a float panel",
            spec.name
        ),
    )
    .hint(format!("e.g. `{}`", spec.example)))
}

/// Whether the operator applies to a date-indexed Series (one value per date).
fn series_receiver(spec: &OpSpec) -> Result<(), ArgError> {
    if spec.id.on_series() {
        return Ok(());
    }
    let e = ArgError::new(
        Code::InvalidReceiver,
        format!(
            "`{}` works on a dates × stocks panel, not on a date-indexed Series",
            spec.name
        ),
    );
    if spec.id.is_row_reduction() || spec.form == Form::Method && is_cross_sectional(spec.id) {
        return Err(e.label("a Series has no stocks to compare").hint(
            "a Series already has one value per date: smooth it (`s.average(60)`), compare it \
             (`s > s.average(60)`) or combine it with a panel (`cond & (s > 0)`)",
        ));
    }
    let names: Vec<&str> = OpId::ALL
        .iter()
        .filter(|op| op.on_series() && op.spec().form == Form::Method)
        .map(|op| op.spec().name)
        .collect();
    Err(e.hint(format!(
        "on a Series the DSL has `.rolling(n)`, `.ewm(...)`, `.expanding()`, `.{}()` and the \
         numpy functions; write the condition on the panel, or compare the Series \
         (`s > s.shift(5)` for a rise)",
        names.join("()`, `.")
    )))
}

/// Operators whose result on a date depends on every stock of that date.
fn is_cross_sectional(op: OpId) -> bool {
    matches!(
        op,
        OpId::IsLargest | OpId::IsSmallest | OpId::Rank | OpId::QuantileRow | OpId::IndustryRank
    )
}

/// Binds positional and keyword arguments to parameter slots: for each parameter, the index of
/// its argument, if given.
pub(super) fn bind(spec: &OpSpec, args: &[Arg]) -> Result<Vec<Option<usize>>, (At, ArgError)> {
    let mut slots: Vec<Option<usize>> = vec![None; spec.params.len()];
    let mut positional = 0;
    for (i, arg) in args.iter().enumerate() {
        if arg.star {
            return Err((
                At::Arg(i),
                ArgError::new(
                    Code::UnsupportedSyntax,
                    "`*args`/`**kwargs` are not supported",
                ),
            ));
        }
        let slot = match &arg.name {
            None => {
                positional += 1;
                positional - 1
            }
            Some((n, _)) => match spec.param(n) {
                Some(slot) => slot,
                None => return Err((At::Name(i), unknown_argument(spec, n))),
            },
        };
        if slot >= spec.params.len() {
            return Err((
                At::Arg(i),
                ArgError::new(
                    Code::TooManyArguments,
                    format!("`{}` takes {} argument(s)", spec.name, spec.params.len()),
                )
                .hint(format!("the signature is `{}`", spec.signature())),
            ));
        }
        if slots[slot].is_some() {
            return Err((
                At::Arg(i),
                ArgError::new(
                    Code::DuplicateArgument,
                    format!("`{}` is given twice", spec.params[slot].name),
                ),
            ));
        }
        slots[slot] = Some(i);
    }
    Ok(slots)
}

fn unknown_argument(spec: &OpSpec, n: &str) -> ArgError {
    let names: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
    let e = ArgError::new(
        Code::UnknownArgument,
        format!("`{}` has no argument `{n}`", spec.name),
    );
    if spec.id == OpId::Fillna && n == "method" {
        return e.hint(
            "pandas 3 removed `fillna(method=...)`: write `x.ffill()` (a backward fill would \
             read the future)",
        );
    }
    match did_you_mean(n, names.iter().copied()) {
        Some(s) => e.hint(format!("did you mean `{s}`?")),
        None if names.is_empty() => e.hint(format!("`{}` takes no arguments", spec.signature())),
        None => e.hint(format!("the signature is `{}`", spec.signature())),
    }
}

/// The value of a parameter left out, or the error for a required one.
pub(super) fn default(spec: &OpSpec, param: &ParamSpec) -> Result<TArg, ArgError> {
    Ok(match param.default {
        ParamDefault::Required => {
            let e = ArgError::new(
                Code::MissingArgument,
                format!("`{}` needs its `{}` argument", spec.name, param.name),
            );
            return Err(
                if param.kind == ParamKind::Axis && spec.id.is_row_reduction() {
                    let moving = match OpId::find(Form::Rolling, spec.name) {
                        Some(_) => format!(
                            "; for a moving statistic write `x.rolling(20).{}()`",
                            spec.name
                        ),
                        None => String::new(),
                    };
                    e.hint(format!(
                        "write `.{}(axis=1)` for one value per date across the stocks (a Series); \
                     over each stock's dates it would read the future{moving}",
                        spec.name
                    ))
                } else if param.kind == ParamKind::Axis {
                    e.hint("write `axis=1` to rank across stocks per date (axis=0 would rank each stock against its own future)")
                } else {
                    e.hint(format!("e.g. `{}`", spec.example))
                },
            );
        }
        ParamDefault::Nothing => TArg::None,
        ParamDefault::Int(v) => TArg::Int(v),
        ParamDefault::Float(v) => TArg::Float(v),
        ParamDefault::Bool(v) => TArg::Bool(v),
        ParamDefault::Str(v) => TArg::Str(v.to_string()),
    })
}

/// Checks one argument value against its parameter (`val` is not [`Val::Poison`]).
pub(super) fn value(spec: &OpSpec, param: &ParamSpec, val: &Val) -> Result<TArg, ArgError> {
    let bad = |expected: &str| {
        Err(ArgError::new(
            Code::InvalidArgument,
            format!(
                "`{}` of `{}` must be {expected}, not {}",
                param.name,
                spec.name,
                match val {
                    Val::Number(x) => x.to_string(),
                    o => o.describe().to_string(),
                }
            ),
        )
        .hint(format!("the signature is `{}`", spec.signature())))
    };
    match (val, param.kind) {
        (Val::None, _) if param.default == ParamDefault::Nothing => Ok(TArg::None),
        // pandas' name for axis 1.
        (Val::Str(s), ParamKind::Axis) if s == "columns" => Ok(TArg::Int(1)),
        (
            _,
            ParamKind::Window
            | ParamKind::Lag
            | ParamKind::Count
            | ParamKind::Axis
            | ParamKind::Decimals
            | ParamKind::MinPeriods
            | ParamKind::Period(_),
        ) => {
            let v = match val {
                Val::Number(x) if x.fract() == 0.0 && x.abs() < 1e12 => *x as i64,
                _ => return bad("a whole number"),
            };
            whole(spec, param, v).map(|()| TArg::Int(v))
        }
        (Val::Number(x), ParamKind::Number) => Ok(TArg::Float(*x)),
        (Val::Number(x), ParamKind::Fraction) if (0.0..=1.0).contains(x) => Ok(TArg::Float(*x)),
        (_, ParamKind::Number) => bad("a number"),
        (_, ParamKind::Fraction) => bad("a number between 0 and 1"),
        (Val::Bool(b), ParamKind::Flag) => Ok(TArg::Bool(*b)),
        (_, ParamKind::Flag) => bad("True or False"),
        (Val::Str(s), ParamKind::Choice(options)) if options.contains(&s.as_str()) => {
            Ok(TArg::Str(s.clone()))
        }
        (_, ParamKind::Choice([])) => bad("None"),
        (_, ParamKind::Choice(options)) => bad(&format!(
            "one of {}",
            options
                .iter()
                .map(|o| format!("\"{o}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (
            Val::Panel(PanelKind::Float | PanelKind::Bool, e),
            ParamKind::FloatPanel | ParamKind::PanelOrNumber,
        ) => Ok(TArg::Panel(e.clone())),
        (Val::Number(x), ParamKind::PanelOrNumber) => Ok(TArg::Float(*x)),
        (_, ParamKind::FloatPanel) => bad("a panel"),
        (_, ParamKind::PanelOrNumber) => bad("a panel or a number"),
        (Val::Panel(PanelKind::Bool, e), ParamKind::BoolPanel) => Ok(TArg::Panel(e.clone())),
        (_, ParamKind::BoolPanel) => bad("a bool panel (a condition)"),
        // Only `loc` takes dates, from its `[start:end]` subscript (see `check/loc.rs`).
        (_, ParamKind::Date) => bad("a date range, written `x.loc[\"start\":\"end\"]`"),
    }
}

/// The range rules of a whole-number parameter: a lag reads only the past, an axis ranks across
/// stocks, windows and counts stay in their range.
fn whole(spec: &OpSpec, param: &ParamSpec, v: i64) -> Result<(), ArgError> {
    let kind = param.kind;
    let (lo, hi) = kind.range().unwrap_or((i64::MIN, i64::MAX));
    if kind == ParamKind::Lag && v < lo {
        return Err(ArgError::new(
            Code::LookaheadShift,
            format!("`{}({v})` would read future rows (look-ahead)", spec.name),
        )
        .label("must be 1 or more")
        .hint(format!(
            "negative shift reads the future: `.{}(1)` compares with yesterday; a strategy can only use the past",
            spec.name
        )));
    }
    if kind == ParamKind::Axis && v != 1 {
        let what = if spec.id.is_row_reduction() {
            "reduces"
        } else {
            "ranks"
        };
        return Err(ArgError::new(
            Code::LookaheadRank,
            format!(
                "`{}(axis={v})` {what} each stock over all dates, including future ones",
                spec.name
            ),
        )
        .label("must be 1")
        .hint("write `axis=1`: across the stocks of each date"));
    }
    if v < lo || v > hi {
        return Err(ArgError::new(
            Code::ArgumentOutOfRange,
            format!(
                "`{}` of `{}` is {v}; it must be in {lo}..={hi}",
                param.name, spec.name
            ),
        )
        .hint(match kind {
            ParamKind::Count => "the number of stocks (or rows) to count",
            ParamKind::Decimals => "decimal places: 2 rounds to 0.01, -2 to hundreds",
            ParamKind::Period(_) => "TA-Lib refuses a shorter period for this indicator",
            _ => "windows count rows: for daily data 20 ≈ a month, 250 ≈ a year",
        }));
    }
    Ok(())
}

/// Rules between the arguments of one call (all checked one by one already): a minimum count
/// no larger than its window, `clip`'s bounds in order.
pub(super) fn relations(op: OpId, args: &[TArg]) -> Result<(), ArgError> {
    let int_at = |i: usize| match args.get(i) {
        Some(TArg::Int(v)) => Some(*v),
        _ => None,
    };
    match op {
        OpId::RollingMean
        | OpId::RollingStd
        | OpId::RollingSum
        | OpId::RollingMax
        | OpId::RollingMin
        | OpId::RollingMedian
        | OpId::Sustain => {
            if let (Some(w), Some(m)) = (int_at(0), int_at(1)) {
                if m > w {
                    let what = if op == OpId::Sustain {
                        "nsatisfy"
                    } else {
                        "min_periods"
                    };
                    return Err(ArgError::new(
                        Code::ArgumentOutOfRange,
                        format!("`{what}` ({m}) is larger than the window ({w})"),
                    )
                    .hint(format!("use at most {w}")));
                }
            }
        }
        OpId::EwmMean | OpId::EwmStd => return ewm_decay(args),
        OpId::Sar => {
            for (name, v) in ["acceleration", "maximum"].iter().zip(args) {
                if let TArg::Float(v) = v {
                    if *v < 0.0 {
                        return Err(ArgError::new(
                            Code::ArgumentOutOfRange,
                            format!("`{name}` of `SAR` is {v}; TA-Lib requires it to be >= 0"),
                        ));
                    }
                }
            }
        }
        OpId::Clip => {
            if let (Some(TArg::Float(lo)), Some(TArg::Float(hi))) = (args.first(), args.get(1)) {
                if lo > hi {
                    return Err(ArgError::new(
                        Code::ArgumentOutOfRange,
                        format!("`clip` lower bound {lo} is above the upper bound {hi}"),
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// `ewm`'s decay: exactly one of `com`, `span`, `halflife`, `alpha`, in pandas' ranges.
fn ewm_decay(args: &[TArg]) -> Result<(), ArgError> {
    let given: Vec<(&str, f64)> = ["com", "span", "halflife", "alpha"]
        .into_iter()
        .zip(args)
        .filter_map(|(name, a)| match a {
            TArg::Float(v) => Some((name, *v)),
            TArg::Int(v) => Some((name, *v as f64)),
            _ => None,
        })
        .collect();
    let (name, v) = match given.as_slice() {
        [one] => *one,
        [] => {
            // A relation between the (optional) arguments, as for the exclusive case below.
            return Err(ArgError::new(
                Code::ArgumentOutOfRange,
                "`ewm` needs one of `com`, `span`, `halflife`, `alpha`",
            )
            .hint("e.g. `x.ewm(span=20).mean()`"));
        }
        _ => {
            return Err(ArgError::new(
                Code::ArgumentOutOfRange,
                "`com`, `span`, `halflife` and `alpha` are mutually exclusive",
            )
            .hint("give one of them"))
        }
    };
    let (ok, rule) = match name {
        "com" => (v >= 0.0, "com >= 0"),
        "span" => (v >= 1.0, "span >= 1"),
        "halflife" => (v > 0.0, "halflife > 0"),
        _ => (v > 0.0 && v <= 1.0, "0 < alpha <= 1"),
    };
    if ok {
        Ok(())
    } else {
        Err(ArgError::new(
            Code::ArgumentOutOfRange,
            format!("`{name}` is {v}; pandas requires {rule}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::ast::ExprKind;
    use crate::dsl::parse;

    /// The arguments of `f(...)` written as `text`.
    fn call_args(text: &str) -> Vec<Arg> {
        let p = parse(&format!("f({text})\n")).unwrap();
        match &p.stmts[0].kind {
            crate::dsl::ast::StmtKind::Expr(e) => match &e.kind {
                ExprKind::Call { args, .. } => args.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn binding_by_position_then_keyword() {
        let spec = OpId::RollingMean.spec(); // (window, min_periods=None)
        let bound = |text: &str| bind(spec, &call_args(text)).map_err(|(at, e)| (at, e.code));
        assert_eq!(bound(""), Ok(vec![None, None]));
        assert_eq!(bound("20, min_periods=5"), Ok(vec![Some(0), Some(1)]));
        assert_eq!(
            bound("min_periods=5, window=20"),
            Ok(vec![Some(1), Some(0)])
        );
        assert_eq!(bound("20, 5, 3"), Err((At::Arg(2), Code::TooManyArguments)));
        assert_eq!(
            bound("20, window=3"),
            Err((At::Arg(1), Code::DuplicateArgument))
        );
        assert_eq!(
            bound("20, windw=3"),
            Err((At::Name(1), Code::UnknownArgument))
        );
        assert_eq!(bound("*a"), Err((At::Arg(0), Code::UnsupportedSyntax)));
        let e = bind(spec, &call_args("windw=3")).unwrap_err().1;
        assert_eq!(e.hint.as_deref(), Some("did you mean `window`?"));
    }

    #[test]
    fn values_suit_their_parameter() {
        let check = |op: OpId, param: usize, val: Val| {
            let spec = op.spec();
            value(spec, &spec.params[param], &val).map_err(|e| (e.code, e.label))
        };
        let n = Val::Number;
        assert_eq!(check(OpId::Shift, 0, n(1.0)), Ok(TArg::Int(1)));
        assert_eq!(
            check(OpId::Shift, 0, n(-1.0)),
            Err((Code::LookaheadShift, Some("must be 1 or more")))
        );
        assert_eq!(
            check(OpId::Shift, 0, n(0.0)).map_err(|e| e.0),
            Err(Code::LookaheadShift)
        );
        assert_eq!(
            check(OpId::Shift, 0, n(1.5)).map_err(|e| e.0),
            Err(Code::InvalidArgument)
        );
        assert_eq!(
            check(OpId::Rank, 0, n(0.0)),
            Err((Code::LookaheadRank, Some("must be 1")))
        );
        assert_eq!(
            check(OpId::Average, 0, n(3000.0)).map_err(|e| e.0),
            Err(Code::ArgumentOutOfRange)
        );
        assert_eq!(check(OpId::RollingMean, 1, Val::None), Ok(TArg::None));
        assert_eq!(
            check(OpId::Average, 0, Val::None).map_err(|e| e.0),
            Err(Code::InvalidArgument)
        );
        assert_eq!(
            check(OpId::Rank, 3, Val::Str("dense".into())),
            Ok(TArg::Str("dense".into()))
        );
        let e = value(
            OpId::Rank.spec(),
            &OpId::Rank.spec().params[3],
            &Val::Str("x".into()),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "`method` of `rank` must be one of \"average\", \"min\", \"max\", \"first\", \"dense\", not a string"
        );
    }

    #[test]
    fn defaults_and_relations() {
        let spec = OpId::Rank.spec();
        assert_eq!(
            default(spec, &spec.params[0]).map_err(|e| e.code),
            Err(Code::MissingArgument)
        );
        assert_eq!(default(spec, &spec.params[1]), Ok(TArg::Bool(false)));
        let rel = |op, args: &[TArg]| relations(op, args).map_err(|e| e.message);
        assert_eq!(
            rel(OpId::RollingMean, &[TArg::Int(5), TArg::Int(5)]),
            Ok(())
        );
        assert_eq!(rel(OpId::RollingMean, &[TArg::Int(5), TArg::None]), Ok(()));
        assert_eq!(
            rel(OpId::RollingMean, &[TArg::Int(5), TArg::Int(9)]),
            Err("`min_periods` (9) is larger than the window (5)".into())
        );
        assert_eq!(
            rel(OpId::Sustain, &[TArg::Int(2), TArg::Int(3)]),
            Err("`nsatisfy` (3) is larger than the window (2)".into())
        );
        assert_eq!(
            rel(OpId::Clip, &[TArg::Float(5.0), TArg::Float(1.0)]),
            Err("`clip` lower bound 5 is above the upper bound 1".into())
        );
        assert_eq!(rel(OpId::Clip, &[TArg::Float(1.0), TArg::None]), Ok(()));
    }
}
