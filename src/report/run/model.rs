//! The typed view of a run report: settings, the split, the promoted trial's periods, the
//! run's statistics as labelled figures, the progress chart's series and the trials. Built from
//! the run's JSON defensively: a field that is missing is not shown, and nothing is shown as
//! raw JSON (objects become tables or `a / b` labels).

use serde_json::Value;

use super::super::data_info::DataInfo;
use super::super::{fixed, num, pct};
use super::{f, flags, text, RunReport};
use crate::data::DataDir;

/// The objective a run selects on.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    /// The JSON key of the figure (`sharpe`, `cagr`, `calmar`, `sortino`).
    pub key: String,
    /// How it is called (`Sharpe`, `CAGR`, ...).
    pub label: String,
}

impl Objective {
    /// From a run's `objective` field.
    pub fn new(key: &str) -> Objective {
        let label = match key {
            "sharpe" => "Sharpe",
            "cagr" => "CAGR",
            "calmar" => "Calmar",
            "sortino" => "Sortino",
            other => other,
        };
        Objective {
            key: key.to_string(),
            label: label.to_string(),
        }
    }

    /// Whether the trials table already has a column for it (Sharpe and CAGR).
    pub fn shown_anyway(&self) -> bool {
        matches!(self.key.as_str(), "sharpe" | "cagr")
    }

    /// The figure formatted as the objective is (CAGR in percent).
    pub fn format(&self, v: f64) -> String {
        if !v.is_finite() {
            String::new()
        } else if self.key == "cagr" {
            pct(v)
        } else {
            fixed(v, 2)
        }
    }
}

/// A labelled figure with a one-line meaning.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub label: String,
    pub value: String,
    pub meaning: String,
}

/// One row of the promoted trial's period table.
pub struct PeriodRow {
    pub label: &'static str,
    /// (value, text) per period.
    pub cells: Vec<(f64, String)>,
    pub signed: bool,
    /// The run's objective.
    pub objective: bool,
}

/// The promoted (or best) trial.
pub struct Promoted {
    pub iteration: String,
    pub how: String,
    pub note: String,
    /// (passes, text).
    pub verdict: Option<(bool, String)>,
    pub flags: Vec<String>,
    pub periods: Vec<String>,
    pub dates: Vec<(String, String)>,
    pub rows: Vec<PeriodRow>,
    pub has_holdout: bool,
}

/// The progress chart: every trial's x, the series drawn and a caption naming each.
pub struct Progress {
    /// (iteration, in-sample objective, hover label) of trials with a result.
    pub dots: Vec<(f64, f64, String)>,
    /// The best in-sample objective so far, at every trial.
    pub best: Vec<(f64, f64)>,
    /// The validation objective of that best-so-far trial.
    pub best_validation: Vec<(f64, f64)>,
    /// The promoted trial (iteration, in-sample objective).
    pub promoted: Option<(f64, f64)>,
    pub trials: usize,
}

/// One trial row.
pub struct TrialRow {
    pub iteration: f64,
    pub best: bool,
    pub status: String,
    pub proposer: String,
    /// (value, text) per numeric column, in [`RunView::trial_columns`] order.
    pub cells: Vec<(f64, String, bool)>,
    pub flags: Vec<String>,
    pub note: String,
    pub code: String,
}

/// Everything the run report shows.
pub struct RunView {
    pub title: String,
    pub data: DataInfo,
    pub finished: bool,
    pub objective: Objective,
    pub settings: Vec<(String, String)>,
    /// (window, first date, last date).
    pub split: Vec<(String, String, String)>,
    pub promoted: Option<Promoted>,
    pub statistics: Vec<Figure>,
    /// Anything else summary.json holds, flattened to labelled values.
    pub other: Vec<(String, String)>,
    pub progress: Progress,
    pub trial_columns: Vec<String>,
    /// Whether trials came from more than one proposer (else the column is left out).
    pub mixed_proposers: bool,
    pub trials: Vec<TrialRow>,
    pub best_source: Option<String>,
}

/// Fields of summary.json shown in their own sections.
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
    "rigor",
    "promoted_code_hash",
    "promoted_note",
    "holdout_collapses",
    "files",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "elapsed_s",
    "stopped",
];

/// A scalar as text (numbers with up to 4 decimals), `None` for objects and arrays of objects.
pub(super) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(if *b { "yes" } else { "no" }.into()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_f64() => n.as_f64().map(|x| super::super::trim_float(x, 4)),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|i| match i {
                    Value::Array(_) | Value::Object(_) => None,
                    other => scalar(other),
                })
                .collect();
            parts.map(|p| p.join(", "))
        }
        Value::Object(_) => None,
    }
}

/// `a_b` → `a b`.
pub(super) fn label(key: &str) -> String {
    key.replace('_', " ")
}

