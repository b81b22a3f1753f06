//! The DSL reference, generated from the operator registry — the text the prompt shows the
//! model (`prompts/dsl_reference.md`) and `dsl-engine ops` prints. A test keeps the committed copy
//! current.

use dsl_runtime::ops::{OpId, Output, ParamKind, Receiver};

use super::check::RESAMPLES;

/// Renders the reference as Markdown.
pub fn markdown() -> String {
    let mut out = String::from(
        "<!-- generated from the operator registry by `dsl-engine ops`; do not edit -->\n\
         # Strategy DSL reference\n\n\
         A strategy is finlab-style Python: the finlab preamble, `name = expression` lines and one\n\
         `sim(position, ...)` call. Values are panels (dates × stocks) of floats or bools, and numbers.\n\n\
         - Load a dataset: `data.get(\"table:column\")`, e.g. `data.get(\"price:收盤價\")`.\n\
         - Arithmetic `+ - * /`, comparisons `< <= > >= == !=`, conditions `& | ~`\n  \
           (wrap comparisons in parentheses: `(a > b) & (c < d)`), masking `x[cond]`.\n\
         - Everything else — other imports, `def`, loops, `lambda`, `eval`, dunders,\n  \
           negative shifts — is refused.\n\n\
         ## Panel methods\n\n\
         | method | finlab | receiver | returns | description | example |\n\
         |---|---|---|---|---|---|\n",
    );
    for op in OpId::ALL {
        let s = op.spec();
        let params: Vec<String> = s
            .params
            .iter()
            .map(|p| {
                let (lo, hi) = p.kind.range();
                let kind = match p.kind {
                    ParamKind::Window => "window",
                    ParamKind::Lag => "lag",
                    ParamKind::Count => "count",
                };
                match p.default {
                    Some(d) => format!("{}={d} ({kind} {lo}..{hi})", p.name),
                    None => format!("{} ({kind} {lo}..{hi})", p.name),
                }
            })
            .collect();
        let receiver = match s.receiver {
            Receiver::Numeric => "float/bool",
            Receiver::Bool => "bool",
        };
        let output = match s.output {
            Output::Float => "float",
            Output::Bool => "bool",
            Output::Same => "same as receiver",
        };
        out.push_str(&format!(
            "| `.{}({})` | `{}` | {receiver} | {output} | {} | `{}` |\n",
            s.name,
            params.join(", "),
            s.finlab,
            s.doc,
            s.example
        ));
    }
    out.push_str(&format!(
        "\n## `sim(position, ...)`\n\n\
         | option | default | meaning |\n|---|---|---|\n\
         | `resample` | `None` | `None`: trade when the position changes; {} |\n\
         | `fee_ratio` | `1.425/1000` | fee on every buy and sell |\n\
         | `tax_ratio` | `3/1000` | tax on every sell |\n\
         | `position_limit` | `1` | largest weight of one stock (the rest stays in cash) |\n\
         | `name` | — | a label for reports |\n\n\
         Signals at a date trade on the next bar at the adjusted close.\n",
        RESAMPLES
            .iter()
            .map(|r| format!("`\"{r}\"`"))
            .collect::<Vec<_>>()
            .join(", ")
            + ": month ends / Sundays"
    ));
    out
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
}
