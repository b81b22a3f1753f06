//! What travels between a coordinator and its workers, as MessagePack (every f64 keeps its
//! bits, so a worker's figures are the ones a local evaluation gives).

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::iterate::evaluate::Computed;
use crate::iterate::Split;
use crate::plan::Plan;
use crate::sandbox::Limits;
use crate::simspec::SimOptions;

/// The wire version; a worker refuses a job of another version (and says which).
pub const VERSION: u32 = 1;

/// One evaluation: a lowered plan and its `sim()` options (never strategy source).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub version: u32,
    /// The coordinator's run session (a fresh id per coordinator process).
    pub run: String,
    /// The trial within the run.
    pub trial: u32,
    pub plan: Plan,
    pub sim: SimOptions,
    /// Where the figures are cut.
    pub split: Split,
    pub limits: JobLimits,
    pub data: DataRef,
}

/// The sandbox limits of a job (the run's `--fuel`, `--timeout`, `--memory`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobLimits {
    pub fuel: Option<u64>,
    pub wall_ms: u64,
    pub memory_bytes: u64,
}

impl JobLimits {
    pub fn of(l: &Limits) -> JobLimits {
        JobLimits {
            fuel: l.fuel,
            wall_ms: u64::try_from(l.wall.as_millis()).unwrap_or(u64::MAX),
            memory_bytes: l.memory_bytes as u64,
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            fuel: self.fuel,
            wall: Duration::from_millis(self.wall_ms),
            memory_bytes: usize::try_from(self.memory_bytes).unwrap_or(usize::MAX),
            ..Limits::default()
        }
    }
}

/// The data set a job runs on: its digest, and how to regenerate it when it is synthetic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRef {
    pub digest: String,
    pub synthetic: Option<SynthRef>,
}

/// A synthetic market's generator and parameters (its manifest's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthRef {
    pub generator: String,
    pub version: u32,
    /// `SynthConfig::label`.
    pub config: String,
}

/// A job's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobResult {
    pub run: String,
    pub trial: u32,
    pub computed: Computed,
    /// Which delivery of the job this was (1 = the first).
    pub delivered: i64,
    /// The worker's time from receiving the job to publishing this, in ms.
    pub worker_ms: f64,
}

/// MessagePack with field names (the plan's optional fields are skipped when empty).
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // invariant: jobs and results hold plain data (no maps with non-string keys); encoding
    // into a Vec cannot fail.
    rmp_serde::to_vec_named(value).unwrap_or_default()
}

/// Decodes a message, saying what it was meant to be.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| format!("cannot decode the {what}: {e}"))
}
