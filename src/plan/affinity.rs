//! What a plan shares with other plans, for sending trials that share sub-plans to the same
//! warm session (whose reuse store holds what the first one computed, architecture §4.5).
//!
//! Each operator call's sub-plan gets a structural hash: its node with the operands' hashes
//! in place of their positions, and a `Load` by its dataset key, so the same computation has
//! the same hash in every plan. Two plans' shared hashes are the computations a reuse store
//! could serve. (A hash only steers scheduling; the store compares its keys in full.)

use dsl_runtime::fnv::fnv1a;
use dsl_runtime::plan::{Arg, Node, Plan};

/// The structural hashes of `plan`'s operator calls (shifts, numbers and element-wise steps
/// left out: they are cheap to compute again), sorted and without repeats.
pub fn affinity_keys(plan: &Plan) -> Vec<u64> {
    let mut hashes: Vec<u64> = Vec::with_capacity(plan.nodes.len());
    let mut keys = Vec::new();
    for node in &plan.nodes {
        let at = |i: usize| hashes.get(i).copied().unwrap_or(0);
        let text = match node {
            Node::Load { input } => format!("load {}", plan.inputs.get(*input).map_or("", |s| s)),
            Node::Scalar { value } => format!("scalar {:x}", value.to_bits()),
            Node::Neg { arg } => format!("neg {:x}", at(*arg)),
            Node::Not { arg } => format!("not {:x}", at(*arg)),
            Node::Binary { op, lhs, rhs } => format!("{op:?} {:x} {:x}", at(*lhs), at(*rhs)),
            Node::Mask { value, cond } => format!("mask {:x} {:x}", at(*value), at(*cond)),
            Node::Call {
                op,
                recv,
                args,
                prices,
                out,
            } => {
                let args: Vec<String> = args
                    .iter()
                    .map(|a| match a {
                        Arg::Node(n) => format!("node {:x}", at(*n)),
                        other => format!("{other:?}"),
                    })
                    .collect();
                let prices: Vec<u64> = prices.iter().map(|p| at(*p)).collect();
                format!("{op:?} {:x} {args:?} {prices:x?} {out}", recv.map_or(0, at))
            }
        };
        let h = fnv1a(text.as_bytes());
        if let Node::Call { op, .. } = node {
            if *op != dsl_runtime::ops::OpId::Shift {
                keys.push(h);
            }
        }
        hashes.push(h);
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{compile, CheckContext};

    fn keys(src: &str) -> Vec<u64> {
        let program = compile(src, &CheckContext::default())
            .program
            .expect("valid");
        affinity_keys(&super::super::lower(&program).plan)
    }

    #[test]
    fn the_same_computation_has_the_same_key_in_other_plans() {
        let a = keys("c = data.get(\"price:收盤價\")\nsim(c.average(20) > c.average(60))\n");
        let b = keys("v = data.get(\"price:成交股數\")\nc = data.get(\"price:收盤價\")\nsim((c.average(60) < c) & (v > 1))\n");
        let c = keys("c = data.get(\"price:收盤價\")\nsim(c.average(61) > c)\n");
        assert_eq!(a.len(), 2);
        assert_eq!(a.iter().filter(|k| b.contains(k)).count(), 1);
        assert!(a.iter().all(|k| !c.contains(k)));
    }
}
