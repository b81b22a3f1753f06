//! `dsl-engine bench`: complete evaluations (parse → check → plan → data → sandbox → `sim()` →
//! metrics) of a fixed, versioned strategy set on a data set, on one or more threads, with the
//! time of every stage, evaluations per hour and peak memory.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::data::DataDir;
use crate::dsl::CheckContext;
use crate::pipeline::{self, Timings};
use crate::sandbox::{ReuseStats, Sandbox};
use dsl_runtime::fnv::fnv1a;

/// The version of the built-in strategy set; bump it when the set or any of its strategies
/// changes, so figures from different versions are not compared by mistake.
pub const SET_VERSION: &str = "v1";

/// The examples in the set of [`SET_VERSION`] (new examples do not join it by themselves).
const SET: &[&str] = &[
    "cheap_pb_trend",
    "entry_exit_rotation",
    "high_rsi",
    "high_yield_turtle",
    "industry_leaders",
    "low_volatility_weekly",
    "ma_cross",
    "macd_kd",
    "mastiff",
    "momentum",
    "momentum_roe",
    "new_high",
    "peg_revenue",
    "quality_rank",
    "revenue_momentum",
    "trend_stops",
    "twin_turbo",
];

/// The built-in set: the example strategies named in [`SET`] (built into the binary).
pub fn builtin_set() -> Vec<(String, String)> {
    crate::evolve::SEEDS
        .iter()
        .map(|(name, text)| (name.trim_end_matches(".strat"), *text))
        .filter(|(name, _)| SET.contains(name))
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect()
}

/// The version of the evolve sequence ([`evolve_set`]); bump it when the sequence changes.
pub const EVOLVE_VERSION: &str = "evolve-v1";
/// Proposals in the evolve sequence.
const EVOLVE_LEN: usize = 200;
/// The seed of the evolve sequence.
const EVOLVE_SEED: u64 = 26;

/// The evolve set: a fixed, seeded sequence of [`EVOLVE_LEN`] offline-search proposals bred
/// from the examples as `iterate` breeds them (one change or a crossover at a time, parents
/// chosen by tournament), the workload whose shared sub-plans reuse serves. Each child gets
/// a pseudo-random fitness from the seed instead of a backtest, so the sequence never depends
/// on results; children are checked against the catalog's datasets.
pub fn evolve_set() -> Vec<(String, String)> {
    use crate::evolve::{seed_parents, Evolver, Parent};
    use crate::util::rng::Rng;
    let evolver = Evolver::new(pipeline::catalog_context());
    let mut parents: Vec<Parent> = seed_parents();
    let mut seen = std::collections::BTreeSet::new();
    let mut set = Vec::with_capacity(EVOLVE_LEN);
    for k in 1..=EVOLVE_LEN {
        let mut rng = Rng::new(EVOLVE_SEED, &format!("bench/evolve/{k}"));
        let Some(child) = evolver.breed(&parents, &seen, &mut rng) else {
            break;
        };
        seen.insert(child.hash.clone());
        parents.push(Parent {
            label: format!("#{k}"),
            source: child.source.clone(),
            fitness: Some(rng.range(-1.0, 1.0)),
        });
        set.push((format!("#{k}"), child.source));
    }
    set
}

/// A short fingerprint of a strategy set (names and texts), printed with the figures.
pub fn set_hash(set: &[(String, String)]) -> String {
    let text: String = set
        .iter()
        .map(|(n, t)| format!("{n}\u{1}{t}\u{2}"))
        .collect();
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// The stages of one evaluation, in pipeline order.
pub const STAGES: [&str; 11] = [
    "parse",
    "check",
    "plan",
    "load",
    "encode",
    "instantiate",
    "copy_in",
    "guest",
    "copy_out",
    "backtest",
    "metrics",
];

/// The time of each of [`STAGES`].
pub fn stage_times(t: &Timings) -> [Duration; 11] {
    [
        t.parse,
        t.check,
        t.plan,
        t.load,
        t.sandbox.encode,
        t.sandbox.instantiate,
        t.sandbox.copy_in,
        t.sandbox.guest,
        t.sandbox.copy_out,
        t.backtest,
        t.metrics,
    ]
}

/// One complete evaluation.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Index of the strategy in the set.
    pub strategy: usize,
    /// Per-stage times (all zero when the evaluation failed).
    pub timings: Timings,
    /// What the sandbox's reuse store gave and kept.
    pub reuse: ReuseStats,
    /// The guest's peak linear memory, in bytes.
    pub peak_memory: usize,
    /// Wall time of the whole evaluation on its thread.
    pub total: Duration,
    /// Why it failed, if it did (a failed evaluation still counts its time).
    pub error: Option<String>,
}

