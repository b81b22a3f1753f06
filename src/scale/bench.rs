//! `dsl-engine bench --nats URL`: the bench's strategy set evaluated on the connected workers.
//!
//! Three passes: a warm-up (every strategy once per job slot, so every worker has read its
//! panels), a latency pass (one job at a time: publish → result, less the worker's own time,
//! is the per-job overhead of the queue), and the throughput pass (`rounds` × the set, all
//! queued at once). The projection for 100 workers takes the smaller of what 100 workers like
//! these evaluate and what one coordinator can feed them (its proposal, check and lowering, and
//! its publish and result handling, per trial, measured here).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::coordinator::{lower_code, Coordinator};
use super::wire::Job;
use super::ScaleError;
use crate::dsl::{compile, CheckContext};
use crate::iterate::{EvolveProposer, Objective, ProposeContext, Proposer, Split};
use crate::plan::Lowered;

/// What the bench measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub workers: usize,
    pub slots: usize,
    pub strategies: usize,
    pub rounds: usize,
    pub evaluations: usize,
    /// Throughput pass: first publish to last result.
    pub wall_ms: f64,
    pub evaluations_per_hour: f64,
    /// The workers' time per job (receipt to result), median over the throughput pass.
    pub worker_median_ms: f64,
    /// Latency pass: publish → result on the coordinator, median.
    pub round_trip_median_ms: f64,
    /// Latency pass: round trip less the worker's time, median and 90th percentile.
    pub overhead_median_ms: f64,
    pub overhead_p90_ms: f64,
    /// The coordinator's own time per job in the throughput pass: lowering, encoding and
    /// publishing (acknowledged by the server).
    pub coordinator_ms: f64,
    /// The offline proposer's time per trial: propose, check, canonical hash and lower.
    pub proposal_ms: f64,
    pub projection: Projection,
    pub errors: Vec<String>,
}

/// Evaluations an hour with 100 workers.
#[derive(Clone, Debug, Serialize)]
pub struct Projection {
    pub workers: usize,
    /// 100 one-slot workers each doing a job per (worker time + overhead).
    pub worker_bound: f64,
    /// One coordinator proposing and dispatching trial after trial.
    pub coordinator_bound: f64,
    pub evaluations_per_hour: f64,
}

fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Jobs numbered from `first`, one per entry of `set` per copy.
fn jobs(c: &Coordinator, set: &[Lowered], split: Split, copies: usize, first: u32) -> Vec<Job> {
    (0..copies)
        .flat_map(|_| set.iter())
        .enumerate()
        .map(|(i, l)| c.job(first + i as u32, l.clone(), split))
        .collect()
}

/// Publishes `jobs` and waits for every answer; returns the answers' worker times (errors go
/// to `errors`) and the time publishing took.
async fn run_all(
    c: &mut Coordinator,
    jobs: Vec<Job>,
    errors: &mut Vec<String>,
) -> Result<(Vec<f64>, Duration), ScaleError> {
    let mut pending: HashMap<u32, ()> = HashMap::new();
    let started = Instant::now();
    for j in &jobs {
        c.publish(j).await?;
        pending.insert(j.trial, ());
    }
    let publishing = started.elapsed();
    let mut times = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(1800));
    tokio::pin!(deadline);
    while !pending.is_empty() {
        let r = tokio::select! {
            r = c.next_result() => r,
            () = &mut deadline => None,
        };
        let Some(r) = r else {
            return Err(ScaleError::Nats(format!(
                "{} job(s) unanswered after 30 minutes: are workers running?",
                pending.len()
            )));
        };
        if pending.remove(&r.trial).is_some() {
            times.push(r.worker_ms);
            if let Err(f) = &r.computed.result {
                errors.push(f.error.clone());
            }
        }
    }
    Ok((times, publishing))
}

