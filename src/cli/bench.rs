//! `dsl-engine bench`: evaluation throughput on the full data set, stage by stage (see
//! [`crate::bench`]), optionally next to finlab's own pandas time for the same strategies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use clap::Args;

use super::ExitStatus;
use crate::bench::{self, Report};
use crate::export::{export, Provenance};
use crate::sandbox::Limits;
use crate::scale::coordinator::Coordinator;

/// `dsl-engine bench [FILES...] [--jobs N] [--rounds N] [--json]`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Strategy files to time instead of the built-in set (every example strategy).
    pub files: Vec<PathBuf>,
    /// Data directory (default: the built-in synthetic market).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Evaluations run in parallel (default: the number of cores; at most 32).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// The built-in set: `v1` (the examples named in `src/bench.rs`) or `evolve` (a fixed,
    /// seeded sequence of 200 offline-search proposals bred from the examples, the workload
    /// reuse serves).
    #[arg(long, value_enum, default_value_t = BenchSet::V1)]
    pub set: BenchSet,
    /// Measured passes over the set (after one cold pass that reads the panels) [default: 3
    /// for `v1`, 1 for `evolve`].
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Intermediate results a warm sandbox session keeps for later evaluations, in MiB (0:
    /// off; at most half of `--memory`) [default: a quarter of `--memory` for `--set evolve`,
    /// 0 for `v1` and strategy files, whose rounds repeat the same strategies].
    #[arg(long, value_name = "MIB", value_parser = crate::sandbox::parse_reuse_mib)]
    pub reuse_mib: Option<usize>,
    /// With `--set evolve` and reuse on: skip the measured rounds with reuse off that the
    /// report compares against.
    #[arg(long)]
    pub no_baseline: bool,
    /// Memory cap of one sandboxed evaluation, in MiB, at most 4096 [default: 2048].
    #[arg(long, value_parser = crate::sandbox::parse_memory_mib)]
    pub memory: Option<usize>,
    /// Also time the same strategies in finlab (pandas) with this Python, which must have
    /// `finlab` installed (default: `$DSL_FINLAB_PYTHON`, else the test suite's oracle venv
    /// under `target/tmp/` when present).
    #[arg(long)]
    pub finlab_python: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Evaluate on the workers behind this NATS server instead of here (start them with
    /// `dsl-engine worker --nats URL`): throughput, the per-job overhead of the queue and a
    /// projection for 100 workers.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    #[command(flatten)]
    pub nats_auth: crate::scale::Auth,
}

/// The built-in strategy sets of `bench --set`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchSet {
    V1,
    Evolve,
}

const TIME_SCRIPT: &str = include_str!("../../tests/finlab/time_strategies.py");
const LOCAL_DATA: &str = include_str!("../../tests/finlab/local_data.py");

