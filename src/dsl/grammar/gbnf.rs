//! GBNF, llama.cpp's grammar syntax (`name ::= expr`, `root` the start). Rule names use `-`
//! (llama.cpp's names take letters, digits and `-` only).

use super::{escape_char, spell, CharClass, Grammar, Spelling};

struct Gbnf;

impl Spelling for Gbnf {
    fn literal(&self, text: &str) -> String {
        let body: String = text.chars().map(|c| escape_char(c, "\"")).collect();
        format!("\"{body}\"")
    }

    fn class(&self, class: &CharClass) -> String {
        let mut body = String::from(if class.negated { "^" } else { "" });
        for &(lo, hi) in &class.ranges {
            body.push_str(&class_char(lo));
            if hi != lo {
                body.push('-');
                body.push_str(&class_char(hi));
            }
        }
        format!("[{body}]")
    }

    fn reference(&self, rule: &str) -> String {
        name(rule)
    }
}

/// A character in a class: llama.cpp knows the escapes `\\ " [ ] n r t x u U`, so a literal
/// `-` or `^` is written in hex.
fn class_char(c: char) -> String {
    match c {
        '-' => "\\x2D".into(),
        '^' => "\\x5E".into(),
        c => escape_char(c, "]["),
    }
}

fn name(rule: &str) -> String {
    rule.replace('_', "-")
}

/// The grammar in GBNF.
pub(super) fn print(g: &Grammar) -> String {
    let mut out = String::from(
        "# The dsl-engine strategy DSL in its canonical layout, generated from the operator \
         registry and the data set's keys by `dsl-engine grammar --format gbnf`; do not edit.\n",
    );
    if let Some(start) = g.rules.first() {
        out.push_str(&format!("root ::= {}\n", name(&start.name)));
    }
    for rule in &g.rules {
        out.push_str(&format!(
            "{} ::= {}\n",
            name(&rule.name),
            spell(&rule.expr, &Gbnf)
        ));
    }
    out
}
