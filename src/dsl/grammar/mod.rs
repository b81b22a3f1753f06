//! The DSL as context-free grammars for constrained decoding: GBNF (llama.cpp's server, the
//! `grammar` field) and Lark (vLLM's structured outputs, llguidance). [`build`] makes one small
//! grammar IR from the shape of `grammar/strategy.pest` (its statements, expressions and tokens,
//! narrowed to what the checker accepts), the operator registry and the data set's keys; the
//! printers write it in either syntax. Nothing is listed by hand: dataset keys, methods and
//! their keyword names, indicator names and outputs, and the `sim(...)` options come from the
//! registry, the keys and `sim_args`, so a new operator or key flows in.
//!
//! The grammars enumerate every name a strategy may use and the kind of each scalar argument
//! (a window is a whole number in range, a flag `True`/`False`, a choice one of its strings), so
//! an unknown key, method, keyword or indicator, a look-ahead `shift(-1)`, `rank(axis=0)`,
//! `and`/`or`, a chained comparison, a second `sim(...)` or a missing preamble cannot be
//! written. What a context-free grammar cannot carry is left to the checker: scope (a name read
//! must be bound earlier; `np.` needs `import numpy as np`) and the types of panel expressions.
//!
//! Layout: the GBNF grammar takes the `dsl-engine fmt` canonical layout (Python spacing, a line
//! break and indentation only inside brackets, `#` comments on their own lines or two spaces
//! after a statement); the Lark grammar takes any layout the parser takes (spaces, line breaks
//! and comments inside brackets, either quote). Both come from the same IR: layout is a node
//! ([`Expr::Pad`], [`Expr::Eol`], …) that [`Grammar::lowered`] spells per [`Layout`].
//!
//! Rules that bind or read names keep fixed names, so a sampler can track scope:
//! [`VAR_DEF`], [`VAR_REF`], [`REPORT_DEF`], [`REPORT_REF`], [`NP_IMPORT`] and [`NP_REF`].

mod build;
mod gbnf;
mod lark;
mod lexical;

use std::collections::BTreeSet;

/// A name bound by an assignment (or unpacking).
pub const VAR_DEF: &str = "var_def";
/// A name read in an expression: must be bound by an earlier [`VAR_DEF`].
pub const VAR_REF: &str = "var_ref";
/// The name `sim(...)`'s report is bound to.
pub const REPORT_DEF: &str = "report_def";
/// A call on the report (`report.display()`): the name bound by [`REPORT_DEF`].
pub const REPORT_REF: &str = "report_ref";
/// `import numpy as np`.
pub const NP_IMPORT: &str = "np_import";
/// `np` in `np.log(...)`: needs [`NP_IMPORT`].
pub const NP_REF: &str = "np_ref";

/// The grammar syntaxes `dsl-engine grammar` writes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// llama.cpp's GBNF, in the canonical (`dsl-engine fmt`) layout.
    Gbnf,
    /// Lark (llguidance's subset), in any layout the parser takes.
    Lark,
}

impl Format {
    /// The lowercase name (`gbnf`, `lark`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Gbnf => "gbnf",
            Format::Lark => "lark",
        }
    }
}

/// The grammar of strategies that may load `datasets` (the checker's keys: a data set's
/// [`allowed_keys`](crate::data::DataDir::allowed_keys) or the catalog's), in `format`.
pub fn render(format: Format, datasets: &[String]) -> String {
    let ir = build::strategy(datasets);
    match format {
        Format::Gbnf => gbnf::print(&ir.lowered(Layout::Canonical)),
        Format::Lark => lark::print(&ir.lowered(Layout::Lenient)),
    }
}

/// The IR, before layout is spelled (for tests and inspection).
pub fn ir(datasets: &[String]) -> Grammar {
    build::strategy(datasets)
}

/// A set of characters: ranges, or everything but them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharClass {
    pub negated: bool,
    pub ranges: Vec<(char, char)>,
}

impl CharClass {
    /// The characters of `ranges`.
    pub fn of(ranges: &[(char, char)]) -> CharClass {
        CharClass {
            negated: false,
            ranges: ranges.to_vec(),
        }
    }

    /// Every character but those of `ranges`.
    pub fn not(ranges: &[(char, char)]) -> CharClass {
        CharClass {
            negated: true,
            ranges: ranges.to_vec(),
        }
    }

    /// This (positive) class without `chars`.
    pub fn minus(&self, chars: &BTreeSet<char>) -> CharClass {
        let mut ranges = Vec::new();
        for &(lo, hi) in &self.ranges {
            let mut start = Some(lo);
            for c in chars.iter().copied().filter(|c| (lo..=hi).contains(c)) {
                if let Some(s) = start.filter(|s| *s < c) {
                    ranges.push((s, prev(c)));
                }
                start = next(c).filter(|n| *n <= hi);
            }
            if let Some(s) = start {
                ranges.push((s, hi));
            }
        }
        CharClass {
            negated: self.negated,
            ranges,
        }
    }

