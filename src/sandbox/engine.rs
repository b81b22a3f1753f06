//! The wasmtime host: one [`Engine`] (fuel and epochs on) and one pre-linked instance per
//! process, a fresh [`Store`] per evaluation. The guest gets no WASI capabilities: its six WASI
//! imports are stubs here — no files, no environment, no clock, no network; `random_get` is a
//! fixed stream so evaluation (and its fuel count) is deterministic; `fd_write` is captured so a
//! guest panic message reaches the error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsl_runtime::plan::Plan;
use dsl_runtime::wire::{self, PanelData};
use dsl_runtime::{GuestError, RESULT_ERR, RESULT_OK};
use wasmtime::{
    Caller, Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Memory, OptLevel,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap,
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
    pub position: PanelData,
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

/// A ready-to-run sandbox: compiled guest, linker, limits and the epoch thread.
pub struct Sandbox {
    engine: Engine,
    pre: InstancePre<EvalCtx>,
    limits: Limits,
    /// Whether the compiled guest came from the on-disk cache.
    pub cache: CacheOutcome,
    stop: Arc<AtomicBool>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Evaluations that can run at once in one process (each holds a pooled memory slot).
pub const MAX_CONCURRENT: u32 = 32;
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
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Evaluates `plan` on `inputs` (one per `plan.inputs`, same order) in a fresh store, under
    /// the sandbox's limits.
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
        let cells: usize = inputs.iter().map(|p| p.values.len()).sum();
        let fuel = limits.fuel_for(plan, cells);
        let limits = Limits {
            fuel: Some(fuel),
            ..limits.clone()
        };
        let started = Instant::now();
        let (plan_bytes, header) = (plan.to_bytes(), wire::encode_header(inputs));
        let encode = started.elapsed();
        let values: Vec<&[f64]> = inputs.iter().map(|p| p.values.as_slice()).collect();
        let mut ev = self.evaluate_raw(&plan_bytes, &header, &values, &limits)?;
        ev.stages.encode = encode;
        ev.elapsed += encode;
        Ok(ev)
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
        self.evaluate_raw(plan_bytes, data, &[], limits)
    }

    /// The evaluation: `values[i]` is written into the guest's values buffer `i` (wire kind 2
    /// panels of `data` refer to it).
    fn evaluate_raw(
        &self,
        plan_bytes: &[u8],
        data: &[u8],
        values: &[&[f64]],
        limits: &Limits,
    ) -> Result<Evaluation, SandboxError> {
        let started = Instant::now();
        let bytes_in = values.iter().fold(data.len(), |n, v| {
            n.saturating_add(v.len().saturating_mul(8))
        });
        let fuel = limits
            .fuel
            .unwrap_or_else(|| default_fuel_for_bytes(bytes_in));
        let too_big = |n: usize| n > u32::MAX as usize || n > limits.memory_bytes;
        if too_big(bytes_in) {
            return Err(SandboxError::MemoryCap {
                peak: bytes_in,
                limit: limits.memory_bytes,
            });
        }
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
        store
            .set_fuel(fuel)
            .map_err(|e| SandboxError::Internal(format!("{e:#}")))?;
        let ticks = (limits.wall.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1;
        store.set_epoch_deadline(ticks);

        let mut stages = Stages::default();
        let result = run(
            &self.pre,
            &mut store,
            plan_bytes,
            (data, values),
            limits.max_result_bytes,
            &mut stages,
        );
        let fuel_used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let ctx = store.data();
        let bytes = match result {
            Ok(b) => b,
            Err(e) => return Err(classify(e, ctx, fuel, started.elapsed(), limits)),
        };
        match bytes.split_first() {
            Some((&RESULT_OK, rest)) => {
                let decoding = Instant::now();
                let mut panels = wire::decode(rest)
                    .map_err(|e| SandboxError::Internal(format!("the guest's result: {e}")))?;
                let position = panels
                    .pop()
                    .ok_or_else(|| SandboxError::Internal("the guest returned no panel".into()))?;
                stages.copy_out += decoding.elapsed();
                Ok(Evaluation {
                    position,
                    fuel_used,
                    fuel_limit: fuel,
                    peak_memory: ctx.memory.peak,
                    elapsed: started.elapsed(),
                    stages,
                })
            }
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
}

/// Fuel for raw bytes when no plan is at hand: the start-up allowance plus the decoding cost.
fn default_fuel_for_bytes(bytes: usize) -> u64 {
    500_000_000u64.saturating_add(100u64.saturating_mul(bytes as u64))
}

fn run(
    pre: &InstancePre<EvalCtx>,
    store: &mut Store<EvalCtx>,
    plan: &[u8],
    (data, values): (&[u8], &[&[f64]]),
    max_result: usize,
    stages: &mut Stages,
) -> Result<Vec<u8>, RunError> {
    let mut clock = Instant::now();
    let mut lap = || {
        let now = Instant::now();
        let d = now - clock;
        clock = now;
        d
    };
    let instance = pre.instantiate(&mut *store)?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or(RunError::Abi("the guest exports no memory"))?;
    let alloc = instance.get_typed_func::<u32, u32>(&mut *store, "dsl_alloc")?;
    let eval = instance.get_typed_func::<(u32, u32, u32, u32), u64>(&mut *store, "dsl_eval")?;
    stages.instantiate = lap();
    if !values.is_empty() {
        let alloc_values = instance.get_typed_func::<u32, u32>(&mut *store, "dsl_alloc_values")?;
        for v in values {
            let ptr = alloc_values.call(&mut *store, v.len() as u32)? as usize;
            let dst = memory
                .data_mut(&mut *store)
                .get_mut(ptr..ptr.saturating_add(v.len() * 8))
                .ok_or(RunError::Abi("values buffer out of bounds"))?;
            wire::write_values(v, dst);
        }
    }
    let plan_ptr = alloc.call(&mut *store, plan.len() as u32)?;
    memory
        .write(&mut *store, plan_ptr as usize, plan)
        .map_err(|_| RunError::Abi("plan buffer out of bounds"))?;
    let data_ptr = alloc.call(&mut *store, data.len() as u32)?;
    memory
        .write(&mut *store, data_ptr as usize, data)
        .map_err(|_| RunError::Abi("input buffer out of bounds"))?;
    stages.copy_in = lap();
    let packed = eval.call(
        &mut *store,
        (plan_ptr, plan.len() as u32, data_ptr, data.len() as u32),
    )?;
    stages.guest = lap();
    let (ptr, len) = ((packed >> 32) as usize, (packed & 0xFFFF_FFFF) as usize);
    if len > max_result {
        return Err(RunError::TooLarge(len));
    }
    let out = memory
        .data(&*store)
        .get(ptr..ptr.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or(RunError::Abi("result buffer out of bounds"));
    stages.copy_out = lap();
    out
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
