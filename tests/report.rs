//! The HTML reports end to end: a backtest report whose numbers match `--json`, a strategy that
//! tries to inject markup, the run report of a small iterate run, and a headless-Chromium
//! screenshot (skipped with a message when Chromium is not installed).

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn engine() -> Command {
    let data = common::data_dir();
    let mut cmd = Command::cargo_bin("dsl-engine").unwrap();
    cmd.env("DSL_ENGINE_CACHE_DIR", common::cache_dir())
        .env("DSL_ENGINE_DATA_DIR", &data.path)
        .env("NO_COLOR", "1")
        .env_remove("DSL_ENGINE_LLM_API_KEY")
        .env_remove("OPENROUTER_API_KEY");
    cmd
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn backtest_html(strategy: &str, dir: &Path) -> (String, Value) {
    let html = dir.join("report.html");
    let json = ok(engine().args(["backtest", strategy, "--json"]));
    let table = ok(engine().args(["backtest", strategy, "--html", html.to_str().unwrap()]));
    assert!(table.contains("Sharpe"), "{table}");
    (
        std::fs::read_to_string(&html).unwrap(),
        serde_json::from_str(&json).unwrap(),
    )
}

#[test]
fn backtest_report_has_its_charts_and_the_json_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (html, doc) = backtest_html("examples/momentum.strat", dir.path());
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    // Self-contained: no external resources.
    for external in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(external), "found {external}");
    }
    // Equity (linear and log), drawdown; each with a drawn path and axis labels.
    for class in ["chart equity lin", "chart equity log", "chart drawdown"] {
        let at = html
            .find(&format!("<svg class=\"{class}\""))
            .unwrap_or_else(|| panic!("no {class} chart"));
        let svg = &html[at..at + html[at..].find("</svg>").unwrap()];
        assert!(svg.contains("<path d=\"M"), "{class}: no path");
        assert!(svg.contains("class=\"tick\""), "{class}: no ticks");
        assert!(
            !svg.contains("NaN") && !svg.contains("inf"),
            "{class}: bad coordinates"
        );
    }
    for id in [
        "monthly",
        "yearly-table",
        "metrics-table",
        "holdings",
        "trades-table",
        "source",
        "data-banner",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    assert!(html.contains("SYNTHETIC"));
    // Every metric carries its exact JSON value.
    let metrics = doc["metrics"].as_object().unwrap();
    assert!(metrics.len() > 20);
    for (key, v) in metrics {
        let raw = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let needle = format!("data-metric=\"{key}\" data-value=\"{raw}\"");
        assert!(html.contains(&needle), "missing {needle}");
    }
    // The formatted figures match too.
    let sharpe = doc["metrics"]["sharpe"].as_f64().unwrap();
    assert!(html.contains(&format!(
        "data-value=\"{}\">{sharpe:.3}<",
        doc["metrics"]["sharpe"]
    )));
    let trades = doc["trades"].as_array().unwrap();
    assert!(html.contains(&format!("<h2 id=\"trades\">Trades ({})</h2>", trades.len())));
    let rows = html.split("id=\"trades-table\"").nth(1).unwrap();
    let rows = &rows[..rows.find("</table>").unwrap()];
    assert_eq!(rows.matches("<tr>").count(), trades.len().min(5000) + 1);
    let open = trades.iter().filter(|t| t["exit_reason"] == "open").count();
    assert!(html.contains(&format!("Current holdings ({open},")));
}

#[test]
fn strategy_text_cannot_inject_markup() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evil.strat");
    std::fs::write(
        &file,
        "# </pre><script>alert(1)</script><img src=x onerror=alert(2)>\n\
         from finlab import data\nfrom finlab.backtest import sim\n\
         close = data.get(\"price:收盤價\")\n\
         position = (close / close.shift(20)).is_largest(10)\n\
         sim(position, resample=\"M\", name=\"<img src=x onerror=alert(3)>\\\"'&\")\n",
    )
    .unwrap();
    let (html, _) = backtest_html(file.to_str().unwrap(), dir.path());
    assert!(!html.contains("<img"), "unescaped <img");
    assert!(!html.contains("alert(1)</script>"));
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only the sorter's script"
    );
    assert!(html.contains("&lt;img src=x onerror=alert(3)&gt;"));
}

#[test]
fn run_report_lists_the_trials() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let rd = run_dir.to_str().unwrap();
    ok(engine().args(["iterate", "-n", "3", "--quiet", "--run-dir", rd]));
    let table = ok(engine().args(["report", rd]));
    assert!(table.starts_with("trial"), "{table}");
    assert!(!table.contains('\x1b'), "colour with NO_COLOR");
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    let rows = html.split("id=\"trials-table\"").nth(1).unwrap();
    let rows = &rows[..rows.find("</table>").unwrap()];
    assert_eq!(rows.matches("<tr").count(), 4, "header + 3 trials");
    assert_eq!(rows.matches("class=\"best\"").count(), 1);
    assert!(html.contains("<svg class=\"chart progress\""));
    assert!(html.contains("id=\"periods\"") && html.contains("<th>holdout</th>"));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    // The promoted trial (chosen on the validation window) is the report's best trial.
    let best = summary["rigor"]["promoted"].as_u64().unwrap();
    assert!(html.contains(&format!("Best trial: #{best} ")));
    assert!(html.contains("id=\"source\""));
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

#[test]
fn reports_render_in_headless_chromium_without_console_errors() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED: no `chromium` on PATH (Debian package `chromium`); the HTML reports were \
             not screenshotted"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = backtest_html("examples/momentum.strat", dir.path());
    let page = dir.path().join("report.html");
    let shot = dir.path().join("report.png");
    let out = std::process::Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2400",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", browser.display());
    for bad in ["Uncaught", "ERROR:CONSOLE"] {
        assert!(!stderr.contains(bad), "console error: {stderr}");
    }
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "empty screenshot"
    );
}
