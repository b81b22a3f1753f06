//! Typed program → [`Plan`], the DAG the sandbox guest evaluates. The plan types themselves live
//! in the runtime crate (`dsl_runtime::plan`) so host and guest compile the same definitions.

mod affinity;
mod cost;
mod lower;

pub use affinity::affinity_keys;
pub use cost::estimated_cost;
pub use dsl_runtime::plan::{BinOp, Node, NodeId, Plan};
pub use lower::{lower, Lowered};
