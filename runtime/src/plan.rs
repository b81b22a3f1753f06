//! The typed plan: the only program representation that crosses into the guest. A plan is a DAG
//! of nodes in topological order (every node refers only to earlier nodes), serialized as JSON
//! with a magic string, a version and the registry hash so host and guest cannot drift.

use serde::{Deserialize, Serialize};

use crate::ops::{registry_hash, OpId};

/// Magic string every plan carries.
pub const PLAN_MAGIC: &str = "dsl-engine-plan";
/// Plan format version; bump on any incompatible change.
pub const PLAN_VERSION: u32 = 2;

/// Index of a node in [`Plan::nodes`].
pub type NodeId = usize;

/// Element-wise binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `**`: numpy's power (C `pow` semantics).
    Pow,
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
    And,
    Or,
}

impl BinOp {
    /// True for the six comparisons (they return bool panels).
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le | BinOp::Eq | BinOp::Ne
        )
    }

    /// True for `&` and `|`.
    pub fn is_logical(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or)
    }

    /// The Python spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Pow => "**",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "&",
            BinOp::Or => "|",
        }
    }
}

/// One argument of an operator call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arg {
    /// Not given (the registry default is "None").
    None,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// A panel: the value of an earlier node.
    Node(NodeId),
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

/// One node of the plan DAG.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "node", rename_all = "snake_case")]
pub enum Node {
    /// Input panel number `input` (see [`Plan::inputs`]).
    Load { input: usize },
    /// A number, broadcast when combined with a panel.
    Scalar { value: f64 },
    /// Unary minus of a float panel.
    Neg { arg: NodeId },
    /// Logical not of a bool panel.
    Not { arg: NodeId },
    /// `lhs op rhs`, aligned as finlab aligns two frames.
    Binary { op: BinOp, lhs: NodeId, rhs: NodeId },
    /// A registry operator. `recv` is the receiver (none for indicators); `args` holds one value
    /// per registry parameter, defaults filled in; `prices` are the price panels an indicator or a
    /// stop reads; `out` picks one output of a multi-output indicator.
    Call {
        op: OpId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recv: Option<NodeId>,
        args: Vec<Arg>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        prices: Vec<NodeId>,
        #[serde(default, skip_serializing_if = "is_zero")]
        out: usize,
    },
    /// `value[cond]`: value where cond is True, missing elsewhere.
    Mask { value: NodeId, cond: NodeId },
}

impl Node {
    /// The nodes this node reads.
    pub fn operands(&self) -> Vec<NodeId> {
        match self {
            Node::Load { .. } | Node::Scalar { .. } => vec![],
            Node::Neg { arg } | Node::Not { arg } => vec![*arg],
            Node::Binary { lhs, rhs, .. } => vec![*lhs, *rhs],
            Node::Call {
                recv, args, prices, ..
            } => recv
                .iter()
                .copied()
                .chain(args.iter().filter_map(|a| match a {
                    Arg::Node(n) => Some(*n),
                    _ => None,
                }))
                .chain(prices.iter().copied())
                .collect(),
            Node::Mask { value, cond } => vec![*value, *cond],
        }
    }
}

/// A plan: dataset keys to load, the node DAG and the node whose value is the position panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub magic: String,
    pub version: u32,
    pub registry_hash: u64,
    /// Dataset keys (finlab spelling, e.g. `price:收盤價`), in the order the input panels are sent.
    pub inputs: Vec<String>,
    pub nodes: Vec<Node>,
    pub output: NodeId,
    /// The dates the result is read at, sorted, when only some rows matter: `sim()` with a
    /// calendar `resample` reads the latest row on or before each rebalance date. Then
    /// cross-sectional operators (`rank`, `is_largest`, `is_smallest`) whose results reach the
    /// output through row-wise operators on one grid are computed on those rows only, and the
    /// result's other rows are cleared (NaN, or False for flags). `None`: every row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Vec<i32>>,
}

/// Why a plan was refused before evaluation.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("plan bytes are not a valid plan: {0}")]
    Decode(String),
    #[error("plan magic/version mismatch: got {magic:?} v{version}, expected {PLAN_MAGIC:?} v{PLAN_VERSION}")]
    Version { magic: String, version: u32 },
    #[error("plan was built for another operator registry (hash {got:#x}, guest has {want:#x})")]
    Registry { got: u64, want: u64 },
    #[error("node {node} refers to node {operand}, which is not an earlier node")]
    BadOperand { node: usize, operand: usize },
    #[error("node {node} loads input {input}, but the plan has {count} inputs")]
    BadInput {
        node: usize,
        input: usize,
        count: usize,
    },
    #[error("plan output {output} is not a node (plan has {count} nodes)")]
    BadOutput { output: usize, count: usize },
}

impl Plan {
    /// A new empty plan with the current magic, version and registry hash.
    pub fn new() -> Plan {
        Plan {
            magic: PLAN_MAGIC.to_string(),
            version: PLAN_VERSION,
            registry_hash: registry_hash(),
            inputs: Vec::new(),
            nodes: Vec::new(),
            output: 0,
            read_at: None,
        }
    }

    /// For each node, the nodes that read it (once per operand), in plan order.
    pub fn readers(&self) -> Vec<Vec<usize>> {
        let n = self.nodes.len();
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, node) in self.nodes.iter().enumerate() {
            for op in node.operands() {
                if op < n {
                    readers[op].push(i);
                }
            }
        }
        readers
    }

    /// Serializes the plan (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        // invariant: a Plan holds only plain data; serde_json cannot fail on it.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes and validates plan bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Plan, PlanError> {
        let plan: Plan =
            serde_json::from_slice(bytes).map_err(|e| PlanError::Decode(e.to_string()))?;
        plan.validate()?;
        Ok(plan)
    }

    /// Checks magic, version, registry hash and that the DAG is well formed.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.magic != PLAN_MAGIC || self.version != PLAN_VERSION {
            return Err(PlanError::Version {
                magic: self.magic.clone(),
                version: self.version,
            });
        }
        if self.registry_hash != registry_hash() {
            return Err(PlanError::Registry {
                got: self.registry_hash,
                want: registry_hash(),
            });
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if let Node::Load { input } = node {
                if *input >= self.inputs.len() {
                    return Err(PlanError::BadInput {
                        node: i,
                        input: *input,
                        count: self.inputs.len(),
                    });
                }
            }
            for operand in node.operands() {
                if operand >= i {
                    return Err(PlanError::BadOperand { node: i, operand });
                }
            }
        }
        if self.output >= self.nodes.len() {
            return Err(PlanError::BadOutput {
                output: self.output,
                count: self.nodes.len(),
            });
        }
        Ok(())
    }
}

impl Default for Plan {
    fn default() -> Self {
        Plan::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_validation() {
        let mut plan = Plan::new();
        plan.inputs.push("price:收盤價".into());
        plan.nodes.push(Node::Load { input: 0 });
        plan.nodes.push(Node::Call {
            op: OpId::Average,
            recv: Some(0),
            args: vec![Arg::Int(20)],
            prices: vec![],
            out: 0,
        });
        plan.output = 1;
        let back = Plan::from_bytes(&plan.to_bytes()).unwrap();
        assert_eq!(back, plan);

        plan.nodes.push(Node::Not { arg: 5 });
        assert_eq!(
            plan.validate(),
            Err(PlanError::BadOperand {
                node: 2,
                operand: 5
            })
        );
        assert!(matches!(
            Plan::from_bytes(b"\x00garbage"),
            Err(PlanError::Decode(_))
        ));
    }
}
