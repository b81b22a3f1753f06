//! The coordinator's side: publish a round's jobs, collect one result per trial.
//!
//! Results arrive on a core subscription to `dsl.results.<run>.*` (the fast path) and are also
//! stored in the results stream; while it waits the coordinator reads back, by subject, the
//! result of any trial still pending, so a result missed on the wire is not lost. A job that
//! no worker answered in its allowed deliveries (the server's max-deliveries advisory, or an
//! empty queue with the trial still unanswered) becomes an `eval_error` with the reason.
//! The first result of a trial counts; later ones (a redelivered job answered twice) are
//! ignored.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use async_nats::{Client, Subscriber};
use futures_util::StreamExt;

use super::data::{self, short};
use super::queue::{self, Queue, Status};
use super::wire::{self, DataRef, Job, JobLimits, JobResult};
use super::{connect, nats, Auth, ScaleError};
use crate::data::DataDir;
use crate::dsl::{check, parse, CheckContext};
use crate::iterate::evaluate::{Computed, Evaluator, Failure, Task};
use crate::iterate::{IterateError, Reporter, Split, Stop};
use crate::pipeline::PipelineError;
use crate::plan::{lower, Lowered};
use crate::sandbox::Limits;

/// A connected coordinator of one run session.
pub struct Coordinator {
    pub queue: Queue,
    client: Client,
    /// This session's id (subjects `dsl.jobs.<run>`, `dsl.results.<run>.*`).
    pub run: String,
    pub data: DataRef,
    limits: JobLimits,
    results: Subscriber,
    advisories: Subscriber,
}

/// A result, or the note that no worker answered.
pub type Answers = HashMap<u32, JobResult>;

impl Coordinator {
    /// Connects, opens the queue and publishes `data` to the object store unless workers can
    /// regenerate it (a synthetic market). `log` gets what was done.
    pub async fn open(
        url: &str,
        auth: &Auth,
        data: &DataDir,
        limits: &Limits,
        log: &mut dyn FnMut(&str),
    ) -> Result<Coordinator, ScaleError> {
        let run = nuid::next().to_string();
        let client = connect(url, auth, &format!("dsl-engine coordinator {run}")).await?;
        let queue = Queue::open(client.clone(), queue::Settings::from_env()).await?;
        let data_ref = data::data_ref(data)?;
        match &data_ref.synthetic {
            Some(s) => log(&format!(
                "data set {}: synthetic ({} v{} {}): workers without it regenerate it",
                short(&data_ref.digest),
                s.generator,
                s.version,
                s.config
            )),
            None => {
                let store = queue.data_store().await?;
                let p = data::publish(&store, data, &data_ref.digest).await?;
                log(&if p.already {
                    format!(
                        "data set {}: already in the object store",
                        short(&data_ref.digest)
                    )
                } else {
                    format!(
                        "data set {}: published {} file(s), {:.1} MiB, to the object store \
                         for workers without it",
                        short(&data_ref.digest),
                        p.files,
                        p.bytes as f64 / (1 << 20) as f64
                    )
                });
            }
        }
        let results = client
            .subscribe(format!("dsl.results.{run}.*"))
            .await
            .map_err(|e| nats("subscribing to results")(e.to_string()))?;
        let advisories = client
            .subscribe(queue::max_deliveries_advisory())
            .await
            .map_err(|e| nats("subscribing to advisories")(e.to_string()))?;
        Ok(Coordinator {
            queue,
            client,
            run,
            data: data_ref,
            limits: JobLimits::of(limits),
            results,
            advisories,
        })
    }

    /// The job of trial `trial`.
    pub fn job(&self, trial: u32, lowered: Lowered, split: Split) -> Job {
        Job {
            version: wire::VERSION,
            run: self.run.clone(),
            trial,
            plan: lowered.plan,
            sim: lowered.sim.options,
            split,
            limits: self.limits,
            data: self.data.clone(),
        }
    }