/// Evaluates strategy `index` of `set` completely.
pub fn evaluate_one(
    set: &[(String, String)],
    index: usize,
    data: &DataDir,
    sandbox: &Sandbox,
    ctx: &CheckContext,
) -> Sample {
    let started = Instant::now();
    let result = pipeline::backtest_in(&set[index].1, data, sandbox, ctx);
    Sample {
        strategy: index,
        timings: result
            .as_ref()
            .map_or_else(|_| Timings::default(), |b| b.timings),
        reuse: result
            .as_ref()
            .map_or_else(|_| ReuseStats::default(), |b| b.evaluation.reuse),
        peak_memory: result.as_ref().map_or(0, |b| b.evaluation.peak_memory),
        total: started.elapsed(),
        error: result.err().map(|e| format!("{e:#}")),
    }
}

/// Medians per strategy and overall.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The set's version ([`SET_VERSION`]); figures compare only within one version.
    pub set: String,
    /// [`set_hash`] of the strategies measured.
    pub set_hash: String,
    /// Number of strategies in the set.
    pub strategies: usize,
    /// Worker threads of the measured rounds.
    pub jobs: usize,
    /// Passes over the set after the cold one.
    pub rounds: usize,
    /// The first pass: cold panel reads included (one evaluation per strategy, one thread).
    pub cold_ms: f64,
    /// Wall time of the measured rounds.
    pub wall_ms: f64,
    /// Evaluations in the measured rounds: strategies × rounds.
    pub evaluations: usize,
    /// Throughput of the measured rounds: evaluations / wall time, per hour.
    pub evaluations_per_hour: f64,
    /// Mean wall time per evaluation across all workers (wall / evaluations).
    pub ms_per_evaluation: f64,
    /// Per stage: the median over all measured evaluations, in ms.
    pub stage_median_ms: BTreeMap<String, f64>,
    /// Per strategy: the median total and stages, in ms.
    pub per_strategy: Vec<StrategyRow>,
    /// Peak resident memory of the process, in MiB (Linux; `None` elsewhere).
    pub peak_rss_mib: Option<f64>,
    /// The reuse budget of a warm session, in MiB (0: off).
    pub reuse_mib: usize,
    /// Intermediate results read from a session's store, over the measured evaluations.
    pub reuse_hits: u64,
    /// Intermediate results computed (of the kinds the store keeps).
    pub reuse_misses: u64,
    /// Evaluations whose position itself came from the store or that read at least one result.
    pub evaluations_reusing: usize,
    /// The largest bytes a session's store held after an evaluation, in MiB.
    pub reuse_held_mib: u32,
    /// The guest's largest linear memory in one evaluation, in MiB.
    pub peak_guest_mib: f64,
    /// Throughput of the same rounds with reuse off (`--set evolve`), per hour.
    pub reuse_off_per_hour: Option<f64>,
    /// Failures of the cold pass, one `name: error` line per failing strategy.
    pub errors: Vec<String>,
    /// Measured evaluations that ended in the strategy's own error (an empty position, a
    /// sandbox limit): part of the workload, timed and counted like the others.
    pub failed: usize,
    /// Each strategy whose measured evaluation failed, with its first error, in set order.
    pub failures: Vec<Failure>,
}

/// A strategy whose measured evaluation failed.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The strategy's name in the set.
    pub name: String,
    /// Its first error.
    pub error: String,
}

