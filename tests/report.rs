//! The reports end to end: the backtest report's numbers match `--json`, the terminal output
//! and `positions --latest` say what to trade next with names, a strategy cannot inject markup,
//! the run report lists its trials, and both reports rendered in headless Chromium show a person
//! what they need (the next-trades table, names, every chart drawn, no raw JSON, no horizontal
//! overflow at 1,280 px). Chromium (Debian's `chromium`, or `$DSL_CHROMIUM`) is required: the
//! browser tests fail, not skip, without it. Screenshots go to
//! `target/tmp/report-screenshots/` for review.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

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

/// The report of `strategy` at `dir/report.html`, its `--json` document and its terminal output.
fn backtest_html(strategy: &str, dir: &Path) -> (String, Value, String) {
    let html = dir.join("report.html");
    let json = ok(engine().args(["backtest", strategy, "--json"]));
    let table = ok(engine().args(["backtest", strategy, "--html", html.to_str().unwrap()]));
    (
        std::fs::read_to_string(&html).unwrap(),
        serde_json::from_str(&json).unwrap(),
        table,
    )
}

/// `0.1` → `10.00%`, as the reports print it.
fn pct(v: &Value) -> String {
    let x = v.as_f64().unwrap() * 100.0;
    let s = format!("{x:.2}%");
    if s == "-0.00%" {
        "0.00%".into()
    } else {
        s
    }
}

#[test]
fn backtest_report_has_its_charts_and_the_json_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (html, doc, _) = backtest_html("examples/momentum.strat", dir.path());
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    // Self-contained: no external resources.
    for external in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(external), "found {external}");
    }
    for class in [
        "chart equity lin",
        "chart equity log",
        "chart drawdown",
        "chart rolling",
    ] {
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
        "next-table",
        "holdings-table",
        "worst-drawdowns",
        "monthly-table",
        "yearly-table",
        "metrics-table",
        "trades-table",
        "trades-filter",
        "options-table",
        "glossary",
        "run-details",
        "source",
        "data-banner",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    assert!(html.contains("SYNTHETIC") && html.contains("300 stocks × "));
    assert!(
        !html.contains(">-0.0<") && !html.contains(">-0.00%<"),
        "a -0.0 cell"
    );
    // Sandbox internals are in the folded details only.
    let details = html.find("id=\"run-details\"").unwrap();
    assert!(!html[..details].contains("fuel"));
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
    let sharpe = doc["metrics"]["sharpe"].as_f64().unwrap();
    assert!(html.contains(&format!(
        "data-value=\"{}\">{sharpe:.3}<",
        doc["metrics"]["sharpe"]
    )));
    // The benchmark's figures beside the strategy's.
    let bench_cagr = pct(&doc["benchmark"]["cagr"]);
    assert!(
        html.contains(&format!("benchmark {bench_cagr}")),
        "{bench_cagr}"
    );
    // Trades: all listed (fewer than 5,000), newest first.
    let trades = doc["trades"].as_array().unwrap();
    assert!(html.contains(&format!("<h2 id=\"trades\">Trades ({})</h2>", trades.len())));
    let rows = html.split("id=\"trades-table\"").nth(1).unwrap();
    let rows = &rows[..rows.find("</table>").unwrap()];
    assert_eq!(rows.matches("<tr>").count(), trades.len().min(5000) + 1);
    let newest = trades
        .iter()
        .filter_map(|t| t["entry_date"].as_str())
        .max()
        .unwrap();
    let first_row = &rows[rows.find("<tbody><tr>").unwrap()..];
    assert!(first_row[..400].contains(newest), "newest trade first");
    // Holdings: drifted weights that sum to the invested share, with names.
    let held = doc["holdings"]["stocks"].as_array().unwrap();
    assert!(!held.is_empty());
    let sum: f64 = held.iter().map(|h| h["weight"].as_f64().unwrap()).sum();
    assert!((sum - doc["holdings"]["invested"].as_f64().unwrap()).abs() < 1e-9);
    for h in held {
        let name = h["name"].as_str().unwrap();
        assert!(!name.is_empty() && html.contains(name), "{h}");
    }
}

