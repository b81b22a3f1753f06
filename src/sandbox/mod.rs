//! The sandbox: runs a [`Plan`](dsl_runtime::plan::Plan) in the wasm guest under fuel, wall-clock
//! and memory limits and returns the position panel. Every limit hit is a typed
//! [`SandboxError`] that names the limit, the value and the flag that changes it; the host never
//! panics and the next evaluation in the same process works.

mod cache;
mod engine;
mod limits;
mod session;
mod wasi;

use std::time::Duration;

pub use cache::{default_cache_dir, CacheOutcome};
pub use engine::{Evaluation, ReuseStats, Sandbox, Stages, GUEST_HASH, GUEST_WASM};
pub use limits::{
    check_reuse, default_fuel, parse_memory_mib, parse_reuse_mib, Limits, DEFAULT_MEMORY,
    DEFAULT_WALL, MAX_CONCURRENT, MAX_MEMORY,
};

/// Why an evaluation in the sandbox failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The fuel budget ran out (`--fuel`).
    #[error("the evaluation ran out of fuel ({fuel} units): the plan is too costly for its budget; raise it with --fuel")]
    OutOfFuel {
        /// The fuel budget that ran out.
        fuel: u64,
    },
    /// The wall-clock deadline passed (`--timeout`).
    #[error("the evaluation passed its wall-clock deadline ({:.1}s of {:.1}s allowed); raise it with --timeout", elapsed.as_secs_f64(), limit.as_secs_f64())]
    Timeout {
        /// Wall time when the evaluation was stopped.
        elapsed: Duration,
        /// The deadline (`--timeout`).
        limit: Duration,
    },
    /// The guest asked for more linear memory than `--memory` allows.
    #[error("the evaluation needed more than the memory cap of {} MiB (peak granted {} MiB); {}", limit >> 20, peak >> 20, limits::memory_advice(*limit))]
    MemoryCap {
        /// Linear memory granted to the guest when it asked for more, in bytes.
        peak: usize,
        /// The cap (`--memory`), in bytes.
        limit: usize,
    },
    /// The encoded result is larger than the host reads.
    #[error("the guest's result is {bytes} bytes, over the {limit}-byte limit")]
    ResultTooLarge {
        /// The size of the encoded result, in bytes.
        bytes: usize,
        /// The largest result the host reads, in bytes.
        limit: usize,
    },
    /// The guest trapped (a bug or a limit wasmtime enforces).
    #[error("the guest trapped: {message}{}", if output.is_empty() { String::new() } else { format!(" (guest said: {output})") })]
    GuestTrap {
        /// wasmtime's description of the trap.
        message: String,
        /// What the guest wrote to stdout/stderr before it trapped.
        output: String,
    },
    /// The guest refused the plan (another registry, a malformed node).
    #[error("the guest refused the plan: {0}")]
    PlanRejected(String),
    /// An operator failed on the data (the guest's typed evaluation error).
    #[error("evaluation failed: {0}")]
    EvalFailed(String),
    /// The host could not set up or talk to the guest.
    #[error("sandbox internal error: {0}")]
    Internal(String),
}
