//! The DSL reference, generated from the operator registry and the diagnostic codes — the text
//! the prompt shows the model (`prompts/dsl_reference.md`) and `dsl-engine ops` prints. A test
//! keeps the committed copy current.

use dsl_runtime::ops::{Form, OpId, OpSpec, Output, ParamDefault, Receiver};

/// How panels of different frequencies line up (both references say it).
const ALIGNMENT: &str =
    "Panels of different frequencies align as in finlab: the union of dates from the later\n  \
     start, the common stocks, each side carried forward (monthly revenue is visible from its\n  \
     publication date). Window methods count the panel's own rows (months for revenue).";

/// What a per-date Series is and how it combines (both references say it).
const SERIES: &str =
    "`m = x.mean(axis=1)` (or sum/max/min/std/median/count) is a Series, one value per date:\n  \
     it takes window, shift and element-wise methods, compares with numbers and Series, and\n  \
     filters a panel on its right: `cond & (m > m.average(60))`.";

const SECTIONS: [(Form, &str); 6] = [
    (Form::Method, "Panel methods"),
    (Form::Rolling, "Rolling windows"),
    (Form::Ewm, "Exponentially weighted windows"),
    (Form::Expanding, "Expanding windows"),
    (Form::Numpy, "numpy functions (`import numpy as np`)"),
    (
        Form::Indicator,
        "Technical indicators (TA-Lib defaults, per stock)",
    ),
];

/// The `sim(...)` options.
const SIM_OPTIONS: &str = "\n## `sim(position, ...)`\n\n\
         | option | default | meaning |\n|---|---|---|\n\
         | `resample` | `None` | `None`: rebalance when the position changes; or a frequency: `\"D\"`, `\"20D\"`, `\"W\"` (Sundays), `\"W-FRI\"`, `\"M\"` (month ends), `\"MS\"`, `\"Q\"`, `\"QS\"`, `\"Y\"`, shifted like `\"M+5\"` / `\"M-3\"` |\n\
         | `resample_offset` | `None` | days added to every rebalance date, e.g. `\"1D\"` |\n\
         | `trade_at_price` | `\"close\"` | fill price: `close`, `open`, `open_close_avg`, `high_low_avg`, `price_avg` (adjusted) |\n\
         | `position_limit` | `1` | largest weight of one stock (the rest stays in cash) |\n\
         | `fee_ratio` | `1.425/1000` | fee on every buy and sell |\n\
         | `tax_ratio` | `3/1000` | tax on every sell |\n\
         | `stop_loss`, `take_profit` | `None` | exit after this fractional loss / gain from the cost basis |\n\
         | `trail_stop`, `trail_stop_activation` | `None` | exit after falling this far (in cost units) from the peak, armed once the gain reaches the activation |\n\
         | `touched_exit` | `False` | check stops intraday and fill at the threshold (or the open on a gap) |\n\
         | `stop_trading_next_period` | `True` | a stopped stock sits out the next rebalance |\n\
         | `retain_cost_when_rebalance` | `False` | keep the cost basis of held stocks across rebalances |\n\
         | `end_date` | `None` | last date of the backtest, `\"YYYY-MM-DD\"` |\n\
         | `name` | — | a label for reports |\n\n\
         Signals dated on a day trade on the next bar (T+1).\n";

/// `x.loc[start:end]`, from the registry (both references say it).
fn dates() -> String {
    let loc = OpId::Loc.spec();
    format!("`x{}` (`{}`): {}", loc.signature(), loc.example, loc.doc)
}

fn specs(form: Form) -> impl Iterator<Item = &'static OpSpec> {
    OpId::ALL
        .iter()
        .map(|o| o.spec())
        .filter(move |s| s.form == form)
}

/// What an operator returns, in words.
fn returns(s: &OpSpec) -> String {
    match (s.output, s.outputs.len()) {
        (_, n) if n > 1 => format!("{n} float panels: {}", s.outputs.join(", ")),
        (Output::Float, _) => "float".to_string(),
        (Output::Bool, _) => "bool".to_string(),
        (Output::Same, _) => "same as input".to_string(),
        (Output::Series, _) => "Series (per date)".to_string(),
    }
}

/// Renders the full reference as Markdown (`dsl-engine ops`).
pub fn markdown() -> String {
    render(true)
}

/// The reference the prompt shows: the common core in full, the other operators by signature,
/// no diagnostic codes.
pub fn prompt_markdown() -> String {
    render(false)
}

