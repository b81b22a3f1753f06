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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iterate::evaluate::{Figures, SandboxFigures};
    use crate::iterate::Scores;

    #[test]
    fn a_result_crosses_the_wire_bit_for_bit() {
        let awkward = [
            0.1 + 0.2,
            -0.0,
            f64::MIN_POSITIVE / 3.0,
            1.0 / 3.0,
            f64::NAN,
            f64::INFINITY,
            123_456.789e-300,
        ];
        let r = JobResult {
            run: "r".into(),
            trial: 7,
            computed: Computed {
                result: Ok(Figures {
                    in_sample: Scores {
                        sharpe: Some(awkward[0]),
                        cagr: Some(awkward[3]),
                        ..Scores::default()
                    },
                    validation: None,
                    feedback: "ok".into(),
                    series: awkward
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (i as i32, *v))
                        .collect(),
                }),
                sandbox_ms: 1.5,
                backtest_ms: 2.5,
                sandbox: Some(SandboxFigures {
                    fuel_used: u64::MAX,
                    fuel_limit: 1,
                    peak_memory: 2,
                }),
                worker: Some("h/1".into()),
            },
            delivered: 2,
            worker_ms: 3.0,
        };
        let back: JobResult = decode(&encode(&r), "result").unwrap();
        let (Ok(a), Ok(b)) = (&r.computed.result, &back.computed.result) else {
            panic!("the result changed kind");
        };
        let bits = |f: &Figures| {
            f.series
                .iter()
                .map(|p| (p.0, p.1.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(a), bits(b));
        assert_eq!(a.in_sample, b.in_sample);
        assert_eq!(back.computed.sandbox.map(|s| s.fuel_used), Some(u64::MAX));
        assert!(decode::<JobResult>(b"not msgpack", "result").is_err());
    }
}
