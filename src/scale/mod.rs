//! Scale-out on NATS JetStream (`docs/scale-out.md`): evaluation workers on any number of
//! machines, one coordinator per run.
//!
//! - [`queue`]: the server-side objects — the work-queue stream of jobs and its durable pull
//!   consumer, the results stream, the worker registry (a key-value bucket) and the data sets
//!   (an object store) — created by whoever connects first.
//! - [`wire`]: a job (a plan, its `sim()` options, the split, the limits and the data set's
//!   digest; never strategy source) and its result (the figures the loop records).
//! - [`data`]: data sets travel by digest: a worker uses its own copy, regenerates a synthetic
//!   market from its parameters, or fetches the files from the object store and verifies them.
//! - [`worker`]: `dsl-engine worker`: pulls jobs, evaluates, publishes results, acks.
//! - [`coordinator`]: publishes a round's jobs and collects the results in iteration order; as
//!   an [`crate::iterate::evaluate::Evaluator`] it lets `iterate` keep its loop, gates, ledger
//!   and summary exactly as a local run does.
//! - [`bench`](mod@bench): `dsl-engine bench --nats`: throughput, per-job overhead and a projection.
//!
//! Delivery is at least once (a job is redelivered when its worker dies or fails it); the ledger
//! is still exactly once, since results carry their trial and the coordinator records the first
//! result of each trial and ignores the rest.

pub mod bench;
pub mod coordinator;
pub mod data;
pub mod doctor;
pub mod queue;
pub mod wire;
pub mod worker;

use std::path::PathBuf;
use std::time::Duration;

use async_nats::{Client, ConnectErrorKind, ConnectOptions};

/// Why scale-out could not proceed (a strategy's failure is a result, never this).
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error("cannot connect to the NATS server at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the NATS server at {url} refused the credentials ({reason}): {fix}")]
    Refused {
        url: String,
        reason: String,
        fix: String,
    },
    #[error("NATS: {0}")]
    Nats(String),
    #[error("data set: {0}")]
    Data(String),
}

/// `ScaleError::Nats` with what was being done.
pub(crate) fn nats(what: &str) -> impl Fn(String) -> ScaleError + '_ {
    move |e| ScaleError::Nats(format!("{what}: {e}"))
}

/// How to authenticate: a credentials file (JWT and nkey seed), a token, or nothing (a user
/// and password or a token may also be in the URL).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Auth {
    /// NATS credentials file (a user JWT and its nkey seed, as `nsc` writes it).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub creds: Option<PathBuf>,
    /// NATS authentication token [env: DSL_ENGINE_NATS_TOKEN].
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
}

impl Auth {
    fn token(&self) -> Option<String> {
        self.token.clone().or_else(|| {
            std::env::var("DSL_ENGINE_NATS_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
        })
    }

    /// What was used, for messages.
    pub fn describe(&self) -> &'static str {
        match (&self.creds, self.token()) {
            (Some(_), _) => "the credentials file (--creds)",
            (None, Some(_)) => "the token (--token or DSL_ENGINE_NATS_TOKEN)",
            (None, None) => "no credentials (pass --token or --creds)",
        }
    }
}

/// Connects to `url` as `name` (shown by the server's monitoring). Authentication failures are
/// [`ScaleError::Refused`], saying what was sent; an unreachable server is
/// [`ScaleError::Connect`].
pub async fn connect(url: &str, auth: &Auth, name: &str) -> Result<Client, ScaleError> {
    let mut opts = match &auth.creds {
        Some(path) => ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| ScaleError::Connect {
                url: url.into(),
                reason: format!("cannot read the credentials file {}: {e}", path.display()),
            })?,
        None => ConnectOptions::new(),
    };
    if let Some(t) = auth.token() {
        opts = opts.token(t);
    }
    let opts = opts
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None);
    opts.connect(url).await.map_err(|e| match e.kind() {
        ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
            ScaleError::Refused {
                url: url.into(),
                reason: e.to_string(),
                fix: format!(
                    "{} was not accepted; check it against the server's authorization \
                     settings",
                    auth.describe()
                ),
            }
        }
        _ => ScaleError::Connect {
            url: url.into(),
            reason: format!("{e}; is `nats-server -js` running there?"),
        },
    })
}

/// `host/pid`: who a worker is, in its results and the registry.
pub fn identity() -> String {
    format!(
        "{}/{}",
        crate::iterate::lock::hostname(),
        std::process::id()
    )
}

/// A runtime for the NATS client when the caller has none.
pub fn runtime() -> Result<tokio::runtime::Runtime, ScaleError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ScaleError::Nats(format!("starting the async runtime: {e}")))
}
