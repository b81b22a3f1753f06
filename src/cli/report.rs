//! `dsl-engine report RUN_DIR`: the HTML report of an iterate run, and its best trials, the
//! promoted trial's sealed-holdout figures, the verdict and the run's statistics in the terminal.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

use super::{log, ExitStatus};
use crate::report::fixed;
use crate::report::run::{self, f, flags, text, Objective, RunReport, RunView};
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
        let style = Style::stdout();
        out!("{}", trials_table(&r, a.top).render(style));
        outln!("HO: the sealed holdout, scored once, for the promoted trial only (— for the others).\n");
        out!("{}", summary(&r).render(style));
    }
    Ok(ExitStatus::Success)
}

fn n2(v: f64) -> Cell {
    Cell {
        text: if v.is_finite() {
            fixed(v, 2)
        } else {
            "n/a".into()
        },
        paint: signed(v),
    }
}

fn p1(v: f64) -> Cell {
    Cell {
        text: if v.is_finite() {
            format!("{}%", fixed(v * 100.0, 1))
        } else {
            "n/a".into()
        },
        paint: signed(v),
    }
}

/// The `top` successful trials by in-sample objective (and the promoted one), with their later
/// periods and flags; the promoted trial carries its sealed-holdout figures.
fn trials_table(r: &RunReport, top: usize) -> Table {
    let objective = Objective::new(&r.objective());
    let key = objective.key.as_str();
    let best = r.best();
    let best_iter = best.as_ref().map_or(f64::NAN, |b| f(b, &["iteration"]));
    let mut ok: Vec<&Value> = r
        .trials
        .iter()
        .filter(|t| text(t, "status") == "ok")
        .collect();
    ok.sort_by(|a, b| f(b, &["in_sample", key]).total_cmp(&f(a, &["in_sample", key])));
    let mut shown: Vec<&Value> = ok.iter().copied().take(top).collect();
    if let Some(b) = ok.iter().find(|t| f(t, &["iteration"]) == best_iter) {
        if !shown.iter().any(|t| f(t, &["iteration"]) == best_iter) {
            shown.push(b);
        }
    }
    let has_va = ok
        .iter()
        .any(|t| t.get("validation").is_some_and(Value::is_object));
    let extra = !objective.shown_anyway();
    let is_obj = format!("IS {}", objective.label);
    let va_obj = format!("VA {}", objective.label);
    let mut cols: Vec<(&str, Align)> = vec![("trial", Align::Right)];
    if extra {
        cols.push((&is_obj, Align::Right));
    }
    cols.extend([
        ("IS Shrp", Align::Right),
        ("IS CAGR", Align::Right),
        ("IS MDD", Align::Right),
        ("trades", Align::Right),
    ]);
    if has_va && extra {
        cols.push((&va_obj, Align::Right));
    }
    if has_va {
        cols.push(("VA Shrp", Align::Right));
    }
    cols.extend([
        ("HO Shrp", Align::Right),
        ("HO CAGR", Align::Right),
        ("flags", Align::Left),
    ]);
    let mut t = Table::new(&cols);
    for tr in shown {
        let promoted = f(tr, &["iteration"]) == best_iter;
        let src = if promoted {
            best.as_ref().unwrap_or(tr)
        } else {
            tr
        };
        let mut row = vec![Cell::from(format!("#{}", f(tr, &["iteration"])))];
        if extra {
            row.push(n2(f(src, &["in_sample", key])));
        }
        row.extend([
            n2(f(src, &["in_sample", "sharpe"])),
            p1(f(src, &["in_sample", "cagr"])),
            p1(f(src, &["in_sample", "max_drawdown"])),
            Cell::from(fixed(f(src, &["in_sample", "trades"]), 0)),
        ]);
        if has_va && extra {
            row.push(n2(f(src, &["validation", key])));
        }
        if has_va {
            row.push(n2(f(src, &["validation", "sharpe"])));
        }
        if promoted {
            row.push(n2(f(src, &["holdout", "sharpe"])));
            row.push(p1(f(src, &["holdout", "cagr"])));
        } else {
            row.extend([Cell::from("—"), Cell::from("—")]);
        }
        let mut fl = flags(tr);
        if promoted {
            fl.insert(0, "promoted".into());
        }
        row.push(fl.join(", ").into());
        t.rows.push(row);
    }
    t
}

/// The promoted trial, the verdict and the run's statistics with their meanings.
fn summary(r: &RunReport) -> Table {
    let view = RunView::build(r);
    let mut t = Table::new(&[("", Align::Left), ("", Align::Right), ("", Align::Left)]);
    t.gap = "  ";
    let row = |a: &str, b: String, c: &str| vec![Cell::from(a), Cell::from(b), Cell::from(c)];
    if let Some(p) = &view.promoted {
        t.rows
            .push(row("best trial", format!("#{}", p.iteration), &p.how));
        if let Some((_, verdict)) = &p.verdict {
            t.rows.push(row("verdict", String::new(), verdict));
        }
    }
    for fig in view.statistics.iter().filter(|f| !f.meaning.is_empty()) {
        t.rows
            .push(row(&fig.label, fig.value.clone(), &fig.meaning));
    }
    if let Some(cost) = r.summary.get("cost_usd").and_then(Value::as_f64) {
        t.rows.push(row("cost", format!("${}", fixed(cost, 4)), ""));
    }
    t
}
