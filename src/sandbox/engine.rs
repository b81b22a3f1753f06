//! The wasmtime host: one [`Engine`] (fuel and epochs on) and one pre-linked instance per
//! process; a fresh store per evaluation, or a warm session that kept its inputs (see
//! [`Sandbox::evaluate_shared`] and [`super::session`]). The guest gets no WASI capabilities:
//! its imports are the stubs of [`super::wasi`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsl_runtime::plan::Plan;
use dsl_runtime::wire::{self, PanelData, Position};
use dsl_runtime::{GuestError, GuestErrorKind, RESULT_ERR, RESULT_OK};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, OptLevel,
    PoolingAllocationConfig,
};

use super::cache::{load_or_compile, CacheOutcome};
use super::limits::{Limits, EPOCH_TICK, MAX_CONCURRENT, MAX_MEMORY};
use super::session::{classify, EvalCtx, Pool, RunError, Session, START_FUEL};
use super::{wasi, SandboxError};

/// The guest module, built by `build.rs` for wasm32-wasip1.
pub static GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.wasm"));
/// FNV-1a hash of [`GUEST_WASM`], computed at build time (module-cache key).
pub const GUEST_HASH: &str = env!("DSL_GUEST_HASH");

/// What one evaluation produced.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// The position panel the plan produced.
    pub position: Position,
    /// Fuel the evaluation consumed.
    pub fuel_used: u64,
    /// The fuel budget it ran under.
    pub fuel_limit: u64,
    /// The guest's largest linear memory during the evaluation, in bytes.
    pub peak_memory: usize,
    /// Wall time of the evaluation: instantiation, copy-in and the guest's run.
    pub elapsed: Duration,
    /// Where the time went.
    pub stages: Stages,
    /// What the warm session's reuse store gave and kept (zero without reuse).
    pub reuse: ReuseStats,
}

/// Intermediate results of one evaluation read from a warm session's store (`hits`) or
/// computed (`misses`, of the kinds it keeps), and the bytes it holds afterwards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReuseStats {
    /// Results read from the store.
    pub hits: u32,
    /// Results computed that the store keeps kinds of.
    pub misses: u32,
    /// What the store holds after the evaluation, in MiB.
    pub held_mib: u32,
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
    pre: InstancePre<EvalCtx>,
    limits: Limits,
    /// Whether the compiled guest came from the on-disk cache.
    pub cache: CacheOutcome,
    stop: Arc<AtomicBool>,
    idle: Pool,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

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
    // The guest's fused multiply-adds (TA-Lib's) are relaxed SIMD's `relaxed_madd`: always
    // fused in deterministic mode, so every host gives the native build's bits.
    config.wasm_relaxed_simd(true);
    config.relaxed_simd_deterministic(true);
    // For profiling: `perf` names the guest's functions from /tmp/perf-PID.map.
    if std::env::var_os("DSL_ENGINE_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let mut pool = PoolingAllocationConfig::default();
    pool.total_memories(MAX_CONCURRENT)
        .total_tables(MAX_CONCURRENT)
        .total_core_instances(MAX_CONCURRENT)
        // The 32-bit guest can address 4 GiB; the store's limiter enforces the real cap.
        .max_memory_size(MAX_MEMORY)
        .linear_memory_keep_resident(KEEP_RESIDENT);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| SandboxError::Internal(format!("engine: {e:#}")))
}

