//! Reads the grammars `dsl-engine grammar` prints (GBNF or Lark text, independently of the
//! exporter's IR), recognises strings with them and samples random sentences from them.
//!
//! The sampler keeps scope where a context-free grammar cannot: the exported rules named
//! `var_def`, `var_ref`, `report_def`, `report_ref`, `np_import` and `np_ref` bind and read
//! names (a read picks a name bound before; a definition takes effect at the end of the rule
//! that holds it, as Python binds after evaluating the right-hand side).

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};

/// A grammar expression.
#[derive(Clone, Debug)]
pub enum Node {
    Lit(Vec<char>),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Ref(usize),
    Seq(Vec<Node>),
    Alt(Vec<Node>),
    Opt(Box<Node>),
    Star(Box<Node>),
    Plus(Box<Node>),
}

/// A grammar read from text.
pub struct Grammar {
    pub names: Vec<String>,
    pub rules: Vec<Node>,
    pub start: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Syntax {
    Gbnf,
    Lark,
}

fn normal(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

impl Grammar {
    pub fn gbnf(text: &str) -> Grammar {
        Grammar::read(text, Syntax::Gbnf)
    }

    pub fn lark(text: &str) -> Grammar {
        Grammar::read(text, Syntax::Lark)
    }

    fn read(text: &str, syntax: Syntax) -> Grammar {
        let mut defs: Vec<(String, &str)> = Vec::new();
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') || t.starts_with("//") {
                continue;
            }
            let (name, body) = match syntax {
                Syntax::Gbnf => t.split_once("::=").expect("a GBNF rule line"),
                Syntax::Lark => t.split_once(':').expect("a Lark rule line"),
            };
            defs.push((normal(name.trim()), body));
        }
        let names: Vec<String> = defs.iter().map(|(n, _)| n.clone()).collect();
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let rules = defs
            .iter()
            .map(|(name, body)| {
                let mut p = BodyParser {
                    chars: body.chars().collect(),
                    at: 0,
                    syntax,
                    index: &index,
                };
                let node = p.alt();
                p.skip_ws();
                assert!(p.at == p.chars.len(), "{name}: trailing text at {}", p.at);
                node
            })
            .collect();
        let start = index[if syntax == Syntax::Gbnf {
            "root"
        } else {
            "start"
        }];
        Grammar {
            names,
            rules,
            start,
        }
    }

    pub fn rule(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

struct BodyParser<'a> {
    chars: Vec<char>,
    at: usize,
    syntax: Syntax,
    index: &'a HashMap<&'a str, usize>,
}

impl BodyParser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.at).copied()
    }

    fn alt(&mut self) -> Node {
        let mut alts = vec![self.seq()];
        while self.peek() == Some('|') {
            self.at += 1;
            alts.push(self.seq());
        }
        if alts.len() == 1 {
            alts.pop().unwrap()
        } else {
            Node::Alt(alts)
        }
    }

    fn seq(&mut self) -> Node {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let mut atom = self.atom();
            while let Some(op) = self.chars.get(self.at).copied() {
                atom = match op {
                    '?' => Node::Opt(Box::new(atom)),
                    '*' => Node::Star(Box::new(atom)),
                    '+' => Node::Plus(Box::new(atom)),
                    _ => break,
                };
                self.at += 1;
            }
            items.push(atom);
        }
        assert!(!items.is_empty(), "empty sequence at {}", self.at);
        if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Node::Seq(items)
        }
    }

    fn escaped(&mut self) -> char {
        let c = self.chars[self.at];
        self.at += 1;
        if c != '\\' {
            return c;
        }
        let e = self.chars[self.at];
        self.at += 1;
        match e {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'x' => {
                let hex: String = self.chars[self.at..self.at + 2].iter().collect();
                self.at += 2;
                char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap()
            }
            // llama.cpp's GBNF knows no other escapes; a Lark regex also these.
            '\\' | '"' | '[' | ']' => e,
            '/' | '-' | '^' if self.syntax == Syntax::Lark => e,
            other => panic!("unknown escape \\{other}"),
        }
    }

    fn atom(&mut self) -> Node {
        let c = self.chars[self.at];
        match c {
            '"' => {
                self.at += 1;
                let mut s = Vec::new();
                while self.chars[self.at] != '"' {
                    s.push(self.escaped());
                }
                self.at += 1;
                Node::Lit(s)
            }
            '(' => {
                self.at += 1;
                let inner = self.alt();
                assert_eq!(self.peek(), Some(')'));
                self.at += 1;
                inner
            }
            '[' if self.syntax == Syntax::Gbnf => self.class(),
            '/' if self.syntax == Syntax::Lark => {
                self.at += 1;
                assert_eq!(
                    self.chars[self.at], '[',
                    "only character classes as regexes"
                );
                let class = self.class();
                assert_eq!(self.chars[self.at], '/');
                self.at += 1;
                class
            }
            _ => {
                let start = self.at;
                while self
                    .chars
                    .get(self.at)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                {
                    self.at += 1;
                }
                let name: String = self.chars[start..self.at].iter().collect();
                assert!(!name.is_empty(), "unexpected {c:?}");
                let i = *self
                    .index
                    .get(normal(&name).as_str())
                    .unwrap_or_else(|| panic!("undefined rule {name}"));
                Node::Ref(i)
            }
        }
    }

    fn class(&mut self) -> Node {
        self.at += 1; // [
        let negated = self.chars[self.at] == '^';
        if negated {
            self.at += 1;
        }
        let mut ranges = Vec::new();
        while self.chars[self.at] != ']' {
            let lo = self.escaped();
            let hi = if self.chars[self.at] == '-' && self.chars[self.at + 1] != ']' {
                self.at += 1;
                self.escaped()
            } else {
                lo
            };
            ranges.push((lo, hi));
        }
        self.at += 1;
        Node::Class { negated, ranges }
    }
}

