//! The compiled-module cache: Cranelift takes about a second to compile the guest (6.7 s for the
//! former polars guest, `docs/architecture.md` §5.1), so the compiled artifact is written once per
//! (guest hash, wasmtime version, engine configuration) and memory-mapped on later runs.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::{Engine, Module};

use super::SandboxError;

/// Whether the module came from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a previously compiled module.
    Hit,
    /// Compiled now (and stored, when a cache directory is writable).
    Compiled,
}

/// The module cache directory: `$DSL_ENGINE_CACHE_DIR`, else `<user cache>/dsl-engine/modules`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("DSL_ENGINE_CACHE_DIR") {
        return PathBuf::from(p);
    }
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("dsl-engine")
        .join("modules")
}

fn cache_file(engine: &Engine, dir: &Path, guest_hash: &str) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    dir.join(format!(
        "guest-{guest_hash}-wasmtime48-{:016x}.cwasm",
        h.finish()
    ))
}

/// Loads the compiled guest from `dir`, or compiles `wasm` and stores it there.
pub fn load_or_compile(
    engine: &Engine,
    wasm: &[u8],
    guest_hash: &str,
    dir: Option<&Path>,
) -> Result<(Module, CacheOutcome), SandboxError> {
    let path = dir.map(|d| cache_file(engine, d, guest_hash));
    if let Some(path) = &path {
        if path.exists() {
            // SAFETY: the file is in our own cache directory, named by the guest's hash and the
            // engine's compatibility hash, and was written by `Module::serialize` of this
            // program; wasmtime also checks its header and refuses a mismatched artifact.
            match unsafe { Module::deserialize_file(engine, path) } {
                Ok(m) => return Ok((m, CacheOutcome::Hit)),
                Err(_) => {
                    // Stale or damaged: recompile and overwrite below.
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
    let module = Module::new(engine, wasm)
        .map_err(|e| SandboxError::Internal(format!("compiling the guest failed: {e:#}")))?;
    if let Some(path) = &path {
        // A cache that cannot be written only costs time on the next run.
        let _ = store(&module, path);
    }
    Ok((module, CacheOutcome::Compiled))
}

fn store(module: &Module, path: &Path) -> Option<()> {
    let bytes = module.serialize().ok()?;
    std::fs::create_dir_all(path.parent()?).ok()?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).ok()?;
    std::fs::rename(&tmp, path).ok()
}
