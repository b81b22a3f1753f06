//! The `dsl-engine` binary as a user runs it.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

fn engine() -> Command {
    let data = common::data_dir();
    let mut cmd = Command::cargo_bin("dsl-engine").unwrap();
    cmd.env("DSL_ENGINE_CACHE_DIR", common::cache_dir())
        .env("DSL_ENGINE_DATA_DIR", &data.path);
    cmd
}

fn run(args: &[&str]) -> Output {
    engine().args(args).output().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const HEAD: &str = "from finlab import data\nfrom finlab.backtest import sim\nclose = data.get(\"price:收盤價\")\n";

#[test]
fn check_accepts_the_examples() {
    for entry in std::fs::read_dir("examples").unwrap() {
        let path = entry.unwrap().path();
        let out = run(&["check", path.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn check_rejects_unsafe_code_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "import_os.strat",
            format!("{HEAD}import os\nsim(close > 10)\n"),
            ":4:8",
            "forbidden-import",
        ),
        (
            "eval.strat",
            format!("{HEAD}x = eval(\"close\")\nsim(close > 10)\n"),
            ":4:5",
            "forbidden-builtin",
        ),
        (
            "shift.strat",
            format!("{HEAD}tomorrow = close.shift(-1)\nsim(tomorrow > close)\n"),
            ":4:24",
            "lookahead-shift",
        ),
    ];
    for (name, src, at, code) in cases {
        let file = write(dir.path(), name, &src);
        let out = run(&["check", &file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{file}{at}")),
            "{name}: no {at} in\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("error[{code}]")),
            "{name}: no {code} in\n{stderr}"
        );
        assert!(stderr.contains("= help:"), "{name}: no hint in\n{stderr}");
        assert!(stderr.contains('^'), "{name}: no caret in\n{stderr}");
    }
}

#[test]
fn backtest_prints_metrics_as_a_table_and_as_json() {
    let out = run(&["backtest", "examples/momentum.strat"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for label in [
        "SYNTHETIC",
        "CAGR",
        "Sharpe",
        "max drawdown",
        "win ratio",
        "trades",
        "fuel",
    ] {
        assert!(stdout.contains(label), "missing {label} in\n{stdout}");
    }

    for example in [
        "examples/momentum.strat",
        "examples/ma_cross.strat",
        "examples/low_volatility_weekly.strat",
    ] {
        let out = run(&["backtest", example, "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        for key in ["cagr", "sharpe", "max_drawdown", "win_ratio", "trades"] {
            assert!(
                doc["metrics"][key].is_number(),
                "{example}: metrics.{key} = {}",
                doc["metrics"][key]
            );
        }
        let creturn = doc["creturn"].as_array().unwrap();
        assert!(creturn.len() > 200, "{example}");
        assert!(creturn[0][0].is_string() && creturn[0][1].is_number());
        assert!(doc["metrics"]["trades"].as_u64().unwrap() > 0);
    }
}

#[test]
fn backtest_failures_have_the_right_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.strat",
        &format!("{HEAD}sim(close.averag(5) > close)\n"),
    );
    let out = run(&["backtest", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `average`?"));

    let out = run(&["backtest", "examples/momentum.strat", "--fuel", "1000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fuel"));

    let missing = write(
        dir.path(),
        "missing.strat",
        &format!("{HEAD}x = data.get(\"price:本益比\")\nsim(x > 1)\n"),
    );
    let out = run(&["backtest", &missing]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown-dataset"));

    let out = run(&["backtest", "no/such/file.strat"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sim_backtests_an_external_position_file() {
    let data = common::data_dir();
    let close = data.load("etl:adj_close").unwrap();
    // Hold the first five stocks on every date: a bool panel written as finlab does.
    let n = close.dates.len();
    let mut values = vec![f64::NAN; n * close.columns.len()];
    values[..5 * n].fill(1.0);
    let held: Vec<String> = close.columns[..5].to_vec();
    let pos = dsl_runtime::wire::PanelData { values, ..close };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("position.feather");
    dsl_engine::data::feather::write_wide(&file, &pos, &[]).unwrap();
    let file = file.display().to_string();

    let out = run(&[
        "sim",
        "--position",
        &file,
        "--resample",
        "M",
        "--stop-loss",
        "0.1",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["metrics"]["sharpe"].is_number());
    let trades = doc["trades"].as_array().unwrap();
    assert!(!trades.is_empty());
    for t in trades {
        assert!(t["exit_reason"].is_string() && t["mae"].is_number(), "{t}");
    }
    assert!(trades
        .iter()
        .all(|t| held.iter().any(|h| t["stock"] == h.as_str())));

    let out = run(&["sim", "--position", &file, "--resample", "fortnightly"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resample"));
    let out = run(&["sim", "--position", "no/such.feather"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn fmt_prints_canonical_text_and_check_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let messy = write(
        dir.path(),
        "messy.strat",
        "# header\nfrom finlab import data\nfrom finlab.backtest import sim\nclose=data.get('price:收盤價')\n\n\nposition = ((close>close.average(20)))&(close>10)  # both\nsim(position,resample='M')\n",
    );
    let out = run(&["fmt", &messy]);
    assert_eq!(out.status.code(), Some(0));
    let canonical = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        canonical,
        "# header\nfrom finlab import data\nfrom finlab.backtest import sim\nclose = data.get(\"price:收盤價\")\n\nposition = (close > close.average(20)) & (close > 10)  # both\nsim(position, resample=\"M\")\n"
    );
    let out = run(&["fmt", "--check", &messy]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{messy}: would be reformatted")),
        "{stderr}"
    );
    let clean = write(dir.path(), "clean.strat", &canonical);
    let out = run(&["fmt", "--check", &clean]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let broken = write(dir.path(), "broken.strat", "x = (1 +\n");
    let out = run(&["fmt", &broken]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[syntax-error]"));
}

#[test]
fn export_writes_finlab_python_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let py = dir.path().join("ma_cross.py");
    let out = run(&[
        "export",
        "examples/ma_cross.strat",
        "--backtest",
        "-o",
        py.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&py).unwrap();
    let source = std::fs::read_to_string("examples/ma_cross.strat").unwrap();
    let hash =
        dsl_engine::dsl::fmt::canonical_hash(&dsl_engine::dsl::parse(&source).unwrap(), &source);
    assert!(text.starts_with("# Exported by dsl-engine "), "{text}");
    assert!(text.contains("from ma_cross.strat\n"), "{text}");
    assert!(
        text.contains(&format!("# canonical hash: {hash}\n")),
        "{text}"
    );
    assert!(text.contains("# data: SYNTHETIC"), "{text}");
    assert!(text.contains("CAGR ") && text.contains("trades "), "{text}");
    assert!(text.contains("if os.environ.get(\"DSL_ENGINE_DATA\"):\n"));
    assert!(text.contains("report = sim(position, position_limit=0.05, name=\"ma-cross\")\n"));
    // The export reads back with our own parser (a Python superset for this shape).
    dsl_engine::dsl::parse(&text).unwrap_or_else(|d| panic!("{}\n{text}", d.message));
    // Without --backtest or -o: Python on stdout, no metrics line.
    let out = run(&["export", "examples/momentum.strat"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("report = sim(") && !stdout.contains("CAGR"));
}

#[test]
fn positions_writes_a_readable_arrow_panel() {
    let dir = tempfile::tempdir().unwrap();
    let pos = dir.path().join("pos.feather");
    let out = run(&[
        "positions",
        "examples/ma_cross.strat",
        "-o",
        pos.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let panel = dsl_engine::data::feather::read_wide(&pos).unwrap();
    assert!(!panel.dates.is_empty() && !panel.columns.is_empty());
    assert!(panel.values.iter().all(|v| *v == 0.0 || *v == 1.0));
    assert!(panel.values.contains(&1.0));
    let shape = dsl_engine::data::feather::read_shape(&pos).unwrap();
    assert_eq!(shape.metadata["dsl_engine.canonical_hash"].len(), 16);
    // The panel backtests with `sim`.
    let out = run(&["sim", "--position", pos.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_json_lists_diagnostics_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "shift.strat",
        &format!("{HEAD}tomorrow = close.shift(-1)\nsim(tomorrow > close)\n"),
    );
    let out = run(&["check", "--json", &file]);
    assert_eq!(out.status.code(), Some(1));
    let diags: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &diags[0];
    assert_eq!(d["code"], "lookahead-shift");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], file.as_str());
    assert_eq!((d["line"].as_u64(), d["col"].as_u64()), (Some(4), Some(24)));
    assert_eq!(
        (d["end_line"].as_u64(), d["end_col"].as_u64()),
        (Some(4), Some(26))
    );
    assert!(d["hint"].as_str().unwrap().contains("shift(1)"));
    let out = run(&["check", "--json", "examples/momentum.strat"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "[]");
}

#[test]
fn bench_reports_stages_and_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.strat",
        &format!("{HEAD}position = close > close.average(20)\nsim(position, resample=\"M\")\n"),
    );
    let b = write(
        dir.path(),
        "b.strat",
        &format!("{HEAD}position = (close / close.shift(20)).is_largest(5)\nsim(position)\n"),
    );
    let out = engine()
        .env("DSL_FINLAB_PYTHON", "/nonexistent/python")
        .args(["bench", &a, &b, "--rounds", "2", "--jobs", "2", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["set"], "custom");
    assert_eq!(v["evaluations"], 4);
    assert_eq!(v["jobs"], 2);
    assert_eq!(v["failed"], 0);
    assert!(v["evaluations_per_hour"].as_f64().unwrap() > 0.0);
    for stage in [
        "parse", "check", "plan", "load", "copy_in", "guest", "backtest", "metrics",
    ] {
        assert!(v["stage_median_ms"][stage].as_f64().is_some(), "{stage}");
    }
    let rows = v["per_strategy"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["stage_ms"]["guest"].as_f64().unwrap() > 0.0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("pandas timing skipped"));

    // A strategy that fails is reported, and the exit status says so.
    let bad = write(dir.path(), "bad.strat", "position = 1 +\n");
    let out = engine()
        .args(["bench", &bad, "--rounds", "1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("error: bad"));
}

/// Runs `dsl-engine ARGS` with stdout a pipe whose reader has already gone, as in
/// `dsl-engine … | head -0`; returns the exit code and stderr.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    use std::process::Stdio;
    let data = common::data_dir();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dsl-engine"))
        .args(args)
        .env("DSL_ENGINE_CACHE_DIR", common::cache_dir())
        .env("DSL_ENGINE_DATA_DIR", &data.path)
        .env_remove("OPENROUTER_API_KEY")
        .env_remove("DSL_ENGINE_LLM_API_KEY")
        .env_remove("DSL_ENGINE_LLM_BASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_output_quietly_and_the_command_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth");
    let run_dir = dir.path().join("run");
    let bench = write(
        dir.path(),
        "b.strat",
        &format!("{HEAD}sim(close > close.average(20), resample=\"M\")\n"),
    );
    let cases: Vec<Vec<&str>> = vec![
        vec!["ops"],
        vec!["data", "list"],
        vec!["data", "show", "price:收盤價"],
        vec![
            "data",
            "synth",
            "--out",
            synth.to_str().unwrap(),
            "--stocks",
            "20",
            "--start",
            "2024-01-02",
            "--report",
        ],
        vec!["check", "--json", "examples/momentum.strat"],
        vec!["fmt", "examples/momentum.strat"],
        vec!["export", "examples/momentum.strat"],
        vec!["backtest", "examples/momentum.strat"],
        vec!["backtest", "examples/momentum.strat", "--json"],
        vec!["bench", &bench, "--rounds", "1", "--jobs", "1"],
        vec!["iterate", "-n", "2", "--run-dir", run_dir.to_str().unwrap()],
        vec!["report", run_dir.to_str().unwrap()],
        vec!["doctor"],
    ];
    for args in cases {
        let (code, stderr) = with_closed_stdout(&args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
    // The interrupted output did not interrupt the run: it finished and wrote its summary.
    let ledger = std::fs::read_to_string(run_dir.join("iterations.jsonl")).unwrap();
    let trials = ledger.lines().filter(|l| !l.contains("\"event\"")).count();
    assert_eq!(trials, 2);
    assert!(run_dir.join("summary.json").is_file());
}

#[test]
fn fmt_write_rewrites_in_place_and_check_takes_several_files() {
    let dir = tempfile::tempdir().unwrap();
    let messy = write(
        dir.path(),
        "messy.strat",
        "from finlab import data\nfrom finlab.backtest import sim\nclose=data.get('price:收盤價')\nsim((close>10),resample='M')\n",
    );
    let out = run(&["fmt", "--write", &messy]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&messy).unwrap();
    assert_eq!(
        text,
        "from finlab import data\nfrom finlab.backtest import sim\nclose = data.get(\"price:收盤價\")\nsim(close > 10, resample=\"M\")\n"
    );
    assert_eq!(run(&["fmt", "--check", &messy]).status.code(), Some(0));
    // Only the file itself is left (no temporary sibling).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // A file that does not parse is left alone.
    let broken = write(dir.path(), "broken.strat", "x = (1 +\n");
    assert_eq!(run(&["fmt", "--write", &broken]).status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "x = (1 +\n");

    // check: every file, exit 1 when any is invalid, one JSON list for all.
    let bad = write(
        dir.path(),
        "shift.strat",
        &format!("{HEAD}tomorrow = close.shift(-1)\nsim(tomorrow > close)\n"),
    );
    let out = run(&["check", "examples/momentum.strat", &messy]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("examples/momentum.strat: ok") && stdout.contains("messy.strat: ok"));
    let out = run(&["check", &messy, &bad, "examples/ma_cross.strat"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ma_cross.strat: ok"));
    let out = run(&["check", "--json", &bad, &broken]);
    assert_eq!(out.status.code(), Some(1));
    let diags: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = diags
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert!(
        files.contains(&bad.as_str()) && files.contains(&broken.as_str()),
        "{files:?}"
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bom.strat");
    let text = format!("{HEAD}sim(close > 10)\n");
    std::fs::write(
        &file,
        [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let out = run(&["check", file]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["fmt", file]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
}

#[test]
fn invalid_utf8_is_an_invalid_strategy_with_line_column_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latin1.strat");
    let line = b"x = close > 1  # caf\xE9\nsim(x)\n";
    std::fs::write(&file, [HEAD.as_bytes(), line.as_slice()].concat()).unwrap();
    let file = file.to_str().unwrap();
    let offset = HEAD.len() + 20;
    for cmd in ["check", "fmt", "backtest", "export", "positions"] {
        let mut args = vec![cmd, file];
        if cmd == "positions" {
            args.extend(["-o", "out.feather"]);
        }
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {stderr}");
        assert!(stderr.contains("error[invalid-utf8]"), "{cmd}: {stderr}");
        assert!(stderr.contains(&format!("{file}:4:21")), "{cmd}: {stderr}");
        assert!(
            stderr.contains(&format!("offset {offset} (0xE9)")),
            "{cmd}: {stderr}"
        );
    }
    let out = run(&["check", "--json", file]);
    assert_eq!(out.status.code(), Some(1));
    let diags: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(diags[0]["code"], "invalid-utf8");
    assert_eq!(
        (diags[0]["line"].as_u64(), diags[0]["col"].as_u64()),
        (Some(4), Some(21))
    );
}

#[test]
fn diagnostics_do_not_pass_escape_sequences_to_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "esc.strat",
        &format!("{HEAD}x = data.get(\"\x1b]0;owned\x07\x1b[2J\")  # \x1b[31m\nsim(close > 1)\n"),
    );
    for args in [vec!["check", &file], vec!["backtest", &file]] {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            !stderr.contains(['\x1b', '\x07']),
            "{args:?}: raw control characters in {stderr:?}"
        );
        assert!(
            stderr.contains("\\u{1b}]0;owned\\u{7}\\u{1b}[2J"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("# \\u{1b}[31m"), "{args:?}: {stderr}");
    }
}

#[test]
fn memory_above_the_guest_address_space_is_refused_as_a_flag_error() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let run_dir = run_dir.to_str().unwrap();
    for args in [
        vec!["backtest", "examples/momentum.strat", "--memory", "8192"],
        vec!["backtest", "examples/momentum.strat", "--memory", "4097"],
        vec!["backtest", "examples/momentum.strat", "--memory", "0"],
        vec![
            "iterate",
            "-n",
            "1",
            "--run-dir",
            run_dir,
            "--memory",
            "8192",
        ],
    ] {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--memory"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let out = run(&["backtest", "examples/momentum.strat", "--memory", "8192"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("4096 MiB"));
    assert!(!Path::new(run_dir).exists(), "iterate started");
    // The address space itself is a valid cap.
    let out = run(&["backtest", "examples/momentum.strat", "--memory", "4096"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn doctor_and_backtest_find_a_damaged_module_cache() {
    let cache = tempfile::tempdir().unwrap();
    let with_cache = |args: &[&str]| {
        engine()
            .env("DSL_ENGINE_CACHE_DIR", cache.path())
            .args(args)
            .output()
            .unwrap()
    };
    let damage = || {
        let module = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .expect("a cached module");
        let mut bytes = std::fs::read(&module).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&module, bytes).unwrap();
    };
    let stdout = |out: &Output| String::from_utf8_lossy(&out.stdout).into_owned();

    let out = with_cache(&["doctor", "--offline"]);
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("ok    sandbox") && l.contains("guest module compiled")),
        "{}",
        stdout(&out)
    );
    damage();
    let out = with_cache(&["doctor", "--offline"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("warn  sandbox") && text.contains("digest"),
        "{text}"
    );
    let out = with_cache(&["doctor", "--offline"]);
    assert!(stdout(&out).contains("digest verified"), "{}", stdout(&out));

    // A backtest on a damaged cache warns, compiles again and gives the same result.
    let good = with_cache(&["backtest", "examples/momentum.strat", "--json"]);
    damage();
    let out = with_cache(&["backtest", "examples/momentum.strat", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning:") && stderr.contains("digest"),
        "{stderr}"
    );
    let doc = |out: &Output| serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
    let (good, again) = (doc(&good), doc(&out));
    assert_eq!(good["metrics"], again["metrics"]);
    assert_eq!(good["creturn"], again["creturn"]);
    assert_eq!(again["sandbox"]["module_cache"], "recompiled");
}

#[test]
fn backtest_and_sim_take_a_date_window() {
    let out = run(&[
        "backtest",
        "examples/momentum.strat",
        "--start",
        "2023",
        "--end",
        "2024-06",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let creturn = doc["creturn"].as_array().unwrap();
    let first = creturn[0][0].as_str().unwrap();
    let last = creturn[creturn.len() - 1][0].as_str().unwrap();
    assert!(
        first >= "2023-01-01" && last <= "2024-06-30",
        "{first} → {last}"
    );
    for t in doc["trades"].as_array().unwrap() {
        assert!(t["entry_sig_date"].as_str().unwrap() >= "2023-01-01", "{t}");
    }

    // `sim --end` is finlab's end_date, as `--end-date` is.
    let dir = tempfile::tempdir().unwrap();
    let pos = dir.path().join("p.feather").display().to_string();
    let out = run(&["positions", "examples/momentum.strat", "-o", &pos]);
    assert_eq!(out.status.code(), Some(0));
    let sim = |extra: &[&str]| {
        let out = run(&[&["sim", "--position", &pos, "--json"], extra].concat());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let a = sim(&["--start", "2023-03-01", "--end", "2024-06-28"]);
    let b = sim(&["--start", "2023-03", "--end-date", "2024-06-28"]);
    assert_eq!(a["creturn"], b["creturn"]);
    assert!(a["creturn"][0][0].as_str().unwrap() >= "2023-03-01");

    for (args, says) in [
        (vec!["--start", "2024", "--end", "2023"], "is after --end"),
        (vec!["--start", "2099"], "has no row from 2099-01-01"),
        (vec!["--start", "2023-13"], "not a date"),
    ] {
        let out = run(&[&["backtest", "examples/momentum.strat"], &args[..]].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
