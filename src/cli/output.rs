//! How backtest results are printed: a metrics table for people, or one JSON object
//! (`metrics`, `creturn`, `trades`, ...) for programs. Shared by `backtest` and `sim`.

use std::io::Write;

use serde_json::{json, Value};

use crate::backtest::SimResult;
use crate::calendar;
use crate::metrics::Metrics;
use crate::report::term::{signed, Align, Cell, Style, Table};
use crate::report::{num, pct};

/// The compact metrics block: three (label, value) pairs per line, returns coloured by sign.
fn metrics_block(m: &Metrics) -> Table {
    let p = |x: f64, colour: bool| Cell {
        text: pct(x),
        paint: if colour { signed(x) } else { None },
    };
    let pairs: [(&str, Cell); 15] = [
        ("total return", p(m.total_return, true)),
        ("Sharpe", num(m.sharpe).into()),
        ("max drawdown", p(m.max_drawdown, true)),
        ("CAGR", p(m.cagr, true)),
        ("Sortino", num(m.sortino).into()),
        ("volatility", p(m.daily_vol, false)),
        ("alpha", p(m.alpha, true)),
        ("Calmar", num(m.calmar).into()),
        ("beta", num(m.beta).into()),
        ("win ratio", p(m.win_ratio, false)),
        ("profit factor", num(m.profit_factor).into()),
        ("trades", m.trades.to_string().into()),
        ("turnover/yr", num(m.turnover).into()),
        ("avg holdings", num(m.avg_n_stock).into()),
        ("exposure", p(m.avg_exposure, false)),
    ];
    let mut t = Table::new(&[
        ("", Align::Left),
        ("", Align::Right),
        ("", Align::Left),
        ("", Align::Right),
        ("", Align::Left),
        ("", Align::Right),
    ]);
    t.gap = "   ";
    let mut row = Vec::new();
    for (k, v) in pairs {
        row.push(Cell::from(k));
        row.push(v);
        if row.len() == 6 {
            t.rows.push(std::mem::take(&mut row));
        }
    }
    t
}

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
        errln!("warning: {w}");
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
    let style = Style::stdout();
    writeln!(out, "{}", report.banner)?;
    let label = report.name.map(|n| format!("  ({n})")).unwrap_or_default();
    writeln!(out, "strategy      {}{label}", report.strategy)?;
    writeln!(out, "period        {} → {}", m.start, m.end)?;
    write!(out, "{}", metrics_block(m).render(style))?;
    if let Some((_, _, line)) = &report.extra {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