pub fn run(a: BenchArgs) -> anyhow::Result<ExitStatus> {
    let set: Vec<(String, String)> = if !a.files.is_empty() {
        a.files
            .iter()
            .map(|f| {
                let name = f
                    .file_stem()
                    .map_or_else(|| f.display().to_string(), |s| s.to_string_lossy().into());
                super::read_source(f).map(|t| (name, t))
            })
            .collect::<anyhow::Result<_>>()?
    } else if a.set == BenchSet::Evolve {
        bench::evolve_set()
    } else {
        bench::builtin_set()
    };
    let evolve = a.files.is_empty() && a.set == BenchSet::Evolve;
    let rounds = a.rounds.unwrap_or(if evolve { 1 } else { 3 });
    anyhow::ensure!(rounds >= 1, "--rounds must be at least 1");
    // The v1 and custom sets repeat the same strategies every round: a store would serve
    // whole positions and time nothing but the look-up, so reuse is off unless asked for.
    let reuse_mib = a.reuse_mib.or(if evolve { None } else { Some(0) });
    let limits = Limits {
        reuse_bytes: reuse_mib.map(|m| m << 20),
        memory_bytes: a.memory.map_or(crate::sandbox::DEFAULT_MEMORY, |m| m << 20),
        ..Limits::default()
    };
    if let Some(mib) = reuse_mib {
        crate::sandbox::check_reuse(mib, limits.memory_bytes >> 20).map_err(anyhow::Error::msg)?;
    }
    let jobs = a
        .jobs
        .unwrap_or_else(crate::parallel::default_jobs)
        .clamp(1, crate::sandbox::MAX_CONCURRENT as usize);
    let data = super::open_data(a.data_dir.as_deref())?;
    if let Some(url) = &a.nats {
        return nats(url, &a, &set, &data);
    }
    let sandbox = super::sandbox(limits)?;
    let name = match (a.files.is_empty(), evolve) {
        (false, _) => "custom",
        (true, true) => bench::EVOLVE_VERSION,
        (true, false) => bench::SET_VERSION,
    };
    let label = if a.files.is_empty() {
        format!("built-in set {name}")
    } else {
        "custom set".to_string()
    };
    super::log(&data.banner());
    super::log(&format!(
        "bench: {label} ({} strategies, hash {}), 1 cold pass + {rounds} round(s) on {jobs} \
         thread(s), reuse {} MiB",
        set.len(),
        bench::set_hash(&set),
        sandbox.limits().reuse_budget() >> 20
    ));
    let bar = indicatif::ProgressBar::new((set.len() * rounds) as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "evaluations {msg} [{bar:30}] {pos}/{len} {elapsed} (ETA {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let run_set = bench::Set {
        name,
        strategies: &set,
        cold_evaluates: !evolve,
    };
    // The evolve set's figure of merit is reuse on against off: time the same rounds without a
    // store first, in a sandbox of their own (so neither run sees the other's sessions).
    let reuse_off = if evolve && !a.no_baseline && sandbox.limits().reuse_budget() > 0 {
        let off = super::sandbox(Limits {
            reuse_bytes: Some(0),
            ..sandbox.limits().clone()
        })?;
        bar.set_message("reuse off");
        let r = bench::run(&run_set, &data, &off, jobs, rounds, &|done, _| {
            bar.set_position(done as u64)
        });
        bar.set_position(0);
        Some(r)
    } else {
        None
    };
    bar.set_message(if reuse_off.is_some() { "reuse on" } else { "" });
    let mut report = bench::run(&run_set, &data, &sandbox, jobs, rounds, &|done, _| {
        bar.set_position(done as u64)
    });
    if let Some(off) = reuse_off {
        // The first run read the panels from disk.
        report.cold_ms = off.cold_ms;
        report.reuse_off_per_hour = Some(off.evaluations_per_hour);
    }
    bar.finish_and_clear();
    // finlab's time for 200 bred strategies would take longer than the bench itself.
    let pandas = if evolve {
        HashMap::new()
    } else {
        pandas_times(a.finlab_python.as_deref(), &set, &data.path)
    };

    if a.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("pandas_ms".into(), serde_json::to_value(&pandas)?);
        }
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        out!("{}", render(&report, &pandas));
    }
    Ok(if report.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}

/// `bench --nats URL`: the set on the connected workers.
fn nats(
    url: &str,
    a: &BenchArgs,
    set: &[(String, String)],
    data: &crate::data::DataDir,
) -> anyhow::Result<ExitStatus> {
    use crate::data::{feather, CALENDAR_KEY};
    use crate::iterate::split::{DEFAULT_HOLDOUT_YEARS, DEFAULT_VALIDATION_YEARS};
    let sessions = feather::read_dates_only(&data.path.join(feather::file_name(CALENDAR_KEY)))
        .context("reading the trading calendar of the data")?;
    let split =
        crate::iterate::Split::new(&sessions, DEFAULT_VALIDATION_YEARS, DEFAULT_HOLDOUT_YEARS);
    let ctx = crate::pipeline::check_context(data);
    let rt = crate::scale::runtime()?;
    let report = rt.block_on(async {
        let mut c = Coordinator::open(url, &a.nats_auth, data, &Limits::default(), &mut |l| {
            super::log(&format!("nats: {l}"))
        })
        .await?;
        let status = c.queue.status().await?;
        super::log(&format!(
            "bench: {} strategies (hash {}) on {url}: {}; 1 warm-up pass, a latency pass, {} round(s)",
            set.len(),
            bench::set_hash(set),
            status.line(),
            a.rounds.unwrap_or(3)
        ));
        let rounds = a.rounds.unwrap_or(3);
        let r = crate::scale::bench::run(&mut c, set, &ctx, split, rounds, &mut |l| {
            super::log(l)
        })
        .await;
        c.purge().await;
        r
    })?;
    rt.shutdown_background();
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{}", render_nats(&report));
    }
    Ok(if report.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}

fn render_nats(r: &crate::scale::bench::Report) -> String {
    let p = &r.projection;
    let mut out = format!(
        "{} evaluations on {} worker(s) ({} job slot(s)) in {:.1} s: {:.0} evaluations/hour\n\
         worker time per job (receipt to result): median {:.1} ms\n\
         per-job overhead (publish → result, less the worker's time; one job at a time): \
         median {:.2} ms, 90th percentile {:.2} ms (round trip median {:.1} ms)\n\
         coordinator per trial: {:.2} ms lowering and publishing, {:.2} ms proposing and \
         checking (offline proposer)\n\
         projection for {} workers like these: {:.0} evaluations/hour (workers: {:.0}; one \
         coordinator feeding them: {:.0})\n",
        r.evaluations,
        r.workers,
        r.slots,
        r.wall_ms / 1e3,
        r.evaluations_per_hour,
        r.worker_median_ms,
        r.overhead_median_ms,
        r.overhead_p90_ms,
        r.round_trip_median_ms,
        r.coordinator_ms,
        r.proposal_ms,
        p.workers,
        p.evaluations_per_hour,
        p.worker_bound,
        p.coordinator_bound,
    );
    for e in &r.errors {
        out.push_str(&format!("error: {e}\n"));
    }
    out
}

