//! The sections of the backtest report, one function each, in page order.

use std::fmt::Write;

use super::super::highlight::highlight;
use super::super::page::{banner, document, escape, head, heat, num_cell, sign_class, text_cell};
use super::super::svg::{self, Chart, Kind, Series, XAxis};
use super::super::{fixed, pct, trim_float};
use super::{BacktestView, StockLabel, MAX_TRADE_ROWS};
use crate::calendar;

/// The whole page.
pub(super) fn page(v: &BacktestView) -> String {
    let parts = [
        header(v),
        key_figures(v),
        next_trades(v),
        holdings(v),
        equity(v),
        drawdowns(v),
        rolling(v),
        monthly(v),
        yearly(v),
        metrics(v),
        trades(v),
        options(v),
        source(v),
        glossary(v),
        details(v),
    ];
    document(&v.title, &parts.concat())
}

fn days(points: &[(i32, f64)]) -> Vec<(f64, f64)> {
    points.iter().map(|&(d, v)| (f64::from(d), v)).collect()
}

fn fmt_ratio(v: f64) -> String {
    let d = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{}×", fixed(v, d))
}

fn fmt_pct0(v: f64) -> String {
    format!("{}%", fixed(v * 100.0, 0))
}

fn fmt_num1(v: f64) -> String {
    fixed(v, 1)
}

/// An annual rate without trailing zeros (`2%`).
fn rate(x: f64) -> String {
    format!("{}%", trim_float(x * 100.0, 4))
}

fn stock_cells(s: &StockLabel) -> String {
    format!(
        "{}{}{}",
        text_cell(&s.code),
        text_cell(&s.name),
        text_cell(&s.industry)
    )
}

fn pct_cell(v: f64, signed: bool) -> String {
    num_cell(v, &pct(v), signed)
}

