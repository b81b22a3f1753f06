//! Where a strategy can be mutated: a walk over the syntax tree that finds the numbers that are
//! windows, lags or counts (from the registry's parameter kinds), thresholds in comparisons,
//! fractions (quantiles, stops), dataset keys, registry method and indicator names, and the
//! `sim(...)` options. Each site is a byte span of the source and what it holds.

use dsl_runtime::ops::{Form, OpId, ParamKind};

use crate::dsl::ast::{Arg, Expr, ExprKind, Program, Span, StmtKind, UnaryOp};
use crate::dsl::visit::{walk_expr, Visitor};

/// What a site holds.
#[derive(Clone, Debug, PartialEq)]
pub enum SiteKind {
    /// An integer argument of kind window, lag or count, within `lo..=hi`.
    Int {
        /// The integer as written.
        value: i64,
        /// Smallest value the registry accepts for the parameter.
        lo: i64,
        /// Largest value the registry accepts for the parameter.
        hi: i64,
    },
    /// A number in (0, 1): a quantile, a stop or a position limit.
    Fraction {
        /// The number as written.
        value: f64,
    },
    /// A number compared with a panel.
    Threshold {
        /// The number as written (its sign included).
        value: f64,
    },
    /// The string literal of `data.get("key")`.
    Dataset {
        /// The dataset key, e.g. `price:收盤價`.
        key: String,
    },
    /// The name of a registry method, rolling aggregate or numpy function.
    Method {
        /// The registry operator named there.
        op: OpId,
    },
    /// The string literal of `data.indicator("NAME")`.
    Indicator {
        /// The TA-Lib indicator's registry operator.
        op: OpId,
    },
    /// The `resample=` string of `sim(...)`.
    Resample {
        /// The frequency as written, e.g. `M` or `W-FRI`.
        value: String,
    },
    /// A point where a `sim` keyword can be added (the span is empty); `has` lists the keywords
    /// already given.
    SimEnd {
        /// Keywords the call already has.
        has: Vec<String>,
    },
}

/// One mutable spot.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    /// Byte range in the source that a mutation replaces.
    pub span: Span,
    /// What the range holds.
    pub kind: SiteKind,
}

/// Every site of `program`, in source order.
pub fn sites(program: &Program) -> Vec<Site> {
    let mut finder = Finder(Vec::new());
    for stmt in &program.stmts {
        match &stmt.kind {
            StmtKind::Assign { value, .. } | StmtKind::AugAssign { value, .. } => {
                finder.visit_expr(value)
            }
            StmtKind::Expr(e) => finder.visit_expr(e),
            _ => {}
        }
    }
    let mut out = finder.0;
    out.sort_by_key(|s| s.span.start);
    out
}

/// Collects the sites of the expressions it visits: those of calls and of comparisons with a
/// number, at every level (`x.rolling(20)` in `x.rolling(20).max()` too).
struct Finder(Vec<Site>);

impl Visitor<'_> for Finder {
    fn visit_expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Call { func, args } => call(func, args, e.span, &mut self.0),
            ExprKind::Binary { op, lhs, rhs, .. } if op.is_comparison() => {
                for side in [lhs, rhs] {
                    if let Some((span, value)) = number(side) {
                        if value != 0.0 {
                            self.0.push(Site {
                                span,
                                kind: SiteKind::Threshold { value },
                            });
                        }
                    }
                }
            }
            _ => {}
        }
        walk_expr(self, e);
    }
}

/// A number literal, looking through a unary minus: (its span, its value).
fn number(e: &Expr) -> Option<(Span, f64)> {
    match &e.kind {
        ExprKind::Number(v) => Some((e.span, *v)),
        ExprKind::Unary {
            op: UnaryOp::Neg,
            operand,
        } => number(operand),
        _ => None,
    }
}

fn is_name(e: &Expr, name: &str) -> bool {
    matches!(&e.kind, ExprKind::Name(n) if n == name)
}

fn string(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Str { value, prefix } if prefix.is_empty() => Some(value),
        _ => None,
    }
}

/// Sites of call arguments whose parameter kinds come from `params` (positional order).
fn param_sites(args: &[Arg], kinds: &[(&str, ParamKind)], out: &mut Vec<Site>) {
    for (i, a) in args.iter().enumerate() {
        let kind = match &a.name {
            Some((n, _)) => kinds.iter().find(|k| k.0 == n).map(|k| k.1),
            None => kinds.get(i).map(|k| k.1),
        };
        let (Some(kind), Some((span, v))) = (kind, number(&a.value)) else {
            continue;
        };
        match kind {
            ParamKind::Window | ParamKind::Lag | ParamKind::Count | ParamKind::Period(_)
                if v.fract() == 0.0 =>
            {
                if let Some((lo, hi)) = kind.range() {
                    out.push(Site {
                        span,
                        kind: SiteKind::Int {
                            value: v as i64,
                            lo,
                            hi,
                        },
                    });
                }
            }
            ParamKind::Fraction | ParamKind::Number if v > 0.0 && v < 1.0 => out.push(Site {
                span,
                kind: SiteKind::Fraction { value: v },
            }),
            _ => {}
        }
    }
}

