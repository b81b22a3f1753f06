//! `dsl-engine data …`: generate the synthetic market (`synth`), list and inspect data sets
//! (`list`, `show`), check digests (`verify`), import a finlab cache (`import-finlab`), fetch real
//! data from TWSE/TPEx/MOPS (`fetch`, in `data/fetch.rs`) and time generation and loading
//! (`bench`). Progress bars go to stderr (hidden when it is not a terminal); results to stdout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

mod fetch;

use super::ExitStatus;
use crate::calendar;
use crate::data::synth::{self, report, SynthConfig};
use crate::data::{self, catalog, feather, DataDir, Progress};

/// `dsl-engine data`.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

/// Data subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Generate a synthetic market (default: the full market, seed 42, into the default data dir).
    Synth(SynthArgs),
    /// List the datasets of a data directory: shape, date range, synthetic or not.
    List {
        /// Data directory (default: the synthetic market).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Show one dataset: its catalog entry, shape and latest rows.
    Show {
        /// Dataset key in finlab spelling, e.g. `price:收盤價`.
        key: String,
        /// Data directory (default: the synthetic market).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Rows to print (the latest).
        #[arg(long, default_value_t = 5)]
        rows: usize,
    },
    /// Check every file of a data directory against the digests its manifest records; print
    /// the data-set digest.
    Verify {
        /// Data directory (default: the synthetic market).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Import a finlab cache folder (`~/finlab_db` or its `free/`) into a data directory.
    ImportFinlab {
        /// The finlab cache folder holding `*.feather` files.
        dir: PathBuf,
        /// Destination (default: `<cache>/dsl-engine/data/finlab-import`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fetch real data from TWSE, TPEx and MOPS (quotes, ex-rights events, valuation, chips,
    /// margin, monthly revenue) into a data directory: polite (one request per --interval
    /// seconds), resumable (rerun the same command after a kill).
    Fetch(fetch::FetchArgs),
    /// Find datasets by key, Chinese or English name, alias (`pb`, `revenue_yoy`) or
    /// description, best match first.
    Search {
        /// Words to look for (all must match).
        #[arg(required = true)]
        words: Vec<String>,
        /// Only datasets this data directory has (default: the whole catalog).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Time generating the full market and loading one full panel (warm).
    Bench {
        /// Load from this directory instead of generating a fresh market.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The panel to load.
        #[arg(long, default_value = "etl:adj_close")]
        key: String,
    },
}

/// `dsl-engine data synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Output directory (default: the default data dir for the default configuration, else a
    /// directory named after the configuration in the user cache).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// No planted premia (to test overfitting guards).
    #[arg(long)]
    pub null: bool,
    /// First calendar day (YYYY-MM-DD; default 2007-01-02).
    #[arg(long)]
    pub start: Option<String>,
    /// Last calendar day (YYYY-MM-DD; default 2026-10-30).
    #[arg(long)]
    pub end: Option<String>,
    /// At most this many stocks (a fixed subset of the directory).
    #[arg(long)]
    pub stocks: Option<usize>,
    /// Print the calibration report (realised statistics next to their calibration targets, `docs/data.md` §4.5).
    #[arg(long)]
    pub report: bool,
    /// Regenerate even when the output directory already holds this market.
    #[arg(long)]
    pub force: bool,
}

/// Runs `data`.
pub fn run(a: DataArgs) -> anyhow::Result<ExitStatus> {
    match a.command {
        DataCommand::Synth(s) => synth_cmd(s),
        DataCommand::List { data_dir } => list(data_dir.as_deref()),
        DataCommand::Show {
            key,
            data_dir,
            rows,
        } => show(&key, data_dir.as_deref(), rows),
        DataCommand::Verify { data_dir } => verify(data_dir.as_deref()),
        DataCommand::ImportFinlab { dir, out } => import(&dir, out),
        DataCommand::Fetch(f) => fetch::run(f),
        DataCommand::Search {
            words,
            data_dir,
            json,
        } => search(&words.join(" "), data_dir.as_deref(), json),
        DataCommand::Bench { data_dir, key } => bench(data_dir, &key),
    }
}

/// `data search`: the catalog (or the catalog entries of a data directory) ranked against the
/// query.
fn search(query: &str, dir: Option<&Path>, json: bool) -> anyhow::Result<ExitStatus> {
    let mut entries = catalog::entries()?;
    if let Some(d) = dir {
        let keys = DataDir::open(d)
            .with_context(|| format!("cannot open data directory {}", d.display()))?
            .keys()?;
        entries.retain(|e| keys.contains(&e.key));
    }
    let hits = catalog::search(&entries, query);
    if json {
        let results: Vec<serde_json::Value> = hits
            .iter()
            .map(|(score, e)| {
                serde_json::json!({
                    "key": e.key, "score": score, "name_zh": e.name_zh, "name_en": e.name_en,
                    "aliases": e.aliases, "category": e.category, "frequency": e.frequency,
                    "unit": e.unit, "description": e.description,
                })
            })
            .collect();
        let doc = serde_json::json!({ "query": query, "results": results });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitStatus::Success);
    }
    if hits.is_empty() {
        outln!("no dataset matches `{query}` (`dsl-engine ops --datasets` lists them all)");
        return Ok(ExitStatus::Success);
    }
    for (_, e) in &hits {
        let aliases = if e.aliases.is_empty() {
            String::new()
        } else {
            format!("; aliases: {}", e.aliases.join(", "))
        };
        outln!(
            "{}  {} / {} ({}, {}, {}{aliases})",
            e.key,
            e.name_zh,
            e.name_en,
            e.category,
            e.frequency,
            e.unit
        );
        outln!("    {}", e.description);
    }
    outln!("{} datasets match `{query}`", hits.len());
    Ok(ExitStatus::Success)
}

/// The catalog as Markdown, grouped by category (`dsl-engine ops --datasets`).
pub fn datasets_markdown() -> anyhow::Result<String> {
    let entries = catalog::entries()?;
    let mut out = String::from(
        "# Datasets\n\nEvery dataset key of the catalog, by category (`dsl-engine data search \
         WORD` finds one by name, alias or description; `dsl-engine data show KEY` prints its \
         entry and latest rows).\n",
    );
    for cat in catalog::CATEGORIES {
        let of: Vec<_> = entries.iter().filter(|e| e.category == cat).collect();
        out.push_str(&format!(
            "\n## {cat} ({})\n\n| key | name | frequency | unit | aliases |\n|---|---|---|---|---|\n",
            of.len()
        ));
        for e in of {
            out.push_str(&format!(
                "| `{}` | {} / {} | {} | {} | {} |\n",
                e.key,
                e.name_zh,
                e.name_en,
                e.frequency,
                e.unit,
                e.aliases.join(", ")
            ));
        }
    }
    Ok(out)
}

/// A progress reporter for long data work: on a terminal, one bar per stage (simulated stocks,
/// written files) with a correct count; otherwise one line per stage when it ends. Either way a
/// finished stage leaves a line saying what it did and how long it took.
pub fn reporter() -> impl FnMut(Progress<'_>) {
    let mut stage = Stage::default();
    move |p| match p {
        Progress::Message(m) => match &stage.bar {
            Some(bar) => bar.println(m),
            None => errln!("{m}"),
        },
        Progress::Stocks { done, total } => stage.update("stocks", "simulated", done, total),
        Progress::Files { done, total } => stage.update("files", "wrote", done, total),
    }
}

/// The stage a [`reporter`] is drawing.
#[derive(Default)]
struct Stage {
    name: &'static str,
    bar: Option<ProgressBar>,
    started: Option<Instant>,
    finished: bool,
}

impl Stage {
    fn update(&mut self, name: &'static str, verb: &str, done: usize, total: usize) {
        if self.name != name {
            if let Some(bar) = self.bar.take() {
                bar.finish_and_clear();
            }
            *self = Stage {
                name,
                bar: std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
                    let bar = ProgressBar::new(total as u64);
                    let style = ProgressStyle::with_template(
                        "{msg:>10} [{bar:40}] {pos}/{len} ({elapsed})",
                    )
                    .map(|s| s.progress_chars("=> "))
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style);
                    bar.set_message(name);
                    bar
                }),
                started: Some(Instant::now()),
                finished: false,
            };
        }
        if self.finished {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done.min(total) as u64);
        }
        if done >= total {
            self.finished = true;
            if let Some(bar) = &self.bar {
                bar.finish_and_clear();
            }
            let secs = self.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
            errln!("{verb} {total} {name} in {secs:.1} s");
        }
    }
}