fn header(v: &BacktestView) -> String {
    let mut s = format!(
        r#"<h1>{}</h1><div class="muted">{}</div>"#,
        escape(&v.title),
        escape(&v.subtitle)
    );
    s.push_str(&banner(&v.data));
    for w in &v.warnings {
        let _ = write!(s, r#"<div class="banner">warning: {}</div>"#, escape(w));
    }
    s.push_str(r##"<nav class="toc"><a href="#next">next rebalance</a><a href="#holdings">holdings</a><a href="#equity">equity</a><a href="#drawdown">drawdowns</a><a href="#rolling">rolling Sharpe</a><a href="#monthly">monthly</a><a href="#yearly">yearly</a><a href="#metrics">metrics</a><a href="#trades">trades</a><a href="#options">options</a><a href="#glossary">glossary</a></nav>"##);
    s
}

fn key_figures(v: &BacktestView) -> String {
    let mut s = String::from(r#"<div class="cards" id="key-figures">"#);
    for k in &v.key_figures {
        let bench = k
            .benchmark
            .as_ref()
            .map(|b| format!(r#"<div class="b">benchmark {}</div>"#, escape(b)))
            .unwrap_or_default();
        let _ = write!(
            s,
            r#"<div class="card"><div class="v {}">{}</div><div class="k">{}</div>{bench}</div>"#,
            sign_class(k.value),
            escape(&k.text),
            escape(k.label)
        );
    }
    s.push_str("</div>");
    s
}

fn next_trades(v: &BacktestView) -> String {
    let mut s = String::from(r#"<h2 id="next">Next rebalance</h2>"#);
    let Some(n) = &v.next else {
        let _ = write!(s, r#"<p class="muted">{}</p>"#, escape(v.next_missing));
        return s;
    };
    let _ = write!(
        s,
        r#"<div class="callout" id="next-when">{}<br>{}.</div>"#,
        escape(&n.headline),
        escape(if n.summary.is_empty() {
            "Nothing to trade"
        } else {
            &n.summary
        })
    );
    s.push_str(r#"<table class="sortable" id="next-table">"#);
    s.push_str(&head(&[
        "<code",
        "<name",
        "<industry",
        "<action",
        "now",
        "target",
        "change",
    ]));
    s.push_str("<tbody>");
    for (stock, action, now, target) in &n.rows {
        let _ = write!(
            s,
            r#"<tr>{}<td class="l act {}">{}</td>{}{}{}</tr>"#,
            stock_cells(stock),
            action.label(),
            action.label(),
            pct_cell(*now, false),
            pct_cell(*target, false),
            pct_cell(target - now, true)
        );
    }
    s.push_str("</tbody></table>");
    for (stock, why) in &n.sitting_out {
        let _ = write!(
            s,
            r#"<p class="muted">{} {} sits this rebalance out: {}.</p>"#,
            escape(&stock.code),
            escape(&stock.name),
            escape(why)
        );
    }
    s.push_str(r#"<p class="muted">now: weight at the last close (drifted since the last rebalance); target: the weight the rebalance sets. A kept stock is reset to its target too; see the glossary for the actions.</p>"#);
    s
}

fn holdings(v: &BacktestView) -> String {
    let mut s = format!(
        r#"<h2 id="holdings">Holdings on {} ({} stocks, {} invested)</h2>"#,
        escape(&v.as_of),
        v.holdings.len(),
        pct(v.exposure)
    );
    if v.holdings.is_empty() {
        s.push_str(r#"<p class="muted">No open positions at the end of the backtest.</p>"#);
        return s;
    }
    s.push_str(r#"<table class="sortable" id="holdings-table">"#);
    s.push_str(&head(&[
        "<code",
        "<name",
        "<industry",
        "<since",
        "weight",
        "return",
    ]));
    s.push_str("<tbody>");
    for h in &v.holdings {
        let _ = write!(
            s,
            "<tr>{}{}{}{}</tr>",
            stock_cells(&h.stock),
            text_cell(&h.entry),
            pct_cell(h.weight, false),
            pct_cell(h.ret, true)
        );
    }
    let _ = write!(
        s,
        r#"</tbody><tfoot><tr class="total"><td class="l" colspan="4">invested / cash</td><td>{}</td><td>{}</td></tr></tfoot></table>"#,
        escape(&pct(v.exposure)),
        escape(&pct(v.cash))
    );
    s.push_str(r#"<p class="muted">weight: value at the last close over the book's value (the weights drift with prices between rebalances and sum to the invested share); return: since the entry, after the entry fee.</p>"#);
    s
}

fn equity(v: &BacktestView) -> String {
    let chart = |log| {
        let mut series = vec![Series::new(
            "strategy",
            "#1f6feb",
            Kind::Line,
            days(&v.curve),
        )];
        if let Some(b) = &v.bench {
            series.push(Series::new("benchmark", "#98a2b3", Kind::Line, days(b)));
        }
        svg::render(&Chart {
            class: if log { "equity log" } else { "equity lin" },
            x: XAxis::Dates,
            log,
            y_fmt: fmt_ratio,
            series,
        })
    };
    let mut s = String::from(
        r#"<h2 id="equity">Equity curve</h2><div class="scale-toggle"><span class="muted">Growth of 1 (net of fees and tax)"#,
    );
    if v.bench.is_some() {
        s.push_str(", against the benchmark index");
    }
    s.push_str(r#".</span><input type="radio" name="scale" id="scale-lin" checked><label for="scale-lin">linear</label>"#);
    s.push_str(r#"<input type="radio" name="scale" id="scale-log"><label for="scale-log">log scale</label>"#);
    let _ = write!(
        s,
        r#"<div class="charts">{}{}</div></div>"#,
        chart(false),
        chart(true)
    );
    s
}

fn drawdowns(v: &BacktestView) -> String {
    let mut s = String::from(r#"<h2 id="drawdown">Drawdowns</h2>"#);
    let mut series = vec![Series::new(
        "strategy",
        "#b42318",
        Kind::Area,
        days(&super::curve::drawdowns(&v.curve)),
    )];
    if let Some(b) = &v.bench {
        series.push(Series::new(
            "benchmark",
            "#98a2b3",
            Kind::Line,
            days(&super::curve::drawdowns(b)),
        ));
    }
    s.push_str(&svg::render(&Chart {
        class: "drawdown",
        x: XAxis::Dates,
        log: false,
        y_fmt: fmt_pct0,
        series,
    }));
    let _ = write!(
        s,
        r#"<h3>The {} worst drawdowns</h3><table id="worst-drawdowns">"#,
        v.worst.len()
    );
    s.push_str(&head(&[
        "#",
        "<peak",
        "<trough",
        "<recovered",
        "depth",
        "sessions",
    ]));
    s.push_str("<tbody>");
    for (i, e) in v.worst.iter().enumerate() {
        let _ = write!(
            s,
            "<tr><td>{}</td>{}{}{}{}{}</tr>",
            i + 1,
            text_cell(&calendar::format(e.start)),
            text_cell(&calendar::format(e.trough)),
            text_cell(
                &e.recovery
                    .map_or_else(|| "not yet".into(), calendar::format)
            ),
            pct_cell(e.depth, true),
            num_cell(e.sessions as f64, &e.sessions.to_string(), false)
        );
    }
    s.push_str(r#"</tbody></table><p class="muted">From a peak to the first close back at it; sessions: trading days from the peak to the recovery (or to the end while not recovered).</p>"#);
    s
}

fn rolling(v: &BacktestView) -> String {
    let mut s = String::from(r#"<h2 id="rolling">Rolling 1-year Sharpe</h2>"#);
    let mut series = vec![Series::new(
        "strategy",
        "#1f6feb",
        Kind::Line,
        days(&v.rolling),
    )];
    if !v.bench_rolling.is_empty() {
        series.push(Series::new(
            "benchmark",
            "#98a2b3",
            Kind::Line,
            days(&v.bench_rolling),
        ));
    }
    s.push_str(&svg::render(&Chart {
        class: "rolling",
        x: XAxis::Dates,
        log: false,
        y_fmt: fmt_num1,
        series,
    }));
    let _ = write!(
        s,
        r#"<p class="muted">The Sharpe ratio of the last 252 sessions at each date (risk-free rate {}); it shows when the strategy worked and when it did not.</p>"#,
        escape(&rate(v.risk_free))
    );
    s
}

fn monthly(v: &BacktestView) -> String {
    let mut s = String::from(
        r#"<h2 id="monthly">Monthly returns</h2><table class="heat" id="monthly-table"><thead><tr><th>year</th>"#,
    );
    for m in 1..=12 {
        let _ = write!(s, "<th>{m}</th>");
    }
    s.push_str("<th>year</th></tr></thead><tbody>");
    for (&y, &yr) in &v.yearly {
        let _ = write!(s, "<tr><th>{y}</th>");
        for m in 1..=12 {
            match v.monthly.get(&(y, m)) {
                Some(&r) => {
                    let _ = write!(
                        s,
                        r#"<td style="{}">{}</td>"#,
                        heat(r, 0.10),
                        fixed(r * 100.0, 1)
                    );
                }
                None => s.push_str("<td></td>"),
            }
        }
        let _ = write!(
            s,
            r#"<td style="{}"><b>{}</b></td></tr>"#,
            heat(yr, 0.40),
            fixed(yr * 100.0, 1)
        );
    }
    s.push_str("</tbody></table><p class=\"muted\">Percent; green up, red down.</p>");
    s
}

fn yearly(v: &BacktestView) -> String {
    let mut s = String::from(
        r#"<h2 id="yearly">Yearly returns</h2><table class="sortable" id="yearly-table">"#,
    );
    s.push_str(&head(&[
        "year",
        "return",
        "benchmark",
        "excess",
        "max drawdown",
    ]));
    s.push_str("<tbody>");
    for (&y, &r) in &v.yearly {
        let b = v.bench_yearly.get(&y).copied().unwrap_or(f64::NAN);
        let dd = v.year_mdd.get(&y).copied().unwrap_or(f64::NAN);
        let _ = write!(
            s,
            "<tr><td>{y}</td>{}{}{}{}</tr>",
            pct_cell(r, true),
            pct_cell(b, true),
            pct_cell(r - b, true),
            pct_cell(dd, true)
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn metrics(v: &BacktestView) -> String {
    // `data-value` holds the exact JSON value (`backtest --json`'s `metrics`).
    let mut s = String::from(
        r#"<h2 id="metrics">Metrics</h2><div class="grid2"><table id="metrics-table"><tbody>"#,
    );
    let half = v.metrics.len().div_ceil(2);
    for (i, m) in v.metrics.iter().enumerate() {
        if i == half {
            s.push_str(r#"</tbody></table><table><tbody>"#);
        }
        let _ = write!(
            s,
            r#"<tr><td class="l">{}</td><td data-metric="{}" data-value="{}">{}</td></tr>"#,
            escape(m.label),
            m.key,
            escape(&m.raw),
            escape(&m.text)
        );
    }
    let _ = write!(
        s,
        r##"</tbody></table></div><p class="muted">Sharpe and Sortino subtract a {} annual risk-free rate (finlab's convention; <code>--rf</code> changes it). Each figure is explained in the <a href="#glossary">glossary</a>.</p>"##,
        escape(&rate(v.risk_free))
    );
    s
}

fn trades(v: &BacktestView) -> String {
    let mut s = format!(
        r#"<h2 id="trades">Trades ({})</h2><p class="muted">{}"#,
        v.trade_count,
        escape(&v.trade_reasons)
    );
    if v.trades_skipped > 0 {
        let _ = write!(
            s,
            "; the {MAX_TRADE_ROWS} newest are listed, the {} older ones are not",
            v.trades_skipped
        );
    }
    s.push_str(r#". Newest first; a <code>split</code> row is not a sale (see the glossary).</p>"#);
    s.push_str(r#"<input type="search" class="filter" id="trades-filter" data-table="trades-table" placeholder="Filter trades: code, name, industry, date, exit reason" hidden>"#);
    s.push_str(r#"<div class="scroll"><table class="sortable" id="trades-table">"#);
    s.push_str(&head(&[
        "<code",
        "<name",
        "<industry",
        "<entry",
        "<exit",
        "bars",
        "weight",
        "return",
        "<exit reason",
        "MAE",
        "MFE",
        "MDD",
    ]));
    s.push_str("<tbody>");
    for t in &v.trades {
        let _ = write!(
            s,
            "<tr>{}{}{}{}{}{}{}{}{}{}</tr>",
            stock_cells(&t.stock),
            text_cell(&t.entry),
            text_cell(&t.exit),
            num_cell(t.bars as f64, &t.bars.to_string(), false),
            pct_cell(t.weight, false),
            pct_cell(t.ret, true),
            text_cell(t.reason),
            pct_cell(t.mae, false),
            pct_cell(t.mfe, false),
            pct_cell(t.mdd, false)
        );
    }
    s.push_str("</tbody></table></div>");
    s
}

fn options(v: &BacktestView) -> String {
    let mut s =
        String::from(r#"<h2 id="options">Options in effect</h2><table id="options-table">"#);
    s.push_str(&head(&["<option", "<value", "<what it does"]));
    s.push_str("<tbody>");
    for o in &v.options {
        let _ = write!(
            s,
            r#"<tr>{}{}<td class="note">{}</td></tr>"#,
            text_cell(o.key),
            text_cell(&o.value),
            escape(&o.meaning)
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn source(v: &BacktestView) -> String {
    match &v.source {
        Some(src) => format!(
            r#"<h2 id="source">Strategy</h2><pre class="src">{}</pre>"#,
            highlight(src)
        ),
        None => String::new(),
    }
}

/// (term, explanation) pairs of the glossary.
const GLOSSARY: &[(&str, &str)] = &[
    ("CAGR", "Compound annual growth rate of the equity curve over 365.25-day years."),
    ("Sharpe", "Mean daily return above the risk-free rate over its standard deviation, × √252. The risk-free rate is stated under Metrics (finlab's 2% unless --rf says otherwise)."),
    ("Sortino", "As Sharpe, but dividing by the downside deviation only (losing days)."),
    ("Calmar", "CAGR over the absolute max drawdown."),
    ("max drawdown", "The largest fall of the equity curve from a previous peak."),
    ("win ratio, avg win, avg loss, expectancy", "Over every trade row, open ones included, after fees and tax."),
    ("profit factor", "The sum of winning trade returns over the absolute sum of losing ones."),
    ("turnover/yr", "Traded value, buys plus sells, per year as a multiple of the book's value: 2× means the whole book was replaced once a year. Resizing a kept stock at a rebalance counts too."),
    ("exposure", "Holdings over the book's value; the rest is cash."),
    ("alpha, beta", "Beta: the slope of the strategy's daily returns on the benchmark's. Alpha: CAGR − beta × the benchmark's CAGR."),
    ("rebalance (exit reason)", "Sold, or reversed, at a rebalance because the target became 0."),
    ("split (exit reason)", "Not a sale. At every periodic rebalance a stock still held has its trade row closed and a new one opened at the same price, without costs (finlab lists trades this way); the holding continues."),
    ("stop loss, take profit, trail stop", "Sold by a stop (touched_exit: intraday at the threshold; otherwise detected at a close and sold the next session)."),
    ("delisted", "Sold on its last priced session after prices stopped for 20+ sessions."),
    ("open", "Still held at the end of the backtest; its return is on paper."),
    ("MAE, MFE, MDD", "A trade's worst and best excursion from its entry, and the largest fall from its own peak."),
    ("buy, sell, resize, keep", "The next rebalance's action for a stock: buy a stock not held, sell a held stock whose target is 0, resize a held stock whose target weight changed since the last rebalance, keep one whose target is unchanged (its drift is still trimmed back to the target)."),
];

fn glossary(_: &BacktestView) -> String {
    let mut s = String::from(r#"<h2 id="glossary">Glossary</h2><dl class="glossary">"#);
    for (term, text) in GLOSSARY {
        let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", escape(term), escape(text));
    }
    s.push_str("</dl>");
    s
}

fn details(v: &BacktestView) -> String {
    if v.details.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        r#"<details id="run-details"><summary>Run details (sandbox figures)</summary><table><tbody>"#,
    );
    for (k, val) in &v.details {
        let _ = write!(s, "<tr>{}{}</tr>", text_cell(k), text_cell(val));
    }
    s.push_str("</tbody></table></details>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels_have_no_negative_zero() {
        assert_eq!(fmt_pct0(-0.001), "0%");
        assert_eq!(fmt_ratio(-0.0001), "0.00×");
        assert_eq!(fmt_num1(-0.04), "0.0");
    }
}
