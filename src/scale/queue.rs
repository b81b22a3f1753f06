//! The JetStream objects scale-out uses, created on first use by a worker or a coordinator
//! (whichever connects first; later ones use what exists):
//!
//! - stream [`JOBS`] (subjects `dsl.jobs.<run>`, work-queue retention: a job is gone once a
//!   worker acks it) and its durable pull consumer [`CONSUMER`]: explicit acks, an ack wait
//!   (`DSL_ENGINE_NATS_ACK_WAIT` seconds, default 30) that workers extend with in-progress acks,
//!   and at most `DSL_ENGINE_NATS_MAX_DELIVER` deliveries (default 3);
//! - stream [`RESULTS`] (subjects `dsl.results.<run>.<trial>`, kept a day): results are
//!   published there, so a coordinator that missed one reads it back;
//! - key-value bucket [`WORKERS`]: each worker's heartbeat (entries expire after 30 s);
//! - object store [`DATA`]: data sets by digest (see [`super::data`]).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};

use super::{nats, ScaleError};

/// The work-queue stream of jobs.
pub const JOBS: &str = "DSL_JOBS";
/// The durable pull consumer every worker pulls from.
pub const CONSUMER: &str = "workers";
/// The stream results are published to.
pub const RESULTS: &str = "DSL_RESULTS";
/// The worker registry (key-value bucket).
pub const WORKERS: &str = "dsl_workers";
/// The object store of data sets.
pub const DATA: &str = "dsl_data";

/// How long a worker's registry entry lives without a heartbeat.
pub const WORKER_TTL: Duration = Duration::from_secs(30);
/// How often a worker renews its entry.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// The subject of `run`'s jobs.
pub fn job_subject(run: &str) -> String {
    format!("dsl.jobs.{run}")
}

/// The subject of the result of `run`'s trial `trial`.
pub fn result_subject(run: &str, trial: u32) -> String {
    format!("dsl.results.{run}.{trial}")
}

/// The advisory the server publishes when a job reached its last delivery unanswered.
pub fn max_deliveries_advisory() -> String {
    format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{JOBS}.{CONSUMER}")
}

/// The consumer settings a new queue gets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub ack_wait: Duration,
    pub max_deliver: i64,
}

impl Settings {
    /// From `DSL_ENGINE_NATS_ACK_WAIT` (seconds) and `DSL_ENGINE_NATS_MAX_DELIVER`, else 30 s
    /// and 3 deliveries.
    pub fn from_env() -> Settings {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        Settings {
            ack_wait: var("DSL_ENGINE_NATS_ACK_WAIT")
                .filter(|s| s.is_finite() && *s >= 0.5 && *s <= 3600.0)
                .map_or(Duration::from_secs(30), Duration::from_secs_f64),
            max_deliver: var("DSL_ENGINE_NATS_MAX_DELIVER")
                .filter(|n| *n >= 1.0 && *n <= 100.0)
                .map_or(3, |n| n as i64),
        }
    }
}

/// The JetStream objects, opened or created.
pub struct Queue {
    pub js: jetstream::Context,
    pub jobs: stream::Stream,
    pub results: stream::Stream,
    pub consumer: consumer::PullConsumer,
    pub workers: kv::Store,
    /// The consumer's ack wait and delivery limit, as the server has them.
    pub settings: Settings,
}

/// A JetStream error, saying what was being done; "no responders" means JetStream is off.
fn js_err(what: &'static str) -> impl Fn(String) -> ScaleError {
    move |e| {
        if e.contains("no responders") || e.contains("jetstream not enabled") {
            ScaleError::Nats(format!(
                "{what}: JetStream is not enabled on the server (start nats-server with -js)"
            ))
        } else {
            ScaleError::Nats(format!("{what}: {e}"))
        }
    }
}