/// Runs the three passes over `set` (name, source) on the workers behind `c`.
pub async fn run(
    c: &mut Coordinator,
    set: &[(String, String)],
    ctx: &CheckContext,
    split: Split,
    rounds: usize,
    log: &mut dyn FnMut(&str),
) -> Result<Report, ScaleError> {
    let status = c.queue.status().await?;
    let slots = status.slots();
    if slots == 0 {
        return Err(ScaleError::Nats(
            "no worker is connected: start `dsl-engine worker --nats URL` first".into(),
        ));
    }
    let lowered: Vec<Lowered> = set
        .iter()
        .map(|(name, code)| {
            lower_code(code, ctx).map_err(|e| ScaleError::Data(format!("{name}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let mut errors = Vec::new();
    log(&format!(
        "warm-up: {} job(s) ({} per job slot)",
        set.len() * slots,
        set.len()
    ));
    let mut next = 1;
    let warm = jobs(c, &lowered, split, slots, next);
    next += warm.len() as u32;
    run_all(c, warm, &mut Vec::new()).await?;

    log("latency: one job at a time, twice over the set");
    let (mut rtt, mut overhead) = (Vec::new(), Vec::new());
    for job in jobs(c, &lowered, split, 2, next) {
        next += 1;
        let started = Instant::now();
        let (t, _) = run_all(c, vec![job], &mut errors).await?;
        let r = ms(started.elapsed());
        rtt.push(r);
        overhead.push(r - t.first().copied().unwrap_or(0.0));
    }

    let total = set.len() * rounds;
    log(&format!("throughput: {total} job(s) queued at once"));
    let started = Instant::now();
    let mut batch = Vec::with_capacity(total);
    for (i, (_, code)) in (0..rounds).flat_map(|_| set.iter()).enumerate() {
        let l = lower_code(code, ctx).map_err(|e| ScaleError::Data(e.to_string()))?;
        batch.push(c.job(next + i as u32, l, split));
    }
    let lowering = started.elapsed();
    let (mut worker_ms, publishing) = run_all(c, batch, &mut errors).await?;
    let wall = ms(started.elapsed());
    let coordinator_ms = ms(lowering + publishing) / total as f64;
    let proposal_ms = proposal_cost(ctx);
    let worker_median = median(&mut worker_ms);
    let overhead_median = median(&mut overhead.clone());
    let hour = 3.6e6;
    let worker_bound = 100.0 * hour / (worker_median + overhead_median.max(0.0));
    let coordinator_bound = hour / (coordinator_ms + proposal_ms);
    errors.sort();
    errors.dedup();
    Ok(Report {
        workers: status.workers.len(),
        slots,
        strategies: set.len(),
        rounds,
        evaluations: total,
        wall_ms: wall,
        evaluations_per_hour: total as f64 * hour / wall,
        worker_median_ms: worker_median,
        round_trip_median_ms: median(&mut rtt),
        overhead_median_ms: overhead_median,
        overhead_p90_ms: quantile(&mut overhead, 0.9),
        coordinator_ms,
        proposal_ms,
        projection: Projection {
            workers: 100,
            worker_bound,
            coordinator_bound,
            evaluations_per_hour: worker_bound.min(coordinator_bound),
        },
        errors,
    })
}

/// The offline proposer's time per trial (propose, check, hash, lower), over 100 proposals.
fn proposal_cost(ctx: &CheckContext) -> f64 {
    let mut p = EvolveProposer::new(ctx.clone(), 1);
    let n = 100;
    let started = Instant::now();
    for i in 1..=n {
        let pc = ProposeContext {
            iteration: i,
            iterations: n,
            history: &[],
            best: None,
            objective: Objective::Sharpe,
        };
        if let Ok(Some(code)) = p.propose(&pc).map(|p| p.code) {
            if compile(&code, ctx).program.is_some() {
                if let Ok(parsed) = crate::dsl::parse(&code) {
                    let _ = crate::dsl::fmt::canonical_hash(&parsed, &code);
                }
                let _ = lower_code(&code, ctx);
            }
        }
    }
    ms(started.elapsed()) / f64::from(n)
}
