//! The lexical rules: names (every identifier but the reserved words, which are read from
//! `grammar/strategy.pest`), numbers, whole numbers in a range, and the patterns of the string
//! options of `sim(...)`.

use std::collections::{BTreeMap, BTreeSet};

use pest_meta::ast::Expr as PestExpr;

use super::{alt, lit, opt, plus, seq, star, CharClass, Expr};
use crate::simspec::{TradeAt, NAMED_RULES, WEEKDAYS};

/// The parser's grammar, whose keyword rules name the words a variable cannot be.
const PEST: &str = include_str!("../../../grammar/strategy.pest");

/// Names the checker binds before the strategy runs (`data`, `sim`, `abs`) and the module alias
/// the grammar's `np.` calls read: a strategy that assigns one of them breaks it.
const BOUND: &[&str] = &["data", "sim", "abs", "np"];

/// Every word an assigned name cannot be: the keywords of `strategy.pest` (`keyword`,
/// `stmt_keyword`) and [`BOUND`].
pub(super) fn reserved_words() -> BTreeSet<String> {
    let mut words: BTreeSet<String> = BOUND.iter().map(|w| w.to_string()).collect();
    let rules = pest_meta::parser::parse(pest_meta::parser::Rule::grammar_rules, PEST)
        .ok()
        .and_then(|pairs| pest_meta::parser::consume_rules(pairs).ok())
        .unwrap_or_default();
    for rule in rules
        .iter()
        .filter(|r| r.name == "keyword" || r.name == "stmt_keyword")
    {
        strings(&rule.expr, &mut words);
    }
    words
}

/// The alphabetic string literals of a pest expression.
fn strings(e: &PestExpr, out: &mut BTreeSet<String>) {
    match e {
        PestExpr::Str(s) if s.chars().all(char::is_alphabetic) => {
            out.insert(s.clone());
        }
        PestExpr::Seq(a, b) | PestExpr::Choice(a, b) => {
            strings(a, out);
            strings(b, out);
        }
        PestExpr::Opt(a)
        | PestExpr::Rep(a)
        | PestExpr::RepOnce(a)
        | PestExpr::PosPred(a)
        | PestExpr::NegPred(a) => strings(a, out),
        _ => {}
    }
}

fn start_chars() -> CharClass {
    CharClass::of(&[('A', 'Z'), ('_', '_'), ('a', 'z')])
}