    /// Publishes `jobs` and waits for one answer per trial. `status` gets the queue's state
    /// about once a second. With `stop` requested and no worker connected, it stops waiting.
    pub async fn round(
        &mut self,
        jobs: Vec<Job>,
        stop: &Stop,
        status: &mut dyn FnMut(&Status),
    ) -> Result<Answers, ScaleError> {
        let mut by_seq: HashMap<u64, u32> = HashMap::new();
        let mut pending: BTreeSet<u32> = BTreeSet::new();
        for job in &jobs {
            let seq = self.publish(job).await?;
            by_seq.insert(seq, job.trial);
            pending.insert(job.trial);
        }
        let mut answers = Answers::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut idle_since: Option<Instant> = None;
        while !pending.is_empty() {
            tokio::select! {
                Some(m) = self.results.next() => {
                    if let Ok(r) = wire::decode::<JobResult>(&m.payload, "result") {
                        self.accept(r, &mut pending, &mut answers);
                    }
                }
                Some(m) = self.advisories.next() => {
                    let seq = serde_json::from_slice::<serde_json::Value>(&m.payload)
                        .ok()
                        .and_then(|v| v["stream_seq"].as_u64());
                    if let Some(trial) = seq.and_then(|s| by_seq.get(&s)).copied() {
                        // The answer may be on its way; read it back before giving up.
                        self.sweep(&mut pending, &mut answers).await;
                        if pending.remove(&trial) {
                            answers.insert(trial, self.unanswered(trial));
                        }
                        let _ = self.queue.jobs.delete_message(seq.unwrap_or_default()).await;
                    }
                }
                _ = tick.tick() => {
                    let Ok(s) = self.queue.status().await else { continue };
                    status(&s);
                    self.sweep(&mut pending, &mut answers).await;
                    if s.waiting == 0 && s.running == 0 && !pending.is_empty() {
                        // Nothing queued or in flight, yet unanswered: the server gave up on them.
                        let settled = self.queue.status().await.is_ok_and(|s| s.waiting == 0 && s.running == 0);
                        if settled {
                            self.sweep(&mut pending, &mut answers).await;
                            for trial in std::mem::take(&mut pending) {
                                answers.insert(trial, self.unanswered(trial));
                            }
                        }
                    }
                    let alone = stop.is_requested() && s.workers.is_empty();
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    if !alone {
                        idle_since = None;
                    } else if since.elapsed() > Duration::from_secs(3) {
                        self.purge().await;
                        return Err(ScaleError::Nats(format!(
                            "stopped while {} job(s) waited and no worker was connected; the \
                             run can be resumed",
                            pending.len()
                        )));
                    }
                }
            }
        }
        Ok(answers)
    }

    /// Publishes one job; returns its stream sequence.
    pub async fn publish(&self, job: &Job) -> Result<u64, ScaleError> {
        let ack = self
            .queue
            .js
            .publish(queue::job_subject(&self.run), wire::encode(job).into())
            .await
            .map_err(|e| nats("publishing a job")(e.to_string()))?
            .await
            .map_err(|e| nats("publishing a job")(e.to_string()))?;
        Ok(ack.sequence)
    }

    /// The next result of this run from the wire (for callers that collect themselves).
    pub async fn next_result(&mut self) -> Option<JobResult> {
        loop {
            let m = self.results.next().await?;
            if let Ok(r) = wire::decode::<JobResult>(&m.payload, "result") {
                return Some(r);
            }
        }
    }

    /// Records `r` when it answers a pending trial of this run.
    fn accept(&self, r: JobResult, pending: &mut BTreeSet<u32>, answers: &mut Answers) {
        if r.run == self.run && pending.remove(&r.trial) {
            answers.insert(r.trial, r);
        }
    }

    /// Reads back from the results stream the stored result of every pending trial.
    async fn sweep(&self, pending: &mut BTreeSet<u32>, answers: &mut Answers) {
        let trials: Vec<u32> = pending.iter().copied().collect();
        for trial in trials {
            let subject = queue::result_subject(&self.run, trial);
            if let Ok(m) = self
                .queue
                .results
                .get_last_raw_message_by_subject(&subject)
                .await
            {
                if let Ok(r) = wire::decode::<JobResult>(&m.payload, "result") {
                    self.accept(r, pending, answers);
                }
            }
        }
    }