    /// Whether the class holds no character.
    pub fn is_empty(&self) -> bool {
        !self.negated && self.ranges.is_empty()
    }
}

fn prev(c: char) -> char {
    char::from_u32(c as u32 - 1).unwrap_or(c)
}

fn next(c: char) -> Option<char> {
    char::from_u32(c as u32 + 1)
}

/// A grammar expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// This exact text.
    Lit(String),
    /// One character of the class.
    Class(CharClass),
    /// Another rule.
    Ref(String),
    Seq(Vec<Expr>),
    Alt(Vec<Expr>),
    Opt(Box<Expr>),
    Star(Box<Expr>),
    Plus(Box<Expr>),
    /// Spacing between two tokens whose canonical form is `canonical` (`""` or `" "`);
    /// `nested`: inside brackets, where a line break (and, leniently, a comment) may stand.
    Pad {
        canonical: &'static str,
        nested: bool,
    },
    /// The space that separates two words (`import numpy`).
    Sep,
    /// The end of a statement's line, with an optional trailing comment.
    Eol,
    /// Blank and comment lines between statements.
    Gap,
    /// A string literal whose text (between the quotes) matches the expression.
    Str(Box<Expr>),
}

/// A rule: its name, whether it is lexical (a terminal: only literals, classes and other
/// lexical rules) and its expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub name: String,
    pub lexical: bool,
    pub expr: Expr,
}

/// Rules, the first one the start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grammar {
    pub rules: Vec<Rule>,
}

/// How layout nodes are spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `dsl-engine fmt`'s layout.
    Canonical,
    /// Whatever the parser takes.
    Lenient,
}

/// Helper rules the layout nodes lower to. Spacing is a rule that may match nothing (rather
/// than an optional token), so an Earley parser does not multiply a rule's alternatives by the
/// optional spaces in it.
const WS: &str = "ws";
const NWS: &str = "nws";
const BRK: &str = "brk";
const COMMENT: &str = "comment";
const PAD_TOP: &str = "pad_top";
const PAD_IN: &str = "pad_in";
const PAD_TIGHT: &str = "pad_tight";
const PAD_SPACE: &str = "pad_space";

impl Grammar {
    /// The rule named `name`.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// The grammar with every layout node spelled for `layout` (and the rules they use added).
    pub fn lowered(&self, layout: Layout) -> Grammar {
        let mut rules: Vec<Rule> = self
            .rules
            .iter()
            .map(|r| Rule {
                name: r.name.clone(),
                lexical: r.lexical,
                expr: lower(&r.expr, layout),
            })
            .collect();
        let line_end = Expr::Class(CharClass::not(&[('\n', '\n'), ('\r', '\r')]));
        rules.push(lexical(COMMENT, seq(vec![lit("#"), star(line_end)])));
        match layout {
            Layout::Canonical => {
                rules.push(rule(BRK, seq(vec![lit("\n"), opt(lit("    "))])));
                rules.push(rule(PAD_TIGHT, opt(r(BRK))));
                rules.push(rule(PAD_SPACE, alt(vec![lit(" "), r(BRK)])));
            }
            Layout::Lenient => {
                let blank = |chars: &[char]| {
                    let ranges: Vec<(char, char)> = chars.iter().map(|c| (*c, *c)).collect();
                    Expr::Class(CharClass::of(&ranges))
                };
                rules.push(lexical(WS, plus(blank(&[' ', '\t']))));
                let any_blank = blank(&['\t', '\n', '\r', ' ']);
                // A comment runs to the end of its line.
                let comment_line = seq(vec![r(COMMENT), lit("\n")]);
                rules.push(lexical(NWS, plus(alt(vec![any_blank, comment_line]))));
                rules.push(rule(PAD_TOP, opt(r(WS))));
                rules.push(rule(PAD_IN, opt(r(NWS))));
            }
        }
        Grammar { rules }
    }
}

fn lower(e: &Expr, layout: Layout) -> Expr {
    let canonical = layout == Layout::Canonical;
    let each = |v: &[Expr]| v.iter().map(|x| lower(x, layout)).collect::<Vec<_>>();
    match e {
        Expr::Seq(v) => seq(each(v)),
        Expr::Alt(v) => alt(each(v)),
        Expr::Opt(x) => opt(lower(x, layout)),
        Expr::Star(x) => star(lower(x, layout)),
        Expr::Plus(x) => plus(lower(x, layout)),
        Expr::Pad {
            canonical: c,
            nested,
        } => match (canonical, nested, *c) {
            (true, false, c) => lit(c),
            (true, true, "") => r(PAD_TIGHT),
            (true, true, _) => r(PAD_SPACE),
            (false, false, _) => r(PAD_TOP),
            (false, true, _) => r(PAD_IN),
        },
        Expr::Sep if canonical => lit(" "),
        Expr::Sep => r(WS),
        Expr::Eol if canonical => seq(vec![opt(seq(vec![lit("  "), r(COMMENT)])), lit("\n")]),
        Expr::Eol => seq(vec![r(PAD_TOP), opt(r(COMMENT)), lit("\n")]),
        // At most one blank line in a row, as `fmt` writes them.
        Expr::Gap if canonical => seq(vec![
            opt(lit("\n")),
            star(seq(vec![r(COMMENT), lit("\n"), opt(lit("\n"))])),
        ]),
        Expr::Gap => star(seq(vec![r(PAD_TOP), opt(r(COMMENT)), lit("\n")])),
        Expr::Str(body) => {
            let body = lower(body, layout);
            let quoted = |q: &str| seq(vec![lit(q), body.clone(), lit(q)]);
            if canonical {
                quoted("\"")
            } else {
                alt(vec![quoted("\""), quoted("'")])
            }
        }
        Expr::Lit(_) | Expr::Class(_) | Expr::Ref(_) => e.clone(),
    }
}

