//! The offline, grammar-aware evolutionary search behind `iterate --proposer evolve`. A child is
//! made from parents (the example strategies, then the best trials so far) by point mutations
//! ([`mutate`](mod@mutate): windows, thresholds, datasets of the same frequency, operators with the same
//! registry signature, `is_largest` counts, the rebalance frequency, a stop loss) or by
//! [`crossover`](mod@crossover) (grafting a condition or a ranking factor of one parent into another). Every
//! child is re-parsed, formatted, stripped of dead assignments and checked; invalid children and
//! strategies already tried (by canonical hash) are discarded and another is bred.

mod crossover;
mod mutate;
mod seeds;
pub mod sites;

use std::collections::BTreeSet;

pub use crossover::crossover;
pub use mutate::{mutate, swaps};
pub use seeds::SEEDS;

use crate::data::catalog::{self, Entry};
use crate::dsl::ast::{Expr, ExprKind, Program, Span, StmtKind};
use crate::dsl::fmt::{canonical_hash, format_program, FormatOptions};
use crate::dsl::visit::{walk_expr, Visitor};
use crate::dsl::{compile, parse, CheckContext};
use crate::util::rng::Rng;

/// Breeding attempts before giving up on one child.
const ATTEMPTS: usize = 300;
/// Largest child accepted (bytes of canonical text).
const MAX_CHILD_BYTES: usize = 3000;
/// Probability that a child is a crossover rather than a mutation.
const CROSSOVER: f64 = 0.3;

/// A strategy that may become a parent; `fitness` is its in-sample objective (`None`: not yet
/// evaluated, e.g. a seed).
#[derive(Clone, Debug)]
pub struct Parent {
    /// Name used in children's notes: an example's file stem or `#<iteration>` of a trial.
    pub label: String,
    /// The strategy's DSL text.
    pub source: String,
    /// The in-sample objective (higher is better), which parent selection compares; `None` counts
    /// as 0.
    pub fitness: Option<f64>,
}

/// The examples as parents without fitness: where every search starts.
pub fn seed_parents() -> Vec<Parent> {
    SEEDS
        .iter()
        .map(|(name, text)| Parent {
            label: name.trim_end_matches(".strat").to_string(),
            source: text.to_string(),
            fitness: None,
        })
        .collect()
}

/// A valid, new strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct Child {
    /// Canonical text without comments.
    pub source: String,
    /// [`canonical_hash`] of the child: 16 hex digits, equal for layout-only differences.
    pub hash: String,
    /// Parents and changes, e.g. `momentum.strat: 60→90; resample M→W`.
    pub note: String,
    /// Invalid or duplicate children discarded before this one.
    pub discarded: usize,
}

/// Breeds children that pass the checker of `ctx`.
pub struct Evolver {
    ctx: CheckContext,
    datasets: Vec<Entry>,
}

fn no_comments() -> FormatOptions<'static> {
    FormatOptions {
        comments: false,
        wrap: true,
        method_names: None,
        pandas_where: false,
        series_averages: &[],
    }
}

/// Whether `name` is read anywhere in `e`.
fn reads(e: &Expr, name: &str) -> bool {
    struct Reads<'n> {
        name: &'n str,
        found: bool,
    }
    impl Visitor<'_> for Reads<'_> {
        fn visit_expr(&mut self, e: &Expr) {
            self.found |= matches!(&e.kind, ExprKind::Name(n) if n == self.name);
            walk_expr(self, e);
        }
    }
    let mut reads = Reads { name, found: false };
    reads.visit_expr(e);
    reads.found
}

/// The span of the first assignment none of whose names is read by another statement.
fn dead_assignment(p: &Program) -> Option<Span> {
    p.stmts.iter().enumerate().find_map(|(i, s)| {
        let StmtKind::Assign { target, .. } = &s.kind else {
            return None;
        };
        let mut names = Vec::new();
        collect_names(target, &mut names);
        let used = names.iter().any(|n| {
            p.stmts.iter().enumerate().any(|(j, t)| {
                j != i
                    && match &t.kind {
                        StmtKind::Assign { value, .. } | StmtKind::AugAssign { value, .. } => {
                            reads(value, n)
                        }
                        StmtKind::Expr(e) => reads(e, n),
                        _ => false,
                    }
            })
        });
        (!used && names.iter().all(|n| n != "position" && n != "report")).then_some(s.span)
    })
}

fn collect_names(e: &Expr, out: &mut Vec<String>) {
    match &e.kind {
        ExprKind::Name(n) => out.push(n.clone()),
        ExprKind::Tuple(items) | ExprKind::List(items) => {
            items.iter().for_each(|i| collect_names(i, out))
        }
        _ => {}
    }
}

