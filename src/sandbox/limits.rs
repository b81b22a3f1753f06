//! The sandbox's limits in one place: fuel (deterministic instruction budget), wall-clock
//! deadline (epoch interruption), memory cap (a `ResourceLimiter`) and the largest result the
//! host accepts. Defaults and the reasons for them live here.

use std::time::Duration;

use dsl_runtime::plan::Plan;

/// Per-evaluation limits.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Fuel budget; `None` sizes it from the plan and the input size ([`default_fuel`]).
    pub fuel: Option<u64>,
    /// Wall-clock deadline. Set well above the fuel-bounded run time so that fuel, which is
    /// deterministic, normally fires first; the deadline catches what fuel cannot (host stalls).
    pub wall: Duration,
    /// Cap on the guest's linear memory.
    pub memory_bytes: usize,
    /// Largest result buffer accepted from the guest.
    pub max_result_bytes: usize,
}

/// Default wall-clock deadline per evaluation.
pub const DEFAULT_WALL: Duration = Duration::from_secs(120);
/// Default memory cap: 2 GiB (a full-market panel is ~72 MB; a dozen live panels fit easily).
pub const DEFAULT_MEMORY: usize = 2 << 30;
/// Epoch tick of the deadline thread.
pub const EPOCH_TICK: Duration = Duration::from_millis(50);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: None,
            wall: DEFAULT_WALL,
            memory_bytes: DEFAULT_MEMORY,
            max_result_bytes: 1 << 30,
        }
    }
}

/// Fuel for a plan: a fixed start-up allowance plus a per-cell allowance for every node.
/// Measured on the walking skeleton: decoding inputs costs ~60 units per cell and the costliest
/// node (a per-row selection) ~800 per cell, so 4,000 per cell and node leaves ample headroom
/// while a runaway plan still stops within seconds of its honest cost.
pub fn default_fuel(plan: &Plan, input_cells: usize) -> u64 {
    const BASE: u64 = 500_000_000;
    const PER_CELL_NODE: u64 = 4_000;
    let nodes = plan.nodes.len() as u64 + 1;
    let cells = (input_cells as u64).max(1);
    BASE.saturating_add(PER_CELL_NODE.saturating_mul(cells).saturating_mul(nodes))
}

impl Limits {
    /// The fuel for one evaluation.
    pub fn fuel_for(&self, plan: &Plan, input_cells: usize) -> u64 {
        self.fuel.unwrap_or_else(|| default_fuel(plan, input_cells))
    }
}
