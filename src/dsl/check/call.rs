//! Calls: of registry methods and rolling aggregates, numpy functions and `abs`,
//! `data.indicator(...)` and `data.get(...)`. Arguments are bound and checked by [`super::args`];
//! this file attaches their spans and builds the typed call.

use std::rc::Rc;

use dsl_runtime::ops::{Form, OpId, Output};

use super::args::{self, At};
use super::value::Val;
use super::{Checker, PanelKind, TArg, TExpr};
use crate::dsl::ast::*;
use crate::dsl::codes::Code;
use crate::dsl::diagnostic::Diagnostic;
use crate::dsl::suggest::{self, did_you_mean};

impl Checker<'_> {
    pub(super) fn call(&mut self, func: &Expr, args: &[Arg], span: Span) -> Val {
        if let ExprKind::Attr {
            value,
            name,
            name_span,
        } = &func.kind
        {
            let numpy = matches!(&value.kind, ExprKind::Name(n) if n == "np");
            let method = OpId::find(Form::Method, name).is_some() && !numpy;
            if super::hints::REDUCTIONS.contains(&name.as_str())
                && !method
                && axis_is_columns(&args[usize::from(numpy).min(args.len())..])
            {
                return match self.expr(value) {
                    Val::Poison => Val::Poison,
                    _ => self.err(super::hints::row_reduction(name, *name_span)),
                };
            }
        }
        let f = self.expr(func);
        match f {
            Val::Poison => Val::Poison,
            Val::DataGet => self.data_get(args, span),
            Val::Method(recv, kind, op) => {
                let v = self.call_op(op, Some((recv, kind)), args, span);
                if let (OpId::Average, true, ExprKind::Attr { name_span, .. }) =
                    (op, kind.is_series(), &func.kind)
                {
                    self.note_series_average(&v, *name_span);
                }
                v
            }
            Val::RollingFn(recv, kind, form) => Val::Rolling(recv, kind, args.to_vec(), form),
            Val::RollingAgg(recv, kind, window_args, op) => {
                if let Some(a) = args.first() {
                    return self.err(
                        Diagnostic::error(
                            Code::TooManyArguments,
                            a.span,
                            format!("`.{}()` takes no arguments here", op.spec().name),
                        )
                        .hint(format!(
                            "window options go to the window: e.g. `{}`",
                            op.spec().example
                        )),
                    );
                }
                self.call_op(op, Some((recv, kind)), &window_args, span)
            }
            Val::NumpyFn(op) => self.function(op, args, span),
            Val::AbsFn => self.function(OpId::Abs, args, span),
            Val::DataIndicator => self.indicator(args, span),
            Val::SimFn => self.err(
                Diagnostic::error(
                    Code::SimNotTopLevel,
                    span,
                    "`sim(...)` must be its own statement",
                )
                .hint(
                    "write `sim(position, ...)` or `report = sim(position, ...)` on its own line",
                ),
            ),
            Val::Rolling(..) => self.err(
                Diagnostic::error(Code::NotCallable, func.span, "a window cannot be called")
                    .hint("pick an aggregate: `x.rolling(20).mean()`, `x.ewm(span=20).mean()`"),
            ),
            other => {
                let mut d = Diagnostic::error(
                    Code::NotCallable,
                    func.span,
                    format!("{} cannot be called", other.describe()),
                );
                if let ExprKind::Name(n) = &func.kind {
                    if n == "max" || n == "min" {
                        d = d.hint(format!(
                            "for an element-wise {n} of two panels write `np.{n}imum(a, b)`"
                        ));
                    }
                }
                self.err(d)
            }
        }
    }

    /// `np.f(x, ...)` / `abs(x)`: the first argument is the receiver.
    fn function(&mut self, op: OpId, args: &[Arg], span: Span) -> Val {
        let spec = op.spec();
        let Some(first) = args.first().filter(|a| a.name.is_none() && !a.star) else {
            return self.err(
                Diagnostic::error(
                    Code::MissingArgument,
                    span,
                    format!("`{}` needs a panel as its first argument", spec.name),
                )
                .hint(format!("e.g. `{}`", spec.example)),
            );
        };
        match self.expr(&first.value) {
            Val::Poison => Val::Poison,
            Val::Number(x) if op == OpId::Abs && args.len() == 1 => Val::Number(x.abs()),
            Val::Panel(kind, e) => self.call_op(op, Some((e, kind)), &args[1..], span),
            other => self.err(
                Diagnostic::error(
                    Code::InvalidArgument,
                    first.value.span,
                    format!("`{}` needs a panel, not {}", spec.name, other.describe()),
                )
                .hint(format!("e.g. `{}`", spec.example)),
            ),
        }
    }

    /// `data.indicator("NAME", ...)`.
    fn indicator(&mut self, args: &[Arg], span: Span) -> Val {
        let names = OpId::names(Form::Indicator);
        let name = match args.first() {
            Some(Arg {
                name: None,
                star: false,
                value:
                    Expr {
                        kind: ExprKind::Str { value, .. },
                        ..
                    },
                ..
            }) => value.clone(),
            _ => {
                return self.err(
                    Diagnostic::error(
                        Code::InvalidIndicator,
                        span,
                        "`data.indicator` takes the indicator's name first, as a string",
                    )
                    .hint(format!(
                        "e.g. `data.indicator(\"RSI\")`; available: {}",
                        names.join(", ")
                    )),
                )
            }
        };
        let upper = name.to_uppercase();
        let lookup = if upper == "KD" {
            "STOCH"
        } else {
            upper.as_str()
        };
        let Some(op) = OpId::find(Form::Indicator, lookup) else {
            let mut d = Diagnostic::error(
                Code::InvalidIndicator,
                args[0].value.span,
                format!("there is no indicator `{name}`"),
            )
            .label("unknown indicator");
            d = match did_you_mean(&upper, names.iter().copied()) {
                Some(s) => d.hint(format!("did you mean \"{s}\"?")),
                None => d.hint(format!("available: {}", names.join(", "))),
            };
            return self.err(d);
        };
        // finlab's own positional parameters follow the name (`adjust_price`, `resample`,
        // `market`): a bare number there is not the indicator's period.
        if let Some(extra) = args[1..].iter().find(|a| a.name.is_none()) {
            let example = op
                .spec()
                .params
                .first()
                .map_or(String::new(), |p| format!("{}=…", p.name));
            return self.err(
                Diagnostic::error(
                    Code::InvalidIndicator,
                    extra.value.span,
                    "`data.indicator` takes its parameters by keyword after the name",
                )
                .label("a positional argument here")
                .hint(format!(
                    "finlab reads the second positional argument as `adjust_price`, not as a \
                     parameter of {}; write `data.indicator(\"{}\", {example})`",
                    op.spec().name,
                    op.spec().name
                )),
            );
        }
        if upper != op.spec().name {
            self.diags.push(
                Diagnostic::warning(
                    Code::IndicatorName,
                    args[0].value.span,
                    format!("read as \"{}\"", op.spec().name),
                )
                .hint(format!("write `data.indicator(\"{}\")`", op.spec().name)),
            );
        }
        self.call_op(op, None, &args[1..], span)
    }

    fn data_get(&mut self, args: &[Arg], span: Span) -> Val {
        let key = match args {
            [Arg {
                name: None,
                value:
                    Expr {
                        kind: ExprKind::Str { value, .. },
                        ..
                    },
                star: false,
                ..
            }] => value.clone(),
            _ => {
                return self.err(
                    Diagnostic::error(
                        Code::InvalidDataGet,
                        span,
                        "`data.get` takes one string literal, the dataset key",
                    )
                    .hint("e.g. `data.get(\"price:收盤價\")`"),
                )
            }
        };
        let arg_span = args[0].value.span;
        let known = self.ctx.datasets.as_ref();
        if key.contains(':') && known.is_none_or(|k| k.contains(&key)) {
            return Val::Panel(PanelKind::Float, Rc::new(TExpr::Load(key)));
        }
        let keys = known.cloned().unwrap_or_else(crate::data::catalog::keys);
        self.err(unknown_dataset(&key, &keys, arg_span))
    }

    /// Binds and checks the arguments of a registry operator, then builds its typed call.
    fn call_op(
        &mut self,
        op: OpId,
        recv: Option<(Rc<TExpr>, PanelKind)>,
        args: &[Arg],
        span: Span,
    ) -> Val {
        let spec = op.spec();
        if let Some((_, kind)) = &recv {
            if let Err(e) = args::receiver(spec, *kind) {
                return self.err(e.at(span));
            }
        }
        let slots = match args::bind(spec, args) {
            Ok(slots) => slots,
            Err((at, e)) => {
                let at = match at {
                    At::Arg(i) => args[i].span,
                    At::Name(i) => args[i].name.as_ref().map_or(args[i].span, |n| n.1),
                };
                return self.err(e.at(at));
            }
        };
        let mut targs = Vec::with_capacity(spec.params.len());
        for (param, slot) in spec.params.iter().zip(slots) {
            let checked = match slot {
                None => args::default(spec, param).map_err(|e| e.at(span)),
                Some(i) => {
                    let value = &args[i].value;
                    let val = match dtype_name(op, value) {
                        Some(name) => Val::Str(name.to_string()),
                        None => self.expr(value),
                    };
                    if val.is_poison() {
                        return Val::Poison;
                    }
                    args::value(spec, param, &val).map_err(|e| e.at(value.span))
                }
            };
            match checked {
                Ok(t) => targs.push(t),
                Err(d) => return self.err(d),
            }
        }
        if let Err(e) = args::relations(op, &targs) {
            return self.err(e.at(span));
        }
        if let (Some((_, kind)), Some(i)) = (
            &recv,
            targs.iter().position(|t| matches!(t, TArg::Panel(_))),
        ) {
            if kind.is_series() {
                let name = spec.params[i].name;
                return self.err(
                    Diagnostic::error(
                        Code::SeriesOperand,
                        span,
                        format!("`{}` of a Series takes a number as `{name}`, not a panel", spec.name),
                    )
                    .hint("apply it to the panel, or compare the Series with the panel: `panel > series`"),
                );
            }
        }
        let Some(prices) = self.implicit_prices(op, &targs, span) else {
            return Val::Poison;
        };
        let recv_kind = recv.as_ref().map(|(_, k)| *k);
        typed_call(op, recv.map(|(e, _)| e), recv_kind, targs, prices)
    }

    /// Panels an operator reads without naming them: an indicator's price inputs,
    /// `industry_rank`'s themes, and the adjusted close for `hold_until`'s stops. `None` when a
    /// needed dataset is missing (reported).
    fn implicit_prices(&mut self, op: OpId, targs: &[TArg], span: Span) -> Option<Vec<Rc<TExpr>>> {
        let spec = op.spec();
        let keys: Vec<&str> = if spec.form == Form::Indicator {
            let adjusted = spec
                .param("adjust_price")
                .and_then(|i| targs.get(i))
                .is_some_and(|t| *t == TArg::Bool(true));
            spec.prices.iter().map(|f| f.key(adjusted)).collect()
        } else if op == OpId::IndustryRank {
            vec![dsl_runtime::ops::INDUSTRY_THEMES]
        } else if op == OpId::HoldUntil {
            let stops = ["stop_loss", "take_profit", "trail_stop"];
            let any_stop = stops
                .iter()
                .filter_map(|n| spec.param(n))
                .any(|i| targs.get(i).is_some_and(|t| *t != TArg::None));
            if any_stop {
                vec!["etl:adj_close"]
            } else {
                vec![]
            }
        } else {
            vec![]
        };
        keys.into_iter().map(|k| self.load_key(k, span)).collect()
    }

    /// A dataset load the operator needs implicitly (checked against the data set).
    fn load_key(&mut self, key: &str, span: Span) -> Option<Rc<TExpr>> {
        if let Some(known) = &self.ctx.datasets {
            if !known.iter().any(|k| k == key) {
                self.err(
                    Diagnostic::error(
                        Code::UnknownDataset,
                        span,
                        format!("this needs the dataset `{key}`, which the data set lacks"),
                    )
                    .hint("import it (`dsl-engine data import`) or use the default data"),
                );
                return None;
            }
        }
        Some(Rc::new(TExpr::Load(key.to_string())))
    }
}

