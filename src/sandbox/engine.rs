//! The wasmtime host: one [`Engine`] (fuel and epochs on) and one pre-linked instance per
//! process; a fresh [`Store`] per evaluation, or a warm session that kept its inputs (see
//! [`Sandbox::evaluate_shared`]). The guest gets no WASI capabilities: its six WASI
//! imports are stubs here — no files, no environment, no clock, no network; `random_get` is a
//! fixed stream so evaluation is deterministic (in a fresh store, its fuel count too); `fd_write` is captured so a
//! guest panic message reaches the error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dsl_runtime::plan::Plan;
use dsl_runtime::wire::{self, PanelData, Position};
use dsl_runtime::{GuestError, RESULT_ERR, RESULT_OK};
use wasmtime::{
    Caller, Config, Engine, Instance, InstanceAllocationStrategy, InstancePre, Linker, Memory,
    OptLevel, PoolingAllocationConfig, ResourceLimiter, Store, Trap,
};

use super::cache::{load_or_compile, CacheOutcome};
use super::limits::{Limits, EPOCH_TICK};
use super::SandboxError;

/// The guest module, built by `build.rs` for wasm32-wasip1.
pub static GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.wasm"));
/// FNV-1a hash of [`GUEST_WASM`], computed at build time (module-cache key).
pub const GUEST_HASH: &str = env!("DSL_GUEST_HASH");

const WASI: &str = "wasi_snapshot_preview1";
const STDERR_CAP: usize = 16 * 1024;

/// Per-evaluation state owned by the store.
struct EvalCtx {
    memory: MemoryLimiter,
    stderr: Vec<u8>,
    rng: u64,
}

/// Caps linear memory, records the peak and whether the cap was hit (so the error is classified
/// by a flag, never by matching message text).
struct MemoryLimiter {
    cap: usize,
    peak: usize,
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

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// What one evaluation produced.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub position: Position,
    pub fuel_used: u64,
    pub fuel_limit: u64,
    pub peak_memory: usize,
    pub elapsed: Duration,
    /// Where the time went.
    pub stages: Stages,
}

/// The time of each step of one evaluation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stages {
    /// Serialising the plan and the input panels into the wire format (host).
    pub encode: Duration,
    /// A fresh store and instance from the pre-linked module.
    pub instantiate: Duration,
    /// Copying plan and inputs into the guest's linear memory.
    pub copy_in: Duration,
    /// The guest: decoding its inputs and evaluating the plan.
    pub guest: Duration,
    /// Copying the result out and decoding it into a panel.
    pub copy_out: Duration,
}

