//! The exporter: a checked strategy → finlab Python that runs as is with the real `finlab`
//! package. A header (engine version, source file, canonical hash, data set, optionally
//! dsl-engine's backtest figures, what the script needs and how to run it), the imports the
//! strategy needs, a guarded block that, when `DSL_ENGINE_DATA` is set, points finlab's data
//! entry points at dsl-engine's local data and replaces `sim()` by a stand-in that writes the
//! position and prints the `dsl-engine sim` command (`python/finlab_local.py`), then the
//! canonical text of the strategy with methods in their finlab spelling and the backtest kept
//! as `report = sim(...)`.

use dsl_runtime::ops::{Form, OpId, ParamKind};

use crate::data::reference;
use crate::dsl::ast::{Arg, Expr, ExprKind, Program, Span, Stmt, StmtKind, UnaryOp};
use crate::dsl::fmt::{canonical_hash, format_program, FormatOptions};
use crate::dsl::visit::{walk_expr, walk_program, walk_stmt, Visitor};
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
    /// More header lines (an iterate run's verdict and what it rests on).
    pub notes: Vec<String>,
}

/// The finlab spelling of a registry method (`None`: not a registry method, keep as written).
fn finlab_name(name: &str) -> Option<&'static str> {
    [
        Form::Method,
        Form::Rolling,
        Form::Ewm,
        Form::Expanding,
        Form::Numpy,
    ]
    .iter()
    .find_map(|form| OpId::find(*form, name))
    .map(|op| op.spec().finlab)
}

/// Whether the program refers to module `alias` (`np`, `pd`) or imports it.
fn uses_module(program: &Program, module: &str, alias: &str) -> bool {
    struct Uses<'m> {
        module: &'m str,
        alias: &'m str,
        found: bool,
    }
    impl Visitor<'_> for Uses<'_> {
        fn visit_stmt(&mut self, stmt: &Stmt) {
            if let StmtKind::Import(items) = &stmt.kind {
                self.found |= items.iter().any(|i| i.name == self.module);
            }
            walk_stmt(self, stmt);
        }
        fn visit_expr(&mut self, e: &Expr) {
            self.found |= matches!(&e.kind, ExprKind::Name(n) if n == self.alias);
            walk_expr(self, e);
        }
    }
    let mut uses = Uses {
        module,
        alias,
        found: false,
    };
    walk_program(&mut uses, program);
    uses.found
}