    /// The answer for a trial no worker answered.
    fn unanswered(&self, trial: u32) -> JobResult {
        let n = self.queue.settings.max_deliver;
        let error = format!(
            "no worker answered this evaluation in its {n} allowed deliveries: each worker \
             that took it stopped or died before answering"
        );
        let feedback = format!(
            "Error: {error}. Likely cause: the evaluation stops its worker (e.g. it needs more \
             memory than the machine has). Fix: use fewer datasets and intermediate panels."
        );
        JobResult {
            run: self.run.clone(),
            trial,
            computed: Computed {
                result: Err(Failure {
                    error,
                    feedback,
                    diagnostics: None,
                }),
                sandbox_ms: 0.0,
                backtest_ms: 0.0,
                sandbox: None,
                worker: None,
            },
            delivered: n,
            worker_ms: 0.0,
        }
    }

    /// Removes this session's jobs nobody took and its stored results.
    pub async fn purge(&self) {
        let _ = self
            .queue
            .jobs
            .purge()
            .filter(queue::job_subject(&self.run))
            .await;
        let _ = self
            .queue
            .results
            .purge()
            .filter(format!("dsl.results.{}.>", self.run))
            .await;
        let _ = self.client.flush().await;
    }
}

/// Parse, check and lower `code` as the local pipeline does.
pub fn lower_code(code: &str, ctx: &CheckContext) -> Result<Lowered, PipelineError> {
    let program = parse(code).map_err(|d| PipelineError::Invalid(vec![d]))?;
    let checked = check(&program, ctx);
    let Some(program) = checked.program else {
        return Err(PipelineError::Invalid(checked.diagnostics));
    };
    Ok(lower(&program))
}

/// `iterate --nats`: the round's trials evaluated on workers.
pub struct NatsEvaluator {
    pub rt: tokio::runtime::Handle,
    pub coordinator: Coordinator,
    pub ctx: CheckContext,
    pub stop: Stop,
    last_status: String,
}

impl NatsEvaluator {
    pub fn new(
        rt: tokio::runtime::Handle,
        coordinator: Coordinator,
        ctx: CheckContext,
        stop: Stop,
    ) -> NatsEvaluator {
        NatsEvaluator {
            rt,
            coordinator,
            ctx,
            stop,
            last_status: String::new(),
        }
    }
}

impl Drop for NatsEvaluator {
    fn drop(&mut self) {
        let c = &self.coordinator;
        self.rt.block_on(c.purge());
    }
}

impl Evaluator for NatsEvaluator {
    fn evaluate(
        &mut self,
        tasks: Vec<Task>,
        split: &Split,
        reporter: &mut dyn Reporter,
    ) -> Result<Vec<Computed>, IterateError> {
        let mut out: Vec<Option<Computed>> = vec![None; tasks.len()];
        let mut jobs = Vec::new();
        for (i, t) in tasks.iter().enumerate() {
            match lower_code(&t.code, &self.ctx) {
                Ok(l) => jobs.push(self.coordinator.job(t.iteration, l, *split)),
                Err(e) => {
                    out[i] = Some(Computed {
                        result: Err(Failure::of(&e, &t.code)),
                        sandbox_ms: 0.0,
                        backtest_ms: 0.0,
                        sandbox: None,
                        worker: None,
                    })
                }
            }
        }
        let (rt, stop, last) = (self.rt.clone(), self.stop.clone(), &mut self.last_status);
        let mut answers = rt
            .block_on(self.coordinator.round(jobs, &stop, &mut |s: &Status| {
                let line = s.line();
                if line != *last {
                    reporter.status(&line);
                    *last = line;
                }
            }))
            .map_err(|e| IterateError::Refused(e.to_string()))?;
        Ok(tasks
            .iter()
            .zip(out)
            .map(|(t, c)| {
                c.or_else(|| answers.remove(&t.iteration).map(|r| r.computed))
                    .unwrap_or_else(|| unreachable_answer(t.iteration))
            })
            .collect())
    }
}

/// Never reached: `round` answers every trial it was given or fails.
fn unreachable_answer(trial: u32) -> Computed {
    let error = format!("trial {trial} got no answer");
    Computed {
        result: Err(Failure {
            feedback: format!("Error: {error}."),
            error,
            diagnostics: None,
        }),
        sandbox_ms: 0.0,
        backtest_ms: 0.0,
        sandbox: None,
        worker: None,
    }
}
