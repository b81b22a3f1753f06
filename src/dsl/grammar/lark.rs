//! Lark, in the subset llguidance (vLLM's `guidance` backend, OpenAI's Lark tools) and the
//! Python `lark` package both read: rules in lower case, terminals (lexical rules) in upper
//! case, regular expressions only as single character classes, `( )?` rather than `[ ]`, no
//! `%ignore` (whitespace is explicit, as in the GBNF grammar).

use std::collections::BTreeSet;

use super::{class_body, escape_char, spell, CharClass, Grammar, Spelling};

struct Lark<'a> {
    terminals: &'a BTreeSet<&'a str>,
}

impl Spelling for Lark<'_> {
    fn literal(&self, text: &str) -> String {
        let body: String = text.chars().map(|c| escape_char(c, "\"")).collect();
        format!("\"{body}\"")
    }

    fn class(&self, class: &CharClass) -> String {
        format!("/[{}]/", class_body(class, "]^-[/"))
    }

    fn reference(&self, rule: &str) -> String {
        if self.terminals.contains(rule) {
            rule.to_ascii_uppercase()
        } else {
            rule.to_string()
        }
    }
}

/// The grammar in Lark (start rule `start`).
pub(super) fn print(g: &Grammar) -> String {
    let terminals: BTreeSet<&str> = g
        .rules
        .iter()
        .filter(|r| r.lexical)
        .map(|r| r.name.as_str())
        .collect();
    let lark = Lark {
        terminals: &terminals,
    };
    let mut out = String::from(
        "// The dsl-engine strategy DSL, generated from the operator registry and the data set's \
         keys by `dsl-engine grammar --format lark`; do not edit.\n",
    );
    if let Some(start) = g.rules.first() {
        out.push_str(&format!("start: {}\n", lark.reference(&start.name)));
    }
    for rule in &g.rules {
        out.push_str(&format!(
            "{}: {}\n",
            lark.reference(&rule.name),
            spell(&rule.expr, &lark)
        ));
    }
    out
}