impl Evolver {
    /// An evolver whose children must check against `ctx`; datasets are swapped among the
    /// catalog's core datasets that `ctx` has.
    pub fn new(ctx: CheckContext) -> Evolver {
        let datasets = catalog::entries()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.core && ctx.datasets.as_ref().is_none_or(|k| k.contains(&e.key)))
            .collect();
        Evolver { ctx, datasets }
    }

    /// Canonical text of `source` without comments or dead assignments, if it parses.
    pub fn clean(source: &str) -> Option<String> {
        let mut text = source.to_string();
        for _ in 0..20 {
            let p = parse(&text).ok()?;
            let formatted = format_program(&p, &text, &no_comments());
            let p2 = parse(&formatted).ok()?;
            match dead_assignment(&p2) {
                Some(span) => {
                    let mut end = span.end as usize;
                    if formatted[end..].starts_with('\n') {
                        end += 1;
                    }
                    text = format!("{}{}", &formatted[..span.start as usize], &formatted[end..]);
                }
                None => return Some(formatted),
            }
        }
        None
    }

    /// Tournament of three on fitness (unevaluated parents count as 0).
    fn select<'a>(parents: &'a [Parent], rng: &mut Rng) -> Option<&'a Parent> {
        let mut best: Option<&Parent> = None;
        for _ in 0..3 {
            let p = mutate::pick(rng, parents)?;
            let f = |x: &Parent| x.fitness.unwrap_or(0.0);
            if best.is_none_or(|b| f(p) > f(b)) {
                best = Some(p);
            }
        }
        best
    }

    fn attempt(&self, parents: &[Parent], rng: &mut Rng) -> Option<(String, String)> {
        let a = Self::select(parents, rng)?;
        let a_src = Self::clean(&a.source)?;
        let a_prog = parse(&a_src).ok()?;
        if parents.len() >= 2 && rng.uniform() < CROSSOVER {
            let b = Self::select(parents, rng)?;
            if b.label == a.label {
                return None;
            }
            let b_src = Self::clean(&b.source)?;
            let b_prog = parse(&b_src).ok()?;
            let (child, what) = crossover(&a_prog, &a_src, &b_prog, &b_src, rng)?;
            return Some((child, format!("{} × {}: {what}", a.label, b.label)));
        }
        let mut src = a_src;
        let mut changes = Vec::new();
        let rounds = if rng.uniform() < 0.4 { 2 } else { 1 };
        for _ in 0..rounds {
            let p = parse(&src).ok()?;
            let all = sites::sites(&p);
            let site = mutate::pick(rng, &all)?;
            if let Some((next, what)) = mutate(&src, site, &self.datasets, rng) {
                src = next;
                changes.push(what);
            }
        }
        if changes.is_empty() {
            return None;
        }
        Some((src, format!("{}: {}", a.label, changes.join("; "))))
    }

    /// A valid child not in `seen` (canonical hashes), or `None` after `ATTEMPTS` (300) tries.
    pub fn breed(
        &self,
        parents: &[Parent],
        seen: &BTreeSet<String>,
        rng: &mut Rng,
    ) -> Option<Child> {
        let mut discarded = 0;
        for _ in 0..ATTEMPTS {
            let Some((raw, note)) = self.attempt(parents, rng) else {
                continue;
            };
            let Some(source) = Self::clean(&raw) else {
                discarded += 1;
                continue;
            };
            if source.len() > MAX_CHILD_BYTES {
                discarded += 1;
                continue;
            }
            let checked = compile(&source, &self.ctx);
            if checked.program.is_none() {
                discarded += 1;
                continue;
            }
            let Ok(program) = parse(&source) else {
                discarded += 1;
                continue;
            };
            let hash = canonical_hash(&program, &source);
            if seen.contains(&hash) {
                discarded += 1;
                continue;
            }
            return Some(Child {
                source,
                hash,
                note,
                discarded,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds() -> Vec<Parent> {
        SEEDS
            .iter()
            .map(|(name, text)| Parent {
                label: name.to_string(),
                source: text.to_string(),
                fitness: None,
            })
            .collect()
    }

    #[test]
    fn every_seed_cleans_to_a_valid_strategy() {
        for (name, text) in SEEDS {
            let clean = Evolver::clean(text).unwrap_or_else(|| panic!("{name}"));
            assert!(!clean.contains('#'), "{name}: comments kept");
            let c = compile(&clean, &CheckContext::default());
            assert!(c.program.is_some(), "{name}: {:?}", c.diagnostics);
        }
    }

    #[test]
    fn dead_assignments_are_removed() {
        let src = "from finlab import data\nfrom finlab.backtest import sim\nclose = data.get(\"price:收盤價\")\n\
                   unused = close.average(5)\nalso = unused * 2\nsim(close > 10)\n";
        let clean = Evolver::clean(src).unwrap();
        assert!(
            !clean.contains("unused") && !clean.contains("also"),
            "{clean}"
        );
    }

    #[test]
    fn children_are_valid_new_and_deterministic() {
        let ev = Evolver::new(CheckContext::default());
        let parents = seeds();
        let mut seen = BTreeSet::new();
        let mut rng = Rng::new(7, "t");
        let mut notes = Vec::new();
        for _ in 0..30 {
            let c = ev.breed(&parents, &seen, &mut rng).expect("a child");
            assert!(compile(&c.source, &CheckContext::default())
                .program
                .is_some());
            assert!(seen.insert(c.hash.clone()), "duplicate child");
            notes.push(c.note);
        }
        assert!(
            notes.iter().any(|n| n.contains(" × ")),
            "no crossover in 30 children"
        );
        let again = ev
            .breed(&parents, &BTreeSet::new(), &mut Rng::new(7, "t"))
            .unwrap();
        let first = ev
            .breed(&parents, &BTreeSet::new(), &mut Rng::new(7, "t"))
            .unwrap();
        assert_eq!(again, first);
    }
}
