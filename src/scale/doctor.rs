//! `dsl-engine doctor --nats URL`: the server, JetStream, the queue's stream and consumer, the
//! workers and the credentials, each with what to fix.

use std::time::Duration;

use super::queue::{self, Queue};
use super::{connect, Auth, ScaleError};

/// One check's outcome: a name, a line, and what to do when it is not fine.
pub enum Check {
    Ok(&'static str, String),
    Warn(&'static str, String, String),
    Fail(&'static str, String, String),
}

/// Runs the checks against `url`; stops at the first failure that hides the rest.
pub async fn checks(url: &str, auth: &Auth) -> Vec<Check> {
    let mut out = Vec::new();
    let client = match connect(url, auth, "dsl-engine doctor").await {
        Ok(c) => c,
        Err(e @ ScaleError::Refused { .. }) => {
            out.push(Check::Ok("nats", format!("a server answers at {url}")));
            out.push(Check::Fail(
                "creds",
                e.to_string(),
                "pass the server's token with --token (or DSL_ENGINE_NATS_TOKEN), or a \
                 credentials file with --creds"
                    .into(),
            ));
            return out;
        }
        Err(e) => {
            out.push(Check::Fail(
                "nats",
                e.to_string(),
                "start a server: `nats-server -js` (Debian: apt-get install nats-server; \
                 docs/scale-out.md)"
                    .into(),
            ));
            return out;
        }
    };
    let info = client.server_info();
    out.push(Check::Ok(
        "nats",
        format!(
            "{url}: nats-server {} ({}), max payload {} KiB",
            info.version,
            info.server_name,
            info.max_payload >> 10
        ),
    ));
    out.push(Check::Ok(
        "creds",
        if info.auth_required {
            format!("accepted: {}", auth.describe())
        } else {
            "the server requires none".into()
        },
    ));
    let jetstream = jetstream(&client, url).await;
    let enabled = matches!(jetstream, Check::Ok(..));
    out.push(jetstream);
    if enabled {
        queue_checks(client, url, &mut out).await;
    }
    out
}

/// Whether JetStream answers on the connection, with its account's figures.
async fn jetstream(client: &async_nats::Client, url: &str) -> Check {
    let account = tokio::time::timeout(
        Duration::from_secs(5),
        client.request("$JS.API.INFO", "".into()),
    )
    .await;
    let js = match account {
        Ok(Ok(m)) => serde_json::from_slice::<serde_json::Value>(&m.payload).ok(),
        _ => None,
    };
    match js.as_ref().filter(|v| v.get("error").is_none()) {
        Some(v) => Check::Ok(
            "jetstream",
            format!(
                "enabled: {} stream(s), {} consumer(s), {:.1} MiB stored",
                v["streams"].as_u64().unwrap_or(0),
                v["consumers"].as_u64().unwrap_or(0),
                v["storage"].as_f64().unwrap_or(0.0) / f64::from(1 << 20)
            ),
        ),
        None => Check::Fail(
            "jetstream",
            format!(
                "JetStream does not answer on {url}{}",
                js.map_or(String::new(), |v| format!(" ({})", v["error"]))
            ),
            "start nats-server with -js (and a storage directory, -sd DIR), or enable it \
                 for this account"
                .into(),
        ),
    }
}

/// The job queue's stream and consumer, and the workers registered on it.
async fn queue_checks(client: async_nats::Client, url: &str, out: &mut Vec<Check>) {
    let settings = queue::Settings::from_env();
    match Queue::open(client, settings).await {
        Ok(mut q) => {
            let s = q.settings;
            let line = format!(
                "stream {} and consumer {}: ack wait {:.0} s, at most {} deliveries",
                queue::JOBS,
                queue::CONSUMER,
                s.ack_wait.as_secs_f64(),
                s.max_deliver
            );
            if s == settings {
                out.push(Check::Ok("queue", line));
            } else {
                out.push(Check::Warn(
                    "queue",
                    format!(
                        "{line} (this machine asks for {:.0} s and {})",
                        settings.ack_wait.as_secs_f64(),
                        settings.max_deliver
                    ),
                    "the consumer keeps the settings it was created with; delete it to change \
                     them (`nats consumer rm DSL_JOBS workers`) when no run is going"
                        .into(),
                ));
            }
            match q.status().await {
                Ok(st) if st.workers.is_empty() => out.push(Check::Warn(
                    "workers",
                    format!("none connected; {} job(s) waiting", st.waiting),
                    format!("start workers: `dsl-engine worker --nats {url}`"),
                )),
                Ok(st) => out.push(Check::Ok(
                    "workers",
                    format!(
                        "{}: {}",
                        st.line(),
                        st.workers
                            .iter()
                            .map(|w| format!("{} ({} slot(s), {} done)", w.name, w.jobs, w.done))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
                Err(e) => out.push(Check::Fail(
                    "workers",
                    e.to_string(),
                    "check the account's permissions on $JS.API and $KV.dsl_workers".into(),
                )),
            }
        }
        Err(e) => out.push(Check::Fail(
            "queue",
            e.to_string(),
            "the account needs permission to create streams and consumers (or create \
             DSL_JOBS, DSL_RESULTS and KV_dsl_workers for it), and JetStream storage room \
             (max_file_store, max_memory_store)"
                .into(),
        )),
    }
}