fn parse_date(s: &str) -> anyhow::Result<i32> {
    calendar::parse(s).with_context(|| format!("`{s}` is not a date (YYYY-MM-DD)"))
}

fn synth_cmd(a: SynthArgs) -> anyhow::Result<ExitStatus> {
    let mut cfg = SynthConfig {
        seed: a.seed,
        null: a.null,
        stocks: a.stocks,
        ..SynthConfig::default()
    };
    if let Some(s) = &a.start {
        cfg.start = parse_date(s)?;
    }
    if let Some(e) = &a.end {
        cfg.end = parse_date(e)?;
    }
    if cfg.stocks == Some(0) {
        bail!("--stocks must be at least 1");
    }
    let out = a.out.clone().unwrap_or_else(|| {
        if cfg == SynthConfig::default() {
            data::default_data_dir()
        } else {
            data::cache_root().join(format!(
                "{}-v{}-{}",
                synth::GENERATOR,
                synth::VERSION,
                cfg.label()
            ))
        }
    });
    let existing = DataDir::open(&out)
        .ok()
        .and_then(|d| d.manifest)
        .filter(|m| {
            m.config == cfg.label()
                && m.version == synth::VERSION
                && !data::lacks_generated_keys(m, &cfg)
        });
    let panels = if existing.is_some() && !a.force {
        outln!(
            "{} already holds this market ({}); use --force to regenerate",
            out.display(),
            cfg.label()
        );
        if !a.report {
            return Ok(ExitStatus::Success);
        }
        let dir = DataDir::open(&out)?;
        dir.keys()?
            .iter()
            .map(|k| dir.load(k))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let mut progress = reporter();
        let t0 = Instant::now();
        let panels = synth::generate(&cfg, &mut |done, total| {
            progress(Progress::Stocks { done, total })
        })?;
        let t_gen = t0.elapsed();
        let manifest = data::synthetic_manifest(&cfg, &panels);
        data::check_default_digest(&cfg, &manifest)?;
        data::write_dataset(&out, &panels, &manifest, true, &mut progress)?;
        let total = t0.elapsed();
        let (stocks, sessions) = panels
            .first()
            .map_or((0, 0), |p| (p.columns.len(), p.dates.len()));
        outln!(
            "wrote {} datasets ({} stocks × {} sessions, {} → {}) to {} in {:.1} s (generate {:.1} s, write {:.1} s)",
            panels.len(),
            stocks,
            sessions,
            calendar::format(cfg.start),
            calendar::format(cfg.end),
            out.display(),
            total.as_secs_f64(),
            t_gen.as_secs_f64(),
            (total - t_gen).as_secs_f64()
        );
        outln!("digest {}", manifest.digest);
        panels
    };
    outln!("{}", DataDir::open(&out)?.banner());
    if a.report {
        out!("{}", report::render(&report::calibrate(&panels)));
    }
    Ok(ExitStatus::Success)
}

