//! `dsl-engine iterate`: flags, the model endpoint, Ctrl-C / SIGTERM, and what is printed. The
//! run itself (settings, lock, ledger checks, holdout, summary) is `iterate::Session`.

// The flags' doc comments are clap's `--help` text, written for a terminal, not for rustdoc.
#![allow(rustdoc::bare_urls, rustdoc::invalid_html_tags)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

mod endpoint;
mod report;

pub use endpoint::{Endpoint, LlmArgs};

use report::{print_summary, Progress};

use super::out::Printer;
use super::{open_data, ExitStatus};
use crate::data::{feather, DataDir, CALENDAR_KEY};
use crate::dsl::grammar;
use crate::iterate::config::{Constrain, Mode, ProposerKind, Requested, RunConfig};
use crate::iterate::lock::RunLock;
use crate::iterate::prompts::Templates;
use crate::iterate::run::Ended;
use crate::iterate::session::{fork_run, Session};
use crate::iterate::{EvolveProposer, LlmProposer, Objective, Proposer, RunSettings, Split, Stop};
use crate::llm::{Client, Constraint};
use crate::sandbox::{Limits, DEFAULT_MEMORY};
use crate::scale::coordinator::{Coordinator, NatsEvaluator};

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

fn parse_day(s: &str) -> Result<String, String> {
    crate::calendar::parse(s.trim())
        .map(crate::calendar::format)
        .ok_or_else(|| format!("`{s}` is not a date (YYYY-MM-DD)"))
}

