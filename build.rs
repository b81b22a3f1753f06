//! Builds the guest (`runtime/`) for wasm32-wasip1 into its own target directory and copies it
//! to `OUT_DIR/guest.wasm`, which `src/sandbox/engine.rs` embeds. A separate target directory
//! avoids deadlocking on the outer build's lock; inherited RUSTFLAGS are cleared so host-only
//! flags never reach the wasm build.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("target"))
        .join("guest");
    for path in ["runtime/src", "runtime/Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "--manifest-path",
        ])
        .arg(manifest_dir.join("runtime/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status()
        .expect("running cargo to build the wasm guest");
    if !status.success() {
        panic!(
            "building the wasm guest failed; is the wasm32-wasip1 target installed? (rust-toolchain.toml lists it; `rustup target add wasm32-wasip1`)"
        );
    }
    let wasm = target_dir.join("wasm32-wasip1/release/dsl_runtime.wasm");
    let bytes = std::fs::read(&wasm).expect("reading the built guest");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    std::fs::write(out_dir.join("guest.wasm"), &bytes).expect("writing OUT_DIR/guest.wasm");
    println!("cargo:rustc-env=DSL_GUEST_HASH={h:016x}");
}
