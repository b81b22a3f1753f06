//! Guest instances: a [`Session`] is a store and an instance of the guest, fresh or kept warm
//! between evaluations with its input panels already copied in ([`Pool`]); [`classify`] turns
//! what went wrong in one into a typed [`SandboxError`].
//!
//! Only the plan and the inputs differ between evaluations, and the guest is deterministic and
//! never writes into a kept input, so a warm session gives the same position as a fresh one.
//! Fuel and wall clock are reset per evaluation; any failure discards the session, so a trap
//! never leaves state behind; an evaluation that hits the memory cap in a session holding other
//! panels is retried in a fresh one (see `Sandbox::evaluate_shared`), so the cap is never hit
//! because of what was kept.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dsl_runtime::wire::{self, PanelData};
use wasmtime::{Instance, InstancePre, Memory, ResourceLimiter, Store, Trap};

use super::limits::{Limits, EPOCH_TICK, MAX_CONCURRENT};
use super::wasi::Wasi;
use super::{ReuseStats, SandboxError};

/// Fuel for instantiating the guest (its start-up code; no plan runs).
pub(super) const START_FUEL: u64 = 500_000_000;
/// Idle sessions kept for reuse; the rest of the pool stays free for fresh instances.
const MAX_IDLE: usize = MAX_CONCURRENT as usize / 2;

/// Per-evaluation state owned by the store.
pub(super) struct EvalCtx {
    pub memory: MemoryLimiter,
    pub wasi: Wasi,
}

/// Caps linear memory, records the peak and whether the cap was hit (so the error is classified
/// by a flag, never by matching message text).
pub(super) struct MemoryLimiter {
    cap: usize,
    pub peak: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.hit = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    /// Growth past the guest's 4 GiB address space never reaches [`Self::memory_growing`]: it
    /// is the cap too.
    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.hit = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A store and an instance of the guest, with the input panels it keeps.
pub(super) struct Session {
    pub store: Store<EvalCtx>,
    pub instance: Instance,
    pub memory: Memory,
    kept: Vec<Kept>,
    next_slot: u32,
    /// Evaluations run in this session (the recency clock of `kept`).
    pub runs: u64,
    /// How long the instance took to create, until its first evaluation reports it.
    pub created: Option<Duration>,
    /// Whether the guest's reuse budget is above 0.
    reusing: bool,
    /// The thread that last returned the session to the pool.
    last_thread: Option<std::thread::ThreadId>,
}

/// An input panel kept in a session's values slot.
struct Kept {
    panel: Arc<PanelData>,
    slot: u32,
    last_run: u64,
}

impl Kept {
    fn bytes(&self) -> usize {
        self.panel.values.len() * 8
    }
}

/// What went wrong calling into a session's guest, before it is classified.
pub(super) enum RunError {
    Wasm(wasmtime::Error),
    /// The guest gave the host a buffer outside its memory.
    Abi(&'static str),
    /// The guest's result, over the limit.
    TooLarge(usize),
    /// The guest returned normally and reported this error.
    Reported(SandboxError),
}

impl From<wasmtime::Error> for RunError {
    fn from(e: wasmtime::Error) -> Self {
        RunError::Wasm(e)
    }
}

fn deadline_ticks(limits: &Limits) -> u64 {
    (limits.wall.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}

impl Session {
    /// A fresh store and instance of `pre` under `limits`.
    pub fn new(pre: &InstancePre<EvalCtx>, limits: &Limits) -> Result<Session, SandboxError> {
        let started = Instant::now();
        let ctx = EvalCtx {
            memory: MemoryLimiter {
                cap: limits.memory_bytes,
                peak: 0,
                hit: false,
            },
            wasi: Wasi::default(),
        };
        let mut store = Store::new(pre.module().engine(), ctx);
        store.limiter(|c| &mut c.memory);
        // Instantiation runs no guest code that needs more than the start-up allowance.
        let budget = limits.fuel.unwrap_or(u64::MAX).min(START_FUEL);
        store
            .set_fuel(budget)
            .map_err(|e| SandboxError::Internal(format!("{e:#}")))?;
        store.set_epoch_deadline(deadline_ticks(limits));
        let instance = match pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => {
                let elapsed = started.elapsed();
                return Err(classify(
                    RunError::Wasm(e),
                    store.data(),
                    budget,
                    elapsed,
                    limits,
                ));
            }
        };
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| SandboxError::Internal("the guest exports no memory".into()))?;
        // No huge-page advice for the guest's memory: touched once per session, it faulted in
        // about 4x slower with it on a VM whose host takes freed memory back (architecture §4.5).
        Ok(Session {
            store,
            instance,
            memory,
            kept: Vec::new(),
            next_slot: 0,
            runs: 0,
            created: Some(started.elapsed()),
            reusing: false,
            last_thread: None,
        })
    }