fn open(dir: Option<&Path>) -> anyhow::Result<DataDir> {
    match dir {
        Some(d) => super::open_data(Some(d)),
        None => {
            let d = data::default_data_dir();
            Ok(data::ensure(&d, &SynthConfig::default(), &mut reporter())?)
        }
    }
}

fn list(dir: Option<&Path>) -> anyhow::Result<ExitStatus> {
    let dir = open(dir)?;
    outln!("{}", dir.banner());
    let keys = dir.keys()?;
    // The key goes last: CJK characters are two columns wide in a terminal.
    outln!(
        "{:>6} × {:<5}  {:<23}  {:<26}  key (name)",
        "rows",
        "cols",
        "coverage",
        "source"
    );
    for k in &keys {
        let shape = feather::read_shape(&dir.path.join(feather::file_name(k)))?;
        let range = match (shape.dates.first(), shape.dates.last()) {
            (Some(&a), Some(&b)) => format!("{} → {}", calendar::format(a), calendar::format(b)),
            _ => "-".into(),
        };
        let name = catalog::entry(k).map_or(String::new(), |e| format!(" ({})", e.name_en));
        outln!(
            "{:>6} × {:<5}  {:<23}  {:<26}  {k}{name}",
            shape.dates.len(),
            shape.columns,
            range,
            source(&shape.metadata, dir.manifest.as_ref())
        );
    }
    outln!("{} datasets", keys.len());
    Ok(ExitStatus::Success)
}

