//! Properties of the DSL front end over generated input:
//! - the formatter on generated strategies (random layout, comments, redundant parentheses) and
//!   the examples: `fmt(fmt(x)) == fmt(x)`, same syntax tree, same diagnostics, same plan, same
//!   canonical hash;
//! - never-panic fuzzing: random token streams through parse → check → fmt → lower;
//! - the exported grammars (`dsl-engine grammar`): every example and generated strategy is a
//!   sentence of the Lark grammar (as written, by the Python `lark` parser of the oracle venv)
//!   and of the GBNF grammar (in `fmt`'s canonical form, by the recogniser in
//!   `tests/support/ebnf.rs`); sentences sampled from each grammar parse and pass the checker's
//!   name checks (their types aside).
//!
//! Cases per property: 256 by default; `DSL_FUZZ_CASES=200000` for a long run.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use dfmt::{canonical_hash, format_source};
use dsl_engine::dsl::ast::{Arg, Expr, ExprKind, Program, Span, Stmt, StmtKind};
use dsl_engine::dsl::fmt as dfmt;
use dsl_engine::dsl::visit::{
    walk_arg_mut, walk_expr_mut, walk_program_mut, walk_stmt_mut, VisitorMut,
};
use dsl_engine::dsl::{compile, parse, CheckContext};
use dsl_engine::plan::lower;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

mod common;
#[path = "support/ebnf.rs"]
mod ebnf;

