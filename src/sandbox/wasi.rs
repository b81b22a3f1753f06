//! The guest's WASI imports, as stubs: no files, no environment, no clock, no network. The
//! Rust standard library of `wasm32-wasip1` links six functions; here `random_get` is a fixed
//! stream (so evaluation is deterministic), `fd_write` captures what a panicking guest prints
//! (so its message reaches the error), `proc_exit` traps, and the environment is empty.
//! Everything the guest asks for is bounded here: the host never allocates or copies an amount
//! the guest chooses beyond [`STDERR_CAP`] and [`RANDOM_CAP`].

use wasmtime::{Caller, Linker, Memory};

/// The module the WASI imports come from.
const MODULE: &str = "wasi_snapshot_preview1";

/// WASI `errno` values the stubs return.
pub(super) mod errno {
    /// No error.
    pub const SUCCESS: i32 = 0;
    /// The guest exports no memory to read from or write to.
    pub const BADF: i32 = 8;
    /// A pointer or length outside the guest's memory.
    pub const FAULT: i32 = 21;
    /// A request over a stub's cap.
    pub const INVAL: i32 = 28;
}

/// Bytes of the guest's output kept for the error report (the rest is counted, not kept).
pub(super) const STDERR_CAP: usize = 16 * 1024;
/// The most bytes one `random_get` gives (Rust's standard library asks for 16, to seed a hash
/// map); a larger request is refused with `EINVAL`.
pub(super) const RANDOM_CAP: usize = 4096;

/// The stubs' state in one store: the captured output and the random stream.
pub(super) struct Wasi {
    /// What the guest wrote (at most [`STDERR_CAP`] bytes).
    pub stderr: Vec<u8>,
    rng: u64,
}