/// One strategy's medians.
#[derive(Clone, Debug, Serialize)]
pub struct StrategyRow {
    /// The example's name (file stem).
    pub name: String,
    /// Median wall time of one evaluation, in ms.
    pub total_ms: f64,
    /// Median time of each stage, in ms, keyed by stage name.
    pub stage_ms: BTreeMap<String, f64>,
    /// The position-building part (parse to copy-out), to compare with pandas.
    pub eval_ms: f64,
    /// Median time of `sim()` (metrics not included), in ms.
    pub backtest_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident set size of this process in MiB (`VmHWM`), where the OS reports it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// What to run: a strategy set, its name, and how the cold pass reads the panels.
pub struct Set<'a> {
    /// The set's name as printed (`v1`, `evolve-v1`, `custom`).
    pub name: &'a str,
    /// The strategies: (name, DSL text).
    pub strategies: &'a [(String, String)],
    /// Whether the cold pass evaluates every strategy (`v1`) or only reads the panels they
    /// load (`evolve`: evaluating would fill the reuse store before the measured pass).
    pub cold_evaluates: bool,
}

/// The cold pass: every strategy evaluated once on one thread, or only its panels read.
fn cold_pass(set: &Set, data: &DataDir, sandbox: &Sandbox, ctx: &CheckContext) -> Vec<String> {
    let mut errors = Vec::new();
    for (i, (name, text)) in set.strategies.iter().enumerate() {
        let error = if set.cold_evaluates {
            evaluate_one(set.strategies, i, data, sandbox, ctx).error
        } else {
            read_panels(text, data, ctx).err()
        };
        if let Some(e) = error {
            errors.push(format!("{name}: {e}"));
        }
    }
    errors
}

/// Reads the panels `text` loads and the backtest's prices into the process's cache.
fn read_panels(text: &str, data: &DataDir, ctx: &CheckContext) -> Result<(), String> {
    let program = crate::dsl::compile(text, ctx)
        .program
        .ok_or_else(|| "the strategy is invalid".to_string())?;
    let lowered = crate::plan::lower(&program);
    pipeline::load_inputs(&lowered.plan, data).map_err(|e| format!("{e:#}"))?;
    let keys = crate::backtest::price_keys(&lowered.sim.options);
    data.shared(keys.close).map_err(|e| format!("{e:#}"))?;
    Ok(())
}

