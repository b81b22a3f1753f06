//! Lowering: a checked [`TypedProgram`] becomes a [`Plan`]. Identical sub-expressions become
//! one node (hash-consing), and each dataset key is loaded once.

use std::collections::HashMap;

use dsl_runtime::plan::{Arg, Node, NodeId, Plan};

use crate::dsl::{SimCall, TArg, TExpr, TypedProgram};

/// A plan together with the `sim(...)` options, which stay on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Lowered {
    /// The node DAG the sandbox guest evaluates; its output node is the position panel.
    pub plan: Plan,
    /// The strategy's `sim(...)` call: the backtest options, applied by the host.
    pub sim: SimCall,
}

/// Lowers a checked program.
pub fn lower(program: &TypedProgram) -> Lowered {
    let mut l = Lowerer {
        plan: Plan::new(),
        memo: HashMap::new(),
        inputs: HashMap::new(),
    };
    let out = l.node(&program.position);
    l.plan.output = out;
    Lowered {
        plan: l.plan,
        sim: program.sim.clone(),
    }
}

struct Lowerer {
    plan: Plan,
    /// Canonical JSON of a node → its id, so equal sub-expressions share a node.
    memo: HashMap<String, NodeId>,
    inputs: HashMap<String, usize>,
}

impl Lowerer {
    fn push(&mut self, node: Node) -> NodeId {
        let key = serde_json::to_string(&node).unwrap_or_default();
        if let Some(id) = self.memo.get(&key) {
            return *id;
        }
        self.plan.nodes.push(node);
        let id = self.plan.nodes.len() - 1;
        self.memo.insert(key, id);
        id
    }

    fn node(&mut self, e: &TExpr) -> NodeId {
        crate::dsl::deep(|| self.node_inner(e))
    }

    fn node_inner(&mut self, e: &TExpr) -> NodeId {
        let node = match e {
            TExpr::Load(key) => {
                let next = self.inputs.len();
                let input = *self.inputs.entry(key.clone()).or_insert(next);
                if input == self.plan.inputs.len() {
                    self.plan.inputs.push(key.clone());
                }
                Node::Load { input }
            }
            TExpr::Scalar(v) => Node::Scalar { value: *v },
            TExpr::Neg(a) => Node::Neg { arg: self.node(a) },
            TExpr::Not(a) => Node::Not { arg: self.node(a) },
            TExpr::Binary(op, a, b) => Node::Binary {
                op: *op,
                lhs: self.node(a),
                rhs: self.node(b),
            },
            TExpr::Call {
                op,
                recv,
                args,
                prices,
                out,
            } => {
                let recv = recv.as_ref().map(|r| self.node(r));
                let args = args
                    .iter()
                    .map(|a| match a {
                        TArg::None => Arg::None,
                        TArg::Int(v) => Arg::Int(*v),
                        TArg::Float(v) => Arg::Float(*v),
                        TArg::Bool(v) => Arg::Bool(*v),
                        TArg::Str(v) => Arg::Str(v.clone()),
                        TArg::Panel(e) => Arg::Node(self.node(e)),
                    })
                    .collect();
                let prices = prices.iter().map(|p| self.node(p)).collect();
                Node::Call {
                    op: *op,
                    recv,
                    args,
                    prices,
                    out: *out,
                }
            }
            TExpr::Mask(v, c) => Node::Mask {
                value: self.node(v),
                cond: self.node(c),
            },
        };
        self.push(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{compile, CheckContext};

    #[test]
    fn shared_subexpressions_become_one_node() {
        let src = "close = data.get(\"price:收盤價\")\nma = close.average(20)\nsim((close > ma) & (close.average(20) > 10))\n";
        let checked = compile(src, &CheckContext::default());
        let lowered = lower(checked.program.as_ref().unwrap());
        let plan = &lowered.plan;
        plan.validate().unwrap();
        assert_eq!(plan.inputs, vec!["price:收盤價".to_string()]);
        let averages = plan
            .nodes
            .iter()
            .filter(|n| matches!(n, Node::Call { .. }))
            .count();
        assert_eq!(averages, 1);
        assert_eq!(plan.output, plan.nodes.len() - 1);
    }
}