    /// Arms the store for one evaluation: fuel, deadline, memory cap, captured output.
    pub fn reset(&mut self, limits: &Limits, fuel: u64) -> Result<(), SandboxError> {
        self.store
            .set_fuel(fuel)
            .map_err(|e| SandboxError::Internal(format!("{e:#}")))?;
        self.store.set_epoch_deadline(deadline_ticks(limits));
        let ctx = self.store.data_mut();
        ctx.memory.cap = limits.memory_bytes;
        ctx.memory.hit = false;
        ctx.wasi.stderr.clear();
        Ok(())
    }

    fn free_slot(&mut self, slot: u32) {
        if let Ok(free) = self
            .instance
            .get_typed_func::<u32, ()>(&mut self.store, "dsl_free_values")
        {
            // A failure here surfaces on the next call into the guest.
            let _ = free.call(&mut self.store, slot);
        }
    }

    /// Bytes of the input panels kept.
    pub fn kept_bytes(&self) -> usize {
        self.kept.iter().map(Kept::bytes).sum()
    }

    /// Sets the guest's reuse budget (intermediate results kept between evaluations) to
    /// `bytes`, rounded down to MiB; 0 keeps nothing.
    pub fn set_reuse(&mut self, bytes: usize) -> Result<(), RunError> {
        let mib = u32::try_from(bytes >> 20).unwrap_or(u32::MAX);
        if mib == 0 && !self.reusing {
            return Ok(());
        }
        self.reusing = mib > 0;
        let set = self
            .instance
            .get_typed_func::<u32, ()>(&mut self.store, "dsl_reuse_budget")?;
        set.call(&mut self.store, mib)?;
        Ok(())
    }

    /// What the last evaluation read from and kept in the guest's reuse store.
    pub fn reuse_stats(&mut self) -> ReuseStats {
        if !self.reusing {
            return ReuseStats::default();
        }
        let Ok(stats) = self
            .instance
            .get_typed_func::<(), u64>(&mut self.store, "dsl_reuse_stats")
        else {
            return ReuseStats::default();
        };
        // The call only reads the store; a failure (no fuel left) reports nothing.
        let packed = stats.call(&mut self.store, ()).unwrap_or(0);
        ReuseStats {
            hits: (packed >> 48) as u32,
            misses: ((packed >> 32) & 0xFFFF) as u32,
            held_mib: (packed & 0xFFFF_FFFF) as u32,
        }
    }

    /// The slot already holding input `i` (kept under the `Arc` `keep` gives for it).
    fn held(&self, keep: Option<&[Arc<PanelData>]>, i: usize) -> Option<usize> {
        let p = keep?.get(i)?;
        self.kept.iter().position(|k| Arc::ptr_eq(&k.panel, p))
    }

    /// Frees kept panels not among `keep`, least recently used first, until the kept bytes
    /// and `needed` fit `budget` (or nothing more can go).
    fn evict(&mut self, keep: Option<&[Arc<PanelData>]>, needed: usize, budget: usize) {
        let mut kept_bytes: usize = self.kept.iter().map(Kept::bytes).sum();
        while kept_bytes + needed > budget {
            let in_use =
                |k: &Kept| keep.is_some_and(|ps| ps.iter().any(|p| Arc::ptr_eq(p, &k.panel)));
            let stale = self
                .kept
                .iter()
                .enumerate()
                .filter(|(_, k)| !in_use(k))
                .min_by_key(|(_, k)| k.last_run)
                .map(|(i, _)| i);
            let Some(i) = stale else { break };
            let k = self.kept.swap_remove(i);
            kept_bytes -= k.bytes();
            self.free_slot(k.slot);
        }
    }