/// Failures grouped by error: `error (a, b, …)`, the most frequent first, at most three names
/// each.
fn failure_summary(failures: &[crate::bench::Failure]) -> String {
    let mut by_error: Vec<(&str, Vec<&str>)> = Vec::new();
    for f in failures {
        let (name, error) = (f.name.as_str(), f.error.as_str());
        match by_error.iter_mut().find(|(e, _)| *e == error) {
            Some((_, names)) => names.push(name),
            None => by_error.push((error, vec![name])),
        }
    }
    by_error.sort_by_key(|(_, names)| std::cmp::Reverse(names.len()));
    let groups: Vec<String> = by_error
        .iter()
        .map(|(error, names)| {
            let more = if names.len() > 3 { ", …" } else { "" };
            format!("{error} ({}{more})", names[..names.len().min(3)].join(", "))
        })
        .collect();
    groups.join("; ")
}

/// The targets a built-in set is measured against, as printed after its throughput and after
/// its ratio to reuse off: the first bench's for `v1`, the reuse issue's for the evolve set;
/// none for strategy files.
fn targets(set: &str) -> (&'static str, &'static str) {
    match set {
        bench::SET_VERSION => (" (target ≥ 10,000)", ""),
        bench::EVOLVE_VERSION => (" (target ≥ 100,000)", " (target ≥ 3×)"),
        _ => ("", ""),
    }
}

/// The text report: per-strategy table, stage medians, throughput.
fn render(r: &Report, pandas: &HashMap<String, f64>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let stages = bench::STAGES;
    let short = |s: &str| match s {
        "instantiate" => "inst".to_string(),
        "copy_in" => "in".to_string(),
        "copy_out" => "out".to_string(),
        "backtest" => "sim".to_string(),
        "metrics" => "metr".to_string(),
        other => other.to_string(),
    };
    let _ = write!(out, "{:<24}", "strategy (median ms)");
    for s in &stages {
        let _ = write!(out, " {:>7}", short(s));
    }
    let _ = writeln!(out, " {:>8} {:>8} {:>7}", "total", "pandas", "eval/pd");
    // A long sequence (the evolve set) shows its medians only.
    let rows = if r.per_strategy.len() <= 40 {
        &r.per_strategy[..]
    } else {
        &[]
    };
    for row in rows {
        let _ = write!(out, "{:<24}", row.name);
        for s in &stages {
            let _ = write!(
                out,
                " {:>7.1}",
                row.stage_ms.get(*s).copied().unwrap_or(0.0)
            );
        }
        let pd = pandas.get(&row.name).copied();
        let _ = writeln!(
            out,
            " {:>8.1} {:>8} {:>7}",
            row.total_ms,
            pd.map_or("-".into(), |p| format!("{p:.1}")),
            pd.map_or("-".into(), |p| format!("{:.2}×", row.eval_ms / p)),
        );
    }
    let _ = write!(out, "{:<24}", "median, all evaluations");
    for s in &stages {
        let _ = write!(
            out,
            " {:>7.1}",
            r.stage_median_ms.get(*s).copied().unwrap_or(0.0)
        );
    }
    let _ = writeln!(
        out,
        " {:>8.1}",
        r.stage_median_ms.get("total").copied().unwrap_or(0.0)
    );
    let (per_hour_target, ratio_target) = targets(&r.set);
    let _ = writeln!(
        out,
        "\n{} evaluations in {:.1} s on {} thread(s): {:.0} ms each on average, {:.0} evaluations/hour{}",
        r.evaluations,
        r.wall_ms / 1e3,
        r.jobs,
        r.ms_per_evaluation,
        r.evaluations_per_hour,
        per_hour_target
    );
    if r.failed > 0 {
        let _ = writeln!(
            out,
            "{} of {} evaluations ended in the strategy's own error (timed and counted like the \
             others): {}",
            r.failed,
            r.evaluations,
            failure_summary(&r.failures)
        );
    }
    if let Some(off) = r.reuse_off_per_hour {
        let _ = writeln!(
            out,
            "reuse off: {off:.0} evaluations/hour on the same rounds; reuse on is {:.2}× that{}",
            r.evaluations_per_hour / off,
            ratio_target
        );
    }
    let looked = r.reuse_hits + r.reuse_misses;
    let _ =
        writeln!(
        out,
        "reuse: {} MiB per session; {} of {} intermediate results read from the store ({:.1} %), \
         {} of {} evaluations read at least one; the store held at most {} MiB; peak guest \
         memory {:.0} MiB",
        r.reuse_mib,
        r.reuse_hits,
        looked,
        if looked > 0 { 100.0 * r.reuse_hits as f64 / looked as f64 } else { 0.0 },
        r.evaluations_reusing,
        r.evaluations,
        r.reuse_held_mib,
        r.peak_guest_mib
    );
    let _ = writeln!(
        out,
        "cold pass (panels read from disk): {:.1} s for {} strategies; peak memory {}",
        r.cold_ms / 1e3,
        r.strategies,
        r.peak_rss_mib
            .map_or("unknown".into(), |m| format!("{m:.0} MiB"))
    );
    if pandas.is_empty() {
        let _ = writeln!(
            out,
            "(pandas column: pass --finlab-python PATH or set DSL_FINLAB_PYTHON to a Python with finlab)"
        );
    } else {
        let _ = writeln!(
            out,
            "pandas = finlab's FinlabDataFrame building the position with the datasets in memory \
             (no sim); eval/pd compares it with parse..copy-out here"
        );
    }
    for e in &r.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

/// finlab's pandas time per strategy in ms (empty when no finlab Python is available or it
/// fails; the reason is logged).
fn pandas_times(
    python: Option<&Path>,
    set: &[(String, String)],
    data_dir: &Path,
) -> HashMap<String, f64> {
    let python = python
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("DSL_FINLAB_PYTHON").map(PathBuf::from))
        .or_else(|| {
            let p = PathBuf::from("target/tmp/finlab-oracle-venv/bin/python");
            p.is_file().then_some(p)
        });
    let Some(python) = python else {
        return HashMap::new();
    };
    match run_pandas(&python, set, data_dir) {
        Ok(t) => t,
        Err(e) => {
            super::log(&format!("pandas timing skipped: {e:#}"));
            HashMap::new()
        }
    }
}