/// How a printer spells the atoms of an expression; [`spell`] does the rest.
trait Spelling {
    fn literal(&self, text: &str) -> String;
    fn class(&self, class: &CharClass) -> String;
    fn reference(&self, rule: &str) -> String;
}

/// An expression in EBNF notation (`|`, juxtaposition, `( )`, `?`, `*`, `+`), which GBNF and
/// Lark share.
fn spell(e: &Expr, s: &dyn Spelling) -> String {
    match e {
        Expr::Alt(v) => v
            .iter()
            .map(|x| spell(x, s))
            .collect::<Vec<_>>()
            .join(" | "),
        Expr::Seq(v) => v
            .iter()
            .map(|x| match x {
                Expr::Alt(_) => format!("({})", spell(x, s)),
                _ => spell(x, s),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Expr::Opt(x) => format!("{}?", spell_atom(x, s)),
        Expr::Star(x) => format!("{}*", spell_atom(x, s)),
        Expr::Plus(x) => format!("{}+", spell_atom(x, s)),
        Expr::Lit(t) => s.literal(t),
        Expr::Class(c) => s.class(c),
        Expr::Ref(n) => s.reference(n),
        // Layout is lowered before printing; a node left over reads as nothing.
        Expr::Pad { .. } | Expr::Sep | Expr::Eol | Expr::Gap | Expr::Str(_) => s.literal(""),
    }
}

fn spell_atom(e: &Expr, s: &dyn Spelling) -> String {
    match e {
        Expr::Lit(_) | Expr::Class(_) | Expr::Ref(_) => spell(e, s),
        _ => format!("({})", spell(e, s)),
    }
}

/// `c` escaped for a double-quoted literal or a character class (`extra`: characters that
/// need a backslash there besides `\`).
fn escape_char(c: char, extra: &str) -> String {
    match c {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        '\\' => "\\\\".into(),
        c if extra.contains(c) => format!("\\{c}"),
        c => c.to_string(),
    }
}

/// The body of a character class (`^` first when negated), with `extra` escaped.
fn class_body(class: &CharClass, extra: &str) -> String {
    let mut out = String::new();
    if class.negated {
        out.push('^');
    }
    for &(lo, hi) in &class.ranges {
        out.push_str(&escape_char(lo, extra));
        if hi != lo {
            out.push('-');
            out.push_str(&escape_char(hi, extra));
        }
    }
    out
}

// ---- constructors ----

pub(crate) fn lit(s: &str) -> Expr {
    Expr::Lit(s.to_string())
}

pub(crate) fn r(name: &str) -> Expr {
    Expr::Ref(name.to_string())
}

/// A sequence, flattened; an empty literal is dropped.
pub(crate) fn seq(items: Vec<Expr>) -> Expr {
    let mut out = Vec::new();
    for i in items {
        match i {
            Expr::Seq(inner) => out.extend(inner),
            Expr::Lit(s) if s.is_empty() => {}
            other => out.push(other),
        }
    }
    if out.len() == 1 {
        out.pop().unwrap_or(Expr::Seq(Vec::new()))
    } else {
        Expr::Seq(out)
    }
}

pub(crate) fn alt(items: Vec<Expr>) -> Expr {
    let mut out = Vec::new();
    for i in items {
        match i {
            Expr::Alt(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    if out.len() == 1 {
        out.pop().unwrap_or(Expr::Alt(Vec::new()))
    } else {
        Expr::Alt(out)
    }
}

pub(crate) fn opt(e: Expr) -> Expr {
    match e {
        Expr::Lit(s) if s.is_empty() => e_empty(),
        other => Expr::Opt(Box::new(other)),
    }
}

fn e_empty() -> Expr {
    Expr::Lit(String::new())
}

pub(crate) fn star(e: Expr) -> Expr {
    Expr::Star(Box::new(e))
}

pub(crate) fn plus(e: Expr) -> Expr {
    Expr::Plus(Box::new(e))
}

pub(crate) fn rule(name: &str, expr: Expr) -> Rule {
    Rule {
        name: name.to_string(),
        lexical: false,
        expr,
    }
}

pub(crate) fn lexical(name: &str, expr: Expr) -> Rule {
    Rule {
        name: name.to_string(),
        lexical: true,
        expr,
    }
}

#[cfg(test)]
mod tests;
