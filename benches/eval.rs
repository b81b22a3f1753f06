//! Strategy evaluation speed on the full default market (~1,900 stocks × every session since
//! 2007): for every example, the plan evaluated natively (the guest's code compiled for the
//! host), in the wasm sandbox, and — when the finlab oracle venv exists — by finlab's
//! `FinlabDataFrame` (pandas) on the same data with the datasets already in memory. Also the
//! warm start-up: a new sandbox from the module cache to its first finished evaluation.
//! The sandbox is timed twice: in a fresh instance (inputs copied in: what one `backtest`
//! pays) and in a warm session that already holds the inputs (what `iterate` and `bench` pay
//! from the second strategy that reads the same panels on).
//! A backtest evaluates less under a calendar `resample`: cross-sectional operators only on the
//! rows `sim()` reads (`Plan::read_at`); the "backtest" column times that evaluation (warm),
//! after checking that it backtests exactly as the every-row evaluation does.
//! Targets: sandbox ≤ 3× native and ≤ 0.25× pandas; start-up < 200 ms.
//!
//! Also one case per kernel no example uses (`k_ewm_mean`, `k_adx`, …; see `KERNEL_CASES`).
//! Run with `cargo bench --bench eval [-- NAME...]` (names: examples or kernel cases to time,
//! e.g. `ma_cross`, `k_sar`; default all). The pandas column needs the venv that
//! `cargo test --test finlab_roundtrip` creates (or `DSL_FINLAB_PYTHON=/path/to/python`).

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use dsl_engine::data::{default_data_dir, ensure_default};
use dsl_engine::dsl::{compile, parse, CheckContext};
use dsl_engine::export::{export, Provenance};
use dsl_engine::plan::lower;
use dsl_engine::sandbox::{default_cache_dir, Limits, Sandbox};
use dsl_runtime::wire::PanelData;