fn op_kinds(op: OpId) -> Vec<(&'static str, ParamKind)> {
    op.spec().params.iter().map(|p| (p.name, p.kind)).collect()
}

fn call(func: &Expr, args: &[Arg], span: Span, out: &mut Vec<Site>) {
    if is_name(func, "sim") {
        sim_sites(args, span, out);
        return;
    }
    let ExprKind::Attr {
        value,
        name,
        name_span,
    } = &func.kind
    else {
        return;
    };
    let method = |op: OpId, out: &mut Vec<Site>| {
        out.push(Site {
            span: *name_span,
            kind: SiteKind::Method { op },
        })
    };
    if is_name(value, "data") {
        let first = args.first().filter(|a| a.name.is_none());
        let Some((key, kspan)) = first.and_then(|a| string(&a.value).map(|s| (s, a.value.span)))
        else {
            return;
        };
        if name == "get" {
            out.push(Site {
                span: kspan,
                kind: SiteKind::Dataset { key: key.into() },
            });
        } else if name == "indicator" {
            if let Some(op) = OpId::find(Form::Indicator, key) {
                out.push(Site {
                    span: kspan,
                    kind: SiteKind::Indicator { op },
                });
                // Indicator parameters follow the name.
                let kinds = op_kinds(op);
                let rest: Vec<Arg> = args[1..].to_vec();
                param_sites(&rest, &kinds, out);
            }
        }
    } else if is_name(value, "np") {
        if let Some(op) = OpId::find(Form::Numpy, name) {
            method(op, out);
        }
    } else if name == "rolling" {
        let kinds = [
            ("window", ParamKind::Window),
            ("min_periods", ParamKind::Window),
        ];
        param_sites(args, &kinds, out);
    } else if let Some(op) = OpId::find(Form::Method, name) {
        method(op, out);
        param_sites(args, &op_kinds(op), out);
    } else if let Some(op) = OpId::find(Form::Rolling, name) {
        if matches!(&value.kind, ExprKind::Call { func, .. } if matches!(&func.kind, ExprKind::Attr { name, .. } if name == "rolling"))
        {
            method(op, out);
        }
    }
}

fn sim_sites(args: &[Arg], span: Span, out: &mut Vec<Site>) {
    let mut has = Vec::new();
    for a in args {
        let Some((name, _)) = &a.name else { continue };
        has.push(name.clone());
        match name.as_str() {
            "resample" => {
                if let Some(v) = string(&a.value) {
                    out.push(Site {
                        span: a.value.span,
                        kind: SiteKind::Resample { value: v.into() },
                    });
                }
            }
            "stop_loss" | "take_profit" | "trail_stop" | "position_limit" => {
                if let Some((vspan, v)) = number(&a.value).filter(|(_, v)| *v > 0.0 && *v < 1.0) {
                    if matches!(a.value.kind, ExprKind::Number(_)) {
                        out.push(Site {
                            span: vspan,
                            kind: SiteKind::Fraction { value: v },
                        });
                    }
                }
            }
            _ => {}
        }
    }
    // Keywords are added right after the last argument (before a trailing comma, if any).
    let at = args
        .last()
        .map_or(span.end.saturating_sub(1), |a| a.span.end);
    out.push(Site {
        span: Span { start: at, end: at },
        kind: SiteKind::SimEnd { has },
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::parse;

    #[test]
    fn finds_windows_thresholds_datasets_methods_and_sim_options() {
        let src = "from finlab import data\nclose = data.get(\"price:收盤價\")\n\
                   rsi = data.indicator(\"RSI\", timeperiod=14)\n\
                   cond = (close > close.average(20)) & (rsi > 55) & (close.rolling(250).max() < 1.2)\n\
                   position = (close / close.shift(60))[cond].is_largest(10)\n\
                   sim(position, resample=\"M\", stop_loss=0.1, fee_ratio=0.001)\n";
        let p = parse(src).unwrap();
        let got: Vec<(String, SiteKind)> = sites(&p)
            .into_iter()
            .map(|s| {
                (
                    src[s.span.start as usize..s.span.end as usize].to_string(),
                    s.kind,
                )
            })
            .collect();
        let text: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(
            text,
            [
                "\"price:收盤價\"",
                "\"RSI\"",
                "14",
                "average",
                "20",
                "55",
                "250",
                "max",
                "1.2",
                "shift",
                "60",
                "is_largest",
                "10",
                "\"M\"",
                "0.1",
                ""
            ]
        );
        // RSI's period starts at 2, where TA-Lib's does.
        assert!(matches!(
            got[2].1,
            SiteKind::Int {
                value: 14,
                lo: 2,
                ..
            }
        ));
        assert!(matches!(got[5].1, SiteKind::Threshold { value } if value == 55.0));
        assert!(matches!(&got[15].1, SiteKind::SimEnd { has } if has.len() == 3));
        // The fee is not a site: the loop must not tune costs away.
        assert!(!text.contains(&"0.001"));
    }
}
