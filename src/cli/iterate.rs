//! `dsl-engine iterate`: the autonomous research loop (LLM or offline evolutionary search), its
//! run directory, progress bar, Ctrl-C handling and end-of-run summary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

mod report;

use report::{print_summary, Progress};

use super::{open_data, ExitStatus};
use crate::data::{feather, CALENDAR_KEY};
use crate::iterate::prompts::Templates;
use crate::iterate::rigor::{assess, promote};
use crate::iterate::run::Ended;
use crate::iterate::split::{DEFAULT_HOLDOUT_YEARS, DEFAULT_VALIDATION_YEARS};
use crate::iterate::{
    EvolveProposer, Gates, LlmProposer, Objective, Proposer, RunSettings, Runner, Split,
    SplitDates, Stop, Summary,
};
use crate::llm::{Client, LlmConfig, DEFAULT_BASE_URL, DEFAULT_MODEL};
use crate::sandbox::{Limits, DEFAULT_MEMORY};

/// Which proposer writes the strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProposerKind {
    /// A chat model through an OpenAI-compatible API.
    Llm,
    /// The offline evolutionary search over strategy syntax trees.
    Evolve,
}

/// Options shared by `iterate` and `doctor` for the model endpoint.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LlmArgs {
    /// Model name [env: DSL_ENGINE_LLM_MODEL] [default: openai/gpt-4o-mini].
    #[arg(long)]
    pub model: Option<String>,
    /// OpenAI-compatible base URL, e.g. http://localhost:11434/v1 for Ollama
    /// [env: DSL_ENGINE_LLM_BASE_URL] [default: https://openrouter.ai/api/v1].
    #[arg(long)]
    pub base_url: Option<String>,
    /// API key [env: DSL_ENGINE_LLM_API_KEY, then OPENROUTER_API_KEY].
    #[arg(long)]
    pub api_key: Option<String>,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.3)]
    pub temperature: f64,
    /// Timeout of one model request, in seconds.
    #[arg(long, default_value_t = 120.0)]
    pub llm_timeout: f64,
    /// Retries of a model request after a timeout, connection failure, 429 or 5xx.
    #[arg(long, default_value_t = 4)]
    pub retries: u32,
    /// First retry backoff in seconds (doubles per retry, with jitter).
    #[arg(long, default_value_t = 1.0)]
    pub backoff: f64,
    /// USD per million prompt and completion tokens, for endpoints that report no cost,
    /// e.g. `--price 0.15,0.60`.
    #[arg(long, value_parser = parse_price)]
    pub price: Option<(f64, f64)>,
}

fn parse_price(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or("expected INPUT,OUTPUT in USD per million tokens")?;
    let p = |x: &str| {
        x.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or(format!("`{x}` is not a price"))
    };
    Ok((p(a)?, p(b)?))
}

fn parse_band(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s.split_once(',').ok_or("expected MIN,MAX")?;
    let p = |x: &str| {
        x.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or(format!("`{x}` is not a turnover"))
    };
    let (lo, hi) = (p(a)?, p(b)?);
    if lo > hi {
        return Err("MIN is above MAX".into());
    }
    Ok((lo, hi))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The endpoint configuration and where its key came from.
pub struct Endpoint {
    pub cfg: LlmConfig,
    pub key_source: Option<&'static str>,
    /// A base URL was given explicitly (a local server needs no key).
    pub explicit_url: bool,
}

impl LlmArgs {
    /// Flags, then environment, then defaults (`saved`: a resumed run's model and URL).
    pub fn endpoint(&self, saved: Option<&RunConfig>) -> anyhow::Result<Endpoint> {
        let (key, key_source) = match (
            &self.api_key,
            env("DSL_ENGINE_LLM_API_KEY"),
            env("OPENROUTER_API_KEY"),
        ) {
            (Some(k), _, _) => (Some(k.clone()), Some("--api-key")),
            (None, Some(k), _) => (Some(k), Some("DSL_ENGINE_LLM_API_KEY")),
            (None, None, Some(k)) => (Some(k), Some("OPENROUTER_API_KEY")),
            _ => (None, None),
        };
        let url_flag = self
            .base_url
            .clone()
            .or_else(|| env("DSL_ENGINE_LLM_BASE_URL"))
            .or_else(|| saved.and_then(|s| s.base_url.clone()));
        let explicit_url = url_flag.is_some();
        let positive = |v: f64, flag: &str| {
            if v.is_finite() && v > 0.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(anyhow::anyhow!(
                    "{flag} must be a positive number of seconds"
                ))
            }
        };
        if !(0.0..=2.0).contains(&self.temperature) {
            anyhow::bail!("--temperature must be between 0 and 2");
        }
        Ok(Endpoint {
            cfg: LlmConfig {
                base_url: url_flag.unwrap_or_else(|| DEFAULT_BASE_URL.into()),
                model: self
                    .model
                    .clone()
                    .or_else(|| env("DSL_ENGINE_LLM_MODEL"))
                    .or_else(|| saved.and_then(|s| s.model.clone()))
                    .unwrap_or_else(|| DEFAULT_MODEL.into()),
                api_key: key,
                temperature: self.temperature,
                timeout: positive(self.llm_timeout, "--llm-timeout")?,
                max_retries: self.retries,
                backoff: positive(self.backoff, "--backoff")?,
                price_per_mtok: self.price,
                ..LlmConfig::default()
            },
            key_source,
            explicit_url,
        })
    }
}