fn in_class(negated: bool, ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != negated
}

// ---- recognising ----

impl Grammar {
    /// Whether the whole of `text` is a sentence of the grammar.
    pub fn accepts(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let mut r = Recogniser {
            g: self,
            s: &chars,
            memo: HashMap::new(),
        };
        r.rule(self.start, 0).contains(&chars.len())
    }
}

struct Recogniser<'a> {
    g: &'a Grammar,
    s: &'a [char],
    memo: HashMap<(usize, usize), BTreeSet<usize>>,
}

impl Recogniser<'_> {
    fn rule(&mut self, i: usize, at: usize) -> BTreeSet<usize> {
        if let Some(r) = self.memo.get(&(i, at)) {
            return r.clone();
        }
        let node = self.g.rules[i].clone();
        let r = self.ends(&node, at);
        self.memo.insert((i, at), r.clone());
        r
    }

    fn ends(&mut self, n: &Node, at: usize) -> BTreeSet<usize> {
        match n {
            Node::Lit(t) => {
                if self.s.len() >= at + t.len() && self.s[at..at + t.len()] == t[..] {
                    BTreeSet::from([at + t.len()])
                } else {
                    BTreeSet::new()
                }
            }
            Node::Class { negated, ranges } => match self.s.get(at) {
                Some(c) if in_class(*negated, ranges, *c) => BTreeSet::from([at + 1]),
                _ => BTreeSet::new(),
            },
            Node::Ref(i) => self.rule(*i, at),
            Node::Seq(v) => {
                let mut acc = BTreeSet::from([at]);
                for x in v {
                    let mut next = BTreeSet::new();
                    for p in acc {
                        next.extend(self.ends(x, p));
                    }
                    acc = next;
                    if acc.is_empty() {
                        break;
                    }
                }
                acc
            }
            Node::Alt(v) => {
                let mut all = BTreeSet::new();
                for x in v {
                    all.extend(self.ends(x, at));
                }
                all
            }
            Node::Opt(x) => {
                let mut r = self.ends(x, at);
                r.insert(at);
                r
            }
            Node::Star(x) | Node::Plus(x) => {
                let mut all = BTreeSet::new();
                if matches!(n, Node::Star(_)) {
                    all.insert(at);
                }
                let mut frontier = self.ends(x, at);
                while !frontier.is_empty() {
                    frontier.retain(|p| !all.contains(p));
                    all.extend(frontier.iter().copied());
                    let mut next = BTreeSet::new();
                    for p in frontier {
                        next.extend(self.ends(x, p));
                    }
                    frontier = next;
                }
                all
            }
        }
    }
}

// ---- sampling ----

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Characters a negated class is sampled from.
const POOL: &str = " !#$%&()*+,-./0123456789:;<=>?@ABCXYZ[]^_`abcxyz{|}~價é";

/// Random sentences of a grammar, with names bound before they are read.
pub struct Sampler<'g> {
    g: &'g Grammar,
    min_len: Vec<usize>,
    defines: Vec<bool>,
    special: HashMap<usize, &'static str>,
    /// Rule depth past which the shortest alternatives are taken.
    pub max_depth: usize,
}

/// What is bound while one sentence is written.
#[derive(Default)]
struct Scope {
    vars: Vec<String>,
    pending: Vec<String>,
    reports: Vec<String>,
    numpy: bool,
}

