//! The exporter: a checked strategy → finlab Python that runs as is with the real `finlab`
//! package. A provenance header (engine version, source file, canonical hash, data set, and
//! optionally dsl-engine's backtest figures), the imports the strategy needs, a guarded block
//! that points `finlab.data.get` at dsl-engine's local data when `DSL_ENGINE_DATA` is set
//! (`python/finlab_local.py`), then the canonical text of the strategy with methods in their
//! finlab spelling and the backtest kept as `report = sim(...)`.

use dsl_runtime::ops::{Form, OpId, ParamKind};

use crate::dsl::ast::{Arg, Expr, ExprKind, Program, Span, Stmt, StmtKind, UnaryOp};
use crate::dsl::fmt::{canonical_hash, format_program, FormatOptions};
use crate::metrics::Metrics;

/// The local-data shim pasted into every export (also importable on its own).
pub const FINLAB_LOCAL: &str = include_str!("../python/finlab_local.py");

/// Environment variable naming a dsl-engine data directory for the exported script.
pub const DATA_ENV: &str = "DSL_ENGINE_DATA";

/// What the header says about where the strategy came from.
#[derive(Clone, Debug, Default)]
pub struct Provenance<'a> {
    /// The strategy's file name as given.
    pub source_name: String,
    /// The data set's banner (`DataDir::banner`), when known.
    pub data: Option<String>,
    /// dsl-engine's backtest of the strategy on that data.
    pub metrics: Option<&'a Metrics>,
}

/// The finlab spelling of a registry method (`None`: not a registry method, keep as written).
fn finlab_name(name: &str) -> Option<&'static str> {
    [Form::Method, Form::Rolling, Form::Numpy]
        .iter()
        .find_map(|form| OpId::find(*form, name))
        .map(|op| op.spec().finlab)
}

/// Whether the program refers to module `alias` (`np`, `pd`) or imports it.
fn uses_module(program: &Program, module: &str, alias: &str) -> bool {
    fn mentions(e: &Expr, alias: &str) -> bool {
        crate::dsl::deep(|| mentions_inner(e, alias))
    }
    fn mentions_inner(e: &Expr, alias: &str) -> bool {
        match &e.kind {
            ExprKind::Name(n) => n == alias,
            ExprKind::Unary { operand, .. } => mentions(operand, alias),
            ExprKind::Binary { lhs, rhs, .. } => mentions(lhs, alias) || mentions(rhs, alias),
            ExprKind::Call { func, args } => {
                mentions(func, alias) || args.iter().any(|a| mentions(&a.value, alias))
            }
            ExprKind::Attr { value, .. } => mentions(value, alias),
            ExprKind::Index { value, index, .. } => {
                mentions(value, alias) || index.iter().any(|i| mentions(i, alias))
            }
            ExprKind::List(items) | ExprKind::Tuple(items) => {
                items.iter().any(|i| mentions(i, alias))
            }
            _ => false,
        }
    }
    program.stmts.iter().any(|s| match &s.kind {
        StmtKind::Import(items) => items.iter().any(|i| i.name == module),
        StmtKind::Assign { target, value } | StmtKind::AugAssign { target, value, .. } => {
            mentions(target, alias) || mentions(value, alias)
        }
        StmtKind::Expr(e) => mentions(e, alias),
        _ => false,
    })
}

fn is_sim_call(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Call { func, .. } if matches!(&func.kind, ExprKind::Name(n) if n == "sim"))
}

/// The strategy's statements as exported: its own imports dropped (the export writes them) and a
/// bare `sim(...)` call bound to `report`.
fn body(program: &Program) -> Program {
    let stmts = program
        .stmts
        .iter()
        .filter(|s| !matches!(s.kind, StmtKind::Import(_) | StmtKind::FromImport { .. }))
        .map(|s| match &s.kind {
            StmtKind::Expr(e) if is_sim_call(e) => Stmt {
                kind: StmtKind::Assign {
                    target: Expr {
                        kind: ExprKind::Name("report".into()),
                        span: Span::new(s.span.start as usize, s.span.start as usize),
                        parens: false,
                    },
                    value: e.clone(),
                },
                span: s.span,
            },
            _ => s.clone(),
        })
        .collect();
    Program { stmts }
}

