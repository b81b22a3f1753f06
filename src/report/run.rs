//! The report of an iterate run, read from the files the loop writes in RUN_DIR
//! (`iterations.jsonl`, `summary.json`, `run.json`, `best_strategy.strat`). The files are read as
//! plain JSON values, so fields added later (validation metrics, DSR, PBO, duplicate flags) show
//! up when present and missing ones are simply left out.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::highlight::highlight;
use super::page::{banner, document, escape, head, num_cell, text_cell};
use super::svg::{self, Chart, Kind, Series, XAxis};
use super::{num, pct, ReportError};

/// What an iterate run left in its directory.
#[derive(Debug)]
pub struct RunReport {
    pub dir: PathBuf,
    /// `run.json` (settings), or `Null`.
    pub run: Value,
    /// `summary.json`, or `Null` while the run has not finished.
    pub summary: Value,
    /// One value per ledger line that parsed.
    pub trials: Vec<Value>,
    /// Ledger lines that did not parse (e.g. a line cut off by a crash).
    pub skipped_lines: usize,
    /// `best_strategy.strat`, when written.
    pub best_source: Option<String>,
}

fn read_json(path: &Path) -> Result<Value, ReportError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|source| ReportError::Json {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
        Err(source) => Err(ReportError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl RunReport {
    /// Reads a run directory.
    pub fn load(dir: &Path) -> Result<RunReport, ReportError> {
        let ledger = dir.join("iterations.jsonl");
        let summary = read_json(&dir.join("summary.json"))?;
        let text = match std::fs::read_to_string(&ledger) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !summary.is_null() => {
                String::new()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ReportError::NotARun {
                    path: dir.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(ReportError::Read {
                    path: ledger,
                    source,
                })
            }
        };
        let mut trials = Vec::new();
        let mut skipped_lines = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Value>(line) {
                Ok(v) if v.is_object() => trials.push(v),
                _ => skipped_lines += 1,
            }
        }
        Ok(RunReport {
            dir: dir.to_path_buf(),
            run: read_json(&dir.join("run.json"))?,
            summary,
            trials,
            skipped_lines,
            best_source: std::fs::read_to_string(dir.join("best_strategy.strat")).ok(),
        })
    }

    /// The objective key (`sharpe`, `cagr`, ...), from run.json or summary.json.
    pub fn objective(&self) -> String {
        self.run
            .get("objective")
            .or_else(|| self.summary.get("objective"))
            .and_then(Value::as_str)
            .unwrap_or("sharpe")
            .to_string()
    }

    /// The best trial: the promoted trial of summary.json's `rigor` (its ledger entry with the
    /// rigor block's in-sample / validation / sealed-holdout figures, deflated Sharpe and PBO
    /// merged in), else summary.json's `best`, else the ledger entry with the highest in-sample
    /// objective among `ok` trials.
    pub fn best(&self) -> Option<Value> {
        let rigor = self.summary.get("rigor").filter(|r| r.is_object());
        if let Some(rigor) = rigor {
            let promoted = rigor.get("promoted").and_then(Value::as_u64);
            let trial = promoted.and_then(|n| {
                self.trials
                    .iter()
                    .find(|t| t.get("iteration").and_then(Value::as_u64) == Some(n))
            });
            if let Some(trial) = trial {
                let mut merged = trial.clone();
                if let Some(obj) = merged.as_object_mut() {
                    for period in ["in_sample", "validation", "holdout"] {
                        if let Some(p) = rigor.get(period).filter(|p| p.is_object()) {
                            obj.insert(period.to_string(), p.clone());
                        }
                    }
                    let stats = [
                        ("deflated_sharpe", &["deflated", "dsr"][..]),
                        ("probabilistic_sharpe", &["deflated", "psr"][..]),
                        ("pbo", &["pbo", "pbo"][..]),
                        ("haircut_sharpe", &["haircut_sharpe"][..]),
                    ];
                    for (name, path) in stats {
                        let v = f(rigor, path);
                        if v.is_finite() {
                            obj.insert(name.to_string(), Value::from(v));
                        }
                    }
                    if let Some(v) = rigor.pointer("/verdict/text").and_then(Value::as_str) {
                        obj.insert("verdict".to_string(), Value::from(v));
                    }
                }
                return Some(merged);
            }
        }
        if let Some(b) = self.summary.get("best").filter(|b| b.is_object()) {
            return Some(b.clone());
        }
        let key = self.objective();
        self.trials
            .iter()
            .filter(|t| t.get("status").and_then(Value::as_str) == Some("ok"))
            .filter(|t| f(t, &["in_sample", &key]).is_finite())
            .max_by(|a, b| f(a, &["in_sample", &key]).total_cmp(&f(b, &["in_sample", &key])))
            .cloned()
    }

    /// Which period the best trial was chosen on (`validation` for promoted runs).
    pub fn selected_on(&self) -> String {
        self.summary
            .pointer("/rigor/selected_on")
            .and_then(Value::as_str)
            .unwrap_or("in_sample")
            .replace('_', "-")
    }
}

/// The number at `path`, or NaN.
pub fn f(v: &Value, path: &[&str]) -> f64 {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

/// The text at `key`, or "".
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The period objects of a trial (objects with a `sharpe` or `cagr`): in-sample, validation and
/// holdout first, any other period after them.
pub fn periods(trial: &Value) -> Vec<(&str, &Map<String, Value>)> {
    let Some(obj) = trial.as_object() else {
        return Vec::new();
    };
    let rank = |k: &str| match k {
        "in_sample" => 0,
        "validation" => 1,
        "holdout" => 2,
        _ => 3,
    };
    let mut out: Vec<(&str, &Map<String, Value>)> = obj
        .iter()
        .filter_map(|(k, v)| v.as_object().map(|m| (k.as_str(), m)))
        .filter(|(_, m)| m.contains_key("sharpe") || m.contains_key("cagr"))
        .collect();
    out.sort_by_key(|(k, _)| (rank(k), k.to_string()));
    out
}

/// A trial's flags: every field that is `true` (e.g. `holdout_collapse`), and every non-empty
/// field whose name says duplicate or redundant (e.g. `duplicate_of: 3`).
pub fn flags(trial: &Value) -> Vec<String> {
    let Some(obj) = trial.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in obj {
        let label = k.replace('_', " ");
        match v {
            Value::Bool(true) => out.push(label),
            Value::Null | Value::Bool(false) => {}
            Value::Array(a) if a.is_empty() => {}
            _ if k.contains("duplicate") || k.contains("redundant") => {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push(format!("{label}: {shown}"));
            }
            _ => {}
        }
    }
    out
}

fn period_label(k: &str) -> String {
    match k {
        "in_sample" => "in-sample".into(),
        other => other.replace('_', " "),
    }
}

/// A row of the period comparison: JSON key, label, format, coloured by sign.
type PeriodRow = (&'static str, &'static str, fn(f64) -> String, bool);

fn fmt_num(v: f64) -> String {
    format!("{v:.2}")
}

/// Fields of summary.json the report shows in its own sections.
const SUMMARY_SHOWN: &[&str] = &[
    "run_dir",
    "proposer",
    "model",
    "objective",
    "data",
    "split",
    "trials",
    "status",
    "best",
    "holdout_collapses",
    "files",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "elapsed_s",
    "stopped",
];

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() => format!("{x:.4}"),
            _ => n.to_string(),
        },
        other => {
            let t = other.to_string();
            if t.chars().count() > 300 {
                format!("{}…", t.chars().take(300).collect::<String>())
            } else {
                t
            }
        }
    }
}