/// Flattens `v` into labelled scalars (`a / b: 3`), at most 40.
pub fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    if out.len() >= 40 {
        return;
    }
    match (scalar(v), v) {
        (Some(text), _) => out.push((prefix.to_string(), text)),
        (None, Value::Object(m)) => {
            for (k, v) in m {
                let name = if prefix.is_empty() {
                    label(k)
                } else {
                    format!("{prefix} / {}", label(k))
                };
                flatten(&name, v, out);
            }
        }
        (None, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix} #{}", i + 1), item, out);
            }
        }
        (None, _) => {}
    }
}

impl RunView {
    /// Builds the view.
    pub fn build(r: &RunReport) -> RunView {
        let objective = Objective::new(&r.objective());
        let best = r.best();
        let name = r.dir.file_name().map_or_else(
            || r.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut other = Vec::new();
        if let Some(m) = r.summary.as_object() {
            for (k, v) in m
                .iter()
                .filter(|(k, _)| !SUMMARY_SHOWN.contains(&k.as_str()))
            {
                flatten(&label(k), v, &mut other);
            }
        }
        let (trial_columns, trials) = trial_rows(r, &objective, best.as_ref());
        RunView {
            title: format!("iterate run {name}"),
            data: data_info(r),
            finished: !r.summary.is_null(),
            settings: settings(r),
            split: split(r),
            promoted: best.as_ref().map(|b| promoted(r, b, &objective)),
            statistics: super::stats::statistics(&r.summary),
            other,
            progress: progress(r, &objective, best.as_ref()),
            trial_columns,
            mixed_proposers: trials.windows(2).any(|w| w[0].proposer != w[1].proposer),
            trials,
            best_source: r
                .best_source
                .clone()
                .or_else(|| best.as_ref().map(|b| text(b, "code").to_string()))
                .filter(|c| !c.is_empty()),
            objective,
        }
    }
}

/// The data the run used: the directory it names (or the default one) when its banner matches
/// the recorded one, so the market's size can be shown; else the recorded banner alone.
fn data_info(r: &RunReport) -> DataInfo {
    let recorded = [&r.summary, &r.run]
        .iter()
        .find_map(|v| v.get("data").and_then(Value::as_str))
        .map(str::to_string);
    let dir = r
        .run
        .get("data_dir")
        .and_then(Value::as_str)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(crate::data::default_data_dir);
    let opened = DataDir::open(&dir).ok().map(|d| DataInfo::of(&d));
    match (opened, recorded) {
        (Some(info), Some(banner)) if info.banner == banner => info,
        (_, Some(banner)) => DataInfo::from_banner(&banner),
        (Some(info), None) if r.run.get("data_dir").is_some_and(Value::is_string) => info,
        _ => DataInfo::from_banner("data: not recorded"),
    }
}

fn settings(r: &RunReport) -> Vec<(String, String)> {
    let get = |k: &str| {
        r.summary
            .get(k)
            .or_else(|| r.run.get(k))
            .and_then(scalar)
            .filter(|s| !s.is_empty())
    };
    let mut out = vec![("directory".to_string(), r.dir.display().to_string())];
    for key in ["proposer", "model", "base_url", "objective", "seed"] {
        if let Some(v) = get(key) {
            out.push((label(key), v));
        }
    }
    let status = r.summary.get("status").and_then(Value::as_object);
    let counts = status.map(|m| {
        m.iter()
            .filter(|(_, v)| v.as_u64().is_some_and(|n| n > 0))
            .map(|(k, v)| format!("{} {}", scalar(v).unwrap_or_default(), label(k)))
            .collect::<Vec<_>>()
            .join(", ")
    });
    let trials = match counts.filter(|c| !c.is_empty()) {
        Some(c) => format!("{} ({c})", r.trials.len()),
        None => r.trials.len().to_string(),
    };
    out.push(("trials".into(), trials));
    if let Some(g) = r.run.get("gates").filter(|g| g.is_object()) {
        out.push(("gates".into(), gates(g)));
    }
    if let Some(e) = r.summary.get("elapsed_s").and_then(Value::as_f64) {
        out.push(("elapsed".into(), format!("{} s", fixed(e, 1))));
    }
    let tokens = f(&r.summary, &["prompt_tokens"]) + f(&r.summary, &["completion_tokens"]);
    if tokens > 0.0 {
        out.push(("tokens".into(), format!("{tokens:.0}")));
    }
    if let Some(c) = r.summary.get("cost_usd").and_then(Value::as_f64) {
        out.push(("cost".into(), format!("${}", fixed(c, 4))));
    }
    if let Some(s) = get("stopped") {
        out.push(("stopped".into(), s));
    }
    if r.skipped_lines > 0 {
        out.push((
            "unreadable ledger lines".into(),
            r.skipped_lines.to_string(),
        ));
    }
    out
}

fn gates(g: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(n) = g.get("min_trades").and_then(Value::as_u64) {
        parts.push(format!("at least {n} in-sample trades"));
    }
    if let Some([lo, hi]) = g
        .get("turnover")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).collect::<Vec<_>>())
        .as_deref()
    {
        parts.push(format!("turnover {lo}–{hi}× a year"));
    }
    if let Some(c) = g.get("max_correlation").and_then(Value::as_f64) {
        parts.push(format!(
            "daily active returns correlating below {c} with accepted trials"
        ));
    }
    parts.join("; ")
}