/// A ready-to-run sandbox: compiled guest, linker, limits, the epoch thread and the idle
/// sessions.
pub struct Sandbox {
    engine: Engine,
    pre: InstancePre<EvalCtx>,
    limits: Limits,
    /// Whether the compiled guest came from the on-disk cache.
    pub cache: CacheOutcome,
    stop: Arc<AtomicBool>,
    idle: Mutex<Vec<Session>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A guest instance kept between evaluations with the input panels already copied into it:
/// the next evaluation that reads the same panels skips the copy and the instantiation.
///
/// Only the plan and the inputs differ between evaluations, and the guest is deterministic and
/// never writes into a kept input, so a warm session gives the same position as a fresh one.
/// Fuel and wall clock are reset per evaluation; any failure discards the session, so a trap
/// never leaves state behind; an evaluation that hits the memory cap in a session holding other
/// panels is retried in a fresh one, so the cap is never hit because of what was kept.
struct Session {
    store: Store<EvalCtx>,
    instance: Instance,
    memory: Memory,
    kept: Vec<Kept>,
    next_slot: u32,
    /// Evaluations run in this session (the recency clock of `kept`).
    runs: u64,
    /// How long the instance took to create, until its first evaluation reports it.
    created: Option<Duration>,
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

/// Evaluations that can run at once in one process (each holds a pooled memory slot).
pub const MAX_CONCURRENT: u32 = 32;
/// Idle sessions kept for reuse; the rest of the pool stays free for fresh instances.
const MAX_IDLE: usize = MAX_CONCURRENT as usize / 2;
/// Bytes of each pooled linear memory kept resident (zeroed with `memset`) after an evaluation
/// instead of being returned to the OS: the next evaluation in that slot reuses the pages
/// without a page fault per 4 KiB. Measured on the bench set: faults were ~30% of an
/// evaluation's time with a fresh memory each time.
pub const KEEP_RESIDENT: usize = 1 << 30;

fn new_engine() -> Result<Engine, SandboxError> {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_memories(MAX_CONCURRENT)
        .total_tables(MAX_CONCURRENT)
        .total_core_instances(MAX_CONCURRENT)
        // The 32-bit guest can address 4 GiB; the store's limiter enforces the real cap.
        .max_memory_size(4 << 30)
        .linear_memory_keep_resident(KEEP_RESIDENT);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| SandboxError::Internal(format!("engine: {e:#}")))
}

fn memory_of(caller: &mut Caller<'_, EvalCtx>) -> Option<Memory> {
    caller.get_export("memory").and_then(|e| e.into_memory())
}

fn linker(engine: &Engine) -> Result<Linker<EvalCtx>, SandboxError> {
    let mut l: Linker<EvalCtx> = Linker::new(engine);
    let err = |e: wasmtime::Error| SandboxError::Internal(format!("linker: {e:#}"));
    l.func_wrap(
        WASI,
        "random_get",
        |mut caller: Caller<'_, EvalCtx>, ptr: i32, len: i32| -> i32 {
            let Some(mem) = memory_of(&mut caller) else {
                return 8; // EBADF
            };
            let mut state = caller.data().rng;
            let mut bytes = vec![0u8; len.max(0) as usize];
            for b in bytes.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            caller.data_mut().rng = state;
            match mem.write(&mut caller, ptr as u32 as usize, &bytes) {
                Ok(()) => 0,
                Err(_) => 21, // EFAULT
            }
        },
    )
    .map_err(err)?;
    l.func_wrap(
        WASI,
        "environ_sizes_get",
        |mut caller: Caller<'_, EvalCtx>, count: i32, size: i32| -> i32 {
            let Some(mem) = memory_of(&mut caller) else {
                return 8;
            };
            let zero = 0u32.to_le_bytes();
            let ok = mem.write(&mut caller, count as u32 as usize, &zero).is_ok()
                && mem.write(&mut caller, size as u32 as usize, &zero).is_ok();
            if ok {
                0
            } else {
                21
            }
        },
    )
    .map_err(err)?;
    l.func_wrap(WASI, "environ_get", |_: i32, _: i32| -> i32 { 0 })
        .map_err(err)?;
    l.func_wrap(WASI, "sched_yield", || -> i32 { 0 })
        .map_err(err)?;
    l.func_wrap(WASI, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::msg(format!(
            "the guest exited with code {code}"
        )))
    })
    .map_err(err)?;
    l.func_wrap(
        WASI,
        "fd_write",
        |mut caller: Caller<'_, EvalCtx>,
         _fd: i32,
         iovs: i32,
         iovs_len: i32,
         written: i32|
         -> i32 {
            let Some(mem) = memory_of(&mut caller) else {
                return 8;
            };
            let mut total = 0u32;
            let mut captured = Vec::new();
            {
                let data = mem.data(&caller);
                for i in 0..iovs_len.max(0) as usize {
                    let at = iovs as u32 as usize + i * 8;
                    let Some(iov) = data.get(at..at + 8) else {
                        return 21;
                    };
                    let ptr = u32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]) as usize;
                    let len = u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]) as usize;
                    let Some(bytes) = data.get(ptr..ptr.saturating_add(len)) else {
                        return 21;
                    };
                    captured.extend_from_slice(bytes);
                    total = total.saturating_add(len as u32);
                }
            }
            let buf = &mut caller.data_mut().stderr;
            let room = STDERR_CAP.saturating_sub(buf.len());
            buf.extend_from_slice(&captured[..captured.len().min(room)]);
            match mem.write(&mut caller, written as u32 as usize, &total.to_le_bytes()) {
                Ok(()) => 0,
                Err(_) => 21,
            }
        },
    )
    .map_err(err)?;
    Ok(l)
}

