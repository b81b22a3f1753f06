//! How backtest results are printed: a metrics table for people, or one JSON object
//! (`metrics`, `creturn`, `trades`, ...) for programs. Shared by `backtest` and `sim`.

use std::io::Write;

use serde_json::{json, Value};

use crate::backtest::SimResult;
use crate::calendar;
use crate::metrics::Metrics;

/// What to print about one backtest.
pub struct Report<'a> {
    pub banner: String,
    pub strategy: String,
    pub name: Option<&'a str>,
    pub result: &'a SimResult,
    pub metrics: &'a Metrics,
    /// Extra JSON fields (e.g. the sandbox's figures) and their one-line table form.
    pub extra: Option<(&'static str, Value, String)>,
}

/// Prints the report as a table or as one JSON object.
pub fn print(report: &Report, as_json: bool) -> std::io::Result<()> {
    let out = std::io::stdout();
    let mut out = out.lock();
    let r = report.result;
    let m = report.metrics;
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if as_json {
        let mut doc = json!({
            "data": report.banner,
            "strategy": report.strategy,
            "name": report.name,
            "metrics": m,
            "rebalances": r.rebalances,
            "warnings": r.warnings,
            "creturn": r.creturn.iter().map(|(d, v)| json!([calendar::format(*d), v])).collect::<Vec<_>>(),
            "trades": r.trades.iter().map(|t| json!({
                "stock": &*t.stock,
                "entry_sig_date": calendar::format(t.entry_sig_date),
                "entry_date": calendar::format(t.entry_date),
                "exit_sig_date": t.exit_sig_date.map(calendar::format),
                "exit_date": t.exit_date.map(calendar::format),
                "weight": t.weight,
                "return": t.ret,
                "period": t.period,
                "exit_reason": t.exit_reason,
                "mae": t.mae,
                "gmfe": t.gmfe,
                "bmfe": t.bmfe,
                "mdd": t.mdd,
                "pdays": t.pdays,
            })).collect::<Vec<_>>(),
        });
        if let (Some((key, value, _)), Some(obj)) = (&report.extra, doc.as_object_mut()) {
            obj.insert(key.to_string(), value.clone());
        }
        return writeln!(out, "{doc}");
    }
    let pct = |x: f64| {
        if x.is_finite() {
            format!("{:>9.2}%", x * 100.0)
        } else {
            format!("{:>10}", "n/a")
        }
    };
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x:>10.3}")
        } else {
            format!("{:>10}", "n/a")
        }
    };
    writeln!(out, "{}", report.banner)?;
    let label = report.name.map(|n| format!("  ({n})")).unwrap_or_default();
    writeln!(out, "strategy      {}{label}", report.strategy)?;
    writeln!(out, "period        {} → {}", m.start, m.end)?;
    let rows = [
        ("total return", pct(m.total_return)),
        ("CAGR", pct(m.cagr)),
        ("Sharpe", num(m.sharpe)),
        ("Sortino", num(m.sortino)),
        ("Calmar", num(m.calmar)),
        ("max drawdown", pct(m.max_drawdown)),
        ("volatility", pct(m.daily_vol)),
        ("win ratio", pct(m.win_ratio)),
        ("profit factor", num(m.profit_factor)),
        ("trades", format!("{:>10}", m.trades)),
        ("turnover/yr", num(m.turnover)),
        ("avg holdings", num(m.avg_n_stock)),
        ("alpha", pct(m.alpha)),
        ("beta", num(m.beta)),
    ];
    for (k, v) in rows {
        writeln!(out, "{k:<13} {v}")?;
    }
    if let Some((_, _, line)) = &report.extra {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
