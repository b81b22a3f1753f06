//! Unit tests of the lexical rules (matched here against the IR) and the printers.

use super::*;

/// Whether `e` matches all of `text` (lexical expressions only: no rule references).
fn matches(e: &Expr, text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    ends(e, &chars, 0).contains(&chars.len())
}

fn ends(e: &Expr, s: &[char], at: usize) -> BTreeSet<usize> {
    let one = |x: usize| BTreeSet::from([x]);
    match e {
        Expr::Lit(t) => {
            let t: Vec<char> = t.chars().collect();
            if s.len() >= at + t.len() && s[at..at + t.len()] == t[..] {
                one(at + t.len())
            } else {
                BTreeSet::new()
            }
        }
        Expr::Class(c) => match s.get(at) {
            Some(ch) if c.ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&ch)) != c.negated => {
                one(at + 1)
            }
            _ => BTreeSet::new(),
        },
        Expr::Seq(v) => v.iter().fold(one(at), |acc, x| {
            acc.iter().flat_map(|&p| ends(x, s, p)).collect()
        }),
        Expr::Alt(v) => v.iter().flat_map(|x| ends(x, s, at)).collect(),
        Expr::Opt(x) => {
            let mut r = ends(x, s, at);
            r.insert(at);
            r
        }
        Expr::Star(x) | Expr::Plus(x) => {
            let mut all = if matches!(e, Expr::Star(_)) {
                one(at)
            } else {
                BTreeSet::new()
            };
            let mut frontier = ends(x, s, at);
            while !frontier.is_empty() {
                let fresh: BTreeSet<usize> = frontier.difference(&all).copied().collect();
                all.extend(fresh.iter().copied());
                frontier = fresh.iter().flat_map(|&p| ends(x, s, p)).collect();
                frontier.retain(|p| !all.contains(p));
            }
            all
        }
        other => panic!("not lexical: {other:?}"),
    }
}

#[test]
fn whole_number_ranges_are_exact() {
    for (lo, hi) in [
        (1, 1),
        (1, 9),
        (1, 10),
        (1, 99),
        (3, 47),
        (1, 2520),
        (1, 5000),
        (7, 1234),
    ] {
        let e = lexical::int_range(lo, hi);
        for n in 0..=hi + 150 {
            assert_eq!(
                matches(&e, &n.to_string()),
                (lo..=hi).contains(&n),
                "{n} in {lo}..={hi}"
            );
        }
        assert!(!matches(&e, &format!("0{lo}")), "no leading zero");
        assert!(!matches(&e, ""));
    }
}

#[test]
fn names_exclude_exactly_the_reserved_words() {
    let reserved = lexical::reserved_words();
    for w in [
        "def", "for", "lambda", "not", "and", "True", "None", "import", "data", "sim", "np",
    ] {
        assert!(reserved.contains(w), "{w} is reserved");
    }
    let e = lexical::name(&reserved);
    for w in &reserved {
        assert!(!matches(&e, w), "{w}");
        assert!(matches(&e, &format!("{w}_x")), "{w}_x");
        assert!(matches(&e, &format!("{w}1")), "{w}1");
    }
    for ok in [
        "close", "d", "da", "dat", "datas", "x1", "_a", "Nonet", "n", "no", "nox", "simple",
    ] {
        assert!(matches(&e, ok), "{ok}");
    }
    for bad in ["", "1x", "a-b", "a b", "價格"] {
        assert!(!matches(&e, bad), "{bad}");
    }
}

#[test]
fn numbers_and_string_patterns() {
    let n = lexical::number();
    for ok in ["1", "1.5", ".5", "1.", "1_000", "1e3", "1.425E-3", "2520"] {
        assert!(matches(&n, ok), "{ok}");
    }
    for bad in ["1__0", "_1", "1e", "1j", "0x1", "1e999", "-1"] {
        assert!(!matches(&n, bad), "{bad}");
    }
    let f = lexical::fraction();
    for ok in ["0", "1", "0.2", ".5", "1.00"] {
        assert!(matches(&f, ok), "{ok}");
    }
    for bad in ["1.5", "2", "-0.1"] {
        assert!(!matches(&f, bad), "{bad}");
    }
    let freq = lexical::frequency();
    for ok in ["M", "W-FRI", "M+5", "M-3", "20D", "D", "QS", "W-FRI-1"] {
        assert!(matches(&freq, ok), "{ok}");
        assert!(crate::simspec::Frequency::parse(ok).is_some(), "{ok}");
    }
    for bad in ["X", "0D", "W-FOO", "m"] {
        assert!(!matches(&freq, bad), "{bad}");
    }
    assert!(matches(&lexical::date(), "2024-02-29"));
    assert!(!matches(&lexical::date(), "2024-13-01"));
    for ok in ["2015", "2015-03", "2024-02-29"] {
        assert!(matches(&lexical::partial_date(), ok), "{ok}");
        assert!(crate::calendar::first_day(ok).is_ok(), "{ok}");
    }
    for bad in ["15", "2015-3", "2015-13", "2015-03-1", "2015/03"] {
        assert!(!matches(&lexical::partial_date(), bad), "{bad}");
    }
    for ok in ["1D", "-2D", "D"] {
        assert!(matches(&lexical::day_offset(), ok));
        assert!(crate::simspec::parse_offset(ok).is_some());
    }
}

