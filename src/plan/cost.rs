//! A rough estimate of what evaluating a plan costs, so a round's trials can start longest
//! first ([`crate::parallel::map_grouped`]): each element-wise step and each operator call
//! (once, however many of an indicator's outputs are read) weighs about what it measured on a
//! full daily panel, scaled by the rows of its grid. Only the order of trials depends on it,
//! never a result.

use std::collections::HashSet;

use dsl_runtime::ops::{Form, OpId};
use dsl_runtime::plan::{Node, Plan};

/// A fixed part of every evaluation (copying the position out, the backtest), in the same
/// units as [`weight`].
const BASE: f64 = 30.0;

/// The estimated cost of evaluating `plan` and backtesting its position, in milliseconds of a
/// sandboxed evaluation on the full synthetic market (rough: fitted on the evolve bench set,
/// where it ranks the trials' times with a correlation of about 0.95 with reuse off).
/// `rows(key)` is the rows of dataset `key` as a share of the daily grid's; `read` is the share
/// of rows `sim()` reads (below 1 with a calendar `resample`), which is all that row-wise ranks
/// compute then (see `Plan::read_at`).
pub fn estimated_cost(plan: &Plan, rows: impl Fn(&str) -> f64, read: f64) -> f64 {
    let n = plan.nodes.len();
    let mut needed = vec![false; n];
    if let Some(out) = needed.get_mut(plan.output) {
        *out = true;
    }
    for i in (0..n).rev() {
        if needed[i] {
            for op in plan.nodes[i].operands() {
                if let Some(m) = needed.get_mut(op) {
                    *m = true;
                }
            }
        }
    }
    // Each node's rows as a share of the daily grid: an operation's result is on the union of
    // its operands' dates, an indicator on its prices' (daily).
    let mut share = vec![0.0f64; n];
    let mut calls: HashSet<String> = HashSet::new();
    let mut total = BASE;
    for (i, node) in plan.nodes.iter().enumerate() {
        share[i] = match node {
            Node::Load { input } => plan.inputs.get(*input).map_or(1.0, |k| rows(k)),
            Node::Scalar { .. } => 0.0,
            Node::Call { op, .. } if op.spec().form == Form::Indicator => 1.0,
            _ => node
                .operands()
                .iter()
                .filter_map(|&o| share.get(o))
                .fold(0.0, |a, &b| a.max(b)),
        };
        if !needed[i] {
            continue;
        }
        let w = match node {
            Node::Load { .. } | Node::Scalar { .. } => 0.0,
            Node::Neg { .. } | Node::Not { .. } | Node::Binary { .. } | Node::Mask { .. } => 10.0,
            Node::Call {
                op,
                recv,
                args,
                prices,
                ..
            } => {
                // The outputs of one indicator call are computed together.
                if !calls.insert(format!("{op:?} {recv:?} {args:?} {prices:?}")) {
                    continue;
                }
                let ranked = matches!(op, OpId::Rank | OpId::IsLargest | OpId::IsSmallest);
                weight(*op) * if ranked { read } else { 1.0 }
            }
        };
        total += w * share[i];
    }
    total
}

/// Milliseconds per full daily panel of one call of `op` (fitted; see [`estimated_cost`]).
fn weight(op: OpId) -> f64 {
    match op {
        OpId::HoldUntil | OpId::RollingMedian => 250.0,
        OpId::Rank
        | OpId::IsLargest
        | OpId::IsSmallest
        | OpId::IndustryRank
        | OpId::QuantileRow => 150.0,
        OpId::RollingStd | OpId::EwmStd => 110.0,
        OpId::RollingMax | OpId::RollingMin | OpId::Shift | OpId::IsEntry | OpId::IsExit => 25.0,
        OpId::Sustain => 50.0,
        _ => match op.spec().form {
            Form::Indicator => 250.0,
            Form::Rolling | Form::Ewm | Form::Expanding => 40.0,
            _ => 25.0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{compile, CheckContext};

    fn cost(src: &str) -> f64 {
        let program = compile(src, &CheckContext::default()).program.unwrap();
        estimated_cost(&crate::plan::lower(&program).plan, |_| 1.0, 1.0)
    }

    #[test]
    fn costlier_plans_estimate_higher() {
        let head = "from finlab import data\nfrom finlab.backtest import sim\n\
                    close = data.get(\"price:收盤價\")\n";
        let cheap = cost(&format!("{head}position = close > 10\nsim(position)\n"));
        let rolling = cost(&format!(
            "{head}position = close > close.average(20)\nsim(position)\n"
        ));
        let indicator = cost(&format!(
            "{head}k, d = data.indicator(\"STOCH\")\nposition = (k > d) & (close > close.average(20))\nsim(position)\n"
        ));
        assert!(BASE < cheap && cheap < rolling && rolling < indicator);
        // Both outputs of one indicator call are one computation.
        let one = cost(&format!(
            "{head}k, d = data.indicator(\"STOCH\")\nposition = k > 50\nsim(position)\n"
        ));
        assert_eq!(indicator - one, rolling - cheap + 20.0);
    }
}