/// The kernel cases: a statement body ending in `sim(...)`, over `c` (the adjusted close).
const KERNEL_CASES: &[(&str, &str)] = &[
    ("pow", "sim(c ** 0.5)"),
    (
        "sqrt_exp_sign",
        "sim(np.sqrt(c) + np.exp(-c / 100) + np.sign(c - 50))",
    ),
    ("np_where", "sim(np.where(c > 50, c, 0))"),
    (
        "astype_isna_round",
        "sim((c > 50).astype(int) + c.isna() + c.round(1))",
    ),
    ("rolling_mean", "sim(c.average(60))"),
    (
        "rolling_means",
        "sim(c.average(5) + c.average(10) + c.average(20) + c.average(60) + c.average(120) > 5 * c)",
    ),
    ("ewm_mean", "sim(c.ewm(span=20).mean())"),
    ("ewm_std", "sim(c.ewm(halflife=20).std())"),
    ("expanding_max", "sim(c.expanding().max())"),
    ("expanding_mean", "sim(c.expanding(20).mean())"),
    ("cumsum", "sim(c.cumsum())"),
    ("loc", "sim(c.loc[\"2015\":\"2024-06\"] > 50)"),
    ("sma", "sim(data.indicator(\"SMA\", timeperiod=20))"),
    ("ema", "sim(data.indicator(\"EMA\", timeperiod=20))"),
    ("kama", "sim(data.indicator(\"KAMA\"))"),
    ("macd", "m, s, h = data.indicator(\"MACD\")\nsim(h)"),
    ("stoch", "k, d = data.indicator(\"STOCH\")\nsim(k - d)"),
    ("rsi", "sim(data.indicator(\"RSI\"))"),
    ("atr", "sim(data.indicator(\"ATR\"))"),
    ("adx", "sim(data.indicator(\"ADX\"))"),
    ("cci", "sim(data.indicator(\"CCI\"))"),
    ("mfi", "sim(data.indicator(\"MFI\"))"),
    ("sar", "sim(data.indicator(\"SAR\"))"),
    ("aroon", "d, u = data.indicator(\"AROON\")\nsim(u - d)"),
    ("stddev", "sim(data.indicator(\"STDDEV\", timeperiod=20))"),
    ("row_mean", "sim(c > c.mean(axis=1))"),
    ("row_std", "sim(c / c.std(axis=1))"),
    ("row_median", "sim(c > c.median(axis=1))"),
    (
        "row_count_sum",
        "sim(c * (c > 50).sum(axis=1) / c.count(axis=1))",
    ),
    (
        "series_filter",
        "m = c.mean(axis=1)\nsim((c > c.average(20)) & (m > m.average(60)))",
    ),
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The median of three runs, each giving its own time.
fn median3(mut run: impl FnMut() -> Duration) -> Duration {
    median((0..3).map(|_| run()).collect())
}

fn elapsed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn main() {
    let data = ensure_default(&default_data_dir(), &mut |m| eprintln!("{m}")).expect("data");
    let ctx = CheckContext {
        datasets: dsl_engine::pipeline::check_context(&data).datasets,
    };

    // Warm start-up: module from the cache, one evaluation of a small plan.
    let _ = Sandbox::new(Limits::default(), Some(&default_cache_dir())).expect("sandbox");
    let small = compile(
        "close = data.get(\"price:收盤價\")\nsim(close > 100)\n",
        &CheckContext::default(),
    )
    .program
    .map(|p| lower(&p).plan)
    .expect("small plan");
    let tiny = PanelData {
        name: "t".into(),
        dates: (0..250).collect(),
        columns: (0..50).map(|i| format!("{i}")).collect(),
        values: (0..12_500).map(|i| f64::from(i % 200)).collect(),
    };
    let startups: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let sb = Sandbox::new(Limits::default(), Some(&default_cache_dir())).expect("sandbox");
            sb.evaluate(&small, &[&tiny]).expect("first evaluation");
            t.elapsed()
        })
        .collect();
    println!(
        "warm start-up to first evaluation: {:.0} ms (median of 5; target < 200 ms)\n",
        median(startups).as_secs_f64() * 1e3
    );

    // No reuse store: a warm run of the same plan would read its whole position from it.
    let limits = Limits {
        reuse_bytes: Some(0),
        ..Limits::default()
    };
    let sb = Sandbox::new(limits, Some(&default_cache_dir())).expect("sandbox");
    let mut files: Vec<PathBuf> = std::fs::read_dir("examples")
        .expect("examples/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    // One strategy per kernel beyond the examples' (element-wise functions, growing windows,
    // indicators), named `k_<kernel>`.
    let kernels = tempfile::tempdir().expect("temp dir");
    for (name, body) in KERNEL_CASES {
        let path = kernels.path().join(format!("k_{name}.strat"));
        let src = format!(
            "from finlab import data\nfrom finlab.backtest import sim\nimport numpy as np\n\
             c = data.get(\"etl:adj_close\")\n{body}\n"
        );
        std::fs::write(&path, src).expect("kernel case");
        files.push(path);
    }
    // `cargo bench --bench eval -- ma_cross new_high`: only those examples.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    files.retain(|f| {
        only.is_empty()
            || f.file_stem()
                .is_some_and(|s| only.iter().any(|o| s.to_string_lossy() == *o))
    });
    let exports = tempfile::tempdir().expect("temp dir");
    let mut rows = Vec::new();
    for path in &files {
        let src = std::fs::read_to_string(path).expect("example");
        let Some(program) = compile(&src, &ctx).program else {
            eprintln!("{}: invalid on this data set", path.display());
            continue;
        };
        let lowered = lower(&program);
        let plan = lowered.plan;
        let inputs = dsl_engine::pipeline::load_inputs_owned(&plan, &data).expect("dataset");
        let refs: Vec<&PanelData> = inputs.iter().collect();
        let shared = dsl_engine::pipeline::load_inputs(&plan, &data).expect("dataset");
        // Native: the inputs are the evaluator's to consume, so each run gets a copy made
        // before its clock starts.
        let native = median3(|| {
            let owned = inputs.clone();
            elapsed(|| {
                dsl_runtime::eval::evaluate(&plan, owned).expect("native");
            })
        });
        let sandboxed = median3(|| {
            elapsed(|| {
                sb.evaluate(&plan, &refs).expect("sandbox");
            })
        });
        sb.evaluate_shared(&plan, &shared).expect("sandbox");
        let warm = median3(|| {
            elapsed(|| {
                sb.evaluate_shared(&plan, &shared).expect("sandbox");
            })
        });
        // What a backtest evaluates: the rows sim() reads, under a calendar resample.
        let for_sim = match dsl_engine::pipeline::sim_read_dates(&lowered.sim.options, &shared) {
            Some(dates) => {
                let mut read = plan.clone();
                read.read_at = Some(dates);
                // Checked on the full market: the same backtest as from every row.
                let opts = &lowered.sim.options;
                let backtest = |plan: &dsl_engine::plan::Plan| {
                    let position = sb.evaluate_shared(plan, &shared).expect("sandbox").position;
                    dsl_engine::pipeline::simulate_on(&position, &data, opts)
                        .expect("backtest")
                        .0
                };
                let (all, some) = (backtest(&plan), backtest(&read));
                assert!(
                    all.creturn == some.creturn && all.trades == some.trades,
                    "{}: the backtest's rows give another backtest",
                    path.display()
                );
                median3(|| {
                    elapsed(|| {
                        sb.evaluate_shared(&read, &shared).expect("sandbox");
                    })
                })
            }
            None => warm,
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Ok(ast) = parse(&src) {
            let py = exports.path().join(name.replace(".strat", ".py"));
            std::fs::write(&py, export(&ast, &src, &Provenance::default())).expect("export");
        }
        rows.push((name, native, sandboxed, warm, for_sim));
    }

    // finlab's pandas time, when the oracle venv is there.
    let python = std::env::var("DSL_FINLAB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target/tmp/finlab-oracle-venv/bin/python"));
    let mut pandas = std::collections::HashMap::new();
    if python.is_file() {
        let mut cmd = Command::new(&python);
        cmd.arg("tests/finlab/time_strategies.py").arg(&data.path);
        for (name, ..) in &rows {
            cmd.arg(exports.path().join(name.replace(".strat", ".py")));
        }
        match cmd.output() {
            Ok(out) => {
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    if let Some((file, secs)) = line.split_once('\t') {
                        if let Ok(s) = secs.trim().parse::<f64>() {
                            pandas.insert(file.replace(".py", ".strat"), s);
                        }
                    }
                }
                if !out.status.success() {
                    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
                }
            }
            Err(e) => eprintln!("cannot run {}: {e}", python.display()),
        }
    } else {
        eprintln!(
            "(no finlab venv at {}: pandas column skipped)",
            python.display()
        );
    }

    println!(
        "{:<24} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7}",
        "strategy",
        "native",
        "fresh",
        "warm",
        "backtest",
        "pandas",
        "fr/nat",
        "wm/nat",
        "wm/pd",
        "bt/pd"
    );
    let (mut ratios, mut bt_ratios) = (Vec::new(), Vec::new());
    for (name, native, fresh, warm, for_sim) in rows {
        let pd = pandas.get(&name).copied();
        let (n, f, w, b) = (
            native.as_secs_f64(),
            fresh.as_secs_f64(),
            warm.as_secs_f64(),
            for_sim.as_secs_f64(),
        );
        if let Some(p) = pd {
            ratios.push(w / p);
            bt_ratios.push(b / p);
        }
        let ratio = |x: f64| pd.map_or("-".into(), |p| format!("{:.2}×", x / p));
        println!(
            "{:<24} {:>6.0}ms {:>6.0}ms {:>6.0}ms {:>6.0}ms {:>8} {:>6.2}× {:>6.2}× {:>7} {:>7}",
            name.trim_end_matches(".strat"),
            n * 1e3,
            f * 1e3,
            w * 1e3,
            b * 1e3,
            pd.map_or("-".into(), |p| format!("{:.0}ms", p * 1e3)),
            f / n,
            w / n,
            ratio(w),
            ratio(b),
        );
    }
    for (what, mut ratios) in [
        ("warm sandbox, every row", ratios),
        ("warm sandbox, a backtest's rows", bt_ratios),
    ] {
        if ratios.is_empty() {
            continue;
        }
        ratios.sort_by(f64::total_cmp);
        let met = ratios.iter().filter(|r| **r <= 0.25).count();
        println!(
            "{what} / pandas: median {:.2}×, worst {:.2}×, {met} of {} at or under 0.25×",
            ratios[ratios.len() / 2],
            ratios[ratios.len() - 1],
            ratios.len()
        );
    }
}