impl<'g> Sampler<'g> {
    pub fn new(g: &'g Grammar) -> Sampler<'g> {
        let mut special = HashMap::new();
        for name in [
            "var_def",
            "var_ref",
            "report_def",
            "report_ref",
            "np_import",
            "np_ref",
        ] {
            let i = g
                .rule(name)
                .unwrap_or_else(|| panic!("the grammar has no rule {name}"));
            special.insert(i, name);
        }
        let var_def = g.rule("var_def");
        let defines = g
            .rules
            .iter()
            .map(|n| refs(n).contains(&var_def.unwrap_or(usize::MAX)))
            .collect();
        let mut min_len = vec![usize::MAX / 4; g.rules.len()];
        loop {
            let mut changed = false;
            for i in 0..g.rules.len() {
                let m = shortest(&g.rules[i], &min_len);
                if m < min_len[i] {
                    min_len[i] = m;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        Sampler {
            g,
            min_len,
            defines,
            special,
            max_depth: 20,
        }
    }

    /// One sentence, or `None` when the draw read a name nothing bound (the caller draws
    /// again).
    pub fn sentence(&self, rng: &mut Rng) -> Option<String> {
        let mut out = String::new();
        let mut scope = Scope::default();
        self.gen(&Node::Ref(self.g.start), 0, rng, &mut scope, &mut out)
            .then_some(out)
    }

    fn gen(&self, n: &Node, depth: usize, rng: &mut Rng, sc: &mut Scope, out: &mut String) -> bool {
        let deep = depth > self.max_depth;
        match n {
            Node::Lit(t) => {
                out.extend(t.iter());
                true
            }
            Node::Class { negated, ranges } => {
                let c = if *negated {
                    let pool: Vec<char> = POOL
                        .chars()
                        .filter(|c| in_class(true, ranges, *c))
                        .collect();
                    pool[rng.below(pool.len())]
                } else {
                    let (lo, hi) = ranges[rng.below(ranges.len())];
                    char::from_u32(
                        lo as u32 + rng.below((hi as u32 - lo as u32 + 1) as usize) as u32,
                    )
                    .unwrap_or(lo)
                };
                out.push(c);
                true
            }
            Node::Seq(v) => v.iter().all(|x| self.gen(x, depth, rng, sc, out)),
            Node::Alt(v) => {
                let pick = if deep {
                    let best = v
                        .iter()
                        .map(|x| shortest(x, &self.min_len))
                        .min()
                        .unwrap_or(0);
                    let shortest_alts: Vec<&Node> = v
                        .iter()
                        .filter(|x| shortest(x, &self.min_len) == best)
                        .collect();
                    shortest_alts[rng.below(shortest_alts.len())]
                } else {
                    &v[rng.below(v.len())]
                };
                self.gen(pick, depth, rng, sc, out)
            }
            Node::Opt(x) => deep || !rng.chance(50) || self.gen(x, depth, rng, sc, out),
            Node::Star(x) | Node::Plus(x) => {
                let mut count = usize::from(matches!(n, Node::Plus(_)));
                while !deep && count < 4 && rng.chance(50) {
                    count += 1;
                }
                (0..count).all(|_| self.gen(x, depth, rng, sc, out))
            }
            Node::Ref(i) => self.rule(*i, depth + 1, rng, sc, out),
        }
    }

    fn rule(
        &self,
        i: usize,
        depth: usize,
        rng: &mut Rng,
        sc: &mut Scope,
        out: &mut String,
    ) -> bool {
        let body = &self.g.rules[i];
        let mut own = String::new();
        match self.special.get(&i).copied() {
            Some("var_ref") if sc.vars.is_empty() => false,
            Some("var_ref") => {
                out.push_str(&sc.vars[rng.below(sc.vars.len())]);
                true
            }
            Some("report_ref") if sc.reports.is_empty() => false,
            Some("report_ref") => {
                out.push_str(&sc.reports[rng.below(sc.reports.len())]);
                true
            }
            Some("np_ref") if !sc.numpy => false,
            Some(kind @ ("var_def" | "report_def" | "np_import")) => {
                if !self.gen(body, depth, rng, sc, &mut own) {
                    return false;
                }
                match kind {
                    "var_def" => sc.pending.push(own.clone()),
                    "report_def" => sc.reports.push(own.clone()),
                    _ => sc.numpy = true,
                }
                out.push_str(&own);
                true
            }
            _ => {
                let mark = sc.pending.len();
                if !self.gen(body, depth, rng, sc, out) {
                    return false;
                }
                if self.defines[i] {
                    let bound: Vec<String> = sc.pending.drain(mark..).collect();
                    sc.vars.extend(bound);
                }
                true
            }
        }
    }
}

fn refs(n: &Node) -> Vec<usize> {
    match n {
        Node::Ref(i) => vec![*i],
        Node::Seq(v) | Node::Alt(v) => v.iter().flat_map(refs).collect(),
        Node::Opt(x) | Node::Star(x) | Node::Plus(x) => refs(x),
        _ => Vec::new(),
    }
}

fn shortest(n: &Node, rules: &[usize]) -> usize {
    match n {
        Node::Lit(t) => t.len(),
        Node::Class { .. } => 1,
        Node::Ref(i) => rules[*i],
        Node::Seq(v) => v
            .iter()
            .map(|x| shortest(x, rules))
            .fold(0, usize::saturating_add),
        Node::Alt(v) => v.iter().map(|x| shortest(x, rules)).min().unwrap_or(0),
        Node::Opt(_) | Node::Star(_) => 0,
        Node::Plus(x) => shortest(x, rules),
    }
}