fn cases() -> u32 {
    std::env::var("DSL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

// ---- span-free view of a syntax tree ----

/// Resets every span and parentheses flag.
struct Strip;

impl VisitorMut<'_> for Strip {
    fn visit_stmt(&mut self, s: &mut Stmt) {
        s.span = Span::default();
        match &mut s.kind {
            StmtKind::Import(items) | StmtKind::FromImport { names: items, .. } => {
                items.iter_mut().for_each(|i| i.span = Span::default())
            }
            StmtKind::Keyword { keyword_span, .. } => *keyword_span = Span::default(),
            _ => {}
        }
        walk_stmt_mut(self, s);
    }

    fn visit_expr(&mut self, e: &mut Expr) {
        e.span = Span::default();
        e.parens = false;
        match &mut e.kind {
            ExprKind::Binary { op_span, .. } => *op_span = Span::default(),
            ExprKind::Attr { name_span, .. } => *name_span = Span::default(),
            _ => {}
        }
        walk_expr_mut(self, e);
    }

    fn visit_arg(&mut self, a: &mut Arg) {
        a.span = Span::default();
        if let Some((_, s)) = &mut a.name {
            *s = Span::default();
        }
        walk_arg_mut(self, a);
    }
}

/// The tree without spans or parentheses flags, as text (Debug, so NaN equals NaN).
fn shape(p: &Program) -> String {
    let mut p = p.clone();
    walk_program_mut(&mut Strip, &mut p);
    format!("{p:?}")
}

/// The formatter's contract on one source that parses.
fn assert_fmt_properties(src: &str) -> Result<(), TestCaseError> {
    let ctx = CheckContext::default();
    let program = parse(src).map_err(|d| TestCaseError::fail(format!("input: {}", d.message)))?;
    let once = format_source(src).map_err(|d| {
        TestCaseError::fail(format!("formatted text does not parse: {}", d.message))
    })?;
    let twice = format_source(&once)
        .map_err(|d| TestCaseError::fail(format!("second pass: {}", d.message)))?;
    prop_assert_eq!(&twice, &once, "fmt is not idempotent for {:?}", src);
    let reparsed = parse(&once).map_err(|d| TestCaseError::fail(d.message))?;
    prop_assert_eq!(
        shape(&reparsed),
        shape(&program),
        "tree changed: {:?} → {:?}",
        src,
        once
    );
    prop_assert_eq!(
        canonical_hash(&reparsed, &once),
        canonical_hash(&program, src)
    );
    let a = compile(src, &ctx);
    let b = compile(&once, &ctx);
    let diags = |c: &dsl_engine::dsl::Checked| {
        c.diagnostics
            .iter()
            .map(|d| (d.code, d.message.clone(), d.severity))
            .collect::<Vec<_>>()
    };
    prop_assert_eq!(
        diags(&a),
        diags(&b),
        "diagnostics differ: {:?} → {:?}",
        src,
        once
    );
    match (&a.program, &b.program) {
        (Some(pa), Some(pb)) => prop_assert_eq!(lower(pa), lower(pb)),
        (None, None) => {}
        _ => prop_assert!(false, "validity differs"),
    }
    Ok(())
}

#[test]
fn fmt_properties_hold_on_the_examples() {
    for entry in std::fs::read_dir("examples").unwrap() {
        let path = entry.unwrap().path();
        let src = std::fs::read_to_string(&path).unwrap();
        assert!(compile(&src, &CheckContext::default()).program.is_some());
        assert_fmt_properties(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let canonical = dsl_engine::dsl::fmt::format_source(&src).unwrap();
        assert!(
            canonical == src,
            "{} is not canonical: run `dsl-engine fmt` on it",
            path.display()
        );
    }
}

// ---- generated strategies ----

/// Optional whitespace (inside brackets it may include a line break and a comment).
fn ws(in_brackets: bool) -> BoxedStrategy<&'static str> {
    if in_brackets {
        prop_oneof![4 => Just(""), 4 => Just(" "), 1 => Just("  "), 1 => Just("\n    "), 1 => Just("  # note (\n  ")]
            .boxed()
    } else {
        prop_oneof![Just(""), Just(" "), Just("  ")].boxed()
    }
}

fn paren(s: String, wrap: bool) -> String {
    if wrap {
        format!("({s})")
    } else {
        s
    }
}

fn float_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("close".to_string()),
        Just("adj".to_string()),
        Just("vol".to_string()),
        Just("f0".to_string()),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), 1..300i64, ws(true))
                .prop_map(|(e, n, w)| format!("({e}).average({w}{n})")),
            (inner.clone(), 1..30i64, any::<bool>()).prop_map(|(e, n, named)| if named {
                format!("({e}).shift(periods={n})")
            } else {
                format!("({e}).shift({n})")
            }),
            (
                inner.clone(),
                prop_oneof![Just("+"), Just("-"), Just("*"), Just("/")],
                inner.clone(),
                ws(false),
                any::<(bool, bool)>()
            )
                .prop_map(|(a, op, b, w, (pa, pb))| format!(
                    "{}{w}{op}{w}{}",
                    paren(a, pa),
                    paren(b, pb)
                )),
            (
                inner.clone(),
                prop_oneof![Just("+"), Just("*"), Just("/")],
                prop_oneof![
                    Just("1"),
                    Just("2.5"),
                    Just("1.425/1000"),
                    Just("1e3"),
                    Just("1_000")
                ]
            )
                .prop_map(|(a, op, n)| format!("({a}) {op} {n}")),
            inner.clone().prop_map(|a| format!("-({a})")),
            (inner.clone(), bool_leaf()).prop_map(|(a, c)| format!("({a})[{c}]")),
            inner.prop_map(|a| format!("(({a}))")),
        ]
    })
}

fn bool_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("c0".to_string()),
        Just("(close > adj)".to_string()),
        Just("(vol.average(5) >= 1000 * 1000)".to_string()),
        Just("close.rise(3)".to_string()),
    ]
}

fn bool_expr() -> impl Strategy<Value = String> {
    let cmp = (
        float_expr(),
        prop_oneof![Just(">"), Just("<"), Just(">="), Just("<="), Just("==")],
        float_expr(),
        any::<bool>(),
    )
        .prop_map(|(a, op, b, p)| paren(format!("({a}) {op} ({b})"), p));
    let base = prop_oneof![cmp, bool_leaf()];
    base.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop_oneof![Just("&"), Just("|")],
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            inner.clone().prop_map(|a| format!("~({a})")),
            (float_expr(), 1..50i64, any::<bool>()).prop_map(|(f, n, big)| format!(
                "({f}).{}({n})",
                if big { "is_largest" } else { "is_smallest" }
            )),
        ]
    })
}