impl Queue {
    /// Opens the queue's objects on `client`, creating what is missing with `settings`.
    pub async fn open(client: async_nats::Client, settings: Settings) -> Result<Queue, ScaleError> {
        let js = jetstream::new(client);
        let jobs = js
            .get_or_create_stream(stream::Config {
                name: JOBS.into(),
                subjects: vec!["dsl.jobs.>".into()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                max_age: Duration::from_secs(24 * 3600),
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("the job stream")(e.to_string()))?;
        let results = js
            .get_or_create_stream(stream::Config {
                name: RESULTS.into(),
                subjects: vec!["dsl.results.>".into()],
                storage: stream::StorageType::File,
                max_age: Duration::from_secs(24 * 3600),
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("the result stream")(e.to_string()))?;
        let consumer: consumer::PullConsumer = jobs
            .get_or_create_consumer(
                CONSUMER,
                consumer::pull::Config {
                    durable_name: Some(CONSUMER.into()),
                    description: Some("dsl-engine evaluation workers".into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: settings.ack_wait,
                    max_deliver: settings.max_deliver,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| js_err("the workers' consumer")(e.to_string()))?;
        let config = &consumer.cached_info().config;
        let settings = Settings {
            ack_wait: config.ack_wait,
            max_deliver: config.max_deliver,
        };
        let workers = match js.get_key_value(WORKERS).await {
            Ok(kv) => kv,
            Err(_) => {
                // The bucket's stream as `create_key_value` makes it; that call first reads
                // the account's limits in a form a 2.9 server does not send.
                js.get_or_create_stream(stream::Config {
                    name: format!("KV_{WORKERS}"),
                    description: Some("dsl-engine workers (heartbeats)".into()),
                    subjects: vec![format!("$KV.{WORKERS}.>")],
                    max_messages_per_subject: 1,
                    max_age: WORKER_TTL,
                    storage: stream::StorageType::Memory,
                    allow_rollup: true,
                    deny_delete: true,
                    allow_direct: true,
                    discard: stream::DiscardPolicy::New,
                    num_replicas: 1,
                    ..Default::default()
                })
                .await
                .map_err(|e| js_err("the worker registry")(e.to_string()))?;
                js.get_key_value(WORKERS)
                    .await
                    .map_err(|e| js_err("the worker registry")(e.to_string()))?
            }
        };
        Ok(Queue {
            js,
            jobs,
            results,
            consumer,
            workers,
            settings,
        })
    }

    /// The object store of data sets, created when missing.
    pub async fn data_store(&self) -> Result<object_store::ObjectStore, ScaleError> {
        match self.js.get_object_store(DATA).await {
            Ok(s) => Ok(s),
            Err(_) => self
                .js
                .create_object_store(object_store::Config {
                    bucket: DATA.into(),
                    description: Some("dsl-engine data sets by digest".into()),
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| nats("the data object store")(e.to_string())),
        }
    }

    /// How the queue stands: jobs waiting and in flight (all runs), and the live workers.
    pub async fn status(&mut self) -> Result<Status, ScaleError> {
        use futures_util::StreamExt;
        let info = self
            .consumer
            .info()
            .await
            .map_err(|e| nats("consumer info")(e.to_string()))?;
        let (waiting, running) = (info.num_pending, info.num_ack_pending);
        let mut keys = self
            .workers
            .keys()
            .await
            .map_err(|e| nats("listing workers")(e.to_string()))?;
        let mut workers = Vec::new();
        while let Some(k) = keys.next().await {
            let Ok(k) = k else { continue };
            if let Ok(Some(v)) = self.workers.get(&k).await {
                if let Ok(w) = serde_json::from_slice::<WorkerEntry>(&v) {
                    workers.push(w);
                }
            }
        }
        Ok(Status {
            waiting,
            running: running as u64,
            workers,
        })
    }
}

/// A worker's registry entry.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct WorkerEntry {
    /// `host/pid`.
    pub name: String,
    /// Jobs it runs at once.
    pub jobs: usize,
    pub busy: usize,
    pub done: u64,
    pub version: String,
}

/// Jobs waiting and in flight, and the live workers.
#[derive(Clone, Debug)]
pub struct Status {
    pub waiting: u64,
    pub running: u64,
    pub workers: Vec<WorkerEntry>,
}

impl Status {
    /// Job slots of the live workers.
    pub fn slots(&self) -> usize {
        self.workers.iter().map(|w| w.jobs).sum()
    }

    /// `workers 2 (4 slots) · queue 3 waiting, 2 running`.
    pub fn line(&self) -> String {
        format!(
            "workers {} ({} slots) · queue {} waiting, {} running",
            self.workers.len(),
            self.slots(),
            self.waiting,
            self.running
        )
    }
}
