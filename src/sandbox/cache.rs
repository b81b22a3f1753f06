//! The compiled-module cache: Cranelift takes about a second to compile the guest, so the
//! compiled artifact is written once per (guest hash, wasmtime version, engine configuration)
//! and loaded on later runs.
//!
//! A compiled module is native code that runs outside the sandbox's checks, so the cache is not
//! trusted as is: each module is stored with its SHA-256 beside it (`*.cwasm.sha256`), and it
//! is read into memory and checked against that digest before wasmtime loads it from those
//! very bytes. A module that fails the check (a damaged disk, a half-written file, an edit) is
//! compiled again and replaced, and the outcome says why ([`CacheOutcome::Recompiled`]).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use super::SandboxError;

/// Where the compiled guest came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a previously compiled module (its digest checked).
    Hit,
    /// Compiled now (and stored, when a cache directory is writable).
    Compiled,
    /// The cached module failed its check (the reason) and was compiled again and replaced.
    Recompiled(String),
}

impl CacheOutcome {
    /// `hit`, `compiled` or `recompiled`.
    pub fn label(&self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Compiled => "compiled",
            CacheOutcome::Recompiled(_) => "recompiled",
        }
    }
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

/// The digest file stored beside a compiled module.
fn digest_file(module: &Path) -> PathBuf {
    let mut name = module.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The cached module's bytes when they match their digest; `Ok(None)` when there is no cached
/// module; otherwise what is wrong with it.
fn read_verified(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "the cached module {} is unreadable: {e}",
                path.display()
            ))
        }
    };
    let digest = digest_file(path);
    let expected = std::fs::read_to_string(&digest).map_err(|e| {
        format!(
            "the cached module {} has no readable digest ({}: {e})",
            path.display(),
            digest.display()
        )
    })?;
    if expected.trim() != sha256_hex(&bytes) {
        return Err(format!(
            "the cached module {} does not match its SHA-256 digest (damaged or modified)",
            path.display()
        ));
    }
    Ok(Some(bytes))
}

/// Loads the compiled guest from `dir` when it passes its digest check, or compiles `wasm` and
/// stores it (with its digest) there.
pub fn load_or_compile(
    engine: &Engine,
    wasm: &[u8],
    guest_hash: &str,
    dir: Option<&Path>,
) -> Result<(Module, CacheOutcome), SandboxError> {
    let path = dir.map(|d| cache_file(engine, d, guest_hash));
    let mut damage = None;
    if let Some(path) = &path {
        match read_verified(path) {
            // SAFETY: these bytes are the ones `Module::serialize` of this program wrote (their
            // SHA-256 matches the digest stored beside them), under a name that carries the
            // guest's hash and the engine's compatibility hash; wasmtime also checks the header
            // and refuses a mismatched artifact.
            Ok(Some(bytes)) => match unsafe { Module::deserialize(engine, &bytes) } {
                Ok(m) => return Ok((m, CacheOutcome::Hit)),
                Err(e) => {
                    damage = Some(format!(
                        "the cached module {} could not be loaded: {e:#}",
                        path.display()
                    ))
                }
            },
            Ok(None) => {}
            Err(why) => damage = Some(why),
        }
        if damage.is_some() {
            let _ = std::fs::remove_file(path);
            let _ = std::fs::remove_file(digest_file(path));
        }
    }
    let module = Module::new(engine, wasm)
        .map_err(|e| SandboxError::Internal(format!("compiling the guest failed: {e:#}")))?;
    if let Some(path) = &path {
        // A cache that cannot be written only costs time on the next run.
        let _ = store(&module, path);
    }
    let outcome = damage.map_or(CacheOutcome::Compiled, CacheOutcome::Recompiled);
    Ok((module, outcome))
}

/// Writes the module and then its digest, each through a temporary file and a rename (a
/// reader sees a whole file or none; a module whose digest is missing or stale is recompiled).
fn store(module: &Module, path: &Path) -> Option<()> {
    let bytes = module.serialize().ok()?;
    std::fs::create_dir_all(path.parent()?).ok()?;
    let digest = digest_file(path);
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let tmp_digest = path.with_extension(format!("sha256-tmp-{}", std::process::id()));
    std::fs::write(&tmp, &bytes).ok()?;
    std::fs::write(&tmp_digest, sha256_hex(&bytes)).ok()?;
    std::fs::rename(&tmp, path).ok()?;
    std::fs::rename(&tmp_digest, digest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_is_read_only_when_it_matches_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.cwasm");
        assert_eq!(read_verified(&path), Ok(None));
        std::fs::write(&path, b"compiled code").unwrap();
        let err = read_verified(&path).unwrap_err();
        assert!(err.contains("no readable digest"), "{err}");
        std::fs::write(digest_file(&path), sha256_hex(b"compiled code")).unwrap();
        assert_eq!(read_verified(&path), Ok(Some(b"compiled code".to_vec())));
        std::fs::write(&path, b"compiled cod3").unwrap();
        let err = read_verified(&path).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
    }
}