fn sim_options() -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(
        vec![
            "resample='M'".to_string(),
            "resample = \"W-FRI\"".to_string(),
            "stop_loss=0.08".to_string(),
            "take_profit=.25".to_string(),
            "fee_ratio=1.425/1000".to_string(),
            "position_limit=0.1".to_string(),
            "name=\"generated strategy with a fairly long name to force wrapping\"".to_string(),
        ],
        0..5,
    )
}

fn strategy() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        float_expr(),
        bool_expr(),
        bool_expr(),
        any::<bool>(),
        sim_options(),
        ws(true),
        prop_oneof![Just(""), Just("\n"), Just("\n\n\n"), Just("  # trailing\n")],
        any::<bool>(),
    )
        .prop_map(|(header, f0, c0, cond, largest, opts, w, gap, bind)| {
            let mut s = String::new();
            if header {
                s.push_str("# A generated strategy.\n#\n# Second header line.\n\n");
            }
            s.push_str("from finlab import data\nfrom finlab.backtest import sim\n");
            s.push_str(&format!("close = data.get('price:收盤價'){gap}\n"));
            s.push_str("adj = data.get(\"etl:adj_close\")\nvol=data.get(\"price:成交股數\")\n");
            s.push_str(&format!(
                "f0 = close.average(5){gap}\nc0 = close > adj\nf0 = {f0}\n"
            ));
            s.push_str(&format!("c0 = {c0}\n# the signal\ncond = {cond}\n"));
            if largest {
                s.push_str("position = (f0[cond]).is_largest(10)\n");
            } else {
                s.push_str("position = cond\n");
            }
            let mut args = vec!["position".to_string()];
            args.extend(opts);
            let call = format!("sim({w}{})", args.join(&format!(",{w}")));
            s.push_str(&if bind {
                format!("report = {call}\n")
            } else {
                format!("{call}\n")
            });
            s
        })
}

proptest! {
    #![proptest_config(Config { cases: cases(), ..Config::default() })]

    #[test]
    fn fmt_properties_hold_on_generated_strategies(src in strategy()) {
        let checked = compile(&src, &CheckContext::default());
        prop_assert!(checked.program.is_some(), "generated an invalid strategy: {:?} {:?}", src, checked.diagnostics);
        assert_fmt_properties(&src)?;
    }

    #[test]
    fn parse_check_fmt_lower_never_panic(tokens in proptest::collection::vec(token(), 0..40)) {
        let src: String = tokens.concat();
        let checked = compile(&src, &CheckContext::default());
        if let Some(p) = &checked.program {
            let _ = lower(p);
        }
        if let Ok(program) = parse(&src) {
            // fmt never panics; its full contract is checked where no statement is a refused
            // `def`/`if`/... line: those are printed as opaque text, and garbage in them (a lone
            // quote spanning a line break inside an unclosed bracket) can re-lex differently.
            let _ = format_source(&src);
            if !program.stmts.iter().any(|s| matches!(s.kind, StmtKind::Keyword { .. })) {
                assert_fmt_properties(&src)?;
            }
        }
    }
}

// ---- random token streams ----