/// An indicator argument written as `text`, as the literal TA-Lib's Python wrapper accepts for a
/// parameter of `kind`: it refuses an int where it declares a double (`nbdevup=2`) and a float
/// where it declares an int (`timeperiod=14.0`), both of which the DSL accepts. `None`: keep.
fn talib_literal(kind: ParamKind, text: &str) -> Option<String> {
    let float_text = text.contains(['.', 'e', 'E']);
    match kind {
        // TA-Lib's periods are ints; the checker only lets integral values through.
        ParamKind::Window | ParamKind::Lag | ParamKind::Count if float_text => {
            let v: f64 = text.replace('_', "").parse().ok()?;
            (v.fract() == 0.0 && v.abs() < 1e15).then(|| format!("{v:.0}"))
        }
        ParamKind::Number if !float_text => Some(format!("{text}.0")),
        _ => None,
    }
}

/// `source` with every numeric argument of `data.indicator(...)` written as TA-Lib's type for
/// its parameter (see [`talib_literal`]); `None` when nothing changes.
fn indicator_literals(program: &Program, source: &str) -> Option<String> {
    fn calls<'a>(e: &'a Expr, out: &mut Vec<&'a [Arg]>) {
        crate::dsl::deep(|| match &e.kind {
            ExprKind::Call { func, args } => {
                if let ExprKind::Attr { value, name, .. } = &func.kind {
                    if name == "indicator"
                        && matches!(&value.kind, ExprKind::Name(n) if n == "data")
                    {
                        out.push(args);
                    }
                }
                calls(func, out);
                args.iter().for_each(|a| calls(&a.value, out));
            }
            ExprKind::Unary { operand, .. } => calls(operand, out),
            ExprKind::Binary { lhs, rhs, .. } => {
                calls(lhs, out);
                calls(rhs, out);
            }
            ExprKind::Attr { value, .. } => calls(value, out),
            ExprKind::Index { value, index, .. } => {
                calls(value, out);
                index.iter().for_each(|i| calls(i, out));
            }
            ExprKind::List(items) | ExprKind::Tuple(items) => {
                items.iter().for_each(|i| calls(i, out))
            }
            _ => {}
        })
    }
    let mut found = Vec::new();
    for stmt in &program.stmts {
        match &stmt.kind {
            StmtKind::Assign { value, .. } | StmtKind::AugAssign { value, .. } => {
                calls(value, &mut found)
            }
            StmtKind::Expr(e) => calls(e, &mut found),
            _ => {}
        }
    }
    let mut edits: Vec<(Span, String)> = Vec::new();
    for args in found {
        let Some(ExprKind::Str { value: name, .. }) = args.first().map(|a| &a.value.kind) else {
            continue;
        };
        let upper = name.to_uppercase();
        let lookup = if upper == "KD" { "STOCH" } else { &upper };
        let Some(op) = OpId::find(Form::Indicator, lookup) else {
            continue;
        };
        let params = op.spec().params;
        for (i, arg) in args.iter().enumerate().skip(1) {
            let param = match &arg.name {
                Some((n, _)) => params.iter().find(|p| p.name == n.as_str()),
                None => params.get(i - 1),
            };
            let number = match &arg.value.kind {
                ExprKind::Number(_) => &arg.value,
                ExprKind::Unary {
                    op: UnaryOp::Neg | UnaryOp::Pos,
                    operand,
                } if matches!(operand.kind, ExprKind::Number(_)) => operand,
                _ => continue,
            };
            let (start, end) = (number.span.start as usize, number.span.end as usize);
            let text = source.get(start..end)?;
            if let Some(literal) = param.and_then(|p| talib_literal(p.kind, text)) {
                edits.push((number.span, literal));
            }
        }
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut patched = source.to_string();
    for (span, literal) in edits {
        patched.replace_range(span.start as usize..span.end as usize, &literal);
    }
    Some(patched)
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}%", x * 100.0)
    } else {
        "n/a".into()
    }
}