fn split(r: &RunReport) -> Vec<(String, String, String)> {
    let Some(m) = r
        .summary
        .get("split")
        .or_else(|| r.run.get("split"))
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    let names = [
        ("in_sample", "in-sample (the proposer sees it)"),
        ("validation", "validation (selection only)"),
        ("holdout", "sealed holdout (scored once)"),
    ];
    let mut out = Vec::new();
    for (key, v) in m {
        let dates: Vec<String> = v
            .as_array()
            .map(|a| a.iter().filter_map(scalar).collect())
            .unwrap_or_default();
        let name = names
            .iter()
            .find(|n| n.0 == key)
            .map_or_else(|| label(key), |n| n.1.to_string());
        let (a, b) = match dates.as_slice() {
            [a, b] => (a.clone(), b.clone()),
            _ => (scalar(v).unwrap_or_default(), String::new()),
        };
        out.push((name, a, b));
    }
    let rank = |s: &str| names.iter().position(|n| n.1 == s).unwrap_or(names.len());
    out.sort_by_key(|row| rank(&row.0));
    out
}

/// A row of the period comparison: JSON key, label, format, coloured by sign.
type RowSpec = (&'static str, &'static str, fn(f64) -> String, bool);

pub(super) fn fmt2(v: f64) -> String {
    fixed(v, 2)
}

pub(super) fn fmt0(v: f64) -> String {
    fixed(v, 0)
}

const PERIOD_ROWS: [RowSpec; 11] = [
    ("sharpe", "Sharpe", fmt2, true),
    ("sortino", "Sortino", fmt2, true),
    ("cagr", "CAGR", pct, true),
    ("calmar", "Calmar", fmt2, true),
    ("total_return", "total return", pct, true),
    ("max_drawdown", "max drawdown", pct, false),
    ("win_ratio", "win ratio", pct, false),
    ("trades", "trades", fmt0, false),
    ("turnover", "turnover/yr", num, false),
    ("avg_exposure", "avg exposure", pct, false),
    ("avg_n_stock", "avg holdings", fmt2, false),
];

fn promoted(r: &RunReport, b: &Value, objective: &Objective) -> Promoted {
    let ps = super::periods(b);
    let rows = PERIOD_ROWS
        .iter()
        .filter(|(key, ..)| {
            ps.iter()
                .any(|(_, m)| m.get(*key).is_some_and(Value::is_number))
        })
        .map(|&(key, label, fmt, signed)| PeriodRow {
            label,
            cells: ps
                .iter()
                .map(|(_, m)| {
                    let v = m.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN);
                    (v, if v.is_finite() { fmt(v) } else { "n/a".into() })
                })
                .collect(),
            signed,
            objective: key == objective.key,
        })
        .collect();
    let verdict = r.summary.pointer("/rigor/verdict").and_then(|v| {
        let t = v.get("text").and_then(Value::as_str)?;
        Some((
            v.get("passes").and_then(Value::as_bool) == Some(true),
            t.to_string(),
        ))
    });
    let date = |m: &serde_json::Map<String, Value>, k: &str| {
        m.get(k).and_then(Value::as_str).unwrap_or("").to_string()
    };
    Promoted {
        iteration: scalar(b.get("iteration").unwrap_or(&Value::Null)).unwrap_or_default(),
        how: if r.summary.pointer("/rigor/promoted").is_some() {
            format!("promoted on {} {}", r.selected_on(), objective.label)
        } else {
            format!("best in-sample {}", objective.label)
        },
        note: text(b, "note").to_string(),
        verdict,
        flags: flags(b),
        periods: ps.iter().map(|(k, _)| period_label(k)).collect(),
        dates: ps
            .iter()
            .map(|(_, m)| (date(m, "start"), date(m, "end")))
            .collect(),
        rows,
        has_holdout: ps.iter().any(|(k, _)| *k == "holdout"),
    }
}

fn period_label(k: &str) -> String {
    match k {
        "in_sample" => "in-sample".into(),
        "holdout" => "sealed holdout".into(),
        other => label(other),
    }
}