/// Where a panel came from, short: `SYNTHETIC tw-synth`, the fetched endpoints
/// (`TWSE BWIBBU_d + TPEx peQryDate`), the importer, or `-`.
fn source(meta: &std::collections::HashMap<String, String>, m: Option<&data::Manifest>) -> String {
    if meta
        .get("dsl_engine.synthetic")
        .is_some_and(|v| v == "true")
    {
        let g = meta.get("dsl_engine.generator").map_or("", String::as_str);
        return format!("SYNTHETIC {g}");
    }
    if let Some(src) = meta.get("dsl_engine.source") {
        let mut short: Vec<String> = Vec::new();
        for one in src.split("; ") {
            let host = one.split_whitespace().next().unwrap_or("");
            let path = one.split_whitespace().nth(1).unwrap_or("");
            let name = format!("{host} {}", path.rsplit('/').next().unwrap_or(path));
            if !short.contains(&name) {
                short.push(name);
            }
        }
        return short.join(" + ");
    }
    m.map_or("-".into(), |m| m.generator.clone())
}

fn show(key: &str, dir: Option<&Path>, rows: usize) -> anyhow::Result<ExitStatus> {
    let dir = open(dir)?;
    outln!("{}", dir.banner());
    if let Some(e) = catalog::entry(key) {
        outln!("{}  {} / {}", e.key, e.name_zh, e.name_en);
        outln!("  category:    {} ({})", e.category, e.frequency);
        outln!("  unit:        {}", e.unit);
        outln!("  publication: {}", e.publication);
        outln!("  description: {}", e.description);
        outln!("  why:         {}", e.rationale);
    }
    let panel = match dir.load(key) {
        Ok(p) => p,
        Err(e @ data::DataError::NotFound { .. }) => {
            let hint = crate::dsl::suggest::dataset(key, &dir.keys().unwrap_or_default());
            match hint.best {
                Some((n, why)) => bail!("{e}\ndid you mean `{n}`? ({why})"),
                None => bail!("{e}\n`dsl-engine data search WORD` finds datasets by name"),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let (n, c) = (panel.dates.len(), panel.columns.len());
    let valid = panel.values.iter().filter(|v| !v.is_nan()).count();
    outln!(
        "shape {n} dates × {c} columns, {:.1} % non-missing",
        100.0 * valid as f64 / (n * c).max(1) as f64
    );
    let shown: Vec<usize> = (0..c.min(8)).collect();
    let mut line = format!("{:<10}", "date");
    for &j in &shown {
        line.push_str(&format!(" {:>14}", panel.columns[j]));
    }
    outln!("{line}");
    for r in n.saturating_sub(rows)..n {
        let mut line = format!("{:<10}", calendar::format(panel.dates[r]));
        for &j in &shown {
            line.push_str(&format!(" {:>14}", format_value(panel.get(r, j))));
        }
        outln!("{line}");
    }
    if c > shown.len() {
        outln!("… {} more columns", c - shown.len());
    }
    Ok(ExitStatus::Success)
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn verify(dir: Option<&Path>) -> anyhow::Result<ExitStatus> {
    let dir = open(dir)?;
    outln!("{}", dir.banner());
    let Some(m) = dir.manifest.as_ref().filter(|m| !m.files.is_empty()) else {
        bail!(
            "{} has no manifest with file digests (a raw finlab cache or a read-only old data \
             set): nothing to verify against",
            dir.path.display()
        );
    };
    let report = dir.verify()?;
    for (key, expected, actual) in &report.modified {
        outln!("CHANGED  {key}: SHA-256 {actual}, recorded {expected}");
    }
    for key in &report.missing {
        outln!("MISSING  {key}");
    }
    for key in &report.unrecorded {
        outln!("extra    {key}: not in the manifest (not loadable)");
    }
    outln!(
        "{} of {} files match their recorded digest",
        report.ok.len(),
        m.files.len()
    );
    if !report.passed() {
        bail!(
            "{} file(s) changed and {} missing in {}: the data set cannot be trusted; \
             regenerate, re-import or re-fetch it",
            report.modified.len(),
            report.missing.len(),
            dir.path.display()
        );
    }
    outln!("data-set digest {}", dir.digest()?);
    Ok(ExitStatus::Success)
}

fn import(src: &Path, out: Option<PathBuf>) -> anyhow::Result<ExitStatus> {
    let out = out.unwrap_or_else(|| data::cache_root().join("finlab-import"));
    let summary = data::import::import_finlab(src, &out, &mut reporter())
        .with_context(|| format!("importing the finlab cache {}", src.display()))?;
    outln!(
        "imported {} datasets from {} into {}",
        summary.imported.len(),
        src.display(),
        out.display()
    );
    for (p, why) in &summary.skipped {
        outln!("  skipped {}: {why}", p.display());
    }
    outln!("use it with --data-dir {}", out.display());
    Ok(ExitStatus::Success)
}

fn bench(dir: Option<PathBuf>, key: &str) -> anyhow::Result<ExitStatus> {
    let scratch;
    let dir = match dir {
        Some(d) => DataDir::open(&d)?,
        None => {
            scratch = data::cache_root().join(format!(".bench-{}", std::process::id()));
            let cfg = SynthConfig::default();
            let t0 = Instant::now();
            let panels = synth::generate(&cfg, &mut |_, _| {})?;
            let t_gen = t0.elapsed();
            let manifest = data::synthetic_manifest(&cfg, &panels);
            let t1 = Instant::now();
            data::write_dataset(&scratch, &panels, &manifest, true, &mut |_| {})?;
            let t_write = t1.elapsed();
            outln!(
                "synth (full market, {} datasets): generate {:.2} s + write {:.2} s = {:.2} s",
                panels.len(),
                t_gen.as_secs_f64(),
                t_write.as_secs_f64(),
                (t_gen + t_write).as_secs_f64()
            );
            DataDir::open(&scratch)?
        }
    };
    let t = Instant::now();
    let p = dir.load(key)?;
    let cold = t.elapsed();
    let mut warm: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            let _ = dir.load(key);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    warm.sort_by(f64::total_cmp);
    outln!(
        "load {key} ({} × {}, {:.0} MB as f64): first {:.1} ms, warm min {:.1} ms, median {:.1} ms",
        p.dates.len(),
        p.columns.len(),
        (p.values.len() * 8) as f64 / 1e6,
        cold.as_secs_f64() * 1000.0,
        warm[0],
        warm[warm.len() / 2]
    );
    if dir
        .path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".bench-"))
    {
        std::fs::remove_dir_all(&dir.path).ok();
    }
    Ok(ExitStatus::Success)
}