fn token() -> impl Strategy<Value = String> {
    const TOKENS: &[&str] = &[
        "close",
        "x",
        "data",
        "sim",
        "np",
        "_a",
        "價格",
        "data.get(\"price:收盤價\")",
        ".average(",
        ".shift(",
        ".is_largest(",
        ".rise(",
        "sim(",
        "position",
        "def",
        "for",
        "lambda",
        "import",
        "from",
        "as",
        "not",
        "and",
        "or",
        "in",
        "is",
        "if",
        "else",
        "True",
        "None",
        "return",
        "+",
        "-",
        "*",
        "/",
        "//",
        "**",
        "%",
        "@",
        "<",
        "<=",
        ">",
        ">=",
        "==",
        "!=",
        "&",
        "|",
        "^",
        "~",
        "<<",
        ">>",
        "=",
        "+=",
        "**=",
        ".",
        ",",
        ":",
        ";",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "'a'",
        "\"b\"",
        "'''t\nq'''",
        "\"unterminated",
        "f'{x}'",
        "r'\\d'",
        "b'x'",
        "'\\''",
        "\"é\\\"\"",
        "1",
        "0",
        "1.5",
        ".5",
        "1e3",
        "1_0",
        "0x1",
        "1j",
        "2520",
        "-1",
        "\n",
        "\n\n",
        " ",
        "  ",
        "\t",
        "\\\n",
        "# c\n",
        "#",
        "\r\n",
        "\u{feff}",
        "\u{3000}",
        "\u{1F600}",
    ];
    prop_oneof![
        8 => proptest::sample::select(TOKENS).prop_map(str::to_string),
        1 => any::<char>().prop_map(|c| c.to_string()),
        1 => proptest::collection::vec(any::<u8>(), 1..4)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        2 => (proptest::sample::select(TOKENS), prop_oneof![Just(" "), Just("")])
            .prop_map(|(t, w)| format!("{t}{w}")),
    ]
}

// ---- the exported grammars ----

use dsl_engine::dsl::grammar::{self, Format};
use dsl_engine::dsl::Code;

/// Sentences sampled from each exported grammar.
const SAMPLES: usize = 1000;

fn catalog_keys() -> Vec<String> {
    dsl_engine::pipeline::catalog_context()
        .datasets
        .unwrap_or_default()
}

