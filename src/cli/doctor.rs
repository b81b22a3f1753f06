//! `dsl-engine doctor`: checks the data cache, the compiled sandbox guest and the configured
//! model endpoint (one tiny request) and says what to fix.

use std::path::PathBuf;
use std::time::Instant;

use super::iterate::LlmArgs;
use super::ExitStatus;
use crate::data::{default_data_dir, DataDir, CALENDAR_KEY};
use crate::llm::{Client, Message};
use crate::sandbox::{default_cache_dir, CacheOutcome, Limits, Sandbox};
use crate::scale::doctor::Check;

/// `dsl-engine doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Data directory to check (default: the synthetic market's cache directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Skip the model request.
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Also check this NATS server for scale-out: the server, JetStream, the job stream and
    /// its consumer, connected workers and the credentials (--token / --creds).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    #[command(flatten)]
    pub nats_auth: crate::scale::Auth,
}

enum Verdict {
    Ok(String),
    Warn(String, String),
    Fail(String, String),
}

fn print(name: &str, v: &Verdict) {
    match v {
        Verdict::Ok(m) => outln!("ok    {name:<9} {m}"),
        Verdict::Warn(m, fix) => outln!("warn  {name:<9} {m}\n                fix: {fix}"),
        Verdict::Fail(m, fix) => outln!("FAIL  {name:<9} {m}\n                fix: {fix}"),
    }
}

fn check_data(dir: Option<PathBuf>) -> Verdict {
    let explicit = dir.is_some();
    let dir = dir.unwrap_or_else(default_data_dir);
    match DataDir::open(&dir) {
        Ok(d) => match d.keys() {
            Ok(keys) if keys.iter().any(|k| k == CALENDAR_KEY) => Verdict::Ok(format!(
                "{} datasets in {} ({})",
                keys.len(),
                dir.display(),
                d.banner()
            )),
            Ok(_) => Verdict::Fail(
                format!("{} has no {CALENDAR_KEY} (prices)", dir.display()),
                "point --data-dir at a finlab cache or run `dsl-engine data generate`".into(),
            ),
            Err(e) => Verdict::Fail(e.to_string(), "check the directory's permissions".into()),
        },
        Err(_) if !explicit => Verdict::Warn(
            format!("no synthetic market yet in {}", dir.display()),
            "nothing to do: the first backtest or iterate generates it (about a minute); or run \
             `dsl-engine data generate` now"
                .into(),
        ),
        Err(e) => Verdict::Fail(e.to_string(), "pass an existing --data-dir".into()),
    }
}

/// Loads the compiled guest from the module cache (checking its digest; a damaged module is
/// compiled again and replaced) and says what it found.
fn check_sandbox() -> Verdict {
    let dir = default_cache_dir();
    let start = Instant::now();
    match Sandbox::new(Limits::default(), Some(&dir)) {
        Ok(s) => {
            let took = start.elapsed().as_secs_f64();
            match &s.cache {
                CacheOutcome::Hit => Verdict::Ok(format!(
                    "guest module loaded from the cache, digest verified, in {took:.1}s ({})",
                    dir.display()
                )),
                CacheOutcome::Compiled => Verdict::Ok(format!(
                    "guest module compiled and cached in {took:.1}s ({})",
                    dir.display()
                )),
                CacheOutcome::Recompiled(why) => Verdict::Warn(
                    format!("{why}; compiled again and replaced in {took:.1}s"),
                    format!(
                        "nothing to do now; if it happens again, check the disk under {}",
                        dir.display()
                    ),
                ),
            }
        }
        Err(e) => Verdict::Fail(
            e.to_string(),
            format!(
                "delete {} and retry; if it persists, rebuild dsl-engine",
                dir.display()
            ),
        ),
    }
}

fn check_llm(a: &LlmArgs) -> anyhow::Result<Verdict> {
    let ep = a.endpoint(None)?;
    if ep.cfg.api_key.is_none() && !ep.explicit_url {
        return Ok(Verdict::Warn(
            "no model configured: `iterate` will use the offline evolve proposer".into(),
            "set OPENROUTER_API_KEY (or --api-key / DSL_ENGINE_LLM_API_KEY), or --base-url for \
             a local server such as Ollama"
                .into(),
        ));
    }
    let mut cfg = ep.cfg.clone();
    cfg.max_retries = 0;
    cfg.max_tokens = Some(5);
    cfg.timeout = cfg.timeout.min(std::time::Duration::from_secs(30));
    let (model, url) = (cfg.model.clone(), cfg.base_url.clone());
    let client = Client::new(cfg)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let call = rt.block_on(client.chat(&[Message::user("Reply with the word OK.")]));
    Ok(match call.result {
        Ok(c) => Verdict::Ok(format!(
            "{model} at {url} answered in {:.1}s ({} tokens; key from {})",
            call.elapsed.as_secs_f64(),
            c.usage.prompt_tokens + c.usage.completion_tokens,
            ep.key_source.unwrap_or("nowhere: none sent")
        )),
        Err(e) => {
            let fix = if e.fatal() {
                "check the key, --model and --base-url"
            } else {
                "check the network and that the server is running; retry later if rate limited"
            };
            Verdict::Fail(format!("{model} at {url}: {e}"), fix.into())
        }
    })
}

/// Runs `doctor`: exit 0 when nothing failed, 1 otherwise.
pub fn run(a: DoctorArgs) -> anyhow::Result<ExitStatus> {
    let mut failed = false;
    let mut report = |name: &str, v: Verdict| {
        failed |= matches!(v, Verdict::Fail(..));
        print(name, &v);
    };
    report("data", check_data(a.data_dir.clone()));
    report("sandbox", check_sandbox());
    if a.offline {
        report("llm", Verdict::Ok("skipped (--offline)".into()));
    } else {
        report("llm", check_llm(&a.llm)?);
    }
    if let Some(url) = &a.nats {
        let rt = crate::scale::runtime()?;
        for c in rt.block_on(crate::scale::doctor::checks(url, &a.nats_auth)) {
            match c {
                Check::Ok(name, m) => report(name, Verdict::Ok(m)),
                Check::Warn(name, m, fix) => report(name, Verdict::Warn(m, fix)),
                Check::Fail(name, m, fix) => report(name, Verdict::Fail(m, fix)),
            }
        }
        rt.shutdown_background();
    }
    Ok(if failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
