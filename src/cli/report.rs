//! `dsl-engine report RUN_DIR`: the HTML report of an iterate run, and its trials as a
//! terminal table.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

use super::{log, ExitStatus};
use crate::report::run::{self, f, flags, text, RunReport};
use crate::report::term::{signed, Align, Cell, Style, Table};

/// `dsl-engine report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The run directory (`runs/<timestamp>`, or `--run-dir` of `iterate`).
    pub run_dir: PathBuf,
    /// Where to write the HTML (default: RUN_DIR/report.html).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Trials to list in the terminal, best in-sample first (0: none).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// Runs `report`.
pub fn run(a: ReportArgs) -> anyhow::Result<ExitStatus> {
    let start = std::time::Instant::now();
    let r = RunReport::load(&a.run_dir)?;
    let html = run::render(&r);
    let path = a.output.unwrap_or_else(|| a.run_dir.join("report.html"));
    std::fs::write(&path, &html).with_context(|| format!("cannot write {}", path.display()))?;
    log(&format!(
        "wrote {} ({} KiB in {} ms)",
        path.display(),
        html.len().div_ceil(1024),
        start.elapsed().as_millis()
    ));
    if a.top > 0 {
        out!("{}", trials_table(&r, a.top).render(Style::stdout()));
    }
    Ok(ExitStatus::Success)
}

/// The `top` successful trials by in-sample objective, with their later periods and flags.
fn trials_table(r: &RunReport, top: usize) -> Table {
    let key = r.objective();
    let mut ok: Vec<&Value> = r
        .trials
        .iter()
        .filter(|t| text(t, "status") == "ok")
        .collect();
    ok.sort_by(|a, b| f(b, &["in_sample", &key]).total_cmp(&f(a, &["in_sample", &key])));
    let has_va = ok
        .iter()
        .any(|t| t.get("validation").is_some_and(Value::is_object));
    let mut cols = vec![
        ("trial", Align::Right),
        ("IS Shrp", Align::Right),
        ("IS CAGR", Align::Right),
        ("IS MDD", Align::Right),
        ("trades", Align::Right),
    ];
    if has_va {
        cols.push(("VA Shrp", Align::Right));
    }
    cols.extend([
        ("HO Shrp", Align::Right),
        ("HO CAGR", Align::Right),
        ("flags", Align::Left),
    ]);
    let mut t = Table::new(&cols);
    let n2 = |v: f64| Cell {
        text: if v.is_finite() {
            format!("{v:.2}")
        } else {
            "n/a".into()
        },
        paint: signed(v),
    };
    let p1 = |v: f64| Cell {
        text: if v.is_finite() {
            format!("{:.1}%", v * 100.0)
        } else {
            "n/a".into()
        },
        paint: signed(v),
    };
    for tr in ok.into_iter().take(top) {
        let mut row = vec![
            Cell::from(format!("#{}", f(tr, &["iteration"]))),
            n2(f(tr, &["in_sample", "sharpe"])),
            p1(f(tr, &["in_sample", "cagr"])),
            p1(f(tr, &["in_sample", "max_drawdown"])),
            Cell::from(format!("{}", f(tr, &["in_sample", "trades"]))),
        ];
        if has_va {
            row.push(n2(f(tr, &["validation", "sharpe"])));
        }
        row.push(n2(f(tr, &["holdout", "sharpe"])));
        row.push(p1(f(tr, &["holdout", "cagr"])));
        row.push(flags(tr).join(", ").into());
        t.rows.push(row);
    }
    t
}