/// True when the arguments ask pandas to reduce across columns: `axis=1`, `axis="columns"`, or a
/// bare `1` first (`df.mean(1)`).
fn axis_is_columns(args: &[Arg]) -> bool {
    let columns = |e: &Expr| match &e.kind {
        ExprKind::Number(x) => *x == 1.0,
        ExprKind::Str { value, .. } => value == "columns",
        _ => false,
    };
    args.iter().enumerate().any(|(i, a)| match &a.name {
        Some((n, _)) => n == "axis" && columns(&a.value),
        None => i == 0 && !a.star && columns(&a.value),
    })
}

/// `data.get(key)` for a key the data set lacks: the likeliest dataset by meaning, else the
/// candidates grouped by category ([`suggest::dataset`]).
fn unknown_dataset(key: &str, keys: &[String], span: Span) -> Diagnostic {
    let hint = suggest::dataset(key, keys);
    let message = if hint.missing {
        format!("this data set has no `{key}`")
    } else if key.contains(':') {
        format!("there is no dataset `{key}`")
    } else {
        format!("`{key}` is not a dataset key: keys are `table:column`, e.g. \"price:收盤價\"")
    };
    let mut d = Diagnostic::error(Code::UnknownDataset, span, message).label("unknown dataset");
    if hint.missing {
        d = d.hint(
            "it is in the catalog but not in this data set (an import or fetch without it, or \
             an old cache): use another dataset or data that has it",
        );
    }
    match hint.best {
        Some((best, why)) => d.hint(format!("did you mean \"{best}\"? ({why})")),
        None => {
            for (category, names) in hint.groups {
                d = d.hint(format!("{category}: {}", names.join(", ")));
            }
            d.hint("`dsl-engine data search WORD` finds datasets by name, alias or description")
        }
    }
}