/// The strategy's statements as exported: its own imports dropped (the export writes them) and a
/// bare `sim(...)` call bound to `report`.
fn body(program: &Program) -> Program {
    let stmts = program
        .stmts
        .iter()
        .filter(|s| !matches!(s.kind, StmtKind::Import(_) | StmtKind::FromImport { .. }))
        .map(|s| match &s.kind {
            StmtKind::Expr(e) if e.sim_call_args().is_some() => Stmt {
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
        ParamKind::Window | ParamKind::Lag | ParamKind::Count | ParamKind::Period(_)
            if float_text =>
        {
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
    /// The argument lists of every `data.indicator(...)` call.
    struct Calls<'a>(Vec<&'a [Arg]>);
    impl<'a> Visitor<'a> for Calls<'a> {
        fn visit_expr(&mut self, e: &'a Expr) {
            if let ExprKind::Call { func, args } = &e.kind {
                if let ExprKind::Attr { value, name, .. } = &func.kind {
                    if name == "indicator"
                        && matches!(&value.kind, ExprKind::Name(n) if n == "data")
                    {
                        self.0.push(args);
                    }
                }
            }
            walk_expr(self, e);
        }
    }
    let mut calls = Calls(Vec::new());
    walk_program(&mut calls, program);
    let found = calls.0;
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

/// What an exported strategy needs beyond finlab, read from its finlab text.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Needs {
    /// `data.indicator(...)`: TA-Lib.
    talib: bool,
    /// `.industry_rank(...)`: the industry table (embedded for local data).
    industries: bool,
}

impl Needs {
    /// Reads the strategy's exported statements, comments skipped.
    fn of(body: &str) -> Needs {
        let code = body
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        Needs {
            talib: code.contains("data.indicator("),
            industries: code.contains(".industry_rank("),
        }
    }
}

/// The header: provenance, what the script needs and the two ways to run it.
fn header(out: &mut String, hash: &str, prov: &Provenance, needs: Needs) {
    let stem = std::path::Path::new(&prov.source_name)
        .file_stem()
        .map_or_else(|| "strategy".into(), |s| s.to_string_lossy().into_owned());
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
    for note in &prov.notes {
        out.push_str(&format!("# {note}\n"));
    }
    out.push_str("#\n# Needs Python 3 with finlab (pip install finlab)");
    if needs.talib {
        out.push_str(" and TA-Lib for data.indicator (pip install TA-Lib)");
    }
    out.push_str(&format!(
        ".\n#\n\
         # On finlab's data, with a finlab login (finlab.login() or FINLAB_API_KEY):\n\
         #     python {stem}.py\n\
         #   sim() backtests on finlab's servers.\n\
         # On dsl-engine's data, no login needed:\n\
         #     {DATA_ENV}=<dsl-engine data directory> python {stem}.py\n\
         #   builds the position from that directory, writes it next to this file as\n\
         #   {stem}.position.feather and prints the `dsl-engine sim --position ...` command that\n\
         #   backtests it with the same options (finlab's sim() is not called).\n\n"
    ));
}

/// The block that switches to dsl-engine's data when `DSL_ENGINE_DATA` is set: the local-data
/// helpers (from their first `def`), the industry table when the strategy ranks by industry,
/// and `sim` replaced by the local stand-in.
fn local_block(out: &mut String, needs: Needs) {
    out.push_str(&format!("\nif os.environ.get(\"{DATA_ENV}\"):\n"));
    let code = FINLAB_LOCAL
        .find("\ndef ")
        .map_or(FINLAB_LOCAL, |i| &FINLAB_LOCAL[i + 1..]);
    for line in code.lines() {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    let industries = if needs.industries {
        out.push_str("\n    INDUSTRIES = \"\"\"\n");
        out.push_str(&industry_lines());
        out.push_str("\"\"\"\n");
        ", industries=INDUSTRIES"
    } else {
        ""
    };
    out.push_str(&format!(
        "\n    use_local_data(os.environ[\"{DATA_ENV}\"]{industries})\n    \
         sim = local_sim(globals().get(\"__file__\", \"strategy.py\"), os.environ[\"{DATA_ENV}\"])\n\n"
    ));
}

/// Each TWSE industry with its stocks (`水泥工業: 1101 1102 ...`, 12 codes a line), from the
/// reference data: what finlab's `security_industry_themes` gives `industry_rank`.
fn industry_lines() -> String {
    let names: std::collections::BTreeMap<String, String> = reference::industries()
        .unwrap_or_default()
        .into_iter()
        .map(|i| (i.code, i.name_zh))
        .collect();
    let mut members: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let securities = reference::securities().unwrap_or_default();
    for s in &securities {
        if let Some(name) = names.get(&s.industry) {
            members.entry(name).or_default().push(s.code.clone());
        }
    }
    let mut out = String::new();
    for (name, codes) in members {
        for chunk in codes.chunks(12) {
            out.push_str(&format!("{name}: {}\n", chunk.join(" ")));
        }
    }
    out
}

/// finlab Python for a strategy that passed the checker (`program` parsed from `source`).
pub fn export(program: &Program, source: &str, prov: &Provenance) -> String {
    // The hash of the strategy as written (the patch below only changes literal spellings).
    let hash = canonical_hash(program, source);
    // Indicator arguments in TA-Lib's literal types: the patched text, parsed again.
    let patched = indicator_literals(program, source);
    let reparsed = patched
        .as_deref()
        .and_then(|text| crate::dsl::parse(text).ok().map(|p| (p, text)));
    let (program, source) = match &reparsed {
        Some((p, text)) => (p, *text),
        None => (program, source),
    };
    // Where the checker saw `average` of a Series (pandas' Series has none).
    let checked = crate::dsl::check(program, &crate::dsl::CheckContext::default());
    let series_averages = checked
        .program
        .map(|p| p.series_averages)
        .unwrap_or_default();
    let opts = FormatOptions {
        method_names: Some(&finlab_name),
        pandas_where: true,
        series_averages: &series_averages,
        ..FormatOptions::default()
    };
    let body = format_program(&body(program), source, &opts);
    let needs = Needs::of(&body);
    let mut out = String::new();
    header(&mut out, &hash, prov, needs);
    out.push_str("import os\n\nfrom finlab import data\nfrom finlab.backtest import sim\n");
    if uses_module(program, "numpy", "np") {
        out.push_str("import numpy as np\n");
    }
    if uses_module(program, "pandas", "pd") {
        out.push_str("import pandas as pd\n");
    }
    local_block(&mut out, needs);
    out.push_str(&body);
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
                notes: vec!["verdict: fails".into()],
            },
        );
        assert!(py.starts_with("# Exported by dsl-engine "), "{py}");
        assert!(py.contains("\n# verdict: fails\n"), "{py}");
        assert!(py.contains(&format!(
            "# canonical hash: {}",
            canonical_hash(&program, src)
        )));
        assert!(py.contains("# data: test\n"));
        assert!(py.contains("    def use_local_data(path, industries=None):\n"));
        assert!(py.contains("    sim = local_sim("));
        assert!(!py.contains("Notes for dsl-engine developers") && !py.contains("INDUSTRIES"));
        assert!(!py.contains("TA-Lib for data.indicator"));
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

    #[test]
    fn numpy_where_is_written_as_pandas_calls_on_the_conditions_grid() {
        let src = "from finlab import data\nfrom finlab.backtest import sim\nimport numpy as np\nc = data.get(\"price:收盤價\")\nx = np.where(c > c.average(20), c ** 2, np.sqrt(c))\nsim(x.is_largest(5))\n";
        let program = parse(src).unwrap();
        let py = export(&program, src, &Provenance::default());
        assert!(py.contains("import numpy as np\n"), "{py}");
        assert!(
            py.contains("x = (c > c.average(20)).astype(float).where(~(c > c.average(20)), c ** 2).where(c > c.average(20), np.sqrt(c))\n"),
            "{py}"
        );
    }
}