impl Default for Wasi {
    fn default() -> Self {
        Wasi {
            stderr: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl Wasi {
    /// The next `len` bytes of the stream (xorshift64).
    fn random(&mut self, len: usize) -> Vec<u8> {
        let mut state = self.rng;
        let bytes = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        self.rng = state;
        bytes
    }

    /// Keeps what fits of `bytes` under [`STDERR_CAP`].
    fn capture(&mut self, bytes: &[u8]) {
        let room = STDERR_CAP.saturating_sub(self.stderr.len());
        self.stderr
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

fn memory<T>(caller: &mut Caller<'_, T>) -> Option<Memory> {
    caller.get_export("memory").and_then(|e| e.into_memory())
}

/// A guest pointer or size (WASI passes them as `u32` in an `i32`).
fn addr(x: i32) -> usize {
    x as u32 as usize
}

/// Adds the stubs to `linker`; `wasi` finds their state in a store's data.
pub(super) fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    wasi: fn(&mut T) -> &mut Wasi,
) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "random_get",
        move |mut caller: Caller<'_, T>, ptr: i32, len: i32| -> i32 {
            let Some(mem) = memory(&mut caller) else {
                return errno::BADF;
            };
            if addr(len) > RANDOM_CAP {
                return errno::INVAL;
            }
            let bytes = wasi(caller.data_mut()).random(addr(len));
            match mem.write(&mut caller, addr(ptr), &bytes) {
                Ok(()) => errno::SUCCESS,
                Err(_) => errno::FAULT,
            }
        },
    )?;
    linker.func_wrap(
        MODULE,
        "environ_sizes_get",
        |mut caller: Caller<'_, T>, count: i32, size: i32| -> i32 {
            let Some(mem) = memory(&mut caller) else {
                return errno::BADF;
            };
            let zero = 0u32.to_le_bytes();
            let ok = mem.write(&mut caller, addr(count), &zero).is_ok()
                && mem.write(&mut caller, addr(size), &zero).is_ok();
            if ok {
                errno::SUCCESS
            } else {
                errno::FAULT
            }
        },
    )?;
    // No variables, so nothing to write.
    linker.func_wrap(MODULE, "environ_get", |_: i32, _: i32| -> i32 {
        errno::SUCCESS
    })?;
    linker.func_wrap(MODULE, "sched_yield", || -> i32 { errno::SUCCESS })?;
    linker.func_wrap(MODULE, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::msg(format!(
            "the guest exited with code {code}"
        )))
    })?;
    linker.func_wrap(
        MODULE,
        "fd_write",
        move |mut caller: Caller<'_, T>, _fd: i32, iovs: i32, iovs_len: i32, written: i32| -> i32 {
            let Some(mem) = memory(&mut caller) else {
                return errno::BADF;
            };
            let (data, store) = mem.data_and_store_mut(&mut caller);
            let state = wasi(store);
            let mut total = 0u32;
            for i in 0..addr(iovs_len) {
                let at = addr(iovs).saturating_add(i.saturating_mul(8));
                let Some(iov) = data.get(at..at.saturating_add(8)) else {
                    return errno::FAULT;
                };
                let ptr = addr(i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]));
                let len = addr(i32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]));
                let Some(bytes) = data.get(ptr..ptr.saturating_add(len)) else {
                    return errno::FAULT;
                };
                state.capture(bytes);
                total = total.saturating_add(len as u32);
            }
            match mem.write(&mut caller, addr(written), &total.to_le_bytes()) {
                Ok(()) => errno::SUCCESS,
                Err(_) => errno::FAULT,
            }
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection,
        ImportSection, Instruction, MemorySection, MemoryType, Module, TypeSection, ValType,
    };
    use wasmtime::{Engine, Store};

    /// A module that imports `random_get` and `fd_write` and exports `random(len) -> errno`
    /// (into address 0) and `write(iovs, n) -> errno` (bytes written at address 60000), with
    /// one page of memory.
    fn probe() -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function([ValType::I32; 2], [ValType::I32]);
        types.ty().function([ValType::I32; 4], [ValType::I32]);
        types.ty().function([ValType::I32], [ValType::I32]);
        let mut imports = ImportSection::new();
        imports.import(MODULE, "random_get", EntityType::Function(0));
        imports.import(MODULE, "fd_write", EntityType::Function(1));
        let mut funcs = FunctionSection::new();
        funcs.function(2);
        funcs.function(0);
        let mut memory = MemorySection::new();
        memory.memory(MemoryType {
            minimum: 1,
            maximum: Some(1),
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut exports = ExportSection::new();
        exports.export("random", ExportKind::Func, 2);
        exports.export("write", ExportKind::Func, 3);
        exports.export("memory", ExportKind::Memory, 0);
        let mut code = CodeSection::new();
        let mut random = Function::new([]);
        random
            .instruction(&Instruction::I32Const(0))
            .instruction(&Instruction::LocalGet(0))
            .instruction(&Instruction::Call(0))
            .instruction(&Instruction::End);
        code.function(&random);
        let mut write = Function::new([]);
        write
            .instruction(&Instruction::I32Const(1))
            .instruction(&Instruction::LocalGet(0))
            .instruction(&Instruction::LocalGet(1))
            .instruction(&Instruction::I32Const(60_000))
            .instruction(&Instruction::Call(1))
            .instruction(&Instruction::End);
        code.function(&write);
        let mut module = Module::new();
        module
            .section(&types)
            .section(&imports)
            .section(&funcs)
            .section(&memory)
            .section(&exports)
            .section(&code);
        module.finish()
    }

    #[test]
    fn requests_over_the_caps_are_refused_or_trimmed() {
        let engine = Engine::default();
        let module = wasmtime::Module::new(&engine, probe()).unwrap();
        let mut linker: Linker<Wasi> = Linker::new(&engine);
        add_to_linker(&mut linker, |w| w).unwrap();
        let mut store = Store::new(&engine, Wasi::default());
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let random = instance
            .get_typed_func::<(i32,), i32>(&mut store, "random")
            .unwrap();
        let write = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "write")
            .unwrap();
        let mem = instance.get_memory(&mut store, "memory").unwrap();

        assert_eq!(random.call(&mut store, (16,)).unwrap(), errno::SUCCESS);
        assert!(mem.data(&store)[..16].iter().any(|b| *b != 0));
        assert_eq!(
            random.call(&mut store, (RANDOM_CAP as i32,)).unwrap(),
            errno::SUCCESS
        );
        // A guest-chosen 2 GiB (or a negative length, read as ~4 GiB) allocates nothing.
        for len in [i32::MAX, -1, RANDOM_CAP as i32 + 1] {
            assert_eq!(random.call(&mut store, (len,)).unwrap(), errno::INVAL);
        }

        // 4,000 iovecs, each the whole 64 KiB page: 256 MB "written", 16 KiB kept.
        let n = 4_000usize;
        let iovs: Vec<u8> = (0..n)
            .flat_map(|_| [0u32, 65_536].map(u32::to_le_bytes))
            .flatten()
            .collect();
        mem.write(&mut store, 1024, &iovs).unwrap();
        assert_eq!(
            write.call(&mut store, (1024, n as i32)).unwrap(),
            errno::SUCCESS
        );
        let written = u32::from_le_bytes(mem.data(&store)[60_000..60_004].try_into().unwrap());
        assert_eq!(written as usize, n * 65_536);
        assert_eq!(store.data().stderr.len(), STDERR_CAP);
        // An iovec list that runs off the memory.
        assert_eq!(write.call(&mut store, (65_530, 2)).unwrap(), errno::FAULT);
    }
}