/// `astype(int)`: Python's type names `int`, `float` and `bool` spell the dtype (as do the
/// strings `"int"`, `"float"`, `"bool"`, checked as any string argument).
fn dtype_name(op: OpId, value: &Expr) -> Option<&str> {
    match &value.kind {
        ExprKind::Name(n)
            if op == OpId::Astype && ["int", "float", "bool"].contains(&n.as_str()) =>
        {
            Some(n)
        }
        _ => None,
    }
}

/// The typed call of `op` (one value per output of a multi-output indicator).
fn typed_call(
    op: OpId,
    recv: Option<Rc<TExpr>>,
    recv_kind: Option<PanelKind>,
    args: Vec<TArg>,
    prices: Vec<Rc<TExpr>>,
) -> Val {
    let spec = op.spec();
    let make = |out: usize| {
        Rc::new(TExpr::Call {
            op,
            recv: recv.clone(),
            args: args.clone(),
            prices: prices.clone(),
            out,
        })
    };
    if spec.outputs.len() > 1 {
        return Val::Multi(op, (0..spec.outputs.len()).map(make).collect());
    }
    // An operator keeps the receiver's shape: a Series gives a Series.
    let shape = recv_kind.unwrap_or(PanelKind::Float);
    if op == OpId::Astype && args.first() == Some(&TArg::Str("bool".into())) {
        return Val::Panel(shape.with_bool(true), make(0));
    }
    let kind = match spec.output {
        Output::Float => shape.with_bool(false),
        Output::Bool => shape.with_bool(true),
        Output::Series => PanelKind::Series,
        Output::Same => shape,
    };
    Val::Panel(kind, make(0))
}