#[test]
fn terminal_and_positions_latest_say_what_to_trade_next() {
    let dir = tempfile::tempdir().unwrap();
    let (_, doc, table) = backtest_html("examples/momentum.strat", dir.path());
    let next = &doc["next_rebalance"];
    let trades = next["trades"].as_array().unwrap();
    assert!(!trades.is_empty(), "{next}");
    assert_eq!(doc["options"]["resample"], "M");
    assert_eq!(doc["risk_free_rate"], 0.02);
    // The terminal echoes the options and lists the holdings and the next trades with names.
    assert!(table.contains("options       resample=\"M\""), "{table}");
    assert!(table.contains("benchmark     CAGR "), "{table}");
    assert!(table.contains(&format!(
        "Next rebalance: signal {}, executes on {}",
        next["signal_date"].as_str().unwrap(),
        next["executes_on"].as_str().unwrap()
    )));
    assert!(table.contains("Holdings on "), "{table}");
    for t in trades.iter().filter(|t| t["action"] != "keep") {
        // The next-trades table follows the holdings table.
        let after = &table[table.find("Next rebalance: ").unwrap()..];
        let line = after
            .lines()
            .find(|l| l.starts_with(t["stock"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("no line for {t}\n{table}"));
        assert!(line.contains(t["name"].as_str().unwrap()), "{line}");
        assert!(line.contains(t["action"].as_str().unwrap()), "{line}");
        assert!(line.ends_with(&pct(&t["target_weight"])), "{line}");
    }
    // Buys and sells move toward the target.
    for t in trades {
        let (now, target) = (
            t["current_weight"].as_f64().unwrap(),
            t["target_weight"].as_f64().unwrap(),
        );
        match t["action"].as_str().unwrap() {
            "buy" => assert!(now == 0.0 && target > 0.0, "{t}"),
            "sell" => assert!(now != 0.0 && target == 0.0, "{t}"),
            _ => assert!(now != 0.0 && target != 0.0, "{t}"),
        }
    }
    // `positions --latest` gives the same table.
    let latest: Value = serde_json::from_str(&ok(engine().args([
        "positions",
        "examples/momentum.strat",
        "--latest",
        "--json",
    ])))
    .unwrap();
    assert_eq!(latest["next_rebalance"], *next);
    let text = ok(engine().args(["positions", "examples/momentum.strat", "--latest"]));
    assert!(text.starts_with("Next rebalance: signal "), "{text}");
    assert_eq!(text.lines().count(), trades.len() + 2, "{text}");
    // A different risk-free rate changes Sharpe, not CAGR.
    let rf: Value = serde_json::from_str(&ok(engine().args([
        "backtest",
        "examples/momentum.strat",
        "--json",
        "--rf",
        "0",
    ])))
    .unwrap();
    assert_eq!(rf["metrics"]["cagr"], doc["metrics"]["cagr"]);
    assert!(rf["metrics"]["sharpe"].as_f64() > doc["metrics"]["sharpe"].as_f64());
}

#[test]
fn sim_writes_the_same_report_for_a_position_file() {
    let dir = tempfile::tempdir().unwrap();
    let pos = dir.path().join("pos.feather");
    ok(engine().args([
        "positions",
        "examples/momentum.strat",
        "-o",
        pos.to_str().unwrap(),
    ]));
    let html = dir.path().join("sim.html");
    let p = pos.to_str().unwrap();
    let out = ok(engine().args([
        "sim",
        "--position",
        p,
        "--resample",
        "M",
        "--html",
        html.to_str().unwrap(),
    ]));
    assert!(out.contains("Next rebalance: signal "), "{out}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"next-table\"") && page.contains("id=\"holdings-table\""));
    assert!(
        !page.contains("id=\"source\""),
        "no strategy text for a position file"
    );
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
    let (html, _, _) = backtest_html(file.to_str().unwrap(), dir.path());
    assert!(!html.contains("<img"), "unescaped <img");
    assert!(!html.contains("alert(1)</script>"));
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only the page's own script"
    );
    assert!(html.contains("&lt;img src=x onerror=alert(3)&gt;"));
}