/// `dsl-engine iterate`.
#[derive(Debug, clap::Args)]
pub struct IterateArgs {
    /// Trials in the run (a resumed run continues up to this total) [default: 10].
    #[arg(short = 'n', long = "iterations", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
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
    /// Run directory [default: runs/<UTC timestamp>]. A directory that already holds a run
    /// continues it, as `--resume` does.
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Continue the run in this directory (its settings are kept; `-n` sets the new total).
    #[arg(long, conflicts_with = "run_dir")]
    pub resume: Option<PathBuf>,
    /// Start a new run in NEW_DIR from a copy of the trials of the run given by `--resume` or
    /// `--run-dir`, with changed settings (not the split or the data); the parent is recorded.
    #[arg(long, value_name = "NEW_DIR")]
    pub fork: Option<PathBuf>,
    /// Data directory in finlab's cache layout (default: the synthetic market).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seed of the evolutionary search [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Repair rounds for an invalid proposal before the fallback template runs [default: 2].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub max_repairs: Option<u32>,
    /// Directory with prompt templates overriding the built-in ones (system.md, iteration.md,
    /// repair.md, and constrained/ with the same three; missing files keep the built-in text).
    #[arg(long)]
    pub prompts: Option<PathBuf>,
    /// Constrain the model's replies by the DSL's grammar: gbnf (llama.cpp's server, `grammar`
    /// field), lark (vLLM, `structured_outputs.grammar`), none, or auto: what the endpoint's
    /// `GET /models` says serves it (llama.cpp or vLLM), else none [default: auto; a resumed
    /// run keeps its setting].
    #[arg(long, value_enum)]
    pub constrain: Option<Constrain>,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Wall-clock limit of one sandboxed evaluation, in seconds (at most a day).
    #[arg(long, default_value_t = 120.0, value_parser = super::flags::seconds)]
    pub timeout: f64,
    /// Fuel budget of one sandboxed evaluation (default: sized from the plan and the data).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Trials evaluated in parallel [default: the number of cores; at most 32]. The offline search makes
    /// its proposals in rounds of 4 whatever this is, so a seed gives the same ledger with any
    /// `--jobs`; with a model, each round has one proposal per job.
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Memory cap of one sandboxed evaluation, in MiB, at most 4096 (the guest's address space) [default: 2048].
    #[arg(long, value_parser = crate::sandbox::parse_memory_mib)]
    pub memory: Option<usize>,
    /// Intermediate results a warm sandbox session keeps for later trials, in MiB, within
    /// `--memory` (0: off) [default: a quarter of `--memory`]. Results are the same bits either
    /// way, so like `--jobs` it may change on `--resume`.
    #[arg(long, value_name = "MIB", value_parser = crate::sandbox::parse_reuse_mib)]
    pub reuse_mib: Option<usize>,
    /// No progress bar or per-trial lines; only the summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// The model's training cutoff (YYYY-MM-DD): with a model on real data, a sealed holdout
    /// starting before it is flagged, since the model may have seen those years.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub model_cutoff: Option<String>,
    /// Print the summary as one JSON document on stdout (notes go to stderr).
    #[arg(long)]
    pub json: bool,
    /// Evaluate on workers through this NATS server (JetStream), e.g. nats://10.0.0.5:4222;
    /// start them with `dsl-engine worker --nats URL`. The ledger is the one a local run
    /// writes. `--jobs` is then the trials in flight [default: the workers' job slots].
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    #[command(flatten)]
    pub nats_auth: crate::scale::Auth,
}

impl IterateArgs {
    /// The settings the flags ask for (`None` where not given).
    fn requested(&self, configured: bool) -> Requested {
        Requested {
            iterations: self.iterations,
            proposer: self.proposer,
            default_proposer: Some(if configured {
                ProposerKind::Llm
            } else {
                ProposerKind::Evolve
            }),
            model: self.llm.explicit_model(),
            base_url: self.llm.explicit_url(),
            objective: self.objective,
            holdout_years: self.holdout,
            validation_years: self.validation,
            min_trades: self.min_trades,
            turnover: self.turnover,
            max_correlation: self.max_corr,
            seed: self.seed,
            data_dir: self.data_dir.clone(),
            max_repairs: self.max_repairs,
            temperature: self.llm.temperature,
            constrain: self.constrain,
            prompts: self.prompts.clone(),
            fuel: self.fuel,
            memory_mib: self.memory,
            model_cutoff: self.model_cutoff.clone(),
        }
    }
}

/// Where the run lives, how the directory is used, and (for a fork) the parent run.
fn placement(a: &IterateArgs) -> anyhow::Result<(PathBuf, Mode, Option<PathBuf>)> {
    let given = a.resume.as_ref().or(a.run_dir.as_ref());
    let holds_run = |d: &Path| d.join(crate::iterate::config::RUN_CONFIG).is_file();
    if let Some(d) = &a.resume {
        if !holds_run(d) {
            anyhow::bail!(
                "cannot resume {}: it holds no run (no run.json)",
                d.display()
            );
        }
    }
    match (&a.fork, given) {
        (Some(new), Some(old)) if holds_run(old) => {
            Ok((new.clone(), Mode::Fork, Some(old.clone())))
        }
        (Some(_), _) => anyhow::bail!(
            "--fork NEW_DIR needs the run to fork, given by --resume DIR or --run-dir DIR"
        ),
        (None, Some(d)) if holds_run(d) => Ok((d.clone(), Mode::Resume, None)),
        (None, Some(d)) => Ok((d.clone(), Mode::New, None)),
        (None, None) => Ok((
            PathBuf::from("runs").join(crate::iterate::clock::stamp()),
            Mode::New,
            None,
        )),
    }
}

/// The data set's identity for `run.json`: the digest of its files (`data verify` prints it).
fn data_digest(data: &DataDir) -> anyhow::Result<Option<String>> {
    Ok(Some(
        data.digest().context("computing the data set's digest")?,
    ))
}

/// Most tokens of a constrained reply: a strategy takes a few hundred, and a grammar admits
/// endless comment lines.
const CONSTRAINED_MAX_TOKENS: u32 = 4096;

/// Settles `--constrain auto` by asking the endpoint what serves it; with why, for the first
/// line.
fn detect(endpoint: &Endpoint) -> anyhow::Result<(Constrain, String)> {
    let client = Client::new(endpoint.cfg.clone())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(match rt.block_on(client.detect_server()) {
        Ok(Some(server)) => {
            let c = match server.format() {
                grammar::Format::Gbnf => Constrain::Gbnf,
                grammar::Format::Lark => Constrain::Lark,
            };
            (c, format!("{} by GET /models", server.name()))
        }
        Ok(None) => (
            Constrain::None,
            "GET /models names neither llama.cpp nor vLLM".into(),
        ),
        Err(e) => (Constrain::None, format!("could not ask: {e}")),
    })
}

/// The first line: who proposes.
fn proposer_line(
    kind: ProposerKind,
    endpoint: &Endpoint,
    configured: bool,
    grammar: &str,
) -> String {
    match kind {
        ProposerKind::Llm => format!(
            "proposer: llm ({} at {}; key: {}; grammar: {grammar})",
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
    }
}

/// Ctrl-C and SIGTERM both ask the run to stop after the trials in flight; a second one aborts.
fn on_signals(rt: &tokio::runtime::Runtime, stop: Stop) {
    rt.spawn(async move {
        let first = signal().await;
        errln!("\n{first}: finishing the trials in flight (again to abort)");
        stop.request();
        let again = signal().await;
        errln!("{again} again: aborted");
        std::process::exit(130);
    });
}

/// The next Ctrl-C or SIGTERM.
pub(super) async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted",
                _ = term.recv() => "terminated",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupted"
}

/// Most trials in flight on workers (`--jobs` with `--nats`).
const MAX_IN_FLIGHT: usize = 4096;

/// Connects the run to the NATS server at `url`; says who is there. Returns the coordinator
/// and the live workers' job slots.
fn coordinator(
    rt: &tokio::runtime::Runtime,
    url: &str,
    auth: &crate::scale::Auth,
    data: &DataDir,
    limits: &Limits,
    printer: &Printer,
) -> anyhow::Result<(Coordinator, usize)> {
    let mut notes = Vec::new();
    let mut c = rt.block_on(Coordinator::open(
        url,
        auth,
        data,
        limits,
        &mut |l: &str| notes.push(l.to_string()),
    ))?;
    let status = rt.block_on(c.queue.status())?;
    let q = c.queue.settings;
    printer.note(&format!(
        "nats: {url} (run session {}): {}; ack wait {:.0} s, at most {} deliveries",
        c.run,
        status.line(),
        q.ack_wait.as_secs_f64(),
        q.max_deliver
    ));
    for n in notes {
        printer.note(&format!("nats: {n}"));
    }
    if status.workers.is_empty() {
        printer.note(&format!(
            "nats: no worker connected yet; jobs wait in the queue until one starts (`dsl-engine worker --nats {url}`)"
        ));
    }
    Ok((c, status.slots().max(1)))
}

/// Runs `iterate`.
/// What the run directory, the flags and a saved configuration settle before any work starts.
struct Settled {
    dir: PathBuf,
    lock: RunLock,
    config: RunConfig,
    endpoint: Endpoint,
    templates: Templates,
    /// The proposer and grammar line printed first and logged.
    first_line: String,
}

/// Places the run (new, resumed or forked), takes its lock and resolves every setting.
fn settle(a: &IterateArgs, printer: &Printer) -> anyhow::Result<Settled> {
    let (dir, mode, parent) = placement(a)?;
    let parent_unsealed = match &parent {
        Some(old) => fork_run(old, &dir)?,
        None => false,
    };
    let lock = RunLock::acquire(&dir)?;
    let saved = match (&parent, mode) {
        (Some(old), _) => RunConfig::load(old)?,
        (None, Mode::Resume) => RunConfig::load(&dir)?,
        (None, _) => None,
    };
    let endpoint = a.llm.endpoint(saved.as_ref())?;
    let configured = endpoint.cfg.api_key.is_some() || endpoint.explicit_url;
    let mut config = RunConfig::resolve(&a.requested(configured), saved.as_ref(), mode, &dir)?;
    if let Some(old) = &parent {
        config.parent = Some(old.clone());
        config.parent_holdout_unsealed |= parent_unsealed;
    }
    let grammar_note = if config.constrain == Constrain::Auto {
        let (c, why) = detect(&endpoint)?;
        config.constrain = c;
        format!("{c}, auto: {why}")
    } else {
        config.constrain.to_string()
    };
    let templates = Templates::load(config.prompts.as_deref())?;
    config.check_prompts(templates.digest(config.constrain.format().is_some()))?;

    let first_line = proposer_line(config.proposer, &endpoint, configured, &grammar_note);
    printer.note(&first_line);
    let how = match mode {
        Mode::New => String::new(),
        Mode::Resume => " (resumed)".into(),
        Mode::Fork => format!(
            " (forked from {})",
            parent.as_deref().unwrap_or(&dir).display()
        ),
    };
    printer.note(&format!("run dir: {}{how}", dir.display()));
    Ok(Settled {
        dir,
        lock,
        config,
        endpoint,
        templates,
        first_line,
    })
}

/// The market data, the sandbox limits and the split a run evaluates on, checked against a
/// resumed run's record.
struct Market {
    data: DataDir,
    limits: Limits,
    sessions: Vec<i32>,
    describe: String,
}

fn open_market(
    a: &IterateArgs,
    config: &mut RunConfig,
    printer: &Printer,
) -> anyhow::Result<Market> {
    let data = open_data(config.data_dir.as_deref())?;
    config.check_data(data_digest(&data)?, &data.path)?;
    let memory_mib = config.memory_mib.unwrap_or(DEFAULT_MEMORY >> 20);
    let limits = Limits {
        fuel: config.fuel,
        wall: Duration::from_secs_f64(a.timeout),
        memory_bytes: memory_mib.saturating_mul(1 << 20),
        reuse_bytes: a.reuse_mib.map(|m| m << 20),
        ..Limits::default()
    };
    if let Some(mib) = a.reuse_mib {
        crate::sandbox::check_reuse(mib, memory_mib).map_err(anyhow::Error::msg)?;
    }
    let sessions = feather::read_dates_only(&data.path.join(feather::file_name(CALENDAR_KEY)))
        .context("reading the trading calendar of the data")?;
    let split = Split::new(&sessions, config.validation_years, config.holdout_years);
    let describe = split.describe(&sessions);
    config.check_split(split.dates(&sessions), &describe)?;
    printer.note(&format!("split: {describe}"));
    let synthetic = data.manifest.as_ref().is_some_and(|m| m.synthetic);
    if let Some(w) = config.memory_warning(synthetic) {
        errln!("warning: {w}");
    }
    Ok(Market {
        data,
        limits,
        sessions,
        describe,
    })
}

/// Evaluations in flight: the workers' slots on NATS, else the local default, within bounds.
fn jobs(a: &IterateArgs, slots: Option<usize>) -> usize {
    match slots {
        Some(slots) => a.jobs.unwrap_or(slots).clamp(1, MAX_IN_FLIGHT),
        None => a
            .jobs
            .unwrap_or_else(crate::parallel::default_jobs)
            .clamp(1, crate::sandbox::MAX_CONCURRENT as usize),
    }
}

pub fn run(a: IterateArgs) -> anyhow::Result<ExitStatus> {
    let started = Instant::now();
    let printer = Printer::new(a.json);
    let Settled {
        dir,
        lock,
        mut config,
        endpoint,
        templates,
        first_line,
    } = settle(&a, &printer)?;
    let Market {
        data,
        limits,
        sessions,
        describe,
    } = open_market(&a, &mut config, &printer)?;
    let sandbox = super::sandbox(limits.clone())?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let stop = Stop::new();
    on_signals(&rt, stop.clone());

    let coordinator = match &a.nats {
        Some(url) => Some(coordinator(
            &rt,
            url,
            &a.nats_auth,
            &data,
            &limits,
            &printer,
        )?),
        None => None,
    };
    let settings = RunSettings {
        iterations: config.iterations,
        objective: config.objective,
        max_repairs: config.max_repairs,
        gates: config.gates.clone(),
        jobs: jobs(&a, coordinator.as_ref().map(|(_, slots)| *slots)),
    };
    let objective = config.objective;
    let mut session = Session::open(
        &dir,
        lock,
        config,
        &data,
        &sandbox,
        sessions,
        settings,
        stop.clone(),
    )?;
    let done = session.trials().len() as u32;
    let total = session.config.iterations;
    let mut progress = Progress::new(total, done, a.quiet, a.json, objective);
    let mut proposer = make_proposer(&session, &endpoint, templates, &data.banner(), &rt, &stop)?;
    if let Some((c, _)) = coordinator {
        let ctx = session.runner.ctx.clone();
        let evaluator = NatsEvaluator::new(rt.handle().clone(), c, ctx, stop.clone());
        session.runner.set_evaluator(Box::new(evaluator));
    }
    let runner = &mut session.runner;
    runner.log(&mut progress, &first_line);
    runner.log(&mut progress, &format!("{}; {describe}", data.banner()));
    if runner.ledger.dropped_partial_line {
        runner.log(
            &mut progress,
            "the ledger's last line was cut mid-write; dropped it",
        );
    }
    if done > 0 {
        runner.log(&mut progress, &format!("resuming after {done} trial(s)"));
    }
    let ended = session.run(proposer.as_mut(), &mut progress)?;
    progress.bar.finish_and_clear();
    let stopped = match &ended {
        Ended::Done => None,
        Ended::Interrupted => Some("interrupted (Ctrl-C or SIGTERM)".to_string()),
        Ended::Failed(m) => Some(m.clone()),
    };
    if let Some(s) = &stopped {
        session
            .runner
            .log(&mut progress, &format!("run stopped: {s}"));
    }
    let summary = session.finish(
        &ended,
        proposer.as_ref(),
        &data.banner(),
        started.elapsed().as_secs_f64(),
        &mut progress,
    )?;
    let report_path = dir.join("report.html");
    let report = write_report(&dir, &report_path);
    if a.json {
        printer.json(&serde_json::to_value(&summary)?);
    } else {
        print_summary(&summary, session.trials());
        match &report {
            Ok(()) => outln!("wrote {}", report_path.display()),
            Err(e) => errln!("could not write {}: {e:#}", report_path.display()),
        }
    }
    // A run on workers removes its leftovers from the queue as the session closes.
    drop(session);
    rt.shutdown_background();
    Ok(match ended {
        Ended::Failed(_) => ExitStatus::Error,
        _ => ExitStatus::Success,
    })
}

fn make_proposer(
    session: &Session,
    endpoint: &Endpoint,
    templates: Templates,
    banner: &str,
    rt: &tokio::runtime::Runtime,
    stop: &Stop,
) -> anyhow::Result<Box<dyn Proposer>> {
    Ok(match session.config.proposer {
        ProposerKind::Llm => {
            let mut cfg = endpoint.cfg.clone();
            cfg.temperature = session.config.temperature.unwrap_or(cfg.temperature);
            if let Some(format) = session.config.constrain.format() {
                let keys = session.runner.ctx.datasets.as_deref().unwrap_or_default();
                cfg.grammar = Some(Constraint {
                    format,
                    text: grammar::render(format, keys).into(),
                });
                cfg.max_tokens.get_or_insert(CONSTRAINED_MAX_TOKENS);
            }
            Box::new(LlmProposer::new(
                Client::new(cfg)?,
                rt.handle().clone(),
                templates,
                session.runner.ctx.datasets.as_deref(),
                banner,
                session.config.objective,
                stop.clone(),
            ))
        }
        ProposerKind::Evolve => Box::new(EvolveProposer::new(
            session.runner.ctx.clone(),
            session.config.seed,
        )),
    })
}

/// Writes the run's HTML report (`dsl-engine report RUN_DIR` renders the same page again).
fn write_report(dir: &Path, path: &Path) -> anyhow::Result<()> {
    let html = crate::report::run::render(&crate::report::run::RunReport::load(dir)?);
    crate::util::fs::write_atomic(path, html.as_bytes())?;
    Ok(())
}