/// `dsl-engine iterate`.
#[derive(Debug, clap::Args)]
pub struct IterateArgs {
    /// Trials in the run (a resumed run continues up to this total) [default: 10].
    #[arg(short = 'n', long = "iterations")]
    pub iterations: Option<u32>,
    /// Who writes strategies [default: llm when an API key or base URL is configured, else
    /// evolve].
    #[arg(long, value_enum)]
    pub proposer: Option<ProposerKind>,
    /// What "best" means, measured in-sample [default: sharpe].
    #[arg(long, value_enum)]
    pub objective: Option<Objective>,
    /// Years at the end of the data sealed as the holdout: never shown to the proposer or used
    /// to select; scored once, for the promoted strategy, at the end [default: 2; at most a
    /// quarter of the sessions; 0 turns it off].
    #[arg(long, value_name = "YEARS")]
    pub holdout: Option<f64>,
    /// Years before the holdout used only to promote the final strategy [default: 2; at most a
    /// quarter of the sessions; 0: promote on in-sample].
    #[arg(long, value_name = "YEARS")]
    pub validation: Option<f64>,
    /// Minimum in-sample trades; fewer marks a trial `rejected` [default: 20].
    #[arg(long)]
    pub min_trades: Option<usize>,
    /// Allowed in-sample turnover band, NAV multiples a year [default: 0.1,60].
    #[arg(long, value_parser = parse_band, value_name = "MIN,MAX")]
    pub turnover: Option<(f64, f64)>,
    /// Active-return correlation with an accepted trial that marks a trial `redundant`
    /// [default: 0.7].
    #[arg(long)]
    pub max_corr: Option<f64>,
    /// Run directory [default: runs/<UTC timestamp>].
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Continue the run in this directory (its settings are reused; `-n` sets the new total).
    #[arg(long, conflicts_with = "run_dir")]
    pub resume: Option<PathBuf>,
    /// Data directory in finlab's cache layout (default: the synthetic market).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seed of the evolutionary search [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Repair rounds for an invalid proposal before the fallback template runs.
    #[arg(long, default_value_t = 2)]
    pub max_repairs: u32,
    /// Directory with prompt templates overriding the built-in ones (system.md, iteration.md,
    /// repair.md; missing files keep the built-in text).
    #[arg(long)]
    pub prompts: Option<PathBuf>,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Wall-clock limit of one sandboxed evaluation, in seconds.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Fuel budget of one sandboxed evaluation (default: sized from the plan and the data).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Trials evaluated in parallel [default: the number of cores; at most 32]. The offline search makes
    /// its proposals in rounds of 4 whatever this is, so a seed gives the same ledger with any
    /// `--jobs`; with a model, each round has one proposal per job.
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Memory cap of one sandboxed evaluation, in MiB (at most 4096, the guest's address space).
    #[arg(long, default_value_t = DEFAULT_MEMORY >> 20, value_parser = crate::sandbox::parse_memory_mib)]
    pub memory: usize,
    /// No progress bar or per-trial lines; only the summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `RUN_DIR/run.json`: the settings a resumed run reuses (never the API key).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunConfig {
    pub proposer: ProposerKind,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub objective: Objective,
    /// Sealed-holdout and validation years, and the resulting windows.
    pub holdout_years: f64,
    pub validation_years: f64,
    pub split: SplitDates,
    pub gates: Gates,
    pub seed: u64,
    pub iterations: u32,
    pub data_dir: Option<PathBuf>,
}

const RUN_CONFIG: &str = "run.json";

fn read_config(dir: &Path) -> anyhow::Result<RunConfig> {
    let path = dir.join(RUN_CONFIG);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot resume {}: no {RUN_CONFIG} (is it a run directory?)",
            dir.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a run config", path.display()))
}

/// Runs `iterate`.
pub fn run(a: IterateArgs) -> anyhow::Result<ExitStatus> {
    let started = Instant::now();
    let saved = a.resume.as_deref().map(read_config).transpose()?;
    let iterations = a
        .iterations
        .or(saved.as_ref().map(|s| s.iterations))
        .unwrap_or(10);
    let objective = a
        .objective
        .or(saved.as_ref().map(|s| s.objective))
        .unwrap_or_default();
    let years = |flag: Option<f64>, saved: Option<f64>, default: f64, name: &str| {
        let v = match (flag, saved) {
            (Some(h), Some(s)) if (h - s).abs() > 1e-12 => anyhow::bail!(
                "--{name} {h} differs from the resumed run's {s}: the split must not change \
                 within a run (the sealed holdout would leak)"
            ),
            (Some(h), _) | (None, Some(h)) => h,
            (None, None) => default,
        };
        if !(v.is_finite() && (0.0..=50.0).contains(&v)) {
            anyhow::bail!("--{name} must be a number of years between 0 and 50");
        }
        Ok(v)
    };
    let holdout = years(
        a.holdout,
        saved.as_ref().map(|s| s.holdout_years),
        DEFAULT_HOLDOUT_YEARS,
        "holdout",
    )?;
    let validation = years(
        a.validation,
        saved.as_ref().map(|s| s.validation_years),
        DEFAULT_VALIDATION_YEARS,
        "validation",
    )?;
    let base = saved
        .as_ref()
        .map_or_else(Gates::default, |s| s.gates.clone());
    let gates = Gates {
        min_trades: a.min_trades.unwrap_or(base.min_trades),
        turnover: a.turnover.unwrap_or(base.turnover),
        max_correlation: a.max_corr.unwrap_or(base.max_correlation),
    };
    if !(gates.max_correlation > 0.0 && gates.max_correlation <= 1.0) {
        anyhow::bail!("--max-corr must be above 0 and at most 1");
    }
    if !(a.timeout > 0.0 && a.timeout.is_finite()) {
        anyhow::bail!("--timeout must be a positive number of seconds");
    }
    let seed = a.seed.or(saved.as_ref().map(|s| s.seed)).unwrap_or(42);
    let data_dir = a
        .data_dir
        .clone()
        .or(saved.as_ref().and_then(|s| s.data_dir.clone()));
    let endpoint = a.llm.endpoint(saved.as_ref())?;
    let configured = endpoint.cfg.api_key.is_some() || endpoint.explicit_url;
    let kind = a
        .proposer
        .or(saved.as_ref().map(|s| s.proposer))
        .unwrap_or(if configured {
            ProposerKind::Llm
        } else {
            ProposerKind::Evolve
        });
    let templates = Templates::load(a.prompts.as_deref())?;

    let dir = match (&a.resume, &a.run_dir) {
        (Some(d), _) | (None, Some(d)) => d.clone(),
        (None, None) => PathBuf::from("runs").join(crate::iterate::clock::stamp()),
    };
    let first_line = match kind {
        ProposerKind::Llm => format!(
            "proposer: llm ({} at {}; key: {})",
            endpoint.cfg.model,
            endpoint.cfg.base_url,
            endpoint.key_source.unwrap_or("none")
        ),
        ProposerKind::Evolve if configured => {
            "proposer: evolve (offline evolutionary search; --proposer evolve)".to_string()
        }
        ProposerKind::Evolve => "proposer: evolve (offline evolutionary search; no LLM key \
             configured: set OPENROUTER_API_KEY or pass --base-url to use a model)"
            .to_string(),
    };
    // With `--json`, stdout carries the summary document alone.
    let note = |line: &str| {
        if a.json {
            errln!("{line}");
        } else {
            outln!("{line}");
        }
    };
    note(&first_line);
    note(&format!(
        "run dir: {}{}",
        dir.display(),
        if a.resume.is_some() { " (resumed)" } else { "" }
    ));

    let data = open_data(data_dir.as_deref())?;
    let limits = Limits {
        fuel: a.fuel,
        wall: Duration::from_secs_f64(a.timeout),
        memory_bytes: a.memory.saturating_mul(1 << 20),
        ..Limits::default()
    };
    let sandbox = super::sandbox(limits)?;
    let sessions = feather::read_dates_only(&data.path.join(feather::file_name(CALENDAR_KEY)))
        .context("reading the trading calendar of the data")?;
    let split = Split::new(&sessions, validation, holdout);
    let dates = split.dates(&sessions);
    if let Some(s) = &saved {
        if s.split != dates {
            anyhow::bail!(
                "the data's split ({}) differs from the resumed run's: the data changed, and the \
                 sealed holdout would leak; start a new run",
                split.describe(&sessions)
            );
        }
    }
    note(&format!("split: {}", split.describe(&sessions)));

    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let config = RunConfig {
        proposer: kind,
        model: (kind == ProposerKind::Llm).then(|| endpoint.cfg.model.clone()),
        base_url: (kind == ProposerKind::Llm).then(|| endpoint.cfg.base_url.clone()),
        objective,
        holdout_years: holdout,
        validation_years: validation,
        split: dates.clone(),
        gates: gates.clone(),
        seed,
        iterations,
        data_dir: data_dir.clone(),
    };
    std::fs::write(
        dir.join(RUN_CONFIG),
        serde_json::to_string_pretty(&config)? + "\n",
    )
    .with_context(|| format!("writing {}", dir.join(RUN_CONFIG).display()))?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let stop = Stop::new();
    {
        let stop = stop.clone();
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                errln!("\ninterrupted: finishing the trial in flight (Ctrl-C again to abort)");
                stop.request();
                if tokio::signal::ctrl_c().await.is_ok() {
                    errln!("aborted");
                    std::process::exit(130);
                }
            }
        });
    }

    let settings = RunSettings {
        iterations,
        objective,
        max_repairs: a.max_repairs,
        gates,
        jobs: a
            .jobs
            .unwrap_or_else(crate::parallel::default_jobs)
            .clamp(1, crate::sandbox::MAX_CONCURRENT as usize),
    };
    let mut runner = Runner::new(&dir, &data, &sandbox, split, settings, stop.clone())?;
    let done = runner.ledger.trials.len() as u32;
    let mut progress = Progress::new(iterations, done, a.quiet, a.json, objective);
    let mut proposer: Box<dyn Proposer> = match kind {
        ProposerKind::Llm => {
            let client = Client::new(endpoint.cfg.clone())?;
            Box::new(LlmProposer::new(
                client,
                rt.handle().clone(),
                templates,
                runner.ctx.datasets.as_deref(),
                &data.banner(),
                objective,
                stop.clone(),
            ))
        }
        ProposerKind::Evolve => Box::new(EvolveProposer::new(runner.ctx.clone(), seed)),
    };
    runner.log(&mut progress, &first_line);
    runner.log(
        &mut progress,
        &format!("{}; {}", data.banner(), split.describe(&sessions)),
    );
    if runner.ledger.dropped_partial_line {
        runner.log(
            &mut progress,
            "the ledger's last line was cut mid-write; dropped it",
        );
    }
    if done > 0 {
        runner.log(&mut progress, &format!("resuming after {done} trial(s)"));
    }
    let ended = runner.run(proposer.as_mut(), &mut progress)?;
    progress.bar.finish_and_clear();
    let stopped = match &ended {
        Ended::Done => None,
        Ended::Interrupted => Some("interrupted (Ctrl-C)".to_string()),
        Ended::Failed(m) => Some(m.clone()),
    };
    if let Some(s) = &stopped {
        runner.log(&mut progress, &format!("run stopped: {s}"));
    }
    let trials = runner.ledger.trials.clone();
    // The sealed holdout: scored once, for the promoted strategy only.
    let holdout_scores = match promote(&trials, objective, split.has_validation()) {
        Some(t) if split.has_holdout() => {
            let line = format!("unsealing the holdout for promoted trial #{}", t.iteration);
            runner.log(&mut progress, &line);
            match runner.seal(t) {
                Ok(s) => s,
                Err(e) => {
                    let line = format!("the holdout evaluation failed: {e}");
                    runner.log(&mut progress, &line);
                    None
                }
            }
        }
        _ => None,
    };
    let rigor = assess(
        &trials,
        &runner.returns.series,
        &split,
        &sessions,
        objective,
        holdout_scores,
    );
    let mut summary = Summary::new(
        &dir,
        proposer.name(),
        proposer.model(),
        objective,
        data.banner(),
        dates,
        rigor,
        &trials,
        started.elapsed().as_secs_f64(),
        stopped,
    );
    summary.write(&trials, &data.banner())?;
    // The run's HTML report (`dsl-engine report RUN_DIR` renders the same page again).
    let report_path = dir.join("report.html");
    let report = crate::report::run::RunReport::load(&dir)
        .map(|r| crate::report::run::render(&r))
        .map_err(anyhow::Error::from)
        .and_then(|html| std::fs::write(&report_path, html).map_err(anyhow::Error::from));
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary, &trials);
        match &report {
            Ok(()) => outln!("wrote {}", report_path.display()),
            Err(e) => errln!("could not write {}: {e:#}", report_path.display()),
        }
    }
    rt.shutdown_background();
    Ok(match ended {
        Ended::Failed(_) => ExitStatus::Error,
        _ => ExitStatus::Success,
    })
}
