//! An exported strategy runs as a finlab user would run it, without a finlab login:
//! `DSL_ENGINE_DATA=DIR python exported.py` with the real finlab 2.2.20 (and TA-Lib) of the
//! oracle venv runs to its end, writes the position next to the script, and the
//! `dsl-engine sim` command it prints reproduces `dsl-engine backtest`'s figures exactly.
//! `DSL_FINLAB_ORACLE=0` skips it (offline work only; CI never sets it).

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn engine() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsl-engine"));
    cmd.env("DSL_ENGINE_CACHE_DIR", common::cache_dir())
        .env("NO_COLOR", "1");
    cmd
}

fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    out
}

/// Splits a command line printed with Python's `shlex.quote` into words.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in line.trim().chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            _ => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn metrics(stdout: &[u8]) -> Value {
    let doc: Value = serde_json::from_slice(stdout).expect("one JSON document");
    doc["metrics"].clone()
}

fn check(python: &Path, data: &Path, work: &Path, example: &str) {
    let strat = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{example}.strat"));
    let script = work.join(format!("{example}.py"));
    ok(engine()
        .arg("export")
        .arg(&strat)
        .arg("-o")
        .arg(&script)
        .arg("--data-dir")
        .arg(data));
    let py = std::fs::read_to_string(&script).unwrap();
    dsl_engine::dsl::parse(&py).unwrap_or_else(|d| panic!("{example}: {}", d.message));
    assert!(
        !py.contains("dsl-engine developers") && !py.contains("the tests read"),
        "{py}"
    );
    // No login: a fresh HOME and no finlab credentials in the environment.
    let home = work.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = ok(Command::new(python)
        .arg(&script)
        .current_dir(work)
        .env("DSL_ENGINE_DATA", data)
        .env("HOME", &home)
        .env_remove("FINLAB_API_KEY")
        .env_remove("FINLAB_REFRESH_TOKEN")
        .env_remove("FINLAB_SESSION_ID"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let feather = work.join(format!("{example}.position.feather"));
    assert!(
        feather.is_file(),
        "{example}: no {}\n{}",
        feather.display(),
        text(&out)
    );
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("dsl-engine sim "))
        .unwrap_or_else(|| panic!("{example}: no dsl-engine sim command\n{}", text(&out)));
    let args = words(line);
    assert_eq!(
        args[..4],
        ["dsl-engine", "sim", "--position", feather.to_str().unwrap()]
    );
    let sim = ok(engine().args(&args[1..]).arg("--json"));
    let backtest = ok(engine()
        .arg("backtest")
        .arg(&strat)
        .arg("--data-dir")
        .arg(data)
        .arg("--json"));
    let (a, b) = (metrics(&sim.stdout), metrics(&backtest.stdout));
    assert!(b["trades"].as_u64().unwrap() > 0, "{example}: {b}");
    assert_eq!(a, b, "{example}: `{line}` differs from dsl-engine backtest");
}

#[test]
fn exports_run_without_login_and_their_sim_command_reproduces_the_backtest() {
    if !common::oracle_enabled() {
        eprintln!("finlab oracle skipped: DSL_FINLAB_ORACLE=0");
        return;
    }
    let python = common::oracle_python();
    let data = common::data_dir();
    let work = tempfile::tempdir().unwrap();
    // TA-Lib indicators; the industry table; float weights with a position limit, a stop and
    // trading at the open; every stop; resample=None with hold_until.
    for example in [
        "high_rsi",
        "industry_leaders",
        "mastiff",
        "trend_stops",
        "entry_exit_rotation",
    ] {
        check(&python, &data.path, work.path(), example);
    }
}

#[test]
fn printed_commands_split_like_a_shell() {
    assert_eq!(
        words("  dsl-engine sim --position /a/b.feather --name 'two words' --x ''"),
        [
            "dsl-engine",
            "sim",
            "--position",
            "/a/b.feather",
            "--name",
            "two words",
            "--x",
            ""
        ]
    );
}