    /// Puts every input into a values slot of the guest (reusing the slots of inputs it already
    /// holds) and returns the slots, in input order. With `keep`, the inputs stay for later
    /// evaluations: kept panels not needed now are freed, least recently used first, until the
    /// kept bytes fit `budget` again.
    pub fn copy_in(
        &mut self,
        inputs: &[&PanelData],
        keep: Option<&[Arc<PanelData>]>,
        budget: usize,
    ) -> Result<Vec<u32>, RunError> {
        let run = self.runs;
        let needed: usize = (0..inputs.len())
            .filter(|&i| self.held(keep, i).is_none())
            .map(|i| inputs[i].values.len() * 8)
            .sum();
        self.evict(keep, needed, budget);
        let alloc = self
            .instance
            .get_typed_func::<(u32, u32), u32>(&mut self.store, "dsl_alloc_values")?;
        let mut slots = Vec::with_capacity(inputs.len());
        for (i, p) in inputs.iter().enumerate() {
            if let Some(at) = self.held(keep, i) {
                self.kept[at].last_run = run;
                slots.push(self.kept[at].slot);
                continue;
            }
            let slot = self.next_slot;
            self.next_slot += 1;
            let ptr = alloc.call(&mut self.store, (slot, p.values.len() as u32))? as usize;
            let dst = self
                .memory
                .data_mut(&mut self.store)
                .get_mut(ptr..ptr.saturating_add(p.values.len() * 8))
                .ok_or(RunError::Abi("values buffer out of bounds"))?;
            wire::write_values(&p.values, dst);
            if let Some(panel) = keep.and_then(|ps| ps.get(i)) {
                self.kept.push(Kept {
                    panel: panel.clone(),
                    slot,
                    last_run: run,
                });
            }
            slots.push(slot);
        }
        Ok(slots)
    }
}

/// The idle sessions, for reuse by the next evaluation that reads the same panels.
#[derive(Default)]
pub(super) struct Pool(Mutex<Vec<Session>>);

impl Pool {
    /// The idle session this thread used last, else the one holding the most bytes of
    /// `inputs`, if any is idle. (A thread runs related trials one after another, see
    /// [`crate::parallel::map_grouped`], so its session's reuse store holds what they share.)
    pub fn checkout(&self, inputs: &[Arc<PanelData>]) -> Option<Session> {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let overlap = |s: &Session| -> usize {
            s.kept
                .iter()
                .filter(|k| inputs.iter().any(|p| Arc::ptr_eq(p, &k.panel)))
                .map(Kept::bytes)
                .sum()
        };
        let me = Some(std::thread::current().id());
        let best =
            (0..idle.len()).max_by_key(|&i| (idle[i].last_thread == me, overlap(&idle[i])))?;
        Some(idle.swap_remove(best))
    }

    /// Keeps `session` for reuse, unless enough are idle already.
    pub fn checkin(&self, mut session: Session) {
        session.last_thread = Some(std::thread::current().id());
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(session);
        }
    }
}

/// The typed error for `e`, from what the store recorded: the memory cap's flag first (a
/// refused growth surfaces as whatever the guest did next), then wasmtime's trap codes.
pub(super) fn classify(
    e: RunError,
    ctx: &EvalCtx,
    fuel: u64,
    elapsed: Duration,
    limits: &Limits,
) -> SandboxError {
    let e = match e {
        RunError::Reported(e) => return e,
        RunError::Abi(what) => {
            return SandboxError::GuestTrap {
                message: what.to_string(),
                output: String::new(),
            }
        }
        RunError::TooLarge(bytes) => {
            return SandboxError::ResultTooLarge {
                bytes,
                limit: limits.max_result_bytes,
            }
        }
        RunError::Wasm(e) => e,
    };
    if ctx.memory.hit {
        return SandboxError::MemoryCap {
            peak: ctx.memory.peak,
            limit: limits.memory_bytes,
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => SandboxError::OutOfFuel { fuel },
        Some(Trap::Interrupt) => SandboxError::Timeout {
            elapsed,
            limit: limits.wall,
        },
        _ => SandboxError::GuestTrap {
            message: format!("{e:#}"),
            output: String::from_utf8_lossy(&ctx.wasi.stderr).trim().to_string(),
        },
    }
}