/// A 6-trial iterate run in `dir/run`, its report's terminal table and HTML.
fn iterate_run(dir: &Path) -> (PathBuf, String, String) {
    let run_dir = dir.join("run");
    let rd = run_dir.to_str().unwrap();
    ok(engine().args(["iterate", "-n", "6", "--quiet", "--run-dir", rd]));
    let table = ok(engine().args(["report", rd]));
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    (run_dir, table, html)
}

#[test]
fn run_report_lists_the_trials() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, table, html) = iterate_run(dir.path());
    assert!(table.starts_with("trial"), "{table}");
    assert!(!table.contains('\x1b'), "colour with NO_COLOR");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    let best = summary["rigor"]["promoted"].as_u64().unwrap();
    // The promoted trial's row carries its sealed-holdout figures.
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("#{best} ")))
        .unwrap_or_else(|| panic!("no row for #{best}\n{table}"));
    let ho = summary["rigor"]["holdout"]["sharpe"].as_f64().unwrap();
    assert!(
        row.contains(&format!("{ho:.2}")) && row.contains("promoted"),
        "{row}"
    );
    assert!(!table.contains("n/a"), "{table}");
    assert!(table.contains("Deflated Sharpe ratio"), "{table}");
    let rows = html.split("id=\"trials-table\"").nth(1).unwrap();
    let rows = &rows[..rows.find("</table>").unwrap()];
    assert_eq!(rows.matches("<tr").count(), 7, "header + 6 trials");
    assert_eq!(rows.matches("class=\"best\"").count(), 1);
    assert!(html.contains("<svg class=\"chart progress\""));
    assert!(html.contains("id=\"periods\"") && html.contains("<th>sealed holdout</th>"));
    assert!(html.contains("id=\"split-table\"") && html.contains("id=\"run-stats\""));
    assert!(html.contains(&format!("Best trial: #{best} ")));
    assert!(html.contains("id=\"source\""));
}

/// Headless Chromium: `$DSL_CHROMIUM`, else `chromium`, `chromium-browser` or `google-chrome`
/// on PATH. Missing is a failure: CI installs it (`.ci/run`).
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("DSL_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n)))
        .find(|p| p.is_file())
        .expect(
            "headless Chromium is needed to test the HTML reports: install Debian's `chromium` \
             (apt-get install chromium) or set DSL_CHROMIUM to a Chromium binary",
        )
}