fn run_pandas(
    python: &Path,
    set: &[(String, String)],
    data_dir: &Path,
) -> anyhow::Result<HashMap<String, f64>> {
    let dir = std::env::temp_dir().join(format!("dsl-engine-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = (|| {
        std::fs::write(dir.join("time_strategies.py"), TIME_SCRIPT)?;
        std::fs::write(dir.join("local_data.py"), LOCAL_DATA)?;
        std::fs::write(
            dir.join("securities.csv"),
            crate::data::reference::SECURITIES,
        )?;
        std::fs::write(
            dir.join("industries.csv"),
            crate::data::reference::INDUSTRIES,
        )?;
        let mut cmd = Command::new(python);
        cmd.env("DSL_DATASETS_DIR", &dir);
        cmd.arg(dir.join("time_strategies.py")).arg(data_dir);
        for (name, text) in set {
            let ast = crate::dsl::parse(text)
                .map_err(|d| anyhow::anyhow!("{name} does not parse: {}", d.message))?;
            let py = dir.join(format!("{name}.py"));
            std::fs::write(&py, export(&ast, text, &Provenance::default()))?;
            cmd.arg(py);
        }
        super::log(&format!(
            "timing the set in finlab with {}",
            python.display()
        ));
        let out = cmd
            .output()
            .with_context(|| format!("cannot run {}", python.display()))?;
        anyhow::ensure!(
            out.status.success(),
            "{} failed: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (file, secs) = l.split_once('\t')?;
                let s: f64 = secs.trim().parse().ok()?;
                Some((file.trim_end_matches(".py").to_string(), s * 1e3))
            })
            .collect())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_grouped_by_error_most_frequent_first() {
        // A name may itself hold ": ".
        let lines: Vec<crate::bench::Failure> = [
            ("#1", "empty"),
            ("a: b", "limit"),
            ("#3", "empty"),
            ("#4", "empty"),
            ("#5", "empty"),
        ]
        .iter()
        .map(|(name, error)| crate::bench::Failure {
            name: name.to_string(),
            error: error.to_string(),
        })
        .collect();
        assert_eq!(
            failure_summary(&lines),
            "empty (#1, #3, #4, …); limit (a: b)"
        );
    }

    #[test]
    fn each_built_in_set_prints_its_own_targets_and_files_none() {
        assert_eq!(targets(bench::SET_VERSION).1, "");
        assert!(targets(bench::SET_VERSION).0.contains("10,000"));
        assert!(targets(bench::EVOLVE_VERSION).0.contains("100,000"));
        assert!(targets(bench::EVOLVE_VERSION).1.contains("3×"));
        assert_eq!(targets("custom"), ("", ""));
    }
}
