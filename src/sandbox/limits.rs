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
    /// Intermediate results a warm session keeps for later evaluations, in bytes
    /// (`--reuse-mib`; 0: none; `None`: [`Limits::reuse_budget`]'s default).
    pub reuse_bytes: Option<usize>,
}

/// Default wall-clock deadline per evaluation.
pub const DEFAULT_WALL: Duration = Duration::from_secs(120);
/// Default memory cap: 2 GiB (a full-market panel is ~72 MB; a dozen live panels fit easily).
pub const DEFAULT_MEMORY: usize = 2 << 30;
/// The most memory the guest can use: its 32-bit address space, 4 GiB.
pub const MAX_MEMORY: usize = 4 << 30;
/// Evaluations that can run at once in one process (each holds a pooled memory slot).
pub const MAX_CONCURRENT: u32 = 32;
/// Epoch tick of the deadline thread.
pub const EPOCH_TICK: Duration = Duration::from_millis(50);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: None,
            wall: DEFAULT_WALL,
            memory_bytes: DEFAULT_MEMORY,
            max_result_bytes: 1 << 30,
            reuse_bytes: None,
        }
    }
}

/// Fuel for a plan: a fixed start-up allowance plus a per-cell allowance for every node.
/// Measured on the dense-panel guest (the test market, 364,200 input cells): a comparison costs
/// ~15 units per input cell with its decoding, `is_largest(100)` ~230, `rolling(60).std()` ~210,
/// `rolling(60).median()` ~960 and a row-wise `rank` ~1,200, so 4,000 per cell and node leaves
/// ample headroom while a runaway plan still stops within seconds of its honest cost.
pub fn default_fuel(plan: &Plan, input_cells: usize) -> u64 {
    const BASE: u64 = 500_000_000;
    const PER_CELL_NODE: u64 = 4_000;
    let nodes = plan.nodes.len() as u64 + 1;
    let cells = (input_cells as u64).max(1);
    BASE.saturating_add(PER_CELL_NODE.saturating_mul(cells).saturating_mul(nodes))
}

impl Limits {
    /// The largest memory cap in MiB (`--memory`): the guest's address space.
    pub const MAX_MEMORY_MIB: usize = MAX_MEMORY >> 20;

    /// The most bytes of intermediate results a warm session keeps: `reuse_bytes`, by default
    /// a quarter of the memory cap, at most half of it. They count toward the cap beside the
    /// kept inputs (up to half); an evaluation that hits the cap in a warm session is retried
    /// in a fresh one, whose store is empty.
    pub fn reuse_budget(&self) -> usize {
        self.reuse_bytes
            .unwrap_or(self.memory_bytes / 4)
            .min(self.memory_bytes / 2)
    }

    /// The fuel for one evaluation.
    pub fn fuel_for(&self, plan: &Plan, input_cells: usize) -> u64 {
        self.fuel.unwrap_or_else(|| default_fuel(plan, input_cells))
    }
}

/// Parses a `--memory` value: a whole number of MiB from 1 to [`Limits::MAX_MEMORY_MIB`] (for
/// clap's `value_parser`, so a cap the guest cannot use is refused before anything runs).
pub fn parse_memory_mib(s: &str) -> Result<usize, String> {
    let mib: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of MiB"))?;
    match mib {
        0 => Err("the memory cap must be at least 1 MiB".into()),
        m if m > Limits::MAX_MEMORY_MIB => Err(format!(
            "{m} MiB is more than the sandbox guest can address (its 32-bit memory holds at most \
             {} MiB = 4 GiB)",
            Limits::MAX_MEMORY_MIB
        )),
        m => Ok(m),
    }
}

/// Parses a `--reuse-mib` value: a whole number of MiB, 0 to turn reuse off (whether it fits
/// `--memory` is checked with it, see [`check_reuse`]).
pub fn parse_reuse_mib(s: &str) -> Result<usize, String> {
    let mib: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of MiB"))?;
    if mib > Limits::MAX_MEMORY_MIB / 2 {
        return Err(format!(
            "{mib} MiB is more than half of the largest memory cap ({} MiB)",
            Limits::MAX_MEMORY_MIB
        ));
    }
    Ok(mib)
}

/// Checks that `--reuse-mib` fits `--memory`: what a session keeps stays within half the cap.
pub fn check_reuse(reuse_mib: usize, memory_mib: usize) -> Result<(), String> {
    if reuse_mib > memory_mib / 2 {
        return Err(format!(
            "--reuse-mib {reuse_mib} is more than half of --memory {memory_mib}: kept results \
             count toward the memory cap, and at least half of it stays for the evaluation; \
             lower --reuse-mib or raise --memory"
        ));
    }
    Ok(())
}

/// What to do about an evaluation that needed more than the memory cap `limit` (bytes).
pub(super) fn memory_advice(limit: usize) -> String {
    if limit < MAX_MEMORY {
        format!(
            "raise it with --memory (at most {} MiB)",
            Limits::MAX_MEMORY_MIB
        )
    } else {
        "that is all the guest can address (4 GiB): the strategy keeps too much data at once; \
         read fewer datasets or use fewer intermediate panels"
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_caps_above_the_address_space_are_refused() {
        assert_eq!(parse_memory_mib("2048"), Ok(2048));
        assert_eq!(parse_memory_mib("4096"), Ok(Limits::MAX_MEMORY_MIB));
        for bad in [
            "4097",
            "8192",
            "0",
            "-1",
            "1.5",
            "",
            "99999999999999999999999",
        ] {
            assert!(parse_memory_mib(bad).is_err(), "{bad}");
        }
        assert!(parse_memory_mib("4097").unwrap_err().contains("4096 MiB"));
        assert!(memory_advice(DEFAULT_MEMORY).contains("--memory"));
        assert!(!memory_advice(MAX_MEMORY).contains("--memory"));
    }
}