fn keys() -> Vec<String> {
    crate::pipeline::catalog_context()
        .datasets
        .unwrap_or_default()
}

#[test]
fn both_grammars_name_every_rule_they_use_and_never_an_empty_literal() {
    let ir = ir(&keys());
    for layout in [Layout::Canonical, Layout::Lenient] {
        let g = ir.lowered(layout);
        let names: BTreeSet<&str> = g.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names.len(), g.rules.len(), "rule names are unique");
        fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
            out.push(e);
            match e {
                Expr::Seq(v) | Expr::Alt(v) => v.iter().for_each(|x| walk(x, out)),
                Expr::Opt(x) | Expr::Star(x) | Expr::Plus(x) | Expr::Str(x) => walk(x, out),
                _ => {}
            }
        }
        let lexical: BTreeSet<&str> = g
            .rules
            .iter()
            .filter(|r| r.lexical)
            .map(|r| r.name.as_str())
            .collect();
        for rule in &g.rules {
            let mut nodes = Vec::new();
            walk(&rule.expr, &mut nodes);
            for n in nodes {
                match n {
                    Expr::Ref(x) => {
                        assert!(
                            names.contains(x.as_str()),
                            "{} uses undefined {x}",
                            rule.name
                        );
                        assert!(
                            !rule.lexical || lexical.contains(x.as_str()),
                            "terminal {} uses rule {x}",
                            rule.name
                        );
                    }
                    Expr::Lit(t) => assert!(!t.is_empty(), "empty literal in {}", rule.name),
                    Expr::Pad { .. } | Expr::Sep | Expr::Eol | Expr::Gap | Expr::Str(_) => {
                        panic!("layout left in {}", rule.name)
                    }
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn the_grammars_enumerate_the_registry_and_the_keys() {
    let keys = keys();
    let gbnf = render(Format::Gbnf, &keys);
    let lark = render(Format::Lark, &keys);
    for text in [&gbnf, &lark] {
        for op in dsl_runtime::ops::OpId::ALL {
            let s = op.spec();
            assert!(text.contains(&format!("\"{}", s.name)), "{}", s.name);
            // `loc`'s dates are the bounds of its subscript, not keywords.
            let keywords = if s.form == dsl_runtime::ops::Form::Loc {
                &[][..]
            } else {
                s.params
            };
            for p in keywords {
                assert!(
                    text.contains(&format!("\"{}\"", p.name)),
                    "{}.{}",
                    s.name,
                    p.name
                );
            }
        }
        for k in keys.iter().filter(|k| k.contains(':')) {
            assert!(text.contains(&format!("\"{k}\"")), "{k}");
        }
        for o in crate::dsl::sim_args::SIM_OPTIONS {
            assert!(text.contains(&format!("\"{o}\"")), "{o}");
        }
    }
    assert!(gbnf.starts_with("# ") && gbnf.contains("\nroot ::= strategy\n"));
    assert!(lark.contains("\nstart: strategy\n") && lark.contains("NAME: "));
    // Only the keys given: a data set without a key cannot load it.
    let fewer: Vec<String> = keys
        .iter()
        .filter(|k| !k.contains("收盤價"))
        .cloned()
        .collect();
    assert!(!render(Format::Gbnf, &fewer).contains("price:收盤價"));
}

#[test]
fn the_operators_written_are_the_parsers() {
    // Every operator literal of the expression rules is a token of `strategy.pest`.
    let pest = include_str!("../../../grammar/strategy.pest");
    for op in [
        "<=", ">=", "==", "!=", "<", ">", "|", "&", "+", "-", "*", "/", "~",
    ] {
        assert!(pest.contains(&format!("\"{op}\"")), "{op}");
    }
}
