//! Builds the guest (`runtime/`) for wasm32-wasip1 into its own target directory and copies it
//! to `OUT_DIR/guest.wasm`, which `src/sandbox/engine.rs` embeds. A separate target directory
//! avoids deadlocking on the outer build's lock; inherited RUSTFLAGS are cleared so host-only
//! flags never reach the wasm build.
//!
//! The guest needs the `wasm32-wasip1` standard library. rustup does not add a target listed in
//! `rust-toolchain.toml` to a toolchain that is already installed (nor at all with
//! `RUSTUP_AUTO_INSTALL=0`), so this script checks the sysroot and, when the target is missing,
//! adds it with `rustup target add` for the toolchain cargo is running. Without rustup it stops
//! with one message naming what to install.

// A build script talks to cargo through stdout and to the user through stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{exit, Command};

const TARGET: &str = "wasm32-wasip1";

/// The runtime crate's FNV-1a (the guest's hash names its compiled-module cache entry).
#[allow(dead_code)]
mod fnv {
    include!("runtime/src/fnv.rs");
}

fn main() {
    let manifest_dir = PathBuf::from(env_or_fail("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env_or_fail("OUT_DIR"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("target"))
        .join("guest");
    for path in ["runtime/src", "runtime/Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={path}");
    }
    ensure_wasm_target();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(manifest_dir.join("runtime/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "building the wasm guest (runtime/) for {TARGET} failed ({s}); the compiler's errors are above"
        )),
        Err(e) => fail(&format!("could not run cargo to build the wasm guest: {e}")),
    }
    let wasm = target_dir.join(format!("{TARGET}/release/dsl_runtime.wasm"));
    let bytes = std::fs::read(&wasm)
        .unwrap_or_else(|e| fail(&format!("reading the built guest {}: {e}", wasm.display())));
    let h = fnv::fnv1a(&bytes);
    if let Err(e) = std::fs::write(out_dir.join("guest.wasm"), &bytes) {
        fail(&format!("writing OUT_DIR/guest.wasm: {e}"));
    }
    println!("cargo:rustc-env=DSL_GUEST_HASH={h:016x}");
}

/// Makes sure the compiler cargo runs has the wasm target's standard library, adding it with
/// rustup when it is missing.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = match Command::new(&rustc).args(["--print", "sysroot"]).output() {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
        Ok(out) => fail(&format!(
            "`{rustc} --print sysroot` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => fail(&format!("could not run `{rustc} --print sysroot`: {e}")),
    };
    if has_target(&sysroot) {
        return;
    }
    // rustup's proxies name the toolchain they run; otherwise the sysroot's folder is its name.
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok().or_else(|| {
        sysroot
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    });
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Some(t) = &toolchain {
        cmd.args(["--toolchain", t]);
    }
    let shown = format!(
        "rustup target add {TARGET}{}",
        toolchain
            .as_deref()
            .map(|t| format!(" --toolchain {t}"))
            .unwrap_or_default()
    );
    match cmd.status() {
        Ok(s) if s.success() && has_target(&sysroot) => {
            println!(
                "cargo:warning=installed the {TARGET} target the sandbox guest needs (`{shown}`)"
            );
        }
        Ok(s) => fail(&format!(
            "the sandbox guest needs the {TARGET} standard library, which {} lacks, and `{shown}` \
             did not add it ({s}); run it by hand and build again",
            sysroot.display()
        )),
        Err(_) => fail(&format!(
            "the sandbox guest needs the {TARGET} standard library, which {} lacks, and rustup is \
             not on PATH; install the target for this compiler (with rustup: `{shown}`) and build again",
            sysroot.display()
        )),
    }
}

fn has_target(sysroot: &Path) -> bool {
    sysroot
        .join("lib/rustlib")
        .join(TARGET)
        .join("lib")
        .is_dir()
}

fn env_or_fail(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| fail(&format!("cargo did not set {name}")))
}

/// Stops the build with one message and no backtrace.
fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    println!("cargo:warning={msg}");
    exit(1)
}