fn browser(profile: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// Collects, after the page loaded at 1,280 px: the visible text, the horizontal overflow, every
/// chart (visible? drawn?), each table's visible rows and cells, and script errors. With
/// `?toggle`, the log-scale equity chart is switched on first; the trades filter is exercised.
const PROBE: &str = r#"
<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
window.addEventListener('load', function () {
  var log = document.getElementById('scale-log');
  var charts = function () {
    return Array.prototype.map.call(document.querySelectorAll('svg.chart'), function (svg) {
      var r = svg.getBoundingClientRect();
      var drawn = 0;
      svg.querySelectorAll('path, circle').forEach(function (el) {
        var b = el.getBBox();
        if (b.width > 0 || b.height > 0) drawn++;
      });
      return {cls: svg.getAttribute('class'), visible: r.width > 0 && r.height > 0, drawn: drawn,
              width: r.width};
    });
  };
  var tables = {};
  document.querySelectorAll('table[id]').forEach(function (t) {
    var rows = [];
    Array.prototype.forEach.call(t.tBodies.length ? t.tBodies[0].rows : [], function (row) {
      if (row.getBoundingClientRect().height > 0)
        rows.push(Array.prototype.map.call(row.cells, function (c) { return c.innerText.trim(); }));
    });
    tables[t.id] = rows;
  });
  var result = {
    text: document.body.innerText,
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    height: document.documentElement.scrollHeight,
    charts: charts(),
    tables: tables,
  };
  if (log) { log.click(); result.charts_log = charts(); }
  var box = document.getElementById('trades-filter');
  var trades = document.getElementById('trades-table');
  if (box && trades) {
    var first = trades.tBodies[0].rows[0].cells[0].innerText.trim();
    box.value = first;
    box.dispatchEvent(new Event('input'));
    var shown = 0;
    Array.prototype.forEach.call(trades.tBodies[0].rows, function (r) {
      if (r.getBoundingClientRect().height > 0) shown++;
      if (r.cells[0].innerText.trim() !== first && !r.hidden) shown += 100000;
    });
    result.filter = {query: first, box_visible: box.getBoundingClientRect().width > 0,
                     shown: shown};
  }
  result.errors = window.__errors;
  var out = document.createElement('pre');
  out.id = 'probe-result';
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>
"#;

/// Loads `page` in headless Chromium at 1,280 px with [`PROBE`] and returns its findings; also
/// writes a full-page screenshot to `shot`.
fn inspect(page: &Path, shot: &Path) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(page).unwrap();
    let probed = html.replacen("<head>", &format!("<head>{PROBE}"), 1);
    let probe = dir.path().join("probe.html");
    std::fs::write(&probe, probed).unwrap();
    let out = browser(&dir.path().join("profile-dom"))
        .args([
            "--window-size=1280,1000",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium: {stderr}");
    assert!(!stderr.contains("Uncaught"), "console error: {stderr}");
    let dom = String::from_utf8_lossy(&out.stdout);
    let at = dom
        .find("<pre id=\"probe-result\">")
        .unwrap_or_else(|| panic!("the probe did not run:\n{stderr}"));
    let body = &dom[at + "<pre id=\"probe-result\">".len()..];
    let json = body[..body.find("</pre>").unwrap()]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let found: Value = serde_json::from_str(&json).unwrap();
    // The whole page, for a person to review.
    let height = found["height"].as_u64().unwrap_or(3000).clamp(1000, 16000);
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let out = browser(&dir.path().join("profile-shot"))
        .arg(format!("--window-size=1280,{height}"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(shot).unwrap();
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "empty screenshot"
    );
    found
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots")
}

/// What every report must satisfy in the browser: no script errors, no horizontal overflow,
/// no raw JSON in the visible text, every visible chart drawn.
fn assert_readable(found: &Value, what: &str) {
    assert_eq!(
        found["errors"],
        Value::Array(vec![]),
        "{what}: script errors"
    );
    assert!(
        found["overflow"].as_i64().unwrap() <= 0,
        "{what}: wider than 1,280 px"
    );
    let text = found["text"].as_str().unwrap();
    for json in ["{\"", "\":", "[{", "null,", "\\n"] {
        assert!(
            !text.contains(json),
            "{what}: raw JSON ({json}) in the text"
        );
    }
    let charts = found["charts"].as_array().unwrap();
    assert!(!charts.is_empty(), "{what}: no charts");
    for c in charts.iter().filter(|c| c["visible"] == true) {
        assert!(
            c["drawn"].as_u64().unwrap() > 0,
            "{what}: chart not drawn: {c}"
        );
        assert!(
            c["width"].as_f64().unwrap() > 600.0,
            "{what}: chart too narrow: {c}"
        );
    }
}

#[test]
fn backtest_report_in_chromium_shows_next_trades_names_and_drawn_charts() {
    let dir = tempfile::tempdir().unwrap();
    let (_, doc, _) = backtest_html("examples/momentum.strat", dir.path());
    let found = inspect(
        &dir.path().join("report.html"),
        &screenshots().join("backtest.png"),
    );
    assert_readable(&found, "backtest report");
    let text = found["text"].as_str().unwrap();
    assert!(
        text.contains("SYNTHETIC data") && text.contains("Market: 300 stocks"),
        "banner"
    );
    // The next-trades table, row for row as `--json` has it, with names and industries.
    let rows = found["tables"]["next-table"].as_array().unwrap();
    let trades = doc["next_rebalance"]["trades"].as_array().unwrap();
    assert_eq!(rows.len(), trades.len());
    for (row, t) in rows.iter().zip(trades) {
        let cells: Vec<&str> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(cells[0], t["stock"]);
        assert_eq!(cells[1], t["name"]);
        assert_eq!(cells[2], t["industry"]);
        assert!(!cells[1].is_empty(), "{row}");
        assert_eq!(cells[3], t["action"]);
        assert_eq!(cells[4], pct(&t["current_weight"]));
        assert_eq!(cells[5], pct(&t["target_weight"]));
    }
    assert!(text.contains(&format!(
        "executes on {}",
        doc["next_rebalance"]["executes_on"].as_str().unwrap()
    )));
    // Holdings with names; trades newest first, filterable.
    let held = found["tables"]["holdings-table"].as_array().unwrap();
    assert_eq!(
        held.len(),
        doc["holdings"]["stocks"].as_array().unwrap().len()
    );
    assert!(
        held.iter().all(|r| !r[1].as_str().unwrap().is_empty()),
        "holding without a name"
    );
    let filter = &found["filter"];
    assert!(
        filter["box_visible"] == true && filter["shown"].as_u64().unwrap() >= 1,
        "{filter}"
    );
    assert!(
        filter["shown"].as_u64().unwrap() < 100_000,
        "the filter left other rows: {filter}"
    );
    // The monthly heat map is fully visible: one row per year of the curve.
    let years = found["tables"]["monthly-table"].as_array().unwrap().len();
    assert_eq!(years, 5, "years 2021-2025 of the test market");
    // Both equity scales draw (the log one after the toggle).
    let log = found["charts_log"].as_array().unwrap();
    let log_chart = log.iter().find(|c| c["cls"] == "chart equity log").unwrap();
    assert!(log_chart["visible"] == true && log_chart["drawn"].as_u64().unwrap() > 0);
    for class in ["chart equity lin", "chart drawdown", "chart rolling"] {
        let c = found["charts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["cls"] == class)
            .unwrap();
        assert!(c["visible"] == true, "{class} hidden");
    }
    assert!(!text.contains("fuel"), "sandbox internals are folded away");
    assert!(
        text.contains("2% annual risk-free rate"),
        "the Sharpe convention is stated"
    );
}

#[test]
fn run_report_in_chromium_shows_labelled_figures_and_drawn_charts() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, _, _) = iterate_run(dir.path());
    let found = inspect(&run_dir.join("report.html"), &screenshots().join("run.png"));
    assert_readable(&found, "run report");
    let text = found["text"].as_str().unwrap();
    assert!(
        text.contains("SYNTHETIC data") && text.contains("Market: 300 stocks"),
        "banner"
    );
    let split = found["tables"]["split-table"].as_array().unwrap();
    assert_eq!(split.len(), 3, "in-sample, validation, holdout");
    let stats = found["tables"]["run-stats"].as_array().unwrap();
    let dsr = stats
        .iter()
        .find(|r| r[0] == "Deflated Sharpe ratio")
        .expect("the DSR is labelled");
    assert!(
        dsr[1].as_str().unwrap().parse::<f64>().is_ok() && !dsr[2].as_str().unwrap().is_empty()
    );
    let periods = found["tables"]["periods"].as_array().unwrap();
    let objective = periods
        .iter()
        .find(|r| r[0] == "Sharpe (objective)")
        .unwrap();
    assert_eq!(
        objective.as_array().unwrap().len(),
        4,
        "in-sample, validation, holdout"
    );
    assert!(
        !objective[3].as_str().unwrap().is_empty(),
        "holdout figure shown"
    );
    assert_eq!(found["tables"]["trials-table"].as_array().unwrap().len(), 6);
    let caption = text
        .lines()
        .find(|l| l.starts_with("x: trial 1 to 6"))
        .expect("the progress caption names every trial");
    assert!(
        caption.contains("grey dots") && caption.contains("blue"),
        "{caption}"
    );
}

#[test]
fn a_calmar_run_has_a_calmar_column() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let rd = run_dir.to_str().unwrap();
    ok(engine().args([
        "iterate",
        "-n",
        "3",
        "--objective",
        "calmar",
        "--quiet",
        "--run-dir",
        rd,
    ]));
    let table = ok(engine().args(["report", rd]));
    assert!(table.starts_with("trial  IS Calmar"), "{table}");
    assert!(
        table.contains("promoted on the worse of in-sample and validation Calmar"),
        "{table}"
    );
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(html.contains("<th>IS Calmar</th>") && html.contains("<th>VA Calmar</th>"));
    assert!(html.contains("Calmar (objective)"));
}