fn examples() -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir("examples")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// `n` strategies of the property generator above (a fixed seed).
fn generated(n: usize) -> Vec<String> {
    let mut runner = TestRunner::deterministic();
    let gen = strategy();
    (0..n)
        .map(|_| gen.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// The Python `lark` parser's verdict on each text (`None`: it parses) under `grammar`.
fn lark_verdicts(grammar: &str, texts: &[String]) -> Vec<Option<String>> {
    let dir = tempfile::tempdir().unwrap();
    let (g, inputs) = (dir.path().join("g.lark"), dir.path().join("in.json"));
    std::fs::write(&g, grammar).unwrap();
    std::fs::write(&inputs, serde_json::to_string(texts).unwrap()).unwrap();
    let out = std::process::Command::new(common::oracle_python())
        .arg("tests/finlab/grammar_check.py")
        .arg(&g)
        .arg(&inputs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "grammar_check.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Option<String>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdicts.len(), texts.len());
    verdicts
}

fn assert_lark_parses(grammar: &str, texts: &[String], what: &str) {
    for (text, v) in texts.iter().zip(lark_verdicts(grammar, texts)) {
        assert!(
            v.is_none(),
            "{what}: the Lark grammar refuses\n{text}\n{v:?}"
        );
    }
}

#[test]
fn both_grammars_load_in_llguidance() {
    if !common::oracle_enabled() {
        return;
    }
    let keys = catalog_keys();
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::Gbnf, Format::Lark] {
        let path = dir.path().join(format.as_str());
        std::fs::write(&path, grammar::render(format, &keys)).unwrap();
        let out = std::process::Command::new(common::oracle_python())
            .args([
                "tests/finlab/grammar_check.py",
                "--llguidance",
                format.as_str(),
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "llguidance refuses the {} grammar: {}{}",
            format.as_str(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_example_and_generated_strategy_is_a_sentence_of_both_grammars() {
    let keys = catalog_keys();
    let gbnf = ebnf::Grammar::gbnf(&grammar::render(Format::Gbnf, &keys));
    let mut texts = examples();
    texts.extend(
        common::MORE_OPERATORS
            .iter()
            .map(|s| format!("from finlab import data\nfrom finlab.backtest import sim\n{s}")),
    );
    let n_examples = texts.len();
    texts.extend(generated(cases() as usize));
    for text in &texts {
        let canonical = format_source(text).unwrap();
        assert!(
            gbnf.accepts(&canonical),
            "the GBNF grammar refuses this canonical strategy:\n{canonical}"
        );
    }
    if common::oracle_enabled() {
        assert_lark_parses(&grammar::render(Format::Lark, &keys), &texts, "as written");
    }
    eprintln!(
        "{n_examples} examples and test strategies and {} generated ones: in both grammars",
        texts.len() - n_examples
    );
}

/// Errors a sampled sentence may have: the types and values a context-free grammar does not
/// track. Any other error (an unknown name, key, method, keyword or option, a look-ahead, a
/// missing preamble or `sim`, a syntax error) fails the test.
fn type_error(d: &dsl_engine::dsl::Diagnostic) -> bool {
    use Code::*;
    match d.code {
        InvertNeedsBool | LogicalNeedsBool | BoolArithmetic | InvalidOperand | SeriesOperand
        | DivisionByZero | UnsupportedIndex | MaskNeedsBool | InvalidReceiver | InvalidArgument
        | ArgumentOutOfRange | SimArguments | InvalidSimOption | UnsupportedResample
        | UnknownAttribute => true,
        // `**` of two constants can overflow: a value the grammar does not track.
        InvalidNumber => d.message.contains("**"),
        // A Series (e.g. `quantile_row`) has no methods: its kind, not the method's name.
        UnknownMethod => d.message.contains("date-indexed Series"),
        _ => false,
    }
}

#[test]
fn sentences_sampled_from_the_exported_grammars_parse_and_pass_the_name_checks() {
    let keys = catalog_keys();
    let ctx = CheckContext {
        datasets: Some(keys.clone()),
    };
    let gbnf_text = grammar::render(Format::Gbnf, &keys);
    let lark_text = grammar::render(Format::Lark, &keys);
    let gbnf = ebnf::Grammar::gbnf(&gbnf_text);
    let mut canonical = Vec::new();
    for (format, g) in [
        (Format::Gbnf, ebnf::Grammar::gbnf(&gbnf_text)),
        (Format::Lark, ebnf::Grammar::lark(&lark_text)),
    ] {
        let sampler = ebnf::Sampler::new(&g);
        let mut rng = ebnf::Rng::new(28);
        let (mut sentences, mut draws) = (Vec::new(), 0);
        while sentences.len() < SAMPLES {
            draws += 1;
            assert!(
                draws < 100 * SAMPLES,
                "the sampler rarely finishes a sentence"
            );
            sentences.extend(sampler.sentence(&mut rng));
        }
        let mut typed = 0;
        let mut ops = std::collections::BTreeSet::new();
        for s in &sentences {
            let program = parse(s).unwrap_or_else(|d| {
                panic!("{format:?} sentence does not parse: {}\n{s}", d.message)
            });
            let checked = compile(s, &ctx);
            let errors: Vec<_> = checked
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .collect();
            for d in &errors {
                assert!(
                    type_error(d),
                    "{format:?} sentence fails a name check: {} {}\n{s}",
                    d.code,
                    d.message
                );
            }
            typed += usize::from(!errors.is_empty());
            if format == Format::Gbnf {
                assert!(gbnf.accepts(s), "not in its own grammar:\n{s}");
            }
            let _ = program;
            for op in dsl_runtime::ops::OpId::ALL {
                let name = op.spec().name;
                if s.contains(&format!(".{name}("))
                    || s.contains(&format!("\"{name}\""))
                    || s.contains(&format!(".{name}()"))
                {
                    ops.insert(name);
                }
            }
        }
        eprintln!(
            "{format:?}: {} sentences from {draws} draws parse and pass the name checks; {typed} \
             have type errors; {} of {} operators used",
            sentences.len(),
            ops.len(),
            dsl_runtime::ops::OpId::ALL.len()
        );
        if format == Format::Gbnf {
            canonical = sentences;
        }
    }
    // The canonical sentences are sentences of the lenient grammar too.
    if common::oracle_enabled() {
        assert_lark_parses(&lark_text, &canonical[..200], "a GBNF sentence");
    }
}
