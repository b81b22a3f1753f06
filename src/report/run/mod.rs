//! The report of an iterate run, read from the files the loop writes in RUN_DIR
//! (`iterations.jsonl`, `summary.json`, `run.json`, `best_strategy.strat`). The files are read as
//! plain JSON values, so fields added later show up when present and missing ones are left out;
//! [`RunView::build`] turns them into a typed view (labelled figures, never raw JSON) that
//! [`sections`] renders one section per function.

mod model;
mod sections;
mod stats;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::ReportError;

pub use model::{Objective, RunView};

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
                // Event lines (the holdout's unsealing) are not trials.
                Ok(v) if v.get("event").is_some() => {}
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
    /// rigor block's in-sample / validation / sealed-holdout figures and verdict merged in), else
    /// summary.json's `best`, else the ledger entry with the highest in-sample objective among
    /// `ok` trials.
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
            Value::String(s) if k.contains("duplicate") || k.contains("redundant") => {
                out.push(format!("{label}: {s}"));
            }
            Value::Number(n) if k.contains("duplicate") || k.contains("redundant") => {
                out.push(format!("{label}: {n}"));
            }
            _ => {}
        }
    }
    out
}

/// Renders the run report as one HTML document.
pub fn render(r: &RunReport) -> String {
    sections::page(&RunView::build(r))
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