/// Runs the bench: one cold pass (panels read from disk), then `rounds` passes over the set on
/// `jobs` threads. `progress(done, total)` is called after each measured evaluation.
pub fn run(
    set: &Set,
    data: &DataDir,
    sandbox: &Sandbox,
    jobs: usize,
    rounds: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Report {
    let ctx = pipeline::check_context(data);
    let cold = Instant::now();
    let errors = cold_pass(set, data, sandbox, &ctx);
    let cold_ms = ms(cold.elapsed());
    let (name, set) = (set.name, set.strategies);

    let work: Vec<usize> = (0..rounds).flat_map(|_| 0..set.len()).collect();
    let total = work.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let texts: Vec<&str> = set.iter().map(|(_, t)| t.as_str()).collect();
    let by_strategy = pipeline::schedule(&texts, sandbox, &ctx);
    let hints: Vec<_> = work.iter().map(|&i| by_strategy[i].clone()).collect();
    let samples = crate::parallel::map_grouped(work, &hints, jobs, |i| {
        let s = evaluate_one(set, i, data, sandbox, &ctx);
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(n, total);
        s
    });
    let wall = started.elapsed();

    let mut stage_median_ms = BTreeMap::new();
    for (k, name) in STAGES.iter().enumerate() {
        let v = samples
            .iter()
            .map(|s| ms(stage_times(&s.timings)[k]))
            .collect();
        stage_median_ms.insert(name.to_string(), median(v));
    }
    stage_median_ms.insert(
        "total".into(),
        median(samples.iter().map(|s| ms(s.total)).collect()),
    );
    let per_strategy = set
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let mine: Vec<&Sample> = samples.iter().filter(|s| s.strategy == i).collect();
            let stage_ms = STAGES
                .iter()
                .enumerate()
                .map(|(k, name)| {
                    let v = mine
                        .iter()
                        .map(|s| ms(stage_times(&s.timings)[k]))
                        .collect();
                    (name.to_string(), median(v))
                })
                .collect();
            StrategyRow {
                name: name.clone(),
                total_ms: median(mine.iter().map(|s| ms(s.total)).collect()),
                stage_ms,
                eval_ms: median(mine.iter().map(|s| ms(s.timings.evaluation())).collect()),
                backtest_ms: median(mine.iter().map(|s| ms(s.timings.backtest)).collect()),
            }
        })
        .collect();
    let evaluations = samples.len();
    let wall_s = wall.as_secs_f64();
    let hits: u64 = samples.iter().map(|s| u64::from(s.reuse.hits)).sum();
    let misses: u64 = samples.iter().map(|s| u64::from(s.reuse.misses)).sum();
    Report {
        set: name.into(),
        set_hash: set_hash(set),
        strategies: set.len(),
        jobs,
        rounds,
        cold_ms,
        wall_ms: ms(wall),
        evaluations,
        evaluations_per_hour: if wall_s > 0.0 {
            evaluations as f64 * 3600.0 / wall_s
        } else {
            f64::NAN
        },
        ms_per_evaluation: if evaluations > 0 {
            ms(wall) / evaluations as f64
        } else {
            f64::NAN
        },
        stage_median_ms,
        per_strategy,
        peak_rss_mib: peak_rss_mib(),
        reuse_mib: sandbox.limits().reuse_budget() >> 20,
        reuse_hits: hits,
        reuse_misses: misses,
        evaluations_reusing: samples.iter().filter(|s| s.reuse.hits > 0).count(),
        reuse_held_mib: samples.iter().map(|s| s.reuse.held_mib).max().unwrap_or(0),
        peak_guest_mib: samples.iter().map(|s| s.peak_memory).max().unwrap_or(0) as f64
            / f64::from(1 << 20),
        reuse_off_per_hour: None,
        errors,
        failed: samples.iter().filter(|s| s.error.is_some()).count(),
        failures: failures(set, &samples),
    }
}

/// Each strategy with a failed sample and its first error, in set order.
fn failures(set: &[(String, String)], samples: &[Sample]) -> Vec<Failure> {
    let mut first: BTreeMap<usize, &str> = BTreeMap::new();
    for s in samples {
        if let Some(e) = &s.error {
            first.entry(s.strategy).or_insert(e);
        }
    }
    first
        .into_iter()
        .map(|(i, e)| Failure {
            name: set[i].0.clone(),
            error: e.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_evolve_set_is_fixed() {
        let set = evolve_set();
        assert_eq!(set.len(), EVOLVE_LEN);
        assert_eq!(set, evolve_set());
        // The sequence of `EVOLVE_VERSION`: a change to the evolver or the examples that moves
        // it needs a new version, so figures of different sequences are never compared.
        assert_eq!(set_hash(&set), "3acdd09c4f923f2c");
    }

    #[test]
    fn a_failed_strategy_is_listed_once_with_its_first_error() {
        let set: Vec<(String, String)> = ["a", "b", "c"]
            .iter()
            .map(|n| (n.to_string(), String::new()))
            .collect();
        let sample = |strategy: usize, error: Option<&str>| Sample {
            strategy,
            timings: Timings::default(),
            reuse: ReuseStats::default(),
            peak_memory: 0,
            total: Duration::ZERO,
            error: error.map(str::to_string),
        };
        let samples = [
            sample(2, Some("empty")),
            sample(0, None),
            sample(2, Some("later")),
            sample(1, Some("limit")),
        ];
        let got: Vec<(String, String)> = failures(&set, &samples)
            .into_iter()
            .map(|f| (f.name, f.error))
            .collect();
        let pair = |n: &str, e: &str| (n.to_string(), e.to_string());
        assert_eq!(got, [pair("b", "limit"), pair("c", "empty")]);
    }
}