impl Sandbox {
    /// Builds the engine, loads (or compiles and caches) the guest and links it.
    pub fn new(
        limits: Limits,
        cache_dir: Option<&std::path::Path>,
    ) -> Result<Sandbox, SandboxError> {
        let engine = new_engine()?;
        let (module, cache) = load_or_compile(&engine, GUEST_WASM, GUEST_HASH, cache_dir)?;
        let mut linker = Linker::new(&engine);
        wasi::add_to_linker(&mut linker, |ctx: &mut EvalCtx| &mut ctx.wasi)
            .map_err(|e| SandboxError::Internal(format!("linker: {e:#}")))?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| SandboxError::Internal(format!("the guest's imports: {e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker_stop = stop.clone();
        std::thread::Builder::new()
            .name("dsl-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| SandboxError::Internal(format!("epoch thread: {e}")))?;
        Ok(Sandbox {
            pre,
            limits,
            cache,
            stop,
            idle: Pool::default(),
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
        let (plan_bytes, limits) = prepare(plan, inputs, limits);
        let mut session = Session::new(&self.pre, &limits)?;
        run_in(&mut session, &plan_bytes, inputs, None, &limits)
    }

    /// Like [`Sandbox::evaluate`], in a warm session when one is idle: inputs shared with an
    /// earlier evaluation (the same `Arc`) are not copied into the guest again. The session
    /// keeps them for the next one (in what the reuse budget leaves of half the memory cap,
    /// least recently used first out).
    pub fn evaluate_shared(
        &self,
        plan: &Plan,
        inputs: &[Arc<PanelData>],
    ) -> Result<Evaluation, SandboxError> {
        let refs: Vec<&PanelData> = inputs.iter().map(|p| p.as_ref()).collect();
        let (plan_bytes, limits) = prepare(plan, &refs, &self.limits);
        let warm = self.idle.checkout(inputs);
        let was_warm = warm.is_some();
        let mut session = match warm {
            Some(s) => s,
            None => Session::new(&self.pre, &limits)?,
        };
        match run_in(&mut session, &plan_bytes, &refs, Some(inputs), &limits) {
            Ok(ev) => {
                self.idle.checkin(session);
                Ok(ev)
            }
            Err(SandboxError::MemoryCap { .. }) if was_warm => {
                drop(session);
                let mut fresh = Session::new(&self.pre, &limits)?;
                let ev = run_in(&mut fresh, &plan_bytes, &refs, Some(inputs), &limits)?;
                self.idle.checkin(fresh);
                Ok(ev)
            }
            Err(e @ (SandboxError::PlanRejected(_) | SandboxError::EvalFailed(_))) => {
                // The guest returned normally: its state is sound, the session can serve again.
                self.idle.checkin(session);
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
        let mut session = Session::new(&self.pre, limits)?;
        let fuel = limits
            .fuel
            .unwrap_or_else(|| default_fuel_for_bytes(data.len()));
        session.reset(limits, fuel)?;
        run_raw(
            &mut session,
            plan_bytes,
            data,
            (limits, fuel),
            Stages::default(),
        )
    }
}

/// The plan's bytes and the limits with the fuel sized for it.
fn prepare(plan: &Plan, inputs: &[&PanelData], limits: &Limits) -> (Vec<u8>, Limits) {
    let cells: usize = inputs.iter().map(|p| p.values.len()).sum();
    let fuel = limits.fuel_for(plan, cells);
    let limits = Limits {
        fuel: Some(fuel),
        ..limits.clone()
    };
    (plan.to_bytes(), limits)
}

/// Fuel for raw bytes when no plan is at hand: the start-up allowance plus the decoding cost.
fn default_fuel_for_bytes(bytes: usize) -> u64 {
    START_FUEL.saturating_add(100u64.saturating_mul(bytes as u64))
}

/// One evaluation in `session`: copies in the inputs it does not hold yet (keeping them when
/// `keep` gives their `Arc`s), then runs the plan.
fn run_in(
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
    session.reset(limits, fuel)?;
    // The kept half of the memory: the reuse budget for results first, input panels in the
    // rest (copying a panel in again costs less than computing a stored result again); a
    // fresh store (no `keep`) keeps nothing.
    let kept = limits.memory_bytes / 2;
    let results = match keep {
        Some(_) => limits.reuse_budget().min(kept),
        None => 0,
    };
    let slots = session
        .copy_in(inputs, keep, kept - results)
        .map_err(|e| classify(e, session.store.data(), fuel, started.elapsed(), limits))?;
    // Inputs this evaluation reads are kept even past their share; results get what is left.
    let reuse = results.min(kept.saturating_sub(session.kept_bytes()));
    session
        .set_reuse(reuse)
        .map_err(|e| classify(e, session.store.data(), fuel, started.elapsed(), limits))?;
    let header = wire::encode_header(inputs, &slots);
    stages.copy_in = started.elapsed();
    run_raw(session, plan_bytes, &header, (limits, fuel), stages)
}

/// Runs the plan on the header bytes (whose values the session already holds), in a session
/// [`Session::reset`] with `fuel` for this evaluation.
fn run_raw(
    session: &mut Session,
    plan_bytes: &[u8],
    data: &[u8],
    (limits, fuel): (&Limits, u64),
    mut stages: Stages,
) -> Result<Evaluation, SandboxError> {
    let started = Instant::now();
    let result = call_guest(
        session,
        plan_bytes,
        data,
        limits.max_result_bytes,
        &mut stages,
    );
    let fuel_used = fuel.saturating_sub(session.store.get_fuel().unwrap_or(0));
    let ctx = session.store.data();
    let elapsed = started.elapsed() + stages.instantiate + stages.copy_in;
    let position = result.map_err(|e| classify(e, ctx, fuel, elapsed, limits))?;
    let reuse = session.reuse_stats();
    let ctx = session.store.data();
    Ok(Evaluation {
        position,
        fuel_used,
        fuel_limit: fuel,
        peak_memory: ctx.memory.peak,
        elapsed: started.elapsed() + stages.instantiate + stages.copy_in,
        stages,
        reuse,
    })
}

/// Copies the plan and the input bytes into the guest, runs `dsl_eval` and reads its reply.
fn call_guest(
    session: &mut Session,
    plan: &[u8],
    data: &[u8],
    max_result: usize,
    stages: &mut Stages,
) -> Result<Position, RunError> {
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
    reply.map_err(RunError::Reported)
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
            Err(match err.kind {
                GuestErrorKind::Plan => SandboxError::PlanRejected(err.message),
                GuestErrorKind::Eval => SandboxError::EvalFailed(err.message),
            })
        }
        _ => Err(SandboxError::Internal(
            "the guest returned an empty result".into(),
        )),
    }
}
