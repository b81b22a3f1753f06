//! The exporter: a checked strategy → finlab Python that runs as is with the real `finlab`
//! package. A provenance header (engine version, source file, canonical hash, data set, and
//! optionally dsl-engine's backtest figures), the imports the strategy needs, a guarded block
//! that points `finlab.data.get` at dsl-engine's local data when `DSL_ENGINE_DATA` is set
//! (`python/finlab_local.py`), then the canonical text of the strategy with methods in their
//! finlab spelling and the backtest kept as `report = sim(...)`.

use dsl_runtime::ops::{Form, OpId};

use crate::dsl::ast::{Expr, ExprKind, Program, Span, Stmt, StmtKind};
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
}