fn render(full: bool) -> String {
    let mut out = format!(
        "<!-- generated from the operator registry by `dsl-engine ops`; do not edit -->\n\
         # Strategy DSL reference\n\n\
         A strategy is finlab-style Python: the finlab preamble, `name = expression` lines and one\n\
         `sim(position, ...)` call. Values are panels (dates × stocks) of floats or bools, and numbers.\n\n\
         - Load a dataset: `data.get(\"table:column\")`, e.g. `data.get(\"price:收盤價\")`.\n\
         - Arithmetic `+ - * / **`, comparisons `< <= > >= == !=`, conditions `& | ~`\n  \
           (wrap comparisons in parentheses: `(a > b) & (c < d)`), masking `x[cond]`.\n\
         - {ALIGNMENT}\n\
         - {SERIES}\n\
         - {}\n\
         - Everything else — other imports, `def`, loops, `lambda`, `eval`, dunders,\n  \
           negative shifts, `rank(axis=0)` — is refused.\n",
        dates(),
    );
    for (form, title) in SECTIONS {
        section(form, title, full, &mut out);
    }
    out.push_str(SIM_OPTIONS);
    if full {
        out.push_str(
            "\n## Diagnostic codes\n\n\
             Each error and warning of `dsl-engine check` names one of these codes.\n\n",
        );
        out.push_str(&super::codes::markdown_table());
    }
    out
}

/// The reference for a model whose replies a grammar constrains (`dsl-engine grammar`): what
/// the grammar enforces — the statements, the names of operators, keywords, datasets and
/// options, and the kinds of their arguments — is left out, as are the diagnostic codes; what
/// each operator means and returns stays.
pub fn compact() -> String {
    let mut out = format!(
        "# Strategy DSL\n\n\
         - Values are panels (dates × stocks) of floats or bools, and numbers; bools count as 0/1\n  \
           in arithmetic.\n\
         - `& | ~` combine bool panels (conditions): write `(a > b) & (c < d)`; `x[cond]` keeps `x`\n  \
           where `cond` holds.\n\
         - {ALIGNMENT}\n\
         - {SERIES}\n\
         - {}\n",
        dates()
    );
    for (form, title) in SECTIONS {
        out.push_str(&format!("\n## {title}\n\n"));
        for s in specs(form).filter(|s| s.core) {
            let on = if s.receiver == Receiver::Bool {
                " (on a condition)"
            } else {
                ""
            };
            out.push_str(&format!(
                "- `{}`{on} → {}: {}\n",
                s.signature(),
                returns(s),
                s.doc
            ));
        }
        if form == Form::Numpy {
            out.push_str("- `abs(x)`, `np.abs(x)` → float: same as `x.abs()`.\n");
        }
        let more: Vec<OpId> = specs(form).filter(|s| !s.core).map(|s| s.id).collect();
        also(form, &more, &mut out);
    }
    out.push_str(SIM_OPTIONS);
    out
}

/// One form's operators: a table row each (only the core ones unless `full`), then the others
/// by signature.
fn section(form: Form, title: &str, full: bool, out: &mut String) {
    let ops: Vec<OpId> = OpId::ALL
        .iter()
        .copied()
        .filter(|o| o.spec().form == form)
        .collect();
    let any_core = ops.iter().any(|o| o.spec().core);
    if !full && !any_core && matches!(form, Form::Ewm | Form::Expanding) {
        // A window outside the core: its arguments once, then its aggregates.
        let Some(first) = ops.first() else {
            return;
        };
        let sig = first.spec().signature();
        let window = sig.rsplit_once('.').map_or(sig.as_str(), |(w, _)| w);
        let aggregates: Vec<String> = ops
            .iter()
            .map(|o| format!("`.{}()`", o.spec().name))
            .collect();
        out.push_str(&format!(
            "\n{title}: `x{window}` then {}.\n",
            aggregates.join(", ")
        ));
        return;
    }
    out.push_str(&format!("\n## {title}\n\n"));
    // The prompt leaves out the input column: a method on conditions only is shown on `cond`.
    if full {
        out.push_str("| call | input | returns | description | example |\n|---|---|---|---|---|\n");
    } else if any_core {
        out.push_str("| call | returns | description | example |\n|---|---|---|---|\n");
    }
    for op in ops.iter().filter(|o| full || o.spec().core) {
        let s = op.spec();
        let input = match s.receiver {
            Receiver::Numeric => "float/bool",
            Receiver::Bool => "bool",
            Receiver::None => "prices",
        };
        let (call, doc, example) = (s.signature(), s.doc, s.example);
        let output = returns(s);
        out.push_str(&if full {
            format!("| `{call}` | {input} | {output} | {doc} | `{example}` |\n")
        } else {
            let on = if s.receiver == Receiver::Bool {
                "cond"
            } else {
                ""
            };
            format!("| `{on}{call}` | {output} | {doc} | `{example}` |\n")
        });
    }
    if form == Form::Numpy {
        out.push_str(if full {
            "| `abs(x)`, `np.abs(x)` | float/bool | float | Same as `x.abs()`. | `abs(close.pct_change())` |\n"
        } else {
            "| `abs(x)`, `np.abs(x)` | float | Same as `x.abs()`. | `abs(close.pct_change())` |\n"
        });
    }
    let more: Vec<OpId> = ops
        .iter()
        .copied()
        .filter(|o| !full && !o.spec().core)
        .collect();
    also(form, &more, out);
}

