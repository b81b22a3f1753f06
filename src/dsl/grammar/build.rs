//! Builds the grammar IR: statements as `strategy.pest` has them (the finlab preamble, `name =
//! expression` lines, one `sim(...)` statement), expressions as chains of the operators the
//! checker types (one comparison, no `and`/`or`/`not`), and every registry operator, dataset
//! key and `sim` option as an alternative with its own arguments.

use std::collections::BTreeSet;

use dsl_runtime::ops::{Form, OpId, OpSpec, ParamDefault, ParamKind, ParamSpec};

use super::lexical;
use super::{
    alt, lexical as lex_rule, lit, opt, r, rule, seq, star, Expr, Grammar, Rule, NP_IMPORT, NP_REF,
    REPORT_DEF, REPORT_REF, VAR_DEF, VAR_REF,
};
use crate::dsl::sim_args::{option_kind, OptionKind, SIM_OPTIONS};

/// The grammar of strategies that may load `datasets`.
pub(super) fn strategy(datasets: &[String]) -> Grammar {
    let mut b = Builder {
        rules: Vec::new(),
        defined: BTreeSet::new(),
        keys: datasets
            .iter()
            .filter(|k| k.contains(':'))
            .cloned()
            .collect(),
    };
    b.keys.sort();
    b.keys.dedup();
    b.statements();
    b.expressions();
    b.operators();
    b.lexical();
    Grammar { rules: b.rules }
}

struct Builder {
    rules: Vec<Rule>,
    defined: BTreeSet<String>,
    /// Keys `data.get` may load (`table:column`).
    keys: Vec<String>,
}

/// Spacing around a binary operator or `=`.
fn pad(nested: bool) -> Expr {
    Expr::Pad {
        canonical: " ",
        nested,
    }
}

/// Spacing inside brackets whose canonical form is nothing.
fn tight() -> Expr {
    Expr::Pad {
        canonical: "",
        nested: true,
    }
}

/// `, ` between arguments (a rule: the states of a call repeat it).
fn comma() -> Expr {
    r("comma")
}

/// `name = ` of an assignment.
fn assign() -> Expr {
    seq(vec![pad(false), lit("="), pad(false)])
}

fn words(ws: &[&str]) -> Expr {
    let mut items = Vec::new();
    for (i, w) in ws.iter().enumerate() {
        if i > 0 {
            items.push(Expr::Sep);
        }
        items.push(lit(w));
    }
    seq(items)
}

/// Whether an operator can run on this data: an indicator needs its price panels.
fn available(spec: &OpSpec, keys: &[String]) -> bool {
    spec.prices
        .iter()
        .all(|f| keys.iter().any(|k| k == f.key(false)))
}

impl Builder {
    fn add(&mut self, rule: Rule) {
        if self.defined.insert(rule.name.clone()) {
            self.rules.push(rule);
        }
    }