impl Sandbox {
    /// Builds the engine, loads (or compiles and caches) the guest and links it.
    pub fn new(
        limits: Limits,
        cache_dir: Option<&std::path::Path>,
    ) -> Result<Sandbox, SandboxError> {
        let engine = new_engine()?;
        let (module, cache) = load_or_compile(&engine, GUEST_WASM, GUEST_HASH, cache_dir)?;
        let pre = linker(&engine)?
            .instantiate_pre(&module)
            .map_err(|e| SandboxError::Internal(format!("the guest's imports: {e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.clone();
        let ticker_stop = stop.clone();
        std::thread::Builder::new()
            .name("dsl-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| SandboxError::Internal(format!("epoch thread: {e}")))?;
        Ok(Sandbox {
            engine,
            pre,
            limits,
            cache,
            stop,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Evaluates `plan` on `inputs` (one per `plan.inputs`, same order) in a fresh instance,
    /// under the sandbox's limits.
    pub fn evaluate(&self, plan: &Plan, inputs: &[&PanelData]) -> Result<Evaluation, SandboxError> {
        self.evaluate_with(plan, inputs, &self.limits)
    }

    /// Like [`Sandbox::evaluate`], under other limits.
    pub fn evaluate_with(
        &self,
        plan: &Plan,
        inputs: &[&PanelData],
        limits: &Limits,
    ) -> Result<Evaluation, SandboxError> {
        let (plan_bytes, limits) = self.prepare(plan, inputs, limits);
        let mut session = self.session(&limits)?;
        self.run_in(&mut session, &plan_bytes, inputs, None, &limits)
    }

    /// Like [`Sandbox::evaluate`], in a warm session when one is idle: inputs shared with an
    /// earlier evaluation (the same `Arc`) are not copied into the guest again. The session
    /// keeps them (up to half the memory cap, least recently used first out) for the next one.
    pub fn evaluate_shared(
        &self,
        plan: &Plan,
        inputs: &[Arc<PanelData>],
    ) -> Result<Evaluation, SandboxError> {
        let refs: Vec<&PanelData> = inputs.iter().map(|p| p.as_ref()).collect();
        let (plan_bytes, limits) = self.prepare(plan, &refs, &self.limits);
        let warm = self.checkout(inputs);
        let was_warm = warm.is_some();
        let mut session = match warm {
            Some(s) => s,
            None => self.session(&limits)?,
        };
        match self.run_in(&mut session, &plan_bytes, &refs, Some(inputs), &limits) {
            Ok(ev) => {
                self.checkin(session);
                Ok(ev)
            }
            Err(SandboxError::MemoryCap { .. }) if was_warm => {
                drop(session);
                let mut fresh = self.session(&limits)?;
                let ev = self.run_in(&mut fresh, &plan_bytes, &refs, Some(inputs), &limits)?;
                self.checkin(fresh);
                Ok(ev)
            }
            Err(e @ (SandboxError::PlanRejected(_) | SandboxError::EvalFailed(_))) => {
                // The guest returned normally: its state is sound, the session can serve again.
                self.checkin(session);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Evaluates serialized plan and input bytes as they cross into the guest (the guest
    /// validates both; malformed bytes are a typed error). `limits.fuel` of `None` gives the
    /// start-up allowance only.
    pub fn evaluate_bytes(
        &self,
        plan_bytes: &[u8],
        data: &[u8],
        limits: &Limits,
    ) -> Result<Evaluation, SandboxError> {
        let mut session = self.session(limits)?;
        let fuel = limits
            .fuel
            .unwrap_or_else(|| default_fuel_for_bytes(data.len()));
        reset(&mut session.store, limits, fuel)?;
        self.run_raw(
            &mut session,
            plan_bytes,
            data,
            (limits, fuel),
            Stages::default(),
        )
    }

    /// The plan's bytes and the limits with the fuel sized for it.
    fn prepare(&self, plan: &Plan, inputs: &[&PanelData], limits: &Limits) -> (Vec<u8>, Limits) {
        let cells: usize = inputs.iter().map(|p| p.values.len()).sum();
        let fuel = limits.fuel_for(plan, cells);
        let limits = Limits {
            fuel: Some(fuel),
            ..limits.clone()
        };
        (plan.to_bytes(), limits)
    }

    /// A fresh store and instance.
    fn session(&self, limits: &Limits) -> Result<Session, SandboxError> {
        let started = Instant::now();
        let mut store = Store::new(
            &self.engine,
            EvalCtx {
                memory: MemoryLimiter {
                    cap: limits.memory_bytes,
                    peak: 0,
                    hit: false,
                },
                stderr: Vec::new(),
                rng: 0x9E37_79B9_7F4A_7C15,
            },
        );
        store.limiter(|c| &mut c.memory);
        // Instantiation runs no guest code that needs more than the start-up allowance.
        let budget = limits.fuel.unwrap_or(u64::MAX).min(START_FUEL);
        store
            .set_fuel(budget)
            .map_err(|e| SandboxError::Internal(format!("{e:#}")))?;
        store.set_epoch_deadline(deadline_ticks(limits));
        let instance = match self.pre.instantiate(&mut store) {
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
        Ok(Session {
            store,
            instance,
            memory,
            kept: Vec::new(),
            next_slot: 0,
            runs: 0,
            created: Some(started.elapsed()),
        })
    }

    /// The idle session holding the most bytes of `inputs`, if any is idle.
    fn checkout(&self, inputs: &[Arc<PanelData>]) -> Option<Session> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let overlap = |s: &Session| -> usize {
            s.kept
                .iter()
                .filter(|k| inputs.iter().any(|p| Arc::ptr_eq(p, &k.panel)))
                .map(Kept::bytes)
                .sum()
        };
        let best = (0..idle.len()).max_by_key(|&i| overlap(&idle[i]))?;
        Some(idle.swap_remove(best))
    }

    fn checkin(&self, session: Session) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(session);
        }
    }

    /// One evaluation in `session`: copies in the inputs it does not hold yet (keeping them when
    /// `keep` gives their `Arc`s), then runs the plan.
    fn run_in(
        &self,
        session: &mut Session,
        plan_bytes: &[u8],
        inputs: &[&PanelData],
        keep: Option<&[Arc<PanelData>]>,
        limits: &Limits,
    ) -> Result<Evaluation, SandboxError> {
        let started = Instant::now();
        let bytes_in = inputs.iter().fold(0usize, |n, p| {
            n.saturating_add(p.values.len().saturating_mul(8))
        });
        if bytes_in > u32::MAX as usize || bytes_in > limits.memory_bytes {
            return Err(SandboxError::MemoryCap {
                peak: bytes_in,
                limit: limits.memory_bytes,
            });
        }
        let mut stages = Stages {
            instantiate: session.created.take().unwrap_or_default(),
            ..Stages::default()
        };
        session.runs += 1;
        let fuel = limits
            .fuel
            .unwrap_or_else(|| default_fuel_for_bytes(bytes_in));
        reset(&mut session.store, limits, fuel)?;
        let slots = match copy_in(session, inputs, keep, limits.memory_bytes / 2) {
            Ok(slots) => slots,
            Err(e) => {
                let ctx = session.store.data();
                return Err(classify(e, ctx, fuel, started.elapsed(), limits));
            }
        };
        let header = wire::encode_header(inputs, &slots);
        stages.copy_in = started.elapsed();
        self.run_raw(session, plan_bytes, &header, (limits, fuel), stages)
    }

    /// Runs the plan on the header bytes (whose values the session already holds), in a store
    /// [`reset`] with `fuel` for this evaluation.
    fn run_raw(
        &self,
        session: &mut Session,
        plan_bytes: &[u8],
        data: &[u8],
        (limits, fuel): (&Limits, u64),
        mut stages: Stages,
    ) -> Result<Evaluation, SandboxError> {
        let started = Instant::now();
        let result = run(
            session,
            plan_bytes,
            data,
            limits.max_result_bytes,
            &mut stages,
        );
        let fuel_used = fuel.saturating_sub(session.store.get_fuel().unwrap_or(0));
        let ctx = session.store.data();
        let elapsed = started.elapsed() + stages.instantiate + stages.copy_in;
        let position = match result {
            Ok(reply) => reply?,
            Err(e) => return Err(classify(e, ctx, fuel, elapsed, limits)),
        };
        Ok(Evaluation {
            position,
            fuel_used,
            fuel_limit: fuel,
            peak_memory: ctx.memory.peak,
            elapsed: started.elapsed() + stages.instantiate + stages.copy_in,
            stages,
        })
    }
}

/// Fuel for instantiating the guest (its start-up code; no plan runs).
const START_FUEL: u64 = 500_000_000;

fn deadline_ticks(limits: &Limits) -> u64 {
    (limits.wall.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}

/// Arms a session's store for one evaluation: fuel, deadline, memory cap, captured output.
fn reset(store: &mut Store<EvalCtx>, limits: &Limits, fuel: u64) -> Result<(), SandboxError> {
    store
        .set_fuel(fuel)
        .map_err(|e| SandboxError::Internal(format!("{e:#}")))?;
    store.set_epoch_deadline(deadline_ticks(limits));
    let ctx = store.data_mut();
    ctx.memory.cap = limits.memory_bytes;
    ctx.memory.hit = false;
    ctx.stderr.clear();
    Ok(())
}

fn free_slot(session: &mut Session, slot: u32) {
    if let Ok(free) = session
        .instance
        .get_typed_func::<u32, ()>(&mut session.store, "dsl_free_values")
    {
        // A failure here surfaces on the next call into the guest.
        let _ = free.call(&mut session.store, slot);
    }
}

/// Puts every input into a values slot of the guest (reusing the slots of inputs it already
/// holds) and returns the slots, in input order. With `keep`, the inputs stay for later
/// evaluations: kept panels not needed now are freed, least recently used first, until the
/// kept bytes fit `budget` again.
fn copy_in(
    session: &mut Session,
    inputs: &[&PanelData],
    keep: Option<&[Arc<PanelData>]>,
    budget: usize,
) -> Result<Vec<u32>, RunError> {
    let run = session.runs;
    let held = |s: &Session, i: usize| -> Option<usize> {
        let p = keep?.get(i)?;
        s.kept.iter().position(|k| Arc::ptr_eq(&k.panel, p))
    };
    let needed: usize = (0..inputs.len())
        .filter(|&i| held(session, i).is_none())
        .map(|i| inputs[i].values.len() * 8)
        .sum();
    let mut kept_bytes: usize = session.kept.iter().map(Kept::bytes).sum();
    while kept_bytes + needed > budget {
        let stale = session
            .kept
            .iter()
            .enumerate()
            .filter(|(_, k)| !keep.is_some_and(|ps| ps.iter().any(|p| Arc::ptr_eq(p, &k.panel))))
            .min_by_key(|(_, k)| k.last_run)
            .map(|(i, _)| i);
        let Some(i) = stale else { break };
        let k = session.kept.swap_remove(i);
        kept_bytes -= k.bytes();
        free_slot(session, k.slot);
    }
    let alloc = session
        .instance
        .get_typed_func::<(u32, u32), u32>(&mut session.store, "dsl_alloc_values")?;
    let mut slots = Vec::with_capacity(inputs.len());
    for (i, p) in inputs.iter().enumerate() {
        if let Some(at) = held(session, i) {
            session.kept[at].last_run = run;
            slots.push(session.kept[at].slot);
            continue;
        }
        let slot = session.next_slot;
        session.next_slot += 1;
        let ptr = alloc.call(&mut session.store, (slot, p.values.len() as u32))? as usize;
        let dst = session
            .memory
            .data_mut(&mut session.store)
            .get_mut(ptr..ptr.saturating_add(p.values.len() * 8))
            .ok_or(RunError::Abi("values buffer out of bounds"))?;
        wire::write_values(&p.values, dst);
        if let Some(panel) = keep.and_then(|ps| ps.get(i)) {
            session.kept.push(Kept {
                panel: panel.clone(),
                slot,
                last_run: run,
            });
        }
        slots.push(slot);
    }
    Ok(slots)
}

/// Fuel for raw bytes when no plan is at hand: the start-up allowance plus the decoding cost.
fn default_fuel_for_bytes(bytes: usize) -> u64 {
    START_FUEL.saturating_add(100u64.saturating_mul(bytes as u64))
}

fn run(
    session: &mut Session,
    plan: &[u8],
    data: &[u8],
    max_result: usize,
    stages: &mut Stages,
) -> Result<Result<Position, SandboxError>, RunError> {
    let mut clock = Instant::now();
    let mut lap = || {
        let now = Instant::now();
        let d = now - clock;
        clock = now;
        d
    };
    let (store, instance, memory) = (&mut session.store, session.instance, session.memory);
    let alloc = instance.get_typed_func::<u32, u32>(&mut *store, "dsl_alloc")?;
    let free = instance.get_typed_func::<(u32, u32), ()>(&mut *store, "dsl_free")?;
    let eval = instance.get_typed_func::<(u32, u32, u32, u32), u64>(&mut *store, "dsl_eval")?;
    let plan_ptr = alloc.call(&mut *store, plan.len() as u32)?;
    memory
        .write(&mut *store, plan_ptr as usize, plan)
        .map_err(|_| RunError::Abi("plan buffer out of bounds"))?;
    let data_ptr = alloc.call(&mut *store, data.len() as u32)?;
    memory
        .write(&mut *store, data_ptr as usize, data)
        .map_err(|_| RunError::Abi("input buffer out of bounds"))?;
    stages.copy_in += lap();
    let packed = eval.call(
        &mut *store,
        (plan_ptr, plan.len() as u32, data_ptr, data.len() as u32),
    )?;
    stages.guest = lap();
    let (ptr, len) = ((packed >> 32) as usize, (packed & 0xFFFF_FFFF) as usize);
    if len > max_result {
        return Err(RunError::TooLarge(len));
    }
    // Decoded where it lies in the guest's memory (one copy, into the position).
    let reply = memory
        .data(&*store)
        .get(ptr..ptr.saturating_add(len))
        .map(read_reply)
        .ok_or(RunError::Abi("result buffer out of bounds"))?;
    free.call(&mut *store, (ptr as u32, len as u32))?;
    stages.copy_out = lap();
    Ok(reply)
}

/// The guest's reply: a position, or the error it reported.
fn read_reply(bytes: &[u8]) -> Result<Position, SandboxError> {
    match bytes.split_first() {
        Some((&RESULT_OK, rest)) => wire::decode_position(rest)
            .map_err(|e| SandboxError::Internal(format!("the guest's result: {e}"))),
        Some((&RESULT_ERR, rest)) => {
            let err: GuestError = serde_json::from_slice(rest).map_err(|e| {
                SandboxError::Internal(format!("the guest's error is unreadable: {e}"))
            })?;
            Err(if err.kind == "plan" {
                SandboxError::PlanRejected(err.message)
            } else {
                SandboxError::EvalFailed(err.message)
            })
        }
        _ => Err(SandboxError::Internal(
            "the guest returned an empty result".into(),
        )),
    }
}

enum RunError {
    Wasm(wasmtime::Error),
    Abi(&'static str),
    TooLarge(usize),
}

impl From<wasmtime::Error> for RunError {
    fn from(e: wasmtime::Error) -> Self {
        RunError::Wasm(e)
    }
}

fn classify(
    e: RunError,
    ctx: &EvalCtx,
    fuel: u64,
    elapsed: Duration,
    limits: &Limits,
) -> SandboxError {
    let e = match e {
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
            output: String::from_utf8_lossy(&ctx.stderr).trim().to_string(),
        },
    }
}