fn progress(r: &RunReport, objective: &Objective, best: Option<&Value>) -> Progress {
    let key = objective.key.as_str();
    let mut p = Progress {
        dots: Vec::new(),
        best: Vec::new(),
        best_validation: Vec::new(),
        promoted: None,
        trials: r.trials.len(),
    };
    let promoted = best.map(|b| f(b, &["iteration"]));
    let (mut top, mut top_va) = (f64::NEG_INFINITY, f64::NAN);
    for t in &r.trials {
        let it = f(t, &["iteration"]);
        if !it.is_finite() {
            continue;
        }
        let v = f(t, &["in_sample", key]);
        if text(t, "status") == "ok" && v.is_finite() {
            p.dots.push((
                it,
                v,
                format!("#{it}: {key} {} — {}", fixed(v, 3), text(t, "note")),
            ));
            if v > top {
                top = v;
                top_va = f(t, &["validation", key]);
            }
            if promoted == Some(it) {
                p.promoted = Some((it, v));
            }
        }
        if top.is_finite() {
            p.best.push((it, top));
            p.best_validation.push((it, top_va));
        }
    }
    p
}

fn trial_rows(
    r: &RunReport,
    objective: &Objective,
    best: Option<&Value>,
) -> (Vec<String>, Vec<TrialRow>) {
    let has_va = r
        .trials
        .iter()
        .any(|t| t.get("validation").is_some_and(Value::is_object));
    let extra = !objective.shown_anyway();
    let mut cols: Vec<(String, Vec<&str>)> = Vec::new();
    if extra {
        cols.push((
            format!("IS {}", objective.label),
            vec!["in_sample", &objective.key],
        ));
    }
    cols.extend([
        ("IS Sharpe".to_string(), vec!["in_sample", "sharpe"]),
        ("IS CAGR".to_string(), vec!["in_sample", "cagr"]),
        ("IS MDD".to_string(), vec!["in_sample", "max_drawdown"]),
        ("trades".to_string(), vec!["in_sample", "trades"]),
    ]);
    if has_va {
        if extra {
            cols.push((
                format!("VA {}", objective.label),
                vec!["validation", &objective.key],
            ));
        }
        cols.push(("VA Sharpe".into(), vec!["validation", "sharpe"]));
        cols.push(("VA CAGR".into(), vec!["validation", "cagr"]));
    }
    cols.push(("HO Sharpe".into(), vec!["holdout", "sharpe"]));
    cols.push(("HO CAGR".into(), vec!["holdout", "cagr"]));
    let best_iter = best.map_or(f64::NAN, |b| f(b, &["iteration"]));
    let rows = r
        .trials
        .iter()
        .map(|t| {
            let it = f(t, &["iteration"]);
            // The promoted trial's holdout figures live in the summary, not the ledger.
            let source = if it == best_iter {
                best.unwrap_or(t)
            } else {
                t
            };
            let cells = cols
                .iter()
                .map(|(_, path)| {
                    let v = f(source, path);
                    let last = path.last().copied().unwrap_or("");
                    let text = if !v.is_finite() {
                        String::new()
                    } else if last == "trades" {
                        fixed(v, 0)
                    } else if matches!(last, "cagr" | "max_drawdown") {
                        format!("{}%", fixed(v * 100.0, 1))
                    } else {
                        fixed(v, 2)
                    };
                    (v, text, last != "trades")
                })
                .collect();
            let mut note = text(t, "note").to_string();
            if let Some(g) = t.get("gate").and_then(Value::as_str) {
                note = format!("{note} (gate: {g})");
            }
            if let Some(e) = t.get("error").and_then(scalar) {
                note = format!("{note} error: {e}");
            }
            TrialRow {
                iteration: it,
                best: it == best_iter,
                status: text(t, "status").to_string(),
                proposer: text(t, "proposer").to_string(),
                cells,
                flags: flags(t),
                note: note.trim().to_string(),
                code: text(t, "code").to_string(),
            }
        })
        .collect();
    (cols.into_iter().map(|c| c.0).collect(), rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flatten_never_shows_json() {
        let mut out = Vec::new();
        flatten(
            "",
            &json!({"pbo": {"pbo": 0.25, "blocks": 16}, "list": [1, 2], "rows": [{"a": true}], "none": null}),
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                ("list".to_string(), "1, 2".to_string()),
                ("pbo / blocks".to_string(), "16".to_string()),
                ("pbo / pbo".to_string(), "0.25".to_string()),
                ("rows #1 / a".to_string(), "yes".to_string()),
            ]
        );
        for (_, v) in &out {
            assert!(!v.contains('{') && !v.contains('['), "{v}");
        }
    }

    #[test]
    fn objectives_format_and_name_their_column() {
        let c = Objective::new("calmar");
        assert_eq!(c.label, "Calmar");
        assert!(!c.shown_anyway() && Objective::new("sharpe").shown_anyway());
        assert_eq!(Objective::new("cagr").format(0.1234), "12.34%");
        assert_eq!(c.format(-0.0001), "0.00");
    }
}