/// Renders the run report as one HTML document.
pub fn render(r: &RunReport) -> String {
    let objective = r.objective();
    let name = r.dir.file_name().map_or_else(
        || r.dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let title = format!("iterate run {name}");
    let mut s = String::new();
    let _ = write!(s, "<h1>{}</h1>", escape(&title));
    let meta = |k: &str| {
        let v = r.summary.get(k).or_else(|| r.run.get(k));
        v.filter(|v| !v.is_null()).map(scalar_text)
    };
    let data = meta("data").unwrap_or_else(|| {
        meta("data_dir").map_or_else(|| "data: unknown".into(), |d| format!("data: {d}"))
    });
    s.push_str(&banner(&super::data_info::DataInfo::from_banner(&data)));
    if r.summary.is_null() {
        s.push_str(r#"<div class="banner">No summary.json: the run is still going or was interrupted; the trials so far are shown.</div>"#);
    }
    s.push_str(r#"<table id="run-meta"><tbody>"#);
    let mut row = |k: &str, v: String| {
        let _ = write!(s, "<tr>{}{}</tr>", text_cell(k), text_cell(&v));
    };
    row("directory", r.dir.display().to_string());
    for (label, key) in [
        ("proposer", "proposer"),
        ("model", "model"),
        ("objective", "objective"),
        ("split", "split"),
        ("stopped", "stopped"),
    ] {
        if let Some(v) = meta(key) {
            row(label, v);
        }
    }
    let status = r.summary.get("status").and_then(Value::as_object);
    let status_text = status.map(|m| {
        m.iter()
            .map(|(k, v)| format!("{} {k}", scalar_text(v)))
            .collect::<Vec<_>>()
            .join(", ")
    });
    row(
        "trials",
        format!("{} ({})", r.trials.len(), status_text.unwrap_or_default()),
    );
    if let Some(e) = r.summary.get("elapsed_s").and_then(Value::as_f64) {
        row("elapsed", format!("{e:.1} s"));
    }
    let tokens = f(&r.summary, &["prompt_tokens"]) + f(&r.summary, &["completion_tokens"]);
    if tokens > 0.0 {
        row("tokens", format!("{tokens:.0}"));
    }
    if let Some(c) = r.summary.get("cost_usd").and_then(Value::as_f64) {
        row("cost", format!("${c:.4}"));
    }
    if r.skipped_lines > 0 {
        row("unreadable ledger lines", r.skipped_lines.to_string());
    }
    s.push_str("</tbody></table>");

    // Statistics the loop adds beyond the known fields (DSR, PBO, ...), as they come.
    let extra: Vec<(&String, &Value)> = r
        .summary
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| !SUMMARY_SHOWN.contains(&k.as_str()) && !v.is_null())
                .collect()
        })
        .unwrap_or_default();
    if !extra.is_empty() {
        s.push_str(r#"<h2 id="stats">Run statistics</h2><table id="run-stats"><tbody>"#);
        for (k, v) in extra {
            let _ = write!(
                s,
                "<tr>{}{}</tr>",
                text_cell(&k.replace('_', " ")),
                text_cell(&scalar_text(v))
            );
        }
        s.push_str("</tbody></table>");
    }

    // Best trial: periods side by side.
    let best_owned = r.best();
    let best = best_owned.as_ref();
    let best_iter = best.map_or(f64::NAN, |b| f(b, &["iteration"]));
    if let Some(b) = best {
        let _ = write!(
            s,
            r#"<h2 id="best">Best trial: #{} by {} {}</h2><p>{}</p>"#,
            scalar_text(b.get("iteration").unwrap_or(&Value::Null)),
            escape(&r.selected_on()),
            escape(&objective),
            escape(text(b, "note"))
        );
        if let Some(v) = b.get("verdict").and_then(Value::as_str) {
            let _ = write!(
                s,
                r#"<p class="verdict"><strong>{}</strong></p>"#,
                escape(v)
            );
        }
        let fl = flags(b);
        if !fl.is_empty() {
            s.push_str("<p>");
            for flag in fl {
                let _ = write!(s, r#"<span class="flag">{}</span>"#, escape(&flag));
            }
            s.push_str("</p>");
        }
        let ps = periods(b);
        s.push_str(r#"<table id="periods"><thead><tr><th class="l">metric</th>"#);
        for (k, _) in &ps {
            let _ = write!(s, "<th>{}</th>", escape(&period_label(k)));
        }
        s.push_str("</tr></thead><tbody>");
        for key in ["start", "end"] {
            let _ = write!(s, "<tr>{}", text_cell(key));
            for (_, m) in &ps {
                s.push_str(&text_cell(m.get(key).and_then(Value::as_str).unwrap_or("")));
            }
            s.push_str("</tr>");
        }
        let rows: [PeriodRow; 9] = [
            ("sharpe", "Sharpe", fmt_num, true),
            ("sortino", "Sortino", fmt_num, true),
            ("cagr", "CAGR", pct, true),
            ("calmar", "Calmar", fmt_num, true),
            ("total_return", "total return", pct, true),
            ("max_drawdown", "max drawdown", pct, false),
            ("win_ratio", "win ratio", pct, false),
            ("trades", "trades", |v| format!("{v:.0}"), false),
            ("turnover", "turnover/yr", num, false),
        ];
        for (key, label, fmt, signed) in rows {
            let _ = write!(s, "<tr>{}", text_cell(label));
            for (_, m) in &ps {
                let v = m.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN);
                let t = if v.is_finite() { fmt(v) } else { "n/a".into() };
                s.push_str(&num_cell(v, &t, signed));
            }
            s.push_str("</tr>");
        }
        // Any other scalar statistic of the best trial (e.g. a deflated Sharpe ratio).
        let known = ["iteration", "code_hash", "note"];
        if let Some(obj) = b.as_object() {
            for (k, v) in obj {
                if v.is_number() && !known.contains(&k.as_str()) {
                    let _ = write!(
                        s,
                        r#"<tr>{}<td colspan="{}">{}</td></tr>"#,
                        text_cell(&k.replace('_', " ")),
                        ps.len().max(1),
                        escape(&scalar_text(v))
                    );
                }
            }
        }
        s.push_str("</tbody></table>");
        if periods(b).iter().any(|(k, _)| *k == "holdout") {
            s.push_str(r#"<p class="muted">The best of many trials looks better in-sample than it is: judge it by the later periods.</p>"#);
        }
    }

    // Best so far over the iterations.
    let key = objective.as_str();
    let mut dots = Series::new(
        &format!("trial in-sample {key}"),
        "#98a2b3",
        Kind::Dots,
        Vec::new(),
    );
    let mut best_is = Series::new(
        &format!("best in-sample {key}"),
        "#1f6feb",
        Kind::Step,
        Vec::new(),
    );
    let mut best_ho = Series::new(
        &format!("its holdout {key}"),
        "#e3a008",
        Kind::Step,
        Vec::new(),
    );
    let mut top = f64::NEG_INFINITY;
    let mut top_ho = f64::NAN;
    for t in &r.trials {
        let it = f(t, &["iteration"]);
        let v = f(t, &["in_sample", key]);
        if !(it.is_finite() && v.is_finite() && text(t, "status") == "ok") {
            continue;
        }
        dots.points.push((it, v));
        dots.labels
            .push(format!("#{it}: {key} {v:.3} — {}", text(t, "note")));
        if v > top {
            top = v;
            top_ho = f(t, &["holdout", key]);
        }
        best_is.points.push((it, top));
        best_ho.points.push((it, top_ho));
    }
    s.push_str(r#"<h2 id="progress">Best so far</h2>"#);
    let mut series = vec![dots, best_is];
    if best_ho.points.iter().any(|p| p.1.is_finite()) {
        series.push(best_ho);
    }
    s.push_str(&svg::render(&Chart {
        class: "progress",
        x: XAxis::Index,
        log: false,
        y_fmt: fmt_num,
        series,
    }));
    s.push_str(r#"<p class="muted">x: iteration. Grey dots: each successful trial (hover for its note). Blue: the best in-sample value so far; amber: that trial's holdout value.</p>"#);

    // Trials.
    let has_validation = r
        .trials
        .iter()
        .any(|t| t.get("validation").is_some_and(Value::is_object));
    let mut cols = vec![
        "#",
        "<status",
        "<proposer",
        "IS Sharpe",
        "IS CAGR",
        "IS MDD",
        "trades",
    ];
    if has_validation {
        cols.extend(["VA Sharpe", "VA CAGR"]);
    }
    cols.extend(["HO Sharpe", "HO CAGR", "<flags", "<note"]);
    let _ = write!(
        s,
        r#"<h2 id="trials">Trials ({})</h2><p class="muted">IS in-sample, VA validation, HO holdout. Click a header to sort (needs JavaScript); open a note for the code.</p><div class="scroll"><table class="sortable" id="trials-table">"#,
        r.trials.len()
    );
    s.push_str(&head(&cols));
    s.push_str("<tbody>");
    for t in &r.trials {
        let it = f(t, &["iteration"]);
        let class = if it == best_iter {
            r#" class="best""#
        } else {
            ""
        };
        let _ = write!(s, "<tr{class}>");
        s.push_str(&num_cell(
            it,
            &scalar_text(t.get("iteration").unwrap_or(&Value::Null)),
            false,
        ));
        s.push_str(&text_cell(text(t, "status")));
        s.push_str(&text_cell(text(t, "proposer")));
        let cell = |path: &[&str], is_pct: bool| {
            let v = f(t, path);
            let shown = if !v.is_finite() {
                String::new()
            } else if is_pct {
                format!("{:.1}%", v * 100.0)
            } else if path.last() == Some(&"trades") {
                format!("{v:.0}")
            } else {
                fmt_num(v)
            };
            num_cell(v, &shown, path.last() != Some(&"trades"))
        };
        let mut cells = vec![
            cell(&["in_sample", "sharpe"], false),
            cell(&["in_sample", "cagr"], true),
            cell(&["in_sample", "max_drawdown"], true),
            cell(&["in_sample", "trades"], false),
        ];
        if has_validation {
            cells.push(cell(&["validation", "sharpe"], false));
            cells.push(cell(&["validation", "cagr"], true));
        }
        cells.push(cell(&["holdout", "sharpe"], false));
        cells.push(cell(&["holdout", "cagr"], true));
        for c in cells {
            s.push_str(&c);
        }
        s.push_str(r#"<td class="l">"#);
        for flag in flags(t) {
            let _ = write!(s, r#"<span class="flag">{}</span>"#, escape(&flag));
        }
        s.push_str("</td>");
        let mut note = text(t, "note").to_string();
        if let Some(e) = t.get("error").filter(|e| !e.is_null()) {
            note = format!("{note} error: {}", scalar_text(e));
        }
        let _ = write!(
            s,
            r#"<td class="l wrap"><details><summary>{}</summary><pre class="src">{}</pre></details></td></tr>"#,
            escape(if note.is_empty() { "code" } else { &note }),
            highlight(text(t, "code"))
        );
    }
    s.push_str("</tbody></table></div>");

    let source = r
        .best_source
        .clone()
        .or_else(|| best.map(|b| text(b, "code").to_string()));
    if let Some(src) = source.filter(|c| !c.is_empty()) {
        let _ = write!(
            s,
            r#"<h2 id="source">Best strategy</h2><pre class="src">{}</pre>"#,
            highlight(&src)
        );
    }
    document(&title, &s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_and_periods_are_read_generically() {
        let t = json!({
            "iteration": 3,
            "holdout_collapse": true,
            "duplicate_of": 1,
            "redundant": false,
            "holdout": {"sharpe": 0.1},
            "validation": {"sharpe": 0.5},
            "in_sample": {"sharpe": 1.0},
            "durations": {"total_ms": 3.0},
        });
        assert_eq!(flags(&t), vec!["duplicate of: 1", "holdout collapse"]);
        let p: Vec<&str> = periods(&t).iter().map(|p| p.0).collect();
        assert_eq!(p, vec!["in_sample", "validation", "holdout"]);
    }

    #[test]
    fn a_run_without_summary_or_with_a_cut_line_still_renders() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            RunReport::load(dir.path()),
            Err(ReportError::NotARun { .. })
        ));
        let ok = json!({"iteration": 1, "status": "ok", "note": "<b>x</b>", "code": "x = 1",
            "in_sample": {"sharpe": 1.2, "cagr": 0.1}, "pbo_flag": true});
        std::fs::write(
            dir.path().join("iterations.jsonl"),
            format!("{ok}\n{{\"iteration\": 2, \"sta"),
        )
        .unwrap();
        let r = RunReport::load(dir.path()).unwrap();
        assert_eq!((r.trials.len(), r.skipped_lines), (1, 1));
        assert_eq!(r.best().map(|b| f(&b, &["iteration"])), Some(1.0));
        let html = render(&r);
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;") && !html.contains("<b>x</b>"));
        assert!(html.contains("pbo flag"));
    }
}
