//! Shared helpers for the integration tests: a module cache and a synthetic data directory that
//! persist in cargo's per-target temp dir, so only the first test run pays for compiling the guest
//! and generating the data.

#![allow(dead_code)]

use std::path::PathBuf;

use dsl_engine::data::synth::{SynthConfig, GENERATOR, VERSION};
use dsl_engine::data::{self, DataDir};

/// The module cache shared by all integration tests.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache")
}

/// The small test market (`SynthConfig::test()`: 300 stocks × ≈ 1,210 sessions), generated once
/// into the target temp dir (the directory name carries the generator version).
pub fn data_dir() -> DataDir {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("synthetic-data-{GENERATOR}-v{VERSION}-test"));
    data::ensure(&dir, &SynthConfig::test(), &mut |_| {}).expect("generating synthetic data")
}
