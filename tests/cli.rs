//! The `dsl-engine` binary as a user runs it.

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