    fn ops(&self, form: Form) -> Vec<&'static OpSpec> {
        OpId::ALL
            .iter()
            .map(|o| o.spec())
            .filter(|s| s.form == form && available(s, &self.keys))
            .collect()
    }

    fn statements(&mut self) {
        self.add(rule(
            "strategy",
            seq(vec![
                Expr::Gap,
                r("preamble"),
                star(seq(vec![r("statement"), Expr::Eol, Expr::Gap])),
                r("backtest"),
                Expr::Gap,
            ]),
        ));
        self.add(rule(
            "preamble",
            seq(vec![
                words(&["from", "finlab", "import", "data"]),
                Expr::Eol,
                Expr::Gap,
                words(&["from", "finlab.backtest", "import", "sim"]),
                Expr::Eol,
                Expr::Gap,
                opt(seq(vec![r(NP_IMPORT), Expr::Eol, Expr::Gap])),
            ]),
        ));
        self.add(rule(NP_IMPORT, words(&["import", "numpy", "as", "np"])));
        let multi = self.unpackings();
        let mut statement = vec![r("assignment")];
        if let Some(m) = multi {
            statement.push(m);
        }
        self.add(rule("statement", alt(statement)));
        self.add(rule(
            "assignment",
            seq(vec![r(VAR_DEF), assign(), r("expr_top")]),
        ));
        let report_call = seq(vec![
            Expr::Gap,
            r(REPORT_REF),
            lit("."),
            r("name"),
            lit("()"),
            Expr::Eol,
        ]);
        self.add(rule(
            "backtest",
            alt(vec![
                seq(vec![r("sim_call"), Expr::Eol]),
                seq(vec![
                    r(REPORT_DEF),
                    assign(),
                    r("sim_call"),
                    Expr::Eol,
                    star(report_call),
                ]),
            ]),
        ));
        for name in [VAR_DEF, VAR_REF, REPORT_DEF, REPORT_REF] {
            self.add(rule(name, r("name")));
        }
        self.add(rule(NP_REF, lit("np")));
        self.sim();
    }

    /// `a, b, c = data.indicator("MACD", ...)`: one alternative per multi-output indicator, with
    /// exactly as many names as it has outputs.
    fn unpackings(&mut self) -> Option<Expr> {
        let mut alts = Vec::new();
        for spec in self.ops(Form::Indicator) {
            if spec.outputs.len() < 2 {
                continue;
            }
            let mut targets = vec![r(VAR_DEF)];
            for _ in 1..spec.outputs.len() {
                targets.push(comma_top());
                targets.push(r(VAR_DEF));
            }
            targets.push(assign());
            targets.push(self.indicator(spec));
            alts.push(seq(targets));
        }
        if alts.is_empty() {
            return None;
        }
        self.add(rule("unpacking", alt(alts)));
        Some(r("unpacking"))
    }

    /// `sim(position, option=value, ...)`: every accepted option, in any order.
    fn sim(&mut self) {
        let mut options = Vec::new();
        for name in SIM_OPTIONS {
            let Some(kind) = option_kind(name) else {
                continue;
            };
            let none = || lit("None");
            let value = match kind {
                OptionKind::Resample => alt(vec![none(), Expr::Str(Box::new(r("frequency")))]),
                OptionKind::DayOffset => alt(vec![none(), Expr::Str(Box::new(r("day_offset")))]),
                OptionKind::TradeAt => Expr::Str(Box::new(alt(lexical::trade_at()
                    .iter()
                    .map(|s| lit(s))
                    .collect()))),
                OptionKind::Date => alt(vec![none(), Expr::Str(Box::new(r("date")))]),
                OptionKind::Label => Expr::Str(Box::new(opt(r("text")))),
                OptionKind::Number { nullable: true } => alt(vec![r("constant"), none()]),
                OptionKind::Number { nullable: false } => r("constant"),
                OptionKind::Flag => alt(vec![lit("True"), lit("False")]),
            };
            options.push(keyword(name, value));
        }
        self.add(rule("sim_option", alt(options)));
        self.add(rule(
            "sim_call",
            seq(vec![
                lit("sim("),
                tight(),
                r("expr_in"),
                star(seq(vec![comma(), r("sim_option")])),
                opt(lit(",")),
                tight(),
                lit(")"),
            ]),
        ));
    }

    /// Expressions: a chain of factors joined by binary operators, compared at most once. Any
    /// such chain is a sentence whatever Python's precedence makes of it, so the operators share
    /// one level (fewer rules for the decoder and for an Earley parser). Written twice: at the
    /// top of a statement (no line breaks) and inside brackets.
    fn expressions(&mut self) {
        let binary = ["|", "&", "+", "-", "**", "*", "/"];
        self.add(rule(
            "binary_op",
            alt(binary.iter().map(|o| lit(o)).collect()),
        ));
        for (ctx, nested) in [("top", false), ("in", true)] {
            let chain = format!("chain_{ctx}");
            self.add(rule(
                &format!("expr_{ctx}"),
                seq(vec![
                    r(&chain),
                    opt(seq(vec![
                        pad(nested),
                        r("compare_op"),
                        pad(nested),
                        r(&chain),
                    ])),
                ]),
            ));
            self.add(rule(
                &chain,
                seq(vec![
                    r("factor"),
                    star(seq(vec![
                        pad(nested),
                        r("binary_op"),
                        pad(nested),
                        r("factor"),
                    ])),
                ]),
            ));
        }
        let compare = ["<=", ">=", "==", "!=", "<", ">"];
        self.add(rule(
            "compare_op",
            alt(compare.iter().map(|o| lit(o)).collect()),
        ));
        self.add(rule(
            "factor",
            alt(vec![
                seq(vec![alt(vec![lit("-"), lit("~")]), r("factor")]),
                r("postfix"),
            ]),
        ));
        // A number takes no trailer: `5.average` would read as `5.` then a name.
        self.add(rule(
            "postfix",
            alt(vec![r("number"), seq(vec![r("atom"), star(r("trailer"))])]),
        ));
        // Constant arguments: numbers and their arithmetic.
        self.add(rule(
            "constant",
            seq(vec![
                r("constant_factor"),
                star(seq(vec![
                    pad(true),
                    alt(["+", "-", "*", "/"].iter().map(|o| lit(o)).collect()),
                    pad(true),
                    r("constant_factor"),
                ])),
            ]),
        ));
        self.add(rule(
            "constant_factor",
            alt(vec![
                seq(vec![lit("-"), r("constant_factor")]),
                r("number"),
                seq(vec![lit("("), tight(), r("constant"), tight(), lit(")")]),
            ]),
        ));
    }

    /// Atoms (names, parentheses, `data.get`, single-output indicators, `abs`, `np.*`) and
    /// trailers (methods, rolling aggregates, masks).
    fn operators(&mut self) {
        let mut atoms = vec![
            r(VAR_REF),
            seq(vec![lit("("), tight(), r("expr_in"), tight(), lit(")")]),
        ];
        if !self.keys.is_empty() {
            let keys = alt(self.keys.iter().map(|k| lit(k)).collect());
            self.add(rule(
                "data_get",
                seq(vec![
                    lit("data.get("),
                    tight(),
                    Expr::Str(Box::new(keys)),
                    opt(lit(",")),
                    tight(),
                    lit(")"),
                ]),
            ));
            atoms.push(r("data_get"));
        }
        for spec in self.ops(Form::Indicator) {
            if spec.outputs.len() < 2 {
                atoms.push(self.indicator(spec));
            }
        }
        let abs = OpId::Abs.spec();
        let abs_call = self.call("abs", abs.params, Some(r("expr_in")), true);
        atoms.push(seq(vec![lit("abs"), abs_call.clone()]));
        let mut numpy: Vec<Expr> = Vec::new();
        for spec in self.ops(Form::Numpy) {
            let stem = format!("np_{}", spec.name);
            let call = self.call(&stem, spec.params, Some(r("expr_in")), true);
            numpy.push(seq(vec![lit(spec.name), call]));
        }
        // `np.abs(x)` is `abs(x)` (the checker's numpy module has it besides the registry's).
        numpy.push(seq(vec![lit("abs"), abs_call]));
        atoms.push(seq(vec![r(NP_REF), lit("."), alt(numpy)]));
        self.add(rule("atom", alt(atoms)));

        let mut trailers = Vec::new();
        for spec in self.ops(Form::Method) {
            let stem = format!("m_{}", spec.name);
            let call = self.call(&stem, spec.params, None, true);
            self.add(rule(&stem, seq(vec![lit(spec.name), call])));
            trailers.push(seq(vec![lit("."), r(&stem)]));
        }
        for (form, window) in [
            (Form::Rolling, "rolling"),
            (Form::Ewm, "ewm"),
            (Form::Expanding, "expanding"),
        ] {
            for spec in self.ops(form) {
                let stem = format!("{window}_{}", spec.name);
                let call = self.call(&stem, spec.params, None, true);
                self.add(rule(
                    &stem,
                    seq(vec![lit(window), call, lit("."), lit(spec.name), lit("()")]),
                ));
                trailers.push(seq(vec![lit("."), r(&stem)]));
            }
        }
        trailers.push(seq(vec![
            lit("["),
            tight(),
            r("expr_in"),
            tight(),
            lit("]"),
        ]));
        trailers.push(self.loc());
        self.add(rule("trailer", alt(trailers)));
    }

    /// `.loc[start:end]`, either date left out.
    fn loc(&mut self) -> Expr {
        let date = || opt(Expr::Str(Box::new(r("partial_date"))));
        let (start, end) = (date(), date());
        self.add(rule(
            "loc",
            seq(vec![
                lit("."),
                lit(OpId::Loc.spec().name),
                lit("["),
                tight(),
                start,
                tight(),
                lit(":"),
                tight(),
                end,
                tight(),
                lit("]"),
            ]),
        ));
        r("loc")
    }

    /// `data.indicator("NAME", keyword=value, ...)`: parameters by keyword only, after the name.
    fn indicator(&mut self, spec: &OpSpec) -> Expr {
        let stem = format!("indicator_{}", spec.name.to_ascii_lowercase());
        let name = Expr::Str(Box::new(lit(spec.name)));
        let call = self.call(&stem, spec.params, Some(name), false);
        self.add(rule(&stem, seq(vec![lit("data.indicator"), call])));
        r(&stem)
    }

    /// The parenthesised arguments of an operator: the `leading` argument (a receiver, an
    /// indicator's name), then a prefix of the parameters by position (when `positional`), then
    /// the rest by keyword in any order, each at most once, every required one given; a
    /// trailing comma is allowed.
    fn call(
        &mut self,
        stem: &str,
        params: &'static [ParamSpec],
        leading: Option<Expr>,
        positional: bool,
    ) -> Expr {
        let required = params
            .iter()
            .enumerate()
            .filter(|(_, p)| p.default == ParamDefault::Required)
            .fold(0u32, |m, (i, _)| m | 1 << i);
        let args = Args {
            stem: stem.to_string(),
            params,
            required,
            positional,
        };
        let body = match leading {
            Some(first) => seq(vec![
                first,
                self.state(&args, State::Positional(0)),
                opt(lit(",")),
            ]),
            None => {
                let mut firsts = Vec::new();
                if positional && !params.is_empty() {
                    let next = self.state(&args, State::Positional(1));
                    firsts.push(seq(vec![self.argument(&args, 0, false), next]));
                }
                for i in 0..params.len() {
                    let next = self.state(&args, State::Keyword(1 << i));
                    firsts.push(seq(vec![self.argument(&args, i, true), next]));
                }
                let body = seq(vec![alt(firsts), opt(lit(","))]);
                if params.is_empty() {
                    lit("")
                } else if required == 0 {
                    opt(body)
                } else {
                    body
                }
            }
        };
        seq(vec![lit("("), tight(), body, tight(), lit(")")])
    }

    /// The arguments that may follow in `state`: a rule reference, or nothing when no argument
    /// may follow and the call may end.
    fn state(&mut self, args: &Args, state: State) -> Expr {
        let n = args.params.len();
        let (name, used) = match state {
            State::Positional(j) => (format!("{}_pos{j}", args.stem), (1u32 << j) - 1),
            State::Keyword(m) => (format!("{}_set{m}", args.stem), m),
        };
        if self.defined.contains(&name) {
            return r(&name);
        }
        let mut alts = Vec::new();
        if let State::Positional(j) = state {
            if args.positional && (j as usize) < n {
                let next = self.state(args, State::Positional(j + 1));
                alts.push(seq(vec![
                    comma(),
                    self.argument(args, j as usize, false),
                    next,
                ]));
            }
        }
        for i in 0..n {
            if used & (1 << i) == 0 {
                let next = self.state(args, State::Keyword(used | 1 << i));
                alts.push(seq(vec![comma(), self.argument(args, i, true), next]));
            }
        }
        let may_end = used & args.required == args.required;
        if alts.is_empty() {
            return lit("");
        }
        let expr = if may_end { opt(alt(alts)) } else { alt(alts) };
        self.add(rule(&name, expr));
        r(&name)
    }

    /// Parameter `i` of a call, by position or as `name=value` (a rule of its own, since the
    /// states of a call repeat it).
    fn argument(&mut self, args: &Args, i: usize, by_keyword: bool) -> Expr {
        let p = &args.params[i];
        let name = format!(
            "{}_{}_{}",
            args.stem,
            if by_keyword { "kw" } else { "arg" },
            p.name
        );
        if !self.defined.contains(&name) {
            let value = self.value(p);
            let expr = if by_keyword {
                keyword(p.name, value)
            } else {
                value
            };
            self.add(rule(&name, expr));
        }
        r(&name)
    }

    /// What an argument of `param`'s kind may be.
    fn value(&mut self, param: &ParamSpec) -> Expr {
        let v = match param.kind {
            ParamKind::Window
            | ParamKind::Lag
            | ParamKind::Count
            | ParamKind::Axis
            | ParamKind::Period(_)
            | ParamKind::MinPeriods => {
                let (lo, hi) = param.kind.range().unwrap_or((1, 1));
                let (lo, hi) = (lo.max(1) as u64, hi.max(1) as u64);
                let name = format!("int_{lo}_{hi}");
                self.add(lex_rule(&name, lexical::int_range(lo, hi)));
                r(&name)
            }
            // Decimal places may be negative; the checker keeps them whole and in range.
            ParamKind::Number | ParamKind::Decimals => r("constant"),
            ParamKind::Fraction => r("fraction"),
            ParamKind::Flag => alt(vec![lit("True"), lit("False")]),
            // A parameter that only takes `None` (pct_change's `fill_method`).
            ParamKind::Choice([]) => return lit("None"),
            ParamKind::Choice(options) => {
                let quoted = Expr::Str(Box::new(alt(options.iter().map(|o| lit(o)).collect())));
                if param.name == "dtype" {
                    // `astype(int)`: Python's type names spell a dtype too (the canonical form).
                    alt(options.iter().map(|o| lit(o)).chain([quoted]).collect())
                } else {
                    quoted
                }
            }
            ParamKind::FloatPanel | ParamKind::BoolPanel | ParamKind::PanelOrNumber => r("expr_in"),
            // Only `loc` takes dates, written in its subscript (see `loc` below).
            ParamKind::Date => Expr::Str(Box::new(r("partial_date"))),
        };
        if param.default == ParamDefault::Nothing {
            alt(vec![v, lit("None")])
        } else {
            v
        }
    }

    fn lexical(&mut self) {
        self.add(rule("comma", seq(vec![lit(","), pad(true)])));
        self.add(rule("equals", seq(vec![tight(), lit("="), tight()])));
        self.add(lex_rule("name", lexical::name(&lexical::reserved_words())));
        self.add(lex_rule("number", lexical::number()));
        self.add(lex_rule("fraction", lexical::fraction()));
        self.add(lex_rule("frequency", lexical::frequency()));
        self.add(lex_rule("day_offset", lexical::day_offset()));
        self.add(lex_rule("date", lexical::date()));
        self.add(lex_rule("partial_date", lexical::partial_date()));
        self.add(lex_rule("text", super::plus(lexical::text_char())));
    }
}

/// `, ` between unpacked names (outside brackets).
fn comma_top() -> Expr {
    seq(vec![lit(","), pad(false)])
}

/// `name=value`.
fn keyword(name: &str, value: Expr) -> Expr {
    seq(vec![lit(name), r("equals"), value])
}

/// An operator's arguments, for [`Builder::call`].
struct Args {
    stem: String,
    params: &'static [ParamSpec],
    required: u32,
    positional: bool,
}

/// Where a call's arguments are: `n` given by position so far, or keywords with these
/// parameters (a bit mask) given.
#[derive(Clone, Copy)]
enum State {
    Positional(u32),
    Keyword(u32),
}
