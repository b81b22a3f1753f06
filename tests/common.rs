//! Shared helpers for the integration tests: a module cache and a synthetic data directory that
//! persist in cargo's per-target temp dir, so only the first test run pays for compiling the guest.

#![allow(dead_code)]

use std::path::PathBuf;

use dsl_engine::data::{self, DataDir};

/// The module cache shared by all integration tests.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache")
}

/// The default synthetic market, generated once into the target temp dir.
pub fn data_dir() -> DataDir {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("synthetic-data");
    data::ensure_default(&dir, &mut |_| {}).expect("generating synthetic data")
}