fn name_chars() -> CharClass {
    CharClass::of(&[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')])
}

/// An ASCII identifier that is none of `reserved`: the complement of the words, read from
/// their trie (at each node: a child's letter and its subtree, or any other letter and any
/// tail; the node itself ends a name unless it is a reserved word).
pub(super) fn name(reserved: &BTreeSet<String>) -> Expr {
    #[derive(Default)]
    struct Node {
        word: bool,
        children: BTreeMap<char, Node>,
    }
    fn insert(node: &mut Node, word: &str) {
        match word.chars().next() {
            None => node.word = true,
            Some(c) => insert(node.children.entry(c).or_default(), &word[c.len_utf8()..]),
        }
    }
    fn expr(node: &Node, first: bool) -> Expr {
        let class = if first { start_chars() } else { name_chars() };
        let used: BTreeSet<char> = node.children.keys().copied().collect();
        let mut alts: Vec<Expr> = node
            .children
            .iter()
            .map(|(c, child)| seq(vec![lit(&c.to_string()), expr(child, false)]))
            .collect();
        let others = class.minus(&used);
        if !others.is_empty() {
            alts.push(seq(vec![
                Expr::Class(others),
                star(Expr::Class(name_chars())),
            ]));
        }
        if first || node.word {
            alt(alts)
        } else {
            opt(alt(alts))
        }
    }
    let mut root = Node::default();
    for w in reserved
        .iter()
        .filter(|w| w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        insert(&mut root, w);
    }
    expr(&root, true)
}

fn digit() -> Expr {
    Expr::Class(CharClass::of(&[('0', '9')]))
}

fn digit_range(lo: u8, hi: u8) -> Expr {
    if lo == hi {
        return lit(&char::from(b'0' + lo).to_string());
    }
    Expr::Class(CharClass::of(&[(
        char::from(b'0' + lo),
        char::from(b'0' + hi),
    )]))
}

/// A Python number literal: digits (with single underscores between them), a fraction, an
/// exponent of at most two digits (so it stays finite); no imaginary part.
pub(super) fn number() -> Expr {
    let digits = seq(vec![digit(), star(seq(vec![opt(lit("_")), digit()]))]);
    let mantissa = alt(vec![
        seq(vec![
            digits.clone(),
            opt(seq(vec![lit("."), opt(digits.clone())])),
        ]),
        seq(vec![lit("."), digits]),
    ]);
    let sign = Expr::Class(CharClass::of(&[('+', '+'), ('-', '-')]));
    let e = Expr::Class(CharClass::of(&[('E', 'E'), ('e', 'e')]));
    let exponent = seq(vec![e, opt(sign), digit(), opt(digit())]);
    seq(vec![mantissa, opt(exponent)])
}

/// A number in `0..=1` as written in a fraction argument (`0.2`, `.5`, `1`).
pub(super) fn fraction() -> Expr {
    alt(vec![
        seq(vec![lit("0"), opt(seq(vec![lit("."), plus(digit())]))]),
        seq(vec![lit("1"), opt(seq(vec![lit("."), plus(lit("0"))]))]),
        seq(vec![lit("."), plus(digit())]),
    ])
}

/// A whole number in `lo..=hi` (`1 <= lo`), without leading zeros.
pub(super) fn int_range(lo: u64, hi: u64) -> Expr {
    let mut alts = Vec::new();
    let mut start = lo;
    while start <= hi {
        let width = start.to_string().len() as u32;
        let end = hi.min(10u64.pow(width) - 1);
        alts.push(same_width(&digits_of(start), &digits_of(end)));
        start = end + 1;
    }
    alt(alts)
}

fn digits_of(n: u64) -> Vec<u8> {
    n.to_string().bytes().map(|b| b - b'0').collect()
}

/// Numbers of one width between `lo` and `hi` (digit strings of equal length).
fn same_width(lo: &[u8], hi: &[u8]) -> Expr {
    let (Some(&l), Some(&h)) = (lo.first(), hi.first()) else {
        return lit("");
    };
    let rest = lo.len() - 1;
    if rest == 0 {
        return digit_range(l, h);
    }
    let any = |n: usize| seq(vec![digit(); n]);
    if l == h {
        return seq(vec![digit_range(l, l), same_width(&lo[1..], &hi[1..])]);
    }
    let lo_full = lo[1..].iter().all(|d| *d == 0);
    let hi_full = hi[1..].iter().all(|d| *d == 9);
    let mut alts = Vec::new();
    let (first_mid, last_mid) = (
        if lo_full { l } else { l + 1 },
        if hi_full { h } else { h - 1 },
    );
    if !lo_full {
        alts.push(seq(vec![
            digit_range(l, l),
            same_width(&lo[1..], &vec![9; rest]),
        ]));
    }
    if first_mid <= last_mid {
        alts.push(seq(vec![digit_range(first_mid, last_mid), any(rest)]));
    }
    if !hi_full {
        alts.push(seq(vec![
            digit_range(h, h),
            same_width(&vec![0; rest], &hi[1..]),
        ]));
    }
    alt(alts)
}

/// A `resample` frequency as `simspec::Frequency::parse` reads it (upper case): a named rule,
/// `W-<weekday>` or `<n>D`, optionally shifted by `+n` / `-n` days.
pub(super) fn frequency() -> Expr {
    let mut names: Vec<Expr> = NAMED_RULES.iter().map(|(n, _)| lit(n)).collect();
    names.push(seq(vec![
        lit("W-"),
        alt(WEEKDAYS.iter().map(|d| lit(d)).collect()),
    ]));
    names.push(seq(vec![opt(int_range(1, 999)), lit("D")]));
    let sign = Expr::Class(CharClass::of(&[('+', '+'), ('-', '-')]));
    seq(vec![alt(names), opt(seq(vec![sign, int_range(1, 99)]))])
}

/// A `resample_offset` in days (`"1D"`, `"-2D"`).
pub(super) fn day_offset() -> Expr {
    seq(vec![opt(lit("-")), opt(int_range(1, 999)), lit("D")])
}

fn year() -> Expr {
    seq(vec![digit_range(1, 2), digit(), digit(), digit()])
}

fn month() -> Expr {
    alt(vec![
        seq(vec![lit("0"), digit_range(1, 9)]),
        seq(vec![lit("1"), digit_range(0, 2)]),
    ])
}

fn day() -> Expr {
    alt(vec![
        seq(vec![lit("0"), digit_range(1, 9)]),
        seq(vec![digit_range(1, 2), digit()]),
        seq(vec![lit("3"), digit_range(0, 1)]),
    ])
}

/// A `YYYY-MM-DD` date.
pub(super) fn date() -> Expr {
    seq(vec![year(), lit("-"), month(), lit("-"), day()])
}

/// A `YYYY`, `YYYY-MM` or `YYYY-MM-DD` date, as `.loc[start:end]` takes it.
pub(super) fn partial_date() -> Expr {
    let day = opt(seq(vec![lit("-"), day()]));
    seq(vec![year(), opt(seq(vec![lit("-"), month(), day]))])
}

/// `trade_at_price`'s spellings.
pub(super) fn trade_at() -> Vec<String> {
    TradeAt::NAMES.iter().map(|s| s.to_string()).collect()
}

/// A character of free text in a string: no quote, backslash or line break.
pub(super) fn text_char() -> Expr {
    Expr::Class(CharClass::not(&[
        ('\n', '\n'),
        ('\r', '\r'),
        ('"', '"'),
        ('\'', '\''),
        ('\\', '\\'),
    ]))
}