/// finlab Python for a strategy that passed the checker (`program` parsed from `source`).
pub fn export(program: &Program, source: &str, prov: &Provenance) -> String {
    let mut out = String::new();
    let hash = canonical_hash(program, source);
    out.push_str(&format!(
        "# Exported by dsl-engine {} from {}\n",
        env!("CARGO_PKG_VERSION"),
        prov.source_name
    ));
    out.push_str(&format!("# canonical hash: {hash}\n"));
    if let Some(data) = &prov.data {
        out.push_str(&format!("# {data}\n"));
    }
    if let Some(m) = prov.metrics {
        let sharpe = if m.sharpe.is_finite() {
            format!("{:.3}", m.sharpe)
        } else {
            "n/a".into()
        };
        out.push_str(&format!(
            "# dsl-engine backtest {} → {}: CAGR {}, Sharpe {sharpe}, max drawdown {}, trades {}\n",
            m.start,
            m.end,
            pct(m.cagr),
            pct(m.max_drawdown),
            m.trades
        ));
    }
    out.push_str(&format!(
        "# Runs with the finlab package; set {DATA_ENV}=<dsl-engine data dir> to read local data.\n\n"
    ));
    out.push_str("import os\n\nfrom finlab import data\nfrom finlab.backtest import sim\n");
    if uses_module(program, "numpy", "np") {
        out.push_str("import numpy as np\n");
    }
    if uses_module(program, "pandas", "pd") {
        out.push_str("import pandas as pd\n");
    }
    out.push_str(&format!("\nif os.environ.get(\"{DATA_ENV}\"):\n"));
    for line in FINLAB_LOCAL.lines() {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "    use_local_data(os.environ[\"{DATA_ENV}\"])\n\n"
    ));
    let opts = FormatOptions {
        method_names: Some(&finlab_name),
        ..FormatOptions::default()
    };
    // Indicator arguments in TA-Lib's literal types: the patched text, parsed again.
    let patched = indicator_literals(program, source);
    let reparsed = patched
        .as_deref()
        .and_then(|text| crate::dsl::parse(text).ok().map(|p| (p, text)));
    let (program, source) = match &reparsed {
        Some((p, text)) => (p, *text),
        None => (program, source),
    };
    out.push_str(&format_program(&body(program), source, &opts));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::parse;

    #[test]
    fn export_has_header_imports_shim_and_report() {
        let src = "# my strategy\nfrom finlab import data\nfrom finlab.backtest import sim\nclose = data.get('price:收盤價')\nsim((close > close.average(20)), resample='M')\n";
        let program = parse(src).unwrap();
        let py = export(
            &program,
            src,
            &Provenance {
                source_name: "s.strat".into(),
                data: Some("data: test".into()),
                metrics: None,
            },
        );
        assert!(py.starts_with("# Exported by dsl-engine "), "{py}");
        assert!(py.contains(&format!(
            "# canonical hash: {}",
            canonical_hash(&program, src)
        )));
        assert!(py.contains("# data: test\n"));
        assert!(py.contains("    def use_local_data(path):\n"));
        assert!(!py.contains("import numpy"));
        assert_eq!(py.matches("from finlab import data").count(), 1);
        assert!(py.ends_with(
            "# my strategy\nclose = data.get(\"price:收盤價\")\nreport = sim(close > close.average(20), resample=\"M\")\n"
        ), "{py}");
    }

    #[test]
    fn indicator_arguments_are_written_in_talib_types() {
        let src = "from finlab import data\nfrom finlab.backtest import sim\nu, m, l = data.indicator(\"BBANDS\", timeperiod=20.0, nbdevup=2, nbdevdn=-2)\nr = data.indicator(\"rsi\", 1.4e1) # fourteen\nk, d = data.indicator(\"STOCH\", fastk_period=9)\nsim((u > m) & (r > 50.5) & (k > d))\n";
        let program = parse(src).unwrap();
        let py = export(&program, src, &Provenance::default());
        assert!(
            py.contains("data.indicator(\"BBANDS\", timeperiod=20, nbdevup=2.0, nbdevdn=-2.0)"),
            "{py}"
        );
        assert!(
            py.contains("data.indicator(\"rsi\", 14)  # fourteen"),
            "{py}"
        );
        assert!(
            py.contains("data.indicator(\"STOCH\", fastk_period=9)\n"),
            "{py}"
        );
        // Numbers outside indicator calls are kept as written.
        assert!(py.contains("(r > 50.5)"), "{py}");
        assert_eq!(talib_literal(ParamKind::Number, "2.5"), None);
        assert_eq!(talib_literal(ParamKind::Window, "14"), None);
        assert_eq!(
            talib_literal(ParamKind::Window, "2e1").as_deref(),
            Some("20")
        );
    }
}