/// The operators outside the core, by signature (indicators grouped by their parameters).
fn also(form: Form, more: &[OpId], out: &mut String) {
    if more.is_empty() {
        return;
    }
    if form == Form::Indicator {
        // Indicators with the same parameters share one entry: `SMA/EMA(timeperiod=30)`.
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for op in more {
            let tail = indicator_tail(*op);
            match groups.iter_mut().find(|(t, _)| *t == tail) {
                Some((_, names)) => names.push(op.spec().name),
                None => groups.push((tail, vec![op.spec().name])),
            }
        }
        let listed: Vec<String> = groups
            .iter()
            .map(|(tail, names)| format!("`{}{tail}`", names.join("/")))
            .collect();
        out.push_str(&format!(
            "\nAlso `data.indicator(NAME, ...)` (with `adjust_price=False` too): {}.\n",
            listed.join(", ")
        ));
    } else {
        // Operators with the same parameters share one entry: `.isna/notna()`.
        let mut groups: Vec<(String, String, Vec<&str>)> = Vec::new();
        for op in more {
            let sig = op.spec().signature();
            let name = op.spec().name;
            let (head, tail) = sig.split_once(name).unwrap_or((sig.as_str(), ""));
            match groups.iter_mut().find(|(h, t, _)| h == head && t == tail) {
                Some((_, _, names)) => names.push(name),
                None => groups.push((head.to_string(), tail.to_string(), vec![name])),
            }
        }
        let listed: Vec<String> = groups
            .iter()
            .map(|(head, tail, names)| format!("`{head}{}{tail}`", names.join("/")))
            .collect();
        out.push_str(&format!(
            "\nAlso (pandas/numpy semantics): {}.\n",
            listed.join(", ")
        ));
    }
}

/// An indicator's parameters as the prompt lists them (without `adjust_price`), and its
/// outputs when there are several: `(timeperiod=14) → aroondown, aroonup`.
fn indicator_tail(op: OpId) -> String {
    let s = op.spec();
    let params: Vec<String> = s
        .params
        .iter()
        .filter(|p| p.name != "adjust_price")
        .map(|p| match p.default {
            ParamDefault::Int(v) => format!("{}={v}", p.name),
            ParamDefault::Float(v) => format!("{}={v}", p.name),
            _ => p.name.to_string(),
        })
        .collect();
    let outputs = if s.outputs.len() > 1 {
        format!(" → {}", s.outputs.join(", "))
    } else {
        String::new()
    };
    format!("({}){outputs}", params.join(", "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_reference_is_current() {
        let committed = include_str!("../../prompts/dsl_reference.md");
        assert!(
            committed == super::markdown(),
            "prompts/dsl_reference.md is stale: run `cargo run -- ops > prompts/dsl_reference.md`"
        );
    }

    #[test]
    fn the_prompt_lists_operators_outside_the_core_by_signature() {
        let prompt = super::prompt_markdown();
        for listed in [
            "`SMA/EMA/WMA/DEMA/TEMA/KAMA(timeperiod=30)`",
            "`AROON(timeperiod=14) → aroondown, aroonup`",
            "`x.ewm(com=None, span=None, halflife=None, alpha=None, min_periods=0, adjust=True, \
             ignore_na=False)` then `.mean()`, `.std()`",
            "`np.where(cond, x, y)`",
            "`.astype(dtype)`",
        ] {
            assert!(prompt.contains(listed), "{listed} not in:\n{prompt}");
        }
        assert!(!prompt.contains("| `data.indicator(\"SMA\""));
        assert!(super::markdown().contains("| `data.indicator(\"SMA\", timeperiod=30"));
    }
}
